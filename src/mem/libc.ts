/**
 * The libc calls the memory layer needs, through koffi (prebuilt FFI, no compiler): mmap(2) for
 * the arena and the io_uring rings (src/tap/uring.ts maps those through it), and a view over
 * the memory it maps. The TAP binding loads its own libc for the rest.
 * Pointers are BigInt addresses (koffi 3).
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

export const libc = {
  mmap: lib.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)') as (
    addr: null,
    len: number,
    prot: number,
    flags: number,
    fd: number,
    off: number,
  ) => bigint,
  munmap: lib.func('int munmap(void *addr, size_t len)') as (addr: bigint, len: number) => number,
  errno: (): number => koffi.errno(),
  /** An ArrayBuffer over unmanaged memory, without copy. */
  view: (ptr: bigint, len: number): ArrayBuffer => koffi.view(ptr, len),
};

// <sys/mman.h> (x86_64 / generic Linux values)
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
/** Do not reserve swap: a large pool costs only the pages it touches. */
export const MAP_NORESERVE = 0x4000;
/** Fault the pages in at mmap, not on first use (the io_uring rings: not on the first batch). */
export const MAP_POPULATE = 0x8000;
export const MAP_FAILED = 0xffffffffffffffffn;
