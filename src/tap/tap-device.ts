/**
 * A Linux TAP device opened through /dev/net/tun (Documentation/networking/tuntap.rst).
 *
 * The fds are non-blocking; readiness comes from uv_poll (koffi.node.poll), so the event loop
 * is never blocked and no threadpool call is made per frame: one wake-up, then the NIC drains
 * what is ready, by a `readv` per frame or, with the io_uring, by batches of READV in one
 * io_uring_enter each (uring.ts). Frames are read and written with scatter/gather iovecs laid
 * out by the NIC driver in unmanaged memory, so this class never touches payload bytes.
 */
import debugFactory from 'debug';
import { TapError } from './errors.js';
import { EACCES, EAGAIN, EBUSY, EINTR, EINVAL, EIO, ENOBUFS, ENODEV, ENOENT, ENXIO, EPERM, errnoName, libc, O_CLOEXEC, O_NONBLOCK, O_RDWR } from './libc.js';
import {
  IFF_MULTI_QUEUE,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN_EXCL,
  IFF_VNET_HDR,
  ifreq,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_USO4,
  TUN_F_USO6,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETSTEERINGEBPF,
  TUNSETVNETHDRSZ,
} from './ioctl.js';
import { ensureInterfaceMtu } from './host-side.js';
import { queryLink, type LinkInfo } from './link.js';
import { validateIfName, validateMtu } from './names.js';
import { loadSteeringProgram, MAIN_QUEUE } from './steering.js';
import { Uring } from './uring.js';
import type { FrameDevice } from '../../firmware/device.js';

export { validateIfName, validateMtu } from './names.js';

const log = debugFactory('tapstack:tap');

/** sizeof(struct virtio_net_hdr_mrg_rxbuf): the 12-byte form, as vhost and Linux's tap use. */
export const VNET_HDR_LEN = 12;

/**
 * SQEs of the ring: a flush or a receive round of more frames is submitted in rounds of this
 * many. The prototype measured 16-256 per io_uring_enter all near the best rate, so larger buys
 * little.
 */
const URING_ENTRIES = 256;

/**
 * How frames cross into the kernel: `uring` receives and transmits batches through io_uring
 * (and fails to open without it), `syscalls` one readv/writev per frame, `auto` the ring when
 * the kernel allows it, else the calls.
 */
export type IoMode = 'auto' | 'uring' | 'syscalls';

/** The path chosen at open, as `tapstack up` names it. */
export type IoPath = 'uring' | 'syscalls';

export interface TapOptions {
  /**
   * Interface name, 1..15 characters. If no device has it, a TAP is created (CAP_NET_ADMIN);
   * an existing TAP that no process holds (one made beforehand with `ip tuntap add`, perhaps
   * for this user) is attached to instead.
   */
  name: string;
  /** Prepend a virtio-net header to every frame (IFF_VNET_HDR). Required for offloads. */
  vnetHdr?: boolean;
  /** Let the kernel hand over partial checksums and 64 KiB TSO segments (TUNSETOFFLOAD). */
  offloads?: boolean;
  /** The device MTU (68..65521): set if it differs (CAP_NET_ADMIN). */
  mtu?: number;
  /**
   * A second receive queue for connection requests (steering.ts), so that a SYN flood cannot
   * crowd out established connections in the kernel's queue. Needs CAP_BPF (or CAP_SYS_ADMIN),
   * and a multi-queue TAP: one tapstack creates is; an existing one must have been created so.
   */
  synQueue?: boolean;
  /** Path of the clone device; tests point it elsewhere. */
  clonePath?: string;
  /** How frames cross into the kernel (default `auto`); see {@link IoMode}. */
  io?: IoMode;
}

