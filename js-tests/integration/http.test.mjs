// hyperbatch over real HTTP: the fetch transports of examples/node/ against the loopback batch
// server of examples/server/ (127.0.0.1, port 0). Faults are switched on per request with the
// server's x-fault-* headers, usually on the first attempt only, so each test is deterministic.
// Every test closes its batchers and servers, so `node --test js-tests/integration/` exits alone.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher } from "hyperbatch";
import { domainOf, DEFAULT_DOMAINS, startCluster, startServer } from "../../examples/server/server.mjs";
import {
  batchWriteTransport,
  ClaimRouter,
  claimsTransport,
  fetchTopology,
  HttpError,
  ItemError,
  reserveCompleteTransport,
  reserveOrComplete,
  ulid,
} from "../../examples/node/transports.mjs";

const KEY = "it:units";
const LONG = 60_000; // a maxWaitMs that never fires: batches form by size or flush()
const FAST = { baseDelayMs: 5, maxDelayMs: 50 }; // quick retries for tests
const T = { timeout: 10_000 };

const reserve = (lease_id = ulid(), amount = 1, key = KEY) => ({
  lease_id,
  job_id: `job-${lease_id.slice(-4)}`,
  requirements: [{ key, amount }],
});
const complete = (lease_id, amount = 1) => ({
  lease_id,
  job_id: "job",
  actuals: [{ key: KEY, actual_amount: amount }],
});

async function server(t, opts = {}) {
  // A window far longer than a run: usage checks never straddle a window boundary.
  const s = await startServer({ limits: { [KEY]: { capacity: 1000, windowMs: 2 ** 31 } }, ...opts });
  t.after(() => s.close());
  return s;
}

function batcher(t, options) {
  const b = new Batcher(options);
  t.after(() => b.close());
  return b;
}

/** Settles every promise; returns their PromiseSettledResult, in order. */
const settle = (promises) => Promise.allSettled(promises);

const requests = (s, path) => s.state.counters.requests[path] ?? 0;

test("a partially failed reserve batch resolves the good items, rejects the bad ones with the server's message", T, async (t) => {
  const s = await server(t);
  const b = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url }),
    keyOf: reserveOrComplete,
    maxBatchSize: 5,
    maxWaitMs: LONG,
  });
  const good = [reserve(), reserve(), reserve()];
  const invalid = { lease_id: "not-a-ulid", requirements: [{ key: KEY, amount: 1 }] };
  const unknownKey = reserve(ulid(), 1, "no:such:limit");
  const out = await settle([b.add(good[0]), b.add(invalid), b.add(good[1]), b.add(unknownKey), b.add(good[2])]);

  assert.equal(requests(s, "/v1/reserve/batch"), 1, "one HTTP request for the five items");
  for (const i of [0, 2, 4]) {
    assert.equal(out[i].status, "fulfilled");
    assert.equal(out[i].value.allowed, true);
    assert.equal(typeof out[i].value.reserved_at_unix_ms, "number");
    assert.equal(out[i].value.lease_id, good[i / 2].lease_id, "each caller gets its own item's answer");
  }
  const [bad1, bad2] = [out[1].reason, out[3].reason];
  assert.ok(bad1 instanceof ItemError, "the transport's item error reaches the caller as is");
  assert.equal(bad1.code, "invalid_request");
  assert.match(bad1.message, /invalid_request/);
  assert.equal(bad1.retryable, false);
  assert.equal(bad2.code, "unknown_limit_key");
  assert.match(bad2.message, new RegExp(`reserve ${unknownKey.lease_id}: unknown_limit_key`));
  assert.equal(requests(s, "/v1/reserve/batch"), 1, "non-retryable item errors are not resent");

  // Only the good leases were reserved, once each.
  assert.deepEqual([...s.state.reservations.keys()].sort(), good.map((r) => r.lease_id).sort());
  assert.equal(s.state.usage(KEY), 3);

  // Completes ride the same batcher under their own key (and endpoint): an unknown lease fails alone.
  const stranger = ulid();
  const pending = settle([b.add(complete(good[0].lease_id)), b.add(complete(stranger))]);
  await b.flush(); // two items in a queue of five: flush() sends them now
  const done = await pending;
  assert.equal(requests(s, "/v1/complete/batch"), 1);
  assert.deepEqual(done[0], { status: "fulfilled", value: { ok: true, error: "", lease_id: good[0].lease_id } });
  assert.equal(done[1].reason.code, "unknown_lease");
  assert.match(done[1].reason.message, new RegExp(`complete ${stranger}: unknown_lease`));
  assert.ok(s.state.completions.has(good[0].lease_id));
  assert.equal(s.state.completions.size, 1);
});

