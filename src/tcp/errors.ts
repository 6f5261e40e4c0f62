/** Errors a TCP connection ends with, carrying the codes Node's net module uses. */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EPIPE' | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'ECONNABORTED' | 'ENETUNREACH' | 'EHOSTUNREACH';

export class TcpError extends Error {
  override readonly name = 'TcpError';
  readonly errno: number;
  readonly syscall: string;
  /** The peer's address and port, on errors of `connect` (as Node's exceptionWithHostPort sets them). */
  address?: string;
  port?: number;
  constructor(
    readonly code: TcpErrorCode,
    message: string,
    syscall = 'read',
  ) {
    super(message);
    this.errno = ERRNO[code];
    this.syscall = syscall;
  }

  /** The error as Node's connect reports it: `connect CODE address:port`, with `address` and `port`. */
  static connect(code: TcpErrorCode, address: string, port: number): TcpError {
    const e = new TcpError(code, `connect ${code} ${address}:${port}`, 'connect');
    e.address = address;
    e.port = port;
    return e;
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
  EHOSTUNREACH: -113,
};
