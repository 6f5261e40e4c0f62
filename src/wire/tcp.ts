/**
 * TCP header (RFC 9293 3.1) and options: MSS (RFC 9293 3.2, 3.7.1), window scale and timestamps
 * (RFC 7323), SACK-permitted and SACK (RFC 2018). Sequence arithmetic is in `seq.ts`.
 *
 * There is no allocating repr: the receive path checks with {@link checkTcp}, reads fields
 * through a reused {@link TcpSegment} and fills a reused {@link TcpOptions}; the send path
 * writes with {@link emitTcpHeader}.
 */
import type { Ipv4Addr } from './addr.js';
import { ensureRoom, readU16, readU32, writeU16, writeU32, PacketView } from './bytes.js';
import { fillTransportChecksum, pseudoHeaderSum, verifyTransportChecksum } from './checksum.js';
import type { DropReason } from './errors.js';
import { IPPROTO_TCP } from './ipv4.js';

/** Data offset 5 words, no options (RFC 9293 3.1 "Data Offset"). */
export const TCP_HEADER_LEN = 20;
/** Data offset is 4 bits of 32-bit words. */
export const TCP_MAX_HEADER_LEN = 60;
/** Room for options: 40 bytes. */
export const TCP_MAX_OPTIONS_LEN = TCP_MAX_HEADER_LEN - TCP_HEADER_LEN;

/**
 * Control bits (RFC 9293 3.1 "Control bits"; ECE and CWR from RFC 3168 6.1), the 13th byte of
 * the header.
 */
export const TcpFlag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

// Option kinds (RFC 9293 3.1 "Options", IANA "TCP Option Kind Numbers") and their lengths.
/** End of Option List: one byte, the rest of the header is padding. */
export const TCPOPT_EOL = 0;
/** No-Operation: one byte, used to align the next option. */
export const TCPOPT_NOP = 1;
/** Maximum Segment Size (RFC 9293 3.2): 16-bit MSS. */
export const TCPOPT_MSS = 2;
/** Window Scale (RFC 7323 2.2): 8-bit shift count. */
export const TCPOPT_WSCALE = 3;
/** SACK-Permitted (RFC 2018 2): no data. */
export const TCPOPT_SACK_PERMITTED = 4;
/** SACK (RFC 2018 3): 1..4 blocks of (left edge, right edge). */
export const TCPOPT_SACK = 5;
/** Timestamps (RFC 7323 3.2): TSval, TSecr. */
export const TCPOPT_TIMESTAMP = 8;

export const TCPOLEN_MSS = 4;
export const TCPOLEN_WSCALE = 3;
export const TCPOLEN_SACK_PERMITTED = 2;
/** Kind and length; each block adds {@link TCPOLEN_SACK_PERBLOCK}. */
export const TCPOLEN_SACK_BASE = 2;
export const TCPOLEN_SACK_PERBLOCK = 8;
export const TCPOLEN_TIMESTAMP = 10;
/** 2 + 8 * 4 = 34 bytes fit in the 40 of option space (RFC 2018 3); with timestamps, 3. */
export const TCP_MAX_SACK_BLOCKS = 4;
/** The largest shift count; larger ones received are used as 14 (RFC 7323 2.3). */
export const TCP_MAX_WSCALE = 14;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFFSET = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

/** Offset of the checksum field in the header: the virtio-net csum_offset for TCP. */
export const TCP_CHECKSUM_OFFSET = CHECKSUM;

/**
 * A view over a TCP segment at `buf[offset, offset + length)`; `length` is the segment length
 * (the IPv4 payload length), header included. With header split the data may lie in other
 * buffers; then only the header fields and `payloadLength` are meaningful here.
 */
export class TcpSegment extends PacketView {
  override check(): DropReason | null {
    return checkTcp(this.buf, this.offset, this.length);
  }

  get srcPort(): number {
    return readU16(this.buf, this.offset + SRC_PORT);
  }
  set srcPort(v: number) {
    writeU16(this.buf, this.offset + SRC_PORT, v);
  }

  get dstPort(): number {
    return readU16(this.buf, this.offset + DST_PORT);
  }
  set dstPort(v: number) {
    writeU16(this.buf, this.offset + DST_PORT, v);
  }

  /** Sequence number, unsigned: compare with `seq.ts`, never with `<`. */
  get seq(): number {
    return readU32(this.buf, this.offset + SEQ);
  }
  set seq(v: number) {
    writeU32(this.buf, this.offset + SEQ, v);
  }

  /** Acknowledgment number, unsigned; meaningful only with ACK set. */
  get ack(): number {
    return readU32(this.buf, this.offset + ACK);
  }
  set ack(v: number) {
    writeU32(this.buf, this.offset + ACK, v);
  }

