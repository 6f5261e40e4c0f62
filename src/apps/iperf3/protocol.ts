/**
 * The iperf3 control protocol on the wire (esnet/iperf: iperf_api.h, iperf_api.c, iperf_tcp.c):
 * what one side may send the other on the control connection, and a reader that takes it apart
 * as the bytes arrive, whatever the segment boundaries.
 *
 * - A test begins with the client's cookie: 36 characters of [a-z2-7] and a NUL (COOKIE_SIZE
 *   37). Every data stream the client opens later sends the same cookie first.
 * - The server drives the test with one signed byte per state; the client answers TEST_END,
 *   IPERF_DONE or CLIENT_TERMINATE the same way.
 * - Parameters and results are JSON, each preceded by its length as a 32-bit big-endian
 *   integer (JSON_write/JSON_read).
 * - SERVER_ERROR is followed by two 32-bit big-endian integers: iperf3's own error code and the
 *   errno that went with it.
 */

/** Control states, as iperf_api.h numbers them (a signed char on the wire). */
export const State = {
  TEST_START: 1,
  TEST_RUNNING: 2,
  TEST_END: 4,
  PARAM_EXCHANGE: 9,
  CREATE_STREAMS: 10,
  SERVER_TERMINATE: 11,
  CLIENT_TERMINATE: 12,
  EXCHANGE_RESULTS: 13,
  DISPLAY_RESULTS: 14,
  IPERF_START: 15,
  IPERF_DONE: 16,
  ACCESS_DENIED: -1,
  SERVER_ERROR: -2,
} as const;
export type StateCode = (typeof State)[keyof typeof State];

const STATE_NAMES = new Map<number, string>(Object.entries(State).map(([k, v]) => [v, k]));

/** The name of a state byte, for messages (`state 99` when it is none). */
export function stateName(code: number): string {
  return STATE_NAMES.get(code) ?? `state ${code}`;
}

/** iperf.h COOKIE_SIZE: an ASCII cookie of 36 characters and its NUL. */
export const COOKIE_SIZE = 37;
/** iperf_util.c make_cookie's alphabet. */
const COOKIE_CHARS = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * The longest parameter JSON accepted: iperf3 3.17 and later refuse more than 8 KiB
 * (MAX_PARAMS_JSON_STRING); a client's parameters are a few hundred bytes.
 */
export const MAX_PARAMS_JSON = 8 * 1024;
/** The longest results JSON accepted: 128 streams of about 200 bytes each, with room to spare. */
export const MAX_RESULTS_JSON = 1024 * 1024;

/** iperf3's error codes (iperf_api.h) that tapstack sends with SERVER_ERROR or reports. */
export const IperfErrno = {
  IEDURATION: 5,
  IENUMSTREAMS: 6,
  IEBLOCKSIZE: 7,
  IEUNIMP: 13,
  IEREVERSEBIDIR: 25,
  IERECVPARAMS: 114,
  IEACCESSDENIED: 121,
  IEPROTOCOL: 131,
  IEAUTHTEST: 142,
} as const;

/** Why a control message was refused. */
export type Iperf3ErrorCode =
  /** A state byte that has no meaning at this point of the test. */
  | 'unexpected-state'
  /** A JSON length of zero or above the bound. */
  | 'json-length'
  /** Bytes that are not JSON, or JSON that is not an object. */
  | 'json-syntax'
  /** A JSON object whose fields are missing, of the wrong type or out of range. */
  | 'bad-params'
  | 'bad-results'
  /** A cookie that is not 36 printable characters and a NUL. */
  | 'bad-cookie'
  /** The peer sent more than the protocol allows at this point. */
  | 'trailing-bytes'
  /** The peer closed the control connection, or it failed. */
  | 'control-closed'
  /** The peer took too long. */
  | 'timeout'
  /** The peer refused or ended the test (ACCESS_DENIED, SERVER_ERROR, *_TERMINATE). */
  | 'peer-refused'
  /** A data stream failed or closed early. */
  | 'stream';

