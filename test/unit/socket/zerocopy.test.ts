/**
 * The zero-copy page API against the scripted peer: flips by identity, every copy reason,
 * page ownership (never lent and in the NIC at once), pages back on close/reset, zero-copy send
 * by reference with completions, and no reuse of a page before its completion.
 */
import { describe, expect, it, vi } from 'vitest';
import { PAGE_SIZE } from '../../../src/mem/arena.js';
import { PageOwner } from '../../../src/mem/page-pool.js';
import type { Page } from '../../../src/mem/page.js';
import { DEFAULT_TCP_CONFIG } from '../../../src/tcp/config.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { nicPages, openSocket, readAll } from './helpers.js';
import { ACK, FIN, pattern, PSH } from '../tcp/peer.js';


describe('receive: page flipping', () => {
  it('hands the reader the very page the NIC read into, without a copy', () => {
    const { h, lender, peer, sock } = openSocket();
    const posted = nicPages(h);
    const data = pattern(1448, 3);
    peer.data(data);
    expect(sock.pagesAvailable).toBe(1);
    const [page] = readAll(sock, lender);
    expect(posted.has(page!.id)).toBe(true); // it was a NIC receive page
    expect(page!.buffer).toBe(h.nic.pool.view(page!.id)); // by identity: the NIC's own view
    expect(page!.length).toBe(1448);
    expect(page!.data).toEqual(data);
    expect(h.nic.pool.ownerOf(page!.id)).toBe(PageOwner.User);
    expect(lender.stats.flippedBytes).toBe(1448);
    expect(lender.stats.copiedBytes).toEqual({});
  });

  it('never has a page both lent to the user and in the NIC', () => {
    const { h, lender, peer, sock } = openSocket();
    const got: Page[] = [];
    for (let i = 0; i < 40; i++) {
      peer.data(pattern(1448, i));
      got.push(...readAll(sock, lender));
    }
    expect(got).toHaveLength(40);
    const inNic = nicPages(h);
    for (const p of got) {
      expect(inNic.has(p.id)).toBe(false);
      expect(h.nic.pool.ownerOf(p.id)).toBe(PageOwner.User);
    }
    expect(new Set(got.map((p) => p.id)).size).toBe(40);
    // The user's empty pages went to the free list; the NIC keeps a full ring.
    expect(h.nic.pool.stats().nic).toBe(h.nic.rx.size * h.nic.rx.maxPages);
  });

  it('trades: the empty pages given go to the pool, detached', () => {
    const { h, lender, peer, sock } = openSocket();
    peer.data(pattern(1000));
    const empties = lender.alloc(3);
    const ids = empties.map((p) => p.id);
    const got = sock.readPages(empties);
    expect(got).toHaveLength(1);
    expect(empties[0]!.detached).toBe(true); // traded
    expect(empties[1]!.detached).toBe(false); // not needed, still the user's
    expect(h.nic.pool.ownerOf(ids[0]!)).toBe(PageOwner.Free);
    expect(h.nic.pool.ownerOf(ids[1]!)).toBe(PageOwner.User);
  });
});

describe('receive: the reader at the end of the batch', () => {
  it('a reader that takes its pages at once is in the batch\'s one ACK: the window its read reopened', async () => {
    const { h, lender, peer, sock } = openSocket();
    const order: string[] = [];
    sock.on('pages', () => {
      order.push(`pages, ${h.dev.written.length} written`);
      lender.free(readAll(sock, lender));
    });
    // Three full-sized segments in one receive batch.
    const frames = [0, 1, 2].map((i) => {
      const f = peer.frame({ flags: ACK | PSH, payload: pattern(1448, i) });
      peer.snd = seqAdd(peer.snd, 1448);
      return f;
    });
    h.dev.deliver(...frames);
    h.settle();
    await new Promise((r) => setImmediate(r));
    h.settle();
    // 'pages' came before anything was written, and one ACK went: all three segments, the
    // window the whole buffer (they were read), not a narrowed one and an update after.
    expect(order).toEqual(['pages, 0 written']);
    const acks = peer.take();
    expect(acks).toHaveLength(1);
    expect(acks[0]!.ack).toBe(peer.snd);
    expect(acks[0]!.window << 7).toBe(DEFAULT_TCP_CONFIG.rcvBuf);
    expect(sock.pagesAvailable).toBe(0);
  });

  it("a 'pages' handler that throws does not keep the batch's ACK: the error comes on the next tick", () => {
    const { lender, peer, sock } = openSocket();
    const boom = new Error('reader failed');
    sock.on('pages', () => {
      lender.free(readAll(sock, lender));
      throw boom;
    });
    const ticks: unknown[][] = [];
    const spy = vi.spyOn(process, 'nextTick').mockImplementation(((_fn: () => void, ...args: unknown[]) => ticks.push(args)) as typeof process.nextTick);
    try {
      peer.data(pattern(1448, 1));
    } finally {
      spy.mockRestore();
    }
    const acks = peer.take();
    expect(acks).toHaveLength(1);
    expect(acks[0]!.ack).toBe(peer.snd);
    expect(ticks).toEqual([[boom]]);
  });

  it("one 'pages' event per receive batch, however many segments it brought", () => {
    const { h, lender, peer, sock } = openSocket();
    let events = 0;
    sock.on('pages', () => {
      events++;
      lender.free(readAll(sock, lender));
    });
    peer.data(pattern(1448, 1)); // a batch of one
    peer.data(pattern(1448, 2)); // another
    const two = [3, 4].map((i) => {
      const f = peer.frame({ flags: ACK | PSH, payload: pattern(1448, i) });
      peer.snd = seqAdd(peer.snd, 1448);
      return f;
    });
    h.dev.deliver(...two); // one batch of two
    h.settle();
    expect(events).toBe(3);
    expect(sock.pagesAvailable).toBe(0);
  });
});

