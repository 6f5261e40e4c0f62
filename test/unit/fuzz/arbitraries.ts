/**
 * fast-check generators shared by the property suites: buffers windowed and mutated the way a
 * peer (or a cut frame) can present them, and option lists for IPv4 and TCP with a model of what
 * a correct parser must make of them.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { WireError, type DropReason } from '../../../src/wire/errors.js';

/** Runs per property: enough to reach the corner cases, bounded so a suite stays fast. */
export const RUNS = 400;

/**
 * Parameters of a property run: `numRuns` runs (FC_RUNS overrides), `examples` (counterexamples
 * found before) first, and FC_SEED / FC_PATH to replay a failure fast-check printed. Shrinking
 * replays whole runs: it stops after 15 s, so a failure still reports its smallest
 * counterexample so far within the test's timeout.
 */
export function fcParams<Ts>(numRuns: number, examples: Ts[] = []): fc.Parameters<Ts> {
  const seed = process.env.FC_SEED;
  const path = process.env.FC_PATH;
  return {
    numRuns: Number(process.env.FC_RUNS ?? numRuns),
    examples,
    ...(seed !== undefined ? { seed: Number(seed) } : {}),
    ...(path !== undefined ? { path } : {}),
    interruptAfterTimeLimit: 15_000,
  };
}

/** Asserts a property with a bounded number of runs; a failure prints its seed and counterexample. */
export function run<Ts extends unknown[]>(p: fc.IProperty<Ts>, numRuns = RUNS): void {
  fc.assert(p, fcParams<Ts>(numRuns));
}

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }).map((x) => x >>> 0);
export const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
/**
 * 16-bit fields and data with the checksum's edge cases made likely: all zeros and all ones
 * (one's complement has two zeros, RFC 1071 1).
 */
export const edgy16 = fc.oneof(fc.constantFrom(0, 0xffff), u16);
export function edgyData(maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength }),
    fc.tuple(fc.nat({ max: maxLength }), fc.constantFrom(0, 0xff)).map(([n, v]) => new Uint8Array(n).fill(v)),
  );
}

/** The outcome of a parse: the reason of the WireError thrown, or null. Anything else fails. */
export function parseOutcome(parse: () => unknown): DropReason | null {
  try {
    parse();
    return null;
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    return (e as WireError).reason;
  }
}

/** `buf[off]` onward is the packet; `len` is what the layer below claims it is. */
export interface Window {
  buf: Uint8Array;
  off: number;
  len: number;
}

interface Mutation {
  at: number;
  value: number;
  flip: boolean;
}

/**
 * Up to four bytes overwritten or bit-flipped (positions taken modulo the length, so they
 * land), then maybe cut short.
 */
export function mutate(base: Uint8Array, muts: Mutation[], cut: number | null): Uint8Array {
  const buf = base.slice(0, cut === null ? base.length : cut % (base.length + 1));
  if (buf.length === 0) return buf;
  for (const m of muts) {
    const i = m.at % buf.length;
    buf[i] = m.flip ? buf[i]! ^ (1 << (m.value & 7)) : m.value;
  }
  return buf;
}

/** null, or one time in `every` a value of `arb`. */
function rarely<T>(arb: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
}

const mutation = fc.record({ at: fc.nat(), value: u8, flip: fc.boolean() });

/** Mutated copies of what `base` generates (sometimes unmutated: the valid case matters too). */
export function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(base, fc.array(mutation, { maxLength: 4 }), rarely(fc.nat(), 4))
    .map(([b, muts, cut]) => mutate(b, muts, cut));
}

/**
 * A window over the packet: after a prefix (as behind an Ethernet header), mostly with the exact
 * length, sometimes with a length that overstates or understates the buffer, sometimes at an
 * offset anywhere (up to just past the end).
 */
export function windowed(packet: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Window> {
  return fc
    .tuple(
      packet,
      fc.uint8Array({ maxLength: 16 }),
      fc.oneof(
        { weight: 6, arbitrary: fc.constant<'exact'>('exact') },
        { weight: 2, arbitrary: fc.integer({ min: -8, max: 64 }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 300 }).map((n) => ({ len: n })) },
      ),
      rarely(fc.nat(), 8),
    )
    .map(([p, prefix, lenSpec, anyOff]) => {
      const buf = new Uint8Array(prefix.length + p.length);
      buf.set(prefix);
      buf.set(p, prefix.length);
      const off = anyOff === null ? prefix.length : anyOff % (buf.length + 3);
      const rest = Math.max(0, buf.length - off);
      const len = lenSpec === 'exact' ? rest : typeof lenSpec === 'number' ? Math.max(0, rest + lenSpec) : lenSpec.len;
      return { buf, off, len };
    });
}

