/**
 * vitest globalSetup of the integration tests (referenced from vitest.config.ts, project
 * "integration"):
 *
 * - The tests run the built CLI (dist/src/cli/main.js): build once before any test file starts
 *   when dist/ is missing or older than the sources. TAPSTACK_IT_NO_BUILD=1 tests dist/ as it is.
 * - Namespaces of an earlier run that was killed before its afterAll hooks ran
 *   (`tapstack-it-<what>-<pid>`, and tapstack/testing's `tapstack-t-<pid>-<n>`, whose test
 *   process is gone) are deleted (src/testing/netns.ts). Only names of those forms, and only
 *   when that PID no longer runs, so a parallel run keeps its namespaces.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sweepStaleNamespaces } from '../../src/testing/netns.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

/** Newest modification time of the .ts files under `dir`. */
function newestSource(dir: string): number {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

export default async function setup(): Promise<void> {
  // tapstack-it-* of these tests (processes inside left alone, as ever), and tapstack-t-* of
  // tapstack/testing networks whose test process is gone.
  // No iproute2 or no permission: the tests will say so.
  const stale = [
    ...(await sweepStaleNamespaces(/^tapstack-it-[A-Za-z0-9._-]+-(\d+)$/, { killInside: false }).catch(() => [])),
    ...(await sweepStaleNamespaces().catch(() => [])),
  ];
  for (const ns of stale) process.stderr.write(`integration: deleted stale namespace ${ns}\n`);
  build();
}

function build(): void {
  if (process.env.TAPSTACK_IT_NO_BUILD === '1') return;
  const stale =
    !existsSync(CLI) || statSync(CLI).mtimeMs < Math.max(newestSource(path.join(ROOT, 'src')), newestSource(path.join(ROOT, 'firmware')));
  if (!stale) return;
  process.stderr.write('integration: building dist/ (npm run build)\n');
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  } catch (e) {
    // tsc emits JavaScript even when it reports type errors; without a CLI there is nothing to test.
    if (!existsSync(CLI)) throw e;
    process.stderr.write('integration: the build reported errors; testing the JavaScript it emitted\n');
  }
}
