/**
 * Processes and namespaces of a benchmark run: every process is started inside a namespace of
 * the run, under `setpriv --pdeathsig SIGKILL` (it dies with the bench even if the bench is
 * SIGKILLed), and ended by its PID; the namespaces are deleted at the end, also on failure and on
 * SIGINT/SIGTERM.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

const NS_NAME = /^tapstack-bench-[a-z0-9]+-\d+$/;

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A started process: its PID (the command's own: `ip netns exec`, setpriv and prlimit exec). */
export class Proc {
  stdout = '';
  stderr = '';
  readonly done: Promise<RunResult>;
  private waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.check();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.check();
    });
    this.done = new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr })));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first match of `re` in stdout or stderr; rejects if the process ends first or after `ms`. */
  waitFor(re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: nothing matching ${re} within ${ms} ms\n${this.stdout}${this.stderr}`)), ms);
      const ok = (m: RegExpExecArray) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push({ re, resolve: ok });
      this.check();
      void this.done.then((r) => {
        clearTimeout(timer);
        reject(new Error(`${what}: exited (${r.code}) before printing ${re}\n${r.stdout}${r.stderr}`));
      });
    });
  }

  private check(): void {
    const text = this.stdout + this.stderr;
    this.waiters = this.waiters.filter((w) => {
      const m = w.re.exec(text);
      if (m) w.resolve(m);
      return !m;
    });
  }

  /** Signal it and wait for it to end; SIGKILL after `ms`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<RunResult> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.running && this.child.kill('SIGKILL'), ms);
    const r = await this.done;
    clearTimeout(timer);
    return r;
  }
}

export class Sandbox {
  private readonly procs = new Set<Proc>();
  private readonly namespaces = new Set<string>();

  constructor(readonly tag: string) {
    const cleanup = () => this.cleanupSync();
    process.on('exit', cleanup);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => {
        process.stderr.write(`bench: ${sig}, cleaning up\n`);
        process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    }
  }

  /** `tapstack-bench-<role>-<tag>`, created fresh with loopback up. */
  createNamespace(role: string): string {
    const ns = `tapstack-bench-${role}-${this.tag}`;
    if (!NS_NAME.test(ns)) throw new Error(`bad namespace name ${ns}`);
    this.deleteNamespace(ns);
    execFileSync('ip', ['netns', 'add', ns]);
    this.namespaces.add(ns);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  deleteNamespace(ns: string): void {
    if (!NS_NAME.test(ns)) return;
    const list = execFileSync('ip', ['netns', 'list']).toString();
    if (list.split('\n').some((l) => l.split(' ')[0] === ns)) execFileSync('ip', ['netns', 'del', ns]);
    this.namespaces.delete(ns);
  }

  /** Start `cmd args` in namespace `ns`; `nofile` raises its file limit (prlimit). */
  start(ns: string, cmd: string, args: string[], o: { nofile?: number; env?: NodeJS.ProcessEnv } = {}): Proc {
    const argv = ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'SIGKILL', '--'];
    if (o.nofile) argv.push('prlimit', `--nofile=${o.nofile}:${o.nofile}`, '--');
    argv.push(cmd, ...args);
    const child = spawn('ip', argv, { stdio: ['pipe', 'pipe', 'pipe'], env: o.env ?? process.env });
    const p = new Proc(child);
    this.procs.add(p);
    void p.done.then(() => this.procs.delete(p));
    return p;
  }

  /** Run `cmd args` in `ns` to completion (killed after `ms`). */
  async run(ns: string, cmd: string, args: string[], ms = 120_000): Promise<RunResult> {
    const p = this.start(ns, cmd, args);
    p.child.stdin?.end();
    const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
    const r = await p.done;
    clearTimeout(timer);
    return r;
  }

  /** Like run, but a non-zero exit is an error. */
  async runOk(ns: string, cmd: string, args: string[], ms = 120_000): Promise<string> {
    const r = await this.run(ns, cmd, args, ms);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** Kill what is still running (by PID) and delete the namespaces; synchronous, for exit. */
  cleanupSync(): void {
    for (const p of this.procs) if (p.running) p.child.kill('SIGKILL');
    this.procs.clear();
    for (const ns of [...this.namespaces]) {
      try {
        this.deleteNamespace(ns);
      } catch {
        // Already gone, or `ip` itself failed: scripts/bench's trap deletes it once more.
      }
    }
  }
}

/** User and system CPU seconds of a process so far (/proc/PID/stat, all its threads). */
export function cpuSeconds(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), counted from field 3.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(f[11]) / CLK_TCK, system: Number(f[12]) / CLK_TCK };
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Resident memory of a process in bytes (VmRSS). */
export function residentBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Resident bytes of the process's largest private read-write anonymous mapping: in tapstack that
 * is the NIC's arena (the page pool, rings and buffers, one mmap of about 280 MiB by default);
 * the kernel may have merged an adjacent malloc heap into it, which this counts too.
 */
export function largestAnonResident(pid: number): { size: number; rss: number } {
  let best = { size: 0, rss: 0 };
  let cur: { size: number; rss: number; anon: boolean } | null = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      cur = { size: 0, rss: 0, anon: head[1] === 'rw-p' && head[2] === '0' && head[3] === '' };
      continue;
    }
    const kv = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (!kv || !cur) continue;
    if (kv[1] === 'Size') cur.size = Number(kv[2]) * 1024;
    else {
      cur.rss = Number(kv[2]) * 1024;
      if (cur.anon && cur.size > best.size) best = { size: cur.size, rss: cur.rss };
    }
  }
  return best;
}

/** The soft and hard limit of open files this process may give its children. */
export function hardFileLimit(): number {
  const m = /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 1024;
}
