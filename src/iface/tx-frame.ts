/**
 * The transmit seam between a transport and the interface: one outgoing IPv4 datagram being
 * built. The interface writes the link and IP headers; the transport fills its header through
 * {@link TxFrame.header}, adds payload (pool pages by reference, or bytes by copy) and commits
 * with what it wants done (segmentation size, ECN's CWR rule, where its checksum field is), not
 * how: whether the device segments and checksums, and where in the descriptor the headers lie,
 * stay below. One object is reused for every frame (Interface.beginTransport): nothing is
 * allocated per segment.
 *
 * When the next hop is not resolved yet the frame is built in a copy instead, and committing it
 * queues that copy on the neighbour (the interface's ARP queue): the transport does the same
 * either way, and learns from {@link TxFrame.commit} how many of its bytes were copied.
 */
import type { Nic, TxOffload } from '../nic/nic.js';
import type { PagePool } from '../mem/page-pool.js';
import type { Ipv4Addr } from '../wire/addr.js';
import { writeU16 } from '../wire/bytes.js';
import { L4Checksum, pseudoHeaderSum } from '../wire/checksum.js';
import { ETHERNET_HEADER_LEN } from '../wire/ethernet.js';
import { IPPROTO_UDP, IPV4_MIN_HEADER_LEN } from '../wire/ipv4.js';
import type { TransportFrame } from './transport.js';

/** Where the transport header starts in a transmit header buffer: Ethernet, then IPv4 without options. */
const L4_OFFSET = ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN;
/** The UDP header's length field (RFC 768), rewritten per segment of a held USO frame. */
const UDP_LENGTH_OFFSET = 4;
/** The largest transport message an IPv4 datagram carries (RFC 791: total length is 16 bits). */
const L4_MAX = 65535 - IPV4_MIN_HEADER_LEN;

/** Where a held (unresolved) frame goes when committed: the interface's ARP queue. */
export interface TxHoldQueue {
  /** Queue the transport message `msg` (header and data, checksum complete) from `src` to `dst`. */
  holdTransport(src: Ipv4Addr, dst: Ipv4Addr, protocol: number, msg: Uint8Array, tos: number): void;
}

export class TxFrame implements TransportFrame {
  /**
   * The transport header, from offset 0: the transport writes its `l4HeaderLen` bytes here.
   * Valid until {@link commit}.
   */
  header: Uint8Array;
  /** Descriptor being filled, or -1 when the frame is held for ARP. */
  private d = -1;
  private src: Ipv4Addr = 0;
  private dst: Ipv4Addr = 0;
  private protocol = 0;
  private tos = 0;
  private headerLen = 0;
  /** Transport header and payload, as the IP header says. */
  private l4Len = 0;
  /** Held frames: bytes written into {@link held} after the header, and of them appended by reference. */
  private heldLen = 0;
  private heldRefBytes = 0;
  /** The transport header view of each transmit descriptor, made once. */
  private readonly views: Uint8Array[];
  /** A held frame's transport message, built here, then copied into the ARP queue. */
  private readonly held = new Uint8Array(L4_MAX);
  private readonly offload: TxOffload = { segmentSize: 0, ecn: false, udp: false, csumStart: L4_OFFSET, csumOffset: 0 };
  private readonly sum = new L4Checksum();

  constructor(
    private readonly nic: Nic,
    private readonly pool: PagePool,
    private readonly queue: TxHoldQueue,
  ) {
    const headers = nic.tx.header;
    this.views = new Array<Uint8Array>(headers.length);
    for (let d = 0; d < headers.length; d++) this.views[d] = headers[d]!.subarray(L4_OFFSET);
    this.header = this.held;
  }

  /** @internal The interface starts a frame in descriptor `d` (its link and IP headers written). */
  startDescriptor(d: number, src: Ipv4Addr, dst: Ipv4Addr, protocol: number, headerLen: number, l4Len: number, tos: number): void {
    this.d = d;
    this.src = src;
    this.l4Len = l4Len;
    this.header = this.views[d]!;
    this.dst = dst;
    this.protocol = protocol;
    this.headerLen = headerLen;
    this.tos = tos;
  }

  /** @internal The interface starts a frame held for ARP. */
  startHeld(src: Ipv4Addr, dst: Ipv4Addr, protocol: number, headerLen: number, tos: number): void {
    this.d = -1;
    this.src = src;
    this.header = this.held;
    this.dst = dst;
    this.protocol = protocol;
    this.headerLen = headerLen;
    this.tos = tos;
    this.heldLen = 0;
    this.heldRefBytes = 0;
  }

