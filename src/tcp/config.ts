/** TCP settings, with the RFC or Linux default each one follows. */
export interface TcpConfig {
  /** Receive buffer per connection: bounds the advertised window (Linux autotunes up to 6 MiB). */
  rcvBuf: number;
  /** Send buffer per connection: how much written data is held before write() says "wait". */
  sndBuf: number;
  /** RFC 6298 2.4: RTO at least 1 s "SHOULD"; Linux and most stacks use 200 ms (TCP_RTO_MIN). */
  rtoMinMs: number;
  /** RFC 6298 2.5: a maximum of at least 60 s; Linux TCP_RTO_MAX is 120 s. */
  rtoMaxMs: number;
  /** RFC 6298 2.1: 1 s before the first RTT sample. */
  rtoInitialMs: number;
  /** Retransmissions of data, or zero-window probes in a row unanswered, before giving up with ETIMEDOUT (Linux tcp_retries2 = 15). */
  maxRetransmits: number;
  /** Retransmissions of a SYN or SYN-ACK before giving up (Linux tcp_syn_retries = 6). */
  synRetries: number;
  /** RFC 1122 4.2.3.2 / RFC 9293 3.8.6.3: delayed ACK at most 500 ms; Linux uses 40 ms. */
  delayedAckMs: number;
  /** Maximum segment lifetime; TIME_WAIT lasts 2 * MSL (RFC 9293 3.4.2). */
  mslMs: number;
  /** RFC 7323 timestamps (and PAWS), window scaling, RFC 2018 SACK-permitted. */
  timestamps: boolean;
  windowScaling: boolean;
  sack: boolean;
  /** RFC 8985 RACK-TLP loss detection (time-based, with tail loss probes) when SACK is negotiated. */
  rack: boolean;
  /** Nagle's algorithm (RFC 9293 3.7.4) unless a socket sets noDelay. */
  nagle: boolean;
  /** Keepalive (RFC 1122 4.2.3.6): idle time, probe interval, probes (Linux 7200 s, 75 s, 9). */
  keepIdleMs: number;
  keepIntervalMs: number;
  keepProbes: number;
  /** How long an orphaned connection may sit in FIN-WAIT-2 (Linux tcp_fin_timeout 60 s). */
  finWait2TimeoutMs: number;
  /** Ephemeral ports (RFC 6335 8.1.2: 49152..65535). */
  ephemeralLow: number;
  ephemeralHigh: number;
  /** Connections held by out-of-order data at most, in bytes per connection. */
  maxOutOfOrderBytes: number;
  /** RFC 5961 7: challenge ACKs per second, all connections together (Linux: 1000). */
  challengeAcksPerSecond: number;
  /** Congestion control: CUBIC (RFC 9438, with HyStart++) or NewReno (RFC 5681, RFC 6582). */
  congestionControl: 'cubic' | 'newreno';
  /** RFC 4987 3.6: answer SYNs with cookies once a listener's SYN queue is full. */
  synCookies: boolean;
  /**
   * RFC 3168 ECN: ask for it in our SYNs and agree when a peer asks (ecn.ts). Linux agrees by
   * default and asks only with net.ipv4.tcp_ecn=1; on the links a TAP serves, asking is safe.
   */
  ecn: boolean;
  /** Connections of all kinds at most (beyond it SYNs are dropped and counted). */
  maxConnections: number;
  /** Out-of-order bytes held by all connections together at most. */
  maxOutOfOrderBytesTotal: number;
}

export const DEFAULT_TCP_CONFIG: TcpConfig = {
  rcvBuf: 4 << 20,
  sndBuf: 4 << 20,
  rtoMinMs: 200,
  rtoMaxMs: 120_000,
  rtoInitialMs: 1000,
  maxRetransmits: 15,
  synRetries: 6,
  delayedAckMs: 40,
  mslMs: 30_000,
  timestamps: true,
  windowScaling: true,
  sack: true,
  rack: true,
  nagle: true,
  keepIdleMs: 7_200_000,
  keepIntervalMs: 75_000,
  keepProbes: 9,
  finWait2TimeoutMs: 60_000,
  ephemeralLow: 49152,
  ephemeralHigh: 65535,
  maxOutOfOrderBytes: 4 << 20,
  challengeAcksPerSecond: 1000,
  congestionControl: 'cubic',
  synCookies: true,
  ecn: true,
  maxConnections: 65536,
  maxOutOfOrderBytesTotal: 64 << 20,
};

/** RFC 7323 2.3 / 7.1: the smallest window shift that lets the window cover `rcvBuf`. */
export function windowShiftFor(rcvBuf: number): number {
  let ws = 0;
  while (ws < 14 && rcvBuf > 65535 << ws) ws++;
  return ws;
}
