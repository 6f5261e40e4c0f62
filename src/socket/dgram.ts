/**
 * A UDP socket with the surface of Node's `dgram.Socket` (udp4), on a tapstack port
 * (src/udp/udp-layer.ts): bind (port 0 ephemeral) and `'listening'`, send with callbacks,
 * `'message'`, connect/disconnect, close, addresses, buffer sizes, SO_BROADCAST, and errors with
 * Node's `code`, `errno` and `syscall`. Behaviour follows Node 20's lib/dgram.js where it is
 * observable: `bind`, `connect` and the events are asynchronous (Node resolves the address
 * first), an unbound socket binds itself on `send`/`connect`, send errors go to the callback
 * (none is emitted without one), and a connected socket reports an ICMP error about what it sent
 * as an `'error'` from `recvmsg` (Linux sets sk_err only on connected sockets, RFC 1122 4.1.3.3).
 *
 * The zero-copy form: {@link DgramSocket.usePages} queues each datagram as pages (flipped when
 * its data starts on a page boundary, copied with the reason otherwise), bounded by the receive
 * buffer as SO_RCVBUF bounds a kernel socket's queue; {@link DgramSocket.readDatagrams} trades
 * empty pages for them. {@link DgramSocket.sendPages} sends pool pages by reference, completed
 * once the frame was written (UDP has no acknowledgement).
 */
import { EventEmitter } from 'node:events';
import { PAGE_SIZE } from '../mem/arena.js';
import { Page } from '../mem/page.js';
import { PageOwner } from '../mem/page-pool.js';
import { UdpError } from '../udp/errors.js';
import type { UdpBinding, UdpDatagram, UdpIcmpError, UdpLayer, UdpEndpoint } from '../udp/udp-layer.js';
import { formatIpv4, parseIpv4, type Ipv4Addr } from '../wire/addr.js';
import { ICMP_DEST_UNREACHABLE, ICMP_UNREACH_PORT, ICMP_UNREACH_PROTOCOL } from '../wire/icmp.js';
import { UDP_MAX_PAYLOAD_IPV4 } from '../wire/udp.js';
import { countCopy, type CopyReason, type PageBorrower, type PageLender } from './pages.js';
import type { RefHolder } from './refs.js';

/** Linux's net.core.rmem_default and wmem_default: a socket's buffers before setsockopt. */
const RMEM_DEFAULT = 212992;
const WMEM_DEFAULT = 212992;
/** SOCK_MIN_RCVBUF / SOCK_MIN_SNDBUF on x86_64 (include/net/sock.h): the least a buffer is set to. */
const SOCK_MIN_RCVBUF = 2304;
const SOCK_MIN_SNDBUF = 4608;
/** Pages below this many bytes are copied by sendPages (as the TCP socket's writePages). */
const ZERO_COPY_MIN_PAGE = 512;

export interface DgramSocketOptions {
  type: 'udp4';
  /** SO_RCVBUF and SO_SNDBUF at bind, as Node's options. */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Node's SO_REUSEADDR: not supported (a port has one binding); true throws. */
  reuseAddr?: boolean;
  /** Read with the page API from the start ({@link DgramSocket.usePages}). */
  pages?: boolean;
}

/** Where a datagram came from, as Node's `rinfo`. */
export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

/** A datagram read with pages: its data in `pages` (each with its length), in order. */
export interface PageDatagram {
  rinfo: RemoteInfo;
  pages: Page[];
}

/** A page send done: the pages are the application's again. */
export interface DgramSendCompletion {
  pages: Page[];
  /** Some byte was copied (switch off, small page, fragmented, waiting for ARP). */
  copied: boolean;
}

type SendCallback = (err: Error | null, bytes?: number) => void;
type Message = string | ArrayBufferView | readonly (string | ArrayBufferView)[];

/** Node's internal errors (`ERR_*`): a code, the class Node throws, its message. */
function nodeError(code: string, message: string, kind: ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor = Error): Error {
  const e = new kind(message) as Error & { code: string };
  e.code = code;
  return e;
}

