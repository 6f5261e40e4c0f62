/**
 * An iperf3 client on tapstack (iperf_client_api.c), against any iperf3 server:
 *
 *   connect, cookie -> PARAM_EXCHANGE: our parameters -> CREATE_STREAMS: the streams connect
 *   one after another, each with the cookie -> TEST_START, TEST_RUNNING: data flows until the
 *   time is up or the bytes are through -> TEST_END -> EXCHANGE_RESULTS: ours, then the
 *   server's -> DISPLAY_RESULTS: the report, IPERF_DONE.
 *
 * The streams are opened one at a time because the server tells their directions apart by the
 * order it accepts them in (params.ts streamSenders).
 */
import { randomFillSync } from 'node:crypto';
import type { Stack } from '../../stack.js';
import type { Socket } from '../../socket/socket.js';
import { paramsJson, streamSenders, type TestParams } from './params.js';
import { ControlReader, encodeJson, encodeState, Iperf3Error, IperfErrno, makeCookie, MAX_RESULTS_JSON, State, stateName } from './protocol.js';
import { formatZeroCopy } from './results.js';
import { endJson, header, intervalJson, intervalLines, summaryLines, type Outcome } from './report.js';
import { TestRun } from './test-run.js';

export interface Iperf3ClientOptions {
  host: string;
  port: number;
  params: TestParams;
  /** Live lines of the human report (the intervals); none with JSON output. */
  out?: (line: string) => void;
  /** Seconds the server may take for each step of the exchange (default 10). */
  stepTimeoutS?: number;
  /** Seconds a running test may move no byte before it is given up (iperf3's rcv_timeout: 120). */
  idleTimeoutS?: number;
}

export interface Iperf3ClientResult {
  outcome: Outcome;
  /** The summary's lines, as iperf3 prints them, and the zero-copy line. */
  summary: string[];
}

type Phase = 'connecting' | 'cookie' | 'params' | 'streams' | 'started' | 'running' | 'ended' | 'results' | 'display' | 'server-error' | 'done';

/** What SERVER_ERROR's first code means (iperf_error.c), for the codes a server sends. */
const SERVER_ERRORS: Record<number, string> = {
  [IperfErrno.IEDURATION]: 'test duration too long',
  [IperfErrno.IENUMSTREAMS]: 'number of parallel streams too large',
  [IperfErrno.IEBLOCKSIZE]: 'block size too large',
  [IperfErrno.IEUNIMP]: 'an option is not implemented',
  [IperfErrno.IEREVERSEBIDIR]: 'cannot be both reverse and bidirectional',
  [IperfErrno.IERECVPARAMS]: 'unable to receive parameters from client',
  [IperfErrno.IEPROTOCOL]: 'protocol does not exist',
  [IperfErrno.IEAUTHTEST]: 'test authorization failed',
};

export class Iperf3Client {
  private phase: Phase = 'connecting';
  private phaseSince: number;
  private readonly reader = new ControlReader();
  private readonly control: Socket;
  private readonly cookie = makeCookie((b) => randomFillSync(b));
  private readonly senders: boolean[];
  private run: TestRun | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastProgress = 0;
  private readonly intervalJson: Record<string, unknown>[] = [];
  private readonly connected: Record<string, unknown>[] = [];
  private outcome: Outcome | null = null;
  private readonly out: (line: string) => void;
  private settle!: { resolve: (r: Iperf3ClientResult) => void; reject: (e: Error) => void };
  readonly done: Promise<Iperf3ClientResult>;

