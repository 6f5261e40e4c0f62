/**
 * Fault injection as a frame device around the real one (smoltcp's phy::FaultInjector), in
 * place of netem, which this kernel lacks: loss in bursts, duplication, reordering by frames or
 * by time, corruption, ECN marks, delay with jitter and a rate limit, per direction and seeded
 * (firmware/impairments.ts has the decisions and the text form). A TSO/GSO frame is one frame.
 *
 * Frames it holds back (delay, reordering, rate limit, duplicates waiting for their turn) leave
 * when due: received ones with the next read of the main queue, transmitted ones with the next
 * frame written or {@link release}. {@link nextDeadline} tells the NIC when to poll for them.
 * A frame lost on receive is still handed up, flagged {@link lostOnReceive}: it crossed the
 * wire, so a capture above shows it, and the NIC drops it. What was done to a frame goes with it
 * as a note for a capture (pcapng comments): on receive in {@link rxNote}, on transmit through
 * the layer below's `noteNextWrite`, and a frame lost on transmit is shown to it by `noteDropped`.
 */
import koffi from 'koffi';
import type { FrameDevice } from '../../firmware/device.js';
import type { Clock } from '../clock.js';
import { finishedPartialChecksum, onesComplementSum } from '../wire/checksum.js';
import { emptyImpairStats, Fate, Impairer, type ImpairmentSpec, type ImpairStats } from '../../firmware/impairments.js';
import { VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VNET_SLOT } from '../../firmware/rings.js';
import { DeviceDecorator } from './decorator.js';
import { ScatterList } from './scatter.js';

/** What the receive side did with a frame. */
const Rx = { PASS: 0, LOST: 1, HELD: 2 } as const;

/** The notes a capture shows on a frame (one string each: nothing is built per frame). */
const NOTE = {
  lostRx: 'fault injector: lost (not delivered)',
  lostTx: 'fault injector: lost (not sent)',
  lostTso: 'fault injector: lost (a corrupted TSO frame: not sent)',
  delayed: 'fault injector: delayed',
  reordered: 'fault injector: held back (reordering)',
  duplicate: 'fault injector: duplicate',
  corrupted: 'fault injector: corrupted (one bit flipped)',
  corruptedDelayed: 'fault injector: corrupted (one bit flipped), delayed',
  marked: 'fault injector: CE marked',
  markedDelayed: 'fault injector: CE marked, delayed',
} as const;

/** The largest frame held for transmit: a 64 KiB TSO frame and its virtio-net header. */
const TX_HELD_MAX = VNET_SLOT + 65536 + 64;

export class FaultInjectingDevice extends DeviceDecorator {
  rxImpair: Impairer;
  txImpair: Impairer;
  private readonly rxHeld: HeldFrame[] = [];
  private readonly txHeld: HeldFrame[] = [];
  private rxPassed = 0;
  private txPassed = 0;
  private rxLastDeparture = 0;
  private txLastDeparture = 0;
  private lost = false;
  private note: string | null = null;
  private readonly frame = new ScatterList();
  /**
   * Memory for writing a held frame: one iovec, then the frame. An ArrayBuffer's memory is
   * outside V8's heap and never moves, so its address can go to the device.
   */
  private readonly scratch = new Uint8Array(new ArrayBuffer(64 + TX_HELD_MAX));
  private readonly scratchIov = new BigUint64Array(this.scratch.buffer, 0, 2);
  private readonly scratchAddr: bigint = koffi.address(this.scratch);

  constructor(
    inner: FrameDevice,
    spec: ImpairmentSpec,
    private readonly clock: Clock,
  ) {
    super(inner);
    this.rxImpair = new Impairer(spec.rx, spec.seed * 2 + 1);
    this.txImpair = new Impairer(spec.tx, spec.seed * 2 + 2);
    this.scratchIov[0] = this.scratchAddr + 64n;
  }

  /** Replace the impairments at run time (tests, the CLI). */
  setImpairments(spec: ImpairmentSpec): void {
    this.rxImpair = new Impairer(spec.rx, spec.seed * 2 + 1);
    this.txImpair = new Impairer(spec.tx, spec.seed * 2 + 2);
  }

