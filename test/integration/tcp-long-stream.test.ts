/**
 * Streams longer than half the sequence space: after 2 GiB, SND.UNA no longer compares above
 * the ISS (RFC 9293 3.4: comparison is modulo 2^32), and after 4 GiB the sequence numbers have
 * wrapped. Through one connection each way, offloads on:
 *
 * - tapstack's `source` service sends 5 GiB of the pattern from pages; a kernel socat reads it
 *   all: the bytes are the pattern's, none repeated or lost (sha256).
 * - 2.5 GiB from the kernel through tapstack's `echo` and back; the kernel half-closes, tapstack
 *   echoes the rest and closes after it: its FIN comes right after the last byte, so socat sees
 *   the end of the stream and exits, with every byte back.
 *
 * Namespace tapstack-it-longstream-<pid>; subnet 198.18.196.0/24. Times are logged, not asserted.
 */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, nsSpawnHashed, requireBuilt, subnet, useTapstack, type HashedProcess } from './helpers.js';
import { patternSha256 } from './tcp-helpers.js';

const GiB = 2 ** 30;

/** sha256 of `n` zero bytes. */
function zerosSha256(n: number): string {
  const block = Buffer.alloc(1 << 20);
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= block.length) h.update(left >= block.length ? block : block.subarray(0, left));
  return h.digest('hex');
}

describe('one connection carries more than 4 GiB (sequence numbers wrap), offload on', () => {
  const net = subnet(196);
  let peer: HashedProcess | null = null;
  const { ns, start } = useTapstack('longstream', { ignoreStopError: true, kill: () => peer });

  beforeAll(() => requireBuilt());

  it('source: 5 GiB of the pattern from tapstack arrive intact', async () => {
    const bytes = 5 * GiB;
    const t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', 'source:19'] });
    const t0 = performance.now();
    peer = nsSpawnHashed(ns, 'socat', ['-u', '-b', '262144', `TCP:${net.tapstack}:19,readbytes=${bytes}`, '-'], { timeoutMs: 300_000 });
    const got = await peer.done;
    const s = (performance.now() - t0) / 1000;
    const stopped = await t.stop(60_000);
    console.log(`[long stream] source: ${bytes / GiB} GiB in ${s.toFixed(1)} s, tcp.retransmits ${counter(stopped.counters, 'tcp.retransmits')}`);
    expect(got.code, got.stderr).toBe(0);
    expect(got.bytes).toBe(bytes);
    expect(got.sha256).toBe(patternSha256(bytes));
  }, 600_000);

  it('echo: 2.5 GiB there and back, and the FIN after the last byte ends the stream', async () => {
    const bytes = 2.5 * GiB;
    const t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', 'echo:7'] });
    const t0 = performance.now();
    peer = nsSpawnHashed(ns, 'sh', ['-c', `head -c ${bytes} /dev/zero | socat -b 262144 -t 60 - TCP:${net.tapstack}:7`], { timeoutMs: 300_000 });
    const got = await peer.done;
    const s = (performance.now() - t0) / 1000;
    const stopped = await t.stop(60_000);
    console.log(`[long stream] echo: ${bytes / GiB} GiB each way in ${s.toFixed(1)} s, tcp.retransmits ${counter(stopped.counters, 'tcp.retransmits')}`);
    expect(got.code, got.stderr).toBe(0);
    expect(got.timedOut).toBe(false);
    expect(got.bytes).toBe(bytes);
    expect(got.sha256).toBe(zerosSha256(bytes));
    // socat exited on tapstack's FIN, well before its 60 s of waiting for one.
    expect(s).toBeLessThan(120);
  }, 600_000);
});
