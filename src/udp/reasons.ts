/**
 * Why the UDP layer dropped a datagram, beyond the wire checker's verdicts ({@link DropReason}'s
 * `udp-*`, which it counts too). A closed list, so that a misspelt reason is a type error rather
 * than a new counter: the CLI prints each as `drop.<reason>`.
 */
import type { DropReason } from '../wire/errors.js';

/** Every reason the UDP layer and its sockets count (udp-layer.ts, src/socket/dgram.ts). */
export const UDP_DROP_REASONS = [
  /** No socket bound to the destination port (or none whose address and peer match): answered with Port Unreachable unless broadcast (RFC 1122 4.1.3.1). */
  'udp-no-port',
  /** The socket's receive queue held its receive buffer's worth of bytes already (SO_RCVBUF). */
  'udp-rcvbuf',
] as const;

export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];

/** What the UDP layer counts: its own reasons and the wire checker's it forwards. */
export type UdpCountedDrop = UdpDropReason | DropReason;

/** The UDP layer's drop counters; a reason never counted has no key. */
export type UdpDrops = Partial<Record<UdpCountedDrop, number>>;
