/**
 * Loss and flow control: retransmission timeout from RTT samples with backoff (RFC 6298),
 * giving up, zero-window probing (RFC 9293 3.8.6.1, RFC 1122 4.2.2.17), our receive window
 * (RFC 9293 3.8.6.2), keepalive (RFC 1122 4.2.3.6).
 */
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/wire/seq.js';
import { desc, expectSeg, passive, setup } from './helpers.js';
import { ACK, flagNames, pattern } from './peer.js';

describe('retransmission timeout', () => {
  // Full-sized segments here, so that Nagle has no say (see the small-segment test below).
  const FULL = 1448;

  it('retransmits lost data after the RTO measured from the handshake RTT (100 ms -> 300 ms), doubling', () => {
    const h = setup({ rack: false }); // RFC 6298 alone: no tail loss probe (RFC 8985 7) before the RTO
    // RFC 6298 2.2: first sample R = 100: SRTT 100, RTTVAR 50, RTO = 100 + 4 * 50 = 300.
    const { peer, conn, synAck } = passive(h, { rtt: 100 });
    const base = seqAdd(synAck.seq, 1);
    const data = pattern(FULL);
    const t0 = h.now;
    h.app(() => conn.write(data));
    expectSeg(peer.one(), { flags: 'ACK|PSH', seq: base, len: FULL, at: t0 }); // lost
    h.tick(299);
    peer.none();
    h.tick(1);
    let r = peer.one();
    expectSeg(r, { seq: base, len: FULL, at: t0 + 300 });
    expect(r.payload).toEqual(data);
    h.tick(599); // RFC 6298 5.5: back off, double
    peer.none();
    h.tick(1);
    r = peer.one();
    expectSeg(r, { seq: base, len: FULL, at: t0 + 900 });
    expect(h.tcp.stats.timeouts).toBe(2);
    expect(h.tcp.stats.retransmits).toBe(2);
    // The ACK stops the timer.
    peer.rcv = seqAdd(base, FULL);
    peer.ackNow();
    h.tick(10_000);
    peer.none();
    expect(conn.sendQueue.length).toBe(0);
  });

  it('takes later RTT samples into the RTO (RFC 6298 2.3)', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { rtt: 100 }); // RTO 300
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(FULL)));
    peer.one();
    h.tick(20); // second sample 20: RTTVAR 0.75*50 + 0.25*80 = 57.5, SRTT 90, RTO 320
    peer.rcv = seqAdd(base, FULL);
    peer.ackNow();
    const t0 = h.now;
    h.app(() => conn.write(pattern(FULL)));
    peer.one();
    h.tick(319);
    peer.none();
    h.tick(1);
    expectSeg(peer.one(), { seq: seqAdd(base, FULL), at: t0 + 320 });
  });

  it('never goes below the 200 ms minimum (RTT 10 ms)', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { rtt: 10 });
    const t0 = h.now;
    h.app(() => conn.write(pattern(FULL)));
    peer.one();
    h.tick(199);
    peer.none();
    h.tick(1);
    expectSeg(peer.one(), { seq: seqAdd(synAck.seq, 1), len: FULL, at: t0 + 200 });
  });

  it('uses 1 s before any RTT sample (no timestamps: the handshake gives none)', () => {
    const h = setup();
    const { peer, conn } = passive(h, { synOpts: () => ({ mss: 1460 }) });
    const t0 = h.now;
    h.app(() => conn.write(pattern(1460)));
    peer.one();
    h.tick(999);
    peer.none();
    h.tick(1);
    expectSeg(peer.one(), { len: 1460, at: t0 + 1000 });
  });

  it('retransmits a lost small segment after the RTO (Nagle must not hold a retransmission)', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { rtt: 100 });
    const data = pattern(100);
    const t0 = h.now;
    h.app(() => conn.write(data));
    peer.one(); // lost
    h.tick(300);
    const r = peer.one();
    expectSeg(r, { seq: seqAdd(synAck.seq, 1), len: 100, at: t0 + 300 });
    expect(r.payload).toEqual(data);
  });

  it('retransmits a lost small segment on time when noDelay is set', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { rtt: 100 });
    h.app(() => conn.setNoDelay(true));
    const t0 = h.now;
    h.app(() => conn.write(pattern(100)));
    peer.one();
    h.tick(300);
    expectSeg(peer.one(), { seq: seqAdd(synAck.seq, 1), len: 100, at: t0 + 300 });
  });

  it('retransmits one segment after a timeout and the rest as ACKs come (slow start)', () => {
    const h = setup({ rack: false }); // RFC 6298 alone: no tail loss probe (RFC 8985 7) before the RTO
    const { peer, conn, synAck } = passive(h, { rtt: 50 });
    const base = seqAdd(synAck.seq, 1);
    const data = pattern(1448 * 3);
    h.app(() => conn.write(data));
    expect(peer.take()).toHaveLength(3); // all lost
    h.tick(250);
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK', seq: base, ack: peer.snd, len: 1448 }]);
    peer.rcv = seqAdd(base, 1448);
    peer.ackNow();
    const rest = peer.take();
    expect(rest.map((s) => [s.seq, s.payload.length])).toEqual([
      [seqAdd(base, 1448), 1448],
      [seqAdd(base, 2896), 1448],
    ]);
    expect(rest[1]!.payload).toEqual(data.subarray(2896));
  });

  it('gives up with ETIMEDOUT after maxRetransmits', () => {
    const h = setup({ maxRetransmits: 3, rack: false }); // RFC 6298 alone, without tail loss probes
    const { peer, conn, rec, synAck } = passive(h); // RTT 0: RTO 200 ms
    const t0 = h.now;
    h.app(() => conn.write(pattern(FULL)));
    h.tick(2999);
    expect(peer.take().map((s) => [s.seq, s.at - t0])).toEqual([
      [seqAdd(synAck.seq, 1), 0],
      [seqAdd(synAck.seq, 1), 200],
      [seqAdd(synAck.seq, 1), 600],
      [seqAdd(synAck.seq, 1), 1400],
    ]);
    expect(rec.closes).toEqual([]);
    h.tick(1);
    expect(rec.closes.map((e) => e?.code)).toEqual(['ETIMEDOUT']);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.connectionCount).toBe(0);
    expect(h.tcp.stats.connectionsTimedOut).toBe(1);
    h.tick(100_000);
    peer.none();
  });

  it('retransmits a lost FIN', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h);
    const t0 = h.now;
    h.app(() => conn.close());
    expectSeg(peer.one(), { flags: 'FIN|ACK', seq: seqAdd(synAck.seq, 1) });
    h.tick(200);
    expectSeg(peer.one(), { flags: 'FIN|ACK', seq: seqAdd(synAck.seq, 1), at: t0 + 200 });
    expect(conn.state).toBe('FIN-WAIT-1');
  });
});

