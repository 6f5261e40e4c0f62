/**
 * Opening: three-way handshake both ways with option negotiation (RFC 9293 3.5, 3.7.1;
 * RFC 7323 2.2, 3.2; RFC 2018 2), simultaneous open, refused and unanswered connects, the listen
 * backlog.
 */
import { describe, expect, it } from 'vitest';
import { seqAdd } from '../../../src/wire/seq.js';
import type { TcpOptionsToEmit } from '../../../src/wire/tcp.js';
import { active, expectSeg, FULL_SYN_OPTS, listenOn, passive, setup } from './helpers.js';
import { ACK, FIN, flagNames, MTU, Peer, PEER_IP, PSH, Recorder, RST, SYN } from './peer.js';

describe('passive open', () => {
  it('answers a SYN with a SYN-ACK carrying every option offered, then ESTABLISHED on the ACK', () => {
    const h = setup();
    const acc = listenOn(h);
    h.tcp.nextIsn = () => 0x1234_5678;
    const peer = new Peer(h, { port: 40000, ourPort: 80, isn: 0x3000_0000 });
    const synTs = peer.tsVal();
    peer.syn({ mss: 1460, sackPermitted: true, timestamp: { tsVal: synTs, tsEcr: 0 }, windowScale: 7 });
    const sa = peer.one();
    expectSeg(sa, { flags: 'SYN|ACK', seq: 0x1234_5678, ack: 0x3000_0001, len: 0, at: h.now });
    // RFC 7323 2.2: the window of a SYN is never scaled: min(65535, receive buffer).
    expect(sa.window).toBe(65535);
    // RFC 9293 3.7.1: MSS = MTU - 40 (IPv4 and TCP headers without options).
    expect(sa.options.mss).toBe(MTU - 40);
    // 4 MiB receive buffer: the smallest shift with 65535 << shift >= 4 MiB is 7.
    expect(sa.options.windowScale).toBe(7);
    expect(sa.options.sackPermitted).toBe(true);
    expect(sa.options.hasTimestamp).toBe(true);
    expect(sa.options.tsEcr).toBe(synTs); // RFC 7323 3.2: echo the SYN's TSval
    expect(sa.dontFragment).toBe(true);
    expect(acc.conns).toHaveLength(0);
    expect(h.tcp.stats.connectionsAccepted).toBe(0);

    peer.rcv = seqAdd(sa.seq, 1);
    peer.ackNow();
    peer.none(); // nothing to say to a bare ACK
    expect(acc.conns).toHaveLength(1);
    const c = acc.conns[0]!;
    expect(c.state).toBe('ESTABLISHED');
    expect(c.sndMss).toBe(1460 - 12); // timestamps take 12 bytes of every segment
    expect(c.sndWscale).toBe(7);
    expect(c.rcvWscale).toBe(7);
    expect(c.tsOk).toBe(true);
    expect(c.sackOk).toBe(true);
    expect(h.tcp.stats.connectionsAccepted).toBe(1);
  });

  const offers: [string, (p: Peer) => TcpOptionsToEmit, { ws: number; sack: boolean; ts: boolean; sndMss: number }][] = [
    ['MSS only', () => ({ mss: 1000 }), { ws: -1, sack: false, ts: false, sndMss: 1000 }],
    ['MSS and SACK-permitted', () => ({ mss: 1460, sackPermitted: true }), { ws: -1, sack: true, ts: false, sndMss: 1460 }],
    ['MSS and timestamps', (p) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 } }), { ws: -1, sack: false, ts: true, sndMss: 1448 }],
    ['window scale only (no MSS: 536 assumed)', () => ({ windowScale: 2 }), { ws: 7, sack: false, ts: false, sndMss: 536 }],
    ['nothing', () => ({}), { ws: -1, sack: false, ts: false, sndMss: 536 }],
  ];
  for (const [name, opts, want] of offers) {
    it(`answers only what was offered: ${name}`, () => {
      const h = setup();
      const { synAck, conn } = passive(h, { synOpts: opts });
      expect(synAck.options.mss).toBe(1460); // MSS is always sent on a SYN
      expect(synAck.options.windowScale).toBe(want.ws);
      expect(synAck.options.sackPermitted).toBe(want.sack);
      expect(synAck.options.hasTimestamp).toBe(want.ts);
      expect(conn.sndMss).toBe(want.sndMss);
      expect(conn.tsOk).toBe(want.ts);
      expect(conn.sackOk).toBe(want.sack);
      if (want.ws < 0) expect([conn.sndWscale, conn.rcvWscale]).toEqual([0, 0]);
    });
  }

  it('offers none of what the configuration turns off', () => {
    const h = setup({ sack: false, timestamps: false, windowScaling: false });
    const { synAck, conn } = passive(h);
    expect(synAck.options.windowScale).toBe(-1);
    expect(synAck.options.sackPermitted).toBe(false);
    expect(synAck.options.hasTimestamp).toBe(false);
    expect(conn.sndMss).toBe(1460);
  });

  it('keeps data that arrives with the handshake-completing ACK, and a FIN with it (SYN-RECEIVED -> CLOSE-WAIT)', () => {
    const h = setup();
    const acc = listenOn(h);
    const peer = new Peer(h, { port: 40001, ourPort: 80, isn: 100 });
    peer.syn(FULL_SYN_OPTS(peer));
    const sa = peer.one();
    peer.rcv = seqAdd(sa.seq, 1);
    const data = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
    peer.send({ flags: ACK | PSH | FIN, payload: data });
    const c = acc.conns[0]!;
    const rec = acc.recs[0]!;
    expect(new TextDecoder().decode(rec.received)).toBe('GET / HTTP/1.0\r\n\r\n');
    expect(rec.ends).toBe(1);
    expect(c.state).toBe('CLOSE-WAIT');
    // The FIN is acknowledged at once.
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(sa.seq, 1), ack: 101 + data.length + 1, len: 0 });
  });

  it('retransmits its SYN-ACK after 1 s, then 2 s (RFC 6298 2.1, 5.5)', () => {
    const h = setup();
    listenOn(h);
    const peer = new Peer(h, { port: 40000, ourPort: 80, isn: 7 });
    peer.syn(FULL_SYN_OPTS(peer));
    const t0 = h.now;
    const sa = peer.one();
    h.tick(999);
    peer.none();
    h.tick(1);
    expectSeg(peer.one(), { flags: 'SYN|ACK', seq: sa.seq, ack: 8, at: t0 + 1000 });
    h.tick(1999);
    peer.none();
    h.tick(1);
    expectSeg(peer.one(), { flags: 'SYN|ACK', seq: sa.seq, ack: 8, at: t0 + 3000 });
    expect(h.tcp.stats.retransmits).toBe(2);
  });

  it('answers the peer\'s retransmitted SYN (our SYN-ACK was lost) with the SYN-ACK again', () => {
    const h = setup();
    listenOn(h);
    const peer = new Peer(h, { port: 40000, ourPort: 80, isn: 7 });
    peer.syn(FULL_SYN_OPTS(peer));
    const sa = peer.one(); // lost
    h.tick(500);
    peer.syn(FULL_SYN_OPTS(peer)); // the peer's SYN retransmission
    const again = peer.one();
    expectSeg(again, { flags: 'SYN|ACK', seq: sa.seq, ack: 8, at: h.now });
    expect(again.options.mss).toBe(1460);
  });

  it('lets the listener forget a SYN-RECEIVED connection reset by the peer', () => {
    const h = setup();
    const acc = listenOn(h);
    const peer = new Peer(h, { port: 40000, ourPort: 80, isn: 7 });
    peer.syn(FULL_SYN_OPTS(peer));
    const sa = peer.one();
    peer.send({ flags: RST, seq: 8, noTs: true });
    peer.none();
    expect(h.tcp.connectionCount).toBe(0);
    expect(acc.conns).toHaveLength(0);
    h.tick(5000);
    peer.none(); // no SYN-ACK retransmission for a forgotten connection
    void sa;
  });
});


