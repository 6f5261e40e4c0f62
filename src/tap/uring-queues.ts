/**
 * The submission and completion queues of an io_uring, as views over the memory the kernel
 * shares with us (io_uring(7), io_uring_setup(2); layouts from include/uapi/linux/io_uring.h).
 *
 * Kept apart from the system calls (uring.ts) so that the index arithmetic can be tested over
 * plain memory with a stand-in for the kernel: the class only needs the ring words, the SQE
 * array and an `enter` function.
 *
 * Both rings are single-producer, single-consumer with free-running 32-bit indices: the slot of
 * index `i` is `i & mask`, and `tail - head` (mod 2^32) is how many entries are in the ring.
 * We produce SQEs and consume CQEs; the kernel does the opposite. The index words the other side
 * writes are read with `Atomics.load` and the ones we publish written with `Atomics.store`, the
 * acquire/release pairs liburing uses (io_uring_smp_load_acquire/store_release): V8 may otherwise
 * cache or reorder plain accesses to memory it believes no one else writes, and the store of the
 * SQ tail must come after the SQE bodies it publishes.
 */

/** sizeof(struct io_uring_sqe) without IORING_SETUP_SQE128. */
export const SQE_SIZE = 64;
/** sizeof(struct io_uring_cqe) without IORING_SETUP_CQE32. */
export const CQE_SIZE = 16;

// include/uapi/linux/io_uring.h
/** enum io_uring_op: IORING_OP_READV, IORING_OP_WRITEV. */
export const IORING_OP_READV = 1;
export const IORING_OP_WRITEV = 2;
/** IOSQE_FIXED_FILE_BIT: `fd` is an index into the files registered with IORING_REGISTER_FILES. */
export const IOSQE_FIXED_FILE = 1 << 0;
/** io_uring_enter flag: wait for `min_complete` completions. */
export const IORING_ENTER_GETEVENTS = 1 << 0;
/**
 * RWF_NOWAIT (include/uapi/linux/fs.h), in `sqe.rw_flags`: a write the TAP cannot take now, or
 * a read of an empty queue, completes at once with -EAGAIN instead of being parked on the TAP's
 * wait queue (io_uring would otherwise arm a poll and finish it later); a batch then always
 * completes within its own io_uring_enter, as a non-blocking readv or writev returns at once.
 */
export const RWF_NOWAIT = 0x8;

/** Where the index words lie, in 32-bit words from the start of the ring mapping (io_sqring_offsets / io_cqring_offsets, divided by 4). */
export interface RingLayout {
  sqHead: number;
  sqTail: number;
  sqMask: number;
  sqEntries: number;
  /** The SQ's index array (absent with IORING_SETUP_NO_SQARRAY, which is not used). */
  sqArray: number;
  cqHead: number;
  cqTail: number;
  cqMask: number;
  cqEntries: number;
  cqes: number;
}

/** io_uring_enter(fd, to_submit, min_complete, flags): the count submitted, or -errno. */
export type EnterFn = (toSubmit: number, minComplete: number, flags: number) => number;

export class UringQueues {
  /** The SQ's size: a batch larger than this is submitted in several rounds. */
  readonly sqEntries: number;
  private readonly words: Uint32Array;
  /** The same words signed: a CQE's `res` is an s32 (bytes, or -errno). */
  private readonly swords: Int32Array;
  private readonly sqe32: Uint32Array;
  private readonly sqe64: BigUint64Array;
  private readonly sqMask: number;
  private readonly cqMask: number;
  /** Our copies of the indices we own: the SQ tail we publish and the CQ head we advance. */
  private sqTail: number;
  private cqHead: number;

  /**
   * @param ring the SQ and CQ ring words (one mapping with IORING_FEAT_SINGLE_MMAP)
   * @param sqes the SQE array (its own mapping, IORING_OFF_SQES)
   */
  constructor(
    ring: ArrayBuffer,
    sqes: ArrayBuffer,
    private readonly at: RingLayout,
    private readonly enter: EnterFn,
  ) {
    this.words = new Uint32Array(ring);
    this.swords = new Int32Array(ring);
    this.sqe32 = new Uint32Array(sqes);
    this.sqe64 = new BigUint64Array(sqes);
    this.sqEntries = this.words[at.sqEntries]!;
    this.sqMask = this.words[at.sqMask]!;
    this.cqMask = this.words[at.cqMask]!;
    this.sqTail = Atomics.load(this.words, at.sqTail);
    this.cqHead = Atomics.load(this.words, at.cqHead);
    // The index array maps SQ slots to SQEs; slot i always names SQE i, so it is written once
    // (what liburing does, and what IORING_SETUP_NO_SQARRAY makes the kernel assume).
    for (let i = 0; i < this.sqEntries; i++) this.words[at.sqArray + i] = i;
  }

