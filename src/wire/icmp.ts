/**
 * ICMP for IPv4 (RFC 792), with the host rules of RFC 1122 3.2.2. Echo is answered; the error
 * types are recognised and can be emitted; the rest (timestamp, information, address mask,
 * router discovery) is only checked and counted by the layers above.
 */
import { ensureRoom, readU16, readU32, writeU16, writeU32, PacketView } from './bytes.js';
import { internetChecksum, updateChecksum16 } from './checksum.js';
import { WireError, type DropReason } from './errors.js';
import { IPV4_MAX_HEADER_LEN, IPV4_MIN_HEADER_LEN, IPV4_MIN_MTU_DATAGRAM, IPV4_VERSION } from './ipv4.js';

/** Type, code, checksum and the 4-byte "rest of header" (RFC 792). */
export const ICMP_HEADER_LEN = 8;

// Types (RFC 792 unless noted).
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
/** Deprecated (RFC 6633): recognised, never sent. */
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

// Destination Unreachable codes (RFC 792; 13 from RFC 1812 5.2.7.1).
export const ICMP_UNREACH_NET = 0;
export const ICMP_UNREACH_HOST = 1;
export const ICMP_UNREACH_PROTOCOL = 2;
export const ICMP_UNREACH_PORT = 3;
/** Fragmentation needed and DF set; the next-hop MTU goes in the low 16 bits (RFC 1191 4). */
export const ICMP_UNREACH_NEEDFRAG = 4;
export const ICMP_UNREACH_SRCFAIL = 5;
export const ICMP_UNREACH_ADMIN_PROHIBITED = 13;

// Time Exceeded codes (RFC 792).
export const ICMP_TIMXCEED_INTRANS = 0;
export const ICMP_TIMXCEED_REASS = 1;

/**
 * The most of the offending datagram an error may quote: the error datagram must not exceed
 * 576 bytes (RFC 1812 4.3.2.3), less our 20-byte IPv4 header and the 8-byte ICMP header.
 */
export const ICMP_ERROR_MAX_QUOTE = IPV4_MIN_MTU_DATAGRAM - IPV4_MIN_HEADER_LEN - ICMP_HEADER_LEN;
/** RFC 792: the internet header plus the first 64 bits of data; 60 + 8 covers any header. */
export const ICMP_ERROR_MIN_QUOTE = IPV4_MAX_HEADER_LEN + 8;

export type IcmpErrorType = 3 | 4 | 5 | 11 | 12;

/**
 * True for the error messages of RFC 1122 3.2.2: Destination Unreachable, Source Quench,
 * Redirect, Time Exceeded, Parameter Problem. An error must never be answered with an error.
 */
export function isIcmpError(type: number): type is IcmpErrorType {
  return (
    type === ICMP_DEST_UNREACHABLE ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAMETER_PROBLEM
  );
}

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;

/** A view over an ICMP message at `buf[offset, offset + length)`; `length` is the IP payload. */
export class IcmpPacket extends PacketView {
  override check(): DropReason | null {
    return checkIcmp(this.buf, this.offset, this.length);
  }

  get type(): number {
    return this.buf[this.offset + TYPE];
  }
  set type(v: number) {
    this.buf[this.offset + TYPE] = v;
  }

  get code(): number {
    return this.buf[this.offset + CODE];
  }
  set code(v: number) {
    this.buf[this.offset + CODE] = v;
  }

  get checksum(): number {
    return readU16(this.buf, this.offset + CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.offset + CHECKSUM, v);
  }

  /** The 32 bits after the checksum, whose meaning depends on the type (RFC 792). */
  get restOfHeader(): number {
    return readU32(this.buf, this.offset + REST);
  }
  set restOfHeader(v: number) {
    writeU32(this.buf, this.offset + REST, v);
  }

  /** Echo and echo reply: identifier, the high half of the rest of the header. */
  get identifier(): number {
    return readU16(this.buf, this.offset + REST);
  }
  set identifier(v: number) {
    writeU16(this.buf, this.offset + REST, v);
  }

  /** Echo and echo reply: sequence number, the low half. */
  get sequence(): number {
    return readU16(this.buf, this.offset + REST + 2);
  }
  set sequence(v: number) {
    writeU16(this.buf, this.offset + REST + 2, v);
  }

