/**
 * Property tests (fast-check) for IPv4 reassembly (RFC 791 3.2, RFC 815, RFC 5722 4 applied to
 * IPv4) on a manual clock: whatever fragments arrive, nothing throws and the memory held stays
 * within 0..maxBytes; a complete set without overlaps, in any order and with exact duplicates,
 * gives back exactly the original payload; an overlap discards the datagram; timeouts release
 * everything and report fragment zero when it arrived.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { MAX_DATAGRAM_PAYLOAD, Reassembler, type FragmentKey } from '../../../src/iface/reassembly.js';
import { run } from './arbitraries.js';

const TIMEOUT = 30_000;
const keyOf = (k: number): FragmentKey => ({ src: 0xc612_0001, dst: 0xc612_0002, protocol: 17, id: k });

/**
 * Datagram `k`'s payload bytes `[from, to)`: every fragment of it, overlapping or not, agrees on
 * the bytes it carries (a view: the reassembler copies what it is given).
 */
const SOURCES = new Map<number, Uint8Array>();
function source(k: number, from: number, to: number): Uint8Array {
  let s = SOURCES.get(k);
  if (s === undefined) {
    s = new Uint8Array(70_000 + 8);
    for (let i = 0; i < s.length; i++) s[i] = (i * 31 + k * 17 + (i >>> 8)) & 0xff;
    SOURCES.set(k, s);
  }
  return s.subarray(from, Math.max(from, to));
}

/** Byte equality without the per-element cost of a deep equal on 64 KiB arrays. */
function sameBytes(a: Uint8Array | null, b: Uint8Array): boolean {
  return a !== null && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

interface Frag {
  off: number;
  end: number;
  mf: boolean;
}

/** Cuts `total` bytes at the given 8-byte-unit points, as a router would (RFC 791 3.2). */
function cut(total: number, units: number[]): Frag[] {
  const points = [...new Set(units.map((u) => u * 8).filter((p) => p > 0 && p < total))].sort((a, b) => a - b);
  const edges = [0, ...points, total];
  return edges.slice(1).map((end, i) => ({ off: edges[i]!, end, mf: end < total }));
}

const dropsTotal = (r: Reassembler) => Object.values(r.stats.drops).reduce((a, b) => a + b, 0);

/** A datagram's length (mostly small, sometimes up to the 65515-byte maximum) and its fragments. */
const fragmentSet = fc
  .tuple(
    fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 6000 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_DATAGRAM_PAYLOAD }) }),
    fc.array(fc.integer({ min: 1, max: 8190 }), { maxLength: 24 }),
  )
  .map(([total, units]) => ({ total, frags: cut(total, units) }));

/** Fragments in shuffled order. */
const shuffled = fragmentSet.chain(({ total, frags }) =>
  fc.shuffledSubarray(frags, { minLength: frags.length, maxLength: frags.length }).map((order) => ({ total, frags, order })),
);

