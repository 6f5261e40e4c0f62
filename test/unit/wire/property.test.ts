/**
 * Property tests with a seeded PRNG: random and mutated bytes never make a checker throw, parsers
 * throw only WireError and exactly when the checker names a reason, and anything accepted
 * satisfies the invariants the layers above rely on. Random reprs round-trip.
 */
import { describe, it, expect } from 'vitest';
import { ArpPacket, checkArp, emitArpRepr, parseArpRepr, type ArpRepr } from '../../../src/wire/arp.js';
import { EthernetFrame, checkEthernet, emitEthernetRepr, parseEthernetRepr } from '../../../src/wire/ethernet.js';
import { Ipv4Packet, checkIpv4, emitIpv4Repr, parseIpv4Repr, type Ipv4Repr } from '../../../src/wire/ipv4.js';
import {
  IcmpPacket,
  checkIcmp,
  checkIcmpQuote,
  emitIcmpEchoRepr,
  parseIcmpEchoRepr,
  parseIcmpErrorRepr,
} from '../../../src/wire/icmp.js';
import type { DropReason } from '../../../src/wire/errors.js';
import {
  ARP_REPLY_FRAME,
  ARP_REQUEST_FRAME,
  ECHO_REPLY_FRAME,
  ECHO_REQUEST_FRAME,
  PORT_UNREACHABLE_FRAME,
  UDP_FRAME,
  mulberry32,
  randomBytes,
  randomInt,
} from './helpers.js';
import { parseOutcome } from '../fuzz/arbitraries.js';

type Checker = (buf: Uint8Array, off: number, len: number) => DropReason | null;

const SEEDS = [1, 2, 3, 0xdecafbad];
const TRIALS = 2500;


/** A random buffer: garbage, or a captured frame with a few bytes changed and maybe cut. */
function sample(rand: () => number, seeds: Uint8Array[]): { buf: Uint8Array; off: number; len: number } {
  let buf: Uint8Array;
  if (rand() < 0.3) {
    buf = randomBytes(rand, randomInt(rand, 0, 120));
  } else {
    const base = seeds[randomInt(rand, 0, seeds.length - 1)]!;
    buf = base.slice(0, rand() < 0.3 ? randomInt(rand, 0, base.length) : base.length);
    const flips = randomInt(rand, 0, 3);
    for (let i = 0; i < flips && buf.length > 0; i++) {
      buf[randomInt(rand, 0, buf.length - 1)] = rand() < 0.5 ? (rand() * 256) | 0 : buf[0]! ^ (1 << randomInt(rand, 0, 7));
    }
  }
  const off = rand() < 0.8 ? 14 : randomInt(rand, 0, buf.length + 2);
  // Sometimes the caller's length overstates the buffer; checkers must still stay inside it.
  const len = rand() < 0.85 ? Math.max(0, buf.length - off) : randomInt(rand, 0, 200);
  return { buf, off, len };
}

function checkerNeverThrows(check: Checker, buf: Uint8Array, off: number, len: number): DropReason | null {
  let r: DropReason | null = null;
  expect(() => (r = check(buf, off, len))).not.toThrow();
  return r;
}

const IPV4_SEEDS = [ECHO_REQUEST_FRAME, ECHO_REPLY_FRAME, UDP_FRAME, PORT_UNREACHABLE_FRAME];
const ICMP_SEEDS = [ECHO_REQUEST_FRAME, ECHO_REPLY_FRAME, PORT_UNREACHABLE_FRAME].map((f) => f.subarray(20));
const ARP_SEEDS = [ARP_REQUEST_FRAME, ARP_REPLY_FRAME];

