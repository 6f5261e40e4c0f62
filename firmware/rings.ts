/**
 * The descriptor rings: the only thing the host driver and the firmware share, as a
 * NIC's datasheet defines its descriptor formats. Descriptor memory (virtio-net header slots,
 * header buffers, iovec arrays) lives in the arena so the device reads and writes it directly;
 * descriptor fields live in typed arrays, one per field, indexed by descriptor number.
 */
import type { Arena } from '../src/mem/arena.js';
import { PAGE_SIZE } from '../src/mem/arena.js';
import { SPLIT_MAX } from './split-policy.js';

/** sizeof(struct virtio_net_hdr_mrg_rxbuf). */
export const VNET_SLOT = 12;
/** struct iovec on x86_64. */
export const IOVEC_SIZE = 16;

/** Receive completion status bits, written by the firmware. */
export const RxStatus = {
  /** Headers ended exactly where the header buffer did: payload at offset 0 of the first page. */
  SPLIT_HIT: 1 << 0,
  /** The frame carried no payload beyond its headers (split not applicable). */
  NO_PAYLOAD: 1 << 1,
  /** The firmware verified the L4 checksum (or the kernel vouched for it: DATA_VALID). */
  CSUM_VALID: 1 << 2,
  /** The L4 checksum is wrong. */
  CSUM_BAD: 1 << 3,
  /** The kernel left the L4 checksum partial (VIRTIO_NET_HDR_F_NEEDS_CSUM): trusted, not final. */
  CSUM_PARTIAL: 1 << 4,
  /** A GSO super-frame (gso_type != NONE): one frame that stands for several MSS-sized ones. */
  GSO: 1 << 5,
  /**
   * A whole (unfragmented) IPv4 datagram carrying TCP whose IP and TCP headers are well formed
   * enough to locate: headerEnd is then the end of the TCP header.
   */
  IPV4_TCP: 1 << 6,
  /** Lost on receive by the fault injector: captured (it was on the wire), not delivered. */
  IMPAIR_DROP: 1 << 7,
  /** As IPV4_TCP, for UDP: headerEnd is the end of the 8-byte UDP header. */
  IPV4_UDP: 1 << 8,
} as const;

/** virtio-net header fields (virtio spec 1.2 section 5.1.6). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** UDP segmentation (USO): every segment a datagram of its own (virtio 1.2 5.1.6; Linux >= 6.2). */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

export interface RxRingLayout {
  descriptors: number;
  /** Largest frame the device may hand over, without the vnet header. */
  maxFrame: number;
  vnetHdrLen: number;
}

export class RxRing {
  readonly size: number;
  readonly maxPages: number;
  readonly vnetHdrLen: number;
  /** Arena offset of each descriptor's vnet slot; its header buffer follows at +vnetHdrLen. */
  readonly slotOff: Int32Array;
  /** Each descriptor's header buffer (SPLIT_MAX bytes at {@link headerOff}), as a view. */
  readonly header: Uint8Array[];
  /** Each descriptor's iovec array, as a Uint32Array view and as an address for readv. */
  readonly iov: Uint32Array[];
  readonly iovAddr: bigint[];
  /** Posted by the host. */
  readonly split: Int32Array;
  readonly pages: Int32Array;
  readonly pageCount: Int32Array;
  readonly iovCnt: Int32Array;
  /** Completed by the firmware. */
  readonly length: Int32Array;
  readonly headerEnd: Int32Array;
  readonly status: Int32Array;
  readonly gsoType: Int32Array;
  readonly gsoSize: Int32Array;
  readonly csumStart: Int32Array;
  readonly csumOffset: Int32Array;

  constructor(
    readonly arena: Arena,
    layout: RxRingLayout,
  ) {
    const n = (this.size = layout.descriptors);
    this.vnetHdrLen = layout.vnetHdrLen;
    // Enough pages for the largest frame even when nothing is split off.
    this.maxPages = Math.ceil(layout.maxFrame / PAGE_SIZE);
    const slotSize = Math.ceil((VNET_SLOT + SPLIT_MAX) / 64) * 64;
    const iovBytes = (2 + this.maxPages) * IOVEC_SIZE;
    this.slotOff = new Int32Array(n);
    this.header = new Array<Uint8Array>(n);
    this.iov = new Array<Uint32Array>(n);
    this.iovAddr = new Array<bigint>(n);
    for (let d = 0; d < n; d++) {
      const slot = (this.slotOff[d] = arena.carve(slotSize, 64));
      this.header[d] = arena.bytes.subarray(slot + this.vnetHdrLen, slot + this.vnetHdrLen + SPLIT_MAX);
      const io = arena.carve(iovBytes, 64);
      this.iov[d] = new Uint32Array(arena.bytes.buffer, arena.bytes.byteOffset + io, iovBytes / 4);
      this.iovAddr[d] = arena.address(io);
    }
    this.split = new Int32Array(n);
    this.pages = new Int32Array(n * this.maxPages).fill(-1);
    this.pageCount = new Int32Array(n);
    this.iovCnt = new Int32Array(n);
    this.length = new Int32Array(n);
    this.headerEnd = new Int32Array(n);
    this.status = new Int32Array(n);
    this.gsoType = new Int32Array(n);
    this.gsoSize = new Int32Array(n);
    this.csumStart = new Int32Array(n);
    this.csumOffset = new Int32Array(n);
  }

