/**
 * The results each side sends the other after TEST_END (iperf_api.c send_results/get_results),
 * and the numbers both sides report from them: bytes and seconds per stream, CPU use, and the
 * zero-copy counters tapstack adds under a key of its own (`tapstack`), which iperf3 ignores.
 */
import type { ZeroCopyStats } from '../../socket/pages.js';
import { Iperf3Error } from './protocol.js';
import { MAX_STREAMS } from './params.js';

/** One stream as the peer reports it: bytes it sent or received, over how many seconds. */
export interface PeerStream {
  bytes: number;
  seconds: number;
  /** Retransmitted segments, or -1 when the peer does not know. */
  retransmits: number;
}

export interface PeerResults {
  cpu: CpuPercent;
  senderHasRetransmits: number;
  congestion: string | null;
  streams: Map<number, PeerStream>;
  serverOutputText: string | null;
}

export interface CpuPercent {
  total: number;
  user: number;
  system: number;
}

/** One stream as this side counted it, for the JSON it sends. */
export interface LocalStream {
  id: number;
  bytes: number;
  seconds: number;
  /** Segments sent again, for a stream this side sent on. */
  retransmits: number;
}

function num(j: Record<string, unknown>, key: string, where: string): number {
  const v = j[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Iperf3Error('bad-results', `results${where}: ${key} is ${JSON.stringify(v) ?? 'missing'}, not a number`);
  return v;
}

/** The peer's results, checked: the fields get_results requires, with numbers where numbers go. */
export function parseResults(j: Record<string, unknown>, ids?: ReadonlySet<number>): PeerResults {
  const cpu = { total: num(j, 'cpu_util_total', ''), user: num(j, 'cpu_util_user', ''), system: num(j, 'cpu_util_system', '') };
  const senderHasRetransmits = num(j, 'sender_has_retransmits', '');
  const list = j.streams;
  if (!Array.isArray(list)) throw new Iperf3Error('bad-results', 'results: streams is not an array');
  if (list.length > 2 * MAX_STREAMS) throw new Iperf3Error('bad-results', `results: ${list.length} streams, more than ${2 * MAX_STREAMS}`);
  const streams = new Map<number, PeerStream>();
  list.forEach((s: unknown, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new Iperf3Error('bad-results', `results: stream ${i} is not an object`);
    const o = s as Record<string, unknown>;
    const where = ` stream ${i}`;
    const id = num(o, 'id', where);
    if (ids && !ids.has(id)) throw new Iperf3Error('bad-results', `results${where}: no stream has id ${id}`);
    const bytes = num(o, 'bytes', where);
    if (bytes < 0) throw new Iperf3Error('bad-results', `results${where}: bytes ${bytes}`);
    for (const k of ['retransmits', 'jitter', 'errors', 'packets']) num(o, k, where);
    // Servers before iperf3 3.2 sent no times; the stream's own time stands in then.
    const seconds = typeof o.start_time === 'number' && typeof o.end_time === 'number' ? o.end_time - o.start_time : 0;
    streams.set(id, { bytes, seconds, retransmits: num(o, 'retransmits', where) });
  });
  const congestion = typeof j.congestion_used === 'string' ? j.congestion_used : null;
  const serverOutputText = typeof j.server_output_text === 'string' ? j.server_output_text : null;
  return { cpu, senderHasRetransmits, congestion, streams, serverOutputText };
}

/** The JSON this side sends (send_results). */
export function resultsJson(o: { cpu: CpuPercent; receiverOnly: boolean; congestion: string; streams: LocalStream[]; zeroCopy: ZeroCopyCounters; serverOutputText?: string }): Record<string, unknown> {
  const j: Record<string, unknown> = {
    cpu_util_total: o.cpu.total,
    cpu_util_user: o.cpu.user,
    cpu_util_system: o.cpu.system,
    // -1: this side only received; 1: it sent, and counts each stream's retransmissions.
    sender_has_retransmits: o.receiverOnly ? -1 : 1,
    congestion_used: o.congestion,
    streams: o.streams.map((s) => ({ id: s.id, bytes: s.bytes, retransmits: o.receiverOnly ? -1 : s.retransmits, jitter: 0, errors: 0, packets: 0, start_time: 0, end_time: s.seconds })),
    tapstack: o.zeroCopy,
  };
  if (o.serverOutputText !== undefined) j.server_output_text = o.serverOutputText;
  return j;
}

/** Process CPU time over wall time, as iperf3's cpu_util: total, user and system, in percent. */
export class CpuMeter {
  private cpu0 = process.cpuUsage();
  private wall0 = performance.now();

  restart(): void {
    this.cpu0 = process.cpuUsage();
    this.wall0 = performance.now();
  }

  percent(): CpuPercent {
    const c = process.cpuUsage(this.cpu0);
    const wallUs = Math.max(1, (performance.now() - this.wall0) * 1000);
    const user = (100 * c.user) / wallUs;
    const system = (100 * c.system) / wallUs;
    return { total: user + system, user, system };
  }
}

/** The stack's zero-copy counters over one test: what changed between its start and its end. */
export interface ZeroCopyCounters {
  flippedBytes: number;
  flippedPages: number;
  copiedBytes: Record<string, number>;
  sendByReferenceBytes: number;
  sendCopiedBytes: Record<string, number>;
  completions: number;
  completionsCopied: number;
}

/** A copy of the counters now, to subtract later. */
export function zeroCopySnapshot(s: ZeroCopyStats): ZeroCopyCounters {
  return {
    flippedBytes: s.flippedBytes,
    flippedPages: s.flippedPages,
    copiedBytes: { ...s.copiedBytes } as Record<string, number>,
    sendByReferenceBytes: s.sendByReferenceBytes,
    sendCopiedBytes: { ...s.sendCopiedBytes } as Record<string, number>,
    completions: s.completions,
    completionsCopied: s.completionsCopied,
  };
}

function reasonsSince(now: Record<string, number>, then: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(now)) if (v - (then[k] ?? 0) > 0) out[k] = v - (then[k] ?? 0);
  return out;
}

/** The counters' change since `then`. */
export function zeroCopySince(s: ZeroCopyStats, then: ZeroCopyCounters): ZeroCopyCounters {
  const now = zeroCopySnapshot(s);
  return {
    flippedBytes: now.flippedBytes - then.flippedBytes,
    flippedPages: now.flippedPages - then.flippedPages,
    copiedBytes: reasonsSince(now.copiedBytes, then.copiedBytes),
    sendByReferenceBytes: now.sendByReferenceBytes - then.sendByReferenceBytes,
    sendCopiedBytes: reasonsSince(now.sendCopiedBytes, then.sendCopiedBytes),
    completions: now.completions - then.completions,
    completionsCopied: now.completionsCopied - then.completionsCopied,
  };
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const reasons = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

/** One line: `zero copy: flipped N bytes (P pages), copied N bytes (reasons), sent by reference N bytes, ...`. */
export function formatZeroCopy(z: ZeroCopyCounters): string {
  return (
    `zero copy: flipped ${z.flippedBytes} bytes (${z.flippedPages} pages), copied ${total(z.copiedBytes)} bytes (${reasons(z.copiedBytes)}), ` +
    `sent by reference ${z.sendByReferenceBytes} bytes, sent copied ${total(z.sendCopiedBytes)} bytes (${reasons(z.sendCopiedBytes)}), ` +
    `completions ${z.completions} (${z.completionsCopied} with a copy)`
  );
}
