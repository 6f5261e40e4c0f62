/**
 * The sender's SACK scoreboard (RFC 2018, D-SACK per RFC 2883) and the conservative SACK-based
 * loss recovery of RFC 6675: Update(), IsLost(), SetPipe(), NextSeg(), HighRxt, RescueRxt and
 * RecoveryPoint. A pure data structure: no I/O, no clock, no congestion window (that is the
 * engine's: RFC 6675 5 (4.2) ssthresh/cwnd, PRR, and the DupAcks counter stay in the engine).
 *
 * Representation: a sorted array of disjoint, non-adjacent half-open ranges [left, right) of
 * SACKed sequence numbers, all inside [HighACK, HighData], in one preallocated Uint32Array. Every
 * operation is O(number of ranges), and the number of ranges is bounded by MAX_SACK_RANGES
 * (when full, the highest range is dropped and counted in `droppedRanges`: forgetting SACK
 * information is safe, the data is merely retransmitted when it need not be).
 *
 * Conventions. Sequence numbers wrap (all comparisons through ../wire/seq.ts). RFC 6675 names
 * inclusive octets; here every "high" mark is exclusive, like SND.NXT:
 * - `highAck`   = SND.UNA, the first unacknowledged octet (RFC 6675 "HighACK", the cumulative ACK);
 * - `highRxt`   = one past the highest retransmitted octet (RFC 6675 "HighRxt" + 1); never below
 *   highAck, and equal to it when nothing above SND.UNA was retransmitted;
 * - `recoveryPoint` = SND.MAX when recovery began (RFC 6675 "RecoveryPoint" = HighData, + 1): the
 *   recovery ends on a cumulative ACK at or beyond it (RFC 6675 5 (A));
 * - `highestSacked` = one past the highest SACKed octet, or highAck when nothing is SACKed.
 *
 * IsLost and "segments": the scoreboard does not know where the sender's segments began and
 * ended, only SACKed ranges. A range of n bytes must have been carried by at least
 * ceil(n / SMSS) segments, so the number of "discontiguous SACKed segments" above a sequence
 * number is estimated by the sum of ceil(len / SMSS) over the SACKed ranges above it: a lower
 * bound of the true count, so IsLost errs on the side of "not lost" (conservative). Contiguous
 * runs of small segments are undercounted; RFC 6675 5 step (1) (DupAcks >= DupThresh) covers
 * exactly that case, and it is the engine's counter. (With this estimate the byte rule, more
 * than (DupThresh - 1) * SMSS bytes, implies the segment rule; both are checked as written.)
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqInRangeAbove, seqLe, seqLt, seqMax, seqMin } from '../wire/seq.js';

/** RFC 6675 2 "DupThresh": duplicate ACKs (or SACKed segments) that signal a loss. */
export const DUP_THRESH = 3;

/** The most SACKed ranges remembered. A peer reports at most 4 blocks per ACK (RFC 2018 3). */
export const MAX_SACK_RANGES = 64;

/** RFC 2018 3: a SACK option holds at most 4 blocks (2 + 8n bytes in 40 bytes of options). */
export const MAX_BLOCKS_PER_OPTION = 4;

/** Every {@link SackBlockReject}: the list the type is derived from. */
export const SACK_BLOCK_REJECTS = [
  /** Empty, reversed, or 2^31 bytes or longer (no order between its edges, RFC 1982 3.2). */
  'tcp-sack-reversed',
  /** Reaches beyond SND.MAX: octets never sent cannot have arrived. */
  'tcp-sack-beyond-snd-max',
  /** Starts at or below SND.UNA and is no valid D-SACK (RFC 2018 3: blocks lie above the cumulative ACK). */
  'tcp-sack-below-snd-una',
  /** A D-SACK further below SND.UNA than the largest send window: not data of this flight. */
  'tcp-dsack-too-old',
] as const;

/** Why a SACK block was ignored; the engine counts each as a TCP drop of that name. */
export type SackBlockReject = (typeof SACK_BLOCK_REJECTS)[number];

