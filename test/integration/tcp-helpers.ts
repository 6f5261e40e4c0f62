/**
 * Helpers of the TCP integration tests: the four link modes, the /bytes/N pattern and
 * its sha256, processes in a namespace with files as stdin/stdout, a tapstack run with its
 * capture, the kernel's TAP queue counters, and the capture check of docs/ARCHITECTURE.md section 9 with the
 * few messages a TCP capture may legitimately carry.
 *
 * Everything stays inside namespaces `tapstack-it-tcp*-<pid>`; every process is stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { nsRun, scratchDir, subnet, Tapstack, tshark, useNamespace, type Stopped, type Subnet, type UpOptions } from './helpers.js';

export const MiB = 1024 * 1024;
export const BIG = 100 * MiB;

// ---- link modes ----

export interface Mode {
  offload: 'on' | 'off';
  mtu: 1500 | 9000;
}

/** Offloads on and off, MTU 1500 and 9000. */
export const MODES: Mode[] = [
  { offload: 'on', mtu: 1500 },
  { offload: 'on', mtu: 9000 },
  { offload: 'off', mtu: 1500 },
  { offload: 'off', mtu: 9000 },
];

/** `on1500`, for namespace and file names. */
export function modeTag(m: Mode): string {
  return `${m.offload}${m.mtu}`;
}

export function modeName(m: Mode): string {
  return `offload ${m.offload}, MTU ${m.mtu}`;
}

/** 198.18.(base + index of the mode).0/24: each file takes four /24s of its own out of 100..199. */
export function modeSubnet(base: number, m: Mode): Subnet {
  const i = MODES.findIndex((x) => x.offload === m.offload && x.mtu === m.mtu);
  if (i < 0 || base < 100 || base + MODES.length - 1 > 199) throw new Error(`subnet ${base} + ${i}`);
  return subnet(base + i);
}

/** What a describe per mode works in: see {@link useMode}. */
export interface ModeScope {
  mode: Mode;
  net: Subnet;
  ns: string;
  scratch: { dir: string; remove: () => void };
}

/**
 * The set-up of a describe per mode: its subnet (`modeSubnet(base, mode)`), namespace and
 * scratch directory `<prefix>-<modeTag>`; afterAll kills what the tests started (a test that
 * timed out leaves them running), deletes the namespace and removes the directory.
 */
export function useMode(prefix: string, base: number, mode: Mode): ModeScope {
  const net = modeSubnet(base, mode);
  const tag = `${prefix}-${modeTag(mode)}`;
  const scratch = scratchDir(tag);
  const ns = useNamespace(tag, { stop: killStarted, after: scratch.remove });
  return { mode, net, ns, scratch };
}

// ---- the /bytes/N pattern: byte i is i mod 251 ----

const PERIOD = 251;
/** A whole number of periods, so consecutive blocks continue the pattern. */
const BLOCK = (() => {
  const b = Buffer.allocUnsafe(PERIOD * 4096);
  for (let i = 0; i < b.length; i++) b[i] = i % PERIOD;
  return b;
})();

/** Calls `each` with consecutive slices of `n` pattern bytes starting at stream offset `from`. */
function patternSlices(n: number, from: number, each: (b: Buffer) => void): void {
  let off = from % PERIOD;
  let left = n;
  while (left > 0) {
    const len = Math.min(left, BLOCK.length - off);
    each(BLOCK.subarray(off, off + len));
    left -= len;
    off = 0;
  }
}

/** sha256 (hex) of `n` pattern bytes starting at stream offset `from`, computed here. */
export function patternSha256(n: number, from = 0): string {
  const h = createHash('sha256');
  patternSlices(n, from, (b) => h.update(b));
  return h.digest('hex');
}

/** Write `n` pattern bytes to `file`. */
export function writePatternFile(file: string, n: number): void {
  const fd = openSync(file, 'w');
  try {
    patternSlices(n, 0, (b) => {
      for (let at = 0; at < b.length; ) at += writeSync(fd, b, at);
    });
  } finally {
    closeSync(fd);
  }
}

export interface FileDigest {
  sha256: string;
  bytes: number;
}

