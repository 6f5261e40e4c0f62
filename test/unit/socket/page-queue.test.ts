/**
 * A socket's queue of received pages (first in, first out, over a head index), and the
 * lender telling a borrower once per run of returned pages.
 */
import { describe, expect, it } from 'vitest';
import { Arena, PAGE_SIZE } from '../../../src/mem/arena.js';
import { PageOwner, PagePool } from '../../../src/mem/page-pool.js';
import { RxPageQueue } from '../../../src/socket/page-queue.js';
import { PageLender, type PageBorrower } from '../../../src/socket/pages.js';

describe('RxPageQueue', () => {
  it('gives pages back in the order queued, with their lengths and copies, and counts bytes', () => {
    const q = new RxPageQueue();
    const copy = new Uint8Array([1, 2, 3]);
    q.push(7, 4096, null);
    q.push(-2, 3, copy);
    q.push(9, 100, null);
    expect(q.length).toBe(3);
    expect(q.bytes).toBe(4199);
    const seen: [number, number, Uint8Array | null][] = [];
    while (q.length > 0) {
      seen.push([q.firstId, q.firstLen, q.firstHeap]);
      q.shift();
    }
    expect(seen).toEqual([
      [7, 4096, null],
      [-2, 3, copy],
      [9, 100, null],
    ]);
    expect(q.bytes).toBe(0);
  });

  it('keeps its order across interleaved pushes and takes, past the point where it compacts', () => {
    const q = new RxPageQueue();
    let next = 0;
    let expected = 0;
    // Three in, two out: the queue never empties, so the head runs far and must compact.
    for (let round = 0; round < 500; round++) {
      for (let k = 0; k < 3; k++, next++) q.push(next, next % 4096, null);
      for (let k = 0; k < 2; k++, expected++) {
        expect(q.firstId).toBe(expected);
        expect(q.firstLen).toBe(expected % 4096);
        q.shift();
      }
    }
    expect(q.length).toBe(500);
    expect([...q.poolIds()]).toEqual(Array.from({ length: 500 }, (_, i) => 1000 + i));
  });

  it('lists only pool pages for release', () => {
    const q = new RxPageQueue();
    q.push(4, 10, null);
    q.push(-2, 5, new Uint8Array(5));
    q.push(6, 10, null);
    q.shift();
    expect([...q.poolIds()]).toEqual([6]);
    q.clear();
    expect(q.length).toBe(0);
    expect(q.bytes).toBe(0);
  });
});

describe('PageLender.free', () => {
  const setup = () => {
    const pool = new PagePool(new Arena(16 * PAGE_SIZE), 16);
    const lender = new PageLender(pool);
    const calls: [string, number][] = [];
    const borrower = (name: string): PageBorrower => ({ pageReturned: (n) => calls.push([name, n]) });
    const lendTo = (b: PageBorrower | null) => {
      const id = pool.alloc(PageOwner.Stack);
      return lender.lend(id, 100, b);
    };
    return { pool, lender, calls, borrower, lendTo };
  };

  it('tells each borrower once per run of its pages, with how many came back', () => {
    const { pool, lender, calls, borrower, lendTo } = setup();
    const a = borrower('a');
    const b = borrower('b');
    const pages = [lendTo(a), lendTo(a), lendTo(a), lendTo(b), lendTo(null), lendTo(a)];
    const ids = pages.map((p) => p.id);
    lender.free(pages);
    expect(calls).toEqual([
      ['a', 3],
      ['b', 1],
      ['a', 1],
    ]);
    for (const id of ids) expect(pool.ownerOf(id)).toBe(PageOwner.Free);
    expect(pages.every((p) => p.detached)).toBe(true);
  });

  it('still tells the borrower of the pages freed before a handle it refuses', () => {
    const { lender, calls, borrower, lendTo } = setup();
    const a = borrower('a');
    const first = [lendTo(a), lendTo(a)];
    const gone = lendTo(a);
    lender.free([gone]);
    calls.length = 0;
    expect(() => lender.free([...first, gone])).toThrow(TypeError);
    expect(calls).toEqual([['a', 2]]);
  });
});
