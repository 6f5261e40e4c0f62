import { describe, expect, it } from 'vitest';
import { DHCP_DROP_REASONS } from '../../src/dhcp/reasons.js';
import { DNS_DROP_REASONS } from '../../src/dns/reasons.js';
import { ManualClock } from '../../src/clock.js';
import { Reassembler } from '../../src/iface/reassembly.js';
import { IFACE_DROP_REASONS, REASSEMBLY_DROP_REASONS } from '../../src/iface/reasons.js';
import { SACK_BLOCK_REJECTS } from '../../src/tcp/sack-scoreboard.js';
import { TCP_DROP_REASONS } from '../../src/tcp/reasons.js';
import { UDP_DROP_REASONS } from '../../src/udp/reasons.js';
import { DROP_REASONS } from '../../src/wire/errors.js';

/** The CLI prints `drop.<reason>` and integration tests parse it: kebab-case only. */
const NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

const LAYERS: { layer: string; reasons: readonly string[]; prefixes: readonly string[] }[] = [
  { layer: 'wire', reasons: DROP_REASONS, prefixes: ['eth', 'arp', 'ipv4', 'icmp', 'tcp', 'udp', 'vnet', 'dhcp', 'dns'] },
  { layer: 'iface', reasons: IFACE_DROP_REASONS, prefixes: ['eth', 'arp', 'ipv4', 'icmp', 'frag'] },
  { layer: 'tcp', reasons: TCP_DROP_REASONS, prefixes: ['tcp'] },
  { layer: 'udp', reasons: UDP_DROP_REASONS, prefixes: ['udp'] },
  { layer: 'dhcp', reasons: DHCP_DROP_REASONS, prefixes: ['dhcp'] },
  { layer: 'dns', reasons: DNS_DROP_REASONS, prefixes: ['dns'] },
];

describe('drop reasons', () => {
  it.each(LAYERS)('$layer: kebab-case, unique, with a protocol prefix', ({ reasons, prefixes }) => {
    expect(reasons.length).toBeGreaterThan(0);
    for (const r of reasons) {
      expect(r).toMatch(NAME);
      expect(prefixes).toContain(r.split('-')[0]);
    }
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  it('no name belongs to two layers (each counter has one owner)', () => {
    const owner = new Map<string, string>();
    for (const { layer, reasons } of LAYERS) {
      for (const r of reasons) {
        expect(owner.get(r), `${r} in ${owner.get(r)} and ${layer}`).toBeUndefined();
        owner.set(r, layer);
      }
    }
  });

  it('the reassembler counts exactly the reassembly reasons, and the interface includes them', () => {
    const r = new Reassembler(new ManualClock());
    expect(Object.keys(r.stats.drops)).toEqual([...REASSEMBLY_DROP_REASONS]);
    for (const d of REASSEMBLY_DROP_REASONS) expect(IFACE_DROP_REASONS).toContain(d);
  });

  it('the SACK scoreboard rejects are TCP reasons', () => {
    for (const d of SACK_BLOCK_REJECTS) expect(TCP_DROP_REASONS).toContain(d);
  });
});
