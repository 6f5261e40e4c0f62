/**
 * CUBIC (RFC 9438) with HyStart++ (RFC 9406) in the initial slow start.
 *
 * Windows are kept in bytes; the cubic function works in segments (RFC 9438 4.1.2: "W_cubic(t)
 * ... in segments"), so W_max and the window are divided by the MSS where the formulas need it.
 * t is in seconds, every time given to the methods is in milliseconds.
 *
 * - Congestion avoidance (RFC 9438 4.2-4.5): W_cubic(t) = C*(t-K)^3 + W_max with
 *   K = cbrt((W_max - cwnd_epoch) / C), t measured from the first ACK of the congestion
 *   avoidance stage (epoch_start), leaving out app-limited time; the target W_cubic(t + RTT)
 *   clamped to [cwnd, 1.5*cwnd]; cwnd += (target - cwnd) / cwnd per acked segment, in bytes
 *   (target - cwnd) * acked / cwnd; the Reno-friendly estimate W_est wins when W_cubic(t) < W_est.
 * - Loss (4.6, 4.7): fast convergence updates W_max, then ssthresh = FlightSize * beta_cubic and
 *   cwnd = max(ssthresh, 2*SMSS). Timeout (4.8): same ssthresh, cwnd = 1 SMSS, and the next
 *   congestion avoidance starts with K = 0 and W_max = cwnd_epoch. Spurious (4.9): undo.
 * - Slow start (4.10): cwnd += min(acked, L*SMSS) (RFC 9406 4.2, L = 8), divided by 4 in CSS;
 *   when HyStart++ leaves slow start without loss, ssthresh = cwnd_prior = cwnd, and W_max is
 *   undefined (K = 0, W_max = cwnd_epoch).
 */
import type { AckSample, CcOptions, CongestionControl } from './congestion-control.js';
import { HYSTART_NON_PACED_L, HyStartPlusPlus } from './hystart.js';
import { ByteCredit, INITIAL_SSTHRESH, initialWindow } from './window.js';

/** RFC 9438 4.1.1 / 5: C SHOULD be 0.4. */
export const CUBIC_C = 0.4;
/** RFC 9438 4.6: beta_cubic SHOULD be 0.7. */
export const BETA_CUBIC = 0.7;
/** RFC 9438 4.3: alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic), same average window as Reno. */
export const ALPHA_CUBIC = (3 * (1 - BETA_CUBIC)) / (1 + BETA_CUBIC);
/** RFC 9438 4.2: the target is at most 1.5 * cwnd (growth below slow start's). */
const MAX_TARGET_RATIO = 1.5;
/** RFC 6298 2.3: SRTT gain alpha = 1/8 (the target's RTT is the smoothed RTT, RFC 9438 4.2). */
const SRTT_GAIN = 1 / 8;

/** The variables RFC 9438 4.9 saves at a congestion event, to restore on a spurious one. */
interface CubicSnapshot {
  cwnd: number;
  ssthresh: number;
  wMax: number;
  k: number;
  epochStart: number;
  epochActive: boolean;
  cwndEpoch: number;
  wEst: number;
  cwndPrior: number;
  hystartActive: boolean;
}

export class Cubic implements CongestionControl {
  readonly name = 'cubic' as const;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;

  /** W_max in bytes: the window just before the last reduction (after fast convergence); 0 when undefined. */
  private wMax = 0;
  /** K in seconds (RFC 9438 eq. 2). */
  private k = 0;
  /** epoch_start in ms: the start of the current congestion avoidance stage, if one has started. */
  private epochStart = 0;
  private epochActive = false;
  /** cwnd_epoch in bytes: cwnd at epoch_start. */
  private cwndEpoch = 0;
  /** W_est in bytes (RFC 9438 4.3). */
  private wEst = 0;
  /** cwnd_prior in bytes: cwnd before the last reduction (RFC 9438 4.3, 4.6). */
  private cwndPrior = 0;
  /** Smoothed RTT in ms (RFC 6298 2.3 rule), 0 before the first sample. */
  private srtt = 0;
  /** Time of the previous ACK, for leaving app-limited periods out of t (RFC 9438 4.2). */
  private lastAckAt: number;
  private timeoutRepeat = false;
  private prior: CubicSnapshot | null = null;
  private readonly credit = new ByteCredit();
  private readonly hystart: HyStartPlusPlus;
  private readonly slowStartLimit: number;
  private readonly fastConvergence: boolean;

