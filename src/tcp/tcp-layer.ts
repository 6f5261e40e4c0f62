/**
 * The TCP layer: demultiplexes segments to connections and listeners, answers segments to
 * nowhere with RST (RFC 9293 3.10.7.1), runs the listen queues (a bounded SYN queue and accept
 * backlog), picks ephemeral ports (RFC 6056 algorithm 3 style), and owns the timer queue and
 * the per-batch output of every connection.
 */
import debugFactory from 'debug';
import type { Clock } from '../clock.js';
import { tcpEvent, tcpLogEnabled } from './event-log.js';
import { randomSecret, type Random } from '../random.js';
import type { Interface, Ipv4Datagram, ProtocolHandler } from '../iface/interface.js';
import type { TransportEgress } from '../iface/transport.js';
import type { RxPayload } from '../mem/rx-payload.js';
import type { RxMemory } from '../mem/rx-memory.js';
import type { PagePool } from '../mem/page-pool.js';
import { formatIpv4 } from '../wire/addr.js';
import { onesComplementSum, pseudoHeaderSum } from '../wire/checksum.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import { seqAdd } from '../wire/seq.js';
import { checkTcpHeader, parseTcpOptions, TcpFlag, TcpOptions, TcpSegment } from '../wire/tcp.js';
import { DEFAULT_TCP_CONFIG, windowShiftFor, type TcpConfig } from './config.js';
import { sendControlSegment } from './control-segment.js';
import { TcpConnection, type SegmentIn, type TcpHost, type TcpStats } from './connection.js';
import { TcpError } from './errors.js';
import { IsnGenerator } from './isn.js';
import { TimerQueue } from './timer-queue.js';
import { SynAdmission } from './syn-admission.js';
import { SynCookies, type CookieOptions } from './syn-cookies.js';
import type { TcpCountedDrop, TcpDropReason } from './reasons.js';
import type { TcpOptionsToEmit } from '../wire/tcp.js';

const log = debugFactory('tapstack:tcp');

export interface Listener {
  readonly port: number;
  backlog: number;
  /** Connections in SYN-RECEIVED. */
  synQueue: Set<TcpConnection>;
  /** Called synchronously when a handshake completes: the socket must attach at once. */
  onConnection: (c: TcpConnection) => void;
}

/** All counters at zero. */
export function emptyTcpStats(): TcpStats {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    retransmittedBytes: 0,
    timeouts: 0,
    fastRetransmits: 0,
    resetsIn: 0,
    resetsOut: 0,
    challengeAcks: 0,
    outOfOrderSegments: 0,
    outOfOrderBytes: 0,
    outOfOrderDropped: 0,
    duplicateSegments: 0,
    pawsDropped: 0,
    delayedAcks: 0,
    acksCoalesced: 0,
    windowProbes: 0,
    keepaliveProbes: 0,
    connectionsOpened: 0,
    connectionsAccepted: 0,
    connectionsEstablished: 0,
    connectionsClosed: 0,
    connectionsReset: 0,
    connectionsTimedOut: 0,
    listenOverflows: 0,
    dsacksReceived: 0,
    sackedBytes: 0,
    rackMarkedLost: 0,
    tlpProbes: 0,
    tlpRepairs: 0,
    undos: 0,
    synCookiesSent: 0,
    synCookiesValidated: 0,
    synCookiesFailed: 0,
    ecnConnections: 0,
    ecnCeReceived: 0,
    ecnReductions: 0,
    synDeferred: 0,
    synRetransmitsAdmitted: 0,
    drops: {},
  };
}

/**
 * What TCP reads of the driver (src/nic/ provides it; TCP does not import the NIC): the page
 * pool sent data lives in, whether the connection-request queue is backlogged
 * (syn-admission.ts), and the flush that writes queued frames. Receive memory is `RxMemory`.
 */
export interface TcpDriver {
  readonly pool: PagePool;
  readonly synQueueBacklogged: boolean;
  flush(): void;
}

