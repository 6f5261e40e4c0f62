/**
 * Data transfer: sequence numbers across the 2^32 wrap, delayed ACKs (RFC 9293 3.8.6.3,
 * RFC 1122 4.2.3.2), Nagle (RFC 9293 3.7.4), out-of-order and duplicate segments with SACK
 * (RFC 5681 4.2, RFC 2018), PAWS (RFC 7323 5).
 */
import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff } from '../../../src/wire/seq.js';
import { active, desc, expectSeg, passive, setup } from './helpers.js';
import { ACK, concat, type Out, pattern, PSH } from './peer.js';

/** The SACK blocks of a segment as [left, right] pairs. */
function sackBlocks(s: Out): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < s.options.sackCount; i++) out.push([s.options.sack[2 * i]!, s.options.sack[2 * i + 1]!]);
  return out;
}

describe('data across the sequence-number wrap', () => {
  it('passive: both directions byte-exact, ISNs just below 2^32', () => {
    const h = setup();
    const { peer, conn, rec, synAck } = passive(h, { ourIsn: 0xffff_fff0, peerIsn: 0xffff_fa00 });
    expect(synAck.seq).toBe(0xffff_fff0);
    // Peer -> us: 5000 bytes from 0xfffffa01 (the wrap is 1535 bytes in).
    const inData = pattern(5000, 11);
    const t0 = h.now;
    const sizes = [1448, 1448, 1448, 656];
    let off = 0;
    const acks: Out[] = [];
    for (const n of sizes) {
      peer.data(inData.subarray(off, off + n));
      off += n;
      acks.push(...peer.take());
    }
    // Every second full-sized segment is ACKed at once; the rest after the delayed-ACK timer.
    expect(acks.map(desc)).toEqual([{ flags: 'ACK', seq: 0xffff_fff1, ack: seqAdd(0xffff_fa01, 2896), len: 0 }]);
    h.tick(40);
    expectSeg(peer.one(), { flags: 'ACK', seq: 0xffff_fff1, ack: seqAdd(0xffff_fa01, 5000), at: t0 + 40 });
    expect(seqAdd(0xffff_fa01, 5000)).toBe(0x0000_0d89);
    expect(rec.received).toEqual(inData);

    // Us -> peer: 5000 bytes from 0xfffffff1 (the wrap is 15 bytes in).
    const outData = pattern(5000, 99);
    h.app(() => conn.setNoDelay(true));
    expect(h.app(() => conn.write(outData))).toBe(5000);
    const segs = peer.take();
    expect(segs.map((s) => [s.seq, s.payload.length])).toEqual([
      [0xffff_fff1, 1448],
      [seqAdd(0xffff_fff1, 1448), 1448],
      [seqAdd(0xffff_fff1, 2896), 1448],
      [seqAdd(0xffff_fff1, 4344), 656],
    ]);
    expect(segs[3]!.flags & PSH).toBe(PSH);
    for (const s of segs) expect(s.ack).toBe(0x0000_0d89);
    expect(concat(segs.map((s) => s.payload))).toEqual(outData);
    peer.rcv = seqAdd(0xffff_fff1, 5000);
    peer.ackNow();
    peer.none();
    expect(conn.sndUna).toBe(seqAdd(0xffff_fff1, 5000));
    expect(conn.sendQueue.length).toBe(0);
    expect(rec.sendSpaceCalls).toBeGreaterThan(0);
  });

  it('active: both directions byte-exact, ISNs just below 2^32', () => {
    const h = setup();
    const { peer, conn, rec, ack } = active(h, { ourIsn: 0xffff_ff00, peerIsn: 0xffff_fff8 });
    expectSeg(ack, { seq: 0xffff_ff01, ack: 0xffff_fff9 });
    const inData = pattern(3000, 5);
    peer.data(inData.subarray(0, 1448));
    peer.data(inData.subarray(1448, 2896));
    expectSeg(peer.one(), { flags: 'ACK', ack: seqAdd(0xffff_fff9, 2896) });
    peer.data(inData.subarray(2896));
    h.tick(40);
    expectSeg(peer.one(), { flags: 'ACK', ack: seqAdd(0xffff_fff9, 3000) });
    expect(rec.received).toEqual(inData);

    const outData = pattern(2000, 1);
    h.app(() => conn.setNoDelay(true));
    h.app(() => conn.write(outData));
    const segs = peer.take();
    expect(segs.map((s) => [s.seq, s.payload.length])).toEqual([
      [0xffff_ff01, 1448],
      [seqAdd(0xffff_ff01, 1448), 552],
    ]);
    expect(seqDiff(seqAdd(0xffff_ff01, 2000), 0)).toBeGreaterThan(0); // it did cross the wrap
    expect(concat(segs.map((s) => s.payload))).toEqual(outData);
  });
});

