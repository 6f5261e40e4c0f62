import { describe, expect, it } from 'vitest';
import { fillTransportChecksum, verifyTransportChecksum } from '../../../src/wire/checksum.js';
import { IPPROTO_UDP } from '../../../src/wire/ipv4.js';
import { checkUdp, emitUdpHeader, UDP_CHECKSUM_OFFSET, UDP_HEADER_LEN, UdpHeader } from '../../../src/wire/udp.js';

describe('UDP header (RFC 768)', () => {
  it('emits and reads every field', () => {
    const b = new Uint8Array(8 + 5);
    emitUdpHeader(b, 0, 53, 40000, 5);
    const h = new UdpHeader(b);
    expect([h.srcPort, h.dstPort, h.udpLength, h.checksum, h.payloadLength]).toEqual([53, 40000, 13, 0, 5]);
    h.checksum = 0xbeef;
    expect(h.checksum).toBe(0xbeef);
    expect(h.check()).toBeNull();
  });

  it('refuses to emit past the buffer', () => {
    expect(() => emitUdpHeader(new Uint8Array(7), 0, 1, 2, 0)).toThrow(RangeError);
  });

  it('checks lengths: header in the buffer, length field within 8..IP payload', () => {
    const b = new Uint8Array(20);
    emitUdpHeader(b, 0, 1, 2, 12);
    expect(checkUdp(b, 0, 20)).toBeNull();
    expect(checkUdp(b, 0, 7)).toBe('udp-truncated');
    expect(checkUdp(b.subarray(0, 6), 0, 20)).toBe('udp-truncated');
    b[5] = 7; // length 7 < 8
    expect(checkUdp(b, 0, 20)).toBe('udp-bad-length');
    b[5] = 21; // beyond the IP payload
    expect(checkUdp(b, 0, 20)).toBe('udp-bad-length');
    b[5] = 11; // shorter than the IP payload: the rest is padding, accepted
    expect(checkUdp(b, 0, 20)).toBeNull();
  });

  it('a computed checksum of zero is sent as 0xffff and verifies', () => {
    // Find data whose checksum comes out 0: the field then holds 0xffff, never 0 ("none").
    const src = 0xc6120001;
    const dst = 0xc6120002;
    const b = new Uint8Array(UDP_HEADER_LEN + 2);
    emitUdpHeader(b, 0, 1000, 2000, 2);
    fillTransportChecksum(b, 0, b.length, src, dst, IPPROTO_UDP, UDP_CHECKSUM_OFFSET);
    const c = (b[6]! << 8) | b[7]!;
    // Add c's value to the data so the sum of everything but the field is 0xffff: checksum 0.
    b[8] = c >>> 8;
    b[9] = c & 0xff;
    fillTransportChecksum(b, 0, b.length, src, dst, IPPROTO_UDP, UDP_CHECKSUM_OFFSET);
    expect((b[6]! << 8) | b[7]!).toBe(0xffff);
    expect(verifyTransportChecksum(b, 0, b.length, src, dst, IPPROTO_UDP)).toBe(true);
  });
});
