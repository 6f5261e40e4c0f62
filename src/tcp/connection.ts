/**
 * One TCP connection: the state machine of RFC 9293 3.10 with RFC 5961 (blind in-window
 * attacks), RFC 7323 (window scale, timestamps, PAWS), RFC 6298 (RTO), RFC 1122 (delayed ACK,
 * keepalive), Nagle and SWS avoidance (RFC 9293 3.7.4, 3.8.6), and Reno/NewReno congestion
 * control (RFC 5681, RFC 6582) with an initial window of 10 segments (RFC 6928).
 *
 * Nothing here does I/O or reads a clock: segments come in through {@link segmentArrives},
 * time through {@link onTimer}, and segments go out through the host's NIC.
 */
import type { Clock } from '../clock.js';
import type { Interface, Ipv4Datagram } from '../iface/interface.js';
import { PAGE_SIZE } from '../mem/arena.js';
import type { RxMemory } from '../mem/rx-memory.js';
import type { RxPayload } from '../mem/rx-payload.js';
import type { PagePool } from '../mem/page-pool.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqInRangeAbove, seqInWindow, seqLe, seqLt, seqMin } from '../wire/seq.js';
import { TcpFlag, TcpOptions, type TcpHeaderFields, type TcpOptionsToEmit } from '../wire/tcp.js';
import { windowShiftFor, type TcpConfig } from './config.js';
import { TcpError } from './errors.js';
import { RttEstimator } from './rtt.js';
import { createCongestionControl, type CongestionControl } from './cc/congestion-control.js';
import type { RackTlp } from './rack.js';
import { createLossRecovery, type LossRecovery } from './recovery.js';
import { RenoRecovery } from './reno-recovery.js';
import type { SackScoreboard } from './sack-scoreboard.js';
import { SendQueue } from './send-queue.js';
import { sendControlSegment } from './control-segment.js';
import { sendTcpSegment } from './output.js';
import { EcnState } from './ecn.js';
import { OutOfOrderQueue } from './out-of-order.js';
import type { Scheduled } from './timer-queue.js';
import type { TcpDropReason, TcpDrops } from './reasons.js';

export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

/** A parsed incoming segment (one object reused by the layer). */
export interface SegmentIn {
  seq: number;
  ack: number;
  flags: number;
  /** The window field as received (not yet scaled). */
  window: number;
  opts: TcpOptions;
  /** Payload bytes, and where they start in the transport message. */
  dataLength: number;
  dataOffset: number;
  dgram: Ipv4Datagram;
}

export interface TcpStats {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  retransmittedBytes: number;
  timeouts: number;
  fastRetransmits: number;
  resetsIn: number;
  resetsOut: number;
  challengeAcks: number;
  outOfOrderSegments: number;
  outOfOrderBytes: number;
  outOfOrderDropped: number;
  duplicateSegments: number;
  pawsDropped: number;
  delayedAcks: number;
  windowProbes: number;
  keepaliveProbes: number;
  connectionsOpened: number;
  connectionsAccepted: number;
  connectionsEstablished: number;
  connectionsClosed: number;
  connectionsReset: number;
  connectionsTimedOut: number;
  listenOverflows: number;
  dsacksReceived: number;
  sackedBytes: number;
  /** Segments RACK (RFC 8985 6) marked lost. */
  rackMarkedLost: number;
  /** Tail loss probes sent (RFC 8985 7.3), and probes that repaired a loss (7.4.2). */
  tlpProbes: number;
  tlpRepairs: number;
  /** Window reductions undone: their retransmissions were spurious (D-SACK RFC 3708, Eifel RFC 3522). */
  undos: number;
  synCookiesSent: number;
  synCookiesValidated: number;
  synCookiesFailed: number;
  /** ECN (ecn.ts): connections that agreed to it, CE marks received, window reductions for ECE. */
  ecnConnections: number;
  ecnCeReceived: number;
  ecnReductions: number;
  /** SYNs left unanswered while the SYN queue was backlogged (syn-admission.ts). */
  synDeferred: number;
  /** Retransmitted SYNs answered because their first copy was deferred. */
  synRetransmitsAdmitted: number;
  drops: TcpDrops;
}

/** What a connection needs from the layer that owns it. */
export interface TcpHost {
  readonly clock: Clock;
  readonly config: TcpConfig;
  /** The page pool the send queue holds data in. */
  readonly pool: PagePool;
  readonly iface: Interface;
  readonly localAddr: number;
  /** The interface takes TSO frames (segmentation offload). */
  readonly offload: boolean;
  readonly stats: TcpStats;
  /** Make sure the connection's timers are scheduled. */
  schedule(c: TcpConnection): void;
  /** Ask for {@link TcpConnection.flush} at the end of the current batch. */
  markDirty(c: TcpConnection): void;
  /** Ask for {@link TcpConnection.flush} once the application had its turn at what it was given. */
  markDirtyAfterApp(c: TcpConnection): void;
  /** The connection is gone (CLOSED): forget it. */
  remove(c: TcpConnection): void;
  /** The handshake completed on a passive connection. */
  established(c: TcpConnection): void;
  /** RFC 5961 7: may another challenge ACK go out now? */
  allowChallengeAck(): boolean;
  nextIsn(c: TcpConnection): number;
  /** The connection's timestamp clock offset (RFC 7323 5.4; keyed per quadruple). */
  tsOffset(c: TcpConnection): number;
  /** Out-of-order bytes held by all connections (bounded by config.maxOutOfOrderBytesTotal). */
  oooBytesTotal: number;
  /** The pool received data lies in (the out-of-order queue's pages go back to it). */
  readonly rxMemory: RxMemory;
  /**
   * Pool pages received data may still take: the free pages beyond those kept for the NIC's
   * receive ring and the application's page trades (0 when the pool is that low).
   */
  rxPoolPages(): number;
  /** The connection dropped data for want of memory: call its rxRelieved() once there is some. */
  rxStarved(c: TcpConnection): void;
}

/** The application's side of a connection (the socket). */
export interface TcpUser {
  onConnect(): void;
  /**
   * In-order data: bytes [offset, offset + len) of `payload`, valid during the call only. Take
   * its pages or copy it; pages not taken stay where they are (the NIC's, or freed).
   */
  onData(payload: RxPayload, offset: number, len: number): void;
  /** The peer will send no more (FIN). */
  onEnd(): void;
  /** Acknowledged data freed send buffer space. */
  onSendSpace(): void;
  /** The connection is over; `err` when it failed. Called once. */
  onClose(err: TcpError | null): void;
  /** Bytes the application holds unread (bounds the advertised window). */
  bufferedBytes(): number;
}

/** The largest TSO payload: an IPv4 datagram of 65535 bytes minus IPv4 and TCP headers. */
const TSO_MAX_PAYLOAD = 65535 - 20 - 60;
/** RFC 9293 3.7.1: the MSS assumed when the peer sends none. */
const DEFAULT_MSS = 536;
/** Data iovecs per transmit frame (the NIC takes 20 parts; one page may start mid-way). */
const TX_MAX_DATA_PARTS = 18;
/** RFC 7323 5.5: timestamps older than 24 days are not trusted for PAWS. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** RFC 9293 3.8.6.1: the persist interval grows to at most this. */
const PERSIST_MAX_MS = 60_000;

let nextId = 1;

export class TcpConnection implements Scheduled {
  readonly id = nextId++;
  state: TcpState = 'CLOSED';
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly localPort: number;
  user: TcpUser | null = null;
  /** Set for a passive connection until it is accepted. */
  listenerPort = -1;

  // Send sequence space (RFC 9293 3.3.1).
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence number sent (sndNxt goes back on a timeout; this does not). */
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  maxSndWnd = 0;
  // Receive sequence space.
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window last advertised (never moved left, RFC 9293 3.8.6.2.2). */
  rcvAdv = 0;

