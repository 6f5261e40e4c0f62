/**
 * A received frame as the firmware left it in a descriptor: a header buffer, then payload pages.
 * One instance is reused for every frame (no allocation per frame); it is valid only during the
 * receive call it is passed to. Pages the stack wants to keep are taken with {@link takePage}:
 * ownership moves to the stack and the descriptor gets a fresh page when reposted.
 */
import { PAGE_SIZE } from '../mem/arena.js';
import type { Arena } from '../mem/arena.js';
import type { PagePool } from '../mem/page-pool.js';
import { PageOwner } from '../mem/page-pool.js';
import type { RxRing } from '../../firmware/rings.js';
import { RxStatus } from '../../firmware/rings.js';

export class RxFrame {
  /** Descriptor number. */
  d = -1;
  /** Frame length without the virtio-net header. */
  length = 0;
  /** Where the firmware found the headers to end. */
  headerEnd = 0;
  /** Header-buffer size of this descriptor (0: no split). */
  split = 0;
  status = 0;
  gsoType = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;
  /** Bytes copied to make frames contiguous for the stack (not zero copy; counted). */
  linearizedBytes = 0;
  linearizedFrames = 0;
  /**
   * Receive-ring slots without a page: taken by the stack ({@link takePage}) and not yet
   * refilled (the driver refills them when it reposts the descriptor, from the free pool).
   */
  emptySlots: number;

  private readonly scratch: Uint8Array;

  constructor(
    private readonly arena: Arena,
    private readonly ring: RxRing,
    private readonly pool: PagePool,
    scratchOffset: number,
    scratchLength: number,
  ) {
    this.scratch = arena.bytes.subarray(scratchOffset, scratchOffset + scratchLength);
    let empty = 0;
    for (let i = 0; i < ring.pages.length; i++) if (ring.pages[i]! < 0) empty++;
    this.emptySlots = empty;
  }

  /** Point this view at descriptor `d`. */
  load(d: number): void {
    const r = this.ring;
    this.d = d;
    this.length = r.length[d]!;
    this.headerEnd = r.headerEnd[d]!;
    this.split = r.split[d]!;
    this.status = r.status[d]!;
    this.gsoType = r.gsoType[d]!;
    this.gsoSize = r.gsoSize[d]!;
    this.csumStart = r.csumStart[d]!;
    this.csumOffset = r.csumOffset[d]!;
  }

  get splitHit(): boolean {
    return (this.status & RxStatus.SPLIT_HIT) !== 0;
  }
  get checksumBad(): boolean {
    return (this.status & RxStatus.CSUM_BAD) !== 0;
  }
  /** L4 checksum known good: verified by the firmware, or vouched for / left partial by the kernel. */
  get checksumOk(): boolean {
    return (this.status & (RxStatus.CSUM_VALID | RxStatus.CSUM_PARTIAL)) !== 0;
  }
  get checksumPartial(): boolean {
    return (this.status & RxStatus.CSUM_PARTIAL) !== 0;
  }
  /**
   * A whole IPv4 datagram carrying TCP whose headers the firmware located: {@link headerEnd} is
   * the end of the TCP header, so the headers can be made contiguous without the data.
   */
  get ipv4TcpHeaders(): boolean {
    return (this.status & RxStatus.IPV4_TCP) !== 0;
  }
  /** As {@link ipv4TcpHeaders}, for UDP: {@link headerEnd} is the end of the UDP header. */
  get ipv4UdpHeaders(): boolean {
    return (this.status & RxStatus.IPV4_UDP) !== 0;
  }

  /** The header buffer (the first `min(length, split)` bytes of the frame); full 256-byte view. */
  header(): Uint8Array {
    return this.ring.header[this.d]!;
  }

  /** Bytes of the frame that went to pages. */
  get pageBytes(): number {
    return this.length > this.split ? this.length - this.split : 0;
  }

  get pageCount(): number {
    return Math.ceil(this.pageBytes / PAGE_SIZE);
  }

