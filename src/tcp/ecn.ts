/**
 * Explicit Congestion Notification for one connection (RFC 3168 section 6.1): a router that
 * would drop an ECN-capable packet marks it CE instead; the receiver echoes ECE on its ACKs
 * until the sender answers with CWR; the sender reduces its window as for a loss, once per
 * window of data, and nothing has to be retransmitted.
 *
 * - Negotiation (6.1.1): the SYN carries ECE and CWR, an agreeing SYN-ACK carries ECE alone.
 *   Either side turned off, or any other combination: no ECN on this connection.
 * - ECT(0) only on new data (6.1.5: not on retransmissions; 6.1.4/6.1.6: not on pure ACKs,
 *   window probes, SYNs or SYN-ACKs), so a CE mark always concerns data sent once.
 * - A SYN cookie carries the agreement in the SYN-ACK's timestamp (as Linux), see syn-cookies.ts.
 */
import { seqGt } from '../wire/seq.js';
import { TcpFlag } from '../wire/tcp.js';

/** IPv4 ECN field values (RFC 3168 5). */
export const ECN_NOT_ECT = 0;
export const ECN_ECT0 = 2;
export const ECN_CE = 3;

/** Where the counts go (the TCP layer's stats). */
export interface EcnStats {
  /** Connections that agreed to ECN. */
  ecnConnections: number;
  /** Segments that arrived with CE. */
  ecnCeReceived: number;
  /** Window reductions for ECEs. */
  ecnReductions: number;
}

export class EcnState {
  /** Both sides agreed to ECN. */
  ok = false;
  /** Receiver: a CE arrived and the peer has not answered with CWR yet: ECE on every ACK. */
  private echo = false;
  /** Sender: the window was reduced for an ECE; the next new data carries CWR. */
  private cwrPending = false;
  /** Sender: ECEs are not acted on again until SND.UNA reaches this (one reduction a window); -1 none. */
  private recover = -1;

  constructor(private readonly stats: EcnStats) {}

  /** The flags of our SYN (active open): ECE and CWR when ECN is on. */
  static synFlags(enabled: boolean): number {
    return enabled ? TcpFlag.ECE | TcpFlag.CWR : 0;
  }

  /** The peer's SYN (passive open, or simultaneous open): ECN if it asked with ECE and CWR. */
  onPeerSyn(flags: number, enabled: boolean): void {
    this.agree(enabled && (flags & (TcpFlag.ECE | TcpFlag.CWR)) === (TcpFlag.ECE | TcpFlag.CWR));
  }

  /** The SYN-ACK answering our SYN: ECN if it carries ECE and not CWR. */
  onSynAck(flags: number, enabled: boolean): void {
    this.agree(enabled && (flags & (TcpFlag.ECE | TcpFlag.CWR)) === TcpFlag.ECE);
  }

  /** The outcome of the handshake (also from a SYN cookie). */
  agree(ok: boolean): void {
    if (ok && !this.ok) this.stats.ecnConnections++;
    this.ok = ok;
  }

  /** An acceptable segment of this connection, with its IPv4 ECN field (RFC 3168 6.1.3). */
  onSegment(flags: number, ipEcn: number): void {
    if (!this.ok) return;
    // CWR first: a segment with CWR and CE starts a new echo.
    if (flags & TcpFlag.CWR) this.echo = false;
    if (ipEcn === ECN_CE) {
      this.echo = true;
      this.stats.ecnCeReceived++;
    }
  }

  /**
   * An ACK with ECE (not a SYN-ACK). True when the sender should reduce its window now: the
   * first ECE of a window of data (RFC 3168 6.1.2).
   */
  onEce(sndUna: number, sndMax: number): boolean {
    // Not again before our CWR went out and data beyond the reduction point was ACKed: until
    // then the peer keeps echoing the same mark (Linux: CWR state until SND.UNA > high_seq).
    if (!this.ok || this.cwrPending || (this.recover >= 0 && !seqGt(sndUna, this.recover))) return false;
    this.recover = sndMax;
    this.cwrPending = true;
    this.stats.ecnReductions++;
    return true;
  }

  /** A loss reduction counts too: no ECN reduction for the same window (RFC 3168 6.1.2). */
  onLossReduction(sndMax: number): void {
    this.recover = sndMax;
  }

  /**
   * Flags to add to a segment that is not a SYN: ECE while echoing (on every segment with
   * ACK), CWR on the first new data after a reduction.
   */
  outFlags(flags: number, newData: boolean): number {
    if (!this.ok) return 0;
    let f = this.echo && flags & TcpFlag.ACK ? TcpFlag.ECE : 0;
    if (newData && this.cwrPending) {
      f |= TcpFlag.CWR;
      this.cwrPending = false;
    }
    return f;
  }

  /** The IPv4 ECN field of a segment: ECT(0) for new data on an ECN connection. */
  ipEcn(newData: boolean): number {
    return this.ok && newData ? ECN_ECT0 : ECN_NOT_ECT;
  }
}
