#!/usr/bin/env node
/**
 * The `tapstack` command.
 *
 *   tapstack up --ifname tap0 --address 198.18.0.2/24 [--host-address 198.18.0.1/24]
 *               [--mtu 1500] [--offload on|off] [--split fixed:66|fixed:N|none|adaptive]
 *               [--pcap FILE] [--snaplen N]
 *
 * Bad options get one line on stderr and exit code 2; a failure to start gets one line and 1.
 */
import { parseArgs } from 'node:util';
import { Stack } from '../stack.js';
import { parseSplitPolicy, formatSplitPolicy, SplitPolicyError } from '../../firmware/split-policy.js';
import { formatCidr, formatMac, parseCidr } from '../wire/addr.js';
import { TapError } from '../tap/errors.js';
import { validateIfName, validateMtu } from '../tap/tap-device.js';
import { formatCounters } from './counters.js';

const HELP = `Usage: tapstack <command> [options]

Commands:
  up        Create a TAP device in this network namespace and run the stack on it
            until SIGINT or SIGTERM; then print the counters and exit.
  help      Show this text.

Options of 'up':
  --ifname NAME          TAP device to create or attach to (1-15 characters). Required.
  --address A/P          tapstack's IPv4 address and prefix, e.g. 198.18.0.2/24. Required.
  --host-address A/P     Also give the kernel's side of the TAP this address and bring the
                         link up (as 'ip addr add A/P dev NAME; ip link set NAME up').
  --gateway A            Next hop for destinations outside the prefix.
  --mtu N                Link MTU, 68..65521 (default 1500). Set on the TAP too.
  --offload on|off       virtio-net header offloads: partial checksums and 64 KiB TSO/GSO
                         frames from and to the kernel (default on).
  --split POLICY         Header split of the software NIC: fixed:66 (default; Ethernet +
                         IPv4 + TCP + timestamps), fixed:N (14..256), none, or adaptive.
  --pcap FILE            Capture every frame in and out (pcap, nanosecond timestamps).
  --snaplen N            Capture at most N bytes of each frame (default 262144).
  -h, --help             Show this text.

Environment:
  DEBUG=tapstack:*       Log (namespaces tapstack:tap, :nic, :iface, :arp, :stack).
`;

class UsageError extends Error {}

function fail(code: number, msg: string): never {
  process.stderr.write(`tapstack: ${msg}\n`);
  process.exit(code);
}

function parseUp(argv: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ifname: { type: 'string' },
        address: { type: 'string' },
        'host-address': { type: 'string' },
        gateway: { type: 'string' },
        mtu: { type: 'string' },
        offload: { type: 'string' },
        split: { type: 'string' },
        pcap: { type: 'string' },
        snaplen: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    });
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
  const address = cidr('--address', v.address);
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
  if (hostAddress && hostAddress.address === address.address) throw new UsageError('--host-address must differ from --address');
  return { ifname: v.ifname, address, hostAddress, gateway, mtu, offload: off === 'on', split, pcap: v.pcap, snaplen };
}

function cidr(opt: string, text: string) {
  try {
    return parseCidr(text);
  } catch {
    throw new UsageError(`${opt} takes an IPv4 address with a prefix such as 198.18.0.2/24, not ${JSON.stringify(text)}`);
  }
}

function up(argv: string[]): void {
  let o;
  try {
    o = parseUp(argv);
  } catch (e) {
    if (e instanceof UsageError) fail(2, `${e.message} (see tapstack up --help)`);
    throw e;
  }
  let stack: Stack;
  try {
    stack = Stack.open({
      ifname: o.ifname,
      address: o.address,
      ...(o.hostAddress ? { hostAddress: o.hostAddress } : {}),
      ...(o.gateway !== undefined ? { gateway: o.gateway } : {}),
      mtu: o.mtu,
      offload: o.offload,
      split: o.split,
      ...(o.pcap ? { pcap: o.pcap } : {}),
      ...(o.snaplen ? { pcapSnaplen: o.snaplen } : {}),
    });
  } catch (e) {
    if (e instanceof TapError) fail(1, `${e.message} [${e.code}]`);
    fail(1, (e as Error).message);
  }
  process.stdout.write(
    `tapstack up: ${o.ifname} ${formatCidr(o.address)} mac ${formatMac(stack.iface.mac)} mtu ${o.mtu} offload ${o.offload ? 'on' : 'off'} split ${formatSplitPolicy(o.split)}${o.pcap ? ` pcap ${o.pcap}` : ''}\n`,
  );
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    stack.close();
    process.stdout.write(`tapstack: ${sig}, stopped\n`);
    process.stdout.write(formatCounters(stack.stats()));
    process.exit(0);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'up':
      return up(rest);
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
