/**
 * Loss recovery for a peer that agreed to SACK, as gVisor's sack_recovery.go: RFC 6675's
 * scoreboard, pipe and NextSeg() drive the retransmissions, and with RACK-TLP configured
 * (RFC 8985) RACK's time-based loss marks replace DupThresh and a tail loss probe repairs the
 * loss of a flight's last segments.
 */
import { seqAdd, seqDiff, seqGe, seqGt, seqLt } from '../wire/seq.js';
import { TcpFlag } from '../wire/tcp.js';
import type { SegmentIn } from './connection.js';
import { RackTlp, TlpVerdict, type RackAck } from './rack.js';
import type { LossRecovery, RecoveryConnection } from './recovery.js';
import { RecoveryBase } from './recovery-base.js';
import { SackScoreboard, type SackBlockReject, type SackUpdate } from './sack-scoreboard.js';

export class SackRecovery extends RecoveryBase {
  readonly sb: SackScoreboard;
  readonly rack: RackTlp | null;

  /** `rack`: with RACK-TLP (RFC 8985); the scoreboard's rejected blocks are counted through `onReject`. */
  constructor(c: RecoveryConnection, prev: LossRecovery | null, rack: boolean, mss: number, onReject: (reason: SackBlockReject) => void) {
    super(c, prev);
    this.sb = new SackScoreboard(mss);
    this.sb.onReject = onReject;
    this.rack = rack ? new RackTlp() : null;
    this.sb.lossMarks = this.rack;
  }

  /**
   * The scoreboard starts at SND.UNA once the connection is established: synchronised by a later
   * ACK instead, it would start at that ACK's field, which RFC 5961 5.2 lets lie below SND.UNA,
   * and take blocks over octets already acknowledged (the SYN's among them).
   */
  sync(): void {
    this.sb.update(this.c.sndUna, NO_SACK_BLOCKS, 0, this.c.sndMax);
  }

  /**
   * An acceptable ACK's SACK information, before SND.UNA moves: the scoreboard's Update()
   * (D-SACKs below SND.UNA within `maxWindow`, the largest window the peer offered), the
   * counters, and RACK's view of what was delivered.
   */
  takeSack(seg: SegmentIn, maxWindow: number, now: number): SackUpdate {
    const c = this.c;
    const o = seg.opts;
    const u = this.sb.update(seg.ack, o.sack, o.sackCount, c.sndMax, Math.max(maxWindow, c.sndMss));
    const stats = c.host.stats;
    if (u.dsack) stats.dsacksReceived++;
    // Net of reneged bytes (RFC 2018 8), which a later ACK may SACK again.
    if (u.newlySacked > 0 || u.reneged > 0) stats.sackedBytes += u.newlySacked - u.reneged;
    if (this.rack) this.rackOnAck(seg, u, now);
    return u;
  }

  /** RFC 6675 5: with SACK, a cumulative ACK may still leave SND.UNA presumed lost. */
  afterCumulativeAck(now: number): void {
    const c = this.c;
    const sb = this.sb;
    if (!this.inRecovery && c.sndUna !== c.sndMax && sb.canEnterRecovery() && sb.isLost(c.sndUna)) this.enterSackRecovery(now);
  }

  /** The timeout (see the base) ends the scoreboard's recovery, and RACK marks the flight lost. */
  override onTimeout(now: number): void {
    super.onTimeout(now);
    this.rack?.onRto();
    this.sb.onTimeout(this.c.sndUna, this.c.sndMax);
  }

  /** The next deadline of RACK's reorder timer or the PTO (Infinity: none). */
  get deadline(): number {
    return this.rack ? this.rack.deadline : Infinity;
  }

  /** RFC 6675: the pipe shrank; output() sends what NextSeg() picks. */
  protected partialAck(): void {
    this.c.markDirty();
  }

