/**
 * Zero-copy send against the real kernel: `tapstack connect` reads stdin into
 * pool pages (readv) and sends them with `writePages`, by reference, getting them back in
 * completions. A kernel `socat` sink hashes what arrives.
 *
 * - 1 GiB of random bytes: arrives intact (sha256), 100% sent by reference, none copied, the
 *   completions delivered (no page left with the stack).
 * - The same with `--zero-copy none` (stdin piped into the socket's stream API): arrives intact,
 *   nothing by reference, and every byte should be counted as copied.
 * - Repeated short runs (1 MiB): every page lent to the CLI is back when it prints its counters.
 *
 * Namespaces tapstack-it-zctx-*-<pid>; subnets 198.18.220.0/24 .. 198.18.222.0/24.
 * Counters come on stderr (TAPSTACK_COUNTERS=1) after "tapstack: connection closed".
 * Times are logged, never asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI,
  counter,
  netnsCreate,
  netnsDelete,
  netnsName,
  nsSpawnHashed,
  parseCounters,
  requireBuilt,
  scratchDir,
  subnet,
  useNamespace,
  waitTcpListening,
  writeRandomFile,
  type Counters,
  type HashedProcess,
  type HashedRun,
  type Subnet,
} from './helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PORT = 5001;

interface SendRun {
  sink: HashedRun;
  connect: HashedRun;
  c: Counters;
  ms: number;
}

/** Processes of this file still running (killed by PID in afterAll, e.g. after a timeout). */
const live = new Set<HashedProcess>();

async function killLive(): Promise<void> {
  for (const p of [...live]) {
    p.kill('SIGKILL');
    await p.done;
    live.delete(p);
  }
}

/**
 * A kernel sink (socat TCP-LISTEN, its output hashed) and `tapstack connect` sending `file`
 * with the given zero-copy switches, in namespace `ns` (created by the caller).
 */
async function sendFile(ns: string, net: Subnet, file: string, zeroCopy: string, timeoutMs = 600_000): Promise<SendRun> {
  const sink = nsSpawnHashed(ns, 'socat', ['-u', `TCP-LISTEN:${PORT},reuseaddr`, '-'], { timeoutMs });
  live.add(sink);
  try {
    await waitTcpListening(ns, PORT);
    const t0 = performance.now();
    const connect = nsSpawnHashed(
      ns,
      'node',
      [CLI, 'connect', net.host, String(PORT), '--ifname', 'tap0', '--address', `${net.tapstack}/24`, '--host-address', `${net.host}/24`, '--offload', 'on', '--mtu', '1500', '--zero-copy', zeroCopy],
      { stdin: file, env: { TAPSTACK_COUNTERS: '1' }, timeoutMs },
    );
    live.add(connect);
    const [s, k] = await Promise.all([sink.done, connect.done]);
    live.delete(connect);
    const ms = performance.now() - t0;
    if (k.code !== 0) throw new Error(`tapstack connect exited ${k.code ?? k.signal}${k.timedOut ? ' (timeout)' : ''}:\n${k.stderr}`);
    return { sink: s, connect: k, c: parseCounters(k.stderr, /^tapstack: connection closed$/), ms };
  } finally {
    sink.kill('SIGKILL');
    await sink.done;
    live.delete(sink);
  }
}

function logRun(what: string, bytes: number, r: SendRun): void {
  const c = r.c;
  console.log(
    `[zctx ${what}] ${(bytes / MiB).toFixed(0)} MiB in ${(r.ms / 1000).toFixed(2)} s (process start included): ` +
      `sent by reference ${counter(c, 'zc.sent-by-reference')}, sent copied ${counter(c, 'zc.sent-copied')}, ` +
      `completions ${counter(c, 'zc.completions')} (${counter(c, 'zc.completions-with-a-copy')} with a copy), ` +
      `lent ${counter(c, 'zc.lent')}, returned ${counter(c, 'zc.returned')}, pages.user ${counter(c, 'pages.user')}`,
  );
}

/**
 * A describe on one run: `bytes` random bytes in a scratch file, namespace `zctx-<tag>` on
 * 198.18.<x>.0/24, one {@link sendFile} with `zeroCopy` in beforeAll; `body` declares the tests
 * on it. The scratch file is made in beforeAll: a suite skipped by a filter runs no hooks and
 * would leave it behind.
 */
function sendCase(
  title: string,
  k: { tag: string; x: number; bytes: number; zeroCopy: string; label: string },
  body: (get: () => { r: SendRun; sent: string }, bytes: number) => void,
): void {
  describe(title, () => {
    const net = subnet(k.x);
    let scratch: { dir: string; remove: () => void } | null = null;
    const ns = useNamespace(`zctx-${k.tag}`, { stop: killLive, after: () => scratch?.remove() });
    let sent = '';
    let r: SendRun | null = null;

    beforeAll(async () => {
      requireBuilt();
      scratch = scratchDir(`zctx-${k.tag}`);
      const file = `${scratch.dir}/in.bin`;
      sent = writeRandomFile(file, k.bytes);
      r = await sendFile(ns, net, file, k.zeroCopy);
      logRun(k.label, k.bytes, r);
    }, 900_000);

    body(() => {
      if (!r) throw new Error('the transfer did not run (see beforeAll)');
      return { r, sent };
    }, k.bytes);
  });
}

