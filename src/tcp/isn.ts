/**
 * Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a timer ticking every 4 microseconds, F a keyed hash (SipHash-2-4 as in Linux's
 * secure_tcp_seq, keyed with a random secret made at start). Connections to different peers get unrelated ISNs; a
 * new incarnation of the same quadruple gets a larger one (what RFC 6191 relies on).
 */
import type { Clock } from '../clock.js';
import { SipHash, sipKey } from './siphash.js';

export class IsnGenerator {
  private readonly sip: SipHash;
  private readonly tuple = Buffer.alloc(12);

  constructor(
    private readonly clock: Clock,
    secret: Uint8Array,
  ) {
    this.sip = new SipHash(sipKey(secret));
  }

  next(localIp: number, localPort: number, remoteIp: number, remotePort: number): number {
    const t = this.tuple;
    t.writeUInt32BE(localIp >>> 0, 0);
    t.writeUInt16BE(localPort, 4);
    t.writeUInt32BE(remoteIp >>> 0, 6);
    t.writeUInt16BE(remotePort, 10);
    const f = this.sip.hash(t);
    const m = Math.floor((this.clock.nowMs() * 1000) / 4); // 4 us ticks
    return (f + m) >>> 0;
  }
}
