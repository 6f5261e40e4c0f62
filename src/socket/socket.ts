/**
 * A TCP connection as Node programs know it: a `Duplex` with the events and methods of
 * `net.Socket` that applications use. Reading copies payload out of the NIC's pages into
 * Buffers (the stream API may copy; the page API of the zero-copy issue does not). Writing
 * copies into the connection's send queue of pool pages, from where segments go out by
 * reference. Back-pressure both ways: unread data shrinks the advertised window, and a full
 * send buffer holds `_write` callbacks, so `write()` returns false and `'drain'` follows.
 */
import { Duplex } from 'node:stream';
import type { TcpConnection, TcpUser } from '../tcp/connection.js';
import type { Ipv4Datagram } from '../iface/interface.js';
import { copyTransportData } from '../iface/interface.js';
import { TcpError } from '../tcp/errors.js';
import { formatIpv4 } from '../wire/addr.js';

export interface SocketOptions {
  allowHalfOpen?: boolean;
  /** Readable/writable highWaterMark of the stream (Node's default 16 KiB; larger reads faster). */
  highWaterMark?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

interface PendingWrite {
  chunks: Buffer[];
  cb: (err?: Error | null) => void;
}

export class Socket extends Duplex implements TcpUser {
  connecting = true;
  bytesRead = 0;
  private written = 0;
  private conn: TcpConnection | null;
  private blocked: PendingWrite | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly localAddr: number;

  constructor(conn: TcpConnection, localAddr: number, opts: SocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.highWaterMark ?? 64 * 1024,
      writableHighWaterMark: opts.highWaterMark ?? 64 * 1024,
      decodeStrings: true,
      emitClose: true,
      autoDestroy: true,
    });
    this.conn = conn;
    this.localAddr = localAddr;
    conn.user = this;
    if (opts.noDelay) conn.setNoDelay(true);
    if (opts.keepAlive) conn.setKeepAlive(true, opts.keepAliveInitialDelay);
    if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE-WAIT') this.connecting = false;
  }

  // ---- net.Socket surface ----

  get remoteAddress(): string | undefined {
    return this.conn ? formatIpv4(this.conn.remoteAddr) : this.lastRemote?.address;
  }
  get remotePort(): number | undefined {
    return this.conn ? this.conn.remotePort : this.lastRemote?.port;
  }
  get remoteFamily(): string {
    return 'IPv4';
  }
  get localAddress(): string {
    return formatIpv4(this.localAddr);
  }
  get localPort(): number | undefined {
    return this.conn?.localPort ?? this.lastRemote?.localPort;
  }
  get bytesWritten(): number {
    return this.written;
  }
  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }
  /** net.Socket's: true until connected. */
  get pending(): boolean {
    return this.connecting;
  }
  /** net.Socket's: TCP state for diagnostics. */
  get tcpState(): string {
    return this.conn?.state ?? 'CLOSED';
  }

  private lastRemote: { address: string; port: number; localPort: number } | null = null;

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (!this.conn && !this.lastRemote) return {};
    return { address: this.localAddress, family: 'IPv4', port: this.localPort ?? 0 };
  }

  setNoDelay(noDelay = true): this {
    this.conn?.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.conn?.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /** Emit 'timeout' after `ms` without activity (0 turns it off), as net.Socket does. */
  setTimeout(ms: number, cb?: () => void): this {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    if (ms > 0) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), ms);
      this.idleTimer.unref?.();
    }
    return this;
  }

  private activity(): void {
    if (this.idleTimer) this.idleTimer.refresh();
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  // ---- TcpUser ----

  onConnect(): void {
    this.connecting = false;
    this.emit('connect');
    this.emit('ready');
  }

  onData(dgram: Ipv4Datagram, offset: number, len: number): void {
    const b = Buffer.allocUnsafe(len);
    copyTransportData(dgram, offset, len, b, 0);
    this.deliver(b);
  }

  onDataBytes(bytes: Uint8Array): void {
    this.deliver(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
  }

  private deliver(b: Buffer): void {
    this.bytesRead += b.length;
    this.activity();
    this.push(b);
  }

  onEnd(): void {
    this.push(null);
  }

  onSendSpace(): void {
    this.activity();
    const p = this.blocked;
    if (!p || !this.conn) return;
    while (p.chunks.length > 0) {
      const c = p.chunks[0]!;
      const n = this.conn.write(c);
      this.written += n;
      if (n < c.length) {
        p.chunks[0] = c.subarray(n);
        return;
      }
      p.chunks.shift();
    }
    this.blocked = null;
    p.cb();
  }

  onClose(err: TcpError | null): void {
    const c = this.conn;
    if (c) this.lastRemote = { address: formatIpv4(c.remoteAddr), port: c.remotePort, localPort: c.localPort };
    this.conn = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.blocked) {
      const p = this.blocked;
      this.blocked = null;
      p.cb(err ?? new TcpError('EPIPE', 'connection closed before the data was sent', 'write'));
    }
    if (err) {
      this.destroy(err);
      return;
    }
    // A clean close: the peer's FIN was delivered (push(null)) and ours acknowledged.
    if (!this.readableEnded && this.readable) this.push(null);
    if (this.writable && !this.writableEnded) this.end();
  }

  bufferedBytes(): number {
    return this.readableLength;
  }

  // ---- Duplex ----

  override _read(): void {
    this.conn?.windowUpdate();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writeChunks([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.writeChunks(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  private writeChunks(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    const conn = this.conn;
    if (!conn) {
      cb(new TcpError('EPIPE', 'This socket has been ended by the other party', 'write'));
      return;
    }
    this.activity();
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      const n = conn.write(c);
      this.written += n;
      if (n < c.length) {
        if (conn.state === 'CLOSED' || (n === 0 && !['ESTABLISHED', 'CLOSE-WAIT', 'SYN-SENT', 'SYN-RECEIVED'].includes(conn.state))) {
          cb(new TcpError('EPIPE', 'write after the connection closed', 'write'));
          return;
        }
        this.blocked = { chunks: [c.subarray(n), ...chunks.slice(i + 1)], cb };
        return;
      }
    }
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const conn = this.conn;
    if (!conn) {
      cb();
      return;
    }
    conn.close();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const conn = this.conn;
    if (conn) {
      conn.user = null;
      this.lastRemote = { address: formatIpv4(conn.remoteAddr), port: conn.remotePort, localPort: conn.localPort };
      this.conn = null;
      // Like close(2): unread data or an error resets; otherwise a FIN, and the connection
      // finishes on its own (an orphan, as in the kernel).
      if (err || this.readableLength > 0 || conn.state === 'SYN-SENT') conn.abort();
      else {
        conn.orphaned = true;
        conn.close();
      }
    }
    cb(err);
  }
}
