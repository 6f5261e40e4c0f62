/**
 * The interface: one Ethernet port with an IPv4 address. It demultiplexes received frames
 * (ARP, IPv4), validates and reassembles IPv4, answers ICMP echo, resolves neighbours, and
 * sends IPv4 datagrams (fragmenting those larger than the MTU). Transport protocols register
 * a handler per protocol number. The address is given at start, or at run time by DHCP
 * ({@link Interface.configure}, {@link Interface.unconfigure}; 0.0.0.0 until then).
 *
 * Every frame it does not accept is counted under a reason in `stats.drops`; no input throws.
 */
import debugFactory from 'debug';
import type { Clock } from '../clock.js';
import type { Random } from '../random.js';
import type { Nic, RxHandler } from '../nic/nic.js';
import type { RxFrame } from '../nic/rx-frame.js';
import type { RxPayload } from '../mem/rx-payload.js';
import {
  BROADCAST_MAC,
  formatIpv4,
  formatMac,
  isBroadcastMac,
  isMulticastIpv4,
  isMulticastMac,
  isZeroMac,
  macEquals,
  prefixMask,
  randomLocalMac,
  type Ipv4Addr,
  type Ipv4Cidr,
} from '../wire/addr.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PACKET_LEN, ArpPacket, checkArp, emitArpRepr, type ArpRepr } from '../wire/arp.js';
import { readU16 } from '../wire/bytes.js';
import { foldChecksum, onesComplementSum } from '../wire/checksum.js';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { checkIpv4, emitIpv4Repr, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_DEFAULT_TTL, IPV4_MIN_HEADER_LEN, Ipv4Packet, type Ipv4Repr } from '../wire/ipv4.js';
import { Reassembler, type FragmentKey, type ReassemblerOptions } from './reassembly.js';
import { REASSEMBLY_DROP_REASONS, type IfaceCountedDrop, type IfaceDrops, type ReassemblyDrop } from './reasons.js';
import { NeighborCache, type NeighborOptions } from './neighbor.js';
import { IcmpLayer, type IcmpOptions } from './icmp.js';
import { DatagramPayload } from './payload.js';
import { TxFrame, type TxHoldQueue } from './tx-frame.js';
import type { TransportEgress } from './transport.js';

const log = debugFactory('tapstack:iface');
const arpLog = debugFactory('tapstack:arp');

/** RFC 5227 2.3: two ARP announcements, ANNOUNCE_INTERVAL (2 s) apart. */
const ANNOUNCE_NUM = 2;
const ANNOUNCE_INTERVAL_MS = 2000;

/**
 * The driver's verdict on a received transport checksum: verified good or bad (by the firmware,
 * or vouched for by the kernel), or not checked (then the whole message is in `buf`: the
 * transport sums it itself).
 */
export type L4Checksum = 'good' | 'bad' | 'unchecked';

/**
 * A received IPv4 datagram as handed to a transport protocol. Valid during the call only; one
 * object is reused for every datagram. The IP and transport headers are always contiguous in
 * `buf`; the transport message (header and data) is read and taken through `payload`, wherever
 * its data lies.
 */
export interface Ipv4Datagram {
  src: Ipv4Addr;
  dst: Ipv4Addr;
  protocol: number;
  ttl: number;
  tos: number;
  buf: Uint8Array;
  ipOffset: number;
  headerLength: number;
  /** Where the transport message starts in `buf`, and its length (header and data). */
  l4Offset: number;
  l4Length: number;
  /** The whole transport message lies in `buf` too (not only its header). */
  contiguous: boolean;
  /** The transport message, offsets from its first byte (`payload.length === l4Length`). */
  payload: RxPayload;
  l4Checksum: L4Checksum;
}

/** The transport message as one view (copies nothing when the datagram is contiguous). */
export function transportMessage(d: Ipv4Datagram): Uint8Array {
  if (d.contiguous) return d.buf.subarray(d.l4Offset, d.l4Offset + d.l4Length);
  const out = new Uint8Array(d.l4Length);
  d.payload.copyOut(0, d.l4Length, out, 0);
  return out;
}

export interface ProtocolHandler {
  /** Returns false when no endpoint wanted it (the interface then answers as RFC 1122 asks). */
  receive(dgram: Ipv4Datagram): boolean;
}

