/**
 * Header-split policies: how many bytes of each received frame go to the header buffer before
 * the payload pages start. zero_copy(9) needs the TCP payload at offset 0 of a page; with
 * Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12 that is a 66-byte header buffer. UDP's data
 * starts at 14 + 20 + 8 = 42.
 */

/** Ethernet 14 + IPv4 20 + TCP 20 + RFC 7323 timestamps option 12 (with its two NOPs). */
export const SPLIT_TCP_TIMESTAMPS = 66;
/** Ethernet 14 + IPv4 20 + UDP 8 (RFC 768). */
export const SPLIT_UDP = 42;
/** The largest fixed split we offer: Ethernet + the largest IPv4 and TCP headers (60 + 60) + slack. */
export const SPLIT_MAX = 256;
/** The smallest: an Ethernet header. */
export const SPLIT_MIN = 14;

export type SplitPolicySpec = { kind: 'fixed'; size: number } | { kind: 'none' } | { kind: 'adaptive'; initial?: number };

export class SplitPolicyError extends Error {
  override readonly name = 'SplitPolicyError';
}

/** Parse `fixed:66`, `fixed:N`, `none`, `adaptive`. */
export function parseSplitPolicy(text: string): SplitPolicySpec {
  if (text === 'none') return { kind: 'none' };
  if (text === 'adaptive') return { kind: 'adaptive' };
  const m = /^fixed:(\d+)$/.exec(text);
  if (m) {
    const size = Number(m[1]);
    if (size < SPLIT_MIN || size > SPLIT_MAX)
      throw new SplitPolicyError(`split size ${size} out of range ${SPLIT_MIN}..${SPLIT_MAX}`);
    return { kind: 'fixed', size };
  }
  throw new SplitPolicyError(`unknown split policy ${JSON.stringify(text)}: use fixed:66, fixed:N, none or adaptive`);
}

export function formatSplitPolicy(spec: SplitPolicySpec): string {
  return spec.kind === 'fixed' ? `fixed:${spec.size}` : spec.kind;
}

/**
 * A policy chooses the header-buffer size of each descriptor when it is posted, and observes
 * the header length of each frame received (so an adaptive policy can learn).
 */
export interface SplitPolicy {
  readonly spec: SplitPolicySpec;
  /** Header-buffer size for the next posted descriptor; 0 means no split. */
  nextSize(): number;
  /**
   * Told the header length of a frame that carried payload, its transport protocol (the IP
   * protocol number, 0 when there is none) and how many payload bytes followed the headers.
   */
  observe(headerLength: number, protocol?: number, payloadLength?: number): void;
}

class FixedSplit implements SplitPolicy {
  constructor(readonly spec: SplitPolicySpec, private readonly size: number) {}
  nextSize(): number {
    return this.size;
  }
  observe(): void {}
}

/**
 * Learns, per transport protocol, the most common header length of recent payload-carrying
 * frames (a decaying vote, each frame's vote its payload bytes), and splits where the protocol
 * that carries the most payload has its headers: 66 for TCP with timestamps, 54 without, 78 and
 * up while SACK blocks flow, 42 for UDP. Weighing by bytes keeps a trickle of small datagrams
 * (DNS, say) from moving the split under a bulk TCP transfer, and the other way round. It only
 * moves when another length clearly dominates, so a few odd frames do not flap it.
 */
export class AdaptiveSplit implements SplitPolicy {
  readonly spec: SplitPolicySpec;
  private current: number;
  /** Per protocol (TCP, UDP, other): votes per header length (index = length), decayed every `window` frames. */
  private readonly votes = [new Float64Array(SPLIT_MAX + 1), new Float64Array(SPLIT_MAX + 1), new Float64Array(SPLIT_MAX + 1)];
  /** Per protocol: payload bytes seen, decayed with the votes. */
  private readonly bytes = new Float64Array(3);
  private seen = 0;
  private static readonly WINDOW = 64;

  constructor(initial = SPLIT_TCP_TIMESTAMPS) {
    this.current = initial;
    this.spec = { kind: 'adaptive', initial };
  }

  nextSize(): number {
    return this.current;
  }

  observe(headerLength: number, protocol = 0, payloadLength = 1): void {
    if (headerLength < SPLIT_MIN || headerLength > SPLIT_MAX) return;
    const p = protocol === 6 ? 0 : protocol === 17 ? 1 : 2;
    const w = Math.max(1, payloadLength);
    this.votes[p]![headerLength]! += w;
    this.bytes[p]! += w;
    if (++this.seen < AdaptiveSplit.WINDOW) return;
    this.seen = 0;
    // The protocol carrying the most payload decides; within it, the length that clearly leads.
    let top = 0;
    for (let q = 1; q < 3; q++) if (this.bytes[q]! > this.bytes[top]!) top = q;
    const votes = this.votes[top]!;
    let best = this.current;
    let bestVotes = votes[this.current]!;
    for (let len = SPLIT_MIN; len <= SPLIT_MAX; len++) {
      const v = votes[len]!;
      if (v > bestVotes * 1.5 && v >= this.bytes[top]! / 4) {
        best = len;
        bestVotes = v;
      }
    }
    for (const t of this.votes) for (let len = SPLIT_MIN; len <= SPLIT_MAX; len++) t[len] = t[len]! / 2;
    for (let q = 0; q < 3; q++) this.bytes[q] = this.bytes[q]! / 2;
    this.current = best;
  }
}

export function createSplitPolicy(spec: SplitPolicySpec): SplitPolicy {
  switch (spec.kind) {
    case 'fixed':
      return new FixedSplit(spec, spec.size);
    case 'none':
      return new FixedSplit(spec, 0);
    case 'adaptive':
      return new AdaptiveSplit(spec.initial);
  }
}