  override get lostOnReceive(): boolean {
    return this.lost;
  }

  override get rxNote(): string | null {
    return this.note;
  }

  override nextDeadline(): number {
    let t = super.nextDeadline();
    for (const h of this.rxHeld) if (h.dueMs < t) t = h.dueMs;
    for (const h of this.txHeld) if (h.dueMs < t) t = h.dueMs;
    return t;
  }

  /**
   * The next frame of receive queue `queue`: a held frame that is due first (main queue only),
   * else the device's next frame that is not held back here.
   */
  override readv(iov: bigint, iovcnt: number, queue = 0): number {
    this.lost = false;
    this.note = null;
    if (this.rxHeld.length > 0 && queue === 0) {
      const h = takeDue(this.rxHeld, this.clock.nowMs(), this.rxPassed);
      if (h) {
        this.rxPassed++;
        this.note = h.note;
        return this.frame.load(iov, iovcnt).fill(h.bytes);
      }
    }
    const active = this.rxImpair.active;
    for (;;) {
      const n = this.inner.readv(iov, iovcnt, queue);
      if (n < 0) return n;
      this.note = this.inner.rxNote ?? null;
      if (this.inner.lostOnReceive) {
        this.lost = true;
        return n;
      }
      // Not even an Ethernet header: passed on as it is, for the NIC to count.
      if (n - this.vnetHdrLen < 14) return n;
      const fate = active ? this.impairRx(iov, iovcnt, n) : Rx.PASS;
      if (fate === Rx.HELD) continue;
      if (fate === Rx.LOST) {
        this.lost = true;
        this.note = NOTE.lostRx;
        return n;
      }
      this.rxPassed++;
      return n;
    }
  }

  /** The receive side for a frame of `n` bytes (virtio-net header included) in the iovecs. */
  private impairRx(iov: bigint, iovcnt: number, n: number): number {
    const imp = this.rxImpair;
    const f = this.frame.load(iov, iovcnt, n);
    const v = this.vnetHdrLen;
    const len = n - v;
    let fate = imp.decide();
    if (fate === Fate.CORRUPT && !isIpv4(f, v)) fate = fcsDrop(imp);
    if (fate === Fate.MARK && !markCe(f, v, len, imp)) {
      imp.stats.dropped++;
      return Rx.LOST;
    }
    if (fate === Fate.DROP) return Rx.LOST;
    const now = this.clock.nowMs();
    if (fate === Fate.CORRUPT) this.corruptRx(f, len);
    let due = now + imp.delay();
    const dep = imp.departure(now, this.rxLastDeparture, len);
    if (dep > 0) {
      this.rxLastDeparture = dep;
      if (dep > due) due = dep;
    }
    const s = imp.spec;
    if (fate === Fate.DUP) hold(this.rxHeld, { bytes: f.copy(0, n), dueMs: due, dueFrame: -1, note: NOTE.duplicate }, s.queueFrames, imp.stats);
    if (fate === Fate.HOLD) {
      hold(this.rxHeld, { bytes: f.copy(0, n), dueMs: s.reorderMs > 0 ? now + s.reorderMs : now + MAX_REORDER_HOLD_MS, dueFrame: s.reorderMs > 0 ? -1 : this.rxPassed + s.reorderFrames, note: NOTE.reordered }, s.queueFrames, imp.stats);
      return Rx.HELD;
    }
    const changed = fate === Fate.CORRUPT ? NOTE.corrupted : fate === Fate.MARK ? NOTE.marked : null;
    if (due > now) {
      const note = fate === Fate.CORRUPT ? NOTE.corruptedDelayed : fate === Fate.MARK ? NOTE.markedDelayed : NOTE.delayed;
      hold(this.rxHeld, { bytes: f.copy(0, n), dueMs: due, dueFrame: -1, note }, s.queueFrames, imp.stats);
      return Rx.HELD;
    }
    if (changed) this.note = changed;
    return Rx.PASS;
  }

