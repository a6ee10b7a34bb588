// workerd through Miniflare's API: each worker module is bundled by esbuild with the `workerd`
// condition (the .wasm stays a separate CompiledWasm module, as wrangler does it), run in
// workerd, and asked over HTTP for its results; one node:test test per contract check.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { checks, miniAssert } from "../contract.js";
import { dataloaderChecks } from "../dataloader-contract.js";

const here = dirname(fileURLToPath(import.meta.url));
// The names the worker must report: one per entry of contract.js's list (never counted by hand).
const CHECK_NAMES = checks(undefined, miniAssert).map((c) => c.name);
const DATALOADER_NAMES = dataloaderChecks(undefined, miniAssert).map((c) => c.name);
const out = join(here, "dist");

async function bundle(entry) {
  rmSync(join(out, entry), { recursive: true, force: true });
  await build({
    entryPoints: [join(here, `${entry}.js`)],
    outdir: join(out, entry),
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    loader: { ".wasm": "copy" },
    logLevel: "warning",
  });
  return join(out, entry, `${entry}.js`);
}

function start(scriptPath) {
  return new Miniflare({
    modules: true,
    scriptPath,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-09-01",
    cf: false, // no fetch of workers.cloudflare.com/cf.json
  });
}

async function getJson(mf, path) {
  const res = await mf.dispatchFetch(`http://localhost${path}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

// Everything runs first (workerd is always disposed, even after a failure); node:test takes
// top-level tests only until the first ones have run, so they are registered at the end.
const { version } = (await import("miniflare/package.json", { with: { type: "json" } })).default;
let setupError, bundled, results = [], slim = { results: [] }, interval, dl = { results: [] }, perRequest, globalScope;
const running = [];
try {
  const [main, slimMain] = [await bundle("worker"), await bundle("slim-worker")];
  bundled = readFileSync(main, "utf8");
  const mf = start(main);
  running.push(mf);
  globalScope = await getJson(mf, "/global"); // first: the item added at global scope waits for it
  // A batcher dropped by an earlier request, its timer armed, must not disturb the later ones.
  const dropped = await getJson(mf, "/dropped");
  ({ results } = await getJson(mf, "/checks"));
  const own = await Promise.all(["a", "b", "c"].map((id) => getJson(mf, `/own?id=${id}`)));
  const after = await Promise.all(["x", "y"].map((id) => mf.dispatchFetch(`http://localhost/after?id=${id}`).then((r) => r.status)));
  await new Promise((r) => setTimeout(r, 200));
  perRequest = { dropped, own, after, sent: await getJson(mf, "/sent") };
  interval = await getJson(mf, "/interval");
  dl = await getJson(mf, "/dataloader");
  const mfSlim = start(slimMain);
  running.push(mfSlim);
  slim = await getJson(mfSlim, "/");
} catch (e) {
  setupError = e;
} finally {
  await Promise.allSettled(running.map((mf) => mf.dispose()));
}
console.log(`runtime: workerd (Miniflare ${version})`);

test("workerd: the worker was bundled and answered", () => {
  if (setupError) throw setupError;
});

test("workerd: the bundle took the package's `workerd` entry (the .wasm imported as a module)", () => {
  assert.match(bundled ?? "", /index\.workerd\.js/);
  assert.doesNotMatch(bundled ?? "", /index\.(browser|node|deno)\.js/);
});

// One test per result below passes on an empty list: these two say every check came back.
test("workerd: every contract check ran, once each", () => {
  assert.ok(CHECK_NAMES.length > 0, "contract.js lists no checks");
  assert.deepEqual(results.map((r) => r.name), CHECK_NAMES, "the worker's results are not the contract's checks");
});

test("workerd (hyperbatch/slim): every contract check ran, once each, after the init() check", () => {
  assert.deepEqual(slim.results.map((r) => r.name), ["new Batcher() before init() throws E_CONFIG", ...CHECK_NAMES]);
});

test("workerd (hyperbatch/dataloader): every dataloader check ran, once each, from the `workerd` entry", () => {
  assert.ok(DATALOADER_NAMES.length > 0, "dataloader-contract.js lists no checks");
  assert.deepEqual(dl.results.map((r) => r.name), DATALOADER_NAMES);
  assert.match(bundled ?? "", /dataloader\.workerd\.js/);
});

for (const r of results) {
  test(r.name, () => assert.ok(r.ok, r.error));
}
for (const r of dl.results) {
  test(r.name, () => assert.ok(r.ok, r.error));
}
for (const r of slim.results) {
  test(`slim: ${r.name}`, () => assert.ok(r.ok, r.error));
}

test("workerd: batchers per request: one dropped with its timer armed disturbs nothing; concurrent requests' batchers each flush by their own timer; one closed through ctx.waitUntil sends after the response", () => {
  assert.ok(perRequest, "no answer from the per-request endpoints");
  assert.equal(perRequest.dropped.queued, 2);
  assert.deepEqual(perRequest.own.map((o) => o.values), ["a", "b", "c"].map((id) => [`r:${id}.1`, `r:${id}.2`]));
  assert.deepEqual(perRequest.after, [202, 202]);
  assert.deepEqual([...perRequest.sent.sent].sort(), ["x", "y"], "sent after the response");
  assert.deepEqual(perRequest.sent.sendErrors, []);
});

test("workerd: a batcher made inside a request flushes by its interval timer (no flush())", () => {
  assert.ok(interval, "no answer from /interval");
  assert.deepEqual(interval.values, [10, 20, 30, 40, 50]);
  assert.deepEqual(interval.batches, [[1, 2, 3, 4, 5]]);
  assert.ok(interval.waitedMs >= 20 && interval.waitedMs < 2000,
    `the batch left ${interval.waitedMs} ms after the first add (maxWaitMs 25)`);
});

test("workerd: an item added at global scope (where setTimeout throws) settles with the first request's add; nothing hangs", () => {
  assert.ok(globalScope, "no answer from /global");
  assert.deepEqual({ value: globalScope.value, early: globalScope.early }, { value: 4, early: [2] });
  assert.equal(globalScope.stats.queued, 0);
});
