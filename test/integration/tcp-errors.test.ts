/**
 * Connections that fail, against the real kernel.
 *
 * - `tapstack connect 198.18.X.1 <closed port>`: the kernel answers the SYN with RST; tapstack
 *   exits non-zero with ECONNREFUSED on stderr.
 * - The kernel connecting to a port tapstack does not listen on: tapstack answers RST, curl says
 *   "Connection refused" (exit 7).
 * - A peer that vanishes: `tapstack connect --tcp-retries 4` streams to a kernel socat server,
 *   then `ip addr flush dev tap0` in the namespace takes the kernel's address away (the kernel
 *   then drops what tapstack sends, silently); tapstack retransmits 4 times, gives up with
 *   ETIMEDOUT and exits non-zero, counting tcp.connectionsTimedOut 1.
 *
 * With offloads on and off, at MTU 1500 and 9000 (these runs are short). Every run writes a
 * capture that passes the tshark check; a vanished peer is deliberate loss, so tapstack's
 * retransmissions there are expected.
 *
 * Namespaces tapstack-it-tcperr-{on,off}{1500,9000}-<pid>; subnets 198.18.140-143.0/24.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, counter, nsRun, requireBuilt, tshark } from './helpers.js';
import {
  captureSummary,
  checkCapture,
  modeName,
  MODES,
  NO_TAP_DROPS,
  nsExec,
  nsSpawn,
  parseStderrCounters,
  RST_WARNING,
  show,
  tapQueueStats,
  useMode,
  waitListening,
  withTapstack,
  type CaptureCheck,
  type Mode,
  type TapQueueStats,
} from './tcp-helpers.js';

const TEST_TIMEOUT = 180_000;
const CLOSED_PORT = 5999;

beforeAll(() => requireBuilt());

function expectClean(c: CaptureCheck): void {
  const why = captureSummary(c);
  expect(c.problems, why).toEqual([]);
  expect(c.ipChecksumNotGood, why).toEqual([]);
  expect(c.tcpChecksumNotGood, why).toEqual([]);
  expect(c.tcpChecksumGood, why).toBe(c.tcpWhole);
  expect(c.overMtu.filter((f) => !f.sack), why).toEqual([]);
}

describe.each(MODES)('failing connections, offload $offload, MTU $mtu', (mode: Mode) => {
  const { net, ns, scratch } = useMode('tcperr', 140, mode);
  const upOpts = ['--ifname', 'tap0', '--address', `${net.tapstack}/24`, '--host-address', `${net.host}/24`, '--offload', mode.offload, '--mtu', String(mode.mtu)];

  it(
    'tapstack connect to a closed kernel port fails with ECONNREFUSED',
    async () => {
      const pcap = `${scratch.dir}/refused.pcap`;
      const r = await nsExec(ns, 'node', [CLI, 'connect', net.host, String(CLOSED_PORT), ...upOpts, '--pcap', pcap], { env: { TAPSTACK_COUNTERS: '1' }, timeoutMs: 60_000 });
      expect(r.code, show(r)).not.toBe(0);
      expect(r.code, show(r)).not.toBeNull();
      expect(r.stderr).toMatch(new RegExp(`^tapstack: connect ${net.host.replace(/\./g, '\\.')}:${CLOSED_PORT}: .*\\[ECONNREFUSED\\]$`, 'm'));
      const c = parseStderrCounters(r.stderr);
      expect(c['tcp.resetsIn']).toBe(1);
      expect(c['tcp.connectionsEstablished'] ?? 0).toBe(0);
      // On the wire: tapstack's SYN (asking for ECN: CWR, ECE, RFC 3168 6.1.1), the kernel's
      // RST|ACK, nothing more of TCP.
      const flags = await tshark(pcap, ['-Y', 'tcp', '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.flags.str']);
      expect(flags.map((l) => l.replace(/[·\s]+/g, ' ').trim())).toEqual([`${net.tapstack} CE S`, `${net.host} A R`]);
      // tshark flags every RST as a warning; here the RST is the point.
      expectClean(await checkCapture(pcap, { net, mode, tap: NO_TAP_DROPS, accept: [RST_WARNING], counters: c }));
    },
    TEST_TIMEOUT,
  );

  it(
    'the kernel connecting to a closed tapstack port gets "Connection refused" (curl exit 7)',
    async () => {
      const pcap = `${scratch.dir}/closed.pcap`;
      const run = await withTapstack({ ns, net, offload: mode.offload, mtu: mode.mtu, pcap, extra: ['--serve', 'http:80'] }, async () => {
        // -v: curl 7.88 says only "Couldn't connect to server" without it.
        const closed = await nsExec(ns, 'curl', ['-sS', '-v', '--max-time', '20', `http://${net.tapstack}:${CLOSED_PORT}/`]);
        // The service next to it still answers.
        const open = await nsExec(ns, 'curl', ['-sS', '--fail', '--max-time', '20', `http://${net.tapstack}/`]);
        return { closed, open };
      });
      const { closed, open } = run.value;
      expect(closed.code, show(closed)).toBe(7);
      expect(closed.stderr).toMatch(/Connection refused/);
      expect(closed.stderr).toMatch(/^curl: \(7\) /m);
      expect(open.code, show(open)).toBe(0);
      const c = run.stopped.counters;
      expect(counter(c, 'tcp.resetsOut')).toBeGreaterThanOrEqual(1);
      expect(counter(c, 'serve.http.requests')).toBe(1);
      const rsts = await tshark(pcap, ['-Y', `tcp.flags.reset == 1 && tcp.srcport == ${CLOSED_PORT}`, '-T', 'fields', '-e', 'ip.src']);
      expect(rsts.length).toBeGreaterThanOrEqual(1);
      expect(new Set(rsts)).toEqual(new Set([net.tapstack]));
      expectClean(await checkCapture(pcap, { net, mode, tap: run.tap, accept: [RST_WARNING], counters: c }));
    },
    TEST_TIMEOUT,
  );

  it(
    'a peer that vanishes mid-stream: ETIMEDOUT after --tcp-retries 4',
    async () => {
      const pcap = `${scratch.dir}/vanish.pcap`;
      const port = 5007;
      const server = nsSpawn(ns, 'socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, 'OPEN:/dev/null'], { timeoutMs: 120_000 });
      await waitListening(ns, port);
      // /dev/zero: an endless stream, so there is always data in flight when the peer goes.
      const client = nsSpawn(ns, 'node', [CLI, 'connect', net.host, String(port), ...upOpts, '--tcp-retries', '4', '--pcap', pcap, '--snaplen', '128'], {
        stdin: '/dev/zero',
        env: { TAPSTACK_COUNTERS: '1' },
        timeoutMs: 120_000,
      });
      // Wait until the connection is up and data flows (the kernel has it established).
      let tap: TapQueueStats = { txDropped: 0, rxDropped: 0, txPackets: 0, rxPackets: 0 };
      for (let i = 0; ; i++) {
        const ss = await nsRun(ns, 'ss', ['-Htn', 'state', 'established', `sport = :${port}`]);
        if (ss.stdout.trim() !== '') break;
        if (i > 200 || !client.running()) throw new Error(`no established connection to socat\n${show(await client.done)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 500));
      tap = await tapQueueStats(ns);
      const flush = await nsRun(ns, 'ip', ['addr', 'flush', 'dev', 'tap0']);
      expect(flush.code, flush.stderr).toBe(0);
      const flushedAt = performance.now();
      const r = await client.done;
      server.kill('SIGKILL');
      await server.done;
      console.log(`[${modeName(mode)}] vanished peer: tapstack gave up ${((performance.now() - flushedAt) / 1000).toFixed(1)} s after the flush`);
      expect(r.code, show(r)).not.toBe(0);
      expect(r.code, show(r)).not.toBeNull();
      expect(r.stderr).toMatch(new RegExp(`^tapstack: connect ${net.host.replace(/\./g, '\\.')}:${port}: .*\\[ETIMEDOUT\\]$`, 'm'));
      const c = parseStderrCounters(r.stderr);
      expect(c['tcp.connectionsTimedOut']).toBe(1);
      expect(c['tcp.connectionsEstablished']).toBe(1);
      // --tcp-retries 4: four retransmissions of the oldest segment, then it gives up (earlier
      // retransmissions, if the TAP queue dropped an ACK before the flush, come on top).
      expect(c['tcp.retransmits']).toBeGreaterThanOrEqual(4);
      expect(c['tcp.bytesOut']).toBeGreaterThan(0);
      // In the capture: the last retransmissions all carry the same, oldest unacknowledged sequence number.
      const retrans = await tshark(pcap, ['-Y', `tcp.analysis.retransmission && ip.src == ${net.tapstack}`, '-T', 'fields', '-e', 'tcp.seq_raw']);
      expect(retrans.length).toBeGreaterThanOrEqual(4);
      expect(new Set(retrans.slice(-4)).size).toBe(1);
      // The vanished peer is deliberate loss: the kernel's side saw nothing of the retransmissions.
      expectClean(await checkCapture(pcap, { net, mode, tap, truncated: true, lossExpected: true, counters: c }));
    },
    TEST_TIMEOUT,
  );
});
