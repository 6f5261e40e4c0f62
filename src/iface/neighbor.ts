/**
 * The neighbour (ARP) cache: IPv4 address -> Ethernet address, with the states Linux's
 * neighbour table keeps in simplified form (RFC 1122 2.3.2.1 asks for timeouts and for flooding
 * prevention; RFC 826 for the merge rule). Bounded in entries and in packets queued while a
 * resolution is pending. Pure: time comes in as arguments.
 */
import type { Ipv4Addr } from '../wire/addr.js';

export type NeighborState = 'incomplete' | 'reachable' | 'stale';

export interface NeighborOptions {
  /** Entries held at most; the least recently confirmed is evicted (Linux gc_thresh3 is 1024). */
  maxEntries?: number;
  /** How long a learned address is trusted before it is re-resolved (Linux base_reachable_time 30 s). */
  reachableMs?: number;
  /** How long a stale entry is kept unused before it is removed (Linux gc_stale_time 60 s). */
  staleMs?: number;
  /**
   * Below this many entries nothing is removed for being unused (Linux gc_thresh1 is 128): a host
   * with few neighbours keeps their addresses, and a frame after a long silence (a keepalive, a
   * reset at exit) goes at once instead of waiting for ARP.
   */
  gcThreshold?: number;
  /** Interval between requests while resolving (Linux retrans_time 1 s). */
  retransmitMs?: number;
  /** Requests before giving up (Linux mcast_solicit 3; RFC 1122 2.3.2.1 asks for a bound). */
  maxRequests?: number;
  /** Packets queued per unresolved address (Linux unres_qlen_bytes is 64 KiB; we count bytes too). */
  maxPendingBytes?: number;
}

interface Entry {
  ip: Ipv4Addr;
  mac: Uint8Array | null;
  state: NeighborState;
  /** When the address was last confirmed (reply or request from it). */
  confirmedAt: number;
  /** When the entry was last used to send. */
  usedAt: number;
  requests: number;
  nextRequestAt: number;
  pending: Uint8Array[];
  pendingBytes: number;
}

export interface NeighborStats {
  entries: number;
  learned: number;
  evicted: number;
  resolutionFailures: number;
  /** Packets dropped because a resolution failed or its queue was full. */
  pendingDropped: number;
}

/** What {@link NeighborCache.poll} asks the interface to do. */
export interface NeighborActions {
  /** Addresses to send an ARP request for now. */
  requests: Ipv4Addr[];
  /** Packets to drop because their resolution failed (RFC 1122 2.3.2.2: and tell the sender). */
  failed: { ip: Ipv4Addr; packets: Uint8Array[] }[];
}

export class NeighborCache {
  private readonly map = new Map<Ipv4Addr, Entry>();
  private readonly maxEntries: number;
  private readonly reachableMs: number;
  private readonly staleMs: number;
  private readonly gcThreshold: number;
  private readonly retransmitMs: number;
  private readonly maxRequests: number;
  private readonly maxPendingBytes: number;
  readonly stats: NeighborStats = { entries: 0, learned: 0, evicted: 0, resolutionFailures: 0, pendingDropped: 0 };

  constructor(opts: NeighborOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1024;
    this.reachableMs = opts.reachableMs ?? 30_000;
    this.staleMs = opts.staleMs ?? 60_000;
    this.gcThreshold = opts.gcThreshold ?? 128;
    this.retransmitMs = opts.retransmitMs ?? 1000;
    this.maxRequests = opts.maxRequests ?? 3;
    this.maxPendingBytes = opts.maxPendingBytes ?? 256 * 1024;
  }

  get size(): number {
    return this.map.size;
  }

  /**
   * The address to send to `ip`, or null while unresolved. A stale entry is still used (as
   * Linux's STALE/DELAY states do) while a refresh is asked for by the next poll.
   */
  lookup(ip: Ipv4Addr, now: number): Uint8Array | null {
    const e = this.map.get(ip);
    if (!e || !e.mac) return null;
    e.usedAt = now;
    if (e.state === 'reachable' && now - e.confirmedAt >= this.reachableMs) {
      e.state = 'stale';
      e.requests = 0;
      e.nextRequestAt = now;
    }
    return e.mac;
  }

  /** The entry's MAC and state, for inspection. */
  get(ip: Ipv4Addr): { mac: Uint8Array | null; state: NeighborState } | undefined {
    const e = this.map.get(ip);
    return e ? { mac: e.mac, state: e.state } : undefined;
  }

