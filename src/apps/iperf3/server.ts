/**
 * An iperf3 server on tapstack (iperf_server_api.c): one test at a time on one port. The first
 * connection of a test is its control connection; once the parameters are in, the next
 * connections that bring the test's cookie are its data streams. Anyone else gets
 * ACCESS_DENIED, as iperf3 answers while busy.
 *
 * The server's side of a test:
 *   cookie -> PARAM_EXCHANGE -> parameters -> CREATE_STREAMS -> the streams connect ->
 *   TEST_START, TEST_RUNNING -> ... the client's TEST_END -> EXCHANGE_RESULTS -> the client's
 *   results -> ours -> DISPLAY_RESULTS -> the client's IPERF_DONE.
 *
 * A message that is malformed, out of place or too late ends that test with one line saying
 * why, and the server takes the next client.
 */
import type { Stack } from '../../stack.js';
import type { Server } from '../../socket/server.js';
import type { Socket } from '../../socket/socket.js';
import { formatZeroCopy } from './results.js';
import { ParamsRefused, parseParams, streamSenders, type TestParams } from './params.js';
import { ControlReader, encodeJson, encodeServerError, encodeState, Iperf3Error, MAX_PARAMS_JSON, MAX_RESULTS_JSON, State, stateName } from './protocol.js';
import { summaryLines } from './report.js';
import { TestRun } from './test-run.js';

export interface Iperf3ServerOptions {
  port: number;
  /** Where the server's lines go (one call a line); default nowhere. */
  log?: (line: string) => void;
  /** Seconds a client may take for each step of the exchange (default 10). */
  stepTimeoutS?: number;
  /** Seconds a running test may move no byte before it is dropped (iperf3's rcv_timeout: 120). */
  idleTimeoutS?: number;
}

export interface Iperf3ServerStats {
  /** Control connections that started a test. */
  tests: number;
  /** Tests that ran to IPERF_DONE. */
  completed: number;
  /** Tests ended by an error (the line said which). */
  failed: number;
  /** Connections answered with ACCESS_DENIED. */
  denied: number;
}

/**
 * iperf3's grace after a test's time before the server gives up on it (iperf_server_api.c
 * create_server_timers: 4 s of round trip for each of 10 state changes).
 */
const GRACE_S = 40;

type Phase = 'cookie' | 'params' | 'streams' | 'running' | 'results' | 'display' | 'done';

export class Iperf3Server {
  readonly server: Server;
  readonly stats: Iperf3ServerStats = { tests: 0, completed: 0, failed: 0, denied: 0 };
  private test: ServerTest | null = null;

  constructor(
    private readonly stack: Stack,
    private readonly opts: Iperf3ServerOptions,
  ) {
    this.server = stack.createServer({ allowHalfOpen: true }, (s) => this.accept(s));
  }

  listen(): this {
    this.server.listen(this.opts.port);
    return this;
  }

  close(): void {
    this.test?.fail(new Iperf3Error('control-closed', 'server closing'));
    this.server.close();
  }

  private accept(s: Socket): void {
    s.on('error', () => {});
    const t = this.test;
    if (!t) {
      this.stats.tests++;
      this.test = new ServerTest(this.stack, this.opts, this.stats, s, this.stats.tests, () => (this.test = null));
    } else if (t.wantsStreams) t.offerStream(s);
    else deny(s, this.stats);
  }
}

/** ACCESS_DENIED, then a FIN; what the peer sent is read and dropped so the close is not a reset. */
function deny(s: Socket, stats: Iperf3ServerStats): void {
  stats.denied++;
  s.resume();
  s.end(encodeState(State.ACCESS_DENIED));
}

