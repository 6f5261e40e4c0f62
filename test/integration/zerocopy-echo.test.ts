/**
 * Zero copy both ways through tapstack's echo server: with zero copy on,
 * `--serve echo:7` reads with the page API (pages flipped from the NIC) and sends the very pages
 * it received back by reference. 100 MiB of random bytes from the kernel (socat) return intact
 * (sha256), and the counters show the pages flipped in and went back out by reference.
 *
 * Namespace tapstack-it-zcecho-<pid>; subnet 198.18.210.0/24. Times are logged, never asserted.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  counter,
  nsSpawnHashed,
  requireBuilt,
  scratchDir,
  subnet,
  useTapstack,
  writeRandomFile,
  type Counters,
  type HashedProcess,
  type HashedRun,
  type Stopped,
} from './helpers.js';

const MiB = 1024 * 1024;
const BYTES = 100 * MiB;
const PORT = 7;

describe('kernel -> tapstack echo (pages) -> kernel, 100 MiB, offload on, MTU 1500, zero copy on', () => {
  const net = subnet(210);
  // Made in beforeAll: a suite skipped by a filter runs no hooks and would leave it behind.
  let scratch: { dir: string; remove: () => void } | null = null;
  let client: HashedProcess | null = null;
  const { ns, start } = useTapstack('zcecho', {
    ignoreStopError: true,
    kill: () => client,
    after: () => scratch?.remove(),
  });
  let file = '';
  let sent = '';
  let back: HashedRun | null = null;
  let stopped: Stopped | null = null;
  let c: Counters = {};

  beforeAll(async () => {
    requireBuilt();
    scratch = scratchDir('zcecho');
    file = `${scratch.dir}/in.bin`;
    sent = writeRandomFile(file, BYTES);
    const t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', `echo:${PORT}`, '--zero-copy', 'send,receive', '--split', 'fixed:66'] });
    const t0 = performance.now();
    // -t: after its input ends, socat half-closes and waits (up to 300 s) for the echo to end.
    client = nsSpawnHashed(ns, 'socat', ['-t', '300', '-', `TCP:${net.tapstack}:${PORT}`], { stdin: file, timeoutMs: 600_000 });
    back = await client.done;
    const ms = performance.now() - t0;
    stopped = await t.stop(60_000);
    c = stopped.counters;
    console.log(
      `[zcecho] ${BYTES / MiB} MiB there and back in ${(ms / 1000).toFixed(2)} s: flipped ${counter(c, 'zc.flipped')}, copied ${counter(c, 'zc.copied')}, ` +
        `sent by reference ${counter(c, 'zc.sent-by-reference')}, sent copied ${counter(c, 'zc.sent-copied')} ` +
        `(${Object.entries(c)
          .filter(([n]) => n.startsWith('zc.sent-copied.'))
          .map(([n, v]) => `${n.slice('zc.sent-copied.'.length)} ${v}`)
          .join(', ') || 'none'}), completions ${counter(c, 'zc.completions')} (${counter(c, 'zc.completions-with-a-copy')} with a copy)`,
    );
  }, 900_000);

  it('returns the 100 MiB intact (sha256)', () => {
    expect(back!.code, back!.stderr).toBe(0);
    expect(back!.bytes).toBe(BYTES);
    expect(back!.sha256).toBe(sent);
    expect(stopped!.code).toBe(0);
    expect(counter(c, 'serve.echo.connections')).toBe(1);
    expect(counter(c, 'tcp.bytesIn')).toBe(BYTES);
    // tcp.bytesOut counts every transmission, retransmissions too.
    expect(counter(c, 'tcp.bytesOut')).toBeGreaterThanOrEqual(BYTES);
  });

  it('flipped the payload in (>= 99%), every byte explained', () => {
    expect(counter(c, 'zc.flipped') / BYTES).toBeGreaterThanOrEqual(0.99);
    expect(counter(c, 'zc.flipped') + counter(c, 'zc.copied')).toBe(counter(c, 'tcp.bytesIn'));
  });

  it('sent the pages back by reference (>= 99%), every byte explained', () => {
    expect(counter(c, 'zc.sent-by-reference') / BYTES).toBeGreaterThanOrEqual(0.99);
    expect(counter(c, 'zc.sent-by-reference') + counter(c, 'zc.sent-copied')).toBe(BYTES);
  });

  it('delivered completions and has every page back (lent == returned, free == size - nic)', () => {
    expect(counter(c, 'zc.completions')).toBeGreaterThan(0);
    expect(counter(c, 'zc.lent')).toBe(counter(c, 'zc.returned'));
    expect(counter(c, 'pages.free')).toBe(counter(c, 'pages.size') - counter(c, 'pages.nic'));
    expect(counter(c, 'pages.stack')).toBe(0);
    expect(counter(c, 'pages.user')).toBe(0);
  });
});
