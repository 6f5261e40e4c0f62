/**
 * The stub resolver (RFC 1034 5.3.1, RFC 1035 7): A lookups sent over tapstack's UDP to the
 * configured servers (from DHCP option 6 or `--dns`), each query from a port and ID of its own
 * (RFC 5452 9.2); a timeout moves to the next server, every server tried `attempts` times in
 * turn (as resolv.conf's `timeout` and `attempts`). An answer is taken only from the server and
 * port asked, with the query's ID and question (RFC 5452 9.1); a truncated one (TC) is asked
 * again over tapstack's TCP with the 2-byte length prefix (RFC 1035 4.2.2, RFC 7766 5).
 * Answers are cached for their TTL, negative ones briefly (RFC 2308 5).
 *
 * Time comes from the stack's clock and timer ({@link nextDeadline}, {@link poll}); IDs from its
 * randomness. Failures are {@link DnsError}s with Node's codes.
 */
import debugFactory from 'debug';
import type { Clock } from '../clock.js';
import type { Random } from '../random.js';
import { formatIpv4, parseIpv4, type Ipv4Addr } from '../wire/addr.js';
import { DNS_CLASS_IN, DNS_PORT, DnsRcode, DnsType, emitDnsQuery, nameLabels, parseDnsMessage, type DnsMessage } from '../wire/dns.js';
import { WireError } from '../wire/errors.js';
import { ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT } from '../wire/icmp.js';
import type { UdpDatagram, UdpEndpoint, UdpIcmpError, UdpPort } from '../udp/udp-layer.js';
import { DnsCache } from './cache.js';
import { DnsError, type DnsErrorCode } from './errors.js';
import type { DnsDrop, DnsDrops } from './reasons.js';

const log = debugFactory('tapstack:dns');

/** Per try (resolv.conf's default is 5 s; a stub on a link to its server needs less). */
const TIMEOUT_MS = 2000;
/** Rounds over the servers (resolv.conf's default 2). */
const ATTEMPTS = 2;
/** A TCP retry (after TC) gets this long for connecting, asking and reading. */
const TCP_TIMEOUT_MS = 5000;
/** Negative answers are kept at most this long (RFC 2308 5 allows up to the SOA's MINIMUM; we stay short). */
const NEGATIVE_TTL_MAX_S = 30;
/** A negative answer without an SOA to say how long (RFC 2308 5: SHOULD NOT be cached; we keep it briefly). */
const NEGATIVE_TTL_NO_SOA_S = 5;
/** Positive answers at most a day (RFC 8767 4 suggests capping at 7 days; a stub may cap lower). */
const TTL_MAX_S = 86_400;

/** The TCP connection a TC retry uses: what a {@link import('../socket/socket.js').Socket} offers. */
export interface DnsTcpStream {
  write(data: Uint8Array): unknown;
  destroy(): unknown;
  on(event: 'data', fn: (b: Buffer) => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  on(event: 'close', fn: () => void): unknown;
}

export interface DnsResolverOptions {
  /** The UDP layer (`stack.udp`): each query binds an ephemeral port on it. */
  udp: { bind(address: Ipv4Addr, port: number, endpoint: UdpEndpoint): UdpPort };
  /** Open a TCP connection to `server:port` (the stack's connect). */
  tcp: (server: Ipv4Addr, port: number) => DnsTcpStream;
  clock: Clock;
  random: Random;
  /** The servers now (DHCP's may change with a lease). */
  servers: () => readonly Ipv4Addr[];
  timeoutMs?: number;
  attempts?: number;
  tcpTimeoutMs?: number;
  cacheEntries?: number;
  /** Called when a query's state changed outside a receive batch (flush and re-arm the timer). */
  kick?: () => void;
}

export interface DnsStats {
  lookups: number;
  /** UDP queries sent (retries included) and TCP queries after TC. */
  queries: number;
  tcpQueries: number;
  answers: number;
  cacheHits: number;
  negativeCacheHits: number;
  timeouts: number;
  truncated: number;
  nxdomain: number;
  servfail: number;
  /** Tries ended at once by an ICMP Destination Unreachable about the query (a server's port closed, no route to it). */
  unreachable: number;
  drops: DnsDrops;
}

interface Query {
  name: string;
  id: number;
  /** Try number: server index is `try % servers.length`. */
  tries: number;
  server: Ipv4Addr;
  port: UdpPort | null;
  tcp: DnsTcpStream | null;
  deadline: number;
  resolve: (a: Ipv4Addr[]) => void;
  reject: (e: DnsError) => void;
  /** The last failure, reported when every try is used. */
  lastCode: DnsErrorCode;
  lastDetail: string;
  done: boolean;
}

export class DnsResolver {
  readonly stats: DnsStats = { lookups: 0, queries: 0, tcpQueries: 0, answers: 0, cacheHits: 0, negativeCacheHits: 0, timeouts: 0, truncated: 0, nxdomain: 0, servfail: 0, unreachable: 0, drops: {} };
  private readonly cache: DnsCache;
  private readonly queries = new Set<Query>();
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly tcpTimeoutMs: number;

