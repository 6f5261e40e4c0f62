/** The out-of-order queue on its own: holding, delivery order, bounds, SACK blocks, and its records reused. */
import { describe, expect, it } from 'vitest';
import { Arena, PAGE_SIZE } from '../../../src/mem/arena.js';
import { PagePool } from '../../../src/mem/page-pool.js';
import { DEFAULT_TCP_CONFIG } from '../../../src/tcp/config.js';
import { OutOfOrderQueue } from '../../../src/tcp/out-of-order.js';
import type { TcpDropReason } from '../../../src/tcp/reasons.js';
import { BytesPayload } from './fake-host.js';

function queue(maxOutOfOrderBytes = 1 << 20) {
  const host = { config: { ...DEFAULT_TCP_CONFIG, maxOutOfOrderBytes }, stats: { outOfOrderSegments: 0, outOfOrderBytes: 0, outOfOrderDropped: 0 }, oooBytesTotal: 0 };
  const drops: TcpDropReason[] = [];
  const q = new OutOfOrderQueue(host, new PagePool(new Arena(16 * PAGE_SIZE), 16), (r) => drops.push(r));
  return { q, host, drops };
}

const bytes = (n: number, v: number) => new BytesPayload(new Uint8Array(n).fill(v));

describe('OutOfOrderQueue', () => {
  it('gives held segments back in sequence order once RCV.NXT reaches them', () => {
    const { q, host } = queue();
    q.hold(300, bytes(100, 3), 0, 100, false, 4);
    q.hold(100, bytes(100, 1), 0, 100, false, 4);
    expect(q.bytes).toBe(200);
    expect(q.copiedBytes).toBe(200); // a plain byte payload gives no pages: copies
    expect(host.oooBytesTotal).toBe(200);
    expect(q.takeReady(0)).toBeNull();
    const a = q.takeReady(100)!;
    expect([a.seq, a.len]).toEqual([100, 100]);
    const out = new Uint8Array(100);
    q.payloadOf(a).copyOut(0, 100, out, 0);
    expect(out.every((b) => b === 1)).toBe(true);
    q.release(a);
    expect(q.takeReady(200)).toBeNull();
    expect(q.takeReady(300)!.seq).toBe(300);
    expect(q.bytes).toBe(0);
    expect(host.oooBytesTotal).toBe(0);
  });

  it('puts the newest block first in the SACK blocks (RFC 2018 4), merged with what it touches', () => {
    const { q } = queue();
    q.hold(100, bytes(100, 1), 0, 100, false, 3);
    q.hold(400, bytes(100, 1), 0, 100, false, 3);
    q.hold(200, bytes(100, 1), 0, 100, false, 3);
    expect(q.sackCount).toBe(2);
    expect([...q.sackBlocks.subarray(0, 4)]).toEqual([100, 300, 400, 500]);
  });

  it('drops and counts a segment beyond its bound', () => {
    const { q, host, drops } = queue(150);
    q.hold(100, bytes(100, 1), 0, 100, false, 4);
    q.hold(300, bytes(100, 1), 0, 100, false, 4);
    expect(q.bytes).toBe(100);
    expect(drops).toEqual(['tcp-ooo-limit']);
    expect(host.stats.outOfOrderDropped).toBe(1);
  });

  it('uses a released record again: no allocation per held segment', () => {
    const { q } = queue();
    q.hold(100, bytes(100, 1), 0, 100, false, 4);
    const first = q.takeReady(100)!;
    q.release(first);
    q.hold(500, bytes(10, 2), 0, 10, true, 4);
    const second = q.takeReady(500)!;
    expect(second).toBe(first);
    expect([second.seq, second.len, second.fin]).toEqual([500, 10, true]);
  });
});
