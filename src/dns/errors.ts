/**
 * Lookup failures as Node's `dns.lookup` reports them (getaddrinfo's codes): `ENOTFOUND` when
 * the name does not exist or has no address, `EAI_AGAIN` when no server gave an answer
 * (timeouts, SERVFAIL, REFUSED). `code`, `errno`, `syscall` and `hostname` as Node sets them.
 */
export type DnsErrorCode = 'ENOTFOUND' | 'EAI_AGAIN';

/** libuv's UV_EAI_* values (uv-common / uv/errno.h), as Node puts them in `errno`. */
const ERRNO: Record<DnsErrorCode, number> = { ENOTFOUND: -3008, EAI_AGAIN: -3001 };

export class DnsError extends Error {
  override readonly name = 'DnsError';
  readonly errno: number;
  readonly syscall = 'getaddrinfo';
  constructor(
    readonly code: DnsErrorCode,
    readonly hostname: string,
    /** What happened, beyond the code (not in Node's message, which is only `getaddrinfo CODE host`). */
    readonly detail: string,
  ) {
    super(`getaddrinfo ${code} ${hostname}`);
    this.errno = ERRNO[code];
  }
}