describe('receive: every fallback is a copy counted under its reason', () => {
  it('header-split-miss: a peer without timestamps (54-byte headers)', () => {
    const { lender, peer, sock } = openSocket({ ts: false });
    const data = pattern(1460);
    peer.data(data);
    const [p] = readAll(sock, lender);
    expect(p!.data).toEqual(data);
    expect(lender.stats.flippedBytes).toBe(0);
    expect(lender.stats.copiedBytes).toEqual({ 'header-split-miss': 1460 });
  });

  it('unaligned: a segment partly already received starts mid-page', () => {
    const { lender, peer, sock } = openSocket();
    const a = pattern(1000);
    peer.data(a);
    // The peer resends 500 old bytes and 500 new ones.
    const old = seqAdd(peer.snd, -500);
    const both = pattern(1000, 1000 - 500);
    peer.send({ flags: ACK | PSH, seq: old, payload: both });
    const got = readAll(sock, lender);
    expect(got.map((p) => p.length)).toEqual([1000, 500]);
    expect(got[1]!.data).toEqual(both.subarray(500));
    expect(lender.stats.flippedBytes).toBe(1000);
    expect(lender.stats.copiedBytes).toEqual({ unaligned: 500 });
  });

  it('out-of-order: held, merged, copied; the in-order segment is flipped', () => {
    const { lender, peer, sock } = openSocket();
    const a = pattern(1448, 0);
    const b = pattern(1448, 1448);
    const s0 = peer.snd;
    // Without timestamps its headers miss the split: the queue must keep a copy.
    peer.send({ flags: ACK | PSH, seq: seqAdd(s0, 1448), payload: b, noTs: true });
    expect(sock.pagesAvailable).toBe(0);
    peer.send({ flags: ACK | PSH, seq: s0, payload: a });
    peer.snd = seqAdd(s0, 2896);
    const got = readAll(sock, lender);
    expect(got.map((p) => p.data)).toEqual([a, b]);
    expect(lender.stats.flippedBytes).toBe(1448);
    expect(lender.stats.copiedBytes).toEqual({ 'out-of-order': 1448 });
  });

  it('switch-off: zeroCopy.receive off, per stack and per socket', () => {
    const { lender, peer, sock } = openSocket();
    lender.switches.receive = false;
    peer.data(pattern(100));
    lender.switches.receive = true;
    sock.zeroCopy.receive = false;
    peer.data(pattern(200));
    sock.zeroCopy.receive = true;
    peer.data(pattern(300));
    expect(readAll(sock, lender).map((p) => p.length)).toEqual([100, 200, 300]);
    expect(lender.stats.copiedBytes).toEqual({ 'switch-off': 300 });
    expect(lender.stats.flippedBytes).toBe(300);
  });

  it('stream-api: a reader of "data" events gets Buffers, copied', async () => {
    const { lender, peer, sock } = openSocket({ pages: false });
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    const data = pattern(1448);
    peer.data(data);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(chunks)).toEqual(Buffer.from(data));
    expect(lender.stats.copiedBytes).toEqual({ 'stream-api': 1448 });
  });
});

