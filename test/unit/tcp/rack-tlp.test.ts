/**
 * RACK-TLP (RFC 8985) and spurious-retransmission undo (RFC 3708 D-SACK, RFC 3522 Eifel)
 * against the scripted peer, on the virtual clock. Handshake RTT 40 ms with timestamps: SRTT 40,
 * min_RTT 40, RTO 200 (RFC 6298 minimum), RACK's reordering window min_RTT / 4 = 10 ms.
 */
import { describe, expect, it } from 'vitest';
import { INITIAL_SSTHRESH } from '../../../src/tcp/cc/congestion-control.js';
import { RackTlp, type RackAck } from '../../../src/tcp/rack.js';
import { SackScoreboard } from '../../../src/tcp/sack-scoreboard.js';
import { seqAdd } from '../../../src/wire/seq.js';
import type { TcpOptionsToEmit } from '../../../src/wire/tcp.js';
import { expectSeg, passive, setup } from './helpers.js';
import { type Harness, type Out, pattern, type Peer } from './peer.js';

const MSS = 1448; // 1460 less the timestamps option
const RTT = 40;

/** The peer ACKs `ack` with SACK blocks given in segment numbers [from, to) relative to `base`. */
function sackAck(peer: Peer, base: number, ackSeg: number, blocks: [number, number][], noTs = false, mss = MSS): void {
  const b = new Uint32Array(2 * blocks.length);
  blocks.forEach(([l, r], i) => {
    b[2 * i] = seqAdd(base, l * mss);
    b[2 * i + 1] = seqAdd(base, r * mss);
  });
  const opts: TcpOptionsToEmit = { sackBlocks: b, sackBlockCount: blocks.length };
  if (!noTs) opts.timestamp = { tsVal: peer.tsVal(), tsEcr: peer.tsEcr };
  peer.ackNow({ ack: seqAdd(base, ackSeg * mss), opts });
}

function dataSegs(segs: Out[]): Out[] {
  return segs.filter((s) => s.payload.length > 0);
}

/** Connection with a 40 ms handshake RTT; `n` segments written and taken. */
function flight(n: number, config: Parameters<typeof setup>[0] = {}, synOpts?: (p: Peer) => TcpOptionsToEmit) {
  const h = setup(config);
  const o = passive(h, { peerIsn: 100, rtt: RTT, ...(synOpts ? { synOpts } : {}) });
  const base = seqAdd(o.synAck.seq, 1);
  const data = pattern(n * MSS);
  const t0 = h.now;
  h.app(() => o.conn.write(data));
  expect(dataSegs(o.peer.take())).toHaveLength(n);
  return { h, ...o, base, data, t0 };
}

/** Advance to `t`, collecting every data segment sent on the way. */
function until(h: Harness, peer: Peer, t: number): Out[] {
  h.tickTo(t);
  return dataSegs(peer.take());
}

