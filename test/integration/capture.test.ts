/**
 * Captures as tcpdump users expect them, against the real kernel:
 * - frames reach the file within about a second while tapstack runs (tshark reads them then),
 *   and a SIGKILL loses at most the last second;
 * - pcapng: tshark sees the interface's name and description, each frame's direction, and the
 *   fault injector's comments on the frames it duplicated or lost; the frames are clean;
 * - rotation over a bounded number of files, each one a capture tshark reads.
 *
 * Namespaces tapstack-it-capture-{live,ng,rotate}-<pid>; subnets 198.18.197-199.0/24.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { icmpMessages, nsRun, ping, poll, requireBuilt, scratchDir, subnet, tshark, tsharkProblems, useTapstack } from './helpers.js';

requireBuilt();

/** Echo replies (from tapstack) in the capture, by sequence number. */
async function replySeqs(pcap: string): Promise<Set<number>> {
  return new Set((await icmpMessages(pcap)).filter((m) => m.type === 0).map((m) => m.seq));
}

describe('a capture while tapstack runs, and after SIGKILL', () => {
  const net = subnet(197);
  const scratch = scratchDir('capture-live');
  const scope = useTapstack('capture-live', { after: scratch.remove });
  const dir = (): string => scratch.dir;

  it('reaches the file within about a second, and a SIGKILL loses at most the last second', async () => {
    const pcap = path.join(dir(), 'live.pcap');
    const t = await scope.start({ net, pcap });
    const r = await ping(scope.ns, net.tapstack, { count: 10, interval: 0.05 });
    expect(r.received).toBe(10);
    const pinged = Date.now();
    const seen = await poll(async () => ((await replySeqs(pcap)).size >= 10 ? Date.now() : null), 5_000);
    expect(seen, 'the replies reach the file while tapstack runs').not.toBeNull();
    // The deadline is one second; the rest is the machine's load and tshark's start.
    expect(seen! - pinged).toBeLessThan(2_500);

    // A ping every 50 ms with timestamps, killed tapstack in its middle.
    const long = nsRun(scope.ns, 'ping', ['-n', '-D', '-c', '80', '-i', '0.05', '-W', '1', net.tapstack], { timeoutMs: 30_000 });
    await new Promise((res) => setTimeout(res, 2_500));
    const killedAt = Date.now() / 1000;
    process.kill(t.pid, 'SIGKILL');
    await t.exit();
    const out = (await long).stdout;
    const answered = [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)/gm)].map((m) => ({ at: Number(m[1]), seq: Number(m[2]) }));
    expect(answered.length).toBeGreaterThan(20);
    const captured = await replySeqs(pcap);
    // Every reply older than the last second (with 0.5 s for the kill's own latency) is in the file.
    const old = answered.filter((a) => a.at < killedAt - 1.5).map((a) => a.seq);
    expect(old.length).toBeGreaterThan(10);
    expect(old.filter((s) => !captured.has(s))).toEqual([]);
    expect(await tsharkProblems(pcap)).toEqual([]);
  });
});

describe('a pcapng capture', () => {
  const net = subnet(198);
  const scratch = scratchDir('capture-ng');
  const scope = useTapstack('capture-ng', { after: scratch.remove });
  const dir = (): string => scratch.dir;

  it('names the interface, gives each frame its direction and the fault injector its comments', async () => {
    const pcap = path.join(dir(), 'cap.pcapng');
    const t = await scope.start({ net, pcap, offload: 'on', extra: ['--impair', 'rx:dup=20%;tx:loss=20%', '--seed', '3'] });
    const r = await ping(scope.ns, net.tapstack, { count: 60, interval: 0.02, waitS: 1 });
    expect(r.received).toBeGreaterThan(20);
    await t.stop();

    const iface = await tshark(pcap, ['-c', '1', '-T', 'fields', '-E', 'separator=|', '-e', 'frame.interface_name', '-e', 'frame.interface_description']);
    expect(iface[0]).toMatch(/^tap0\|tapstack on tap0: mtu 1500, offloads on, split fixed:66$/);
    const rows = await tshark(pcap, ['-Y', 'icmp', '-T', 'fields', '-E', 'separator=|', '-e', 'frame.packet_flags_direction', '-e', 'icmp.type', '-e', 'frame.comment']);
    const inbound = rows.filter((l) => l.split('|')[1] === '8');
    const outbound = rows.filter((l) => l.split('|')[1] === '0');
    // Requests came in (direction 1), replies went out (2); tshark prints the bits in hex.
    expect(new Set(inbound.map((l) => Number(l.split('|')[0])))).toEqual(new Set([1]));
    expect(new Set(outbound.map((l) => Number(l.split('|')[0])))).toEqual(new Set([2]));
    const dups = inbound.filter((l) => l.endsWith('fault injector: duplicate')).length;
    const lost = outbound.filter((l) => l.endsWith('fault injector: lost (not sent)')).length;
    expect(dups).toBeGreaterThan(0);
    expect(lost).toBeGreaterThan(0);
    // The replies the kernel got are the replies not lost (a duplicate request is answered too).
    expect(outbound.length - lost).toBeGreaterThanOrEqual(r.received);
    expect(await tsharkProblems(pcap)).toEqual([]);
  });
});

describe('a capture rotated over files', () => {
  const net = subnet(199);
  const scratch = scratchDir('capture-rotate');
  const scope = useTapstack('capture-rotate', { after: scratch.remove });
  const dir = (): string => scratch.dir;

  it('keeps at most the given number of files of about the given size, each one readable', async () => {
    const base = path.join(dir(), 'ring.pcap');
    const t = await scope.start({ net, pcap: base, extra: ['--pcap-rotate', '0.02', '--pcap-files', '3'] });
    // 1000-byte pings: about 2 KB per round trip, so 20 KB files hold about ten of them.
    const r = await ping(scope.ns, net.tapstack, { count: 60, size: 1000, interval: 0.01 });
    expect(r.received).toBe(60);
    await t.stop();
    const files = readdirSync(dir()).filter((f) => f.startsWith('ring.pcap')).sort();
    expect(files).toEqual(['ring.pcap0', 'ring.pcap1', 'ring.pcap2']);
    let total = 0;
    for (const f of files) {
      const p = path.join(dir(), f);
      expect(statSync(p).size).toBeLessThan(20_000 + 1100);
      total += (await replySeqs(p)).size;
      expect(await tsharkProblems(p)).toEqual([]);
    }
    // The oldest replies were overwritten; the three files hold the newest ones.
    expect(total).toBeGreaterThan(15);
    expect(total).toBeLessThan(60);
  });
});
