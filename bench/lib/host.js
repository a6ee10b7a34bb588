// What each runtime's driver hands to runSuite, built the same way everywhere.
import { facadeSample, runSuite } from "./suite.js";

/** Resolves from a new macrotask: setImmediate where there is one, else a MessageChannel message. */
function makeFreshTask() {
  if (typeof setImmediate === "function") return () => new Promise((r) => setImmediate(r));
  const ch = new MessageChannel();
  const waiting = [];
  ch.port1.onmessage = () => waiting.shift()();
  return () =>
    new Promise((r) => {
      waiting.push(r);
      ch.port2.postMessage(0);
    });
}

/**
 * Loads hyperbatch from `config.entry` and `config.dataloaderEntry` (this runtime's entries of the
 * package under test, chosen by run.mjs) and the bundled peers from `config.peers`, then runs the
 * suite, or one sample of the facade section when `config.facade` names it ({ workload,
 * contender }). `gc` is the runtime's forced collection, if exposed; `threadMs` (Chromium) resolves
 * with the main thread's CPU time in ms.
 */
export async function main(config, { runtime, gc, threadMs, log }) {
  const [{ Batcher }, { default: HyperDataLoader }, peers] = await Promise.all([
    import(config.entry),
    import(config.dataloaderEntry),
    import(config.peers),
  ]);
  const host = { runtime, now: () => performance.now(), freshTask: makeFreshTask(), gc, threadMs, log };
  const libs = { Batcher, HyperDataLoader, ...peers };
  if (config.facade) return facadeSample(libs, host, { quick: config.quick, ...config.facade });
  return runSuite(libs, host, config);
}
