/**
 * Big-endian (network order, RFC 1700 "Data Notations") field access by index. Small enough for
 * V8 to inline; no DataView, so nothing is allocated per field.
 */

import type { DropReason } from './errors.js';

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/** Unsigned: the result is always `>>> 0`. */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

/** Emitters call this first: writing past the end of a typed array is silently dropped. */
export function ensureRoom(buf: Uint8Array, off: number, length: number): void {
  if (off < 0 || off + length > buf.length) {
    throw new RangeError(`need ${length} bytes at offset ${off}, buffer has ${buf.length}`);
  }
}

/**
 * The common part of every packet view: a window `buf[offset, offset + length)` that can be
 * re-pointed with `reset` (the hot path keeps one view per protocol and moves it), and the
 * protocol's checker over that window.
 */
export abstract class PacketView {
  buf!: Uint8Array;
  offset!: number;
  length!: number;

  constructor(buf: Uint8Array, offset = 0, length = buf.length - offset) {
    this.reset(buf, offset, length);
  }

  reset(buf: Uint8Array, offset = 0, length = buf.length - offset): this {
    this.buf = buf;
    this.offset = offset;
    this.length = length;
    return this;
  }

  /** Why the bytes in the window are not a well-formed packet of this protocol, or null. */
  abstract check(): DropReason | null;
}
