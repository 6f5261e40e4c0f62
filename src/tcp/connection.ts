/**
 * One TCP connection: its identity, its state, the skeleton of RFC 9293 3.10.7 (segment
 * arrival, in the order the RFC checks: PAWS (RFC 7323 5.3), acceptability, RST and SYN with
 * RFC 5961's challenge ACKs, ACK, text, FIN) and the application's calls (3.10.1-3.10.5). The
 * work is done by its parts, each owning its state, as gVisor and Linux split theirs:
 * handshake.ts (opening and option negotiation), sender.ts (send sequence space, ACK
 * processing, send loop, RTT; loss recovery in recovery.ts), receiver.ts (receive sequence
 * space, ACK policy, window, out-of-order queue), output.ts (building the segments), and
 * timers.ts.
 *
 * Nothing here does I/O or reads a clock of its own: segments come in through
 * {@link segmentArrives}, time through {@link onTimer}, and segments go out through the host's
 * egress ({@link TcpHost.egress}).
 */
import type { Clock } from '../clock.js';
import type { TransportEgress } from '../iface/transport.js';
import type { RxMemory } from '../mem/rx-memory.js';
import type { RxPayload } from '../mem/rx-payload.js';
import type { PagePool } from '../mem/page-pool.js';
import { seqAdd, seqDiff, seqGt, seqLt } from '../wire/seq.js';
import { tcpEvent, tcpLogEnabled } from './event-log.js';
import { TcpFlag, TcpOptions } from '../wire/tcp.js';
import { windowShiftFor, type TcpConfig } from './config.js';
import type { CongestionControl } from './cc/congestion-control.js';
import { sendControlSegment } from './control-segment.js';
import { EcnState } from './ecn.js';
import { TcpError } from './errors.js';
import { openActive, openFromCookie, openPassive, synAgain, synReceivedAck, synSentArrives, type CookieOptions } from './handshake.js';
import { sendConnectionSegment } from './output.js';
import type { RackTlp } from './rack.js';
import type { TcpDropReason, TcpDrops } from './reasons.js';
import { TcpReceiver } from './receiver.js';
import type { LossRecovery } from './recovery.js';
import type { SackScoreboard } from './sack-scoreboard.js';
import { TcpSender } from './sender.js';
import type { SendQueue } from './send-queue.js';
import { isSynchronized } from './states.js';
import type { Scheduled } from './timer-queue.js';
import { ConnectionTimers } from './timers.js';

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
  /** The transport message (header and data), and the IP header's type-of-service byte. */
  payload: RxPayload;
  tos: number;
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
  /**
   * ACKs not sent because in-order segments read in one receive batch were acknowledged by
   * one ACK at the batch's end (as Linux's GRO coalesces them): the every-second-segment ACKs
   * the batch's data would have had, less the one it got.
   */
  acksCoalesced: number;
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
  /** Where segments leave (the interface, or a test's fake). */
  readonly egress: TransportEgress;
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
  /**
   * Call `c.user.onBatchEnd()` once the current receive batch is delivered, before its output is
   * flushed. False when no batch is under way: the caller then gives the application its turn.
   */
  atBatchEnd(c: TcpConnection): boolean;
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
  /**
   * Count a segment or block dropped for `reason`: one function of the host's that connections'
   * parts keep, instead of a closure per connection.
   */
  readonly countDrop: (reason: TcpDropReason) => void;
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
  /**
   * The receive batch ends, after {@link TcpConnection.atBatchEnd} asked for it: the application
   * may read now, and the ACK that goes out next carries the window its reading opened.
   */
  onBatchEnd?(): void;
}

