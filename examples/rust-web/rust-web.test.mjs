// The page in headless Chromium (Debian's, through playwright-core; never a downloaded browser):
// N leases, each reserved and completed through its own add, reach the server in batches, and
// every lease gets its own answer — the one the server recorded for it.
// Run after build.sh: node --test rust-web.test.mjs (scripts/test-rust-web.sh does both).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { start } from "./serve.mjs";

const N = 40;
const MAX_BATCH = 16; // src/lib.rs: max_batch_size(16) on both batchers

let server, context, profile, report, logs;

before(async () => {
  server = await start(0);
  profile = mkdtempSync(join(tmpdir(), "hyperbatch-rust-web-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? execFileSync("which", ["chromium"], { encoding: "utf8" }).trim(),
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await context.newPage();
  logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${server.url}?n=${N}`);
  await page.waitForFunction(() => /^(done|failed)/.test(document.querySelector("#status").textContent), null, {
    timeout: 30_000,
  });
  report = await page.evaluate(() => ({ status: document.querySelector("#status").textContent, ...globalThis.report }));
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await server?.close();
});

test("the page ran every lease without an error or a CSP violation", () => {
  assert.equal(report.status, "done", logs.join("\n"));
  assert.equal(report.outcomes.length, N);
  assert.deepEqual(report.outcomes.filter((o) => o.error), []);
  assert.deepEqual(logs.filter((l) => /Content Security Policy|pageerror|error:/.test(l)), []);
});

test("the server saw the leases batched: fewer requests than leases, none above max_batch_size", () => {
  for (const path of ["/v1/reserve/batch", "/v1/complete/batch"]) {
    const sizes = server.batches.filter((b) => b.path === path).map((b) => b.items);
    assert.equal(sizes.reduce((a, b) => a + b, 0), N, `${path}: every lease once (${sizes})`);
    assert.ok(sizes.length >= Math.ceil(N / MAX_BATCH) && sizes.length < N / 2, `${path}: batch sizes ${sizes}`);
    assert.ok(sizes.every((n) => n >= 1 && n <= MAX_BATCH), `${path}: batch sizes ${sizes}`);
  }
  assert.equal(report.reserve_calls, server.batches.filter((b) => b.path === "/v1/reserve/batch").length);
  assert.equal(report.complete_calls, server.batches.filter((b) => b.path === "/v1/complete/batch").length);
});

test("every lease got its own answer: the one the server recorded for it", () => {
  const { reservations, completions } = server.api.state;
  assert.equal(reservations.size, N);
  assert.equal(completions.size, N);
  for (const o of report.outcomes) {
    const id = o.lease_id.toUpperCase();
    assert.equal(o.reserved, id, "the reservation answer names this lease");
    assert.equal(o.completed, id, "the completion answer names this lease");
    assert.equal(o.reserved_at_unix_ms, reservations.get(id).result.reserved_at_unix_ms);
    assert.equal(completions.get(id).result.lease_id, id);
  }
});

test("nothing was sent twice (the server's delivery ledgers)", () => {
  const audit = server.api.state.audit();
  for (const path of ["/v1/reserve/batch", "/v1/complete/batch"]) {
    assert.equal(audit[path].ids, N, path);
    assert.equal(audit[path].deliveries, N, path);
    assert.equal(audit[path].duplicates, 0, path);
    assert.equal(audit[path].acked, N, path);
  }
});
