/**
 * A TCP server in the shape of `net.Server`: `listen` in net's argument forms (port 0 or none:
 * an ephemeral port), `'listening'`, `'connection'`, `'close'` (once closed and every
 * connection ended), `'error'` (EADDRINUSE, EADDRNOTAVAIL), `'drop'` (beyond
 * `maxConnections`), `close()`, `address()`, `getConnections()`, `ref()`/`unref()`.
 */
import { EventEmitter } from 'node:events';
import type { TcpLayer } from '../tcp/tcp-layer.js';
import type { TcpConnection } from '../tcp/connection.js';
import { TcpError } from '../tcp/errors.js';
import { formatIpv4 } from '../wire/addr.js';
import { Socket, type SocketOptions } from './socket.js';
import type { PageLender } from './pages.js';
import type { RefHolder } from './refs.js';

export interface ServerOptions extends SocketOptions {
  /** Passed to each accepted socket. */
  pauseOnConnect?: boolean;
}

/** `server.listen(options)`: net's ListenOptions, the part an IPv4 stack has. */
export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
}

/** What `'drop'` carries: the connection turned away beyond `maxConnections`, as net's. */
export interface DropArgument {
  localAddress: string;
  localPort: number;
  localFamily: string;
  remoteAddress: string;
  remotePort: number;
  remoteFamily: string;
}

/** Linux's somaxconn default, net's backlog when none is given. */
const DEFAULT_BACKLOG = 511;

/** The error `close(cb)` gives a server that was not listening, as net's. */
function notRunning(): Error & { code: string } {
  return Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
}

export class Server extends EventEmitter {
  private port = -1;
  /** The host listened on: '0.0.0.0' when asked for, else the stack's address. */
  private host: string | null = null;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  /** Connections accepted at most at once; beyond, the next is closed and 'drop' emitted. */
  maxConnections = Infinity;
  listening = false;
  private refd = true;
  private holding = false;
  /**
   * Every accepted socket's 'close' listener, one function for all (the socket is `this`): a
   * `once` wrapper and a closure per connection would cost about 300 bytes each, a tenth of
   * an idle connection. A socket emits 'close' once.
   */
  private readonly socketClosed: (this: Socket) => void;

  constructor(
    private readonly tcp: TcpLayer,
    private readonly lender: PageLender,
    private readonly opts: ServerOptions = {},
    connectionListener?: (s: Socket) => void,
    private readonly refs: RefHolder | null = null,
  ) {
    super();
    if (connectionListener) this.on('connection', connectionListener);
    const server = this;
    this.socketClosed = function (this: Socket) {
      server.sockets.delete(this);
      server.maybeClosed();
    };
  }

