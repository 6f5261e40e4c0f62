/**
 * The UDP layer (RFC 768, RFC 1122 4.1): binds local (address, port) pairs to endpoints,
 * demultiplexes received datagrams to them, verifies checksums (a zero field means none),
 * answers datagrams to closed ports with Port Unreachable through the interface's rate limit
 * (RFC 1122 4.1.3.1), passes ICMP errors about sent datagrams to the port that sent them (RFC
 * 1122 4.1.3.3), and sends: in one frame through the transmit seam when the datagram fits the
 * MTU (pages by reference, the checksum finished by the device or the driver), fragmented by
 * the interface when it does not, and batches of same-size datagrams as one USO frame
 * (VIRTIO_NET_HDR_GSO_UDP_L4) when the device takes them.
 */
import debugFactory from 'debug';
import type { Random } from '../random.js';
import type { Interface, Ipv4Datagram, ProtocolHandler } from '../iface/interface.js';
import type { PagePool } from '../mem/page-pool.js';
import type { RxPayload } from '../mem/rx-payload.js';
import { formatIpv4, isMulticastIpv4, readIpv4, type Ipv4Addr } from '../wire/addr.js';
import { readU16, writeU16 } from '../wire/bytes.js';
import { fillTransportChecksum, foldChecksum, onesComplementSum, pseudoHeaderSum } from '../wire/checksum.js';
import { IPPROTO_UDP, IPV4_MIN_HEADER_LEN } from '../wire/ipv4.js';
import { checkUdp, emitUdpHeader, UDP_CHECKSUM_OFFSET, UDP_HEADER_LEN, UDP_MAX_PAYLOAD_IPV4 } from '../wire/udp.js';
import { UdpError } from './errors.js';
import { UdpPayload } from './payload.js';
import { PortTable, type Bound } from './port-table.js';
import type { UdpCountedDrop, UdpDrops } from './reasons.js';

const log = debugFactory('tapstack:udp');

/**
 * Datagrams one USO frame carries at most: Linux's UDP_MAX_SEGMENTS (udp_send_skb refuses more
 * from a socket; the same bound keeps a frame the kernel segments within what it would build).
 */
export const USO_MAX_SEGMENTS = 64;

/** A page send completed: why its bytes were copied after all, or null (sent by reference). */
export type PagesSent = (copy: 'fragmented' | 'slow-path' | null) => void;

/** One received datagram, valid during {@link UdpEndpoint.receive} only (one object is reused). */
export interface UdpDatagram {
  src: Ipv4Addr;
  srcPort: number;
  dst: Ipv4Addr;
  dstPort: number;
  /** The data: its length, a copy of a range, or its pages (when it starts on a page boundary). */
  payload: RxPayload;
}

/** An ICMP error about a datagram a port sent: the ICMP type and code, and where the datagram went. */
export interface UdpIcmpError {
  type: number;
  code: number;
  dst: Ipv4Addr;
  dstPort: number;
}

/** What a binding delivers to. */
export interface UdpEndpoint {
  /** One datagram; `d.payload` is valid only during the call. */
  receive(d: UdpDatagram): void;
  /** An ICMP error about a datagram this port sent (optional). */
  icmpError?(e: UdpIcmpError): void;
}

export interface UdpSendOptions {
  /** Source address instead of the binding's or the interface's (0.0.0.0 is allowed: DHCP). */
  source?: Ipv4Addr;
  /** Permit 255.255.255.255 and the subnet's broadcast (SO_BROADCAST; without it EACCES, as Linux). */
  broadcast?: boolean;
}

/** A bound port (the contract DHCP, DNS and the dgram socket build on). */
export interface UdpPort {
  readonly port: number;
  send(dst: Ipv4Addr, dstPort: number, data: Uint8Array, opts?: UdpSendOptions): void;
  close(): void;
}

