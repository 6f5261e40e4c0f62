/**
 * HyStart++ (RFC 9406): leave slow start when the round-trip time grows, before the queue
 * overflows, through a few rounds of Conservative Slow Start (CSS) that undo a false exit.
 *
 * This class keeps the round and RTT bookkeeping of RFC 9406 4.2 and decides the phase; the
 * controller owns cwnd and applies {@link HyStartPlusPlus.growthDivisor} to its slow-start
 * increment. Rounds are counted in sequence space: a round ends when SND.UNA reaches the
 * SND.NXT recorded when it began ("windowEnd").
 */
import { seqGe } from '../../wire/seq.js';

/** RFC 9406 4.3: MIN_RTT_THRESH = 4 msec, MAX_RTT_THRESH = 16 msec. */
export const MIN_RTT_THRESH_MS = 4;
export const MAX_RTT_THRESH_MS = 16;
/** RFC 9406 4.3: MIN_RTT_DIVISOR = 8. */
export const MIN_RTT_DIVISOR = 8;
/** RFC 9406 4.3: N_RTT_SAMPLE = 8. */
export const N_RTT_SAMPLE = 8;
/** RFC 9406 4.3: CSS_GROWTH_DIVISOR = 4. */
export const CSS_GROWTH_DIVISOR = 4;
/** RFC 9406 4.3: CSS_ROUNDS = 5. */
export const CSS_ROUNDS = 5;
/** RFC 9406 4.3: L = 8 for a sender that does not pace (infinity if it does). */
export const HYSTART_NON_PACED_L = 8;

/** Where the slow start stands: standard slow start, CSS, or over (HyStart++ no longer used). */
export type HyStartPhase = 'slow-start' | 'css' | 'done';

/** RFC 9406 4.2: RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR, MAX_RTT_THRESH)). */
export function rttThresh(lastRoundMinRtt: number): number {
  return Math.max(MIN_RTT_THRESH_MS, Math.min(lastRoundMinRtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH_MS));
}

export class HyStartPlusPlus {
  phase: HyStartPhase;
  lastRoundMinRtt = Infinity;
  currentRoundMinRtt = Infinity;
  rttSampleCount = 0;
  cssBaselineMinRtt = Infinity;
  /** Rounds ended while in CSS (the partial round CSS began in counts, RFC 9406 4.2). */
  cssRounds = 0;
  /** Rounds started so far (diagnostics). */
  rounds = 0;
  private windowEnd = 0;
  private roundStarted = false;

  constructor(enabled: boolean) {
    this.phase = enabled ? 'slow-start' : 'done';
  }

  /** RFC 9406 4.2: CSS grows by min(N, L*SMSS) / CSS_GROWTH_DIVISOR, slow start by min(N, L*SMSS). */
  get growthDivisor(): number {
    return this.phase === 'css' ? CSS_GROWTH_DIVISOR : 1;
  }

  /** No more HyStart++ on this connection (RFC 9406 4.2: only the initial slow start uses it). */
  stop(): void {
    this.phase = 'done';
  }

  /**
   * Bookkeeping for one ACK in slow start, after cwnd was grown for it: the RTT sample joins the
   * current round, the exit and resume tests run, and the round ends if SND.UNA reached
   * windowEnd. Returns true when CSS has run CSS_ROUNDS rounds: the caller sets ssthresh = cwnd
   * and goes to congestion avoidance.
   */
  onAck(rtt: number, sndUna: number, sndNxt: number): boolean {
    if (this.phase === 'done') return false;
    if (!this.roundStarted) this.startRound(sndNxt);
    if (rtt >= 0) {
      this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, rtt);
      this.rttSampleCount++;
    }
    if (this.rttSampleCount >= N_RTT_SAMPLE && this.currentRoundMinRtt !== Infinity) {
      if (this.phase === 'slow-start') {
        if (
          this.lastRoundMinRtt !== Infinity &&
          this.currentRoundMinRtt >= this.lastRoundMinRtt + rttThresh(this.lastRoundMinRtt)
        ) {
          // RFC 9406 4.2: the delay grew; remember the RTT that made us leave, enter CSS.
          this.cssBaselineMinRtt = this.currentRoundMinRtt;
          this.phase = 'css';
          this.cssRounds = 0;
        }
      } else if (this.currentRoundMinRtt < this.cssBaselineMinRtt) {
        // RFC 9406 4.2: the RTT fell below the baseline: the exit was spurious, resume slow start.
        this.cssBaselineMinRtt = Infinity;
        this.phase = 'slow-start';
        this.cssRounds = 0;
      }
    }
    if (seqGe(sndUna, this.windowEnd)) {
      if (this.phase === 'css' && ++this.cssRounds >= CSS_ROUNDS) {
        this.phase = 'done'; // RFC 9406 4.2: after CSS_ROUNDS, congestion avoidance
        return true;
      }
      this.startRound(sndNxt);
    }
    return false;
  }

  /** RFC 9406 4.2: at the start of each round, lastRoundMinRTT = currentRoundMinRTT, and reset. */
  private startRound(sndNxt: number): void {
    this.lastRoundMinRtt = this.currentRoundMinRtt;
    this.currentRoundMinRtt = Infinity;
    this.rttSampleCount = 0;
    this.windowEnd = sndNxt;
    this.roundStarted = true;
    this.rounds++;
  }
}
