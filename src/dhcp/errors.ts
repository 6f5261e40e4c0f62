/** The DHCP client's failures, with a code as Node errors carry one. */
export type DhcpErrorCode = 'ETIMEDOUT' | 'ENOTCONF';

export class DhcpError extends Error {
  override readonly name = 'DhcpError';
  constructor(
    readonly code: DhcpErrorCode,
    message: string,
  ) {
    super(message);
  }
}