  constructor(
    private readonly mss: number,
    clockStartMs: number,
    options: CcOptions = {},
  ) {
    this.cwnd = initialWindow(mss);
    this.lastAckAt = clockStartMs;
    this.slowStartLimit = options.slowStartLimit ?? HYSTART_NON_PACED_L;
    this.fastConvergence = options.fastConvergence ?? true;
    this.hystart = new HyStartPlusPlus(options.hystart ?? true);
  }

  /** W_cubic(t) in bytes, t in seconds since epoch_start (RFC 9438 eq. 1). */
  wCubic(t: number): number {
    const d = t - this.k;
    return CUBIC_C * d * d * d * this.mss + this.wMax;
  }

  onAck(s: AckSample): void {
    if (s.acked <= 0) return;
    this.timeoutRepeat = false;
    if (s.rtt >= 0) this.srtt = this.srtt === 0 ? s.rtt : this.srtt + SRTT_GAIN * (s.rtt - this.srtt);
    if (s.appLimited) {
      // RFC 9438 4.2: t leaves out time in which cwnd was not grown for an application limit;
      // RFC 7661: no growth while the window is not used. HyStart++ skips these ACKs too: an
      // RTT taken without a full window says nothing about the queue.
      if (this.epochActive) this.epochStart += s.now - this.lastAckAt;
      this.lastAckAt = s.now;
      return;
    }
    this.lastAckAt = s.now;
    let acked = s.acked;
    if (this.cwnd < this.ssthresh) {
      acked = this.slowStart(s);
      if (acked <= 0) return;
    }
    this.congestionAvoidance(s.now, acked);
  }

  onCongestionEvent(_now: number, inFlight: number): void {
    this.savePrior();
    // RFC 9438 4.7 fast convergence, before the reduction: a loss below the last W_max means
    // the saturation point fell; plateau earlier.
    const belowLastMax = this.fastConvergence && this.cwnd < this.wMax;
    this.wMax = belowLastMax ? (this.cwnd * (1 + BETA_CUBIC)) / 2 : this.cwnd;
    this.cwndPrior = this.cwnd;
    // RFC 9438 4.6: ssthresh = flight_size * beta_cubic, cwnd = max(ssthresh, 2), ssthresh >= 2.
    const reduced = Math.max(Math.floor(inFlight * BETA_CUBIC), 2 * this.mss);
    this.ssthresh = reduced;
    this.cwnd = reduced;
    this.endEpoch();
  }

  onRecoveryEnd(_now: number, inFlight: number): void {
    // RFC 6582 3.2 step 3 option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS). If that is
    // below ssthresh, slow start brings it back and the CUBIC epoch starts there.
    this.cwnd = Math.min(this.ssthresh, Math.max(inFlight, this.mss) + this.mss);
    this.credit.reset();
    this.timeoutRepeat = false;
  }

  onTimeout(_now: number, inFlight: number): void {
    if (!this.timeoutRepeat) {
      // RFC 9438 4.8: ssthresh as in 4.6; RFC 5681 3.1: held constant when the same segment
      // times out again.
      this.savePrior();
      this.cwndPrior = this.cwnd;
      this.ssthresh = Math.max(Math.floor(inFlight * BETA_CUBIC), 2 * this.mss);
      // RFC 9438 4.8: the next congestion avoidance uses K = 0 and W_max = cwnd_epoch.
      this.wMax = 0;
      this.timeoutRepeat = true;
    }
    this.cwnd = this.mss; // RFC 5681 3.1: loss window, 1 SMSS
    this.endEpoch();
  }

  undo(): void {
    const p = this.prior;
    if (p === null) return;
    this.prior = null;
    this.timeoutRepeat = false;
    // RFC 9438 4.9: restore only if the window is still below the one before the reduction.
    if (this.cwnd >= p.cwnd) return;
    this.cwnd = p.cwnd;
    this.ssthresh = p.ssthresh;
    this.wMax = p.wMax;
    this.k = p.k;
    this.epochStart = p.epochStart;
    this.epochActive = p.epochActive;
    this.cwndEpoch = p.cwndEpoch;
    this.wEst = p.wEst;
    this.cwndPrior = p.cwndPrior;
    if (p.hystartActive && this.hystart.phase === 'done') this.hystart.phase = 'slow-start';
    this.credit.reset();
  }

