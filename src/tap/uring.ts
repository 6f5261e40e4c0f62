/**
 * An io_uring for the TAP's receive and transmit batches: set up, map, register the TAP's
 * queue fds, close.
 * io_uring_setup(2), io_uring_register(2), io_uring(7); constants and layouts from
 * include/uapi/linux/io_uring.h. The queues themselves are uring-queues.ts.
 *
 * Why: a writev per frame costs a crossing into the kernel through koffi each; a batch of
 * WRITEV SQEs costs one io_uring_enter for all of them, with the same inline completion (the TAP
 * copies the frame into an skb during the call), so a descriptor's buffers are free again when
 * the batch returns, as after writev.
 *
 * Not used: SQPOLL (a kernel thread spinning on one of two vCPUs), DEFER_TASKRUN (completes
 * nothing until the next enter), registered buffers (READV_FIXED would pin the whole arena).
 */
import { TapError } from './errors.js';
import { libc as mman, MAP_FAILED, MAP_POPULATE, MAP_SHARED, PROT_READ, PROT_WRITE } from '../mem/libc.js';
import { EINVAL, errnoText, libc } from './libc.js';
import { CQE_SIZE, SQE_SIZE, UringQueues, type RingLayout } from './uring-queues.js';

// include/uapi/linux/io_uring.h
/** IORING_SETUP_CQSIZE: `cq_entries` is ours to choose (else twice the SQ). */
const IORING_SETUP_CQSIZE = 1 << 3;
/** IORING_SETUP_COOP_TASKRUN (5.19): no IPI to interrupt us for task work; we enter anyway. */
const IORING_SETUP_COOP_TASKRUN = 1 << 8;
/** IORING_SETUP_SINGLE_ISSUER (6.0): one thread submits, which lets the kernel skip locking. */
const IORING_SETUP_SINGLE_ISSUER = 1 << 12;
/** IORING_FEAT_SINGLE_MMAP (5.4): the SQ and CQ rings share one mapping. */
const IORING_FEAT_SINGLE_MMAP = 1 << 0;
/** IORING_FEAT_NODROP (5.5): completions that find the CQ full are kept, not dropped. */
const IORING_FEAT_NODROP = 1 << 1;
/** mmap offsets of the rings and of the SQE array. */
const IORING_OFF_SQ_RING = 0;
const IORING_OFF_SQES = 0x10000000;
/** io_uring_register opcodes: IORING_REGISTER_FILES, IORING_UNREGISTER_FILES. */
const IORING_REGISTER_FILES = 2;
const IORING_UNREGISTER_FILES = 3;

/** sizeof(struct io_uring_params), and the offsets of its fields used here. */
const PARAMS_SIZE = 120;
const P_SQ_ENTRIES = 0;
const P_CQ_ENTRIES = 4;
const P_FLAGS = 8;
const P_FEATURES = 20;
/** struct io_sqring_offsets at 40: head, tail, ring_mask, ring_entries, flags, dropped, array. */
const P_SQ_OFF = 40;
/** struct io_cqring_offsets at 80: head, tail, ring_mask, ring_entries, overflow, cqes. */
const P_CQ_OFF = 80;

/** Why the kernel refuses io_uring_setup, by errno, as a user can act on it. */
const URING_REFUSED: Record<number, string> = {
  1: ': kernel.io_uring_disabled or a seccomp filter (a container runtime\'s default profile) forbids it',
  38: ': this kernel has no io_uring (CONFIG_IO_URING)',
};

/** The flag sets tried in turn: an older kernel answers EINVAL to a flag it does not know. */
const SETUP_FLAGS = [IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, IORING_SETUP_CQSIZE];

export class Uring {
  private constructor(
    private fd: number,
    readonly queues: UringQueues,
    private readonly maps: { addr: bigint; len: number }[],
    /**
     * Whether the TAP's queues are registered files (queue q is index q) rather than named by
     * their fds in each SQE.
     */
    readonly fixedFile: boolean,
  ) {}

