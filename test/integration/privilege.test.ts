/**
 * tapstack at three levels of privilege, each run of the CLI checked for what works (ping from
 * the kernel, a TCP echo through `--serve echo:7`) and, word for word, for what it says about
 * what does not:
 *
 * - root: creates the TAP, sets everything, has its SYN queue; says nothing. On a TAP created
 *   beforehand it attaches and still raises the txqueuelen.
 * - CAP_NET_ADMIN only (`setpriv --bounding-set -all,+net_admin`, as `podman run --cap-add
 *   NET_ADMIN` gives): creates and configures the TAP, but may not load the eBPF steering
 *   program: one line naming CAP_BPF, and no SYN queue.
 * - a user without capabilities (nobody) on a TAP an administrator created for it (`ip tuntap
 *   add ... user 65534`), with its address and link set: attaches, serves, and says in one line
 *   that it left the txqueuelen as it was. Another user, a second instance, a TAP that is not
 *   there, an MTU it may not change: each refused with one line.
 *
 * The user's /dev/net/tun: udev gives it mode 0666; on a machine without udev it is 0600, so
 * that run mounts a tmpfs with a 0666 node of its own over /dev/net, inside the mount namespace
 * `ip netns exec` makes (nothing outside it sees the mount).
 *
 * Namespaces tapstack-it-priv-{root,netadmin,user}-<pid>; subnets 198.18.250.0/24 (root),
 * 198.18.251.0/24 (CAP_NET_ADMIN), 198.18.252.0/24 (user).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { nsRun, ping, requireBuilt, run, runOk, subnet, Tapstack, useNamespace, type Subnet } from './helpers.js';

const NOBODY = { uid: 65534, gid: 65534 };
/** A uid with no account and no TAP: someone who is not the TAP's owner. */
const STRANGER = { uid: 65533, gid: 65533 };

/**
 * Whether BPF_PROG_LOAD of a socket filter needs CAP_BPF here (kernel.unprivileged_bpf_disabled
 * 1 or 2; Debian's default is 2). With 0 anyone may load it and there is no fallback to see.
 */
const BPF_NEEDS_CAP = readFileSync('/proc/sys/kernel/unprivileged_bpf_disabled', 'utf8').trim() !== '0';
const NO_SYN_QUEUE_LINE = 'tapstack: no SYN queue: loading the eBPF steering program needs CAP_BPF (or CAP_SYS_ADMIN): EPERM (errno 1)';
const skippedLine = (ifname: string, items: string) => `tapstack: skipped on ${ifname} (not permitted, needs CAP_NET_ADMIN): ${items}`;

/** Keep CAP_NET_ADMIN alone: as root, the bounding set is what an exec'd program gets. */
const NET_ADMIN_ONLY = ['setpriv', '--bounding-set', '-all,+net_admin', '--inh-caps', '-all'];

/** A 0666 /dev/net/tun in this mount namespace only, then run the rest (as `exec "$@"`). */
const USER_TUN = ['sh', '-c', 'mount -t tmpfs -o mode=755 tapstack-tun /dev/net && mknod -m 666 /dev/net/tun c 10 200 && exec "$@"', 'sh'];
const asUser = (u: { uid: number; gid: number }) => [...USER_TUN, 'setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups'];

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

