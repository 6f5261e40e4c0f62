/**
 * The zero-copy page API (FreeBSD zero_copy(9), with the explicit loan-and-return of io_uring
 * zero-copy receive and the completions of MSG_ZEROCOPY / send-zc):
 *
 * - `stack.pages.alloc(n)` lends pool pages to the application as {@link Page} handles.
 * - Receive: `socket.readPages(empties)` trades the application's empty pages for pages the
 *   NIC filled (a flip: the page the NIC read into becomes the application's, by identity).
 * - Send: `socket.writePages(pages)` hands pages to the stack; they go to the wire by reference
 *   and come back in a completion once the peer acknowledged every byte.
 *
 * A page is in one place at a time (free, NIC, stack, user), checked on every move. A handle
 * that was handed over is detached (its `id` becomes -1 and its view empty), so the
 * application cannot write into a page the stack owns.
 */
import { PAGE_SIZE } from '../mem/arena.js';
import { PageOwner, type PagePool } from '../mem/page-pool.js';
import { Page } from '../mem/page.js';
import type { RxCopyReason } from '../mem/rx-payload.js';

/**
 * Why payload was copied instead of flipped or sent by reference: the receive reasons the payload
 * gives (header-split-miss, unaligned, out-of-order, reassembled), and the socket's own.
 */
export type CopyReason =
  | RxCopyReason
  /** zeroCopy.receive or zeroCopy.send switched off. */
  | 'switch-off'
  /** The plain stream API (`'data'`, `read()`, `write()`). */
  | 'stream-api'
  /** A page with little data in it (below 512 bytes): one iovec per few bytes costs more. */
  | 'small-page'
  /** A page that was not the application's pool page. */
  | 'not-a-pool-page'
  /** The pool had no page free. */
  | 'pool-empty'
  /** Sent through the interface's slow path (next hop not resolved yet). */
  | 'slow-path'
  /** A UDP datagram above the MTU: fragmented by the interface from a copy. */
  | 'fragmented';

export interface ZeroCopyStats {
  flippedBytes: number;
  flippedPages: number;
  copiedBytes: Partial<Record<CopyReason, number>>;
  pagesLent: number;
  pagesReturned: number;
  sendByReferenceBytes: number;
  sendCopiedBytes: Partial<Record<CopyReason, number>>;
  completions: number;
  completionsCopied: number;
  /**
   * The same for UDP datagrams (src/socket/dgram.ts), apart from TCP's so that each protocol's
   * `flipped + copied` equals its own bytes in (`udp.bytesIn` for the page reader).
   */
  udpFlippedBytes: number;
  udpFlippedPages: number;
  udpCopiedBytes: Partial<Record<CopyReason, number>>;
  udpSendByReferenceBytes: number;
  udpSendCopiedBytes: Partial<Record<CopyReason, number>>;
}

export interface ZeroCopySwitches {
  send: boolean;
  receive: boolean;
}

export function emptyZeroCopyStats(): ZeroCopyStats {
  return {
    flippedBytes: 0,
    flippedPages: 0,
    copiedBytes: {},
    pagesLent: 0,
    pagesReturned: 0,
    sendByReferenceBytes: 0,
    sendCopiedBytes: {},
    completions: 0,
    completionsCopied: 0,
    udpFlippedBytes: 0,
    udpFlippedPages: 0,
    udpCopiedBytes: {},
    udpSendByReferenceBytes: 0,
    udpSendCopiedBytes: {},
  };
}

export function countCopy(into: Partial<Record<CopyReason, number>>, reason: CopyReason, n: number): void {
  into[reason] = (into[reason] ?? 0) + n;
}

/** Someone holding lent pages that count against its receive buffer (a socket). */
export interface PageBorrower {
  /** `n` of the pages it lent came back. */
  pageReturned(n: number): void;
}

/** Lending and taking back pages, with the accounting of who holds what. */
export class PageLender {
  readonly stats = emptyZeroCopyStats();
  readonly switches: ZeroCopySwitches = { send: true, receive: true };
  /** For each page lent out of a socket's receive queue: that socket. */
  private readonly borrower: (PageBorrower | null)[];

  constructor(readonly pool: PagePool) {
    this.borrower = new Array(pool.size).fill(null);
  }

  /** Lend `n` free pages to the application (fewer if the pool runs dry). */
  alloc(n: number): Page[] {
    const out: Page[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.pool.alloc(PageOwner.User);
      if (id < 0) break;
      out.push(new Page(id, this.pool.view(id), 0));
      this.stats.pagesLent++;
    }
    return out;
  }

  /**
   * Give pages back to the pool (free list, from where the NIC refills). A borrower hears once
   * per run of its pages, not per page: a socket then recomputes its window once for a read's
   * worth of pages.
   */
  free(pages: Page[]): void {
    let run: PageBorrower | null = null;
    let n = 0;
    try {
      for (const p of pages) {
        const id = this.reclaim(p); // throws on a handle that is not the application's
        const b = this.borrower[id] ?? null;
        if (b !== run) {
          if (run) run.pageReturned(n);
          run = b;
          n = 0;
        }
        this.borrower[id] = null;
        n++;
        this.freeId(id);
      }
    } finally {
      if (run) run.pageReturned(n);
    }
  }

  /** Take a page handle back from the application: checked, detached, owner Stack. */
  take(p: Page): number {
    const id = this.reclaim(p);
    const b = this.borrower[id];
    if (b) {
      this.borrower[id] = null;
      b.pageReturned(1);
    }
    return id;
  }

  /** Check, detach and own a handle the application gives back; its borrower is left to the caller. */
  private reclaim(p: Page): number {
    if (!(p instanceof Page) || p.id < 0) throw new TypeError('not a live page of this stack (already handed over?)');
    const id = p.id;
    if (this.pool.ownerOf(id) !== PageOwner.User) throw new TypeError(`page ${id} is not lent to the application`);
    p.detach();
    this.pool.transfer(id, PageOwner.Stack);
    this.stats.pagesReturned++;
    return id;
  }

  freeId(id: number): void {
    this.pool.free(id);
  }

  /** Lend a stack-owned page to the application, optionally on `b`'s receive account. */
  lend(id: number, length: number, b: PageBorrower | null): Page {
    this.pool.transfer(id, PageOwner.User);
    this.borrower[id] = b;
    this.stats.pagesLent++;
    return new Page(id, this.pool.view(id), length);
  }

  poolStats(): { size: number; free: number; nic: number; sockets: number; users: number } {
    const s = this.pool.stats();
    return { size: s.size, free: s.free, nic: s.nic, sockets: s.stack, users: s.user };
  }

  static readonly PAGE_SIZE = PAGE_SIZE;
}
