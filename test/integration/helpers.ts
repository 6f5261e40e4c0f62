/**
 * Helpers of the integration tests: tapstack against the real Linux kernel, each test file in
 * network namespaces of its own (`tapstack-it-<what>-<pid>`) on a /24 of its own out of
 * 198.18.0.0/15 (kernel side .1, tapstack .2), so files can run in parallel. Nothing here
 * touches anything outside those namespaces, and every process is stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, writeSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');
export const CRAFT = fileURLToPath(new URL('./craft.py', import.meta.url));
/** Debian's python, which has scapy (python3-scapy); not whatever python3 is first on PATH. */
export const PYTHON = '/usr/bin/python3';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (killed by its PID after `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => undefined); // EPIPE when it exits without reading: fine
      child.stdin!.end(opts.input);
    }
  });
}

/** Like {@link run}, but a non-zero exit is an error that shows the output. */
export async function runOk(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r;
}

// ---- namespaces ----

const NS_NAME = /^tapstack-it-[A-Za-z0-9._-]+$/;

/** A namespace name for this test file and process: `tapstack-it-<tag>-<pid>`. */
export function netnsName(tag: string): string {
  const name = `tapstack-it-${tag}-${process.pid}`;
  if (!NS_NAME.test(name) || name.length > 64) throw new Error(`bad namespace name ${name}`);
  return name;
}

async function netnsExists(name: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

/**
 * Create namespace `name` (deleting a leftover of the same name), with lo up and the IPv4
 * defaults the tests rely on: the kernel does not learn neighbours from gratuitous ARP
 * (arp_accept 0, the kernel default; set explicitly because a new namespace inherits IPv4
 * settings from the host's), unless `arpAccept`.
 */
export async function netnsCreate(name: string, opts: { arpAccept?: boolean } = {}): Promise<void> {
  if (!NS_NAME.test(name)) throw new Error(`refusing namespace name ${name}`);
  await netnsDelete(name);
  await runOk('ip', ['netns', 'add', name]);
  try {
    await runOk('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    // A TAP created later takes `default`; the kernel uses the larger of `all` and the device's.
    for (const k of ['all', 'default']) {
      await runOk('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', `net.ipv4.conf.${k}.arp_accept=${opts.arpAccept ? 1 : 0}`]);
    }
  } catch (e) {
    await netnsDelete(name);
    throw e;
  }
}

/** Delete namespace `name` if it exists (idempotent). Stop the processes you started in it first. */
export async function netnsDelete(name: string): Promise<void> {
  if (!NS_NAME.test(name)) throw new Error(`refusing namespace name ${name}`);
  if (!(await netnsExists(name))) return;
  const r = await run('ip', ['netns', 'del', name]);
  if (r.code !== 0 && (await netnsExists(name))) throw new Error(`ip netns del ${name}: ${r.stderr}`);
}

export interface NamespaceHooks {
  /** netnsCreate's `arpAccept`. */
  arpAccept?: boolean;
  /** A process the tests may leave running (a test that timed out): killed (SIGKILL) first in afterAll. */
  kill?: () => { kill(sig: NodeJS.Signals): void; done: Promise<unknown> } | null;
  /** Then in afterAll: stop what else the tests started in the namespace (it is deleted even if this throws). */
  stop?: () => Promise<unknown>;
  /** Last thing in afterAll, once the namespace is gone (remove a scratch directory). */
  after?: () => void;
}

/**
 * Namespace `netnsName(tag)` for the current describe (or file): created in a beforeAll,
 * deleted in an afterAll. Hooks rather than set-up at collection: a suite a filter skips runs
 * none and leaves nothing behind. Call it before the scope's own beforeAll, which then finds
 * the namespace made (hooks run in order; the afterAll ones in reverse, this one last).
 */
export function useNamespace(tag: string, o: NamespaceHooks = {}): string {
  const ns = netnsName(tag);
  beforeAll(async () => {
    await netnsCreate(ns, { arpAccept: o.arpAccept });
  });
  afterAll(async () => {
    try {
      const p = o.kill?.();
      p?.kill('SIGKILL');
      await p?.done;
      await o.stop?.();
    } finally {
      await netnsDelete(ns);
    }
    o.after?.();
  });
  return ns;
}

/** The tapstack of a {@link useTapstack} scope: its namespace, and `start` for it. */
export interface TapstackScope {
  ns: string;
  /** {@link Tapstack.start} in the scope's namespace; afterAll stops it if it still runs. */
  start(o: Omit<UpOptions, 'ns'>): Promise<Tapstack>;
}

/**
 * {@link useNamespace} for a scope that keeps one tapstack across its tests (started in its
 * beforeAll or in a test): afterAll stops it, if it still runs, after `o.kill` and `o.stop` and
 * before the namespace goes. A stop that fails fails afterAll, unless `ignoreStopError` (a test
 * that timed out may have left it wedged; stop() has killed it by then).
 */
export function useTapstack(tag: string, o: NamespaceHooks & { ignoreStopError?: boolean } = {}): TapstackScope {
  let t: Tapstack | null = null;
  const ns = useNamespace(tag, {
    ...o,
    stop: async () => {
      try {
        await o.stop?.();
      } finally {
        if (t?.running) await (o.ignoreStopError ? t.stop().catch(() => undefined) : t.stop());
      }
    },
  });
  return {
    ns,
    start: async (up) => (t = await Tapstack.start({ ...up, ns })),
  };
}

/** Run a command inside the namespace. */
export function nsRun(ns: string, cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

// ---- tapstack ----

export interface Subnet {
  /** The X of 198.18.X.0/24. */
  x: number;
  host: string;
  tapstack: string;
}

/** 198.18.X.0/24: kernel side 198.18.X.1, tapstack 198.18.X.2. X in 0..255 (198.18.0.0/15 holds 512). */
export function subnet(x: number): Subnet {
  if (!Number.isInteger(x) || x < 0 || x > 255) throw new Error(`subnet ${x}`);
  return { x, host: `198.18.${x}.1`, tapstack: `198.18.${x}.2` };
}

/** The {@link Subnet} of a tapstack/testing network on a /24, for the capture checks that take one. */
export function subnetOf(net: { address: string; hostAddress: string; prefixLength: number }): Subnet {
  if (net.prefixLength !== 24) throw new Error(`subnetOf: ${net.address}/${net.prefixLength} is not a /24`);
  return { x: Number(net.address.split('.')[2]), host: net.hostAddress, tapstack: net.address };
}

export interface UpOptions {
  ns: string;
  net: Subnet;
  ifname?: string;
  offload?: 'on' | 'off';
  mtu?: number;
  pcap?: string;
  /** Extra options after the usual ones. */
  extra?: string[];
  /** Run as another user (uid:gid) through setpriv. */
  asUser?: { uid: number; gid: number };
  /**
   * Words run before `node` (after asUser's setpriv, if any), e.g. `setpriv --bounding-set ...`:
   * each must exec the next, so the PID stays tapstack's.
   */
  wrap?: string[];
}

export interface Stopped {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  counters: Counters;
}

export type Counters = Record<string, number>;

export class Tapstack {
  /** The MAC tapstack printed in its `tapstack up:` line. */
  mac = '';
  upLine = '';
  stdout = '';
  stderr = '';
  private exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitState: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  private constructor(
    readonly child: ChildProcess,
    readonly opts: UpOptions,
  ) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exitState = { code, signal };
        resolve(this.exitState);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitState === null;
  }

  /** The arguments of `tapstack up` for these options. */
  static args(o: UpOptions): string[] {
    const a = ['up', '--ifname', o.ifname ?? 'tap0', '--address', `${o.net.tapstack}/24`, '--host-address', `${o.net.host}/24`];
    if (o.offload) a.push('--offload', o.offload);
    if (o.mtu !== undefined) a.push('--mtu', String(o.mtu));
    if (o.pcap) a.push('--pcap', o.pcap);
    if (o.extra) a.push(...o.extra);
    return a;
  }

  /**
   * Start `tapstack up` in the namespace. `ip netns exec` execs the command in place, so the
   * child's PID is node's: signals go straight to tapstack.
   */
  static spawn(o: UpOptions): Tapstack {
    const cmd = ['node', CLI, ...Tapstack.args(o)];
    const prefix = [...(o.asUser ? ['setpriv', `--reuid=${o.asUser.uid}`, `--regid=${o.asUser.gid}`, '--clear-groups'] : []), ...(o.wrap ?? [])];
    const child = spawn('ip', ['netns', 'exec', o.ns, ...prefix, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Tapstack(child, o);
  }

  /** Start tapstack and wait for its `tapstack up:` line (which gives its MAC). */
  static async start(o: UpOptions, timeoutMs = 20_000): Promise<Tapstack> {
    const t = Tapstack.spawn(o);
    try {
      await t.waitUp(timeoutMs);
    } catch (e) {
      await t.stop().catch(() => undefined);
      throw e;
    }
    return t;
  }

  private waitUp(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const deadline = setTimeout(() => done(new Error(`tapstack did not print "tapstack up:" in ${timeoutMs} ms\n${this.stdout}${this.stderr}`)), timeoutMs);
      const check = () => {
        const line = this.stdout.split('\n').find((l) => l.startsWith('tapstack up:'));
        if (line !== undefined && this.stdout.includes(line + '\n')) {
          const m = / mac ((?:[0-9a-f]{2}:){5}[0-9a-f]{2}) /.exec(line);
          if (!m) return done(new Error(`no MAC in ${JSON.stringify(line)}`));
          this.upLine = line;
          this.mac = m[1]!;
          return done(null);
        }
      };
      const onData = () => check();
      const onClose = () => done(new Error(`tapstack exited before it was up (${this.exitState?.code ?? this.exitState?.signal})\n${this.stdout}${this.stderr}`));
      const done = (err: Error | null) => {
        clearTimeout(deadline);
        this.child.stdout!.off('data', onData);
        this.child.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      this.child.stdout!.on('data', onData);
      this.child.on('close', onClose);
      check();
    });
  }

  /** Wait for it to exit by itself. */
  async exit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`tapstack (pid ${this.pid}) did not exit in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stop it with SIGINT and parse the counters it prints. If it does not exit within
   * `timeoutMs` it is killed (SIGKILL, by PID) and an error is thrown. Safe to call twice.
   */
  async stop(timeoutMs = 20_000): Promise<Stopped> {
    if (this.running) process.kill(this.pid, 'SIGINT');
    let st;
    try {
      st = await this.exit(timeoutMs);
    } catch (e) {
      if (this.running) process.kill(this.pid, 'SIGKILL');
      await this.exited;
      throw e;
    }
    return { ...st, stdout: this.stdout, stderr: this.stderr, counters: parseCounters(this.stdout) };
  }
}

