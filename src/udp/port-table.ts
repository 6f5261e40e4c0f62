/**
 * Who is bound where: local (address, port) pairs, the demultiplexing of a received datagram to
 * one of them, and ephemeral ports. As Linux without SO_REUSEADDR: a port is taken by a
 * binding to any address and by one to the same address; a datagram goes to the binding of its
 * port whose address is its destination or the wildcard and, when the binding is connected,
 * whose peer sent it (the most specific first, as udp4_lib_lookup's scoring).
 */
import type { Random } from '../random.js';
import type { Ipv4Addr } from '../wire/addr.js';

/**
 * The ephemeral range: Linux's net.ipv4.ip_local_port_range default (32768-60999); RFC 6335 6
 * suggests 49152-65535, Linux's wider range is what the kernel peer expects.
 */
export const EPHEMERAL_LOW = 32768;
export const EPHEMERAL_HIGH = 60999;

/** What the table needs of a binding. */
export interface Bound {
  readonly address: Ipv4Addr;
  readonly port: number;
  /** Connected peer (address 0: not connected). */
  readonly remoteAddress: Ipv4Addr;
  readonly remotePort: number;
}

export class PortTable<B extends Bound> {
  /** Port -> its bindings (nearly always one). */
  private readonly byPort = new Map<number, B[]>();

  constructor(private readonly random: Random) {}

  get size(): number {
    let n = 0;
    for (const l of this.byPort.values()) n += l.length;
    return n;
  }

  /** Whether binding `address:port` would clash with one there is. */
  taken(address: Ipv4Addr, port: number): boolean {
    const l = this.byPort.get(port);
    if (!l) return false;
    for (const b of l) if (b.address === 0 || address === 0 || b.address === address) return true;
    return false;
  }

  /**
   * A free port of the ephemeral range: a random start drawn for every bind, then upwards (the
   * start of RFC 6056 3.3.1's algorithm 1, as Linux's udp_lib_get_port). -1 when all are taken.
   */
  ephemeral(address: Ipv4Addr): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = this.random.u32() % span;
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      if (!this.taken(address, port)) return port;
    }
    return -1;
  }

  add(b: B): void {
    const l = this.byPort.get(b.port);
    if (l) l.push(b);
    else this.byPort.set(b.port, [b]);
  }

  remove(b: B): void {
    const l = this.byPort.get(b.port);
    if (!l) return;
    const i = l.indexOf(b);
    if (i >= 0) l.splice(i, 1);
    if (l.length === 0) this.byPort.delete(b.port);
  }

  /** The binding a datagram from `src:srcPort` to `dst:dstPort` is for, or null. */
  lookup(dst: Ipv4Addr, dstPort: number, src: Ipv4Addr, srcPort: number): B | null {
    const l = this.byPort.get(dstPort);
    if (!l) return null;
    let best: B | null = null;
    let bestScore = -1;
    for (let i = 0; i < l.length; i++) {
      const b = l[i]!;
      let score = 0;
      if (b.address !== 0) {
        if (b.address !== dst) continue;
        score += 2;
      }
      if (b.remoteAddress !== 0) {
        if (b.remoteAddress !== src || b.remotePort !== srcPort) continue;
        score += 4;
      }
      if (score > bestScore) {
        best = b;
        bestScore = score;
      }
    }
    return best;
  }
}
