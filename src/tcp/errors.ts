/** Errors a TCP connection ends with, carrying the codes Node's net module uses. */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EPIPE' | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'ECONNABORTED' | 'ENETUNREACH';

export class TcpError extends Error {
  override readonly name = 'TcpError';
  readonly errno: number;
  readonly syscall: string;
  constructor(
    readonly code: TcpErrorCode,
    message: string,
    syscall = 'read',
  ) {
    super(message);
    this.errno = ERRNO[code];
    this.syscall = syscall;
  }
}

/** Linux errno values, negated as libuv reports them in `err.errno`. */
const ERRNO: Record<TcpErrorCode, number> = {
  ECONNREFUSED: -111,
  ECONNRESET: -104,
  ETIMEDOUT: -110,
  EPIPE: -32,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ECONNABORTED: -103,
  ENETUNREACH: -101,
};
