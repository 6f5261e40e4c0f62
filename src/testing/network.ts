/**
 * A test network: a network namespace `tapstack-t-<pid>-<n>` whose kernel is on one side of a
 * TAP and whose other side is a started tapstack {@link Stack} in the test's own process, so the
 * test listens and connects with tapstack's API while kernel peers (commands run in the
 * namespace) talk to it with real packets.
 *
 * How the TAP gets there: it is opened here, in the test process's namespace, where the stack's
 * file descriptors must be made, and then moved with `ip link set <tap> netns <ns>`. A TAP's
 * file descriptors stay attached to the device across the move (both queues, the SYN-steering
 * program too); only the kernel's side changes namespace. Until the move the TAP is down and has
 * no address, so nothing is ever sent outside the namespace; a process killed before the move
 * takes the TAP with it (it is not persistent: it goes with its last descriptor). The kernel's
 * side is then configured inside the namespace (`ip -n <ns>`), so the stack is opened on the
 * device alone: Stack.open's own host-side set-up works on the caller's namespace, which is not
 * where the device now is.
 *
 * Every test network captures what crosses its TAP into a pcap file, kept when the test failed
 * (its path printed) and deleted when it passed.
 */
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Stack, type StackOptions } from '../stack.js';
import { TapDevice } from '../tap/tap-device.js';
import { setTxQueueLength } from '../tap/host-side.js';
import { TapError } from '../tap/errors.js';
import { parseImpairments, ImpairmentError, type ImpairmentSpec } from '../../firmware/impairments.js';
import { checkLinkAddresses, leaseSubnet, sweepStaleLocks, type LinkAddresses, type SubnetLease } from './addresses.js';
import { TestNetworkError } from './errors.js';
import { KERNEL_CLIENT_JS, KERNEL_SERVER_JS, type KernelConnectionReport, type KernelServerMode } from './kernel-peers.js';
import { command, commandOk, createNamespace, deleteNamespace, deleteNamespaceSync, namespaceName, sweepStaleNamespaces } from './netns.js';
import { PeerProcess, type PeerOptions, type PeerResult } from './peer-process.js';
import { registerLive } from './safety-net.js';

/** The stack's options a test may set; the device, addresses, MTU, capture and faults are the network's. */
export type TestStackOptions = Omit<StackOptions, 'ifname' | 'device' | 'address' | 'hostAddress' | 'mtu' | 'offload' | 'synQueue' | 'pcap' | 'pcapSnaplen' | 'impair'>;

export interface TestNetworkOptions {
  /** A word for the capture's file name, such as the test's name (sanitised). */
  name?: string;
  /**
   * tapstack's address with its prefix, e.g. `198.18.77.2/24`, given together with
   * {@link hostAddress}. Both must be inside 198.18.0.0/15. Default: a /24 of 198.19.0.0/16 no
   * other live test network has, tapstack .2 and the kernel .1.
   */
  address?: string;
  /** The kernel's address on the TAP, with the same prefix. */
  hostAddress?: string;
  /** The TAP's name inside the namespace (default tap0). */
  ifname?: string;
  /** Link MTU (default 1500). */
  mtu?: number;
  /** virtio-net offloads: 64 KiB TSO/GSO frames and partial checksums (default true). */
  offload?: boolean;
  /** A receive queue of its own for connection requests (default true). */
  synQueue?: boolean;
  /**
   * Fault injection between the NIC and the TAP, as `tapstack up --impair` takes it
   * (`'both:loss=1%;rx:reorder=2%,by=3'`), or a parsed spec.
   */
  impair?: string | ImpairmentSpec;
  /** Seed of the fault injector, as `--seed` (default 1): same seed, same faults. */
  seed?: number;
  /** Capture the TAP's frames (default true). */
  capture?: boolean;
  /** Where captures go (default `<tmpdir>/tapstack-captures`). */
  captureDir?: string;
  /** Bytes captured of each frame (default: all). */
  snaplen?: number;
  /** `'on-failure'` (default): deleted when the test passed; `'always'`: kept either way. */
  keepCapture?: 'on-failure' | 'always';
  /** Let the kernel learn neighbours from gratuitous ARP (net.ipv4.conf.*.arp_accept; default off, the kernel's default). */
  arpAccept?: boolean;
  /**
   * IPv6 on the kernel's side (default off: tapstack drops IPv6, and the kernel's own IPv6
   * chatter, timed by the kernel, would make seeded faults hit different frames each run).
   */
  ipv6?: boolean;
  /** Further options of the stack (TCP configuration, zero-copy switches, clock, ...). */
  stack?: TestStackOptions;
}