describe('RACK (RFC 8985 6)', () => {
  it('repairs a single loss in a 4-segment window after the reordering window, without an RTO', () => {
    const { h, peer, conn, base, data, t0 } = flight(4);
    expect(conn.rack).not.toBeNull();
    // Segment 1 is lost; 0, 2 and 3 arrive: one ACK and two SACKs, fewer than DupThresh.
    h.tickTo(t0 + RTT);
    peer.ackNow({ ack: seqAdd(base, MSS) });
    sackAck(peer, base, 1, [[2, 3]]);
    sackAck(peer, base, 1, [[2, 4]]);
    peer.none();
    // RACK: segment 1 was sent before segment 3 and is RACK.rtt + reo_wnd = 40 + 10 ms old at t0 + 50.
    expect(until(h, peer, t0 + RTT + 9)).toEqual([]);
    const r = until(h, peer, t0 + RTT + 10);
    expect(r).toHaveLength(1);
    expectSeg(r[0]!, { seq: seqAdd(base, MSS), len: MSS, at: t0 + RTT + 10 });
    expect(r[0]!.payload).toEqual(data.subarray(MSS, 2 * MSS));
    expect(h.tcp.stats.rackMarkedLost).toBe(1);
    expect(h.tcp.stats.fastRetransmits).toBe(1);
    peer.ackNow({ ack: seqAdd(base, 4 * MSS) });
    expect(conn.sndUna).toBe(seqAdd(base, 4 * MSS));
    h.tick(1000);
    expect(h.tcp.stats.timeouts).toBe(0);
    expect(h.tcp.stats.retransmits).toBe(1);
  });

  it('does not retransmit a segment reordered within the reordering window, and then stops trusting DupThresh', () => {
    const { h, peer, conn, base, t0 } = flight(4);
    h.tickTo(t0 + RTT);
    peer.ackNow({ ack: seqAdd(base, MSS) });
    sackAck(peer, base, 1, [[2, 3]]); // segment 1 is late, not lost
    h.tickTo(t0 + RTT + 5);
    peer.ackNow({ ack: seqAdd(base, 4 * MSS) }); // ... and arrives 5 ms later, within 10 ms
    expect(conn.rack!.reorderingSeen).toBe(true);
    expect(until(h, peer, t0 + 1000)).toEqual([]);
    expect(h.tcp.stats.retransmits).toBe(0);

    // Reordering seen: three SACKed segments above a hole no longer mean loss at once (the
    // DupThresh rule, RFC 6675 IsLost, would retransmit here); RACK waits min_RTT / 4.
    const t1 = h.now;
    h.app(() => conn.write(pattern(5 * MSS)));
    expect(dataSegs(peer.take())).toHaveLength(5);
    const b1 = seqAdd(base, 4 * MSS);
    h.tickTo(t1 + RTT);
    sackAck(peer, b1, 0, [[1, 4]]);
    peer.none();
    h.tickTo(t1 + RTT + 8);
    peer.ackNow({ ack: seqAdd(b1, 5 * MSS) });
    expect(until(h, peer, t1 + 1000)).toEqual([]);
    expect(h.tcp.stats.retransmits).toBe(0);
    expect(h.tcp.stats.fastRetransmits).toBe(0);
  });

  it('widens the reordering window by min_RTT / 4 per round with a D-SACK (RFC 8985 6.2 step 4)', () => {
    const { h, peer, conn, base, t0 } = flight(1);
    h.tickTo(t0 + RTT);
    // The peer reports a duplicate of segment 0 (D-SACK below the cumulative ACK, RFC 2883 4).
    sackAck(peer, base, 1, [[0, 1]]);
    expect(h.tcp.stats.dsacksReceived).toBe(1);
    expect(conn.rack!.reoWndMult).toBe(2);
    // A loss now waits 2 * 40 / 4 = 20 ms instead of 10.
    const t1 = h.now;
    h.app(() => conn.write(pattern(4 * MSS)));
    expect(dataSegs(peer.take())).toHaveLength(4);
    const b1 = seqAdd(base, MSS);
    h.tickTo(t1 + RTT);
    peer.ackNow({ ack: seqAdd(b1, MSS) });
    sackAck(peer, b1, 1, [[2, 4]]);
    expect(until(h, peer, t1 + RTT + 19)).toEqual([]);
    const r = until(h, peer, t1 + RTT + 20);
    expect(r.map((s) => [s.seq, s.at])).toEqual([[seqAdd(b1, MSS), t1 + RTT + 20]]);
  });
});

describe('RACK pipe counters', () => {
  it('count a segment marked lost once when an RTO comes before its retransmission', () => {
    // Ten 1000-byte segments sent at 0 ms; 5..9 SACKed at 40 ms: RACK marks 0..4 lost.
    const rack = new RackTlp();
    const sb = new SackScoreboard(1000);
    for (let k = 0; k < 10; k++) rack.onTransmit(k * 1000, (k + 1) * 1000, 0);
    const blocks = new Uint32Array([5000, 10000]);
    sb.update(0, blocks, 1, 10000);
    const a: RackAck = { ack: 0, sndUnaBefore: 0, sndNxt: 10000, blocks, count: 1, dsack: false, dsackStart: 0, dsackEnd: 0, pureDupAck: false, echoedSentAt: -1, minRtt: 40 };
    rack.onAck(a, 40, sb);
    expect(rack.detectLoss(40, 40, 40, sb.sackedBytes, 1000, false)).toBe(5);
    rack.onTransmit(0, 1000, 41); // only segment 0 was retransmitted (cwnd) ...
    expect(rack.pendingBytes).toBe(4000);
    rack.onRto(); // ... when the RTO fired: 0 is lost again, 1..4 still wait, nothing twice
    expect(rack.audit()).toEqual({ lostBytes: 5000, rxtBytes: 0, pendingBytes: 5000 });
    expect([rack.lostBytes, rack.rxtBytes, rack.pendingBytes]).toEqual([5000, 0, 5000]);
    // Go-back-N resends them; then everything is acknowledged: nothing waits any more.
    for (let k = 0; k < 5; k++) rack.onTransmit(k * 1000, (k + 1) * 1000, 300);
    expect(rack.pendingBytes).toBe(0);
    expect(rack.rxtBytes).toBe(5000);
    sb.update(10000, blocks, 0, 10000);
    rack.onAck({ ...a, ack: 10000, count: 0 }, 301, sb);
    expect([rack.lostBytes, rack.rxtBytes, rack.pendingBytes]).toEqual([0, 0, 0]);
    expect(rack.nextLost(0)).toBe(-1);
  });
});

