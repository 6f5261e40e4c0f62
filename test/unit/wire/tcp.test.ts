import { describe, it, expect } from 'vitest';
import {
  TCP_HEADER_LEN,
  TCP_MAX_HEADER_LEN,
  TCP_CHECKSUM_OFFSET,
  TCPOPT_SACK,
  TcpFlag,
  TcpOptions,
  TcpSegment,
  checkTcp,
  emitTcpHeader,
  fillTcpChecksum,
  fillTcpPseudoChecksum,
  parseTcpOptions,
  tcpOptionsLength,
  type TcpHeaderFields,
  type TcpOptionsToEmit,
} from '../../../src/wire/tcp.js';
import { completePartialChecksum, onesComplementSum, pseudoHeaderSum } from '../../../src/wire/checksum.js';
import { parseIpv4 } from '../../../src/wire/addr.js';
import { IPPROTO_TCP } from '../../../src/wire/ipv4.js';
import { hex, mulberry32, randomBytes, randomInt, toHex } from './helpers.js';

/*
 * Captured from Linux 6.18 with tcpdump -xx on a veth pair between two namespaces,
 * 198.18.250.1 (curl) -> 198.18.250.2:8080 (nc -l). veth leaves TCP checksums CHECKSUM_PARTIAL,
 * so each checksum field holds only the pseudo-header sum (the virtio NEEDS_CSUM state:
 * csum_start 34, csum_offset 16).
 */
const A = parseIpv4('198.18.250.1');
const B = parseIpv4('198.18.250.2');
const E = 14;
const IP = 20;
const T = E + IP;

/** curl's SYN: mss 1460, sackOK, TS val 2158266989 ecr 0, nop, wscale 10 (tcp_ecn=2: no ECE). */
const SYN_FRAME = hex(`
  5685 0289 54f8 068e a760 2124 0800 4500
  003c 8bd3 4000 4006 2ebf c612 fa01 c612
  fa02 c092 1f90 cc75 2281 0000 0000 a002
  faf0 8058 0000 0204 05b4 0402 080a 80a4
  8a6d 0000 0000 0103 030a`);

/** The listener's SYN-ACK: mss 1460, sackOK, TS val 2929110443 ecr 2158266989, nop, wscale 10. */
const SYN_ACK_FRAME = hex(`
  068e a760 2124 5685 0289 54f8 0800 4500
  003c 0000 4000 4006 ba92 c612 fa02 c612
  fa01 1f90 c092 29d7 8fcd cc75 2282 a012
  fe88 8058 0000 0204 05b4 0402 080a ae96
  adab 80a4 8a6d 0103 030a`);

/** The handshake's ACK: nop, nop, TS; header 32, frame 66. */
const ACK_FRAME = hex(`
  5685 0289 54f8 068e a760 2124 0800 4500
  0034 8bd4 4000 4006 2ec6 c612 fa01 c612
  fa02 c092 1f90 cc75 2282 29d7 8fce 8010
  003f 8050 0000 0101 080a 80a4 8a6d ae96
  adab`);

/** PSH|ACK with curl's 81-byte request. */
const DATA_FRAME = hex(`
  5685 0289 54f8 068e a760 2124 0800 4500
  0085 8bd5 4000 4006 2e74 c612 fa01 c612
  fa02 c092 1f90 cc75 2282 29d7 8fce 8018
  003f 80a1 0000 0101 080a 80a4 8a6e ae96
  adab 4745 5420 2f20 4854 5450 2f31 2e31
  0d0a 486f 7374 3a20 3139 382e 3138 2e32
  3530 2e32 3a38 3038 300d 0a55 7365 722d
  4167 656e 743a 2063 7572 6c2f 372e 3838
  2e31 0d0a 4163 6365 7074 3a20 2a2f 2a0d
  0a0d 0a`);

/** SYN with net.ipv4.tcp_sack=0: mss, nop, nop, TS, nop, wscale. */
const SYN_NO_SACK_FRAME = hex(`
  5685 0289 54f8 068e a760 2124 0800 4500
  003c 43a9 4000 4006 76e9 c612 fa01 c612
  fa02 c1d4 1f90 f442 e360 0000 0000 a002
  faf0 8058 0000 0204 05b4 0101 080a 426b
  1e43 0000 0000 0103 030a`);

/** SYN with net.ipv4.tcp_timestamps=0: mss, nop, nop, sackOK, nop, wscale. */
const SYN_NO_TS_FRAME = hex(`
  5685 0289 54f8 068e a760 2124 0800 4500
  0034 1440 4000 4006 a65a c612 fa01 c612
  fa02 c1da 1f90 dbdf f06e 0000 0000 8002
  faf0 8050 0000 0204 05b4 0101 0402 0103
  030a`);

/** SYN with timestamps, SACK and window scaling all off: mss only. */
const SYN_MSS_ONLY_FRAME = hex(`
  5685 0289 54f8 068e a760 2124 0800 4500
  002c 7860 4000 4006 4242 c612 fa01 c612
  fa02 9cc6 1f90 2086 87a4 0000 0000 6002
  faf0 8048 0000 0204 05b4`);

interface Capture {
  name: string;
  frame: Uint8Array;
  src: number;
  dst: number;
  fields: TcpHeaderFields;
  opts: TcpOptionsToEmit;
}

