/** The iperf3 control protocol's units, parameters, results and report formats, without a network. */
import { describe, expect, it } from 'vitest';
import { COOKIE_SIZE, ControlReader, cookieText, encodeJson, encodeServerError, encodeState, Iperf3Error, makeCookie, MAX_PARAMS_JSON, State } from '../../../src/apps/iperf3/protocol.js';
import { byteLimit, paramsJson, parseParams, ParamsRefused, streamId, streamSenders, type TestParams } from '../../../src/apps/iperf3/params.js';
import { parseResults, resultsJson } from '../../../src/apps/iperf3/results.js';
import { bwLine, endJson, formatBytes, formatRate, intervalJson, summaryLines, type Outcome } from '../../../src/apps/iperf3/report.js';
import { parseIperf3, parseSize, splitIperf3Args } from '../../../src/cli/iperf3.js';

const COOKIE = Buffer.concat([Buffer.from('abcdefghijklmnopqrstuvwxyz2345672345'), Buffer.from([0])]);
const zero = { flippedBytes: 0, flippedPages: 0, copiedBytes: {}, sendByReferenceBytes: 0, sendCopiedBytes: {}, completions: 0, completionsCopied: 0 };

/** What iperf3 3.12's client sends for `iperf3 -c H -t 1 -R -P 2`. */
const CLIENT_PARAMS = { tcp: true, omit: 0, time: 1, num: 0, blockcount: 0, parallel: 2, reverse: true, len: 131072, pacing_timer: 1000, client_version: '3.12' };

function params(over: Partial<TestParams> = {}): TestParams {
  return { ...parseParams({ ...CLIENT_PARAMS }), ...over };
}

describe('control units', () => {
  it('reads each unit whole, whatever the segment boundaries', () => {
    const wire = Buffer.concat([COOKIE, encodeState(State.PARAM_EXCHANGE), encodeJson(CLIENT_PARAMS), encodeServerError(6, 22)]);
    const r = new ControlReader();
    const got: unknown[] = [];
    // One byte at a time: every read returns null until its unit is complete.
    let phase = 0;
    for (const b of wire) {
      r.push(Uint8Array.of(b));
      for (;;) {
        const v = phase === 0 ? r.readCookie() : phase === 1 ? r.readState() : phase === 2 ? r.readJson(MAX_PARAMS_JSON) : phase === 3 ? r.readState() : phase === 4 ? r.readInt32() : phase === 5 ? r.readInt32() : null;
        if (v === null) break;
        got.push(v);
        phase++;
      }
    }
    expect(got).toEqual([COOKIE.toString('latin1', 0, 36), State.PARAM_EXCHANGE, CLIENT_PARAMS, State.SERVER_ERROR, 6, 22]);
    expect(r.buffered).toBe(0);
  });

  it('reads ACCESS_DENIED and SERVER_ERROR as signed bytes', () => {
    const r = new ControlReader();
    r.push(Buffer.from([0xff, 0xfe]));
    expect([r.readState(), r.readState(), r.readState()]).toEqual([State.ACCESS_DENIED, State.SERVER_ERROR, null]);
  });

  it('refuses a JSON length of zero or above the bound before the bytes arrive', () => {
    for (const len of [0, MAX_PARAMS_JSON + 1, 0xffffffff]) {
      const r = new ControlReader();
      const b = Buffer.alloc(4);
      b.writeUInt32BE(len);
      r.push(b);
      expect(() => r.readJson(MAX_PARAMS_JSON)).toThrow(expect.objectContaining({ code: 'json-length' }));
    }
  });

  it('refuses text that is not a JSON object', () => {
    for (const text of ['hello', '[1,2]', 'null', '42', '{"a":']) {
      const r = new ControlReader();
      const t = Buffer.from(text);
      const b = Buffer.alloc(4);
      b.writeUInt32BE(t.length);
      r.push(Buffer.concat([b, t]));
      expect(() => r.readJson(MAX_PARAMS_JSON)).toThrow(expect.objectContaining({ code: 'json-syntax' }));
    }
  });

  it('makes cookies of 36 characters of iperf3 alphabet and a NUL, and checks received ones', () => {
    let n = 0;
    const c = makeCookie((b) => b.forEach((_, i) => (b[i] = n++ * 7)));
    expect(c.length).toBe(COOKIE_SIZE);
    expect(c[36]).toBe(0);
    expect(cookieText(c)).toMatch(/^[a-z2-7]{36}$/);
    expect(() => cookieText(Buffer.alloc(37, 0x61))).toThrow(/terminating NUL/);
    expect(() => cookieText(Buffer.alloc(37))).toThrow(/empty cookie/);
    const bad = Buffer.from(COOKIE);
    bad[3] = 0x0a;
    expect(() => cookieText(bad)).toThrow(Iperf3Error);
  });
});

