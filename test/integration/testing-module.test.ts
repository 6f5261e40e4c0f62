/**
 * tapstack/testing itself (src/testing/), as a user's test would use it, against the real kernel:
 * the TAP moved into the namespace still carries the stack's traffic, kernel peers, fault
 * injection, the capture kept on failure and deleted on pass (decided by vitest's and
 * node:test's own verdicts, in runners of their own), and cleanup that leaves nothing behind:
 * after close(), after SIGTERM (the safety net), and after SIGKILL (the peers' parent-death
 * signal, then the sweep of stale namespaces).
 *
 * Namespaces tapstack-t-<pid>-<n> of this process and of the child processes it starts;
 * addresses from 198.19.0.0/16, one given explicitly (198.18.246.0/24).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestNetwork, sweepStaleNamespaces, TestNetworkError, withTestNetwork, type TestNetwork } from '../../src/testing/index.js';
import { defaultLockDir } from '../../src/testing/addresses.js';
import { listNamespaces } from '../../src/testing/netns.js';
import { poll, ROOT, run, scratchDir, tshark } from './helpers.js';

const scratch = scratchDir('testing-module');
afterAll(() => scratch.remove());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Links of the test process's own namespace. */
async function ownLinks(): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter(Boolean);
}

/** What a network leaves when it is gone: its namespace, its peers, its subnet lock. */
async function expectGone(ns: string, pids: number[], lock: string | null): Promise<void> {
  expect(await listNamespaces()).not.toContain(ns);
  // The namespace's TAP went with it; none of ours was ever left in this namespace.
  expect((await ownLinks()).filter((l) => /^tst[0-9a-z]+-[0-9a-z]+$/.test(l) && l.startsWith(`tst${process.pid.toString(36)}-`))).toEqual([]);
  for (const pid of pids) expect(await poll(async () => (alive(pid) ? null : true), 5000), `pid ${pid} still runs`).toBe(true);
  if (lock) expect(existsSync(lock), lock).toBe(false);
}

function lockOf(net: TestNetwork): string {
  return path.join(defaultLockDir(), `${net.address.replace(/\.\d+$/, '.0')}.lock`);
}

