/**
 * tapstack/testing: test your own code on tapstack against the real Linux kernel. Each test gets
 * a network namespace with a started tapstack Stack in the test's process on one side of a TAP
 * and the kernel on the other, kernel peers to run there, fault injection, and a capture kept
 * when the test fails. Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), iproute2 and /dev/net/tun.
 */
export { createTestNetwork, TestNetwork, type TestNetworkOptions, type TestStackOptions, type CloseOptions, type CloseReport, type KernelServer } from './network.js';
export { testNetwork, withTestNetwork, suiteFailed, type TestContextLike, type VitestContextLike, type NodeTestContextLike } from './frameworks.js';
export { PeerProcess, type PeerOptions, type PeerResult } from './peer-process.js';
export type { KernelServerMode, KernelConnectionReport } from './kernel-peers.js';
export { TestNetworkError, type TestNetworkErrorCode } from './errors.js';
export { sweepStaleNamespaces } from './netns.js';
export { TEST_RANGE } from './addresses.js';
export type { ImpairmentSpec } from '../../firmware/impairments.js';
