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
import { copyTransportData } from '../iface/interface.js';
import { PAGE_SIZE } from '../mem/arena.js';
import type { PagePool } from '../mem/page-pool.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqInRangeAbove, seqInWindow, seqLe, seqLt, seqMax, seqMin } from '../wire/seq.js';
import { TcpFlag, TcpOptions, type TcpHeaderFields, type TcpOptionsToEmit } from '../wire/tcp.js';
import { windowShiftFor, type TcpConfig } from './config.js';
import { TcpError } from './errors.js';
import { RttEstimator } from './rtt.js';
import { createCongestionControl, type CongestionControl } from './cc/congestion-control.js';
import { RackTlp, TlpVerdict, type RackAck } from './rack.js';
import { SackScoreboard, type SackUpdate } from './sack-scoreboard.js';
import { SendQueue } from './send-queue.js';
import { sendControlSegment } from './control-segment.js';
import { sendTcpSegment } from './output.js';
import { EcnState } from './ecn.js';
import { SpuriousUndo } from './spurious-undo.js';
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
  /** In-order data: copy `len` bytes at `offset` of the datagram's transport message. */
  onData(dgram: Ipv4Datagram, offset: number, len: number): void;
  /** In-order data held in a buffer (from the out-of-order queue). */
  onDataBytes(bytes: Uint8Array): void;
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

interface OooSegment {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

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
  private finQueued = false;
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
  private rtoAt = Infinity;
  private delackAt = Infinity;
  private persistAt = Infinity;
  private keepaliveAt = Infinity;
  private closeAt = Infinity; // TIME-WAIT, FIN-WAIT-2 of orphans
  queuedAt = Infinity;

  private readonly rtt: RttEstimator;
  private backoffs = 0;
  private persistBackoffs = 0;
  /** The override timeout fired: send into a window below one segment (RFC 9293 3.8.6.2.1). */
  private swsOverride = false;
  private keepaliveEnabled = false;
  private keepaliveIdle: number;
  private keepaliveProbesSent = 0;
  /** RTT timing of one segment when timestamps are off (Karn: never a retransmitted one). */
  private rttSeq = -1;
  private rttStart = 0;

  // Congestion control (CUBIC or NewReno behind one interface) and loss recovery state.
  cc: CongestionControl;
  /** The SACK scoreboard (RFC 6675) when the peer agreed to SACK. */
  sb: SackScoreboard | null = null;
  /** RACK-TLP loss detection (RFC 8985): with SACK only; its marks drive the scoreboard's IsLost. */
  rack: RackTlp | null = null;
  /** Spurious-retransmission detection for the congestion controller's undo (RFC 3708, RFC 3522). */
  private readonly undo = new SpuriousUndo();
  private dupAcks = 0;
  private inRecovery = false;
  private recover = 0;
  /** The RTT sample of the ACK being processed (-1: none), and the smallest seen. */
  private lastRtt = -1;
  private minRtt = -1;

  // Receiving.
  private ackPending = 0;
  private ackNow = false;
  private ooo: OooSegment[] = [];
  private oooBytes = 0;
  /** Blocks most recently changed first (RFC 2018 4: the first block reports the latest). */
  private readonly sackOut = new Uint32Array(8);
  private sackOutCount = 0;
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
    private readonly host: TcpHost,
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
    this.recover = this.iss;
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
    this.recover = this.iss;
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
    this.recover = this.iss;
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
    this.syncScoreboard();
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
    this.sb = this.sackOk ? new SackScoreboard(this.sndMss) : null;
    if (this.sb) this.sb.onReject = (reason) => this.countDrop(reason);
    // RFC 8985 2: RACK-TLP needs SACK; without it, NewReno (RFC 6582) as before.
    this.rack = this.sb && cfg.rack ? new RackTlp() : null;
    if (this.sb) this.sb.lossMarks = this.rack;
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
  private dataStart(): number {
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
        this.queueOutOfOrder(finAt, null, true);
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
    this.syncScoreboard();
    this.host.stats.connectionsEstablished++;
    if (this.listenerPort >= 0) this.host.established(this);
    else this.user?.onConnect(); // an active open that met the peer's SYN (simultaneous open)
  }

