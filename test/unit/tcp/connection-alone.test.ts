/**
 * A connection on its own, against a fake host (fake-host.ts): no NIC, no interface, no TCP
 * layer. The handshake, data both ways, out-of-order data with SACK, a retransmission timeout
 * and the close, seen only through the segments it sends and its application calls.
 */
import { describe, expect, it } from 'vitest';
import { NewReno } from '../../../src/tcp/cc/newreno.js';
import { RenoRecovery } from '../../../src/tcp/reno-recovery.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { TcpFlag } from '../../../src/wire/tcp.js';
import { FakeHost, segment, User } from './fake-host.js';

const { SYN, ACK, FIN, PSH, ECE, CWR } = TcpFlag;
const PEER_ISN = 0x7000_0000;

/** An active open completed: the connection's SYN, the peer's SYN-ACK (SACK, no timestamps), its ACK. */
function open(config = {}) {
  const host = new FakeHost(config);
  const conn = host.connection();
  const user = new User();
  conn.user = user;
  conn.connect();
  const [syn] = host.take();
  const iss = host.isn;
  host.flush();
  conn.segmentArrives(segment({ seq: PEER_ISN, ack: iss + 1, flags: SYN | ACK, opts: { mss: 1460, sackPermitted: true } }));
  host.flush();
  const acks = host.take();
  return { host, conn, user, syn: syn!, acks, iss, rcv: PEER_ISN + 1, snd: iss + 1 };
}

