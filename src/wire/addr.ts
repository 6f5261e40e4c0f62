/**
 * Link and network addresses.
 *
 * IPv4 addresses are unsigned 32-bit numbers (always `>>> 0`): comparisons, masks and map keys
 * then cost nothing. MAC addresses are 6-byte `Uint8Array`s; `macEquals` compares one against
 * bytes in a frame without making a view.
 */
import { readU32, writeU32 } from './bytes.js';

export type Ipv4Addr = number;

export const IPV4_ADDR_LEN = 4;
/** 0.0.0.0, "this host on this network" (RFC 1122 3.2.1.3 (a)). */
export const IPV4_UNSPECIFIED: Ipv4Addr = 0;
/** 255.255.255.255, the limited broadcast (RFC 919, RFC 1122 3.2.1.3 (c)). */
export const IPV4_BROADCAST: Ipv4Addr = 0xffffffff;

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parses dotted-quad text. Strict: four decimal octets, no leading zeros (which inet_aton(3)
 * would read as octal), nothing else. Throws a TypeError on anything else.
 */
export function parseIpv4(s: string): Ipv4Addr {
  const parts = s.split('.');
  if (parts.length !== 4) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(s)}`);
  let a = 0;
  for (const p of parts) {
    const n = DECIMAL_OCTET.test(p) ? Number(p) : 256;
    if (n > 255) throw new TypeError(`invalid IPv4 address: ${JSON.stringify(s)}`);
    a = a * 256 + n;
  }
  return a >>> 0;
}

export function formatIpv4(a: Ipv4Addr): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

export function readIpv4(buf: Uint8Array, off: number): Ipv4Addr {
  return readU32(buf, off);
}

export function writeIpv4(buf: Uint8Array, off: number, a: Ipv4Addr): void {
  writeU32(buf, off, a);
}

export interface Ipv4Cidr {
  address: Ipv4Addr;
  prefixLength: number;
}

/** Parses `198.18.0.2/24` (RFC 4632 section 3.1 notation). The host bits are kept. */
export function parseCidr(s: string): Ipv4Cidr {
  const slash = s.indexOf('/');
  const len = slash < 0 ? '' : s.slice(slash + 1);
  if (!/^(0|[1-9][0-9]?)$/.test(len) || Number(len) > 32) {
    throw new TypeError(`invalid IPv4 CIDR: ${JSON.stringify(s)}`);
  }
  return { address: parseIpv4(s.slice(0, slash)), prefixLength: Number(len) };
}

export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.address)}/${c.prefixLength}`;
}

/** The netmask of a prefix length 0..32 (`<< 32` is `<< 0` in JS, hence the special case). */
export function prefixMask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new RangeError(`invalid prefix length: ${prefixLength}`);
  }
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function sameSubnet(a: Ipv4Addr, b: Ipv4Addr, prefixLength: number): boolean {
  return ((a ^ b) & prefixMask(prefixLength)) === 0;
}

/** 224.0.0.0/4, class D (RFC 1112 section 4). */
export function isMulticastIpv4(a: Ipv4Addr): boolean {
  return a >>> 28 === 0xe;
}

/**
 * True for the limited broadcast, a multicast group, and, when the prefix length is given, the
 * directed broadcast of that subnet (host part all ones, RFC 922). A /31 or /32 has no broadcast
 * address (RFC 3021). Datagrams to these must never draw an ICMP error (RFC 1122 3.2.2).
 */
export function isBroadcastOrMulticast(a: Ipv4Addr, prefixLength?: number): boolean {
  if (a >>> 0 === IPV4_BROADCAST || isMulticastIpv4(a)) return true;
  if (prefixLength === undefined || prefixLength > 30) return false;
  const host = ~prefixMask(prefixLength) >>> 0;
  return ((a & host) >>> 0) === host;
}

// ---- MAC addresses (IEEE 802) ----

export const MAC_ADDR_LEN = 6;
/** ff:ff:ff:ff:ff:ff. Shared: never write to it. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** Parses `02:00:5e:10:00:01` (or with `-`), two hex digits per octet. Throws a TypeError. */
export function parseMac(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(s) || s[2] !== s[14]) {
    throw new TypeError(`invalid MAC address: ${JSON.stringify(s)}`);
  }
  const mac = new Uint8Array(MAC_ADDR_LEN);
  for (let i = 0; i < MAC_ADDR_LEN; i++) mac[i] = parseInt(s.slice(i * 3, i * 3 + 2), 16);
  return mac;
}

export function formatMac(buf: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < MAC_ADDR_LEN; i++) {
    if (i > 0) s += ':';
    s += (buf[off + i] ?? 0).toString(16).padStart(2, '0');
  }
  return s;
}

/** Compares the 6 bytes at `buf[off]` with `mac`, without allocating. */
export function macEquals(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  for (let i = 0; i < MAC_ADDR_LEN; i++) if (buf[off + i] !== mac[i]) return false;
  return true;
}

/** The I/G bit, bit 0 of the first octet (IEEE 802-2014 8.2.2). Broadcast is multicast too. */
export function isMulticastMac(buf: Uint8Array, off = 0): boolean {
  return (buf[off] & 0x01) !== 0;
}

export function isBroadcastMac(buf: Uint8Array, off = 0): boolean {
  return macEquals(buf, off, BROADCAST_MAC);
}

/** 00:00:00:00:00:00: no station's address (an ARP request leaves its target so, RFC 826). */
export function isZeroMac(buf: Uint8Array, off = 0): boolean {
  for (let i = 0; i < MAC_ADDR_LEN; i++) if (buf[off + i] !== 0) return false;
  return true;
}

/**
 * A random locally administered unicast address: U/L bit (0x02) set, I/G bit (0x01) clear
 * (IEEE 802-2014 8.2.2), from the caller's randomness.
 */
export function randomLocalMac(random: { fill(buf: Uint8Array): void }): Uint8Array {
  const mac = new Uint8Array(MAC_ADDR_LEN);
  random.fill(mac);
  mac[0] = (mac[0]! & 0xfc) | 0x02;
  return mac;
}