/** A system error as Node's exceptionWithHostPort/ErrnoException builds it: `syscall CODE [address:port]`. */
function errnoError(err: UdpError, syscall: string, address?: string, port?: number): Error {
  const where = address !== undefined ? ` ${address}${port ? `:${port}` : ''}` : '';
  const e = new Error(`${syscall} ${err.code}${where}`) as Error & { code: string; errno: number; syscall: string; address?: string; port?: number };
  e.code = err.code;
  e.errno = err.errno;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port) e.port = port;
  return e;
}

/** Linux's icmp_err_convert: the errno of an ICMP error, and whether it is fatal (reported to a connected socket). */
function icmpErrno(type: number, code: number): { code: 'ECONNREFUSED' | 'EHOSTUNREACH' | 'ENETUNREACH'; fatal: boolean } {
  if (type !== ICMP_DEST_UNREACHABLE) return { code: 'EHOSTUNREACH', fatal: false };
  if (code === ICMP_UNREACH_PORT) return { code: 'ECONNREFUSED', fatal: true };
  if (code === ICMP_UNREACH_PROTOCOL) return { code: 'ECONNREFUSED', fatal: true };
  if (code === 0 || code === 6 || code === 11) return { code: 'ENETUNREACH', fatal: code !== 0 && code !== 11 };
  // Host unreachable (1), and the prohibited/unknown codes, which Linux counts fatal.
  return { code: 'EHOSTUNREACH', fatal: code !== 1 && code !== 4 && code !== 5 && code !== 12 };
}

function validatePort(port: unknown, allowZero: boolean): number {
  const n = typeof port === 'string' && port.trim() !== '' ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) {
    throw nodeError('ERR_SOCKET_BAD_PORT', `Port should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describe(port)}.`, RangeError);
  }
  return n;
}

