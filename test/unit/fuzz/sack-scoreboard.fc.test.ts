/**
 * The SACK scoreboard's Update() against a per-byte model, under blocks a peer may send: valid
 * ones, D-SACKs (RFC 2883), and bogus ones with random 32-bit edges (fast-check).
 *
 * The model keeps one flag per octet of a small flight (a few KB) placed anywhere in the 32-bit
 * space, across 2^32 and 2^31 included, and applies the rules by the letter on plain offsets
 * from a base below the flight (offsets never wrap, so there is no modular comparison to get
 * wrong): a block counts only if HighACK < left < right <= SND.MAX (RFC 2018 3 and 4: a block
 * reports received octets above the cumulative ACK, and only sent octets can be received);
 * everything below the cumulative ACK is forgotten; a SACKed run that starts at the cumulative
 * ACK was reneged (RFC 2018 8). The first block is a D-SACK when it lies wholly below the
 * cumulative ACK, or inside a later valid block (RFC 2883 4, see modelDsack). After every ACK, sackedBytes, blocks(), isSacked,
 * skipSacked and unsackedLen must agree with the model.
 *
 * Failures print fast-check's seed and shrunk counterexample; `FC_SEED=... FC_PATH=...`
 * replays one, `FC_RUNS=n` runs more.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fcParams } from './arbitraries.js';
import { MAX_SACK_RANGES, SackScoreboard } from '../../../src/tcp/sack-scoreboard.js';
import { seqAdd, seqLt } from '../../../src/wire/seq.js';

/** Offsets of the model start this far below the first SND.UNA (stale ACKs go below it). */
const MARGIN = 4096;
/** ACKs per run: with at most 4 blocks each, the scoreboard never reaches MAX_SACK_RANGES. */
const MAX_ACKS = Math.floor((MAX_SACK_RANGES - 1) / 4);

/** A block: inside the flight, a D-SACK below the ACK, ACK-relative anywhere, or two random edges. */
type BlockSpec = { ref: 'valid' | 'dsack' | 'inside2' | 'ack' | 'abs'; a: number; b: number };

interface AckSpec {
  /** New data sent before this ACK (SND.MAX moves up). */
  grow: number;
  /** The ACK field: HighACK + adv (a stale ACK below HighACK when negative), at most SND.MAX. */
  adv: number;
  blocks: BlockSpec[];
}

interface Scenario {
  una: number;
  flight: number;
  mss: number;
  acks: AckSpec[];
}

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
/** Near the wraps of 2^32 and 2^31 (the flight crosses them), or anywhere. */
const unaArb = fc.oneof(
  fc.integer({ min: 0xffff_ffff - 6000, max: 0xffff_ffff }),
  fc.integer({ min: 2 ** 31 - 6000, max: 2 ** 31 + 100 }),
  fc.integer({ min: 0, max: 100 }),
  u32,
);
const farArb = fc.oneof(fc.integer({ min: -6000, max: 6000 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constantFrom(2 ** 31 - 10, -(2 ** 30), 2 ** 31, -(2 ** 31)));
const blockArb: fc.Arbitrary<BlockSpec> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ ref: fc.constant('valid' as const), a: fc.nat(), b: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ ref: fc.constant('dsack' as const), a: fc.nat({ max: 3000 }), b: fc.nat({ max: 2000 }) }) },
  { weight: 1, arbitrary: fc.record({ ref: fc.constant('inside2' as const), a: fc.nat(), b: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ ref: fc.constant('ack' as const), a: farArb, b: farArb }) },
  { weight: 1, arbitrary: fc.record({ ref: fc.constant('abs' as const), a: u32, b: u32 }) },
);
const ackArb: fc.Arbitrary<AckSpec> = fc.record({
  grow: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1500 })),
  adv: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: 1, max: 2000 }) }, { weight: 1, arbitrary: fc.integer({ min: -2000, max: -1 }) }),
  blocks: fc.array(blockArb, { maxLength: 4 }),
});
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  una: unaArb,
  flight: fc.integer({ min: 0, max: 4000 }),
  mss: fc.constantFrom(100, 536, 1448),
  acks: fc.array(ackArb, { minLength: 1, maxLength: MAX_ACKS }),
});

/** RFC 2018 / RFC 2883 by the letter, one octet at a time, on offsets from `base` (no wrap). */
class ByteModel {
  readonly sacked: Uint8Array;
  highAck: number;

