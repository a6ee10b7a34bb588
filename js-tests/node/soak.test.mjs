// Soak — the contract "Guarantees": thousands of items through a randomized faulty transport.
// Invariant: every accepted item settles exactly once, with an outcome the contract allows;
// results map by position; FIFO per key on first sends; nothing is pending after close().
// Seeded: set HYPERBATCH_SOAK_SEED to replay (the seed of a failing run is in its message).
import assert from "node:assert/strict";
import { test, Batcher, httpError, macrotask, sleep } from "./_helpers.mjs";
import { createRandom } from "../../examples/server/faults.mjs";

const BASE_SEED = Number(process.env.HYPERBATCH_SOAK_SEED ?? 0x5eed);

// mulberry32, the same seedable PRNG the example server uses for its faults.
const mulberry32 = createRandom;

/**
 * Runs one soak scenario and checks every invariant. `options` are Batcher options (transport
 * and keyOf are supplied here).
 */
async function soak({ seed, count, keys, options }) {
  const rand = mulberry32(seed);
  const int = (n) => Math.floor(rand() * n);
  const mode = options.errorMode ?? "partial";
  const timeoutMs = options.timeoutMs;
  const problems = [];
  const problem = (msg) => problems.length < 25 && problems.push(msg);

  const calls = []; // every transport call in invocation order
  const thrown = new Set(); // batch-level errors the transport threw or rejected with
  const itemErrors = new Set(); // every item error object the transport returned
  const records = []; // one per add(), in arrival order
  const byItem = new Map(); // item value -> record
  const lateTimers = new Set();
  const faults = { threw: 0, hung: 0, garbage: 0, answered: 0 };

  const value = (item) => `v:${item.id}`;
  const batchError = (status) => {
    const e = httpError(status);
    thrown.add(e);
    return e;
  };

  const transport = (batch) => {
    const items = [...batch.items];
    const call = { index: calls.length, key: batch.key, items, attempt: batch.attempt, deadline: batch.deadline, wall: Date.now() };
    calls.push(call);
    // --- what the batcher sent
    if (items.length < 1 || items.length > (options.maxBatchSize ?? 100)) problem(`call ${call.index}: ${items.length} items`);
    if (new Set(items).size !== items.length) problem(`call ${call.index}: an item twice in one batch`);
    let firstSendsOnly = true;
    let minDeadline;
    let weight = 0;
    items.forEach((item, pos) => {
      const rec = byItem.get(item);
      if (!rec) return problem(`call ${call.index}: a value that was never added`);
      if (item.key !== batch.key) problem(`call ${call.index}: item ${item.id} of key ${item.key} sent under ${batch.key}`);
      if (rec.status !== "pending" && rec.settledAtCall <= call.index) problem(`item ${item.id} sent again after it settled`);
      if (rec.abortedAtCall !== undefined) problem(`item ${item.id} sent after its signal aborted`);
      // 50 ms of slack: the process may be descheduled between the batcher's check and this line
      if (rec.opts.deadline !== undefined && call.wall > rec.opts.deadline + 50) problem(`item ${item.id} sent ${call.wall - rec.opts.deadline} ms past its deadline`);
      if (rec.sends.length > 0) firstSendsOnly = false;
      rec.sends.push({ call: call.index, pos });
      if (rec.opts.deadline !== undefined) minDeadline = Math.min(minDeadline ?? Infinity, rec.opts.deadline);
      weight += item.w;
    });
    if (firstSendsOnly && batch.attempt !== 1) problem(`call ${call.index}: attempt ${batch.attempt} on a first send`);
    if (!(Number.isInteger(batch.attempt) && batch.attempt >= 1)) problem(`call ${call.index}: attempt ${batch.attempt}`);
    if (batch.deadline !== minDeadline) problem(`call ${call.index}: deadline ${batch.deadline}, expected ${minDeadline}`);
    if (options.maxBatchWeight && items.length > 1 && weight > options.maxBatchWeight) problem(`call ${call.index}: weight ${weight}`);

    // --- how the transport misbehaves this time
    if (items.some((x) => x.poison)) {
      // a poison item makes its whole batch fail with a 400 (-> bisect in partial mode)
      if (rand() < 0.5) throw batchError(400);
      return Promise.reject(batchError(422));
    }
    const r = rand();
    faults[r < 0.08 ? "threw" : r < 0.12 ? "hung" : r < 0.14 ? "garbage" : "answered"] += 1;
    if (r < 0.04) throw batchError(503); // synchronous throw
    if (r < 0.08) return Promise.reject(rand() < 0.5 ? batchError(500) : batchError(429));
    if (r < 0.10) return new Promise(() => {}); // hangs forever, past timeoutMs
    if (r < 0.12) {
      // answers long after timeoutMs: the answer must be ignored
      return new Promise((resolve) => {
        const h = setTimeout(() => {
          lateTimers.delete(h);
          resolve(rand() < 0.5 ? items.map((x) => `late:${x.id}`) : "late garbage");
        }, timeoutMs * 4 + int(40)); // far past the timeout, so a busy event loop cannot reorder them
        lateTimers.add(h);
      });
    }
    if (r < 0.14) {
      const garbage = [null, undefined, {}, "nope", 42, items.slice(1).map(value), [...items.map(value), "extra"]];
      return Promise.resolve(garbage[int(garbage.length)]);
    }
    const entries = items.map((item) => {
      const q = rand();
      if (q < 0.04) {
        const e = new Error(`item ${item.id} failed`);
        itemErrors.add(e);
        byItem.get(item).itemErrors.add(e);
        return e;
      }
      if (q < 0.09) {
        const e = Object.assign(new Error(`item ${item.id} busy`), { retryable: true });
        if (rand() < 0.3) e.retryAfterMs = int(5);
        itemErrors.add(e);
        byItem.get(item).itemErrors.add(e);
        return e;
      }
      return value(item);
    });
    const delay = int(6);
    return delay === 0 ? entries : sleep(delay).then(() => entries);
  };

  const b = new Batcher({ ...options, transport, keyOf: (x) => x.key });
  const started = performance.now();
  try {
    let seq = 0;
    while (seq < count) {
      const wave = 1 + int(40);
      for (let j = 0; j < wave && seq < count; j++, seq++) {
        const item = { id: seq, key: `k${int(keys)}`, w: 1 + int(8), poison: rand() < 0.01 };
        const opts = {};
        const rec = { item, seq, opts, status: "pending", settles: 0, sends: [], itemErrors: new Set() };
        const q = rand();
        if (q < 0.04) {
          const ac = new AbortController();
          opts.signal = ac.signal;
          setTimeout(() => {
            // from now on the item must never be (re)sent
            if (rec.status === "pending") rec.abortedAtCall = calls.length;
            ac.abort(new Error(`cancel ${item.id}`));
          }, int(30));
        } else if (q < 0.08) {
          opts.deadline = Date.now() + 5 + int(80);
        }
        records.push(rec);
        byItem.set(item, rec);
        const settle = (status, outcome) => {
          rec.settles += 1;
          if (rec.settles > 1) problem(`item ${item.id} settled twice`);
          rec.status = status;
          rec.outcome = outcome;
          rec.settledAtCall = calls.length;
          rec.settledWall = Date.now();
        };
        b.add(item, opts).then((v) => settle("fulfilled", v), (e) => settle("rejected", e));
      }
      if (rand() < 0.7) await sleep(int(3));
      else await macrotask();
    }
    await b.close();

    // --- nothing pending after close()
    const pending = records.filter((r) => r.status === "pending");
    assert.equal(pending.length, 0, `seed ${seed}: ${pending.length} promises still pending after close() (e.g. item ${pending[0]?.item.id})`);

    // --- each outcome is one the contract allows
    let fulfilled = 0;
    let rejected = 0;
    let notAccepted = 0;
    for (const rec of records) {
      const { item, outcome, sends } = rec;
      if (rec.status === "fulfilled") {
        fulfilled += 1;
        if (outcome !== value(item)) problem(`item ${item.id} resolved with ${JSON.stringify(outcome)} (position mix-up or late answer)`);
        if (sends.length === 0) problem(`item ${item.id} resolved without being sent`);
        continue;
      }
      rejected += 1;
      const e = outcome;
      if (rec.itemErrors.has(e)) continue; // its own item error, the same object
      if (itemErrors.has(e)) {
        problem(`item ${item.id} got another item's error`);
        continue;
      }
      if (!(e instanceof Error) || typeof e.code !== "string") {
        problem(`item ${item.id} rejected with a non-library value ${String(e)}`);
        continue;
      }
      switch (e.code) {
        case "E_ABORTED":
          if (!rec.opts.signal) problem(`item ${item.id}: E_ABORTED without a signal`);
          else if (e.name !== "AbortError" || e.cause !== rec.opts.signal.reason) problem(`item ${item.id}: bad E_ABORTED`);
          break;
        case "E_DEADLINE":
          if (rec.opts.deadline === undefined) problem(`item ${item.id}: E_DEADLINE without a deadline`);
          else if (rec.settledWall < rec.opts.deadline - 5) problem(`item ${item.id}: E_DEADLINE ${rec.opts.deadline - rec.settledWall} ms early`);
          break;
        case "E_TRANSPORT":
          if (!thrown.has(e.cause)) problem(`item ${item.id}: E_TRANSPORT cause is not a transport error`);
          if (!(Number.isInteger(e.attempts) && e.attempts >= 1)) problem(`item ${item.id}: attempts ${e.attempts}`);
          if (sends.length === 0) problem(`item ${item.id}: E_TRANSPORT but never sent`);
          break;
        case "E_TIMEOUT":
        case "E_RESULT_SHAPE":
          if (sends.length === 0) problem(`item ${item.id}: ${e.code} but never sent`);
          break;
        case "E_FAIL_FAST":
          if (mode !== "fail_fast") problem(`item ${item.id}: E_FAIL_FAST in ${mode} mode`);
          else if (!itemErrors.has(e.cause)) problem(`item ${item.id}: E_FAIL_FAST cause is not an item error`);
          break;
        case "E_ATOMIC":
          if (mode !== "atomic") problem(`item ${item.id}: E_ATOMIC in ${mode} mode`);
          else if (!itemErrors.has(e.cause)) problem(`item ${item.id}: E_ATOMIC cause is not an item error`);
          break;
        case "E_CLOSED":
          // only an add still waiting for room (whenFull "wait") when close() began
          if (options.whenFull !== "wait" || sends.length > 0) problem(`item ${item.id}: unexpected E_CLOSED`);
          notAccepted += 1;
          break;
        default:
          problem(`item ${item.id}: unexpected ${e.code}: ${e.message}`);
      }
    }

    // --- FIFO per key on first sends
    const lastFirstSend = new Map();
    for (const rec of records) {
      if (rec.sends.length === 0) continue;
      const { call, pos } = rec.sends[0];
      const prev = lastFirstSend.get(rec.item.key);
      if (prev && (call < prev.call || (call === prev.call && pos < prev.pos))) {
        problem(`FIFO: item ${rec.item.id} of ${rec.item.key} was first sent before item ${prev.id}, which arrived earlier`);
      }
      lastFirstSend.set(rec.item.key, { call, pos, id: rec.item.id });
    }

    // --- stats agree with what the callers saw. Contract silent: an add that was aborted or
    // expired while it waited for room (whenFull "wait") may or may not count as accepted.
    const maybeAccepted = options.whenFull === "wait"
      ? records.filter((r) => r.sends.length === 0 && ["E_ABORTED", "E_DEADLINE"].includes(r.outcome?.code)).length
      : 0;
    const s = b.stats();
    const got = {
      queued: s.queued, inFlightBatches: s.inFlightBatches, inFlightItems: s.inFlightItems,
      batches: s.batches, succeeded: s.succeeded, settled: s.succeeded + s.failed,
    };
    assert.deepEqual(got, {
      queued: 0, inFlightBatches: 0, inFlightItems: 0, batches: calls.length, succeeded: fulfilled,
      settled: s.items,
    }, `seed ${seed}: stats (every accepted item settled: items = succeeded + failed)`);
    const accepted = records.length - notAccepted;
    assert.ok(s.items <= accepted && s.items >= accepted - maybeAccepted, `seed ${seed}: stats.items ${s.items}, expected ${accepted - maybeAccepted}..${accepted}`);
    assert.ok(s.failed <= rejected - notAccepted, `seed ${seed}: stats.failed ${s.failed} > ${rejected - notAccepted} rejections`);

    assert.deepEqual(problems, [], `seed ${seed}: contract violations`);
    // Sanity: the run really exercised the faults it claims to, and still got work done.
    assert.ok(faults.threw > 0 && faults.hung + faults.garbage > 0 && faults.answered > 0, `seed ${seed}: faults ${JSON.stringify(faults)}`);
    assert.ok(fulfilled > count * 0.1, `seed ${seed}: only ${fulfilled} of ${count} succeeded`);
  } finally {
    await b.close();
    // late answers arrive after close(): they must be harmless (no throw, no unhandled rejection)
    while (lateTimers.size > 0) await sleep(5);
    await sleep(10);
  }
  return performance.now() - started;
}

