/**
 * Property tests (fast-check) for the wire views, checkers and parsers that take peer input:
 * Ethernet, ARP, IPv4 with options, ICMP echo and errors, TCP with options, UDP. For every input a
 * checker answers null or a reason of its own protocol and never throws; a parser throws only
 * WireError, exactly when its checker names a reason; what is accepted satisfies what the layers
 * above rely on; random reprs round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArpPacket, checkArp, emitArpRepr, parseArpRepr, type ArpRepr } from '../../../src/wire/arp.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { EthernetFrame, checkEthernet, emitEthernetRepr, parseEthernetRepr } from '../../../src/wire/ethernet.js';
import {
  ICMP_ERROR_MAX_QUOTE,
  ICMP_ERROR_MIN_QUOTE,
  IcmpPacket,
  checkIcmp,
  checkIcmpQuote,
  emitIcmpEchoReply,
  emitIcmpEchoRepr,
  emitIcmpError,
  icmpErrorQuoteLength,
  parseIcmpEchoRepr,
  parseIcmpErrorRepr,
  type IcmpErrorType,
} from '../../../src/wire/icmp.js';
import { Ipv4Packet, checkIpv4, emitIpv4Repr, parseIpv4Repr, type Ipv4Repr } from '../../../src/wire/ipv4.js';
import { TcpOptions, TcpSegment, checkTcp, checkTcpHeader, emitTcpHeader, parseTcpOptions, tcpOptionsLength } from '../../../src/wire/tcp.js';
import { UdpHeader, checkUdp, emitUdpHeader } from '../../../src/wire/udp.js';
import {
  ARP_REPLY_FRAME,
  ARP_REQUEST_FRAME,
  ECHO_REPLY_FRAME,
  ECHO_REQUEST_FRAME,
  PORT_UNREACHABLE_FRAME,
  UDP_FRAME,
} from '../wire/helpers.js';
import {
  RUNS,
  run,
  hostile,
  ipv4Options,
  edgy16,
  edgyData,
  mac,
  parseOutcome,
  tcpHeaderFields,
  tcpHeaderOptions,
  tcpSegmentBytes,
  u16,
  u32,
  u8,
  windowed,
  type Ipv4OptionsCase,
} from './arbitraries.js';

const ETH = 14;
// ---- Ethernet ----

describe('Ethernet', () => {
  const frames = fc.constantFrom(ARP_REQUEST_FRAME, ARP_REPLY_FRAME, ECHO_REQUEST_FRAME, UDP_FRAME);

  it('checker and parser agree on any bytes; an accepted header lies in the buffer', () => {
    run(
      fc.property(hostile(frames, 40), ({ buf, off, len }) => {
        const reason = checkEthernet(buf, off, len);
        expect([null, 'eth-truncated']).toContain(reason);
        const view = new EthernetFrame(buf, off, len);
        expect(parseOutcome(() => parseEthernetRepr(view))).toBe(reason);
        if (reason !== null) return;
        expect(len).toBeGreaterThanOrEqual(ETH);
        expect(off + ETH).toBeLessThanOrEqual(buf.length);
        expect(view.payloadOffset).toBe(off + ETH);
        expect(view.payloadLength).toBeGreaterThanOrEqual(0);
        expect(view.dst.length).toBe(6);
        expect(view.src.length).toBe(6);
      }),
    );
  });

  it('random reprs round-trip, and emitting writes its 14 bytes and nothing else', () => {
    run(
      fc.property(
        fc.record({ dst: mac, src: mac, etherType: u16 }),
        fc.nat({ max: 32 }),
        fc.nat({ max: 48 }),
        (repr, offset, size) => {
          const buf = new Uint8Array(size).fill(0xa5);
          if (offset + ETH > size) {
            expect(() => emitEthernetRepr(repr, buf, offset)).toThrow(RangeError);
            expect(buf.every((b) => b === 0xa5)).toBe(true);
            return;
          }
          expect(emitEthernetRepr(repr, buf, offset)).toBe(ETH);
          expect(parseEthernetRepr(new EthernetFrame(buf, offset))).toEqual(repr);
          expect(buf.subarray(0, offset).every((b) => b === 0xa5)).toBe(true);
          expect(buf.subarray(offset + ETH).every((b) => b === 0xa5)).toBe(true);
        },
      ),
    );
  });
});

// ---- ARP ----

const arpRepr: fc.Arbitrary<ArpRepr> = fc.record({
  operation: fc.constantFrom(1 as const, 2 as const),
  senderMac: mac,
  senderIp: u32,
  targetMac: mac,
  targetIp: u32,
});

const arpPacket = fc.oneof(
  fc.constantFrom(ARP_REQUEST_FRAME.subarray(ETH), ARP_REPLY_FRAME.subarray(ETH)),
  fc.tuple(arpRepr, fc.uint8Array({ maxLength: 18 })).map(([r, pad]) => {
    // Ethernet pads ARP to 46 bytes; the padding is not ARP's.
    const b = new Uint8Array(28 + pad.length);
    emitArpRepr(r, b);
    b.set(pad, 28);
    return b;
  }),
);

describe('ARP', () => {
  it('checker and parser agree on any bytes; what is accepted is Ethernet/IPv4 ARP in the buffer', () => {
    run(
      fc.property(hostile(arpPacket, 40), ({ buf, off, len }) => {
        const reason = checkArp(buf, off, len);
        expect(reason === null || reason.startsWith('arp-')).toBe(true);
        const view = new ArpPacket(buf, off, len);
        expect(parseOutcome(() => parseArpRepr(view))).toBe(reason);
        if (reason !== null) return;
        expect(off + 28).toBeLessThanOrEqual(buf.length);
        expect(view.hardwareType).toBe(1);
        expect(view.protocolType).toBe(0x0800);
        expect([view.hardwareLength, view.protocolLength]).toEqual([6, 4]);
        expect([1, 2]).toContain(view.operation);
        // The repr re-emits to the same 28 bytes.
        const again = new Uint8Array(28);
        emitArpRepr(parseArpRepr(view), again);
        expect(again).toEqual(buf.slice(off, off + 28));
      }),
    );
  });

  it('random reprs round-trip', () => {
    run(
      fc.property(arpRepr, (repr) => {
        const b = new Uint8Array(28);
        emitArpRepr(repr, b);
        expect(checkArp(b, 0, 28)).toBeNull();
        expect(parseArpRepr(new ArpPacket(b))).toEqual(repr);
      }),
    );
  });
});

// ---- IPv4 ----

const ipv4Repr: fc.Arbitrary<Ipv4Repr> = fc.record({
  src: u32,
  dst: u32,
  protocol: u8,
  ttl: u8,
  payloadLength: fc.nat({ max: 64 }),
  identification: u16,
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.nat({ max: 8191 }).map((x) => x * 8),
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
});

/** A datagram with the options of `opts` after a 20-byte header from `repr`, checksum filled. */
function ipv4WithOptions(repr: Ipv4Repr, opts: Ipv4OptionsCase, payload: Uint8Array): Uint8Array {
  const hl = 20 + opts.bytes.length;
  const b = new Uint8Array(hl + payload.length);
  emitIpv4Repr({ ...repr, payloadLength: 0 }, b);
  b[0] = 0x40 | (hl >>> 2);
  b[2] = (hl + payload.length) >>> 8;
  b[3] = (hl + payload.length) & 0xff;
  b.set(opts.bytes, 20);
  b.set(payload, hl);
  b[10] = b[11] = 0;
  const c = internetChecksum(b, 0, hl);
  b[10] = c >>> 8;
  b[11] = c & 0xff;
  return b;
}

