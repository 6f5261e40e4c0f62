/**
 * The transmit half of the firmware: it sends posted transmit descriptors, each with its
 * virtio-net header encoded in the descriptor's slot, as one gathered write. A frame the device
 * refuses (queue full, link down) is dropped and counted, as a NIC drops when its ring is full.
 * A device that can take many frames per call (`FrameDevice.writeBatch`) gets every flush of two
 * or more in one; a single frame still goes by `writev`, which is cheaper for one.
 */
import type { FrameDevice } from './device.js';
import { TxRing, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE } from './rings.js';
import type { FirmwareStats } from './firmware.js';

export class TxEngine {
  private readonly bytes: Uint8Array;
  /** Scratch of the batch path, per descriptor, reused: iovec counts, the batch's order, the results. */
  private readonly batchIovCnt: Int32Array;
  private readonly batchDescs: Int32Array;
  private readonly batchResults: Int32Array;

  constructor(
    private readonly device: FrameDevice,
    private readonly tx: TxRing,
    private readonly stats: FirmwareStats,
  ) {
    this.bytes = tx.arena.bytes;
    const n = device.writeBatch ? tx.size : 0;
    this.batchIovCnt = new Int32Array(n);
    this.batchDescs = new Int32Array(n);
    this.batchResults = new Int32Array(n);
  }

  /**
   * Send `count` posted transmit descriptors starting at `first`, after the frames the layers
   * below held back and are now due. Returns how many the device took.
   */
  service(first: number, count: number): number {
    const ring = this.tx;
    this.device.release?.();
    if (count >= 2 && this.device.writeBatch) return this.serviceBatch(first, count);
    let sent = 0;
    for (let k = 0; k < count; k++) {
      const d = (first + k) % ring.size;
      if (ring.vnetHdrLen > 0) this.writeVnet(d);
      if (this.write(d)) sent++;
    }
    return sent;
  }

  /** The same as the loop of writes, in one call of the device for all `count` frames. */
  private serviceBatch(first: number, count: number): number {
    const ring = this.tx;
    const descs = this.batchDescs;
    const cnt = this.batchIovCnt;
    for (let k = 0; k < count; k++) {
      const d = (first + k) % ring.size;
      if (ring.vnetHdrLen > 0) this.writeVnet(d);
      descs[k] = d;
      cnt[d] = 1 + ring.partCount[d]!;
    }
    this.device.writeBatch!(ring.iovAddr, cnt, descs, count, this.batchResults);
    this.stats.txBatches++;
    this.stats.txBatchFrames += count;
    let sent = 0;
    for (let k = 0; k < count; k++) if (this.account(descs[k]!, this.batchResults[descs[k]!]!)) sent++;
    return sent;
  }

  /** Write the virtio-net header of transmit descriptor `d` into its slot. */
  private writeVnet(d: number): void {
    const ring = this.tx;
    const b = this.bytes;
    const s = ring.slotOff[d]!;
    const gso = ring.gsoType[d]!;
    b[s] = ring.csumOffset[d]! > 0 ? VIRTIO_NET_HDR_F_NEEDS_CSUM : 0;
    b[s + 1] = gso;
    const hdrLen = ring.headerLen[d]!;
    b[s + 2] = hdrLen & 0xff;
    b[s + 3] = hdrLen >>> 8;
    b[s + 4] = ring.gsoSize[d]! & 0xff;
    b[s + 5] = ring.gsoSize[d]! >>> 8;
    b[s + 6] = ring.csumStart[d]! & 0xff;
    b[s + 7] = ring.csumStart[d]! >>> 8;
    b[s + 8] = ring.csumOffset[d]! & 0xff;
    b[s + 9] = ring.csumOffset[d]! >>> 8;
    b[s + 10] = 0;
    b[s + 11] = 0;
  }

  private write(d: number): boolean {
    const ring = this.tx;
    return this.account(d, this.device.writev(ring.iovAddr[d]!, 1 + ring.partCount[d]!));
  }

  /** Count what became of descriptor `d`: `n` as `writev` returns it. */
  private account(d: number, n: number): boolean {
    const ring = this.tx;
    if (n < 0) {
      if (n === -2) this.stats.txLinkDown++;
      else this.stats.txQueueFull++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += ring.frameLen[d]!;
    if (ring.gsoType[d] !== VIRTIO_NET_HDR_GSO_NONE) this.stats.txGsoFrames++;
    return true;
  }
}