  constructor(
    private readonly stack: Stack,
    private readonly opts: Iperf3ClientOptions,
  ) {
    this.out = opts.out ?? (() => {});
    this.senders = streamSenders(opts.params, 'client');
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.phaseSince = stack.clock.nowMs();
    this.out(`Connecting to host ${opts.host}, port ${opts.port}`);
    if (opts.params.reverse) this.out(`Reverse mode, remote host ${opts.host} is sending`);
    const c = stack.connect({ host: opts.host, port: opts.port });
    this.control = c;
    c.setNoDelay(true);
    c.on('connect', () => {
      c.write(this.cookie);
      this.enter('cookie');
    });
    c.on('data', (chunk: Buffer) => {
      this.reader.push(chunk);
      this.step();
    });
    c.on('error', (e: Error & { code?: string }) => this.fail(new Iperf3Error('control-closed', `control connection to ${opts.host}:${opts.port}: ${e.message}${e.code ? ` [${e.code}]` : ''}`)));
    c.on('end', () => this.fail(new Iperf3Error('control-closed', 'the server closed the control connection')));
    // One timer for the whole test: the steps' deadlines, the intervals and the test's time.
    this.timer = setInterval(() => this.tick(), 1000);
  }

  private enter(p: Phase): void {
    this.phase = p;
    this.phaseSince = this.stack.clock.nowMs();
  }

