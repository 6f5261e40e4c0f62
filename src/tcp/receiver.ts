/**
 * The receiving half of a connection, as gVisor's rcv.go and Linux's tcp_data_queue/
 * __tcp_ack_snd_check hold it: the receive sequence space (RCV.NXT, the right edge last
 * advertised), the acceptability test (RFC 9293 3.10.7.4 "first"), in-order delivery to the
 * application and the out-of-order queue (out-of-order.ts), the ACK policy (RFC 5681 4.2,
 * RFC 1122 4.2.3.2: every second full-sized segment, at once for anything out of order, else
 * the delayed-ACK timer), the advertised window with receiver SWS avoidance (RFC 9293
 * 3.8.6.2.2) bounded by the receive memory, and the peer's timestamp (RFC 7323 4.3).
 *
 * It owns that state; the connection asks it what to do with a segment's text and what to put
 * in the window and ACK fields of the segments it sends, and learns from it when the peer's FIN
 * is reached ({@link ReceiverConnection.finReached}).
 */
import { PAGE_SIZE } from '../mem/arena.js';
import type { RxPayload } from '../mem/rx-payload.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe } from '../wire/seq.js';
import type { SegmentIn, TcpHost, TcpState, TcpUser } from './connection.js';
import { OutOfOrderQueue } from './out-of-order.js';
import type { TcpDropReason } from './reasons.js';
import { isSynchronized } from './states.js';

/** What the receiver reads of its connection. */
export interface ReceiverConnection {
  readonly host: TcpHost;
  readonly state: TcpState;
  readonly user: TcpUser | null;
  /** Our MSS as sent in the SYN: the size of the full-sized segments the peer sends us. */
  readonly ourMss: number;
  readonly tsOk: boolean;
  readonly sackOk: boolean;
  markDirty(): void;
  countDrop(reason: TcpDropReason): void;
  /** RCV.NXT passed the peer's FIN: the state machine moves (RFC 9293 3.10.7.4 "eighth"). */
  finReached(): void;
  /** Send an ACK now. */
  sendAck(): void;
  /** Make sure the connection's timers (the delayed ACK among them) are scheduled. */
  scheduleTimers(): void;
  /** Data was dropped for want of memory: call {@link TcpReceiver.rxRelieved} once there is some. */
  waitForMemory(): void;
}

export class TcpReceiver {
  /** Initial receive sequence number. */
  irs = 0;
  rcvNxt = 0;
  /** In-order data bytes delivered (tcp_info's bytes_received). */
  bytesReceived = 0;
  /** Right edge of the window last advertised (never moved left, RFC 9293 3.8.6.2.2). */
  rcvAdv = 0;
  /** Our window shift (RFC 7323 2.2), 0 unless both sides sent the option. */
  rcvWscale = 0;
  /** TS.Recent and when it was taken (RFC 7323 4.3, 5.5), and Last.ACK.sent. */
  tsRecent = 0;
  tsRecentAt = 0;
  private lastAckSent = 0;
  /** In-order bytes not acknowledged yet, and whether an ACK is due at once. */
  private ackPending = 0;
  ackNow = false;
  /** Two full-sized segments or more are unacknowledged: an ACK is due at the batch's end. */
  private ackAtBatchEnd = false;
  /**
   * The peer's FIN awaits its ACK until the application had its turn: an answer, and our FIN
   * when the application closes at once, then carry that ACK (RFC 1122 4.2.3.2 lets an ACK wait;
   * Linux delays the ACK of a FIN the same way, in its pingpong mode).
   */
  ackAfterApp = false;
  /** The delayed-ACK timer (clock ms; Infinity when off). */
  delackAt = Infinity;
  finReceived = false;
  /** Data was dropped for want of receive memory: the window stays closed until relief. */
  private rxStarved = false;
  /** Segments beyond RCV.NXT, and the SACK blocks our ACKs carry (out-of-order.ts). */
  readonly ooo: OutOfOrderQueue;

  constructor(private readonly c: ReceiverConnection) {
    const host = c.host;
    this.ooo = new OutOfOrderQueue(host, host.rxMemory.pool, host.countDrop);
  }

