#!/usr/bin/env node
/**
 * The `tapstack` command.
 *
 *   tapstack up --ifname tap0 --address 198.18.0.2/24 [--host-address 198.18.0.1/24]
 *               [--mtu 1500] [--offload on|off] [--split fixed:66|fixed:N|none|adaptive]
 *               [--pcap FILE] [--pcap-format pcap|pcapng] [--pcap-flush] [--pcap-rotate MB]
 *               [--pcap-files N] [--snaplen N] [--io uring|syscalls|auto]
 *
 * Bad options get one line on stderr and exit code 2; a failure to start gets one line and 1.
 */
import type { Server as HttpServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Stack } from '../stack.js';
import { parseSplitPolicy, formatSplitPolicy, SplitPolicyError } from '../../firmware/split-policy.js';
import { formatCidr, formatIpv4, formatMac, parseCidr } from '../wire/addr.js';
import type { DhcpLease } from '../dhcp/client.js';
import { TapError } from '../tap/errors.js';
import { TapDevice, validateIfName, validateMtu } from '../tap/tap-device.js';
import { formatSkipped } from '../tap/host-side.js';
import { counterEntries, formatCounters } from './counters.js';
import { showProgress } from './progress.js';
import { parseMetricsAddress, serveMetrics } from './metrics.js';
import { parseServices, startServices, type Counters, type ServiceSpec } from './services.js';
import { parseIpv4 } from '../wire/addr.js';
import { PageInput } from './page-input.js';
import { formatImpairment, parseImpairments, type ImpairmentSpec } from '../../firmware/impairments.js';
import { innermost } from '../phy/decorator.js';
import type { Socket } from '../socket/socket.js';
import path from 'node:path';
import { ControlServer, controlRequest, defaultControlPath, formatConnections, formatStats, type ControlConnection, type StatsReply } from './control.js';
import { IPERF3_OPTIONS, parseIperf3, runIperf3, splitIperf3Args, type Iperf3Command } from './iperf3.js';