describe('delayed ACK', () => {
  it('ACKs a single segment after 40 ms', () => {
    const h = setup();
    const { peer, synAck } = passive(h, { peerIsn: 1000 });
    const t0 = h.now;
    peer.data(pattern(100));
    peer.none();
    h.tick(39);
    peer.none();
    h.tick(1);
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(synAck.seq, 1), ack: 1101, len: 0, at: t0 + 40 });
    expect(h.tcp.stats.delayedAcks).toBe(1);
    h.tick(1000);
    peer.none();
  });

  it('ACKs at once on the second full-sized segment', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 1000 });
    const t0 = h.now;
    peer.data(pattern(1448));
    peer.none();
    peer.data(pattern(1448));
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 2896, at: t0 });
    h.tick(1000);
    peer.none(); // the delayed-ACK timer died with the ACK
  });

  it('ACKs at once on the second full-sized segment without timestamps (1460 bytes each)', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 1000, synOpts: () => ({ mss: 1460, sackPermitted: true, windowScale: 7 }) });
    peer.data(pattern(1460));
    peer.none();
    peer.data(pattern(1460));
    expectSeg(peer.one(), { flags: 'ACK', ack: 1001 + 2920 });
  });

  it('lets data it sends carry the pending ACK', () => {
    const h = setup();
    const { peer, conn } = passive(h, { peerIsn: 1000 });
    peer.data(pattern(10));
    peer.none();
    h.app(() => conn.write(pattern(20)));
    expectSeg(peer.one(), { flags: 'ACK|PSH', ack: 1011, len: 20 });
    h.tick(40);
    peer.none();
  });
});

describe('Nagle', () => {
  it('holds a small write while data is unacknowledged; setNoDelay sends at once', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h);
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(10, 0)));
    expectSeg(peer.one(), { flags: 'ACK|PSH', seq: base, len: 10 });
    h.app(() => conn.write(pattern(10, 10)));
    h.app(() => conn.write(pattern(10, 20)));
    peer.none(); // small, and 10 bytes are in flight
    h.tick(100);
    peer.none();
    peer.rcv = seqAdd(base, 10);
    peer.ackNow();
    const s = peer.one();
    expectSeg(s, { flags: 'ACK|PSH', seq: seqAdd(base, 10), len: 20 });
    expect(s.payload).toEqual(pattern(20, 10));

    h.app(() => conn.setNoDelay(true));
    peer.none();
    h.app(() => conn.write(pattern(5, 30)));
    h.app(() => conn.write(pattern(5, 35)));
    expect(peer.take().map(desc)).toEqual([
      { flags: 'ACK|PSH', seq: seqAdd(base, 30), ack: peer.snd, len: 5 },
      { flags: 'ACK|PSH', seq: seqAdd(base, 35), ack: peer.snd, len: 5 },
    ]);
  });

  it('sends held data as soon as noDelay is turned on', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h);
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(10)));
    h.app(() => conn.write(pattern(10)));
    expect(peer.take()).toHaveLength(1);
    h.app(() => conn.setNoDelay(true));
    expectSeg(peer.one(), { seq: seqAdd(base, 10), len: 10 });
  });

  it("Minshall: a write's sub-MSS tail leaves at once behind full segments, and holds the next small write", () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h);
    const base = seqAdd(synAck.seq, 1);
    // A peer that does not ACK (or delays its ACK of one segment): classic Nagle would hold the
    // 552-byte tail until the 1448 bytes before it are acknowledged.
    h.app(() => conn.write(pattern(2000)));
    expect(peer.take().map((s) => [seqDiff(s.seq, base), s.payload.length])).toEqual([
      [0, 1448],
      [1448, 552],
    ]);
    // Now a small segment is unacknowledged: the next small write waits for its ACK, and the
    // ACK of the full segment alone does not release it.
    h.app(() => conn.write(pattern(100)));
    peer.none();
    peer.rcv = seqAdd(base, 1448);
    peer.ackNow();
    peer.none();
    peer.rcv = seqAdd(base, 2000);
    peer.ackNow();
    expectSeg(peer.one(), { flags: 'ACK|PSH', seq: seqAdd(base, 2000), len: 100 });
  });

  it('Minshall: full segments in flight do not hold a small write', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h);
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(2 * 1448)));
    expect(peer.take().map((s) => s.payload.length)).toEqual([1448, 1448]);
    h.app(() => conn.write(pattern(30)));
    expectSeg(peer.one(), { seq: seqAdd(base, 2896), len: 30 });
    h.tick(100);
    expect(peer.take().filter((s) => s.payload.length > 0)).toEqual([]);
  });

  it('does not hold full-sized segments', () => {
    const h = setup();
    const { peer, conn } = passive(h);
    h.app(() => conn.write(pattern(10)));
    expect(peer.take()).toHaveLength(1);
    h.app(() => conn.write(pattern(1448 * 2 + 100)));
    // Two full segments go although 10 bytes are unacknowledged; the 100-byte tail waits.
    expect(peer.take().map((s) => s.payload.length)).toEqual([1448, 1448]);
  });
});

