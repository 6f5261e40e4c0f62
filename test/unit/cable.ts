/** Two in-memory devices joined as by a cable, for tests that run two whole stacks. */
import { MemoryDevice } from '../../src/tap/memory-device.js';

/** A device whose frames arrive at its peer's receive queue on the next turn, as over a cable. */
export class Cable extends MemoryDevice {
  peer: Cable | null = null;
  override writev(iov: bigint, iovcnt: number): number {
    const n = super.writev(iov, iovcnt);
    const frame = this.written.shift()!;
    const peer = this.peer;
    setImmediate(() => peer && !peer.closed && peer.deliver(frame));
    return n;
  }
}

/** Two devices, each the other's peer. */
export function cable(a: string, b: string): [Cable, Cable] {
  const da = new Cable(a);
  const db = new Cable(b);
  da.peer = db;
  db.peer = da;
  return [da, db];
}
