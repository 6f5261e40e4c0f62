/**
 * A scripted TCP peer for deterministic tests of the TCP engine: no sockets, no real time.
 *
 * {@link Harness} builds MemoryDevice + Nic + Interface + TcpLayer on a ManualClock, wired as
 * `Stack` wires them (TCP output flushed after every receive batch), with deferred work queued
 * so the test runs it. Every frame tapstack writes is parsed (checksums verified) and stamped
 * with the virtual time it left at. {@link Peer} builds the other end's segments with the
 * `src/wire` emitters. {@link Recorder} is a `TcpUser` that records what the application sees.
 */
import { expect } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { SeededRandom } from '../../../src/random.js';
import { Interface } from '../../../src/iface/interface.js';
import type { RxPayload } from '../../../src/mem/rx-payload.js';
import { Nic } from '../../../src/nic/nic.js';
import { MemoryDevice } from '../../../src/tap/memory-device.js';
import type { TcpConfig } from '../../../src/tcp/config.js';
import type { TcpConnection, TcpUser } from '../../../src/tcp/connection.js';
import type { TcpError } from '../../../src/tcp/errors.js';
import { TcpLayer } from '../../../src/tcp/tcp-layer.js';
import { parseIpv4, parseMac } from '../../../src/wire/addr.js';
import { emitArpRepr } from '../../../src/wire/arp.js';
import { internetChecksum } from '../../../src/wire/checksum.js';
import { emitEthernetRepr, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../../src/wire/ethernet.js';
import { emitIpv4Repr, IPPROTO_TCP, Ipv4Packet } from '../../../src/wire/ipv4.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { emitTcpHeader, fillTcpChecksum, TcpFlag, TcpOptions, TcpSegment, tcpOptionsLength, type TcpOptionsToEmit } from '../../../src/wire/tcp.js';

export const OUR_MAC = parseMac('02:00:00:00:00:02');
export const PEER_MAC = parseMac('02:00:00:00:00:01');
export const OUR_IP = parseIpv4('198.18.0.2');
export const PEER_IP = parseIpv4('198.18.0.1');
export const MTU = 1500;

export const { FIN, SYN, RST, PSH, ACK } = TcpFlag;

/** One segment tapstack wrote, parsed. */
export interface Out {
  /** Virtual time (ms) at which it was written. */
  at: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  options: TcpOptions;
  payload: Uint8Array;
  dontFragment: boolean;
  /** The IPv4 ECN field (RFC 3168 5): 0 Not-ECT, 2 ECT(0), 3 CE. */
  ecn: number;
}

/** "SYN|ACK", "ACK|FIN", ... for readable assertions. */
export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & SYN) names.push('SYN');
  if (flags & RST) names.push('RST');
  if (flags & FIN) names.push('FIN');
  if (flags & ACK) names.push('ACK');
  if (flags & PSH) names.push('PSH');
  return names.join('|');
}

/** Sequence space a segment occupies (data + SYN + FIN). */
export function segLen(s: { flags: number; payload: Uint8Array }): number {
  return s.payload.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0);
}

