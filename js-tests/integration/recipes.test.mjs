// The recipes of docs/recipes.md (examples/recipes/) against the loopback batch server: each is run
// in-process with a server this test starts, and the test checks the server's own state (not what
// the recipe says about itself); then each script is run as a user runs it and must exit 0.
// examples/recipes links hyperbatch from ../../pkg: it is installed here when missing.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { before, test } from "node:test";
import { startUpstream } from "../../examples/cloudflare-worker/upstream.mjs";
import { startCluster, startServer } from "../../examples/server/server.mjs";

const dir = fileURLToPath(new URL("../../examples/recipes/", import.meta.url));
const T = { timeout: 20_000 };

let recipes;
before(async () => {
  if (!existsSync(`${dir}node_modules/hyperbatch`)) {
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, stdio: "inherit" });
  }
  recipes = {
    reserve: await import(`${dir}reserve-complete.mjs`),
    write: await import(`${dir}atomic-batch-write.mjs`),
    claims: await import(`${dir}claims-fan-out.mjs`),
    hide: await import(`${dir}flush-on-hide.js`),
    metrics: await import(`${dir}batch-metrics.mjs`),
  };
});

async function server(t, opts) {
  const s = await startServer(opts);
  t.after(() => s.close());
  return s;
}

test("recipe (a): denied reservations wait for retry_after_ms and are granted later, never over the limit", T, async (t) => {
  const { CAPACITY, LIMIT_KEY, WINDOW_MS, run } = recipes.reserve;
  const s = await server(t, { limits: { [LIMIT_KEY]: { capacity: CAPACITY, windowMs: WINDOW_MS } } });
  const jobs = 12;
  const { outcomes, stats } = await run({ baseUrl: s.url, jobs });

  assert.equal(outcomes.length, jobs);
  assert.ok(outcomes.every((o) => o.completed), "every job completed");
  assert.equal(s.state.reservations.size, jobs, "each lease reserved once");
  assert.equal(s.state.completions.size, jobs, "each lease completed once");
  for (const o of outcomes) assert.ok(s.state.completions.has(o.lease_id));

  // The limit held: no window granted more than CAPACITY, so the 12 grants span >= 3 windows.
  const perWindow = new Map();
  for (const r of s.state.reservations.values()) {
    perWindow.set(r.taken[0].window_start, (perWindow.get(r.taken[0].window_start) ?? 0) + 1);
  }
  assert.ok([...perWindow.values()].every((n) => n <= CAPACITY), `grants per window: ${[...perWindow.values()]}`);
  assert.ok(perWindow.size >= Math.ceil(jobs / CAPACITY));
  // Denied items were retried alone, after the hint: the last grant came at least two windows in.
  const waits = outcomes.map((o) => o.waitedMs).sort((a, b) => a - b);
  assert.ok(waits.at(-1) >= WINDOW_MS, `last grant after ${waits.at(-1)} ms`);
  assert.ok(stats.retries >= jobs - CAPACITY, `item retries: ${stats.retries}`);
  // Batched: far fewer requests than items (12 reserves + 12 completes).
  const calls = s.state.counters.requests;
  assert.ok(calls["/v1/reserve/batch"] <= 6, `reserve calls: ${calls["/v1/reserve/batch"]}`);
  assert.ok(calls["/v1/complete/batch"] <= 6, `complete calls: ${calls["/v1/complete/batch"]}`);
});

