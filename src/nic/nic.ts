/**
 * The host driver of the software NIC. It lays out the arena (page pool, descriptor rings,
 * scratch), posts receive descriptors with pages from the pool, asks the firmware to service
 * the rings, hands completed frames to the stack, and gathers the stack's transmit frames.
 *
 * One wake-up drains the ready frames (budgeted rounds, as NAPI does, up to a limit per
 * wake-up), then writes every frame the stack queued meanwhile: receive and transmit are
 * batched per wake-up.
 */
import debugFactory from 'debug';
import { Arena, PAGE_SIZE } from '../mem/arena.js';
import { PageOwner, PagePool } from '../mem/page-pool.js';
import type { RxMemory } from '../mem/rx-memory.js';
import { RxFrame } from './rx-frame.js';
import { Firmware, type FirmwareStats } from '../../firmware/firmware.js';
import { impairStats } from '../phy/fault-injector.js';
import {
  RxRing,
  RxStatus,
  TX_HEADER_MAX,
  TxRing,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_UDP_L4,
} from '../../firmware/rings.js';
import { L4Checksum } from '../wire/checksum.js';
import { createSplitPolicy, formatSplitPolicy, type SplitPolicySpec } from '../../firmware/split-policy.js';
import type { FrameDevice } from '../../firmware/device.js';
import { MAIN_QUEUE, SYN_QUEUE } from '../tap/steering.js';

const log = debugFactory('tapstack:nic');

/** Largest IPv4 datagram (RFC 791 total length is 16 bits) plus an Ethernet header. */
export const MAX_GSO_FRAME = 65535 + 14;
/** Payload parts per transmitted frame: a 64 KiB TSO frame over pages, plus slack for unaligned starts. */
const TX_MAX_PARTS = 20;
/** Receive rounds per wake-up are this many descriptors each. */
const RX_BUDGET = 64;
/**
 * Frames of the main queue delivered per wake-up at most: then the transmit frames are written
 * (the ACKs that open the sender's window among them) and the event loop runs timers and the
 * application before the next wake-up, which comes at once while the queue stays readable
 * (uv_poll is level-triggered). Draining to empty under a steady stream starves the rest of
 * the loop (docs/ARCHITECTURE.md, the receive ring).
 */
const RX_WAKEUP_LIMIT = 256;
/**
 * Frames taken from the connection-request queue per wake-up (steering.ts), after the main
 * queue is empty. One round: under a flood the event loop comes back at once (the queue stays
 * readable), but every time through it the main queue is drained first. Reading a SYN costs
 * little next to answering it; the TCP layer answers fewer when this round fills up
 * ({@link Nic.synQueueBacklogged}, src/tcp/syn-admission.ts).
 */
const SYN_BUDGET = 256;
/** Transmit bounce memory for bytes that are not handed over by reference. */
const TX_BOUNCE = 4 << 20;

export interface NicOptions {
  /** The TAP, or the TAP under fault injection and capture (src/phy/). */
  device: FrameDevice;
  /** Interface MTU (IP datagram size), used to size receive buffers when offloads are off. */
  mtu: number;
  split?: SplitPolicySpec;
  rxDescriptors?: number;
  txDescriptors?: number;
  /** Pool pages beyond those posted in the receive ring (for sockets and users). */
  extraPages?: number;
}

/** The stack's side: called once per received frame, then once per wake-up. */
export interface RxHandler {
  receive(frame: RxFrame): void;
  /** After every frame of a wake-up was delivered, before transmit frames are written. */
  afterReceive?(): void;
}

/**
 * What a frame asks of the NIC, not how: the driver turns it into a virtio-net header when the
 * device has offloads, and does the work itself when it has not.
 */
export interface TxOffload {
  /**
   * Cut the frame's payload into segments of this many bytes (TSO for TCP over IPv4, USO for
   * UDP, see {@link udp}), 0 to send it as it is. Only with offloads.
   */
  segmentSize: number;
  /** With segmentSize: CWR stays on the first segment only (RFC 3168 6.1.2; GSO_ECN). */
  ecn: boolean;
  /**
   * The frame is UDP: segmentation is USO (GSO_UDP_L4, each segment a datagram), and a
   * checksum that comes out 0 is sent as 0xffff (RFC 768: 0 means none).
   */
  udp: boolean;
  /**
   * The L4 checksum covers the frame from `csumStart` to its end and goes in the field at
   * `csumStart + csumOffset`, which holds the pseudo-header sum (a partial checksum). 0: no
   * checksum to finish.
   */
  csumStart: number;
  csumOffset: number;
}