  private step(): void {
    try {
      for (;;) {
        if (this.phase === 'done') return;
        if (this.phase === 'results') {
          const j = this.reader.readJson(MAX_RESULTS_JSON);
          if (j === null) return;
          this.outcome = this.run!.outcome(this.run!.peerResults(j));
          this.enter('display');
          continue;
        }
        if (this.phase === 'server-error') {
          if (this.reader.buffered < 8) return;
          const code = this.reader.readInt32()!;
          const errno = this.reader.readInt32()!;
          throw new Iperf3Error('peer-refused', `the server refused the test: ${SERVER_ERRORS[code] ?? `iperf3 error ${code}`}${errno ? ` (errno ${errno})` : ''}`);
        }
        const st = this.reader.readState();
        if (st === null) return;
        this.onState(st);
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private onState(st: number): void {
    const p = this.opts.params;
    switch (st) {
      case State.ACCESS_DENIED:
        throw new Iperf3Error('peer-refused', 'the server is busy running a test. try again later');
      case State.SERVER_ERROR:
        this.enter('server-error');
        return;
      case State.SERVER_TERMINATE:
        throw new Iperf3Error('peer-refused', 'the server has terminated');
      case State.PARAM_EXCHANGE:
        if (this.phase !== 'cookie') break;
        this.control.write(encodeJson(paramsJson(p)));
        this.enter('params');
        return;
      case State.CREATE_STREAMS:
        if (this.phase !== 'params') break;
        this.run = new TestRun(this.stack, p, 'client', () => this.endTest());
        this.enter('streams');
        this.openStream();
        return;
      case State.TEST_START:
        if (this.phase !== 'streams' || this.run!.streams.length !== this.senders.length) break;
        this.run!.prepare();
        // The intervals and the test's time count from here, as iperf3's timers do.
        clearInterval(this.timer!);
        this.timer = setInterval(() => this.tick(), 1000);
        this.enter('started');
        return;
      case State.TEST_RUNNING:
        if (this.phase !== 'started') break;
        this.out(header(p.bidirectional));
        this.enter('running');
        this.run!.start();
        return;
      case State.EXCHANGE_RESULTS:
        if (this.phase !== 'ended') break;
        this.control.write(encodeJson(this.run!.resultsJson()));
        this.enter('results');
        return;
      case State.DISPLAY_RESULTS:
        if (this.phase !== 'display') break;
        this.finish();
        return;
    }
    throw new Iperf3Error('unexpected-state', `${stateName(st)} from the server while ${this.phase}`);
  }

  /** Open the next data stream once the one before is connected and has sent the cookie. */
  private openStream(): void {
    const run = this.run!;
    const i = run.streams.length;
    if (i >= this.senders.length || this.phase !== 'streams') return;
    const s = this.stack.connect({ host: this.opts.host, port: this.opts.port });
    run.add(s, this.senders[i]!);
    s.on('connect', () => {
      s.write(this.cookie);
      this.connected.push({ socket: 5 + i, local_host: s.localAddress, local_port: s.localPort, remote_host: this.opts.host, remote_port: this.opts.port });
      this.out(`[${String(5 + i).padStart(3)}] local ${s.localAddress} port ${s.localPort} connected to ${this.opts.host} port ${this.opts.port}`);
      this.openStream();
    });
    s.on('error', (e: Error) => {
      if (this.phase === 'streams') this.fail(new Iperf3Error('stream', `data stream ${i + 1}: ${e.message}`));
    });
  }

  private tick(): void {
    const run = this.run;
    if (this.phase === 'running' && run) {
      const iv = run.mark();
      if (iv) this.interval(iv);
      if (this.opts.params.time > 0 && run.elapsed() >= this.opts.params.time - 0.0005) this.endTest();
      else if (run.progress !== this.lastProgress) {
        this.lastProgress = run.progress;
        this.phaseSince = this.stack.clock.nowMs();
      } else if (this.stack.clock.nowMs() - this.phaseSince > (this.opts.idleTimeoutS ?? 120) * 1000) this.fail(new Iperf3Error('timeout', `no data moved for ${this.opts.idleTimeoutS ?? 120} s`));
      return;
    }
    if (this.phase === 'done') return;
    const limit = this.opts.stepTimeoutS ?? 10;
    if (this.stack.clock.nowMs() - this.phaseSince > limit * 1000) this.fail(new Iperf3Error('timeout', `no answer from the server for ${limit} s while ${this.phase}`));
  }

  private interval(iv: NonNullable<ReturnType<TestRun['mark']>>): void {
    const layout = this.run!.layout;
    this.intervalJson.push(intervalJson(layout, iv));
    for (const l of intervalLines(layout, iv)) this.out(l);
  }

  /** The time is up or the bytes are through: TEST_END. Receiving streams keep draining. */
  private endTest(): void {
    if (this.phase !== 'running') return;
    const last = this.run!.stop();
    if (last) this.interval(last);
    this.control.write(encodeState(State.TEST_END));
    this.enter('ended');
  }

  private finish(): void {
    this.enter('done');
    if (this.timer) clearInterval(this.timer);
    this.run!.close();
    this.control.end(encodeState(State.IPERF_DONE));
    const outcome = this.outcome!;
    this.settle.resolve({ outcome, summary: [...summaryLines(outcome), `tapstack ${formatZeroCopy(outcome.zeroCopy)}`] });
  }

  private fail(e: Error): void {
    if (this.phase === 'done') return;
    this.enter('done');
    if (this.timer) clearInterval(this.timer);
    this.run?.close();
    this.control.destroy();
    this.settle.reject(e);
  }

  /** iperf3's JSON report (`-J`): start, intervals, end; `error` when the test failed. */
  json(error?: string): Record<string, unknown> {
    const p = this.opts.params;
    const now = new Date();
    const start = {
      connected: this.connected,
      version: 'tapstack (iperf3 3.12 protocol)',
      system_info: `tapstack on ${process.platform} ${process.arch}, Node ${process.version}`,
      timestamp: { time: now.toUTCString(), timesecs: Math.floor(now.getTime() / 1000) },
      connecting_to: { host: this.opts.host, port: this.opts.port },
      cookie: this.cookie.toString('latin1', 0, this.cookie.length - 1),
      target_bitrate: 0,
      test_start: { protocol: 'TCP', num_streams: p.parallel, blksize: p.len, omit: 0, duration: p.time, bytes: p.num, blocks: p.blockcount, reverse: p.reverse ? 1 : 0, tos: 0, target_bitrate: 0, bidir: p.bidirectional ? 1 : 0 },
    };
    return { start, intervals: this.intervalJson, end: this.outcome && !error ? endJson(this.outcome) : {}, ...(error ? { error } : {}) };
  }
}