export interface TcpLayerOptions {
  iface: Interface;
  nic: TcpDriver;
  /** The pool received data fills, and how much of it is free beyond the host's reserve. */
  rxMemory: RxMemory;
  clock: Clock;
  /** Secrets, seeds and the first ephemeral port come from here (src/random.ts). */
  random: Random;
  config?: Partial<TcpConfig>;
  offload: boolean;
  /** How to run the per-batch flush after application calls (setImmediate by default). */
  defer?: (fn: () => void) => void;
  /** Called after timers or deferred work sent segments: flush the NIC. */
  kick?: () => void;
}

export class TcpLayer implements ProtocolHandler, TcpHost {
  readonly clock: Clock;
  readonly config: TcpConfig;
  readonly nic: TcpDriver;
  readonly pool: PagePool;
  readonly iface: Interface;
  /** Where segments leave: the interface's transmit seam. */
  readonly egress: TransportEgress;
  /** The interface's address now (it changes when DHCP configures it). */
  get localAddr(): number {
    return this.iface.address;
  }
  readonly offload: boolean;
  readonly stats: TcpStats = emptyTcpStats();
  readonly timers = new TimerQueue();
  /** remote address -> (remotePort << 16 | localPort) -> connection. */
  private readonly conns = new Map<number, Map<number, TcpConnection>>();
  private connCount = 0;
  oooBytesTotal = 0;
  readonly rxMemory: RxMemory;
  /** Connections whose windows closed for want of receive memory, and the room that reopens them. */
  private rxStarvedConns: TcpConnection[] = [];
  private readonly rxReliefPages: number;
  private readonly listeners = new Map<number, Listener>();
  private readonly isn: IsnGenerator;
  readonly cookies: SynCookies;
  readonly admission: SynAdmission;
  private dirty: TcpConnection[] = [];
  /** Connections whose output waits for the application's turn (see {@link markDirtyAfterApp}). */
  private afterApp: TcpConnection[] = [];
  /** Connections whose users hear of the batch's end (see {@link atBatchEnd}), and a spare list. */
  private batchEnd: TcpConnection[] = [];
  private batchEndSpare: TcpConnection[] = [];
  private flushScheduled = false;
  /**
   * A receive batch or a timer run is under way: the {@link flush} that ends it sends what is
   * marked dirty meanwhile, so marking needs no deferred flush (no setImmediate per wake-up).
   */
  private inBatch = false;
  private readonly defer: (fn: () => void) => void;
  private readonly kick: () => void;
  private readonly seg = new TcpSegment(new Uint8Array(20));
  private readonly opts = new TcpOptions();
  /** Reused by every cookie SYN-ACK: a flood must not allocate per SYN. */
  private readonly cookieOpts: TcpOptionsToEmit = { mss: 0, windowScale: -1, sackPermitted: false, timestamp: null };
  private readonly cookieTs = { tsVal: 0, tsEcr: 0 };
  private readonly cookieAsk: CookieOptions = { mss: 0, windowScale: -1, sackPermitted: false, ecn: false, timestamps: true };
  private readonly segIn: SegmentIn;
  private last: TcpConnection | null = null;
  private challengeTokens: number;
  private challengeAt: number;
  private ephemeralNext: number;

  constructor(o: TcpLayerOptions) {
    this.clock = o.clock;
    this.config = { ...DEFAULT_TCP_CONFIG, ...o.config };
    this.nic = o.nic;
    this.pool = o.nic.pool;
    this.iface = o.iface;
    this.egress = o.iface;
    this.offload = o.offload;
    // Secrets and seeds from the injected randomness (RFC 6528 3: the ISN's key is secret).
    this.isn = new IsnGenerator(o.clock, randomSecret(o.random));
    this.cookies = new SynCookies(o.clock, randomSecret(o.random));
    this.admission = new SynAdmission(this.stats, undefined, undefined, o.random.u32());
    this.defer = o.defer ?? ((fn) => setImmediate(fn));
    this.kick = o.kick ?? (() => o.nic.flush());
    this.segIn = { seq: 0, ack: 0, flags: 0, window: 0, opts: this.opts, dataLength: 0, dataOffset: 0, payload: null as unknown as RxPayload, tos: 0 };
    this.challengeTokens = this.config.challengeAcksPerSecond;
    this.challengeAt = o.clock.nowMs();
    const span = this.config.ephemeralHigh - this.config.ephemeralLow + 1;
    this.ephemeralNext = o.random.u32() % span;
    this.rxMemory = o.rxMemory;
    const pool = o.rxMemory.pool;
    // Windows closed for want of memory reopen once a sixteenth of the pool is free beyond the
    // reserve (not at the first free page: they would close again at once).
    this.rxReliefPages = Math.ceil(pool.size / 16);
    o.iface.setProtocol(IPPROTO_TCP, this);
    o.iface.watchAddress((next) => this.addressChanging(next));
    o.iface.watchUnreachable((hop) => this.hopUnreachable(hop));
  }