  /**
   * The scoreboard starts at SND.UNA once the connection is established: synchronised by a later
   * ACK instead, it would start at that ACK's field, which RFC 5961 5.2 lets lie below SND.UNA,
   * and take blocks over octets already acknowledged (the SYN's among them).
   */
  private syncScoreboard(): void {
    this.sb?.update(this.sndUna, NO_SACK_BLOCKS, 0, this.sndMax);
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
      this.syncScoreboard();
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
    let newlySacked = 0;
    const sb = this.sb;
    const sndUnaBefore = this.sndUna;
    const recoveringBefore = this.inRecovery || (sb !== null && !sb.canEnterRecovery());
    let u: SackUpdate | null = null;
    if (sb) {
      const o = seg.opts;
      // D-SACKs below SND.UNA count within the largest window the peer offered (see checkDsackBelow).
      u = sb.update(ack, o.sack, o.sackCount, this.sndMax, Math.max(this.maxSndWnd, this.sndMss));
      newlySacked = u.newlySacked;
      if (u.dsack) this.host.stats.dsacksReceived++;
      // Net of reneged bytes (RFC 2018 8), which a later ACK may SACK again.
      if (newlySacked > 0 || u.reneged > 0) this.host.stats.sackedBytes += newlySacked - u.reneged;
      if (this.rack) this.rackOnAck(seg, u, now);
    }
    if (seqGt(ack, this.sndUna)) {
      this.ackAdvance(seg, now);
      // RFC 6675 5: with SACK, a cumulative ACK may still leave SND.UNA presumed lost.
      if (sb && !this.inRecovery && this.sndUna !== this.sndMax && sb.canEnterRecovery() && sb.isLost(this.sndUna)) this.enterSackRecovery(now);
    } else if (
      ack === this.sndUna &&
      this.sndMax !== this.sndUna &&
      // RFC 5681 2 "duplicate ACK", or RFC 6675 2: an ACK that SACKs new data counts too.
      (newlySacked > 0 || (seg.dataLength === 0 && !(seg.flags & TcpFlag.FIN) && wnd === this.sndWnd))
    ) {
      this.duplicateAck();
    }
    this.lossRecoveryAfterAck(seg, u, sndUnaBefore, recoveringBefore, now);
    if (seg.flags & TcpFlag.ECE && !this.inRecovery && this.ecn.onEce(this.sndUna, this.sndMax)) {
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
    this.congestionOnAck(acked, flightBefore, now);
    if (this.sndUna === this.sndMax) {
      this.rtoAt = Infinity;
    } else {
      this.rtoAt = now + this.rtt.current(0);
      this.host.schedule(this);
    }
    if (freed > 0) this.user?.onSendSpace();
    this.markDirty();
  }

  /**
   * New data acknowledged: outside recovery the congestion controller grows the window
   * (RFC 5681 3.1, RFC 9438); in NewReno recovery (RFC 6582 3.2) a partial ACK retransmits the
   * next hole and a full ACK ends recovery.
   */
  private congestionOnAck(acked: number, flightBefore: number, now: number): void {
    this.dupAcks = 0;
    const mss = this.sndMss;
    const cc = this.cc;
    if (this.inRecovery) {
      if (seqGe(this.sndUna, this.recover)) {
        this.inRecovery = false;
        cc.onRecoveryEnd(now, seqDiff(this.sndMax, this.sndUna));
      } else if (this.sb) {
        this.markDirty(); // RFC 6675: the pipe shrank; output() sends what NextSeg() picks
      } else {
        this.retransmitFirst();
        cc.cwnd = Math.max(mss, cc.cwnd - acked + mss); // deflate by what left, plus the resend
      }
      return;
    }
    cc.onAck({
      acked,
      now,
      rtt: this.lastRtt,
      minRtt: this.minRtt,
      inFlight: flightBefore,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      // RFC 7661: a window the application did not fill says nothing about the network.
      appLimited: flightBefore + mss < cc.cwnd && seqDiff(seqAdd(this.sndUna, this.sendQueue.length), this.sndNxt) <= 0,
    });
  }

  /** RFC 5681 3.2 fast retransmit on the third duplicate ACK; NewReno (RFC 6582). */
  private duplicateAck(): void {
    this.dupAcks++;
    const mss = this.sndMss;
    const cc = this.cc;
    const sb = this.sb;
    if (sb) {
      // RFC 6675 5: recovery on DupThresh duplicate ACKs or when SND.UNA is presumed lost.
      if (this.inRecovery) this.markDirty();
      // With RACK (RFC 8985) its marks replace DupThresh; duplicate ACKs still count when the
      // peer sends no SACK blocks at all.
      else if (sb.canEnterRecovery() && ((this.dupAcks >= 3 && (!this.rack || sb.sackedBytes === 0)) || sb.isLost(this.sndUna))) {
        this.enterSackRecovery(this.host.clock.nowMs());
      }
      return;
    }
    if (this.inRecovery) {
      cc.cwnd += mss; // RFC 5681 3.2 (4): inflate for each segment that left the network
      this.markDirty();
      return;
    }
    // RFC 6582 3.2 step 1: not again for losses of the window already being recovered.
    if (this.dupAcks === 3 && seqGt(this.sndUna, this.recover)) {
      const flight = seqDiff(this.sndMax, this.sndUna);
      cc.onCongestionEvent(this.host.clock.nowMs(), flight);
      this.undo.start(this.sndUna);
      this.recover = this.sndMax;
      this.inRecovery = true;
      this.host.stats.fastRetransmits++;
      this.retransmitFirst();
      cc.cwnd += 3 * mss; // RFC 5681 3.2 (3)
      this.markDirty();
    }
  }

  /**
   * RFC 6675 5 steps (4.1)-(4.2): reduce the window, note the recovery point, and retransmit the
   * first segment presumed lost; NextSeg() and the pipe drive the rest from output().
   */
  private enterSackRecovery(now: number): void {
    const sb = this.sb!;
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.cc.onCongestionEvent(now, flight);
    this.undo.start(this.sndUna);
    this.rack?.endTlpEpisode();
    this.recover = this.sndMax;
    this.inRecovery = true;
    sb.enterRecovery(this.sndUna, this.sndMax);
    this.host.stats.fastRetransmits++;
    // The first segment RACK marked lost (RFC 8985), else SND.UNA (RFC 6675 (4.2)). With RACK,
    // SND.UNA only when the recovery came from DupThresh duplicate ACKs without SACK blocks: a
    // recovery RACK began has a marked segment, and the octet at SND.UNA need not be lost (its
    // retransmission would be spurious, RFC 8985 6.2: RACK's marks alone say what is lost).
    const first = this.rack ? sb.nextSeg(this.sndUna, this.sndNxt, this.sndMax, 0) : null;
    if (this.rack && !(first && first.rule === 1) && sb.sackedBytes > 0) {
      this.markDirty();
      return;
    }
    const seq = first && first.rule === 1 ? first.seq : this.sndUna;
    const len = Math.min(this.effectiveMss(), first && first.rule === 1 ? first.len : sb.unsackedLen(this.sndUna, this.sndMax));
    if (len > 0) {
      this.retransmitRange(seq, len);
      sb.markRetransmitted(seq, len);
    }
    this.markDirty();
  }

  /** Send [seq, seq + len) again, with the FIN when it is part of that range. */
  private retransmitRange(seq: number, len: number): void {
    const dataEnd = seqAdd(this.dataStart(), this.sendQueue.length);
    const dataLen = Math.max(0, Math.min(len, seqDiff(dataEnd, seq)));
    const fin = this.finQueued && seqInWindow(this.finSeq, seq, len) && seqAdd(seq, dataLen) === this.finSeq;
    if (dataLen === 0 && !fin) return;
    this.host.stats.retransmits++;
    this.host.stats.retransmittedBytes += dataLen;
    if (this.rttSeq >= 0) this.rttSeq = -1; // Karn
    this.sendSegment(seq, dataLen, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0));
  }

