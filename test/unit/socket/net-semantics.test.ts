/**
 * net.Socket and net.Server semantics on two whole stacks joined by an in-memory cable: the
 * argument forms, errors through 'error' with Node's fields, FIN or RST at close as close(2),
 * 'close' with hadError, readyState and addresses through a socket's life, write after end,
 * server.close with idle connections, maxConnections, and how refs reach the stack's handles.
 * test/integration/net-semantics.test.ts compares the same against node:net on the kernel.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cable } from '../cable.js';
import { Stack } from '../../../src/stack.js';
import { SeededRandom } from '../../../src/random.js';
import type { Socket } from '../../../src/socket/socket.js';
import type { Server } from '../../../src/socket/server.js';

const A = '198.18.184.1';
const B = '198.18.184.2';
/** On B's link, but nobody: ARP for it goes unanswered. */
const SILENT = '198.18.184.77';

let a: Stack;
let b: Stack;

beforeEach(() => {
  const [da, db] = cable('net-a', 'net-b');
  a = Stack.open({ device: da, address: `${A}/24`, random: new SeededRandom(1), poolPages: 1024 });
  // ARP gives up after 3 requests 100 ms apart here (Linux's 1 s in the integration test).
  b = Stack.open({ device: db, address: `${B}/24`, random: new SeededRandom(2), poolPages: 1024, iface: { neighbor: { retransmitMs: 100 } } });
});

afterEach(() => {
  b.close();
  a.close();
});

type Ev = [string, ...unknown[]];

/** Record a socket's events (error as its code). */
function record(s: Socket): Ev[] {
  const evs: Ev[] = [];
  for (const name of ['connect', 'ready', 'end', 'finish', 'timeout']) s.on(name, () => evs.push([name]));
  s.on('error', (e: Error & { code?: string }) => evs.push(['error', e.code]));
  s.on('close', (hadError: boolean) => evs.push(['close', hadError]));
  return evs;
}

function closed(s: Socket): Promise<boolean> {
  return new Promise((resolve) => s.once('close', resolve));
}

function listening(srv: Server): Promise<void> {
  return new Promise((resolve) => srv.once('listening', () => resolve()));
}

/** A server on A (listen(0)) and the port it got. */
async function serverOnA(onConn?: (s: Socket) => void): Promise<{ srv: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const srv = a.createServer((s) => {
    accepted.push(s);
    s.on('error', () => {});
    onConn?.(s);
  });
  srv.listen(0);
  await listening(srv);
  return { srv, port: srv.address()!.port, accepted };
}

describe('argument forms', () => {
  it('connect(port, host, cb), connect(options, cb), createConnection(port, host); listen(0) and listen() choose a port address() reports', async () => {
    const { port } = await serverOnA();
    expect(port).toBeGreaterThanOrEqual(32768);
    const s1 = await new Promise<Socket>((resolve) => {
      const s: Socket = b.connect(port, A, () => resolve(s));
    });
    const s2 = await new Promise<Socket>((resolve) => {
      const s: Socket = b.connect({ port, host: A }, () => resolve(s));
    });
    const s3 = b.createConnection(port, A);
    await new Promise((r) => s3.once('connect', r));
    for (const s of [s1, s2, s3]) {
      expect(s.remotePort).toBe(port);
      s.destroy();
    }
    const srv2 = a.createServer();
    let cbRan = false;
    srv2.listen(() => (cbRan = true));
    await listening(srv2);
    expect(cbRan).toBe(true);
    expect(srv2.address()!.port).toBeGreaterThanOrEqual(32768);
    expect(srv2.address()!.port).not.toBe(port);
    const srv3 = a.createServer();
    srv3.listen({ port: 0, host: '0.0.0.0', backlog: 4 }, () => {});
    await listening(srv3);
    expect(srv3.address()).toMatchObject({ address: '0.0.0.0', family: 'IPv4' });
    const srv4 = a.createServer();
    srv4.listen(7001, A, 8);
    await listening(srv4);
    expect(srv4.address()).toEqual({ address: A, family: 'IPv4', port: 7001 });
  });

  it('connect({ port }) means localhost: ENOTFOUND through error (tapstack has no loopback), never thrown', async () => {
    const s = b.connect({ port: 80 });
    const evs = record(s);
    await closed(s);
    expect(evs).toEqual([
      ['error', 'ENOTFOUND'],
      ['close', true],
    ]);
    expect(s.readyState).toBe('closed');
  });

  it('a missing or bad port throws, as net.connect does', () => {
    expect(() => b.connect({} as never)).toThrow(expect.objectContaining({ code: 'ERR_MISSING_ARGS' }));
    expect(() => b.connect(70000, A)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  });
});

describe('connect errors through error, with code, errno, syscall, address and port', () => {
  it('ECONNREFUSED; the refused socket is closed, not connecting', async () => {
    const s = b.connect(9, A);
    const errs: unknown[] = [];
    s.on('error', (e) => errs.push(e));
    expect(s.readyState).toBe('opening');
    expect(s.pending).toBe(true);
    expect(await closed(s)).toBe(true);
    expect(errs[0]).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: A, port: 9, message: `connect ECONNREFUSED ${A}:9` });
    expect({ rs: s.readyState, connecting: s.connecting, pending: s.pending, address: s.address(), la: s.localAddress, ra: s.remoteAddress }).toEqual({ rs: 'closed', connecting: false, pending: true, address: {}, la: undefined, ra: undefined });
  });

  it('ENETUNREACH at once without a route', async () => {
    const s = b.connect(80, '203.0.113.9');
    const errs: unknown[] = [];
    s.on('error', (e) => errs.push(e));
    const t0 = performance.now();
    await closed(s);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(errs[0]).toMatchObject({ code: 'ENETUNREACH', errno: -101, syscall: 'connect', address: '203.0.113.9', port: 80 });
    expect(s.readyState).toBe('closed');
  });

  it('EHOSTUNREACH once ARP gives up on an on-link host', async () => {
    const s = b.connect(80, SILENT);
    const errs: unknown[] = [];
    s.on('error', (e) => errs.push(e));
    const t0 = performance.now();
    await closed(s);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThan(250);
    expect(took).toBeLessThan(2000);
    expect(errs[0]).toMatchObject({ code: 'EHOSTUNREACH', errno: -113, syscall: 'connect', address: SILENT, port: 80 });
    expect(b.tcp.connectionCount).toBe(0);
  });
});