  /** The peer's SYN (or a SYN cookie's ACK) told us its initial sequence number. */
  open(irs: number): void {
    this.irs = irs;
    this.rcvNxt = seqAdd(irs, 1);
  }

  /** The window a SYN offers before the peer is known: a SYN's window is never scaled (RFC 7323 2.2). */
  initialWindow(): number {
    return Math.min(65535, this.c.host.config.rcvBuf);
  }

  /** RCV.WND: what the last advertisement left open. */
  get window(): number {
    return seqDiff(this.rcvAdv, this.rcvNxt);
  }

  /** Note the peer's timestamp (RFC 7323 4.3), taken from its SYN or a segment that moved our ACK. */
  takeTimestamp(tsVal: number, now: number): void {
    this.tsRecent = tsVal;
    this.tsRecentAt = now;
  }

  /**
   * RFC 7323 4.3: remember the timestamp of a segment that covers the last ACK we sent (never
   * an older one: a disordered ACK passed PAWS with it).
   */
  noteTimestamp(seg: SegmentIn, now: number): void {
    const o = seg.opts;
    if (this.c.tsOk && o.hasTimestamp && seqLe(seg.seq, this.lastAckSent) && seqGe(o.tsVal, this.tsRecent)) this.takeTimestamp(o.tsVal, now);
  }

  /** RFC 9293 3.10.7.4 "first": the acceptability test, for a segment of `segLen` sequence numbers. */
  acceptable(seq: number, segLen: number): boolean {
    const rcvWnd = this.window;
    if (segLen === 0) {
      if (rcvWnd === 0) return seq === this.rcvNxt;
      return seqInWindow(seq, this.rcvNxt, rcvWnd);
    }
    if (rcvWnd === 0) return false;
    return seqInWindow(seq, this.rcvNxt, rcvWnd) || seqInWindow(seqAdd(seq, segLen - 1), this.rcvNxt, rcvWnd);
  }

  /** RFC 9293 3.10.7.4 "seventh": the segment's text, in order or held out of order. */
  receiveData(seg: SegmentIn): void {
    const c = this.c;
    const host = c.host;
    let seq = seg.seq;
    let off = seg.dataOffset;
    let len = seg.dataLength;
    // Trim what we already have and what is beyond the window.
    const skip = seqDiff(this.rcvNxt, seq);
    if (skip > 0) {
      seq = this.rcvNxt;
      off += skip;
      len -= skip;
      host.stats.duplicateSegments++;
      this.ackNow = true; // RFC 2883 D-SACK territory: tell the peer at once
    }
    const room = seqDiff(this.rcvAdv, seq);
    if (len > room) len = Math.max(0, room);
    if (len <= 0) return;
    // Held out-of-order pages are off the free pool already; held copies are not.
    if (host.rxPoolPages() < pagesFor(len) + pagesFor(this.ooo.copiedBytes)) {
      // Receive memory is short: the windows of all connections together promised more than
      // the pool holds. Taking the pages kept for the NIC's ring and the application's trades
      // would stop both (nothing could be received or read again), so the segment is dropped
      // unacknowledged, and the window is retracted to zero until memory is back (as Linux
      // does; RFC 7323 2.4 and RFC 1122 4.2.2.16: the sender must be robust against a shrunk
      // window): the ACK at once then stops the peer instead of inviting a fast retransmit
      // into a pool that is still full.
      c.countDrop('tcp-rx-memory');
      this.rcvAdv = this.rcvNxt;
      if (!this.rxStarved) {
        this.rxStarved = true;
        c.waitForMemory();
      }
      this.ackNow = true;
      return;
    }
    const payload = seg.payload;
    if (seq !== this.rcvNxt) {
      // Out of order: keep it (bounded), ACK at once (RFC 5681 4.2: a duplicate ACK).
      this.ooo.hold(seq, payload, off, len, false, this.maxSackBlocks());
      this.ackNow = true;
      return;
    }
    this.deliver(payload, off, len);
    if (c.state === 'CLOSED') return; // the application destroyed it from its data handler
    this.ackPending += len;
    if (!this.ooo.isEmpty) {
      this.drainOutOfOrder();
      this.ackNow = true; // RFC 5681 4.2: ACK at once when a hole is filled
    }
    // RFC 5681 4.2 / RFC 1122 4.2.3.2: ACK at least every second full-sized segment, counting
    // the in-order segments of one receive batch as one, as Linux counts a GRO super-segment:
    // they are acknowledged once, at the batch's end (the same wake-up, so no later than the
    // per-segment ACKs would have left, all of them at that flush). Other in-order data waits
    // for the delayed-ACK timer (or for data of ours to carry the ACK).
    if (this.ackPending >= this.fullSizedPair()) this.ackAtBatchEnd = true;
    else if (!this.ackNow && this.delackAt === Infinity) {
      this.delackAt = host.clock.nowMs() + host.config.delayedAckMs;
      c.scheduleTimers();
    }
  }