/** Random garbage, or mutations of what `valid` generates, in a window. */
export function hostile(valid: fc.Arbitrary<Uint8Array>, maxGarbage = 120): fc.Arbitrary<Window> {
  return windowed(
    fc.oneof(
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxGarbage }) },
      { weight: 3, arbitrary: mutated(valid) },
    ),
  );
}

// ---- IPv4 options (RFC 791 3.1 "Options") ----

/**
 * An options area and whether it is well formed. Built from: well-formed options (NOP, or a
 * type with a length octet counting type and length, as Record Route 7, Timestamp 68, Security
 * 130, LSRR 131, SSRR 137, Router Alert 148 or anything else), then a tail: nothing, EOL and
 * padding (which may be garbage: it is not read), or one malformed option (a type with no room
 * for its length, a length of 0 or 1, a length past the header). Always a multiple of 4 and at
 * most 40 bytes.
 */
export interface Ipv4OptionsCase {
  bytes: Uint8Array;
  wellFormed: boolean;
}

const ipv4Option = fc.oneof(
  fc.constant([1]),
  fc
    .tuple(fc.oneof(fc.constantFrom(7, 68, 130, 131, 137, 148), fc.integer({ min: 2, max: 255 })), fc.uint8Array({ maxLength: 10 }))
    .map(([type, data]) => [type, 2 + data.length, ...data]),
);

type Ipv4Tail =
  | { kind: 'none' }
  | { kind: 'eol'; garbage: Uint8Array }
  | { kind: 'no-length'; type: number }
  | { kind: 'short-length'; type: number; len: number; fill: Uint8Array }
  | { kind: 'overrun'; type: number; extra: number; fill: Uint8Array };

const optType = fc.integer({ min: 2, max: 255 });
const ipv4Tail: fc.Arbitrary<Ipv4Tail> = fc.oneof(
  fc.constant<Ipv4Tail>({ kind: 'none' }),
  fc.record({ kind: fc.constant('eol' as const), garbage: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('no-length' as const), type: optType }),
  fc.record({ kind: fc.constant('short-length' as const), type: optType, len: fc.integer({ min: 0, max: 1 }), fill: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('overrun' as const), type: optType, extra: fc.integer({ min: 1, max: 255 }), fill: fc.uint8Array({ maxLength: 8 }) }),
);

export const ipv4Options: fc.Arbitrary<Ipv4OptionsCase> = fc
  .tuple(fc.array(ipv4Option, { maxLength: 8 }), ipv4Tail)
  .map(([opts, tail]) => {
    const items: number[] = [];
    for (const o of opts) if (items.length + o.length <= 36) items.push(...o);
    const minTail = tail.kind === 'none' ? 0 : tail.kind === 'eol' || tail.kind === 'no-length' ? 1 : 2;
    const size = Math.ceil((items.length + minTail) / 4) * 4;
    const bytes = new Uint8Array(size); // zero padding is EOL
    bytes.set(items);
    const room = size - items.length;
    switch (tail.kind) {
      case 'none':
        return { bytes, wellFormed: true };
      case 'eol':
        bytes.set(tail.garbage.subarray(0, room - 1), items.length + 1);
        return { bytes, wellFormed: true };
      case 'no-length':
        // NOPs up to the last byte, then a type with no room for its length.
        bytes.fill(1, items.length, size - 1);
        bytes[size - 1] = tail.type;
        return { bytes, wellFormed: false };
      case 'short-length':
        bytes[items.length] = tail.type;
        bytes[items.length + 1] = tail.len;
        bytes.set(tail.fill.subarray(0, room - 2), items.length + 2);
        return { bytes, wellFormed: false };
      case 'overrun':
        bytes[items.length] = tail.type;
        bytes[items.length + 1] = Math.min(255, room + tail.extra);
        bytes.set(tail.fill.subarray(0, room - 2), items.length + 2);
        return { bytes, wellFormed: false };
    }
  });

// ---- TCP options (RFC 9293 3.1, 3.2; RFC 7323; RFC 2018) ----

/** What a correct parse of an options area yields. */
export interface TcpOptionsModel {
  reason: 'tcp-bad-options' | null;
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  hasTimestamp: boolean;
  tsVal: number;
  tsEcr: number;
  sack: number[];
}

export function emptyTcpOptionsModel(): TcpOptionsModel {
  return { reason: null, mss: -1, windowScale: -1, sackPermitted: false, hasTimestamp: false, tsVal: 0, tsEcr: 0, sack: [] };
}

/** One option and what it does to the model (nothing for NOP and unknown kinds). */
export interface TcpOptionItem {
  bytes: number[];
  apply: (m: TcpOptionsModel) => void;
}