export interface CloseOptions {
  /**
   * Whether the test failed: the capture is kept if so. Left out: the verdict of the test
   * framework when the network was made with `testNetwork(t)` (then the capture waits for it),
   * else whether {@link TestNetwork.markFailed} was called.
   */
  failed?: boolean;
}

export interface CloseReport {
  /** Path of the kept capture; null when it was deleted, not decided yet, or never taken. */
  capture: string | null;
}

/** A kernel TCP server started with {@link TestNetwork.kernelServer}. */
export interface KernelServer {
  /** The port it listens on (the one asked for, or the one the kernel chose). */
  readonly port: number;
  /** The kernel's address it is reachable at (the network's hostAddress). */
  readonly host: string;
  readonly process: PeerProcess;
  /** The connections it has finished so far. */
  connections(): KernelConnectionReport[];
  /** Wait until `n` connections have finished; returns them. */
  waitForConnections(n: number, timeoutMs?: number): Promise<KernelConnectionReport[]>;
  /** Stop it (SIGKILL, by PID). */
  close(): Promise<void>;
}

/** Counter of this process's networks: the <n> of the namespace name and the TAP's first name. */
let networks = 0;
let swept: Promise<unknown> | null = null;

/** The TAP's name in the test process's namespace, before the move: unique per PID and network. */
function transitName(n: number): string {
  return `tst${process.pid.toString(36)}-${n.toString(36)}`.slice(0, 15);
}

function sanitize(name: string): string {
  return name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
}

function impairment(o: TestNetworkOptions): ImpairmentSpec | undefined {
  if (o.impair === undefined) return undefined;
  if (typeof o.impair !== 'string') return o.seed === undefined ? o.impair : { ...o.impair, seed: o.seed };
  try {
    return parseImpairments(o.impair, o.seed ?? 1);
  } catch (e) {
    if (e instanceof ImpairmentError) throw new TestNetworkError('EOPTION', `impair: ${e.message}`, { cause: e });
    throw e;
  }
}

export class TestNetwork {
  /** The namespace: `ip netns exec <ns> ...` reaches the kernel's side. */
  readonly ns: string;
  /** The TAP's name inside the namespace (the kernel's interface towards tapstack). */
  readonly ifname: string;
  /** tapstack's address (no prefix), e.g. `198.19.7.2`. */
  readonly address: string;
  /** The kernel's address on the TAP, e.g. `198.19.7.1`. */
  readonly hostAddress: string;
  readonly prefixLength: number;
  /** Path of the capture being written (null without capture). */
  readonly capturePath: string | null;
  private readonly keepAlways: boolean;
  private stackInstance: Stack | null = null;
  private device: TapDevice | null = null;
  private readonly peers = new Set<PeerProcess>();
  private nsMade = false;
  private failure = false;
  /** Set by testNetwork(t): the framework's hook decides the capture. */
  private verdictPending = false;
  private captureSettled = false;
  private keptCapture: string | null = null;
  private teardown: Promise<void> | null = null;
  private unregister: () => void;

  private constructor(
    ns: string,
    ifname: string,
    link: LinkAddresses,
    private readonly lease: SubnetLease | null,
    capturePath: string | null,
    keepAlways: boolean,
  ) {
    this.ns = ns;
    this.ifname = ifname;
    this.address = link.tapstack;
    this.hostAddress = link.host;
    this.prefixLength = link.prefixLength;
    this.capturePath = capturePath;
    this.keepAlways = keepAlways;
    this.unregister = registerLive((why) => this.releaseNow(why));
  }

