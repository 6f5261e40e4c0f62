// The scenarios of net-semantics.test.ts, run inside a namespace (as root) twice: with node:net
// on the kernel's sockets, and with tapstack's on a TAP whose kernel side is the peer. Each
// scenario records events, their order, error fields and the socket's state at each step, in a
// form that leaves out what must differ (addresses, ports). Prints `RESULT <json>` for each
// implementation, then lets go of everything with unref() and must exit by itself.
//   node net-semantics-peer.mjs tap0 198.18.44.2/24 198.18.44.1/24
import net from 'node:net';
import { Stack } from 'tapstack';

const [ifname, tapCidr, hostCidr] = process.argv.slice(2);
const TAP = tapCidr.split('/')[0];
const HOST = hostCidr.split('/')[0];
const prefix = HOST.split('.').slice(0, 3).join('.');
/** On the link, but nobody answers ARP for it. */
const SILENT = `${prefix}.77`;
/** Off the link, and neither side has a router: no route. */
const NOWHERE = `198.18.${Number(HOST.split('.')[2]) + 1}.9`;

const stack = Stack.open({ ifname, address: tapCidr, hostAddress: hostCidr });

/** The two subjects: how each makes a client and a server, and the address its servers have. */
const impls = {
  kernel: { connect: (...a) => net.connect(...a), createServer: (...a) => net.createServer(...a), self: HOST },
  tapstack: { connect: (...a) => stack.connect(...a), createServer: (...a) => stack.createServer(...a), self: TAP },
};

const delay = (ms) => new Promise((r) => setTimeout(r, ms));
const once = (em, ev) => new Promise((r) => em.once(ev, (...a) => r(a)));

/** What may be compared of a socket's state. */
function snap(s) {
  return {
    readyState: s.readyState,
    pending: s.pending,
    connecting: s.connecting,
    destroyed: s.destroyed,
    localAddress: s.localAddress === undefined ? 'undefined' : 'set',
    localPort: s.localPort === undefined ? 'undefined' : 'set',
    remoteAddress: s.remoteAddress === undefined ? 'undefined' : 'set',
    address: Object.keys(s.address()).join(','),
  };
}

/** What may be compared of an error. */
function errInfo(e, where) {
  const o = { code: e.code, syscall: e.syscall, errno: e.errno };
  if (e.address !== undefined) o.address = e.address === where.address ? 'peer' : e.address;
  if (e.port !== undefined) o.port = e.port === where.port ? 'peer' : e.port;
  return o;
}

/** Record a socket's events into `log` with a tag; snapshots at connect and close. */
function record(s, log, tag, where = {}) {
  for (const ev of ['connect', 'ready', 'end', 'finish', 'timeout']) s.on(ev, () => log.push([tag, ev, ...(ev === 'connect' ? [snap(s)] : [])]));
  s.on('error', (e) => log.push([tag, 'error', errInfo(e, where)]));
  s.on('close', (hadError) => log.push([tag, 'close', hadError, snap(s)]));
}

/** A kernel server at HOST for a subject client to dial: `onConn` gets each accepted socket. */
async function kernelServer(onConn) {
  const srv = net.createServer(onConn);
  srv.listen(0, HOST);
  await once(srv, 'listening');
  return srv;
}

/** Connect to a kernel peer, close with `how` once connected, and record both sides to their close. */
async function closeConnected(impl, how) {
  const log = [];
  let peerDone;
  const peerClosed = new Promise((r) => (peerDone = r));
  const srv = await kernelServer((p) => {
    record(p, log, 'peer');
    p.on('close', peerDone);
  });
  const s = impl.connect(srv.address().port, HOST);
  record(s, log, 'subject');
  await once(s, 'connect');
  await delay(100);
  how(s);
  await Promise.all([once(s, 'close'), peerClosed]);
  srv.close();
  return log;
}

