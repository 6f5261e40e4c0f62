/**
 * A bulk transfer from tapstack to a simulated Linux receiver over a simulated link, on the
 * virtual clock: deterministic loss experiments without a kernel.
 *
 * - The link: a one-way delay each way, a bottleneck rate on the data path (frames queue behind
 *   each other, no queue limit), and the firmware's own fault injector ({@link Impairer}, the
 *   same seeded decisions as `--impair`) on each direction: loss in bursts of N frames.
 * - The receiver behaves as Linux's tcp_input.c does for what matters to the sender's loss
 *   recovery: cumulative ACK every second full segment (else a 40 ms delayed ACK), an immediate
 *   ACK for out-of-order data, for data that fills a hole and for duplicates; up to 4 SACK
 *   blocks remembered, most recent first (tcp_sack_new_ofo_skb), 3 sent with timestamps, a
 *   D-SACK first for duplicate data (RFC 2883, tcp_dsack_set); TS.Recent per RFC 7323 4.3 (the
 *   TSval of the segment that reached Last.ACK.sent); quick ACKs after a duplicate.
 * - tapstack is the sender, through the scripted-peer harness: frames it writes go on the link;
 *   the receiver's ACKs are delivered as the kernel would, all frames due at one instant in one
 *   wake-up.
 */
import { Impairer, noImpairment } from '../../../firmware/impairments.js';
import type { TcpConfig } from '../../../src/tcp/config.js';
import type { TcpStats } from '../../../src/tcp/connection.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../../../src/wire/seq.js';
import { passive, setup } from './helpers.js';
import { ACK, type Out } from './peer.js';

export interface SimOptions {
  /** Bytes to send. */
  bytes: number;
  /** One-way delay (ms) each way. */
  delayMs?: number;
  /** Bottleneck rate of the data direction (bits/s); 0: none. */
  rateBitsPerSecond?: number;
  /** Loss probability per frame and frames per loss event, data and ACK directions. */
  dataLoss?: number;
  ackLoss?: number;
  burst?: number;
  seed?: number;
  /** Drop exactly these data frames (0-based count of data frames sent), besides random loss. */
  dropFrames?: number[];
  config?: Partial<TcpConfig>;
  /** Give up after this much virtual time (ms). */
  limitMs?: number;
  /** Check RACK's pipe counters against its records after every step (see SimResult.auditFailures). */
  audit?: boolean;
  /** Collect a readable trace of the run here. */
  trace?: string[];
}

export interface SimResult {
  /** With `audit`: every step after which RACK's counters disagreed with its records. */
  auditFailures: string[];
  /** Virtual time from the first write to the last byte acknowledged (ms). */
  ms: number;
  done: boolean;
  /** Data frames sent by tapstack, and those the link dropped. */
  dataFrames: number;
  dataDropped: number;
  acksSent: number;
  acksDropped: number;
  /** Segments that reached the receiver as duplicates (spurious retransmissions, D-SACKed). */
  duplicates: number;
  stats: TcpStats;
  /** The connection's own count of segments sent again (tcp_info's total_retrans). */
  connectionRetransmits: number;
}

const DELACK_MS = 40;
/** Linux TCP_MAX_QUICKACKS. */
const QUICKACKS = 16;

interface Ev {
  at: number;
  order: number;
  kind: 'data' | 'ack';
  seg?: Out;
  frame?: Uint8Array;
}

