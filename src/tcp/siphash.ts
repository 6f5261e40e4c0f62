/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed
 * hash Linux uses for SYN cookies and ISNs (net/core/secure_seq.c, net/ipv4/syncookies.c).
 * It is a PRF for short inputs with a 128-bit key, which is what RFC 6528 section 3 and
 * RFC 4987 section 3.6 ask of the function behind an ISN or a cookie, and it costs a few hundred
 * integer operations: under a SYN flood one HMAC-SHA-256 per cookie (node:crypto, with its
 * allocations) cost more than reading and answering the SYN.
 *
 * JavaScript has no 64-bit integers that are cheap, so each 64-bit lane is a pair of 32-bit
 * halves in a typed array; nothing is allocated per call.
 */
import { createHash } from 'node:crypto';

/** Lane layout in {@link SipHash.v}: v0 hi, v0 lo, v1 hi, v1 lo, v2 hi, v2 lo, v3 hi, v3 lo. */
const V0H = 0,
  V0L = 1,
  V1H = 2,
  V1L = 3,
  V2H = 4,
  V2L = 5,
  V3H = 6,
  V3L = 7;

export class SipHash {
  /** The key as k0 hi, k0 lo, k1 hi, k1 lo (little-endian 64-bit words of the 16 key bytes). */
  private readonly k = new Uint32Array(4);
  private readonly v = new Uint32Array(8);
  /** High 32 bits of the last {@link hash} (its return value is the low 32). */
  high = 0;

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`SipHash: the key is 16 bytes, not ${key.length}`);
    this.k[0] = le32(key, 4);
    this.k[1] = le32(key, 0);
    this.k[2] = le32(key, 12);
    this.k[3] = le32(key, 8);
  }

  /** SipHash-2-4 of `msg[0, len)`: returns the low 32 bits of the 64-bit result, sets {@link high}. */
  hash(msg: Uint8Array, len = msg.length): number {
    const v = this.v;
    const k = this.k;
    // "somepseudorandomlygeneratedbytes"
    v[V0H] = k[0]! ^ 0x736f6d65;
    v[V0L] = k[1]! ^ 0x70736575;
    v[V1H] = k[2]! ^ 0x646f7261;
    v[V1L] = k[3]! ^ 0x6e646f6d;
    v[V2H] = k[0]! ^ 0x6c796765;
    v[V2L] = k[1]! ^ 0x6e657261;
    v[V3H] = k[2]! ^ 0x74656462;
    v[V3L] = k[3]! ^ 0x79746573;
    const end = len - (len & 7);
    for (let i = 0; i < end; i += 8) this.compress(le32(msg, i + 4), le32(msg, i));
    // The last word: the remaining 0..7 bytes, and len mod 256 in its top byte.
    let lo = 0;
    let hi = (len & 0xff) << 24;
    for (let i = end; i < len; i++) {
      const b = msg[i]!;
      const s = (i - end) * 8;
      if (s < 32) lo |= b << s;
      else hi |= b << (s - 32);
    }
    this.compress(hi >>> 0, lo >>> 0);
    v[V2L] = v[V2L]! ^ 0xff;
    this.round();
    this.round();
    this.round();
    this.round();
    this.high = (v[V0H]! ^ v[V1H]! ^ v[V2H]! ^ v[V3H]!) >>> 0;
    return (v[V0L]! ^ v[V1L]! ^ v[V2L]! ^ v[V3L]!) >>> 0;
  }

  /** One message word m: v3 ^= m, two SipRounds, v0 ^= m. */
  private compress(mh: number, ml: number): void {
    const v = this.v;
    v[V3H] = v[V3H]! ^ mh;
    v[V3L] = v[V3L]! ^ ml;
    this.round();
    this.round();
    v[V0H] = v[V0H]! ^ mh;
    v[V0L] = v[V0L]! ^ ml;
  }

  /** SipRound, on 32-bit halves. */
  private round(): void {
    const v = this.v;
    let v0h = v[V0H]!,
      v0l = v[V0L]!,
      v1h = v[V1H]!,
      v1l = v[V1L]!,
      v2h = v[V2H]!,
      v2l = v[V2L]!,
      v3h = v[V3H]!,
      v3l = v[V3L]!;
    let t: number, u: number;
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    t = v0l + v1l;
    v0h = (v0h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = t >>> 0;
    t = (v1h << 13) | (v1l >>> 19);
    u = (v1l << 13) | (v1h >>> 19);
    v1h = (t ^ v0h) >>> 0;
    v1l = (u ^ v0l) >>> 0;
    t = v0h;
    v0h = v0l;
    v0l = t;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    t = v2l + v3l;
    v2h = (v2h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = t >>> 0;
    t = (v3h << 16) | (v3l >>> 16);
    u = (v3l << 16) | (v3h >>> 16);
    v3h = (t ^ v2h) >>> 0;
    v3l = (u ^ v2l) >>> 0;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    t = v0l + v3l;
    v0h = (v0h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v0l = t >>> 0;
    t = (v3h << 21) | (v3l >>> 11);
    u = (v3l << 21) | (v3h >>> 11);
    v3h = (t ^ v0h) >>> 0;
    v3l = (u ^ v0l) >>> 0;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    t = v2l + v1l;
    v2h = (v2h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
    v2l = t >>> 0;
    t = (v1h << 17) | (v1l >>> 15);
    u = (v1l << 17) | (v1h >>> 15);
    v1h = (t ^ v2h) >>> 0;
    v1l = (u ^ v2l) >>> 0;
    t = v2h;
    v2h = v2l;
    v2l = t;
    v[V0H] = v0h;
    v[V0L] = v0l;
    v[V1H] = v1h;
    v[V1L] = v1l;
    v[V2H] = v2h;
    v[V2L] = v2l;
    v[V3H] = v3h;
    v[V3L] = v3l;
  }
}

function le32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/**
 * A SipHash key (16 bytes) from a secret of any length: the first 16 bytes of its SHA-256,
 * computed once. Callers may hand in passphrase-like secrets; every bit of them counts.
 */
export function sipKey(secret: Uint8Array): Uint8Array {
  return createHash('sha256').update(secret).digest().subarray(0, 16);
}
