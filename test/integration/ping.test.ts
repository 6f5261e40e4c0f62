/**
 * The kernel pings tapstack over a TAP at MTU 1500, with offloads on and off: small pings,
 * the largest unfragmented ones, fragmented ones (both ways) and one of the largest size IPv4
 * allows. Checks the answers, the kernel's neighbour entry (learnt through tapstack's ARP
 * reply), tapstack's counters, and the capture (tshark-clean, every frame in and out).
 *
 * And with arp_accept on, the kernel learns tapstack's MAC from its announcement alone.
 *
 * Namespaces tapstack-it-ping-{on,off}-<pid>, tapstack-it-announce-<pid>; subnets
 * 198.18.10.0/24 (on), 198.18.11.0/24 (off), 198.18.12.0/24 (announcement).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  icmpMessages,
  ipv4Frames,
  linkMac,
  neighbour,
  ping,
  poll,
  requireBuilt,
  scratchDir,
  subnet,
  tshark,
  tsharkProblems,
  useTapstack,
  type IcmpSeen,
  type Ipv4FrameSeen,
  type Neighbour,
  type PingResult,
  type Stopped,
  type Tapstack,
} from './helpers.js';

const MTU = 1500;
/** Payload bytes per fragment at MTU 1500: (1500 - 20) rounded down to 8. */
const FRAG_PAYLOAD = 1480;

interface PingCase {
  name: string;
  size: number;
  count: number;
  interval: number;
  dontFragment?: boolean;
}

const PINGS: PingCase[] = [
  { name: '56 bytes', size: 56, count: 100, interval: 0.01 },
  { name: '1472 bytes, unfragmented (DF)', size: 1472, count: 10, interval: 0.02, dontFragment: true },
  { name: '8000 bytes, fragmented', size: 8000, count: 10, interval: 0.02 },
  { name: '65507 bytes, the largest', size: 65507, count: 1, interval: 0.2 },
];

/** Number of fragments of an ICMP message of `icmpLength` bytes at MTU 1500 (1 if it fits). */
function fragmentsOf(icmpLength: number): number {
  return 20 + icmpLength <= MTU ? 1 : Math.ceil(icmpLength / FRAG_PAYLOAD);
}

