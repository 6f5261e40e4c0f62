/**
 * Detection of spurious retransmissions, so that the window reduction they caused can be undone
 * (the congestion controller's `undo()`): with D-SACK (RFC 3708 on RFC 2883) and with timestamps
 * (the Eifel detection algorithm, RFC 3522). A pure state machine: the engine tells it when a
 * reduction began an episode (fast retransmit, SACK/RACK recovery, RTO), what was retransmitted,
 * and what the ACKs said; it answers "spurious" at most once per episode.
 *
 * - D-SACK (RFC 3708 3, as Linux's undo_retrans): every octet retransmitted in the episode is
 *   counted; a D-SACK block lying within the episode's retransmitted range [marker, highest
 *   retransmitted) takes its octets off. When none remain, every retransmission was a duplicate
 *   at the receiver: the originals had arrived, the episode was spurious. Data duplicated by the
 *   network can fake this, as RFC 3708 5 accepts.
 * - Eifel (RFC 3522 3.2): RetransmitTS is the TSval of the episode's first retransmission; the
 *   first acceptable ACK that acknowledges that retransmitted range echoes, in TSecr, the TSval of the
 *   segment that filled the receiver's hole. An echo older than RetransmitTS means that segment
 *   was the original: the retransmission was spurious. Only that first ACK is looked at.
 *
 * The episode stays open after recovery ends: the D-SACK for a spurious retransmission usually
 * arrives with, or after, the ACK that ends the recovery. A new reduction opens a new episode.
 */
import { seqAdd, seqDiff, seqGt, seqLt, seqMax, seqMin } from '../wire/seq.js';

export class SpuriousUndo {
  /** An episode is open (a reduction not yet undone, not replaced). */
  active = false;
  /** SND.UNA when the episode began: D-SACKs below it are about older data. */
  private marker = 0;
  /** One past the highest octet retransmitted in the episode. */
  private rxtHigh = 0;
  /** Octets retransmitted in the episode and not yet reported duplicate by a D-SACK. */
  private rxtLeft = 0;
  private retransmitted = false;
  /** RFC 3522 RetransmitTS, valid once `retransmitted`; and whether the first ACK was seen. */
  private retransmitTs = 0;
  private eifelPending = false;
  /** One past the first retransmitted range: the ACK Eifel looks at must cover it. */
  private firstRxtEnd = 0;

  /** A window reduction: open an episode at SND.UNA. */
  start(sndUna: number): void {
    this.active = true;
    this.marker = sndUna >>> 0;
    this.rxtHigh = this.marker;
    this.rxtLeft = 0;
    this.retransmitted = false;
    this.eifelPending = false;
  }

  /** Close the episode (a reduction that must not be undone through it, or an undo done). */
  cancel(): void {
    this.active = false;
    this.eifelPending = false;
  }

  /**
   * [seq, seq + len) was retransmitted with this TSval (`tsVal` -1 without timestamps). The
   * first retransmission of the episode sets RetransmitTS (RFC 3522 3.2 step 1).
   */
  onRetransmit(seq: number, len: number, tsVal: number): void {
    if (!this.active || len <= 0) return;
    const end = seqAdd(seq, len);
    if (!seqGt(end, this.marker)) return;
    if (!this.retransmitted) {
      this.retransmitted = true;
      this.retransmitTs = tsVal;
      this.eifelPending = tsVal >= 0;
      this.firstRxtEnd = end;
    }
    this.rxtLeft += seqDiff(end, seqMax(seq, this.marker));
    if (seqGt(end, this.rxtHigh)) this.rxtHigh = end;
  }

  /** RFC 3708 3: a D-SACK for [start, end). True when it shows the whole episode spurious. */
  onDsack(start: number, end: number): boolean {
    if (!this.active || !this.retransmitted) return false;
    const l = seqMax(start, this.marker);
    const r = seqMin(end, this.rxtHigh);
    if (!seqLt(l, r)) return false;
    this.rxtLeft -= seqDiff(r, l);
    return this.rxtLeft <= 0;
  }

  /**
   * RFC 3522 3.2 step 4: the first ACK acknowledging the first retransmitted range (an ACK
   * that advances SND.UNA less far was sent before that segment arrived and says nothing about
   * it), with the TSecr it echoed. True when the echo predates the retransmission.
   */
  onAckAdvanced(ack: number, tsEcr: number): boolean {
    if (!this.active || !this.eifelPending || seqLt(ack, this.firstRxtEnd)) return false;
    this.eifelPending = false;
    return tsEcr !== 0 && seqLt(tsEcr, this.retransmitTs);
  }
}
