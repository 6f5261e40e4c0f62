/**
 * CUBIC (RFC 9438): the window over time after a loss against W_cubic(t) = C*(t-K)^3 + W_max,
 * K, the Reno-friendly region, multiplicative decrease, fast convergence, timeout, undo, and
 * app-limited periods. Times are explicit; the RTT is fixed unless a test says otherwise.
 */
import { describe, expect, it } from 'vitest';
import { createCongestionControl, type CcOptions } from '../../../../src/tcp/cc/congestion-control.js';
import { ALPHA_CUBIC, BETA_CUBIC, Cubic, CUBIC_C } from '../../../../src/tcp/cc/cubic.js';
import { Flow } from './sim.js';

const MSS = 1000;

function cubic(opts: CcOptions = {}): Cubic {
  return createCongestionControl('cubic', MSS, 0, opts) as Cubic;
}

/** The RFC's W_cubic(t), in segments. */
function wCubicRfc(t: number, k: number, wMax: number): number {
  return CUBIC_C * (t - k) ** 3 + wMax;
}

/**
 * A flow that lost a packet at a window of `w` segments with all of it in flight, recovered
 * (cwnd = ssthresh), and is about to start congestion avoidance at time 0.
 */
function afterLoss(w: number, opts: CcOptions = {}): { cc: Cubic; f: Flow } {
  const cc = cubic(opts);
  cc.cwnd = w * MSS;
  cc.onCongestionEvent(0, w * MSS);
  cc.onRecoveryEnd(0, cc.ssthresh);
  return { cc, f: new Flow(cc, MSS) };
}

/** Seconds since epoch_start at the flow's current time. */
function tOf(cc: Cubic, f: Flow): number {
  return (f.now - cc.state().epochStart) / 1000;
}

describe('CUBIC multiplicative decrease (RFC 9438 4.6)', () => {
  it('sets ssthresh = FlightSize * 0.7 and cwnd = ssthresh, remembering W_max = cwnd', () => {
    const cc = cubic();
    cc.cwnd = 100 * MSS;
    cc.onCongestionEvent(0, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.state().wMax).toBe(100 * MSS);
    expect(cc.state().cwndPrior).toBe(100 * MSS);
  });

  it('uses FlightSize, not cwnd, and keeps at least 2*SMSS', () => {
    const cc = cubic();
    cc.cwnd = 100 * MSS;
    cc.onCongestionEvent(0, 50 * MSS);
    expect(cc.ssthresh).toBe(35 * MSS);
    expect(cc.cwnd).toBe(35 * MSS);
    cc.onCongestionEvent(0, 2 * MSS);
    expect(cc.ssthresh).toBe(2 * MSS);
    expect(cc.cwnd).toBe(2 * MSS);
  });
});

