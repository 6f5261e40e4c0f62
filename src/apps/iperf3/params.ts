/**
 * A test's parameters, the JSON the client sends after PARAM_EXCHANGE (iperf_api.c
 * send_parameters/get_parameters), and which way each data stream goes.
 */
import { Iperf3Error, IperfErrno } from './protocol.js';

/** iperf.h: MAX_TIME (s), MAX_STREAMS, MAX_BLOCKSIZE (1 MiB). */
export const MAX_TIME = 86400;
export const MAX_STREAMS = 128;
export const MAX_BLOCKSIZE = 1024 * 1024;
/** iperf_api.h DEFAULT_TCP_BLKSIZE: 128 KiB a write. */
export const DEFAULT_TCP_BLKSIZE = 128 * 1024;
/** The protocol version tapstack speaks, sent as `client_version` as iperf3 3.12 does. */
export const CLIENT_VERSION = '3.12';

export interface TestParams {
  /** Seconds (-t); 0 when the test ends by bytes. */
  time: number;
  /** Bytes in all (-n); 0: by time. */
  num: number;
  /** Blocks of `len` in all (-k); 0: not by blocks. */
  blockcount: number;
  /** Streams each way (-P). */
  parallel: number;
  /** The server sends (-R). */
  reverse: boolean;
  /** Both send, `parallel` streams each way (--bidir). */
  bidirectional: boolean;
  /** Bytes a write (-l). */
  len: number;
  /** The sender sends a repeating pattern instead of random bytes (--repeating-payload). */
  repeatingPayload: boolean;
  /** The client wants the server's report in the results (--get-server-output). */
  getServerOutput: boolean;
  /** TCP_NODELAY on the streams (-N). */
  noDelay: boolean;
}

/** Why the server refuses parameters: the message and the iperf3 error code it sends. */
export class ParamsRefused extends Iperf3Error {
  constructor(
    readonly ierrno: number,
    message: string,
  ) {
    super('bad-params', message);
  }
}

function int(j: Record<string, unknown>, key: string, min: number, max: number, ierrno: number): number | undefined {
  const v = j[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ParamsRefused(ierrno, `parameter ${key} is ${JSON.stringify(v)}, not a whole number in ${min}..${max}`);
  return v;
}

/**
 * The parameters of a client's JSON, checked. What tapstack cannot do is refused with the code
 * iperf3 uses for it (not TCP: IEPROTOCOL; rate limits, omitted seconds, authentication:
 * IEUNIMP or IEAUTHTEST), as is what iperf3's own limits refuse.
 */
export function parseParams(j: Record<string, unknown>): TestParams {
  if (j.udp !== undefined || j.sctp !== undefined || j.tcp !== true) throw new ParamsRefused(IperfErrno.IEPROTOCOL, 'only TCP tests are served');
  if ((int(j, 'omit', 0, 600, IperfErrno.IERECVPARAMS) ?? 0) !== 0) throw new ParamsRefused(IperfErrno.IEUNIMP, 'omitting the first seconds (-O) is not supported');
  if ((int(j, 'bandwidth', 0, Number.MAX_SAFE_INTEGER, IperfErrno.IERECVPARAMS) ?? 0) !== 0) throw new ParamsRefused(IperfErrno.IEUNIMP, 'a target bitrate (-b) is not supported for TCP');
  if (j.authtoken !== undefined) throw new ParamsRefused(IperfErrno.IEAUTHTEST, 'authentication is not supported');
  if (j.reverse !== undefined && j.bidirectional !== undefined) throw new ParamsRefused(IperfErrno.IEREVERSEBIDIR, 'reverse and bidirectional at once');
  const p: TestParams = {
    time: int(j, 'time', 0, MAX_TIME, IperfErrno.IEDURATION) ?? 10,
    num: int(j, 'num', 0, Number.MAX_SAFE_INTEGER, IperfErrno.IERECVPARAMS) ?? 0,
    blockcount: int(j, 'blockcount', 0, Number.MAX_SAFE_INTEGER, IperfErrno.IERECVPARAMS) ?? 0,
    parallel: int(j, 'parallel', 1, MAX_STREAMS, IperfErrno.IENUMSTREAMS) ?? 1,
    reverse: j.reverse !== undefined,
    bidirectional: j.bidirectional !== undefined,
    len: int(j, 'len', 1, MAX_BLOCKSIZE, IperfErrno.IEBLOCKSIZE) ?? DEFAULT_TCP_BLKSIZE,
    repeatingPayload: j.repeating_payload !== undefined,
    getServerOutput: j.get_server_output !== undefined,
    noDelay: j.nodelay !== undefined,
  };
  if (p.time === 0 && p.num === 0 && p.blockcount === 0) throw new ParamsRefused(IperfErrno.IERECVPARAMS, 'no end condition: time, num and blockcount are all 0');
  return p;
}

/** The JSON a client sends (send_parameters), for these parameters. */
export function paramsJson(p: TestParams): Record<string, unknown> {
  const j: Record<string, unknown> = { tcp: true, omit: 0, time: p.time, num: p.num, blockcount: p.blockcount, parallel: p.parallel };
  if (p.noDelay) j.nodelay = true;
  if (p.reverse) j.reverse = true;
  if (p.bidirectional) j.bidirectional = true;
  j.len = p.len;
  if (p.repeatingPayload) j.repeating_payload = 1;
  if (p.getServerOutput) j.get_server_output = 1;
  j.pacing_timer = 1000;
  j.client_version = CLIENT_VERSION;
  return j;
}

/** Bytes the test sends in all before it ends (-n, or -k blocks of -l), Infinity when by time. */
export function byteLimit(p: TestParams): number {
  if (p.num > 0) return p.num;
  if (p.blockcount > 0) return p.blockcount * p.len;
  return Infinity;
}

/**
 * Whether each data stream sends from the point of view of `role`, in the order the client
 * opens them and the server accepts them: the client opens its sending streams first
 * (iperf_client_api.c iperf_handle_message_client, CREATE_STREAMS), and the server takes the
 * first ones it accepts as its receiving streams (iperf_server_api.c iperf_run_server).
 */
export function streamSenders(p: TestParams, role: 'client' | 'server'): boolean[] {
  const clientSends = !p.reverse;
  const out: boolean[] = [];
  if (p.bidirectional) {
    for (let i = 0; i < p.parallel; i++) out.push(role === 'client');
    for (let i = 0; i < p.parallel; i++) out.push(role === 'server');
  } else {
    for (let i = 0; i < p.parallel; i++) out.push(role === 'client' ? clientSends : !clientSends);
  }
  return out;
}

/**
 * Stream ids in the same order (iperf_api.c iperf_add_stream): the first is 1, the next ones 3,
 * 4, 5, ...; kept as it is for compatibility between versions, and so it must be here.
 */
export function streamId(index: number): number {
  return index === 0 ? 1 : index + 2;
}
