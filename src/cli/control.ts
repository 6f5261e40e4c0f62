/**
 * The control socket of a running `tapstack up`: a Unix socket, mode 0600, at a path that
 * follows from the network namespace and the interface (so `tapstack stats` run beside it finds
 * it without being told), answering one JSON request per connection with one JSON line:
 *
 *   {"cmd":"stats"}                          the counters, named as at exit, and the clock
 *   {"cmd":"ss"}                             every TCP connection (tcp_info's fields)
 *   {"cmd":"capture-start","file":F,...}     start capturing to F (replacing a capture)
 *   {"cmd":"capture-stop"}                   stop the capture
 *
 * The requests are served on the event loop between frames: reading counters costs nothing on
 * the packet path.
 */
import { chmodSync, mkdirSync, readlinkSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Stack } from '../stack.js';
import { formatIpv4 } from '../wire/addr.js';
import { INITIAL_SSTHRESH } from '../tcp/cc/window.js';
import type { TcpInfo } from '../tcp/connection.js';
import { counterEntries, isLevelCounter } from './counters.js';

/** The largest request line read (a file name and a few options). */
const MAX_REQUEST = 4096;

/** A connection as `tapstack ss` gets it: tcp_info's fields, with addresses as text. */
export type ControlConnection = Omit<TcpInfo, 'id' | 'state' | 'localPort' | 'remoteAddr' | 'remotePort' | 'ssthresh'> & {
  state: string;
  local: string;
  peer: string;
  /** Null while it is the initial, "arbitrarily high" value. */
  ssthresh: number | null;
  /** Of the bytes the socket read and wrote, the share that moved without a copy (null: none moved). */
  zeroCopyShare: number | null;
};

export interface StatsReply {
  /** The stack's clock, ms, when the counters were read. */
  timeMs: number;
  counters: Record<string, number>;
}

/**
 * Where `tapstack up` on `ifname` in this network namespace serves its control socket: under
 * /run/tapstack for root, else under $XDG_RUNTIME_DIR/tapstack or the temporary directory's
 * tapstack-UID; named by the namespace's inode and the interface.
 */
export function defaultControlPath(ifname: string): string {
  let nsId = 'host';
  try {
    nsId = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? nsId;
  } catch {
    // No /proc: one namespace as far as we can tell.
  }
  const uid = process.getuid?.() ?? 0;
  const dir = uid === 0 ? '/run/tapstack' : process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'tapstack') : path.join(tmpdir(), `tapstack-${uid}`);
  return path.join(dir, `net${nsId}-${ifname}.sock`);
}

