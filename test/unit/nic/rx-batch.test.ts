/**
 * The receive engine's batch path: a device with `readBatch` fills a round of descriptors in
 * one call; the driver asks for about what the last wake-up found (one more), doubling while
 * rounds come back full; a read that found the queue empty followed by one that got a frame (it
 * arrived during the call) leaves a gap that the firmware closes by moving the filled
 * descriptor's buffers forward, so frames reach the stack in order, each with its own header
 * buffer and pages, and nothing is lost or seen twice.
 */
import { describe, expect, it } from 'vitest';
import { Nic } from '../../../src/nic/nic.js';
import type { RxFrame } from '../../../src/nic/rx-frame.js';
import { BatchingDevice } from './batching-device.js';

/** A frame of `len` bytes whose every byte says which frame it is and where in it the byte lies. */
function frame(id: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (id * 7 + i) & 0xff;
  f[12] = 0x88; // an EtherType nobody handles: the firmware completes it as it is
  f[13] = 0xb5;
  return f;
}

function setup() {
  const dev = new BatchingDevice();
  const nic = new Nic({ device: dev, mtu: 1500, rxDescriptors: 16, txDescriptors: 8, extraPages: 64 });
  const got: Uint8Array[] = [];
  nic.start({
    receive: (f: RxFrame) => {
      const out = new Uint8Array(f.length);
      f.copyOut(0, f.length, out, 0);
      got.push(out);
    },
  });
  return { dev, nic, got };
}

const LEN = 1400; // past the 66-byte header buffer into a page

describe('receive batches', () => {
  it('asks for one more than the last wake-up found, doubling while rounds come back full', () => {
    const { dev, nic, got } = setup();
    dev.deliver(frame(0, LEN));
    // Nothing known yet: one read by readv, then a batch of 2 to see the queue empty.
    expect(dev.readBatches).toEqual([2]);
    dev.readBatches.length = 0;
    for (let i = 1; i <= 9; i++) dev.inject(frame(i, LEN));
    nic.poll();
    // The last wake-up found 1: ask 2, then 4, then 8 (the ninth frame and the empty queue).
    expect(dev.readBatches).toEqual([2, 4, 8]);
    expect(got.length).toBe(10);
    got.forEach((f, i) => expect(f).toEqual(frame(i, LEN)));
    expect(nic.stats()).toMatchObject({ rxFrames: 10, rxBatchFrames: 9, rxBatchGaps: 0 });
  });

  it('closes the gaps a frame arriving during the batch leaves, keeping order, headers and pages', () => {
    const { dev, nic, got } = setup();
    // The last wake-up found 7, so this one asks for 8 at once; reads 0, 2 and 3 of it find the
    // queue "empty", the frames come after them: filled 1, 4, 5, 6, 7 must become 0..4.
    for (let i = 0; i < 7; i++) dev.inject(frame(100 + i, 60));
    nic.poll();
    got.length = 0;
    dev.readBatches.length = 0;
    dev.emptyNext(0, 2, 3);
    for (let i = 0; i < 5; i++) dev.inject(frame(i, LEN + i * 100));
    nic.poll();
    expect(dev.readBatches[0]).toBe(8);
    expect(got.length).toBe(5);
    got.forEach((f, i) => expect(f).toEqual(frame(i, LEN + i * 100)));
    expect(nic.stats().rxBatchGaps).toBe(5); // each of the five moved forward
    // Round and round the ring again: every descriptor still owns what it says it does.
    for (let round = 0; round < 6; round++) {
      got.length = 0;
      dev.emptyNext(1, 4);
      for (let i = 0; i < 6; i++) dev.inject(frame(round * 10 + i, 200 + 300 * i));
      // A round that came back short leaves the rest queued: the queue is still readable, and
      // the next wake-up takes them.
      for (let wakeups = 0; wakeups < 4 && got.length < 6; wakeups++) nic.poll();
      expect(got.length).toBe(6);
      got.forEach((f, i) => expect(f).toEqual(frame(round * 10 + i, 200 + 300 * i)));
    }
    expect(nic.stats().rxFrames).toBe(7 + 5 + 36);
  });
});
