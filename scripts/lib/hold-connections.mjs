// Holds idle TCP connections from the kernel to one address and port, for scripts/bench-idle.
//
//   node scripts/lib/hold-connections.mjs HOST PORT
//
// Each line read on stdin is a count: connections are opened (at most CONCURRENCY handshakes at
// a time) until that many are established, then one line `held N lost L` is printed; a count
// below what is held closes nothing. The connections
// send nothing and stay open until stdin ends, when every socket is destroyed and the process
// exits. A connection that fails or ends before it is counted is opened again; one that ends
// later is counted out (`lost` on the line). Plain JavaScript: it runs without a build.
import net from 'node:net';
import readline from 'node:readline';

const [host, portText] = process.argv.slice(2);
const port = Number(portText);
if (!host || !Number.isInteger(port)) {
  process.stderr.write('usage: hold-connections.mjs HOST PORT\n');
  process.exit(2);
}

/** Handshakes in flight at most: well under a listener's backlog of 511 SYNs. */
const CONCURRENCY = 128;

const sockets = new Set();
let established = 0;
let pending = 0;
let lost = 0;
let target = 0;
let waiter = null;

function openOne() {
  pending++;
  let counted = false;
  const s = net.connect({ host, port });
  s.setNoDelay(true);
  s.on('connect', () => {
    pending--;
    counted = true;
    established++;
    sockets.add(s);
    pump();
  });
  s.on('error', () => {});
  s.on('close', () => {
    sockets.delete(s);
    if (counted) {
      established--;
      lost++;
    } else {
      pending--;
    }
    pump();
  });
}

function pump() {
  while (established + pending < target && pending < CONCURRENCY) openOne();
  if (waiter && established >= target) {
    const w = waiter;
    waiter = null;
    w();
  }
}

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  const n = Number(line.trim());
  if (!Number.isInteger(n) || n < 0) continue;
  target = n;
  await new Promise((resolve) => {
    waiter = resolve;
    pump();
  });
  process.stdout.write(`held ${established} lost ${lost}\n`);
}
for (const s of sockets) s.destroy();
process.exit(0);
