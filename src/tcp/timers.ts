/**
 * A connection's timers, as Linux's tcp_timer.c gathers them: which deadline comes next for the
 * layer's timer queue, and what each does when it fires: the retransmission timer (RFC 6298 5,
 * RFC 9293 3.8.3: the SYN's or the data's), RACK's reorder timer and the tail loss probe
 * (RFC 8985, recovery.ts), the delayed ACK (RFC 1122 4.2.3.2, receiver.ts), the persist timer
 * (RFC 9293 3.8.6.1, sender.ts), keepalive (RFC 1122 4.2.3.6), and the end of TIME-WAIT (2 MSL,
 * RFC 9293 3.6) or of an orphaned FIN-WAIT-2. The keepalive and lifetime deadlines are kept here;
 * the others belong to the part whose timer it is.
 */
import { seqAdd } from '../wire/seq.js';
import { TcpFlag } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import { TcpError } from './errors.js';
import { synTimeout } from './handshake.js';

export class ConnectionTimers {
  /** The end of TIME-WAIT, or of FIN-WAIT-2 for an orphan (clock ms; Infinity when off). */
  private closeAt = Infinity;
  private keepaliveAt = Infinity;
  private keepaliveEnabled = false;
  private keepaliveIdle: number;
  private keepaliveProbesSent = 0;

  constructor(private readonly c: TcpConnection) {
    this.keepaliveIdle = c.host.config.keepIdleMs;
  }

  /** The earliest deadline of any of the connection's timers. */
  deadline(): number {
    const c = this.c;
    return Math.min(c.snd.rtoAt, c.rcv.delackAt, c.snd.persistAt, this.keepaliveAt, this.closeAt, c.snd.recovery.deadline);
  }

  setKeepAlive(on: boolean, idleMs: number | undefined, now: number): void {
    this.keepaliveEnabled = on;
    if (idleMs && idleMs > 0) this.keepaliveIdle = idleMs;
    this.keepaliveProbesSent = 0;
    this.keepaliveAt = on ? now + this.keepaliveIdle : Infinity;
  }

  /** The peer is alive: keepalive starts counting its idle time again. */
  heardFromPeer(now: number): void {
    if (!this.keepaliveEnabled) return;
    this.keepaliveProbesSent = 0;
    this.keepaliveAt = now + this.keepaliveIdle;
  }

  /** TIME-WAIT (re)starts its 2 MSL wait. */
  timeWait(now: number): void {
    this.closeAt = now + 2 * this.c.host.config.mslMs;
    this.c.scheduleTimers();
  }

  /**
   * An orphan (the application closed without waiting) reached FIN-WAIT-2: it waits for the
   * peer's FIN only so long (Linux's tcp_fin_timeout), then ends with ETIMEDOUT.
   */
  finWait2(now: number): void {
    this.closeAt = now + this.c.host.config.finWait2TimeoutMs;
    this.c.scheduleTimers();
  }

  /** Keepalive and lifetime off (TIME-WAIT keeps its own). */
  stopKeepalive(): void {
    this.keepaliveAt = Infinity;
  }

  /** Run what is due at `now`. */
  run(now: number): void {
    const c = this.c;
    if (this.closeAt <= now) {
      this.closeAt = Infinity;
      if (c.state === 'TIME-WAIT') {
        c.terminate(null);
        return;
      }
      if (c.state === 'FIN-WAIT-2') {
        c.terminate(new TcpError('ETIMEDOUT', 'FIN-WAIT-2 timed out'));
        return;
      }
    }
    const snd = c.snd;
    if (snd.recovery.deadline <= now) snd.recovery.onTimer(now); // before the RTO: a PTO re-arms it
    if (snd.rtoAt <= now) {
      snd.rtoAt = Infinity;
      this.retransmitTimeout(now);
      if (c.state === 'CLOSED') return;
    }
    if (c.rcv.delackAt <= now) c.rcv.onDelackTimer();
    if (snd.persistAt <= now) {
      if (snd.zeroWindowProbesExhausted) {
        this.timedOut('zero window: the peer answered none of the probes');
        return;
      }
      snd.onPersistTimer(now);
    }
    if (this.keepaliveAt <= now) {
      this.keepaliveAt = Infinity;
      if (this.keepaliveEnabled && (c.state === 'ESTABLISHED' || c.state === 'CLOSE-WAIT')) this.keepaliveProbe(now);
    }
  }

  /** RFC 6298 5.5-5.6 with RFC 9293 3.8.3's limits: back off, then resend or give up. */
  private retransmitTimeout(now: number): void {
    const c = this.c;
    const snd = c.snd;
    const stats = c.host.stats;
    stats.timeouts++;
    snd.backoffs++;
    if (c.state === 'SYN-SENT' || c.state === 'SYN-RECEIVED') {
      synTimeout(c, now);
      return;
    }
    if (snd.sndUna === snd.sndMax) {
      snd.backoffs = 0;
      return;
    }
    // RFC 9293 3.8.6.2.1: a peer may shrink its window, even to zero with data outstanding, and
    // a window shrunk to zero is probed "in the standard way": the persist timer takes over.
    if (snd.sndWnd === 0 && snd.windowShrunkToZero(now)) return;
    if (snd.backoffs > c.host.config.maxRetransmits) {
      this.timedOut('connection timed out');
      return;
    }
    snd.goBack(now);
  }

  /** RFC 1122 4.2.3.6: an old sequence number makes the peer answer; too many unanswered ends it. */
  private keepaliveProbe(now: number): void {
    const c = this.c;
    const cfg = c.host.config;
    if (this.keepaliveProbesSent >= cfg.keepProbes) {
      this.timedOut('keepalive: peer does not answer');
      return;
    }
    this.keepaliveProbesSent++;
    c.host.stats.keepaliveProbes++;
    c.sendSegment(seqAdd(c.snd.sndUna, -1), 0, TcpFlag.ACK);
    this.keepaliveAt = now + cfg.keepIntervalMs;
  }

  /** Give up on the peer: ETIMEDOUT to the user, counted. */
  private timedOut(why: string): void {
    this.c.host.stats.connectionsTimedOut++;
    this.c.terminate(new TcpError('ETIMEDOUT', why));
  }

  /** CLOSED: every timer off. */
  stop(): void {
    this.keepaliveAt = Infinity;
    this.closeAt = Infinity;
  }
}
