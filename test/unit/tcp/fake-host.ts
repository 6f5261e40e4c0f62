/**
 * A small fake host for one TcpConnection: no NIC, no interface, no TCP layer. Segments the
 * connection sends are parsed off a fake transmit seam (TransportEgress); segments for it are
 * built as the layer would parse them; time is a ManualClock and the batch flush is explicit.
 */
import type { TransportEgress, TransportFrame } from '../../../src/iface/transport.js';
import { Arena, PAGE_SIZE } from '../../../src/mem/arena.js';
import { PagePool } from '../../../src/mem/page-pool.js';
import type { RxCopyReason, RxPayload } from '../../../src/mem/rx-payload.js';
import { ManualClock } from '../../../src/clock.js';
import { DEFAULT_TCP_CONFIG, type TcpConfig } from '../../../src/tcp/config.js';
import { TcpConnection, type SegmentIn, type TcpHost, type TcpStats, type TcpUser } from '../../../src/tcp/connection.js';
import type { TcpError } from '../../../src/tcp/errors.js';
import type { TcpDropReason } from '../../../src/tcp/reasons.js';
import { emptyTcpStats } from '../../../src/tcp/tcp-layer.js';
import { TimerQueue } from '../../../src/tcp/timer-queue.js';
import { parseTcpOptions, TcpOptions, TcpSegment, type TcpOptionsToEmit } from '../../../src/wire/tcp.js';
import type { Out } from './peer.js';

export const LOCAL = 0xc612_0001; // 198.18.0.1
export const REMOTE = 0xc612_0002; // 198.18.0.2

/** One segment the connection sent, parsed: the TCP part of what the scripted peer sees, and the TSO size asked for (0: one segment). */
export type Sent = Pick<Out, 'seq' | 'ack' | 'flags' | 'window' | 'options' | 'payload'> & { segmentSize: number };

/** A transmit frame that keeps what is written into it. */
class RecordingFrame implements TransportFrame {
  header = new Uint8Array(60);
  private data: Uint8Array[] = [];
  constructor(
    private readonly pool: PagePool,
    private readonly out: Sent[],
  ) {}

  start(hdrLen: number): this {
    this.header = new Uint8Array(hdrLen);
    this.data = [];
    return this;
  }

  appendPage(page: number, offset: number, len: number): void {
    this.data.push(this.pool.view(page).slice(offset, offset + len));
  }

  appendBytes(bytes: Uint8Array, start: number, end: number): void {
    this.data.push(bytes.slice(start, end));
  }

  commit(segmentSize: number): number {
    const h = this.header;
    const seg = new TcpSegment(h);
    const options = new TcpOptions();
    const reason = parseTcpOptions(h, 20, seg.headerLength, options);
    if (reason !== null) throw new Error(`connection sent bad options: ${reason}`);
    const payload = new Uint8Array(this.data.reduce((n, d) => n + d.length, 0));
    let at = 0;
    for (const d of this.data) {
      payload.set(d, at);
      at += d.length;
    }
    this.out.push({ seq: seg.seq, ack: seg.ack, flags: seg.flags, window: seg.window, options, payload, segmentSize });
    return 0;
  }
}

/** Received bytes in a plain array: copied out, never handed over by page. */
export class BytesPayload implements RxPayload {
  constructor(private readonly bytes: Uint8Array) {}
  get length(): number {
    return this.bytes.length;
  }
  copyOut(from: number, len: number, dst: Uint8Array, dstOff: number): void {
    dst.set(this.bytes.subarray(from, from + len), dstOff);
  }
  takePages(): RxCopyReason | null {
    return 'unaligned';
  }
}

/** The application's side, recorded. */
export class User implements TcpUser {
  connected = 0;
  data: number[] = [];
  ended = false;
  closed: TcpError | null | undefined = undefined;
  sendSpace = 0;
  onConnect(): void {
    this.connected++;
  }
  onData(payload: RxPayload, offset: number, len: number): void {
    const b = new Uint8Array(len);
    payload.copyOut(offset, len, b, 0);
    this.data.push(...b);
  }
  onEnd(): void {
    this.ended = true;
  }
  onSendSpace(): void {
    this.sendSpace++;
  }
  onClose(err: TcpError | null): void {
    this.closed = err;
  }
  bufferedBytes(): number {
    return 0;
  }
}

