import { describe, expect, it } from 'vitest';
import { Nic, type RxHandler } from '../../../src/nic/nic.js';
import type { RxFrame } from '../../../src/nic/rx-frame.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import { PAGE_SIZE } from '../../../src/mem/arena.js';
import { PageOwner } from '../../../src/mem/page-pool.js';
import { parseSplitPolicy, type SplitPolicySpec } from '../../../firmware/split-policy.js';
import { foldChecksum, onesComplementSum, pseudoHeaderSum } from '../../../src/wire/checksum.js';

/** An Ethernet/IPv4/TCP frame with `tcpOptions` bytes of options and `payload` bytes of data. */
function tcpFrame(tcpOptions: number, payload: number, opts: { badChecksum?: boolean } = {}): Uint8Array {
  const tcpLen = 20 + tcpOptions;
  const f = new Uint8Array(14 + 20 + tcpLen + payload);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
  const ipLen = 20 + tcpLen + payload;
  f.set([0x45, 0, ipLen >> 8, ipLen & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 14);
  const ipSum = foldChecksum(onesComplementSum(f, 14, 34));
  f[24] = ipSum >> 8;
  f[25] = ipSum & 0xff;
  const t = 34;
  f.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 1, (tcpLen / 4) << 4, 0x18, 0xff, 0xff], t);
  for (let i = 0; i < tcpOptions; i++) f[t + 20 + i] = 1; // NOPs
  for (let i = 0; i < payload; i++) f[t + tcpLen + i] = (i * 7 + 3) & 0xff;
  const sum = foldChecksum(onesComplementSum(f, t, f.length, pseudoHeaderSum(0xc6120001, 0xc6120002, 6, tcpLen + payload)));
  f[t + 16] = sum >> 8;
  f[t + 17] = sum & 0xff;
  if (opts.badChecksum) f[f.length - 1] ^= 0x40;
  return f;
}

class Collector implements RxHandler {
  frames: { length: number; headerEnd: number; splitHit: boolean; bytes: Uint8Array; firstPage: Uint8Array | null; csumOk: boolean; csumBad: boolean }[] = [];
  receive(f: RxFrame): void {
    const firstPage = f.pageCount > 0 ? f.arenaBytes.slice(0, 0) : null;
    this.frames.push({
      length: f.length,
      headerEnd: f.headerEnd,
      splitHit: f.splitHit,
      bytes: f.contiguous().slice(),
      firstPage: f.pageCount > 0 ? f.pageView(0).slice(0, f.pageLength(0)) : firstPage,
      csumOk: f.checksumOk,
      csumBad: f.checksumBad,
    });
  }
}

function setup(split: SplitPolicySpec = { kind: 'fixed', size: 66 }, mtu = 9000) {
  const dev = new MemoryDevice();
  const nic = new Nic({ device: dev, mtu, split, rxDescriptors: 8, txDescriptors: 8, extraPages: 64 });
  const c = new Collector();
  nic.start(c);
  return { dev, nic, c };
}

describe('header split', () => {
  it('puts the payload of a 66-byte-header frame at offset 0 of a page', () => {
    const { dev, nic, c } = setup();
    const frame = tcpFrame(12, 5000);
    dev.deliver(frame);
    expect(c.frames).toHaveLength(1);
    const r = c.frames[0]!;
    expect(r.headerEnd).toBe(66);
    expect(r.splitHit).toBe(true);
    expect(r.bytes).toEqual(frame);
    expect(r.firstPage).toEqual(frame.subarray(66, 66 + PAGE_SIZE));
    expect(nic.stats().splitHits).toBe(1);
    expect(nic.stats().splitMisses).toBe(0);
  });

  it('reports a miss for 54- and 78-byte headers', () => {
    const { dev, nic, c } = setup();
    dev.deliver(tcpFrame(0, 100), tcpFrame(24, 100));
    expect(c.frames.map((f) => [f.headerEnd, f.splitHit])).toEqual([
      [54, false],
      [78, false],
    ]);
    expect(c.frames[0]!.bytes).toEqual(tcpFrame(0, 100));
    expect(nic.stats()).toMatchObject({ splitHits: 0, splitMisses: 2 });
  });

  it('fixed:N splits at N, none does not split', () => {
    const a = setup(parseSplitPolicy('fixed:54'));
    a.dev.deliver(tcpFrame(0, 3000));
    expect(a.c.frames[0]!.splitHit).toBe(true);
    expect(a.c.frames[0]!.firstPage).toEqual(tcpFrame(0, 3000).subarray(54));
    const b = setup(parseSplitPolicy('none'));
    b.dev.deliver(tcpFrame(12, 3000));
    expect(b.c.frames[0]!.splitHit).toBe(false);
    expect(b.c.frames[0]!.firstPage).toEqual(tcpFrame(12, 3000));
    expect(b.nic.stats().rxLinearizedBytes).toBe(0); // a frame in one page needs no copy
  });

  it('does not count frames without payload as hits or misses', () => {
    const { dev, nic } = setup();
    dev.deliver(tcpFrame(12, 0));
    expect(nic.stats()).toMatchObject({ splitHits: 0, splitMisses: 0, splitNoPayload: 1 });
  });

  it('verifies L4 checksums like receive offload', () => {
    const { dev, nic, c } = setup();
    dev.deliver(tcpFrame(12, 9000 - 52), tcpFrame(12, 777, { badChecksum: true }), tcpFrame(0, 3));
    expect(c.frames.map((f) => [f.csumOk, f.csumBad])).toEqual([
      [true, false],
      [false, true],
      [true, false],
    ]);
    expect(nic.stats()).toMatchObject({ rxCsumVerified: 2, rxCsumBad: 1 });
  });
});

