/** tapstack: a userspace Ethernet/IPv4 stack on a Linux TAP device with a zero-copy software NIC. */
export { Stack, type StackOptions, type ConnectOptions } from './stack.js';
export { Socket, type SocketOptions } from './socket/socket.js';
export { Server, type ServerOptions } from './socket/server.js';
export { TcpError } from './tcp/errors.js';
export { DEFAULT_TCP_CONFIG, type TcpConfig } from './tcp/config.js';
export { systemClock, ManualClock, type Clock } from './clock.js';
export * from './tap/index.js';
export { Arena, PAGE_SIZE, PagePool, PageOwner, type PagePoolStats } from './mem/index.js';
export * from './nic/index.js';
export { Interface, type InterfaceOptions, type Ipv4Datagram, type ProtocolHandler } from './iface/interface.js';
export { NeighborCache } from './iface/neighbor.js';
export { Reassembler } from './iface/reassembly.js';
export { IFACE_DROP_REASONS, REASSEMBLY_DROP_REASONS, type IfaceDropReason, type IfaceDrops, type ReassemblyDrop } from './iface/reasons.js';
export { TCP_DROP_REASONS, type TcpDropReason, type TcpDrops } from './tcp/reasons.js';
export { PcapWriter, readPcap } from './pcap/writer.js';
export { parseSplitPolicy, formatSplitPolicy, type SplitPolicySpec } from '../firmware/split-policy.js';
export * as wire from './wire/index.js';
