/**
 * Bulk transfers from tapstack to a simulated Linux receiver under burst loss (sim.ts), on the
 * virtual clock: the integration test's "bursts" case (impair-loss.test.ts: loss 1% in bursts
 * of 4 frames, both directions) without a kernel, and a single burst in a large window.
 */
import { describe, expect, it } from 'vitest';
import { simulateTransfer } from './sim.js';

const MiB = 1 << 20;

describe('loss recovery under burst loss (simulated Linux receiver)', () => {
  it('repairs a single burst of 10 segments in a large window with one recovery, no RTO and nothing spurious', () => {
    for (const rack of [true, false]) {
      const r = simulateTransfer({ bytes: 4 * MiB, delayMs: 0.25, rateBitsPerSecond: 200e6, dropFrames: Array.from({ length: 10 }, (_, i) => 1500 + i), config: { rack }, audit: true });
      const s = r.stats;
      const why = `rack ${rack}: ${JSON.stringify({ ms: r.ms, rtx: s.retransmits, dup: r.duplicates, rto: s.timeouts, fr: s.fastRetransmits })}`;
      expect(r.done, why).toBe(true);
      expect(r.auditFailures, why).toEqual([]);
      expect(s.timeouts, why).toBe(0);
      expect(s.fastRetransmits, why).toBe(1);
      expect(s.retransmits, why).toBe(10);
      expect(r.duplicates, why).toBe(0);
    }
  });

  // The regression: an RTO over a recovery with segments marked lost and not yet retransmitted
  // counted them twice in RACK's pendingBytes; the count never came back to zero, so every ACK
  // began a "recovery" that resent SND.UNA: 85% of retransmissions spurious, an RTO every
  // 60 segments, 0.2 MB/s (rack: false 3.7 MB/s).
  it.each([
    { seed: 13, delayMs: 0.25, rate: 200e6 },
    { seed: 5, delayMs: 0.25, rate: 0 },
    { seed: 7, delayMs: 2, rate: 100e6 },
  ])('loss 1% in bursts of 4 both ways (seed $seed, delay $delayMs ms): few spurious retransmissions, fewer RTOs than without RACK', ({ seed, delayMs, rate }) => {
    const run = (rack: boolean) => simulateTransfer({ bytes: 8 * MiB, delayMs, rateBitsPerSecond: rate, dataLoss: 0.01, ackLoss: 0.01, burst: 4, seed, config: { rack }, audit: true });
    const r = run(true);
    const plain = run(false);
    const s = r.stats;
    const why = JSON.stringify({ ms: r.ms, dropped: r.dataDropped, rtx: s.retransmits, dup: r.duplicates, rto: s.timeouts, fr: s.fastRetransmits, undos: s.undos, plainMs: plain.ms, plainRto: plain.stats.timeouts });
    expect(r.done, why).toBe(true);
    expect(r.auditFailures.slice(0, 3), why).toEqual([]);
    // Retransmissions: about what was lost, and at most 10% of them duplicates at the receiver.
    expect(s.retransmits, why).toBeLessThan(1.3 * r.dataDropped);
    expect(r.duplicates, why).toBeLessThanOrEqual(0.1 * s.retransmits);
    // A recovery repairs a whole burst, not one segment each.
    expect(s.fastRetransmits, why).toBeLessThan(s.retransmits / 3);
    // RTOs only where a burst took the last ACKs of a recovery or a flight and its probe: at
    // most a quarter of the loss events, and no more than without RACK, which is no faster.
    expect(s.timeouts, why).toBeLessThanOrEqual(r.dataDropped / 4 / 4);
    expect(s.timeouts, why).toBeLessThanOrEqual(plain.stats.timeouts);
    expect(r.ms, why).toBeLessThanOrEqual(1.1 * plain.ms);
  });
});
