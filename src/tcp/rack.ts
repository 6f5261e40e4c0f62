/**
 * RACK-TLP loss detection (RFC 8985) for a SACK sender: per-segment transmit times, time-based
 * loss marking with a reordering window (RACK, RFC 8985 6), and the tail loss probe with its
 * loss detection episode (TLP, RFC 8985 7). A pure state machine: no I/O, no clock (every time
 * is passed in, ms from the injected clock), no congestion window. The engine tells it what it
 * sent ({@link RackTlp.onTransmit}), what an ACK delivered ({@link RackTlp.onAck}) and when its
 * timer fired; it answers with loss marks (read by the SACK scoreboard through
 * {@link LossMarks}: NextSeg then retransmits the marked segments), the reorder-timer and PTO
 * deadlines, and the TLP episode's verdict.
 *
 * Segments. One record per transmitted range (a segment, or a TSO frame sent at once), in
 * sequence order, with no gaps: [start, end), the time of its latest transmission, and flags.
 * The records live in preallocated typed arrays, [head, tail) in use; acknowledged records leave
 * from the head, new ones are appended at the tail, so the hot path allocates nothing (the arrays
 * double when full, and are compacted when the head has moved far). A retransmission of part of
 * a record splits it (rare: retransmissions are at most one SMSS, original TSO frames larger).
 *
 * Time order. RFC 8985 6.2 walks segments in transmit order (time, then a transmission counter). Original transmissions go out in
 * sequence order, so among records never retransmitted sequence order is transmit order; a
 * retransmitted record is later than every original transmission below it in sequence. So the
 * scan in {@link RackTlp.detectLoss} may stop at the first never-retransmitted record that was
 * not sent before RACK.xmit_ts: nothing above it was either. In steady state it stops at once.
 *
 * Counters for the pipe (RFC 6675 SetPipe() with RACK's marks, as Linux's in_flight): among
 * records not SACKed, `lostBytes` are marked lost (their original, or a retransmission, is
 * gone), `rxtBytes` carry a retransmission still in flight, `pendingBytes` are lost and not yet
 * retransmitted (what NextSeg rule 1 sends). pipe = unSACKed - lost + retransmitted in flight.
 * A record partly SACKed counts whole here; the pipe is clamped at zero.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from '../wire/seq.js';
import { DUP_THRESH, type LossMarks } from './sack-scoreboard.js';

/** RFC 8985 7.2: "WCDelAckT", the worst-case delayed ACK timer added to a PTO with one segment in flight. */
export const TLP_WORST_CASE_DELACK_MS = 200;
/** RFC 8985 7.2: the PTO before any RTT sample. */
export const TLP_PTO_NO_SRTT_MS = 1000;
/**
 * Added to 2 * SRTT with more than one segment in flight, as Linux (TCP_TIMEOUT_MIN, 2 jiffies):
 * on a local link SRTT is well under a millisecond, and a probe due before the event loop has
 * even read the ACKs already waiting would only be a spurious retransmission.
 */
export const TLP_PTO_MIN_EXTRA_MS = 2;
/** RFC 8985 6.2 step 4: the reordering window is reset after this many D-SACK-free recoveries. */
export const REO_WND_PERSIST = 16;

const SACKED = 1;
/** Marked lost by RACK (or by an RTO); stays until acknowledged. */
const LOST = 2;
/** Retransmitted at least once (RFC 8985 "Segment.retransmitted"). */
const RETRANSMITTED = 4;
/** A retransmission of it is in flight (not yet deemed lost itself). */
const RXT_IN_FLIGHT = 8;

/**
 * Records made room for at first: a connection per request sends a few segments and is done,
 * and a bulk sender doubles its way up once. The five arrays share one buffer (one allocation
 * of 25 bytes a record instead of five).
 */
const INITIAL_RECORDS = 8;

