#!/usr/bin/env node
// Recipe (a): Reserve/Complete batch endpoints whose per-item answers carry `retry_after_ms`.
//
//   node examples/recipes/reserve-complete.mjs      (after `npm install` in examples/recipes/)
//
// One Batcher, two queues: `keyOf` sends a request with `actuals` to /v1/complete/batch and any
// other to /v1/reserve/batch. A reservation the rate limit denies ({allowed: false,
// retry_after_ms}) becomes a retryable item error with `retryAfterMs`, so hyperbatch re-queues that
// item alone and waits at least the hint; the granted items of the same batch resolve at once.
// Exits 0 when every job was reserved and completed and no limit window granted more than its
// capacity.

import { pathToFileURL } from "node:url";
import { Batcher } from "hyperbatch";
import { startServer } from "../server/server.mjs";

export const LIMIT_KEY = "recipe:rpm";
export const CAPACITY = 5; // reservations per window
export const WINDOW_MS = 300;

/** Build the batcher for one server. */
export function reserveCompleteBatcher(baseUrl) {
  return new Batcher({
    keyOf: (request) => ("actuals" in request ? "complete" : "reserve"),
    maxBatchSize: 100,
    maxWaitMs: 5,
    // Denied reservations wait for the next window (the hint), so allow a few rounds. No jitter:
    // the server's hint is the schedule, and the items it denied together come back together.
    retry: { maxAttempts: 6, maxRetryAfterMs: 2_000, jitter: "none" },
    transport: async (batch) => {
      const res = await fetch(`${baseUrl}/v1/${batch.key}/batch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ requests: batch.items }),
        signal: batch.signal,
      });
      if (!res.ok) {
        // A whole-batch failure: `status` drives the default classify (400/413/422 bisect, the
        // rest retry) and `response` lets hyperbatch read a Retry-After header.
        throw Object.assign(new Error(`${batch.key}: HTTP ${res.status}`), { status: res.status, response: res });
      }
      const { results } = await res.json();
      return results.map((result) => {
        if (result.error) return new Error(`${batch.key}: ${result.error}`); // fails this item alone
        if (batch.key === "reserve" && !result.allowed) {
          // Denied for now: retry this item after the server's hint.
          return Object.assign(new Error("rate limited"), { retryable: true, retryAfterMs: result.retry_after_ms });
        }
        return result;
      });
    },
  });
}

let counter = 0;
/** A ULID-shaped lease id (26 Crockford base32 characters), unique per process. */
export function leaseId() {
  counter += 1;
  return `01JX${String(counter).padStart(22, "0")}`;
}

/** Reserve then complete `jobs` jobs through one batcher; returns what each caller got. */
export async function run({ baseUrl, jobs = 12, log = () => {} }) {
  const batcher = reserveCompleteBatcher(baseUrl);
  const started = Date.now();
  const outcomes = await Promise.all(
    Array.from({ length: jobs }, async (_, i) => {
      const lease_id = leaseId();
      const job_id = `job-${i}`;
      const reserved = await batcher.add({ lease_id, job_id, requirements: [{ key: LIMIT_KEY, amount: 1 }] });
      const waitedMs = reserved.reserved_at_unix_ms - started;
      // ... the job's work would run here ...
      const completed = await batcher.add({ lease_id, job_id, actuals: [{ key: LIMIT_KEY, actual_amount: 1 }] });
      log(`${job_id}: reserved after ${String(waitedMs).padStart(4)} ms, completed: ${completed.ok}`);
      return { lease_id, waitedMs, completed: completed.ok };
    }),
  );
  const stats = batcher.stats();
  await batcher.close();
  return { outcomes, stats };
}

async function main() {
  const server = await startServer({ limits: { [LIMIT_KEY]: { capacity: CAPACITY, windowMs: WINDOW_MS } } });
  try {
    const { outcomes, stats } = await run({ baseUrl: server.url, log: console.log });
    // Audit against the server: each lease reserved once, and no window over its capacity.
    const perWindow = new Map();
    for (const r of server.state.reservations.values()) {
      const start = r.taken[0].window_start;
      perWindow.set(start, (perWindow.get(start) ?? 0) + 1);
    }
    const requests = server.state.counters.requests;
    console.log(`reserve calls: ${requests["/v1/reserve/batch"]}, complete calls: ${requests["/v1/complete/batch"]}, ` +
      `item retries: ${stats.retries}, grants per window: ${[...perWindow.values()].join(", ")}`);
    const ok = outcomes.every((o) => o.completed) &&
      server.state.reservations.size === outcomes.length &&
      server.state.completions.size === outcomes.length &&
      [...perWindow.values()].every((n) => n <= CAPACITY);
    console.log(ok ? "ok: every job reserved and completed within the limit" : "FAILED");
    return ok ? 0 : 1;
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