test("recipe (b): an atomic batch is written whole after a 503, and not at all when one operation is invalid", T, async (t) => {
  const { TABLE, run } = recipes.write;
  const s = await server(t);
  const { round1, round2, stats } = await run({ baseUrl: s.url });

  const stored = s.state.tables.items(TABLE);
  const round = (n) => stored.filter((item) => item.category === `round-${n}`);
  // Round 1: the first call got the injected 503, the resend wrote all 25.
  assert.ok(round1.every((r) => r.status === "fulfilled" && r.value.written === true));
  assert.deepEqual(round(1).map((item) => item.key).sort(), Array.from({ length: 25 }, (_, i) => `note-${i}`).sort());
  assert.equal(s.state.counters.faults["503"], 1);
  // Round 2: nothing written, and every caller knows it, with the refused operation as the cause.
  assert.equal(round(2).length, 0);
  assert.equal(round2.length, 25);
  const causes = new Set(round2.map((r) => r.reason?.cause));
  assert.ok(round2.every((r) => r.status === "rejected" && r.reason.code === "E_ATOMIC"));
  assert.equal(causes.size, 1, "one shared cause");
  assert.match([...causes][0].message, /^operations\[7\]/);
  // One unit per round: 25 = maxBatchSize, so each round was one batch (round 1 sent twice).
  assert.equal(stats.batches, 3);
  assert.equal(s.state.counters.requests["/v1/batch-write"], 3);
});

test("recipe (c): every claim lands on the instance owning its domain; unknown domains are routed in one call", T, async (t) => {
  const { run } = recipes.claims;
  const cluster = await startCluster({ instances: 3 });
  t.after(() => cluster.close());
  const { claims, settled } = await run({ topologyUrl: cluster.urls[0] });

  assert.ok(settled.every((s) => s.status === "fulfilled"), "all claims accepted");
  let held = 0;
  for (const instance of cluster.instances) {
    const mine = [...instance.state.claims.values()];
    held += mine.length;
    assert.ok(mine.length > 0, `${instance.url} got claims`);
    for (const c of mine) assert.ok(instance.state.domains.includes(c.domain), `${c.id} (${c.domain}) on its owner`);
    // Known domains in one request per instance; routed claims in at most one more.
    const calls = instance.state.counters.requests["/v1/claims"];
    assert.ok(calls >= 1 && calls <= 2, `${instance.url}: ${calls} claim calls`);
  }
  assert.equal(held, claims.length, "each claim on exactly one instance");
  const unrouted = claims.filter((c) => c.domain === undefined);
  assert.ok(unrouted.length > 1);
  const routeCalls = cluster.instances.reduce((n, s) => n + (s.state.counters.requests["/v1/route"] ?? 0), 0);
  assert.equal(routeCalls, 1, "resolveKeys classified the unrouted claims together");
});

test("recipe (e): hiding the page sends what is queued at once, with keepalive; visible pages wait for the window", T, async () => {
  const { analyticsBatcher, watchPageHide } = recipes.hide;
  // A stand-in for window/document: the recipe only uses events and visibilityState.
  const win = new EventTarget();
  win.document = Object.assign(new EventTarget(), { visibilityState: "visible" });
  const sent = [];
  const fetchImpl = async (url, init) => {
    sent.push({ url, keepalive: init.keepalive, events: JSON.parse(init.body) });
    return new Response(null, { status: 204 });
  };
  let events;
  const page = watchPageHide(() => events.flush(), win);
  events = analyticsBatcher("/collect", page, { fetchImpl });

  const delivered = [events.add({ type: "click", n: 1 }), events.add({ type: "click", n: 2 })];
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(sent.length, 0, "a visible page waits for the 10 s window");

  win.document.visibilityState = "hidden";
  win.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(sent.length, 1, "the hide listener's flush() called the transport before returning");
  assert.deepEqual(sent[0], { url: "/collect", keepalive: true, events: [{ type: "click", n: 1 }, { type: "click", n: 2 }] });
  assert.deepEqual(await Promise.all(delivered), [true, true]);

  // Back to visible: no keepalive; pagehide alone also flushes.
  win.document.visibilityState = "visible";
  win.document.dispatchEvent(new Event("visibilitychange"));
  const later = events.add({ type: "scroll" });
  win.dispatchEvent(new Event("pagehide"));
  assert.equal(sent.length, 2);
  assert.equal(sent[1].keepalive, true);
  assert.equal(await later, true);

  // After stop(), hiding does nothing.
  page.stop();
  win.document.visibilityState = "visible";
  win.document.dispatchEvent(new Event("visibilitychange"));
  const last = events.add({ type: "late" });
  win.document.visibilityState = "hidden";
  win.document.dispatchEvent(new Event("visibilitychange"));
  assert.equal(sent.length, 2);
  await events.close();
  assert.equal(await last, true);
  assert.equal(sent[2].keepalive, true, "close() sent it; the page was hidden by then");
});