export interface UdpStats {
  datagramsIn: number;
  bytesIn: number;
  datagramsOut: number;
  bytesOut: number;
  /** Received without a checksum (field 0, RFC 768). */
  noChecksumIn: number;
  /** ICMP errors about datagrams we sent, and those a port took. */
  icmpErrorsIn: number;
  icmpErrorsDelivered: number;
  /** Datagrams sent in IP fragments (larger than the MTU). */
  fragmentedOut: number;
  /** USO frames written, and the datagrams they carried. */
  usoFrames: number;
  usoDatagrams: number;
  /** Bytes sent from pool pages by reference, and bytes of such pages copied after all (fragmented, waiting for ARP). */
  sentByReferenceBytes: number;
  sentPagesCopiedBytes: number;
  /** Bound ports now. */
  ports: number;
  drops: UdpDrops;
}

export function emptyUdpStats(): UdpStats {
  return {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    noChecksumIn: 0,
    icmpErrorsIn: 0,
    icmpErrorsDelivered: 0,
    fragmentedOut: 0,
    usoFrames: 0,
    usoDatagrams: 0,
    sentByReferenceBytes: 0,
    sentPagesCopiedBytes: 0,
    ports: 0,
    drops: {},
  };
}

export interface UdpLayerOptions {
  iface: Interface;
  /** The pool page sends take their pages from. */
  pool: PagePool;
  /** The ephemeral ports are drawn from it (src/random.ts). */
  random: Random;
  /** The device segments UDP (USO, VIRTIO_NET_HDR_GSO_UDP_L4): batches go as one frame. */
  uso?: boolean;
  /** How to run the flush after application calls (setImmediate by default). */
  defer?: (fn: () => void) => void;
  /** Write what is queued (the NIC's flush). */
  kick: () => void;
}

/** A binding: the port handed to an endpoint. */
export class UdpBinding implements UdpPort, Bound {
  remoteAddress: Ipv4Addr = 0;
  remotePort = 0;
  closed = false;

  constructor(
    private readonly layer: UdpLayer,
    readonly address: Ipv4Addr,
    readonly port: number,
    readonly endpoint: UdpEndpoint,
  ) {}

  send(dst: Ipv4Addr, dstPort: number, data: Uint8Array, opts?: UdpSendOptions): void {
    this.layer.send(this, dst, dstPort, data, 0, data.length, opts);
  }

  /** Send `data[start, end)` as one datagram (no subarray needed). */
  sendRange(dst: Ipv4Addr, dstPort: number, data: Uint8Array, start: number, end: number, opts?: UdpSendOptions): void {
    this.layer.send(this, dst, dstPort, data, start, end, opts);
  }

  /**
   * Send `data` as datagrams of `segmentSize` bytes (the last may be shorter), as Linux's
   * UDP_SEGMENT: one USO frame per up to 64 of them when the device segments, else one frame each.
   */
  sendSegments(dst: Ipv4Addr, dstPort: number, data: Uint8Array, segmentSize: number, opts?: UdpSendOptions): void {
    this.layer.sendSegments(this, dst, dstPort, data, segmentSize, opts);
  }

  /**
   * Send pool pages `ids` (with `lens` bytes each) as one datagram, by reference. They must stay
   * unchanged until `done` runs, after the frame was written; `done(copy)` says why the bytes
   * were copied after all (the datagram was fragmented, or waited for ARP), null when they were
   * not.
   */
  sendPages(dst: Ipv4Addr, dstPort: number, ids: readonly number[], lens: readonly number[], done: PagesSent, opts?: UdpSendOptions): void {
    this.layer.sendPages(this, dst, dstPort, ids, lens, done, opts);
  }

  /** Receive only from `address:port` (RFC 1122 4.1.3.4 leaves it to the application; Linux's connect). */
  connect(address: Ipv4Addr, port: number): void {
    this.remoteAddress = address;
    this.remotePort = port;
  }

  disconnect(): void {
    this.remoteAddress = 0;
    this.remotePort = 0;
  }

  /** Count a drop of this port's (its receive buffer was full). */
  drop(reason: UdpCountedDrop): void {
    this.layer.drop(reason);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unbind(this);
  }
}

