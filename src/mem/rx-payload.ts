/**
 * Received payload as a transport sees it, wherever the bytes lie: after a header split in NIC
 * pages, in a reassembled datagram's buffer, in pages the out-of-order queue holds. The layer
 * below implements it; the layers above read it through these calls only, so descriptors,
 * header-buffer sizes and page arithmetic stay where they are known (docs/ARCHITECTURE.md,
 * sections 3 and 4).
 */

/** Why received bytes are copied instead of handed over by page (docs/ARCHITECTURE.md section 6). */
export type RxCopyReason =
  /** The frame's headers did not end at the split (no timestamps, SACK blocks, IP options). */
  | 'header-split-miss'
  /** The data did not start on a page boundary (a segment trimmed to the window or a duplicate). */
  | 'unaligned'
  /** Out-of-order data that had to be copied to be kept until the hole before it filled. */
  | 'out-of-order'
  /** Data from reassembled IP fragments. */
  | 'reassembled';

/** Throws unless [from, from + len) lies within a payload of `length` bytes (every RxPayload's calls check this). */
export function checkPayloadRange(from: number, len: number, length: number): void {
  if (from < 0 || len < 0 || from + len > length) throw new RangeError(`payload range ${from}+${len} beyond ${length} bytes`);
}

export interface RxPayload {
  /** Bytes of payload. */
  readonly length: number;
  /** Copy bytes [from, from + len) into `dst` at `dstOff`. */
  copyOut(from: number, len: number, dst: Uint8Array, dstOff: number): void;
  /**
   * Move the pages holding [from, from + len) to the caller, by index and without a copy, when
   * the range starts on a page boundary: appends ceil(len / PAGE_SIZE) page ids to `into` (page
   * k holds bytes from + k * PAGE_SIZE onwards, the last one up to from + len) and returns null.
   * The pages are owner Stack and the caller's to keep or free. Otherwise nothing moves and the
   * answer is why: the caller copies under that reason.
   */
  takePages(from: number, len: number, into: number[]): RxCopyReason | null;
}
