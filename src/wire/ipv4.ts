/**
 * IPv4 (RFC 791 section 3.1), with the receive checks of RFC 1122 3.2.1. Options are walked for
 * well-formedness but not interpreted; emitted headers carry none.
 */
import { readIpv4, writeIpv4, type Ipv4Addr } from './addr.js';
import { ensureRoom, readU16, writeU16, PacketView } from './bytes.js';
import { internetChecksum } from './checksum.js';
import { WireError, type DropReason } from './errors.js';

export const IPV4_VERSION = 4;
/** IHL 5 words, no options (RFC 791 3.1 "IHL": minimum value 5). */
export const IPV4_MIN_HEADER_LEN = 20;
/** IHL is 4 bits of 32-bit words. */
export const IPV4_MAX_HEADER_LEN = 60;
/** Total Length is 16 bits (RFC 791 3.1). */
export const IPV4_MAX_PACKET_LEN = 65535;
/** Every host must accept a datagram of this size (RFC 791 3.1, RFC 1122 3.3.3). */
export const IPV4_MIN_MTU_DATAGRAM = 576;
/** Recommended initial TTL (RFC 1700 "IP TTL"; Linux's net.ipv4.ip_default_ttl). */
export const IPV4_DEFAULT_TTL = 64;

/** Assigned Internet Protocol Numbers (RFC 790, IANA "Protocol Numbers"). */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Option types (RFC 791 3.1 "Options"). */
export const IPV4_OPT_EOL = 0;
export const IPV4_OPT_NOP = 1;

/** Flags (RFC 791 3.1): bit 0 reserved, DF, MF, in the top bits of the fragment word. */
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_OFFSET_MASK = 0x1fff;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LENGTH = 2;
const IDENT = 4;
const FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

/**
 * A view over an IPv4 packet at `buf[offset, offset + length)`. `length` is what the link layer
 * delivered (it may include Ethernet padding); the datagram itself ends at `totalLength`.
 */
export class Ipv4Packet extends PacketView {
  override check(): DropReason | null {
    return checkIpv4(this.buf, this.offset, this.length);
  }

  get version(): number {
    return this.buf[this.offset + VER_IHL] >>> 4;
  }
  set version(v: number) {
    const o = this.offset + VER_IHL;
    this.buf[o] = ((v & 0xf) << 4) | (this.buf[o] & 0x0f);
  }

  /** Internet Header Length in 32-bit words. */
  get ihl(): number {
    return this.buf[this.offset + VER_IHL] & 0x0f;
  }
  set ihl(v: number) {
    const o = this.offset + VER_IHL;
    this.buf[o] = (this.buf[o] & 0xf0) | (v & 0x0f);
  }

  /** IHL in bytes. */
  get headerLength(): number {
    return (this.buf[this.offset + VER_IHL] & 0x0f) << 2;
  }

  /** Differentiated Services Code Point, the top 6 bits of the old TOS (RFC 2474 3). */
  get dscp(): number {
    return this.buf[this.offset + TOS] >>> 2;
  }
  set dscp(v: number) {
    const o = this.offset + TOS;
    this.buf[o] = ((v & 0x3f) << 2) | (this.buf[o] & 0x03);
  }

  /** Explicit Congestion Notification, the low 2 bits (RFC 3168 5). */
  get ecn(): number {
    return this.buf[this.offset + TOS] & 0x03;
  }
  set ecn(v: number) {
    const o = this.offset + TOS;
    this.buf[o] = (this.buf[o] & 0xfc) | (v & 0x03);
  }

  /** Header plus data, in bytes. */
  get totalLength(): number {
    return readU16(this.buf, this.offset + TOTAL_LENGTH);
  }
  set totalLength(v: number) {
    writeU16(this.buf, this.offset + TOTAL_LENGTH, v);
  }

  get identification(): number {
    return readU16(this.buf, this.offset + IDENT);
  }
  set identification(v: number) {
    writeU16(this.buf, this.offset + IDENT, v);
  }

  get dontFragment(): boolean {
    return (readU16(this.buf, this.offset + FRAG) & FLAG_DF) !== 0;
  }
  set dontFragment(v: boolean) {
    const w = readU16(this.buf, this.offset + FRAG);
    writeU16(this.buf, this.offset + FRAG, v ? w | FLAG_DF : w & ~FLAG_DF);
  }

  get moreFragments(): boolean {
    return (readU16(this.buf, this.offset + FRAG) & FLAG_MF) !== 0;
  }
  set moreFragments(v: boolean) {
    const w = readU16(this.buf, this.offset + FRAG);
    writeU16(this.buf, this.offset + FRAG, v ? w | FLAG_MF : w & ~FLAG_MF);
  }