export class UdpLayer implements ProtocolHandler {
  readonly stats: UdpStats = emptyUdpStats();
  readonly uso: boolean;
  private readonly iface: Interface;
  private readonly table: PortTable<UdpBinding>;
  private readonly defer: (fn: () => void) => void;
  private readonly kick: () => void;
  private flushScheduled = false;
  /** Page sends waiting for the flush that writes their frames. */
  private written: PagesSent[] = [];
  private readonly payload = new UdpPayload();
  private readonly datagram: UdpDatagram = { src: 0, dst: 0, srcPort: 0, dstPort: 0, payload: this.payload };
  private readonly icmpError: UdpIcmpError = { type: 0, code: 0, dst: 0, dstPort: 0 };
  /** A datagram whose data lies in pages, summed here when the driver's verdict does not cover it. */
  private readonly scratch = new Uint8Array(65536);
  private readonly pool: PagePool;

  constructor(o: UdpLayerOptions) {
    this.iface = o.iface;
    this.pool = o.pool;
    this.uso = o.uso ?? false;
    this.table = new PortTable(o.random);
    this.defer = o.defer ?? ((fn) => setImmediate(fn));
    this.kick = o.kick;
    o.iface.setProtocol(IPPROTO_UDP, this);
    o.iface.icmp.onErrorFor(IPPROTO_UDP, (type, code, quoted) => this.icmpErrorIn(type, code, quoted));
  }

  drop(reason: UdpCountedDrop): void {
    const d = this.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
  }

  // ---- binding ----

  /**
   * Bind `address:port` to `endpoint`. Port 0 picks an ephemeral one; address 0 is every local
   * address (and the broadcasts). Throws a {@link UdpError}: EADDRINUSE when taken, EADDRNOTAVAIL
   * for an address not ours, EINVAL for a port out of range.
   */
  bind(address: Ipv4Addr, port: number, endpoint: UdpEndpoint): UdpBinding {
    address >>>= 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UdpError('EINVAL', `port ${port} out of range 0..65535`, 'bind');
    if (address !== 0 && address !== this.iface.address && !this.iface.isBroadcast(address)) {
      throw new UdpError('EADDRNOTAVAIL', `${formatIpv4(address)} is not a local address`, 'bind');
    }
    if (port === 0) {
      port = this.table.ephemeral(address);
      if (port < 0) throw new UdpError('EADDRINUSE', 'no ephemeral port is free', 'bind');
    } else if (this.table.taken(address, port)) {
      throw new UdpError('EADDRINUSE', `${formatIpv4(address)}:${port} is already in use`, 'bind');
    }
    const b = new UdpBinding(this, address, port, endpoint);
    this.table.add(b);
    this.stats.ports++;
    log('bound %s:%d', formatIpv4(address), port);
    return b;
  }

  /** @internal A binding closes. */
  unbind(b: UdpBinding): void {
    this.table.remove(b);
    this.stats.ports--;
  }

  // ---- receive ----

  receive(dgram: Ipv4Datagram): boolean {
    const buf = dgram.buf;
    const l4 = dgram.l4Offset;
    const reason = checkUdp(buf, l4, dgram.l4Length);
    if (reason !== null) {
      this.drop(reason);
      return true;
    }
    const ulen = readU16(buf, l4 + 4);
    if (readU16(buf, l4 + UDP_CHECKSUM_OFFSET) === 0) this.stats.noChecksumIn++;
    else if (!this.checksumOk(dgram, ulen)) {
      this.drop('udp-bad-checksum');
      return true;
    }
    const srcPort = readU16(buf, l4);
    const dstPort = readU16(buf, l4 + 2);
    const b = this.table.lookup(dgram.dst, dstPort, dgram.src, srcPort);
    if (b === null) {
      this.drop('udp-no-port');
      // RFC 1122 4.1.3.1; the ICMP layer rate-limits and keeps quiet about broadcasts.
      this.iface.icmp.sendPortUnreachable(dgram, (quote, at) => this.finishQuotedChecksum(dgram, ulen, quote, at));
      return true;
    }
    const st = this.stats;
    st.datagramsIn++;
    st.bytesIn += ulen - UDP_HEADER_LEN;
    const d = this.datagram;
    d.src = dgram.src;
    d.dst = dgram.dst;
    d.srcPort = srcPort;
    d.dstPort = dstPort;
    this.payload.set(dgram.payload, UDP_HEADER_LEN, ulen - UDP_HEADER_LEN);
    b.endpoint.receive(d);
    return true;
  }

