/**
 * Resets (RFC 9293 3.10.7, RFC 5961), closing in every state a FIN can arrive in (RFC 9293
 * 3.6, 3.10.7.4 "eighth"), TIME-WAIT (RFC 9293 3.4.2, RFC 6191), segments to closed ports
 * (RFC 9293 3.10.7.1).
 */
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/wire/seq.js';
import { desc, expectSeg, FULL_SYN_OPTS, listenOn, passive, setup } from './helpers.js';
import { ACK, FIN, Peer, PEER_IP, pattern, PSH, RST, SYN } from './peer.js';

describe('RST (RFC 5961 3.2)', () => {
  it('answers an in-window RST that is not exact with a challenge ACK; the connection survives', () => {
    const h = setup();
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 1000 });
    peer.send({ flags: RST, seq: 1001 + 100, noTs: true });
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK', seq: seqAdd(synAck.seq, 1), ack: 1001, len: 0 }]);
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.closes).toEqual([]);
    expect(h.tcp.stats.challengeAcks).toBe(1);
    // Still usable.
    peer.data(pattern(10));
    expect(rec.received).toEqual(pattern(10));
  });

  it('ignores a RST outside the window, silently', () => {
    const h = setup();
    const { peer, conn, rec } = passive(h, { peerIsn: 1000 });
    peer.send({ flags: RST, seq: 1001 - 100_000, noTs: true });
    peer.send({ flags: RST, seq: 1001 + (5 << 20), noTs: true }); // beyond the 4 MiB window
    peer.send({ flags: RST | ACK, seq: 1000, noTs: true }); // just below RCV.NXT
    peer.none();
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.closes).toEqual([]);
  });

  it('resets the connection on an exact RST: ECONNRESET, quadruple freed, nothing sent', () => {
    const h = setup();
    const { peer, conn, rec } = passive(h, { peerIsn: 1000 });
    peer.data(pattern(10));
    peer.send({ flags: RST, seq: 1011, noTs: true });
    peer.none();
    expect(rec.closes.map((e) => e?.code)).toEqual(['ECONNRESET']);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.connectionCount).toBe(0);
    expect(h.tcp.stats.connectionsReset).toBe(1);
    h.tick(10_000);
    peer.none(); // no delayed ACK, no timers left
  });

  it('answers a SYN on an established connection with a challenge ACK (RFC 5961 4.2), in window or not', () => {
    const h = setup();
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    peer.send({ flags: SYN, seq: 1001 + 10, opts: FULL_SYN_OPTS(peer) }); // in window
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK', seq: ours, ack: 1001, len: 0 }]);
    peer.send({ flags: SYN, seq: 0x9000_0000, opts: FULL_SYN_OPTS(peer) }); // out of window
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK', seq: ours, ack: 1001, len: 0 }]);
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.closes).toEqual([]);
    expect(h.tcp.connectionCount).toBe(1);
  });

  it('limits challenge ACKs per second (RFC 5961 7)', () => {
    const h = setup({ challengeAcksPerSecond: 2 });
    const { peer } = passive(h, { peerIsn: 1000 });
    for (let i = 0; i < 5; i++) peer.send({ flags: RST, seq: 1001 + 10 + i, noTs: true });
    expect(peer.take()).toHaveLength(2);
    h.tick(1000);
    peer.send({ flags: RST, seq: 1001 + 50, noTs: true });
    expect(peer.take()).toHaveLength(1);
  });

  it('sends RST when the application aborts', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 1000 });
    h.app(() => conn.abort());
    expect(peer.take().map(desc)).toEqual([{ flags: 'RST', seq: seqAdd(synAck.seq, 1), ack: 0, len: 0 }]);
    expect(h.tcp.connectionCount).toBe(0);
  });
});