/**
 * The counters tapstack prints at exit: the `name value` lines after `tapstack: SIGINT, stopped`
 * (or after the first line matching `after`: `tapstack connect` with TAPSTACK_COUNTERS=1 prints
 * them on stderr after `tapstack: connection closed`). Counters it leaves out are zero: read them
 * with {@link counter}. Zero-copy lines also give `zc.flipped-pages` and `zc.completions-with-a-copy`.
 */
export function parseCounters(stdout: string, after: RegExp = /^tapstack: SIG[A-Z]+, stopped$/): Counters {
  const lines = stdout.split('\n');
  const at = lines.findIndex((l) => after.test(l));
  if (at < 0) throw new Error(`no line matching ${after} (as "tapstack: SIG..., stopped") in tapstack's output:\n${stdout}`);
  const out: Counters = {};
  for (const l of lines.slice(at + 1)) {
    if (l === '') continue;
    const m = /^(\S+) (\d+)$/.exec(l);
    if (m) {
      out[m[1]!] = Number(m[2]);
      continue;
    }
    // Zero-copy lines, the byte count first: "flipped N bytes (P pages)",
    // "copied N bytes (reason n, ...)", "sent by reference N bytes", "sent copied N bytes (...)",
    // "lent N pages, returned N pages", "completions N (M with a copy)".
    const z = /^(flipped|copied|sent by reference|sent copied|lent|completions) (\d+)\b(.*)$/.exec(l);
    if (!z) throw new Error(`counter line ${JSON.stringify(l)} is not "name value" nor a zero-copy line`);
    const key = `zc.${z[1]!.replace(/ /g, '-')}`;
    out[key] = Number(z[2]);
    const rest = z[3]!;
    for (const r of rest.matchAll(/([a-z-]+) (\d+)/g)) out[`${key}.${r[1]}`] = Number(r[2]);
    const ret = /returned (\d+) pages/.exec(rest);
    if (ret) out['zc.returned'] = Number(ret[1]);
    const pages = /^ bytes \((\d+) pages\)/.exec(rest);
    if (pages) out[`${key}-pages`] = Number(pages[1]);
    const withCopy = /\((\d+) with a copy\)/.exec(rest);
    if (withCopy) out[`${key}-with-a-copy`] = Number(withCopy[1]);
  }
  if (!('iface.rxFrames' in out)) throw new Error(`no iface.rxFrames among the counters:\n${stdout}`);
  return out;
}

