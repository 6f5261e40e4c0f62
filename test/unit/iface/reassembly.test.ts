import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import {
  MAX_DATAGRAM_PAYLOAD,
  Reassembler,
  type FragmentKey,
  type ReassemblerOptions,
} from '../../../src/iface/reassembly.js';

const SRC = ((198 << 24) | (18 << 16) | 1) >>> 0; // 198.18.0.1
const DST = ((198 << 24) | (18 << 16) | 2) >>> 0; // 198.18.0.2
const key = (id: number, protocol = 17): FragmentKey => ({ src: SRC, dst: DST, protocol, id });

/** Deterministic payload whose bytes depend on position and seed. */
function payload(len: number, seed = 0): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 13 + (i >> 8) + seed * 101) & 0xff;
  return b;
}

interface Frag {
  off: number;
  mf: boolean;
  data: Uint8Array;
}

/** Cuts `data` into fragments of `size` bytes (a multiple of 8), as a router would. */
function fragment(data: Uint8Array, size: number): Frag[] {
  const out: Frag[] = [];
  for (let off = 0; off < data.length; off += size) {
    const end = Math.min(off + size, data.length);
    out.push({ off, mf: end < data.length, data: data.slice(off, end) });
  }
  return out;
}

function setup(opts: ReassemblerOptions = {}) {
  const clock = new ManualClock(1000);
  const r = new Reassembler(clock, opts);
  return { clock, r };
}

/** Feeds fragments in the given order; returns the results of each add(). */
function feed(r: Reassembler, k: FragmentKey, frags: Frag[]): (Uint8Array | null)[] {
  return frags.map((f) => r.add(k, f.off, f.mf, f.data));
}

const noDrops = {
  'frag-overlap': 0,
  'frag-timeout': 0,
  'frag-too-big': 0,
  'frag-memory': 0,
  'frag-bad-length': 0,
  'frag-too-many': 0,
};

describe('Reassembler: complete datagrams', () => {
  it('reassembles fragments in order', () => {
    const { r } = setup();
    const data = payload(4000);
    const res = feed(r, key(1), fragment(data, 1480));
    expect(res.slice(0, -1)).toEqual([null, null]);
    expect(res.at(-1)).toEqual(data);
    expect(r.stats).toEqual({ datagrams: 1, fragments: 3, drops: noDrops });
    expect(r.pending).toBe(0);
    expect(r.bytesHeld).toBe(0);
  });

  it('reassembles fragments out of order and reversed', () => {
    const data = payload(5000, 3);
    const frags = fragment(data, 1000);
    for (const order of [[2, 0, 4, 1, 3], [4, 3, 2, 1, 0], [0, 4, 1, 3, 2]]) {
      const { r } = setup();
      const res = feed(r, key(7), order.map((i) => frags[i]!));
      expect(res.slice(0, -1).every((x) => x === null)).toBe(true);
      expect(res.at(-1)).toEqual(data);
      expect(r.bytesHeld).toBe(0);
      expect(r.pending).toBe(0);
    }
  });

  it('copies fragment payloads: the caller may reuse its buffer', () => {
    const { r } = setup();
    const data = payload(2000);
    const scratch = new Uint8Array(1000);
    scratch.set(data.subarray(0, 1000));
    expect(r.add(key(1), 0, true, scratch)).toBeNull();
    scratch.fill(0xff);
    expect(r.add(key(1), 1000, false, data.subarray(1000))).toEqual(data);
  });

  it('ignores exact duplicates (not an overlap), including a repeated last fragment', () => {
    const { r } = setup();
    const data = payload(3000);
    const [a, b, c] = fragment(data, 1200);
    expect(feed(r, key(1), [a!, a!, c!, c!, a!])).toEqual([null, null, null, null, null]);
    expect(r.add(key(1), b!.off, b!.mf, b!.data)).toEqual(data);
    expect(r.stats.drops).toEqual(noDrops);
    expect(r.stats.fragments).toBe(6);
    // A duplicate arriving after completion starts a new datagram (the id may be reused later).
    expect(r.add(key(1), a!.off, a!.mf, a!.data)).toBeNull();
    expect(r.pending).toBe(1);
  });

  it('keeps interleaved datagrams with different ids (and keys) apart', () => {
    const { r } = setup();
    const d1 = payload(3000, 1);
    const d2 = payload(2500, 2);
    const d3 = payload(2000, 3);
    const f1 = fragment(d1, 800);
    const f2 = fragment(d2, 800);
    const f3 = fragment(d3, 800);
    const k3 = { src: DST, dst: SRC, protocol: 17, id: 1 }; // same id as d1, other direction
    const done: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      for (const [k, f] of [[key(1), f1], [key(2), f2], [k3, f3]] as const) {
        const frag = f[f.length - 1 - i]; // reversed, interleaved
        if (frag === undefined) continue;
        const out = r.add(k, frag.off, frag.mf, frag.data);
        if (out !== null) done.push(out);
      }
    }
    expect(done).toEqual([d3, d1, d2]); // d3 has the fewest fragments
    expect(r.stats.datagrams).toBe(3);
    // Same addresses and id but another protocol is another datagram.
    expect(r.add(key(9, 6), 0, true, payload(8))).toBeNull();
    expect(r.add(key(9, 17), 8, false, payload(8))).toBeNull();
    expect(r.pending).toBe(2);
  });

  it('reassembles a 65507-byte datagram from 45 fragments (largest UDP payload + 8-byte header)', () => {
    const { r } = setup();
    const data = payload(65507 + 8, 5); // UDP header + 65507 bytes = 65515 = 65535 - 20
    expect(data.length).toBe(MAX_DATAGRAM_PAYLOAD);
    const frags = fragment(data, 1480);
    expect(frags.length).toBe(45);
    // Shuffle deterministically.
    const order = frags.map((_, i) => (i * 17) % 45);
    expect(new Set(order).size).toBe(45);
    const res = feed(r, key(0xffff), order.map((i) => frags[i]!));
    expect(res.filter((x) => x !== null).length).toBe(1);
    expect(res.at(-1)).toEqual(data);
    expect(r.bytesHeld).toBe(0);
  });
});

