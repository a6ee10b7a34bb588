// Callers settle in the order the engine settles them, rejections included. A caller's promise
// keeps only its resolve function, so a rejection arrives one promise job later (through a
// thenable); every settle after it in that job waits the same job, so nothing overtakes it.
import assert from "node:assert/strict";
import { echo, open, test } from "./_helpers.mjs";

/** Adds `items`, logging each caller's outcome in the order the handlers run. */
function addAll(b, items, log) {
  return items.map((x) => b.add(x).then((v) => log.push(`${x} ok ${v}`), (e) => log.push(`${x} ${e.code ?? e.message}`)));
}

test("settle order: a batch with item errors among values settles its callers in item order", async (t) => {
  const b = open(t, { maxBatchSize: 6, maxWaitMs: 0, transport: (batch) => batch.items.map((x) => (x % 3 === 1 ? new Error(`bad ${x}`) : echo(x))) });
  const log = [];
  await Promise.all(addAll(b, [0, 1, 2, 3, 4, 5], log));
  assert.deepEqual(log, ["0 ok r:0", "1 bad 1", "2 ok r:2", "3 ok r:3", "4 bad 4", "5 ok r:5"]);
});

test("settle order: a failed call's callers settle before those of a call that succeeded after it", async (t) => {
  // Synchronous transport, batches of 2: the first call throws, the next two succeed, all in one job.
  const b = open(t, { maxBatchSize: 2, maxWaitMs: 0, retry: { maxAttempts: 1 }, transport: (batch) => {
    if (batch.items.includes("a")) throw new Error("down");
    return batch.items.map(echo);
  } });
  const log = [];
  await Promise.all(addAll(b, ["a", "b", "c", "d", "e", "f"], log));
  assert.deepEqual(log, ["a E_TRANSPORT", "b E_TRANSPORT", "c ok r:c", "d ok r:d", "e ok r:e", "f ok r:f"]);
});

test("settle order: flush() and close() resolve after the rejections they waited for", async (t) => {
  const b = open(t, { maxWaitMs: 60_000, retry: { maxAttempts: 1 }, transport: () => {
    throw new Error("down");
  } });
  const log = [];
  const adds = addAll(b, ["a", "b"], log);
  await b.flush();
  log.push("flushed");
  addAll(b, ["c"], log);
  await b.close();
  log.push("closed");
  await Promise.all(adds);
  assert.deepEqual(log, ["a E_TRANSPORT", "b E_TRANSPORT", "flushed", "c E_TRANSPORT", "closed"]);
});

test("settle order: after the engine is freed, close(), flush() and a refused add still settle after the rejections before them", async (t) => {
  const b = open(t, { maxWaitMs: 60_000, transport: (batch) => batch.items.map(() => new Error("bad")) });
  const log = [];
  const adds = addAll(b, ["a", "b"], log);
  // A synchronous transport: close() makes the call, the items fail and the engine is freed
  // before close() returns; the items' rejections are still a promise job away.
  const closes = [b.close().then(() => log.push("closed"))];
  assert.equal(b.stats().queued, 0);
  closes.push(b.close().then(() => log.push("closed again")), b.flush().then(() => log.push("flushed")),
    b.add("late").catch((e) => log.push(`refused ${e.code}`)));
  await Promise.all([...adds, ...closes]);
  assert.deepEqual(log, ["a bad", "b bad", "closed", "closed again", "flushed", "refused E_CLOSED"]);
});

test("settle order: an item aborted in flight rejects in the first promise job after abort(), as a reject call would", async (t) => {
  // The call hangs until its batch.signal aborts (every item of it aborted).
  const b = open(t, { maxWaitMs: 0, transport: (batch) => new Promise((resolve, reject) => {
    batch.signal.addEventListener("abort", () => reject(batch.signal.reason));
  }) });
  const controller = new AbortController();
  let state = "pending";
  b.add("a", { signal: controller.signal }).catch((e) => (state = e.code));
  await new Promise((resolve) => setTimeout(resolve, 5)); // sent, its call hanging
  assert.equal(b.stats().inFlightItems, 1);
  controller.abort();
  await null;
  assert.equal(state, "E_ABORTED");
});
