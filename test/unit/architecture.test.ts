/**
 * The layers' import rules (.dependency-cruiser.cjs, docs/ARCHITECTURE.md "Layers"), checked
 * with dependency-cruiser over src/ and firmware/: an import that breaks a rule fails here.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';

it('every import follows the layer rules', () => {
  const args = ['src', 'firmware', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'];
  let out = '';
  let status = 0;
  try {
    out = execFileSync('node_modules/.bin/depcruise', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    status = err.status;
    out = `${err.stdout}${err.stderr}`;
  }
  expect(status, out).toBe(0);
  expect(out).not.toMatch(/\berror\b/);
}, 60_000);
