/**
 * tapstack/testing's addresses (src/testing/addresses.ts): only 198.18.0.0/15, checked before
 * anything is made; /24s of 198.19.0.0/16 leased with lock files, distinct while held, taken
 * over from a process that is gone.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLinkAddresses, inTestRange, leaseSubnet, sweepStaleLocks, type SubnetLease } from '../../../src/testing/addresses.js';
import { TestNetworkError } from '../../../src/testing/errors.js';
import { suiteFailed } from '../../../src/testing/frameworks.js';

describe('checkLinkAddresses', () => {
  it('takes two addresses of one subnet inside 198.18.0.0/15', () => {
    expect(checkLinkAddresses('198.18.7.2/24', '198.18.7.1/24')).toEqual({ tapstack: '198.18.7.2', host: '198.18.7.1', prefixLength: 24 });
    expect(checkLinkAddresses('198.19.255.254/16', '198.19.0.1/16')).toEqual({ tapstack: '198.19.255.254', host: '198.19.0.1', prefixLength: 16 });
    expect(checkLinkAddresses('198.18.0.2/30', '198.18.0.1/30').prefixLength).toBe(30);
  });

  it.each([
    ['outside the range', '10.0.0.2/24', '10.0.0.1/24'],
    ['just above the range', '198.20.0.2/24', '198.20.0.1/24'],
    ['just below the range', '198.17.255.2/24', '198.17.255.1/24'],
    ['a prefix wider than the range', '198.18.0.2/14', '198.18.0.1/14'],
    ['a /31', '198.18.0.0/31', '198.18.0.1/31'],
    ['different prefixes', '198.18.0.2/24', '198.18.0.1/25'],
    ['different subnets', '198.18.0.2/24', '198.18.1.1/24'],
    ['one address twice', '198.18.0.2/24', '198.18.0.2/24'],
    ['the network address', '198.18.0.0/24', '198.18.0.1/24'],
    ['the broadcast address', '198.18.0.255/24', '198.18.0.1/24'],
    ['no prefix', '198.18.0.2', '198.18.0.1'],
  ])('refuses %s', (_why, a, h) => {
    let err: unknown;
    try {
      checkLinkAddresses(a, h);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TestNetworkError);
    expect((err as TestNetworkError).code).toBe('EADDRESS');
  });

  it('knows the range', () => {
    expect(inTestRange(0xc6120000)).toBe(true); // 198.18.0.0
    expect(inTestRange(0xc613ffff)).toBe(true); // 198.19.255.255
    expect(inTestRange(0xc6140000)).toBe(false); // 198.20.0.0
    expect(inTestRange(0xc611ffff)).toBe(false); // 198.17.255.255
  });
});

describe('leaseSubnet', () => {
  let dir = '';
  const leases: SubnetLease[] = [];
  afterEach(() => {
    for (const l of leases.splice(0)) l.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const fresh = () => (dir = mkdtempSync(path.join(tmpdir(), 'tapstack-unit-subnets-')));

  it('gives distinct /24s of 198.19.0.0/16 while they are held, and each back on release', () => {
    fresh();
    for (let i = 0; i < 20; i++) leases.push(leaseSubnet(i % 3, dir));
    const bases = leases.map((l) => l.addresses.host.replace(/\.1$/, ''));
    expect(new Set(bases).size).toBe(20);
    for (const l of leases) {
      expect(l.addresses.host).toMatch(/^198\.19\.\d+\.1$/);
      expect(l.addresses.tapstack).toBe(l.addresses.host.replace(/\.1$/, '.2'));
      expect(l.addresses.prefixLength).toBe(24);
      expect(readFileSync(l.lock!, 'utf8').trim()).toBe(String(process.pid));
    }
    const first = leases[0]!;
    first.release();
    expect(existsSync(first.lock!)).toBe(false);
    first.release(); // idempotent
  });

  it('takes over the lock of a process that is gone, never that of a live one', () => {
    fresh();
    const probe = leaseSubnet(0, dir);
    const file = probe.lock!;
    probe.release();
    // PID 2^22 + 1 is above Linux's pid_max: no process has it. PID 1 always runs.
    writeFileSync(file, `${2 ** 22 + 1}\n`);
    const taken = leaseSubnet(0, dir);
    leases.push(taken);
    expect(taken.lock).toBe(file);
    taken.release();
    writeFileSync(file, '1\n');
    const other = leaseSubnet(0, dir);
    leases.push(other);
    expect(other.lock).not.toBe(file);
    expect(readFileSync(file, 'utf8')).toBe('1\n');
  });

  it('sweeps the locks of processes that are gone, and only those', () => {
    fresh();
    const mine = leaseSubnet(0, dir);
    leases.push(mine);
    writeFileSync(path.join(dir, '198.19.200.0.lock'), `${2 ** 22 + 1}\n`);
    writeFileSync(path.join(dir, '198.19.201.0.lock'), '1\n');
    sweepStaleLocks(dir);
    expect(existsSync(path.join(dir, '198.19.200.0.lock'))).toBe(false);
    expect(existsSync(path.join(dir, '198.19.201.0.lock'))).toBe(true);
    expect(existsSync(mine.lock!)).toBe(true);
  });

  it('says so when all 256 are held', () => {
    fresh();
    for (let i = 0; i < 256; i++) leases.push(leaseSubnet(i, dir));
    expect(() => leaseSubnet(0, dir)).toThrow(expect.objectContaining({ code: 'ENOSUBNET' }));
  });
});

describe('suiteFailed', () => {
  it('finds a failed task at any depth, and nothing in a suite that passed', () => {
    const pass = { result: { state: 'pass' } };
    expect(suiteFailed({ tasks: [pass, { tasks: [pass] }] })).toBe(false);
    expect(suiteFailed({ tasks: [pass, { tasks: [pass, { result: { state: 'fail' } }] }] })).toBe(true);
    expect(suiteFailed({ result: { state: 'fail' }, tasks: [] })).toBe(true);
    expect(suiteFailed({})).toBe(false);
  });
});
