/**
 * The last line of cleanup: what a test network holds (its stack, the PIDs of its peers, its
 * namespace, its subnet lock, its capture) is registered here while it lives, and released
 * synchronously if the process ends with the network still open: at 'exit' (also after an
 * uncaught exception, or a runner that calls process.exit after a timeout) and on SIGINT,
 * SIGTERM and SIGHUP. What even this cannot catch (SIGKILL) is left to the parent-death signal
 * of the peers and to the sweep of stale namespaces by the next test process.
 */

/** A live network's synchronous release; the argument says why (for the capture's message). */
export type EmergencyRelease = (why: string) => void;

const live = new Set<EmergencyRelease>();
let installed = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function releaseAll(why: string): void {
  for (const r of [...live]) {
    live.delete(r);
    try {
      r(why);
    } catch {
      // the others still get their turn
    }
  }
}

function onSignal(sig: NodeJS.Signals): void {
  // With no other listener, the signal's default (ending the process) was ours to suppress by
  // listening: give it back and deliver the signal again. Others listening decide themselves.
  // (Counted first: the releases unregister, and the last one takes our listeners away.)
  const alone = process.listenerCount(sig) === 1;
  releaseAll(sig);
  if (alone) {
    uninstall();
    process.kill(process.pid, sig);
  }
}

const onExit = () => releaseAll('exit');

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Register a live network's release; returns the function that unregisters it (after a normal close). */
export function registerLive(release: EmergencyRelease): () => void {
  live.add(release);
  install();
  return () => {
    live.delete(release);
    // No listeners left behind when nothing is live: the runner's own signal handling is untouched.
    if (live.size === 0) uninstall();
  };
}
