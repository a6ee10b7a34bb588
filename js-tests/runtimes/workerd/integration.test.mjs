// hyperbatch in workerd (Miniflare) over real HTTP: the Node test starts the loopback batch
// server (examples/server/, 127.0.0.1, port 0); a worker bundled by esbuild with the `workerd`
// condition (the .wasm a CompiledWasm module, as in miniflare.test.mjs) runs the reserve scenario
// of ../integration-scenario.js with examples/node/transports.mjs, fetching the server directly
// (its URL is the BATCH_URL binding; Miniflare's default outbound network allows private
// addresses such as 127.0.0.1). The test checks the outcomes and the server's state.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { checkOutcomes, scenario, startBatchServer } from "../integration-common.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const entry = "integration-worker";
const outDir = join(here, "dist", entry);

test("workerd: reserves over HTTP to the loopback server — per-item errors, poison isolated by bisect, the rest granted once", { timeout: 45_000 }, async (t) => {
  // Closed last-opened first (workerd, then the server), even after a failure.
  const cleanups = [];
  t.after(async () => {
    for (const close of cleanups.reverse()) await close();
  });
  const server = await startBatchServer();
  cleanups.push(() => server.close());

  rmSync(outDir, { recursive: true, force: true });
  await build({
    entryPoints: [join(here, `${entry}.js`)],
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    loader: { ".wasm": "copy" },
    logLevel: "warning",
  });
  const scriptPath = join(outDir, `${entry}.js`);
  const bundled = readFileSync(scriptPath, "utf8");
  assert.match(bundled, /index\.workerd\.js/, "the bundle took the package's `workerd` entry");

  const mf = new Miniflare({
    modules: true,
    scriptPath,
    modulesRules: [
      { type: "ESModule", include: ["**/*.js", "**/*.mjs"] },
      { type: "CompiledWasm", include: ["**/*.wasm"] },
    ],
    compatibilityDate: "2025-09-01",
    cf: false,
    bindings: { BATCH_URL: server.url },
  });
  cleanups.push(() => mf.dispose());

  const sc = scenario();
  const query = new URLSearchParams({ items: JSON.stringify(sc.items), poison: sc.poison });
  const res = await mf.dispatchFetch(`http://localhost/reserve?${query}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const body = JSON.parse(text);
  assert.equal(body.runtime, "workerd");
  checkOutcomes(body, sc, server);
  // Every request reached the server over the network from workerd.
  assert.ok(server.state.counters.requests["/v1/reserve/batch"] >= 5);
});