  constructor(private readonly o: DnsResolverOptions) {
    this.timeoutMs = o.timeoutMs ?? TIMEOUT_MS;
    this.attempts = o.attempts ?? ATTEMPTS;
    this.tcpTimeoutMs = o.tcpTimeoutMs ?? TCP_TIMEOUT_MS;
    this.cache = new DnsCache(o.cacheEntries);
  }

  /**
   * The IPv4 addresses of `hostname` (a literal is its own answer). Rejects with a
   * {@link DnsError}; never throws.
   */
  resolve4(hostname: string): Promise<Ipv4Addr[]> {
    try {
      return Promise.resolve([parseIpv4(hostname)]);
    } catch {
      // not a literal
    }
    this.stats.lookups++;
    const name = hostname.toLowerCase().replace(/\.$/, '');
    const fail = (code: DnsErrorCode, detail: string) => Promise.reject(new DnsError(code, hostname, detail));
    try {
      nameLabels(name);
    } catch (e) {
      return fail('ENOTFOUND', (e as Error).message);
    }
    // RFC 6761 6.3: localhost is the host's own loopback, never asked of a server; tapstack has
    // no loopback interface to reach it on.
    if (name === 'localhost' || name.endsWith('.localhost')) return fail('ENOTFOUND', 'localhost is loopback, which tapstack does not have');
    const now = this.o.clock.nowMs();
    const hit = this.cache.get(name, now);
    if (hit) {
      if ('addresses' in hit) {
        this.stats.cacheHits++;
        return Promise.resolve([...hit.addresses]);
      }
      this.stats.negativeCacheHits++;
      return fail(hit.negative, hit.detail);
    }
    if (this.o.servers().length === 0) return fail('EAI_AGAIN', 'no DNS server configured');
    return new Promise<Ipv4Addr[]>((resolve, reject) => {
      const q: Query = { name, id: 0, tries: 0, server: 0, port: null, tcp: null, deadline: Infinity, resolve, reject: (e) => reject(e), lastCode: 'EAI_AGAIN', lastDetail: 'no answer', done: false };
      q.reject = (e) => reject(new DnsError(e.code, hostname, e.detail));
      this.queries.add(q);
      this.sendUdp(q);
      this.o.kick?.();
    });
  }

  // ---- timers ----

  nextDeadline(): number {
    let t = Infinity;
    for (const q of this.queries) t = Math.min(t, q.deadline);
    return t;
  }

  poll(): void {
    const now = this.o.clock.nowMs();
    for (const q of [...this.queries]) {
      if (now < q.deadline) continue;
      this.stats.timeouts++;
      log('%s: no answer from %s', q.name, formatIpv4(q.server));
      this.retry(q, 'EAI_AGAIN', `no answer from ${formatIpv4(q.server)} within ${q.tcp ? this.tcpTimeoutMs : this.timeoutMs} ms`);
    }
  }

