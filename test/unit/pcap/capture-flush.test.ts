/**
 * A capture reaches its file within a second without traffic to push it (the NIC's timer, on
 * the capture's deadline), or after every read and write call with flushEveryCall (tcpdump -U);
 * and a pcapng capture between the fault injector's two halves notes on each frame what the
 * injector did to it, including the frames it lost on the way out.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { Nic } from '../../../src/nic/nic.js';
import { PcapngWriter, readPcapng } from '../../../src/pcap/pcapng.js';
import { PcapWriter, readPcap } from '../../../src/pcap/writer.js';
import { CAPTURE_FLUSH_MS, CapturingDevice } from '../../../src/phy/capture.js';
import { FaultInjectingDevice } from '../../../src/phy/fault-injector.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import { noImpairment, parseImpairments } from '../../../firmware/impairments.js';

/** A frame whose bytes say which frame it is, with an EtherType nobody handles. */
function frame(id: number, len = 80): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (id * 7 + i) & 0xff;
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
}

/** An IPv4 frame (the fault injector corrupts and marks only IPv4), ECN-capable. */
function ipv4Frame(id: number): Uint8Array {
  const f = frame(id, 60);
  f[12] = 0x08;
  f[13] = 0x00;
  f[14] = 0x45;
  f[15] = 0x02; // ECT(0)
  f[16] = 0;
  f[17] = 46;
  return f;
}

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

function send(nic: Nic, f: Uint8Array): void {
  const d = nic.txBegin();
  nic.txHeader(d).set(f.subarray(0, 14));
  nic.txAppend(d, f.subarray(14));
  nic.txCommit(d, 14);
}

describe('capture flushing', () => {
  it('writes buffered frames once they have waited a second, through the deadline it gives the NIC', () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstack-capture-flush-'));
    const path = join(dir, 'c.pcap');
    const clock = new ManualClock();
    const dev = new MemoryDevice();
    const cap = new CapturingDevice(dev, PcapWriter.open(path), clock, 0n);
    const nic = new Nic({ device: cap, mtu: 1500, rxDescriptors: 16, txDescriptors: 8, extraPages: 64 });
    nic.start({ receive: () => {} });
    expect(nic.nextDeadline()).toBe(Infinity);

    clock.advance(5);
    dev.inject(frame(1));
    nic.poll();
    expect(statSync(path).size).toBe(24); // the global header only
    expect(nic.nextDeadline()).toBe(5 + CAPTURE_FLUSH_MS);

    clock.advance(CAPTURE_FLUSH_MS - 1);
    nic.flush(); // a timer run: nothing to send, so the layers below release what is due
    expect(statSync(path).size).toBe(24);
    clock.advance(1);
    nic.flush();
    expect(readPcap(readFileSync(path)).records).toHaveLength(1);
    expect(nic.nextDeadline()).toBe(Infinity);

    // Under traffic what is due goes out with the next transmit (the layers below release
    // first) or the next frame read, whichever comes first.
    dev.inject(frame(2));
    nic.poll();
    clock.advance(CAPTURE_FLUSH_MS);
    send(nic, frame(3));
    nic.flush();
    expect(readPcap(readFileSync(path)).records).toHaveLength(2);
    expect(nic.nextDeadline()).toBe(clock.nowMs() + CAPTURE_FLUSH_MS);
    clock.advance(CAPTURE_FLUSH_MS);
    dev.inject(frame(4));
    nic.poll();
    expect(readPcap(readFileSync(path)).records).toHaveLength(4);
    nic.close();
  });

  it('writes after every read and write call with flushEveryCall', () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstack-capture-flush-'));
    const path = join(dir, 'u.pcap');
    const dev = new MemoryDevice();
    const cap = new CapturingDevice(dev, PcapWriter.open(path), new ManualClock(), 0n, { flushEveryCall: true });
    const nic = new Nic({ device: cap, mtu: 1500, rxDescriptors: 16, txDescriptors: 8, extraPages: 64 });
    nic.start({ receive: () => {} });
    dev.inject(frame(1));
    nic.poll();
    expect(readPcap(readFileSync(path)).records).toHaveLength(1);
    send(nic, frame(2));
    nic.flush();
    expect(readPcap(readFileSync(path)).records).toHaveLength(2);
    nic.close();
  });
});

describe('a pcapng capture between the fault injector halves', () => {
  it('notes loss, duplicates, delay, corruption and CE marks on the frames, and shows frames lost on the way out', () => {
    dir = mkdtempSync(join(tmpdir(), 'tapstack-capture-notes-'));
    const path = join(dir, 'n.pcapng');
    const clock = new ManualClock();
    const dev = new MemoryDevice();
    const seed = 7;
    const build = (rx: string, tx: string): { nic: Nic; rxFi: FaultInjectingDevice; txFi: FaultInjectingDevice } => {
      const spec = parseImpairments(`${rx};${tx}`, seed);
      const rxFi = new FaultInjectingDevice(dev, { ...spec, tx: noImpairment() }, clock);
      const cap = new CapturingDevice(rxFi, PcapngWriter.open(path, { interfaceName: 'mem0' }), clock, 0n, { flushEveryCall: true });
      const txFi = new FaultInjectingDevice(cap, { ...spec, rx: noImpairment() }, clock);
      const nic = new Nic({ device: txFi, mtu: 1500, rxDescriptors: 16, txDescriptors: 8, extraPages: 64 });
      return { nic, rxFi, txFi };
    };
    const { nic, rxFi, txFi } = build('rx:loss=100%', 'tx:loss=100%');
    let delivered = 0;
    nic.start({ receive: () => void delivered++ });
    dev.inject(ipv4Frame(1));
    nic.poll();
    send(nic, ipv4Frame(2));
    nic.flush();
    expect(delivered).toBe(0);
    expect(dev.written).toHaveLength(0);

    rxFi.setImpairments(parseImpairments('rx:dup=100%', seed));
    txFi.setImpairments(parseImpairments('tx:corrupt=100%', seed));
    dev.inject(ipv4Frame(3));
    nic.poll();
    nic.poll();
    send(nic, ipv4Frame(4));
    nic.flush();
    clock.advance(1);
    nic.flush();

    rxFi.setImpairments(parseImpairments('rx:delay=5ms', seed));
    txFi.setImpairments(parseImpairments('tx:mark=100%', seed));
    dev.inject(ipv4Frame(5));
    nic.poll();
    clock.advance(5);
    nic.poll();
    send(nic, ipv4Frame(6));
    nic.flush();
    nic.close();

    const recs = readPcapng(readFileSync(path)).records;
    const seen = recs.map((r) => [r.direction, r.data[recs[0]!.data.length - 1], r.comments.join()]);
    const id = (n: number): number => ipv4Frame(n)[59]!;
    expect(seen).toEqual([
      [1, id(1), 'fault injector: lost (not delivered)'],
      [2, id(2), 'fault injector: lost (not sent)'],
      [1, id(3), ''],
      [1, id(3), 'fault injector: duplicate'],
      [2, id(4), 'fault injector: corrupted (one bit flipped)'],
      [1, id(5), 'fault injector: delayed'],
      [2, id(6), 'fault injector: CE marked'],
    ]);
    expect(delivered).toBe(3);
  });
});
