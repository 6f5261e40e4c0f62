/**
 * Segments sent without a connection: the RST of a closed port (RFC 9293 3.10.7.1), the RST
 * of a connection being reset, and the SYN-ACK of a SYN cookie (RFC 4987 3.6). Under a SYN
 * flood these are most of what goes out, so they take the data segments' path (output.ts):
 * the header written straight into the interface's reused frame, no allocation. Only when the
 * next hop's MAC is not known yet does the interface queue a copy.
 */
import type { TransportEgress } from '../iface/transport.js';
import { tcpOptionsLength, type TcpHeaderFields, type TcpOptionsToEmit } from '../wire/tcp.js';
import { sendTcpSegment } from './output.js';

export interface ControlHost {
  readonly egress: TransportEgress;
  readonly stats: { segmentsOut: number };
}

/** Reused for every control segment (one thread, and emitTcpHeader does not keep it). */
const fields: TcpHeaderFields = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0 };

/** Send a TCP segment without payload. */
export function sendControlSegment(
  host: ControlHost,
  remote: number,
  localPort: number,
  remotePort: number,
  seq: number,
  ack: number,
  flags: number,
  window: number,
  opts?: TcpOptionsToEmit,
): void {
  fields.srcPort = localPort;
  fields.dstPort = remotePort;
  fields.seq = seq;
  fields.ack = ack;
  fields.flags = flags;
  fields.window = window;
  if (sendTcpSegment(host.egress, remote, fields, opts, 20 + tcpOptionsLength(opts), 0, null, 0, 0, 0)) host.stats.segmentsOut++;
}
