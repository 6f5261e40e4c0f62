import { describe, expect, it } from 'vitest';
import { formatImpairment, parseImpairments, ImpairmentError } from '../../../firmware/impairments.js';
import { FaultInjectingDevice, setCe } from '../../../src/phy/fault-injector.js';
import { systemClock } from '../../../src/clock.js';
import { Nic, type RxHandler } from '../../../src/nic/nic.js';
import type { RxFrame } from '../../../src/nic/rx-frame.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import { foldChecksum, onesComplementSum } from '../../../src/wire/checksum.js';

/** Ethernet + IPv4 (TOS `tos`, valid header checksum) + 8 bytes of UDP-ish payload. */
function ipFrame(tos: number): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8);
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, tos, 0, 28, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2], 14);
  const c = foldChecksum(onesComplementSum(f, 14, 34));
  f[24] = c >>> 8;
  f[25] = c & 0xff;
  return f;
}

const headerChecksumOk = (f: Uint8Array) => foldChecksum(onesComplementSum(f, 14, 34)) === 0;

describe('impairment text', () => {
  it('parses and formats mark=P', () => {
    const s = parseImpairments('rx:mark=2%;tx:loss=1%,mark=0.5%', 3);
    expect(s.rx.mark).toBe(0.02);
    expect(s.tx.mark).toBe(0.005);
    expect(formatImpairment(s.tx)).toBe('loss=1%,mark=0.5%');
    expect(() => parseImpairments('rx:mark=120%')).toThrow(ImpairmentError);
  });
});

describe('setCe (RFC 3168 5, RFC 1624)', () => {
  it('marks ECT(0) and ECT(1) with a header checksum that still verifies, refuses Not-ECT', () => {
    for (const tos of [0x02, 0x01, 0xb8 | 0x02]) {
      const f = ipFrame(tos);
      const out = new Uint8Array(3);
      expect(setCe(f[14]!, f[15]!, f[24]!, f[25]!, out)).toBe(true);
      f[15] = out[0]!;
      f[24] = out[1]!;
      f[25] = out[2]!;
      expect(f[15]! & 3).toBe(3);
      expect(f[15]! & 0xfc).toBe(tos & 0xfc);
      expect(headerChecksumOk(f)).toBe(true);
    }
    expect(setCe(0x45, 0x00, 0, 0, new Uint8Array(3))).toBe(false);
    expect(setCe(0x60, 0x02, 0, 0, new Uint8Array(3))).toBe(false); // not IPv4
  });
});

describe('mark in the firmware', () => {
  class Keep implements RxHandler {
    frames: Uint8Array[] = [];
    receive(f: RxFrame): void {
      this.frames.push(f.contiguous().slice());
    }
  }
  function nicWith(spec: string) {
    const dev = new MemoryDevice();
    const nic = new Nic({ device: new FaultInjectingDevice(dev, parseImpairments(spec, 1), systemClock), mtu: 1500, rxDescriptors: 8, txDescriptors: 8, extraPages: 64 });
    const keep = new Keep();
    nic.start(keep);
    return { dev, nic, keep };
  }

  it('receive: an ECN-capable frame arrives with CE, a Not-ECT one is dropped and counted', () => {
    const { dev, nic, keep } = nicWith('rx:mark=100%');
    dev.deliver(ipFrame(0x02), ipFrame(0x00), ipFrame(0x01));
    expect(keep.frames).toHaveLength(2);
    for (const f of keep.frames) {
      expect(f[15]! & 3).toBe(3);
      expect(headerChecksumOk(f)).toBe(true);
    }
    expect(nic.stats()).toMatchObject({ impairRxMarked: 2, impairRxDropped: 1 });
  });

  it('transmit: the frame leaves with CE; a Not-ECT one does not leave', () => {
    const { dev, nic } = nicWith('tx:mark=100%');
    for (const tos of [0x02, 0x00]) {
      const d = nic.txBegin();
      nic.txHeader(d).set(ipFrame(tos).subarray(0, 34));
      nic.txAppend(d, new Uint8Array(8));
      nic.txCommit(d, 34);
    }
    nic.flush();
    expect(dev.written).toHaveLength(1);
    expect(dev.written[0]![15]! & 3).toBe(3);
    expect(headerChecksumOk(dev.written[0]!)).toBe(true);
    expect(nic.stats()).toMatchObject({ impairTxMarked: 1, impairTxDropped: 1 });
  });
});

describe('corrupt in the firmware', () => {
  class Keep implements RxHandler {
    frames: Uint8Array[] = [];
    receive(f: RxFrame): void {
      this.frames.push(f.contiguous().slice());
    }
  }

  it('flips a bit of an IPv4 frame (its header checksum then fails); a non-IPv4 frame is lost instead, as a bad FCS', () => {
    const dev = new MemoryDevice();
    const nic = new Nic({ device: new FaultInjectingDevice(dev, parseImpairments('rx:corrupt=100%', 9), systemClock), mtu: 1500, rxDescriptors: 8, txDescriptors: 8, extraPages: 64 });
    const keep = new Keep();
    nic.start(keep);
    const arp = new Uint8Array(42);
    arp.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    // Only the 20-byte header is IPv4 here: any flip lands in it, so the header checksum fails.
    const ip = ipFrame(0);
    ip[16] = 0;
    ip[17] = 20;
    const c = foldChecksum(onesComplementSum(ip.subarray(0, 34).fill(0, 24, 26), 14, 34));
    ip[24] = c >>> 8;
    ip[25] = c & 0xff;
    dev.deliver(arp, ip.subarray(0, 34));
    expect(keep.frames).toHaveLength(1);
    expect(keep.frames[0]![12]).toBe(0x08);
    expect(headerChecksumOk(keep.frames[0]!)).toBe(false);
    expect(nic.stats()).toMatchObject({ impairRxCorrupted: 1, impairRxDropped: 1 });
  });
});