const CAPTURES: Capture[] = [
  {
    name: 'SYN',
    frame: SYN_FRAME,
    src: A,
    dst: B,
    fields: { srcPort: 49298, dstPort: 8080, seq: 3430228609, ack: 0, flags: TcpFlag.SYN, window: 64240 },
    opts: { mss: 1460, sackPermitted: true, timestamp: { tsVal: 2158266989, tsEcr: 0 }, windowScale: 10 },
  },
  {
    name: 'SYN-ACK',
    frame: SYN_ACK_FRAME,
    src: B,
    dst: A,
    fields: {
      srcPort: 8080,
      dstPort: 49298,
      seq: 701992909,
      ack: 3430228610,
      flags: TcpFlag.SYN | TcpFlag.ACK,
      window: 65160,
    },
    opts: { mss: 1460, sackPermitted: true, timestamp: { tsVal: 2929110443, tsEcr: 2158266989 }, windowScale: 10 },
  },
  {
    name: 'ACK',
    frame: ACK_FRAME,
    src: A,
    dst: B,
    fields: { srcPort: 49298, dstPort: 8080, seq: 3430228610, ack: 701992910, flags: TcpFlag.ACK, window: 63 },
    opts: { timestamp: { tsVal: 2158266989, tsEcr: 2929110443 } },
  },
  {
    name: 'data',
    frame: DATA_FRAME,
    src: A,
    dst: B,
    fields: {
      srcPort: 49298,
      dstPort: 8080,
      seq: 3430228610,
      ack: 701992910,
      flags: TcpFlag.PSH | TcpFlag.ACK,
      window: 63,
    },
    opts: { timestamp: { tsVal: 2158266990, tsEcr: 2929110443 } },
  },
  {
    name: 'SYN without SACK',
    frame: SYN_NO_SACK_FRAME,
    src: A,
    dst: B,
    fields: { srcPort: 49620, dstPort: 8080, seq: 4098024288, ack: 0, flags: TcpFlag.SYN, window: 64240 },
    opts: { mss: 1460, timestamp: { tsVal: 1114316355, tsEcr: 0 }, windowScale: 10 },
  },
  {
    name: 'SYN without timestamps',
    frame: SYN_NO_TS_FRAME,
    src: A,
    dst: B,
    fields: { srcPort: 49626, dstPort: 8080, seq: 3688886382, ack: 0, flags: TcpFlag.SYN, window: 64240 },
    opts: { mss: 1460, sackPermitted: true, windowScale: 10 },
  },
  {
    name: 'SYN with MSS only',
    frame: SYN_MSS_ONLY_FRAME,
    src: A,
    dst: B,
    fields: { srcPort: 40134, dstPort: 8080, seq: 545687460, ack: 0, flags: TcpFlag.SYN, window: 64240 },
    opts: { mss: 1460 },
  },
];

/** The TCP segment of a captured frame, alone in its buffer. */
function segmentOf(frame: Uint8Array): Uint8Array {
  return frame.slice(T);
}

/** A segment with the given option bytes (padded to a word with EOL) and `payload` bytes. */
function withOptions(options: number[], payload = 0): Uint8Array {
  const optLen = (options.length + 3) & ~3;
  const buf = new Uint8Array(TCP_HEADER_LEN + optLen + payload);
  emitTcpHeader(buf, 0, { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TcpFlag.ACK, window: 5 });
  buf.set(options, TCP_HEADER_LEN);
  new TcpSegment(buf).dataOffset = TCP_HEADER_LEN + optLen;
  return buf;
}

function parsed(buf: Uint8Array): { reason: ReturnType<typeof parseTcpOptions>; o: TcpOptions } {
  const o = new TcpOptions();
  const reason = new TcpSegment(buf).parseOptions(o);
  return { reason, o };
}

