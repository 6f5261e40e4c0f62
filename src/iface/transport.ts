/**
 * What a transport sees of the interface when it sends: the MTU and one frame at a time to
 * fill (the transmit seam, docs/ARCHITECTURE.md section 5). {@link Interface} and its
 * {@link TxFrame} are the implementation; a protocol's unit tests give a small fake instead, so
 * a connection runs without a NIC or an interface.
 */
import type { Ipv4Addr } from '../wire/addr.js';

/** One outgoing datagram being built (TxFrame's contract). */
export interface TransportFrame {
  /** The transport header, from offset 0, valid until {@link commit}. */
  readonly header: Uint8Array;
  /** Add `len` bytes of pool page `page` from `offset`, by reference. */
  appendPage(page: number, offset: number, len: number): void;
  /** Add `bytes[start, end)` by copy. */
  appendBytes(bytes: Uint8Array, start: number, end: number): void;
  /**
   * Send it: segments of `segmentSize` payload (TSO) when > 0, CWR on the first only when
   * `ecn`, the checksum field at `csumOffset` of the header. Returns how many bytes appended by
   * reference were copied after all.
   */
  commit(segmentSize: number, ecn: boolean, csumOffset: number): number;
}

/** Where a transport's datagrams leave. */
export interface TransportEgress {
  readonly mtu: number;
  /** How many payload parts (pages or copied runs, appended separately) one frame takes. */
  readonly maxPayloadParts: number;
  /** A frame to `dst` with an `l4HeaderLen`-byte header and `payloadLen` bytes after it; null without a route (counted). */
  beginTransport(dst: Ipv4Addr, protocol: number, l4HeaderLen: number, payloadLen: number, tos: number): TransportFrame | null;
}
