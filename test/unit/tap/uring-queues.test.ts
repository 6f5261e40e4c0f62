/**
 * The SQ/CQ bookkeeping of the io_uring binding over plain memory, with a stand-in for the
 * kernel that consumes SQEs and posts CQEs the way io_uring does (free-running u32 indices, slot
 * = index & mask): SQE fields, user_data round trip, results by descriptor, rounds larger than
 * the SQ, the 2^32 wrap of the indices, short and interrupted enters.
 */
import { describe, expect, it } from 'vitest';
import { CQE_SIZE, IORING_ENTER_GETEVENTS, IORING_OP_WRITEV, IOSQE_FIXED_FILE, RWF_NOWAIT, SQE_SIZE, UringQueues, type RingLayout } from '../../../src/tap/uring-queues.js';

interface Seen {
  opcode: number;
  flags: number;
  fd: number;
  addr: bigint;
  len: number;
  rwFlags: number;
  userData: bigint;
}

/** A ring of `sq` SQEs and `cq` CQEs whose indices start at `start`, and a kernel for it. */
function fakeRing(sq: number, cq: number, start: number, o: { perEnter?: number; interruptEvery?: number } = {}) {
  // Word offsets as in struct io_rings: SQ head/tail, CQ head/tail, masks, entries, then arrays.
  const at: RingLayout = { sqHead: 0, sqTail: 16, sqMask: 32, sqEntries: 33, cqHead: 48, cqTail: 64, cqMask: 34, cqEntries: 35, cqes: 128, sqArray: 128 + cq * (CQE_SIZE / 4) };
  const ring = new ArrayBuffer((at.sqArray + sq) * 4);
  const w = new Uint32Array(ring);
  const sw = new Int32Array(ring);
  w[at.sqMask] = sq - 1;
  w[at.sqEntries] = sq;
  w[at.cqMask] = cq - 1;
  w[at.cqEntries] = cq;
  w[at.sqHead] = w[at.sqTail] = w[at.cqHead] = w[at.cqTail] = start >>> 0;
  const sqes = new ArrayBuffer(sq * SQE_SIZE);
  const s32 = new Uint32Array(sqes);
  const s64 = new BigUint64Array(sqes);
  const seen: Seen[] = [];
  let enters = 0;
  /** The kernel's side: take up to `toSubmit` SQEs (perEnter at most), complete each at once. */
  const enter = (toSubmit: number, minComplete: number, flags: number): number => {
    enters++;
    expect(flags).toBe(IORING_ENTER_GETEVENTS);
    expect(minComplete).toBeGreaterThan(0);
    if (o.interruptEvery && enters % o.interruptEvery === 0) return -4; // -EINTR, nothing done
    const n = Math.min(toSubmit, o.perEnter ?? Infinity, (w[at.sqTail]! - w[at.sqHead]!) >>> 0);
    for (let k = 0; k < n; k++) {
      const head = w[at.sqHead]!;
      const e = w[at.sqArray + (head & (sq - 1))]!;
      const b = e * (SQE_SIZE / 4);
      const s: Seen = { opcode: s32[b]! & 0xff, flags: (s32[b]! >>> 8) & 0xff, fd: s32[b + 1]! | 0, addr: s64[e * 8 + 2]!, len: s32[b + 6]!, rwFlags: s32[b + 7]!, userData: s64[e * 8 + 4]! };
      seen.push(s);
      w[at.sqHead] = (head + 1) >>> 0;
      const tail = w[at.cqTail]!;
      expect((tail - w[at.cqHead]!) >>> 0).toBeLessThan(cq); // never more than the CQ holds
      const c = at.cqes + (tail & (cq - 1)) * (CQE_SIZE / 4);
      w[c] = Number(s.userData & 0xffffffffn);
      w[c + 1] = Number(s.userData >> 32n);
      // res: the length for even descriptors, -EAGAIN (11) for odd ones.
      sw[c + 2] = Number(s.userData) % 2 === 0 ? s.len * 100 : -11;
      w[c + 3] = 0;
      w[at.cqTail] = (tail + 1) >>> 0;
    }
    return n;
  };
  const queues = new UringQueues(ring, sqes, at, enter);
  return { queues, seen, w, at, enters: () => enters };
}

/** A batch of `count` descriptors starting at `first` of a ring of `size`, addresses 0x1000 * (d+1). */
function batch(size: number, first: number, count: number) {
  const iovAddr = Array.from({ length: size }, (_, d) => 0x7f0000001000n * BigInt(d + 1));
  const iovCnt = Int32Array.from({ length: size }, (_, d) => 1 + (d % 5));
  const descs = Int32Array.from({ length: count }, (_, k) => (first + k) % size);
  return { iovAddr, iovCnt, descs, results: new Int32Array(size).fill(0x7fffffff) };
}

