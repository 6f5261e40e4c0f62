/**
 * A tapstack instance: TAP device, software NIC, interface, and the one timer that drives them.
 * The timer is armed for the interface's next deadline only, so an idle stack costs nothing.
 */
import debugFactory from 'debug';
import { systemClock, type Clock } from './clock.js';
import { systemRandom, type Random } from './random.js';
import { Interface, type InterfaceOptions } from './iface/interface.js';
import { Nic, type NicStats } from './nic/nic.js';
import { openCapture, type CaptureFileOptions, type CaptureFormat } from './pcap/capture-writer.js';
import type { FrameDevice } from '../firmware/device.js';
import { TapDevice, type IoMode, type IoPath } from './tap/tap-device.js';
import { ensureHostSide, ensureInterfaceMtu, ensureTxQueueLength, type SkippedSetting } from './tap/host-side.js';
import { formatSplitPolicy, type SplitPolicySpec } from '../firmware/split-policy.js';
import { noImpairment, type ImpairmentSpec } from '../firmware/impairments.js';
import { FaultInjectingDevice } from './phy/fault-injector.js';
import { CapturingDevice } from './phy/capture.js';
import { formatIpv4, parseCidr, parseIpv4, type Ipv4Addr, type Ipv4Cidr } from './wire/addr.js';
import { TcpLayer } from './tcp/tcp-layer.js';
import type { TcpInfo } from './tcp/connection.js';
import { TcpError } from './tcp/errors.js';
import { UdpLayer } from './udp/udp-layer.js';
import type { TcpConfig } from './tcp/config.js';
import { Server, type ServerOptions } from './socket/server.js';
import { Socket, type SocketOptions } from './socket/socket.js';
import type { RefHolder } from './socket/refs.js';
import { PageLender, type ZeroCopySwitches } from './socket/pages.js';
import { DgramSocket, type DgramSocketOptions, type RemoteInfo } from './socket/dgram.js';
import { DhcpClient, type DhcpClientOptions, type DhcpLease } from './dhcp/client.js';
import type { DhcpError } from './dhcp/errors.js';
import { DnsResolver, type DnsResolverOptions } from './dns/resolver.js';

const log = debugFactory('tapstack:stack');

/**
 * The kernel's queue towards the stack (the TAP's txqueuelen), at least: its default of 1000
 * frames overflows in bursts at MTU 1500 without offloads, and every frame it drops is a
 * retransmission. A longer one set by an administrator is kept.
 */
const TX_QUEUE_FRAMES = 10000;

/** The header split a NIC gets unless told otherwise: Ethernet + IPv4 + TCP with timestamps. */
const DEFAULT_SPLIT: SplitPolicySpec = { kind: 'fixed', size: 66 };

