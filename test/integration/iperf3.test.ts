/**
 * iperf3 between the kernel and tapstack, both roles, with `--io uring` and `--io syscalls`:
 *
 * - The stock `iperf3 -c` (3.12) against `tapstack up --serve iperf3:5201`: -t, -R, -P 4,
 *   --bidir, -n with -l; several tests on one server, ACCESS_DENIED while it is busy. The
 *   kernel's JSON (-J) must report what tapstack counted (its results reached the kernel) and
 *   carry tapstack's own report with the zero-copy counters (--get-server-output).
 * - `tapstack iperf3 -c` against the stock `iperf3 -s`: the same options; its JSON must hold the
 *   kernel server's numbers and tapstack's zero-copy counters, which account for every byte.
 *
 * Bytes and seconds are checked, never a rate. Namespaces tapstack-it-iperf3-*-<pid>;
 * subnets 198.18.180.0/24 - 198.18.183.0/24.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, counter, requireBuilt, runOk, subnet, useNamespace, useTapstack, type Tapstack } from './helpers.js';
import { killStarted, nsExec, nsSpawn, show, waitListening, type Proc } from './tcp-helpers.js';

const PORT = 5201;
const MiB = 1 << 20;
const IOS = ['uring', 'syscalls'] as const;

interface Sum {
  bytes: number;
  seconds: number;
  sender: boolean;
}

interface ZeroCopy {
  flippedBytes: number;
  copiedBytes: Record<string, number>;
  sendByReferenceBytes: number;
  sendCopiedBytes: Record<string, number>;
}

interface Report {
  error?: string;
  server_output_text?: string;
  end: {
    streams: { sender: Sum; receiver: Sum }[];
    sum_sent: Sum;
    sum_received: Sum;
    sum_sent_bidir_reverse?: Sum;
    sum_received_bidir_reverse?: Sum;
    tapstack?: ZeroCopy;
  };
}

/** iperf3's JSON from a finished run, or a failure that shows the run. */
function report(r: Awaited<ReturnType<typeof nsExec>>): Report {
  expect(r.code, show(r)).toBe(0);
  const j = JSON.parse(r.stdout) as Report;
  expect(j.error, show(r)).toBeUndefined();
  return j;
}

/** A time-limited test: both sides' seconds near the test's, and bytes that arrived no more than were sent. */
function expectTimed(s: Sum, r: Sum, seconds: number): void {
  expect(s.bytes).toBeGreaterThan(0);
  expect(r.bytes).toBeGreaterThan(0);
  expect(r.bytes).toBeLessThanOrEqual(s.bytes);
  for (const x of [s, r]) {
    expect(x.seconds).toBeGreaterThanOrEqual(seconds * 0.95);
    // Late by the time the control messages took on a busy machine, not more.
    expect(x.seconds).toBeLessThan(seconds + 5);
  }
}

const sum = (r: Record<string, number>, skip = '') =>
  Object.entries(r)
    .filter(([k]) => k !== skip)
    .reduce((a, [, v]) => a + v, 0);

const N = 8 * MiB;
/** -n 8M -l 1000: whole blocks of 1000 bytes, the last one past 8 MiB. */
const N_BLOCKS = Math.ceil(N / 1000) * 1000;

