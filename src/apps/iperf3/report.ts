/**
 * What a finished test prints, in iperf3's words and units (iperf_locale.c formats, units.c
 * unit_snprintf): the per-second intervals, the summary with a sender and a receiver line per
 * stream, and the same as iperf3's JSON (`-J`: start, intervals, end).
 */
import type { CpuPercent, ZeroCopyCounters } from './results.js';

/** One side of a stream's summary. */
export interface Side {
  bytes: number;
  seconds: number;
}

export interface ReportStream {
  /** The number iperf3 shows in brackets (it shows the socket's descriptor). */
  socket: number;
  /** This side sends on it. */
  sender: boolean;
  sent: Side;
  received: Side;
}

export interface Outcome {
  role: 'client' | 'server';
  bidirectional: boolean;
  streams: ReportStream[];
  cpu: CpuPercent;
  remoteCpu: CpuPercent;
  congestion: string;
  remoteCongestion: string | null;
  zeroCopy: ZeroCopyCounters;
}

/** unit_snprintf: four places, adaptive unit (bytes: 1024 steps, 'A'; bits: 1000 steps, 'a'). */
function unit(n: number, step: number, labels: readonly string[]): string {
  let i = 0;
  while (n >= step && i < labels.length - 1) {
    n /= step;
    i++;
  }
  const digits = n < 9.995 ? 2 : n < 99.95 ? 1 : 0;
  return `${n.toFixed(digits).padStart(4)} ${labels[i]}`;
}

/** `2.55 GBytes` */
export function formatBytes(bytes: number): string {
  return unit(bytes, 1024, ['Byte', 'KByte', 'MByte', 'GByte', 'TByte']) + 's';
}

/** `21.9 Gbits/sec` for a rate in bytes per second. */
export function formatRate(bytesPerSecond: number): string {
  return unit(bytesPerSecond * 8, 1000, ['bit', 'Kbit', 'Mbit', 'Gbit', 'Tbit']) + 's/sec';
}

const rate = (s: Side) => (s.seconds > 0 ? s.bytes / s.seconds : 0);

/** report_bw_format / report_sum_bw_format: `[  5]   0.00-1.00   sec  X MBytes  Y Mbits/sec   label`. */
export function bwLine(id: number | 'SUM', role: string, start: number, s: Side, label = ''): string {
  const head = id === 'SUM' ? '[SUM]' : `[${String(id).padStart(3)}]`;
  const end = start + s.seconds;
  const line = `${head}${role} ${start.toFixed(2).padStart(6)}-${end.toFixed(2).padEnd(6)} sec  ${formatBytes(s.bytes)}  ${formatRate(rate(s))}`;
  return label ? `${line}                  ${label}` : line;
}

export const SEPARATOR = '- - - - - - - - - - - - - - - - - - - - - - - - -';

export function header(bidirectional: boolean): string {
  return bidirectional ? '[ ID][Role] Interval           Transfer     Bitrate' : '[ ID] Interval           Transfer     Bitrate';
}

/** The role column of --bidir: `[TX-C]`, `[RX-S]`, ... (empty otherwise). */
export function roleTag(o: { bidirectional: boolean; role: 'client' | 'server' }, sender: boolean): string {
  return o.bidirectional ? `[${sender ? 'TX' : 'RX'}-${o.role === 'client' ? 'C' : 'S'}]` : '';
}

/** The streams in the order iperf3 sums them: this side's sending ones first on a client, receiving ones on a server. */
function groups(o: Outcome): ReportStream[][] {
  const send = o.streams.filter((s) => s.sender);
  const recv = o.streams.filter((s) => !s.sender);
  const order = o.role === 'client' ? [send, recv] : [recv, send];
  return order.filter((g) => g.length > 0);
}

function sum(g: ReportStream[], side: 'sent' | 'received'): Side {
  return { bytes: g.reduce((a, s) => a + s[side].bytes, 0), seconds: Math.max(...g.map((s) => s[side].seconds)) };
}

/** The closing summary (iperf_print_results), as lines. */
export function summaryLines(o: Outcome): string[] {
  const lines = [SEPARATOR, header(o.bidirectional)];
  for (const g of groups(o)) {
    const tag = roleTag(o, g[0]!.sender);
    for (const s of g) {
      lines.push(bwLine(s.socket, tag, 0, s.sent, 'sender'));
      lines.push(bwLine(s.socket, tag, 0, s.received, 'receiver'));
    }
    if (o.streams.length > 1) {
      lines.push(bwLine('SUM', tag, 0, sum(g, 'sent'), 'sender'));
      lines.push(bwLine('SUM', tag, 0, sum(g, 'received'), 'receiver'));
    }
  }
  return lines;
}

