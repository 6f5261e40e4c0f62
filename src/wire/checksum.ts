/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of
 * the data taken as big-endian 16-bit words, an odd final byte padded with zero.
 *
 * Sums are kept folded to 16 bits between calls, so `onesComplementSum(..., initial)` chains:
 * summing [a, b) then [b, c) equals summing [a, c), provided b - a is even (RFC 1071 section 2
 * (A): a piece that starts on an odd byte would need its sum byte-swapped). Header buffers (66)
 * and pages (4096) are even, so a split frame can be summed piece by piece.
 */
import { WireError } from './errors.js';
import { writeU16 } from './bytes.js';
import type { Ipv4Addr } from './addr.js';

/**
 * Bytes summed between two folds (RFC 1071 section 2 (D), deferred carries): 8 Ki words of at
 * most 0xffff keep the accumulator below 2^30, V8's small-integer range, so the loop stays on
 * integer arithmetic.
 */
const FOLD_EVERY = 16384;

/** Ranges shorter than this are summed 16 bits at a time: the word loop's set-up costs more. */
const WORD_LOOP_MIN = 64;

/** 32-bit words summed between two folds: 2^20 words of below 2^32 stay below 2^53, exact in a double. */
const WORDS_PER_FOLD = 1 << 20;

/** A Uint32Array over the whole of the last buffer summed by words (the arena, nearly always). */
let wordsOf: ArrayBufferLike | null = null;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * The one's complement sum of `buf[start, end)`, folded to 16 bits (not complemented).
 * `initial` is any earlier sum, folded or not (below 2^30), e.g. from {@link pseudoHeaderSum}.
 *
 * Where the range starts on an even address it is summed 32 bits at a time in the machine's
 * (little-endian) order and the result byte-swapped: RFC 1071 section 2 (B) and (C), the sum is
 * independent of byte order and may be taken over wider words, then folded. Measured on a
 * received 1448-byte payload this is 2-3x the speed of the 16-bit loop (4x over a page); receive checksum
 * verification without offloads was a fifth of the CPU profile of a bulk receive. The words go
 * into four double accumulators without folding (docs/PERFORMANCE.md section 3): 1.3-1.8x the
 * speed of one integer accumulator that split every word into halves.
 */
export function onesComplementSum(
  buf: Uint8Array,
  start: number,
  end: number,
  initial = 0,
): number {
  const at = buf.byteOffset + start;
  if (end - start < WORD_LOOP_MIN || (at & 1) !== 0) return sum16(buf, start, end, initial);
  let i = start;
  let sum = initial;
  if ((at & 2) !== 0) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (wordsOf !== buf.buffer) {
    wordsOf = buf.buffer;
    words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
  }
  let j = (buf.byteOffset + i) >>> 2;
  const jEnd = j + ((end - i) >>> 2);
  i += (jEnd - j) * 4;
  // Four independent accumulators of whole 32-bit words, as doubles: exact below 2^53, so a
  // chunk of 2^20 words needs no fold inside the loop, and the four additions of an iteration
  // do not wait on each other.
  let le = 0; // the sum of little-endian 16-bit words
  while (j < jEnd) {
    const stop = Math.min(jEnd, j + WORDS_PER_FOLD);
    let a = 0;
    let b = 0;
    let c = 0;
    let d = 0;
    for (const stop4 = stop - 3; j < stop4; j += 4) {
      a += words[j]!;
      b += words[j + 1]!;
      c += words[j + 2]!;
      d += words[j + 3]!;
    }
    for (; j < stop; j++) a += words[j]!;
    le = foldWide(le + a + b + c + d);
  }
  sum += ((le & 0xff) << 8) | (le >>> 8); // to network order
  return sum16(buf, i, end, sum);
}

/**
 * Folds a non-negative integer below 2^53 to 16 bits by end-around carry (RFC 1071 section 2
 * (C)): 2^16 is 1 modulo 0xffff, so each step keeps the sum's value and a non-zero sum never
 * folds to 0.
 */