for (const [i, io] of IOS.entries()) {
  describe(`kernel iperf3 -c against tapstack up --serve iperf3:${PORT} --io ${io}`, () => {
    const net = subnet(180 + i);
    const { ns, start } = useTapstack(`iperf3-srv-${io}`, { ignoreStopError: true, stop: killStarted });
    let t: Tapstack;
    let tests = 0;
    const client = (args: string[]) => {
      tests++;
      return nsExec(ns, 'iperf3', ['-c', net.tapstack, '-p', String(PORT), '-J', '--get-server-output', ...args], { timeoutMs: 30_000 });
    };
    /** tapstack's report of the test, as the kernel got it with the results: its zero-copy line. */
    const zeroCopyLine = (j: Report) => {
      const line = /zero copy: .*/.exec(j.server_output_text ?? '')?.[0];
      expect(line, j.server_output_text).toBeDefined();
      return line!;
    };

    beforeAll(async () => {
      requireBuilt();
      t = await start({ net, offload: 'on', mtu: 1500, extra: ['--serve', `iperf3:${PORT}`, '--io', io] });
      expect(t.upLine).toMatch(new RegExp(` io ${io} `));
    });

    it('-t 1: tapstack receives by page flipping; the kernel reports its bytes and seconds', async () => {
      const j = report(await client(['-t', '1']));
      expect(j.end.streams).toHaveLength(1);
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      expect(zeroCopyLine(j)).toMatch(/flipped [1-9]\d* bytes/);
    });

    it('-t 1 -R: tapstack sends pages by reference', async () => {
      const j = report(await client(['-t', '1', '-R']));
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      const sent = Number(/sent by reference (\d+) bytes/.exec(zeroCopyLine(j))?.[1]);
      expect(sent).toBe(j.end.sum_sent.bytes);
    });

    it('-t 1 -P 4: four streams, the sums are theirs', async () => {
      const j = report(await client(['-t', '1', '-P', '4']));
      expect(j.end.streams).toHaveLength(4);
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      expect(j.end.streams.reduce((a, s) => a + s.receiver.bytes, 0)).toBe(j.end.sum_received.bytes);
    });

    it('-t 1 --bidir: data both ways', async () => {
      const j = report(await client(['-t', '1', '--bidir']));
      expect(j.end.streams).toHaveLength(2);
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      expectTimed(j.end.sum_sent_bidir_reverse!, j.end.sum_received_bidir_reverse!, 1);
    });

    it('-n 8M -l 1000: the kernel sends 8 MiB in blocks of 1000 bytes', async () => {
      const j = report(await client(['-n', '8M', '-l', '1000']));
      // iperf3 checks the limit between rounds of writes, so it may write a block or two more.
      expect(j.end.sum_sent.bytes).toBeGreaterThanOrEqual(N);
      expect(j.end.sum_sent.bytes).toBeLessThanOrEqual(N_BLOCKS + 10 * 1000);
      // What tapstack had read when TEST_END came (the rest was still on its way, as with iperf3).
      expect(j.end.sum_received.bytes).toBeGreaterThan(0);
      expect(j.end.sum_received.bytes).toBeLessThanOrEqual(j.end.sum_sent.bytes);
    });

    it('-n 8M -l 1000 -R: tapstack sends exactly the whole blocks, the kernel reads at least 8 MiB', async () => {
      const j = report(await client(['-n', '8M', '-l', '1000', '-R']));
      expect(j.end.sum_sent.bytes).toBe(N_BLOCKS);
      expect(j.end.sum_received.bytes).toBeGreaterThanOrEqual(N);
      expect(j.end.sum_received.bytes).toBeLessThanOrEqual(N_BLOCKS);
    });

    if (io === 'uring') {
      it('a second client while a test runs: ACCESS_DENIED; the first completes', async () => {
        tests++;
        const first = nsSpawn(ns, 'iperf3', ['-c', net.tapstack, '-p', String(PORT), '-t', '2', '-J'], { timeoutMs: 30_000 });
        await new Promise((r) => setTimeout(r, 700));
        const second = await nsExec(ns, 'iperf3', ['-c', net.tapstack, '-p', String(PORT), '-t', '1'], { timeoutMs: 30_000 });
        expect(second.code).not.toBe(0);
        expect(second.stdout + second.stderr).toMatch(/the server is busy running a test/);
        expectTimed(report(await first.done).end.sum_sent, report(await first.done).end.sum_received, 2);
      });
    }

    afterAll(async () => {
      if (!t?.running) return;
      const c = (await t.stop(30_000)).counters;
      expect(counter(c, 'serve.iperf3.completed')).toBe(tests);
      expect(counter(c, 'serve.iperf3.failed')).toBe(0);
      expect(counter(c, 'serve.iperf3.denied')).toBe(io === 'uring' ? 1 : 0);
      // Every page the tests lent came back.
      expect(counter(c, 'zc.lent')).toBe(counter(c, 'zc.returned'));
      expect(counter(c, 'pages.user')).toBe(0);
    });
  });
}

