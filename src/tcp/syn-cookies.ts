/**
 * Stateless SYN cookies (RFC 4987 3.6), for a listener whose SYN queue is full: the SYN-ACK's
 * ISN carries what the connection needs later, protected by a keyed hash, so no state is kept
 * until the ACK that completes the handshake comes back with the ISN + 1.
 *
 * The layout follows Linux (net/ipv4/syncookies.c, secure_tcp_syn_cookie/check_tcp_syn_cookie):
 *
 *   cookie = H0 + (tick << 24) + ((H1(tick) + mssIndex) mod 2^24)        (all mod 2^32)
 *
 * - `tick` counts 64-second periods of the injected clock; the top 8 bits of `cookie - H0`
 *   hold its low 8 bits. Linux counts 60-second periods; 64 s gives nearly the same age.
 * - H0 = F(secret, 4-tuple, peer ISN) hides the counter and makes the cookie look random;
 *   H1 = F(secret, 4-tuple, peer ISN, full tick) authenticates the low 24 bits. F is
 *   SipHash-2-4 (siphash.ts), as in Linux and for the ISNs of isn.ts: it runs once or twice per
 *   SYN of a flood, so it has to be cheap (HMAC-SHA-256 from node:crypto cost more than the
 *   rest of the SYN's handling, measured under `hping3 --flood`). Unlike Linux,
 *   the peer ISN is hashed, not added: with addition a cookie checked against a peer ISN a few
 *   units off decodes to a neighbouring MSS index and passes.
 * - `mssIndex` picks one of {@link SYN_COOKIE_MSS_TABLE}.
 *
 * A cookie is accepted when `tick` is the current one or the one before (Linux's
 * MAX_SYNCOOKIE_AGE 2: a life of 64 to 128 s, plenty for a SYN-ACK round trip with its
 * retransmissions) and the low 24 bits, less H1 of that tick, name a table entry. For a given
 * 4-tuple, peer ISN and time exactly 2 * table size of the 2^32 values are accepted, so a blind
 * guess succeeds with probability 12 / 2^32 (about 2.8e-9).
 *
 * Options other than the MSS do not fit in the ISN. When the peer offered timestamps, the low 6
 * bits of our SYN-ACK's TSval carry window scale and SACK-permitted and come back in the ACK's
 * TSecr (Linux cookie_init_timestamp / cookie_timestamp_decode); without timestamps they are lost
 * and the SYN-ACK must not offer them.
 */
import type { Clock } from '../clock.js';
import { SipHash, sipKey } from './siphash.js';

/**
 * Peer MSS values a cookie can carry, ascending. Linux's msstab (536: the IPv4 default of RFC
 * 9293 3.7.1; 1300: tunnels; 1440, 1460: Ethernet with and without some options) plus 8960
 * (9000-byte jumbo frames) and 65483 (a 64 KiB TAP/loopback MTU). At most 2^24 entries fit;
 * every extra entry adds 2 / 2^32 to the chance a guessed cookie passes.
 */
export const SYN_COOKIE_MSS_TABLE: readonly number[] = Object.freeze([536, 1300, 1440, 1460, 8960, 65483]);

/** Length of a cookie period: 64 s (Linux: 60 s). */
export const SYN_COOKIE_TICK_MS = 64_000;
/** Cookies from this many ticks are accepted: the current one and the one before (Linux MAX_SYNCOOKIE_AGE). */
export const SYN_COOKIE_MAX_AGE = 2;

/** Bits of the cookie below the counter (Linux COOKIEBITS). */
const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;
/** The counter's bits: 32 - COOKIE_BITS. */
const COUNTER_MASK = 0xff;

/**
 * Low bits of a cookie SYN-ACK's TSval (Linux TSBITS and TS_OPT_*): bits 0-3 the peer's window
 * scale (15: none), bit 4 SACK-permitted, bit 5 ECN agreed (RFC 3168 6.1.1).
 */
const TS_BITS = 6;
const TS_MASK = (1 << TS_BITS) - 1;
const TS_OPT_WSCALE_MASK = 0x0f;
const TS_OPT_SACK = 0x10;
const TS_OPT_ECN = 0x20;
/** RFC 7323 2.3: shift counts above 14 are taken as 14. */
const MAX_WINDOW_SCALE = 14;

