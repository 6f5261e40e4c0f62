import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UdpError } from '../../../src/udp/errors.js';
import { EPHEMERAL_HIGH, EPHEMERAL_LOW } from '../../../src/udp/port-table.js';
import { BROADCAST_MAC, parseIpv4 } from '../../../src/wire/addr.js';
import { ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT } from '../../../src/wire/icmp.js';
import { emitEthernetRepr, ETHERTYPE_IPV4 } from '../../../src/wire/ethernet.js';
import { emitIpv4Repr, IPPROTO_ICMP } from '../../../src/wire/ipv4.js';
import { Collector, MTU, OUR_IP, OUR_MAC, parseUdp, pattern, PEER_IP, PEER_MAC, portUnreachableAbout, SUBNET_BROADCAST, udpFrame, UdpHarness } from './harness.js';

const ANY = 0;

describe('UDP layer: receive and demultiplexing', () => {
  it('delivers a datagram to the port bound to it, with addresses, ports and data', () => {
    const h = new UdpHarness().resolveArp();
    const c = new Collector();
    h.udp.bind(ANY, 7, c);
    expect(h.deliver(udpFrame({ dstPort: 7, srcPort: 4444, data: pattern(100) }))).toEqual([]);
    expect(c.got).toHaveLength(1);
    expect(c.got[0]).toMatchObject({ src: PEER_IP, srcPort: 4444, dst: OUR_IP, dstPort: 7 });
    expect(c.got[0]!.data).toEqual(pattern(100));
    expect(h.udp.stats).toMatchObject({ datagramsIn: 1, bytesIn: 100 });
  });

  it('prefers the binding to the address over the wildcard, and a connected one over both', () => {
    const h = new UdpHarness().resolveArp();
    const any = new Collector();
    const mine = new Collector();
    // The same port on the wildcard and on our address clash (no SO_REUSEADDR) ...
    h.udp.bind(ANY, 9000, any);
    expect(() => h.udp.bind(OUR_IP, 9000, mine)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    // ... and a connected port only takes its peer's datagrams.
    const conn = new Collector();
    const p = h.udp.bind(OUR_IP, 9001, conn);
    p.connect(PEER_IP, 1234);
    h.deliver(udpFrame({ dstPort: 9001, srcPort: 1234, data: pattern(3) }), udpFrame({ dstPort: 9001, srcPort: 999, data: pattern(4) }));
    expect(conn.got.map((g) => g.data.length)).toEqual([3]);
    expect(h.udp.stats.drops['udp-no-port']).toBe(1);
    p.disconnect();
    h.deliver(udpFrame({ dstPort: 9001, srcPort: 999, data: pattern(4) }));
    expect(conn.got).toHaveLength(2);
  });

  it('a port bound to our address does not get broadcasts; the wildcard does', () => {
    const h = new UdpHarness().resolveArp();
    const mine = new Collector();
    const any = new Collector();
    h.udp.bind(OUR_IP, 67, mine);
    h.udp.bind(ANY, 68, any);
    h.deliver(
      udpFrame({ dstPort: 67, dst: 0xffffffff, ethDst: BROADCAST_MAC, data: pattern(10) }),
      udpFrame({ dstPort: 68, dst: 0xffffffff, ethDst: BROADCAST_MAC, data: pattern(11) }),
      udpFrame({ dstPort: 68, dst: SUBNET_BROADCAST, ethDst: BROADCAST_MAC, data: pattern(12) }),
    );
    expect(mine.got).toHaveLength(0);
    expect(any.got.map((g) => [g.dst, g.data.length])).toEqual([
      [0xffffffff, 11],
      [SUBNET_BROADCAST, 12],
    ]);
  });

  it('closed port: Port Unreachable quoting the datagram, rate-limited; none for a broadcast', () => {
    const h = new UdpHarness({ icmp: { errorsPerSecond: 10, errorBurst: 3 } }).resolveArp();
    const frames = Array.from({ length: 10 }, (_, i) => udpFrame({ dstPort: 3333, srcPort: 2000 + i, data: pattern(20) }));
    const out = h.deliver(...frames);
    expect(out).toHaveLength(3);
    for (const s of out) {
      expect(s.protocol).toBe(IPPROTO_ICMP);
      expect(s.ip[0]).toBe(ICMP_DEST_UNREACHABLE);
      expect(s.ip[1]).toBe(ICMP_UNREACH_PORT);
      // The quote: the IP header, then the UDP header with our port.
      expect((s.ip[8 + 20 + 2]! << 8) | s.ip[8 + 20 + 3]!).toBe(3333);
    }
    expect(h.udp.stats.drops['udp-no-port']).toBe(10);
    expect(h.iface.icmp.stats.errorsRateLimited).toBe(7);
    h.clock.advance(1000);
    expect(h.deliver(udpFrame({ dstPort: 3333, dst: 0xffffffff, ethDst: BROADCAST_MAC, data: pattern(1) }))).toEqual([]);
    expect(h.iface.icmp.stats.errorsSuppressed).toBe(1);
  });

  it('checksums: good and none (0) accepted, bad dropped and counted', () => {
    const h = new UdpHarness().resolveArp();
    const c = new Collector();
    h.udp.bind(ANY, 7, c);
    h.deliver(
      udpFrame({ dstPort: 7, data: pattern(33) }),
      udpFrame({ dstPort: 7, data: pattern(34), checksum: 'zero' }),
      udpFrame({ dstPort: 7, data: pattern(35), checksum: 0x1234 }),
    );
    expect(c.got.map((g) => g.data.length)).toEqual([33, 34]);
    expect(h.udp.stats.noChecksumIn).toBe(1);
    expect(h.udp.stats.drops['udp-bad-checksum']).toBe(1);
  });

  it('lengths: cut header, length below 8 or beyond the IP payload dropped; shorter than it trimmed (padding), checksum over the UDP length', () => {
    const h = new UdpHarness().resolveArp();
    const c = new Collector();
    h.udp.bind(ANY, 7, c);
    h.deliver(
      udpFrame({ dstPort: 7, data: pattern(10), ipPayload: 6 }),
      udpFrame({ dstPort: 7, data: pattern(10), udpLength: 7, checksum: 'zero' }),
      udpFrame({ dstPort: 7, data: pattern(10), udpLength: 19, checksum: 'zero' }),
      udpFrame({ dstPort: 7, data: pattern(10), udpLength: 13 }),
      udpFrame({ dstPort: 7, data: pattern(9) }),
    );
    expect(h.udp.stats.drops['udp-truncated']).toBe(1);
    expect(h.udp.stats.drops['udp-bad-length']).toBe(2);
    expect(c.got.map((g) => g.data)).toEqual([pattern(5), pattern(9)]);
  });

  it('reassembles a fragmented datagram and checks its checksum', () => {
    const h = new UdpHarness().resolveArp();
    const c = new Collector();
    h.udp.bind(ANY, 7, c);
    const whole = udpFrame({ dstPort: 7, data: pattern(3000) }).subarray(34);
    const frames: Uint8Array[] = [];
    for (let off = 0; off < whole.length; off += 1480) {
      const n = Math.min(1480, whole.length - off);
      const f = new Uint8Array(34 + n);
      emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
      emitIpv4Repr({ src: PEER_IP, dst: OUR_IP, protocol: 17, ttl: 64, payloadLength: n, identification: 77, fragmentOffset: off, moreFragments: off + n < whole.length }, f, 14);
      f.set(whole.subarray(off, off + n), 34);
      frames.push(f);
    }
    h.deliver(...frames.reverse());
    expect(c.got).toHaveLength(1);
    expect(c.got[0]!.data).toEqual(pattern(3000));
  });
});

describe('UDP layer: binding', () => {
  it('ephemeral ports are in 32768..60999, drawn at random, never a taken one', () => {
    const h = new UdpHarness();
    const ports = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = h.udp.bind(ANY, 0, new Collector());
      expect(p.port).toBeGreaterThanOrEqual(EPHEMERAL_LOW);
      expect(p.port).toBeLessThanOrEqual(EPHEMERAL_HIGH);
      expect(ports.has(p.port)).toBe(false);
      ports.add(p.port);
    }
    // Random, not sequential: the ports are spread over the range.
    const sorted = [...ports].sort((a, b) => a - b);
    expect(sorted[sorted.length - 1]! - sorted[0]!).toBeGreaterThan(10000);
    expect(h.udp.stats.ports).toBe(200);
  });

  it('typed errors: EADDRINUSE, EADDRNOTAVAIL, EINVAL; a closed port is free again', () => {
    const h = new UdpHarness();
    const p = h.udp.bind(ANY, 53, new Collector());
    let err: unknown;
    try {
      h.udp.bind(ANY, 53, new Collector());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UdpError);
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'bind' });
    expect(() => h.udp.bind(parseIpv4('10.0.0.1'), 53, new Collector())).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    expect(() => h.udp.bind(ANY, 70000, new Collector())).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    p.close();
    expect(h.udp.bind(OUR_IP, 53, new Collector()).port).toBe(53);
  });
});

