/**
 * A Linux TAP device opened through /dev/net/tun (Documentation/networking/tuntap.rst).
 *
 * The fd is non-blocking; readiness comes from uv_poll (koffi.node.poll), so the event loop is
 * never blocked and no threadpool call is made per frame: one wake-up, then a drain loop of
 * `readv` until EAGAIN. Frames are read and written with scatter/gather iovecs laid out by the
 * NIC driver in unmanaged memory, so this class never touches payload bytes.
 */
import debugFactory from 'debug';
import { TapError } from './errors.js';
import {
  AF_INET,
  EACCES,
  EAGAIN,
  EBUSY,
  EINTR,
  EINVAL,
  EIO,
  ENOBUFS,
  ENODEV,
  ENOENT,
  ENXIO,
  EPERM,
  libc,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  SOCK_DGRAM,
} from './libc.js';
import {
  IFF_NO_PI,
  IFF_TAP,
  IFF_UP,
  IFF_VNET_HDR,
  IFNAMSIZ,
  ifreq,
  SIOCGIFFLAGS,
  SIOCSIFADDR,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SIOCSIFNETMASK,
  SIOCSIFTXQLEN,
  TAP_MAX_MTU,
  TAP_MIN_MTU,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  IFF_MULTI_QUEUE,
  IFF_TUN_EXCL,
  TUNSETSTEERINGEBPF,
} from './ioctl.js';
import { loadSteeringProgram, MAIN_QUEUE } from './steering.js';
import type { FrameDevice } from '../../firmware/device.js';

const log = debugFactory('tapstack:tap');

/** sizeof(struct virtio_net_hdr_mrg_rxbuf): the 12-byte form, as vhost and Linux's tap use. */
export const VNET_HDR_LEN = 12;

export interface TapOptions {
  /** Interface name, 1..15 characters. An existing TAP of that name is attached to. */
  name: string;
  /** Prepend a virtio-net header to every frame (IFF_VNET_HDR). Required for offloads. */
  vnetHdr?: boolean;
  /** Let the kernel hand over partial checksums and 64 KiB TSO segments (TUNSETOFFLOAD). */
  offloads?: boolean;
  /** Set the device MTU (68..65521). */
  mtu?: number;
  /**
   * A second receive queue for connection requests (steering.ts), so that a SYN flood cannot
   * crowd out established connections in the kernel's queue. Needs CAP_BPF (root).
   */
  synQueue?: boolean;
  /** Path of the clone device; tests point it elsewhere. */
  clonePath?: string;
}

/** Interface names the kernel accepts (net/core/dev.c dev_valid_name). */
export function validateIfName(name: string): void {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length >= IFNAMSIZ ||
    name === '.' ||
    name === '..' ||
    /[\s/:]/.test(name) ||
    // eslint-disable-next-line no-control-regex
    /[^\x21-\x7e]/.test(name)
  ) {
    throw new TapError('EINVALNAME', `invalid interface name ${JSON.stringify(name)}: 1-15 printable characters, no '/', ':' or space`);
  }
}

export function validateMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu < TAP_MIN_MTU || mtu > TAP_MAX_MTU) {
    throw new TapError('EMTU', `MTU ${mtu} out of range: a TAP takes ${TAP_MIN_MTU}..${TAP_MAX_MTU}`);
  }
}

export class TapDevice implements FrameDevice {
  readonly vnetHdrLen: number;
  readonly offloads: boolean;
  /** Why there is no SYN queue although one was asked for (null: there is, or none was asked). */
  readonly steeringError: TapError | null;
  /** One fd per queue: {@link MAIN_QUEUE}, then {@link SYN_QUEUE} if steering is on. -1: closed. */
  private readonly fds: number[];
  private pollHandles: ReturnType<typeof libc.poll>[] = [];

  private constructor(
    readonly name: string,
    fds: number[],
    vnetHdr: boolean,
    offloads: boolean,
    steeringError: TapError | null,
  ) {
    this.fds = fds;
    this.vnetHdrLen = vnetHdr ? VNET_HDR_LEN : 0;
    this.offloads = offloads;
    this.steeringError = steeringError;
  }

