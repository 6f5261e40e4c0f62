/**
 * What the DHCP and DNS clients use of the UDP layer (`stack.udp`, src/udp/): binding a port
 * and sending from it. The clients are written against this seam so that their unit tests run
 * on a simulated server with no interface under them.
 */
import type { RxPayload } from '../mem/rx-payload.js';
import type { Ipv4Addr } from '../wire/addr.js';

export interface UdpDatagram {
  src: Ipv4Addr;
  srcPort: number;
  dst: Ipv4Addr;
  dstPort: number;
  /** Valid only during the call. */
  payload: RxPayload;
}

export interface UdpEndpoint {
  receive(d: UdpDatagram): void;
  icmpError?(e: { type: number; code: number; dst: Ipv4Addr; dstPort: number }): void;
}

export interface UdpSendOptions {
  /** Source address instead of the interface's (0.0.0.0 allowed). */
  source?: Ipv4Addr;
  /** Permit 255.255.255.255 / the subnet broadcast. */
  broadcast?: boolean;
}

export interface UdpPort {
  readonly port: number;
  send(dst: Ipv4Addr, dstPort: number, data: Uint8Array, opts?: UdpSendOptions): void;
  close(): void;
}

export interface UdpBinder {
  /** Port 0: ephemeral; address 0: any local address. Throws (code EADDRINUSE) when taken. */
  bind(address: Ipv4Addr, port: number, endpoint: UdpEndpoint): UdpPort;
}

/** A datagram's payload as bytes (a copy: the payload is valid only during the call). */
export function payloadBytes(d: UdpDatagram): Uint8Array {
  const out = new Uint8Array(d.payload.length);
  d.payload.copyOut(0, out.length, out, 0);
  return out;
}