for (const script of ["reserve-complete.mjs", "atomic-batch-write.mjs", "claims-fan-out.mjs"]) {
  test(`recipe script ${script} runs on its own and exits 0`, T, () => {
    const r = spawnSync(process.execPath, [script], { cwd: dir, encoding: "utf8", timeout: 15_000 });
    assert.equal(r.status, 0, `${script} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^ok: /m);
  });
}

test("recipe (d): the Worker in docs/recipes.md answers at once and sends the events in batches of 25 via ctx.waitUntil", T, async (t) => {
  // The code block of section (d), run as written, with a stand-in for the Workers runtime's ctx.
  const doc = readFileSync(new URL("../../docs/recipes.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## (d)"), doc.indexOf("## (e)"));
  const code = /```js\n([\s\S]*?)```/.exec(section)[1];
  const file = `${dir}.docs-worker-${process.pid}.mjs`;
  writeFileSync(file, `import { Batcher } from "hyperbatch";\n${code}`);
  t.after(() => rmSync(file, { force: true }));
  const worker = (await import(file)).default;
  const upstream = await startUpstream(0);
  t.after(() => upstream.close());

  const pending = [];
  const events = Array.from({ length: 30 }, (_, i) => ({ type: "click", n: i }));
  const request = new Request("http://worker.test/events", { method: "POST", body: JSON.stringify(events) });
  const res = await worker.fetch(request, { UPSTREAM: upstream.url }, { waitUntil: (p) => pending.push(p) });
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { queued: 30 });
  assert.equal(pending.length, 1);
  await Promise.all(pending);
  assert.deepEqual(upstream.log.events.map((batch) => batch.length), [25, 5]);
  assert.deepEqual(upstream.log.events.flat(), events);
});

test("docs: every relative link in README.md, docs/ and examples/recipes/ points at a file and heading that exist", () => {
  const root = new URL("../../", import.meta.url);
  // GitHub's heading anchors: lower case, punctuation dropped (but - and _), spaces → -.
  const slug = (heading) => heading.toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
  const anchorsOf = (text) => new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1].trim())));
  const pages = ["README.md", "docs/reference.md", "docs/glossary.md", "docs/recipes.md", "examples/recipes/README.md"];
  const broken = [];
  for (const page of pages) {
    const url = new URL(page, root);
    const text = readFileSync(url, "utf8").replace(/```[\s\S]*?```/g, "");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // absolute URLs
      const [path, anchor] = target.split("#");
      const file = path === "" ? url : new URL(path, url);
      if (!existsSync(file)) {
        broken.push(`${page}: ${target} (no such file)`);
      } else if (anchor && !anchorsOf(readFileSync(file, "utf8")).has(anchor)) {
        broken.push(`${page}: ${target} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test("recipe (f): metrics built only from the hooks count every call, size bucket and failed item by code", T, async () => {
  const { snapshot, fulfilled, stats } = await recipes.metrics.run({ log: () => {} });
  assert.equal(snapshot.calls, stats.batches, "one onBatchEnd per transport call");
  assert.equal(Object.values(snapshot.sizes).reduce((a, b) => a + b, 0), stats.batches, "one size bucket per call");
  assert.equal(snapshot.succeeded, fulfilled, "successes read from info.results match the callers'");
  assert.equal(snapshot.failures.INVALID, 5, "items 7, 17, 27, 37, 47 fail alone, counted by their code");
  assert.equal(fulfilled, 45);
  assert.ok(snapshot.failures.HTTP_503 > 0, "every 4th call fails at batch level: its items count under its code");
  assert.equal(snapshot.items, snapshot.succeeded + snapshot.failures.INVALID + snapshot.failures.HTTP_503);
  const script = spawnSync(process.execPath, ["batch-metrics.mjs"], { cwd: dir, encoding: "utf8" });
  assert.equal(script.status, 0, script.stdout + script.stderr);
});
