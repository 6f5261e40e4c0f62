/**
 * A frame device in memory: frames pushed with {@link inject} are what `readv` scatters, and
 * what `writev` gathers is kept in {@link written}. It reads and writes the iovecs the NIC lays
 * out at real addresses, exactly as the TAP does, so the NIC and everything above it are tested
 * without a kernel, deterministically.
 */
import koffi from 'koffi';
import type { FrameDevice } from '../../firmware/device.js';
import { steeringQueueOf, SYN_QUEUE } from './steering.js';

export class MemoryDevice implements FrameDevice {
  readonly queue: Uint8Array[] = [];
  /** With two receive queues: the connection requests, steered as the TAP's program does. */
  readonly synQueue: Uint8Array[] = [];
  readonly written: Uint8Array[] = [];
  /** Make writes fail as if the kernel's queue were full. */
  full = false;
  private readable: (() => void) | null = null;
  closed = false;

  constructor(
    readonly name = 'mem0',
    readonly vnetHdrLen = 0,
    readonly offloads = false,
    readonly rxQueues = 1,
  ) {}

  /** Queue a frame (with its vnet header when vnetHdrLen > 0) for the next readv of its queue. */
  inject(frame: Uint8Array): void {
    if (this.rxQueues > 1 && steeringQueueOf(frame.subarray(this.vnetHdrLen)) === SYN_QUEUE) this.synQueue.push(frame);
    else this.queue.push(frame);
  }

  /** Queue frames and wake the reader, as the kernel would. */
  deliver(...frames: Uint8Array[]): void {
    for (const f of frames) this.inject(f);
    this.readable?.();
  }

  private iovecs(iov: bigint, cnt: number): { addr: bigint; len: number }[] {
    const raw = new BigUint64Array(koffi.view(iov, cnt * 16));
    const out = [];
    for (let i = 0; i < cnt; i++) out.push({ addr: raw[2 * i]!, len: Number(raw[2 * i + 1]!) });
    return out;
  }

  readv(iov: bigint, iovcnt: number, queue = 0): number {
    const frame = (queue === SYN_QUEUE ? this.synQueue : this.queue).shift();
    if (!frame) return -1;
    let pos = 0;
    for (const v of this.iovecs(iov, iovcnt)) {
      if (pos >= frame.length) break;
      const n = Math.min(v.len, frame.length - pos);
      new Uint8Array(koffi.view(v.addr, n)).set(frame.subarray(pos, pos + n));
      pos += n;
    }
    return pos; // a frame longer than the buffers is cut short, as on a TAP
  }

  writev(iov: bigint, iovcnt: number): number {
    if (this.full) return -1;
    const vs = this.iovecs(iov, iovcnt);
    const total = vs.reduce((s, v) => s + v.len, 0);
    const out = new Uint8Array(total);
    let pos = 0;
    for (const v of vs) {
      if (v.len === 0) continue;
      out.set(new Uint8Array(koffi.view(v.addr, v.len)), pos);
      pos += v.len;
    }
    this.written.push(out);
    return total;
  }

  onReadable(cb: () => void): void {
    this.readable = cb;
  }

  close(): void {
    this.closed = true;
    this.readable = null;
  }
}
