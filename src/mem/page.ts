/**
 * The handle of a pool page lent to the application through the zero-copy page API. Lending,
 * taking back and their accounting are the socket layer's (src/socket/pages.ts); the handle is
 * memory's, so every layer that moves pages can name it without depending on sockets.
 */
const DETACHED = new Uint8Array(0);

/** A page lent to the application: a whole 4096-byte page of the pool, and a data length. */
export class Page {
  constructor(
    /** Pool page id; -1 once the handle was handed back to the stack. */
    public id: number,
    /** The whole page (the very memory the NIC reads into and the device writes from). */
    public buffer: Uint8Array,
    /** Bytes of data in the page (from offset 0). */
    public length: number,
  ) {}

  /** The data: `buffer[0, length)`. */
  get data(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  get detached(): boolean {
    return this.id < 0;
  }

  /** @internal */
  detach(): number {
    const id = this.id;
    this.id = -1;
    this.buffer = DETACHED;
    this.length = 0;
    return id;
  }
}
