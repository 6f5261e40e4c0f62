/**
 * A frame that arrives on an idle stack is answered within the wake-up that read it: between
 * the read and the write of the answer there is no timer, no setImmediate, no nextTick and no
 * promise. And what a wake-up does is the work that arrived: idle connections are not visited.
 * The whole stack as `Stack.open` composes it, on the memory device: `deliver` is the TAP's
 * readiness callback, so when it returns the wake-up is over and nothing else has run.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { SeededRandom } from '../../src/random.js';
import { Stack } from '../../src/stack.js';
import { MemoryDevice } from '../../src/tap/memory-device.js';
import { TcpConnection } from '../../src/tcp/connection.js';
import { parseIpv4, parseMac } from '../../src/wire/addr.js';
import { emitArpRepr } from '../../src/wire/arp.js';
import { emitEthernetRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame } from '../../src/wire/ethernet.js';
import { emitIcmpEchoRepr } from '../../src/wire/icmp.js';
import { emitIpv4Repr, IPPROTO_ICMP, IPPROTO_TCP, Ipv4Packet } from '../../src/wire/ipv4.js';
import { seqAdd } from '../../src/wire/seq.js';
import { emitTcpHeader, fillTcpChecksum, TcpFlag, TcpSegment, tcpOptionsLength, type TcpOptionsToEmit } from '../../src/wire/tcp.js';

const OUR_MAC = parseMac('02:00:00:00:00:02');
const PEER_MAC = parseMac('02:00:00:00:00:01');
const OUR_IP = parseIpv4('198.18.0.2');
const PEER_IP = parseIpv4('198.18.0.1');
const { SYN, ACK, PSH } = TcpFlag;

function arpRequest(): Uint8Array {
  const f = new Uint8Array(42);
  emitEthernetRepr({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: PEER_MAC, etherType: ETHERTYPE_ARP }, f);
  emitArpRepr({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: new Uint8Array(6), targetIp: OUR_IP }, f, 14);
  return f;
}

function echoRequest(seq: number): Uint8Array {
  const msg = new Uint8Array(8 + 56);
  emitIcmpEchoRepr({ type: 8, code: 0, identifier: 0x77, sequence: seq }, msg, 0, new Uint8Array(56).fill(seq));
  const f = new Uint8Array(34 + msg.length);
  emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
  emitIpv4Repr({ src: PEER_IP, dst: OUR_IP, protocol: IPPROTO_ICMP, ttl: 64, payloadLength: msg.length, identification: seq }, f, 14);
  f.set(msg, 34);
  return f;
}

function tcpFrame(srcPort: number, seq: number, ack: number, flags: number, payload = new Uint8Array(0), opts?: TcpOptionsToEmit): Uint8Array {
  const optLen = tcpOptionsLength(opts);
  const l4 = 20 + optLen + payload.length;
  const f = new Uint8Array(34 + l4);
  emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
  emitIpv4Repr({ src: PEER_IP, dst: OUR_IP, protocol: IPPROTO_TCP, ttl: 64, payloadLength: l4, dontFragment: true }, f, 14);
  emitTcpHeader(f, 34, { srcPort, dstPort: 80, seq: seq >>> 0, ack: ack >>> 0, flags, window: 65535 }, opts);
  f.set(payload, 34 + 20 + optLen);
  fillTcpChecksum(f, 34, l4, PEER_IP, OUR_IP);
  return f;
}

/** What a written frame is: `icmp`, `arp`, or the TCP flags with seq and ack. */
function describeFrame(f: Uint8Array): { kind: string; seq?: number; ack?: number; flags?: number; dstPort?: number } {
  const eth = new EthernetFrame(f);
  if (eth.etherType === ETHERTYPE_ARP) return { kind: 'arp' };
  const ip = new Ipv4Packet(f, 14);
  if (ip.protocol === IPPROTO_ICMP) return { kind: 'icmp' };
  const tcp = new TcpSegment(f, 14 + ip.headerLength, ip.totalLength - ip.headerLength);
  return { kind: 'tcp', seq: tcp.seq, ack: tcp.ack, flags: tcp.flags, dstPort: tcp.dstPort };
}

let stack: Stack;
let dev: MemoryDevice;
let clock: ManualClock;
/** Deferrals asked for since the last `watch()`: setImmediate, setTimeout, nextTick, queueMicrotask. */
let deferrals: string[];

function watch(): void {
  deferrals = [];
  for (const name of ['setImmediate', 'setTimeout', 'queueMicrotask'] as const) {
    const orig = globalThis[name] as (...a: unknown[]) => unknown;
    vi.spyOn(globalThis, name).mockImplementation(((...a: unknown[]) => {
      deferrals.push(name);
      return orig(...a);
    }) as never);
  }
  const tick = process.nextTick;
  vi.spyOn(process, 'nextTick').mockImplementation((...a: Parameters<typeof tick>) => {
    deferrals.push('nextTick');
    tick(...a);
  });
}

/** Let the event loop finish its turn: deferred work of earlier wake-ups runs. */
async function endOfTurn(): Promise<void> {
  await new Promise((r) => setImmediate(r));
}