describe('active open', () => {
  it('sends a SYN with MSS, window scale, SACK-permitted and timestamps; ACKs the SYN-ACK', () => {
    const h = setup();
    const { syn, ack, conn, rec, peer } = active(h, { ourIsn: 0xabcd_0000, peerIsn: 0x2000_0000, rtt: 30, synAckOpts: (p, s) => ({ mss: 1400, sackPermitted: true, timestamp: { tsVal: p.tsVal(), tsEcr: s.options.tsVal }, windowScale: 5 }) });
    expectSeg(syn!, { flags: 'SYN', seq: 0xabcd_0000, ack: 0, len: 0 });
    expect(syn!.window).toBe(65535);
    expect(syn!.options.mss).toBe(1460);
    expect(syn!.options.windowScale).toBe(7);
    expect(syn!.options.sackPermitted).toBe(true);
    expect(syn!.options.hasTimestamp).toBe(true);
    expect(syn!.options.tsEcr).toBe(0);
    expect(syn!.dstPort).toBe(80);
    expect(syn!.srcPort).toBeGreaterThanOrEqual(49152);

    expectSeg(ack, { flags: 'ACK', seq: 0xabcd_0001, ack: 0x2000_0001, len: 0, at: syn!.at + 30 });
    // Our window, scaled by our shift 7: the 4 MiB buffer.
    expect(ack.window).toBe((4 << 20) >>> 7);
    expect(ack.options.mss).toBe(-1); // SYN-only options never on other segments
    expect(ack.options.windowScale).toBe(-1);
    expect(ack.options.hasTimestamp).toBe(true);
    expect(ack.options.tsEcr).toBe(peer.tsVal());
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.connects).toBe(1);
    expect(conn.sndMss).toBe(1400 - 12);
    expect(conn.sndWscale).toBe(5);
    expect(conn.sndWnd).toBe(65535); // a SYN-ACK's window is not scaled
  });

  it('does not use options the SYN-ACK did not carry', () => {
    const h = setup();
    const { conn, ack } = active(h, { synAckOpts: () => ({ mss: 1200 }) });
    expect(conn.tsOk).toBe(false);
    expect(conn.sackOk).toBe(false);
    expect([conn.sndWscale, conn.rcvWscale]).toEqual([0, 0]);
    expect(conn.sndMss).toBe(1200);
    expect(ack.options.hasTimestamp).toBe(false);
    expect(ack.window).toBe(65535); // unscaled: at most 65535
  });

  it('advertises its real receive window whatever the peer\'s ISN (peer ISN 0x7fff0000)', () => {
    const h = setup();
    const { ack, peer, rec } = active(h, { peerIsn: 0x7fff_0000 });
    expect(ack.window).toBe((4 << 20) >>> 7);
    peer.data(new Uint8Array(100));
    expect(rec.received.length).toBe(100);
  });

  it('advertises its real receive window whatever the peer\'s ISN (peer ISN 0x90000000, 8 KiB buffer)', () => {
    const h = setup({ rcvBuf: 8192 });
    const { ack } = active(h, { peerIsn: 0x9000_0000 });
    expect(ack.window).toBe(8192);
  });

  it('advertises its real receive window for a peer ISN where the stale edge happens to work (0x20000000, 8 KiB buffer)', () => {
    const h = setup({ rcvBuf: 8192 });
    const { ack } = active(h, { peerIsn: 0x2000_0000 });
    expect(ack.window).toBe(8192);
  });

  it('ACKs a retransmitted SYN-ACK (our ACK was lost) without a new handshake', () => {
    const h = setup();
    const { conn, peer, syn } = active(h, { peerIsn: 500 });
    h.tick(200);
    peer.send({ flags: SYN | ACK, seq: 500, opts: { mss: 1460, sackPermitted: true, timestamp: { tsVal: peer.tsVal(), tsEcr: syn!.options.tsVal }, windowScale: 7 } });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(syn!.seq, 1), ack: 501, len: 0, at: h.now });
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('retransmits a lost SYN after the initial RTO of 1 s, then 2 s, 4 s (RFC 6298 2.1, 5.5)', () => {
    const h = setup();
    const conn = h.tcp.connect(PEER_IP, 80);
    const rec = new Recorder();
    conn.user = rec;
    h.app(() => conn.connect());
    const peer = new Peer(h, { port: 80, ourPort: conn.localPort, isn: 900 });
    const t0 = h.now;
    const syn = peer.one();
    const times: number[] = [];
    for (const wait of [1000, 2000, 4000]) {
      h.tick(wait - 1);
      peer.none();
      h.tick(1);
      const again = peer.one();
      expectSeg(again, { flags: 'SYN', seq: syn.seq, len: 0 });
      expect(again.options.mss).toBe(1460);
      expect(again.options.windowScale).toBe(7);
      times.push(again.at - t0);
    }
    expect(times).toEqual([1000, 3000, 7000]);
    // The answer to the last one completes the handshake.
    peer.rcv = seqAdd(syn.seq, 1);
    peer.ts = true;
    peer.tsEcr = syn.options.tsVal;
    peer.send({ flags: SYN | ACK, opts: { mss: 1460, timestamp: { tsVal: peer.tsVal(), tsEcr: peer.tsEcr } } });
    expectSeg(peer.one(), { flags: 'ACK', seq: seqAdd(syn.seq, 1), ack: 901 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.connects).toBe(1);
  });

  it('gives up with ETIMEDOUT after synRetries retransmissions', () => {
    const h = setup({ synRetries: 2 });
    const conn = h.tcp.connect(PEER_IP, 80);
    const rec = new Recorder();
    conn.user = rec;
    h.app(() => conn.connect());
    const peer = new Peer(h, { port: 80, ourPort: conn.localPort });
    const t0 = h.now;
    h.tick(6999);
    expect(peer.take().map((s) => [flagNames(s.flags), s.at - t0])).toEqual([
      ['SYN', 0],
      ['SYN', 1000],
      ['SYN', 3000],
    ]);
    expect(rec.closes).toEqual([]);
    h.tick(1);
    peer.none();
    expect(rec.closes.map((e) => e?.code)).toEqual(['ETIMEDOUT']);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.connectionCount).toBe(0);
    h.tick(60_000);
    peer.none();
  });

  it('fails with ECONNREFUSED when the SYN is answered with RST|ACK', () => {
    const h = setup();
    h.tcp.nextIsn = () => 0xffff_fff0;
    const conn = h.tcp.connect(PEER_IP, 81);
    const rec = new Recorder();
    conn.user = rec;
    h.app(() => conn.connect());
    const peer = new Peer(h, { port: 81, ourPort: conn.localPort, ts: false });
    const syn = peer.one();
    // RFC 9293 3.10.7.3: a RST without ACK, or with an unacceptable ACK, is dropped.
    peer.send({ flags: RST, seq: 0 });
    peer.send({ flags: RST | ACK, seq: 0, ack: syn.seq }); // SEG.ACK =< ISS
    peer.send({ flags: RST | ACK, seq: 0, ack: seqAdd(syn.seq, 2) }); // SEG.ACK > SND.NXT
    peer.none();
    expect(conn.state).toBe('SYN-SENT');
    peer.send({ flags: RST | ACK, seq: 0, ack: seqAdd(syn.seq, 1) });
    peer.none();
    expect(rec.closes.map((e) => e?.code)).toEqual(['ECONNREFUSED']);
    expect(conn.state).toBe('CLOSED');
    expect(h.tcp.connectionCount).toBe(0);
    h.tick(10_000);
    peer.none(); // no more SYNs
  });

  it('resets a SYN-ACK that acknowledges something it never sent (RFC 9293 3.10.7.3)', () => {
    const h = setup();
    const conn = h.tcp.connect(PEER_IP, 80);
    h.app(() => conn.connect());
    const peer = new Peer(h, { port: 80, ourPort: conn.localPort, isn: 50, ts: false });
    const syn = peer.one();
    peer.send({ flags: SYN | ACK, ack: seqAdd(syn.seq, 100), opts: { mss: 1460 } });
    expectSeg(peer.one(), { flags: 'RST', seq: seqAdd(syn.seq, 100), len: 0 });
    expect(conn.state).toBe('SYN-SENT');
  });
});