describe('TLP (RFC 8985 7)', () => {
  it('probes a lost tail with the last segment at PTO = 2 * SRTT + 2 ms, and RACK repairs the rest without an RTO', () => {
    const { h, peer, conn, base, data, t0 } = flight(4);
    // Segments 2 and 3 are lost: only 0 and 1 are acknowledged; no duplicate ACK will come.
    h.tickTo(t0 + RTT);
    peer.ackNow({ ack: seqAdd(base, 2 * MSS) });
    // PTO = 2 * SRTT + 2 ms (Linux's floor) = 82 ms from this ACK (RTO would be at t0 + 40 + 200).
    expect(until(h, peer, t0 + RTT + 81)).toEqual([]);
    const probe = until(h, peer, t0 + RTT + 82);
    expect(probe).toHaveLength(1);
    expectSeg(probe[0]!, { seq: seqAdd(base, 3 * MSS), len: MSS, at: t0 + RTT + 82 });
    expect(probe[0]!.payload).toEqual(data.subarray(3 * MSS));
    expect(h.tcp.stats.tlpProbes).toBe(1);
    // The probe is SACKed: segment 2, sent before it, is lost by RACK at once.
    h.tickTo(t0 + 2 * RTT + 82);
    sackAck(peer, base, 2, [[3, 4]]);
    const r = dataSegs(peer.take());
    expect(r.map((s) => s.seq)).toEqual([seqAdd(base, 2 * MSS)]);
    expect(r[0]!.payload).toEqual(data.subarray(2 * MSS, 3 * MSS));
    peer.ackNow({ ack: seqAdd(base, 4 * MSS) });
    expect(conn.sndUna).toBe(seqAdd(base, 4 * MSS));
    h.tick(2000);
    expect(h.tcp.stats.timeouts).toBe(0);
  });

  it('sends new data as the probe when there is some and the peer window allows it', () => {
    const { h, peer, conn, base, t0 } = flight(2, { sndBuf: 1 << 20 });
    conn.cc.cwnd = 2 * MSS; // cwnd-limited: one more segment is queued, not sent
    h.app(() => conn.write(pattern(MSS)));
    peer.none();
    const probe = until(h, peer, t0 + 2 * RTT + 2); // no SRTT change: PTO = 82 ms from the write
    expect(probe).toHaveLength(1);
    expectSeg(probe[0]!, { seq: seqAdd(base, 2 * MSS), len: MSS, at: t0 + 2 * RTT + 2 });
    expect(h.tcp.stats.retransmits).toBe(0);
    expect(h.tcp.stats.tlpProbes).toBe(1);
  });
});

