/**
 * The control socket of a running `tapstack up`, against the real kernel: where it is and who
 * may use it (0600), `tapstack stats` (counters and rates), `tapstack ss` (a connection the
 * kernel holds open), and a capture started and stopped at run time.
 *
 * Namespace tapstack-it-control-<pid>; subnet 198.18.43.0/24.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, icmpMessages, nsRun, ping, poll, requireBuilt, scratchDir, subnet, useTapstack } from './helpers.js';

requireBuilt();

const net = subnet(43);
const scratch = scratchDir('control');
const scope = useTapstack('control', { after: scratch.remove });

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return nsRun(scope.ns, 'node', [CLI, ...args], { timeoutMs: 30_000 });
}

describe('the control socket', () => {
  it('is a 0600 socket at the path named by the namespace and the interface', async () => {
    await scope.start({ net, extra: ['--serve', 'discard:9', '--metrics', '9464'] });
    // The namespace's inode, as tapstack read it from /proc/self/ns/net inside the namespace.
    const inode = /\[(\d+)\]/.exec((await nsRun(scope.ns, 'readlink', ['/proc/self/ns/net'])).stdout)![1];
    const sock = `/run/tapstack/net${inode}-tap0.sock`;
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(statSync('/run/tapstack').mode & 0o777).toBe(0o700);
  });

  it('serves stats: the counters, and rates per second over the interval', async () => {
    const reading = cli(['stats', '--json', '--interval', '2']);
    await ping(scope.ns, net.tapstack, { count: 20, interval: 0.05 });
    const r = await reading;
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { timeMs: number; counters: Record<string, number> };
    expect(j.counters['icmp.echoRepliesOut']).toBeGreaterThanOrEqual(20);
    expect(j.counters['nic.rxFrames']).toBeGreaterThan(20);
    const human = await cli(['stats', '--interval', '0.5']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^icmp\.echoRepliesOut \d+ {2}0\/s$/m);
    expect(human.stdout).toMatch(/^zero copy: received .* flipped, sent .* by reference$/m);
    const bad = await cli(['stats', '--json', '--ifname', 'tap9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no tapstack serves .*tap9\.sock/);
  });

  it('serves ss: a connection the kernel holds open, with its TCP state', async () => {
    // nc from the kernel holds a connection to discard:9 while ss reads.
    const nc = spawn('ip', ['netns', 'exec', scope.ns, 'nc', net.tapstack, '9'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      nc.stdin.write('x'.repeat(5000));
      const conns = await poll(async () => {
        const r = await cli(['ss', '--json']);
        const list = JSON.parse(r.stdout) as { state: string; local: string; peer: string; bytesReceived: number; mss: number; rtoMs: number }[];
        const c = list.find((x) => x.local === `${net.tapstack}:9` && x.state === 'ESTABLISHED' && x.bytesReceived === 5000);
        return c ?? null;
      }, 10_000);
      expect(conns).not.toBeNull();
      expect(conns!.peer.startsWith(`${net.host}:`)).toBe(true);
      expect(conns!.mss).toBe(1448);
      expect(conns!.rtoMs).toBeGreaterThanOrEqual(200);
      const text = await cli(['ss']);
      expect(text.stdout).toMatch(new RegExp(`^ESTABLISHED +${net.tapstack.replace(/\./g, '\\.')}:9 +${net.host.replace(/\./g, '\\.')}:\\d+$`, 'm'));
      expect(text.stdout).toMatch(/ bytes_received:5000 /);
    } finally {
      nc.kill('SIGTERM');
    }
  });

  it('starts and stops a capture while running', async () => {
    const file = path.join(scratch.dir, 'live.pcapng');
    const start = await cli(['capture', 'start', file]);
    expect(start.code, start.stderr).toBe(0);
    await ping(scope.ns, net.tapstack, { count: 5, interval: 0.05 });
    const stop = await cli(['capture', 'stop']);
    expect(stop.stdout).toMatch(/capture stopped/);
    await ping(scope.ns, net.tapstack, { count: 5, interval: 0.05 });
    const replies = (await icmpMessages(file)).filter((m) => m.type === 0);
    expect(replies).toHaveLength(5);
    expect(readFileSync(file).readUInt32LE(0)).toBe(0x0a0d0d0a); // pcapng by its name
    expect((await cli(['capture', 'stop'])).stdout).toMatch(/no capture was running/);
  });

  it('serves the counters in the Prometheus text format on loopback (--metrics)', async () => {
    await ping(scope.ns, net.tapstack, { count: 3, interval: 0.05 });
    const r = await nsRun(scope.ns, 'curl', ['-sS', '-D', '-', 'http://127.0.0.1:9464/metrics']);
    expect(r.code, r.stderr).toBe(0);
    const [head, body] = r.stdout.split('\r\n\r\n') as [string, string];
    expect(head).toMatch(/content-type: text\/plain; version=0\.0\.4/i);
    const samples = new Map<string, number>();
    const types = new Map<string, string>();
    for (const line of body.split('\n').filter((l) => l !== '')) {
      const t = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
      if (t) types.set(t[1]!, t[2]!);
      else if (!line.startsWith('# HELP ')) {
        const m = /^([a-z][a-z0-9_]*)(\{[a-z_]+="[^"]*"\})? (\d+(?:\.\d+)?(?:e\+\d+)?)$/.exec(line);
        expect(m, line).not.toBeNull();
        samples.set(m![1]! + (m![2] ?? ''), Number(m![3]));
      }
    }
    expect(samples.get('tapstack_icmp_echo_replies_out_total')).toBeGreaterThanOrEqual(23);
    expect(types.get('tapstack_icmp_echo_replies_out_total')).toBe('counter');
    expect(types.get('tapstack_tcp_connections')).toBe('gauge');
    expect(types.get('tapstack_drops_total')).toBe('counter');
    expect(samples.get('tapstack_serve_connections_total{service="discard"}')).toBeGreaterThanOrEqual(1);
    // Only on loopback unless told: the TAP's address does not answer.
    const outside = await nsRun(scope.ns, 'curl', ['-sS', '-m', '2', `http://${net.host}:9464/metrics`]);
    expect(outside.code).not.toBe(0);
  });
});
