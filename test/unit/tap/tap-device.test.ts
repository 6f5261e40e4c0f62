import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TapError } from '../../../src/tap/errors.js';
import { checkAttachable, TapDevice, validateIfName, validateMtu } from '../../../src/tap/tap-device.js';
import type { LinkInfo, TunInfo } from '../../../src/tap/link.js';

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

describe('checkAttachable: an existing device is attached to only when it is an idle TAP', () => {
  const tap = (tun: Partial<TunInfo> = {}, o: Partial<LinkInfo> = {}): LinkInfo => ({
    name: 'tap9',
    index: 3,
    flags: 0,
    mtu: 1500,
    txQueueLength: 1000,
    kind: 'tun',
    tun: { type: 'tap', owner: 1000, group: null, vnetHdr: true, persist: true, multiQueue: true, attachedQueues: 0, ...tun },
    ...o,
  });
  const refusal = (link: LinkInfo) => {
    try {
      checkAttachable(link);
    } catch (e) {
      expect(e).toBeInstanceOf(TapError);
      return `${(e as TapError).code}: ${(e as TapError).message}`;
    }
    return null;
  };

  it('takes a TAP made beforehand with no queue attached, multi-queue or not', () => {
    expect(refusal(tap())).toBeNull();
    // The kernel reports no queue count for a single-queue TAP; it refuses a second fd itself.
    expect(refusal(tap({ multiQueue: false, attachedQueues: null }))).toBeNull();
  });

  it("refuses a multi-queue TAP with queues attached: another process's", () => {
    expect(refusal(tap({ attachedQueues: 2 }))).toBe('EBUSY: device tap9 is busy: another process holds it (2 queues attached)');
    expect(refusal(tap({ attachedQueues: 1 }))).toBe('EBUSY: device tap9 is busy: another process holds it (1 queue attached)');
  });

  it('refuses a TUN and a device of another kind', () => {
    expect(refusal(tap({ type: 'tun' }))).toBe("ENOTTAP: device tap9 is a TUN device, not a TAP: create it with 'ip tuntap add dev tap9 mode tap'");
    expect(refusal(tap({}, { kind: 'veth', tun: null }))).toBe('ENOTTAP: device tap9 exists and is not a TAP (veth): choose another name');
    expect(refusal(tap({}, { name: 'lo', kind: null, tun: null }))).toBe('ENOTTAP: device lo exists and is not a TAP (a device with no kind): choose another name');
  });
});