class ServerTest {
  private phase: Phase = 'cookie';
  private phaseSince: number;
  private readonly reader = new ControlReader();
  private cookie = '';
  private params: TestParams | null = null;
  private senders: boolean[] = [];
  private run: TestRun | null = null;
  /** Connections offered as streams that have not brought their cookie yet. */
  private readonly pending = new Set<Socket>();
  private readonly timer: NodeJS.Timeout;
  private lastProgress = 0;
  private progressAt = 0;
  private readonly log: (line: string) => void;
  private readonly peer: string;

  constructor(
    private readonly stack: Stack,
    private readonly opts: Iperf3ServerOptions,
    private readonly stats: Iperf3ServerStats,
    private readonly control: Socket,
    private readonly number: number,
    private readonly onDone: () => void,
  ) {
    this.log = opts.log ?? (() => {});
    this.peer = `${control.remoteAddress} port ${control.remotePort}`;
    // Control messages are single bytes and short JSON: no waiting behind Nagle (iperf3 sets TCP_NODELAY too).
    control.setNoDelay(true);
    this.phaseSince = stack.clock.nowMs();
    control.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.step();
    });
    control.on('end', () => this.fail(new Iperf3Error('control-closed', 'the client closed the control connection')));
    control.on('close', () => this.fail(new Iperf3Error('control-closed', 'the control connection closed')));
    // One timer for the whole test: the steps' deadlines, and the running test's time limits.
    this.timer = setInterval(() => this.tick(), 1000);
    this.log(`iperf3: test #${number}: accepted ${this.peer}`);
  }

  /** Connections are data streams while CREATE_STREAMS waits for them. */
  get wantsStreams(): boolean {
    return this.phase === 'streams';
  }

  private enter(p: Phase): void {
    this.phase = p;
    this.phaseSince = this.stack.clock.nowMs();
  }

  private send(b: Buffer): void {
    this.control.write(b);
  }

  private step(): void {
    try {
      for (;;) {
        switch (this.phase) {
          case 'cookie': {
            const c = this.reader.readCookie();
            if (c === null) return;
            this.cookie = c;
            this.send(encodeState(State.PARAM_EXCHANGE));
            this.enter('params');
            break;
          }
          case 'params': {
            const j = this.reader.readJson(MAX_PARAMS_JSON);
            if (j === null) return;
            let p: TestParams;
            try {
              p = parseParams(j);
            } catch (e) {
              if (e instanceof ParamsRefused) {
                // iperf3 tells the client why with SERVER_ERROR and its error code.
                this.control.end(encodeServerError(e.ierrno));
                this.fail(e, 'ended');
                return;
              }
              throw e;
            }
            this.params = p;
            this.senders = streamSenders(p, 'server');
            this.run = new TestRun(this.stack, p, 'server', () => {});
            this.log(`iperf3: test #${this.number}: ${describe(p)}`);
            this.send(encodeState(State.CREATE_STREAMS));
            this.enter('streams');
            break;
          }
          case 'streams':
          case 'running':
          case 'display': {
            const st = this.reader.readState();
            if (st === null) return;
            if (st === State.CLIENT_TERMINATE) throw new Iperf3Error('peer-refused', 'the client terminated the test');
            if (this.phase === 'running' && st === State.TEST_END) {
              this.endRun();
              break;
            }
            if (this.phase === 'display' && st === State.IPERF_DONE) {
              this.complete();
              return;
            }
            throw new Iperf3Error('unexpected-state', `${stateName(st)} from the client while ${this.phase}`);
          }
          case 'results': {
            const j = this.reader.readJson(MAX_RESULTS_JSON);
            if (j === null) return;
            this.exchange(j);
            break;
          }
          case 'done':
            return;
        }
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** A connection during CREATE_STREAMS: a stream of this test if it brings the cookie. */
  offerStream(s: Socket): void {
    const reader = new ControlReader();
    this.pending.add(s);
    s.once('close', () => this.pending.delete(s));
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      let cookie: string | null;
      try {
        cookie = reader.readCookie();
      } catch {
        cookie = ''; // malformed: no cookie of this test
      }
      if (cookie === null) return;
      s.removeListener('data', onData);
      this.pending.delete(s);
      const run = this.run;
      if (cookie !== this.cookie || !run || this.phase !== 'streams' || run.streams.length >= this.senders.length) {
        deny(s, this.stats);
        return;
      }
      run.add(s, this.senders[run.streams.length]!);
      if (run.streams.length === this.senders.length) this.startRun();
    };
    s.on('data', onData);
  }

  private startRun(): void {
    const run = this.run!;
    run.prepare();
    this.send(Buffer.from([State.TEST_START, State.TEST_RUNNING]));
    this.enter('running');
    this.progressAt = this.stack.clock.nowMs();
    run.start();
  }

  private endRun(): void {
    this.run!.stop();
    // iperf3 closes the streams at TEST_END; a sender's queued pages are dropped with them.
    this.run!.close();
    this.send(encodeState(State.EXCHANGE_RESULTS));
    this.enter('results');
  }

  /** The client's results are in: answer with ours, and DISPLAY_RESULTS. */
  private exchange(j: Record<string, unknown>): void {
    const run = this.run!;
    const peer = run.peerResults(j);
    const lines = this.report(run.outcome(peer));
    this.send(encodeJson(run.resultsJson(this.params!.getServerOutput ? lines.join('\n') + '\n' : undefined)));
    this.send(encodeState(State.DISPLAY_RESULTS));
    this.enter('display');
    for (const l of lines) this.log(l);
  }

  private report(o: ReturnType<TestRun['outcome']>): string[] {
    return [...summaryLines(o), `iperf3: test #${this.number}: ${formatZeroCopy(o.zeroCopy)}`];
  }

  private tick(): void {
    const now = this.stack.clock.nowMs();
    const run = this.run;
    if (this.phase === 'running' && run) {
      const p = this.params!;
      if (run.progress !== this.lastProgress) {
        this.lastProgress = run.progress;
        this.progressAt = now;
      }
      if (p.time > 0 && run.elapsed() > p.time + GRACE_S) this.fail(new Iperf3Error('timeout', `no TEST_END ${GRACE_S} s after the test's ${p.time} s`));
      else if (now - this.progressAt > (this.opts.idleTimeoutS ?? 120) * 1000) this.fail(new Iperf3Error('timeout', `no data for ${this.opts.idleTimeoutS ?? 120} s`));
      return;
    }
    if (this.phase !== 'done' && now - this.phaseSince > (this.opts.stepTimeoutS ?? 10) * 1000) this.fail(new Iperf3Error('timeout', `the client sent nothing for ${this.opts.stepTimeoutS ?? 10} s while ${this.phase}`));
  }

  private complete(): void {
    this.stats.completed++;
    this.log(`iperf3: test #${this.number}: done`);
    this.finish();
    this.control.end();
  }

  /**
   * End the test with the reason on one line (once; later calls do nothing). The control
   * connection is closed at once, unless it was `ended` already with a last word.
   */
  fail(e: Error, control: 'close' | 'ended' = 'close'): void {
    if (this.phase === 'done') return;
    this.stats.failed++;
    this.log(`iperf3: test #${this.number}: ${this.peer}: ${e.message}`);
    this.finish();
    if (control === 'close') this.control.destroy();
    else this.control.resume();
  }

  private finish(): void {
    this.enter('done');
    clearInterval(this.timer);
    this.run?.close();
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    this.onDone();
  }
}

/** `TCP, 4 streams, reverse, 10 s, 131072-byte writes`. */
function describe(p: TestParams): string {
  const dir = p.bidirectional ? ', bidirectional' : p.reverse ? ', reverse' : '';
  const end = p.num > 0 ? `${p.num} bytes` : p.blockcount > 0 ? `${p.blockcount} blocks` : `${p.time} s`;
  return `TCP, ${p.parallel} stream${p.parallel > 1 ? 's' : ''}${dir}, ${end}, ${p.len}-byte writes`;
}
