/**
 * Loss recovery choices against the scripted peer (NewReno partial ACKs for a peer without
 * SACK, RFC 6675 recovery with SACK), and the limits that bound what peers can make us hold.
 */
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/wire/seq.js';
import { ACK, OUR_IP, PEER_IP, PSH, pattern, Peer, SYN } from './peer.js';
import { fillTcpChecksum } from '../../../src/wire/tcp.js';
import { expectSeg, listenOn, passive, setup } from './helpers.js';

const MSS = 1448;
const NO_SACK = (p: Peer) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 }, windowScale: 7 });

describe('NewReno (RFC 6582) for a peer without SACK', () => {
  it('retransmits the next hole on a partial ACK, and leaves recovery on the full ACK', () => {
    const h = setup({ congestionControl: 'newreno' });
    const { peer, conn, synAck } = passive(h, { peerIsn: 100, synOpts: NO_SACK });
    expect(conn.sackOk).toBe(false);
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(MSS * 8)));
    expect(peer.take()).toHaveLength(8);
    // Segments 0 and 3 are lost: the peer acknowledges nothing new three times.
    for (let i = 0; i < 3; i++) peer.ackNow({ ack: base });
    expectSeg(peer.one(), { flags: 'ACK', seq: base, len: MSS }); // fast retransmit of segment 0
    const ssthresh = conn.cc.ssthresh;
    expect(ssthresh).toBe(Math.max(Math.floor((MSS * 8) / 2), 2 * MSS));
    // The retransmission fills the first hole: a partial ACK up to segment 3 (RFC 6582 3.2 (5)).
    peer.ackNow({ ack: seqAdd(base, 3 * MSS) });
    const partial = peer.take().filter((s) => s.payload.length > 0);
    expect(partial[0]!.seq).toBe(seqAdd(base, 3 * MSS)); // the next hole, at once
    expect(partial[0]!.payload).toEqual(pattern(MSS * 8).subarray(3 * MSS, 4 * MSS));
    // Everything acknowledged: recovery over, the window deflated to at most ssthresh.
    peer.ackNow({ ack: seqAdd(base, 8 * MSS) });
    expect(conn.sndUna).toBe(seqAdd(base, 8 * MSS));
    expect(conn.cc.cwnd).toBeLessThanOrEqual(ssthresh + MSS);
    expect(h.tcp.stats.fastRetransmits).toBe(1);
  });
});

describe('SACK recovery (RFC 6675)', () => {
  it('retransmits only the holes the SACK blocks show, once each', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 100 });
    expect(conn.sackOk).toBe(true);
    const base = seqAdd(synAck.seq, 1);
    const data = pattern(MSS * 10);
    h.app(() => conn.write(data));
    expect(peer.take()).toHaveLength(10);
    // Segments 1 and 4 lost: the peer SACKs 2-3, then 2-3 and 5-9.
    const blocks = new Uint32Array([seqAdd(base, 2 * MSS), seqAdd(base, 4 * MSS), seqAdd(base, 5 * MSS), seqAdd(base, 10 * MSS)]);
    peer.ackNow({ ack: seqAdd(base, MSS), opts: { timestamp: { tsVal: peer.tsVal(), tsEcr: peer.tsEcr }, sackBlocks: blocks, sackBlockCount: 1 } });
    peer.ackNow({ ack: seqAdd(base, MSS), opts: { timestamp: { tsVal: peer.tsVal(), tsEcr: peer.tsEcr }, sackBlocks: blocks.subarray(2), sackBlockCount: 1 } });
    const resent = peer.take().filter((s) => s.payload.length > 0);
    expect(resent.map((s) => (s.seq - base) / MSS).sort()).toEqual([1, 4]);
    expect(resent.find((s) => s.seq === seqAdd(base, 4 * MSS))!.payload).toEqual(data.subarray(4 * MSS, 5 * MSS));
    expect(conn.sb!.sackedBytes).toBe(7 * MSS);
    peer.ackNow({ ack: seqAdd(base, 10 * MSS) });
    expect(conn.sndUna).toBe(seqAdd(base, 10 * MSS));
    expect(h.tcp.stats.retransmits).toBe(2);
  });
});

