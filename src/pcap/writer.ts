/**
 * Classic pcap capture files (the libpcap format, "pcap-savefile(5)"), written with nanosecond
 * timestamps so that captures taken on a virtual clock or at 1M frames/s keep their order and
 * spacing. pcapng, with the interface's description, directions and comments, is pcapng.ts;
 * classic pcap is what tcpdump writes and every tool reads.
 *
 * The writer is built for the receive/transmit hot path:
 * - frames arrive as the NIC's scattered buffers (header buffer + pages) and are copied straight
 *   into one preallocated batch buffer, never concatenated first;
 * - the batch is written with one `writeSync` when full, on `flush()` and on `close()`;
 * - nothing is allocated per frame in the steady state (the bigint timestamp is split into
 *   seconds and nanoseconds without bigint arithmetic, which would allocate).
 *
 * Every field is written little-endian; readers recognise the byte order from the magic number.
 */
import { closeSync, openSync, writevSync } from 'node:fs';
import { BufferedCaptureFile, writeAll } from './buffered-file.js';
import type { CaptureWriter, FrameDirection } from './capture-writer.js';

/** Magic for microsecond timestamps (pcap-savefile(5)). */
export const PCAP_MAGIC_MICROS = 0xa1b2c3d4;
/** Magic for nanosecond timestamps (pcap-savefile(5), "modified" by libpcap 1.5+). */
export const PCAP_MAGIC_NANOS = 0xa1b23c4d;
/** Format version 2.4, the only one in use since 1998. */
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
/** LINKTYPE_ETHERNET (tcpdump.org link-layer header types): frames start at the MAC header. */
export const LINKTYPE_ETHERNET = 1;
/** libpcap's and tcpdump's default snap length (MAXIMUM_SNAPLEN): whole 64 KiB GSO frames fit. */
export const PCAP_DEFAULT_SNAPLEN = 262144;
/** Size of the batch buffer: large enough that a flush is one syscall per ~700 MTU frames. */
export const PCAP_DEFAULT_BUFFER_SIZE = 1 << 20;

const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
const NS_PER_S = 1_000_000_000;
/** ts_sec is an unsigned 32-bit field: the last representable instant (year 2106). */
const MAX_TIMESTAMP_NS = 0x1_0000_0000n * 1_000_000_000n - 1n;

export interface PcapWriterOptions {
  /** Bytes kept of each frame (the header's snaplen); longer frames are truncated. */
  snaplen?: number;
  /** Size of the batch buffer; frames whose record is larger are written directly. */
  bufferSize?: number;
}

/** Writes Ethernet frames to a classic pcap file with nanosecond timestamps. */
export class PcapWriter extends BufferedCaptureFile implements CaptureWriter {
  readonly snaplen: number;
  /** Record header for frames written directly (larger than the batch buffer). */
  private readonly recordHeader = new Uint8Array(RECORD_HEADER_LEN);
  private readonly recordHeaderView = new DataView(this.recordHeader.buffer);
  /** Scratch for splitting a bigint timestamp without bigint arithmetic. */
  private readonly tsView = new DataView(new ArrayBuffer(8));
  private tsSec = 0;
  private tsNsec = 0;

  private constructor(fd: number, snaplen: number, bufferSize: number) {
    super(fd, bufferSize, GLOBAL_HEADER_LEN);
    this.snaplen = snaplen;
  }