  /**
   * A ring of `entries` SQEs (a power of two) with twice as many CQEs, and the TAP's queue fds
   * `tapFds` registered as files 0, 1, … (one fget/fput fewer per SQE; without it, SQEs name the
   * fds). Throws a
   * TapError `EURING` that says why when the kernel refuses: ENOSYS (no io_uring), EPERM
   * (disabled by sysctl kernel.io_uring_disabled, or a seccomp filter), ENOMEM (locked memory).
   */
  static open(entries: number, tapFds: readonly number[]): Uring {
    const p = new Uint8Array(PARAMS_SIZE);
    const v = new DataView(p.buffer);
    let fd = -1;
    let errno = 0;
    for (const flags of SETUP_FLAGS) {
      p.fill(0);
      v.setUint32(P_FLAGS, flags, true);
      v.setUint32(P_CQ_ENTRIES, entries * 2, true);
      fd = libc.uringSetup(entries, p);
      if (fd >= 0) break;
      errno = libc.errno();
      if (errno !== EINVAL) break;
    }
    if (fd < 0) throw new TapError('EURING', `io_uring_setup failed (${errnoText(errno)})${URING_REFUSED[errno] ?? ''}`, errno);
    const maps: { addr: bigint; len: number }[] = [];
    try {
      const features = v.getUint32(P_FEATURES, true);
      // Both came in 5.4/5.5; without them the ring would need two mappings and CQ overflow
      // handling, which a kernel that old is not worth.
      if ((features & IORING_FEAT_SINGLE_MMAP) === 0 || (features & IORING_FEAT_NODROP) === 0)
        throw new TapError('EURING', `io_uring lacks SINGLE_MMAP or NODROP (features 0x${features.toString(16)})`);
      const sq = (k: number) => v.getUint32(P_SQ_OFF + 4 * k, true);
      const cq = (k: number) => v.getUint32(P_CQ_OFF + 4 * k, true);
      const sqEntries = v.getUint32(P_SQ_ENTRIES, true);
      const cqEntries = v.getUint32(P_CQ_ENTRIES, true);
      const ringLen = Math.max(sq(6) + sqEntries * 4, cq(5) + cqEntries * CQE_SIZE);
      const ring = map(fd, ringLen, IORING_OFF_SQ_RING);
      maps.push({ addr: ring, len: ringLen });
      const sqesLen = sqEntries * SQE_SIZE;
      const sqes = map(fd, sqesLen, IORING_OFF_SQES);
      maps.push({ addr: sqes, len: sqesLen });
      const layout: RingLayout = {
        sqHead: sq(0) / 4,
        sqTail: sq(1) / 4,
        sqMask: sq(2) / 4,
        sqEntries: sq(3) / 4,
        sqArray: sq(6) / 4,
        cqHead: cq(0) / 4,
        cqTail: cq(1) / 4,
        cqMask: cq(2) / 4,
        cqEntries: cq(3) / 4,
        cqes: cq(5) / 4,
      };
      const ringFd = fd;
      const enter = (toSubmit: number, minComplete: number, flags: number): number => {
        const r = libc.uringEnter(ringFd, toSubmit, minComplete, flags);
        return r < 0 ? -libc.errno() : r;
      };
      const queues = new UringQueues(libc.view(ring, ringLen), libc.view(sqes, sqesLen), layout, enter);
      const files = new Uint8Array(4 * tapFds.length);
      tapFds.forEach((f, i) => new DataView(files.buffer).setInt32(4 * i, f, true));
      const fixed = libc.uringRegister(fd, IORING_REGISTER_FILES, files, tapFds.length) >= 0;
      return new Uring(fd, queues, maps, fixed);
    } catch (e) {
      for (const m of maps) mman.munmap(m.addr, m.len);
      libc.close(fd);
      throw e;
    }
  }

  /**
   * The registered TAP fd is let go first, synchronously: the ring itself is torn down by a
   * kernel worker after its fd is closed, and until then its file table keeps the TAP's queue
   * attached (`numqueues 1`), so a tapstack started again at once, or the administrator's
   * `ip tuntap del`, would find the device busy.
   */
  close(): void {
    if (this.fd < 0) return;
    if (this.fixedFile) libc.uringRegister(this.fd, IORING_UNREGISTER_FILES, null, 0);
    for (const m of this.maps) mman.munmap(m.addr, m.len);
    libc.close(this.fd);
    this.fd = -1;
  }
}

function map(fd: number, len: number, offset: number): bigint {
  const addr = mman.mmap(null, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  if (addr === MAP_FAILED || addr === 0n || addr === null) throw new TapError('EURING', `mmap of the io_uring failed (${errnoText(libc.errno())})`, libc.errno());
  return addr;
}