  /**
   * The page slot whose first byte is frame byte `off`, or -1 when `off` does not start a page
   * (it lies in the header buffer, or mid-page). From that slot on, the frame's bytes can
   * change owner by page ({@link takePage}).
   */
  pageAt(off: number): number {
    const rel = off - this.split;
    return rel >= 0 && (rel & (PAGE_SIZE - 1)) === 0 ? rel >>> 12 : -1;
  }

  /** Page id in slot `k` of the descriptor. */
  pageId(k: number): number {
    return this.ring.pages[this.d * this.ring.maxPages + k]!;
  }

  /** Payload bytes held in page slot `k`. */
  pageLength(k: number): number {
    return Math.min(PAGE_SIZE, this.pageBytes - k * PAGE_SIZE);
  }

  /** The page in slot `k`, as a whole-page view. */
  pageView(k: number): Uint8Array {
    return this.pool.view(this.pageId(k));
  }

  /**
   * Take the page in slot `k` away from the NIC: it now belongs to the stack (a page flip, no
   * copy). The descriptor is refilled with a free page when it is reposted.
   */
  takePage(k: number): number {
    const i = this.d * this.ring.maxPages + k;
    const id = this.ring.pages[i]!;
    if (id < 0) throw new Error(`descriptor ${this.d} slot ${k} has no page`);
    this.ring.pages[i] = -1;
    this.emptySlots++;
    this.pool.transfer(id, PageOwner.Stack);
    return id;
  }

  /**
   * The whole frame as one contiguous view: in place when it lies in the header buffer or in
   * the first page, else copied into a scratch buffer (counted). Valid until the next frame.
   */
  contiguous(): Uint8Array {
    const len = this.length;
    if (len <= this.split) return this.ring.header[this.d]!.subarray(0, len);
    if (this.split === 0 && len <= PAGE_SIZE) return this.pool.view(this.pageId(0)).subarray(0, len);
    const out = this.scratch;
    out.set(this.ring.header[this.d]!.subarray(0, this.split), 0);
    let pos = this.split;
    for (let k = 0; pos < len; k++) {
      const n = Math.min(PAGE_SIZE, len - pos);
      out.set(this.pool.view(this.pageId(k)).subarray(0, n), pos);
      pos += n;
    }
    this.linearizedBytes += len;
    this.linearizedFrames++;
    return out.subarray(0, len);
  }

  /**
   * The first `n` bytes of the frame contiguous: the header buffer itself when they fit in it
   * (the split hit, or headers shorter than the split), else a copy into a small scratch.
   */
  headers(n: number): Uint8Array {
    if (n <= this.split) return this.ring.header[this.d]!;
    if (this.split === 0 && n <= PAGE_SIZE) return this.pool.view(this.pageId(0));
    this.copyOut(0, n, this.headerScratch, 0);
    return this.headerScratch;
  }

  /** Copy frame bytes [from, from + len) into `dst` at `dstOff`, across header buffer and pages. */
  copyOut(from: number, len: number, dst: Uint8Array, dstOff: number): void {
    const split = this.split;
    let pos = from;
    const end = from + len;
    if (pos < split) {
      const n = Math.min(end, split) - pos;
      const h = this.ring.header[this.d]!;
      dst.set(h.subarray(pos, pos + n), dstOff);
      dstOff += n;
      pos += n;
    }
    while (pos < end) {
      const r = pos - split;
      const inPage = r & (PAGE_SIZE - 1);
      const n = Math.min(end - pos, PAGE_SIZE - inPage);
      dst.set(this.pool.view(this.pageId(r >>> 12)).subarray(inPage, inPage + n), dstOff);
      dstOff += n;
      pos += n;
    }
  }

  private readonly headerScratch = new Uint8Array(256 + 64);

  /** The frame's parts as they lie in memory (for the capture writer). */
  parts(into: Uint8Array[]): Uint8Array[] {
    into.length = 0;
    const len = this.length;
    if (this.split > 0) into.push(this.ring.header[this.d]!.subarray(0, Math.min(len, this.split)));
    for (let k = 0, pos = this.split; pos < len; k++) {
      const n = Math.min(PAGE_SIZE, len - pos);
      into.push(this.pool.view(this.pageId(k)).subarray(0, n));
      pos += n;
    }
    return into;
  }

  get arenaBytes(): Uint8Array {
    return this.arena.bytes;
  }
}
