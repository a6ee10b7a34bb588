// Node side of the workerd and browser integration tests: the loopback batch server, the items
// of the reserve scenario (integration-scenario.js), and what must come back.
import assert from "node:assert/strict";
import { startServer } from "../../examples/server/server.mjs";
import { ulid } from "../../examples/node/transports.mjs";

export const KEY = "it:units";

/** The batch server on 127.0.0.1, port 0, with one limit key roomy enough for the scenario. */
// Rate windows align to multiples of windowMs: one far longer than a run, so usage never resets
// mid-test (a 60 s window made the audit flaky when a run crossed a minute boundary).
export const startBatchServer = () =>
  startServer({ limits: { [KEY]: { capacity: 1000, windowMs: 2 ** 31 } } });

const reserve = (lease_id = ulid(), key = KEY) => ({ lease_id, job_id: `job-${lease_id.slice(-4)}`, requirements: [{ key, amount: 1 }] });

/**
 * 10 reserves: 7 good, 2 invalid (a lease_id that is no ULID, a key the server does not know) and
 * the poison lease (named in the x-fault-poison header). Returns { items, poison, good, kinds }.
 */
export function scenario() {
  const poison = ulid();
  const kinds = ["good", "invalid", "good", "good", "unknown", "good", "poison", "good", "good", "good"];
  const items = kinds.map((k) => {
    if (k === "invalid") return { lease_id: "not-a-ulid", job_id: "job-bad", requirements: [{ key: KEY, amount: 1 }] };
    if (k === "unknown") return reserve(ulid(), "no:such:limit");
    if (k === "poison") return reserve(poison);
    return reserve();
  });
  const good = items.filter((_, i) => kinds[i] === "good").map((r) => r.lease_id);
  return { items, poison, good, kinds };
}

/** Asserts the runtime's outcomes and the server's state: each granted lease reserved once. */
export function checkOutcomes({ outcomes, stats }, { items, poison, good, kinds }, server) {
  assert.equal(outcomes.length, items.length);
  for (const [i, o] of outcomes.entries()) {
    const what = `item ${i} (${kinds[i]}): ${JSON.stringify(o)}`;
    switch (kinds[i]) {
      case "good":
        assert.equal(o.status, "fulfilled", what);
        assert.equal(o.value.allowed, true, what);
        assert.equal(o.value.error, "", what);
        assert.equal(typeof o.value.reserved_at_unix_ms, "number", what);
        break;
      case "invalid":
      case "unknown": {
        const code = kinds[i] === "invalid" ? "invalid_request" : "unknown_limit_key";
        assert.equal(o.status, "rejected", what);
        assert.equal(o.error.name, "ItemError", what);
        assert.equal(o.error.code, code, what);
        assert.equal(o.error.retryable, false, what);
        assert.equal(o.error.message, `reserve ${items[i].lease_id}: ${code}`, what);
        break;
      }
      case "poison": {
        const serverMessage = `injected fault: poison item "${poison}" (x-fault-poison)`;
        assert.equal(o.status, "rejected", what);
        assert.equal(o.error.code, "E_TRANSPORT", what);
        assert.ok(o.error.message.includes(serverMessage), what);
        assert.match(o.error.message, /HTTP 400/, what);
        assert.equal(o.error.cause?.status, 400, what);
        assert.equal(o.error.cause?.serverError, serverMessage, what);
        break;
      }
    }
  }
  assert.ok(stats.bisects >= 3, `bisects ${stats.bisects}: 10 → 5 → 3 → 2 → 1 around the poison`);
  assert.equal(stats.succeeded, good.length);
  assert.equal(stats.failed, items.length - good.length);

  // The server: exactly the acknowledged leases are reserved, each once (one unit each).
  const st = server.state;
  assert.deepEqual([...st.reservations.keys()].sort(), [...good].sort());
  assert.equal(st.usage(KEY), good.length, "one unit per granted lease: none reserved twice");
  for (const [i, o] of outcomes.entries()) {
    if (kinds[i] !== "good") continue;
    assert.equal(st.reservations.get(items[i].lease_id).result.reserved_at_unix_ms, o.value.reserved_at_unix_ms);
  }
  assert.ok(!st.reservations.has(poison));
  assert.ok(st.counters.faults.poison >= 4, `poison faults: ${st.counters.faults.poison}`);
}
