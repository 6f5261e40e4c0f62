/**
 * The receive memory a transport may fill, as the host accounts it: received data lies in pool
 * pages until it is read, and some free pages must stay free (docs/ARCHITECTURE.md section 3).
 */
import type { PagePool } from './page-pool.js';

export interface RxMemory {
  /** The pool received pages come from and go back to. */
  readonly pool: PagePool;
  /**
   * Free pool pages beyond the reserve: pages kept for the receive ring's refills and for the
   * empty pages applications trade for filled ones (the page API reads only by trading).
   */
  freePages(): number;
  /**
   * Pages the receive ring is owed: pages taken out of it and not yet refilled from the free
   * list. Until the refill, {@link freePages} overstates what received data may take.
   */
  pagesOwed(): number;
}
