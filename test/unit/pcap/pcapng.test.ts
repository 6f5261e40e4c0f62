/**
 * The pcapng writer (one section, one interface with its description, frames with their
 * direction and comments, nanosecond timestamps) read back; captures rotated over files of a
 * bounded size as tcpdump's -C and -W do.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureFormat, openCapture, RotatingCapture } from '../../../src/pcap/capture-writer.js';
import { PcapngWriter, readPcapng } from '../../../src/pcap/pcapng.js';
import { PcapWriter, readPcap } from '../../../src/pcap/writer.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function tmp(name: string): string {
  if (!dir) dir = mkdtempSync(join(tmpdir(), 'tapstack-pcapng-'));
  return join(dir, name);
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

describe('PcapngWriter', () => {
  it('writes the interface description, each frame with its direction, timestamp and comment, and reads back the same', () => {
    const path = tmp('a.pcapng');
    const w = PcapngWriter.open(path, { interfaceName: 'tap0', interfaceDescription: 'tapstack on tap0: mtu 1500, offloads on, split fixed:66' });
    const ts = 1_764_900_000_123_456_789n;
    const a = bytes(60, 1);
    const b = bytes(1514, 2);
    w.writeFrame([a.subarray(0, 14), a.subarray(14)], 60, ts, 1, null);
    w.writeFrame([b], 1514, ts + 1n, 2, 'fault injector: duplicate');
    w.writeFrame([bytes(61, 3)], 61, ts + 2n); // no direction, no comment: no options at all
    expect(w.framesWritten).toBe(3);
    expect(w.pending).toBe(true);
    w.close();
    const f = readPcapng(readFileSync(path));
    expect(f.interfaces).toEqual([{ linktype: 1, snaplen: 262144, name: 'tap0', description: 'tapstack on tap0: mtu 1500, offloads on, split fixed:66', tsresol: 9 }]);
    expect(f.records.map((r) => [r.tsNs, r.inclLen, r.origLen, r.direction, r.comments])).toEqual([
      [ts, 60, 60, 1, []],
      [ts + 1n, 1514, 1514, 2, ['fault injector: duplicate']],
      [ts + 2n, 61, 61, 0, []],
    ]);
    expect([...f.records[0]!.data]).toEqual([...a]);
    expect([...f.records[1]!.data]).toEqual([...b]);
    expect(statSync(path).size).toBe(w.size);
  });

  it('cuts frames at the snap length and writes a frame larger than its buffer directly, in order', () => {
    const path = tmp('b.pcapng');
    const w = PcapngWriter.open(path, { snaplen: 100, bufferSize: 256 });
    w.writeFrame([bytes(300, 4)], 300, 1n, 2, null);
    const big = PcapngWriter.open(tmp('c.pcapng'), { bufferSize: 256 });
    big.writeFrame([bytes(50, 5)], 50, 1n, 1, null);
    big.writeFrame([bytes(1000, 6)], 1000, 2n, 1, 'a comment long enough to need padding.');
    big.writeFrame([bytes(51, 7)], 51, 3n, 1, null);
    w.close();
    big.close();
    const cut = readPcapng(readFileSync(path)).records[0]!;
    expect([cut.inclLen, cut.origLen]).toEqual([100, 300]);
    expect([...cut.data]).toEqual([...bytes(300, 4).subarray(0, 100)]);
    const recs = readPcapng(readFileSync(tmp('c.pcapng'))).records;
    expect(recs.map((r) => r.inclLen)).toEqual([50, 1000, 51]);
    expect([...recs[1]!.data]).toEqual([...bytes(1000, 6)]);
    expect(recs[1]!.comments).toEqual(['a comment long enough to need padding.']);
  });

  it('refuses frame parts shorter than what is captured, and writing after close', () => {
    const w = PcapngWriter.open(tmp('d.pcapng'));
    expect(() => w.writeFrame([bytes(10, 1)], 60, 0n)).toThrow(RangeError);
    w.close();
    expect(() => w.writeFrame([bytes(60, 1)], 60, 0n)).toThrow(/after close/);
  });
});

describe('capture files', () => {
  it('are pcapng when the name ends in .pcapng or when asked, classic pcap otherwise', () => {
    expect(captureFormat('x.pcapng')).toBe('pcapng');
    expect(captureFormat('x.pcap')).toBe('pcap');
    expect(captureFormat('x.cap', 'pcapng')).toBe('pcapng');
    expect(captureFormat('x.pcapng', 'pcap')).toBe('pcap');
    const classic = openCapture(tmp('e.pcap'));
    expect(classic).toBeInstanceOf(PcapWriter);
    classic.writeFrame([bytes(60, 1)], 60, 5n, 2, 'ignored: classic pcap has no comments');
    classic.close();
    expect(readPcap(readFileSync(tmp('e.pcap'))).records).toHaveLength(1);
  });

  it('rotate to FILE1, FILE2, ... once a file holds the size (tcpdump -C)', () => {
    const path = tmp('r.pcap');
    const w = openCapture(path, { rotateBytes: 500 });
    expect(w).toBeInstanceOf(RotatingCapture);
    for (let i = 0; i < 10; i++) w.writeFrame([bytes(200, i)], 200, BigInt(i));
    w.close();
    // 24-byte header + 216-byte records: a file reaches 500 bytes with its third frame.
    const counts = [path, `${path}1`, `${path}2`, `${path}3`].map((p) => readPcap(readFileSync(p)).records.length);
    expect(counts).toEqual([3, 3, 3, 1]);
    expect(existsSync(`${path}4`)).toBe(false);
    expect(w.framesWritten).toBe(10);
  });

  it('with a count, cycle through FILE0..FILE<N-1> and overwrite the oldest (tcpdump -W)', () => {
    const path = tmp('w.pcapng');
    const w = openCapture(path, { rotateBytes: 400, rotateCount: 3 });
    for (let i = 0; i < 14; i++) w.writeFrame([bytes(200, i)], 200, BigInt(i), 1, null);
    w.close();
    expect(existsSync(path)).toBe(false);
    const stamps = [0, 1, 2].map((k) => readPcapng(readFileSync(`${path}${k}`)).records.map((r) => Number(r.tsNs)));
    // Two frames per file: files 0,1,2 then 0,1,2 again, ...: the last seven files' frames survive in three.
    expect(stamps).toEqual([[12, 13], [8, 9], [10, 11]]);
  });

  it('with ten or more files, number them with leading zeros', () => {
    const w = new RotatingCapture(tmp('z.pcap'), (f) => PcapWriter.open(f), 100, 12);
    expect([w.fileName(0), w.fileName(11)].map((n) => n.slice(-2))).toEqual(['00', '11']);
    w.close();
  });
});
