/**
 * The sending half of a connection, as gVisor's snd.go and Linux's tcp_ack/tcp_write_xmit hold
 * it: the send sequence space (RFC 9293 3.3.1), the send queue and its zero-copy completions,
 * the processing of the peer's ACKs (RFC 9293 3.10.7.4 "fifth", RFC 5961 5.2), the RTT and the
 * retransmission timer (RFC 6298), the congestion controller and loss recovery (recovery.ts),
 * the send loop with Nagle (RFC 9293 3.7.4, Minshall's variant) and sender SWS avoidance
 * (RFC 9293 3.8.6.2.1), and the persist timer (RFC 9293 3.8.6.1).
 *
 * It owns that state; segments leave through the connection ({@link SenderConnection.sendSegment}),
 * which adds what the receiving half puts in every segment (the ACK, the window, SACK blocks).
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqInRangeAbove, seqLe, seqLt, seqMin } from '../wire/seq.js';
import { TcpFlag } from '../wire/tcp.js';
import { createCongestionControl, type CongestionControl } from './cc/congestion-control.js';
import { NewReno } from './cc/newreno.js';
import type { SegmentIn, TcpHost, TcpState, TcpUser } from './connection.js';
import type { EcnState } from './ecn.js';
import { createLossRecovery, type LossRecovery, type RecoveryConnection } from './recovery.js';
import { RenoRecovery } from './reno-recovery.js';
import { RttEstimator } from './rtt.js';
import type { SackBlockReject } from './sack-scoreboard.js';
import { SendQueue } from './send-queue.js';
import { isSynchronized } from './states.js';
import { tcpEvent, tcpLogEnabled, type LoggedConnection } from './event-log.js';

/** What the sender reads of its connection, and how it sends. */
export interface SenderConnection extends LoggedConnection {
  readonly host: TcpHost;
  readonly state: TcpState;
  readonly user: TcpUser | null;
  readonly tsOk: boolean;
  readonly ecn: EcnState;
  /** SACK blocks the connection's next segment carries (their bytes come out of the payload). */
  readonly sackCount: number;
  sendSegment(seq: number, len: number, flags: number): void;
  sendAck(): void;
  challengeAck(): void;
  markDirty(): void;
  scheduleTimers(): void;
  tsNow(now: number): number;
}

/** RFC 9293 3.7.1: the MSS assumed when the peer sends none. */
export const DEFAULT_MSS = 536;
/** The largest TSO payload: an IPv4 datagram of 65535 bytes minus IPv4 and TCP headers. */
const TSO_MAX_PAYLOAD = 65535 - 20 - 60;
/** RFC 9293 3.8.6.1: the persist interval grows to at most this. */
const PERSIST_MAX_MS = 60_000;

const NO_REJECT = (_reason: SackBlockReject): void => {};

export class TcpSender implements RecoveryConnection {
  iss = 0;
  /** The peer acknowledged our SYN: the send queue starts at SND.UNA, not one after it. */
  private synAcked = false;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence number sent (sndNxt goes back on a timeout; this does not). */
  sndMax = 0;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** The largest window the peer offered (RFC 9293 3.8.6.2.1, RFC 5961 5.2). */
  maxSndWnd = 0;
  /** Payload per segment as negotiated (RFC 9293 3.7.1, RFC 6691), and the peer's window shift. */
  sndMss = DEFAULT_MSS;
  sndWscale = 0;

  readonly sendQueue: SendQueue;
  /** The application ended its side: FIN after the queued data. */
  finQueued = false;
  /** Sequence number of our FIN (valid once finQueued). */
  finSeq = 0;
  noDelay: boolean;
  /**
   * One past the last octet of the latest new-data segment shorter than a full segment (Linux's
   * snd_sml): Minshall's Nagle holds a small segment only while this one is unacknowledged.
   */
  sndSml = 0;
  /** The override timeout fired: send into a window below one segment (RFC 9293 3.8.6.2.1). */
  private swsOverride = false;