/** {@link checkBlock}'s verdict: 0 valid, {@link DSACK} a valid D-SACK, else the reason. */
const DSACK = 1;
type SackBlockVerdict = 0 | typeof DSACK | SackBlockReject;

/**
 * Beyond this distance below SND.MAX the scoreboard's HighACK is taken as stale (the engine did
 * not call `update` for over a maximum window, RFC 7323 2.3) and everything is forgotten.
 */
const MAX_WINDOW = 2 ** 30;

export interface SackUpdate {
  /** Bytes newly marked SACKed by this ACK. */
  newlySacked: number;
  /**
   * The first block was a D-SACK (RFC 2883 4: it starts below this ACK's cumulative ACK, or lies
   * inside another block of the same ACK). RFC 3708 uses it to detect spurious retransmissions.
   */
  dsack: boolean;
  /** The D-SACK block's range [dsackStart, dsackEnd), when dsack; else 0, 0. */
  dsackStart: number;
  dsackEnd: number;
  /** This ACK covered RecoveryPoint: loss recovery ended (RFC 6675 5 (A)); inRecovery is now false. */
  recoveryEnded: boolean;
  /**
   * SACKed bytes forgotten because the cumulative ACK stopped at the left edge of a SACKed range,
   * i.e. the receiver discarded data it had SACKed (reneging, RFC 2018 8). That data is no longer
   * treated as SACKed, so it is retransmitted.
   */
  reneged: number;
}

/**
 * Loss marks from a time-based detector (RACK, RFC 8985) that replace the DupThresh rule: RFC 8985
 * is "an alternative to the DupAck threshold approach" (its rule of DupThresh SACKed segments
 * lives on inside RACK's reordering window, RFC 8985 6.2 step 4). With marks set, IsLost(),
 * SetPipe() and NextSeg() rule 1 use them; NextSeg rules 3 and 4 are not used (RACK's loss
 * probe, RFC 8985 7, covers the tail instead).
 */
export interface LossMarks {
  /** Is the octet `seq` in a segment marked lost and not retransmitted since? */
  isLost(seq: number): boolean;
  /** The first such octet at or after `from` (-1: none); `lostRun` then holds how many follow. */
  nextLost(from: number): number;
  readonly lostRun: number;
  /** SetPipe() from the unSACKed octets of the flight: less the lost ones, plus retransmissions in flight. */
  pipe(unsacked: number): number;
}

/** A range to transmit during loss recovery, and the NextSeg() rule that chose it. */
export interface NextSegment {
  seq: number;
  len: number;
  /**
   * 1: a lost, unSACKed range above HighRxt (retransmit; then `markRetransmitted`);
   * 2: new data at SND.MAX (send; nothing to mark);
   * 3: an unSACKed range above HighRxt, below HighSACKed, not yet deemed lost (retransmit; then
   *    `markRetransmitted`);
   * 4: the rescue retransmission (retransmit; then `markRescue`, which does NOT move HighRxt).
   */
  rule: 1 | 2 | 3 | 4;
}

export class SackScoreboard {
  /** SMSS. May be changed (e.g. once the handshake settled the MSS); used by IsLost and NextSeg. */
  mss: number;
  /** Ranges dropped because the scoreboard was full (MAX_SACK_RANGES); a statistic. */
  droppedRanges = 0;
  /** SACKed bytes forgotten because the receiver reneged (see SackUpdate.reneged); a statistic. */
  renegedBytes = 0;
  /** RACK's loss marks (RFC 8985), which replace the DupThresh rule when set. */
  lossMarks: LossMarks | null = null;

  /** Called for every SACK block update() ignores, with the reason. */
  onReject: ((reason: SackBlockReject) => void) | null = null;
  /**
   * The blocks of the last update() that passed the checks, D-SACK excluded: [left, right)
   * pairs (allocated by the first).
   */
  validBlocks = NO_RANGES;
  validCount = 0;
  /** update()'s answer, one object reused: valid until the next call. */
  private readonly result: SackUpdate = { newlySacked: 0, dsack: false, dsackStart: 0, dsackEnd: 0, recoveryEnded: false, reneged: 0 };

