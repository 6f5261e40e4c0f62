import { describe, it, expect } from 'vitest';
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_ERROR_MAX_QUOTE,
  ICMP_ERROR_MIN_QUOTE,
  ICMP_HEADER_LEN,
  ICMP_PARAMETER_PROBLEM,
  ICMP_TIME_EXCEEDED,
  ICMP_TIMXCEED_INTRANS,
  ICMP_UNREACH_NEEDFRAG,
  ICMP_UNREACH_PORT,
  IcmpPacket,
  checkIcmp,
  checkIcmpQuote,
  emitIcmpEchoReply,
  emitIcmpEchoRepr,
  emitIcmpError,
  icmpEchoBufferLength,
  icmpErrorBufferLength,
  icmpErrorQuoteLength,
  isIcmpError,
  parseIcmpEchoRepr,
  parseIcmpErrorRepr,
  type IcmpEchoRepr,
} from '../../../src/wire/icmp.js';
import { IPPROTO_ICMP, IPV4_MIN_MTU_DATAGRAM, Ipv4Packet, emitIpv4Repr } from '../../../src/wire/ipv4.js';
import { ETHERTYPE_IPV4, EthernetFrame, emitEthernetRepr, parseEthernetRepr } from '../../../src/wire/ethernet.js';
import { parseIpv4 } from '../../../src/wire/addr.js';
import { WireError, type DropReason } from '../../../src/wire/errors.js';
import { ECHO_REPLY_FRAME, ECHO_REQUEST_FRAME, PORT_UNREACHABLE_FRAME, UDP_FRAME, mulberry32, randomBytes, toHex } from './helpers.js';

const ICMP_AT = 14 + 20;
const A = parseIpv4('198.18.7.1');
const B = parseIpv4('198.18.7.2');

function reasonOf(fn: () => unknown): DropReason | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
}

function icmpOf(frame: Uint8Array): IcmpPacket {
  const ip = new Ipv4Packet(frame, 14);
  return new IcmpPacket(frame, ip.payloadOffset, ip.payloadLength);
}

