/**
 * The DHCPv4 client (RFC 2131 4.4, figure 5): INIT -> SELECTING (DISCOVER) -> REQUESTING
 * (REQUEST for the first OFFER) -> CHECKING (ARP probes for the address, RFC 2131 2.2 and RFC
 * 5227 2.1) -> BOUND -> RENEWING at T1 (REQUEST unicast to the server) -> REBINDING at T2
 * (broadcast) -> expiry (the address is given up, discovery starts over). A NAK starts over at
 * once; a conflict found by the probes sends DECLINE and starts over after 10 s.
 *
 * It runs on the stack's clock and randomness (xid, retransmission jitter) and on its timer:
 * {@link DhcpClient.nextDeadline} and {@link DhcpClient.poll}, as TCP and the interface do.
 * Every message it does not take is counted under a reason (`stats.drops`).
 */
import debugFactory from 'debug';
import type { Clock } from '../clock.js';
import type { Random } from '../random.js';
import { formatIpv4, isMulticastIpv4, macEquals, type Ipv4Addr } from '../wire/addr.js';
import {
  BOOTREPLY,
  BOOTREQUEST,
  checkDhcp,
  DHCP_CLIENT_PORT,
  DHCP_SERVER_PORT,
  DhcpMessageType,
  DhcpOption,
  emitDhcpRepr,
  dhcpReprLength,
  optionAddress,
  optionAddresses,
  optionMessageType,
  optionU32,
  parseDhcpRepr,
  u32Option,
  type DhcpRepr,
} from '../wire/dhcp.js';
import { DhcpError } from './errors.js';
import type { DhcpDrop, DhcpDrops } from './reasons.js';
import type { UdpDatagram, UdpEndpoint, UdpPort } from '../udp/udp-layer.js';

const log = debugFactory('tapstack:dhcp');

/** RFC 2131 4.1: the first retransmission after 4 s, doubling to 64 s, each randomised by +-1 s. */
const RETRANSMIT_FIRST_MS = 4000;
const RETRANSMIT_MAX_MS = 64_000;
const RETRANSMIT_JITTER_MS = 1000;
/** RFC 2131 4.4.5: while renewing or rebinding, wait half the time left, at least 60 s. */
const RENEW_RETRANSMIT_MIN_MS = 60_000;
/** The documented bound: no OFFER within 30 s is an error (four DISCOVERs at 0, ~4, ~12, ~28 s). */
const OFFER_TIMEOUT_MS = 30_000;
/** REQUESTs for one OFFER before discovery starts over (RFC 2131 4.4.1 leaves the number open). */
const MAX_REQUESTS = 4;
/** RFC 5227 2.1.1: PROBE_NUM 3, PROBE_MIN 1 s .. PROBE_MAX 2 s apart, ANNOUNCE_WAIT 2 s after. */
const PROBE_NUM = 3;
const PROBE_MIN_MS = 1000;
const PROBE_SPREAD_MS = 1000;
const PROBE_WAIT_MS = 2000;
/** RFC 2131 3.1.5: after a DECLINE, wait at least 10 s before starting over. */
const DECLINE_BACKOFF_MS = 10_000;
/** RFC 2131 4.4.5: T1 and T2 default to 0.5 and 0.875 of the lease. */
const T1_FRACTION = 0.5;
const T2_FRACTION = 0.875;
const INFINITE_LEASE = 0xffffffff;
/** Options we ask for (RFC 2132 9.8): mask, router, DNS, host name, lease, T1, T2. */
const PARAMETER_REQUEST_LIST = Uint8Array.of(
  DhcpOption.SubnetMask,
  DhcpOption.Router,
  DhcpOption.DnsServers,
  DhcpOption.HostName,
  DhcpOption.LeaseTime,
  DhcpOption.RenewalTime,
  DhcpOption.RebindingTime,
);