/** Text through tapstack's echo service and back, with socat from the kernel's side. */
async function echoThrough(ns: string, net: Subnet, text: string): Promise<string> {
  const r = await run('ip', ['netns', 'exec', ns, 'socat', '-t', '5', '-T', '20', '-', `TCP:${net.tapstack}:7`], { input: text, timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The kernel answers pings and the echo service echoes: the stack works. */
async function expectServing(ns: string, net: Subnet): Promise<void> {
  const p = await ping(ns, net.tapstack, { count: 3, interval: 0.05 });
  expect(p.received, p.stdout).toBe(3);
  const text = `through tapstack in ${ns}\n`;
  expect(await echoThrough(ns, net, text)).toBe(text);
}

/** A capability mask from /proc/PID/status. */
function capabilities(pid: number, field: 'CapEff' | 'CapBnd'): bigint {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return BigInt(`0x${m[1]}`);
}
const CAP_NET_ADMIN = 1n << 12n;

async function linkField(ns: string, ifname: string, re: RegExp): Promise<string> {
  const r = await nsRun(ns, 'ip', ['-d', 'link', 'show', ifname]);
  expect(r.code, r.stderr).toBe(0);
  const m = re.exec(r.stdout);
  if (!m) throw new Error(`${re} not in ${r.stdout}`);
  return m[1]!;
}

/** Start tapstacks; `stopAll` (in the namespace's afterAll) stops those still running, also after a failure. */
function useRunning(): { start: (o: Parameters<typeof Tapstack.start>[0]) => Promise<Tapstack>; stopAll: () => Promise<void> } {
  const running: Tapstack[] = [];
  return {
    start: async (o) => {
      const t = await Tapstack.start(o);
      running.push(t);
      return t;
    },
    stopAll: async () => {
      await Promise.all(running.splice(0).map((t) => (t.running ? t.stop().catch(() => undefined) : undefined)));
    },
  };
}

/** Run tapstack where it must refuse to start: exit 1, nothing on stdout, one line on stderr. */
async function expectRefused(o: Parameters<typeof Tapstack.spawn>[0], line: string): Promise<void> {
  const t = Tapstack.spawn(o);
  try {
    const st = await t.exit(20_000);
    expect(st.code, t.stdout + t.stderr).toBe(1);
  } finally {
    if (t.running) await t.stop().catch(() => undefined);
  }
  expect(t.stdout).toBe('');
  expect(lines(t.stderr)).toEqual([line]);
}

beforeAll(() => requireBuilt());

describe('privilege: root', () => {
  const net = subnet(250);
  const r = useRunning();
  const ns = useNamespace('priv-root', { stop: () => r.stopAll() });

  it('creates the TAP, sets it up, has its SYN queue, and says nothing about skipping', async () => {
    const t = await r.start({ ns, net, extra: ['--serve', 'echo:7'] });
    expect(t.stdout).toMatch(/^tapstack up: tap0 .* syn-queue on /m);
    await expectServing(ns, net);
    expect(await linkField(ns, 'tap0', /qlen (\d+)/)).toBe('10000');
    const st = await t.stop();
    expect(st.code).toBe(0);
    expect(st.stderr).toBe('');
    expect(st.stderr).not.toContain('skipped');
    expect(st.stderr).not.toContain('no SYN queue');
  });

  it('attaches to a TAP created beforehand and still raises its txqueuelen', async () => {
    await runOk('ip', ['netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'tap1', 'mode', 'tap', 'vnet_hdr', 'multi_queue']);
    const t = await r.start({ ns, net, ifname: 'tap1', extra: ['--serve', 'echo:7'] });
    expect(t.stdout).toMatch(/^tapstack up: tap1 .* syn-queue on /m);
    await expectServing(ns, net);
    expect(await linkField(ns, 'tap1', /qlen (\d+)/)).toBe('10000');
    const st = await t.stop();
    expect(st.code).toBe(0);
    expect(st.stderr).toBe('');
    // Still there, and idle: the administrator's TAP outlives tapstack.
    expect(await linkField(ns, 'tap1', /numqueues (\d+)/)).toBe('0');
  });
});

describe('privilege: CAP_NET_ADMIN only', () => {
  const net = subnet(251);
  const r = useRunning();
  const ns = useNamespace('priv-netadmin', { stop: () => r.stopAll() });

  it('creates and configures the TAP and serves; the SYN queue falls back with one line naming CAP_BPF', async () => {
    const t = await r.start({ ns, net, wrap: NET_ADMIN_ONLY, extra: ['--serve', 'echo:7'] });
    // What setpriv left it: CAP_NET_ADMIN and nothing else.
    expect(capabilities(t.pid, 'CapEff')).toBe(CAP_NET_ADMIN);
    expect(capabilities(t.pid, 'CapBnd')).toBe(CAP_NET_ADMIN);
    expect(t.stdout).toMatch(new RegExp(`^tapstack up: tap0 .* syn-queue ${BPF_NEEDS_CAP ? 'off' : 'on'} `, 'm'));
    await expectServing(ns, net);
    expect(await linkField(ns, 'tap0', /qlen (\d+)/)).toBe('10000');
    const st = await t.stop();
    expect(st.code).toBe(0);
    expect(lines(st.stderr)).toEqual(BPF_NEEDS_CAP ? [NO_SYN_QUEUE_LINE] : []);
  });
});

describe('privilege: a user on a TAP created for it', () => {
  const net = subnet(252);
  const r = useRunning();
  const ns = useNamespace('priv-user', { stop: () => r.stopAll() });
  const user = { ns, net, wrap: asUser(NOBODY), extra: ['--serve', 'echo:7'] };
  const expectedStderr = (skipped: string | null) => [...(BPF_NEEDS_CAP ? [NO_SYN_QUEUE_LINE] : []), ...(skipped ? [skippedLine('tap0', skipped)] : [])];

  beforeAll(async () => {
    // The administrator's part, as root: the TAP, its address, the link up.
    const ip = (...a: string[]) => runOk('ip', ['netns', 'exec', ns, 'ip', ...a]);
    await ip('tuntap', 'add', 'dev', 'tap0', 'mode', 'tap', 'user', String(NOBODY.uid), 'vnet_hdr', 'multi_queue');
    await ip('addr', 'add', `${net.host}/24`, 'dev', 'tap0');
    await ip('link', 'set', 'tap0', 'up');
  });

  it('attaches, serves, and says once that it left the txqueuelen', async () => {
    const t = await r.start(user);
    expect(t.stdout).toMatch(new RegExp(`^tapstack up: tap0 .* syn-queue ${BPF_NEEDS_CAP ? 'off' : 'on'} `, 'm'));
    expect(capabilities(t.pid, 'CapEff')).toBe(0n);
    await expectServing(ns, net);
    expect(await linkField(ns, 'tap0', /qlen (\d+)/)).toBe('1000');

    // While it runs, the TAP is taken: a second instance of the same user is refused.
    await expectRefused({ ...user, net: { ...net, tapstack: `198.18.${net.x}.3` } }, 'tapstack: device tap0 is busy: another process holds it (1 queue attached) [EBUSY]');
    await expectServing(ns, net);

    const st = await t.stop();
    expect(st.code).toBe(0);
    expect(lines(st.stderr)).toEqual(expectedStderr('txqueuelen 10000 (stays 1000)'));
    expect(await linkField(ns, 'tap0', /numqueues (\d+)/)).toBe('0');
  });

  it('says nothing of what the administrator set already (txqueuelen 10000)', async () => {
    await runOk('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tap0', 'txqueuelen', '10000']);
    try {
      const t = await r.start(user);
      await expectServing(ns, net);
      const st = await t.stop();
      expect(st.code).toBe(0);
      expect(lines(st.stderr)).toEqual(expectedStderr(null));
    } finally {
      await runOk('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tap0', 'txqueuelen', '1000']);
    }
  });

  it('names what it left when the host side lacks the address and the link is down', async () => {
    await runOk('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tap0', 'down']);
    try {
      const t = await r.start({ ...user, net: { ...net, host: `198.18.${net.x}.9` } });
      const st = await t.stop();
      expect(st.code).toBe(0);
      expect(lines(st.stderr)).toEqual(
        expectedStderr(`txqueuelen 10000 (stays 1000), address 198.18.${net.x}.9/24 (stays ${net.host}/24), link up (stays down)`),
      );
    } finally {
      await runOk('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tap0', 'up']);
    }
  });

  it('refuses an MTU it may not set, saying how to agree', async () => {
    await expectRefused(
      { ...user, mtu: 9000 },
      'tapstack: tap0 has MTU 1500, not 9000, and changing it needs CAP_NET_ADMIN: use MTU 1500 (--mtu 1500) or set it beforehand (ip link set tap0 mtu 9000) [EPERM]',
    );
  });

  it("refuses a user who is not the TAP's owner", async () => {
    await expectRefused(
      { ...user, wrap: asUser(STRANGER) },
      'tapstack: no permission to attach to TAP tap0: it belongs to user 65534; run as its owner, or with CAP_NET_ADMIN [EPERM]',
    );
  });

  it('refuses to create a TAP, saying how to have one made', async () => {
    await expectRefused(
      { ...user, ifname: 'tap2' },
      'tapstack: no permission to create TAP tap2: run as root or with CAP_NET_ADMIN, or have it created for this user (ip tuntap add dev tap2 mode tap user USER) [EPERM]',
    );
    expect((await nsRun(ns, 'ip', ['link', 'show', 'tap2'])).code).not.toBe(0);
  });
});
