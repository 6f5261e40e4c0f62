/**
 * Opens N kernel TCP connections to HOST:PORT and holds them, idle, until its standard input
 * ends or it gets SIGTERM; then closes them and exits.
 *
 *   node dist/bench/idle-client.js HOST PORT N
 *
 * Prints `open K failed F` once every attempt has ended. Needs a file limit above N (run it
 * under prlimit).
 */
import net from 'node:net';

const [host, portText, countText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
if (!host || !port || !Number.isInteger(count) || count < 0) {
  process.stderr.write('usage: idle-client.js HOST PORT N\n');
  process.exit(2);
}

// Attempts in flight at once: enough to open 10,000 in seconds, few enough not to overflow a
// listener's SYN queue.
const CONCURRENCY = 128;
const sockets: net.Socket[] = [];
let started = 0;
let open = 0;
let failed = 0;
let firstError = '';

function next(): void {
  if (started >= count) {
    if (open + failed === count) process.stdout.write(`open ${open} failed ${failed}${firstError ? ` (${firstError})` : ''}\n`);
    return;
  }
  started++;
  const s = net.connect({ host, port });
  let settled = false;
  s.on('connect', () => {
    settled = true;
    open++;
    sockets.push(s);
    next();
  });
  s.on('error', (e: Error & { code?: string }) => {
    if (settled) return;
    settled = true;
    failed++;
    firstError ||= e.code ?? e.message;
    next();
  });
}

for (let i = 0; i < Math.min(CONCURRENCY, count); i++) next();
if (count === 0) process.stdout.write('open 0 failed 0\n');

const stop = () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
};
process.stdin.on('end', stop).resume();
process.on('SIGTERM', stop);
