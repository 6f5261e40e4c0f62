/**
 * Receive memory: data received with the page API lies in pool pages until the application
 * reads it, and reading trades an empty pool page for each filled one. The receive windows of
 * all connections together may promise more than the pool holds (200 connections x 4 MiB
 * against 256 MiB), so a reader that is slower than the network (or does not run at all while a
 * long receive batch lasts) let the socket queues take every free page: the NIC could not
 * refill its receive ring (frames cut short and dropped, ACKs among them) and the application
 * could not allocate the empty pages it trades for the filled ones, so nothing could ever be
 * read again (tcp-concurrent.test.ts's echo stall once ACKs went out during the batch).
 *
 * Now the windows stop growing when the pool runs low, and data that would take the pages kept
 * for the NIC's ring and the application's trades is dropped instead, with an ACK at once that
 * retracts the window to zero until memory is back.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from '../../../src/mem/page.js';
import { PageLender } from '../../../src/socket/pages.js';
import { Socket } from '../../../src/socket/socket.js';
import { seqAdd, seqDiff, seqGt } from '../../../src/wire/seq.js';
import { passive, setup } from '../tcp/helpers.js';
import { ACK, concat, type Out, OUR_IP, pattern, type Peer, PSH } from '../tcp/peer.js';

/** The window shift we offer with the default 4 MiB receive buffer (RFC 7323 2.3). */
const WSCALE = 7;
const SEG = 1448;

/** The right edge of the window an ACK advertises. */
function edgeOf(a: Out): number {
  return seqAdd(a.ack, a.window << WSCALE);
}

/**
 * A well-behaved sender: full segments while they fit the window last advertised (ACKs are
 * taken as they come, delayed ones included), at most `max` segments. Returns what it sent.
 */
function sendWithinWindow(p: Peer, edge: number, max: number, tick: () => void): { sent: Uint8Array[]; edge: number } {
  const sent: Uint8Array[] = [];
  for (let i = 0; i < max; i++) {
    if (seqGt(seqAdd(p.snd, SEG), edge)) {
      tick(); // the delayed ACK, perhaps with a wider window
      for (const a of p.take()) if (seqGt(edgeOf(a), edge)) edge = edgeOf(a);
      if (seqGt(seqAdd(p.snd, SEG), edge)) break;
    }
    const d = pattern(SEG, sent.length * 13);
    p.send({ flags: ACK | PSH, payload: d });
    sent.push(d);
    for (const a of p.take()) if (seqGt(edgeOf(a), edge)) edge = edgeOf(a);
  }
  return { sent, edge };
}

/** Read every queued page as an application does: trading freshly allocated empty pages. */
function readAll(sock: Socket, lender: PageLender): Page[] {
  const got: Page[] = [];
  while (sock.pagesAvailable > 0) {
    const empties = lender.alloc(Math.min(sock.pagesAvailable, 64));
    // The trade needs empty pages: with none free the reader could never read again.
    expect(empties.length, 'empty pages to trade').toBeGreaterThan(0);
    got.push(...sock.readPages(empties));
  }
  return got;
}

describe('receive memory: the pool is never emptied by unread data', () => {
  it('a reader that does not keep up: the window closes before the pool runs dry, and reading resumes', () => {
    const h = setup(undefined, { extraPages: 512 }); // a pool of 32 ring pages + 512
    const lender = new PageLender(h.nic.pool);
    const { peer, conn, synAck } = passive(h);
    const sock = new Socket(conn, OUR_IP, lender, { pages: true });
    sock.on('error', () => {});
    const ringPages = h.nic.rx.size * h.nic.rx.maxPages;
    // The application does not read (its 'pages' handler would run after this batch of work).
    const { sent, edge } = sendWithinWindow(peer, seqAdd(peer.snd, synAck.window), 2000, () => h.tick(40));
    // The window closed while pages were still free: the NIC kept a full ring all along.
    expect(h.nic.stats().rxRefillFailures).toBe(0);
    expect(h.nic.pool.stats().nic).toBe(ringPages);
    expect(sent.length).toBeLessThan(2000);
    expect(seqDiff(edge, peer.snd)).toBeLessThan(SEG);
    expect(h.tcp.stats.drops['tcp-rx-memory'] ?? 0).toBe(0); // a sender within the window loses nothing
    // The application can read all of it (it has empty pages to trade) and gets every byte.
    const got = readAll(sock, lender);
    expect(concat(got.map((p) => p.data))).toEqual(concat(sent));
    // Returning the pages reopens the window: the transfer goes on.
    h.app(() => lender.free(got));
    const upd = peer.take();
    expect(upd.length).toBeGreaterThan(0);
    const more = sendWithinWindow(peer, edgeOf(upd[upd.length - 1]!), 50, () => h.tick(40));
    expect(more.sent.length).toBe(50);
    expect(concat(readAll(sock, lender).map((p) => p.data))).toEqual(concat(more.sent));
  });

  it('windows promised before the pool ran low: data beyond the reserve is dropped, the window retracted to zero, and reopened when memory is back', () => {
    const h = setup(undefined, { extraPages: 512 });
    const lender = new PageLender(h.nic.pool);
    const a = passive(h, { peerPort: 40001 });
    const b = passive(h, { peerPort: 40002 });
    const sa = new Socket(a.conn, OUR_IP, lender, { pages: true });
    const sb = new Socket(b.conn, OUR_IP, lender, { pages: true });
    sa.on('error', () => {});
    sb.on('error', () => {});
    const ringPages = h.nic.rx.size * h.nic.rx.maxPages;
    // A's window is advertised while the pool is all free; then B takes the pool.
    const aEdge = seqAdd(a.peer.snd, a.synAck.window);
    sendWithinWindow(b.peer, seqAdd(b.peer.snd, b.synAck.window), 2000, () => h.tick(40));
    // A's sender fills the window it was given: what the pool cannot take is refused, each
    // segment with an ACK at once that retracts the window to zero (so the sender waits
    // instead of resending into a pool that is still full).
    const refusals: Out[] = [];
    while (!seqGt(seqAdd(a.peer.snd, SEG), aEdge)) {
      const rcvNxt = a.conn.rcvNxt;
      a.peer.send({ flags: ACK | PSH, payload: pattern(SEG) });
      const acks = a.peer.take();
      if (a.conn.rcvNxt === rcvNxt) refusals.push(...acks);
    }
    expect(h.tcp.stats.drops['tcp-rx-memory']).toBe(1); // later ones fall outside the zero window
    expect(refusals.length).toBeGreaterThan(1);
    for (const r of refusals) expect({ ack: r.ack, window: r.window }).toEqual({ ack: a.conn.rcvNxt, window: 0 });
    expect(h.nic.stats().rxRefillFailures).toBe(0);
    expect(h.nic.pool.stats().nic).toBe(ringPages);
    // Both readers can read: the trade finds empty pages.
    const gb = readAll(sb, lender);
    expect(gb.length).toBeGreaterThan(0);
    readAll(sa, lender);
    a.peer.none();
    // Memory is back: A's window reopens with an update of its own (A's reader did nothing).
    h.app(() => lender.free(gb));
    const upd = a.peer.one();
    expect(upd.ack).toBe(a.conn.rcvNxt);
    expect(upd.window).toBeGreaterThan(0);
    // A's sender resends from the ACKed point and is taken now.
    a.peer.snd = seqAdd(a.conn.rcvNxt, 0);
    a.peer.send({ flags: ACK | PSH, payload: pattern(SEG, 5) });
    expect(a.conn.rcvNxt).toBe(a.peer.snd);
  });
});
