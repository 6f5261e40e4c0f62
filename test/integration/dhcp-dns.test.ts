/**
 * DHCP and DNS against the real kernel and dnsmasq (Debian's dnsmasq-base), dnsmasq running in
 * the test's namespace on the kernel's side of the TAP, bound to that interface only:
 *
 * - `tapstack up --address dhcp` gets a lease (dnsmasq's lease file shows it), answers ping at
 *   the leased address, renews at T1 (dnsmasq's shortest lease, 2 minutes: T1 at 60 s; the lease
 *   file's expiry moves), and releases it on SIGINT (the lease file loses it);
 * - `tapstack connect NAME PORT --address dhcp` resolves a name dnsmasq serves with tapstack's
 *   resolver and the lease's DNS server, and talks to a kernel TCP listener there; an unknown
 *   name fails with ENOTFOUND;
 * - without a server, `tapstack up --address dhcp` exits 1 with `no DHCP offer within 30 s`
 *   (the documented bound);
 * - scapy and a hostile DNS server (dhcp-dns-peer.py) send malformed DHCP and DNS answers
 *   (wrong xids and ids, another server, wrong op and chaddr, bad cookie, truncated options, bad
 *   UDP checksums, compression loops, a cut message, a question not ours): each is dropped and
 *   counted under its reason, and tapstack still gets its lease and its answer;
 * - an offered address another host has (scapy answers ARP for it): tapstack's probe finds it,
 *   tapstack DECLINEs it (dnsmasq logs DHCPDECLINE) and asks again;
 * - an answer too large for UDP (40 A records): TC, asked again over tapstack's TCP;
 * - every capture passes tshark's check.
 *
 * - a DNS server address where nothing listens: the kernel's port unreachable ends each try at
 *   once (EAI_AGAIN without waiting for timeouts);
 * Namespaces tapstack-it-{dhcp,dhcpname,dhcpnone,dhcpmalf,dnsmalf,dhcpdecl,dnstcp,dnsnone}-<pid>;
 * subnets 198.18.70.0/24 .. 198.18.77.0/24.
 */
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, counter, drops, nsRun, parseCounters, ping, poll, PYTHON, requireBuilt, run, scratchDir, subnet, tsharkCount, tsharkProblems, useNamespace, useTapstack, waitUdpListening } from './helpers.js';

const PEER = fileURLToPath(new URL('./dhcp-dns-peer.py', import.meta.url));
const NAME = 'web.tapstack.test';

beforeAll(() => requireBuilt());
const scratch = scratchDir('dhcp');
afterAll(() => scratch.remove());

/** dnsmasq in `ns` on `ifname` only: DHCP .50-.59 with a 2-minute lease (its minimum), DNS for NAME. */
class Dnsmasq {
  readonly leases: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  log = '';

  constructor(
    readonly ns: string,
    readonly x: number,
    readonly tag: string,
  ) {
    this.leases = `${scratch.dir}/${tag}.leases`;
  }