sendCase(
  'tapstack connect -> kernel socat sink, 1 GiB of pages, offload on, MTU 1500, zero copy on',
  { tag: 'pages', x: 220, bytes: GiB, zeroCopy: 'send,receive', label: 'zero copy on' },
  (get) => {
    it('delivers the GiB intact (sha256 at the kernel sink)', () => {
      const { r, sent } = get();
      expect(r.sink.code, r.sink.stderr).toBe(0);
      expect(r.sink.bytes).toBe(GiB);
      expect(r.sink.sha256).toBe(sent);
      // tcp.bytesOut counts every transmission, retransmissions too.
      expect(counter(r.c, 'tcp.bytesOut')).toBeGreaterThanOrEqual(GiB);
    });

    it('sends 100% by reference, nothing copied', () => {
      const { r } = get();
      expect(counter(r.c, 'zc.sent-by-reference')).toBe(GiB);
      expect(counter(r.c, 'zc.sent-copied')).toBe(0);
    });

    it('delivers the completions, none with a copy, and no page stays with the stack', () => {
      const c = get().r.c;
      expect(counter(c, 'zc.completions')).toBeGreaterThan(0);
      expect(counter(c, 'zc.completions-with-a-copy')).toBe(0);
      // A page sent by reference is with the stack until its completion gives it back.
      expect(counter(c, 'pages.stack')).toBe(0);
      // Pages still lent are in the application's hands, and the books agree on how many.
      expect(counter(c, 'zc.lent') - counter(c, 'zc.returned')).toBe(counter(c, 'pages.user'));
      expect(counter(c, 'pages.free') + counter(c, 'pages.user')).toBe(counter(c, 'pages.size') - counter(c, 'pages.nic'));
    });
  },
);

sendCase(
  'tapstack connect -> kernel socat sink, 256 MiB, --zero-copy none (stream API)',
  { tag: 'none', x: 221, bytes: 256 * MiB, zeroCopy: 'none', label: 'zero copy none' },
  (get, BYTES) => {
    it('delivers the data intact (sha256 at the kernel sink), nothing by reference', () => {
      const { r, sent } = get();
      expect(r.sink.bytes).toBe(BYTES);
      expect(r.sink.sha256).toBe(sent);
      expect(counter(r.c, 'tcp.bytesOut')).toBeGreaterThanOrEqual(BYTES);
      expect(counter(r.c, 'zc.sent-by-reference')).toBe(0);
      expect(counter(r.c, 'zc.completions')).toBe(0);
    });

    it('counts every byte it sent as copied (sent copied == bytes written)', () => {
      expect(counter(get().r.c, 'zc.sent-copied')).toBe(BYTES);
    });
  },
);

describe('tapstack connect gives every page back before it prints its counters (8 runs of 1 MiB)', () => {
  const RUNS = 8;
  const BYTES = 1 * MiB;
  const net = subnet(222);
  // Made in beforeAll: a suite skipped by a filter runs no hooks and would leave it behind.
  let scratch: { dir: string; remove: () => void } | null = null;
  let file = '';
  let sent = '';
  const runs: SendRun[] = [];
  let current = '';

  beforeAll(async () => {
    requireBuilt();
    scratch = scratchDir('zctx-race');
    file = `${scratch.dir}/in.bin`;
    sent = writeRandomFile(file, BYTES);
    // A namespace per run: the TAP of a finished run lingers a few seconds after its fd closed.
    for (let i = 0; i < RUNS; i++) {
      current = netnsName(`zctx-race${i}`);
      await netnsCreate(current);
      try {
        runs.push(await sendFile(current, net, file, 'send,receive', 120_000));
      } finally {
        await netnsDelete(current);
      }
      logRun(`run ${i}`, BYTES, runs[i]!);
    }
  }, 900_000);

  afterAll(async () => {
    try {
      await killLive();
    } finally {
      if (current) await netnsDelete(current);
      scratch?.remove();
    }
  });

  it('delivers every run intact, by reference, with its completions', () => {
    expect(runs).toHaveLength(RUNS);
    for (const r of runs) {
      expect(r.sink.sha256).toBe(sent);
      expect(counter(r.c, 'zc.sent-by-reference')).toBe(BYTES);
      expect(counter(r.c, 'zc.completions')).toBeGreaterThan(0);
      expect(counter(r.c, 'pages.stack')).toBe(0);
    }
  });

  it('has lent == returned and pages.user 0 in every run', () => {
    for (const r of runs) {
      expect(counter(r.c, 'zc.lent'), `lent ${counter(r.c, 'zc.lent')}, returned ${counter(r.c, 'zc.returned')}`).toBe(counter(r.c, 'zc.returned'));
      expect(counter(r.c, 'pages.user')).toBe(0);
    }
  });
});