const RETRY = { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 4, jitter: "full" };

test("soak: partial mode, bisect, default budget — 3000 items over 6 keys", { timeout: 60_000 }, async () => {
  await soak({
    seed: BASE_SEED,
    count: 3000,
    keys: 6,
    options: { maxBatchSize: 16, maxWaitMs: 3, maxInFlight: 6, timeoutMs: 25, retry: RETRY },
  });
});

test("soak: partial mode, maxWaitMs 0, maxInFlightPerKey 1, no budget — 2000 items", { timeout: 60_000 }, async () => {
  await soak({
    seed: BASE_SEED + 1,
    count: 2000,
    keys: 4,
    options: { maxBatchSize: 12, maxWaitMs: 0, maxInFlightPerKey: 1, timeoutMs: 25, retry: { ...RETRY, budget: false } },
  });
});

test("soak: fail_fast mode with a weight cap — 1500 items", { timeout: 60_000 }, async () => {
  await soak({
    seed: BASE_SEED + 2,
    count: 1500,
    keys: 5,
    options: {
      errorMode: "fail_fast", maxBatchSize: 20, maxBatchWeight: 40, weigh: (x) => x.w,
      maxWaitMs: 4, timeoutMs: 25, retry: { ...RETRY, jitter: "equal" },
    },
  });
});

test('soak: atomic mode with whenFull "wait" (maxQueued 48) — 1500 items', { timeout: 60_000 }, async () => {
  await soak({
    seed: BASE_SEED + 3,
    count: 1500,
    keys: 3,
    options: {
      errorMode: "atomic", maxBatchSize: 10, maxWaitMs: 2, maxQueued: 48, whenFull: "wait",
      timeoutMs: 25, retry: { ...RETRY, jitter: "none", maxAttempts: 4 },
    },
  });
});
