import { describe, it, expect } from 'vitest';
import {
  completePartialChecksum,
  fillTransportChecksum,
  foldChecksum,
  internetChecksum,
  L4Checksum,
  onesComplementSum,
  pseudoHeaderSum,
  updateChecksum16,
  verifyTransportChecksum,
} from '../../../src/wire/checksum.js';
import { parseIpv4 } from '../../../src/wire/addr.js';
import { WireError } from '../../../src/wire/errors.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../../../src/wire/ipv4.js';
import { UDP_FRAME, hex, mulberry32, randomBytes, randomInt, referenceChecksum } from './helpers.js';

const SRC = parseIpv4('198.18.7.1');
const DST = parseIpv4('198.18.7.2');
const UDP_START = 34; // 14 + 20

describe('onesComplementSum / internetChecksum', () => {
  it('matches the RFC 1071 section 3 example', () => {
    const b = hex('0001 f203 f4f5 f6f7');
    expect(onesComplementSum(b, 0, b.length)).toBe(0xddf2);
    expect(internetChecksum(b, 0, b.length)).toBe(0x220d);
  });

  it('pads an odd final byte with zero (RFC 1071 4.1)', () => {
    const b = hex('0001 f203 f4f5 f6f7 ab');
    expect(internetChecksum(b, 0, b.length)).toBe(referenceChecksum(b));
    const padded = hex('0001 f203 f4f5 f6f7 ab00');
    expect(internetChecksum(b, 0, 9)).toBe(internetChecksum(padded, 0, 10));
  });

  it('gives the same result at any start offset, odd or even', () => {
    const rand = mulberry32(1);
    const data = randomBytes(rand, 1001);
    const want = referenceChecksum(data);
    for (let off = 0; off < 8; off++) {
      const buf = randomBytes(rand, off + data.length + 5);
      buf.set(data, off);
      expect(internetChecksum(buf, off, off + data.length)).toBe(want);
    }
  });

  it('sums views into two buffers in turn, at every alignment of view and range (the 32-bit word path)', () => {
    const rand = mulberry32(4);
    const bufs = [randomBytes(rand, 9000), randomBytes(rand, 5000)];
    for (let trial = 0; trial < 400; trial++) {
      const whole = bufs[trial & 1]!;
      const view = whole.subarray(randomInt(rand, 0, 7));
      const start = randomInt(rand, 0, 9);
      const end = start + randomInt(rand, 0, Math.min(4000, view.length - start));
      const init = randomInt(rand, 0, 0x3fffffff);
      const want = referenceChecksum(view.subarray(start, end));
      // `initial` added as one more word, folded: the same checksum as the range alone plus it.
      const got = foldChecksum(onesComplementSum(view, start, end, init));
      let ref = (~want & 0xffff) + init;
      while (ref > 0xffff) ref = (ref % 0x10000) + Math.floor(ref / 0x10000);
      expect(got).toBe(~ref & 0xffff);
    }
  });

  it('matches the reference over random lengths, including empty and 64 KiB of 0xff', () => {
    const rand = mulberry32(2);
    for (let n = 0; n < 200; n++) {
      const b = randomBytes(rand, n);
      expect(internetChecksum(b, 0, n)).toBe(referenceChecksum(b));
    }
    // 9 MiB and more: more than one chunk of 2^20 words between folds.
    for (const n of [65535, 65536, 100001, 9 * 1024 * 1024 + 6]) {
      const ones = new Uint8Array(n).fill(0xff);
      expect(internetChecksum(ones, 0, n)).toBe(referenceChecksum(ones));
      const r = randomBytes(rand, n);
      expect(internetChecksum(r, 0, n)).toBe(referenceChecksum(r));
    }
    expect(internetChecksum(new Uint8Array(0), 0, 0)).toBe(0xffff);
  });

  it('chains through `initial` over even-length pieces to the one-shot sum', () => {
    const rand = mulberry32(3);
    for (let trial = 0; trial < 50; trial++) {
      const b = randomBytes(rand, randomInt(rand, 0, 3000));
      const cut1 = randomInt(rand, 0, b.length >> 1) & ~1;
      const cut2 = cut1 + (randomInt(rand, 0, b.length - cut1) & ~1);
      let sum = onesComplementSum(b, 0, cut1);
      sum = onesComplementSum(b, cut1, cut2, sum);
      sum = onesComplementSum(b, cut2, b.length, sum);
      expect(sum).toBe(onesComplementSum(b, 0, b.length));
    }
  });

  it('returns folded 16-bit sums and verifies to zero over a filled field', () => {
    const b = hex('4500 0034 0f27 4000 4001 0000 c612 0701 c612 0702');
    const sum = onesComplementSum(b, 0, b.length);
    expect(sum).toBeLessThanOrEqual(0xffff);
    const c = foldChecksum(sum);
    expect(c).toBe(0x917a); // the captured header's checksum
    b[10] = c >>> 8;
    b[11] = c & 0xff;
    expect(internetChecksum(b, 0, b.length)).toBe(0);
  });

  it('folds unfolded sums with end-around carry', () => {
    expect(foldChecksum(0x2ddf0)).toBe(0x220d);
    expect(foldChecksum(0)).toBe(0xffff);
    expect(foldChecksum(0xffff)).toBe(0);
    expect(foldChecksum(0x1fffe)).toBe(0);
  });
});