export class Iperf3Error extends Error {
  override readonly name = 'Iperf3Error';
  constructor(
    readonly code: Iperf3ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A fresh cookie (make_cookie): `random` fills the 36 bytes that choose the characters. */
export function makeCookie(random: (buf: Uint8Array) => void): Buffer {
  const out = Buffer.alloc(COOKIE_SIZE);
  random(out.subarray(0, COOKIE_SIZE - 1));
  for (let i = 0; i < COOKIE_SIZE - 1; i++) out[i] = COOKIE_CHARS.charCodeAt(out[i]! % COOKIE_CHARS.length);
  out[COOKIE_SIZE - 1] = 0;
  return out;
}

/**
 * The cookie as text, checked: printable ASCII up to a NUL (iperf3 compares it with strcmp, so
 * what follows the NUL does not count). A cookie without its NUL is refused.
 */
export function cookieText(raw: Uint8Array): string {
  if (raw.length !== COOKIE_SIZE) throw new Iperf3Error('bad-cookie', `cookie of ${raw.length} bytes, not ${COOKIE_SIZE}`);
  const nul = raw.indexOf(0);
  if (nul < 1) throw new Iperf3Error('bad-cookie', nul === 0 ? 'empty cookie' : 'cookie without its terminating NUL');
  for (let i = 0; i < nul; i++) {
    const c = raw[i]!;
    if (c < 0x21 || c > 0x7e) throw new Iperf3Error('bad-cookie', `cookie byte ${i} is 0x${c.toString(16).padStart(2, '0')}, not printable ASCII`);
  }
  return Buffer.from(raw.buffer, raw.byteOffset, nul).toString('latin1');
}

/** One state byte. */
export function encodeState(code: StateCode): Buffer {
  const b = Buffer.alloc(1);
  b.writeInt8(code, 0);
  return b;
}

/** A JSON message: its length (32 bits, big-endian) and the JSON text (JSON_write). */
export function encodeJson(value: object): Buffer {
  const text = Buffer.from(JSON.stringify(value), 'utf8');
  const out = Buffer.allocUnsafe(4 + text.length);
  out.writeUInt32BE(text.length, 0);
  text.copy(out, 4);
  return out;
}

/** SERVER_ERROR and its two codes. */
export function encodeServerError(ierrno: number, errno = 0): Buffer {
  const out = Buffer.alloc(9);
  out.writeInt8(State.SERVER_ERROR, 0);
  out.writeInt32BE(ierrno, 1);
  out.writeInt32BE(errno, 5);
  return out;
}

/**
 * The control connection's bytes as they arrive, read as the protocol's units. Each read either
 * takes a whole unit or returns null and takes nothing, so a unit split across segments is read
 * once the rest has come. Malformed units throw {@link Iperf3Error}.
 */
export class ControlReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;

  /** Bytes received and not read yet. */
  get buffered(): number {
    return this.buf.length - this.off;
  }

  push(chunk: Uint8Array): void {
    const rest = this.buf.length - this.off;
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.buf = rest === 0 ? c : Buffer.concat([this.buf.subarray(this.off), c]);
    this.off = 0;
  }

  /** A state byte (signed), or null. */
  readState(): number | null {
    if (this.buffered < 1) return null;
    return this.buf.readInt8(this.off++);
  }

  /** A big-endian 32-bit signed integer, or null. */
  readInt32(): number | null {
    if (this.buffered < 4) return null;
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  /** The 37 bytes of a cookie, checked ({@link cookieText}), or null. */
  readCookie(): string | null {
    if (this.buffered < COOKIE_SIZE) return null;
    const raw = this.buf.subarray(this.off, this.off + COOKIE_SIZE);
    this.off += COOKIE_SIZE;
    return cookieText(raw);
  }

  /** A length-prefixed JSON object of at most `max` bytes, or null. */
  readJson(max: number): Record<string, unknown> | null {
    if (this.buffered < 4) return null;
    const len = this.buf.readUInt32BE(this.off);
    if (len === 0 || len > max) throw new Iperf3Error('json-length', `JSON message of ${len} bytes (1..${max} allowed)`);
    if (this.buffered < 4 + len) return null;
    const text = this.buf.toString('utf8', this.off + 4, this.off + 4 + len);
    this.off += 4 + len;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Iperf3Error('json-syntax', `JSON message does not parse: ${(e as Error).message}`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Iperf3Error('json-syntax', 'JSON message is not an object');
    return v as Record<string, unknown>;
  }
}