  /** Absolute offset of the data: echo data, or the quoted datagram of an error. */
  get dataOffset(): number {
    return this.offset + ICMP_HEADER_LEN;
  }
  get dataLength(): number {
    return this.length - ICMP_HEADER_LEN;
  }

  /** Computes the checksum over the whole message (`length` bytes) and stores it. */
  fillChecksum(): void {
    writeU16(this.buf, this.offset + CHECKSUM, 0);
    const end = this.offset + this.length;
    writeU16(this.buf, this.offset + CHECKSUM, internetChecksum(this.buf, this.offset, end));
  }

  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.offset, this.offset + this.length) === 0;
  }
}

/**
 * Checks the ICMP message `buf[off, off + len)`, `len` being the IPv4 payload length: at least
 * the 8-byte header, and a checksum over the whole message (RFC 792 "Checksum"), which must
 * therefore lie in `buf`.
 */
export function checkIcmp(buf: Uint8Array, off: number, len: number): DropReason | null {
  if (len < ICMP_HEADER_LEN || len > buf.length - off) return 'icmp-truncated';
  if (internetChecksum(buf, off, off + len) !== 0) return 'icmp-bad-checksum';
  return null;
}

/**
 * Checks the datagram quoted by an error, `buf[off, off + len)`: an IPv4 header and the 8 data
 * bytes RFC 792 promises (enough for TCP and UDP ports). Its Total Length and checksum are not
 * judged: the quote is usually cut, and Linux does not verify it either.
 */
export function checkIcmpQuote(buf: Uint8Array, off: number, len: number): DropReason | null {
  if (len < IPV4_MIN_HEADER_LEN || len > buf.length - off) return 'icmp-bad-quote';
  const verIhl = buf[off];
  const headerLength = (verIhl & 0x0f) << 2;
  if (verIhl >>> 4 !== IPV4_VERSION || headerLength < IPV4_MIN_HEADER_LEN) return 'icmp-bad-quote';
  if (headerLength + 8 > len) return 'icmp-bad-quote';
  return null;
}

// ---- Echo (RFC 792 "Echo or Echo Reply Message", RFC 1122 3.2.2.6) ----

export interface IcmpEchoRepr {
  type: 0 | 8;
  code: number;
  identifier: number;
  sequence: number;
}

export function parseIcmpEchoRepr(packet: IcmpPacket): IcmpEchoRepr {
  const reason = packet.check();
  if (reason !== null) throw new WireError(reason);
  const type = packet.type;
  if (type !== ICMP_ECHO_REQUEST && type !== ICMP_ECHO_REPLY) throw new WireError('icmp-not-echo');
  return { type, code: packet.code, identifier: packet.identifier, sequence: packet.sequence };
}

const NO_DATA = new Uint8Array(0);

export function icmpEchoBufferLength(dataLength: number): number {
  return ICMP_HEADER_LEN + dataLength;
}

/** Writes an echo message with `data` at `buf[offset]`, checksum filled; returns its length. */
export function emitIcmpEchoRepr(
  repr: IcmpEchoRepr,
  buf: Uint8Array,
  offset = 0,
  data: Uint8Array = NO_DATA,
): number {
  const length = ICMP_HEADER_LEN + data.length;
  ensureRoom(buf, offset, length);
  buf[offset + TYPE] = repr.type;
  buf[offset + CODE] = repr.code;
  writeU16(buf, offset + CHECKSUM, 0);
  writeU16(buf, offset + REST, repr.identifier);
  writeU16(buf, offset + REST + 2, repr.sequence);
  buf.set(data, offset + ICMP_HEADER_LEN);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, offset + length));
  return length;
}

/**
 * Writes the reply to a checked echo request at `out[outOffset]` (which may be the request's own
 * place): the same identifier, sequence and data (RFC 1122 3.2.2.6), type 0, code 0. The
 * checksum is updated for the changed first word (RFC 1624) instead of summing the data again.
 * Returns the length written.
 */
