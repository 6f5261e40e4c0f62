/** Counters as `name value` lines, grouped, zeros left out except the totals people look for. */
import type { Stack } from '../stack.js';

const ALWAYS = new Set(['rxFrames', 'txFrames', 'rxBytes', 'txBytes', 'splitHits', 'splitMisses']);

export function formatCounters(s: ReturnType<Stack['stats']>): string {
  const lines: string[] = [];
  const group = (name: string, obj: object) => {
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'number') {
        if (v !== 0 || ALWAYS.has(k)) lines.push(`${name}.${k} ${v}`);
      }
    }
  };
  group('nic', s.nic);
  group('pages', s.pages);
  const { drops: ifaceDrops, ...iface } = s.iface;
  const drops: Record<string, number> = { ...ifaceDrops };
  group('iface', iface);
  group('icmp', s.icmp);
  group('arp', s.neighbors);
  const { drops: tcpDrops, ...tcp } = s.tcp;
  group('tcp', tcp);
  for (const [k, v] of Object.entries(tcpDrops)) drops[k] = (drops[k] ?? 0) + v;
  // Zero copy: one line each, the byte count first.
  const z = s.zeroCopy;
  const reasons = (r: Record<string, number | undefined>) =>
    Object.entries(r)
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const sum = (r: Record<string, number | undefined>) => Object.values(r).reduce<number>((a, b) => a + (b ?? 0), 0);
  lines.push(`flipped ${z.flippedBytes} bytes (${z.flippedPages} pages)`);
  lines.push(`copied ${sum(z.copiedBytes)} bytes (${reasons(z.copiedBytes) || 'none'})`);
  lines.push(`sent by reference ${z.sendByReferenceBytes} bytes`);
  lines.push(`sent copied ${sum(z.sendCopiedBytes)} bytes (${reasons(z.sendCopiedBytes) || 'none'})`);
  lines.push(`lent ${z.pagesLent} pages, returned ${z.pagesReturned} pages`);
  lines.push(`completions ${z.completions} (${z.completionsCopied} with a copy)`);
  const dropTotal = Object.values(drops).reduce((a, b) => a + b, 0);
  lines.push(`drops ${dropTotal}`);
  for (const [k, v] of Object.entries(drops).sort()) lines.push(`drop.${k} ${v}`);
  return lines.join('\n') + '\n';
}