/** What the peer's SYN negotiated, as far as a cookie SYN-ACK has to remember it. */
export interface CookieOptions {
  /** The peer's MSS option, -1 if absent (then 536, RFC 9293 3.7.1). Carried by the ISN. */
  mss: number;
  /** The peer's window shift count 0..14 (more is taken as 14), -1 none. */
  windowScale: number;
  sackPermitted: boolean;
  /** The peer asked for ECN and we agree (our SYN-ACK carries ECE). */
  ecn?: boolean;
  /** The peer's SYN carried timestamps (and we use them): only then do the others survive. */
  timestamps: boolean;
}

/** What a valid cookie ACK tells about the connection to build. */
export interface DecodedCookie {
  /** The peer's MSS, rounded down to a table entry (536 at least). */
  mss: number;
  /** The peer's window shift count, -1 none (then neither side scales, RFC 7323 2.2). */
  windowScale: number;
  sackPermitted: boolean;
  /** ECN was agreed in the SYN-ACK. */
  ecn: boolean;
  /** The ACK echoed a timestamp, so timestamps are on. */
  timestamps: boolean;
}

/**
 * The table entry a cookie carries for a peer MSS: the largest one <= `mss`. Below the first
 * entry (or absent, -1) it is the first, 536, as in Linux: every IPv4 host takes 576-byte
 * datagrams (RFC 9293 3.7.1).
 */
export function synCookieMss(mss: number): number {
  return SYN_COOKIE_MSS_TABLE[mssIndex(mss)]!;
}

function mssIndex(mss: number): number {
  let i = SYN_COOKIE_MSS_TABLE.length - 1;
  while (i > 0 && mss < SYN_COOKIE_MSS_TABLE[i]!) i--;
  return i;
}

/** Hash domains: one secret, independent functions. */
const DOMAIN_H0 = 0;
const DOMAIN_H1 = 1;
const DOMAIN_TS_OFFSET = 2;

export class SynCookies {
  readonly stats = { sent: 0, validated: 0, failed: 0 };

  private readonly sip: SipHash;
  /** Hash input: local addr 4, local port 2, remote addr 4, remote port 2, peer ISN 4, tick 4, domain 1. */
  private readonly input = new Uint8Array(21);

  constructor(
    private readonly clock: Clock,
    secret: Uint8Array,
  ) {
    if (secret.length === 0) throw new RangeError('SynCookies: empty secret');
    this.sip = new SipHash(sipKey(secret));
  }

  /**
   * Our ISN for a SYN-ACK answering a SYN we keep no state for: carries the current tick and
   * the peer's MSS rounded down to a table entry ({@link synCookieMss}; `mss` -1 if the SYN had
   * none). Counts `stats.sent`.
   */
  encode(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, peerIsn: number, mss: number): number {
    const tick = this.tick();
    this.setTuple(localAddr, localPort, remoteAddr, remotePort, peerIsn);
    const h0 = this.hash(0, DOMAIN_H0);
    const h1 = this.hash(tick, DOMAIN_H1);
    this.stats.sent++;
    return (h0 + (tick & COUNTER_MASK) * (1 << COOKIE_BITS) + ((h1 + mssIndex(mss)) & COOKIE_MASK)) >>> 0;
  }

  /**
   * On an ACK for a listener with no matching SYN-queue entry: `cookieIsn` is SEG.ACK - 1,
   * `peerIsn` SEG.SEQ - 1 (mod 2^32: `seqAdd(x, -1)`). Returns the peer's MSS (a table entry)
   * if the cookie is ours for this 4-tuple and peer ISN and from the current or previous tick,
   * else null. Counts `stats.validated` or `stats.failed`.
   */
  decode(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    peerIsn: number,
    cookieIsn: number,
  ): number | null {
    const now = this.tick();
    this.setTuple(localAddr, localPort, remoteAddr, remotePort, peerIsn);
    const rest = (cookieIsn - this.hash(0, DOMAIN_H0)) >>> 0;
    const age = (now - (rest >>> COOKIE_BITS)) & COUNTER_MASK;
    // A tick before the clock's first was never issued: in the first tick only its own counts.
    if (age >= SYN_COOKIE_MAX_AGE || age > now) {
      this.stats.failed++;
      return null;
    }
    const index = (rest - this.hash(now - age, DOMAIN_H1)) & COOKIE_MASK;
    if (index >= SYN_COOKIE_MSS_TABLE.length) {
      this.stats.failed++;
      return null;
    }
    this.stats.validated++;
    return SYN_COOKIE_MSS_TABLE[index]!;
  }

