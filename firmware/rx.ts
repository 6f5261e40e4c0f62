/**
 * The receive half of the firmware: it fills posted receive descriptors from the device, as a
 * NIC's receive engine does: the header split the policy chose when the descriptor was posted,
 * the virtio-net header decoded, the L4 checksum verified. It touches payload bytes only to
 * verify checksums, as receive checksum offload does.
 */
import type { FrameDevice } from './device.js';
import { PAGE_SIZE } from '../src/mem/arena.js';
import { foldChecksum, onesComplementSum, pseudoHeaderSum } from '../src/wire/checksum.js';
import { RxRing, RxStatus, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE } from './rings.js';
import type { SplitPolicy } from './split-policy.js';
import type { FirmwareStats } from './firmware.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

export class RxEngine {
  private readonly bytes: Uint8Array;
  /** Scratch of the batch path, per descriptor, reused: the round's order and the results. */
  private readonly batchDescs: Int32Array;
  private readonly batchResults: Int32Array;

  constructor(
    private readonly device: FrameDevice,
    readonly policy: SplitPolicy,
    private readonly rx: RxRing,
    private readonly stats: FirmwareStats,
    /** Where page `id` starts in the arena (the driver's page pool knows). */
    private readonly pageOffset: (id: number) => number,
  ) {
    this.bytes = rx.arena.bytes;
    const n = device.readBatch ? rx.size : 0;
    this.batchDescs = new Int32Array(n);
    this.batchResults = new Int32Array(n);
  }

  /**
   * Fill up to `budget` posted receive descriptors, starting at `first` (mod ring size), from
   * the device's receive queue `queue`. Returns how many were filled; fewer than `budget`
   * means that queue is drained. A frame the device lost after the wire (fault injection)
   * takes a descriptor marked IMPAIR_DROP, for the driver to skip. A device that reads many
   * frames per call gets one call for the round (a round of one is cheaper as a plain read).
   */
  service(first: number, budget: number, queue = 0): number {
    if (budget >= 2 && this.device.readBatch) return this.serviceBatch(first, budget, queue);
    const ring = this.rx;
    let filled = 0;
    while (filled < budget) {
      const d = (first + filled) % ring.size;
      const n = this.device.readv(ring.iovAddr[d]!, ring.iovCnt[d]!, queue);
      if (n < 0) break;
      this.take(d, n);
      filled++;
    }
    return filled;
  }

  /**
   * The same as the loop of reads, in one call of the device. The reads run in order, so the
   * frames are in order; a read that found the queue empty can still be followed by a frame
   * that arrived meanwhile, and that frame's buffers are moved into the first empty descriptor
   * (RxRing.swapPosted), so the filled descriptors are `first, first + 1, ...` as after the loop.
   */
  private serviceBatch(first: number, budget: number, queue: number): number {
    const ring = this.rx;
    const descs = this.batchDescs;
    const results = this.batchResults;
    for (let k = 0; k < budget; k++) descs[k] = (first + k) % ring.size;
    this.device.readBatch!(ring.iovAddr, ring.iovCnt, descs, budget, results, queue);
    let filled = 0;
    for (let k = 0; k < budget; k++) {
      const n = results[descs[k]!]!;
      if (n < 0) continue;
      const d = descs[filled]!;
      if (k !== filled) {
        ring.swapPosted(d, descs[k]!);
        this.stats.rxBatchGaps++;
      }
      this.take(d, n);
      filled++;
    }
    this.stats.rxBatches++;
    this.stats.rxBatchFrames += filled;
    return filled;
  }