describe('simultaneous open (RFC 9293 3.5, figure 8)', () => {
  function crossSyns() {
    const h = setup();
    h.tcp.nextIsn = () => 100;
    const conn = h.tcp.connect(PEER_IP, 5000, 5001);
    const rec = new Recorder();
    conn.user = rec;
    rec.conn = conn;
    h.app(() => conn.connect());
    const peer = new Peer(h, { port: 5000, ourPort: 5001, isn: 300 });
    const syn = peer.one();
    expectSeg(syn, { flags: 'SYN', seq: 100 });
    // The peer's SYN crosses ours.
    peer.syn({ mss: 1460, sackPermitted: true, timestamp: { tsVal: peer.tsVal(), tsEcr: 0 }, windowScale: 7 });
    return { h, conn, rec, peer, syn };
  }

  it('answers the crossing SYN with SYN-ACK <SEQ=ISS><ACK=IRS+1> and enters SYN-RECEIVED', () => {
    const { conn, peer } = crossSyns();
    const sa = peer.one();
    expectSeg(sa, { flags: 'SYN|ACK', seq: 100, ack: 301, len: 0 });
    expect(sa.options.mss).toBe(1460);
    expect(conn.state).toBe('SYN-RECEIVED');
  });

  it('becomes ESTABLISHED on the peer\'s SYN-ACK, without RST', () => {
    const { h, conn, rec, peer } = crossSyns();
    const sa = peer.one();
    peer.rcv = 101;
    peer.tsEcr = sa.options.tsVal;
    peer.send({ flags: SYN | ACK, seq: 300, opts: { mss: 1460, sackPermitted: true, timestamp: { tsVal: peer.tsVal(), tsEcr: sa.options.tsVal }, windowScale: 7 } });
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.connects).toBe(1);
    expect(peer.take().filter((s) => s.flags & RST)).toEqual([]);
    void h;
  });

  it('becomes ESTABLISHED on the peer\'s ACK and calls onConnect', () => {
    const { conn, rec, peer } = crossSyns();
    const sa = peer.one();
    peer.rcv = 101;
    peer.tsEcr = sa.options.tsVal;
    peer.snd = 301;
    peer.ts = true;
    peer.ackNow();
    expect(peer.take().map((s) => flagNames(s.flags))).toEqual([]);
    expect(conn.state).toBe('ESTABLISHED');
    expect(rec.connects).toBe(1);
    expect(rec.closes).toEqual([]);
  });
});