/** The answers of the control socket, from the stack and the CLI's own counters. */
export class ControlServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  /**
   * Serve `stack` at `socketPath`. A socket file left by a tapstack that is gone is replaced;
   * one that answers belongs to a running tapstack, and this one refuses to take it over.
   */
  static async listen(socketPath: string, stack: Stack, extra: () => Record<string, number>): Promise<ControlServer> {
    mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
    if (await answers(socketPath)) throw new Error(`${socketPath} is served by another tapstack`);
    try {
      unlinkSync(socketPath);
    } catch {
      // Not there.
    }
    const server = net.createServer((c) => serve(c, stack, extra));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(socketPath, 0o600);
    // The control socket never keeps the process alive by itself.
    server.unref();
    return new ControlServer(server, socketPath);
  }

  close(): void {
    this.server.close();
    try {
      unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socketPath);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

function serve(c: net.Socket, stack: Stack, extra: () => Record<string, number>): void {
  let buf = '';
  c.setEncoding('utf8');
  c.on('error', () => {});
  c.on('data', (d: string) => {
    buf += d;
    const nl = buf.indexOf('\n');
    if (nl < 0) {
      if (buf.length > MAX_REQUEST) c.end(JSON.stringify({ error: 'request too long' }) + '\n');
      return;
    }
    let reply: unknown;
    try {
      reply = answer(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>, stack, extra);
    } catch (e) {
      reply = { error: (e as Error).message };
    }
    c.end(JSON.stringify(reply) + '\n');
  });
}

function answer(req: Record<string, unknown>, stack: Stack, extra: () => Record<string, number>): unknown {
  switch (req.cmd) {
    case 'stats': {
      const counters: Record<string, number> = Object.fromEntries(counterEntries(stack.stats()));
      Object.assign(counters, extra());
      counters['capture.on'] = stack.capturing ? 1 : 0;
      return { timeMs: stack.clock.nowMs(), counters } satisfies StatsReply;
    }
    case 'ss':
      return {
        connections: stack.connections().map((c): ControlConnection => {
          const moved = c.bytesRead + c.bytesWritten;
          return {
            state: c.state,
            local: `${formatIpv4(c.localAddr)}:${c.localPort}`,
            peer: `${formatIpv4(c.remoteAddr)}:${c.remotePort}`,
            cwnd: c.cwnd,
            // None while it is still the initial "arbitrarily high" value, as Linux's ss shows none.
            ssthresh: c.ssthresh < INITIAL_SSTHRESH ? c.ssthresh : null,
            mss: c.mss,
            srttMs: c.srttMs,
            rttvarMs: c.rttvarMs,
            rtoMs: c.rtoMs,
            retransmits: c.retransmits,
            bytesAcked: c.bytesAcked,
            bytesReceived: c.bytesReceived,
            deliveryRate: c.deliveryRate,
            sendQueueBytes: c.sendQueueBytes,
            outOfOrderBytes: c.outOfOrderBytes,
            sndWnd: c.sndWnd,
            rcvWnd: c.rcvWnd,
            zeroCopyShare: moved > 0 ? (c.flippedBytes + c.sentByReferenceBytes) / moved : null,
          };
        }),
      };
    case 'capture-start': {
      if (typeof req.file !== 'string' || req.file === '') throw new Error('capture-start needs a file');
      const format = req.format;
      if (format !== undefined && format !== 'pcap' && format !== 'pcapng') throw new Error('format is pcap or pcapng');
      stack.startCapture(req.file, format ? { pcapFormat: format } : {});
      return { ok: true, file: req.file };
    }
    case 'capture-stop':
      return { ok: true, stopped: stack.stopCapture() };
    default:
      throw new Error(`unknown command ${JSON.stringify(req.cmd)}: stats, ss, capture-start, capture-stop`);
  }
}

/** One request to the control socket at `socketPath`, its answer parsed. */
export function controlRequest<T>(socketPath: string, req: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = net.connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`${socketPath}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => (buf += d));
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new Error(`no tapstack serves ${socketPath} (is tapstack up running on that interface, in this network namespace?)`) : e);
    });
    c.on('end', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(buf) as T & { error?: string };
        if (r.error) reject(new Error(r.error));
        else resolve(r);
      } catch {
        reject(new Error(`${socketPath}: an answer that is not JSON`));
      }
    });
  });
}

/**
 * `tapstack stats`: each counter that is not zero, with its rate per second since `prev` where
 * it counts events.
 */
export function formatStats(now: StatsReply, prev: StatsReply | null): string {
  const dt = prev ? (now.timeMs - prev.timeMs) / 1000 : 0;
  const lines: string[] = [];
  for (const [k, v] of Object.entries(now.counters)) {
    if (v === 0) continue;
    const p = prev?.counters[k];
    const rate = prev && dt > 0 && !isLevelCounter(k) ? (v - (p ?? 0)) / dt : null;
    lines.push(rate === null ? `${k} ${v}` : `${k} ${v}  ${formatRate(rate)}/s`);
  }
  const c = now.counters;
  const flipped = c['zeroCopy.flippedBytes'] ?? 0;
  const byRef = c['zeroCopy.sendByReferenceBytes'] ?? 0;
  const copied = sumPrefix(c, 'zeroCopy.copiedBytes.');
  const sentCopied = sumPrefix(c, 'zeroCopy.sendCopiedBytes.');
  const share = (a: number, b: number) => (a + b > 0 ? `${((100 * a) / (a + b)).toFixed(1)}%` : '-');
  lines.push(`zero copy: received ${share(flipped, copied)} flipped, sent ${share(byRef, sentCopied)} by reference`);
  return lines.join('\n') + '\n';
}

function sumPrefix(c: Record<string, number>, prefix: string): number {
  let s = 0;
  for (const [k, v] of Object.entries(c)) if (k.startsWith(prefix)) s += v;
  return s;
}

function formatRate(r: number): string {
  const a = Math.abs(r);
  if (a >= 1e9) return `${(r / 1e9).toFixed(2)}G`;
  if (a >= 1e6) return `${(r / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(r / 1e3).toFixed(1)}k`;
  return r.toFixed(r === Math.round(r) ? 0 : 1);
}

/** `tapstack ss`: a header, then each connection on two lines as `ss -ti` prints them. */
export function formatConnections(conns: ControlConnection[]): string {
  const lines = [`${'State'.padEnd(12)} ${'Local Address:Port'.padEnd(22)} Peer Address:Port`];
  for (const c of conns) {
    lines.push(`${c.state.padEnd(12)} ${c.local.padEnd(22)} ${c.peer}`);
    const bits = [
      `mss:${c.mss}`,
      `cwnd:${Math.round(c.cwnd / c.mss)}`,
      ...(c.ssthresh !== null ? [`ssthresh:${Math.round(c.ssthresh / c.mss)}`] : []),
      `rtt:${c.srttMs.toFixed(3)}/${c.rttvarMs.toFixed(3)}`,
      `rto:${Math.round(c.rtoMs)}`,
      `retrans:${c.retransmits}`,
      `bytes_acked:${c.bytesAcked}`,
      `bytes_received:${c.bytesReceived}`,
      `delivery_rate:${formatRate(c.deliveryRate * 8)}bps`,
      `snd_wnd:${c.sndWnd}`,
      `rcv_wnd:${c.rcvWnd}`,
      ...(c.sendQueueBytes ? [`send_q:${c.sendQueueBytes}`] : []),
      ...(c.outOfOrderBytes ? [`ofo:${c.outOfOrderBytes}`] : []),
      `zero_copy:${c.zeroCopyShare === null ? '-' : `${(100 * c.zeroCopyShare).toFixed(1)}%`}`,
    ];
    lines.push(`\t ${bits.join(' ')}`);
  }
  return lines.join('\n') + '\n';
}