describe('property: checkers and parsers on random and mutated input', () => {
  it.each(SEEDS)('Ethernet and ARP (seed %i)', (seed) => {
    const rand = mulberry32(seed);
    for (let t = 0; t < TRIALS; t++) {
      const { buf, off, len } = sample(rand, ARP_SEEDS);
      const eth = checkerNeverThrows(checkEthernet, buf, Math.max(0, off - 14), len);
      expect(eth === null || eth === 'eth-truncated').toBe(true);
      const reason = checkerNeverThrows(checkArp, buf, off, len);
      const view = new ArpPacket(buf, off, len);
      expect(parseOutcome(() => parseArpRepr(view))).toBe(reason);
      if (reason === null) {
        const repr = parseArpRepr(view);
        const again = new Uint8Array(28);
        emitArpRepr(repr, again);
        expect(parseArpRepr(new ArpPacket(again))).toEqual(repr);
      }
    }
  });

  it.each(SEEDS)('IPv4 (seed %i)', (seed) => {
    const rand = mulberry32(seed);
    let accepted = 0;
    for (let t = 0; t < TRIALS; t++) {
      const { buf, off, len } = sample(rand, IPV4_SEEDS);
      const reason = checkerNeverThrows(checkIpv4, buf, off, len);
      const view = new Ipv4Packet(buf, off, len);
      expect(parseOutcome(() => parseIpv4Repr(view))).toBe(reason);
      if (reason !== null) continue;
      accepted++;
      // What the layers above rely on: the header in buf, the datagram within what was delivered.
      expect(view.version).toBe(4);
      expect(view.headerLength).toBeGreaterThanOrEqual(20);
      expect(off + view.headerLength).toBeLessThanOrEqual(buf.length);
      expect(view.totalLength).toBeGreaterThanOrEqual(view.headerLength);
      expect(view.totalLength).toBeLessThanOrEqual(len);
      expect(view.verifyChecksum()).toBe(true);
      const repr = parseIpv4Repr(view);
      const again = new Uint8Array(20 + repr.payloadLength);
      emitIpv4Repr(repr, again);
      expect(parseIpv4Repr(new Ipv4Packet(again))).toEqual(repr);
    }
    expect(accepted).toBeGreaterThan(TRIALS / 10); // the mutations do not reject everything
  });

  it.each(SEEDS)('ICMP (seed %i)', (seed) => {
    const rand = mulberry32(seed);
    for (let t = 0; t < TRIALS; t++) {
      const { buf, off, len } = sample(rand, ICMP_SEEDS);
      const reason = checkerNeverThrows(checkIcmp, buf, off, len);
      checkerNeverThrows(checkIcmpQuote, buf, off, len);
      const view = new IcmpPacket(buf, off, len);
      const echo = parseOutcome(() => parseIcmpEchoRepr(view));
      const error = parseOutcome(() => parseIcmpErrorRepr(view));
      if (reason !== null) {
        expect(echo).toBe(reason);
        expect(error).toBe(reason);
      } else {
        // Accepted: the whole message lies in buf.
        expect(off + len).toBeLessThanOrEqual(buf.length);
        expect(echo === null || echo === 'icmp-not-echo').toBe(true);
        expect(error === null || error === 'icmp-not-error' || error === 'icmp-bad-quote').toBe(true);
      }
    }
  });

  it('views never throw on reads, whatever the bytes', () => {
    const rand = mulberry32(99);
    const eth = new EthernetFrame(new Uint8Array(0));
    const ip = new Ipv4Packet(new Uint8Array(0));
    const icmp = new IcmpPacket(new Uint8Array(0));
    for (let t = 0; t < 500; t++) {
      const buf = randomBytes(rand, randomInt(rand, 0, 30));
      const off = randomInt(rand, 0, 35);
      eth.reset(buf, off);
      ip.reset(buf, off);
      icmp.reset(buf, off);
      expect(() => [
        eth.etherType, eth.dst, eth.src,
        ip.version, ip.ihl, ip.totalLength, ip.fragmentOffset, ip.src, ip.dst, ip.verifyChecksum(),
        icmp.type, icmp.restOfHeader, icmp.verifyChecksum(),
      ]).not.toThrow();
    }
  });
});

describe('property: random reprs round-trip', () => {
  it('IPv4, ARP, Ethernet and echo', () => {
    const rand = mulberry32(1234);
    const u32 = () => (rand() * 2 ** 32) >>> 0;
    for (let t = 0; t < 1000; t++) {
      const ip: Ipv4Repr = {
        src: u32(), dst: u32(), protocol: randomInt(rand, 0, 255), ttl: randomInt(rand, 0, 255),
        payloadLength: randomInt(rand, 0, 65515), identification: randomInt(rand, 0, 0xffff),
        dontFragment: rand() < 0.5, moreFragments: rand() < 0.5, fragmentOffset: 8 * randomInt(rand, 0, 8191),
        dscp: randomInt(rand, 0, 63), ecn: randomInt(rand, 0, 3),
      };
      const ipBuf = new Uint8Array(20 + ip.payloadLength);
      emitIpv4Repr(ip, ipBuf);
      expect(parseIpv4Repr(new Ipv4Packet(ipBuf))).toEqual(ip);

      const arp: ArpRepr = {
        operation: rand() < 0.5 ? 1 : 2, senderMac: randomBytes(rand, 6), senderIp: u32(),
        targetMac: randomBytes(rand, 6), targetIp: u32(),
      };
      const arpBuf = new Uint8Array(28);
      emitArpRepr(arp, arpBuf);
      expect(parseArpRepr(new ArpPacket(arpBuf))).toEqual(arp);

      const eth = { dst: randomBytes(rand, 6), src: randomBytes(rand, 6), etherType: randomInt(rand, 0, 0xffff) };
      const ethBuf = new Uint8Array(14);
      emitEthernetRepr(eth, ethBuf);
      expect(parseEthernetRepr(new EthernetFrame(ethBuf))).toEqual(eth);

      const echo = { type: rand() < 0.5 ? 0 : 8, code: randomInt(rand, 0, 255), identifier: randomInt(rand, 0, 0xffff), sequence: randomInt(rand, 0, 0xffff) } as const;
      const data = randomBytes(rand, randomInt(rand, 0, 64));
      const icmpBuf = new Uint8Array(8 + data.length);
      emitIcmpEchoRepr(echo, icmpBuf, 0, data);
      expect(parseIcmpEchoRepr(new IcmpPacket(icmpBuf))).toEqual(echo);
    }
  });
});
