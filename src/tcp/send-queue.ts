/**
 * The send queue: the bytes of a connection from SND.UNA on (sent and not yet acknowledged,
 * then not yet sent), held in pool pages. Segments go to the NIC by reference to these pages
 * (they stay unchanged until acknowledged), so transmitting and retransmitting copy nothing.
 * Bytes written by the application are copied in once, as the kernel does on write(2).
 */
import { PAGE_SIZE } from '../mem/arena.js';
import type { TransportFrame } from '../iface/transport.js';
import { PageOwner, type PagePool } from '../mem/page-pool.js';

interface Chunk {
  /** Pool page id, or -1 for heap memory (used only when the pool is empty). */
  page: number;
  bytes: Uint8Array;
  /** First byte still queued, and the end of the bytes written into `bytes`. */
  start: number;
  end: number;
  /**
   * Zero-copy completion: called once every byte of the chunk is acknowledged (`acked`), or the
   * connection dropped it (`acked` false); `copied` when its bytes were copied after all.
   */
  onAcked: ((acked: boolean, copied: boolean) => void) | null;
  copied: boolean;
}

/** The chunks of a queue holding nothing: shared and never written (see {@link SendQueue.add}). */
const NO_CHUNKS: Chunk[] = [];

export class SendQueue {
  /** Queued chunks in order; an idle queue holds the shared empty array, not one of its own. */
  private chunks: Chunk[] = NO_CHUNKS;
  private bytes = 0;
  /** A lookup cursor: chunk `curIdx` starts at queue offset `curBase` (segments go in order). */
  private curIdx = 0;
  private curBase = 0;
  /** Set by {@link locate}: the offset into the located chunk's queued bytes. */
  private within = 0;
  /** Bytes copied in from the application. */
  copiedIn = 0;

  constructor(private readonly pool: PagePool) {}

  /** Bytes queued (unacknowledged and unsent). */
  get length(): number {
    return this.bytes;
  }

  /** Copy `data` in; returns how many bytes were taken (all of them; the caller bounds it). */
  append(data: Uint8Array): number {
    let pos = 0;
    const n = data.length;
    while (pos < n) {
      let tail = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1]! : null;
      if (!tail || tail.end === tail.bytes.length || tail.onAcked) {
        const page = this.pool.alloc(PageOwner.Stack);
        tail = { page, bytes: page >= 0 ? this.pool.view(page) : new Uint8Array(PAGE_SIZE), start: 0, end: 0, onAcked: null, copied: false };
        this.add(tail);
      }
      const take = Math.min(n - pos, tail.bytes.length - tail.end);
      tail.bytes.set(data.subarray(pos, pos + take), tail.end);
      tail.end += take;
      pos += take;
    }
    this.bytes += n;
    this.copiedIn += n;
    return n;
  }

  /**
   * Queue a page by reference (zero-copy send): `page` is a pool page the stack now owns,
   * `len` bytes of it are data. `onAcked` runs when all of it is acknowledged.
   */
  appendPage(page: number, len: number, onAcked: ((acked: boolean, copied: boolean) => void) | null): void {
    this.add({ page, bytes: this.pool.view(page), start: 0, end: len, onAcked, copied: false });
    this.bytes += len;
  }

  private add(c: Chunk): void {
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    this.chunks.push(c);
  }

  /** The chunk holding queue offset `from` (and {@link within} set); chunks.length past the end. */
  private locate(from: number): number {
    let i = 0;
    let base = 0;
    if (from >= this.curBase && this.curIdx < this.chunks.length) {
      i = this.curIdx;
      base = this.curBase;
    }
    for (; i < this.chunks.length; i++) {
      const c = this.chunks[i]!;
      const avail = c.end - c.start;
      if (from - base < avail) break;
      base += avail;
    }
    this.curIdx = i;
    this.curBase = base;
    this.within = from - base;
    return i;
  }

  /** Drop `n` acknowledged bytes from the front, freeing the pages they emptied. */
  consume(n: number): void {
    this.curIdx = 0;
    this.curBase = 0;
    this.bytes -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const avail = c.end - c.start;
      if (n < avail || (n === avail && c.end < c.bytes.length && this.chunks.length === 1 && !c.onAcked)) {
        // Keep a partly filled tail page for the next write.
        c.start += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      if (c.onAcked) c.onAcked(true, c.copied);
      else if (c.page >= 0) this.pool.free(c.page);
    }
  }

  /**
   * How many of `len` bytes from `from` fit in at most `maxParts` chunks (a transmit frame has a
   * bounded number of iovecs).
   */
  fitParts(from: number, len: number, maxParts: number): number {
    let i = this.locate(from);
    from = this.within;
    let fit = 0;
    for (let k = 0; k < maxParts && i < this.chunks.length && fit < len; k++, i++) {
      const c = this.chunks[i]!;
      fit += c.end - c.start - from;
      from = 0;
    }
    return Math.min(fit, len);
  }

  /**
   * Append queue bytes [from, from + len) to transmit frame `f`: pool pages by reference (as a
   * page and an offset, no view made per segment), heap chunks by copy.
   */
  toFrame(f: TransportFrame, from: number, len: number): void {
    let i = this.locate(from);
    from = this.within;
    while (len > 0) {
      const c = this.chunks[i++]!;
      const s = c.start + from;
      const n = Math.min(len, c.end - s);
      if (c.page >= 0) f.appendPage(c.page, s, n);
      else f.appendBytes(c.bytes, s, s + n);
      len -= n;
      from = 0;
    }
  }

  /**
   * Queue bytes [from, from + len) were copied after all (the frame waited for ARP): their
   * chunks complete with `copied` set.
   */
  markCopied(from: number, len: number): void {
    let i = this.locate(from);
    from = this.within;
    while (len > 0 && i < this.chunks.length) {
      const c = this.chunks[i++]!;
      c.copied = true;
      len -= c.end - c.start - from;
      from = 0;
    }
  }

  /** Release every page (connection gone). Zero-copy owners are told their pages are back. */
  clear(): void {
    for (const c of this.chunks) {
      if (c.onAcked) c.onAcked(false, c.copied);
      else if (c.page >= 0) this.pool.free(c.page);
    }
    this.chunks = NO_CHUNKS;
    this.bytes = 0;
    this.curIdx = 0;
    this.curBase = 0;
  }
}
