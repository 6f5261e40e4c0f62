import { describe, expect, it } from 'vitest';
import { decodeName, DNS_CLASS_IN, DnsRcode, DnsType, emitDnsMessage, emitDnsQuery, encodeName, parseDnsMessage, responseFlags } from '../../../src/wire/dns.js';
import { WireError } from '../../../src/wire/errors.js';

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
  return 'none';
}

describe('DNS names (RFC 1035 4.1.4)', () => {
  it('decodes plain and compressed names, lower-cased', () => {
    const m = new Uint8Array(64);
    let i = encodeName('WWW.Example.org', m, 12);
    // "mail" then a pointer to "example.org" (offset 12 + 4).
    m.set([4, 0x6d, 0x61, 0x69, 0x6c, 0xc0, 16], i);
    expect(decodeName(m, 12)).toEqual({ name: 'www.example.org', end: i });
    expect(decodeName(m, i)).toEqual({ name: 'mail.example.org', end: i + 7 });
  });

  it('refuses loops, forward and out-of-range pointers, long names and reserved labels', () => {
    const self = Uint8Array.of(...new Array(12).fill(0), 0xc0, 12);
    expect(reason(() => decodeName(self, 12))).toBe('dns-name-loop');
    const back = Uint8Array.of(...new Array(12).fill(0), 1, 0x61, 0xc0, 12);
    expect(reason(() => decodeName(back, 12))).toBe('dns-name-loop');
    // Two pointers that point at each other: the second jumps back to the first's labels.
    const pair = Uint8Array.of(...new Array(12).fill(0), 1, 0x61, 0xc0, 16, 1, 0x62, 0xc0, 12);
    expect(reason(() => decodeName(pair, 12))).toBe('dns-bad-pointer');
    expect(reason(() => decodeName(pair, 16))).toBe('dns-name-loop');
    const forward = Uint8Array.of(...new Array(12).fill(0), 0xc0, 15, 0, 0);
    expect(reason(() => decodeName(forward, 12))).toBe('dns-bad-pointer');
    const out = Uint8Array.of(...new Array(12).fill(0), 0xc1, 0);
    expect(reason(() => decodeName(out, 12))).toBe('dns-bad-pointer');
    const long = new Uint8Array(330);
    for (let k = 0; k < 5; k++) long.set([63, ...new Array(63).fill(0x61)], k * 64);
    expect(reason(() => decodeName(long, 0))).toBe('dns-name-too-long');
    expect(reason(() => decodeName(Uint8Array.of(0x40), 0))).toBe('dns-bad-label');
    expect(reason(() => decodeName(Uint8Array.of(3, 0x61), 0))).toBe('dns-truncated');
    expect(() => encodeName('a'.repeat(64), new Uint8Array(100), 0)).toThrow(RangeError);
  });
});

describe('DNS messages (RFC 1035 4.1)', () => {
  it('a query, and an answer with A, AAAA and a CNAME', () => {
    const q = new Uint8Array(512);
    const n = emitDnsQuery(0xbeef, 'host.test', DnsType.A, q);
    const pq = parseDnsMessage(q.subarray(0, n));
    expect(pq).toMatchObject({ id: 0xbeef, response: false, recursionDesired: true, questions: [{ name: 'host.test', type: 1, class: 1 }] });
    const cname = new Uint8Array(32);
    const cl = encodeName('real.test', cname, 0);
    const a = emitDnsMessage({
      id: 0xbeef,
      flags: responseFlags(DnsRcode.NoError),
      questions: [{ name: 'host.test', type: DnsType.A, class: DNS_CLASS_IN }],
      answers: [
        { name: 'host.test', type: DnsType.CNAME, class: DNS_CLASS_IN, ttl: 60, data: cname.slice(0, cl) },
        { name: 'real.test', type: DnsType.A, class: DNS_CLASS_IN, ttl: 0x80000000, data: Uint8Array.of(198, 18, 70, 1) },
        { name: 'real.test', type: DnsType.AAAA, class: DNS_CLASS_IN, ttl: 5, data: new Uint8Array(16).fill(1) },
      ],
    });
    const p = parseDnsMessage(a);
    expect(p.response).toBe(true);
    expect(p.answers[0]!.target).toBe('real.test');
    expect(p.answers[1]!.address).toBe(0xc6124601);
    expect(p.answers[1]!.ttl).toBe(0); // RFC 2181 8
    expect(p.answers[2]!.address6).toHaveLength(16);
    expect(reason(() => parseDnsMessage(a.subarray(0, a.length - 3)))).toBe('dns-truncated');
    expect(reason(() => parseDnsMessage(a.subarray(0, 11)))).toBe('dns-truncated');
  });

  it('TC: a cut answer parses as far as it goes', () => {
    const a = emitDnsMessage({
      id: 1,
      flags: responseFlags(DnsRcode.NoError, true),
      questions: [{ name: 'x.test', type: DnsType.A, class: DNS_CLASS_IN }],
      answers: [],
    });
    a[7] = 5; // ancount 5, none present
    const p = parseDnsMessage(a);
    expect(p.truncated).toBe(true);
    expect(p.answers).toHaveLength(0);
  });

  it('a bad A length is bad rdata', () => {
    const a = emitDnsMessage({ id: 1, flags: responseFlags(0), questions: [], answers: [{ name: 'x', type: DnsType.A, class: DNS_CLASS_IN, ttl: 1, data: Uint8Array.of(1, 2, 3) }] });
    expect(reason(() => parseDnsMessage(a))).toBe('dns-bad-rdata');
  });
});
