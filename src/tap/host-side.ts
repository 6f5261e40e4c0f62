/**
 * The kernel's side of the TAP: its MTU, transmit queue length, IPv4 address and link state,
 * through the interface ioctls of an AF_INET socket (netdevice(7)).
 *
 * Reading them needs no privilege; changing them needs CAP_NET_ADMIN. A user who runs tapstack
 * without it, on a TAP an administrator created for them (`ip tuntap add ... user U`), cannot
 * change them, and usually does not need to: the administrator set what matters. So the
 * `ensure*` functions look first and change only what differs; what differs and may not be
 * changed (EPERM) is returned as a {@link SkippedSetting}, for the caller to say once, instead of
 * failing the start. The one exception is the MTU: a kernel side with another MTU than the
 * stack's sends frames the stack does not expect, so a mismatch that cannot be fixed is an error.
 */
import { TapError } from './errors.js';
import { AF_INET, EACCES, EADDRNOTAVAIL, EINVAL, EPERM, errnoName, libc, SOCK_DGRAM } from './libc.js';
import {
  IFF_UP,
  ifreq,
  SIOCGIFADDR,
  SIOCGIFFLAGS,
  SIOCGIFMTU,
  SIOCGIFNETMASK,
  SIOCGIFTXQLEN,
  SIOCSIFADDR,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SIOCSIFNETMASK,
  SIOCSIFTXQLEN,
} from './ioctl.js';
import { validateIfName, validateMtu } from './names.js';
import { formatIpv4 } from '../wire/addr.js';

/** A setting tapstack wanted on the kernel's side of the TAP and was not permitted to make. */
export interface SkippedSetting {
  /** Named as ip-link(8) and ip-address(8) name it: 'txqueuelen', 'address', 'link'. */
  setting: string;
  /** What tapstack would have set, e.g. '10000', '198.18.0.1/24', 'up'. */
  wanted: string;
  /** What it stays, e.g. '1000', 'none', 'down'. */
  current: string;
}

/**
 * The one line that says what was skipped, e.g. `skipped on tap9 (not permitted, needs
 * CAP_NET_ADMIN): txqueuelen 10000 (stays 1000), link up (stays down)`. Every skip has the same
 * cause (EPERM on a setting only CAP_NET_ADMIN may change), so it is named once.
 */
export function formatSkipped(ifname: string, skipped: readonly SkippedSetting[]): string {
  return `skipped on ${ifname} (not permitted, needs CAP_NET_ADMIN): ${skipped.map((s) => `${s.setting} ${s.wanted} (stays ${s.current})`).join(', ')}`;
}

/** Run `fn` with an AF_INET datagram socket: the handle that interface ioctls go through. */
function withInetSocket<T>(fn: (sock: number) => T): T {
  const sock = libc.socket(AF_INET, SOCK_DGRAM, 0);
  if (sock < 0) throw new TapError('EIOCTL', `socket(AF_INET) failed (${errnoName(libc.errno())})`, libc.errno());
  try {
    return fn(sock);
  } finally {
    libc.close(sock);
  }
}

function ifIoctl(sock: number, req: number, ifr: Uint8Array, what: string): void {
  if (libc.ioctlPtr(sock, req, ifr) < 0) {
    const errno = libc.errno();
    if (errno === EPERM || errno === EACCES) throw new TapError('EPERM', `${what}: not permitted (need CAP_NET_ADMIN)`, errno);
    if (errno === EINVAL && req === SIOCSIFMTU) throw new TapError('EMTU', `${what}: the kernel refused the MTU`, errno);
    throw new TapError('EIOCTL', `${what} failed (${errnoName(errno)})`, errno);
  }
}

/** An ifreq ioctl whose answer is the int at offset 16 (MTU, txqueuelen). */
function getInt(name: string, req: number, what: string): number {
  validateIfName(name);
  return withInetSocket((sock) => {
    const ifr = ifreq(name);
    ifIoctl(sock, req, ifr, what);
    return new DataView(ifr.buffer).getInt32(16, true);
  });
}

