/**
 * Zero-copy receive against the real kernel: the kernel sends 1 GiB with socat to
 * tapstack's page-flipping discard server (`--serve discard:9`, offloads on, MTU 1500), and the
 * counters tapstack prints at exit say where every payload byte went: flipped (a NIC page handed
 * to the reader by ownership) or copied, under its reason.
 *
 * - split fixed:66 (timestamps on): at least 99% flipped, the rest explained by the copy counters
 *   (flipped + copied == tcp.bytesIn exactly), every page back in the pool.
 * - split none: everything copied under header-split-miss, nothing flipped.
 * - kernel timestamps off (net.ipv4.tcp_timestamps=0 in the namespace; headers are 54 bytes):
 *   fixed:66 misses and copies; adaptive learns 54 and flips again.
 * - --zero-copy none: discard reads with the stream API; everything copied under stream-api.
 *
 * Discard sends nothing back, so there is no content to compare: the byte counts are exact.
 * Times are logged, never asserted.
 *
 * Namespaces tapstack-it-zcrx-<case>-<pid>; subnets 198.18.200.0/24 .. 198.18.204.0/24.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  nsRun,
  nsSpawnHashed,
  requireBuilt,
  runOk,
  subnet,
  useTapstack,
  waitKernelConnectionsDone,
  type Counters,
  type HashedProcess,
  type HashedRun,
  type Stopped,
} from './helpers.js';

const GiB = 1024 * 1024 * 1024;
const PORT = 9;
const TRANSFER_TIMEOUT = 600_000;

interface RxCase {
  name: string;
  tag: string;
  x: number;
  split: string;
  zeroCopy: string;
  timestamps: boolean;
}

const CASES = {
  fixed66: { name: 'split fixed:66, zero copy on', tag: 'fixed66', x: 200, split: 'fixed:66', zeroCopy: 'send,receive', timestamps: true },
  none: { name: 'split none', tag: 'splitnone', x: 201, split: 'none', zeroCopy: 'send,receive', timestamps: true },
  noTsFixed: { name: 'kernel timestamps off, split fixed:66', tag: 'nots-fixed', x: 202, split: 'fixed:66', zeroCopy: 'send,receive', timestamps: false },
  noTsAdaptive: { name: 'kernel timestamps off, split adaptive', tag: 'nots-adapt', x: 203, split: 'adaptive', zeroCopy: 'send,receive', timestamps: false },
  zcNone: { name: '--zero-copy none', tag: 'zcnone', x: 204, split: 'fixed:66', zeroCopy: 'none', timestamps: true },
} satisfies Record<string, RxCase>;

interface RxRun {
  sender: HashedRun;
  stopped: Stopped;
  c: Counters;
  ms: number;
  /** Frames the kernel dropped on the TAP (its queue to tapstack full): lost, retransmitted. */
  tapDrops: number;
}