  /**
   * RFC 826 merge: the sender of an ARP packet is learned. `create` is true when the packet was
   * for us (then a new entry is made), false otherwise (only an existing entry is updated).
   * Returns packets that were waiting for this address, to be sent now.
   */
  learn(ip: Ipv4Addr, mac: Uint8Array, now: number, create: boolean): Uint8Array[] | null {
    let e = this.map.get(ip);
    if (!e) {
      if (!create) return null;
      e = this.insert(ip, now);
    }
    if (!e.mac || e.mac.length !== 6) e.mac = new Uint8Array(6);
    e.mac.set(mac.subarray(0, 6));
    e.state = 'reachable';
    e.confirmedAt = now;
    e.requests = 0;
    this.stats.learned++;
    if (e.pending.length === 0) return null;
    const out = e.pending;
    e.pending = [];
    e.pendingBytes = 0;
    return out;
  }

  /**
   * Queue `packet` (owned by the cache from now on) until `ip` resolves. Returns true when a
   * request should go out now (the first packet for a new entry).
   */
  enqueue(ip: Ipv4Addr, packet: Uint8Array, now: number): boolean {
    let e = this.map.get(ip);
    let fresh = false;
    if (!e) {
      e = this.insert(ip, now);
      fresh = true;
    }
    e.usedAt = now;
    // Oldest first out when over the bound, as Linux's unres queue does.
    while (e.pending.length > 0 && e.pendingBytes + packet.length > this.maxPendingBytes) {
      e.pendingBytes -= e.pending.shift()!.length;
      this.stats.pendingDropped++;
    }
    if (packet.length > this.maxPendingBytes) {
      this.stats.pendingDropped++;
    } else {
      e.pending.push(packet);
      e.pendingBytes += packet.length;
    }
    if (fresh) {
      e.requests = 1;
      e.nextRequestAt = now + this.retransmitMs;
    }
    return fresh;
  }

  private insert(ip: Ipv4Addr, now: number): Entry {
    if (this.map.size >= this.maxEntries) this.evictOne();
    const e: Entry = { ip, mac: null, state: 'incomplete', confirmedAt: now, usedAt: now, requests: 0, nextRequestAt: now, pending: [], pendingBytes: 0 };
    this.map.set(ip, e);
    this.stats.entries = this.map.size;
    return e;
  }

  /** Evict the least recently used entry, preferring resolved ones without queued packets. */
  private evictOne(): void {
    let victim: Entry | null = null;
    for (const e of this.map.values()) {
      if (!victim || e.usedAt < victim.usedAt) victim = e;
    }
    if (!victim) return;
    this.stats.pendingDropped += victim.pending.length;
    this.map.delete(victim.ip);
    this.stats.evicted++;
  }

  /** Retransmit requests, give up on silent addresses, forget unused stale entries (above gcThreshold). */
  poll(now: number): NeighborActions {
    const actions: NeighborActions = { requests: [], failed: [] };
    for (const e of this.map.values()) {
      if (e.state === 'incomplete') {
        if (now < e.nextRequestAt) continue;
        if (e.requests >= this.maxRequests) {
          this.stats.resolutionFailures++;
          this.stats.pendingDropped += e.pending.length;
          actions.failed.push({ ip: e.ip, packets: e.pending });
          this.map.delete(e.ip);
          continue;
        }
        e.requests++;
        e.nextRequestAt = now + this.retransmitMs;
        actions.requests.push(e.ip);
      } else if (e.state === 'stale') {
        if (e.usedAt > e.confirmedAt) {
          // In use but unconfirmed: ask again (unicast refresh would do; broadcast is simpler).
          if (now < e.nextRequestAt) continue;
          if (e.requests >= this.maxRequests) {
            // No answer to the refresh (Linux's PROBE -> FAILED): the address is forgotten, and
            // the next datagram to it resolves afresh, failing as an unresolved one does.
            this.stats.resolutionFailures++;
            this.map.delete(e.ip);
            continue;
          }
          e.requests++;
          e.nextRequestAt = now + this.retransmitMs;
          actions.requests.push(e.ip);
        } else if (now - e.usedAt >= this.staleMs && this.map.size > this.gcThreshold) {
          this.map.delete(e.ip);
        }
      } else if (now - e.confirmedAt >= this.reachableMs) {
        e.state = 'stale';
        e.requests = 0;
        e.nextRequestAt = now;
      }
    }
    this.stats.entries = this.map.size;
    return actions;
  }

  /** Earliest time poll() has something to do, or Infinity. */
  nextDeadline(): number {
    let t = Infinity;
    for (const e of this.map.values()) {
      if (e.state === 'incomplete' || (e.state === 'stale' && e.usedAt > e.confirmedAt)) t = Math.min(t, e.nextRequestAt);
      else if (e.state === 'reachable') t = Math.min(t, e.confirmedAt + this.reachableMs);
      else if (this.map.size > this.gcThreshold) t = Math.min(t, e.usedAt + this.staleMs);
    }
    return t;
  }

  entries(): { ip: Ipv4Addr; mac: Uint8Array | null; state: NeighborState }[] {
    return [...this.map.values()].map((e) => ({ ip: e.ip, mac: e.mac, state: e.state }));
  }
}