test("a reservation denied with retry_after_ms is retried after the hint and then granted", T, async (t) => {
  const s = await server(t, { limits: { [KEY]: { capacity: 2, windowMs: 300 } } });
  const ends = [];
  const b = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url }),
    keyOf: reserveOrComplete,
    maxBatchSize: 4,
    maxWaitMs: LONG,
    retry: { ...FAST, maxAttempts: 5 },
    onBatchEnd: (info) => ends.push(info),
  });
  const items = [reserve(), reserve(), reserve(), reserve()];
  const out = await Promise.all(items.map((r) => b.add(r)));
  assert.ok(out.every((r) => r.allowed === true));
  assert.equal(ends[0].succeeded, 2, "first call: 2 granted, 2 denied and re-queued");
  // The denied two waited for retry_after_ms (the end of the window) and got the next window.
  const windowOf = (r) => Math.floor(r.reserved_at_unix_ms / 300);
  assert.equal(windowOf(out[0]), windowOf(out[1]));
  assert.ok(windowOf(out[2]) > windowOf(out[0]) && windowOf(out[3]) > windowOf(out[0]));
  assert.equal(s.state.reservations.size, 4);
  assert.ok(b.stats().retries >= 2);
});

test("a poison item (HTTP 400) is isolated by bisect and fails alone with the server's message", T, async (t) => {
  const poison = ulid();
  const s = await server(t, { faults: { poison: [poison] } });
  const b = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url }),
    keyOf: reserveOrComplete,
    maxBatchSize: 8,
    maxWaitMs: LONG,
    retry: FAST,
  });
  const items = Array.from({ length: 8 }, (_, i) => reserve(i === 5 ? poison : ulid()));
  const out = await settle(items.map((r) => b.add(r)));

  for (const [i, o] of out.entries()) {
    if (i === 5) continue;
    assert.equal(o.status, "fulfilled", `item ${i}`);
    assert.equal(o.value.allowed, true);
  }
  const err = out[5].reason;
  assert.equal(err.code, "E_TRANSPORT");
  assert.ok(err.cause instanceof HttpError);
  assert.equal(err.cause.status, 400);
  assert.equal(err.cause.serverError, `injected fault: poison item "${poison}" (x-fault-poison)`);
  assert.match(err.message, /HTTP 400: injected fault: poison item/, "the caller sees the server's message");
  assert.ok(b.stats().bisects >= 3, "8 → 4 → 2 → 1");
  assert.equal(s.state.reservations.size, 7);
  assert.ok(!s.state.reservations.has(poison));
});

test("a batch over the server's limits (400 too many items, 413) is split until it fits", T, async (t) => {
  // maxBatch 4 → 400 for 5..8 items; 413 above 2 (header) on every call of the second batcher.
  const s = await server(t, { maxBatch: 4 });
  const b = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url }),
    keyOf: reserveOrComplete,
    maxBatchSize: 8,
    maxWaitMs: LONG,
    retry: FAST,
  });
  const out = await Promise.all(Array.from({ length: 8 }, () => b.add(reserve())));
  assert.ok(out.every((r) => r.allowed));
  assert.equal(b.stats().bisects, 1);
  assert.equal(requests(s, "/v1/reserve/batch"), 3, "8 (400), then 4 + 4");

  const small = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url, headers: { "x-fault-413-above": "2" } }),
    keyOf: reserveOrComplete,
    maxBatchSize: 4,
    maxWaitMs: LONG,
    retry: FAST,
  });
  const more = await Promise.all(Array.from({ length: 4 }, () => small.add(reserve())));
  assert.ok(more.every((r) => r.allowed));
  assert.equal(small.stats().bisects, 1);
  assert.equal(s.state.counters.faults["413"], 1);
  assert.equal(s.state.reservations.size, 12);
});