  /** [left, right) pairs, ascending: edges[2i], edges[2i + 1]. Allocated by the first range. */
  private edges = NO_RANGES;
  private n = 0;
  private sacked = 0;
  private synced = false;
  private ackMark = 0;
  private highData = 0;
  private rxtMark = 0;
  private recovering = false;
  private recPoint = 0;
  /** RecoveryPoint still restrains a new recovery (RFC 6675 5.1, after an RTO). */
  private recPointActive = false;
  /** RFC 6675 "RescueRxt", exclusive; meaningful when rescueSet. */
  private rescueEnd = 0;
  private rescueSet = false;

  constructor(mss: number) {
    this.mss = Math.max(1, mss | 0);
  }

  get inRecovery(): boolean {
    return this.recovering;
  }
  get recoveryPoint(): number {
    return this.recPoint;
  }
  get highRxt(): number {
    return this.rxtMark;
  }
  get highAck(): number {
    return this.ackMark;
  }
  get sackedBytes(): number {
    return this.sacked;
  }
  get highestSacked(): number {
    return this.n > 0 ? this.edges[2 * this.n - 1]! : this.ackMark;
  }

  /** Forget everything: no SACK information, no recovery, no marks (a new connection). */
  clear(): void {
    this.n = 0;
    this.sacked = 0;
    this.synced = false;
    this.ackMark = 0;
    this.highData = 0;
    this.rxtMark = 0;
    this.recovering = false;
    this.recPoint = 0;
    this.recPointActive = false;
    this.rescueEnd = 0;
    this.rescueSet = false;
  }

  /**
   * RFC 6675 4 Update(), for every acceptable ACK (call it on every one, with count 0 when there
   * are no SACK blocks, so the cumulative ACK is tracked).
   *
   * `ack` is the segment's ACK field. A stale ACK (below the HighACK already seen, reordered in
   * the network) does not move HighACK back; D-SACK detection still compares against the ACK's own
   * field (RFC 2883 4). Blocks are [left, right) pairs in `blocks[0 .. 2*count)`, at most
   * {@link MAX_BLOCKS_PER_OPTION}. Each is checked as Linux's tcp_is_sackblock_valid() does (see
   * {@link checkBlock}): a SACK block must lie in (SND.UNA, SND.MAX] (RFC 2018 3: the octets above
   * the cumulative ACK that arrived; only sent octets can have), a D-SACK (RFC 2883 4) either
   * wholly below SND.UNA and within `maxWindow` of it, or inside a later valid block. Rejected
   * blocks are reported through {@link onReject} by reason and change nothing. The blocks that
   * passed are left in {@link validBlocks} (the D-SACK excluded) for RACK to take as delivery
   * evidence. Everything below the cumulative ACK is forgotten. A cumulative ACK at or beyond
   * RecoveryPoint ends the recovery.
   */
  update(ack: number, blocks: Uint32Array, count: number, sndMax: number, maxWindow: number = MAX_WINDOW): SackUpdate {
    ack >>>= 0;
    sndMax >>>= 0;
    const res = this.result;
    res.newlySacked = 0;
    res.dsack = false;
    res.dsackStart = 0;
    res.dsackEnd = 0;
    res.recoveryEnded = false;
    res.reneged = 0;
    this.validCount = 0;
    if (!this.synced || seqGt(this.ackMark, sndMax) || seqDiff(sndMax, this.ackMark) > MAX_WINDOW) {
      this.resync(ack, sndMax);
    }
    if (seqGt(sndMax, this.highData)) this.highData = sndMax;
    count = Math.max(0, Math.min(count | 0, blocks.length >> 1, MAX_BLOCKS_PER_OPTION));
    const newAck = seqMax(this.ackMark, ack);
    // An ACK overtaken by a later one: its blocks were valid when it was sent, and what of them
    // now lies below SND.UNA is no attack (Linux does not count those either).
    const stale = ack !== newAck;

    for (let i = 0; i < count; i++) {
      const l = blocks[2 * i]!;
      const r = blocks[2 * i + 1]!;
      let verdict: SackBlockVerdict;
      // RFC 2883 4: only the first block can be a D-SACK: below the ACK field, or inside a
      // later valid block (a duplicate of data above the cumulative ACK).
      if (i === 0 && isProperRange(l, r) && seqLt(l, ack)) verdict = checkDsackBelow(l, r, newAck, maxWindow);
      else if (i === 0 && isProperRange(l, r) && insideLaterBlock(l, r, blocks, count, newAck, sndMax)) verdict = DSACK;
      else verdict = checkBlock(l, r, newAck, sndMax);
      if (verdict === DSACK) {
        res.dsack = true;
        res.dsackStart = l;
        res.dsackEnd = r;
        continue;
      }
      if (verdict !== 0) {
        if (!(stale && verdict === 'tcp-sack-below-snd-una')) this.onReject?.(verdict);
        continue;
      }
      if (this.validBlocks.length === 0) this.validBlocks = new Uint32Array(2 * MAX_BLOCKS_PER_OPTION);
      this.validBlocks[2 * this.validCount] = l;
      this.validBlocks[2 * this.validCount + 1] = r;
      this.validCount++;
    }

    this.trimBelow(newAck);
    for (let i = 0; i < this.validCount; i++) res.newlySacked += this.insert(this.validBlocks[2 * i]!, this.validBlocks[2 * i + 1]!);
    // RFC 2018 8: a SACKed range that starts at the cumulative ACK was discarded by the receiver
    // (had it kept those bytes, it would have acknowledged them).
    if (this.n > 0 && this.edges[0] === newAck) {
      const len = seqDiff(this.edges[1]!, newAck);
      this.removeRanges(0, 1);
      this.sacked -= len;
      this.renegedBytes += len;
      res.reneged = len;
    }

    this.ackMark = newAck;
    if (seqGt(newAck, this.rxtMark)) this.rxtMark = newAck;
    if (this.recPointActive && seqGe(newAck, this.recPoint)) {
      this.recPointActive = false;
      if (this.recovering) {
        this.recovering = false;
        res.recoveryEnded = true;
      }
    }
    return res;
  }