export type DhcpState = 'init' | 'selecting' | 'requesting' | 'checking' | 'bound' | 'renewing' | 'rebinding' | 'declined' | 'failed' | 'stopped';

export interface DhcpLease {
  address: Ipv4Addr;
  prefixLength: number;
  /** The first router of option 3, or null. */
  router: Ipv4Addr | null;
  dns: Ipv4Addr[];
  /** The server identifier (option 54). */
  server: Ipv4Addr;
  /** Seconds (0xffffffff: infinite), T1 and T2 in seconds. */
  leaseSeconds: number;
  t1Seconds: number;
  t2Seconds: number;
  hostname?: string;
  /** Clock time the lease counts from: when the REQUEST that got it was first sent (RFC 2131 4.4.1). */
  startMs: number;
}

/** What the client changes on the host: the interface's address, and ARP probes. */
export interface DhcpHost {
  readonly mac: Uint8Array;
  configure(lease: DhcpLease): void;
  unconfigure(): void;
  /** An ARP probe for `addr`: a request from 0.0.0.0 (RFC 5227 2.1.1). */
  arpProbe(addr: Ipv4Addr): void;
}

export interface DhcpEvents {
  /** A lease was bound, renewed or rebound. */
  lease?(lease: DhcpLease): void;
  /** The address was given up. */
  lost?(why: 'expired' | 'nak' | 'declined' | 'released'): void;
  /** No server answered in time: the client stops. */
  error?(e: DhcpError): void;
}

export interface DhcpClientOptions {
  /** The UDP layer (`stack.udp`): port 68 is bound on it. */
  udp: { bind(address: Ipv4Addr, port: number, endpoint: UdpEndpoint): UdpPort };
  host: DhcpHost;
  clock: Clock;
  random: Random;
  /** Option 12 to send (RFC 2132 3.14). */
  hostname?: string;
  events?: DhcpEvents;
  /** Give up when no OFFER came within this long (default 30 s). */
  offerTimeoutMs?: number;
  /** RFC 2131 4.1 retransmission: first delay (4 s), cap (64 s), jitter (+-1 s). */
  retransmitMs?: number;
  maxRetransmitMs?: number;
  jitterMs?: number;
  /** RFC 2131 4.4.5 floor of the renewing/rebinding retransmission (60 s). */
  renewRetransmitMinMs?: number;
  /** RFC 5227 probes before binding: how many (3, 0 for none), the gap (1 s + up to 1 s), the wait after (2 s). */
  probes?: number;
  probeIntervalMs?: number;
  probeWaitMs?: number;
  /** RFC 2131 3.1.5 wait after a DECLINE (10 s). */
  declineBackoffMs?: number;
}

export interface DhcpStats {
  discovers: number;
  offers: number;
  requests: number;
  acks: number;
  naks: number;
  declines: number;
  releases: number;
  renewals: number;
  rebinds: number;
  expiries: number;
  retransmits: number;
  probes: number;
  drops: DhcpDrops;
}

interface Offer {
  address: Ipv4Addr;
  server: Ipv4Addr;
}

export class DhcpClient implements UdpEndpoint {
  readonly stats: DhcpStats = { discovers: 0, offers: 0, requests: 0, acks: 0, naks: 0, declines: 0, releases: 0, renewals: 0, rebinds: 0, expiries: 0, retransmits: 0, probes: 0, drops: {} };
  private st: DhcpState = 'init';
  private port: UdpPort | null = null;
  private xid = 0;
  /** The current exchange: when it began (secs, RFC 2131 2), its sends, when to act next. */
  private exchangeStart = 0;
  private sends = 0;
  private nextAt = Infinity;
  /** When discovery gives up (SELECTING only). */
  private giveUpAt = Infinity;
  private offer: Offer | null = null;
  /** When the REQUEST that may get the lease was first sent. */
  private requestSentAt = 0;
  private current: DhcpLease | null = null;
  /** A lease was bound once: discovery no longer gives up. */
  private everBound = false;
  /** A lease the ACK gave, while its address is being probed. */
  private pending: DhcpLease | null = null;
  private probesLeft = 0;
  private t1At = Infinity;
  private t2At = Infinity;
  private expiresAt = Infinity;
  private readonly o: Required<Omit<DhcpClientOptions, 'hostname' | 'events'>> & Pick<DhcpClientOptions, 'hostname'>;
  private readonly events: DhcpEvents;