  /**
   * The checksum (not zero) is right: the driver's verdict when it covered exactly this
   * datagram (verified, or vouched for or left partial by the kernel), else our own sum over
   * the UDP length (a datagram with IP padding, a reassembled one).
   */
  private checksumOk(dgram: Ipv4Datagram, ulen: number): boolean {
    if (ulen === dgram.l4Length && dgram.l4Checksum !== 'unchecked') return dgram.l4Checksum === 'good';
    const p = pseudoHeaderSum(dgram.src, dgram.dst, IPPROTO_UDP, ulen);
    if (dgram.contiguous) return foldChecksum(onesComplementSum(dgram.buf, dgram.l4Offset, dgram.l4Offset + ulen, p)) === 0;
    dgram.payload.copyOut(0, ulen, this.scratch, 0);
    return foldChecksum(onesComplementSum(this.scratch, 0, ulen, p)) === 0;
  }

  /**
   * The quoted datagram's checksum as it went on the wire: the field of a datagram whose
   * checksum the kernel left partial (offloads) holds only the pseudo-header sum. Run only for
   * an error that is sent (after the rate limit).
   */
  private finishQuotedChecksum(dgram: Ipv4Datagram, ulen: number, quote: Uint8Array, at: number): void {
    if (quote.length < at + UDP_HEADER_LEN || readU16(quote, at + UDP_CHECKSUM_OFFSET) === 0) return;
    let msg: Uint8Array = this.scratch;
    let start = 0;
    if (dgram.contiguous) {
      msg = dgram.buf;
      start = dgram.l4Offset;
    } else dgram.payload.copyOut(0, ulen, this.scratch, 0);
    const field = readU16(msg, start + UDP_CHECKSUM_OFFSET);
    // The sum with the field taken as zero: subtract it (one's complement: add its complement).
    const sum = onesComplementSum(msg, start, start + ulen, pseudoHeaderSum(dgram.src, dgram.dst, IPPROTO_UDP, ulen) + (~field & 0xffff));
    writeU16(quote, at + UDP_CHECKSUM_OFFSET, foldChecksum(sum) || 0xffff);
  }

  /** An ICMP error quoting a datagram we sent (`quoted`: its IP header and at least 8 bytes of UDP). */
  private icmpErrorIn(type: number, code: number, quoted: Uint8Array): void {
    this.stats.icmpErrorsIn++;
    const ihl = (quoted[0]! & 0x0f) * 4;
    if (ihl < IPV4_MIN_HEADER_LEN || quoted.length < ihl + 4) return;
    const src = readIpv4(quoted, 12);
    const dst = readIpv4(quoted, 16);
    const srcPort = readU16(quoted, ihl);
    const dstPort = readU16(quoted, ihl + 2);
    const b = this.table.lookup(src, srcPort, dst, dstPort);
    if (b === null || !b.endpoint.icmpError) return;
    this.stats.icmpErrorsDelivered++;
    const e = this.icmpError;
    e.type = type;
    e.code = code;
    e.dst = dst;
    e.dstPort = dstPort;
    b.endpoint.icmpError(e);
  }

  // ---- send ----

