/**
 * The composition: two stacks on an in-memory cable. Stack A (198.18.183.1) runs a DHCP server
 * and a DNS server on its dgram sockets and a TCP echo server; stack B opens with
 * `address: 'dhcp'`, gets its lease, and connects by name through its resolver. Names that fail
 * come as the socket's 'error', never thrown.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cable } from '../cable.js';
import { Stack } from '../../../src/stack.js';
import { SeededRandom } from '../../../src/random.js';
import type { DgramSocket } from '../../../src/socket/dgram.js';
import { parseIpv4 } from '../../../src/wire/addr.js';
import { DhcpMessageType, optionMessageType, parseDhcpRepr } from '../../../src/wire/dhcp.js';
import { DNS_CLASS_IN, DnsRcode, DnsType, emitDnsMessage, parseDnsMessage, responseFlags } from '../../../src/wire/dns.js';
import { serverReply } from './server.js';

const A = '198.18.183.1';
const LEASED = '198.18.183.40';

let a: Stack;
let b: Stack | null;
let sockets: DgramSocket[];

/** DHCP on A: every DISCOVER offered LEASED, every REQUEST acknowledged (lease 600 s, A router and DNS). */
function dhcpServer(): void {
  const s = a.createSocket('udp4');
  sockets.push(s);
  s.on('message', (msg) => {
    const req = parseDhcpRepr(msg);
    const type = optionMessageType(req.options) === DhcpMessageType.Discover ? DhcpMessageType.Offer : DhcpMessageType.Ack;
    if (optionMessageType(req.options) === DhcpMessageType.Release) return;
    s.send(serverReply(req, type, { yiaddr: parseIpv4(LEASED), server: parseIpv4(A), lease: 600 }), 68, '255.255.255.255');
  });
  s.bind(67, () => s.setBroadcast(true));
}

/** DNS on A: svc.test is A; everything else NXDOMAIN. */
function dnsServer(): void {
  const s = a.createSocket('udp4');
  sockets.push(s);
  s.on('message', (msg, rinfo) => {
    const q = parseDnsMessage(msg);
    const found = q.questions[0]!.name === 'svc.test';
    const answers = found ? [{ name: 'svc.test', type: DnsType.A, class: DNS_CLASS_IN, ttl: 60, data: Uint8Array.of(198, 18, 183, 1) }] : [];
    s.send(emitDnsMessage({ id: q.id, flags: responseFlags(found ? DnsRcode.NoError : DnsRcode.NXDomain), questions: q.questions, answers }), rinfo.port, rinfo.address);
  });
  s.bind(53);
}

beforeEach(() => {
  const [da, db] = cable('mem-a', 'mem-b');
  sockets = [];
  a = Stack.open({ device: da, address: `${A}/24`, random: new SeededRandom(1), poolPages: 1024 });
  a.createServer((sock) => sock.pipe(sock)).listen(8080);
  dhcpServer();
  dnsServer();
  b = Stack.open({ device: db, address: 'dhcp', dhcp: { probes: 0 }, random: new SeededRandom(2), poolPages: 1024 });
});

afterEach(() => {
  for (const s of sockets) s.close();
  b?.close();
  a.close();
});

describe('a stack with address dhcp, and names', () => {
  it('gets its lease, then connects by name (writes made while the name resolves go out after)', async () => {
    const lease = await b!.lease();
    expect(lease).toMatchObject({ address: parseIpv4(LEASED), prefixLength: 24, router: parseIpv4(A), dns: [parseIpv4(A)], leaseSeconds: 600 });
    expect(b!.iface.address).toBe(parseIpv4(LEASED));
    const sock = b!.connect({ host: 'svc.test', port: 8080 });
    const lookups: unknown[][] = [];
    sock.on('lookup', (...args: unknown[]) => lookups.push(args));
    sock.write('hello by name');
    const got = await new Promise<string>((resolve, reject) => {
      sock.on('data', (d: Buffer) => resolve(d.toString()));
      sock.on('error', reject);
    });
    expect(got).toBe('hello by name');
    expect(lookups).toEqual([[null, A, 4, 'svc.test']]);
    expect(sock.remoteAddress).toBe(A);
    expect(sock.localAddress).toBe(LEASED);
    expect(b!.dns.stats).toMatchObject({ lookups: 1, queries: 1, answers: 1 });
    sock.destroy();
  });

  it('before the lease, a connection fails with ENETUNREACH through error', async () => {
    const sock = b!.connect({ host: A, port: 8080 });
    const e = await new Promise<Error & { code?: string }>((resolve) => sock.on('error', resolve));
    expect(e).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect' });
    expect(b!.iface.configured).toBe(false);
  });

  it('an unknown name and localhost: ENOTFOUND through error, asynchronously, never thrown', async () => {
    await b!.lease();
    for (const host of ['missing.test', 'localhost']) {
      let returned = false;
      let errorBeforeReturn = false;
      const sock = b!.connect({ host, port: 8080 });
      const e = new Promise<Error & { code?: string; hostname?: string; syscall?: string }>((resolve) =>
        sock.on('error', (err) => {
          if (!returned) errorBeforeReturn = true;
          resolve(err);
        }),
      );
      returned = true;
      expect(errorBeforeReturn).toBe(false);
      expect(await e).toMatchObject({ code: 'ENOTFOUND', hostname: host, syscall: 'getaddrinfo' });
    }
    expect(b!.dns.stats.queries).toBe(1); // localhost never asked
  });

  it('close() releases the lease: a RELEASE reaches the server, and the interface is unconfigured', async () => {
    await b!.lease();
    const seen: number[] = [];
    sockets[0]!.on('message', (msg) => seen.push(optionMessageType(parseDhcpRepr(msg).options)!));
    // The server's MAC is known from the DNS exchange or resolved by end().
    await b!.end();
    expect(b!.iface.configured).toBe(false);
    expect(b!.dhcp!.stats.releases).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toContain(DhcpMessageType.Release);
    b = null;
  });
});
