/**
 * The `tapstack` command's contract: bad options exit 2 with one line on stderr, --help exits 0
 * and documents every option, a failure to start exits 1 with one clear line (a TAP name held by
 * another tapstack; no permission).
 *
 * Everything runs inside namespaces (tapstack-it-cli-*-<pid>), even the runs that should fail
 * before touching the network: if one did not, it would create its TAP there. Subnets
 * 198.18.40.0/24 (usage), 198.18.41.0/24 (busy), 198.18.42.0/24 (non-root).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, nsRun, ping, requireBuilt, subnet, Tapstack, useNamespace, useTapstack, type RunResult } from './helpers.js';

/**
 * The options `tapstack up` parses, read from the code under test (the built CLI, which is what
 * runs), so that a new option must be documented.
 */
function upOptions(): string[] {
  const src = readFileSync(CLI, 'utf8');
  const block = /options:\s*\{([\s\S]*?)\n\s*\},\n/.exec(src)?.[1];
  if (!block) throw new Error(`cannot find the options of parseArgs in ${CLI}`);
  return [...block.matchAll(/^\s*'?([a-z][a-z-]*)'?\s*:\s*\{/gm)].map((m) => `--${m[1]}`);
}

function cli(ns: string, args: string[]): Promise<RunResult> {
  return nsRun(ns, 'node', [CLI, ...args], { timeoutMs: 30_000 });
}

/** stderr's lines (no empty ones). */
function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

describe('tapstack command line', () => {
  const net = subnet(40);
  const ns = useNamespace('cli-usage');
  const ok = ['--ifname', 'tap0', '--address', `${net.tapstack}/24`, '--host-address', `${net.host}/24`];

  beforeAll(() => requireBuilt());

  const usageErrors: [string, string[]][] = [
    ['an unknown option', ['up', ...ok, '--bogus']],
    ['an option without its value', ['up', ...ok, '--mtu']],
    ['a positional argument', ['up', ...ok, 'extra']],
    ['no --ifname', ['up', '--address', `${net.tapstack}/24`]],
    ['no --address', ['up', '--ifname', 'tap0']],
    ['a bad --address', ['up', '--ifname', 'tap0', '--address', '198.18.40.300/24']],
    ['an --address without prefix length', ['up', '--ifname', 'tap0', '--address', 'tap0']],
    ['--host-address equal to --address', ['up', '--ifname', 'tap0', '--address', `${net.tapstack}/24`, '--host-address', `${net.tapstack}/24`]],
    ['--offload maybe', ['up', ...ok, '--offload', 'maybe']],
    ['--syn-queue maybe', ['up', ...ok, '--syn-queue', 'maybe']],
    ['--mtu 70000', ['up', ...ok, '--mtu', '70000']],
    ['--mtu 65522', ['up', ...ok, '--mtu', '65522']],
    ['--mtu 67', ['up', ...ok, '--mtu', '67']],
    ['--mtu 1500x', ['up', ...ok, '--mtu', '1500x']],
    ['--split bogus', ['up', ...ok, '--split', 'bogus']],
    ['--snaplen 0', ['up', ...ok, '--snaplen', '0']],
    ['interface name with a slash', ['up', '--ifname', 'tap/0', '--address', `${net.tapstack}/24`]],
    ['interface name of 16 characters', ['up', '--ifname', 'tapstacktap01234', '--address', `${net.tapstack}/24`]],
    ['interface name with a space', ['up', '--ifname', 'tap 0', '--address', `${net.tapstack}/24`]],
    ['empty interface name', ['up', '--ifname', '', '--address', `${net.tapstack}/24`]],
    ['interface name with a colon', ['up', '--ifname', 'tap:0', '--address', `${net.tapstack}/24`]],
    ['an unknown command', ['frobnicate']],
  ];

  it.each(usageErrors)('exits 2 with one line on stderr for %s', async (_what, args) => {
    const r = await cli(ns, args);
    expect(r.code, r.stderr).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^tapstack: \S/);
    expect(r.stdout).toBe('');
  });

  it('created nothing in the namespace while refusing those', async () => {
    const r = await nsRun(ns, 'ip', ['-o', 'link', 'show']);
    expect(lines(r.stdout).map((l) => l.split(': ')[1])).toEqual(['lo']);
  });

  it.each(['--help', '-h', 'help', 'up --help', 'up -h'])("prints the help for 'tapstack %s' and exits 0", async (args) => {
    const r = await cli(ns, args.split(' '));
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const options = upOptions();
    expect(options).toEqual(expect.arrayContaining(['--ifname', '--address', '--host-address', '--mtu', '--offload', '--pcap', '--help']));
    for (const o of options) expect(r.stdout, `help mentions ${o}`).toMatch(new RegExp(`(^|[\\s,])${o}\\b`, 'm'));
    expect(r.stdout).toMatch(/^Usage: tapstack /);
  });
});

describe('tapstack up on a TAP name another tapstack holds', () => {
  const net = subnet(41);
  const { ns, start } = useTapstack('cli-busy');
  let first: Tapstack | null = null;

  beforeAll(async () => {
    requireBuilt();
    first = await start({ net, offload: 'on' });
  });

  // Without IFF_MULTI_QUEUE a TAP takes one fd: the kernel answers a second TUNSETIFF with EBUSY.
  it.each(['on', 'off'] as const)('exits 1 with one clear line (second with offload %s)', async (offload) => {
    const second = Tapstack.spawn({ ns, net: { ...net, tapstack: `198.18.${net.x}.3` }, offload });
    const st = await second.exit(20_000);
    expect(st.code, second.stdout + second.stderr).toBe(1);
    expect(lines(second.stderr)).toHaveLength(1);
    expect(second.stderr).toMatch(/^tapstack: .*\btap0\b.*busy/);
    expect(second.stdout).not.toContain('tapstack up:');
  });

  it('leaves the first one running and answering', async () => {
    expect(first!.running).toBe(true);
    const r = await ping(ns, net.tapstack, { count: 3, interval: 0.05 });
    expect(r.received, r.stdout).toBe(3);
    const st = await first!.stop();
    expect(st.code).toBe(0);
    expect(st.counters['icmp.echoRepliesOut']).toBe(3);
  });
});

describe('tapstack up as a user without CAP_NET_ADMIN', () => {
  const net = subnet(42);
  const ns = useNamespace('cli-user');
  const nobody = { uid: 65534, gid: 65534 };

  beforeAll(() => requireBuilt());

  it('can read the built CLI as that user (precondition)', async () => {
    const r = await nsRun(ns, 'setpriv', [`--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, '--clear-groups', 'node', CLI, '--help']);
    expect(r.code, `user ${nobody.uid} cannot run ${CLI}: make the checkout world-readable\n${r.stderr}`).toBe(0);
  });

  it('exits 1 with one line about permission, creating nothing', async () => {
    const t = Tapstack.spawn({ ns, net, asUser: nobody });
    const st = await t.exit(20_000);
    expect(st.code, t.stdout + t.stderr).toBe(1);
    expect(lines(t.stderr)).toHaveLength(1);
    expect(t.stderr).toMatch(/^tapstack: .*permission/i);
    expect(t.stdout).toBe('');
    const link = await nsRun(ns, 'ip', ['link', 'show', 'tap0']);
    expect(link.code).not.toBe(0);
  });
});