describe('pseudo header and transport checksums', () => {
  it('sums the RFC 9293 3.1 pseudo header: the captured partial UDP checksum field', () => {
    // c612 + 0701 + c612 + 0702 + 0011 + 0016 = 0x19a4e -> 0x9a4f
    expect(pseudoHeaderSum(SRC, DST, IPPROTO_UDP, 22)).toBe(0x9a4f);
    expect((UDP_FRAME[UDP_START + 6]! << 8) | UDP_FRAME[UDP_START + 7]!).toBe(0x9a4f);
  });

  it('fills and verifies a UDP checksum (the captured datagram, completed: 0x351d)', () => {
    const f = UDP_FRAME.slice();
    expect(verifyTransportChecksum(f, UDP_START, f.length, SRC, DST, IPPROTO_UDP)).toBe(false);
    fillTransportChecksum(f, UDP_START, f.length, SRC, DST, IPPROTO_UDP, 6);
    expect((f[UDP_START + 6]! << 8) | f[UDP_START + 7]!).toBe(0x351d);
    expect(verifyTransportChecksum(f, UDP_START, f.length, SRC, DST, IPPROTO_UDP)).toBe(true);
    expect(verifyTransportChecksum(f, UDP_START, f.length, DST, SRC, IPPROTO_TCP)).toBe(false);
    f[f.length - 1] ^= 1;
    expect(verifyTransportChecksum(f, UDP_START, f.length, SRC, DST, IPPROTO_UDP)).toBe(false);
  });

  it('stores a computed zero as 0xffff (RFC 768), which still verifies', () => {
    // Choose the last word so that the whole sum is 0xffff: the checksum would be 0.
    const seg = new Uint8Array(12);
    seg[0] = 0x12;
    seg[1] = 0x34;
    const partial = onesComplementSum(seg, 0, seg.length, pseudoHeaderSum(SRC, DST, IPPROTO_UDP, 12));
    const last = ~partial & 0xffff;
    seg[10] = last >>> 8;
    seg[11] = last & 0xff;
    fillTransportChecksum(seg, 0, 12, SRC, DST, IPPROTO_UDP, 6);
    expect((seg[6]! << 8) | seg[7]!).toBe(0xffff);
    expect(verifyTransportChecksum(seg, 0, 12, SRC, DST, IPPROTO_UDP)).toBe(true);
  });
});

