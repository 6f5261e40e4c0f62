/**
 * Randomness is injected like the clock (src/random.ts): the same seed opens the same
 * connection (ISN, ephemeral port), another seed another one.
 */
import { describe, expect, it } from 'vitest';
import { SeededRandom, randomSecret } from '../../src/random.js';
import { active, setup } from './tcp/helpers.js';

/** Our SYN's ISN and ephemeral port on a stack of this seed. */
function firstSyn(seed: number): { isn: number; port: number } {
  const h = setup(undefined, { seed });
  const { syn, conn } = active(h);
  return { isn: syn!.seq, port: conn.localPort };
}

describe('injected randomness', () => {
  it('a seed fixes the ISN and the ephemeral port', () => {
    expect(firstSyn(7)).toEqual(firstSyn(7));
    const a = firstSyn(7);
    const b = firstSyn(8);
    expect(a.isn).not.toBe(b.isn);
    expect(a.port).not.toBe(b.port);
  });

  it('seeded generators repeat; secrets are 16 bytes', () => {
    const x = new SeededRandom(42);
    const y = new SeededRandom(42);
    const xs = Array.from({ length: 8 }, () => x.u32());
    expect(xs).toEqual(Array.from({ length: 8 }, () => y.u32()));
    expect(new Set(xs).size).toBe(8);
    expect(randomSecret(new SeededRandom(1))).toHaveLength(16);
    expect(Array.from(randomSecret(new SeededRandom(1)))).not.toEqual(Array.from(randomSecret(new SeededRandom(2))));
  });
});