describe('TCP view on captured segments', () => {
  it('reads the SYN from Linux', () => {
    const s = new TcpSegment(SYN_FRAME, T);
    expect(s.check()).toBeNull();
    expect(s.srcPort).toBe(49298);
    expect(s.dstPort).toBe(8080);
    expect(s.seq).toBe(3430228609);
    expect(s.ack).toBe(0);
    expect(s.dataOffset).toBe(40);
    expect(s.headerLength).toBe(40);
    expect(s.flags).toBe(TcpFlag.SYN);
    expect(s.window).toBe(64240);
    expect(s.checksum).toBe(0x8058);
    expect(s.urgentPointer).toBe(0);
    expect(s.optionsOffset).toBe(T + 20);
    expect(s.optionsEnd).toBe(T + 40);
    expect(s.payloadOffset).toBe(T + 40);
    expect(s.payloadLength).toBe(0);

    const o = new TcpOptions();
    expect(s.parseOptions(o)).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.sackPermitted).toBe(true);
    expect(o.hasTimestamp).toBe(true);
    expect(o.tsVal).toBe(2158266989);
    expect(o.tsEcr).toBe(0);
    expect(o.windowScale).toBe(10);
    expect(o.sackCount).toBe(0);
  });

  it('reads the data segment: 32-byte header, 81 bytes of request', () => {
    const s = new TcpSegment(DATA_FRAME, T);
    expect(s.check()).toBeNull();
    expect(s.headerLength).toBe(32);
    expect(E + IP + s.headerLength).toBe(66);
    expect(s.flags).toBe(TcpFlag.PSH | TcpFlag.ACK);
    expect(s.payloadOffset).toBe(66);
    expect(s.payloadLength).toBe(81);
    const text = new TextDecoder().decode(DATA_FRAME.subarray(s.payloadOffset, s.payloadOffset + 15));
    expect(text).toBe('GET / HTTP/1.1\r');
  });

  it.each(CAPTURES)('parses the $name to the fields and options tcpdump printed', (c) => {
    const s = new TcpSegment(c.frame, T);
    expect(s.check()).toBeNull();
    expect(s.srcPort).toBe(c.fields.srcPort);
    expect(s.dstPort).toBe(c.fields.dstPort);
    expect(s.seq).toBe(c.fields.seq);
    expect(s.ack).toBe(c.fields.ack);
    expect(s.flags).toBe(c.fields.flags);
    expect(s.window).toBe(c.fields.window);
    const o = new TcpOptions();
    expect(s.parseOptions(o)).toBeNull();
    expect(o.mss).toBe(c.opts.mss ?? -1);
    expect(o.windowScale).toBe(c.opts.windowScale ?? -1);
    expect(o.sackPermitted).toBe(c.opts.sackPermitted ?? false);
    expect(o.hasTimestamp).toBe(!!c.opts.timestamp);
    expect(o.tsVal).toBe(c.opts.timestamp?.tsVal ?? 0);
    expect(o.tsEcr).toBe(c.opts.timestamp?.tsEcr ?? 0);
    expect(o.sackCount).toBe(0);
  });

  it.each(CAPTURES)('emits the $name byte for byte, pseudo checksum included', (c) => {
    const seg = segmentOf(c.frame);
    const out = new Uint8Array(seg.length).fill(0xaa);
    out.set(seg.subarray(new TcpSegment(seg).headerLength), new TcpSegment(seg).headerLength);
    const hl = emitTcpHeader(out, 0, c.fields, c.opts);
    expect(hl).toBe(new TcpSegment(seg).headerLength);
    expect(hl).toBe(TCP_HEADER_LEN + tcpOptionsLength(c.opts));
    expect(out[TCP_CHECKSUM_OFFSET]).toBe(0);
    expect(out[TCP_CHECKSUM_OFFSET + 1]).toBe(0);
    fillTcpPseudoChecksum(out, 0, out.length, c.src, c.dst);
    expect(toHex(out)).toBe(toHex(seg));
  });

  it.each(CAPTURES)('completing the $name checksum verifies, and equals fillTcpChecksum', (c) => {
    const frame = c.frame.slice();
    completePartialChecksum(frame, T, TCP_CHECKSUM_OFFSET);
    const s = new TcpSegment(frame, T);
    expect(s.verifyChecksum(c.src, c.dst)).toBe(true);
    expect(s.verifyChecksum(c.dst, c.src)).toBe(true); // the pseudo header sum is symmetric
    expect(s.verifyChecksum(c.src, c.dst ^ 1)).toBe(false);
    const filled = c.frame.slice();
    new TcpSegment(filled, T).fillChecksum(c.src, c.dst);
    expect(toHex(filled)).toBe(toHex(frame));
    // The captured (partial) field does not verify as a full checksum.
    expect(new TcpSegment(c.frame, T).verifyChecksum(c.src, c.dst)).toBe(false);
  });
});

describe('TCP view setters', () => {
  it('writes each field without disturbing its neighbours', () => {
    const buf = segmentOf(SYN_FRAME);
    const s = new TcpSegment(buf);
    s.srcPort = 0xfffe;
    s.dstPort = 1;
    s.seq = 0xffffffff;
    s.ack = 0x80000001;
    s.window = 0xabcd;
    s.checksum = 0x1234;
    s.urgentPointer = 0xfedc;
    s.flags = TcpFlag.FIN | TcpFlag.URG | TcpFlag.CWR;
    expect(s.srcPort).toBe(0xfffe);
    expect(s.dstPort).toBe(1);
    expect(s.seq).toBe(0xffffffff);
    expect(s.ack).toBe(0x80000001);
    expect(s.window).toBe(0xabcd);
    expect(s.checksum).toBe(0x1234);
    expect(s.urgentPointer).toBe(0xfedc);
    expect(s.flags).toBe(0xa1);
    expect(s.dataOffset).toBe(40);
    buf[12] |= 0x0f; // reserved bits
    s.dataOffset = 60;
    expect(buf[12]).toBe(0xff);
    expect(s.headerLength).toBe(60);
    s.dataOffset = 20;
    expect(buf[12]).toBe(0x5f);
    expect(s.flags).toBe(0xa1);
    for (const bad of [16, 22, 64, 0, -4]) expect(() => (s.dataOffset = bad)).toThrow(RangeError);
  });

  it('reset re-points the view', () => {
    const s = new TcpSegment(SYN_FRAME, T);
    expect(s.reset(DATA_FRAME, T, DATA_FRAME.length - T)).toBe(s);
    expect(s.payloadLength).toBe(81);
    expect(s.reset(segmentOf(ACK_FRAME)).headerLength).toBe(32);
    expect(s.offset).toBe(0);
  });

  it('every flag has its own bit', () => {
    const all = Object.values(TcpFlag);
    expect(all.reduce((a, b) => a | b, 0)).toBe(0xff);
    expect(new Set(all).size).toBe(8);
  });
});

