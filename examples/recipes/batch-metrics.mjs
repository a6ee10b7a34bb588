// Recipe (f) of docs/recipes.md: a metrics capability built only from the hooks. onBatchStart and
// onBatchEnd carry the call's items and the transport's results, so per-item outcomes are counted
// without wrapping the transport.
//
// Run: node batch-metrics.mjs   (prints the histogram and error counts; exits 0 when they add up)
import { Batcher } from "hyperbatch";

/**
 * Hooks for a Batcher plus `snapshot()`: batch sizes in power-of-two buckets (1, 2, 3–4, 5–8, …),
 * calls by attempt, and failed items counted by error `code` (an item error without a code
 * counts under its `name`; a call that failed at batch level counts once per item under its error).
 */
export function batchMetrics() {
  const sizes = new Map(); // bucket upper bound → calls
  const attempts = new Map(); // attempt → calls
  const failures = new Map(); // code → items
  let calls = 0, items = 0, succeeded = 0;
  const countFailure = (err, n = 1) => {
    const code = (err && (err.code || err.name)) || "unknown";
    failures.set(code, (failures.get(code) ?? 0) + n);
  };
  return {
    onBatchStart(info) {
      const bucket = 2 ** Math.ceil(Math.log2(info.items.length));
      sizes.set(bucket, (sizes.get(bucket) ?? 0) + 1);
      attempts.set(info.attempt, (attempts.get(info.attempt) ?? 0) + 1);
    },
    onBatchEnd(info) {
      calls++;
      items += info.items.length;
      if (info.results === undefined) {
        countFailure(info.error, info.items.length); // the whole call failed
        return;
      }
      for (const entry of info.results) {
        if (entry instanceof Error) countFailure(entry);
        else succeeded++;
      }
    },
    snapshot() {
      const sorted = (m) => Object.fromEntries([...m].sort((a, b) => a[0] - b[0] || String(a[0]).localeCompare(String(b[0]))));
      return { calls, items, succeeded, sizes: sorted(sizes), attempts: sorted(attempts), failures: Object.fromEntries(failures) };
    },
  };
}

/** A short run against an in-process transport that fails some items and some whole calls. */
export async function run({ log = console.log } = {}) {
  const metrics = batchMetrics();
  let call = 0;
  const batcher = new Batcher({
    maxBatchSize: 8,
    maxWaitMs: 1,
    retry: { baseDelayMs: 1, maxDelayMs: 2, jitter: "none" },
    onBatchStart: metrics.onBatchStart,
    onBatchEnd: metrics.onBatchEnd,
    transport: async (batch) => {
      call++;
      if (call % 4 === 0) throw Object.assign(new Error("503 from the upstream"), { status: 503, code: "HTTP_503" });
      return batch.items.map((n) => (n % 10 === 7 ? Object.assign(new Error(`item ${n} is invalid`), { code: "INVALID" }) : n * 2));
    },
  });
  const outcomes = await batcher.addMany(Array.from({ length: 50 }, (_, i) => i));
  await batcher.close();
  const snap = metrics.snapshot();
  log("batch sizes (bucket → calls):", snap.sizes);
  log("calls by attempt:", snap.attempts);
  log("failed items by code:", snap.failures);
  const fulfilled = outcomes.filter((o) => o.status === "fulfilled").length;
  return { snapshot: snap, fulfilled, stats: batcher.stats() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { snapshot, fulfilled, stats } = await run();
  // The hooks saw every call the batcher made, and every item that succeeded.
  const ok = snapshot.calls === stats.batches && snapshot.succeeded === fulfilled && snapshot.failures.INVALID === 5;
  console.log(ok ? "metrics add up" : "metrics do not add up", { calls: snapshot.calls, batches: stats.batches });
  process.exit(ok ? 0 : 1);
}