for (const [i, io] of IOS.entries()) {
  describe(`tapstack iperf3 -c against the kernel's iperf3 -s, --io ${io}`, () => {
    const net = subnet(182 + i);
    let server: Proc | null = null;
    const ns = useNamespace(`iperf3-cli-${io}`, { stop: killStarted });
    const client = (args: string[]) =>
      nsExec(ns, 'node', [CLI, 'iperf3', '--ifname', 'tapc', '--address', `${net.tapstack}/24`, '--host-address', `${net.host}/24`, '--io', io, '-c', net.host, ...args], { timeoutMs: 30_000 });

    beforeAll(async () => {
      requireBuilt();
      // A TAP made beforehand, so each run attaches to it at once.
      await runOk('ip', ['netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', 'tapc', 'mode', 'tap', 'vnet_hdr', 'multi_queue']);
      server = nsSpawn(ns, 'iperf3', ['-s', '-p', String(PORT)], { timeoutMs: 120_000 });
      await waitListening(ns, PORT);
    });

    afterAll(() => server?.kill('SIGTERM'));

    it('-t 1: iperf3 lines and iperf Done.', async () => {
      const r = await client(['-t', '1']);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/^\[ {2}5\] +0\.00-\d\.\d\d +sec .* sender$/m);
      expect(r.stdout).toMatch(/^\[ {2}5\] +0\.00-\d\.\d\d +sec .* receiver$/m);
      expect(r.stdout).toMatch(/^tapstack zero copy: flipped \d+ bytes/m);
      expect(r.stdout).toMatch(/\niperf Done\.\n$/);
    });

    it('-t 1 -J: the kernel counted what tapstack sent by reference', async () => {
      const j = report(await client(['-t', '1', '-J']));
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      expect(j.end.tapstack!.sendByReferenceBytes).toBe(j.end.sum_sent.bytes);
    });

    it('-t 1 -R -P 4 -J: four streams read by page flipping, every byte accounted for', async () => {
      const j = report(await client(['-t', '1', '-R', '-P', '4', '-J']));
      expect(j.end.streams).toHaveLength(4);
      expect(j.end.streams.every((s) => !s.sender.sender)).toBe(true);
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      const z = j.end.tapstack!;
      expect(z.flippedBytes).toBeGreaterThan(0);
      expect(z.flippedBytes + sum(z.copiedBytes, 'stream-api')).toBe(j.end.sum_received.bytes);
    });

    it('-t 1 --bidir -J: data both ways', async () => {
      const j = report(await client(['-t', '1', '--bidir', '-J']));
      expectTimed(j.end.sum_sent, j.end.sum_received, 1);
      expectTimed(j.end.sum_sent_bidir_reverse!, j.end.sum_received_bidir_reverse!, 1);
    });

    it('-n 8M -l 1000 -J: tapstack sends the whole blocks, acknowledged before TEST_END', async () => {
      const j = report(await client(['-n', '8M', '-l', '1000', '-J']));
      expect(j.end.sum_sent.bytes).toBe(N_BLOCKS);
      expect(j.end.sum_received.bytes).toBeGreaterThan(0);
      expect(j.end.sum_received.bytes).toBeLessThanOrEqual(N_BLOCKS);
      const z = j.end.tapstack!;
      expect(z.sendByReferenceBytes + sum(z.sendCopiedBytes, 'stream-api')).toBe(N_BLOCKS);
    });

    it('-n 8M -R -J: tapstack reads at least 8 MiB', async () => {
      const j = report(await client(['-n', '8M', '-R', '-J']));
      expect(j.end.sum_received.bytes).toBeGreaterThanOrEqual(N);
      expect(j.end.sum_sent.bytes).toBeGreaterThanOrEqual(j.end.sum_received.bytes);
    });
  });
}
