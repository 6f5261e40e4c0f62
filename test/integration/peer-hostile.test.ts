/**
 * A hostile peer on tapstack's link (peer.py `sack`, then `arp`):
 *
 * - SACK blocks that name nothing: the peer downloads /bytes/N from `--serve http:80` and
 *   acknowledges cumulatively, but every ACK carries four SACK blocks (no timestamps, so four
 *   fit, RFC 2018 3) that it never received: random 32-bit edges, D-SACK-looking first blocks
 *   below the ACK (recent ones, and ones far older than the connection), blocks beyond the window
 *   (so beyond SND.MAX), reversed blocks, blocks below the ACK that are not first. A SACK block
 *   names data sent and not yet acknowledged, (SND.UNA, SND.MAX] (RFC 2018 3, as Linux's
 *   tcp_is_sackblock_valid), or is a D-SACK (RFC 2883 4); the others are ignored and counted
 *   (`tcp-sack-reversed`, `tcp-sack-beyond-snd-max`, `tcp-sack-below-snd-una`,
 *   `tcp-dsack-too-old`), so `tcp.sackedBytes` never exceeds `tcp.bytesOut`, and the download
 *   completes intact (offloads off: one segment per frame, so one ACK per segment);
 * - ARP packets whose sender hardware address no host can have: 00:00:00:00:00:00, broadcast,
 *   multicast (01:00:5e:...) and tapstack's own MAC, as broadcast and unicast requests for
 *   tapstack's address and as replies, each with sender IPs in the subnet, the kernel's among
 *   them. RFC 826's merge would write them into the neighbour cache (and answer the requests to
 *   that address); they are refused and counted as `arp-bad-sender-mac` instead.
 *
 * Afterwards tapstack still serves the kernel (a curl download intact), answers its pings, the
 * kernel's neighbour entry for it holds its MAC, and its capture shows no frame of its own to
 * 00:00:00:00:00:00, its own MAC or a multicast MAC, broadcast only for its ARP requests.
 *
 * Namespace tapstack-it-peer-hostile-<pid>; subnet 198.18.242.0/24, the peer at 198.18.242.9.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, drops, neighbour, nsRun, ping, requireBuilt, scratchDir, subnet, tshark, useTapstack, type Neighbour, type PingResult, type RunResult, type Stopped } from './helpers.js';
import { runPeer, type PeerResult } from './peer-helpers.js';
import { MiB, patternSha256, sha256File, type FileDigest } from './tcp-helpers.js';

const NET = subnet(242);
const HTTP = 80;
const PEER_BYTES = 4 * MiB;
const CURL_BYTES = 8 * MiB;
const SACK_DROPS = ['drop.tcp-sack-reversed', 'drop.tcp-sack-beyond-snd-max', 'drop.tcp-sack-below-snd-una', 'drop.tcp-dsack-too-old'];

interface SackResult extends PeerResult {
  status: string;
  body_bytes: number;
  body_ok: boolean;
  fin: boolean;
  closed: boolean;
  seconds: number;
  acks: number;
  blocks: Record<string, number>;
}

interface ArpResult extends PeerResult {
  sent: { sender_mac: string; mac: string; ip: string; kind: string }[];
  tapstack_arp_replies: { op: number; eth_dst: string; tha: string; tpa: string }[];
}

describe('a hostile peer: bogus SACK blocks on a download, ARP with impossible sender MACs', () => {
  const scratch = scratchDir('peer-hostile');
  const { ns, start } = useTapstack('peer-hostile', { after: scratch.remove, ignoreStopError: true });
  const pcap = `${scratch.dir}/hostile.pcap`;
  let mac = '';
  let before: PingResult;
  let sack: SackResult;
  let arp: ArpResult;
  let curl: RunResult;
  let curlGot: FileDigest | null = null;
  let after: PingResult;
  let neigh: Neighbour | null;
  let stopped: Stopped;

  beforeAll(async () => {
    requireBuilt();
    const t = await start({ net: NET, offload: 'off', pcap, extra: ['--serve', `http:${HTTP}`, '--snaplen', '128'] });
    mac = t.mac;
    before = await ping(ns, NET.tapstack, { count: 3, interval: 0.05 });
    sack = await runPeer<SackResult>(ns, NET, mac, 'sack', ['--port', String(HTTP), '--bytes', String(PEER_BYTES), '--seconds', '90', '--seed', '7'], 150_000);
    console.log(`[sack] ${JSON.stringify(sack)}`);
    arp = await runPeer<ArpResult>(ns, NET, mac, 'arp', []);
    console.log(`[arp] sent ${arp.sent.length}; tapstack's ARP replies seen: ${JSON.stringify(arp.tapstack_arp_replies)}`);
    const file = `${scratch.dir}/curl.bin`;
    curl = await nsRun(ns, 'curl', ['-sS', '--max-time', '60', '-o', file, `http://${NET.tapstack}:${HTTP}/bytes/${CURL_BYTES}`], { timeoutMs: 90_000 });
    curlGot = curl.code === 0 ? await sha256File(file) : null;
    after = await ping(ns, NET.tapstack, { count: 5, interval: 0.05, waitS: 2 });
    neigh = await neighbour(ns, NET.tapstack);
    stopped = await t.stop();
    const c = stopped.counters;
    console.log(
      `[counters] tcp.bytesOut ${counter(c, 'tcp.bytesOut')} tcp.sackedBytes ${counter(c, 'tcp.sackedBytes')} ` +
        `tcp.dsacksReceived ${counter(c, 'tcp.dsacksReceived')} tcp.retransmits ${counter(c, 'tcp.retransmits')}; drops ${JSON.stringify(drops(c))}`,
    );
  }, 300_000);

  it('downloads /bytes/N intact while every ACK carries four bogus SACK blocks', () => {
    expect(sack.ok, sack.error).toBe(true);
    expect(sack.status).toBe('HTTP/1.1 200 OK');
    expect({ bytes: sack.body_bytes, pattern: sack.body_ok, fin: sack.fin, closed: sack.closed }, JSON.stringify(sack)).toEqual({
      bytes: PEER_BYTES,
      pattern: true,
      fin: true,
      closed: true,
    });
    // One ACK per segment: thousands of ACKs, each kind of block many times.
    expect(sack.acks).toBeGreaterThan(1000);
    for (const k of ['random', 'dsack-recent', 'dsack-old', 'beyond', 'reversed', 'below-una']) expect(sack.blocks[k], k).toBeGreaterThan(100);
  });

  it('ignores the SACK blocks outside (SND.UNA, SND.MAX] and counts them by reason', () => {
    const c = stopped.counters;
    const seen = Object.fromEntries(SACK_DROPS.map((k) => [k, counter(c, k)]));
    const total = SACK_DROPS.reduce((a, k) => a + counter(c, k), 0);
    expect(total, `SACK drops ${JSON.stringify(seen)}; all drops ${JSON.stringify(drops(c))}`).toBeGreaterThan(0);
  });

  it('never counts more bytes SACKed than it sent', () => {
    const c = stopped.counters;
    expect(counter(c, 'tcp.bytesOut')).toBeGreaterThanOrEqual(PEER_BYTES + CURL_BYTES);
    expect(counter(c, 'tcp.sackedBytes'), `tcp.sackedBytes ${counter(c, 'tcp.sackedBytes')}, tcp.bytesOut ${counter(c, 'tcp.bytesOut')}`).toBeLessThanOrEqual(counter(c, 'tcp.bytesOut'));
  });

  it('refuses and counts every ARP packet with a zero, broadcast, multicast or its own sender MAC', () => {
    expect(arp.ok, arp.error).toBe(true);
    expect(arp.sent.length).toBe(24);
    const c = stopped.counters;
    expect(counter(c, 'drop.arp-bad-sender-mac'), `ARP drops: ${JSON.stringify(Object.fromEntries(Object.entries(drops(c)).filter(([k]) => k.startsWith('drop.arp'))))}`).toBeGreaterThanOrEqual(arp.sent.length);
  });

  it('answers none of those ARP requests', () => {
    const badMacs = new Set(arp.sent.map((s) => s.mac));
    const answers = arp.tapstack_arp_replies.filter((r) => badMacs.has(r.eth_dst) || badMacs.has(r.tha));
    expect(answers.map((r) => `reply to ${r.tpa} at ${r.eth_dst}`)).toEqual([]);
  });

  it('still serves the kernel: a curl download of /bytes/N afterwards is intact', () => {
    expect(curl.code, curl.stderr).toBe(0);
    expect(curlGot).toEqual({ sha256: patternSha256(CURL_BYTES), bytes: CURL_BYTES });
  });

  it("answers the kernel's pings, and the kernel's neighbour entry for it holds its MAC", () => {
    expect(before.received, before.stdout).toBe(3);
    expect(after.received, after.stdout).toBe(5);
    expect(neigh?.mac, neigh?.line).toBe(mac);
  });

  it('sends no frame to 00:00:00:00:00:00, its own MAC or a multicast MAC (broadcast only for its ARP requests)', async () => {
    const bad = await tshark(pcap, [
      '-Y',
      `eth.src == ${mac} && (eth.dst == 00:00:00:00:00:00 || eth.dst == ${mac} || (eth.dst.ig == 1 && !(eth.dst == ff:ff:ff:ff:ff:ff && arp.opcode == 1)))`,
      '-T', 'fields', '-e', 'frame.number', '-e', 'eth.dst', '-e', '_ws.col.Protocol', '-e', '_ws.col.Info',
    ]);
    expect(bad.length, bad.slice(0, 20).join('\n')).toBe(0);
  });
});