  /** The started stack: listen and connect on it as an application would. After close() it is closed too, its counters still readable. */
  get stack(): Stack {
    if (!this.stackInstance) throw new TestNetworkError('ECLOSED', `test network ${this.ns} has no stack: it did not start`);
    return this.stackInstance;
  }

  get closed(): boolean {
    return this.teardown !== null;
  }

  /** @internal Build one; see {@link createTestNetwork}. */
  static async create(o: TestNetworkOptions = {}): Promise<TestNetwork> {
    // Once per process: namespaces and subnet locks of test processes that died without cleaning up.
    swept ??= sweepStaleNamespaces()
      .catch(() => undefined)
      .then(() => sweepStaleLocks());
    await swept;
    // Everything that can be refused is checked before anything is made or claimed.
    const impair = impairment(o);
    const n = networks++;
    const ns = namespaceName(n);
    const ifname = o.ifname ?? 'tap0';
    let lease: SubnetLease | null = null;
    let link: LinkAddresses;
    if (o.address !== undefined || o.hostAddress !== undefined) {
      if (o.address === undefined || o.hostAddress === undefined) throw new TestNetworkError('EADDRESS', 'give address and hostAddress together (or neither, for a free /24 of 198.19.0.0/16)');
      link = checkLinkAddresses(o.address, o.hostAddress);
    } else {
      lease = leaseSubnet(n);
      link = lease.addresses;
    }
    const capture = o.capture ?? true;
    let capturePath: string | null = null;
    if (capture) {
      const dir = o.captureDir ?? path.join(tmpdir(), 'tapstack-captures');
      mkdirSync(dir, { recursive: true });
      capturePath = path.join(dir, `${ns}${o.name ? `-${sanitize(o.name)}` : ''}.pcap`);
    }
    const net = new TestNetwork(ns, ifname, link, lease, capturePath, o.keepCapture === 'always');
    try {
      await net.setUp(n, o, impair);
    } catch (e) {
      await net.tearDown().catch(() => undefined);
      net.settleCapture(false);
      if (e instanceof TestNetworkError) throw e;
      if (e instanceof TapError && e.code === 'EPERM') throw new TestNetworkError('EPERM', `${e.message} (test networks need root, or CAP_NET_ADMIN and CAP_SYS_ADMIN)`, { cause: e });
      throw new TestNetworkError('ESETUP', `test network ${ns}: ${(e as Error).message}`, { cause: e });
    }
    return net;
  }

  private async setUp(n: number, o: TestNetworkOptions, impair: ImpairmentSpec | undefined): Promise<void> {
    const mtu = o.mtu ?? 1500;
    await createNamespace(this.ns, { arpAccept: o.arpAccept ?? false, ipv6: o.ipv6 ?? false });
    this.nsMade = true;
    const transit = transitName(n);
    if (existsSync(`/sys/class/net/${transit}`)) throw new TestNetworkError('ESETUP', `a device ${transit} exists already in this namespace: not attaching to someone else's`);
    this.device = TapDevice.open({ name: transit, offloads: o.offload ?? true, vnetHdr: true, mtu, synQueue: o.synQueue ?? true });
    // As Stack.open does for a TAP it opens: the kernel's queue towards us, set while we can.
    setTxQueueLength(transit, 10000);
    await commandOk('ip', ['link', 'set', 'dev', transit, 'netns', this.ns], 'ESETUP');
    // One `ip` for the rest: renamed, addressed and up, inside the namespace.
    const p = this.prefixLength;
    await commandOk('ip', ['-n', this.ns, '-batch', '-'], 'ESETUP', [`link set dev ${transit} name ${this.ifname}`, `addr add ${this.hostAddress}/${p} dev ${this.ifname}`, `link set dev ${this.ifname} up`, ''].join('\n'));
    const device = this.device;
    this.device = null; // the stack owns it now (and closes it if it cannot start)
    this.stackInstance = Stack.open({
      ...o.stack,
      device,
      address: `${this.address}/${p}`,
      mtu,
      ...(this.capturePath ? { pcap: this.capturePath } : {}),
      ...(o.snaplen !== undefined ? { pcapSnaplen: o.snaplen } : {}),
      ...(impair ? { impair } : {}),
    });
  }

