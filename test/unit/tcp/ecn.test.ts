/**
 * ECN (RFC 3168 6.1) against the scripted peer: negotiation both ways, ECT only on new data,
 * the receiver's ECE echo until CWR, the sender's one reduction per window with CWR after it,
 * and ECN carried through a SYN cookie.
 */
import { describe, expect, it } from 'vitest';
import { TcpFlag } from '../../../src/wire/tcp.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { ACK, PSH, pattern, Peer, SYN } from './peer.js';
import { active, FULL_SYN_OPTS, listenOn, setup } from './helpers.js';

const { ECE, CWR } = TcpFlag;
const ECT0 = 2;
const CE = 3;

/** A passive connection whose peer asked for ECN in its SYN (ECE|CWR), as Linux does with tcp_ecn=1. */
function ecnPassive(h: ReturnType<typeof setup>, ask = true) {
  const acc = listenOn(h, 80);
  const peer = new Peer(h, { port: 40000, ourPort: 80, isn: 100 });
  peer.send({ flags: SYN | (ask ? ECE | CWR : 0), opts: FULL_SYN_OPTS(peer) });
  const synAck = peer.one();
  peer.rcv = seqAdd(synAck.seq, 1);
  peer.ackNow();
  const conn = acc.conns[0]!;
  peer.none();
  return { peer, conn, rec: acc.recs[0]!, synAck };
}

describe('ECN negotiation (RFC 3168 6.1.1)', () => {
  it('passive: answers an ECN-setup SYN with ECE alone; a plain SYN with neither', () => {
    const h = setup();
    const { synAck, conn } = ecnPassive(h);
    expect(synAck.flags & (ECE | CWR)).toBe(ECE);
    expect(synAck.ecn).toBe(0); // a SYN-ACK is not ECT
    expect(conn.ecn.ok).toBe(true);
    expect(h.tcp.stats.ecnConnections).toBe(1);
    const h2 = setup();
    const plain = ecnPassive(h2, false);
    expect(plain.synAck.flags & (ECE | CWR)).toBe(0);
    expect(plain.conn.ecn.ok).toBe(false);
  });

  it('passive with ECN turned off: no ECE in the SYN-ACK', () => {
    const h = setup({ ecn: false });
    const { synAck, conn } = ecnPassive(h);
    expect(synAck.flags & (ECE | CWR)).toBe(0);
    expect(conn.ecn.ok).toBe(false);
  });

  it('active: our SYN carries ECE|CWR; a SYN-ACK with ECE agrees, one without does not', () => {
    const h = setup();
    const a = active(h, { synAckOpts: (p, syn) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: syn.options.tsVal } }) });
    expect(a.syn!.flags & (ECE | CWR)).toBe(ECE | CWR);
    expect(a.conn.ecn.ok).toBe(false); // the default SYN-ACK of the helper has no ECE
    const h2 = setup({ ecn: false });
    const b = active(h2);
    expect(b.syn!.flags & (ECE | CWR)).toBe(0);
  });
});

describe('ECN on an agreed connection', () => {
  it('sends new data as ECT(0), retransmissions and pure ACKs as Not-ECT', () => {
    const h = setup();
    const { peer, conn } = ecnPassive(h);
    h.app(() => conn.write(pattern(1000)));
    const first = peer.one();
    expect(first.payload.length).toBe(1000);
    expect(first.ecn).toBe(ECT0);
    h.tick(1500); // RTO: the retransmission
    const again = peer.take().filter((s) => s.payload.length > 0);
    expect(again.length).toBeGreaterThan(0);
    for (const s of again) expect(s.ecn).toBe(0);
    peer.ackNow({ ack: seqAdd(first.seq, 1000) });
    peer.data(pattern(10));
    h.tick(50);
    const ack = peer.one();
    expect(ack.payload.length).toBe(0);
    expect(ack.ecn).toBe(0);
  });

  it('receiver: echoes ECE on every ACK after a CE mark, until a segment with CWR', () => {
    const h = setup();
    const { peer, rec } = ecnPassive(h);
    peer.send({ flags: ACK | PSH, payload: pattern(100), ecn: CE });
    h.tick(50);
    expect(peer.one().flags & ECE).toBe(ECE);
    peer.send({ flags: ACK | PSH, payload: pattern(100), ecn: ECT0 });
    h.tick(50);
    expect(peer.one().flags & ECE).toBe(ECE); // still: no CWR yet
    peer.send({ flags: ACK | PSH | CWR, payload: pattern(100), ecn: ECT0 });
    h.tick(50);
    expect(peer.one().flags & ECE).toBe(0);
    expect(h.tcp.stats.ecnCeReceived).toBe(1);
    expect(rec.received.length).toBe(300);
  });

  it('sender: an ECE reduces the window once per window of data, and the next new data carries CWR', () => {
    const h = setup();
    const { peer, conn } = ecnPassive(h);
    const base = seqAdd(peer.rcv, 0);
    h.app(() => conn.write(pattern(20 * 1448)));
    const sent = peer.take();
    expect(sent.length).toBe(10); // IW 10
    const cwnd0 = conn.cc.cwnd;
    // Six segments ACKed, with ECE: congestion, no loss. (Slow start would have made it 16 MSS.)
    peer.send({ flags: ACK | ECE, ack: seqAdd(base, 6 * 1448) });
    expect(conn.cc.cwnd).toBeLessThan(cwnd0);
    expect(h.tcp.stats.ecnReductions).toBe(1);
    const cwnd1 = conn.cc.cwnd;
    const after = peer.take();
    expect(after.length).toBeGreaterThan(0);
    expect(after[0]!.flags & CWR).toBe(CWR);
    for (const s of after.slice(1)) expect(s.flags & CWR).toBe(0);
    // More ECEs for data of the same window: no further reduction.
    peer.send({ flags: ACK | ECE, ack: seqAdd(base, 8 * 1448) });
    expect(h.tcp.stats.ecnReductions).toBe(1);
    expect(conn.cc.cwnd).toBeGreaterThanOrEqual(cwnd1);
    expect(h.tcp.stats.retransmits).toBe(0);
  });
});

describe('ECN through a SYN cookie', () => {
  it('the cookie SYN-ACK carries ECE and the connection built from the ACK has ECN', () => {
    const h = setup();
    listenOn(h, 80, 1);
    new Peer(h, { port: 41001, ourPort: 80, isn: 7 }).syn(); // fills the one-entry SYN queue
    h.out.length = 0;
    const peer = new Peer(h, { port: 41000, ourPort: 80, isn: 500 });
    peer.send({ flags: SYN | ECE | CWR, opts: FULL_SYN_OPTS(peer) });
    const synAck = peer.one();
    expect(h.tcp.stats.synCookiesSent).toBe(1);
    expect(synAck.flags & (ECE | CWR)).toBe(ECE);
    peer.rcv = seqAdd(synAck.seq, 1);
    peer.tsEcr = synAck.options.tsVal;
    peer.ackNow();
    expect(h.tcp.stats.synCookiesValidated).toBe(1);
    expect(h.tcp.stats.ecnConnections).toBe(1);
  });
});
