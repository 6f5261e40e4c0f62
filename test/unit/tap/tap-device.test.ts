import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TapError } from '../../../src/tap/errors.js';
import { TapDevice, validateIfName, validateMtu } from '../../../src/tap/tap-device.js';

const openFds = () => readdirSync('/proc/self/fd').length;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TapError);
    return (e as TapError).code;
  }
  return undefined;
}

describe('TapDevice.open errors', () => {
  it('rejects invalid names before touching the kernel', () => {
    for (const name of ['', 'a'.repeat(16), 'has space', 'a/b', 'a:b', '.', '..', 'tab\t', 'é']) {
      expect(codeOf(() => validateIfName(name)), name).toBe('EINVALNAME');
      expect(codeOf(() => TapDevice.open({ name }))).toBe('EINVALNAME');
    }
    expect(() => validateIfName('tap0')).not.toThrow();
    expect(() => validateIfName('a'.repeat(15))).not.toThrow();
  });

  it('rejects MTUs outside 68..65521', () => {
    for (const mtu of [0, 67, 65522, 1e9, 1500.5, NaN]) {
      expect(codeOf(() => validateMtu(mtu)), String(mtu)).toBe('EMTU');
      expect(codeOf(() => TapDevice.open({ name: 'tap0', mtu }))).toBe('EMTU');
    }
    expect(() => validateMtu(68)).not.toThrow();
    expect(() => validateMtu(65521)).not.toThrow();
  });

  it('says ENOTUN when the clone device is missing, and leaks no fd', () => {
    const before = openFds();
    expect(codeOf(() => TapDevice.open({ name: 'tap0', clonePath: '/nonexistent/net/tun' }))).toBe('ENOTUN');
    expect(openFds()).toBe(before);
  });

  it('closes the fd when an ioctl fails', () => {
    // /dev/null opens fine but refuses TUNSETIFF: the error path must close what it opened.
    const before = openFds();
    expect(codeOf(() => TapDevice.open({ name: 'tap0', clonePath: '/dev/null' }))).toBe('EIOCTL');
    expect(openFds()).toBe(before);
  });
});

describe('TapDevice.open with a SYN queue', () => {
  it('closes every queue it opened when the first fails', () => {
    const before = openFds();
    expect(codeOf(() => TapDevice.open({ name: 'tap0', clonePath: '/dev/null', synQueue: true }))).toBe('EIOCTL');
    expect(openFds()).toBe(before);
  });
});
