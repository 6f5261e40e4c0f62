/**
 * DNS messages (RFC 1035 4): the header as a view over bytes, names with compression (RFC 1035
 * 4.1.4) decoded defensively, and a parsed form of questions and resource records with an
 * emitter (queries for the resolver; whole messages for tests' servers, uncompressed).
 *
 * Name decoding refuses what would make a reader loop or wander: a pointer must point before
 * the labels that led to it (so every jump goes strictly backwards and decoding ends); one that
 * points into those labels is a loop, one that points forward or past the message is bad; a
 * name over 255 octets (RFC 1035 2.3.4) and the reserved label types 01 and 10 are refused.
 */
import { readU16, readU32, writeU16, writeU32, PacketView, ensureRoom } from './bytes.js';
import { WireError, type DropReason } from './errors.js';
import type { Ipv4Addr } from './addr.js';

export const DNS_HEADER_LEN = 12;
export const DNS_PORT = 53;
/** RFC 1035 2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
export const DNS_MAX_NAME = 255;
export const DNS_MAX_LABEL = 63;
/** RFC 1035 2.3.4: UDP messages are at most 512 octets (without EDNS, which we do not send). */
export const DNS_UDP_MAX = 512;

export const DnsType = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;
export const DNS_CLASS_IN = 1;

/** RFC 1035 4.1.1 RCODEs. */
export const DnsRcode = { NoError: 0, FormErr: 1, ServFail: 2, NXDomain: 3, NotImp: 4, Refused: 5 } as const;

const QR = 0x8000;
const TC = 0x0200;
const RD = 0x0100;

/** A window over a DNS message's header. */
export class DnsHeader extends PacketView {
  get id(): number {
    return readU16(this.buf, this.offset);
  }
  get flags(): number {
    return readU16(this.buf, this.offset + 2);
  }
  get isResponse(): boolean {
    return (this.flags & QR) !== 0;
  }
  get opcode(): number {
    return (this.flags >>> 11) & 0xf;
  }
  /** TC: the answer did not fit (RFC 1035 4.1.1); ask again over TCP. */
  get truncated(): boolean {
    return (this.flags & TC) !== 0;
  }
  get rcode(): number {
    return this.flags & 0xf;
  }
  get qdcount(): number {
    return readU16(this.buf, this.offset + 4);
  }
  get ancount(): number {
    return readU16(this.buf, this.offset + 6);
  }
  get nscount(): number {
    return readU16(this.buf, this.offset + 8);
  }
  get arcount(): number {
    return readU16(this.buf, this.offset + 10);
  }
  check(): DropReason | null {
    return this.length < DNS_HEADER_LEN || this.offset + this.length > this.buf.length ? 'dns-truncated' : null;
  }
}

/**
 * Decode the name at `msg[pos]` (offsets within `msg`, the whole message). Returns the name in
 * lower case without the final dot ('' for the root) and where the name ends at `pos` (after
 * its first pointer or its terminating zero). Throws {@link WireError}.
 */
export function decodeName(msg: Uint8Array, pos: number): { name: string; end: number } {
  const labels: string[] = [];
  let wireLen = 1; // the root's zero octet
  let end = -1;
  // Labels read since the last jump start here: a pointer must point before it.
  let segmentStart = pos;
  /** [start, end] of each run of labels read, for naming a loop as one. */
  const visited: number[] = [];
  let i = pos;
  for (;;) {
    if (i >= msg.length) throw new WireError('dns-truncated');
    const b = msg[i]!;
    const kind = b & 0xc0;
    if (kind === 0xc0) {
      if (i + 1 >= msg.length) throw new WireError('dns-truncated');
      const target = ((b & 0x3f) << 8) | msg[i + 1]!;
      if (end < 0) end = i + 2;
      visited.push(segmentStart, i + 1);
      if (target >= segmentStart) {
        // Into labels already read (or onto this pointer): decoding would never end.
        for (let v = 0; v < visited.length; v += 2) if (target >= visited[v]! && target <= visited[v + 1]!) throw new WireError('dns-name-loop');
        throw new WireError('dns-bad-pointer');
      }
      segmentStart = target;
      i = target;
      continue;
    }
    if (kind !== 0) throw new WireError('dns-bad-label'); // 01 and 10: reserved (RFC 6891 5)
    if (b === 0) {
      if (end < 0) end = i + 1;
      return { name: labels.join('.'), end };
    }
    wireLen += b + 1;
    if (wireLen > DNS_MAX_NAME) throw new WireError('dns-name-too-long');
    if (i + 1 + b > msg.length) throw new WireError('dns-truncated');
    let label = '';
    for (let k = i + 1; k <= i + b; k++) {
      let c = msg[k]!;
      if (c >= 0x41 && c <= 0x5a) c += 0x20; // names compare case-insensitively (RFC 4343)
      label += c === 0x2e || c < 0x21 || c > 0x7e ? `\\${String(c).padStart(3, '0')}` : String.fromCharCode(c);
    }
    labels.push(label);
    i += 1 + b;
  }
}