describe.each(['on', 'off'] as const)('ping tapstack, offload %s', (offload) => {
  const net = subnet(offload === 'on' ? 10 : 11);
  const scratch = scratchDir(`ping-${offload}`);
  const { ns, start } = useTapstack(`ping-${offload}`, { after: scratch.remove });
  const pcap = `${scratch.dir}/ping.pcap`;
  let t: Tapstack | null = null;
  let kernelMac = '';
  let neighBefore: Neighbour | null = null;
  let neighAfter: Neighbour | null = null;
  const results = new Map<string, PingResult>();
  let stopped: Stopped;
  let icmp: IcmpSeen[] = [];
  let frames: Ipv4FrameSeen[] = [];

  beforeAll(async () => {
    requireBuilt();
    t = await start({ net, offload, pcap });
    kernelMac = await linkMac(ns, 'tap0');
    // Before any IPv4 traffic: tapstack has announced itself (RFC 5227), which the kernel
    // ignores (arp_accept 0), so whatever it knows next came from an ARP exchange.
    neighBefore = await neighbour(ns, net.tapstack);
    for (const p of PINGS) {
      results.set(p.name, await ping(ns, net.tapstack, p));
    }
    neighAfter = await neighbour(ns, net.tapstack);
    stopped = await t.stop();
    icmp = await icmpMessages(pcap);
    frames = await ipv4Frames(pcap);
  }, 180_000);

  it('prints its MAC and exits 0 on SIGINT', () => {
    expect(t!.upLine).toMatch(new RegExp(`^tapstack up: tap0 ${net.tapstack.replace(/\./g, '\\.')}/24 mac [0-9a-f:]{17} mtu 1500 offload ${offload} `));
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('tapstack: SIGINT, stopped');
    expect(stopped.stderr).toBe('');
  });

  it.each(PINGS)('answers every ping of $name', (p) => {
    const r = results.get(p.name)!;
    expect(r.transmitted, r.stdout).toBe(p.count);
    expect(r.received, r.stdout).toBe(p.count);
    expect(r.stdout).toContain(' 0% packet loss');
    expect(r.code).toBe(0);
  });

  it('counts every echo request and reply', () => {
    const total = PINGS.reduce((a, p) => a + p.count, 0);
    const c = stopped.counters;
    expect(counter(c, 'icmp.echoRequestsIn')).toBe(total);
    expect(counter(c, 'icmp.echoRepliesOut')).toBe(total);
    // Fragments: every large request came in fragments and every large reply went out in them.
    const frags = PINGS.reduce((a, p) => a + (fragmentsOf(p.size + 8) > 1 ? p.count * fragmentsOf(p.size + 8) : 0), 0);
    const fragmented = PINGS.reduce((a, p) => a + (fragmentsOf(p.size + 8) > 1 ? p.count : 0), 0);
    expect(counter(c, 'iface.fragmentsIn')).toBe(frags);
    expect(counter(c, 'iface.fragmentsOut')).toBe(frags);
    expect(counter(c, 'iface.reassembled')).toBe(fragmented);
    expect(counter(c, 'iface.ipv4Delivered')).toBe(total);
    // Nothing the kernel sent over IPv4 or ARP was refused.
    for (const [k, v] of Object.entries(c)) {
      if (k.startsWith('drop.') && !['drop.eth-multicast', 'drop.eth-ipv6'].includes(k)) expect.soft(`${k} ${v}`).toBe(`${k} 0`);
    }
  });

  it.each(PINGS)('sends the replies of $name as the capture shows them', (p) => {
    const len = p.size + 8;
    const n = fragmentsOf(len);
    const requests = icmp.filter((m) => m.src === net.host && m.type === 8 && m.icmpLength === len);
    const replies = icmp.filter((m) => m.src === net.tapstack && m.dst === net.host && m.type === 0 && m.icmpLength === len);
    expect(requests.length).toBe(p.count);
    expect(replies.length).toBe(p.count);
    // Fragmented both ways exactly when it does not fit the MTU.
    expect(requests.map((m) => m.fragments)).toEqual(Array(p.count).fill(n));
    expect(replies.map((m) => m.fragments)).toEqual(Array(p.count).fill(n));
    // Each reply answers its request (same identifier and sequence).
    expect(replies.map((m) => `${m.ident}/${m.seq}`).sort()).toEqual(requests.map((m) => `${m.ident}/${m.seq}`).sort());
  });

  it('never sends a frame larger than the MTU, and fragments in 8-byte units', () => {
    const ours = frames.filter((f) => f.src === net.tapstack);
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.filter((f) => f.totalLength > MTU)).toEqual([]);
    // Every fragment but the last carries a multiple of 8 bytes of payload.
    expect(ours.filter((f) => f.moreFragments && (f.totalLength - 20) % 8 !== 0)).toEqual([]);
  });

  it('has the capture pass the tshark check', async () => {
    expect(await tsharkProblems(pcap)).toEqual([]);
  });

  it('captures every frame in and out', async () => {
    const c = stopped.counters;
    const all = await tshark(pcap, ['-T', 'fields', '-e', 'eth.src']);
    const out = all.filter((s) => s === t!.mac).length;
    // Frames are captured as they are handed to the device, so those it refused are in too;
    // received frames are captured unless too short for Ethernet (runts).
    expect(out).toBe(counter(c, 'nic.txFrames') + counter(c, 'nic.txQueueFull') + counter(c, 'nic.txLinkDown'));
    expect(all.length - out).toBe(counter(c, 'nic.rxFrames') - counter(c, 'nic.rxRunts'));
    expect(counter(c, 'nic.txQueueFull') + counter(c, 'nic.txLinkDown')).toBe(0);
    // And the echo replies in it are the pings answered.
    const answered = [...results.values()].reduce((a, r) => a + r.received, 0);
    expect(icmp.filter((m) => m.src === net.tapstack && m.type === 0).length).toBe(answered);
  });

  it("has the kernel learn tapstack's MAC through ARP", async () => {
    expect(neighBefore, 'the kernel knew tapstack before any ARP exchange').toBeNull();
    expect(neighAfter, 'no neighbour entry after the pings').not.toBeNull();
    expect(neighAfter!.mac).toBe(t!.mac);
    expect(['REACHABLE', 'STALE', 'DELAY', 'PROBE']).toContain(neighAfter!.state);
    const c = stopped.counters;
    expect(counter(c, 'iface.arpRequestsIn')).toBeGreaterThanOrEqual(1);
    expect(counter(c, 'iface.arpRepliesOut')).toBeGreaterThanOrEqual(1);
    // The replies in the capture: from tapstack's MAC, to the kernel's, one per counted reply.
    const replies = await tshark(pcap, ['-Y', 'arp.opcode == 2', '-T', 'fields', '-e', 'eth.src', '-e', 'arp.src.hw_mac', '-e', 'arp.src.proto_ipv4', '-e', 'eth.dst', '-e', 'arp.dst.hw_mac', '-e', 'arp.dst.proto_ipv4']);
    expect(replies.length).toBe(counter(c, 'iface.arpRepliesOut'));
    for (const r of replies) expect(r).toBe([t!.mac, t!.mac, net.tapstack, kernelMac, kernelMac, net.host].join('\t'));
    // tapstack learnt the kernel's MAC from its request, so it never had to ask.
    expect(counter(c, 'arp.learned')).toBeGreaterThanOrEqual(1);
    // It announced itself at start (RFC 5227 2.3).
    const announcements = await tshark(pcap, ['-Y', `arp.isannouncement && eth.src == ${t!.mac}`, '-T', 'fields', '-e', 'arp.src.proto_ipv4']);
    expect(announcements.length).toBeGreaterThanOrEqual(1);
    expect(new Set(announcements)).toEqual(new Set([net.tapstack]));
  });
});

describe('the ARP announcement (RFC 5227 2.3)', () => {
  const net = subnet(12);
  const { ns, start } = useTapstack('announce', { arpAccept: true });

  beforeAll(() => requireBuilt());

  it('teaches a kernel with arp_accept its MAC before any IPv4 traffic', async () => {
    const t = await start({ net });
    // Two announcements, 2 s apart: the entry appears after the first (or the second).
    const n = await poll(async () => {
      const e = await neighbour(ns, net.tapstack);
      return e?.mac ? e : null;
    }, 10_000);
    expect(n, 'the kernel did not learn from the announcement').not.toBeNull();
    expect(n!.mac).toBe(t.mac);
    expect(['STALE', 'REACHABLE', 'DELAY', 'PROBE']).toContain(n!.state);
    const st = await t.stop();
    // No ARP exchange took place: the announcement alone did it.
    expect(counter(st.counters, 'iface.arpRequestsIn')).toBe(0);
    expect(counter(st.counters, 'iface.arpRepliesOut')).toBe(0);
    expect(counter(st.counters, 'iface.arpRequestsOut')).toBeGreaterThanOrEqual(1);
  });
});