export function counter(c: Counters, name: string): number {
  return c[name] ?? 0;
}

/** The drop counters (`drop.*`) that are not zero. */
export function drops(c: Counters): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(c)) if (k.startsWith('drop.') && v !== 0) out[k] = v;
  return out;
}

/** Poll `check` every 100 ms until it returns non-null, or give up after `timeoutMs` (null). */
export async function poll<T>(check: () => Promise<T | null>, timeoutMs: number): Promise<T | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== null || Date.now() >= end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- kernel-side tools ----

export interface PingResult extends RunResult {
  transmitted: number;
  received: number;
}

/** `ping` from the kernel's side of the namespace. */
/** ping in the namespace; a reply may wait up to `waitS` (default 10 s: the machine runs other tests at the same time). */
export async function ping(
  ns: string,
  dst: string,
  o: { count: number; size?: number; interval?: number; waitS?: number; dontFragment?: boolean },
): Promise<PingResult> {
  const args = ['-n', '-q', '-c', String(o.count), '-i', String(o.interval ?? 0.05), '-W', String(o.waitS ?? 10)];
  if (o.size !== undefined) args.push('-s', String(o.size));
  if (o.dontFragment) args.push('-M', 'do');
  args.push(dst);
  const r = await nsRun(ns, 'ping', args, { timeoutMs: 60_000 + o.count * 3000 });
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!m) throw new Error(`cannot read ping's summary:\n${r.stdout}${r.stderr}`);
  return { ...r, transmitted: Number(m[1]), received: Number(m[2]) };
}

