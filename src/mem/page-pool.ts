/**
 * The page pool: fixed 4096-byte pages of the arena, owned by index (as netmap and AF_XDP own
 * buffers), so that moving a page between the NIC, the stack and a user is an integer move, and
 * "who holds this page" is always one answer. Views over each page are made once.
 */
import type { Arena } from './arena.js';
import { PAGE_SIZE } from './arena.js';

/** Where a page is. A page is in exactly one place at a time. */
export const PageOwner = {
  Free: 0,
  /** Posted in a receive descriptor: the NIC may write it. */
  Nic: 1,
  /** Held by the stack (socket queues, reassembly, in-flight transmit). */
  Stack: 2,
  /** Lent to a user through the zero-copy API. */
  User: 3,
} as const;
export type PageOwner = (typeof PageOwner)[keyof typeof PageOwner];

export interface PagePoolStats {
  size: number;
  free: number;
  nic: number;
  stack: number;
  user: number;
  allocFailures: number;
}

export class PagePool {
  readonly size: number;
  /** Offset of page 0 in the arena. */
  readonly offset: number;
  private readonly views: Uint8Array[];
  private readonly freeStack: Int32Array;
  private freeTop: number;
  private readonly owner: Uint8Array;
  private readonly counts = new Int32Array(4);
  allocFailures = 0;

  constructor(
    readonly arena: Arena,
    pages: number,
  ) {
    this.size = pages;
    this.offset = arena.carve(pages * PAGE_SIZE, PAGE_SIZE);
    this.views = new Array<Uint8Array>(pages);
    this.freeStack = new Int32Array(pages);
    this.owner = new Uint8Array(pages);
    for (let i = 0; i < pages; i++) {
      this.views[i] = arena.bytes.subarray(this.offset + i * PAGE_SIZE, this.offset + (i + 1) * PAGE_SIZE);
      // Lowest index on top: pages are handed out in address order at start.
      this.freeStack[i] = pages - 1 - i;
    }
    this.freeTop = pages;
    this.counts[PageOwner.Free] = pages;
  }

  /** Take a free page for `owner`; -1 when the pool is empty (counted). */
  alloc(owner: PageOwner): number {
    if (this.freeTop === 0) {
      this.allocFailures++;
      return -1;
    }
    const id = this.freeStack[--this.freeTop]!;
    this.owner[id] = owner;
    this.counts[PageOwner.Free]--;
    this.counts[owner]++;
    return id;
  }

  /** Return a page to the free list. */
  free(id: number): void {
    const o = this.owner[id]!;
    if (o === PageOwner.Free) throw new Error(`page ${id} freed twice`);
    this.counts[o]--;
    this.counts[PageOwner.Free]++;
    this.owner[id] = PageOwner.Free;
    this.freeStack[this.freeTop++] = id;
  }

  /** Hand a page from one holder to another (a flip is this and nothing else). */
  transfer(id: number, to: PageOwner): void {
    const o = this.owner[id]!;
    if (o === PageOwner.Free) throw new Error(`page ${id} is free`);
    this.counts[o]--;
    this.counts[to]++;
    this.owner[id] = to;
  }

  ownerOf(id: number): PageOwner {
    return this.owner[id] as PageOwner;
  }

  /** The whole page as a view (made once, never reallocated). */
  view(id: number): Uint8Array {
    return this.views[id]!;
  }

  /** Arena offset of page `id`. */
  pageOffset(id: number): number {
    return this.offset + id * PAGE_SIZE;
  }

  /** The page a view into the pool starts in, or -1 if it is not pool memory. */
  pageOf(view: Uint8Array): number {
    if (!this.arena.owns(view)) return -1;
    const rel = view.byteOffset - this.offset;
    if (rel < 0 || rel >= this.size * PAGE_SIZE) return -1;
    return Math.floor(rel / PAGE_SIZE);
  }

  get freeCount(): number {
    return this.counts[PageOwner.Free]!;
  }

  stats(): PagePoolStats {
    return {
      size: this.size,
      free: this.counts[PageOwner.Free]!,
      nic: this.counts[PageOwner.Nic]!,
      stack: this.counts[PageOwner.Stack]!,
      user: this.counts[PageOwner.User]!,
      allocFailures: this.allocFailures,
    };
  }
}
