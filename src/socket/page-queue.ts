/**
 * A socket's received pages waiting for the page reader, first in, first out.
 *
 * Ids and lengths lie in parallel arrays of small integers read from a head index: queuing a
 * page allocates nothing and taking one moves nothing. (An array of `{ id, len }` records taken
 * with `shift()` made an object per page and moved every record behind the first on each take,
 * each move through V8's write barrier: with 100 streams, where each socket's queue is short, the
 * barrier alone was 5% of tapstack's busy thread; docs/PERFORMANCE.md §3.)
 */
export class RxPageQueue {
  /** Pool page ids; -2 for data that found no pool page and waits in {@link heaps} instead. */
  private readonly ids: number[] = [];
  private readonly lens: number[] = [];
  /** The copies of id -2 entries (null for pool pages), by position. */
  private readonly heaps: (Uint8Array | null)[] = [];
  private head = 0;
  /** Bytes of data in the queued pages. */
  bytes = 0;

  get length(): number {
    return this.ids.length - this.head;
  }

  push(id: number, len: number, heap: Uint8Array | null): void {
    this.ids.push(id);
    this.lens.push(len);
    this.heaps.push(heap);
    this.bytes += len;
  }

  /** The oldest page's id (-2: a copy, see {@link firstHeap}); the queue must not be empty. */
  get firstId(): number {
    return this.ids[this.head]!;
  }

  get firstLen(): number {
    return this.lens[this.head]!;
  }

  get firstHeap(): Uint8Array | null {
    return this.heaps[this.head]!;
  }

  /** Drop the oldest page (the caller took it). */
  shift(): void {
    this.bytes -= this.lens[this.head]!;
    this.heaps[this.head] = null;
    this.head++;
    if (this.head === this.ids.length) {
      this.clear();
    } else if (this.head >= 64 && 2 * this.head >= this.ids.length) {
      // A reader that never empties the queue: what was taken goes, in one move per half.
      this.ids.splice(0, this.head);
      this.lens.splice(0, this.head);
      this.heaps.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Every queued pool page id, oldest first (copies are skipped). */
  *poolIds(): IterableIterator<number> {
    for (let i = this.head; i < this.ids.length; i++) if (this.ids[i]! >= 0) yield this.ids[i]!;
  }

  clear(): void {
    this.ids.length = 0;
    this.lens.length = 0;
    this.heaps.length = 0;
    this.head = 0;
    this.bytes = 0;
  }
}
