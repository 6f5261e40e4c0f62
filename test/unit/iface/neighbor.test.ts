/**
 * The neighbour cache's lifetimes: reachable, stale after reachableMs, refreshed while in use
 * (forgotten when the refresh goes unanswered), and forgotten unused only above the GC
 * threshold (Linux's gc_stale_time and gc_thresh1).
 */
import { describe, expect, it } from 'vitest';
import { NeighborCache } from '../../../src/iface/neighbor.js';

const MAC = Uint8Array.of(2, 0, 0, 0, 0, 1);
const base = 0xc6120000;

describe('neighbour cache lifetimes', () => {
  it('keeps an unused stale entry while the cache is small, and sends to it at once', () => {
    const n = new NeighborCache({ reachableMs: 30_000, staleMs: 60_000, gcThreshold: 4 });
    n.learn(base + 1, MAC, 0, true);
    expect(n.lookup(base + 1, 0)).toEqual(MAC);
    n.poll(30_000);
    expect(n.get(base + 1)?.state).toBe('stale');
    // Unused stale: no timer for it while the cache is under the threshold (nothing to do).
    expect(n.nextDeadline()).toBe(Infinity);
    n.poll(600_000);
    expect(n.get(base + 1)?.state).toBe('stale');
    // Used again: the address is there, and a refresh is asked for.
    expect(n.lookup(base + 1, 600_000)).toEqual(MAC);
    expect(n.poll(600_000).requests).toEqual([base + 1]);
  });

  it('forgets unused stale entries after staleMs once it holds more than the threshold', () => {
    const n = new NeighborCache({ reachableMs: 30_000, staleMs: 60_000, gcThreshold: 2 });
    for (let i = 1; i <= 3; i++) n.learn(base + i, MAC, 0, true);
    n.poll(30_000);
    expect(n.entries().map((e) => e.state)).toEqual(['stale', 'stale', 'stale']);
    expect(n.nextDeadline()).toBe(60_000);
    n.poll(59_999);
    expect(n.size).toBe(3);
    // Down to the threshold, not below: what stays is kept.
    n.poll(60_000);
    expect(n.size).toBe(2);
    expect(n.nextDeadline()).toBe(Infinity);
  });

  it('forgets an address in use whose refresh goes unanswered, and never asks for a deadline already past', () => {
    // A flow still sending to a host that is gone: three refresh requests a second apart, then
    // the entry fails (Linux's PROBE -> FAILED) and the next datagram resolves afresh.
    const n = new NeighborCache({ reachableMs: 30_000, staleMs: 60_000, retransmitMs: 1000, maxRequests: 3 });
    n.learn(base + 1, MAC, 0, true);
    const requests: number[] = [];
    let gone = -1;
    for (let now = 0; now <= 120_000; now += 250) {
      if (n.get(base + 1)) n.lookup(base + 1, now);
      else if (gone < 0) gone = now;
      requests.push(...n.poll(now).requests.map(() => now));
      // What poll had to do it did: the next deadline lies ahead (a past one would spin the timer).
      expect(n.nextDeadline()).toBeGreaterThan(now);
    }
    expect(requests).toEqual([30_000, 31_000, 32_000]);
    expect(gone).toBe(33_250);
    expect(n.stats.resolutionFailures).toBe(1);
  });
});

