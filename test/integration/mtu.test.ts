/**
 * A jumbo link: tapstack up with --mtu 9000, offloads on and off. The kernel's side gets the same
 * MTU; a ping of 8972 bytes fits unfragmented both ways (20 + 8 + 8972 = 9000), one of 20000
 * bytes is fragmented both ways into 9000-byte frames.
 *
 * Namespaces tapstack-it-mtu-{on,off}-<pid>; subnets 198.18.30.0/24 (on), 198.18.31.0/24 (off).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  icmpMessages,
  ipv4Frames,
  isFragment,
  nsRun,
  ping,
  requireBuilt,
  scratchDir,
  subnet,
  tsharkProblems,
  useTapstack,
  type IcmpSeen,
  type Ipv4FrameSeen,
  type PingResult,
  type Stopped,
  type Tapstack,
} from './helpers.js';

const MTU = 9000;
const FRAG_PAYLOAD = (MTU - 20) & ~7; // 8976

const PINGS = [
  { name: '8972 bytes, unfragmented (DF)', size: 8972, count: 5, fragments: 1, dontFragment: true },
  { name: '20000 bytes, fragmented', size: 20000, count: 5, fragments: Math.ceil(20008 / FRAG_PAYLOAD) },
  { name: '56 bytes', size: 56, count: 5, fragments: 1 },
];

describe.each(['on', 'off'] as const)('MTU 9000, offload %s', (offload) => {
  const net = subnet(offload === 'on' ? 30 : 31);
  const scratch = scratchDir(`mtu-${offload}`);
  const { ns, start } = useTapstack(`mtu-${offload}`, { after: scratch.remove });
  const pcap = `${scratch.dir}/mtu.pcap`;
  let t: Tapstack | null = null;
  let linkShow = '';
  const results = new Map<string, PingResult>();
  let tooBig: PingResult;
  let stopped: Stopped;
  let icmp: IcmpSeen[] = [];
  let frames: Ipv4FrameSeen[] = [];

  beforeAll(async () => {
    requireBuilt();
    t = await start({ net, offload, mtu: MTU, pcap });
    linkShow = (await nsRun(ns, 'ip', ['-o', 'link', 'show', 'tap0'])).stdout;
    for (const p of PINGS) results.set(p.name, await ping(ns, net.tapstack, { ...p, interval: 0.02 }));
    // One byte more than fits, with DF: the kernel refuses to send it (its own MTU check).
    tooBig = await ping(ns, net.tapstack, { count: 1, size: 8973, dontFragment: true, waitS: 1 });
    stopped = await t.stop();
    icmp = await icmpMessages(pcap);
    frames = await ipv4Frames(pcap);
  }, 180_000);

  it('sets the MTU on both sides', () => {
    expect(t!.upLine).toContain(' mtu 9000 ');
    expect(linkShow).toMatch(/ mtu 9000 /);
  });

  it.each(PINGS)('answers every ping of $name, fragmented as the MTU asks', (p) => {
    const r = results.get(p.name)!;
    expect(r.received, r.stdout).toBe(p.count);
    const len = p.size + 8;
    const requests = icmp.filter((m) => m.src === net.host && m.type === 8 && m.icmpLength === len);
    const replies = icmp.filter((m) => m.src === net.tapstack && m.type === 0 && m.icmpLength === len);
    expect(requests.map((m) => m.fragments)).toEqual(Array(p.count).fill(p.fragments));
    expect(replies.map((m) => m.fragments)).toEqual(Array(p.count).fill(p.fragments));
  });

  it('sends 8972-byte replies as single 9000-byte frames', () => {
    const whole = frames.filter((f) => f.src === net.tapstack && !isFragment(f) && f.totalLength === MTU);
    expect(whole.length).toBe(PINGS[0]!.count);
  });

  it('never sends a frame larger than the MTU', () => {
    const ours = frames.filter((f) => f.src === net.tapstack);
    expect(ours.filter((f) => f.totalLength > MTU)).toEqual([]);
    // The 20000-byte replies: fragments of the full 9000 bytes but the last.
    const firsts = ours.filter((f) => f.moreFragments);
    expect(firsts.length).toBe(PINGS[1]!.count * (PINGS[1]!.fragments - 1));
    expect(new Set(firsts.map((f) => f.totalLength))).toEqual(new Set([20 + FRAG_PAYLOAD]));
  });

  it('sees nothing of a ping too big for the link with DF', () => {
    expect(tooBig.received).toBe(0);
    expect(icmp.filter((m) => m.icmpLength === 8973 + 8)).toEqual([]);
  });

  it('counts the echoes and fragments', () => {
    const c = stopped.counters;
    const total = PINGS.reduce((a, p) => a + p.count, 0);
    expect(counter(c, 'icmp.echoRepliesOut')).toBe(total);
    const frags = PINGS.reduce((a, p) => a + (p.fragments > 1 ? p.count * p.fragments : 0), 0);
    expect(counter(c, 'iface.fragmentsIn')).toBe(frags);
    expect(counter(c, 'iface.fragmentsOut')).toBe(frags);
    expect(stopped.code).toBe(0);
  });

  it('has the capture pass the tshark check', async () => {
    expect(await tsharkProblems(pcap)).toEqual([]);
  });
});