  /**
   * Data Offset in bytes (the field counts 32-bit words), i.e. the header length. The setter
   * takes a multiple of 4 in 20..60 and keeps the reserved bits below the field.
   */
  get dataOffset(): number {
    return (this.buf[this.offset + DATA_OFFSET] >>> 4) << 2;
  }
  set dataOffset(bytes: number) {
    if (bytes % 4 !== 0 || bytes < TCP_HEADER_LEN || bytes > TCP_MAX_HEADER_LEN) {
      throw new RangeError(`TCP data offset ${bytes} is not a multiple of 4 in 20..60`);
    }
    const o = this.offset + DATA_OFFSET;
    this.buf[o] = ((bytes >>> 2) << 4) | (this.buf[o] & 0x0f);
  }

  /** Same as {@link dataOffset}. */
  get headerLength(): number {
    return (this.buf[this.offset + DATA_OFFSET] >>> 4) << 2;
  }

  /** The eight control bits, see {@link TcpFlag}. */
  get flags(): number {
    return this.buf[this.offset + FLAGS];
  }
  set flags(v: number) {
    this.buf[this.offset + FLAGS] = v;
  }

  /** Unscaled: shift by the peer's window scale yourself (RFC 7323 2.3; never on a SYN). */
  get window(): number {
    return readU16(this.buf, this.offset + WINDOW);
  }
  set window(v: number) {
    writeU16(this.buf, this.offset + WINDOW, v);
  }

  get checksum(): number {
    return readU16(this.buf, this.offset + CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.offset + CHECKSUM, v);
  }

  get urgentPointer(): number {
    return readU16(this.buf, this.offset + URGENT);
  }
  set urgentPointer(v: number) {
    writeU16(this.buf, this.offset + URGENT, v);
  }

  /** Absolute offset of the first option byte in `buf`. */
  get optionsOffset(): number {
    return this.offset + TCP_HEADER_LEN;
  }
  /** Absolute offset just past the options (= {@link payloadOffset}). */
  get optionsEnd(): number {
    return this.offset + this.headerLength;
  }

  /** Absolute offset of the data in `buf`. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  /** Segment length less the header. */
  get payloadLength(): number {
    return this.length - this.headerLength;
  }

  /** Fills `out` from this segment's options; see {@link parseTcpOptions}. */
  parseOptions(out: TcpOptions): DropReason | null {
    return parseTcpOptions(this.buf, this.offset + TCP_HEADER_LEN, this.offset + this.headerLength, out);
  }

  /**
   * Computes the checksum over the whole segment (`length` bytes, which must lie in `buf`) and
   * its pseudo header, and stores it.
   */
  fillChecksum(src: Ipv4Addr, dst: Ipv4Addr): void {
    fillTcpChecksum(this.buf, this.offset, this.length, src, dst);
  }

  /** RFC 9293 3.1 "Checksum": the sum over pseudo header and segment, field included, is zero. */
  verifyChecksum(src: Ipv4Addr, dst: Ipv4Addr): boolean {
    const end = this.offset + this.length;
    return verifyTransportChecksum(this.buf, this.offset, end, src, dst, IPPROTO_TCP);
  }
}

/**
 * Checks a TCP segment of `len` bytes (the IPv4 payload length) at `buf[off]`. Only the header
 * is read and it must lie in `buf`; the data may lie in other buffers (header split), so `len`
 * may run past the end of `buf`. The checksum needs the pseudo header and is not checked here
 * (see {@link TcpSegment.verifyChecksum}; drop with 'tcp-bad-checksum'). In order:
 * - fewer than 20 bytes, or fewer than 20 in `buf`: 'tcp-truncated';
 * - Data Offset below 5 words, or beyond `len`: 'tcp-bad-data-offset' (RFC 9293 3.1);
 * - header beyond `buf` (the segment is consistent, the buffer cut): 'tcp-truncated';
 * - options malformed (see {@link parseTcpOptions}): 'tcp-bad-options'.
 */
export function checkTcp(buf: Uint8Array, off: number, len: number): DropReason | null {
  const reason = checkTcpHeader(buf, off, len);
  if (reason !== null) return reason;
  const headerLength = (buf[off + DATA_OFFSET] >>> 4) << 2;
  if (headerLength === TCP_HEADER_LEN) return null;
  return walkOptions(buf, off + TCP_HEADER_LEN, off + headerLength, null);
}

/**
 * {@link checkTcp} without the options: the segment and its data offset fit. A receiver checks
 * this, then the checksum, then the options, so that a bit flipped in transit is counted as a
 * checksum failure wherever it landed.
 */
