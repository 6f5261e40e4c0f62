/**
 * Hostile peers: nmap's SYN scan with service and OS detection,
 * `nmap -sS -sV -O 198.18.7.2` (its 1000 most common ports) and `nmap -sS -sV -O -p 1-1000`,
 * against `tapstack up --serve http:80,echo:7`. Both complete and find the two open ports;
 * tapstack survives, still serves (curl /, ping), and its counters explain the probes:
 *
 * - SYNs to the 998 closed ports: answered with RSTs (tcp.resetsOut);
 * - OS detection's T2 (no flags, to an open port): drop.tcp-listen-no-syn; T3 (SYN, FIN, PSH,
 *   URG, to an open port): drop.tcp-bad-flags; T4 (a bare ACK to an open port): not a valid SYN
 *   cookie (tcp.synCookiesFailed), answered with an RST; U1 (UDP to a closed port):
 *   drop.udp-no-port, answered with Port Unreachable (icmp.errorsOut).
 *
 * (No discard service: -sV waits out every probe on a port that never answers, three minutes.)
 *
 * Namespace tapstack-it-hostnmap-<pid>; subnet 198.18.7.0/24.
 */
import { beforeAll, expect, it } from 'vitest';
import { counter, nsRun, ping, requireBuilt, subnet, useTapstack } from './helpers.js';

const net = subnet(7);
const { ns, start } = useTapstack('hostnmap', { ignoreStopError: true });

beforeAll(() => requireBuilt());

it('nmap -sS -sV -O, top ports and -p 1-1000, completes; tapstack survives, serves, and counts the probes', async () => {
  const t = await start({ net, extra: ['--serve', 'http:80,echo:7'] });
  for (const ports of [[], ['-p', '1-1000']]) {
    const t0 = performance.now();
    const r = await nsRun(ns, 'nmap', ['-n', '-sS', '-sV', '-O', ...ports, net.tapstack], { timeoutMs: 130_000 });
    console.log(`nmap -sS -sV -O ${ports.join(' ')}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n${r.stdout.split('\n').filter((l) => /open|closed|done|OS|Running|Aggressive/.test(l)).join('\n')}`);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('Nmap done: 1 IP address (1 host up)');
    expect(r.stdout).toMatch(/^7\/tcp\s+open\s/m);
    expect(r.stdout).toMatch(/^80\/tcp\s+open\s+http/m);
    expect(r.stdout).toMatch(/998 closed tcp ports \(reset\)/);
    expect(t.running).toBe(true);
  }

  // Still serving and answering.
  const page = await nsRun(ns, 'curl', ['-sS', '--max-time', '10', `http://${net.tapstack}/`]);
  expect(page.code, page.stderr).toBe(0);
  expect(page.stdout).toContain('tapstack');
  const p = await ping(ns, net.tapstack, { count: 3, interval: 0.2 });
  expect(p.received).toBe(3);

  const stopped = await t.stop();
  expect(stopped.code).toBe(0);
  const c = stopped.counters;
  console.log(
    `tapstack: ${Object.entries(c)
      .filter(([k]) => /^(tcp\.(resetsOut|connectionsAccepted|synCookiesFailed|segmentsIn)|icmp\.|drop\.|serve\.)/.test(k))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  expect(counter(c, 'tcp.resetsOut')).toBeGreaterThanOrEqual(2 * 998);
  expect(counter(c, 'drop.tcp-listen-no-syn')).toBeGreaterThan(0);
  expect(counter(c, 'drop.tcp-bad-flags')).toBeGreaterThan(0);
  expect(counter(c, 'tcp.synCookiesFailed')).toBeGreaterThan(0);
  expect(counter(c, 'drop.udp-no-port')).toBeGreaterThan(0);
  expect(counter(c, 'icmp.errorsOut')).toBeGreaterThan(0);
  // -sV spoke HTTP to it.
  expect(counter(c, 'serve.http.requests')).toBeGreaterThan(0);
}, 300_000);