export interface InterfaceOptions {
  nic: Nic;
  clock: Clock;
  /** The first IP identification, and the MAC when none is given (src/random.ts). */
  random: Random;
  address: Ipv4Cidr;
  mtu: number;
  mac?: Uint8Array;
  /** Next hop for destinations off the link's subnet. */
  gateway?: Ipv4Addr;
  neighbor?: NeighborOptions;
  reassembly?: Omit<ReassemblerOptions, 'onExpire'>;
  icmp?: IcmpOptions;
}

export interface SendOptions {
  ttl?: number;
  /** Set DF (RFC 791). A datagram larger than the MTU with DF set is refused. */
  dontFragment?: boolean;
  tos?: number;
  /** The payload is arena memory that stays unchanged until the next flush: no copy. */
  byReference?: boolean;
  /** Source address instead of the interface's (0.0.0.0 for a host without one, RFC 2131 4.1). */
  source?: Ipv4Addr;
}

export interface InterfaceStats {
  rxFrames: number;
  txFrames: number;
  arpRequestsIn: number;
  arpRepliesIn: number;
  arpRequestsOut: number;
  arpRepliesOut: number;
  ipv4In: number;
  ipv4Delivered: number;
  ipv4Out: number;
  fragmentsIn: number;
  fragmentsOut: number;
  reassembled: number;
  drops: IfaceDrops;
}

export class Interface implements RxHandler, TxHoldQueue, TransportEgress {
  readonly mac: Uint8Array;
  /** Our address: 0.0.0.0 while unconfigured (waiting for DHCP), see {@link configure}. */
  get address(): Ipv4Addr {
    return this.addr;
  }
  get prefixLength(): number {
    return this.prefix;
  }
  /** The next hop off the subnet, if any. */
  get router(): Ipv4Addr | undefined {
    return this.gateway;
  }
  private addr: Ipv4Addr;
  private prefix: number;
  readonly mtu: number;
  /** Payload parts per transmit frame: the NIC's iovecs per descriptor (TransportEgress). */
  readonly maxPayloadParts: number;
  readonly neighbors: NeighborCache;
  readonly reassembler: Reassembler;
  readonly icmp: IcmpLayer;
  readonly stats: InterfaceStats = {
    rxFrames: 0,
    txFrames: 0,
    arpRequestsIn: 0,
    arpRepliesIn: 0,
    arpRequestsOut: 0,
    arpRepliesOut: 0,
    ipv4In: 0,
    ipv4Delivered: 0,
    ipv4Out: 0,
    fragmentsIn: 0,
    fragmentsOut: 0,
    reassembled: 0,
    drops: {},
  };
  private readonly nic: Nic;
  private readonly clock: Clock;
  private gateway: Ipv4Addr | undefined;
  private netmask: number;
  private subnetBroadcast: Ipv4Addr;
  /** Told before the address changes (TCP ends the connections that used the old one). */
  private readonly addressWatchers: ((next: Ipv4Addr) => void)[] = [];
  /** Told of a next hop that did not answer ARP (TCP fails connection attempts through it). */
  private readonly unreachableWatchers: ((hop: Ipv4Addr) => void)[] = [];
  /** Shown every ARP packet's sender and target (the DHCP client's RFC 5227 conflict check). */
  private readonly arpWatchers: ((senderIp: Ipv4Addr, senderMac: Uint8Array, targetIp: Ipv4Addr) => void)[] = [];
  private readonly protocols = new Map<number, ProtocolHandler>();
  private readonly ipView = new Ipv4Packet(new Uint8Array(IPV4_MIN_HEADER_LEN));
  private readonly arpView = new ArpPacket(new Uint8Array(ARP_PACKET_LEN));
  private readonly payload = new DatagramPayload();
  private readonly dgram: Ipv4Datagram = {
    src: 0,
    dst: 0,
    protocol: 0,
    ttl: 0,
    tos: 0,
    buf: new Uint8Array(0),
    ipOffset: 0,
    headerLength: 0,
    l4Offset: 0,
    l4Length: 0,
    contiguous: true,
    payload: this.payload,
    l4Checksum: 'unchecked',
  };
  private readonly ipRepr: Ipv4Repr = { src: 0, dst: 0, protocol: 0, ttl: IPV4_DEFAULT_TTL, payloadLength: 0 };
  private ipId: number;
  /** The one transport frame (beginTransport), reused for every segment. */
  private readonly txFrame: TxFrame;
  private announcesLeft = 0;
  private nextAnnounceAt = 0;

