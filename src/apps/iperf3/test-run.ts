/**
 * One test's data streams while it runs, on either side: when it started and ended, the bytes
 * per stream and per interval, the CPU it took, and the stack's zero-copy counters over it;
 * then the numbers both sides exchange and print.
 */
import type { Stack } from '../../stack.js';
import type { Socket } from '../../socket/socket.js';
import { byteLimit, streamId, type TestParams } from './params.js';
import { CpuMeter, parseResults, resultsJson, zeroCopySince, zeroCopySnapshot, type CpuPercent, type PeerResults, type ZeroCopyCounters } from './results.js';
import type { IntervalSample, Outcome } from './report.js';
import { DataStream, sendPagesPerStream, type SendBudget } from './streams.js';

/** The first number shown in brackets: iperf3 shows descriptors, and its first stream is usually 5. */
const FIRST_SOCKET = 5;

export class TestRun {
  readonly streams: DataStream[] = [];
  readonly intervals: IntervalSample[] = [];
  private readonly budget: SendBudget;
  private readonly received = { bytes: 0 };
  private readonly limit: number;
  private readonly cpu = new CpuMeter();
  private zc0: ZeroCopyCounters;
  private t0 = 0;
  private lastMark = 0;
  /** Seconds from start to end; NaN while running. */
  seconds = NaN;
  cpuUsed: CpuPercent = { total: 0, user: 0, system: 0 };
  zeroCopy: ZeroCopyCounters;
  running = false;

  constructor(
    private readonly stack: Stack,
    readonly params: TestParams,
    readonly role: 'client' | 'server',
    /** Called once a byte limit (-n, -k) is reached. */
    private readonly onLimit: () => void,
  ) {
    const limit = byteLimit(params);
    this.limit = limit;
    // iperf3 writes whole blocks of -l bytes, so a byte limit ends on a block boundary.
    this.budget = { left: Number.isFinite(limit) ? Math.ceil(limit / params.len) * params.len : Infinity };
    this.zc0 = zeroCopySnapshot(stack.pages.stats);
    this.zeroCopy = this.zc0;
  }

  /** Add the next stream (in the order the client opens them). */
  add(socket: Socket, sender: boolean): DataStream {
    if (this.params.noDelay) socket.setNoDelay(true);
    const s = new DataStream(streamId(this.streams.length), sender, socket, this.stack.pages, this.budget, () => this.checkLimit(), this.received);
    this.streams.push(s);
    return s;
  }

  /**
   * The byte limit is reached when the receiving streams counted it, or when the sending
   * streams spent it and every page of it was acknowledged: sent by reference, a byte counts
   * once it is the peer's (the kernel counts it once it is in the socket buffer, which it
   * empties before the control connection's TEST_END can overtake it by much).
   */
  private checkLimit(): void {
    if (!this.running || !Number.isFinite(this.limit)) return;
    const recv = this.streams.some((s) => !s.sender) && this.received.bytes >= this.limit;
    const sent = this.budget.left === 0 && this.streams.every((s) => !s.sender || s.pagesInFlight === 0);
    if (recv || sent) this.onLimit();
  }

  /** TEST_START: fill the senders' pages, start the clocks. */
  prepare(): void {
    const senders = this.streams.filter((s) => s.sender).length;
    for (const s of this.streams) s.prepare(sendPagesPerStream(senders), this.params.repeatingPayload);
    this.zc0 = zeroCopySnapshot(this.stack.pages.stats);
    this.cpu.restart();
    this.t0 = this.lastMark = this.stack.clock.nowMs();
  }

  /** TEST_RUNNING: data flows. */
  start(): void {
    this.running = true;
    for (const s of this.streams) s.start();
  }

  /** Seconds since the start. */
  elapsed(): number {
    return (this.stack.clock.nowMs() - this.t0) / 1000;
  }

  /** The bytes of every stream since the last mark, as an interval (null if none passed). */
  mark(): IntervalSample | null {
    const now = this.stack.clock.nowMs();
    if (now <= this.lastMark) return null;
    const iv: IntervalSample = { start: (this.lastMark - this.t0) / 1000, end: (now - this.t0) / 1000, bytes: this.streams.map((s) => s.bytes - s.markBytes) };
    for (const s of this.streams) s.markBytes = s.bytes;
    this.lastMark = now;
    this.intervals.push(iv);
    return iv;
  }

  /** Bytes moved so far, both ways (for the server's no-progress check). */
  get progress(): number {
    return this.streams.reduce((a, s) => a + s.bytes, 0);
  }

  /** TEST_END: stop counting and sending; a partial last interval is kept when it moved bytes. */
  stop(): IntervalSample | null {
    if (!this.running) return null;
    this.running = false;
    const last = this.streams.some((s) => s.bytes > s.markBytes) ? this.mark() : null;
    this.seconds = this.elapsed();
    for (const s of this.streams) s.stop();
    this.cpuUsed = this.cpu.percent();
    this.zeroCopy = zeroCopySince(this.stack.pages.stats, this.zc0);
    return last;
  }

  /** Close every stream and give back its pages. */
  close(): void {
    this.running = false;
    for (const s of this.streams) s.close();
  }

  /** The results JSON this side sends. */
  resultsJson(serverOutputText?: string): Record<string, unknown> {
    return resultsJson({
      cpu: this.cpuUsed,
      receiverOnly: this.streams.every((s) => !s.sender),
      congestion: this.stack.tcp.config.congestionControl,
      streams: this.streams.map((s) => ({ id: s.id, bytes: s.bytes, seconds: this.seconds, retransmits: s.sender ? s.retransmits : 0 })),
      zeroCopy: this.zeroCopy,
      ...(serverOutputText !== undefined ? { serverOutputText } : {}),
    });
  }

  /** The peer's results, checked against this test's streams. */
  peerResults(j: Record<string, unknown>): PeerResults {
    return parseResults(j, new Set(this.streams.map((s) => s.id)));
  }

  /** Both sides' numbers together, for the report. */
  outcome(peer: PeerResults): Outcome {
    return {
      role: this.role,
      bidirectional: this.params.bidirectional,
      streams: this.streams.map((s, i) => {
        const mine = { bytes: s.bytes, seconds: this.seconds };
        const p = peer.streams.get(s.id);
        // A peer that sent no times (iperf3 before 3.2): this side's time stands in.
        const theirs = { bytes: p?.bytes ?? 0, seconds: p && p.seconds > 0 ? p.seconds : this.seconds };
        return { socket: FIRST_SOCKET + i, sender: s.sender, sent: s.sender ? mine : theirs, received: s.sender ? theirs : mine };
      }),
      cpu: this.cpuUsed,
      remoteCpu: peer.cpu,
      congestion: this.stack.tcp.config.congestionControl,
      remoteCongestion: peer.congestion,
      zeroCopy: this.zeroCopy,
    };
  }

  /** What each stream shows: its bracket number and whether this side sends on it. */
  get layout(): { bidirectional: boolean; role: 'client' | 'server'; streams: { socket: number; sender: boolean }[] } {
    return { bidirectional: this.params.bidirectional, role: this.role, streams: this.streams.map((s, i) => ({ socket: FIRST_SOCKET + i, sender: s.sender })) };
  }
}
