/**
 * Bulk transfers through the firmware's fault injector, both
 * directions, sha256 checked. This file: reordering 5% (a frame held back by 3 frames),
 * duplication 2%, corruption 0.5% (one bit flipped: the checksums must catch every one), and all
 * of them at once together with 1% loss; impair-loss.test.ts has loss and bursts.
 *
 * The faults hit both directions of the link (`both:`), data and ACKs alike.
 * - kernel -> tapstack: `socat -u OPEN:file TCP-LISTEN` read by `tapstack connect ... > (sha256)`;
 * - tapstack -> kernel: `tapstack connect ... < file` into `socat -u TCP-LISTEN - | (sha256)`.
 * 64 MiB of random bytes each (the kernel sends with its namespace's default congestion
 * control, inherited from the host: bbr here). Every run prints the goodput (first to last byte at the
 * receiver), tapstack's and the kernel's retransmission counters, and asserts that the faults
 * really happened and, for corruption, that tapstack dropped every corrupted frame it received
 * for a checksum (or a header check that a flipped bit broke before the checksum was reached).
 *
 * Namespaces tapstack-it-impdis-{on,off}-<pid>; subnets 198.18.3.0/24 (offload on) and
 * 198.18.4.0/24 (off).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectTransfer,
  counter,
  expectTransferIntact,
  requireBuilt,
  scratchDir,
  subnet,
  transferSummary,
  useNamespace,
  writeRandomFile,
  type Counters,
} from './helpers.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const TEST_TIMEOUT = 300_000;

type Direction = 'from-kernel' | 'to-kernel';
type Offload = 'on' | 'off';

/** Counter name of one kind of fault, rx or tx: nic.impair{Rx,Tx}{Reordered,...}. */
type Fault = 'Dropped' | 'Reordered' | 'Duplicated' | 'Corrupted';

interface Scenario {
  name: string;
  impair: string;
  seed: number;
  /** The faults that must have happened (in one direction or the other). */
  faults: Fault[];
}

const SCENARIOS: Scenario[] = [
  { name: 'reordering 5%', impair: 'both:reorder=5%', seed: 21, faults: ['Reordered'] },
  { name: 'duplication 2%', impair: 'both:dup=2%', seed: 22, faults: ['Duplicated'] },
  { name: 'corruption 0.5%', impair: 'both:corrupt=0.5%', seed: 23, faults: ['Corrupted'] },
  {
    name: 'all at once (loss 1%, reorder 5%, dup 2%, corrupt 0.5%)',
    impair: 'both:loss=1%,reorder=5%,dup=2%,corrupt=0.5%',
    seed: 24,
    faults: ['Dropped', 'Reordered', 'Duplicated', 'Corrupted'],
  },
];

/**
 * The drop reasons a single flipped bit in an IPv4 datagram can earn at tapstack: the IPv4
 * header checks (the header checksum, or a field the flip made impossible before the checksum
 * is looked at), the TCP checksum, and the TCP header checks that come before the TCP checksum
 * (data offset, option lengths).
 */
const CORRUPTION_DROP = /^drop\.(ipv4-(truncated|bad-version|bad-ihl|bad-total-length|bad-checksum|bad-options)|tcp-(truncated|bad-data-offset|bad-options|bad-checksum))$/;

function corruptionDrops(c: Counters): number {
  return Object.entries(c)
    .filter(([k]) => CORRUPTION_DROP.test(k))
    .reduce((a, [, v]) => a + v, 0);
}

function checksumDrops(c: Counters): number {
  return counter(c, 'drop.tcp-bad-checksum') + counter(c, 'drop.ipv4-bad-checksum');
}

const files = scratchDir('impdis');
let FILE = '';
let SHA = '';

beforeAll(() => {
  requireBuilt();
  FILE = `${files.dir}/random.bin`;
  SHA = writeRandomFile(FILE, SIZE);
});
afterAll(() => files.remove());

describe.each<Offload>(['on', 'off'])('bulk transfers under reordering, duplication, corruption, offload %s', (offload) => {
  const net = subnet(offload === 'on' ? 3 : 4);
  const ns = useNamespace(`impdis-${offload}`);
  let port = 6000;

  describe.each(SCENARIOS)('$name', (s) => {
    it.each<Direction>(['from-kernel', 'to-kernel'])(
      '%s: the data arrives intact and the faults happened',
      async (dir) => {
        const r = await connectTransfer({
          ns,
          net,
          port: ++port,
          direction: dir,
          file: FILE,
          extra: ['--offload', offload, '--impair', s.impair, '--seed', String(s.seed)],
          timeoutMs: TEST_TIMEOUT - 20_000,
        });
        console.log(`[offload ${offload}] ${s.name}, ${dir === 'to-kernel' ? 'tapstack -> kernel' : 'kernel -> tapstack'}: ${transferSummary(r)}`);
        expectTransferIntact(r, SIZE, SHA);
        const c = r.counters;
        const rxTx = (f: Fault) => counter(c, `nic.impairRx${f}`) + counter(c, `nic.impairTx${f}`);
        for (const f of s.faults) expect(rxTx(f), `nic.impair{Rx,Tx}${f}`).toBeGreaterThan(0);
        // The data's own direction was hit too (tapstack receives the data: rx).
        const dataDir = dir === 'from-kernel' ? 'Rx' : 'Tx';
        for (const f of s.faults) expect(counter(c, `nic.impair${dataDir}${f}`), `nic.impair${dataDir}${f}`).toBeGreaterThan(0);
        if (s.faults.includes('Corrupted')) {
          // Every corrupted frame tapstack received was dropped, for a checksum above all.
          expect(counter(c, 'nic.impairRxCorrupted')).toBeGreaterThan(0);
          expect(checksumDrops(c)).toBeGreaterThan(0);
          expect(corruptionDrops(c)).toBe(counter(c, 'nic.impairRxCorrupted'));
        }
        if (s.faults.length === 1 && s.faults[0] === 'Duplicated') {
          // Duplicates are recognised: as old duplicates by tapstack, reported as D-SACKs by the kernel.
          if (dir === 'from-kernel') expect(counter(c, 'drop.tcp-old-duplicate')).toBeGreaterThan(0);
          else expect(counter(c, 'tcp.dsacksReceived')).toBeGreaterThan(0);
        }
        if (s.faults.includes('Dropped')) {
          if (dir === 'to-kernel') expect(counter(c, 'tcp.retransmits')).toBeGreaterThan(0);
          else expect(counter(r.kernel, 'RetransSegs')).toBeGreaterThan(0);
        }
      },
      TEST_TIMEOUT,
    );
  });
});
