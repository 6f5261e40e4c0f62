import { describe, it, expect } from 'vitest';
import {
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqInRange,
  seqInRangeAbove,
  seqInWindow,
  seqLe,
  seqLt,
  seqMax,
  seqMin,
} from '../../../src/wire/seq.js';
import { mulberry32 } from './helpers.js';

const M = 2n ** 32n;

/** Reference: the signed distance a - b, reduced into [-2^31, 2^31). */
function refDiff(a: number, b: number): bigint {
  let d = (((BigInt(a) - BigInt(b)) % M) + M) % M;
  if (d >= 2n ** 31n) d -= M;
  return d;
}
function refAdd(a: number, n: number): number {
  return Number((((BigInt(a) + BigInt(n)) % M) + M) % M);
}
/** Reference: unsigned offset of x from lo. */
function refOffset(x: number, lo: number): bigint {
  return (((BigInt(x) - BigInt(lo)) % M) + M) % M;
}

describe('sequence arithmetic', () => {
  it('adds and subtracts across the wrap', () => {
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqAdd(0x10, -0x20)).toBe(0xfffffff0);
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0, -1)).toBe(0xffffffff);
    expect(seqAdd(5, 2 ** 32)).toBe(5);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqDiff(0xfffffff0, 0x10)).toBe(-0x20);
    expect(seqDiff(7, 7)).toBe(0);
    expect(seqDiff(0x7fffffff, 0)).toBe(0x7fffffff);
    expect(seqDiff(0x80000000, 0)).toBe(-0x80000000);
  });

  it('results are unsigned numbers', () => {
    expect(seqAdd(0x7fffffff, 1)).toBe(0x80000000);
    expect(seqAdd(0x80000000, 0x7fffffff)).toBe(0xffffffff);
    expect(seqMax(0x7fffffff, 0x80000000)).toBe(0x80000000);
  });

  it('compares across the wrap: 0xfffffff0 < 0x10', () => {
    const a = 0xfffffff0;
    const b = 0x10;
    expect(seqLt(a, b)).toBe(true);
    expect(seqLe(a, b)).toBe(true);
    expect(seqGt(a, b)).toBe(false);
    expect(seqGe(a, b)).toBe(false);
    expect(seqGt(b, a)).toBe(true);
    expect(seqGe(b, a)).toBe(true);
    expect(seqLt(b, a)).toBe(false);
    expect(seqMax(a, b)).toBe(b);
    expect(seqMin(a, b)).toBe(a);
    expect(seqMax(b, a)).toBe(b);
    expect(seqMin(b, a)).toBe(a);
    // Raw < gets it backwards; that is the bug this module exists to prevent.
    expect(a < b).toBe(false);
  });

  it('equal numbers are <= and >= but not < or >', () => {
    for (const x of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]) {
      expect(seqLt(x, x)).toBe(false);
      expect(seqGt(x, x)).toBe(false);
      expect(seqLe(x, x)).toBe(true);
      expect(seqGe(x, x)).toBe(true);
      expect(seqMax(x, x)).toBe(x);
      expect(seqMin(x, x)).toBe(x);
    }
  });

  it('compares at the edge of the half space', () => {
    expect(seqLt(0, 0x7fffffff)).toBe(true);
    expect(seqGt(0x7fffffff, 0)).toBe(true);
    expect(seqLt(0x80000000, 0xffffffff)).toBe(true);
    expect(seqLt(0xffffffff, 0x7ffffffe)).toBe(true);
    // Exactly 2^31 apart is undefined (RFC 1982 3.2): each is "less than" the other.
    expect(seqLt(0, 0x80000000)).toBe(true);
    expect(seqLt(0x80000000, 0)).toBe(true);
  });

  it('in range and in window at the wrap', () => {
    const start = 0xfffffff0;
    const end = seqAdd(start, 0x20); // 0x10
    expect(seqInRange(0xfffffff0, start, end)).toBe(true);
    expect(seqInRange(0xffffffff, start, end)).toBe(true);
    expect(seqInRange(0, start, end)).toBe(true);
    expect(seqInRange(0xf, start, end)).toBe(true);
    expect(seqInRange(0x10, start, end)).toBe(false); // hi is exclusive
    expect(seqInRange(0xffffffef, start, end)).toBe(false);
    expect(seqInRange(0x80000000, start, end)).toBe(false);
    expect(seqInRange(start, start, start)).toBe(false); // empty
    for (const x of [0xfffffff0, 0xffffffff, 0, 0xf]) expect(seqInWindow(x, start, 0x20)).toBe(true);
    for (const x of [0x10, 0x11, 0xffffffef, 0x7fffffff]) expect(seqInWindow(x, start, 0x20)).toBe(false);
    expect(seqInWindow(start, start, 1)).toBe(true);
    expect(seqInWindow(seqAdd(start, 1), start, 1)).toBe(false);
  });

  it('an empty window contains nothing', () => {
    for (const x of [0, 5, 0xffffffff]) {
      expect(seqInWindow(x, x, 0)).toBe(false);
      expect(seqInWindow(x, seqAdd(x, -1), 0)).toBe(false);
    }
  });

  it('windows longer than 2^31 still work as unsigned offsets', () => {
    expect(seqInWindow(0xc0000000, 0, 0xd0000000)).toBe(true);
    expect(seqInWindow(0xe0000000, 0, 0xd0000000)).toBe(false);
    expect(seqInWindow(0xfffffffe, 0, 0xffffffff)).toBe(true);
    expect(seqInWindow(0xffffffff, 0, 0xffffffff)).toBe(false);
  });

  it('property: matches BigInt reference arithmetic (seeded)', () => {
    const rand = mulberry32(0x5e9);
    const u32 = () => (rand() * 2 ** 32) >>> 0;
    /** Mostly arbitrary, sometimes near the wrap or near each other. */
    const pick = (): number => {
      const r = rand();
      if (r < 0.2) return (0xffffffff - ((rand() * 64) | 0)) >>> 0;
      if (r < 0.35) return (rand() * 64) | 0;
      if (r < 0.5) return (0x80000000 + ((rand() * 64) | 0) - 32) >>> 0;
      return u32();
    };
    for (let t = 0; t < 5000; t++) {
      const a = pick();
      const b = rand() < 0.3 ? seqAdd(a, ((rand() * 2000) | 0) - 1000) : pick();
      const n = rand() < 0.5 ? Math.floor(rand() * 2 ** 33) - 2 ** 32 : ((rand() * 4000) | 0) - 2000;
      const d = refDiff(a, b);

      const sum = seqAdd(a, n);
      expect(sum).toBe(refAdd(a, n));
      expect(Number.isInteger(sum) && sum >= 0 && sum < 2 ** 32).toBe(true);
      expect(BigInt(seqDiff(a, b))).toBe(d);
      // Round trips: b + (a - b) = a; (a + n) - a = n when n fits in the signed range.
      expect(seqAdd(b, seqDiff(a, b))).toBe(a);
      if (n >= -(2 ** 31) && n < 2 ** 31) expect(seqDiff(seqAdd(a, n), a)).toBe(n);

      expect(seqLt(a, b)).toBe(d < 0n);
      expect(seqLe(a, b)).toBe(d <= 0n);
      if (d !== -(2n ** 31n)) {
        expect(seqGt(a, b)).toBe(d > 0n);
        expect(seqGe(a, b)).toBe(d >= 0n);
        expect(seqMax(a, b)).toBe(d < 0n ? b : a);
        expect(seqMin(a, b)).toBe(d < 0n ? a : b);
        // Antisymmetry and totality away from the undefined point.
        expect(seqLt(a, b) || seqLt(b, a) || a === b).toBe(true);
        expect(seqLt(a, b) && seqLt(b, a)).toBe(false);
      }

      const lo = pick();
      const len = rand() < 0.5 ? (rand() * 2 ** 32) >>> 0 : (rand() * 70000) | 0;
      const hi = seqAdd(lo, len);
      const x = rand() < 0.5 ? seqAdd(lo, Math.floor(rand() * 2 * len) - Math.floor(len / 2)) : pick();
      const off = refOffset(x, lo);
      expect(seqInWindow(x, lo, len)).toBe(off < BigInt(len));
      expect(seqInRange(x, lo, hi)).toBe(off < refOffset(hi, lo));
      expect(seqInRangeAbove(x, lo, hi)).toBe(off > 0n && off <= refOffset(hi, lo));
    }
  });
});

