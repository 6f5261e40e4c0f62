/**
 * Ethernet II framing (IEEE 802.3-2018 3.2.6 "Length/Type"; RFC 894 for IPv4 over Ethernet).
 * A TAP device carries frames without preamble or FCS, so a frame is just header + payload.
 */
import { MAC_ADDR_LEN } from './addr.js';
import { ensureRoom, readU16, writeU16, PacketView } from './bytes.js';
import { WireError, type DropReason } from './errors.js';

export const ETHERNET_HEADER_LEN = 14;
/** The 64-byte minimum frame less the 4-byte FCS, which TAP does not carry (IEEE 802.3 4.4.2). */
export const ETHERNET_MIN_FRAME_LEN = 60;
/** Length/Type values from 0x0600 up are EtherTypes; below, an 802.3 length (IEEE 802.3 3.2.6). */
export const ETHERTYPE_MIN = 0x0600;
export const ETHERTYPE_IPV4 = 0x0800; // RFC 894
export const ETHERTYPE_ARP = 0x0806; // RFC 826
export const ETHERTYPE_VLAN = 0x8100; // IEEE 802.1Q
export const ETHERTYPE_IPV6 = 0x86dd; // RFC 2464

const DST = 0;
const SRC = 6;
const TYPE = 12;

/** A view over an Ethernet II frame at `buf[offset, offset + length)`. Re-point with `reset`. */
export class EthernetFrame extends PacketView {
  override check(): DropReason | null {
    return checkEthernet(this.buf, this.offset, this.length);
  }

  /** Destination MAC, a subarray aliasing the frame (compare with `macEquals` to avoid it). */
  get dst(): Uint8Array {
    return this.buf.subarray(this.offset + DST, this.offset + DST + MAC_ADDR_LEN);
  }
  set dst(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, MAC_ADDR_LEN), this.offset + DST);
  }

  get src(): Uint8Array {
    return this.buf.subarray(this.offset + SRC, this.offset + SRC + MAC_ADDR_LEN);
  }
  set src(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, MAC_ADDR_LEN), this.offset + SRC);
  }

  get etherType(): number {
    return readU16(this.buf, this.offset + TYPE);
  }
  set etherType(v: number) {
    writeU16(this.buf, this.offset + TYPE, v);
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.offset + ETHERNET_HEADER_LEN;
  }
  get payloadLength(): number {
    return this.length - ETHERNET_HEADER_LEN;
  }
}

/**
 * Checks that a frame of `len` bytes at `buf[off]` has an Ethernet II header, which must lie in
 * `buf`; the rest of the frame may lie in other buffers (header split). The EtherType is not
 * judged here: which ones are handled is the receiver's business.
 */
export function checkEthernet(buf: Uint8Array, off: number, len: number): DropReason | null {
  if (len < ETHERNET_HEADER_LEN || buf.length - off < ETHERNET_HEADER_LEN) return 'eth-truncated';
  return null;
}

export interface EthernetRepr {
  dst: Uint8Array;
  src: Uint8Array;
  etherType: number;
}

/** The addresses are copied: the repr outlives the frame. */
export function parseEthernetRepr(frame: EthernetFrame): EthernetRepr {
  const reason = frame.check();
  if (reason !== null) throw new WireError(reason);
  return { dst: frame.dst.slice(), src: frame.src.slice(), etherType: frame.etherType };
}

/** Writes the 14-byte header at `buf[offset]`; returns its length. */
export function emitEthernetRepr(repr: EthernetRepr, buf: Uint8Array, offset = 0): number {
  ensureRoom(buf, offset, ETHERNET_HEADER_LEN);
  buf.set(repr.dst.subarray(0, MAC_ADDR_LEN), offset + DST);
  buf.set(repr.src.subarray(0, MAC_ADDR_LEN), offset + SRC);
  writeU16(buf, offset + TYPE, repr.etherType);
  return ETHERNET_HEADER_LEN;
}

export function ethernetBufferLength(payloadLength: number): number {
  return ETHERNET_HEADER_LEN + payloadLength;
}
