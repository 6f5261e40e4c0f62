/**
 * Which loss recovery a connection gets from the handshake: NewReno (RFC 6582) without SACK,
 * RFC 6675 with it (and RACK-TLP, RFC 8985, when configured), and the recovery point set from
 * the ISS before the options were known carried over to it.
 */
import { describe, expect, it } from 'vitest';
import { Cubic } from '../../../src/tcp/cc/cubic.js';
import { NewReno } from '../../../src/tcp/cc/newreno.js';
import { RenoRecovery } from '../../../src/tcp/reno-recovery.js';
import { SackRecovery } from '../../../src/tcp/sack-recovery.js';
import { active, passive, setup } from './helpers.js';
import { PEER_IP, type Peer } from './peer.js';

const NO_SACK = (p: Peer) => ({ mss: 1460, timestamp: { tsVal: p.tsVal(), tsEcr: 0 }, windowScale: 7 });

describe('the loss recovery the handshake chooses', () => {
  it('NewReno for a peer without SACK', () => {
    const h = setup();
    const { conn } = passive(h, { synOpts: NO_SACK });
    expect(conn.recovery).toBeInstanceOf(RenoRecovery);
    expect(conn.sb).toBeNull();
    expect(conn.rack).toBeNull();
    expect(conn.recovery.recover).toBe(conn.iss);
  });

  it('SACK recovery with RACK-TLP for a peer with SACK', () => {
    const h = setup();
    const { conn } = passive(h);
    expect(conn.recovery).toBeInstanceOf(SackRecovery);
    expect(conn.sb).not.toBeNull();
    expect(conn.rack).not.toBeNull();
    expect(conn.recovery.recover).toBe(conn.iss);
  });

  it('SACK recovery without RACK-TLP when RACK is off', () => {
    const h = setup({ rack: false });
    const { conn } = passive(h);
    expect(conn.recovery).toBeInstanceOf(SackRecovery);
    expect(conn.sb).not.toBeNull();
    expect(conn.rack).toBeNull();
  });

  it('NewReno when SACK is off here, whatever the peer offers', () => {
    const h = setup({ sack: false });
    const { conn } = passive(h);
    expect(conn.recovery).toBeInstanceOf(RenoRecovery);
  });

  it('an active open starts with NewReno and takes SACK recovery from the SYN-ACK, keeping the recovery point', () => {
    const h = setup();
    const { conn, syn } = active(h, { ourIsn: 0x1234_5678 });
    expect(syn!.seq).toBe(0x1234_5678);
    expect(conn.state).toBe('ESTABLISHED');
    expect(conn.recovery).toBeInstanceOf(SackRecovery);
    expect(conn.recovery.recover).toBe(0x1234_5678);
    expect(conn.recovery.inRecovery).toBe(false);
  });

  it('a connection not yet past SYN-SENT has NewReno with the recovery point at the ISS', () => {
    const h = setup();
    const conn = h.tcp.connect(PEER_IP, 80);
    h.tcp.nextIsn = () => 77;
    h.app(() => conn.connect());
    expect(conn.recovery).toBeInstanceOf(RenoRecovery);
    expect(conn.recovery.recover).toBe(77);
  });

  // What an idle or receive-only connection carries (docs/PERFORMANCE.md section 1): the sender
  // keeps NewReno's few fields until it has something to send; `conn.snd` shows what it holds,
  // where `conn.recovery` would make the agreed recovery at once.
  it('makes the configured controller and SACK recovery only when it first sends', () => {
    const h = setup();
    const { conn, peer } = passive(h);
    const snd = conn.snd;
    expect(snd.recovery).toBeInstanceOf(RenoRecovery);
    expect(snd.cc).toBeInstanceOf(NewReno);
    expect(conn.info().cwnd).toBe(10 * snd.sndMss); // RFC 6928: the same IW as the configured one
    // Receiving and acknowledging data makes nothing.
    peer.data(new Uint8Array(3000));
    peer.take();
    expect(snd.recovery).toBeInstanceOf(RenoRecovery);
    // The first write does, before its segment goes out: the scoreboard starts at SND.UNA.
    h.app(() => conn.write(new Uint8Array(100)));
    expect(peer.one().payload.length).toBe(100);
    expect(snd.recovery).toBeInstanceOf(SackRecovery);
    expect(snd.cc).toBeInstanceOf(Cubic);
    expect(snd.recovery.recover).toBe(conn.iss);
    expect(snd.recovery.sb!.highAck).toBe(conn.sndUna);
  });
});

