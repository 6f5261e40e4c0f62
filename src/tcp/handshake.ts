/**
 * Opening a connection, as gVisor's connect.go and Linux's tcp_rcv_synsent_state_process /
 * tcp_rcv_state_process (SYN-RECEIVED) hold it: the three ways in (an active open, a SYN at a
 * listener, a SYN cookie's ACK), the SYN and SYN-ACK with their options, option negotiation
 * (RFC 9293 3.7.1 MSS, RFC 7323 2.2 / 3.2 window scale and timestamps, RFC 2018 2 SACK, RFC 3168
 * 6.1.1 ECN), the SYN-SENT and SYN-RECEIVED arrivals of RFC 9293 3.10.7.3-4, and the SYN's
 * retransmission. What the handshake agreed is handed to the sending and receiving halves.
 */
import { seqAdd, seqInRangeAbove } from '../wire/seq.js';
import { TcpFlag, type TcpOptionsToEmit } from '../wire/tcp.js';
import type { SegmentIn, TcpConnection } from './connection.js';
import { TcpError } from './errors.js';
import { DEFAULT_MSS } from './sender.js';

/** What a SYN cookie carried of the peer's SYN (RFC 4987 3.6). */
export interface CookieOptions {
  mss: number;
  windowScale: number;
  sackPermitted: boolean;
  timestamps: boolean;
  ecn: boolean;
}

/** Active open: send a SYN (RFC 9293 3.10.1). */
export function openActive(c: TcpConnection): void {
  c.snd.open(c.host.nextIsn(c), false);
  c.state = 'SYN-SENT';
  c.host.stats.connectionsOpened++;
  sendSyn(c, false);
  c.snd.armRto();
}

/** Passive open: a SYN arrived at a listener (RFC 9293 3.10.7.2); answer with a SYN-ACK. */
export function openPassive(c: TcpConnection, seg: SegmentIn): void {
  c.rcv.open(seg.seq);
  negotiate(c, seg);
  c.ecn.onPeerSyn(seg.flags, c.host.config.ecn);
  const snd = c.snd;
  snd.open(c.host.nextIsn(c), false);
  snd.firstWindow(seg.window, seg.seq, snd.iss); // never scaled in a SYN (RFC 7323 2.2)
  c.state = 'SYN-RECEIVED';
  sendSyn(c, true);
  snd.armRto();
}

/**
 * A connection made from a valid SYN-cookie ACK (RFC 4987 3.6): nothing was kept for the SYN,
 * so the state comes from the ACK and what the cookie carried.
 */
export function openFromCookie(c: TcpConnection, seg: SegmentIn, d: CookieOptions): void {
  const cfg = c.host.config;
  const snd = c.snd;
  const rcv = c.rcv;
  snd.open(seqAdd(seg.ack, -1), true);
  rcv.open(seqAdd(seg.seq, -1));
  rcv.rcvAdv = seqAdd(rcv.rcvNxt, rcv.initialWindow());
  applyPeerOptions(c, d.mss, d.windowScale, d.sackPermitted, d.timestamps && seg.opts.hasTimestamp, seg.opts.tsVal);
  c.ecn.agree(d.ecn && cfg.ecn);
  snd.firstWindow(seg.window << snd.sndWscale, seg.seq, seg.ack);
  c.state = 'ESTABLISHED';
  snd.recovery.sync();
  c.host.stats.connectionsEstablished++;
}

/** Options from the peer's SYN (RFC 9293 3.7.1, RFC 7323 2.2 / 3.2, RFC 2018 2). */
function negotiate(c: TcpConnection, seg: SegmentIn): void {
  const o = seg.opts;
  applyPeerOptions(c, o.mss > 0 ? o.mss : DEFAULT_MSS, o.windowScale, o.sackPermitted, o.hasTimestamp, o.tsVal);
}

