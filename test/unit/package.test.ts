/**
 * The package as a user installs it: `npm pack` of the built tree, its file list (the library,
 * its types, the command, the documentation; no tests, benchmarks, scripts or source maps),
 * then an install of the tarball into an empty project that imports `tapstack` and
 * `tapstack/testing` from TypeScript (strict, NodeNext; tapstack's socket and server handed to
 * functions typed for Node's `net.Socket` and `net.Server`) and from plain Node, and runs the
 * `tapstack` command. Needs the built `dist/` (scripts/test builds first) and the npm cache or
 * registry for the package's own dependencies.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

interface PackResult {
  filename: string;
  files: { path: string }[];
}

describe('the npm package', () => {
  let dir = '';
  let pack: PackResult;

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/src/index.js'))) throw new Error('dist/ is not built: npm run build first');
    dir = mkdtempSync(join(tmpdir(), 'tapstack-pack-'));
    // --ignore-scripts: the tree is built already; `prepare` would build it again.
    const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
    pack = (JSON.parse(out) as PackResult[])[0]!;
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds the library, its types, the command and the documentation, and nothing of the development', () => {
    const files = pack.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/testing/index.js', 'dist/src/cli/main.js', 'docs/ARCHITECTURE.md', 'docs/api/README.md']) {
      expect(files, f).toContain(f);
    }
    const stray = files.filter((f) => /^(test|bench|scripts|examples|src|firmware|\.ci)\//.test(f) || f.startsWith('dist/test/') || f.startsWith('dist/bench/') || f.endsWith('.map'));
    expect(stray).toEqual([]);
  });

  it('installs into an empty project that imports it from TypeScript (strict, NodeNext) and from Node, and runs its command', () => {
    const app = join(dir, 'app');
    execFileSync('mkdir', ['-p', join(app, 'src')]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(dir, pack.filename)], { cwd: app, stdio: 'pipe' });
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          noEmit: true,
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        include: ['src'],
      }),
    );
    writeFileSync(
      join(app, 'src/main.ts'),
      [
        "import type net from 'node:net';",
        "import { Stack, type Server, type Socket } from 'tapstack';",
        "import { testNetwork } from 'tapstack/testing';",
        '/** Code written for Node\'s net, handed tapstack\'s socket and server. */',
        'export function greet(s: net.Socket): void { s.end(`hello ${s.remoteAddress ?? "?"}\\n`); }',
        'export function serve(stack: Stack): net.Server { const srv: Server = stack.createServer((s: Socket) => greet(s)); return srv; }',
        'export const network: typeof testNetwork = testNetwork;',
        '',
      ].join('\n'),
    );
    execFileSync(process.execPath, [TSC, '-p', app], { cwd: app, stdio: 'pipe' });
    const kinds = execFileSync(process.execPath, ['--input-type=module', '-e', "const a = await import('tapstack'); const t = await import('tapstack/testing'); console.log(typeof a.Stack, typeof t.testNetwork)"], { cwd: app, encoding: 'utf8' });
    expect(kinds.trim()).toBe('function function');
    const help = execFileSync(join(app, 'node_modules/.bin/tapstack'), ['--help'], { cwd: app, encoding: 'utf8' });
    expect(help).toMatch(/^Usage: tapstack <command>/);
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/tapstack/package.json'), 'utf8')) as { os: string[] };
    expect(installed.os).toEqual(['linux']);
  }, 180_000);
});
