// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core) on pages served from
// 127.0.0.1 with `Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'`:
//   plain   — a plain <script type="module"> page loading the package's browser entry
//   slim    — hyperbatch/slim with init(URL)
//   worker  — the plain page's checks inside a dedicated module Worker (no document)
//   vite    — a Vite-built app (vite build, then dist/ served the same way)
//   example — examples/browser, clicked through as a person would
// One node:test test per contract check and page. HYPERBATCH_PAGES=plain,slim,vite,example picks.
import assert from "node:assert/strict";
import { readdirSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./launch.mjs";
import { serve } from "../serve.mjs";
import { checks, miniAssert } from "../contract.js";
import { dataloaderChecks } from "../dataloader-contract.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const pkgDir = realpathSync(join(root, "node_modules", "hyperbatch"));
// The contract check names every page must report (contract.js's list, never counted by hand),
// and the page-level checks report.js adds after them.
const CHECK_NAMES = checks(undefined, miniAssert).map((c) => c.name);
// The plain and Vite pages also run dataloader-contract.js's list after the contract checks.
const DATALOADER_NAMES = dataloaderChecks(undefined, miniAssert).map((c) => c.name);
const CSP_NAMES = [
  "CSP: no violation while loading and running hyperbatch (no eval / new Function)",
  "CSP is enforced on this page (new Function is refused)",
];
const pages = (process.env.HYPERBATCH_PAGES ?? "plain,slim,worker,vite,example").split(",");

const { context, close } = await launchChromium();
after(close);
console.log(`runtime: chromium ${context.browser()?.version() ?? ""}`.trim());

/** Opens `url`, waits for the page's results, and returns them with what the page logged. */
async function runPage(url) {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  try {
    await page.goto(url);
    await page.waitForFunction(() => globalThis.__hyperbatch !== undefined, null, { timeout: 120_000 });
    return { ...(await page.evaluate(() => globalThis.__hyperbatch)), logs };
  } catch (e) {
    return { runtime: url, results: [{ name: "page", ok: false, error: `${e.message}\n${logs.join("\n")}` }], logs };
  } finally {
    await page.close();
  }
}

// node:test stops taking top-level tests once the ones registered so far have run, so every
// page runs first and the tests are registered together at the end.
const registrations = [];
function register(label, { results, logs }, requests, dataloaderNames = []) {
  registrations.push(() => {
    // One test per result passes on an empty list: this one says every check came back, once.
    test(`${label}: every contract check ran, once each, then the CSP checks`, () => {
      assert.ok(CHECK_NAMES.length > 0, "contract.js lists no checks");
      assert.ok(DATALOADER_NAMES.length > 0, "dataloader-contract.js lists no checks");
      const names = results.map((r) => r.name).filter((n) => !n.startsWith("slim: "));
      assert.deepEqual(names, [...CHECK_NAMES, ...dataloaderNames, ...CSP_NAMES], `page log:\n${logs.join("\n")}`);
    });
    for (const r of results) {
      test(`${label}: ${r.name}`, () => assert.ok(r.ok, `${r.error ?? ""}\npage log:\n${logs.join("\n")}`));
    }
    test(`${label}: the .wasm was served as application/wasm and fetched once`, () => {
      const wasm = requests.filter(([p]) => p.endsWith(".wasm"));
      assert.equal(wasm.length, 1, JSON.stringify(requests));
      assert.deepEqual(wasm[0].slice(1), [200, "application/wasm"]);
    });
  });
}

if (pages.includes("plain") || pages.includes("slim") || pages.includes("worker")) {
  const server = await serve([["/", root], ["/hyperbatch/", pkgDir]]);
  after(() => server.close());
  for (const [name, path] of [["plain", "/browser/index.html"], ["slim", "/browser/slim.html"], ["worker", "/browser/worker.html"]]) {
    if (!pages.includes(name)) continue;
    server.requests.length = 0;
    const out = await runPage(server.origin + path);
    register(out.runtime, out, [...server.requests], name === "slim" ? [] : DATALOADER_NAMES);
  }
}

if (pages.includes("vite")) {
  const { build, version } = await import("vite");
  const outDir = join(here, "..", "dist", "vite");
  await build({
    configFile: false,
    root: join(root, "vite"),
    logLevel: "warn",
    build: { outDir, emptyOutDir: true },
  });
  const assets = readdirSync(join(outDir, "assets"));
  registrations.push(() => test(`vite ${version}: the build emitted the .wasm asset`, () => {
    assert.ok(assets.some((f) => f.endsWith(".wasm")), `assets: ${assets}`);
  }));
  const server = await serve([["/", outDir]]);
  after(() => server.close());
  const out = await runPage(`${server.origin}/index.html`);
  register(out.runtime, out, server.requests, DATALOADER_NAMES);
}

if (pages.includes("example")) {
  // examples/browser, used as a person would: click the buttons, read the table.
  const exampleDir = join(root, "..", "..", "examples", "browser");
  const { start } = await import(join(exampleDir, "serve.mjs"));
  const server = await start(0);
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  let outcome;
  try {
    await page.goto(server.url);
    await page.waitForFunction(() => document.querySelector("#status").textContent === "ready", null, { timeout: 30_000 });
    const clicks = [["like", 7], ["share", 3], ["buy", 2]];
    for (const [event, n] of clicks) {
      for (let i = 0; i < n; i++) await page.click(`button[data-event="${event}"]`);
    }
    await page.waitForFunction(() => document.querySelector("#delivered").textContent === "12", null, { timeout: 10_000 });
    const text = async (id) => (await page.textContent(`#${id}`)).trim();
    outcome = {
      table: { clicks: await text("clicks"), queued: await text("queued"), batches: await text("batches"), delivered: await text("delivered"), last: await text("last") },
      received: server.received.map((b) => b.map((e) => e.type)),
    };
    if (process.env.HYPERBATCH_SCREENSHOT) await page.screenshot({ path: process.env.HYPERBATCH_SCREENSHOT });
  } catch (e) {
    outcome = { error: `${e.message}\n${logs.join("\n")}` };
  } finally {
    await page.close();
    await server.close();
  }
  registrations.push(() => test("examples/browser: 12 clicks reach /collect in order, in batches of at most 10; the table shows it", () => {
    assert.ok(!outcome.error, outcome.error);
    const sizes = outcome.received.map((b) => b.length);
    assert.ok(sizes.length >= 2 && sizes.every((n) => n >= 1 && n <= 10), `batch sizes ${sizes}`);
    assert.deepEqual(outcome.received.flat(), [...Array(7).fill("like"), ...Array(3).fill("share"), ...Array(2).fill("buy")]);
    const last = sizes.at(-1);
    assert.deepEqual(
      { ...outcome.table, last: outcome.table.last.split(" in ")[0] },
      { clicks: "12", queued: "0", batches: String(sizes.length), delivered: "12", last: `${last} event${last === 1 ? "" : "s"}` },
    );
    assert.deepEqual(logs.filter((l) => /Content Security Policy|pageerror/.test(l)), [], "no CSP violation or page error");
  }));
}

for (const r of registrations) r();