  /**
   * RFC 6675 4 IsLost(SeqNum): DupThresh discontiguous SACKed segments (estimated, see the file
   * comment) or more than (DupThresh - 1) * SMSS SACKed bytes with sequence numbers above `seq`.
   */
  isLost(seq: number): boolean {
    if (this.lossMarks) return this.lossMarks.isLost(seq);
    const above = seqAdd(seq, 1);
    const mss = this.mss;
    const byteLimit = (DUP_THRESH - 1) * mss;
    let bytes = 0;
    let segs = 0;
    for (let k = this.n - 1; k >= 0; k--) {
      const r = this.edges[2 * k + 1]!;
      if (seqLe(r, above)) break;
      const len = seqDiff(r, seqMax(this.edges[2 * k]!, above));
      bytes += len;
      segs += Math.ceil(len / mss);
      if (segs >= DUP_THRESH || bytes > byteLimit) return true;
    }
    return false;
  }

  /**
   * RFC 6675 4 SetPipe(): over the octets of [sndUna, sndMax) not SACKed, one for each octet not
   * deemed lost by IsLost, plus one for each octet below HighRxt (retransmitted). IsLost can only
   * become true going down in sequence space, so the lost octets are the unSACKed ones below a
   * single boundary, found in one pass from the top.
   */
  pipe(sndUna: number, sndMax: number): number {
    sndUna >>>= 0;
    sndMax >>>= 0;
    if (!seqLt(sndUna, sndMax)) return 0;
    if (this.lossMarks) return this.lossMarks.pipe(this.unsackedIn(sndUna, sndMax));
    const mss = this.mss;
    const byteLimit = (DUP_THRESH - 1) * mss;
    // Unsacked octets below `lostBelow` are lost, those at or above it are not.
    let lostBelow = sndUna;
    let bytes = 0;
    let segs = 0;
    for (let k = this.n - 1; k >= 0; k--) {
      const l = this.edges[2 * k]!;
      const len = seqDiff(this.edges[2 * k + 1]!, l);
      bytes += len;
      segs += Math.ceil(len / mss);
      if (segs >= DUP_THRESH || bytes > byteLimit) {
        lostBelow = l;
        break;
      }
    }
    const notLost = this.unsackedIn(seqMin(seqMax(lostBelow, sndUna), sndMax), sndMax);
    const rxtEnd = seqMin(seqMax(this.rxtMark, sndUna), sndMax);
    return notLost + this.unsackedIn(sndUna, rxtEnd);
  }