test("HTTP 429 with Retry-After is retried after the hint, then succeeds", T, async (t) => {
  const s = await server(t);
  const ends = [];
  const b = batcher(t, {
    // The first attempt gets a 429 with Retry-After: 1 (second); the resend is clean.
    transport: reserveCompleteTransport({
      baseUrl: s.url,
      headers: (batch) => (batch.attempt === 1 ? { "x-fault-429-rate": "1", "x-fault-retry-after-ms": "1000" } : {}),
    }),
    keyOf: reserveOrComplete,
    maxBatchSize: 3,
    maxWaitMs: LONG,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    onBatchEnd: (info) => ends.push(info),
  });
  const t0 = performance.now();
  const out = await Promise.all([b.add(reserve()), b.add(reserve()), b.add(reserve())]);
  const waited = performance.now() - t0;

  assert.ok(out.every((r) => r.allowed));
  assert.equal(requests(s, "/v1/reserve/batch"), 2);
  assert.equal(s.state.counters.faults["429"], 1);
  const first = ends[0].error;
  assert.ok(first instanceof HttpError);
  assert.equal(first.status, 429);
  assert.equal(first.retryAfterMs, 1000, "from the Retry-After header");
  assert.match(first.message, /HTTP 429: injected fault: too many requests/);
  assert.ok(waited >= 950, `the retry waited for Retry-After (${waited.toFixed(0)} ms)`);
  assert.equal(s.state.reservations.size, 3);
  assert.equal(b.stats().retries, 3);
});

test("HTTP 503 is retried; one that outlasts maxAttempts reaches the caller with the server's message", T, async (t) => {
  const s = await server(t);
  const b = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url, headers: { "x-fault-503-rate": "1" } }),
    keyOf: reserveOrComplete,
    maxBatchSize: 2,
    maxWaitMs: LONG,
    retry: { ...FAST, maxAttempts: 3 },
  });
  const out = await settle([b.add(reserve()), b.add(reserve())]);
  for (const o of out) {
    assert.equal(o.reason.code, "E_TRANSPORT");
    assert.equal(o.reason.attempts, 3);
    assert.equal(o.reason.cause.status, 503);
    assert.match(o.reason.message, /HTTP 503: injected fault: service unavailable/);
  }
  assert.equal(requests(s, "/v1/reserve/batch"), 3);
  assert.equal(s.state.reservations.size, 0);
});

