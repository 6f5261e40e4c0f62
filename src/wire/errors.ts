/**
 * Why a frame was dropped. Every checker in `wire/` answers with one of these (or null), and
 * the layers above count drops by them, so the names are stable: kebab-case, layer prefix.
 */
export type DropReason =
  // Ethernet II (IEEE 802.3 clause 3.1.1)
  | 'eth-truncated'
  // ARP (RFC 826); only Ethernet/IPv4 is supported
  | 'arp-truncated'
  | 'arp-bad-hardware'
  | 'arp-bad-protocol'
  | 'arp-bad-lengths'
  | 'arp-bad-op'
  // IPv4 (RFC 791, RFC 1122 3.2.1)
  | 'ipv4-truncated'
  | 'ipv4-bad-version'
  | 'ipv4-bad-ihl'
  | 'ipv4-bad-total-length'
  | 'ipv4-bad-checksum'
  | 'ipv4-bad-options'
  // ICMP (RFC 792, RFC 1122 3.2.2)
  | 'icmp-truncated'
  | 'icmp-bad-checksum'
  | 'icmp-not-echo'
  | 'icmp-not-error'
  | 'icmp-bad-quote'
  // TCP (RFC 9293 3.1); the checksum needs the pseudo header, so the caller checks it
  | 'tcp-truncated'
  | 'tcp-bad-data-offset'
  | 'tcp-bad-options'
  | 'tcp-bad-checksum'
  // virtio-net header (virtio spec 5.1.6): csum_start/csum_offset outside the frame
  | 'vnet-bad-csum-offsets';

/** A malformed packet met by a parser. Parsers throw only this; checkers return the reason. */
export class WireError extends Error {
  constructor(
    readonly reason: DropReason,
    message?: string,
  ) {
    super(message ?? reason);
    this.name = 'WireError';
  }
}