  constructor(opts: InterfaceOptions) {
    this.nic = opts.nic;
    this.clock = opts.clock;
    this.mac = opts.mac ?? randomLocalMac(opts.random);
    this.addr = opts.address.address >>> 0;
    this.prefix = opts.address.prefixLength;
    this.netmask = prefixMask(this.prefix);
    this.subnetBroadcast = (this.addr | ~this.netmask) >>> 0;
    this.mtu = opts.mtu;
    this.maxPayloadParts = opts.nic.tx.maxParts;
    this.gateway = opts.gateway;
    this.neighbors = new NeighborCache(opts.neighbor);
    this.icmp = new IcmpLayer(this, opts.clock, opts.icmp);
    this.reassembler = new Reassembler(opts.clock, {
      ...opts.reassembly,
      onExpire: (key, first) => this.icmp.reassemblyTimedOut(key, first),
    });
    // RFC 6864 4.1 only asks uniqueness for fragmentable datagrams; a random start avoids
    // colliding with a previous run's datagrams still in the peer's reassembly queue.
    this.ipId = opts.random.u32() & 0xffff;
    this.protocols.set(IPPROTO_ICMP, this.icmp);
    this.txFrame = new TxFrame(this.nic, this.nic.pool, this);
  }

  /** Attach a transport protocol (TCP, UDP). */
  setProtocol(protocol: number, handler: ProtocolHandler): void {
    this.protocols.set(protocol, handler);
  }

  drop(reason: IfaceCountedDrop): void {
    const d = this.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
  }

  /** Announce our address (RFC 5227 2.3), now and once more later (none while unconfigured). */
  start(): void {
    this.announcesLeft = this.addr !== 0 ? ANNOUNCE_NUM : 0;
    this.nextAnnounceAt = this.clock.nowMs();
    this.poll();
  }

  /** Whether the interface has an address (it has none while DHCP has not given one). */
  get configured(): boolean {
    return this.addr !== 0;
  }

  /**
   * Take an address, prefix and router (a DHCP lease), and announce it (RFC 5227 2.3). When the
   * address changes, the watchers hear of it first, while the old one is still ours.
   */
  configure(address: Ipv4Cidr, gateway?: Ipv4Addr): void {
    const a = address.address >>> 0;
    if (a !== this.addr) for (const w of this.addressWatchers) w(a);
    const changed = a !== this.addr;
    this.setAddress(a, address.prefixLength);
    this.gateway = gateway;
    log('configured %s/%d%s', formatIpv4(a), address.prefixLength, gateway !== undefined ? ` via ${formatIpv4(gateway)}` : '');
    if (changed && a !== 0) this.start();
  }

  /**
   * Give the address up (a DHCP lease ended): 0.0.0.0, no router. Until configured again the
   * interface receives only broadcasts and UDP unicast to its MAC (DHCP's answers), and sends
   * only to the limited broadcast.
   */
  unconfigure(): void {
    if (this.addr === 0) return;
    for (const w of this.addressWatchers) w(0);
    log('unconfigured %s', formatIpv4(this.addr));
    this.setAddress(0, 0);
    this.gateway = undefined;
    this.announcesLeft = 0;
  }

  private setAddress(a: Ipv4Addr, prefixLength: number): void {
    this.addr = a;
    this.prefix = prefixLength;
    this.netmask = prefixMask(prefixLength);
    this.subnetBroadcast = (a | ~this.netmask) >>> 0;
  }

  /** Call `fn(next)` before the address changes to `next` (0: unconfigured). */
  watchAddress(fn: (next: Ipv4Addr) => void): void {
    this.addressWatchers.push(fn);
  }

  /**
   * Call `fn(hop)` when next hop `hop` did not answer ARP (RFC 1122 2.3.2.2: the datagrams
   * waiting for it are dropped and their senders are told, as Linux's neighbour failure reports
   * host unreachable to the sockets that used it).
   */
  watchUnreachable(fn: (hop: Ipv4Addr) => void): void {
    this.unreachableWatchers.push(fn);
  }