describe('limits, each counted when it bites', () => {
  it('drops SYNs beyond the connection limit', () => {
    const h = setup({ maxConnections: 2 });
    listenOn(h, 80, 16);
    const peers = [1, 2, 3].map((i) => new Peer(h, { port: 42000 + i, ourPort: 80, isn: i * 1000 }));
    for (const p of peers) p.syn();
    expect(h.tcp.connectionCount).toBe(2);
    expect(h.tcp.stats.drops['tcp-connection-limit']).toBe(1);
    peers[2]!.none();
  });

  it('drops out-of-order data beyond the per-connection bound', () => {
    const h = setup({ maxOutOfOrderBytes: 3000 });
    const { peer, conn } = passive(h, { peerIsn: 100 });
    const s0 = peer.snd;
    for (let i = 1; i <= 4; i++) peer.send({ flags: ACK | PSH, seq: seqAdd(s0, i * 1000), payload: pattern(1000, i * 1000) });
    expect(h.tcp.stats.drops['tcp-ooo-limit']).toBe(1);
    expect(h.tcp.stats.outOfOrderDropped).toBe(1);
    expect(h.tcp.oooBytesTotal).toBe(3000);
    // The hole filled: the three kept segments are delivered, the dropped one is asked again.
    peer.send({ flags: ACK | PSH, seq: s0, payload: pattern(1000, 0) });
    expect(conn.rcvNxt).toBe(seqAdd(s0, 4000));
    expect(h.tcp.oooBytesTotal).toBe(0);
  });

  it('drops out-of-order data beyond the global bound', () => {
    const h = setup({ maxOutOfOrderBytesTotal: 2500 });
    const a = passive(h, { peerIsn: 100, peerPort: 43001 });
    const b = passive(h, { peerIsn: 900, peerPort: 43002 });
    a.peer.send({ flags: ACK | PSH, seq: seqAdd(a.peer.snd, 1000), payload: pattern(1500) });
    b.peer.send({ flags: ACK | PSH, seq: seqAdd(b.peer.snd, 1000), payload: pattern(1500) });
    expect(h.tcp.stats.drops['tcp-ooo-global-limit']).toBe(1);
    expect(h.tcp.oooBytesTotal).toBe(1500);
  });
});

describe('order of the receive checks', () => {
  it('counts a segment whose options were corrupted in transit as a checksum failure, one with bad options and a good checksum as bad options', () => {
    const h = setup();
    listenOn(h, 80, 16);
    const peer = new Peer(h, { port: 43000, ourPort: 80, isn: 77 });
    // NOP NOP TS(10) ...: the timestamp option's length byte set to 0 after the checksum.
    const f = peer.frame({ flags: SYN, opts: { timestamp: { tsVal: 1, tsEcr: 0 } } });
    expect(f[34 + 20 + 2]).toBe(8);
    f[34 + 20 + 3] = 0;
    h.deliver(f);
    expect(h.tcp.stats.drops['tcp-bad-checksum']).toBe(1);
    expect(h.tcp.stats.drops['tcp-bad-options']).toBeUndefined();
    // The same option, with its checksum made right again: now it is the options.
    fillTcpChecksum(f, 34, f.length - 34, PEER_IP, OUR_IP);
    h.deliver(f);
    expect(h.tcp.stats.drops['tcp-bad-options']).toBe(1);
    peer.none();
  });
});

describe('no route', () => {
  it('a SYN to an off-link address without a gateway is dropped and counted once', () => {
    const h = setup();
    const conn = h.tcp.connect(0xc613_0001, 80); // 198.19.0.1: outside 198.18.0.0/24, no gateway
    h.app(() => conn.connect());
    expect(h.iface.stats.drops['ipv4-no-route']).toBe(1);
    expect(h.log).toHaveLength(0);
  });
});