const HELP = `Usage: tapstack <command> [options]

Commands:
  up        Create a TAP device in this network namespace (or attach to one created
            beforehand, e.g. for this user) and run the stack on it until SIGINT or
            SIGTERM; then print the counters and exit.
  connect   tapstack connect HOST PORT [options of up]: pipe stdin and stdout through a
            tapstack TCP connection (like nc). Exits when both directions are done.
            HOST is an IPv4 address or a name, looked up with tapstack's own resolver. On
            a terminal, stderr shows the bytes each way and their rate once a second;
            TAPSTACK_COUNTERS=1 prints the counters on stderr at the end.
  iperf3    tapstack iperf3 -c HOST [-p PORT] [-R] [-P N] [-t S] [-n BYTES] [-l LEN]
            [--bidir] [-J] [options of up]: an iperf3 client on tapstack, against any
            iperf3 server (iperf3 -s). Prints iperf3's report (its JSON with -J) with
            tapstack's zero-copy counters; exits 0 when the test completed.
            -p 5201 by default; -t 10 s unless -n; -l 128K; sizes take K, M, G.
  stats     tapstack stats [--ifname NAME | --control PATH] [--watch] [--json]
            [--interval S]: the counters of a running 'tapstack up' (through its
            control socket), with rates per second over S seconds (default 1);
            --watch repeats every S seconds, --json prints each reading as JSON.
  ss        tapstack ss [--ifname NAME | --control PATH] [--json]: its TCP connections
            as 'ss -ti' shows them: state, addresses, MSS, cwnd and ssthresh (in
            segments), RTT/variation and RTO (ms), retransmissions, bytes acknowledged
            and received, delivery rate, windows, queues, and the share of the socket's
            bytes that moved without a copy.
  capture   tapstack capture start FILE [--pcap-format pcap|pcapng] | stop
            [--ifname NAME | --control PATH]: start (or replace) or stop a capture
            of a running 'tapstack up'.
  help      Show this text.

Options of 'up':
  --metrics [HOST:]PORT  Serve the counters in the Prometheus text format at
                         http://HOST:PORT/metrics on the host's own network (a socket of
                         this process; HOST 127.0.0.1 unless given).
  --control PATH|off     Its control socket (for stats, ss, capture; mode 0600). Default:
                         /run/tapstack/net<namespace inode>-<ifname>.sock for root, else
                         under $XDG_RUNTIME_DIR/tapstack or /tmp/tapstack-<uid>.
  --ifname NAME          TAP device to create, or an idle existing one to attach to (as
                         made by 'ip tuntap add dev NAME mode tap user USER'), 1-15
                         characters. Required. Settings tapstack may not change on it
                         (no CAP_NET_ADMIN) are left as they are and named in one line.
  --address A/P|dhcp     tapstack's IPv4 address and prefix, e.g. 198.18.0.2/24, or dhcp:
                         start without one and take address, prefix, router and DNS servers
                         from a DHCP lease (RFC 2131), printed as 'tapstack: lease ...';
                         renewed at T1, released on SIGINT/SIGTERM. Required.
  --dhcp-timeout S       With dhcp: give up (exit 1) when no server offers within S seconds
                         (default 30: DISCOVERs at about 0, 4, 12 and 28 s).
  --dhcp-probes N        With dhcp: ARP probes for the offered address before using it
                         (default 3, RFC 5227; 0 skips the check and its 4-6 s).
  --dns A[,A...]         DNS servers for names (connect HOST), instead of the lease's.
  --host-address A/P     Also give the kernel's side of the TAP this address and bring the
                         link up (as 'ip addr add A/P dev NAME; ip link set NAME up').
  --gateway A            Next hop for destinations outside the prefix.
  --mtu N                Link MTU, 68..65521 (default 1500). Set on the TAP too.
  --offload on|off       virtio-net header offloads: partial checksums and 64 KiB TSO/GSO
                         frames from and to the kernel (default on).
  --syn-queue on|off     A receive queue of its own for TCP connection requests (a
                         multi-queue TAP with an eBPF steering program), so that a SYN
                         flood cannot crowd out established connections (default on).
  --io uring|syscalls|auto
                         How frames cross into the kernel: uring reads and writes
                         batches of frames with one io_uring_enter each (fails to
                         start without io_uring), syscalls one readv or writev per
                         frame, auto (default) the ring where the kernel allows it.
                         With --impair frames go one by one. The first line
                         names the path: io uring or io syscalls.
  --split POLICY         Header split of the software NIC: fixed:66 (default; Ethernet +
                         IPv4 + TCP + timestamps), fixed:N (14..256), none, or adaptive.
  --serve LIST           Start services on tapstack: http:PORT (Node's http on tapstack
                         sockets: / and /bytes/N, N bytes where byte i is i mod 251,
                         and PUT or POST /sha256, answering the upload's SHA-256 and length),
                         echo:PORT, discard:PORT, chargen:PORT, source:PORT (the
                         pattern, endless, sent from pages), iperf3:PORT (an iperf3
                         server for the kernel's iperf3 -c: -R, -P, -t, -n, -l,
                         --bidir; it reads by page flipping, sends pages by
                         reference, and reports the zero-copy counters of each test),
                         udp-echo:PORT, udp-discard:PORT (UDP; pages flipped and sent
                         back by reference with zero copy on);
                         comma-separated, e.g. http:80,echo:7,discard:9,udp-echo:7.
  --zero-copy LIST       Zero-copy switches: send,receive (default), send, receive, or none.
                         Receive flips NIC pages to page readers; send puts pages on the
                         wire by reference (kern.ipc.zero_copy.send/receive).
  --impair SPEC          Fault injection in the NIC firmware, per direction, e.g.
                         'rx:loss=2%,reorder=1%;tx:loss=1%,dup=0.5%,corrupt=0.1%,delay=5ms±2ms'.
                         Keys: loss=P, burst=N, dup=P, reorder=P, by=N | hold=Tms,
                         corrupt=P, mark=P (CE on ECN-capable frames, others dropped),
                         delay=Tms[±Jms], rate=R[k|m|g]bit, queue=N.
  --seed N               Seed of the fault injector (default 1): same seed, same faults.
  --cc ALGORITHM         Congestion control: cubic (default; RFC 9438 with HyStart++) or
                         newreno (RFC 5681, RFC 6582).
  --tcp-retries N        Retransmissions, or zero-window probes in a row unanswered,
                         before a connection gives up with ETIMEDOUT (default 15, as
                         Linux's tcp_retries2).
  --pcap FILE            Capture every frame in and out, nanosecond timestamps. Frames reach
                         the file within a second (tail -f, and a kill loses at most that).
  --pcap-format F        pcap (classic; the default) or pcapng (the default for a FILE ending
                         in .pcapng): the interface's name, MTU, offloads and split policy,
                         each frame's direction, and comments on what the fault injector did.
  --pcap-flush           Write the capture after every read and write call (tcpdump's -U).
  --pcap-rotate MB       Start a new file once one holds MB million bytes (tcpdump's -C):
                         FILE, FILE1, FILE2, ...
  --pcap-files N         With --pcap-rotate: at most N files, FILE0..FILE<N-1>, the oldest
                         overwritten (tcpdump's -W).
  --snaplen N            Capture at most N bytes of each frame (default 262144).
  -h, --help             Show this text.

Environment:
  DEBUG=tapstack:*       Log, on stderr. Namespaces: tapstack:stack (start-up), :tap (the
                         device, io_uring), :nic, :iface, :arp (resolution and failures),
                         :tcp (listeners, and per connection: state changes, resets sent
                         and received with why, retransmission timeouts, recovery, zero-
                         window stalls; at most 100 lines a second, what is left out is
                         counted), :udp (bindings), :dhcp (the lease's states), :dns (queries).
`;