  /** Call `fn` with every well-formed ARP packet's sender and target, before it is processed. */
  watchArp(fn: (senderIp: Ipv4Addr, senderMac: Uint8Array, targetIp: Ipv4Addr) => void): void {
    this.arpWatchers.push(fn);
  }

  /** Whether `ip`'s MAC is known; if not, an ARP request for it goes out (its reply is learned). */
  resolveNeighbor(ip: Ipv4Addr): boolean {
    if (this.neighbors.lookup(ip, this.clock.nowMs())) return true;
    this.sendArp(ARP_OP_REQUEST, BROADCAST_MAC, ip, null);
    return false;
  }

  /** An ARP probe for `target` (RFC 5227 2.1.1: sender IP 0.0.0.0, target MAC zero), broadcast. */
  arpProbe(target: Ipv4Addr): void {
    this.sendArp(ARP_OP_REQUEST, BROADCAST_MAC, target, null, 0);
    this.nic.flush();
  }

  // ---- receive ----

  receive(frame: RxFrame): void {
    this.stats.rxFrames++;
    const len = frame.length;
    // TCP and UDP stay where the header split put them: only their headers need to be contiguous.
    const inPlace = (frame.ipv4TcpHeaders && this.protocols.has(IPPROTO_TCP)) || (frame.ipv4UdpHeaders && this.protocols.has(IPPROTO_UDP));
    const buf = inPlace ? frame.headers(frame.headerEnd) : frame.contiguous();
    // Ethernet: for us, broadcast, or dropped (the TAP is not promiscuous about others' frames).
    if (!macEquals(buf, 0, this.mac) && !isBroadcastMac(buf, 0)) {
      this.drop(isMulticastMac(buf, 0) ? 'eth-multicast' : 'eth-not-for-us');
      return;
    }
    if (isMulticastMac(buf, 6)) {
      this.drop('eth-bad-source');
      return;
    }
    const etherType = readU16(buf, 12);
    if (etherType === ETHERTYPE_IPV4) this.receiveIpv4(frame, inPlace, buf, len);
    else if (etherType === ETHERTYPE_ARP) this.receiveArp(buf, len);
    else if (etherType === ETHERTYPE_IPV6) this.drop('eth-ipv6');
    else this.drop('eth-unknown-type');
  }

  private receiveArp(buf: Uint8Array, len: number): void {
    const reason = checkArp(buf, ETHERNET_HEADER_LEN, len - ETHERNET_HEADER_LEN);
    if (reason !== null) return this.drop(reason);
    const arp = this.arpView.reset(buf, ETHERNET_HEADER_LEN, len - ETHERNET_HEADER_LEN);
    const senderIp = arp.senderIp;
    const targetIp = arp.targetIp;
    const senderMac = arp.senderMac;
    const op = arp.operation;
    if (op === ARP_OP_REQUEST) this.stats.arpRequestsIn++;
    else this.stats.arpRepliesIn++;
    for (const w of this.arpWatchers) w(senderIp, senderMac, targetIp);
    // Without an address there is nothing to answer or to learn for.
    if (this.addr === 0) return;
    if (senderIp === this.address && macEquals(senderMac, 0, this.mac)) return; // our own, looped back
    // No station has a zero, broadcast or multicast address, and ours is ours: learnt, such a
    // sender would make us send to nobody, to everybody, or to ourselves (Linux's arp_process
    // refuses them too).
    if (isZeroMac(senderMac, 0) || isMulticastMac(senderMac, 0) || macEquals(senderMac, 0, this.mac)) return this.drop('arp-bad-sender-mac');
    if (senderIp === 0xffffffff || isMulticastIpv4(senderIp)) return this.drop('arp-bad-sender');
    if (senderIp === this.address) {
      // Someone else claims our address (RFC 5227 2.4): we keep it; never learn it.
      this.drop('arp-address-conflict');
      return;
    }
    const now = this.clock.nowMs();
    const forUs = targetIp === this.address;
    // RFC 826 merge: update the sender if known; add it if the packet is for us. An ARP probe
    // (sender 0.0.0.0, RFC 5227) teaches nothing.
    if (senderIp !== 0 && this.onLink(senderIp)) {
      const waiting = this.neighbors.learn(senderIp, senderMac, now, forUs);
      if (waiting) {
        arpLog('resolved %s -> %s, sending %d queued', formatIpv4(senderIp), formatMac(senderMac), waiting.length);
        for (const d of waiting) this.transmitQueued(d);
      }
    }
    if (!forUs) {
      if (senderIp !== targetIp) this.drop('arp-not-for-us');
      return;
    }
    if (op === ARP_OP_REQUEST) this.sendArp(ARP_OP_REPLY, senderMac, senderIp, senderMac);
  }

