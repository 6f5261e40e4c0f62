/**
 * Processes on the kernel's side of a test network: commands run inside its namespace with
 * `ip netns exec`, which execs the command in place, so the PID node gets is the command's own
 * and every signal goes to it by PID, never by name.
 *
 * Each runs under `setpriv --pdeathsig SIGKILL`: the kernel kills it when the test process
 * dies, even by SIGKILL, when no handler of ours can run. Without setpriv (util-linux) the
 * commands run as they are and the sweep of stale namespaces is the only net.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TestNetworkError } from './errors.js';

export interface PeerOptions {
  /**
   * Standard input: bytes or text written to it and then closed, or `'pipe'` to keep it open
   * for {@link PeerProcess.write} and {@link PeerProcess.end}. Default: nothing (/dev/null).
   */
  input?: string | Uint8Array | 'pipe';
  /** Variables added to the test process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Killed (SIGKILL, by PID) after this long; the result then says `timedOut`. */
  timeoutMs?: number;
  /** Bytes of stdout and of stderr kept (each; default 16 MiB); beyond, they are counted only. */
  maxOutputBytes?: number;
}

export interface PeerResult {
  /** The exit code; null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** stdout as UTF-8 text. */
  stdout: string;
  /** stdout as bytes (what was kept of it). */
  output: Buffer;
  /** All bytes it wrote to stdout, kept or not. */
  outputBytes: number;
  stderr: string;
  /** Killed because `timeoutMs` ran out. */
  timedOut: boolean;
  /** Spawn to exit. */
  ms: number;
}

const PDEATHSIG = ['setpriv', '--pdeathsig', 'SIGKILL', '--'];
let pdeathsigPrefix: string[] | null = null;

function prefix(): string[] {
  pdeathsigPrefix ??= ['/usr/bin/setpriv', '/bin/setpriv'].some((p) => existsSync(p)) ? PDEATHSIG : [];
  return pdeathsigPrefix;
}

/** Growing output, kept up to a bound. */
class OutputBuffer {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;
  constructor(private readonly max: number) {}
  push(d: Buffer): void {
    this.total += d.length;
    if (this.kept >= this.max) return;
    const part = this.kept + d.length > this.max ? d.subarray(0, this.max - this.kept) : d;
    this.chunks.push(part);
    this.kept += part.length;
  }
  bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
}

/** A command running in a test network's namespace. */
export class PeerProcess {
  readonly pid: number;
  /** Resolves when it exited (never rejects: a failure to start is an exit with stderr). */
  readonly done: Promise<PeerResult>;
  private readonly child: ChildProcess;
  private readonly out: OutputBuffer;
  private readonly err: OutputBuffer;
  private exited = false;
  private timedOut = false;

  constructor(
    ns: string,
    readonly command: string,
    readonly args: readonly string[],
    o: PeerOptions = {},
  ) {
    const max = o.maxOutputBytes ?? 16 << 20;
    this.out = new OutputBuffer(max);
    this.err = new OutputBuffer(max);
    const stdin = o.input === undefined ? 'ignore' : 'pipe';
    this.child = spawn('ip', ['netns', 'exec', ns, ...prefix(), command, ...args], {
      stdio: [stdin, 'pipe', 'pipe'],
      env: o.env ? { ...process.env, ...o.env } : process.env,
      ...(o.cwd ? { cwd: o.cwd } : {}),
    });
    this.child.on('error', (e) => this.err.push(Buffer.from(String(e))));
    const pid = this.child.pid;
    if (pid === undefined) throw new TestNetworkError('ENOTOOL', `cannot start ${command} in ${ns}: is iproute2 installed?`);
    this.pid = pid;
    const t0 = performance.now();
    this.child.stdout!.on('data', (d: Buffer) => this.out.push(d));
    this.child.stderr!.on('data', (d: Buffer) => this.err.push(d));
    let timer: NodeJS.Timeout | undefined;
    if (o.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        this.timedOut = true;
        this.kill('SIGKILL');
      }, o.timeoutMs);
    }
    this.done = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.exited = true;
        clearTimeout(timer);
        resolve({
          code,
          signal,
          stdout: this.out.text(),
          output: this.out.bytes(),
          outputBytes: this.out.total,
          stderr: this.err.text(),
          timedOut: this.timedOut,
          ms: performance.now() - t0,
        });
      });
    });
    if (o.input !== undefined && o.input !== 'pipe') this.end(o.input);
    // A peer that exits without reading its input closes the pipe: not an error of the test's.
    this.child.stdin?.on('error', () => undefined);
  }

  get running(): boolean {
    return !this.exited;
  }

  /** stdout so far, as text. */
  stdout(): string {
    return this.out.text();
  }

  stderr(): string {
    return this.err.text();
  }

  /** Write to its stdin (spawned with `input: 'pipe'`). */
  write(data: string | Uint8Array): void {
    if (!this.child.stdin) throw new TestNetworkError('ECLOSED', `${this.command}: started without input: 'pipe'`);
    this.child.stdin.write(data);
  }

  /** Close its stdin, after writing `data` if given. */
  end(data?: string | Uint8Array): void {
    if (data !== undefined) this.child.stdin?.end(data);
    else this.child.stdin?.end();
  }

  /** Signal it by PID, if it still runs. */
  kill(sig: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exited) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // exited meanwhile
    }
  }

  /** SIGKILL (by PID) unless it exited, and wait until it has. */
  async stop(): Promise<PeerResult> {
    this.kill('SIGKILL');
    return this.done;
  }

  /**
   * Wait until stdout contains `match` (text or a pattern); returns the matched text. Throws a
   * TestNetworkError if it exits first or `timeoutMs` runs out, with what it printed.
   */
  async waitForOutput(match: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const text = this.out.text();
      const found = typeof match === 'string' ? (text.includes(match) ? match : null) : (match.exec(text)?.[0] ?? null);
      if (found !== null) return found;
      const what = `${this.command} (pid ${this.pid})`;
      if (this.exited) throw new TestNetworkError('ETIMEOUT', `${what} exited before printing ${String(match)}\nstdout: ${text.slice(-2000)}\nstderr: ${this.err.text().slice(-2000)}`);
      if (Date.now() >= end) throw new TestNetworkError('ETIMEOUT', `${what} printed no ${String(match)} in ${timeoutMs} ms\nstdout: ${text.slice(-2000)}\nstderr: ${this.err.text().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
