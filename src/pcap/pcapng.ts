/**
 * pcapng capture files (draft-ietf-opsawg-pcapng): a Section Header Block, one Interface
 * Description Block that says what the interface was (its name, and in its description the MTU,
 * the offloads and the header-split policy), then an Enhanced Packet Block per frame with its
 * direction (epb_flags) and, where something happened to it on the way (the fault injector
 * dropped, duplicated, delayed or corrupted it), a comment. Timestamps are nanoseconds
 * (if_tsresol 9).
 *
 * Built as the classic writer is (writer.ts): the frame's scattered buffers are copied straight
 * into one batch buffer, written with one `writeSync` when full, on `flush()` and on `close()`;
 * nothing is allocated per frame unless it carries a comment.
 *
 * Every block is written little-endian; readers learn the byte order from the SHB's magic.
 */
import { closeSync, openSync } from 'node:fs';
import { BufferedCaptureFile, writeAll } from './buffered-file.js';
import type { CaptureWriter, FrameDirection } from './capture-writer.js';
import { LINKTYPE_ETHERNET, PCAP_DEFAULT_BUFFER_SIZE, PCAP_DEFAULT_SNAPLEN } from './writer.js';

/** Block types (pcapng 4.1, 4.2, 4.3). */
export const PCAPNG_SHB = 0x0a0d0d0a;
export const PCAPNG_IDB = 0x00000001;
export const PCAPNG_EPB = 0x00000006;
/** The SHB's byte-order magic. */
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Option codes (pcapng 3.5, 4.1, 4.2, 4.3). */
const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const EPB_FLAGS = 2;

/** Type and two lengths around a block; an EPB's fixed fields after its type and length. */
const BLOCK_OVERHEAD = 12;
const EPB_FIXED = 20;
/** epb_flags (4 bytes after its option header) and the end of options. */
const EPB_FLAGS_OPT_LEN = 8;
const END_OPT_LEN = 4;

export interface PcapngWriterOptions {
  snaplen?: number;
  bufferSize?: number;
  /** if_name: the interface the frames crossed. */
  interfaceName?: string;
  /** if_description: what else a reader should know of it (MTU, offloads, split policy). */
  interfaceDescription?: string;
}

const encoder = new TextEncoder();

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Writes Ethernet frames to a pcapng file: one section, one interface, nanosecond timestamps. */
export class PcapngWriter extends BufferedCaptureFile implements CaptureWriter {
  readonly snaplen: number;
  private readonly tsView = new DataView(new ArrayBuffer(8));

  private constructor(fd: number, snaplen: number, bufferSize: number, written: number) {
    super(fd, bufferSize, written);
    this.snaplen = snaplen;
  }