export interface Neighbour {
  mac: string | null;
  state: string;
  line: string;
}

/** The kernel's neighbour entry for `ip` (null if it has none). */
export async function neighbour(ns: string, ip: string): Promise<Neighbour | null> {
  const r = await nsRun(ns, 'ip', ['neigh', 'show', ip]);
  const line = r.stdout.split('\n').find((l) => l.startsWith(ip + ' '));
  if (!line) return null;
  const mac = / lladdr (\S+)/.exec(line)?.[1] ?? null;
  const state = line.trim().split(/\s+/).pop()!;
  return { mac, state, line };
}

/** The MAC of `ifname` in the namespace (the kernel's side of the TAP). */
export async function linkMac(ns: string, ifname: string): Promise<string> {
  const r = await nsRun(ns, 'cat', [`/sys/class/net/${ifname}/address`]);
  if (r.code !== 0) throw new Error(`no ${ifname} in ${ns}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Run `test/integration/craft.py` (scapy) in the namespace: it sends frames on the TAP. */
export async function craft(ns: string, args: string[]): Promise<RunResult> {
  return runOk('ip', ['netns', 'exec', ns, PYTHON, CRAFT, ...args], { timeoutMs: 60_000 });
}

// ---- captures ----

/** tshark's lines (stderr's "Running as user root" warning ignored), empty lines dropped. */
export async function tshark(pcap: string, args: string[]): Promise<string[]> {
  const r = await run('tshark', ['-r', pcap, ...args], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`tshark -r ${pcap} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim() !== '');
}

/**
 * docs/ARCHITECTURE.md section 9's check: malformed frames and checksum warnings, one line each (tshark
 * exits 0 either way). `fields` replaces the summary line by those fields.
 */