  state(): Record<string, number> {
    return {
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      /** Bytes. */
      wMax: this.wMax,
      /** Seconds. */
      k: this.k,
      /** ms; -1 outside congestion avoidance (before the first ACK of the stage). */
      epochStart: this.epochActive ? this.epochStart : -1,
      cwndEpoch: this.cwndEpoch,
      wEst: this.wEst,
      cwndPrior: this.cwndPrior,
      srtt: this.srtt,
      /** 0 slow start, 1 CSS, 2 HyStart++ over. */
      hystartPhase: this.hystart.phase === 'slow-start' ? 0 : this.hystart.phase === 'css' ? 1 : 2,
      lastRoundMinRtt: this.hystart.lastRoundMinRtt,
      currentRoundMinRtt: this.hystart.currentRoundMinRtt,
      cssBaselineMinRtt: this.hystart.cssBaselineMinRtt,
      cssRounds: this.hystart.cssRounds,
      rounds: this.hystart.rounds,
    };
  }

  /**
   * RFC 9438 4.10 slow start (RFC 5681, with HyStart++ in the initial one). Returns the bytes
   * left for congestion avoidance when cwnd reached ssthresh on this ACK, else 0.
   */
  private slowStart(s: AckSample): number {
    // RFC 9406 4.2: cwnd += min(N, L*SMSS), divided by CSS_GROWTH_DIVISOR in CSS.
    const inc = Math.min(s.acked, this.slowStartLimit * this.mss);
    const hystartOn = this.hystart.phase !== 'done';
    let left = 0;
    this.cwnd += this.credit.take(inc / this.hystart.growthDivisor);
    if (this.cwnd >= this.ssthresh) {
      left = Math.min(s.acked, this.cwnd - this.ssthresh);
      this.cwnd = this.ssthresh;
    }
    if (hystartOn && this.hystart.onAck(s.rtt, s.sndUna, s.sndNxt)) {
      // RFC 9406 4.2 / RFC 9438 4.10: CSS done: ssthresh = cwnd, W_max undefined.
      this.ssthresh = this.cwnd;
      this.cwndPrior = this.cwnd;
      this.wMax = 0;
      this.endEpoch();
    }
    return left;
  }

  /** RFC 9438 4.2-4.5: one ACK of `acked` bytes in congestion avoidance. */
  private congestionAvoidance(now: number, acked: number): void {
    if (!this.epochActive) this.startEpoch(now);
    const t = (now - this.epochStart) / 1000;
    const cwnd = this.cwnd + this.credit.pending;
    // RFC 9438 4.3 eq. 4 in bytes (ABC): W_est += alpha * acked * SMSS / cwnd; alpha = 1 once
    // W_est has reached cwnd_prior.
    const alpha = this.wEst >= this.cwndPrior ? 1 : ALPHA_CUBIC;
    this.wEst += (alpha * acked * this.mss) / cwnd;
    let target: number;
    if (this.wCubic(t) < this.wEst) {
      target = this.wEst; // Reno-friendly region: cwnd = W_est
    } else {
      // RFC 9438 4.2 target, 4.4 / 4.5 concave and convex: (target - cwnd) / cwnd per segment.
      const w = this.wCubic(t + this.srtt / 1000);
      const clamped = Math.min(Math.max(w, cwnd), MAX_TARGET_RATIO * cwnd);
      target = cwnd + Math.min(((clamped - cwnd) * acked) / cwnd, clamped - cwnd);
    }
    if (target > cwnd) this.cwnd += this.credit.take(target - cwnd);
  }

  /** RFC 9438 4.2: the first ACK of a congestion avoidance stage. */
  private startEpoch(now: number): void {
    this.epochActive = true;
    this.epochStart = now;
    this.cwndEpoch = this.cwnd;
    this.wEst = this.cwnd; // RFC 9438 4.3 (and 4.8): W_est = cwnd_epoch
    if (this.wMax <= this.cwnd) {
      // RFC 9438 4.8 / 4.10 (after a timeout or a HyStart++ exit, W_max undefined), and a window
      // already at or past W_max: K = 0, W_max = cwnd_epoch.
      this.wMax = this.cwnd;
      this.k = 0;
    } else {
      this.k = Math.cbrt((this.wMax - this.cwnd) / this.mss / CUBIC_C); // RFC 9438 eq. 2
    }
  }

  private endEpoch(): void {
    this.epochActive = false;
    this.credit.reset();
    this.hystart.stop(); // RFC 9406 4.2: HyStart++ only in the initial slow start
  }

  private savePrior(): void {
    this.prior = {
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      wMax: this.wMax,
      k: this.k,
      epochStart: this.epochStart,
      epochActive: this.epochActive,
      cwndEpoch: this.cwndEpoch,
      wEst: this.wEst,
      cwndPrior: this.cwndPrior,
      hystartActive: this.hystart.phase !== 'done',
    };
  }
}