  /**
   * RFC 6675 4 NextSeg(), for loss recovery (RFC 6675 5 (C.1)):
   * (1) the lowest unSACKed sequence number S2 >= HighRxt, below HighSACKed, with IsLost(S2);
   * (2) else, if `newDataAvail` > 0 bytes of unsent data may be sent (queue and receive window:
   *     the engine's computation), new data at SND.MAX — only when sndNxt == sndMax: after an RTO
   *     rewound sndNxt the engine is going back N, which is not new data;
   * (3) else the lowest unSACKed S3 >= HighRxt below HighSACKed, lost or not;
   * (4) else, in recovery, once per recovery and only after the first retransmission was
   *     cumulatively acknowledged (HighACK > RescueRxt): the rescue retransmission, a segment
   *     ending with the highest unSACKed octet below sndMax.
   * Every rule gives at most SMSS bytes; rules 1 and 3 stop at the next SACKed range. Null when
   * nothing qualifies. Rules 1 to 3 also answer outside recovery; rule 4 needs recovery. (RFC 6675 5.1
   * calls NextSeg() inappropriate after an RTO; `skipSacked` and `unsackedLen` serve go-back-N.)
   */
  nextSeg(sndUna: number, sndNxt: number, sndMax: number, newDataAvail: number): NextSegment | null {
    sndUna >>>= 0;
    sndNxt >>>= 0;
    sndMax >>>= 0;
    const mss = this.mss;
    if (this.lossMarks) return this.nextSegMarked(sndUna, sndNxt, sndMax, newDataAvail);
    // Rules 1 and 3 share their candidate: the first unSACKed octet at or above HighRxt.
    const s = this.skipSacked(seqMax(sndUna, this.rxtMark));
    if (seqLt(s, sndMax) && seqLt(s, this.highestSacked)) {
      const len = Math.min(mss, this.unsackedLen(s, sndMax));
      if (this.isLost(s)) return { seq: s, len, rule: 1 };
      if (newDataAvail > 0 && seqGe(sndNxt, sndMax)) return { seq: sndMax, len: Math.min(mss, newDataAvail), rule: 2 };
      return { seq: s, len, rule: 3 };
    }
    if (newDataAvail > 0 && seqGe(sndNxt, sndMax)) return { seq: sndMax, len: Math.min(mss, newDataAvail), rule: 2 };
    if (this.recovering && seqLt(sndUna, sndMax) && (!this.rescueSet || seqGe(sndUna, this.rescueEnd))) {
      // The highest unSACKed octet below sndMax, and the start of the hole holding it.
      let holeEnd = sndMax;
      let holeStart = sndUna;
      for (let k = this.n - 1; k >= 0; k--) {
        const l = this.edges[2 * k]!;
        const r = this.edges[2 * k + 1]!;
        if (seqLe(r, sndUna)) break;
        if (seqGe(r, holeEnd)) {
          holeEnd = seqMin(holeEnd, l);
          continue;
        }
        holeStart = seqMax(r, sndUna);
        break;
      }
      if (seqLt(sndUna, holeEnd) && seqLt(holeStart, holeEnd)) {
        const seq = seqMax(holeStart, seqAdd(holeEnd, -mss));
        return { seq, len: seqDiff(holeEnd, seq), rule: 4 };
      }
    }
    return null;
  }

