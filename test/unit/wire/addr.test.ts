import { systemRandom } from '../../../src/random.js';
import { describe, it, expect } from 'vitest';
import {
  BROADCAST_MAC,
  IPV4_BROADCAST,
  formatCidr,
  formatIpv4,
  formatMac,
  isBroadcastMac,
  isBroadcastOrMulticast,
  isMulticastIpv4,
  isMulticastMac,
  macEquals,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
  randomLocalMac,
  readIpv4,
  sameSubnet,
  writeIpv4,
} from '../../../src/wire/addr.js';

describe('IPv4 addresses', () => {
  it('parses and formats dotted quads as unsigned 32-bit numbers', () => {
    expect(parseIpv4('198.18.0.2')).toBe(0xc6120002);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(IPV4_BROADCAST);
    expect(parseIpv4('255.255.255.255')).toBeGreaterThan(0);
    for (const s of ['198.18.0.2', '0.0.0.0', '255.255.255.255', '10.0.0.1', '224.0.0.251']) {
      expect(formatIpv4(parseIpv4(s))).toBe(s);
    }
  });

  it('rejects anything but four decimal octets', () => {
    for (const s of [
      '', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-1', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4',
      '0x1.2.3.4', '1..3.4', '1.2.3.4/24', 'a.b.c.d', '1e2.0.0.1', '1.2.3.1000',
    ]) {
      expect(() => parseIpv4(s), s).toThrow(TypeError);
    }
  });

  it('reads and writes addresses in network order', () => {
    const b = new Uint8Array(6);
    writeIpv4(b, 1, parseIpv4('198.18.7.254'));
    expect(Array.from(b)).toEqual([0, 198, 18, 7, 254, 0]);
    expect(readIpv4(b, 1)).toBe(parseIpv4('198.18.7.254'));
  });

  it('parses CIDR notation and rejects bad prefixes', () => {
    expect(parseCidr('198.18.0.2/24')).toEqual({ address: parseIpv4('198.18.0.2'), prefixLength: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefixLength: 0 });
    expect(formatCidr(parseCidr('198.18.0.2/32'))).toBe('198.18.0.2/32');
    for (const s of ['198.18.0.2', '198.18.0.2/', '198.18.0.2/33', '198.18.0.2/024', '198.18.0.2/a', '/24', '1.2.3/8']) {
      expect(() => parseCidr(s), s).toThrow(TypeError);
    }
  });

  it('computes prefix masks, including /0 and /32', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(31)).toBe(0xfffffffe);
    expect(prefixMask(32)).toBe(0xffffffff);
    for (const bad of [-1, 33, 1.5, NaN]) expect(() => prefixMask(bad)).toThrow(RangeError);
  });

  it('tells whether two addresses share a subnet', () => {
    const a = parseIpv4('198.18.0.2');
    expect(sameSubnet(a, parseIpv4('198.18.0.1'), 24)).toBe(true);
    expect(sameSubnet(a, parseIpv4('198.18.1.1'), 24)).toBe(false);
    expect(sameSubnet(a, parseIpv4('198.19.255.1'), 15)).toBe(true);
    expect(sameSubnet(a, parseIpv4('8.8.8.8'), 0)).toBe(true);
    expect(sameSubnet(a, parseIpv4('198.18.0.3'), 32)).toBe(false);
    expect(sameSubnet(0xffffffff, 0xfffffffe, 31)).toBe(true);
  });

  it('recognises broadcast and multicast destinations', () => {
    expect(isBroadcastOrMulticast(IPV4_BROADCAST)).toBe(true);
    expect(isBroadcastOrMulticast(parseIpv4('224.0.0.1'))).toBe(true);
    expect(isBroadcastOrMulticast(parseIpv4('239.255.255.255'))).toBe(true);
    expect(isMulticastIpv4(parseIpv4('240.0.0.1'))).toBe(false);
    expect(isBroadcastOrMulticast(parseIpv4('198.18.0.255'))).toBe(false);
    expect(isBroadcastOrMulticast(parseIpv4('198.18.0.255'), 24)).toBe(true);
    expect(isBroadcastOrMulticast(parseIpv4('198.18.0.254'), 24)).toBe(false);
    expect(isBroadcastOrMulticast(parseIpv4('198.18.1.255'), 23)).toBe(true);
    expect(isBroadcastOrMulticast(parseIpv4('198.18.0.3'), 31)).toBe(false); // RFC 3021
    expect(isBroadcastOrMulticast(parseIpv4('198.18.0.3'), 30)).toBe(true);
  });
});

describe('MAC addresses', () => {
  it('parses and formats', () => {
    const mac = parseMac('9A:c5:65:ca:f8:b3');
    expect(Array.from(mac)).toEqual([0x9a, 0xc5, 0x65, 0xca, 0xf8, 0xb3]);
    expect(formatMac(mac)).toBe('9a:c5:65:ca:f8:b3');
    expect(formatMac(parseMac('02-00-5e-10-00-01'))).toBe('02:00:5e:10:00:01');
    const frame = new Uint8Array([0, 0, ...mac]);
    expect(formatMac(frame, 2)).toBe('9a:c5:65:ca:f8:b3');
  });

  it('rejects bad text', () => {
    for (const s of ['', '9a:c5:65:ca:f8', '9a:c5:65:ca:f8:b3:00', '9a:c5:65:ca:f8:bg', '9a-c5:65:ca:f8:b3', '9ac5.65ca.f8b3', '9a:c5:65:ca:f8:b']) {
      expect(() => parseMac(s), s).toThrow(TypeError);
    }
  });

  it('compares in place and classifies', () => {
    const frame = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x5e, 0, 0, 1]);
    expect(macEquals(frame, 0, BROADCAST_MAC)).toBe(true);
    expect(macEquals(frame, 1, BROADCAST_MAC)).toBe(false);
    expect(macEquals(frame, 7, BROADCAST_MAC)).toBe(false); // runs off the end: not equal
    expect(isBroadcastMac(frame, 0)).toBe(true);
    expect(isMulticastMac(frame, 0)).toBe(true);
    expect(isMulticastMac(frame, 6)).toBe(true); // 01:00:5e IPv4 multicast (RFC 1112 6.4)
    expect(isBroadcastMac(frame, 6)).toBe(false);
    expect(isMulticastMac(parseMac('02:00:00:00:00:01'))).toBe(false);
  });

  it('makes random locally administered unicast addresses', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 64; i++) {
      const mac = randomLocalMac(systemRandom);
      expect(mac.length).toBe(6);
      expect(mac[0]! & 0x02).toBe(0x02);
      expect(isMulticastMac(mac)).toBe(false);
      seen.add(formatMac(mac));
    }
    expect(seen.size).toBeGreaterThan(60);
  });
});
