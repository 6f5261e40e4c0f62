import { describe, it, expect } from 'vitest';
import {
  IPPROTO_ICMP,
  IPPROTO_UDP,
  IPV4_MIN_HEADER_LEN,
  Ipv4Packet,
  checkIpv4,
  emitIpv4Repr,
  ipv4BufferLength,
  ipv4HeaderLength,
  parseIpv4Repr,
  type Ipv4Repr,
} from '../../../src/wire/ipv4.js';
import { parseIpv4 } from '../../../src/wire/addr.js';
import { WireError, type DropReason } from '../../../src/wire/errors.js';
import { ECHO_REQUEST_FRAME, PORT_UNREACHABLE_FRAME, UDP_FRAME } from './helpers.js';

const E = 14;
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

/** The echo request's IPv4 packet, alone in its buffer. */
function echoPacket(): Uint8Array {
  return ECHO_REQUEST_FRAME.slice(E);
}

/** A packet with the given option bytes (padded to a word with EOL) and `payload` data bytes. */
function withOptions(options: number[], payload = 8): Uint8Array {
  const optLen = (options.length + 3) & ~3;
  const headerLength = IPV4_MIN_HEADER_LEN + optLen;
  const buf = new Uint8Array(headerLength + payload);
  emitIpv4Repr({ src: A, dst: B, protocol: IPPROTO_UDP, ttl: 64, payloadLength: 0 }, buf);
  buf.set(options, IPV4_MIN_HEADER_LEN);
  const p = new Ipv4Packet(buf);
  p.ihl = headerLength / 4;
  p.totalLength = buf.length;
  p.fillChecksum();
  return buf;
}

/** Sets a field through the view and refills the checksum, so only that field is wrong. */
function mutated(edit: (p: Ipv4Packet) => void, buf = echoPacket()): Uint8Array {
  const p = new Ipv4Packet(buf);
  edit(p);
  p.fillChecksum();
  return buf;
}

describe('IPv4 view', () => {
  it('reads the captured echo request', () => {
    const p = new Ipv4Packet(ECHO_REQUEST_FRAME, E);
    expect(p.check()).toBeNull();
    expect(p.version).toBe(4);
    expect(p.ihl).toBe(5);
    expect(p.headerLength).toBe(20);
    expect(p.dscp).toBe(0);
    expect(p.ecn).toBe(0);
    expect(p.totalLength).toBe(52);
    expect(p.identification).toBe(0x0f27);
    expect(p.dontFragment).toBe(true);
    expect(p.moreFragments).toBe(false);
    expect(p.fragmentOffset).toBe(0);
    expect(p.isFragment).toBe(false);
    expect(p.ttl).toBe(64);
    expect(p.protocol).toBe(IPPROTO_ICMP);
    expect(p.checksum).toBe(0x917a);
    expect(p.src).toBe(A);
    expect(p.dst).toBe(B);
    expect(p.payloadOffset).toBe(E + 20);
    expect(p.payloadLength).toBe(32);
    expect(p.verifyChecksum()).toBe(true);
  });

  it('reads DSCP and ECN from the kernel\'s error (TOS 0xc0: CS6)', () => {
    const p = new Ipv4Packet(PORT_UNREACHABLE_FRAME, E);
    expect(p.dscp).toBe(48);
    expect(p.ecn).toBe(0);
  });

  it('writes each field without disturbing its neighbours', () => {
    const buf = echoPacket();
    const p = new Ipv4Packet(buf);
    p.ecn = 3;
    expect(p.dscp).toBe(0);
    p.dscp = 46;
    expect(p.ecn).toBe(3);
    expect(buf[1]).toBe((46 << 2) | 3);
    p.moreFragments = true;
    p.fragmentOffset = 1480;
    expect(p.dontFragment).toBe(true);
    expect(p.isFragment).toBe(true);
    p.dontFragment = false;
    expect(p.moreFragments).toBe(true);
    expect(p.fragmentOffset).toBe(1480);
    p.moreFragments = false;
    expect(p.fragmentOffset).toBe(1480);
    expect(p.isFragment).toBe(true);
    p.fragmentOffset = 65528;
    expect(p.fragmentOffset).toBe(65528);
    expect(() => (p.fragmentOffset = 12)).toThrow(RangeError);
    expect(() => (p.fragmentOffset = 65536)).toThrow(RangeError);
    p.ihl = 6;
    expect(p.version).toBe(4);
    p.version = 6;
    expect(p.ihl).toBe(6);
    expect(buf[0]).toBe(0x66);
    expect(p.verifyChecksum()).toBe(false);
  });

  it('fills the header checksum the kernel computed', () => {
    const buf = echoPacket();
    const p = new Ipv4Packet(buf);
    p.checksum = 0;
    p.fillChecksum();
    expect(p.checksum).toBe(0x917a);
    expect(buf).toEqual(echoPacket());
  });
});