  /**
   * Flip one bit of the IP datagram, as the wire would, after finishing a checksum the kernel
   * left partial (on a wire every checksum is final, so the receiver's check catches the flip).
   * Only bits the IP and transport checksums cover are flipped: a TAP has no Ethernet FCS.
   */
  private corruptRx(f: ScatterList, len: number): void {
    const v = this.vnetHdrLen;
    if (v > 0 && f.byteAt(0) & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      const start = f.byteAt(6) | (f.byteAt(7) << 8);
      const off = f.byteAt(8) | (f.byteAt(9) << 8);
      const c = finishedPartialChecksum(f.sum(v + start, v + len), off);
      f.setByteAt(v + start + off, c >>> 8);
      f.setByteAt(v + start + off + 1, c & 0xff);
      f.setByteAt(0, f.byteAt(0) & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID));
    } else if (v > 0) {
      f.setByteAt(0, f.byteAt(0) & ~VIRTIO_NET_HDR_F_DATA_VALID);
    }
    const ipLen = Math.min(len - 14, (f.byteAt(v + 16) << 8) | f.byteAt(v + 17));
    if (ipLen <= 0) return;
    const bit = this.rxImpair.bit(ipLen * 8);
    const i = v + 14 + (bit >>> 3);
    f.setByteAt(i, f.byteAt(i) ^ (1 << (bit & 7)));
  }

  /**
   * Send one frame through the transmit side. A frame lost here counts as written (it is the
   * wire that lost it); one held back is written when due.
   */
  override writev(iov: bigint, iovcnt: number): number {
    const imp = this.txImpair;
    if (!imp.active) return this.inner.writev(iov, iovcnt);
    const f = this.frame.load(iov, iovcnt);
    const total = f.length;
    const v = this.vnetHdrLen;
    const len = total - v;
    let fate = imp.decide();
    if (fate === Fate.CORRUPT && !isIpv4(f, v)) fate = fcsDrop(imp);
    if (fate === Fate.DROP) {
      this.inner.noteDropped?.(iov, iovcnt, NOTE.lostTx);
      return total;
    }
    if (fate === Fate.MARK && !markCe(f, v, len, imp)) {
      imp.stats.dropped++;
      this.inner.noteDropped?.(iov, iovcnt, NOTE.lostTx);
      return total;
    }
    const now = this.clock.nowMs();
    let due = now + imp.delay();
    const dep = imp.departure(now, this.txLastDeparture, len);
    if (dep > 0) {
      this.txLastDeparture = dep;
      if (dep > due) due = dep;
    }
    const s = imp.spec;
    if (fate === Fate.CORRUPT) {
      const copy = f.copy(0, total);
      if (this.corruptTx(copy)) hold(this.txHeld, { bytes: copy, dueMs: due, dueFrame: -1, note: due > now ? NOTE.corruptedDelayed : NOTE.corrupted }, s.queueFrames, imp.stats);
      else this.inner.noteDropped?.(iov, iovcnt, NOTE.lostTso);
      return total;
    }
    if (fate === Fate.HOLD) {
      hold(this.txHeld, { bytes: f.copy(0, total), dueMs: s.reorderMs > 0 ? now + s.reorderMs : now + MAX_REORDER_HOLD_MS, dueFrame: s.reorderMs > 0 ? -1 : this.txPassed + s.reorderFrames, note: NOTE.reordered }, s.queueFrames, imp.stats);
      return total;
    }
    if (due > now) {
      const copy = f.copy(0, total);
      hold(this.txHeld, { bytes: copy, dueMs: due, dueFrame: -1, note: fate === Fate.MARK ? NOTE.markedDelayed : NOTE.delayed }, s.queueFrames, imp.stats);
      if (fate === Fate.DUP) hold(this.txHeld, { bytes: copy, dueMs: due, dueFrame: -1, note: NOTE.duplicate }, s.queueFrames, imp.stats);
      return total;
    }
    if (fate === Fate.MARK) this.inner.noteNextWrite?.(NOTE.marked);
    const n = this.inner.writev(iov, iovcnt);
    this.txPassed++;
    if (fate === Fate.DUP) {
      this.inner.noteNextWrite?.(NOTE.duplicate);
      this.inner.writev(iov, iovcnt);
    }
    this.releaseDue();
    return n;
  }

  /**
   * Corrupt a transmit copy: finish its partial checksum, then flip one bit of the IP datagram.
   * A TSO frame cannot be corrupted this way (the kernel would checksum the flipped bytes when
   * it segments): it is dropped instead, as the receiver would drop the corrupted segment.
   */
  private corruptTx(frame: Uint8Array): boolean {
    const v = this.vnetHdrLen;
    if (v > 0 && frame[1] !== VIRTIO_NET_HDR_GSO_NONE) return false;
    if (v > 0 && frame[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      const start = v + (frame[6]! | (frame[7]! << 8));
      const offset = frame[8]! | (frame[9]! << 8);
      const field = start + offset;
      const c = finishedPartialChecksum(onesComplementSum(frame, start, frame.length), offset);
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

  /** Held transmit frames whose time has come, then those of the layers below. */
  override release(): void {
    this.releaseDue();
    super.release();
  }

  private releaseDue(): void {
    if (this.txHeld.length === 0) return;
    const now = this.clock.nowMs();
    for (let h = takeDue(this.txHeld, now, this.txPassed); h; h = takeDue(this.txHeld, now, this.txPassed)) {
      this.scratch.set(h.bytes, 64);
      this.scratchIov[1] = BigInt(h.bytes.length);
      if (h.note !== null) this.inner.noteNextWrite?.(h.note);
      this.inner.writev(this.scratchAddr, 1);
      this.txPassed++;
    }
  }

  /** Held frames are dropped: the link is going away. */
  override close(): void {
    this.rxHeld.length = 0;
    this.txHeld.length = 0;
    super.close();
  }
}

/**
 * The fault injectors' counters in a stack of layers over a device: each direction summed over
 * every injector in it (Stack.open puts one on each side of a capture).
 */
export function impairStats(device: FrameDevice): { rx: ImpairStats; tx: ImpairStats } {
  const rx = emptyImpairStats();
  const tx = emptyImpairStats();
  for (let d: FrameDevice = device; d instanceof DeviceDecorator; d = d.inner) {
    if (!(d instanceof FaultInjectingDevice)) continue;
    addStats(rx, d.rxImpair.stats);
    addStats(tx, d.txImpair.stats);
  }
  return { rx, tx };
}

function addStats(to: ImpairStats, from: ImpairStats): void {
  for (const k of Object.keys(to) as (keyof ImpairStats)[]) to[k] += from[k];
}

/** A frame the fault injector holds: due at a time, or after some frames passed it. */
interface HeldFrame {
  /** The frame with its virtio-net header first. */
  bytes: Uint8Array;
  dueMs: number;
  /** Release once this many frames passed (reordering by frames), or -1. */
  dueFrame: number;
  /** What was done to it, for a capture. */
  note: string | null;
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

function isIpv4(f: ScatterList, v: number): boolean {
  return f.byteAt(v + 12) === 0x08 && f.byteAt(v + 13) === 0x00;
}

/** Out of {@link setCe}: the new TOS byte and header checksum bytes. */
const ceScratch = new Uint8Array(3);

/**
 * Congestion at a router with ECN (RFC 3168 5): CE on an ECN-capable IPv4 frame, counted.
 * False for a frame that is not ECN-capable: the router drops it instead.
 */
function markCe(f: ScatterList, v: number, len: number, imp: Impairer): boolean {
  if (len < 34 || !isIpv4(f, v) || !setCe(f.byteAt(v + 14), f.byteAt(v + 15), f.byteAt(v + 24), f.byteAt(v + 25), ceScratch)) return false;
  f.setByteAt(v + 15, ceScratch[0]!);
  f.setByteAt(v + 24, ceScratch[1]!);
  f.setByteAt(v + 25, ceScratch[2]!);
  imp.stats.marked++;
  return true;
}

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