describe('out-of-order and duplicate segments', () => {
  it('holds out-of-order data, ACKs at once with SACK blocks, delivers in order when the hole fills', () => {
    const h = setup();
    const { peer, rec, synAck } = passive(h, { peerIsn: 0xffff_ff00 });
    const r = 0xffff_ff01;
    const data = pattern(600);
    const seg = (i: number) => ({ seq: seqAdd(r, 100 * i), payload: data.subarray(100 * i, 100 * i + 100) });
    const ourSeq = seqAdd(synAck.seq, 1);

    peer.data(seg(0).payload, { seq: seg(0).seq });
    peer.none(); // in order: delayed ACK
    peer.data(seg(2).payload, { seq: seg(2).seq });
    let a = peer.one(); // a duplicate ACK at once (RFC 5681 4.2)
    expectSeg(a, { flags: 'ACK', seq: ourSeq, ack: seqAdd(r, 100), len: 0 });
    expect(sackBlocks(a)).toEqual([[seqAdd(r, 200), seqAdd(r, 300)]]);
    expect(rec.received).toEqual(data.subarray(0, 100));

    peer.data(seg(4).payload, { seq: seg(4).seq });
    a = peer.one();
    expectSeg(a, { flags: 'ACK', ack: seqAdd(r, 100) });
    // RFC 2018 4: the block of the segment that triggered the ACK first, then the others.
    expect(sackBlocks(a)).toEqual([
      [seqAdd(r, 400), seqAdd(r, 500)],
      [seqAdd(r, 200), seqAdd(r, 300)],
    ]);
    expect(h.tcp.stats.outOfOrderSegments).toBe(2);

    // The hole at 100 fills: 100..300 delivered, ACK at once, only the block at 400 left.
    peer.data(seg(1).payload, { seq: seg(1).seq });
    a = peer.one();
    expectSeg(a, { flags: 'ACK', ack: seqAdd(r, 300) });
    expect(sackBlocks(a)).toEqual([[seqAdd(r, 400), seqAdd(r, 500)]]);
    expect(rec.received).toEqual(data.subarray(0, 300));

    peer.data(seg(3).payload, { seq: seg(3).seq });
    a = peer.one();
    expectSeg(a, { flags: 'ACK', ack: seqAdd(r, 500) });
    expect(sackBlocks(a)).toEqual([]);
    peer.data(seg(5).payload, { seq: seg(5).seq });
    h.tick(40);
    expectSeg(peer.one(), { flags: 'ACK', ack: seqAdd(r, 600) });
    expect(rec.received).toEqual(data);
    expect(rec.events.filter((e) => e.startsWith('data')).length).toBeGreaterThanOrEqual(5);
  });

  it('ignores a duplicate out-of-order segment (delivered once) and ACKs it at once', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 5000 });
    const data = pattern(300);
    peer.data(data.subarray(200, 300), { seq: 5201 });
    expect(peer.take()).toHaveLength(1);
    peer.data(data.subarray(200, 300), { seq: 5201 });
    const a = peer.one();
    expectSeg(a, { flags: 'ACK', ack: 5001 });
    expect(sackBlocks(a)).toEqual([[5201, 5301]]);
    peer.data(data.subarray(0, 200), { seq: 5001 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 5301 });
    expect(rec.received).toEqual(data);
  });

  it('puts the block of a duplicate out-of-order segment first in the SACK option', () => {
    const h = setup();
    const { peer } = passive(h, { peerIsn: 5000 });
    peer.data(pattern(100), { seq: 5201 });
    peer.data(pattern(100), { seq: 5401 });
    peer.take();
    peer.data(pattern(100), { seq: 5201 });
    expect(sackBlocks(peer.one())).toEqual([
      [5201, 5301],
      [5401, 5501],
    ]);
  });

  it('ACKs an entirely old segment at once and does not deliver it twice (our ACK was lost)', () => {
    const h = setup();
    const { peer, rec, synAck } = passive(h, { peerIsn: 7000 });
    const t0 = h.now;
    peer.data(pattern(100), { seq: 7001 });
    h.tick(40);
    expectSeg(peer.one(), { flags: 'ACK', ack: 7101, at: t0 + 40 }); // lost
    h.tick(160);
    peer.data(pattern(100), { seq: 7001 }); // the peer retransmits
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(synAck.seq, 1), ack: 7101, len: 0, at: t0 + 200 });
    expect(rec.received).toEqual(pattern(100));
    expect(h.tcp.stats.duplicateSegments).toBe(1);
  });

  it('takes the new part of a partly old segment and ACKs at once', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 7000 });
    const data = pattern(300);
    peer.data(data.subarray(0, 200), { seq: 7001 });
    h.tick(40);
    peer.take();
    peer.data(data.subarray(100, 300), { seq: 7101 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 7301 });
    expect(rec.received).toEqual(data);
  });

  it('sends no SACK blocks when SACK was not negotiated', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 5000, synOpts: (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }) });
    peer.data(pattern(100), { seq: 5101 });
    const a = peer.one();
    expectSeg(a, { flags: 'ACK', ack: 5001 });
    expect(a.options.sackCount).toBe(0);
    peer.data(pattern(100), { seq: 5001 });
    expectSeg(peer.one(), { flags: 'ACK', ack: 5201 });
    expect(rec.received).toEqual(concat([pattern(100), pattern(100)]));
  });
});