  /** In-order bytes to the application: RCV.NXT moves past them. */
  private deliver(payload: RxPayload, off: number, len: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, len);
    this.bytesReceived += len;
    this.c.host.stats.bytesIn += len;
    this.c.user?.onData(payload, off, len);
  }

  /** Deliver the held segments the advance of RCV.NXT reached (and a FIN among them). */
  private drainOutOfOrder(): void {
    const q = this.ooo;
    for (let s = q.takeReady(this.rcvNxt); s !== null; s = q.takeReady(this.rcvNxt)) {
      const skip = seqDiff(this.rcvNxt, s.seq);
      // Whole held pages move on by index; the socket copies the rest.
      if (skip < s.len) this.deliver(q.payloadOf(s), skip, s.len - skip);
      const finAt = s.fin ? seqAdd(s.seq, s.len) : -1;
      q.release(s);
      if (finAt === this.rcvNxt) {
        this.receiveFin();
        break;
      }
    }
    q.forgetSackBelow(this.rcvNxt);
  }

  /** RFC 9293 3.10.7.4 "eighth": a FIN at `finAt` (its sequence number). */
  fin(finAt: number): void {
    if (finAt === this.rcvNxt) this.receiveFin();
    else if (seqGt(finAt, this.rcvNxt)) {
      this.ooo.hold(finAt, null, 0, 0, true, this.maxSackBlocks());
      this.ackNow = true; // RFC 5681 4.2: out of order, a duplicate ACK at once
    }
  }

  private receiveFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    this.c.finReached();
  }

  /**
   * RFC 5681 4.2: an ACK that is due (every second full-sized segment, out-of-order data, a
   * filled hole, a duplicate, a FIN) leaves now, not at the end of the receive batch: a batch
   * may hold hundreds of segments, and with at most 3 SACK blocks per ACK (RFC 2018 3) the
   * ranges between holes would go unreported and the sender would resend data we hold. Other
   * ACKs wait for the batch's flush (or the delayed-ACK timer).
   */
  afterSegment(): void {
    const c = this.c;
    if (this.ackNow && !this.ackAfterApp) {
      // SYN-RECEIVED has no ACK of its own (its SYN-ACK is the connection's).
      if (isSynchronized(c.state)) c.sendAck();
    } else if (this.ackNow || this.ackPending > 0) c.markDirty();
  }

  /** Whether the batch's flush should send an ACK if no data carries one. */
  ackDue(): boolean {
    return this.ackNow || this.ackAtBatchEnd || (this.ackPending > 0 && this.delackAt === Infinity);
  }

  /** Two full-sized segments of the peer's (its MSS less the timestamp option we agreed on). */
  private fullSizedPair(): number {
    return 2 * this.c.ourMss - (this.c.tsOk ? 24 : 0);
  }

  /** The SACK blocks an ACK of ours may carry now (RFC 2018 3: 3 beside timestamps, else 4; 0 without SACK). */
  private maxSackBlocks(): number {
    return this.c.sackOk ? (this.c.tsOk ? 3 : 4) : 0;
  }

  /** SACK blocks our next segment carries (0 without SACK). */
  get sackCount(): number {
    return this.c.sackOk ? this.ooo.sackCount : 0;
  }

  /**
   * The window field of a segment going out (RFC 9293 3.8.6.2.2; RFC 7323 2.2: SYNs carry it
   * unscaled), and the right edge it advertises.
   */
  advertise(syn: boolean): number {
    if (syn) {
      const window = this.initialWindow();
      this.rcvAdv = seqAdd(this.rcvNxt, window);
      return window;
    }
    const edge = this.rightEdge();
    this.rcvAdv = edge;
    const window = Math.max(0, seqDiff(edge, this.rcvNxt)) >>> this.rcvWscale;
    return window > 65535 ? 65535 : window;
  }

  /** A segment carrying our ACK of RCV.NXT went out: nothing is pending any more. */
  ackSent(): void {
    const pair = this.fullSizedPair();
    if (this.ackPending >= 2 * pair) this.c.host.stats.acksCoalesced += Math.floor(this.ackPending / pair) - 1;
    this.lastAckSent = this.rcvNxt;
    this.ackPending = 0;
    this.ackNow = false;
    this.ackAtBatchEnd = false;
    if (this.delackAt !== Infinity) this.delackAt = Infinity;
  }

  /** The application read data: the window may have opened enough to tell the peer. */
  windowUpdate(): void {
    const c = this.c;
    if (c.state === 'CLOSED' || c.state === 'LISTEN' || c.state === 'SYN-SENT') return;
    // After the peer's FIN no data can come that a window would let in: an update would only be
    // a segment more, and one that reaches a peer which has closed since (its LAST-ACK answered)
    // draws a RST. Linux sends none once the receive side is shut (tcp_cleanup_rbuf).
    if (this.finReceived) return;
    const cfg = c.host.config;
    // Nothing received yet and the peer still holds the whole window the SYN-ACK promised: it
    // has not been limited by it, and the ACK of its first data carries the larger window (an
    // ACK right after the handshake would only repeat itself; Linux sends a window update only
    // after the application read something).
    if (this.rcvNxt === seqAdd(this.irs, 1) && this.window >= this.initialWindow()) return;
    const grow = seqDiff(this.rightEdge(), this.rcvAdv);
    // Tell the peer once the window grew by two segments or half the buffer (Linux: similar).
    if (grow >= Math.min(2 * c.ourMss, cfg.rcvBuf / 2) || (this.window < c.ourMss && grow >= c.ourMss)) {
      this.ackNow = true;
      c.markDirty();
    }
  }

  /** The host has receive memory again: the window may open (see {@link TcpHost.rxStarved}). */
  rxRelieved(): void {
    this.rxStarved = false;
    this.windowUpdate();
  }

  /** The right edge we may advertise now: buffer room, with receiver SWS avoidance. */
  private rightEdge(): number {
    if (this.rxStarved) return this.rcvAdv; // closed until the host has memory again
    const c = this.c;
    const cfg = c.host.config;
    const buffered = (c.user?.bufferedBytes() ?? 0) + this.ooo.bytes;
    // Memory: received data lies in pool pages (whole pages per segment) until it is read, so
    // the window also stops at what the free pool beyond the reserve can hold.
    const room = Math.max(0, Math.min(cfg.rcvBuf - buffered, c.host.rxPoolPages() * this.payloadPerPage()));
    const maxWnd = 65535 << this.rcvWscale;
    const edge = seqAdd(this.rcvNxt, Math.min(room, maxWnd));
    // RFC 9293 3.8.6.2.2: move the edge only by at least min(buffer / 2, MSS).
    if (seqLe(edge, this.rcvAdv) || seqDiff(edge, this.rcvAdv) < Math.min(cfg.rcvBuf / 2, c.ourMss)) return this.rcvAdv;
    return edge;
  }

  /** Payload bytes a pool page holds when the peer sends full-sized segments. */
  private payloadPerPage(): number {
    const seg = this.c.ourMss - (this.c.tsOk ? 12 : 0);
    return Math.floor(seg / pagesFor(seg));
  }

  /** The delayed-ACK timer (RFC 1122 4.2.3.2) fired. */
  onDelackTimer(): void {
    this.delackAt = Infinity;
    if (this.ackPending > 0) {
      this.c.host.stats.delayedAcks++;
      this.ackNow = true;
      this.c.markDirty();
    }
  }

  /** The connection is over: held segments go back to the pool. */
  clear(): void {
    this.delackAt = Infinity;
    this.ooo.clear();
  }
}

/** Pool pages `bytes` of received data take. */
function pagesFor(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE);
}