describe('zero window (the peer\'s)', () => {
  const FULL_SEG = 1448;
  it('stops at a zero window, probes with backoff, resumes when it opens', () => {
    const h = setup();
    // No window scale from the peer: its window fields are bytes.
    const { peer, conn, synAck } = passive(h, { synOpts: (p) => ({ mss: 1460, sackPermitted: true, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }) });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(1000)));
    expect(peer.one().payload.length).toBe(1000);
    h.tick(10);
    peer.rcv = seqAdd(base, 1000);
    peer.ackNow({ window: 0 }); // all taken, the buffer is full
    peer.none();
    expect(conn.sndWnd).toBe(0);
    const more = pattern(500, 1000);
    const t0 = h.now;
    h.app(() => conn.write(more));
    peer.none(); // nothing may be sent into a zero window
    // Probes after the RTO (200 ms here), then 400, 800, 1600 (RFC 9293 3.8.6.1: exponential).
    h.tick(3200);
    const probes = peer.take();
    expect(probes.map((p) => p.at - t0)).toEqual([200, 600, 1400, 3000]);
    for (const p of probes) {
      // Linux's probe: SND.UNA - 1 with no data, which the peer must ACK with its window.
      expect(p.payload.length <= 1).toBe(true);
      if (p.payload.length === 0) expect(p.seq).toBe(seqAdd(base, 999));
      expect(p.flags & ACK).toBe(ACK);
    }
    expect(h.tcp.stats.windowProbes).toBe(4);
    // The peer answers a probe with the window still 0: probing goes on.
    peer.ackNow({ window: 0 });
    peer.none();
    h.tick(3200);
    expect(peer.take().map((p) => p.at - t0)).toEqual([6200]);
    // The window opens: the 500 bytes go at once, and probing stops.
    h.tick(100);
    peer.ackNow({ window: 65535 });
    const seg = peer.one();
    expectSeg(seg, { seq: seqAdd(base, 1000), len: 500, at: h.now });
    expect(seg.payload).toEqual(more);
    peer.rcv = seqAdd(base, 1500);
    peer.ackNow();
    h.tick(60_000);
    peer.none();
  });

  it('gives up on a zero window with ETIMEDOUT when the peer answers none of maxRetransmits probes', () => {
    // RFC 1122 4.2.2.17: open while the peer answers; Linux's tcp_probe_timer ends the
    // connection after tcp_retries2 probes in a row go unanswered.
    const h = setup({ maxRetransmits: 3 });
    const { peer, conn, rec, synAck } = passive(h, { synOpts: (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }) });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(1000)));
    peer.one();
    peer.rcv = seqAdd(base, 1000);
    peer.ackNow({ window: 0 });
    h.app(() => conn.write(pattern(500)));
    // Answered probes do not count: the peer answers the first five.
    for (let i = 0; i < 5; i++) {
      h.tickUntilSent(130_000);
      expect(peer.take().length).toBe(1);
      peer.ackNow({ window: 0 });
    }
    expect(rec.closes).toEqual([]);
    // Then it falls silent: three more probes, and the fourth turn ends the connection.
    const probes: number[] = [];
    for (let waited = 0; rec.closes.length === 0 && waited < 600_000; waited += 100) {
      h.tick(100);
      probes.push(...peer.take().map((p) => p.seq));
    }
    expect(probes).toEqual([seqAdd(base, 999), seqAdd(base, 999), seqAdd(base, 999)]);
    expect(rec.closes.map((e) => e?.code)).toEqual(['ETIMEDOUT']);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.stats.connectionsTimedOut).toBe(1);
  });

  it('retransmits a segment sent into a small window after a timeout (sender SWS avoidance holds only new data)', () => {
    // The peer shrank its window to 1024 bytes, under half the largest it offered: the persist
    // timer's override sends 1024 bytes. Its ACK, and the window updates after it, are lost.
    // The timeout must send those bytes again: holding them as new data would wait for an
    // override that never comes while they are in flight, and the connection would stall.
    const h = setup({ rack: false });
    // No window scaling: the window fields below are bytes.
    const { peer, conn, synAck } = passive(h, { rtt: 100, synOpts: (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }) });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.setNoDelay(true));
    h.app(() => conn.write(pattern(20_000)));
    const flight = peer.take();
    const sent = flight.reduce((n, s) => n + s.payload.length, 0);
    expect(sent).toBeGreaterThan(1024);
    peer.rcv = seqAdd(base, sent);
    peer.ackNow({ window: 1024 });
    peer.none(); // 1024 bytes of window: held (RFC 9293 3.8.6.2.1)
    h.tickUntilSent(2000, 10);
    const small = peer.one(); // the override timeout
    expectSeg(small, { seq: seqAdd(base, sent), len: 1024 });
    // No ACK comes: the RTO sends the same bytes again, backing off.
    h.tick(5000);
    const again = peer.take();
    expect(again.length).toBeGreaterThanOrEqual(2);
    for (const r of again) expectSeg(r, { seq: seqAdd(base, sent), len: 1024 });
    expect(h.tcp.stats.timeouts).toBe(again.length);
    // The peer answers with its real window: the rest flows (in slow start after the timeouts).
    let acked = sent + 1024;
    for (let round = 0; round < 10 && acked < 20_000; round++) {
      peer.rcv = seqAdd(base, acked);
      peer.ackNow({ window: 65535 });
      acked += peer.take().reduce((n, s) => n + s.payload.length, 0);
    }
    expect(acked).toBe(20_000);
  });

  it('probes a window the peer shrank to zero with data outstanding, and resends once it opens', () => {
    // RFC 9293 3.8.6.2.1: a sender must be robust against a shrinking window; a window shrunk to
    // zero is probed in the standard way, and data beyond its right edge going unacknowledged
    // is no reason to time out. Here maxRetransmits is 3: the probing outlasts it.
    const h = setup({ rack: false, maxRetransmits: 3 });
    const { peer, conn, rec, synAck } = passive(h, { rtt: 100, synOpts: (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }) });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.setNoDelay(true));
    const data = pattern(4 * FULL_SEG);
    h.app(() => conn.write(data));
    expect(peer.take().length).toBe(4);
    // Two segments taken, then the window is gone: the other two lie beyond it now, dropped.
    peer.rcv = seqAdd(base, 2 * FULL_SEG);
    peer.ackNow({ window: 0 });
    peer.none();
    // The timeout hands over to the persist timer: probes with backoff, none carrying data
    // beyond SND.UNA's byte, each answered with the window still 0; more than maxRetransmits.
    const probes: ReturnType<typeof peer.one>[] = [];
    for (let i = 0; i < 6; i++) {
      h.tickUntilSent(130_000);
      const p = peer.one();
      expect(p.payload.length <= 1).toBe(true);
      if (p.payload.length === 0) expect(p.seq).toBe(seqAdd(base, 2 * FULL_SEG - 1));
      probes.push(p);
      peer.ackNow({ window: 0 });
    }
    const gaps = probes.slice(1).map((p, i) => p.at - probes[i]!.at);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]!);
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.closes).toEqual([]);
    // The window opens: the two segments go again, in slow start after the timeout.
    peer.ackNow({ window: 65535 });
    let acked = 2 * FULL_SEG;
    for (let round = 0; round < 10 && acked < 4 * FULL_SEG; round++) {
      const segs = peer.take();
      expect(segs.length).toBeGreaterThan(0);
      for (const sg of segs) {
        expect(sg.seq).toBe(seqAdd(base, acked));
        expect(sg.payload).toEqual(data.subarray(acked, acked + sg.payload.length));
        acked += sg.payload.length;
      }
      peer.rcv = seqAdd(base, acked);
      peer.ackNow({ window: 65535 });
    }
    expect(acked).toBe(4 * FULL_SEG);
    h.tick(60_000);
    peer.none();
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('sends only what a small window allows, and the rest when it grows', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { synOpts: (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }), window: 3000 });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.setNoDelay(true));
    h.app(() => conn.write(pattern(5000)));
    // 3000 bytes of window: two full segments; the 104 left are less than half the largest
    // window offered, so sender SWS avoidance (RFC 9293 3.8.6.2.1) keeps them.
    expect(peer.take().map((s) => s.payload.length)).toEqual([1448, 1448]);
    peer.rcv = seqAdd(base, 2896);
    peer.ackNow({ window: 3000 });
    expect(peer.take().map((s) => s.payload.length)).toEqual([1448, 656]);
  });
});