  constructor(
    readonly base: number,
    size: number,
    una: number,
  ) {
    this.sacked = new Uint8Array(size);
    this.highAck = una;
  }

  /** Offset of a sequence number from the base, as an unsigned distance (bogus edges land far). */
  off(seq: number): number {
    return (seq - this.base) >>> 0;
  }

  update(ack: number, blocks: [number, number][], sndMax: number): { newlySacked: number; reneged: number } {
    const newAck = Math.max(this.highAck, this.off(ack));
    const max = this.off(sndMax);
    this.sacked.fill(0, 0, newAck);
    let newlySacked = 0;
    for (const [l, r] of blocks) {
      const lo = this.off(l);
      const ro = this.off(r);
      if (!(newAck < lo && lo < ro && ro <= max)) continue;
      for (let b = lo; b < ro; b++) {
        if (!this.sacked[b]) {
          this.sacked[b] = 1;
          newlySacked++;
        }
      }
    }
    let reneged = 0;
    for (let b = newAck; this.sacked[b]; b++) {
      this.sacked[b] = 0;
      reneged++;
    }
    this.highAck = newAck;
    return { newlySacked, reneged };
  }

  count(): number {
    let n = 0;
    for (const v of this.sacked) n += v;
    return n;
  }

  /** SACKed runs as [left, right) sequence numbers, ascending. */
  runs(): number[] {
    const out: number[] = [];
    for (let b = 0; b < this.sacked.length; b++) {
      if (this.sacked[b] && !this.sacked[b - 1]) out.push(seqAdd(this.base, b), 0);
      if (this.sacked[b]) out[out.length - 1] = seqAdd(this.base, b + 1);
    }
    return out;
  }
}

/**
 * RFC 2883 4 as Linux checks it: the first block is a D-SACK if it starts below the ACK field
 * and lies wholly at or below HighACK, at most 2^30 below it (update()'s default largest
 * window), or if it lies inside a later block that is itself valid. Offsets from the model's
 * base, which lies below every octet that can count.
 */
function modelDsack(model: ByteModel, ack: number, newAck: number, sndMax: number, blocks: [number, number][]): boolean {
  if (blocks.length === 0) return false;
  const [l0, r0] = blocks[0]!;
  const len = (r0 - l0) >>> 0;
  if (len === 0 || len >= 2 ** 31) return false;
  if (seqLt(l0, ack)) {
    const below = (newAck - l0) >>> 0;
    return (newAck - r0) >>> 0 < below && below <= 2 ** 30;
  }
  const ackOff = model.off(newAck);
  const maxOff = model.off(sndMax);
  const lo0 = model.off(l0);
  const ro0 = lo0 + len;
  return blocks.slice(1).some(([l, r]) => {
    const lo = model.off(l);
    const ro = model.off(r);
    return ackOff < lo && lo < ro && ro <= maxOff && lo <= lo0 && ro0 <= ro;
  });
}

function fail(msg: string): never {
  throw new Error(msg);
}

function same(what: string, got: unknown, want: unknown, ctx: () => string): void {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) fail(`${what}: scoreboard ${g}, model ${w} (${ctx()})`);
}

