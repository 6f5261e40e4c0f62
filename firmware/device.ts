/**
 * The frame device the firmware drives, defined here so the firmware owns it: the TAP binding
 * and the in-memory device of the tests implement it.
 * Frames move as scatter/gather lists (`struct iovec` arrays) at unmanaged addresses, the way
 * a NIC's DMA engine sees descriptors: the device never allocates or copies on our behalf.
 */
export interface FrameDevice {
  readonly name: string;
  /** 12 when every frame is preceded by a virtio-net header, else 0. */
  readonly vnetHdrLen: number;
  /** Whether the kernel may send partial checksums and GSO frames, and accepts TSO frames. */
  readonly offloads: boolean;
  /** With offloads: the kernel accepts USO frames (VIRTIO_NET_HDR_GSO_UDP_L4, Linux >= 6.2). */
  readonly uso?: boolean;
  /** Receive queues: 1, or 2 when connection requests have a queue of their own (the TAP's steering program). */
  readonly rxQueues: number;
  /** One frame of receive queue `queue` (default: the main one) into the iovecs; its length, or -1 when none is ready. */
  readv(iov: bigint, iovcnt: number, queue?: number): number;
  /** One frame from the iovecs; its length, -1 when the device's queue is full, -2 when its link is down. */
  writev(iov: bigint, iovcnt: number): number;
  /**
   * Optional: many frames in one call into the kernel (the TAP over io_uring). `descs[0..count)`
   * name descriptors; descriptor d's frame is the iovec array at `iovAddr[d]` of `iovCnt[d]`
   * entries, and `results[d]` receives what {@link writev} would have returned for it. Plain
   * arrays, not the ring, so a device need not know the firmware's descriptor layout. Layers
   * between the NIC and the wire (src/phy/) leave it out, so every frame still passes them one
   * by one.
   */
  writeBatch?(iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array): void;
  /**
   * Optional, beside {@link writeBatch}: up to `count` frames of receive queue `queue` in one
   * call, one into each descriptor `descs[k]` in that order (iovecs as for writeBatch);
   * `results[d]` receives what {@link readv} would have returned for it. A descriptor whose read
   * found the queue empty (-1) may be followed by filled ones: a frame that arrived during the
   * call. The caller keeps the frames in order and closes the gaps.
   */
  readBatch?(iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array, queue: number): void;
  /**
   * Call `cb` whenever frames may be ready (level-triggered: it is called again while they are),
   * with the queue that is readable when the device knows it, or no queue for any of them.
   */
  onReadable(cb: (queue?: number) => void): void;
  /**
   * Optional: whether the readiness watch keeps the event loop alive (libuv's ref/unref of the
   * poll handle; ref'd by default). The stack unrefs it while no socket or server holds it.
   */
  setRef?(on: boolean): void;
  close(): void;
  /**
   * The rest is for layers between the NIC and the wire (src/phy/: fault injection,
   * capture); a device that is only a device leaves them out.
   *
   * True when the frame the last `readv` returned crossed the wire and was then lost, as a NIC
   * drops a frame it received: a capture shows it, the NIC does not deliver it.
   */
  readonly lostOnReceive?: boolean;
  /**
   * What a layer did to the frame the last `readv` returned (the fault injector lost, delayed,
   * reordered, duplicated, corrupted or marked it), for a capture to note; null when nothing.
   */
  readonly rxNote?: string | null;
  /** The next frame written carries this note: what a layer above did to it. */
  noteNextWrite?(note: string): void;
  /** A frame a layer above kept from the wire (the fault injector's loss), for a capture to show, with why. */
  noteDropped?(iov: bigint, iovcnt: number, note: string): void;
  /** When frames held back (delay, reordering) are due, so the NIC polls then; or Infinity. */
  nextDeadline?(): number;
  /** Write the transmit frames held back whose time has come. */
  release?(): void;
}
