/** A tapstack socket on the scripted peer with the page API, and page-ownership probes. */
import type { Page } from '../../../src/mem/page.js';
import { PageLender } from '../../../src/socket/pages.js';
import { Socket } from '../../../src/socket/socket.js';
import { passive, setup } from '../tcp/helpers.js';
import { OUR_IP } from '../tcp/peer.js';

/** A passive connection with a Socket over it (`pages`: the page reader, default on; `ts`: peer timestamps, default on). */
export function openSocket(o: { ts?: boolean; pages?: boolean } = {}) {
  const h = setup();
  const lender = new PageLender(h.nic.pool);
  const synOpts = o.ts === false ? () => ({ mss: 1460, sackPermitted: true, windowScale: 7 }) : undefined;
  const { peer, conn } = passive(h, synOpts ? { synOpts } : {});
  const sock = new Socket(conn, OUR_IP, lender, { pages: o.pages ?? true });
  sock.on('error', () => {});
  return { h, lender, peer, conn, sock };
}

/** Page ids posted in the NIC's receive ring right now. */
export function nicPages(h: ReturnType<typeof setup>): Set<number> {
  const s = new Set<number>();
  for (const id of h.nic.rx.pages) if (id >= 0) s.add(id);
  return s;
}

/** Trade fresh pages for everything the socket has ready. */
export function readAll(sock: Socket, lender: PageLender): Page[] {
  return sock.readPages(lender.alloc(sock.pagesAvailable));
}