function sideJson(socket: number | null, s: Side, sender: boolean): Record<string, unknown> {
  return {
    ...(socket !== null ? { socket } : {}),
    start: 0,
    end: s.seconds,
    seconds: s.seconds,
    bytes: s.bytes,
    bits_per_second: rate(s) * 8,
    sender,
  };
}

/** The `end` object of iperf3's JSON (streams, sum_sent, sum_received, ..._bidir_reverse), and tapstack's counters. */
export function endJson(o: Outcome): Record<string, unknown> {
  const end: Record<string, unknown> = {
    streams: o.streams.map((s) => ({ sender: sideJson(s.socket, s.sent, s.sender), receiver: sideJson(s.socket, s.received, s.sender) })),
  };
  for (const g of groups(o)) {
    const sender = g[0]!.sender;
    // --bidir names the sums of the server's sending streams `_bidir_reverse`, on both sides.
    const reverse = o.bidirectional && sender === (o.role === 'server');
    const suffix = reverse ? '_bidir_reverse' : '';
    end[`sum_sent${suffix}`] = sideJson(null, sum(g, 'sent'), sender);
    end[`sum_received${suffix}`] = sideJson(null, sum(g, 'received'), sender);
  }
  end.cpu_utilization_percent = {
    host_total: o.cpu.total,
    host_user: o.cpu.user,
    host_system: o.cpu.system,
    remote_total: o.remoteCpu.total,
    remote_user: o.remoteCpu.user,
    remote_system: o.remoteCpu.system,
  };
  const localSends = o.streams.some((s) => s.sender);
  const snd = localSends ? o.congestion : o.remoteCongestion;
  const rcv = localSends ? o.remoteCongestion : o.congestion;
  if (snd) end.sender_tcp_congestion = snd;
  if (rcv) end.receiver_tcp_congestion = rcv;
  end.tapstack = o.zeroCopy;
  return end;
}

/** One interval of the running test: bytes per stream over [start, end) seconds since the start. */
export interface IntervalSample {
  start: number;
  end: number;
  bytes: number[];
}

/** An interval's lines (iperf_print_intermediate): each stream, then the sums when there are several. */
export function intervalLines(o: { bidirectional: boolean; role: 'client' | 'server'; streams: { socket: number; sender: boolean }[] }, iv: IntervalSample): string[] {
  const seconds = iv.end - iv.start;
  const lines = o.streams.map((s, i) => bwLine(s.socket, roleTag(o, s.sender), iv.start, { bytes: iv.bytes[i]!, seconds }));
  if (o.streams.length > 1) {
    for (const sender of [true, false]) {
      const idx = o.streams.map((s, i) => (s.sender === sender ? i : -1)).filter((i) => i >= 0);
      if (idx.length > 1 || (idx.length > 0 && o.bidirectional)) lines.push(bwLine('SUM', roleTag(o, sender), iv.start, { bytes: idx.reduce((a, i) => a + iv.bytes[i]!, 0), seconds }));
    }
  }
  return lines;
}

/** An interval as iperf3's JSON: `streams`, `sum` and, with --bidir, `sum_bidir_reverse`. */
export function intervalJson(o: { bidirectional: boolean; role: 'client' | 'server'; streams: { socket: number; sender: boolean }[] }, iv: IntervalSample): Record<string, unknown> {
  const seconds = iv.end - iv.start;
  const item = (bytes: number, sender: boolean, socket?: number) => ({
    ...(socket !== undefined ? { socket } : {}),
    start: iv.start,
    end: iv.end,
    seconds,
    bytes,
    bits_per_second: seconds > 0 ? (bytes * 8) / seconds : 0,
    omitted: false,
    sender,
  });
  const out: Record<string, unknown> = { streams: o.streams.map((s, i) => item(iv.bytes[i]!, s.sender, s.socket)) };
  for (const sender of [true, false]) {
    const idx = o.streams.map((s, i) => (s.sender === sender ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) continue;
    const reverse = o.bidirectional && sender === (o.role === 'server');
    out[reverse ? 'sum_bidir_reverse' : 'sum'] = item(
      idx.reduce((a, i) => a + iv.bytes[i]!, 0),
      sender,
    );
  }
  return out;
}
