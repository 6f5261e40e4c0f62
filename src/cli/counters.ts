/** Counters as `name value` lines, grouped, zeros left out except the totals people look for. */
import type { Stack } from '../stack.js';
import type { IfaceCountedDrop } from '../iface/reasons.js';
import type { TcpCountedDrop } from '../tcp/reasons.js';
import type { UdpCountedDrop } from '../udp/reasons.js';
import type { DhcpDrop } from '../dhcp/reasons.js';
import type { DnsDrop } from '../dns/reasons.js';

/** Every drop reason a stack counts, over all layers; printed as `drop.<reason>`. */
type StackDrop = IfaceCountedDrop | TcpCountedDrop | UdpCountedDrop | DhcpDrop | DnsDrop;

/** `Object.entries` keeping the key type (it widens keys to `string`); no counter holds `undefined`. */
const entries = <K extends string>(r: Partial<Record<K, number>>) => Object.entries(r) as [K, number][];

const ALWAYS = new Set(['rxFrames', 'txFrames', 'rxBytes', 'txBytes', 'splitHits', 'splitMisses']);

/**
 * Counters that are levels (connections or ports open, pages by owner, neighbour entries, a
 * capture running), not counts of events: no rate for them, and gauges, not counters, in the
 * metrics.
 */
const LEVELS = /^(tcp\.connections|udp\.ports|pages\.(size|free|nic|stack|user)|capture\.on|arp\.entries)$/;

/** Whether counter `name` (as {@link counterEntries} names it) is a level rather than a count. */
export function isLevelCounter(name: string): boolean {
  return LEVELS.test(name);
}

/**
 * Every counter of the stack as `name value` pairs, zeros included, named as at exit
 * (`nic.rxFrames`, `tcp.retransmits`, `drop.<reason>`) and the zero-copy figures as
 * `zeroCopy.<field>` and `zeroCopy.<field>.<reason>`: what `tapstack stats` and the metrics read.
 */
export function counterEntries(s: ReturnType<Stack['stats']>): [string, number][] {
  const out: [string, number][] = [];
  const walk = (prefix: string, obj: object) => {
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'number') out.push([`${prefix}.${k}`, v]);
      else if (v && typeof v === 'object') walk(`${prefix}.${k}`, v as object);
    }
  };
  const { drops: ifaceDrops, ...iface } = s.iface;
  const { drops: tcpDrops, ...tcp } = s.tcp;
  walk('nic', s.nic);
  walk('pages', s.pages);
  walk('iface', iface);
  walk('icmp', s.icmp);
  walk('arp', s.neighbors);
  const { drops: udpDrops, ...udp } = s.udp;
  walk('tcp', tcp);
  walk('udp', udp);
  walk('zeroCopy', s.zeroCopy);
  const drops: Partial<Record<StackDrop, number>> = { ...ifaceDrops };
  for (const [k, v] of entries(tcpDrops)) drops[k] = (drops[k] ?? 0) + v;
  for (const [k, v] of entries(udpDrops)) drops[k] = (drops[k] ?? 0) + v;
  for (const [k, v] of entries(drops).sort()) out.push([`drop.${k}`, v]);
  return out;
}

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
  const drops: Partial<Record<StackDrop, number>> = { ...ifaceDrops };
  group('iface', iface);
  group('icmp', s.icmp);
  group('arp', s.neighbors);
  // A layer's counters, and its drops into the common list.
  const layer = <K extends StackDrop>(name: string, st: { drops: Partial<Record<K, number>> }) => {
    const { drops: own, ...rest } = st;
    group(name, rest);
    for (const [k, v] of entries(own)) drops[k] = (drops[k] ?? 0) + v;
  };
  layer('tcp', s.tcp);
  layer('udp', s.udp);
  // DHCP (exchanges, renewals, drops) and DNS (queries, cache hits, drops).
  if (s.dhcp) layer('dhcp', s.dhcp);
  layer('dns', s.dns);
  // Zero copy: one line each, the byte count first.
  const z = s.zeroCopy;
  const reasons = <K extends string>(r: Partial<Record<K, number>>) =>
    entries(r)
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  const sum = <K extends string>(r: Partial<Record<K, number>>) => entries(r).reduce((a, [, v]) => a + v, 0);
  lines.push(`flipped ${z.flippedBytes} bytes (${z.flippedPages} pages)`);
  lines.push(`copied ${sum(z.copiedBytes)} bytes (${reasons(z.copiedBytes) || 'none'})`);
  lines.push(`sent by reference ${z.sendByReferenceBytes} bytes`);
  lines.push(`sent copied ${sum(z.sendCopiedBytes)} bytes (${reasons(z.sendCopiedBytes) || 'none'})`);
  lines.push(`lent ${z.pagesLent} pages, returned ${z.pagesReturned} pages`);
  lines.push(`completions ${z.completions} (${z.completionsCopied} with a copy)`);
  // UDP's own zero-copy counters, as `name value` lines (zeros left out).
  const udpZc: [string, number][] = [
    ['zc.udp.flippedBytes', z.udpFlippedBytes],
    ['zc.udp.flippedPages', z.udpFlippedPages],
    ...entries(z.udpCopiedBytes).map(([k, v]): [string, number] => [`zc.udp.copied.${k}`, v]),
    ['zc.udp.sentByReferenceBytes', z.udpSendByReferenceBytes],
    ...entries(z.udpSendCopiedBytes).map(([k, v]): [string, number] => [`zc.udp.sentCopied.${k}`, v]),
  ];
  for (const [k, v] of udpZc) if (v) lines.push(`${k} ${v}`);
  const dropTotal = entries(drops).reduce((a, [, v]) => a + v, 0);
  lines.push(`drops ${dropTotal}`);
  for (const [k, v] of entries(drops).sort()) lines.push(`drop.${k} ${v}`);
  return lines.join('\n') + '\n';
}