describe('TCP emit', () => {
  const H: TcpHeaderFields = {
    srcPort: 443,
    dstPort: 50000,
    seq: 0xfffffff0,
    ack: 0x10,
    flags: TcpFlag.ACK,
    window: 512,
  };

  it('timestamps only on data: exactly NOP NOP TS, header 32, frame headers 66', () => {
    const buf = new Uint8Array(40);
    const opts = { timestamp: { tsVal: 0x01020304, tsEcr: 0xa0b0c0d0 } };
    expect(tcpOptionsLength(opts)).toBe(12);
    const hl = emitTcpHeader(buf, 0, H, opts);
    expect(hl).toBe(32);
    expect(E + IP + hl).toBe(66);
    expect(toHex(buf.subarray(20, 32))).toBe('0101080a01020304a0b0c0d0');
    expect(buf[12]).toBe(0x80);
  });

  it('SYN with everything: MSS SACKOK TS NOP WS, 20 option bytes', () => {
    const buf = new Uint8Array(60);
    const opts = { mss: 1460, sackPermitted: true, timestamp: { tsVal: 1, tsEcr: 0 }, windowScale: 7 };
    expect(tcpOptionsLength(opts)).toBe(20);
    expect(emitTcpHeader(buf, 0, { ...H, flags: TcpFlag.SYN }, opts)).toBe(40);
    expect(toHex(buf.subarray(20, 40))).toBe('020405b4' + '0402080a' + '00000001' + '00000000' + '01030307');
  });

  it('SACK blocks follow timestamps as NOP NOP SACK', () => {
    const buf = new Uint8Array(60);
    const sack = new Uint32Array([0xfffffff0, 0x10, 100, 200, 300, 400, 7, 8]);
    const opts = { timestamp: { tsVal: 5, tsEcr: 6 }, sackBlocks: sack, sackBlockCount: 2 };
    expect(tcpOptionsLength(opts)).toBe(12 + 4 + 16);
    expect(emitTcpHeader(buf, 0, H, opts)).toBe(52);
    expect(toHex(buf.subarray(32, 52))).toBe('01010512' + 'fffffff0' + '00000010' + '00000064' + '000000c8');
    const { reason, o } = parsed(buf.subarray(0, 52));
    expect(reason).toBeNull();
    expect(o.sackCount).toBe(2);
    expect(Array.from(o.sack.subarray(0, 4))).toEqual([0xfffffff0, 0x10, 100, 200]);
    // Without a count, the whole array is the blocks.
    expect(tcpOptionsLength({ sackBlocks: sack.subarray(0, 6) })).toBe(4 + 24);
    expect(tcpOptionsLength({ sackBlocks: sack, sackBlockCount: 0 })).toBe(0);
    expect(tcpOptionsLength({ sackBlocks: sack, sackBlockCount: -1 })).toBe(0);
  });

  it('no options: a 20-byte header, checksum and reserved bits zero, urgent pointer written', () => {
    const buf = new Uint8Array(20).fill(0xff);
    expect(tcpOptionsLength()).toBe(0);
    expect(tcpOptionsLength({})).toBe(0);
    expect(tcpOptionsLength({ mss: -1, windowScale: -1, sackPermitted: false, timestamp: null })).toBe(0);
    expect(emitTcpHeader(buf, 0, { ...H, flags: TcpFlag.URG | TcpFlag.ACK, urgentPointer: 9 })).toBe(20);
    expect(toHex(buf)).toBe('01bbc350' + 'fffffff0' + '00000010' + '5030' + '0200' + '0000' + '0009');
    expect(emitTcpHeader(buf, 0, H, { mss: -1 })).toBe(20);
    expect(new TcpSegment(buf).urgentPointer).toBe(0);
  });

  it('writes at an offset and nowhere else', () => {
    const buf = new Uint8Array(100).fill(0xee);
    const hl = emitTcpHeader(buf, T, H, { timestamp: { tsVal: 1, tsEcr: 2 } });
    expect(buf.subarray(0, T).every((b) => b === 0xee)).toBe(true);
    expect(buf.subarray(T + hl).every((b) => b === 0xee)).toBe(true);
    expect(checkTcp(buf, T, hl)).toBeNull();
  });

  it('refuses what does not fit or is out of range', () => {
    const sack4 = new Uint32Array(8);
    const ts = { tsVal: 0, tsEcr: 0 };
    const emit60 = (opts: TcpOptionsToEmit) => emitTcpHeader(new Uint8Array(60), 0, H, opts);
    expect(() => emit60({ timestamp: ts, sackBlocks: sack4 })).toThrow(RangeError);
    expect(() => emit60({ sackBlocks: sack4, sackBlockCount: 5 })).toThrow(RangeError);
    expect(() => emit60({ sackBlocks: sack4.subarray(0, 3), sackBlockCount: 2 })).toThrow(RangeError);
    expect(() => emit60({ windowScale: 15 })).toThrow(RangeError);
    expect(() => emit60({ mss: 65536 })).toThrow(RangeError);
    expect(() => emit60({ mss: 1.5 })).toThrow(RangeError);
    expect(() => emitTcpHeader(new Uint8Array(31), 0, H, { timestamp: { tsVal: 0, tsEcr: 0 } })).toThrow(RangeError);
    expect(() => emitTcpHeader(new Uint8Array(40), 21, H)).toThrow(RangeError);
    expect(() => emitTcpHeader(new Uint8Array(40), -1, H)).toThrow(RangeError);
    // With timestamps three SACK blocks fit exactly: 12 + 4 + 24 = 40.
    expect(emit60({ timestamp: ts, sackBlocks: sack4, sackBlockCount: 3 })).toBe(60);
    expect(emit60({ sackBlocks: sack4 })).toBe(56);
  });

  it('round-trips every option combination', () => {
    const sack = new Uint32Array([0xfffffff0, 0x10, 0x7fffffff, 0x80000000, 1, 2, 0xffffffff, 0]);
    const buf = new Uint8Array(TCP_MAX_HEADER_LEN + 8);
    const o = new TcpOptions();
    const view = new TcpSegment(buf);
    let emitted = 0;
    let refused = 0;
    for (const mss of [undefined, -1, 0, 536, 1460, 65535])
      for (const windowScale of [undefined, -1, 0, 7, 14])
        for (const sackPermitted of [undefined, false, true])
          for (const ts of [undefined, null, { tsVal: 0xdeadbeef, tsEcr: 0 }, { tsVal: 1, tsEcr: 0xffffffff }])
            for (const blocks of [0, 1, 2, 3, 4]) {
              const opts: TcpOptionsToEmit = { mss, windowScale, sackPermitted, timestamp: ts };
              if (blocks > 0) {
                opts.sackBlocks = sack;
                opts.sackBlockCount = blocks;
              }
              const optLen = tcpOptionsLength(opts);
              expect(optLen % 4).toBe(0);
              if (optLen > 40) {
                expect(() => emitTcpHeader(buf, 0, H, opts)).toThrow(RangeError);
                refused++;
                continue;
              }
              buf.fill(0x5a);
              const hl = emitTcpHeader(buf, 0, H, opts);
              emitted++;
              expect(hl).toBe(20 + optLen);
              expect(checkTcp(buf, 0, hl + 8)).toBeNull();
              view.reset(buf, 0, hl + 8);
              expect(view.headerLength).toBe(hl);
              expect(view.payloadLength).toBe(8);
              expect([view.srcPort, view.dstPort, view.seq, view.ack, view.flags, view.window]).toEqual([
                H.srcPort,
                H.dstPort,
                H.seq,
                H.ack,
                H.flags,
                H.window,
              ]);
              expect(view.checksum).toBe(0);
              expect(view.urgentPointer).toBe(0);
              expect(view.parseOptions(o)).toBeNull();
              expect(o.mss).toBe(mss ?? -1);
              expect(o.windowScale).toBe(windowScale ?? -1);
              expect(o.sackPermitted).toBe(sackPermitted ?? false);
              expect(o.hasTimestamp).toBe(!!ts);
              expect([o.tsVal, o.tsEcr]).toEqual(ts ? [ts.tsVal, ts.tsEcr] : [0, 0]);
              expect(o.sackCount).toBe(blocks);
              expect(Array.from(o.sack.subarray(0, 2 * blocks))).toEqual(Array.from(sack.subarray(0, 2 * blocks)));
              // Only option bytes were written: no EOL-padded tail, no byte left over.
              expect(buf[hl]).toBe(0x5a);
            }
    expect(emitted).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(0);
  });
});