  constructor(opts: DhcpClientOptions) {
    this.o = {
      offerTimeoutMs: OFFER_TIMEOUT_MS,
      retransmitMs: RETRANSMIT_FIRST_MS,
      maxRetransmitMs: RETRANSMIT_MAX_MS,
      jitterMs: RETRANSMIT_JITTER_MS,
      renewRetransmitMinMs: RENEW_RETRANSMIT_MIN_MS,
      probes: PROBE_NUM,
      probeIntervalMs: PROBE_MIN_MS,
      probeWaitMs: PROBE_WAIT_MS,
      declineBackoffMs: DECLINE_BACKOFF_MS,
      ...opts,
    };
    this.events = opts.events ?? {};
  }

  get state(): DhcpState {
    return this.st;
  }

  /** The lease in use, or null. */
  get lease(): DhcpLease | null {
    return this.current;
  }

  /** Bind port 68 and start discovery (RFC 2131 4.4.1). */
  start(): void {
    if (this.port) return;
    this.port = this.o.udp.bind(0, DHCP_CLIENT_PORT, this);
    this.discover();
  }

  // ---- timers ----

  nextDeadline(): number {
    switch (this.st) {
      case 'selecting':
        return Math.min(this.nextAt, this.giveUpAt);
      case 'requesting':
      case 'checking':
      case 'declined':
        return this.nextAt;
      case 'bound':
        return Math.min(this.t1At, this.t2At, this.expiresAt);
      case 'renewing':
        return Math.min(this.nextAt, this.t2At, this.expiresAt);
      case 'rebinding':
        return Math.min(this.nextAt, this.expiresAt);
      default:
        return Infinity;
    }
  }

  poll(): void {
    const now = this.o.clock.nowMs();
    if (now >= this.expiresAt && (this.st === 'bound' || this.st === 'renewing' || this.st === 'rebinding')) {
      // RFC 2131 4.4.5: at expiry the client stops using the address and returns to INIT.
      log('lease of %s expired', formatIpv4(this.current!.address));
      this.stats.expiries++;
      this.loseLease('expired');
      this.discover();
      return;
    }
    switch (this.st) {
      case 'selecting':
        if (now >= this.giveUpAt) {
          // Before the first lease the bound is an error (the host cannot start); a host that
          // lost its lease keeps asking, round after round (RFC 2131 4.4.5's INIT).
          if (this.everBound) return this.discover();
          return this.fail(new DhcpError('ETIMEDOUT', `no DHCP offer within ${this.o.offerTimeoutMs / 1000} s`));
        }
        if (now >= this.nextAt) this.retransmit(() => this.sendDiscover());
        return;
      case 'requesting':
        if (now < this.nextAt) return;
        if (this.sends >= MAX_REQUESTS) return this.discover();
        return this.retransmit(() => this.sendRequest());
      case 'checking':
        if (now >= this.nextAt) this.probeStep(now);
        return;
      case 'declined':
        if (now >= this.nextAt) this.discover();
        return;
      case 'bound':
        if (now >= this.t2At) return this.rebind(now);
        if (now >= this.t1At) return this.renew(now);
        return;
      case 'renewing':
        if (now >= this.t2At) return this.rebind(now);
        if (now >= this.nextAt) this.renewSend(now, this.t2At);
        return;
      case 'rebinding':
        if (now >= this.nextAt) this.renewSend(now, this.expiresAt);
        return;
      default:
        return;
    }
  }