describe('a connection against a fake host', () => {
  it('opens: a SYN with our options, then ESTABLISHED and one ACK', () => {
    const { conn, user, syn, acks, iss } = open();
    expect(syn.flags).toBe(SYN | ECE | CWR); // an ECN-setup SYN (RFC 3168 6.1.1), as configured by default
    expect(syn.seq).toBe(iss);
    expect(syn.options.mss).toBe(1460); // the fake egress's MTU 1500 less 40
    expect(syn.options.sackPermitted).toBe(true);
    expect(conn.state).toBe('ESTABLISHED');
    expect(user.connected).toBe(1);
    expect(acks.map((s) => [s.flags, s.seq, s.ack])).toEqual([[ACK, iss + 1, PEER_ISN + 1]]);
    expect(conn.sackOk).toBe(true);
    expect(conn.tsOk).toBe(false);
    expect(conn.sndMss).toBe(1460);
  });

  it('sends written data in MSS-sized segments and frees it when acknowledged', () => {
    const { host, conn, user, snd, rcv } = open();
    const data = new Uint8Array(3000).map((_, i) => i & 0xff);
    expect(conn.write(data)).toBe(3000);
    host.flush();
    const out = host.take();
    expect(out.map((s) => [s.seq - snd, s.payload.length])).toEqual([
      [0, 1460],
      [1460, 1460],
      [2920, 80],
    ]);
    expect(out[2]!.flags & PSH).toBe(PSH);
    expect(Buffer.concat(out.map((s) => s.payload))).toEqual(Buffer.from(data));
    conn.segmentArrives(segment({ seq: rcv, ack: snd + 3000, flags: ACK }));
    host.flush();
    expect(conn.sendQueue.length).toBe(0);
    expect(conn.sndUna).toBe(snd + 3000);
    expect(user.sendSpace).toBe(1);
  });

  it('delivers in-order data, SACKs a segment beyond a hole, and ACKs all once the hole fills', () => {
    const { host, conn, user, snd, rcv } = open();
    const a = new Uint8Array(100).fill(1);
    const b = new Uint8Array(100).fill(2);
    conn.segmentArrives(segment({ seq: rcv + 100, ack: snd, flags: ACK, data: b }));
    const dup = host.take();
    expect(dup).toHaveLength(1); // out of order: a duplicate ACK at once (RFC 5681 4.2)
    expect(dup[0]!.ack).toBe(rcv);
    expect(dup[0]!.options.sackCount).toBe(1);
    expect([dup[0]!.options.sack[0], dup[0]!.options.sack[1]]).toEqual([rcv + 100, rcv + 200]);
    expect(conn.outOfOrderBytes).toBe(100);
    conn.segmentArrives(segment({ seq: rcv, ack: snd, flags: ACK, data: a }));
    const filled = host.take();
    expect(filled.map((s) => s.ack)).toEqual([rcv + 200]);
    expect(filled[0]!.options.sackCount).toBe(0);
    expect(user.data).toEqual([...a, ...b]);
    expect(conn.outOfOrderBytes).toBe(0);
  });

  it('retransmits the first unacknowledged segment when the retransmission timer fires', () => {
    const { host, conn, snd } = open({ rack: false }); // no tail loss probe ahead of the timer
    conn.write(new Uint8Array(500));
    host.flush();
    expect(host.take().map((s) => s.seq)).toEqual([snd]);
    // The SYN's round trip took no time: the RTO is its lower bound (RFC 6298 2.4).
    const rto = conn.snd.rtoAt - host.clock.nowMs();
    expect(rto).toBe(host.config.rtoMinMs);
    host.tick(rto - 1);
    expect(host.take()).toEqual([]);
    host.tick(1);
    const again = host.take();
    expect(again.map((s) => [s.seq, s.payload.length])).toEqual([[snd, 500]]);
    expect(host.stats.timeouts).toBe(1);
    expect(host.stats.retransmits).toBe(1);
    expect(conn.info().retransmits).toBe(1); // tcp_info's total_retrans counts it too
  });

  it('closes: FIN, the peer ACKs and sends its FIN, TIME-WAIT, then gone after 2 MSL', () => {
    const { host, conn, user, snd, rcv } = open({ mslMs: 1000 });
    conn.close();
    host.flush();
    const [fin] = host.take();
    expect(fin!.flags).toBe(FIN | ACK);
    expect(fin!.seq).toBe(snd);
    expect(conn.state).toBe('FIN-WAIT-1');
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(snd, 1), flags: ACK }));
    expect(conn.state).toBe('FIN-WAIT-2');
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(snd, 1), flags: FIN | ACK }));
    host.flush();
    expect(conn.state).toBe('TIME-WAIT');
    expect(user.ended).toBe(true);
    expect(user.closed).toBeNull();
    expect(host.take().map((s) => [s.flags, s.ack])).toEqual([[ACK, rcv + 1]]);
    // What waits out 2 MSL keeps neither the sending machinery nor the application's socket.
    expect(conn.snd.recovery).toBeInstanceOf(RenoRecovery);
    expect(conn.snd.cc).toBeInstanceOf(NewReno);
    expect(conn.user).toBeNull();
    // A retransmitted FIN is still acknowledged, and restarts the wait.
    host.tick(500);
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(snd, 1), flags: FIN | ACK }));
    host.flush();
    expect(host.take().map((s) => [s.flags, s.ack])).toEqual([[ACK, rcv + 1]]);
    host.tick(1999);
    expect(conn.state).toBe('TIME-WAIT');
    host.tick(1);
    expect(conn.state).toBe('CLOSED');
    expect(host.removed).toEqual([conn]);
  });

  it('closes after only receiving with NewReno and its timeout: a lost FIN is sent again after the RTO, and no controller or SACK recovery is made', () => {
    const { host, conn, user, snd, rcv } = open();
    conn.segmentArrives(segment({ seq: rcv, ack: snd, flags: ACK | FIN, data: new Uint8Array(100) }));
    host.flush();
    expect(user.ended).toBe(true);
    conn.close();
    host.flush();
    const out = host.take();
    expect(out.at(-1)).toMatchObject({ flags: FIN | ACK, seq: snd, ack: rcv + 101 });
    expect(conn.state).toBe('LAST-ACK');
    // The FIN is lost: the retransmission timer, not a tail-loss probe, sends it again.
    const rto = conn.snd.rtoAt - host.clock.nowMs();
    expect(rto).toBe(host.config.rtoMinMs);
    host.tick(rto);
    expect(host.take().map((s) => [s.flags, s.seq])).toEqual([[FIN | ACK, snd]]);
    expect(host.stats.tlpProbes).toBe(0);
    expect(host.stats.retransmits).toBe(1); // a FIN sent again counts as Linux's RetransSegs counts it
    expect(conn.info().retransmits).toBe(1);
    expect(conn.snd.recovery).toBeInstanceOf(RenoRecovery);
    expect(conn.snd.cc).toBeInstanceOf(NewReno);
    conn.segmentArrives(segment({ seq: rcv + 101, ack: seqAdd(snd, 1), flags: ACK }));
    expect(conn.state).toBe('CLOSED');
    expect(user.closed).toBeNull();
  });

  it('leaves TIME-WAIT after 2 MSL when nothing more arrives', () => {
    const { host, conn, snd, rcv } = open({ mslMs: 1000 });
    conn.close();
    host.flush();
    host.take();
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(snd, 1), flags: FIN | ACK }));
    host.flush();
    expect(conn.state).toBe('TIME-WAIT');
    host.take();
    host.tick(1999);
    expect(conn.state).toBe('TIME-WAIT');
    host.tick(1);
    expect(conn.state).toBe('CLOSED');
    expect(host.removed).toEqual([conn]);
  });

  it('ends an orphan in FIN-WAIT-2 after the FIN-WAIT-2 timeout, with ETIMEDOUT', () => {
    const { host, conn, user, snd, rcv } = open({ finWait2TimeoutMs: 5000 });
    conn.orphaned = true;
    conn.close();
    host.flush();
    host.take();
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(snd, 1), flags: ACK }));
    expect(conn.state).toBe('FIN-WAIT-2');
    host.tick(4999);
    expect(conn.state).toBe('FIN-WAIT-2');
    host.tick(1);
    expect(conn.state).toBe('CLOSED');
    expect(user.closed?.code).toBe('ETIMEDOUT');
    expect(host.removed).toEqual([conn]);
  });

  it('answers a RST for its connection with ECONNRESET and leaves', () => {
    const { host, conn, user, rcv } = open();
    conn.segmentArrives(segment({ seq: rcv, flags: TcpFlag.RST }));
    expect(conn.state).toBe('CLOSED');
    expect(user.closed?.code).toBe('ECONNRESET');
    expect(host.removed).toEqual([conn]);
  });

  it('counts its send queue and places its FIN right after 2 GiB and more (sequence numbers compare modulo 2^32)', () => {
    const { host, conn, rcv, snd } = open();
    // As if 2^31 + 1000 bytes had been sent and acknowledged: SND.UNA no longer compares above
    // the ISS (RFC 9293 3.4), which must not make the send queue seem to start one byte later.
    const far = seqAdd(snd, 2 ** 31 + 1000);
    const s = conn.snd;
    s.sndUna = s.sndNxt = s.sndMax = s.sndSml = far;
    s.sndWl2 = far;
    const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff);
    expect(conn.write(data)).toBe(3000);
    host.flush();
    const out = host.take();
    expect(out.map((o) => [seqAdd(o.seq, -far), o.payload.length])).toEqual([
      [0, 1460],
      [1460, 1460],
      [2920, 80],
    ]);
    expect(Buffer.concat(out.map((o) => o.payload))).toEqual(Buffer.from(data));
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(far, 1460), flags: ACK }));
    expect(conn.sendQueue.length).toBe(1540);
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(far, 3000), flags: ACK }));
    host.flush();
    expect(conn.sendQueue.length).toBe(0);
    conn.close();
    host.flush();
    const [fin] = host.take();
    expect([fin!.flags & (FIN | ACK), fin!.seq, fin!.payload.length]).toEqual([FIN | ACK, seqAdd(far, 3000), 0]);
    conn.segmentArrives(segment({ seq: rcv, ack: seqAdd(far, 3001), flags: ACK }));
    expect(conn.state).toBe('FIN-WAIT-2');
  });
});
