/**
 * The API reference in docs/api is generated from the doc comments (`npm run docs`, typedoc
 * with typedoc.json) and committed, so that it can be read where the code is. This regenerates
 * it into a temporary directory and compares: a change of the public surface or of its comments
 * must come with the regenerated reference. typedoc.json treats warnings (a link to something
 * not documented) as errors.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out.set(relative(dir, path), readFileSync(path, 'utf8'));
  }
  return out;
}

describe('docs/api', () => {
  it('is what typedoc generates from the current doc comments (npm run docs)', () => {
    const out = mkdtempSync(join(tmpdir(), 'tapstack-api-'));
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out], { cwd: ROOT, stdio: 'pipe' });
      const want = files(out);
      const have = files(join(ROOT, 'docs/api'));
      expect([...have.keys()].sort(), 'the files of docs/api').toEqual([...want.keys()].sort());
      const stale = [...want].filter(([name, text]) => have.get(name) !== text).map(([name]) => name);
      expect(stale, 'regenerate with `npm run docs`').toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
