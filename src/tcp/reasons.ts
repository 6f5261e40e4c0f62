/**
 * Why the TCP layer dropped (or only counted) a segment, beyond the wire checkers' verdicts
 * ({@link DropReason}'s `tcp-*`, which it counts too). A closed list, so that a misspelt reason is
 * a type error rather than a new counter: the CLI prints each as `drop.<reason>`.
 */
import type { DropReason } from '../wire/errors.js';
import { SACK_BLOCK_REJECTS } from './sack-scoreboard.js';

/** Every reason the TCP layer and its connections count (tcp-layer.ts, connection.ts, the SACK scoreboard). */
export const TCP_DROP_REASONS = [
  /** SYN together with FIN or RST: no valid segment carries both. */
  'tcp-bad-flags',
  /** Addressed to a broadcast address: TCP is unicast only (RFC 1122 4.2.3.10). */
  'tcp-not-unicast',
  /** For a listener, without SYN, ACK or RST (RFC 9293 3.10.7.2, "fourth"). */
  'tcp-listen-no-syn',
  /** A SYN, or a valid SYN-cookie ACK, beyond the global connection limit. */
  'tcp-connection-limit',
  /** A SYN for a listener whose SYN queue is full, with SYN cookies off. */
  'tcp-listen-overflow',
  /** TSval older than TS.Recent: an old duplicate (RFC 7323 5.3, PAWS); answered with an ACK. */
  'tcp-paws',
  /** Data into a zero receive window (RFC 9293 3.10.7.4, "first"); answered with an ACK. */
  'tcp-zero-window',
  /** Unacceptable and starting below RCV.NXT: an old duplicate (RFC 9293 3.10.7.4, "first"). */
  'tcp-old-duplicate',
  /** Unacceptable and beyond the receive window (RFC 9293 3.10.7.4, "first"). */
  'tcp-outside-window',
  /** RST in the window but not at RCV.NXT: answered with a challenge ACK (RFC 5961 3.2). */
  'tcp-rst-in-window',
  /** SYN in a synchronized state: answered with a challenge ACK (RFC 5961 4.2). */
  'tcp-syn-in-window',
  /** URG set: the pointer is ignored and the data delivered inline (RFC 6093); the segment is kept. */
  'tcp-urgent-ignored',
  /** Data that would take the page pool's reserve: dropped unacknowledged, window retracted to zero. */
  'tcp-rx-memory',
  /** Out-of-order data beyond the connection's bound (maxOutOfOrderBytes). */
  'tcp-ooo-limit',
  /** Out-of-order data beyond the bound over all connections (maxOutOfOrderBytesTotal). */
  'tcp-ooo-global-limit',
  ...SACK_BLOCK_REJECTS,
] as const;

export type TcpDropReason = (typeof TCP_DROP_REASONS)[number];

/** What the TCP layer counts: its own reasons and the wire checkers' it forwards. */
export type TcpCountedDrop = TcpDropReason | DropReason;

/** The TCP layer's drop counters; a reason never counted has no key. */
export type TcpDrops = Partial<Record<TcpCountedDrop, number>>;
