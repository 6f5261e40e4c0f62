import { beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { SeededRandom } from '../../../src/random.js';
import { DhcpClient, type DhcpClientOptions, type DhcpHost, type DhcpLease } from '../../../src/dhcp/client.js';
import type { DhcpError } from '../../../src/dhcp/errors.js';
import {
  BOOTREQUEST,
  DhcpMessageType,
  DhcpOption,
  optionAddress,
  optionMessageType,
  parseDhcpRepr,
  u32Option,
  type DhcpRepr,
} from '../../../src/wire/dhcp.js';
import { FakeUdp, type Sent } from './fake-udp.js';
import { runTimer, serverReply } from './server.js';

const MAC = Uint8Array.of(2, 0, 0, 0, 0, 7);
const SERVER = 0xc6124601; // 198.18.70.1
const OFFERED = 0xc6124632; // 198.18.70.50

class Host implements DhcpHost {
  readonly mac = MAC;
  configured: DhcpLease | null = null;
  unconfigures = 0;
  probes: number[] = [];
  configure(l: DhcpLease): void {
    this.configured = l;
  }
  unconfigure(): void {
    this.configured = null;
    this.unconfigures++;
  }
  arpProbe(a: number): void {
    this.probes.push(a);
  }
}

function reply(req: DhcpRepr, type: number, extra: [number, Uint8Array][] = [], over: Partial<DhcpRepr> = {}): Uint8Array {
  return serverReply(req, type, { yiaddr: OFFERED, server: SERVER, extra, over });
}

const typeOf = (s: Sent) => optionMessageType(parseDhcpRepr(s.data).options);

describe('DHCP client (RFC 2131 4.4)', () => {
  let clock: ManualClock;
  let udp: FakeUdp;
  let host: Host;
  let errors: DhcpError[];
  let lost: string[];
  let client: DhcpClient;

  function make(o: Partial<DhcpClientOptions> = {}): DhcpClient {
    client = new DhcpClient({ udp, host, clock, random: new SeededRandom(7), probes: 0, events: { error: (e) => errors.push(e), lost: (w) => lost.push(w) }, ...o });
    client.start();
    return client;
  }

  const runTo = (t: number) => runTimer(client, clock, t);

  const answer = (_to: Sent, data: Uint8Array, src = SERVER, dst = 0xffffffff) => udp.deliver(src, 67, dst, 68, data);

  /** DISCOVER -> OFFER -> REQUEST -> ACK. */
  function lease(): void {
    const [discover] = udp.take();
    answer(discover!, reply(parseDhcpRepr(discover!.data), DhcpMessageType.Offer), SERVER, OFFERED);
    const [request] = udp.take();
    answer(request!, reply(parseDhcpRepr(request!.data), DhcpMessageType.Ack));
  }

  beforeEach(() => {
    clock = new ManualClock(1000);
    udp = new FakeUdp();
    host = new Host();
    errors = [];
    lost = [];
  });

  it('DISCOVER, OFFER, REQUEST, ACK: bound with the options of the ACK', () => {
    make({ hostname: 'tapstack' });
    const [discover] = udp.take();
    expect(discover!).toMatchObject({ from: 68, dst: 0xffffffff, dstPort: 67, opts: { source: 0, broadcast: true } });
    const d = parseDhcpRepr(discover!.data);
    expect(d.op).toBe(BOOTREQUEST);
    expect(optionMessageType(d.options)).toBe(DhcpMessageType.Discover);
    expect(d.chaddr).toEqual(MAC);
    expect(new TextDecoder().decode(d.options.get(DhcpOption.HostName))).toBe('tapstack');
    answer(discover!, reply(d, DhcpMessageType.Offer));
    const [request] = udp.take();
    const r = parseDhcpRepr(request!.data);
    expect(r.xid).toBe(d.xid);
    expect(optionMessageType(r.options)).toBe(DhcpMessageType.Request);
    expect(optionAddress(r.options, DhcpOption.RequestedAddress)).toBe(OFFERED);
    expect(optionAddress(r.options, DhcpOption.ServerId)).toBe(SERVER);
    expect(r.ciaddr).toBe(0);
    answer(request!, reply(r, DhcpMessageType.Ack));
    expect(client.state).toBe('bound');
    expect(host.configured).toMatchObject({ address: OFFERED, prefixLength: 24, router: SERVER, dns: [SERVER], server: SERVER, leaseSeconds: 120, t1Seconds: 60, t2Seconds: 105, startMs: 1000 });
    expect(client.stats).toMatchObject({ discovers: 1, offers: 1, requests: 1, acks: 1 });
  });

  it('NAK while requesting: discovery starts over with a new xid', () => {
    make();
    const [discover] = udp.take();
    const d = parseDhcpRepr(discover!.data);
    answer(discover!, reply(d, DhcpMessageType.Offer));
    const [request] = udp.take();
    answer(request!, reply(parseDhcpRepr(request!.data), DhcpMessageType.Nak));
    expect(client.stats.naks).toBe(1);
    expect(lost).toEqual(['nak']);
    const [again] = udp.take();
    expect(typeOf(again!)).toBe(DhcpMessageType.Discover);
    expect(parseDhcpRepr(again!.data).xid).not.toBe(d.xid);
    expect(client.state).toBe('selecting');
  });

  it('retransmits DISCOVER at 4, 8, 16 s (+-1 s, RFC 2131 4.1), then fails with the documented error at 30 s', () => {
    make();
    udp.take();
    const times: number[] = [];
    for (let t = 1000; t <= 31_000; t += 10) {
      runTo(t);
      for (const _ of udp.take()) times.push(clock.nowMs() - 1000);
    }
    expect(times).toHaveLength(3);
    const gaps = [times[0]!, times[1]! - times[0]!, times[2]! - times[1]!];
    [4000, 8000, 16000].forEach((g, i) => {
      expect(gaps[i]!).toBeGreaterThanOrEqual(g - 1000);
      expect(gaps[i]!).toBeLessThanOrEqual(g + 1010);
    });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toBe('no DHCP offer within 30 s');
    expect(errors[0]!.code).toBe('ETIMEDOUT');
    expect(client.state).toBe('failed');
    expect(udp.bound.size).toBe(0);
  });

  it('the bound is configurable (tests)', () => {
    make({ offerTimeoutMs: 2000 });
    runTo(3001);
    expect(errors[0]!.message).toBe('no DHCP offer within 2 s');
  });

  it('renews at T1 (unicast), rebinds at T2 (broadcast), gives the address up at expiry', () => {
    make({ renewRetransmitMinMs: 10_000 });
    lease();
    expect(client.state).toBe('bound');
    runTo(1000 + 59_999);
    expect(udp.take()).toHaveLength(0);
    runTo(1000 + 60_000);
    const [renew] = udp.take();
    expect(renew).toMatchObject({ dst: SERVER, dstPort: 67, opts: { source: OFFERED } });
    const rr = parseDhcpRepr(renew!.data);
    expect(rr.ciaddr).toBe(OFFERED);
    expect(rr.options.has(DhcpOption.ServerId)).toBe(false);
    expect(rr.options.has(DhcpOption.RequestedAddress)).toBe(false);
    expect(client.state).toBe('renewing');
    // No answer: half the time to T2 (22.5 s) later, again.
    runTo(1000 + 82_500);
    expect(udp.take()).toHaveLength(1);
    // Then half of what is left, at least the floor (10 s here): 93.75 s, 103.75 s.
    runTo(1000 + 104_999);
    expect(udp.take().map((s) => s.dst)).toEqual([SERVER, SERVER]);
    runTo(1000 + 105_000);
    const [rebind] = udp.take();
    expect(rebind).toMatchObject({ dst: 0xffffffff, opts: { source: OFFERED, broadcast: true } });
    expect(client.state).toBe('rebinding');
    runTo(1000 + 120_000);
    expect(lost).toEqual(['expired']);
    expect(host.configured).toBeNull();
    expect(client.stats.expiries).toBe(1);
    expect(client.state).toBe('selecting');
    const sent = udp.take();
    expect(typeOf(sent[sent.length - 1]!)).toBe(DhcpMessageType.Discover);
    // Having had a lease, it keeps asking past the 30 s bound instead of failing.
    runTo(clock.nowMs() + 120_000);
    expect(errors).toEqual([]);
    expect(client.state).toBe('selecting');
    expect(udp.take().length).toBeGreaterThanOrEqual(6);
  });

  it('an ACK to the renewal extends the lease from when the REQUEST was sent', () => {
    make();
    lease();
    runTo(1000 + 60_000);
    const [renew] = udp.take();
    clock.advance(500);
    answer(renew!, reply(parseDhcpRepr(renew!.data), DhcpMessageType.Ack), SERVER, OFFERED);
    expect(client.state).toBe('bound');
    expect(client.stats.renewals).toBe(1);
    expect(client.lease!.startMs).toBe(61_000);
    expect(client.nextDeadline()).toBe(61_000 + 60_000);
  });

  it('probes the address and DECLINEs it when another host has it (RFC 2131 2.2, RFC 5227 2.1.1)', () => {
    make({ probes: 2, probeIntervalMs: 1000, probeWaitMs: 2000, declineBackoffMs: 10_000 });
    lease();
    expect(client.state).toBe('checking');
    expect(host.probes).toEqual([OFFERED]);
    expect(host.configured).toBeNull();
    client.arpSeen(OFFERED, Uint8Array.of(2, 9, 9, 9, 9, 9), 0);
    expect(client.stats.declines).toBe(1);
    const [decline] = udp.take();
    const dm = parseDhcpRepr(decline!.data);
    expect(optionMessageType(dm.options)).toBe(DhcpMessageType.Decline);
    expect(optionAddress(dm.options, DhcpOption.RequestedAddress)).toBe(OFFERED);
    expect(optionAddress(dm.options, DhcpOption.ServerId)).toBe(SERVER);
    expect(lost).toEqual(['declined']);
    expect(client.state).toBe('declined');
    runTo(clock.nowMs() + 9_999);
    expect(udp.take()).toHaveLength(0);
    runTo(clock.nowMs() + 1);
    expect(typeOf(udp.take()[0]!)).toBe(DhcpMessageType.Discover);
  });

  it('without a conflict the probes end in BOUND', () => {
    make({ probes: 2, probeIntervalMs: 1000, probeWaitMs: 2000 });
    lease();
    client.arpSeen(0x01020304, Uint8Array.of(2, 9, 9, 9, 9, 9), SERVER); // unrelated
    runTo(clock.nowMs() + 5000);
    expect(host.probes).toEqual([OFFERED, OFFERED]);
    expect(client.state).toBe('bound');
    expect(host.configured!.address).toBe(OFFERED);
  });

  it('RELEASE: unicast to the server with our address, then unconfigured', () => {
    make();
    lease();
    expect(client.release()).toBe(SERVER);
    const [rel] = udp.take();
    expect(rel).toMatchObject({ dst: SERVER, dstPort: 67, opts: { source: OFFERED } });
    const m = parseDhcpRepr(rel!.data);
    expect(optionMessageType(m.options)).toBe(DhcpMessageType.Release);
    expect(m.ciaddr).toBe(OFFERED);
    expect(optionAddress(m.options, DhcpOption.ServerId)).toBe(SERVER);
    expect(host.configured).toBeNull();
    expect(lost).toEqual(['released']);
    expect(client.state).toBe('stopped');
    expect(udp.bound.size).toBe(0);
  });

  it('drops malformed and foreign answers, each under its reason', () => {
    make();
    const [discover] = udp.take();
    const d = parseDhcpRepr(discover!.data);
    const good = reply(d, DhcpMessageType.Offer);
    answer(discover!, reply(d, DhcpMessageType.Offer, [], { xid: d.xid ^ 1 }));
    answer(discover!, reply(d, DhcpMessageType.Offer, [], { op: BOOTREQUEST }));
    answer(discover!, reply(d, DhcpMessageType.Offer, [], { chaddr: Uint8Array.of(2, 1, 1, 1, 1, 1) }));
    answer(discover!, reply(d, DhcpMessageType.Ack));
    answer(discover!, reply(d, DhcpMessageType.Offer, [], { yiaddr: 0 }));
    answer(discover!, good.subarray(0, 200));
    const cookie = good.slice();
    cookie[236] ^= 1;
    answer(discover!, cookie);
    const cut = good.slice(0, 243);
    cut[240] = DhcpOption.LeaseTime;
    cut[241] = 4;
    answer(discover!, cut);
    const noType = reply(d, DhcpMessageType.Offer);
    noType[242] = 9; // option 53's value: not a server's type
    answer(discover!, noType);
    udp.deliver(SERVER, 68, 0xffffffff, 68, good);
    expect(client.stats.drops).toEqual({
      'dhcp-wrong-xid': 1,
      'dhcp-not-reply': 1,
      'dhcp-wrong-chaddr': 1,
      'dhcp-unexpected': 1,
      'dhcp-bad-lease': 1,
      'dhcp-truncated': 1,
      'dhcp-bad-cookie': 1,
      'dhcp-options-truncated': 1,
      'dhcp-bad-message-type': 1,
      'dhcp-wrong-server': 1,
    });
    // Still works: the good OFFER is taken; an ACK from another server is not.
    answer(discover!, good);
    const [request] = udp.take();
    const r = parseDhcpRepr(request!.data);
    answer(request!, reply(r, DhcpMessageType.Ack, [[DhcpOption.ServerId, u32Option(0xc6124609)]]), 0xc6124609);
    expect(client.stats.drops['dhcp-wrong-server']).toBe(2);
    answer(request!, reply(r, DhcpMessageType.Ack));
    expect(client.state).toBe('bound');
    answer(request!, reply(r, DhcpMessageType.Ack));
    expect(client.stats.drops['dhcp-unexpected']).toBe(2);
  });
});
