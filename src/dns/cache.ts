/**
 * The resolver's cache: a name's addresses for their TTL (RFC 1035 7.4, RFC 2181 5.2: the
 * smallest TTL of the records used), and negative answers (NXDOMAIN, no data) for the SOA's
 * MINIMUM (RFC 2308 5) capped short. Bounded: the oldest entry goes first. Time comes in as
 * arguments.
 */
import type { Ipv4Addr } from '../wire/addr.js';
import type { DnsErrorCode } from './errors.js';

export type CacheEntry = { addresses: Ipv4Addr[]; expiresAt: number } | { negative: DnsErrorCode; detail: string; expiresAt: number };

export class DnsCache {
  private readonly map = new Map<string, CacheEntry>();

  constructor(private readonly maxEntries = 256) {}

  get(name: string, now: number): CacheEntry | null {
    const e = this.map.get(name);
    if (!e) return null;
    if (now >= e.expiresAt) {
      this.map.delete(name);
      return null;
    }
    return e;
  }

  put(name: string, e: CacheEntry, now: number): void {
    if (e.expiresAt <= now) return; // TTL 0: use once, never cache (RFC 1035 3.2.1)
    this.map.delete(name);
    if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(name, e);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
