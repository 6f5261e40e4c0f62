/**
 * tapstack's iperf3 client against tapstack's iperf3 server, two stacks on an in-memory link:
 * whole tests by bytes (-n) each way, several in a row, ACCESS_DENIED while busy, and control
 * messages that are malformed or out of place, from a hostile client and a hostile server.
 * Tests end by bytes, so no outcome depends on timing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cable } from '../cable.js';
import { Stack } from '../../../src/stack.js';
import { SeededRandom } from '../../../src/random.js';
import type { Socket } from '../../../src/socket/socket.js';
import { Iperf3Server } from '../../../src/apps/iperf3/server.js';
import { Iperf3Client } from '../../../src/apps/iperf3/client.js';
import { parseParams, type TestParams } from '../../../src/apps/iperf3/params.js';
import { encodeJson, encodeServerError, encodeState, makeCookie, State } from '../../../src/apps/iperf3/protocol.js';

const SERVER = '198.18.182.1';
const CLIENT = '198.18.182.2';
const PORT = 5201;
const MiB = 1 << 20;

function params(over: Partial<TestParams>): TestParams {
  return { ...parseParams({ tcp: true, time: 0, num: MiB, parallel: 1 }), ...over };
}

let a: Stack;
let b: Stack;
let server: Iperf3Server;
let lines: string[];

beforeEach(() => {
  const [da, db] = cable('mem-a', 'mem-b');
  a = Stack.open({ device: da, address: `${SERVER}/24`, random: new SeededRandom(1), poolPages: 8192 });
  b = Stack.open({ device: db, address: `${CLIENT}/24`, random: new SeededRandom(2), poolPages: 8192 });
  lines = [];
  server = new Iperf3Server(a, { port: PORT, log: (l) => lines.push(l), stepTimeoutS: 2 }).listen();
});

afterEach(() => {
  server.close();
  a.close();
  b.close();
});

function client(p: Partial<TestParams>): Iperf3Client {
  return new Iperf3Client(b, { host: SERVER, port: PORT, params: params(p) });
}

/** Wait until the server has finished `n` tests, one way or the other. */
async function serverSettled(n: number): Promise<void> {
  for (let i = 0; i < 200 && server.stats.completed + server.stats.failed < n; i++) await new Promise((r) => setTimeout(r, 10));
}

describe('tapstack iperf3 client and server', () => {
  it('-n 1M: the client sends every byte, the server counts every byte, several tests in a row', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await client({}).done;
      const s = r.outcome.streams;
      expect(s).toHaveLength(1);
      expect(s[0]!.sender).toBe(true);
      expect(s[0]!.sent.bytes).toBe(MiB);
      // The client sends TEST_END once every page is acknowledged, and the server counts what
      // arrived before it: all of it.
      expect(s[0]!.received.bytes).toBe(MiB);
      expect(r.outcome.zeroCopy.sendByReferenceBytes).toBe(MiB);
      await serverSettled(i + 1);
    }
    expect(server.stats).toMatchObject({ tests: 2, completed: 2, failed: 0, denied: 0 });
    expect(lines.filter((l) => l.endsWith('receiver') && l.includes('1.00 MBytes'))).toHaveLength(2);
  });

  it('-R -P 2 -n 1M: the server sends exactly the limit, from pages by reference', async () => {
    const r = await client({ reverse: true, parallel: 2 }).done;
    const s = r.outcome.streams;
    expect(s.map((x) => x.sender)).toEqual([false, false]);
    expect(s.reduce((t, x) => t + x.sent.bytes, 0)).toBe(MiB);
    expect(s.reduce((t, x) => t + x.received.bytes, 0)).toBeGreaterThanOrEqual(MiB);
    await serverSettled(1);
    expect(lines.some((l) => /zero copy: .*sent by reference 1048576 bytes/.test(l))).toBe(true);
  });

  it('--bidir -l 1000 -n 1M: one stream each way; the block size rounds the limit up', async () => {
    const r = await client({ bidirectional: true, len: 1000 }).done;
    const [tx, rx] = r.outcome.streams;
    expect([tx!.sender, rx!.sender]).toEqual([true, false]);
    // The test ends when either way reaches the limit; neither sends past it (whole blocks of 1000).
    expect(Math.max(tx!.sent.bytes, rx!.received.bytes)).toBeGreaterThanOrEqual(MiB);
    expect(tx!.sent.bytes).toBeLessThanOrEqual(Math.ceil(MiB / 1000) * 1000);
    expect(rx!.sent.bytes).toBeLessThanOrEqual(Math.ceil(MiB / 1000) * 1000);
    await serverSettled(1);
    expect(server.stats.completed).toBe(1);
  });

  it('a second client while a test runs gets ACCESS_DENIED; the first completes', async () => {
    const first = client({ num: 8 * MiB });
    await new Promise((r) => setTimeout(r, 20));
    const second = client({});
    await expect(second.done).rejects.toThrow(/busy/);
    const r = await first.done;
    expect(r.outcome.streams[0]!.sent.bytes).toBe(8 * MiB);
    expect(server.stats.denied).toBeGreaterThanOrEqual(1);
  });
});

