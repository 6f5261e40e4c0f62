/**
 * Deadlines of many connections in one min-heap, so that one host timer serves them all.
 * A connection keeps its own deadlines as numbers; it is (re)scheduled here only when its
 * earliest deadline moves earlier. Entries that became stale (the connection moved its deadline
 * later or went away) are skipped when they surface: re-arming a later deadline, which happens
 * on every ACK, costs nothing.
 */
export interface Scheduled {
  /** The earliest time this object wants `onTimer`; Infinity for none. */
  nextDeadline(): number;
  onTimer(now: number): void;
  /** Bookkeeping for the queue: the deadline it is queued at (Infinity when not queued). */
  queuedAt: number;
}

export class TimerQueue {
  private times: number[] = [];
  private items: Scheduled[] = [];

  get size(): number {
    return this.times.length;
  }

  /** Make sure `s` runs by its nextDeadline(). */
  schedule(s: Scheduled): void {
    const at = s.nextDeadline();
    if (at === Infinity || at >= s.queuedAt) return;
    s.queuedAt = at;
    this.push(at, s);
  }

  /** The earliest queued time (may be stale, which only causes an early, harmless wake-up). */
  peek(): number {
    return this.times.length > 0 ? this.times[0]! : Infinity;
  }

  /** Run everything due at `now`. */
  run(now: number): void {
    while (this.times.length > 0 && this.times[0]! <= now) {
      const at = this.times[0]!;
      const s = this.items[0]!;
      this.pop();
      if (s.queuedAt !== at) continue; // a stale entry: s was queued again earlier
      s.queuedAt = Infinity;
      const due = s.nextDeadline();
      if (due <= now) s.onTimer(now);
      this.schedule(s);
    }
  }

  private push(t: number, s: Scheduled): void {
    const times = this.times;
    const items = this.items;
    let i = times.length;
    times.push(t);
    items.push(s);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (times[p]! <= t) break;
      times[i] = times[p]!;
      items[i] = items[p]!;
      i = p;
    }
    times[i] = t;
    items[i] = s;
  }

  private pop(): void {
    const times = this.times;
    const items = this.items;
    const lastT = times.pop()!;
    const lastS = items.pop()!;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && times[c + 1]! < times[c]!) c++;
      if (times[c]! >= lastT) break;
      times[i] = times[c]!;
      items[i] = items[c]!;
      i = c;
    }
    times[i] = lastT;
    items[i] = lastS;
  }
}