  /**
   * `buf` holds the frame from its Ethernet header on: all of it, or (when `inPlace`) at least
   * its IP and transport headers, the data being left where the header split put it.
   */
  private receiveIpv4(frame: RxFrame, inPlace: boolean, buf: Uint8Array, len: number): void {
    const reason = checkIpv4(buf, ETHERNET_HEADER_LEN, len - ETHERNET_HEADER_LEN);
    if (reason !== null) return this.drop(reason);
    this.stats.ipv4In++;
    const ip = this.ipView.reset(buf, ETHERNET_HEADER_LEN, Math.min(buf.length, len) - ETHERNET_HEADER_LEN);
    const dst = ip.dst;
    const src = ip.src;
    // Unconfigured, a DHCP server's answer may come unicast to the offered address and our MAC
    // (RFC 2131 4.1): UDP to our MAC is taken whatever its destination address.
    const unconfiguredUdp = this.addr === 0 && ip.protocol === IPPROTO_UDP && macEquals(buf, 0, this.mac) && !isMulticastIpv4(dst);
    if (dst !== this.address && dst !== 0xffffffff && dst !== this.subnetBroadcast && !unconfiguredUdp) {
      return this.drop(isMulticastIpv4(dst) ? 'ipv4-multicast' : 'ipv4-not-for-us');
    }
    // RFC 1122 3.2.1.3: a source that is not one host is discarded silently.
    if (src === 0xffffffff || isMulticastIpv4(src) || src === this.subnetBroadcast || src === this.address || (src >>> 24) === 127) {
      return this.drop('ipv4-bad-source');
    }
    const hl = ip.headerLength;
    const total = ip.totalLength; // Ethernet padding beyond it is ignored
    const dgram = this.dgram;
    dgram.src = src;
    dgram.dst = dst;
    dgram.protocol = ip.protocol;
    dgram.ttl = ip.ttl;
    dgram.tos = (ip.dscp << 2) | ip.ecn;
    if (ip.isFragment) {
      this.stats.fragmentsIn++;
      const key: FragmentKey = { src, dst, protocol: dgram.protocol, id: ip.identification };
      const before = this.reassembler.stats.datagrams;
      const whole = this.reassembler.add(
        key,
        ip.fragmentOffset,
        ip.moreFragments,
        buf.subarray(ETHERNET_HEADER_LEN + hl, ETHERNET_HEADER_LEN + total),
      );
      if (!whole) {
        if (this.reassembler.stats.datagrams === before) this.syncReassemblyDrops();
        return;
      }
      this.stats.reassembled++;
      // The datagram as if it had come whole: the first fragment's header fields, no options.
      const bytes = new Uint8Array(IPV4_MIN_HEADER_LEN + whole.length);
      bytes.set(buf.subarray(ETHERNET_HEADER_LEN, ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN));
      bytes[0] = 0x45;
      bytes.set(whole, IPV4_MIN_HEADER_LEN);
      dgram.buf = bytes;
      dgram.ipOffset = 0;
      dgram.headerLength = IPV4_MIN_HEADER_LEN;
      dgram.l4Offset = IPV4_MIN_HEADER_LEN;
      dgram.l4Length = whole.length;
      dgram.contiguous = true;
      this.payload.setBytes(bytes, IPV4_MIN_HEADER_LEN, whole.length);
      dgram.l4Checksum = 'unchecked';
    } else {
      dgram.buf = buf;
      dgram.ipOffset = ETHERNET_HEADER_LEN;
      dgram.headerLength = hl;
      dgram.l4Offset = ETHERNET_HEADER_LEN + hl;
      dgram.l4Length = total - hl;
      dgram.contiguous = !inPlace;
      // The frame's offsets are buf's: the payload reads the data where it lies, pages included.
      this.payload.setFrame(frame, ETHERNET_HEADER_LEN + hl, total - hl);
      // Left in place, the data is not summed again: the firmware's verdict stands for it.
      dgram.l4Checksum = !inPlace ? 'unchecked' : frame.checksumBad || !frame.checksumOk ? 'bad' : 'good';
    }
    this.deliver(dgram);
  }