class UsageError extends Error {}

const parseArgsTyped = (args: string[], allowPositionals: boolean) =>
  parseArgs({
    args,
    options: {
      ifname: { type: 'string' },
      address: { type: 'string' },
      'host-address': { type: 'string' },
      gateway: { type: 'string' },
      mtu: { type: 'string' },
      offload: { type: 'string' },
      'syn-queue': { type: 'string' },
      io: { type: 'string' },
      split: { type: 'string' },
      pcap: { type: 'string' },
      snaplen: { type: 'string' },
      'pcap-format': { type: 'string' },
      'pcap-flush': { type: 'boolean' },
      'pcap-rotate': { type: 'string' },
      'pcap-files': { type: 'string' },
      control: { type: 'string' },
      metrics: { type: 'string' },
      serve: { type: 'string' },
      'tcp-retries': { type: 'string' },
      'zero-copy': { type: 'string' },
      impair: { type: 'string' },
      cc: { type: 'string' },
      seed: { type: 'string' },
      dns: { type: 'string' },
      'dhcp-timeout': { type: 'string' },
      'dhcp-probes': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals,
  });

function fail(code: number, msg: string): never {
  process.stderr.write(`tapstack: ${msg}\n`);
  process.exit(code);
}

function parseUp(argv: string[], positionals = false) {
  let parsed: ReturnType<typeof parseArgsTyped>;
  try {
    parsed = parseArgsTyped(argv, positionals);
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  if (!v.ifname) throw new UsageError('--ifname is required');
  if (!v.address) throw new UsageError('--address is required');
  try {
    validateIfName(v.ifname);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const address = v.address === 'dhcp' ? ('dhcp' as const) : cidr('--address', v.address);
  const hostAddress = v['host-address'] !== undefined ? cidr('--host-address', v['host-address']) : undefined;
  let gateway: number | undefined;
  if (v.gateway !== undefined) gateway = cidr('--gateway', `${v.gateway}/32`).address;
  const mtu = v.mtu === undefined ? 1500 : Number(v.mtu);
  if (v.mtu !== undefined && !/^\d+$/.test(v.mtu)) throw new UsageError(`--mtu takes a number, not ${JSON.stringify(v.mtu)}`);
  try {
    validateMtu(mtu);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const off = v.offload ?? 'on';
  if (off !== 'on' && off !== 'off') throw new UsageError(`--offload takes on or off, not ${JSON.stringify(off)}`);
  const synQueue = v['syn-queue'] ?? 'on';
  if (synQueue !== 'on' && synQueue !== 'off') throw new UsageError(`--syn-queue takes on or off, not ${JSON.stringify(synQueue)}`);
  const io = v.io ?? 'auto';
  if (io !== 'uring' && io !== 'syscalls' && io !== 'auto') throw new UsageError(`--io takes uring, syscalls or auto, not ${JSON.stringify(io)}`);
  let split;
  try {
    split = parseSplitPolicy(v.split ?? 'fixed:66');
  } catch (e) {
    if (e instanceof SplitPolicyError) throw new UsageError(e.message);
    throw e;
  }
  let snaplen: number | undefined;
  if (v.snaplen !== undefined) {
    snaplen = Number(v.snaplen);
    if (!/^\d+$/.test(v.snaplen) || snaplen < 14 || snaplen > 262144) throw new UsageError('--snaplen takes 14..262144');
  }
  const pcapFormat = v['pcap-format'];
  if (pcapFormat !== undefined && pcapFormat !== 'pcap' && pcapFormat !== 'pcapng') throw new UsageError(`--pcap-format takes pcap or pcapng, not ${JSON.stringify(pcapFormat)}`);
  let pcapRotateBytes: number | undefined;
  if (v['pcap-rotate'] !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(v['pcap-rotate']) || Number(v['pcap-rotate']) <= 0) throw new UsageError(`--pcap-rotate takes a size in millions of bytes, not ${JSON.stringify(v['pcap-rotate'])}`);
    pcapRotateBytes = Math.round(Number(v['pcap-rotate']) * 1e6);
  }
  let pcapRotateCount: number | undefined;
  if (v['pcap-files'] !== undefined) {
    pcapRotateCount = Number(v['pcap-files']);
    if (!/^\d+$/.test(v['pcap-files']) || pcapRotateCount < 1) throw new UsageError(`--pcap-files takes a whole number from 1, not ${JSON.stringify(v['pcap-files'])}`);
    if (pcapRotateBytes === undefined) throw new UsageError('--pcap-files goes with --pcap-rotate');
  }
  if (v.pcap === undefined && (pcapFormat !== undefined || v['pcap-flush'] || pcapRotateBytes !== undefined)) throw new UsageError('--pcap-format, --pcap-flush and --pcap-rotate go with --pcap FILE');
  let metrics: { host: string; port: number } | undefined;
  if (v.metrics !== undefined) {
    try {
      metrics = parseMetricsAddress(v.metrics);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const capture = { format: pcapFormat as 'pcap' | 'pcapng' | undefined, flush: v['pcap-flush'] ?? false, rotateBytes: pcapRotateBytes, rotateCount: pcapRotateCount };
  if (hostAddress && address !== 'dhcp' && hostAddress.address === address.address) throw new UsageError('--host-address must differ from --address');
  let services: ServiceSpec[] = [];
  if (v.serve !== undefined) {
    try {
      services = parseServices(v.serve);
    } catch (e) {
      throw new UsageError(`--serve: ${(e as Error).message}`);
    }
  }
  let tcpRetries: number | undefined;
  if (v['tcp-retries'] !== undefined) {
    tcpRetries = Number(v['tcp-retries']);
    if (!/^\d+$/.test(v['tcp-retries']) || tcpRetries < 1 || tcpRetries > 100) throw new UsageError('--tcp-retries takes 1..100');
  }
  let impair: ImpairmentSpec | undefined;
  let seed = 1;
  if (v.seed !== undefined) {
    if (!/^\d+$/.test(v.seed)) throw new UsageError(`--seed takes a whole number, not ${JSON.stringify(v.seed)}`);
    seed = Number(v.seed);
  }
  if (v.impair !== undefined) {
    try {
      impair = parseImpairments(v.impair, seed);
    } catch (e) {
      throw new UsageError(`--impair: ${(e as Error).message}`);
    }
  }
  const cc = v.cc ?? 'cubic';
  if (cc !== 'cubic' && cc !== 'newreno') throw new UsageError(`--cc takes cubic or newreno, not ${JSON.stringify(cc)}`);
  const zc = v['zero-copy'] ?? 'send,receive';
  const zcParts = zc === 'none' ? [] : zc.split(',');
  if (zcParts.some((p) => p !== 'send' && p !== 'receive') || (zc !== 'none' && zcParts.length === 0))
    throw new UsageError(`--zero-copy takes send,receive, send, receive or none, not ${JSON.stringify(zc)}`);
  const zeroCopy = { send: zcParts.includes('send'), receive: zcParts.includes('receive') };
  let dns: number[] | undefined;
  if (v.dns !== undefined) {
    try {
      dns = v.dns.split(',').map((a) => parseIpv4(a));
    } catch {
      throw new UsageError(`--dns takes IPv4 addresses separated by commas, not ${JSON.stringify(v.dns)}`);
    }
  }
  let dhcpTimeoutS: number | undefined;
  if (v['dhcp-timeout'] !== undefined) {
    dhcpTimeoutS = Number(v['dhcp-timeout']);
    if (!/^\d+$/.test(v['dhcp-timeout']) || dhcpTimeoutS < 1 || dhcpTimeoutS > 3600) throw new UsageError('--dhcp-timeout takes 1..3600 seconds');
  }
  let dhcpProbes: number | undefined;
  if (v['dhcp-probes'] !== undefined) {
    dhcpProbes = Number(v['dhcp-probes']);
    if (!/^\d+$/.test(v['dhcp-probes']) || dhcpProbes > 10) throw new UsageError('--dhcp-probes takes 0..10');
  }
  if (address !== 'dhcp' && (v['dhcp-timeout'] !== undefined || v['dhcp-probes'] !== undefined)) {
    throw new UsageError('--dhcp-timeout and --dhcp-probes need --address dhcp');
  }
  return { dns, dhcpTimeoutS, dhcpProbes, ifname: v.ifname, address, hostAddress, gateway, mtu, offload: off === 'on', synQueue: synQueue === 'on', io: io as 'uring' | 'syscalls' | 'auto', split, pcap: v.pcap, snaplen, capture, control: v.control, metrics, services, tcpRetries, zeroCopy, impair, cc: cc as 'cubic' | 'newreno', positionals: parsed.positionals };
}

function cidr(opt: string, text: string) {
  try {
    return parseCidr(text);
  } catch {
    throw new UsageError(`${opt} takes an IPv4 address with a prefix such as 198.18.0.2/24, not ${JSON.stringify(text)}`);
  }
}

type UpOptions = ReturnType<typeof parseUp>;

function openStack(o: UpOptions): Stack {
  try {
    return Stack.open({
      ifname: o.ifname,
      address: o.address,
      ...(o.dns ? { dns: o.dns } : {}),
      ...(o.address === 'dhcp' ? { dhcp: { hostname: 'tapstack', ...(o.dhcpTimeoutS !== undefined ? { offerTimeoutMs: o.dhcpTimeoutS * 1000 } : {}), ...(o.dhcpProbes !== undefined ? { probes: o.dhcpProbes } : {}) } } : {}),
      ...(o.hostAddress ? { hostAddress: o.hostAddress } : {}),
      ...(o.gateway !== undefined ? { gateway: o.gateway } : {}),
      mtu: o.mtu,
      offload: o.offload,
      synQueue: o.synQueue,
      io: o.io,
      split: o.split,
      ...(o.pcap ? { pcap: o.pcap } : {}),
      ...(o.snaplen ? { pcapSnaplen: o.snaplen } : {}),
      ...(o.capture.format ? { pcapFormat: o.capture.format } : {}),
      ...(o.capture.flush ? { pcapFlush: true } : {}),
      ...(o.capture.rotateBytes !== undefined ? { pcapRotateBytes: o.capture.rotateBytes } : {}),
      ...(o.capture.rotateCount !== undefined ? { pcapRotateCount: o.capture.rotateCount } : {}),
      tcp: { congestionControl: o.cc, ...(o.tcpRetries !== undefined ? { maxRetransmits: o.tcpRetries } : {}) },
      zeroCopy: o.zeroCopy,
      ...(o.impair ? { impair: o.impair } : {}),
    });
  } catch (e) {
    if (e instanceof TapError) fail(1, `${e.message} [${e.code}]`);
    fail(1, (e as Error).message);
  }
}

function parseOrFail(argv: string[], positionals = false): UpOptions {
  try {
    return parseUp(argv, positionals);
  } catch (e) {
    if (e instanceof UsageError) fail(2, `${e.message} (see tapstack --help)`);
    throw e;
  }
}

function printCounters(stack: Stack, counters: Counters | null): void {
  const out = process.stdout;
  if (counters) {
    for (const [k, v] of Object.entries(counters.connections)) if (v > 0) out.write(`${serviceKey(k)} ${v}\n`);
    if (counters.httpRequests > 0) out.write(`serve.http.requests ${counters.httpRequests}\n`);
    if (counters.iperf3) for (const [k, v] of Object.entries(counters.iperf3)) out.write(`serve.iperf3.${k} ${v}\n`);
  }
  out.write(formatCounters(stack.stats()));
}

/**
 * What the stack runs without, one line each on stderr: the SYN queue (and why), and the
 * settings of the TAP it was not permitted to make. Nothing when it has everything.
 */
function reportDevice(stack: Stack, o: UpOptions): void {
  const device = innermost(stack.nic.device);
  if (device instanceof TapDevice && device.steeringError) process.stderr.write(`tapstack: no SYN queue: ${device.steeringError.message}\n`);
  if (device instanceof TapDevice && device.uringError) process.stderr.write(`tapstack: no io_uring, one readv or writev per frame: ${device.uringError.message}\n`);
  if (stack.skipped.length > 0) process.stderr.write(`tapstack: ${formatSkipped(o.ifname, stack.skipped)}\n`);
}

/** A service's count: connections a TCP service accepted, datagrams a UDP one received. */
function serviceKey(service: string): string {
  return `serve.${service}.${service.startsWith('udp-') ? 'datagrams' : 'connections'}`;
}

/** The services' counters as `serve.*` entries (as printed at exit). */
function serviceEntries(counters: Counters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counters.connections)) out[serviceKey(k)] = v;
  out['serve.http.requests'] = counters.httpRequests;
  if (counters.iperf3) for (const [k, v] of Object.entries(counters.iperf3)) out[`serve.iperf3.${k}`] = v;
  return out;
}

async function up(argv: string[]): Promise<void> {
  const o = parseOrFail(argv);
  // The daemon runs until a signal, with or without services: the stack holds the loop itself.
  const stack = openStack(o).ref();
  const counters: Counters = { connections: { http: 0, echo: 0, discard: 0, chargen: 0, source: 0, iperf3: 0, 'udp-echo': 0, 'udp-discard': 0 }, httpRequests: 0, iperf3: null };
  const servers = startServices(stack, o.services, counters);
  for (const s of servers) s.on('error', (e: Error) => fail(1, `--serve: ${e.message}`));
  const device = innermost(stack.nic.device);
  reportDevice(stack, o);
  let stopping = false;
  let control: ControlServer | null = null;
  let metricsServer: HttpServer | null = null;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    control?.close();
    metricsServer?.close();
    // A DHCP lease is released first (its server's MAC resolved, at most 1 s).
    void stack.end().then(() => {
      // The connections' ends reach the services as completions and events (promise handlers,
      // process.nextTick): they give back the pages they held before the counters are read.
      setImmediate(() => {
        process.stdout.write(`tapstack: ${sig}, stopped\n`);
        printCounters(stack, counters);
        process.exit(0);
      });
    });
  };
  // Before the line that says it is up: a signal sent as soon as that line is read must find
  // the handlers (without them, SIGINT's default action ends the process with no counters).
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // The control socket is there before the line that says tapstack is up.
  if (o.control !== 'off') {
    const where = o.control ?? defaultControlPath(o.ifname);
    try {
      control = await ControlServer.listen(where, stack, () => serviceEntries(counters));
    } catch (e) {
      process.stderr.write(`tapstack: no control socket: ${(e as Error).message}\n`);
    }
  }
  if (o.metrics) {
    try {
      const m = o.metrics;
      metricsServer = await serveMetrics(m.host, m.port, () => [...counterEntries(stack.stats()), ...Object.entries(serviceEntries(counters))]);
    } catch (e) {
      fail(1, `--metrics: ${(e as Error).message}`);
    }
  }
  if (stopping) return;
  process.stdout.write(
    `tapstack up: ${o.ifname} ${o.address === 'dhcp' ? 'dhcp' : formatCidr(o.address)} mac ${formatMac(stack.iface.mac)} mtu ${o.mtu} offload ${o.offload ? 'on' : 'off'} syn-queue ${device.rxQueues > 1 ? 'on' : 'off'} io ${stack.io} split ${formatSplitPolicy(o.split)} cc ${o.cc} zero-copy ${[o.zeroCopy.send ? 'send' : '', o.zeroCopy.receive ? 'receive' : ''].filter(Boolean).join(',') || 'none'}${o.pcap ? ` pcap ${o.pcap}` : ''}${o.impair ? ` impair rx:${formatImpairment(o.impair.rx)};tx:${formatImpairment(o.impair.tx)} seed ${o.impair.seed}` : ''}${o.services.length ? ` serve ${o.services.map((s) => `${s.name}:${s.port}`).join(',')}` : ''}\n`,
  );
  if (stack.dhcp) reportLease(stack);
}

/** A line for the lease (`tapstack: lease ...`) and for each renewal; exit 1 when no server answered. */
function reportLease(stack: Stack): void {
  const say = (l: DhcpLease) =>
    process.stdout.write(
      `tapstack: lease ${formatIpv4(l.address)}/${l.prefixLength} router ${l.router !== null ? formatIpv4(l.router) : 'none'} dns ${l.dns.map(formatIpv4).join(',') || 'none'} lease ${l.leaseSeconds === 0xffffffff ? 'infinite' : `${l.leaseSeconds} s`} server ${formatIpv4(l.server)}\n`,
    );
  // An address in use (declined), a NAK or an expiry: discovery starts over.
  stack.onLeaseLost((why) => {
    if (why !== 'released') process.stdout.write(`tapstack: lease lost (${why}), asking again\n`);
  });
  stack.lease().then(
    (l) => {
      say(l);
      // Renewals and rebinds, and leases after an expiry: a line each.
      stack.onLease((next) => process.stdout.write(`tapstack: lease renewed ${formatIpv4(next.address)} for ${next.leaseSeconds} s\n`));
    },
    (e: Error) => {
      stack.close();
      fail(1, `dhcp: ${e.message}`);
    },
  );
}

/**
 * Send stdin with the zero-copy page API: read into pool pages, hand them over by reference,
 * take them back in completions (at most MAX_IN_FLIGHT pages out at a time).
 */
async function sendPages(stack: Stack, sock: Socket): Promise<void> {
  const MAX_IN_FLIGHT = 2048;
  const input = new PageInput(0, stack.pages, stack.nic.arena.base);
  let inFlight = 0;
  let refused = false;
  let wake: (() => void) | null = null;
  const wakeUp = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  try {
    for (;;) {
      while (inFlight >= MAX_IN_FLIGHT && !refused) await new Promise<void>((r) => (wake = r));
      if (refused) return;
      const pages = await input.read();
      if (pages.length === 0) break;
      if (sock.destroyed) {
        stack.pages.free(pages);
        return;
      }
      inFlight += pages.length;
      sock.writePages(pages).then(
        (c) => {
          inFlight -= pages.length;
          stack.pages.free(c.pages.filter((p) => p.id >= 0));
          wakeUp();
        },
        // Refused (the socket ended or went away): the pages were not taken. The loop must not
        // wait for completions that will not come.
        () => {
          inFlight -= pages.length;
          stack.pages.free(pages);
          refused = true;
          wakeUp();
        },
      );
    }
    sock.end();
  } catch (e) {
    sock.destroy(e as Error);
  }
}

/** `tapstack connect HOST PORT --ifname ... --address ...`: stdin/stdout over a tapstack connection. */
function connect(argv: string[]): void {
  const o = parseOrFail(argv, true);
  const [host, portText] = o.positionals;
  if (!host || !portText || o.positionals.length !== 2) fail(2, 'usage: tapstack connect HOST PORT --ifname NAME --address A/P [options] (see tapstack --help)');
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) fail(2, `port ${JSON.stringify(portText)} out of range 1..65535`);
  const stack = openStack(o);
  reportDevice(stack, o);
  if (stack.dhcp) {
    // With --address dhcp: connect once there is a lease (and its DNS servers).
    stack.lease().then(
      () => connectStream(stack, host, port),
      (e: Error) => {
        stack.close();
        fail(1, `dhcp: ${e.message}`);
      },
    );
  } else connectStream(stack, host, port);
}

/** The connection of `tapstack connect`: HOST an address or a name (the stack's resolver). */
function connectStream(stack: Stack, host: string, port: number): void {
  // The kernel side may need a moment to come up (DAD is IPv6-only; ARP answers at once).
  const sock = stack.connect({ host, port, highWaterMark: 256 * 1024 });
  let exitCode = 0;
  sock.on('error', (e: Error & { code?: string }) => {
    process.stderr.write(`tapstack: connect ${host}:${port}: ${e.message}${e.code ? ` [${e.code}]` : ''}\n`);
    exitCode = 1;
  });
  sock.on('connect', () => {
    if (stack.zeroCopy.send) void sendPages(stack, sock);
    else process.stdin.pipe(sock);
  });
  sock.pipe(process.stdout);
  sock.on('close', () => setImmediate(finish));
  const stopProgress = showProgress(process.stderr, () => {
    const i = sock.info();
    return { sent: i.bytesWritten, received: i.bytesRead };
  });
  // After the last completions ran (they are promise jobs queued with the final ACK).
  const finish = () => {
    stopProgress();
    stack.close();
    process.stderr.write(`tapstack: connection closed\n`);
    if (process.env.TAPSTACK_COUNTERS) {
      const s = stack.stats();
      process.stderr.write(formatCounters(s));
    }
    // Let stdout drain before exiting.
    process.stdout.write('', () => process.exit(exitCode));
  };
  process.on('SIGINT', () => sock.destroy());
  process.on('SIGTERM', () => sock.destroy());
}

/** `tapstack iperf3 -c HOST ... --ifname ... --address ...`: an iperf3 test from tapstack. */
function iperf3(argv: string[]): void {
  const split = splitIperf3Args(argv);
  let cmd: Iperf3Command;
  try {
    const parsed = parseArgs({ args: split.iperf3, options: IPERF3_OPTIONS, strict: true, allowPositionals: true });
    cmd = parseIperf3(parsed.values, parsed.positionals);
  } catch (e) {
    fail(2, `iperf3: ${(e as Error).message.split('\n')[0]} (see tapstack --help)`);
  }
  const o = parseOrFail(split.up);
  try {
    parseIpv4(cmd.host);
  } catch {
    fail(2, `iperf3: -c takes an IPv4 address, not ${JSON.stringify(cmd.host)}`);
  }
  const stack = openStack(o);
  reportDevice(stack, o);
  runIperf3(stack, cmd, (code) => {
    // The connections' last segments (IPERF_DONE and the FINs) go out before the stack closes.
    setTimeout(() => {
      stack.close();
      if (process.env.TAPSTACK_COUNTERS) process.stderr.write(formatCounters(stack.stats()));
      process.stdout.write('', () => process.exit(code));
    }, 200);
  });
}

/** The control socket a command talks to: --control, or the default one of --ifname (tap0). */
function controlPathOf(v: { control?: string | undefined; ifname?: string | undefined }): string {
  if (v.control) return v.control;
  const ifname = v.ifname ?? 'tap0';
  try {
    validateIfName(ifname);
  } catch (e) {
    fail(2, (e as Error).message);
  }
  return defaultControlPath(ifname);
}

/** The options of stats, ss and capture; each command refuses those that are not its own. */
function parseControlArgs(cmd: string, argv: string[], own: string[], positionals = false) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ifname: { type: 'string' }, control: { type: 'string' }, watch: { type: 'boolean' }, json: { type: 'boolean' }, interval: { type: 'string' }, 'pcap-format': { type: 'string' } },
      strict: true,
      allowPositionals: positionals,
    });
  } catch (e) {
    fail(2, (e as Error).message);
  }
  for (const k of Object.keys(parsed.values)) if (k !== 'ifname' && k !== 'control' && !own.includes(k)) fail(2, `tapstack ${cmd} takes no --${k}`);
  return parsed;
}