  /** RFC 2131 4.1: 4 s doubling to 64 s, randomised by up to +-1 s (uniform). */
  private backoff(): number {
    const base = Math.min(this.o.retransmitMs * 2 ** Math.max(0, this.sends - 1), this.o.maxRetransmitMs);
    const jitter = ((this.o.random.u32() / 0x100000000) * 2 - 1) * this.o.jitterMs;
    return Math.max(0, base + jitter);
  }

  private retransmit(send: () => void): void {
    this.stats.retransmits++;
    send();
  }

  private newExchange(): void {
    this.xid = this.o.random.u32();
    this.exchangeStart = this.o.clock.nowMs();
    this.sends = 0;
  }

  // ---- the exchanges ----

  private discover(): void {
    this.st = 'selecting';
    this.offer = null;
    this.pending = null;
    this.newExchange();
    this.giveUpAt = this.exchangeStart + this.o.offerTimeoutMs;
    this.sendDiscover();
  }

  private sendDiscover(): void {
    this.stats.discovers++;
    this.sendBroadcast(this.message(DhcpMessageType.Discover, 0, null, null));
  }

  private sendRequest(): void {
    const offer = this.offer!;
    if (this.sends === 0) this.requestSentAt = this.o.clock.nowMs();
    this.stats.requests++;
    // RFC 2131 4.3.2 table 4, SELECTING: ciaddr 0, 'requested IP address' and 'server identifier' set.
    this.sendBroadcast(this.message(DhcpMessageType.Request, 0, offer.address, offer.server));
  }

  /** T1: REQUEST unicast to the server that gave the lease (RFC 2131 4.4.5). */
  private renew(now: number): void {
    this.st = 'renewing';
    this.newExchange();
    this.renewSend(now, this.t2At);
  }

  /** T2: REQUEST broadcast to any server (RFC 2131 4.4.5). */
  private rebind(now: number): void {
    this.st = 'rebinding';
    this.newExchange();
    this.renewSend(now, this.expiresAt);
  }

  private renewSend(now: number, until: number): void {
    const lease = this.current!;
    if (this.sends > 0) this.stats.retransmits++;
    if (this.sends === 0) this.requestSentAt = now;
    this.stats.requests++;
    this.sends++;
    // RFC 2131 4.3.2 table 4, RENEWING/REBINDING: ciaddr ours, no requested address, no server id.
    const msg = this.message(DhcpMessageType.Request, lease.address, null, null);
    if (this.st === 'renewing') this.port!.send(lease.server, DHCP_SERVER_PORT, msg, { source: lease.address });
    else this.port!.send(0xffffffff, DHCP_SERVER_PORT, msg, { source: lease.address, broadcast: true });
    this.nextAt = Math.min(until, now + Math.max((until - now) / 2, this.o.renewRetransmitMinMs));
  }

  private sendBroadcast(msg: Uint8Array): void {
    // RFC 2131 4.1: a client without an address sends from 0.0.0.0 to 255.255.255.255.
    this.port!.send(0xffffffff, DHCP_SERVER_PORT, msg, { source: 0, broadcast: true });
    this.sends++;
    this.nextAt = this.o.clock.nowMs() + this.backoff();
  }

