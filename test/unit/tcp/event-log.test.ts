/**
 * The connection events of DEBUG=tapstack:tcp: state changes, resets sent and received with
 * why, a retransmission timeout, a zero-window stall and its end; and the rate limit that keeps
 * a flood from drowning the log.
 */
import { format } from 'node:util';
import debug from 'debug';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/clock.js';
import { formatIpv4 } from '../../../src/wire/addr.js';
import { resetTcpEventLog, tcpEvent } from '../../../src/tcp/event-log.js';
import { passive, setup } from './helpers.js';
import { PEER_IP, pattern, RST } from './peer.js';

let lines: string[] = [];
const original = debug.log;

beforeEach(() => {
  lines = [];
  resetTcpEventLog();
  debug.enable('tapstack:tcp');
  debug.log = (...args: unknown[]) => void lines.push(format(...args));
});

afterEach(() => {
  debug.disable();
  debug.log = original;
});

describe('the tapstack:tcp log', () => {
  it('names each change of state, a reset received and one sent, with the connection', () => {
    const h = setup();
    const { peer, conn } = passive(h, { peerIsn: 1000 });
    peer.data(pattern(10));
    peer.send({ flags: RST, seq: 1011, noTs: true });
    expect(conn.state).toBe('CLOSED');
    const mine = lines.filter((l) => l.includes(`#${conn.id} `));
    expect(mine.some((l) => l.includes('SYN-RECEIVED -> ESTABLISHED'))).toBe(true);
    expect(mine.some((l) => l.includes('failed: ECONNRESET'))).toBe(true);
    expect(mine.some((l) => l.includes('ESTABLISHED -> CLOSED'))).toBe(true);
    expect(mine[0]).toContain(formatIpv4(PEER_IP));

    const h2 = setup();
    const o = passive(h2, { peerIsn: 5000 });
    o.conn.abort();
    expect(lines.some((l) => l.includes(`#${o.conn.id} `) && l.includes('RST sent (aborted)'))).toBe(true);
  });

  it('says when a retransmission timeout fires, and when a zero window stalls the sender and opens again', () => {
    const h = setup();
    const { peer, conn } = passive(h, { peerIsn: 1000 });
    conn.write(pattern(1000));
    conn.flush();
    peer.take();
    h.tick(1500); // no ACK: the RTO fires
    expect(lines.some((l) => l.includes(`#${conn.id} `) && /retransmission timeout \d+ \(RTO \d+ ms\), 1000 bytes in flight/.test(l))).toBe(true);

    const h2 = setup();
    const o = passive(h2, { peerIsn: 1000 });
    o.peer.ackNow({ window: 0 });
    o.conn.write(pattern(500));
    o.conn.flush();
    expect(lines.some((l) => l.includes(`#${o.conn.id} `) && l.includes('zero window: 500 bytes wait, probing'))).toBe(true);
    o.peer.take();
    o.peer.ackNow({ window: 65535 });
    expect(lines.some((l) => l.includes(`#${o.conn.id} `) && l.includes('window opens'))).toBe(true);
  });

  it('writes at most a burst of 200 lines, then 100 a second, and says how many it left out', () => {
    const clock = new ManualClock();
    for (let i = 0; i < 1000; i++) tcpEvent(clock, null, 'event %d', i);
    expect(lines).toHaveLength(200);
    clock.advance(1000);
    for (let i = 0; i < 1000; i++) tcpEvent(clock, null, 'event %d', i);
    expect(lines[200]).toMatch(/\(800 events not logged: more than 100 a second\)/);
    expect(lines.length).toBe(200 + 1 + 100);
  });

  it('costs nothing while off: no line, no rate state spent', () => {
    debug.disable();
    const clock = new ManualClock();
    for (let i = 0; i < 500; i++) tcpEvent(clock, null, 'event %d', i);
    debug.enable('tapstack:tcp');
    tcpEvent(clock, null, 'after');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('after');
  });
});
