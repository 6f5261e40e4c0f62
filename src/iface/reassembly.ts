/**
 * IPv4 fragment reassembly.
 *
 * - RFC 791 section 3.2 (reassembly procedure): fragments are grouped by (source, destination,
 *   protocol, identification); the datagram is complete when the last fragment (MF = 0) has
 *   fixed the total length and every byte before it has arrived.
 * - RFC 815: instead of a bit table, track what is missing. Because overlaps are refused (below),
 *   the received ranges never intersect, so "no holes left" is simply
 *   `bytes received === total length`, an O(1) test; the sorted list of received ranges is kept
 *   only to find overlaps and duplicates.
 * - RFC 5722 section 4 (with Errata 3089), which is written for IPv6 and applied here to IPv4 as
 *   Linux does: if any fragment overlaps another without being an exact duplicate, the whole
 *   datagram is discarded, and its later fragments are discarded too (we keep a "tombstone" until
 *   the datagram would have timed out). Exact duplicates are ignored. Overlap is how the
 *   Teardrop / Rose / firewall-evasion attacks work; there is no legitimate sender of it.
 *
 * A datagram that breaks any rule here (overlap, bad length, too big, too many fragments) is
 * discarded whole and tombstoned the same way: it can no longer be reassembled correctly, and its
 * remaining fragments would otherwise sit in memory until the timeout.
 *
 * The buffer of a datagram is the buffer handed back on completion: fragment payloads are copied
 * once, into place, and the result is not copied again.
 */
import type { Clock } from '../clock.js';
import type { ReassemblyDrop } from './reasons.js';

/** RFC 791 section 3.2: fragments belong together if these four fields match. */
export interface FragmentKey {
  src: number;
  dst: number;
  protocol: number;
  id: number;
}

/** Defined with the interface's other reasons (reasons.ts); re-exported for the reassembler's users. */
export type { ReassemblyDrop };

/**
 * `fragments` counts every call to `add()`, `datagrams` every datagram reassembled.
 * `drops` counts discard events: one for each datagram discarded (with whatever it held), plus
 * one for each later fragment refused because its datagram had been discarded (counted under the
 * reason the datagram was discarded for). Exact duplicates are ignored and not counted as drops.
 */
export interface ReassemblyStats {
  datagrams: number;
  fragments: number;
  drops: Record<ReassemblyDrop, number>;
}

export interface ReassemblerOptions {
  /**
   * Lifetime of an incomplete datagram, counted from its first fragment and not restarted by
   * later ones (RFC 1122 section 3.3.2: a fixed timeout, rather than RFC 791's per-fragment TTL
   * rule). RFC 791 section 3.2 recommends 15 s initially, RFC 1122 60-120 s; Linux uses 30 s
   * (net.ipv4.ipfrag_time), and so do we.
   */
  timeoutMs?: number;
  /** Bound on the bytes held in reassembly buffers (Linux ipfrag_high_thresh: 4 MiB). */
  maxBytes?: number;
  /** Bound on datagrams tracked at once, tombstones included (each costs memory too). */
  maxDatagrams?: number;
  /**
   * Bound on distinct fragments of one datagram. FreeBSD's net.inet.ip.maxfragsperpacket is 16,
   * which refuses a 64 KiB datagram over MTU 576 (119 fragments); 128 admits that.
   */
  maxFragmentsPerDatagram?: number;
  /**
   * Called when an incomplete datagram times out. `firstFragment` is the payload of fragment
   * zero if it arrived, else null: RFC 792 (Time Exceeded, code 1) says that without fragment
   * zero no Time Exceeded need be sent, since there is nothing to quote. The view is only valid
   * during the call.
   */
  onExpire?: (key: FragmentKey, firstFragment: Uint8Array | null) => void;
}

export const REASSEMBLY_TIMEOUT_MS = 30_000;
export const REASSEMBLY_MAX_BYTES = 4 * 1024 * 1024;
export const REASSEMBLY_MAX_DATAGRAMS = 1024;
export const REASSEMBLY_MAX_FRAGMENTS = 128;
/** RFC 791 section 3.1: Total Length is 16 bits and includes the (at least 20-byte) header. */
export const MAX_DATAGRAM_PAYLOAD = 65535 - 20;
/** RFC 791 section 3.1: Fragment Offset is 13 bits, in units of 8 octets. */
const MAX_FRAGMENT_OFFSET = 8191 * 8;

/** One datagram being reassembled, or a tombstone (`buf === null`, `dead` set). */
interface Datagram {
  readonly key: FragmentKey;
  readonly createdMs: number;
  buf: Uint8Array | null;
  dead: ReassemblyDrop | null;
  /** Total payload length once the last fragment (MF = 0) arrived, else -1. */
  total: number;
  /** Bytes received; ranges never overlap, so complete when this equals `total`. */
  received: number;
  /** Largest end offset seen (a last fragment must not end before it). */
  maxEnd: number;
  /** Received [start, end) ranges, flattened and sorted by start: s0, e0, s1, e1, ... */
  ranges: number[];
  /** Length of fragment zero's payload, or -1 if it has not arrived. */
  firstLen: number;
}

