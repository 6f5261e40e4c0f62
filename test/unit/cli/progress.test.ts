/**
 * The progress line of `tapstack connect` on a terminal: totals and rates, and silence when
 * stderr is not a terminal.
 */
import { describe, expect, it } from 'vitest';
import { formatBitRate, formatBytes, progressLine, showProgress } from '../../../src/cli/progress.js';

describe('progress of a transfer', () => {
  it('prints totals in binary units and rates in bits per second since the last reading', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300 MiB');
    expect(formatBitRate(2.5e9)).toBe('2.50 Gbit/s');
    expect(formatBitRate(999)).toBe('999 bit/s');
    const line = progressLine(3 * 2 ** 30, 1000, { sent: 2 * 2 ** 30, received: 0, atMs: 0 }, 2000);
    expect(line).toBe('sent 3.00 GiB (4.29 Gbit/s), received 1000 B (4.00 kbit/s)');
  });

  it('writes nothing when the stream is not a terminal', () => {
    const written: string[] = [];
    const out = { isTTY: false, write: (s: string) => void written.push(s) } as unknown as NodeJS.WriteStream;
    const stop = showProgress(out, () => ({ sent: 1, received: 2 }));
    stop();
    expect(written).toEqual([]);
  });
});
