/**
 * Minshall's Nagle against a peer that never acknowledges: a scripted peer (peer.py `tail`)
 * connects with MSS 1460, SACK and timestamps (1448 bytes of payload per segment) and never
 * ACKs tapstack's data, so nothing tapstack sends is ever acknowledged.
 *
 * Classic Nagle (RFC 9293 3.7.4, RFC 1122 4.2.3.4) holds a sub-MSS segment while any data is
 * unacknowledged, so the tail of a 2000-byte answer (1448 + 552) would wait for an ACK that never
 * comes, and go out only with a tail loss probe or a retransmission timeout (200 ms at least).
 * Minshall's variant (Linux tcp_minshall_check, draft-minshall-nagle) holds a sub-MSS segment
 * only while another sub-MSS segment is unacknowledged: behind a full-sized segment the tail goes
 * at once. So both the 1448-byte segment and the tail must be on the wire within 150 ms of the
 * peer's last data segment, and nothing may be retransmitted before the tail.
 *
 * Three servers:
 * - `tapstack up --serve echo:7` (Nagle on, the default): the peer sends 1448 bytes, waits for
 *   their echo, then sends 552; the echo of the 552 is written while the full-sized echo is
 *   unacknowledged (whatever the batching, with offloads on);
 * - an echo on the Stack API whose sockets call setNoDelay(true): Nagle off, the tail goes at
 *   once with either variant;
 * - Node's http on the Stack API answering a GET with a 2000-byte body, written with its headers
 *   in one res.end(): one write of headers + 2000 bytes, cut by tapstack into 1448 bytes and a
 *   sub-MSS tail (offloads off, so that tapstack cuts the segments and not the kernel's GSO).
 * The last two run in this test's own process, each on a tapstack/testing network (capture kept
 * if the test fails).
 *
 * Namespace tapstack-it-peer-nagle-<pid> (the CLI) and tapstack-t-<pid>-<n> (the Stack API); in
 * each, subnet 198.18.240.0/24, the peer at 198.18.240.9.
 */
import http from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { testNetwork, type TestNetwork } from '../../src/testing/index.js';
import { formatMac } from '../../src/wire/addr.js';
import { counter, requireBuilt, subnet, Tapstack, useNamespace } from './helpers.js';
import { formatSegments, runPeer, type PeerResult, type PeerSegment } from './peer-helpers.js';
import { killStarted } from './tcp-helpers.js';

const NET = subnet(240);
const ECHO = 7;
const HTTP = 80;
const MSS_PAYLOAD = 1448;
/** The tail must be on the wire this soon after the peer's last data segment (the RTO is >= 200 ms). */
const PROMPT_MS = 150;

interface TailResult extends PeerResult {
  segments: PeerSegment[];
  timestamps: boolean;
  sack: boolean;
  echo?: { sent: number; received: number; same: boolean };
  http?: { status: string; header_bytes: number; content_length: number | null; body_bytes: number; stream_bytes: number };
}

interface TailCheck {
  /** tapstack's data segments that brought new bytes, in the order they came, up to the one that completed the answer. */
  fresh: PeerSegment[];
  /** When the last byte of the answer first arrived (ms after the peer's last data segment), or null. */
  completeAt: number | null;
  /**
   * Segments that carried bytes sent before, from the peer's last data segment until the answer
   * was complete. (A tail loss probe of the full segment while the peer was still to send its
   * last one, i.e. a peer slower than the probe timeout, says nothing about the tail.)
   */
  retransmittedBefore: PeerSegment[];
}

/** Walk tapstack's data segments until bytes [0, total) have all arrived once. */
function checkTail(segs: PeerSegment[], total: number): TailCheck {
  const data = segs.filter((s) => s.from === 'tapstack' && s.len > 0 && !s.flags.includes('S'));
  const got = new Uint8Array(total);
  let have = 0;
  const out: TailCheck = { fresh: [], completeAt: null, retransmittedBefore: [] };
  for (const s of data) {
    let old = false;
    let fresh = false;
    for (let i = s.seq; i < Math.min(s.seq + s.len, total); i++) {
      if (got[i]) old = true;
      else {
        got[i] = 1;
        have++;
        fresh = true;
      }
    }
    if (fresh) out.fresh.push(s);
    if (old && s.t_ms >= 0) out.retransmittedBefore.push(s);
    if (have === total) {
      out.completeAt = s.t_ms;
      break;
    }
  }
  return out;
}