/** `n` bytes of a recognisable pattern (starting at `start`). */
export function pattern(n: number, start = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((start + i) * 7 + 3) & 0xff;
  return b;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function parseFrame(f: Uint8Array, at: number): Out | null {
  if (f.length < 14 || ((f[12]! << 8) | f[13]!) !== ETHERTYPE_IPV4) return null;
  const ip = new Ipv4Packet(f, 14);
  if (ip.protocol !== IPPROTO_TCP) return null;
  const hl = ip.headerLength;
  expect(internetChecksum(f, 14, 14 + hl), 'IPv4 header checksum').toBe(0);
  expect(ip.src).toBe(OUR_IP);
  expect(ip.dst).toBe(PEER_IP);
  const l4Len = ip.totalLength - hl;
  expect(14 + hl + l4Len, 'frame holds the whole datagram').toBeLessThanOrEqual(f.length);
  const tcp = new TcpSegment(f, 14 + hl, l4Len);
  expect(tcp.verifyChecksum(OUR_IP, PEER_IP), 'TCP checksum').toBe(true);
  const options = new TcpOptions();
  expect(tcp.parseOptions(options)).toBeNull();
  return {
    at,
    srcPort: tcp.srcPort,
    dstPort: tcp.dstPort,
    seq: tcp.seq,
    ack: tcp.ack,
    flags: tcp.flags,
    window: tcp.window,
    options,
    payload: f.slice(tcp.payloadOffset, 14 + hl + l4Len),
    dontFragment: ip.dontFragment,
    ecn: ip.ecn,
  };
}

export interface HarnessOptions {
  config?: Partial<TcpConfig>;
  /** Virtual start time. */
  start?: number;
  /** 2: connection requests get a receive queue of their own (src/tap/steering.ts). */
  rxQueues?: number;
  rxDescriptors?: number;
  /**
   * Pool pages beyond the receive ring (default 4096: enough that the pool never bounds the
   * default 4 MiB receive window; the window stops at what the free pool can hold).
   */
  extraPages?: number;
  /**
   * Run deferred flushes on the real event loop (setImmediate), after the application's
   * process.nextTick and promise handlers, as Stack does; default: at once, by settle().
   */
  eventLoop?: boolean;
  /** Seed of the stack's randomness (secrets, first ephemeral port, IP identification). */
  seed?: number;
}

export class Harness {
  readonly clock: ManualClock;
  readonly dev: MemoryDevice;
  readonly nic: Nic;
  readonly iface: Interface;
  readonly tcp: TcpLayer;
  readonly queue: (() => void)[] = [];
  /** Segments written and not yet taken by a test. */
  readonly out: Out[] = [];
  /** Every segment ever written (for "nothing else was sent" checks). */
  readonly log: Out[] = [];

  /** The stack's randomness: seeded, so every run opens the same connections. */
  readonly random: SeededRandom;

  constructor(o: HarnessOptions = {}) {
    this.clock = new ManualClock(o.start ?? 10_000);
    this.random = new SeededRandom(o.seed ?? 1);
    this.dev = new MemoryDevice('mem0', 0, false, o.rxQueues ?? 1);
    this.nic = new Nic({ device: this.dev, mtu: MTU, rxDescriptors: o.rxDescriptors ?? 32, txDescriptors: 64, extraPages: o.extraPages ?? 4096 });
    // Neighbours never go stale here: only TCP frames are of interest.
    this.iface = new Interface({
      nic: this.nic,
      clock: this.clock,
      random: this.random,
      address: { address: OUR_IP, prefixLength: 24 },
      mtu: MTU,
      mac: OUR_MAC,
      neighbor: { reachableMs: 1e12, staleMs: 1e12 },
    });
    this.tcp = new TcpLayer({
      iface: this.iface,
      nic: this.nic,
      rxMemory: this.nic.rxMemory,
      clock: this.clock,
      random: this.random,
      offload: false,
      ...(o.config ? { config: o.config } : {}),
      defer: o.eventLoop
        ? (fn) =>
            setImmediate(() => {
              fn();
              this.nic.flush();
              this.collect();
            })
        : (fn) => this.queue.push(fn),
      kick: () => this.nic.flush(),
    });
    const tcp = this.tcp;
    const iface = this.iface;
    this.nic.start({
      receive: (f) => iface.receive(f),
      afterReceive: () => {
        tcp.flush(); // as Stack does: output of a receive batch leaves with it
      },
    });
  }

  get now(): number {
    return this.clock.nowMs();
  }

  /** The peer asks for our address: the interface learns its MAC (and answers, discarded). */
  resolveArp(): void {
    const f = new Uint8Array(42);
    emitEthernetRepr({ dst: parseMac('ff:ff:ff:ff:ff:ff'), src: PEER_MAC, etherType: ETHERTYPE_ARP }, f);
    emitArpRepr({ operation: 1, senderMac: PEER_MAC, senderIp: PEER_IP, targetMac: new Uint8Array(6), targetIp: OUR_IP }, f, 14);
    this.dev.deliver(f);
    this.dev.written.length = 0;
    expect(this.iface.neighbors.get(PEER_IP)?.state).toBe('reachable');
  }

  /** Parse and stamp what the device has been given. */
  collect(): void {
    for (const f of this.dev.written) {
      const s = parseFrame(f, this.now);
      if (s) {
        this.out.push(s);
        this.log.push(s);
      }
    }
    this.dev.written.length = 0;
  }

  /** Run deferred flushes (as setImmediate would), write what is queued, collect it. */
  settle(): void {
    for (let i = 0; this.queue.length > 0; i++) {
      if (i > 1000) throw new Error('deferred work does not settle');
      this.queue.shift()!();
    }
    this.nic.flush();
    this.collect();
  }

  /** An application call, then the end of its event-loop turn. */
  app<T>(fn: () => T): T {
    const r = fn();
    this.settle();
    return r;
  }

  /** A frame from the wire (delivered, processed, and what it caused collected). */
  deliver(frame: Uint8Array): void {
    this.dev.deliver(frame);
    this.settle();
  }

  private pollAll(): void {
    this.tcp.poll();
    this.iface.poll();
    this.settle();
  }

  /** Tick in `stepMs` steps until the stack has written something or `maxMs` passed; whether it has. */
  tickUntilSent(maxMs: number, stepMs = 100): boolean {
    for (let waited = 0; this.out.length === 0 && waited < maxMs; waited += stepMs) this.tick(stepMs);
    return this.out.length > 0;
  }

  /** Advance the virtual clock by `ms`, stopping at every timer deadline on the way. */
  tick(ms: number): void {
    const target = this.now + ms;
    for (let i = 0; ; i++) {
      if (i > 100_000) throw new Error('timers do not settle');
      const next = Math.min(this.tcp.nextDeadline(), this.iface.nextDeadline());
      if (next > target) break;
      if (next > this.now) this.clock.set(next);
      this.pollAll();
    }
    this.clock.set(target);
    this.pollAll();
  }

  /** Advance to an absolute virtual time. */
  tickTo(t: number): void {
    expect(t).toBeGreaterThanOrEqual(this.now);
    this.tick(t - this.now);
  }

  /** Take (and forget) every collected segment. */
  take(): Out[] {
    return this.out.splice(0, this.out.length);
  }
}

export interface PeerOptions {
  /** The peer's port, and ours. */
  port: number;
  ourPort: number;
  /** The peer's initial sequence number. */
  isn?: number;
  /** Whether the peer puts timestamps on its segments (after the SYN). */
  ts?: boolean;
  /** Window field on the peer's segments. */
  window?: number;
}

export interface SendOptions {
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  payload?: Uint8Array;
  /** Options; by default a timestamp when the peer uses them (tsVal its clock, tsEcr the last seen). */
  opts?: TcpOptionsToEmit;
  /** Send no timestamp even when the peer uses them. */
  noTs?: boolean;
  /** The IPv4 ECN field of the frame (default 0, Not-ECT). */
  ecn?: number;
}

/** The other end of one connection. */
export class Peer {
  readonly port: number;
  readonly ourPort: number;
  readonly isn: number;
  /** The peer's next sequence number to send (SND.NXT). */
  snd: number;
  /** What the peer acknowledges (its RCV.NXT); tests move it. */
  rcv = 0;
  ts: boolean;
  window: number;
  /** Added to the virtual clock to make the peer's TSval. */
  tsBase = 5_000_000;
  /** The last TSval seen from tapstack (what the peer echoes). */
  tsEcr = 0;

  constructor(
    readonly h: Harness,
    o: PeerOptions,
  ) {
    this.port = o.port;
    this.ourPort = o.ourPort;
    this.isn = (o.isn ?? 0x1000_0000) >>> 0;
    this.snd = this.isn;
    this.ts = o.ts ?? true;
    this.window = o.window ?? 65535;
  }

  tsVal(): number {
    return (this.tsBase + Math.floor(this.h.now)) >>> 0;
  }

  /** A frame from the peer (nothing is delivered). */
  frame(o: SendOptions): Uint8Array {
    const payload = o.payload ?? new Uint8Array(0);
    let opts = o.opts;
    if (opts === undefined && this.ts && !o.noTs) opts = { timestamp: { tsVal: this.tsVal(), tsEcr: o.flags & ACK ? this.tsEcr : 0 } };
    const optLen = tcpOptionsLength(opts);
    const l4Len = 20 + optLen + payload.length;
    const f = new Uint8Array(34 + l4Len);
    emitEthernetRepr({ dst: OUR_MAC, src: PEER_MAC, etherType: ETHERTYPE_IPV4 }, f);
    emitIpv4Repr({ src: PEER_IP, dst: OUR_IP, protocol: IPPROTO_TCP, ttl: 64, payloadLength: l4Len, dontFragment: true, ecn: o.ecn ?? 0 }, f, 14);
    emitTcpHeader(
      f,
      34,
      { srcPort: this.port, dstPort: this.ourPort, seq: (o.seq ?? this.snd) >>> 0, ack: o.flags & ACK ? (o.ack ?? this.rcv) >>> 0 : 0, flags: o.flags, window: o.window ?? this.window },
      opts,
    );
    f.set(payload, 34 + 20 + optLen);
    fillTcpChecksum(f, 34, l4Len, PEER_IP, OUR_IP);
    return f;
  }

  /**
   * Send a segment. Without an explicit `seq` it starts at {@link snd}, which then moves past it
   * (a new segment); with one, nothing moves (a retransmission or a crafted segment).
   */
  send(o: SendOptions): void {
    const f = this.frame(o);
    if (o.seq === undefined) this.snd = seqAdd(this.snd, segLen({ flags: o.flags, payload: o.payload ?? new Uint8Array(0) }));
    this.h.deliver(f);
  }

  /** The peer's SYN with the usual Linux options (override with `opts`). */
  syn(opts?: TcpOptionsToEmit, window = 65535): void {
    this.snd = this.isn;
    this.send({ flags: SYN, window, opts: opts ?? { mss: 1460, sackPermitted: true, timestamp: { tsVal: this.tsVal(), tsEcr: 0 }, windowScale: 7 } });
  }

  /** Data (ACK|PSH) at snd. */
  data(payload: Uint8Array, extra: Partial<SendOptions> = {}): void {
    this.send({ flags: ACK | PSH, payload, ...extra });
  }

  ackNow(extra: Partial<SendOptions> = {}): void {
    this.send({ flags: ACK, ...extra });
  }

  /** Segments tapstack sent to this peer since the last take (they are removed from the harness). */
  take(): Out[] {
    const mine: Out[] = [];
    const rest: Out[] = [];
    for (const s of this.h.out) (s.dstPort === this.port && s.srcPort === this.ourPort ? mine : rest).push(s);
    this.h.out.length = 0;
    this.h.out.push(...rest);
    for (const s of mine) if (s.options.hasTimestamp) this.tsEcr = s.options.tsVal;
    return mine;
  }

  /** Exactly one segment must have been sent: return it. */
  one(): Out {
    const segs = this.take();
    expect(segs.map((s) => `${flagNames(s.flags)} seq=${s.seq} ack=${s.ack} len=${s.payload.length}`)).toHaveLength(1);
    return segs[0]!;
  }

  /** Nothing was sent. */
  none(): void {
    const segs = this.take();
    expect(segs.map((s) => `${flagNames(s.flags)} seq=${s.seq} ack=${s.ack} len=${s.payload.length} at=${s.at}`)).toEqual([]);
  }
}

/** A TcpUser that records what the application sees. */
export class Recorder implements TcpUser {
  readonly chunks: Uint8Array[] = [];
  readonly events: string[] = [];
  connects = 0;
  ends = 0;
  readonly closes: (TcpError | null)[] = [];
  sendSpaceCalls = 0;
  /** When false the application does not read: received bytes stay buffered. */
  autoRead = true;
  private unread = 0;
  conn: TcpConnection | null = null;

  onConnect(): void {
    this.connects++;
    this.events.push('connect');
  }
  onData(payload: RxPayload, offset: number, len: number): void {
    const b = new Uint8Array(len);
    payload.copyOut(offset, len, b, 0);
    this.push(b);
  }
  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.events.push(`data ${b.length}`);
    if (!this.autoRead) this.unread += b.length;
  }
  onEnd(): void {
    this.ends++;
    this.events.push('end');
  }
  onSendSpace(): void {
    this.sendSpaceCalls++;
  }
  onClose(err: TcpError | null): void {
    this.closes.push(err);
    this.events.push(err ? `close ${err.code}` : 'close');
  }
  bufferedBytes(): number {
    return this.unread;
  }
  /** The application reads `n` bytes (all by default) and tells the connection. */
  read(n = this.unread): void {
    this.unread -= Math.min(n, this.unread);
    this.conn?.windowUpdate();
  }
  get received(): Uint8Array {
    return concat(this.chunks);
  }
}