export interface NicStats extends FirmwareStats {
  /** Frames shorter than an Ethernet header. */
  rxRunts: number;
  /** Receive bytes the driver copied to give the stack a contiguous frame. */
  rxLinearizedBytes: number;
  rxLinearizedFrames: number;
  /** Transmit payload bytes sent by reference vs copied into bounce memory. */
  txByReferenceBytes: number;
  txCopiedBytes: number;
  /** Receive descriptors posted short because the pool was empty. */
  rxRefillFailures: number;
  wakeups: number;
  /** Frames read from the connection-request queue (src/tap/steering.ts). */
  rxSynQueueFrames: number;
  /** Rounds of that queue that filled their budget (more SYNs waiting than one wake-up reads). */
  rxSynQueueBacklogged: number;
  /** The fault injector's, if the device has one (src/phy/fault-injector.ts). */
  impairRxDropped: number;
  impairRxDuplicated: number;
  impairRxReordered: number;
  impairRxCorrupted: number;
  impairRxMarked: number;
  impairRxDelayed: number;
  impairRxRateLimited: number;
  impairRxQueueDropped: number;
  impairTxDropped: number;
  impairTxDuplicated: number;
  impairTxReordered: number;
  impairTxCorrupted: number;
  impairTxMarked: number;
  impairTxDelayed: number;
  impairTxRateLimited: number;
  impairTxQueueDropped: number;
}

export class Nic {
  readonly arena: Arena;
  readonly pool: PagePool;
  readonly rx: RxRing;
  readonly tx: TxRing;
  readonly firmware: Firmware;
  readonly device: FrameDevice;
  readonly maxFrame: number;
  /** The receive memory transports fill (src/mem/rx-memory.ts). */
  readonly rxMemory: RxMemory;
  private readonly frame: RxFrame;
  private handler: RxHandler | null = null;
  private rxHead = 0;
  /** Frames the last wake-up read from the main queue and from the SYN queue: how much to ask for first. */
  private rxMainHint = 0;
  private rxSynHint = 0;
  private txHead = 0;
  private txPending = 0;
  private readonly bounceOff: number;
  private bounceUsed = 0;
  private readonly l4sum = new L4Checksum();
  private closed = false;
  /**
   * The current (or last) round of the connection-request queue filled its budget: at least
   * as many SYNs were waiting as one wake-up reads. Always false with one queue.
   */
  synQueueBacklogged = false;
  private readonly counters = {
    rxRunts: 0,
    txByReferenceBytes: 0,
    txCopiedBytes: 0,
    rxRefillFailures: 0,
    wakeups: 0,
    rxSynQueueFrames: 0,
    rxSynQueueBacklogged: 0,
  };

  constructor(opts: NicOptions) {
    this.device = opts.device;
    const rxN = opts.rxDescriptors ?? 256;
    const txN = opts.txDescriptors ?? 512;
    // With offloads the kernel hands over 64 KiB GSO frames; else MTU + Ethernet + a VLAN tag.
    this.maxFrame = opts.device.offloads ? MAX_GSO_FRAME : opts.mtu + 18;
    const pagesPerDesc = Math.ceil(this.maxFrame / PAGE_SIZE);
    const poolPages = rxN * pagesPerDesc + (opts.extraPages ?? 8192);
    const scratch = MAX_GSO_FRAME + 64;
    const size = poolPages * PAGE_SIZE + rxN * (320 + (2 + pagesPerDesc) * 16 + 128) + txN * (320 + (2 + TX_MAX_PARTS) * 16 + 128) + scratch + TX_BOUNCE + (1 << 20);
    this.arena = new Arena(size);
    this.pool = new PagePool(this.arena, poolPages);
    this.rx = new RxRing(this.arena, { descriptors: rxN, maxFrame: this.maxFrame, vnetHdrLen: opts.device.vnetHdrLen });
    this.tx = new TxRing(this.arena, { descriptors: txN, maxParts: TX_MAX_PARTS, vnetHdrLen: opts.device.vnetHdrLen });
    const scratchOff = this.arena.carve(scratch, 64);
    this.bounceOff = this.arena.carve(TX_BOUNCE, PAGE_SIZE);
    this.firmware = new Firmware(opts.device, createSplitPolicy(opts.split ?? { kind: 'fixed', size: 66 }), this.rx, this.tx);
    this.firmware.pageOffset = (id) => this.pool.pageOffset(id);
    this.frame = new RxFrame(this.arena, this.rx, this.pool, scratchOff, scratch);
    for (let d = 0; d < rxN; d++) this.repost(d);
    // Kept free: a whole receive ring of refills, and a thirty-second of the pool for the
    // empty pages applications trade for filled ones.
    const reserve = Math.min(this.pool.size, rxN * this.rx.maxPages + Math.ceil(this.pool.size / 32));
    const pool = this.pool;
    this.rxMemory = {
      pool,
      freePages: () => Math.max(0, pool.freeCount - reserve),
      pagesOwed: () => this.rxPagesOwed,
    };
    log('nic on %s: %d rx x %d pages, %d tx, pool %d pages, split %s', opts.device.name, rxN, pagesPerDesc, txN, poolPages, formatSplitPolicy(this.firmware.policy.spec));
  }