async function stats(argv: string[]): Promise<void> {
  const { values: v } = parseControlArgs('stats', argv, ['watch', 'json', 'interval']);
  // Read through a pipe that closes (| head, | grep -m): stop quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
  const where = controlPathOf(v);
  const interval = v.interval === undefined ? 1 : Number(v.interval);
  if (!(interval > 0 && interval <= 3600)) fail(2, `--interval takes seconds above 0, not ${JSON.stringify(v.interval)}`);
  const read = () => controlRequest<StatsReply>(where, { cmd: 'stats' });
  const sleep = () => new Promise((r) => setTimeout(r, interval * 1000));
  let prev = await read();
  for (;;) {
    await sleep();
    const now = await read();
    if (v.json) process.stdout.write(JSON.stringify(now) + '\n');
    else {
      if (v.watch && process.stdout.isTTY) process.stdout.write('\x1b[H\x1b[2J');
      process.stdout.write(formatStats(now, prev) + (v.watch ? '\n' : ''));
    }
    if (!v.watch) return;
    prev = now;
  }
}

async function ss(argv: string[]): Promise<void> {
  const { values: v } = parseControlArgs('ss', argv, ['json']);
  const r = await controlRequest<{ connections: ControlConnection[] }>(controlPathOf(v), { cmd: 'ss' });
  process.stdout.write(v.json ? JSON.stringify(r.connections) + '\n' : formatConnections(r.connections));
}

