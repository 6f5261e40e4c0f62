/**
 * `tapstack iperf3 -c HOST [-p PORT] [-R] [-P N] [-t S] [-n BYTES] [-l LEN] [--bidir] [-J]`: an
 * iperf3 client on tapstack, with iperf3's own option letters and size suffixes; the options
 * of `up` choose the interface.
 */
import type { Stack } from '../stack.js';
import { Iperf3Client } from '../apps/iperf3/client.js';
import { DEFAULT_TCP_BLKSIZE, MAX_BLOCKSIZE, MAX_STREAMS, MAX_TIME, type TestParams } from '../apps/iperf3/params.js';

/** The client's options, for node:util parseArgs next to those of `up`. */
export const IPERF3_OPTIONS = {
  client: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  reverse: { type: 'boolean', short: 'R' },
  parallel: { type: 'string', short: 'P' },
  time: { type: 'string', short: 't' },
  bytes: { type: 'string', short: 'n' },
  length: { type: 'string', short: 'l' },
  bidir: { type: 'boolean' },
  json: { type: 'boolean', short: 'J' },
} as const;

export interface Iperf3Command {
  host: string;
  port: number;
  params: TestParams;
  json: boolean;
}

/** units.c unit_atoi: a number with an optional K, M, G or T (powers of 1024). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgGtT]?)$/.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not a size such as 8M`);
  const exp = ' kmgt'.indexOf(m[2]!.toLowerCase() || ' ');
  return Math.floor(Number(m[1]) * 1024 ** exp);
}

function whole(opt: string, text: string | undefined, min: number, max: number, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${opt} takes a whole number in ${min}..${max}, not ${JSON.stringify(text)}`);
  return n;
}

/** The client's options, checked; errors are usage errors (one line). */
export function parseIperf3(v: Record<string, string | boolean | undefined>, positionals: string[]): Iperf3Command {
  if (positionals.length > 0) throw new Error(`unexpected ${JSON.stringify(positionals[0])}`);
  const host = v.client;
  if (typeof host !== 'string') throw new Error('-c HOST is required');
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const port = whole('-p', str('port'), 1, 65535, 5201);
  const parallel = whole('-P', str('parallel'), 1, MAX_STREAMS, 1);
  if (v.reverse && v.bidir) throw new Error('-R and --bidir exclude each other');
  const num = str('bytes') !== undefined ? parseSize(str('bytes')!) : 0;
  if (str('bytes') !== undefined && num < 1) throw new Error('-n takes at least 1 byte');
  if (str('bytes') !== undefined && str('time') !== undefined) throw new Error('only one of -t and -n may be given');
  const time = num > 0 ? 0 : whole('-t', str('time'), 1, MAX_TIME, 10);
  const len = str('length') !== undefined ? parseSize(str('length')!) : DEFAULT_TCP_BLKSIZE;
  if (len < 1 || len > MAX_BLOCKSIZE) throw new Error(`-l takes 1..${MAX_BLOCKSIZE} bytes`);
  return {
    host,
    port,
    json: v.json === true,
    params: { time, num, blockcount: 0, parallel, reverse: v.reverse === true, bidirectional: v.bidir === true, len, repeatingPayload: false, getServerOutput: false, noDelay: false },
  };
}

/**
 * Run the test and print its report (iperf3's lines as they come, or its JSON at the end with
 * -J; an error also on stderr), then call `exit` with 0 on success and 1 on failure.
 */
export function runIperf3(stack: Stack, cmd: Iperf3Command, exit: (code: number) => void): void {
  const print = (line: string) => process.stdout.write(line + '\n');
  const client = new Iperf3Client(stack, { host: cmd.host, port: cmd.port, params: cmd.params, ...(cmd.json ? {} : { out: print }) });
  client.done.then(
    (r) => {
      if (cmd.json) print(JSON.stringify(client.json(), null, 2));
      else {
        for (const l of r.summary) print(l);
        print('');
        print('iperf Done.');
      }
      exit(0);
    },
    (e: Error) => {
      if (cmd.json) print(JSON.stringify(client.json(e.message), null, 2));
      process.stderr.write(`tapstack iperf3: error - ${e.message}\n`);
      exit(1);
    },
  );
}

/**
 * Split the command line into the client's options and those of `up`: an option of `up` keeps
 * its value with it (all of them take one, but --help), so a value is never taken for a flag.
 */
export function splitIperf3Args(argv: string[]): { iperf3: string[]; up: string[] } {
  const shorts = new Map<string, boolean>(Object.values(IPERF3_OPTIONS).flatMap((o) => ('short' in o ? [[`-${o.short}`, o.type === 'string'] as const] : [])));
  const longs = new Map<string, boolean>(Object.entries(IPERF3_OPTIONS).map(([k, o]) => [`--${k}`, o.type === 'string']));
  const iperf3: string[] = [];
  const up: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.split('=')[0]! : a.slice(0, 2);
    const takesValue = a.startsWith('--') ? longs.get(name) : shorts.get(name);
    if (takesValue !== undefined) {
      iperf3.push(a);
      // `-t 5` and `--time 5` take the next word; `-t5` and `--time=5` carry it.
      if (takesValue && a === name && i + 1 < argv.length) iperf3.push(argv[++i]!);
    } else {
      up.push(a);
      if (a.startsWith('--') && !a.includes('=') && a !== '--help' && i + 1 < argv.length) up.push(argv[++i]!);
    }
  }
  return { iperf3, up };
}