export function checkTcpHeader(buf: Uint8Array, off: number, len: number): DropReason | null {
  const inBuf = buf.length - off;
  if (off < 0 || len < TCP_HEADER_LEN || inBuf < TCP_HEADER_LEN) return 'tcp-truncated';
  const headerLength = (buf[off + DATA_OFFSET] >>> 4) << 2;
  if (headerLength < TCP_HEADER_LEN || headerLength > len) return 'tcp-bad-data-offset';
  if (headerLength > inBuf) return 'tcp-truncated';
  return null;
}

/**
 * Parsed options, a reusable object: {@link parseTcpOptions} clears it and fills it without
 * allocating. Absent options read as -1 / false / 0.
 */
export class TcpOptions {
  /** MSS (RFC 9293 3.7.1), -1 if absent (then the sender assumes 536, RFC 9293 3.7.1). */
  mss = -1;
  /** Shift count (RFC 7323 2.3), clamped to 14; -1 if absent. */
  windowScale = -1;
  sackPermitted = false;
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
  /** Number of SACK blocks in {@link sack}, 0..4. */
  sackCount = 0;
  /** SACK blocks as left0, right0, left1, right1, ... (RFC 2018 3: right edge is exclusive). */
  readonly sack = new Uint32Array(2 * TCP_MAX_SACK_BLOCKS);

  clear(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/**
 * Parses the options in `buf[start, end)` (from 20 bytes into the header to its end) into `out`,
 * which is cleared first and again on error. RFC 9293 3.1 "Options" and 3.2:
 * - EOL ends the list; the rest is padding and is not read. NOP is one byte.
 * - Every other option has a length byte that counts kind and length; a length of 0 or 1, or
 *   one that runs past `end` (including a kind byte with no room for its length), rejects the
 *   segment: 'tcp-bad-options'. Unknown kinds are skipped by their length (RFC 9293 3.2:
 *   "MUST be prepared to handle an illegal option length ... and MUST ignore unknown options").
 * - Known kinds with the wrong length reject the segment too: MSS 4, window scale 3,
 *   SACK-permitted 2, timestamps 10, SACK 2 + 8n with n in 1..4.
 * - A window scale above 14 is taken as 14 (RFC 7323 2.3). An option that appears twice: the
 *   last one wins. Whether an option belongs on this segment (MSS and window scale only on a
 *   SYN) is the caller's rule.
 * `start < 0`, `end > buf.length` or `start > end` (the options do not lie in `buf`):
 * 'tcp-truncated'. Never throws.
 */
export function parseTcpOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  out: TcpOptions,
): DropReason | null {
  out.clear();
  const reason = walkOptions(buf, start, end, out);
  if (reason !== null) out.clear();
  return reason;
}

/** The option walk shared by {@link checkTcp} (with `out` null) and {@link parseTcpOptions}. */
function walkOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  out: TcpOptions | null,
): DropReason | null {
  if (start < 0 || end > buf.length || start > end) return 'tcp-truncated';
  let i = start;
  while (i < end) {
    const kind = buf[i];
    if (kind === TCPOPT_EOL) return null;
    if (kind === TCPOPT_NOP) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return 'tcp-bad-options';
    const len = buf[i + 1];
    if (len < 2 || i + len > end) return 'tcp-bad-options';
    switch (kind) {
      case TCPOPT_MSS:
        if (len !== TCPOLEN_MSS) return 'tcp-bad-options';
        if (out !== null) out.mss = readU16(buf, i + 2);
        break;
      case TCPOPT_WSCALE:
        if (len !== TCPOLEN_WSCALE) return 'tcp-bad-options';
        if (out !== null) out.windowScale = Math.min(buf[i + 2], TCP_MAX_WSCALE);
        break;
      case TCPOPT_SACK_PERMITTED:
        if (len !== TCPOLEN_SACK_PERMITTED) return 'tcp-bad-options';
        if (out !== null) out.sackPermitted = true;
        break;
      case TCPOPT_SACK: {
        const blocks = (len - TCPOLEN_SACK_BASE) >>> 3;
        if (
          (len - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_PERBLOCK !== 0 ||
          blocks < 1 ||
          blocks > TCP_MAX_SACK_BLOCKS
        ) {
          return 'tcp-bad-options';
        }
        if (out !== null) {
          for (let b = 0, p = i + 2; b < 2 * blocks; b++, p += 4) out.sack[b] = readU32(buf, p);
          out.sackCount = blocks;
        }
        break;
      }
      case TCPOPT_TIMESTAMP:
        if (len !== TCPOLEN_TIMESTAMP) return 'tcp-bad-options';
        if (out !== null) {
          out.hasTimestamp = true;
          out.tsVal = readU32(buf, i + 2);
          out.tsEcr = readU32(buf, i + 6);
        }
        break;
      default:
        break; // unknown: skipped by its length
    }
    i += len;
  }
  return null;
}

// ---- Emitting ----

export interface TcpHeaderFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** {@link TcpFlag} bits. */
  flags: number;
  /** As it goes on the wire, already scaled down. */
  window: number;
  urgentPointer?: number;
}