async function capture(argv: string[]): Promise<void> {
  const { values: v, positionals: p } = parseControlArgs('capture', argv, ['pcap-format'], true);
  const where = controlPathOf(v);
  if (p[0] === 'start' && p.length === 2) {
    const file = path.resolve(p[1]!);
    await controlRequest(where, { cmd: 'capture-start', file, ...(v['pcap-format'] ? { format: v['pcap-format'] } : {}) });
    process.stdout.write(`tapstack: capturing to ${file}\n`);
  } else if (p[0] === 'stop' && p.length === 1) {
    const r = await controlRequest<{ stopped: boolean }>(where, { cmd: 'capture-stop' });
    process.stdout.write(r.stopped ? 'tapstack: capture stopped\n' : 'tapstack: no capture was running\n');
  } else fail(2, 'tapstack capture start FILE | tapstack capture stop');
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up':
      void up(rest);
      return;
    case 'stats':
      void stats(rest).catch((e: Error) => fail(1, e.message));
      return;
    case 'ss':
      void ss(rest).catch((e: Error) => fail(1, e.message));
      return;
    case 'capture':
      void capture(rest).catch((e: Error) => fail(1, e.message));
      return;
    case 'connect':
      return connect(rest);
    case 'iperf3':
      return iperf3(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(HELP);
      if (cmd === undefined) process.exit(2);
      return;
    default:
      fail(2, `unknown command ${JSON.stringify(cmd)} (see tapstack --help)`);
  }
}

main(process.argv.slice(2));
