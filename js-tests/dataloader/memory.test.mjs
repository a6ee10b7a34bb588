// Per-request use: 100,000 loaders created, used (a few loads, a cache hit) and dropped leave
// heapUsed + external where they were. Measured in a child process with --expose-gc
// (fixtures/per-request.mjs), after the same work was done once as a warm-up.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const fixture = fileURLToPath(new URL("./fixtures/per-request.mjs", import.meta.url));

test("100,000 per-request loaders do not grow heapUsed + external", () => {
  const out = execFileSync(process.execPath, ["--expose-gc", fixture, "100000"], { encoding: "utf8" });
  const { count, before, after, growth } = JSON.parse(out);
  console.log(`${count} loaders: heapUsed+external ${before} -> ${after} B (${growth >= 0 ? "+" : ""}${growth} B)`);
  // 1 MB is 10 bytes per loader: a loader kept alive (a few hundred bytes) would exceed it.
  assert.ok(growth < 1_000_000, `grew by ${growth} B`);
});

test("100,000 per-request loaders whose batchScheduleFn calls back twice do not grow heapUsed + external", () => {
  // Each batch is dispatched twice, as in DataLoader: two batchLoadFn calls, two engine calls,
  // both of which must end (the second used to take the first's place, which stayed in flight).
  const out = execFileSync(process.execPath, ["--expose-gc", fixture, "100000", "twice"], { encoding: "utf8" });
  const { count, before, after, growth } = JSON.parse(out);
  console.log(`${count} loaders, batches dispatched twice: heapUsed+external ${before} -> ${after} B (${growth >= 0 ? "+" : ""}${growth} B)`);
  assert.ok(growth < 1_000_000, `grew by ${growth} B`);
});
