/**
 * The NIC's firmware: the program a Tigon 2 would run in its modified firmware (zero_copy(9)).
 * It owns the device side of the rings: it fills posted receive descriptors from the device
 * (header split by the policy, virtio-net header decoded, L4 checksum verified), and it sends
 * posted transmit descriptors (virtio-net header encoded, one gathered write per frame).
 * It touches payload bytes only to verify checksums, as receive checksum offload does.
 */
import type { FrameDevice } from './device.js';
import { PAGE_SIZE } from '../src/mem/arena.js';
import { foldChecksum, onesComplementSum, pseudoHeaderSum } from '../src/wire/checksum.js';
import {
  RxRing,
  RxStatus,
  TxRing,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_NONE,
  VNET_SLOT,
} from './rings.js';
import type { SplitPolicy } from './split-policy.js';
import { Fate, Impairer, noImpairment, type ImpairmentSpec, type ImpairStats } from './impairments.js';
import type { Clock } from '../src/clock.js';

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

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
  };
}

export class Firmware {
  readonly stats = emptyFirmwareStats();
  private readonly bytes: Uint8Array;

  /** Fault injection, per direction (stand-ins for netem, which this kernel lacks). */
  rxImpair: Impairer;
  txImpair: Impairer;
  /** Frames held back (delay, reordering, rate limit, duplicates waiting for their turn). */
  private readonly rxHeld: HeldFrame[] = [];
  private readonly txHeld: HeldFrame[] = [];
  private rxPassed = 0;
  private txPassed = 0;
  private rxLastDeparture = 0;
  private txLastDeparture = 0;
  /** Arena scratch from which held transmit frames are written (one iovec). */
  private readonly txScratchOff: number;
  private readonly txScratchIov: Uint32Array;
  private readonly txScratchIovAddr: bigint;
  /** Capture hooks, set by the driver: a ring frame, or a frame held here (vnet header first). */
  captureTx: ((d: number) => void) | null = null;
  captureBytes: ((vnetAndFrame: Uint8Array, vnetLen: number) => void) | null = null;

  constructor(
    private readonly device: FrameDevice,
    readonly policy: SplitPolicy,
    private readonly rx: RxRing,
    private readonly tx: TxRing,
    private readonly clock: Clock,
    impair?: ImpairmentSpec,
  ) {
    this.bytes = rx.arena.bytes;
    const seed = impair?.seed ?? 1;
    this.rxImpair = new Impairer(impair?.rx ?? noImpairment(), seed * 2 + 1);
    this.txImpair = new Impairer(impair?.tx ?? noImpairment(), seed * 2 + 2);
    const arena = rx.arena;
    this.txScratchOff = arena.carve(VNET_SLOT + 65536 + 64, 64);
    const iovOff = arena.carve(16, 16);
    this.txScratchIov = new Uint32Array(arena.bytes.buffer, arena.bytes.byteOffset + iovOff, 4);
    this.txScratchIovAddr = arena.address(iovOff);
  }

  /** Replace the impairments at run time (tests, the CLI). */
  setImpairments(spec: ImpairmentSpec): void {
    this.rxImpair = new Impairer(spec.rx, spec.seed * 2 + 1);
    this.txImpair = new Impairer(spec.tx, spec.seed * 2 + 2);
  }

  impairStats(): { rx: ImpairStats; tx: ImpairStats } {
    return { rx: this.rxImpair.stats, tx: this.txImpair.stats };
  }

  /** When held frames are due (the driver polls then), or Infinity. */
  nextDeadline(): number {
    let t = Infinity;
    for (const h of this.rxHeld) if (h.dueMs < t) t = h.dueMs;
    for (const h of this.txHeld) if (h.dueMs < t) t = h.dueMs;
    return t;
  }

