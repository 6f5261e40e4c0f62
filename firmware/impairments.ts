/**
 * What the fault injector does to frames, per direction, and its text form:
 *
 *   rx:loss=2%,reorder=1%;tx:loss=1%,dup=0.5%,corrupt=0.1%,delay=5ms±2ms,rate=100mbit
 *
 * loss=P (uniform), burst=N (each loss event takes N frames in a row), dup=P, reorder=P
 * (a frame is held back by `by=N` frames, default 3, or `hold=Tms`), corrupt=P (one random
 * bit flipped), mark=P (congestion signalled as an ECN router would, RFC 3168 5: an ECN-capable
 * IPv4 frame gets CE, any other frame is dropped; netem's `ecn`), delay=Tms[±Jms] (every frame,
 * with uniform jitter), rate=R[k|m|g]bit (a token bucket; frames wait for tokens, the queue holds
 * `queue=N` frames then drops).
 * Probabilities take `%` or a fraction. This kernel has no netem: these stand in for it.
 */

export interface Impairment {
  loss: number;
  burst: number;
  dup: number;
  reorder: number;
  reorderFrames: number;
  reorderMs: number;
  corrupt: number;
  mark: number;
  delayMs: number;
  jitterMs: number;
  rateBitsPerSecond: number;
  queueFrames: number;
}

export interface ImpairmentSpec {
  rx: Impairment;
  tx: Impairment;
  seed: number;
}

export function noImpairment(): Impairment {
  return { loss: 0, burst: 1, dup: 0, reorder: 0, reorderFrames: 3, reorderMs: 0, corrupt: 0, mark: 0, delayMs: 0, jitterMs: 0, rateBitsPerSecond: 0, queueFrames: 1000 };
}

export function isImpaired(i: Impairment): boolean {
  return i.loss > 0 || i.dup > 0 || i.reorder > 0 || i.corrupt > 0 || i.mark > 0 || i.delayMs > 0 || i.jitterMs > 0 || i.rateBitsPerSecond > 0;
}

export class ImpairmentError extends Error {
  override readonly name = 'ImpairmentError';
}

function probability(key: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(v);
  if (!m) throw new ImpairmentError(`${key}=${v}: give a probability like 1% or 0.01`);
  const p = Number(m[1]) / (m[2] ? 100 : 1);
  if (p < 0 || p > 1) throw new ImpairmentError(`${key}=${v}: a probability is within 0..100%`);
  return p;
}

function millis(key: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|us)?$/.exec(v);
  if (!m) throw new ImpairmentError(`${key}=${v}: give a time like 5ms`);
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'us' ? n / 1000 : n;
}

function integer(key: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new ImpairmentError(`${key}=${v}: a whole number in ${min}..${max}`);
  return Number(v);
}