/**
 * What the peer offered (from its SYN, or from a SYN cookie), against what we offer: window
 * scaling only when both sides sent the option, timestamps and SACK likewise; then the send
 * MSS, and the congestion controller and loss recovery that depend on them.
 */
function applyPeerOptions(c: TcpConnection, peerMss: number, peerWscale: number, sackPermitted: boolean, timestamps: boolean, tsVal: number): void {
  const cfg = c.host.config;
  const snd = c.snd;
  const rcv = c.rcv;
  if (peerWscale >= 0 && c.offeredWindowScale >= 0) {
    snd.sndWscale = peerWscale;
    rcv.rcvWscale = c.offeredWindowScale;
  } else {
    snd.sndWscale = 0;
    rcv.rcvWscale = 0;
    c.offeredWindowScale = -1;
  }
  c.tsOk = cfg.timestamps && timestamps;
  if (c.tsOk) rcv.takeTimestamp(tsVal, c.host.clock.nowMs());
  c.sackOk = cfg.sack && sackPermitted;
  // RFC 9293 3.7.1 / RFC 6691: the MSS counts no options; timestamps take 12 bytes of each segment.
  const mss = Math.max(64, Math.min(peerMss, c.ourMss) - (c.tsOk ? 12 : 0));
  snd.negotiated(mss, c.sackOk, cfg.rack, c.host.countDrop);
}

/** The options of our SYN or SYN-ACK, into `o` (its timestamp in `ts`). */
export function synOptions(c: TcpConnection, o: TcpOptionsToEmit, ts: { tsVal: number; tsEcr: number }, now: number): void {
  const cfg = c.host.config;
  o.mss = c.ourMss;
  if (c.state === 'SYN-SENT' || c.state === 'CLOSED') {
    if (c.offeredWindowScale >= 0) o.windowScale = c.offeredWindowScale;
    o.sackPermitted = cfg.sack;
    if (cfg.timestamps) {
      ts.tsVal = c.tsNow(now);
      ts.tsEcr = 0;
      o.timestamp = ts;
    }
    return;
  }
  // RFC 7323 2.2: answer with our shift only if the peer offered one (negotiation cleared the
  // offer otherwise).
  if (c.offeredWindowScale >= 0) o.windowScale = c.rcv.rcvWscale;
  o.sackPermitted = c.sackOk;
  if (c.tsOk) {
    ts.tsVal = c.tsNow(now);
    ts.tsEcr = c.rcv.tsRecent;
    o.timestamp = ts;
  }
}

function sendSyn(c: TcpConnection, withAck: boolean): void {
  c.snd.rttStart = c.host.clock.nowMs();
  c.sendSegment(c.snd.iss, 0, TcpFlag.SYN | (withAck ? TcpFlag.ACK : 0));
}

/** RFC 9293 3.10.7.3: a segment arrives in SYN-SENT. */
export function synSentArrives(c: TcpConnection, seg: SegmentIn): void {
  const flags = seg.flags;
  const snd = c.snd;
  const rcv = c.rcv;
  const cfg = c.host.config;
  const hasAck = (flags & TcpFlag.ACK) !== 0;
  if (hasAck && !seqInRangeAbove(seg.ack, snd.iss, snd.sndMax)) {
    if (!(flags & TcpFlag.RST)) c.sendRst(seg.ack, 0, false, 'an ACK of nothing we sent, in SYN-SENT');
    return;
  }
  if (flags & TcpFlag.RST) {
    if (hasAck) {
      c.host.stats.resetsIn++;
      c.terminate(new TcpError('ECONNREFUSED', 'connection refused', 'connect'));
    }
    return;
  }
  if (!(flags & TcpFlag.SYN)) return;
  rcv.open(seg.seq);
  // Our SYN offered a window before RCV.NXT was known: it counts from here.
  rcv.rcvAdv = seqAdd(rcv.rcvNxt, rcv.initialWindow());
  negotiate(c, seg);
  if (hasAck) c.ecn.onSynAck(flags, cfg.ecn);
  else c.ecn.onPeerSyn(flags, cfg.ecn);
  if (!hasAck) {
    // Simultaneous open (RFC 9293 3.5, figure 7).
    c.state = 'SYN-RECEIVED';
    snd.sndWnd = seg.window;
    sendSyn(c, true);
    return;
  }
  snd.synAcknowledged(seg.ack);
  c.state = 'ESTABLISHED';
  snd.firstWindow(seg.window, seg.seq, seg.ack); // RFC 7323 2.2: a SYN's window is never scaled
  if (snd.rttSeq < 0 && snd.backoffs === 0) snd.rtt.sample(c.host.clock.nowMs() - snd.rttStart);
  snd.backoffs = 0;
  snd.rtoAt = Infinity;
  snd.recovery.sync();
  c.host.stats.connectionsEstablished++;
  rcv.ackNow = true;
  c.markDirty();
  c.user?.onConnect();
  if (snd.sendQueue.length > 0 || snd.finQueued) c.markDirty();
}