  // Timers (clock ms; Infinity when off).
  rtoAt = Infinity;
  persistAt = Infinity;
  private persistBackoffs = 0;
  /** Zero-window probes sent since the peer's last acceptable ACK. */
  private probesUnanswered = 0;
  readonly rtt: RttEstimator;
  backoffs = 0;
  /** RTT timing of one segment when timestamps are off (Karn: never a retransmitted one). */
  rttSeq = -1;
  rttStart = 0;
  /** The RTT sample of the ACK being processed (-1: none), and the smallest seen. */
  lastRtt = -1;
  minRtt = -1;

  /** Segments sent again, data bytes acknowledged (tcp_info's total_retrans, bytes_acked). */
  retransmits = 0;
  bytesAcked = 0;
  /** Acknowledged bytes per second over the last round trip or more, and where that span began. */
  deliveryRate = 0;
  private rateFromMs = 0;
  private rateFromAcked = 0;

  /**
   * Congestion control (CUBIC or NewReno behind one interface) and loss recovery. Until there
   * is something to send these are NewReno's window and recovery, which cost a few fields; the
   * configured controller and SACK recovery with RACK-TLP (about 1 KiB with their scoreboard)
   * are made when the first data is sent (see {@link sending}), so a connection that
   * only receives, or sits idle, never carries them (docs/PERFORMANCE.md section 1).
   */
  cc: CongestionControl;
  /** NewReno until the handshake says whether the peer takes SACK (recovery.ts). */
  recovery: LossRecovery = new RenoRecovery(this);
  /** What the handshake agreed and {@link sending} has not acted on yet (mss 0: nothing). */
  private agreedMss = 0;
  private agreedSack = false;
  private agreedRack = false;
  private onSackReject: (reason: SackBlockReject) => void = NO_REJECT;

  /** Callbacks waiting for SND.UNA to pass a sequence number (copied page-API writes); made at the first. */
  private ackWaiters: { end: number; cb: (acked: boolean) => void }[] | null = null;

  constructor(
    private readonly c: SenderConnection,
    readonly host: TcpHost,
  ) {
    const cfg = host.config;
    this.sendQueue = new SendQueue(host.pool);
    this.rtt = new RttEstimator(cfg.rtoMinMs, cfg.rtoMaxMs, cfg.rtoInitialMs);
    this.cc = new NewReno(DEFAULT_MSS);
    this.noDelay = !cfg.nagle;
  }

  get state(): TcpState {
    return this.c.state;
  }

  /** The connection, as the log names it. */
  get logName(): LoggedConnection {
    return this.c;
  }

  get tsOk(): boolean {
    return this.c.tsOk;
  }

  /**
   * The send sequence space starts at `iss`; `synAcked` when the SYN is acknowledged already (a
   * connection made from a SYN cookie's ACK).
   */
  open(iss: number, synAcked: boolean): void {
    this.iss = iss;
    this.synAcked = synAcked;
    this.sndNxt = seqAdd(iss, 1);
    this.sndMax = this.sndNxt;
    this.sndUna = synAcked ? this.sndNxt : iss;
    this.recovery.recover = iss;
    this.sndSml = iss;
  }

  /** The peer's first window (RFC 9293 3.10.7.3): from the segment `seq` acknowledging `ack`. */
  firstWindow(wnd: number, seq: number, ack: number): void {
    this.sndWnd = wnd;
    if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
    this.sndWl1 = seq;
    this.sndWl2 = ack;
  }

  /**
   * What the handshake agreed: the segment size, and the controller and recovery that count in
   * it. They are made when there is something to send ({@link sending}); until then the window
   * is NewReno's initial one in this MSS (RFC 6928: IW = min(10 * MSS, max(2 * MSS, 14600))),
   * which is also what the configured controller starts from.
   */
  negotiated(mss: number, sack: boolean, rack: boolean, onReject: (reason: SackBlockReject) => void): void {
    this.sndMss = mss;
    this.cc = new NewReno(mss);
    this.agreedMss = mss;
    this.agreedSack = sack;
    this.agreedRack = rack;
    this.onSackReject = onReject;
    if (this.sendQueue.length > 0) this.sending();
  }