  // Negotiated options.
  /** Our MSS as sent in the SYN, and the effective send MSS (payload per segment). */
  readonly ourMss: number;
  sndMss = DEFAULT_MSS;
  sndWscale = 0;
  rcvWscale = 0;
  private offeredWscale: number;
  tsOk = false;
  sackOk = false;
  private readonly tsOffset: number;
  private tsRecent = 0;
  private tsRecentAt = 0;
  private lastAckSent = 0;

  readonly sendQueue: SendQueue;
  /** The application ended its side: FIN after the queued data. */
  finQueued = false;
  /** Sequence number of our FIN (valid once finQueued). */
  finSeq = 0;
  /** Data written but not yet queued because the send buffer was full is the socket's business. */
  noDelay: boolean;
  /**
   * One past the last octet of the latest new-data segment shorter than a full segment (Linux's
   * snd_sml): Minshall's Nagle holds a small segment only while this one is unacknowledged.
   */
  private sndSml = 0;
  orphaned = false;

  // Timers (clock ms; Infinity when off).
  rtoAt = Infinity;
  private delackAt = Infinity;
  private persistAt = Infinity;
  private keepaliveAt = Infinity;
  private closeAt = Infinity; // TIME-WAIT, FIN-WAIT-2 of orphans
  queuedAt = Infinity;

  readonly rtt: RttEstimator;
  backoffs = 0;
  private persistBackoffs = 0;
  /** The override timeout fired: send into a window below one segment (RFC 9293 3.8.6.2.1). */
  private swsOverride = false;
  private keepaliveEnabled = false;
  private keepaliveIdle: number;
  private keepaliveProbesSent = 0;
  /** RTT timing of one segment when timestamps are off (Karn: never a retransmitted one). */
  rttSeq = -1;
  private rttStart = 0;

  // Congestion control (CUBIC or NewReno behind one interface) and loss recovery (recovery.ts).
  cc: CongestionControl;
  recovery: LossRecovery = new RenoRecovery(this); // until the handshake says whether the peer takes SACK
  /** The SACK scoreboard (RFC 6675) when the peer agreed to SACK (recovery.ts owns it). */
  get sb(): SackScoreboard | null {
    return this.recovery.sb;
  }
  /** RACK-TLP (RFC 8985), with SACK only (recovery.ts owns it). */
  get rack(): RackTlp | null {
    return this.recovery.rack;
  }
  /** The RTT sample of the ACK being processed (-1: none), and the smallest seen. */
  lastRtt = -1;
  minRtt = -1;

  // Receiving.
  private ackPending = 0;
  private ackNow = false;
  /** Segments beyond RCV.NXT, and the SACK blocks our ACKs carry (out-of-order.ts). */
  private readonly ooo: OutOfOrderQueue;
  /** Bytes held out of order (bounded by config.maxOutOfOrderBytes). */
  get outOfOrderBytes(): number {
    return this.ooo.bytes;
  }
  private finReceived = false;
  private closedNotified = false;
  private error: TcpError | null = null;
  private dirty = false;
  /**
   * The peer's FIN awaits its ACK until the application had its turn: an answer, and our FIN
   * when the application closes at once, then carry that ACK (RFC 1122 4.2.3.2 lets an ACK wait;
   * Linux delays the ACK of a FIN the same way, in its pingpong mode).
   */
  private ackAfterApp = false;
  /** Data was dropped for want of receive memory: the window stays closed until relief. */
  private rxStarved = false;
  private readonly emitOpts: TcpOptionsToEmit = {};
  /** The header fields of every segment sent, reused (ports set once). */
  private readonly txFields: TcpHeaderFields;
  private readonly ts = { tsVal: 0, tsEcr: 0 };
  /** RFC 3168 state: negotiated or not, echo, CWR (ecn.ts). */
  readonly ecn: EcnState;

  constructor(
    readonly host: TcpHost,
    remoteAddr: number,
    remotePort: number,
    localPort: number,
  ) {
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    this.localPort = localPort;
    this.txFields = { srcPort: localPort, dstPort: remotePort, seq: 0, ack: 0, flags: 0, window: 0 };
    const cfg = host.config;
    this.ourMss = host.iface.mtu - 40;
    this.sendQueue = new SendQueue(host.pool);
    this.ooo = new OutOfOrderQueue(host, host.rxMemory.pool, (reason) => this.countDrop(reason));
    this.ecn = new EcnState(host.stats);
    this.rtt = new RttEstimator(cfg.rtoMinMs, cfg.rtoMaxMs, cfg.rtoInitialMs);
    this.cc = createCongestionControl(cfg.congestionControl, DEFAULT_MSS, host.clock.nowMs());
    this.noDelay = !cfg.nagle;
    this.keepaliveIdle = cfg.keepIdleMs;
    this.offeredWscale = cfg.windowScaling ? windowShiftFor(cfg.rcvBuf) : -1;
    // RFC 7323 5.4: a per-connection offset for TSval, keyed by the quadruple (so that a
    // connection made from a SYN cookie continues the SYN-ACK's clock).
    this.tsOffset = host.tsOffset(this);
  }

  // ---------------------------------------------------------------------------------------
  // Opening

  /** Active open: send a SYN (RFC 9293 3.10.1). */
  connect(): void {
    this.iss = this.host.nextIsn(this);
    this.sndUna = this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.recovery.recover = this.iss;
    this.sndSml = this.iss;
    this.state = 'SYN-SENT';
    this.host.stats.connectionsOpened++;
    this.sendSyn(false);
    this.armRto();
  }

