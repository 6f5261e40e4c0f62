import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { SeededRandom } from '../../../src/random.js';
import { Interface } from '../../../src/iface/interface.js';
import { Nic } from '../../../src/nic/nic.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import { formatMac, parseIpv4, parseMac } from '../../../src/wire/addr.js';
import { emitArpRepr, ArpPacket } from '../../../src/wire/arp.js';
import { emitEthernetRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../../src/wire/ethernet.js';
import { emitIcmpEchoRepr, IcmpPacket } from '../../../src/wire/icmp.js';
import { checkIpv4, emitIpv4Repr, Ipv4Packet } from '../../../src/wire/ipv4.js';
import { internetChecksum } from '../../../src/wire/checksum.js';

const OUR_MAC = parseMac('02:00:00:00:00:02');
const PEER_MAC = parseMac('02:00:00:00:00:01');
const OUR_IP = parseIpv4('198.18.0.2');
const PEER_IP = parseIpv4('198.18.0.1');

function setup(mtu = 1500, maxNeighbors?: number) {
  const clock = new ManualClock(1000);
  const dev = new MemoryDevice();
  const nic = new Nic({ device: dev, mtu, rxDescriptors: 16, txDescriptors: 64, extraPages: 64 });
  const iface = new Interface({ nic, clock, random: new SeededRandom(1), address: { address: OUR_IP, prefixLength: 24 }, mtu, mac: OUR_MAC, ...(maxNeighbors ? { neighbor: { maxEntries: maxNeighbors } } : {}) });
  nic.start(iface);
  return { clock, dev, nic, iface };
}

function arpFrame(op: 1 | 2, senderIp: number, targetIp: number, dst = OUR_MAC, senderMac = PEER_MAC): Uint8Array {
  const f = new Uint8Array(42);
  emitEthernetRepr({ dst, src: senderMac, etherType: ETHERTYPE_ARP }, f);
  emitArpRepr({ operation: op, senderMac, senderIp, targetMac: op === 2 ? OUR_MAC : new Uint8Array(6), targetIp }, f, 14);
  return f;
}

/** IPv4 datagram(s) in Ethernet frames; fragments when `fragSize` is given. */
function ipFrames(protocol: number, payload: Uint8Array, opts: { id?: number; fragSize?: number; dst?: number } = {}): Uint8Array[] {
  const out: Uint8Array[] = [];
  const step = opts.fragSize ?? payload.length;
  for (let off = 0; off < payload.length || off === 0; off += step) {
    const n = Math.min(step, payload.length - off);
    const f = new Uint8Array(34 + n);
    emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
    emitIpv4Repr(
      { src: PEER_IP, dst: opts.dst ?? OUR_IP, protocol, ttl: 64, payloadLength: n, identification: opts.id ?? 7, fragmentOffset: off, moreFragments: off + n < payload.length },
      f,
      14,
    );
    f.set(payload.subarray(off, off + n), 34);
    out.push(f);
    if (payload.length === 0) break;
  }
  return out;
}

function echoRequest(size: number, seq = 1): Uint8Array {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 13 + seq) & 0xff;
  const msg = new Uint8Array(8 + size);
  emitIcmpEchoRepr({ type: 8, code: 0, identifier: 0x1234, sequence: seq }, msg, 0, data);
  return msg;
}

/** Learn the peer so that replies go out at once. */
function resolvePeer(dev: MemoryDevice) {
  dev.deliver(arpFrame(1, PEER_IP, OUR_IP));
  dev.written.length = 0;
}

/** Reassemble IPv4 frames written by the stack (test-side, simple). */
function reassemble(frames: Uint8Array[]): { payload: Uint8Array; fragments: number } {
  const parts = frames.map((f) => {
    expect(checkIpv4(f, 14, f.length - 14)).toBeNull();
    const ip = new Ipv4Packet(f, 14);
    return { off: ip.fragmentOffset, mf: ip.moreFragments, data: f.subarray(14 + ip.headerLength, 14 + ip.totalLength) };
  });
  const total = Math.max(...parts.map((p) => p.off + p.data.length));
  const payload = new Uint8Array(total);
  for (const p of parts) payload.set(p.data, p.off);
  return { payload, fragments: parts.length };
}

