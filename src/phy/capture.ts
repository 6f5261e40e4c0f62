/**
 * Capture as a frame device around the wire (smoltcp's phy::PcapWriter): every frame read from
 * or written to the device below, as it crossed, goes to a pcap file. The virtio-net header is
 * not part of a capture. A partial checksum is finished in a copy (capture-checksum.ts), so the
 * file shows the frame as a wire would carry it; a TSO/GSO frame shows as the one large frame
 * it is. Frames too short for an Ethernet header are not received frames, and are left out.
 * Batches of the device below (io_uring) pass through as batches: the frames are captured after
 * the call, in the order the device read or wrote them, so a capture does not change the I/O path.
 *
 * Frames reach the file within a second: the first frame that waits in the writer's buffer sets
 * a deadline, which the NIC's timer honours through {@link nextDeadline} and {@link release}
 * when the stack is idle, and which a later capture honours when it is not; so `tail -f` of the
 * file follows the traffic, and a process killed outright loses at most the last second. With
 * `flushEveryCall` the buffer is written after every read or write call instead (a batch of the
 * ring, or one frame), as tcpdump's `-U` does. What the fault injector did to a frame goes into
 * the capture as the frame's comment (pcapng), with the frames it lost on transmit.
 */
import type { FrameDevice } from '../../firmware/device.js';
import type { Clock } from '../clock.js';
import type { CaptureWriter, FrameDirection } from '../pcap/capture-writer.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../../firmware/rings.js';
import { finishChecksumForCapture } from './capture-checksum.js';
import { DeviceDecorator } from './decorator.js';
import { ScatterList } from './scatter.js';

/** How long a captured frame may wait in the writer's buffer. */
export const CAPTURE_FLUSH_MS = 1000;

const INBOUND: FrameDirection = 1;
const OUTBOUND: FrameDirection = 2;

export interface CaptureOptions {
  /** Write the buffer out after every read or write call (tcpdump -U), not within a second. */
  flushEveryCall?: boolean;
}

export class CapturingDevice extends DeviceDecorator {
  readonly readBatch?: FrameDevice['readBatch'];
  readonly writeBatch?: FrameDevice['writeBatch'];
  private readonly frame = new ScatterList();
  private readonly parts: Uint8Array[] = [];
  private readonly flushEveryCall: boolean;
  /** When the buffered frames must be in the file (Infinity: nothing buffered). */
  private flushAt = Infinity;
  /** The note for the next frame written (what a layer above did to it). */
  private txNote: string | null = null;
  /**
   * @param clock the stack's clock: records are stamped with its time, so a capture taken on a
   *   manual clock is as deterministic as the run.
   * @param epochNs the wall-clock time (ns since 1970) at which `clock` read 0: pcap records carry
   *   wall-clock time.
   */
  constructor(
    inner: FrameDevice,
    private writer: CaptureWriter | null,
    private readonly clock: Clock,
    private readonly epochNs: bigint,
    opts: CaptureOptions = {},
  ) {
    super(inner);
    this.flushEveryCall = opts.flushEveryCall ?? false;
    const v = inner.vnetHdrLen;
    if (inner.readBatch) {
      const read = inner.readBatch.bind(inner);
      this.readBatch = (iovAddr, iovCnt, descs, count, results, queue) => {
        read(iovAddr, iovCnt, descs, count, results, queue);
        if (!this.writer) return;
        for (let k = 0; k < count; k++) {
          const d = descs[k]!;
          const n = results[d]!;
          if (n - v >= 14) this.capture(this.frame.load(iovAddr[d]!, iovCnt[d]!, n), true, INBOUND, null);
        }
        this.afterCall();
      };
    }
    if (inner.writeBatch) {
      const write = inner.writeBatch.bind(inner);
      this.writeBatch = (iovAddr, iovCnt, descs, count, results) => {
        write(iovAddr, iovCnt, descs, count, results);
        if (!this.writer) return;
        for (let k = 0; k < count; k++) {
          const d = descs[k]!;
          if (results[d]! >= 0) this.capture(this.frame.load(iovAddr[d]!, iovCnt[d]!), true, OUTBOUND, null);
        }
        this.afterCall();
      };
    }
  }

  override readv(iov: bigint, iovcnt: number, queue?: number): number {
    const n = this.inner.readv(iov, iovcnt, queue);
    if (this.writer && n - this.vnetHdrLen >= 14) {
      // A frame lost on receive is shown as it was read, its checksum left as the kernel gave it.
      this.capture(this.frame.load(iov, iovcnt, n), !this.inner.lostOnReceive, INBOUND, this.inner.rxNote ?? null);
      this.afterCall();
    }
    return n;
  }

  /** A frame the device accepted is captured; one it refused never went out. */
  override writev(iov: bigint, iovcnt: number): number {
    const note = this.txNote;
    this.txNote = null;
    const n = this.inner.writev(iov, iovcnt);
    if (this.writer && n >= 0) {
      this.capture(this.frame.load(iov, iovcnt), true, OUTBOUND, note);
      this.afterCall();
    }
    return n;
  }

  override noteNextWrite(note: string): void {
    this.txNote = note;
  }

  /** A frame lost above on its way out: shown with why, though it never reached the wire. */
  override noteDropped(iov: bigint, iovcnt: number, note: string): void {
    if (!this.writer) return;
    this.capture(this.frame.load(iov, iovcnt), true, OUTBOUND, note);
    this.afterCall();
  }

  override nextDeadline(): number {
    const t = super.nextDeadline();
    return this.flushAt < t ? this.flushAt : t;
  }

  override release(): void {
    super.release();
    if (this.flushAt <= this.clock.nowMs()) this.flush();
  }

  /** The file frames go to now, or null while nothing is captured. */
  get file(): CaptureWriter | null {
    return this.writer;
  }

  /**
   * Start capturing to `writer`, or stop (null): the file being written, if any, is flushed and
   * closed. Frames cross the same way either way; only whether they are recorded changes.
   */
  setWriter(writer: CaptureWriter | null): void {
    if (this.writer) this.writer.close();
    this.writer = writer;
    this.flushAt = Infinity;
    this.txNote = null;
  }

  /** Writes out what the writer buffered. */
  flush(): void {
    this.writer?.flush();
    this.flushAt = Infinity;
  }

  private afterCall(): void {
    if (this.flushEveryCall || this.flushAt <= this.clock.nowMs()) this.flush();
  }

  private capture(f: ScatterList, finish: boolean, direction: FrameDirection, note: string | null): void {
    const v = this.vnetHdrLen;
    const len = f.length - v;
    let parts = f.views(v, f.length, this.parts);
    if (finish && v > 0 && f.byteAt(0) & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      parts = finishChecksumForCapture(parts, len, f.byteAt(6) | (f.byteAt(7) << 8), f.byteAt(8) | (f.byteAt(9) << 8));
    }
    const now = this.clock.nowMs();
    const w = this.writer!;
    w.writeFrame(parts, len, this.epochNs + BigInt(Math.round(now * 1e6)), direction, note);
    // The writer may have written its buffer itself (full); a frame still waiting sets the deadline.
    if (!w.pending) this.flushAt = Infinity;
    else if (this.flushAt === Infinity) this.flushAt = now + CAPTURE_FLUSH_MS;
  }

  override close(): void {
    super.close();
    this.writer?.close();
    this.writer = null;
  }
}