  /**
   * Create (or attach to) a TAP device in the current network namespace. With `synQueue`, a
   * second queue takes the connection requests (steering.ts); if that cannot be set up (an
   * existing single-queue TAP, no permission to load eBPF) the device has one queue and says
   * why in {@link steeringError}.
   */
  static open(opts: TapOptions): TapDevice {
    validateIfName(opts.name);
    if (opts.mtu !== undefined) validateMtu(opts.mtu);
    const offloads = opts.offloads ?? false;
    const vnetHdr = (opts.vnetHdr ?? false) || offloads;
    const path = opts.clonePath ?? '/dev/net/tun';
    const flags = IFF_TAP | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0);
    const fds: number[] = [];
    let steeringError: TapError | null = null;
    try {
      if (opts.synQueue) {
        // IFF_TUN_EXCL: only a TAP we create gets a second queue. A multi-queue TAP takes queues
        // from anyone, so attaching to an existing one could share it with another process.
        try {
          fds.push(attachQueue(path, opts.name, flags | IFF_MULTI_QUEUE | IFF_TUN_EXCL));
        } catch (e) {
          if (!(e instanceof TapError && e.code === 'EBUSY')) throw e;
          steeringError = new TapError('EBUSY', `${opts.name} exists already: attached with one queue`);
        }
        if (fds.length === 1) {
          fds.push(attachQueue(path, opts.name, flags | IFF_MULTI_QUEUE));
          try {
            attachSteering(fds[0]!);
          } catch (e) {
            if (!(e instanceof TapError)) throw e;
            steeringError = e;
            libc.close(fds.pop()!);
          }
        }
      }
      if (fds.length === 0) fds.push(attachQueue(path, opts.name, flags));
      // Device-wide settings, through any queue.
      const fd = fds[0]!;
      if (vnetHdr) {
        const sz = new Uint8Array(4);
        new DataView(sz.buffer).setInt32(0, VNET_HDR_LEN, true);
        if (libc.ioctlPtr(fd, TUNSETVNETHDRSZ, sz) < 0)
          throw new TapError('EIOCTL', `TUNSETVNETHDRSZ failed (errno ${libc.errno()})`, libc.errno());
      }
      // TSO needs CSUM; with offloads off, ask for nothing unfinished (value 0).
      const off = offloads ? TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 : 0;
      if (vnetHdr && libc.ioctlInt(fd, TUNSETOFFLOAD, off) < 0)
        throw new TapError('EIOCTL', `TUNSETOFFLOAD failed (errno ${libc.errno()})`, libc.errno());
      if (opts.mtu !== undefined) setInterfaceMtu(opts.name, opts.mtu);
    } catch (e) {
      // After a failed ioctl the fds must be closed, or the next TUNSETIFF answers EBUSY.
      for (const fd of fds) libc.close(fd);
      throw e;
    }
    log('opened %s fds=%o vnet=%d offloads=%s steering=%s', opts.name, fds, vnetHdr ? VNET_HDR_LEN : 0, offloads, steeringError ? steeringError.message : fds.length > 1);
    return new TapDevice(opts.name, fds, vnetHdr, offloads, steeringError);
  }

  get rxQueues(): number {
    return this.fds.length;
  }

  /** The main queue's fd (-1 once closed). */
  get fd(): number {
    return this.fds[0]!;
  }

  get closed(): boolean {
    return this.fds[0]! < 0;
  }

  /** Read one frame of `queue` into the iovec array at `iov`. Returns its length, or -1 when none is ready. */
  readv(iov: bigint, iovcnt: number, queue = MAIN_QUEUE): number {
    const fd = this.fds[queue] ?? -1;
    const n = libc.readv(fd, iov, iovcnt);
    if (n >= 0) return n;
    const errno = libc.errno();
    if (errno === EAGAIN || errno === EINTR) return -1;
    if (fd < 0) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
    throw new TapError('EIO', `readv on ${this.name} failed (errno ${errno})`, errno);
  }

  /**
   * Write one frame gathered from the iovec array at `iov`. Returns its length, or -1 when the
   * device cannot take it now (EAGAIN/ENOBUFS: the kernel's queue is full; the caller drops and
   * counts, as a NIC does when its ring is full).
   */
  writev(iov: bigint, iovcnt: number): number {
    const n = libc.writev(this.fds[0]!, iov, iovcnt);
    if (n >= 0) return n;
    const errno = libc.errno();
    if (errno === EAGAIN || errno === ENOBUFS || errno === EINTR) return -1;
    // EIO: the kernel's side of the TAP is down, so it cannot take frames: a dropped frame, as
    // on a NIC without carrier, not a failure of the device.
    if (errno === EIO) return -2;
    if (this.fds[0]! < 0) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
    throw new TapError('EIO', `writev on ${this.name} failed (errno ${errno})`, errno);
  }

  onReadable(cb: () => void): void {
    if (this.closed) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
    for (const h of this.pollHandles) h.close();
    // Any queue readable: one drain of all (the NIC decides the order).
    this.pollHandles = this.fds.map((fd) =>
      libc.poll(fd, (status, ev) => {
        // On a poll error (status < 0) still drain: readv then reports what is wrong.
        if (status < 0 || ev.readable || ev.disconnect) cb();
      }),
    );
  }

  close(): void {
    if (this.closed) return;
    for (const h of this.pollHandles) h.close();
    this.pollHandles = [];
    for (let q = 0; q < this.fds.length; q++) {
      libc.close(this.fds[q]!);
      this.fds[q] = -1;
    }
    log('closed %s', this.name);
  }
}

