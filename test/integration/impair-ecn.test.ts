/**
 * ECN end to end (RFC 3168) against the kernel: the fault injector's `mark` gives CE to the
 * ECN-capable frames it would otherwise drop (as netem's `ecn`), in the data's direction only.
 * `tapstack connect` asks for ECN in its SYN and the kernel (net.ipv4.tcp_ecn 2, its default)
 * agrees; then every data segment is ECT(0), so congestion is signalled without a loss:
 * - kernel -> tapstack, `rx:mark=1%`: tapstack sees CE, echoes ECE until the kernel's CWR;
 * - tapstack -> kernel, `tx:mark=1%`: the kernel echoes ECE, tapstack reduces its window once
 *   per window of data and marks CWR.
 * Data arrives intact with few retransmissions: only the handshake's and FIN's Not-ECT
 * segments can be dropped by `mark`, and a sender's tail loss probe may fire on a link this
 * fast; far fewer than the marks, each of which would have been a loss without ECN.
 *
 * Namespaces tapstack-it-impecn-{on,off}-<pid>; subnets 198.18.35.0/24 (offload on) and
 * 198.18.36.0/24 (off).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTransfer, counter, requireBuilt, scratchDir, subnet, transferSummary, useNamespace, writeRandomFile } from './helpers.js';

const SIZE = 32 * 1024 * 1024;
const TEST_TIMEOUT = 240_000;
const files = scratchDir('impecn');
let file = { path: '', sha256: '' };

beforeAll(() => {
  requireBuilt();
  const path = `${files.dir}/random.bin`;
  file = { path, sha256: writeRandomFile(path, SIZE) };
});
afterAll(() => files.remove());

describe.each(['on', 'off'] as const)('ECN marks instead of drops, offload %s', (offload) => {
  const net = subnet(offload === 'on' ? 35 : 36);
  const ns = useNamespace(`impecn-${offload}`);
  let port = 7100;

  it.each(['from-kernel', 'to-kernel'] as const)(
    '%s: congestion is signalled with CE and answered without retransmissions',
    async (direction) => {
      const impair = direction === 'from-kernel' ? 'rx:mark=1%' : 'tx:mark=1%';
      const r = await connectTransfer({ ns, net, port: ++port, direction, file: file.path, extra: ['--offload', offload, '--impair', impair, '--seed', '5'], timeoutMs: TEST_TIMEOUT - 20_000 });
      const c = r.counters;
      console.log(
        `[offload ${offload}] ${direction === 'to-kernel' ? 'tapstack -> kernel' : 'kernel -> tapstack'} with ${impair}: ${transferSummary(r)}; ` +
          `ecn: connections ${counter(c, 'tcp.ecnConnections')}, CE received ${counter(c, 'tcp.ecnCeReceived')}, reductions ${counter(c, 'tcp.ecnReductions')}`,
      );
      const why = `client: ${r.client.stderr.slice(0, 2000)}\nserver: ${r.server.stderr.slice(0, 500)}`;
      expect(r.client.code, why).toBe(0);
      expect(r.bytes, why).toBe(SIZE);
      expect(r.sha256, why).toBe(file.sha256);
      expect(counter(c, 'tcp.ecnConnections')).toBe(1);
      if (direction === 'from-kernel') {
        expect(counter(c, 'nic.impairRxMarked')).toBeGreaterThan(0);
        expect(counter(c, 'tcp.ecnCeReceived')).toBeGreaterThan(0);
        // Marks instead of drops: retransmissions only where a Not-ECT segment met `mark` (the
        // handshake, the FIN) or the kernel's tail loss probes fired: far fewer than the marks.
        expect(counter(r.kernel, 'RetransSegs')).toBeLessThan(Math.max(3, counter(c, 'nic.impairRxMarked') / 4));
      } else {
        expect(counter(c, 'nic.impairTxMarked')).toBeGreaterThan(0);
        expect(counter(c, 'tcp.ecnReductions')).toBeGreaterThan(0);
        // At most one reduction per mark: the echo of one mark is answered once.
        expect(counter(c, 'tcp.ecnReductions')).toBeLessThanOrEqual(counter(c, 'nic.impairTxMarked'));
        expect(counter(c, 'tcp.retransmits')).toBeLessThan(Math.max(3, counter(c, 'nic.impairTxMarked') / 4));
      }
    },
    TEST_TIMEOUT,
  );
});