  /** Complete descriptor `d`, which the device filled with `n` bytes (vnet header included). */
  private take(d: number, n: number): void {
    const ring = this.rx;
    const len = n - ring.vnetHdrLen;
    ring.status[d] = 0;
    if (len < 14) {
      // Not even an Ethernet header: the descriptor is reused as it is.
      ring.length[d] = Math.max(0, len);
      ring.headerEnd[d] = 0;
      return;
    }
    if (n >= ring.vnetHdrLen + ring.split[d]! + ring.pageCount[d]! * PAGE_SIZE) this.stats.rxTruncated++;
    if (this.device.lostOnReceive) {
      ring.status[d] = RxStatus.IMPAIR_DROP;
      ring.length[d] = len;
      ring.csumOffset[d] = 0;
      return;
    }
    this.complete(d, len);
  }

  /** Write the completion of descriptor `d` for a frame of `len` bytes (without vnet header). */
  private complete(d: number, len: number): void {
    const ring = this.rx;
    const st = this.stats;
    st.rxFrames++;
    st.rxBytes += len;
    ring.length[d] = len;
    let status = 0;
    let vflags = 0;
    if (ring.vnetHdrLen === 0) {
      ring.csumStart[d] = 0;
      ring.csumOffset[d] = 0;
    }
    if (ring.vnetHdrLen > 0) {
      const s = ring.slotOff[d]!;
      const b = this.bytes;
      vflags = b[s]!;
      const gsoType = b[s + 1]!;
      ring.gsoType[d] = gsoType;
      ring.gsoSize[d] = b[s + 4]! | (b[s + 5]! << 8);
      ring.csumStart[d] = b[s + 6]! | (b[s + 7]! << 8);
      ring.csumOffset[d] = b[s + 8]! | (b[s + 9]! << 8);
      if (gsoType !== VIRTIO_NET_HDR_GSO_NONE) {
        status |= RxStatus.GSO;
        st.rxGsoFrames++;
      }
    } else {
      ring.gsoType[d] = 0;
      ring.gsoSize[d] = 0;
    }

    // Where do the headers end? Ethernet, then IPv4/IPv6, then the transport header.
    const etherType = (this.byteAt(d, 12) << 8) | this.byteAt(d, 13);
    let headerEnd = 14;
    let l4 = -1;
    let l4Proto = 0;
    let ipOk = false;
    if (etherType === ETHERTYPE_IPV4 && len >= 34) {
      const ihl = (this.byteAt(d, 14) & 0x0f) * 4;
      const totalLength = (this.byteAt(d, 16) << 8) | this.byteAt(d, 17);
      const fragment = ((this.byteAt(d, 20) & 0x3f) << 8) | this.byteAt(d, 21); // MF + offset
      l4Proto = this.byteAt(d, 23);
      if (ihl >= 20 && 14 + ihl <= len && totalLength >= ihl && 14 + totalLength <= len) {
        ipOk = true;
        headerEnd = 14 + ihl;
        if (fragment === 0) {
          l4 = headerEnd;
          const thl = this.transportHeaderLen(d, l4, l4Proto, 14 + totalLength);
          headerEnd += thl;
          if (l4Proto === IPPROTO_TCP && thl >= 20) status |= RxStatus.IPV4_TCP;
          else if (l4Proto === IPPROTO_UDP && thl === 8) status |= RxStatus.IPV4_UDP;
        }
        len = Math.min(len, 14 + totalLength); // Ethernet padding is not payload
      }
    } else if (etherType === ETHERTYPE_IPV6 && len >= 54) {
      headerEnd = 54;
      const next = this.byteAt(d, 20);
      if (next === IPPROTO_TCP || next === IPPROTO_UDP) headerEnd += this.transportHeaderLen(d, 54, next, len);
    } else if (etherType === ETHERTYPE_ARP) {
      headerEnd = Math.min(len, 42);
    }
    if (headerEnd > len) headerEnd = len;
    ring.headerEnd[d] = headerEnd;

    if (headerEnd >= len) {
      status |= RxStatus.NO_PAYLOAD;
      st.splitNoPayload++;
    } else {
      this.policy.observe(headerEnd, l4Proto, len - headerEnd);
      if (headerEnd === ring.split[d]) {
        status |= RxStatus.SPLIT_HIT;
        st.splitHits++;
      } else {
        st.splitMisses++;
      }
    }

    // Receive checksum offload: the kernel's word first, our own sum otherwise.
    if (vflags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      status |= RxStatus.CSUM_PARTIAL;
      st.rxCsumPartial++;
    } else if (vflags & VIRTIO_NET_HDR_F_DATA_VALID) {
      status |= RxStatus.CSUM_VALID;
      st.rxCsumVerified++;
    } else if (ipOk && l4 >= 0 && (l4Proto === IPPROTO_TCP || l4Proto === IPPROTO_UDP)) {
      const udpNoSum = l4Proto === IPPROTO_UDP && this.byteAt(d, l4 + 6) === 0 && this.byteAt(d, l4 + 7) === 0;
      if (!udpNoSum && len - l4 >= (l4Proto === IPPROTO_TCP ? 20 : 8)) {
        if (this.verifyL4(d, l4, len, l4Proto)) {
          status |= RxStatus.CSUM_VALID;
          st.rxCsumVerified++;
        } else {
          status |= RxStatus.CSUM_BAD;
          st.rxCsumBad++;
        }
      }
    }
    ring.status[d] = status;
  }