export class TapDevice implements FrameDevice {
  readonly vnetHdrLen: number;
  readonly offloads: boolean;
  /** With offloads: the kernel takes USO frames from us (probed at open with TUNSETOFFLOAD). */
  readonly uso: boolean;
  /** Why there is no SYN queue although one was asked for (null: there is, or none was asked). */
  readonly steeringError: TapError | null;
  /** True when the TAP existed and was attached to, false when this created it. */
  readonly attached: boolean;
  /** The I/O path chosen at open. */
  readonly io: IoPath;
  /** Why `auto` fell back to the calls (io_uring_setup refused), or null. */
  readonly uringError: TapError | null;
  /**
   * Many frames in one io_uring_enter (see FrameDevice.writeBatch): present only when the ring
   * is, so the firmware's feature test is the choice made at open.
   */
  readonly writeBatch?: (iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array) => void;
  /** Many frames of one queue in one io_uring_enter (see FrameDevice.readBatch); with the ring only. */
  readonly readBatch?: (iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array, queue: number) => void;
  private uring: Uring | null;
  /** One fd per queue: {@link MAIN_QUEUE}, then {@link SYN_QUEUE} if steering is on. -1: closed. */
  private readonly fds: number[];
  private pollHandles: ReturnType<typeof libc.poll>[] = [];
  private refd = true;

  private constructor(
    readonly name: string,
    fds: number[],
    o: { vnetHdr: boolean; offloads: boolean; uso: boolean; steeringError: TapError | null; attached: boolean; uring: Uring | null; uringError: TapError | null },
  ) {
    this.fds = fds;
    this.uring = o.uring;
    this.uringError = o.uringError;
    this.io = o.uring ? 'uring' : 'syscalls';
    if (o.uring) {
      const queues = o.uring.queues;
      const fixed = o.uring.fixedFile;
      // Queue q is registered file q; without registration the SQEs name the fds themselves.
      const file = (q: number) => (fixed ? q : (fds[q] ?? -1));
      this.writeBatch = (iovAddr, iovCnt, descs, count, results) => {
        if (this.closed) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
        queues.writev(file(MAIN_QUEUE), fixed, iovAddr, iovCnt, descs, count, results);
        asCallResults(this.name, descs, count, results, writeFailure);
      };
      this.readBatch = (iovAddr, iovCnt, descs, count, results, queue) => {
        if (this.closed) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
        queues.readv(file(queue), fixed, iovAddr, iovCnt, descs, count, results);
        asCallResults(this.name, descs, count, results, readFailure);
      };
    }
    this.vnetHdrLen = o.vnetHdr ? VNET_HDR_LEN : 0;
    this.offloads = o.offloads;
    this.uso = o.uso;
    this.steeringError = o.steeringError;
    this.attached = o.attached;
  }

