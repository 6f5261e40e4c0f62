/**
 * UDP against the real kernel, offloads on and off (`tapstack up --serve udp-echo:7,udp-discard:9`,
 * the kernel's side driven by test/integration/udp-peer.py):
 *
 * - echo: 10,000 datagrams of sizes 1..65507 (every size up to 1500, the MTU's edge, the
 *   extremes, then random ones; those above 1472 bytes go in IP fragments both ways) from a
 *   kernel socket, 8 in flight; every echo's bytes checked, none lost (a Python socket: socat
 *   cannot keep datagram boundaries of a stream, so it is checked with one datagram);
 * - a flood into a closed port: Port Unreachable answers, rate-limited (the capture counts them),
 *   and tapstack still answers ping and echo;
 * - the page reader: datagrams of whole pages (MTU 9000, header split at 42 = Ethernet + IPv4 +
 *   UDP) into udp-discard: at least 99% of their bytes flipped, not copied;
 * - scapy's malformed UDP (lengths beyond the IP payload, below 8, zero; a cut header; bad
 *   checksums): each dropped and counted under its reason, the accepted odd cases (an odd
 *   length, no checksum, a length below the IP payload) echoed, a control echoed after each;
 * - echo under the fault injector (loss, duplication and corruption of 1% each way): no echo is
 *   wrong (the checksums catch every flipped bit), the faults are counted;
 * - every capture passes tshark's check (malformed frames, checksum warnings).
 *
 * Namespaces tapstack-it-udp{echo,flood,pages,malf,impair}-{on,off}-<pid>; subnets
 * 198.18.60.0/24 .. 198.18.69.0/24.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counter, drops, nsRun, ping, PYTHON, requireBuilt, run, scratchDir, subnet, tsharkCount, tsharkProblems, useTapstack } from './helpers.js';

const PEER = fileURLToPath(new URL('./udp-peer.py', import.meta.url));
const ECHO = 7;
const DISCARD = 9;
const SERVE = ['--serve', `udp-echo:${ECHO},udp-discard:${DISCARD}`];

/** Run udp-peer.py in `ns`; its JSON line. */
async function peer(ns: string, args: string[], timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const r = await nsRun(ns, PYTHON, [PEER, ...args], { timeoutMs });
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  expect(line, r.stdout).toBeDefined();
  return JSON.parse(line!) as Record<string, unknown>;
}

beforeAll(() => requireBuilt());

const scratch = scratchDir('udp');
afterAll(() => scratch.remove());

describe.each([
  ['on', 60],
  ['off', 61],
] as const)('UDP echo of 10,000 datagrams of 1..65507 bytes, offload %s', (offload, x) => {
  const net = subnet(x);
  const { ns, start } = useTapstack(`udpecho-${offload}`, { ignoreStopError: true });

  it('every datagram comes back whole, the large ones in fragments', async () => {
    const t = await start({ net, offload, extra: SERVE });
    const r = await peer(ns, ['echo', net.tapstack, String(ECHO), '10000', '1']);
    console.log(`[offload ${offload}] echo: ${JSON.stringify(r)}`);
    expect(r).toMatchObject({ sent: 10000, echoed: 10000, badCount: 0, lostCount: 0, largest: 65507, smallest: 1 });
    expect(r.bytes).toBe(r.total);
    // socat, a datagram each way: its stdin's read is the datagram, the echo comes back to stdout.
    const so = await run('ip', ['netns', 'exec', ns, 'sh', '-c', `printf 'tapstack-udp-echo' | socat -t 2 - UDP4:${net.tapstack}:${ECHO}`], { timeoutMs: 20_000 });
    expect(so.stdout, so.stderr).toBe('tapstack-udp-echo');
    const c = (await t.stop()).counters;
    expect(counter(c, 'udp.datagramsIn')).toBe(10001);
    expect(counter(c, 'udp.datagramsOut')).toBe(10001);
    expect(counter(c, 'udp.bytesOut')).toBe((r.total as number) + 17);
    expect(counter(c, 'serve.udp-echo.datagrams')).toBe(10001);
    expect(counter(c, 'udp.fragmentedOut')).toBe(r.fragmented);
    expect(counter(c, 'iface.reassembled')).toBe(r.fragmented);
    // Every received byte is counted once: flipped, or copied under a reason.
    const udpCopied = Object.entries(c)
      .filter(([k]) => k.startsWith('zc.udp.copied.'))
      .reduce((a, [, v]) => a + v, 0);
    expect(counter(c, 'zc.udp.flippedBytes') + udpCopied).toBe(counter(c, 'udp.bytesIn'));
    expect(drops(c)).not.toHaveProperty('drop.udp-bad-checksum');
  }, 180_000);
});

