/**
 * HyStart++ (RFC 9406) in CUBIC's initial slow start: rounds by sequence number, the delay
 * increase test with RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms) over at least
 * N_RTT_SAMPLE = 8 samples, Conservative Slow Start at a quarter of the rate for CSS_ROUNDS = 5
 * rounds, and the return to slow start when the RTT falls below the CSS baseline.
 */
import { describe, expect, it } from 'vitest';
import { createCongestionControl, INITIAL_SSTHRESH } from '../../../../src/tcp/cc/congestion-control.js';
import { Cubic } from '../../../../src/tcp/cc/cubic.js';
import {
  CSS_GROWTH_DIVISOR,
  CSS_ROUNDS,
  type HyStartPhase,
  HyStartPlusPlus,
  N_RTT_SAMPLE,
  rttThresh,
} from '../../../../src/tcp/cc/hystart.js';
import { seqAdd } from '../../../../src/wire/seq.js';
import { Flow } from './sim.js';

const MSS = 1000;
const SLOW_START = 0;
const CSS = 1;
const DONE = 2;

function flow(isn?: number): { cc: Cubic; f: Flow } {
  const cc = createCongestionControl('cubic', MSS, 0) as Cubic;
  return { cc, f: new Flow(cc, MSS, isn === undefined ? {} : { isn }) };
}

/**
 * Feed HyStart++ rounds directly: round r has one ACK per entry of rounds[r] (its RTT sample,
 * -1 for none), each acknowledging one sequence unit; SND.NXT is the end of the next round when
 * a round's last ACK arrives. Returns the phase after every ACK.
 */
function feedRounds(h: HyStartPlusPlus, rounds: number[][], base = 0): HyStartPhase[] {
  const phases: HyStartPhase[] = [];
  let una = 0;
  let end = rounds[0]!.length;
  rounds.forEach((rtts, r) => {
    const nextEnd = end + (rounds[r + 1]?.length ?? 2);
    for (const rtt of rtts) {
      una++;
      h.onAck(rtt, seqAdd(base, una), seqAdd(base, una === end ? nextEnd : end));
      phases.push(h.phase);
    }
    end = nextEnd;
  });
  return phases;
}

/** Run rounds with `rttOfRound(r)` until `stop` or `max` rounds; returns the rounds run. */
function run(f: Flow, rttOfRound: (r: number) => number, max: number, stop: () => boolean = () => false): number {
  let r = 0;
  while (r < max && !stop()) f.round(rttOfRound(r++));
  return r;
}

describe('RttThresh (RFC 9406 4.2)', () => {
  it('is lastRoundMinRTT / 8, clamped to [4 ms, 16 ms]', () => {
    expect(rttThresh(20)).toBe(4); // 2.5 -> 4
    expect(rttThresh(64)).toBe(8);
    expect(rttThresh(100)).toBe(12.5);
    expect(rttThresh(200)).toBe(16); // 25 -> 16
  });
});

describe('HyStart++ slow start exit', () => {
  it('does not leave slow start while the RTT stays flat: cwnd doubles every round', () => {
    for (const isn of [1000, 0xffffd000]) {
      // (the second starts next to the 2^32 wrap: rounds are compared in sequence space)
      const { cc, f } = flow(isn);
      const seen: number[] = [];
      run(f, () => 100, 10);
      for (let r = 0; r < 2; r++) {
        f.round(100);
        seen.push(cc.cwnd / MSS);
      }
      expect(seen).toEqual([20480, 40960]);
      expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
      expect(cc.state().hystartPhase).toBe(SLOW_START);
      expect(cc.state().lastRoundMinRtt).toBe(100);
    }
  });

  it('does not leave slow start when the RTT grows by less than RttThresh (100 ms + 12 ms < 100 + 12.5)', () => {
    const { cc, f } = flow();
    run(f, (r) => (r < 3 ? 100 : 112), 10);
    expect(cc.state().hystartPhase).toBe(SLOW_START);
    expect(cc.cwnd).toBe(10 * 1024 * MSS);
  });

  it('leaves slow start for CSS when the RTT grows by RttThresh or more', () => {
    for (const isn of [1000, 0xffffd000]) {
      const { cc, f } = flow(isn);
      run(f, () => 100, 4);
      expect(cc.state().hystartPhase).toBe(SLOW_START);
      const n = run(f, () => 113, 3, () => cc.state().hystartPhase !== SLOW_START);
      // Rounds by sequence begin a couple of ACKs before the simulated ones: the first round at
      // 113 ms still holds a 100 ms sample, the next is all at 113 ms and exits.
      expect(n).toBeLessThanOrEqual(2);
      const s = cc.state();
      expect(s.hystartPhase).toBe(CSS);
      expect(s.lastRoundMinRtt).toBe(100);
      expect(s.cssBaselineMinRtt).toBe(113);
      expect(s.currentRoundMinRtt).toBe(113);
      expect(cc.ssthresh).toBe(INITIAL_SSTHRESH); // not yet: CSS first
    }
  });

  it('uses the 4 ms floor at short RTTs and the 16 ms ceiling at long ones', () => {
    const exits = (base: number, grown: number): boolean => {
      const { cc, f } = flow();
      run(f, (r) => (r < 3 ? base : grown), 8, () => cc.state().hystartPhase !== SLOW_START);
      return cc.state().hystartPhase === CSS;
    };
    expect(exits(20, 23.9)).toBe(false);
    expect(exits(20, 24)).toBe(true);
    expect(exits(200, 215.9)).toBe(false);
    expect(exits(200, 216)).toBe(true);
  });

  it('needs N_RTT_SAMPLE = 8 samples in the round before it decides', () => {
    // Straight on the bookkeeping, one sequence unit per ACK, so that rounds are exact.
    const sevenSamples = new HyStartPlusPlus(true);
    feedRounds(sevenSamples, [Array(8).fill(100), [...Array(N_RTT_SAMPLE - 1).fill(150), -1, -1, -1, -1]]);
    expect(sevenSamples.phase).toBe('slow-start');

    const eight = new HyStartPlusPlus(true);
    const phases = feedRounds(eight, [Array(8).fill(100), Array(10).fill(150)]);
    expect(phases.slice(8, 8 + N_RTT_SAMPLE - 1).every((p) => p === 'slow-start')).toBe(true);
    expect(phases[8 + N_RTT_SAMPLE - 1]).toBe('css'); // on the eighth sample of the round
    expect(eight.cssBaselineMinRtt).toBe(150);
  });

  it('ends a round when SND.UNA reaches the SND.NXT recorded at its start, across the 2^32 wrap', () => {
    const h = new HyStartPlusPlus(true);
    const base = 0xfffffffa;
    feedRounds(h, [Array(4).fill(90), Array(4).fill(80), Array(4).fill(70)], base);
    expect(h.rounds).toBe(4); // three ended, the fourth begun
    expect(h.lastRoundMinRtt).toBe(70);
    expect(h.currentRoundMinRtt).toBe(Infinity);
  });
});

