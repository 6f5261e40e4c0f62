/**
 * A TCP connection as Node programs know it: a `Duplex` with the events and methods of
 * `net.Socket` that applications use. Reading copies payload out of the NIC's pages into
 * Buffers (the stream API may copy; the page API of the zero-copy issue does not). Writing
 * copies into the connection's send queue of pool pages, from where segments go out by
 * reference. Back-pressure both ways: unread data shrinks the advertised window, and a full
 * send buffer holds `_write` callbacks, so `write()` returns false and `'drain'` follows.
 */
import { Duplex } from 'node:stream';
import type { TcpConnection, TcpInfo, TcpUser } from '../tcp/connection.js';
import { TcpError } from '../tcp/errors.js';
import { formatIpv4 } from '../wire/addr.js';
import { PAGE_SIZE } from '../mem/arena.js';
import { PageOwner } from '../mem/page-pool.js';
import { Page } from '../mem/page.js';
import type { RxPayload } from '../mem/rx-payload.js';
import { countCopy, type CopyReason, type PageBorrower, type PageLender, type ZeroCopySwitches } from './pages.js';
import { RxPageQueue } from './page-queue.js';
import type { RefHolder } from './refs.js';

/** Pages below this many bytes are copied by writePages: a page per few bytes wastes iovecs. */
const ZERO_COPY_MIN_PAGE = 512;

export interface SendCompletion {
  /** The pages, back in the application's hands. */
  pages: Page[];
  /** Some byte was copied after all (switch off, small page, slow path). */
  copied: boolean;
  /** Every byte was acknowledged (false: the connection ended first). */
  acked: boolean;
}

/** Node's default highWaterMark of a stream (net.Socket's): 16 KiB. */
const DEFAULT_HIGH_WATER_MARK = 16 * 1024;

/** process.nextTick's callback for a socket's 'pages' outside a batch (no closure per socket). */
const batchEndOf = (s: Socket): void => s.onBatchEnd();
/** The page queue of a socket that has none: shared and never written. */
const NO_PAGES = new RxPageQueue();
/** Page ids a payload hands over: scratch of receivePages, shared (filled and read within one call). */
const TAKEN: number[] = [];

export interface SocketOptions {
  allowHalfOpen?: boolean;
  /** Readable/writable highWaterMark of the stream (Node's default 16 KiB; a bulk mover wants more). */
  highWaterMark?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Read with the page API ({@link Socket.readPages}) from the start. */
  pages?: boolean;
  /** Per-socket zero-copy switches (unset: the stack's). */
  zeroCopy?: Partial<ZeroCopySwitches>;
}

interface PendingWrite {
  chunks: Buffer[];
  cb: (err?: Error | null) => void;
}

export class Socket extends Duplex implements TcpUser, PageBorrower {
  /** Per-socket zero-copy switches; unset fields follow the stack's (`stack.zeroCopy`). */
  zeroCopy: Partial<ZeroCopySwitches>;
  private pageMode = false;
  /** Received data waiting for readPages; the shared empty queue until the first (an idle socket has none of its own). */
  private rxPages = NO_PAGES;
  /** Pages lent to the application from this socket's queue, not yet returned. */
  private lentPages = 0;
  private pagesEventPending = false;
  /** net.Socket's: true from `connect` until 'connect' or the failure. */
  connecting: boolean;
  bytesRead = 0;
  /** net.Socket's: the idle timeout `setTimeout` set, in ms (undefined until it is called). */
  timeout?: number;
  private written = 0;
  private conn: TcpConnection | null;
  /** Of the bytes read and written, those that moved by page flipping and by reference. */
  private flipped = 0;
  private sentByReference = 0;
  private blocked: PendingWrite | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private localAddr: number;
  /** The connection was established: addresses are reported from then on (net.Socket's getsockname). */
  private connected = false;
  /** `resetAndDestroy()`: close with a RST (RFC 9293 3.10.5 ABORT) instead of a FIN. */
  private resetOnClose = false;
  /** The hold this socket has on the stack's event loop handles (ref()), if it has one. */
  private holding = false;