  /** In bytes: the field counts 8-octet units (RFC 791 3.1 "Fragment Offset"). */
  get fragmentOffset(): number {
    return (readU16(this.buf, this.offset + FRAG) & FRAG_OFFSET_MASK) << 3;
  }
  set fragmentOffset(bytes: number) {
    if (bytes % 8 !== 0 || bytes < 0 || bytes > FRAG_OFFSET_MASK << 3) {
      throw new RangeError(`fragment offset ${bytes} is not a multiple of 8 in 0..65528`);
    }
    const w = readU16(this.buf, this.offset + FRAG);
    writeU16(this.buf, this.offset + FRAG, (w & ~FRAG_OFFSET_MASK) | (bytes >>> 3));
  }

  /** True for any piece of a fragmented datagram (MF set or a non-zero offset). */
  get isFragment(): boolean {
    return (readU16(this.buf, this.offset + FRAG) & (FLAG_MF | FRAG_OFFSET_MASK)) !== 0;
  }

  get ttl(): number {
    return this.buf[this.offset + TTL];
  }
  set ttl(v: number) {
    this.buf[this.offset + TTL] = v;
  }

  get protocol(): number {
    return this.buf[this.offset + PROTOCOL];
  }
  set protocol(v: number) {
    this.buf[this.offset + PROTOCOL] = v;
  }

  get checksum(): number {
    return readU16(this.buf, this.offset + CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.offset + CHECKSUM, v);
  }

  get src(): Ipv4Addr {
    return readIpv4(this.buf, this.offset + SRC);
  }
  set src(a: Ipv4Addr) {
    writeIpv4(this.buf, this.offset + SRC, a);
  }

  get dst(): Ipv4Addr {
    return readIpv4(this.buf, this.offset + DST);
  }
  set dst(a: Ipv4Addr) {
    writeIpv4(this.buf, this.offset + DST, a);
  }

  /** Absolute offset of the data in `buf`. */
  get payloadOffset(): number {
    return this.offset + this.headerLength;
  }
  /** Data length per the header (`totalLength - headerLength`), without link padding. */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }

  /** Computes the header checksum over `headerLength` bytes and stores it. */
  fillChecksum(): void {
    writeU16(this.buf, this.offset + CHECKSUM, 0);
    const end = this.offset + this.headerLength;
    writeU16(this.buf, this.offset + CHECKSUM, internetChecksum(this.buf, this.offset, end));
  }

  /** RFC 791 3.1 "Header Checksum": the checksum over the header, field included, is zero. */
  verifyChecksum(): boolean {
    return internetChecksum(this.buf, this.offset, this.offset + this.headerLength) === 0;
  }
}

/**
 * Checks an IPv4 packet of `len` bytes (what the link delivered) at `buf[off]`. Only the header
 * is read and it must lie in `buf`; the data may lie in other buffers (header split), so `len`
 * may run past the end of `buf`. In order (RFC 1122 3.2.1.1, 3.2.1.2; RFC 791 3.1):
 * - fewer than 20 bytes: 'ipv4-truncated';
 * - version not 4: 'ipv4-bad-version';
 * - IHL below 5: 'ipv4-bad-ihl';
 * - Total Length and IHL disagree (total below the header): the one that is also beyond the
 *   frame is blamed, IHL ('ipv4-bad-ihl') before Total Length ('ipv4-bad-total-length');
 * - Total Length beyond the frame, or the header beyond `buf`: 'ipv4-truncated'. The header
 *   is consistent and the frame is short: a cut frame (e.g. a receive buffer too small) shows
 *   up here, as in Linux's InTruncatedPkts, rather than as a header error;
 * - header checksum: 'ipv4-bad-checksum';
 * - options malformed: 'ipv4-bad-options'.
 */
export function checkIpv4(buf: Uint8Array, off: number, len: number): DropReason | null {
  const inBuf = buf.length - off;
  if (len < IPV4_MIN_HEADER_LEN || inBuf < IPV4_MIN_HEADER_LEN) return 'ipv4-truncated';
  const verIhl = buf[off + VER_IHL];
  if (verIhl >>> 4 !== IPV4_VERSION) return 'ipv4-bad-version';
  const headerLength = (verIhl & 0x0f) << 2;
  if (headerLength < IPV4_MIN_HEADER_LEN) return 'ipv4-bad-ihl';
  const totalLength = readU16(buf, off + TOTAL_LENGTH);
  if (totalLength < headerLength) {
    return headerLength > len ? 'ipv4-bad-ihl' : 'ipv4-bad-total-length';
  }
  if (totalLength > len || headerLength > inBuf) return 'ipv4-truncated';
  if (internetChecksum(buf, off, off + headerLength) !== 0) return 'ipv4-bad-checksum';
  if (!ipv4OptionsWellFormed(buf, off + IPV4_MIN_HEADER_LEN, off + headerLength)) {
    return 'ipv4-bad-options';
  }
  return null;
}

