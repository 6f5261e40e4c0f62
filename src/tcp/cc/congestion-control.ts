/**
 * The congestion controller behind a TCP sender: the window policy only (how cwnd and ssthresh
 * grow and shrink), not loss detection or recovery. The engine detects loss (duplicate ACKs,
 * SACK, RTO), runs fast retransmit / fast recovery and any temporary window inflation, and tells
 * the controller what happened through the calls below. Nothing here reads a clock or does I/O:
 * every time is passed in, in milliseconds from the injected clock.
 *
 * Order of calls expected from the engine (see also the method comments):
 * - a new cumulative ACK (or newly SACKed data) outside loss recovery: {@link CongestionControl.onAck};
 * - fast retransmit / RFC 6675 loss detection, once per recovery episode (RFC 6582 3.2 step 1):
 *   {@link CongestionControl.onCongestionEvent} with FlightSize, before any RFC 5681 3.2
 *   inflation (the engine adds its 3*SMSS and 1*SMSS per further duplicate ACK to `cwnd` itself);
 * - ACKs during recovery: no call (partial-ACK deflation stays with the engine);
 * - the ACK that ends recovery (RFC 6582 full ACK, RFC 6675 exit): {@link CongestionControl.onRecoveryEnd}
 *   with the FlightSize left after that ACK, and not onAck for the same ACK;
 * - retransmission timeout: {@link CongestionControl.onTimeout} with FlightSize (SND.MAX - SND.UNA)
 *   before going back to SND.UNA; the engine leaves recovery if it was in it;
 * - a reduction found spurious (D-SACK, Eifel timestamps, F-RTO): {@link CongestionControl.undo};
 *   if still in recovery the engine leaves it without calling onRecoveryEnd.
 */
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export { INITIAL_SSTHRESH, initialWindow } from './window.js';

export type CcName = 'cubic' | 'newreno';

export interface AckSample {
  /** Bytes newly acknowledged cumulatively (and, with SACK, newly SACKed) by this ACK. */
  acked: number;
  /** ms, from the injected clock. */
  now: number;
  /** RTT sample of this ACK in ms, or -1 when it gives none. */
  rtt: number;
  /** Minimum RTT seen so far on the connection (ms), -1 if none yet. */
  minRtt: number;
  /** Bytes in flight before this ACK (SND.MAX - SND.UNA, or RFC 6675 pipe). */
  inFlight: number;
  /** Sequence space: SND.UNA after the ACK and SND.NXT (for round detection in HyStart++). */
  sndUna: number;
  sndNxt: number;
  /** True when the sender was limited by the application, not by cwnd (RFC 7661: don't grow). */
  appLimited: boolean;
}

export interface CongestionControl {
  readonly name: CcName;
  /** Congestion window and slow-start threshold, in bytes. */
  cwnd: number;
  ssthresh: number;
  /** An ACK of new data outside loss recovery: grow (slow start / congestion avoidance). */
  onAck(s: AckSample): void;
  /** Loss detected by fast retransmit / SACK (entering recovery, RFC 5681 3.2 / RFC 6675 5): reduce. `inFlight` is FlightSize. */
  onCongestionEvent(now: number, inFlight: number): void;
  /** Recovery ended (RFC 6582 full ACK / RFC 6675 exit): cwnd settles (e.g. to ssthresh). */
  onRecoveryEnd(now: number, inFlight: number): void;
  /** Retransmission timeout (RFC 5681 3.1 eq. 4, RFC 9438 4.8): ssthresh from FlightSize, cwnd = 1 MSS (loss window). */
  onTimeout(now: number, inFlight: number): void;
  /** The last reduction was spurious (D-SACK / timestamps, RFC 4015 style undo): restore the state before it. */
  undo(): void;
  /** Diagnostics: a few named numbers (e.g. wMax, k, epochStart) for stats and tests. */
  state(): Record<string, number>;
}

/** Tuning; every field has the default given in its comment. */
export interface CcOptions {
  /**
   * Slow-start growth limit per ACK in SMSS (RFC 3465 L): cwnd += min(acked, L * SMSS).
   * NewReno default 1 (RFC 5681 3.1 eq. 2, as the engine did before); CUBIC default 8, the
   * value RFC 9406 4.2 gives for senders that do not pace.
   */
  slowStartLimit?: number;
  /** CUBIC: fast convergence (RFC 9438 4.7, "SHOULD"); default true. */
  fastConvergence?: boolean;
  /** CUBIC: HyStart++ in the initial slow start (RFC 9406); default true. */
  hystart?: boolean;
}

/**
 * A controller with cwnd = IW (RFC 6928) and ssthresh = {@link INITIAL_SSTHRESH}.
 * `clockStartMs` is the clock's time at creation (the reference for app-limited time in CUBIC).
 */
export function createCongestionControl(
  name: CcName,
  mss: number,
  clockStartMs: number,
  options: CcOptions = {},
): CongestionControl {
  switch (name) {
    case 'newreno':
      return new NewReno(mss, options);
    case 'cubic':
      return new Cubic(mss, clockStartMs, options);
  }
}