/** What `ss -ti` shows of a connection (Linux's struct tcp_info, the part tapstack has). */
export interface TcpInfo {
  id: number;
  state: TcpState;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  /** Congestion window and slow-start threshold, bytes. */
  cwnd: number;
  ssthresh: number;
  mss: number;
  /** Smoothed RTT and its variation, and the retransmission timeout, ms. */
  srttMs: number;
  rttvarMs: number;
  rtoMs: number;
  retransmits: number;
  bytesAcked: number;
  bytesReceived: number;
  /** Acknowledged bytes per second over the last round trip or more. */
  deliveryRate: number;
  /** Send queue (unacknowledged and unsent) and out-of-order bytes held. */
  sendQueueBytes: number;
  outOfOrderBytes: number;
  /** The peer's window and ours, bytes. */
  sndWnd: number;
  rcvWnd: number;
}

/** RFC 7323 5.5: timestamps older than 24 days are not trusted for PAWS. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

let nextId = 1;

export class TcpConnection implements Scheduled {
  readonly id = nextId++;
  private st: TcpState = 'CLOSED';
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly localPort: number;
  user: TcpUser | null = null;
  /** Set for a passive connection until it is accepted. */
  listenerPort = -1;
  /** The application let go of it (closed without waiting): FIN-WAIT-2 is bounded then. */
  orphaned = false;
  /** The layer's timer queue: when this connection was queued (Infinity: not queued). */
  queuedAt = Infinity;

  /** The sending half (sender.ts) and the receiving half (receiver.ts). */
  readonly snd: TcpSender;
  readonly rcv: TcpReceiver;
  readonly timers: ConnectionTimers;

  // What the handshake agreed (handshake.ts).
  /** Our MSS as sent in the SYN (RFC 9293 3.7.1): the MTU less the IPv4 and TCP headers. */
  readonly ourMss: number;
  /** The window shift we offer in SYNs and SYN-ACKs (-1: none, or the peer sent none). */
  offeredWindowScale: number;
  tsOk = false;
  sackOk = false;
  /** RFC 7323 5.4: this connection's offset of the timestamp clock, keyed by the quadruple. */
  private readonly tsOffset: number;
  /** RFC 3168 state: negotiated or not, echo, CWR (ecn.ts). */
  readonly ecn: EcnState;

  private closedNotified = false;
  private error: TcpError | null = null;
  private dirty = false;
  /** Set by {@link atBatchEnd}, cleared by the layer as it calls the user. */
  batchEndAsked = false;

  constructor(
    readonly host: TcpHost,
    remoteAddr: number,
    remotePort: number,
    localPort: number,
  ) {
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    this.localPort = localPort;
    const cfg = host.config;
    this.ourMss = host.egress.mtu - 40;
    this.ecn = new EcnState(host.stats);
    this.snd = new TcpSender(this, host);
    this.rcv = new TcpReceiver(this);
    this.timers = new ConnectionTimers(this);
    this.offeredWindowScale = cfg.windowScaling ? windowShiftFor(cfg.rcvBuf) : -1;
    // Keyed by the quadruple, so that a connection made from a SYN cookie continues the
    // SYN-ACK's clock.
    this.tsOffset = host.tsOffset(this);
  }

  // ---------------------------------------------------------------------------------------
  // What the parts hold, as the layer, the socket and the tests read it

  get state(): TcpState {
    return this.st;
  }

  /** Every change of state goes through here, and to the log (tapstack:tcp). */
  set state(s: TcpState) {
    if (s !== this.st && tcpLogEnabled()) tcpEvent(this.host.clock, this, '%s -> %s', this.st, s);
    this.st = s;
  }

  /** A snapshot for `tapstack ss`: state, windows, RTT, retransmissions, bytes, rate. */
  info(): TcpInfo {
    const snd = this.snd;
    const cc = snd.cc;
    return {
      id: this.id,
      state: this.state,
      localPort: this.localPort,
      remoteAddr: this.remoteAddr,
      remotePort: this.remotePort,
      cwnd: cc.cwnd,
      ssthresh: cc.ssthresh,
      mss: snd.sndMss,
      srttMs: snd.rtt.srtt,
      rttvarMs: snd.rtt.rttvar,
      rtoMs: snd.rtt.rto,
      retransmits: snd.retransmits,
      bytesAcked: snd.bytesAcked,
      bytesReceived: this.rcv.bytesReceived,
      deliveryRate: snd.deliveryRate,
      sendQueueBytes: snd.sendQueue.length,
      outOfOrderBytes: this.outOfOrderBytes,
      sndWnd: snd.sndWnd,
      rcvWnd: seqDiff(this.rcvAdv, this.rcvNxt),
    };
  }

  get iss(): number {
    return this.snd.iss;
  }
  get sndUna(): number {
    return this.snd.sndUna;
  }
  get sndNxt(): number {
    return this.snd.sndNxt;
  }
  get sndMax(): number {
    return this.snd.sndMax;
  }
  get sndWnd(): number {
    return this.snd.sndWnd;
  }
  get sndMss(): number {
    return this.snd.sndMss;
  }
  get sndWscale(): number {
    return this.snd.sndWscale;
  }
  get sendQueue(): SendQueue {
    return this.snd.sendQueue;
  }
  // The sender makes its controller and recovery when it first sends (TcpSender.sending); these
  // views make them at once, so what they show is what sending will use.
  get cc(): CongestionControl {
    this.snd.sending();
    return this.snd.cc;
  }
  get recovery(): LossRecovery {
    this.snd.sending();
    return this.snd.recovery;
  }
  /** The SACK scoreboard (RFC 6675) when the peer agreed to SACK (sack-recovery.ts owns it). */
  get sb(): SackScoreboard | null {
    return this.recovery.sb;
  }
  /** RACK-TLP (RFC 8985), with SACK only (sack-recovery.ts owns it). */
  get rack(): RackTlp | null {
    return this.recovery.rack;
  }
  get rcvNxt(): number {
    return this.rcv.rcvNxt;
  }
  get rcvAdv(): number {
    return this.rcv.rcvAdv;
  }
  get rcvWscale(): number {
    return this.rcv.rcvWscale;
  }
  /** Bytes held out of order (bounded by config.maxOutOfOrderBytes). */
  get outOfOrderBytes(): number {
    return this.rcv.ooo.bytes;
  }
  /** SACK blocks our next segment carries (0 without SACK). */
  get sackCount(): number {
    return this.rcv.sackCount;
  }

  // ---------------------------------------------------------------------------------------
  // Opening (handshake.ts)

  /** Active open: send a SYN (RFC 9293 3.10.1). */
  connect(): void {
    openActive(this);
  }

  /** Passive open: a SYN arrived at a listener (RFC 9293 3.10.7.2). */
  acceptSyn(seg: SegmentIn): void {
    openPassive(this, seg);
  }

  /** A connection made from a valid SYN-cookie ACK (RFC 4987 3.6). */
  acceptCookie(seg: SegmentIn, d: CookieOptions): void {
    openFromCookie(this, seg, d);
  }

  // ---------------------------------------------------------------------------------------
  // Application calls

  /** Free space in the send buffer. */
  sendSpace(): number {
    return this.snd.sendSpace();
  }

  /** Queue bytes (copied) for sending; returns how many were taken. */
  write(data: Uint8Array): number {
    return this.snd.write(data);
  }

  /** Queue bytes (copied) beyond the send buffer's bound; `onAcked` once acknowledged (see TcpSender.writeAll). */
  writeAll(data: Uint8Array, onAcked: (acked: boolean) => void): boolean {
    return this.snd.writeAll(data, onAcked);
  }

  /** Queue a pool page by reference (zero-copy); `onAcked` when all of it is acknowledged. */
  writePage(page: number, len: number, onAcked: (acked: boolean, copied: boolean) => void): boolean {
    return this.snd.writePage(page, len, onAcked);
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
        this.snd.queueFin();
        return;
      default:
        return;
    }
  }

  /** Abort (RFC 9293 3.10.5): RST unless nothing was synchronized, then forget everything; `err` goes to the user. */
  abort(err: TcpError | null = null): void {
    const s = this.state;
    if (s === 'SYN-RECEIVED' || s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2' || s === 'CLOSE-WAIT') {
      this.sendRst(this.snd.sndNxt, 0, false, 'aborted');
    }
    this.terminate(err);
  }

  /** The application read data: the window may have opened enough to tell the peer. */
  windowUpdate(): void {
    this.rcv.windowUpdate();
  }

  /** The host has receive memory again: the window may open (see {@link TcpHost.rxStarved}). */
  rxRelieved(): void {
    this.rcv.rxRelieved();
  }

  setNoDelay(on: boolean): void {
    this.snd.noDelay = on;
    if (on) this.markDirty();
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.timers.setKeepAlive(on, idleMs, this.host.clock.nowMs());
    this.host.schedule(this);
  }

  // ---------------------------------------------------------------------------------------
  // Segment arrival (RFC 9293 3.10.7)

  segmentArrives(seg: SegmentIn): void {
    const now = this.host.clock.nowMs();
    this.timers.heardFromPeer(now);
    if (this.state === 'SYN-SENT') return synSentArrives(this, seg);
    const rcv = this.rcv;
    const flags = seg.flags;
    const rst = (flags & TcpFlag.RST) !== 0;
    const o = seg.opts;

    // RFC 7323 5.3 PAWS: a segment whose TSval is older than TS.Recent is a duplicate, unless
    // it is a pure duplicate ACK overtaken by a later segment (see disorderedAck).
    if (this.tsOk && o.hasTimestamp && !rst && seqLt(o.tsVal, rcv.tsRecent) && now - rcv.tsRecentAt < PAWS_IDLE_MS && !this.disorderedAck(seg)) {
      this.host.stats.pawsDropped++;
      this.countDrop('tcp-paws');
      this.sendAck();
      return;
    }
    if (this.state === 'SYN-RECEIVED' && synAgain(this, seg, now)) return;
    // TIME-WAIT: a retransmitted FIN (its sequence number is already below RCV.NXT) is
    // acknowledged and restarts the 2 MSL wait (RFC 9293 3.10.7.4, "eighth").
    if (this.state === 'TIME-WAIT' && flags & TcpFlag.FIN && !rst && seqAdd(seg.seq, seg.dataLength + 1) === rcv.rcvNxt) {
      this.timers.timeWait(now);
      this.sendAck();
      return;
    }

    // First: is the sequence number acceptable (RFC 9293 3.10.7.4, the four cases)?
    let segLen = seg.dataLength;
    if (flags & TcpFlag.SYN) segLen++;
    if (flags & TcpFlag.FIN) segLen++;
    if (!rcv.acceptable(seg.seq, segLen)) {
      // Old duplicates, data into a zero window, segments far outside it: an ACK says where
      // we are (not for RSTs, RFC 9293 3.10.7.4), and the drop is counted.
      this.countDrop(seg.dataLength > 0 && rcv.window === 0 ? 'tcp-zero-window' : seqLt(seg.seq, rcv.rcvNxt) ? 'tcp-old-duplicate' : 'tcp-outside-window');
      if (!rst) {
        this.host.stats.duplicateSegments++;
        this.sendAck();
      }
      return;
    }

    // Second: RST (RFC 5961 3.2: exact match resets, in-window earns a challenge ACK).
    if (rst) return this.resetArrives(seg);

    // Fourth: SYN in a synchronized state (RFC 5961 4.2: challenge ACK).
    if (flags & TcpFlag.SYN) {
      this.countDrop('tcp-syn-in-window');
      this.challengeAck();
      return;
    }

    // RFC 3168 6.1.3: CE to echo, CWR to stop echoing.
    this.ecn.onSegment(flags, seg.tos & 3);

    // Fifth: ACK.
    if (!(flags & TcpFlag.ACK)) return;
    rcv.noteTimestamp(seg, now);
    if (this.state === 'SYN-RECEIVED') {
      if (!synReceivedAck(this, seg, now)) return;
    } else if (!this.snd.onAck(seg, now) || !this.ackMovesState(seg, now)) {
      return;
    }
    if (this.state === 'CLOSED') return;

    // Sixth: URG. RFC 6093: urgent data is delivered inline as ordinary data; the pointer is
    // only noted (an urgent pointer past the data is harmless then).
    if (flags & TcpFlag.URG) this.countDrop('tcp-urgent-ignored');

    // Seventh: segment text. In CLOSE-WAIT and later the peer already sent FIN: data is
    // ignored (RFC 9293).
    if (seg.dataLength > 0) {
      const s = this.state;
      if (s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2') rcv.receiveData(seg);
    }

    // Eighth: FIN.
    if (flags & TcpFlag.FIN) rcv.fin(seqAdd(seg.seq, seg.dataLength));
    rcv.afterSegment();
  }

  /** RFC 9293 3.10.7.4 "second", for an acceptable RST (RFC 5961 3.2). */
  private resetArrives(seg: SegmentIn): void {
    this.host.stats.resetsIn++;
    if (seg.seq !== this.rcv.rcvNxt) {
      this.countDrop('tcp-rst-in-window');
      this.challengeAck();
      return;
    }
    const s = this.state;
    // A passive SYN-RECEIVED goes back to LISTEN: the listener simply forgets this one.
    if ((s === 'SYN-RECEIVED' && this.listenerPort >= 0) || s === 'CLOSING' || s === 'LAST-ACK' || s === 'TIME-WAIT') {
      this.terminate(null);
      return;
    }
    this.host.stats.connectionsReset++;
    this.terminate(new TcpError('ECONNRESET', 'connection reset by peer'));
  }

  /** RFC 9293 3.10.7.4 "fifth": what an acceptable ACK does to the state. Returns false to stop processing. */
  private ackMovesState(seg: SegmentIn, now: number): boolean {
    const finAcked = this.snd.finAcked;
    switch (this.state) {
      case 'FIN-WAIT-1':
        if (finAcked) {
          this.state = 'FIN-WAIT-2';
          if (this.orphaned) this.timers.finWait2(now);
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
          this.rcv.ackNow = true;
          this.timers.timeWait(now);
        }
        break;
    }
    return true;
  }

  /** The receiver reached the peer's FIN (RFC 9293 3.10.7.4 "eighth"): the state moves. */
  finReached(): void {
    const now = this.host.clock.nowMs();
    const user = this.user; // TIME-WAIT below tells it the connection closed, then lets it go
    switch (this.state) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.state = 'CLOSE-WAIT';
        this.rcv.ackAfterApp = true; // the application may answer and close: see ackAfterApp
        break;
      case 'FIN-WAIT-1':
        if (this.snd.finAcked) this.enterTimeWait(now);
        else this.state = 'CLOSING';
        break;
      case 'FIN-WAIT-2':
        this.enterTimeWait(now);
        break;
    }
    this.markDirty();
    user?.onEnd();
  }

  private enterTimeWait(now: number): void {
    this.state = 'TIME-WAIT';
    this.snd.timeWait();
    this.rcv.delackAt = Infinity;
    this.timers.stopKeepalive();
    this.timers.timeWait(now);
    this.notifyClosed(null);
  }

  /**
   * RFC 6191: may a SYN reuse this TIME-WAIT connection's quadruple? Yes when its timestamp is
   * newer than the last one seen, or (without timestamps) its sequence number is beyond ours.
   */
  acceptsNewIncarnation(seg: SegmentIn): boolean {
    if (this.state !== 'TIME-WAIT') return false;
    if (this.tsOk && seg.opts.hasTimestamp) return seqGt(seg.opts.tsVal, this.rcv.tsRecent);
    return seqGt(seg.seq, this.rcv.rcvNxt);
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
    const snd = this.snd;
    return (
      (seg.flags & (TcpFlag.ACK | TcpFlag.SYN | TcpFlag.FIN)) === TcpFlag.ACK &&
      seg.dataLength === 0 &&
      seg.seq === this.rcv.rcvNxt &&
      seg.ack === snd.sndUna &&
      seg.window << snd.sndWscale === snd.sndWnd &&
      seqDiff(this.rcv.tsRecent, seg.opts.tsVal) <= snd.rtt.rto
    );
  }

  countDrop(reason: TcpDropReason): void {
    this.host.countDrop(reason);
  }

  // ---------------------------------------------------------------------------------------
  // Output

  markDirty(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.host.markDirty(this);
  }

  /** The user hears {@link TcpUser.onBatchEnd} at this batch's end (once); false outside a batch. */
  atBatchEnd(): boolean {
    if (this.batchEndAsked) return true;
    if (!this.host.atBatchEnd(this)) return false;
    this.batchEndAsked = true;
    return true;
  }

  /** Send what is due: data the windows allow, a FIN, or an ACK (called once per batch). */
  flush(): void {
    const rcv = this.rcv;
    if (rcv.ackAfterApp) {
      rcv.ackAfterApp = false;
      this.host.markDirtyAfterApp(this); // still dirty: flushed then
      return;
    }
    this.dirty = false;
    const s = this.state;
    if (!isSynchronized(s)) {
      if (rcv.ackNow && s === 'SYN-RECEIVED') rcv.ackNow = false;
      return;
    }
    let sent = false;
    if (s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK') sent = this.snd.output();
    if (!sent && rcv.ackDue()) this.sendAck();
    const snd = this.snd;
    if (snd.finQueued && (s === 'ESTABLISHED' || s === 'CLOSE-WAIT') && seqGt(snd.sndNxt, snd.finSeq)) {
      this.state = s === 'ESTABLISHED' ? 'FIN-WAIT-1' : 'LAST-ACK';
    }
  }

  /** One segment of ours: `len` bytes of the send queue from `seq`, with `flags` (output.ts). */
  sendSegment(seq: number, len: number, flags: number): void {
    sendConnectionSegment(this, seq, len, flags);
  }

  sendAck(): void {
    this.sendSegment(this.snd.sndNxt, 0, TcpFlag.ACK);
  }

  /** RFC 5961 3.2, 4.2, 5.2: an ACK that says where we are, rate-limited (section 7). */
  challengeAck(): void {
    if (!this.host.allowChallengeAck()) return;
    this.host.stats.challengeAcks++;
    this.sendAck();
  }

  /** A RST with the given sequence number (and ACK when `withAck`); `why` goes to the log. */
  sendRst(seq: number, ack: number, withAck: boolean, why: string): void {
    this.host.stats.resetsOut++;
    tcpEvent(this.host.clock, this, 'RST sent (%s)', why);
    sendControlSegment(this.host, this.remoteAddr, this.localPort, this.remotePort, seq, ack, TcpFlag.RST | (withAck ? TcpFlag.ACK : 0), 0);
  }

  tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  // ---------------------------------------------------------------------------------------
  // Timers (timers.ts)

  scheduleTimers(): void {
    this.host.schedule(this);
  }

  /** Data was dropped for want of receive memory (receiver.ts): the host calls rxRelieved() later. */
  waitForMemory(): void {
    this.host.rxStarved(this);
  }

  nextDeadline(): number {
    return this.timers.deadline();
  }

  onTimer(now: number): void {
    this.timers.run(now);
  }

  // ---------------------------------------------------------------------------------------
  // The end

  /** CLOSED: release everything, tell the user once, leave the layer's tables. */
  terminate(err: TcpError | null): void {
    if (this.state === 'CLOSED') return;
    if (err) tcpEvent(this.host.clock, this, 'failed: %s (%s)', err.code, err.message);
    this.state = 'CLOSED';
    this.timers.stop();
    this.snd.clear();
    this.rcv.clear();
    this.host.stats.connectionsClosed++;
    this.host.remove(this);
    this.notifyClosed(err);
  }

  private notifyClosed(err: TcpError | null): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.error = err;
    this.user?.onClose(err);
    // Told: the application's socket owes this connection nothing more, and is not kept alive
    // by it through TIME-WAIT's 2 MSL.
    this.user = null;
  }

  get lastError(): TcpError | null {
    return this.error;
  }

  /** Whether the application may still read (peer has not finished) — for sockets. */
  get peerFinished(): boolean {
    return this.rcv.finReceived;
  }
}