  /** Start it; `range` the last octets of the pool (default .50-.59), `extra` more options. */
  start(ifname = 'tap0', o: { range?: [number, number]; extra?: string[] } = {}): void {
    const n = `198.18.${this.x}`;
    const [lo, hi] = o.range ?? [50, 59];
    const args = [
      '--no-daemon',
      '--conf-file=/dev/null',
      `--interface=${ifname}`,
      '--bind-interfaces',
      `--dhcp-range=${n}.${lo},${n}.${hi},255.255.255.0,2m`,
      `--dhcp-option=option:router,${n}.1`,
      `--dhcp-leasefile=${this.leases}`,
      `--address=/${NAME}/${n}.1`,
      // Names under tapstack.test are answered here: the others NXDOMAIN.
      '--local=/tapstack.test/',
      '--port=53',
      '--no-resolv',
      '--no-hosts',
      '--user=root',
      `--pid-file=${scratch.dir}/${this.tag}.pid`,
      '--log-dhcp',
      '--log-queries',
      '--log-facility=-',
      ...(o.extra ?? []),
    ];
    const c = spawn('ip', ['netns', 'exec', this.ns, 'dnsmasq', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    this.exited = new Promise((r) => c.on('close', () => r()));
    this.child = c;
  }

  /** The lease file's lines: expiry (epoch s), MAC, address. */
  leaseLines(): { expiry: number; mac: string; ip: string }[] {
    if (!existsSync(this.leases)) return [];
    return readFileSync(this.leases, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('duid'))
      .map((l) => {
        const [expiry, mac, ip] = l.split(' ');
        return { expiry: Number(expiry), mac: mac!, ip: ip! };
      });
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, 'SIGTERM');
    await this.exited;
    this.child = null;
  }
}

/** Wait until `ifname` exists in `ns` (tapstack created it). */
async function waitLink(ns: string, ifname: string): Promise<void> {
  const ok = await poll(async () => ((await nsRun(ns, 'ip', ['link', 'show', ifname])).code === 0 ? true : null), 10_000);
  if (!ok) throw new Error(`${ifname} did not appear in ${ns}`);
}

/** The `tapstack: lease ...` line's fields. */
function leaseLine(stdout: string): { address: string; prefix: number; router: string; dns: string; lease: number } | null {
  const m = /^tapstack: lease (\S+)\/(\d+) router (\S+) dns (\S+) lease (\d+) s server \S+$/m.exec(stdout);
  return m ? { address: m[1]!, prefix: Number(m[2]), router: m[3]!, dns: m[4]!, lease: Number(m[5]) } : null;
}

/**
 * A namespace for `tapstack connect` tests: its dnsmasq (not started) and a kernel TCP echo
 * listener on port 8080 (`listen`: socat answering with what it read), both stopped in afterAll.
 */
function useConnectScope(tag: string, x: number): { ns: string; dnsmasq: Dnsmasq; listen(bind?: string): void } {
  let listener: ChildProcess | null = null;
  let dnsmasq: Dnsmasq | null = null;
  const ns = useNamespace(tag, {
    stop: async () => {
      if (listener && listener.exitCode === null) process.kill(listener.pid!, 'SIGTERM');
      await dnsmasq?.stop();
    },
  });
  dnsmasq = new Dnsmasq(ns, x, tag);
  return {
    ns,
    dnsmasq,
    listen: (bind) => {
      listener = spawn('ip', ['netns', 'exec', ns, 'socat', `TCP-LISTEN:8080,reuseaddr,fork${bind ? `,bind=${bind}` : ''}`, 'SYSTEM:cat'], { stdio: 'ignore' });
    },
  };
}

/**
 * tap0 made beforehand with the kernel's addresses `addrs` (`tapstack connect` then attaches to
 * it), so that a DNS server can bind them before tapstack's first query: a query that finds the
 * port still closed gets ICMP port unreachable, and tapstack's resolver gives that try up at once
 * (as glibc's does), where a timeout used to give a late server two seconds.
 */
async function serverFirst(ns: string, addrs: string[]): Promise<void> {
  expect((await nsRun(ns, 'ip', ['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap', 'vnet_hdr', 'multi_queue'])).code).toBe(0);
  for (const a of addrs) expect((await nsRun(ns, 'ip', ['addr', 'add', a, 'dev', 'tap0'])).code).toBe(0);
  expect((await nsRun(ns, 'ip', ['link', 'set', 'tap0', 'up'])).code).toBe(0);
}

/** `tapstack connect HOST 8080 --ifname tap0 OPTIONS` in `ns`, stdin `input`, its counters on stderr. */
function tapstackConnect(ns: string, host: string, input: string, options: string[]) {
  return run('ip', ['netns', 'exec', ns, 'env', 'TAPSTACK_COUNTERS=1', 'node', CLI, 'connect', host, '8080', '--ifname', 'tap0', ...options], { input, timeoutMs: 60_000 });
}

describe('tapstack up --address dhcp against dnsmasq', () => {
  const net = subnet(70);
  let dnsmasq: Dnsmasq | null = null;
  const { ns, start } = useTapstack('dhcp', { ignoreStopError: true, stop: async () => dnsmasq?.stop() });
  dnsmasq = new Dnsmasq(ns, 70, 'up');

  it('gets a lease, answers at it, renews it at T1, releases it on SIGINT', async () => {
    const pcap = `${scratch.dir}/up.pcap`;
    const t = await start({ net, pcap, extra: ['--address', 'dhcp', '--dhcp-probes', '1'] });
    expect(t.upLine).toContain(' dhcp ');
    dnsmasq.start();
    const lease = await poll(async () => leaseLine(t.stdout), 30_000);
    expect(lease, `${t.stdout}\n${t.stderr}\n${dnsmasq.log}`).not.toBeNull();
    expect(lease).toMatchObject({ prefix: 24, router: net.host, dns: net.host, lease: 120 });
    expect(lease!.address).toMatch(/^198\.18\.70\.5\d$/);
    const first = dnsmasq.leaseLines();
    expect(first).toEqual([expect.objectContaining({ mac: t.mac, ip: lease!.address })]);
    const p = await ping(ns, lease!.address, { count: 2 });
    expect(p.received).toBe(2);
    // T1 is 60 s after the REQUEST: the renewal's ACK moves the lease's expiry on.
    const renewed = await poll(async () => (/tapstack: lease renewed /.test(t.stdout) ? true : null), 75_000);
    expect(renewed, `${t.stdout}\n${dnsmasq.log}`).toBe(true);
    const second = dnsmasq.leaseLines();
    expect(second).toEqual([expect.objectContaining({ mac: t.mac, ip: lease!.address })]);
    expect(second[0]!.expiry).toBeGreaterThan(first[0]!.expiry + 30);
    const stopped = await t.stop();
    expect(stopped.code).toBe(0);
    const gone = await poll(async () => (dnsmasq.leaseLines().length === 0 ? true : null), 5000);
    expect(gone, dnsmasq.log).toBe(true);
    expect(dnsmasq.log).toMatch(/DHCPRELEASE/);
    const c = stopped.counters;
    expect(counter(c, 'dhcp.discovers')).toBeGreaterThanOrEqual(1);
    expect(counter(c, 'dhcp.acks')).toBe(2);
    expect(counter(c, 'dhcp.renewals')).toBe(1);
    expect(counter(c, 'dhcp.releases')).toBe(1);
    expect(counter(c, 'dhcp.probes')).toBe(1);
    expect(Object.keys(drops(c)).filter((k) => k.startsWith('drop.dhcp'))).toEqual([]);
    expect(await tsharkProblems(pcap)).toEqual([]);
  }, 150_000);
});

describe('tapstack connect NAME PORT --address dhcp: a name dnsmasq serves', () => {
  const x = 71;
  const { ns, dnsmasq, listen } = useConnectScope('dhcpname', x);
  const connect = (host: string, input: string, pcap: string) => tapstackConnect(ns, host, input, ['--address', 'dhcp', '--host-address', `198.18.${x}.1/24`, '--dhcp-probes', '0', '--pcap', pcap]);

  it('resolves it with tapstack\'s resolver and the lease\'s DNS server, and connects to the kernel listener', async () => {
    const pcap = `${scratch.dir}/name.pcap`;
    const p = connect(NAME, 'hello from tapstack\n', pcap);
    await waitLink(ns, 'tap0');
    dnsmasq.start();
    // The kernel's TCP listener on the address the name has: it answers with what it read.
    listen(`198.18.${x}.1`);
    const r = await p;
    expect(r.code, `${r.stdout}\n${r.stderr}\n${dnsmasq.log}`).toBe(0);
    expect(r.stdout).toBe('hello from tapstack\n');
    expect(dnsmasq.log).toMatch(new RegExp(`query\\[A\\] ${NAME.replace(/\./g, '\\.')} from 198\\.18\\.${x}\\.5\\d`));
    const c = parseCounters(r.stderr, /^tapstack: connection closed$/);
    expect(counter(c, 'dns.queries')).toBe(1);
    expect(counter(c, 'dns.answers')).toBe(1);
    expect(await tsharkProblems(pcap)).toEqual([]);
  }, 90_000);

  it('an unknown name fails with ENOTFOUND through the socket\'s error', async () => {
    const r = await connect('nothing.tapstack.test', '', `${scratch.dir}/name2.pcap`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tapstack: connect nothing.tapstack.test:8080: getaddrinfo ENOTFOUND nothing.tapstack.test [ENOTFOUND]');
  }, 90_000);
});

describe('a DNS server address where no server runs', () => {
  const net = subnet(77);
  const ns = useNamespace('dnsnone');

  it('each try ends at the kernel\'s port unreachable, not at its timeout: EAI_AGAIN at once', async () => {
    const t0 = Date.now();
    const r = await tapstackConnect(ns, NAME, '', ['--address', `${net.tapstack}/24`, '--host-address', `${net.host}/24`, '--dns', net.host]);
    const s = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`tapstack: connect ${NAME}:8080: getaddrinfo EAI_AGAIN ${NAME} [EAI_AGAIN]`);
    const c = parseCounters(r.stderr, /^tapstack: connection closed$/);
    // Two tries of the one server (RFC 1536's retransmission, as glibc's attempts:2), both
    // refused; two timeouts would have taken 4 s.
    expect(counter(c, 'dns.queries')).toBe(2);
    expect(counter(c, 'dns.unreachable')).toBe(2);
    expect(counter(c, 'dns.timeouts')).toBe(0);
    expect(s).toBeLessThan(3.5);
  }, 60_000);
});

describe('no DHCP server', () => {
  const net = subnet(72);
  const ns = useNamespace('dhcpnone');

  it('tapstack up --address dhcp exits 1 with "no DHCP offer within 30 s" (the documented bound)', async () => {
    const t0 = Date.now();
    const r = await run('ip', ['netns', 'exec', ns, 'node', CLI, 'up', '--ifname', 'tap0', '--address', 'dhcp', '--host-address', `${net.host}/24`], { timeoutMs: 60_000 });
    const s = (Date.now() - t0) / 1000;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toContain('tapstack: dhcp: no DHCP offer within 30 s');
    expect(s).toBeGreaterThanOrEqual(29);
    expect(s).toBeLessThan(40);
  }, 60_000);
});

/** Run dhcp-dns-peer.py in `ns`; the cases it sent, each with the reason tapstack should count. */
async function peer(ns: string, args: string[]): Promise<[string, string][]> {
  const r = await nsRun(ns, PYTHON, [PEER, ...args], { timeoutMs: 60_000 });
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('{'));
  expect(line, r.stdout).toBeDefined();
  const out = JSON.parse(line!) as { cases?: [string, string][]; error?: string };
  expect(out.error, r.stdout).toBeUndefined();
  return out.cases!;
}