  /** Stop: every pending lookup fails. */
  close(): void {
    for (const q of [...this.queries]) this.finish(q, new DnsError('EAI_AGAIN', q.name, 'the stack closed'));
  }

  // ---- queries ----

  private sendUdp(q: Query): void {
    const servers = this.o.servers();
    if (q.tries >= servers.length * this.attempts || servers.length === 0) {
      this.finish(q, new DnsError(q.lastCode, q.name, q.lastDetail));
      return;
    }
    this.closeTransport(q);
    q.server = servers[q.tries % servers.length]!;
    q.tries++;
    q.id = this.o.random.u32() & 0xffff;
    const buf = new Uint8Array(512);
    const len = emitDnsQuery(q.id, q.name, DnsType.A, buf);
    let port: UdpPort | null = null;
    const endpoint: UdpEndpoint = { receive: (d) => this.receiveUdp(q, d), icmpError: (e) => this.unreachable(q, port, e) };
    try {
      q.port = port = this.o.udp.bind(0, 0, endpoint);
      q.port.send(q.server, DNS_PORT, buf.subarray(0, len));
    } catch (e) {
      // No route, no port: this try failed at once.
      q.lastDetail = (e as Error).message;
      q.deadline = this.o.clock.nowMs();
      return;
    }
    this.stats.queries++;
    q.deadline = this.o.clock.nowMs() + this.timeoutMs;
  }

  private retry(q: Query, code: DnsErrorCode, detail: string): void {
    q.lastCode = code;
    q.lastDetail = detail;
    this.sendUdp(q);
  }

  private drop(reason: DnsDrop): void {
    const d = this.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
    log('dropped: %s', reason);
  }

  /**
   * An ICMP Destination Unreachable about this try's query: the server's port is closed (no DNS
   * server runs there) or it cannot be reached. Waiting out the timeout would gain nothing: the
   * next try goes now, as glibc's resolver moves on at ECONNREFUSED.
   */
  private unreachable(q: Query, port: UdpPort | null, e: UdpIcmpError): void {
    if (q.done || q.port !== port || e.type !== ICMP_DEST_UNREACHABLE || e.dst !== q.server || e.dstPort !== DNS_PORT) return;
    this.stats.unreachable++;
    const what = e.code === ICMP_UNREACH_PORT ? 'port unreachable' : `destination unreachable (code ${e.code})`;
    log('%s: %s from %s', q.name, what, formatIpv4(q.server));
    this.retry(q, 'EAI_AGAIN', `${formatIpv4(q.server)}: ${what}`);
    this.o.kick?.();
  }

  private receiveUdp(q: Query, d: UdpDatagram): void {
    if (q.done) return;
    if (d.src !== q.server || d.srcPort !== DNS_PORT) return this.drop('dns-wrong-source');
    const bytes = new Uint8Array(d.payload.length);
    d.payload.copyOut(0, bytes.length, bytes, 0);
    this.answer(q, bytes, false);
  }

