/**
 * What both capture formats share: a file written through one preallocated batch buffer (one
 * `writeSync` when it fills, on `flush()` and on `close()`), how many bytes and frames it
 * holds, and whether some wait in the buffer.
 */
import { closeSync, writeSync } from 'node:fs';

export abstract class BufferedCaptureFile {
  protected fd: number | null;
  protected readonly buf: Uint8Array;
  protected readonly view: DataView;
  /** Bytes waiting in {@link buf}. */
  protected pos = 0;
  /** Bytes in the file. */
  protected written: number;
  protected frames = 0;

  protected constructor(fd: number, bufferSize: number, headerBytes: number) {
    this.fd = fd;
    this.buf = new Uint8Array(bufferSize);
    this.view = new DataView(this.buf.buffer);
    this.written = headerBytes;
  }

  /** Frames accepted so far (some may still sit in the batch buffer until `flush()`). */
  get framesWritten(): number {
    return this.frames;
  }

  /** Bytes in the file, the buffered ones included. */
  get size(): number {
    return this.written + this.pos;
  }

  get pending(): boolean {
    return this.pos > 0;
  }

  /** Writes out the batch buffer. */
  flush(): void {
    if (this.fd === null || this.pos === 0) return;
    writeAll(this.fd, this.buf.subarray(0, this.pos));
    this.written += this.pos;
    this.pos = 0;
  }

  /** Flushes and closes the file. Idempotent. */
  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /** The open file, or an error naming the writer when it was closed. */
  protected openFd(writer: string): number {
    if (this.fd === null) throw new Error(`${writer}: writeFrame after close`);
    return this.fd;
  }
}

/** `writeSync` until everything is written (a regular file rarely writes short, but may). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}
