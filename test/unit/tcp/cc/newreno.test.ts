/**
 * NewReno window policy (RFC 5681 3.1, RFC 3465, RFC 6582 3.2) and the RFC 6928 initial window.
 */
import { describe, expect, it } from 'vitest';
import {
  createCongestionControl,
  INITIAL_SSTHRESH,
  initialWindow,
} from '../../../../src/tcp/cc/congestion-control.js';
import { Flow } from './sim.js';

const MSS = 1000;
const RTT = 50;

describe('initialWindow (RFC 6928 2)', () => {
  it('is min(10*MSS, max(2*MSS, 14600))', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(1000)).toBe(10000);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(9000)).toBe(18000); // 2*MSS beats 14600
    expect(initialWindow(4000)).toBe(14600);
  });

  it('starts both controllers at IW with ssthresh arbitrarily high', () => {
    for (const name of ['newreno', 'cubic'] as const) {
      const cc = createCongestionControl(name, 1460, 0);
      expect(cc.name).toBe(name);
      expect(cc.cwnd).toBe(14600);
      expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
    }
  });
});

describe('NewReno', () => {
  it('doubles cwnd every round trip in slow start (one SMSS per ACK)', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    const f = new Flow(cc, MSS);
    const seen: number[] = [cc.cwnd];
    for (let r = 0; r < 5; r++) {
      f.round(RTT);
      seen.push(cc.cwnd);
    }
    expect(seen).toEqual([10, 20, 40, 80, 160, 320].map((n) => n * MSS));
  });

  it('limits slow start to L = 1 SMSS per ACK (RFC 5681 eq. 2): a stretch ACK of 4 segments adds one', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    const f = new Flow(cc, MSS);
    f.fill();
    f.ack(4 * MSS, RTT, RTT);
    expect(cc.cwnd).toBe(11 * MSS);
  });

  it('takes the L option (RFC 3465 2.2)', () => {
    const cc = createCongestionControl('newreno', MSS, 0, { slowStartLimit: 2 });
    const f = new Flow(cc, MSS);
    f.fill();
    f.ack(4 * MSS, RTT, RTT);
    expect(cc.cwnd).toBe(12 * MSS);
  });

  it('stops slow start at ssthresh and then grows one SMSS per round trip', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    cc.ssthresh = 30 * MSS;
    const f = new Flow(cc, MSS);
    f.round(RTT); // 10 -> 20
    f.round(RTT); // 20 -> 30 (capped: 20 ACKs would reach 40)
    expect(cc.cwnd).toBe(30 * MSS);
    const seen: number[] = [];
    for (let r = 0; r < 6; r++) {
      f.round(RTT);
      seen.push(cc.cwnd / MSS);
    }
    expect(seen).toEqual([31, 32, 33, 34, 35, 36]);
  });

  it('halves on a congestion event: ssthresh = cwnd = FlightSize / 2, and settles at ssthresh after recovery', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.onCongestionEvent(1000, 40 * MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
    expect(cc.cwnd).toBe(20 * MSS);
    cc.cwnd += 3 * MSS; // the engine's RFC 5681 3.2 inflation
    cc.onRecoveryEnd(1100, 20 * MSS);
    expect(cc.cwnd).toBe(20 * MSS);
    // Then congestion avoidance: +1 SMSS per window.
    const f = new Flow(cc, MSS, { now: 1100 });
    f.round(RTT);
    expect(cc.cwnd).toBe(21 * MSS);
  });

  it('uses FlightSize, not cwnd, and never goes below 2*SMSS (RFC 5681 eq. 4)', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.onCongestionEvent(0, 10 * MSS);
    expect(cc.ssthresh).toBe(5 * MSS);
    cc.onCongestionEvent(0, 3 * MSS);
    expect(cc.ssthresh).toBe(2 * MSS);
    expect(cc.cwnd).toBe(2 * MSS);
  });

  it('ends recovery without a burst when little is in flight (RFC 6582 3.2 step 3 option 1)', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.onCongestionEvent(0, 40 * MSS);
    cc.onRecoveryEnd(100, 0);
    expect(cc.cwnd).toBe(2 * MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
  });

  it('goes to one segment on a timeout with ssthresh = FlightSize / 2, held on a repeated timeout', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.onTimeout(1000, 40 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
    // The same segment times out again (no ACK in between): ssthresh held constant (RFC 5681 3.1).
    cc.onTimeout(3000, 40 * MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
    expect(cc.cwnd).toBe(MSS);
    // Slow start back to ssthresh, then linear.
    const f = new Flow(cc, MSS, { now: 3000 });
    const seen: number[] = [];
    for (let r = 0; r < 7; r++) {
      f.round(RTT);
      seen.push(cc.cwnd / MSS);
    }
    expect(seen).toEqual([2, 4, 8, 16, 20, 21, 22]);
    // After progress, a new timeout computes ssthresh again.
    cc.onTimeout(5000, 22 * MSS);
    expect(cc.ssthresh).toBe(11 * MSS);
  });

  it('does not grow while app-limited', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    const f = new Flow(cc, MSS);
    f.round(RTT, { appLimited: true });
    expect(cc.cwnd).toBe(10 * MSS);
    cc.ssthresh = 10 * MSS;
    for (let r = 0; r < 3; r++) f.round(RTT, { appLimited: true });
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.state().bytesAcked).toBe(0);
  });

  it('undoes a spurious reduction, once', () => {
    const cc = createCongestionControl('newreno', MSS, 0);
    cc.cwnd = 40 * MSS;
    cc.ssthresh = 30 * MSS;
    cc.onCongestionEvent(0, 40 * MSS);
    cc.undo();
    expect(cc.cwnd).toBe(40 * MSS);
    expect(cc.ssthresh).toBe(30 * MSS);
    cc.onTimeout(100, 40 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.undo();
    expect(cc.cwnd).toBe(40 * MSS);
    expect(cc.ssthresh).toBe(30 * MSS);
    cc.undo(); // nothing left to undo
    expect(cc.cwnd).toBe(40 * MSS);
  });
});
