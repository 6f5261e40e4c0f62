// Node's http.request reaching a kernel server through a tapstack connection.
// Run inside a network namespace as root:  node examples/http-client.mjs tap0 198.18.0.2/24 198.18.0.1/24 http://198.18.0.1:8000/
import http from 'node:http';
import { createHash } from 'node:crypto';
import { Stack } from 'tapstack';

const [ifname = 'tap0', address = '198.18.0.2/24', hostAddress = '198.18.0.1/24', url = 'http://198.18.0.1:8000/'] = process.argv.slice(2);
const stack = Stack.open({ ifname, address, hostAddress, offload: true });
const u = new URL(url);

const req = http.request(
  {
    host: u.hostname,
    port: Number(u.port || 80),
    path: u.pathname + u.search,
    // The request's connection is a tapstack socket instead of a kernel one.
    createConnection: () => stack.createConnection({ host: u.hostname, port: Number(u.port || 80) }),
  },
  (res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    res.on('data', (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    res.on('end', () => {
      console.log(`status ${res.statusCode} bytes ${bytes} sha256 ${hash.digest('hex')}`);
      stack.close();
      process.exit(0);
    });
  },
);
req.on('error', (e) => {
  console.error(`request failed: ${e.message}`);
  stack.close();
  process.exit(1);
});
req.end();
