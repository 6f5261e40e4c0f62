/**
 * tapstack as the client of kernel servers, `tapstack connect HOST PORT`
 * (stdin and stdout through a tapstack TCP connection), 100 MiB each way:
 *
 * - upload: `tapstack connect 198.18.X.1 PORT < file` into `socat -u TCP-LISTEN:PORT OPEN:out`;
 * - download: a `socat -u OPEN:file TCP-LISTEN:PORT` server read by `tapstack connect ... > out`;
 * - 4 MiB each way captured whole, every TCP checksum verified.
 *
 * sha256 of what arrived equals that of the pattern (computed here). With offloads on and off,
 * at MTU 1500 and 9000; each run writes a capture that passes the tshark check. `tapstack
 * connect` creates its TAP and gives the kernel its address itself, so the wall time logged
 * includes starting Node and the stack (a few hundred ms).
 *
 * Namespaces tapstack-it-tcpclient-{on,off}{1500,9000}-<pid>; subnets 198.18.110-113.0/24.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, requireBuilt, scratchDir } from './helpers.js';
import {
  BIG,
  captureSummary,
  checkCapture,
  logThroughput,
  MiB,
  modeName,
  MODES,
  nsSpawn,
  parseStderrCounters,
  patternSha256,
  sha256File,
  show,
  tapQueueStats,
  useMode,
  waitListening,
  writePatternFile,
  type CaptureCheck,
  type Mode,
  type TapQueueStats,
} from './tcp-helpers.js';

const SMALL = 4 * MiB;
const TEST_TIMEOUT = 240_000;

const files = scratchDir('tcpclient');
const SRC_BIG = `${files.dir}/big.bin`;
const SRC_SMALL = `${files.dir}/small.bin`;
const sha = new Map<number, string>();

beforeAll(() => {
  requireBuilt();
  for (const n of [BIG, SMALL]) sha.set(n, patternSha256(n));
  writePatternFile(SRC_BIG, BIG);
  writePatternFile(SRC_SMALL, SMALL);
});
afterAll(() => files.remove());

function expectClean(c: CaptureCheck, truncated: boolean): void {
  const why = captureSummary(c);
  expect(c.problems, why).toEqual([]);
  expect(c.ipChecksumNotGood, why).toEqual([]);
  expect(c.ipChecksumGood, why).toBe(c.ipv4Frames);
  expect(c.tcpChecksumNotGood, why).toEqual([]);
  expect(c.tcpWhole, why).toBeGreaterThan(0);
  expect(c.tcpChecksumGood, why).toBe(c.tcpWhole);
  if (!truncated) expect(c.tcpChecksumGood, why).toBe(c.tcpFrames);
  // SACK-carrying segments over the MTU: tcp-mtu-sack.test.ts.
  expect(c.overMtu.filter((f) => !f.sack), why).toEqual([]);
}

describe.each(MODES)('tapstack connect to kernel socat servers, offload $offload, MTU $mtu', (mode: Mode) => {
  const { net, ns, scratch } = useMode('tcpclient', 110, mode);
  let port = 5000;

  /** `tapstack connect` options: its own TAP, the kernel's address, the mode, a capture. */
  function connectArgs(p: number, pcap: string, truncated: boolean): string[] {
    return [
      CLI, 'connect', net.host, String(p),
      '--ifname', 'tap0', '--address', `${net.tapstack}/24`, '--host-address', `${net.host}/24`,
      '--offload', mode.offload, '--mtu', String(mode.mtu), '--pcap', pcap,
      ...(truncated ? ['--snaplen', '128'] : []),
    ];
  }

  /**
   * Run `tapstack connect` against a kernel socat server; read the TAP's kernel counters while
   * it still exists (the TAP goes when tapstack exits), check the capture.
   */
  async function transfer(name: string, direction: 'upload' | 'download', bytes: number, truncated: boolean) {
    const src = bytes === BIG ? SRC_BIG : SRC_SMALL;
    const out = `${scratch.dir}/${name}.out`;
    const pcap = `${scratch.dir}/${name}.pcap`;
    const p = ++port;
    const server =
      direction === 'upload'
        ? nsSpawn(ns, 'socat', ['-u', `TCP-LISTEN:${p},reuseaddr`, `OPEN:${out},creat,trunc`], { timeoutMs: 180_000 })
        : nsSpawn(ns, 'socat', ['-u', `OPEN:${src}`, `TCP-LISTEN:${p},reuseaddr`], { timeoutMs: 180_000 });
    await waitListening(ns, p);
    const client = nsSpawn(
      ns,
      'node',
      connectArgs(p, pcap, truncated),
      direction === 'upload' ? { stdin: src, env: { TAPSTACK_COUNTERS: '1' }, timeoutMs: 180_000 } : { stdout: out, env: { TAPSTACK_COUNTERS: '1' }, timeoutMs: 180_000 },
    );
    // The kernel's TAP counters, sampled until tapstack exits (then the TAP is gone).
    let tap: TapQueueStats = { txDropped: 0, rxDropped: 0, txPackets: 0, rxPackets: 0 };
    const sampler = (async () => {
      while (client.running()) {
        tap = await tapQueueStats(ns).catch(() => tap);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const [c, s] = await Promise.all([client.done, server.done]);
    await sampler;
    expect(c.code, show(c)).toBe(0);
    expect(s.code, show(s)).toBe(0);
    expect(c.stderr).toContain('tapstack: connection closed');
    const got = await sha256File(out);
    expect(got.bytes).toBe(bytes);
    expect(got.sha256).toBe(sha.get(bytes));
    const counters = parseStderrCounters(c.stderr);
    expect(counters['tcp.connectionsOpened']).toBe(1);
    expect(counters['tcp.connectionsEstablished']).toBe(1);
    expect(counters[direction === 'upload' ? 'tcp.bytesOut' : 'tcp.bytesIn']).toBeGreaterThanOrEqual(bytes);
    const check = await checkCapture(pcap, { net, mode, tap, truncated, counters });
    if (Object.keys(check.accepted).length || tap.txDropped) {
      console.log(`[${modeName(mode)}] ${name}: kernel TAP queue dropped at least ${tap.txDropped} frames to tapstack; capture: ${captureSummary(check)}`);
    }
    expectClean(check, truncated);
    return c;
  }

  it(
    'uploads 100 MiB into socat -u TCP-LISTEN, sha256 matches',
    async () => {
      const c = await transfer('upload', 'upload', BIG, true);
      logThroughput(mode, 'tapstack connect upload (incl. start)', BIG, c.ms);
    },
    TEST_TIMEOUT,
  );

  it(
    'downloads 100 MiB from socat -u OPEN:file TCP-LISTEN, sha256 matches',
    async () => {
      const c = await transfer('download', 'download', BIG, true);
      logThroughput(mode, 'tapstack connect download (incl. start)', BIG, c.ms);
    },
    TEST_TIMEOUT,
  );

  it('4 MiB each way captured whole: tshark verifies every checksum', async () => {
    await transfer('small-upload', 'upload', SMALL, false);
    await transfer('small-download', 'download', SMALL, false);
  }, TEST_TIMEOUT);
});