describe('ARP', () => {
  it('refuses senders whose hardware address no station has, or ours, and learns nothing', () => {
    const { dev, iface } = setup();
    const bad = ['00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01', formatMac(OUR_MAC)];
    for (const mac of bad) {
      for (const op of [1, 2] as const) {
        // The Ethernet source is a unicast one: only the ARP sender field lies.
        const f = arpFrame(op, PEER_IP, OUR_IP, OUR_MAC, parseMac(mac));
        f.set(PEER_MAC, 6);
        dev.deliver(f);
      }
    }
    expect(iface.stats.drops['arp-bad-sender-mac']).toBe(2 * bad.length);
    expect(iface.neighbors.get(PEER_IP)).toBeUndefined();
    expect(dev.written).toHaveLength(0); // no reply to any of them
    // A good sender afterwards is learnt and answered.
    dev.deliver(arpFrame(1, PEER_IP, OUR_IP));
    expect(formatMac(iface.neighbors.get(PEER_IP)!.mac!)).toBe(formatMac(PEER_MAC));
    expect(dev.written).toHaveLength(1);
  });

  it('announces its address twice at start, 2 s apart (RFC 5227)', () => {
    const { clock, dev, iface } = setup();
    iface.start();
    expect(dev.written).toHaveLength(1);
    clock.advance(1999);
    iface.poll();
    expect(dev.written).toHaveLength(1);
    clock.advance(1);
    iface.poll();
    expect(dev.written).toHaveLength(2);
    for (const f of dev.written) {
      const arp = new ArpPacket(f, 14);
      expect(arp.operation).toBe(1);
      expect(arp.senderIp).toBe(OUR_IP);
      expect(arp.targetIp).toBe(OUR_IP);
      expect(formatMac(f, 0)).toBe('ff:ff:ff:ff:ff:ff');
    }
  });

  it('answers a request for its address and learns the asker', () => {
    const { dev, iface } = setup();
    dev.deliver(arpFrame(1, PEER_IP, OUR_IP, parseMac('ff:ff:ff:ff:ff:ff')));
    expect(dev.written).toHaveLength(1);
    const reply = dev.written[0]!;
    expect(formatMac(reply, 0)).toBe(formatMac(PEER_MAC));
    const arp = new ArpPacket(reply, 14);
    expect(arp.operation).toBe(2);
    expect(formatMac(arp.senderMac)).toBe(formatMac(OUR_MAC));
    expect(arp.senderIp).toBe(OUR_IP);
    expect(arp.targetIp).toBe(PEER_IP);
    expect(formatMac(arp.targetMac)).toBe(formatMac(PEER_MAC));
    expect(iface.neighbors.get(PEER_IP)?.state).toBe('reachable');
  });

  it('does not answer or learn from requests for another address', () => {
    const { dev, iface } = setup();
    dev.deliver(arpFrame(1, PEER_IP, parseIpv4('198.18.0.9'), parseMac('ff:ff:ff:ff:ff:ff')));
    expect(dev.written).toHaveLength(0);
    expect(iface.neighbors.get(PEER_IP)).toBeUndefined();
    expect(iface.stats.drops['arp-not-for-us']).toBe(1);
  });

  it('refuses a sender claiming our address', () => {
    const { dev, iface } = setup();
    dev.deliver(arpFrame(1, OUR_IP, PEER_IP, parseMac('ff:ff:ff:ff:ff:ff')));
    expect(iface.stats.drops['arp-address-conflict']).toBe(1);
    expect(iface.neighbors.size).toBe(0);
  });

  it('queues datagrams while resolving and sends them on the reply', () => {
    const { dev, iface, nic } = setup();
    iface.sendIpv4(PEER_IP, 253, new Uint8Array([1, 2, 3]));
    iface.sendIpv4(PEER_IP, 253, new Uint8Array([4, 5]));
    nic.flush();
    expect(dev.written).toHaveLength(1); // one request
    expect(new ArpPacket(dev.written[0]!, 14).targetIp).toBe(PEER_IP);
    dev.written.length = 0;
    dev.deliver(arpFrame(2, PEER_IP, OUR_IP));
    expect(dev.written).toHaveLength(2);
    expect([...dev.written[0]!.subarray(34)]).toEqual([1, 2, 3]);
    expect([...dev.written[1]!.subarray(34)]).toEqual([4, 5]);
    expect(formatMac(dev.written[0]!, 0)).toBe(formatMac(PEER_MAC));
  });

  it('retries three times a second apart, then drops what waited', () => {
    const { clock, dev, iface } = setup();
    iface.sendIpv4(PEER_IP, 253, new Uint8Array(10));
    iface.poll();
    expect(dev.written).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      iface.poll();
    }
    expect(dev.written).toHaveLength(3);
    expect(iface.stats.drops['arp-unresolved']).toBe(1);
    expect(iface.neighbors.get(PEER_IP)).toBeUndefined();
  });

  it('keeps the cache bounded under a flood of senders', () => {
    const { dev, iface } = setup(1500, 100);
    const frames = [];
    for (let i = 0; i < 1500; i++) {
      const mac = parseMac(`02:00:00:01:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`);
      frames.push(arpFrame(1, parseIpv4('198.18.0.0') + 3 + (i % 250), OUR_IP, OUR_MAC, mac));
    }
    for (const f of frames) dev.deliver(f);
    expect(iface.neighbors.size).toBe(100);
    expect(iface.neighbors.stats.evicted).toBe(1400); // 250 addresses cycling through 100 slots
  });
});

