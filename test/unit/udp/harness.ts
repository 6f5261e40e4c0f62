/**
 * A UDP stack on the in-memory device, deterministic: MemoryDevice + Nic + Interface + UdpLayer
 * on a ManualClock and a seeded Random, wired as `Stack` wires them, with the deferred flush run
 * by {@link UdpHarness.settle}. The peer's datagrams are built with the `src/wire` emitters;
 * every frame tapstack writes is parsed (IP and UDP checksums verified).
 */
import { expect } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { SeededRandom } from '../../../src/random.js';
import { Interface, type InterfaceOptions } from '../../../src/iface/interface.js';
import { Nic } from '../../../src/nic/nic.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import { UdpLayer, type UdpDatagram, type UdpEndpoint, type UdpIcmpError } from '../../../src/udp/udp-layer.js';
import { parseIpv4, parseMac, type Ipv4Addr } from '../../../src/wire/addr.js';
import { emitArpRepr } from '../../../src/wire/arp.js';
import { fillTransportChecksum, internetChecksum, verifyTransportChecksum } from '../../../src/wire/checksum.js';
import { emitEthernetRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../../src/wire/ethernet.js';
import { emitIpv4Repr, IPPROTO_ICMP, IPPROTO_UDP, Ipv4Packet } from '../../../src/wire/ipv4.js';
import { emitUdpHeader, UDP_CHECKSUM_OFFSET } from '../../../src/wire/udp.js';
import { emitIcmpError, ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, icmpErrorBufferLength } from '../../../src/wire/icmp.js';

export const OUR_MAC = parseMac('02:00:00:00:00:02');
export const PEER_MAC = parseMac('02:00:00:00:00:01');
export const OUR_IP = parseIpv4('198.18.0.2');
export const PEER_IP = parseIpv4('198.18.0.1');
export const SUBNET_BROADCAST = parseIpv4('198.18.0.255');
export const MTU = 1500;

/** One frame tapstack wrote, parsed. */
export interface Sent {
  ethDst: Uint8Array;
  src: Ipv4Addr;
  dst: Ipv4Addr;
  protocol: number;
  id: number;
  fragment: boolean;
  /** The IP payload (the transport message, or a fragment of it). */
  ip: Uint8Array;
}

/** `n` bytes of a recognisable pattern. */
export function pattern(n: number, start = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((start + i) * 7 + 3) & 0xff;
  return b;
}

/** An endpoint that keeps copies of what it received and the ICMP errors. */
export class Collector implements UdpEndpoint {
  readonly got: { src: Ipv4Addr; srcPort: number; dst: Ipv4Addr; dstPort: number; data: Uint8Array }[] = [];
  readonly errors: UdpIcmpError[] = [];
  receive(d: UdpDatagram): void {
    const data = new Uint8Array(d.payload.length);
    d.payload.copyOut(0, data.length, data, 0);
    this.got.push({ src: d.src, srcPort: d.srcPort, dst: d.dst, dstPort: d.dstPort, data });
  }
  icmpError(e: UdpIcmpError): void {
    this.errors.push({ ...e });
  }
}

export interface UdpFrameOptions {
  src?: Ipv4Addr;
  dst?: Ipv4Addr;
  srcPort?: number;
  dstPort: number;
  data: Uint8Array;
  /** The UDP length field (default 8 + data). */
  udpLength?: number;
  /** The checksum field: 'good' (default), 'zero' (none), or a value to write as it is. */
  checksum?: 'good' | 'zero' | number;
  ethDst?: Uint8Array;
  /** Bytes of the IP payload (default: header and data); fewer cut the datagram. */
  ipPayload?: number;
}

/** An Ethernet frame carrying a UDP datagram from the peer. */
export function udpFrame(o: UdpFrameOptions): Uint8Array {
  const src = o.src ?? PEER_IP;
  const dst = o.dst ?? OUR_IP;
  const msg = new Uint8Array(8 + o.data.length);
  emitUdpHeader(msg, 0, o.srcPort ?? 5000, o.dstPort, o.data.length);
  msg.set(o.data, 8);
  if (o.udpLength !== undefined) msg[4] = o.udpLength >>> 8, (msg[5] = o.udpLength & 0xff);
  const cs = o.checksum ?? 'good';
  if (cs === 'good') fillTransportChecksum(msg, 0, Math.min(msg.length, o.udpLength ?? msg.length), src, dst, IPPROTO_UDP, UDP_CHECKSUM_OFFSET);
  else if (typeof cs === 'number') msg[6] = cs >>> 8, (msg[7] = cs & 0xff);
  const ipLen = o.ipPayload ?? msg.length;
  const f = new Uint8Array(14 + 20 + ipLen);
  emitEthernetRepr({ dst: o.ethDst ?? OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
  emitIpv4Repr({ src, dst, protocol: IPPROTO_UDP, ttl: 64, payloadLength: ipLen }, f, 14);
  f.set(msg.subarray(0, Math.min(ipLen, msg.length)), 34);
  return f;
}

export class UdpHarness {
  readonly clock = new ManualClock(10_000);
  readonly random = new SeededRandom(7);
  readonly dev: MemoryDevice;
  readonly nic: Nic;
  readonly iface: Interface;
  readonly udp: UdpLayer;
  private readonly queue: (() => void)[] = [];
  readonly out: Sent[] = [];

  constructor(o: { icmp?: InterfaceOptions['icmp']; uso?: boolean; offloads?: boolean; split?: number } = {}) {
    this.dev = new MemoryDevice('mem0', o.offloads ? 12 : 0, o.offloads ?? false);
    this.nic = new Nic({ device: this.dev, mtu: MTU, rxDescriptors: 32, txDescriptors: 64, extraPages: 1024, ...(o.split !== undefined ? { split: { kind: 'fixed', size: o.split } } : {}) });
    this.iface = new Interface({
      nic: this.nic,
      clock: this.clock,
      random: this.random,
      address: { address: OUR_IP, prefixLength: 24 },
      mtu: MTU,
      mac: OUR_MAC,
      neighbor: { reachableMs: 1e12, staleMs: 1e12 },
      ...(o.icmp ? { icmp: o.icmp } : {}),
    });
    this.udp = new UdpLayer({ iface: this.iface, pool: this.nic.pool, random: this.random, uso: o.uso ?? false, defer: (fn) => this.queue.push(fn), kick: () => this.nic.flush() });
    const iface = this.iface;
    this.nic.start({ receive: (f) => iface.receive(f) });
  }

  /** The peer asks for our address: the interface learns its MAC. */
  resolveArp(): this {
    const f = new Uint8Array(42);
    emitEthernetRepr({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: PEER_MAC, etherType: ETHERTYPE_ARP }, f);
    emitArpRepr({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: new Uint8Array(6), targetIp: OUR_IP }, f, 14);
    this.deliver(f);
    this.dev.written.length = 0;
    this.out.length = 0;
    return this;
  }

  /** The peer answers our ARP request: what was queued for it goes out. */
  resolveArpAnd(): Sent[] {
    const f = new Uint8Array(42);
    emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_ARP }, f);
    emitArpRepr({ operation: 2, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: OUR_MAC, targetIp: OUR_IP }, f, 14);
    return this.deliver(f);
  }

  /** Run the deferred flush, and parse what was written. */
  settle(): Sent[] {
    while (this.queue.length > 0) this.queue.shift()!();
    this.nic.flush();
    const vnet = this.dev.vnetHdrLen;
    for (const raw of this.dev.written) {
      const f = raw.subarray(vnet);
      if (((f[12]! << 8) | f[13]!) !== ETHERTYPE_IPV4) continue;
      const ip = new Ipv4Packet(f, 14);
      expect(internetChecksum(f, 14, 34), 'IPv4 header checksum').toBe(0);
      const payload = f.slice(34, 14 + ip.totalLength);
      this.out.push({ ethDst: f.slice(0, 6), src: ip.src, dst: ip.dst, protocol: ip.protocol, id: ip.identification, fragment: ip.moreFragments || ip.fragmentOffset > 0, ip: payload });
    }
    this.dev.written.length = 0;
    return this.take();
  }

  take(): Sent[] {
    return this.out.splice(0, this.out.length);
  }

  /** Frames from the wire (a zero virtio-net header put before each when the device has them). */
  deliver(...frames: Uint8Array[]): Sent[] {
    const v = this.dev.vnetHdrLen;
    this.dev.deliver(...frames.map((f) => (v === 0 ? f : Uint8Array.from([...new Uint8Array(v), ...f]))));
    return this.settle();
  }
}

/** A frame of the peer's Port Unreachable quoting `msg`, a UDP message we sent (RFC 792: IP header and data). */
export function portUnreachableAbout(msg: Uint8Array): Uint8Array {
  const quoted = new Uint8Array(20 + msg.length);
  emitIpv4Repr({ src: OUR_IP, dst: PEER_IP, protocol: IPPROTO_UDP, ttl: 64, payloadLength: msg.length }, quoted, 0);
  quoted.set(msg, 20);
  const icmp = new Uint8Array(icmpErrorBufferLength(quoted.length));
  emitIcmpError({ type: ICMP_DEST_UNREACHABLE, code: ICMP_UNREACH_PORT }, quoted, icmp, 0);
  const f = new Uint8Array(34 + icmp.length);
  emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
  emitIpv4Repr({ src: PEER_IP, dst: OUR_IP, protocol: IPPROTO_ICMP, ttl: 64, payloadLength: icmp.length }, f, 14);
  f.set(icmp, 34);
  return f;
}

/** The UDP datagram in a sent frame, its checksum checked (0 means none). */
export function parseUdp(s: Sent): { srcPort: number; dstPort: number; length: number; checksum: number; data: Uint8Array } {
  expect(s.protocol).toBe(IPPROTO_UDP);
  const m = s.ip;
  const checksum = (m[6]! << 8) | m[7]!;
  if (checksum !== 0) expect(verifyTransportChecksum(m, 0, m.length, s.src, s.dst, IPPROTO_UDP), 'UDP checksum').toBe(true);
  return { srcPort: (m[0]! << 8) | m[1]!, dstPort: (m[2]! << 8) | m[3]!, length: (m[4]! << 8) | m[5]!, checksum, data: m.slice(8) };
}