  /**
   * Fill up to `budget` posted receive descriptors, starting at `first` (mod ring size), from
   * the device's receive queue `queue`. Returns how many were filled; fewer than `budget`
   * means that queue is drained. Frames held back by the fault injector come out with the main
   * queue's.
   */
  rxService(first: number, budget: number, queue = 0): number {
    const ring = this.rx;
    const impair = this.rxImpair.active;
    let filled = 0;
    while (filled < budget) {
      const d = (first + filled) % ring.size;
      if (this.rxHeld.length > 0 && queue === 0) {
        const h = takeDue(this.rxHeld, this.clock.nowMs(), this.rxPassed);
        if (h) {
          this.inject(d, h.bytes);
          this.complete(d, h.bytes.length - ring.vnetHdrLen);
          this.rxPassed++;
          filled++;
          continue;
        }
      }
      const n = this.device.readv(ring.iovAddr[d]!, ring.iovCnt[d]!, queue);
      if (n < 0) break;
      const len = n - ring.vnetHdrLen;
      ring.status[d] = 0;
      if (impair && len >= 14 && this.impairRx(d, len)) {
        // Held back: the descriptor stays free for the next frame.
        continue;
      }
      if (len < 14) {
        // Not even an Ethernet header: the descriptor is reused as it is.
        ring.length[d] = Math.max(0, len);
        ring.status[d] = 0;
        ring.headerEnd[d] = 0;
        filled++;
        continue;
      }
      if (n >= ring.vnetHdrLen + ring.split[d]! + ring.pageCount[d]! * PAGE_SIZE) this.stats.rxTruncated++;
      if (ring.status[d] === RxStatus.IMPAIR_DROP) {
        // Dropped on receive: it was on the wire (the driver captures it), then lost here.
        ring.length[d] = len;
        ring.csumOffset[d] = 0;
        filled++;
        continue;
      }
      this.complete(d, len);
      this.rxPassed++;
      filled++;
    }
    return filled;
  }

  /**
   * The receive side of the fault injector. Returns true when the frame was taken out of the
   * descriptor (held for later); marks it IMPAIR_DROP when lost; corrupts it in place.
   */
  private impairRx(d: number, len: number): boolean {
    const imp = this.rxImpair;
    let fate = imp.decide();
    if (fate === Fate.CORRUPT && !(this.byteAt(d, 12) === 0x08 && this.byteAt(d, 13) === 0x00)) fate = fcsDrop(imp);
    if (fate === Fate.MARK && !this.markRx(d, len)) imp.stats.dropped++;
    if (fate === Fate.DROP || (fate === Fate.MARK && this.rx.status[d] !== 0)) {
      this.rx.status[d] = RxStatus.IMPAIR_DROP;
      return false;
    }
    const now = this.clock.nowMs();
    if (fate === Fate.CORRUPT) this.corruptRx(d, len);
    let due = now + imp.delay();
    const dep = imp.departure(now, this.rxLastDeparture, len);
    if (dep > 0) {
      this.rxLastDeparture = dep;
      if (dep > due) due = dep;
    }
    if (fate === Fate.DUP) hold(this.rxHeld, { bytes: this.copyOutRx(d, len), dueMs: due, dueFrame: -1 }, imp.spec.queueFrames, imp.stats);
    if (fate === Fate.HOLD) {
      const s = imp.spec;
      hold(this.rxHeld, { bytes: this.copyOutRx(d, len), dueMs: s.reorderMs > 0 ? now + s.reorderMs : now + MAX_REORDER_HOLD_MS, dueFrame: s.reorderMs > 0 ? -1 : this.rxPassed + s.reorderFrames }, s.queueFrames, imp.stats);
      return true;
    }
    if (due > now) {
      hold(this.rxHeld, { bytes: this.copyOutRx(d, len), dueMs: due, dueFrame: -1 }, imp.spec.queueFrames, imp.stats);
      return true;
    }
    return false;
  }

  /** The frame in descriptor `d`, vnet header first, as a copy. */
  private copyOutRx(d: number, len: number): Uint8Array {
    const ring = this.rx;
    const v = ring.vnetHdrLen;
    const out = new Uint8Array(v + len);
    out.set(this.bytes.subarray(ring.slotOff[d]!, ring.slotOff[d]! + v), 0);
    for (let i = 0; i < len; i++) out[v + i] = this.byteAt(d, i);
    return out;
  }

  /** Fill descriptor `d` with a held frame (vnet header first), as readv would. */
  private inject(d: number, frame: Uint8Array): void {
    const ring = this.rx;
    const v = ring.vnetHdrLen;
    this.bytes.set(frame.subarray(0, v), ring.slotOff[d]!);
    const len = frame.length - v;
    for (let i = 0; i < len; i++) this.setByteAt(d, i, frame[v + i]!);
  }