/** Parse the `--impair` text; `seed` makes every run with the same text and seed identical. */
export function parseImpairments(text: string, seed = 1): ImpairmentSpec {
  const spec: ImpairmentSpec = { rx: noImpairment(), tx: noImpairment(), seed };
  for (const group of text.split(';')) {
    const g = group.trim();
    if (!g) continue;
    const m = /^(rx|tx|both):(.*)$/.exec(g);
    if (!m) throw new ImpairmentError(`"${g}": start with rx:, tx: or both:`);
    const targets = m[1] === 'both' ? [spec.rx, spec.tx] : [m[1] === 'rx' ? spec.rx : spec.tx];
    for (const kv of m[2]!.split(',')) {
      const [key, value] = kv.trim().split('=') as [string, string | undefined];
      if (value === undefined) throw new ImpairmentError(`"${kv}": write key=value`);
      for (const t of targets) {
        switch (key) {
          case 'loss':
            t.loss = probability(key, value);
            break;
          case 'burst':
            t.burst = integer(key, value, 1, 1000);
            break;
          case 'dup':
            t.dup = probability(key, value);
            break;
          case 'reorder':
            t.reorder = probability(key, value);
            break;
          case 'by':
            t.reorderFrames = integer(key, value, 1, 1000);
            break;
          case 'hold':
            t.reorderMs = millis(key, value);
            break;
          case 'corrupt':
            t.corrupt = probability(key, value);
            break;
          case 'mark':
            t.mark = probability(key, value);
            break;
          case 'delay': {
            const [d, j] = value.split(/±|\+-/);
            t.delayMs = millis(key, d!);
            t.jitterMs = j !== undefined ? millis(key, j) : 0;
            if (t.jitterMs > t.delayMs) throw new ImpairmentError(`delay=${value}: jitter above the delay`);
            break;
          }
          case 'rate': {
            const r = /^(\d+(?:\.\d+)?)([kmg]?)bit$/.exec(value);
            if (!r) throw new ImpairmentError(`rate=${value}: give a rate like 100mbit`);
            t.rateBitsPerSecond = Number(r[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[r[2]!]!;
            break;
          }
          case 'queue':
            t.queueFrames = integer(key, value, 1, 1_000_000);
            break;
          default:
            throw new ImpairmentError(`unknown impairment "${key}": loss, burst, dup, reorder, by, hold, corrupt, mark, delay, rate, queue`);
        }
      }
    }
  }
  return spec;
}

export function formatImpairment(i: Impairment): string {
  const out: string[] = [];
  const pct = (p: number) => `${+(p * 100).toFixed(4)}%`;
  if (i.loss) out.push(`loss=${pct(i.loss)}${i.burst > 1 ? `,burst=${i.burst}` : ''}`);
  if (i.dup) out.push(`dup=${pct(i.dup)}`);
  if (i.reorder) out.push(`reorder=${pct(i.reorder)},${i.reorderMs ? `hold=${i.reorderMs}ms` : `by=${i.reorderFrames}`}`);
  if (i.corrupt) out.push(`corrupt=${pct(i.corrupt)}`);
  if (i.mark) out.push(`mark=${pct(i.mark)}`);
  if (i.delayMs) out.push(`delay=${i.delayMs}ms${i.jitterMs ? `±${i.jitterMs}ms` : ''}`);
  if (i.rateBitsPerSecond) out.push(`rate=${i.rateBitsPerSecond}bit`);
  return out.join(',') || 'none';
}

/** A small, fast, seedable generator (mulberry32): the same seed, the same faults. */
export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** What happens to one frame. */
export const Fate = { PASS: 0, DROP: 1, DUP: 2, HOLD: 3, CORRUPT: 4, MARK: 5 } as const;

export interface ImpairStats {
  frames: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  /** Frames given CE (ECN-capable ones; the others a `mark` hit are counted as dropped). */
  marked: number;
  delayed: number;
  rateLimited: number;
  queueDropped: number;
}

export function emptyImpairStats(): ImpairStats {
  return { frames: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, marked: 0, delayed: 0, rateLimited: 0, queueDropped: 0 };
}

/** The decisions for one direction: seeded, so a run can be repeated exactly. */
export class Impairer {
  readonly stats = emptyImpairStats();
  private readonly rng: Prng;
  private burstLeft = 0;
  private tokens: number;
  private tokensAt = 0;
  private readonly bucket: number;

  constructor(
    readonly spec: Impairment,
    seed: number,
  ) {
    this.rng = new Prng(seed);
    // A bucket of 64 KiB or 10 ms worth, whichever is larger.
    this.bucket = Math.max(65536 * 8, spec.rateBitsPerSecond / 100);
    this.tokens = this.bucket;
  }

  get active(): boolean {
    return isImpaired(this.spec);
  }

  /** The fate of the next frame. */
  decide(): number {
    const s = this.spec;
    this.stats.frames++;
    if (this.burstLeft > 0) {
      this.burstLeft--;
      this.stats.dropped++;
      return Fate.DROP;
    }
    const r = this.rng;
    if (s.loss > 0 && r.next() < s.loss) {
      this.burstLeft = s.burst - 1;
      this.stats.dropped++;
      return Fate.DROP;
    }
    if (s.corrupt > 0 && r.next() < s.corrupt) {
      this.stats.corrupted++;
      return Fate.CORRUPT;
    }
    // Counted by the caller: marked, or dropped when the frame is not ECN-capable.
    if (s.mark > 0 && r.next() < s.mark) return Fate.MARK;
    if (s.dup > 0 && r.next() < s.dup) {
      this.stats.duplicated++;
      return Fate.DUP;
    }
    if (s.reorder > 0 && r.next() < s.reorder) {
      this.stats.reordered++;
      return Fate.HOLD;
    }
    return Fate.PASS;
  }

  /** Extra delay for a frame (delay ± jitter), in ms. */
  delay(): number {
    const s = this.spec;
    if (s.delayMs === 0 && s.jitterMs === 0) return 0;
    this.stats.delayed++;
    return Math.max(0, s.delayMs + (this.rng.next() * 2 - 1) * s.jitterMs);
  }

  /** A random bit position below `bits`. */
  bit(bits: number): number {
    return this.rng.below(bits);
  }

  /**
   * Rate limit: the time at which a frame of `bytes` may leave, given it is queued behind
   * frames leaving at `after`; consumes tokens. 0 when not limited.
   */
  departure(now: number, after: number, bytes: number): number {
    const rate = this.spec.rateBitsPerSecond;
    if (rate === 0) return 0;
    const start = Math.max(now, after);
    this.tokens = Math.min(this.bucket, this.tokens + ((start - this.tokensAt) * rate) / 1000);
    this.tokensAt = start;
    this.tokens -= bytes * 8;
    if (this.tokens >= 0) return start;
    this.stats.rateLimited++;
    const wait = (-this.tokens * 1000) / rate;
    return start + wait;
  }
}
