// Deadlines (the contract "Precise semantics": Abort and deadline, Deadline-aware dispatch,
// batch.deadline). A batcher with one plain queue records deadline adds as it records plain
// adds, the adds of one deadline together: these tests mix deadlines, plain adds and turns so
// that each rule holds for items recorded that way too.
import assert from "node:assert/strict";
import { test, LONG, assertCode, assertStats, deferred, echo, open, recorder, settled, sleep, track, waitFor } from "./_helpers.mjs";

/** A transport whose calls wait for `gate`. */
function gated() {
  const gate = deferred();
  return { gate, ...recorder((batch) => gate.promise.then(() => batch.items.map(echo))) };
}

test("deadlines and plain adds in one turn: one call, in add order, batch.deadline the earliest", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  const t0 = Date.now();
  const plan = [["a", t0 + 5000], ["b", t0 + 5000], ["c", undefined], ["d", t0 + 3000], ["e", t0 + 5000], ["f", undefined]];
  const ps = plan.map(([x, deadline]) => track(b.add(x, deadline === undefined ? undefined : { deadline })));
  await waitFor(() => ps.every(settled), "every item");
  assert.deepEqual(calls.map((c) => c.items), [["a", "b", "c", "d", "e", "f"]]);
  assert.ok(Math.abs(calls[0].deadline - (t0 + 3000)) < 2, `batch.deadline ${calls[0].deadline - t0} ms after t0, not 3000`);
  assert.deepEqual(ps.map((p) => p.value), ["r:a", "r:b", "r:c", "r:d", "r:e", "r:f"]);
  await b.close();
});

test("a queued deadline passes while its key's call is out: E_DEADLINE, never sent", async (t) => {
  const { gate, calls, transport } = gated();
  const b = open(t, { transport, maxWaitMs: 0, maxInFlightPerKey: 1 });
  const first = track(b.add("first"));
  await waitFor(() => calls.length === 1, "the first call");
  const deadline = Date.now() + 40;
  const late = ["x", "y", "z"].map((x) => track(b.add(x, { deadline })));
  const kept = track(b.add("kept", { deadline: Date.now() + LONG }));
  await waitFor(() => late.every(settled), "the deadlines", 2000);
  for (const p of late) assertCode(p.reason, "E_DEADLINE");
  assert.equal(settled(kept), false);
  gate.resolve();
  await waitFor(() => settled(first) && settled(kept), "the rest");
  assert.deepEqual(calls.map((c) => c.items), [["first"], ["kept"]], "the expired items were never sent");
  assert.equal(kept.value, "r:kept");
  assertStats(b, { failed: 3, succeeded: 2 });
  await b.close();
});

test("a deadline that passes in flight rejects those items at once; their batchmates succeed", async (t) => {
  const { gate, calls, transport } = gated();
  const b = open(t, { transport, maxWaitMs: 0 });
  const deadline = Date.now() + 40;
  const soon = ["a", "b"].map((x) => track(b.add(x, { deadline })));
  const later = ["c", "d"].map((x) => track(b.add(x, { deadline: Date.now() + LONG })));
  const plain = track(b.add("e"));
  await waitFor(() => calls.length === 1, "the call");
  assert.deepEqual(calls[0].items, ["a", "b", "c", "d", "e"]);
  await waitFor(() => soon.every(settled), "the early deadline", 2000);
  for (const p of soon) assertCode(p.reason, "E_DEADLINE");
  assert.ok(!later.some(settled) && !settled(plain), "the others still wait for the call");
  assert.equal(calls[0].signal.aborted, false, "someone still waits for the call");
  gate.resolve();
  await waitFor(() => [...later, plain].every(settled), "the call's end");
  assert.deepEqual([...later, plain].map((p) => p.value), ["r:c", "r:d", "r:e"]);
  await b.close();
});

test("deadline adds in several turns and across flushes keep their order and their deadlines", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: LONG, maxBatchSize: 4 });
  const t0 = Date.now();
  const ps = [];
  for (let turn = 0; turn < 3; turn++) {
    for (let i = 0; i < 3; i++) ps.push(track(b.add(`${turn}${i}`, { deadline: t0 + 10_000 + 1000 * i })));
    await sleep(1);
  }
  await b.flush();
  await waitFor(() => ps.every(settled), "every item");
  assert.deepEqual(calls.flatMap((c) => c.items), ["00", "01", "02", "10", "11", "12", "20", "21", "22"]);
  for (const c of calls) {
    const earliest = 10_000 + 1000 * Math.min(...c.items.map((x) => Number(x[1])));
    assert.ok(Math.abs(c.deadline - t0 - earliest) < 2, `call ${c.items}: deadline ${c.deadline - t0}, want ${earliest}`);
  }
  await b.close();
});