test("atomic batch-write commits all or nothing", T, async (t) => {
  const s = await server(t);
  const b = batcher(t, {
    transport: batchWriteTransport({ baseUrl: s.url }),
    errorMode: "atomic",
    maxBatchSize: 5,
    maxWaitMs: LONG,
    retry: FAST,
  });
  const put = (key, table = "notes") => ({ put: { table, item: { category: "c", key, body: `v-${key}` } } });

  // A valid batch: every item gets the server's answer for its operation, and all are stored.
  const ok = await Promise.all(["a", "b", "c", "d", "e"].map((k) => b.add(put(k))));
  assert.deepEqual(
    ok.map(({ table, category, key }) => [table, category, key]),
    ["a", "b", "c", "d", "e"].map((k) => ["notes", "c", k]),
  );
  assert.deepEqual(
    s.state.tables.items("notes").map((i) => i.key),
    ["a", "b", "c", "d", "e"],
  );

  // One invalid operation: the server refuses the whole request; nothing of it is written, and
  // every item of the batch fails with the server's message (atomic mode never bisects).
  const ops = [
    put("f", "other"),
    put("g"),
    { put: { table: "notes", item: { category: "c" } } }, // no sort key: invalid
    put("h"),
    { delete: { table: "notes", partition_key: "c", sort_key: "a" } },
  ];
  const out = await settle(ops.map((op) => b.add(op)));
  for (const o of out) {
    assert.equal(o.status, "rejected");
    // A batch-level failure (the transport threw): E_TRANSPORT wrapping the HttpError.
    assert.equal(o.reason.code, "E_TRANSPORT");
    assert.equal(o.reason.attempts, 1, "a 400 is not retried, and atomic mode does not bisect");
    assert.ok(o.reason.cause instanceof HttpError);
    assert.equal(o.reason.cause.status, 400);
    assert.equal(o.reason.cause.serverError, "operations[2].put.item.key (sort key) must be a string or number");
    assert.match(o.reason.message, /HTTP 400: operations\[2\]\.put\.item\.key \(sort key\) must be/);
  }
  assert.equal(requests(s, "/v1/batch-write"), 2, "the refused batch was sent once, whole");
  assert.equal(b.stats().bisects, 0);
  assert.equal(s.state.tables.get("notes", "c", "g"), undefined);
  assert.equal(s.state.tables.get("other", "c", "f"), undefined);
  assert.ok(s.state.tables.get("notes", "c", "a"), "the delete in the refused batch did not run");
  assert.deepEqual(Object.keys(s.state.tables.toJSON()), ["notes"]);
});

test("claims go to their domain's instance; resolveKeys routes unknown domains via /v1/route", T, async (t) => {
  const cluster = await startCluster({ instances: 3 });
  t.after(() => cluster.close());
  const topology = await fetchTopology(cluster.urls[1]);
  assert.deepEqual(topology, cluster.topology);
  const router = new ClaimRouter(topology);
  const starts = [];
  const b = batcher(t, {
    transport: claimsTransport({ router }),
    keyOf: router.keyOf,
    resolveKeys: router.resolveKeys,
    maxWaitMs: 20,
    onBatchStart: (info) => starts.push(info),
  });

  const known = DEFAULT_DOMAINS.flatMap((domain, i) =>
    [0, 1].map((j) => ({ id: `k-${i}-${j}`, domain, text: `fact ${i}.${j}` })),
  );
  const unknown = [
    { id: "u-word", text: "prove this math lemma" }, // the first word naming a domain wins
    { id: "u-hash", text: "something without a domain word" }, // FNV-1a hash of the text
    { id: "u-other", domain: "astronomy", text: "a finance report about stars" }, // unknown domain
  ];
  const out = await Promise.all([...known, ...unknown].map((c) => b.add(c)));
  assert.ok(out.every((r) => r.ok === true));

  // Every claim is stored once, on the owner of its domain (the routed one for unknowns).
  const ownerOf = (d) => topology.find((i) => i.domains.includes(d)).url;
  for (const claim of [...known, ...unknown]) {
    const domain = known.includes(claim) ? claim.domain : domainOf(claim.text, DEFAULT_DOMAINS);
    const holders = cluster.instances.filter((s) => s.state.claims.has(claim.id));
    assert.equal(holders.length, 1, claim.id);
    assert.equal(holders[0].url, ownerOf(domain), `${claim.id} → ${domain}`);
    assert.equal(holders[0].state.claims.get(claim.id).domain, domain);
  }
  assert.equal(router.domainOf(unknown[0]), "math");
  assert.equal(router.domainOf(unknown[2]), "finance");

  // One route request for the three unknowns, and batches keyed by instance URL only.
  const routeCalls = cluster.instances.reduce((n, s) => n + requests(s, "/v1/route"), 0);
  assert.equal(routeCalls, 1);
  assert.ok(starts.every((info) => cluster.urls.includes(info.key)));
  for (const s of cluster.instances) {
    const n = requests(s, "/v1/claims");
    assert.ok(n >= 1 && n <= 2, `one batch per instance, plus one for routed claims (${n})`);
  }

  // A batcher keyed by domain works too: the transport sends each domain to its owner.
  const byDomain = batcher(t, { transport: claimsTransport({ router }), keyOf: (c) => c.domain, maxWaitMs: 5 });
  await Promise.all(DEFAULT_DOMAINS.map((d) => byDomain.add({ id: `d-${d}`, domain: d, text: d })));
  for (const d of DEFAULT_DOMAINS) {
    assert.ok(cluster.instances.find((s) => s.url === ownerOf(d)).state.claims.has(`d-${d}`));
  }
});