  /**
   * Create a TAP device in the current network namespace, or attach to an existing one that no
   * process holds (see {@link TapOptions.name}). With `synQueue`, a second queue takes the
   * connection requests (steering.ts); if that cannot be set up (a single-queue TAP, no
   * permission to load eBPF) the device has one queue and says why in {@link steeringError}.
   *
   * Who may do what is the kernel's to decide (tun_set_iff): creating needs CAP_NET_ADMIN;
   * attaching needs it too unless the TAP's owner or group is the caller's. What this adds is
   * the rule that keeps two programs off one TAP: a multi-queue TAP takes queues from anyone
   * allowed, so one with queues attached already belongs to another process and is refused
   * (EBUSY), as the kernel itself refuses a second fd on a single-queue TAP.
   */
  static open(opts: TapOptions): TapDevice {
    validateIfName(opts.name);
    if (opts.mtu !== undefined) validateMtu(opts.mtu);
    const offloads = opts.offloads ?? false;
    const vnetHdr = (opts.vnetHdr ?? false) || offloads;
    const path = opts.clonePath ?? '/dev/net/tun';
    const existing = queryLink(opts.name);
    if (existing) checkAttachable(existing);
    // A TAP we create is multi-queue when a SYN queue is wanted; an existing one is what it is
    // (TUNSETIFF must repeat its multi_queue flag, or the kernel answers EINVAL).
    const multiQueue = existing ? existing.tun!.multiQueue : opts.synQueue === true;
    const flags = IFF_TAP | IFF_NO_PI | (vnetHdr ? IFF_VNET_HDR : 0) | (multiQueue ? IFF_MULTI_QUEUE : 0);
    const fds: number[] = [];
    let steeringError: TapError | null = null;
    let uring: Uring | null = null;
    let uringError: TapError | null = null;
    let uso = false;
    try {
      // IFF_TUN_EXCL: a TAP we mean to create is created, never one that appeared since the query.
      fds.push(attachQueue(path, opts.name, existing ? flags : flags | IFF_TUN_EXCL, existing));
      if (existing && multiQueue) checkAlone(opts.name, fds.length);
      if (opts.synQueue && !multiQueue) {
        steeringError = new TapError('ESINGLEQUEUE', `${opts.name} is a single-queue TAP (create it with multi_queue for a SYN queue)`);
      } else if (opts.synQueue) {
        fds.push(attachQueue(path, opts.name, flags, existing));
        try {
          attachSteering(fds[0]!);
        } catch (e) {
          if (!(e instanceof TapError)) throw e;
          steeringError = e;
          libc.close(fds.pop()!);
        }
      }
      // Device-wide settings, through any queue.
      const fd = fds[0]!;
      if (vnetHdr) {
        const sz = new Uint8Array(4);
        new DataView(sz.buffer).setInt32(0, VNET_HDR_LEN, true);
        if (libc.ioctlPtr(fd, TUNSETVNETHDRSZ, sz) < 0)
          throw new TapError('EIOCTL', `TUNSETVNETHDRSZ failed (${errnoName(libc.errno())})`, libc.errno());
      }
      // TSO needs CSUM; with offloads off, ask for nothing unfinished (value 0).
      // Offloads are the fd holder's to choose (no capability needed): they are never skipped.
      // USO: a kernel that knows TUN_F_USO4 (>= 6.2) also takes GSO_UDP_L4 frames written to the
      // TAP (virtio_net_hdr_to_skb); the flags stay off, so the kernel segments what it sends us.
      const tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      if (offloads) uso = libc.ioctlInt(fd, TUNSETOFFLOAD, tso | TUN_F_USO4 | TUN_F_USO6) >= 0;
      if (vnetHdr && libc.ioctlInt(fd, TUNSETOFFLOAD, offloads ? tso : 0) < 0)
        throw new TapError('EIOCTL', `TUNSETOFFLOAD failed (${errnoName(libc.errno())})`, libc.errno());
      if (opts.mtu !== undefined) ensureInterfaceMtu(opts.name, opts.mtu);
      ({ uring, uringError } = openUring(opts.io ?? 'auto', fds));
    } catch (e) {
      // After a failed ioctl the fds must be closed, or the next TUNSETIFF answers EBUSY.
      for (const fd of fds) libc.close(fd);
      throw e;
    }
    log(
      '%s %s fds=%o vnet=%d offloads=%s uso=%s steering=%s io=%s',
      existing ? 'attached to' : 'created',
      opts.name,
      fds,
      vnetHdr ? VNET_HDR_LEN : 0,
      offloads,
      uso,
      steeringError ? steeringError.message : fds.length > 1,
      uring ? 'uring' : `syscalls${uringError ? ` (${uringError.message})` : ''}`,
    );
    return new TapDevice(opts.name, fds, { vnetHdr, offloads, uso, steeringError, attached: existing !== null, uring, uringError });
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
    if (fd < 0) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
    return readFailure(this.name, libc.errno());
  }

  /**
   * Write one frame gathered from the iovec array at `iov`. Returns its length, or -1 when the
   * device cannot take it now (EAGAIN/ENOBUFS: the kernel's queue is full; the caller drops and
   * counts, as a NIC does when its ring is full).
   */
  writev(iov: bigint, iovcnt: number): number {
    const n = libc.writev(this.fds[0]!, iov, iovcnt);
    if (n >= 0) return n;
    if (this.fds[0]! < 0) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
    return writeFailure(this.name, libc.errno());
  }

