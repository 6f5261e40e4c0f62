import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { SeededRandom } from '../../../src/random.js';
import { Interface } from '../../../src/iface/interface.js';
import { PageOwner } from '../../../src/mem/page-pool.js';
import { Nic } from '../../../src/nic/nic.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import { parseIpv4, parseMac } from '../../../src/wire/addr.js';
import { emitArpRepr } from '../../../src/wire/arp.js';
import { verifyTransportChecksum } from '../../../src/wire/checksum.js';
import { emitEthernetRepr, ETHERTYPE_ARP } from '../../../src/wire/ethernet.js';
import { IPPROTO_TCP, Ipv4Packet } from '../../../src/wire/ipv4.js';

const OUR_MAC = parseMac('02:00:00:00:00:02');
const PEER_MAC = parseMac('02:00:00:00:00:01');
const OUR_IP = parseIpv4('198.18.0.2');
const PEER_IP = parseIpv4('198.18.0.1');

function setup() {
  const clock = new ManualClock(1000);
  const dev = new MemoryDevice();
  const nic = new Nic({ device: dev, mtu: 1500, rxDescriptors: 16, txDescriptors: 64, extraPages: 64 });
  const iface = new Interface({ nic, clock, random: new SeededRandom(1), address: { address: OUR_IP, prefixLength: 24 }, mtu: 1500, mac: OUR_MAC });
  nic.start(iface);
  return { dev, nic, iface };
}

function arpReply(): Uint8Array {
  const f = new Uint8Array(42);
  emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_ARP }, f);
  emitArpRepr({ operation: 2, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: OUR_MAC, targetIp: OUR_IP }, f, 14);
  return f;
}

/** A 20-byte header, 333 bytes of a pool page by reference and 3 bytes by copy. */
function send(iface: Interface, page: number): number {
  const f = iface.beginTransport(PEER_IP, IPPROTO_TCP, 20, 336, 0)!;
  f.header.fill(0, 0, 20);
  f.header[0] = 0x12;
  f.header[12] = 0x50;
  f.appendPage(page, 1, 333);
  f.appendBytes(new Uint8Array([7, 8, 9, 10]), 1, 4);
  return f.commit(0, false, 16);
}

describe('TxFrame', () => {
  it('sends the same checksummed segment whether the next hop was resolved or queued for ARP', () => {
    const { dev, nic, iface } = setup();
    const page = nic.pool.alloc(PageOwner.Stack);
    nic.pool.view(page).forEach((_, i, v) => (v[i] = (i * 7) & 0xff));
    // Unresolved: queued (the 333 page bytes copied), an ARP request goes out.
    expect(send(iface, page)).toBe(333);
    nic.flush();
    expect(dev.written).toHaveLength(1);
    dev.written.length = 0;
    dev.deliver(arpReply());
    expect(dev.written).toHaveLength(1);
    const queued = dev.written[0]!;
    dev.written.length = 0;
    // Resolved: by reference, nothing copied.
    expect(send(iface, page)).toBe(0);
    nic.flush();
    const direct = dev.written[0]!;
    for (const frame of [queued, direct]) {
      const ip = new Ipv4Packet(frame, 14);
      expect(ip.totalLength).toBe(20 + 20 + 336);
      expect(ip.dontFragment).toBe(true);
      expect(verifyTransportChecksum(frame, 34, frame.length, OUR_IP, PEER_IP, IPPROTO_TCP)).toBe(true);
    }
    expect([...queued.subarray(34)]).toEqual([...direct.subarray(34)]);
    expect([...direct.subarray(54, 54 + 333)]).toEqual([...nic.pool.view(page).subarray(1, 334)]);
    expect([...direct.subarray(54 + 333)]).toEqual([8, 9, 10]);
  });

  it('counts no route once and hands out no frame', () => {
    const { iface } = setup();
    expect(iface.beginTransport(parseIpv4('203.0.113.9'), IPPROTO_TCP, 20, 0, 0)).toBeNull();
    expect(iface.stats.drops['ipv4-no-route']).toBe(1);
  });
});
