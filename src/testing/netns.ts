/**
 * Network namespaces of test networks: `tapstack-t-<pid>-<n>`, <pid> the test process that
 * owns it. The owner's PID in the name is what lets a later process tell a namespace left
 * behind by a test process that was killed (SIGKILL, a crash of the runner) from one in use,
 * and delete only the former.
 */
import { execFile, execFileSync } from 'node:child_process';
import { TestNetworkError } from './errors.js';
import { pidAlive } from './addresses.js';

/** Names of this module's namespaces. The group is the owner's PID. */
export const TEST_NS = /^tapstack-t-(\d+)-\d+$/;

export function namespaceName(n: number): string {
  return `tapstack-t-${process.pid}-${n}`;
}

function checkName(ns: string, pattern: RegExp = TEST_NS): void {
  if (!pattern.test(ns) || !ns.startsWith('tapstack-')) throw new TestNetworkError('ENAME', `refusing namespace ${JSON.stringify(ns)}: not a name of the form ${pattern.source}`);
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a short command (ip, sysctl) to completion without blocking the event loop. */
export function command(cmd: string, args: string[], input?: string, timeoutMs = 30_000): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') return reject(new TestNetworkError('ENOTOOL', `${cmd} is not installed (Debian: apt-get install ${cmd === 'ip' ? 'iproute2' : cmd})`, { cause: e }));
        return reject(e);
      }
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Like {@link command}; a non-zero exit is a TestNetworkError with `code`, showing the output. */
export async function commandOk(cmd: string, args: string[], code: 'ESETUP' | 'ETEARDOWN', input?: string): Promise<string> {
  const r = await command(cmd, args, input);
  if (r.code === 0) return r.stdout;
  const why = r.stderr.trim() || r.stdout.trim();
  if (/Operation not permitted|Permission denied/i.test(why)) throw new TestNetworkError('EPERM', `${cmd} ${args.join(' ')}: ${why} (test networks need root, or CAP_NET_ADMIN and CAP_SYS_ADMIN)`);
  throw new TestNetworkError(code, `${cmd} ${args.join(' ')} exited ${r.code}: ${why}`);
}

function parseList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

export async function listNamespaces(): Promise<string[]> {
  const r = await command('ip', ['netns', 'list']);
  return r.code === 0 ? parseList(r.stdout) : [];
}

/**
 * A fresh namespace with lo up. The kernel's IPv4 defaults are set explicitly, as the project's
 * integration tests do: a new namespace takes some of them from the host's, and whether the
 * kernel learns tapstack's MAC from its gratuitous ARP (arp_accept) changes what a test sees.
 * IPv6 is off unless asked for: tapstack drops it, and the kernel's router solicitations and
 * MLD reports, sent at times of their own, would otherwise shift which frames a seeded fault
 * injector hits from one run to the next (and clutter the capture).
 */
export async function createNamespace(ns: string, o: { arpAccept?: boolean; ipv6?: boolean } = {}): Promise<void> {
  checkName(ns);
  await commandOk('ip', ['netns', 'add', ns], 'ESETUP');
  try {
    const v = o.arpAccept ? 1 : 0;
    const noV6 = o.ipv6 ? 0 : 1;
    await commandOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], 'ESETUP');
    // The TAP arriving later takes `default`; the kernel uses the larger of `all` and the device's.
    const sysctls = [`net.ipv4.conf.all.arp_accept=${v}`, `net.ipv4.conf.default.arp_accept=${v}`, `net.ipv6.conf.all.disable_ipv6=${noV6}`, `net.ipv6.conf.default.disable_ipv6=${noV6}`];
    await commandOk('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...sysctls], 'ESETUP');
  } catch (e) {
    await deleteNamespace(ns).catch(() => undefined);
    throw e;
  }
}

/**
 * Delete namespace `ns` if it exists (idempotent). Stop the processes in it first: a process
 * still inside keeps the namespace alive, unnamed, until it exits.
 */
export async function deleteNamespace(ns: string, pattern: RegExp = TEST_NS): Promise<void> {
  checkName(ns, pattern);
  const r = await command('ip', ['netns', 'del', ns]);
  if (r.code !== 0 && (await listNamespaces()).includes(ns)) throw new TestNetworkError('ETEARDOWN', `ip netns del ${ns}: ${r.stderr.trim()}`);
}

/** {@link deleteNamespace} for the 'exit' handler, where nothing asynchronous runs any more. */
export function deleteNamespaceSync(ns: string): void {
  checkName(ns);
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // gone already, or no permission: nothing more can be done at exit
  }
}

/** PIDs of the processes in namespace `ns` (`ip netns pids`). */
export async function namespacePids(ns: string): Promise<number[]> {
  const r = await command('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((p) => Number.isInteger(p) && p > 0);
}

/**
 * Delete the namespaces matching `pattern` (its first group: the owner's PID; names starting
 * `tapstack-` only) whose owner is gone: left behind by a test process that was killed before it
 * could clean up. With `killInside` (the default) the processes still inside, started by that
 * dead owner (peers run with a parent-death signal, so normally none are left), are killed by
 * PID first, so the namespace really goes. Returns the names deleted.
 */
export async function sweepStaleNamespaces(pattern: RegExp = TEST_NS, o: { killInside?: boolean } = {}): Promise<string[]> {
  const deleted: string[] = [];
  for (const ns of await listNamespaces()) {
    const m = pattern.exec(ns);
    if (!m || !ns.startsWith('tapstack-') || pidAlive(Number(m[1]))) continue;
    if (o.killInside ?? true)
      for (const pid of await namespacePids(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
    try {
      await deleteNamespace(ns, pattern);
      deleted.push(ns);
    } catch {
      // another sweeper was first
    }
  }
  return deleted;
}