  /** Creates (or truncates) `path` and writes the section and interface headers at once. */
  static open(path: string, opts: PcapngWriterOptions = {}): PcapngWriter {
    const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    const bufferSize = opts.bufferSize ?? PCAP_DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`pcapng snaplen must be an integer in 1..2^31-1, got ${snaplen}`);
    }
    if (!Number.isInteger(bufferSize) || bufferSize < 256) {
      throw new RangeError(`pcapng bufferSize must be an integer >= 256, got ${bufferSize}`);
    }
    const head = headerBlocks(snaplen, opts);
    const fd = openSync(path, 'w');
    try {
      writeAll(fd, head);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return new PcapngWriter(fd, snaplen, bufferSize, head.length);
  }

  writeFrame(parts: readonly Uint8Array[], totalLength: number, timestampNs: bigint, direction: FrameDirection = 0, comment: string | null = null): void {
    const fd = this.openFd('PcapngWriter');
    if (!Number.isInteger(totalLength) || totalLength < 0 || totalLength > 0xffffffff) {
      throw new RangeError(`pcapng frame length must be a uint32, got ${totalLength}`);
    }
    if (timestampNs < 0n || timestampNs > 0xffff_ffff_ffff_ffffn) throw new RangeError(`pcapng timestamp ${timestampNs} ns is outside 0..2^64`);
    const incl = totalLength < this.snaplen ? totalLength : this.snaplen;
    let avail = 0;
    for (let i = 0; i < parts.length; i++) avail += parts[i]!.byteLength;
    if (avail < incl) throw new RangeError(`pcapng frame parts hold ${avail} bytes, fewer than the ${incl} to capture`);
    const text = comment === null ? null : encoder.encode(comment);
    const optLen = (direction !== 0 ? EPB_FLAGS_OPT_LEN : 0) + (text ? 4 + pad4(text.length) : 0) + (direction !== 0 || text ? END_OPT_LEN : 0);
    const blockLen = BLOCK_OVERHEAD + EPB_FIXED + pad4(incl) + optLen;
    if (blockLen > this.buf.length - this.pos) this.flush();
    // A block larger than the whole buffer goes out through a buffer of its own (rare: a
    // capture with a small buffer and 64 KiB frames).
    const big = blockLen > this.buf.length;
    const out = big ? new Uint8Array(blockLen) : this.buf;
    const v = big ? new DataView(out.buffer) : this.view;
    let at = big ? 0 : this.pos;
    const start = at;
    v.setUint32(at, PCAPNG_EPB, true);
    v.setUint32(at + 4, blockLen, true);
    v.setUint32(at + 8, 0, true); // interface 0
    this.tsView.setBigUint64(0, timestampNs, true);
    v.setUint32(at + 12, this.tsView.getUint32(4, true), true); // high 32 bits first (pcapng 4.3)
    v.setUint32(at + 16, this.tsView.getUint32(0, true), true);
    v.setUint32(at + 20, incl, true);
    v.setUint32(at + 24, totalLength, true);
    at += 28;
    let left = incl;
    for (let i = 0; i < parts.length && left > 0; i++) {
      const p = parts[i]!;
      const n = p.byteLength <= left ? p.byteLength : left;
      out.set(n === p.byteLength ? p : p.subarray(0, n), at);
      at += n;
      left -= n;
    }
    for (let end = start + 28 + pad4(incl); at < end; at++) out[at] = 0;
    if (direction !== 0) {
      v.setUint16(at, EPB_FLAGS, true);
      v.setUint16(at + 2, 4, true);
      v.setUint32(at + 4, direction, true); // bits 0-1: 01 inbound, 10 outbound
      at += EPB_FLAGS_OPT_LEN;
    }
    if (text) at = putOption(out, v, at, OPT_COMMENT, text);
    if (direction !== 0 || text) {
      v.setUint32(at, OPT_ENDOFOPT, true);
      at += END_OPT_LEN;
    }
    v.setUint32(at, blockLen, true);
    at += 4;
    if (big) {
      writeAll(fd, out);
      this.written += blockLen;
    } else {
      this.pos = at;
    }
    this.frames++;
  }

}

/** The Section Header Block and the Interface Description Block. */
function headerBlocks(snaplen: number, opts: PcapngWriterOptions): Uint8Array {
  const appl = encoder.encode('tapstack');
  const name = opts.interfaceName !== undefined ? encoder.encode(opts.interfaceName) : null;
  const desc = opts.interfaceDescription !== undefined ? encoder.encode(opts.interfaceDescription) : null;
  const shbLen = BLOCK_OVERHEAD + 16 + 4 + pad4(appl.length) + END_OPT_LEN;
  const idbLen = BLOCK_OVERHEAD + 8 + (name ? 4 + pad4(name.length) : 0) + (desc ? 4 + pad4(desc.length) : 0) + 8 + END_OPT_LEN;
  const out = new Uint8Array(shbLen + idbLen);
  const v = new DataView(out.buffer);
  v.setUint32(0, PCAPNG_SHB, true);
  v.setUint32(4, shbLen, true);
  v.setUint32(8, BYTE_ORDER_MAGIC, true);
  v.setUint16(12, 1, true); // version 1.0
  v.setUint16(14, 0, true);
  v.setBigInt64(16, -1n, true); // section length not known
  let at = putOption(out, v, 24, SHB_USERAPPL, appl);
  v.setUint32(at, OPT_ENDOFOPT, true);
  v.setUint32(at + 4, shbLen, true);
  at += 8;
  v.setUint32(at, PCAPNG_IDB, true);
  v.setUint32(at + 4, idbLen, true);
  v.setUint16(at + 8, LINKTYPE_ETHERNET, true);
  v.setUint16(at + 10, 0, true);
  v.setUint32(at + 12, snaplen, true);
  at += 16;
  if (name) at = putOption(out, v, at, IF_NAME, name);
  if (desc) at = putOption(out, v, at, IF_DESCRIPTION, desc);
  at = putOption(out, v, at, IF_TSRESOL, Uint8Array.of(9)); // 10^-9 s
  v.setUint32(at, OPT_ENDOFOPT, true);
  v.setUint32(at + 4, idbLen, true);
  return out;
}

