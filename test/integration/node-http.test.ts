/**
 * Node's own http module on tapstack, both ways, against the real kernel:
 * the http server of examples/http-server.mjs answers curl, and http.request of
 * examples/http-client.mjs downloads from a kernel HTTP server through a tapstack connection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nsRun, PYTHON, requireBuilt, ROOT, scratchDir, subnet, useNamespace } from './helpers.js';

const NET = subnet(60);

function waitForLine(p: ChildProcess, re: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${buf}`)), timeoutMs);
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) {
        clearTimeout(t);
        resolve(m[0]);
      }
    });
    p.on('exit', (code) => {
      clearTimeout(t);
      if (!re.test(buf)) reject(new Error(`exited ${code} before ${re}: ${buf}`));
    });
  });
}

describe('Node http on tapstack sockets', () => {
  const scratch = scratchDir('nodehttp');
  const NS = useNamespace('nodehttp', { after: scratch.remove });
  beforeAll(() => requireBuilt());

  it('http.createServer answers curl through tapstack', async () => {
    const p = spawn('ip', ['netns', 'exec', NS, 'node', path.join(ROOT, 'examples/http-server.mjs'), 'tap0', `${NET.tapstack}/24`, `${NET.host}/24`, '8080']);
    try {
      await waitForLine(p, /listening on/, 20_000);
      for (let i = 0; i < 5; i++) {
        const r = await nsRun(NS, 'curl', ['-s', '--max-time', '10', `http://${NET.tapstack}:8080/page${i}`]);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(`hello from tapstack, you asked for /page${i}\n`);
      }
    } finally {
      p.kill('SIGINT');
      await new Promise((r) => p.once('exit', r));
    }
  });

  it('http.request reaches a kernel server through a tapstack connection', async () => {
    const body = randomBytes(5 * 1024 * 1024 + 17);
    writeFileSync(path.join(scratch.dir, 'f.bin'), body);
    const expected = createHash('sha256').update(body).digest('hex');
    const server = spawn('ip', ['netns', 'exec', NS, PYTHON, '-m', 'http.server', '8000', '--bind', '0.0.0.0', '--directory', scratch.dir], { stdio: 'ignore' });
    try {
      // The server may take a moment to start listening: the client retries.
      let out = '';
      for (let attempt = 0; attempt < 5 && !out.includes('status 200'); attempt++) {
        const r = await nsRun(NS, 'node', [path.join(ROOT, 'examples/http-client.mjs'), 'tap0', `${NET.tapstack}/24`, `${NET.host}/24`, `http://${NET.host}:8000/f.bin`], { timeoutMs: 30_000 });
        out = r.stdout + r.stderr;
        if (!out.includes('status 200')) await new Promise((res) => setTimeout(res, 500));
      }
      expect(out).toContain(`status 200 bytes ${body.length} sha256 ${expected}`);
    } finally {
      server.kill('SIGTERM');
    }
  });
});
