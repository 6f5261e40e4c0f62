/**
 * Progress of a long transfer on a terminal (`tapstack connect`): bytes each way and their rate
 * over the last second, rewritten in place on stderr once a second; nothing when stderr is not
 * a terminal, so scripts and pipes see only the data.
 */

/** Bytes in binary units, as curl and pv print them. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** Bits per second in decimal units, as iperf3 prints them. */
export function formatBitRate(bitsPerSecond: number): string {
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
  let u = 0;
  let v = bitsPerSecond;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 2)} ${units[u]}`;
}

/** One progress line: totals each way and the rates since the previous reading. */
export function progressLine(sent: number, received: number, prev: { sent: number; received: number; atMs: number }, nowMs: number): string {
  const s = Math.max(0.001, (nowMs - prev.atMs) / 1000);
  return `sent ${formatBytes(sent)} (${formatBitRate(((sent - prev.sent) * 8) / s)}), received ${formatBytes(received)} (${formatBitRate(((received - prev.received) * 8) / s)})`;
}

/**
 * Rewrite the progress line on `out` every second while `read` gives the byte counts; the
 * returned function stops and clears it. Does nothing unless `out` is a terminal.
 */
export function showProgress(out: NodeJS.WriteStream, read: () => { sent: number; received: number }): () => void {
  if (!out.isTTY) return () => {};
  let prev = { ...read(), atMs: Date.now() };
  let shown = false;
  const timer = setInterval(() => {
    const now = read();
    const at = Date.now();
    out.write(`\r\x1b[K${progressLine(now.sent, now.received, prev, at)}`);
    shown = true;
    prev = { ...now, atMs: at };
  }, 1000);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (shown) out.write('\r\x1b[K');
  };
}