/** The assertions shared by the three servers: a 1448-byte segment, then the tail, both prompt. */
function expectPromptTail(r: TailResult, total: number): void {
  const all = `segments (ms after the peer's last data segment):\n${formatSegments(r.segments)}`;
  expect(r.ok, r.error).toBe(true);
  expect(r.timestamps && r.sack, `timestamps and SACK agreed\n${all}`).toBe(true);
  const c = checkTail(r.segments, total);
  const first = c.fresh[0];
  expect(first && { seq: first.seq, len: first.len }, `the first data segment is a full one\n${all}`).toEqual({ seq: 0, len: MSS_PAYLOAD });
  expect(first!.t_ms, `the full segment came within ${PROMPT_MS} ms\n${all}`).toBeLessThanOrEqual(PROMPT_MS);
  expect(c.completeAt, `all ${total} bytes arrived (the ${total - MSS_PAYLOAD}-byte tail)\n${all}`).not.toBeNull();
  expect(c.retransmittedBefore, `nothing was retransmitted before the tail\n${all}`).toEqual([]);
  expect(c.fresh.map((s) => [s.seq, s.len]), `one full segment and the tail\n${all}`).toEqual([
    [0, MSS_PAYLOAD],
    [MSS_PAYLOAD, total - MSS_PAYLOAD],
  ]);
  expect(c.completeAt!, `the ${total - MSS_PAYLOAD}-byte tail came within ${PROMPT_MS} ms of the peer's last data segment (not held by Nagle until a probe or the RTO)\n${all}`).toBeLessThanOrEqual(PROMPT_MS);
}

/** A test network on {@link NET} for a server on the Stack API (the peer is a host of that subnet). */
function stackNetwork(ctx: Parameters<typeof testNetwork>[0], offload: boolean): Promise<TestNetwork> {
  return testNetwork(ctx, { address: `${NET.tapstack}/24`, hostAddress: `${NET.host}/24`, offload });
}

describe('the sub-MSS tail of an answer to a peer that never ACKs', () => {
  let cli: Tapstack | null = null;
  const ns = useNamespace('peer-nagle', {
    stop: async () => {
      await killStarted();
      if (cli?.running) await cli.stop().catch(() => undefined);
    },
  });
  beforeAll(() => requireBuilt());

  it('tapstack up --serve echo (Nagle on): 1448 + 552 bytes echoed at once', async () => {
    cli = await Tapstack.start({ ns, net: NET, extra: ['--serve', `echo:${ECHO}`] });
    let r: TailResult;
    try {
      r = await runPeer<TailResult>(ns, NET, cli.mac, 'tail', ['--port', String(ECHO), '--request', 'echo', '--observe', '1.0']);
    } finally {
      const stopped = await cli.stop();
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(counter(stopped.counters, 'tcp.connectionsEstablished')).toBe(1);
    }
    console.log(`[echo, Nagle on] segments:\n${formatSegments(r.segments ?? [])}`);
    expectPromptTail(r, 2000);
    expect(r.echo, JSON.stringify(r.echo)).toEqual({ sent: 2000, received: 2000, same: true });
  }, 120_000);

  it('an echo with setNoDelay(true): 1448 + 552 bytes echoed at once', async (ctx) => {
    const net = await stackNetwork(ctx, true);
    net.stack
      .createServer((socket) => {
        socket.setNoDelay(true);
        socket.on('data', (d: Buffer) => socket.write(d));
        socket.on('end', () => socket.end());
        socket.on('error', () => {});
      })
      .listen(ECHO);
    let r: TailResult;
    try {
      r = await runPeer<TailResult>(net.ns, NET, formatMac(net.stack.iface.mac), 'tail', ['--port', String(ECHO), '--request', 'echo', '--observe', '1.0']);
    } finally {
      expect(net.stack.stats().tcp.connectionsEstablished).toBe(1);
    }
    console.log(`[echo, setNoDelay] segments:\n${formatSegments(r.segments ?? [])}`);
    expectPromptTail(r, 2000);
    expect(r.echo, JSON.stringify(r.echo)).toEqual({ sent: 2000, received: 2000, same: true });
  }, 120_000);

  it("Node's http answering a GET with a 2000-byte body: the sub-MSS tail at once", async (ctx) => {
    const net = await stackNetwork(ctx, false);
    const body = Buffer.alloc(2000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const app = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(body);
    });
    net.stack
      .createServer((socket) => {
        socket.on('error', () => {});
        app.emit('connection', socket);
      })
      .listen(HTTP);
    let r: TailResult;
    try {
      // One request from the kernel first, so that the peer's does not time Node's first-request warm-up.
      const warm = await net.exec('curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{size_download}', `http://${NET.tapstack}:${HTTP}/warm-up`]);
      expect(warm.stdout, warm.stderr).toBe('2000');
      r = await runPeer<TailResult>(net.ns, NET, formatMac(net.stack.iface.mac), 'tail', ['--port', String(HTTP), '--request', 'http', '--path', '/tail', '--observe', '1.0']);
    } finally {
      expect(net.stack.stats().tcp.connectionsEstablished).toBe(2);
    }
    console.log(`[http] ${JSON.stringify(r.http)} segments:\n${formatSegments(r.segments ?? [])}`);
    expect(r.ok, r.error).toBe(true);
    const h = r.http!;
    expect(h.status, JSON.stringify(h)).toBe('HTTP/1.1 200 OK');
    expect(h.content_length).toBe(2000);
    // Headers and body in one write: 1448 bytes, then a tail of (headers + 2000) - 1448 < 1448.
    const total = h.header_bytes + 2000;
    expect(total - MSS_PAYLOAD).toBeLessThan(MSS_PAYLOAD);
    expectPromptTail(r, total);
    expect(h.body_bytes, `the whole body arrived\n${formatSegments(r.segments)}`).toBe(2000);
  }, 120_000);
});
