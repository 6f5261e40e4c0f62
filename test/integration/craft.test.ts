/**
 * Malformed frames, crafted with scapy (craft.py) and sent from the kernel's side of the TAP to
 * tapstack's MAC and address, with offloads on and off: each is dropped and counted under its
 * reason, none is answered, and tapstack answers a ping after each one and afterwards.
 *
 * Namespaces tapstack-it-craft-{on,off}-<pid>; subnets 198.18.20.0/24 (on), 198.18.21.0/24 (off).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  craft,
  drops,
  icmpMessages,
  linkMac,
  ping,
  PYTHON,
  requireBuilt,
  run,
  CRAFT,
  scratchDir,
  subnet,
  tsharkProblems,
  useTapstack,
  type IcmpSeen,
  type PingResult,
  type Stopped,
  type Tapstack,
} from './helpers.js';

/** The ICMP identifiers craft.py uses (see there). */
const ID_OVERLAP = 0x7a7a;
const ID_CONTROL = 0x7a7b;
const ID_OTHER_MAC = 0x7a7c;
const ID_BAD_CSUM = 0x7a7d;
const ID_PROBE = 0x7a7e;
const ID_PADDED = 0x7a7f;

interface Case {
  /** craft.py's case name. */
  name: string;
  what: string;
  /** The drop counter it must raise, and by how much; null for the well-formed control. */
  counter: string | null;
  count: number;
}

const CASES: Case[] = [
  { name: 'ipv4-truncated', what: 'IPv4 Total Length beyond the frame', counter: 'drop.ipv4-truncated', count: 1 },
  { name: 'ipv4-bad-total-length', what: 'IPv4 Total Length below the header length', counter: 'drop.ipv4-bad-total-length', count: 1 },
  { name: 'ipv4-bad-checksum', what: 'bad IPv4 header checksum', counter: 'drop.ipv4-bad-checksum', count: 1 },
  { name: 'ipv4-bad-ihl-3', what: 'IHL 3', counter: 'drop.ipv4-bad-ihl', count: 1 },
  { name: 'ipv4-bad-ihl-15', what: 'IHL 15 in a 40-byte packet', counter: 'drop.ipv4-bad-ihl', count: 1 },
  { name: 'ipv4-bad-options', what: 'an IPv4 option longer than the header', counter: 'drop.ipv4-bad-options', count: 1 },
  { name: 'ipv4-bad-version', what: 'version 6 in an IPv4 frame', counter: 'drop.ipv4-bad-version', count: 1 },
  { name: 'eth-padded-echo', what: 'an echo request padded with junk to 60 bytes (control)', counter: null, count: 0 },
  { name: 'arp-bad-hardware', what: 'ARP hardware type 6', counter: 'drop.arp-bad-hardware', count: 1 },
  { name: 'arp-bad-protocol', what: 'ARP protocol type IPv6', counter: 'drop.arp-bad-protocol', count: 1 },
  { name: 'arp-bad-lengths', what: 'ARP hlen 8, then plen 16', counter: 'drop.arp-bad-lengths', count: 2 },
  { name: 'arp-bad-op', what: 'ARP opcode 9', counter: 'drop.arp-bad-op', count: 1 },
  { name: 'arp-truncated', what: 'ARP of 20 and of 6 bytes', counter: 'drop.arp-truncated', count: 2 },
  { name: 'icmp-bad-checksum', what: 'bad ICMP checksum', counter: 'drop.icmp-bad-checksum', count: 1 },
  // The overlapping fragment discards the datagram (counted once), and the last fragment that
  // comes after is refused for the same reason (counted again): 2.
  { name: 'frag-overlap', what: 'overlapping fragments, then the rest', counter: 'drop.frag-overlap', count: 2 },
  { name: 'frag-control', what: 'the same fragments without overlap (control)', counter: null, count: 0 },
  { name: 'eth-not-for-us', what: 'an echo request to another MAC', counter: 'drop.eth-not-for-us', count: 1 },
];

/** Drop counters that the kernel's own traffic raises (IPv6 multicast: MLD, ND, RS). */
const BACKGROUND = new Set(['drop.eth-multicast', 'drop.eth-ipv6']);

const PINGS_BEFORE = 5;
const PINGS_AFTER = 20;