export function tsharkProblems(pcap: string, fields: string[] = []): Promise<string[]> {
  const f = fields.length ? ['-T', 'fields', ...fields.flatMap((x) => ['-e', x])] : [];
  return tshark(pcap, [
    '-o', 'ip.check_checksum:TRUE',
    '-o', 'tcp.check_checksum:TRUE',
    '-o', 'udp.check_checksum:TRUE',
    '-Y', '_ws.malformed || _ws.expert.severity >= "warning"',
    ...f,
  ]);
}

/** Number of frames matching a display filter. */
export async function tsharkCount(pcap: string, filter: string, opts: { defragment?: boolean } = {}): Promise<number> {
  const lines = await tshark(pcap, ['-o', `ip.defragment:${opts.defragment === false ? 'FALSE' : 'TRUE'}`, '-Y', filter, '-T', 'fields', '-e', 'frame.number']);
  return lines.length;
}

/** One ICMP message as tshark sees it after IPv4 reassembly. */
export interface IcmpSeen {
  frame: number;
  src: string;
  dst: string;
  type: number;
  ident: number;
  seq: number;
  /** Length of the ICMP message (reassembled if it came in fragments). */
  icmpLength: number;
  /** Number of IPv4 fragments it came in (1: not fragmented). */
  fragments: number;
}

/** Every ICMP message in the capture, reassembled. */
export async function icmpMessages(pcap: string): Promise<IcmpSeen[]> {
  const lines = await tshark(pcap, [
    '-o', 'ip.defragment:TRUE',
    '-Y', 'icmp',
    '-T', 'fields', '-E', 'occurrence=f',
    '-e', 'frame.number', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'icmp.ident', '-e', 'icmp.seq',
    '-e', 'ip.len', '-e', 'ip.hdr_len', '-e', 'ip.reassembled.length', '-e', 'ip.fragment.count',
  ]);
  return lines.map((l) => {
    const [frame, src, dst, type, ident, seq, ipLen, hdrLen, reLen, fragCount] = l.split('\t');
    const reassembled = reLen !== undefined && reLen !== '';
    return {
      frame: Number(frame),
      src: src!,
      dst: dst!,
      type: Number(type),
      ident: Number(ident),
      seq: Number(seq),
      icmpLength: reassembled ? Number(reLen) : Number(ipLen) - Number(hdrLen),
      fragments: reassembled ? Number(fragCount) : 1,
    };
  });
}

/** One IPv4 frame (fragment or whole datagram) as it was on the wire, no reassembly. */
export interface Ipv4FrameSeen {
  frame: number;
  src: string;
  dst: string;
  totalLength: number;
  moreFragments: boolean;
  /** The Fragment Offset field as tshark prints it (non-zero for every fragment but the first). */
  fragmentOffset: number;
}

export async function ipv4Frames(pcap: string): Promise<Ipv4FrameSeen[]> {
  const lines = await tshark(pcap, [
    '-o', 'ip.defragment:FALSE',
    '-Y', 'ip',
    '-T', 'fields', '-E', 'occurrence=f',
    '-e', 'frame.number', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.len', '-e', 'ip.flags.mf', '-e', 'ip.frag_offset',
  ]);
  return lines.map((l) => {
    const [frame, src, dst, len, mf, off] = l.split('\t');
    return {
      frame: Number(frame),
      src: src!,
      dst: dst!,
      totalLength: Number(len),
      moreFragments: mf === '1' || mf === 'True',
      fragmentOffset: Number(off),
    };
  });
}

// ---- files ----

/** Whether a frame is a fragment (MF set or an offset). */
export function isFragment(f: Ipv4FrameSeen): boolean {
  return f.moreFragments || f.fragmentOffset !== 0;
}

/** A scratch directory under /tmp, removed by the returned function. */
export function scratchDir(tag: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `tapstack-it-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function requireBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build (test/integration/global-setup.ts does it)`);
}

// ---- bulk transfers (zero-copy tests) ----

export interface HashedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** sha256 (hex) of everything the process wrote to stdout. */
  sha256: string;
  /** Bytes it wrote to stdout. */
  bytes: number;
  stderr: string;
  timedOut: boolean;
  /** When its first and last bytes on stdout arrived, in ms after the spawn (undefined: none). */
  firstByteMs?: number;
  lastByteMs?: number;
}

