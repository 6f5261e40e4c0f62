/**
 * Regression test of a bug the TCP integration tests found, fixed in 0793d66: with
 * offloads off, tapstack sent IPv4 datagrams larger than the link MTU when a data segment
 * carried SACK blocks.
 *
 * tapstack sized its data segments as MSS - 12 (the timestamps option) and left no room for the
 * SACK option it adds while it holds out-of-order data (RFC 2018: 2 + 8 per block, padded with
 * two NOPs to 12, 20 or 28 bytes). At MTU 1500 such a segment was 20 + 20 + 12 + 12 + 1448 =
 * 1512 bytes (1520, 1528 with two or three blocks); RFC 9293 3.7.1 and RFC 6691 ask that TCP
 * options be taken from the payload so that the datagram fits (Linux: tcp_current_mss()
 * subtracts the SACK blocks). The kernel's TAP accepts oversized frames, so nothing broke
 * there, but on a real link they would be dropped (DF is set) or fragmented.
 *
 * To have SACK blocks deterministically, the kernel's TAP queue is shrunk to 8 frames
 * (`ip link set tap0 txqueuelen 8`): the kernel then drops most of a burst on its way to
 * tapstack (a loss injector that needs neither netem nor iptables), tapstack holds out-of-order
 * data and SACKs it in the segments of the echo it sends back. Offloads off only: with offloads
 * on the capture holds TSO frames, whose segments the kernel cuts (gso_size = tapstack's MSS
 * with the same SACK-sized header: the same 1512 bytes, but not visible in the capture).
 *
 * Namespaces tapstack-it-tcpsack-{1500,9000}-<pid>; subnets 198.18.150.0/24, 198.18.151.0/24.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, nsRun, requireBuilt, scratchDir, subnet, tshark, useNamespace } from './helpers.js';
import {
  captureSummary,
  checkCapture,
  killStarted,
  MiB,
  nsExec,
  patternSha256,
  sha256File,
  show,
  withTapstack,
  writePatternFile,
  type CaptureCheck,
  type Mode,
  type ProcResult,
  type Run,
} from './tcp-helpers.js';

const SIZE = 10 * MiB;

describe.each([1500, 9000] as const)('segments with SACK blocks fit the MTU, offload off, MTU %i', (mtu) => {
  const mode: Mode = { offload: 'off', mtu };
  const net = subnet(mtu === 1500 ? 150 : 151);
  const scratch = scratchDir(`tcpsack-${mtu}`);
  const ns = useNamespace(`tcpsack-${mtu}`, { stop: killStarted, after: scratch.remove });
  const src = `${scratch.dir}/src.bin`;
  const out = `${scratch.dir}/echo.out`;
  const pcap = `${scratch.dir}/sack.pcap`;
  let run: Run<ProcResult>;
  let check: CaptureCheck;
  let sackData: { ipLen: number; tcpLen: number }[] = [];

  beforeAll(async () => {
    requireBuilt();
    writePatternFile(src, SIZE);
    run = await withTapstack({ ns, net, offload: 'off', mtu, pcap, extra: ['--serve', 'echo:7'] }, async () => {
      const q = await nsRun(ns, 'ip', ['link', 'set', 'tap0', 'txqueuelen', '8']);
      if (q.code !== 0) throw new Error(`txqueuelen: ${q.stderr}`);
      return nsExec(ns, 'socat', ['-t', '60', '-', `TCP:${net.tapstack}:7`], { stdin: src, stdout: out });
    });
    check = await checkCapture(pcap, { net, mode, tap: run.tap, lossExpected: true, counters: run.stopped.counters });
    // tapstack's data segments that carry a SACK option (kind 5).
    const lines = await tshark(pcap, ['-Y', `ip.src == ${net.tapstack} && tcp.len > 0 && tcp.option_kind == 5`, '-T', 'fields', '-e', 'ip.len', '-e', 'tcp.len']);
    sackData = lines.map((l) => {
      const [ipLen, tcpLen] = l.split('\t');
      return { ipLen: Number(ipLen), tcpLen: Number(tcpLen) };
    });
  }, 180_000);

  it('echoes 10 MiB correctly through heavy loss on the way in, SACKing what it holds', async () => {
    expect(run.value.code, show(run.value)).toBe(0);
    expect((await sha256File(out)).sha256).toBe(patternSha256(SIZE));
    // The precondition of the next test: loss happened, and tapstack sent data with SACK blocks.
    expect(run.tap.txDropped).toBeGreaterThan(0);
    expect(counter(run.stopped.counters, 'tcp.outOfOrderSegments')).toBeGreaterThan(0);
    expect(sackData.length).toBeGreaterThan(0);
    const why = captureSummary(check);
    expect(check.problems, why).toEqual([]);
    expect(check.tcpChecksumNotGood, why).toEqual([]);
  });

  // Failed before 0793d66: the SACK option came on top of a full-sized segment (see the header).
  it('never sends a datagram larger than the MTU, also when a segment carries SACK blocks', () => {
    const over = check.overMtu.filter((f) => f.src === net.tapstack);
    expect(over.slice(0, 5), `${over.length} datagrams over MTU ${mtu}, e.g. ${JSON.stringify(over.slice(0, 3))}`).toEqual([]);
    expect(sackData.filter((s) => s.ipLen > mtu)).toEqual([]);
  });
});
