/**
 * The one way a TCP segment leaves: data, retransmissions, pure ACKs, SYNs, and the segments
 * sent without a connection (control-segment.ts). The interface hands out one reused frame
 * (Interface.beginTransport); the header is written into it, data follows by reference to the
 * send queue's pages, and the commit says what TCP wants: segments of `segmentSize` (TSO) and
 * CWR on the first one only (RFC 3168 6.1.2). Offsets, descriptors, checksums and what to do
 * while ARP resolves are the interface's and the NIC's. Nothing is allocated here.
 */
import type { TransportEgress } from '../iface/transport.js';
import { IPPROTO_TCP } from '../wire/ipv4.js';
import { seqAdd, seqDiff, seqGe } from '../wire/seq.js';
import { emitTcpHeader, TCP_CHECKSUM_OFFSET, TcpFlag, type TcpHeaderFields, type TcpOptionsToEmit } from '../wire/tcp.js';
import type { TcpConnection } from './connection.js';
import { EcnState } from './ecn.js';
import { synOptions } from './handshake.js';
import type { SendQueue } from './send-queue.js';

/**
 * Send one segment to `remote`: header `fields` with `opts` (`hdrLen` bytes in all), IP type of
 * service `tos`, and `len` bytes of `queue` from queue offset `from`. `segmentSize` > 0 makes a
 * TSO frame of segments that size. Bytes that had to be copied after all (the segment waited
 * for ARP) are marked so in the queue, for the zero-copy completions. Returns false when there
 * was no route (the interface dropped and counted it; the retransmission timer tries again).
 */
export function sendTcpSegment(
  egress: TransportEgress,
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
  const f = egress.beginTransport(remote, IPPROTO_TCP, hdrLen, len, tos);
  if (f === null) return false;
  emitTcpHeader(f.header, 0, fields, opts);
  if (len > 0) queue!.toFrame(f, from, len);
  const copied = f.commit(segmentSize, segmentSize > 0 && (fields.flags & TcpFlag.CWR) !== 0, TCP_CHECKSUM_OFFSET);
  if (copied > 0) queue!.markCopied(from, copied);
  return true;
}

/** Reused for every connection segment (one thread; emitTcpHeader keeps neither). */
const connFields: TcpHeaderFields = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0 };
const connOpts: TcpOptionsToEmit = {};
const connTs = { tsVal: 0, tsEcr: 0 };

/**
 * Build and send one segment of connection `c`: sequence `seq`, `len` bytes of its send queue
 * from there, and `flags`; the sending half gives the data and ECN's marks, the receiving half
 * the ACK, the window and SACK blocks, the handshake the SYN's options. TSO for more than a
 * segment's worth.
 */
export function sendConnectionSegment(c: TcpConnection, seq: number, len: number, flags: number): void {
  const host = c.host;
  const snd = c.snd;
  const rcv = c.rcv;
  const ecn = c.ecn;
  const syn = (flags & TcpFlag.SYN) !== 0;
  const now = host.clock.nowMs();
  // ECN (ecn.ts): setup flags on SYNs (RFC 3168 6.1.1; a SYN resent twice gives up on ECN,
  // in case a middlebox drops ECN-setup SYNs, 6.1.1.1), ECE/CWR and ECT(0) for new data.
  const newData = len > 0 && !syn && seqGe(seq, snd.sndMax);
  if (!syn) flags |= ecn.outFlags(flags, newData);
  else if (flags & TcpFlag.ACK) flags |= ecn.ok ? TcpFlag.ECE : 0;
  else if (snd.backoffs < 2) flags |= EcnState.synFlags(host.config.ecn);
  const ipEcn = ecn.ipEcn(newData);
  if (len > 0 || flags & TcpFlag.FIN) snd.recovery.dataTransmitted(seq, len + (flags & TcpFlag.FIN ? 1 : 0), now);
  const o = connOpts;
  o.mss = undefined;
  o.windowScale = undefined;
  o.sackPermitted = false;
  o.timestamp = null;
  o.sackBlocks = undefined;
  o.sackBlockCount = 0;
  if (syn) {
    synOptions(c, o, connTs, now);
  } else {
    if (c.tsOk) {
      connTs.tsVal = c.tsNow(now);
      connTs.tsEcr = rcv.tsRecent;
      o.timestamp = connTs;
    }
    const sacks = rcv.sackCount;
    if (sacks > 0) {
      o.sackBlocks = rcv.ooo.sackBlocks;
      o.sackBlockCount = sacks;
    }
  }
  // The window: the right edge never moves left; SYNs carry it unscaled (RFC 7323 2.2).
  const window = rcv.advertise(syn);
  const hdrLen = 20 + optionsLength(o);
  // Each TSO piece carries these options too: its payload is what leaves room for them.
  const mssNow = snd.sndMss + (c.tsOk ? 32 : 20) - hdrLen;
  // A frame of new data whose last piece is shorter than a segment (a TSO frame's tail, too)
  // is the small segment Minshall's Nagle waits for (Linux tcp_minshall_update).
  if (newData && len % mssNow !== 0) snd.sndSml = seqAdd(seq, len);
  const f = connFields;
  f.srcPort = c.localPort;
  f.dstPort = c.remotePort;
  f.seq = seq;
  f.ack = flags & TcpFlag.ACK ? rcv.rcvNxt : 0;
  f.flags = flags;
  f.window = window;
  const tso = host.offload && len > mssNow ? mssNow : 0;
  sendTcpSegment(host.egress, c.remoteAddr, f, o, hdrLen, ipEcn, snd.sendQueue, seqDiff(seq, snd.sndUna), len, tso);
  host.stats.segmentsOut++;
  host.stats.bytesOut += len;
  if (flags & TcpFlag.ACK) rcv.ackSent();
}

/** {@link tcpOptionsLength} for the options a connection emits, without its generality. */
function optionsLength(o: TcpOptionsToEmit): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.timestamp) n += 12;
  else if (o.sackPermitted) n += 4;
  if (o.windowScale !== undefined) n += 4;
  if (o.sackBlocks && (o.sackBlockCount ?? 0) > 0) n += 4 + 8 * o.sackBlockCount!;
  return n;
}