  /** Start receiving: every wake-up drains the device into `handler`. */
  start(handler: RxHandler): void {
    this.handler = handler;
    // The main queue's readiness need not cost a read of the connection-request queue, which
    // signals its own (unless its last round was backlogged or found frames: then read on).
    this.device.onReadable((queue) => this.poll(queue !== MAIN_QUEUE || this.rxSynHint > 0));
  }

  /** Give descriptor `d` back to the firmware: refill taken pages, write its iovecs. */
  private repost(d: number): void {
    const ring = this.rx;
    const P = ring.maxPages;
    const split = this.firmware.policy.nextSize();
    ring.split[d] = split;
    const iov = ring.iov[d]!;
    let n = 0;
    const hdr = ring.vnetHdrLen + split;
    if (hdr > 0) this.arena.setIovec(iov, n++, ring.slotOff[d]!, hdr);
    let pages = 0;
    for (let k = 0; k < P; k++) {
      let id = ring.pages[d * P + k]!;
      if (id < 0) {
        id = this.pool.alloc(PageOwner.Nic);
        if (id < 0) {
          this.counters.rxRefillFailures++;
          break;
        }
        ring.pages[d * P + k] = id;
        this.frame.emptySlots--;
      }
      this.arena.setIovec(iov, n++, this.pool.pageOffset(id), PAGE_SIZE);
      pages++;
    }
    ring.pageCount[d] = pages;
    ring.iovCnt[d] = n;
  }

  /**
   * Pool pages the receive ring is owed: slots whose pages the stack took (flips) and that are
   * refilled from the free pool when their descriptors are reposted. Until then the free count
   * overstates what others may take.
   */
  get rxPagesOwed(): number {
    return this.frame.emptySlots;
  }

  /**
   * Drain the ready frames of the main queue (up to `RX_WAKEUP_LIMIT`), then, unless
   * `synQueue` is false, up to `SYN_BUDGET` of the connection-request queue (if the device
   * has one), deliver each, then write what the stack queued.
   */
  poll(synQueue = true): number {
    if (this.closed || !this.handler) return 0;
    this.counters.wakeups++;
    const budget = Math.min(RX_BUDGET, this.rx.size);
    let total = 0;
    let first = this.rxMainHint;
    while (total < RX_WAKEUP_LIMIT) {
      const ask = Math.min(budget, RX_WAKEUP_LIMIT - total);
      const n = this.receive(ask, MAIN_QUEUE, first);
      total += n;
      if (n < ask || this.closed) break;
      first = ask;
    }
    this.rxMainHint = total;
    if (synQueue && this.device.rxQueues > 1 && !this.closed) {
      const n = this.receive(Math.min(SYN_BUDGET, this.rx.size), SYN_QUEUE, this.rxSynHint);
      this.rxSynHint = n;
      total += n;
    }
    if (this.closed) return total;
    this.handler.afterReceive?.();
    this.flush();
    return total;
  }

  /**
   * One round: up to `budget` frames of `queue` into the ring, delivered, descriptors reposted.
   * The firmware is asked in reads that start at one more than `expected` (what the last
   * wake-up found, so that one read finds it all and the queue empty) and double while they
   * come back full: a read of the device in batches then asks for about what is there, not for
   * the whole budget each wake-up (each read of an empty queue costs), and a quiet queue costs
   * one small read.
   */
  private receive(budget: number, queue: number, expected: number): number {
    const size = this.rx.size;
    let n = 0;
    let ask = Math.min(budget, expected + 1);
    for (;;) {
      const got = this.firmware.rxService((this.rxHead + n) % size, ask, queue);
      n += got;
      if (got < ask || n === budget) break;
      ask = Math.min(budget - n, 2 * ask);
    }
    if (queue === SYN_QUEUE) {
      // Known before the SYNs are delivered, so the TCP layer answers this round accordingly.
      this.synQueueBacklogged = n === budget;
      this.counters.rxSynQueueFrames += n;
      if (n === budget) this.counters.rxSynQueueBacklogged++;
    }
    for (let k = 0; k < n; k++) {
      const d = (this.rxHead + k) % size;
      this.deliver(d);
      this.repost(d);
    }
    this.rxHead = (this.rxHead + n) % size;
    return n;
  }

