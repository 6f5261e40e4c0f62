/**
 * tapstack against the Linux kernel over a veth pair, in one run: bulk (iperf3), parallel
 * streams, HTTP (wrk against Node's http), ping idle and with many idle connections, CPU per
 * GiB and resident memory. Started by scripts/bench, which installs and builds what it needs;
 * see there for the options.
 *
 * Every case alternates tapstack and the kernel run by run (A B A B) with warm processes, and
 * reports medians, the spread between runs ((max - min) / median) and the ratio
 * tapstack/kernel of the medians.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cpuSeconds, hardFileLimit, largestAnonResident, residentBytes, Sandbox, type Proc } from './procs.js';
import { median, percentile, series, type Series } from './stats.js';
import { iperf3, KERNEL_CC, ping, wrk } from './tools.js';
import { renderMarkdown } from './report.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const KERNEL_SERVER = path.join(HERE, 'kernel-server.js');
const HOLD_CONNECTIONS = path.join(ROOT, 'scripts/lib/hold-connections.mjs');
/**
 * Responders to ARP and ping on a TAP of their own, pinged right after tapstack: the floors under
 * its ping figure (bench/floor/tap-echo.c and tap-echo.ts say why). The C one is what any process
 * answering over TAP pays here; the Node one what a JavaScript process woken as tapstack is pays.
 */
const FLOORS = [
  { id: 'c', series: 'C TAP responder, us', what: 'the C TAP responder', host: '198.18.188.1', addr: '198.18.188.2' },
  { id: 'node', series: 'Node TAP responder, us', what: 'the Node TAP responder', host: '198.18.190.1', addr: '198.18.190.2' },
] as const;
type FloorSpec = (typeof FLOORS)[number];
/** A running responder (`dir`: where the C one was built). */
interface Floor {
  spec: FloorSpec;
  ns: string;
  proc: Proc;
  dir: string | null;
}
/**
 * The untimed pings before each ping case. V8 optimizes a function once it has run enough (its
 * tiering budget), and a ping runs the ICMP path once: after 500 pings tapstack still answered
 * from unoptimized code, 310-500 us median at 10 ms apart, against 172-220 after 5,000 and no
 * lower after 20,000 (docs/PERFORMANCE.md section 1). A long-running stack is in the second state.
 * 1.1 ms apart: faster would pass tapstack's echo reply limit (1,000 a second), and the requests
 * over it would be dropped and counted before they reach the reply's half of the path.
 */
const PING_WARMUP = { count: 5000, intervalS: 0.0011 };
const FLOOR_C_SOURCE = path.join(ROOT, 'bench/floor/tap-echo.c');
const FLOOR_NODE = path.join(HERE, 'floor/tap-echo.js');
const GiB = 2 ** 30;

const SECTIONS = ['bulk', 'streams', 'http', 'ping'] as const;
type Section = (typeof SECTIONS)[number];

export interface Options {
  quick: boolean;
  runs: number;
  seconds: number;
  warmup: number;
  httpSeconds: number;
  httpConnections: number;
  pings: number;
  idle: number;
  streams: number[];
  sections: Section[];
  out: string;
}

const USAGE = `Usage: scripts/bench [options]
  --quick             1 run each, 1 s transfers, 1,000 idle connections, no warm-up: a check
                      that every case runs (written to bench/results/quick.*)
  --runs N            runs of each case and side (default 3)
  --seconds S         iperf3 -t of each bulk and streams run (default 3)
  --warmup S          an untimed run of S seconds per side before each case (default 1; ping
                      cases: 5,000 pings 1.1 ms apart instead; 0: no warm-up)
  --http-seconds S    wrk -d of each HTTP run (default 3)
  --connections N     wrk -c (default 50)
  --pings N           pings per ping run, 10 ms apart (default 300)
  --idle N            idle connections for the ping and memory case (default 10000)
  --streams LIST      parallel streams cases (default 4,100)
  --only LIST         sections to run: bulk,streams,http,ping (default all)
  --out PATH          results as PATH.md and PATH.json (default bench/results/latest)
`;