describe('IPv4 repr', () => {
  it('emits the kernel\'s headers byte for byte', () => {
    const echo = emitted({ src: A, dst: B, protocol: IPPROTO_ICMP, ttl: 64, payloadLength: 32, identification: 0x0f27, dontFragment: true });
    expect(echo).toEqual(ECHO_REQUEST_FRAME.subarray(E, E + 20));
    const err = emitted({ src: B, dst: A, protocol: IPPROTO_ICMP, ttl: 64, payloadLength: 50, identification: 0xa017, dscp: 48 });
    expect(err).toEqual(PORT_UNREACHABLE_FRAME.subarray(E, E + 20));
  });

  it('parses the captured UDP datagram', () => {
    expect(parseIpv4Repr(new Ipv4Packet(UDP_FRAME, E))).toEqual({
      src: A,
      dst: B,
      protocol: IPPROTO_UDP,
      ttl: 64,
      payloadLength: 22,
      identification: 0xe61f,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      dscp: 0,
      ecn: 0,
    });
  });

  it('round-trips every field', () => {
    const repr: Ipv4Repr = {
      src: parseIpv4('10.1.2.3'),
      dst: parseIpv4('255.255.255.255'),
      protocol: 253,
      ttl: 1,
      payloadLength: 100,
      identification: 0xbeef,
      dontFragment: false,
      moreFragments: true,
      fragmentOffset: 8 * 8191,
      dscp: 63,
      ecn: 2,
    };
    const buf = new Uint8Array(ipv4BufferLength(repr) + 5);
    expect(emitIpv4Repr(repr, buf, 5)).toBe(ipv4HeaderLength(repr));
    expect(parseIpv4Repr(new Ipv4Packet(buf, 5))).toEqual(repr);
  });

  it('fills defaults for the optional fields', () => {
    const buf = new Uint8Array(20);
    emitIpv4Repr({ src: A, dst: B, protocol: IPPROTO_UDP, ttl: 64, payloadLength: 0 }, buf);
    const r = parseIpv4Repr(new Ipv4Packet(buf));
    expect(r).toMatchObject({ identification: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, dscp: 0, ecn: 0 });
  });

  it('refuses what cannot be emitted', () => {
    const base: Ipv4Repr = { src: A, dst: B, protocol: IPPROTO_UDP, ttl: 64, payloadLength: 0 };
    const big = new Uint8Array(100);
    expect(() => emitIpv4Repr({ ...base, payloadLength: 65516 }, big)).toThrow(RangeError);
    expect(() => emitIpv4Repr({ ...base, payloadLength: -1 }, big)).toThrow(RangeError);
    expect(() => emitIpv4Repr({ ...base, fragmentOffset: 4 }, big)).toThrow(RangeError);
    expect(() => emitIpv4Repr(base, new Uint8Array(19))).toThrow(RangeError);
    expect(() => emitIpv4Repr({ ...base, payloadLength: 65515 }, big)).not.toThrow();
  });

  it('accepts link padding after the datagram and ignores it', () => {
    const padded = new Uint8Array(UDP_FRAME.length + 6);
    padded.set(UDP_FRAME);
    const p = new Ipv4Packet(padded, E);
    expect(p.check()).toBeNull();
    expect(parseIpv4Repr(p).payloadLength).toBe(22);
  });
});

