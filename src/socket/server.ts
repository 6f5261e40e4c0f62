/**
 * A TCP server in the shape of `net.Server`: `listen(port, host?, backlog?, cb?)`,
 * `'listening'`, `'connection'`, `'close'` (once closed and every connection ended), `'error'`
 * (EADDRINUSE), `close()`, `address()`, `getConnections()`, `maxConnections`.
 */
import { EventEmitter } from 'node:events';
import type { TcpLayer } from '../tcp/tcp-layer.js';
import type { TcpConnection } from '../tcp/connection.js';
import { TcpError } from '../tcp/errors.js';
import { formatIpv4 } from '../wire/addr.js';
import { Socket, type SocketOptions } from './socket.js';
import type { PageLender } from './pages.js';

export interface ServerOptions extends SocketOptions {
  /** Passed to each accepted socket. */
  pauseOnConnect?: boolean;
}

export class Server extends EventEmitter {
  private port = -1;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  maxConnections = Infinity;
  listening = false;

  constructor(
    private readonly tcp: TcpLayer,
    private readonly lender: PageLender,
    private readonly opts: ServerOptions = {},
    connectionListener?: (s: Socket) => void,
  ) {
    super();
    if (connectionListener) this.on('connection', connectionListener);
  }

  listen(port: number | { port: number; host?: string; backlog?: number }, ...rest: unknown[]): this {
    let backlog = 511;
    let cb: (() => void) | undefined;
    if (typeof port === 'object') {
      backlog = port.backlog ?? backlog;
      port = port.port;
    }
    for (const a of rest) {
      if (typeof a === 'function') cb = a as () => void;
      else if (typeof a === 'number') backlog = a;
      else if (typeof a === 'string' && a !== '0.0.0.0' && a !== formatIpv4(this.tcp.localAddr)) {
        process.nextTick(() => this.emit('error', new TcpError('EADDRNOTAVAIL', `${a} is not this stack's address`, 'listen')));
        return this;
      }
    }
    if (cb) this.once('listening', cb);
    try {
      this.tcp.listen(port, backlog, (c) => this.accept(c));
    } catch (e) {
      process.nextTick(() => this.emit('error', e));
      return this;
    }
    this.port = port;
    this.listening = true;
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  /** Called synchronously by the TCP layer when a handshake completes. */
  private accept(c: TcpConnection): void {
    if (this.sockets.size >= this.maxConnections) {
      c.abort();
      return;
    }
    const s = new Socket(c, this.tcp.localAddr, this.lender, this.opts);
    this.sockets.add(s);
    s.once('close', () => {
      this.sockets.delete(s);
      this.maybeClosed();
    });
    if (this.opts.pauseOnConnect) s.pause();
    this.emit('connection', s);
  }

  address(): { address: string; family: string; port: number } | null {
    if (!this.listening) return null;
    return { address: formatIpv4(this.tcp.localAddr), family: 'IPv4', port: this.port };
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(cb, null, this.sockets.size);
    return this;
  }

  /** Stop accepting; 'close' follows once every connection has ended. */
  close(cb?: (err?: Error) => void): this {
    if (cb) this.once('close', cb);
    if (this.listening) {
      this.tcp.unlisten(this.port);
      this.listening = false;
    }
    this.closing = true;
    this.maybeClosed();
    return this;
  }

  private maybeClosed(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