  /**
   * NextSeg() with loss marks (RFC 8985 with RFC 6675): (1) the lowest unSACKed octet marked lost
   * and not yet retransmitted, at most SMSS of its run, stopping at the next SACKed range (a
   * retransmission that was lost again is marked again, so HighRxt does not bound this rule);
   * (2) new data as above; nothing else.
   */
  private nextSegMarked(sndUna: number, sndNxt: number, sndMax: number, newDataAvail: number): NextSegment | null {
    const marks = this.lossMarks!;
    let from = sndUna;
    for (let guard = 0; guard < 2 * MAX_SACK_RANGES + 2; guard++) {
      const l = marks.nextLost(from);
      if (l < 0 || !seqLt(l, sndMax)) break;
      const runEnd = seqMin(seqAdd(l, marks.lostRun), sndMax);
      const s = this.skipSacked(l);
      if (seqLt(s, runEnd)) {
        const len = Math.min(this.mss, this.unsackedLen(s, runEnd));
        if (len > 0) return { seq: s, len, rule: 1 };
      }
      from = runEnd;
    }
    if (newDataAvail > 0 && seqGe(sndNxt, sndMax)) return { seq: sndMax, len: Math.min(this.mss, newDataAvail), rule: 2 };
    return null;
  }

  /**
   * Record that [seq, seq + len) was retransmitted (NextSeg rules 1 and 3, the fast retransmit of
   * RFC 6675 5 (4.3), or a go-back-N retransmission after an RTO): HighRxt moves up to its end.
   * The first retransmission of a recovery also sets RescueRxt (RFC 6675 5 (4.3)), so no rescue
   * happens before it is acknowledged.
   */
  markRetransmitted(seq: number, len: number): void {
    const end = seqAdd(seq, len);
    if (seqGt(end, this.rxtMark)) this.rxtMark = end;
    if (seqGt(end, this.highData)) this.highData = end;
    if (this.recovering && !this.rescueSet) {
      this.rescueEnd = end;
      this.rescueSet = true;
    }
  }

  /** Record that the NextSeg rule 4 rescue was sent: RescueRxt = RecoveryPoint; HighRxt unchanged. */
  markRescue(): void {
    this.rescueEnd = this.recPoint;
    this.rescueSet = true;
  }

  /**
   * RFC 6675 5 (4.1), (4.3): RecoveryPoint = sndMax (HighData), HighRxt = sndUna (nothing
   * retransmitted yet), RescueRxt unset. The engine then retransmits the first segment, e.g.
   * [sndUna, sndUna + min(SMSS, unsackedLen(sndUna, sndMax))), and calls markRetransmitted.
   */
  enterRecovery(sndUna: number, sndMax: number): void {
    sndUna >>>= 0;
    sndMax >>>= 0;
    if (!this.synced) this.resync(sndUna, sndMax);
    if (seqGt(sndUna, this.ackMark)) this.trimBelow((this.ackMark = sndUna));
    if (seqGt(sndMax, this.highData)) this.highData = sndMax;
    this.recovering = true;
    this.recPoint = sndMax;
    this.recPointActive = true;
    this.rxtMark = this.ackMark;
    this.rescueSet = false;
  }

  /**
   * RFC 6675 5.1, after a retransmission timeout: loss recovery ends; RecoveryPoint = HighData
   * (`sndMax`, default the highest sequence number seen), and a new recovery should not start
   * before it is cumulatively acknowledged (`canEnterRecovery`); HighRxt = sndUna and RescueRxt
   * unset (nothing counts as retransmitted any more).
   *
   * The SACK information is kept: RFC 2018 8 says to forget it in case the receiver reneged, but
   * reneging shows up as a cumulative ACK stopping at a SACKed range's left edge, which `update`
   * detects and repairs, and the octet at SND.UNA is never SACKed, so the RTO retransmission
   * itself is never skipped. Call clear() instead to discard it.
   */
  onTimeout(sndUna: number, sndMax: number = this.highData): void {
    sndUna >>>= 0;
    sndMax >>>= 0;
    if (!this.synced) this.resync(sndUna, sndMax);
    if (seqGt(sndUna, this.ackMark)) this.trimBelow((this.ackMark = sndUna));
    if (seqGt(sndMax, this.highData)) this.highData = sndMax;
    this.recovering = false;
    this.recPoint = this.highData;
    this.recPointActive = seqLt(this.ackMark, this.recPoint);
    this.rxtMark = this.ackMark;
    this.rescueSet = false;
  }