describe('parameters', () => {
  it("reads iperf3 3.12's parameters and writes the same shape back", () => {
    const p = parseParams({ ...CLIENT_PARAMS });
    expect(p).toMatchObject({ time: 1, num: 0, parallel: 2, reverse: true, bidirectional: false, len: 131072 });
    expect(paramsJson(p)).toEqual(CLIENT_PARAMS);
  });

  it('refuses what tapstack does not serve, with the code iperf3 uses', () => {
    const refused = (j: Record<string, unknown>) => {
      try {
        parseParams(j);
      } catch (e) {
        expect(e).toBeInstanceOf(ParamsRefused);
        return (e as ParamsRefused).ierrno;
      }
      return null;
    };
    expect(refused({ ...CLIENT_PARAMS, tcp: undefined, udp: true })).toBe(131);
    expect(refused({ ...CLIENT_PARAMS, bandwidth: 1000000 })).toBe(13);
    expect(refused({ ...CLIENT_PARAMS, omit: 2 })).toBe(13);
    expect(refused({ ...CLIENT_PARAMS, parallel: 129 })).toBe(6);
    expect(refused({ ...CLIENT_PARAMS, parallel: '2' })).toBe(6);
    expect(refused({ ...CLIENT_PARAMS, len: 2 * 1024 * 1024 })).toBe(7);
    expect(refused({ ...CLIENT_PARAMS, time: 1e9 })).toBe(5);
    expect(refused({ ...CLIENT_PARAMS, bidirectional: true })).toBe(25);
    expect(refused({ ...CLIENT_PARAMS, time: 0 })).toBe(114);
    expect(refused({ ...CLIENT_PARAMS, authtoken: 'x' })).toBe(142);
  });

  it('assigns directions as iperf3 does: the client opens its senders first, the server takes them as receivers', () => {
    expect(streamSenders(params({ reverse: false, parallel: 2 }), 'client')).toEqual([true, true]);
    expect(streamSenders(params({ reverse: false, parallel: 2 }), 'server')).toEqual([false, false]);
    expect(streamSenders(params({ reverse: true, parallel: 1 }), 'server')).toEqual([true]);
    expect(streamSenders(params({ reverse: false, bidirectional: true, parallel: 2 }), 'client')).toEqual([true, true, false, false]);
    expect(streamSenders(params({ reverse: false, bidirectional: true, parallel: 2 }), 'server')).toEqual([false, false, true, true]);
    expect([0, 1, 2, 3].map(streamId)).toEqual([1, 3, 4, 5]);
  });

  it('ends by bytes with -n, by blocks of -l with -k, else by time', () => {
    expect(byteLimit(params({ num: 8 << 20 }))).toBe(8 << 20);
    expect(byteLimit(params({ blockcount: 10, len: 1000 }))).toBe(10000);
    expect(byteLimit(params())).toBe(Infinity);
  });
});

describe('results', () => {
  const mine = resultsJson({ cpu: { total: 3, user: 1, system: 2 }, receiverOnly: true, congestion: 'cubic', streams: [{ id: 1, bytes: 1000, seconds: 1.5, retransmits: 0 }], zeroCopy: zero });

  it('writes what get_results requires, and reads it back', () => {
    expect(mine).toMatchObject({ sender_has_retransmits: -1, streams: [{ id: 1, bytes: 1000, retransmits: -1, jitter: 0, errors: 0, packets: 0, start_time: 0, end_time: 1.5 }], tapstack: zero });
    const back = parseResults(JSON.parse(JSON.stringify(mine)), new Set([1]));
    expect(back.streams.get(1)).toEqual({ bytes: 1000, seconds: 1.5, retransmits: -1 });
    expect(back.cpu).toEqual({ total: 3, user: 1, system: 2 });
  });

  it("gives a sending side's retransmissions per stream", () => {
    const sent = resultsJson({ cpu: { total: 3, user: 1, system: 2 }, receiverOnly: false, congestion: 'cubic', streams: [{ id: 1, bytes: 1000, seconds: 1.5, retransmits: 7 }], zeroCopy: zero });
    expect(sent).toMatchObject({ sender_has_retransmits: 1, streams: [{ id: 1, retransmits: 7 }] });
  });

  it("reads iperf3's results, 64-bit -1 included", () => {
    const j = JSON.parse('{"cpu_util_total":51.5,"cpu_util_user":4.7,"cpu_util_system":46.7,"sender_has_retransmits":18446744073709551615,"congestion_used":"bbr","streams":[{"id":1,"bytes":2738225046,"retransmits":18446744073709551615,"jitter":0,"errors":0,"packets":0,"start_time":0,"end_time":1.000053}]}');
    const r = parseResults(j, new Set([1]));
    expect(r.streams.get(1)!.bytes).toBe(2738225046);
    expect(r.congestion).toBe('bbr');
  });

  it('refuses results with missing fields, wrong types or unknown stream ids', () => {
    const bad = (f: (j: Record<string, unknown>) => void) => {
      const j = JSON.parse(JSON.stringify(mine));
      f(j);
      return () => parseResults(j, new Set([1]));
    };
    expect(bad((j) => delete j.cpu_util_total)).toThrow(/cpu_util_total/);
    expect(bad((j) => (j.streams = {}))).toThrow(/not an array/);
    expect(bad((j) => ((j.streams as Record<string, unknown>[])[0]!.bytes = '1'))).toThrow(/bytes/);
    expect(bad((j) => ((j.streams as Record<string, unknown>[])[0]!.bytes = -5))).toThrow(/bytes -5/);
    expect(bad((j) => ((j.streams as Record<string, unknown>[])[0]!.id = 7))).toThrow(/id 7/);
    expect(bad((j) => (j.streams = new Array(300).fill((j.streams as unknown[])[0])))).toThrow(/300 streams/);
  });
});