export function sha256File(file: string): Promise<FileDigest> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => {
        bytes += d.length;
        h.update(d);
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: h.digest('hex'), bytes }));
  });
}

// ---- processes in the namespace ----

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when it exited (never rejects). */
  readonly done: Promise<ProcResult>;
  running(): boolean;
  /** What it wrote to stdout so far (when not redirected to a file). */
  out(): string;
  /** Signal it by PID if it still runs. */
  kill(sig?: NodeJS.Signals): void;
}

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  timedOut: boolean;
}

export interface SpawnOptions {
  /** File to read stdin from (default /dev/null). */
  stdin?: string;
  /** File to write stdout to (default: collected in `stdout`, up to 1 MiB). */
  stdout?: string;
  env?: Record<string, string>;
  /** Killed (SIGKILL, by PID) after this long. */
  timeoutMs?: number;
}

const started = new Set<Proc>();
const tapstacks = new Set<Tapstack>();

/**
 * Kill (SIGKILL, by PID) every process and tapstack this file started that still runs (after a
 * test that timed out, say). Call in afterAll before deleting the namespace.
 */
export async function killStarted(): Promise<void> {
  for (const p of [...started]) {
    p.kill('SIGKILL');
    await p.done;
  }
  for (const t of [...tapstacks]) {
    if (t.running) process.kill(t.pid, 'SIGKILL');
    await t.exit(10_000).catch(() => undefined);
    tapstacks.delete(t);
  }
}

/**
 * `ip netns exec NS cmd args...` with files as stdin/stdout. `ip netns exec` execs the command
 * in place, so the PID is the command's own.
 */
