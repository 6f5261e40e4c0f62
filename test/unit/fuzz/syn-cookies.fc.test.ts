/**
 * Property tests (fast-check) for SYN cookies (RFC 4987 3.6): with a fixed secret and clock an
 * ACK validates exactly when its cookie is one actually issued for that 4-tuple and peer ISN in
 * the current or the previous 64-second tick, whatever else is tried (random numbers, near
 * misses, other tuples' cookies, old cookies); valid cookies give back the MSS, window scale,
 * SACK-permitted and ECN they carry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import {
  SYN_COOKIE_MSS_TABLE,
  SYN_COOKIE_TICK_MS,
  SynCookies,
  synCookieMss,
  type CookieOptions,
} from '../../../src/tcp/syn-cookies.js';
import { run, u16, u32 } from './arbitraries.js';

const SECRET = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);

/** local addr, local port, remote addr, remote port, peer ISN */
type Tuple = [number, number, number, number, number];
const tuple: fc.Arbitrary<Tuple> = fc.tuple(u32, u16, u32, u16, u32);

/** Every cookie the issuer hands out for `t` during `tick`, with the MSS each carries. */
function issued(t: Tuple, tick: number): Map<number, number> {
  const sc = new SynCookies(new ManualClock(tick * SYN_COOKIE_TICK_MS + 1), SECRET);
  const out = new Map<number, number>();
  for (const mss of SYN_COOKIE_MSS_TABLE) out.set(sc.encode(t[0], t[1], t[2], t[3], t[4], mss), mss);
  return out;
}

/** Time in ms at least one tick in (so "the previous tick" was a time a cookie could be issued). */
const now = fc.integer({ min: SYN_COOKIE_TICK_MS, max: 2 ** 40 });

/** One field of the tuple changed. */
const otherTuple = (t: Tuple) =>
  fc
    .tuple(fc.nat({ max: 4 }), u32)
    .map(([f, v]) => {
      const o = [...t] as Tuple;
      o[f] = f === 1 || f === 3 ? v & 0xffff : v;
      return o;
    })
    .filter((o) => o.some((x, i) => x !== t[i]));

