import { describe, expect, it } from 'vitest';
import { SynAdmission } from '../../../src/tcp/syn-admission.js';
import { SYN } from './peer.js';
import { Harness, Peer } from './peer.js';
import { listenOn } from './helpers.js';

const IP = 0xc612_0001;

describe('SynAdmission', () => {
  it('answers `budget` new SYNs per batch, remembers the rest, and admits their retransmissions', () => {
    const a = new SynAdmission(undefined, 2, 1 << 12, 7);
    expect([1, 2, 3, 4].map((i) => a.admit(IP, 40000 + i, 80, i * 1000))).toEqual([true, true, false, false]);
    expect(a.stats).toEqual({ synDeferred: 2, synRetransmitsAdmitted: 0 });
    // Same batch, budget gone: a retransmission (same port, same ISN) still gets in...
    expect(a.admit(IP, 40003, 80, 3000)).toBe(true);
    // ...a new SYN from the same port (another ISN) and the same SYN to another port do not.
    expect(a.admit(IP, 40004, 80, 4001)).toBe(false);
    expect(a.admit(IP, 40004, 81, 4000)).toBe(false);
    expect(a.stats.synRetransmitsAdmitted).toBe(1);
    // The slot was cleared: a third copy is a new SYN again (and there is no budget left).
    expect(a.admit(IP, 40003, 80, 3000)).toBe(false);
    a.newBatch();
    expect(a.admit(IP, 40099, 80, 1)).toBe(true);
    expect(a.admit(IP, 40098, 80, 1)).toBe(true);
    expect(a.admit(IP, 40097, 80, 1)).toBe(false);
  });

  it('keeps a fixed table: a flood overwrites old entries, nothing grows', () => {
    const a = new SynAdmission(undefined, 0, 1 << 10, 1);
    expect(a.admit(IP, 50000, 80, 42)).toBe(false);
    for (let i = 0; i < 100_000; i++) a.admit((IP + i) >>> 0, i & 0xffff, 80, i * 7919);
    expect(a.stats.synDeferred).toBeGreaterThan(99_000);
    // 1024 slots, 100k SYNs since: the first one's entry is almost surely gone.
    expect(a.admit(IP, 50000, 80, 42)).toBe(false);
    expect(() => new SynAdmission(undefined, 1, 1000, 1)).toThrow(RangeError);
  });
});

describe('SYN admission in the engine (two receive queues)', () => {
  /** `n` peers' SYNs, as frames, without delivering them. */
  function synFrames(h: Harness, from: number, n: number): { peers: Peer[]; frames: Uint8Array[] } {
    const peers = Array.from({ length: n }, (_, i) => new Peer(h, { port: from + i, ourPort: 80, isn: (from + i) * 1000 }));
    return { peers, frames: peers.map((p) => p.frame({ flags: SYN, opts: { mss: 1460 } })) };
  }
  const answered = (peers: Peer[]) => peers.filter((p) => p.take().length > 0).length;

  it('answers every SYN of a burst that fits one round', () => {
    const h = new Harness({ rxQueues: 2, rxDescriptors: 64 });
    h.resolveArp();
    listenOn(h, 80, 1024);
    const { peers, frames } = synFrames(h, 20000, 63);
    for (const f of frames) h.dev.inject(f);
    h.nic.poll();
    h.settle();
    expect(h.nic.synQueueBacklogged).toBe(false);
    expect(answered(peers)).toBe(63);
    expect(h.tcp.stats.synDeferred).toBe(0);
  });

  it('when the SYN queue is backlogged, answers 16 new SYNs a round and every retransmission', () => {
    const h = new Harness({ rxQueues: 2, rxDescriptors: 64 });
    h.resolveArp();
    listenOn(h, 80, 1024);
    // A full round (64 = the ring, so the budget) of new SYNs: 16 answered, 48 deferred.
    const first = synFrames(h, 20000, 64);
    for (const f of first.frames) h.dev.inject(f);
    h.nic.poll();
    h.settle();
    expect(h.nic.synQueueBacklogged).toBe(true);
    expect(h.nic.stats().rxSynQueueBacklogged).toBe(1);
    expect(answered(first.peers)).toBe(16);
    expect(h.tcp.stats.synDeferred).toBe(48);
    // A second full round: 40 new SYNs first, then the 24 first deferred ones again.
    const fresh = synFrames(h, 30000, 40);
    const deferred = first.peers.filter((p) => p.h.log.every((o) => o.dstPort !== p.port));
    expect(deferred).toHaveLength(48);
    for (const f of fresh.frames) h.dev.inject(f);
    for (const p of deferred.slice(0, 24)) h.dev.inject(p.frame({ flags: SYN, opts: { mss: 1460 } }));
    h.nic.poll();
    h.settle();
    expect(h.nic.synQueueBacklogged).toBe(true);
    expect(answered(fresh.peers)).toBe(16);
    expect(answered(deferred.slice(0, 24))).toBe(24);
    expect(h.tcp.stats.synRetransmitsAdmitted).toBe(24);
    // The queue empties: a round below the budget answers everything again.
    for (const p of deferred.slice(24)) h.dev.inject(p.frame({ flags: SYN, opts: { mss: 1460 } }));
    h.nic.poll();
    h.settle();
    expect(h.nic.synQueueBacklogged).toBe(false);
    expect(answered(deferred.slice(24))).toBe(24);
  });

  it('drains the main queue before the SYN queue, and the main queue completely', () => {
    const h = new Harness({ rxQueues: 2, rxDescriptors: 64 });
    h.resolveArp();
    listenOn(h, 80, 1024);
    const { frames } = synFrames(h, 20000, 200);
    for (const f of frames) h.dev.inject(f);
    // 150 frames for the main queue: pure ACKs to nowhere, each answered by a RST.
    const stray = new Peer(h, { port: 999, ourPort: 81, isn: 5 });
    for (let i = 0; i < 150; i++) h.dev.inject(stray.frame({ flags: 0x10, seq: 5 + i, ack: 1 }));
    expect([h.dev.queue.length, h.dev.synQueue.length]).toEqual([150, 200]);
    h.nic.poll();
    h.settle();
    expect([h.dev.queue.length, h.dev.synQueue.length]).toEqual([0, 136]);
    expect(stray.take()).toHaveLength(150);
  });
});
