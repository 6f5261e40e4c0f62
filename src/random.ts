/**
 * Randomness as the stack sees it, injected like the {@link Clock}: the ISN and SYN-cookie
 * secrets, the first ephemeral port, the first IP identification, a MAC address when none is
 * given, the SYN-admission table's seed. The stack is given {@link systemRandom}; tests give a
 * {@link SeededRandom} and get the same connections every run.
 */
import { randomFillSync } from 'node:crypto';

export interface Random {
  /** 32 random bits, as an unsigned integer. */
  u32(): number;
  /** Fill `buf` with random bytes (secrets). */
  fill(buf: Uint8Array): void;
}

/** The operating system's randomness (node:crypto). */
export const systemRandom: Random = {
  u32: () => randomFillSync(new Uint32Array(1))[0]!,
  fill: (buf) => {
    randomFillSync(buf);
  },
};

/**
 * A deterministic generator for tests (xorshift32; not for secrets anyone relies on): the same
 * seed gives the same sequence.
 */
export class SeededRandom implements Random {
  private x: number;

  constructor(seed: number) {
    this.x = seed >>> 0 || 0x9e3779b9;
  }

  u32(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }

  fill(buf: Uint8Array): void {
    for (let i = 0; i < buf.length; i++) buf[i] = this.u32() & 0xff;
  }
}

/** A 16-byte secret (a SipHash-2-4 key) from `random`. */
export function randomSecret(random: Random): Uint8Array {
  const key = new Uint8Array(16);
  random.fill(key);
  return key;
}
