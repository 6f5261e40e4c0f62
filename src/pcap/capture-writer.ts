/**
 * What a capture writes to, whatever the file format: classic pcap (writer.ts), pcapng
 * (pcapng.ts), or a rotation over files of either (tcpdump's `-C` and `-W`).
 */
import { PcapngWriter } from './pcapng.js';
import { PcapWriter } from './writer.js';

/** A frame's direction as pcapng's epb_flags say it: 0 not known, 1 inbound, 2 outbound. */
export type FrameDirection = 0 | 1 | 2;

export interface CaptureWriter {
  readonly snaplen: number;
  /** Frames accepted so far (some may still be buffered). */
  readonly framesWritten: number;
  /** Bytes in the file, the buffered ones included. */
  readonly size: number;
  /** Frames wait in the buffer for {@link flush}. */
  readonly pending: boolean;
  /**
   * Appends one frame: `parts` in order hold at least min(totalLength, snaplen) bytes;
   * `timestampNs` is nanoseconds since the Unix epoch. Classic pcap has no place for the
   * direction or the comment and leaves them out.
   */
  writeFrame(parts: readonly Uint8Array[], totalLength: number, timestampNs: bigint, direction?: FrameDirection, comment?: string | null): void;
  flush(): void;
  close(): void;
}

export type CaptureFormat = 'pcap' | 'pcapng';

export interface CaptureFileOptions {
  /** pcapng, or classic pcap; by default pcapng when the name ends in `.pcapng`, else pcap. */
  format?: CaptureFormat;
  snaplen?: number;
  bufferSize?: number;
  /** Start a new file before a frame once the current one holds this many bytes (tcpdump -C). */
  rotateBytes?: number;
  /**
   * With {@link rotateBytes}: keep at most this many files, numbered 0..count-1 with leading
   * zeros, overwriting the oldest (tcpdump -W). Without it files are FILE, FILE1, FILE2, ...
   */
  rotateCount?: number;
  /** pcapng's interface description: its name, and what else (MTU, offloads, split policy). */
  interfaceName?: string;
  interfaceDescription?: string;
}

/** The format a capture to `path` is written in. */
export function captureFormat(path: string, format?: CaptureFormat): CaptureFormat {
  return format ?? (path.endsWith('.pcapng') ? 'pcapng' : 'pcap');
}

/** Opens a capture to `path` as the options say (a rotation when `rotateBytes` is set). */
export function openCapture(path: string, opts: CaptureFileOptions = {}): CaptureWriter {
  const format = captureFormat(path, opts.format);
  const open = (file: string): CaptureWriter => {
    const common = { ...(opts.snaplen !== undefined ? { snaplen: opts.snaplen } : {}), ...(opts.bufferSize !== undefined ? { bufferSize: opts.bufferSize } : {}) };
    if (format === 'pcap') return PcapWriter.open(file, common);
    return PcapngWriter.open(file, {
      ...common,
      ...(opts.interfaceName !== undefined ? { interfaceName: opts.interfaceName } : {}),
      ...(opts.interfaceDescription !== undefined ? { interfaceDescription: opts.interfaceDescription } : {}),
    });
  };
  if (opts.rotateBytes === undefined) return open(path);
  return new RotatingCapture(path, open, opts.rotateBytes, opts.rotateCount);
}

/**
 * Captures spread over files of a bounded size, as tcpdump's `-C` (and `-W`) do: before a frame
 * is written, a file that has reached the size is closed and the next one opened; with a count,
 * the names cycle and the oldest file is overwritten.
 */
export class RotatingCapture implements CaptureWriter {
  readonly snaplen: number;
  private current: CaptureWriter;
  private index = 0;
  private frames = 0;

  constructor(
    private readonly path: string,
    private readonly open: (file: string) => CaptureWriter,
    private readonly maxBytes: number,
    private readonly count?: number,
  ) {
    if (!Number.isFinite(maxBytes) || maxBytes < 1) throw new RangeError(`capture rotation size must be positive, got ${maxBytes}`);
    if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new RangeError(`capture rotation count must be a positive integer, got ${count}`);
    this.current = open(this.fileName(0));
    this.snaplen = this.current.snaplen;
  }

  /** The name of file `i`: FILE, FILE1, ... or, with a count, FILE0 .. FILE(count-1) zero-padded. */
  fileName(i: number): string {
    if (this.count === undefined) return i === 0 ? this.path : `${this.path}${i}`;
    return `${this.path}${String(i).padStart(String(this.count - 1).length, '0')}`;
  }

  get framesWritten(): number {
    return this.frames;
  }

  get size(): number {
    return this.current.size;
  }

  get pending(): boolean {
    return this.current.pending;
  }

  writeFrame(parts: readonly Uint8Array[], totalLength: number, timestampNs: bigint, direction: FrameDirection = 0, comment: string | null = null): void {
    if (this.current.size >= this.maxBytes && this.current.framesWritten > 0) {
      this.current.close();
      this.index = this.count === undefined ? this.index + 1 : (this.index + 1) % this.count;
      this.current = this.open(this.fileName(this.index));
    }
    this.current.writeFrame(parts, totalLength, timestampNs, direction, comment);
    this.frames++;
  }

  flush(): void {
    this.current.flush();
  }

  close(): void {
    this.current.close();
  }
}
