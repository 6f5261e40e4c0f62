// Figures for scripts/bench-idle (plain JavaScript: it runs without a build).
//
//   node scripts/lib/latency-report.mjs rtt < PING_OUTPUT      one JSON object: sent, received,
//       lost, median, p90, p99, max, mean (microseconds), from ping's per-reply `time=` fields
//   node scripts/lib/latency-report.mjs table RESULTS [JSON]   a table of RESULTS (one JSON
//       object a line, as bench-idle writes them), the median of the rounds for each build and
//       connection count; with JSON, the same figures and every round's are written there
//
// Percentiles are nearest-rank: p99 of 2000 replies is the 1980th smallest.
import { readFileSync, writeFileSync } from 'node:fs';

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function rtt(text) {
  const us = [];
  for (const m of text.matchAll(/time=([0-9.]+) ms/g)) us.push(Math.round(Number(m[1]) * 1000));
  const sent = Number(/(\d+) packets transmitted/.exec(text)?.[1] ?? us.length);
  us.sort((a, b) => a - b);
  const mean = us.length ? Math.round(us.reduce((a, b) => a + b, 0) / us.length) : null;
  return { sent, received: us.length, lost: sent - us.length, median: percentile(us, 50), p90: percentile(us, 90), p99: percentile(us, 99), max: us.at(-1) ?? null, mean };
}

const MiB = 1024 * 1024;
const fmt = (x, digits = 0) => (x === null || x === undefined ? '-' : x.toFixed(digits));

function table(resultsPath, jsonPath) {
  const rows = readFileSync(resultsPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const groups = new Map();
  for (const r of rows) {
    const key = `${r.build}\0${r.connections}`;
    if (!groups.has(key)) groups.set(key, { build: r.build, connections: r.connections, rounds: [] });
    groups.get(key).rounds.push(r);
  }
  const summary = [...groups.values()].map((g) => {
    const pick = (f) => median(g.rounds.map(f));
    return {
      build: g.build,
      connections: g.connections,
      rounds: g.rounds.length,
      held: pick((r) => r.held),
      median: pick((r) => r.rtt.median),
      p99: pick((r) => r.rtt.p99),
      max: pick((r) => r.rtt.max),
      mean: pick((r) => r.rtt.mean),
      lost: pick((r) => r.rtt.lost),
      cpuUsPerPing: pick((r) => r.cpuUsPerPing),
      rssBytes: pick((r) => r.rss?.vmRss),
      poolRssBytes: pick((r) => r.rss?.arenaRss),
      beyondPoolBytes: pick((r) => (r.rss ? r.rss.vmRss - r.rss.arenaRss : null)),
    };
  });
  const head = ['build', 'conns', 'rounds', 'median us', 'p99 us', 'max us', 'mean us', 'lost', 'cpu us/ping', 'RSS MiB', 'pool MiB', 'beyond pool MiB'];
  const lines = summary.map((s) => [
    s.build,
    String(s.connections),
    String(s.rounds),
    fmt(s.median),
    fmt(s.p99),
    fmt(s.max),
    fmt(s.mean),
    fmt(s.lost),
    fmt(s.cpuUsPerPing, 1),
    s.rssBytes === null ? '-' : fmt(s.rssBytes / MiB, 1),
    s.poolRssBytes === null ? '-' : fmt(s.poolRssBytes / MiB, 1),
    s.beyondPoolBytes === null ? '-' : fmt(s.beyondPoolBytes / MiB, 1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const say = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  process.stdout.write(say(head) + '\n');
  for (const l of lines) process.stdout.write(say(l) + '\n');
  const doc = { summary, rounds: rows };
  if (jsonPath) writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');
  else process.stdout.write(JSON.stringify(doc) + '\n');
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'rtt') process.stdout.write(JSON.stringify(rtt(readFileSync(0, 'utf8'))) + '\n');
else if (cmd === 'table' && args[0]) table(args[0], args[1]);
else {
  process.stderr.write('usage: latency-report.mjs rtt < PING_OUTPUT | table RESULTS [JSON]\n');
  process.exit(2);
}