const ipv4Case = fc
  .tuple(ipv4Repr, ipv4Options, fc.uint8Array({ maxLength: 64 }))
  .map(([repr, opts, payload]) => ({ repr, opts, payload, bytes: ipv4WithOptions(repr, opts, payload) }));

/**
 * RFC 791 3.1 "Options", walked independently of `ipv4.ts`: EOL ends the list, NOP is one
 * octet, any other option has a length octet >= 2 that keeps it within the header.
 */
function referenceOptionsWellFormed(opts: Uint8Array): boolean {
  for (let i = 0; i < opts.length; ) {
    const type = opts[i]!;
    if (type === 0) return true;
    if (type === 1) {
      i++;
      continue;
    }
    const len = opts[i + 1];
    if (len === undefined || len < 2 || i + len > opts.length) return false;
    i += len;
  }
  return true;
}

/** The invariants the interface relies on for an accepted datagram. */
function expectAcceptedIpv4(view: Ipv4Packet, buf: Uint8Array, off: number, len: number): void {
  expect(view.version).toBe(4);
  expect(view.headerLength).toBeGreaterThanOrEqual(20);
  expect(view.headerLength).toBeLessThanOrEqual(60);
  expect(off + view.headerLength).toBeLessThanOrEqual(buf.length);
  expect(view.totalLength).toBeGreaterThanOrEqual(view.headerLength);
  expect(view.totalLength).toBeLessThanOrEqual(len);
  expect(view.payloadLength).toBeGreaterThanOrEqual(0);
  expect(view.verifyChecksum()).toBe(true);
  expect(referenceOptionsWellFormed(buf.subarray(off + 20, off + view.headerLength))).toBe(true);
}