describe('spurious retransmission undo', () => {
  const SACK_NO_TS = () => ({ mss: 1460, sackPermitted: true, windowScale: 7 });
  const M = 1460; // no timestamps: the whole MSS is payload

  it('restores cwnd and ssthresh when a D-SACK shows the fast retransmit was spurious (RFC 3708)', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 100, rtt: RTT, synOpts: SACK_NO_TS });
    expect(conn.tsOk).toBe(false);
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(10 * M)));
    expect(dataSegs(peer.take())).toHaveLength(10);
    const cwnd = conn.cc.cwnd;
    h.tick(RTT);
    // Segment 0 is delayed: three SACKed segments above it (DupThresh, no reordering seen yet).
    sackAck(peer, base, 0, [[1, 2]], true, M);
    sackAck(peer, base, 0, [[1, 3]], true, M);
    sackAck(peer, base, 0, [[1, 4]], true, M);
    const r = dataSegs(peer.take());
    expect(r.map((s) => s.seq)).toEqual([base]);
    expect(conn.cc.cwnd).toBeLessThan(cwnd);
    expect(conn.cc.ssthresh).toBeLessThan(INITIAL_SSTHRESH);
    // The original arrives, then the retransmission, which the peer reports as a duplicate.
    peer.ackNow({ ack: seqAdd(base, 4 * M), noTs: true });
    const d = new Uint32Array([base, seqAdd(base, M)]);
    peer.ackNow({ ack: seqAdd(base, 4 * M), opts: { sackBlocks: d, sackBlockCount: 1 } });
    expect(h.tcp.stats.dsacksReceived).toBe(1);
    expect(h.tcp.stats.undos).toBe(1);
    expect(conn.cc.cwnd).toBe(cwnd);
    expect(conn.cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('undoes only once D-SACKs have covered every retransmission of the episode', () => {
    const h = setup();
    const { peer, conn, synAck } = passive(h, { peerIsn: 100, rtt: RTT, synOpts: SACK_NO_TS });
    const base = seqAdd(synAck.seq, 1);
    h.app(() => conn.write(pattern(10 * M)));
    peer.take();
    h.tick(RTT);
    // Segments 0 and 4 lost: both are retransmitted.
    sackAck(peer, base, 0, [[1, 4], [5, 10]], true, M);
    expect(dataSegs(peer.take()).map((s) => (s.seq - base) / M)).toEqual([0, 4]);
    const reduced = conn.cc.cwnd;
    const d = new Uint32Array([base, seqAdd(base, M), seqAdd(base, 5 * M), seqAdd(base, 10 * M)]);
    peer.ackNow({ ack: seqAdd(base, 4 * M), opts: { sackBlocks: d, sackBlockCount: 2 } });
    expect(h.tcp.stats.dsacksReceived).toBe(1);
    expect(h.tcp.stats.undos).toBe(0); // segment 4's retransmission is not reported duplicate yet
    expect(conn.cc.cwnd).toBeLessThanOrEqual(reduced + M);
    const d4 = new Uint32Array([seqAdd(base, 4 * M), seqAdd(base, 5 * M)]);
    peer.ackNow({ ack: seqAdd(base, 10 * M), opts: { sackBlocks: d4, sackBlockCount: 1 } });
    expect(h.tcp.stats.dsacksReceived).toBe(2);
    expect(h.tcp.stats.undos).toBe(1);
    expect(conn.cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('restores the window after a spurious RTO found by timestamps (Eifel, RFC 3522)', () => {
    const { h, peer, conn, base, t0 } = flight(4, { rack: false });
    const cwnd = conn.cc.cwnd;
    const echoOfOriginal = peer.tsEcr; // TSval of the original transmissions (t0)
    h.tickTo(t0 + 200); // RTO: everything goes back to one segment
    expect(dataSegs(peer.take()).map((s) => s.seq)).toEqual([base]);
    expect(conn.cc.cwnd).toBe(MSS);
    // The ACK of the delayed originals echoes their TSval, older than the retransmission's.
    h.tick(5);
    peer.ackNow({ ack: seqAdd(base, 4 * MSS), opts: { timestamp: { tsVal: peer.tsVal(), tsEcr: echoOfOriginal } } });
    expect(h.tcp.stats.undos).toBe(1);
    expect(conn.cc.cwnd).toBeGreaterThanOrEqual(cwnd);
    expect(conn.cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });
});

describe('without SACK: NewReno as before', () => {
  it('has no RACK or TLP: the single loss in a 4-segment window waits for the RTO, where SACK repairs it at 50 ms', () => {
    const NO_SACK = (p: Peer) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 }, windowScale: 7 });
    const { h, peer, conn, base, t0 } = flight(4, { congestionControl: 'newreno' }, NO_SACK);
    expect(conn.sackOk).toBe(false);
    expect(conn.rack).toBeNull();
    h.tickTo(t0 + RTT);
    peer.ackNow({ ack: seqAdd(base, MSS) });
    peer.ackNow({ ack: seqAdd(base, MSS) });
    peer.ackNow({ ack: seqAdd(base, MSS) }); // two duplicate ACKs: below DupThresh
    // No probe, no time-based loss detection: the RTO (200 ms from the ACK) retransmits.
    expect(until(h, peer, t0 + RTT + 199)).toEqual([]);
    const r = until(h, peer, t0 + RTT + 200);
    expect(r.map((s) => [s.seq, s.at])).toEqual([[seqAdd(base, MSS), t0 + RTT + 200]]);
    expect(h.tcp.stats.timeouts).toBe(1);
    expect(h.tcp.stats.tlpProbes).toBe(0);
    expect(h.tcp.stats.fastRetransmits).toBe(0);

    // The same loss with SACK: repaired by RACK at t0 + 50.
    const s = flight(4, { congestionControl: 'newreno' });
    s.h.tickTo(s.t0 + RTT);
    s.peer.ackNow({ ack: seqAdd(s.base, MSS) });
    sackAck(s.peer, s.base, 1, [[2, 4]]);
    const rs = until(s.h, s.peer, s.t0 + RTT + 10);
    expect(rs.map((x) => [x.seq, x.at])).toEqual([[seqAdd(s.base, MSS), s.t0 + RTT + 10]]);
    expect(s.h.tcp.stats.timeouts).toBe(0);
  });
});
