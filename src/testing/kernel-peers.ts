/**
 * Ready-made TCP peers on the kernel's side of a test network: small Node programs run in the
 * namespace (the test's own `node`, so nothing else needs installing), talking through kernel
 * sockets. They report in JSON lines on stdout, so a test reads what the kernel saw instead of
 * guessing from timings.
 */

/** What a kernel server does with each connection. */
export type KernelServerMode =
  /** Write back everything it reads; end when the peer ends. */
  | 'echo'
  /** Read until the peer ends, then end; report the bytes and their sha256. */
  | 'sink'
  /** Send `bytes` bytes of the pattern byte i = i mod 251 (tapstack's /bytes/N), then end. */
  | 'source';

/** One connection a kernel server handled, as it reports it when the connection closed. */
export interface KernelConnectionReport {
  /** tapstack's address and port, `198.19.7.2:49152`. */
  remote: string;
  bytesIn: number;
  /** sha256 (hex) of what it read. */
  sha256In: string;
  bytesOut: number;
  /** The socket's error code, if it ended with one (ECONNRESET, ...). */
  error?: string;
}

/**
 * argv: mode port host bytes. Prints {"listening":port} once listening, then one
 * {"connection":{...}} per closed connection.
 */
export const KERNEL_SERVER_JS = `
const net = require('node:net');
const crypto = require('node:crypto');
const [mode, port, host, bytes] = process.argv.slice(1);
const PERIOD = 251;
const block = Buffer.alloc(PERIOD * 256);
for (let i = 0; i < block.length; i++) block[i] = i % PERIOD;
const server = net.createServer((s) => {
  const r = { remote: s.remoteAddress + ':' + s.remotePort, bytesIn: 0, sha256In: '', bytesOut: 0 };
  const h = crypto.createHash('sha256');
  s.on('data', (d) => { r.bytesIn += d.length; h.update(d); if (mode === 'echo') { r.bytesOut += d.length; if (!s.write(d)) { s.pause(); s.once('drain', () => s.resume()); } } });
  s.on('end', () => { if (mode !== 'source') s.end(); });
  s.on('error', (e) => { r.error = e.code || String(e); });
  s.on('close', () => { r.sha256In = h.digest('hex'); process.stdout.write(JSON.stringify({ connection: r }) + '\\n'); });
  if (mode === 'source') {
    let left = Number(bytes);
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n; r.bytesOut += n;
        if (!s.write(block.subarray(0, n))) return void s.once('drain', more);
      }
      s.end();
    };
    more();
  }
});
server.on('error', (e) => { process.stderr.write('kernel server: ' + e.message + '\\n'); process.exit(1); });
server.listen({ port: Number(port), host: host || undefined }, () => process.stdout.write(JSON.stringify({ listening: server.address().port }) + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * argv: host port. Connects through the kernel, copies stdin to the connection (then ends its
 * side) and the connection to stdout; exits 0 when the peer closed, 1 on an error.
 */
export const KERNEL_CLIENT_JS = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
s.on('connect', () => process.stdin.pipe(s));
s.pipe(process.stdout);
s.on('error', (e) => { process.stderr.write('kernel client: ' + (e.code || e.message) + '\\n'); process.exitCode = 1; });
s.on('close', () => process.stdout.write('', () => process.exit(process.exitCode || 0)));
`;