  /** Record that the test failed (its capture is then kept, whatever close() is told). */
  markFailed(): void {
    this.failure = true;
  }

  /** @internal For the framework adapters: the capture waits for the verdict they give. */
  awaitVerdict(): void {
    this.verdictPending = true;
  }

  // ---- kernel peers ----

  private checkOpen(): void {
    if (this.teardown) throw new TestNetworkError('ECLOSED', `test network ${this.ns} is closed`);
  }

  /**
   * Start `cmd args` on the kernel's side (in the namespace). It is killed (SIGKILL, by PID) at
   * close if it still runs, and by the kernel if the test process dies.
   */
  spawn(cmd: string, args: readonly string[] = [], o: PeerOptions = {}): PeerProcess {
    this.checkOpen();
    const p = new PeerProcess(this.ns, cmd, args, o);
    this.peers.add(p);
    void p.done.then(() => this.peers.delete(p));
    return p;
  }

  /**
   * Run `cmd args` on the kernel's side to completion (killed after `timeoutMs`, default 60 s)
   * and collect its output. The stack keeps running meanwhile: nothing here blocks the event
   * loop. A non-zero exit is a result, not an error: assert on `code`.
   */
  exec(cmd: string, args: readonly string[] = [], o: PeerOptions = {}): Promise<PeerResult> {
    return this.spawn(cmd, args, { timeoutMs: 60_000, ...o }).done;
  }

