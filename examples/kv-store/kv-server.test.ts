/**
 * The key-value server of kv-server.ts tested with tapstack/testing: tapstack runs in this test's
 * process on a TAP whose other side is the kernel of a namespace of the test's own, and the
 * clients are kernel TCP clients there. Each test gets its network from testNetwork(ctx): closed
 * when the test ends, its capture deleted if the test passed and kept (path printed) if it failed.
 *
 * KV_DEMO_FAILURE=1 adds a test that fails on purpose, to see a capture kept.
 */
import { describe, expect, it } from 'vitest';
import { testNetwork } from 'tapstack/testing';
import { serveKv } from './kv-server.js';

const PORT = 7000;

describe('a key-value server on tapstack', () => {
  it('answers a kernel client, one command per line', async (ctx) => {
    const net = await testNetwork(ctx);
    serveKv(net.stack, PORT);
    const r = await net.kernelConnect(PORT, { send: 'SET colour sea green\nGET colour\nGET shape\nDEL colour\nGET colour\nHELLO\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('OK\nVALUE sea green\nNOT_FOUND\nDELETED\nNOT_FOUND\nERROR unknown command\n');
  });

  it('keeps one store for every connection', async (ctx) => {
    const net = await testNetwork(ctx);
    serveKv(net.stack, PORT);
    const writers = await Promise.all(Array.from({ length: 8 }, (_, i) => net.kernelConnect(PORT, { send: `SET k${i} v${i}\n` })));
    expect(writers.map((w) => w.stdout)).toEqual(Array(8).fill('OK\n'));
    const reader = await net.kernelConnect(PORT, { send: Array.from({ length: 8 }, (_, i) => `GET k${i}\n`).join('') });
    expect(reader.stdout).toBe(Array.from({ length: 8 }, (_, i) => `VALUE v${i}\n`).join(''));
  });

  it('reads a command line by line while the client types it', async (ctx) => {
    const net = await testNetwork(ctx);
    serveKv(net.stack, PORT);
    const client = net.kernelClient(PORT);
    client.write('SET greet');
    await new Promise((r) => setTimeout(r, 100));
    client.write('ing hello there\nGE');
    await client.waitForOutput('OK\n');
    client.end('T greeting\n');
    const r = await client.done;
    expect(r.stdout).toBe('OK\nVALUE hello there\n');
  });

  it('stays correct with 3% of the frames lost, duplicated or reordered each way', async (ctx) => {
    // The fault injector of `tapstack up --impair`, seeded: the same faults every run.
    const net = await testNetwork(ctx, { impair: 'both:loss=3%,dup=3%,reorder=3%', seed: 42, offload: false });
    serveKv(net.stack, PORT);
    const big = 'x'.repeat(300_000);
    const r = await net.kernelConnect(PORT, { send: `SET big ${big}\nGET big\n` });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`OK\nVALUE ${big}\n`);
    const nic = net.stack.stats().nic;
    expect(nic.impairRxDropped + nic.impairTxDropped, 'the injector did drop frames').toBeGreaterThan(0);
  });

  it.runIf(process.env.KV_DEMO_FAILURE === '1')('fails on purpose (KV_DEMO_FAILURE=1): its capture is kept', async (ctx) => {
    const net = await testNetwork(ctx, { name: 'kv demo failure' });
    serveKv(net.stack, PORT);
    const r = await net.kernelConnect(PORT, { send: 'SET answer 42\nGET answer\n' });
    expect(r.stdout).toBe('OK\nVALUE 43\n');
  });
});