describe('report', () => {
  it("formats sizes and rates as iperf3's unit_snprintf", () => {
    expect(formatBytes(2738225046)).toBe('2.55 GBytes');
    expect(formatBytes(8 << 20)).toBe('8.00 MBytes');
    expect(formatBytes(720 * 1024 * 1024)).toBe(' 720 MBytes');
    expect(formatRate(2738225046 / 1.000053)).toBe('21.9 Gbits/sec');
    expect(formatRate(0)).toBe('0.00 bits/sec');
    expect(bwLine(5, '', 0, { bytes: 2738225046, seconds: 1 }, 'receiver')).toBe('[  5]   0.00-1.00   sec  2.55 GBytes  21.9 Gbits/sec                  receiver');
  });

  const outcome: Outcome = {
    role: 'client',
    bidirectional: true,
    streams: [
      { socket: 5, sender: true, sent: { bytes: 100, seconds: 1 }, received: { bytes: 90, seconds: 1.1 } },
      { socket: 6, sender: false, sent: { bytes: 200, seconds: 1.2 }, received: { bytes: 190, seconds: 1 } },
    ],
    cpu: { total: 1, user: 0.5, system: 0.5 },
    remoteCpu: { total: 2, user: 1, system: 1 },
    congestion: 'cubic',
    remoteCongestion: 'bbr',
    zeroCopy: zero,
  };

  it('names the sums of --bidir as iperf3 does: the server-to-client ones _bidir_reverse', () => {
    const end = endJson(outcome);
    expect(end.sum_sent).toMatchObject({ bytes: 100, seconds: 1, sender: true });
    expect(end.sum_received).toMatchObject({ bytes: 90, seconds: 1.1, sender: true });
    expect(end.sum_sent_bidir_reverse).toMatchObject({ bytes: 200, sender: false });
    expect(end.sum_received_bidir_reverse).toMatchObject({ bytes: 190, sender: false });
    expect(endJson({ ...outcome, role: 'server', streams: outcome.streams.map((s) => ({ ...s, sender: !s.sender })) })).toHaveProperty('sum_sent_bidir_reverse.bytes', 200);
    expect(intervalJson(outcome, { start: 0, end: 1, bytes: [10, 20] })).toMatchObject({ sum: { bytes: 10, sender: true }, sum_bidir_reverse: { bytes: 20, sender: false } });
    expect(summaryLines(outcome)).toContain('[  6][RX-C]   0.00-1.20   sec   200 Bytes  1.33 Kbits/sec                  sender');
  });
});

describe('tapstack iperf3 options', () => {
  it("takes iperf3's letters and sizes, and leaves the options of up to up", () => {
    const s = splitIperf3Args(['--ifname', 'tap0', '-c', '198.18.0.1', '-P4', '--address', '198.18.0.2/24', '-R', '-n', '8M', '--io=uring', '-J', '--time', '3']);
    expect(s.up).toEqual(['--ifname', 'tap0', '--address', '198.18.0.2/24', '--io=uring']);
    expect(s.iperf3).toEqual(['-c', '198.18.0.1', '-P4', '-R', '-n', '8M', '-J', '--time', '3']);
    expect(parseSize('8M')).toBe(8 << 20);
    expect(parseSize('1.5K')).toBe(1536);
    expect(parseSize('1000')).toBe(1000);
    expect(() => parseSize('8X')).toThrow();
    const c = parseIperf3({ client: '198.18.0.1', bytes: '8M', length: '1000', bidir: true }, []);
    expect(c.params).toMatchObject({ time: 0, num: 8 << 20, len: 1000, bidirectional: true, parallel: 1 });
    expect(c.port).toBe(5201);
    expect(() => parseIperf3({ client: 'h', reverse: true, bidir: true }, [])).toThrow(/exclude/);
    expect(() => parseIperf3({ client: 'h', parallel: '129' }, [])).toThrow(/-P/);
    expect(() => parseIperf3({}, [])).toThrow(/-c HOST/);
  });
});