describe('CUBIC window growth (RFC 9438 4.2, 4.4, 4.5)', () => {
  it('computes K = cbrt(W_max * (1 - beta) / C) when the whole window was in flight (eq. 2)', () => {
    const { cc, f } = afterLoss(1000);
    expect(cc.state().epochStart).toBe(-1); // the epoch starts with the first ACK of the stage
    f.round(100, { spread: true });
    const s = cc.state();
    expect(s.epochStart).toBeGreaterThan(0);
    expect(s.cwndEpoch).toBe(700 * MSS);
    expect(s.k).toBeCloseTo(Math.cbrt((1000 * (1 - BETA_CUBIC)) / CUBIC_C), 9);
    expect(s.k).toBeCloseTo(9.0856, 3);
  });

  it('computes K from cwnd_epoch when less than the window was in flight (K = cbrt((W_max - cwnd_epoch) / C))', () => {
    const cc = cubic();
    cc.cwnd = 1000 * MSS;
    cc.onCongestionEvent(0, 800 * MSS); // cwnd_epoch = 560 segments
    cc.onRecoveryEnd(0, cc.ssthresh);
    new Flow(cc, MSS).round(100, { spread: true });
    expect(cc.state().k).toBeCloseTo(Math.cbrt((1000 - 560) / CUBIC_C), 9);
  });

  it('follows W_cubic(t) = C*(t-K)^3 + W_max through the concave and convex regions', () => {
    // W_max = 1000 segments, RTT 100 ms: K = 9.09 s; W_est stays far below, so cubic rules.
    const { cc, f } = afterLoss(1000);
    const RTT = 100;
    const samples: { t: number; cwnd: number; w: number }[] = [];
    for (let r = 0; r < 160; r++) {
      f.round(RTT, { spread: true });
      const t = tOf(cc, f);
      samples.push({ t, cwnd: cc.cwnd / MSS, w: wCubicRfc(t, cc.state().k, 1000) });
    }
    const concave = samples.filter((s) => s.t < 8.5);
    const convex = samples.filter((s) => s.t > 10);
    expect(concave.length).toBeGreaterThan(50);
    expect(convex.length).toBeGreaterThan(50);
    for (const s of samples) expect(Math.abs(s.cwnd - s.w)).toBeLessThan(0.5);
    // Concave: below W_max and slowing down; convex: above W_max and speeding up.
    const at = (t: number) => samples.find((s) => Math.abs(s.t - t) < 0.05)!.cwnd;
    expect(at(1) - at(0.5)).toBeGreaterThan(at(4) - at(3.5));
    expect(at(4) - at(3.5)).toBeGreaterThan(at(8) - at(7.5));
    expect(at(8)).toBeLessThan(1000);
    expect(Math.abs(at(9.1) - 1000)).toBeLessThan(0.5); // the plateau at t = K
    expect(at(11)).toBeGreaterThan(1000);
    expect(at(13) - at(12.5)).toBeGreaterThan(at(11) - at(10.5));
    expect(at(15.9) - at(15.4)).toBeGreaterThan(at(13) - at(12.5));
    // Spot values of the formula itself.
    expect(at(2)).toBeCloseTo(1000 + 0.4 * (2 - 9.0856) ** 3, 0);
    expect(at(15)).toBeCloseTo(1000 + 0.4 * (15 - 9.0856) ** 3, 0);
  });

  it('grows the target at most to 1.5 * cwnd per RTT', () => {
    // Far into the convex region W_cubic(t + RTT) is way above cwnd: one round adds at most 50%.
    const { cc, f } = afterLoss(100);
    f.round(100, { spread: true });
    const before = cc.cwnd;
    f.now += 30_000; // 30 s of idle ACK-less time still counts (not app-limited)
    f.round(100, { spread: true });
    expect(cc.cwnd).toBeGreaterThan(before * 1.3);
    expect(cc.cwnd).toBeLessThanOrEqual(Math.ceil(before * 1.5));
  });
});

describe('CUBIC Reno-friendly region (RFC 9438 4.3)', () => {
  it('wins at a small window and a short RTT: cwnd follows W_est, above W_cubic(t)', () => {
    // W_max = 20 segments, RTT 10 ms: K = 2.47 s, while Reno gains alpha (then 1) segment per 10 ms.
    const { cc, f } = afterLoss(20);
    let reno = 14; // W_est = cwnd_epoch
    for (let r = 0; r < 100; r++) {
      f.round(10, { spread: true });
      reno += reno >= 20 ? 1 : ALPHA_CUBIC; // RFC 9438 4.3: alpha = 1 once W_est >= cwnd_prior
      const t = tOf(cc, f);
      const s = cc.state();
      expect(cc.cwnd).toBe(Math.floor(s.wEst));
      expect(Math.abs(cc.cwnd / MSS - reno)).toBeLessThan(1);
      if (t > 0.1) expect(cc.cwnd / MSS).toBeGreaterThan(wCubicRfc(t, s.k, 20) + 3);
    }
    expect(cc.cwnd / MSS).toBeGreaterThan(100); // 1 s of Reno growth; W_cubic(1 s) is about 19
  });

  it('grows by alpha_cubic = 3 * (1 - 0.7) / (1 + 0.7) segments per RTT below cwnd_prior', () => {
    expect(ALPHA_CUBIC).toBeCloseTo(0.5294, 4);
    const { cc, f } = afterLoss(20);
    for (let r = 0; r < 10; r++) f.round(10, { spread: true });
    // Per ACK alpha * acked / cwnd: a round acks the cwnd it began with, a bit less than the
    // cwnd it ends with, so a round adds a bit less than alpha.
    const grown = cc.state().wEst / MSS - 14;
    expect(grown).toBeLessThanOrEqual(10 * ALPHA_CUBIC);
    expect(grown).toBeGreaterThan(10 * ALPHA_CUBIC * 0.98);
  });

  it('does not win at a large window and a long RTT', () => {
    const { cc, f } = afterLoss(1000);
    for (let r = 0; r < 50; r++) f.round(100, { spread: true });
    expect(cc.cwnd).toBeGreaterThan(cc.state().wEst + 100 * MSS);
  });
});