describe('TCP options: the length rules', () => {
  const TS = [8, 10, 0, 0, 0, 1, 0, 0, 0, 2];

  it.each([
    ['length 0', [0xfe, 0]],
    ['length 1', [0xfe, 1]],
    ['length 0 on a known kind', [2, 0]],
    ['length 1 on a known kind', [8, 1]],
    ['length past the header', [0xfe, 6, 0, 0]],
    ['length past the header after a good option', [...TS, 0xfe, 3]],
    ['kind as the last byte, no room for its length', [1, 1, 1, 0xfe]],
    ['MSS length 3', [2, 3, 5, 1]],
    ['MSS length 5', [2, 5, 5, 0xb4, 0]],
    ['MSS length 2', [2, 2]],
    ['window scale length 2', [3, 2]],
    ['window scale length 4', [3, 4, 7, 0]],
    ['SACK-permitted length 3', [4, 3, 0]],
    ['SACK-permitted length 4', [4, 4, 0, 0]],
    ['timestamps length 8', [8, 8, 0, 0, 0, 1, 0, 0]],
    ['timestamps length 11', [8, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0]],
    ['SACK with no block (length 2)', [5, 2]],
    ['SACK length 9', [5, 9, 0, 0, 0, 1, 0, 0, 0]],
    ['SACK length 11', [5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0]],
    ['SACK length 17', [5, 17, ...new Array(15).fill(0)]],
  ])('%s rejects the segment', (_name, options) => {
    const buf = withOptions(options as number[], 4);
    expect(checkTcp(buf, 0, buf.length)).toBe('tcp-bad-options');
    const o = new TcpOptions();
    o.mss = 1234;
    expect(new TcpSegment(buf).parseOptions(o)).toBe('tcp-bad-options');
    // A failed parse leaves nothing half-filled.
    expect([o.mss, o.windowScale, o.sackPermitted, o.hasTimestamp, o.sackCount]).toEqual([-1, -1, false, false, 0]);
  });

  it('five SACK blocks (length 42) are rejected', () => {
    // 42 bytes cannot fit in a real header; given the room, the count itself is refused.
    const opts = new Uint8Array(44);
    opts.set([1, 1, TCPOPT_SACK, 42]);
    const o = new TcpOptions();
    expect(parseTcpOptions(opts, 0, 44, o)).toBe('tcp-bad-options');
    // In a header: the longest options area is 40 bytes, so it runs past the header.
    const buf = withOptions([1, 1, TCPOPT_SACK, 42, ...new Array(36).fill(0)]);
    expect(new TcpSegment(buf).headerLength).toBe(60);
    expect(checkTcp(buf, 0, buf.length)).toBe('tcp-bad-options');
    // Four blocks are fine.
    opts[3] = 34;
    expect(parseTcpOptions(opts, 0, 44, o)).toBeNull();
    expect(o.sackCount).toBe(4);
  });

  it('unknown options are skipped by their length', () => {
    // An experimental option (RFC 6994, kind 254), an MPTCP-sized one (kind 30, 12 bytes), then
    // timestamps, then MSS.
    const buf = withOptions([0xfe, 4, 0xf9, 0x89, 30, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...TS, 2, 4, 0x05, 0xb4], 3);
    expect(checkTcp(buf, 0, buf.length)).toBeNull();
    const { reason, o } = parsed(buf);
    expect(reason).toBeNull();
    expect(o.hasTimestamp).toBe(true);
    expect([o.tsVal, o.tsEcr]).toEqual([1, 2]);
    expect(o.mss).toBe(1460);
    // An unknown option whose length is exactly what is left is fine.
    expect(checkTcp(withOptions([1, 0x99, 6, 0, 0, 0, 1, 1]), 0, 28)).toBeNull();
  });

  it('EOL stops parsing: what follows is padding, even garbage', () => {
    const buf = withOptions([2, 4, 0x05, 0xb4, 0, 2, 0, 8, 1, 3, 3, 9]);
    expect(checkTcp(buf, 0, buf.length)).toBeNull();
    const { reason, o } = parsed(buf);
    expect(reason).toBeNull();
    expect(o.mss).toBe(1460);
    expect(o.windowScale).toBe(-1); // after EOL, not read
    // EOL first: no options at all.
    const first = parsed(withOptions([0, 2, 4, 5, 0xb4]));
    expect(first.reason).toBeNull();
    expect(first.o.mss).toBe(-1);
  });

  it('NOPs alone are fine', () => {
    expect(checkTcp(withOptions(new Array(40).fill(1)), 0, 60)).toBeNull();
  });

  it.each([
    [15, 14],
    [255, 14],
    [14, 14],
    [0, 0],
  ])('window scale %i is taken as %i (RFC 7323 2.3)', (shift, want) => {
    const buf = withOptions([1, 3, 3, shift]);
    expect(checkTcp(buf, 0, buf.length)).toBeNull();
    expect(parsed(buf).o.windowScale).toBe(want);
  });

  it('a repeated option: the last wins', () => {
    const buf = withOptions([
      2, 4, 0x05, 0xb4, 2, 4, 0x02, 0x18, 3, 3, 2, 3, 3, 5, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0, 3, 0,
      0, 0, 4,
    ]);
    const { reason, o } = parsed(buf);
    expect(reason).toBeNull();
    expect(o.mss).toBe(536);
    expect(o.windowScale).toBe(5);
    expect(o.sackCount).toBe(1);
    expect(Array.from(o.sack.subarray(0, 2))).toEqual([3, 4]);
  });

  it('clears the previous parse', () => {
    const o = new TcpOptions();
    expect(new TcpSegment(SYN_FRAME, T).parseOptions(o)).toBeNull();
    expect(o.mss).toBe(1460);
    expect(new TcpSegment(ACK_FRAME, T).parseOptions(o)).toBeNull();
    expect([o.mss, o.windowScale, o.sackPermitted, o.hasTimestamp]).toEqual([-1, -1, false, true]);
    expect(parseTcpOptions(new Uint8Array(0), 0, 0, o)).toBeNull();
    expect([o.hasTimestamp, o.tsVal, o.tsEcr]).toEqual([false, 0, 0]);
  });

  it('options that do not lie in the buffer are truncated, not read', () => {
    const o = new TcpOptions();
    const buf = new Uint8Array([1, 1, 1, 1]);
    expect(parseTcpOptions(buf, 0, 5, o)).toBe('tcp-truncated');
    expect(parseTcpOptions(buf, -1, 4, o)).toBe('tcp-truncated');
    expect(parseTcpOptions(buf, 3, 2, o)).toBe('tcp-truncated');
    expect(parseTcpOptions(buf, 4, 4, o)).toBeNull();
  });
});

