import { describe, expect, it } from 'vitest';
import {
  BOOTREPLY,
  checkDhcp,
  DHCP_MIN_LEN,
  DHCP_OPTIONS_OFFSET,
  DhcpMessageType,
  DhcpOption,
  dhcpReprLength,
  emitDhcpRepr,
  optionAddress,
  optionAddresses,
  optionMessageType,
  optionU32,
  parseDhcpRepr,
  u32Option,
  type DhcpRepr,
} from '../../../src/wire/dhcp.js';
import { WireError } from '../../../src/wire/errors.js';

const MAC = new Uint8Array([2, 0, 0, 0, 0, 1]);

function offer(): DhcpRepr {
  return {
    op: BOOTREPLY,
    xid: 0x12345678,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: 0xc6124602,
    siaddr: 0,
    giaddr: 0,
    chaddr: MAC,
    options: new Map([
      [DhcpOption.MessageType, Uint8Array.of(DhcpMessageType.Offer)],
      [DhcpOption.ServerId, u32Option(0xc6124601)],
      [DhcpOption.LeaseTime, u32Option(120)],
      [DhcpOption.DnsServers, Uint8Array.of(198, 18, 70, 1, 198, 18, 70, 9)],
    ]),
  };
}

describe('DHCP messages (RFC 2131 2)', () => {
  it('round-trips, padded to 300 octets (RFC 1542)', () => {
    const r = offer();
    const buf = new Uint8Array(600);
    const n = emitDhcpRepr(r, buf);
    expect(n).toBe(DHCP_MIN_LEN);
    expect(n).toBe(dhcpReprLength(r));
    expect(checkDhcp(buf, 0, n)).toBeNull();
    const p = parseDhcpRepr(buf, 0, n);
    expect(p.xid).toBe(0x12345678);
    expect(p.yiaddr).toBe(0xc6124602);
    expect(p.chaddr).toEqual(MAC);
    expect(optionMessageType(p.options)).toBe(DhcpMessageType.Offer);
    expect(optionAddress(p.options, DhcpOption.ServerId)).toBe(0xc6124601);
    expect(optionU32(p.options, DhcpOption.LeaseTime)).toBe(120);
    expect(optionAddresses(p.options, DhcpOption.DnsServers)).toEqual([0xc6124601, 0xc6124609]);
  });

  it('rejects short messages, a bad cookie, truncated options and a missing End', () => {
    const buf = new Uint8Array(600);
    const n = emitDhcpRepr(offer(), buf);
    expect(checkDhcp(buf, 0, 239)).toBe('dhcp-truncated');
    const bad = buf.slice(0, n);
    bad[236] = 0;
    expect(checkDhcp(bad, 0, n)).toBe('dhcp-bad-cookie');
    // An option whose length runs past the end.
    const cut = buf.slice(0, DHCP_OPTIONS_OFFSET + 4);
    cut[DHCP_OPTIONS_OFFSET] = DhcpOption.LeaseTime;
    cut[DHCP_OPTIONS_OFFSET + 1] = 4;
    expect(checkDhcp(cut, 0, cut.length)).toBe('dhcp-options-truncated');
    // No End: all pad.
    const noEnd = buf.slice(0, n);
    noEnd.fill(0, DHCP_OPTIONS_OFFSET);
    expect(checkDhcp(noEnd, 0, n)).toBe('dhcp-options-truncated');
    const hw = buf.slice(0, n);
    hw[2] = 16;
    expect(checkDhcp(hw, 0, n)).toBe('dhcp-bad-hardware');
    expect(() => parseDhcpRepr(bad)).toThrow(WireError);
  });

  it('reads options overloaded into file and sname (RFC 2132 9.3), and joins repeated ones (RFC 3396)', () => {
    const buf = new Uint8Array(400);
    const n = emitDhcpRepr({ ...offer(), options: new Map([[DhcpOption.Overload, Uint8Array.of(3)], [DhcpOption.MessageType, Uint8Array.of(DhcpMessageType.Ack)]]) }, buf);
    // file (108): router option; sname (44): a hostname in two pieces... and End in each.
    buf.set([DhcpOption.Router, 4, 10, 0, 0, 1, DhcpOption.End], 108);
    buf.set([DhcpOption.HostName, 2, 0x61, 0x62, DhcpOption.HostName, 1, 0x63, DhcpOption.End], 44);
    const p = parseDhcpRepr(buf, 0, n);
    expect(optionAddress(p.options, DhcpOption.Router)).toBe(0x0a000001);
    expect(new TextDecoder().decode(p.options.get(DhcpOption.HostName))).toBe('abc');
    // An overloaded field without End is truncated.
    buf[114] = 0;
    expect(checkDhcp(buf, 0, n)).toBe('dhcp-options-truncated');
  });
});