/** How Node's errors name a received value (internal/errors.js determineSpecificType). */
function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return `type string ('${v}')`;
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`;
  return `type ${typeof v} (${String(v)})`;
}

/**
 * The port `bind` binds: Node validates none there and libuv takes it as a 16-bit number, so
 * 70000 binds 4464 and -1 binds 65535 (measured with Node 20's dgram); a non-number is 0.
 */
function bindPort(port: unknown): number {
  const n = Number(port);
  return Number.isFinite(n) ? (Math.trunc(n) >>> 0) & 0xffff : 0;
}

/** One datagram queued for the page reader: page ids (or -2 with a heap copy when the pool was empty). */
interface QueuedDatagram {
  src: Ipv4Addr;
  srcPort: number;
  size: number;
  /** What it counts against the receive buffer. */
  charge: number;
  ids: number[];
  lens: number[];
  heap: (Uint8Array | null)[];
}

export class DgramSocket extends EventEmitter implements UdpEndpoint, PageBorrower {
  readonly type = 'udp4';
  private binding: UdpBinding | null = null;
  private bindState: 'unbound' | 'binding' | 'bound' = 'unbound';
  private connectState: 'disconnected' | 'connecting' | 'connected' = 'disconnected';
  private closed = false;
  /** Calls made while binding, run once bound (Node's state.queue). */
  private queue: (() => void)[] | null = null;
  private broadcast = false;
  private rcvbuf: number;
  private sndbuf: number;
  private remote: Ipv4Addr = 0;
  private remotePort = 0;
  private pageMode = false;
  private readonly rx: QueuedDatagram[] = [];
  private rxBytes = 0;
  private pagesEventPending = false;
  private readonly taken: number[] = [];
  /** ref()'d (the default), and whether this socket holds the stack's loop handles now (while bound). */
  private refd = true;
  private holding = false;

  constructor(
    private readonly udp: UdpLayer,
    private readonly lender: PageLender,
    opts: DgramSocketOptions | 'udp4',
    listener?: (msg: Buffer, rinfo: RemoteInfo) => void,
    private readonly refs: RefHolder | null = null,
  ) {
    super();
    const o: DgramSocketOptions = typeof opts === 'string' ? { type: opts } : opts;
    if (o.type !== 'udp4') throw nodeError('ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4 (tapstack has no IPv6)', TypeError);
    if (o.reuseAddr) throw nodeError('ERR_INVALID_ARG_VALUE', 'reuseAddr is not supported: a tapstack port has one binding', TypeError);
    this.rcvbuf = o.recvBufferSize !== undefined ? Math.max(2 * o.recvBufferSize, SOCK_MIN_RCVBUF) : RMEM_DEFAULT;
    this.sndbuf = o.sendBufferSize !== undefined ? Math.max(2 * o.sendBufferSize, SOCK_MIN_SNDBUF) : WMEM_DEFAULT;
    if (o.pages) this.pageMode = true;
    if (listener) this.on('message', listener);
  }

  // ---- binding ----

  bind(port?: number | { port?: number; address?: string; exclusive?: boolean } | (() => void), address?: string | (() => void), callback?: () => void): this {
    this.healthCheck();
    if (this.bindState !== 'unbound') throw nodeError('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    const cb = [port, address, callback].reverse().find((a) => typeof a === 'function') as (() => void) | undefined;
    let p: unknown = typeof port === 'function' ? 0 : port;
    let addr = typeof address === 'string' ? address : '';
    if (p !== null && typeof p === 'object') {
      const bo = p as { port?: number; address?: string };
      addr = bo.address ?? '';
      p = bo.port ?? 0;
    }
    const portNum = bindPort(p ?? 0);
    this.bindState = 'binding';
    this.queue = [];
    if (cb) {
      const onListening = () => {
        this.removeListener('error', onError);
        cb.call(this);
      };
      const onError = () => this.removeListener('listening', onListening);
      this.once('listening', onListening);
      this.once('error', onError);
    }
    // Node resolves the address first: 'listening' or the error comes on a later tick.
    process.nextTick(() => this.doBind(portNum, addr || '0.0.0.0'));
    return this;
  }

  private doBind(port: number, address: string): void {
    if (this.closed) return;
    let ip: Ipv4Addr;
    try {
      ip = parseIpv4(address);
    } catch {
      this.bindState = 'unbound';
      this.queue = null;
      this.emit('error', errnoError(new UdpError('EINVAL', address, 'getaddrinfo'), 'getaddrinfo', address));
      return;
    }
    try {
      this.binding = this.udp.bind(ip, port, this);
    } catch (e) {
      if (!(e instanceof UdpError)) throw e;
      this.bindState = 'unbound';
      this.queue = null;
      this.emit('error', errnoError(e, 'bind', address, port));
      return;
    }
    this.bindState = 'bound';
    this.holdLoop(this.refd);
    const q = this.queue ?? [];
    this.queue = null;
    this.emit('listening');
    for (const fn of q) fn();
  }

  /** Bind to an ephemeral port on every address if not bound (Node does this for send and connect). */
  private implicitBind(): void {
    if (this.bindState === 'unbound') this.bind({ port: 0 });
  }

  address(): AddressInfo {
    this.healthCheck();
    const b = this.binding;
    if (!b) throw badf('getsockname');
    return { address: formatIpv4(b.address), family: 'IPv4', port: b.port };
  }

  // ---- connect ----

  connect(port: number, address?: string | ((err?: Error) => void), callback?: (err?: Error) => void): void {
    const p = validatePort(port, false);
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (this.connectState !== 'disconnected') throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    this.connectState = 'connecting';
    this.implicitBind();
    const run = () => this.doConnect(p, (address as string | undefined) ?? '127.0.0.1', callback);
    if (this.bindState !== 'bound') this.queue!.push(run);
    else run();
  }

  private doConnect(port: number, address: string, callback: ((err?: Error) => void) | undefined): void {
    if (this.closed) return;
    let ip: Ipv4Addr = 0;
    let err: Error | null = null;
    try {
      ip = parseIpv4(address);
      // tapstack has no loopback: 127.0.0.0/8 and the unspecified address reach nobody.
      if (ip === 0 || ip >>> 24 === 127) err = errnoError(new UdpError('ENETUNREACH', address), 'connect', address, port);
    } catch {
      err = errnoError(new UdpError('EINVAL', address), 'getaddrinfo', address);
    }
    process.nextTick(() => {
      if (this.closed) return;
      if (err) {
        this.connectState = 'disconnected';
        if (callback) callback.call(this, err);
        else this.emit('error', err);
        return;
      }
      this.remote = ip;
      this.remotePort = port;
      this.binding!.connect(ip, port);
      this.connectState = 'connected';
      if (callback) this.once('connect', callback);
      this.emit('connect');
    });
  }

  disconnect(): void {
    if (this.connectState !== 'connected') throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.binding!.disconnect();
    this.remote = 0;
    this.remotePort = 0;
    this.connectState = 'disconnected';
  }

  remoteAddress(): AddressInfo {
    this.healthCheck();
    if (this.connectState !== 'connected') throw nodeError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: formatIpv4(this.remote), family: 'IPv4', port: this.remotePort };
  }

  // ---- send ----

  /**
   * `send(msg[, offset, length][, port][, address][, callback])`, as Node: `msg` a string, a
   * Uint8Array, or an array of them (sent as one datagram); port and address only when not
   * connected; the callback gets `(err, bytes)` on a later tick.
   */
  send(msg: Message, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Message, port: number, callback: SendCallback): void;
  send(msg: Message, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Message, offset: number, length: number, port: number, callback: SendCallback): void;
  send(msg: Message, callback: SendCallback): void;
  send(msg: Message, ...args: unknown[]): void {
    const connected = this.connectState === 'connected';
    let list: Message = msg;
    let port: unknown;
    let address: unknown;
    let callback: unknown;
    if (!connected) {
      if (typeof args[0] === 'number' && typeof args[1] === 'number' && (typeof args[2] === 'number' || typeof args[2] === 'string')) {
        // (msg, offset, length, port[, address][, callback])
        list = slice(msg, args[0], args[1]);
        [port, address, callback] = args.slice(2);
      } else {
        [port, address, callback] = args;
      }
    } else {
      if (typeof args[0] === 'number' && typeof args[1] === 'number') {
        list = slice(msg, args[0], args[1]);
        [port, address, callback] = args.slice(2);
      } else {
        [port, address, callback] = args;
      }
      if (typeof port === 'function') {
        callback = port;
        port = undefined;
      }
      if (port || address) throw nodeError('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    const data = toBytes(list);
    let p = 0;
    if (!connected) p = validatePort(port, false);
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    const cb = typeof callback === 'function' ? (callback as SendCallback) : undefined;
    this.healthCheck();
    this.implicitBind();
    const run = () => this.doSend(data, connected ? this.remotePort : p, connected ? formatIpv4(this.remote) : ((address as string | undefined) ?? '127.0.0.1'), cb);
    if (this.bindState !== 'bound') this.queue!.push(run);
    else run();
  }

  private doSend(data: Uint8Array, port: number, address: string, cb: SendCallback | undefined, reason: CopyReason = 'stream-api'): void {
    if (this.closed) return;
    const fail = (e: UdpError, syscall = 'send') => {
      // Node passes a send error to the callback only (lib/dgram.js doSend: "Don't emit as error").
      if (cb) process.nextTick(cb, errnoError(e, syscall, address, port));
    };
    let ip: Ipv4Addr;
    try {
      ip = parseIpv4(address);
    } catch {
      return fail(new UdpError('EINVAL', address, 'getaddrinfo'), 'getaddrinfo');
    }
    if (ip >>> 24 === 127) return fail(new UdpError('ENETUNREACH', 'tapstack has no loopback'));
    if (data.length > UDP_MAX_PAYLOAD_IPV4) return fail(new UdpError('EMSGSIZE', `${data.length} bytes`));
    countCopy(this.lender.stats.udpSendCopiedBytes, reason, data.length);
    try {
      this.binding!.send(ip, port, data, { broadcast: this.broadcast });
    } catch (e) {
      if (!(e instanceof UdpError)) throw e;
      return fail(e);
    }
    if (cb) process.nextTick(cb, null, data.length);
  }

  /**
   * Send pool pages (from `stack.pages.alloc`) as one datagram, by reference: the handles are
   * detached until the completion hands them back, once the frame was written. Pages too small
   * or not from the pool are copied, under a named reason; so is a datagram above the MTU (it is
   * fragmented from a copy). A failure rejects with an error whose `pages` are the pages, back in
   * the application's hands (the handles given, or new ones when they had been taken).
   */
  sendPages(pages: Page[], port?: number, address?: string): Promise<DgramSendCompletion> {
    const fail = (e: unknown, back: Page[] = pages) => Promise.reject(Object.assign(e as Error, { pages: back }));
    let dstPort: number;
    let dst: Ipv4Addr;
    try {
      this.healthCheck();
      if (this.bindState !== 'bound') throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'sendPages needs a bound socket');
      const connected = this.connectState === 'connected';
      dstPort = connected ? this.remotePort : validatePort(port, false);
      dst = connected ? this.remote : parseIpv4(address ?? '127.0.0.1');
    } catch (e) {
      return fail(e);
    }
    const st = this.lender.stats;
    let reason: CopyReason | null = this.lender.switches.send ? null : 'switch-off';
    for (const p of pages) {
      if (reason !== null) break;
      if (!(p instanceof Page) || p.id < 0 || this.lender.pool.ownerOf(p.id) !== PageOwner.User) reason = 'not-a-pool-page';
      else if (p.length < ZERO_COPY_MIN_PAGE) reason = 'small-page';
    }
    if (reason !== null) {
      const data = toBytes(pages.map((p) => p.data));
      return new Promise((resolve, reject) => {
        const done = (err: Error | null) => {
          if (err) return reject(Object.assign(err, { pages }));
          st.completions++;
          st.completionsCopied++;
          resolve({ pages, copied: true });
        };
        this.doSend(data, dstPort, formatIpv4(dst), done, reason);
      });
    }
    const lens = pages.map((p) => p.length);
    const ids = pages.map((p) => this.lender.take(p));
    const back = () => ids.map((id, i) => this.lender.lend(id, lens[i]!, null));
    return new Promise((resolve, reject) => {
      const sent = (copy: 'fragmented' | 'slow-path' | null) => {
        const n = lens.reduce((a, b) => a + b, 0);
        if (copy !== null) countCopy(st.udpSendCopiedBytes, copy, n);
        else st.udpSendByReferenceBytes += n;
        st.completions++;
        if (copy !== null) st.completionsCopied++;
        resolve({ pages: back(), copied: copy !== null });
      };
      try {
        this.binding!.sendPages(dst, dstPort, ids, lens, sent, { broadcast: this.broadcast });
      } catch (e) {
        const err = e instanceof UdpError ? errnoError(e, 'send', formatIpv4(dst), dstPort) : (e as Error);
        reject(Object.assign(err, { pages: back() }));
      }
    });
  }

  // ---- receive (UdpEndpoint) ----

  receive(d: UdpDatagram): void {
    const len = d.payload.length;
    if (this.pageMode) return this.queueDatagram(d, len);
    const msg = Buffer.allocUnsafe(len);
    d.payload.copyOut(0, len, msg, 0);
    countCopy(this.lender.stats.udpCopiedBytes, 'stream-api', len);
    this.emit('message', msg, { address: formatIpv4(d.src), family: 'IPv4', port: d.srcPort, size: len } satisfies RemoteInfo);
  }

  icmpError(e: UdpIcmpError): void {
    // Linux reports an ICMP error only to a connected socket, and only a fatal one (udp_err
    // without IP_RECVERR); the next receive returns it, and Node emits it from recvmsg.
    if (this.connectState !== 'connected' || e.dst !== this.remote || e.dstPort !== this.remotePort) return;
    const m = icmpErrno(e.type, e.code);
    if (!m.fatal) return;
    const err = errnoError(new UdpError(m.code, 'ICMP', 'recvmsg'), 'recvmsg');
    process.nextTick(() => {
      if (!this.closed) this.emit('error', err);
    });
  }

  // ---- the page reader ----

  /**
   * Read datagrams with pages from now on: each is queued whole as pages, up to the receive
   * buffer (the pages queued, 4096 bytes each; beyond it a datagram is dropped and counted as
   * `udp-rcvbuf`),
   * and `'pages'` says some wait. `'message'` is no longer emitted.
   */
  usePages(): this {
    this.pageMode = true;
    return this;
  }

  /** Datagrams waiting for {@link readDatagrams}. */
  get datagramsAvailable(): number {
    return this.rx.length;
  }

  /** Pages those datagrams take. */
  get pagesAvailable(): number {
    let n = 0;
    for (const q of this.rx) n += q.ids.length;
    return n;
  }

  /**
   * Trade empty pages for datagrams: whole datagrams come back while `empties` has a page for
   * each of their pages; as many of `empties` go to the pool's free list. Handles traded are
   * detached.
   */
  readDatagrams(empties: Page[]): PageDatagram[] {
    const out: PageDatagram[] = [];
    let e = 0;
    while (this.rx.length > 0 && e + this.rx[0]!.ids.length <= empties.length) {
      const q = this.rx.shift()!;
      this.rxBytes -= q.charge;
      const pages: Page[] = [];
      for (let k = 0; k < q.ids.length; k++) {
        this.lender.freeId(this.lender.take(empties[e++]!));
        const id = q.ids[k]!;
        pages.push(id >= 0 ? this.lender.lend(id, q.lens[k]!, this) : new Page(-2, q.heap[k]!, q.lens[k]!));
      }
      out.push({ rinfo: { address: formatIpv4(q.src), family: 'IPv4', port: q.srcPort, size: q.size }, pages });
    }
    return out;
  }

  /** A lent page came back (PageBorrower): nothing is owed to the receive buffer for it. */
  pageReturned(_n: number): void {}

  private queueDatagram(d: UdpDatagram, len: number): void {
    // Charged the memory it holds, whole pages, as Linux charges an skb's truesize to sk_rcvbuf.
    const charge = Math.max(1, Math.ceil(len / PAGE_SIZE)) * PAGE_SIZE;
    if (this.rxBytes + charge > this.rcvbuf) {
      this.binding?.drop('udp-rcvbuf');
      return;
    }
    const st = this.lender.stats;
    const q: QueuedDatagram = { src: d.src, srcPort: d.srcPort, size: len, charge, ids: [], lens: [], heap: [] };
    let reason: CopyReason | null = 'switch-off';
    if (this.lender.switches.receive && len > 0) {
      const ids = this.taken;
      ids.length = 0;
      reason = d.payload.takePages(0, len, ids);
      if (reason === null) {
        // The flip: the NIC's pages become this socket's, by index.
        for (let k = 0; k < ids.length; k++) {
          q.ids.push(ids[k]!);
          q.lens.push(Math.min(PAGE_SIZE, len - k * PAGE_SIZE));
          q.heap.push(null);
        }
        st.udpFlippedPages += ids.length;
        st.udpFlippedBytes += len;
      }
    }
    if (reason !== null) {
      for (let pos = 0; pos < len; pos += PAGE_SIZE) {
        const n = Math.min(PAGE_SIZE, len - pos);
        const id = this.lender.pool.alloc(PageOwner.Stack);
        let why: CopyReason = reason;
        if (id >= 0) d.payload.copyOut(pos, n, this.lender.pool.view(id), 0);
        else {
          const heap = new Uint8Array(n);
          d.payload.copyOut(pos, n, heap, 0);
          q.heap[q.ids.length] = heap;
          why = 'pool-empty';
        }
        q.ids.push(id >= 0 ? id : -2);
        q.lens.push(n);
        if (id >= 0) q.heap.push(null);
        countCopy(st.udpCopiedBytes, why, n);
      }
    }
    this.rx.push(q);
    this.rxBytes += charge;
    if (!this.pagesEventPending) {
      this.pagesEventPending = true;
      process.nextTick(() => {
        this.pagesEventPending = false;
        if (this.rx.length > 0) this.emit('pages');
      });
    }
  }

  // ---- options ----

  setBroadcast(flag: boolean): void {
    if (!this.binding) throw badf('setBroadcast');
    this.broadcast = !!flag;
  }

  /** SO_RCVBUF as Linux sets it: doubled (for bookkeeping overhead), at least SOCK_MIN_RCVBUF. */
  setRecvBufferSize(size: number): void {
    this.bufferSizeCheck(size, 'recv');
    this.rcvbuf = Math.max(2 * size, SOCK_MIN_RCVBUF);
  }

  setSendBufferSize(size: number): void {
    this.bufferSizeCheck(size, 'send');
    this.sndbuf = Math.max(2 * size, SOCK_MIN_SNDBUF);
  }

  getRecvBufferSize(): number {
    this.bufferSizeCheck(0, 'recv');
    return this.rcvbuf;
  }

  /** SO_SNDBUF: kept and reported; sends go to the NIC at once, so nothing waits against it. */
  getSendBufferSize(): number {
    this.bufferSizeCheck(0, 'send');
    return this.sndbuf;
  }

  getSendQueueSize(): number {
    return 0;
  }

  getSendQueueCount(): number {
    return 0;
  }

  private bufferSizeCheck(size: number, which: 'recv' | 'send'): void {
    if (size >>> 0 !== size) throw nodeError('ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer', TypeError);
    if (!this.binding) {
      // Node's SystemError: errno and syscall of libuv's call on a socket with no fd yet.
      const syscall = `uv_${which}_buffer_size`;
      throw Object.assign(nodeError('ERR_SOCKET_BUFFER_SIZE', `Could not get or set buffer size: ${syscall} returned EBADF (bad file descriptor)`), { errno: -9, syscall });
    }
  }

  /**
   * Node's ref/unref choose whether the socket's libuv handle keeps the process alive (a UDP
   * handle is active from bind to close). A tapstack socket has no handle of its own: while
   * bound and ref'd it holds the stack, which keeps its TAP's poll handle and timer ref'd while
   * anything holds it (socket/refs.ts).
   */
  ref(): this {
    this.refd = true;
    this.holdLoop(this.bindState === 'bound' && !this.closed);
    return this;
  }

  unref(): this {
    this.refd = false;
    this.holdLoop(false);
    return this;
  }

  private holdLoop(on: boolean): void {
    if (!this.refs || on === this.holding) return;
    this.holding = on;
    if (on) this.refs.hold();
    else this.refs.release();
  }

  // ---- close ----

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    if (this.queue !== null) {
      this.queue.push(() => this.close());
      return this;
    }
    this.healthCheck();
    this.closed = true;
    this.holdLoop(false);
    this.binding?.close();
    this.binding = null;
    for (const q of this.rx) for (const id of q.ids) if (id >= 0) this.lender.pool.free(id);
    this.rx.length = 0;
    this.rxBytes = 0;
    process.nextTick(() => this.emit('close'));
    return this;
  }

  private healthCheck(): void {
    if (this.closed) throw nodeError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }
}

/** EBADF as libuv reports a call on a socket that is not bound yet (Node's ErrnoException). */
function badf(syscall: string): Error {
  const e = new Error(`${syscall} EBADF`) as Error & { code: string; errno: number; syscall: string };
  e.code = 'EBADF';
  e.errno = -9;
  e.syscall = syscall;
  return e;
}

function slice(msg: Message, offset: number, length: number): Message {
  const b = typeof msg === 'string' ? Buffer.from(msg) : Array.isArray(msg) ? toBytes(msg) : (msg as Uint8Array);
  return b.subarray(offset, offset + length);
}

/** The datagram's bytes: one view when it is one buffer, else the parts concatenated. */
function toBytes(m: Message): Uint8Array {
  if (typeof m === 'string') return Buffer.from(m);
  if (m instanceof Uint8Array) return m;
  if (ArrayBuffer.isView(m)) return new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
  if (!Array.isArray(m)) throw nodeError('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView.', TypeError);
  const parts = (m as readonly (string | Uint8Array)[]).map((p) => {
    if (typeof p === 'string') return Buffer.from(p);
    if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    throw nodeError('ERR_INVALID_ARG_TYPE', 'The "buffer list arguments" argument must be of type string or an instance of Buffer, TypedArray, or DataView.', TypeError);
  });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