describe.each([
  ['on', 62],
  ['off', 63],
] as const)('a UDP flood into a closed port, offload %s', (offload, x) => {
  const net = subnet(x);
  const { ns, start } = useTapstack(`udpflood-${offload}`, { ignoreStopError: true });

  it('gets rate-limited Port Unreachables, and tapstack keeps serving', async () => {
    const pcap = `${scratch.dir}/flood-${offload}.pcap`;
    const t = await start({ net, offload, pcap, extra: SERVE });
    const flood = await peer(ns, ['flood', net.tapstack, '4444', '20000']);
    console.log(`[offload ${offload}] flood: ${JSON.stringify(flood)}`);
    const p = await ping(ns, net.tapstack, { count: 3, interval: 0.2 });
    expect(p.received).toBe(3);
    const e = await peer(ns, ['echo', net.tapstack, String(ECHO), '200', '2']);
    expect(e).toMatchObject({ echoed: 200, lostCount: 0, badCount: 0 });
    const c = (await t.stop()).counters;
    const received = counter(c, 'drop.udp-no-port');
    expect(received).toBeGreaterThan(10000);
    const unreachables = await tsharkCount(pcap, `icmp.type == 3 && icmp.code == 3 && ip.src == ${net.tapstack}`);
    console.log(`[offload ${offload}] ${received} datagrams to the closed port, ${unreachables} Port Unreachables in the capture, ${counter(c, 'icmp.errorsRateLimited')} rate-limited`);
    // The bucket: a burst of 50, then 1000 a second (Linux's icmp_msgs_burst / icmp_msgs_per_sec).
    expect(unreachables).toBe(counter(c, 'icmp.errorsOut'));
    expect(unreachables).toBeGreaterThan(0);
    expect(unreachables).toBeLessThanOrEqual(50 + Math.ceil(1000 * ((flood.seconds as number) + 1)));
    expect(unreachables + counter(c, 'icmp.errorsRateLimited')).toBe(received);
    expect(await tsharkProblems(pcap)).toEqual([]);
  }, 180_000);
});

describe.each([
  ['on', 64],
  ['off', 65],
] as const)('the UDP page reader, offload %s', (offload, x) => {
  const net = subnet(x);
  const { ns, start } = useTapstack(`udppages-${offload}`, { ignoreStopError: true });

  it('datagrams of whole pages are flipped (>= 99% of their bytes)', async () => {
    const pcap = `${scratch.dir}/pages-${offload}.pcap`;
    const t = await start({ net, offload, mtu: 9000, pcap, extra: [...SERVE, '--split', 'fixed:42'] });
    // ARP first: while it resolves, the kernel keeps only unres_qlen_bytes of what is sent.
    expect((await ping(ns, net.tapstack, { count: 1 })).received).toBe(1);
    const sent = await peer(ns, ['send', net.tapstack, String(DISCARD), '1500', '8192']);
    // The last datagrams reach the reader before the counters are read.
    await new Promise((r) => setTimeout(r, 500));
    const c = (await t.stop()).counters;
    const bytesIn = counter(c, 'udp.bytesIn');
    const flipped = counter(c, 'zc.udp.flippedBytes');
    console.log(`[offload ${offload}] page reader: ${flipped} of ${bytesIn} bytes flipped (${((100 * flipped) / bytesIn).toFixed(2)}%), sent ${JSON.stringify(sent)}`);
    expect(counter(c, 'serve.udp-discard.datagrams')).toBe(counter(c, 'udp.datagramsIn'));
    expect(bytesIn).toBeGreaterThanOrEqual(0.99 * (sent.bytes as number));
    expect(flipped / bytesIn).toBeGreaterThanOrEqual(0.99);
    expect(await tsharkProblems(pcap)).toEqual([]);
  }, 180_000);
});