describe('listen backlog', () => {
  it('drops SYNs beyond the backlog and counts them; takes them again when there is room (no SYN cookies)', () => {
    const h = setup({ synCookies: false });
    const acc = listenOn(h, 80, 2);
    const peers = [40001, 40002, 40003].map((port) => new Peer(h, { port, ourPort: 80, isn: port * 1000 }));
    for (const p of peers) p.syn(FULL_SYN_OPTS(p));
    expect(flagNames(peers[0]!.one().flags)).toBe('SYN|ACK');
    const sa2 = peers[1]!.one();
    expect(flagNames(sa2.flags)).toBe('SYN|ACK');
    peers[2]!.none();
    expect(h.tcp.stats.listenOverflows).toBe(1);
    expect(h.tcp.stats.drops['tcp-listen-overflow']).toBe(1);
    expect(h.tcp.connectionCount).toBe(2);
    // A fourth, and a retransmission of the third: still full.
    const p4 = new Peer(h, { port: 40004, ourPort: 80, isn: 1 });
    p4.syn(FULL_SYN_OPTS(p4));
    peers[2]!.syn(FULL_SYN_OPTS(peers[2]!));
    p4.none();
    peers[2]!.none();
    expect(h.tcp.stats.listenOverflows).toBe(3);
    // One handshake completes: room for one more.
    const p2 = peers[1]!;
    p2.rcv = seqAdd(sa2.seq, 1);
    p2.ackNow();
    expect(acc.conns).toHaveLength(1);
    peers[2]!.syn(FULL_SYN_OPTS(peers[2]!));
    expectSeg(peers[2]!.one(), { flags: 'SYN|ACK', ack: 40003 * 1000 + 1 });
    expect(h.tcp.stats.listenOverflows).toBe(3);
  });

  it('answers SYNs beyond the backlog with SYN cookies, keeping no state, and builds the connection from the ACK', () => {
    const h = setup();
    const acc = listenOn(h, 80, 1);
    const first = new Peer(h, { port: 41001, ourPort: 80, isn: 7 });
    first.syn(FULL_SYN_OPTS(first));
    expect(flagNames(first.one().flags)).toBe('SYN|ACK');
    const p = new Peer(h, { port: 41002, ourPort: 80, isn: 0xfffffff0 });
    p.syn(FULL_SYN_OPTS(p));
    const sa = p.one();
    expect(flagNames(sa.flags)).toBe('SYN|ACK');
    expect(sa.ack).toBe(0xfffffff1);
    expect(sa.options.mss).toBe(1460);
    expect(sa.options.windowScale).toBeGreaterThanOrEqual(0);
    expect(sa.options.sackPermitted).toBe(true);
    expect(h.tcp.connectionCount).toBe(1); // only the first: the cookie kept nothing
    expect(h.tcp.stats.synCookiesSent).toBe(1);
    // The peer completes the handshake with data on its ACK: an established connection at once.
    p.ts = true;
    p.rcv = seqAdd(sa.seq, 1);
    p.data(new Uint8Array([1, 2, 3, 4]));
    expect(h.tcp.stats.synCookiesValidated).toBe(1);
    expect(acc.conns).toHaveLength(1);
    const c = acc.conns[0]!;
    expect(c.state).toBe('ESTABLISHED');
    expect(c.sackOk).toBe(true);
    expect(c.tsOk).toBe(true);
    expect(c.sndWscale).toBe(7); // recovered from the echoed timestamp
    expect(Buffer.concat(acc.recs[0]!.chunks)).toEqual(Buffer.from([1, 2, 3, 4]));
    h.tick(100);
    const ack = p.take().find((s) => s.ack === seqAdd(0xfffffff1, 4));
    expect(ack).toBeDefined();
  });

  it('answers an ACK with a forged cookie with RST', () => {
    const h = setup();
    listenOn(h, 80, 1);
    const p = new Peer(h, { port: 41003, ourPort: 80, isn: 1000 });
    p.snd = 1001;
    p.rcv = 0x12345678;
    p.ts = false;
    p.ackNow();
    const r = p.one();
    expect(flagNames(r.flags)).toBe('RST');
    expect(r.seq).toBe(0x12345678);
    expect(h.tcp.stats.synCookiesFailed).toBe(1);
    expect(h.tcp.connectionCount).toBe(0);
  });
});