describe('closing', () => {
  it('destroy(err), resetAndDestroy(), unread data: FIN, RST, RST', async () => {
    const peerEvents: Ev[][] = [];
    const { port, accepted } = await serverOnA((s) => peerEvents.push(record(s)));
    const open = async () => {
      const s = b.connect(port, A);
      await new Promise((r) => s.once('connect', r));
      await new Promise((r) => setTimeout(r, 20));
      return s;
    };
    // destroy(err): FIN.
    const s1 = await open();
    const ev1 = record(s1);
    const resets0 = b.stats().tcp.resetsOut;
    s1.destroy(new Error('boom'));
    expect(await closed(s1)).toBe(true);
    expect(ev1).toEqual([
      ['error', undefined],
      ['close', true],
    ]);
    await closed(accepted[0]!);
    expect(b.stats().tcp.resetsOut).toBe(resets0);
    expect(peerEvents[0]).toEqual([['end'], ['finish'], ['close', false]]);
    // resetAndDestroy(): RST, close(false) here, ECONNRESET there.
    const s2 = await open();
    const ev2 = record(s2);
    s2.resetAndDestroy();
    expect(await closed(s2)).toBe(false);
    expect(ev2).toEqual([['close', false]]);
    await closed(accepted[1]!);
    expect(b.stats().tcp.resetsOut).toBe(resets0 + 1);
    expect(peerEvents[1]).toEqual([
      ['error', 'ECONNRESET'],
      ['close', true],
    ]);
    // Unread data at close: RST (RFC 1122 4.2.2.13).
    const s3 = await open();
    s3.pause();
    accepted[2]!.write('unread');
    await new Promise((r) => setTimeout(r, 30));
    s3.destroy();
    await closed(accepted[2]!);
    expect(b.stats().tcp.resetsOut).toBe(resets0 + 2);
    expect(peerEvents[2]).toContainEqual(['error', 'ECONNRESET']);
  });

  it('write after end(): ERR_STREAM_WRITE_AFTER_END, then close(true), no finish', async () => {
    const { port } = await serverOnA();
    const s = b.connect(port, A);
    const evs = record(s);
    await new Promise((r) => s.once('connect', r));
    s.end();
    s.write('late');
    await closed(s);
    expect(evs).toEqual([['connect'], ['ready'], ['error', 'ERR_STREAM_WRITE_AFTER_END'], ['close', true]]);
  });

  it('end() while connecting sends the FIN once connected', async () => {
    const got: string[] = [];
    const { port } = await serverOnA((s) => s.on('data', (d: Buffer) => got.push(d.toString())));
    const s = b.connect(port, A);
    s.end('early');
    const evs = record(s);
    await closed(s);
    expect(got).toEqual(['early']);
    expect(evs).toEqual([['connect'], ['ready'], ['finish'], ['end'], ['close', false]]);
  });

  it('destroySoon() ends, then destroys; bufferSize and timeout as net', async () => {
    const { port } = await serverOnA();
    const s = b.connect(port, A);
    expect(s.timeout).toBeUndefined();
    s.setTimeout(5000);
    expect(s.timeout).toBe(5000);
    await new Promise((r) => s.once('connect', r));
    expect(s.bufferSize).toBe(0);
    s.destroySoon();
    expect(await closed(s)).toBe(false);
    expect(s.destroyed).toBe(true);
    expect(s.bufferSize).toBeUndefined();
  });
});

