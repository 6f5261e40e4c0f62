/**
 * The services `tapstack up --serve` starts: echo (RFC 862), discard (RFC 863), chargen
 * (RFC 864), and HTTP through Node's own http module running on tapstack sockets; UDP echo and
 * discard (RFC 862, RFC 863 "UDP Based" services) on tapstack's dgram sockets.
 * iperf3 runs tests of the kernel's `iperf3 -c` (src/apps/iperf3/).
 * HTTP serves `/` (a short page) and `/bytes/N`: N bytes of a fixed pattern (byte i is
 * i mod 251), so a download can be checked end to end. `source` sends that pattern without
 * end, from pool pages by reference.
 *
 * With zero copy on, discard reads with the page API and gives the pages straight back to the
 * pool, echo sends back the very pages it received (payload from the kernel returns to the
 * kernel with no CPU copy inside tapstack), and source sends pages by reference.
 */
import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Stack } from '../stack.js';
import type { DgramSocket, PageDatagram, RemoteInfo } from '../socket/dgram.js';
import type { Page } from '../mem/page.js';
import type { Socket } from '../socket/socket.js';
import type { Server } from '../socket/server.js';
import { Iperf3Server, type Iperf3ServerStats } from '../apps/iperf3/server.js';

export type ServiceName = 'http' | 'echo' | 'discard' | 'chargen' | 'source' | 'iperf3' | 'udp-echo' | 'udp-discard';
/** The services on UDP: their ports are UDP's, apart from TCP's. */
const UDP_SERVICES: readonly ServiceName[] = ['udp-echo', 'udp-discard'];
export interface ServiceSpec {
  name: ServiceName;
  port: number;
}

export class ServiceSpecError extends Error {}

/** Parse `http:80,echo:7,discard:9,chargen:19,udp-echo:7`. */
export function parseServices(text: string): ServiceSpec[] {
  const out: ServiceSpec[] = [];
  for (const part of text.split(',')) {
    const m = /^(http|echo|discard|chargen|source|iperf3|udp-echo|udp-discard):(\d+)$/.exec(part.trim());
    if (!m) throw new ServiceSpecError(`bad service ${JSON.stringify(part)}: use NAME:PORT with NAME one of http, echo, discard, chargen, source, iperf3, udp-echo, udp-discard`);
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new ServiceSpecError(`port ${port} out of range 1..65535`);
    const udp = UDP_SERVICES.includes(m[1] as ServiceName);
    if (out.some((s) => s.port === port && UDP_SERVICES.includes(s.name) === udp)) throw new ServiceSpecError(`${udp ? 'UDP' : 'TCP'} port ${port} given twice`);
    out.push({ name: m[1] as ServiceName, port });
  }
  return out;
}

/** The pattern block: a whole number of 251-byte periods, so slices of it continue the pattern. */
const PATTERN_PERIOD = 251;
const PATTERN = (() => {
  const b = Buffer.allocUnsafe(PATTERN_PERIOD * 1024);
  for (let i = 0; i < b.length; i++) b[i] = i % PATTERN_PERIOD;
  return b;
})();

/** `n` bytes of the pattern, starting at stream offset `from` (for tests and clients). */
export function patternBytes(from: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (from + i) % PATTERN_PERIOD;
  return out;
}

