/**
 * Hostile peers: a scapy suite of malformed and hostile TCP segments
 * (test/integration/tcp-malformed.py, run in the namespace, frames sent on the kernel's side of
 * the TAP to tapstack's MAC and address) against `tapstack up --serve echo:7,http:80`:
 *
 * - to the listening port from fresh source ports: data offsets below 5 and beyond the segment,
 *   option lengths 0, 1 and overlong, SYN+FIN, SYN+RST, a bad checksum, no flags; each dropped
 *   without an answer. A well-formed SYN with window 0 and an urgent pointer is the control: it
 *   gets a SYN-ACK;
 * - into an established connection of a kernel socket (its sequence numbers sniffed): RFC 5961
 *   blind injection, i.e. an RST or a SYN in the window earns a challenge ACK, outside it an RST
 *   is dropped silently, a SYN or data get an ACK; data whose ACK is too old earns a challenge
 *   ACK, data acknowledging what was never sent an ACK; an urgent pointer past the data (and
 *   urgent data from the kernel: delivered inline); malformed headers on the four-tuple. The
 *   echo afterwards returns exactly what the socket sent: nothing injected got into the stream;
 * - data into a zero window (a second socket fills tapstack's receive buffer): dropped, ACKed,
 *   and the echo of everything is intact;
 * - an RST at exactly RCV.NXT resets the connection (the kernel's next data meets an RST).
 *
 * Then tapstack still serves (curl /), and its counters hold each drop under its reason
 * (src/wire/errors.ts, src/tcp/tcp-layer.ts, src/tcp/connection.ts) and the challenge ACKs.
 * With offloads on and off (the checksum is verified by the firmware in both: frames injected
 * through a packet socket carry no checksum offload).
 *
 * Namespaces tapstack-it-hostmal-{on,off}-<pid>; subnets 198.18.8.0/24 (on), 198.18.9.0/24 (off).
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { counter, nsRun, PYTHON, requireBuilt, subnet, useTapstack } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('./tcp-malformed.py', import.meta.url));
const ECHO = 7;

interface CaseResult {
  case: string;
  group: string;
  want: string;
  got: unknown[];
  ok: boolean;
  reasons: Record<string, number>;
}

interface Summary {
  cases: number;
  failed: string[];
  reasons: Record<string, number>;
}

/**
 * Reasons whose count must equal what the script sent exactly; the others may also be raised by
 * the kernel's own segments (its zero-window probes are old duplicates, say): at least.
 */
const EXACT = new Set([
  'tcp-bad-data-offset',
  'tcp-bad-options',
  'tcp-bad-flags',
  'tcp-bad-checksum',
  'tcp-listen-no-syn',
  'tcp-rst-in-window',
  'tcp-syn-in-window',
  'tcp-urgent-ignored',
  'challengeAcks',
]);

/** Where the script's reason names live among tapstack's counters. */
function counterName(reason: string): string {
  return reason === 'challengeAcks' || reason === 'connectionsReset' ? `tcp.${reason}` : `drop.${reason}`;
}

beforeAll(() => requireBuilt());

describe.each(['on', 'off'] as const)('malformed and hostile TCP segments, offload %s', (offload) => {
  const net = subnet(offload === 'on' ? 8 : 9);
  const { ns, start } = useTapstack(`hostmal-${offload}`, { ignoreStopError: true });

  it('every case is answered as the RFCs say, each drop is counted by reason, and tapstack still serves', async () => {
    const t = await start({ net, offload, extra: ['--serve', `echo:${ECHO},http:80`] });
    const r = await nsRun(
      ns,
      PYTHON,
      [SCRIPT, '--iface', 'tap0', '--dst-mac', t.mac, '--dst-ip', net.tapstack, '--src-ip', net.host, '--port', String(ECHO)],
      { timeoutMs: 120_000 },
    );
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const cases = lines.filter((l) => 'case' in l) as unknown as CaseResult[];
    const summary = (lines.find((l) => 'summary' in l) as { summary: Summary } | undefined)?.summary;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(summary, r.stdout).toBeDefined();
    for (const c of cases) console.log(`[offload ${offload}] ${c.ok ? 'ok  ' : 'FAIL'} ${c.case}: want ${c.want}, got ${JSON.stringify(c.got)}`);
    expect(cases.filter((c) => !c.ok).map((c) => `${c.case}: want ${c.want}, got ${JSON.stringify(c.got)}`)).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(40);

    // Still serving: a new connection gets the page.
    expect(t.running).toBe(true);
    const page = await nsRun(ns, 'curl', ['-sS', '--max-time', '10', `http://${net.tapstack}/`]);
    expect(page.code, page.stderr).toBe(0);
    expect(page.stdout).toContain('tapstack');

    const stopped = await t.stop();
    expect(stopped.code).toBe(0);
    const c = stopped.counters;
    const seen = Object.fromEntries(Object.keys(summary!.reasons).map((k) => [k, counter(c, counterName(k))]));
    console.log(`[offload ${offload}] expected by the script: ${JSON.stringify(summary!.reasons)}; counted by tapstack: ${JSON.stringify(seen)}`);
    for (const [reason, n] of Object.entries(summary!.reasons)) {
      if (EXACT.has(reason)) expect(counter(c, counterName(reason)), counterName(reason)).toBe(n);
      else expect(counter(c, counterName(reason)), counterName(reason)).toBeGreaterThanOrEqual(n);
    }
    // Nothing the script sent reached the IPv4 layer's other drops.
    expect(counter(c, 'drop.ipv4-unknown-protocol')).toBe(0);
  }, 180_000);
});