describe('UringQueues', () => {
  it('writes one WRITEV SQE per descriptor with its own iovecs and reaps the results by descriptor', () => {
    const r = fakeRing(8, 16, 0);
    const b = batch(16, 14, 5); // wraps the descriptor ring: 14, 15, 0, 1, 2
    r.queues.writev(3, false, b.iovAddr, b.iovCnt, b.descs, 5, b.results);
    expect(r.seen.map((s) => Number(s.userData))).toEqual([14, 15, 0, 1, 2]);
    for (const s of r.seen) {
      const d = Number(s.userData);
      expect(s).toEqual({ opcode: IORING_OP_WRITEV, flags: 0, fd: 3, addr: b.iovAddr[d], len: b.iovCnt[d], rwFlags: RWF_NOWAIT, userData: BigInt(d) });
    }
    expect([...b.descs].map((d) => b.results[d])).toEqual([b.iovCnt[14]! * 100, -11, b.iovCnt[0]! * 100, -11, b.iovCnt[2]! * 100]);
    expect(r.w[r.at.sqTail]).toBe(5);
    expect(r.w[r.at.cqHead]).toBe(5);
    expect(r.enters()).toBe(1);
  });

  it('names a registered file by index with IOSQE_FIXED_FILE', () => {
    const r = fakeRing(4, 8, 0);
    const b = batch(4, 0, 2);
    r.queues.writev(0, true, b.iovAddr, b.iovCnt, b.descs, 2, b.results);
    expect(r.seen.map((s) => [s.fd, s.flags])).toEqual([
      [0, IOSQE_FIXED_FILE],
      [0, IOSQE_FIXED_FILE],
    ]);
  });

  it('submits a batch larger than the SQ in rounds of sqEntries, one enter each', () => {
    const r = fakeRing(4, 8, 0);
    const b = batch(32, 0, 11);
    r.queues.writev(5, false, b.iovAddr, b.iovCnt, b.descs, 11, b.results);
    expect(r.seen.map((s) => Number(s.userData))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(r.enters()).toBe(3);
    for (let d = 0; d < 11; d++) expect(b.results[d]).toBe(d % 2 === 0 ? b.iovCnt[d]! * 100 : -11);
    expect(b.results[11]).toBe(0x7fffffff); // not in the batch: untouched
  });

  it('keeps the slots right across the 2^32 wrap of the free-running indices', () => {
    const start = 0xfffffffa;
    const r = fakeRing(8, 16, start);
    for (let round = 0; round < 5; round++) {
      const b = batch(8, round, 7);
      r.queues.writev(1, false, b.iovAddr, b.iovCnt, b.descs, 7, b.results);
      for (const d of b.descs) expect(b.results[d]).toBe(d % 2 === 0 ? b.iovCnt[d]! * 100 : -11);
    }
    expect(r.seen).toHaveLength(35);
    expect(r.w[r.at.sqTail]).toBe((start + 35) >>> 0);
    expect(r.w[r.at.cqHead]).toBe((start + 35) >>> 0);
    expect(r.w[r.at.sqHead]).toBe(r.w[r.at.sqTail]);
  });

  it('enters again for what a short or interrupted enter left', () => {
    const r = fakeRing(16, 32, 100, { perEnter: 3, interruptEvery: 2 });
    const b = batch(16, 0, 10);
    r.queues.writev(1, false, b.iovAddr, b.iovCnt, b.descs, 10, b.results);
    expect(r.seen.map((s) => Number(s.userData))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let d = 0; d < 10; d++) expect(b.results[d]).toBe(d % 2 === 0 ? b.iovCnt[d]! * 100 : -11);
    expect(r.w[r.at.cqHead]).toBe(110);
  });

  it('fails, rather than spin, when the kernel answers an error', () => {
    const at: RingLayout = { sqHead: 0, sqTail: 1, sqMask: 2, sqEntries: 3, sqArray: 8, cqHead: 4, cqTail: 5, cqMask: 6, cqEntries: 7, cqes: 16 };
    const ring = new ArrayBuffer(64 * 4);
    const w = new Uint32Array(ring);
    w[2] = 3;
    w[3] = 4;
    w[6] = 7;
    w[7] = 8;
    const q = new UringQueues(ring, new ArrayBuffer(4 * SQE_SIZE), at, () => -9); // -EBADF
    const b = batch(4, 0, 2);
    expect(() => q.writev(1, false, b.iovAddr, b.iovCnt, b.descs, 2, b.results)).toThrow(/io_uring_enter: 0 of 2 completions \(result -9\)/);
  });
});