describe('HyStart++ Conservative Slow Start', () => {
  /** A flow just moved into CSS at RTT 113 after 100 ms rounds. */
  function inCss(): { cc: Cubic; f: Flow } {
    const { cc, f } = flow();
    run(f, () => 100, 4);
    run(f, () => 113, 3, () => cc.state().hystartPhase === CSS);
    return { cc, f };
  }

  it('grows at 1/CSS_GROWTH_DIVISOR = 1/4 of the slow-start rate', () => {
    expect(CSS_GROWTH_DIVISOR).toBe(4);
    const { cc, f } = inCss();
    f.round(113); // finish the round CSS began in
    const before = cc.cwnd;
    const acked = f.inFlight;
    f.round(113);
    expect(cc.state().hystartPhase).toBe(CSS);
    // Slow start would add every acked byte (doubling); CSS adds a quarter of them.
    expect(cc.cwnd - before).toBeGreaterThanOrEqual(Math.floor(acked / 4) - 1);
    expect(cc.cwnd - before).toBeLessThanOrEqual(Math.ceil(acked / 4));
    expect(cc.cwnd / before).toBeGreaterThan(1.24);
    expect(cc.cwnd / before).toBeLessThan(1.26);
  });

  it('moves to congestion avoidance after CSS_ROUNDS rounds: ssthresh = cwnd, then CUBIC with K = 0', () => {
    expect(CSS_ROUNDS).toBe(5);
    const { cc, f } = inCss();
    const n = run(f, () => 113, 10, () => cc.state().hystartPhase === DONE);
    // The partial round CSS began in counts, so 4 more full rounds (and a few ACKs) end it.
    expect(n).toBe(5);
    expect(cc.state().cssRounds).toBe(CSS_ROUNDS);
    const s = cc.state();
    expect(cc.ssthresh).toBeLessThan(INITIAL_SSTHRESH);
    expect(cc.ssthresh).toBeLessThanOrEqual(cc.cwnd);
    expect(s.cwndPrior).toBe(cc.ssthresh);
    // RFC 9438 4.10: W_max undefined, so K = 0 and W_max = cwnd_epoch when CA starts.
    f.round(113);
    const ca = cc.state();
    expect(ca.epochStart).toBeGreaterThanOrEqual(0);
    expect(ca.k).toBe(0);
    expect(ca.wMax).toBe(ca.cwndEpoch);
  });

  it('goes back to slow start when the RTT falls below the CSS baseline', () => {
    const { cc, f } = inCss();
    f.round(113);
    expect(cc.state().hystartPhase).toBe(CSS);
    run(f, () => 100, 2, () => cc.state().hystartPhase === SLOW_START);
    expect(cc.state().hystartPhase).toBe(SLOW_START);
    expect(cc.state().cssBaselineMinRtt).toBe(Infinity);
    f.round(100);
    const before = cc.cwnd;
    f.round(100);
    expect(cc.cwnd / before).toBeGreaterThan(1.9); // doubling again
    expect(cc.ssthresh).toBe(INITIAL_SSTHRESH);
  });

  it('is used only in the initial slow start: a loss turns it off', () => {
    const { cc, f } = inCss();
    cc.onCongestionEvent(f.now, f.inFlight);
    expect(cc.state().hystartPhase).toBe(DONE);
    const { cc: cc2 } = flow();
    cc2.onTimeout(0, cc2.cwnd);
    expect(cc2.state().hystartPhase).toBe(DONE);
  });

  it('can be switched off: plain slow start then ignores RTT growth', () => {
    const cc = createCongestionControl('cubic', MSS, 0, { hystart: false }) as Cubic;
    const f = new Flow(cc, MSS);
    run(f, (r) => (r < 3 ? 100 : 150), 8);
    expect(cc.cwnd).toBe(10 * 256 * MSS);
    expect(cc.state().hystartPhase).toBe(DONE);
  });
});