/**
 * The peer's SYN again while we are in SYN-RECEIVED (SEG.SEQ = IRS, below RCV.NXT, so before
 * the acceptability test): its view of the handshake. A bare retransmitted SYN gets our SYN-ACK
 * again; a SYN-ACK (simultaneous open, RFC 9293 figure 8) that acknowledges our SYN completes
 * the handshake. Returns whether the segment was that.
 */
export function synAgain(c: TcpConnection, seg: SegmentIn, now: number): boolean {
  const flags = seg.flags;
  if (!(flags & TcpFlag.SYN) || flags & TcpFlag.RST || seg.seq !== c.rcv.irs) return false;
  if (flags & TcpFlag.ACK && seqInRangeAbove(seg.ack, c.snd.sndUna, c.snd.sndNxt)) {
    completeHandshake(c, seg, now);
    if (c.state === 'ESTABLISHED') {
      c.rcv.ackNow = true;
      c.markDirty();
    }
  } else {
    sendSyn(c, true);
  }
  return true;
}

/** RFC 9293 3.10.7.4 "fifth" in SYN-RECEIVED. Returns false when the ACK is refused (with a RST). */
export function synReceivedAck(c: TcpConnection, seg: SegmentIn, now: number): boolean {
  if (!seqInRangeAbove(seg.ack, c.snd.sndUna, c.snd.sndNxt)) {
    c.sendRst(seg.ack, 0, false, 'an unacceptable ACK in SYN-RECEIVED');
    return false;
  }
  completeHandshake(c, seg, now);
  return true;
}

/** SYN-RECEIVED -> ESTABLISHED: our SYN is acknowledged. */
function completeHandshake(c: TcpConnection, seg: SegmentIn, now: number): void {
  const snd = c.snd;
  c.state = 'ESTABLISHED';
  snd.firstWindow(seg.flags & TcpFlag.SYN ? seg.window : seg.window << snd.sndWscale, seg.seq, seg.ack);
  snd.ackAdvance(seg, now);
  snd.recovery.sync();
  c.host.stats.connectionsEstablished++;
  if (c.listenerPort >= 0) c.host.established(c);
  else c.user?.onConnect(); // an active open that met the peer's SYN (simultaneous open)
}

/** The retransmission timer fired in SYN-SENT or SYN-RECEIVED: the SYN again, or give up (RFC 9293 3.8.3). */
export function synTimeout(c: TcpConnection, now: number): void {
  const snd = c.snd;
  const stats = c.host.stats;
  if (snd.backoffs > c.host.config.synRetries) {
    stats.connectionsTimedOut++;
    c.terminate(new TcpError('ETIMEDOUT', 'connection timed out', 'connect'));
    return;
  }
  snd.countRetransmit(0);
  sendSyn(c, c.state === 'SYN-RECEIVED');
  snd.rearmRto(now);
}