/** Reassembles IPv4 datagrams from fragments, with bounded memory and time. */
export class Reassembler {
  readonly stats: ReassemblyStats = {
    datagrams: 0,
    fragments: 0,
    drops: {
      'frag-overlap': 0,
      'frag-timeout': 0,
      'frag-too-big': 0,
      'frag-memory': 0,
      'frag-bad-length': 0,
      'frag-too-many': 0,
    },
  };
  /**
   * In insertion order, which is creation order and so deadline order (one timeout for all):
   * the first entries are the oldest, for both expiry and eviction.
   */
  private readonly table = new Map<string, Datagram>();
  private held = 0;
  private live = 0;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxDatagrams: number;
  private readonly maxFragments: number;
  private readonly onExpire: ReassemblerOptions['onExpire'];

  constructor(
    private readonly clock: Clock,
    opts: ReassemblerOptions = {},
  ) {
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs ?? REASSEMBLY_TIMEOUT_MS);
    this.maxBytes = positive('maxBytes', opts.maxBytes ?? REASSEMBLY_MAX_BYTES);
    this.maxDatagrams = positive('maxDatagrams', opts.maxDatagrams ?? REASSEMBLY_MAX_DATAGRAMS);
    this.maxFragments = positive('maxFragmentsPerDatagram', opts.maxFragmentsPerDatagram ?? REASSEMBLY_MAX_FRAGMENTS);
    this.onExpire = opts.onExpire;
  }

  /** Bytes held in reassembly buffers. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Datagrams being reassembled (tombstones not included). */
  get pending(): number {
    return this.live;
  }

  /**
   * Offer one fragment's payload (the bytes after the IPv4 header). `offsetBytes` is the fragment
   * offset times 8. Returns the whole datagram payload when this fragment completes it, else
   * null. The payload is copied, so the caller may reuse its buffer; the returned buffer belongs
   * to the caller (it may be a view on a somewhat larger ArrayBuffer: no final copy is made). Only pass real fragments (MF set or offset non-zero): an empty payload is
   * refused as 'frag-bad-length'.
   */
  add(key: FragmentKey, offsetBytes: number, moreFragments: boolean, payload: Uint8Array): Uint8Array | null {
    this.stats.fragments++;
    const k = `${key.src >>> 0},${key.dst >>> 0},${key.protocol},${key.id}`;
    const now = this.clock.nowMs();
    let d = this.table.get(k);
    if (d !== undefined && now - d.createdMs >= this.timeoutMs) {
      // Past its deadline but expire() has not run yet: it is gone all the same.
      this.expireEntry(k, d);
      d = undefined;
    }
    if (d !== undefined && d.dead !== null) {
      this.stats.drops[d.dead]++;
      return null;
    }

    const len = payload.length;
    const end = offsetBytes + len;
    // RFC 791 section 3.2: every fragment but the last carries a multiple of 8 octets, since the
    // next one's offset is counted in 8-octet units. An empty fragment carries nothing at all.
    if (
      len === 0 ||
      (moreFragments && len % 8 !== 0) ||
      !Number.isInteger(offsetBytes) ||
      offsetBytes < 0 ||
      offsetBytes % 8 !== 0 ||
      offsetBytes > MAX_FRAGMENT_OFFSET
    ) {
      return this.refuse(k, key, d, now, 'frag-bad-length');
    }
    // RFC 791 section 3.1: the reassembled datagram must fit a 16-bit Total Length ("ping of death").
    if (end > MAX_DATAGRAM_PAYLOAD) return this.refuse(k, key, d, now, 'frag-too-big');

    if (d === undefined) {
      this.makeRoomForEntry();
      d = {
        key: { src: key.src >>> 0, dst: key.dst >>> 0, protocol: key.protocol, id: key.id },
        createdMs: now,
        buf: null,
        dead: null,
        total: -1,
        received: 0,
        maxEnd: 0,
        ranges: [],
        firstLen: -1,
      };
      this.table.set(k, d);
      this.live++;
    }

    // Fragments that disagree about where the datagram ends overlap in effect (RFC 5722 section 4).
    if (!moreFragments) {
      if ((d.total >= 0 && end !== d.total) || end < d.maxEnd) return this.kill(d, 'frag-overlap');
    } else if (d.total >= 0 && end > d.total) {
      return this.kill(d, 'frag-overlap');
    }

    // Find where [offsetBytes, end) goes among the received ranges.
    const r = d.ranges;
    let lo = 0;
    let hi = r.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid * 2]! < offsetBytes) lo = mid + 1;
      else hi = mid;
    }
    const at = lo * 2;
    if (at < r.length && r[at] === offsetBytes && r[at + 1] === end) return null; // exact duplicate: ignore
    if ((at > 0 && r[at - 1]! > offsetBytes) || (at < r.length && r[at]! < end)) return this.kill(d, 'frag-overlap');

    if (r.length / 2 >= this.maxFragments) return this.kill(d, 'frag-too-many');

    // Grow the buffer: to the exact size once the total is known, else by doubling.
    const total = moreFragments ? d.total : end;
    const cap = d.buf === null ? 0 : d.buf.length;
    const need = total >= 0 ? total : end;
    if (need > cap) {
      const newCap = total >= 0 ? total : Math.min(MAX_DATAGRAM_PAYLOAD, Math.max(end, cap * 2));
      if (!this.makeRoomForBytes(d, newCap - cap)) {
        // This datagram alone is more than the memory bound allows.
        this.remove(k, d);
        this.stats.drops['frag-memory']++;
        return null;
      }
      const nb = new Uint8Array(newCap);
      if (d.buf !== null) nb.set(d.buf);
      d.buf = nb;
      this.held += newCap - cap;
    }

    d.buf!.set(payload, offsetBytes);
    r.splice(at, 0, offsetBytes, end);
    d.received += len;
    if (end > d.maxEnd) d.maxEnd = end;
    if (offsetBytes === 0) d.firstLen = len;
    if (!moreFragments) d.total = end;

    if (d.total >= 0 && d.received === d.total) {
      const out = d.buf!.subarray(0, d.total);
      this.remove(k, d);
      this.stats.datagrams++;
      return out;
    }
    return null;
  }

  /**
   * Discards datagrams whose time is up (RFC 791 section 3.2: when the timer runs out, the
   * reassembly resources are released). Call from a timer. Returns the number of incomplete
   * datagrams expired; tombstones are cleared silently, having been counted when made.
   */
  expire(): number {
    const now = this.clock.nowMs();
    let n = 0;
    for (const [k, d] of this.table) {
      if (now - d.createdMs < this.timeoutMs) break; // later entries are younger
      if (d.dead === null) n++;
      this.expireEntry(k, d);
    }
    return n;
  }

  private expireEntry(k: string, d: Datagram): void {
    if (d.dead !== null) {
      this.table.delete(k);
      return;
    }
    const first = d.firstLen >= 0 && d.buf !== null ? d.buf.subarray(0, d.firstLen) : null;
    this.remove(k, d);
    this.stats.drops['frag-timeout']++;
    this.onExpire?.(d.key, first);
  }

  /** Refuses a bad fragment and discards (tombstones) its datagram, creating the tombstone if new. */
  private refuse(k: string, key: FragmentKey, d: Datagram | undefined, now: number, why: ReassemblyDrop): null {
    if (d !== undefined) return this.kill(d, why);
    this.makeRoomForEntry();
    this.table.set(k, {
      key: { src: key.src >>> 0, dst: key.dst >>> 0, protocol: key.protocol, id: key.id },
      createdMs: now,
      buf: null,
      dead: why,
      total: -1,
      received: 0,
      maxEnd: 0,
      ranges: [],
      firstLen: -1,
    });
    this.stats.drops[why]++;
    return null;
  }

  /** Discards a live datagram but keeps its entry as a tombstone until its deadline. */
  private kill(d: Datagram, why: ReassemblyDrop): null {
    if (d.buf !== null) this.held -= d.buf.length;
    d.buf = null;
    d.ranges = [];
    d.dead = why;
    this.live--;
    this.stats.drops[why]++;
    return null;
  }

  /** Forgets a live datagram entirely. */
  private remove(k: string, d: Datagram): void {
    if (d.buf !== null) this.held -= d.buf.length;
    d.buf = null;
    this.table.delete(k);
    this.live--;
  }

  /** Evicts the oldest entries until one more fits under maxDatagrams. */
  private makeRoomForEntry(): void {
    for (const [k, d] of this.table) {
      if (this.table.size < this.maxDatagrams) return;
      if (d.dead !== null) this.table.delete(k);
      else {
        this.remove(k, d);
        this.stats.drops['frag-memory']++;
      }
    }
  }

  /**
   * Evicts the oldest live datagrams other than `keep` until `extra` more bytes fit under
   * maxBytes. False if they cannot fit even then.
   */
  private makeRoomForBytes(keep: Datagram, extra: number): boolean {
    const keepCap = keep.buf === null ? 0 : keep.buf.length;
    if (keepCap + extra > this.maxBytes) return false;
    for (const [k, d] of this.table) {
      if (this.held + extra <= this.maxBytes) break;
      if (d === keep || d.buf === null) continue;
      this.remove(k, d);
      this.stats.drops['frag-memory']++;
    }
    return true;
  }
}

function positive(name: string, v: number): number {
  if (!(v > 0)) throw new RangeError(`Reassembler: ${name} must be positive, got ${v}`);
  return v;
}
