/**
 * Hostile peers: ICMP replies are rate-limited. `ping -f -c 20000` (flood: the next
 * request as soon as the reply is in, or after 10 ms) against `tapstack up --serve http:80`:
 * tapstack answers up to its token bucket (1000 replies a second, a burst of 1000) and counts
 * the rest (icmp.echoRepliesRateLimited, drop.icmp-echo-rate-limit); meanwhile it stays
 * responsive (curl / during the flood), and afterwards every ping is answered again.
 *
 * Namespace tapstack-it-hostping-<pid>; subnet 198.18.10.0/24.
 */
import { beforeAll, expect, it } from 'vitest';
import { counter, nsRun, ping, requireBuilt, subnet, useTapstack } from './helpers.js';

const net = subnet(10);
const { ns, start } = useTapstack('hostping', { ignoreStopError: true });
const COUNT = 20_000;

beforeAll(() => requireBuilt());

it('ping -f -c 20000: replies are rate-limited and counted, tapstack stays responsive', async () => {
  const t = await start({ net, extra: ['--serve', 'http:80'] });
  const t0 = performance.now();
  // `ip netns exec` execs ping in place: run() kills it by its PID at the timeout.
  const flood = nsRun(ns, 'ping', ['-n', '-q', '-f', '-c', String(COUNT), net.tapstack], { timeoutMs: 200_000 });
  await new Promise((r) => setTimeout(r, 2000));
  // During the flood: a new TCP connection is served.
  const during = await nsRun(ns, 'curl', ['-sS', '--max-time', '10', '-w', ' %{time_total}', `http://${net.tapstack}/`]);
  const f = await flood;
  const secs = (performance.now() - t0) / 1000;
  expect(during.code, during.stderr).toBe(0);
  expect(during.stdout).toContain('tapstack');
  expect(f.code === 0 || f.code === 1, `${f.stdout}${f.stderr}`).toBe(true); // 1: some requests unanswered
  const m = /(\d+) packets transmitted, (\d+) received/.exec(f.stdout);
  expect(m, f.stdout).not.toBeNull();
  const [sent, received] = [Number(m![1]), Number(m![2])];
  console.log(`ping -f -c ${COUNT}: ${sent} sent, ${received} answered in ${secs.toFixed(1)} s; curl / during the flood took${during.stdout.split(' ').pop()} s`);
  expect(sent).toBe(COUNT);
  expect(received).toBeGreaterThan(0);

  // Afterwards every ping is answered (the bucket refilled) and the page is served.
  await new Promise((r) => setTimeout(r, 1100));
  const after = await ping(ns, net.tapstack, { count: 5, interval: 0.2 });
  expect(after.received).toBe(5);
  const page = await nsRun(ns, 'curl', ['-sS', '--max-time', '10', `http://${net.tapstack}/`]);
  expect(page.code, page.stderr).toBe(0);

  const stopped = await t.stop();
  expect(stopped.code).toBe(0);
  const c = stopped.counters;
  console.log(`tapstack: ${Object.entries(c).filter(([k]) => k.startsWith('icmp.') || k.startsWith('drop.')).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  expect(counter(c, 'icmp.echoRepliesRateLimited')).toBeGreaterThan(0);
  expect(counter(c, 'drop.icmp-echo-rate-limit')).toBe(counter(c, 'icmp.echoRepliesRateLimited'));
  expect(counter(c, 'icmp.echoRequestsIn')).toBe(COUNT + 5);
  expect(counter(c, 'icmp.echoRepliesOut') + counter(c, 'icmp.echoRepliesRateLimited')).toBe(COUNT + 5);
  // What ping saw matches what tapstack says it answered during the flood.
  expect(received).toBe(counter(c, 'icmp.echoRepliesOut') - 5);
}, 300_000);
