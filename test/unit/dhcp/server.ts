/** A simulated DHCP server's side for the client's unit tests: its answers, and running a timer. */
import type { ManualClock } from '../../../src/clock.js';
import type { Ipv4Addr } from '../../../src/wire/addr.js';
import { BOOTREPLY, DhcpMessageType, DhcpOption, dhcpReprLength, emitDhcpRepr, u32Option, type DhcpRepr } from '../../../src/wire/dhcp.js';

export interface ReplyOptions {
  yiaddr: Ipv4Addr;
  server: Ipv4Addr;
  lease?: number;
  /** More options, after the usual ones (a later one replaces an earlier one of the same code). */
  extra?: [number, Uint8Array][];
  /** Fixed fields to replace. */
  over?: Partial<DhcpRepr>;
}

/** The server's answer of `type` to `req`: lease, /24 mask, router and DNS the server (none in a NAK). */
export function serverReply(req: DhcpRepr, type: number, o: ReplyOptions): Uint8Array {
  const nak = type === DhcpMessageType.Nak;
  const lease: [number, Uint8Array][] = [
    [DhcpOption.LeaseTime, u32Option(o.lease ?? 120)],
    [DhcpOption.SubnetMask, u32Option(0xffffff00)],
    [DhcpOption.Router, u32Option(o.server)],
    [DhcpOption.DnsServers, u32Option(o.server)],
  ];
  const r: DhcpRepr = {
    op: BOOTREPLY,
    xid: req.xid,
    secs: 0,
    flags: 0,
    ciaddr: 0,
    yiaddr: nak ? 0 : o.yiaddr,
    siaddr: 0,
    giaddr: 0,
    chaddr: req.chaddr,
    options: new Map<number, Uint8Array>([[DhcpOption.MessageType, Uint8Array.of(type)], [DhcpOption.ServerId, u32Option(o.server)], ...(nak ? [] : lease), ...(o.extra ?? [])]),
    ...o.over,
  };
  const buf = new Uint8Array(dhcpReprLength(r));
  emitDhcpRepr(r, buf);
  return buf;
}

/** Run `t`'s timer (nextDeadline/poll) on `clock` up to time `until`, one deadline at a time. */
export function runTimer(t: { nextDeadline(): number; poll(): void }, clock: ManualClock, until: number): void {
  for (;;) {
    const d = t.nextDeadline();
    if (d > until) break;
    clock.set(Math.max(clock.nowMs(), d));
    t.poll();
  }
  clock.set(until);
}