  /**
   * Next hop `hop` did not answer ARP: connection attempts through it fail with EHOSTUNREACH,
   * as Linux's do (the neighbour failure reaches tcp_v4_err as host unreachable, a hard error
   * in SYN-SENT; RFC 5461 4.1 describes this reaction to soft errors during connection
   * establishment). Synchronized connections keep retransmitting (RFC 1122 4.2.3.9: a soft
   * error).
   */
  private hopUnreachable(hop: number): void {
    let failed = false;
    for (const c of [...this.connections()]) {
      if (c.state !== 'SYN-SENT' || this.iface.nextHop(c.remoteAddr) !== hop) continue;
      c.terminate(new TcpError('EHOSTUNREACH', 'no route to host (no ARP answer)', 'connect'));
      failed = true;
    }
    if (failed) this.kick();
  }

  /**
   * The interface's address is about to change or go (a DHCP lease ended, RFC 2131 4.4.5): a
   * connection is bound to its address, so each ends now, with a RST sent from the old address
   * while it is still ours and ECONNABORTED to its user, as a host losing its lease would rather
   * than leave them to time out. Listeners stay: they take the new address.
   */
  private addressChanging(next: number): void {
    if (this.connCount === 0) return;
    log('address going from %s to %s: aborting %d connections', formatIpv4(this.localAddr), formatIpv4(next), this.connCount);
    const err = new TcpError('ECONNABORTED', 'the local address went away (DHCP lease ended)');
    for (const c of [...this.connections()]) c.abort(err);
    this.flush();
    this.kick();
  }

  drop(reason: TcpCountedDrop): void {
    const d = this.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
  }

  readonly countDrop = (reason: TcpDropReason): void => this.drop(reason);

  get connectionCount(): number {
    return this.connCount;
  }

  // ---- TcpHost ----

  schedule(c: TcpConnection): void {
    this.timers.schedule(c);
  }

  markDirty(c: TcpConnection): void {
    this.dirty.push(c);
    if (!this.inBatch) this.scheduleDeferred();
  }

  /**
   * Flush `c` at the end of this turn of the event loop (setImmediate), not with the receive
   * batch: the application's handlers of what the batch delivered (Node runs 'data' at once,
   * 'end' on process.nextTick) have run by then, so an answer and a FIN go out with the ACK.
   */
  markDirtyAfterApp(c: TcpConnection): void {
    this.afterApp.push(c);
    this.scheduleDeferred();
  }

  atBatchEnd(c: TcpConnection): boolean {
    if (!this.inBatch) return false;
    this.batchEnd.push(c);
    return true;
  }

  /**
   * The users that asked hear that the batch was delivered, before its output: a reader that
   * takes its data now has its window in the ACK about to go, rather than in a second ACK after
   * the event loop's turn (with 100 streams each flow of a batch otherwise got both). Still in
   * the batch, so what they mark is flushed below with no deferred flush. A handler's exception
   * is thrown again on the next tick, so that it cannot leave the batch's output unsent.
   */
  private endBatchForUsers(): void {
    let failed = false;
    let failure: unknown;
    for (let rounds = 0; this.batchEnd.length > 0 && rounds < 4; rounds++) {
      const list = this.batchEnd;
      this.batchEnd = this.batchEndSpare;
      for (const c of list) {
        c.batchEndAsked = false;
        try {
          c.user?.onBatchEnd?.();
        } catch (e) {
          if (!failed) failure = e;
          failed = true;
        }
      }
      list.length = 0;
      this.batchEndSpare = list;
    }
    if (failed) process.nextTick(rethrow, failure);
  }

