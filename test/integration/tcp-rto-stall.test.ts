/**
 * Regression test of a defect the TCP integration tests found, fixed in 0793d66:
 * after the application blocked Node's event loop for longer than the retransmission timeout,
 * tapstack retransmitted data whose ACK had arrived long before (spuriously; the kernel
 * answered with D-SACKs), although nothing was lost.
 *
 * Seen first with 200 parallel curl downloads (tcp-concurrent.test.ts): Node's http module
 * writes 200 responses of 1 MiB in one go, tapstack copies them into its send queues without
 * returning to the event loop (about 0.6 s), the kernel's ACKs wait in the TAP's queue
 * meanwhile, and when the loop comes back, libuv runs timers before it polls for I/O:
 * Stack.fire() ran the TCP timers (tcp.poll()) without reading what the NIC had queued first,
 * so the RTO fired for data acknowledged in the very next read. The fix reads the NIC first.
 *
 * Deterministic here: a small program on tapstack's API (Stack.open, stack.createServer, a
 * Node-style Socket) sends 4 MiB to a kernel `socat` and then blocks its event loop for 1.5 s
 * (more than any RTO tapstack can have with an RTT sample of a few microseconds: 200 ms
 * minimum, 1 s before the first sample). The TAP queue holds the ACKs (the kernel counts no
 * drop), so nothing is lost.
 *
 * Namespaces tapstack-it-tcprto-{on,off}-<pid>; subnets 198.18.170.0/24, 198.18.171.0/24.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuilt, ROOT, scratchDir, subnet, useNamespace } from './helpers.js';
import {
  captureSummary,
  checkCapture,
  killStarted,
  MiB,
  nsSpawn,
  patternSha256,
  sha256File,
  show,
  tapQueueStats,
  waitOutput,
  type CaptureCheck,
  type Mode,
  type ProcResult,
  type TapQueueStats,
} from './tcp-helpers.js';

const SIZE = 4 * MiB;
const BLOCK_MS = 1500;
// Not a port tshark dissects as some protocol (8080 would be parsed as HTTP, which this is not).
const PORT = 47123;

/** The program on tapstack's API; configuration in the environment. Prints `ready`, then the TCP stats as JSON. */
const PROGRAM = `
const { Stack } = await import(process.env.T_DIST);
const stack = Stack.open({
  ifname: 'tap0', address: process.env.T_ADDR, hostAddress: process.env.T_HOST,
  offload: process.env.T_OFFLOAD === 'on', mtu: 1500, pcap: process.env.T_PCAP,
});
const size = Number(process.env.T_SIZE);
const body = Buffer.allocUnsafe(size);
for (let i = 0; i < size; i++) body[i] = i % 251;
const server = stack.createServer((s) => {
  s.on('error', (e) => console.error('socket error: ' + e.message));
  s.on('data', () => {});
  s.on('close', () => {
    console.log(JSON.stringify(stack.stats().tcp));
    stack.close();
    process.exit(0);
  });
  s.end(body);
  // The application now blocks the event loop (after tapstack's flush, which is an immediate too).
  setImmediate(() => {
    const until = Date.now() + Number(process.env.T_BLOCK_MS);
    while (Date.now() < until);
  });
});
server.listen(Number(process.env.T_PORT));
console.log('ready');
`;

beforeAll(() => requireBuilt());

describe.each(['on', 'off'] as const)('a blocked event loop, offload %s', (offload) => {
  const mode: Mode = { offload, mtu: 1500 };
  const net = subnet(offload === 'on' ? 170 : 171);
  const scratch = scratchDir(`tcprto-${offload}`);
  const ns = useNamespace(`tcprto-${offload}`, { stop: killStarted, after: scratch.remove });
  const pcap = `${scratch.dir}/rto.pcap`;
  const out = `${scratch.dir}/recv.out`;
  let prog: ProcResult;
  let client: ProcResult;
  let tap: TapQueueStats;
  let stats: Record<string, number>;
  let check: CaptureCheck;

  beforeAll(async () => {
    const p = nsSpawn(ns, 'node', ['--input-type=module', '-e', PROGRAM], {
      env: {
        T_DIST: pathToFileURL(path.join(ROOT, 'dist/src/index.js')).href,
        T_ADDR: `${net.tapstack}/24`,
        T_HOST: `${net.host}/24`,
        T_OFFLOAD: offload,
        T_PCAP: pcap,
        T_SIZE: String(SIZE),
        T_BLOCK_MS: String(BLOCK_MS),
        T_PORT: String(PORT),
      },
      timeoutMs: 60_000,
    });
    await waitOutput(p, 'ready\n');
    const c = nsSpawn(ns, 'socat', ['-u', `TCP:${net.tapstack}:${PORT}`, `OPEN:${out},creat,trunc`], { timeoutMs: 60_000 });
    // The kernel's TAP counters while the TAP exists (until the program exits).
    tap = { txDropped: 0, rxDropped: 0, txPackets: 0, rxPackets: 0 };
    while (p.running()) {
      tap = await tapQueueStats(ns).catch(() => tap);
      await new Promise((r) => setTimeout(r, 100));
    }
    [prog, client] = await Promise.all([p.done, c.done]);
    stats = JSON.parse(prog.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
    check = await checkCapture(pcap, { net, mode, tap });
  }, 120_000);

  it('a program on the Stack API serves 4 MiB to the kernel, nothing lost on the way', async () => {
    expect(prog.code, show(prog)).toBe(0);
    expect(client.code, show(client)).toBe(0);
    expect((await sha256File(out)).sha256).toBe(patternSha256(SIZE));
    expect(stats.connectionsAccepted).toBe(1);
    expect(stats.bytesOut).toBeGreaterThanOrEqual(SIZE);
    // Precondition of the next test: no frame was lost either way.
    expect(tap.txDropped).toBe(0);
    expect(tap.rxDropped).toBe(0);
    console.log(`[offload ${offload}] after a ${BLOCK_MS} ms block: tcp.retransmits ${stats.retransmits}, tcp.timeouts ${stats.timeouts}; capture: ${captureSummary(check)}`);
  });

  // Failed before 0793d66: timers expired before the queued ACKs were read (see the header).
  it('retransmits nothing when nothing was lost (no spurious RTO after the block)', () => {
    expect(stats.retransmits).toBe(0);
    // The kernel's D-SACKs report the duplicates (tshark: "D-SACK Sequence").
    expect(check.problems, captureSummary(check)).toEqual([]);
  });
});