describe('FIN', () => {
  it('ESTABLISHED -> CLOSE-WAIT on the peer\'s FIN (ACKed at once); our close -> LAST-ACK -> CLOSED', () => {
    const h = setup();
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    peer.send({ flags: ACK | PSH | FIN, payload: pattern(20) });
    expectSeg(peer.one(), { flags: 'ACK', seq: ours, ack: 1001 + 21, len: 0 });
    expect(conn.state).toBe('CLOSE-WAIT');
    expect(rec.events).toEqual(['data 20', 'end']);
    // We may still send in CLOSE-WAIT.
    h.app(() => conn.write(pattern(30)));
    expectSeg(peer.one(), { flags: 'ACK|PSH', seq: ours, len: 30 });
    peer.rcv = seqAdd(ours, 30);
    peer.ackNow();
    h.app(() => conn.close());
    expectSeg(peer.one(), { flags: 'FIN|ACK', seq: seqAdd(ours, 30), ack: 1022, len: 0 });
    expect(conn.state).toBe('LAST-ACK');
    peer.rcv = seqAdd(ours, 31);
    peer.ackNow();
    peer.none();
    expect(conn.state).toBe('CLOSED');
    expect(rec.closes).toEqual([null]);
    expect(h.tcp.connectionCount).toBe(0); // no TIME-WAIT for the passive closer
  });

  it('puts the FIN on the last data segment when close() follows write()', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h);
    h.app(() => {
      conn.write(pattern(100));
      conn.close();
    });
    expectSeg(peer.one(), { flags: 'FIN|ACK|PSH', seq: seqAdd(synAck.seq, 1), len: 100 });
    expect(conn.state).toBe('FIN-WAIT-1');
  });

  it('FIN-WAIT-1 -> FIN-WAIT-2 on the ACK of our FIN; keeps receiving (half-close); FIN -> TIME-WAIT', () => {
    const h = setup({ mslMs: 1000 });
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    h.app(() => conn.close());
    expectSeg(peer.one(), { flags: 'FIN|ACK', seq: ours, ack: 1001 });
    expect(conn.state).toBe('FIN-WAIT-1');
    peer.rcv = seqAdd(ours, 1);
    peer.ackNow();
    peer.none();
    expect(conn.state).toBe('FIN-WAIT-2');
    // Half-close: the peer goes on sending, we go on receiving and acknowledging.
    const data = pattern(3000);
    peer.data(data.subarray(0, 1448));
    peer.data(data.subarray(1448, 2896));
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(ours, 1), ack: 1001 + 2896 });
    peer.data(data.subarray(2896));
    h.tick(40);
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 3000 });
    expect(rec.received).toEqual(data);
    expect(rec.closes).toEqual([]);
    // Writing is over.
    expect(conn.write(pattern(10))).toBe(0);
    peer.send({ flags: ACK | FIN });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(ours, 1), ack: 1001 + 3001 });
    expect(conn.state).toBe('TIME-WAIT');
    expect(rec.ends).toBe(1);
    expect(rec.closes).toEqual([null]);
  });

  it('FIN-WAIT-1 -> TIME-WAIT on a FIN that also ACKs our FIN', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    h.app(() => conn.close());
    peer.one();
    peer.rcv = seqAdd(ours, 1);
    peer.send({ flags: ACK | FIN });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(ours, 1), ack: 1002 });
    expect(conn.state).toBe('TIME-WAIT');
  });

  it('simultaneous close: FIN-WAIT-1 -> CLOSING on the crossing FIN, -> TIME-WAIT on the ACK', () => {
    const h = setup();
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    h.app(() => conn.close());
    expectSeg(peer.one(), { flags: 'FIN|ACK', seq: ours, ack: 1001 });
    // The peer's FIN was sent before ours arrived: it does not acknowledge our FIN.
    peer.send({ flags: ACK | FIN, ack: ours });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(ours, 1), ack: 1002 });
    expect(conn.state).toBe('CLOSING');
    expect(rec.ends).toBe(1);
    // The peer ACKs our FIN.
    peer.ackNow({ ack: seqAdd(ours, 1) });
    peer.none();
    expect(conn.state).toBe('TIME-WAIT');
    expect(rec.closes).toEqual([null]);
  });

  it('retransmits the FIN from CLOSING until it is acknowledged', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    h.app(() => conn.close());
    peer.one(); // lost
    peer.send({ flags: ACK | FIN, ack: ours });
    peer.one();
    expect(conn.state).toBe('CLOSING');
    h.tick(200);
    expectSeg(peer.one(), { flags: 'FIN|ACK', seq: ours, ack: 1002 });
  });

  it('ACKs a retransmitted FIN in CLOSE-WAIT and LAST-ACK', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 1000 });
    const ours = seqAdd(synAck.seq, 1);
    peer.send({ flags: ACK | FIN });
    peer.one();
    peer.send({ flags: ACK | FIN, seq: 1001 });
    expectSeg(peer.one(), { flags: 'ACK', seq: ours, ack: 1002 });
    expect(conn.state).toBe('CLOSE-WAIT');
    h.app(() => conn.close());
    peer.one();
    expect(conn.state).toBe('LAST-ACK');
    peer.send({ flags: ACK | FIN, seq: 1001 });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(ours, 1), ack: 1002 });
    expect(conn.state).toBe('LAST-ACK');
  });

  it('gives up on an orphaned connection left in FIN-WAIT-2 after finWait2TimeoutMs', () => {
    const h = setup({ finWait2TimeoutMs: 5000 });
    const { peer, conn, rec, synAck } = passive(h, { peerIsn: 1000 });
    conn.orphaned = true;
    h.app(() => conn.close());
    peer.one();
    peer.rcv = seqAdd(synAck.seq, 2);
    peer.ackNow();
    expect(conn.state).toBe('FIN-WAIT-2');
    h.tick(4999);
    expect(conn.state).toBe('FIN-WAIT-2');
    h.tick(1);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.connectionCount).toBe(0);
    expect(rec.closes.map((e) => e?.code)).toEqual(['ETIMEDOUT']);
  });

  it('delivers an out-of-order FIN only after the data before it', () => {
    const h = setup();
    const { peer, conn, rec } = passive(h, { peerIsn: 1000 });
    peer.send({ flags: ACK | FIN, seq: 1101 }); // FIN after 100 bytes not yet here
    peer.take();
    expect(rec.ends).toBe(0);
    expect(conn.state).toBe('ESTABLISHED');
    peer.data(pattern(100), { seq: 1001 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 1102 });
    expect(rec.events).toEqual(['data 100', 'end']);
    expect(conn.state).toBe('CLOSE-WAIT');
  });

  it('ACKs an out-of-order FIN at once (duplicate ACK)', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 1000 });
    peer.send({ flags: ACK | FIN, seq: 1101 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 });
  });
});