  /** Passive open: a SYN arrived at a listener (RFC 9293 3.10.7.2). */
  acceptSyn(seg: SegmentIn): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.negotiate(seg);
    this.ecn.onPeerSyn(seg.flags, this.host.config.ecn);
    this.iss = this.host.nextIsn(this);
    this.sndUna = this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.recovery.recover = this.iss;
    this.sndSml = this.iss;
    this.sndWnd = seg.window; // never scaled in a SYN (RFC 7323 2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.state = 'SYN-RECEIVED';
    this.sendSyn(true);
    this.armRto();
  }

  /**
   * A connection made from a valid SYN-cookie ACK (RFC 4987 3.6): nothing was kept for the
   * SYN, so the state comes from the ACK and what the cookie carried.
   */
  acceptCookie(seg: SegmentIn, d: { mss: number; windowScale: number; sackPermitted: boolean; timestamps: boolean; ecn: boolean }): void {
    const cfg = this.host.config;
    this.iss = seqAdd(seg.ack, -1);
    this.sndUna = seg.ack;
    this.sndNxt = seg.ack;
    this.sndMax = seg.ack;
    this.recovery.recover = this.iss;
    this.sndSml = this.iss;
    this.irs = seqAdd(seg.seq, -1);
    this.rcvNxt = seg.seq;
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(65535, cfg.rcvBuf));
    this.applyPeerOptions(d.mss, d.windowScale, d.sackPermitted, d.timestamps && seg.opts.hasTimestamp, seg.opts.tsVal);
    this.ecn.agree(d.ecn && cfg.ecn);
    this.sndWnd = seg.window << this.sndWscale;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.state = 'ESTABLISHED';
    this.recovery.sync();
    this.host.stats.connectionsEstablished++;
  }

  /** The window shift we offer in SYNs and SYN-ACKs (-1: none). */
  get offeredWindowScale(): number {
    return this.offeredWscale;
  }

  /** Options from the peer's SYN (RFC 9293 3.7.1, RFC 7323 2.2 / 3.2, RFC 2018 2). */
  private negotiate(seg: SegmentIn): void {
    const o = seg.opts;
    this.applyPeerOptions(o.mss > 0 ? o.mss : DEFAULT_MSS, o.windowScale, o.sackPermitted, o.hasTimestamp, o.tsVal);
  }

  /**
   * What the peer offered (from its SYN, or from a SYN cookie), against what we offer: window
   * scaling only when both sides sent the option, timestamps and SACK likewise; then the send
   * MSS, the congestion controller and the SACK scoreboard that depend on them.
   */
  private applyPeerOptions(peerMss: number, peerWscale: number, sackPermitted: boolean, timestamps: boolean, tsVal: number): void {
    const cfg = this.host.config;
    const now = this.host.clock.nowMs();
    if (peerWscale >= 0 && this.offeredWscale >= 0) {
      this.sndWscale = peerWscale;
      this.rcvWscale = this.offeredWscale;
    } else {
      this.sndWscale = 0;
      this.rcvWscale = 0;
      this.offeredWscale = -1;
    }
    this.tsOk = cfg.timestamps && timestamps;
    if (this.tsOk) {
      this.tsRecent = tsVal;
      this.tsRecentAt = now;
    }
    this.sackOk = cfg.sack && sackPermitted;
    // RFC 9293 3.7.1 / RFC 6691: the MSS counts no options; timestamps take 12 bytes of each segment.
    this.sndMss = Math.max(64, Math.min(peerMss, this.ourMss) - (this.tsOk ? 12 : 0));
    // The window is counted in this MSS; RFC 6928: IW = min(10 * MSS, max(2 * MSS, 14600)).
    this.cc = createCongestionControl(cfg.congestionControl, this.sndMss, now);
    this.recovery = createLossRecovery(this, this.recovery, this.sackOk, cfg.rack, this.sndMss, (reason) => this.countDrop(reason));
  }

  // ---------------------------------------------------------------------------------------
  // Application calls

  /** Free space in the send buffer. */
  sendSpace(): number {
    return Math.max(0, this.host.config.sndBuf - this.sendQueue.length);
  }

  /** Queue bytes (copied) for sending; returns how many were taken. */
  write(data: Uint8Array): number {
    if (this.finQueued || !this.canSend()) return 0;
    const n = Math.min(data.length, this.sendSpace());
    if (n === 0) return 0;
    this.sendQueue.append(n === data.length ? data : data.subarray(0, n));
    this.markDirty();
    return n;
  }

  /**
   * Queue bytes (copied) regardless of the send buffer's bound (the page API's copy path);
   * `onAcked(acked)` runs once they are all acknowledged, or (false) the connection ended first.
   */
  writeAll(data: Uint8Array, onAcked: (acked: boolean) => void): boolean {
    if (this.finQueued || !this.canSend()) return false;
    this.sendQueue.append(data);
    this.ackWaiters.push({ end: seqAdd(this.dataStart(), this.sendQueue.length), cb: onAcked });
    this.markDirty();
    return true;
  }

  /** Callbacks waiting for SND.UNA to pass a sequence number (copied page-API writes). */
  private ackWaiters: { end: number; cb: (acked: boolean) => void }[] = [];

  private runAckWaiters(): void {
    const w = this.ackWaiters;
    while (w.length > 0 && seqGe(this.sndUna, w[0]!.end)) w.shift()!.cb(true);
  }

  /** Queue a pool page by reference (zero-copy); `onAcked` when all of it is acknowledged. */
  writePage(page: number, len: number, onAcked: (acked: boolean, copied: boolean) => void): boolean {
    if (this.finQueued || !this.canSend()) return false;
    this.sendQueue.appendPage(page, len, onAcked);
    this.markDirty();
    return true;
  }

  /** Sequence number of the first byte in the send queue (after the SYN until it is acked). */
  dataStart(): number {
    return seqGt(this.sndUna, this.iss) ? this.sndUna : seqAdd(this.sndUna, 1);
  }

  private canSend(): boolean {
    const s = this.state;
    return s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'SYN-SENT' || s === 'SYN-RECEIVED';
  }

  /** The application ends its side (RFC 9293 3.10.4 CLOSE): FIN after the queued data. */
  close(): void {
    switch (this.state) {
      case 'SYN-SENT':
        this.terminate(null);
        return;
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'CLOSE-WAIT':
        if (this.finQueued) return;
        this.finQueued = true;
        this.finSeq = seqAdd(this.dataStart(), this.sendQueue.length);
        this.markDirty();
        return;
      default:
        return;
    }
  }

  /** Abort (RFC 9293 3.10.5): RST unless nothing was synchronized, then forget everything. */
  abort(): void {
    const s = this.state;
    if (s === 'SYN-RECEIVED' || s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2' || s === 'CLOSE-WAIT') {
      this.sendRst(this.sndNxt, 0, false);
    }
    this.terminate(null);
  }

  /** The application read data: the window may have opened enough to tell the peer. */
  windowUpdate(): void {
    if (this.state === 'CLOSED' || this.state === 'LISTEN' || this.state === 'SYN-SENT') return;
    // Nothing received yet and the peer still holds the whole window the SYN-ACK promised: it
    // has not been limited by it, and the ACK of its first data carries the larger window (an
    // ACK right after the handshake would only repeat itself; Linux sends a window update only
    // after the application read something).
    if (this.rcvNxt === seqAdd(this.irs, 1) && seqDiff(this.rcvAdv, this.rcvNxt) >= Math.min(65535, this.host.config.rcvBuf)) return;
    const next = this.rightEdge();
    const grow = seqDiff(next, this.rcvAdv);
    // Tell the peer once the window grew by two segments or half the buffer (Linux: similar).
    if (grow >= Math.min(2 * this.ourMss, this.host.config.rcvBuf / 2) || (seqDiff(this.rcvAdv, this.rcvNxt) < this.ourMss && grow >= this.ourMss)) {
      this.ackNow = true;
      this.markDirty();
    }
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    if (on) this.markDirty();
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepaliveEnabled = on;
    if (idleMs && idleMs > 0) this.keepaliveIdle = idleMs;
    this.keepaliveProbesSent = 0;
    this.keepaliveAt = on ? this.host.clock.nowMs() + this.keepaliveIdle : Infinity;
    this.host.schedule(this);
  }

  // ---------------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 3.10.7)

  segmentArrives(seg: SegmentIn): void {
    const now = this.host.clock.nowMs();
    if (this.keepaliveEnabled) {
      this.keepaliveProbesSent = 0;
      this.keepaliveAt = now + this.keepaliveIdle;
    }
    if (this.state === 'SYN-SENT') return this.synSentArrives(seg);
    const flags = seg.flags;
    const rst = (flags & TcpFlag.RST) !== 0;
    const o = seg.opts;

    // RFC 7323 5.3 PAWS: a segment whose TSval is older than TS.Recent is a duplicate, unless
    // it is a pure duplicate ACK overtaken by a later segment (see disorderedAck).
    if (this.tsOk && o.hasTimestamp && !rst && seqLt(o.tsVal, this.tsRecent) && now - this.tsRecentAt < PAWS_IDLE_MS && !this.disorderedAck(seg)) {
      this.host.stats.pawsDropped++;
      this.countDrop('tcp-paws');
      this.sendAck();
      return;
    }

    // The peer's SYN again while we are in SYN-RECEIVED: its view of the handshake. A bare
    // retransmitted SYN gets our SYN-ACK again; a SYN-ACK (simultaneous open, RFC 9293 figure 8)
    // that acknowledges our SYN completes the handshake. Both carry SEG.SEQ = IRS, below
    // RCV.NXT, so they must be caught before the acceptability test.
    if (this.state === 'SYN-RECEIVED' && flags & TcpFlag.SYN && !rst && seg.seq === this.irs) {
      if (flags & TcpFlag.ACK && seqInRangeAbove(seg.ack, this.sndUna, this.sndNxt)) {
        this.completeHandshake(seg, now);
        if ((this.state as TcpState) === 'ESTABLISHED') {
          this.ackNow = true;
          this.markDirty();
        }
      } else {
        this.sendSyn(true);
      }
      return;
    }
    // TIME-WAIT: a retransmitted FIN (its sequence number is already below RCV.NXT) is
    // acknowledged and restarts the 2 MSL wait (RFC 9293 3.10.7.4, "eighth").
    if (this.state === 'TIME-WAIT' && flags & TcpFlag.FIN && !rst && seqAdd(seg.seq, seg.dataLength + 1) === this.rcvNxt) {
      this.closeAt = now + 2 * this.host.config.mslMs;
      this.host.schedule(this);
      this.sendAck();
      return;
    }

    // First: is the sequence number acceptable (RFC 9293 3.10.7.4, the four cases)?
    const rcvWnd = seqDiff(this.rcvAdv, this.rcvNxt);
    let segLen = seg.dataLength;
    if (flags & TcpFlag.SYN) segLen++;
    if (flags & TcpFlag.FIN) segLen++;
    if (!this.acceptable(seg.seq, segLen, rcvWnd)) {
      // Old duplicates, data into a zero window, segments far outside it: an ACK says where
      // we are (not for RSTs, RFC 9293 3.10.7.4), and the drop is counted.
      this.countDrop(seg.dataLength > 0 && rcvWnd === 0 ? 'tcp-zero-window' : seqLt(seg.seq, this.rcvNxt) ? 'tcp-old-duplicate' : 'tcp-outside-window');
      if (!rst) {
        this.host.stats.duplicateSegments++;
        this.sendAck();
      }
      return;
    }

    // Second: RST (RFC 5961 3.2: exact match resets, in-window earns a challenge ACK).
    if (rst) {
      this.host.stats.resetsIn++;
      if (seg.seq !== this.rcvNxt) {
        this.countDrop('tcp-rst-in-window');
        this.challengeAck();
        return;
      }
      if (this.state === 'SYN-RECEIVED' && this.listenerPort >= 0) {
        this.terminate(null); // back to LISTEN: the listener simply forgets this one
        return;
      }
      if (this.state === 'CLOSING' || this.state === 'LAST-ACK' || this.state === 'TIME-WAIT') {
        this.terminate(null);
        return;
      }
      this.host.stats.connectionsReset++;
      this.terminate(new TcpError('ECONNRESET', 'connection reset by peer'));
      return;
    }

    // Fourth: SYN in a synchronized state (RFC 5961 4.2: challenge ACK).
    if (flags & TcpFlag.SYN) {
      if (this.state === 'SYN-RECEIVED' && seg.seq === this.irs) {
        this.sendSyn(true); // the peer's SYN again: our SYN-ACK was lost
        return;
      }
      this.countDrop('tcp-syn-in-window');
      this.challengeAck();
      return;
    }

    // RFC 3168 6.1.3: CE to echo, CWR to stop echoing.
    this.ecn.onSegment(flags, seg.dgram.tos & 3);

    // Fifth: ACK.
    if (!(flags & TcpFlag.ACK)) return;
    if (this.tsOk && o.hasTimestamp && seqLe(seg.seq, this.lastAckSent) && seqGe(o.tsVal, this.tsRecent)) {
      // RFC 7323 4.3: remember the peer's timestamp of the segment that moved our ACK (never
      // an older one: a disordered ACK passed PAWS with it).
      this.tsRecent = o.tsVal;
      this.tsRecentAt = now;
    }
    if (this.state === 'SYN-RECEIVED') {
      if (seqInRangeAbove(seg.ack, this.sndUna, this.sndNxt)) {
        this.completeHandshake(seg, now);
      } else {
        this.sendRst(seg.ack, 0, false);
        return;
      }
    } else if (!this.processAck(seg, now)) {
      return;
    }
    if (this.state === 'CLOSED') return;

    // Sixth: URG. RFC 6093: urgent data is delivered inline as ordinary data; the pointer is
    // only noted (an urgent pointer past the data is harmless then).
    if (flags & TcpFlag.URG) this.countDrop('tcp-urgent-ignored');

    // Seventh: segment text.
    if (seg.dataLength > 0) {
      const s = this.state;
      if (s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2') this.receiveData(seg);
      // In CLOSE-WAIT and later the peer already sent FIN: data is ignored (RFC 9293).
    }

    // Eighth: FIN.
    if (flags & TcpFlag.FIN) {
      const finAt = seqAdd(seg.seq, seg.dataLength);
      if (finAt === this.rcvNxt) this.receiveFin();
      else if (seqGt(finAt, this.rcvNxt)) {
        this.ooo.hold(finAt, null, 0, 0, true, this.maxSackBlocks());
        this.ackNow = true; // RFC 5681 4.2: out of order, a duplicate ACK at once
      }
    }
    // RFC 5681 4.2: an ACK that is due (every second full-sized segment, out-of-order data, a
    // filled hole, a duplicate, a FIN) leaves now, not at the end of the receive batch: a batch
    // may hold hundreds of segments, and with at most 3 SACK blocks per ACK (RFC 2018 3) the
    // ranges between holes would go unreported and the sender would resend data we hold.
    if (this.ackNow && !this.ackAfterApp) this.ackAtOnce();
    else if (this.ackNow || this.ackPending > 0) this.markDirty();
  }

  /** Send the ACK that is due, now (synchronized states only; SYN-RECEIVED has no ACK of its own). */
  private ackAtOnce(): void {
    const s = this.state;
    if (s === 'CLOSED' || s === 'LISTEN' || s === 'SYN-SENT' || s === 'SYN-RECEIVED') return;
    this.sendAck();
  }

  /** SYN-RECEIVED -> ESTABLISHED: our SYN is acknowledged. */
  private completeHandshake(seg: SegmentIn, now: number): void {
    this.state = 'ESTABLISHED';
    this.sndWnd = (seg.flags & TcpFlag.SYN ? seg.window : seg.window << this.sndWscale);
    this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.ackAdvance(seg, now);
    this.recovery.sync();
    this.host.stats.connectionsEstablished++;
    if (this.listenerPort >= 0) this.host.established(this);
    else this.user?.onConnect(); // an active open that met the peer's SYN (simultaneous open)
  }

  private countDrop(reason: TcpDropReason): void {
    const d = this.host.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
  }

  /** RFC 9293 3.10.7.4 "first": the acceptability test. */
  private acceptable(seq: number, segLen: number, rcvWnd: number): boolean {
    if (segLen === 0) {
      if (rcvWnd === 0) return seq === this.rcvNxt;
      return seqInWindow(seq, this.rcvNxt, rcvWnd);
    }
    if (rcvWnd === 0) return false;
    return seqInWindow(seq, this.rcvNxt, rcvWnd) || seqInWindow(seqAdd(seq, segLen - 1), this.rcvNxt, rcvWnd);
  }

  private synSentArrives(seg: SegmentIn): void {
    const flags = seg.flags;
    const hasAck = (flags & TcpFlag.ACK) !== 0;
    if (hasAck && !seqInRangeAbove(seg.ack, this.iss, this.sndMax)) {
      if (!(flags & TcpFlag.RST)) this.sendRst(seg.ack, 0, false);
      return;
    }
    if (flags & TcpFlag.RST) {
      if (hasAck) {
        this.host.stats.resetsIn++;
        this.terminate(new TcpError('ECONNREFUSED', 'connection refused', 'connect'));
      }
      return;
    }
    if (!(flags & TcpFlag.SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    // Our SYN offered a window before RCV.NXT was known: it counts from here.
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(65535, this.host.config.rcvBuf));
    this.negotiate(seg);
    if (this.tsOk && seg.opts.hasTimestamp) {
      this.tsRecent = seg.opts.tsVal;
      this.tsRecentAt = this.host.clock.nowMs();
    }
    if (hasAck) this.ecn.onSynAck(flags, this.host.config.ecn);
    else this.ecn.onPeerSyn(flags, this.host.config.ecn);
    if (hasAck) {
      this.sndUna = seg.ack;
      this.state = 'ESTABLISHED';
      this.sndWnd = seg.window; // RFC 7323 2.2: a SYN's window is never scaled
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      if (this.rttSeq < 0 && this.backoffs === 0) this.rtt.sample(this.host.clock.nowMs() - this.rttStart);
      this.backoffs = 0;
      this.rtoAt = Infinity;
      this.recovery.sync();
      this.host.stats.connectionsEstablished++;
      this.ackNow = true;
      this.markDirty();
      this.user?.onConnect();
      if (this.sendQueue.length > 0 || this.finQueued) this.markDirty();
    } else {
      // Simultaneous open (RFC 9293 3.5, figure 7).
      this.state = 'SYN-RECEIVED';
      this.sndWnd = seg.window;
      this.sendSyn(true);
    }
  }

  /** RFC 9293 3.10.7.4 "fifth", for synchronized states. Returns false to stop processing. */
  private processAck(seg: SegmentIn, now: number): boolean {
    const ack = seg.ack;
    // RFC 5961 5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.MAX; beyond SND.MAX
    // an ACK says where we are (RFC 9293 3.10.7.4), below the range a challenge ACK.
    const oldest = seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1));
    if (!seqInRange(ack, oldest, seqAdd(this.sndMax, 1))) {
      if (seqGt(ack, this.sndMax)) this.sendAck();
      else this.challengeAck();
      return false;
    }
    const wnd = seg.window << this.sndWscale;
    const recovery = this.recovery;
    const sndUnaBefore = this.sndUna;
    const recoveringBefore = recovery.recovering();
    const u = recovery.takeSack(seg, this.maxSndWnd, now);
    const newlySacked = u ? u.newlySacked : 0;
    if (seqGt(ack, this.sndUna)) {
      this.ackAdvance(seg, now);
      recovery.afterCumulativeAck(now);
    } else if (
      ack === this.sndUna &&
      this.sndMax !== this.sndUna &&
      // RFC 5681 2 "duplicate ACK", or RFC 6675 2: an ACK that SACKs new data counts too.
      (newlySacked > 0 || (seg.dataLength === 0 && !(seg.flags & TcpFlag.FIN) && wnd === this.sndWnd))
    ) {
      recovery.duplicateAck();
    }
    recovery.lossRecoveryAfterAck(seg, u, sndUnaBefore, recoveringBefore, now);
    if (seg.flags & TcpFlag.ECE && !recovery.inRecovery && this.ecn.onEce(this.sndUna, this.sndMax)) {
      // RFC 3168 6.1.2: the network said congestion without dropping: halve (beta) cwnd and
      // ssthresh, once per window, and retransmit nothing. From cwnd, not FlightSize (which
      // this ACK just shrank), as Linux's tcp_enter_cwr; then no burst beyond FlightSize + 1.
      this.cc.onCongestionEvent(now, this.cc.cwnd);
      this.cc.onRecoveryEnd(now, seqDiff(this.sndMax, this.sndUna));
    }
    // RFC 9293 3.10.7.4: update the send window from newer segments only.
    if (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack))) {
      const opened = wnd > this.sndWnd;
      this.sndWnd = wnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (wnd > 0) {
        this.persistAt = Infinity;
        this.persistBackoffs = 0;
      }
      if (opened) this.markDirty();
    }
    const finAcked = this.finQueued && seqGt(this.sndUna, this.finSeq);
    switch (this.state) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          this.state = 'FIN-WAIT-2';
          if (this.orphaned) this.closeAt = now + this.host.config.finWait2TimeoutMs;
        }
        break;
      case 'CLOSING':
        if (finAcked) this.enterTimeWait(now);
        break;
      case 'LAST-ACK':
        if (finAcked) {
          this.terminate(null);
          return false;
        }
        break;
      case 'TIME-WAIT':
        // A retransmitted FIN: acknowledge and restart the 2 MSL wait.
        if (seg.flags & TcpFlag.FIN) {
          this.ackNow = true;
          this.closeAt = now + 2 * this.host.config.mslMs;
          this.host.schedule(this);
        }
        break;
    }
    return true;
  }

  /** New data acknowledged: free it, sample the RTT, grow the window, re-arm the timer. */
  private ackAdvance(seg: SegmentIn, now: number): void {
    const ack = seg.ack;
    const flightBefore = seqDiff(this.sndMax, this.sndUna);
    const acked = seqDiff(ack, this.sndUna);
    // Data acknowledged: neither the SYN's nor the FIN's sequence number is data.
    const freed = Math.max(0, Math.min(this.sendQueue.length, seqDiff(ack, this.dataStart())));
    if (freed > 0) this.sendQueue.consume(freed);
    this.sndUna = ack;
    if (this.ackWaiters.length > 0) this.runAckWaiters();
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    // RTT (RFC 6298 3, RFC 7323 4): from the echoed timestamp, else from the timed segment.
    this.lastRtt = -1;
    if (this.tsOk && seg.opts.hasTimestamp && seg.opts.tsEcr !== 0) {
      this.lastRtt = seqDiff(this.tsNow(now), seg.opts.tsEcr);
    } else if (this.rttSeq >= 0 && seqGt(ack, this.rttSeq)) {
      this.lastRtt = now - this.rttStart;
      this.rttSeq = -1;
    }
    if (this.lastRtt >= 0) {
      this.rtt.sample(this.lastRtt);
      if (this.minRtt < 0 || this.lastRtt < this.minRtt) this.minRtt = this.lastRtt;
    }
    this.backoffs = 0;
    this.recovery.congestionOnAck(acked, flightBefore, now);
    if (this.sndUna === this.sndMax) {
      this.rtoAt = Infinity;
    } else {
      this.rtoAt = now + this.rtt.current(0);
      this.host.schedule(this);
    }
    if (freed > 0) this.user?.onSendSpace();
    this.markDirty();
  }

  private receiveData(seg: SegmentIn): void {
    let seq = seg.seq;
    let off = seg.dataOffset;
    let len = seg.dataLength;
    // Trim what we already have (RFC 9293 3.10.7.4 "seventh") and what is beyond the window.
    const skip = seqDiff(this.rcvNxt, seq);
    if (skip > 0) {
      seq = this.rcvNxt;
      off += skip;
      len -= skip;
      this.host.stats.duplicateSegments++;
      this.ackNow = true; // RFC 2883 D-SACK territory: tell the peer at once
    }
    const room = seqDiff(this.rcvAdv, seq);
    if (len > room) len = Math.max(0, room);
    if (len <= 0) return;
    // Held out-of-order pages are off the free pool already; held copies are not.
    if (this.host.rxPoolPages() < pagesFor(len) + pagesFor(this.ooo.copiedBytes)) {
      // Receive memory is short: the windows of all connections together promised more than
      // the pool holds. Taking the pages kept for the NIC's ring and the application's trades
      // would stop both (nothing could be received or read again), so the segment is dropped
      // unacknowledged, and the window is retracted to zero until memory is back (as Linux
      // does; RFC 7323 2.4 and RFC 1122 4.2.2.16: the sender must be robust against a shrunk
      // window): the ACK at once then stops the peer instead of inviting a fast retransmit
      // into a pool that is still full.
      this.countDrop('tcp-rx-memory');
      this.rcvAdv = this.rcvNxt;
      if (!this.rxStarved) {
        this.rxStarved = true;
        this.host.rxStarved(this);
      }
      this.ackNow = true;
      return;
    }
    if (seq !== this.rcvNxt) {
      // Out of order: keep it (bounded), ACK at once (RFC 5681 4.2: a duplicate ACK).
      this.ooo.hold(seq, seg.dgram.payload, off, len, false, this.maxSackBlocks());
      this.ackNow = true;
      return;
    }
    this.rcvNxt = seqAdd(this.rcvNxt, len);
    this.host.stats.bytesIn += len;
    this.user?.onData(seg.dgram.payload, off, len);
    if (this.state === 'CLOSED') return; // the application destroyed it from its data handler
    this.ackPending += len;
    if (!this.ooo.isEmpty) {
      this.drainOutOfOrder();
      this.ackNow = true; // RFC 5681 4.2: ACK at once when a hole is filled
    }
    // RFC 5681 4.2 / RFC 1122 4.2.3.2: ACK at least every second full-sized segment; other
    // in-order data waits for the delayed-ACK timer (or for data of ours to carry the ACK).
    if (this.ackPending >= 2 * this.ourMss - (this.tsOk ? 24 : 0)) this.ackNow = true;
    else if (!this.ackNow && this.delackAt === Infinity) {
      this.delackAt = this.host.clock.nowMs() + this.host.config.delayedAckMs;
      this.host.schedule(this);
    }
  }

  /** Deliver the held segments the advance of RCV.NXT reached (and a FIN among them). */
  private drainOutOfOrder(): void {
    const q = this.ooo;
    for (let s = q.takeReady(this.rcvNxt); s !== null; s = q.takeReady(this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, s.seq);
      if (skip < s.len) {
        const n = s.len - skip;
        this.rcvNxt = seqAdd(this.rcvNxt, n);
        this.host.stats.bytesIn += n;
        // Whole held pages move on by index; the socket copies the rest.
        this.user?.onData(q.payloadOf(s), skip, n);
      }
      q.release(s);
      if (s.fin && seqAdd(s.seq, s.len) === this.rcvNxt) {
        this.receiveFin();
        break;
      }
    }
    q.forgetSackBelow(this.rcvNxt);
  }

  /** The SACK blocks an ACK of ours may carry now (RFC 2018 3: 3 beside timestamps, else 4; 0 without SACK). */
  private maxSackBlocks(): number {
    return this.sackOk ? (this.tsOk ? 3 : 4) : 0;
  }

  private receiveFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    const now = this.host.clock.nowMs();
    switch (this.state) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE-WAIT';
        this.ackAfterApp = true; // the application may answer and close: see ackAfterApp
        break;
      case 'FIN-WAIT-1':
        if (this.finQueued && seqGt(this.sndUna, this.finSeq)) this.enterTimeWait(now);
        else this.state = 'CLOSING';
        break;
      case 'FIN-WAIT-2':
        this.enterTimeWait(now);
        break;
    }
    this.markDirty();
    this.user?.onEnd();
  }

  private enterTimeWait(now: number): void {
    this.state = 'TIME-WAIT';
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.keepaliveAt = Infinity;
    this.delackAt = Infinity;
    this.closeAt = now + 2 * this.host.config.mslMs;
    this.host.schedule(this);
    this.sendQueue.clear();
    this.notifyClosed(null);
  }

  /**
   * RFC 6191: may a SYN reuse this TIME-WAIT connection's quadruple? Yes when its timestamp is
   * newer than the last one seen, or (without timestamps) its sequence number is beyond ours.
   */
  acceptsNewIncarnation(seg: SegmentIn): boolean {
    if (this.state !== 'TIME-WAIT') return false;
    if (this.tsOk && seg.opts.hasTimestamp) return seqGt(seg.opts.tsVal, this.tsRecent);
    return seqGt(seg.seq, this.rcvNxt);
  }

  // ---------------------------------------------------------------------------------------
  // Output

  markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.host.markDirty(this);
  }

  /** Send what is due: data the windows allow, a FIN, or an ACK (called once per batch). */
  flush(): void {
    if (this.ackAfterApp) {
      this.ackAfterApp = false;
      this.host.markDirtyAfterApp(this); // still dirty: flushed then
      return;
    }
    this.dirty = false;
    const s = this.state;
    if (s === 'CLOSED' || s === 'LISTEN' || s === 'SYN-SENT' || s === 'SYN-RECEIVED') {
      if (this.ackNow && s === 'SYN-RECEIVED') this.ackNow = false;
      return;
    }
    let sent = false;
    if (s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK') sent = this.output();
    if (!sent && (this.ackNow || (this.ackPending > 0 && this.delackAt === Infinity))) this.sendAck();
    if (this.finQueued && (s === 'ESTABLISHED' || s === 'CLOSE-WAIT') && seqGt(this.sndNxt, this.finSeq)) {
      this.state = s === 'ESTABLISHED' ? 'FIN-WAIT-1' : 'LAST-ACK';
    }
  }

  /**
   * Payload per segment now: the send MSS less the SACK blocks our ACKs carry (RFC 9293 3.7.1:
   * the MSS counts no options, so every option beyond the timestamps comes out of the payload,
   * or the datagram would exceed the MTU).
   */
  effectiveMss(): number {
    return this.sackOk && this.ooo.sackCount > 0 ? this.sndMss - (4 + 8 * this.ooo.sackCount) : this.sndMss;
  }

  /** The send loop. Returns whether any segment went out. */
  private output(): boolean {
    const mss = this.effectiveMss();
    let sent = false;
    if (this.recovery.inRecovery && this.sb) sent = this.recovery.outputSackRecovery();
    for (;;) {
      // Going back after a timeout: what the peer SACKed need not be sent again.
      if (this.sb && seqLt(this.sndNxt, this.sndMax)) this.sndNxt = seqMin(this.sb.skipSacked(this.sndNxt), this.sndMax);
      const dataEnd = seqAdd(this.sndUna, this.sendQueue.length);
      const unsent = seqGt(dataEnd, this.sndNxt) ? seqDiff(dataEnd, this.sndNxt) : 0;
      const wnd = Math.min(this.sndWnd, this.cc.cwnd);
      const usable = seqDiff(seqAdd(this.sndUna, wnd), this.sndNxt);
      const finDue = this.finQueued && seqLe(this.sndNxt, this.finSeq);
      if (unsent > 0 && usable > 0) {
        const maxSeg = this.host.offload ? Math.max(mss, Math.floor(TSO_MAX_PAYLOAD / mss) * mss) : mss;
        let len = Math.min(unsent, usable, maxSeg);
        if (len < mss && len < unsent && !this.swsOverride) {
          // Window-limited to less than a segment: SWS avoidance (RFC 9293 3.8.6.2.1) sends it
          // only if it is at least half the largest window the peer offered, or when the
          // override timeout (the persist timer) fired with nothing in flight.
          if (len < this.maxSndWnd / 2) break;
        }
        this.swsOverride = false;
        // Nagle (RFC 9293 3.7.4) in Minshall's variant, as Linux (tcp_nagle_check): small new
        // data waits only while an earlier small segment is unacknowledged, so the sub-MSS tail
        // of a write leaves at once behind full segments instead of waiting for their ACK (a
        // peer that delays its ACK of one segment would stall it by up to 500 ms, RFC 1122
        // 4.2.3.2). It never holds a retransmission (after a timeout SND.NXT is below SND.MAX):
        // RFC 6298 5.4. What it holds stays in the send queue and counts against the send
        // buffer, where later writes join it into full segments.
        if (len < mss && len === unsent && !this.noDelay && this.sndMax !== this.sndUna && this.sndNxt === this.sndMax && !finDue && this.smallSegmentInFlight()) {
          break;
        }
        if (len > mss && len < unsent) len -= len % mss; // TSO frames in whole segments
        if (this.sb && seqLt(this.sndNxt, this.sndMax)) {
          const gap = this.sb.unsackedLen(this.sndNxt, this.sndMax);
          if (gap > 0 && gap < len) len = gap;
        }
        // A frame has at most TX_MAX_DATA_PARTS iovecs of data: with small chunks (partly
        // filled pages sent by reference) that bounds a frame before the window does.
        const fit = this.sendQueue.fitParts(seqDiff(this.sndNxt, this.sndUna), len, TX_MAX_DATA_PARTS);
        if (fit < len) len = fit > mss ? fit - (fit % mss) : fit;
        const fin = finDue && seqAdd(this.sndNxt, len) === this.finSeq;
        const retrans = seqLt(this.sndNxt, this.sndMax);
        if (retrans) {
          this.host.stats.retransmits++;
          this.host.stats.retransmittedBytes += len;
        } else if (!this.tsOk && this.rttSeq < 0) {
          this.rttSeq = this.sndNxt;
          this.rttStart = this.host.clock.nowMs();
        }
        this.sendSegment(this.sndNxt, len, TcpFlag.ACK | (len === unsent ? TcpFlag.PSH : 0) | (fin ? TcpFlag.FIN : 0));
        this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
        if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
        this.armRto();
        sent = true;
        continue;
      }
      if (finDue && unsent === 0) {
        this.sendSegment(this.finSeq, 0, TcpFlag.ACK | TcpFlag.FIN);
        this.sndNxt = seqAdd(this.finSeq, 1);
        if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
        this.armRto();
        sent = true;
      }
      break;
    }
    // Data waiting and nothing in flight: a zero window is probed (RFC 9293 3.8.6.1), a window
    // below a segment is sent into when the override timeout fires (RFC 9293 3.8.6.2.1).
    const dataEnd = seqAdd(this.sndUna, this.sendQueue.length);
    if (seqGt(dataEnd, this.sndNxt) && this.sndUna === this.sndMax && this.rtoAt === Infinity && this.persistAt === Infinity) {
      this.persistAt = this.host.clock.nowMs() + this.persistInterval();
      this.host.schedule(this);
    }
    return sent;
  }

  /** Minshall's check (Linux tcp_minshall_check): a small segment sent is not yet acknowledged. */
  private smallSegmentInFlight(): boolean {
    return seqInRangeAbove(this.sndSml, this.sndUna, this.sndNxt);
  }

  private persistInterval(): number {
    return Math.min(PERSIST_MAX_MS, Math.max(this.rtt.current(0), this.host.config.rtoMinMs) * 2 ** this.persistBackoffs);
  }

  scheduleTimers(): void {
    this.host.schedule(this);
  }

  armRto(): void {
    if (this.rtoAt !== Infinity) return;
    this.rtoAt = this.host.clock.nowMs() + this.rtt.current(this.backoffs);
    this.host.schedule(this);
  }

  sendAck(): void {
    this.sendSegment(this.sndNxt, 0, TcpFlag.ACK);
  }

  private challengeAck(): void {
    if (!this.host.allowChallengeAck()) return;
    this.host.stats.challengeAcks++;
    this.sendAck();
  }

  private sendSyn(withAck: boolean): void {
    this.rttStart = this.host.clock.nowMs();
    this.sendSegment(this.iss, 0, TcpFlag.SYN | (withAck ? TcpFlag.ACK : 0));
  }

  /** The host has receive memory again: the window may open (see {@link TcpHost.rxStarved}). */
  rxRelieved(): void {
    this.rxStarved = false;
    this.windowUpdate();
  }

  /** The right edge we may advertise now: buffer room, with receiver SWS avoidance. */
  private rightEdge(): number {
    if (this.rxStarved) return this.rcvAdv; // closed until the host has memory again
    const cfg = this.host.config;
    const buffered = (this.user?.bufferedBytes() ?? 0) + this.ooo.bytes;
    // Memory: received data lies in pool pages (whole pages per segment) until it is read, so
    // the window also stops at what the free pool beyond the reserve can hold.
    const room = Math.max(0, Math.min(cfg.rcvBuf - buffered, this.host.rxPoolPages() * this.payloadPerPage()));
    const maxWnd = 65535 << this.rcvWscale;
    const edge = seqAdd(this.rcvNxt, Math.min(room, maxWnd));
    // RFC 9293 3.8.6.2.2: move the edge only by at least min(buffer / 2, MSS).
    if (seqLe(edge, this.rcvAdv) || seqDiff(edge, this.rcvAdv) < Math.min(cfg.rcvBuf / 2, this.ourMss)) return this.rcvAdv;
    return edge;
  }

  /** Payload bytes a pool page holds when the peer sends full-sized segments. */
  private payloadPerPage(): number {
    const seg = this.ourMss - (this.tsOk ? 12 : 0);
    return Math.floor(seg / pagesFor(seg));
  }

  tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  /**
   * Build and send one segment: sequence `seq`, `len` bytes of the send queue from there, and
   * `flags`. It goes through the interface's transmit frame (output.ts): the header written in
   * place, data by reference to the queue's pages, TSO for more than a segment's worth.
   */
  sendSegment(seq: number, len: number, flags: number): void {
    const host = this.host;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const now = host.clock.nowMs();
    // ECN (ecn.ts): setup flags on SYNs (RFC 3168 6.1.1; a SYN resent twice gives up on ECN,
    // in case a middlebox drops ECN-setup SYNs, 6.1.1.1), ECE/CWR and ECT(0) for new data.
    const newData = len > 0 && !syn && seqGe(seq, this.sndMax);
    if (!syn) flags |= this.ecn.outFlags(flags, newData);
    else if (flags & TcpFlag.ACK) flags |= this.ecn.ok ? TcpFlag.ECE : 0;
    else if (this.backoffs < 2) flags |= EcnState.synFlags(host.config.ecn);
    const ipEcn = this.ecn.ipEcn(newData);
    if (len > 0 || flags & TcpFlag.FIN) this.recovery.dataTransmitted(seq, len + (flags & TcpFlag.FIN ? 1 : 0), now);
    const o = this.emitOpts;
    o.mss = undefined;
    o.windowScale = undefined;
    o.sackPermitted = false;
    o.timestamp = null;
    o.sackBlocks = undefined;
    o.sackBlockCount = 0;
    // Window: right edge never moves left; SYNs carry it unscaled (RFC 7323 2.2).
    let window: number;
    if (syn) {
      o.mss = this.ourMss;
      const cfg = host.config;
      if (this.state === 'SYN-SENT' || this.state === 'CLOSED') {
        if (this.offeredWscale >= 0) o.windowScale = this.offeredWscale;
        o.sackPermitted = cfg.sack;
        if (cfg.timestamps) {
          this.ts.tsVal = this.tsNow(now);
          this.ts.tsEcr = 0;
          o.timestamp = this.ts;
        }
      } else {
        // RFC 7323 2.2: answer with our shift only if the peer offered one (negotiate() cleared
        // offeredWscale otherwise).
        if (this.offeredWscale >= 0) o.windowScale = this.rcvWscale;
        o.sackPermitted = this.sackOk;
        if (this.tsOk) {
          this.ts.tsVal = this.tsNow(now);
          this.ts.tsEcr = this.tsRecent;
          o.timestamp = this.ts;
        }
      }
      window = Math.min(65535, host.config.rcvBuf);
      this.rcvAdv = seqAdd(this.rcvNxt, window);
    } else {
      const edge = this.rightEdge();
      this.rcvAdv = edge;
      window = Math.max(0, seqDiff(edge, this.rcvNxt)) >>> this.rcvWscale;
      if (window > 65535) window = 65535;
      if (this.tsOk) {
        this.ts.tsVal = this.tsNow(now);
        this.ts.tsEcr = this.tsRecent;
        o.timestamp = this.ts;
      }
      if (this.sackOk && this.ooo.sackCount > 0) {
        o.sackBlocks = this.ooo.sackBlocks;
        o.sackBlockCount = this.ooo.sackCount;
      }
    }
    const ack = (flags & TcpFlag.ACK) !== 0 ? this.rcvNxt : 0;
    const hdrLen = 20 + tcpOptionsLengthFast(o);
    // Each TSO piece carries these options too: its payload is what leaves room for them.
    const mssNow = this.sndMss + (this.tsOk ? 32 : 20) - hdrLen;
    // A frame of new data whose last piece is shorter than a segment (a TSO frame's tail, too)
    // is the small segment Minshall's Nagle waits for (Linux tcp_minshall_update).
    if (newData && len % mssNow !== 0) this.sndSml = seqAdd(seq, len);
    const f = this.txFields;
    f.seq = seq;
    f.ack = ack;
    f.flags = flags;
    f.window = window;
    const tso = host.offload && len > mssNow ? mssNow : 0;
    sendTcpSegment(host.iface, this.remoteAddr, f, o, hdrLen, ipEcn, this.sendQueue, seqDiff(seq, this.sndUna), len, tso);
    host.stats.segmentsOut++;
    host.stats.bytesOut += len;
    if (flags & TcpFlag.ACK) {
      this.lastAckSent = this.rcvNxt;
      this.ackPending = 0;
      this.ackNow = false;
      if (this.delackAt !== Infinity) this.delackAt = Infinity;
    }
  }

  /**
   * A pure ACK that left the peer before a segment we already took, and carries nothing but
   * what we know: reordered on the way, not an old duplicate, so PAWS lets it through (Linux
   * tcp_disordered_ack; RFC 7323 5.3 drops it, and then our answer to each such ACK is an ACK
   * of our own). The conditions: no data, no SYN/FIN; SEG.SEQ = RCV.NXT; SEG.ACK = SND.UNA
   * (a duplicate ACK); the window is no update; and its TSval is at most one RTO of
   * timestamp ticks (1 ms here) behind TS.Recent.
   */
  private disorderedAck(seg: SegmentIn): boolean {
    return (
      (seg.flags & (TcpFlag.ACK | TcpFlag.SYN | TcpFlag.FIN)) === TcpFlag.ACK &&
      seg.dataLength === 0 &&
      seg.seq === this.rcvNxt &&
      seg.ack === this.sndUna &&
      seg.window << this.sndWscale === this.sndWnd &&
      seqDiff(this.tsRecent, seg.opts.tsVal) <= this.rtt.rto
    );
  }

  /** A RST with the given sequence number (and ACK when `withAck`). */
  private sendRst(seq: number, ack: number, withAck: boolean): void {
    this.host.stats.resetsOut++;
    sendControlSegment(this.host, this.remoteAddr, this.localPort, this.remotePort, seq, ack, TcpFlag.RST | (withAck ? TcpFlag.ACK : 0), 0);
  }

  // ---------------------------------------------------------------------------------------
  // Timers

  nextDeadline(): number {
    return Math.min(this.rtoAt, this.delackAt, this.persistAt, this.keepaliveAt, this.closeAt, this.recovery.deadline);
  }

  onTimer(now: number): void {
    if (this.closeAt <= now) {
      this.closeAt = Infinity;
      if (this.state === 'TIME-WAIT') {
        this.terminate(null);
        return;
      }
      if (this.state === 'FIN-WAIT-2') {
        this.terminate(new TcpError('ETIMEDOUT', 'FIN-WAIT-2 timed out'));
        return;
      }
    }
    if (this.recovery.deadline <= now) this.recovery.onRackTimer(now); // before the RTO: a PTO re-arms it
    if (this.rtoAt <= now) {
      this.rtoAt = Infinity;
      this.onRetransmitTimeout(now);
      if (this.state === 'CLOSED') return;
    }
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      if (this.ackPending > 0) {
        this.host.stats.delayedAcks++;
        this.ackNow = true;
        this.markDirty();
      }
    }
    if (this.persistAt <= now) {
      this.persistAt = Infinity;
      if (this.sndWnd === 0 && this.sendQueue.length > 0) {
        // Linux's zero-window probe: an old sequence number makes the peer ACK with its window.
        this.host.stats.windowProbes++;
        this.sendSegment(seqAdd(this.sndUna, -1), 0, TcpFlag.ACK);
        this.persistBackoffs++;
        this.persistAt = now + this.persistInterval();
      } else {
        this.swsOverride = true;
        this.markDirty();
      }
    }
    if (this.keepaliveAt <= now) {
      this.keepaliveAt = Infinity;
      if (this.keepaliveEnabled && (this.state === 'ESTABLISHED' || this.state === 'CLOSE-WAIT')) {
        if (this.keepaliveProbesSent >= this.host.config.keepProbes) {
          this.host.stats.connectionsTimedOut++;
          this.terminate(new TcpError('ETIMEDOUT', 'keepalive: peer does not answer'));
          return;
        }
        this.keepaliveProbesSent++;
        this.host.stats.keepaliveProbes++;
        this.sendSegment(seqAdd(this.sndUna, -1), 0, TcpFlag.ACK); // RFC 1122 4.2.3.6
        this.keepaliveAt = now + this.host.config.keepIntervalMs;
      }
    }
  }

  private onRetransmitTimeout(now: number): void {
    const cfg = this.host.config;
    const stats = this.host.stats;
    stats.timeouts++;
    this.backoffs++;
    if (this.state === 'SYN-SENT' || this.state === 'SYN-RECEIVED') {
      if (this.backoffs > cfg.synRetries) {
        stats.connectionsTimedOut++;
        this.terminate(new TcpError('ETIMEDOUT', 'connection timed out', 'connect'));
        return;
      }
      stats.retransmits++;
      this.sendSyn(this.state === 'SYN-RECEIVED');
      this.rtoAt = now + this.rtt.current(this.backoffs);
      this.host.schedule(this);
      return;
    }
    if (this.sndUna === this.sndMax) {
      this.backoffs = 0;
      return;
    }
    if (this.backoffs > cfg.maxRetransmits) {
      stats.connectionsTimedOut++;
      this.terminate(new TcpError('ETIMEDOUT', 'connection timed out'));
      return;
    }
    this.recovery.onTimeout(now);
    this.rttSeq = -1; // Karn
    this.sndNxt = this.sndUna; // go back: resend from the first unacknowledged byte
    this.markDirty();
    this.rtoAt = now + this.rtt.current(this.backoffs);
    this.host.schedule(this);
  }

  // ---------------------------------------------------------------------------------------
  // The end

  /** CLOSED: release everything, tell the user once, leave the layer's tables. */
  terminate(err: TcpError | null): void {
    if (this.state === 'CLOSED') return;
    this.state = 'CLOSED';
    this.rtoAt = this.delackAt = this.persistAt = this.keepaliveAt = this.closeAt = Infinity;
    this.sendQueue.clear();
    for (const w of this.ackWaiters.splice(0)) w.cb(false);
    this.ooo.clear();
    this.host.stats.connectionsClosed++;
    this.host.remove(this);
    this.notifyClosed(err);
  }

  private notifyClosed(err: TcpError | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.error = err;
    this.user?.onClose(err);
  }

  get lastError(): TcpError | null {
    return this.error;
  }

  /** Whether the application may still read (peer has not finished) — for sockets. */
  get peerFinished(): boolean {
    return this.finReceived;
  }
}


/** Pool pages `bytes` of received data take. */
function pagesFor(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE);
}

/** {@link tcpOptionsLength} for the options this file emits, without its generality. */
function tcpOptionsLengthFast(o: TcpOptionsToEmit): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.timestamp) n += 12;
  else if (o.sackPermitted) n += 4;
  if (o.windowScale !== undefined) n += 4;
  if (o.sackBlocks && (o.sackBlockCount ?? 0) > 0) n += 4 + 8 * o.sackBlockCount!;
  return n;
}
