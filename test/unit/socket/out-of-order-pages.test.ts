/**
 * The out-of-order queue holds the pages out-of-order data came in, where it lay page-aligned in
 * whole pages (docs/ARCHITECTURE.md sections 3 and 6): when the hole fills, those pages go to the
 * reader by index, counted as flipped, never copied. Held pages are owner Stack, out of the NIC's
 * ring, counted by the receive memory, and freed when the connection ends or the data is not
 * delivered.
 */
import { describe, expect, it } from 'vitest';
import { PageOwner } from '../../../src/mem/page-pool.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { nicPages, openSocket, readAll } from './helpers.js';
import { ACK, concat, pattern, PSH } from '../tcp/peer.js';

const SEG = 1448;


describe('out-of-order data held in pages', () => {
  it('delivers out-of-order segments without a copy once the hole fills: flipped, the very NIC pages', () => {
    const { h, lender, peer, sock, conn } = openSocket();
    const posted = nicPages(h);
    const stackBefore = h.nic.pool.stats().stack;
    const data = [0, 1, 2].map((i) => pattern(SEG, i * SEG));
    const s0 = peer.snd;
    // Segments 2 and 3 first: held, one page each, taken out of the NIC's ring.
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, 2 * SEG), payload: data[2]! });
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, SEG), payload: data[1]! });
    expect(sock.pagesAvailable).toBe(0);
    expect(h.tcp.stats.outOfOrderSegments).toBe(2);
    expect(h.nic.pool.stats().stack).toBe(stackBefore + 2);
    expect(h.nic.pool.stats().nic).toBe(h.nic.rx.size * h.nic.rx.maxPages); // the ring was refilled
    // The hole fills: all three go to the reader by index.
    peer.send({ flags: ACK | PSH, seq: s0, payload: data[0]! });
    peer.snd = seqAdd(s0, 3 * SEG);
    expect(conn.rcvNxt).toBe(peer.snd);
    const got = readAll(sock, lender);
    expect(got.map((p) => p.data)).toEqual(data);
    for (const p of got) {
      expect(posted.has(p.id)).toBe(true); // each was a NIC receive page
      expect(p.buffer).toBe(h.nic.pool.view(p.id));
    }
    expect(lender.stats.flippedBytes).toBe(3 * SEG);
    expect(lender.stats.flippedPages).toBe(3);
    expect(lender.stats.copiedBytes).toEqual({});
    expect(lender.stats.flippedBytes).toBe(h.tcp.stats.bytesIn);
    lender.free(got);
    expect(h.nic.pool.stats().stack).toBe(stackBefore);
  });

  it('counts held pages against receive memory', () => {
    const { h, peer } = openSocket();
    const before = h.tcp.rxPoolPages();
    const s0 = peer.snd;
    for (let i = 1; i <= 4; i++) peer.send({ flags: ACK | PSH, seq: seqAdd(s0, i * SEG), payload: pattern(SEG, i) });
    // Four pages left the free list (the ring's refills): received data may take four fewer.
    expect(h.tcp.rxPoolPages()).toBe(before - 4);
  });

  it('a held segment whose start was already received is copied from its pages (unaligned), and its pages freed', () => {
    const { h, lender, peer, sock } = openSocket();
    const stackBefore = h.nic.pool.stats().stack;
    const s0 = peer.snd;
    const all = pattern(1000 + SEG, 0);
    // Held: [1000, 2448). Then [0, 1448) arrives in order: the held segment's first 448 bytes
    // are old, so the rest starts mid-page.
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, 1000), payload: all.subarray(1000) });
    peer.send({ flags: ACK | PSH, seq: s0, payload: all.subarray(0, SEG) });
    peer.snd = seqAdd(s0, 1000 + SEG);
    const got = readAll(sock, lender);
    expect(concat(got.map((p) => p.data))).toEqual(all);
    expect(lender.stats.flippedBytes).toBe(SEG);
    expect(lender.stats.copiedBytes).toEqual({ unaligned: 1000 });
    lender.free(got);
    expect(h.nic.pool.stats().stack).toBe(stackBefore);
  });

  it('frees held pages when the connection ends before the hole fills', () => {
    const { h, peer, sock } = openSocket();
    const stackBefore = h.nic.pool.stats().stack;
    const s0 = peer.snd;
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, SEG), payload: pattern(SEG) });
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, 2 * SEG), payload: pattern(SEG) });
    expect(h.nic.pool.stats().stack).toBe(stackBefore + 2);
    peer.send({ flags: 0x04, seq: s0 }); // RST
    expect(sock.destroyed).toBe(true);
    expect(h.nic.pool.stats().stack).toBe(stackBefore);
    expect(h.nic.pool.stats().user).toBe(0);
  });

  it('a stream reader gets the held bytes copied once, and the pages go back to the pool', async () => {
    const { h, lender, peer, sock } = openSocket({ pages: false });
    const stackBefore = h.nic.pool.stats().stack;
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    const a = pattern(SEG, 0);
    const b = pattern(SEG, SEG);
    const s0 = peer.snd;
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, SEG), payload: b });
    expect(h.nic.pool.stats().stack).toBe(stackBefore + 1);
    peer.send({ flags: ACK | PSH, seq: s0, payload: a });
    peer.snd = seqAdd(s0, 2 * SEG);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(concat([a, b])));
    expect(lender.stats.copiedBytes).toEqual({ 'stream-api': 2 * SEG });
    expect(h.nic.pool.stats().stack).toBe(stackBefore);
    expect([...nicPages(h)].every((id) => h.nic.pool.ownerOf(id) === PageOwner.Nic)).toBe(true);
  });
});