describe('checkTcp', () => {
  it('truncated at every length below the header', () => {
    const seg = segmentOf(SYN_FRAME); // header 40
    for (let n = 0; n < 40; n++) {
      const cut = seg.slice(0, n);
      // The buffer and the segment length both cut.
      expect(checkTcp(cut, 0, n)).toBe(n < 20 ? 'tcp-truncated' : 'tcp-bad-data-offset');
      // The segment length says 40, the buffer holds less: the buffer was cut.
      expect(checkTcp(cut, 0, 40)).toBe('tcp-truncated');
      // The buffer holds it all, the segment length says less.
      expect(checkTcp(seg, 0, n)).toBe(n < 20 ? 'tcp-truncated' : 'tcp-bad-data-offset');
    }
    expect(checkTcp(seg, 0, 40)).toBeNull();
    expect(checkTcp(SYN_FRAME, T, 40)).toBeNull();
    expect(checkTcp(SYN_FRAME, T + 1, 39)).not.toBeNull();
    expect(checkTcp(SYN_FRAME, SYN_FRAME.length + 5, 40)).toBe('tcp-truncated');
    expect(checkTcp(SYN_FRAME, -1, 40)).toBe('tcp-truncated');
  });

  it('header split: only the header need be in the buffer', () => {
    const header = DATA_FRAME.slice(0, 66);
    const s = new TcpSegment(header, T, DATA_FRAME.length - T);
    expect(s.check()).toBeNull();
    expect(s.payloadLength).toBe(81);
  });

  it('bad data offset 0..4 and beyond the length', () => {
    for (let doff = 0; doff < 5; doff++) {
      const seg = segmentOf(DATA_FRAME);
      seg[12] = (doff << 4) | (seg[12] & 0x0f);
      expect(checkTcp(seg, 0, seg.length)).toBe('tcp-bad-data-offset');
    }
    const seg = segmentOf(ACK_FRAME); // 32 bytes, no data
    for (let doff = 9; doff < 16; doff++) {
      seg[12] = doff << 4;
      expect(checkTcp(seg, 0, seg.length)).toBe('tcp-bad-data-offset');
    }
    // Beyond the length given, though the buffer has the bytes.
    const data = segmentOf(DATA_FRAME);
    expect(checkTcp(data, 0, 31)).toBe('tcp-bad-data-offset');
    expect(checkTcp(data, 0, 32)).toBeNull();
  });

  it('data offset 5: no options, nothing else read', () => {
    const buf = new Uint8Array(20);
    buf[12] = 0x50;
    expect(checkTcp(buf, 0, 20)).toBeNull();
    expect(checkTcp(buf, 0, 1500)).toBeNull(); // data elsewhere
  });
});