describe('Reassembler: overlap (RFC 5722 applied to IPv4)', () => {
  it('drops the datagram on a partial overlap, and its later fragments too, until it times out', () => {
    const { r, clock } = setup();
    const data = payload(3000);
    expect(r.add(key(1), 0, true, data.subarray(0, 1504))).toBeNull();
    expect(r.bytesHeld).toBeGreaterThan(0);
    // Starts inside the first fragment: overlap.
    expect(r.add(key(1), 1496, true, data.subarray(1496, 2000))).toBeNull();
    expect(r.stats.drops['frag-overlap']).toBe(1);
    expect(r.bytesHeld).toBe(0);
    expect(r.pending).toBe(0);
    // The rest of the datagram, which would otherwise complete it, is dropped too.
    expect(r.add(key(1), 1504, false, data.subarray(1504))).toBeNull();
    expect(r.add(key(1), 0, true, data.subarray(0, 1504))).toBeNull();
    expect(r.stats.drops['frag-overlap']).toBe(3);
    expect(r.stats.datagrams).toBe(0);
    // Other datagrams are unaffected.
    expect(r.add(key(2), 0, false, data.subarray(0, 100))).toEqual(data.subarray(0, 100));
    // After the timeout the id is free again (tombstones expire silently).
    clock.advance(30_000);
    expect(r.expire()).toBe(0);
    expect(r.stats.drops['frag-timeout']).toBe(0);
    expect(r.add(key(1), 0, true, data.subarray(0, 1504))).toBeNull();
    expect(r.add(key(1), 1504, false, data.subarray(1504))).toEqual(data);
  });

  it('treats containment, being contained and same-start-different-length as overlap', () => {
    const cases: [number, number][] = [
      [0, 2400], // contains [800, 1600)
      [1000, 1200], // inside it
      [800, 1200], // same start, shorter
      [800, 2400], // same start, longer
      [0, 808], // ends inside it
      [1592, 1600], // last 8 bytes
    ];
    for (const [s, e] of cases) {
      const { r } = setup();
      expect(r.add(key(1), 800, true, payload(800))).toBeNull();
      expect(r.add(key(1), s, true, payload(e - s))).toBeNull();
      expect(r.stats.drops['frag-overlap']).toBe(1);
      expect(r.bytesHeld).toBe(0);
    }
    // Adjacent fragments on either side are not overlaps.
    const { r } = setup();
    expect(r.add(key(1), 800, true, payload(800))).toBeNull();
    expect(r.add(key(1), 0, true, payload(800))).toBeNull();
    expect(r.add(key(1), 1600, true, payload(800))).toBeNull();
    expect(r.stats.drops['frag-overlap']).toBe(0);
  });

  it('treats conflicting last fragments and data past the end as overlap', () => {
    // Two last fragments with different total lengths.
    {
      const { r } = setup();
      expect(r.add(key(1), 1000, false, payload(100))).toBeNull();
      expect(r.add(key(1), 2000, false, payload(100))).toBeNull();
      expect(r.stats.drops['frag-overlap']).toBe(1);
      expect(r.add(key(1), 0, true, payload(992))).toBeNull(); // later fragments dropped
      expect(r.stats.drops['frag-overlap']).toBe(2);
    }
    // Same start, different length: also a conflicting last fragment.
    {
      const { r } = setup();
      expect(r.add(key(1), 800, false, payload(100))).toBeNull();
      expect(r.add(key(1), 800, false, payload(101))).toBeNull();
      expect(r.stats.drops['frag-overlap']).toBe(1);
    }
    // A non-last fragment past the known end.
    {
      const { r } = setup();
      expect(r.add(key(1), 800, false, payload(100))).toBeNull();
      expect(r.add(key(1), 896, true, payload(8))).toBeNull();
      expect(r.stats.drops['frag-overlap']).toBe(1);
    }
    // A last fragment that ends before data already received.
    {
      const { r } = setup();
      expect(r.add(key(1), 1600, true, payload(800))).toBeNull();
      expect(r.add(key(1), 800, false, payload(100))).toBeNull();
      expect(r.stats.drops['frag-overlap']).toBe(1);
      expect(r.pending).toBe(0);
    }
  });
});