  /** Check a send and choose its source address; throws what Linux's udp_sendmsg would. */
  private sourceFor(b: UdpBinding, dst: Ipv4Addr, dstPort: number, len: number, opts: UdpSendOptions | undefined): Ipv4Addr {
    if (b.closed) throw new UdpError('EINVAL', 'the port is closed', 'send');
    if (!Number.isInteger(dstPort) || dstPort < 1 || dstPort > 65535) throw new UdpError('EINVAL', `port ${dstPort} out of range 1..65535`, 'send');
    if (len > UDP_MAX_PAYLOAD_IPV4) throw new UdpError('EMSGSIZE', `${len} bytes exceed ${UDP_MAX_PAYLOAD_IPV4}`, 'send');
    dst >>>= 0;
    if (this.iface.isBroadcast(dst) && !opts?.broadcast) throw new UdpError('EACCES', `${formatIpv4(dst)} is a broadcast address (set broadcast)`, 'send');
    // No groups are joined and no multicast MAC is mapped: refused rather than sent to the gateway.
    if (isMulticastIpv4(dst) || dst === 0) throw new UdpError('ENETUNREACH', `${formatIpv4(dst)} is not reachable`, 'send');
    if (opts?.source !== undefined) return opts.source >>> 0;
    return b.address !== 0 && !this.iface.isBroadcast(b.address) ? b.address : this.iface.address;
  }

  /** One datagram of `data[start, end)`. */
  send(b: UdpBinding, dst: Ipv4Addr, dstPort: number, data: Uint8Array, start: number, end: number, opts?: UdpSendOptions): void {
    const len = end - start;
    const src = this.sourceFor(b, dst, dstPort, len, opts);
    dst >>>= 0;
    if (IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + len <= this.iface.mtu) {
      const f = this.iface.beginTransport(dst, IPPROTO_UDP, UDP_HEADER_LEN, len, 0, src);
      if (f === null) throw new UdpError('ENETUNREACH', `no route to ${formatIpv4(dst)}`, 'send');
      emitUdpHeader(f.header, 0, b.port, dstPort, len);
      if (len > 0) f.appendBytes(data, start, end);
      f.commit(0, false, UDP_CHECKSUM_OFFSET);
    } else {
      this.sendFragmented(b.port, src, dst, dstPort, (msg) => msg.set(data.subarray(start, end), UDP_HEADER_LEN), len);
    }
    this.sent(1, len);
  }

  /** A datagram above the MTU: built whole (a copy) and fragmented by the interface (RFC 791 3.2). */
  private sendFragmented(srcPort: number, src: Ipv4Addr, dst: Ipv4Addr, dstPort: number, fill: (msg: Uint8Array) => void, len: number): void {
    const msg = new Uint8Array(UDP_HEADER_LEN + len);
    emitUdpHeader(msg, 0, srcPort, dstPort, len);
    fill(msg);
    fillTransportChecksum(msg, 0, msg.length, src, dst, IPPROTO_UDP, UDP_CHECKSUM_OFFSET);
    if (!this.iface.sendIpv4(dst, IPPROTO_UDP, msg, { source: src })) throw new UdpError('ENETUNREACH', `no route to ${formatIpv4(dst)}`, 'send');
    this.stats.fragmentedOut++;
  }

