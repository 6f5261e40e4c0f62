/**
 * Property tests of the DHCP and DNS parsers on mutated and random input: they answer with a
 * message or a WireError (never another exception), the checker and the parser agree, and name
 * decoding ends (compression pointers only go back) within 255 octets.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkDhcp, DhcpMessageType, DhcpOption, dhcpReprLength, emitDhcpRepr, parseDhcpRepr, u32Option } from '../../../src/wire/dhcp.js';
import { decodeName, DNS_CLASS_IN, DnsRcode, DnsType, emitDnsMessage, parseDnsMessage, responseFlags } from '../../../src/wire/dns.js';
import { mac, mutated, parseOutcome, run, u32 } from './arbitraries.js';

const dhcpMessage = fc.tuple(u32, mac, u32, fc.array(fc.tuple(fc.integer({ min: 1, max: 254 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 6 })).map(([xid, chaddr, yiaddr, extra]) => {
  const r = {
    op: 2,
    xid,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr,
    siaddr: 0,
    giaddr: 0,
    chaddr,
    options: new Map<number, Uint8Array>([[DhcpOption.MessageType, Uint8Array.of(DhcpMessageType.Offer)], [DhcpOption.ServerId, u32Option(yiaddr)], ...extra]),
  };
  const b = new Uint8Array(dhcpReprLength(r));
  emitDhcpRepr(r, b);
  return b;
});

const label = fc.stringMatching(/^[a-z0-9]{1,12}$/);
const dnsName = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const dnsMessage = fc.tuple(fc.integer({ min: 0, max: 0xffff }), dnsName, fc.array(u32, { maxLength: 4 }), fc.boolean()).map(([id, name, addrs, tc]) =>
  emitDnsMessage({
    id,
    flags: responseFlags(DnsRcode.NoError, tc),
    questions: [{ name, type: DnsType.A, class: DNS_CLASS_IN }],
    answers: addrs.map((a) => ({ name, type: DnsType.A, class: DNS_CLASS_IN, ttl: 60, data: Uint8Array.of(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255) })),
  }),
);

describe('DHCP and DNS parsers on hostile input', () => {
  it('DHCP: the checker and the parser agree; a checked message parses', () => {
    run(
      fc.property(mutated(dhcpMessage), (b) => {
        const reason = checkDhcp(b, 0, b.length);
        expect(parseOutcome(() => parseDhcpRepr(b))).toBe(reason);
      }),
    );
  });

  it('DNS: a mutated message parses or is refused with a WireError', () => {
    run(
      fc.property(mutated(dnsMessage), (b) => {
        parseOutcome(() => parseDnsMessage(b));
      }),
    );
  });

  it('DNS names: random bytes full of pointers decode to at most 255 octets or a WireError, and always end', () => {
    const pointerish = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(0xc0), fc.integer({ min: 0, max: 40 })), { minLength: 1, maxLength: 80 }).map((a) => Uint8Array.from(a));
    run(
      fc.property(pointerish, fc.nat({ max: 79 }), (b, at) => {
        parseOutcome(() => {
          const { name } = decodeName(b, at % b.length);
          expect(name.length).toBeLessThanOrEqual(255 * 4);
        });
      }),
      2000,
    );
  });
});
