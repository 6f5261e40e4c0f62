/**
 * ICMP for IPv4 (RFC 792, RFC 1122 3.2.2): echo replies of any size (reassembled in,
 * fragmented out), Protocol/Port Unreachable and reassembly Time Exceeded, with the rules that
 * keep errors from multiplying: never about an ICMP error, a broadcast or multicast, a
 * non-initial fragment, or a source that is not one host (RFC 1122 3.2.2); and a token bucket
 * on the errors we send (RFC 1812 4.3.2.8; Linux icmp_ratelimit / icmp_msgs_per_sec).
 */
import type { Clock } from '../clock.js';
import { isMulticastIpv4, type Ipv4Addr } from '../wire/addr.js';
import {
  checkIcmp,
  emitIcmpEchoReply,
  emitIcmpError,
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_HEADER_LEN,
  ICMP_TIME_EXCEEDED,
  ICMP_TIMXCEED_REASS,
  ICMP_UNREACH_PORT,
  ICMP_UNREACH_PROTOCOL,
  icmpErrorBufferLength,
  IcmpPacket,
  isIcmpError,
} from '../wire/icmp.js';
import { emitIpv4Repr, IPPROTO_ICMP, IPV4_MIN_HEADER_LEN } from '../wire/ipv4.js';
import type { FragmentKey } from './reassembly.js';
import { transportMessage, type Interface, type Ipv4Datagram, type ProtocolHandler } from './interface.js';

export interface IcmpOptions {
  /** Errors per second we may send (Linux net.ipv4.icmp_msgs_per_sec: 1000). */
  errorsPerSecond?: number;
  /** Burst of errors (Linux net.ipv4.icmp_msgs_burst: 50). */
  errorBurst?: number;
  /** Answer echo requests sent to a broadcast address (Linux icmp_echo_ignore_broadcasts=1: no). */
  echoBroadcasts?: boolean;
  /** Echo replies per second, and their burst: a ping flood cannot make us flood back. */
  echoRepliesPerSecond?: number;
  echoReplyBurst?: number;
}

export interface IcmpStats {
  echoRequestsIn: number;
  echoRepliesOut: number;
  echoRepliesIn: number;
  errorsIn: number;
  errorsOut: number;
  errorsRateLimited: number;
  echoRepliesRateLimited: number;
  /** Errors we chose not to send because RFC 1122 3.2.2 forbids them. */
  errorsSuppressed: number;
}

export class IcmpLayer implements ProtocolHandler {
  readonly stats: IcmpStats = {
    echoRequestsIn: 0,
    echoRepliesOut: 0,
    echoRepliesIn: 0,
    errorsIn: 0,
    errorsOut: 0,
    errorsRateLimited: 0,
    echoRepliesRateLimited: 0,
    errorsSuppressed: 0,
  };
  private readonly view = new IcmpPacket(new Uint8Array(ICMP_HEADER_LEN));
  private readonly echoBroadcasts: boolean;
  private readonly echoBucket: TokenBucket;
  private readonly errorBucket: TokenBucket;
  /**
   * Listeners for ICMP errors about datagrams we sent, by the quoted datagram's protocol (RFC
   * 1122 4.1.3.3: UDP passes them to the application; TCP may use them, RFC 5461). `quoted` is
   * the quoted IP header and what follows it.
   */
  private readonly errorListeners = new Map<number, (type: number, code: number, quoted: Uint8Array) => void>();

  constructor(
    private readonly iface: Interface,
    clock: Clock,
    opts: IcmpOptions = {},
  ) {
    this.errorBucket = new TokenBucket(clock, opts.errorsPerSecond ?? 1000, opts.errorBurst ?? 50);
    this.echoBucket = new TokenBucket(clock, opts.echoRepliesPerSecond ?? 1000, opts.echoReplyBurst ?? 1000);
    this.echoBroadcasts = opts.echoBroadcasts ?? false;
  }

  receive(dgram: Ipv4Datagram): boolean {
    const p = transportMessage(dgram);
    const reason = checkIcmp(p, 0, p.length);
    if (reason !== null) {
      this.iface.drop(reason);
      return true;
    }
    const icmp = this.view.reset(p, 0, p.length);
    const type = icmp.type;
    if (type === ICMP_ECHO_REQUEST) {
      this.stats.echoRequestsIn++;
      if (dgram.dst !== this.iface.address && !this.echoBroadcasts) {
        this.iface.drop('icmp-broadcast-echo');
        return true;
      }
      // RFC 1122 3.2.2.6: the reply carries the request's identifier, sequence and data. It is
      // written over the request in place (we own the frame during this call) and copied once
      // into transmit memory.
      if (!this.echoBucket.take()) {
        this.stats.echoRepliesRateLimited++;
        this.iface.drop('icmp-echo-rate-limit');
        return true;
      }
      emitIcmpEchoReply(icmp, p, 0);
      if (this.iface.sendIpv4(dgram.src, IPPROTO_ICMP, p, { tos: dgram.tos & 0xfc })) this.stats.echoRepliesOut++;
      return true;
    }
    if (type === ICMP_ECHO_REPLY) {
      this.stats.echoRepliesIn++;
      return true;
    }
    if (isIcmpError(type)) {
      this.stats.errorsIn++;
      const quoted = p.subarray(ICMP_HEADER_LEN);
      // The quoted header's protocol (RFC 792: the original IP header and 64 bits of its data).
      if (quoted.length >= IPV4_MIN_HEADER_LEN) this.errorListeners.get(quoted[9]!)?.(type, icmp.code, quoted);
      return true;
    }
    this.iface.drop('icmp-unhandled-type');
    return true;
  }