describe('properties through a life', () => {
  it('addresses undefined until connected, address() {} after close, readyState, pending, bytes', async () => {
    const { port } = await serverOnA((s) => s.pipe(s));
    const s = b.connect(port, A);
    const snap = () => ({ la: s.localAddress, lp: s.localPort, ra: s.remoteAddress, rp: s.remotePort, addr: s.address(), rs: s.readyState, pending: s.pending, connecting: s.connecting, destroyed: s.destroyed });
    expect(snap()).toEqual({ la: undefined, lp: undefined, ra: undefined, rp: undefined, addr: {}, rs: 'opening', pending: true, connecting: true, destroyed: false });
    await new Promise((r) => s.once('connect', r));
    const lp = s.localPort!;
    expect(snap()).toEqual({ la: B, lp, ra: A, rp: port, addr: { address: B, family: 'IPv4', port: lp }, rs: 'open', pending: false, connecting: false, destroyed: false });
    s.write('12345');
    await new Promise((r) => s.once('data', r));
    expect([s.bytesRead, s.bytesWritten]).toEqual([5, 5]);
    s.end();
    expect(s.readyState).toBe('readOnly');
    await closed(s);
    expect(snap()).toEqual({ la: undefined, lp: undefined, ra: A, rp: port, addr: {}, rs: 'closed', pending: true, connecting: false, destroyed: true });
  });

  it("default highWaterMark is Node's 16 KiB", () => {
    const s = b.connect(80, A);
    s.on('error', () => {});
    expect([s.readableHighWaterMark, s.writableHighWaterMark]).toEqual([16384, 16384]);
    s.destroy();
  });
});

describe('server', () => {
  it('close(cb) completes once an accepted socket that was never read has seen the peer FIN', async () => {
    const { srv, port, accepted } = await serverOnA();
    const s = b.connect(port, A);
    await new Promise((r) => s.once('connect', r));
    await new Promise((r) => setTimeout(r, 20));
    expect(accepted).toHaveLength(1);
    const done = new Promise<unknown>((resolve) => srv.close(resolve));
    s.end();
    expect(await done).toBeUndefined();
    const again = await new Promise<unknown>((resolve) => srv.close(resolve));
    expect(again).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  it("beyond maxConnections the dialer gets a FIN, and 'drop' says who", async () => {
    const { srv, port } = await serverOnA();
    srv.maxConnections = 1;
    const drops: unknown[] = [];
    srv.on('drop', (d) => drops.push(d));
    const s1 = b.connect(port, A);
    await new Promise((r) => s1.once('connect', r));
    const s2 = b.connect(port, A);
    const ev2 = record(s2);
    let s2Port = 0;
    s2.once('connect', () => (s2Port = s2.localPort!));
    const resets = a.stats().tcp.resetsOut;
    await closed(s2);
    expect(ev2).toEqual([['connect'], ['ready'], ['end'], ['finish'], ['close', false]]);
    expect(a.stats().tcp.resetsOut).toBe(resets);
    expect(drops).toEqual([{ localAddress: A, localPort: port, localFamily: 'IPv4', remoteAddress: B, remotePort: s2Port, remoteFamily: 'IPv4' }]);
    s1.destroy();
  });
});

describe('ref and unref', () => {
  it("the stack holds the loop while a ref'd socket or listening server does, and not otherwise", async () => {
    expect(a.hasRef).toBe(false);
    const { srv, port } = await serverOnA();
    expect(a.hasRef).toBe(true);
    srv.unref();
    expect(a.hasRef).toBe(false);
    srv.ref();
    expect(a.hasRef).toBe(true);
    const s = b.connect(port, A);
    expect(b.hasRef).toBe(true);
    s.unref();
    expect(b.hasRef).toBe(false);
    s.ref();
    expect(b.hasRef).toBe(true);
    await new Promise((r) => s.once('connect', r));
    s.destroy();
    await closed(s);
    expect(b.hasRef).toBe(false);
    b.ref();
    expect(b.hasRef).toBe(true);
    b.unref();
    expect(b.hasRef).toBe(false);
    srv.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(a.hasRef).toBe(false);
  });

  it('a dgram socket holds the stack from bind to close while ref\'d', async () => {
    const d = b.createSocket('udp4');
    expect(b.hasRef).toBe(false);
    d.bind(0);
    await new Promise((r) => d.once('listening', r));
    expect(b.hasRef).toBe(true);
    d.unref();
    expect(b.hasRef).toBe(false);
    d.ref();
    expect(b.hasRef).toBe(true);
    d.close();
    expect(b.hasRef).toBe(false);
  });
});