  /** A client message (RFC 2131 4.4.1 and table 5). */
  private message(type: number, ciaddr: Ipv4Addr, requested: Ipv4Addr | null, server: Ipv4Addr | null): Uint8Array {
    const mac = this.o.host.mac;
    const options = new Map<number, Uint8Array>();
    options.set(DhcpOption.MessageType, Uint8Array.of(type));
    // RFC 2132 9.14: the client identifier, hardware type then address.
    const clientId = new Uint8Array(7);
    clientId[0] = 1;
    clientId.set(mac.subarray(0, 6), 1);
    options.set(DhcpOption.ClientId, clientId);
    if (requested !== null) options.set(DhcpOption.RequestedAddress, u32Option(requested));
    if (server !== null) options.set(DhcpOption.ServerId, u32Option(server));
    const withParams = type === DhcpMessageType.Discover || type === DhcpMessageType.Request;
    if (withParams) {
      options.set(DhcpOption.ParameterRequestList, PARAMETER_REQUEST_LIST);
      if (this.o.hostname) options.set(DhcpOption.HostName, new TextEncoder().encode(this.o.hostname));
    }
    const secs = withParams ? Math.min(0xffff, Math.floor((this.o.clock.nowMs() - this.exchangeStart) / 1000)) : 0;
    const r: DhcpRepr = { op: BOOTREQUEST, xid: withParams ? this.xid : this.o.random.u32(), secs, flags: 0, ciaddr, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: mac, options };
    const buf = new Uint8Array(dhcpReprLength(r));
    emitDhcpRepr(r, buf);
    return buf;
  }

  // ---- receive ----

  private drop(reason: DhcpDrop): void {
    const d = this.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
    log('dropped: %s', reason);
  }

  receive(d: UdpDatagram): void {
    const bytes = new Uint8Array(d.payload.length);
    d.payload.copyOut(0, bytes.length, bytes, 0);
    const bad = checkDhcp(bytes, 0, bytes.length);
    if (bad !== null) return this.drop(bad as DhcpDrop);
    if (d.srcPort !== DHCP_SERVER_PORT) return this.drop('dhcp-wrong-server');
    const m = parseDhcpRepr(bytes);
    if (m.op !== BOOTREPLY) return this.drop('dhcp-not-reply');
    const waiting = this.st === 'selecting' || this.st === 'requesting' || this.st === 'renewing' || this.st === 'rebinding';
    if (!waiting) return this.drop('dhcp-unexpected');
    if (m.xid !== this.xid) return this.drop('dhcp-wrong-xid');
    if (!macEquals(m.chaddr, 0, this.o.host.mac)) return this.drop('dhcp-wrong-chaddr');
    const type = optionMessageType(m.options);
    const server = optionAddress(m.options, DhcpOption.ServerId);
    switch (type) {
      case DhcpMessageType.Offer:
        return this.onOffer(m, server);
      case DhcpMessageType.Ack:
        return this.onAck(m, server, d.src);
      case DhcpMessageType.Nak:
        return this.onNak(server, d.src);
      default:
        return this.drop('dhcp-bad-message-type');
    }
  }

  /** The chosen server's answer? While requesting option 54 names it; while renewing, the sender is it. */
  private fromChosen(server: Ipv4Addr | null, src: Ipv4Addr): boolean {
    if (this.st === 'requesting') return server === this.offer!.server;
    if (this.st === 'renewing') return server === this.current!.server || (server === null && src === this.current!.server);
    return true; // rebinding: any server may answer (RFC 2131 4.4.5)
  }

  private onOffer(m: DhcpRepr, server: Ipv4Addr | null): void {
    if (this.st !== 'selecting') return this.drop('dhcp-unexpected');
    if (server === null || !usableAddress(m.yiaddr)) return this.drop('dhcp-bad-lease');
    this.stats.offers++;
    log('offer of %s from %s', formatIpv4(m.yiaddr), formatIpv4(server));
    // The first acceptable offer (RFC 2131 4.4.1 lets the client choose; waiting gains nothing here).
    this.offer = { address: m.yiaddr, server };
    this.st = 'requesting';
    this.sends = 0; // the REQUEST keeps the OFFER's xid (RFC 2131 4.4.1)
    this.giveUpAt = Infinity;
    this.sendRequest();
  }

