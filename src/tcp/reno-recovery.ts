/**
 * Loss recovery for a peer without SACK, as gVisor's reno_recovery.go: fast retransmit on the
 * third duplicate ACK (RFC 5681 3.2) and NewReno's partial ACKs (RFC 6582). The connection also
 * starts with it, before the handshake says whether the peer takes SACK.
 */
import { seqDiff, seqGt, seqLe } from '../wire/seq.js';
import { TcpFlag } from '../wire/tcp.js';
import type { SegmentIn } from './connection.js';
import type { LossRecovery, RecoveryConnection } from './recovery.js';
import { RecoveryBase } from './recovery-base.js';
import type { SackUpdate } from './sack-scoreboard.js';

export class RenoRecovery extends RecoveryBase {
  readonly sb = null;
  readonly rack = null;

  constructor(c: RecoveryConnection, prev: LossRecovery | null = null) {
    super(c, prev);
  }

  /** No scoreboard to start. */
  sync(): void {}

  takeSack(): SackUpdate | null {
    return null;
  }

  /** Without SACK only duplicate ACKs start a recovery. */
  afterCumulativeAck(): void {}

  /** RFC 5681 3.2 fast retransmit on the third duplicate ACK; NewReno (RFC 6582). */
  duplicateAck(): void {
    const c = this.c;
    this.dupAcks++;
    const mss = c.sndMss;
    const cc = c.cc;
    if (this.inRecovery) {
      cc.cwnd += mss; // RFC 5681 3.2 (4): inflate for each segment that left the network
      c.markDirty();
      return;
    }
    // RFC 6582 3.2 step 1: not again for losses of the window already being recovered.
    if (this.dupAcks === 3 && seqGt(c.sndUna, this.recover)) {
      const flight = seqDiff(c.sndMax, c.sndUna);
      cc.onCongestionEvent(c.host.clock.nowMs(), flight);
      this.undo.start(c.sndUna);
      this.recover = c.sndMax;
      this.inRecovery = true;
      c.host.stats.fastRetransmits++;
      this.retransmitFirst();
      cc.cwnd += 3 * mss; // RFC 5681 3.2 (3)
      c.markDirty();
    }
  }

  /** RFC 6582 3.2 step 3: a partial ACK retransmits the next hole and deflates the window. */
  protected partialAck(acked: number): void {
    const cc = this.c.cc;
    const mss = this.c.sndMss;
    this.retransmitFirst();
    cc.cwnd = Math.max(mss, cc.cwnd - acked + mss); // deflate by what left, plus the resend
  }

  /** After an ACK: spurious-retransmission undo (RFC 3708 needs SACK; Eifel, RFC 3522, does not). */
  lossRecoveryAfterAck(seg: SegmentIn, u: SackUpdate | null, sndUnaBefore: number): void {
    this.undoIfSpurious(seg, u, seqGt(this.c.sndUna, sndUnaBefore));
  }

  /** NewReno retransmits from the ACK handlers: nothing of its own in the send loop. */
  output(): boolean {
    return false;
  }

  recovering(): boolean {
    return this.inRecovery;
  }

  /** No RACK without SACK (RFC 8985 2): no timer of its own. */
  get deadline(): number {
    return Infinity;
  }

  onTimer(): void {}

  /** Send the first unacknowledged segment again. */
  private retransmitFirst(): void {
    const c = this.c;
    const len = Math.min(c.effectiveMss(), c.sendQueue.length, seqDiff(c.sndMax, c.sndUna));
    if (len <= 0) {
      if (c.finQueued && seqLe(c.sndUna, c.finSeq)) c.sendSegment(c.finSeq, 0, TcpFlag.ACK | TcpFlag.FIN);
      return;
    }
    this.retransmitRange(c.sndUna, len);
  }
}