  /** RFC 6675 5: recovery on DupThresh duplicate ACKs or when SND.UNA is presumed lost. */
  duplicateAck(): void {
    const c = this.c;
    this.dupAcks++;
    const sb = this.sb;
    if (this.inRecovery) c.markDirty();
    // With RACK (RFC 8985) its marks replace DupThresh; duplicate ACKs still count when the
    // peer sends no SACK blocks at all.
    else if (sb.canEnterRecovery() && ((this.dupAcks >= 3 && (!this.rack || sb.sackedBytes === 0)) || sb.isLost(c.sndUna))) {
      this.enterSackRecovery(c.host.clock.nowMs());
    }
  }

  /**
   * RFC 6675 5 steps (4.1)-(4.2): reduce the window, note the recovery point, and retransmit the
   * first segment presumed lost; NextSeg() and the pipe drive the rest from output().
   */
  private enterSackRecovery(now: number): void {
    const c = this.c;
    const sb = this.sb;
    const flight = seqDiff(c.sndMax, c.sndUna);
    c.cc.onCongestionEvent(now, flight);
    this.undo.start(c.sndUna);
    this.rack?.endTlpEpisode();
    this.recover = c.sndMax;
    this.inRecovery = true;
    sb.enterRecovery(c.sndUna, c.sndMax);
    c.host.stats.fastRetransmits++;
    // The first segment RACK marked lost (RFC 8985), else SND.UNA (RFC 6675 (4.2)). With RACK,
    // SND.UNA only when the recovery came from DupThresh duplicate ACKs without SACK blocks: a
    // recovery RACK began has a marked segment, and the octet at SND.UNA need not be lost (its
    // retransmission would be spurious, RFC 8985 6.2: RACK's marks alone say what is lost).
    const first = this.rack ? sb.nextSeg(c.sndUna, c.sndNxt, c.sndMax, 0) : null;
    if (this.rack && !(first && first.rule === 1) && sb.sackedBytes > 0) {
      c.markDirty();
      return;
    }
    const seq = first && first.rule === 1 ? first.seq : c.sndUna;
    const len = Math.min(c.effectiveMss(), first && first.rule === 1 ? first.len : sb.unsackedLen(c.sndUna, c.sndMax));
    if (len > 0) {
      this.retransmitRange(seq, len);
      sb.markRetransmitted(seq, len);
    }
    c.markDirty();
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
  output(): boolean {
    if (!this.inRecovery) return false;
    const c = this.c;
    const sb = this.sb;
    const mss = c.effectiveMss();
    let pipe = sb.pipe(c.sndUna, c.sndMax);
    let sent = false;
    const cwnd = Math.ceil(c.cc.cwnd / mss) * mss;
    for (let guard = 0; guard < 1024 && cwnd - pipe >= mss; guard++) {
      const dataEnd = seqAdd(c.sndUna, c.sendQueue.length);
      const unsent = seqGt(dataEnd, c.sndNxt) ? seqDiff(dataEnd, c.sndNxt) : 0;
      const wndRoom = Math.max(0, seqDiff(seqAdd(c.sndUna, c.sndWnd), c.sndNxt));
      const next = sb.nextSeg(c.sndUna, c.sndNxt, c.sndMax, Math.min(unsent, wndRoom));
      if (!next) break;
      // Beyond the byte window only new data: the segment sent after the retransmissions.
      if (c.cc.cwnd - pipe < mss && next.rule !== 2) break;
      const len = Math.min(next.len, mss);
      if (next.rule === 2) {
        const fin = c.finQueued && seqAdd(c.sndNxt, len) === c.finSeq;
        c.sendSegment(c.sndNxt, len, TcpFlag.ACK | (fin ? TcpFlag.FIN : 0));
        c.sndNxt = seqAdd(c.sndNxt, len + (fin ? 1 : 0));
        if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
      } else {
        this.retransmitRange(next.seq, len);
        if (next.rule === 4) sb.markRescue();
        else sb.markRetransmitted(next.seq, len);
      }
      pipe += len;
      sent = true;
      c.armRto();
    }
    return sent;
  }

  /** Fast recovery, or RTO recovery until RecoveryPoint (RFC 6675 5.1). */
  recovering(): boolean {
    return this.inRecovery || !this.sb.canEnterRecovery();
  }

  /** RFC 8985 6.2 and 7.4 for one acceptable ACK, after the scoreboard took it. */
  private rackOnAck(seg: SegmentIn, u: SackUpdate, now: number): void {
    const c = this.c;
    const rack = this.rack!;
    const sb = this.sb;
    const a = RACK_ACK;
    const o = seg.opts;
    a.ack = seg.ack;
    a.sndUnaBefore = c.sndUna;
    a.sndNxt = c.sndNxt;
    // The blocks the scoreboard accepted: a bogus block is no evidence of delivery.
    a.blocks = sb.validBlocks;
    a.count = sb.validCount;
    a.dsack = u.dsack;
    a.dsackStart = u.dsackStart;
    a.dsackEnd = u.dsackEnd;
    a.pureDupAck = seg.ack === c.sndUna && seg.dataLength === 0 && o.sackCount === 0 && !(seg.flags & (TcpFlag.SYN | TcpFlag.FIN));
    a.echoedSentAt = c.tsOk && o.hasTimestamp && o.tsEcr !== 0 ? now - seqDiff(c.tsNow(now), o.tsEcr) : -1;
    a.minRtt = c.minRtt;
    if (u.reneged > 0) rack.onReneged(sb);
    const verdict = rack.onAck(a, now, sb);
    if (verdict === TlpVerdict.RepairedLoss) {
      // RFC 8985 7.4.2: the probe repaired a loss: the congestion response of a fast recovery.
      c.host.stats.tlpRepairs++;
      c.cc.onCongestionEvent(now, seqDiff(c.sndMax, c.sndUna));
      this.undo.cancel();
    }
    this.rackDetectLoss(now);
  }

  /** RFC 8985 6.2 step 5, and the reorder timer it arms. */
  private rackDetectLoss(now: number): void {
    const c = this.c;
    const rack = this.rack!;
    const marked = rack.detectLoss(now, c.minRtt, c.rtt.srtt, this.sb.sackedBytes, c.sndMss, this.recovering());
    if (marked > 0) {
      c.host.stats.rackMarkedLost += marked;
      c.markDirty(); // NextSeg() retransmits what was marked
    }
    if (rack.reoAt !== Infinity) c.scheduleTimers();
  }

  /**
   * After an ACK: recovery by RACK's marks (RFC 8985 6.2: a segment marked lost starts fast
   * recovery, through the controller's fast-recovery entry), the end of a recovery for RACK's
   * reordering window, spurious-retransmission undo, and the PTO (RFC 8985 7.2).
   */
  lossRecoveryAfterAck(seg: SegmentIn, u: SackUpdate | null, sndUnaBefore: number, recoveringBefore: boolean, now: number): void {
    const c = this.c;
    const sb = this.sb;
    const rack = this.rack;
    if (rack && !this.inRecovery && rack.pendingBytes > 0 && c.sndUna !== c.sndMax && sb.canEnterRecovery()) this.enterSackRecovery(now);
    const advanced = seqGt(c.sndUna, sndUnaBefore);
    this.undoIfSpurious(seg, u, advanced);
    if (rack && recoveringBefore && !this.recovering()) rack.onRecoveryExit();
    // RFC 8985 7.2: re-arm on an ACK of new data; SACKed data stops the PTO.
    if (rack && (advanced || sb.sackedBytes > 0)) this.schedulePto(now, seqDiff(c.sndMax, c.sndUna));
  }

  /** Undoing the reduction also leaves the scoreboard's recovery. */
  protected override undoReduction(): void {
    super.undoReduction();
    this.sb.exitRecovery();
  }

  /** RFC 8985 7.2: arm (or stop) the PTO for a flight of `flight` bytes. */
  private schedulePto(now: number, flight: number): void {
    const c = this.c;
    const rack = this.rack!;
    const rtoExpire = c.rtoAt !== Infinity ? c.rtoAt : now + c.rtt.current(c.backoffs);
    rack.schedulePto(now, c.rtt.hasSample ? c.rtt.srtt : 0, flight, c.sndMss, this.sb.sackedBytes, this.recovering(), rtoExpire);
    if (rack.ptoAt !== Infinity) c.scheduleTimers();
  }

  /** Also RACK's transmit times, and the PTO. */
  override dataTransmitted(seq: number, n: number, now: number): void {
    super.dataTransmitted(seq, n, now);
    const rack = this.rack;
    if (!rack) return;
    const c = this.c;
    const end = seqAdd(seq, n);
    rack.onTransmit(seq, end, now);
    // RFC 8985 7.2: new data (not itself a probe: an episode is then open) re-arms the PTO.
    if (seqGt(end, c.sndMax)) this.schedulePto(now, seqDiff(end, c.sndUna));
  }

  /** The RACK reorder timer (RFC 8985 6.2 step 5) or the PTO (RFC 8985 7.3) fired. */
  onTimer(now: number): void {
    const c = this.c;
    const rack = this.rack!;
    if (rack.reoAt <= now) {
      rack.reoAt = Infinity;
      this.rackDetectLoss(now);
      if (!this.inRecovery && rack.pendingBytes > 0 && c.sndUna !== c.sndMax && this.sb.canEnterRecovery()) this.enterSackRecovery(now);
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
    const c = this.c;
    const rack = this.rack!;
    const s = c.state;
    if (!(s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK')) return;
    if (c.sndUna === c.sndMax || this.recovering() || rack.tlpActive) return;
    const mss = c.effectiveMss();
    const dataEnd = seqAdd(c.sndUna, c.sendQueue.length);
    const unsent = seqGt(dataEnd, c.sndNxt) ? seqDiff(dataEnd, c.sndNxt) : 0;
    const wndRoom = Math.max(0, seqDiff(seqAdd(c.sndUna, c.sndWnd), c.sndNxt));
    c.host.stats.tlpProbes++;
    if (unsent > 0 && wndRoom > 0 && c.sndNxt === c.sndMax) {
      const len = Math.min(mss, unsent, wndRoom);
      const fin = c.finQueued && seqAdd(c.sndNxt, len) === c.finSeq;
      const next = seqAdd(c.sndNxt, len + (fin ? 1 : 0));
      rack.onProbeSent(false, next);
      c.sendSegment(c.sndNxt, len, TcpFlag.ACK | (len === unsent ? TcpFlag.PSH : 0) | (fin ? TcpFlag.FIN : 0));
      c.sndNxt = next;
      if (seqGt(next, c.sndMax)) c.sndMax = next;
    } else {
      const last = rack.lastSegmentStart();
      let seq = last >= 0 && seqGe(last, c.sndUna) && seqDiff(c.sndMax, last) <= mss ? last : seqAdd(c.sndMax, -mss);
      if (seqLt(seq, c.sndUna)) seq = c.sndUna;
      rack.onProbeSent(true, c.sndMax);
      this.retransmitRange(seq, seqDiff(c.sndMax, seq));
    }
    c.rtoAt = now + c.rtt.current(c.backoffs);
    c.scheduleTimers();
  }
}

const NO_SACK_BLOCKS = new Uint32Array(0);

/** The argument of RackTlp.onAck, one object for every connection: it lives within one call. */
const RACK_ACK: RackAck = {
  ack: 0,
  sndUnaBefore: 0,
  sndNxt: 0,
  blocks: NO_SACK_BLOCKS,
  count: 0,
  dsack: false,
  dsackStart: 0,
  dsackEnd: 0,
  pureDupAck: false,
  echoedSentAt: -1,
  minRtt: -1,
};