  private setByteAt(d: number, i: number, value: number): void {
    const ring = this.rx;
    const split = ring.split[d]!;
    if (i < split) {
      this.bytes[ring.headerOff(d) + i] = value;
      return;
    }
    const r = i - split;
    const page = ring.pages[d * ring.maxPages + (r >>> 12)]!;
    this.bytes[this.pageOffset(page) + (r & (PAGE_SIZE - 1))] = value;
  }

  /**
   * Flip one bit of the IP datagram, as the wire would, after finishing a checksum the kernel
   * left partial (on a wire every checksum is final, so the receiver's check catches the flip).
   * Only bits the IP and transport checksums cover are flipped: a TAP has no Ethernet FCS.
   */
  private corruptRx(d: number, len: number): void {
    const ring = this.rx;
    const s = ring.slotOff[d]!;
    const b = this.bytes;
    if (ring.vnetHdrLen > 0 && b[s]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      const start = b[s + 6]! | (b[s + 7]! << 8);
      const off = b[s + 8]! | (b[s + 9]! << 8);
      const c = foldChecksum(this.sumRange(d, start, len, 0));
      this.setByteAt(d, start + off, c >>> 8);
      this.setByteAt(d, start + off + 1, c & 0xff);
      b[s] = b[s]! & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID);
    } else if (ring.vnetHdrLen > 0) {
      b[s] = b[s]! & ~VIRTIO_NET_HDR_F_DATA_VALID;
    }
    const ipLen = Math.min(len - 14, (this.byteAt(d, 16) << 8) | this.byteAt(d, 17));
    if (ipLen <= 0) return;
    const bit = this.rxImpair.bit(ipLen * 8);
    const i = 14 + (bit >>> 3);
    this.setByteAt(d, i, this.byteAt(d, i) ^ (1 << (bit & 7)));
  }

  /**
   * Congestion at a router with ECN (RFC 3168 5): CE on an ECN-capable IPv4 frame (its header
   * checksum updated, RFC 1624). Returns false, with the descriptor marked as lost, for a frame
   * that is not ECN-capable: the router drops it instead.
   */
  private markRx(d: number, len: number): boolean {
    if (len < 34 || this.byteAt(d, 12) !== 0x08 || this.byteAt(d, 13) !== 0x00 || !setCe(this.byteAt(d, 14), this.byteAt(d, 15), this.byteAt(d, 24), this.byteAt(d, 25), ceScratch)) {
      this.rx.status[d] = RxStatus.IMPAIR_DROP;
      return false;
    }
    this.setByteAt(d, 15, ceScratch[0]!);
    this.setByteAt(d, 24, ceScratch[1]!);
    this.setByteAt(d, 25, ceScratch[2]!);
    this.rxImpair.stats.marked++;
    return true;
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
      this.policy.observe(headerEnd);
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

  /** Set by the driver: where page `id` starts in the arena. */
  pageOffset: (id: number) => number = () => {
    throw new Error('firmware: page mapping not set');
  };

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

  private writeRing(d: number): boolean {
    const ring = this.tx;
    const n = this.device.writev(ring.iovAddr[d]!, 1 + ring.partCount[d]!);
    if (n < 0) {
      if (n === -2) this.stats.txLinkDown++;
      else this.stats.txQueueFull++;
      return false;
    }
    this.stats.txFrames++;
    this.stats.txBytes += ring.frameLen[d]!;
    if (ring.gsoType[d] !== VIRTIO_NET_HDR_GSO_NONE) this.stats.txGsoFrames++;
    this.captureTx?.(d);
    return true;
  }

  /** Transmit descriptor `d` gathered into one copy, vnet header first. */
  private copyOutTx(d: number): Uint8Array {
    const ring = this.tx;
    const v = ring.vnetHdrLen;
    const out = new Uint8Array(v + ring.frameLen[d]!);
    const s = ring.slotOff[d]!;
    out.set(this.bytes.subarray(s, s + v + ring.headerLen[d]!), 0);
    let pos = v + ring.headerLen[d]!;
    for (let k = 0; k < ring.partCount[d]!; k++) {
      const off = ring.partOff[d * ring.maxParts + k]!;
      const len = ring.partLen[d * ring.maxParts + k]!;
      out.set(this.bytes.subarray(off, off + len), pos);
      pos += len;
    }
    return out;
  }

  /** Write a held frame (vnet header first) through the scratch iovec. */
  private writeHeld(frame: Uint8Array): void {
    const off = this.txScratchOff;
    this.bytes.set(frame, off);
    this.rx.arena.setIovec(this.txScratchIov, 0, off, frame.length);
    const n = this.device.writev(this.txScratchIovAddr, 1);
    if (n < 0) {
      if (n === -2) this.stats.txLinkDown++;
      else this.stats.txQueueFull++;
      return;
    }
    const v = this.tx.vnetHdrLen;
    this.stats.txFrames++;
    this.stats.txBytes += frame.length - v;
    if (v > 0 && frame[1] !== VIRTIO_NET_HDR_GSO_NONE) this.stats.txGsoFrames++;
    this.captureBytes?.(frame, v);
  }

  /** Held transmit frames whose time has come. */
  txRelease(): void {
    if (this.txHeld.length === 0) return;
    const now = this.clock.nowMs();
    for (let h = takeDue(this.txHeld, now, this.txPassed); h; h = takeDue(this.txHeld, now, this.txPassed)) {
      this.writeHeld(h.bytes);
      this.txPassed++;
    }
  }

  /**
   * Corrupt a transmit copy: finish its partial checksum, then flip one bit of the IP datagram.
   * A TSO frame cannot be corrupted this way (the kernel would checksum the flipped bytes when
   * it segments): it is dropped instead, as the receiver would drop the corrupted segment.
   */
  private corruptTx(frame: Uint8Array): boolean {
    const v = this.tx.vnetHdrLen;
    if (v > 0 && frame[1] !== VIRTIO_NET_HDR_GSO_NONE) return false;
    if (v > 0 && frame[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      const start = v + (frame[6]! | (frame[7]! << 8));
      const field = start + (frame[8]! | (frame[9]! << 8));
      const c = foldChecksum(onesComplementSum(frame, start, frame.length));
      frame[field] = c >>> 8;
      frame[field + 1] = c & 0xff;
      frame[0] = frame[0]! & ~VIRTIO_NET_HDR_F_NEEDS_CSUM;
      for (let i = 6; i < 10; i++) frame[i] = 0;
    }
    const ipLen = Math.min(frame.length - v - 14, (frame[v + 16]! << 8) | frame[v + 17]!);
    if (ipLen <= 0) return true;
    const bit = this.txImpair.bit(ipLen * 8);
    frame[v + 14 + (bit >>> 3)]! ^= 1 << (bit & 7);
    return true;
  }

  /** {@link markRx} for transmit descriptor `d`, whose Ethernet and IPv4 headers are in its header buffer. */
  private markTx(d: number): boolean {
    const h = this.tx.header[d]!;
    if (h[12] !== 0x08 || h[13] !== 0x00 || !setCe(h[14]!, h[15]!, h[24]!, h[25]!, ceScratch)) return false;
    h[15] = ceScratch[0]!;
    h[24] = ceScratch[1]!;
    h[25] = ceScratch[2]!;
    this.txImpair.stats.marked++;
    return true;
  }

  /**
   * Send `count` posted transmit descriptors starting at `first`. A frame the device refuses
   * (queue full) is dropped and counted, as a NIC drops when its ring is full. With the fault
   * injector on, frames may be lost, duplicated, corrupted, or held back.
   */
  txService(first: number, count: number): number {
    const ring = this.tx;
    const imp = this.txImpair;
    const impair = imp.active;
    this.txRelease();
    let sent = 0;
    for (let k = 0; k < count; k++) {
      const d = (first + k) % ring.size;
      if (ring.vnetHdrLen > 0) this.writeVnet(d);
      if (!impair) {
        if (this.writeRing(d)) sent++;
        continue;
      }
      let fate = imp.decide();
      if (fate === Fate.CORRUPT && !(ring.header[d]![12] === 0x08 && ring.header[d]![13] === 0x00)) fate = fcsDrop(imp);
      if (fate === Fate.DROP) continue;
      if (fate === Fate.MARK && !this.markTx(d)) {
        imp.stats.dropped++;
        continue;
      }
      const now = this.clock.nowMs();
      let due = now + imp.delay();
      const dep = imp.departure(now, this.txLastDeparture, ring.frameLen[d]!);
      if (dep > 0) {
        this.txLastDeparture = dep;
        if (dep > due) due = dep;
      }
      if (fate === Fate.CORRUPT) {
        const copy = this.copyOutTx(d);
        if (!this.corruptTx(copy)) continue;
        hold(this.txHeld, { bytes: copy, dueMs: due, dueFrame: -1 }, imp.spec.queueFrames, imp.stats);
        continue;
      }
      if (fate === Fate.HOLD) {
        const s = imp.spec;
        hold(this.txHeld, { bytes: this.copyOutTx(d), dueMs: s.reorderMs > 0 ? now + s.reorderMs : now + MAX_REORDER_HOLD_MS, dueFrame: s.reorderMs > 0 ? -1 : this.txPassed + s.reorderFrames }, s.queueFrames, imp.stats);
        continue;
      }
      if (due > now) {
        const copy = this.copyOutTx(d);
        hold(this.txHeld, { bytes: copy, dueMs: due, dueFrame: -1 }, imp.spec.queueFrames, imp.stats);
        if (fate === Fate.DUP) hold(this.txHeld, { bytes: copy, dueMs: due, dueFrame: -1 }, imp.spec.queueFrames, imp.stats);
        continue;
      }
      if (this.writeRing(d)) sent++;
      this.txPassed++;
      if (fate === Fate.DUP && this.writeRing(d)) sent++;
      this.txRelease();
    }
    return sent;
  }
}

/** A frame the fault injector holds: due at a time, or after some frames passed it. */
interface HeldFrame {
  bytes: Uint8Array;
  dueMs: number;
  /** Release once this many frames passed (reordering by frames), or -1. */
  dueFrame: number;
}

/** A frame held for reordering by frames goes anyway after this long (traffic may stop): well
 * below the 200 ms minimum RTO, so reordering looks like reordering, not like loss. */
const MAX_REORDER_HOLD_MS = 10;

function hold(list: HeldFrame[], h: HeldFrame, max: number, stats: ImpairStats): void {
  if (list.length >= max) {
    stats.queueDropped++;
    return;
  }
  // Keep the list ordered by due time (stable: equal times keep their order).
  let i = list.length;
  while (i > 0 && list[i - 1]!.dueMs > h.dueMs) i--;
  list.splice(i, 0, h);
}

/** The first held frame that is due by time or by frames passed, removed from the list. */
function takeDue(list: HeldFrame[], now: number, passed: number): HeldFrame | null {
  for (let i = 0; i < list.length; i++) {
    const h = list[i]!;
    if (h.dueMs <= now || (h.dueFrame >= 0 && passed >= h.dueFrame)) {
      list.splice(i, 1);
      return h;
    }
  }
  return null;
}

/** Out of {@link setCe}: the new TOS byte and header checksum bytes. */
const ceScratch = new Uint8Array(3);

/**
 * CE for an IPv4 header starting with bytes `vihl`, `tos` whose checksum bytes are `c0`, `c1`:
 * false if the datagram is Not-ECT (RFC 3168 5: only ECN-capable packets are marked). Else
 * the TOS byte with ECN = 11 and the checksum updated incrementally (RFC 1624 eqn. 3:
 * HC' = ~(~HC + ~m + m')) go to `out`.
 */
export function setCe(vihl: number, tos: number, c0: number, c1: number, out: Uint8Array): boolean {
  if ((vihl & 0xf0) !== 0x40 || (tos & 3) === 0) return false;
  const m = (vihl << 8) | tos;
  const m2 = (vihl << 8) | tos | 3;
  let sum = (~((c0 << 8) | c1) & 0xffff) + (~m & 0xffff) + m2;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const hc = ~sum & 0xffff;
  out[0] = tos | 3;
  out[1] = hc >>> 8;
  out[2] = hc & 0xff;
  return true;
}

/**
 * A corrupted frame that is not IPv4 (ARP above all) has no checksum of ours to catch the flip;
 * on a wire the Ethernet FCS would, and the NIC would discard the frame. So it is lost instead:
 * counted as dropped, not as corrupted (every frame counted as corrupted is one a receiver
 * drops for a checksum).
 */
function fcsDrop(imp: Impairer): number {
  imp.stats.corrupted--;
  imp.stats.dropped++;
  return Fate.DROP;
}