describe('IPv4 checks', () => {
  it('rejects every truncation as ipv4-truncated', () => {
    for (const full of [echoPacket(), withOptions([1, 1, 0x94, 4, 0, 0], 12)]) {
      for (let len = 0; len < full.length; len++) {
        expect(checkIpv4(full, 0, len), `len ${len} of ${full.length}`).toBe('ipv4-truncated');
        expect(reasonOf(() => parseIpv4Repr(new Ipv4Packet(full.slice(0, len))))).toBe('ipv4-truncated');
      }
      expect(checkIpv4(full, 0, full.length)).toBeNull();
    }
  });

  it('rejects versions other than 4', () => {
    for (let v = 0; v < 16; v++) {
      if (v === 4) continue;
      const buf = mutated((p) => (p.version = v));
      expect(checkIpv4(buf, 0, buf.length), `version ${v}`).toBe('ipv4-bad-version');
      expect(reasonOf(() => parseIpv4Repr(new Ipv4Packet(buf)))).toBe('ipv4-bad-version');
    }
  });

  it('rejects IHL below 5', () => {
    for (let ihl = 0; ihl < 5; ihl++) {
      const buf = echoPacket();
      new Ipv4Packet(buf).ihl = ihl; // no checksum refill: it cannot cover < 20 bytes
      expect(checkIpv4(buf, 0, buf.length), `ihl ${ihl}`).toBe('ipv4-bad-ihl');
    }
  });

  it('rejects IHL beyond the frame and the total length', () => {
    const buf = echoPacket().subarray(0, 20); // header only
    for (let ihl = 6; ihl < 16; ihl++) {
      const b = buf.slice();
      const p = new Ipv4Packet(b);
      p.totalLength = 20;
      p.ihl = ihl;
      expect(checkIpv4(b, 0, b.length), `ihl ${ihl}`).toBe('ipv4-bad-ihl');
    }
  });

  it('rejects a total length below the header', () => {
    for (let total = 0; total < 20; total++) {
      const buf = mutated((p) => (p.totalLength = total));
      expect(checkIpv4(buf, 0, buf.length), `total ${total}`).toBe('ipv4-bad-total-length');
      expect(reasonOf(() => parseIpv4Repr(new Ipv4Packet(buf)))).toBe('ipv4-bad-total-length');
    }
    const opts = withOptions([1, 1, 1, 1]);
    for (let total = 20; total < 24; total++) {
      const buf = mutated((p) => (p.totalLength = total), opts.slice());
      expect(checkIpv4(buf, 0, buf.length), `total ${total} ihl 6`).toBe('ipv4-bad-total-length');
    }
  });

  it('rejects a total length beyond the frame as truncated', () => {
    for (const total of [53, 60, 1500, 65535]) {
      const buf = mutated((p) => (p.totalLength = total));
      expect(checkIpv4(buf, 0, buf.length), `total ${total}`).toBe('ipv4-truncated');
    }
  });

  it('rejects a bad header checksum, but not a bad payload', () => {
    const buf = echoPacket();
    for (let i = 0; i < 20; i++) {
      if (i === 0 || i === 2 || i === 3) continue; // those fail earlier checks
      const b = buf.slice();
      b[i] ^= 0x10;
      expect(checkIpv4(b, 0, b.length), `byte ${i}`).toBe('ipv4-bad-checksum');
    }
    const b = buf.slice();
    b[30] ^= 0xff;
    expect(checkIpv4(b, 0, b.length)).toBeNull();
    const bad = echoPacket();
    new Ipv4Packet(bad).checksum ^= 1;
    expect(reasonOf(() => parseIpv4Repr(new Ipv4Packet(bad)))).toBe('ipv4-bad-checksum');
  });

  it('accepts well-formed options (RFC 791 3.1)', () => {
    const good = [
      [0], // EOL only
      [1, 1, 1, 0], // NOPs then EOL
      [1, 1, 1, 1], // NOPs to the end
      [0x94, 4, 0, 0], // Router Alert (RFC 2113)
      [7, 7, 4, 0, 0, 0, 0], // Record Route with room for one address
      [0, 99, 99, 99], // after EOL, padding is not read
      [7, 39, 4, ...new Array(36).fill(0)], // the longest option: 40 bytes
    ];
    for (const options of good) {
      const buf = withOptions(options);
      expect(checkIpv4(buf, 0, buf.length), JSON.stringify(options)).toBeNull();
      const p = new Ipv4Packet(buf);
      expect(p.payloadOffset).toBe(20 + ((options.length + 3) & ~3));
      expect(parseIpv4Repr(p).payloadLength).toBe(8);
    }
  });

  it('rejects malformed options as ipv4-bad-options', () => {
    const bad = [
      [7, 0, 0, 0], // length 0
      [7, 1, 0, 0], // length 1: shorter than type + length
      [0x94, 5, 0, 0], // runs past the header
      [1, 1, 1, 0x94], // the length byte lies beyond the header
      [0x94, 4, 0, 0, 7, 9, 4, 0], // second option runs past
    ];
    for (const options of bad) {
      const buf = withOptions(options);
      expect(checkIpv4(buf, 0, buf.length), JSON.stringify(options)).toBe('ipv4-bad-options');
      expect(reasonOf(() => parseIpv4Repr(new Ipv4Packet(buf)))).toBe('ipv4-bad-options');
    }
  });

  it('reads only the header from buf: the data of a split frame may lie elsewhere', () => {
    const buf = echoPacket();
    expect(checkIpv4(buf.subarray(0, 20), 0, 52)).toBeNull();
    expect(checkIpv4(buf.subarray(0, 20), 0, 51)).toBe('ipv4-truncated');
    expect(checkIpv4(buf.subarray(0, 19), 0, 52)).toBe('ipv4-truncated');
    const opts = withOptions([1, 1, 1, 1], 8); // 24-byte header
    expect(checkIpv4(opts.subarray(0, 24), 0, 32)).toBeNull();
    expect(checkIpv4(opts.subarray(0, 23), 0, 32)).toBe('ipv4-truncated');
    expect(checkIpv4(buf, 60, 10)).toBe('ipv4-truncated');
  });
});

function emitted(repr: Ipv4Repr): Uint8Array {
  const buf = new Uint8Array(20);
  emitIpv4Repr(repr, buf);
  return buf;
}