export function nsSpawn(ns: string, cmd: string, args: string[], o: SpawnOptions = {}): Proc {
  const inFd = openSync(o.stdin ?? '/dev/null', 'r');
  const outFd = o.stdout !== undefined ? openSync(o.stdout, 'w') : null;
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: [inFd, outFd ?? 'pipe', 'pipe'],
      env: o.env ? { ...process.env, ...o.env } : process.env,
    });
  } finally {
    closeSync(inFd);
    if (outFd !== null) closeSync(outFd);
  }
  const t0 = performance.now();
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  let exited = false;
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    if (stdout.length < MiB) stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < MiB) stderr += d;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot spawn ${cmd}`);
  let timer: NodeJS.Timeout | undefined;
  const proc: Proc = {
    child,
    pid,
    done: new Promise((resolve) => {
      child.on('error', (e) => {
        stderr += String(e);
      });
      child.on('close', (code, signal) => {
        exited = true;
        clearTimeout(timer);
        started.delete(proc);
        resolve({ code, signal, stdout, stderr, ms: performance.now() - t0, timedOut });
      });
    }),
    running: () => !exited,
    out: () => stdout,
    kill: (sig = 'SIGTERM') => {
      if (exited) return;
      try {
        process.kill(pid, sig);
      } catch {
        // exited meanwhile
      }
    },
  };
  started.add(proc);
  if (o.timeoutMs !== undefined) {
    timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, o.timeoutMs);
  }
  return proc;
}

/** Run to completion in the namespace. */
export function nsExec(ns: string, cmd: string, args: string[], o: SpawnOptions = {}): Promise<ProcResult> {
  return nsSpawn(ns, cmd, args, { timeoutMs: 120_000, ...o }).done;
}

/** Describe a result for assertion messages. */
export function show(r: ProcResult): string {
  return `exit ${r.code ?? r.signal}${r.timedOut ? ' (killed: timeout)' : ''}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr.slice(0, 4000)}`;
}

/** Wait until the process wrote `text` to stdout (throws if it exits first or after `timeoutMs`). */
export async function waitOutput(p: Proc, text: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!p.out().includes(text)) {
    if (!p.running()) throw new Error(`exited before printing ${JSON.stringify(text)}\n${show(await p.done)}`);
    if (Date.now() > end) throw new Error(`no ${JSON.stringify(text)} after ${timeoutMs} ms; stdout: ${p.out()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Wait until something listens on TCP `port` in the namespace (a kernel server we started). */
export async function waitListening(ns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await nsRun(ns, 'ss', ['-Hltn', `sport = :${port}`]);
    if (r.stdout.trim() !== '') return;
    if (Date.now() > end) throw new Error(`nothing listens on port ${port} in ${ns} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** MB/s (10^6 bytes per second) for the log. */
export function mbps(bytes: number, ms: number): string {
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}

export function logThroughput(m: Mode, what: string, bytes: number, ms: number): void {
  console.log(`[${modeName(m)}] ${what}: ${(bytes / MiB).toFixed(0)} MiB in ${(ms / 1000).toFixed(2)} s, ${mbps(bytes, ms)}`);
}

// ---- the kernel's side of the TAP ----

export interface TapQueueStats {
  /** Frames the kernel could not queue to tapstack (its TAP queue was full): lost on the way in. */
  txDropped: number;
  /** Frames from tapstack the kernel dropped. */
  rxDropped: number;
  txPackets: number;
  rxPackets: number;
}

/** The kernel's counters of the TAP (read them before tapstack exits: the TAP goes with it). */
export async function tapQueueStats(ns: string, ifname = 'tap0'): Promise<TapQueueStats> {
  const r = await nsRun(ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', ifname]);
  if (r.code !== 0) throw new Error(`ip -s link show ${ifname} in ${ns}: ${r.stderr}`);
  const st = (JSON.parse(r.stdout) as { stats64: { rx: Record<string, number>; tx: Record<string, number> } }[])[0]!.stats64;
  return { txDropped: st.tx.dropped!, rxDropped: st.rx.dropped!, txPackets: st.tx.packets!, rxPackets: st.rx.packets! };
}

export const NO_TAP_DROPS: TapQueueStats = { txDropped: 0, rxDropped: 0, txPackets: 0, rxPackets: 0 };

// ---- a tapstack run ----

export interface Run<T> {
  value: T;
  stopped: Stopped;
  tap: TapQueueStats;
}

/**
 * Start `tapstack up` (with `--serve`, `--snaplen` as given in `extra`), run `body`, read the
 * kernel's TAP counters, stop tapstack (SIGINT) and return its counters. tapstack is stopped also
 * when `body` throws.
 */
export async function withTapstack<T>(o: UpOptions, body: (t: Tapstack) => Promise<T>): Promise<Run<T>> {
  const t = await Tapstack.start(o);
  tapstacks.add(t);
  let value: T;
  let tap: TapQueueStats;
  try {
    value = await body(t);
    await waitClosed(o.ns, o.net.tapstack);
    tap = await tapQueueStats(o.ns, o.ifname ?? 'tap0');
  } catch (e) {
    await t.stop().catch(() => undefined);
    tapstacks.delete(t);
    throw e;
  }
  const stopped = await t.stop();
  tapstacks.delete(t);
  if (stopped.code !== 0) throw new Error(`tapstack exited ${stopped.code ?? stopped.signal}\n${stopped.stdout}${stopped.stderr}`);
  return { value, stopped, tap };
}

/**
 * One {@link withTapstack} run of `tapstack up --serve <serve>` in a {@link useMode} scope, with
 * a capture `<name>.pcap` in its scratch directory (snaplen 128 if `truncated`), which is
 * checked once tapstack stopped. Accepted warnings and TAP drops go to the log: they explain a
 * slow run.
 */
export async function serveChecked<T>(
  s: ModeScope,
  name: string,
  o: { serve: string; truncated?: boolean; accept?: string[] },
  body: (t: Tapstack) => Promise<T>,
): Promise<Run<T> & { check: CaptureCheck; pcap: string }> {
  const { mode, net } = s;
  const pcap = `${s.scratch.dir}/${name}.pcap`;
  const extra = ['--serve', o.serve, ...(o.truncated ? ['--snaplen', '128'] : [])];
  const run = await withTapstack({ ns: s.ns, net, offload: mode.offload, mtu: mode.mtu, pcap, extra }, body);
  const check = await checkCapture(pcap, { net, mode, tap: run.tap, truncated: o.truncated, counters: run.stopped.counters, ...(o.accept ? { accept: o.accept } : {}) });
  if (Object.keys(check.accepted).length || run.tap.txDropped) {
    console.log(`[${modeName(mode)}] ${name}: kernel TAP queue dropped ${run.tap.txDropped} frames to tapstack; capture: ${captureSummary(check)}`);
  }
  return { ...run, check, pcap };
}

/**
 * Wait (at most `timeoutMs`) until the kernel has no TCP connection with `peer` other than in
 * TIME-WAIT: a client may exit as soon as it has sent its FIN, before tapstack's side has closed
 * too, and stopping tapstack then would reset what was about to close cleanly.
 */
export async function waitClosed(ns: string, peer: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await nsRun(ns, 'ss', ['-Htan', 'dst', peer]);
    const open = r.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('TIME-WAIT'));
    if (open.length === 0 || Date.now() > end) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Counters `name value` printed on stderr by `tapstack connect` with TAPSTACK_COUNTERS=1. */
export function parseStderrCounters(stderr: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of stderr.split('\n')) {
    const m = /^([a-z][\w.-]*) (\d+)$/.exec(l);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---- captures ----

/** tshark severities (_ws.expert.severity as a number). */
const SEVERITY_WARNING = 0x00600000;

/**
 * Flow control, not a fault: a sender filling the advertised window exactly, and a receiver
 * whose application reads slower than the peer sends (the echo service writes back only as fast
 * as the kernel reads) advertising a zero window. tshark reports these as warnings.
 */
const FLOW_CONTROL = [
  'TCP window specified by the receiver is now completely full',
  'TCP Zero Window segment',
  'TCP Zero Window Probe',
  'TCP ZeroWindowProbeAck',
];

/**
 * What loss looks like in a capture taken at tapstack. There is no injected loss in these
 * tests, but the kernel's TAP queue holds txqueuelen frames (1000 by default; tapstack sets
 * 10000 since c4ad410): when tapstack reads slower than the kernel sends (offloads off: one
 * frame per segment), the kernel drops what does not fit and counts it in the TAP's TX
 * "dropped". tapstack never saw those frames, so its capture
 * has gaps ("previous segment not captured"), the kernel's retransmissions fill them ("out of
 * order", "retransmission"), and tapstack may retransmit when ACKs were the frames lost (the
 * kernel then reports D-SACKs). These messages are accepted only from a run in which the kernel
 * counted such drops; the count is part of the result.
 */
const LOSS = [
  'Previous segment(s) not captured (common at capture start)',
  "ACKed segment that wasn't captured (common at capture start)",
  'This frame is a (suspected) out-of-order segment',
  'This frame is a (suspected) retransmission',
  'This frame is a (suspected) fast retransmission',
  'This frame is a (suspected) spurious retransmission',
  'D-SACK Sequence',
];

/**
 * Linux finishes a checksum in software with skb_checksum_help(), which writes a result of 0 as
 * 0xffff (CSUM_MANGLED_0, meant for UDP, where 0 means "no checksum"). For TCP the two are the
 * same number in ones' complement (RFC 1624), but tshark flags it, about once in 65536 frames
 * the kernel sends with offloads off. Accepted from the kernel only: tapstack should write 0.
 */
const RFC1624_ZERO = 'TCP Checksum 0xffff instead of 0x0000 (see RFC 1624)';

/** tshark's warning on every RST segment. */
export const RST_WARNING = 'Connection reset (RST)';

/**
 * Spurious retransmissions, which are not loss. Under load both sides resend data the other
 * side already has: the two vCPUs are shared by tapstack, the clients, the kernel's softirqs,
 * tshark and the other test file, and a receiver short of CPU acknowledges late, after the
 * sender's RTO (200 ms at least) or tail loss probe fired. tshark marks the resent segment
 * "out-of-order" or "retransmission" and the receiver's ACK that reports the duplicate
 * "D-SACK". These are accepted only where the capture proves the data was a duplicate:
 * - the kernel resent bytes that tapstack had all received before (the capture is tapstack's
 *   view), and tapstack's D-SACK names such bytes;
 * - tapstack resent bytes it had sent before, and the kernel's D-SACK names them (so the kernel
 *   had them). tapstack's own late reading, which once caused this without any load, is
 *   tcp-rto-stall.test.ts's subject.
 */
const RESENT = [
  'This frame is a (suspected) out-of-order segment',
  'This frame is a (suspected) retransmission',
  'This frame is a (suspected) spurious retransmission',
  'This frame is a (suspected) fast retransmission',
];
const DSACK = 'D-SACK Sequence';

export interface CaptureCheckOptions {
  net: Subnet;
  mode: Mode;
  /** The kernel's TAP counters of the run (loss messages are accepted only if it dropped). */
  tap: TapQueueStats;
  /** The capture was taken with a small snaplen (see {@link checkCapture}). */
  truncated?: boolean;
  /** Accept the loss messages regardless (a run with deliberate loss). */
  lossExpected?: boolean;
  /** Further warnings this run expects (e.g. "Connection reset (RST)" where a RST is the point). */
  accept?: string[];
  /** tapstack's counters of the run (their retransmission counts go into the summary). */
  counters?: Record<string, number>;
}

export interface CaptureCheck {
  /** The capture (a copy kept under /tmp if the check found problems: see keptCapture). */
  pcap: string;
  /** tapstack's retransmission counters and the kernel's TAP drops, for messages. */
  tapstack: string;
  /** Lines of the tshark check not explained by flow control or counted TAP drops. */
  problems: string[];
  /** Accepted warnings by message. */
  accepted: Record<string, number>;
  frames: number;
  ipv4Frames: number;
  /** IPv4 header checksums tshark verified good; and those it found bad or could not check. */
  ipChecksumGood: number;
  ipChecksumNotGood: string[];
  tcpFrames: number;
  /** TCP frames captured whole (checksum verifiable), of which verified good. */
  tcpWhole: number;
  tcpChecksumGood: number;
  /** TCP checksums found bad, or not verified on a frame captured whole. */
  tcpChecksumNotGood: string[];
  /** TCP frames captured truncated: tshark cannot compute their checksum ("unverified"). */
  tcpTruncated: number;
  /** IPv4 datagrams longer than the MTU (offloads off; with offloads on TSO/GSO frames are large by design). */
  overMtu: { src: string; ipLen: number; tcpHdrLen: number; sack: boolean }[];
}

/**
 * docs/ARCHITECTURE.md section 9's check, `_ws.malformed || _ws.expert.severity >= "warning"` with IPv4,
 * TCP and UDP checksum verification on, plus a second pass that counts what tshark verified.
 *
 * Truncated captures (`--snaplen 128`, for the 100 MiB transfers): tshark still checks every
 * Ethernet, IPv4 and TCP header (IPv4 header checksums are verified: the header is whole), TCP
 * sequence analysis (it uses the IPv4 total length, not the captured length) and the TCP
 * checksum of every frame captured whole (ACKs, handshakes). It cannot compute the TCP checksum
 * of a truncated segment (tshark says "unverified", not bad), so those runs are paired with a
 * small transfer captured whole in which every TCP checksum is verified. TCP payload is decoded
 * as plain data in truncated captures: with the bodies cut, tshark cannot reassemble HTTP and
 * parses the pattern bytes at the start of each cut segment as header lines ("Illegal
 * characters found in header name"), or guesses another protocol for them (IRC: "Trailing
 * stray characters"), which says nothing about the traffic.
 */
export async function checkCapture(pcap: string, o: CaptureCheckOptions): Promise<CaptureCheck> {
  const common = [
    '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    // Truncated: TCP payload as plain data (no HTTP, no heuristic guesses such as IRC).
    ...(o.truncated ? ['-d', 'tcp.port==1-65535,data'] : []),
  ];
  const [warnLines, frameLines] = await Promise.all([
    tshark(pcap, [
      ...common,
      '-Y', '_ws.malformed || _ws.expert.severity >= "warning"',
      '-T', 'fields', '-E', 'aggregator=|', '-E', 'occurrence=a',
      '-e', 'frame.number', '-e', 'ip.src', '-e', '_ws.expert.severity', '-e', '_ws.expert.message', '-e', '_ws.col.Info',
    ]),
    tshark(pcap, [
      ...common,
      '-o', 'tcp.analyze_sequence_numbers:FALSE',
      '-T', 'fields', '-E', 'aggregator=|', '-E', 'occurrence=a',
      '-e', 'frame.number', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'ip.src', '-e', 'ip.len', '-e', 'ip.checksum.status',
      '-e', 'tcp.hdr_len', '-e', 'tcp.checksum.status', '-e', 'tcp.option_kind', '-e', 'tcp.stream', '-e', 'tcp.seq_raw', '-e', 'tcp.len',
      // Without sequence analysis these are the raw numbers (relative ones need the analysis).
      '-e', 'tcp.options.sack_le', '-e', 'tcp.options.sack_re', '-e', 'tcp.ack_raw', '-e', 'tcp.flags',
    ]),
  ]);
  const n = (k: string) => o.counters?.[`tcp.${k}`] ?? o.counters?.[k] ?? 0;
  const c: CaptureCheck = {
    pcap,
    tapstack: o.counters ? `tapstack: ${n('retransmits')} retransmissions, ${n('timeouts')} timeouts, ${n('fastRetransmits')} fast retransmits; kernel TAP queue dropped ${o.tap.txDropped}` : '',
    problems: [],
    accepted: {},
    frames: frameLines.length,
    ipv4Frames: 0,
    ipChecksumGood: 0,
    ipChecksumNotGood: [],
    tcpFrames: 0,
    tcpWhole: 0,
    tcpChecksumGood: 0,
    tcpChecksumNotGood: [],
    tcpTruncated: 0,
    overMtu: [],
  };
  // Per stream and direction: the bytes seen so far, and those seen twice (raw sequence
  // numbers made relative to the direction's first one).
  interface Dir {
    base: number;
    seen: [number, number][];
    twice: [number, number][];
  }
  const dirs = new Map<string, Dir>();
  const dir = (stream: string, from: 'kernel' | 'tapstack', seq?: number): Dir | undefined => {
    const key = `${stream}/${from}`;
    let d = dirs.get(key);
    if (!d && seq !== undefined) dirs.set(key, (d = { base: seq, seen: [], twice: [] }));
    return d;
  };
  const covered = (ranges: [number, number][], from: number, to: number) => ranges.some(([a, b]) => a <= from && to <= b);
  /** Frames that carried only bytes seen before in their direction. */
  const resentFrames = new Map<string, { stream: string; from: number; to: number }>();
  /** The first SACK block of each frame (raw), for the D-SACK frames. */
  const firstSack = new Map<string, { stream: string; le: number; re: number }>();
  const perFrame: { frame: string; len: string; capLen: string; tcpSum: string }[] = [];
  /**
   * RSTs, of either side, that answer a segment arriving after its connection was over: per
   * stream and side, the sequence number after that side's FIN and whether the other side had
   * acknowledged it (then, with the other's FIN in before, the connection is closed, and a late
   * segment, such as a duplicate ACK of a FIN that a loss probe resent, gets a RST whose
   * sequence number is that one: RFC 9293 3.10.7.1, as Linux answers). Keys `stream/side`.
   */
  const finEnd = new Map<string, number>();
  const finAcked = new Set<string>();
  const rstAfterClose = new Set<string>();
  for (const l of frameLines) {
    // First occurrences (an ICMP error quotes a second IPv4 and TCP header), but every option kind.
    const f = l.split('\t');
    const [frame, len, capLen, src, ipLen, ipSum, tcpHdr, tcpSum] = f.map((x) => x.split('|')[0]);
    const optKinds = f[8] ?? '';
    const [stream, seqRaw, tcpLen, sackLe, sackRe, ackRaw, flagsHex] = [f[9], f[10], f[11], f[12], f[13], f[14], f[15]].map((x) => (x ?? '').split('|')[0]);
    if (!ipLen) continue;
    c.ipv4Frames++;
    if (ipSum === '1') c.ipChecksumGood++;
    else c.ipChecksumNotGood.push(`frame ${frame}: ip.checksum.status ${ipSum}`);
    if (o.mode.offload === 'off' && Number(ipLen) > o.mode.mtu) {
      c.overMtu.push({ src: src!, ipLen: Number(ipLen), tcpHdrLen: Number(tcpHdr || 0), sack: optKinds.split('|').includes('5') });
    }
    if (!tcpHdr) continue;
    c.tcpFrames++;
    perFrame.push({ frame: frame!, len: len!, capLen: capLen!, tcpSum: tcpSum! });
    const from = src === o.net.host ? 'kernel' : src === o.net.tapstack ? 'tapstack' : null;
    if (!from) continue;
    if (sackLe) firstSack.set(frame!, { stream: stream!, le: Number(sackLe), re: Number(sackRe) });
    const flags = Number(flagsHex || 0);
    const mine = `${stream}/${from}`;
    const theirs = `${stream}/${from === 'kernel' ? 'tapstack' : 'kernel'}`;
    if (flags & 0x01) finEnd.set(mine, (Number(seqRaw) + Number(tcpLen) + 1) >>> 0);
    if (flags & 0x10 && finEnd.get(theirs) === Number(ackRaw)) finAcked.add(theirs);
    if (flags & 0x04 && finAcked.has(mine) && finEnd.get(mine) === Number(seqRaw)) rstAfterClose.add(frame!);
    // The sequence space a segment takes: its data, and one more for a FIN (a loss probe may
    // resend a FIN alone, and the kernel's D-SACK then names that one number).
    const occupied = Number(tcpLen) + (flags & 0x01 ? 1 : 0);
    if (occupied > 0) {
      const d = dir(stream!, from, Number(seqRaw))!;
      const a = (Number(seqRaw) - d.base) >>> 0;
      const b = a + occupied;
      if (covered(d.seen, a, b)) {
        resentFrames.set(frame!, { stream: stream!, from: a, to: b });
        addRange(d.twice, a, b);
      }
      addRange(d.seen, a, b);
    }
  }
  /** Does the D-SACK block of `frame` (sent by `by`) name bytes the other side sent twice? */
  const dsackOfDuplicate = (frame: string, by: 'kernel' | 'tapstack'): boolean => {
    const sack = firstSack.get(frame);
    const d = sack && dir(sack.stream, by === 'kernel' ? 'tapstack' : 'kernel');
    if (!sack || !d) return false;
    return covered(d.twice, (sack.le - d.base) >>> 0, (sack.re - d.base) >>> 0);
  };
  /** Did the kernel report (D-SACK) the bytes of tapstack's resent `frame` as duplicates? */
  const kernelReportedDuplicate = new Set<string>();
  const lossOk = o.lossExpected || o.tap.txDropped > 0 || o.tap.rxDropped > 0;
  const kernelZeroAsFfff = new Set<string>();
  const parsed = warnLines.map((l) => {
    const [frame, src, sev, msg] = l.split('\t');
    return { l, frame: frame!, src: (src ?? '').split('|')[0]!, sevs: (sev ?? '').split('|').map(Number), msgs: (msg ?? '').split('|') };
  });
  for (const w of parsed) {
    if (w.src !== o.net.host || !w.msgs.includes(DSACK)) continue;
    const sack = firstSack.get(w.frame);
    const d = sack && dir(sack.stream, 'tapstack');
    if (!sack || !d) continue;
    const a = (sack.le - d.base) >>> 0;
    const b = (sack.re - d.base) >>> 0;
    for (const [fr, r] of resentFrames) if (r.stream === sack.stream && dirs.get(`${r.stream}/tapstack`) === d && a <= r.from && r.to <= b) kernelReportedDuplicate.add(fr);
  }
  for (const w of parsed) {
    const fromKernel = w.src === o.net.host;
    const fromTapstack = w.src === o.net.tapstack;
    const bad = w.msgs.filter((m, i) => {
      if ((w.sevs[i] ?? SEVERITY_WARNING) < SEVERITY_WARNING) return false;
      if (m === RFC1624_ZERO && fromKernel) kernelZeroAsFfff.add(w.frame);
      let key = m;
      let ok = FLOW_CONTROL.includes(m) || (lossOk && LOSS.includes(m)) || (m === RFC1624_ZERO && fromKernel) || (o.accept ?? []).includes(m);
      if (!ok) {
        const spurious =
          (RESENT.includes(m) && fromKernel && resentFrames.has(w.frame)) ||
          (RESENT.includes(m) && fromTapstack && kernelReportedDuplicate.has(w.frame)) ||
          (m === DSACK && (fromKernel || fromTapstack) && dsackOfDuplicate(w.frame, fromKernel ? 'kernel' : 'tapstack'));
        if (spurious) {
          ok = true;
          key = `${m} (spurious: ${fromKernel ? 'the kernel' : 'tapstack'} ${m === DSACK ? 'reports a duplicate' : 'resent what the other side had'})`;
        } else if (m === RST_WARNING && (fromTapstack || fromKernel) && rstAfterClose.has(w.frame)) {
          ok = true;
          key = `${m} (after the close: a late segment of ${fromTapstack ? "the kernel's" : "tapstack's"} found no connection)`;
        }
      }
      if (ok) c.accepted[key] = (c.accepted[key] ?? 0) + 1;
      return !ok;
    });
    // A frame that matched the filter with no warning message of its own is malformed.
    if (bad.length > 0 || !w.sevs.some((x) => x >= SEVERITY_WARNING)) c.problems.push(`frame ${w.frame}: ${w.l}`);
  }
  for (const { frame, len, capLen, tcpSum } of perFrame) {
    if (len === capLen) {
      c.tcpWhole++;
      if (tcpSum === '1' || (tcpSum === '0' && kernelZeroAsFfff.has(frame))) c.tcpChecksumGood++;
      else c.tcpChecksumNotGood.push(`frame ${frame}: tcp.checksum.status ${tcpSum} (captured whole)`);
    } else {
      c.tcpTruncated++;
      if (tcpSum !== '2') c.tcpChecksumNotGood.push(`frame ${frame}: tcp.checksum.status ${tcpSum} (truncated)`);
    }
  }
  if (c.problems.length > 0 || c.ipChecksumNotGood.length > 0 || c.tcpChecksumNotGood.length > 0) c.pcap = keepCapture(pcap);
  return c;
}

/** Add [from, to) to a sorted list of disjoint ranges, merging what touches. */
function addRange(ranges: [number, number][], from: number, to: number): void {
  let i = 0;
  while (i < ranges.length && ranges[i]![1] < from) i++;
  let j = i;
  while (j < ranges.length && ranges[j]![0] <= to) {
    from = Math.min(from, ranges[j]![0]);
    to = Math.max(to, ranges[j]![1]);
    j++;
  }
  ranges.splice(i, j - i, [from, to]);
}

/**
 * Copy a capture that failed its check to /tmp/tapstack-it-tcp-kept-<pid>/ (the test's scratch
 * directory goes when the test ends), so that it can be looked at afterwards.
 */
function keepCapture(pcap: string): string {
  const dir = `/tmp/tapstack-it-tcp-kept-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const to = path.join(dir, `${Date.now()}-${path.basename(pcap)}`);
  copyFileSync(pcap, to);
  return to;
}

/** The summary of a check for the log and assertion messages. */
export function captureSummary(c: CaptureCheck): string {
  return (
    `${c.frames} frames, ${c.ipv4Frames} IPv4 (${c.ipChecksumGood} header checksums good), ${c.tcpFrames} TCP ` +
    `(${c.tcpWhole} whole, ${c.tcpChecksumGood} checksums good; ${c.tcpTruncated} truncated, unverifiable)` +
    (Object.keys(c.accepted).length ? `; accepted: ${JSON.stringify(c.accepted)}` : '') +
    (c.tapstack ? `; ${c.tapstack}` : '') +
    (c.problems.length || c.ipChecksumNotGood.length || c.tcpChecksumNotGood.length ? `; capture kept: ${c.pcap}` : '')
  );
}