const be32 = (x: number) => [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
const none = () => {};

/** Kinds this stack parses, so "unknown" excludes them. */
const KNOWN_TCP_KINDS = new Set([0, 1, 2, 3, 4, 5, 8]);
export const unknownTcpKind = fc.integer({ min: 6, max: 255 }).filter((k) => !KNOWN_TCP_KINDS.has(k));

/** SACK blocks as (left, right) pairs; RFC 2018 3 allows 1..4. */
export const sackBlocks = (min: number, max: number) =>
  fc.array(fc.tuple(u32, u32), { minLength: min, maxLength: max }).map((bs) => bs.flat());

/** Well-formed options: each one's model effect is the RFC's. */
export const tcpOptionItem: fc.Arbitrary<TcpOptionItem> = fc.oneof(
  fc.constant<TcpOptionItem>({ bytes: [1], apply: none }),
  u16.map((mss): TcpOptionItem => ({ bytes: [2, 4, mss >>> 8, mss & 0xff], apply: (m) => void (m.mss = mss) })),
  // RFC 7323 2.3: a shift above 14 is used as 14.
  u8.map((s): TcpOptionItem => ({ bytes: [3, 3, s], apply: (m) => void (m.windowScale = Math.min(s, 14)) })),
  fc.constant<TcpOptionItem>({ bytes: [4, 2], apply: (m) => void (m.sackPermitted = true) }),
  fc.tuple(u32, u32).map(([v, e]): TcpOptionItem => ({
    bytes: [8, 10, ...be32(v), ...be32(e)],
    apply: (m) => Object.assign(m, { hasTimestamp: true, tsVal: v, tsEcr: e }),
  })),
  sackBlocks(1, 4).map((blocks): TcpOptionItem => ({
    bytes: [5, 2 + 4 * blocks.length, ...blocks.flatMap(be32)],
    apply: (m) => void (m.sack = blocks),
  })),
  fc.tuple(unknownTcpKind, fc.uint8Array({ maxLength: 12 })).map(([k, data]): TcpOptionItem => ({
    bytes: [k, 2 + data.length, ...data],
    apply: none,
  })),
);

/** The lengths RFC 9293 3.1, RFC 7323 and RFC 2018 give each known kind. */
export function validTcpOptionLength(kind: number, len: number): boolean {
  switch (kind) {
    case 2:
      return len === 4;
    case 3:
      return len === 3;
    case 4:
      return len === 2;
    case 8:
      return len === 10;
    case 5:
      return len >= 10 && len <= 34 && (len - 2) % 8 === 0;
    default:
      return len >= 2;
  }
}

/**
 * Option lengths in `min..max`, the boundaries made likely: every valid length of a known kind
 * and its neighbours, and SACK's 2 + 8n for n = 0 and n = 5..9 (more blocks than fit, RFC 2018 3).
 */
export function optionLength(min: number, max: number): fc.Arbitrary<number> {
  const edges = [0, 1, 2, 3, 4, 5, 9, 10, 11, 17, 18, 19, 26, 33, 34, 35, 42, 50, 58, 66, 74, 255].filter((n) => n >= min && n <= max);
  return fc.oneof(fc.constantFrom(...edges), fc.integer({ min, max }));
}

/** A known kind with a length its RFC does not allow (data filled to that length). */
export const wrongLengthTcpOption: fc.Arbitrary<number[]> = fc
  .tuple(fc.constantFrom(2, 3, 4, 5, 8), optionLength(2, 74), fc.uint8Array({ minLength: 72, maxLength: 72 }))
  .filter(([kind, len]) => !validTcpOptionLength(kind, len))
  .map(([kind, len, fill]) => [kind, len, ...fill.subarray(0, len - 2)]);

export type TcpTail =
  | { kind: 'none' }
  | { kind: 'eol'; garbage: Uint8Array }
  | { kind: 'wrong-length'; bytes: number[] }
  | { kind: 'no-length'; type: number }
  | { kind: 'short-length'; type: number; len: number; fill: Uint8Array }
  | { kind: 'overrun'; type: number; extra: number; fill: Uint8Array };

const tcpType = fc.oneof(fc.constantFrom(2, 3, 4, 5, 8), unknownTcpKind);
export const tcpTail: fc.Arbitrary<TcpTail> = fc.oneof(
  fc.constant<TcpTail>({ kind: 'none' }),
  fc.record({ kind: fc.constant('eol' as const), garbage: fc.uint8Array({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant('wrong-length' as const), bytes: wrongLengthTcpOption }),
  fc.record({ kind: fc.constant('no-length' as const), type: tcpType }),
  fc.record({ kind: fc.constant('short-length' as const), type: tcpType, len: fc.integer({ min: 0, max: 1 }), fill: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('overrun' as const), type: tcpType, extra: fc.integer({ min: 1, max: 255 }), fill: fc.uint8Array({ maxLength: 8 }) }),
);

export interface TcpOptionsCase {
  bytes: Uint8Array;
  model: TcpOptionsModel;
}

/**
 * Lays out options then a tail in an area of at most `max` bytes; with `words`, padded to a
 * multiple of 4 the way a header needs (EOL padding after a good list, NOPs before a malformed
 * last option so that it stays last). The model is what a correct parser makes of it: the
 * options in order (the last of a kind wins) up to EOL, or a reject at the first malformed one.
 */
export function layoutTcpOptions(items: TcpOptionItem[], tail: TcpTail, max: number, words: boolean): TcpOptionsCase {
  const head: number[] = [];
  const model = emptyTcpOptionsModel();
  const minTail =
    tail.kind === 'none' ? 0 : tail.kind === 'eol' || tail.kind === 'no-length' ? 1 : tail.kind === 'wrong-length' ? tail.bytes.length : 2;
  for (const it of items) {
    if (head.length + it.bytes.length + minTail > max) continue;
    head.push(...it.bytes);
    it.apply(model);
  }
  let size = head.length + minTail;
  if (words) size = Math.ceil(size / 4) * 4;
  if (size > max) {
    // Only a wrong-length tail can be this long (a header holds 40 option bytes): drop it.
    return layoutTcpOptions(items, { kind: 'none' }, max, words);
  }
  const bytes = new Uint8Array(size);
  const room = size - head.length;
  let at = head.length;
  if (tail.kind === 'no-length' || tail.kind === 'wrong-length') {
    // NOP padding first, so that the bad option ends the area.
    bytes.fill(1, at, size - minTail);
    at = size - minTail;
  }
  bytes.set(head);
  const bad = (): TcpOptionsCase => ({ bytes, model: { ...emptyTcpOptionsModel(), reason: 'tcp-bad-options' } });
  switch (tail.kind) {
    case 'none':
      return { bytes, model };
    case 'eol':
      bytes.set(tail.garbage.subarray(0, room - 1), at + 1);
      return { bytes, model };
    case 'wrong-length':
      bytes.set(tail.bytes, at);
      return bad();
    case 'no-length':
      bytes[at] = tail.type;
      return bad();
    case 'short-length':
      bytes[at] = tail.type;
      bytes[at + 1] = tail.len;
      bytes.set(tail.fill.subarray(0, room - 2), at + 2);
      return bad();
    case 'overrun':
      bytes[at] = tail.type;
      bytes[at + 1] = Math.min(255, room + tail.extra);
      bytes.set(tail.fill.subarray(0, room - 2), at + 2);
      return bad();
  }
}

/** Options for a TCP header: at most 40 bytes, whole words. */
export const tcpHeaderOptions: fc.Arbitrary<TcpOptionsCase> = fc
  .tuple(fc.array(tcpOptionItem, { maxLength: 8 }), tcpTail)
  .map(([items, tail]) => layoutTcpOptions(items, tail, 40, true));

/** A 20-byte TCP header (no checksum: the pseudo header is the caller's) with the given options. */
export function tcpSegmentBytes(
  h: { srcPort: number; dstPort: number; seq: number; ack: number; flags: number; window: number; urgent: number; reserved: number },
  options: Uint8Array,
  payload: Uint8Array,
): Uint8Array {
  const hl = 20 + options.length;
  const b = new Uint8Array(hl + payload.length);
  b.set([h.srcPort >>> 8, h.srcPort & 0xff, h.dstPort >>> 8, h.dstPort & 0xff], 0);
  b.set(be32(h.seq), 4);
  b.set(be32(h.ack), 8);
  b[12] = ((hl >>> 2) << 4) | (h.reserved & 0x0f);
  b[13] = h.flags;
  b.set([h.window >>> 8, h.window & 0xff, 0, 0, h.urgent >>> 8, h.urgent & 0xff], 14);
  b.set(options, 20);
  b.set(payload, hl);
  return b;
}

export const tcpHeaderFields = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: u8,
  window: u16,
  urgent: u16,
  reserved: fc.integer({ min: 0, max: 15 }),
});

/**
 * A Uint8Array that records every index read through it, for "never reads outside" checks.
 * Only the parsers under test see the proxy.
 */
export function readRecorder(buf: Uint8Array): { view: Uint8Array; reads: number[] } {
  const reads: number[] = [];
  const view = new Proxy(buf, {
    get(target, p) {
      if (typeof p === 'string' && /^-?\d+$/.test(p)) reads.push(Number(p));
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { view, reads };
}
