/**
 * UDP header (RFC 768): source port, destination port, length (header plus data), checksum
 * over the pseudo header, header and data. A checksum field of zero means the sender computed
 * none (RFC 768 "If the computed checksum is zero, it is transmitted as all ones"; zero is
 * "no checksum"); {@link fillTransportChecksum} sends a computed zero as 0xffff.
 *
 * No allocating repr: the receive path checks with {@link checkUdp} and reads through a reused
 * {@link UdpHeader}; the send path writes with {@link emitUdpHeader}.
 */
import { ensureRoom, readU16, writeU16, PacketView } from './bytes.js';
import type { DropReason } from './errors.js';

/** RFC 768: four 16-bit fields. */
export const UDP_HEADER_LEN = 8;
/** Offset of the checksum field in the header: the virtio-net csum_offset for UDP. */
export const UDP_CHECKSUM_OFFSET = 6;
/** The largest UDP payload in IPv4: 65535 - 20 (IPv4 header) - 8 (RFC 768 length is 16 bits, RFC 791 total length too). */
export const UDP_MAX_PAYLOAD_IPV4 = 65535 - 20 - UDP_HEADER_LEN;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = UDP_CHECKSUM_OFFSET;

/**
 * Why `buf[off, off + len)` (len: the IP payload length) is not a UDP datagram: the header must
 * lie in `buf`; the length field must be at least 8 and at most `len` (RFC 768; RFC 1122
 * 4.1.3.4 asks to discard what does not fit). A length below `len` is accepted: the rest is
 * IP padding, trimmed as Linux's udp_rcv does (pskb_trim_rcsum).
 */
export function checkUdp(buf: Uint8Array, off: number, len: number): DropReason | null {
  if (off < 0 || len < UDP_HEADER_LEN || buf.length - off < UDP_HEADER_LEN) return 'udp-truncated';
  const ulen = readU16(buf, off + LENGTH);
  if (ulen < UDP_HEADER_LEN || ulen > len) return 'udp-bad-length';
  return null;
}

/** A view over a UDP datagram at `buf[offset, offset + length)`; only the header need lie in `buf`. */
export class UdpHeader extends PacketView {
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
  /** The length field: header and data. */
  get udpLength(): number {
    return readU16(this.buf, this.offset + LENGTH);
  }
  set udpLength(v: number) {
    writeU16(this.buf, this.offset + LENGTH, v);
  }
  get checksum(): number {
    return readU16(this.buf, this.offset + CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.offset + CHECKSUM, v);
  }
  /** Bytes of data the length field announces. */
  get payloadLength(): number {
    return this.udpLength - UDP_HEADER_LEN;
  }
  check(): DropReason | null {
    return checkUdp(this.buf, this.offset, this.length);
  }
}

/**
 * Write a UDP header at `buf[off]` for `payloadLength` bytes of data, checksum field zero (the
 * transmit path fills it: the pseudo-header sum for offload, or the whole checksum).
 */
export function emitUdpHeader(buf: Uint8Array, off: number, srcPort: number, dstPort: number, payloadLength: number): void {
  ensureRoom(buf, off, UDP_HEADER_LEN);
  writeU16(buf, off + SRC_PORT, srcPort);
  writeU16(buf, off + DST_PORT, dstPort);
  writeU16(buf, off + LENGTH, UDP_HEADER_LEN + payloadLength);
  writeU16(buf, off + CHECKSUM, 0);
}