  /**
   * net.Server's forms: `listen(port?, host?, backlog?, cb?)` and `listen(options, cb?)`. Port 0
   * or none listens on a free ephemeral port, which {@link address} reports. `host` may be
   * this stack's address or `0.0.0.0`; any other is EADDRNOTAVAIL through 'error'.
   */
  listen(port?: number, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, host?: string, listeningListener?: () => void): this;
  listen(port?: number, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number, listeningListener?: () => void): this;
  /** IPC paths: not on a TCP stack (throws ERR_INVALID_ARG_VALUE); in net's list for the types' sake. */
  listen(path: string, backlog?: number, listeningListener?: () => void): this;
  listen(path: string, listeningListener?: () => void): this;
  listen(options: ListenOptions, listeningListener?: () => void): this;
  /** A handle: only ListenOptions-shaped objects mean anything here. */
  listen(handle: any, backlog?: number, listeningListener?: () => void): this;
  listen(handle: any, listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    let port = 0;
    let host: string | undefined;
    let backlog = DEFAULT_BACKLOG;
    let cb: (() => void) | undefined;
    let rest = args;
    if (typeof args[args.length - 1] === 'function') {
      cb = args[args.length - 1] as () => void;
      rest = args.slice(0, -1);
    }
    const first = rest[0];
    if (typeof first === 'string' && !/^\d+$/.test(first)) {
      throw Object.assign(new TypeError(`listen(${JSON.stringify(first)}): tapstack has TCP ports, not IPC paths`), { code: 'ERR_INVALID_ARG_VALUE' });
    }
    if (first !== null && typeof first === 'object') {
      const o = first as ListenOptions;
      port = o.port ?? 0;
      host = o.host;
      backlog = o.backlog ?? backlog;
    } else {
      if (first !== undefined && first !== null) port = Number(first);
      if (typeof rest[1] === 'string') {
        host = rest[1];
        if (typeof rest[2] === 'number') backlog = rest[2];
      } else if (typeof rest[1] === 'number') {
        backlog = rest[1];
      }
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw Object.assign(new RangeError(`options.port should be >= 0 and < 65536. Received ${String(port)}.`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    if (this.listening) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    if (cb) this.once('listening', cb);
    if (host !== undefined && host !== '0.0.0.0' && host !== formatIpv4(this.tcp.localAddr)) {
      process.nextTick(() => this.emit('error', new TcpError('EADDRNOTAVAIL', `listen EADDRNOTAVAIL: ${host} is not this stack's address`, 'listen')));
      return this;
    }
    try {
      this.port = this.tcp.listen(port, backlog, (c) => this.accept(c)).port;
    } catch (e) {
      process.nextTick(() => this.emit('error', e));
      return this;
    }
    this.host = host === '0.0.0.0' ? host : null;
    this.listening = true;
    this.closing = false;
    if (this.refd) this.hold();
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  /** Called synchronously by the TCP layer when a handshake completes. */
  private accept(c: TcpConnection): void {
    if (this.sockets.size >= this.maxConnections) {
      // As net: the accepted connection is closed (a FIN, as close(2) of it) and 'drop' says which.
      const local = formatIpv4(this.tcp.localAddr);
      const drop: DropArgument = { localAddress: local, localPort: c.localPort, localFamily: 'IPv4', remoteAddress: formatIpv4(c.remoteAddr), remotePort: c.remotePort, remoteFamily: 'IPv4' };
      c.orphaned = true;
      c.close();
      this.emit('drop', drop);
      return;
    }
    const s = new Socket(c, this.tcp.localAddr, this.lender, this.opts, this.refs);
    this.sockets.add(s);
    s.on('close', this.socketClosed);
    if (this.opts.pauseOnConnect) s.pause();
    this.emit('connection', s);
  }

  address(): { address: string; family: string; port: number } | null {
    if (!this.listening) return null;
    return { address: this.host ?? formatIpv4(this.tcp.localAddr), family: 'IPv4', port: this.port };
  }

  /** net.Server's (deprecated there): the accepted connections open now. */
  get connections(): number {
    return this.sockets.size;
  }

  /** `await using`: close, and wait for the accepted connections to end. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.listening && !this.closing) return;
    await new Promise<void>((resolve) => this.close(() => resolve()));
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(cb, null, this.sockets.size);
    return this;
  }

  /**
   * Stop accepting; 'close' (and `cb`) once every accepted connection has closed. `cb` gets
   * ERR_SERVER_NOT_RUNNING when the server was not listening, as net's.
   */
  close(cb?: (err?: Error) => void): this {
    if (cb) {
      if (this.listening) this.once('close', cb);
      else this.once('close', () => cb(notRunning()));
    }
    if (this.listening) {
      this.tcp.unlisten(this.port);
      this.listening = false;
      this.release();
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

  /** Keep the process alive while listening (the default). */
  ref(): this {
    this.refd = true;
    if (this.listening) this.hold();
    return this;
  }

  /** Let the process exit while this server listens (its accepted sockets hold on their own). */
  unref(): this {
    this.refd = false;
    this.release();
    return this;
  }

  private hold(): void {
    if (this.holding || !this.refs) return;
    this.holding = true;
    this.refs.hold();
  }

  private release(): void {
    if (!this.holding) return;
    this.holding = false;
    this.refs!.release();
  }
}