describe('a test network', () => {
  it('carries traffic both ways through the TAP moved into its namespace, and leaves nothing after close()', async () => {
    const net = await createTestNetwork({ name: 'traffic', captureDir: scratch.dir, mtu: 9000 });
    const lock = lockOf(net);
    const pids: number[] = [];
    try {
      expect(net.ns).toMatch(new RegExp(`^tapstack-t-${process.pid}-\\d+$`));
      expect(net.address).toMatch(/^198\.19\.\d+\.2$/);
      expect(net.hostAddress).toBe(net.address.replace(/\.2$/, '.1'));
      expect(existsSync(lockOf(net))).toBe(true);
      // The kernel's side: the TAP, renamed, with its MTU, address and queue length.
      const link = JSON.parse((await net.exec('ip', ['-j', '-d', 'addr', 'show', 'dev', 'tap0'])).stdout) as { mtu: number; txqlen: number; operstate: string; addr_info: { local: string; prefixlen: number }[] }[];
      expect(link[0]!.mtu).toBe(9000);
      expect(link[0]!.txqlen).toBe(10000);
      // IPv4 only: IPv6 is off in test networks by default.
      expect(link[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`)).toEqual([`${net.hostAddress}/24`]);
      // The kernel pings tapstack (the stack runs in this process).
      const ping = await net.exec('ping', ['-c', '3', '-i', '0.2', '-W', '5', net.address]);
      expect(ping.stdout).toContain('3 received');
      // A tapstack server, a kernel client.
      net.stack.createServer((s) => {
        s.on('data', (d: Buffer) => s.write(d.toString().toUpperCase()));
        s.on('end', () => s.end());
      }).listen(7);
      const echo = await net.kernelConnect(7, { send: 'hello tapstack\n' });
      expect(echo.code, echo.stderr).toBe(0);
      expect(echo.stdout).toBe('HELLO TAPSTACK\n');
      // A kernel server, a tapstack client: 1 MiB and back.
      const server = await net.kernelServer({ mode: 'echo' });
      pids.push(server.process.pid);
      const back = await new Promise<number>((resolve, reject) => {
        let n = 0;
        const s = net.stack.connect({ host: net.hostAddress, port: server.port }, () => s.end(Buffer.alloc(1 << 20, 7)));
        s.on('data', (d: Buffer) => (n += d.length));
        s.on('error', reject);
        s.on('close', () => resolve(n));
      });
      expect(back).toBe(1 << 20);
      const [c] = await server.waitForConnections(1);
      expect(c).toMatchObject({ remote: expect.stringMatching(new RegExp(`^${net.address.replace(/\./g, '\\.')}:`)), bytesIn: 1 << 20, bytesOut: 1 << 20 });
      expect(c!.error).toBeUndefined();
    } catch (e) {
      await net.close({ failed: true });
      throw e;
    }
    const report = await net.close({ failed: false });
    expect(report.capture).toBeNull();
    await expectGone(net.ns, pids, lock);
    expect(existsSync(net.capturePath!), 'a passing test keeps no capture').toBe(false);
  });

  it('kills the peers still running at close() by PID', async () => {
    const net = await createTestNetwork({ capture: false });
    const sleeper = net.spawn('sleep', ['600']);
    const server = await net.kernelServer({ mode: 'sink' });
    expect(sleeper.running && server.process.running).toBe(true);
    await net.close();
    expect((await sleeper.done).signal).toBe('SIGKILL');
    await expectGone(net.ns, [sleeper.pid, server.process.pid], null);
    expect(() => net.spawn('true')).toThrow(TestNetworkError);
  });

  it('keeps the capture of a failed test, readable, and prints its path', async () => {
    const net = await createTestNetwork({ name: 'kept', captureDir: scratch.dir });
    await net.exec('ping', ['-c', '2', '-i', '0.2', '-W', '5', net.address]);
    const report = await net.close({ failed: true });
    expect(report.capture).toBe(net.capturePath);
    expect(report.capture).toMatch(/-kept\.pcap$/);
    const frames = await tshark(report.capture!, ['-Y', 'icmp.type == 0', '-T', 'fields', '-e', 'ip.src']);
    expect(frames).toEqual([net.address, net.address]);
  });

  it('withTestNetwork: rethrows the error, marks the test failed and keeps the capture', async () => {
    let seen: TestNetwork | null = null;
    await expect(
      withTestNetwork(
        async (net) => {
          seen = net;
          throw new Error('deliberate');
        },
        { name: 'with', captureDir: scratch.dir },
      ),
    ).rejects.toThrow('deliberate');
    expect(existsSync(seen!.capturePath!)).toBe(true);
    expect(seen!.closed).toBe(true);
    expect(await listNamespaces()).not.toContain(seen!.ns);
  });

  it('`await using` closes the network when the block ends', async () => {
    let ns = '';
    {
      await using net = await createTestNetwork({ capture: false });
      ns = net.ns;
      expect(await listNamespaces()).toContain(ns);
    }
    expect(await listNamespaces()).not.toContain(ns);
  });

  it('injects faults with the stack\'s impairment options, seeded', async () => {
    const lost: number[] = [];
    for (let round = 0; round < 2; round++) {
      await withTestNetwork(
        async (net) => {
          const r = await net.exec('ping', ['-c', '40', '-i', '0.01', '-W', '1', net.address]);
          const nic = net.stack.stats().nic;
          const received = Number(/40 packets transmitted, (\d+) received/.exec(r.stdout)?.[1]);
          // Every request the injector dropped on the way in went unanswered (it drops ARP too).
          expect(received, r.stdout).toBeLessThan(40);
          expect(40 - received, r.stdout).toBeLessThanOrEqual(nic.impairRxDropped);
          lost.push(nic.impairRxDropped);
        },
        { impair: 'rx:loss=25%', seed: 7, capture: false },
      );
    }
    // The same seed, the same losses.
    expect(lost[0]).toBe(lost[1]);
  });

  it('takes addresses of the user\'s own inside 198.18.0.0/15, and refuses any other (and a fault spec it cannot parse)', async () => {
    await withTestNetwork(
      async (net) => {
        expect([net.address, net.hostAddress, net.prefixLength]).toEqual(['198.18.246.20', '198.18.246.10', 24]);
        expect((await net.exec('ping', ['-c', '1', '-W', '5', net.address])).code).toBe(0);
      },
      { address: '198.18.246.20/24', hostAddress: '198.18.246.10/24', capture: false },
    );
    for (const [address, hostAddress] of [
      ['10.0.0.2/24', '10.0.0.1/24'],
      ['198.20.0.2/24', '198.20.0.1/24'],
      ['198.19.0.2/24', '198.19.1.1/24'],
      ['198.19.0.2/24', '198.19.0.2/24'],
    ] as const) {
      await expect(createTestNetwork({ address, hostAddress })).rejects.toMatchObject({ name: 'TestNetworkError', code: 'EADDRESS' });
    }
    await expect(createTestNetwork({ impair: 'rx:lose=1%' })).rejects.toMatchObject({ name: 'TestNetworkError', code: 'EOPTION' });
    // Refused before anything was made.
    expect((await listNamespaces()).filter((n) => n.startsWith(`tapstack-t-${process.pid}-`))).toEqual([]);
  });
});

/** A child node process with a test network open, printing {"ns", "peer", "capture"} when ready. */
function childWithNetwork(scriptTail: string): { ready: Promise<{ ns: string; peer: number; capture: string }>; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>; pid: number } {
  const script = `
    import { createTestNetwork } from 'tapstack/testing';
    const net = await createTestNetwork({ name: 'child', captureDir: ${JSON.stringify(scratch.dir)} });
    const peer = net.spawn('sleep', ['600']);
    await net.exec('ping', ['-c', '1', '-W', '5', net.address]);
    console.log(JSON.stringify({ ns: net.ns, peer: peer.pid, capture: net.capturePath }));
    ${scriptTail}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr: err })));
  const ready = new Promise<{ ns: string; peer: number; capture: string }>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { ns: string; peer: number; capture: string });
    });
    void exited.then((e) => reject(new Error(`child exited ${e.code ?? e.signal} before it was ready: ${e.stderr}`)));
  });
  return { ready, exited, pid: child.pid! };
}