/**
 * RFC 791 3.1 "Options": End of Option List (0) and No Operation (1) are one octet; every other
 * option has a length octet that counts the type and itself (so at least 2) and must end
 * within the header. After EOL the rest of the header is padding and is not read.
 */
function ipv4OptionsWellFormed(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const type = buf[i];
    if (type === IPV4_OPT_EOL) return true;
    if (type === IPV4_OPT_NOP) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return false;
    const optLen = buf[i + 1];
    if (optLen < 2 || i + optLen > end) return false;
    i += optLen;
  }
  return true;
}

/**
 * The parsed header. Options are not represented: a parsed packet with options emits without
 * them. `identification` must be set by the sender for datagrams that may be fragmented
 * (RFC 6864 4.1); it may stay 0 for atomic ones (DF set, MF clear, offset 0).
 */
export interface Ipv4Repr {
  src: Ipv4Addr;
  dst: Ipv4Addr;
  protocol: number;
  ttl: number;
  /** Bytes after the header. */
  payloadLength: number;
  identification?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In bytes, a multiple of 8. */
  fragmentOffset?: number;
  dscp?: number;
  ecn?: number;
}

export function parseIpv4Repr(packet: Ipv4Packet): Ipv4Repr {
  const reason = packet.check();
  if (reason !== null) throw new WireError(reason);
  return {
    src: packet.src,
    dst: packet.dst,
    protocol: packet.protocol,
    ttl: packet.ttl,
    payloadLength: packet.payloadLength,
    identification: packet.identification,
    dontFragment: packet.dontFragment,
    moreFragments: packet.moreFragments,
    fragmentOffset: packet.fragmentOffset,
    dscp: packet.dscp,
    ecn: packet.ecn,
  };
}

/** Header bytes `emitIpv4Repr` writes: always 20, options are never emitted. */
export function ipv4HeaderLength(_repr?: Ipv4Repr): number {
  return IPV4_MIN_HEADER_LEN;
}

export function ipv4BufferLength(repr: Ipv4Repr): number {
  return IPV4_MIN_HEADER_LEN + repr.payloadLength;
}

/**
 * Writes a 20-byte header at `buf[offset]`, checksum filled; returns its length. The payload is
 * the caller's to place after it.
 */
export function emitIpv4Repr(repr: Ipv4Repr, buf: Uint8Array, offset = 0): number {
  const totalLength = IPV4_MIN_HEADER_LEN + repr.payloadLength;
  if (repr.payloadLength < 0 || totalLength > IPV4_MAX_PACKET_LEN) {
    throw new RangeError(`IPv4 payload length ${repr.payloadLength} out of range`);
  }
  const fragmentOffset = repr.fragmentOffset ?? 0;
  if (fragmentOffset % 8 !== 0 || fragmentOffset < 0 || fragmentOffset > FRAG_OFFSET_MASK << 3) {
    throw new RangeError(`fragment offset ${fragmentOffset} is not a multiple of 8 in 0..65528`);
  }
  ensureRoom(buf, offset, IPV4_MIN_HEADER_LEN);
  buf[offset + VER_IHL] = (IPV4_VERSION << 4) | (IPV4_MIN_HEADER_LEN >>> 2);
  buf[offset + TOS] = (((repr.dscp ?? 0) & 0x3f) << 2) | ((repr.ecn ?? 0) & 0x03);
  writeU16(buf, offset + TOTAL_LENGTH, totalLength);
  writeU16(buf, offset + IDENT, repr.identification ?? 0);
  writeU16(
    buf,
    offset + FRAG,
    (repr.dontFragment ? FLAG_DF : 0) | (repr.moreFragments ? FLAG_MF : 0) | (fragmentOffset >>> 3),
  );
  buf[offset + TTL] = repr.ttl;
  buf[offset + PROTOCOL] = repr.protocol;
  writeU16(buf, offset + CHECKSUM, 0);
  writeIpv4(buf, offset + SRC, repr.src);
  writeIpv4(buf, offset + DST, repr.dst);
  writeU16(buf, offset + CHECKSUM, internetChecksum(buf, offset, offset + IPV4_MIN_HEADER_LEN));
  return IPV4_MIN_HEADER_LEN;
}