test("a claim sent to the wrong instance fails alone with wrong_instance and its owner", T, async (t) => {
  const cluster = await startCluster({ instances: 3 });
  t.after(() => cluster.close());
  const router = new ClaimRouter(cluster.topology);
  const b = batcher(t, { transport: claimsTransport({ router }), maxBatchSize: 2, maxWaitMs: LONG });
  const home = cluster.topology[0];
  const other = cluster.topology[1];
  // Both claims forced onto instance 0: the one owned elsewhere is refused; its batchmate stored.
  const out = await settle([
    b.add({ id: "mine", domain: home.domains[0], text: "x" }, { key: home.url }),
    b.add({ id: "theirs", domain: other.domains[0], text: "y" }, { key: home.url }),
  ]);
  assert.deepEqual(out[0], { status: "fulfilled", value: { ok: true, id: "mine", domain: home.domains[0] } });
  assert.equal(out[1].reason.code, "wrong_instance");
  assert.match(out[1].reason.message, new RegExp(`claim theirs: wrong_instance \\(owner ${other.url}\\)`));
  assert.ok(cluster.instances[0].state.claims.has("mine"));
  assert.ok(!cluster.instances.some((s) => s.state.claims.has("theirs")));
});

test("when /v1/route keeps failing, only the claims that needed it fail, with E_ROUTE", T, async (t) => {
  const cluster = await startCluster({ instances: 3 });
  t.after(() => cluster.close());
  // Routing requests always get a 503 (3 tries); claim batches are clean.
  const router = new ClaimRouter(cluster.topology, { attempts: 3, headers: { "x-fault-503-rate": "1" } });
  const b = batcher(t, {
    transport: claimsTransport({ router }),
    keyOf: router.keyOf,
    resolveKeys: router.resolveKeys,
    maxWaitMs: 5,
  });
  const out = await settle([
    b.add({ id: "known", domain: "science", text: "x" }),
    b.add({ id: "lost-1", text: "prove this math lemma" }),
    b.add({ id: "lost-2", text: "no domain at all" }),
  ]);
  assert.deepEqual(out[0], { status: "fulfilled", value: { ok: true, id: "known", domain: "science" } });
  for (const o of out.slice(1)) {
    assert.equal(o.reason.code, "E_ROUTE");
    assert.ok(o.reason.cause instanceof HttpError);
    assert.equal(o.reason.cause.status, 503);
    assert.match(o.reason.message, /resolveKeys failed: .*HTTP 503: injected fault: service unavailable/);
  }
  const routeCalls = cluster.instances.reduce((n, s) => n + requests(s, "/v1/route"), 0);
  assert.equal(routeCalls, 3, "one request per try, for both claims together");
  assert.equal(cluster.instances.reduce((n, s) => n + s.state.claims.size, 0), 1);
});

