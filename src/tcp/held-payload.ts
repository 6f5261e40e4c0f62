/**
 * Out-of-order data as the connection keeps it until the hole before it fills (RFC 9293 3.10.7.4
 * "seventh": segments beyond RCV.NXT may be held for later processing): the pages the data came
 * in where it lay page-aligned in whole pages (taken from the payload, no copy), else a copy.
 * Held pages are owner Stack, in the out-of-order queue and nowhere else (docs/ARCHITECTURE.md
 * section 3): delivered, they move on by index; dropped, they go back to the pool.
 */
import { PAGE_SIZE } from '../mem/arena.js';
import type { PagePool } from '../mem/page-pool.js';
import type { RxCopyReason, RxPayload } from '../mem/rx-payload.js';

export interface HeldSegment {
  seq: number;
  /** Data bytes (0 for a FIN alone). */
  len: number;
  fin: boolean;
  /** Page k holds data bytes [k * PAGE_SIZE, ...); -1 once taken. Null when `heap` holds the data. */
  pages: number[] | null;
  heap: Uint8Array | null;
  /** The array `pages` is when set, kept with the record when it is used again. */
  readonly ids: number[];
}

/** A record for {@link holdSegment} to fill (the out-of-order queue recycles them). */
export function emptySegment(): HeldSegment {
  return { seq: 0, len: 0, fin: false, pages: null, heap: null, ids: [] };
}

/**
 * Keep [off, off + len) of `payload` in `s`: its pages when it will give them, else a copy (the
 * copy is the one allocation here, counted by the caller as out-of-order copied bytes).
 */
export function holdSegment(s: HeldSegment, seq: number, payload: RxPayload | null, off: number, len: number, fin: boolean): HeldSegment {
  s.seq = seq;
  s.fin = fin;
  s.pages = null;
  s.heap = null;
  s.ids.length = 0;
  if (payload === null || len === 0) {
    s.len = 0;
    return s;
  }
  s.len = len;
  if (payload.takePages(off, len, s.ids) === null) {
    s.pages = s.ids;
    return s;
  }
  s.ids.length = 0;
  s.heap = new Uint8Array(len);
  payload.copyOut(off, len, s.heap, 0);
  return s;
}

/** Give a held segment's remaining pages back to the pool. */
export function releaseSegment(pool: PagePool, s: HeldSegment): void {
  const pages = s.pages;
  if (pages === null) return;
  for (let k = 0; k < pages.length; k++) {
    if (pages[k]! >= 0) pool.free(pages[k]!);
    pages[k] = -1;
  }
}

/** A held segment's data as an {@link RxPayload}, for its delivery; one instance reused. */
export class HeldPayload implements RxPayload {
  length = 0;
  private seg: HeldSegment | null = null;

  constructor(private readonly pool: PagePool) {}

  set(s: HeldSegment): this {
    this.seg = s;
    this.length = s.len;
    return this;
  }

  copyOut(from: number, len: number, dst: Uint8Array, dstOff: number): void {
    const s = this.check(from, len);
    if (s.heap !== null) {
      dst.set(s.heap.subarray(from, from + len), dstOff);
      return;
    }
    const pages = s.pages!;
    for (let pos = from, end = from + len; pos < end; ) {
      const inPage = pos & (PAGE_SIZE - 1);
      const n = Math.min(end - pos, PAGE_SIZE - inPage);
      const id = pages[pos >>> 12]!;
      if (id < 0) throw new Error(`held page ${pos >>> 12} was taken`);
      dst.set(this.pool.view(id).subarray(inPage, inPage + n), dstOff);
      dstOff += n;
      pos += n;
    }
  }

  takePages(from: number, len: number, into: number[]): RxCopyReason | null {
    const s = this.check(from, len);
    if (s.pages === null) return 'out-of-order';
    if ((from & (PAGE_SIZE - 1)) !== 0) return 'unaligned';
    const pages = s.pages;
    for (let k = from >>> 12, left = len; left > 0; k++, left -= PAGE_SIZE) {
      const id = pages[k]!;
      if (id < 0) throw new Error(`held page ${k} was taken`);
      into.push(id);
      pages[k] = -1;
    }
    return null;
  }

  private check(from: number, len: number): HeldSegment {
    const s = this.seg;
    if (s === null || from < 0 || len < 0 || from + len > s.len) throw new RangeError(`payload range ${from}+${len} beyond ${this.length} bytes`);
    return s;
  }
}