  private scheduleDeferred(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.defer(() => this.runDeferred());
    }
  }

  private runDeferred(): void {
    this.flushScheduled = false;
    for (const c of this.afterApp) this.dirty.push(c);
    this.afterApp.length = 0;
    if (this.dirty.length === 0) return;
    this.flush();
    this.kick();
  }

  /**
   * Output of every connection that has something to say (once per batch). It ends the batch:
   * what is marked from here on (an application's call) is flushed at the end of the turn.
   */
  flush(): void {
    if (this.batchEnd.length > 0) this.endBatchForUsers();
    this.inBatch = false;
    this.admission.newBatch();
    if (this.rxStarvedConns.length > 0 && this.rxPoolPages() >= this.rxReliefPages) {
      const starved = this.rxStarvedConns;
      this.rxStarvedConns = [];
      for (const c of starved) c.rxRelieved();
    }
    // Connections may mark others (or themselves) dirty while flushing: loop until quiet.
    for (let rounds = 0; this.dirty.length > 0 && rounds < 4; rounds++) {
      const list = this.dirty;
      this.dirty = [];
      for (const c of list) c.flush();
    }
  }

  remove(c: TcpConnection): void {
    const m = this.conns.get(c.remoteAddr);
    const key = (c.remotePort << 16) | c.localPort;
    if (m && m.get(key) === c) {
      m.delete(key);
      if (m.size === 0) this.conns.delete(c.remoteAddr);
      this.connCount--;
    }
    if (this.last === c) this.last = null;
    if (c.listenerPort >= 0) {
      const l = this.listeners.get(c.listenerPort);
      l?.synQueue.delete(c);
    }
  }

  established(c: TcpConnection): void {
    const l = c.listenerPort >= 0 ? this.listeners.get(c.listenerPort) : undefined;
    c.listenerPort = -1;
    if (!l) {
      c.abort();
      return;
    }
    l.synQueue.delete(c);
    this.stats.connectionsAccepted++;
    l.onConnection(c);
  }

  allowChallengeAck(): boolean {
    const now = this.clock.nowMs();
    const rate = this.config.challengeAcksPerSecond;
    this.challengeTokens = Math.min(rate, this.challengeTokens + ((now - this.challengeAt) * rate) / 1000);
    this.challengeAt = now;
    if (this.challengeTokens < 1) return false;
    this.challengeTokens--;
    return true;
  }

  rxStarved(c: TcpConnection): void {
    this.rxStarvedConns.push(c);
  }

  rxPoolPages(): number {
    // Pages flipped out of the ring in this batch are refilled only when their descriptors are
    // reposted: an ACK sent from inside the batch must not promise them a second time.
    const m = this.rxMemory;
    return Math.max(0, m.freePages() - m.pagesOwed());
  }

  tsOffset(c: TcpConnection): number {
    return this.cookies.timestampOffset(this.localAddr, c.localPort, c.remoteAddr, c.remotePort);
  }

  nextIsn(c: TcpConnection): number {
    return this.isn.next(this.localAddr, c.localPort, c.remoteAddr, c.remotePort);
  }

  // ---- application side ----

  /** Listen on `port`, or on a free ephemeral port when `port` is 0 (as bind(2) picks one). */
  listen(port: number, backlog: number, onConnection: (c: TcpConnection) => void): Listener {
    if (port === 0) port = this.ephemeralListenPort();
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port ${port} out of range 1..65535`);
    if (this.listeners.has(port)) throw new TcpError('EADDRINUSE', `port ${port} is already in use`, 'listen');
    const l: Listener = { port, backlog: Math.max(1, backlog), synQueue: new Set(), onConnection };
    this.listeners.set(port, l);
    log('listening on %d (backlog %d)', port, l.backlog);
    return l;
  }

  unlisten(port: number): void {
    const l = this.listeners.get(port);
    if (!l) return;
    this.listeners.delete(port);
    for (const c of l.synQueue) c.abort();
  }

  /** Active open to `remote:remotePort`, from `localPort` or an ephemeral one. */
  connect(remote: number, remotePort: number, localPort?: number): TcpConnection {
    const lport = localPort ?? this.ephemeralPort(remote, remotePort);
    if (this.lookup(remote, remotePort, lport)) throw new TcpError('EADDRINUSE', `${lport} -> ${remotePort} is in use`, 'connect');
    const c = new TcpConnection(this, remote, remotePort, lport);
    this.insert(c);
    return c;
  }

  /** A port of the ephemeral range that no listener and no connection uses. */
  private ephemeralListenPort(): number {
    const lo = this.config.ephemeralLow;
    const span = this.config.ephemeralHigh - lo + 1;
    const used = new Set<number>();
    for (const c of this.connections()) used.add(c.localPort);
    for (let i = 0; i < span; i++) {
      const port = lo + ((this.ephemeralNext + i) % span);
      if (this.listeners.has(port) || used.has(port)) continue;
      this.ephemeralNext = (this.ephemeralNext + i + 1) % span;
      return port;
    }
    throw new TcpError('EADDRINUSE', 'no ephemeral port is free', 'listen');
  }

  /** RFC 6056 3.3.3-like: a random start, then the next port whose quadruple is free. */
  private ephemeralPort(remote: number, remotePort: number): number {
    const lo = this.config.ephemeralLow;
    const span = this.config.ephemeralHigh - lo + 1;
    for (let i = 0; i < span; i++) {
      const port = lo + ((this.ephemeralNext + i) % span);
      if (this.listeners.has(port)) continue;
      if (!this.lookup(remote, remotePort, port)) {
        this.ephemeralNext = (this.ephemeralNext + i + 1) % span;
        return port;
      }
    }
    throw new TcpError('EADDRNOTAVAIL', 'no ephemeral port is free', 'connect');
  }

  private insert(c: TcpConnection): void {
    let m = this.conns.get(c.remoteAddr);
    if (!m) {
      m = new Map();
      this.conns.set(c.remoteAddr, m);
    }
    m.set((c.remotePort << 16) | c.localPort, c);
    this.connCount++;
  }

  lookup(remote: number, remotePort: number, localPort: number): TcpConnection | undefined {
    return this.conns.get(remote)?.get((remotePort << 16) | localPort);
  }

  /** Every connection (for stats and shutdown). */
  *connections(): IterableIterator<TcpConnection> {
    for (const m of this.conns.values()) yield* m.values();
  }

  // ---- receive ----

  /** A segment of a receive batch; the driver's `afterReceive` ends the batch with {@link flush}. */
  receive(dgram: Ipv4Datagram): boolean {
    this.inBatch = true;
    const stats = this.stats;
    stats.segmentsIn++;
    const buf = dgram.buf;
    const l4 = dgram.l4Offset;
    // Structure, checksum, then options (a corrupted option is a checksum failure).
    const reason = checkTcpHeader(buf, l4, dgram.l4Length);
    if (reason !== null) {
      this.drop(reason);
      return true;
    }
    // Checksum: the driver's verdict for data left in the frame, our own sum for the rest
    // (reassembled datagrams).
    const verdict = dgram.l4Checksum;
    if (verdict !== 'unchecked') {
      if (verdict === 'bad') {
        this.drop('tcp-bad-checksum');
        return true;
      }
    } else {
      const sum = onesComplementSum(buf, l4, l4 + dgram.l4Length, pseudoHeaderSum(dgram.src, dgram.dst, IPPROTO_TCP, dgram.l4Length));
      if (sum !== 0xffff && sum !== 0) {
        this.drop('tcp-bad-checksum');
        return true;
      }
    }
    const seg = this.seg.reset(buf, l4, dgram.l4Length);
    const hl = seg.headerLength;
    const optReason = parseTcpOptions(buf, l4 + 20, l4 + hl, this.opts);
    if (optReason !== null) {
      this.drop(optReason);
      return true;
    }
    const s = this.segIn;
    s.seq = seg.seq;
    s.ack = seg.ack;
    s.flags = seg.flags;
    s.window = seg.window;
    s.dataOffset = hl;
    s.dataLength = dgram.l4Length - hl;
    s.payload = dgram.payload;
    s.tos = dgram.tos;
    const flags = s.flags;
    if ((flags & (TcpFlag.SYN | TcpFlag.FIN)) === (TcpFlag.SYN | TcpFlag.FIN) || (flags & (TcpFlag.SYN | TcpFlag.RST)) === (TcpFlag.SYN | TcpFlag.RST)) {
      this.drop('tcp-bad-flags');
      return true;
    }
    if (dgram.dst !== this.localAddr) {
      this.drop('tcp-not-unicast');
      return true;
    }
    const remote = dgram.src;
    const rport = seg.srcPort;
    const lport = seg.dstPort;
    let c = this.last;
    if (c === null || c.remoteAddr !== remote || c.remotePort !== rport || c.localPort !== lport) {
      c = this.lookup(remote, rport, lport) ?? null;
      if (c) this.last = c;
    }
    if (c) {
      if (c.state === 'TIME-WAIT' && flags & TcpFlag.SYN && !(flags & TcpFlag.ACK) && this.listeners.has(lport) && c.acceptsNewIncarnation(s)) {
        c.terminate(null); // RFC 6191: a new incarnation replaces the TIME-WAIT one
      } else {
        c.segmentArrives(s);
        return true;
      }
    }
    const l = this.listeners.get(lport);
    if (l) {
      this.listenArrives(l, remote, rport, s);
      return true;
    }
    this.resetClosed(remote, lport, rport, s);
    return true;
  }

  /** RFC 9293 3.10.7.2: a segment for a listener. */
  private listenArrives(l: Listener, remote: number, rport: number, s: SegmentIn): void {
    const flags = s.flags;
    if (flags & TcpFlag.RST) return;
    if (flags & TcpFlag.ACK) {
      // Perhaps the end of a handshake answered with a SYN cookie.
      if (!(flags & (TcpFlag.SYN | TcpFlag.FIN)) && this.config.synCookies && this.cookieAck(l, remote, rport, s)) return;
      this.resetClosed(remote, l.port, rport, s);
      return;
    }
    if (!(flags & TcpFlag.SYN)) {
      this.drop('tcp-listen-no-syn');
      return;
    }
    if (this.connCount >= this.config.maxConnections) {
      this.drop('tcp-connection-limit');
      return;
    }
    if (this.nic.synQueueBacklogged && !this.admission.admit(remote, rport, l.port, s.seq)) {
      // More SYNs than we can answer: this one's retransmission will be (syn-admission.ts).
      return;
    }
    if (l.synQueue.size >= l.backlog) {
      this.stats.listenOverflows++;
      if (this.config.synCookies) {
        // RFC 4987 3.6: answer without keeping state; the ACK will carry it back.
        this.sendCookieSynAck(l, remote, rport, s);
        return;
      }
      this.drop('tcp-listen-overflow');
      return;
    }
    const c = new TcpConnection(this, remote, rport, l.port);
    c.listenerPort = l.port;
    this.insert(c);
    l.synQueue.add(c);
    c.acceptSyn(s);
  }

  /** A SYN-ACK whose ISN is a SYN cookie (and whose TSval carries the peer's options). */
  private sendCookieSynAck(l: Listener, remote: number, rport: number, s: SegmentIn): void {
    const cfg = this.config;
    const o = s.opts;
    const peerMss = o.mss > 0 ? o.mss : 536;
    const iss = this.cookies.encode(this.localAddr, l.port, remote, rport, s.seq, peerMss);
    const opts = this.cookieOpts;
    opts.mss = this.iface.mtu - 40;
    opts.timestamp = null;
    opts.windowScale = -1;
    opts.sackPermitted = false;
    let ecn = false;
    if (cfg.timestamps && o.hasTimestamp) {
      // The options survive in our TSval, echoed by the peer: only with timestamps can window
      // scaling and SACK be offered at all (as in Linux).
      const tsNow = (Math.floor(this.clock.nowMs()) + this.cookies.timestampOffset(this.localAddr, l.port, remote, rport)) >>> 0;
      const ask = this.cookieAsk;
      ask.mss = peerMss;
      ask.windowScale = cfg.windowScaling ? o.windowScale : -1;
      ask.sackPermitted = cfg.sack && o.sackPermitted;
      // RFC 3168 6.1.1, and as Linux: ECN survives a cookie only in the timestamp, too.
      ask.ecn = ecn = cfg.ecn && (s.flags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR);
      const ts = this.cookieTs;
      ts.tsVal = this.cookies.encodeTimestamp(tsNow, ask);
      ts.tsEcr = o.tsVal;
      opts.timestamp = ts;
      if (cfg.windowScaling && o.windowScale >= 0) opts.windowScale = windowShiftFor(cfg.rcvBuf);
      opts.sackPermitted = ask.sackPermitted;
    }
    sendControlSegment(this, remote, l.port, rport, iss, seqAdd(s.seq, 1), TcpFlag.SYN | TcpFlag.ACK | (ecn ? TcpFlag.ECE : 0), Math.min(65535, cfg.rcvBuf), opts);
    this.stats.synCookiesSent++;
  }

  /** An ACK for a listener: a valid SYN cookie makes an established connection at once. */
  private cookieAck(l: Listener, remote: number, rport: number, s: SegmentIn): boolean {
    const d = this.cookies.check(this.localAddr, l.port, remote, rport, seqAdd(s.seq, -1), seqAdd(s.ack, -1), s.opts.hasTimestamp ? s.opts.tsEcr : null);
    if (!d) {
      this.stats.synCookiesFailed++;
      return false;
    }
    if (this.connCount >= this.config.maxConnections) {
      this.drop('tcp-connection-limit');
      return true;
    }
    this.stats.synCookiesValidated++;
    const c = new TcpConnection(this, remote, rport, l.port);
    this.insert(c);
    c.acceptCookie(s, d);
    this.stats.connectionsAccepted++;
    l.onConnection(c);
    // The ACK may carry data (and the socket is attached now): process it as usual.
    if (s.dataLength > 0 || s.flags & TcpFlag.FIN) c.segmentArrives(s);
    return true;
  }

  /** RFC 9293 3.10.7.1: the reply of a CLOSED port. */
  private resetClosed(remote: number, lport: number, rport: number, s: SegmentIn): void {
    if (s.flags & TcpFlag.RST) return;
    this.stats.resetsOut++;
    if (tcpLogEnabled()) tcpEvent(this.clock, null, 'RST sent to %s:%d > :%d (no connection or listener)', formatIpv4(remote), rport, lport);
    if (s.flags & TcpFlag.ACK) {
      sendControlSegment(this, remote, lport, rport, s.ack, 0, TcpFlag.RST, 0);
    } else {
      let len = s.dataLength;
      if (s.flags & TcpFlag.SYN) len++;
      if (s.flags & TcpFlag.FIN) len++;
      sendControlSegment(this, remote, lport, rport, 0, seqAdd(s.seq, len), TcpFlag.RST | TcpFlag.ACK, 0);
    }
  }

  // ---- timers ----

  nextDeadline(): number {
    return this.timers.peek();
  }

  /** Run due timers and send what they produced. */
  poll(): void {
    this.inBatch = true;
    this.timers.run(this.clock.nowMs());
    this.flush();
  }

  /** Abort every connection (stack shutdown). */
  shutdown(): void {
    for (const c of [...this.connections()]) c.abort();
    for (const port of [...this.listeners.keys()]) this.unlisten(port);
    this.flush();
  }
}

function rethrow(e: unknown): never {
  throw e;
}
