/**
 * The NIC's firmware: the program a Tigon 2 would run in its modified firmware (zero_copy(9)).
 * It owns the device side of the rings: its receive engine (rx.ts) fills posted receive
 * descriptors from the device, its transmit engine (tx.ts) sends posted transmit descriptors.
 * The device it drives may be the TAP itself or the TAP under the layers of src/phy/
 * (fault injection, capture), which the firmware does not see.
 */
import type { FrameDevice } from './device.js';
import type { RxRing, TxRing } from './rings.js';
import type { SplitPolicy } from './split-policy.js';
import { RxEngine } from './rx.js';
import { TxEngine } from './tx.js';

/**
 * Frames and bytes count what crosses between the firmware and its device: with fault injection
 * (src/phy/), frames the injector handed up and frames handed to it; its own counters say what
 * it lost, held or duplicated.
 */
export interface FirmwareStats {
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  /** Payload-carrying frames whose headers ended exactly at the split. */
  splitHits: number;
  /** Payload-carrying frames whose headers did not (54 without timestamps, 78+ with SACK, ...). */
  splitMisses: number;
  /** Frames without payload (ARP, pure ACKs): the split does not apply. */
  splitNoPayload: number;
  rxCsumVerified: number;
  rxCsumPartial: number;
  rxCsumBad: number;
  rxGsoFrames: number;
  txGsoFrames: number;
  /** Frames that filled every buffer of a descriptor: possibly cut short by the device. */
  rxTruncated: number;
  /** Frames the device refused because its queue was full. */
  txQueueFull: number;
  /** Frames dropped because the kernel's side of the link was down. */
  txLinkDown: number;
  /** Flushes written in one call of the device (io_uring), and the frames they carried. */
  txBatches: number;
  txBatchFrames: number;
  /** Receive rounds read in one call of the device (io_uring), and the frames they brought. */
  rxBatches: number;
  rxBatchFrames: number;
  /**
   * Frames of a batch that came after a read that found the queue empty (they arrived while
   * the batch ran): moved up to close the gap, so the completed descriptors stay contiguous.
   */
  rxBatchGaps: number;
}

export function emptyFirmwareStats(): FirmwareStats {
  return {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    splitHits: 0,
    splitMisses: 0,
    splitNoPayload: 0,
    rxCsumVerified: 0,
    rxCsumPartial: 0,
    rxCsumBad: 0,
    rxGsoFrames: 0,
    txGsoFrames: 0,
    rxTruncated: 0,
    txQueueFull: 0,
    txLinkDown: 0,
    txBatches: 0,
    txBatchFrames: 0,
    rxBatches: 0,
    rxBatchFrames: 0,
    rxBatchGaps: 0,
  };
}

export class Firmware {
  readonly stats = emptyFirmwareStats();
  private readonly rxEngine: RxEngine;
  private readonly txEngine: TxEngine;

  constructor(
    private readonly device: FrameDevice,
    readonly policy: SplitPolicy,
    rx: RxRing,
    tx: TxRing,
  ) {
    this.rxEngine = new RxEngine(device, policy, rx, this.stats, (id) => this.pageOffset(id));
    this.txEngine = new TxEngine(device, tx, this.stats);
  }

  /** Set by the driver: where page `id` starts in the arena. */
  pageOffset: (id: number) => number = () => {
    throw new Error('firmware: page mapping not set');
  };

  /** When frames held back below us are due (the driver polls then), or Infinity. */
  nextDeadline(): number {
    return this.device.nextDeadline?.() ?? Infinity;
  }

  /**
   * Fill up to `budget` posted receive descriptors, starting at `first` (mod ring size), from
   * the device's receive queue `queue`. Returns how many were filled; fewer than `budget`
   * means that queue is drained.
   */
  rxService(first: number, budget: number, queue = 0): number {
    return this.rxEngine.service(first, budget, queue);
  }

  /** Send `count` posted transmit descriptors starting at `first`. */
  txService(first: number, count: number): number {
    return this.txEngine.service(first, count);
  }

  /** Frames held back below us whose time has come, written with nothing else to send. */
  txRelease(): void {
    this.device.release?.();
  }
}