describe('Reassembler: timeout', () => {
  it('expires incomplete datagrams after 30 s, reporting fragment zero only if it arrived', () => {
    const expired: [FragmentKey, Uint8Array | null][] = [];
    const { r, clock } = setup({ onExpire: (k, first) => expired.push([k, first === null ? null : first.slice()]) });
    const data = payload(3000);
    const f = fragment(data, 1000);
    r.add(key(1), f[0]!.off, f[0]!.mf, f[0]!.data); // has fragment zero
    clock.advance(10_000);
    r.add(key(2), f[1]!.off, f[1]!.mf, f[1]!.data); // lacks fragment zero
    r.add(key(2), f[2]!.off, f[2]!.mf, f[2]!.data);
    expect(r.pending).toBe(2);

    clock.advance(19_999);
    expect(r.expire()).toBe(0);
    clock.advance(1); // 30 s after key 1's first fragment
    expect(r.expire()).toBe(1);
    expect(expired).toEqual([[key(1), data.subarray(0, 1000)]]);
    expect(r.pending).toBe(1);

    clock.advance(10_000);
    expect(r.expire()).toBe(1);
    expect(expired[1]).toEqual([key(2), null]);
    expect(r.stats.drops['frag-timeout']).toBe(2);
    expect(r.pending).toBe(0);
    expect(r.bytesHeld).toBe(0);
    expect(r.expire()).toBe(0);
  });

  it('the timer runs from the first fragment and is not restarted by later ones', () => {
    const { r, clock } = setup({ timeoutMs: 5000 });
    r.add(key(1), 0, true, payload(8));
    clock.advance(4000);
    r.add(key(1), 16, false, payload(8));
    clock.advance(1000);
    expect(r.expire()).toBe(1);
  });

  it('a fragment for a datagram past its deadline starts afresh even before expire() runs', () => {
    const firsts: (Uint8Array | null)[] = [];
    const { r, clock } = setup({ onExpire: (_k, first) => firsts.push(first) });
    const data = payload(16);
    r.add(key(1), 0, true, data.subarray(0, 8));
    clock.advance(30_000);
    expect(r.add(key(1), 8, false, data.subarray(8))).toBeNull(); // the old half is gone
    expect(r.stats.drops['frag-timeout']).toBe(1);
    expect(firsts.length).toBe(1);
    expect(r.add(key(1), 0, true, data.subarray(0, 8))).toEqual(data);
  });
});

