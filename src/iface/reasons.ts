/**
 * Why the interface dropped a frame or datagram, beyond the wire checkers' verdicts
 * ({@link DropReason}, which it counts too). A closed list, so that a misspelt reason is a type
 * error rather than a new counter: the CLI prints each as `drop.<reason>`.
 */
import type { DropReason } from '../wire/errors.js';

/** Every reason the IPv4 reassembler counts (reassembly.ts), mirrored into the interface's drops. */
export const REASSEMBLY_DROP_REASONS = [
  /** Fragments overlap or disagree about the datagram's end: the whole datagram goes (RFC 5722 4). */
  'frag-overlap',
  /** Incomplete when its 30 s were up, counted from the first fragment (RFC 1122 3.3.2). */
  'frag-timeout',
  /** Would end beyond a 16-bit Total Length ("ping of death", RFC 791 3.1). */
  'frag-too-big',
  /** Evicted, or refused, to keep reassembly within its memory or datagram bound. */
  'frag-memory',
  /** Empty, a non-last fragment not a multiple of 8 octets, or a bad offset (RFC 791 3.2). */
  'frag-bad-length',
  /** More distinct fragments than one datagram may have. */
  'frag-too-many',
] as const;

export type ReassemblyDrop = (typeof REASSEMBLY_DROP_REASONS)[number];

/** Every reason the interface itself counts (interface.ts, icmp.ts), reassembly included. */
export const IFACE_DROP_REASONS = [
  /** Destination a multicast MAC (we join no groups). */
  'eth-multicast',
  /** Destination another station's unicast MAC. */
  'eth-not-for-us',
  /** Source MAC a group (multicast or broadcast) address: no station sends from one. */
  'eth-bad-source',
  /** An IPv6 frame: not implemented. */
  'eth-ipv6',
  /** An EtherType neither IPv4, ARP nor IPv6. */
  'eth-unknown-type',
  /** Sender MAC zero, broadcast, multicast or ours: learning it would misdirect traffic (as Linux's arp_process). */
  'arp-bad-sender-mac',
  /** Sender IP the limited broadcast or multicast: no one host (as Linux's arp_process). */
  'arp-bad-sender',
  /** Another station claims our address (RFC 5227 2.4); we keep it and do not learn the claim. */
  'arp-address-conflict',
  /** Target IP not ours (after the RFC 826 merge); gratuitous ARP, sender equal to target, is not counted. */
  'arp-not-for-us',
  /** A datagram queued for a neighbour that never answered ARP (RFC 1122 2.3.2.2). */
  'arp-unresolved',
  /** Destination a multicast IPv4 address (we join no groups). */
  'ipv4-multicast',
  /** Destination neither ours nor a broadcast address. */
  'ipv4-not-for-us',
  /** Source broadcast, multicast, loopback or ours: not one host (RFC 1122 3.2.1.3). */
  'ipv4-bad-source',
  /** A protocol no handler takes; answered with Protocol Unreachable (RFC 1122 3.2.2.1). */
  'ipv4-unknown-protocol',
  /** Sent with no route to the destination, or a queued datagram whose next hop was gone when sent. */
  'ipv4-no-route',
  /** Sent with more than 65515 bytes of payload: no Total Length holds it (RFC 791 3.1). */
  'ipv4-too-big',
  /** Sent above the MTU with DF set (RFC 791 3.2). */
  'ipv4-needs-fragmentation',
  /** An echo request to a broadcast address, ignored unless configured (RFC 1122 3.2.2.6). */
  'icmp-broadcast-echo',
  /** An echo request beyond the reply rate limit. */
  'icmp-echo-rate-limit',
  /** An ICMP type neither echo, echo reply nor an error we know (RFC 1122 3.2.2: silently discarded). */
  'icmp-unhandled-type',
  ...REASSEMBLY_DROP_REASONS,
] as const;

export type IfaceDropReason = (typeof IFACE_DROP_REASONS)[number];

/** What the interface counts: its own reasons and the wire checkers' it forwards. */
export type IfaceCountedDrop = IfaceDropReason | DropReason;

/** The interface's drop counters; a reason never counted has no key. */
export type IfaceDrops = Partial<Record<IfaceCountedDrop, number>>;
