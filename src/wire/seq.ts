/**
 * 32-bit sequence-number arithmetic (RFC 9293 3.4 "Sequence Numbers": "all arithmetic dealing
 * with sequence numbers must be performed modulo 2**32"), comparisons as in RFC 1982 serial
 * number arithmetic with SERIAL_BITS = 32.
 *
 * A sequence number is a plain `number` in 0..2^32-1, always `>>> 0`: no class, nothing
 * allocated. Never compare two of them with `<` or subtract them directly; the wrap at 2^32 is
 * the classic TCP bug (0xfffffff0 comes before 0x10). Use these instead.
 *
 * Comparisons use the signed 32-bit distance, as Linux's before()/after() do: `a < b` when
 * `b - a` mod 2^32 lies in 1..2^31-1. Two numbers exactly 2^31 apart are undefined in RFC 1982
 * 3.2; here each is "less than" the other, which TCP never meets because windows are at most
 * 2^30 bytes (RFC 7323 2.3).
 */

export type SeqNum = number;

/** `a + n` modulo 2^32; `n` may be negative (any safe integer). */
export function seqAdd(a: SeqNum, n: number): SeqNum {
  return (a + n) >>> 0;
}

/** The signed distance `a - b`, in -2^31..2^31-1: how far `a` is ahead of `b`. */
export function seqDiff(a: SeqNum, b: SeqNum): number {
  return (a - b) | 0;
}

/** `a < b` in sequence space. */
export function seqLt(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) < 0;
}

/** `a <= b` in sequence space. */
export function seqLe(a: SeqNum, b: SeqNum): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a > b` in sequence space. */
export function seqGt(a: SeqNum, b: SeqNum): boolean {
  return ((b - a) | 0) < 0;
}

/** `a >= b` in sequence space. */
export function seqGe(a: SeqNum, b: SeqNum): boolean {
  return ((b - a) | 0) <= 0;
}

/** The later of `a` and `b`. */
export function seqMax(a: SeqNum, b: SeqNum): SeqNum {
  return ((a - b) | 0) < 0 ? b : a;
}

/** The earlier of `a` and `b`. */
export function seqMin(a: SeqNum, b: SeqNum): SeqNum {
  return ((a - b) | 0) < 0 ? a : b;
}

/**
 * `lo <= x < hi` in sequence space: `x` lies in the half-open range that starts at `lo` and
 * runs forward to `hi`. Measured as unsigned offsets from `lo`, so it holds for ranges up to
 * 2^32-1 long; `lo == hi` is empty. RFC 9293 3.4's acceptability tests, e.g.
 * "RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND", are `seqInRange(SEG.SEQ, RCV.NXT, RCV.NXT+RCV.WND)`
 * (or {@link seqInWindow}).
 */
export function seqInRange(x: SeqNum, lo: SeqNum, hi: SeqNum): boolean {
  return (x - lo) >>> 0 < (hi - lo) >>> 0;
}

/**
 * `start <= x < start + len` in sequence space, `len` in 0..2^32-1. An empty window (`len` 0)
 * contains nothing (RFC 9293 3.4 treats zero windows specially; that is the caller's rule).
 */
export function seqInWindow(x: SeqNum, start: SeqNum, len: number): boolean {
  return (x - start) >>> 0 < len;
}

/**
 * `lo < x <= hi` in sequence space: `x` lies in the range that starts just after `lo` and runs
 * forward to `hi`, as RFC 9293 3.4's "SND.UNA < SEG.ACK =< SND.NXT" and RFC 2018 3's SACK
 * blocks above the cumulative ACK. Measured as unsigned offsets from `lo` (gVisor's
 * `seqnum.Value.InRange` idea): a chain of pairwise comparisons such as
 * `seqLt(lo, x) && seqLe(x, hi)` is not transitive modulo 2^32 once its three numbers spread
 * over more than 2^31, and then lets through values far outside the range.
 */
export function seqInRangeAbove(x: SeqNum, lo: SeqNum, hi: SeqNum): boolean {
  const d = (x - lo) >>> 0;
  return d !== 0 && d <= (hi - lo) >>> 0;
}