describe('ICMP echo', () => {
  it('answers a ping with the same identifier, sequence and data', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    const req = echoRequest(56);
    dev.deliver(...ipFrames(1, req));
    expect(dev.written).toHaveLength(1);
    const f = dev.written[0]!;
    expect(checkIpv4(f, 14, f.length - 14)).toBeNull();
    const ip = new Ipv4Packet(f, 14);
    expect(ip.src).toBe(OUR_IP);
    expect(ip.dst).toBe(PEER_IP);
    const icmp = new IcmpPacket(f, 34);
    expect(icmp.type).toBe(0);
    expect(icmp.identifier).toBe(0x1234);
    expect(icmp.sequence).toBe(1);
    expect(internetChecksum(f, 34, f.length)).toBe(0);
    expect(f.subarray(42)).toEqual(req.subarray(8));
    expect(iface.icmp.stats).toMatchObject({ echoRequestsIn: 1, echoRepliesOut: 1 });
  });

  it('reassembles an 8000-byte ping and fragments the reply to the MTU', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    const req = echoRequest(8000);
    const frags = ipFrames(1, req, { fragSize: 1480 });
    dev.deliver(...frags.reverse());
    expect(iface.stats.reassembled).toBe(1);
    for (const f of dev.written) expect(f.length).toBeLessThanOrEqual(1514);
    const { payload, fragments } = reassemble(dev.written);
    expect(fragments).toBe(6);
    expect(payload[0]).toBe(0);
    expect(payload.subarray(8)).toEqual(req.subarray(8));
    expect(internetChecksum(payload, 0, payload.length)).toBe(0);
  });

  it('answers the largest ping, 65507 bytes of data', () => {
    const { dev } = setup();
    resolvePeer(dev);
    const req = echoRequest(65507);
    dev.deliver(...ipFrames(1, req, { fragSize: 1480 }));
    const { payload } = reassemble(dev.written);
    expect(payload.length).toBe(65515);
    expect(payload.subarray(8)).toEqual(req.subarray(8));
  });

  it('ignores echo requests to the broadcast address', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    dev.deliver(...ipFrames(1, echoRequest(8), { dst: parseIpv4('198.18.0.255') }));
    expect(dev.written).toHaveLength(0);
    expect(iface.stats.drops['icmp-broadcast-echo']).toBe(1);
  });

  it('drops a request with a bad checksum', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    const req = echoRequest(20);
    req[10]! ^= 1;
    dev.deliver(...ipFrames(1, req));
    expect(dev.written).toHaveLength(0);
    expect(iface.stats.drops['icmp-bad-checksum']).toBe(1);
  });
});