describe('window scaling (RFC 7323 2)', () => {
  it('scales the peer\'s window by its shift (not on the SYN)', () => {
    const h = setup();
    // Shift 2, window field 1000 after the SYN: 4000 bytes.
    const { peer, conn, synAck } = passive(h, {
      synOpts: (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 }, windowScale: 2 }),
      window: 1000,
    });
    expect(conn.sndWnd).toBe(4000);
    h.app(() => conn.setNoDelay(true));
    h.app(() => conn.write(pattern(10_000)));
    // 4000 bytes: two full segments; the 1104 left stay (sender SWS: less than half of the
    // 65535 offered on the SYN). Unscaled, 1000 bytes would not even allow one segment.
    expect(peer.take().map((s) => s.payload.length)).toEqual([1448, 1448]);
    peer.rcv = seqAdd(synAck.seq, 1 + 2896);
    peer.ackNow({ window: 10_000 >>> 2 });
    // 7104 bytes left, all within the new 10000-byte window.
    expect(peer.take().map((s) => s.payload.length)).toEqual([1448, 1448, 1448, 1448, 1312]);
  });

  it('scales its own window down by its shift', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 1000 });
    rec.autoRead = false;
    peer.data(pattern(1448));
    peer.data(pattern(1448));
    // 4 MiB buffer, 2896 bytes unread, shift 7.
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 2896, window: ((4 << 20) - 2896) >>> 7 });
  });
});