  private onAck(m: DhcpRepr, server: Ipv4Addr | null, src: Ipv4Addr): void {
    if (this.st === 'selecting') return this.drop('dhcp-unexpected');
    if (!this.fromChosen(server, src)) return this.drop('dhcp-wrong-server');
    const lease = this.leaseOf(m, server);
    if (!lease) return this.drop('dhcp-bad-lease');
    this.stats.acks++;
    if (this.st === 'requesting') {
      this.pending = lease;
      this.st = 'checking';
      this.probesLeft = this.o.probes;
      this.probeStep(this.o.clock.nowMs());
      return;
    }
    if (this.st === 'renewing') this.stats.renewals++;
    else this.stats.rebinds++;
    if (lease.address !== this.current!.address) this.o.host.unconfigure();
    this.bind(lease);
  }

  private onNak(server: Ipv4Addr | null, src: Ipv4Addr): void {
    if (this.st === 'selecting') return this.drop('dhcp-unexpected');
    if (!this.fromChosen(server, src)) return this.drop('dhcp-wrong-server');
    this.stats.naks++;
    log('NAK from %s', formatIpv4(server ?? src));
    // RFC 2131 3.1.4 / 4.4.5: stop using the address (if any) and restart configuration.
    if (this.current) this.loseLease('nak');
    else this.events.lost?.('nak');
    this.discover();
  }

  /** The lease an ACK gives, or null when it lacks what a lease needs (RFC 2131 4.3.1). */
  private leaseOf(m: DhcpRepr, server: Ipv4Addr | null): DhcpLease | null {
    const leaseSeconds = optionU32(m.options, DhcpOption.LeaseTime);
    if (leaseSeconds === null || !usableAddress(m.yiaddr)) return null;
    if (this.st === 'requesting' && m.yiaddr !== this.offer!.address) return null;
    const srv = server ?? this.current?.server ?? null;
    if (srv === null) return null;
    const mask = optionAddress(m.options, DhcpOption.SubnetMask);
    const prefixLength = mask === null ? classfulPrefix(m.yiaddr) : maskToPrefix(mask);
    if (prefixLength < 0) return null;
    let t1 = optionU32(m.options, DhcpOption.RenewalTime) ?? Math.floor(leaseSeconds * T1_FRACTION);
    let t2 = optionU32(m.options, DhcpOption.RebindingTime) ?? Math.floor(leaseSeconds * T2_FRACTION);
    // T1 < T2 < lease, or the defaults (RFC 2131 4.4.5).
    if (!(t2 <= leaseSeconds && t1 <= t2)) {
      t1 = Math.floor(leaseSeconds * T1_FRACTION);
      t2 = Math.floor(leaseSeconds * T2_FRACTION);
    }
    const host = m.options.get(DhcpOption.HostName);
    return {
      address: m.yiaddr,
      prefixLength,
      router: optionAddresses(m.options, DhcpOption.Router)[0] ?? null,
      dns: optionAddresses(m.options, DhcpOption.DnsServers),
      server: srv,
      leaseSeconds,
      t1Seconds: t1,
      t2Seconds: t2,
      ...(host ? { hostname: new TextDecoder().decode(host) } : {}),
      startMs: this.requestSentAt,
    };
  }

  // ---- probing the address (RFC 2131 2.2, RFC 5227 2.1) ----

  private probeStep(now: number): void {
    const lease = this.pending!;
    if (this.probesLeft > 0) {
      this.probesLeft--;
      this.stats.probes++;
      this.o.host.arpProbe(lease.address);
      // RFC 5227 2.1.1: PROBE_MIN to PROBE_MAX apart, uniformly (the spread shrinks with a shorter interval).
      const spread = Math.floor((this.o.random.u32() / 0x100000000) * Math.min(PROBE_SPREAD_MS, this.o.probeIntervalMs));
      this.nextAt = now + (this.probesLeft > 0 ? this.o.probeIntervalMs + spread : this.o.probeWaitMs);
      return;
    }
    this.pending = null;
    this.bind(lease);
  }