/** What to put in the options; undefined/false/-1 = absent. */
export interface TcpOptionsToEmit {
  /** 0..65535. */
  mss?: number;
  /** 0..14. */
  windowScale?: number;
  sackPermitted?: boolean;
  timestamp?: { tsVal: number; tsEcr: number } | null;
  /** left0, right0, left1, right1, ... (e.g. a {@link TcpOptions.sack}). */
  sackBlocks?: Uint32Array;
  /** Blocks to send from `sackBlocks`, 0..4 (0 or -1: none); default `sackBlocks.length / 2`. */
  sackBlockCount?: number;
}

function hasMss(o: TcpOptionsToEmit): boolean {
  return o.mss !== undefined && o.mss >= 0;
}
function hasWindowScale(o: TcpOptionsToEmit): boolean {
  return o.windowScale !== undefined && o.windowScale >= 0;
}
/** Blocks to emit; no array, or a count of 0 or -1, is none. */
function sackBlockCount(o: TcpOptionsToEmit): number {
  if (o.sackBlocks === undefined) return 0;
  const n = o.sackBlockCount ?? o.sackBlocks.length >>> 1;
  return n > 0 ? n : 0;
}

/**
 * Option bytes {@link emitTcpHeader} writes for `opts`, a multiple of 4. It may exceed
 * {@link TCP_MAX_OPTIONS_LEN} (then emitting throws): with timestamps at most 3 SACK blocks fit.
 */
export function tcpOptionsLength(opts?: TcpOptionsToEmit): number {
  if (opts === undefined) return 0;
  let n = 0;
  if (hasMss(opts)) n += TCPOLEN_MSS;
  if (opts.timestamp) n += 2 + TCPOLEN_TIMESTAMP; // SACKOK TS or NOP NOP TS
  else if (opts.sackPermitted) n += 2 + TCPOLEN_SACK_PERMITTED; // NOP NOP SACKOK
  if (hasWindowScale(opts)) n += 1 + TCPOLEN_WSCALE; // NOP WS
  const blocks = sackBlockCount(opts);
  if (blocks > 0) n += 2 + TCPOLEN_SACK_BASE + blocks * TCPOLEN_SACK_PERBLOCK; // NOP NOP SACK
  return n;
}

/**
 * Writes header and options at `buf[off]`; returns the header length. The checksum field is
 * left 0 (see {@link fillTcpChecksum}, {@link fillTcpPseudoChecksum}); the reserved bits are 0.
 *
 * Options go in Linux's order and alignment (tcp_options_write), every option group a whole
 * number of words so no trailing padding is needed:
 * - MSS: `02 04 mss`;
 * - with timestamps: `04 02 08 0a tsval tsecr` if SACK-permitted too, else `01 01 08 0a ...`;
 *   without: `01 01 04 02` if SACK-permitted;
 * - window scale: `01 03 03 shift`;
 * - SACK blocks: `01 01 05 len left right ...`.
 * So a SYN with everything carries 20 option bytes (header 40), and a data segment with only
 * timestamps 12 (header 32: Ethernet 14 + IPv4 20 + TCP 32 = 66, the header-split size).
 * Throws RangeError if a value is out of range, the options exceed 40 bytes, or `buf` is small.
 */