/** Write `total` pattern bytes to a writable, honouring back-pressure; resolve when all are queued. */
export function writePattern(w: NodeJS.WritableStream, total: number, done: () => void): void {
  let sent = 0;
  const pump = () => {
    while (sent < total) {
      const off = sent % PATTERN_PERIOD;
      const n = Math.min(total - sent, PATTERN.length - off);
      sent += n;
      if (!w.write(PATTERN.subarray(off, off + n))) {
        w.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

const CHARGEN_LINE = 72;
const CHARGEN_CHARS = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');

function chargenBlock(): Buffer {
  // RFC 864: rotating 72-character lines of the 95 printable characters.
  const lines: string[] = [];
  for (let i = 0; i < 95; i++) lines.push((CHARGEN_CHARS + CHARGEN_CHARS).slice(i, i + CHARGEN_LINE) + '\r\n');
  return Buffer.from(lines.join(''), 'ascii');
}

export interface Counters {
  /** Connections accepted by each TCP service; datagrams received by each UDP one. */
  connections: Record<ServiceName, number>;
  httpRequests: number;
  /** The iperf3 server's tests (when it runs). */
  iperf3: Iperf3ServerStats | null;
}

/** Pages in flight (sent, not yet acknowledged) per echo/source connection before it waits. */
const MAX_PAGES_IN_FLIGHT = 2048;

/**
 * Call `fn` again in a millisecond, once (however often asked before then). For a page reader
 * that found the pool empty: no 'pages' event comes while its window is closed, and with no
 * send in flight no completion either, so it must look again by itself.
 */
function retrier(fn: () => void): () => void {
  let timer: NodeJS.Timeout | null = null;
  return () => {
    timer ??= setTimeout(() => {
      timer = null;
      fn();
    }, 1);
  };
}

/** A service's sockets' 'error' listener: the connection's end is all a service needs to know (one function for all). */
function ignoreError(): void {}

function pagedDiscard(stack: Stack, s: Socket): void {
  s.usePages();
  const drain = () => {
    while (s.pagesAvailable > 0 && !s.destroyed) {
      const got = s.readPages(stack.pages.alloc(s.pagesAvailable));
      if (got.length === 0) return (retry ??= retrier(drain))();
      stack.pages.free(got);
    }
    if (ended && !s.writableEnded) s.end();
  };
  // Made when first needed: most discard connections never find the pool empty.
  let retry: (() => void) | null = null;
  let ended = false;
  s.on('pages', drain);
  s.on('end', () => {
    ended = true;
    drain();
  });
}

function pagedEcho(stack: Stack, s: Socket): void {
  s.usePages();
  let inFlight = 0;
  let ended = false;
  const pump = () => {
    while (s.pagesAvailable > 0 && inFlight < MAX_PAGES_IN_FLIGHT && !s.destroyed) {
      const got = s.readPages(stack.pages.alloc(Math.min(s.pagesAvailable, MAX_PAGES_IN_FLIGHT - inFlight)));
      if (got.length === 0) {
        // The pool is empty: a completion will call again, or else the retry must.
        if (inFlight === 0) retry();
        break;
      }
      inFlight += got.length;
      s.writePages(got).then(
        (c) => {
          inFlight -= c.pages.length;
          stack.pages.free(c.pages.filter((p) => !p.detached && p.id >= 0));
          pump();
        },
        // Refused (the connection ended or went away): the pages were not taken; back to the pool.
        () => {
          inFlight -= got.length;
          stack.pages.free(got);
        },
      );
    }
    if (ended && s.pagesAvailable === 0 && !s.writableEnded) s.end();
  };
  const retry = retrier(pump);
  s.on('pages', pump);
  s.on('end', () => {
    ended = true;
    pump();
  });
}

function pagedSource(stack: Stack, s: Socket): void {
  let offset = 0;
  let inFlight = 0;
  let open = true;
  s.on('close', () => (open = false));
  s.on('data', () => {});
  const pump = () => {
    while (open && !s.destroyed && inFlight < MAX_PAGES_IN_FLIGHT) {
      const pages = stack.pages.alloc(64);
      if (pages.length === 0) break;
      for (const p of pages) {
        // One native copy of the precomputed pattern per page (a loop over every byte here
        // capped the service near 300 MB/s: it measured the loop, not the stack).
        const b = p.buffer;
        const at = offset % PATTERN_PERIOD;
        b.set(PATTERN.subarray(at, at + b.length));
        p.length = b.length;
        offset += b.length;
      }
      inFlight += pages.length;
      s.writePages(pages).then(
        (c) => {
          inFlight -= c.pages.length;
          stack.pages.free(c.pages.filter((p) => !p.detached && p.id >= 0));
          if (c.acked) pump();
        },
        // Refused (the connection ended or went away): the pages were not taken; back to the pool.
        () => {
          inFlight -= pages.length;
          stack.pages.free(pages);
        },
      );
    }
  };
  s.on('connect', pump);
  pump();
}

/**
 * The HTTP service's application: `/` (a short page) and `/bytes/N`. Exported so that a
 * benchmark can run the very same handler on kernel sockets.
 */
export function createHttpApp(onRequest: () => void = () => {}): http.Server {
  const app = http.createServer((req, res) => {
    onRequest();
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
    if (req.url === '/') {
      const body = 'tapstack: a userspace TCP/IP stack on a TAP device\n';
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    } else if (req.url === '/sha256' && (req.method === 'PUT' || req.method === 'POST')) {
      // An upload, answered with the SHA-256 of what arrived and its length (curl -T FILE).
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => {
        hash.update(d);
        n += d.length;
      });
      req.on('end', () => {
        const body = `${hash.digest('hex')} ${n}\n`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    } else if (m && Number(m[1]) <= 2 ** 40) {
      const n = Number(m[1]);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
      if (req.method === 'HEAD') res.end();
      else writePattern(res, n, () => res.end());
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  app.keepAliveTimeout = 5000;
  return app;
}

/**
 * Read datagrams with pages as they come, each to `each` (which owns its pages from then on);
 * when the pool is empty, try again shortly.
 */
function readDatagrams(stack: Stack, s: DgramSocket, each: (d: PageDatagram) => void): void {
  s.usePages();
  const drain = () => {
    while (s.datagramsAvailable > 0) {
      const got = s.readDatagrams(stack.pages.alloc(s.pagesAvailable));
      if (got.length === 0) return retry();
      for (const d of got) each(d);
    }
  };
  const retry = retrier(drain);
  s.on('pages', drain);
}

/**
 * UDP echo (RFC 862): each datagram back to its sender. With zero copy on, read with pages and
 * send the very pages back (by reference when the datagram fits a frame); else 'message' and
 * send.
 */
function udpEcho(stack: Stack, s: DgramSocket, count: () => void): void {
  if (!(stack.zeroCopy.receive && stack.zeroCopy.send)) {
    s.on('message', (msg: Buffer, r: RemoteInfo) => {
      count();
      // Source port 0: the sender wants no answer (RFC 768), and none can be addressed to it.
      if (r.port !== 0) s.send(msg, r.port, r.address);
    });
    return;
  }
  readDatagrams(stack, s, (d) => {
    count();
    if (d.rinfo.port === 0) return stack.pages.free(d.pages);
    s.sendPages(d.pages, d.rinfo.port, d.rinfo.address).then(
      (c) => stack.pages.free(c.pages),
      (e: { pages?: Page[] }) => stack.pages.free(e.pages ?? []),
    );
  });
}

/** UDP discard (RFC 863): read with pages and give them straight back, or ignore each message. */
function udpDiscard(stack: Stack, s: DgramSocket, count: () => void): void {
  if (!stack.zeroCopy.receive) {
    s.on('message', count);
    return;
  }
  readDatagrams(stack, s, (d) => {
    count();
    stack.pages.free(d.pages);
  });
}

/**
 * The stream API services (echo and discard with zero-copy off, chargen, http) move bulk: a
 * larger stream buffer than Node's 16 KiB default means fewer drain and read turns per byte.
 */
const STREAM_SERVICE_HIGH_WATER_MARK = 64 * 1024;

/**
 * A UDP service's receive buffer: a burst of a whole receive batch (256 frames of a page each)
 * must fit, where the default (212992 bytes, Linux's rmem_default) would drop much of it.
 */
const UDP_SERVICE_RCVBUF = 4 << 20;

export function startServices(stack: Stack, specs: ServiceSpec[], counters: Counters): EventEmitter[] {
  const servers: EventEmitter[] = [];
  for (const spec of specs) {
    if (spec.name === 'udp-echo' || spec.name === 'udp-discard') {
      const name = spec.name;
      const s = stack.createSocket({ type: 'udp4', recvBufferSize: UDP_SERVICE_RCVBUF });
      const count = () => counters.connections[name]++;
      if (name === 'udp-echo') udpEcho(stack, s, count);
      else udpDiscard(stack, s, count);
      s.bind(spec.port);
      servers.push(s);
      continue;
    }
    let server: Server;
    const onError = (s: Socket) => s.on('error', ignoreError);
    switch (spec.name) {
      case 'echo':
        server = stack.createServer({ allowHalfOpen: true, highWaterMark: STREAM_SERVICE_HIGH_WATER_MARK }, (s) => {
          counters.connections.echo++;
          onError(s);
          // The switch decides at accept time which API the service uses; the stack still
          // counts every byte either way.
          if (stack.zeroCopy.receive && stack.zeroCopy.send) pagedEcho(stack, s);
          else s.pipe(s);
        });
        break;
      case 'discard':
        server = stack.createServer({ allowHalfOpen: true, highWaterMark: STREAM_SERVICE_HIGH_WATER_MARK }, (s) => {
          counters.connections.discard++;
          onError(s);
          if (stack.zeroCopy.receive) pagedDiscard(stack, s);
          else {
            s.on('data', () => {});
            s.on('end', () => s.end());
          }
        });
        break;
      case 'source':
        server = stack.createServer((s) => {
          counters.connections.source++;
          onError(s);
          pagedSource(stack, s);
        });
        break;
      case 'iperf3': {
        // It prints a line when a test starts and its report when it ends.
        const ip = new Iperf3Server(stack, { port: spec.port, log: (line) => process.stdout.write(line + '\n') });
        counters.iperf3 = ip.stats;
        server = ip.server;
        server.on('connection', () => counters.connections.iperf3++);
        break;
      }
      case 'chargen': {
        const block = chargenBlock();
        server = stack.createServer({ highWaterMark: STREAM_SERVICE_HIGH_WATER_MARK }, (s) => {
          counters.connections.chargen++;
          onError(s);
          let open = true;
          s.on('close', () => (open = false));
          s.on('data', () => {});
          const pump = () => {
            while (open && s.write(block));
            if (open) s.once('drain', pump);
          };
          pump();
        });
        break;
      }
      case 'http': {
        const app = createHttpApp(() => counters.httpRequests++);
        server = stack.createServer({ highWaterMark: STREAM_SERVICE_HIGH_WATER_MARK }, (s) => {
          counters.connections.http++;
          onError(s);
          app.emit('connection', s);
        });
        break;
      }
    }
    server.listen(spec.port);
    servers.push(server);
  }
  return servers;
}