describe('TCP checksum', () => {
  it('fill and verify with the pseudo header', () => {
    const seg = segmentOf(DATA_FRAME);
    const s = new TcpSegment(seg);
    s.fillChecksum(A, B);
    expect(s.verifyChecksum(A, B)).toBe(true);
    expect(s.checksum).not.toBe(0x80a1);
    const copy = seg.slice();
    fillTcpChecksum(copy, 0, copy.length, A, B);
    expect(toHex(copy)).toBe(toHex(seg));
    // The pseudo header matters: other addresses or a cut length fail.
    expect(s.verifyChecksum(A, parseIpv4('198.18.250.3'))).toBe(false);
    expect(new TcpSegment(seg, 0, seg.length - 1).verifyChecksum(A, B)).toBe(false);
    // So does every byte of the segment.
    for (let i = 0; i < seg.length; i++) {
      seg[i] ^= 0x40;
      expect(s.verifyChecksum(A, B)).toBe(false);
      seg[i] ^= 0x40;
    }
    expect(s.verifyChecksum(A, B)).toBe(true);
  });

  it('a computed 0 is stored as 0xffff, which verifies', () => {
    const seg = segmentOf(ACK_FRAME);
    const s = new TcpSegment(seg);
    s.urgentPointer = 0;
    s.fillChecksum(A, B);
    // Putting the checksum in the urgent pointer makes the sum all ones: the checksum is 0.
    s.urgentPointer = s.checksum;
    s.fillChecksum(A, B);
    expect(s.checksum).toBe(0xffff);
    expect(s.verifyChecksum(A, B)).toBe(true);
  });

  it('the pseudo checksum is the folded, uncomplemented pseudo-header sum', () => {
    const buf = new Uint8Array(20);
    fillTcpPseudoChecksum(buf, 0, 1480, A, B);
    expect(new TcpSegment(buf).checksum).toBe(pseudoHeaderSum(A, B, IPPROTO_TCP, 1480));
    // The header alone is enough: the data is the completer's.
    expect(() => fillTcpPseudoChecksum(new Uint8Array(19), 0, 20, A, B)).toThrow(RangeError);
    expect(() => fillTcpPseudoChecksum(buf, 0, 19, A, B)).toThrow(RangeError);
    expect(() => fillTcpChecksum(buf, 0, 21, A, B)).toThrow(RangeError);
  });

  it('property: pseudo checksum + completePartialChecksum gives the same bytes as fillTcpChecksum', () => {
    const rand = mulberry32(0x7c9);
    const ts = { tsVal: 0, tsEcr: 0 };
    for (let t = 0; t < 500; t++) {
      const src = (rand() * 2 ** 32) >>> 0;
      const dst = (rand() * 2 ** 32) >>> 0;
      const payload = randomInt(rand, 0, rand() < 0.1 ? 9000 : 200);
      const frame = randomBytes(rand, T + 60 + payload);
      ts.tsVal = (rand() * 2 ** 32) >>> 0;
      const hl = emitTcpHeader(
        frame,
        T,
        { srcPort: randomInt(rand, 0, 65535), dstPort: 80, seq: ts.tsVal, ack: 7, flags: TcpFlag.ACK, window: 100 },
        rand() < 0.5 ? { timestamp: ts } : undefined,
      );
      const len = hl + payload;
      const end = T + len;
      const a = frame.slice(0, end);
      const b = frame.slice(0, end);
      fillTcpChecksum(a, T, len, src, dst);
      fillTcpPseudoChecksum(b, T, len, src, dst);
      completePartialChecksum(b, T, TCP_CHECKSUM_OFFSET);
      expect(toHex(b)).toBe(toHex(a));
      expect(new TcpSegment(a, T).verifyChecksum(src, dst)).toBe(true);
      // And chaining over a header buffer and a page, as a split frame is summed.
      const init = pseudoHeaderSum(src, dst, IPPROTO_TCP, len);
      const head = onesComplementSum(a, T, T + hl, init);
      expect(onesComplementSum(a, T + hl, end, head)).toBe(0xffff);
    }
  });
});

