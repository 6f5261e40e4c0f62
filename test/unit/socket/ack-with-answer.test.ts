/**
 * The ACK of what the peer sent rides on the application's answer when the application answers
 * within the same turn of the event loop (RFC 1122 4.2.3.2 lets an ACK wait; Linux delays the
 * ACK of a FIN in its pingpong mode): a FIN and the echo of its data come back as one segment,
 * and no window update follows the handshake. On the real event loop, with Node's streams.
 */
import { describe, expect, it } from 'vitest';
import { PageLender } from '../../../src/socket/pages.js';
import { Socket } from '../../../src/socket/socket.js';
import { seqAdd } from '../../../src/wire/seq.js';
import { desc, passive, setup } from '../tcp/helpers.js';
import { ACK, FIN, OUR_IP, pattern, PSH } from '../tcp/peer.js';

/** A tapstack socket on the scripted peer, its deferred flushes on the real event loop. */
function open(app: (s: Socket) => void, allowHalfOpen = false) {
  const h = setup(undefined, { eventLoop: true });
  const { peer, conn, synAck } = passive(h);
  const sock = new Socket(conn, OUR_IP, new PageLender(h.nic.pool), { allowHalfOpen });
  sock.on('error', () => {});
  app(sock);
  return { h, peer, conn, sock, ours: seqAdd(synAck.seq, 1) };
}

/** Let the event loop run a few turns (nextTick, promises, setImmediate). */
async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

const echo = (s: Socket) => {
  s.on('data', (d: Buffer) => s.write(d));
  s.on('end', () => s.end());
};

describe('the ACK rides on the answer', () => {
  it('no window-update ACK after the handshake', async () => {
    const { peer } = open(echo);
    await turns();
    peer.none();
  });

  it('data and FIN in one segment: the echo, our FIN and the ACK of theirs in one segment', async () => {
    const { peer, ours } = open(echo);
    await turns();
    const theirs = peer.snd;
    peer.send({ flags: ACK | PSH | FIN, payload: pattern(100, 5) });
    await turns();
    const segs = peer.take();
    expect(segs.map(desc)).toEqual([{ flags: 'FIN|ACK|PSH', seq: ours, ack: seqAdd(theirs, 101), len: 100 }]);
    expect(segs[0]!.payload).toEqual(pattern(100, 5));
  });

  it('a FIN the application answers by closing: one FIN|ACK', async () => {
    const { peer, ours } = open(echo);
    await turns();
    const theirs = peer.snd;
    peer.send({ flags: ACK | FIN });
    await turns();
    expect(peer.take().map(desc)).toEqual([{ flags: 'FIN|ACK', seq: ours, ack: seqAdd(theirs, 1), len: 0 }]);
  });

  it('a FIN the application does not answer is still acknowledged within the turn', async () => {
    const { peer, ours } = open((s) => s.resume(), true);
    await turns();
    const theirs = peer.snd;
    peer.send({ flags: ACK | FIN });
    await turns();
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK', seq: ours, ack: seqAdd(theirs, 1), len: 0 }]);
  });

  it('a request answered at once: the answer carries the ACK, no pure ACK before it', async () => {
    const { peer, ours } = open((s) => s.on('data', () => s.write('200 OK\n')));
    await turns();
    const theirs = peer.snd;
    peer.data(pattern(300));
    await turns();
    expect(peer.take().map(desc)).toEqual([{ flags: 'ACK|PSH', seq: ours, ack: seqAdd(theirs, 300), len: 7 }]);
  });
});
