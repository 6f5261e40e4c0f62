import { EventEmitter } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { SeededRandom } from '../../../src/random.js';
import { DnsResolver, type DnsTcpStream } from '../../../src/dns/resolver.js';
import { DnsError } from '../../../src/dns/errors.js';
import { DNS_CLASS_IN, DnsRcode, DnsType, emitDnsMessage, encodeName, parseDnsMessage, responseFlags, type DnsRecord } from '../../../src/wire/dns.js';
import { FakeUdp, type Sent } from '../dhcp/fake-udp.js';
import { runTimer } from '../dhcp/server.js';

const NS1 = 0xc6124601;
const NS2 = 0xc6124609;
const ADDR = 0xc6124605;

function a(name: string, addr: number, ttl = 60): DnsRecord {
  return { name, type: DnsType.A, class: DNS_CLASS_IN, ttl, data: Uint8Array.of(addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255) };
}

function answerTo(q: Sent, o: { rcode?: number; tc?: boolean; answers?: DnsRecord[]; authority?: DnsRecord[]; id?: number; name?: string } = {}): Uint8Array {
  const m = parseDnsMessage(q.data);
  return emitDnsMessage({
    id: o.id ?? m.id,
    flags: responseFlags(o.rcode ?? DnsRcode.NoError, o.tc ?? false),
    questions: [{ ...m.questions[0]!, ...(o.name ? { name: o.name } : {}) }],
    answers: o.answers ?? [],
    authority: o.authority ?? [],
  });
}

