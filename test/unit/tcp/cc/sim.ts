/**
 * A window-limited sender in front of a congestion controller, driven round by round with
 * explicit times: every round acknowledges, one segment per ACK, everything that was
 * outstanding when it began; the sender refills up to cwnd after each ACK (ACK clocking), so
 * the data sent during a round is acknowledged in the next one, as on a path with a fixed RTT.
 */
import type { AckSample, CongestionControl } from '../../../../src/tcp/cc/congestion-control.js';
import { seqAdd, seqDiff } from '../../../../src/wire/seq.js';

export class Flow {
  now: number;
  una: number;
  nxt: number;
  minRtt = -1;
  /** Calls made to onAck, for tests that inspect them. */
  acks = 0;

  constructor(
    readonly cc: CongestionControl,
    readonly mss: number,
    opts: { now?: number; isn?: number } = {},
  ) {
    this.now = opts.now ?? 0;
    this.una = (opts.isn ?? 1000) >>> 0;
    this.nxt = this.una;
  }

  /** Bytes outstanding (SND.NXT - SND.UNA). */
  get inFlight(): number {
    return seqDiff(this.nxt, this.una);
  }

  /** Send new data up to cwnd. */
  fill(): void {
    const room = this.cc.cwnd - this.inFlight;
    if (room > 0) this.nxt = seqAdd(this.nxt, Math.floor(room));
  }

  /**
   * One round trip of `rtt` ms (a number, or the RTT of the i-th ACK of the round). With
   * `spread`, the ACKs arrive evenly over the round (the last one at its end); otherwise all at
   * its end. Returns the number of ACKs.
   */
  round(rtt: number | ((i: number) => number), opts: { spread?: boolean; appLimited?: boolean } = {}): number {
    if (this.inFlight === 0) this.fill();
    const end = this.nxt;
    const t0 = this.now;
    const rttOf = typeof rtt === 'number' ? () => rtt : rtt;
    const n = Math.ceil(seqDiff(end, this.una) / this.mss);
    const roundLen = rttOf(0);
    for (let i = 0; i < n; i++) {
      const at = opts.spread ? t0 + ((i + 1) * roundLen) / n : t0 + roundLen;
      this.ack(Math.min(this.mss, seqDiff(end, this.una)), at, rttOf(i), opts.appLimited ?? false);
      this.fill();
    }
    this.now = t0 + roundLen;
    return n;
  }

  /** One ACK of `acked` bytes at `now` with an RTT sample. */
  ack(acked: number, now: number, rtt: number, appLimited = false): void {
    if (rtt >= 0) this.minRtt = this.minRtt < 0 ? rtt : Math.min(this.minRtt, rtt);
    const inFlight = this.inFlight;
    this.una = seqAdd(this.una, acked);
    const s: AckSample = {
      acked,
      now,
      rtt,
      minRtt: this.minRtt,
      inFlight,
      sndUna: this.una,
      sndNxt: this.nxt,
      appLimited,
    };
    this.acks++;
    this.cc.onAck(s);
  }
}