  /**
   * Leave loss recovery (fast or after an RTO) at once, without waiting for RecoveryPoint: the
   * reduction that began it was found spurious (RFC 3708, RFC 3522) and undone.
   */
  exitRecovery(): void {
    this.recovering = false;
    this.recPointActive = false;
    this.rescueSet = false;
  }

  /**
   * May a new loss recovery start? Not while one runs, nor after an RTO until RecoveryPoint is
   * cumulatively acknowledged (RFC 6675 5.1).
   */
  canEnterRecovery(): boolean {
    return !this.recovering && !this.recPointActive;
  }

  /** The scoreboard's ranges: [left, right) pairs, ascending in sequence space. */
  blocks(): number[] {
    return Array.from(this.edges.subarray(0, 2 * this.n));
  }

  /** Is the octet `seq` SACKed? */
  isSacked(seq: number): boolean {
    for (let k = 0; k < this.n; k++) {
      if (seqInRange(seq, this.edges[2 * k]!, this.edges[2 * k + 1]!)) return true;
      if (seqLt(seq, this.edges[2 * k]!)) return false;
    }
    return false;
  }

  /** The first octet at or after `seq` that is not SACKed (`seq` itself, or a range's right edge). */
  skipSacked(seq: number): number {
    seq >>>= 0;
    for (let k = 0; k < this.n; k++) {
      const l = this.edges[2 * k]!;
      if (seqLt(seq, l)) break;
      const r = this.edges[2 * k + 1]!;
      if (seqLt(seq, r)) return r;
    }
    return seq;
  }

  /** How many octets from `seq` on are unSACKed before the next SACKed octet or `limit`. */
  unsackedLen(seq: number, limit: number): number {
    seq >>>= 0;
    let end = limit >>> 0;
    for (let k = 0; k < this.n; k++) {
      const l = this.edges[2 * k]!;
      const r = this.edges[2 * k + 1]!;
      if (seqLe(r, seq)) continue;
      if (seqLe(l, seq)) return 0;
      end = seqMin(end, l);
      break;
    }
    return seqLt(seq, end) ? seqDiff(end, seq) : 0;
  }

  /** Start afresh at this cumulative ACK (first use, or a HighACK too old to compare). */
  private resync(ack: number, sndMax: number): void {
    this.n = 0;
    this.sacked = 0;
    this.synced = true;
    this.ackMark = ack;
    this.highData = sndMax;
    this.rxtMark = ack;
    this.recovering = false;
    this.recPointActive = false;
    this.rescueSet = false;
  }

  /** Octets of [a, b) that are not SACKed. */
  private unsackedIn(a: number, b: number): number {
    if (!seqLt(a, b)) return 0;
    let total = seqDiff(b, a);
    for (let k = 0; k < this.n; k++) {
      const l = seqMax(this.edges[2 * k]!, a);
      const r = seqMin(this.edges[2 * k + 1]!, b);
      if (seqLt(l, r)) total -= seqDiff(r, l);
    }
    return total;
  }

  /** Forget everything below `a`. */
  private trimBelow(a: number): void {
    let k = 0;
    while (k < this.n && seqLe(this.edges[2 * k + 1]!, a)) {
      this.sacked -= seqDiff(this.edges[2 * k + 1]!, this.edges[2 * k]!);
      k++;
    }
    if (k > 0) this.removeRanges(0, k);
    if (this.n > 0 && seqLt(this.edges[0]!, a)) {
      this.sacked -= seqDiff(a, this.edges[0]!);
      this.edges[0] = a;
    }
  }

  /** Remove ranges [from, to). */
  private removeRanges(from: number, to: number): void {
    this.edges.copyWithin(2 * from, 2 * to, 2 * this.n);
    this.n -= to - from;
  }

