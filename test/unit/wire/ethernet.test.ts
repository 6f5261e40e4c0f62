import { describe, it, expect } from 'vitest';
import {
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  EthernetFrame,
  checkEthernet,
  emitEthernetRepr,
  ethernetBufferLength,
  parseEthernetRepr,
} from '../../../src/wire/ethernet.js';
import { BROADCAST_MAC, formatMac, parseMac } from '../../../src/wire/addr.js';
import { WireError } from '../../../src/wire/errors.js';
import { ARP_REQUEST_FRAME, ECHO_REQUEST_FRAME, MAC_A, MAC_B } from './helpers.js';

describe('Ethernet II', () => {
  it('reads the captured frames', () => {
    const f = new EthernetFrame(ARP_REQUEST_FRAME);
    expect(f.check()).toBeNull();
    expect(formatMac(f.dst)).toBe('ff:ff:ff:ff:ff:ff');
    expect(formatMac(f.src)).toBe(MAC_A);
    expect(f.etherType).toBe(ETHERTYPE_ARP);
    expect(f.payloadOffset).toBe(14);
    expect(f.payloadLength).toBe(28);

    f.reset(ECHO_REQUEST_FRAME);
    expect(formatMac(f.dst)).toBe(MAC_B);
    expect(f.etherType).toBe(ETHERTYPE_IPV4);
    expect(parseEthernetRepr(f)).toEqual({ dst: parseMac(MAC_B), src: parseMac(MAC_A), etherType: ETHERTYPE_IPV4 });
  });

  it('round-trips: emit then parse gives the repr, and the captured header back', () => {
    const repr = { dst: BROADCAST_MAC, src: parseMac(MAC_A), etherType: ETHERTYPE_ARP };
    const buf = new Uint8Array(ethernetBufferLength(28) + 3);
    expect(emitEthernetRepr(repr, buf, 3)).toBe(ETHERNET_HEADER_LEN);
    expect(buf.subarray(3, 17)).toEqual(ARP_REQUEST_FRAME.subarray(0, 14));
    const parsed = parseEthernetRepr(new EthernetFrame(buf, 3));
    expect(parsed).toEqual(repr);
    buf[3] = 0; // the repr owns its addresses
    expect(parsed.dst).toEqual(BROADCAST_MAC);
  });

  it('writes fields through the view, aliasing the buffer', () => {
    const buf = new Uint8Array(20);
    const f = new EthernetFrame(buf, 2, 18);
    f.dst = parseMac(MAC_B);
    f.src = parseMac(MAC_A);
    f.etherType = 0x86dd;
    expect(buf.subarray(2, 16)).toEqual(Uint8Array.from([...parseMac(MAC_B), ...parseMac(MAC_A), 0x86, 0xdd]));
    f.src[0] = 0x02;
    expect(buf[8]).toBe(0x02);
  });

  it('rejects every truncation of the header', () => {
    for (let len = 0; len < ETHERNET_HEADER_LEN; len++) {
      expect(checkEthernet(ARP_REQUEST_FRAME, 0, len), `len ${len}`).toBe('eth-truncated');
      const cut = ARP_REQUEST_FRAME.slice(0, len);
      expect(() => parseEthernetRepr(new EthernetFrame(cut))).toThrow(WireError);
    }
    expect(checkEthernet(ARP_REQUEST_FRAME, 0, ETHERNET_HEADER_LEN)).toBeNull();
    // A length that overstates the buffer is judged by the bytes really there.
    expect(checkEthernet(ARP_REQUEST_FRAME, 30, 100)).toBe('eth-truncated');
  });

  it('refuses to emit past the end of the buffer', () => {
    const repr = { dst: BROADCAST_MAC, src: BROADCAST_MAC, etherType: ETHERTYPE_IPV4 };
    expect(() => emitEthernetRepr(repr, new Uint8Array(13))).toThrow(RangeError);
  });
});