  /** Tell `listener` of ICMP errors about datagrams of `protocol` we sent. */
  onErrorFor(protocol: number, listener: (type: number, code: number, quoted: Uint8Array) => void): void {
    this.errorListeners.set(protocol, listener);
  }

  /** Protocol Unreachable (RFC 1122 3.2.2.1) for a datagram no transport took. */
  sendProtocolUnreachable(dgram: Ipv4Datagram): void {
    this.sendError(ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PROTOCOL, dgram);
  }

  /**
   * Port Unreachable (RFC 1122 4.1.3.1), for UDP. `finishQuote(quote, l4)` may fix up the quoted
   * transport header (at `l4` in `quote`) once the error is sure to go: a checksum the kernel
   * left partial is quoted as it would have gone on a wire.
   */
  sendPortUnreachable(dgram: Ipv4Datagram, finishQuote?: (quote: Uint8Array, l4: number) => void): void {
    this.sendError(ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, dgram, finishQuote);
  }

  /**
   * A datagram timed out in reassembly. RFC 792: Time Exceeded code 1, only when fragment zero
   * arrived. The quote is rebuilt from the key: a 20-byte header and the first 8 data bytes.
   */
  reassemblyTimedOut(key: FragmentKey, first: Uint8Array | null): void {
    if (!first || key.dst !== this.iface.address) return;
    const quote = new Uint8Array(IPV4_MIN_HEADER_LEN + Math.min(8, first.length));
    emitIpv4Repr(
      { src: key.src, dst: key.dst, protocol: key.protocol, ttl: 1, payloadLength: first.length, identification: key.id, moreFragments: true },
      quote,
      0,
    );
    quote.set(first.subarray(0, 8), IPV4_MIN_HEADER_LEN);
    this.sendErrorAbout(ICMP_TIME_EXCEEDED, ICMP_TIMXCEED_REASS, key.src, key.dst, key.protocol, false, quote);
  }

  private sendError(type: number, code: number, dgram: Ipv4Datagram, finishQuote?: (quote: Uint8Array, l4: number) => void): void {
    // A reassembled datagram counts as fragment zero; a lone non-initial fragment never gets here.
    const end = dgram.l4Offset + dgram.l4Length;
    let bytes: Uint8Array;
    if (dgram.contiguous) bytes = dgram.buf.subarray(dgram.ipOffset, end);
    else {
      // Quote what fits in 576 bytes; the data may still be in the frame's pages.
      const n = Math.min(end - dgram.ipOffset, 576);
      bytes = new Uint8Array(n);
      bytes.set(dgram.buf.subarray(dgram.ipOffset, dgram.l4Offset));
      dgram.payload.copyOut(0, n - (dgram.l4Offset - dgram.ipOffset), bytes, dgram.l4Offset - dgram.ipOffset);
    }
    const l4 = dgram.l4Offset - dgram.ipOffset;
    this.sendErrorAbout(type, code, dgram.src, dgram.dst, dgram.protocol, false, bytes, finishQuote && (() => finishQuote(bytes, l4)));
  }

  private sendErrorAbout(
    type: number,
    code: number,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: number,
    nonInitialFragment: boolean,
    original: Uint8Array,
    beforeQuoting?: () => void,
  ): void {
    // RFC 1122 3.2.2: not about an ICMP error, a broadcast/multicast destination, a non-initial
    // fragment, or a source that does not name one host.
    const aboutError = protocol === IPPROTO_ICMP && original.length > IPV4_MIN_HEADER_LEN && isIcmpError(original[(original[0]! & 0x0f) * 4]!);
    if (
      aboutError ||
      nonInitialFragment ||
      dst !== this.iface.address ||
      src === 0 ||
      src === 0xffffffff ||
      isMulticastIpv4(src)
    ) {
      this.stats.errorsSuppressed++;
      return;
    }
    if (!this.errorBucket.take()) {
      this.stats.errorsRateLimited++;
      return;
    }
    beforeQuoting?.();
    const msg = new Uint8Array(icmpErrorBufferLength(original.length));
    emitIcmpError({ type: type as 3, code }, original, msg, 0);
    if (this.iface.sendIpv4(src, IPPROTO_ICMP, msg)) this.stats.errorsOut++;
  }
}

/** A token bucket on the injected clock (RFC 1812 4.3.2.8 suggests one for ICMP). */
class TokenBucket {
  private tokens: number;
  private at: number;
  constructor(
    private readonly clock: Clock,
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
    this.at = clock.nowMs();
  }
  take(): boolean {
    const now = this.clock.nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