export interface StackOptions {
  /** TAP name (created in the current network namespace), or a device of your own. */
  ifname?: string;
  device?: FrameDevice;
  /**
   * tapstack's address, e.g. `198.18.0.2/24`, or `dhcp`: start unconfigured (0.0.0.0) and take
   * the address, prefix, router and DNS servers from a DHCP lease (`Stack.lease`).
   */
  address: string | Ipv4Cidr;
  /** The DHCP client's tunables (with `address: 'dhcp'`): host name, timeouts, probes. */
  dhcp?: Partial<Omit<DhcpClientOptions, 'udp' | 'host' | 'clock' | 'random' | 'events'>>;
  /** DNS servers for name lookups (default: those of the DHCP lease). */
  dns?: readonly Ipv4Addr[];
  /** The resolver's tunables: per-try timeout, attempts, TCP timeout, cache size. */
  resolver?: Partial<Pick<DnsResolverOptions, 'timeoutMs' | 'attempts' | 'tcpTimeoutMs' | 'cacheEntries'>>;
  /**
   * Give the kernel's side of the TAP this address and bring it up, where it differs. Without
   * CAP_NET_ADMIN (a TAP created beforehand for the user) what differs is left as it is and
   * listed in `Stack.skipped`.
   */
  hostAddress?: string | Ipv4Cidr;
  mtu?: number;
  offload?: boolean;
  /**
   * Give connection requests a receive queue of their own, so a SYN flood cannot crowd out
   * established connections (src/tap/steering.ts). Default true; without the rights to load
   * the steering program the TAP has one queue and says why (`TapDevice.steeringError`).
   */
  synQueue?: boolean;
  /**
   * How frames cross into the kernel (default `auto`): `uring` transmits in batches through
   * io_uring, `syscalls` one writev per frame, `auto` the ring where the kernel allows it. With
   * `pcap` or `impair` every frame passes those layers one by one, so the calls are used.
   */
  io?: IoMode;
  split?: SplitPolicySpec;
  pcap?: string;
  pcapSnaplen?: number;
  /** pcapng or classic pcap; by default pcapng when the name ends in `.pcapng`, else pcap. */
  pcapFormat?: CaptureFormat;
  /** Write the capture after every read or write call (tcpdump -U) instead of within a second. */
  pcapFlush?: boolean;
  /** Start a new capture file once one holds this many bytes (tcpdump -C), keeping at most `pcapRotateCount` (-W). */
  pcapRotateBytes?: number;
  pcapRotateCount?: number;
  /** Fault injection between the NIC and the TAP (see firmware/impairments.ts for the text form). */
  impair?: ImpairmentSpec;
  /** Zero-copy switches at start (both on by default). */
  zeroCopy?: Partial<ZeroCopySwitches>;
  /** Pool pages beyond those posted in the receive ring (default 65536: 256 MiB, committed lazily). */
  poolPages?: number;
  mac?: Uint8Array;
  gateway?: number;
  clock?: Clock;
  /** Randomness for secrets, seeds, the first ephemeral port and IP ID, a MAC (default the system's). */
  random?: Random;
  iface?: Partial<Pick<InterfaceOptions, 'neighbor' | 'reassembly' | 'icmp'>>;
  tcp?: Partial<TcpConfig>;
}

/** net.connect's options, the part an IPv4 stack has. */
export interface ConnectOptions extends SocketOptions {
  /** A name (looked up with the stack's resolver) or an IPv4 literal; default `localhost`, which fails: tapstack has no loopback. */
  host?: string;
  port: number;
  localPort?: number;
  /** net.connect's: a timeout set on the socket at once. */
  timeout?: number;
}

/**
 * The device the NIC drives: `device` with fault injection and capture over it (src/phy/).
 * The capture shows what crossed the wire. Receive faults happen on the wire, below the
 * capture: it shows frames corrupted, marked, duplicated, reordered or delayed as they arrived,
 * and a frame lost on receive as well (it crossed, then the NIC lost it). Transmit faults happen
 * before the wire, above the capture: a frame lost there never shows.
 */
/** The capture file options of `opts`, with the interface's description for pcapng. */
function captureOptions(opts: Pick<StackOptions, 'pcapFormat' | 'pcapSnaplen' | 'pcapRotateBytes' | 'pcapRotateCount' | 'split'>, name: string, mtu: number, offloads: boolean): CaptureFileOptions {
  return {
    ...(opts.pcapFormat ? { format: opts.pcapFormat } : {}),
    ...(opts.pcapSnaplen ? { snaplen: opts.pcapSnaplen } : {}),
    ...(opts.pcapRotateBytes !== undefined ? { rotateBytes: opts.pcapRotateBytes } : {}),
    ...(opts.pcapRotateCount !== undefined ? { rotateCount: opts.pcapRotateCount } : {}),
    interfaceName: name,
    interfaceDescription: `tapstack on ${name}: mtu ${mtu}, offloads ${offloads ? 'on' : 'off'}, split ${formatSplitPolicy(opts.split ?? DEFAULT_SPLIT)}`,
  };
}

/**
 * The layers between the NIC and the device: the capture (recording to `opts.pcap`, or idle
 * until a capture is started at run time), between the fault injector's receive and transmit
 * halves when there is one.
 */