test("a deadline add reads each option once and still refuses unknown names and bad values", async (t) => {
  const { transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  let reads = 0;
  const opts = {
    get deadline() {
      reads++;
      return Date.now() + LONG;
    },
  };
  const p = track(b.add("a", opts));
  assert.equal(reads, 1);
  const typo = track(b.add("b", { deadline: Date.now() + LONG, deadLine: 1 }));
  const bad = track(b.add("c", { deadline: "soon" }));
  const past = track(b.add("d", { deadline: Date.now() - 1000 }));
  await waitFor(() => [p, typo, bad, past].every(settled), "every add");
  assert.equal(p.value, "r:a");
  assertCode(typo.reason, "E_CONFIG");
  assert.match(typo.reason.message, /deadLine/);
  assertCode(bad.reason, "E_CONFIG");
  assertCode(past.reason, "E_DEADLINE");
  await b.close();
});

test("order across keys: deadline adds recorded in bulk keep their place among keyed adds of the turn", async (t) => {
  // maxInFlight 1: the calls go one at a time, oldest first; the deadline adds (the default
  // queue) came between a's and b's items, so they go between them.
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0, maxInFlight: 1 });
  const deadline = Date.now() + LONG;
  const ps = [
    track(b.add("a1", { key: "a" })),
    ...["d1", "d2", "d3"].map((x) => track(b.add(x, { deadline }))),
    track(b.add("b1", { key: "b" })),
    track(b.add("a2", { key: "a" })),
  ];
  await waitFor(() => ps.every(settled), "every item");
  assert.deepEqual(calls.map((c) => c.items), [["a1", "a2"], ["d1", "d2", "d3"], ["b1"]]);
  assert.ok(calls[1].deadline !== undefined && calls[0].deadline === undefined && calls[2].deadline === undefined);
  await b.close();
});

test("a deadline with another option is not recorded as a plain add: its key, weight and signal hold", async (t) => {
  // Session 11 mutation pass: any of add()'s checks for a deadline-only add dropped (a key,
  // weight or signal then ignored) left every other test green. One aborted item per batcher:
  // cancelling a queued item sends the rest of its queue at once (see the README's session 11).
  for (const withDeadline of [true, false]) {
    const { calls, transport } = recorder();
    const b = open(t, { transport, maxWaitMs: 0, maxBatchWeight: 4 });
    const deadline = Date.now() + LONG;
    const ac = new AbortController();
    const keyed = track(b.add("k", { deadline, key: "kk" }));
    const heavy = track(b.add("w", { deadline, weight: 5 }));
    const aborted = track(b.add("s", withDeadline ? { deadline, signal: ac.signal } : { signal: ac.signal }));
    const plain = track(b.add("d", { deadline }));
    ac.abort();
    await waitFor(() => [keyed, heavy, aborted, plain].every(settled), "every add");
    assertCode(heavy.reason, "E_TOO_LARGE");
    assert.equal(aborted.reason?.name, "AbortError", String(aborted.reason));
    assert.deepEqual([keyed.value, plain.value], ["r:k", "r:d"]);
    assert.deepEqual(calls.map((c) => [c.key, c.items]).sort(), [[undefined, ["d"]], ["kk", ["k"]]], `deadline ${withDeadline}`);
    await b.close();
  }
});

test("many deadline adds of one deadline, over several reservations, turns and inputs: each settles as its own", async (t) => {
  // More adds than one reservation holds (8 at first), an input between adds of one deadline
  // (a keyed add syncs the engine), and the same deadline again in the next turn: no id is
  // handed out twice (session 11: `used < timedLen` → `<=` / `>=` / true reused the first id).
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  const deadline = Date.now() + LONG;
  const turn = (tag, n) => Array.from({ length: n }, (_, i) => `${tag}${i}`);
  const first = turn("a", 20).map((x) => track(b.add(x, { deadline })));
  const keyed = track(b.add("k", { key: "k" }));
  const after = turn("b", 3).map((x) => track(b.add(x, { deadline })));
  await sleep(0);
  const next = turn("c", 3).map((x) => track(b.add(x, { deadline })));
  const all = [...first, keyed, ...after, ...next];
  await waitFor(() => all.every(settled), "every add");
  assert.deepEqual(all.map((p) => p.value), [...turn("a", 20), "k", ...turn("b", 3), ...turn("c", 3)].map((x) => `r:${x}`));
  const sent = calls.flatMap((c) => c.items);
  assert.equal(sent.length, new Set(sent).size, "each item sent once");
  assert.equal(sent.length, 27);
  await b.close();
});