  /** Arena offset of descriptor `d`'s header buffer. */
  headerOff(d: number): number {
    return this.slotOff[d]! + this.vnetHdrLen;
  }

  /**
   * Exchange what the host posted in descriptors `a` and `b`: buffers, pages, split and iovecs
   * move together, so each descriptor still describes memory it owns. The receive engine uses
   * it to bring a frame that landed after an empty read forward (see FrameDevice.readBatch).
   */
  swapPosted(a: number, b: number): void {
    swap(this.slotOff, a, b);
    const header = this.header[a]!;
    this.header[a] = this.header[b]!;
    this.header[b] = header;
    swap(this.split, a, b);
    swap(this.pageCount, a, b);
    swap(this.iovCnt, a, b);
    const iov = this.iov[a]!;
    this.iov[a] = this.iov[b]!;
    this.iov[b] = iov;
    const addr = this.iovAddr[a]!;
    this.iovAddr[a] = this.iovAddr[b]!;
    this.iovAddr[b] = addr;
    const P = this.maxPages;
    for (let k = 0; k < P; k++) swap(this.pages, a * P + k, b * P + k);
  }
}

function swap(t: Int32Array, i: number, j: number): void {
  const x = t[i]!;
  t[i] = t[j]!;
  t[j] = x;
}

export interface TxRingLayout {
  descriptors: number;
  /** Most payload parts per frame (a 64 KiB TSO frame over pages needs 17). */
  maxParts: number;
  vnetHdrLen: number;
}

/** Largest header a transmitted frame carries in its header buffer. */
export const TX_HEADER_MAX = 256;

export class TxRing {
  readonly size: number;
  readonly maxParts: number;
  readonly vnetHdrLen: number;
  readonly slotOff: Int32Array;
  /** Header buffer of each descriptor (TX_HEADER_MAX bytes, after the vnet slot). */
  readonly header: Uint8Array[];
  readonly iov: Uint32Array[];
  readonly iovAddr: bigint[];
  /** Posted by the host. */
  readonly headerLen: Int32Array;
  readonly partCount: Int32Array;
  readonly partOff: Int32Array;
  readonly partLen: Int32Array;
  readonly frameLen: Int32Array;
  /** virtio-net header the host asks for: gso type/size and a partial checksum to finish. */
  readonly gsoType: Int32Array;
  readonly gsoSize: Int32Array;
  readonly csumStart: Int32Array;
  readonly csumOffset: Int32Array;

  constructor(
    readonly arena: Arena,
    layout: TxRingLayout,
  ) {
    const n = (this.size = layout.descriptors);
    this.maxParts = layout.maxParts;
    this.vnetHdrLen = layout.vnetHdrLen;
    const slotSize = VNET_SLOT + TX_HEADER_MAX;
    const iovBytes = (2 + this.maxParts) * IOVEC_SIZE;
    this.slotOff = new Int32Array(n);
    this.header = new Array<Uint8Array>(n);
    this.iov = new Array<Uint32Array>(n);
    this.iovAddr = new Array<bigint>(n);
    for (let d = 0; d < n; d++) {
      const s = arena.carve(slotSize, 64);
      this.slotOff[d] = s;
      this.header[d] = arena.bytes.subarray(s + this.vnetHdrLen, s + this.vnetHdrLen + TX_HEADER_MAX);
      const io = arena.carve(iovBytes, 64);
      this.iov[d] = new Uint32Array(arena.bytes.buffer, arena.bytes.byteOffset + io, iovBytes / 4);
      this.iovAddr[d] = arena.address(io);
    }
    this.headerLen = new Int32Array(n);
    this.partCount = new Int32Array(n);
    this.partOff = new Int32Array(n * this.maxParts);
    this.partLen = new Int32Array(n * this.maxParts);
    this.frameLen = new Int32Array(n);
    this.gsoType = new Int32Array(n);
    this.gsoSize = new Int32Array(n);
    this.csumStart = new Int32Array(n);
    this.csumOffset = new Int32Array(n);
  }
}