describe('pages', () => {
  it('a taken page leaves the NIC and the descriptor is refilled', () => {
    const dev = new MemoryDevice();
    const nic = new Nic({ device: dev, mtu: 9000, rxDescriptors: 4, extraPages: 16 });
    const taken: number[] = [];
    nic.start({
      receive(f) {
        taken.push(f.takePage(0));
      },
    });
    const before = nic.pool.stats();
    dev.deliver(tcpFrame(12, 4096), tcpFrame(12, 4096));
    expect(taken).toHaveLength(2);
    expect(new Set(taken).size).toBe(2);
    for (const id of taken) {
      expect(nic.pool.ownerOf(id)).toBe(PageOwner.Stack);
      expect(nic.pool.view(id)).toEqual(tcpFrame(12, 4096).subarray(66));
    }
    const after = nic.pool.stats();
    expect(after.nic).toBe(before.nic);
    expect(after.stack).toBe(2);
    expect(after.free).toBe(before.free - 2);
  });

  it('a frame longer than one page spans pages in order', () => {
    const { dev, c } = setup();
    const f = tcpFrame(12, 8000);
    dev.deliver(f);
    expect(c.frames[0]!.bytes).toEqual(f);
  });
});

describe('transmit', () => {
  it('gathers the header buffer and parts, copies what is not by reference', () => {
    const { dev, nic } = setup();
    const d = nic.txBegin();
    nic.txHeader(d).set([1, 2, 3, 4]);
    nic.txAppend(d, new Uint8Array([5, 6, 7]));
    const page = nic.pool.alloc(PageOwner.Stack);
    nic.pool.view(page).fill(9, 0, 10);
    nic.txAppend(d, nic.pool.view(page).subarray(0, 10), true);
    nic.txCommit(d, 4);
    expect(dev.written).toHaveLength(0);
    nic.flush();
    expect(dev.written).toHaveLength(1);
    expect([...dev.written[0]!]).toEqual([1, 2, 3, 4, 5, 6, 7, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
    expect(nic.stats()).toMatchObject({ txFrames: 1, txBytes: 17, txCopiedBytes: 3, txByReferenceBytes: 10 });
  });

  it('counts frames the device refuses', () => {
    const { dev, nic } = setup();
    dev.full = true;
    const d = nic.txBegin();
    nic.txCommit(d, 14);
    nic.flush();
    expect(nic.stats().txQueueFull).toBe(1);
  });

  it('flushes on its own when the ring is full', () => {
    const { dev, nic } = setup();
    for (let i = 0; i < 20; i++) nic.txCommit(nic.txBegin(), 14);
    nic.flush();
    expect(dev.written).toHaveLength(20);
  });
});

describe('adaptive split', () => {
  it('learns 54-byte headers from a peer without timestamps and recovers the split rate', () => {
    const { dev, nic } = setup(parseSplitPolicy('adaptive'));
    for (let i = 0; i < 100; i++) dev.deliver(tcpFrame(0, 1000));
    const early = nic.stats();
    expect(early.splitMisses).toBeGreaterThan(0); // it started at 66
    for (let i = 0; i < 100; i++) dev.deliver(tcpFrame(0, 1000));
    const late = nic.stats();
    expect(late.splitHits - early.splitHits).toBe(100); // every frame of the second hundred hit
  });

  it('moves back to 66 when timestamps appear, and is not flapped by a few odd frames', () => {
    const { dev, nic } = setup(parseSplitPolicy('adaptive'));
    for (let i = 0; i < 200; i++) dev.deliver(tcpFrame(0, 1000));
    const a = nic.stats();
    // A few SACK-carrying frames (78 bytes) among many 54s do not move it.
    for (let i = 0; i < 100; i++) dev.deliver(tcpFrame(i % 10 === 0 ? 24 : 0, 1000));
    const b = nic.stats();
    expect(b.splitHits - a.splitHits).toBe(90);
    for (let i = 0; i < 300; i++) dev.deliver(tcpFrame(12, 1000));
    const c = nic.stats();
    for (let i = 0; i < 100; i++) dev.deliver(tcpFrame(12, 1000));
    expect(nic.stats().splitHits - c.splitHits).toBe(100);
  });
});
