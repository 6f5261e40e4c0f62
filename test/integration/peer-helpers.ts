/**
 * Helpers of the scripted-peer tests (peer-*.test.ts): run test/integration/peer.py in a
 * namespace and read its JSON, and show segment lists in assertion messages. (A server on the
 * Stack API for a peer to talk to runs in the test's own process, on a tapstack/testing
 * network: see peer-nagle.test.ts.)
 *
 * The peer is a host of its own on the TAP's link, 198.18.X.9 with a MAC of its own (see
 * peer.py), so the kernel never sees its connections and never resets them.
 */
import { fileURLToPath } from 'node:url';
import { nsRun, PYTHON, type Subnet } from './helpers.js';

export const PEER_SCRIPT = fileURLToPath(new URL('./peer.py', import.meta.url));

/** The peer's address on 198.18.X.0/24: neither the kernel's (.1) nor tapstack's (.2). */
export function peerAddress(net: Subnet): string {
  return `198.18.${net.x}.9`;
}

/** One segment as peer.py saw it on the TAP: time in ms from the peer's reference segment. */
export interface PeerSegment {
  from: 'peer' | 'tapstack';
  t_ms: number;
  flags: string;
  /** Relative to the sender's ISN + 1 (the SYN is 2^32 - 1). */
  seq: number;
  /** Relative to the other side's ISN + 1; null without ACK. */
  ack: number | null;
  len: number;
  win: number;
}

export interface PeerResult {
  ok: boolean;
  error?: string;
  segments?: PeerSegment[];
  [k: string]: unknown;
}

/** Run `peer.py MODE` against tapstack at `mac` on `net`; its last line is a JSON object. */
export async function runPeer<T extends PeerResult = PeerResult>(ns: string, net: Subnet, mac: string, mode: string, args: string[], timeoutMs = 120_000): Promise<T> {
  const r = await nsRun(
    ns,
    PYTHON,
    [PEER_SCRIPT, mode, '--iface', 'tap0', '--dst-mac', mac, '--dst-ip', net.tapstack, '--src-ip', peerAddress(net), '--kernel-ip', net.host, ...args],
    { timeoutMs },
  );
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !last.startsWith('{')) throw new Error(`peer.py ${mode} exited ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(last) as T;
}

/** One line per segment, for assertion messages. */
export function formatSegments(segs: PeerSegment[]): string {
  return segs
    .map((s) => {
      const seq = s.seq >= 2 ** 31 ? s.seq - 2 ** 32 : s.seq;
      const ack = s.ack === null ? '' : ` ack ${s.ack >= 2 ** 31 ? s.ack - 2 ** 32 : s.ack}`;
      return `  ${s.t_ms >= 0 ? '+' : ''}${s.t_ms.toFixed(3)} ms ${s.from.padEnd(8)} ${s.flags.padEnd(3)} seq ${seq}${ack} len ${s.len} win ${s.win}`;
    })
    .join('\n');
}
