/**
 * A capture over a device that reads and writes batches (the TAP over its io_uring) passes the
 * batches through, so capturing does not change the I/O path, and records every frame after
 * the call in the order the device read or wrote it: a frame that arrived during a read batch
 * (after a read that found the queue empty) is where it came, a refused write is not recorded.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { Nic } from '../../../src/nic/nic.js';
import { PcapWriter, readPcap } from '../../../src/pcap/writer.js';
import { CapturingDevice } from '../../../src/phy/capture.js';
import { BatchingDevice } from '../nic/batching-device.js';

/** A frame whose bytes say which frame it is, with an EtherType nobody handles. */
function frame(id: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (id * 7 + i) & 0xff;
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
}

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('capture over a batching device', () => {
  it('passes read and write batches through and records the frames in the order they crossed', () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstack-capture-batch-'));
    const path = join(dir, 'c.pcap');
    const dev = new BatchingDevice();
    const cap = new CapturingDevice(dev, PcapWriter.open(path), new ManualClock(), 0n);
    expect(cap.readBatch).toBeDefined();
    expect(cap.writeBatch).toBeDefined();
    const nic = new Nic({ device: cap, mtu: 1500, rxDescriptors: 16, txDescriptors: 8, extraPages: 64 });
    let delivered = 0;
    nic.start({ receive: () => void delivered++ });

    for (let i = 0; i < 3; i++) dev.inject(frame(i, 100 + i));
    nic.poll(); // nothing known yet: a readv, then batches
    for (let i = 3; i < 9; i++) dev.inject(frame(i, 100 + i));
    dev.emptyNext(0, 2); // frames 3.. land after two empty reads of the next batch
    for (let w = 0; w < 4 && delivered < 9; w++) nic.poll();
    expect(delivered).toBe(9);
    expect(dev.readBatches.length).toBeGreaterThan(0);

    dev.refuse = new Map([[1, -1]]);
    for (let i = 0; i < 3; i++) {
      const d = nic.txBegin();
      nic.txHeader(d).set(frame(50 + i, 14));
      nic.txAppend(d, frame(50 + i, 64).subarray(14));
      nic.txCommit(d, 14);
    }
    nic.flush();
    expect(dev.batches).toEqual([3]);
    nic.close();

    const recs = readPcap(readFileSync(path)).records.map((r) => r.data);
    const want = [...Array.from({ length: 9 }, (_, i) => frame(i, 100 + i)), frame(50, 64), frame(52, 64)];
    expect(recs.map((r) => [...r])).toEqual(want.map((f) => [...f]));
  });
});