  /** Creates (or truncates) `path` and writes the global header at once, so the file is valid. */
  static open(path: string, opts: PcapWriterOptions = {}): PcapWriter {
    const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    const bufferSize = opts.bufferSize ?? PCAP_DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`pcap snaplen must be an integer in 1..2^31-1, got ${snaplen}`);
    }
    if (!Number.isInteger(bufferSize) || bufferSize < RECORD_HEADER_LEN) {
      throw new RangeError(`pcap bufferSize must be an integer >= ${RECORD_HEADER_LEN}, got ${bufferSize}`);
    }
    const fd = openSync(path, 'w');
    try {
      const header = new Uint8Array(GLOBAL_HEADER_LEN);
      const v = new DataView(header.buffer);
      v.setUint32(0, PCAP_MAGIC_NANOS, true);
      v.setUint16(4, PCAP_VERSION_MAJOR, true);
      v.setUint16(6, PCAP_VERSION_MINOR, true);
      v.setInt32(8, 0, true); // thiszone: timestamps are UTC
      v.setUint32(12, 0, true); // sigfigs: always 0 in practice
      v.setUint32(16, snaplen, true);
      v.setUint32(20, LINKTYPE_ETHERNET, true);
      writeAll(fd, header);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new PcapWriter(fd, snaplen, bufferSize);
  }


  /**
   * Appends one frame. `parts` are the frame's buffers in order; together they must hold at least
   * min(totalLength, snaplen) bytes (they may hold more: a slot is often larger than its frame).
   * `totalLength` is the frame's length on the wire (orig_len); `timestampNs` is nanoseconds
   * since the Unix epoch. A classic pcap record has no place for a direction or a comment.
   */
  writeFrame(parts: readonly Uint8Array[], totalLength: number, timestampNs: bigint, _direction?: FrameDirection, _comment?: string | null): void {
    const fd = this.openFd('PcapWriter');
    if (!Number.isInteger(totalLength) || totalLength < 0 || totalLength > 0xffffffff) {
      throw new RangeError(`pcap frame length must be a uint32, got ${totalLength}`);
    }
    const incl = totalLength < this.snaplen ? totalLength : this.snaplen;
    let avail = 0;
    for (let i = 0; i < parts.length; i++) avail += parts[i]!.byteLength;
    if (avail < incl) {
      throw new RangeError(`pcap frame parts hold ${avail} bytes, fewer than the ${incl} to capture`);
    }
    this.splitTimestamp(timestampNs);

    const recordLen = RECORD_HEADER_LEN + incl;
    if (recordLen > this.buf.length) {
      // Larger than the whole batch: keep file order, then hand the parts to writev as they are.
      this.flush();
      this.putRecordHeader(this.recordHeaderView, 0, incl, totalLength);
      const iov: Uint8Array[] = [this.recordHeader];
      let left = incl;
      for (let i = 0; i < parts.length && left > 0; i++) {
        const p = parts[i]!;
        iov.push(p.byteLength <= left ? p : p.subarray(0, left));
        left -= Math.min(p.byteLength, left);
      }
      writeAllv(fd, iov);
      this.written += recordLen;
    } else {
      if (this.pos + recordLen > this.buf.length) this.flush();
      this.putRecordHeader(this.view, this.pos, incl, totalLength);
      let at = this.pos + RECORD_HEADER_LEN;
      let left = incl;
      for (let i = 0; i < parts.length && left > 0; i++) {
        const p = parts[i]!;
        if (p.byteLength <= left) {
          this.buf.set(p, at);
          at += p.byteLength;
          left -= p.byteLength;
        } else {
          // Only the part cut by the snap length (or the slot's unused tail) needs a view.
          this.buf.set(p.subarray(0, left), at);
          at += left;
          left = 0;
        }
      }
      this.pos = at;
    }
    this.frames++;
  }

  private putRecordHeader(v: DataView, at: number, incl: number, orig: number): void {
    v.setUint32(at, this.tsSec, true);
    v.setUint32(at + 4, this.tsNsec, true); // nanoseconds, because the magic says so
    v.setUint32(at + 8, incl, true);
    v.setUint32(at + 12, orig, true);
  }

  /**
   * Splits nanoseconds into (seconds, nanoseconds) by long division of four 16-bit limbs by 1e9:
   * every intermediate value stays below 2^53, so plain numbers are exact and nothing allocates.
   */
  private splitTimestamp(ts: bigint): void {
    if (ts < 0n || ts > MAX_TIMESTAMP_NS) {
      throw new RangeError(`pcap timestamp ${ts} ns is outside 0..2^32 s`);
    }
    const v = this.tsView;
    v.setBigUint64(0, ts);
    let q = 0;
    let r = 0;
    for (let i = 0; i < 8; i += 2) {
      const cur = r * 65536 + v.getUint16(i);
      const d = Math.floor(cur / NS_PER_S);
      r = cur - d * NS_PER_S;
      q = q * 65536 + d;
    }
    this.tsSec = q;
    this.tsNsec = r;
  }
}

/** `writevSync` until every buffer is written, resuming after a short write. */
function writeAllv(fd: number, iov: Uint8Array[]): void {
  let bufs = iov;
  while (bufs.length > 0) {
    let n = writevSync(fd, bufs);
    let i = 0;
    while (i < bufs.length && n >= bufs[i]!.byteLength) n -= bufs[i++]!.byteLength;
    bufs = bufs.slice(i);
    if (n > 0) bufs[0] = bufs[0]!.subarray(n);
  }
}

/** One record of a capture read by {@link readPcap}. */
export interface PcapRecord {
  /** Nanoseconds since the Unix epoch (microsecond files are scaled). */
  tsNs: bigint;
  inclLen: number;
  origLen: number;
  /** A view into the input buffer, `inclLen` bytes. */
  data: Uint8Array;
}

export interface PcapFile {
  linktype: number;
  snaplen: number;
  /** True for the nanosecond magic 0xa1b23c4d, false for the microsecond 0xa1b2c3d4. */
  nanos: boolean;
  records: PcapRecord[];
}

/**
 * A small classic-pcap reader for tests and tools: either byte order, micro- or nanosecond
 * magic. Throws on an unknown magic or a truncated record rather than guessing.
 */
export function readPcap(buf: Uint8Array): PcapFile {
  if (buf.length < GLOBAL_HEADER_LEN) throw new Error(`pcap: ${buf.length} bytes is shorter than the global header`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magicLe = v.getUint32(0, true);
  let le: boolean;
  let nanos: boolean;
  if (magicLe === PCAP_MAGIC_MICROS || magicLe === PCAP_MAGIC_NANOS) {
    le = true;
    nanos = magicLe === PCAP_MAGIC_NANOS;
  } else {
    const magicBe = v.getUint32(0, false);
    if (magicBe !== PCAP_MAGIC_MICROS && magicBe !== PCAP_MAGIC_NANOS) {
      throw new Error(`pcap: unknown magic 0x${magicLe.toString(16)}`);
    }
    le = false;
    nanos = magicBe === PCAP_MAGIC_NANOS;
  }
  const snaplen = v.getUint32(16, le);
  const linktype = v.getUint32(20, le);
  const fracScale = nanos ? 1n : 1000n;
  const records: PcapRecord[] = [];
  let at = GLOBAL_HEADER_LEN;
  while (at < buf.length) {
    if (at + RECORD_HEADER_LEN > buf.length) throw new Error(`pcap: truncated record header at byte ${at}`);
    const sec = v.getUint32(at, le);
    const frac = v.getUint32(at + 4, le);
    const inclLen = v.getUint32(at + 8, le);
    const origLen = v.getUint32(at + 12, le);
    const start = at + RECORD_HEADER_LEN;
    if (start + inclLen > buf.length) throw new Error(`pcap: record at byte ${at} claims ${inclLen} bytes past the end`);
    records.push({
      tsNs: BigInt(sec) * 1_000_000_000n + BigInt(frac) * fracScale,
      inclLen,
      origLen,
      data: buf.subarray(start, start + inclLen),
    });
    at = start + inclLen;
  }
  return { linktype, snaplen, nanos, records };
}
