/**
 * DHCPv4 messages (RFC 2131 2, RFC 2132): the BOOTP fixed part (RFC 951), the magic cookie and
 * the options, as a view over bytes with a checker, and a parsed form (`DhcpRepr`) with its
 * emitter. Option overload (option 52, RFC 2132 9.3) is honoured when reading: the `file` and
 * `sname` fields then carry options too. Options that appear more than once are concatenated
 * (RFC 3396 7). Never emitted: overload and long options (nothing we send needs them).
 */
import { readU16, readU32, writeU16, writeU32, PacketView, ensureRoom } from './bytes.js';
import { WireError, type DropReason } from './errors.js';
import type { Ipv4Addr } from './addr.js';

/** RFC 2131 2: the fixed part, up to and including `file`. */
export const DHCP_FIXED_LEN = 236;
/** The magic cookie 99.130.83.99 (RFC 2131 3, RFC 2132 2). */
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** Fixed part plus cookie: where options begin. */
export const DHCP_OPTIONS_OFFSET = DHCP_FIXED_LEN + 4;
/** RFC 1542 2.1: relay agents may drop BOOTP messages shorter than 300 octets; we pad to it. */
export const DHCP_MIN_LEN = 300;
/** RFC 2131 2: the server's port, and the client's. */
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
/** htype for Ethernet (RFC 1700 "ARP hardware types"). */
export const HTYPE_ETHERNET = 1;
/** RFC 2131 2: the flags field's broadcast bit. */
export const DHCP_FLAG_BROADCAST = 0x8000;

const SNAME_OFFSET = 44;
const SNAME_LEN = 64;
const FILE_OFFSET = 108;
const FILE_LEN = 128;
const CHADDR_OFFSET = 28;

/** Option codes used here (RFC 2132). */
export const DhcpOption = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  HostName: 12,
  RequestedAddress: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  ClientId: 61,
  End: 255,
} as const;

/** Option 53's values (RFC 2132 9.6). */
export const DhcpMessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;
export type DhcpMessageTypeValue = (typeof DhcpMessageType)[keyof typeof DhcpMessageType];

/** A window over one DHCP message (UDP payload). Fields read on demand; nothing allocated. */
export class DhcpPacket extends PacketView {
  get op(): number {
    return this.buf[this.offset]!;
  }
  get htype(): number {
    return this.buf[this.offset + 1]!;
  }
  get hlen(): number {
    return this.buf[this.offset + 2]!;
  }
  get xid(): number {
    return readU32(this.buf, this.offset + 4);
  }
  get secs(): number {
    return readU16(this.buf, this.offset + 8);
  }
  get flags(): number {
    return readU16(this.buf, this.offset + 10);
  }
  get ciaddr(): Ipv4Addr {
    return readU32(this.buf, this.offset + 12);
  }
  get yiaddr(): Ipv4Addr {
    return readU32(this.buf, this.offset + 16);
  }
  get siaddr(): Ipv4Addr {
    return readU32(this.buf, this.offset + 20);
  }
  get giaddr(): Ipv4Addr {
    return readU32(this.buf, this.offset + 24);
  }
  /** The client hardware address field (16 bytes; `hlen` of them used). */
  get chaddr(): Uint8Array {
    return this.buf.subarray(this.offset + CHADDR_OFFSET, this.offset + CHADDR_OFFSET + 16);
  }
  get cookie(): number {
    return readU32(this.buf, this.offset + DHCP_FIXED_LEN);
  }
  check(): DropReason | null {
    return checkDhcp(this.buf, this.offset, this.length);
  }
}

/**
 * Walk one options area `[start, end)`: call `visit(code, valueStart, valueLen)` per option.
 * Returns whether an End option closed it (RFC 2131 4.1: options MUST end with End), or a drop
 * reason when an option's length runs past the area.
 */
function walkOptions(buf: Uint8Array, start: number, end: number, visit: ((code: number, at: number, len: number) => void) | null): DropReason | 'end' | 'no-end' {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === DhcpOption.Pad) {
      i++;
      continue;
    }
    if (code === DhcpOption.End) return 'end';
    if (i + 1 >= end) return 'dhcp-options-truncated';
    const len = buf[i + 1]!;
    if (i + 2 + len > end) return 'dhcp-options-truncated';
    visit?.(code, i + 2, len);
    i += 2 + len;
  }
  return 'no-end';
}

/** The overload option's value in the main options area, or 0 (RFC 2132 9.3: 1 file, 2 sname, 3 both). */
function overloadOf(buf: Uint8Array, off: number, len: number): number {
  let overload = 0;
  walkOptions(buf, off + DHCP_OPTIONS_OFFSET, off + len, (code, at, n) => {
    if (code === DhcpOption.Overload && n === 1) overload = buf[at]!;
  });
  return overload;
}

/** The option areas of a message in RFC 2131 4.1's order: options, then file, then sname. */
function optionAreas(buf: Uint8Array, off: number, len: number): [number, number][] {
  const areas: [number, number][] = [[off + DHCP_OPTIONS_OFFSET, off + len]];
  const overload = overloadOf(buf, off, len);
  if (overload & 1) areas.push([off + FILE_OFFSET, off + FILE_OFFSET + FILE_LEN]);
  if (overload & 2) areas.push([off + SNAME_OFFSET, off + SNAME_OFFSET + SNAME_LEN]);
  return areas;
}

/**
 * Why `buf[off, off + len)` is not a well-formed DHCP message, or null: shorter than the fixed
 * part and cookie, no magic cookie, or options whose lengths run past their area or that never
 * end (RFC 2131 4.1: the options field MUST be terminated by End; each overloaded field too).
 */