/** True for the TapError of a change only CAP_NET_ADMIN may make. */
function notPermitted(e: unknown): e is TapError {
  return e instanceof TapError && e.code === 'EPERM';
}

/** SIOCSIFMTU: the kernel side's MTU of the TAP (and so the largest frame it sends us without TSO). */
export function setInterfaceMtu(name: string, mtu: number): void {
  validateIfName(name);
  validateMtu(mtu);
  withInetSocket((sock) => {
    const ifr = ifreq(name);
    new DataView(ifr.buffer).setInt32(16, mtu, true);
    ifIoctl(sock, SIOCSIFMTU, ifr, `set MTU ${mtu} on ${name}`);
  });
}

/** SIOCGIFMTU. */
export function interfaceMtu(name: string): number {
  return getInt(name, SIOCGIFMTU, `get MTU of ${name}`);
}

/**
 * The MTU of `name` is `mtu` afterwards, or this throws: set only if it differs. Not permitted
 * to change it is an error (TapError 'EPERM') that says how to agree, not a skip: the stack
 * would build frames the kernel side does not take, or receive frames larger than it expects.
 */
export function ensureInterfaceMtu(name: string, mtu: number): void {
  const current = interfaceMtu(name);
  if (current === mtu) return;
  try {
    setInterfaceMtu(name, mtu);
  } catch (e) {
    if (!notPermitted(e)) throw e;
    throw new TapError(
      'EPERM',
      `${name} has MTU ${current}, not ${mtu}, and changing it needs CAP_NET_ADMIN: use MTU ${current} (--mtu ${current}) or set it beforehand (ip link set ${name} mtu ${mtu})`,
      e.errno,
    );
  }
}

/**
 * SIOCSIFTXQLEN: the kernel's queue towards us (a TAP's transmit queue is what we read). The
 * default of 1000 frames overflows in bursts at MTU 1500 without offloads, and every frame it
 * drops is a retransmission.
 */
export function setTxQueueLength(name: string, frames: number): void {
  validateIfName(name);
  withInetSocket((sock) => {
    const ifr = ifreq(name);
    new DataView(ifr.buffer).setInt32(16, frames, true);
    ifIoctl(sock, SIOCSIFTXQLEN, ifr, `set txqueuelen of ${name}`);
  });
}

/** SIOCGIFTXQLEN. */
export function txQueueLength(name: string): number {
  return getInt(name, SIOCGIFTXQLEN, `get txqueuelen of ${name}`);
}

/**
 * The transmit queue of `name` holds at least `frames`: raised if shorter, never shortened (an
 * administrator who set more meant it). Returns the skip when raising it is not permitted.
 */
export function ensureTxQueueLength(name: string, frames: number): SkippedSetting | null {
  const current = txQueueLength(name);
  if (current >= frames) return null;
  try {
    setTxQueueLength(name, frames);
    return null;
  } catch (e) {
    if (!notPermitted(e)) throw e;
    return { setting: 'txqueuelen', wanted: String(frames), current: String(current) };
  }
}

function writeSockaddrIn(ifr: Uint8Array, a: number): void {
  ifr[16] = AF_INET; // sa_family, little endian
  ifr[17] = 0;
  ifr[20] = a >>> 24;
  ifr[21] = (a >>> 16) & 0xff;
  ifr[22] = (a >>> 8) & 0xff;
  ifr[23] = a & 0xff;
}

function readSockaddrIn(ifr: Uint8Array): number {
  return ((ifr[20]! << 24) | (ifr[21]! << 16) | (ifr[22]! << 8) | ifr[23]!) >>> 0;
}

function netmaskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function prefixLengthOf(netmask: number): number {
  let n = 0;
  while (n < 32 && netmask & (0x80000000 >>> n)) n++;
  return n;
}

/**
 * The primary IPv4 address of `name` and its prefix length (SIOCGIFADDR, SIOCGIFNETMASK), or
 * null if it has none. `address` is a host-order 32-bit number.
 */
