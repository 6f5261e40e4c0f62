/**
 * Why the resolver dropped an answer: the wire checker's reasons (src/wire/dns.ts) and its own,
 * a closed list so that the CLI prints each as `drop.<reason>`.
 */
import type { DropReason } from '../wire/errors.js';

export const DNS_DROP_REASONS = [
  /** Not from the server and port 53 the query went to (RFC 5452 9.1). */
  'dns-wrong-source',
  /** QR clear: a query, not an answer. */
  'dns-not-response',
  /** ID not the query's (RFC 1035 7.3, RFC 5452 9.1). */
  'dns-wrong-id',
  /** The question section does not repeat ours (RFC 5452 9.1). */
  'dns-question-mismatch',
] as const;

export type DnsClientDrop = (typeof DNS_DROP_REASONS)[number];
export type DnsWireDrop = Extract<DropReason, `dns-${string}`>;
export type DnsDrop = DnsClientDrop | DnsWireDrop;
export type DnsDrops = Partial<Record<DnsDrop, number>>;
