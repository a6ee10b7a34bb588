// The fifteenth audit from outside: ordinary and hostile use of the public API, one test per
// defect found by probing the built package (the earlier rounds: audit.test.mjs, audit10..14).
// Each asserts what the contract says or, where it is silent, what a user of DataLoader, the
// Fetch API and AbortSignal would expect.
import assert from "node:assert/strict";
import { Batcher, LONG, settled, sleep, test, track, waitFor } from "./_helpers.mjs";
import { Timeline } from "hyperbatch/timeline";

// ---------------------------------------------------------------------------------------------
// `dedupeBy`: "items with equal dedupe key in the same queue window share one slot; every caller
// gets the same outcome", and AddOptions `deadline`: "its queue dispatches no later than that
// deadline" ("With `maxWaitMs: 10000` and an item due in 100 ms, the item is sent, not
// expired"); `batch.deadline` "is the earliest item deadline, or `undefined`". A caller that
// joined a queued slot kept its deadline to itself: its queue went at the end of its window, so
// the caller expired unsent while the slot waited; and the slot's call carried the deadline of
// its first caller even after that caller had left (aborted, or expired while queued: a deadline
// already in the past), so a transport handing it to its server had the call refused for the
// callers still waiting.

test("audit15: a caller joining a deduped slot with a deadline is sent by that deadline, not expired; batch.deadline is its", async (t) => {
  // As errors.test.mjs's dispatch-by-deadline test: on an overloaded machine the batcher's timer
  // may fire after a deadline (that caller has then rightly expired unsent), so two joined callers
  // carry deadlines and the scenario gets three tries. The window (60 s) never fires here.
  for (let round = 1; ; round++) {
    const calls = [];
    const b = new Batcher({
      transport: (batch) => {
        calls.push({ at: Date.now(), deadline: batch.deadline, items: batch.items.map((x) => x.v) });
        return batch.items.map((x) => `r:${x.v}`);
      },
      dedupeBy: (x) => x.id,
      maxWaitMs: LONG,
    });
    t.after(() => b.close());
    const early = Date.now() + 300, late = early + 300;
    const first = track(b.add({ id: 1, v: "first" })); // no deadline: opens the slot
    const joined = [track(b.add({ id: 1, v: "late" }, { deadline: late })), track(b.add({ id: 1, v: "early" }, { deadline: early }))];
    await waitFor(() => calls.length > 0 || joined.every(settled), "a dispatch by a joined caller's deadline", 3000);
    if (calls.length === 0 && round < 3) {
      await b.close();
      continue;
    }
    assert.equal(calls.length, 1, "the slot was not sent by its joined callers' deadlines");
    assert.deepEqual(calls[0].items, ["first"]);
    await b.flush();
    assert.equal(first.value, "r:first");
    assert.equal(joined[0].value, "r:first", "the late caller rides on the slot");
    const expected = joined[1].status === "fulfilled" ? early : late;
    if (expected === late) assert.equal(joined[1].reason?.code, "E_DEADLINE");
    else assert.equal(joined[1].value, "r:first");
    assert.equal(calls[0].deadline, expected, "batch.deadline is the earliest deadline of a caller still waiting");
    await b.close();
    break;
  }
});

test("audit15: a deduped slot whose first caller expired while queued is sent without that caller's past deadline", async (t) => {
  const calls = [];
  let release;
  const b = new Batcher({
    transport: (batch) => {
      calls.push({ at: Date.now(), deadline: batch.deadline, items: batch.items.map((x) => x.v) });
      const answer = batch.items.map((x) => `r:${x.v}`);
      if (batch.items[0].v === "blocker") return new Promise((resolve) => (release = () => resolve(answer)));
      return answer;
    },
    dedupeBy: (x) => x.id,
    maxWaitMs: 0,
    maxInFlight: 1,
  });
  t.after(() => b.close());
  const blocker = track(b.add({ id: 0, v: "blocker" }));
  await sleep(5);
  assert.equal(calls.length, 1);
  // Queued behind the blocker: the first caller's deadline passes there; the second has none,
  // the third a later one.
  const expired = track(b.add({ id: 1, v: "A" }, { deadline: Date.now() + 20 }));
  const plain = track(b.add({ id: 1, v: "B" }));
  const later = Date.now() + 5_000;
  const expiredToo = track(b.add({ id: 2, v: "C" }, { deadline: Date.now() + 20 }));
  const laterCaller = track(b.add({ id: 2, v: "D" }, { deadline: later }));
  await sleep(60);
  release();
  await b.flush();
  assert.equal(expired.reason?.code, "E_DEADLINE");
  assert.equal(expiredToo.reason?.code, "E_DEADLINE");
  assert.equal(blocker.value, "r:blocker");
  assert.equal(plain.value, "r:A", "the slot still goes for the caller left");
  assert.equal(laterCaller.value, "r:C");
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1].items, ["A", "C"]);
  assert.equal(calls[1].deadline, later, "batch.deadline is the earliest deadline of a caller still waiting");
  assert.ok(calls[1].deadline > calls[1].at, "no deadline already past is handed to the transport");
});

