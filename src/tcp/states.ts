/**
 * Properties of TCP states (RFC 9293 3.3.2).
 */
import type { TcpState } from './connection.js';

/**
 * A synchronized state (RFC 9293 3.5): both sides' initial sequence numbers are known, so a
 * segment is answered by its sequence and acknowledgement numbers (ESTABLISHED and every state
 * after it).
 */
export function isSynchronized(s: TcpState): boolean {
  return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN-SENT' && s !== 'SYN-RECEIVED';
}