describe('IPv4 with options', () => {
  it('well-formed option lists are accepted, malformed ones rejected as ipv4-bad-options', () => {
    run(
      fc.property(ipv4Case, ({ repr, opts, payload, bytes }) => {
        const reason = checkIpv4(bytes, 0, bytes.length);
        expect(reason).toBe(opts.wellFormed ? null : 'ipv4-bad-options');
        expect(referenceOptionsWellFormed(opts.bytes)).toBe(opts.wellFormed);
        const view = new Ipv4Packet(bytes);
        expect(parseOutcome(() => parseIpv4Repr(view))).toBe(reason);
        if (reason !== null) return;
        expectAcceptedIpv4(view, bytes, 0, bytes.length);
        // Options are skipped, not represented: the repr is the header's, the payload after them.
        expect(view.payloadOffset).toBe(20 + opts.bytes.length);
        expect(parseIpv4Repr(view)).toEqual({ ...repr, payloadLength: payload.length });
      }),
    );
  });

  it('random and mutated datagrams: checker and parser agree, accepted ones satisfy the invariants', () => {
    const valid = fc.oneof(
      { weight: 3, arbitrary: ipv4Case.map((c) => c.bytes) },
      { weight: 1, arbitrary: fc.constantFrom(...[ECHO_REQUEST_FRAME, ECHO_REPLY_FRAME, UDP_FRAME, PORT_UNREACHABLE_FRAME].map((f) => f.subarray(ETH))) },
    );
    let accepted = 0;
    run(
      fc.property(hostile(valid), ({ buf, off, len }) => {
        const reason = checkIpv4(buf, off, len);
        expect(reason === null || reason.startsWith('ipv4-')).toBe(true);
        const view = new Ipv4Packet(buf, off, len);
        expect(parseOutcome(() => parseIpv4Repr(view))).toBe(reason);
        if (reason !== null) return;
        accepted++;
        expectAcceptedIpv4(view, buf, off, len);
        const repr = parseIpv4Repr(view);
        const again = new Uint8Array(20 + repr.payloadLength);
        emitIpv4Repr(repr, again);
        expect(parseIpv4Repr(new Ipv4Packet(again))).toEqual(repr);
      }),
      2 * RUNS,
    );
    expect(accepted).toBeGreaterThan(RUNS / 20); // the mutations do not reject everything
  });

  it('option bytes mutated under a fixed-up checksum: bad options exactly when the RFC 791 walk says so', () => {
    run(
      fc.property(
        ipv4Case.filter((c) => c.opts.bytes.length > 0),
        fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 4 }),
        ({ bytes }, muts) => {
          const hl = (bytes[0]! & 0x0f) << 2;
          for (const [at, v] of muts) bytes[20 + (at % (hl - 20))] = v;
          bytes[10] = bytes[11] = 0;
          const c = internetChecksum(bytes, 0, hl);
          bytes[10] = c >>> 8;
          bytes[11] = c & 0xff;
          const wellFormed = referenceOptionsWellFormed(bytes.subarray(20, hl));
          expect(checkIpv4(bytes, 0, bytes.length)).toBe(wellFormed ? null : 'ipv4-bad-options');
        },
      ),
    );
  });

  it('random reprs round-trip', () => {
    run(
      fc.property(ipv4Repr, (repr) => {
        const b = new Uint8Array(20 + repr.payloadLength);
        emitIpv4Repr(repr, b);
        expect(checkIpv4(b, 0, b.length)).toBeNull();
        expect(parseIpv4Repr(new Ipv4Packet(b))).toEqual(repr);
      }),
    );
  });
});

// ---- ICMP ----

const echoCase = fc.record({
  type: fc.constantFrom(0 as const, 8 as const),
  code: u8,
  identifier: edgy16,
  sequence: edgy16,
  data: edgyData(64),
});