  /** Send the first unacknowledged segment again. */
  private retransmitFirst(): void {
    const len = Math.min(this.effectiveMss(), this.sendQueue.length, seqDiff(this.sndMax, this.sndUna));
    if (len <= 0) {
      if (this.finQueued && seqLe(this.sndUna, this.finSeq)) this.sendSegment(this.finSeq, 0, TcpFlag.ACK | TcpFlag.FIN);
      return;
    }
    this.retransmitRange(this.sndUna, len);
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
    if (this.host.rxPoolPages() < pagesFor(len) + pagesFor(this.oooBytes)) {
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
      // Out of order: keep a copy (bounded), ACK at once (RFC 5681 4.2: a duplicate ACK).
      const data = new Uint8Array(len);
      copyTransportData(seg.dgram, off, len, data, 0);
      this.queueOutOfOrder(seq, data, false);
      this.ackNow = true;
      return;
    }
    this.rcvNxt = seqAdd(this.rcvNxt, len);
    this.host.stats.bytesIn += len;
    this.user?.onData(seg.dgram, off, len);
    if (this.state === 'CLOSED') return; // the application destroyed it from its data handler
    this.ackPending += len;
    if (this.ooo.length > 0) {
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

  private queueOutOfOrder(seq: number, data: Uint8Array | null, fin: boolean): void {
    const stats = this.host.stats;
    const len = data ? data.length : 0;
    const cfg = this.host.config;
    if (len > 0 && (this.oooBytes + len > cfg.maxOutOfOrderBytes || this.host.oooBytesTotal + len > cfg.maxOutOfOrderBytesTotal)) {
      // A limit bit: the segment is dropped (the peer will send it again), and counted.
      stats.outOfOrderDropped++;
      this.countDrop(this.oooBytes + len > cfg.maxOutOfOrderBytes ? 'tcp-ooo-limit' : 'tcp-ooo-global-limit');
      return;
    }
    stats.outOfOrderSegments++;
    stats.outOfOrderBytes += len;
    // Insert sorted by seq; overlapping data is kept as is and trimmed when drained.
    let i = this.ooo.length;
    while (i > 0 && seqGt(this.ooo[i - 1]!.seq, seq)) i--;
    const prev = this.ooo[i - 1];
    if (prev && prev.seq === seq && (prev.data?.length ?? 0) >= len && prev.fin === fin) {
      // A duplicate: nothing to keep, but its block goes first in the next ACK (RFC 2018 4).
      this.updateSackBlocks(seq, seqAdd(seq, len));
      return;
    }
    this.ooo.splice(i, 0, { seq, data: data ?? EMPTY, fin });
    this.oooBytes += len;
    this.host.oooBytesTotal += len;
    this.updateSackBlocks(seq, seqAdd(seq, len));
  }

  private drainOutOfOrder(): void {
    while (this.ooo.length > 0) {
      const s = this.ooo[0]!;
      if (seqGt(s.seq, this.rcvNxt)) break;
      this.ooo.shift();
      this.oooBytes -= s.data.length;
      this.host.oooBytesTotal -= s.data.length;
      const skip = seqDiff(this.rcvNxt, s.seq);
      if (skip < s.data.length) {
        const part = skip > 0 ? s.data.subarray(skip) : s.data;
        this.rcvNxt = seqAdd(this.rcvNxt, part.length);
        this.host.stats.bytesIn += part.length;
        this.user?.onDataBytes(part);
      }
      if (s.fin && seqAdd(s.seq, s.data.length) === this.rcvNxt) {
        this.receiveFin();
        break;
      }
    }
    // Forget SACK blocks now below rcvNxt.
    let k = 0;
    for (let i = 0; i < this.sackOutCount; i++) {
      const l = this.sackOut[2 * i]!;
      const r = this.sackOut[2 * i + 1]!;
      if (seqGt(r, this.rcvNxt)) {
        this.sackOut[2 * k] = seqMax(l, this.rcvNxt);
        this.sackOut[2 * k + 1] = r;
        k++;
      }
    }
    this.sackOutCount = k;
  }

  /** RFC 2018 4: the block holding the newest segment first, then the others. */
  private updateSackBlocks(l: number, r: number): void {
    if (!this.sackOk || l === r) return;
    // Merge with the blocks it touches.
    const blocks: number[] = [];
    for (let i = 0; i < this.sackOutCount; i++) {
      const bl = this.sackOut[2 * i]!;
      const br = this.sackOut[2 * i + 1]!;
      if (seqLe(bl, r) && seqGe(br, l)) {
        l = seqLt(bl, l) ? bl : l;
        r = seqGt(br, r) ? br : r;
      } else blocks.push(bl, br);
    }
    this.sackOut[0] = l;
    this.sackOut[1] = r;
    const max = this.tsOk ? 3 : 4;
    let n = 1;
    for (let i = 0; i + 1 < blocks.length && n < max; i += 2, n++) {
      this.sackOut[2 * n] = blocks[i]!;
      this.sackOut[2 * n + 1] = blocks[i + 1]!;
    }
    this.sackOutCount = n;
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
  private effectiveMss(): number {
    return this.sackOk && this.sackOutCount > 0 ? this.sndMss - (4 + 8 * this.sackOutCount) : this.sndMss;
  }

  /** The send loop. Returns whether any segment went out. */
  private output(): boolean {
    const mss = this.effectiveMss();
    let sent = false;
    if (this.inRecovery && this.sb) sent = this.outputSackRecovery();
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

  /**
   * RFC 6675 5 (C): while cwnd - pipe >= SMSS, send what NextSeg() picks: lost ranges, new
   * data, unSACKed ranges below the highest SACK, and one rescue retransmission.
   *
   * cwnd is counted here in whole segments, rounded up, as Linux counts it in packets
   * (tcp_packets_in_flight() < snd_cwnd; CUBIC's ssthresh = cwnd * beta is a byte count here,
   * e.g. 2.8 SMSS). Rounded down, a small window stops at the retransmission: nothing is sent
   * after it, so when that retransmission is lost no later-sent segment can be delivered for
   * RACK to see it (RFC 8985 6.2, "lost retransmissions"), no PTO is armed in recovery (RFC 8985
   * 7.2), and only the RTO repairs it. At most one segment beyond the byte window.
   */
  private outputSackRecovery(): boolean {
    const sb = this.sb!;
    const mss = this.effectiveMss();
    let pipe = sb.pipe(this.sndUna, this.sndMax);
    let sent = false;
    const cwnd = Math.ceil(this.cc.cwnd / mss) * mss;
    for (let guard = 0; guard < 1024 && cwnd - pipe >= mss; guard++) {
      const dataEnd = seqAdd(this.sndUna, this.sendQueue.length);
      const unsent = seqGt(dataEnd, this.sndNxt) ? seqDiff(dataEnd, this.sndNxt) : 0;
      const wndRoom = Math.max(0, seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt));
      const next = sb.nextSeg(this.sndUna, this.sndNxt, this.sndMax, Math.min(unsent, wndRoom));
      if (!next) break;
      // Beyond the byte window only new data: the segment sent after the retransmissions.
      if (this.cc.cwnd - pipe < mss && next.rule !== 2) break;
      const len = Math.min(next.len, mss);
      if (next.rule === 2) {
        const fin = this.finQueued && seqAdd(this.sndNxt, len) === this.finSeq;
        this.sendSegment(this.sndNxt, len, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0));
        this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
        if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      } else {
        this.retransmitRange(next.seq, len);
        if (next.rule === 4) sb.markRescue();
        else sb.markRetransmitted(next.seq, len);
      }
      pipe += len;
      sent = true;
      this.armRto();
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

  private armRto(): void {
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
    const buffered = (this.user?.bufferedBytes() ?? 0) + this.oooBytes;
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

  private tsNow(now: number): number {
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
    if (len > 0 || flags & TcpFlag.FIN) this.dataTransmitted(seq, len + (flags & TcpFlag.FIN ? 1 : 0), now);
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
      if (this.sackOk && this.sackOutCount > 0) {
        o.sackBlocks = this.sackOut;
        o.sackBlockCount = this.sackOutCount;
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
    return Math.min(this.rtoAt, this.delackAt, this.persistAt, this.keepaliveAt, this.closeAt, this.rack ? this.rack.deadline : Infinity);
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
    if (this.rack && this.rack.deadline <= now) this.onRackTimer(now); // before the RTO: a PTO re-arms it
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
    // RFC 5681 3.1 (4): after a timeout, one segment and slow start from half the flight.
    this.cc.onTimeout(now, seqDiff(this.sndMax, this.sndUna));
    if (this.backoffs === 1 || !this.undo.active) this.undo.start(this.sndUna);
    this.rack?.onRto();
    this.sb?.onTimeout(this.sndUna, this.sndMax);
    this.inRecovery = false;
    this.recover = this.sndMax;
    this.dupAcks = 0;
    this.rttSeq = -1; // Karn
    this.sndNxt = this.sndUna; // go back: resend from the first unacknowledged byte
    this.markDirty();
    this.rtoAt = now + this.rtt.current(this.backoffs);
    this.host.schedule(this);
  }

  // ---------------------------------------------------------------------------------------
  // RACK-TLP (RFC 8985) and spurious-retransmission undo (RFC 3708, RFC 3522): the engine's
  // side. The algorithms are in rack.ts and spurious-undo.ts; these methods feed them and act.

  /** One reused argument for RackTlp.onAck. */
  private readonly rackAck: RackAck = {
    ack: 0,
    sndUnaBefore: 0,
    sndNxt: 0,
    blocks: new Uint32Array(0),
    count: 0,
    dsack: false,
    dsackStart: 0,
    dsackEnd: 0,
    pureDupAck: false,
    echoedSentAt: -1,
    minRtt: -1,
  };

  /** Fast recovery, or RTO recovery until RecoveryPoint (RFC 6675 5.1). */
  private recovering(): boolean {
    return this.inRecovery || (this.sb !== null && !this.sb.canEnterRecovery());
  }

  /** RFC 8985 6.2 and 7.4 for one acceptable ACK, after the scoreboard took it. */
  private rackOnAck(seg: SegmentIn, u: SackUpdate, now: number): void {
    const rack = this.rack!;
    const sb = this.sb!;
    const a = this.rackAck;
    const o = seg.opts;
    a.ack = seg.ack;
    a.sndUnaBefore = this.sndUna;
    a.sndNxt = this.sndNxt;
    // The blocks the scoreboard accepted: a bogus block is no evidence of delivery.
    a.blocks = sb.validBlocks;
    a.count = sb.validCount;
    a.dsack = u.dsack;
    a.dsackStart = u.dsackStart;
    a.dsackEnd = u.dsackEnd;
    a.pureDupAck = seg.ack === this.sndUna && seg.dataLength === 0 && o.sackCount === 0 && !(seg.flags & (TcpFlag.SYN | TcpFlag.FIN));
    a.echoedSentAt = this.tsOk && o.hasTimestamp && o.tsEcr !== 0 ? now - seqDiff(this.tsNow(now), o.tsEcr) : -1;
    a.minRtt = this.minRtt;
    if (u.reneged > 0) rack.onReneged(sb);
    const verdict = rack.onAck(a, now, sb);
    if (verdict === TlpVerdict.RepairedLoss) {
      // RFC 8985 7.4.2: the probe repaired a loss: the congestion response of a fast recovery.
      this.host.stats.tlpRepairs++;
      this.cc.onCongestionEvent(now, seqDiff(this.sndMax, this.sndUna));
      this.undo.cancel();
    }
    this.rackDetectLoss(now);
  }

  /** RFC 8985 6.2 step 5, and the reorder timer it arms. */
  private rackDetectLoss(now: number): void {
    const rack = this.rack!;
    const marked = rack.detectLoss(now, this.minRtt, this.rtt.srtt, this.sb!.sackedBytes, this.sndMss, this.recovering());
    if (marked > 0) {
      this.host.stats.rackMarkedLost += marked;
      this.markDirty(); // NextSeg() retransmits what was marked
    }
    if (rack.reoAt !== Infinity) this.host.schedule(this);
  }

  /**
   * After an ACK: recovery by RACK's marks (RFC 8985 6.2: a segment marked lost starts fast
   * recovery, through the controller's fast-recovery entry), the end of a recovery for RACK's
   * reordering window, spurious-retransmission undo, and the PTO (RFC 8985 7.2).
   */
  private lossRecoveryAfterAck(seg: SegmentIn, u: SackUpdate | null, sndUnaBefore: number, recoveringBefore: boolean, now: number): void {
    const sb = this.sb;
    const rack = this.rack;
    if (rack && sb && !this.inRecovery && rack.pendingBytes > 0 && this.sndUna !== this.sndMax && sb.canEnterRecovery()) this.enterSackRecovery(now);
    const advanced = seqGt(this.sndUna, sndUnaBefore);
    let spurious = u !== null && u.dsack && this.undo.onDsack(u.dsackStart, u.dsackEnd);
    if (!spurious && advanced && this.tsOk && seg.opts.hasTimestamp) spurious = this.undo.onAckAdvanced(seg.ack, seg.opts.tsEcr);
    if (spurious) this.undoReduction();
    if (rack && recoveringBefore && !this.recovering()) rack.onRecoveryExit();
    // RFC 8985 7.2: re-arm on an ACK of new data; SACKed data stops the PTO.
    if (rack && (advanced || sb!.sackedBytes > 0)) this.schedulePto(now, seqDiff(this.sndMax, this.sndUna));
  }

  /**
   * The congestion controller's last reduction was spurious: restore it (its undo()), and leave
   * the recovery it began without onRecoveryEnd (congestion-control.ts).
   */
  private undoReduction(): void {
    this.host.stats.undos++;
    this.undo.cancel();
    this.cc.undo();
    this.inRecovery = false;
    this.dupAcks = 0;
    this.sb?.exitRecovery();
    this.markDirty();
  }

  /** RFC 8985 7.2: arm (or stop) the PTO for a flight of `flight` bytes. */
  private schedulePto(now: number, flight: number): void {
    const rack = this.rack!;
    const rtoExpire = this.rtoAt !== Infinity ? this.rtoAt : now + this.rtt.current(this.backoffs);
    rack.schedulePto(now, this.rtt.hasSample ? this.rtt.srtt : 0, flight, this.sndMss, this.sb!.sackedBytes, this.recovering(), rtoExpire);
    if (rack.ptoAt !== Infinity) this.host.schedule(this);
  }

  /** [seq, seq + n) is going out (data, or a FIN): transmit times, retransmission accounting, the PTO. */
  private dataTransmitted(seq: number, n: number, now: number): void {
    const end = seqAdd(seq, n);
    if (seqLt(seq, this.sndMax)) this.undo.onRetransmit(seq, Math.min(n, seqDiff(this.sndMax, seq)), this.tsOk ? this.tsNow(now) : -1);
    const rack = this.rack;
    if (!rack) return;
    rack.onTransmit(seq, end, now);
    // RFC 8985 7.2: new data (not itself a probe: an episode is then open) re-arms the PTO.
    if (seqGt(end, this.sndMax)) this.schedulePto(now, seqDiff(end, this.sndUna));
  }

  /** The RACK reorder timer (RFC 8985 6.2 step 5) or the PTO (RFC 8985 7.3) fired. */
  private onRackTimer(now: number): void {
    const rack = this.rack!;
    if (rack.reoAt <= now) {
      rack.reoAt = Infinity;
      this.rackDetectLoss(now);
      if (!this.inRecovery && rack.pendingBytes > 0 && this.sndUna !== this.sndMax && this.sb!.canEnterRecovery()) this.enterSackRecovery(now);
    }
    if (rack.ptoAt <= now) {
      rack.ptoAt = Infinity;
      this.sendTlpProbe(now);
    }
  }

  /**
   * RFC 8985 7.3: one probe, whatever cwnd says: a new segment if there is one and the peer's
   * window takes it, else the highest segment sent again. Then the RTO is armed afresh.
   */
  private sendTlpProbe(now: number): void {
    const rack = this.rack!;
    const s = this.state;
    if (!(s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK')) return;
    if (this.sndUna === this.sndMax || this.recovering() || rack.tlpActive) return;
    const mss = this.effectiveMss();
    const dataEnd = seqAdd(this.sndUna, this.sendQueue.length);
    const unsent = seqGt(dataEnd, this.sndNxt) ? seqDiff(dataEnd, this.sndNxt) : 0;
    const wndRoom = Math.max(0, seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt));
    this.host.stats.tlpProbes++;
    if (unsent > 0 && wndRoom > 0 && this.sndNxt === this.sndMax) {
      const len = Math.min(mss, unsent, wndRoom);
      const fin = this.finQueued && seqAdd(this.sndNxt, len) === this.finSeq;
      const next = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
      rack.onProbeSent(false, next);
      this.sendSegment(this.sndNxt, len, TcpFlag.ACK | (len === unsent ? TcpFlag.PSH : 0) | (fin ? TcpFlag.FIN : 0));
      this.sndNxt = next;
      if (seqGt(next, this.sndMax)) this.sndMax = next;
    } else {
      const last = rack.lastSegmentStart();
      let seq = last >= 0 && seqGe(last, this.sndUna) && seqDiff(this.sndMax, last) <= mss ? last : seqAdd(this.sndMax, -mss);
      if (seqLt(seq, this.sndUna)) seq = this.sndUna;
      rack.onProbeSent(true, this.sndMax);
      this.retransmitRange(seq, seqDiff(this.sndMax, seq));
    }
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
    this.ooo = [];
    this.host.oooBytesTotal -= this.oooBytes;
    this.oooBytes = 0;
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

const EMPTY = new Uint8Array(0);
const NO_SACK_BLOCKS = new Uint32Array(0);

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
