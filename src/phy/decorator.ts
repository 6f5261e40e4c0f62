/**
 * A frame device wrapped around another, as smoltcp's phy middleware wraps a `Device`: it sees
 * every frame that crosses in either direction and passes on what it leaves alone. Fault
 * injection and capture are such layers; the NIC drives the outermost one as its device.
 */
import type { FrameDevice } from '../../firmware/device.js';

export abstract class DeviceDecorator implements FrameDevice {
  constructor(readonly inner: FrameDevice) {}

  get name(): string {
    return this.inner.name;
  }

  get vnetHdrLen(): number {
    return this.inner.vnetHdrLen;
  }

  get offloads(): boolean {
    return this.inner.offloads;
  }

  get uso(): boolean {
    return this.inner.uso ?? false;
  }

  get rxQueues(): number {
    return this.inner.rxQueues;
  }

  get lostOnReceive(): boolean {
    return this.inner.lostOnReceive ?? false;
  }

  get rxNote(): string | null {
    return this.inner.rxNote ?? null;
  }

  noteNextWrite(note: string): void {
    this.inner.noteNextWrite?.(note);
  }

  noteDropped(iov: bigint, iovcnt: number, note: string): void {
    this.inner.noteDropped?.(iov, iovcnt, note);
  }

  readv(iov: bigint, iovcnt: number, queue?: number): number {
    return this.inner.readv(iov, iovcnt, queue);
  }

  writev(iov: bigint, iovcnt: number): number {
    return this.inner.writev(iov, iovcnt);
  }

  onReadable(cb: (queue?: number) => void): void {
    this.inner.onReadable(cb);
  }

  setRef(on: boolean): void {
    this.inner.setRef?.(on);
  }

  nextDeadline(): number {
    return this.inner.nextDeadline?.() ?? Infinity;
  }

  release(): void {
    this.inner.release?.();
  }

  close(): void {
    this.inner.close();
  }
}

/** The device under every layer: the TAP, or a test's MemoryDevice. */
export function innermost(device: FrameDevice): FrameDevice {
  let d = device;
  while (d instanceof DeviceDecorator) d = d.inner;
  return d;
}
