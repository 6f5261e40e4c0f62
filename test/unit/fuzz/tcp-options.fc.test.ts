/**
 * Property tests (fast-check) for TCP option parsing (RFC 9293 3.1 and 3.2, RFC 7323, RFC 2018):
 * the verdict and the values are the model's for any list of good, unknown and malformed
 * options; a malformed option is a clean reject ('tcp-bad-options', nothing half-filled), never
 * a throw; nothing is read outside the options area, and a SACK option's blocks come from that
 * option only.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TcpOptions, checkTcp, parseTcpOptions } from '../../../src/wire/tcp.js';
import {
  run,
  hostile,
  layoutTcpOptions,
  optionLength,
  readRecorder,
  tcpHeaderFields,
  tcpHeaderOptions,
  tcpOptionItem,
  tcpSegmentBytes,
  tcpTail,
  u8,
  validTcpOptionLength,
  type TcpOptionsModel,
} from './arbitraries.js';

/** A TcpOptions left dirty by an earlier parse: every parse must start from clear. */
function dirtyOptions(): TcpOptions {
  const o = new TcpOptions();
  Object.assign(o, { mss: 9999, windowScale: 7, sackPermitted: true, hasTimestamp: true, tsVal: 1, tsEcr: 2, sackCount: 3 });
  return o;
}

function expectModel(o: TcpOptions, m: TcpOptionsModel): void {
  expect([o.mss, o.windowScale, o.sackPermitted, o.hasTimestamp, o.tsVal, o.tsEcr]).toEqual([
    m.mss, m.windowScale, m.sackPermitted, m.hasTimestamp, m.tsVal, m.tsEcr,
  ]);
  expect(o.sackCount).toBe(m.sack.length / 2);
  expect(Array.from(o.sack.subarray(0, m.sack.length))).toEqual(m.sack);
}

/** Lays `area` out at `before` bytes into a buffer with `after` sentinel bytes behind it. */
function embed(area: Uint8Array, before: number, after: number, fill: number): Uint8Array {
  const buf = new Uint8Array(before + area.length + after).fill(fill);
  buf.set(area, before);
  return buf;
}

describe('parseTcpOptions', () => {
  it('any list of good, unknown and malformed options: the model\'s verdict and values, reads only inside', () => {
    run(
      fc.property(
        fc.array(tcpOptionItem, { maxLength: 10 }),
        tcpTail,
        fc.integer({ min: 0, max: 80 }),
        fc.nat({ max: 8 }),
        fc.nat({ max: 8 }),
        u8,
        (items, tail, max, before, after, fill) => {
          const { bytes, model } = layoutTcpOptions(items, tail, max, false);
          const buf = embed(bytes, before, after, fill);
          const { view, reads } = readRecorder(buf);
          const o = dirtyOptions();
          expect(parseTcpOptions(view, before, before + bytes.length, o)).toBe(model.reason);
          expectModel(o, model);
          for (const i of reads) {
            expect(i).toBeGreaterThanOrEqual(before);
            expect(i).toBeLessThan(before + bytes.length);
          }
        },
      ),
    );
  });

  it('SACK of any length: 2 + 8n with n in 1..4 gives exactly those n blocks, anything else rejects (RFC 2018 3)', () => {
    run(
      fc.property(
        optionLength(0, 255),
        fc.nat({ max: 40 }),
        fc.uint8Array({ minLength: 80, maxLength: 80 }),
        u8,
        (len, slack, data, fill) => {
          // The option, then `slack` bytes of other data still inside the area (up to the end).
          const area = new Uint8Array(Math.max(2, Math.min(len, 74)) + slack);
          area[0] = 5;
          area[1] = len;
          area.set(data.subarray(0, area.length - 2), 2);
          const buf = embed(area, 4, 8, fill);
          const o = dirtyOptions();
          const reason = parseTcpOptions(buf, 4, 4 + area.length, o);
          const n = (len - 2) / 8;
          const fits = len <= area.length;
          if (fits && validTcpOptionLength(5, len)) {
            // What follows the option is parsed as options in its own right; only the verdict on
            // the SACK itself is asserted here, and its blocks.
            if (reason === null) {
              expect(o.sackCount).toBeGreaterThanOrEqual(1);
              expect(o.sackCount).toBeLessThanOrEqual(4);
            }
            const only = new TcpOptions();
            expect(parseTcpOptions(buf, 4, 4 + len, only)).toBeNull();
            expect(only.sackCount).toBe(n);
            const view = new DataView(area.buffer, area.byteOffset + 2, 8 * n);
            for (let b = 0; b < 2 * n; b++) expect(only.sack[b]).toBe(view.getUint32(4 * b));
          } else {
            expect(reason).toBe('tcp-bad-options');
            expect(o.sackCount).toBe(0);
          }
        },
      ),
    );
  });

  it('any bytes and any bounds: never throws, truncated exactly when the area is not in the buffer', () => {
    run(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.integer({ min: -4, max: 70 }),
        fc.integer({ min: -4, max: 70 }),
        (bytes, start, end) => {
          const { view, reads } = readRecorder(bytes);
          const o = dirtyOptions();
          const reason = parseTcpOptions(view, start, end, o);
          const outside = start < 0 || end > bytes.length || start > end;
          if (outside) {
            expect(reason).toBe('tcp-truncated');
            expect(reads).toEqual([]);
          } else {
            expect([null, 'tcp-bad-options']).toContain(reason);
            for (const i of reads) expect(i >= start && i < end).toBe(true);
          }
          expect(o.mss).toBeGreaterThanOrEqual(-1);
          expect(o.mss).toBeLessThanOrEqual(0xffff);
          expect(o.windowScale).toBeGreaterThanOrEqual(-1);
          expect(o.windowScale).toBeLessThanOrEqual(14);
          expect(o.sackCount).toBeGreaterThanOrEqual(0);
          expect(o.sackCount).toBeLessThanOrEqual(4);
          if (reason !== null) {
            expectModel(o, { reason: null, mss: -1, windowScale: -1, sackPermitted: false, hasTimestamp: false, tsVal: 0, tsEcr: 0, sack: [] });
          }
        },
      ),
    );
  });
});

describe('checkTcp', () => {
  it('reads only the header, and agrees with parseTcpOptions on its options', () => {
    const segments = fc
      .tuple(tcpHeaderFields, tcpHeaderOptions, fc.uint8Array({ maxLength: 24 }))
      .map(([h, opts, payload]) => tcpSegmentBytes(h, opts.bytes, payload));
    run(
      fc.property(hostile(segments, 80), ({ buf, off, len }) => {
        const { view, reads } = readRecorder(buf);
        const reason = checkTcp(view, off, len);
        const hl = off >= 0 && off + 12 < buf.length ? (buf[off + 12]! >>> 4) << 2 : 0;
        for (const i of reads) {
          expect(i).toBeGreaterThanOrEqual(off);
          expect(i).toBeLessThan(Math.min(buf.length, off + Math.max(20, hl)));
        }
        if (reason === null || reason === 'tcp-bad-options') {
          expect(parseTcpOptions(buf, off + 20, off + hl, new TcpOptions())).toBe(reason);
        }
      }),
    );
  });
});
