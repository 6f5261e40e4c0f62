/**
 * Data, FIN and the ACK of the peer's FIN in one segment. A scripted peer (peer.py `fin`)
 * completes the handshake with tapstack's echo service, stays idle 300 ms, then sends 100 bytes
 * with FIN in one segment. The echo answers and closes in the same turn of the event loop, so
 * nothing obliges tapstack to acknowledge before it answers: RFC 9293 3.10.7.4 asks for an ACK
 * of the FIN, and RFC 1122 4.2.3.2 lets an ACK wait (delayed ACK) to ride on data. Its first
 * segment after the peer's must therefore carry the echoed 100 bytes, its FIN and an ACK number
 * covering the peer's FIN, with no pure ACK before it. Nor is a pure ACK due right after the
 * handshake: a window update is sent only when the window really changed (RFC 9293 3.8.6.2.2
 * counts the update as a change of the right edge worth telling).
 *
 * Read from tapstack's own capture (`--pcap`) with tshark, which must find nothing malformed.
 *
 * Namespace tapstack-it-peer-finack-<pid>; subnet 198.18.241.0/24, the peer at 198.18.241.9.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, requireBuilt, scratchDir, subnet, tshark, tsharkProblems, useTapstack, type Stopped } from './helpers.js';
import { formatSegments, peerAddress, runPeer, type PeerResult } from './peer-helpers.js';

const NET = subnet(241);
const ECHO = 7;
const BYTES = 100;

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;

/** One TCP frame of the capture between the peer and tapstack. */
interface Frame {
  frame: number;
  /** Seconds from the first frame of the capture. */
  t: number;
  from: 'peer' | 'tapstack';
  flags: number;
  seq: number;
  ack: number;
  len: number;
  payload: string;
}

function flagNames(f: number): string {
  return [
    [SYN, 'S'],
    [ACK, 'A'],
    [FIN, 'F'],
    [RST, 'R'],
    [0x08, 'P'],
  ]
    .filter(([b]) => f & (b as number))
    .map(([, n]) => n)
    .join('');
}

function show(frames: Frame[]): string {
  const t0 = frames[0]?.t ?? 0;
  return frames
    .map((f) => `  #${f.frame} +${((f.t - t0) * 1000).toFixed(3)} ms ${f.from.padEnd(8)} ${flagNames(f.flags).padEnd(4)} seq ${f.seq} ack ${f.ack} len ${f.len}`)
    .join('\n');
}

describe("the echo of data+FIN: one segment with data, FIN and the ACK of the peer's FIN", () => {
  const scratch = scratchDir('peer-finack');
  const { ns, start } = useTapstack('peer-finack', { after: scratch.remove, ignoreStopError: true });
  const pcap = `${scratch.dir}/finack.pcap`;
  const peer = peerAddress(NET);
  let result: PeerResult & { sent: number; echo_same: boolean; fin: boolean };
  let stopped: Stopped;
  let frames: Frame[] = [];

  beforeAll(async () => {
    requireBuilt();
    const t = await start({ net: NET, pcap, extra: ['--serve', `echo:${ECHO}`] });
    result = await runPeer(ns, NET, t.mac, 'fin', ['--port', String(ECHO), '--bytes', String(BYTES), '--idle', '0.3']);
    stopped = await t.stop();
    const lines = await tshark(pcap, [
      '-Y', `tcp && ip.addr == ${peer}`,
      '-T', 'fields', '-E', 'occurrence=f',
      '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'tcp.flags', '-e', 'tcp.seq_raw', '-e', 'tcp.ack_raw', '-e', 'tcp.len', '-e', 'tcp.payload',
    ]);
    frames = lines.map((l) => {
      const [frame, t, src, flags, seq, ack, len, payload] = l.split('\t');
      return {
        frame: Number(frame),
        t: Number(t),
        from: src === peer ? 'peer' : 'tapstack',
        flags: Number(flags),
        seq: Number(seq),
        ack: Number(ack),
        len: Number(len),
        payload: (payload ?? '').replace(/:/g, ''),
      };
    });
    console.log(`capture, the peer's connection:\n${show(frames)}`);
  }, 120_000);

  it('completes the handshake and echoes the 100 bytes', () => {
    expect(result.ok, result.error).toBe(true);
    const all = `${show(frames)}\npeer's view:\n${formatSegments(result.segments ?? [])}`;
    expect(frames.slice(0, 3).map((f) => [f.from, flagNames(f.flags)]), all).toEqual([
      ['peer', 'S'],
      ['tapstack', 'SA'],
      ['peer', 'A'],
    ]);
    expect(result.echo_same, all).toBe(true);
    expect(result.fin, `tapstack's FIN arrived\n${all}`).toBe(true);
    expect(stopped.code).toBe(0);
    expect(counter(stopped.counters, 'tcp.connectionsEstablished')).toBe(1);
    expect(counter(stopped.counters, 'tcp.retransmits')).toBe(0);
  });

  it('sends nothing between the handshake and the echo (no pure ACK after the handshake)', () => {
    const synAck = frames.findIndex((f) => f.from === 'tapstack' && (f.flags & (SYN | ACK)) === (SYN | ACK));
    const dataFin = frames.findIndex((f) => f.from === 'peer' && f.flags & FIN);
    expect(synAck, show(frames)).toBeGreaterThanOrEqual(0);
    expect(dataFin, show(frames)).toBeGreaterThan(synAck);
    const between = frames.slice(synAck + 1, dataFin).filter((f) => f.from === 'tapstack');
    expect(between.map((f) => `#${f.frame} ${flagNames(f.flags)} len ${f.len}`), `tapstack's segments between its SYN-ACK and the peer's data+FIN\n${show(frames)}`).toEqual([]);
  });

  it("answers the peer's data+FIN with one segment: the 100 bytes, FIN, and the ACK of the peer's FIN", () => {
    const i = frames.findIndex((f) => f.from === 'peer' && f.flags & FIN);
    expect(i, show(frames)).toBeGreaterThanOrEqual(0);
    const peerFin = frames[i]!;
    expect(peerFin.len).toBe(BYTES);
    const next = frames.slice(i + 1).find((f) => f.from === 'tapstack');
    expect(next, `tapstack answered\n${show(frames)}`).toBeDefined();
    const payload = next!.payload === peerFin.payload ? "the peer's bytes" : `${next!.payload.length / 2} bytes, not the peer's`;
    const got = { flags: flagNames(next!.flags & (SYN | ACK | FIN | RST)), len: next!.len, ack: next!.ack, payload };
    const want = { flags: 'AF', len: BYTES, ack: (peerFin.seq + BYTES + 1) >>> 0, payload: "the peer's bytes" };
    expect(got, `tapstack's first segment after the peer's data+FIN (frame #${next!.frame})\n${show(frames)}`).toEqual(want);
  });

  it('has no malformed frames in the capture', async () => {
    expect(await tsharkProblems(pcap)).toEqual([]);
  });
});
