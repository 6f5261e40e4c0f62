/**
 * What happens to connections, for `DEBUG=tapstack:tcp`: state changes, resets sent and
 * received with why, retransmission timeouts, recovery episodes, zero-window stalls. Events are
 * rare next to segments, and each costs one check of `enabled` while logging is off. A flood
 * (a SYN flood's resets, a scan) cannot drown the log: at most {@link BURST} lines, refilled at
 * {@link PER_SECOND} a second on the stack's clock; what was left out is counted and said.
 */
import debugFactory from 'debug';
import type { Clock } from '../clock.js';
import { formatIpv4 } from '../wire/addr.js';

const debug = debugFactory('tapstack:tcp');

/** Lines a second, and the burst allowed. */
const PER_SECOND = 100;
const BURST = 200;

let tokens = BURST;
let refilledAt = -Infinity;
let suppressed = 0;

/** The parts of a connection a line names it by. */
export interface LoggedConnection {
  readonly id: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly localPort: number;
}

/** Whether lines would be written at all (check before building arguments). */
export function tcpLogEnabled(): boolean {
  return debug.enabled;
}

/** One line about connection `c` (or the layer, for null), subject to the rate limit. */
export function tcpEvent(clock: Clock, c: LoggedConnection | null, format: string, ...args: unknown[]): void {
  if (!debug.enabled) return;
  const now = clock.nowMs();
  if (refilledAt === -Infinity) refilledAt = now;
  tokens = Math.min(BURST, tokens + ((now - refilledAt) * PER_SECOND) / 1000);
  refilledAt = now;
  if (tokens < 1) {
    suppressed++;
    return;
  }
  tokens--;
  if (suppressed > 0) {
    debug('(%d events not logged: more than %d a second)', suppressed, PER_SECOND);
    suppressed = 0;
  }
  if (c) debug(`#%d %s:%d > :%d ${format}`, c.id, formatIpv4(c.remoteAddr), c.remotePort, c.localPort, ...args);
  else debug(format, ...args);
}

/** @internal Tests: start the rate limit afresh. */
export function resetTcpEventLog(): void {
  tokens = BURST;
  refilledAt = -Infinity;
  suppressed = 0;
}
