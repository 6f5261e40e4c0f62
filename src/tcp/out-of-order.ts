/**
 * The receiver's out-of-order queue and the SACK blocks that report it: segments beyond RCV.NXT
 * held until the hole before them fills (RFC 9293 3.10.7.4 "seventh"; gVisor's
 * pendingRcvdSegments, Linux's out_of_order_queue), bounded per connection and over all
 * connections, and the blocks our ACKs carry, the one holding the newest segment first
 * (RFC 2018 4). What a segment holds (its pages, or a copy) is held-payload.ts's business.
 */
import type { PagePool } from '../mem/page-pool.js';
import type { RxPayload } from '../mem/rx-payload.js';
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax } from '../wire/seq.js';
import type { TcpConfig } from './config.js';
import { emptySegment, HeldPayload, holdSegment, releaseSegment, type HeldSegment } from './held-payload.js';
import type { TcpDropReason } from './reasons.js';

/** What the queue counts in, and the bound it shares with every other connection's. */
export interface OutOfOrderHost {
  readonly config: TcpConfig;
  readonly stats: { outOfOrderSegments: number; outOfOrderBytes: number; outOfOrderDropped: number };
  /** Out-of-order bytes held by all connections (bounded by config.maxOutOfOrderBytesTotal). */
  oooBytesTotal: number;
}

/** RFC 2018 3: at most 4 blocks in 40 bytes of options, 3 beside timestamps. */
const MAX_SACK_BLOCKS = 4;
/** The blocks of a queue that has held nothing: shared and never written. */
const NO_BLOCKS = new Uint32Array(0);
/** Scratch of noteSack, shared by every queue (used within one call): no allocation per segment. */
const KEEP = new Uint32Array(2 * MAX_SACK_BLOCKS);
/** Released segment records kept for the next holes (no allocation per held segment). */
const SPARE_SEGMENTS = 64;
/**
 * The segments of a queue that has held nothing: shared and never written (a queue makes its
 * own arrays at its first hold), so that an idle connection carries no arrays for holes.
 */
const NO_SEGMENTS: HeldSegment[] = [];

export class OutOfOrderQueue {
  /** Held segments, ascending by sequence number (overlaps kept as they came, trimmed on delivery). */
  private segs: HeldSegment[] = NO_SEGMENTS;
  /** Data bytes held, and of them the bytes held as copies (held pages are off the free pool already). */
  bytes = 0;
  copiedBytes = 0;
  /** The SACK blocks to send: [left, right) pairs, the most recently changed first (allocated by the first). */
  sackBlocks = NO_BLOCKS;
  sackCount = 0;
  private held: HeldPayload | null = null;
  private spare: HeldSegment[] = NO_SEGMENTS;

  constructor(
    private readonly host: OutOfOrderHost,
    private readonly pool: PagePool,
    private readonly drop: (reason: TcpDropReason) => void,
  ) {}

  get isEmpty(): boolean {
    return this.segs.length === 0;
  }

  /**
   * Hold [off, off + len) of `payload` (null: a FIN alone) until RCV.NXT reaches `seq`, unless a
   * bound bites (then it is dropped and counted: the peer sends it again). Its block goes first
   * in the next ACK (`sackBlocks`: at most `maxSackBlocks`, 0 without SACK), a duplicate's too.
   */
  hold(seq: number, payload: RxPayload | null, off: number, len: number, fin: boolean, maxSackBlocks: number): void {
    const stats = this.host.stats;
    const cfg = this.host.config;
    if (len > 0 && (this.bytes + len > cfg.maxOutOfOrderBytes || this.host.oooBytesTotal + len > cfg.maxOutOfOrderBytesTotal)) {
      stats.outOfOrderDropped++;
      this.drop(this.bytes + len > cfg.maxOutOfOrderBytes ? 'tcp-ooo-limit' : 'tcp-ooo-global-limit');
      return;
    }
    stats.outOfOrderSegments++;
    stats.outOfOrderBytes += len;
    if (this.segs === NO_SEGMENTS) {
      this.segs = [];
      this.spare = [];
    }
    let i = this.segs.length;
    while (i > 0 && seqGt(this.segs[i - 1]!.seq, seq)) i--;
    const prev = this.segs[i - 1];
    if (!(prev && prev.seq === seq && prev.len >= len && prev.fin === fin)) {
      const s = holdSegment(this.spare.pop() ?? emptySegment(), seq, payload, off, len, fin);
      this.segs.splice(i, 0, s);
      this.bytes += len;
      if (s.heap !== null) this.copiedBytes += len;
      this.host.oooBytesTotal += len;
    }
    this.noteSack(seq, seqAdd(seq, len), maxSackBlocks);
  }

  /** The first held segment if it starts at or below `rcvNxt`, off the queue; else null. */
  takeReady(rcvNxt: number): HeldSegment | null {
    const s = this.segs[0];
    if (s === undefined || seqGt(s.seq, rcvNxt)) return null;
    this.segs.shift();
    this.bytes -= s.len;
    if (s.heap !== null) this.copiedBytes -= s.len;
    this.host.oooBytesTotal -= s.len;
    return s;
  }

  /** A taken segment's data as a payload for its delivery (one reused object). */
  payloadOf(s: HeldSegment): RxPayload {
    return (this.held ??= new HeldPayload(this.pool)).set(s);
  }

  /** What a taken segment still holds (pages its delivery did not take) goes back to the pool; the record is used again. */
  release(s: HeldSegment): void {
    releaseSegment(this.pool, s);
    s.heap = null;
    if (this.spare.length < SPARE_SEGMENTS) this.spare.push(s);
  }

  /** Forget SACK blocks, or their parts, now below RCV.NXT. */
  forgetSackBelow(rcvNxt: number): void {
    const b = this.sackBlocks;
    let k = 0;
    for (let i = 0; i < this.sackCount; i++) {
      const l = b[2 * i]!;
      const r = b[2 * i + 1]!;
      if (seqGt(r, rcvNxt)) {
        b[2 * k] = seqMax(l, rcvNxt);
        b[2 * k + 1] = r;
        k++;
      }
    }
    this.sackCount = k;
  }

  /** Everything held goes back (the connection ended). */
  clear(): void {
    for (const s of this.segs) this.release(s);
    if (this.segs !== NO_SEGMENTS) this.segs.length = 0;
    this.host.oooBytesTotal -= this.bytes;
    this.bytes = 0;
    this.copiedBytes = 0;
  }

  /** RFC 2018 4: [l, r) merged with the blocks it touches goes first, then the others. */
  private noteSack(l: number, r: number, max: number): void {
    if (max === 0 || l === r) return;
    if (this.sackBlocks.length === 0) this.sackBlocks = new Uint32Array(2 * MAX_SACK_BLOCKS);
    const b = this.sackBlocks;
    // Merge in place: blocks that touch [l, r) are absorbed, the rest keep their order after it.
    let kept = 0;
    const keep = KEEP;
    for (let i = 0; i < this.sackCount; i++) {
      const bl = b[2 * i]!;
      const br = b[2 * i + 1]!;
      if (seqLe(bl, r) && seqGe(br, l)) {
        if (seqLt(bl, l)) l = bl;
        if (seqGt(br, r)) r = br;
      } else {
        keep[2 * kept] = bl;
        keep[2 * kept + 1] = br;
        kept++;
      }
    }
    b[0] = l;
    b[1] = r;
    let n = 1;
    for (let i = 0; i < kept && n < max; i++, n++) {
      b[2 * n] = keep[2 * i]!;
      b[2 * n + 1] = keep[2 * i + 1]!;
    }
    this.sackCount = n;
  }
}
