/**
 * Test frameworks, as far as a test network needs them: knowing whether the test failed, so its
 * capture is kept, and closing the network when the test ends even if the test's own code never
 * gets there (a timeout). Duck-typed, so that this module imports no framework: vitest's test
 * context and node:test's are told apart by what they have.
 *
 * - vitest: `ctx.onTestFinished` runs after the test, its hooks and any timeout, with the
 *   verdict in `ctx.task.result.state` (which counts `expect.soft` failures, that throw nothing).
 * - node:test: `t.after` runs after the test (also one that timed out), with the verdict in
 *   `t.passed` (Node 20.12 and later).
 */
import { createTestNetwork, type TestNetwork, type TestNetworkOptions } from './network.js';

/** vitest's TestContext (`it('...', async (ctx) => ...)`), the parts used. */
export interface VitestContextLike {
  task: { name: string; result?: { state?: string } };
  onTestFinished(fn: () => unknown, timeout?: number): void;
}

/** node:test's TestContext (`test('...', async (t) => ...)`), the parts used. */
export interface NodeTestContextLike {
  name: string;
  readonly passed: boolean;
  after(fn: () => unknown): void;
}

export type TestContextLike = VitestContextLike | NodeTestContextLike;

function isVitest(t: TestContextLike): t is VitestContextLike {
  return typeof (t as VitestContextLike).onTestFinished === 'function' && typeof (t as VitestContextLike).task === 'object';
}

function isNodeTest(t: TestContextLike): t is NodeTestContextLike {
  return typeof (t as NodeTestContextLike).after === 'function' && 'passed' in t;
}

/**
 * A test network for the test whose context is `t` (vitest's or node:test's): closed by the
 * framework once the test is over, with its verdict deciding the capture. The test may close it
 * earlier (e.g. `await using`); the capture then still waits for the verdict.
 */
export async function testNetwork(t: TestContextLike, o: TestNetworkOptions = {}): Promise<TestNetwork> {
  let verdict: () => boolean;
  let name: string;
  let register: (fn: () => Promise<unknown>) => void;
  if (isVitest(t)) {
    verdict = () => t.task.result?.state === 'fail';
    name = t.task.name;
    // vitest's hook timeout applies; closing takes well under a second.
    register = (fn) => t.onTestFinished(fn);
  } else if (isNodeTest(t)) {
    verdict = () => !t.passed;
    name = t.name;
    register = (fn) => t.after(fn);
  } else {
    throw new TypeError('testNetwork(t): t is neither a vitest test context (onTestFinished) nor a node:test one (after, passed); use createTestNetwork or withTestNetwork instead');
  }
  const net = await createTestNetwork({ name, ...o });
  net.awaitVerdict();
  register(() => net.close({ failed: verdict() }));
  return net;
}

/**
 * Run `fn` with a test network and close it afterwards; an error thrown by `fn` marks the test
 * failed (the capture is kept) and is thrown on. With a test context `t` as first argument the
 * framework's verdict counts too (soft assertions, timeouts), as with {@link testNetwork}.
 */
export function withTestNetwork<T>(fn: (net: TestNetwork) => Promise<T> | T, o?: TestNetworkOptions): Promise<T>;
export function withTestNetwork<T>(t: TestContextLike, fn: (net: TestNetwork) => Promise<T> | T, o?: TestNetworkOptions): Promise<T>;
export async function withTestNetwork<T>(
  a: TestContextLike | ((net: TestNetwork) => Promise<T> | T),
  b?: TestNetworkOptions | ((net: TestNetwork) => Promise<T> | T),
  c?: TestNetworkOptions,
): Promise<T> {
  // Told apart by the second argument: vitest's test context is itself a function (it throws
  // when called, to catch the done-callback style), so `a` alone cannot say.
  const [t, fn, o] = typeof b === 'function' ? [a as TestContextLike, b, c] : [null, a as (net: TestNetwork) => Promise<T> | T, b];
  const net = t ? await testNetwork(t, o) : await createTestNetwork(o);
  try {
    return await fn(net);
  } catch (e) {
    net.markFailed();
    throw e;
  } finally {
    await net.close();
  }
}

/**
 * Whether any test of a vitest suite failed, for a network shared by a describe block:
 * `afterAll(({}, suite) => net.close({ failed: suiteFailed(suite) }))` (vitest wants the first
 * argument destructured).
 */
export function suiteFailed(suite: { result?: { state?: string }; tasks?: readonly unknown[] }): boolean {
  if (suite.result?.state === 'fail') return true;
  return (suite.tasks ?? []).some((t) => suiteFailed(t as { result?: { state?: string }; tasks?: readonly unknown[] }));
}