function withPhyLayers(device: FrameDevice, opts: StackOptions, clock: Clock, mtu: number): { wire: FrameDevice; capture: CapturingDevice } {
  const spec = opts.impair;
  const file = opts.pcap ? openCapture(opts.pcap, captureOptions(opts, device.name, mtu, device.offloads)) : null;
  let d: FrameDevice = spec ? new FaultInjectingDevice(device, { ...spec, tx: noImpairment() }, clock) : device;
  // The wall-clock time at which the stack's clock read 0 (the one place the wall clock is read).
  const epochNs = BigInt(Date.now()) * 1_000_000n - BigInt(Math.round(clock.nowMs() * 1e6));
  const capture = new CapturingDevice(d, file, clock, epochNs, { flushEveryCall: opts.pcapFlush ?? false });
  d = capture;
  return { wire: spec ? new FaultInjectingDevice(d, { ...spec, rx: noImpairment() }, clock) : d, capture };
}

/** Throw as net.connect does for a port it cannot use (a programming error, not an 'error'). */
function checkPort(port: unknown): number {
  if (port === undefined || port === null) throw Object.assign(new TypeError('The "options" or "port" or "path" argument must be specified'), { code: 'ERR_MISSING_ARGS' });
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${String(port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
  }
  return n;
}

/**
 * net.connect's argument forms, `(options[, cb])`, `(port[, host][, cb])`, as options and the
 * listener; the host defaults to `localhost`, as net's.
 */
function connectArgs(args: unknown[]): { opts: ConnectOptions & { host: string }; onConnect: (() => void) | undefined } {
  const onConnect = typeof args[args.length - 1] === 'function' ? (args[args.length - 1] as () => void) : undefined;
  const first = args[0];
  if (first !== null && typeof first === 'object') {
    const o = first as ConnectOptions;
    return { opts: { ...o, host: o.host ?? 'localhost', port: checkPort(o.port) }, onConnect };
  }
  return { opts: { port: checkPort(first), host: typeof args[1] === 'string' ? args[1] : 'localhost' }, onConnect };
}

export class Stack {
  readonly nic: Nic;
  readonly iface: Interface;
  readonly tcp: TcpLayer;
  /** UDP: `bind(address, port, endpoint)` for protocols built on it; sockets through {@link createSocket}. */
  readonly udp: UdpLayer;
  /** The DHCP client (`address: 'dhcp'`), or null. */
  readonly dhcp: DhcpClient | null = null;
  /** The stub resolver `connect` uses for names (RFC 1034 5.3.1). */
  readonly dns: DnsResolver;
  private readonly leaseWaiters: { resolve: (l: DhcpLease) => void; reject: (e: DhcpError) => void }[] = [];
  private dhcpError: DhcpError | null = null;
  private readonly leaseListeners: ((l: DhcpLease) => void)[] = [];
  private readonly lostListeners: ((why: 'expired' | 'nak' | 'declined' | 'released') => void)[] = [];
  /** The page API: `alloc(n)`, `free(pages)`, `poolStats()`, counters and switches. */
  readonly pages: PageLender;
  readonly clock: Clock;
  private skippedSettings: readonly SkippedSetting[] = [];
  private capture: CapturingDevice | null = null;
  /** What a capture started at run time keeps of the options: the split policy it describes, the snap length. */
  private captureBase: Pick<StackOptions, 'split' | 'pcapSnaplen'> = {};
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private closed = false;
  /** Ref'd sockets and servers, lease waiters and the stack's own ref(): the loop is held while any. */
  private holds = 0;
  private ownHold = false;
  /** What sockets and servers hold the stack by (socket/refs.ts). */
  private readonly refs: RefHolder = {
    hold: () => this.hold(1),
    release: () => this.hold(-1),
  };

  private constructor(nic: Nic, iface: Interface, clock: Clock, random: Random, offload: boolean, uso: boolean, tcp: Partial<TcpConfig> | undefined, opts: StackOptions) {
    this.nic = nic;
    this.iface = iface;
    this.clock = clock;
    this.pages = new PageLender(nic.pool);
    this.tcp = new TcpLayer({
      iface,
      nic,
      rxMemory: nic.rxMemory,
      clock,
      random,
      offload,
      ...(tcp ? { config: tcp } : {}),
      kick: () => {
        nic.flush();
        this.arm();
      },
    });
    this.udp = new UdpLayer({
      iface,
      pool: nic.pool,
      random,
      uso: offload && uso,
      kick: () => {
        nic.flush();
        this.arm();
      },
    });
    const kick = () => {
      nic.flush();
      this.arm();
    };
    if (opts.address === 'dhcp') {
      const dhcp = new DhcpClient({
        ...opts.dhcp,
        udp: this.udp,
        clock,
        random,
        host: {
          mac: iface.mac,
          configure: (l) => iface.configure({ address: l.address, prefixLength: l.prefixLength }, l.router ?? undefined),
          unconfigure: () => iface.unconfigure(),
          arpProbe: (a) => iface.arpProbe(a),
        },
        events: {
          lease: (l) => {
            for (const w of this.leaseWaiters.splice(0)) w.resolve(l);
            for (const f of this.leaseListeners) f(l);
          },
          lost: (why) => {
            for (const f of this.lostListeners) f(why);
          },
          error: (e) => {
            this.dhcpError = e;
            for (const w of this.leaseWaiters.splice(0)) w.reject(e);
          },
        },
      });
      iface.watchArp((ip, mac, target) => dhcp.arpSeen(ip, mac, target));
      this.dhcp = dhcp;
    }
    const fixedDns = opts.dns;
    this.dns = new DnsResolver({
      ...opts.resolver,
      udp: this.udp,
      clock,
      random,
      servers: () => fixedDns ?? this.dhcp?.lease?.dns ?? [],
      tcp: (server, port) => this.connectTo(server, { host: '', port }),
      kick,
    });
  }

  /** Call `fn` with every lease the DHCP client binds from now on (renewals, rebinds, new leases). */
  onLease(fn: (l: DhcpLease) => void): void {
    this.leaseListeners.push(fn);
  }

  /** Call `fn` whenever the DHCP client gives an address up or declines an offered one (and why). */
  onLeaseLost(fn: (why: 'expired' | 'nak' | 'declined' | 'released') => void): void {
    this.lostListeners.push(fn);
  }

  /**
   * The DHCP lease: now if bound, else when the client gets one. Rejects with the client's
   * error (e.g. `no DHCP offer within 30 s`, code ETIMEDOUT), or at once without `address: 'dhcp'`.
   */
  lease(): Promise<DhcpLease> {
    if (!this.dhcp) return Promise.reject(new TypeError('the stack was not opened with address dhcp'));
    if (this.dhcp.lease && this.iface.configured) return Promise.resolve(this.dhcp.lease);
    if (this.dhcpError) return Promise.reject(this.dhcpError);
    // Waiting for a lease holds the loop, as a pending request would.
    this.hold(1);
    return new Promise((resolve, reject) =>
      this.leaseWaiters.push({
        resolve: (l) => {
          this.hold(-1);
          resolve(l);
        },
        reject: (e) => {
          this.hold(-1);
          reject(e);
        },
      }),
    );
  }

  /**
   * Keep the process alive while the stack is open, whatever its sockets do (off by default:
   * the stack holds the event loop only while a ref'd socket or listening server, or a lease
   * request, needs it, as Node's handles do). `tapstack up` holds it.
   */
  ref(): this {
    if (!this.ownHold) {
      this.ownHold = true;
      this.hold(1);
    }
    return this;
  }

  /** Undo {@link ref}: the stack no longer holds the event loop for itself. */
  unref(): this {
    if (this.ownHold) {
      this.ownHold = false;
      this.hold(-1);
    }
    return this;
  }

  /** Whether the stack's event loop handles (the TAP's poll handle, the timer) are ref'd now. */
  get hasRef(): boolean {
    return this.holds > 0;
  }

  /** Count a hold; the handles are ref'd while any, unref'd when the last goes. */
  private hold(delta: number): void {
    const was = this.holds > 0;
    this.holds += delta;
    const now = this.holds > 0;
    if (was !== now) this.applyRef(now);
  }

  private applyRef(on: boolean): void {
    if (this.closed) return;
    this.nic.device.setRef?.(on);
    if (on) this.timer?.ref();
    else this.timer?.unref();
  }

  /** Open the TAP (or use the given device), build the NIC and interface, and start. */
  static open(opts: StackOptions): Stack {
    const mtu = opts.mtu ?? 1500;
    const address = opts.address === 'dhcp' ? { address: 0, prefixLength: 0 } : typeof opts.address === 'string' ? parseCidr(opts.address) : opts.address;
    const clock = opts.clock ?? systemClock;
    const random = opts.random ?? systemRandom;
    let device = opts.device;
    const skipped: SkippedSetting[] = [];
    if (!device) {
      if (!opts.ifname) throw new TypeError('Stack.open needs ifname or device');
      // The fault injector decides frame by frame: under it frames cross one by one (a capture
      // passes batches through).
      device = TapDevice.open({ name: opts.ifname, offloads: opts.offload ?? false, vnetHdr: true, mtu, synQueue: opts.synQueue ?? true, io: opts.impair ? 'syscalls' : (opts.io ?? 'auto') });
    }
    let wire = device;
    let nic: Nic | null = null;
    try {
      if (opts.ifname && !opts.device) {
        const short = ensureTxQueueLength(opts.ifname, TX_QUEUE_FRAMES);
        if (short) skipped.push(short);
      }
      if (opts.hostAddress !== undefined) {
        const host = typeof opts.hostAddress === 'string' ? parseCidr(opts.hostAddress) : opts.hostAddress;
        if (opts.ifname) {
          ensureInterfaceMtu(opts.ifname, mtu);
          skipped.push(...ensureHostSide(opts.ifname, host.address, host.prefixLength));
        }
      }
      const phy = withPhyLayers(device, opts, clock, mtu);
      wire = phy.wire;
      nic = new Nic({ device: wire, mtu, split: opts.split ?? DEFAULT_SPLIT, extraPages: opts.poolPages ?? 65536 });
      const iface = new Interface({ nic, clock, random, address, mtu, ...(opts.mac ? { mac: opts.mac } : {}), ...(opts.gateway !== undefined ? { gateway: opts.gateway } : {}), ...opts.iface });
      const stack = new Stack(nic, iface, clock, random, device.offloads, wire.uso ?? false, opts.tcp, opts);
      stack.skippedSettings = skipped;
      stack.capture = phy.capture;
      stack.captureBase = { ...(opts.split ? { split: opts.split } : {}), ...(opts.pcapSnaplen ? { pcapSnaplen: opts.pcapSnaplen } : {}) };
      Object.assign(stack.pages.switches, opts.zeroCopy);
      nic.start({
        receive: (f) => iface.receive(f),
        afterReceive: () => {
          stack.tcp.flush();
          stack.arm();
        },
      });
      iface.start();
      stack.dhcp?.start();
      // Nothing holds the loop yet: the first ref'd socket or server will.
      stack.applyRef(false);
      nic.flush();
      stack.arm();
      log('up: %s mtu %d', opts.ifname ?? device.name, mtu);
      return stack;
    } catch (e) {
      if (nic) nic.close();
      else wire.close();
      throw e;
    }
  }

  /**
   * Settings of the kernel's side of the TAP that `open` was not permitted to make (no
   * CAP_NET_ADMIN) and left as they were; empty when it made them all or found them made.
   * `formatSkipped` (src/tap/host-side.ts) says them in one line.
   */
  get skipped(): readonly SkippedSetting[] {
    return this.skippedSettings;
  }

  /**
   * The I/O path frames take: `uring` when the NIC's device reads and writes batches (the TAP
   * with its ring, under no fault injector), else `syscalls`.
   */
  get io(): IoPath {
    return this.nic.device.readBatch && this.nic.device.writeBatch ? 'uring' : 'syscalls';
  }

  /** Arm the timer for the next deadline of the interface or TCP (only if it moved earlier). */
  arm(): void {
    if (this.closed) return;
    const at = Math.min(this.iface.nextDeadline(), this.tcp.nextDeadline(), this.nic.nextDeadline(), this.dhcp?.nextDeadline() ?? Infinity, this.dns.nextDeadline());
    if (at === Infinity) return;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - this.clock.nowMs()));
    if (this.holds === 0) this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    if (this.closed) return;
    // Frames first: after the event loop was busy, ACKs may wait in the TAP queue, and a timer
    // run before reading them would retransmit what was not lost. (Frames the fault injector
    // held back are released here too.)
    this.nic.poll();
    this.iface.poll();
    this.tcp.poll();
    this.dhcp?.poll();
    this.dns.poll();
    this.nic.flush();
    this.arm();
  }

  /** The zero-copy switches (kern.ipc.zero_copy.send/receive), changeable at run time. */
  get zeroCopy(): ZeroCopySwitches {
    return this.pages.switches;
  }

  /** A TCP server on this stack, as `net.createServer`. */
  createServer(opts?: ServerOptions | ((s: Socket) => void), listener?: (s: Socket) => void): Server {
    if (typeof opts === 'function') return new Server(this.tcp, this.pages, {}, opts, this.refs);
    return new Server(this.tcp, this.pages, opts ?? {}, listener, this.refs);
  }

  /**
   * A TCP connection from this stack, as `net.connect`: `(options[, cb])` or
   * `(port[, host][, cb])`. A `host` that is not an IPv4 literal is looked up with the stack's
   * resolver (`dns`) first, as net.connect does with dns.lookup: a failed lookup (ENOTFOUND,
   * EAI_AGAIN, and `localhost`, the default host: tapstack has no loopback and cannot reach
   * itself) comes as the socket's 'error', never thrown; 'lookup' is emitted before connecting.
   * No route (ENETUNREACH) and no ARP answer (EHOSTUNREACH) also come as 'error'. Only a missing
   * or invalid port throws, as net's.
   */
  connect(options: ConnectOptions, onConnect?: () => void): Socket;
  connect(port: number, host?: string, onConnect?: () => void): Socket;
  connect(port: number, onConnect?: () => void): Socket;
  connect(...args: unknown[]): Socket {
    const { opts, onConnect } = connectArgs(args);
    let remote: Ipv4Addr | null = null;
    try {
      remote = parseIpv4(opts.host);
    } catch {
      remote = null;
    }
    if (remote !== null) return this.connectTo(remote, opts, onConnect);
    const s = new Socket(null, this.iface.address, this.pages, opts, this.refs);
    if (onConnect) s.once('connect', onConnect);
    if (opts.timeout) s.setTimeout(opts.timeout);
    this.dns.resolve4(opts.host).then(
      (addrs) => {
        if (s.destroyed || this.closed) return;
        const address = addrs[0]!;
        s.emit('lookup', null, formatIpv4(address), 4, opts.host);
        if (this.iface.nextHop(address) === null) {
          s.destroy(TcpError.connect('ENETUNREACH', formatIpv4(address), opts.port));
          return;
        }
        try {
          const conn = this.tcp.connect(address, opts.port, opts.localPort);
          s.attach(conn, this.iface.address);
          conn.connect();
          s.afterAttach();
        } catch (e) {
          s.destroy(e as Error);
          return;
        }
        this.tcp.flush();
        this.nic.flush();
        this.arm();
      },
      (e: Error) => {
        s.emit('lookup', e, undefined, undefined, opts.host);
        s.destroy(e);
      },
    );
    return s;
  }

  /**
   * A socket that fails with ENETUNREACH on the next tick, as connect(2) does at once: no
   * route to `remote` (no matching prefix and no router, or no address yet while DHCP runs).
   */
  private unreachable(remote: Ipv4Addr, opts: ConnectOptions, onConnect?: () => void): Socket {
    const s = new Socket(null, 0, this.pages, opts, this.refs);
    if (onConnect) s.once('connect', onConnect);
    process.nextTick(() => s.destroy(TcpError.connect('ENETUNREACH', formatIpv4(remote), opts.port)));
    return s;
  }

  /** {@link connect} to an address. */
  private connectTo(remote: Ipv4Addr, opts: ConnectOptions, onConnect?: () => void): Socket {
    if (this.iface.nextHop(remote) === null) return this.unreachable(remote, opts, onConnect);
    const conn = this.tcp.connect(remote, opts.port, opts.localPort);
    const s = new Socket(conn, this.iface.address, this.pages, opts, this.refs);
    if (onConnect) s.once('connect', onConnect);
    if (opts.timeout) s.setTimeout(opts.timeout);
    conn.connect();
    this.tcp.flush();
    this.nic.flush();
    this.arm();
    return s;
  }

  /** A UDP socket on this stack, as `dgram.createSocket('udp4' | options[, onMessage])`. */
  createSocket(opts: 'udp4' | DgramSocketOptions, onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void): DgramSocket {
    return new DgramSocket(this.udp, this.pages, opts, onMessage, this.refs);
  }

  /** Alias of {@link connect}, for `http.request({ createConnection })`. */
  createConnection(options: ConnectOptions, onConnect?: () => void): Socket;
  createConnection(port: number, host?: string, onConnect?: () => void): Socket;
  createConnection(port: number, onConnect?: () => void): Socket;
  createConnection(...args: unknown[]): Socket {
    return (this.connect as (...a: unknown[]) => Socket)(...args);
  }

  /** Read what is ready now (the NIC does this by itself on every wake-up). */
  poll(): number {
    return this.nic.poll();
  }

  stats(): {
    nic: NicStats;
    iface: Interface['stats'];
    icmp: Interface['icmp']['stats'];
    neighbors: Interface['neighbors']['stats'];
    pages: ReturnType<Nic['pool']['stats']>;
    zeroCopy: PageLender['stats'];
    tcp: TcpLayer['stats'] & { connections: number };
    udp: UdpLayer['stats'];
    dhcp: DhcpClient['stats'] | null;
    dns: DnsResolver['stats'];
  } {
    return {
      tcp: { ...this.tcp.stats, connections: this.tcp.connectionCount },
      udp: this.udp.stats,
      dhcp: this.dhcp?.stats ?? null,
      dns: this.dns.stats,
      zeroCopy: this.pages.stats,
      nic: this.nic.stats(),
      iface: this.iface.stats,
      icmp: this.iface.icmp.stats,
      neighbors: this.iface.neighbors.stats,
      pages: this.nic.pool.stats(),
    };
  }

  /**
   * Start capturing to `path` while running (as `--pcap` does at start; `opts` as Stack.open's
   * pcap options), replacing a capture in progress, which is closed first.
   */
  startCapture(path: string, opts: Pick<StackOptions, 'pcapFormat' | 'pcapSnaplen' | 'pcapRotateBytes' | 'pcapRotateCount'> = {}): void {
    if (!this.capture || this.closed) throw new Error('the stack is closed');
    const dev = this.nic.device;
    this.capture.setWriter(openCapture(path, captureOptions({ ...this.captureBase, ...opts }, dev.name, this.iface.mtu, dev.offloads)));
  }

  /** Stop the capture in progress (its file flushed and closed); false if there was none. */
  stopCapture(): boolean {
    if (!this.capture?.file) return false;
    this.capture.setWriter(null);
    return true;
  }

  /** Whether frames are being captured now. */
  get capturing(): boolean {
    return this.capture?.file != null;
  }

  /** Every TCP connection, with its socket's share of bytes that moved without a copy. */
  connections(): (TcpInfo & { localAddr: number; bytesRead: number; bytesWritten: number; flippedBytes: number; sentByReferenceBytes: number })[] {
    const out = [];
    for (const c of this.tcp.connections()) {
      const u = c.user instanceof Socket ? c.user.info() : null;
      out.push({ ...c.info(), localAddr: this.iface.address, bytesRead: u?.bytesRead ?? 0, bytesWritten: u?.bytesWritten ?? 0, flippedBytes: u?.flippedBytes ?? 0, sentByReferenceBytes: u?.sentByReferenceBytes ?? 0 });
    }
    return out;
  }

  /**
   * Stop: connections are aborted, a DHCP lease is released (RFC 2131 4.4.6; the RELEASE goes
   * out only if the server's MAC is known: {@link end} makes sure it is), lookups fail.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.tcp.shutdown();
    this.dhcp?.release();
    this.dns.close();
    this.nic.flush();
    this.udp.shutdown();
    this.nic.close();
  }

  /**
   * {@link close}, once the DHCP server's MAC is resolved (ARP, at most `waitMs` of real time)
   * so that the RELEASE reaches it; at once without a lease.
   */
  async end(waitMs = 1000): Promise<void> {
    const lease = this.dhcp?.lease;
    if (lease && !this.closed && this.iface.configured && !this.iface.resolveNeighbor(lease.server)) {
      this.nic.flush();
      this.arm();
      const until = performance.now() + waitMs;
      while (!this.iface.neighbors.get(lease.server)?.mac && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
    }
    this.close();
  }
}
