/**
 * Helpers of the scripted-peer tests (peer-*.test.ts): run test/integration/peer.py in a
 * namespace and read its JSON, start peer-server.mjs (a Stack with one service), and show
 * segment lists in assertion messages.
 *
 * The peer is a host of its own on the TAP's link, 198.18.X.9 with a MAC of its own (see
 * peer.py), so the kernel never sees its connections and never resets them.
 */
import { fileURLToPath } from 'node:url';
import { nsRun, PYTHON, type Subnet } from './helpers.js';
import { nsSpawn, waitOutput, type Proc } from './tcp-helpers.js';

export const PEER_SCRIPT = fileURLToPath(new URL('./peer.py', import.meta.url));
export const PEER_SERVER = fileURLToPath(new URL('./peer-server.mjs', import.meta.url));

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

/**
 * Start `node peer-server.mjs MODE tap0 ...` in the namespace, wait for its "listening" line and
 * read tapstack's MAC from it.
 * Stop it with {@link stopPeerServer}; tcp-helpers' killStarted() kills it after a failure.
 */
export async function startPeerServer(ns: string, net: Subnet, mode: 'echo-nodelay' | 'http', port: number, offload: 'on' | 'off'): Promise<{ proc: Proc; mac: string }> {
  const proc = nsSpawn(ns, 'node', [PEER_SERVER, mode, 'tap0', `${net.tapstack}/24`, `${net.host}/24`, String(port), offload], { timeoutMs: 120_000 });
  await waitOutput(proc, 'listening', 20_000);
  const m = / mac ((?:[0-9a-f]{2}:){5}[0-9a-f]{2})/.exec(proc.out());
  if (!m) throw new Error(`no MAC in peer-server.mjs's output: ${proc.out()}`);
  return { proc, mac: m[1]! };
}

/** SIGINT it (by PID) and read the TCP counters and drops it prints as its last line. */
export async function stopPeerServer(p: Proc): Promise<{ tcp: Record<string, number>; drops: Record<string, number> }> {
  p.kill('SIGINT');
  const r = await p.done;
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`peer-server.mjs printed no counters (exit ${r.code ?? r.signal})\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(last) as { tcp: Record<string, number>; drops: Record<string, number> };
}
