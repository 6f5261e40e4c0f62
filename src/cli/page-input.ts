/**
 * Reading an input (stdin, a file) straight into pool pages with readv(2), 16 pages a call on
 * the libuv threadpool, so that `tapstack connect` can send what it reads with the zero-copy
 * page API: the one copy is the kernel's, from the pipe or file into the page.
 */
import { libc } from '../tap/libc.js';
import type { Page } from '../mem/page.js';
import type { PageLender } from '../socket/pages.js';

const PAGES_PER_READ = 16;

export class PageInput {
  private readonly iov = new BigUint64Array(PAGES_PER_READ * 2);
  private readonly iovBytes = new Uint8Array(this.iov.buffer);

  constructor(
    private readonly fd: number,
    private readonly lender: PageLender,
    private readonly arenaBase: bigint,
  ) {}

  /** Fill pages from the input; [] at end of input. Pages are partly filled only at the end. */
  async read(): Promise<Page[]> {
    const pages = this.lender.alloc(PAGES_PER_READ);
    if (pages.length === 0) throw new Error('page pool exhausted');
    for (let i = 0; i < pages.length; i++) {
      this.iov[2 * i] = this.arenaBase + BigInt(this.lender.pool.pageOffset(pages[i]!.id));
      this.iov[2 * i + 1] = BigInt(pages[i]!.buffer.length);
    }
    let n = await libc.readvAsync(this.fd, this.iovBytes, pages.length);
    if (n < 0) {
      this.lender.free(pages);
      throw new Error(`readv of input failed (errno ${libc.errno()})`);
    }
    const out: Page[] = [];
    for (const p of pages) {
      const len = Math.min(n, p.buffer.length);
      if (len > 0) {
        p.length = len;
        out.push(p);
      } else this.lender.free([p]);
      n -= len;
    }
    return out;
  }
}