export function hostSideAddress(name: string): { address: number; prefixLength: number } | null {
  validateIfName(name);
  return withInetSocket((sock) => {
    const ifr = ifreq(name);
    if (libc.ioctlPtr(sock, SIOCGIFADDR, ifr) < 0) {
      const errno = libc.errno();
      if (errno === EADDRNOTAVAIL) return null;
      throw new TapError('EIOCTL', `get address of ${name} failed (${errnoName(errno)})`, errno);
    }
    const address = readSockaddrIn(ifr);
    const mask = ifreq(name);
    ifIoctl(sock, SIOCGIFNETMASK, mask, `get netmask of ${name}`);
    return { address, prefixLength: prefixLengthOf(readSockaddrIn(mask)) };
  });
}

/**
 * Give the kernel's side of the TAP an IPv4 address and bring the link up, as
 * `ip addr add A/P dev N && ip link set N up` would (SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFFLAGS).
 * `address` is a host-order 32-bit number.
 */
export function configureHostSide(name: string, address: number, prefixLength: number): void {
  validateIfName(name);
  withInetSocket((sock) => {
    setAddress(sock, name, address, prefixLength);
    setLinkUp(name, sock);
  });
}

function setAddress(sock: number, name: string, address: number, prefixLength: number): void {
  let ifr = ifreq(name);
  writeSockaddrIn(ifr, address >>> 0);
  ifIoctl(sock, SIOCSIFADDR, ifr, `set address on ${name}`);
  ifr = ifreq(name);
  writeSockaddrIn(ifr, netmaskOf(prefixLength));
  ifIoctl(sock, SIOCSIFNETMASK, ifr, `set netmask on ${name}`);
}

/**
 * {@link configureHostSide}, changing only what differs: the address if the primary one is not
 * `address`/`prefixLength`, the link if it is down. Returns what it was not permitted to change.
 */
export function ensureHostSide(name: string, address: number, prefixLength: number): SkippedSetting[] {
  const skipped: SkippedSetting[] = [];
  const current = hostSideAddress(name);
  if (!current || current.address !== address >>> 0 || current.prefixLength !== prefixLength) {
    try {
      withInetSocket((sock) => setAddress(sock, name, address, prefixLength));
    } catch (e) {
      if (!notPermitted(e)) throw e;
      const has = current ? `${formatIpv4(current.address)}/${current.prefixLength}` : 'none';
      skipped.push({ setting: 'address', wanted: `${formatIpv4(address >>> 0)}/${prefixLength}`, current: has });
    }
  }
  if (!(linkFlags(name) & IFF_UP)) {
    try {
      setLinkUp(name);
    } catch (e) {
      if (!notPermitted(e)) throw e;
      skipped.push({ setting: 'link', wanted: 'up', current: 'down' });
    }
  }
  return skipped;
}

/** SIOCGIFFLAGS: IFF_UP, IFF_RUNNING, ... (the low 16 bits). */
export function linkFlags(name: string): number {
  validateIfName(name);
  return withInetSocket((sock) => {
    const ifr = ifreq(name);
    ifIoctl(sock, SIOCGIFFLAGS, ifr, `get flags of ${name}`);
    return ifr[16]! | (ifr[17]! << 8);
  });
}

/** SIOCGIFFLAGS then SIOCSIFFLAGS | IFF_UP. */
export function setLinkUp(name: string, sock?: number): void {
  const run = (s: number) => {
    const ifr = ifreq(name);
    ifIoctl(s, SIOCGIFFLAGS, ifr, `get flags of ${name}`);
    const flags = ifr[16]! | (ifr[17]! << 8) | IFF_UP;
    ifr[16] = flags & 0xff;
    ifr[17] = (flags >> 8) & 0xff;
    ifIoctl(s, SIOCSIFFLAGS, ifr, `bring ${name} up`);
  };
  if (sock !== undefined) run(sock);
  else withInetSocket(run);
}