describe('Reassembler properties', () => {
  it('complete sets, interleaved, in any order, with exact duplicates: exactly the original payloads', () => {
    run(
      fc.property(
        fc.array(shuffled, { minLength: 1, maxLength: 3 }).chain((sets) => {
          const all = sets.flatMap((s, k) => s.order.map((f) => ({ k, f })));
          return fc.tuple(
            fc.constant(sets),
            fc.shuffledSubarray(all, { minLength: all.length, maxLength: all.length }),
            fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 6 }),
          );
        }),
        ([sets, merged, dups]) => {
          // Interleaving keeps each datagram's own order: sort merged back by set order per key.
          const perKey = sets.map((s) => [...s.order]);
          const seq = merged.map(({ k }) => ({ k, f: perKey[k]!.shift()! }));
          for (const [at, which] of dups) {
            const d = seq[which % seq.length]!;
            seq.splice(at % (seq.length + 1), 0, d);
          }
          const r = new Reassembler(new ManualClock(0));
          // The model: a datagram completes when every one of its fragments is in; after that a
          // duplicate starts a new one.
          const have = sets.map(() => new Set<number>());
          let completed = 0;
          for (const { k, f } of seq) {
            const out = r.add(keyOf(k), f.off, f.mf, source(k, f.off, f.end));
            have[k]!.add(f.off);
            if (have[k]!.size === sets[k]!.frags.length) {
              expect(sameBytes(out, source(k, 0, sets[k]!.total))).toBe(true);
              have[k]!.clear();
              completed++;
            } else {
              expect(out).toBeNull();
            }
            expect(r.bytesHeld).toBeGreaterThanOrEqual(0);
          }
          expect(r.stats.datagrams).toBe(completed);
          expect(r.stats.fragments).toBe(seq.length);
          expect(dropsTotal(r)).toBe(0);
          expect(r.pending).toBe(have.filter((h) => h.size > 0).length);
          if (r.pending === 0) expect(r.bytesHeld).toBe(0);
        },
      ),
      200,
    );
  });

  it('a fragment overlapping one already received discards the datagram, and its later fragments (RFC 5722 4)', () => {
    // Two fragments at least (one at offset 0 without MF is a whole datagram, not a fragment); the
    // extra one comes after the fragment it overlaps and before the set's last one.
    const overlapping = shuffled
      .filter((s) => s.frags.length >= 2)
      .chain(({ total, order }) =>
        fc
          .record({
            victim: fc.nat({ max: order.length - 2 }),
            back: fc.nat({ max: 8 }),
            into: fc.nat(),
            len: fc.integer({ min: 1, max: 2000 }),
            mf: fc.boolean(),
            after: fc.nat(),
          })
          .map(({ victim, back, into, len, mf, after }) => {
            const v = order[victim]!;
            // Starts at most 64 bytes before the victim and before its end, ends after its start.
            const lo = Math.max(0, v.off - 8 * back);
            const off = lo + 8 * (into % Math.ceil((v.end - lo) / 8));
            const min = Math.max(off + 1, v.off + 1);
            const end = Math.min(MAX_DATAGRAM_PAYLOAD, mf ? off + Math.ceil((min - off + len) / 8) * 8 : min + len - 1);
            const at = victim + 1 + (after % (order.length - 1 - victim));
            return { total, order, v, extra: { off, end, mf }, at };
          })
          .filter(({ v, extra }) => extra.off < v.end && extra.end > v.off && extra.end > extra.off)
          .filter(({ extra }) => (extra.mf || extra.off > 0) && (!extra.mf || (extra.end - extra.off) % 8 === 0))
          // An exact duplicate of a real fragment is ignored, not an overlap.
          .filter(({ order, extra }) => !order.some((f) => f.off === extra.off && f.end === extra.end)),
      );
    run(
      fc.property(overlapping, ({ total, order, extra, at }) => {
        const clock = new ManualClock(5);
        const r = new Reassembler(clock);
        const k = keyOf(7);
        // The extra fragment carries other bytes, as an attacker's would.
        const seq = order.map((f) => ({ ...f, data: source(7, f.off, f.end) }));
        seq.splice(at, 0, { ...extra, data: source(99, extra.off, extra.end) });
        for (const f of seq) expect(r.add(k, f.off, f.mf, f.data)).toBeNull();
        expect(r.stats.datagrams).toBe(0);
        // The discard, then every later fragment refused.
        expect(r.stats.drops['frag-overlap']).toBe(seq.length - at);
        expect(dropsTotal(r)).toBe(r.stats.drops['frag-overlap']);
        expect([r.pending, r.bytesHeld]).toEqual([0, 0]);
        // Refused until the datagram would have timed out, then it is a new one.
        const again = () => order.map((f) => r.add(k, f.off, f.mf, source(7, f.off, f.end)));
        clock.advance(TIMEOUT - 1);
        expect(again().every((x) => x === null)).toBe(true);
        clock.advance(1);
        expect(sameBytes(again().at(-1)!, source(7, 0, total))).toBe(true);
        expect([r.pending, r.bytesHeld]).toEqual([0, 0]);
      }),
      200,
    );
  });

  it('incomplete sets time out on the clock: everything released, fragment zero reported if it came', () => {
    run(
      fc.property(
        shuffled.filter((s) => s.frags.length >= 2),
        fc.nat(),
        fc.integer({ min: 0, max: TIMEOUT - 1 }),
        fc.boolean(),
        ({ frags, order }, missing, early, viaAdd) => {
          const clock = new ManualClock(1000);
          const expired: { key: FragmentKey; first: Uint8Array | null }[] = [];
          const r = new Reassembler(clock, {
            onExpire: (key, first) => expired.push({ key, first: first && first.slice() }),
          });
          const gone = order[missing % order.length]!;
          const sent = order.filter((f) => f !== gone);
          for (const f of sent) expect(r.add(keyOf(3), f.off, f.mf, source(3, f.off, f.end))).toBeNull();
          expect(r.pending).toBe(1);
          expect(r.bytesHeld).toBeGreaterThanOrEqual(Math.max(...sent.map((f) => f.end)));
          clock.advance(early);
          expect(r.expire()).toBe(0);
          clock.advance(TIMEOUT - early);
          if (viaAdd) {
            // The missing piece arrives too late: the old datagram is gone, this one is new.
            expect(r.add(keyOf(3), gone.off, gone.mf, source(3, gone.off, gone.end))).toBeNull();
            expect(r.pending).toBe(1);
          } else {
            expect(r.expire()).toBe(1);
            expect([r.pending, r.bytesHeld]).toEqual([0, 0]);
          }
          expect(r.stats.drops['frag-timeout']).toBe(1);
          expect(expired).toHaveLength(1);
          expect(expired[0]!.key).toEqual(keyOf(3));
          const zero = frags[0]!;
          if (gone === zero) expect(expired[0]!.first).toBeNull();
          else expect(sameBytes(expired[0]!.first, source(3, 0, zero.end))).toBe(true);
        },
      ),
      200,
    );
  });

  it('a fragment ending past 65515 bytes discards its datagram as frag-too-big', () => {
    run(
      fc.property(shuffled.filter((s) => s.frags.length >= 2), fc.integer({ min: 1, max: 2000 }), fc.nat(), ({ order }, over, at) => {
        const r = new Reassembler(new ManualClock(0));
        const off = Math.floor((MAX_DATAGRAM_PAYLOAD - 1) / 8) * 8;
        // Before the set's last fragment, so the datagram is still incomplete when it comes.
        const where = at % order.length;
        const seq = [...order];
        seq.splice(where, 0, { off, end: MAX_DATAGRAM_PAYLOAD + over, mf: false });
        for (const f of seq) {
          const out = r.add(keyOf(1), f.off, f.mf, source(1, f.off, f.end));
          expect(out).toBeNull();
        }
        // The refusal, then every later fragment of the discarded datagram.
        expect(r.stats.drops['frag-too-big']).toBe(seq.length - where);
        expect(r.stats.datagrams).toBe(0);
        expect([r.pending, r.bytesHeld]).toEqual([0, 0]);
      }),
      100,
    );
  });

  it('anything at all, under tight bounds: never throws, memory within 0..maxBytes, output only ever the true payload', () => {
    type Op =
      | { op: 'add'; k: number; off: number; len: number; mf: boolean }
      | { op: 'advance'; ms: number }
      | { op: 'expire' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          op: fc.constant('add' as const),
          k: fc.integer({ min: 0, max: 4 }),
          off: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 600 }).map((u) => u * 8) }, fc.integer({ min: -16, max: 70_000 })),
          len: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 300 }).map((u) => u * 8) }, fc.integer({ min: 0, max: 70_000 })),
          mf: fc.boolean(),
        }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: TIMEOUT }) }) },
      { weight: 1, arbitrary: fc.constant<Op>({ op: 'expire' }) },
    );
    const bounds = fc.record({
      maxBytes: fc.integer({ min: 1, max: 100_000 }),
      maxDatagrams: fc.integer({ min: 1, max: 4 }),
      maxFragmentsPerDatagram: fc.integer({ min: 1, max: 8 }),
    });
    run(
      fc.property(bounds, fc.array(op, { maxLength: 60 }), (opts, ops) => {
        const clock = new ManualClock(0);
        let expiredCalls = 0;
        const r = new Reassembler(clock, { ...opts, timeoutMs: TIMEOUT, onExpire: () => void expiredCalls++ });
        let adds = 0;
        let outputs = 0;
        for (const o of ops) {
          if (o.op === 'add') {
            adds++;
            // Content agrees with the datagram's source wherever it lands; lengths are the op's.
            const data = source(o.k, Math.max(0, o.off), Math.max(0, o.off) + o.len);
            const out = r.add(keyOf(o.k), o.off, o.mf, data);
            if (out !== null) {
              outputs++;
              // The fragment that completes a datagram lies within it.
              expect(out.length).toBeGreaterThanOrEqual(o.off + o.len);
              if (!o.mf) expect(out.length).toBe(o.off + o.len);
              expect(sameBytes(out, source(o.k, 0, out.length))).toBe(true);
            }
          } else if (o.op === 'advance') {
            clock.advance(o.ms);
          } else {
            expect(r.expire()).toBeGreaterThanOrEqual(0);
          }
          expect(r.bytesHeld).toBeGreaterThanOrEqual(0);
          expect(r.bytesHeld).toBeLessThanOrEqual(opts.maxBytes);
          expect(r.pending).toBeGreaterThanOrEqual(0);
          expect(r.pending).toBeLessThanOrEqual(opts.maxDatagrams);
          if (r.pending === 0) expect(r.bytesHeld).toBe(0);
          for (const n of Object.values(r.stats.drops)) expect(n).toBeGreaterThanOrEqual(0);
        }
        expect(r.stats.fragments).toBe(adds);
        expect(r.stats.datagrams).toBe(outputs);
        expect(r.stats.drops['frag-timeout']).toBe(expiredCalls);
        // Everything left goes when its time is up.
        clock.advance(TIMEOUT);
        r.expire();
        expect([r.pending, r.bytesHeld]).toEqual([0, 0]);
        expect(r.stats.drops['frag-timeout']).toBe(expiredCalls);
      }),
      300,
    );
  });
});
