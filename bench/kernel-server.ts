/**
 * The kernel's side of the HTTP and idle-connection cases: the very HTTP application of
 * `tapstack up --serve http:PORT` (src/cli/services.ts), on kernel sockets, and a discard port
 * that holds idle connections.
 *
 *   node dist/bench/kernel-server.js HTTP_PORT DISCARD_PORT
 *
 * Prints `listening` once both ports are open; runs until killed.
 */
import net from 'node:net';
import { createHttpApp } from '../src/cli/services.js';

const [httpPort, discardPort] = process.argv.slice(2).map(Number);
if (!httpPort || !discardPort) {
  process.stderr.write('usage: kernel-server.js HTTP_PORT DISCARD_PORT\n');
  process.exit(2);
}

const app = createHttpApp();
// As many pending connections as wrk and the idle client open at once (the default is 511).
app.listen({ port: httpPort, backlog: 4096 }, () => {
  const discard = net.createServer((s) => {
    s.on('error', () => {});
    s.resume();
  });
  discard.listen({ port: discardPort, backlog: 4096 }, () => process.stdout.write('listening\n'));
});