describe('property: checkTcp and parseTcpOptions on random and mutated input', () => {
  const SEEDS = CAPTURES.map((c) => segmentOf(c.frame));

  it.each([1, 2, 3, 0xdecafbad])('never throw, and agree (seed %i)', (seed) => {
    const rand = mulberry32(seed);
    const o = new TcpOptions();
    const view = new TcpSegment(SEEDS[0]!);
    let accepted = 0;
    let withOptionsAccepted = 0;
    for (let t = 0; t < 3000; t++) {
      let buf: Uint8Array;
      const r = rand();
      if (r < 0.25) {
        buf = randomBytes(rand, randomInt(rand, 0, 80));
      } else if (r < 0.5) {
        // A plausible header with random option bytes.
        buf = randomBytes(rand, randomInt(rand, 20, 80));
        const optLen = randomInt(rand, 0, Math.min(40, buf.length - 20)) & ~3;
        buf[12] = ((20 + optLen) >>> 2) << 4;
        if (rand() < 0.5) for (let i = 20; i < 20 + optLen; i++) buf[i] = rand() < 0.5 ? buf[i]! % 10 : buf[i]!;
      } else {
        const base = SEEDS[randomInt(rand, 0, SEEDS.length - 1)]!;
        buf = base.slice(0, rand() < 0.3 ? randomInt(rand, 0, base.length) : base.length);
        const flips = randomInt(rand, 0, 3);
        for (let i = 0; i < flips && buf.length > 0; i++) {
          // Mostly in the data offset, flags and options.
          const at =
            rand() < 0.7
              ? randomInt(rand, 12, Math.min(buf.length, 60) - 1)
              : randomInt(rand, 0, buf.length - 1);
          if (at < 0 || at >= buf.length) continue;
          buf[at] = rand() < 0.5 ? (rand() * 256) | 0 : buf[at]! ^ (1 << randomInt(rand, 0, 7));
        }
      }
      const off = rand() < 0.9 ? 0 : randomInt(rand, -2, buf.length + 2);
      const len = rand() < 0.85 ? Math.max(0, buf.length - off) : randomInt(rand, 0, 200);

      let reason: ReturnType<typeof checkTcp> = null;
      expect(() => (reason = checkTcp(buf, off, len))).not.toThrow();
      const start = randomInt(rand, -2, buf.length + 2);
      const stop = randomInt(rand, -2, buf.length + 2);
      expect(() => parseTcpOptions(buf, start, stop, o)).not.toThrow();
      expect(o.mss >= -1 && o.mss <= 0xffff && o.windowScale >= -1 && o.windowScale <= 14).toBe(true);
      expect(o.sackCount >= 0 && o.sackCount <= 4).toBe(true);

      if (reason === null) {
        accepted++;
        view.reset(buf, off, len);
        const hl = view.headerLength;
        expect(hl >= 20 && hl <= 60 && hl <= len && off + hl <= buf.length).toBe(true);
        expect(view.payloadLength).toBeGreaterThanOrEqual(0);
        expect(view.parseOptions(o)).toBeNull();
        if (hl > 20) withOptionsAccepted++;
        expect(o.windowScale).toBeLessThanOrEqual(14);
        expect(o.sackCount).toBeLessThanOrEqual(4);
      } else if (reason === 'tcp-bad-options') {
        view.reset(buf, off, len);
        expect(view.parseOptions(o)).toBe('tcp-bad-options');
        expect([o.mss, o.windowScale, o.sackCount, o.hasTimestamp]).toEqual([-1, -1, 0, false]);
      }
    }
    expect(accepted).toBeGreaterThan(300);
    expect(withOptionsAccepted).toBeGreaterThan(100);
  });
});