const ICMP_ERROR_TYPES: IcmpErrorType[] = [3, 4, 5, 11, 12];

/** A datagram to quote: an IPv4 header with options and some data (possibly under 8 bytes). */
const quotedDatagram = fc
  .tuple(ipv4Repr, ipv4Options.filter((o) => o.wellFormed), fc.uint8Array({ maxLength: 600 }))
  .map(([repr, opts, payload]) => ipv4WithOptions(repr, opts, payload));

const errorCase = fc.record({
  type: fc.constantFrom(...ICMP_ERROR_TYPES),
  code: u8,
  restOfHeader: u32,
  original: quotedDatagram,
  maxQuote: fc.integer({ min: ICMP_ERROR_MIN_QUOTE, max: ICMP_ERROR_MAX_QUOTE }),
});

describe('ICMP', () => {
  it('echo reprs with data round-trip', () => {
    run(
      fc.property(echoCase, ({ data, ...repr }) => {
        const b = new Uint8Array(8 + data.length);
        emitIcmpEchoRepr(repr, b, 0, data);
        expect(checkIcmp(b, 0, b.length)).toBeNull();
        expect(parseIcmpEchoRepr(new IcmpPacket(b))).toEqual(repr);
        expect(b.subarray(8)).toEqual(data);
      }),
    );
  });

  it('the reply to any echo request verifies and carries its identifier, sequence and data (RFC 1122 3.2.2.6)', () => {
    run(
      fc.property(echoCase, fc.boolean(), ({ data, ...repr }, inPlace) => {
        const req = new Uint8Array(8 + data.length);
        emitIcmpEchoRepr({ ...repr, type: 8 }, req, 0, data);
        const out = inPlace ? req : new Uint8Array(req.length);
        expect(emitIcmpEchoReply(new IcmpPacket(req), out)).toBe(req.length);
        expect(checkIcmp(out, 0, out.length)).toBeNull();
        expect(parseIcmpEchoRepr(new IcmpPacket(out))).toEqual({
          type: 0,
          code: 0,
          identifier: repr.identifier,
          sequence: repr.sequence,
        });
        expect(out.subarray(8)).toEqual(data);
      }),
    );
  });

  it('errors quote the datagram and parse back; a quote short of header + 8 bytes is icmp-bad-quote', () => {
    run(
      fc.property(errorCase, ({ original, maxQuote, ...repr }) => {
        const b = new Uint8Array(8 + icmpErrorQuoteLength(original.length, maxQuote));
        expect(emitIcmpError(repr, original, b, 0, maxQuote)).toBe(b.length);
        expect(b.length - 8).toBeLessThanOrEqual(maxQuote);
        expect(checkIcmp(b, 0, b.length)).toBeNull();
        expect(b.subarray(8)).toEqual(original.subarray(0, b.length - 8));
        const hl = (original[0]! & 0x0f) << 2;
        const view = new IcmpPacket(b);
        if (hl + 8 <= b.length - 8) {
          expect(parseIcmpErrorRepr(view)).toEqual(repr);
        } else {
          expect(parseOutcome(() => parseIcmpErrorRepr(view))).toBe('icmp-bad-quote');
        }
      }),
    );
  });

  it('random and mutated messages: checkers and parsers agree; what is accepted lies in the buffer', () => {
    const valid = fc.oneof(
      echoCase.map(({ data, ...repr }) => {
        const b = new Uint8Array(8 + data.length);
        emitIcmpEchoRepr(repr, b, 0, data);
        return b;
      }),
      errorCase.map(({ original, maxQuote, ...repr }) => {
        const b = new Uint8Array(8 + icmpErrorQuoteLength(original.length, maxQuote));
        emitIcmpError(repr, original, b, 0, maxQuote);
        return b;
      }),
      fc.constantFrom(...[ECHO_REQUEST_FRAME, ECHO_REPLY_FRAME, PORT_UNREACHABLE_FRAME].map((f) => f.subarray(ETH + 20))),
    );
    run(
      fc.property(hostile(valid), ({ buf, off, len }) => {
        const reason = checkIcmp(buf, off, len);
        expect(reason === null || reason === 'icmp-truncated' || reason === 'icmp-bad-checksum').toBe(true);
        const quote = checkIcmpQuote(buf, off, len);
        expect(quote === null || quote === 'icmp-bad-quote').toBe(true);
        if (quote === null) {
          // The quoted header and the 8 data bytes RFC 792 promises lie in the buffer.
          expect(off + ((buf[off]! & 0x0f) << 2) + 8).toBeLessThanOrEqual(Math.min(buf.length, off + len));
        }
        const view = new IcmpPacket(buf, off, len);
        const echo = parseOutcome(() => parseIcmpEchoRepr(view));
        const error = parseOutcome(() => parseIcmpErrorRepr(view));
        if (reason !== null) {
          expect(echo).toBe(reason);
          expect(error).toBe(reason);
          return;
        }
        expect(off + len).toBeLessThanOrEqual(buf.length);
        expect(view.verifyChecksum()).toBe(true);
        expect(echo).toBe([0, 8].includes(view.type) ? null : 'icmp-not-echo');
        if (!ICMP_ERROR_TYPES.includes(view.type as IcmpErrorType)) expect(error).toBe('icmp-not-error');
        else expect(error).toBe(checkIcmpQuote(buf, view.dataOffset, view.dataLength));
      }),
      2 * RUNS,
    );
  });
});

