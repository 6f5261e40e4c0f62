/**
 * A small line-based key-value protocol over TCP, served on tapstack's API: the kind of user
 * protocol tapstack/testing is for (see kv-server.test.ts).
 *
 *   SET <key> <value>\n  ->  OK\n
 *   GET <key>\n          ->  VALUE <value>\n  |  NOT_FOUND\n
 *   DEL <key>\n          ->  DELETED\n        |  NOT_FOUND\n
 *   anything else        ->  ERROR <why>\n
 *
 * Keys are one word; a value is the rest of the line (it may hold spaces). Commands may arrive
 * split across segments or several in one: the server cuts the stream at newlines itself.
 */
import type { Server, Socket, Stack } from 'tapstack';

/** Longest line accepted; a client sending more without a newline is cut off. */
export const MAX_LINE = 1 << 20;

export function answer(store: Map<string, string>, line: string): string {
  const m = /^(SET|GET|DEL) (\S+)(?: (.*))?$/.exec(line);
  if (!m) return 'ERROR unknown command\n';
  const [, cmd, key, value] = m as unknown as [string, 'SET' | 'GET' | 'DEL', string, string | undefined];
  switch (cmd) {
    case 'SET':
      if (value === undefined) return 'ERROR SET needs a value\n';
      store.set(key, value);
      return 'OK\n';
    case 'GET': {
      const v = store.get(key);
      return v === undefined ? 'NOT_FOUND\n' : `VALUE ${v}\n`;
    }
    case 'DEL':
      return store.delete(key) ? 'DELETED\n' : 'NOT_FOUND\n';
  }
}

/** Serve the protocol on `stack` at `port`; one store shared by every connection. */
export function serveKv(stack: Stack, port: number, store = new Map<string, string>()): Server {
  const server = stack.createServer((socket: Socket) => {
    let pending = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        socket.write(answer(store, pending.slice(0, nl)));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE) socket.end('ERROR line too long\n');
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  server.listen(port);
  return server;
}
