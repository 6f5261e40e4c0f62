/** The Markdown table of a bench run (the JSON beside it holds every run's figures). */
import type { BenchResult, Case } from './bench.js';
import type { Series } from './stats.js';

const SPREAD_LIMIT = 0.15;

function num(x: number | undefined, digits = 3): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  if (Math.abs(x) < 1e-9) return '0';
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString('en-US');
  if (Math.abs(x) >= 100) return x.toFixed(0);
  return x.toPrecision(digits);
}

/** Spread in percent; `!` when above the limit, nothing for a single run. */
function spread(s: Series | undefined): string {
  if (!s || s.runs.length < 2 || !Number.isFinite(s.spread)) return '-';
  return `${(s.spread * 100).toFixed(0)}%${s.spread > SPREAD_LIMIT ? '!' : ''}`;
}

function ratio(c: Case): string {
  return Number.isFinite(c.ratio) ? c.ratio.toFixed(2) : '-';
}

const ex = (c: Case, name: string) => c.extra[name];

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}

export function renderMarkdown(r: BenchResult): string {
  const m = r.machine;
  const o = r.options;
  const info = r.info as { loadStart?: number[]; loadEnd?: number[]; seconds?: number; links?: Record<string, string> };
  const load = (l?: number[]) => (l ? l.map((x) => x.toFixed(2)).join(' ') : '?');
  const out: string[] = [];
  out.push('# tapstack against the Linux kernel\n');
  out.push(
    `${r.date.slice(0, 16).replace('T', ' ')} UTC, commit ${m.commit}, \`scripts/bench${o.quick ? ' --quick' : ''}\`: ${o.runs} run(s) of each case per side, ` +
      `tapstack and the kernel alternating (A B A B) with warm processes${o.warmup > 0 ? ` (an untimed ${o.warmup} s run of each side first)` : ''}; ` +
      `medians; spread = (max - min) / median over the runs, \`!\` above ${SPREAD_LIMIT * 100}%; ratio = tapstack / kernel of the medians.\n`,
  );
  out.push(
    `Machine: ${m.cpu}, ${m.cores} cores, Linux ${m.kernel}, Node ${m.node}, ${m.iperf3}, ${m.wrk}. ` +
      `Load average (1, 5, 15 min) at start ${load(info.loadStart)}, at end ${load(info.loadEnd)}; the run took ${num(info.seconds)} s.\n`,
  );
  out.push(
    `Kernel reference: the kernel on both ends of a veth pair between two namespaces, with the same MTU. ` +
      `Its congestion control is pinned to ${r.kernelCongestionControl} per socket (\`iperf3 -C ${r.kernelCongestionControl}\`, which the server side takes too; ` +
      `the machine's default is ${m.defaultCongestionControl}, and a namespace may not choose cubic for itself); tapstack runs its own cubic. ` +
      `"No offloads" on the veth: \`ethtool -K tx off rx off sg off tso off gso off gro off\` on both ends; "offloads": the veth's defaults (checksums, scatter-gather, TSO and GSO on, GRO off); ` +
      `tapstack: \`tapstack up --offload off\`. HTTP and ping use the machine's default congestion control (wrk cannot set it; ` +
      `52-byte responses never leave the initial window). ` +
      `The namespaces the clients run in (wrk, ping, iperf3 -c; the kernel's side of tapstack's TAP and K1) reuse ports in TIME-WAIT and draw them from 1024-65535 ` +
      `(\`net.ipv4.tcp_tw_reuse=1\`, \`ip_local_port_range\`): wrk with a connection per request otherwise runs out of free ports.\n`,
  );

  const throughput = r.cases.filter((c) => c.section === 'bulk' || c.section === 'streams');
  if (throughput.length) {
    out.push('## Throughput (iperf3 -J, one stream unless said)\n');
    out.push(`\`iperf3 -c ... -t ${o.seconds} -C ${r.kernelCongestionControl} -J\` from the kernel against \`tapstack up --serve iperf3:5201\` (kernel -> tapstack; \`-R\` for tapstack -> kernel), and against \`iperf3 -s\` over the veth pair. Receiver's Gbit/s. CPU: the tapstack process (/proc/PID/stat, all threads) per GiB received.\n`);
    out.push(
      table(
        ['case', 'tapstack Gbit/s', 'kernel Gbit/s', 'tapstack/kernel', 'spread t / k', 'tapstack CPU s/GiB user / system'],
        throughput.map((c) => [c.title, num(c.tapstack.median), num(c.kernel.median), ratio(c), `${spread(c.tapstack)} / ${spread(c.kernel)}`, `${num(ex(c, 'tapstack user s/GiB')?.median)} / ${num(ex(c, 'tapstack system s/GiB')?.median)}`]),
      ),
    );
  }

  const http = r.cases.filter((c) => c.section === 'http');
  if (http.length) {
    out.push('## HTTP (wrk against Node\'s http)\n');
    out.push(`\`wrk -t1 -c${o.httpConnections} -d${o.httpSeconds}s --latency http://HOST/\` (with \`-H 'Connection: close'\` for a connection per request) against \`tapstack up --serve http:80\` and against the same Node http application on kernel sockets in a namespace behind the veth pair. Server CPU: user + system seconds of the server process (/proc/PID/stat) per request; for the kernel server that leaves out softirq work charged to other tasks.\n`);
    out.push(
      table(
        ['case', 'tapstack req/s', 'kernel req/s', 'tapstack/kernel', 'spread t / k', 'server CPU us/request t / k', 'p99 ms t / k', 'errors t / k'],
        http.map((c) => [
          c.title,
          num(c.tapstack.median),
          num(c.kernel.median),
          ratio(c),
          `${spread(c.tapstack)} / ${spread(c.kernel)}`,
          `${num(ex(c, 'tapstack server CPU us/request')?.median)} / ${num(ex(c, 'kernel server CPU us/request')?.median)}`,
          `${num(ex(c, 'tapstack p99 latency ms')?.median)} / ${num(ex(c, 'kernel p99 latency ms')?.median)}`,
          `${num(ex(c, 'tapstack errors')?.median)} / ${num(ex(c, 'kernel errors')?.median)}`,
        ]),
      ),
    );
  }

  const pings = r.cases.filter((c) => c.section === 'ping' && c.id.startsWith('ping'));
  if (pings.length) {
    out.push('## Ping from the kernel\n');
    out.push(`\`ping -i 0.01 -c ${o.pings}\` from the kernel's side of the TAP to tapstack, and across the veth pair to the kernel, after 5,000 untimed pings 1.1 ms apart to each (until then tapstack answers from code V8 has not optimized yet); per run the median and the 99th percentile of the round trips, then the median over the runs (here a ratio above 1 is tapstack slower). Idle connections: kernel sockets of a Node client in the namespace, connected to tapstack's discard port (and to the kernel server's), holding still. Two responders answer ping on TAPs of their own right after each tapstack run, reading and writing one frame per call: a C one (bench/floor/tap-echo.c, built if a C compiler is there, woken by epoll), what any process answering over TAP pays on this machine; and the same in Node (bench/floor/tap-echo.ts, woken by libuv as tapstack is), what a JavaScript process pays. They are the floors under tapstack's figure: what is above the Node responder is tapstack's own path through its layers.\n`);
    out.push(
      table(
        ['case', 'tapstack us', 'kernel us', 'tapstack/kernel', 'spread t / k', 'tapstack CPU % while pinged', 'C TAP responder us', 'Node TAP responder us'],
        pings.map((c) => [c.title, num(c.tapstack.median), num(c.kernel.median), ratio(c), `${spread(c.tapstack)} / ${spread(c.kernel)}`, num(ex(c, 'tapstack CPU % while pinged')?.median, 2), num(ex(c, 'C TAP responder, us')?.median), num(ex(c, 'Node TAP responder, us')?.median)]),
      ),
    );
  }

  const mem = r.cases.find((c) => c.id === 'memory-idle');
  if (mem) {
    out.push('## Resident memory\n');
    out.push(`tapstack's VmRSS; "the arena" is its largest private anonymous mapping in /proc/PID/smaps: the NIC's memory (page pool, rings, buffers), resident as far as pages were ever touched.\n`);
    const g = (name: string) => num(ex(mem, name)?.median);
    out.push(
      table(
        ['', 'MiB'],
        [
          ['tapstack before the connections', g('tapstack RSS before, MiB')],
          [`tapstack 1 s after opening them`, g('tapstack RSS 1 s after opening, MiB')],
          ['the same minus the arena', g('tapstack RSS 1 s after opening minus the arena, MiB')],
          [`tapstack ${mem.title.replace('resident memory ', '')}, settled (${g('seconds after opening until settled')} s after opening: V8 gave back its young generation)`, num(mem.tapstack.median)],
          ['of which the arena (page pool) resident', `${g('tapstack arena resident, MiB')} (of ${g('tapstack arena size, MiB')} mapped)`],
          ['tapstack minus the arena', g('tapstack RSS minus the arena (page pool), MiB')],
          ['tapstack growth per connection', `${num(ex(mem, 'tapstack KiB per connection')?.median)} KiB`],
          ['seconds to open the connections to tapstack', g('seconds to open the connections to tapstack')],
        ],
      ),
    );
  }

  const notes = [...r.notes, ...r.cases.flatMap((c) => c.notes.map((n) => `${c.title}: ${n}`))];
  const wide = r.cases.filter((c) => [c.tapstack, c.kernel].some((x) => x.runs.length > 1 && x.spread > SPREAD_LIMIT));
  if (wide.length) notes.unshift(`${wide.length} of ${r.cases.length} cases spread more than ${SPREAD_LIMIT * 100}% between runs: a busier machine than a benchmark wants, or too few runs (--runs, --seconds)`);
  const busy = info.loadStart?.[0] ?? 0;
  if (busy > 1) notes.unshift(`the machine was busy before the run began (load average ${busy.toFixed(2)} over the last minute, on ${m.cores} cores): other work shares the cores with both sides, so these figures are not for keeping`);
  const errors = r.cases.flatMap((c) => c.errors.map((e) => `${c.title}: ${e}`));
  if (errors.length) out.push('## Errors\n\n' + errors.map((e) => `- ${e}`).join('\n') + '\n');
  if (notes.length) out.push('## Notes\n\n' + notes.map((n) => `- ${n}`).join('\n') + '\n');
  if (info.links) out.push('## Links as set up\n\n' + Object.entries(info.links).map(([k, v]) => `- ${k}: ${v}`).join('\n') + '\n');
  const counters = Object.entries(r.info).filter(([k]) => k.startsWith('counters ')) as [string, Record<string, number>][];
  if (counters.length) {
    out.push(
      "## tapstack's counters (at the end of each link's cases)\n\n" +
        counters
          .map(([k, c]) => {
            const drops = Object.entries(c)
              .filter(([n]) => n.startsWith('drop.'))
              .sort((a, b) => b[1] - a[1])
              .slice(0, 4)
              .map(([n, v]) => `${n.slice(5)} ${v}`);
            const zc = (n: string) => num((c[`zeroCopy.${n}`] ?? 0) / 2 ** 30);
            return (
              `- ${k.slice(9)}: tcp.retransmits ${c['tcp.retransmits'] ?? 0}, drops ${c.drops ?? 0}${drops.length ? ` (${drops.join(', ')})` : ''}; ` +
              `received GiB flipped ${zc('flipped')}, copied ${zc('copied')}; sent GiB by reference ${zc('sent-by-reference')}, copied ${zc('sent-copied')}`
            );
          })
          .join('\n') +
        '\n',
    );
  }
  return out.join('\n');
}