export interface HashedProcess {
  readonly pid: number;
  readonly done: Promise<HashedRun>;
  /** Signal it by PID if it still runs. */
  kill(sig?: NodeJS.Signals): void;
}

/**
 * Start `cmd args` in the namespace (`ip netns exec` execs in place: the PID is the command's)
 * with stdin from `o.stdin` (a file; default /dev/null) and its stdout hashed here (sha256 and
 * byte count) instead of kept. Killed with SIGKILL, by PID, after `o.timeoutMs`.
 */
export function nsSpawnHashed(ns: string, cmd: string, args: string[], o: { stdin?: string; env?: Record<string, string>; timeoutMs?: number } = {}): HashedProcess {
  const inFd = openSync(o.stdin ?? '/dev/null', 'r');
  let child: ChildProcess;
  try {
    child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: [inFd, 'pipe', 'pipe'], env: o.env ? { ...process.env, ...o.env } : process.env });
  } finally {
    closeSync(inFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot spawn ${cmd}`);
  const hash = createHash('sha256');
  let bytes = 0;
  let stderr = '';
  let timedOut = false;
  let exited = false;
  const t0 = performance.now();
  let firstByteMs: number | undefined;
  let lastByteMs: number | undefined;
  child.stdout!.on('data', (d: Buffer) => {
    const t = performance.now() - t0;
    firstByteMs ??= t;
    lastByteMs = t;
    bytes += d.length;
    hash.update(d);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 1 << 20) stderr += d;
  });
  const kill = (sig: NodeJS.Signals = 'SIGTERM') => {
    if (exited) return;
    try {
      process.kill(pid, sig);
    } catch {
      // exited meanwhile
    }
  };
  // On a timeout SIGTERM first: tapstack then ends its connection and prints its counters
  // (with TAPSTACK_COUNTERS), which say where a stalled transfer stood; SIGKILL if it lingers.
  let lastChance: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    kill('SIGTERM');
    lastChance = setTimeout(() => kill('SIGKILL'), 5_000);
  }, o.timeoutMs ?? 600_000);
  const done = new Promise<HashedRun>((resolve) => {
    child.on('error', (e) => (stderr += String(e)));
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      clearTimeout(lastChance);
      // A process that answered the timeout's SIGTERM by exiting 0 still failed: no exit code.
      if (timedOut) code = null;
      resolve({ code, signal: timedOut ? (signal ?? 'SIGTERM') : signal, sha256: hash.digest('hex'), bytes, stderr, timedOut, firstByteMs, lastByteMs });
    });
  });
  return { pid, done, kill };
}

/** sha256 (hex) and length of a file. */
export function sha256OfFile(file: string): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (d) => {
        bytes += d.length;
        h.update(d as Buffer);
      })
      .on('error', reject)
      .on('end', () => resolve({ sha256: h.digest('hex'), bytes }));
  });
}

/** Write `bytes` random bytes to `file` (1 MiB at a time); returns their sha256 (hex). */
export function writeRandomFile(file: string, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (let left = bytes; left > 0; ) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      h.update(chunk.subarray(0, n));
      for (let off = 0; off < n; ) off += writeSync(fd, chunk, off, n - off);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Wait until something listens on TCP `port` in the namespace (a kernel server a test started). */
export async function waitTcpListening(ns: string, port: number, timeoutMs = 10_000): Promise<void> {
  const ok = await poll(async () => ((await nsRun(ns, 'ss', ['-Hltn', `sport = :${port}`])).stdout.trim() !== '' ? true : null), timeoutMs);
  if (!ok) throw new Error(`nothing listens on TCP port ${port} in ${ns} after ${timeoutMs} ms`);
}

/** Wait until a UDP socket in the namespace is bound to `port` (on `addr`, when given). */
export async function waitUdpListening(ns: string, port: number, addr?: string, timeoutMs = 30_000): Promise<void> {
  const bound = (out: string) => (addr ? out.includes(`${addr}:${port}`) : out.trim() !== '');
  const ok = await poll(async () => (bound((await nsRun(ns, 'ss', ['-Hlun', `sport = :${port}`])).stdout) ? true : null), timeoutMs);
  if (!ok) throw new Error(`nothing is bound to UDP ${addr ?? '*'}:${port} in ${ns} after ${timeoutMs} ms`);
}

/**
 * Wait until the kernel's connections to `peer` in the namespace are finished: none left, or
 * only TIME-WAIT (the kernel closed first and the peer acknowledged everything, FIN included).
 * A kernel sender that exited may still have data in its socket buffer; this waits for it.
 */
export async function waitKernelConnectionsDone(ns: string, peer: string, timeoutMs = 60_000): Promise<void> {
  let last = '';
  const ok = await poll(async () => {
    last = (await nsRun(ns, 'ss', ['-Htan', `dst ${peer}`])).stdout.trim();
    return last.split('\n').every((l) => l === '' || l.startsWith('TIME-WAIT')) ? true : null;
  }, timeoutMs);
  if (!ok) throw new Error(`the kernel's connections to ${peer} in ${ns} did not finish in ${timeoutMs} ms:\n${last}`);
}

// ---- the kernel's TCP counters; transfers through `tapstack connect` (impair-*.test.ts) ----

/**
 * The kernel's TCP counters in the namespace (its own /proc/net/snmp `Tcp:` and
 * /proc/net/netstat `TcpExt:`), e.g. `RetransSegs`, `TCPTimeouts`, `TCPFastRetrans`,
 * `TCPLossProbes`, `TCPSackRecovery`, `TCPDSACKRecv`.
 */
export async function kernelTcpCounters(ns: string): Promise<Counters> {
  const out: Counters = {};
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    const r = await nsRun(ns, 'cat', [file]);
    if (r.code !== 0) throw new Error(`cat ${file} in ${ns}: ${r.stderr}`);
    const lines = r.stdout.split('\n');
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/);
      if (names[0] !== 'Tcp:' && names[0] !== 'TcpExt:') continue;
      for (let k = 1; k < names.length; k++) if (names[k]) out[names[k]!] = Number(values[k]);
    }
  }
  return out;
}

