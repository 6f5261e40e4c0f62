/**
 * The one way a TCP segment leaves: data, retransmissions, pure ACKs, SYNs, and the segments
 * sent without a connection (control-segment.ts). The interface hands out one reused frame
 * (Interface.beginTransport); the header is written into it, data follows by reference to the
 * send queue's pages, and the commit says what TCP wants: segments of `segmentSize` (TSO) and
 * CWR on the first one only (RFC 3168 6.1.2). Offsets, descriptors, checksums and what to do
 * while ARP resolves are the interface's and the NIC's. Nothing is allocated here.
 */
import type { Interface } from '../iface/interface.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import { emitTcpHeader, TCP_CHECKSUM_OFFSET, TcpFlag, type TcpHeaderFields, type TcpOptionsToEmit } from '../wire/tcp.js';
import type { SendQueue } from './send-queue.js';

/**
 * Send one segment to `remote`: header `fields` with `opts` (`hdrLen` bytes in all), IP type of
 * service `tos`, and `len` bytes of `queue` from queue offset `from`. `segmentSize` > 0 makes a
 * TSO frame of segments that size. Bytes that had to be copied after all (the segment waited
 * for ARP) are marked so in the queue, for the zero-copy completions. Returns false when there
 * was no route (the interface dropped and counted it; the retransmission timer tries again).
 */
export function sendTcpSegment(
  iface: Interface,
  remote: number,
  fields: TcpHeaderFields,
  opts: TcpOptionsToEmit | undefined,
  hdrLen: number,
  tos: number,
  queue: SendQueue | null,
  from: number,
  len: number,
  segmentSize: number,
): boolean {
  const f = iface.beginTransport(remote, IPPROTO_TCP, hdrLen, len, tos);
  if (f === null) return false;
  emitTcpHeader(f.header, 0, fields, opts);
  if (len > 0) queue!.toFrame(f, from, len);
  const copied = f.commit(segmentSize, segmentSize > 0 && (fields.flags & TcpFlag.CWR) !== 0, TCP_CHECKSUM_OFFSET);
  if (copied > 0) queue!.markCopied(from, copied);
  return true;
}