describe('Reassembler: limits', () => {
  it('evicts the oldest datagrams when the memory bound bites', () => {
    const { r, clock } = setup({ maxBytes: 10_000 });
    // Three datagrams whose total (4000 bytes each) is known from the start: exact buffers.
    for (let id = 1; id <= 2; id++) {
      r.add(key(id), 3000, false, payload(1000, id));
      clock.advance(1);
    }
    expect(r.bytesHeld).toBe(8000);
    r.add(key(3), 3000, false, payload(1000, 3)); // needs 4000 more: evict the oldest (id 1)
    expect(r.stats.drops['frag-memory']).toBe(1);
    expect(r.bytesHeld).toBe(8000);
    expect(r.pending).toBe(2);
    // id 2 survived and can complete; id 1 starts over.
    const d2 = payload(4000, 9);
    d2.set(payload(1000, 2), 3000);
    expect(r.add(key(2), 0, true, d2.subarray(0, 3000))).toEqual(d2);
    expect(r.add(key(1), 0, true, payload(3000))).toBeNull();
    expect(r.bytesHeld).toBeLessThanOrEqual(10_000);
  });

  it('never holds more than maxBytes, whatever arrives', () => {
    const { r } = setup({ maxBytes: 64 * 1024 });
    for (let id = 0; id < 500; id++) {
      r.add(key(id), (id % 7) * 1480, true, payload(1480, id));
      r.add(key(id), 60_000, false, payload(8, id));
      expect(r.bytesHeld).toBeLessThanOrEqual(64 * 1024);
    }
    expect(r.stats.drops['frag-memory']).toBeGreaterThan(0);
  });

  it('drops a datagram that alone exceeds maxBytes', () => {
    const { r } = setup({ maxBytes: 4000 });
    expect(r.add(key(1), 8000, false, payload(100))).toBeNull();
    expect(r.stats.drops['frag-memory']).toBe(1);
    expect(r.pending).toBe(0);
    expect(r.bytesHeld).toBe(0);
  });

  it('evicts the oldest datagram when maxDatagrams is reached', () => {
    const { r } = setup({ maxDatagrams: 3 });
    for (let id = 1; id <= 4; id++) r.add(key(id), 0, true, payload(8));
    expect(r.pending).toBe(3);
    expect(r.stats.drops['frag-memory']).toBe(1);
    expect(r.add(key(1), 8, false, payload(8))).toBeNull(); // id 1 was evicted: starts over
    const whole = new Uint8Array(16);
    whole.set(payload(8), 0);
    whole.set(payload(8), 8);
    expect(r.add(key(4), 8, false, payload(8))).toEqual(whole);
  });

  it('refuses datagrams that would exceed 65535 - 20 bytes (frag-too-big)', () => {
    const { r } = setup();
    expect(r.add(key(1), 0, true, payload(1480))).toBeNull();
    // 65512 + 8 = 65520 > 65515: the classic "ping of death".
    expect(r.add(key(1), 65512, false, payload(8))).toBeNull();
    expect(r.stats.drops['frag-too-big']).toBe(1);
    expect(r.pending).toBe(0);
    expect(r.bytesHeld).toBe(0);
    // Its remaining fragments are dropped as well.
    expect(r.add(key(1), 1480, false, payload(100))).toBeNull();
    expect(r.stats.drops['frag-too-big']).toBe(2);
    // Exactly 65515 is fine.
    expect(r.add(key(2), 65512, false, payload(3))).toBeNull();
    expect(r.stats.drops['frag-too-big']).toBe(2);
  });

  it('refuses non-last fragments whose length is not a multiple of 8 (frag-bad-length)', () => {
    const { r } = setup();
    expect(r.add(key(1), 0, true, payload(1000))).toBeNull();
    expect(r.add(key(1), 1000, true, payload(1001))).toBeNull();
    expect(r.stats.drops['frag-bad-length']).toBe(1);
    expect(r.bytesHeld).toBe(0);
    expect(r.add(key(1), 2000, false, payload(10))).toBeNull(); // later fragment dropped too
    expect(r.stats.drops['frag-bad-length']).toBe(2);
    // A last fragment may have any length; empty fragments and unaligned offsets are refused.
    expect(r.add(key(2), 8, false, payload(3))).toBeNull();
    expect(r.add(key(3), 8, true, new Uint8Array(0))).toBeNull();
    expect(r.add(key(4), 4, false, payload(8))).toBeNull();
    expect(r.stats.drops['frag-bad-length']).toBe(4);
  });

  it('refuses datagrams with too many fragments (frag-too-many)', () => {
    const { r } = setup({ maxFragmentsPerDatagram: 4 });
    for (let i = 0; i < 4; i++) expect(r.add(key(1), i * 8, true, payload(8))).toBeNull();
    expect(r.add(key(1), 4 * 8, true, payload(8))).toBeNull();
    expect(r.stats.drops['frag-too-many']).toBe(1);
    expect(r.bytesHeld).toBe(0);
    expect(r.add(key(1), 5 * 8, false, payload(8))).toBeNull();
    expect(r.stats.drops['frag-too-many']).toBe(2);
    // Exactly the limit is fine; duplicates do not count.
    const data = payload(32);
    for (let i = 0; i < 3; i++) r.add(key(2), i * 8, true, data.subarray(i * 8, i * 8 + 8));
    r.add(key(2), 0, true, data.subarray(0, 8));
    expect(r.add(key(2), 24, false, data.subarray(24))).toEqual(data);
  });

  it('rejects nonsensical options', () => {
    expect(() => new Reassembler(new ManualClock(), { maxBytes: 0 })).toThrow(RangeError);
    expect(() => new Reassembler(new ManualClock(), { timeoutMs: -1 })).toThrow(RangeError);
  });
});