  private deliver(d: number): void {
    const f = this.frame;
    f.load(d);
    if (f.length < 14) {
      this.counters.rxRunts++;
      return;
    }
    // Lost by the fault injector after it crossed the wire (a capture has it): not delivered.
    if (f.status === RxStatus.IMPAIR_DROP) return;
    this.handler!.receive(f);
  }

  /**
   * Begin a transmit frame. Write its headers into {@link txHeader}(d), add payload with
   * {@link txAppend}, and finish with {@link txCommit}. Flushes first when the ring is full.
   */
  txBegin(): number {
    if (this.txPending === this.tx.size || this.bounceUsed + MAX_GSO_FRAME > TX_BOUNCE) this.flush();
    const d = (this.txHead + this.txPending) % this.tx.size;
    this.tx.partCount[d] = 0;
    this.tx.frameLen[d] = 0;
    return d;
  }

  /** The header buffer of transmit descriptor `d` (TX_HEADER_MAX bytes). */
  txHeader(d: number): Uint8Array {
    return this.tx.header[d]!;
  }

  /**
   * Add payload to frame `d`. With `byReference`, `bytes` must be arena memory (pool pages)
   * that stays unchanged until the next flush; it goes to the device without a copy. Otherwise
   * the bytes are copied into bounce memory (counted).
   */
  txAppend(d: number, bytes: Uint8Array, byReference = false): void {
    const ring = this.tx;
    const k = ring.partCount[d]!;
    if (k === ring.maxParts) throw new Error(`transmit frame has more than ${ring.maxParts} parts`);
    let off: number;
    if (byReference && this.arena.owns(bytes)) {
      off = bytes.byteOffset - this.arena.bytes.byteOffset;
      this.counters.txByReferenceBytes += bytes.length;
    } else {
      if (this.bounceUsed + bytes.length > TX_BOUNCE) throw new Error('transmit bounce memory exhausted within one frame');
      off = this.bounceOff + this.bounceUsed;
      this.arena.bytes.set(bytes, off);
      this.bounceUsed += (bytes.length + 63) & ~63;
      this.counters.txCopiedBytes += bytes.length;
    }
    ring.partOff[d * ring.maxParts + k] = off;
    ring.partLen[d * ring.maxParts + k] = bytes.length;
    ring.partCount[d] = k + 1;
  }

  /**
   * Add `len` bytes at arena offset `off` to frame `d` by reference (the send queue's pages):
   * like {@link txAppend} with `byReference`, without making a view.
   */
  txAppendRaw(d: number, off: number, len: number): void {
    const ring = this.tx;
    const k = ring.partCount[d]!;
    if (k === ring.maxParts) throw new Error(`transmit frame has more than ${ring.maxParts} parts`);
    ring.partOff[d * ring.maxParts + k] = off;
    ring.partLen[d * ring.maxParts + k] = len;
    ring.partCount[d] = k + 1;
    this.counters.txByReferenceBytes += len;
  }