/** What one ACK carried, as far as RACK and TLP care (one object reused by the engine). */
export interface RackAck {
  /** The ACK field; SND.UNA before and after this ACK. */
  ack: number;
  sndUnaBefore: number;
  /** SND.NXT (RFC 8985 6.2 step 4 "RACK.dsack_round = SND.NXT"). */
  sndNxt: number;
  /** SACK blocks of this ACK: [left, right) pairs in blocks[0 .. 2*count). */
  blocks: Uint32Array;
  count: number;
  /** The first block is a D-SACK (RFC 2883), and its range. */
  dsack: boolean;
  dsackStart: number;
  dsackEnd: number;
  /** A pure duplicate ACK: ack == SND.UNA, no data, no SACK blocks (RFC 8985 7.4.2 case 2). */
  pureDupAck: boolean;
  /**
   * When the segment whose timestamp this ACK echoes was sent (clock ms), or -1 without
   * timestamps: RFC 8985 6.2 step 2 ignores an ACK of a retransmitted segment that echoes an
   * earlier transmission.
   */
  echoedSentAt: number;
  /** The connection's minimum RTT sample (ms), -1 before the first. */
  minRtt: number;
}

/** The scoreboard's view of SACKed octets: the first octet at or after `seq` not SACKed. */
export interface SackedRanges {
  skipSacked(seq: number): number;
}

/** The TLP episode's verdict on an ACK (RFC 8985 7.4.2). */
export const enum TlpVerdict {
  /** No episode, or it goes on. */
  None = 0,
  /** The episode ended: the probe repaired nothing (new data delivered, or a D-SACK showed it redundant). */
  Ended = 1,
  /** The probe repaired a single loss: the engine MUST react as to a loss (RFC 8985 7.4.2). */
  RepairedLoss = 2,
}

/**
 * The record arrays of a connection that has sent nothing: shared and never written (the first
 * record allocates), so an idle connection holds no backing store of its own.
 */
const NO_SEQS = new Uint32Array(0);
const NO_TIMES = new Float64Array(0);
const NO_FLAGS = new Uint8Array(0);

export class RackTlp implements LossMarks {
  // Records [head, tail).
  private start = NO_SEQS;
  private end = NO_SEQS;
  private xmit = NO_TIMES;
  /** Transmission order (a counter): breaks ties between transmissions in the same clock tick. */
  private txOrder = NO_TIMES;
  private txCount = 0;
  private flags = NO_FLAGS;
  private head = 0;
  private tail = 0;

  /** Pipe counters over records not SACKED (see the file comment). */
  lostBytes = 0;
  rxtBytes = 0;
  pendingBytes = 0;

  // RACK state (RFC 8985 5.2 / 6.1).
  /** RACK.xmit_ts, RACK.end_seq: the most recently sent segment delivered; valid when rackSet. */
  private rackXmit = 0;
  private rackOrder = 0;
  private rackEnd = 0;
  private rackSet = false;
  /** RACK.rtt: the RTT of that segment's delivery. */
  private rackRtt = 0;
  /** RACK.fack: the highest end sequence delivered (valid when rackSet). */
  private fack = 0;
  /** RACK.reordering_seen. */
  reorderingSeen = false;
  /** RACK.reo_wnd_mult, RACK.reo_wnd_persist, RACK.dsack_round (valid when dsackRoundSet). */
  reoWndMult = 1;
  private reoWndPersist = 0;
  private dsackRound = 0;
  private dsackRoundSet = false;
  /** The reordering window computed by the last loss detection (ms). */
  reoWnd = 0;

  // TLP state (RFC 8985 7.1).
  /** TLP.end_seq, valid when tlpActive; TLP.is_retrans. */
  private tlpEnd = 0;
  tlpActive = false;
  private tlpIsRetrans = false;

  /** Timer deadlines (clock ms, Infinity when off): the RACK reorder timer and the PTO. */
  reoAt = Infinity;
  ptoAt = Infinity;

  /** Segments (records) marked lost so far; a statistic. */
  marked = 0;

  /** Scratch for newly SACKed record indices of one ACK, ascending (allocated by the first SACK). */
  private order = NO_SEQS;

  get deadline(): number {
    return this.reoAt < this.ptoAt ? this.reoAt : this.ptoAt;
  }

  /** Records held (for tests and diagnostics). */
  get records(): number {
    return this.tail - this.head;
  }

  /** The reordering window (ms) RFC 8985 6.2 step 4 would use now, with reordering seen. */
  reorderWindow(minRtt: number, srtt: number): number {
    const base = minRtt >= 0 ? minRtt : this.rackRtt;
    const w = (this.reoWndMult * base) / 4;
    return srtt > 0 ? Math.min(w, srtt) : w;
  }

  // ---------------------------------------------------------------------------------------
  // Transmissions