  /**
   * A kernel TCP server in the namespace (a small Node program on kernel sockets): `echo`,
   * `sink` or `source` (see {@link KernelServerMode}). Resolves once it listens. `port` 0 (the
   * default) lets the kernel choose.
   */
  async kernelServer(o: { mode?: KernelServerMode; port?: number; bytes?: number } = {}): Promise<KernelServer> {
    const mode = o.mode ?? 'echo';
    const proc = this.spawn(process.execPath, ['-e', KERNEL_SERVER_JS, mode, String(o.port ?? 0), this.hostAddress, String(o.bytes ?? 0)]);
    let port: number;
    try {
      const line = await proc.waitForOutput(/\{"listening":\d+\}\n/, 20_000);
      port = (JSON.parse(line) as { listening: number }).listening;
    } catch (e) {
      await proc.stop();
      throw e;
    }
    const reports = () =>
      proc
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{"connection":'))
        .map((l) => (JSON.parse(l) as { connection: KernelConnectionReport }).connection);
    return {
      port,
      host: this.hostAddress,
      process: proc,
      connections: reports,
      waitForConnections: async (n, timeoutMs = 30_000) => {
        const end = Date.now() + timeoutMs;
        for (;;) {
          const r = reports();
          if (r.length >= n) return r;
          if (!proc.running) throw new TestNetworkError('ETIMEOUT', `kernel ${mode} server exited with ${r.length} of ${n} connections finished\n${proc.stderr()}`);
          if (Date.now() >= end) throw new TestNetworkError('ETIMEOUT', `kernel ${mode} server: ${r.length} of ${n} connections finished after ${timeoutMs} ms`);
          await new Promise((res) => setTimeout(res, 20));
        }
      },
      close: async () => {
        await proc.stop();
      },
    };
  }

  /**
   * Connect from the kernel's side to `host:port` (default tapstack's address), send `send`
   * (then end the sending side) and collect everything until the other side closes: the
   * result's `output` is what arrived. Exit code 1 and the error code on stderr when the
   * connection fails or is reset.
   */
  kernelConnect(port: number, o: { send?: string | Uint8Array; host?: string; timeoutMs?: number } = {}): Promise<PeerResult> {
    return this.exec(process.execPath, ['-e', KERNEL_CLIENT_JS, o.host ?? this.address, String(port)], {
      ...(o.send !== undefined ? { input: o.send } : {}),
      timeoutMs: o.timeoutMs ?? 60_000,
    });
  }

  /**
   * A kernel TCP client kept open: write to it with `write()`, read `stdout()`; `end()` ends
   * its sending side. It exits when the connection closes.
   */
  kernelClient(port: number, o: { host?: string; timeoutMs?: number } = {}): PeerProcess {
    return this.spawn(process.execPath, ['-e', KERNEL_CLIENT_JS, o.host ?? this.address, String(port)], {
      input: 'pipe',
      ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    });
  }

  /** Wait until something in the namespace listens on TCP `port` (a server the test started with spawn). */
  async waitKernelListening(port: number, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const r = await command('ip', ['netns', 'exec', this.ns, 'ss', '-Hltn', `sport = :${port}`]);
      if (r.stdout.trim() !== '') return;
      if (Date.now() >= end) throw new TestNetworkError('ETIMEOUT', `nothing listens on TCP port ${port} in ${this.ns} after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  // ---- the end ----

  /**
   * Close the stack, kill the peers still running (SIGKILL, by PID), delete the namespace (and
   * the TAP in it) and release the subnet; then keep or delete the capture. Idempotent: a second
   * call waits for the first and may settle the capture if the first could not.
   */
  async close(o: CloseOptions = {}): Promise<CloseReport> {
    if (o.failed) this.failure = true;
    this.teardown ??= this.tearDown();
    try {
      await this.teardown;
    } finally {
      const failed = this.failure ? true : o.failed === false ? false : this.verdictPending ? undefined : false;
      if (failed !== undefined) this.settleCapture(failed);
    }
    return { capture: this.keptCapture };
  }

  /** `await using net = await createTestNetwork()`: close() when the block ends (see CloseOptions for the verdict). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async tearDown(): Promise<void> {
    this.stackInstance?.close();
    this.device?.close();
    this.device = null;
    await Promise.all([...this.peers].map((p) => p.stop()));
    try {
      if (this.nsMade) await deleteNamespace(this.ns);
      this.nsMade = false;
    } finally {
      this.lease?.release();
      // Until the capture is settled the safety net still has something to do at exit.
      if (this.captureSettled || !this.verdictPending) this.unregister();
    }
  }

  /** Keep the capture (the test failed, or keepCapture 'always') or delete it. Once. */
  private settleCapture(failed: boolean, why = 'the test failed'): void {
    if (this.captureSettled) return;
    this.captureSettled = true;
    this.unregister();
    const file = this.capturePath;
    if (!file || !existsSync(file)) return;
    if (failed || this.keepAlways) {
      this.keptCapture = file;
      if (failed) process.stderr.write(`tapstack/testing: ${why}; capture of ${this.ns} kept: ${file}\n`);
      return;
    }
    try {
      unlinkSync(file);
    } catch {
      // removed already
    }
  }

  /** The safety net's synchronous release, when the process ends with this network open. */
  private releaseNow(why: string): void {
    this.stackInstance?.close();
    this.device?.close();
    for (const p of this.peers) p.kill('SIGKILL');
    if (this.nsMade) deleteNamespaceSync(this.ns);
    this.nsMade = false;
    this.lease?.release();
    // No verdict: the process ended before the test did, so keep what it saw.
    const verdict = this.failure || !this.teardown || this.verdictPending;
    this.settleCapture(verdict, `the process ended (${why}) with the network open`);
  }
}

/**
 * A started test network. Close it when the test ends, telling whether it failed:
 *
 *     const net = await createTestNetwork();
 *     let failed = true;
 *     try { ...; failed = false; } finally { await net.close({ failed }); }
 *
 * or let {@link withTestNetwork} / {@link testNetwork} do that.
 */
export function createTestNetwork(o: TestNetworkOptions = {}): Promise<TestNetwork> {
  return TestNetwork.create(o);
}
