/**
 * The transport message of a received datagram as an {@link RxPayload}: in the frame, where the
 * header split put it (in the header buffer and the NIC's pages), or in a buffer of its own (a
 * reassembled datagram). One instance is reused for every datagram; it is valid during the
 * receive call only.
 */
import { PAGE_SIZE } from '../mem/arena.js';
import { checkPayloadRange, type RxCopyReason, type RxPayload } from '../mem/rx-payload.js';
import type { RxFrame } from '../nic/rx-frame.js';

const EMPTY = new Uint8Array(0);

export class DatagramPayload implements RxPayload {
  length = 0;
  private frame: RxFrame | null = null;
  private bytes: Uint8Array = EMPTY;
  /** Where the message starts in the frame, or in `bytes`. */
  private start = 0;

  /** The message is bytes [start, start + length) of `frame`. */
  setFrame(frame: RxFrame, start: number, length: number): void {
    this.frame = frame;
    this.bytes = EMPTY;
    this.start = start;
    this.length = length;
  }

  /** The message is bytes [start, start + length) of `bytes` (put together, not a frame's). */
  setBytes(bytes: Uint8Array, start: number, length: number): void {
    this.frame = null;
    this.bytes = bytes;
    this.start = start;
    this.length = length;
  }

  copyOut(from: number, len: number, dst: Uint8Array, dstOff: number): void {
    checkPayloadRange(from, len, this.length);
    const at = this.start + from;
    if (this.frame !== null) this.frame.copyOut(at, len, dst, dstOff);
    else dst.set(this.bytes.subarray(at, at + len), dstOff);
  }

  takePages(from: number, len: number, into: number[]): RxCopyReason | null {
    checkPayloadRange(from, len, this.length);
    const f = this.frame;
    if (f === null) return 'reassembled';
    let k = f.pageAt(this.start + from);
    if (k < 0) return f.splitHit ? 'unaligned' : 'header-split-miss';
    // The flip: the NIC's pages change owner by index; the descriptor is refilled when reposted.
    for (let left = len; left > 0; left -= PAGE_SIZE) into.push(f.takePage(k++));
    return null;
  }
}
