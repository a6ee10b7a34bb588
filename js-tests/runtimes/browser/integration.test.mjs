// hyperbatch in headless Chromium over real HTTP: the Node test starts the loopback batch server
// (examples/server/, 127.0.0.1, port 0) and a page server on 127.0.0.1 that forwards /v1/* to it
// and everything else to ../serve.mjs (the runtime tests' static server, strict CSP), so the
// page's fetches are same-origin (the batch server sends no CORS headers). The page
// (browser/integration.html) runs the reserve scenario of ../integration-scenario.js with the
// package's browser entry and examples/node/transports.mjs; the test checks the outcomes and the
// server's state.
import assert from "node:assert/strict";
import { realpathSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./launch.mjs";
import { checkOutcomes, scenario, startBatchServer } from "../integration-common.mjs";
import { serve } from "../serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const pkgDir = realpathSync(join(root, "node_modules", "hyperbatch"));
const examplesDir = realpathSync(join(root, "..", "..", "examples"));

/** 127.0.0.1, port 0: /v1/* → `apiOrigin`, the rest → `staticOrigin`. Counts what it forwarded. */
function frontServer(apiOrigin, staticOrigin) {
  const forwarded = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const target = new URL(req.url, path.startsWith("/v1/") ? apiOrigin : staticOrigin);
    if (path.startsWith("/v1/")) forwarded.push(`${req.method} ${path}`);
    const { host, connection, ...headers } = req.headers;
    const upstream = httpRequest(target, { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy()); // as the upstream did: the page sees a network error
    req.pipe(upstream);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({
      origin: `http://127.0.0.1:${server.address().port}`,
      forwarded,
      close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
    }));
  });
}

test("chromium: reserves over HTTP to the loopback server — per-item errors, poison isolated by bisect, the rest granted once", { timeout: 45_000 }, async (t) => {
  // Closed last-opened first (the browser, then the servers), even after a failure.
  const cleanups = [];
  t.after(async () => {
    for (const close of cleanups.reverse()) await close();
  });
  const batch = await startBatchServer();
  cleanups.push(() => batch.close());
  const statics = await serve([["/", root], ["/hyperbatch/", pkgDir], ["/examples/", examplesDir]]);
  cleanups.push(() => statics.close());
  const front = await frontServer(batch.url, statics.origin);
  cleanups.push(() => front.close());

  const { context, close } = await launchChromium();
  cleanups.push(close);

  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));

  const sc = scenario();
  const query = new URLSearchParams({ items: JSON.stringify(sc.items), poison: sc.poison });
  await page.goto(`${front.origin}/browser/integration.html?${query}`);
  await page.waitForFunction(() => globalThis.__hyperbatch !== undefined, null, { timeout: 30_000 });
  const body = await page.evaluate(() => globalThis.__hyperbatch);
  assert.ok(!body.error, `${body.error}\npage log:\n${logs.join("\n")}`);
  assert.match(body.runtime, /^chromium/);
  checkOutcomes(body, sc, batch);

  // Every batch went from the page through the same-origin route to the server; no CSP violation.
  const sent = batch.state.counters.requests["/v1/reserve/batch"];
  assert.ok(sent >= 5, `reserve requests: ${sent}`);
  assert.equal(front.forwarded.filter((f) => f === "POST /v1/reserve/batch").length, sent);
  assert.deepEqual(logs.filter((l) => /Content Security Policy|pageerror/.test(l)), [], logs.join("\n"));
  const wasm = statics.requests.filter(([p]) => p.endsWith(".wasm"));
  assert.deepEqual(wasm.map((r) => r.slice(1)), [[200, "application/wasm"]]);
});
