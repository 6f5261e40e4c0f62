import { describe, expect, it } from 'vitest';
import { AdaptiveSplit, SPLIT_TCP_TIMESTAMPS, SPLIT_UDP } from '../../../firmware/split-policy.js';

const TCP = 6;
const UDP = 17;

describe('adaptive split, per protocol', () => {
  it('learns UDP headers (42) when UDP carries the payload', () => {
    const p = new AdaptiveSplit();
    expect(p.nextSize()).toBe(SPLIT_TCP_TIMESTAMPS);
    for (let i = 0; i < 128; i++) p.observe(SPLIT_UDP, UDP, 4096);
    expect(p.nextSize()).toBe(SPLIT_UDP);
  });

  it('a trickle of small datagrams does not move it from a bulk TCP transfer, though they are most of the frames', () => {
    const p = new AdaptiveSplit();
    for (let i = 0; i < 640; i++) {
      if (i % 4 === 0) p.observe(SPLIT_TCP_TIMESTAMPS, TCP, 65000);
      else p.observe(SPLIT_UDP, UDP, 60);
    }
    expect(p.nextSize()).toBe(SPLIT_TCP_TIMESTAMPS);
  });

  it('follows the bytes back to TCP when the bulk moves there', () => {
    const p = new AdaptiveSplit();
    for (let i = 0; i < 128; i++) p.observe(SPLIT_UDP, UDP, 8192);
    expect(p.nextSize()).toBe(SPLIT_UDP);
    for (let i = 0; i < 256; i++) p.observe(54, TCP, 1448);
    expect(p.nextSize()).toBe(54);
  });
});