class FakeTcp extends EventEmitter implements DnsTcpStream {
  written: Uint8Array[] = [];
  destroyed = false;
  write(d: Uint8Array): boolean {
    this.written.push(d.slice());
    return true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

describe('DNS stub resolver (RFC 1034 5.3.1)', () => {
  let clock: ManualClock;
  let udp: FakeUdp;
  let servers: number[];
  let tcp: { server: number; port: number; s: FakeTcp }[];
  let r: DnsResolver;

  beforeEach(() => {
    clock = new ManualClock(0);
    udp = new FakeUdp();
    servers = [NS1, NS2];
    tcp = [];
    r = new DnsResolver({
      udp,
      clock,
      random: new SeededRandom(3),
      servers: () => servers,
      tcp: (server, port) => {
        const s = new FakeTcp();
        tcp.push({ server, port, s });
        return s;
      },
    });
  });

  const reply = (q: Sent, data: Uint8Array, src = q.dst, srcPort = 53) => udp.deliver(src, srcPort, 0xc6124602, q.from, data);
  const fails = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e as DnsError;
    }
    throw new Error('resolved');
  };
  const runTo = (t: number) => runTimer(r, clock, t);

  it('asks the first server, takes the A records, and caches them for their TTL', async () => {
    const p = r.resolve4('Host.Test.');
    const [q] = udp.take();
    expect(q).toMatchObject({ dst: NS1, dstPort: 53 });
    expect(parseDnsMessage(q!.data).questions).toEqual([{ name: 'host.test', type: DnsType.A, class: DNS_CLASS_IN }]);
    reply(q!, answerTo(q!, { answers: [a('host.test', ADDR, 30)] }));
    expect(await p).toEqual([ADDR]);
    expect(udp.bound.size).toBe(0);
    clock.set(29_999);
    expect(await r.resolve4('host.test')).toEqual([ADDR]);
    expect(r.stats.cacheHits).toBe(1);
    expect(udp.take()).toHaveLength(0);
    clock.set(30_000);
    void r.resolve4('host.test');
    expect(udp.take()).toHaveLength(1);
  });

  it('follows a CNAME to its A record', async () => {
    const p = r.resolve4('alias.test');
    const [q] = udp.take();
    const target = new Uint8Array(32);
    const n = encodeName('real.test', target, 0);
    reply(q!, answerTo(q!, { answers: [{ name: 'alias.test', type: DnsType.CNAME, class: DNS_CLASS_IN, ttl: 60, data: target.slice(0, n) }, a('real.test', ADDR)] }));
    expect(await p).toEqual([ADDR]);
  });

  it('drops answers from elsewhere, with another id or question, and takes the right one', async () => {
    const p = r.resolve4('host.test');
    const [q] = udp.take();
    reply(q!, answerTo(q!, { answers: [a('host.test', 1)] }), NS2);
    reply(q!, answerTo(q!, { answers: [a('host.test', 1)] }), NS1, 5353);
    reply(q!, answerTo(q!, { answers: [a('host.test', 1)], id: (parseDnsMessage(q!.data).id + 1) & 0xffff }));
    reply(q!, answerTo(q!, { answers: [a('other.test', 1)], name: 'other.test' }));
    reply(q!, q!.data); // the query itself: QR clear
    const loop = answerTo(q!).slice();
    loop.set([0xc0, 12], 12); // the question's name points at itself
    reply(q!, loop);
    reply(q!, answerTo(q!).subarray(0, 10));
    reply(q!, answerTo(q!, { answers: [a('host.test', ADDR)] }));
    expect(await p).toEqual([ADDR]);
    expect(r.stats.drops).toEqual({ 'dns-wrong-source': 2, 'dns-wrong-id': 1, 'dns-question-mismatch': 1, 'dns-not-response': 1, 'dns-name-loop': 1, 'dns-truncated': 1 });
  });

  it('NXDOMAIN: ENOTFOUND as Node reports it, cached for the SOA minimum (capped)', async () => {
    const p = r.resolve4('nope.test');
    const [q] = udp.take();
    const soaData = new Uint8Array(64);
    let i = encodeName('ns.test', soaData, 0);
    i = encodeName('admin.test', soaData, i);
    soaData.set([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 10], i);
    reply(q!, answerTo(q!, { rcode: DnsRcode.NXDomain, authority: [{ name: 'test', type: DnsType.SOA, class: DNS_CLASS_IN, ttl: 300, data: soaData.slice(0, i + 20) }] }));
    const e = await fails(p);
    expect(e).toBeInstanceOf(DnsError);
    expect(e).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'nope.test', errno: -3008, message: 'getaddrinfo ENOTFOUND nope.test' });
    clock.set(9_999);
    expect((await fails(r.resolve4('nope.test'))).code).toBe('ENOTFOUND');
    expect(r.stats.negativeCacheHits).toBe(1);
    expect(udp.take()).toHaveLength(0);
    clock.set(10_000);
    void r.resolve4('nope.test').catch(() => undefined);
    expect(udp.take()).toHaveLength(1);
  });

  it('no A record (NODATA) is ENOTFOUND too', async () => {
    const p = r.resolve4('v6only.test');
    const [q] = udp.take();
    reply(q!, answerTo(q!, { answers: [{ name: 'v6only.test', type: DnsType.AAAA, class: DNS_CLASS_IN, ttl: 60, data: new Uint8Array(16) }] }));
    expect((await fails(p)).code).toBe('ENOTFOUND');
  });

  it('SERVFAIL moves to the next server; when all fail, EAI_AGAIN', async () => {
    servers = [NS1];
    const p = r.resolve4('host.test');
    let [q] = udp.take();
    reply(q!, answerTo(q!, { rcode: DnsRcode.ServFail }));
    [q] = udp.take();
    expect(q!.dst).toBe(NS1); // attempt 2 of 2
    reply(q!, answerTo(q!, { rcode: DnsRcode.ServFail }));
    const e = await fails(p);
    expect(e).toMatchObject({ code: 'EAI_AGAIN', errno: -3001, syscall: 'getaddrinfo', hostname: 'host.test' });
    expect(r.stats.servfail).toBe(2);
  });

  it('timeouts: 2 s per try, the servers in turn, twice each; then EAI_AGAIN', async () => {
    const p = r.resolve4('host.test');
    const sent: [number, number][] = [];
    for (let t = 0; t <= 9000; t += 100) {
      runTo(t);
      for (const s of udp.take()) sent.push([clock.nowMs(), s.dst]);
    }
    expect(sent).toEqual([
      [0, NS1],
      [2000, NS2],
      [4000, NS1],
      [6000, NS2],
    ]);
    const e = await fails(p);
    expect(e.code).toBe('EAI_AGAIN');
    expect(r.stats.timeouts).toBe(4);
    expect(r.nextDeadline()).toBe(Infinity);
  });

  it('a server that answers Destination Unreachable is left at once for the next; all unreachable, EAI_AGAIN', async () => {
    const unreachable = (q: Sent, code = 3, dst = q.dst, dstPort = 53) => udp.bound.get(q.from)!.icmpError!({ type: 3, code, dst, dstPort });
    const p = r.resolve4('host.test');
    let [q] = udp.take();
    expect(q!.dst).toBe(NS1);
    // About another destination, or not Destination Unreachable: not this query's; nothing moves.
    unreachable(q!, 3, NS2);
    udp.bound.get(q!.from)!.icmpError!({ type: 11, code: 0, dst: NS1, dstPort: 53 });
    expect(udp.take()).toEqual([]);
    // Port unreachable from NS1: NS2 is asked now, not after the 2 s timeout.
    unreachable(q!);
    [q] = udp.take();
    expect(q!.dst).toBe(NS2);
    expect(clock.nowMs()).toBe(0);
    reply(q!, answerTo(q!, { answers: [a('host.test', ADDR)] }));
    expect(await p).toEqual([ADDR]);
    expect(r.stats.unreachable).toBe(1);
    expect(r.stats.timeouts).toBe(0);

    const p2 = r.resolve4('other.test');
    for (let i = 0; i < 4; i++) {
      [q] = udp.take();
      unreachable(q!, i % 2 === 0 ? 3 : 1); // port, then host unreachable
    }
    const e = await fails(p2);
    expect(e.code).toBe('EAI_AGAIN');
    expect(e.detail).toContain('destination unreachable (code 1)');
    expect(udp.take()).toEqual([]);
    expect(r.stats.unreachable).toBe(5);
    expect(clock.nowMs()).toBe(0);
    expect(r.nextDeadline()).toBe(Infinity);
  });

  it('TC: asks again over TCP with the length prefix (RFC 7766), and takes that answer', async () => {
    const p = r.resolve4('big.test');
    const [q] = udp.take();
    reply(q!, answerTo(q!, { tc: true }));
    expect(r.stats.truncated).toBe(1);
    expect(tcp).toHaveLength(1);
    expect(tcp[0]!).toMatchObject({ server: NS1, port: 53 });
    const s = tcp[0]!.s;
    const w = s.written[0]!;
    expect((w[0]! << 8) | w[1]!).toBe(w.length - 2);
    const query = { ...q!, data: w.subarray(2) };
    const ans = answerTo(query, { answers: [a('big.test', ADDR), a('big.test', ADDR + 1)] });
    const framed = new Uint8Array(ans.length + 2);
    framed.set([ans.length >>> 8, ans.length & 255]);
    framed.set(ans, 2);
    s.emit('data', Buffer.from(framed.subarray(0, 5)));
    s.emit('data', Buffer.from(framed.subarray(5)));
    expect(await p).toEqual([ADDR, ADDR + 1]);
    expect(s.destroyed).toBe(true);
    expect(r.stats.tcpQueries).toBe(1);
  });

  it('literals, localhost and bad names never reach a server', async () => {
    expect(await r.resolve4('198.18.70.5')).toEqual([ADDR]);
    const e = await fails(r.resolve4('localhost'));
    expect(e).toMatchObject({ code: 'ENOTFOUND', hostname: 'localhost' });
    expect((await fails(r.resolve4('a..b'))).code).toBe('ENOTFOUND');
    servers = [];
    expect((await fails(r.resolve4('host.test'))).code).toBe('EAI_AGAIN');
    expect(udp.take()).toHaveLength(0);
  });
});