  /**
   * `conn` null: the socket waits for {@link attach} (`stack.connect` resolving a name); writes
   * wait with it, as net.Socket's do while it looks the name up.
   */
  constructor(
    conn: TcpConnection | null,
    localAddr: number,
    private readonly lender: PageLender,
    opts: SocketOptions = {},
    private readonly refs: RefHolder | null = null,
  ) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      writableHighWaterMark: opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      decodeStrings: true,
      // 'close' carries hadError, as net.Socket's does: emitted by _destroy.
      emitClose: false,
      autoDestroy: true,
    });
    this.conn = null;
    // An active connection is built CLOSED and sent its SYN after: connecting until established.
    this.connecting = conn === null || conn.state === 'CLOSED' || conn.state === 'SYN-SENT';
    if (refs) {
      refs.hold();
      this.holding = true;
    }
    this.localAddr = localAddr;
    this.zeroCopy = { ...opts.zeroCopy };
    this.opts = { ...opts };
    if (conn) this.attach(conn, localAddr);
    if (opts.pages) this.usePages();
  }

  private readonly opts: SocketOptions;

  /** The connection, once there is one (at once, or after the name resolved). */
  attach(conn: TcpConnection, localAddr: number): void {
    this.conn = conn;
    this.localAddr = localAddr;
    conn.user = this;
    if (this.opts.noDelay) conn.setNoDelay(true);
    if (this.opts.keepAlive) conn.setKeepAlive(true, this.opts.keepAliveInitialDelay);
    if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE-WAIT') {
      this.connecting = false;
      this.connected = true;
    }
  }

  /** Send what was written while the name resolved (after conn.connect()). */
  afterAttach(): void {
    if (this.blocked) this.onSendSpace();
  }

  // ---- zero-copy pages ----

  /**
   * Read with pages from now on: received data is queued as pages (flipped from the NIC where
   * the header split allows, copied into pool pages otherwise) and taken with
   * {@link readPages}; `'pages'` says some are waiting, once per receive batch, at its end and
   * before the batch's ACKs are sent: pages read in the handler count as read in those ACKs'
   * window. The stream API then sees no data (`'end'` still comes with the peer's FIN).
   */
  usePages(): this {
    if (this.pageMode) return this;
    this.pageMode = true;
    this.resume(); // nothing is pushed any more; let 'end' flow when the peer finishes
    return this;
  }

  /** Received pages waiting. */
  get pagesAvailable(): number {
    return this.rxPages.length;
  }

  /** Bytes in the received pages waiting. */
  get pageBytesAvailable(): number {
    return this.rxPages.bytes;
  }

  /**
   * Trade empty pages for filled ones: up to `empties.length` received pages come back (each
   * with its data length), and as many of `empties` go to the pool's free list, from where the
   * NIC refills. Handles in `empties` that were traded are detached.
   */
  readPages(empties: Page[]): Page[] {
    if (!this.pageMode) this.usePages();
    const n = Math.min(empties.length, this.rxPages.length);
    const out: Page[] = [];
    const q = this.rxPages;
    for (let i = 0; i < n; i++) {
      this.lender.freeId(this.lender.take(empties[i]!));
      const id = q.firstId;
      const len = q.firstLen;
      if (id >= 0) {
        out.push(this.lender.lend(id, len, this));
        this.lentPages++;
      } else {
        out.push(new Page(-2, q.firstHeap!, len));
      }
      q.shift();
    }
    if (n > 0) this.conn?.windowUpdate();
    return out;
  }

  /** Pages this socket lent came back (PageBorrower). */
  pageReturned(n: number): void {
    this.lentPages -= n;
    this.conn?.windowUpdate();
  }

  /**
   * Send whole pool pages by reference. Each page's `length` bytes go to the wire from the
   * page itself and stay there, unchanged, for retransmission; the handles are detached until
   * the completion gives the pages back, once the peer acknowledged every byte.
   */
  writePages(pages: Page[]): Promise<SendCompletion> {
    const conn = this.conn;
    if (!conn || this.writableEnded) return Promise.reject(new TcpError('EPIPE', 'write after end', 'write'));
    const st = this.lender.stats;
    const zcOn = this.lender.switches.send && this.zeroCopy.send !== false;
    const back: Page[] = new Array(pages.length);
    let copied = false;
    // Every page, copied or not, completes when its bytes are acknowledged: that paces writers.
    let waiting = 1;
    let allAcked = true;
    let resolve!: (c: SendCompletion) => void;
    const done = new Promise<SendCompletion>((r) => (resolve = r));
    const settle = () => {
      if (--waiting > 0) return;
      st.completions++;
      if (copied) st.completionsCopied++;
      resolve({ pages: back, copied, acked: allAcked });
    };
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      let reason: CopyReason | null = null;
      if (!zcOn) reason = 'switch-off';
      else if (!(p instanceof Page) || p.id < 0 || this.lender.pool.ownerOf(p.id) !== PageOwner.User) reason = 'not-a-pool-page';
      else if (p.length < ZERO_COPY_MIN_PAGE) reason = 'small-page';
      if (reason !== null) {
        // Copied now; the page is the application's again at once, the completion still waits
        // for the acknowledgement.
        const data = p instanceof Page ? p.data : (p as Uint8Array);
        back[i] = p;
        copied = true;
        waiting++;
        if (!conn.writeAll(data, (acked) => {
          if (!acked) allAcked = false;
          settle();
        })) {
          allAcked = false;
          settle();
          continue;
        }
        this.written += data.length;
        countCopy(st.sendCopiedBytes, reason, data.length);
        continue;
      }
      const len = p.length;
      const id = this.lender.take(p);
      waiting++;
      const onAcked = (acked: boolean, wasCopied: boolean) => {
        if (!acked) allAcked = false;
        if (wasCopied) copied = true;
        back[i] = this.lender.lend(id, len, null);
        settle();
      };
      if (!conn.writePage(id, len, onAcked)) {
        onAcked(false, false);
        continue;
      }
      st.sendByReferenceBytes += len;
      this.sentByReference += len;
      this.written += len;
    }
    settle();
    return done;
  }

  private queuePage(id: number, len: number, heap: Uint8Array | null): void {
    if (this.rxPages === NO_PAGES) this.rxPages = new RxPageQueue();
    this.rxPages.push(id, len, heap);
    // 'pages' once per batch: at its end, before its ACKs go (so that what the reader takes at
    // once is in their window), or on the next tick when no batch delivered them.
    if (!this.pagesEventPending) {
      this.pagesEventPending = true;
      if (!this.conn?.atBatchEnd()) process.nextTick(batchEndOf, this);
    }
  }

  /** The batch that queued pages ended (TcpUser): say that they wait. */
  onBatchEnd(): void {
    if (!this.pagesEventPending) return;
    this.pagesEventPending = false;
    if (this.rxPages.length > 0) this.emit('pages');
  }

  /** In-order data for the page reader: its pages when the payload hands them over, else a copy. */
  private receivePages(payload: RxPayload, offset: number, len: number): void {
    const st = this.lender.stats;
    const zcOn = this.lender.switches.receive && this.zeroCopy.receive !== false;
    let reason: CopyReason | null = 'switch-off';
    if (zcOn) {
      const ids = TAKEN;
      ids.length = 0;
      reason = payload.takePages(offset, len, ids);
      if (reason === null) {
        // The flip: the pages become this socket's, by index. No byte moves.
        for (let k = 0; k < ids.length; k++) this.queuePage(ids[k]!, Math.min(PAGE_SIZE, len - k * PAGE_SIZE), null);
        st.flippedPages += ids.length;
        st.flippedBytes += len;
        this.flipped += len;
        return;
      }
    }
    for (let pos = 0; pos < len; pos += PAGE_SIZE) {
      const n = Math.min(PAGE_SIZE, len - pos);
      const id = this.lender.pool.alloc(PageOwner.Stack);
      if (id >= 0) {
        payload.copyOut(offset + pos, n, this.lender.pool.view(id), 0);
        this.queuePage(id, n, null);
        countCopy(st.copiedBytes, reason, n);
      } else {
        const heap = new Uint8Array(n);
        payload.copyOut(offset + pos, n, heap, 0);
        this.queuePage(-2, n, heap);
        countCopy(st.copiedBytes, 'pool-empty', n);
      }
    }
  }

  /** Give queued (not lent) pages back to the pool: the socket is gone. */
  private releasePages(): void {
    for (const id of this.rxPages.poolIds()) this.lender.pool.free(id);
    this.rxPages = NO_PAGES;
  }

  // ---- net.Socket surface ----

  // Addresses as net.Socket reports them: the local ones while connected (getsockname of the
  // open handle); the peer's while connected, and after the close only if they were read
  // before (net caches getpeername's answer at the first read).

  get remoteAddress(): string | undefined {
    return this.peer()?.address;
  }
  get remotePort(): number | undefined {
    return this.peer()?.port;
  }

  private peer(): { address: string; port: number } | null {
    const c = this.conn;
    if (c && this.connected) this.lastRemote ??= { address: formatIpv4(c.remoteAddr), port: c.remotePort };
    return this.lastRemote;
  }
  get remoteFamily(): string | undefined {
    return this.remoteAddress === undefined ? undefined : 'IPv4';
  }
  get localAddress(): string | undefined {
    return this.conn && this.connected ? formatIpv4(this.localAddr) : undefined;
  }
  get localPort(): number | undefined {
    return this.conn && this.connected ? this.conn.localPort : undefined;
  }
  get localFamily(): string | undefined {
    return this.localAddress === undefined ? undefined : 'IPv4';
  }
  get bytesWritten(): number {
    return this.written;
  }
  /** net.Socket's (deprecated there): bytes written and not yet taken by the connection. */
  get bufferSize(): number {
    // undefined once destroyed, as net's (whose typings say number all the same).
    return this.destroyed ? (undefined as unknown as number) : this.writableLength;
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }
  /** net.Socket's: true while there is no open connection (not yet, connecting, or no more). */
  get pending(): boolean {
    return !this.conn || this.connecting;
  }
  /**
   * What `tapstack ss` shows of this socket: its connection's TCP state (null once closed) and
   * how many of the bytes it read and wrote moved without a copy.
   */
  info(): { tcp: TcpInfo | null; bytesRead: number; bytesWritten: number; flippedBytes: number; sentByReferenceBytes: number } {
    return { tcp: this.conn?.info() ?? null, bytesRead: this.bytesRead, bytesWritten: this.written, flippedBytes: this.flipped, sentByReferenceBytes: this.sentByReference };
  }

  get tcpState(): string {
    return this.conn?.state ?? 'CLOSED';
  }

  private lastRemote: { address: string; port: number } | null = null;

  /** net.Socket's: the local address while connected, else `{}`. */
  address(): { address: string; family: string; port: number } | Record<string, never> {
    const conn = this.conn;
    if (!conn || !this.connected) return {};
    return { address: formatIpv4(this.localAddr), family: 'IPv4', port: conn.localPort };
  }

  /** Set now, or once the connection exists (a name still resolving), as net.Socket remembers it. */
  setNoDelay(noDelay = true): this {
    this.opts.noDelay = noDelay;
    this.conn?.setNoDelay(noDelay);
    return this;
  }

  /** Set now, or once the connection exists, as {@link setNoDelay}. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.opts.keepAlive = enable;
    this.opts.keepAliveInitialDelay = initialDelay > 0 ? initialDelay : undefined;
    this.conn?.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  /** Emit 'timeout' after `ms` without activity (0 turns it off), as net.Socket does. */
  setTimeout(ms: number, cb?: () => void): this {
    this.timeout = ms;
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

  /** Keep the process alive while this socket is open (the default), as a libuv handle does. */
  ref(): this {
    if (this.refs && !this.holding && !this.destroyed) {
      this.refs.hold();
      this.holding = true;
    }
    return this;
  }

  /** Let the process exit even while this socket is open: the stack then holds the loop only for other sockets and servers. */
  unref(): this {
    this.letGo();
    return this;
  }

  private letGo(): void {
    if (!this.holding) return;
    this.holding = false;
    this.refs!.release();
  }

  /**
   * net.Socket's reconnect of a socket object: not here. A tapstack socket belongs to the
   * connection its stack opened (`stack.connect`); this throws ERR_METHOD_NOT_IMPLEMENTED.
   */
  connect(..._args: unknown[]): this {
    throw Object.assign(new Error('Socket.connect(): open a tapstack connection with stack.connect()'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' });
  }

  /** net.Socket's: the address:port tried (one: tapstack has IPv4 only). */
  get autoSelectFamilyAttemptedAddresses(): string[] {
    const c = this.conn;
    if (c) return [`${formatIpv4(c.remoteAddr)}:${c.remotePort}`];
    return this.lastRemote ? [`${this.lastRemote.address}:${this.lastRemote.port}`] : [];
  }

  /** net.Socket's: end the writable side, and destroy once it finished. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /**
   * net.Socket's: close with a RST (RFC 9293 3.10.5 ABORT), once connected when still
   * connecting; 'close' follows without an error.
   */
  resetAndDestroy(): this {
    if (this.connecting) {
      this.once('connect', () => this.resetAndDestroy());
      return this;
    }
    if (!this.conn) return this;
    this.resetOnClose = true;
    return this.destroy();
  }

  // ---- TcpUser ----

  onConnect(): void {
    this.connecting = false;
    this.connected = true;
    this.emit('connect');
    this.emit('ready');
  }

  onData(payload: RxPayload, offset: number, len: number): void {
    if (this.pageMode) {
      this.bytesRead += len;
      this.activity();
      this.receivePages(payload, offset, len);
      return;
    }
    const b = Buffer.allocUnsafe(len);
    payload.copyOut(offset, len, b, 0);
    countCopy(this.lender.stats.copiedBytes, 'stream-api', len);
    this.deliver(b);
  }

  private deliver(b: Buffer): void {
    this.bytesRead += b.length;
    this.activity();
    this.push(b);
  }

  /** The peer's FIN: end of data, and 'end' now when nothing is left unread, as net.Socket's read(0) after EOF. */
  onEnd(): void {
    this.push(null);
    if (!this.pageMode) this.read(0);
  }

  onSendSpace(): void {
    this.activity();
    const p = this.blocked;
    if (!p || !this.conn) return;
    while (p.chunks.length > 0) {
      const c = p.chunks[0]!;
      const n = this.conn.write(c);
      this.written += n;
      countCopy(this.lender.stats.sendCopiedBytes, 'stream-api', n);
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
    // A failed attempt reports where it went, as net's connect errors do.
    if (err && this.connecting && c) err = TcpError.connect(err.code, formatIpv4(c.remoteAddr), c.remotePort);
    this.connecting = false;
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

  /** What counts against the receive window: unread bytes, and pages queued or lent. */
  bufferedBytes(): number {
    return this.readableLength + (this.rxPages.length + this.lentPages) * PAGE_SIZE;
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
    if (!conn && this.connecting) {
      this.blocked = { chunks: [...chunks], cb };
      return;
    }
    if (!conn) {
      cb(new TcpError('EPIPE', 'This socket has been ended by the other party', 'write'));
      return;
    }
    this.activity();
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      const n = conn.write(c);
      this.written += n;
      countCopy(this.lender.stats.sendCopiedBytes, 'stream-api', n);
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

  /**
   * end(): the FIN goes after the queued data (RFC 9293 3.10.4 CLOSE), once connected when still
   * connecting. 'finish' follows on a later turn, as net.Socket's after shutdown(2) completes:
   * a write after end() errors the socket before it.
   */
  override _final(cb: (err?: Error | null) => void): void {
    if (this.connecting) {
      this.once('connect', () => this._final(cb));
      return;
    }
    const conn = this.conn;
    // No connection any more (it closed or failed): nothing to shut down, done at once as net's.
    if (!conn) return cb();
    conn.close();
    setImmediate(cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.releasePages();
    this.connecting = false;
    const conn = this.conn;
    if (conn) {
      conn.user = null;
      this.conn = null;
      // As close(2): a RST when data is left unread (RFC 1122 4.2.2.13) or on
      // resetAndDestroy() (RFC 9293 3.10.5 ABORT); otherwise a FIN after the queued data
      // (3.10.4 CLOSE), destroy(err) included, and the connection finishes on its own (an
      // orphan, as in the kernel). In SYN-SENT either just forgets the attempt.
      if (this.resetOnClose || this.readableLength > 0 || this.rxPages.length > 0) conn.abort();
      else {
        conn.orphaned = true;
        conn.close();
      }
    }
    this.letGo();
    cb(err);
    // After the 'error' destroy() emits on the next tick, as net.Socket's after the handle closed.
    process.nextTick(() => this.emit('close', err !== null && err !== undefined));
  }
}