describe('CUBIC fast convergence (RFC 9438 4.7)', () => {
  it('lowers W_max to cwnd * (1 + beta) / 2 on a loss below the previous W_max', () => {
    const { cc, f } = afterLoss(1000);
    for (let r = 0; r < 20; r++) f.round(100, { spread: true });
    const w = cc.cwnd; // about 864 segments, below W_max = 1000
    expect(w).toBeLessThan(1000 * MSS);
    cc.onCongestionEvent(f.now, w);
    expect(cc.state().wMax).toBeCloseTo((w * (1 + BETA_CUBIC)) / 2, 6);
    expect(cc.ssthresh).toBe(Math.floor(w * BETA_CUBIC));
  });

  it('keeps W_max = cwnd without fast convergence, and on a loss above W_max', () => {
    const a = afterLoss(1000, { fastConvergence: false });
    for (let r = 0; r < 20; r++) a.f.round(100, { spread: true });
    const w = a.cc.cwnd;
    a.cc.onCongestionEvent(a.f.now, w);
    expect(a.cc.state().wMax).toBe(w);

    const b = afterLoss(100);
    for (let r = 0; r < 120; r++) b.f.round(100, { spread: true }); // past K: convex, above W_max
    expect(b.cc.cwnd).toBeGreaterThan(100 * MSS);
    const w2 = b.cc.cwnd;
    b.cc.onCongestionEvent(b.f.now, w2);
    expect(b.cc.state().wMax).toBe(w2);
  });
});