test("a dropped connection is retried without double writes", T, async (t) => {
  const s = await server(t);
  const cluster = await startCluster({ instances: 2 });
  t.after(() => cluster.close());
  // First attempt: the server does the work, then closes the socket (the answer is lost); the
  // second attempt drops the connection before any work; the third is clean.
  const faults = (batch) => {
    if (batch.attempt === 1) return { "x-fault-drop-after-rate": "1" };
    if (batch.attempt === 2) return { "x-fault-drop-rate": "1" };
    return {};
  };
  const errors = [];
  const onBatchEnd = (info) => info.error && errors.push(info.error);
  const retry = { ...FAST, maxAttempts: 4 };

  const rc = batcher(t, {
    transport: reserveCompleteTransport({ baseUrl: s.url, headers: faults }),
    keyOf: reserveOrComplete,
    maxBatchSize: 5,
    maxWaitMs: LONG,
    retry,
    onBatchEnd,
  });
  const leases = Array.from({ length: 5 }, () => reserve(ulid(), 2));
  const granted = await Promise.all(leases.map((r) => rc.add(r)));
  assert.ok(granted.every((r) => r.allowed));
  // The replayed answers are the original ones, and the units were charged once.
  const stored = leases.map((r) => s.state.reservations.get(r.lease_id).result);
  assert.deepEqual(granted, stored);
  assert.equal(s.state.usage(KEY), 10, "5 leases x 2 units, not charged again by the resend");
  assert.equal(s.state.counters.items["/v1/reserve/batch"], 10, "the work was done twice, idempotently");
  const completed = await Promise.all(leases.map((r) => rc.add(complete(r.lease_id, 2))));
  assert.ok(completed.every((r) => r.ok));
  assert.equal(s.state.completions.size, 5);
  assert.equal(s.state.usage(KEY), 10);

  const writes = batcher(t, {
    transport: batchWriteTransport({ baseUrl: s.url, headers: faults }),
    errorMode: "atomic",
    maxBatchSize: 3,
    maxWaitMs: LONG,
    retry,
    onBatchEnd,
  });
  const ops = ["x", "y", "z"].map((key) => ({ put: { table: "t", item: { category: "p", key } } }));
  const written = await Promise.all(ops.map((op) => writes.add(op)));
  assert.deepEqual(
    written.map((r) => r.key),
    ["x", "y", "z"],
  );
  assert.equal(s.state.tables.items("t").length, 3);

  const router = new ClaimRouter(cluster.topology);
  const claims = batcher(t, {
    transport: claimsTransport({ router, headers: faults }),
    keyOf: router.keyOf,
    maxWaitMs: 10,
    retry,
    onBatchEnd,
  });
  const list = ["code", "math", "science", "history"].map((d, i) => ({ id: `c${i}`, domain: d, text: d }));
  assert.ok((await Promise.all(list.map((c) => claims.add(c)))).every((r) => r.ok));
  const copies = cluster.instances.reduce((n, inst) => n + inst.state.claims.size, 0);
  assert.equal(copies, 4, "each claim stored once across the instances");

  // Every failed call was a network error: a plain Error without a status.
  assert.ok(errors.length >= 2 * 4, `${errors.length} dropped calls`);
  for (const err of errors) {
    assert.equal(err.status, undefined);
    assert.equal(err.code, "E_NETWORK");
    assert.match(err.message, /network error/);
  }
  assert.ok(s.state.counters.faults.drop_after >= 2 && s.state.counters.faults.drop >= 2);
});

test("a batch's timeout aborts its fetch (batch.signal) and the resend succeeds", T, async (t) => {
  const s = await server(t);
  const ends = [];
  const b = batcher(t, {
    transport: reserveCompleteTransport({
      baseUrl: s.url,
      headers: (batch) => (batch.attempt === 1 ? { "x-fault-latency-ms": "2000" } : {}),
    }),
    keyOf: reserveOrComplete,
    maxBatchSize: 2,
    maxWaitMs: LONG,
    timeoutMs: 150,
    retry: FAST,
    onBatchEnd: (info) => ends.push(info),
  });
  const t0 = performance.now();
  const out = await Promise.all([b.add(reserve()), b.add(reserve())]);
  assert.ok(out.every((r) => r.allowed));
  assert.ok(performance.now() - t0 < 1500, "did not wait for the slow answer");
  assert.equal(ends[0].error?.code, "E_TIMEOUT");
  assert.equal(ends[1].error, undefined);
  assert.equal(s.state.reservations.size, 2);
});