function options(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      runs: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'http-seconds': { type: 'string' },
      connections: { type: 'string' },
      pings: { type: 'string' },
      idle: { type: 'string' },
      streams: { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = v.quick ?? false;
  const num = (name: string, text: string | undefined, dflt: number, min: number) => {
    if (text === undefined) return dflt;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} takes a number >= ${min}, not ${JSON.stringify(text)}`);
    return n;
  };
  const sections = (v.only ?? SECTIONS.join(',')).split(',') as Section[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`--only takes ${SECTIONS.join(',')}, not ${JSON.stringify(s)}`);
  return {
    quick,
    runs: Math.round(num('runs', v.runs, quick ? 1 : 3, 1)),
    seconds: num('seconds', v.seconds, quick ? 1 : 3, 1),
    warmup: num('warmup', v.warmup, quick ? 0 : 1, 0),
    httpSeconds: num('http-seconds', v['http-seconds'], quick ? 1 : 3, 1),
    httpConnections: Math.round(num('connections', v.connections, 50, 1)),
    pings: Math.round(num('pings', v.pings, quick ? 50 : 300, 1)),
    idle: Math.round(num('idle', v.idle, quick ? 1000 : 10000, 0)),
    streams: (v.streams ?? '4,100').split(',').map((s) => Math.round(num('streams', s, 0, 2))),
    sections,
    out: v.out ?? path.join(ROOT, 'bench/results', quick ? 'quick' : 'latest'),
  };
}

/** One row of the results: a quantity measured on tapstack and on the kernel, run by run. */
export interface Case {
  id: string;
  section: Section;
  title: string;
  /** Unit of tapstack/kernel values, as printed. */
  unit: string;
  tapstack: Series;
  kernel: Series;
  /** Median tapstack / median kernel. */
  ratio: number;
  /** Further per-run figures (tapstack CPU per GiB, retransmissions, server CPU per request, ...). */
  extra: Record<string, Series>;
  notes: string[];
  errors: string[];
}

function newCase(id: string, section: Section, title: string, unit: string): Case {
  return { id, section, title, unit, tapstack: series([]), kernel: series([]), ratio: NaN, extra: {}, notes: [], errors: [] };
}

/** Raw per-run values, turned into series when the case ends. */
class Recorder {
  readonly t: number[] = [];
  readonly k: number[] = [];
  readonly extra = new Map<string, number[]>();
  add(name: string, x: number): void {
    if (!this.extra.has(name)) this.extra.set(name, []);
    this.extra.get(name)!.push(x);
  }
  finish(c: Case): Case {
    c.tapstack = series(this.t);
    c.kernel = series(this.k);
    c.ratio = c.tapstack.median / c.kernel.median;
    for (const [k, v] of this.extra) c.extra[k] = series(v);
    return c;
  }
}

/**
 * Runs of a case, tapstack and kernel alternating. A side that fails is recorded and not run
 * again in this case (a hung server would cost a timeout per run).
 */
async function alternate(c: Case, runs: number, tapstack: (rec: Recorder) => Promise<number>, kernel: (rec: Recorder) => Promise<number>): Promise<Case> {
  const rec = new Recorder();
  const failed = { t: false, k: false };
  for (let i = 0; i < runs; i++) {
    for (const side of ['t', 'k'] as const) {
      if (failed[side]) continue;
      try {
        rec[side].push(await (side === 't' ? tapstack : kernel)(rec));
      } catch (e) {
        failed[side] = true;
        c.errors.push(`${side === 't' ? 'tapstack' : 'kernel'}: ${(e as Error).message.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
  }
  rec.finish(c);
  log(`  ${c.title}: tapstack ${fmt(c.tapstack.median)} ${c.unit}, kernel ${fmt(c.kernel.median)} ${c.unit}, ratio ${fmt(c.ratio, 2)}${c.errors.length ? ` (${c.errors.length} error)` : ''}`);
  return c;
}

function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '-';
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(digits);
}

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

/** One link configuration: the TAP for tapstack, and the veth pair of the kernel reference. */
interface Link {
  name: string;
  mtu: number;
  offload: boolean;
}