/** A minimal binary heap by (at, order). */
class Events {
  private readonly h: Ev[] = [];
  private n = 0;
  get size(): number {
    return this.h.length;
  }
  push(e: Omit<Ev, 'order'>): void {
    const ev = { ...e, order: this.n++ } as Ev;
    const h = this.h;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  peek(): Ev | undefined {
    return this.h[0];
  }
  pop(): Ev {
    const h = this.h;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Ev, b: Ev): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/** Run one transfer; see the file comment. */
export function simulateTransfer(o: SimOptions): SimResult {
  const delay = o.delayMs ?? 0.5;
  const rate = o.rateBitsPerSecond ?? 0;
  const seed = o.seed ?? 1;
  const spec = (loss: number) => ({ ...noImpairment(), loss, burst: o.burst ?? 1 });
  const dataImpair = new Impairer(spec(o.dataLoss ?? 0), seed * 2 + 2);
  const ackImpair = new Impairer(spec(o.ackLoss ?? 0), seed * 2 + 1);
  const dropSet = new Set(o.dropFrames ?? []);

  const h = setup({ sndBuf: 4 << 20, ...o.config });
  const { peer, conn, synAck } = passive(h, { peerIsn: 100, rtt: 2 * delay, window: 65535 });
  const base = seqAdd(synAck.seq, 1);
  const end = seqAdd(base, o.bytes);
  const chunk = new Uint8Array(256 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 7 + 3) & 0xff;
  let written = 0;
  const t0 = h.now;
  const limit = t0 + (o.limitMs ?? 600_000);

  // The receiver (Linux-like).
  let rcvNxt = base;
  /** Out-of-order ranges held, ascending. */
  let ooo: [number, number][] = [];
  /** SACK blocks to report, most recent first (at most 4). */
  let sacks: [number, number][] = [];
  let dsack: [number, number] | null = null;
  let tsRecent = 0;
  let lastAckSent = base;
  let unacked = 0;
  let quick = 0;
  let delackAt = Infinity;
  let duplicates = 0;
  let acksSent = 0;

  const ev = new Events();
  const auditFailures: string[] = [];
  const trace: string[] | undefined = o.trace;
  let linkFree = 0;
  let dataFrames = 0;

  const sendAck = (now: number): void => {
    const blocks: [number, number][] = [];
    if (dsack) blocks.push(dsack);
    for (const b of sacks) if (blocks.length < 3) blocks.push(b);
    dsack = null;
    unacked = 0;
    delackAt = Infinity;
    lastAckSent = rcvNxt;
    acksSent++;
    const b = new Uint32Array(2 * blocks.length);
    blocks.forEach(([l, r], i) => {
      b[2 * i] = l;
      b[2 * i + 1] = r;
    });
    const frame = peer.frame({
      flags: ACK,
      ack: rcvNxt,
      opts: { timestamp: { tsVal: peer.tsVal(), tsEcr: tsRecent }, ...(blocks.length > 0 ? { sackBlocks: b, sackBlockCount: blocks.length } : {}) },
    });
    const lost = ackImpair.decide() !== 0;
    trace?.push(`${now.toFixed(3)} ACK ${seqDiff(rcvNxt, base)} ${blocks.map(([l, r]) => `${seqDiff(l, base)}-${seqDiff(r, base)}`).join(' ')}${lost ? ' LOST' : ''}`);
    if (lost) return;
    ev.push({ at: now + delay, kind: 'ack', frame });
  };

  /** tcp_sack_new_ofo_skb: the block that grew (or a new one) goes first; at most 4. */
  const sackNewOfo = (l: number, r: number): void => {
    let i = sacks.findIndex(([a, b]) => seqLe(a, r) && seqLe(l, b));
    if (i < 0) {
      sacks.unshift([l, r]);
    } else {
      const [a, b] = sacks[i]!;
      sacks.splice(i, 1);
      let nl = seqLt(l, a) ? l : a;
      let nr = seqGt(r, b) ? r : b;
      // Coalesce with others it now touches.
      for (i = sacks.length - 1; i >= 0; i--) {
        const [c, d] = sacks[i]!;
        if (seqLe(c, nr) && seqLe(nl, d)) {
          nl = seqLt(c, nl) ? c : nl;
          nr = seqGt(d, nr) ? d : nr;
          sacks.splice(i, 1);
        }
      }
      sacks.unshift([nl, nr]);
    }
    if (sacks.length > 4) sacks.length = 4;
  };

  const receive = (s: Out, now: number): void => {
    const l = s.seq;
    const r = seqAdd(s.seq, s.payload.length);
    if (s.options.hasTimestamp && seqLe(l, lastAckSent)) tsRecent = s.options.tsVal; // RFC 7323 4.3
    trace?.push(`${now.toFixed(3)} RX ${seqDiff(l, base)}+${s.payload.length} rcvNxt=${seqDiff(rcvNxt, base)}`);
    if (seqLe(r, rcvNxt)) {
      // A duplicate: D-SACK it, ACK at once, quick ACKs for a while (tcp_data_queue "out_of_window").
      duplicates++;
      trace?.push('  DUP');
      dsack = [l, r];
      quick = QUICKACKS;
      sendAck(now);
      return;
    }
    if (seqLt(l, rcvNxt)) {
      dsack = [l, rcvNxt];
      duplicates++;
    }
    if (seqLe(l, rcvNxt)) {
      rcvNxt = r;
      const hadHoles = ooo.length > 0;
      // Pull in what the hole held.
      while (ooo.length > 0 && seqLe(ooo[0]![0], rcvNxt)) {
        rcvNxt = seqMax(rcvNxt, ooo[0]![1]);
        ooo.shift();
      }
      sacks = sacks.filter(([, b]) => seqGt(b, rcvNxt));
      unacked++;
      if (hadHoles || dsack || quick > 0 || unacked >= 2) {
        if (quick > 0) quick--;
        sendAck(now);
      } else if (delackAt === Infinity) {
        delackAt = now + DELACK_MS;
      }
      return;
    }
    // Out of order.
    let dup = false;
    for (const [a, b] of ooo) if (seqLe(a, l) && seqLe(r, b)) dup = true;
    if (dup) {
      trace?.push('  DUP');
      duplicates++;
      dsack = [l, r];
    } else {
      ooo.push([l, r]);
      ooo.sort((x, y) => seqDiff(x[0], y[0]));
      const merged: [number, number][] = [];
      for (const [a, b] of ooo) {
        const last = merged[merged.length - 1];
        if (last && seqLe(a, last[1])) last[1] = seqMax(last[1], b);
        else merged.push([a, b]);
      }
      ooo = merged;
      sackNewOfo(l, r);
    }
    sendAck(now);
  };

  /** Put what tapstack wrote on the link. */
  const transmit = (): void => {
    for (const s of peer.take()) {
      if (s.payload.length === 0) continue;
      const n = dataFrames++;
      trace?.push(`${s.at.toFixed(3)} TX ${seqDiff(s.seq, base)}+${s.payload.length} frame=${n} fr=${h.tcp.stats.fastRetransmits} rto=${h.tcp.stats.timeouts} cwnd=${conn.cc.cwnd} una=${seqDiff(conn.sndUna, base)}`);
      const fate = dataImpair.decide();
      let at = s.at + delay;
      if (rate > 0) {
        const start = Math.max(s.at, linkFree);
        linkFree = start + ((s.payload.length + 66) * 8 * 1000) / rate;
        at = linkFree + delay;
      }
      if (fate !== 0 || dropSet.has(n)) {
        trace?.push(`  dropped frame ${n}`);
        continue;
      }
      ev.push({ at, kind: 'data', seg: s });
    }
  };

  const feed = (): void => {
    while (written < o.bytes && conn.sendSpace() > 0) {
      const n = Math.min(chunk.length, o.bytes - written, conn.sendSpace());
      const took = h.app(() => conn.write(chunk.subarray(0, n)));
      if (took === 0) break;
      written += took;
    }
  };

  feed();
  transmit();
  let done = false;
  for (let guard = 0; guard < 50_000_000; guard++) {
    if (seqGe(conn.sndUna, end)) {
      done = true;
      break;
    }
    const next = Math.min(ev.peek()?.at ?? Infinity, delackAt, h.tcp.nextDeadline());
    if (next === Infinity || next > limit) break;
    if (next > h.now) h.tickTo(next);
    else h.tick(0);
    transmit();
    const now = h.now;
    if (delackAt <= now) sendAck(now);
    const acks: Uint8Array[] = [];
    while ((ev.peek()?.at ?? Infinity) <= now) {
      const e = ev.pop();
      if (e.kind === 'data') receive(e.seg!, now);
      else acks.push(e.frame!);
    }
    if (acks.length > 0) {
      h.dev.deliver(...acks);
      h.settle();
    }
    feed();
    transmit();
    if (o.audit && conn.rack) {
      const a = conn.rack.audit();
      const r = conn.rack;
      if (a.lostBytes !== r.lostBytes || a.rxtBytes !== r.rxtBytes || a.pendingBytes !== r.pendingBytes) {
        auditFailures.push(`${h.now.toFixed(3)}: counters lost/rxt/pending ${r.lostBytes}/${r.rxtBytes}/${r.pendingBytes}, records say ${a.lostBytes}/${a.rxtBytes}/${a.pendingBytes}`);
      }
    }
  }
  return {
    auditFailures,
    ms: h.now - t0,
    done,
    dataFrames,
    dataDropped: dataImpair.stats.dropped + dropSet.size,
    acksSent,
    acksDropped: ackImpair.stats.dropped,
    duplicates,
    stats: { ...h.tcp.stats },
    connectionRetransmits: conn.info().retransmits,
  };
}