describe('TIME-WAIT', () => {
  /** Passive open, then we close first and the peer answers: TIME-WAIT on our side. */
  function toTimeWait(mslMs = 1000) {
    const h = setup({ mslMs });
    const acc = listenOn(h);
    const opened = passive(h, { peerIsn: 1000, peerPort: 40000 });
    const { peer, conn, synAck } = opened;
    const ours = seqAdd(synAck.seq, 1);
    h.app(() => conn.close());
    peer.one();
    peer.rcv = seqAdd(ours, 1);
    peer.send({ flags: ACK | FIN });
    peer.one();
    expect(conn.state).toBe('TIME-WAIT');
    return { h, acc, ...opened, ours };
  }

  it('lasts 2 * MSL, then frees the quadruple (a segment for it then gets RST)', () => {
    const { h, peer, conn, ours } = toTimeWait(1000);
    const t0 = h.now;
    h.tick(1999);
    expect(conn.state).toBe('TIME-WAIT');
    expect(h.tcp.lookup(PEER_IP, 40000, 80)).toBe(conn);
    h.tick(1);
    expect(conn.state).toBe('CLOSED');
    expect(h.now).toBe(t0 + 2000);
    expect(h.tcp.lookup(PEER_IP, 40000, 80)).toBeUndefined();
    expect(h.tcp.connectionCount).toBe(0);
    peer.none();
    // Now the quadruple is nobody's: an ACK for it is answered like one to a closed port.
    peer.ackNow({ ack: seqAdd(ours, 1) });
    expectSeg(peer.one(), { flags: 'RST', seq: seqAdd(ours, 1), len: 0 });
  });

  it('ACKs a retransmitted FIN in TIME-WAIT', () => {
    const { h, peer, conn, ours } = toTimeWait(1000);
    h.tick(1500);
    peer.send({ flags: ACK | FIN, seq: 1001 });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(ours, 1), ack: 1002, at: h.now });
    expect(conn.state).toBe('TIME-WAIT');
  });

  it('restarts the 2 MSL wait on a retransmitted FIN', () => {
    const { h, peer, conn } = toTimeWait(1000);
    h.tick(1500);
    peer.send({ flags: ACK | FIN, seq: 1001 });
    peer.one();
    h.tick(1999);
    expect(conn.state).toBe('TIME-WAIT');
  });

  it('accepts a new SYN with a higher timestamp during TIME-WAIT (RFC 6191)', () => {
    const { h, acc, peer, conn } = toTimeWait(30_000);
    h.tick(500);
    // A new incarnation with a sequence number below the old RCV.NXT: only the timestamp says it is new.
    const p2 = new Peer(h, { port: 40000, ourPort: 80, isn: 10 });
    p2.tsBase = peer.tsBase + 1; // its clock has moved on: TSval above TS.Recent
    h.tcp.nextIsn = () => 0x7777_0000;
    p2.syn(FULL_SYN_OPTS(p2));
    const sa = p2.one();
    expectSeg(sa, { flags: 'SYN|ACK', seq: 0x7777_0000, ack: 11 });
    expect(conn.state).toBe('CLOSED');
    p2.rcv = 0x7777_0001;
    p2.tsEcr = sa.options.tsVal;
    p2.ackNow();
    expect(acc.conns).toHaveLength(2);
    expect(acc.conns[1]!.state).toBe('ESTABLISHED');
    expect(h.tcp.lookup(PEER_IP, 40000, 80)).toBe(acc.conns[1]);
  });

  it('answers a SYN with an old timestamp during TIME-WAIT with an ACK and stays (PAWS)', () => {
    const { h, peer, conn, ours } = toTimeWait(30_000);
    h.tick(500);
    peer.send({ flags: SYN, seq: 5000, opts: { mss: 1460, timestamp: { tsVal: peer.tsVal() - 10_000, tsEcr: 0 } } });
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK', seq: seqAdd(ours, 1), ack: 1002, len: 0 }]);
    expect(conn.state).toBe('TIME-WAIT');
  });

  it('accepts a new SYN beyond RCV.NXT during TIME-WAIT without timestamps (RFC 9293 3.10.7.4 / RFC 1122 4.2.2.13)', () => {
    const h = setup({ mslMs: 30_000 });
    const acc = listenOn(h);
    const { peer, conn, synAck } = passive(h, { peerIsn: 1000, synOpts: () => ({ mss: 1460 }) });
    h.app(() => conn.close());
    peer.one();
    peer.rcv = seqAdd(synAck.seq, 2);
    peer.send({ flags: ACK | FIN });
    peer.one();
    expect(conn.state).toBe('TIME-WAIT');
    const p2 = new Peer(h, { port: 40000, ourPort: 80, isn: 900_000, ts: false });
    p2.syn({ mss: 1460 });
    expectSeg(p2.one(), { flags: 'SYN|ACK', ack: 900_001 });
    expect(acc.conns.length).toBe(1);
    expect(conn.state).toBe('CLOSED');
  });
});

