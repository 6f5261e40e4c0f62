import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../../src/mem/arena.js';
import { DgramSocket, type RemoteInfo } from '../../../src/socket/dgram.js';
import { PageLender } from '../../../src/socket/pages.js';
import { formatIpv4 } from '../../../src/wire/addr.js';
import { parseUdp, pattern, PEER_IP, portUnreachableAbout, udpFrame, UdpHarness } from '../udp/harness.js';

const PEER = formatIpv4(PEER_IP);
const tick = () => new Promise((r) => setImmediate(r));

function setup(o: { split?: number } = {}) {
  const h = new UdpHarness(o).resolveArp();
  const lender = new PageLender(h.nic.pool);
  const socket = (opts: Parameters<typeof makeSocket>[2] = 'udp4') => makeSocket(h, lender, opts);
  return { h, lender, socket };
}

function makeSocket(h: UdpHarness, lender: PageLender, opts: 'udp4' | { type: 'udp4'; recvBufferSize?: number; pages?: boolean }) {
  return new DgramSocket(h.udp, lender, opts);
}

async function bound(s: DgramSocket, port = 0): Promise<number> {
  s.bind(port);
  await once(s, 'listening');
  return s.address().port;
}

describe('DgramSocket (Node dgram.Socket surface)', () => {
  it('bind: asynchronous listening, callback, address(); port 0 is ephemeral', async () => {
    const { socket } = setup();
    const s = socket();
    let called = false;
    s.bind(0, () => (called = true));
    expect(() => s.address()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getsockname' }));
    await once(s, 'listening');
    expect(called).toBe(true);
    const a = s.address();
    expect(a).toMatchObject({ address: '0.0.0.0', family: 'IPv4' });
    expect(a.port).toBeGreaterThanOrEqual(32768);
    expect(() => s.bind(1)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_ALREADY_BOUND' }));
  });

  it('bind takes the port modulo 65536 as Node 20 does (70000 binds 4464); EADDRINUSE emitted with Node fields', async () => {
    const { socket } = setup();
    expect(await bound(socket(), 70000)).toBe(4464);
    expect(() => socket().send('x', 0, PEER)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT', name: 'RangeError', message: 'Port should be > 0 and < 65536. Received type number (0).' }));
    const a = socket();
    await bound(a, 5353);
    const b = socket();
    b.bind({ port: 5353, address: '0.0.0.0' });
    const [err] = await once(b, 'error');
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'bind', address: '0.0.0.0', port: 5353, message: 'bind EADDRINUSE 0.0.0.0:5353' });
  });

  it("'message' with a Buffer copy and rinfo", async () => {
    const { h, socket, lender } = setup();
    const s = socket();
    const port = await bound(s, 7);
    const got: [Buffer, RemoteInfo][] = [];
    s.on('message', (m: Buffer, r: RemoteInfo) => got.push([m, r]));
    h.deliver(udpFrame({ dstPort: port, srcPort: 4321, data: pattern(300) }));
    expect(got).toHaveLength(1);
    expect(Buffer.isBuffer(got[0]![0])).toBe(true);
    expect(new Uint8Array(got[0]![0])).toEqual(pattern(300));
    expect(got[0]![1]).toEqual({ address: PEER, family: 'IPv4', port: 4321, size: 300 });
    expect(lender.stats.udpCopiedBytes['stream-api']).toBe(300);
  });

  it('send: string, Buffer, offset/length, arrays; callback (null, bytes) later; implicit bind', async () => {
    const { h, socket } = setup();
    const s = socket();
    const results: [Error | null, number | undefined][] = [];
    const cb = (e: Error | null, n?: number) => results.push([e, n]);
    s.send('hello', 9, PEER, cb);
    expect(results).toEqual([]);
    await once(s, 'listening');
    s.send(Buffer.from('0123456789'), 2, 3, 9, PEER, cb);
    s.send(['ab', Buffer.from('cd'), new Uint8Array([101])], 9, PEER, cb);
    await tick();
    expect(results).toEqual([
      [null, 5],
      [null, 3],
      [null, 5],
    ]);
    const out = h.settle().map((f) => Buffer.from(parseUdp(f).data).toString());
    expect(out).toEqual(['hello', '234', 'abcde']);
  });

  it('send errors: EMSGSIZE and EACCES to the callback with Node fields; bad port thrown; none emitted without a callback', async () => {
    const { socket } = setup();
    const s = socket();
    await bound(s);
    const errs: Error[] = [];
    s.on('error', (e) => errs.push(e));
    s.send(new Uint8Array(65508), 9, PEER, (e) => errs.push(e!));
    s.send('x', 9, '198.18.0.255', (e) => errs.push(e!));
    s.send(new Uint8Array(65508), 9, PEER);
    expect(() => s.send('x', 0, PEER)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    await tick();
    expect(errs).toHaveLength(2);
    expect(errs[0]).toMatchObject({ code: 'EMSGSIZE', errno: -90, syscall: 'send', address: PEER, port: 9 });
    expect(errs[1]).toMatchObject({ code: 'EACCES', errno: -13, syscall: 'send' });
  });

  it('setBroadcast: EBADF before bind; then broadcasts go', async () => {
    const { h, socket } = setup();
    const s = socket();
    expect(() => s.setBroadcast(true)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    await bound(s, 68);
    s.setBroadcast(true);
    let err: Error | null = new Error('no callback');
    s.send('x', 67, '255.255.255.255', (e) => (err = e));
    await tick();
    expect(err).toBeNull();
    expect(h.settle()[0]!.dst).toBe(0xffffffff);
  });

  it('connect: remoteAddress, send without address, only the peer is received, ERR_SOCKET_DGRAM_IS_CONNECTED; disconnect', async () => {
    const { h, socket } = setup();
    const s = socket();
    expect(() => s.remoteAddress()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }));
    s.connect(5000, PEER);
    await once(s, 'connect');
    expect(s.remoteAddress()).toEqual({ address: PEER, family: 'IPv4', port: 5000 });
    expect(() => s.send('x', 5000, PEER)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }));
    expect(() => s.connect(1, PEER)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' }));
    s.send('hi');
    expect(parseUdp(h.settle()[0]!).dstPort).toBe(5000);
    const got: number[] = [];
    s.on('message', (_m, r: RemoteInfo) => got.push(r.port));
    const port = s.address().port;
    h.deliver(udpFrame({ dstPort: port, srcPort: 5000, data: pattern(1) }), udpFrame({ dstPort: port, srcPort: 5001, data: pattern(1) }));
    expect(got).toEqual([5000]);
    s.disconnect();
    expect(() => s.disconnect()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }));
  });

  it('a connected socket gets ECONNREFUSED (recvmsg) for a Port Unreachable about what it sent; an unconnected one does not', async () => {
    const { h, socket } = setup();
    const c = socket();
    c.connect(7777, PEER);
    await once(c, 'connect');
    c.send('ping');
    const [sent] = h.settle();
    h.deliver(portUnreachableAbout(sent!.ip));
    const [err] = await once(c, 'error');
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'recvmsg', message: 'recvmsg ECONNREFUSED' });
    const u = socket();
    await bound(u);
    const errs: Error[] = [];
    u.on('error', (e) => errs.push(e));
    u.send('ping', 7777, PEER);
    h.deliver(portUnreachableAbout(h.settle()[0]!.ip));
    await tick();
    expect(errs).toEqual([]);
  });

  it('close: callback and close event later; then ERR_SOCKET_DGRAM_NOT_RUNNING; the port is free again', async () => {
    const { socket } = setup();
    const s = socket();
    const port = await bound(s, 4000);
    let closed = false;
    s.close(() => (closed = true));
    expect(closed).toBe(false);
    await once(s, 'close');
    expect(closed).toBe(true);
    expect(() => s.close()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    expect(() => s.send('x', 1, PEER)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    expect(() => s.address()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    expect(await bound(socket(), port)).toBe(port);
  });

  it('buffer sizes: Linux doubles, ERR_SOCKET_BUFFER_SIZE before bind; ref/unref chain', async () => {
    const { socket } = setup();
    const s = socket();
    expect(() => s.getRecvBufferSize()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BUFFER_SIZE' }));
    await bound(s);
    expect(s.getRecvBufferSize()).toBe(212992);
    s.setRecvBufferSize(10000);
    expect(s.getRecvBufferSize()).toBe(20000);
    s.setSendBufferSize(100);
    expect(s.getSendBufferSize()).toBe(4608);
    expect(() => s.setRecvBufferSize(-1)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_BUFFER_SIZE' }));
    expect(s.unref().ref()).toBe(s);
  });

  it('page reader: whole-page datagrams flip at split 42; the receive buffer bounds the queue (udp-rcvbuf)', async () => {
    const { h, socket, lender } = setup({ split: 42 });
    const s = socket({ type: 'udp4', pages: true });
    const port = await bound(s, 9);
    s.setRecvBufferSize(4096); // 8192 bytes: two datagrams of one page each
    h.deliver(...[1, 2, 3].map((i) => udpFrame({ dstPort: port, data: pattern(1400, i) })));
    expect(s.datagramsAvailable).toBe(2);
    expect(h.udp.stats.drops['udp-rcvbuf']).toBe(1);
    const d = s.readDatagrams(lender.alloc(2));
    expect(d).toHaveLength(2);
    expect(d[0]!.rinfo).toMatchObject({ address: PEER, size: 1400 });
    expect(d[0]!.pages[0]!.data).toEqual(pattern(1400, 1));
    expect(lender.stats.udpFlippedBytes).toBe(2800);
    expect(lender.stats.udpFlippedPages).toBe(2);
    lender.free(d.flatMap((x) => x.pages));
  });

  it('page reader at the default split (66): copied and counted as header-split-miss', async () => {
    const { h, socket, lender } = setup({ split: 66 });
    const s = socket({ type: 'udp4', pages: true });
    const port = await bound(s, 9);
    h.deliver(udpFrame({ dstPort: port, data: pattern(1400) }));
    const [d] = s.readDatagrams(lender.alloc(2));
    expect(d!.pages.map((p) => p.length)).toEqual([1400]);
    expect(d!.pages[0]!.data).toEqual(pattern(1400));
    expect(lender.stats.udpCopiedBytes['header-split-miss']).toBe(1400);
    expect(lender.stats.udpFlippedBytes).toBe(0);
  });

  it('sendPages: pool pages by reference, completed after the frame was written', async () => {
    const { h, socket, lender } = setup();
    const s = socket();
    await bound(s);
    const [p] = lender.alloc(1);
    p!.buffer.set(pattern(1000));
    p!.length = 1000;
    const done = s.sendPages([p!], 9, PEER);
    expect(p!.detached).toBe(true);
    const out = h.settle();
    expect(parseUdp(out[0]!).data).toEqual(pattern(1000));
    const c = await done;
    expect(c.copied).toBe(false);
    expect(c.pages[0]!.data).toEqual(pattern(1000));
    expect(lender.stats.udpSendByReferenceBytes).toBe(1000);
    // Above the MTU: fragmented from a copy, counted so.
    const big = lender.alloc(2);
    for (const q of big) q.length = PAGE_SIZE;
    const c2 = await s.sendPages(big, 9, PEER);
    expect(c2.copied).toBe(true);
    expect(lender.stats.udpSendCopiedBytes.fragmented).toBe(2 * PAGE_SIZE);
    expect(h.settle().length).toBe(6);
  });

  it('sendPages while ARP is unresolved: the datagram is queued as a copy, the pages come back at once (slow-path)', async () => {
    const h = new UdpHarness(); // the peer not resolved
    const lender = new PageLender(h.nic.pool);
    const s = new DgramSocket(h.udp, lender, 'udp4');
    await bound(s);
    const [p] = lender.alloc(1);
    p!.buffer.set(pattern(700));
    p!.length = 700;
    const c = await s.sendPages([p!], 9, PEER);
    expect(c.copied).toBe(true);
    expect(lender.stats.udpSendCopiedBytes['slow-path']).toBe(700);
    c.pages[0]!.buffer.fill(0); // the page is ours again: the queued copy is not touched
    expect(h.settle()).toEqual([]);
    const out = h.resolveArpAnd();
    expect(parseUdp(out[0]!).data).toEqual(pattern(700));
  });

  it('sendPages failures reject with the pages back in hand: a bad port before anything is taken, EACCES after', async () => {
    const { socket, lender } = setup();
    const s = socket();
    await bound(s);
    const [p] = lender.alloc(1);
    p!.length = 1000;
    const e1 = await s.sendPages([p!], 0, PEER).catch((e: Error & { pages: unknown[] }) => e);
    expect(e1).toMatchObject({ code: 'ERR_SOCKET_BAD_PORT' });
    expect((e1 as { pages: unknown[] }).pages).toEqual([p]);
    const e2 = await s.sendPages([p!], 9, '198.18.0.255').catch((e: Error & { pages: { length: number }[] }) => e);
    expect(e2).toMatchObject({ code: 'EACCES', syscall: 'send' });
    const back = (e2 as { pages: { length: number; detached: boolean }[] }).pages;
    expect(back.map((q) => [q.length, q.detached])).toEqual([[1000, false]]);
    lender.free(back as never);
    expect(lender.stats.pagesLent).toBe(lender.stats.pagesReturned);
  });

  it('send takes any ArrayBufferView (DataView, Uint16Array)', async () => {
    const { h, socket } = setup();
    const s = socket();
    await bound(s);
    s.send(new DataView(new Uint8Array([1, 2, 3]).buffer), 9, PEER);
    s.send([new Uint16Array([0x0102])], 9, PEER);
    expect(h.settle().map((f) => [...parseUdp(f).data])).toEqual([[1, 2, 3], [...new Uint8Array(new Uint16Array([0x0102]).buffer)]]);
  });
});
