/** The measuring tools the bench drives, and what it reads from their output. */
import type { Sandbox } from './procs.js';

/** The kernel's congestion control for every kernel socket that sends bulk data (iperf3 -C). */
export const KERNEL_CC = 'cubic';

export interface IperfResult {
  /** Receiver's bits per second over the test. */
  bps: number;
  /** Bytes the receiver got. */
  bytes: number;
  /** The sender's retransmitted segments as iperf3 reports them (the kernel's, when it sends). */
  retransmits: number;
  senderCc: string;
  receiverCc: string;
}

export interface IperfOptions {
  reverse: boolean;
  parallel: number;
  seconds: number;
}

/** `iperf3 -c HOST -J -C cubic` from namespace `ns` (-R: the server sends). */
export async function iperf3(sb: Sandbox, ns: string, host: string, o: IperfOptions): Promise<IperfResult> {
  const args = ['-c', host, '-p', '5201', '-t', String(o.seconds), '-J', '-C', KERNEL_CC];
  if (o.reverse) args.push('-R');
  if (o.parallel > 1) args.push('-P', String(o.parallel));
  // A test that has not ended 20 s after its time is taken as hung (seen once with -R -P 4).
  const r = await sb.run(ns, 'iperf3', args, (o.seconds + 20) * 1000);
  if (r.code === null) {
    // Hung: what the kernel's side of the test connections looked like, for whoever debugs it.
    const ss = await sb.run(ns, 'ss', ['-Htn', 'dport = :5201'], 10_000);
    throw new Error(`iperf3 ${args.join(' ')}: killed after ${o.seconds + 20} s; the kernel's connections to port 5201 then: ${ss.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')).join('; ') || 'none'}`);
  }
  let j: IperfJson;
  try {
    j = JSON.parse(r.stdout) as IperfJson;
  } catch {
    throw new Error(`iperf3 ${args.join(' ')}: exit ${r.code}, no JSON: ${(r.stdout + r.stderr).slice(0, 300)}`);
  }
  if (j.error) throw new Error(`iperf3 ${args.join(' ')}: ${j.error}`);
  const end = j.end;
  if (!end?.sum_received) throw new Error(`iperf3 ${args.join(' ')}: no end.sum_received in its report (exit ${r.code})`);
  return {
    bps: end.sum_received.bits_per_second,
    bytes: end.sum_received.bytes,
    retransmits: end.sum_sent?.retransmits ?? NaN,
    senderCc: end.sender_tcp_congestion ?? '?',
    receiverCc: end.receiver_tcp_congestion ?? '?',
  };
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bits_per_second: number; bytes: number };
    sum_sent?: { retransmits?: number };
    sender_tcp_congestion?: string;
    receiver_tcp_congestion?: string;
  };
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  errors: number;
  p99Ms: number;
}

/** `wrk -t1 -cN -dS --latency URL`, with `Connection: close` for a connection per request. */
export async function wrk(sb: Sandbox, ns: string, url: string, o: { seconds: number; connections: number; close: boolean }): Promise<WrkResult> {
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency'];
  if (o.close) args.push('-H', 'Connection: close');
  args.push(url);
  const out = await sb.runOk(ns, 'wrk', args, (o.seconds + 30) * 1000);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const requests = /^\s*(\d+) requests in/m.exec(out);
  if (!rps || !requests) throw new Error(`wrk ${args.join(' ')}: no request rate in its output:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\b/m.exec(out);
  const unit = { us: 1e-3, ms: 1, s: 1e3 } as const;
  return {
    rps: Number(rps[1]),
    requests: Number(requests[1]),
    errors: (sock ? sock.slice(1, 5).reduce((a, x) => a + Number(x), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0),
    p99Ms: p99 ? Number(p99[1]) * unit[p99[2] as keyof typeof unit] : NaN,
  };
}

/** Round-trip times in microseconds of `count` pings `intervalS` apart (lost ones left out). */
export async function ping(sb: Sandbox, ns: string, host: string, count: number, intervalS: number): Promise<{ rttsUs: number[]; lost: number }> {
  const r = await sb.run(ns, 'ping', ['-n', '-i', String(intervalS), '-c', String(count), '-W', '1', host], (count * intervalS + 30) * 1000);
  const rttsUs = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (rttsUs.length === 0) throw new Error(`ping ${host} in ${ns}: no reply (exit ${r.code})\n${r.stdout}${r.stderr}`);
  return { rttsUs, lost: count - rttsUs.length };
}