  private transportHeaderLen(d: number, l4: number, proto: number, end: number): number {
    if (proto === IPPROTO_TCP && l4 + 20 <= end) {
      const doff = (this.byteAt(d, l4 + 12) >> 4) * 4;
      return doff >= 20 && l4 + doff <= end ? doff : 0;
    }
    if (proto === IPPROTO_UDP && l4 + 8 <= end) return 8;
    if (proto === IPPROTO_ICMP && l4 + 8 <= end) return 8;
    return 0;
  }

  /** Byte `i` of the frame in descriptor `d`, wherever the split put it. */
  byteAt(d: number, i: number): number {
    const ring = this.rx;
    const split = ring.split[d]!;
    if (i < split) return this.bytes[ring.headerOff(d) + i]!;
    const r = i - split;
    const page = ring.pages[d * ring.maxPages + (r >>> 12)]!;
    return this.bytes[this.pageOffset(page) + (r & (PAGE_SIZE - 1))]!;
  }

  /** One's complement sum of frame bytes [a, b) across the header buffer and pages. */
  private sumRange(d: number, a: number, b: number, initial: number): number {
    const ring = this.rx;
    const split = ring.split[d]!;
    let sum = initial;
    let odd = false;
    const add = (s: number) => {
      sum += odd ? ((s & 0xff) << 8) | (s >>> 8) : s;
    };
    let pos = a;
    if (pos < split) {
      const end = Math.min(b, split);
      add(onesComplementSum(this.bytes, ring.headerOff(d) + pos, ring.headerOff(d) + end));
      odd = ((end - pos) & 1) === 1;
      pos = end;
    }
    while (pos < b) {
      const r = pos - split;
      const pageIdx = r >>> 12;
      const inPage = r & (PAGE_SIZE - 1);
      const take = Math.min(b - pos, PAGE_SIZE - inPage);
      const off = this.pageOffset(ring.pages[d * ring.maxPages + pageIdx]!) + inPage;
      add(onesComplementSum(this.bytes, off, off + take));
      if (take & 1) odd = !odd;
      pos += take;
    }
    return sum;
  }

  private verifyL4(d: number, l4: number, end: number, proto: number): boolean {
    const src = ((this.byteAt(d, 26) << 24) | (this.byteAt(d, 27) << 16) | (this.byteAt(d, 28) << 8) | this.byteAt(d, 29)) >>> 0;
    const dst = ((this.byteAt(d, 30) << 24) | (this.byteAt(d, 31) << 16) | (this.byteAt(d, 32) << 8) | this.byteAt(d, 33)) >>> 0;
    const sum = this.sumRange(d, l4, end, pseudoHeaderSum(src, dst, proto, end - l4));
    return foldChecksum(sum) === 0;
  }
}
