/**
 * Shutdown with connections open returns every page: the echo service holds pages sent back by
 * reference and not yet acknowledged (its peer does not read), the discard service pages it
 * reads; stopping tapstack aborts both connections, their completions give the pages back to
 * the services, and the services to the pool before the counters are printed. Every page lent
 * to the application came back, and the pool holds nothing but free pages and the NIC's ring.
 *
 * Namespace tapstack-it-shutpages-<pid>; subnet 198.18.244.0/24.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, nsSpawnHashed, requireBuilt, subnet, useTapstack, type HashedProcess, type Stopped } from './helpers.js';

describe('shutdown with connections open (zero copy both ways)', () => {
  const net = subnet(244);
  const clients: HashedProcess[] = [];
  const { ns, start } = useTapstack('shutpages', {
    ignoreStopError: true,
    stop: async () => {
      for (const c of clients) c.kill('SIGKILL');
      await Promise.all(clients.map((c) => c.done));
    },
  });
  let stopped: Stopped | null = null;

  beforeAll(async () => {
    requireBuilt();
    const t = await start({ net, offload: 'on', extra: ['--serve', 'echo:7,discard:9', '--zero-copy', 'send,receive'] });
    // -u: socat only sends; the echo's pages pile up unacknowledged in the kernel's full window.
    for (const port of [7, 9]) clients.push(nsSpawnHashed(ns, 'socat', ['-u', '-', `TCP:${net.tapstack}:${port}`], { stdin: '/dev/zero', timeoutMs: 120_000 }));
    await new Promise((r) => setTimeout(r, 2000));
    stopped = await t.stop(60_000);
  }, 180_000);

  it('stopped cleanly while both connections were open', () => {
    const c = stopped!.counters;
    expect(stopped!.code).toBe(0);
    expect(counter(c, 'serve.echo.connections')).toBe(1);
    expect(counter(c, 'serve.discard.connections')).toBe(1);
    expect(counter(c, 'tcp.connectionsReset') + counter(c, 'tcp.resetsOut')).toBeGreaterThan(0); // aborted, not closed
  });

  it('every page lent to the application was returned', () => {
    const c = stopped!.counters;
    expect(counter(c, 'zc.lent')).toBeGreaterThan(1000);
    expect(counter(c, 'zc.returned')).toBe(counter(c, 'zc.lent'));
  });

  it('the pool holds only free pages and the NIC ring', () => {
    const c = stopped!.counters;
    expect(counter(c, 'pages.user')).toBe(0);
    expect(counter(c, 'pages.stack')).toBe(0);
    expect(counter(c, 'pages.free') + counter(c, 'pages.nic')).toBe(counter(c, 'pages.size'));
  });
});
