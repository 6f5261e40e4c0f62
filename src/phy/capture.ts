/**
 * Capture as a frame device around the wire (smoltcp's phy::PcapWriter): every frame read from
 * or written to the device below, as it crossed, goes to a pcap file. The virtio-net header is
 * not part of a capture. A partial checksum is finished in a copy (capture-checksum.ts), so the
 * file shows the frame as a wire would carry it; a TSO/GSO frame shows as the one large frame
 * it is. Frames too short for an Ethernet header are not received frames, and are left out.
 * Batches of the device below (io_uring) pass through as batches: the frames are captured after
 * the call, in the order the device read or wrote them, so a capture does not change the I/O path.
 */
import type { FrameDevice } from '../../firmware/device.js';
import type { Clock } from '../clock.js';
import type { PcapWriter } from '../pcap/writer.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../../firmware/rings.js';
import { finishChecksumForCapture } from './capture-checksum.js';
import { DeviceDecorator } from './decorator.js';
import { ScatterList } from './scatter.js';

export class CapturingDevice extends DeviceDecorator {
  readonly readBatch?: FrameDevice['readBatch'];
  readonly writeBatch?: FrameDevice['writeBatch'];
  private readonly frame = new ScatterList();
  private readonly parts: Uint8Array[] = [];
  /**
   * @param clock the stack's clock: records are stamped with its time, so a capture taken on a
   *   manual clock is as deterministic as the run.
   * @param epochNs the wall-clock time (ns since 1970) at which `clock` read 0: pcap records carry
   *   wall-clock time.
   */
  constructor(
    inner: FrameDevice,
    readonly writer: PcapWriter,
    private readonly clock: Clock,
    private readonly epochNs: bigint,
  ) {
    super(inner);
    const v = inner.vnetHdrLen;
    if (inner.readBatch) {
      const read = inner.readBatch.bind(inner);
      this.readBatch = (iovAddr, iovCnt, descs, count, results, queue) => {
        read(iovAddr, iovCnt, descs, count, results, queue);
        for (let k = 0; k < count; k++) {
          const d = descs[k]!;
          const n = results[d]!;
          if (n - v >= 14) this.capture(this.frame.load(iovAddr[d]!, iovCnt[d]!, n), true);
        }
      };
    }
    if (inner.writeBatch) {
      const write = inner.writeBatch.bind(inner);
      this.writeBatch = (iovAddr, iovCnt, descs, count, results) => {
        write(iovAddr, iovCnt, descs, count, results);
        for (let k = 0; k < count; k++) {
          const d = descs[k]!;
          if (results[d]! >= 0) this.capture(this.frame.load(iovAddr[d]!, iovCnt[d]!), true);
        }
      };
    }
  }

  override readv(iov: bigint, iovcnt: number, queue?: number): number {
    const n = this.inner.readv(iov, iovcnt, queue);
    if (n - this.vnetHdrLen >= 14) {
      // A frame lost on receive is shown as it was read, its checksum left as the kernel gave it.
      this.capture(this.frame.load(iov, iovcnt, n), !this.inner.lostOnReceive);
    }
    return n;
  }

  /** A frame the device accepted is captured; one it refused never went out. */
  override writev(iov: bigint, iovcnt: number): number {
    const n = this.inner.writev(iov, iovcnt);
    if (n >= 0) this.capture(this.frame.load(iov, iovcnt), true);
    return n;
  }

  private capture(f: ScatterList, finish: boolean): void {
    const v = this.vnetHdrLen;
    const len = f.length - v;
    let parts = f.views(v, f.length, this.parts);
    if (finish && v > 0 && f.byteAt(0) & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      parts = finishChecksumForCapture(parts, len, f.byteAt(6) | (f.byteAt(7) << 8), f.byteAt(8) | (f.byteAt(9) << 8));
    }
    this.writer.writeFrame(parts, len, this.epochNs + BigInt(Math.round(this.clock.nowMs() * 1e6)));
  }

  override close(): void {
    super.close();
    this.writer.close();
  }
}
