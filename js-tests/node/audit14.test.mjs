// The fourteenth audit from outside: the contract in the runtimes other than Node (workerd,
// browser workers, Deno, Bun), probed there; the runtime checks are in js-tests/runtimes/. These
// tests rebuild the two workerd conditions in Node: core.cjs loaded in a vm context whose globals
// are workerd's (no process, WebSocketPair) or a bare host's, and a setTimeout that throws
// (workerd's global scope).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import vm from "node:vm";
import { Batcher, test, macrotask } from "./_helpers.mjs";

const require = createRequire(import.meta.url);
const pkgDir = require.resolve("hyperbatch/package.json").replace(/package\.json$/, "");

/** core.cjs evaluated in a context with no `process`, no `document`, and `globals`. */
function coreIn(globals) {
  const sandbox = {
    setTimeout, clearTimeout, queueMicrotask, performance, TextEncoder, AbortController, AbortSignal, EventTarget,
    module: { exports: {} }, ...globals,
  };
  vm.runInNewContext(readFileSync(`${pkgDir}core.cjs`, "utf8"), sandbox);
  const core = sandbox.module.exports;
  core.loadSync(readFileSync(`${pkgDir}hyperbatch_bg.wasm`));
  return core;
}

/** Node's MessageChannel, counted: one made in Node keeps the process alive while it listens. */
let channels = 0;
class CountedChannel extends MessageChannel {
  constructor() {
    super();
    channels++;
    this.port1.unref();
  }
}

const HOSTS = [
  // workerd: a WebSocketPair; its MessageChannel delivers before the promise jobs
  ["workerd", { WebSocketPair: function WebSocketPair() {}, MessageChannel: CountedChannel }],
  // a host with none of nextTick, document or self, but a MessageChannel (a test that removed
  // process.nextTick, as DataLoader's own browser tests do): a listening channel kept Node alive
  ["a bare host", { MessageChannel: CountedChannel }],
];

// workerd has no process.nextTick (without nodejs_compat; with it, nextTick is a microtask), and
// its MessageChannel delivers before the promise jobs: the face fell back to a microtask there, so
// three adds one promise job apart went out as three calls where every other runtime sends one.
for (const [host, globals] of HOSTS) test(`audit14: in ${host} (no process, no document) maxWaitMs 0 and adaptive: adds in later promise jobs of the tick join the batch, on the one timer`, async () => {
  const { Batcher: WorkerdBatcher } = coreIn(globals);
  channels = 0;
  for (const options of [{ maxWaitMs: 0 }, { adaptive: true, maxWaitMs: 60_000 }]) {
    const calls = [];
    const b = new WorkerdBatcher({ ...options, transport: (batch) => (calls.push([...batch.items]), batch.items) });
    const ps = [b.add(1)];
    await Promise.resolve();
    ps.push(b.add(2));
    await Promise.resolve().then(() => {}).then(() => {});
    ps.push(b.add(3));
    assert.deepEqual(calls, [], "nothing is sent while the tick's promise jobs run");
    assert.deepEqual(await Promise.all(ps), [1, 2, 3]);
    assert.deepEqual(calls, [[1, 2, 3]], JSON.stringify(options));
    await b.close();
  }
  assert.equal(channels, 0, "no MessageChannel: the turn's end is the batcher's timer");
});

// workerd throws from setTimeout at global scope. The face recorded the wake-up as armed before
// calling it, so that batcher never armed a timer again: every item hung.
test("audit14: a host that refuses the timer once (setTimeout throws, as workerd's at global scope): the next turn of adds arms it; nothing hangs", async () => {
  const real = globalThis.setTimeout;
  let refused = 0;
  const b = new Batcher({ maxWaitMs: 5, transport: async (batch) => batch.items.map((x) => x * 2) });
  globalThis.setTimeout = () => {
    refused++;
    throw new Error("Disallowed operation called within global scope");
  };
  let first;
  try {
    first = b.add(1);
    await macrotask(); // the add's turn ends: its handover arms (tries to arm) the window's timer
  } finally {
    globalThis.setTimeout = real;
  }
  assert.equal(refused, 1, "the batcher asked for its timer");
  assert.deepEqual(await Promise.all([first, b.add(2)]), [2, 4]);
  assert.equal(b.stats().queued, 0);
  await b.close();
});
