/**
 * What NewReno recovery (reno-recovery.ts) and SACK recovery (sack-recovery.ts) share: the
 * recovery point and duplicate ACK count, the retransmission timeout's part (RFC 6298 5,
 * RFC 5681 3.1), spurious-retransmission undo (RFC 3708, RFC 3522), the congestion response to
 * an ACK outside recovery, and retransmitting a range. The interface is in recovery.ts.
 */
import { seqAdd, seqDiff, seqGe, seqInWindow, seqLt } from '../wire/seq.js';
import { TcpFlag } from '../wire/tcp.js';
import type { SegmentIn } from './connection.js';
import type { RackTlp } from './rack.js';
import type { LossRecovery, RecoveryConnection } from './recovery.js';
import type { SackScoreboard, SackUpdate } from './sack-scoreboard.js';
import { SpuriousUndo } from './spurious-undo.js';
import { tcpEvent, tcpLogEnabled } from './event-log.js';

export abstract class RecoveryBase implements LossRecovery {
  abstract readonly sb: SackScoreboard | null;
  abstract readonly rack: RackTlp | null;
  readonly undo: SpuriousUndo;
  dupAcks = 0;
  private recovering_ = false;
  recover = 0;

  /**
   * `prev` is the recovery this one replaces once the options are agreed: its state carries
   * over (the recovery point, set from the ISS; the rest is still initial in the handshakes).
   */
  constructor(
    protected readonly c: RecoveryConnection,
    prev: LossRecovery | null,
  ) {
    this.undo = prev ? prev.undo : new SpuriousUndo();
    if (prev) {
      this.dupAcks = prev.dupAcks;
      this.inRecovery = prev.inRecovery;
      this.recover = prev.recover;
    }
  }

  abstract sync(): void;
  abstract takeSack(seg: SegmentIn, maxWindow: number, now: number): SackUpdate | null;
  abstract afterCumulativeAck(now: number): void;
  abstract duplicateAck(): void;
  abstract lossRecoveryAfterAck(seg: SegmentIn, u: SackUpdate | null, sndUnaBefore: number, recoveringBefore: boolean, now: number): void;
  abstract output(): boolean;
  abstract recovering(): boolean;
  abstract readonly deadline: number;
  abstract onTimer(now: number): void;

  /** A partial ACK in fast recovery: `acked` octets left the network, SND.UNA is below {@link recover}. */
  protected abstract partialAck(acked: number): void;

  /**
   * The retransmission timer fired with data outstanding (RFC 5681 3.1 (4), RFC 6675 5.1): one
   * segment and slow start from half the flight, recovery ends. The connection then goes back
   * N from SND.UNA.
   */
  /** In fast recovery; entering and leaving it go to the log (tapstack:tcp). */
  get inRecovery(): boolean {
    return this.recovering_;
  }

  set inRecovery(on: boolean) {
    if (on !== this.recovering_ && tcpLogEnabled()) {
      const c = this.c;
      tcpEvent(c.host.clock, c.logName, on ? 'recovery begins: %d bytes in flight, cwnd %d' : 'recovery ends: cwnd %d', on ? seqDiff(c.sndMax, c.sndUna) : c.cc.cwnd, c.cc.cwnd);
    }
    this.recovering_ = on;
  }

  onTimeout(now: number): void {
    const c = this.c;
    if (tcpLogEnabled()) tcpEvent(c.host.clock, c.logName, 'retransmission timeout %d (RTO %d ms), %d bytes in flight', c.backoffs, Math.round(c.rtt.rto), seqDiff(c.sndMax, c.sndUna));
    c.cc.onTimeout(now, seqDiff(c.sndMax, c.sndUna));
    if (c.backoffs === 1 || !this.undo.active) this.undo.start(c.sndUna);
    this.inRecovery = false;
    this.recover = c.sndMax;
    this.dupAcks = 0;
  }

  /**
   * New data acknowledged: outside recovery the congestion controller grows the window
   * (RFC 5681 3.1, RFC 9438); in recovery a full ACK ends it (RFC 6582 3.2 step 3, RFC 6675 5)
   * and a partial ACK is the implementation's ({@link partialAck}).
   */
  congestionOnAck(acked: number, flightBefore: number, now: number): void {
    const c = this.c;
    this.dupAcks = 0;
    const mss = c.sndMss;
    const cc = c.cc;
    if (this.inRecovery) {
      if (seqGe(c.sndUna, this.recover)) {
        this.inRecovery = false;
        cc.onRecoveryEnd(now, seqDiff(c.sndMax, c.sndUna));
      } else {
        this.partialAck(acked);
      }
      return;
    }
    cc.onAck({
      acked,
      now,
      rtt: c.lastRtt,
      minRtt: c.minRtt,
      inFlight: flightBefore,
      sndUna: c.sndUna,
      sndNxt: c.sndNxt,
      // RFC 7661: a window the application did not fill says nothing about the network.
      appLimited: flightBefore + mss < cc.cwnd && seqDiff(seqAdd(c.sndUna, c.sendQueue.length), c.sndNxt) <= 0,
    });
  }

  /**
   * Spurious-retransmission detection for one acceptable ACK: a D-SACK covering the episode's
   * retransmissions (RFC 3708), or, when SND.UNA `advanced`, an echoed timestamp older than the
   * first retransmission (RFC 3522). Then the reduction is undone.
   */
  protected undoIfSpurious(seg: SegmentIn, u: SackUpdate | null, advanced: boolean): void {
    let spurious = u !== null && u.dsack && this.undo.onDsack(u.dsackStart, u.dsackEnd);
    if (!spurious && advanced && this.c.tsOk && seg.opts.hasTimestamp) spurious = this.undo.onAckAdvanced(seg.ack, seg.opts.tsEcr);
    if (spurious) this.undoReduction();
  }

  /**
   * The congestion controller's last reduction was spurious: restore it (its undo()), and leave
   * the recovery it began without onRecoveryEnd (congestion-control.ts).
   */
  protected undoReduction(): void {
    const c = this.c;
    c.host.stats.undos++;
    this.undo.cancel();
    c.cc.undo();
    this.inRecovery = false;
    this.dupAcks = 0;
    c.markDirty();
  }

  /** [seq, seq + n) is going out (data, or a FIN): retransmission accounting for the undo. */
  dataTransmitted(seq: number, n: number, now: number): void {
    const c = this.c;
    if (seqLt(seq, c.sndMax)) this.undo.onRetransmit(seq, Math.min(n, seqDiff(c.sndMax, seq)), c.tsOk ? c.tsNow(now) : -1);
  }

  /** Send [seq, seq + len) again, with the FIN when it is part of that range. */
  protected retransmitRange(seq: number, len: number): void {
    const c = this.c;
    const dataEnd = seqAdd(c.dataStart(), c.sendQueue.length);
    const dataLen = Math.max(0, Math.min(len, seqDiff(dataEnd, seq)));
    const fin = c.finQueued && seqInWindow(c.finSeq, seq, len) && seqAdd(seq, dataLen) === c.finSeq;
    if (dataLen === 0 && !fin) return;
    c.countRetransmit(dataLen);
    if (c.rttSeq >= 0) c.rttSeq = -1; // Karn
    c.sendSegment(seq, dataLen, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0));
  }
}