export function emitIcmpEchoReply(request: IcmpPacket, out: Uint8Array, outOffset = 0): number {
  const length = request.length;
  ensureRoom(out, outOffset, length);
  const { buf, offset } = request;
  const oldWord = readU16(buf, offset + TYPE);
  const oldChecksum = readU16(buf, offset + CHECKSUM);
  if (out !== buf || outOffset !== offset) out.set(buf.subarray(offset, offset + length), outOffset);
  const newWord = (ICMP_ECHO_REPLY << 8) | 0; // type 0, code 0
  writeU16(out, outOffset + TYPE, newWord);
  // RFC 1624 eqn. 3 gives 0x0000 both when the rest of the reply sums to 0xffff (-0) and when
  // it is all zeros (identifier, sequence and data 0). All zeros sum to +0 (RFC 1071), which
  // only a checksum of 0xffff complements; 0xffff verifies in the first case too, so it is
  // stored whenever the update gives 0.
  const checksum = updateChecksum16(oldChecksum, oldWord, newWord);
  writeU16(out, outOffset + CHECKSUM, checksum === 0 ? 0xffff : checksum);
  return length;
}

// ---- Errors (RFC 792; RFC 1122 3.2.2; RFC 1812 4.3.2.3) ----

export interface IcmpErrorRepr {
  type: IcmpErrorType;
  code: number;
  /**
   * The 32 bits after the checksum: unused (0) for most; the gateway for Redirect; the pointer
   * in the top byte for Parameter Problem; the next-hop MTU in the low 16 bits for
   * "fragmentation needed" (RFC 1191 4).
   */
  restOfHeader?: number;
}

/** Parses an error message; the quoted datagram is at `packet.dataOffset`, checked. */
export function parseIcmpErrorRepr(packet: IcmpPacket): IcmpErrorRepr {
  const reason = packet.check();
  if (reason !== null) throw new WireError(reason);
  const type = packet.type;
  if (!isIcmpError(type)) throw new WireError('icmp-not-error');
  const quote = checkIcmpQuote(packet.buf, packet.dataOffset, packet.dataLength);
  if (quote !== null) throw new WireError(quote);
  return { type, code: packet.code, restOfHeader: packet.restOfHeader };
}

/** How many bytes of an `originalLength`-byte datagram an error quotes. */
export function icmpErrorQuoteLength(originalLength: number, maxQuote = ICMP_ERROR_MAX_QUOTE): number {
  if (maxQuote < ICMP_ERROR_MIN_QUOTE || maxQuote > ICMP_ERROR_MAX_QUOTE) {
    throw new RangeError(`maxQuote ${maxQuote} outside ${ICMP_ERROR_MIN_QUOTE}..${ICMP_ERROR_MAX_QUOTE}`);
  }
  return Math.min(originalLength, maxQuote);
}

export function icmpErrorBufferLength(originalLength: number, maxQuote = ICMP_ERROR_MAX_QUOTE): number {
  return ICMP_HEADER_LEN + icmpErrorQuoteLength(originalLength, maxQuote);
}

/**
 * Writes an error about `original` (the offending datagram from its IPv4 header on) at
 * `buf[offset]`, checksum filled; returns its length. The quote is the whole datagram up to
 * `maxQuote` bytes: RFC 792 asks for the header and 8 data bytes, RFC 1812 4.3.2.3 for as much
 * as fits in 576 bytes, which is what Linux sends. Whether an error may be sent at all
 * (RFC 1122 3.2.2: not about an error, a broadcast, a non-initial fragment, ...) is the
 * caller's decision.
 */
export function emitIcmpError(
  repr: IcmpErrorRepr,
  original: Uint8Array,
  buf: Uint8Array,
  offset = 0,
  maxQuote = ICMP_ERROR_MAX_QUOTE,
): number {
  if (!isIcmpError(repr.type)) throw new RangeError(`ICMP type ${repr.type} is not an error`);
  const quote = icmpErrorQuoteLength(original.length, maxQuote);
  const length = ICMP_HEADER_LEN + quote;
  ensureRoom(buf, offset, length);
  buf[offset + TYPE] = repr.type;
  buf[offset + CODE] = repr.code;
  writeU16(buf, offset + CHECKSUM, 0);
  writeU32(buf, offset + REST, repr.restOfHeader ?? 0);
  buf.set(original.subarray(0, quote), offset + ICMP_HEADER_LEN);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, offset + length));
  return length;
}