  /** Add [l, r) (l < r), merging with overlapping or adjacent ranges. Returns the bytes added. */
  private insert(l: number, r: number): number {
    if (this.edges.length === 0) this.edges = new Uint32Array(2 * MAX_SACK_RANGES);
    const e = this.edges;
    let i = 0;
    while (i < this.n && seqLt(e[2 * i + 1]!, l)) i++;
    let j = i;
    let covered = 0;
    while (j < this.n && seqLe(e[2 * j]!, r)) {
      covered += seqDiff(e[2 * j + 1]!, e[2 * j]!);
      j++;
    }
    if (j === i) {
      // Disjoint: a new range at index i.
      if (this.n === MAX_SACK_RANGES) {
        this.droppedRanges++;
        if (i === this.n) return 0; // the new range is the highest: it is the one dropped
        this.sacked -= seqDiff(e[2 * this.n - 1]!, e[2 * this.n - 2]!);
        this.n--;
      }
      e.copyWithin(2 * i + 2, 2 * i, 2 * this.n);
      e[2 * i] = l;
      e[2 * i + 1] = r;
      this.n++;
      const len = seqDiff(r, l);
      this.sacked += len;
      return len;
    }
    const nl = seqMin(l, e[2 * i]!);
    const nr = seqMax(r, e[2 * j - 1]!);
    const added = seqDiff(nr, nl) - covered;
    e[2 * i] = nl;
    e[2 * i + 1] = nr;
    if (j - i > 1) this.removeRanges(i + 1, j);
    this.sacked += added;
    return added;
  }
}

/** The ranges and blocks of a scoreboard that has seen no SACK: shared and never written. */
const NO_RANGES = new Uint32Array(0);

/** [l, r) is non-empty and shorter than 2^31: its edges are ordered (RFC 1982 3.2). */
function isProperRange(l: number, r: number): boolean {
  const len = (r - l) >>> 0;
  return len !== 0 && len < 2 ** 31;
}

/**
 * A SACK block against the flight (RFC 2018 3, as Linux's tcp_is_sackblock_valid()): valid when
 * SND.UNA < left < right <= SND.MAX, each edge measured as a distance from the one below it, so
 * no wrap of 2^32 lets a block far outside through.
 */
export function checkBlock(l: number, r: number, sndUna: number, sndMax: number): 0 | SackBlockReject {
  if (!isProperRange(l, r)) return 'tcp-sack-reversed';
  if (seqInRangeAbove(l, sndUna, sndMax) && seqInRangeAbove(r, l, sndMax)) return 0;
  return seqLe(l, sndUna) ? 'tcp-sack-below-snd-una' : 'tcp-sack-beyond-snd-max';
}

/**
 * A first block [l, r) that starts below the ACK field (RFC 2883 4): a D-SACK when it lies
 * wholly at or below SND.UNA (a receiver reports only the duplicated part, Linux
 * tcp_dsack_set()) and no further below it than `maxWindow` (Linux bounds it by max_window too).
 */
function checkDsackBelow(l: number, r: number, sndUna: number, maxWindow: number): SackBlockVerdict {
  if (!isProperRange(l, r)) return 'tcp-sack-reversed';
  const below = (sndUna - l) >>> 0;
  if ((sndUna - r) >>> 0 >= below) return 'tcp-sack-below-snd-una'; // it straddles SND.UNA
  return below <= maxWindow ? DSACK : 'tcp-dsack-too-old';
}

/** The first block [l, r) lies inside a later block of the ACK that is itself valid (RFC 2883 4). */
function insideLaterBlock(l: number, r: number, blocks: Uint32Array, count: number, sndUna: number, sndMax: number): boolean {
  for (let i = 1; i < count; i++) {
    const ol = blocks[2 * i]!;
    const or = blocks[2 * i + 1]!;
    if (checkBlock(ol, or, sndUna, sndMax) === 0 && (l - ol) >>> 0 < (or - ol) >>> 0 && (r - l) >>> 0 <= (or - l) >>> 0) return true;
  }
  return false;
}
