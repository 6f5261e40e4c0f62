/** Retransmission timeout per RFC 6298, with Karn's rule left to the caller (sample only fresh data). */
export class RttEstimator {
  srtt = 0;
  rttvar = 0;
  /** Current RTO in ms, before backoff. */
  rto: number;
  hasSample = false;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    initialMs: number,
  ) {
    this.rto = initialMs;
  }

  /** RFC 6298 2.2 and 2.3 (alpha 1/8, beta 1/4, K 4, clock granularity G taken as 1 ms). */
  sample(rttMs: number): void {
    if (rttMs < 0) return;
    if (!this.hasSample) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
      this.hasSample = true;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rttMs);
      this.srtt = 0.875 * this.srtt + 0.125 * rttMs;
    }
    this.rto = Math.min(this.maxMs, Math.max(this.minMs, this.srtt + Math.max(1, 4 * this.rttvar)));
  }

  /** RTO after `backoffs` doublings (RFC 6298 5.5), capped at the maximum. */
  current(backoffs: number): number {
    return Math.min(this.maxMs, this.rto * 2 ** backoffs);
  }
}