export function emitTcpHeader(
  buf: Uint8Array,
  off: number,
  h: TcpHeaderFields,
  opts?: TcpOptionsToEmit,
): number {
  const optLen = tcpOptionsLength(opts);
  if (optLen > TCP_MAX_OPTIONS_LEN) {
    throw new RangeError(`TCP options need ${optLen} bytes, at most ${TCP_MAX_OPTIONS_LEN} fit`);
  }
  const headerLength = TCP_HEADER_LEN + optLen;
  ensureRoom(buf, off, headerLength);
  if (opts !== undefined) validateOptions(opts);

  writeU16(buf, off + SRC_PORT, h.srcPort);
  writeU16(buf, off + DST_PORT, h.dstPort);
  writeU32(buf, off + SEQ, h.seq);
  writeU32(buf, off + ACK, h.ack);
  buf[off + DATA_OFFSET] = (headerLength >>> 2) << 4;
  buf[off + FLAGS] = h.flags;
  writeU16(buf, off + WINDOW, h.window);
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + URGENT, h.urgentPointer ?? 0);
  if (opts === undefined || optLen === 0) return headerLength;

  let i = off + TCP_HEADER_LEN;
  if (hasMss(opts)) {
    buf[i] = TCPOPT_MSS;
    buf[i + 1] = TCPOLEN_MSS;
    writeU16(buf, i + 2, opts.mss!);
    i += 4;
  }
  if (opts.timestamp) {
    if (opts.sackPermitted) {
      buf[i] = TCPOPT_SACK_PERMITTED;
      buf[i + 1] = TCPOLEN_SACK_PERMITTED;
    } else {
      buf[i] = TCPOPT_NOP;
      buf[i + 1] = TCPOPT_NOP;
    }
    buf[i + 2] = TCPOPT_TIMESTAMP;
    buf[i + 3] = TCPOLEN_TIMESTAMP;
    writeU32(buf, i + 4, opts.timestamp.tsVal);
    writeU32(buf, i + 8, opts.timestamp.tsEcr);
    i += 12;
  } else if (opts.sackPermitted) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_NOP;
    buf[i + 2] = TCPOPT_SACK_PERMITTED;
    buf[i + 3] = TCPOLEN_SACK_PERMITTED;
    i += 4;
  }
  if (hasWindowScale(opts)) {
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_WSCALE;
    buf[i + 2] = TCPOLEN_WSCALE;
    buf[i + 3] = opts.windowScale!;
    i += 4;
  }
  const blocks = sackBlockCount(opts);
  if (blocks > 0) {
    const sack = opts.sackBlocks!;
    buf[i] = TCPOPT_NOP;
    buf[i + 1] = TCPOPT_NOP;
    buf[i + 2] = TCPOPT_SACK;
    buf[i + 3] = TCPOLEN_SACK_BASE + blocks * TCPOLEN_SACK_PERBLOCK;
    i += 4;
    for (let b = 0; b < 2 * blocks; b++, i += 4) writeU32(buf, i, sack[b]);
  }
  return headerLength;
}

function validateOptions(o: TcpOptionsToEmit): void {
  if (hasMss(o) && !(Number.isInteger(o.mss) && o.mss! <= 0xffff)) {
    throw new RangeError(`MSS ${o.mss} out of range 0..65535`);
  }
  if (hasWindowScale(o) && !(Number.isInteger(o.windowScale) && o.windowScale! <= TCP_MAX_WSCALE)) {
    throw new RangeError(`window scale ${o.windowScale} out of range 0..${TCP_MAX_WSCALE}`);
  }
  const blocks = sackBlockCount(o);
  if (
    !Number.isInteger(blocks) ||
    blocks > TCP_MAX_SACK_BLOCKS ||
    (o.sackBlocks !== undefined && 2 * blocks > o.sackBlocks.length)
  ) {
    throw new RangeError(`SACK block count ${blocks} out of range 0..${TCP_MAX_SACK_BLOCKS}`);
  }
}

/**
 * Fills the checksum of the segment `buf[off, off + len)` (header and data, all in `buf`) with
 * its pseudo header (RFC 9293 3.1 "Checksum"). A computed 0 is stored as 0xffff, as Linux does.
 */
export function fillTcpChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Ipv4Addr,
  dst: Ipv4Addr,
): void {
  if (len < TCP_HEADER_LEN) throw new RangeError(`TCP segment length ${len} below ${TCP_HEADER_LEN}`);
  ensureRoom(buf, off, len);
  fillTransportChecksum(buf, off, off + len, src, dst, IPPROTO_TCP, CHECKSUM);
}

/**
 * For checksum offload (virtio-net VIRTIO_NET_HDR_F_NEEDS_CSUM with csum_start = `off`,
 * csum_offset 16; TSO): stores the folded, not complemented, pseudo-header sum for a segment
 * of `len` bytes, as Linux's tcp_v4_send_check does. Whoever completes the checksum sums from
 * the header to the end of the segment, this field included, and complements
 * (`completePartialChecksum` in checksum.ts). Only the header need be in `buf`.
 */
export function fillTcpPseudoChecksum(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Ipv4Addr,
  dst: Ipv4Addr,
): void {
  if (len < TCP_HEADER_LEN) throw new RangeError(`TCP segment length ${len} below ${TCP_HEADER_LEN}`);
  ensureRoom(buf, off, TCP_HEADER_LEN);
  writeU16(buf, off + CHECKSUM, pseudoHeaderSum(src, dst, IPPROTO_TCP, len));
}
