/**
 * Segments sent without a connection: the RST of a closed port (RFC 9293 3.10.7.1), the RST
 * of a connection being reset, and the SYN-ACK of a SYN cookie (RFC 4987 3.6). Under a SYN
 * flood these are most of what goes out, so they are built where data segments are: straight
 * in a transmit descriptor's header buffer, no allocation. Only when the next hop's MAC is not
 * known yet does a copy go to the interface's ARP queue.
 */
import type { Interface } from '../iface/interface.js';
import type { Nic } from '../nic/nic.js';
import { foldChecksum, onesComplementSum, pseudoHeaderSum } from '../wire/checksum.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import { emitTcpHeader, tcpOptionsLength, type TcpHeaderFields, type TcpOptionsToEmit } from '../wire/tcp.js';

/** Where the TCP header starts in a transmit header buffer: Ethernet 14 + IPv4 20. */
const L4 = 34;

export interface ControlHost {
  readonly nic: Nic;
  readonly iface: Interface;
  readonly localAddr: number;
  readonly stats: { segmentsOut: number };
}

/** Reused for every control segment (one thread, and emitTcpHeader does not keep it). */
const fields: TcpHeaderFields = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0 };

/** Send a TCP segment without payload, its checksum computed here (it is a header's worth). */
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
  const len = 20 + tcpOptionsLength(opts);
  const iface = host.iface;
  const d = iface.txIpv4(remote, IPPROTO_TCP, len, true);
  if (d === -2) return; // no route: dropped and counted
  let buf: Uint8Array;
  let off: number;
  if (d >= 0) {
    buf = host.nic.txHeader(d);
    off = L4;
  } else {
    buf = new Uint8Array(len);
    off = 0;
  }
  emitTcpHeader(buf, off, fields, opts);
  const c = foldChecksum(onesComplementSum(buf, off, off + len, pseudoHeaderSum(host.localAddr, remote, IPPROTO_TCP, len)));
  buf[off + 16] = c >>> 8;
  buf[off + 17] = c & 0xff;
  if (d >= 0) host.nic.txCommit(d, L4 + len);
  else iface.sendIpv4(remote, IPPROTO_TCP, buf, { dontFragment: true });
  host.stats.segmentsOut++;
}