describe('ICMP errors', () => {
  it('answers an unknown protocol with Protocol Unreachable quoting the datagram', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    dev.deliver(...ipFrames(253, new Uint8Array(30).fill(7)));
    expect(dev.written).toHaveLength(1);
    const icmp = new IcmpPacket(dev.written[0]!, 34);
    expect([icmp.type, icmp.code]).toEqual([3, 2]);
    expect(iface.stats.drops['ipv4-unknown-protocol']).toBe(1);
  });

  it('never answers an ICMP error with an error', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    const err = new Uint8Array(8 + 28);
    err[0] = 3;
    err[1] = 1;
    err.set([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1], 8);
    const sum = internetChecksum(err, 0, err.length);
    err[2] = sum >> 8;
    err[3] = sum & 0xff;
    dev.deliver(...ipFrames(1, err));
    expect(dev.written).toHaveLength(0);
    expect(iface.icmp.stats.errorsIn).toBe(1);
  });

  it('rate-limits errors with a token bucket', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    for (let i = 0; i < 80; i++) dev.deliver(...ipFrames(253, new Uint8Array(4), { id: i }));
    expect(iface.icmp.stats.errorsOut).toBe(50);
    expect(iface.icmp.stats.errorsRateLimited).toBe(30);
  });

  it('sends Time Exceeded when a datagram with fragment zero times out', () => {
    const { clock, dev, iface } = setup();
    resolvePeer(dev);
    const frags = ipFrames(1, echoRequest(3000), { fragSize: 1480 });
    dev.deliver(frags[0]!);
    clock.advance(30_001);
    iface.poll();
    expect(dev.written).toHaveLength(1);
    const icmp = new IcmpPacket(dev.written[0]!, 34);
    expect([icmp.type, icmp.code]).toEqual([11, 1]);
    expect(iface.stats.drops['frag-timeout']).toBe(1);
  });

  it('sends nothing when only later fragments arrived', () => {
    const { clock, dev, iface } = setup();
    resolvePeer(dev);
    const frags = ipFrames(1, echoRequest(3000), { fragSize: 1480 });
    dev.deliver(frags[1]!);
    clock.advance(30_001);
    iface.poll();
    expect(dev.written).toHaveLength(0);
    expect(iface.stats.drops['frag-timeout']).toBe(1);
  });
});

describe('IPv4 receive validation', () => {
  it('counts each malformed datagram under its reason and keeps working', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    const good = ipFrames(1, echoRequest(16))[0]!;
    const badSum = good.slice();
    badSum[24]! ^= 0xff;
    const badVersion = good.slice();
    badVersion[14] = 0x65;
    const badIhl = good.slice();
    badIhl[14] = 0x43;
    const longTotal = good.slice();
    longTotal[16] = 0x05; // total length 1280+ beyond the frame
    const notForUs = ipFrames(1, echoRequest(16), { dst: parseIpv4('198.18.0.77') })[0]!;
    const otherMac = good.slice();
    otherMac.set(parseMac('02:00:00:00:00:99'), 0);
    dev.deliver(badSum, badVersion, badIhl, longTotal, notForUs, otherMac, good.subarray(0, 20));
    expect(dev.written).toHaveLength(0);
    expect(iface.stats.drops).toMatchObject({
      'ipv4-bad-checksum': 1,
      'ipv4-bad-version': 1,
      'ipv4-bad-ihl': 1,
      'ipv4-not-for-us': 1,
      'eth-not-for-us': 1,
      // A total length beyond the frame counts as truncated, as Linux counts it.
      'ipv4-truncated': 2,
    });
    dev.deliver(good);
    expect(dev.written).toHaveLength(1);
  });

  it('drops overlapping fragments and answers nothing for that datagram', () => {
    const { dev, iface } = setup();
    resolvePeer(dev);
    const req = echoRequest(3000);
    const a = ipFrames(1, req, { fragSize: 1480, id: 99 });
    const overlapping = ipFrames(1, req.subarray(0, 2000), { fragSize: 1000, id: 99 })[1]!; // offset 1000, MF
    dev.deliver(a[0]!, overlapping, a[1]!, a[2]!);
    expect(dev.written).toHaveLength(0);
    expect(iface.stats.drops['frag-overlap']).toBeGreaterThanOrEqual(1);
  });
});