/** A raw tapstack connection to the server: send `bytes`, collect what comes back until it closes. */
function raw(bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = b.connect({ host: SERVER, port: PORT });
    const got: Buffer[] = [];
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

describe('a hostile client', () => {
  const cookie = makeCookie((x) => x.fill(1));
  const json = (text: string) => {
    const t = Buffer.from(text);
    const h = Buffer.alloc(4);
    h.writeUInt32BE(t.length);
    return Buffer.concat([h, t]);
  };

  for (const [what, bytes, reply, line] of [
    ['a cookie without its NUL', Buffer.alloc(37, 0x61), '', /terminating NUL/],
    ['a JSON length of 4 GiB', Buffer.concat([cookie, Buffer.from([0xff, 0xff, 0xff, 0xff])]), '09', /4294967295 bytes/],
    ['parameters that are not JSON', Buffer.concat([cookie, json('{"tcp":tru')]), '09', /does not parse/],
    ['UDP parameters', Buffer.concat([cookie, json('{"udp":true}')]), '09fe0000008300000000', /only TCP/],
    ['a state byte out of place', Buffer.concat([cookie, encodeJson({ tcp: true, num: 1000 }), encodeState(State.TEST_END)]), '090a', /TEST_END from the client while streams/],
  ] as const) {
    it(`${what}: a clear line, the test closed, and the next test runs`, async () => {
      const back = await raw(bytes);
      expect(back.toString('hex')).toBe(reply);
      await serverSettled(1);
      expect(server.stats.failed).toBe(1);
      expect(lines.some((l) => line.test(l))).toBe(true);
      const r = await client({}).done;
      expect(r.outcome.streams[0]!.received.bytes).toBe(MiB);
    });
  }

  it('a client that goes quiet is dropped after the step timeout', async () => {
    const s = b.connect({ host: SERVER, port: PORT });
    s.on('error', () => {});
    s.on('connect', () => s.write(cookie));
    s.resume();
    await new Promise((r) => s.on('close', r));
    expect(lines.some((l) => /sent nothing for 2 s while params/.test(l))).toBe(true);
  });
});

describe('a hostile server', () => {
  /** Replace the iperf3 server by one that answers the cookie with `answer` (and hangs up, unless `quiet`). */
  function fakeServer(answer: Buffer, quiet = false): void {
    server.close();
    a.createServer({ allowHalfOpen: true }, (s: Socket) => {
      s.on('error', () => {});
      s.once('data', () => (quiet ? s.write(answer) : s.end(answer)));
    }).listen(PORT + 1);
  }
  const run = () => new Iperf3Client(b, { host: SERVER, port: PORT + 1, params: params({}) }).done;

  it('an unknown state byte', async () => {
    fakeServer(Buffer.from([99]));
    await expect(run()).rejects.toThrow(/state 99 from the server while cookie/);
  });

  it('SERVER_ERROR with its codes', async () => {
    fakeServer(encodeServerError(6, 0));
    await expect(run()).rejects.toThrow(/the server refused the test: number of parallel streams too large/);
  });

  it('a state out of order', async () => {
    fakeServer(Buffer.concat([encodeState(State.PARAM_EXCHANGE), encodeState(State.TEST_START)]));
    await expect(run()).rejects.toThrow(/TEST_START from the server while params/);
  });

  it('a server that goes quiet: the client gives up after the step timeout', async () => {
    fakeServer(encodeState(State.PARAM_EXCHANGE), true);
    const c = new Iperf3Client(b, { host: SERVER, port: PORT + 1, params: params({}), stepTimeoutS: 1 });
    await expect(c.done).rejects.toThrow(/no answer from the server for 1 s while params/);
  });

  it('a server that closes the control connection', async () => {
    fakeServer(Buffer.alloc(0));
    await expect(run()).rejects.toThrow(/closed the control connection/);
  });
});
