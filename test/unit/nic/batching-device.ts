/**
 * A MemoryDevice that also reads and writes batches, as the TAP over its io_uring does: each
 * frame of a batch as its readv or writev would be, with scripted empty reads (a frame that
 * arrives during the batch) and refused writes.
 */
import { MemoryDevice } from '../../../src/tap/memory-device.js';

export class BatchingDevice extends MemoryDevice {
  /** Frames asked for per write batch, and per read batch. */
  readonly batches: number[] = [];
  readonly readBatches: number[] = [];
  /** Results to give instead of writing, by position over all batched writes (-1 full, -2 link down). */
  refuse = new Map<number, number>();
  private writes = 0;
  /** Positions (counted over all batched reads) whose read finds the queue empty although it is not. */
  private emptyAt = new Set<number>();
  private reads = 0;

  /** The next batched reads at these offsets find the queue empty. */
  emptyNext(...offsets: number[]): void {
    this.emptyAt = new Set(offsets.map((o) => this.reads + o));
  }

  writeBatch(iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array): void {
    this.batches.push(count);
    for (let k = 0; k < count; k++) {
      const d = descs[k]!;
      results[d] = this.refuse.get(this.writes++) ?? this.writev(iovAddr[d]!, iovCnt[d]!);
    }
  }

  readBatch(iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array, queue: number): void {
    this.readBatches.push(count);
    for (let k = 0; k < count; k++) {
      const d = descs[k]!;
      results[d] = this.emptyAt.has(this.reads++) ? -1 : this.readv(iovAddr[d]!, iovCnt[d]!, queue);
    }
  }
}