describe('completePartialChecksum (virtio-net NEEDS_CSUM)', () => {
  it('completes the captured partial UDP checksum to the full computation', () => {
    const partial = UDP_FRAME.slice();
    completePartialChecksum(partial, UDP_START, 6);
    const full = UDP_FRAME.slice();
    fillTransportChecksum(full, UDP_START, full.length, SRC, DST, IPPROTO_UDP, 6);
    expect(partial).toEqual(full);
    expect((partial[UDP_START + 6]! << 8) | partial[UDP_START + 7]!).toBe(0x351d);
  });

  it('equals a full computation for random TCP segments of every parity (csum_start 34, offset 16)', () => {
    const rand = mulberry32(4);
    for (let trial = 0; trial < 100; trial++) {
      const segLen = randomInt(rand, 20, 2000);
      const frame = randomBytes(rand, 34 + segLen);
      const full = frame.slice();
      fillTransportChecksum(full, 34, full.length, SRC, DST, IPPROTO_TCP, 16);
      const pseudo = pseudoHeaderSum(SRC, DST, IPPROTO_TCP, segLen);
      frame[34 + 16] = pseudo >>> 8;
      frame[34 + 17] = pseudo & 0xff;
      completePartialChecksum(frame, 34, 16);
      expect(frame).toEqual(full);
      expect(verifyTransportChecksum(frame, 34, frame.length, SRC, DST, IPPROTO_TCP)).toBe(true);
    }
  });

  it('honours an explicit end and rejects offsets outside the frame', () => {
    const f = new Uint8Array(60);
    expect(() => completePartialChecksum(f, 34, 16, 52)).not.toThrow();
    for (const [start, off, end] of [
      [34, 16, 51],
      [59, 0, 60],
      [-1, 0, 60],
      [0, -1, 60],
      [0, 0, 61],
    ] as const) {
      const err = (() => {
        try {
          completePartialChecksum(f, start, off, end);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(err).toBeInstanceOf(WireError);
      expect((err as WireError).reason).toBe('vnet-bad-csum-offsets');
    }
  });
});

describe('updateChecksum16 (RFC 1624)', () => {
  it('gives 0x0000 for the RFC 1624 section 4 example, where eqn. 2 gives 0xffff', () => {
    expect(updateChecksum16(0xdd2f, 0x5555, 0x3285)).toBe(0x0000);
  });

  it('matches recomputation for random single-word changes', () => {
    const rand = mulberry32(5);
    for (let trial = 0; trial < 500; trial++) {
      const b = randomBytes(rand, 2 * randomInt(rand, 1, 40));
      const before = internetChecksum(b, 0, b.length);
      const at = 2 * randomInt(rand, 0, b.length / 2 - 1);
      const oldWord = (b[at]! << 8) | b[at + 1]!;
      const newWord = randomInt(rand, 0, 0xffff);
      b[at] = newWord >>> 8;
      b[at + 1] = newWord & 0xff;
      const updated = updateChecksum16(before, oldWord, newWord);
      // One's complement has two zeros: compare as sums that verify.
      const after = internetChecksum(b, 0, b.length);
      expect(updated === after || (updated ^ after) === 0xffff).toBe(true);
      const withField = new Uint8Array(b.length + 2);
      withField.set(b);
      withField[b.length] = updated >>> 8;
      withField[b.length + 1] = updated & 0xff;
      expect(internetChecksum(withField, 0, withField.length)).toBe(0);
    }
  });
});

describe('L4Checksum', () => {
  it('summed over parts of any length equals the checksum of the whole, stored as computed (seeded)', () => {
    const rand = mulberry32(41);
    const acc = new L4Checksum();
    for (let round = 0; round < 200; round++) {
      const seg = randomBytes(rand, randomInt(rand, 20, 3000));
      seg[16] = 0;
      seg[17] = 0;
      const want = foldChecksum(onesComplementSum(seg, 0, seg.length, pseudoHeaderSum(SRC, DST, IPPROTO_TCP, seg.length)));
      acc.begin(pseudoHeaderSum(SRC, DST, IPPROTO_TCP, seg.length));
      let at = 0;
      while (at < seg.length) {
        const end = Math.min(seg.length, at + randomInt(rand, 1, 700));
        acc.add(seg, at, end);
        at = end;
      }
      acc.store(seg, 16);
      expect(seg[16]! * 256 + seg[17]!).toBe(want);
      expect(verifyTransportChecksum(seg, 0, seg.length, SRC, DST, IPPROTO_TCP)).toBe(true);
    }
  });
});