/** One option (code, length, value padded to 4); returns the offset after it. */
function putOption(out: Uint8Array, v: DataView, at: number, code: number, value: Uint8Array): number {
  v.setUint16(at, code, true);
  v.setUint16(at + 2, value.length, true);
  out.set(value, at + 4);
  const end = at + 4 + pad4(value.length);
  for (let i = at + 4 + value.length; i < end; i++) out[i] = 0;
  return end;
}

/** One frame of a pcapng file read by {@link readPcapng}. */
export interface PcapngRecord {
  tsNs: bigint;
  inclLen: number;
  origLen: number;
  data: Uint8Array;
  /** epb_flags' direction bits: 0 unknown, 1 inbound, 2 outbound. */
  direction: number;
  comments: string[];
}

export interface PcapngFile {
  interfaces: { linktype: number; snaplen: number; name: string | null; description: string | null; tsresol: number }[];
  records: PcapngRecord[];
}

/**
 * A small pcapng reader for tests and tools: little-endian sections, Interface Description and
 * Enhanced Packet Blocks (others skipped). Throws on a truncated or inconsistent block.
 */
export function readPcapng(buf: Uint8Array): PcapngFile {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const decoder = new TextDecoder();
  const file: PcapngFile = { interfaces: [], records: [] };
  let at = 0;
  while (at < buf.length) {
    if (at + BLOCK_OVERHEAD > buf.length) throw new Error(`pcapng: truncated block header at byte ${at}`);
    const type = v.getUint32(at, true);
    const len = v.getUint32(at + 4, true);
    if (len < BLOCK_OVERHEAD || len % 4 !== 0 || at + len > buf.length) throw new Error(`pcapng: block at byte ${at} has length ${len}`);
    if (v.getUint32(at + len - 4, true) !== len) throw new Error(`pcapng: block at byte ${at}: trailing length differs`);
    if (type === PCAPNG_SHB && v.getUint32(at + 8, true) !== BYTE_ORDER_MAGIC) throw new Error('pcapng: only little-endian sections are read');
    const options = (from: number): Map<number, Uint8Array[]> => {
      const m = new Map<number, Uint8Array[]>();
      for (let o = from; o + 4 <= at + len - 4; ) {
        const code = v.getUint16(o, true);
        const n = v.getUint16(o + 2, true);
        if (code === OPT_ENDOFOPT) break;
        const list = m.get(code) ?? [];
        list.push(buf.subarray(o + 4, o + 4 + n));
        m.set(code, list);
        o += 4 + pad4(n);
      }
      return m;
    };
    if (type === PCAPNG_IDB) {
      const o = options(at + 16);
      const text = (c: number): string | null => (o.get(c)?.[0] ? decoder.decode(o.get(c)![0]) : null);
      file.interfaces.push({ linktype: v.getUint16(at + 8, true), snaplen: v.getUint32(at + 12, true), name: text(IF_NAME), description: text(IF_DESCRIPTION), tsresol: o.get(IF_TSRESOL)?.[0]?.[0] ?? 6 });
    } else if (type === PCAPNG_EPB) {
      const incl = v.getUint32(at + 20, true);
      const o = options(at + 28 + pad4(incl));
      const flags = o.get(EPB_FLAGS)?.[0];
      file.records.push({
        tsNs: (BigInt(v.getUint32(at + 12, true)) << 32n) | BigInt(v.getUint32(at + 16, true)),
        inclLen: incl,
        origLen: v.getUint32(at + 24, true),
        data: buf.subarray(at + 28, at + 28 + incl),
        direction: flags ? new DataView(flags.buffer, flags.byteOffset, 4).getUint32(0, true) & 3 : 0,
        comments: (o.get(OPT_COMMENT) ?? []).map((c) => decoder.decode(c)),
      });
    }
    at += len;
  }
  return file;
}
