/**
 * The few libc calls the TAP binding needs, through koffi (prebuilt FFI, no compiler).
 * Node itself cannot ioctl, and `net.Socket({ fd })` refuses a TAP fd (docs/ARCHITECTURE.md section 9).
 * Pointers are BigInt addresses (koffi 3); buffers of our own are passed as Uint8Array.
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

export const libc = {
  open: lib.func('int open(const char *path, int flags)') as (path: string, flags: number) => number,
  close: lib.func('int close(int fd)') as (fd: number) => number,
  socket: lib.func('int socket(int domain, int type, int protocol)') as (d: number, t: number, p: number) => number,
  /** send/recv of whole messages on a datagram socket (rtnetlink requests and replies). */
  send: lib.func('long send(int fd, const void *buf, size_t len, int flags)') as (fd: number, buf: Uint8Array, len: number, flags: number) => number,
  recv: lib.func('long recv(int fd, void *buf, size_t len, int flags)') as (fd: number, buf: Uint8Array, len: number, flags: number) => number,
  /** ioctl with a pointer argument (struct ifreq, int *). */
  ioctlPtr: ((f) => (fd: number, req: number, arg: Uint8Array) => f(fd, req, 'void *', arg) as number)(
    lib.func('int ioctl(int fd, unsigned long req, ...)'),
  ),
  /** ioctl with an integer argument (TUNSETOFFLOAD takes the value itself). */
  ioctlInt: ((f) => (fd: number, req: number, arg: number) => f(fd, req, 'unsigned long', arg) as number)(
    lib.func('int ioctl(int fd, unsigned long req, ...)'),
  ),
  /** readv/writev take the address of an iovec array we laid out ourselves in unmanaged memory. */
  readv: lib.func('long readv(int fd, void *iov, int iovcnt)') as (fd: number, iov: bigint, cnt: number) => number,
  writev: lib.func('long writev(int fd, void *iov, int iovcnt)') as (fd: number, iov: bigint, cnt: number) => number,
  /**
   * readv on the libuv threadpool: for files and pipes that may block (never per frame: one
   * call fills many pages).
   */
  readvAsync: ((f) => (fd: number, iov: Uint8Array, cnt: number): Promise<number> =>
    new Promise((resolve, reject) =>
      f.async(fd, iov, cnt, (err: unknown, n: number) => {
        if (err) reject(err);
        else resolve(n);
      }),
    ))(lib.func('long readv(int fd, void *iov, int iovcnt)')),
  /** bpf(2), through syscall(2): glibc has no wrapper. */
  bpf: ((f) => (cmd: number, attr: Uint8Array, size: number): number => Number(f(SYS_BPF, 'int', cmd, 'void *', attr, 'unsigned int', size)))(
    lib.func('long syscall(long n, ...)'),
  ),
  /**
   * io_uring's three calls through syscall(2) (glibc has no wrappers), each with a fixed,
   * non-variadic prototype: koffi then marshals plain numbers with no (type, value) pairs to parse
   * per call, which matters for `enter`, called once per transmit batch. glibc's syscall() is an
   * assembly stub that only moves its integer arguments into the syscall registers, so calling it
   * through a fixed prototype passes them the same way on x86-64 and arm64 (an ABI assumption,
   * checked at every setup by the call itself: a wrong prototype fails io_uring_setup). The
   * numbers 425-427 are the same on every architecture (the unified table since Linux 5.1).
   */
  uringSetup: ((f) => (entries: number, params: Uint8Array): number => Number(f(SYS_IO_URING_SETUP, entries, params)))(
    lib.func('long syscall(long nr, uint32_t entries, void *params)'),
  ),
  uringEnter: ((f) => (fd: number, toSubmit: number, minComplete: number, flags: number): number => Number(f(SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, null, 0)))(
    lib.func('long syscall(long nr, int fd, uint32_t to_submit, uint32_t min_complete, uint32_t flags, void *arg, size_t argsz)'),
  ),
  uringRegister: ((f) => (fd: number, opcode: number, arg: Uint8Array | null, nrArgs: number): number => Number(f(SYS_IO_URING_REGISTER, fd, opcode, arg, nrArgs)))(
    lib.func('long syscall(long nr, int fd, uint32_t opcode, void *arg, uint32_t nr_args)'),
  ),
  /** An ArrayBuffer over unmanaged memory, without copy. */
  view: (ptr: bigint, len: number): ArrayBuffer => koffi.view(ptr, len),
  /** The address of a buffer of ours, for structs that hold pointers (union bpf_attr). */
  address: (b: Uint8Array): bigint => koffi.address(b),
  errno: (): number => koffi.errno(),
  /**
   * uv_poll on an fd: readiness without a threadpool call per frame. koffi calls back with
   * (status, events), status being libuv's (negative on error), whatever its typings say.
   */
  poll: (fd: number, cb: (status: number, ev: { readable: boolean; disconnect: boolean }) => void) =>
    koffi.node.poll(fd, { readable: true }, cb as unknown as (ev: unknown) => void),
};

/** __NR_io_uring_setup/enter/register (include/uapi/asm-generic/unistd.h, arch/x86/entry/syscalls/syscall_64.tbl). */
const SYS_IO_URING_SETUP = 425;
const SYS_IO_URING_ENTER = 426;
const SYS_IO_URING_REGISTER = 427;

/** __NR_bpf: 321 on x86_64, 280 on arm64 (asm-generic). */
const SYS_BPF = process.arch === 'arm64' ? 280 : 321;

// <fcntl.h>, <sys/socket.h>, <errno.h> (x86_64 / generic Linux values)
export const O_RDWR = 0x2;
export const O_NONBLOCK = 0x800;
export const O_CLOEXEC = 0x80000;
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0x80000;
export const AF_NETLINK = 16;
export const NETLINK_ROUTE = 0;
export const MSG_DONTWAIT = 0x40;

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EBUSY = 16;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOBUFS = 105;
export const ENOSYS = 38;
export const EADDRNOTAVAIL = 99;

const ERRNO_NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [ENXIO]: 'ENXIO',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EBUSY]: 'EBUSY',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [ENOSYS]: 'ENOSYS',
  [EADDRNOTAVAIL]: 'EADDRNOTAVAIL',
  [ENOBUFS]: 'ENOBUFS',
};

/** The symbolic name of an errno this binding meets (`errno 1` alone makes a reader look it up). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** `EPERM (errno 1)`: the name to read and the number to search for; `errno 95` for others. */
export function errnoText(errno: number): string {
  const name = ERRNO_NAMES[errno];
  return name ? `${name} (errno ${errno})` : `errno ${errno}`;
}
