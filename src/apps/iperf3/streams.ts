/**
 * The data streams of a test, on tapstack's page API (docs/ARCHITECTURE.md sections 4-6):
 *
 * - A receiving stream reads by page flipping: it trades empty pool pages for the pages the NIC
 *   filled, counts their lengths, and frees them, as `--serve discard` does. No byte is read.
 * - A sending stream owns a set of pool pages filled once, when the stream starts (random bytes
 *   from the operating system, or iperf3's repeating pattern), and sends them by reference
 *   again and again: a completion gives the pages back unchanged, and they go out once more.
 *   Nothing is filled or copied per send.
 *
 * Work is per batch of pages (one `writePages` promise, one `readPages` call), never per byte or
 * per segment. Bytes count only while the test runs, as iperf3 counts them (iperf_tcp.c).
 */
import { randomFillSync } from 'node:crypto';
import { PAGE_SIZE } from '../../mem/arena.js';
import type { Page } from '../../mem/page.js';
import type { PageLender } from '../../socket/pages.js';
import type { Socket } from '../../socket/socket.js';

/** Pages a sending stream writes in one `writePages` call (256 KiB). */
const SEND_BATCH = 64;
/**
 * Pages in flight a test's sending streams share (4 MiB, Linux's largest autotuned send buffer,
 * tcp_wmem[2]): what a sender counts as sent runs this far ahead of what has arrived.
 */
export const SEND_PAGES_PER_TEST = 1024;
/** Pages a sending stream gets at least, however many streams share the test's pages. */
const MIN_SEND_PAGES = 2 * SEND_BATCH;

/** The bytes a test may still send in all streams together (Infinity: until the test ends by time). */
export interface SendBudget {
  left: number;
}

/**
 * iperf_util.c fill_with_repeating_pattern's content: the digits 0-9 again and again, made once;
 * a page takes it with one native copy.
 */
const PATTERN_PAGE = (() => {
  const b = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < b.length; i++) b[i] = 0x30 + (i % 10);
  return b;
})();

export class DataStream {
  /** Bytes sent or received while the test ran. */
  bytes = 0;
  /** Bytes counted up to the last interval mark. */
  markBytes = 0;
  private counting = false;
  private running = false;
  private closed = false;
  /** A sending stream's pages that are back in hand. */
  private readonly ready: Page[] = [];
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private lastRetransmits = 0;

  constructor(
    readonly id: number,
    /** This side sends on it. */
    readonly sender: boolean,
    readonly socket: Socket,
    private readonly lender: PageLender,
    private readonly budget: SendBudget,
    /** Called after each batch: pages read and counted, or a send completed. */
    private readonly onProgress: () => void,
    /** What the test's receiving streams counted together. */
    private readonly received: { bytes: number },
  ) {
    socket.on('error', () => {});
    socket.usePages();
    socket.on('pages', this.drain);
  }

  /** Fill the pages a sending stream will send (`pages` of them; the pattern, or random bytes). */
  prepare(pages: number, pattern: boolean): void {
    if (!this.sender) return;
    const got = this.lender.alloc(pages);
    for (const p of got) {
      if (pattern) p.buffer.set(PATTERN_PAGE);
      else randomFillSync(p.buffer);
    }
    this.ready.push(...got);
  }

  /** The test runs: count, and send. */
  start(): void {
    this.counting = true;
    this.running = true;
    this.pump();
    this.drain();
  }

  /**
   * The test ended: count no more, send no more. What arrived before is counted first (the
   * control connection's TEST_END may be read before the 'pages' event of data that came
   * ahead of it); a receiving stream still drains what comes later.
   */
  stop(): void {
    if (this.counting) this.drain();
    this.counting = false;
    this.running = false;
    this.noteRetransmits();
  }

  /** Segments this stream's connection sent again (iperf3's per-stream retransmits), kept past its close. */
  get retransmits(): number {
    return this.noteRetransmits();
  }

  private noteRetransmits(): number {
    const tcp = this.socket.info().tcp;
    if (tcp) this.lastRetransmits = tcp.retransmits;
    return this.lastRetransmits;
  }

  /** Close the connection (a reset when unread data waits, as close(2)), and give back every page. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.lender.free(this.ready.splice(0));
    this.socket.destroy();
  }

  private pump(): void {
    while (this.running && this.ready.length > 0 && this.budget.left > 0) {
      let n = Math.min(this.ready.length, SEND_BATCH);
      const batch = this.ready.splice(this.ready.length - n, n);
      for (let i = 0; i < n; i++) {
        const p = batch[i]!;
        const len = Math.min(p.buffer.length, this.budget.left);
        if (len === 0) {
          this.ready.push(...batch.splice(i));
          n = i;
          break;
        }
        p.length = len;
        this.budget.left -= len;
        this.bytes += len;
      }
      this.inFlight += n;
      this.socket.writePages(batch).then(this.sent, () => this.refused(batch));
    }
  }

  private readonly sent = (c: { pages: Page[]; acked: boolean }): void => {
    this.inFlight -= c.pages.length;
    const back = c.pages.filter((p) => !p.detached && p.id >= 0);
    if (this.closed) this.lender.free(back);
    else {
      this.ready.push(...back);
      // A connection that ended takes no more.
      if (!c.acked) this.running = false;
      this.pump();
      this.onProgress();
    }
  };

  /** The socket refused the write (it ended first): the pages were not taken. */
  private refused(batch: Page[]): void {
    this.inFlight -= batch.length;
    this.running = false;
    if (this.closed) this.lender.free(batch);
    else this.ready.push(...batch);
  }

  private readonly drain = (): void => {
    const s = this.socket;
    while (s.pagesAvailable > 0 && !s.destroyed) {
      const got = s.readPages(this.lender.alloc(s.pagesAvailable));
      if (got.length === 0) {
        // The pool is empty and no 'pages' event comes while the window is shut: look again.
        this.retryTimer ??= setTimeout(() => {
          this.retryTimer = null;
          this.drain();
        }, 1);
        return;
      }
      if (this.counting) {
        let n = 0;
        for (const p of got) n += p.length;
        this.bytes += n;
        this.received.bytes += n;
      }
      this.lender.free(got);
    }
    if (this.counting) this.onProgress();
  };

  /** Pages of this stream that are out on the wire. */
  get pagesInFlight(): number {
    return this.inFlight;
  }
}

/** Pages each sending stream of a test gets. */
export function sendPagesPerStream(senders: number): number {
  return Math.max(MIN_SEND_PAGES, Math.floor(SEND_PAGES_PER_TEST / Math.max(1, senders)));
}