describe.each(['on', 'off'] as const)('malformed frames, offload %s', (offload) => {
  const net = subnet(offload === 'on' ? 20 : 21);
  const scratch = scratchDir(`craft-${offload}`);
  const { ns, start } = useTapstack(`craft-${offload}`, { after: scratch.remove });
  const pcap = `${scratch.dir}/craft.pcap`;
  let t: Tapstack | null = null;
  let kernelMac = '';
  let before: PingResult;
  let after: PingResult;
  let crafted = new Map<string, { frames: number; answered: boolean }>();
  let stopped: Stopped;
  let icmp: IcmpSeen[] = [];

  beforeAll(async () => {
    requireBuilt();
    const list = await run(PYTHON, [CRAFT, '--list']);
    expect(list.stdout.split('\n').filter(Boolean).sort(), 'craft.py and this test list the same cases').toEqual(CASES.map((c) => c.name).sort());
    t = await start({ net, offload, pcap });
    kernelMac = await linkMac(ns, 'tap0');
    // Resolve ARP both ways and see it answer before the garbage.
    before = await ping(ns, net.tapstack, { count: PINGS_BEFORE, interval: 0.02 });
    const r = await craft(ns, ['--iface', 'tap0', '--dst-mac', t.mac, '--dst-ip', net.tapstack, '--src-ip', net.host, '--probe', ...CASES.map((c) => c.name)]);
    crafted = new Map(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [name, frames, answer] = l.split(' ');
          return [name!, { frames: Number(frames), answered: answer === 'answered' }];
        }),
    );
    after = await ping(ns, net.tapstack, { count: PINGS_AFTER, interval: 0.01 });
    stopped = await t.stop();
    icmp = await icmpMessages(pcap);
  }, 180_000);

  it('answers pings before', () => {
    expect(before.received, before.stdout).toBe(PINGS_BEFORE);
  });

  it('sent every case', () => {
    expect([...crafted.keys()]).toEqual(CASES.map((c) => c.name));
  });

  it.each(CASES)('answers a ping right after $name ($what)', (c) => {
    expect(crafted.get(c.name)?.answered).toBe(true);
  });

  // One test per counter; cases that share one add up.
  const byCounter = new Map<string, Case[]>();
  for (const c of CASES) if (c.counter) byCounter.set(c.counter, [...(byCounter.get(c.counter) ?? []), c]);
  it.each([...byCounter].map(([name, cases]) => ({ name, cases, what: cases.map((c) => c.what).join('; ') })))('counts $name ($what)', ({ name, cases }) => {
    expect(counter(stopped.counters, name)).toBe(cases.reduce((a, c) => a + c.count, 0));
  });

  it('drops nothing else', () => {
    const expected = new Set(CASES.flatMap((c) => (c.counter ? [c.counter] : [])));
    const other = Object.keys(drops(stopped.counters)).filter((k) => !expected.has(k) && !BACKGROUND.has(k));
    expect(other).toEqual([]);
  });

  it('answers pings afterwards, and nothing it should not have', () => {
    expect(after.received, after.stdout).toBe(PINGS_AFTER);
    const c = stopped.counters;
    const probes = CASES.length;
    // Echo requests that reached ICMP: the pings, the probes and the two controls (fragmented,
    // padded). The one with the bad ICMP checksum is dropped before, the overlapping one never
    // completes, the one to another MAC never gets past Ethernet.
    expect(counter(c, 'icmp.echoRequestsIn')).toBe(PINGS_BEFORE + PINGS_AFTER + probes + 2);
    expect(counter(c, 'icmp.echoRepliesOut')).toBe(PINGS_BEFORE + PINGS_AFTER + probes + 2);
    expect(counter(c, 'iface.reassembled')).toBe(1);
    const replies = icmp.filter((m) => m.src === net.tapstack && m.type === 0);
    expect(replies.filter((m) => m.ident === ID_CONTROL).length, 'the control datagram was answered').toBe(1);
    expect(replies.filter((m) => m.ident === ID_PROBE).length).toBe(probes);
    // The padded request's reply carries its 4 bytes of data, not the Ethernet padding.
    expect(replies.filter((m) => m.ident === ID_PADDED).map((m) => m.icmpLength)).toEqual([8 + 4]);
    expect(replies.filter((m) => [ID_OVERLAP, ID_OTHER_MAC, ID_BAD_CSUM].includes(m.ident))).toEqual([]);
  });

  it("has tshark flag the crafted frames in the capture, and none of tapstack's", async () => {
    const problems = await tsharkProblems(pcap, ['eth.src', 'eth.dst']);
    // Captured as they came in: the bad checksums and bogus lengths are in the capture.
    expect(problems.length).toBeGreaterThanOrEqual(10);
    for (const p of problems) expect(p).toBe(`${kernelMac}\t${t!.mac}`);
  });
});
