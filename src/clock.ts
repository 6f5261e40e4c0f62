/**
 * Time as the stack sees it. Nothing below `iface/` reads a clock; everything that needs the
 * time takes a `Clock`, so tests drive it with a {@link ManualClock}.
 */
export interface Clock {
  /** Monotonic milliseconds (fractional allowed). */
  nowMs(): number;
}

/** The real monotonic clock. */
export const systemClock: Clock = {
  nowMs: () => performance.now(),
};

/** A clock that moves only when told to: for deterministic tests. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  nowMs(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(ms: number): void {
    this.t = ms;
  }
}