/** How many of `cases` should count under each reason. */
function expectedDrops(cases: [string, string][]): Record<string, number> {
  const want: Record<string, number> = {};
  for (const [, reason] of cases) want[`drop.${reason}`] = (want[`drop.${reason}`] ?? 0) + 1;
  return want;
}

describe('malformed and foreign DHCP answers (scapy)', () => {
  const net = subnet(73);
  const { ns, start } = useTapstack('dhcpmalf', { ignoreStopError: true });

  it('are dropped under their reasons, and the good OFFER and ACK still give the lease', async () => {
    const pcap = `${scratch.dir}/dhcp-malformed.pcap`;
    const t = await start({ net, pcap, extra: ['--address', 'dhcp', '--dhcp-probes', '0'] });
    const cases = await peer(ns, ['dhcp', '--iface', 'tap0', '--server', net.host, '--other', '198.18.73.3', '--offer', '198.18.73.50']);
    console.log(`DHCP cases: ${cases.map(([n, r]) => `${n} -> ${r}`).join(', ')}`);
    const lease = await poll(async () => leaseLine(t.stdout), 10_000);
    expect(lease, t.stdout).toMatchObject({ address: '198.18.73.50', prefix: 24, router: net.host, lease: 120 });
    // Still serving: it answers at the address it got.
    expect((await ping(ns, '198.18.73.50', { count: 2 })).received).toBe(2);
    const c = (await t.stop()).counters;
    const d = drops(c);
    for (const [k, n] of Object.entries(expectedDrops(cases))) expect(d[k] ?? 0, k).toBe(n);
    expect(counter(c, 'dhcp.acks')).toBe(1);
    const ours = await tsharkProblems(pcap, ['ip.src']);
    expect(ours.filter((l) => l.startsWith('198.18.73.50') || l.startsWith('0.0.0.0'))).toEqual([]);
  }, 90_000);
});

