/**
 * Reno / NewReno window policy: RFC 5681 3.1 slow start and congestion avoidance with byte
 * counting (RFC 3465), the RFC 5681 3.1 eq. 4 reduction on loss, the RFC 6582 3.2 step 3 window
 * at the end of recovery, and an undo of a reduction found spurious (RFC 4015 style).
 *
 * Slow start: cwnd += min(acked, L * SMSS) per ACK with L = 1 by default (RFC 5681 eq. 2, the
 * rule the engine used before this module), never past ssthresh; bytes beyond ssthresh count
 * toward congestion avoidance. Congestion avoidance counts bytes (RFC 3465 2.1, RFC 5681 3.1
 * eq. 3): one SMSS once a full cwnd of bytes has been acknowledged.
 */
import type { AckSample, CcOptions, CongestionControl } from './congestion-control.js';
import { INITIAL_SSTHRESH, initialWindow } from './window.js';

/** RFC 5681 3.1 eq. 2 (one SMSS per ACK), RFC 3465 2.2 L. */
const DEFAULT_SLOW_START_LIMIT = 1;

export class NewReno implements CongestionControl {
  readonly name = 'newreno' as const;
  cwnd: number;
  ssthresh = INITIAL_SSTHRESH;

  /** RFC 3465 2.1 bytes_acked, in congestion avoidance. */
  private bytesAcked = 0;
  private readonly slowStartLimit: number;
  /** Window before the last reduction, for {@link undo}; -1 when there is none to undo. */
  private priorCwnd = -1;
  private priorSsthresh = -1;
  /** A timeout with no new data acknowledged since: the same segment timing out again. */
  private timeoutRepeat = false;

  constructor(
    private readonly mss: number,
    options: CcOptions = {},
  ) {
    this.cwnd = initialWindow(mss);
    this.slowStartLimit = options.slowStartLimit ?? DEFAULT_SLOW_START_LIMIT;
  }

  onAck(s: AckSample): void {
    if (s.acked <= 0) return;
    this.timeoutRepeat = false;
    if (s.appLimited) return; // RFC 7661 / RFC 5681 4.1: a window not used is not validated
    let acked = s.acked;
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 3.1 eq. 2 with RFC 3465 2.2: cwnd += min(N, L*SMSS), up to ssthresh.
      const grow = Math.min(acked, this.slowStartLimit * this.mss, this.ssthresh - this.cwnd);
      this.cwnd += grow;
      if (this.cwnd < this.ssthresh) return;
      acked -= grow;
    }
    // RFC 5681 3.1 eq. 3 by byte counting (RFC 3465 2.1): +1 SMSS per cwnd of bytes acked.
    this.bytesAcked += acked;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onCongestionEvent(_now: number, inFlight: number): void {
    this.savePrior();
    // RFC 5681 3.2 step 2 / RFC 6582 3.2 step 1: ssthresh = max(FlightSize / 2, 2*SMSS).
    this.ssthresh = this.halfFlight(inFlight);
    // The reduced window; RFC 5681 3.2 step 3's temporary "+ 3*SMSS" inflation is the engine's.
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onRecoveryEnd(_now: number, inFlight: number): void {
    // RFC 6582 3.2 step 3 option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS), no burst.
    this.cwnd = Math.min(this.ssthresh, Math.max(inFlight, this.mss) + this.mss);
    this.bytesAcked = 0;
    this.timeoutRepeat = false;
  }

  onTimeout(_now: number, inFlight: number): void {
    // RFC 5681 3.1: ssthresh per eq. 4 only for a segment not yet resent by the timer; when
    // the same segment times out again "the value of ssthresh is held constant".
    if (!this.timeoutRepeat) {
      this.savePrior();
      this.ssthresh = this.halfFlight(inFlight);
      this.timeoutRepeat = true;
    }
    this.cwnd = this.mss; // RFC 5681 3.1: loss window LW = 1 full-sized segment
    this.bytesAcked = 0;
  }

  undo(): void {
    if (this.priorCwnd < 0) return;
    // RFC 4015 3.2 style (as Linux tcp_undo_cwnd_reduction): back to the window before the
    // reduction, never lower than now.
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
    this.priorCwnd = -1;
    this.priorSsthresh = -1;
    this.timeoutRepeat = false;
  }

  state(): Record<string, number> {
    return {
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      bytesAcked: this.bytesAcked,
      priorCwnd: this.priorCwnd,
      priorSsthresh: this.priorSsthresh,
    };
  }

  /** RFC 5681 3.1 eq. 4: max(FlightSize / 2, 2*SMSS). */
  private halfFlight(inFlight: number): number {
    return Math.max(Math.floor(inFlight / 2), 2 * this.mss);
  }

  private savePrior(): void {
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
  }
}