/** The labels of `name` (dots between, an optional final dot), checked against RFC 1035 2.3.4. */
export function nameLabels(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  const labels = trimmed.split('.');
  let wire = 1;
  for (const l of labels) {
    if (l.length === 0 || l.length > DNS_MAX_LABEL) throw new RangeError(`invalid DNS name ${JSON.stringify(name)}: a label must be 1..63 octets`);
    if (!/^[\x21-\x7e]+$/.test(l)) throw new RangeError(`invalid DNS name ${JSON.stringify(name)}: printable ASCII only`);
    wire += l.length + 1;
  }
  if (wire > DNS_MAX_NAME) throw new RangeError(`invalid DNS name ${JSON.stringify(name)}: over 255 octets`);
  return labels;
}

/** Write `name` uncompressed at `buf[off]`; returns the offset after it. */
export function encodeName(name: string, buf: Uint8Array, off: number): number {
  let i = off;
  for (const l of nameLabels(name)) {
    ensureRoom(buf, i, l.length + 2);
    buf[i++] = l.length;
    for (let k = 0; k < l.length; k++) buf[i++] = l.charCodeAt(k);
  }
  ensureRoom(buf, i, 1);
  buf[i++] = 0;
  return i;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** The RDATA as sent. */
  data: Uint8Array;
  /** A: the address; AAAA: the 16 bytes; CNAME/NS/PTR: the name; SOA: its MINIMUM (RFC 2308 4). */
  address?: Ipv4Addr;
  address6?: Uint8Array;
  target?: string;
  soaMinimum?: number;
}

export interface DnsMessage {
  id: number;
  flags: number;
  response: boolean;
  opcode: number;
  truncated: boolean;
  recursionDesired: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authority: DnsRecord[];
  additional: DnsRecord[];
}

function parseRecord(msg: Uint8Array, pos: number): { rr: DnsRecord; end: number } {
  const { name, end: nameEnd } = decodeName(msg, pos);
  if (nameEnd + 10 > msg.length) throw new WireError('dns-truncated');
  const type = readU16(msg, nameEnd);
  const klass = readU16(msg, nameEnd + 2);
  const ttl = readU32(msg, nameEnd + 4);
  const rdlen = readU16(msg, nameEnd + 8);
  const at = nameEnd + 10;
  if (at + rdlen > msg.length) throw new WireError('dns-truncated');
  // RFC 2181 8: a TTL with the top bit set is taken as zero.
  const rr: DnsRecord = { name, type, class: klass, ttl: ttl > 0x7fffffff ? 0 : ttl, data: msg.slice(at, at + rdlen) };
  if (klass === DNS_CLASS_IN) {
    if (type === DnsType.A) {
      if (rdlen !== 4) throw new WireError('dns-bad-rdata');
      rr.address = readU32(msg, at);
    } else if (type === DnsType.AAAA) {
      if (rdlen !== 16) throw new WireError('dns-bad-rdata');
      rr.address6 = msg.slice(at, at + 16);
    }
  }
  if (type === DnsType.CNAME || type === DnsType.NS || type === DnsType.PTR) {
    const t = decodeName(msg, at);
    if (t.end !== at + rdlen) throw new WireError('dns-bad-rdata');
    rr.target = t.name;
  } else if (type === DnsType.SOA) {
    const mname = decodeName(msg, at);
    const rname = decodeName(msg, mname.end);
    if (rname.end + 20 !== at + rdlen) throw new WireError('dns-bad-rdata');
    rr.soaMinimum = readU32(msg, rname.end + 16);
  }
  return { rr, end: at + rdlen };
}