// ---- TCP ----

const tcpCase = fc
  .tuple(tcpHeaderFields, tcpHeaderOptions, fc.uint8Array({ maxLength: 32 }))
  .map(([h, opts, payload]) => ({ h, opts, payload, bytes: tcpSegmentBytes(h, opts.bytes, payload) }));

describe('TCP segments', () => {
  it('generated segments: checkTcp and parseTcpOptions give the model\'s verdict and options', () => {
    const o = new TcpOptions();
    run(
      fc.property(tcpCase, ({ h, opts, payload, bytes }) => {
        expect(checkTcp(bytes, 0, bytes.length)).toBe(opts.model.reason);
        const view = new TcpSegment(bytes);
        expect(view.parseOptions(o)).toBe(opts.model.reason);
        expect([view.srcPort, view.dstPort, view.seq, view.ack, view.flags, view.window, view.urgentPointer]).toEqual([
          h.srcPort, h.dstPort, h.seq, h.ack, h.flags, h.window, h.urgent,
        ]);
        expect(view.headerLength).toBe(20 + opts.bytes.length);
        expect(view.payloadLength).toBe(payload.length);
        const m = opts.model;
        expect([o.mss, o.windowScale, o.sackPermitted, o.hasTimestamp, o.tsVal, o.tsEcr]).toEqual([
          m.mss, m.windowScale, m.sackPermitted, m.hasTimestamp, m.tsVal, m.tsEcr,
        ]);
        expect(o.sackCount).toBe(m.sack.length / 2);
        expect(Array.from(o.sack.subarray(0, m.sack.length))).toEqual(m.sack);
      }),
    );
  });

  it('random and mutated segments: never throw, agree, and what is accepted has its header in the buffer', () => {
    const o = new TcpOptions();
    let accepted = 0;
    run(
      fc.property(hostile(tcpCase.map((c) => c.bytes), 80), ({ buf, off, len }) => {
        const reason = checkTcp(buf, off, len);
        expect([null, 'tcp-truncated', 'tcp-bad-data-offset', 'tcp-bad-options']).toContain(reason);
        // checkTcp is the header check, then the option walk.
        const header = checkTcpHeader(buf, off, len);
        if (header !== null) expect(reason).toBe(header);
        const view = new TcpSegment(buf, off, len);
        if (reason === null) {
          accepted++;
          const hl = view.headerLength;
          expect(hl).toBeGreaterThanOrEqual(20);
          expect(hl).toBeLessThanOrEqual(60);
          expect(hl).toBeLessThanOrEqual(len);
          expect(off + hl).toBeLessThanOrEqual(buf.length);
          expect(view.payloadLength).toBeGreaterThanOrEqual(0);
          expect(view.optionsEnd).toBe(off + hl);
        }
        if (header === null) {
          // Whatever the caller's order of checks, the options verdict is the same.
          expect(view.parseOptions(o)).toBe(reason);
          expect(o.windowScale).toBeLessThanOrEqual(14);
          expect(o.sackCount).toBeLessThanOrEqual(4);
        }
      }),
      2 * RUNS,
    );
    expect(accepted).toBeGreaterThan(RUNS / 20);
  });

  it('emitted headers with random options parse back; more than 40 option bytes is a RangeError', () => {
    const o = new TcpOptions();
    const emitted = fc.record({
      mss: fc.option(u16),
      windowScale: fc.option(fc.integer({ min: 0, max: 14 })),
      sackPermitted: fc.boolean(),
      timestamp: fc.option(fc.record({ tsVal: u32, tsEcr: u32 })),
      sack: fc.array(u32, { maxLength: 10 }).map((a) => Uint32Array.from(a.slice(0, a.length & ~1))),
    });
    run(
      fc.property(tcpHeaderFields, emitted, ({ urgent, reserved: _r, ...h }, e) => {
        const opts = {
          mss: e.mss ?? undefined,
          windowScale: e.windowScale ?? undefined,
          sackPermitted: e.sackPermitted,
          timestamp: e.timestamp,
          sackBlocks: e.sack,
        };
        const buf = new Uint8Array(60).fill(0xa5);
        const want = tcpOptionsLength(opts);
        if (want > 40 || e.sack.length > 8) {
          expect(() => emitTcpHeader(buf, 0, { ...h, urgentPointer: urgent }, opts)).toThrow(RangeError);
          return;
        }
        const hl = emitTcpHeader(buf, 0, { ...h, urgentPointer: urgent }, opts);
        expect(hl).toBe(20 + want);
        expect(hl % 4).toBe(0);
        expect(buf.subarray(hl).every((b) => b === 0xa5)).toBe(true);
        expect(checkTcp(buf, 0, hl)).toBeNull();
        expect(parseTcpOptions(buf, 20, hl, o)).toBeNull();
        expect(o.mss).toBe(e.mss ?? -1);
        expect(o.windowScale).toBe(e.windowScale ?? -1);
        expect(o.sackPermitted).toBe(e.sackPermitted);
        expect(o.hasTimestamp).toBe(e.timestamp !== null);
        if (e.timestamp !== null) expect([o.tsVal, o.tsEcr]).toEqual([e.timestamp.tsVal, e.timestamp.tsEcr]);
        expect(Array.from(o.sack.subarray(0, 2 * o.sackCount))).toEqual(Array.from(e.sack));
      }),
    );
  });
});