  /**
   * One IORING_OP_WRITEV per listed descriptor: `descs[0..count)` name them, `iovAddr[d]` and
   * `iovCnt[d]` are descriptor d's iovec array (used in place: the kernel reads the frame from
   * our memory, no copy here), `user_data` is d, and `results[d]` receives the CQE's `res` (bytes
   * written, or -errno). Submission and reaping take one io_uring_enter per `sqEntries`
   * descriptors. `fd` is the file (a registered index when `fixed`).
   */
  writev(fd: number, fixed: boolean, iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array): void {
    this.batch(IORING_OP_WRITEV, fd, fixed, iovAddr, iovCnt, descs, count, results);
  }

  /**
   * One IORING_OP_READV per listed descriptor, as {@link writev}: the kernel fills descriptor
   * d's iovecs (header split kept: each READV scatters one frame over its own descriptor's
   * buffers) and `results[d]` is the frame's length, or -EAGAIN when the queue was empty by the
   * time that READV ran. The READVs run in submission order, so the frames come in the order
   * the queue held them, but a frame that arrives during the batch can fill a later descriptor
   * after an earlier one found the queue empty: the caller closes such gaps.
   */
  readv(fd: number, fixed: boolean, iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array): void {
    this.batch(IORING_OP_READV, fd, fixed, iovAddr, iovCnt, descs, count, results);
  }

  private batch(op: number, fd: number, fixed: boolean, iovAddr: readonly bigint[], iovCnt: Int32Array, descs: Int32Array, count: number, results: Int32Array): void {
    let k = 0;
    while (k < count) {
      const n = Math.min(count - k, this.sqEntries);
      for (let j = 0; j < n; j++, k++) {
        const d = descs[k]!;
        this.queueRw(op, fd, fixed, iovAddr[d]!, iovCnt[d]!, d);
      }
      this.submitAndWait(n, results);
    }
  }

  /** Fill the next SQE (the caller keeps the queue from overfilling: at most sqEntries per round). */
  private queueRw(op: number, fd: number, fixed: boolean, addr: bigint, len: number, userData: number): void {
    const slot = this.sqTail & this.sqMask;
    const w = slot * (SQE_SIZE / 4);
    const q = this.sqe32;
    q[w] = op | ((fixed ? IOSQE_FIXED_FILE : 0) << 8); // opcode, flags, ioprio 0
    q[w + 1] = fd;
    q[w + 2] = 0; // off: a TAP is a stream, the offset is not used
    q[w + 3] = 0;
    this.sqe64[slot * (SQE_SIZE / 8) + 2] = addr; // addr (no BigInt made: the ring's own)
    q[w + 6] = len;
    q[w + 7] = RWF_NOWAIT;
    q[w + 8] = userData; // user_data, low half; descriptor indices fit in 32 bits
    q[w + 9] = 0;
    q[w + 10] = 0; // buf_index, personality
    q[w + 11] = 0; // file_index / splice_fd_in
    q[w + 12] = 0; // addr3, pad
    q[w + 13] = 0;
    q[w + 14] = 0;
    q[w + 15] = 0;
    this.sqTail = (this.sqTail + 1) >>> 0;
  }

  /**
   * Publish the queued SQEs and wait for `n` completions, reaping them into `results` by
   * user_data. Submitted SQEs always complete in this call (RWF_NOWAIT), so a short or
   * interrupted enter is repeated for what is left rather than left for the next batch.
   */
  private submitAndWait(n: number, results: Int32Array): void {
    const at = this.at;
    Atomics.store(this.words, at.sqTail, this.sqTail);
    let reaped = 0;
    for (let tries = 0; ; tries++) {
      const unsubmitted = (this.sqTail - Atomics.load(this.words, at.sqHead)) >>> 0;
      const r = this.enter(unsubmitted, n - reaped, IORING_ENTER_GETEVENTS);
      reaped += this.reap(results);
      if (reaped >= n) return;
      // -EINTR (a signal), -EAGAIN or -EBUSY (no room for completions until we reap, done
      // above): try again; anything else is a broken ring.
      if ((r < 0 && r !== -EINTR && r !== -EAGAIN && r !== -EBUSY) || tries > 1000)
        throw new Error(`io_uring_enter: ${reaped} of ${n} completions (result ${r})`);
    }
  }

  /** Take every completion the kernel posted: `results[user_data] = res`. Returns how many. */
  private reap(results: Int32Array): number {
    const at = this.at;
    const tail = Atomics.load(this.words, at.cqTail);
    let head = this.cqHead;
    let n = 0;
    while (head !== tail) {
      const w = at.cqes + (head & this.cqMask) * (CQE_SIZE / 4);
      results[this.words[w]!] = this.swords[w + 2]!;
      head = (head + 1) >>> 0;
      n++;
    }
    this.cqHead = head;
    Atomics.store(this.words, at.cqHead, head);
    return n;
  }
}

// <errno.h>; io_uring_enter's result is passed as -errno (see uring.ts).
const EINTR = 4;
const EAGAIN = 11;
const EBUSY = 16;
