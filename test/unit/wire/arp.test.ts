import { describe, it, expect } from 'vitest';
import {
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  ARP_PACKET_LEN,
  ArpPacket,
  arpBufferLength,
  checkArp,
  emitArpRepr,
  parseArpRepr,
  type ArpRepr,
} from '../../../src/wire/arp.js';
import { formatMac, parseIpv4, parseMac } from '../../../src/wire/addr.js';
import { ETHERNET_HEADER_LEN, ETHERNET_MIN_FRAME_LEN } from '../../../src/wire/ethernet.js';
import { WireError, type DropReason } from '../../../src/wire/errors.js';
import { ARP_REPLY_FRAME, ARP_REQUEST_FRAME, MAC_A, MAC_B } from './helpers.js';

const E = ETHERNET_HEADER_LEN;

function reasonOf(fn: () => unknown): DropReason | null {
  try {
    fn();
    return null;
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
}

describe('ARP', () => {
  it('reads the kernel\'s request and reply', () => {
    const p = new ArpPacket(ARP_REQUEST_FRAME, E);
    expect(p.hardwareType).toBe(1);
    expect(p.protocolType).toBe(0x0800);
    expect(p.hardwareLength).toBe(6);
    expect(p.protocolLength).toBe(4);
    expect(parseArpRepr(p)).toEqual({
      operation: ARP_OP_REQUEST,
      senderMac: parseMac(MAC_A),
      senderIp: parseIpv4('198.18.7.1'),
      targetMac: new Uint8Array(6),
      targetIp: parseIpv4('198.18.7.2'),
    });
    p.reset(ARP_REPLY_FRAME, E);
    expect(parseArpRepr(p)).toEqual({
      operation: ARP_OP_REPLY,
      senderMac: parseMac(MAC_B),
      senderIp: parseIpv4('198.18.7.2'),
      targetMac: parseMac(MAC_A),
      targetIp: parseIpv4('198.18.7.1'),
    });
  });

  it('emits the same bytes the kernel sent, and round-trips', () => {
    for (const frame of [ARP_REQUEST_FRAME, ARP_REPLY_FRAME]) {
      const repr = parseArpRepr(new ArpPacket(frame, E));
      const buf = new Uint8Array(arpBufferLength(repr));
      expect(emitArpRepr(repr, buf)).toBe(ARP_PACKET_LEN);
      expect(buf).toEqual(frame.subarray(E));
      expect(parseArpRepr(new ArpPacket(buf))).toEqual(repr);
    }
  });

  it('writes through the view', () => {
    const buf = ARP_REQUEST_FRAME.slice();
    const p = new ArpPacket(buf, E);
    p.operation = ARP_OP_REPLY;
    p.targetMac = p.senderMac.slice();
    p.senderMac = parseMac(MAC_B);
    const ip = p.senderIp;
    p.senderIp = p.targetIp;
    p.targetIp = ip;
    expect(buf.subarray(E)).toEqual(ARP_REPLY_FRAME.subarray(E));
    expect(formatMac(p.targetMac)).toBe(MAC_A);
  });

  it('accepts Ethernet padding after the packet', () => {
    const padded = new Uint8Array(ETHERNET_MIN_FRAME_LEN);
    padded.set(ARP_REQUEST_FRAME);
    expect(checkArp(padded, E, padded.length - E)).toBeNull();
  });

  it('rejects every truncation', () => {
    for (let len = 0; len < ARP_PACKET_LEN; len++) {
      expect(checkArp(ARP_REQUEST_FRAME, E, len), `len ${len}`).toBe('arp-truncated');
      const cut = ARP_REQUEST_FRAME.slice(E, E + len);
      expect(reasonOf(() => parseArpRepr(new ArpPacket(cut)))).toBe('arp-truncated');
    }
  });

  it('rejects other hardware, protocols, address lengths and operations', () => {
    const mutate = (at: number, v: number, reason: DropReason) => {
      const buf = ARP_REQUEST_FRAME.slice(E);
      buf[at] = v;
      expect(checkArp(buf, 0, buf.length), `byte ${at} = ${v}`).toBe(reason);
      expect(reasonOf(() => parseArpRepr(new ArpPacket(buf)))).toBe(reason);
    };
    mutate(1, 6, 'arp-bad-hardware'); // IEEE 802 networks
    mutate(0, 1, 'arp-bad-hardware');
    mutate(2, 0x86, 'arp-bad-protocol'); // 0x8600
    mutate(3, 0x06, 'arp-bad-protocol'); // 0x0806
    mutate(4, 8, 'arp-bad-lengths');
    mutate(4, 0, 'arp-bad-lengths');
    mutate(5, 16, 'arp-bad-lengths');
    mutate(5, 0, 'arp-bad-lengths');
    for (const op of [0, 3, 4, 8, 255]) mutate(7, op, 'arp-bad-op');
    mutate(6, 1, 'arp-bad-op'); // 0x0101
    // Field errors are reported even when the packet is also short.
    expect(checkArp(Uint8Array.from([0, 6, 8, 0, 6, 4, 0, 1]), 0, 8)).toBe('arp-bad-hardware');
  });

  it('refuses to emit past the end of the buffer', () => {
    const repr: ArpRepr = parseArpRepr(new ArpPacket(ARP_REQUEST_FRAME, E));
    expect(() => emitArpRepr(repr, new Uint8Array(30), 3)).toThrow(RangeError);
  });
});
