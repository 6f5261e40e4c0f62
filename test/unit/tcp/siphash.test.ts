import { describe, expect, it } from 'vitest';
import { SipHash, sipKey } from '../../../src/tcp/siphash.js';

/** SipHash-2-4 with key 00..0f over messages 00, 01, .. (len - 1), as 64-bit numbers. */
const VECTORS: [number, string][] = [
  // The paper's appendix A (len 15) and the first entries of the reference vectors.
  [0, '726fdb47dd0e0e31'],
  [1, '74f839c593dc67fd'],
  [15, 'a129ca6149be45e5'],
  // From Rust's std SipHasher (SipHash-2-4) with the same key: every tail length class.
  [2, '0d6c8009d9a94f5a'],
  [7, 'ab0200f58b01d137'],
  [8, '93f5f5799a932462'],
  [9, '9e0082df0ba9e4b0'],
  [16, '3f2acc7f57c29bdb'],
  [21, 'd0f2cbb02e3b67c7'],
  [24, 'b8ad50c6f649af94'],
  [63, '958a324ceb064572'],
];

describe('SipHash-2-4', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  const sip = new SipHash(key);

  it.each(VECTORS)('matches the reference for a %i-byte message', (len, hex) => {
    const msg = Uint8Array.from({ length: len }, (_, i) => i);
    const lo = sip.hash(msg);
    expect(sip.high.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')).toBe(hex);
  });

  it('hashes only the first len bytes of a longer buffer', () => {
    const msg = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(sip.hash(msg, 15)).toBe(0x49be45e5);
  });

  it('depends on every key bit', () => {
    const msg = new Uint8Array(21);
    const base = new SipHash(key).hash(msg);
    for (let bit = 0; bit < 128; bit++) {
      const k = key.slice();
      k[bit >> 3]! ^= 1 << (bit & 7);
      expect(new SipHash(k).hash(msg)).not.toBe(base);
    }
  });

  it('takes a 16-byte key only; sipKey derives one from any secret', () => {
    expect(() => new SipHash(new Uint8Array(8))).toThrow(RangeError);
    expect(sipKey(new Uint8Array(32)).length).toBe(16);
    expect(sipKey(Uint8Array.of(1))).not.toEqual(sipKey(Uint8Array.of(2)));
  });
});