describe('segments to a closed port (RFC 9293 3.10.7.1)', () => {
  it('answers a SYN with RST|ACK <SEQ=0><ACK=SEG.SEQ+SEG.LEN>', () => {
    const h = setup();
    const p = new Peer(h, { port: 33333, ourPort: 81, isn: 0xffff_ffff, ts: false });
    p.syn({ mss: 1460 });
    const r = p.one();
    expectSeg(r, { flags: 'RST|ACK', seq: 0, ack: 0, len: 0 }); // 0xffffffff + 1 wraps to 0
    expect(r.window).toBe(0);
    expect(h.tcp.stats.resetsOut).toBe(1);
  });

  it('answers an ACK with RST <SEQ=SEG.ACK> (no ACK bit)', () => {
    const h = setup();
    const p = new Peer(h, { port: 33333, ourPort: 81, isn: 500, ts: false });
    p.send({ flags: ACK | PSH, ack: 0x1234_5678, payload: pattern(10) });
    expectSeg(p.one(), { flags: 'RST', seq: 0x1234_5678, ack: 0, len: 0 });
  });

  it('counts data and FIN in SEG.LEN when there is no ACK', () => {
    const h = setup();
    const p = new Peer(h, { port: 33333, ourPort: 81, isn: 500, ts: false });
    p.send({ flags: PSH | FIN, payload: pattern(10) });
    expectSeg(p.one(), { flags: 'RST|ACK', seq: 0, ack: 511 });
  });

  it('never answers a RST', () => {
    const h = setup();
    const p = new Peer(h, { port: 33333, ourPort: 81, isn: 500, ts: false });
    p.send({ flags: RST });
    p.send({ flags: RST | ACK, ack: 77 });
    p.none();
  });

  it('answers a non-SYN to a listening port with RST when it carries an ACK, drops it otherwise', () => {
    const h = setup();
    listenOn(h, 80);
    const p = new Peer(h, { port: 33333, ourPort: 80, isn: 500, ts: false });
    p.send({ flags: ACK, ack: 99 });
    expectSeg(p.one(), { flags: 'RST', seq: 99 });
    p.send({ flags: PSH, payload: pattern(5) });
    p.none();
    expect(h.tcp.connectionCount).toBe(0);
  });
});