  /** Datagrams of `segmentSize` bytes cut from `data`: USO frames when the device segments. */
  sendSegments(b: UdpBinding, dst: Ipv4Addr, dstPort: number, data: Uint8Array, segmentSize: number, opts?: UdpSendOptions): void {
    const mtuData = this.iface.mtu - IPV4_MIN_HEADER_LEN - UDP_HEADER_LEN;
    if (!Number.isInteger(segmentSize) || segmentSize < 1 || segmentSize > mtuData) {
      throw new UdpError('EINVAL', `segment size ${segmentSize} out of range 1..${mtuData}`, 'send');
    }
    const src = this.sourceFor(b, dst, dstPort, Math.min(data.length, segmentSize), opts);
    dst >>>= 0;
    // The most whole segments one frame may carry: 64, and an IP datagram's 65535 bytes.
    const perFrame = Math.min(USO_MAX_SEGMENTS, Math.floor((65535 - IPV4_MIN_HEADER_LEN - UDP_HEADER_LEN) / segmentSize)) * segmentSize;
    for (let off = 0; off < data.length; ) {
      const len = Math.min(perFrame, data.length - off);
      if (!this.uso || len <= segmentSize) {
        // One datagram per frame (the kernel refuses a USO frame of one segment).
        const n = Math.min(segmentSize, len);
        const f = this.iface.beginTransport(dst, IPPROTO_UDP, UDP_HEADER_LEN, n, 0, src);
        if (f === null) throw new UdpError('ENETUNREACH', `no route to ${formatIpv4(dst)}`, 'send');
        emitUdpHeader(f.header, 0, b.port, dstPort, n);
        f.appendBytes(data, off, off + n);
        f.commit(0, false, UDP_CHECKSUM_OFFSET);
        this.sent(1, n);
        off += n;
        continue;
      }
      const f = this.iface.beginTransport(dst, IPPROTO_UDP, UDP_HEADER_LEN, len, 0, src);
      if (f === null) throw new UdpError('ENETUNREACH', `no route to ${formatIpv4(dst)}`, 'send');
      emitUdpHeader(f.header, 0, b.port, dstPort, len);
      f.appendBytes(data, off, off + len);
      f.commit(segmentSize, false, UDP_CHECKSUM_OFFSET);
      const count = Math.ceil(len / segmentSize);
      this.stats.usoFrames++;
      this.stats.usoDatagrams += count;
      this.sent(count, len);
      off += len;
    }
  }

  /** One datagram of pool pages, by reference when it fits one frame. */
  sendPages(
    b: UdpBinding,
    dst: Ipv4Addr,
    dstPort: number,
    ids: readonly number[],
    lens: readonly number[],
    done: PagesSent,
    opts?: UdpSendOptions,
  ): void {
    let len = 0;
    for (let i = 0; i < lens.length; i++) len += lens[i]!;
    const src = this.sourceFor(b, dst, dstPort, len, opts);
    dst >>>= 0;
    const pool = this.pool;
    if (IPV4_MIN_HEADER_LEN + UDP_HEADER_LEN + len > this.iface.mtu || ids.length > this.iface.maxPayloadParts) {
      this.sendFragmented(
        b.port,
        src,
        dst,
        dstPort,
        (msg) => {
          let at = UDP_HEADER_LEN;
          for (let i = 0; i < ids.length; i++) {
            msg.set(pool.view(ids[i]!).subarray(0, lens[i]!), at);
            at += lens[i]!;
          }
        },
        len,
      );
      this.stats.sentPagesCopiedBytes += len;
      this.sent(1, len);
      done('fragmented');
      return;
    }
    const f = this.iface.beginTransport(dst, IPPROTO_UDP, UDP_HEADER_LEN, len, 0, src);
    if (f === null) throw new UdpError('ENETUNREACH', `no route to ${formatIpv4(dst)}`, 'send');
    emitUdpHeader(f.header, 0, b.port, dstPort, len);
    for (let i = 0; i < ids.length; i++) f.appendPage(ids[i]!, 0, lens[i]!);
    const copied = f.commit(0, false, UDP_CHECKSUM_OFFSET);
    this.sent(1, len);
    if (copied > 0) {
      this.stats.sentPagesCopiedBytes += len;
      done('slow-path');
      return;
    }
    this.stats.sentByReferenceBytes += len;
    this.written.push(done);
  }

  private sent(datagrams: number, bytes: number): void {
    this.stats.datagramsOut += datagrams;
    this.stats.bytesOut += bytes;
    this.scheduleFlush();
  }

  /**
   * Write what was sent at the end of this turn of the event loop (one flush for every send of
   * the turn, no timer per datagram), then complete the page sends it wrote.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.defer(() => this.flush());
  }

  /**
   * The stack is closing: page sends whose frames were not written yet complete now (the NIC
   * drops its queue), so their pages go back to the application.
   */
  shutdown(): void {
    const done = this.written;
    this.written = [];
    for (const fn of done) fn(null);
  }

  /** Write the queued frames now and complete the page sends among them. */
  flush(): void {
    this.flushScheduled = false;
    this.kick();
    if (this.written.length === 0) return;
    const done = this.written;
    this.written = [];
    for (const fn of done) fn(null);
  }
}
