import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LINKTYPE_ETHERNET,
  PCAP_DEFAULT_SNAPLEN,
  PCAP_MAGIC_MICROS,
  PcapWriter,
  readPcap,
} from '../../../src/pcap/writer.js';

const dir = mkdtempSync(join(tmpdir(), 'tapstack-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmpFile = (): string => join(dir, `t${fileNo++}.pcap`);

/** Deterministic bytes whose values depend on a seed and the position. */
function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** Splits `frame` into the NIC's layout: a 66-byte header buffer, then 4096-byte pages. */
function splitLikeNic(frame: Uint8Array): Uint8Array[] {
  const parts = [frame.subarray(0, Math.min(66, frame.length))];
  for (let at = 66; at < frame.length; at += 4096) parts.push(frame.subarray(at, Math.min(at + 4096, frame.length)));
  return parts;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('PcapWriter', () => {
  it('writes the global header: nanosecond magic, v2.4, Ethernet, snaplen', () => {
    const f = tmpFile();
    const w = PcapWriter.open(f);
    // The header is written at open, so the file is valid before any frame.
    expect(statSync(f).size).toBe(24);
    w.close();
    const raw = readFileSync(f);
    expect([...raw.subarray(0, 4)]).toEqual([0x4d, 0x3c, 0xb2, 0xa1]); // 0xa1b23c4d little-endian
    expect(raw.readUInt16LE(4)).toBe(2);
    expect(raw.readUInt16LE(6)).toBe(4);
    expect(raw.readInt32LE(8)).toBe(0);
    expect(raw.readUInt32LE(12)).toBe(0);
    expect(raw.readUInt32LE(16)).toBe(PCAP_DEFAULT_SNAPLEN);
    expect(raw.readUInt32LE(20)).toBe(LINKTYPE_ETHERNET);
    const p = readPcap(raw);
    expect(p).toEqual({ linktype: 1, snaplen: 262144, nanos: true, records: [] });

    const g = tmpFile();
    PcapWriter.open(g, { snaplen: 1600 }).close();
    expect(readPcap(readFileSync(g)).snaplen).toBe(1600);
  });

  it('round-trips frames split across parts, with exact nanosecond timestamps', () => {
    const f = tmpFile();
    const w = PcapWriter.open(f);
    const frames = [pattern(60, 1), pattern(1514, 2), pattern(66 + 4096 + 100, 3), pattern(14, 4)];
    // Beyond 2^53 ns: a Number timestamp would lose the last digits.
    const stamps = [1_700_000_000_123_456_789n, 1_700_000_000_123_456_790n, 1_700_000_001_000_000_000n, 0n];
    frames.forEach((fr, i) => w.writeFrame(splitLikeNic(fr), fr.length, stamps[i]!));
    // Parts may hold more than the frame (slots are fixed-size): only totalLength bytes count.
    const slotHdr = new Uint8Array(66).fill(0xee);
    slotHdr.set(pattern(40, 5));
    w.writeFrame([slotHdr, new Uint8Array(4096).fill(0xee)], 40, 5n);
    // Empty parts in the middle are fine.
    w.writeFrame([pattern(10, 6).subarray(0, 5), new Uint8Array(0), pattern(10, 6).subarray(5)], 10, 6n);
    expect(w.framesWritten).toBe(6);
    w.close();

    const p = readPcap(readFileSync(f));
    expect(p.records.length).toBe(6);
    frames.forEach((fr, i) => {
      const r = p.records[i]!;
      expect(r.tsNs).toBe(stamps[i]);
      expect(r.inclLen).toBe(fr.length);
      expect(r.origLen).toBe(fr.length);
      expect(Buffer.from(r.data).equals(Buffer.from(fr))).toBe(true);
    });
    expect([...p.records[4]!.data]).toEqual([...pattern(40, 5)]);
    expect(p.records[4]!.tsNs).toBe(5n);
    expect([...p.records[5]!.data]).toEqual([...pattern(10, 6)]);
  });

  it('truncates at the snap length: incl_len = min(len, snaplen), orig_len = len', () => {
    const f = tmpFile();
    const w = PcapWriter.open(f, { snaplen: 100 });
    const a = pattern(300, 1); // cut inside the second part
    const b = pattern(300, 2);
    const c = pattern(100, 3); // exactly the snap length
    w.writeFrame([a.subarray(0, 66), a.subarray(66)], 300, 1n);
    w.close();
    const g = tmpFile();
    const w2 = PcapWriter.open(g, { snaplen: 40 });
    w2.writeFrame([b.subarray(0, 66), b.subarray(66)], 300, 2n); // cut inside the first part
    w2.writeFrame([c], 100, 3n);
    w2.close();

    const r1 = readPcap(readFileSync(f)).records;
    expect(r1.map((r) => [r.inclLen, r.origLen])).toEqual([[100, 300]]);
    expect([...r1[0]!.data]).toEqual([...a.subarray(0, 100)]);
    const r2 = readPcap(readFileSync(g)).records;
    expect(r2.map((r) => [r.inclLen, r.origLen])).toEqual([
      [40, 300],
      [40, 100],
    ]);
    expect([...r2[0]!.data]).toEqual([...b.subarray(0, 40)]);
    expect([...r2[1]!.data]).toEqual([...c.subarray(0, 40)]);
    // Parts that hold less than the captured length are a caller bug, not a short record.
    const w3 = PcapWriter.open(tmpFile(), { snaplen: 100 });
    expect(() => w3.writeFrame([pattern(50, 1)], 300, 1n)).toThrow(RangeError);
    expect(w3.framesWritten).toBe(0);
    w3.close();
  });

  it('writes a 64 KiB frame, batched and directly (record larger than the buffer)', () => {
    const frame = pattern(66 + 16 * 4096, 9); // header + 16 pages: a full GSO segment
    for (const bufferSize of [undefined, 4096]) {
      const f = tmpFile();
      const w = PcapWriter.open(f, bufferSize === undefined ? {} : { bufferSize });
      w.writeFrame([pattern(60, 1)], 60, 1n);
      w.writeFrame(splitLikeNic(frame), frame.length, 2n);
      w.writeFrame([pattern(60, 3)], 60, 3n);
      w.close();
      const p = readPcap(readFileSync(f));
      expect(p.records.map((r) => r.inclLen)).toEqual([60, frame.length, 60]);
      expect(p.records.map((r) => r.tsNs)).toEqual([1n, 2n, 3n]); // order kept around the direct write
      expect(Buffer.from(p.records[1]!.data).equals(Buffer.from(frame))).toBe(true);
      expect([...p.records[2]!.data]).toEqual([...pattern(60, 3)]);
    }
    // Direct write with truncation by the snap length.
    const f = tmpFile();
    const w = PcapWriter.open(f, { bufferSize: 1024, snaplen: 10000 });
    w.writeFrame(splitLikeNic(frame), frame.length, 7n);
    w.close();
    const r = readPcap(readFileSync(f)).records[0]!;
    expect([r.inclLen, r.origLen]).toEqual([10000, frame.length]);
    expect(Buffer.from(r.data).equals(Buffer.from(frame.subarray(0, 10000)))).toBe(true);
  });

  it('keeps every frame when many frames cross the buffer boundary', () => {
    for (const bufferSize of [undefined, 1000]) {
      const f = tmpFile();
      const w = PcapWriter.open(f, bufferSize === undefined ? {} : { bufferSize });
      const sizes: number[] = [];
      let flushedEarly = false;
      for (let i = 0; i < 2500; i++) {
        const len = 14 + ((i * 7919) % 1500);
        sizes.push(len);
        const fr = pattern(len, i);
        w.writeFrame(splitLikeNic(fr), len, BigInt(i) * 1000n + 1_600_000_000_000_000_000n);
        if (statSync(f).size > 24) flushedEarly = true;
      }
      // A full buffer is written out without waiting for flush() or close().
      expect(flushedEarly).toBe(true);
      expect(w.framesWritten).toBe(2500);
      w.close();
      const p = readPcap(readFileSync(f));
      expect(p.records.length).toBe(2500);
      p.records.forEach((r, i) => {
        expect(r.inclLen).toBe(sizes[i]);
        expect(r.tsNs).toBe(BigInt(i) * 1000n + 1_600_000_000_000_000_000n);
        expect(Buffer.from(r.data).equals(Buffer.from(pattern(sizes[i]!, i)))).toBe(true);
      });
    }
  });

  it('holds frames until flush() or close(), and refuses writes after close', () => {
    const f = tmpFile();
    const w = PcapWriter.open(f);
    w.writeFrame([pattern(100, 1)], 100, 1n);
    expect(statSync(f).size).toBe(24); // batched, not yet written
    w.flush();
    expect(statSync(f).size).toBe(24 + 16 + 100);
    w.writeFrame([pattern(50, 2)], 50, 2n);
    w.writeFrame([pattern(70, 3)], 70, 3n);
    expect(statSync(f).size).toBe(24 + 16 + 100);
    w.close();
    expect(statSync(f).size).toBe(24 + 3 * 16 + 100 + 50 + 70);
    expect(readPcap(readFileSync(f)).records.map((r) => r.inclLen)).toEqual([100, 50, 70]);
    w.close(); // idempotent
    w.flush(); // harmless
    expect(() => w.writeFrame([pattern(10, 1)], 10, 1n)).toThrow(/after close/);
  });

  it('rejects bad options, lengths and timestamps', () => {
    expect(() => PcapWriter.open(tmpFile(), { snaplen: 0 })).toThrow(RangeError);
    expect(() => PcapWriter.open(tmpFile(), { snaplen: 1.5 })).toThrow(RangeError);
    expect(() => PcapWriter.open(tmpFile(), { bufferSize: 8 })).toThrow(RangeError);
    const f = tmpFile();
    const w = PcapWriter.open(f);
    expect(() => w.writeFrame([pattern(10, 1)], 10, -1n)).toThrow(RangeError);
    expect(() => w.writeFrame([pattern(10, 1)], 10, 0x1_0000_0000n * 1_000_000_000n)).toThrow(RangeError);
    expect(() => w.writeFrame([pattern(10, 1)], -1, 1n)).toThrow(RangeError);
    // The last representable instant works.
    w.writeFrame([pattern(10, 1)], 10, 0x1_0000_0000n * 1_000_000_000n - 1n);
    w.close();
    const r = readPcap(readFileSync(f)).records;
    expect(r.length).toBe(1);
    expect(r[0]!.tsNs).toBe(0x1_0000_0000n * 1_000_000_000n - 1n);
  });
});

describe('readPcap', () => {
  it('reads big-endian microsecond files and scales timestamps to ns', () => {
    const b = Buffer.alloc(24 + 16 + 4);
    b.writeUInt32BE(PCAP_MAGIC_MICROS, 0);
    b.writeUInt16BE(2, 4);
    b.writeUInt16BE(4, 6);
    b.writeUInt32BE(65535, 16);
    b.writeUInt32BE(1, 20);
    b.writeUInt32BE(1_700_000_000, 24);
    b.writeUInt32BE(123456, 28);
    b.writeUInt32BE(4, 32);
    b.writeUInt32BE(60, 36);
    b.set([1, 2, 3, 4], 40);
    const p = readPcap(b);
    expect(p.nanos).toBe(false);
    expect(p.snaplen).toBe(65535);
    expect(p.records.map((r) => [r.tsNs, r.inclLen, r.origLen, [...r.data]])).toEqual([
      [1_700_000_000_123_456_000n, 4, 60, [1, 2, 3, 4]],
    ]);
  });

  it('throws on an unknown magic and on truncated records', () => {
    expect(() => readPcap(new Uint8Array(24))).toThrow(/magic/);
    expect(() => readPcap(new Uint8Array(10))).toThrow(/shorter/);
    const f = tmpFile();
    const w = PcapWriter.open(f);
    w.writeFrame([pattern(100, 1)], 100, 1n);
    w.close();
    const raw = readFileSync(f);
    expect(() => readPcap(raw.subarray(0, raw.length - 1))).toThrow(/past the end/);
    expect(() => readPcap(raw.subarray(0, 30))).toThrow(/truncated record header/);
  });
});

// ---- tshark validation: frames built by hand (no dependency on src/wire) ----

const TSHARK = '/usr/bin/tshark';
const hasTshark = existsSync(TSHARK);
if (!hasTshark) console.warn(`pcap writer: ${TSHARK} not found, skipping the tshark validation test`);

/** RFC 1071 Internet checksum over `b`. */
function inetChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Ethernet II + IPv4 (20 bytes) + ICMP echo request with `dataLen` bytes of data. */
function icmpEchoFrame(dataLen: number, seq: number): Uint8Array {
  const ipLen = 20 + 8 + dataLen;
  const f = new Uint8Array(14 + ipLen);
  const v = new DataView(f.buffer);
  f.set([0x02, 0, 0, 0, 0, 0x01], 0); // dst MAC (locally administered)
  f.set([0x02, 0, 0, 0, 0, 0x02], 6); // src MAC
  v.setUint16(12, 0x0800); // EtherType IPv4
  const ip = f.subarray(14, 34);
  ip[0] = 0x45; // version 4, IHL 5
  v.setUint16(16, ipLen);
  v.setUint16(18, 0x1234 + seq); // identification
  v.setUint16(20, 0x4000); // DF
  ip[8] = 64; // TTL
  ip[9] = 1; // ICMP
  ip.set([198, 18, 0, 2], 12);
  ip.set([198, 18, 0, 1], 16);
  v.setUint16(24, inetChecksum(ip));
  const icmp = f.subarray(34);
  icmp[0] = 8; // echo request
  v.setUint16(38, 0xbeef); // identifier
  v.setUint16(40, seq);
  for (let i = 0; i < dataLen; i++) icmp[8 + i] = i & 0xff;
  v.setUint16(36, inetChecksum(icmp));
  return f;
}

function tshark(file: string, ...args: string[]): string {
  return execFileSync(TSHARK, ['-r', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

describe('tshark', () => {
  it.skipIf(!hasTshark)(
    `reads our captures with the right lengths and ns timestamps${hasTshark ? '' : ' (SKIPPED: /usr/bin/tshark not found)'}`,
    () => {
      const f = tmpFile();
      const w = PcapWriter.open(f);
      const sizes = [0, 56, 1472, 8000];
      sizes.forEach((n, i) => {
        const fr = icmpEchoFrame(n, i);
        w.writeFrame(splitLikeNic(fr), fr.length, 1_700_000_000_000_000_001n + BigInt(i) * 1_000_000_123n);
      });
      w.close();

      const out = tshark(f, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.time_epoch', '-e', 'icmp.seq');
      const rows = out.trim().split('\n').map((l) => l.split('\t'));
      expect(rows.map((r) => Number(r[0]))).toEqual(sizes.map((n) => 14 + 20 + 8 + n));
      expect(rows.map((r) => Number(r[1]))).toEqual(sizes.map((n) => 14 + 20 + 8 + n));
      expect(rows.map((r) => r[2])).toEqual([
        '1700000000.000000001',
        '1700000001.000000124',
        '1700000002.000000247',
        '1700000003.000000370',
      ]);
      expect(rows.map((r) => Number(r[3]))).toEqual([0, 1, 2, 3]);
      // No malformed frame and no checksum warning (tshark exits 0 either way: count lines).
      // ICMP checksums are always verified; there is no preference for them.
      const bad = tshark(
        f,
        '-o', 'ip.check_checksum:TRUE',
        '-Y', '_ws.malformed || _ws.expert.severity >= "warning"',
      );
      expect(bad.trim()).toBe('');

      // Truncated capture: frame.len is the wire length, frame.cap_len the snap length.
      const g = tmpFile();
      const w2 = PcapWriter.open(g, { snaplen: 64 });
      const fr = icmpEchoFrame(1000, 9);
      w2.writeFrame(splitLikeNic(fr), fr.length, 1n);
      w2.close();
      expect(tshark(g, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len').trim()).toBe(`${fr.length}\t64`);
    },
  );
});

// Keep the helper honest: the hand-built frame's checksums verify to zero.
describe('test helpers', () => {
  it('icmpEchoFrame has valid IPv4 and ICMP checksums', () => {
    const fr = icmpEchoFrame(57, 1);
    expect(inetChecksum(fr.subarray(14, 34))).toBe(0);
    expect(inetChecksum(fr.subarray(34))).toBe(0);
    expect(concat(splitLikeNic(fr))).toEqual(fr);
  });
});
