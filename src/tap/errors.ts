/** Typed errors of the TAP binding: each names what went wrong and what to do about it. */

export type TapErrorCode =
  | 'ENOTUN' // /dev/net/tun missing (no tun driver, or not mapped into the container)
  | 'EPERM' // not root, no CAP_NET_ADMIN, not the TAP's owner
  | 'EBUSY' // the name is taken by a TAP another process holds
  | 'ENOTTAP' // the name is taken by a device that is not a TAP
  | 'EINVALNAME' // name empty, too long, or with characters the kernel refuses
  | 'EMTU' // MTU outside 68..65521
  | 'EIOCTL' // another ioctl failure
  | 'ESINGLEQUEUE' // an existing TAP created without multi_queue: no SYN queue on it
  | 'EBPF' // the steering program was refused (no CAP_BPF, no bpf syscall)
  | 'EURING' // io_uring refused (not built in, disabled by sysctl or seccomp): writev is used
  | 'EIO' // read/write failure on an open device
  | 'ECLOSED'; // use after close

export class TapError extends Error {
  override readonly name = 'TapError';
  constructor(
    readonly code: TapErrorCode,
    message: string,
    readonly errno = 0,
  ) {
    super(message);
  }
}
