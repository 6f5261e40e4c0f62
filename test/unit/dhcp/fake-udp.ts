/** A UDP layer for the clients' unit tests: records what they send, delivers what a test's server answers. */
import type { UdpDatagram, UdpEndpoint, UdpPort, UdpSendOptions } from '../../../src/udp/udp-layer.js';
import type { Ipv4Addr } from '../../../src/wire/addr.js';

export interface Sent {
  from: number;
  dst: Ipv4Addr;
  dstPort: number;
  data: Uint8Array;
  opts: UdpSendOptions | undefined;
}

export class FakeUdp {
  readonly sent: Sent[] = [];
  readonly bound = new Map<number, UdpEndpoint>();
  private next = 40000;

  bind(_address: Ipv4Addr, port: number, endpoint: UdpEndpoint): UdpPort {
    const p = port === 0 ? this.next++ : port;
    if (this.bound.has(p)) throw Object.assign(new Error('in use'), { code: 'EADDRINUSE' });
    this.bound.set(p, endpoint);
    const sent = this.sent;
    const bound = this.bound;
    return {
      port: p,
      send(dst, dstPort, data, opts) {
        sent.push({ from: p, dst, dstPort, data: data.slice(), opts });
      },
      close() {
        bound.delete(p);
      },
    };
  }

  /** Deliver `data` to the endpoint bound on `dstPort`. */
  deliver(src: Ipv4Addr, srcPort: number, dst: Ipv4Addr, dstPort: number, data: Uint8Array): void {
    const e = this.bound.get(dstPort);
    if (!e) throw new Error(`nothing bound on ${dstPort}`);
    const d: UdpDatagram = {
      src,
      srcPort,
      dst,
      dstPort,
      payload: {
        length: data.length,
        copyOut: (from, len, out, off) => out.set(data.subarray(from, from + len), off),
        takePages: () => 'unaligned',
      },
    };
    e.receive(d);
  }

  take(): Sent[] {
    return this.sent.splice(0);
  }
}