describe('ICMP echo', () => {
  it('reads the captured request', () => {
    const p = icmpOf(ECHO_REQUEST_FRAME);
    expect(p.check()).toBeNull();
    expect(p.verifyChecksum()).toBe(true);
    expect(p.checksum).toBe(0x0163);
    expect(p.dataOffset).toBe(ICMP_AT + 8);
    expect(p.dataLength).toBe(24);
    expect(p.restOfHeader).toBe(0x1c2b0001);
    expect(parseIcmpEchoRepr(p)).toEqual({ type: ICMP_ECHO_REQUEST, code: 0, identifier: 0x1c2b, sequence: 1 });
  });

  it('answers it with the bytes Linux sent, into a new buffer or in place', () => {
    const request = icmpOf(ECHO_REQUEST_FRAME);
    const out = new Uint8Array(3 + request.length);
    expect(emitIcmpEchoReply(request, out, 3)).toBe(32);
    expect(out.subarray(3)).toEqual(ECHO_REPLY_FRAME.subarray(ICMP_AT));

    const frame = ECHO_REQUEST_FRAME.slice();
    const inPlace = icmpOf(frame);
    emitIcmpEchoReply(inPlace, frame, inPlace.offset);
    expect(frame.subarray(ICMP_AT)).toEqual(ECHO_REPLY_FRAME.subarray(ICMP_AT));
    expect(parseIcmpEchoRepr(inPlace)).toEqual({ type: ICMP_ECHO_REPLY, code: 0, identifier: 0x1c2b, sequence: 1 });
  });

  it('answers random requests with replies that verify', () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 100; trial++) {
      const data = randomBytes(rand, (rand() * 200) | 0);
      const repr: IcmpEchoRepr = { type: 8, code: 0, identifier: (rand() * 65536) | 0, sequence: (rand() * 65536) | 0 };
      const req = new Uint8Array(icmpEchoBufferLength(data.length));
      emitIcmpEchoRepr(repr, req, 0, data);
      const reply = new Uint8Array(req.length);
      emitIcmpEchoReply(new IcmpPacket(req), reply);
      const view = new IcmpPacket(reply);
      expect(view.check()).toBeNull();
      expect(parseIcmpEchoRepr(view)).toEqual({ ...repr, type: 0 });
      expect(reply.subarray(8)).toEqual(data);
    }
  });

  it('answers an all-zero request (identifier, sequence and data 0) with checksum 0xffff, not 0', () => {
    // The reply is all zeros but its checksum, which sum to +0: only 0xffff verifies (RFC 1071).
    for (const dataLength of [0, 1, 56]) {
      const req = new Uint8Array(icmpEchoBufferLength(dataLength));
      emitIcmpEchoRepr({ type: 8, code: 0, identifier: 0, sequence: 0 }, req);
      expect(toHex(req.subarray(0, 8))).toBe('0800f7ff00000000');
      for (const inPlace of [false, true]) {
        const reply = inPlace ? req.slice() : new Uint8Array(req.length);
        emitIcmpEchoReply(new IcmpPacket(inPlace ? reply : req), reply);
        expect(toHex(reply.subarray(0, 8))).toBe('0000ffff00000000');
        expect(checkIcmp(reply, 0, reply.length)).toBeNull();
      }
    }
    // A reply whose other words sum to -0 (0xffff), where eqn. 3 also gives 0: 0xffff verifies too.
    const req = new Uint8Array(8);
    emitIcmpEchoRepr({ type: 8, code: 0, identifier: 0xfff0, sequence: 0x000f }, req);
    const reply = new Uint8Array(8);
    emitIcmpEchoReply(new IcmpPacket(req), reply);
    expect(toHex(reply)).toBe('0000fffffff0000f');
    expect(checkIcmp(reply, 0, 8)).toBeNull();
  });

  it('round-trips and rebuilds the captured frames whole', () => {
    const repr = parseIcmpEchoRepr(icmpOf(ECHO_REPLY_FRAME));
    const data = ECHO_REPLY_FRAME.subarray(ICMP_AT + 8);
    const frame = new Uint8Array(ECHO_REPLY_FRAME.length);
    emitEthernetRepr(parseEthernetRepr(new EthernetFrame(ECHO_REPLY_FRAME)), frame);
    emitIpv4Repr({ src: B, dst: A, protocol: IPPROTO_ICMP, ttl: 64, payloadLength: 32, identification: 0xa007 }, frame, 14);
    expect(emitIcmpEchoRepr(repr, frame, ICMP_AT, data)).toBe(32);
    expect(frame).toEqual(ECHO_REPLY_FRAME);
    expect(parseIcmpEchoRepr(new IcmpPacket(frame, ICMP_AT))).toEqual(repr);
    const empty = new Uint8Array(ICMP_HEADER_LEN);
    emitIcmpEchoRepr(repr, empty);
    expect(parseIcmpEchoRepr(new IcmpPacket(empty))).toEqual(repr);
  });

  it('writes through the view', () => {
    const buf = new Uint8Array(12);
    const p = new IcmpPacket(buf);
    p.type = ICMP_ECHO_REQUEST;
    p.identifier = 0x1234;
    p.sequence = 0xfffe;
    expect(p.restOfHeader).toBe(0x1234fffe);
    p.restOfHeader = 0x05dc;
    expect(p.identifier).toBe(0);
    expect(p.sequence).toBe(1500);
    p.fillChecksum();
    expect(p.verifyChecksum()).toBe(true);
  });

  it('refuses to parse other types as echo', () => {
    expect(reasonOf(() => parseIcmpEchoRepr(icmpOf(PORT_UNREACHABLE_FRAME)))).toBe('icmp-not-echo');
  });
});

describe('ICMP checks', () => {
  it('rejects every truncation of the header', () => {
    for (let len = 0; len < ICMP_HEADER_LEN; len++) {
      expect(checkIcmp(ECHO_REQUEST_FRAME, ICMP_AT, len), `len ${len}`).toBe('icmp-truncated');
      const cut = ECHO_REQUEST_FRAME.slice(ICMP_AT, ICMP_AT + len);
      expect(reasonOf(() => parseIcmpEchoRepr(new IcmpPacket(cut)))).toBe('icmp-truncated');
    }
  });

  it('checksums the whole message: a cut or changed one fails', () => {
    for (let len = ICMP_HEADER_LEN; len < 32; len++) {
      expect(checkIcmp(ECHO_REQUEST_FRAME, ICMP_AT, len), `len ${len}`).toBe('icmp-bad-checksum');
    }
    for (let i = 0; i < 32; i++) {
      const f = ECHO_REQUEST_FRAME.slice();
      f[ICMP_AT + i] ^= 0x01;
      expect(checkIcmp(f, ICMP_AT, 32), `byte ${i}`).toBe('icmp-bad-checksum');
      expect(reasonOf(() => parseIcmpEchoRepr(new IcmpPacket(f, ICMP_AT)))).toBe('icmp-bad-checksum');
    }
  });

  it('classifies exactly the RFC 1122 3.2.2 error types as errors', () => {
    const errors: number[] = [];
    for (let t = 0; t < 256; t++) if (isIcmpError(t)) errors.push(t);
    expect(errors).toEqual([3, 4, 5, 11, 12]);
  });
});