  /**
   * The configured controller and the agreed loss recovery, made once, before the first data
   * goes out (or when a test looks at them). The recovery NewReno kept so far hands over its
   * state (recovery.ts); once established the new one starts at SND.UNA, as the handshake's
   * `sync()` would have started it. A FIN with no data before it goes out without them: a
   * flight of one sequence number has nothing for SACK or a window to do, and its tail-loss
   * probe would come no sooner than the RTO (RFC 8985 7.2 adds WCDelAckT to a one-segment
   * flight), so NewReno's retransmission timeout covers it. A receive-only connection (the
   * discard service, a client that only downloads) thus never makes them, and closing
   * thousands at once allocates none.
   */
  sending(): void {
    const mss = this.agreedMss;
    if (mss === 0) return;
    this.agreedMss = 0;
    this.cc = createCongestionControl(this.host.config.congestionControl, mss, this.host.clock.nowMs());
    this.recovery = createLossRecovery(this, this.recovery, this.agreedSack, this.agreedRack, mss, this.onSackReject);
    if (isSynchronized(this.c.state)) this.recovery.sync();
  }

  // ---- the application's data ----

  /** Free space in the send buffer. */
  sendSpace(): number {
    return Math.max(0, this.host.config.sndBuf - this.sendQueue.length);
  }

  private canSend(): boolean {
    const s = this.c.state;
    return !this.finQueued && (s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'SYN-SENT' || s === 'SYN-RECEIVED');
  }

  /** Queue bytes (copied) for sending; returns how many were taken. */
  write(data: Uint8Array): number {
    if (!this.canSend()) return 0;
    const n = Math.min(data.length, this.sendSpace());
    if (n === 0) return 0;
    this.sendQueue.append(n === data.length ? data : data.subarray(0, n));
    this.c.markDirty();
    return n;
  }

  /**
   * Queue bytes (copied) regardless of the send buffer's bound (the page API's copy path);
   * `onAcked(acked)` runs once they are all acknowledged, or (false) the connection ended first.
   */
  writeAll(data: Uint8Array, onAcked: (acked: boolean) => void): boolean {
    if (!this.canSend()) return false;
    this.sendQueue.append(data);
    (this.ackWaiters ??= []).push({ end: seqAdd(this.dataStart(), this.sendQueue.length), cb: onAcked });
    this.c.markDirty();
    return true;
  }

  /** Queue a pool page by reference (zero-copy); `onAcked` when all of it is acknowledged. */
  writePage(page: number, len: number, onAcked: (acked: boolean, copied: boolean) => void): boolean {
    if (!this.canSend()) return false;
    this.sendQueue.appendPage(page, len, onAcked);
    this.c.markDirty();
    return true;
  }

