/** Opening connections against the scripted peer, and segment assertions. */
import { expect } from 'vitest';
import type { TcpConfig } from '../../../src/tcp/config.js';
import type { TcpConnection } from '../../../src/tcp/connection.js';
import { seqAdd } from '../../../src/wire/seq.js';
import type { TcpOptionsToEmit } from '../../../src/wire/tcp.js';
import { ACK, flagNames, Harness, type HarnessOptions, type Out, Peer, PEER_IP, Recorder, SYN } from './peer.js';

export function setup(config?: Partial<TcpConfig>, o: Omit<HarnessOptions, 'config'> = {}): Harness {
  const h = new Harness(config ? { ...o, config } : o);
  h.resolveArp();
  return h;
}

export interface Accepted {
  conns: TcpConnection[];
  recs: Recorder[];
}

const accepted = new WeakMap<Harness, Map<number, Accepted>>();

/** Listen on `port`; every accepted connection gets a Recorder inside onConnection. */
export function listenOn(h: Harness, port = 80, backlog = 16): Accepted {
  let m = accepted.get(h);
  if (!m) accepted.set(h, (m = new Map()));
  const existing = m.get(port);
  if (existing) return existing;
  const acc: Accepted = { conns: [], recs: [] };
  h.tcp.listen(port, backlog, (c) => {
    const r = new Recorder();
    r.conn = c;
    c.user = r;
    acc.conns.push(c);
    acc.recs.push(r);
  });
  m.set(port, acc);
  return acc;
}

export interface Opened {
  peer: Peer;
  conn: TcpConnection;
  rec: Recorder;
  /** The peer's SYN-ACK (active) or ours (passive). */
  synAck: Out;
  /** Our SYN (active opens). */
  syn?: Out;
}

export const FULL_SYN_OPTS = (peer: Peer): TcpOptionsToEmit => ({ mss: 1460, sackPermitted: true, timestamp: { tsVal: peer.tsVal(), tsEcr: 0 }, windowScale: 7 });

export interface PassiveOptions {
  ourIsn?: number;
  peerIsn?: number;
  peerPort?: number;
  port?: number;
  /** Peer SYN options; default MSS 1460, SACK-permitted, timestamps, window scale 7. */
  synOpts?: (peer: Peer) => TcpOptionsToEmit;
  synWindow?: number;
  /** Window field of the peer's later segments. */
  window?: number;
  /** Virtual time between our SYN-ACK and the peer's ACK. */
  rtt?: number;
}

/** A passive open: the peer's SYN, our SYN-ACK, the peer's ACK. */
export function passive(h: Harness, o: PassiveOptions = {}): Opened {
  const port = o.port ?? 80;
  const acc = listenOn(h, port);
  const before = acc.conns.length;
  if (o.ourIsn !== undefined) {
    const isn = o.ourIsn;
    h.tcp.nextIsn = () => isn;
  }
  const peer = new Peer(h, { port: o.peerPort ?? 40000, ourPort: port, isn: o.peerIsn ?? 0x3000_0000, ...(o.window !== undefined ? { window: o.window } : {}) });
  const opts = (o.synOpts ?? FULL_SYN_OPTS)(peer);
  peer.syn(opts, o.synWindow ?? 65535);
  const synAck = peer.one();
  expect(flagNames(synAck.flags)).toBe('SYN|ACK');
  peer.ts = !!opts.timestamp && synAck.options.hasTimestamp;
  peer.rcv = seqAdd(synAck.seq, 1);
  if (o.rtt) h.tick(o.rtt);
  peer.ackNow();
  expect(acc.conns.length).toBe(before + 1);
  const conn = acc.conns[before]!;
  expect(conn.state).toBe('ESTABLISHED');
  peer.none();
  return { peer, conn, rec: acc.recs[before]!, synAck };
}

export interface ActiveOptions {
  ourIsn?: number;
  peerIsn?: number;
  port?: number;
  /** Peer SYN-ACK options; default MSS 1460, SACK-permitted, timestamps (echoing ours), window scale 7. */
  synAckOpts?: (peer: Peer, syn: Out) => TcpOptionsToEmit;
  synAckWindow?: number;
  window?: number;
  rtt?: number;
}

/** An active open: our SYN, the peer's SYN-ACK, our ACK. */
export function active(h: Harness, o: ActiveOptions = {}): Opened & { ack: Out } {
  if (o.ourIsn !== undefined) {
    const isn = o.ourIsn;
    h.tcp.nextIsn = () => isn;
  }
  const rec = new Recorder();
  const conn = h.tcp.connect(PEER_IP, o.port ?? 80);
  conn.user = rec;
  rec.conn = conn;
  h.app(() => conn.connect());
  const peer = new Peer(h, { port: o.port ?? 80, ourPort: conn.localPort, isn: o.peerIsn ?? 0x5000_0000, ...(o.window !== undefined ? { window: o.window } : {}) });
  const syn = peer.one();
  expect(flagNames(syn.flags)).toBe('SYN');
  peer.rcv = seqAdd(syn.seq, 1);
  if (o.rtt) h.tick(o.rtt);
  const opts = o.synAckOpts
    ? o.synAckOpts(peer, syn)
    : { mss: 1460, sackPermitted: true, timestamp: { tsVal: peer.tsVal(), tsEcr: syn.options.tsVal }, windowScale: 7 };
  peer.ts = !!opts.timestamp;
  peer.snd = peer.isn;
  peer.send({ flags: SYN | ACK, window: o.synAckWindow ?? 65535, opts });
  const ack = peer.one();
  return { peer, conn, rec, synAck: ack, syn, ack };
}

/** Compact description of a segment for equality checks. */
export function desc(s: Out): { flags: string; seq: number; ack: number; len: number } {
  return { flags: flagNames(s.flags), seq: s.seq, ack: s.ack, len: s.payload.length };
}

/** Assert fields of a segment (those given). */
export function expectSeg(s: Out, e: { flags?: string; seq?: number; ack?: number; len?: number; window?: number; at?: number }): void {
  const got: Record<string, unknown> = {};
  const want: Record<string, unknown> = {};
  if (e.flags !== undefined) {
    got.flags = flagNames(s.flags);
    want.flags = e.flags;
  }
  if (e.seq !== undefined) {
    got.seq = s.seq;
    want.seq = e.seq >>> 0;
  }
  if (e.ack !== undefined) {
    got.ack = s.ack;
    want.ack = e.ack >>> 0;
  }
  if (e.len !== undefined) {
    got.len = s.payload.length;
    want.len = e.len;
  }
  if (e.window !== undefined) {
    got.window = s.window;
    want.window = e.window;
  }
  if (e.at !== undefined) {
    got.at = s.at;
    want.at = e.at;
  }
  expect(got).toEqual(want);
}