export class FakeHost implements TcpHost {
  readonly clock = new ManualClock(1000);
  readonly config: TcpConfig;
  readonly pool: PagePool;
  readonly stats: TcpStats = emptyTcpStats();
  readonly localAddr = LOCAL;
  readonly offload = false;
  readonly rxMemory: { pool: PagePool; freePages(): number; pagesOwed(): number };
  readonly egress: TransportEgress;
  oooBytesTotal = 0;
  readonly countDrop = (reason: TcpDropReason): void => {
    const d = this.stats.drops;
    d[reason] = (d[reason] ?? 0) + 1;
  };
  /** What the connection sent, oldest first (take with {@link take}). */
  sent: Sent[] = [];
  removed: TcpConnection[] = [];
  isn = 0x1000_0000;
  private readonly dirty = new Set<TcpConnection>();
  /** The layer's timer queue: a deadline the connection did not schedule never fires. */
  private readonly timers = new TimerQueue();

  constructor(config: Partial<TcpConfig> = {}, mtu = 1500) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...config };
    this.pool = new PagePool(new Arena(512 * PAGE_SIZE), 512);
    const pool = this.pool;
    this.rxMemory = { pool, freePages: () => pool.freeCount, pagesOwed: () => 0 };
    const frame = new RecordingFrame(pool, this.sent);
    this.egress = { mtu, maxPayloadParts: 20, beginTransport: (_dst, _proto, hdrLen) => frame.start(hdrLen) };
  }

  connection(remotePort = 80, localPort = 40000): TcpConnection {
    return new TcpConnection(this, REMOTE, remotePort, localPort);
  }

  schedule(c: TcpConnection): void {
    this.timers.schedule(c);
  }
  markDirty(c: TcpConnection): void {
    this.dirty.add(c);
  }
  markDirtyAfterApp(c: TcpConnection): void {
    this.dirty.add(c);
  }
  /** No batches here: users take their turn on their own. */
  atBatchEnd(): boolean {
    return false;
  }
  remove(c: TcpConnection): void {
    this.removed.push(c);
  }
  established(): void {}
  allowChallengeAck(): boolean {
    return true;
  }
  nextIsn(): number {
    return this.isn;
  }
  tsOffset(): number {
    return 0;
  }
  rxPoolPages(): number {
    return this.pool.freeCount;
  }
  rxStarved(): void {}

  /** The end of a batch: every connection that asked flushes (twice for the after-the-app ones). */
  flush(): void {
    for (let round = 0; round < 2 && this.dirty.size > 0; round++) {
      const cs = [...this.dirty];
      this.dirty.clear();
      for (const c of cs) c.flush();
    }
  }

  /** Let `ms` pass, run the timers that are due (as scheduled), then the batch's flush. */
  tick(ms: number): void {
    this.clock.advance(ms);
    this.timers.run(this.clock.nowMs());
    this.flush();
  }

  /** The segments sent since the last call. */
  take(): Sent[] {
    return this.sent.splice(0);
  }
}

/** A segment from the peer, as the layer hands it to the connection. */
export function segment(s: { seq: number; ack?: number; flags: number; window?: number; data?: Uint8Array; opts?: TcpOptionsToEmit }): SegmentIn {
  const opts = new TcpOptions();
  const o = s.opts ?? {};
  if (o.mss !== undefined) opts.mss = o.mss;
  if (o.windowScale !== undefined) opts.windowScale = o.windowScale;
  opts.sackPermitted = !!o.sackPermitted;
  if (o.timestamp) {
    opts.hasTimestamp = true;
    opts.tsVal = o.timestamp.tsVal;
    opts.tsEcr = o.timestamp.tsEcr;
  }
  const data = s.data ?? new Uint8Array(0);
  return { seq: s.seq >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags, window: s.window ?? 65535, opts, dataLength: data.length, dataOffset: 0, payload: new BytesPayload(data), tos: 0 };
}