test("audit15: a deduped slot whose first caller was aborted carries no deadline of that caller", async (t) => {
  const calls = [];
  const b = new Batcher({
    transport: (batch) => {
      calls.push({ deadline: batch.deadline, items: batch.items.map((x) => x.v) });
      return batch.items.map((x) => `r:${x.v}`);
    },
    dedupeBy: (x) => x.id,
    maxWaitMs: 10_000,
  });
  t.after(() => b.close());
  const ac = new AbortController();
  const aborted = track(b.add({ id: 1, v: "A" }, { deadline: Date.now() + 60_000, signal: ac.signal }));
  const plain = track(b.add({ id: 1, v: "B" }));
  ac.abort(new Error("left"));
  await b.flush();
  assert.equal(aborted.reason?.code, "E_ABORTED");
  assert.equal(plain.value, "r:A");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].deadline, undefined, "the only caller left has no deadline");
});

// ---------------------------------------------------------------------------------------------
// hyperbatch/timeline `attach(options)`: "the options' own onBatchStart/onBatchEnd still run,
// after the recording, with the same info". The contract's hooks: "a hook that throws changes no
// outcome", and a hook that returns a rejected promise is treated as one that throws (README).
// attach's wrappers dropped what the caller's hook returned, so an async hook of theirs that
// rejected became an unhandled rejection (which ends a Node process), where the same options
// without attach() were fine.

test("audit15: timeline.attach passes on what the caller's async hooks return: a rejection is no unhandled rejection", async (t) => {
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  t.after(() => process.off("unhandledRejection", onUnhandled));
  const timeline = new Timeline();
  const seen = [];
  const b = new Batcher(timeline.attach({
    transport: (batch) => batch.items.map((x) => `r:${x}`),
    maxWaitMs: 0,
    onBatchStart: async (info) => {
      seen.push(`start ${info.items}`);
      throw new Error("their start hook");
    },
    onBatchEnd: async (info) => {
      seen.push(`end ${info.results}`);
      throw new Error("their end hook");
    },
  }));
  t.after(() => b.close());
  assert.equal(await b.add("a"), "r:a");
  await sleep(20);
  assert.deepEqual(seen, ["start a", "end r:a"]);
  assert.deepEqual(timeline.calls().map((c) => c.outcome), ["ok"]);
  assert.deepEqual(unhandled.map((e) => e?.message), []);
});

// hyperbatch/timeline records a call's end from `info.results`: an Error entry whose `retryable`
// getter throws (the batcher itself reads such a getter as absent: hostile.test.mjs) threw out of
// the recorder halfway, so the call's items stayed indexed as awaiting a resend and the next call
// carrying the same values, a fresh add, was drawn as a "bisect half" of it; its duration never
// reached the histogram either.

test("audit15: timeline: an Error entry whose retryable getter throws is a settled item, not one awaiting a resend", async (t) => {
  const timeline = new Timeline();
  const hostile = new Error("hostile entry");
  Object.defineProperty(hostile, "retryable", { get() { throw new Error("getter"); } });
  let calls = 0;
  const b = new Batcher(timeline.attach({
    transport: (batch) => (calls++, batch.items.map((x, i) => (calls === 1 && i === 0 ? hostile : `r:${x}`))),
    maxWaitMs: 0,
  }));
  t.after(() => b.close());
  const first = await Promise.allSettled([b.add(1), b.add(2)]);
  assert.equal(first[0].reason, hostile);
  assert.deepEqual(await Promise.all([b.add(1), b.add(2)]), ["r:1", "r:2"]);
  const recorded = timeline.calls();
  assert.deepEqual(recorded.map((c) => [c.outcome, c.parents]), [["partial", []], ["ok", []]]);
  assert.match(timeline.svg(), /call durations \(no adds tracked\): 2 samples/);
});

// hyperbatch/timeline: `hooks(name?)` / `attach(options, name?)`, the name optional. Calls in
// flight were found again by name and call id, but call ids are per batcher: two batchers
// recorded without names (or under one name) with calls out at once took each other's ends, one
// record ending with the other's outcome and the other left "inflight" for good.

test("audit15: timeline: two batchers recorded without names each end their own calls", async (t) => {
  const timeline = new Timeline();
  const slow = new Batcher({
    ...timeline.hooks(),
    transport: async (batch) => (await sleep(60), batch.items),
    maxWaitMs: 0,
  });
  const failing = new Batcher(timeline.attach({
    transport: async () => (await sleep(5), Promise.reject(Object.assign(new Error("bad request"), { status: 400 }))),
    maxWaitMs: 0,
    retry: { maxAttempts: 1 },
  }));
  t.after(() => Promise.all([slow.close(), failing.close()]));
  const outcomes = await Promise.allSettled([slow.add("s"), failing.add("f")]);
  assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "rejected"]);
  const calls = timeline.calls();
  assert.deepEqual(calls.map((c) => [c.id, c.outcome]), [[1, "ok"], [1, "failed"]]);
  assert.ok(calls[0].durationMs >= 50, `the slow call's own duration: ${calls[0].durationMs}`);
});
