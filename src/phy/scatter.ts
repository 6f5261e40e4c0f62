/**
 * A frame in a scatter/gather list at unmanaged addresses (the NIC's iovecs), as a layer between
 * the NIC and the device sees it: the virtio-net header (if any) first, then the frame, over
 * the header buffer and pages. A layer reads and changes bytes in place, copies a frame out to
 * hold it, and copies a held one back in.
 */
import koffi from 'koffi';
import { onesComplementSum } from '../wire/checksum.js';

/** sizeof(struct iovec) on x86_64. */
const IOVEC_SIZE = 16;

export class ScatterList {
  /** Views of the iovecs' memory, together {@link length} bytes. */
  readonly parts: Uint8Array[] = [];
  length = 0;

  /** View the first `len` bytes (all of them by default) of the `iovcnt` iovecs at `iov`. */
  load(iov: bigint, iovcnt: number, len = Infinity): this {
    const raw = new BigUint64Array(koffi.view(iov, iovcnt * IOVEC_SIZE));
    this.parts.length = 0;
    let left = len;
    for (let i = 0; i < iovcnt && left > 0; i++) {
      const n = Math.min(Number(raw[2 * i + 1]!), left);
      if (n === 0) continue;
      this.parts.push(new Uint8Array(koffi.view(raw[2 * i]!, n)));
      left -= n;
    }
    this.length = len === Infinity ? this.parts.reduce((a, p) => a + p.length, 0) : len - left;
    return this;
  }

  byteAt(i: number): number {
    for (const p of this.parts) {
      if (i < p.length) return p[i]!;
      i -= p.length;
    }
    throw new RangeError(`byte ${i} beyond the frame`);
  }

  setByteAt(i: number, value: number): void {
    for (const p of this.parts) {
      if (i < p.length) {
        p[i] = value;
        return;
      }
      i -= p.length;
    }
    throw new RangeError(`byte ${i} beyond the frame`);
  }

  /** Bytes [from, to) as one copy. */
  copy(from: number, to: number): Uint8Array {
    const out = new Uint8Array(to - from);
    let pos = 0;
    for (const p of this.parts) {
      const a = Math.max(from - pos, 0);
      const b = Math.min(to - pos, p.length);
      if (a < b) out.set(p.subarray(a, b), pos + a - from);
      pos += p.length;
      if (pos >= to) break;
    }
    return out;
  }

  /** Views of bytes [from, to) into `out`, without copying. */
  views(from: number, to: number, out: Uint8Array[]): Uint8Array[] {
    out.length = 0;
    let pos = 0;
    for (const p of this.parts) {
      const a = Math.max(from - pos, 0);
      const b = Math.min(to - pos, p.length);
      if (a < b) out.push(p.subarray(a, b));
      pos += p.length;
      if (pos >= to) break;
    }
    return out;
  }

  /** Scatter `bytes` over the list, as readv would; returns how many fit. */
  fill(bytes: Uint8Array): number {
    let pos = 0;
    for (const p of this.parts) {
      if (pos >= bytes.length) break;
      const n = Math.min(p.length, bytes.length - pos);
      p.set(bytes.subarray(pos, pos + n));
      pos += n;
    }
    return pos;
  }

  /** One's complement sum of bytes [a, b), as 16-bit words counted from `a`. */
  sum(a: number, b: number): number {
    let sum = 0;
    let odd = false;
    let pos = 0;
    for (const p of this.parts) {
      const from = Math.max(a - pos, 0);
      const to = Math.min(b - pos, p.length);
      if (from < to) {
        const s = onesComplementSum(p, from, to);
        sum += odd ? ((s & 0xff) << 8) | (s >>> 8) : s;
        if ((to - from) & 1) odd = !odd;
      }
      pos += p.length;
      if (pos >= b) break;
    }
    return sum;
  }
}