interface CaseResult {
  case: string;
  ok: boolean;
  got: string[];
  control: number;
}

describe.each([
  ['on', 66],
  ['off', 67],
] as const)('malformed UDP (scapy), offload %s', (offload, x) => {
  const net = subnet(x);
  const { ns, start } = useTapstack(`udpmalf-${offload}`, { ignoreStopError: true });

  it('each is dropped and counted under its reason, the odd valid ones are echoed, and tapstack still serves', async () => {
    const pcap = `${scratch.dir}/malformed-${offload}.pcap`;
    const t = await start({ net, offload, pcap, extra: SERVE });
    const r = await nsRun(ns, PYTHON, [PEER, 'malformed', 'tap0', t.mac, net.tapstack, net.host, String(ECHO)], { timeoutMs: 120_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const cases = lines.filter((l) => 'case' in l) as unknown as CaseResult[];
    const summary = (lines.find((l) => 'summary' in l) as { summary: { reasons: Record<string, number> } }).summary;
    for (const c of cases) console.log(`[offload ${offload}] ${c.ok ? 'ok  ' : 'FAIL'} ${c.case}: got ${JSON.stringify(c.got)}, control ${c.control}`);
    expect(cases.filter((c) => !c.ok).map((c) => c.case)).toEqual([]);
    expect(cases.length).toBe(10);
    const e = await peer(ns, ['echo', net.tapstack, String(ECHO), '100', '3']);
    expect(e).toMatchObject({ echoed: 100, lostCount: 0 });
    const c = (await t.stop()).counters;
    for (const [reason, n] of Object.entries(summary.reasons)) expect(counter(c, `drop.${reason}`), reason).toBe(n);
    expect(counter(c, 'udp.noChecksumIn')).toBeGreaterThanOrEqual(1);
    // The malformed frames themselves are what tshark flags; nothing tapstack sent may be.
    const ours = await tsharkProblems(pcap, ['ip.src']);
    expect(ours.filter((l) => l.startsWith(net.tapstack))).toEqual([]);
  }, 180_000);
});

describe.each([
  ['on', 68],
  ['off', 69],
] as const)('UDP echo under fault injection (loss, duplication, corruption), offload %s', (offload, x) => {
  const net = subnet(x);
  const { ns, start } = useTapstack(`udpimpair-${offload}`, { ignoreStopError: true });

  it('the checksums catch every corrupted datagram: no echo is wrong, the faults are counted', async () => {
    const impair = 'both:loss=1%,dup=1%,corrupt=1%';
    const t = await start({ net, offload, extra: [...SERVE, '--impair', impair, '--seed', '60'] });
    const r = await peer(ns, ['echo', net.tapstack, String(ECHO), '1500', '4', 'lossy']);
    console.log(`[offload ${offload}] echo under ${impair}: ${JSON.stringify({ ...r, lost: undefined })}`);
    expect(r.badCount).toBe(0);
    expect((r.echoed as number) + (r.lostCount as number)).toBe(1500);
    expect(r.echoed as number).toBeGreaterThan(1000);
    const c = (await t.stop()).counters;
    expect(counter(c, 'nic.impairRxCorrupted') + counter(c, 'nic.impairTxCorrupted')).toBeGreaterThan(0);
    expect(counter(c, 'nic.impairRxDuplicated') + counter(c, 'nic.impairTxDuplicated')).toBeGreaterThan(0);
    // What the receive corruption broke was dropped by a checksum (or a header check before it).
    expect(counter(c, 'drop.udp-bad-checksum') + counter(c, 'drop.ipv4-bad-checksum')).toBeGreaterThan(0);
  }, 180_000);
});