  /** The application closed its side: our FIN follows the queued data (RFC 9293 3.10.4). */
  queueFin(): void {
    if (this.finQueued) return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.dataStart(), this.sendQueue.length);
    this.c.markDirty();
  }

  /** Whether the peer acknowledged our FIN. */
  get finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }

  /** The SYN-ACK acknowledged our SYN (SYN-SENT): SND.UNA moves to `ack`, one past the ISS. */
  synAcknowledged(ack: number): void {
    this.sndUna = ack;
    this.synAcked = true;
  }

  /**
   * Sequence number of the first byte in the send queue (after the SYN until it is acked). A
   * flag, not `SND.UNA > ISS`: sequence comparison is modulo 2^32 (RFC 9293 3.4), so after 2 GiB
   * sent SND.UNA no longer compares above the ISS, and every byte count from here on (what an
   * ACK frees, where the FIN goes) would be one off.
   */
  dataStart(): number {
    return this.synAcked ? this.sndUna : seqAdd(this.sndUna, 1);
  }

  // ---- the peer's ACKs ----

  /**
   * RFC 9293 3.10.7.4 "fifth" for a synchronized state, up to the state changes: the ACK's
   * range (RFC 5961 5.2), loss recovery, ECN's echo, the send window. Returns false when the
   * segment is to be dropped here (it was answered).
   */
  onAck(seg: SegmentIn, now: number): boolean {
    const c = this.c;
    const ack = seg.ack;
    // RFC 5961 5.2: acceptable if SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.MAX; beyond SND.MAX
    // an ACK says where we are (RFC 9293 3.10.7.4), below the range a challenge ACK.
    const oldest = seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1));
    if (!seqInRange(ack, oldest, seqAdd(this.sndMax, 1))) {
      if (seqGt(ack, this.sndMax)) c.sendAck();
      else c.challengeAck();
      return false;
    }
    this.probesUnanswered = 0;
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
    if (seg.flags & TcpFlag.ECE && !recovery.inRecovery && c.ecn.onEce(this.sndUna, this.sndMax)) {
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
        if (this.persistAt !== Infinity && tcpLogEnabled()) tcpEvent(this.host.clock, this.logName, 'window opens: %d bytes', wnd);
        this.persistAt = Infinity;
        this.persistBackoffs = 0;
      }
      if (opened) c.markDirty();
    }
    return true;
  }

  /** New data acknowledged: free it, sample the RTT, grow the window, re-arm the timer. */
  ackAdvance(seg: SegmentIn, now: number): void {
    const c = this.c;
    const ack = seg.ack;
    const flightBefore = seqDiff(this.sndMax, this.sndUna);
    const acked = seqDiff(ack, this.sndUna);
    // Data acknowledged: neither the SYN's nor the FIN's sequence number is data.
    const freed = Math.max(0, Math.min(this.sendQueue.length, seqDiff(ack, this.dataStart())));
    if (freed > 0) {
      this.sendQueue.consume(freed);
      this.bytesAcked += freed;
      // The delivery rate over at least one round trip (tcp_info's delivery_rate, coarser).
      const span = now - this.rateFromMs;
      if (span >= Math.max(this.rtt.srtt, 1)) {
        this.deliveryRate = ((this.bytesAcked - this.rateFromAcked) * 1000) / span;
        this.rateFromMs = now;
        this.rateFromAcked = this.bytesAcked;
      }
    }
    this.sndUna = ack;
    this.synAcked = true; // SND.UNA started at the ISS: any advance acknowledges the SYN
    const w = this.ackWaiters;
    while (w !== null && w.length > 0 && seqGe(ack, w[0]!.end)) w.shift()!.cb(true);
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    // RTT (RFC 6298 3, RFC 7323 4): from the echoed timestamp, else from the timed segment.
    this.lastRtt = -1;
    if (c.tsOk && seg.opts.hasTimestamp && seg.opts.tsEcr !== 0) {
      this.lastRtt = seqDiff(c.tsNow(now), seg.opts.tsEcr);
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
      c.scheduleTimers();
    }
    if (freed > 0) c.user?.onSendSpace();
    c.markDirty();
  }

  // ---- the send loop ----

  /**
   * Payload per segment now: the send MSS less the SACK blocks our ACKs carry (RFC 9293 3.7.1:
   * the MSS counts no options, so every option beyond the timestamps comes out of the payload,
   * or the datagram would exceed the MTU).
   */
  effectiveMss(): number {
    const n = this.c.sackCount;
    return n > 0 ? this.sndMss - (4 + 8 * n) : this.sndMss;
  }

  /** Send what the windows allow: recovery's choice first, then new data and our FIN. Returns whether any segment went out. */
  output(): boolean {
    const c = this.c;
    if (this.agreedMss !== 0 && this.sendQueue.length > 0) this.sending();
    const mss = this.effectiveMss();
    const sb = this.recovery.sb;
    let sent = this.recovery.output();
    for (;;) {
      // Going back after a timeout: what the peer SACKed need not be sent again.
      if (sb && seqLt(this.sndNxt, this.sndMax)) this.sndNxt = seqMin(sb.skipSacked(this.sndNxt), this.sndMax);
      const dataEnd = seqAdd(this.sndUna, this.sendQueue.length);
      const unsent = seqGt(dataEnd, this.sndNxt) ? seqDiff(dataEnd, this.sndNxt) : 0;
      const wnd = Math.min(this.sndWnd, this.cc.cwnd);
      const usable = seqDiff(seqAdd(this.sndUna, wnd), this.sndNxt);
      const finDue = this.finQueued && seqLe(this.sndNxt, this.finSeq);
      if (unsent > 0 && usable > 0) {
        const maxSeg = this.host.offload ? Math.max(mss, Math.floor(TSO_MAX_PAYLOAD / mss) * mss) : mss;
        let len = Math.min(unsent, usable, maxSeg);
        if (len < mss && len < unsent && !this.swsOverride && this.sndNxt === this.sndMax) {
          // Window-limited to less than a segment: SWS avoidance (RFC 9293 3.8.6.2.1) sends it
          // only if it is at least half the largest window the peer offered, or when the
          // override timeout (the persist timer) fired with nothing in flight. It holds new
          // data only: bytes sent before into that small window go again after a timeout
          // (SND.NXT below SND.MAX), or nothing would ever bring the ACK that opens the window.
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
        if (sb && seqLt(this.sndNxt, this.sndMax)) {
          const gap = sb.unsackedLen(this.sndNxt, this.sndMax);
          if (gap > 0 && gap < len) len = gap;
        }
        // A frame takes a bounded number of payload parts, one per send-queue chunk: with small
        // chunks (partly filled pages sent by reference) that bounds a frame before the window does.
        const fit = this.sendQueue.fitParts(seqDiff(this.sndNxt, this.sndUna), len, this.host.egress.maxPayloadParts);
        if (fit < len) len = fit > mss ? fit - (fit % mss) : fit;
        const fin = finDue && seqAdd(this.sndNxt, len) === this.finSeq;
        if (seqLt(this.sndNxt, this.sndMax)) {
          this.countRetransmit(len);
        } else if (!c.tsOk && this.rttSeq < 0) {
          this.rttSeq = this.sndNxt;
          this.rttStart = this.host.clock.nowMs();
        }
        c.sendSegment(this.sndNxt, len, TcpFlag.ACK | (len === unsent ? TcpFlag.PSH : 0) | (fin ? TcpFlag.FIN : 0));
        this.advance(len + (fin ? 1 : 0));
        sent = true;
        continue;
      }
      if (finDue && unsent === 0) {
        // A FIN sent before (SND.NXT went back after a timeout) is a retransmission too.
        if (seqLt(this.finSeq, this.sndMax)) this.countRetransmit(0);
        c.sendSegment(this.finSeq, 0, TcpFlag.ACK | TcpFlag.FIN);
        this.sndNxt = this.finSeq;
        this.advance(1);
        sent = true;
      }
      break;
    }
    // Data waiting and nothing in flight: a zero window is probed (RFC 9293 3.8.6.1), a window
    // below a segment is sent into when the override timeout fires (RFC 9293 3.8.6.2.1).
    const dataEnd = seqAdd(this.sndUna, this.sendQueue.length);
    if (seqGt(dataEnd, this.sndNxt) && this.sndUna === this.sndMax && this.rtoAt === Infinity && this.persistAt === Infinity) {
      if (this.sndWnd === 0) tcpEvent(this.host.clock, this.logName, 'zero window: %d bytes wait, probing', seqDiff(dataEnd, this.sndNxt));
      this.persistAt = this.host.clock.nowMs() + this.persistInterval();
      c.scheduleTimers();
    }
    return sent;
  }

  /** `n` sequence numbers left from SND.NXT: move it (and SND.MAX), and time them. */
  private advance(n: number): void {
    this.sndNxt = seqAdd(this.sndNxt, n);
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    this.armRto();
  }

  /** Minshall's check (Linux tcp_minshall_check): a small segment sent is not yet acknowledged. */
  private smallSegmentInFlight(): boolean {
    return seqInRangeAbove(this.sndSml, this.sndUna, this.sndNxt);
  }

  // ---- timers ----

  armRto(): void {
    if (this.rtoAt !== Infinity) return;
    this.rtoAt = this.host.clock.nowMs() + this.rtt.current(this.backoffs);
    this.c.scheduleTimers();
  }

  /** The retransmission timer again, `backoffs` times backed off (RFC 6298 5.5). */
  rearmRto(now: number): void {
    this.rtoAt = now + this.rtt.current(this.backoffs);
    this.c.scheduleTimers();
  }

  /**
   * The retransmission timer fired with data outstanding (RFC 6298 5.4-5.6): loss recovery's
   * part, then go back to the first unacknowledged byte (Karn: no RTT from what is resent).
   */
  goBack(now: number): void {
    this.recovery.onTimeout(now);
    this.rttSeq = -1;
    this.sndNxt = this.sndUna;
    this.c.markDirty();
    this.rearmRto(now);
  }

  /**
   * The retransmission timer fired while the peer's window is zero with data outstanding (the
   * peer shrank it, RFC 9293 3.8.6.2.1). Resending into a closed window would only be dropped,
   * and data beyond the window going unacknowledged is no reason to give up: the data goes back
   * to unsent and the persist timer probes until the window opens, as for a window that closed
   * with nothing in flight. False (nothing done) when no data waits: only a FIN is outstanding.
   */
  windowShrunkToZero(now: number): boolean {
    if (this.sendQueue.length === 0) return false;
    this.goBack(now);
    this.backoffs = 0;
    this.rtoAt = Infinity;
    this.persistAt = now + this.persistInterval();
    tcpEvent(this.host.clock, this.logName, 'window shrunk to zero: %d bytes outstanding, probing', seqDiff(this.sndMax, this.sndUna));
    this.c.scheduleTimers();
    return true;
  }

  private persistInterval(): number {
    return Math.min(PERSIST_MAX_MS, Math.max(this.rtt.current(0), this.host.config.rtoMinMs) * 2 ** this.persistBackoffs);
  }

  /**
   * RFC 1122 4.2.2.17: a zero window is probed as long as the peer answers; a peer that answered
   * none of the last maxRetransmits probes is gone (Linux's tcp_probe_timer, tcp_retries2), and
   * the connection gives up rather than hold it and its data for ever.
   */
  get zeroWindowProbesExhausted(): boolean {
    return this.sndWnd === 0 && this.sendQueue.length > 0 && this.probesUnanswered >= this.host.config.maxRetransmits;
  }

  /**
   * The persist timer fired: into a zero window, a probe (RFC 9293 3.8.6.1; Linux's, with an old
   * sequence number, so the peer ACKs with its window); else the SWS override (3.8.6.2.1).
   */
  onPersistTimer(now: number): void {
    this.persistAt = Infinity;
    if (this.sndWnd === 0 && this.sendQueue.length > 0) {
      this.probesUnanswered++;
      this.host.stats.windowProbes++;
      this.c.sendSegment(seqAdd(this.sndUna, -1), 0, TcpFlag.ACK);
      this.persistBackoffs++;
      this.persistAt = now + this.persistInterval();
    } else {
      this.swsOverride = true;
      this.c.markDirty();
    }
  }

  /** TIME-WAIT or CLOSED: nothing more is sent. */
  stop(): void {
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.sendQueue.clear();
  }

  /**
   * TIME-WAIT: nothing goes out again but ACKs, so the controller and the loss recovery (RACK's
   * records, the scoreboard) give way to NewReno's few fields, as Linux keeps a TIME-WAIT
   * connection in a small inet_timewait_sock. With a connection per request the connections
   * in TIME-WAIT are most of those alive (docs/PERFORMANCE.md section 3).
   */
  timeWait(): void {
    this.stop();
    this.agreedMss = 0;
    if (this.recovery instanceof RenoRecovery && this.cc instanceof NewReno) return;
    this.cc = new NewReno(this.sndMss);
    this.recovery = new RenoRecovery(this, this.recovery);
  }

  /** CLOSED: also the writes waiting for their ACK learn they never got it. */
  clear(): void {
    this.stop();
    const waiting = this.ackWaiters;
    this.ackWaiters = null;
    if (waiting !== null) for (const w of waiting) w.cb(false);
  }

  // ---- RecoveryConnection: how recovery sends ----

  /** One segment sent again, with `bytes` of data: this connection's count and the layer's. */
  countRetransmit(bytes: number): void {
    this.retransmits++;
    this.host.stats.retransmits++;
    this.host.stats.retransmittedBytes += bytes;
  }

  sendSegment(seq: number, len: number, flags: number): void {
    this.c.sendSegment(seq, len, flags);
  }

  markDirty(): void {
    this.c.markDirty();
  }

  tsNow(now: number): number {
    return this.c.tsNow(now);
  }

  scheduleTimers(): void {
    this.c.scheduleTimers();
  }
}