export function checkDhcp(buf: Uint8Array, off: number, len: number): DropReason | null {
  if (len < DHCP_OPTIONS_OFFSET || off + len > buf.length) return 'dhcp-truncated';
  if (readU32(buf, off + DHCP_FIXED_LEN) !== DHCP_MAGIC_COOKIE) return 'dhcp-bad-cookie';
  if (buf[off + 1] !== HTYPE_ETHERNET || buf[off + 2] !== 6) return 'dhcp-bad-hardware';
  for (const [start, end] of optionAreas(buf, off, len)) {
    const r = walkOptions(buf, start, end, null);
    if (r === 'no-end') return 'dhcp-options-truncated';
    if (r !== 'end') return r;
  }
  return null;
}

/** A DHCP message's fields, options keyed by code (values concatenated per RFC 3396). */
export interface DhcpRepr {
  op: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: Ipv4Addr;
  yiaddr: Ipv4Addr;
  siaddr: Ipv4Addr;
  giaddr: Ipv4Addr;
  /** The client's 6-byte MAC (htype Ethernet). */
  chaddr: Uint8Array;
  options: Map<number, Uint8Array>;
}

/** Parse a checked message; throws {@link WireError} for what {@link checkDhcp} rejects. */
export function parseDhcpRepr(buf: Uint8Array, off = 0, len = buf.length - off): DhcpRepr {
  const reason = checkDhcp(buf, off, len);
  if (reason !== null) throw new WireError(reason);
  const p = new DhcpPacket(buf, off, len);
  const options = new Map<number, Uint8Array>();
  for (const [start, end] of optionAreas(buf, off, len)) {
    walkOptions(buf, start, end, (code, at, n) => {
      const prev = options.get(code);
      const value = buf.slice(at, at + n);
      if (!prev) options.set(code, value);
      else {
        const joined = new Uint8Array(prev.length + n);
        joined.set(prev);
        joined.set(value, prev.length);
        options.set(code, joined);
      }
    });
  }
  return {
    op: p.op,
    xid: p.xid,
    secs: p.secs,
    flags: p.flags,
    ciaddr: p.ciaddr,
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
    giaddr: p.giaddr,
    chaddr: p.chaddr.slice(0, 6),
    options,
  };
}

/** Bytes {@link emitDhcpRepr} writes for `r`: fixed part, cookie, options, End, padded to 300. */
export function dhcpReprLength(r: DhcpRepr): number {
  let n = DHCP_OPTIONS_OFFSET + 1;
  for (const v of r.options.values()) n += 2 + v.length;
  return Math.max(n, DHCP_MIN_LEN);
}

/** Write `r` at `buf[off]`; returns the length. Options of more than 255 bytes are refused. */
export function emitDhcpRepr(r: DhcpRepr, buf: Uint8Array, off = 0): number {
  const len = dhcpReprLength(r);
  ensureRoom(buf, off, len);
  buf.fill(0, off, off + len);
  buf[off] = r.op;
  buf[off + 1] = HTYPE_ETHERNET;
  buf[off + 2] = 6;
  writeU32(buf, off + 4, r.xid);
  writeU16(buf, off + 8, r.secs);
  writeU16(buf, off + 10, r.flags);
  writeU32(buf, off + 12, r.ciaddr);
  writeU32(buf, off + 16, r.yiaddr);
  writeU32(buf, off + 20, r.siaddr);
  writeU32(buf, off + 24, r.giaddr);
  buf.set(r.chaddr.subarray(0, 6), off + CHADDR_OFFSET);
  writeU32(buf, off + DHCP_FIXED_LEN, DHCP_MAGIC_COOKIE);
  let i = off + DHCP_OPTIONS_OFFSET;
  for (const [code, v] of r.options) {
    if (v.length > 255) throw new RangeError(`DHCP option ${code} is ${v.length} bytes (at most 255)`);
    buf[i] = code;
    buf[i + 1] = v.length;
    buf.set(v, i + 2);
    i += 2 + v.length;
  }
  buf[i] = DhcpOption.End;
  return len;
}

// ---- option values ----

/** An option holding one address (RFC 2132 3.3, 9.7, ...), or null when absent or malformed. */
export function optionAddress(o: Map<number, Uint8Array>, code: number): Ipv4Addr | null {
  const v = o.get(code);
  return v && v.length === 4 ? readU32(v, 0) : null;
}

/** An option holding a list of addresses (routers, DNS servers: RFC 2132 3.5, 3.8). */
export function optionAddresses(o: Map<number, Uint8Array>, code: number): Ipv4Addr[] {
  const v = o.get(code);
  if (!v || v.length === 0 || v.length % 4 !== 0) return [];
  const out: Ipv4Addr[] = [];
  for (let i = 0; i < v.length; i += 4) out.push(readU32(v, i));
  return out;
}

/** A 32-bit unsigned option (lease, T1, T2: RFC 2132 9.2, 9.11, 9.12), or null. */
export function optionU32(o: Map<number, Uint8Array>, code: number): number | null {
  const v = o.get(code);
  return v && v.length === 4 ? readU32(v, 0) : null;
}

/** Option 53, or null when absent or not one byte. */
export function optionMessageType(o: Map<number, Uint8Array>): number | null {
  const v = o.get(DhcpOption.MessageType);
  return v && v.length === 1 ? v[0]! : null;
}

export function u32Option(v: number): Uint8Array {
  const b = new Uint8Array(4);
  writeU32(b, 0, v);
  return b;
}