describe('views', () => {
  it('reading any field of any view over any window never throws', () => {
    run(
      fc.property(windowed(fc.uint8Array({ maxLength: 70 })), ({ buf, off, len }) => {
        const eth = new EthernetFrame(buf, off, len);
        const arp = new ArpPacket(buf, off, len);
        const ip = new Ipv4Packet(buf, off, len);
        const icmp = new IcmpPacket(buf, off, len);
        const tcp = new TcpSegment(buf, off, len);
        expect(() => [
          eth.dst, eth.src, eth.etherType, eth.payloadLength,
          arp.operation, arp.senderMac, arp.senderIp, arp.targetMac, arp.targetIp,
          ip.version, ip.ihl, ip.totalLength, ip.fragmentOffset, ip.isFragment, ip.src, ip.dst, ip.payloadLength,
          icmp.type, icmp.code, icmp.restOfHeader, icmp.identifier, icmp.sequence,
          tcp.srcPort, tcp.seq, tcp.ack, tcp.dataOffset, tcp.flags, tcp.window, tcp.payloadLength,
        ]).not.toThrow();
      }),
    );
  });
});

// ---- UDP ----

describe('UDP', () => {
  const datagrams = fc.oneof(
    fc.constant(UDP_FRAME.subarray(ETH + 20)),
    fc.tuple(u16, u16, fc.uint8Array({ maxLength: 64 })).map(([sp, dp, data]) => {
      const b = new Uint8Array(8 + data.length);
      emitUdpHeader(b, 0, sp, dp, data.length);
      b.set(data, 8);
      return b;
    }),
  );

  it('the checker answers null or a udp- reason for any bytes; what it accepts has its header in the buffer and a length within 8..len', () => {
    run(
      fc.property(hostile(datagrams, 40), ({ buf, off, len }) => {
        const reason = checkUdp(buf, off, len);
        expect([null, 'udp-truncated', 'udp-bad-length']).toContain(reason);
        if (reason !== null) return;
        const h = new UdpHeader(buf, off, len);
        expect(off + 8).toBeLessThanOrEqual(buf.length);
        expect(h.udpLength).toBeGreaterThanOrEqual(8);
        expect(h.udpLength).toBeLessThanOrEqual(len);
        expect(h.payloadLength).toBe(h.udpLength - 8);
      }),
    );
  });
});
