/**
 * ARP (RFC 826) for IPv4 over Ethernet only: hardware type 1, protocol type 0x0800, address
 * lengths 6 and 4. Anything else is rejected with its reason, so the field offsets are fixed.
 */
import { IPV4_ADDR_LEN, MAC_ADDR_LEN, readIpv4, writeIpv4, type Ipv4Addr } from './addr.js';
import { ensureRoom, readU16, writeU16, PacketView } from './bytes.js';
import { ETHERTYPE_IPV4 } from './ethernet.js';
import { WireError, type DropReason } from './errors.js';

/** ar$hrd for Ethernet (RFC 826; IANA "Hardware Types"). */
export const ARP_HTYPE_ETHERNET = 1;
/** ar$op (RFC 826). RARP's 3 and 4 (RFC 903) have an EtherType of their own. */
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
/** The fixed part: hrd, pro, hln, pln, op. */
export const ARP_HEADER_LEN = 8;
/** 8 + 2 * (6 + 4). Ethernet pads it to 46 bytes of payload; the padding is not ARP's. */
export const ARP_PACKET_LEN = 28;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OP = 6;
/** Offsets of the addresses, fixed because only hln 6 and pln 4 are accepted. */
export const ARP_SENDER_MAC_OFFSET = 8;
export const ARP_SENDER_IP_OFFSET = 14;
export const ARP_TARGET_MAC_OFFSET = 18;
export const ARP_TARGET_IP_OFFSET = 24;

/** A view over an ARP packet at `buf[offset, offset + length)`. Re-point with `reset`. */
export class ArpPacket extends PacketView {
  override check(): DropReason | null {
    return checkArp(this.buf, this.offset, this.length);
  }

  get hardwareType(): number {
    return readU16(this.buf, this.offset + HTYPE);
  }
  set hardwareType(v: number) {
    writeU16(this.buf, this.offset + HTYPE, v);
  }

  get protocolType(): number {
    return readU16(this.buf, this.offset + PTYPE);
  }
  set protocolType(v: number) {
    writeU16(this.buf, this.offset + PTYPE, v);
  }

  get hardwareLength(): number {
    return this.buf[this.offset + HLEN];
  }
  set hardwareLength(v: number) {
    this.buf[this.offset + HLEN] = v;
  }

  get protocolLength(): number {
    return this.buf[this.offset + PLEN];
  }
  set protocolLength(v: number) {
    this.buf[this.offset + PLEN] = v;
  }

  get operation(): number {
    return readU16(this.buf, this.offset + OP);
  }
  set operation(v: number) {
    writeU16(this.buf, this.offset + OP, v);
  }

  /** Sender hardware address (ar$sha), a subarray aliasing the packet. */
  get senderMac(): Uint8Array {
    const o = this.offset + ARP_SENDER_MAC_OFFSET;
    return this.buf.subarray(o, o + MAC_ADDR_LEN);
  }
  set senderMac(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, MAC_ADDR_LEN), this.offset + ARP_SENDER_MAC_OFFSET);
  }

  get senderIp(): Ipv4Addr {
    return readIpv4(this.buf, this.offset + ARP_SENDER_IP_OFFSET);
  }
  set senderIp(a: Ipv4Addr) {
    writeIpv4(this.buf, this.offset + ARP_SENDER_IP_OFFSET, a);
  }

  /** Target hardware address (ar$tha); zero in requests by convention (RFC 5227 2.1.1). */
  get targetMac(): Uint8Array {
    const o = this.offset + ARP_TARGET_MAC_OFFSET;
    return this.buf.subarray(o, o + MAC_ADDR_LEN);
  }
  set targetMac(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, MAC_ADDR_LEN), this.offset + ARP_TARGET_MAC_OFFSET);
  }

  get targetIp(): Ipv4Addr {
    return readIpv4(this.buf, this.offset + ARP_TARGET_IP_OFFSET);
  }
  set targetIp(a: Ipv4Addr) {
    writeIpv4(this.buf, this.offset + ARP_TARGET_IP_OFFSET, a);
  }
}

/**
 * Checks an Ethernet/IPv4 ARP packet in `buf[off, off + len)` (a `len` past the end of `buf`
 * counts only the bytes there). The fixed part is judged before the length of the addresses,
 * whose size it gives (RFC 826 "Packet format").
 */
export function checkArp(buf: Uint8Array, off: number, len: number): DropReason | null {
  if (len > buf.length - off) len = buf.length - off;
  if (len < ARP_HEADER_LEN) return 'arp-truncated';
  if (readU16(buf, off + HTYPE) !== ARP_HTYPE_ETHERNET) return 'arp-bad-hardware';
  if (readU16(buf, off + PTYPE) !== ETHERTYPE_IPV4) return 'arp-bad-protocol';
  if (buf[off + HLEN] !== MAC_ADDR_LEN || buf[off + PLEN] !== IPV4_ADDR_LEN) return 'arp-bad-lengths';
  if (len < ARP_PACKET_LEN) return 'arp-truncated';
  const op = readU16(buf, off + OP);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return 'arp-bad-op';
  return null;
}

export interface ArpRepr {
  operation: 1 | 2;
  senderMac: Uint8Array;
  senderIp: Ipv4Addr;
  targetMac: Uint8Array;
  targetIp: Ipv4Addr;
}

/** The addresses are copied: the repr outlives the packet. */
export function parseArpRepr(packet: ArpPacket): ArpRepr {
  const reason = packet.check();
  if (reason !== null) throw new WireError(reason);
  return {
    operation: packet.operation as 1 | 2,
    senderMac: packet.senderMac.slice(),
    senderIp: packet.senderIp,
    targetMac: packet.targetMac.slice(),
    targetIp: packet.targetIp,
  };
}

/** Writes the 28-byte packet at `buf[offset]`; returns its length. */
export function emitArpRepr(repr: ArpRepr, buf: Uint8Array, offset = 0): number {
  ensureRoom(buf, offset, ARP_PACKET_LEN);
  writeU16(buf, offset + HTYPE, ARP_HTYPE_ETHERNET);
  writeU16(buf, offset + PTYPE, ETHERTYPE_IPV4);
  buf[offset + HLEN] = MAC_ADDR_LEN;
  buf[offset + PLEN] = IPV4_ADDR_LEN;
  writeU16(buf, offset + OP, repr.operation);
  buf.set(repr.senderMac.subarray(0, MAC_ADDR_LEN), offset + ARP_SENDER_MAC_OFFSET);
  writeIpv4(buf, offset + ARP_SENDER_IP_OFFSET, repr.senderIp);
  buf.set(repr.targetMac.subarray(0, MAC_ADDR_LEN), offset + ARP_TARGET_MAC_OFFSET);
  writeIpv4(buf, offset + ARP_TARGET_IP_OFFSET, repr.targetIp);
  return ARP_PACKET_LEN;
}

export function arpBufferLength(_repr?: ArpRepr): number {
  return ARP_PACKET_LEN;
}
