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
 * Deterministic here: a small program on tapstack's API (stack.createServer, a Node-style
 * Socket), running in this test's own process on a tapstack/testing network, sends 4 MiB to a
 * kernel `socat` and then blocks the event loop for 1.5 s (more than any RTO tapstack can have
 * with an RTT sample of a few microseconds: 200 ms minimum, 1 s before the first sample). The TAP
 * queue holds the ACKs (the kernel counts no drop), so nothing is lost.
 *
 * Test networks (src/testing/) tapstack-t-<pid>-<n>, one per offload mode, with addresses from
 * 198.19.0.0/16; each capture is checked, and kept if a test of its mode failed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestNetwork, suiteFailed, type PeerResult, type TestNetwork } from '../../src/testing/index.js';
import { requireBuilt, scratchDir, subnetOf } from './helpers.js';
import { captureSummary, checkCapture, MiB, patternSha256, sha256File, tapQueueStats, type CaptureCheck, type Mode, type TapQueueStats } from './tcp-helpers.js';

const SIZE = 4 * MiB;
const BLOCK_MS = 1500;
// Not a port tshark dissects as some protocol (8080 would be parsed as HTTP, which this is not).
const PORT = 47123;

/** The program: serve `size` bytes of the pattern (i mod 251) to the first client, then block the event loop. Resolves when that connection closed. */
function serveThenBlock(net: TestNetwork, size: number): Promise<{ closedCleanly: boolean }> {
  const body = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) body[i] = i % 251;
  return new Promise((resolve) => {
    const server = net.stack.createServer((s) => {
      let error: Error | null = null;
      s.on('error', (e) => (error = e));
      s.on('data', () => {});
      s.on('close', () => {
        server.close();
        resolve({ closedCleanly: error === null });
      });
      s.end(body);
      // The application now blocks the event loop (after tapstack's flush, which is an immediate too).
      setImmediate(() => {
        const until = Date.now() + BLOCK_MS;
        while (Date.now() < until);
      });
    });
    server.listen(PORT);
  });
}

beforeAll(() => requireBuilt());

describe.each(['on', 'off'] as const)('a blocked event loop, offload %s', (offload) => {
  const mode: Mode = { offload, mtu: 1500 };
  const scratch = scratchDir(`tcprto-${offload}`);
  const out = `${scratch.dir}/recv.out`;
  let net: TestNetwork;
  let served: { closedCleanly: boolean };
  let client: PeerResult;
  let tap: TapQueueStats;
  let stats: Record<string, number>;
  let check: CaptureCheck;

  beforeAll(async () => {
    net = await createTestNetwork({ name: `tcprto-${offload}`, offload: offload === 'on', mtu: 1500 });
    const done = serveThenBlock(net, SIZE);
    const c = net.spawn('socat', ['-u', `TCP:${net.address}:${PORT}`, `OPEN:${out},creat,trunc`], { timeoutMs: 60_000 });
    [served, client] = await Promise.all([done, c.done]);
    // The kernel's TAP counters, then the stack's, then the capture complete on disk.
    tap = await tapQueueStats(net.ns);
    stats = net.stack.stats().tcp as unknown as Record<string, number>;
    net.stack.close();
    check = await checkCapture(net.capturePath!, { net: subnetOf(net), mode, tap });
  }, 120_000);

  afterAll(async ({}, suite) => {
    try {
      await net?.close({ failed: suiteFailed(suite) });
    } finally {
      scratch.remove();
    }
  });

  it('a program on the Stack API serves 4 MiB to the kernel, nothing lost on the way', async () => {
    expect(served.closedCleanly).toBe(true);
    expect(client.code, `${client.code ?? client.signal}${client.timedOut ? ' (timeout)' : ''}: ${client.stderr}`).toBe(0);
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