describe('pages go back to the pool', () => {
  it('on close, reset and error: queued pages are freed, lent pages stay the user\'s', () => {
    const { h, lender, peer, sock } = openSocket();
    const base = h.nic.pool.stats().stack;
    peer.data(pattern(1448));
    peer.data(pattern(1448));
    peer.data(pattern(1448));
    const lent = sock.readPages(lender.alloc(1));
    expect(h.nic.pool.stats().stack).toBe(base + 2);
    // A reset: the connection ends with an error; the socket releases what it held.
    peer.send({ flags: 0x04, seq: peer.snd });
    expect(sock.destroyed).toBe(true);
    expect(h.nic.pool.stats().stack).toBe(base);
    expect(h.nic.pool.ownerOf(lent[0]!.id)).toBe(PageOwner.User);
    lender.free(lent);
    expect(h.nic.pool.stats().user).toBe(0);
  });

  it("pages read after the peer's FIN send no window update: no data can come any more", () => {
    const { h, lender, peer, sock } = openSocket();
    for (let i = 0; i < 3; i++) peer.data(pattern(1448, i));
    peer.send({ flags: ACK | FIN });
    h.settle();
    const acks = peer.take();
    expect(acks.at(-1)!.ack).toBe(peer.snd); // the FIN acknowledged
    // The application reads and returns everything only now: the window would grow by 3 pages.
    lender.free(readAll(sock, lender));
    h.settle();
    peer.none();
  });

  it('unread pages close the window; returning them reopens it', () => {
    const { lender, peer, sock, conn } = openSocket();
    const w0 = conn.rcvAdv - conn.rcvNxt;
    for (let i = 0; i < 20; i++) peer.data(pattern(1448, i));
    const got = readAll(sock, lender);
    // Lent and not returned: still counted against the receive buffer.
    expect(sock.bufferedBytes()).toBe(20 * PAGE_SIZE);
    lender.free(got);
    expect(sock.bufferedBytes()).toBe(0);
    expect(w0).toBeGreaterThan(0);
  });
});

describe('send: zero copy', () => {
  it('sends a whole page by reference and completes once acknowledged', async () => {
    const { h, lender, peer, sock } = openSocket();
    const [page] = lender.alloc(1);
    page!.buffer.set(pattern(PAGE_SIZE, 7));
    page!.length = PAGE_SIZE;
    const id = page!.id;
    const copiedBefore = h.nic.stats().txCopiedBytes;
    const done = h.app(() => sock.writePages([page!]));
    expect(page!.detached).toBe(true);
    expect(h.nic.pool.ownerOf(id)).toBe(PageOwner.Stack);
    // Two full segments and the 1200-byte tail go at once: Minshall's Nagle holds a small
    // segment only behind another small one.
    const segs = peer.take().filter((s) => s.payload.length > 0);
    expect(segs.map((s) => s.payload.length)).toEqual([1448, 1448, 1200]);
    // Not reused before completion: the pool cannot hand it out.
    const all = lender.alloc(h.nic.pool.stats().free);
    expect(all.some((p) => p.id === id)).toBe(false);
    lender.free(all);
    let resolved = false;
    void done.then(() => (resolved = true));
    peer.rcv = seqAdd(peer.rcv, 2896);
    peer.ackNow();
    await Promise.resolve();
    expect(resolved).toBe(false);
    expect(peer.take().filter((s) => s.payload.length > 0)).toEqual([]);
    const sent = Buffer.concat(segs.map((s) => Buffer.from(s.payload)));
    expect(sent).toEqual(Buffer.from(pattern(PAGE_SIZE, 7)));
    expect(h.nic.stats().txCopiedBytes).toBe(copiedBefore); // no byte went through bounce memory
    expect(lender.stats.sendByReferenceBytes).toBe(PAGE_SIZE);
    expect(lender.stats.sendCopiedBytes).toEqual({});
    peer.rcv = seqAdd(peer.rcv, 1200);
    peer.ackNow();
    const c = await done;
    expect(c.acked).toBe(true);
    expect(c.copied).toBe(false);
    expect(c.pages[0]!.id).toBe(id);
    expect(h.nic.pool.ownerOf(id)).toBe(PageOwner.User);
    expect(lender.stats.completions).toBe(1);
  });

  it('with zeroCopy.send off, pages are copied: the handle stays the user\'s, the completion waits for the ACK', async () => {
    const { h, lender, peer, sock } = openSocket();
    lender.switches.send = false;
    const [page] = lender.alloc(1);
    page!.buffer.fill(5);
    page!.length = 1000;
    const done = h.app(() => sock.writePages([page!]));
    expect(page!.detached).toBe(false);
    expect(lender.stats.sendCopiedBytes).toEqual({ 'switch-off': 1000 });
    let resolved = false;
    void done.then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(false);
    const seg = peer.take().find((s) => s.payload.length > 0)!;
    expect(seg.payload).toEqual(new Uint8Array(1000).fill(5));
    peer.rcv = seqAdd(peer.rcv, 1000);
    peer.ackNow();
    const c = await done;
    expect(c.copied).toBe(true);
    expect(c.acked).toBe(true);
    expect(c.pages[0]).toBe(page);
  });

  it('refuses a handle already handed over', () => {
    const { lender, sock } = openSocket();
    const [page] = lender.alloc(1);
    page!.length = PAGE_SIZE;
    void sock.writePages([page!]);
    expect(() => lender.free([page!])).toThrow(TypeError);
  });
});