  /**
   * An ARP packet seen while probing: a sender claiming the address, or another host's probe for
   * it (RFC 5227 2.1.1), means it is in use: DECLINE (RFC 2131 3.1.5).
   */
  arpSeen(senderIp: Ipv4Addr, senderMac: Uint8Array, targetIp: Ipv4Addr): void {
    if (this.st !== 'checking' || !this.pending) return;
    const a = this.pending.address;
    const conflict = senderIp === a || (senderIp === 0 && targetIp === a && !macEquals(senderMac, 0, this.o.host.mac));
    if (!conflict) return;
    log('%s is in use: declining', formatIpv4(a));
    this.stats.declines++;
    // RFC 2131 4.4.1 table 5: DECLINE carries the address (option 50) and the server id, broadcast.
    const msg = this.message(DhcpMessageType.Decline, 0, a, this.pending.server);
    this.port!.send(0xffffffff, DHCP_SERVER_PORT, msg, { source: 0, broadcast: true });
    this.pending = null;
    this.st = 'declined';
    this.nextAt = this.o.clock.nowMs() + this.o.declineBackoffMs;
    this.events.lost?.('declined');
  }

  private bind(lease: DhcpLease): void {
    this.current = lease;
    this.everBound = true;
    this.st = 'bound';
    this.nextAt = Infinity;
    if (lease.leaseSeconds === INFINITE_LEASE) {
      this.t1At = this.t2At = this.expiresAt = Infinity;
    } else {
      this.t1At = lease.startMs + lease.t1Seconds * 1000;
      this.t2At = lease.startMs + lease.t2Seconds * 1000;
      this.expiresAt = lease.startMs + lease.leaseSeconds * 1000;
    }
    log('bound %s/%d for %d s', formatIpv4(lease.address), lease.prefixLength, lease.leaseSeconds);
    this.o.host.configure(lease);
    this.events.lease?.(lease);
  }

  private loseLease(why: 'expired' | 'nak' | 'released'): void {
    this.current = null;
    this.t1At = this.t2At = this.expiresAt = Infinity;
    this.o.host.unconfigure();
    this.events.lost?.(why);
  }

  private fail(e: DhcpError): void {
    log('%s', e.message);
    this.st = 'failed';
    this.port?.close();
    this.port = null;
    this.events.error?.(e);
  }

  /**
   * Give the address back (RFC 2131 4.4.6: RELEASE unicast to the server, ciaddr ours) and stop.
   * Returns the server the RELEASE went to, or null when there was no lease.
   */
  release(): Ipv4Addr | null {
    const lease = this.current;
    let to: Ipv4Addr | null = null;
    if (lease && this.port) {
      this.stats.releases++;
      const msg = this.message(DhcpMessageType.Release, lease.address, null, lease.server);
      this.port.send(lease.server, DHCP_SERVER_PORT, msg, { source: lease.address });
      log('released %s', formatIpv4(lease.address));
      this.loseLease('released');
      to = lease.server;
    }
    this.stop();
    return to;
  }

  /** Stop without releasing (the lease, if any, stays configured until the stack closes). */
  stop(): void {
    if (this.st !== 'failed') this.st = 'stopped';
    this.nextAt = Infinity;
    this.port?.close();
    this.port = null;
  }
}

/** An address a server may give a host: not 0, broadcast, multicast or class E. */
function usableAddress(a: Ipv4Addr): boolean {
  return a !== 0 && a !== 0xffffffff && !isMulticastIpv4(a) && a >>> 28 !== 0xf;
}

/** A contiguous mask's prefix length, or -1. */
function maskToPrefix(mask: number): number {
  const inv = ~mask >>> 0;
  if ((inv & (inv + 1)) !== 0) return -1;
  return 32 - Math.log2(inv + 1);
}

/** Without option 1, the class's mask (RFC 2131 leaves it to the client; RFC 1122 3.3.1.1 history). */
function classfulPrefix(a: Ipv4Addr): number {
  if (a >>> 31 === 0) return 8;
  if (a >>> 30 === 2) return 16;
  return 24;
}
