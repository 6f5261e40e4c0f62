/**
 * Addresses of test networks. Every address is inside 198.18.0.0/15 (RFC 2544's benchmarking
 * range, the project's: docs/ARCHITECTURE.md, "Address plan"), so nothing a test sends could
 * mean a real host. The project's own integration tests use 198.18.x; test networks take /24s
 * of 198.19.0.0/16 by default, kernel side .1 and tapstack .2.
 *
 * Each network has a namespace of its own, so two networks with the same subnet would not
 * collide on the wire; the subnets are still kept distinct between parallel test processes, so
 * that a capture, a log line or a kernel table names one test only. A /24 is claimed with a
 * lock file made with O_EXCL (`<dir>/198.19.X.0.lock`, holding the owner's PID); the lock of a
 * process that is gone is taken over.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatIpv4, parseCidr, parseIpv4, prefixMask, type Ipv4Cidr } from '../wire/addr.js';
import { TestNetworkError } from './errors.js';

/** 198.18.0.0/15: the only addresses a test network may have. */
export const TEST_RANGE: Ipv4Cidr = { address: parseIpv4('198.18.0.0'), prefixLength: 15 };
/** 198.19.0.0/16: where test networks get their /24s by default. */
export const DEFAULT_POOL_BASE = parseIpv4('198.19.0.0');
const POOL_SLOTS = 256;

/** Where the subnet locks live (shared by every test process on the machine). */
export function defaultLockDir(): string {
  return path.join(tmpdir(), 'tapstack-testing-subnets');
}

export function inTestRange(a: number): boolean {
  return ((a & prefixMask(TEST_RANGE.prefixLength)) >>> 0) === TEST_RANGE.address;
}

/** The two ends of a test network's link. */
export interface LinkAddresses {
  /** tapstack's address. */
  tapstack: string;
  /** The kernel's address (its side of the TAP). */
  host: string;
  prefixLength: number;
}

/**
 * Check the addresses a user gave: both inside 198.18.0.0/15, on one subnet of 8..30 bits that
 * fits in that range, distinct, and neither the subnet's network nor broadcast address.
 */
export function checkLinkAddresses(tapstack: string, host: string): LinkAddresses {
  let a: Ipv4Cidr;
  let h: Ipv4Cidr;
  try {
    a = parseCidr(tapstack);
    h = parseCidr(host);
  } catch (e) {
    throw new TestNetworkError('EADDRESS', `addresses take the form 198.19.7.2/24: ${(e as Error).message}`, { cause: e });
  }
  const p = a.prefixLength;
  if (h.prefixLength !== p) throw new TestNetworkError('EADDRESS', `${tapstack} and ${host} have different prefixes`);
  if (p < TEST_RANGE.prefixLength || p > 30) throw new TestNetworkError('EADDRESS', `prefix /${p}: a test network's subnet is /${TEST_RANGE.prefixLength}../30, inside 198.18.0.0/15`);
  for (const x of [a.address, h.address]) {
    if (!inTestRange(x)) throw new TestNetworkError('EADDRESS', `${formatIpv4(x)} is outside 198.18.0.0/15: test networks use only that range (RFC 2544), never real addresses`);
  }
  const mask = prefixMask(p);
  if (((a.address & mask) >>> 0) !== ((h.address & mask) >>> 0)) throw new TestNetworkError('EADDRESS', `${tapstack} and ${host} are not on one /${p}`);
  if (a.address === h.address) throw new TestNetworkError('EADDRESS', `tapstack and the kernel both have ${formatIpv4(a.address)}`);
  const host0 = (x: number) => ((x & ~mask) >>> 0) === 0 || ((x | mask) >>> 0) === 0xffffffff;
  for (const x of [a.address, h.address]) if (host0(x)) throw new TestNetworkError('EADDRESS', `${formatIpv4(x)} is the network or broadcast address of its /${p}`);
  return { tapstack: formatIpv4(a.address), host: formatIpv4(h.address), prefixLength: p };
}

/** Whether process `pid` runs (EPERM: it does, as another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A /24 claimed by this process; `release()` gives it back (idempotent). */
export interface SubnetLease {
  addresses: LinkAddresses;
  /** The lock file (null when the addresses were the user's own). */
  lock: string | null;
  release(): void;
}

/**
 * Claim a free /24 of 198.19.0.0/16. The search starts at a slot derived from the PID and
 * `hint` (a per-process counter), so parallel processes rarely even try the same lock.
 */
export function leaseSubnet(hint: number, dir = defaultLockDir()): SubnetLease {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const start = (process.pid * 7 + hint * 13) % POOL_SLOTS;
  for (let i = 0; i < POOL_SLOTS; i++) {
    const slot = (start + i) % POOL_SLOTS;
    const base = (DEFAULT_POOL_BASE + slot * 256) >>> 0;
    const file = path.join(dir, `${formatIpv4(base)}.lock`);
    if (!claim(file)) continue;
    let released = false;
    return {
      addresses: { tapstack: formatIpv4(base + 2), host: formatIpv4(base + 1), prefixLength: 24 },
      lock: file,
      release: () => {
        if (released) return;
        released = true;
        releaseLock(file);
      },
    };
  }
  throw new TestNetworkError('ENOSUBNET', `all ${POOL_SLOTS} /24s of 198.19.0.0/16 are held by live test networks (locks in ${dir}): close some, or give addresses of your own`);
}

/** Create `file` holding our PID, or take it over from a process that is gone. */
function claim(file: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const owner = lockOwner(file);
    // An empty file: its owner is between open and write; leave it.
    if (owner === null || pidAlive(owner)) return false;
    try {
      unlinkSync(file);
    } catch {
      // another process took it over first
    }
  }
  return false;
}

function lockOwner(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Delete the lock `file` if this process holds it. */
export function releaseLock(file: string): void {
  if (lockOwner(file) !== process.pid) return;
  try {
    unlinkSync(file);
  } catch {
    // gone already
  }
}

/**
 * Delete the locks of processes that are gone (killed before they could release them), so the
 * directory shows only live networks. Claiming takes such a lock over anyway; this is tidiness.
 */
export function sweepStaleLocks(dir = defaultLockDir()): void {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.lock'));
  } catch {
    return; // no directory yet
  }
  for (const f of files) {
    const owner = lockOwner(path.join(dir, f));
    if (owner === null || pidAlive(owner)) continue;
    try {
      unlinkSync(path.join(dir, f));
    } catch {
      // taken over or removed meanwhile
    }
  }
}