describe('UDP layer: send', () => {
  it('one frame per datagram with a correct checksum, from the bound port', () => {
    const h = new UdpHarness().resolveArp();
    const p = h.udp.bind(ANY, 1234, new Collector());
    p.send(PEER_IP, 53, pattern(200));
    p.send(PEER_IP, 53, new Uint8Array(0));
    const out = h.settle();
    expect(out).toHaveLength(2);
    const u = parseUdp(out[0]!);
    expect(u).toMatchObject({ srcPort: 1234, dstPort: 53, length: 208 });
    expect(u.data).toEqual(pattern(200));
    expect(u.checksum).not.toBe(0);
    expect(parseUdp(out[1]!).length).toBe(8);
    expect(h.udp.stats).toMatchObject({ datagramsOut: 2, bytesOut: 200 });
  });

  it('a datagram above the MTU is fragmented, the whole checksummed', () => {
    const h = new UdpHarness().resolveArp();
    const p = h.udp.bind(ANY, 1234, new Collector());
    p.send(PEER_IP, 9, pattern(4000));
    const out = h.settle();
    expect(out.length).toBe(3);
    expect(out.every((s) => s.fragment && s.ip.length + 20 <= MTU)).toBe(true);
    const whole = new Uint8Array(8 + 4000);
    let at = 0;
    for (const s of out) {
      whole.set(s.ip, at);
      at += s.ip.length;
    }
    expect(parseUdp({ ...out[0]!, ip: whole, fragment: false }).data).toEqual(pattern(4000));
    expect(h.udp.stats.fragmentedOut).toBe(1);
  });

  it('65507 bytes is the most (EMSGSIZE beyond); a port out of range is EINVAL', () => {
    const h = new UdpHarness().resolveArp();
    const p = h.udp.bind(ANY, 1234, new Collector());
    p.send(PEER_IP, 9, new Uint8Array(65507));
    expect(h.settle().length).toBe(45);
    expect(() => p.send(PEER_IP, 9, new Uint8Array(65508))).toThrow(expect.objectContaining({ code: 'EMSGSIZE', errno: -90 }));
    expect(() => p.send(PEER_IP, 0, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('broadcast: EACCES unless permitted; then to ff:ff:ff:ff:ff:ff without ARP, from 0.0.0.0 when asked', () => {
    const h = new UdpHarness(); // no neighbour known
    const p = h.udp.bind(ANY, 68, new Collector());
    expect(() => p.send(0xffffffff, 67, pattern(10))).toThrow(expect.objectContaining({ code: 'EACCES', errno: -13 }));
    expect(() => p.send(SUBNET_BROADCAST, 67, pattern(10))).toThrow(expect.objectContaining({ code: 'EACCES' }));
    p.send(0xffffffff, 67, pattern(300), { broadcast: true, source: 0 });
    p.send(SUBNET_BROADCAST, 67, pattern(10), { broadcast: true });
    const out = h.settle();
    expect(out).toHaveLength(2);
    expect(out.map((s) => [...s.ethDst])).toEqual([[...BROADCAST_MAC], [...BROADCAST_MAC]]);
    expect(out[0]!.src).toBe(0);
    expect(out[0]!.dst).toBe(0xffffffff);
    expect(parseUdp(out[0]!).data).toEqual(pattern(300));
    expect(out[1]!.src).toBe(OUR_IP);
    expect(h.iface.stats.arpRequestsOut).toBe(0);
  });

  it('waits for ARP: the datagram is queued, then sent with a correct checksum', () => {
    const h = new UdpHarness();
    const p = h.udp.bind(ANY, 5000, new Collector());
    p.send(PEER_IP, 6000, pattern(99));
    expect(h.settle()).toEqual([]);
    expect(h.iface.stats.arpRequestsOut).toBe(1);
    const out = h.resolveArpAnd();
    expect(out).toHaveLength(1);
    expect(parseUdp(out[0]!).data).toEqual(pattern(99));
  });

  it('USO without device support: a batch goes as one datagram per frame', () => {
    const h = new UdpHarness().resolveArp();
    const p = h.udp.bind(ANY, 5000, new Collector());
    p.sendSegments(PEER_IP, 6000, pattern(1000 * 5 + 10), 1000);
    const out = h.settle();
    expect(out.map((s) => parseUdp(s).length - 8)).toEqual([1000, 1000, 1000, 1000, 1000, 10]);
    expect(h.udp.stats.usoFrames).toBe(0);
  });
});

describe('UDP layer: ICMP errors', () => {
  it('an ICMP error quoting a datagram we sent reaches the port that sent it', () => {
    const h = new UdpHarness().resolveArp();
    const c = new Collector();
    const p = h.udp.bind(ANY, 40000, c);
    p.send(PEER_IP, 7777, pattern(16));
    const [sent] = h.settle();
    h.deliver(portUnreachableAbout(sent!.ip));
    expect(c.errors).toEqual([{ type: 3, code: 3, dst: PEER_IP, dstPort: 7777 }]);
    expect(h.udp.stats).toMatchObject({ icmpErrorsIn: 1, icmpErrorsDelivered: 1 });
  });
});

describe('UDP layer: offloads', () => {
  it('USO: a batch is one frame with GSO_UDP_L4, the pseudo-header sum in the field (NEEDS_CSUM)', () => {
    const h = new UdpHarness({ offloads: true, uso: true }).resolveArp();
    const p = h.udp.bind(ANY, 5000, new Collector());
    p.sendSegments(PEER_IP, 6000, pattern(1000 * 5 + 10), 1000);
    h.nic.flush();
    const frames = h.dev.written.splice(0);
    expect(frames).toHaveLength(1);
    const v = frames[0]!;
    // virtio_net_hdr: flags NEEDS_CSUM, gso_type UDP_L4 (5), gso_size 1000, csum_start 34, csum_offset 6.
    expect(v[0]).toBe(1);
    expect(v[1]).toBe(5);
    expect(v[4]! | (v[5]! << 8)).toBe(1000);
    expect(v[6]! | (v[7]! << 8)).toBe(34);
    expect(v[8]! | (v[9]! << 8)).toBe(6);
    const f = v.subarray(12);
    expect((f[34 + 4]! << 8) | f[34 + 5]!).toBe(8 + 5010);
    expect(h.udp.stats).toMatchObject({ usoFrames: 1, usoDatagrams: 6, datagramsOut: 6 });
  });

  it('a USO batch waiting for ARP is queued as separate datagrams, none lost', () => {
    const h = new UdpHarness({ offloads: true, uso: true });
    const p = h.udp.bind(ANY, 5000, new Collector());
    p.sendSegments(PEER_IP, 6000, pattern(1000 * 3), 1000);
    h.settle();
    const out = h.resolveArpAnd();
    expect(out.map((s) => parseUdp(s).data)).toEqual([pattern(1000), pattern(1000, 1000), pattern(1000, 2000)]);
  });

  it('partial checksum on receive (the kernel left it to us): accepted as the kernel vouches', () => {
    const h = new UdpHarness({ offloads: true }).resolveArp();
    const c = new Collector();
    h.udp.bind(ANY, 7, c);
    const f = udpFrame({ dstPort: 7, data: pattern(500), checksum: 0x4321 });
    const vnet = new Uint8Array(12 + f.length);
    vnet[0] = 1; // NEEDS_CSUM
    vnet[6] = 34;
    vnet[8] = 6;
    vnet.set(f, 12);
    h.dev.deliver(vnet);
    h.settle();
    expect(c.got.map((g) => g.data)).toEqual([pattern(500)]);
  });
});

describe('UDP layer: Port Unreachable with offloads', () => {
  it('quotes a datagram whose checksum the kernel left partial with the checksum finished', () => {
    const h = new UdpHarness({ offloads: true }).resolveArp();
    const f = udpFrame({ dstPort: 4444, data: pattern(300) });
    const good = (f[34 + 6]! << 8) | f[34 + 7]!;
    // As the kernel hands it over with NEEDS_CSUM: the field holds the pseudo-header sum only.
    const pseudo = (0xc612 + 0x0001 + 0xc612 + 0x0002 + 17 + 308) % 0xffff;
    f[34 + 6] = pseudo >>> 8;
    f[34 + 7] = pseudo & 0xff;
    const vnet = new Uint8Array(12 + f.length);
    vnet[0] = 1;
    vnet[6] = 34;
    vnet[8] = 6;
    vnet.set(f, 12);
    h.dev.deliver(vnet);
    const [err] = h.settle();
    expect(err!.protocol).toBe(IPPROTO_ICMP);
    // ICMP header 8, quoted IP header 20, then the UDP header: its checksum as on a wire.
    expect((err!.ip[8 + 20 + 6]! << 8) | err!.ip[8 + 20 + 7]!).toBe(good);
  });
});

describe('UDP layer: any datagram', () => {
  it('random UDP messages (lengths, checksums, ports) never throw; each is delivered or counted once', () => {
    const h = new UdpHarness().resolveArp();
    const c = new Collector();
    h.udp.bind(ANY, 7, c);
    let n = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (bytes, toSeven) => {
        const msg = bytes.slice();
        if (toSeven && msg.length >= 4) msg[2] = 0, (msg[3] = 7);
        const f = new Uint8Array(34 + msg.length);
        emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
        emitIpv4Repr({ src: PEER_IP, dst: OUR_IP, protocol: 17, ttl: 64, payloadLength: msg.length }, f, 14);
        f.set(msg, 34);
        h.deliver(f);
        n++;
        const dropped = Object.values(h.udp.stats.drops).reduce((a, b) => a + b, 0);
        expect(c.got.length + dropped).toBe(n);
      }),
      { numRuns: 500, seed: 768 },
    );
  });
});