describe('malformed and foreign DNS answers (a hostile server)', () => {
  const x = 74;
  const { ns, listen } = useConnectScope('dnsmalf', x);

  it('are dropped under their reasons, and the good answer still connects', async () => {
    const pcap = `${scratch.dir}/dns-malformed.pcap`;
    // The server's port is open before tapstack asks (see serverFirst).
    await serverFirst(ns, [`198.18.${x}.1/24`, `198.18.${x}.3/24`]);
    listen(`198.18.${x}.1`);
    const server = peer(ns, ['dns', '--iface', 'tap0', '--server', `198.18.${x}.1`, '--other', `198.18.${x}.3`, '--answer', `198.18.${x}.1`]);
    await waitUdpListening(ns, 53, `198.18.${x}.1`);
    const done = tapstackConnect(ns, NAME, 'still here\n', ['--address', `198.18.${x}.2/24`, '--dns', `198.18.${x}.1`, '--pcap', pcap]);
    const cases = await server;
    console.log(`DNS cases: ${cases.map(([n, r]) => `${n} -> ${r}`).join(', ')}`);
    const r = await done;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toBe('still here\n');
    const c = parseCounters(r.stderr, /^tapstack: connection closed$/);
    const d = drops(c);
    for (const [k, n] of Object.entries(expectedDrops(cases))) expect(d[k] ?? 0, k).toBe(n);
    expect(counter(c, 'dns.answers')).toBe(1);
    const ours = await tsharkProblems(pcap, ['ip.src']);
    expect(ours.filter((l) => l.startsWith(`198.18.${x}.2`))).toEqual([]);
  }, 90_000);
});

