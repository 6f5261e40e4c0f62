/**
 * The two I/O paths, `--io uring` (batches of READV and WRITEV through io_uring) and `--io
 * syscalls` (one readv or writev per frame), each through tapstack's echo server: 8 MiB of
 * random bytes from the kernel (socat) come back intact (sha256), the first line names the path,
 * and the counters say whether frames went in batches both ways. And on a TAP created beforehand, the ring lets go of the TAP
 * when tapstack exits: the device is idle at once (a ring's own teardown is deferred in the
 * kernel, and its registered files with it), so tapstack can attach again straight away. Under a
 * seccomp filter that refuses io_uring_setup as Docker's default profile does (deny-uring.py),
 * `auto` falls back to the calls and says why in one line, and `uring` refuses to start.
 *
 * Namespace tapstack-it-uring-<pid>; subnet 198.18.253.0/24. Times are logged, never asserted.
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, nsRun, nsSpawnHashed, requireBuilt, runOk, Tapstack, scratchDir, subnet, useTapstack, writeRandomFile, type HashedProcess } from './helpers.js';

const MiB = 1024 * 1024;
/** Run tapstack under a seccomp filter that answers io_uring_setup with EPERM. */
const DENY_URING = ['/usr/bin/python3', fileURLToPath(new URL('./deny-uring.py', import.meta.url))];
const BYTES = 8 * MiB;
const PORT = 7;

describe('tapstack up --io uring and --io syscalls: echo of 8 MiB', () => {
  const net = subnet(253);
  let scratch: { dir: string; remove: () => void } | null = null;
  let client: HashedProcess | null = null;
  const { ns, start } = useTapstack('uring', {
    ignoreStopError: true,
    kill: () => client,
    after: () => scratch?.remove(),
  });
  let file = '';
  let sent = '';

  beforeAll(() => {
    requireBuilt();
    scratch = scratchDir('uring');
    file = `${scratch.dir}/in.bin`;
    sent = writeRandomFile(file, BYTES);
  });

  for (const [io, path] of [
    ['uring', 'uring'],
    ['syscalls', 'syscalls'],
  ] as const) {
    it(`--io ${io}: the first line says io ${path}, the echo is intact`, async () => {
      const t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', `echo:${PORT}`, '--io', io] });
      expect(t.upLine).toMatch(new RegExp(`^tapstack up: .* io ${path} `));
      const t0 = performance.now();
      client = nsSpawnHashed(ns, 'socat', ['-t', '60', '-', `TCP:${net.tapstack}:${PORT}`], { stdin: file, timeoutMs: 120_000 });
      const back = await client.done;
      const ms = performance.now() - t0;
      const stopped = await t.stop(30_000);
      const c = stopped.counters;
      console.log(`[uring] --io ${io}: ${BYTES / MiB} MiB there and back in ${(ms / 1000).toFixed(2)} s, ${counter(c, 'nic.txFrames')} frames out, ${counter(c, 'nic.txBatches')} batches of ${counter(c, 'nic.txBatchFrames')}; ${counter(c, 'nic.rxFrames')} frames in, ${counter(c, 'nic.rxBatches')} batches of ${counter(c, 'nic.rxBatchFrames')} (gaps closed ${counter(c, 'nic.rxBatchGaps')}), ${counter(c, 'nic.wakeups')} wake-ups`);
      expect(back.code, back.stderr).toBe(0);
      expect(back.bytes).toBe(BYTES);
      expect(back.sha256).toBe(sent);
      expect(stopped.code).toBe(0);
      expect(counter(c, 'nic.txQueueFull') + counter(c, 'nic.txLinkDown')).toBe(0);
      if (io === 'uring') {
        expect(counter(c, 'nic.txBatches')).toBeGreaterThan(0);
        expect(counter(c, 'nic.txBatchFrames')).toBeGreaterThanOrEqual(2 * counter(c, 'nic.txBatches'));
        expect(counter(c, 'nic.txBatchFrames')).toBeLessThanOrEqual(counter(c, 'nic.txFrames'));
        expect(counter(c, 'nic.rxBatches')).toBeGreaterThan(0);
        expect(counter(c, 'nic.rxBatchFrames')).toBeGreaterThan(0);
        expect(counter(c, 'nic.rxBatchFrames')).toBeLessThanOrEqual(counter(c, 'nic.rxFrames'));
      } else {
        expect(counter(c, 'nic.txBatches')).toBe(0);
        expect(counter(c, 'nic.rxBatches')).toBe(0);
      }
    }, 180_000);
  }

  it('--io uring on a TAP created beforehand: idle again as soon as tapstack has exited, five times over', async () => {
    await runOk('ip', ['netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'tapq', 'mode', 'tap', 'vnet_hdr', 'multi_queue']);
    try {
      for (let i = 0; i < 5; i++) {
        const t = await start({ net, ifname: 'tapq', offload: 'on', mtu: 1500, extra: ['--io', 'uring'] });
        expect(t.upLine).toMatch(/ io uring /);
        const stopped = await t.stop(30_000);
        expect(stopped.code).toBe(0);
        const link = await nsRun(ns, 'ip', ['-d', 'link', 'show', 'tapq']);
        expect(link.stdout).toMatch(/ numqueues 0 /);
      }
    } finally {
      // It keeps the subnet's host address: gone with it, the next TAP can have the subnet.
      await runOk('ip', ['netns', 'exec', ns, 'ip', 'tuntap', 'del', 'dev', 'tapq', 'mode', 'tap', 'multi_queue']);
    }
  }, 120_000);

  it('under a seccomp filter refusing io_uring: auto takes the calls and says why, the echo works; --io uring refuses to start', async () => {
    const t = await start({ net, offload: 'off', mtu: 1500, wrap: DENY_URING, extra: ['--serve', `echo:${PORT}`] });
    expect(t.upLine).toMatch(/ io syscalls /);
    client = nsSpawnHashed(ns, 'socat', ['-t', '60', '-', `TCP:${net.tapstack}:${PORT}`], { stdin: file, timeoutMs: 120_000 });
    const back = await client.done;
    const stopped = await t.stop(30_000);
    expect(back.sha256).toBe(sent);
    expect(stopped.code).toBe(0);
    expect(counter(stopped.counters, 'nic.rxBatches') + counter(stopped.counters, 'nic.txBatches')).toBe(0);
    expect(stopped.stderr.split('\n').filter((l) => l !== '')).toEqual(['tapstack: no io_uring, one readv or writev per frame: io_uring_setup failed (EPERM (errno 1)): kernel.io_uring_disabled or a seccomp filter (a container runtime\'s default profile) forbids it']);

    const refused = Tapstack.spawn({ ns, net, wrap: DENY_URING, extra: ['--io', 'uring'] });
    const st = await refused.exit(20_000);
    expect(st.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim()).toBe("tapstack: io_uring_setup failed (EPERM (errno 1)): kernel.io_uring_disabled or a seccomp filter (a container runtime's default profile) forbids it [EURING]");
  }, 180_000);
});
