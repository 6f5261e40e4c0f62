/**
 * Loss recovery of one connection, behind one interface, as gVisor splits reno_recovery.go from
 * sack_recovery.go and Linux keeps tcp_recovery.c apart from the connection: fast retransmit and
 * NewReno recovery (RFC 5681 3.2, RFC 6582) for a peer without SACK (reno-recovery.ts);
 * SACK-based recovery (RFC 6675) driven by RACK-TLP's loss marks (RFC 8985) for a peer with it
 * (sack-recovery.ts). What both share, the retransmission timeout's part (RFC 6298 5,
 * RFC 5681 3.1), spurious-retransmission undo (RFC 3708, RFC 3522) and the congestion response
 * to an ACK outside recovery, is in recovery-base.ts.
 *
 * An implementation owns the recovery state (the SACK scoreboard, RACK-TLP, the undo detector,
 * the duplicate ACK count, the recovery point) and decides what to retransmit; the connection
 * calls it on every acceptable ACK, in its send loop and on its timers, and it sends through the
 * connection ({@link RecoveryConnection}: the send sequence space, the send queue, the
 * congestion controller, and one segment at a time). The algorithms themselves are in
 * sack-scoreboard.ts, rack.ts, spurious-undo.ts and cc/.
 */
import type { CongestionControl } from './cc/congestion-control.js';
import type { SegmentIn, TcpHost, TcpState } from './connection.js';
import type { RackTlp } from './rack.js';
import { RenoRecovery } from './reno-recovery.js';
import type { RttEstimator } from './rtt.js';
import type { SackBlockReject, SackScoreboard, SackUpdate } from './sack-scoreboard.js';
import { SackRecovery } from './sack-recovery.js';
import type { SendQueue } from './send-queue.js';
import type { SpuriousUndo } from './spurious-undo.js';
import type { LoggedConnection } from './event-log.js';

/** What loss recovery reads of its connection, and how it sends. */
export interface RecoveryConnection {
  readonly host: TcpHost;
  readonly state: TcpState;
  readonly sndUna: number;
  /** Moved by what recovery sends: new data in recovery and tail loss probes. */
  sndNxt: number;
  sndMax: number;
  readonly sndWnd: number;
  readonly sndMss: number;
  readonly tsOk: boolean;
  readonly sendQueue: SendQueue;
  readonly finQueued: boolean;
  readonly finSeq: number;
  readonly cc: CongestionControl;
  readonly rtt: RttEstimator;
  rtoAt: number;
  readonly backoffs: number;
  /** The segment timed for an RTT sample without timestamps (-1: none); Karn clears it. */
  rttSeq: number;
  /** The RTT sample of the ACK being processed (-1: none), and the smallest seen. */
  readonly lastRtt: number;
  readonly minRtt: number;
  effectiveMss(): number;
  dataStart(): number;
  sendSegment(seq: number, len: number, flags: number): void;
  /** Count one segment sent again, for the connection (tcp_info's total_retrans) and the layer. */
  countRetransmit(bytes: number): void;
  markDirty(): void;
  armRto(): void;
  tsNow(now: number): number;
  /** Make sure the connection's timers (RACK's among them, see {@link LossRecovery.deadline}) are scheduled. */
  scheduleTimers(): void;
  /** How the log names the connection. */
  readonly logName: LoggedConnection;
}

/** What the connection calls of its loss recovery, NewReno's or SACK's alike. */
export interface LossRecovery {
  /** The SACK scoreboard (RFC 6675) when the peer agreed to SACK, else null. */
  readonly sb: SackScoreboard | null;
  /** RACK-TLP loss detection (RFC 8985): with SACK only; its marks drive the scoreboard's IsLost. */
  readonly rack: RackTlp | null;
  /** Spurious-retransmission detection for the congestion controller's undo (RFC 3708, RFC 3522). */
  readonly undo: SpuriousUndo;
  /** Duplicate ACKs since new data was last acknowledged (RFC 5681 2). */
  readonly dupAcks: number;
  /** In fast recovery (NewReno's or RFC 6675's), until the ACK of {@link recover}. */
  readonly inRecovery: boolean;
  /** SND.MAX when the last recovery or timeout began (RFC 6582 "recover"). */
  recover: number;
  /** The connection is established: the scoreboard, if any, starts at SND.UNA. */
  sync(): void;
  /** An acceptable ACK's SACK information, before SND.UNA moves. Null without SACK. */
  takeSack(seg: SegmentIn, maxWindow: number, now: number): SackUpdate | null;
  /** SND.UNA moved forward (after the connection took the cumulative ACK). */
  afterCumulativeAck(now: number): void;
  /** New data acknowledged: the congestion response, or the next step of a recovery. */
  congestionOnAck(acked: number, flightBefore: number, now: number): void;
  /** A duplicate ACK (RFC 5681 2, or RFC 6675 2: one that SACKs new data). */
  duplicateAck(): void;
  /** After each acceptable ACK: RACK's recovery entry, spurious undo, the PTO. */
  lossRecoveryAfterAck(seg: SegmentIn, u: SackUpdate | null, sndUnaBefore: number, recoveringBefore: boolean, now: number): void;
  /** Recovery's part of the send loop, before new data (RFC 6675 5 (C) in SACK recovery); whether anything went out. */
  output(): boolean;
  /** Fast recovery, or RTO recovery until RecoveryPoint (RFC 6675 5.1). */
  recovering(): boolean;
  /** The retransmission timer fired with data outstanding. */
  onTimeout(now: number): void;
  /** The next deadline of RACK's reorder timer or the PTO (Infinity: none). */
  readonly deadline: number;
  /** {@link deadline} passed. */
  onTimer(now: number): void;
  /** [seq, seq + n) is going out (data, or a FIN). */
  dataTransmitted(seq: number, n: number, now: number): void;
}

/**
 * The recovery for what the handshake agreed: RFC 6675 with a scoreboard when the peer takes
 * SACK (its rejected blocks counted through `onReject`), with RACK-TLP when configured
 * (RFC 8985 2: RACK-TLP needs SACK); without SACK, NewReno. It takes over `prev`'s shared state,
 * the recovery point above all, which the open paths set from the ISS before the options are
 * known.
 */
export function createLossRecovery(
  c: RecoveryConnection,
  prev: LossRecovery,
  sack: boolean,
  rack: boolean,
  mss: number,
  onReject: (reason: SackBlockReject) => void,
): LossRecovery {
  return sack ? new SackRecovery(c, prev, rack, mss, onReject) : new RenoRecovery(c, prev);
}
