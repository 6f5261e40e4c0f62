/** Every {@link DropReason}, in layer order: the list the type is derived from. */
export const DROP_REASONS = [
  // Ethernet II (IEEE 802.3 clause 3.1.1)
  /** Shorter than the 14-byte Ethernet header. */
  'eth-truncated',
  // ARP (RFC 826); only Ethernet/IPv4 is supported
  /** Shorter than the fixed ARP header, or than an Ethernet/IPv4 ARP packet (28 bytes). */
  'arp-truncated',
  /** Hardware type not Ethernet (1). */
  'arp-bad-hardware',
  /** Protocol type not IPv4 (0x0800). */
  'arp-bad-protocol',
  /** Hardware or protocol address length not 6 and 4. */
  'arp-bad-lengths',
  /** Operation neither request (1) nor reply (2). */
  'arp-bad-op',
  // IPv4 (RFC 791, RFC 1122 3.2.1)
  /** Shorter than the 20-byte header or than its Total Length: a cut frame (as Linux's InTruncatedPkts). */
  'ipv4-truncated',
  /** Version not 4 (RFC 1122 3.2.1.1). */
  'ipv4-bad-version',
  /** IHL below 5 words, or beyond a frame whose Total Length is below it too (RFC 791 3.1). */
  'ipv4-bad-ihl',
  /** Total Length below the header length, the header fitting the frame (RFC 791 3.1). */
  'ipv4-bad-total-length',
  /** Header checksum wrong (RFC 1122 3.2.1.2: discard silently). */
  'ipv4-bad-checksum',
  /** Options not well formed (RFC 791 3.1 option format). */
  'ipv4-bad-options',
  // ICMP (RFC 792, RFC 1122 3.2.2)
  /** Shorter than the 8-byte ICMP header, or the message cut from the buffer. */
  'icmp-truncated',
  /** ICMP checksum wrong (RFC 792). */
  'icmp-bad-checksum',
  /** Parsed as an echo but of another type (parsers only). */
  'icmp-not-echo',
  /** Parsed as an error but of another type (parsers only). */
  'icmp-not-error',
  /** An error whose quote lacks an IPv4 header and 8 data bytes (RFC 792); parsers only. */
  'icmp-bad-quote',
  // TCP (RFC 9293 3.1); the checksum needs the pseudo header, so the caller checks it
  /** Shorter than the 20-byte TCP header, or its header cut from the buffer. */
  'tcp-truncated',
  /** Data Offset below 5 words or beyond the segment (RFC 9293 3.1). */
  'tcp-bad-data-offset',
  /** Options malformed: bad length, or a known kind of the wrong size (RFC 9293 3.2). */
  'tcp-bad-options',
  /** Checksum over the pseudo header wrong (RFC 9293 3.1); by the firmware's verdict or our sum. */
  'tcp-bad-checksum',
  // UDP (RFC 768, RFC 1122 4.1.3.4); the checksum needs the pseudo header, so the caller checks it
  /** Shorter than the 8-byte UDP header, or its header cut from the buffer. */
  'udp-truncated',
  /** Length field below 8 or beyond the IP payload (RFC 768; RFC 1122 4.1.3.4). */
  'udp-bad-length',
  /** Checksum over the pseudo header wrong (RFC 768; RFC 1122 4.1.3.4: discard silently). */
  'udp-bad-checksum',
  // DHCP (RFC 2131 2, RFC 2132); the UDP layer below checked the datagram
  /** Shorter than the BOOTP fixed part and the magic cookie (240 octets). */
  'dhcp-truncated',
  /** The options field does not start with the magic cookie 99.130.83.99 (RFC 2131 3). */
  'dhcp-bad-cookie',
  /** Hardware type not Ethernet or address length not 6: not for an Ethernet client. */
  'dhcp-bad-hardware',
  /** An option's length runs past its field, or a field lacks the End option (RFC 2131 4.1). */
  'dhcp-options-truncated',
  // DNS (RFC 1035 4)
  /** Shorter than the 12-octet header, or a name, question or record cut off. */
  'dns-truncated',
  /** A label of the reserved types 01 or 10 (RFC 1035 4.1.4, RFC 6891 5). */
  'dns-bad-label',
  /** A name over 255 octets (RFC 1035 2.3.4). */
  'dns-name-too-long',
  /** A compression pointer forward or past the message (RFC 1035 4.1.4: to a prior occurrence). */
  'dns-bad-pointer',
  /** A compression pointer into the labels that led to it: decoding would never end. */
  'dns-name-loop',
  /** RDATA of the wrong length for its type (A 4, AAAA 16), or a name in it not filling it. */
  'dns-bad-rdata',
  // virtio-net header (virtio spec 5.1.6)
  /** csum_start/csum_offset outside the frame (virtio 5.1.6.2). */
  'vnet-bad-csum-offsets',
] as const;

/**
 * Why a frame was dropped. Every checker in `wire/` answers with one of these (or null), and
 * the layers above count drops by them, so the names are stable: kebab-case, layer prefix.
 */
export type DropReason = (typeof DROP_REASONS)[number];

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
