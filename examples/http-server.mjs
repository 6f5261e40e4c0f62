// Node's own http module serving over tapstack sockets.
// Run inside a network namespace as root:  node examples/http-server.mjs tap0 198.18.0.2/24 198.18.0.1/24 8080
import http from 'node:http';
import { Stack } from 'tapstack';

const [ifname = 'tap0', address = '198.18.0.2/24', hostAddress = '198.18.0.1/24', port = '8080'] = process.argv.slice(2);
const stack = Stack.open({ ifname, address, hostAddress, offload: true });

const app = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from tapstack, you asked for ${req.url}\n`);
});
// Every TCP connection tapstack accepts is handed to the http server as a connection.
const server = stack.createServer((socket) => app.emit('connection', socket));
server.listen(Number(port), () => console.log(`listening on ${address.split('/')[0]}:${port}`));

process.on('SIGINT', () => {
  stack.close();
  process.exit(0);
});