const LINKS: Link[] = [
  { name: 'MTU 1500, no offloads', mtu: 1500, offload: false },
  { name: 'MTU 1500, offloads', mtu: 1500, offload: true },
  { name: 'MTU 9000, offloads', mtu: 9000, offload: true },
  { name: 'MTU 65521, offloads', mtu: 65521, offload: true },
];

/** The kernel reference: iperf3 -s and the Node server in K2 behind a veth pair from K1. */
const K1_ADDR = '198.18.189.1';
const K2_ADDR = '198.18.189.2';
/** Features turned off on both veth ends for the "no offloads" reference. */
const VETH_OFFLOADS = ['tx', 'rx', 'sg', 'tso', 'gso', 'gro'];

interface Tapstack {
  ns: string;
  /** The kernel's address on the TAP, and tapstack's. */
  host: string;
  addr: string;
  proc: Proc;
  upLine: string;
}

/** How long the idle connections' memory is watched for V8 giving back its young generation. */
const SETTLE_LIMIT_S = 60;

/**
 * The resident memory of an idle process once V8 has shrunk its heap. Opening thousands of
 * connections grows V8's young generation to its largest (each semi-space 16 MiB on Node 20:
 * everything allocated then survives), and V8 gives it back only when its memory reducer runs,
 * some 10-30 s into the quiet (measured: 126 MiB at 1 s, 99 MiB from 25 s on, with the young
 * generation at 0.3 MiB physical instead of 29). Read every second until the memory fell by a
 * tenth below `early` and held still for 3 s, or for at most SETTLE_LIMIT_S.
 */
async function settledResident(pid: number, early: number): Promise<{ rss: number; fell: boolean }> {
  let last = residentBytes(pid);
  let still = 0;
  for (let s = 0; s < SETTLE_LIMIT_S; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = residentBytes(pid);
    still = Math.abs(now - last) < 2 ** 20 ? still + 1 : 0;
    last = now;
    if (now < early * 0.9 && still >= 3) return { rss: now, fell: true };
  }
  return { rss: last, fell: false };
}

class Bench {
  readonly sb: Sandbox;
  readonly cases: Case[] = [];
  readonly notes: string[] = [];
  readonly info: Record<string, unknown> = {};
  k1 = '';
  k2 = '';
  kernelServer: Proc | null = null;
  vethFeatures = '';
  readonly hasIperf3: boolean;
  /** What iperf3 reported of the senders' congestion control, with the number of runs. */
  readonly ccSeen = new Map<string, number>();
  private tapstacks = 0;
  /** The responders that started, while the ping cases run. */
  private floors: Floor[] = [];

  constructor(readonly o: Options) {
    this.sb = new Sandbox(process.env.BENCH_TAG ?? String(process.pid));
    this.hasIperf3 = /iperf3:/.test(execFileSync('node', [CLI, '--help']).toString());
  }

  async setUpKernel(): Promise<void> {
    this.k1 = this.sb.createNamespace('k1');
    this.k2 = this.sb.createNamespace('k2');
    await this.clientSysctls(this.k1);
    await this.veth(LINKS[1]!);
    const nofile = hardFileLimit();
    this.kernelServer = this.sb.start(this.k2, 'node', [KERNEL_SERVER, '80', '9'], { nofile });
    await this.kernelServer.waitFor(/^listening$/m, 15_000, 'kernel server');
    if (this.hasIperf3) {
      const srv = this.sb.start(this.k2, 'iperf3', ['-s', '-p', '5201', '--forceflush']);
      await srv.waitFor(/Server listening/, 15_000, 'iperf3 -s');
    }
  }