  private deliver(dgram: Ipv4Datagram): void {
    const handler = this.protocols.get(dgram.protocol);
    if (handler && handler.receive(dgram)) {
      this.stats.ipv4Delivered++;
      return;
    }
    if (!handler) {
      this.drop('ipv4-unknown-protocol');
      // RFC 1122 3.2.2.1: a host SHOULD answer an unknown protocol with Protocol Unreachable.
      this.icmp.sendProtocolUnreachable(dgram);
    }
  }

  private readonly reassemblyDropsSeen: Partial<Record<ReassemblyDrop, number>> = {};

  /** Mirror the reassembler's drop counters into ours. */
  private syncReassemblyDrops(): void {
    const drops = this.reassembler.stats.drops;
    for (const reason of REASSEMBLY_DROP_REASONS) {
      const delta = drops[reason] - (this.reassemblyDropsSeen[reason] ?? 0);
      if (delta > 0) {
        this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + delta;
        this.reassemblyDropsSeen[reason] = drops[reason];
      }
    }
  }

  // ---- send ----

  /** Whether `a` is on the link's subnet. */
  onLink(a: Ipv4Addr): boolean {
    return ((a ^ this.address) & this.netmask) === 0;
  }

  /**
   * The next hop towards `dst`: `dst` itself on the link, else the router; null when there is
   * no route (no matching prefix and no router, or no address yet).
   */
  nextHop(dst: Ipv4Addr): Ipv4Addr | null {
    if (dst === 0xffffffff) return dst;
    if (this.addr === 0) return null; // unconfigured: the limited broadcast only
    if (this.onLink(dst)) return dst;
    return this.gateway ?? null;
  }

  /** Whether `a` is a broadcast address of this link: limited (255.255.255.255) or the subnet's. */
  isBroadcast(a: Ipv4Addr): boolean {
    return a === 0xffffffff || a === this.subnetBroadcast;
  }

  /** The link address of next hop `hop`: the broadcast MAC for a broadcast (no ARP), else the neighbour's, if known. */
  private linkAddress(hop: Ipv4Addr, now: number): Uint8Array | null {
    return this.isBroadcast(hop) ? BROADCAST_MAC : this.neighbors.lookup(hop, now);
  }

  /**
   * Send `payload` (a transport message) to `dst`. Resolves the next hop (queueing the datagram
   * while ARP answers), fragments when it exceeds the MTU. Returns false when it was dropped.
   */
  sendIpv4(dst: Ipv4Addr, protocol: number, payload: Uint8Array, opts?: SendOptions): boolean {
    const hop = this.nextHop(dst);
    if (hop === null) {
      this.drop('ipv4-no-route');
      return false;
    }
    if (IPV4_MIN_HEADER_LEN + payload.length > 65535) {
      this.drop('ipv4-too-big');
      return false;
    }
    if (opts?.dontFragment && IPV4_MIN_HEADER_LEN + payload.length > this.mtu) {
      this.drop('ipv4-needs-fragmentation');
      return false;
    }
    const r = this.ipRepr;
    r.src = opts?.source ?? this.address;
    r.dst = dst;
    r.protocol = protocol;
    r.ttl = opts?.ttl ?? IPV4_DEFAULT_TTL;
    r.dontFragment = opts?.dontFragment ?? false;
    r.dscp = (opts?.tos ?? 0) >>> 2;
    r.ecn = (opts?.tos ?? 0) & 3;
    r.identification = this.ipId = (this.ipId + 1) & 0xffff;
    const now = this.clock.nowMs();
    const mac = this.linkAddress(hop, now);
    if (!mac) {
      // Hold the whole datagram (copied) until the neighbour answers.
      const held = new Uint8Array(IPV4_MIN_HEADER_LEN + payload.length);
      r.payloadLength = payload.length;
      r.moreFragments = false;
      r.fragmentOffset = 0;
      emitIpv4Repr(r, held, 0);
      held.set(payload, IPV4_MIN_HEADER_LEN);
      if (this.neighbors.enqueue(hop, held, now)) this.sendArp(ARP_OP_REQUEST, BROADCAST_MAC, hop, null);
      return true;
    }
    this.transmit(mac, r, payload, opts?.byReference ?? false);
    return true;
  }