describe('PAWS (RFC 7323 5)', () => {
  it('drops a segment with an old timestamp and ACKs it', () => {
    const h = setup();
    const { peer, rec, conn } = passive(h, { peerIsn: 100 });
    h.tick(10);
    const old = peer.tsVal() - 1000;
    peer.send({ flags: ACK | PSH, seq: 101, payload: pattern(50), opts: { timestamp: { tsVal: old, tsEcr: peer.tsEcr } } });
    expectSeg(peer.one(), { flags: 'ACK', ack: 101, len: 0, at: h.now });
    expect(rec.received.length).toBe(0);
    expect(h.tcp.stats.pawsDropped).toBe(1);
    expect(conn.state).toBe('ESTABLISHED');
    // The same data with a current timestamp is taken.
    peer.data(pattern(50), { seq: 101 });
    expect(rec.received).toEqual(pattern(50));
  });

  it('lets a reordered pure duplicate ACK through (Linux tcp_disordered_ack), not an old one or one with data', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 100 });
    h.tick(10);
    // Data sets TS.Recent; then a pure ACK the peer sent 5 ms before that data arrives.
    const recent = peer.tsVal();
    peer.data(pattern(50), { seq: 101 });
    h.tick(40);
    peer.take(); // the delayed ACK
    const ack = (tsVal: number, payload?: Uint8Array) =>
      peer.send({ flags: payload ? ACK | PSH : ACK, seq: 151, ...(payload ? { payload } : {}), opts: { timestamp: { tsVal, tsEcr: peer.tsEcr } } });
    ack(recent - 5);
    peer.none();
    expect(h.tcp.stats.pawsDropped).toBe(0);
    // More than an RTO (200 ms after the handshake's sample) behind TS.Recent: an old duplicate.
    ack(recent - 1000);
    expectSeg(peer.one(), { flags: 'ACK', ack: 151, len: 0 });
    expect(h.tcp.stats.pawsDropped).toBe(1);
    // With data it is never exempt.
    ack(recent - 5, pattern(10));
    expectSeg(peer.one(), { flags: 'ACK', ack: 151, len: 0 });
    expect(h.tcp.stats.pawsDropped).toBe(2);
    expect(rec.received).toEqual(pattern(50));
  });

  it('does not apply PAWS to a RST', () => {
    const h = setup();
    const { peer, rec } = passive(h, { peerIsn: 100 });
    peer.send({ flags: 0x04, seq: 101, opts: { timestamp: { tsVal: peer.tsVal() - 1000, tsEcr: 0 } } });
    expect(rec.closes.map((e) => e?.code)).toEqual(['ECONNRESET']);
  });
});

describe('peer acknowledgments', () => {
  it('answers an ACK of data never sent with an ACK and ignores it (RFC 9293 3.10.7.4)', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 100 });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(10)));
    peer.take();
    peer.ackNow({ ack: seqAdd(base, 1000) });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(base, 10), ack: 101, len: 0 });
    expect(conn.sndUna).toBe(base);
  });

  it('retransmits on the third duplicate ACK (RFC 5681 3.2)', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 100 });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(1448 * 5)));
    expect(peer.take()).toHaveLength(5);
    peer.ackNow({ ack: base });
    peer.ackNow({ ack: base });
    peer.none();
    peer.ackNow({ ack: base });
    const r = peer.one();
    expectSeg(r, { flags: 'ACK', seq: base, len: 1448 });
    expect(r.payload).toEqual(pattern(1448 * 5).subarray(0, 1448));
    expect(h.tcp.stats.fastRetransmits).toBe(1);
  });
});