  onReadable(cb: (queue?: number) => void): void {
    if (this.closed) throw new TapError('ECLOSED', `TAP ${this.name} is closed`);
    for (const h of this.pollHandles) h.close();
    // A queue readable: the NIC drains, knowing which one woke it.
    this.pollHandles = this.fds.map((fd, queue) =>
      libc.poll(fd, (status, ev) => {
        // On a poll error (status < 0) still drain: readv then reports what is wrong.
        if (status < 0 || ev.readable || ev.disconnect) cb(queue);
      }),
    );
    if (!this.refd) for (const h of this.pollHandles) h.unref();
    if (!process.listeners('exit').includes(this.closePollsAtExit)) process.on('exit', this.closePollsAtExit);
  }

  /** The uv_poll handles' ref (koffi's PollHandle.ref/unref): whether they keep the loop alive. */
  setRef(on: boolean): void {
    this.refd = on;
    for (const h of this.pollHandles) {
      if (on) h.ref();
      else h.unref();
    }
  }

  /**
   * The poll handles go before the process does: once every handle is unref'd the loop ends,
   * and a readiness callback libuv would still run while Node frees the environment cannot
   * reach JavaScript (napi_throw there is fatal).
   */
  private readonly closePollsAtExit = (): void => {
    for (const h of this.pollHandles) h.close();
    this.pollHandles = [];
  };

  close(): void {
    if (this.closed) return;
    process.removeListener('exit', this.closePollsAtExit);
    for (const h of this.pollHandles) h.close();
    this.pollHandles = [];
    this.uring?.close();
    this.uring = null;
    for (let q = 0; q < this.fds.length; q++) {
      libc.close(this.fds[q]!);
      this.fds[q] = -1;
    }
    log('closed %s', this.name);
  }
}

/** A batch's CQE results (-errno) in the form readv/writev give them, by `failure`. */
function asCallResults(name: string, descs: Int32Array, count: number, results: Int32Array, failure: (name: string, errno: number) => number): void {
  for (let k = 0; k < count; k++) {
    const d = descs[k]!;
    const r = results[d]!;
    if (r < 0) results[d] = failure(name, -r);
  }
}

/**
 * What a failed read of a frame means, the same for readv and an io_uring READV: -1 when the
 * queue is empty now (EAGAIN; EINTR, try at the next wake-up); anything else is a failure.
 */
function readFailure(name: string, errno: number): number {
  if (errno === EAGAIN || errno === EINTR) return -1;
  throw new TapError('EIO', `readv on ${name} failed (errno ${errno})`, errno);
}

/**
 * What a failed write of a frame means, the same for writev and an io_uring WRITEV (its CQE
 * carries -errno): -1 when the device cannot take it now (EAGAIN/ENOBUFS: the kernel's queue is
 * full; the caller drops and counts, as a NIC does when its ring is full), -2 when the link is
 * down; anything else is a failure of the device.
 */
function writeFailure(name: string, errno: number): number {
  if (errno === EAGAIN || errno === ENOBUFS || errno === EINTR) return -1;
  // EIO: the kernel's side of the TAP is down, so it cannot take frames: a dropped frame, as
  // on a NIC without carrier, not a failure of the device.
  if (errno === EIO) return -2;
  throw new TapError('EIO', `write on ${name} failed (errno ${errno})`, errno);
}

/**
 * The ring for `mode`, decided once at open: with `auto` a refusal (ENOSYS where
 * io_uring is not built in, EPERM under a seccomp filter such as Docker's default or with
 * kernel.io_uring_disabled) is kept as the reason the calls are used; with `uring` it fails the open.
 */
