// A step of the wall clock (NTP, a VM resumed, a user setting the time) while work is pending:
// windows, backoff, timeoutMs and resetMs measure elapsed time; deadlines are wall-clock epoch
// ms, their remaining time fixed when the item is added. Date.now is stubbed to step; elapsed
// time is read from performance.now, which the stub does not move.
import assert from "node:assert/strict";
import { test, open, recorder, track, waitFor, sleep, now, deferred, httpError, assertCode } from "./_helpers.mjs";

const HOUR = 3_600_000;
const realDateNow = Date.now;

/** Runs `fn(step)` where step(ms) moves Date.now by ms from then on; Date.now is restored after. */
async function withClock(fn) {
  let offset = 0;
  Date.now = () => realDateNow.call(Date) + offset;
  try {
    return await fn((ms) => {
      offset += ms;
    });
  } finally {
    Date.now = realDateNow;
  }
}

/** Asserts `ms` (elapsed) lies in [lo, hi]. */
function within(ms, lo, hi, what) {
  assert.ok(ms >= lo && ms <= hi, `${what}: ${ms.toFixed(1)} ms elapsed, expected ${lo}..${hi}`);
}

for (const [dir, step] of [["back", -HOUR], ["forward", HOUR]]) {
  test(`clock ${dir} an hour: a queued item is sent after maxWaitMs of elapsed time`, async (t) => {
    await withClock(async (stepClock) => {
      const { calls, transport } = recorder();
      const b = open(t, { transport, maxWaitMs: 250 });
      const t0 = now();
      const a = track(b.add(1));
      await sleep(30);
      stepClock(step);
      // another queue, due at once (its deadline is within the 10 ms lead): the engine reads the
      // time again before the window's end
      const c = track(b.add(2, { key: "other", deadline: Date.now() + 5 }));
      await waitFor(() => a.status !== "pending" && c.status !== "pending", "both items", 3000);
      const first = calls.find((call) => call.items[0] === 1);
      within(first.at - t0, 200, 800, "the window's dispatch");
      assert.equal(a.value, "r:1");
    });
  });

  test(`clock ${dir} an hour: a retry waits its backoff of elapsed time`, async (t) => {
    await withClock(async (stepClock) => {
      let failed;
      const { calls, transport } = recorder((batch, i) => {
        if (i === 0) {
          failed = now();
          throw httpError(503);
        }
        return batch.items.map((x) => `r:${x}`);
      });
      const b = open(t, { transport, maxWaitMs: 0, retry: { baseDelayMs: 300, maxDelayMs: 300, jitter: "none" } });
      const a = track(b.add(1));
      await waitFor(() => failed !== undefined, "the first call", 3000);
      await sleep(30);
      stepClock(step);
      const c = track(b.add(2, { key: "other" }));
      await waitFor(() => a.status !== "pending" && c.status !== "pending", "both items", 3000);
      const retry = calls.find((call) => call.attempt === 2);
      within(retry.at - failed, 250, 900, "the retry");
      assert.equal(a.value, "r:1");
    });
  });

  test(`clock ${dir} an hour: a call in flight times out after timeoutMs of elapsed time`, async (t) => {
    await withClock(async (stepClock) => {
      const hang = deferred();
      const { calls, transport } = recorder((batch) => (batch.key === "other" ? ["ok"] : hang.promise));
      const b = open(t, { transport, maxWaitMs: 0, timeoutMs: 300, retry: { maxAttempts: 1 } });
      const t0 = now();
      const a = track(b.add(1));
      await waitFor(() => calls.length === 1, "the call", 3000);
      await sleep(30);
      stepClock(step);
      const c = track(b.add(2, { key: "other" }));
      await waitFor(() => a.status !== "pending" && c.status !== "pending", "both items", 3000);
      assertCode(a.reason, "E_TIMEOUT");
      within(a.at - t0, 250, 900, "the timeout");
      hang.resolve(["late"]);
    });
  });

  test(`clock ${dir} an hour: an open circuit half-opens after resetMs of elapsed time`, async (t) => {
    await withClock(async (stepClock) => {
      const { calls, transport } = recorder((batch, i) => {
        if (i === 0) throw httpError(500);
        return batch.items.map((x) => `r:${x}`);
      });
      const b = open(t, {
        transport, maxWaitMs: 0, retry: { maxAttempts: 1 }, circuitBreaker: { failureThreshold: 1, resetMs: 400 },
      });
      const first = track(b.add(1));
      await waitFor(() => first.status !== "pending", "the failed call", 3000);
      const opened = now();
      await sleep(30);
      stepClock(step);
      // Still open 100 ms in: refused without a call.
      const early = track(b.add(2));
      await waitFor(() => early.status !== "pending", "the early add", 3000);
      assertCode(early.reason, "E_CIRCUIT_OPEN");
      assert.equal(calls.length, 1);
      // Past resetMs: the next batch is the probe.
      await sleep(Math.max(0, opened + 500 - now()));
      const probe = track(b.add(3));
      await waitFor(() => probe.status !== "pending", "the probe", 3000);
      assert.equal(probe.value, "r:3");
      assert.equal(calls.length, 2);
    });
  });

  test(`clock ${dir} an hour: deadlines keep the time they had left when added, and count from the stepped clock after`, async (t) => {
    await withClock(async (stepClock) => {
      const { calls, transport } = recorder();
      const b = open(t, { transport, maxWaitMs: 60_000 });
      const t0 = now();
      const dA = Date.now() + 300;
      const before = track(b.add(1, { key: "a", deadline: dA }));
      await sleep(30);
      stepClock(step);
      const t1 = now();
      const dB = Date.now() + 150;
      const after = track(b.add(2, { key: "b", deadline: dB }));
      await waitFor(() => before.status !== "pending" && after.status !== "pending", "both items", 3000);
      // The deadline sends each queue (its lead is 10 ms before any call of that key ended).
      const sentBefore = calls.find((call) => call.key === "a");
      const sentAfter = calls.find((call) => call.key === "b");
      within(sentBefore.at - t0, 250, 900, "the item added before the step");
      within(sentAfter.at - t1, 100, 700, "the item added after the step");
      assert.equal(before.value, "r:1");
      assert.equal(after.value, "r:2");
      // batch.deadline is on the wall clock the transport sees: the stepped one.
      within(Math.abs(sentAfter.deadline - dB), 0, 20, "batch.deadline given after the step, off by");
      within(Math.abs(sentBefore.deadline - (dA + step)), 0, 50, "batch.deadline given before the step, off by");
    });
  });
}

