/**
 * The ACK policy within one receive batch (RFC 5681 4.2, RFC 1122 4.2.3.2): a wake-up of the
 * NIC may deliver hundreds of segments. The in-order segments of one batch count as one, as
 * Linux counts a GRO super-segment: two full-sized segments or more get one ACK, at the batch's
 * end. An ACK still leaves at once for every out-of-order segment (a duplicate ACK, with the
 * SACK blocks as they stand then) and for a segment that fills a hole; less than two full-sized
 * segments of in-order data wait for the delayed-ACK timer.
 */
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/wire/seq.js';
import { desc, passive, setup } from './helpers.js';
import { ACK, type Harness, type Out, pattern, type Peer, PSH } from './peer.js';

const SEG = 1448;

/** The SACK blocks of a segment as [left, right] pairs. */
function sackBlocks(s: Out): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < s.options.sackCount; i++) out.push([s.options.sack[2 * i]!, s.options.sack[2 * i + 1]!]);
  return out;
}

/** Segments of `len` bytes at the given offsets from `base`, delivered in one receive batch. */
function batch(h: Harness, p: Peer, base: number, offsets: number[], len = SEG): void {
  const frames = offsets.map((o) => p.frame({ flags: ACK | PSH, seq: seqAdd(base, o), payload: pattern(len, o) }));
  h.dev.deliver(...frames);
  h.settle();
}

describe('ACK policy within one receive batch', () => {
  it('ACKs the in-order segments of one batch once, at its end, without waiting for the timer', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 1000 });
    const base = 1001;
    const t0 = h.now;
    batch(h, peer, base, [0, 1, 2, 3, 4, 5].map((i) => i * SEG));
    const a = peer.one();
    expect(desc(a)).toEqual({ flags: 'ACK', seq: peer.rcv, ack: base + 6 * SEG, len: 0 });
    expect(a.at).toBe(t0);
    // Segment by segment that was three ACKs: two were saved.
    expect(h.tcp.stats.acksCoalesced).toBe(2);
    // An odd last segment rides on the batch's ACK, and two more batches of two get one each.
    batch(h, peer, base, [6, 7, 8].map((i) => i * SEG));
    expect(peer.take().map((s) => s.ack)).toEqual([base + 9 * SEG]);
    batch(h, peer, base, [9, 10].map((i) => i * SEG));
    batch(h, peer, base, [11, 12].map((i) => i * SEG));
    expect(peer.take().map((s) => s.ack)).toEqual([base + 11 * SEG, base + 13 * SEG]);
    expect(h.tcp.stats.acksCoalesced).toBe(2);
    expect(h.tcp.stats.delayedAcks).toBe(0);
  });

  it('delays the ACK of a lone segment until the timer', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 1000 });
    const t0 = h.now;
    batch(h, peer, 1001, [0]);
    h.tick(39);
    peer.none();
    h.tick(1);
    const a = peer.one();
    expect(a.ack).toBe(1001 + SEG);
    expect(a.at).toBe(t0 + 40);
    expect(h.tcp.stats.delayedAcks).toBe(1);
  });

  it('sends a duplicate ACK at once for every out-of-order segment, each with the SACK blocks of that moment', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 1000 });
    const base = 1001;
    // Segment 0 arrives; 1, 3 and 5 are lost: 2, 4, 6 come out of order in the same batch.
    batch(h, peer, base, [0, 2, 4, 6].map((i) => i * SEG));
    const acks = peer.take();
    expect(acks.map((a) => a.ack)).toEqual([base + SEG, base + SEG, base + SEG]);
    const blk = (i: number): [number, number] => [base + i * SEG, base + (i + 1) * SEG];
    expect(acks.map(sackBlocks)).toEqual([[blk(2)], [blk(4), blk(2)], [blk(6), blk(4), blk(2)]]);
  });

  it('ACKs at once for each segment that fills all or part of a hole, in the middle of a batch', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 1000 });
    const base = 1001;
    batch(h, peer, base, [2 * SEG]); // out of order: a duplicate ACK
    expect(peer.take().map((a) => a.ack)).toEqual([base]);
    // One batch: the hole [0, 2) filled by two segments, then one more in order.
    batch(h, peer, base, [0, SEG, 3 * SEG]);
    const acks = peer.take();
    // The first fills part of the hole, the second the rest (RFC 5681 4.2: "all or part of a
    // gap"): an ACK at once after each. The third is one segment in order: it waits.
    expect(acks.map((a) => a.ack)).toEqual([base + SEG, base + 3 * SEG]);
    expect(sackBlocks(acks[0]!)).toEqual([[base + 2 * SEG, base + 3 * SEG]]);
    expect(sackBlocks(acks[1]!)).toEqual([]);
    h.tick(40);
    expect(peer.one().ack).toBe(base + 4 * SEG);
    expect(rec.received.length).toBe(4 * SEG);
  });

  it('ACKs a small segment that fills the hole at once; small in-order data waits', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 1000 });
    const base = 1001;
    const t0 = h.now;
    batch(h, peer, base, [0, 200], 100); // in order (delayed), then out of order (at once)
    const dup = peer.one();
    expect(dup.ack).toBe(base + 100);
    expect(sackBlocks(dup)).toEqual([[base + 200, base + 300]]);
    batch(h, peer, base, [100], 100); // fills the hole: 100 bytes pending, far below two segments
    const a = peer.one();
    expect(a.ack).toBe(base + 300);
    expect(a.at).toBe(t0);
    batch(h, peer, base, [300], 100);
    peer.none();
    h.tick(40);
    expect(peer.one().ack).toBe(base + 400);
    expect(rec.received.length).toBe(400);
  });
});