function openUring(mode: IoMode, fds: readonly number[]): { uring: Uring | null; uringError: TapError | null } {
  if (mode === 'syscalls') return { uring: null, uringError: null };
  try {
    return { uring: Uring.open(URING_ENTRIES, fds), uringError: null };
  } catch (e) {
    if (mode === 'uring' || !(e instanceof TapError)) throw e;
    return { uring: null, uringError: e };
  }
}

/**
 * Refuse an existing device that is not an idle TAP, before any fd is attached to it: another
 * kind of device, a TUN, or a multi-queue TAP with queues attached (another process's).
 */
export function checkAttachable(link: LinkInfo): void {
  if (link.kind !== 'tun' || !link.tun)
    throw new TapError('ENOTTAP', `device ${link.name} exists and is not a TAP (${link.kind ?? 'a device with no kind'}): choose another name`);
  if (link.tun.type !== 'tap') throw new TapError('ENOTTAP', `device ${link.name} is a TUN device, not a TAP: create it with 'ip tuntap add dev ${link.name} mode tap'`);
  if (link.tun.attachedQueues) throw new TapError('EBUSY', `device ${link.name} is busy: another process holds it (${link.tun.attachedQueues} queue${link.tun.attachedQueues === 1 ? '' : 's'} attached)`);
}

/**
 * After attaching `ours` queues to an existing multi-queue TAP: no other process attached one
 * since {@link checkAttachable} looked (the kernel does not stop it; this notices it).
 */
function checkAlone(name: string, ours: number): void {
  const queues = queryLink(name)?.tun?.attachedQueues ?? ours;
  if (queues > ours) throw new TapError('EBUSY', `device ${name} is busy: another process attached to it at the same time`);
}

/**
 * open the clone device and TUNSETIFF: one queue of the TAP `name` (the first creates it unless
 * `existing` says what is there already, which names the owner when the kernel refuses).
 */
function attachQueue(path: string, name: string, flags: number, existing: LinkInfo | null): number {
  const fd = libc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const errno = libc.errno();
    if (errno === ENOENT || errno === ENODEV || errno === ENXIO)
      throw new TapError('ENOTUN', `${path} is missing: load the tun driver or pass --device /dev/net/tun to the container`, errno);
    // File permissions, not a capability: udev gives /dev/net/tun mode 0666; without udev it is 0600.
    if (errno === EACCES || errno === EPERM) throw new TapError('EPERM', `no permission to open ${path}: it must be readable and writable by this user (mode 0666), or run as root`, errno);
    throw new TapError('EIOCTL', `open ${path} failed (${errnoName(errno)})`, errno);
  }
  const ifr = ifreq(name);
  ifr[16] = flags & 0xff;
  ifr[17] = flags >> 8;
  if (libc.ioctlPtr(fd, TUNSETIFF, ifr) < 0) {
    const errno = libc.errno();
    libc.close(fd);
    if (errno === EPERM || errno === EACCES) {
      if (!existing)
        throw new TapError('EPERM', `no permission to create TAP ${name}: run as root or with CAP_NET_ADMIN, or have it created for this user (ip tuntap add dev ${name} mode tap user USER)`, errno);
      const owners = [existing.tun?.owner != null ? `user ${existing.tun.owner}` : '', existing.tun?.group != null ? `group ${existing.tun.group}` : ''].filter(Boolean).join(' and ');
      throw new TapError('EPERM', `no permission to attach to TAP ${name}${owners ? `: it belongs to ${owners}` : ''}; run as its owner, or with CAP_NET_ADMIN`, errno);
    }
    if (errno === EBUSY) throw new TapError('EBUSY', `device ${name} is busy: another process holds it`, errno);
    if (errno === EINVAL) throw new TapError('EBUSY', `device ${name} exists and is busy or not a TAP with these flags`, errno);
    throw new TapError('EIOCTL', `TUNSETIFF ${name} failed (${errnoName(errno)})`, errno);
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
      throw new TapError('EBPF', `TUNSETSTEERINGEBPF failed (${errnoName(libc.errno())})`, libc.errno());
  } finally {
    libc.close(prog);
  }
}