function foldWide(s: number): number {
  while (s > 0xffffffff) {
    const lo = s % 0x10000;
    s = lo + (s - lo) / 0x10000;
  }
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** {@link onesComplementSum} 16 bits at a time, from any offset. */
function sum16(buf: Uint8Array, start: number, end: number, initial: number): number {
  let sum = initial;
  let i = start;
  const evenEnd = end - ((end - start) & 1);
  while (i < evenEnd) {
    const stop = Math.min(evenEnd, i + FOLD_EVERY);
    for (; i < stop; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += buf[i]! << 8; // RFC 1071 4.1: pad the odd byte with zero
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Folds a sum (below 2^32) to 16 bits and complements it: the value that goes on the wire. */
export function foldChecksum(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * The checksum of `buf[start, end)`. Over data that includes a correct checksum field it is 0,
 * which is how receivers verify (RFC 1071 section 1 (3)).
 */
export function internetChecksum(buf: Uint8Array, start: number, end: number): number {
  return foldChecksum(onesComplementSum(buf, start, end));
}

/**
 * The sum of the TCP/UDP pseudo header (RFC 9293 3.1, RFC 768): source, destination, zero,
 * protocol, and the transport length (header plus data). Folded, not complemented.
 */
export function pseudoHeaderSum(
  src: Ipv4Addr,
  dst: Ipv4Addr,
  protocol: number,
  length: number,
): number {
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/**
 * Stores a computed checksum. One's complement has two zeros; 0x0000 is replaced by 0xffff as
 * Linux does (skb_checksum_help, CSUM_MANGLED_0) because UDP reserves 0 for "no checksum"
 * (RFC 768) and either form verifies the same.
 */
function storeChecksum(buf: Uint8Array, off: number, checksum: number): void {
  writeU16(buf, off, checksum === 0 ? 0xffff : checksum);
}

/**
 * The checksum a virtio-net partial checksum (`csum_offset` into the transport header) finishes
 * as, from the sum of the covered bytes: its complement, except that a UDP checksum (the field
 * at offset 6) that comes out 0 goes as 0xffff, since 0 means "none" (RFC 768).
 */
export function finishedPartialChecksum(sum: number, csumOffset: number): number {
  return foldChecksum(sum) || (csumOffset === 6 ? 0xffff : 0);
}

/**
 * Fills a TCP or UDP checksum over the segment `buf[start, end)` and its pseudo header.
 * `checksumOffset` is the field's offset in the transport header (TCP 16, UDP 6).
 */
export function fillTransportChecksum(
  buf: Uint8Array,
  start: number,
  end: number,
  src: Ipv4Addr,
  dst: Ipv4Addr,
  protocol: number,
  checksumOffset: number,
): void {
  writeU16(buf, start + checksumOffset, 0);
  const sum = onesComplementSum(buf, start, end, pseudoHeaderSum(src, dst, protocol, end - start));
  storeChecksum(buf, start + checksumOffset, foldChecksum(sum));
}

/** True if the TCP or UDP segment `buf[start, end)` carries a correct checksum. */
export function verifyTransportChecksum(
  buf: Uint8Array,
  start: number,
  end: number,
  src: Ipv4Addr,
  dst: Ipv4Addr,
  protocol: number,
): boolean {
  const sum = onesComplementSum(buf, start, end, pseudoHeaderSum(src, dst, protocol, end - start));
  return foldChecksum(sum) === 0;
}

/**
 * Completes a checksum that the kernel left partial (virtio-net header flag
 * VIRTIO_NET_HDR_F_NEEDS_CSUM, virtio spec 5.1.6.2): the field at `csumStart + csumOffset` holds
 * the folded, uncomplemented pseudo-header sum, so summing from `csumStart` to the end of the
 * frame, that field included, and complementing gives the full checksum.
 */
export function completePartialChecksum(
  frame: Uint8Array,
  csumStart: number,
  csumOffset: number,
  end = frame.length,
): void {
  const field = csumStart + csumOffset;
  if (csumStart < 0 || csumOffset < 0 || field + 2 > end || end > frame.length) {
    throw new WireError('vnet-bad-csum-offsets', `csum_start ${csumStart} csum_offset ${csumOffset}`);
  }
  storeChecksum(frame, field, foldChecksum(onesComplementSum(frame, csumStart, end)));
}

/**
 * Incremental update when one 16-bit word of the covered data changes from `oldWord` to
 * `newWord` (RFC 1624 section 3, eqn. 3: HC' = ~(~HC + ~m + m')), without re-summing the data.
 */
export function updateChecksum16(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return foldChecksum(sum);
}

/**
 * A TCP or UDP checksum summed piece by piece: the pseudo header, the transport header, then
 * payload parts of any length, wherever they lie (a header buffer, pages, a copy). A piece that
 * follows an odd total is summed byte-swapped (RFC 1071 section 2 (B)), so parts need not be
 * even. Reused: {@link begin} starts over, nothing is allocated.
 */
export class L4Checksum {
  private sum = 0;
  private odd = false;

  /** Start from `initial`: {@link pseudoHeaderSum}, or 0 when the field already holds it. */
  begin(initial: number): this {
    this.sum = initial;
    this.odd = false;
    return this;
  }

  /** Add `buf[start, end)`. */
  add(buf: Uint8Array, start: number, end: number): void {
    let x = onesComplementSum(buf, start, end);
    if (this.odd) x = ((x & 0xff) << 8) | (x >>> 8);
    const s = this.sum + x;
    this.sum = (s & 0xffff) + (s >>> 16);
    if ((end - start) & 1) this.odd = !this.odd;
  }

  /** The checksum to store: folded and complemented. */
  finish(): number {
    return foldChecksum(this.sum);
  }

  /**
   * Store the checksum at `buf[field]` as computed: a TCP checksum of 0x0000 stays 0x0000
   * (RFC 1624 section 3: 0xffff would be the other zero, and checkers flag it). Only UDP must
   * send 0xffff instead (RFC 768), and {@link fillTransportChecksum} does that.
   */
  store(buf: Uint8Array, field: number): void {
    writeU16(buf, field, this.finish());
  }

  /** Store it as UDP must: a computed 0x0000 as 0xffff (RFC 768; 0 means "no checksum"). */
  storeUdp(buf: Uint8Array, field: number): void {
    storeChecksum(buf, field, this.finish());
  }
}