  /**
   * [seq, end) went out at `now` (data, with a FIN counted). The part below the highest end
   * recorded is a retransmission: its records get the new transmit time (RFC 8985 6.1
   * "Segment.xmit_ts") and are no longer waiting for one; the part above is new.
   */
  onTransmit(seq: number, end: number, now: number): void {
    seq >>>= 0;
    end >>>= 0;
    if (!seqLt(seq, end)) return;
    if (this.head === this.tail) {
      this.append(seq, end, now, 0);
      return;
    }
    const top = this.end[this.tail - 1]!;
    if (seqLt(seq, top)) {
      const lo = seqMax(seq, this.start[this.head]!);
      const hi = seqMin(end, top);
      if (seqLt(lo, hi)) this.retransmitted(lo, hi, now);
      if (seqGt(end, top)) this.append(top, end, now, 0);
      return;
    }
    this.append(seq, end, now, 0);
  }

  private retransmitted(lo: number, hi: number, now: number): void {
    let i = this.splitAt(lo);
    this.splitAt(hi);
    for (; i < this.tail && seqLt(this.start[i]!, hi); i++) {
      const f = this.flags[i]!;
      this.xmit[i] = now;
      this.txOrder[i] = ++this.txCount;
      this.flags[i] = f | RETRANSMITTED | RXT_IN_FLIGHT;
      if (f & SACKED) continue;
      const len = seqDiff(this.end[i]!, this.start[i]!);
      if (!(f & RXT_IN_FLIGHT)) {
        this.rxtBytes += len;
        if (f & LOST) this.pendingBytes -= len;
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // ACKs (RFC 8985 6.2 steps 1-3; step 5 is detectLoss)

  /**
   * Process one acceptable ACK after the scoreboard took it: free what it acknowledged, mark
   * what it SACKed, RACK_update() and RACK_detect_reordering() for the newly delivered segments,
   * the D-SACK reordering-window adaptation, and the TLP episode. Returns the TLP verdict; the
   * engine then calls {@link detectLoss}.
   */
  onAck(a: RackAck, now: number, sacked: SackedRanges): TlpVerdict {
    this.bestXmit = -1;
    // Cumulatively acknowledged records leave from the head.
    const ack = a.ack >>> 0;
    while (this.head < this.tail && seqLe(this.end[this.head]!, ack)) {
      const i = this.head;
      if (!(this.flags[i]! & SACKED)) {
        this.uncount(i, seqDiff(this.end[i]!, this.start[i]!));
        this.delivered(i, this.end[i]!, a, now, true);
      }
      this.head++;
    }
    if (this.head === this.tail) {
      // Nothing outstanding: nothing lost or in flight either (the counters are exact; this
      // only keeps an error from outliving the flight, see audit()).
      this.head = this.tail = 0;
      this.lostBytes = this.rxtBytes = this.pendingBytes = 0;
    } else if (seqLt(this.start[this.head]!, ack)) {
      // A partial ACK of a record: its acknowledged part was delivered.
      const i = this.head;
      if (!(this.flags[i]! & SACKED)) {
        this.uncount(i, seqDiff(ack, this.start[i]!));
        this.delivered(i, ack, a, now, true);
      }
      this.start[i] = ack;
    }

    // Newly SACKed records, in ascending order (RFC 8985 6.2 step 3 compares with RACK.fack).
    let n = 0;
    for (let b = 0; b < a.count; b++) {
      const l = a.blocks[2 * b]!;
      const r = a.blocks[2 * b + 1]!;
      if (!seqLt(l, r) || !seqLt(ack, r)) continue;
      for (let i = this.find(seqMax(l, ack)); i >= 0 && i < this.tail && seqLt(this.start[i]!, r); i++) {
        // SACKed once the scoreboard holds all of it, its parts perhaps from different ACKs.
        if (this.flags[i]! & SACKED || seqLt(sacked.skipSacked(this.start[i]!), this.end[i]!)) continue;
        this.uncount(i, seqDiff(this.end[i]!, this.start[i]!));
        this.flags[i] = this.flags[i]! | SACKED;
        if (n === this.order.length) {
          const o = new Uint32Array(Math.max(8, 2 * n));
          o.set(this.order);
          this.order = o;
        }
        // Insertion sort: blocks come newest first, and there are at most a few records.
        let k = n++;
        while (k > 0 && this.order[k - 1]! > i) {
          this.order[k] = this.order[k - 1]!;
          k--;
        }
        this.order[k] = i;
      }
    }
    for (let k = 0; k < n; k++) this.delivered(this.order[k]!, this.end[this.order[k]!]!, a, now, false);

    if (this.bestXmit >= 0) {
      this.rackRtt = this.bestRtt;
      if (!this.rackSet || sentAfter(this.bestXmit, this.bestOrder, this.bestEnd, this.rackXmit, this.rackOrder, this.rackEnd)) {
        this.rackXmit = this.bestXmit;
        this.rackOrder = this.bestOrder;
        this.rackEnd = this.bestEnd;
      }
      this.rackSet = true;
    }

    // RFC 8985 6.2 step 4: the D-SACK part of RACK_update_reo_wnd(), once per ACK: the window
    // grows by min_RTT / 4 per round trip that saw a D-SACK.
    if (this.dsackRoundSet && seqGe(seqMax(a.sndUnaBefore, ack), this.dsackRound)) this.dsackRoundSet = false;
    if (!this.dsackRoundSet && a.dsack) {
      this.dsackRound = a.sndNxt >>> 0;
      this.dsackRoundSet = true;
      this.reoWndMult++;
      this.reoWndPersist = REO_WND_PERSIST;
    }

    return this.tlpOnAck(a);
  }

  /** Scratch of one ACK: the most recently sent segment it delivered (RACK_update). */
  private bestXmit = -1;
  private bestOrder = 0;
  private bestEnd = 0;
  private bestRtt = 0;

  /**
   * Record i was delivered up to `endSeq` by this ACK: RFC 8985 6.2 step 2 (RACK_update: the
   * latest transmission delivered and its RTT) and step 3 (RACK_detect_reordering).
   *
   * For a retransmitted segment RFC 8985 ignores an ACK whose timestamp echo predates the
   * retransmission. That test is applied to cumulative ACKs only: an ACK for out-of-order data
   * echoes TS.Recent, the TSval of the last in-sequence segment (RFC 7323 4.3), which says
   * nothing about the segment SACKed; there the min_RTT test alone decides (as Linux does).
   */
  private delivered(i: number, endSeq: number, a: RackAck, now: number, cumulative: boolean): void {
    const f = this.flags[i]!;
    const x = this.xmit[i]!;
    const rtt = now - x;
    if (!this.rackSet || seqGt(endSeq, this.fack)) this.fack = endSeq;
    else if (seqLt(endSeq, this.fack) && !(f & RETRANSMITTED)) this.reorderingSeen = true;
    if (f & RETRANSMITTED) {
      // The ACK may be for an earlier transmission: no RACK.xmit_ts or RTT from it.
      if (cumulative && a.echoedSentAt >= 0 && a.echoedSentAt < Math.floor(x)) return;
      // No min_RTT yet: ambiguous as well (as Linux, whose min_RTT starts at "infinite").
      if (a.minRtt < 0 || rtt < a.minRtt) return;
    }
    const c = this.txOrder[i]!;
    if (this.bestXmit < 0 || sentAfter(x, c, endSeq, this.bestXmit, this.bestOrder, this.bestEnd)) {
      this.bestXmit = x;
      this.bestOrder = c;
      this.bestEnd = endSeq;
      this.bestRtt = rtt;
    }
  }

  /** RFC 8985 6.2 step 4: a fast or RTO recovery ended. */
  onRecoveryExit(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist <= 0) this.reoWndMult = 1;
  }

  /**
   * RFC 8985 6.2 step 5, RACK_detect_loss_and_arm_timer(): mark lost every segment sent before
   * RACK.xmit_ts by more than RACK.rtt + RACK.reo_wnd ago; arm the reorder timer for the first of
   * the others to reach that age. Returns how many records were newly marked lost.
   */
  detectLoss(now: number, minRtt: number, srtt: number, sackedBytes: number, mss: number, inRecovery: boolean): number {
    this.reoAt = Infinity;
    if (!this.rackSet) return 0;
    // RFC 8985 6.2 step 4, RACK_update_reo_wnd(): no reordering seen, then in recovery or with
    // DupThresh segments SACKed (more than (DupThresh - 1) * SMSS bytes, RFC 6675's byte
    // rule), the window is 0: the DupThresh rule, time-based otherwise.
    this.reoWnd = !this.reorderingSeen && (inRecovery || sackedBytes > (DUP_THRESH - 1) * mss) ? 0 : this.reorderWindow(minRtt, srtt);
    let timeout = 0;
    let marked = 0;
    for (let i = this.head; i < this.tail; i++) {
      const f = this.flags[i]!;
      if (f & SACKED || (f & LOST && !(f & RXT_IN_FLIGHT))) continue;
      const x = this.xmit[i]!;
      if (!sentAfter(this.rackXmit, this.rackOrder, this.rackEnd, x, this.txOrder[i]!, this.end[i]!)) {
        if (!(f & RETRANSMITTED)) break;
        continue;
      }
      const remaining = x + this.rackRtt + this.reoWnd - now;
      if (remaining <= 0) {
        this.markLost(i);
        marked++;
      } else if (remaining > timeout) {
        timeout = remaining;
      }
    }
    this.marked += marked;
    if (timeout > 0) this.reoAt = now + timeout;
    return marked;
  }

  /**
   * RFC 8985 6.3 with the engine's go-back-N after an RTO: every outstanding segment is taken as
   * lost (the engine resends them all, which clears the marks), the reorder timer stops, and a
   * TLP episode ends.
   */
  onRto(): void {
    for (let i = this.head; i < this.tail; i++) if (!(this.flags[i]! & SACKED)) this.markLost(i);
    this.reoAt = Infinity;
    this.ptoAt = Infinity;
    this.tlpActive = false;
  }

  /** Forget the SACKED marks (the receiver reneged, RFC 2018 8): the scoreboard did the same. */
  onReneged(sacked: SackedRanges): void {
    for (let i = this.head; i < this.tail; i++) {
      const f = this.flags[i]!;
      if (!(f & SACKED) || seqGe(sacked.skipSacked(this.start[i]!), this.end[i]!)) continue;
      this.flags[i] = f & ~SACKED;
      const len = seqDiff(this.end[i]!, this.start[i]!);
      if (f & LOST) this.lostBytes += len;
      if (f & RXT_IN_FLIGHT) this.rxtBytes += len;
      if (f & LOST && !(f & RXT_IN_FLIGHT)) this.pendingBytes += len;
    }
  }

  // ---------------------------------------------------------------------------------------
  // LossMarks, for the scoreboard (RFC 6675 IsLost, SetPipe, NextSeg rule 1 with RACK's marks)

  isLost(seq: number): boolean {
    if (this.pendingBytes <= 0) return false;
    const i = this.find(seq >>> 0);
    if (i < 0) return false;
    const f = this.flags[i]!;
    return (f & (LOST | RXT_IN_FLIGHT | SACKED)) === LOST;
  }

  /** The lowest record at or above `from` waiting for a retransmission: its start, and {@link lostRun}. */
  nextLost(from: number): number {
    if (this.pendingBytes <= 0) return -1;
    from >>>= 0;
    let i = this.find(from);
    if (i < 0) {
      if (this.head === this.tail || seqGe(from, this.end[this.tail - 1]!)) return -1;
      i = this.head;
    }
    for (; i < this.tail; i++) {
      if ((this.flags[i]! & (LOST | RXT_IN_FLIGHT | SACKED)) !== LOST) continue;
      const s = seqMax(this.start[i]!, from);
      let e = this.end[i]!;
      // Adjacent records waiting too make one run (NextSeg sends up to SMSS of it).
      for (let j = i + 1; j < this.tail && (this.flags[j]! & (LOST | RXT_IN_FLIGHT | SACKED)) === LOST; j++) e = this.end[j]!;
      this.lostRun = seqDiff(e, s);
      if (this.lostRun > 0) return s;
    }
    return -1;
  }

  /** Set by {@link nextLost}: octets waiting for retransmission from the answer on. */
  lostRun = 0;

  pipe(unsacked: number): number {
    return Math.max(0, unsacked - this.lostBytes + this.rxtBytes);
  }

  // ---------------------------------------------------------------------------------------
  // TLP (RFC 8985 7)

  /**
   * RFC 8985 7.2: (re)arm the PTO after new data was sent or an ACK acknowledged data. Only
   * outside recovery, with nothing SACKed, no probe outstanding, and data in flight; otherwise
   * the PTO is off and the RTO covers the flight. PTO = 2 * SRTT (+ WCDelAckT with one segment
   * in flight), 1 s before an RTT sample, and never beyond the RTO's expiry `rtoExpire`.
   */
  schedulePto(now: number, srtt: number, flight: number, mss: number, sackedBytes: number, inRecovery: boolean, rtoExpire: number): void {
    if (flight <= 0 || inRecovery || sackedBytes > 0 || this.tlpActive) {
      this.ptoAt = Infinity;
      return;
    }
    let pto = srtt > 0 ? 2 * srtt : TLP_PTO_NO_SRTT_MS;
    if (srtt > 0) pto += flight <= mss ? TLP_WORST_CASE_DELACK_MS : TLP_PTO_MIN_EXTRA_MS;
    this.ptoAt = Math.min(now + pto, rtoExpire);
  }

  /**
   * RFC 8985 7.3: the probe went out: [seq, end) were new data (`retrans` false) or a
   * retransmission of the highest segment; TLP.end_seq = SND.NXT after it (`sndNxt`).
   */
  onProbeSent(retrans: boolean, sndNxt: number): void {
    this.ptoAt = Infinity;
    this.tlpActive = true;
    this.tlpIsRetrans = retrans;
    this.tlpEnd = sndNxt >>> 0;
  }

  /** The start of the highest record (the last segment sent), or -1 when nothing is held. */
  lastSegmentStart(): number {
    return this.head === this.tail ? -1 : this.start[this.tail - 1]!;
  }

  /** Fast recovery began: its window reduction covers whatever a TLP episode would have found. */
  endTlpEpisode(): void {
    this.tlpActive = false;
    this.ptoAt = Infinity;
  }

  /** RFC 8985 7.4.2 TLP_process_ack(). */
  private tlpOnAck(a: RackAck): TlpVerdict {
    if (!this.tlpActive || !seqGe(a.ack, this.tlpEnd)) return TlpVerdict.None;
    if (!this.tlpIsRetrans) {
      this.tlpActive = false; // TLP of new data delivered
      return TlpVerdict.Ended;
    }
    // A D-SACK for the probe's range (its end; one less when the probe carried the FIN).
    if (a.dsack && seqInRange(a.dsackEnd, seqAdd(this.tlpEnd, -1), seqAdd(this.tlpEnd, 1))) {
      this.tlpActive = false; // case 1: the original arrived, the probe was redundant
      return TlpVerdict.Ended;
    }
    if (seqGt(a.ack, this.tlpEnd)) {
      this.tlpActive = false; // the probe repaired a single loss
      return TlpVerdict.RepairedLoss;
    }
    if (a.pureDupAck) {
      this.tlpActive = false; // case 2: both arrived, and the receiver sent no D-SACK
      return TlpVerdict.Ended;
    }
    return TlpVerdict.None;
  }

  /**
   * The pipe counters recomputed from the records (for tests and diagnostics; O(records)):
   * they must always equal {@link lostBytes}, {@link rxtBytes} and {@link pendingBytes}.
   */
  audit(): { lostBytes: number; rxtBytes: number; pendingBytes: number } {
    let lostBytes = 0;
    let rxtBytes = 0;
    let pendingBytes = 0;
    for (let i = this.head; i < this.tail; i++) {
      const f = this.flags[i]!;
      if (f & SACKED) continue;
      const len = seqDiff(this.end[i]!, this.start[i]!);
      if (f & LOST) lostBytes += len;
      if (f & RXT_IN_FLIGHT) rxtBytes += len;
      else if (f & LOST) pendingBytes += len;
    }
    return { lostBytes, rxtBytes, pendingBytes };
  }

  // ---------------------------------------------------------------------------------------
  // Records

  /** The index of the record holding `seq`, or -1. */
  private find(seq: number): number {
    let lo = this.head;
    let hi = this.tail - 1;
    if (lo > hi || !seqInRange(seq, this.start[lo]!, this.end[hi]!)) return -1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (seqLe(this.start[mid]!, seq)) lo = mid;
      else hi = mid - 1;
    }
    return seqLt(seq, this.end[lo]!) ? lo : -1;
  }

  /** Make `seq` a record boundary (splitting the record holding it); returns the index starting there. */
  private splitAt(seq: number): number {
    const i = this.find(seq);
    if (i < 0) return seqGe(seq, this.end[this.tail - 1]!) ? this.tail : this.head;
    if (this.start[i] === seq) return i;
    this.ensureRoom();
    const j = this.find(seq); // ensureRoom may have compacted
    this.start.copyWithin(j + 2, j + 1, this.tail);
    this.end.copyWithin(j + 2, j + 1, this.tail);
    this.xmit.copyWithin(j + 2, j + 1, this.tail);
    this.txOrder.copyWithin(j + 2, j + 1, this.tail);
    this.flags.copyWithin(j + 2, j + 1, this.tail);
    this.tail++;
    this.start[j + 1] = seq;
    this.end[j + 1] = this.end[j]!;
    this.xmit[j + 1] = this.xmit[j]!;
    this.txOrder[j + 1] = this.txOrder[j]!;
    this.flags[j + 1] = this.flags[j]!;
    this.end[j] = seq;
    return j + 1;
  }

  private append(seq: number, end: number, now: number, flags: number): void {
    this.ensureRoom();
    const t = this.tail++;
    this.start[t] = seq;
    this.end[t] = end;
    this.xmit[t] = now;
    this.txOrder[t] = ++this.txCount;
    this.flags[t] = flags;
  }

  /** Room for one more record at the tail: compact when the head moved far, else double (the first: allocate). */
  private ensureRoom(): void {
    if (this.tail < this.start.length) return;
    const n = this.tail - this.head;
    if (this.head > 0 && this.head >= this.start.length >> 1) {
      this.start.copyWithin(0, this.head, this.tail);
      this.end.copyWithin(0, this.head, this.tail);
      this.xmit.copyWithin(0, this.head, this.tail);
      this.txOrder.copyWithin(0, this.head, this.tail);
      this.flags.copyWithin(0, this.head, this.tail);
    } else {
      const cap = Math.max(INITIAL_RECORDS, 2 * this.start.length);
      // One buffer: the two Float64Arrays first, so each view starts aligned to its element.
      const buf = new ArrayBuffer(25 * cap);
      const x = new Float64Array(buf, 0, cap);
      const c = new Float64Array(buf, 8 * cap, cap);
      const s = new Uint32Array(buf, 16 * cap, cap);
      const e = new Uint32Array(buf, 20 * cap, cap);
      const f = new Uint8Array(buf, 24 * cap, cap);
      s.set(this.start.subarray(this.head, this.tail));
      e.set(this.end.subarray(this.head, this.tail));
      x.set(this.xmit.subarray(this.head, this.tail));
      c.set(this.txOrder.subarray(this.head, this.tail));
      f.set(this.flags.subarray(this.head, this.tail));
      this.start = s;
      this.end = e;
      this.xmit = x;
      this.txOrder = c;
      this.flags = f;
    }
    this.head = 0;
    this.tail = n;
  }

  /**
   * Record i (not SACKED) is lost: counted in lostBytes once, and waiting for a retransmission.
   * A record already waiting (marked, not retransmitted since: an RTO over an unfinished
   * recovery) is left as it is, or pendingBytes would count it twice.
   */
  private markLost(i: number): void {
    const f = this.flags[i]!;
    if (f & LOST && !(f & RXT_IN_FLIGHT)) return;
    const len = seqDiff(this.end[i]!, this.start[i]!);
    if (!(f & LOST)) this.lostBytes += len;
    if (f & RXT_IN_FLIGHT) this.rxtBytes -= len;
    this.pendingBytes += len;
    this.flags[i] = (f | LOST) & ~RXT_IN_FLIGHT;
  }

  /** `len` bytes of record i (not SACKED) left the flight: take them out of the counters. */
  private uncount(i: number, len: number): void {
    const f = this.flags[i]!;
    if (f & LOST) this.lostBytes -= len;
    if (f & RXT_IN_FLIGHT) this.rxtBytes -= len;
    else if (f & LOST) this.pendingBytes -= len;
  }
}

/**
 * RFC 8985 6.2 RACK_sent_after(t1, seq1, t2, seq2): sent later, or at the same time and higher.
 * Within one clock tick the transmission order decides first (a retransmission is later than the
 * original transmissions before it, whatever its sequence number), then the end sequence (the
 * two parts of a split record).
 */
function sentAfter(t1: number, c1: number, seq1: number, t2: number, c2: number, seq2: number): boolean {
  return t1 > t2 || (t1 === t2 && (c1 > c2 || (c1 === c2 && seqGt(seq1, seq2))));
}