function run(s: Scenario): void {
  const una0 = s.una >>> 0;
  const base = seqAdd(una0, -MARGIN);
  const total = s.flight + s.acks.reduce((n, a) => n + a.grow, 0);
  const model = new ByteModel(base, MARGIN + total + 1, MARGIN);
  const sb = new SackScoreboard(s.mss);
  let sndMax = seqAdd(una0, s.flight);
  // Synchronised at SND.UNA first, as a connection's scoreboard is by its first ACK.
  sb.update(una0, new Uint32Array(0), 0, sndMax);
  s.acks.forEach((a, i) => {
    sndMax = seqAdd(sndMax, a.grow);
    const highAck = seqAdd(base, model.highAck);
    const maxOff = model.off(sndMax);
    // An acceptable ACK (RFC 5961 5.2): not beyond SND.MAX; a stale one at most MARGIN below.
    const ackOff = Math.max(0, Math.min(maxOff, model.highAck + a.adv));
    const ack = seqAdd(base, ackOff);
    const blocks: [number, number][] = [];
    for (const b of a.blocks) {
      switch (b.ref) {
        case 'valid': {
          // ACK < left < right <= SND.MAX, when the flight above the ACK allows one.
          const room = maxOff - ackOff;
          if (room < 2) break;
          const l = 1 + (b.a % (room - 1));
          blocks.push([seqAdd(ack, l), seqAdd(ack, l + 1 + (b.b % (room - l)))]);
          break;
        }
        case 'dsack':
          blocks.push([seqAdd(ack, -b.a - b.b - 1), seqAdd(ack, -b.a)]);
          break;
        case 'inside2': {
          // A D-SACK above the ACK: inside the block before it (sent second).
          const prev = blocks[blocks.length - 1];
          if (!prev) break;
          const len = (prev[1] - prev[0]) >>> 0;
          if (len === 0 || len > 1 << 20) break;
          const l = b.a % len;
          blocks.unshift([seqAdd(prev[0], l), seqAdd(prev[0], l + 1 + (b.b % (len - l)))]);
          break;
        }
        case 'ack':
          blocks.push([seqAdd(ack, b.a), seqAdd(ack, b.b)]);
          break;
        case 'abs':
          blocks.push([b.a >>> 0, b.b >>> 0]);
          break;
      }
    }
    blocks.length = Math.min(blocks.length, 4);
    const raw = new Uint32Array(8);
    blocks.forEach(([l, r], k) => {
      raw[2 * k] = l;
      raw[2 * k + 1] = r;
    });
    const ctx = () => `ACK ${i}: ack ${ack}, HighACK before ${highAck}, SND.MAX ${sndMax}, blocks ${JSON.stringify(blocks)}`;
    const u = sb.update(ack, raw, blocks.length, sndMax);
    const m = model.update(ack, blocks, sndMax);
    same('newlySacked', u.newlySacked, m.newlySacked, ctx);
    same('reneged', u.reneged, m.reneged, ctx);
    const dsack = modelDsack(model, ack, seqAdd(base, model.highAck), sndMax, blocks);
    same('dsack', u.dsack, dsack, ctx);
    if (dsack) same('D-SACK range', [u.dsackStart, u.dsackEnd], blocks[0], ctx);
    same('sackedBytes', sb.sackedBytes, model.count(), ctx);
    same('blocks()', sb.blocks(), model.runs(), ctx);
    const una = seqAdd(base, model.highAck);
    same('highAck', sb.highAck, una, ctx);
    // Every octet of the flight and a few beyond on each side.
    const from = Math.max(0, model.highAck - 3);
    const to = Math.min(model.sacked.length, maxOff + 3);
    for (let o = from; o < to; o++) {
      const seq = seqAdd(base, o);
      const sacked = o >= model.highAck && o < maxOff && model.sacked[o] === 1;
      if (sb.isSacked(seq) !== sacked) fail(`isSacked(${seq}): scoreboard ${!sacked}, model ${sacked} (${ctx()})`);
      if (o < model.highAck) continue;
      let next = o;
      while (next < model.sacked.length && model.sacked[next]) next++;
      same(`skipSacked(${seq})`, sb.skipSacked(seq), seqAdd(base, next), ctx);
      let end = o;
      while (end < maxOff && !model.sacked[end]) end++;
      same(`unsackedLen(${seq}, SND.MAX)`, sb.unsackedLen(seq, sndMax), Math.max(0, end - o), ctx);
    }
  });
}

/** Counterexamples fast-check found once, run first on every run. */
const EXAMPLES: [Scenario][] = [
  // ack = SND.MAX, block [ack + 2^31 - 10, ack - 2^30): about 1 GB SACKed.
  [{ una: 2147477648, flight: 0, mss: 100, acks: [{ grow: 0, adv: 0, blocks: [{ ref: 'ack', a: 2 ** 31 - 10, b: -(2 ** 30) }] }] }],
  // Edges exactly 2^31 apart: a negative length.
  [{ una: 2147477648, flight: 0, mss: 100, acks: [{ grow: 1, adv: 0, blocks: [{ ref: 'abs', a: 2 ** 31, b: 0 }] }] }],
  // The first block inside the third: a D-SACK (RFC 2883 4 speaks of the second; any later valid block counts here).
  [{ una: 4294961295, flight: 2, mss: 100, acks: [{ grow: 0, adv: 0, blocks: [{ ref: 'valid', a: 0, b: 0 }, { ref: 'abs', a: 0, b: 0 }, { ref: 'valid', a: 0, b: 0 }] }] }],
];


describe('SACK scoreboard against a per-byte model (fast-check)', () => {
  it('agrees with RFC 2018 / RFC 2883 under valid, D-SACK and bogus blocks', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => run(s)),
      fcParams(200, EXAMPLES),
    );
  }, 30_000);
});
