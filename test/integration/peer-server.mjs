// A tapstack Stack with one service on it, for the scripted peers of peer-nagle.test.ts:
//   node peer-server.mjs echo-nodelay|http IFNAME ADDRESS/P HOST-ADDRESS/P PORT on|off
// echo-nodelay: an echo whose sockets have Nagle disabled (socket.setNoDelay(true), as net.Socket).
// http: Node's own http server answering every request with a body of 2000 bytes (i mod 251),
//       written with its headers in one res.end().
// The last argument is the virtio-net offload switch. Prints "listening ... mac MAC" when up; on SIGINT
// prints the TCP counters as one JSON line and exits.
import http from 'node:http';
import { Stack } from '../../dist/src/index.js';

const [mode, ifname, address, hostAddress, port, offload] = process.argv.slice(2);
if (!['echo-nodelay', 'http'].includes(mode) || !ifname || !address || !hostAddress || !port || !['on', 'off'].includes(offload)) {
  console.error('usage: node peer-server.mjs echo-nodelay|http IFNAME ADDRESS/P HOST-ADDRESS/P PORT on|off');
  process.exit(2);
}

const stack = Stack.open({ ifname, address, hostAddress, offload: offload === 'on' });

let server;
if (mode === 'echo-nodelay') {
  server = stack.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('data', (d) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
} else {
  const body = Buffer.alloc(2000);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  const app = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/octet-stream');
    res.end(body);
  });
  server = stack.createServer((socket) => {
    socket.on('error', () => {});
    app.emit('connection', socket);
  });
}
const mac = [...stack.iface.mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
server.listen(Number(port), () => console.log(`listening ${mode} on ${address.split('/')[0]}:${port} mac ${mac}`));

process.on('SIGINT', () => {
  const { drops, ...tcp } = stack.stats().tcp;
  console.log(JSON.stringify({ tcp, drops }));
  stack.close();
  process.exit(0);
});