describe('CUBIC timeout (RFC 9438 4.8)', () => {
  it('goes to 1 SMSS with ssthresh = 0.7 * FlightSize, then restarts with K = 0 and W_max = cwnd_epoch', () => {
    const cc = cubic();
    cc.cwnd = 100 * MSS;
    cc.onTimeout(0, 100 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    cc.onTimeout(1000, 100 * MSS); // the same segment again: ssthresh held (RFC 5681 3.1)
    expect(cc.ssthresh).toBe(70 * MSS);
    const f = new Flow(cc, MSS, { now: 1000 });
    const seen: number[] = [];
    while (cc.state().epochStart < 0) {
      f.round(100, { spread: true });
      seen.push(cc.cwnd / MSS);
    }
    // Slow start 1, 2, 4, ... (RFC 5681; HyStart++ is off after a loss) up to ssthresh, where
    // the epoch starts: the ACKs past ssthresh are congestion avoidance.
    expect(seen.slice(0, -1)).toEqual([2, 4, 8, 16, 32, 64]);
    const s = cc.state();
    expect(s.k).toBe(0);
    expect(s.wMax).toBe(s.cwndEpoch);
    expect(s.cwndEpoch).toBe(70 * MSS);
    // Convex from the start: W_cubic(t) = C*t^3 + W_max.
    for (let r = 0; r < 40; r++) f.round(100, { spread: true });
    const t = tOf(cc, f);
    expect(Math.abs(cc.cwnd / MSS - wCubicRfc(t, 0, 70))).toBeLessThan(1);
  });
});

describe('CUBIC spurious congestion events (RFC 9438 4.9)', () => {
  it('restores cwnd, ssthresh, W_max, K and the epoch', () => {
    const { cc, f } = afterLoss(1000);
    for (let r = 0; r < 20; r++) f.round(100, { spread: true });
    const before = cc.state();
    cc.onCongestionEvent(f.now, cc.cwnd);
    expect(cc.state().wMax).not.toBe(before.wMax);
    cc.undo();
    const after = cc.state();
    for (const key of ['cwnd', 'ssthresh', 'wMax', 'k', 'epochStart', 'cwndEpoch', 'wEst', 'cwndPrior']) {
      expect([key, after[key]]).toEqual([key, before[key]]);
    }
    // And growth goes on along the same curve.
    f.round(100, { spread: true });
    expect(Math.abs(cc.cwnd / MSS - wCubicRfc(tOf(cc, f), before.k!, 1000))).toBeLessThan(0.5);
  });

  it('restores after a timeout too, and only once', () => {
    const { cc, f } = afterLoss(1000);
    for (let r = 0; r < 5; r++) f.round(100, { spread: true });
    const before = cc.state();
    cc.onTimeout(f.now, cc.cwnd);
    cc.undo();
    expect(cc.state()).toMatchObject({ cwnd: before.cwnd, ssthresh: before.ssthresh, wMax: before.wMax, k: before.k });
    cc.onCongestionEvent(f.now, cc.cwnd);
    const reduced = cc.cwnd;
    cc.undo();
    cc.undo(); // nothing more: the second undo changes nothing
    expect(cc.cwnd).toBe(before.cwnd);
    expect(reduced).toBeLessThan(before.cwnd!);
  });

  it('keeps the current state when cwnd has already grown past the window before the reduction', () => {
    const cc = cubic({ hystart: false });
    cc.cwnd = 20 * MSS;
    cc.onCongestionEvent(0, 20 * MSS);
    cc.onRecoveryEnd(0, cc.ssthresh);
    const f = new Flow(cc, MSS);
    for (let r = 0; r < 80; r++) f.round(10, { spread: true }); // Reno-friendly: well past 20
    const now = cc.state();
    cc.undo();
    expect(cc.state()).toEqual(now);
  });

  it('re-enables HyStart++ when the undone reduction happened in the initial slow start', () => {
    const cc = cubic();
    cc.onCongestionEvent(0, cc.cwnd);
    expect(cc.state().hystartPhase).toBe(2);
    cc.undo();
    expect(cc.state().hystartPhase).toBe(0);
    expect(cc.ssthresh).toBe(0x7fffffff);
  });
});

describe('CUBIC and the application limit (RFC 9438 4.2, RFC 7661)', () => {
  it('does not grow in slow start while app-limited', () => {
    const cc = cubic();
    const f = new Flow(cc, MSS);
    for (let r = 0; r < 3; r++) f.round(50, { appLimited: true });
    expect(cc.cwnd).toBe(10 * MSS);
    f.round(50);
    expect(cc.cwnd).toBe(20 * MSS);
  });

  it('freezes cwnd and leaves the app-limited time out of t', () => {
    const a = afterLoss(1000);
    const b = afterLoss(1000);
    for (let r = 0; r < 20; r++) {
      a.f.round(100, { spread: true });
      b.f.round(100, { spread: true });
    }
    const frozen = a.cc.cwnd;
    const epoch = a.cc.state().epochStart;
    for (let r = 0; r < 50; r++) a.f.round(100, { spread: true, appLimited: true }); // 5 s
    expect(a.cc.cwnd).toBe(frozen);
    expect(a.cc.state().epochStart).toBeCloseTo(epoch + 5000, 6);
    for (let r = 0; r < 20; r++) {
      a.f.round(100, { spread: true });
      b.f.round(100, { spread: true });
    }
    // Without the shift, a would now be 5 s further along the curve (about 100 segments more).
    expect(Math.abs(a.cc.cwnd - b.cc.cwnd)).toBeLessThan(MSS / 2);
  });
});