describe('seqInRangeAbove: lo < x <= hi by distance from lo', () => {
  it('holds across the wrap, excludes lo, includes hi', () => {
    expect(seqInRangeAbove(0xfffffff0, 0xffffffef, 0x10)).toBe(true);
    expect(seqInRangeAbove(0x10, 0xffffffef, 0x10)).toBe(true);
    expect(seqInRangeAbove(0xffffffef, 0xffffffef, 0x10)).toBe(false);
    expect(seqInRangeAbove(0x11, 0xffffffef, 0x10)).toBe(false);
    expect(seqInRangeAbove(5, 5, 5)).toBe(false); // empty
  });

  it('refuses what a chain of pairwise comparisons lets through', () => {
    // SND.UNA < x and x < y and y <= SND.MAX pairwise, yet x is 2^31 - 10 past SND.UNA.
    const una = 1_000_000;
    const sndMax = una + 1400;
    const x = seqAdd(una, 2 ** 31 - 10);
    const y = seqAdd(una, -(2 ** 30));
    expect(seqLt(una, x) && seqLt(x, y) && seqLe(y, sndMax)).toBe(true);
    expect(seqInRangeAbove(x, una, sndMax)).toBe(false);
    expect(seqInRangeAbove(y, una, sndMax)).toBe(false);
  });
});