/** `after - before` for every counter of `after`. */
export function counterDelta(before: Counters, after: Counters): Counters {
  const out: Counters = {};
  for (const [k, v] of Object.entries(after)) out[k] = v - (before[k] ?? 0);
  return out;
}

export interface ConnectTransfer {
  /** sha256 and length of what arrived (tapstack's stdout, or the kernel socat's). */
  sha256: string;
  bytes: number;
  /** First to last byte at the receiver, ms (0 when nothing arrived). */
  ms: number;
  /** Spawn of `tapstack connect` to its exit, ms (Node and the stack starting included). */
  wallMs: number;
  /** tapstack's counters (printed by `tapstack connect` with TAPSTACK_COUNTERS=1). */
  counters: Counters;
  /** What the kernel's TCP counters in the namespace did meanwhile. */
  kernel: Counters;
  client: HashedRun;
  server: HashedRun;
}

/**
 * One bulk transfer between `tapstack connect` and a kernel socat in namespace `ns`:
 * `to-kernel`: `tapstack connect HOST PORT < file` into `socat -u TCP-LISTEN:PORT -`;
 * `from-kernel`: `socat -u OPEN:file TCP-LISTEN:PORT` read by `tapstack connect > (hashed)`.
 * `extra` are further options of `tapstack connect` (`--offload`, `--impair`, `--seed`, ...).
 * Both processes are killed (SIGKILL, by PID) after `timeoutMs`.
 */
