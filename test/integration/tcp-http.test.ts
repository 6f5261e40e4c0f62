/**
 * Node's own http module, running on tapstack sockets
 * (`tapstack up --serve http:80`), serves the kernel's HTTP clients:
 *
 * - `ab -k -n 1000 -c 10` (keep-alive) and `ab -n 1000 -c 10` (a connection per request):
 *   1000 complete, 0 failed, tapstack's counter serve.http.requests 1000;
 * - one `curl` with several URLs, which reuses its connection: every body right (sha256 for
 *   /bytes/N), one connection, serve.http.requests = number of URLs.
 *
 * With offloads on and off, at MTU 1500 and 9000; each run's capture (whole frames: this is
 * little traffic) passes the tshark check with HTTP dissected.
 *
 * Namespaces tapstack-it-tcphttp-{on,off}{1500,9000}-<pid>; subnets 198.18.120-123.0/24.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, requireBuilt, type Tapstack } from './helpers.js';
import {
  captureSummary,
  modeName,
  MODES,
  nsExec,
  patternSha256,
  serveChecked,
  sha256File,
  show,
  useMode,
  type CaptureCheck,
  type Mode,
} from './tcp-helpers.js';

const TEST_TIMEOUT = 180_000;
const ROOT_BODY = 'tapstack: a userspace TCP/IP stack on a TAP device\n';

beforeAll(() => requireBuilt());

function expectClean(c: CaptureCheck): void {
  const why = captureSummary(c);
  expect(c.problems, why).toEqual([]);
  expect(c.ipChecksumNotGood, why).toEqual([]);
  expect(c.tcpChecksumNotGood, why).toEqual([]);
  expect(c.tcpTruncated, why).toBe(0);
  expect(c.tcpChecksumGood, why).toBe(c.tcpFrames);
  expect(c.tcpFrames, why).toBeGreaterThan(0);
  expect(c.overMtu.filter((f) => !f.sack), why).toEqual([]);
}

/** ab's summary line `label: N`, as a number (null if absent). */
function abField(out: string, label: string): number | null {
  const m = new RegExp(`^${label}:\\s+(\\d+)`, 'm').exec(out);
  return m ? Number(m[1]) : null;
}

describe.each(MODES)('Node http on tapstack, offload $offload, MTU $mtu', (mode: Mode) => {
  const m = useMode('tcphttp', 120, mode);
  const { net, ns, scratch } = m;
  const url = (path: string) => `http://${net.tapstack}${path}`;

  /** Little traffic: captured whole. */
  const serve = <T>(name: string, body: (t: Tapstack) => Promise<T>) => serveChecked(m, name, { serve: 'http:80' }, body);

  it.each([
    { name: 'with keep-alive (ab -k)', keepAlive: true },
    { name: 'a connection per request (ab)', keepAlive: false },
  ])(
    'serves 1000 requests from ab $name, 0 failed',
    async ({ keepAlive }) => {
      const args = [...(keepAlive ? ['-k'] : []), '-n', '1000', '-c', '10', '-s', '30', url('/')];
      const run = await serve(keepAlive ? 'ab-k' : 'ab', () => nsExec(ns, 'ab', args));
      const r = run.value;
      expect(r.code, show(r)).toBe(0);
      expect(abField(r.stdout, 'Complete requests'), r.stdout).toBe(1000);
      expect(abField(r.stdout, 'Failed requests'), r.stdout).toBe(0);
      expect(r.stdout).not.toMatch(/Non-2xx responses/);
      expect(abField(r.stdout, 'Document Length'), r.stdout).toBe(Buffer.byteLength(ROOT_BODY));
      if (keepAlive) expect(abField(r.stdout, 'Keep-Alive requests'), r.stdout).toBe(1000);
      const rps = /^Requests per second:\s+([\d.]+)/m.exec(r.stdout)?.[1];
      console.log(`[${modeName(mode)}] ab ${keepAlive ? '-k ' : ''}-n 1000 -c 10: ${rps} requests/s`);
      const c = run.stopped.counters;
      expect(counter(c, 'serve.http.requests')).toBe(1000);
      const conns = counter(c, 'serve.http.connections');
      // ab keeps -c 10 connections busy and, near the end, opens a few it then closes without
      // a request (seen in captures: SYN, handshake, FIN, no data), at most c - 1 of them.
      if (keepAlive) {
        expect(conns).toBeGreaterThanOrEqual(10);
        expect(conns).toBeLessThanOrEqual(10 + 9);
      } else {
        expect(conns).toBeGreaterThanOrEqual(1000);
        expect(conns).toBeLessThanOrEqual(1000 + 9);
      }
      expect(counter(c, 'tcp.connectionsAccepted')).toBe(conns);
      expect(counter(c, 'tcp.connectionsReset')).toBe(0);
      expectClean(run.check);
    },
    TEST_TIMEOUT,
  );

  it(
    'serves several URLs to one curl over one reused connection',
    async () => {
      const sizes = [0, 1, 1000, 65536, 1048576, 4194304 + 7];
      const paths = ['/', ...sizes.map((n) => `/bytes/${n}`), '/no-such-page', '/'];
      const outs = paths.map((_, i) => `${scratch.dir}/curl-${i}.out`);
      const args = ['-sS', '-v', '-w', '%{http_code} %{num_connects}\\n'];
      paths.forEach((p, i) => args.push('-o', outs[i]!, url(p)));
      const run = await serve('curl-reuse', () => nsExec(ns, 'curl', args));
      const r = run.value;
      expect(r.code, show(r)).toBe(0);
      // One line per URL: status code and the connections curl opened for it (0: reused).
      const lines = r.stdout.trim().split('\n');
      expect(lines).toEqual(paths.map((p, i) => `${p === '/no-such-page' ? 404 : 200} ${i === 0 ? 1 : 0}`));
      expect(r.stderr.match(/Re-using existing connection/g) ?? [], r.stderr).toHaveLength(paths.length - 1);
      expect(readFileSync(outs[0]!, 'utf8')).toBe(ROOT_BODY);
      expect(readFileSync(outs[paths.length - 1]!, 'utf8')).toBe(ROOT_BODY);
      for (const [i, n] of sizes.entries()) {
        const got = await sha256File(outs[i + 1]!);
        expect(got.bytes, paths[i + 1]).toBe(n);
        expect(got.sha256, paths[i + 1]).toBe(patternSha256(n));
      }
      const c = run.stopped.counters;
      expect(counter(c, 'serve.http.requests')).toBe(paths.length);
      expect(counter(c, 'serve.http.connections')).toBe(1);
      expectClean(run.check);
    },
    TEST_TIMEOUT,
  );
});
