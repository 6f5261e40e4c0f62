/**
 * Unmanaged, page-aligned memory shared by the NIC and the stack: the "host memory" that a
 * real NIC DMAs into. It comes from mmap(2), so every page is really 4096-aligned and never
 * moves (V8 may move on-heap typed arrays; this memory is outside its heap), and an iovec can
 * point into it with a plain address. Regions are carved once at start-up; nothing here is
 * allocated per frame.
 */
import { libc, MAP_ANONYMOUS, MAP_FAILED, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from './libc.js';

export const PAGE_SIZE = 4096;

export class Arena {
  readonly bytes: Uint8Array;
  readonly size: number;
  /** Base address split into 32-bit halves, so iovecs are written without BigInt arithmetic. */
  private readonly baseLo: number;
  private readonly baseHi: number;
  readonly base: bigint;
  private next = 0;
  private unmapped = false;

  constructor(size: number) {
    this.size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const p = libc.mmap(null, this.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p === MAP_FAILED || p === 0n || p === null) throw new Error(`mmap of ${this.size} bytes failed (errno ${libc.errno()})`);
    this.base = BigInt(p);
    this.baseLo = Number(this.base & 0xffffffffn);
    this.baseHi = Number(this.base >> 32n);
    this.bytes = new Uint8Array(libc.view(this.base, this.size));
  }

  /** Reserve `len` bytes aligned to `align`; returns the offset. Start-up only. */
  carve(len: number, align = 64): number {
    const off = Math.ceil(this.next / align) * align;
    if (off + len > this.size) throw new Error(`arena exhausted: ${off + len} > ${this.size}`);
    this.next = off + len;
    return off;
  }

  /** Whether `view` lies in this arena (so it can go to the device by reference). */
  owns(view: Uint8Array): boolean {
    return view.buffer === this.bytes.buffer;
  }

  /** Write `struct iovec { void *base; size_t len; }` number `i` into `iov` (a Uint32Array view). */
  setIovec(iov: Uint32Array, i: number, offset: number, len: number): void {
    const lo = this.baseLo + offset;
    const j = i * 4;
    iov[j] = lo >>> 0;
    iov[j + 1] = this.baseHi + (lo > 0xffffffff ? 1 : 0);
    iov[j + 2] = len;
    iov[j + 3] = 0;
  }

  /** Address of arena offset `offset`. Start-up only (allocates a BigInt). */
  address(offset: number): bigint {
    return this.base + BigInt(offset);
  }

  release(): void {
    if (this.unmapped) return;
    this.unmapped = true;
    libc.munmap(this.base, this.size);
  }
}