  /** Check and take an answer (UDP, or TCP after TC). */
  private answer(q: Query, bytes: Uint8Array, viaTcp: boolean): void {
    let m: DnsMessage;
    try {
      m = parseDnsMessage(bytes);
    } catch (e) {
      if (e instanceof WireError) return this.drop(e.reason as DnsDrop);
      throw e;
    }
    if (!m.response) return this.drop('dns-not-response');
    if (m.id !== q.id) return this.drop('dns-wrong-id');
    const question = m.questions[0];
    if (m.questions.length !== 1 || question!.name !== q.name || question!.type !== DnsType.A || question!.class !== DNS_CLASS_IN) return this.drop('dns-question-mismatch');
    if (m.truncated && !viaTcp) {
      this.stats.truncated++;
      return this.askTcp(q);
    }
    this.stats.answers++;
    const now = this.o.clock.nowMs();
    if (m.rcode === DnsRcode.NXDomain) {
      this.stats.nxdomain++;
      return this.negative(q, m, now, 'the name does not exist (NXDOMAIN)');
    }
    if (m.rcode !== DnsRcode.NoError) {
      if (m.rcode === DnsRcode.ServFail) this.stats.servfail++;
      // RFC 1034 5.3.1: a server failure is a reason to ask the next one.
      return this.retry(q, 'EAI_AGAIN', `${formatIpv4(q.server)} answered rcode ${m.rcode}`);
    }
    // Follow the CNAME chain from the name asked (RFC 1034 3.6.2), then its A records.
    let target = q.name;
    let ttl = TTL_MAX_S;
    for (let hops = 0; hops < 8; hops++) {
      const c = m.answers.find((rr) => rr.type === DnsType.CNAME && rr.name === target && rr.target !== undefined);
      if (!c) break;
      ttl = Math.min(ttl, c.ttl);
      target = c.target!;
    }
    const addresses: Ipv4Addr[] = [];
    for (const rr of m.answers) {
      if (rr.type === DnsType.A && rr.class === DNS_CLASS_IN && rr.name === target && rr.address !== undefined) {
        addresses.push(rr.address);
        ttl = Math.min(ttl, rr.ttl);
      }
    }
    if (addresses.length === 0) return this.negative(q, m, now, 'the name has no IPv4 address (no data)');
    this.cache.put(q.name, { addresses, expiresAt: now + ttl * 1000 }, now);
    log('%s -> %s (ttl %d)', q.name, addresses.map(formatIpv4).join(','), ttl);
    this.finish(q, addresses);
  }

  private negative(q: Query, m: DnsMessage, now: number, detail: string): void {
    const soa = m.authority.find((rr) => rr.soaMinimum !== undefined);
    // RFC 2308 5: the lesser of the SOA record's TTL and its MINIMUM.
    const ttl = soa ? Math.min(NEGATIVE_TTL_MAX_S, soa.ttl, soa.soaMinimum!) : NEGATIVE_TTL_NO_SOA_S;
    this.cache.put(q.name, { negative: 'ENOTFOUND', detail, expiresAt: now + ttl * 1000 }, now);
    this.finish(q, new DnsError('ENOTFOUND', q.name, detail));
  }

  /** The answer did not fit: the same question over TCP to the same server (RFC 7766 5). */
  private askTcp(q: Query): void {
    this.closeTransport(q);
    this.stats.tcpQueries++;
    q.id = this.o.random.u32() & 0xffff;
    const buf = new Uint8Array(514);
    const len = emitDnsQuery(q.id, q.name, DnsType.A, buf, 2);
    buf[0] = len >>> 8;
    buf[1] = len & 0xff;
    q.deadline = this.o.clock.nowMs() + this.tcpTimeoutMs;
    const s = this.o.tcp(q.server, DNS_PORT);
    q.tcp = s;
    let got = new Uint8Array(0);
    s.on('data', (b: Buffer) => {
      if (q.done || q.tcp !== s) return;
      const joined = new Uint8Array(got.length + b.length);
      joined.set(got);
      joined.set(b, got.length);
      got = joined;
      if (got.length < 2) return;
      const n = (got[0]! << 8) | got[1]!;
      if (got.length < 2 + n) return;
      this.answer(q, got.subarray(2, 2 + n), true);
      this.o.kick?.();
    });
    s.on('error', (e: Error) => {
      if (q.done || q.tcp !== s) return;
      this.retry(q, 'EAI_AGAIN', `TCP to ${formatIpv4(q.server)}: ${e.message}`);
      this.o.kick?.();
    });
    s.on('close', () => undefined);
    s.write(buf.subarray(0, len + 2));
  }

  private closeTransport(q: Query): void {
    q.port?.close();
    q.port = null;
    if (q.tcp) {
      const t = q.tcp;
      q.tcp = null;
      t.destroy();
    }
  }

  private finish(q: Query, result: Ipv4Addr[] | DnsError): void {
    if (q.done) return;
    q.done = true;
    q.deadline = Infinity;
    this.queries.delete(q);
    this.closeTransport(q);
    if (result instanceof DnsError) q.reject(result);
    else q.resolve(result);
  }
}