describe('cleanup when the test process dies', () => {
  it('SIGTERM: the safety net deletes the namespace, kills the peers, keeps the capture and lets the signal end the process', async () => {
    const c = childWithNetwork('setInterval(() => {}, 1000);');
    const info = await c.ready;
    expect(await listNamespaces()).toContain(info.ns);
    process.kill(c.pid, 'SIGTERM');
    const e = await c.exited;
    expect(e.signal).toBe('SIGTERM');
    expect(e.stderr).toContain(`capture of ${info.ns} kept: ${info.capture}`);
    expect(existsSync(info.capture)).toBe(true);
    await expectGone(info.ns, [info.peer], null);
  });

  it('SIGKILL: the peers die with it, and the next sweep deletes the namespace it left', async () => {
    const c = childWithNetwork('setInterval(() => {}, 1000);');
    const info = await c.ready;
    process.kill(c.pid, 'SIGKILL');
    await c.exited;
    // The kernel killed the peer (parent-death signal); nothing could delete the namespace.
    expect(await poll(async () => (alive(info.peer) ? null : true), 5000)).toBe(true);
    expect(await listNamespaces()).toContain(info.ns);
    const deleted = await sweepStaleNamespaces();
    expect(deleted).toContain(info.ns);
    // Only namespaces of dead owners: none of this process's own.
    expect(deleted.filter((n) => n.startsWith(`tapstack-t-${process.pid}-`))).toEqual([]);
    await expectGone(info.ns, [info.peer], null);
  });
});

describe('the test frameworks\' verdicts decide the capture', () => {
  /** Run `node args` (a test runner) in the repository with the fixture's capture directory; its output, both streams. */
  const runner = (dir: string, args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, TAPSTACK_VERDICT_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d));
      p.stderr.on('data', (d: Buffer) => (out += d));
      p.on('close', (code) => resolve({ code, out }));
    });
  /** Test namespaces whose owner is gone: a runner that left one behind. */
  const staleNamespaces = async () => (await listNamespaces()).filter((n) => /^tapstack-t-\d+-\d+$/.test(n) && !alive(Number(n.split('-')[2])));
  /** The capture files' test names (`tapstack-t-<pid>-<n>-<name>.pcap` -> name). */
  const kept = (dir: string) =>
    readdirSync(dir)
      .map((f) => /^tapstack-t-\d+-\d+-(.*)\.pcap$/.exec(f)?.[1] ?? f)
      .sort();

  it('vitest: kept for a test that threw, failed softly or timed out, and for a describe block with a failed test; deleted for those that passed', async () => {
    const dir = path.join(scratch.dir, 'vitest');
    const r = await runner(dir, [path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'test/integration/fixtures/testing-verdicts.config.ts']);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/5 failed.*5 passed/);
    expect(kept(dir)).toEqual(['fails-by-throwing', 'fails-softly', 'fails-with-withTestNetwork', 'shared-fails', 'times-out']);
    for (const name of kept(dir)) expect(r.out).toMatch(new RegExp(`capture of tapstack-t-\\d+-\\d+ kept: .*-${name}\\.pcap`));
    expect(await staleNamespaces()).toEqual([]);
  }, 120_000);

  it('node:test: kept for a test that threw or timed out; deleted for one that passed', async () => {
    const dir = path.join(scratch.dir, 'node-test');
    const r = await runner(dir, ['--test', '--test-reporter=tap', 'test/integration/fixtures/testing-verdicts.node-test.mjs']);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/^ok \d+ - passes$/m);
    expect(r.out).toMatch(/^ok \d+ - passes with withTestNetwork$/m);
    expect(kept(dir)).toEqual(['fails-by-throwing', 'fails-with-withTestNetwork', 'times-out']);
    for (const name of kept(dir)) expect(r.out).toMatch(new RegExp(`capture of tapstack-t-\\d+-\\d+ kept: .*-${name}\\.pcap`));
    expect(await staleNamespaces()).toEqual([]);
  }, 120_000);
});

describe('the package', () => {
  it('exports tapstack and tapstack/testing, with types: the example type-checks against the built package', async () => {
    const tsc = await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'examples/kv-store/tsconfig.json')], { timeoutMs: 120_000 });
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
    const load = await run(process.execPath, ['--input-type=module', '-e', "const t = await import('tapstack/testing'); const m = await import('tapstack'); console.log(typeof t.createTestNetwork, typeof t.testNetwork, typeof m.Stack, 'createTestNetwork' in m)"], { timeoutMs: 30_000 }); // from the repository (vitest's cwd): the package refers to itself
    expect(load.stdout.trim(), load.stderr).toBe('function function function false');
  }, 120_000);
});