describe('ICMP errors', () => {
  const udp = UDP_FRAME.subarray(14);

  it('reads the kernel\'s port unreachable and its quote', () => {
    const p = icmpOf(PORT_UNREACHABLE_FRAME);
    expect(parseIcmpErrorRepr(p)).toEqual({ type: ICMP_DEST_UNREACHABLE, code: ICMP_UNREACH_PORT, restOfHeader: 0 });
    const quoted = new Ipv4Packet(p.buf, p.dataOffset, p.dataLength);
    expect(quoted.src).toBe(A);
    expect(quoted.dst).toBe(B);
    expect(quoted.identification).toBe(0xe61f);
  });

  it('emits the kernel\'s port unreachable byte for byte', () => {
    const len = icmpErrorBufferLength(udp.length);
    expect(len).toBe(50);
    const frame = new Uint8Array(14 + 20 + len);
    emitEthernetRepr({ dst: UDP_FRAME.slice(6, 12), src: UDP_FRAME.slice(0, 6), etherType: ETHERTYPE_IPV4 }, frame);
    emitIpv4Repr({ src: B, dst: A, protocol: IPPROTO_ICMP, ttl: 64, payloadLength: len, identification: 0xa017, dscp: 48 }, frame, 14);
    expect(emitIcmpError({ type: ICMP_DEST_UNREACHABLE, code: ICMP_UNREACH_PORT }, udp, frame, ICMP_AT)).toBe(50);
    expect(frame).toEqual(PORT_UNREACHABLE_FRAME);
  });

  it('round-trips the rest of the header (RFC 1191 next-hop MTU, parameter pointer)', () => {
    for (const repr of [
      { type: ICMP_DEST_UNREACHABLE, code: ICMP_UNREACH_NEEDFRAG, restOfHeader: 1400 },
      { type: ICMP_PARAMETER_PROBLEM, code: 0, restOfHeader: 20 << 24 },
      { type: ICMP_TIME_EXCEEDED, code: ICMP_TIMXCEED_INTRANS, restOfHeader: 0 },
    ] as const) {
      const buf = new Uint8Array(icmpErrorBufferLength(udp.length));
      emitIcmpError(repr, udp, buf);
      expect(parseIcmpErrorRepr(new IcmpPacket(buf))).toEqual(repr);
    }
  });

  it('quotes at most 548 bytes, so the error datagram stays within 576 (RFC 1812 4.3.2.3)', () => {
    const big = new Uint8Array(1500);
    emitIpv4Repr({ src: A, dst: B, protocol: 17, ttl: 64, payloadLength: 1480 }, big);
    expect(icmpErrorQuoteLength(big.length)).toBe(ICMP_ERROR_MAX_QUOTE);
    expect(20 + icmpErrorBufferLength(big.length)).toBe(IPV4_MIN_MTU_DATAGRAM);
    const buf = new Uint8Array(600);
    const n = emitIcmpError({ type: ICMP_DEST_UNREACHABLE, code: ICMP_UNREACH_PORT }, big, buf);
    expect(n).toBe(8 + 548);
    expect(checkIcmp(buf, 0, n)).toBeNull();
    // The RFC 792 minimum: header plus 8 bytes, for any header length.
    expect(icmpErrorQuoteLength(big.length, ICMP_ERROR_MIN_QUOTE)).toBe(68);
    expect(() => icmpErrorQuoteLength(100, ICMP_ERROR_MIN_QUOTE - 1)).toThrow(RangeError);
    expect(() => icmpErrorQuoteLength(100, ICMP_ERROR_MAX_QUOTE + 1)).toThrow(RangeError);
    expect(() => emitIcmpError({ type: 8 as 3, code: 0 }, big, buf)).toThrow(RangeError);
    expect(() => emitIcmpError({ type: 3, code: 0 }, big, new Uint8Array(100))).toThrow(RangeError);
  });

  it('rejects errors that are not errors or whose quote is too short', () => {
    expect(reasonOf(() => parseIcmpErrorRepr(icmpOf(ECHO_REQUEST_FRAME)))).toBe('icmp-not-error');
    for (let q = 0; q < 28; q++) {
      const buf = new Uint8Array(8 + q);
      emitIcmpError({ type: 3, code: 3 }, udp.subarray(0, q).slice(), buf, 0, ICMP_ERROR_MIN_QUOTE);
      expect(reasonOf(() => parseIcmpErrorRepr(new IcmpPacket(buf))), `quote ${q}`).toBe('icmp-bad-quote');
    }
    const notV4 = udp.slice();
    notV4[0] = 0x65;
    expect(checkIcmpQuote(notV4, 0, notV4.length)).toBe('icmp-bad-quote');
    notV4[0] = 0x44;
    expect(checkIcmpQuote(notV4, 0, notV4.length)).toBe('icmp-bad-quote');
    notV4[0] = 0x46; // 24-byte header needs 32 bytes quoted
    expect(checkIcmpQuote(notV4, 0, 31)).toBe('icmp-bad-quote');
    expect(checkIcmpQuote(notV4, 0, 32)).toBeNull();
  });
});