describe('our receive window', () => {
  it('closes as the application does not read, and reopens with a window update after reading', () => {
    const buf = 4 * 1448;
    const h = setup({ rcvBuf: buf });
    const { peer, rec, synAck, conn } = passive(h, { peerIsn: 1000 });
    expect(synAck.window).toBe(buf);
    expect(synAck.options.windowScale).toBe(0); // 5792 bytes need no shift
    rec.autoRead = false;
    const ours = seqAdd(synAck.seq, 1);
    const data = pattern(6 * 1448);
    const piece = (i: number) => data.subarray(1448 * i, 1448 * (i + 1));
    peer.data(piece(0));
    peer.data(piece(1));
    expectSeg(peer.one(), { flags: 'ACK', seq: ours, ack: 1001 + 2896, window: 2896 });
    expect(rec.bufferedBytes()).toBe(2896);
    peer.data(piece(2));
    peer.data(piece(3));
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 4 * 1448, window: 0 });
    expect(rec.bufferedBytes()).toBe(buf);
    // Data into the closed window is not taken: ACK with window 0.
    peer.data(piece(4), { seq: 1001 + 4 * 1448 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 4 * 1448, window: 0 });
    expect(rec.received.length).toBe(buf);
    // The peer's zero-window probe (an old sequence number) gets the same ACK.
    peer.ackNow({ seq: 1000 + 4 * 1448 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 4 * 1448, window: 0 });
    // Reading half opens the window by half the buffer: a window update at once.
    h.app(() => rec.read(2896));
    expectSeg(peer.one(), { flags: 'ACK', seq: ours, ack: 1001 + 4 * 1448, window: 2896, len: 0 });
    h.app(() => rec.read());
    expectSeg(peer.one(), { flags: 'ACK', window: buf });
    peer.data(piece(4), { seq: 1001 + 4 * 1448 });
    peer.data(piece(5), { seq: 1001 + 5 * 1448 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 6 * 1448, window: buf - 2896 });
    expect(rec.received).toEqual(data);
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('does not announce a tiny opening (receiver SWS avoidance, RFC 9293 3.8.6.2.2)', () => {
    const buf = 4 * 1448;
    const h = setup({ rcvBuf: buf });
    const { peer, rec } = passive(h, { peerIsn: 1000 });
    rec.autoRead = false;
    for (let i = 0; i < 4; i++) peer.data(pattern(1448));
    expect(peer.take().map((s) => s.window)).toEqual([2896, 0]);
    h.app(() => rec.read(100));
    peer.none();
    h.tick(1000);
    peer.none();
  });
});