  /**
   * Begin a transport message to `dst`: `l4HeaderLen` header bytes, then `payloadLen` bytes of
   * data, in a datagram with DF set (no fragmentation: a message above the MTU must ask for
   * segmentation when committed) and type of service `tos`. The Ethernet and IPv4 headers are
   * written here; the transport fills the frame's `header`, appends its data and commits.
   * An unresolved next hop makes no difference to the transport: the frame is then queued until
   * ARP answers; a broadcast destination goes to the broadcast MAC. `src` replaces the
   * interface's address as the source (0.0.0.0 before a host has one, RFC 2131 4.1). Returns
   * null when there is no route (counted here, once, as `ipv4-no-route`).
   */
  beginTransport(dst: Ipv4Addr, protocol: number, l4HeaderLen: number, payloadLen: number, tos: number, src: Ipv4Addr = this.address): TxFrame | null {
    const hop = this.nextHop(dst);
    if (hop === null) {
      this.drop('ipv4-no-route');
      return null;
    }
    const l4Length = l4HeaderLen + payloadLen;
    const f = this.txFrame;
    const mac = this.linkAddress(hop, this.clock.nowMs());
    if (!mac) {
      f.startHeld(src, dst, protocol, l4HeaderLen, tos);
      return f;
    }
    const d = this.beginFrame(mac, ETHERTYPE_IPV4);
    const h = this.nic.txHeader(d);
    // IPv4 header written by hand: this runs once per segment.
    const total = IPV4_MIN_HEADER_LEN + l4Length;
    const id = (this.ipId = (this.ipId + 1) & 0xffff);
    h[14] = 0x45;
    h[15] = tos;
    h[16] = total >>> 8;
    h[17] = total & 0xff;
    h[18] = id >>> 8;
    h[19] = id & 0xff;
    h[20] = 0x40; // DF
    h[21] = 0;
    h[22] = IPV4_DEFAULT_TTL;
    h[23] = protocol;
    h[24] = 0;
    h[25] = 0;
    const a = src;
    h[26] = a >>> 24;
    h[27] = (a >>> 16) & 0xff;
    h[28] = (a >>> 8) & 0xff;
    h[29] = a & 0xff;
    h[30] = dst >>> 24;
    h[31] = (dst >>> 16) & 0xff;
    h[32] = (dst >>> 8) & 0xff;
    h[33] = dst & 0xff;
    const sum = foldChecksum(onesComplementSum(h, 14, 34));
    h[24] = sum >>> 8;
    h[25] = sum & 0xff;
    this.stats.txFrames++;
    this.stats.ipv4Out++;
    f.startDescriptor(d, src, dst, protocol, l4HeaderLen, l4Length, tos);
    return f;
  }

  /** A committed transport frame whose next hop is unresolved: into the ARP queue, copied. */
  holdTransport(src: Ipv4Addr, dst: Ipv4Addr, protocol: number, msg: Uint8Array, tos: number): void {
    this.sendIpv4(dst, protocol, msg, { dontFragment: true, tos, source: src });
  }

  /** A datagram that waited for ARP: its header is ours already. */
  private transmitQueued(held: Uint8Array): void {
    const ip = new Ipv4Packet(held);
    const r = this.ipRepr;
    r.src = ip.src;
    r.dst = ip.dst;
    r.protocol = ip.protocol;
    r.ttl = ip.ttl;
    r.dontFragment = ip.dontFragment;
    r.dscp = ip.dscp;
    r.ecn = ip.ecn;
    r.identification = ip.identification;
    const hop = this.nextHop(ip.dst);
    const mac = hop === null ? null : this.neighbors.lookup(hop, this.clock.nowMs());
    if (!mac) return this.drop('ipv4-no-route');
    this.transmit(mac, r, held.subarray(IPV4_MIN_HEADER_LEN), false);
  }

