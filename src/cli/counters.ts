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
  const dropTotal = Object.values(drops).reduce((a, b) => a + b, 0);
  lines.push(`drops ${dropTotal}`);
  for (const [k, v] of Object.entries(drops).sort()) lines.push(`drop.${k} ${v}`);
  return lines.join('\n') + '\n';
}
