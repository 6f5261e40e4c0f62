/**
 * The transmit engine's batch path: a device with `writeBatch` gets every flush of two or more
 * frames in one call (the same bytes as writev would gather, counted the same way, refusals
 * included), a flush of one by writev; a layer over it (src/phy/) has no batch, so frames pass
 * it one by one.
 */
import { describe, expect, it } from 'vitest';
import { Nic } from '../../../src/nic/nic.js';
import { BatchingDevice } from './batching-device.js';
import { DeviceDecorator } from '../../../src/phy/decorator.js';
import type { FrameDevice } from '../../../firmware/device.js';

class Layer extends DeviceDecorator {}

function setup(device: FrameDevice) {
  return new Nic({ device, mtu: 1500, rxDescriptors: 8, txDescriptors: 8, extraPages: 64 });
}

function send(nic: Nic, n: number, first = 0): void {
  for (let i = 0; i < n; i++) {
    const d = nic.txBegin();
    nic.txHeader(d).fill(first + i, 0, 14);
    nic.txAppend(d, new Uint8Array([first + i, 0xaa, 0xbb]));
    nic.txCommit(d, 14);
  }
}

describe('transmit batches', () => {
  it('writes a flush of several frames in one batch, bytes and counters as with writev', () => {
    const dev = new BatchingDevice();
    const nic = setup(dev);
    send(nic, 5);
    nic.flush();
    send(nic, 6, 5); // wraps the 8-descriptor ring, and flushes itself when it fills
    nic.flush();
    expect(dev.batches.reduce((a, b) => a + b, 0)).toBe(11);
    expect(dev.batches.every((b) => b >= 2)).toBe(true);
    expect(dev.written.map((f) => f[0])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect([...dev.written[7]!]).toEqual([...new Array<number>(14).fill(7), 7, 0xaa, 0xbb]);
    expect(nic.stats()).toMatchObject({ txFrames: 11, txBytes: 11 * 17, txBatches: dev.batches.length, txBatchFrames: 11, txQueueFull: 0, txLinkDown: 0 });
  });

  it('sends a single frame by writev', () => {
    const dev = new BatchingDevice();
    const nic = setup(dev);
    send(nic, 1);
    nic.flush();
    expect(dev.batches).toEqual([]);
    expect(dev.written).toHaveLength(1);
    expect(nic.stats()).toMatchObject({ txFrames: 1, txBatches: 0, txBatchFrames: 0 });
  });

  it('counts the frames a batch refused: queue full and link down', () => {
    const dev = new BatchingDevice();
    dev.refuse = new Map([
      [1, -1],
      [3, -2],
    ]);
    const nic = setup(dev);
    send(nic, 4);
    nic.flush();
    expect(dev.written.map((f) => f[0])).toEqual([0, 2]);
    expect(nic.stats()).toMatchObject({ txFrames: 2, txBytes: 34, txQueueFull: 1, txLinkDown: 1, txBatches: 1, txBatchFrames: 4 });
  });

  it('passes frames one by one through a layer over the device', () => {
    const dev = new BatchingDevice();
    const nic = setup(new Layer(dev));
    send(nic, 4);
    nic.flush();
    expect(dev.batches).toEqual([]);
    expect(dev.written).toHaveLength(4);
    expect(nic.stats()).toMatchObject({ txFrames: 4, txBatches: 0 });
  });
});