describe('SYN cookie properties', () => {
  it('an ACK validates exactly when its cookie was issued for that tuple in this or the previous tick', () => {
    // Late enough that every older tick tried was a time a cookie could be issued.
    const attempt = fc.tuple(tuple, fc.integer({ min: 520 * SYN_COOKIE_TICK_MS, max: 2 ** 40 })).chain(([t, ms]) => {
      const tick = Math.floor(ms / SYN_COOKIE_TICK_MS);
      const real = fc.constantFrom(...issued(t, tick).keys(), ...issued(t, tick - 1).keys());
      const candidate = fc.oneof(
        u32,
        real,
        // Near misses: a real cookie off by a little, by a counter step, or with a bit flipped.
        fc
          .tuple(real, fc.oneof(fc.integer({ min: -16, max: 16 }), fc.constantFrom(1 << 24, -(1 << 24), 2 << 24)))
          .map(([c, d]) => (c + d) >>> 0),
        fc.tuple(real, fc.nat({ max: 31 })).map(([c, b]) => (c ^ (1 << b)) >>> 0),
        // Cookies of other tuples, and of older ticks (including 256 on, where the counter repeats).
        otherTuple(t).chain((o) => fc.constantFrom(...issued(o, tick).keys())),
        fc
          .oneof(fc.integer({ min: 2, max: 300 }), fc.constantFrom(256, 257, 512))
          .chain((age) => fc.constantFrom(...issued(t, tick - age).keys())),
      );
      return fc.tuple(fc.constant(t), fc.constant(ms), candidate);
    });
    run(
      fc.property(attempt, ([t, ms, cookie]) => {
        const tick = Math.floor(ms / SYN_COOKIE_TICK_MS);
        const sc = new SynCookies(new ManualClock(ms), SECRET);
        const expected = issued(t, tick).get(cookie) ?? issued(t, tick - 1).get(cookie) ?? null;
        expect(sc.decode(t[0], t[1], t[2], t[3], t[4], cookie)).toBe(expected);
        expect(sc.stats).toEqual({ sent: 0, validated: expected === null ? 0 : 1, failed: expected === null ? 1 : 0 });
      }),
      300,
    );
  });

  it('a near miss of a live cookie (off by up to 8, by a counter step, one bit flipped) is refused unless itself live', () => {
    run(
      fc.property(tuple, now, ([la, lp, ra, rp, isn], ms) => {
        const tick = Math.floor(ms / SYN_COOKIE_TICK_MS);
        const live = new Map([...issued([la, lp, ra, rp, isn], tick - 1), ...issued([la, lp, ra, rp, isn], tick)]);
        const sc = new SynCookies(new ManualClock(ms), SECRET);
        const misses = new Set<number>();
        for (const c of live.keys()) {
          for (let d = -8; d <= 8; d++) misses.add((c + d) >>> 0);
          for (const d of [1 << 24, -(1 << 24), 2 << 24]) misses.add((c + d) >>> 0);
          for (let b = 0; b < 32; b++) misses.add((c ^ (1 << b)) >>> 0);
        }
        for (const c of misses) {
          expect(sc.decode(la, lp, ra, rp, isn, c)).toBe(live.get(c) ?? null);
        }
        // And the live ones are refused for the peer ISN one off either way.
        for (const c of live.keys()) {
          expect(sc.decode(la, lp, ra, rp, (isn + 1) >>> 0, c)).toBeNull();
          expect(sc.decode(la, lp, ra, rp, (isn - 1) >>> 0, c)).toBeNull();
        }
      }),
      60,
    );
  });

  it('a cookie lives while the tick is the one it was issued in or the next, and carries its options', () => {
    const opts: fc.Arbitrary<CookieOptions> = fc.record({
      mss: fc.oneof(fc.constant(-1), u16, fc.constantFrom(...SYN_COOKIE_MSS_TABLE)),
      windowScale: fc.integer({ min: -1, max: 20 }),
      sackPermitted: fc.boolean(),
      ecn: fc.boolean(),
      timestamps: fc.boolean(),
    });
    const later = fc.oneof(
      fc.integer({ min: 0, max: 3 * SYN_COOKIE_TICK_MS }),
      fc.integer({ min: 0, max: 600 * SYN_COOKIE_TICK_MS }),
    );
    run(
      fc.property(tuple, now, later, opts, u32, ([la, lp, ra, rp, isn], issuedAt, delay, o, nowTs) => {
        const clock = new ManualClock(issuedAt);
        const sc = new SynCookies(clock, SECRET);
        const cookie = sc.encode(la, lp, ra, rp, isn, o.mss);
        const ts = sc.encodeTimestamp(nowTs, o);
        if (o.timestamps) {
          // Never ahead of the timestamp clock, at most 63 behind (RFC 7323 5.4: TSvals must
          // not go backwards on the connection that follows).
          expect(((nowTs - ts) >>> 0) < 64).toBe(true);
        } else {
          expect(ts).toBe(nowTs >>> 0);
        }
        clock.advance(delay);
        const age = Math.floor((issuedAt + delay) / SYN_COOKIE_TICK_MS) - Math.floor(issuedAt / SYN_COOKIE_TICK_MS);
        const got = sc.check(la, lp, ra, rp, isn, cookie, o.timestamps ? ts : null);
        if (age > 1) {
          expect(got).toBeNull();
          return;
        }
        expect(got).toEqual({
          mss: synCookieMss(o.mss),
          // Without timestamps the options have nowhere to travel and are off.
          windowScale: o.timestamps && o.windowScale >= 0 ? Math.min(o.windowScale, 14) : -1,
          sackPermitted: o.timestamps && o.sackPermitted,
          ecn: o.timestamps && o.ecn,
          timestamps: o.timestamps,
        });
      }),
      300,
    );
  });

  it('decodeTimestamp reads any TSecr as options a SYN could have asked for', () => {
    const sc = new SynCookies(new ManualClock(0), SECRET);
    run(
      fc.property(u32, (tsEcr) => {
        const d = sc.decodeTimestamp(tsEcr);
        expect(d.windowScale >= -1 && d.windowScale <= 14).toBe(true);
        expect(Number.isInteger(d.windowScale)).toBe(true);
      }),
      200,
    );
  });
});
