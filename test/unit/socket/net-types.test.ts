/**
 * Type-level: code typed for node:net takes tapstack's Socket and Server. Checked by the
 * typecheck (tsconfig covers test/); the one runtime test keeps vitest from reporting no test.
 */
import type * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Socket } from '../../../src/socket/socket.js';
import type { Server } from '../../../src/socket/server.js';
import type { Stack } from '../../../src/stack.js';

function useSocket(s: net.Socket): net.Socket {
  return s;
}
function useServer(s: net.Server): net.Server {
  return s;
}

/** Assignments the compiler checks; never called. */
export function assignable(stack: Stack, sock: Socket, srv: Server): void {
  useSocket(sock);
  useServer(srv);
  const viaConnect: net.Socket = stack.connect(80, '198.18.0.1');
  const viaServer: net.Server = stack.createServer((s: net.Socket) => s.end());
  const asFactory: (opts: net.NetConnectOpts) => net.Socket = (o) => stack.createConnection(o as { port: number; host?: string });
  void [viaConnect, viaServer, asFactory];
}

describe('types', () => {
  it('compiles (see the typecheck)', () => {
    expect(typeof assignable).toBe('function');
  });
});
