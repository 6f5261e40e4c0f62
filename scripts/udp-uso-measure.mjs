// The measuring half of scripts/udp-uso-measure (run inside its namespace): see there.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Stack } from '../dist/src/index.js';

const [count, size, runs] = process.argv.slice(2).map(Number);
const HOST = '198.18.68.1';
const BATCH = 64;
const stack = Stack.open({ ifname: 'tap0', address: '198.18.68.2/24', hostAddress: `${HOST}/24`, offload: true, mtu: 1500 });
const host = (HOST.split('.').reduce((a, b) => (a << 8) | Number(b), 0)) >>> 0;
const port = stack.udp.bind(0, 0, { receive() {} });
const usoAvailable = stack.udp.uso;
const data = new Uint8Array(size * BATCH).map((_, i) => i & 0xff);
const tick = () => new Promise((r) => setImmediate(r));

/** A kernel sink on `p`: resolves with its report once it has seen `count` datagrams or idled. */
async function sink(p) {
  const child = spawn('/usr/bin/python3', ['test/integration/udp-peer.py', 'sink', HOST, String(p), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const it = lines[Symbol.asyncIterator]();
  await it.next(); // ready
  return { done: it.next().then((l) => JSON.parse(l.value)), child };
}

// ARP first.
port.send(host, 9, new Uint8Array(1));
await new Promise((r) => setTimeout(r, 300));

const results = [];
for (let run = 0; run < runs; run++) {
  for (const uso of usoAvailable ? [true, false] : [false]) {
    const p = 20000 + results.length;
    const s = await sink(p);
    stack.udp.uso = uso; // readonly in the types; the measurement switches it
    const frames0 = stack.nic.stats().txFrames;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let sent = 0; sent < count; sent += BATCH) {
      const n = Math.min(BATCH, count - sent);
      port.sendSegments(host, p, data.subarray(0, n * size), size);
      if ((sent / BATCH) % 8 === 7) await tick(); // flush every 512 datagrams, as an application yielding
    }
    await tick();
    const cpu = process.cpuUsage(cpu0);
    const ms = performance.now() - t0;
    const frames = stack.nic.stats().txFrames - frames0;
    const got = await s.done;
    await once(s.child, 'close');
    results.push({ uso, datagrams: count, size, frames, cpuMs: Math.round((cpu.user + cpu.system) / 1000), wallMs: Math.round(ms), received: got.received });
    console.log(JSON.stringify(results[results.length - 1]));
  }
}
stack.close();
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const uso of [true, false]) {
  const r = results.filter((x) => x.uso === uso);
  if (r.length) console.log(`${uso ? 'USO          ' : 'per datagram '}: median CPU ${med(r.map((x) => x.cpuMs))} ms, wall ${med(r.map((x) => x.wallMs))} ms, ${r[0].frames} frames for ${count} datagrams of ${size} bytes, received ${r.map((x) => x.received).join('/')}`);
}
if (!usoAvailable) console.log('the TAP does not take USO frames (TUNSETOFFLOAD refused TUN_F_USO4|TUN_F_USO6)');