  /** Write the frame(s) of one datagram: whole, or in fragments of the MTU (RFC 791 3.2). */
  private transmit(mac: Uint8Array, r: Ipv4Repr, payload: Uint8Array, byReference: boolean): void {
    const nic = this.nic;
    const total = payload.length;
    // Fragment payloads are multiples of 8 bytes, except the last (RFC 791 3.2).
    const chunk = IPV4_MIN_HEADER_LEN + total <= this.mtu ? total : ((this.mtu - IPV4_MIN_HEADER_LEN) & ~7);
    let off = 0;
    do {
      const n = Math.min(chunk, total - off);
      const d = this.beginFrame(mac, ETHERTYPE_IPV4);
      const h = nic.txHeader(d);
      r.payloadLength = n;
      r.fragmentOffset = off;
      r.moreFragments = off + n < total;
      emitIpv4Repr(r, h, ETHERNET_HEADER_LEN);
      if (n > 0) nic.txAppend(d, payload.subarray(off, off + n), byReference);
      nic.txCommit(d, ETHERNET_HEADER_LEN + IPV4_MIN_HEADER_LEN);
      this.stats.txFrames++;
      if (chunk < total) this.stats.fragmentsOut++;
      off += n;
    } while (off < total);
    this.stats.ipv4Out++;
  }

  /** Start a transmit frame with its Ethernet header: to `dst`, from us, of `etherType`. */
  private beginFrame(dst: Uint8Array, etherType: number): number {
    const d = this.nic.txBegin();
    const h = this.nic.txHeader(d);
    h.set(dst, 0);
    h.set(this.mac, 6);
    h[12] = etherType >>> 8;
    h[13] = etherType & 0xff;
    return d;
  }

  /** Send an ARP packet; `targetMac` null means unknown (a request's zeros); `senderIp` 0 for a probe. */
  private sendArp(op: 1 | 2, ethDst: Uint8Array, targetIp: Ipv4Addr, targetMac: Uint8Array | null, senderIp: Ipv4Addr = this.addr): void {
    const nic = this.nic;
    const d = this.beginFrame(ethDst, ETHERTYPE_ARP);
    const h = nic.txHeader(d);
    const repr: ArpRepr = {
      operation: op,
      senderMac: this.mac,
      senderIp,
      targetMac: targetMac ?? ZERO_MAC,
      targetIp,
    };
    emitArpRepr(repr, h, ETHERNET_HEADER_LEN);
    nic.txCommit(d, ETHERNET_HEADER_LEN + ARP_PACKET_LEN);
    this.stats.txFrames++;
    if (op === ARP_OP_REQUEST) this.stats.arpRequestsOut++;
    else this.stats.arpRepliesOut++;
  }

  // ---- timers ----

  /** Run what is due: ARP retransmissions and expiry, reassembly timeouts, announcements. */
  poll(): void {
    const now = this.clock.nowMs();
    if (this.announcesLeft > 0 && now >= this.nextAnnounceAt) {
      // RFC 5227 2.3 announcement: a request with sender and target both our address.
      this.sendArp(ARP_OP_REQUEST, BROADCAST_MAC, this.address, null);
      this.announcesLeft--;
      this.nextAnnounceAt = now + ANNOUNCE_INTERVAL_MS;
    }
    const actions = this.neighbors.poll(now);
    for (const ip of actions.requests) this.sendArp(ARP_OP_REQUEST, BROADCAST_MAC, ip, null);
    for (const f of actions.failed) {
      log('no ARP answer from %s: dropping %d datagrams', formatIpv4(f.ip), f.packets.length);
      for (let i = 0; i < f.packets.length; i++) this.drop('arp-unresolved');
      for (const w of this.unreachableWatchers) w(f.ip);
    }
    if (this.reassembler.pending > 0) {
      this.reassembler.expire();
      this.syncReassemblyDrops();
    }
    this.nic.flush();
  }

  /** When {@link poll} next has work, in clock milliseconds (Infinity: nothing scheduled). */
  nextDeadline(): number {
    let t = this.neighbors.nextDeadline();
    if (this.announcesLeft > 0) t = Math.min(t, this.nextAnnounceAt);
    if (this.reassembler.pending > 0) t = Math.min(t, this.clock.nowMs() + 1000);
    return t;
  }
}

const ZERO_MAC = new Uint8Array(6);
