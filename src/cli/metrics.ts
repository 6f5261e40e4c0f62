/**
 * The counters of a running `tapstack up` in the Prometheus text format (prom-client), served on
 * the host's own network (a kernel socket of the process, loopback unless told otherwise), read
 * at each scrape: nothing is counted twice and nothing runs between scrapes.
 *
 * Names: `nic.rxFrames` becomes `tapstack_nic_rx_frames_total`; levels (connections open,
 * pages by owner, neighbour entries) are gauges without the suffix; drop reasons, copy reasons
 * and services are labels (`tapstack_drops_total{reason="tcp-bad-checksum"}`).
 */
import http from 'node:http';
import client from 'prom-client';
import { isLevelCounter } from './counters.js';

interface Family {
  name: string;
  help: string;
  gauge: boolean;
  label: string | null;
}

/** The metric family and label value of counter `key`. */
function familyOf(key: string): { family: Family; labelValue: string | null } {
  let m = /^drop\.(.+)$/.exec(key);
  if (m) return { family: { name: 'tapstack_drops_total', help: 'Frames and segments dropped, by reason', gauge: false, label: 'reason' }, labelValue: m[1]! };
  m = /^zeroCopy\.(udp)?(copiedBytes|sendCopiedBytes|CopiedBytes|SendCopiedBytes)\.(.+)$/.exec(key);
  if (m) {
    const received = /^c/i.test(m[2]!);
    const udp = m[1] ? 'udp_' : '';
    return {
      family: {
        name: `tapstack_zero_copy_${udp}${received ? 'received' : 'sent'}_copied_bytes_total`,
        help: `Payload bytes${udp ? ' of UDP datagrams' : ''} ${received ? 'received' : 'sent'} by copy, by reason`,
        gauge: false,
        label: 'reason',
      },
      labelValue: m[3]!,
    };
  }
  m = /^serve\.([\w-]+)\.connections$/.exec(key);
  if (m) return { family: { name: 'tapstack_serve_connections_total', help: 'Connections accepted by each --serve service', gauge: false, label: 'service' }, labelValue: m[1]! };
  m = /^serve\.([\w-]+)\.datagrams$/.exec(key);
  if (m) return { family: { name: 'tapstack_serve_datagrams_total', help: 'Datagrams received by each UDP --serve service', gauge: false, label: 'service' }, labelValue: m[1]! };
  const gauge = isLevelCounter(key);
  const snake = key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toLowerCase();
  return { family: { name: `tapstack_${snake}${gauge ? '' : '_total'}`, help: `tapstack counter ${key}`, gauge, label: null }, labelValue: null };
}

/**
 * Serve the metrics at http://HOST:PORT/metrics; `read` gives every counter as
 * `name value` pairs (counters.ts's names) at each scrape.
 */
export async function serveMetrics(host: string, port: number, read: () => [string, number][]): Promise<http.Server> {
  const registry = new client.Registry();
  const families = new Map<string, client.Counter<string> | client.Gauge<string>>();
  let snapshot: [string, number][] = [];
  const values = new Map<string, { labelValue: string | null; value: number }[]>();

  /** Read the counters once per scrape and make a family for each name seen the first time. */
  const refresh = () => {
    snapshot = read();
    values.clear();
    for (const [key, value] of snapshot) {
      const { family, labelValue } = familyOf(key);
      let list = values.get(family.name);
      if (!list) values.set(family.name, (list = []));
      list.push({ labelValue, value });
      if (families.has(family.name)) continue;
      const labelNames = family.label ? [family.label] : [];
      const label = family.label;
      const collect = function (this: client.Counter<string> | client.Gauge<string>) {
        this.reset();
        for (const v of values.get(family.name) ?? []) {
          const labels = label && v.labelValue !== null ? { [label]: v.labelValue } : {};
          if (this instanceof client.Gauge) this.set(labels, v.value);
          else (this as client.Counter<string>).inc(labels, v.value);
        }
      };
      const config = { name: family.name, help: family.help, labelNames, registers: [registry], collect };
      families.set(family.name, family.gauge ? new client.Gauge(config) : new client.Counter(config));
    }
  };

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('tapstack metrics: GET /metrics\n');
      return;
    }
    refresh();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return server;
}

/** `--metrics [HOST:]PORT`: loopback unless a host is given. */
export function parseMetricsAddress(text: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:]+\]|[^:]+):)?(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`--metrics takes [HOST:]PORT, not ${JSON.stringify(text)}`);
  return { host: m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port };
}
