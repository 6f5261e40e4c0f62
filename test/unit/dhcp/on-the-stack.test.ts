/**
 * The DHCP client on the real UDP layer and interface (in-memory device, manual clock): the
 * interface starts unconfigured, takes the answers unicast to its MAC, gets its address from the
 * ACK and gives it up at expiry; TCP connections end with ECONNABORTED when it goes.
 */
import { describe, expect, it } from 'vitest';
import { DhcpClient } from '../../../src/dhcp/client.js';
import { TcpLayer } from '../../../src/tcp/tcp-layer.js';
import type { TcpError } from '../../../src/tcp/errors.js';
import { BROADCAST_MAC, parseIpv4 } from '../../../src/wire/addr.js';
import { DhcpMessageType, optionMessageType, parseDhcpRepr, type DhcpRepr } from '../../../src/wire/dhcp.js';
import { IPPROTO_UDP } from '../../../src/wire/ipv4.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { serverReply } from './server.js';
import { PEER_IP, UdpHarness, udpFrame, type Sent } from '../udp/harness.js';

const OFFERED = parseIpv4('198.18.0.77');

function reply(req: DhcpRepr, type: number, lease = 120): Uint8Array {
  return serverReply(req, type, { yiaddr: OFFERED, server: PEER_IP, lease });
}

function dhcpOf(s: Sent): DhcpRepr {
  expect(s.protocol).toBe(IPPROTO_UDP);
  return parseDhcpRepr(s.ip.subarray(8));
}

function setup() {
  const h = new UdpHarness();
  h.iface.unconfigure();
  const tcp = new TcpLayer({ iface: h.iface, nic: h.nic, rxMemory: h.nic.rxMemory, clock: h.clock, random: h.random, offload: false, defer: (fn) => fn(), kick: () => h.nic.flush() });
  const client = new DhcpClient({
    udp: h.udp,
    clock: h.clock,
    random: h.random,
    probes: 0,
    host: {
      mac: h.iface.mac,
      configure: (l) => h.iface.configure({ address: l.address, prefixLength: l.prefixLength }, l.router ?? undefined),
      unconfigure: () => h.iface.unconfigure(),
      arpProbe: (a) => h.iface.arpProbe(a),
    },
  });
  return { h, tcp, client };
}

describe('the DHCP client on the stack', () => {
  it('unconfigured: DISCOVER from 0.0.0.0 to the broadcast MAC; a unicast OFFER and ACK are taken; the address is ours', () => {
    const { h, client } = setup();
    expect(h.iface.configured).toBe(false);
    client.start();
    const [discover] = h.settle();
    expect(discover).toMatchObject({ src: 0, dst: 0xffffffff });
    expect(discover!.ethDst).toEqual(BROADCAST_MAC);
    const d = dhcpOf(discover!);
    expect(optionMessageType(d.options)).toBe(DhcpMessageType.Discover);
    // dnsmasq sends the OFFER to the offered address and our MAC.
    const [request] = h.deliver(udpFrame({ dst: OFFERED, srcPort: 67, dstPort: 68, data: reply(d, DhcpMessageType.Offer) }));
    expect(request).toMatchObject({ src: 0, dst: 0xffffffff });
    expect(optionMessageType(dhcpOf(request!).options)).toBe(DhcpMessageType.Request);
    const after = h.deliver(udpFrame({ dst: OFFERED, srcPort: 67, dstPort: 68, data: reply(d, DhcpMessageType.Ack) }));
    expect(client.state).toBe('bound');
    expect(h.iface.address).toBe(OFFERED);
    expect(h.iface.prefixLength).toBe(24);
    expect(h.iface.router).toBe(PEER_IP);
    expect(after).toEqual([]); // the ARP announcement is not IPv4
    expect(h.iface.stats.arpRequestsOut).toBeGreaterThanOrEqual(1);
  });

  it('unconfigured, other unicast is not for us (TCP to the offered address, UDP to another MAC)', () => {
    const { h } = setup();
    h.deliver(udpFrame({ dst: OFFERED, dstPort: 9, data: Uint8Array.of(1), ethDst: Uint8Array.of(2, 9, 9, 9, 9, 9) }));
    expect(h.iface.stats.drops['eth-not-for-us']).toBe(1);
    const f = udpFrame({ dst: OFFERED, dstPort: 9, data: Uint8Array.of(1) });
    f[23] = 6; // TCP
    f[24] = f[25] = 0;
    const sum = internetChecksum(f, 14, 34);
    f[24] = sum >>> 8;
    f[25] = sum & 0xff;
    h.deliver(f);
    expect(h.iface.stats.drops['ipv4-not-for-us']).toBe(1);
  });

  it('when the lease expires, TCP connections end with ECONNABORTED and the interface is unconfigured', () => {
    const { h, tcp, client } = setup();
    client.start();
    const d = dhcpOf(h.settle()[0]!);
    h.deliver(udpFrame({ dst: OFFERED, srcPort: 67, dstPort: 68, data: reply(d, DhcpMessageType.Offer, 60) }));
    h.deliver(udpFrame({ dst: OFFERED, srcPort: 67, dstPort: 68, data: reply(d, DhcpMessageType.Ack, 60) }));
    expect(h.iface.address).toBe(OFFERED);
    const c = tcp.connect(PEER_IP, 80);
    let closed: TcpError | null | undefined;
    c.user = { onConnect: () => undefined, onData: () => undefined, onEnd: () => undefined, onSendSpace: () => undefined, onClose: (e: TcpError | null) => (closed = e), bufferedBytes: () => 0 } as unknown as typeof c.user;
    c.connect();
    expect(tcp.connectionCount).toBe(1);
    h.clock.advance(60_000);
    client.poll();
    expect(h.iface.configured).toBe(false);
    expect(tcp.connectionCount).toBe(0);
    expect(closed).toMatchObject({ code: 'ECONNABORTED' });
    expect(client.state).toBe('selecting');
    // Discovery again, from 0.0.0.0.
    const again = h.settle().filter((s) => s.protocol === IPPROTO_UDP);
    expect(again[again.length - 1]).toMatchObject({ src: 0, dst: 0xffffffff });
  });
});
