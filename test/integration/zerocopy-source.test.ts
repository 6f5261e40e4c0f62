/**
 * tapstack's `--serve source:N`: the pattern (byte i is i mod 251) sent without
 * end from pool pages with `writePages`. A kernel socat reads a fixed amount and hangs up.
 *
 * - Zero copy on: 256 MiB arrive intact (sha256 of the pattern), sent by reference, no copy.
 * - Zero copy off: the same service should send the same bytes, copied. It does not (see the
 *   BUG note below); that run is guarded by a watchdog that kills tapstack (SIGKILL, by PID)
 *   when its memory passes 1.5 GiB or after 20 s, so the bug cannot take the machine down.
 *
 * Namespaces tapstack-it-zcsrc-*-<pid>; subnets 198.18.230.0/24 and 198.18.231.0/24.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  nsSpawnHashed,
  requireBuilt,
  subnet,
  Tapstack,
  useNamespace,
  useTapstack,
  type Counters,
  type HashedProcess,
  type HashedRun,
  type Stopped,
} from './helpers.js';

const MiB = 1024 * 1024;
const PORT = 19;

/** sha256 of the first `n` bytes of the pattern (byte i is i mod 251). */
function patternSha256(n: number): string {
  const period = 251;
  const block = Buffer.allocUnsafe(period * 4096);
  for (let i = 0; i < block.length; i++) block[i] = i % period;
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= block.length) h.update(left >= block.length ? block : block.subarray(0, left));
  return h.digest('hex');
}

/** Resident memory of a process in bytes (0 when it is gone). */
function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

describe('kernel reads 256 MiB from tapstack source (pattern pages), offload on, MTU 1500, zero copy on', () => {
  const BYTES = 256 * MiB;
  const net = subnet(230);
  let reader: HashedProcess | null = null;
  const { ns, start } = useTapstack('zcsrc-on', {
    ignoreStopError: true,
    kill: () => reader,
  });
  let got: HashedRun | null = null;
  let stopped: Stopped | null = null;
  let c: Counters = {};

  beforeAll(async () => {
    requireBuilt();
    const t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', `source:${PORT}`, '--zero-copy', 'send,receive'] });
    const t0 = performance.now();
    reader = nsSpawnHashed(ns, 'socat', ['-u', `TCP:${net.tapstack}:${PORT},readbytes=${BYTES}`, '-'], { timeoutMs: 300_000 });
    got = await reader.done;
    const ms = performance.now() - t0;
    // The reader hung up with the rest of the stream unread (a reset); give tapstack a moment.
    await new Promise((r) => setTimeout(r, 500));
    stopped = await t.stop(60_000);
    c = stopped.counters;
    console.log(
      `[zcsrc on] ${BYTES / MiB} MiB read in ${(ms / 1000).toFixed(2)} s: tcp.bytesOut ${counter(c, 'tcp.bytesOut')}, sent by reference ${counter(c, 'zc.sent-by-reference')}, ` +
        `sent copied ${counter(c, 'zc.sent-copied')}, completions ${counter(c, 'zc.completions')} (${counter(c, 'zc.completions-with-a-copy')} with a copy), ` +
        `lent ${counter(c, 'zc.lent')}, returned ${counter(c, 'zc.returned')}`,
    );
  }, 600_000);

  it('delivers the pattern intact (sha256 of 256 MiB)', () => {
    expect(got!.code, got!.stderr).toBe(0);
    expect(got!.bytes).toBe(BYTES);
    expect(got!.sha256).toBe(patternSha256(BYTES));
    expect(stopped!.code).toBe(0);
  });

  it('sends by reference only', () => {
    expect(counter(c, 'zc.sent-copied')).toBe(0);
    expect(counter(c, 'tcp.bytesOut')).toBeGreaterThanOrEqual(BYTES);
    // At least what the reader got; more: pages still queued when it hung up.
    expect(counter(c, 'zc.sent-by-reference')).toBeGreaterThanOrEqual(BYTES);
    expect(counter(c, 'zc.completions')).toBeGreaterThan(0);
    expect(counter(c, 'zc.completions-with-a-copy')).toBe(0);
  });

  it('has every page back once the connection is gone', () => {
    expect(counter(c, 'zc.lent')).toBe(counter(c, 'zc.returned'));
    expect(counter(c, 'pages.free')).toBe(counter(c, 'pages.size') - counter(c, 'pages.nic'));
    expect(counter(c, 'pages.stack')).toBe(0);
    expect(counter(c, 'pages.user')).toBe(0);
  });
});

describe('kernel reads 16 MiB from tapstack source, --zero-copy none (watchdog: 1.5 GiB, 20 s)', () => {
  const BYTES = 16 * MiB;
  const RSS_LIMIT = 1.5 * 1024 * MiB;
  const net = subnet(231);
  let t: Tapstack | null = null;
  let reader: HashedProcess | null = null;
  // Killed, not stopped: a tapstack the watchdog did not catch may still be filling its memory.
  const ns = useNamespace('zcsrc-off', {
    kill: () => reader,
    stop: async () => {
      if (t?.running) process.kill(t.pid, 'SIGKILL');
      await t?.exit(10_000).catch(() => undefined);
    },
  });
  let got: HashedRun | null = null;
  let stopped: Stopped | null = null;
  let stopError = '';
  let watchdog = '';
  let peakRss = 0;

  beforeAll(async () => {
    requireBuilt();
    t = await Tapstack.start({ ns, net, offload: 'on', mtu: 1500, extra: ['--serve', `source:${PORT}`, '--zero-copy', 'none'] });
    const pid = t.pid;
    const dog = setInterval(() => {
      const rss = rssBytes(pid);
      peakRss = Math.max(peakRss, rss);
      if (rss > RSS_LIMIT && !watchdog) {
        watchdog = `killed by the watchdog: resident memory ${(rss / MiB).toFixed(0)} MiB`;
        process.kill(pid, 'SIGKILL');
        reader?.kill('SIGKILL'); // nothing more can come
      }
    }, 50);
    try {
      reader = nsSpawnHashed(ns, 'socat', ['-u', `TCP:${net.tapstack}:${PORT},readbytes=${BYTES}`, '-'], { timeoutMs: 20_000 });
      got = await reader.done;
      if (t.running) {
        try {
          stopped = await t.stop(5_000);
        } catch (e) {
          stopError = (e as Error).message.split('\n')[0]!;
        }
      }
    } finally {
      clearInterval(dog);
    }
    console.log(
      `[zcsrc off] reader: exit ${got?.code ?? got?.signal}${got?.timedOut ? ' (timeout, killed)' : ''}, ${got?.bytes} bytes; tapstack: ` +
        `${watchdog || stopError || `exit ${stopped?.code}`}; peak resident memory ${(peakRss / MiB).toFixed(0)} MiB`,
    );
  }, 120_000);

  it('serves the pattern copied, and stops on SIGINT', () => {
    expect(got!.bytes).toBe(BYTES);
    expect(got!.sha256).toBe(patternSha256(BYTES));
    expect(watchdog).toBe('');
    expect(stopError).toBe('');
    expect(stopped?.code).toBe(0);
    expect(counter(stopped!.counters, 'zc.sent-copied.switch-off')).toBeGreaterThanOrEqual(BYTES);
  });
});