/** Parse a whole message (`msg` is exactly the message: pointers are offsets into it). */
export function parseDnsMessage(msg: Uint8Array): DnsMessage {
  const h = new DnsHeader(msg);
  const reason = h.check();
  if (reason !== null) throw new WireError(reason);
  const flags = h.flags;
  const out: DnsMessage = {
    id: h.id,
    flags,
    response: h.isResponse,
    opcode: h.opcode,
    truncated: h.truncated,
    recursionDesired: (flags & RD) !== 0,
    rcode: h.rcode,
    questions: [],
    answers: [],
    authority: [],
    additional: [],
  };
  let pos = DNS_HEADER_LEN;
  for (let q = 0; q < h.qdcount; q++) {
    const { name, end } = decodeName(msg, pos);
    if (end + 4 > msg.length) throw new WireError('dns-truncated');
    out.questions.push({ name, type: readU16(msg, end), class: readU16(msg, end + 2) });
    pos = end + 4;
  }
  // A truncated answer (TC) may stop anywhere after the question: what is missing is not an error.
  const sections: [DnsRecord[], number][] = [
    [out.answers, h.ancount],
    [out.authority, h.nscount],
    [out.additional, h.arcount],
  ];
  for (const [list, count] of sections) {
    for (let k = 0; k < count; k++) {
      if (out.truncated && pos >= msg.length) return out;
      const { rr, end } = parseRecord(msg, pos);
      list.push(rr);
      pos = end;
    }
  }
  return out;
}

/** Write a standard query (RD set, one question) for `name` of `type`; returns its length. */
export function emitDnsQuery(id: number, name: string, type: number, buf: Uint8Array, off = 0): number {
  ensureRoom(buf, off, DNS_HEADER_LEN);
  buf.fill(0, off, off + DNS_HEADER_LEN);
  writeU16(buf, off, id);
  writeU16(buf, off + 2, RD);
  writeU16(buf, off + 4, 1);
  const end = encodeName(name, buf, off + DNS_HEADER_LEN);
  ensureRoom(buf, end, 4);
  writeU16(buf, end, type);
  writeU16(buf, end + 2, DNS_CLASS_IN);
  return end + 4 - off;
}

/** A whole message, uncompressed (tests' servers; records' `data` written as given). */
export function emitDnsMessage(m: Pick<DnsMessage, 'id' | 'flags' | 'questions' | 'answers'> & Partial<Pick<DnsMessage, 'authority' | 'additional'>>): Uint8Array {
  const buf = new Uint8Array(65535);
  writeU16(buf, 0, m.id);
  writeU16(buf, 2, m.flags);
  const authority = m.authority ?? [];
  const additional = m.additional ?? [];
  writeU16(buf, 4, m.questions.length);
  writeU16(buf, 6, m.answers.length);
  writeU16(buf, 8, authority.length);
  writeU16(buf, 10, additional.length);
  let i = DNS_HEADER_LEN;
  for (const q of m.questions) {
    i = encodeName(q.name, buf, i);
    writeU16(buf, i, q.type);
    writeU16(buf, i + 2, q.class);
    i += 4;
  }
  for (const rr of [...m.answers, ...authority, ...additional]) {
    i = encodeName(rr.name, buf, i);
    writeU16(buf, i, rr.type);
    writeU16(buf, i + 2, rr.class);
    writeU32(buf, i + 4, rr.ttl);
    writeU16(buf, i + 8, rr.data.length);
    buf.set(rr.data, i + 10);
    i += 10 + rr.data.length;
  }
  return buf.slice(0, i);
}

/** The flags of a response: QR, RD and RA set, and `rcode`; TC when `truncated`. */
export function responseFlags(rcode: number, truncated = false): number {
  return QR | RD | 0x0080 | (truncated ? TC : 0) | (rcode & 0xf);
}