export async function connectTransfer(o: {
  ns: string;
  net: Subnet;
  port: number;
  direction: 'to-kernel' | 'from-kernel';
  file: string;
  extra?: string[];
  ifname?: string;
  timeoutMs?: number;
}): Promise<ConnectTransfer> {
  const timeoutMs = o.timeoutMs ?? 300_000;
  const before = await kernelTcpCounters(o.ns);
  const server =
    o.direction === 'to-kernel'
      ? nsSpawnHashed(o.ns, 'socat', ['-u', `TCP-LISTEN:${o.port},reuseaddr`, '-'], { timeoutMs })
      : nsSpawnHashed(o.ns, 'socat', ['-u', `OPEN:${o.file}`, `TCP-LISTEN:${o.port},reuseaddr`], { timeoutMs });
  let client: HashedProcess | undefined;
  try {
    await waitTcpListening(o.ns, o.port);
    const t0 = performance.now();
    client = nsSpawnHashed(
      o.ns,
      'node',
      [
        CLI, 'connect', o.net.host, String(o.port),
        '--ifname', o.ifname ?? 'tap0', '--address', `${o.net.tapstack}/24`, '--host-address', `${o.net.host}/24`,
        ...(o.extra ?? []),
      ],
      { stdin: o.direction === 'to-kernel' ? o.file : '/dev/null', env: { TAPSTACK_COUNTERS: '1' }, timeoutMs },
    );
    const [c, s] = await Promise.all([client.done, server.done]);
    const wallMs = performance.now() - t0;
    const after = await kernelTcpCounters(o.ns);
    const rx = o.direction === 'to-kernel' ? s : c;
    let counters: Counters = {};
    try {
      counters = parseCounters(c.stderr, /^tapstack: connection closed$/);
    } catch {
      // no counters: the assertions on the exit code and the bytes say why
    }
    return {
      sha256: rx.sha256,
      bytes: rx.bytes,
      ms: rx.firstByteMs !== undefined ? rx.lastByteMs! - rx.firstByteMs : 0,
      wallMs,
      counters,
      kernel: counterDelta(before, after),
      client: c,
      server: s,
    };
  } finally {
    client?.kill('SIGKILL');
    server.kill('SIGKILL');
  }
}

/** A {@link connectTransfer} ended cleanly, on one connection, and delivered `bytes` with `sha256`. */
export function expectTransferIntact(r: ConnectTransfer, bytes: number, sha256: string): void {
  const why = `client: exit ${r.client.code ?? r.client.signal}${r.client.timedOut ? ' (timeout)' : ''} ${r.client.stderr.slice(0, 3000)}\nserver: exit ${r.server.code ?? r.server.signal} ${r.server.stderr.slice(0, 1000)}`;
  expect(r.client.code, why).toBe(0);
  expect(r.server.code, why).toBe(0);
  expect(r.bytes, why).toBe(bytes);
  expect(r.sha256, why).toBe(sha256);
  expect(counter(r.counters, 'tcp.connectionsEstablished'), why).toBe(1);
}

/** One line on a {@link connectTransfer}: goodput, both ends' retransmissions, faults, drops. */
export function transferSummary(r: ConnectTransfer): string {
  const c = r.counters;
  const k = r.kernel;
  const mbps = r.ms > 0 ? (r.bytes / 1e6 / (r.ms / 1000)).toFixed(1) : '?';
  const imp = Object.entries(c)
    .filter(([n, v]) => n.startsWith('nic.impair') && v > 0)
    .map(([n, v]) => `${n.slice('nic.impair'.length)} ${v}`)
    .join(', ');
  const dropped = Object.entries(c)
    .filter(([n, v]) => n.startsWith('drop.') && v > 0)
    .map(([n, v]) => `${n.slice('drop.'.length)} ${v}`)
    .join(', ');
  return (
    `${(r.bytes / (1 << 20)).toFixed(0)} MiB in ${(r.ms / 1000).toFixed(2)} s = ${mbps} MB/s (wall ${(r.wallMs / 1000).toFixed(2)} s); ` +
    `tapstack retransmits ${counter(c, 'tcp.retransmits')} (fast ${counter(c, 'tcp.fastRetransmits')}, RTO ${counter(c, 'tcp.timeouts')}, ` +
    `D-SACKs received ${counter(c, 'tcp.dsacksReceived')}); kernel RetransSegs ${counter(k, 'RetransSegs')} ` +
    `(fast ${counter(k, 'TCPFastRetrans')}, RTO ${counter(k, 'TCPTimeouts')}, loss probes ${counter(k, 'TCPLossProbes')}); ` +
    `impaired: ${imp || 'none'}; drops: ${dropped || 'none'}`
  );
}
