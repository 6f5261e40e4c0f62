/**
 * Window arithmetic shared by the congestion controllers: the initial window, the "arbitrarily
 * high" initial ssthresh, and a byte accumulator for growth that comes in fractions of a byte.
 */

/** RFC 5681 3.1: "The initial value of ssthresh SHOULD be set arbitrarily high". */
export const INITIAL_SSTHRESH = 0x7fffffff;

/** RFC 6928 2: IW = min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/**
 * Adds fractional byte increments to an integer window: the whole bytes go to the window, the
 * remainder waits for the next increment (CSS grows by a quarter of what is acked, CUBIC by
 * `(target - cwnd) / cwnd` per acked byte). The window stays a whole number of bytes, which is
 * what the sender compares against.
 */
export class ByteCredit {
  private frac = 0;

  /** Whole bytes to add to the window now, out of `bytes` more (any non-negative fraction). */
  take(bytes: number): number {
    this.frac += bytes;
    const whole = Math.floor(this.frac);
    this.frac -= whole;
    return whole;
  }

  /** The fraction of a byte carried over (0 <= value < 1). */
  get pending(): number {
    return this.frac;
  }

  reset(): void {
    this.frac = 0;
  }
}