  /**
   * The namespace that runs the clients (wrk, ping, iperf3 -c) may reuse its ports in TIME-WAIT
   * and draws them from 1024-65535. Without this, wrk with a connection per request leaves
   * tens of thousands of TIME-WAIT sockets within seconds, and the kernel's search for a free
   * port, not the server, limited the rate (the kernel reference measured 2,500-5,600 req/s
   * with, 8,700-11,000 without it, in one run). Both sides' client namespaces get it.
   */
  async clientSysctls(ns: string): Promise<void> {
    await this.sb.runOk(ns, 'sysctl', ['-qw', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.ip_local_port_range=1024 65535']);
  }

  /** (Re)create the veth pair with the link's MTU and offloads. */
  async veth(link: Link): Promise<void> {
    const { sb, k1, k2 } = this;
    await sb.run(k1, 'ip', ['link', 'del', 'veth0']);
    await sb.runOk(k1, 'ip', ['link', 'add', 'veth0', 'mtu', String(link.mtu), 'type', 'veth', 'peer', 'name', 'veth1', 'mtu', String(link.mtu), 'netns', k2]);
    await sb.runOk(k1, 'ip', ['addr', 'add', `${K1_ADDR}/24`, 'dev', 'veth0']);
    await sb.runOk(k2, 'ip', ['addr', 'add', `${K2_ADDR}/24`, 'dev', 'veth1']);
    await sb.runOk(k1, 'ip', ['link', 'set', 'veth0', 'up']);
    await sb.runOk(k2, 'ip', ['link', 'set', 'veth1', 'up']);
    const features: string[] = [];
    for (const [ns, dev] of [[k1, 'veth0'], [k2, 'veth1']] as const) {
      if (!link.offload) {
        const args = ['-K', dev];
        for (const f of VETH_OFFLOADS) args.push(f, 'off');
        await sb.run(ns, 'ethtool', args);
      }
      const k = await sb.runOk(ns, 'ethtool', ['-k', dev]);
      const on = (name: string) => new RegExp(`^${name}: (on|off)`, 'm').exec(k)?.[1] ?? '?';
      features.push(`${dev}: tx-checksumming ${on('tx-checksumming')}, rx-checksumming ${on('rx-checksumming')}, scatter-gather ${on('scatter-gather')}, tso ${on('tcp-segmentation-offload')}, gso ${on('generic-segmentation-offload')}, gro ${on('generic-receive-offload')}`);
    }
    this.vethFeatures = features.join('; ');
    // Both ends learn each other before the first timed run.
    await sb.run(k1, 'ping', ['-c', '1', '-W', '2', K2_ADDR]);
  }

  /** `tapstack up` in a namespace of its own, on 198.18.19N.0/24. */
  async startTapstack(link: Link): Promise<Tapstack> {
    const n = ++this.tapstacks;
    const ns = this.sb.createNamespace(`t${n}`);
    await this.clientSysctls(ns);
    const host = `198.18.${190 + n}.1`;
    const addr = `198.18.${190 + n}.2`;
    const serve = `${this.hasIperf3 ? 'iperf3:5201,' : ''}http:80,discard:9`;
    const proc = this.sb.start(ns, 'node', [CLI, 'up', '--ifname', 'tap0', '--address', `${addr}/24`, '--host-address', `${host}/24`, '--mtu', String(link.mtu), '--offload', link.offload ? 'on' : 'off', '--serve', serve]);
    const m = await proc.waitFor(/^tapstack up: .*$/m, 20_000, 'tapstack up');
    await this.sb.run(ns, 'ping', ['-c', '1', '-W', '2', addr]);
    return { ns, host, addr, proc, upLine: m[0] };
  }

  /** SIGINT, and the counters it prints then; its namespace goes. */
  async stopTapstack(t: Tapstack): Promise<Record<string, number>> {
    const r = await t.proc.stop('SIGINT');
    this.sb.deleteNamespace(t.ns);
    const counters: Record<string, number> = {};
    const tail = r.stdout.slice(r.stdout.search(/^tapstack: SIG\w+, stopped$/m));
    for (const m of tail.matchAll(/^([\w.-]+) (\d+)$/gm)) counters[m[1]!] = Number(m[2]);
    // The zero-copy lines: `flipped N bytes (...)`, `sent by reference N bytes`, ...
    for (const m of tail.matchAll(/^(flipped|copied|sent by reference|sent copied) (\d+) bytes/gm)) counters[`zeroCopy.${m[1]!.replace(/ /g, '-')}`] = Number(m[2]);
    return counters;
  }

  // ---- bulk and streams ----

  async bulk(link: Link, t: Tapstack, parallel: number, section: Section): Promise<void> {
    for (const reverse of [false, true]) {
      const dir = reverse ? 'tapstack -> kernel' : 'kernel -> tapstack';
      const title = parallel > 1 ? `${parallel} streams, ${dir} (${link.name})` : `bulk ${link.name}, ${dir}`;
      const id = `${section}-${parallel > 1 ? `p${parallel}` : `mtu${link.mtu}-${link.offload ? 'offload' : 'nooffload'}`}-${reverse ? 'tk' : 'kt'}`;
      const c = newCase(id, section, title, 'Gbit/s');
      const o = { reverse, parallel, seconds: this.o.seconds };
      if (this.o.warmup > 0) {
        // JIT and windows warm: an untimed run of each side.
        await iperf3(this.sb, t.ns, t.addr, { ...o, seconds: this.o.warmup }).catch(() => {});
        await iperf3(this.sb, this.k1, K2_ADDR, { ...o, seconds: this.o.warmup }).catch(() => {});
      }
      const cc = (what: string) => this.ccSeen.set(what, (this.ccSeen.get(what) ?? 0) + 1);
      await alternate(
        c,
        this.o.runs,
        async (rec) => {
          const c0 = cpuSeconds(t.proc.pid);
          const r = await iperf3(this.sb, t.ns, t.addr, o);
          const c1 = cpuSeconds(t.proc.pid);
          const gib = r.bytes / GiB;
          rec.add('tapstack user s/GiB', (c1.user - c0.user) / gib);
          rec.add('tapstack system s/GiB', (c1.system - c0.system) / gib);
          if (!reverse) {
            rec.add('kernel sender retransmits', r.retransmits);
            cc(`the kernel sending to tapstack: ${r.senderCc}`);
          }
          return r.bps / 1e9;
        },
        async (rec) => {
          const r = await iperf3(this.sb, this.k1, K2_ADDR, o);
          rec.add('kernel reference retransmits', r.retransmits);
          cc(`the kernel reference: sender ${r.senderCc}, receiver ${r.receiverCc}`);
          return r.bps / 1e9;
        },
      );
      this.cases.push(c);
    }
  }

  // ---- HTTP ----

  async http(t: Tapstack): Promise<void> {
    for (const close of [false, true]) {
      const c = newCase(`http-${close ? 'close' : 'keepalive'}`, 'http', `HTTP, ${close ? 'a connection per request' : 'keep-alive'} (wrk -c ${this.o.httpConnections})`, 'req/s');
      const w = { seconds: this.o.httpSeconds, connections: this.o.httpConnections, close };
      const kernelPid = this.kernelServer!.pid;
      if (this.o.warmup > 0) {
        await wrk(this.sb, t.ns, `http://${t.addr}/`, { ...w, seconds: this.o.warmup }).catch(() => {});
        await wrk(this.sb, this.k1, `http://${K2_ADDR}/`, { ...w, seconds: this.o.warmup }).catch(() => {});
      }
      const side = async (rec: Recorder, who: 'tapstack' | 'kernel', ns: string, url: string, pid: number) => {
        const c0 = cpuSeconds(pid);
        const r = await wrk(this.sb, ns, url, w);
        const c1 = cpuSeconds(pid);
        rec.add(`${who} server CPU us/request`, ((c1.user + c1.system - c0.user - c0.system) / r.requests) * 1e6);
        rec.add(`${who} p99 latency ms`, r.p99Ms);
        rec.add(`${who} errors`, r.errors);
        return r.rps;
      };
      await alternate(
        c,
        this.o.runs,
        (rec) => side(rec, 'tapstack', t.ns, `http://${t.addr}/`, t.proc.pid),
        (rec) => side(rec, 'kernel', this.k1, `http://${K2_ADDR}/`, kernelPid),
      );
      this.cases.push(c);
    }
  }

  // ---- ping, idle connections, memory ----

  async pingCase(t: Tapstack, label: string, id: string): Promise<void> {
    const p99 = new Recorder();
    const c = newCase(`ping-${id}`, 'ping', `ping median, ${label}`, 'us');
    const cp = newCase(`ping-p99-${id}`, 'ping', `ping p99, ${label}`, 'us');
    const n = this.o.pings;
    const interval = 0.01;
    if (this.o.warmup > 0) {
      // Untimed pings first, to every side: a fresh process answers slower until V8 has
      // optimized the path (PING_WARMUP).
      const { count, intervalS } = PING_WARMUP;
      await ping(this.sb, t.ns, t.addr, count, intervalS).catch(() => {});
      await ping(this.sb, this.k1, K2_ADDR, count, intervalS).catch(() => {});
      for (const f of this.floors) await ping(this.sb, f.ns, f.spec.addr, count, intervalS).catch(() => {});
    }
    await alternate(
      c,
      this.o.runs,
      async (rec) => {
        const c0 = cpuSeconds(t.proc.pid);
        const t0 = performance.now();
        const r = await ping(this.sb, t.ns, t.addr, n, interval);
        const c1 = cpuSeconds(t.proc.pid);
        rec.add('tapstack CPU % while pinged', ((c1.user + c1.system - c0.user - c0.system) / ((performance.now() - t0) / 1000)) * 100);
        rec.add('tapstack lost', r.lost);
        p99.t.push(percentile(r.rttsUs, 99));
        // Right after tapstack's run, in the same way: the floors under this run's figure.
        for (const f of this.floors) {
          const r = await ping(this.sb, f.ns, f.spec.addr, n, interval);
          rec.add(f.spec.series, median(r.rttsUs));
          p99.add(f.spec.series, percentile(r.rttsUs, 99));
        }
        return median(r.rttsUs);
      },
      async (rec) => {
        const r = await ping(this.sb, this.k1, K2_ADDR, n, interval);
        rec.add('kernel lost', r.lost);
        p99.k.push(percentile(r.rttsUs, 99));
        return median(r.rttsUs);
      },
    );
    p99.finish(cp);
    this.cases.push(c, cp);
  }

  /**
   * Start the responders in namespaces of their own on 198.18.188.0/24 (C) and 198.18.190.0/24
   * (Node). The C one is built first if there is a C compiler (tapstack itself needs none:
   * without one its row is left out); one that does not start is noted, and the case goes on.
   */
  async startFloors(): Promise<void> {
    for (const spec of FLOORS) {
      let floor: Floor | null = null;
      let built: string | null = null;
      try {
        const cmd = this.floorCommand(spec);
        built = cmd?.dir ?? null;
        if (!cmd) {
          this.notes.push(`no C compiler (cc): ${spec.what}, the floor of the ping figures, was not measured`);
          continue;
        }
        const ns = this.sb.createNamespace(`floor${spec.id}`);
        floor = { spec, ns, proc: this.sb.start(ns, cmd.argv0, cmd.argv), dir: cmd.dir };
        this.floors.push(floor);
        await floor.proc.waitFor(/^ready$/m, 10_000, spec.what);
        execFileSync('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${spec.host}/24`, 'dev', 'tap0']);
        execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tap0', 'up']);
        await this.sb.run(ns, 'ping', ['-c', '1', '-W', '2', spec.addr]);
      } catch (e) {
        this.notes.push(`${spec.what} did not start (${(e as Error).message.split('\n')[0]}): that floor of the ping figures was not measured`);
        if (floor) await this.stopFloor(floor).catch(() => {});
        else if (built) rmSync(built, { recursive: true, force: true });
      }
    }
  }

  /** How to run `spec`'s responder (the C one built into a directory of its own); null: no C compiler. */
  private floorCommand(spec: FloorSpec): { argv0: string; argv: string[]; dir: string | null } | null {
    if (spec.id === 'node') return { argv0: 'node', argv: [FLOOR_NODE, 'tap0', spec.addr], dir: null };
    const cc = ['cc', 'gcc', 'clang'].find((c) => {
      try {
        execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (!cc) return null;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tapstack-bench-floor-'));
    const bin = path.join(dir, 'tap-echo');
    try {
      execFileSync(cc, ['-O2', '-o', bin, FLOOR_C_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return { argv0: bin, argv: ['tap0', spec.addr], dir };
  }

  async stopFloors(): Promise<void> {
    for (const f of [...this.floors]) await this.stopFloor(f);
  }

  private async stopFloor(f: Floor): Promise<void> {
    this.floors = this.floors.filter((x) => x !== f);
    await f.proc.stop('SIGTERM', 5_000);
    this.sb.deleteNamespace(f.ns);
    if (f.dir) rmSync(f.dir, { recursive: true, force: true });
  }

  async idle(t: Tapstack): Promise<void> {
    await this.startFloors();
    await this.pingCase(t, 'idle', 'idle');
    let n = this.o.idle;
    const limit = hardFileLimit();
    if (n + 64 > limit) {
      n = limit - 64;
      this.notes.push(`idle connections reduced from ${this.o.idle} to ${n}: the hard limit of open files is ${limit}`);
    }
    const rss0 = residentBytes(t.proc.pid);
    // scripts/lib/hold-connections.mjs (also scripts/bench-idle's): a line with a count opens
    // that many, reopening any that fail, and answers `held N lost L`.
    const open = async (ns: string, host: string) => {
      const p = this.sb.start(ns, 'node', [HOLD_CONNECTIONS, host, '9'], { nofile: limit });
      p.child.stdin!.write(`${n}\n`);
      const m = await p.waitFor(/^held (\d+) lost (\d+)$/m, 180_000, `idle connections to ${host}`);
      if (Number(m[2]) > 0) this.notes.push(`idle connections to ${host}: ${m[0]}`);
      return { p, open: Number(m[1]) };
    };
    const started = performance.now();
    const ti = await open(t.ns, t.addr);
    const openSeconds = (performance.now() - started) / 1000;
    const ki = await open(this.k1, K2_ADDR);
    log(`  ${ti.open} idle connections open to tapstack (${openSeconds.toFixed(1)} s), ${ki.open} to the kernel`);
    // Let the handshakes' last ACKs and any timers settle.
    await new Promise((r) => setTimeout(r, 1000));
    const rss1 = residentBytes(t.proc.pid);
    const arena = largestAnonResident(t.proc.pid);
    await this.pingCase(t, `${ti.open} idle connections`, 'idle-conns');
    await this.stopFloors();
    const settled = await settledResident(t.proc.pid, rss1);
    const arenaSettled = largestAnonResident(t.proc.pid);
    const mem = newCase('memory-idle', 'ping', `resident memory with ${ti.open} idle connections`, 'MiB');
    const rec = new Recorder();
    rec.t.push(settled.rss / 2 ** 20);
    rec.add('tapstack RSS before, MiB', rss0 / 2 ** 20);
    rec.add('tapstack RSS 1 s after opening, MiB', rss1 / 2 ** 20);
    rec.add('tapstack RSS 1 s after opening minus the arena, MiB', (rss1 - arena.rss) / 2 ** 20);
    rec.add('seconds after opening until settled', (performance.now() - started) / 1000 - openSeconds);
    rec.add('tapstack RSS minus the arena (page pool), MiB', (settled.rss - arenaSettled.rss) / 2 ** 20);
    rec.add('tapstack arena resident, MiB', arenaSettled.rss / 2 ** 20);
    rec.add('tapstack arena size, MiB', arenaSettled.size / 2 ** 20);
    rec.add('tapstack KiB per connection', ti.open ? (settled.rss - rss0) / 1024 / ti.open : NaN);
    rec.add('seconds to open the connections to tapstack', openSeconds);
    if (!settled.fell) mem.notes.push(`tapstack's resident memory did not fall within ${SETTLE_LIMIT_S} s of the idle pings: the figure is the last reading`);
    rec.finish(mem);
    this.cases.push(mem);
    for (const x of [ti.p, ki.p]) {
      x.child.stdin?.end();
      await x.stop('SIGTERM', 10_000);
    }
  }

  async run(): Promise<void> {
    const o = this.o;
    const t0 = performance.now();
    this.info.loadStart = os.loadavg();
    log(`tapstack bench: ${o.runs} run(s) per side, iperf3 -t ${o.seconds}, wrk -d ${o.httpSeconds}, ${o.pings} pings, ${o.idle} idle connections; kernel sockets with ${KERNEL_CC}`);
    if (!this.hasIperf3 && (o.sections.includes('bulk') || o.sections.includes('streams'))) {
      this.notes.push('bulk and streams not measured: this tapstack has no iperf3 service (tapstack up --serve iperf3:PORT)');
      log(`NOTE: ${this.notes.at(-1)}`);
    }
    await this.setUpKernel();
    const wantBulk = this.hasIperf3 && o.sections.includes('bulk');
    const wantStreams = this.hasIperf3 && o.sections.includes('streams');
    const links: Record<string, string> = {};
    for (const link of LINKS) {
      const main = link.mtu === 1500 && link.offload;
      if (!wantBulk && !(main && (wantStreams || o.sections.includes('http')))) continue;
      log(`== ${link.name}`);
      await this.veth(link);
      const t = await this.startTapstack(link);
      links[link.name] = `tapstack: ${t.upLine.replace(/^tapstack up: /, '')}; veth: ${this.vethFeatures}`;
      if (wantBulk) await this.bulk(link, t, 1, 'bulk');
      if (main && wantStreams) for (const p of o.streams) await this.bulk(link, t, p, 'streams');
      if (main && o.sections.includes('http')) await this.http(t);
      const counters = await this.stopTapstack(t);
      this.info[`counters ${link.name}`] = counters;
    }
    if (o.sections.includes('ping')) {
      log('== ping and idle connections (a fresh tapstack, MTU 1500, offloads)');
      await this.veth(LINKS[1]!);
      const t = await this.startTapstack(LINKS[1]!);
      links['ping and idle connections'] = `tapstack: ${t.upLine.replace(/^tapstack up: /, '')}; veth: ${this.vethFeatures}`;
      await this.idle(t);
      this.info['counters ping and idle'] = await this.stopTapstack(t);
    }
    this.info.links = links;
    if (this.ccSeen.size) this.notes.push(`congestion control as iperf3 reported it: ${[...this.ccSeen].map(([k, n]) => `${k} (${n} runs)`).join('; ')}`);
    this.info.loadEnd = os.loadavg();
    this.info.seconds = (performance.now() - t0) / 1000;
  }
}

function machine(): Record<string, unknown> {
  const first = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().split('\n')[0]!.trim();
    } catch (e) {
      // wrk -v prints its version and exits 1.
      const out = (e as { stdout?: Buffer }).stdout?.toString() ?? '';
      return out.split('\n')[0]!.trim() || '?';
    }
  };
  return {
    cpu: os.cpus()[0]?.model ?? '?',
    cores: os.cpus().length,
    kernel: os.release(),
    node: process.version,
    iperf3: first('iperf3', ['--version']),
    wrk: `wrk ${/wrk (\S+)/.exec(first('wrk', ['-v']))?.[1] ?? '?'}`,
    defaultCongestionControl: first('sysctl', ['-n', 'net.ipv4.tcp_congestion_control']),
    commit: process.env.BENCH_COMMIT ?? '?',
  };
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = options(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const bench = new Bench(o);
  const date = new Date().toISOString();
  try {
    await bench.run();
  } finally {
    bench.sb.cleanupSync();
  }
  const result = { date, machine: machine(), options: { ...o, out: path.relative(ROOT, o.out) }, kernelCongestionControl: KERNEL_CC, info: bench.info, notes: bench.notes, cases: bench.cases };
  const md = renderMarkdown(result);
  mkdirSync(path.dirname(o.out), { recursive: true });
  writeFileSync(`${o.out}.json`, JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  writeFileSync(`${o.out}.md`, md);
  log('');
  process.stdout.write(md);
  log(`\nwritten: ${path.relative(process.cwd(), o.out)}.md and .json`);
}

export type BenchResult = {
  date: string;
  machine: Record<string, unknown>;
  options: Options;
  kernelCongestionControl: string;
  info: Record<string, unknown>;
  notes: string[];
  cases: Case[];
};

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