describe('keepalive (RFC 1122 4.2.3.6)', () => {
  it('probes after the idle time, every interval, and times out after the probes go unanswered', () => {
    const h = setup({ keepIntervalMs: 500, keepProbes: 3 });
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 100 });
    const ours = seqAdd(synAck.seq, 1);
    const t0 = h.now;
    h.app(() => conn.setKeepAlive(true, 1000));
    h.tick(999);
    peer.none();
    h.tick(1);
    const p = peer.one();
    // SEG.SEQ = SND.NXT - 1, no data (or one garbage octet): the peer must ACK it.
    expectSeg(p, { flags: 'ACK', ack: 101, at: t0 + 1000 });
    expect(p.payload.length <= 1).toBe(true);
    expect(p.seq).toBe(seqAdd(ours, -1));
    // The peer answers: the idle time starts again.
    h.tick(100);
    peer.ackNow();
    peer.none();
    h.tickTo(t0 + 3599);
    expect(peer.take().map((s) => [flagNames(s.flags), s.at - t0])).toEqual([
      ['ACK', 2100],
      ['ACK', 2600],
      ['ACK', 3100],
    ]);
    expect(rec.closes).toEqual([]);
    h.tick(1);
    expect(rec.closes.map((e) => e?.code)).toEqual(['ETIMEDOUT']);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.connectionCount).toBe(0);
    expect(h.tcp.stats.keepaliveProbes).toBe(4);
  });

  it('sends nothing on an idle connection without keepalive', () => {
    const h = setup({ keepIdleMs: 1000 });
    const { peer, conn } = passive(h);
    h.tick(3_600_000);
    peer.none();
    expect(conn.state).toBe('ESTABLISHED');
  });
});
