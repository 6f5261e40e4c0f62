/**
 * Why the DHCP client dropped a message: the wire checker's reasons (src/wire/dhcp.ts) and the
 * client's own, a closed list so that the CLI prints each as `drop.<reason>`.
 */
import type { DropReason } from '../wire/errors.js';

export const DHCP_DROP_REASONS = [
  /** op not BOOTREPLY (RFC 2131 2): a client's message, not a server's answer. */
  'dhcp-not-reply',
  /** xid not the one of our current exchange (RFC 2131 4.4.1). */
  'dhcp-wrong-xid',
  /** chaddr not our MAC: an answer to another client. */
  'dhcp-wrong-chaddr',
  /** From a server other than the one we chose (option 54, RFC 2131 4.4.1), or from port other than 67. */
  'dhcp-wrong-server',
  /** No option 53, or a value not a server's (OFFER, ACK, NAK). */
  'dhcp-bad-message-type',
  /** A server's message this state does not expect (an OFFER while requesting, anything while bound). */
  'dhcp-unexpected',
  /** An OFFER or ACK without a usable address, server identifier or lease time (RFC 2131 4.3.1). */
  'dhcp-bad-lease',
] as const;

export type DhcpClientDrop = (typeof DHCP_DROP_REASONS)[number];
/** The wire checker's DHCP reasons. */
export type DhcpWireDrop = Extract<DropReason, `dhcp-${string}`>;
export type DhcpDrop = DhcpClientDrop | DhcpWireDrop;
export type DhcpDrops = Partial<Record<DhcpDrop, number>>;