const scenarios = {
  /** Connect, the peer ends at once: connect, ready, end, finish, close(false). */
  async connect(impl) {
    const log = [];
    const srv = await kernelServer((p) => p.end());
    const port = srv.address().port;
    const s = impl.connect(port, HOST);
    log.push(['subject', 'sync', snap(s)]);
    record(s, log, 'subject');
    await once(s, 'close');
    srv.close();
    return log;
  },

  /** Half-close: write and end(), the peer echoes and ends; states after end() and bytes at close. */
  async halfClose(impl) {
    const log = [];
    const srv = await kernelServer((p) => {
      p.on('data', (d) => p.write(d));
      p.on('end', () => p.end());
    });
    const s = impl.connect({ port: srv.address().port, host: HOST });
    record(s, log, 'subject');
    // The data as one string at the end: how it is cut into reads is timing, not semantics.
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => log.push(['subject', 'data', got]));
    await once(s, 'connect');
    s.write('abc');
    s.end('def');
    log.push(['subject', 'after end()', snap(s)]);
    await once(s, 'close');
    log.push(['subject', 'bytes', s.bytesRead, s.bytesWritten]);
    srv.close();
    return log;
  },

  /** A closed port: ECONNREFUSED with the peer's address and port; closed, not connecting. */
  async refused(impl) {
    const log = [];
    const srv = await kernelServer(() => {});
    const port = srv.address().port;
    await new Promise((r) => srv.close(r));
    const s = impl.connect({ port, host: HOST });
    record(s, log, 'subject', { address: HOST, port });
    await once(s, 'close');
    return log;
  },

  /** No route: ENETUNREACH at once. */
  async enetunreach(impl) {
    const log = [];
    const t0 = performance.now();
    const s = impl.connect(80, NOWHERE);
    record(s, log, 'subject', { address: NOWHERE, port: 80 });
    await once(s, 'close');
    log.push(['subject', 'fast', performance.now() - t0 < 1000]);
    return log;
  },

  /** An on-link host that never answers ARP: EHOSTUNREACH after about 3 s. */
  async ehostunreach(impl) {
    const log = [];
    const t0 = performance.now();
    const s = impl.connect(80, SILENT);
    record(s, log, 'subject', { address: SILENT, port: 80 });
    await once(s, 'close');
    const took = performance.now() - t0;
    log.push(['subject', 'after ARP gave up', took > 2000 && took < 8000]);
    return log;
  },

  /** destroy(err): error, close(true); the peer sees a FIN (end), not a reset. */
  destroyWithError: (impl) => closeConnected(impl, (s) => s.destroy(new Error('boom'))),

  /** resetAndDestroy(): close(false) here, ECONNRESET at the peer. */
  resetAndDestroy: (impl) => closeConnected(impl, (s) => s.resetAndDestroy()),

  /** write() after end(): ERR_STREAM_WRITE_AFTER_END, close(true), no finish. */
  async writeAfterEnd(impl) {
    const log = [];
    const srv = await kernelServer((p) => p.on('error', () => {}));
    const s = impl.connect(srv.address().port, HOST);
    record(s, log, 'subject');
    await once(s, 'connect');
    s.end();
    s.write('late');
    await once(s, 'close');
    srv.close();
    return log;
  },

  /** listen(0): a port address() reports; server.close(cb) waits for an idle accepted socket until the peer's FIN. */
  async serverCloseIdle(impl) {
    const log = [];
    const srv = impl.createServer((s) => {
      log.push(['server', 'connection']);
      record(s, log, 'accepted');
    });
    srv.listen(0);
    await once(srv, 'listening');
    const port = srv.address().port;
    log.push(['server', 'port', Number.isInteger(port) && port > 0]);
    const c = net.connect(port, impl.self);
    record(c, log, 'peer');
    await once(srv, 'connection');
    await delay(100);
    const closed = new Promise((r) => srv.close((e) => r(e)));
    log.push(['server', 'close called']);
    await delay(200);
    log.push(['server', 'peer ends']);
    c.end();
    const e = await closed;
    log.push(['server', 'close cb', e === undefined ? 'no error' : e.code]);
    return log;
  },

  /** Beyond maxConnections: the next dialer is connected, then gets a FIN; 'drop' says who. */
  async maxConnections(impl) {
    const log = [];
    const kept = [];
    const srv = impl.createServer((s) => {
      log.push(['server', 'connection']);
      kept.push(s);
      s.on('error', () => {});
    });
    srv.maxConnections = 1;
    srv.on('drop', (d) => log.push(['server', 'drop', Object.keys(d).sort().join(','), d.remoteFamily, d.localFamily]));
    // On the IPv4 address: the kernel's default ('::') would report IPv6 families.
    srv.listen(0, impl.self);
    await once(srv, 'listening');
    const port = srv.address().port;
    const c1 = net.connect(port, impl.self);
    await once(c1, 'connect');
    await delay(100);
    const c2 = net.connect(port, impl.self);
    record(c2, log, 'second');
    await once(c2, 'close');
    c1.destroy();
    for (const s of kept) s.destroy();
    await new Promise((r) => srv.close(r));
    return log;
  },
};

const results = {};
for (const [name, impl] of Object.entries(impls)) {
  results[name] = {};
  for (const [scenario, run] of Object.entries(scenarios)) {
    let timer;
    const timedOut = new Promise((r) => (timer = setTimeout(() => r([['timeout']]), 20_000)));
    results[name][scenario] = await Promise.race([run(impl), timedOut]);
    clearTimeout(timer);
  }
  console.log(`RESULT ${name} ${JSON.stringify(results[name])}`);
}

// Refs: a tapstack server listening and a tapstack connection open, both unref'd (and the
// kernel's side of it unref'd too): nothing holds the loop, so the process exits by itself.
const peer = net.createServer((p) => p.unref());
peer.listen(0, HOST);
await once(peer, 'listening');
peer.unref();
const idleServer = stack.createServer(() => {});
idleServer.listen(0);
await once(idleServer, 'listening');
idleServer.unref();
const idle = stack.connect(peer.address().port, HOST);
await once(idle, 'connect');
idle.unref();
console.log(`UNREF ${stack.hasRef ? 'held' : 'free'}`);
