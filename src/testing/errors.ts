/** Typed errors of tapstack/testing: each names what went wrong and what to do about it. */

export type TestNetworkErrorCode =
  | 'EPERM' // not root: namespaces and TAPs need CAP_NET_ADMIN (and CAP_SYS_ADMIN for `ip netns`)
  | 'ENOTOOL' // a command the module runs (ip, setpriv) is missing
  | 'EADDRESS' // an address or subnet outside 198.18.0.0/15, or one that does not fit its subnet
  | 'EOPTION' // an option the stack would refuse (an --impair text it cannot parse)
  | 'ENOSUBNET' // every /24 of 198.19.0.0/16 is taken by live test networks
  | 'ENAME' // a namespace name that is not one of this module's
  | 'ESETUP' // creating the namespace, moving the TAP or configuring the kernel's side failed
  | 'ETEARDOWN' // deleting the namespace failed
  | 'ETIMEOUT' // a wait (a listener, a line of output) ran out
  | 'ECLOSED'; // the network was used after close()

export class TestNetworkError extends Error {
  override readonly name = 'TestNetworkError';
  constructor(
    readonly code: TestNetworkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
