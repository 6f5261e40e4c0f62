/**
 * net semantics side by side: the same scenarios (net-semantics-peer.mjs) run against node:net
 * on the kernel's sockets and against tapstack's, in one namespace, and must record the same
 * events in the same order, with the same error codes, fields and states: connect, half-close, refused,
 * ENETUNREACH, EHOSTUNREACH, destroy(err), resetAndDestroy(), write after end, server.close
 * with an idle accepted socket, maxConnections. Events are compared per socket (the order
 * between two sockets' events depends on scheduling, not on semantics). Then the script lets go
 * of everything with unref() and must exit by itself.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuilt, subnet, useNamespace } from './helpers.js';

const NET = subnet(44);
const SCRIPT = fileURLToPath(new URL('./net-semantics-peer.mjs', import.meta.url));

type Log = unknown[][];
type Results = Record<string, Log>;

/** A scenario's events, per socket tag (subject, peer, accepted, server, second). */
function perTag(log: Log): Record<string, unknown[][]> {
  const out: Record<string, unknown[][]> = {};
  for (const e of log) (out[e[0] as string] ??= []).push(e.slice(1));
  return out;
}

describe('net semantics: node:net on the kernel and tapstack, side by side', () => {
  let child: ReturnType<typeof spawn> | null = null;
  const NS = useNamespace('netsem', {
    kill: () => (child && child.exitCode === null ? { kill: (s) => child!.kill(s), done: new Promise((r) => child!.once('exit', r)) } : null),
  });
  const out = { stdout: '', stderr: '', code: null as number | null, exitedAfterUnrefMs: Infinity };
  const results: Record<string, Results> = {};

  beforeAll(async () => {
    requireBuilt();
    child = spawn('ip', ['netns', 'exec', NS, 'node', SCRIPT, 'tap0', `${NET.tapstack}/24`, `${NET.host}/24`], { cwd: path.dirname(SCRIPT) });
    let unrefAt = 0;
    child.stdout!.on('data', (d: Buffer) => {
      out.stdout += d.toString();
      if (!unrefAt && out.stdout.includes('UNREF')) unrefAt = performance.now();
    });
    child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
    const p = child;
    const timer = setTimeout(() => p.kill('SIGKILL'), 150_000);
    out.code = await new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    clearTimeout(timer);
    if (unrefAt) out.exitedAfterUnrefMs = performance.now() - unrefAt;
    for (const line of out.stdout.split('\n')) {
      const m = /^RESULT (\w+) (.*)$/.exec(line);
      if (m) results[m[1]!] = JSON.parse(m[2]!) as Results;
    }
  }, 180_000);

  it('ran both', () => {
    expect(out.stderr).toBe('');
    expect(Object.keys(results).sort()).toEqual(['kernel', 'tapstack']);
  });

  for (const scenario of ['connect', 'halfClose', 'refused', 'enetunreach', 'ehostunreach', 'destroyWithError', 'resetAndDestroy', 'writeAfterEnd', 'serverCloseIdle', 'maxConnections']) {
    it(`${scenario}: the same events, order, errors and states`, () => {
      const k = results.kernel?.[scenario];
      const t = results.tapstack?.[scenario];
      expect(k, 'kernel ran it').toBeDefined();
      expect(k!.length).toBeGreaterThan(0);
      expect(k).not.toContainEqual(['timeout']);
      expect(perTag(t!)).toEqual(perTag(k!));
    });
  }

  it('what the kernel showed is what the brief asks (the reference is sane)', () => {
    const k = results.kernel!;
    expect(perTag(k.refused!).subject![0]).toEqual(['error', { code: 'ECONNREFUSED', syscall: 'connect', errno: -111, address: 'peer', port: 'peer' }]);
    expect(perTag(k.enetunreach!).subject![0]).toEqual(['error', { code: 'ENETUNREACH', syscall: 'connect', errno: -101, address: 'peer', port: 'peer' }]);
    expect(perTag(k.ehostunreach!).subject![0]).toEqual(['error', { code: 'EHOSTUNREACH', syscall: 'connect', errno: -113, address: 'peer', port: 'peer' }]);
    expect(perTag(k.destroyWithError!).peer!.map((e) => e[0])).toEqual(['end', 'finish', 'close']);
    expect(perTag(k.resetAndDestroy!).peer![0]).toEqual(['error', { code: 'ECONNRESET', syscall: 'read', errno: -104 }]);
  });

  it("with every socket and server unref'd, the process exits by itself", () => {
    expect(out.stdout).toContain('UNREF free');
    expect(out.code).toBe(0);
    expect(out.exitedAfterUnrefMs).toBeLessThan(10_000);
  });
});