test("an item whose deadline passes while queued before the step is rejected on time", async (t) => {
  await withClock(async (stepClock) => {
    const { calls, transport } = recorder((batch) => sleep(600).then(() => batch.items));
    const b = open(t, { transport, maxWaitMs: 60_000, timeoutMs: 5_000 });
    const t0 = now();
    const a = track(b.add(1, { deadline: Date.now() + 200 }));
    await sleep(30);
    stepClock(-HOUR);
    await waitFor(() => a.status !== "pending", "the deadline", 3000);
    assertCode(a.reason, "E_DEADLINE");
    within(a.at - t0, 150, 800, "E_DEADLINE");
    assert.equal(calls.length, 1, "sent once before its deadline, expired in flight");
  });
});

test("without a step batch.deadline is exactly the deadline given", async (t) => {
  const { calls, transport } = recorder();
  const b = open(t, { transport, maxWaitMs: 0 });
  const d1 = Date.now() + 1234.5678, d2 = Date.now() + 99_999;
  await Promise.all([b.add(1, { deadline: d2 }), b.add(2, { deadline: d1 })]);
  assert.equal(calls[0].deadline, d1);
  const d3 = performance.timeOrigin + performance.now() + 500.123;
  await b.add(3, { deadline: d3 });
  assert.equal(calls[1].deadline, d3);
});

test("a passed deadline is refused at add after a step too", async (t) => {
  await withClock(async (stepClock) => {
    const { calls, transport } = recorder();
    const b = open(t, { transport, maxWaitMs: 0 });
    stepClock(-HOUR);
    await assert.rejects(b.add(1, { deadline: Date.now() - 1 }), (e) => e.code === "E_DEADLINE");
    stepClock(2 * HOUR);
    await assert.rejects(b.add(2, { deadline: Date.now() - 1 }), (e) => e.code === "E_DEADLINE");
    assert.equal(await b.add(3, { deadline: Date.now() + 1000 }), "r:3");
    assert.equal(calls.length, 1);
  });
});

test("a host without performance: Date.now is the engine's clock, and deadlines cross unchanged", async () => {
  // A child process, as the clock is chosen when the package loads.
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const code = `
    delete globalThis.performance;
    delete process.hrtime; // the Node entries' clock (see index.node.js)
    if (typeof performance !== "undefined") throw new Error("performance is still there");
    const { Batcher } = await import("hyperbatch");
    const calls = [];
    const b = new Batcher({ transport: (batch) => (calls.push(batch.deadline), batch.items), maxWaitMs: 30 });
    const t0 = Date.now(), d = t0 + 1000.25;
    if ((await b.add(1, { deadline: d })) !== 1) throw new Error("not answered");
    const waited = Date.now() - t0;
    if (calls[0] !== d) throw new Error("batch.deadline " + calls[0] + " is not " + d);
    if (waited < 25 || waited > 1000) throw new Error("the window took " + waited + " ms");
    await b.close();
    console.log("ok");
  `;
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ["--input-type=module", "-e", code], { cwd: fileURLToPath(new URL(".", import.meta.url)) },
      (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)));
  });
  assert.equal(out.trim(), "ok");
});

test("the Node entry reads process.hrtime at each clock read, not once at load (fake timers replace it)", async () => {
  const { Batcher } = await import("hyperbatch");
  const realHrtime = process.hrtime;
  let reads = 0;
  process.hrtime = function (...args) {
    reads++;
    return realHrtime.apply(this, args);
  };
  try {
    const b = new Batcher({ transport: (batch) => batch.items, maxWaitMs: 1 });
    assert.equal(await b.add(1), 1);
    await b.close();
  } finally {
    process.hrtime = realHrtime;
  }
  assert.ok(reads > 0, "the engine's clock never called the replaced process.hrtime");
});
