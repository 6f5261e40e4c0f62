/** tapstack: a userspace Ethernet/IPv4 stack on a Linux TAP device with a zero-copy software NIC. */
export { Stack, type StackOptions } from './stack.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export * from './tap/index.js';
export * from './nic/index.js';
export { Interface, type InterfaceOptions, type Ipv4Datagram, type ProtocolHandler } from './iface/interface.js';
export { NeighborCache } from './iface/neighbor.js';
export { Reassembler } from './iface/reassembly.js';
export { PcapWriter, readPcap } from './pcap/writer.js';
export { parseSplitPolicy, formatSplitPolicy, type SplitPolicySpec } from '../firmware/split-policy.js';
export * as wire from './wire/index.js';