/** The kernel's TX drops on the TAP (read before tapstack exits: the TAP goes with it). */
async function tapTxDrops(ns: string): Promise<number> {
  const r = await nsRun(ns, 'ip', ['-s', '-j', 'link', 'show', 'dev', 'tap0']);
  if (r.code !== 0) throw new Error(`ip -s link show tap0 in ${ns}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { stats64: { tx: { dropped: number } } }[])[0]!.stats64.tx.dropped;
}

/**
 * Copies of one reason: all of `bytesIn` when nothing was lost on the way in; when the kernel
 * dropped frames on the TAP, the retransmitted data may arrive out of order and be counted under
 * out-of-order instead, so then the reason must hold at least 99% and the two together all.
 */
function expectAllCopiedAs(r: RxRun, reason: string): void {
  const c = r.c;
  const bytesIn = counter(c, 'tcp.bytesIn');
  if (r.tapDrops === 0) expect(counter(c, `zc.copied.${reason}`)).toBe(bytesIn);
  else {
    expect(counter(c, `zc.copied.${reason}`) / bytesIn).toBeGreaterThanOrEqual(0.99);
    expect(counter(c, `zc.copied.${reason}`) + counter(c, 'zc.copied.out-of-order')).toBe(bytesIn);
  }
}

/**
 * One case: its namespace, tapstack with the discard server, 1 GiB from the kernel with socat,
 * the kernel's connection finished (tapstack acknowledged everything), tapstack stopped.
 */
function rxCase(k: RxCase, bytes: number, body: (get: () => RxRun) => void): void {
  describe(`kernel -> tapstack discard, 1 GiB, offload on, MTU 1500, ${k.name}`, () => {
    const net = subnet(k.x);
    let sender: HashedProcess | null = null;
    const { ns, start } = useTapstack(`zcrx-${k.tag}`, {
      ignoreStopError: true,
      kill: () => sender,
    });
    let result: RxRun | null = null;

    beforeAll(async () => {
      requireBuilt();
      if (!k.timestamps) await runOk('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.tcp_timestamps=0']);
      const t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', `discard:${PORT}`, '--split', k.split, '--zero-copy', k.zeroCopy] });
      const t0 = performance.now();
      sender = nsSpawnHashed(ns, 'socat', ['-u', `OPEN:/dev/zero,readbytes=${bytes}`, `TCP:${net.tapstack}:${PORT}`], { timeoutMs: TRANSFER_TIMEOUT });
      const s = await sender.done;
      if (s.code !== 0) throw new Error(`socat exited ${s.code ?? s.signal}${s.timedOut ? ' (timeout)' : ''}: ${s.stderr}`);
      // socat is done when its socket buffer has the last bytes; wait until tapstack has them all.
      await waitKernelConnectionsDone(ns, net.tapstack, 120_000);
      const ms = performance.now() - t0;
      const tapDrops = await tapTxDrops(ns);
      const stopped = await t.stop(60_000);
      result = { sender: s, stopped, c: stopped.counters, ms, tapDrops };
      const c = stopped.counters;
      const bytesIn = counter(c, 'tcp.bytesIn');
      console.log(
        `[zcrx ${k.name}] ${(bytes / GiB).toFixed(2)} GiB in ${(ms / 1000).toFixed(2)} s (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s): ` +
          `flipped ${counter(c, 'zc.flipped')} (${((100 * counter(c, 'zc.flipped')) / bytesIn).toFixed(2)}%), ` +
          `copied ${counter(c, 'zc.copied')} ` +
          `(${Object.entries(c)
            .filter(([n]) => n.startsWith('zc.copied.'))
            .map(([n, v]) => `${n.slice('zc.copied.'.length)} ${v}`)
            .join(', ') || 'none'}), ` +
          `split hits ${counter(c, 'nic.splitHits')}, misses ${counter(c, 'nic.splitMisses')}, kernel TAP drops ${tapDrops}`,
      );
    }, TRANSFER_TIMEOUT + 180_000);

    const get = (): RxRun => {
      if (!result) throw new Error('the transfer did not run (see beforeAll)');
      return result;
    };

    it('received every byte, and tapstack exited cleanly', () => {
      const r = get();
      expect(r.stopped.code, r.stopped.stdout + r.stopped.stderr).toBe(0);
      expect(counter(r.c, 'tcp.bytesIn')).toBe(bytes);
      expect(counter(r.c, 'serve.discard.connections')).toBe(1);
    });

    it('explains every payload byte: flipped + copied == tcp.bytesIn exactly', () => {
      const c = get().c;
      expect(counter(c, 'zc.flipped') + counter(c, 'zc.copied')).toBe(counter(c, 'tcp.bytesIn'));
      // The copy total is the sum of its reasons.
      const reasons = Object.entries(c).filter(([n]) => n.startsWith('zc.copied.'));
      expect(reasons.reduce((a, [, v]) => a + v, 0)).toBe(counter(c, 'zc.copied'));
    });

    it('has every page back where it started (free == size - nic; none in sockets or lent)', () => {
      const c = get().c;
      expect(counter(c, 'pages.free')).toBe(counter(c, 'pages.size') - counter(c, 'pages.nic'));
      expect(counter(c, 'pages.stack')).toBe(0);
      expect(counter(c, 'pages.user')).toBe(0);
      expect(counter(c, 'zc.lent')).toBe(counter(c, 'zc.returned'));
    });

    body(get);
  });
}

rxCase(CASES.fixed66, GiB, (get) => {
  it('flips at least 99% of the payload bytes', () => {
    const c = get().c;
    expect(counter(c, 'zc.flipped') / counter(c, 'tcp.bytesIn')).toBeGreaterThanOrEqual(0.99);
    expect(counter(c, 'nic.splitHits')).toBeGreaterThan(0);
  });

  it('lends the flipped pages to the reader and takes them all back', () => {
    const c = get().c;
    // Each flipped page went to the discard reader (lent) and back to the pool (returned).
    expect(counter(c, 'zc.lent')).toBeGreaterThanOrEqual(counter(c, 'zc.flipped-pages'));
    expect(counter(c, 'zc.flipped-pages')).toBeGreaterThanOrEqual(Math.ceil(counter(c, 'zc.flipped') / 4096));
  });
});

rxCase(CASES.none, GiB, (get) => {
  it('copies 100% under header-split-miss and flips nothing', () => {
    const c = get().c;
    expect(counter(c, 'zc.flipped')).toBe(0);
    expectAllCopiedAs(get(), 'header-split-miss');
    expect(counter(c, 'nic.splitHits')).toBe(0);
  });
});

rxCase(CASES.noTsFixed, GiB, (get) => {
  it('misses the 66-byte split on 54-byte headers and copies (flipped 0, header-split-miss ~ all)', () => {
    const c = get().c;
    const bytesIn = counter(c, 'tcp.bytesIn');
    expect(counter(c, 'zc.flipped') / bytesIn).toBeLessThanOrEqual(0.01);
    expect(counter(c, 'zc.copied.header-split-miss') / bytesIn).toBeGreaterThanOrEqual(0.99);
    expect(counter(c, 'nic.splitMisses')).toBeGreaterThan(counter(c, 'nic.splitHits'));
  });
});

rxCase(CASES.noTsAdaptive, GiB, (get) => {
  it('learns the 54-byte headers and flips again (>= 95% of the GiB, learning included)', () => {
    const c = get().c;
    const bytesIn = counter(c, 'tcp.bytesIn');
    expect(counter(c, 'zc.flipped') / bytesIn).toBeGreaterThanOrEqual(0.95);
    // What was not flipped was copied while it learned: header-split misses.
    expect(counter(c, 'zc.copied.header-split-miss')).toBeGreaterThan(0);
    expect(counter(c, 'nic.splitHits')).toBeGreaterThan(counter(c, 'nic.splitMisses'));
  });
});

rxCase(CASES.zcNone, GiB, (get) => {
  it('copies everything under stream-api and flips nothing', () => {
    const c = get().c;
    expect(get().stopped.stdout).toMatch(/^tapstack up: .* zero-copy none /m);
    expect(counter(c, 'zc.flipped')).toBe(0);
    expectAllCopiedAs(get(), 'stream-api');
  });
});