  /** Copy `bytes[start, end)` into bounce memory and add it to frame `d` (counted). */
  txAppendCopy(d: number, bytes: Uint8Array, start: number, end: number): void {
    const ring = this.tx;
    const k = ring.partCount[d]!;
    if (k === ring.maxParts) throw new Error(`transmit frame has more than ${ring.maxParts} parts`);
    const len = end - start;
    if (this.bounceUsed + len > TX_BOUNCE) throw new Error('transmit bounce memory exhausted within one frame');
    const off = this.bounceOff + this.bounceUsed;
    this.arena.bytes.set(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), off);
    this.bounceUsed += (len + 63) & ~63;
    this.counters.txCopiedBytes += len;
    ring.partOff[d * ring.maxParts + k] = off;
    ring.partLen[d * ring.maxParts + k] = len;
    ring.partCount[d] = k + 1;
  }

  /**
   * Queue frame `d` with `headerLen` header bytes for the next flush. With offloads the device
   * segments it and finishes its checksum (virtio-net GSO, NEEDS_CSUM); without, the checksum
   * is finished here, over the header buffer and the parts (Linux skb_checksum_help), and a
   * frame must not ask for segmentation.
   */
  txCommit(d: number, headerLen: number, offload?: TxOffload): void {
    const ring = this.tx;
    if (headerLen > TX_HEADER_MAX) throw new Error(`header of ${headerLen} bytes exceeds ${TX_HEADER_MAX}`);
    ring.headerLen[d] = headerLen;
    if (offload === undefined || (offload.segmentSize === 0 && offload.csumOffset === 0)) {
      ring.gsoType[d] = VIRTIO_NET_HDR_GSO_NONE;
      ring.gsoSize[d] = 0;
      ring.csumStart[d] = 0;
      ring.csumOffset[d] = 0;
    } else if (this.device.offloads) {
      const seg = offload.segmentSize;
      ring.gsoType[d] = seg <= 0 ? VIRTIO_NET_HDR_GSO_NONE : offload.udp ? VIRTIO_NET_HDR_GSO_UDP_L4 : VIRTIO_NET_HDR_GSO_TCPV4 | (offload.ecn ? VIRTIO_NET_HDR_GSO_ECN : 0);
      ring.gsoSize[d] = seg;
      ring.csumStart[d] = offload.csumStart;
      ring.csumOffset[d] = offload.csumOffset;
    } else {
      if (offload.segmentSize > 0) throw new Error('segmentation asked of a device without offloads');
      if (offload.csumOffset > 0) this.finishChecksum(d, headerLen, offload.csumStart, offload.csumStart + offload.csumOffset, offload.udp);
      ring.gsoType[d] = VIRTIO_NET_HDR_GSO_NONE;
      ring.gsoSize[d] = 0;
      ring.csumStart[d] = 0;
      ring.csumOffset[d] = 0;
    }
    const iov = ring.iov[d]!;
    this.arena.setIovec(iov, 0, ring.slotOff[d]!, ring.vnetHdrLen + headerLen);
    let len = headerLen;
    const parts = ring.partCount[d]!;
    for (let k = 0; k < parts; k++) {
      const pl = ring.partLen[d * ring.maxParts + k]!;
      this.arena.setIovec(iov, 1 + k, ring.partOff[d * ring.maxParts + k]!, pl);
      len += pl;
    }
    ring.frameLen[d] = len;
    this.txPending++;
  }

  /** The checksum of frame `d` from `start` on, into the header's `field` (holding the pseudo-header sum). */
  private finishChecksum(d: number, headerLen: number, start: number, field: number, udp: boolean): void {
    const ring = this.tx;
    const h = ring.header[d]!;
    const arena = this.arena.bytes;
    const sum = this.l4sum.begin(0);
    sum.add(h, start, headerLen);
    const parts = ring.partCount[d]!;
    for (let k = 0; k < parts; k++) {
      const off = ring.partOff[d * ring.maxParts + k]!;
      sum.add(arena, off, off + ring.partLen[d * ring.maxParts + k]!);
    }
    if (udp) sum.storeUdp(h, field);
    else sum.store(h, field);
  }

  /** Write every queued frame (one writev each). */
  flush(): void {
    if (this.txPending === 0) {
      this.firmware.txRelease();
      return;
    }
    this.firmware.txService(this.txHead, this.txPending);
    this.txHead = (this.txHead + this.txPending) % this.tx.size;
    this.txPending = 0;
    this.bounceUsed = 0;
  }

  /** When the device next has held frames to release (fault injection), or Infinity. */
  nextDeadline(): number {
    return this.firmware.nextDeadline();
  }

  stats(): NicStats {
    const imp = impairStats(this.device);
    return {
      ...this.firmware.stats,
      impairRxDropped: imp.rx.dropped,
      impairRxDuplicated: imp.rx.duplicated,
      impairRxReordered: imp.rx.reordered,
      impairRxCorrupted: imp.rx.corrupted,
      impairRxMarked: imp.rx.marked,
      impairRxDelayed: imp.rx.delayed,
      impairRxRateLimited: imp.rx.rateLimited,
      impairRxQueueDropped: imp.rx.queueDropped,
      impairTxDropped: imp.tx.dropped,
      impairTxDuplicated: imp.tx.duplicated,
      impairTxReordered: imp.tx.reordered,
      impairTxCorrupted: imp.tx.corrupted,
      impairTxMarked: imp.tx.marked,
      impairTxDelayed: imp.tx.delayed,
      impairTxRateLimited: imp.tx.rateLimited,
      impairTxQueueDropped: imp.tx.queueDropped,
      ...this.counters,
      rxLinearizedBytes: this.frame.linearizedBytes,
      rxLinearizedFrames: this.frame.linearizedFrames,
    };
  }

  /** Stop, write what is queued, close the device (and the layers over it). The arena stays mapped
   * until `release()`, so views a caller still holds do not point at unmapped memory. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.device.close();
  }
}