  /**
   * The TSval for a cookie SYN-ACK when the peer's SYN had timestamps: `nowTs` (the timestamp
   * clock the connection will use) with its low 6 bits replaced by the options, moved back 64
   * units if that would put it ahead of `nowTs`, so later TSvals never go backwards (Linux
   * cookie_init_timestamp). Without `opts.timestamps` there is nothing to carry: `nowTs`.
   */
  encodeTimestamp(nowTs: number, opts: CookieOptions): number {
    const now = nowTs >>> 0;
    if (!opts.timestamps) return now;
    const ws = opts.windowScale < 0 ? TS_OPT_WSCALE_MASK : Math.min(opts.windowScale, MAX_WINDOW_SCALE);
    const options = ws | (opts.sackPermitted ? TS_OPT_SACK : 0) | (opts.ecn ? TS_OPT_ECN : 0);
    let ts = ((now & ~TS_MASK) | options) >>> 0;
    // Same top 26 bits, so the unsigned comparison is the sequence-space one.
    if (ts > now) ts = ((((ts >>> TS_BITS) - 1) << TS_BITS) | options) >>> 0;
    return ts;
  }

  /**
   * The options carried by the TSecr of the ACK (null: the ACK had no timestamp, so no window
   * scale and no SACK). The TSecr is not authenticated; a peer that forges it only changes its
   * own connection, and only to options it could have asked for in its SYN.
   */
  decodeTimestamp(tsEcr: number | null): { windowScale: number; sackPermitted: boolean; ecn: boolean } {
    if (tsEcr === null) return { windowScale: -1, sackPermitted: false, ecn: false };
    const ws = tsEcr & TS_OPT_WSCALE_MASK;
    return { windowScale: ws === TS_OPT_WSCALE_MASK ? -1 : ws, sackPermitted: (tsEcr & TS_OPT_SACK) !== 0, ecn: (tsEcr & TS_OPT_ECN) !== 0 };
  }

  /**
   * {@link decode} and {@link decodeTimestamp} together: everything a valid cookie ACK
   * recovers, or null. `tsEcr` is the ACK's TSecr, null if it had no timestamp option.
   */
  check(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    peerIsn: number,
    cookieIsn: number,
    tsEcr: number | null,
  ): DecodedCookie | null {
    const mss = this.decode(localAddr, localPort, remoteAddr, remotePort, peerIsn, cookieIsn);
    if (mss === null) return null;
    const o = this.decodeTimestamp(tsEcr);
    return { mss, windowScale: o.windowScale, sackPermitted: o.sackPermitted, ecn: o.ecn, timestamps: tsEcr !== null };
  }

  /**
   * A keyed per-4-tuple offset for the timestamp clock (as Linux's secure_tcp_ts_off): the
   * connection built from a cookie ACK cannot remember a random offset chosen for the SYN-ACK,
   * so both use this one; then its TSvals continue from the SYN-ACK's and RTT samples from the
   * echoed TSecr stay meaningful.
   */
  timestampOffset(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    this.setTuple(localAddr, localPort, remoteAddr, remotePort, 0);
    return this.hash(0, DOMAIN_TS_OFFSET);
  }

  /** The current 64-second period (can exceed 32 bits; hashed mod 2^32, which wraps after 8700 years). */
  private tick(): number {
    return Math.floor(this.clock.nowMs() / SYN_COOKIE_TICK_MS);
  }

  private setTuple(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, peerIsn: number): void {
    const b = this.input;
    put32(b, 0, localAddr);
    b[4] = localPort >>> 8;
    b[5] = localPort;
    put32(b, 6, remoteAddr);
    b[10] = remotePort >>> 8;
    b[11] = remotePort;
    put32(b, 12, peerIsn);
  }

  /** F(secret, tuple set by {@link setTuple}, tick, domain): 32 bits of SipHash-2-4. */
  private hash(tick: number, domain: number): number {
    const b = this.input;
    put32(b, 16, tick);
    b[20] = domain;
    return this.sip.hash(b);
  }
}

function put32(b: Uint8Array, off: number, x: number): void {
  b[off] = x >>> 24;
  b[off + 1] = x >>> 16;
  b[off + 2] = x >>> 8;
  b[off + 3] = x;
}