describe('an offered address already in use', () => {
  const net = subnet(75);
  let dnsmasq: Dnsmasq | null = null;
  let claimer: ChildProcess | null = null;
  const { ns, start } = useTapstack('dhcpdecl', {
    ignoreStopError: true,
    stop: async () => {
      if (claimer && claimer.exitCode === null) process.kill(claimer.pid!, 'SIGTERM');
      await dnsmasq?.stop();
    },
  });
  dnsmasq = new Dnsmasq(ns, 75, 'decline');

  it('is found by the ARP probe and DECLINEd (RFC 2131 2.2, 3.1.5)', async () => {
    const pcap = `${scratch.dir}/decline.pcap`;
    const t = await start({ net, pcap, extra: ['--address', 'dhcp', '--dhcp-probes', '2'] });
    // Another host (scapy) has .50, the only address of the pool; dnsmasq offers it anyway
    // (--no-ping). (Not the kernel: it would take the OFFER to .50 for itself.)
    const claim = spawn('ip', ['netns', 'exec', ns, PYTHON, PEER, 'claim', '--iface', 'tap0', '--server', net.host, '--other', '198.18.75.50'], { stdio: ['ignore', 'pipe', 'inherit'] });
    claimer = claim;
    let claimOut = '';
    claim.stdout!.setEncoding('utf8').on('data', (d: string) => (claimOut += d));
    await poll(async () => (claimOut.includes('ready') ? true : null), 10_000);
    dnsmasq.start('tap0', { range: [50, 50], extra: ['--no-ping'] });
    const declined = await poll(async () => (/^tapstack: lease lost \(declined\), asking again$/m.test(t.stdout) ? true : null), 30_000);
    expect(declined, `${t.stdout}\n${t.stderr}\n${dnsmasq.log}`).toBe(true);
    expect(leaseLine(t.stdout)).toBeNull();
    const gotDecline = await poll(async () => (/DHCPDECLINE/.test(dnsmasq.log) ? true : null), 5000);
    expect(gotDecline, dnsmasq.log).toBe(true);
    const c = (await t.stop()).counters;
    expect(counter(c, 'dhcp.declines')).toBeGreaterThanOrEqual(1);
    expect(counter(c, 'dhcp.probes')).toBeGreaterThanOrEqual(1);
    // The probe: a request from 0.0.0.0 for .50 (RFC 5227 2.1.1), and the other host's answer.
    expect(await tsharkCount(pcap, 'arp.opcode == 1 && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == 198.18.75.50')).toBeGreaterThanOrEqual(1);
    expect(await tsharkCount(pcap, 'arp.opcode == 2 && arp.src.proto_ipv4 == 198.18.75.50')).toBeGreaterThanOrEqual(1);
    expect(await tsharkProblems(pcap)).toEqual([]);
  }, 60_000);
});