/**
 * One wake-up with `frame`, at the start of a turn of the event loop: what was written by the
 * time it returned, and what it deferred.
 */
async function wakeUp(frame: Uint8Array): Promise<{ written: Uint8Array[]; deferred: string[] }> {
  await endOfTurn();
  dev.written.length = 0;
  watch();
  dev.deliver(frame);
  const written = dev.written.splice(0);
  const deferred = deferrals;
  vi.restoreAllMocks();
  return { written, deferred };
}

beforeEach(() => {
  clock = new ManualClock(10_000);
  dev = new MemoryDevice();
  stack = Stack.open({ device: dev, address: '198.18.0.2/24', mac: OUR_MAC, clock, random: new SeededRandom(7), poolPages: 2048 });
  dev.deliver(arpRequest());
  dev.written.length = 0;
});

afterEach(() => {
  vi.restoreAllMocks();
  stack.close();
});

/** A passive open from the peer's port `port`: returns the peer's next seq and ours. */
async function handshake(port: number): Promise<{ peerSeq: number; ourSeq: number }> {
  const isn = 0x1000_0000 + port * 1000;
  const { written } = await wakeUp(tcpFrame(port, isn, 0, SYN, undefined, { mss: 1460 }));
  expect(written).toHaveLength(1);
  const synAck = describeFrame(written[0]!);
  expect(synAck.flags).toBe(SYN | ACK);
  const ourSeq = seqAdd(synAck.seq!, 1);
  const peerSeq = seqAdd(isn, 1);
  expect((await wakeUp(tcpFrame(port, peerSeq, ourSeq, ACK))).written).toHaveLength(0);
  return { peerSeq, ourSeq };
}

describe('one wake-up: the answer leaves before it returns', () => {
  it('an echo request: the reply is written, nothing deferred', async () => {
    const { written, deferred } = await wakeUp(echoRequest(1));
    expect(written.map((f) => describeFrame(f).kind)).toEqual(['icmp']);
    expect(deferred).toEqual([]);
  });

  it('an ARP request: the reply is written, nothing deferred', async () => {
    const { written, deferred } = await wakeUp(arpRequest());
    expect(written.map((f) => describeFrame(f).kind)).toEqual(['arp']);
    expect(deferred).toEqual([]);
  });

  it('a SYN: the SYN-ACK is written in the wake-up', async () => {
    stack.createServer(() => {}).listen(80);
    const { written, deferred } = await wakeUp(tcpFrame(40001, 5000, 0, SYN, undefined, { mss: 1460 }));
    expect(written.map((f) => describeFrame(f).flags)).toEqual([SYN | ACK]);
    // The SYN-ACK's retransmission timer may be armed: after the write, not before it.
    expect(deferred.filter((d) => d !== 'setTimeout')).toEqual([]);
  });

  it('data out of order: the duplicate ACK is written in the wake-up, no setImmediate after it', async () => {
    stack.createServer((s) => s.on('data', () => {})).listen(80);
    const { peerSeq, ourSeq } = await handshake(40002);
    const { written, deferred } = await wakeUp(tcpFrame(40002, seqAdd(peerSeq, 100), ourSeq, ACK | PSH, new Uint8Array(10).fill(1)));
    expect(written.map(describeFrame)).toEqual([{ kind: 'tcp', seq: ourSeq, ack: peerSeq, flags: ACK, dstPort: 40002 }]);
    expect(deferred).toEqual([]);
  });
});

describe('a receive batch ends with its own flush', () => {
  it('data in order: no setImmediate for output the batch sends itself', async () => {
    stack.createServer((s) => s.on('data', () => {})).listen(80);
    const { peerSeq, ourSeq } = await handshake(40003);
    const { written, deferred } = await wakeUp(tcpFrame(40003, peerSeq, ourSeq, ACK | PSH, new Uint8Array(10).fill(2)));
    // One small segment: its ACK is delayed (RFC 1122 4.2.3.2), by the timer, not the loop.
    expect(written).toHaveLength(0);
    expect(deferred.filter((d) => d === 'setImmediate')).toEqual([]);
  });
});

describe('idle connections cost a wake-up nothing', () => {
  it('with 1,000 idle connections a ping visits none of them, and none holds a timer', async () => {
    stack.createServer(() => {}).listen(80);
    for (let i = 0; i < 1000; i++) await handshake(20000 + i);
    expect(stack.tcp.connectionCount).toBe(1000);
    // Past the SYN-ACKs' retransmission deadlines: what the handshakes queued has run.
    clock.advance(5_000);
    stack.tcp.poll();
    expect(stack.tcp.timers.size).toBe(0);
    const visits = ['flush', 'nextDeadline', 'onTimer', 'segmentArrives'] as const;
    const spies = visits.map((m) => vi.spyOn(TcpConnection.prototype, m));
    for (let seq = 1; seq <= 10; seq++) {
      dev.deliver(echoRequest(seq));
      stack.tcp.poll(); // a timer wake-up too
    }
    expect(dev.written.filter((f) => describeFrame(f).kind === 'icmp')).toHaveLength(10);
    expect(spies.map((s) => s.mock.calls.length)).toEqual([0, 0, 0, 0]);
  });
});