  /**
   * Add `len` bytes of pool page `page` from `offset`, by reference: the page stays unchanged
   * until the transport knows they arrived (it may send them again).
   */
  appendPage(page: number, offset: number, len: number): void {
    if (this.d >= 0) {
      this.nic.txAppendRaw(this.d, this.pool.pageOffset(page) + offset, len);
      return;
    }
    this.held.set(this.pool.view(page).subarray(offset, offset + len), this.headerLen + this.heldLen);
    this.heldLen += len;
    this.heldRefBytes += len;
  }

  /** Add `bytes[start, end)` by copy. */
  appendBytes(bytes: Uint8Array, start: number, end: number): void {
    if (this.d >= 0) {
      this.nic.txAppendCopy(this.d, bytes, start, end);
      return;
    }
    this.held.set(bytes.subarray(start, end), this.headerLen + this.heldLen);
    this.heldLen += end - start;
  }

  /**
   * Send the frame. `segmentSize` > 0 asks for segments of that much payload (TSO; only when
   * the interface offers it); `ecn`: CWR, if set, belongs to the first segment only (RFC 3168
   * 6.1.2). `csumOffset` is the checksum field's offset in the transport header; the field is
   * overwritten (with the pseudo-header sum, or the whole checksum).
   *
   * Returns how many bytes appended by reference were copied after all (the frame waited for
   * ARP): 0 on the fast path. A held frame keeps only its first segment (no TSO on a queued
   * copy); the rest goes again as the transport retransmits.
   */
  commit(segmentSize: number, ecn: boolean, csumOffset: number): number {
    const h = this.header;
    const field = csumOffset;
    const d = this.d;
    if (d >= 0) {
      // The partial-checksum convention (virtio 5.1.6.2): the field holds the pseudo-header
      // sum; the device or the driver finishes it over the rest.
      const p = pseudoHeaderSum(this.src, this.dst, this.protocol, this.l4Len);
      h[field] = p >>> 8;
      h[field + 1] = p & 0xff;
      const o = this.offload;
      o.segmentSize = segmentSize;
      o.ecn = ecn;
      o.udp = this.protocol === IPPROTO_UDP;
      o.csumOffset = csumOffset;
      this.nic.txCommit(d, L4_OFFSET + this.headerLen, o);
      this.d = -1;
      this.header = this.held;
      return 0;
    }
    if (segmentSize > 0 && this.protocol === IPPROTO_UDP) return this.holdUdpSegments(segmentSize, field);
    let data = this.heldLen;
    if (segmentSize > 0 && data > segmentSize) data = segmentSize;
    const len = this.headerLen + data;
    h[field] = 0;
    h[field + 1] = 0;
    const sum = this.sum.begin(pseudoHeaderSum(this.src, this.dst, this.protocol, len));
    sum.add(h, 0, len);
    if (this.protocol === IPPROTO_UDP) sum.storeUdp(h, field);
    else sum.store(h, field);
    this.queue.holdTransport(this.src, this.dst, this.protocol, h.subarray(0, len), this.tos);
    return Math.min(this.heldRefBytes, data);
  }

  /**
   * A held UDP frame that asked for segmentation: each segment is a datagram of its own (USO),
   * and none may be lost (UDP sends nothing again), so each is queued, with its own length and
   * checksum. The slow path: it allocates.
   */
  private holdUdpSegments(segmentSize: number, field: number): number {
    const h = this.header;
    const hl = this.headerLen;
    for (let off = 0; off < this.heldLen; off += segmentSize) {
      const n = Math.min(segmentSize, this.heldLen - off);
      const msg = new Uint8Array(hl + n);
      msg.set(h.subarray(0, hl));
      msg.set(h.subarray(hl + off, hl + off + n), hl);
      writeU16(msg, UDP_LENGTH_OFFSET, hl + n);
      writeU16(msg, field, 0);
      const sum = this.sum.begin(pseudoHeaderSum(this.src, this.dst, this.protocol, hl + n));
      sum.add(msg, 0, hl + n);
      sum.storeUdp(msg, field);
      this.queue.holdTransport(this.src, this.dst, this.protocol, msg, this.tos);
    }
    return this.heldRefBytes;
  }
}
