/**
 * A UDP datagram's data as an {@link RxPayload}: the transport message's payload less the 8-byte
 * header, and cut to the UDP length (bytes beyond it are IP padding). One instance is reused for
 * every datagram; valid during the receive call only.
 */
import { checkPayloadRange, type RxCopyReason, type RxPayload } from '../mem/rx-payload.js';

export class UdpPayload implements RxPayload {
  length = 0;
  private inner: RxPayload | null = null;
  private start = 0;

  /** Bytes [start, start + length) of `inner`. */
  set(inner: RxPayload, start: number, length: number): this {
    this.inner = inner;
    this.start = start;
    this.length = length;
    return this;
  }

  copyOut(from: number, len: number, dst: Uint8Array, dstOff: number): void {
    checkPayloadRange(from, len, this.length);
    this.inner!.copyOut(this.start + from, len, dst, dstOff);
  }

  takePages(from: number, len: number, into: number[]): RxCopyReason | null {
    checkPayloadRange(from, len, this.length);
    return this.inner!.takePages(this.start + from, len, into);
  }
}