/** open the clone device and TUNSETIFF: one queue of the TAP `name` (the first creates it). */
function attachQueue(path: string, name: string, flags: number): number {
  const fd = libc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const errno = libc.errno();
    if (errno === ENOENT || errno === ENODEV || errno === ENXIO)
      throw new TapError('ENOTUN', `${path} is missing: load the tun driver or pass --device /dev/net/tun to the container`, errno);
    if (errno === EACCES || errno === EPERM) throw new TapError('EPERM', `no permission to open ${path}: run as root or with CAP_NET_ADMIN`, errno);
    throw new TapError('EIOCTL', `open ${path} failed (errno ${errno})`, errno);
  }
  const ifr = ifreq(name);
  ifr[16] = flags & 0xff;
  ifr[17] = flags >> 8;
  if (libc.ioctlPtr(fd, TUNSETIFF, ifr) < 0) {
    const errno = libc.errno();
    libc.close(fd);
    if (errno === EPERM || errno === EACCES) throw new TapError('EPERM', `no permission to create TAP ${name}: run as root or with CAP_NET_ADMIN`, errno);
    if (errno === EBUSY) throw new TapError('EBUSY', `device ${name} is busy: another process holds it`, errno);
    if (errno === EINVAL) throw new TapError('EBUSY', `device ${name} exists and is busy or not a TAP with these flags`, errno);
    throw new TapError('EIOCTL', `TUNSETIFF ${name} failed (errno ${errno})`, errno);
  }
  return fd;
}

/** Load the steering program and attach it to the TAP of `fd` (the TAP keeps its own reference). */
function attachSteering(fd: number): void {
  const prog = loadSteeringProgram();
  try {
    const arg = new Uint8Array(4);
    new DataView(arg.buffer).setInt32(0, prog, true);
    if (libc.ioctlPtr(fd, TUNSETSTEERINGEBPF, arg) < 0)
      throw new TapError('EBPF', `TUNSETSTEERINGEBPF failed (errno ${libc.errno()})`, libc.errno());
  } finally {
    libc.close(prog);
  }
}

/** Run `fn` with an AF_INET datagram socket: the handle that interface ioctls go through. */
function withInetSocket<T>(fn: (sock: number) => T): T {
  const sock = libc.socket(AF_INET, SOCK_DGRAM, 0);
  if (sock < 0) throw new TapError('EIOCTL', `socket(AF_INET) failed (errno ${libc.errno()})`, libc.errno());
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
    throw new TapError('EIOCTL', `${what} failed (errno ${errno})`, errno);
  }
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

/**
 * Give the kernel's side of the TAP an IPv4 address and bring the link up, as
 * `ip addr add A/P dev N && ip link set N up` would (SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFFLAGS).
 * `address` is a host-order 32-bit number.
 */
export function configureHostSide(name: string, address: number, prefixLength: number): void {
  validateIfName(name);
  withInetSocket((sock) => {
    const sockaddr = (ifr: Uint8Array, a: number) => {
      ifr[16] = AF_INET; // sa_family, little endian
      ifr[17] = 0;
      ifr[20] = a >>> 24;
      ifr[21] = (a >>> 16) & 0xff;
      ifr[22] = (a >>> 8) & 0xff;
      ifr[23] = a & 0xff;
    };
    let ifr = ifreq(name);
    sockaddr(ifr, address >>> 0);
    ifIoctl(sock, SIOCSIFADDR, ifr, `set address on ${name}`);
    ifr = ifreq(name);
    sockaddr(ifr, prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0);
    ifIoctl(sock, SIOCSIFNETMASK, ifr, `set netmask on ${name}`);
    setLinkUp(name, sock);
  });
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
