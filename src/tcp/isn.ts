/**
 * Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), M a timer ticking every 4 microseconds, F a keyed hash (here HMAC-SHA-256, keyed
 * with a random secret made at start). Connections to different peers get unrelated ISNs; a
 * new incarnation of the same quadruple gets a larger one (what RFC 6191 relies on).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';

export class IsnGenerator {
  private readonly secret: Buffer;
  private readonly tuple = Buffer.alloc(12);

  constructor(
    private readonly clock: Clock,
    secret?: Uint8Array,
  ) {
    this.secret = secret ? Buffer.from(secret) : randomBytes(16);
  }

  next(localIp: number, localPort: number, remoteIp: number, remotePort: number): number {
    const t = this.tuple;
    t.writeUInt32BE(localIp >>> 0, 0);
    t.writeUInt16BE(localPort, 4);
    t.writeUInt32BE(remoteIp >>> 0, 6);
    t.writeUInt16BE(remotePort, 10);
    const f = createHmac('sha256', this.secret).update(t).digest().readUInt32BE(0);
    const m = Math.floor((this.clock.nowMs() * 1000) / 4); // 4 us ticks
    return (f + m) >>> 0;
  }
}
