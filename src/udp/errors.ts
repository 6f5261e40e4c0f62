/** Errors of the UDP layer, carrying the codes (and libuv's negative errno) Node's dgram module uses. */
export type UdpErrorCode = 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EACCES' | 'EMSGSIZE' | 'ENETUNREACH' | 'ECONNREFUSED' | 'EHOSTUNREACH' | 'EINVAL';

export class UdpError extends Error {
  override readonly name = 'UdpError';
  readonly errno: number;
  constructor(
    readonly code: UdpErrorCode,
    message: string,
    readonly syscall = 'send',
  ) {
    super(message);
    this.errno = ERRNO[code];
  }
}

/** Linux errno values, negated as libuv reports them in `err.errno`. */
const ERRNO: Record<UdpErrorCode, number> = {
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  EACCES: -13,
  EMSGSIZE: -90,
  ENETUNREACH: -101,
  ECONNREFUSED: -111,
  EHOSTUNREACH: -113,
  EINVAL: -22,
};