describe('an answer too large for UDP (TC)', () => {
  const x = 76;
  const { ns, dnsmasq, listen } = useConnectScope('dnstcp', x);

  it('is asked again over tapstack\'s TCP (RFC 7766) and connects to one of its 40 addresses', async () => {
    // 40 A records for big.tapstack.test (about 700 bytes: over UDP's 512, so dnsmasq sets TC),
    // every address the kernel's (the namespace's lo holds them, so they are there before the
    // TAP; the kernel answers ARP for them on the TAP).
    const hosts = `${scratch.dir}/tc.hosts`;
    const addrs = Array.from({ length: 40 }, (_, i) => `198.18.${x}.${100 + i}`);
    writeFileSync(hosts, addrs.map((a) => `${a} big.tapstack.test\n`).join(''));
    for (const a of addrs) expect((await nsRun(ns, 'ip', ['addr', 'add', `${a}/32`, 'dev', 'lo'])).code).toBe(0);
    listen();
    const pcap = `${scratch.dir}/tc.pcap`;
    // dnsmasq answers before tapstack asks (see serverFirst).
    await serverFirst(ns, [`198.18.${x}.1/24`]);
    dnsmasq.start('tap0', { extra: [`--addn-hosts=${hosts}`] });
    await waitUdpListening(ns, 53, `198.18.${x}.1`);
    const done = tapstackConnect(ns, 'big.tapstack.test', 'over tcp\n', ['--address', `198.18.${x}.2/24`, '--dns', `198.18.${x}.1`, '--pcap', pcap]);
    const r = await done;
    expect(r.code, `${r.stdout}\n${r.stderr}\n${dnsmasq.log}`).toBe(0);
    expect(r.stdout).toBe('over tcp\n');
    const c = parseCounters(r.stderr, /^tapstack: connection closed$/);
    expect(counter(c, 'dns.truncated')).toBe(1);
    expect(counter(c, 'dns.tcpQueries')).toBe(1);
    expect(counter(c, 'dns.answers')).toBe(1);
    // The DNS over TCP in the capture: a query and an answer with 40 A records.
    expect(await tsharkCount(pcap, 'tcp.port == 53 && dns.flags.response == 1 && dns.count.answers == 40')).toBe(1);
    expect(await tsharkProblems(pcap)).toEqual([]);
  }, 90_000);
});
