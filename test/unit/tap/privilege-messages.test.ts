/**
 * The lines tapstack prints when it runs with less than root: what it skipped on the TAP, and
 * why there is no SYN queue. Users read them, and test/integration/privilege.test.ts expects
 * them word for word.
 */
import { describe, expect, it } from 'vitest';
import { formatSkipped } from '../../../src/tap/host-side.js';
import { steeringLoadError } from '../../../src/tap/steering.js';

describe('formatSkipped', () => {
  it('names the cause once, then each setting as wanted and as it stays', () => {
    expect(formatSkipped('tap9', [{ setting: 'txqueuelen', wanted: '10000', current: '1000' }])).toBe(
      'skipped on tap9 (not permitted, needs CAP_NET_ADMIN): txqueuelen 10000 (stays 1000)',
    );
    expect(
      formatSkipped('tap9', [
        { setting: 'txqueuelen', wanted: '10000', current: '1000' },
        { setting: 'address', wanted: '198.18.252.1/24', current: 'none' },
        { setting: 'link', wanted: 'up', current: 'down' },
      ]),
    ).toBe('skipped on tap9 (not permitted, needs CAP_NET_ADMIN): txqueuelen 10000 (stays 1000), address 198.18.252.1/24 (stays none), link up (stays down)');
  });
});

describe('steeringLoadError', () => {
  it('names the capability on EPERM', () => {
    const e = steeringLoadError(1, 'ignored');
    expect(e.code).toBe('EBPF');
    expect(e.errno).toBe(1);
    expect(e.message).toBe('loading the eBPF steering program needs CAP_BPF (or CAP_SYS_ADMIN): EPERM (errno 1)');
  });

  it('keeps any other refusal on one line, with the verifier log', () => {
    const e = steeringLoadError(22, '0: (bf) r6 = r1\ninvalid insn\n');
    expect(e.message).toBe('cannot load the TAP steering program: EINVAL (errno 22): 0: (bf) r6 = r1; invalid insn');
    expect(steeringLoadError(38).message).toBe('cannot load the TAP steering program: ENOSYS (errno 38)');
    expect(steeringLoadError(95).message).toBe('cannot load the TAP steering program: errno 95');
  });
});
