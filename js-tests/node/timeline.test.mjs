// hyperbatch/timeline (docs/timeline.md): the recorder's SVG for known runs has exactly the
// expected lanes, bars, colours, links and histogram. The SVG is parsed as text: every call bar is
// a <rect class="call"> with data-id/-key/-outcome/-attempt/-size, every link a <line class="link">
// with data-kind/-from/-to.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Timeline } from "hyperbatch/timeline";
import { FAST_RETRY, LONG, httpError, open, test } from "./_helpers.mjs";

const require = createRequire(import.meta.url);

/** The attributes of every `<tag class="cls" …>` in `svg`, as objects. */
function elements(svg, tag, cls) {
  const out = [];
  for (const m of svg.matchAll(new RegExp(`<${tag} class="${cls}"([^>]*)>`, "g"))) {
    const attrs = {};
    for (const a of m[1].matchAll(/([\w-]+)="([^"]*)"/g)) attrs[a[1]] = a[2];
    out.push(attrs);
  }
  return out;
}
const bars = (svg) => elements(svg, "rect", "call");
const links = (svg) => elements(svg, "line", "link");
const tally = (list, field) => {
  const t = {};
  for (const e of list) t[e[field]] = (t[e[field]] ?? 0) + 1;
  return t;
};

test("a scripted run through a real Batcher: ok, partial, 503 retried, 400 bisected to the poison item, timeouts", async (t) => {
  const rec = new Timeline();
  const userHooks = { start: 0, end: 0 };
  // Each item says how the transport treats it: "ok", "item-error", "503-once", "poison", "hang".
  const failedOnce = new Set();
  const b = open(
    t,
    rec.attach({
      maxWaitMs: LONG,
      keyOf: (item) => item.key,
      timeoutMs: 40,
      retry: { ...FAST_RETRY, maxAttempts: 3 },
      transport: async (batch) => {
        if (batch.items.some((i) => i.how === "hang")) return new Promise(() => {});
        if (batch.items.some((i) => i.how === "poison")) throw httpError(400);
        const flaky = batch.items.filter((i) => i.how === "503-once" && !failedOnce.has(i));
        if (flaky.length) {
          for (const i of flaky) failedOnce.add(i);
          throw httpError(503);
        }
        return batch.items.map((i) => (i.how === "item-error" ? new Error("no such item") : i.n));
      },
      onBatchStart: () => userHooks.start++,
      onBatchEnd: () => userHooks.end++,
    }),
  );
  const item = (key, n, how = "ok") => ({ key, n, how });
  const phase = async (items) => {
    const ps = items.map((i) => rec.track(b.add(i)));
    await b.flush();
    return Promise.allSettled(ps);
  };
  await phase([item(undefined, 1), item(undefined, 2), item(undefined, 3)]); // ok, lane "default"
  await phase([item("b", 1), item("b", 2, "item-error"), item("b", 3)]); // partial
  await phase([item("c", 1, "503-once"), item("c", 2)]); // retried, then ok
  const d = await phase([item("d", 1), item("d", 2), item("d", 3, "poison"), item("d", 4)]); // bisected
  assert.deepEqual(d.map((s) => s.status), ["fulfilled", "fulfilled", "rejected", "fulfilled"]);
  const e = await phase([item("e", 1, "hang")]); // times out on every attempt
  assert.equal(e[0].reason.code, "E_TIMEOUT");

  // Calls: default 1 ok; b 1 partial; c retried + ok; d [1..4] bisected, [1,2] ok, [3,4]
  // bisected, [3] failed, [4] ok; e 3 timeouts (attempts 1, 2, 3).
  assert.equal(userHooks.start, 12, "the user's own hooks still run");
  assert.equal(userHooks.end, 12);
  const svg = rec.svg();
  const all = bars(svg);
  assert.equal(all.length, 12);
  assert.deepEqual(tally(all, "data-key"), { default: 1, b: 1, c: 2, d: 5, e: 3 });
  assert.deepEqual(tally(all, "data-outcome"), { ok: 4, partial: 1, retried: 1, bisected: 2, failed: 1, timeout: 3 });
  const lanes = elements(svg, "g", "lane").map((l) => l["data-key"]);
  assert.deepEqual(lanes, ["default", "b", "c", "d", "e"]);

  const byKey = (k) => all.filter((x) => x["data-key"] === k);
  assert.deepEqual(byKey("c").map((x) => [x["data-outcome"], x["data-attempt"], x["data-size"]]), [
    ["retried", "1", "2"],
    ["ok", "2", "2"],
  ]);
  assert.deepEqual(byKey("d").map((x) => [x["data-outcome"], x["data-size"]]), [
    ["bisected", "4"],
    ["ok", "2"],
    ["bisected", "2"],
    ["failed", "1"],
    ["ok", "1"],
  ]);
  assert.deepEqual(byKey("e").map((x) => [x["data-outcome"], x["data-attempt"]]), [
    ["timeout", "1"],
    ["timeout", "2"],
    ["timeout", "3"],
  ]);
  // Colours follow the outcome, one colour per outcome.
  const colour = {};
  for (const x of all) {
    colour[x["data-outcome"]] ??= x.fill;
    assert.equal(x.fill, colour[x["data-outcome"]], `${x["data-outcome"]} bars share a colour`);
  }
  assert.equal(new Set(Object.values(colour)).size, 6, JSON.stringify(colour));
  // The legend shows each colour with its count.
  for (const g of elements(svg, "g", "legend")) {
    const o = g["data-outcome"];
    assert.equal(Number(g["data-count"]), all.filter((x) => x["data-outcome"] === o).length, o);
  }

  // Links: each retry and bisect half points from its parent to itself.
  const ids = (k) => byKey(k).map((x) => x["data-id"]);
  const [c1, c2] = ids("c");
  const [d4, d12, d34, d3, d4b] = ids("d");
  const [e1, e2, e3] = ids("e");
  const got = links(svg).map((l) => `${l["data-kind"]} ${l["data-from"]}→${l["data-to"]}`).sort();
  const want = [
    `retry ${c1}→${c2}`,
    `bisect ${d4}→${d12}`,
    `bisect ${d4}→${d34}`,
    `bisect ${d34}→${d3}`,
    `bisect ${d34}→${d4b}`,
    `retry ${e1}→${e2}`,
    `retry ${e2}→${e3}`,
  ].sort();
  assert.deepEqual(got, want);
  // A link starts at its parent bar's right edge and ends at the child's left edge.
  const bar = new Map(all.map((x) => [x["data-id"], x]));
  for (const l of links(svg)) {
    const p = bar.get(l["data-from"]);
    const c = bar.get(l["data-to"]);
    assert.ok(Math.abs(Number(l.x1) - (Number(p.x) + Number(p.width))) <= 0.02, `${l.x1} vs ${p.x}+${p.width}`);
    assert.equal(Number(l.x2), Number(c.x));
  }

  // Hover text: size and attempt.
  assert.match(svg, /size 2, attempt 2/);
  // Latency histogram: the 13 tracked adds, add → settle.
  const hist = elements(svg, "rect", "hist-bar");
  assert.equal(hist.reduce((n, h) => n + Number(h["data-count"]), 0), 13);
  assert.match(svg, /add → settle: 13 samples/);
});

test("synthetic hooks with a fixed clock: exact geometry, overlapping calls on separate rows", () => {
  let clock = 0;
  const rec = new Timeline({ now: () => clock });
  const { onBatchStart, onBatchEnd } = rec.hooks();
  const A = ["a1", "a2"];
  const B = ["b1"];
  const at = (t, f) => {
    clock = t;
    f();
  };
  at(0, () => onBatchStart({ id: 1, key: "k", size: 2, weight: 2, attempt: 1, items: A }));
  at(50, () => onBatchStart({ id: 2, key: "k", size: 1, weight: 1, attempt: 1, items: B }));
  const boom = Object.assign(new Error("unavailable"), { status: 503 });
  at(100, () => onBatchEnd({ id: 1, key: "k", size: 2, attempt: 1, durationMs: 100, succeeded: 0, failed: 0, error: boom, items: A }));
  at(150, () => onBatchEnd({ id: 2, key: "k", size: 1, attempt: 1, durationMs: 100, succeeded: 1, failed: 0, items: B, results: ["x"] }));
  at(200, () => onBatchStart({ id: 3, key: "k", size: 2, weight: 2, attempt: 2, items: A }));
  at(382, () => onBatchEnd({ id: 3, key: "k", size: 2, attempt: 2, durationMs: 182, succeeded: 2, failed: 0, items: A, results: [1, 2] }));

  const svg = rec.svg({ width: 960 });
  const [b1, b2, b3] = bars(svg);
  // The plot spans x 180 … 944 (width 960, labels 180, right pad 16) for t 0 … 382 ms.
  const x = (t) => 180 + (t / 382) * 764;
  assert.deepEqual([Number(b1.x), Number(b1.width)], [180, 200]);
  assert.equal(Number(b2.x), x(50));
  assert.equal(Number(b2.width), 200);
  assert.equal(Number(b3.x), 580);
  assert.equal(Number(b3.x) + Number(b3.width), 944);
  assert.notEqual(b1.y, b2.y, "overlapping calls of one key sit on separate rows");
  assert.equal(b1.y, b3.y, "a later call reuses the first free row");
  assert.deepEqual([b1["data-outcome"], b2["data-outcome"], b3["data-outcome"]], ["retried", "ok", "ok"]);
  const [l] = links(svg);
  assert.deepEqual([l["data-kind"], l["data-from"], l["data-to"], Number(l.x1), Number(l.x2)], ["retry", "1", "3", 380, 580]);
  assert.equal(links(svg).length, 1, "call 2 shares no item with call 1: no link");
  // Without tracked adds, the histogram is of call durations (100, 100, 182 ms).
  assert.match(svg, /call durations \(no adds tracked\): 3 samples/);
  const hist = elements(svg, "rect", "hist-bar");
  assert.equal(hist.find((h) => h["data-hi"] === "100")["data-count"], "2");
  assert.equal(hist.find((h) => h["data-hi"] === "200")["data-count"], "1");
  assert.deepEqual(rec.calls().map((c) => c.parents), [[], [], [{ id: 1, kind: "retry" }]]);
});

test("memory is bounded: a ring of the last `limit` calls, fixed histogram buckets", () => {
  let clock = 0;
  const rec = new Timeline({ limit: 5, now: () => clock });
  const { onBatchStart, onBatchEnd } = rec.hooks("x");
  for (let id = 1; id <= 40; id++) {
    const items = [{ id }];
    onBatchStart({ id, key: id % 2 ? "odd" : "even", size: 1, attempt: 1, items });
    clock += 3;
    // every call fails at batch level with its items re-queued: the item index must still drop them
    onBatchEnd({ id, key: id % 2 ? "odd" : "even", size: 1, attempt: 1, durationMs: 3, succeeded: 0, failed: 0, error: new Error("x"), items });
  }
  const svg = rec.svg();
  assert.deepEqual(bars(svg).map((b) => b["data-id"]).sort(), ["36", "37", "38", "39", "40"]);
  assert.equal(rec.calls().length, 5);
  assert.equal(rec.lastCall.get(0).size, 5, "the item index (of hooks() set 0) holds only items of the calls kept");
  assert.match(svg, /35 older calls dropped/);
  assert.equal(elements(svg, "rect", "hist-bar").length, 16);
  assert.equal(elements(svg, "g", "lane").map((l) => l["data-batcher"]).join(), "x,x");
});

test("html(): one page, the SVG inline, a CSP that forbids scripts and styles, text escaped", () => {
  const rec = new Timeline();
  const { onBatchStart, onBatchEnd } = rec.hooks();
  onBatchStart({ id: 1, key: "<k>", size: 1, attempt: 1, items: [1] });
  onBatchEnd({ id: 1, key: "<k>", size: 1, attempt: 1, durationMs: 1, succeeded: 1, failed: 0, items: [1], results: [1] });
  const page = rec.html({ title: "run & <report>", text: "a <table>" });
  assert.match(page, /^<!doctype html>/);
  assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'">/);
  assert.doesNotMatch(page, /<script|<style|style="|<link|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  assert.match(page, /<title>run &amp; &lt;report&gt;<\/title>/);
  assert.match(page, /<pre>a &lt;table&gt;<\/pre>/);
  assert.equal(bars(page).length, 1);
  assert.equal(bars(page)[0]["data-key"], "&lt;k&gt;");
});

// A null option is no option, as undefined is (options forwarded from a form or a config file):
// svg({ title: null }) printed a heading "null", html({ title: null, text: null }) a page titled
// "null" with "null" as its text.
test("svg() and html(): a null title or text is none, not the text \"null\"", () => {
  const rec = new Timeline();
  const { onBatchStart, onBatchEnd } = rec.hooks();
  onBatchStart({ id: 1, key: "k", size: 1, attempt: 1, items: [1] });
  onBatchEnd({ id: 1, key: "k", size: 1, attempt: 1, durationMs: 1, succeeded: 1, failed: 0, items: [1], results: [1] });
  assert.equal(rec.svg({ title: null }), rec.svg());
  assert.equal(rec.html({ title: null, text: null }), rec.html());
  assert.doesNotMatch(rec.html({ title: null, text: null }), />null</);
});

test("attach keeps the caller's hooks; a throwing hook of theirs does not break the recording", () => {
  const rec = new Timeline();
  const seen = [];
  const opts = rec.attach({ maxWaitMs: 5, onBatchStart: (i) => seen.push(`start ${i.id}`), onBatchEnd: () => { throw new Error("theirs"); } });
  assert.equal(opts.maxWaitMs, 5);
  opts.onBatchStart({ id: 7, key: undefined, size: 1, attempt: 1, items: ["x"] });
  assert.throws(() => opts.onBatchEnd({ id: 7, size: 1, attempt: 1, succeeded: 1, failed: 0, items: ["x"], results: [1] }), /theirs/);
  assert.deepEqual(seen, ["start 7"]);
  assert.equal(rec.calls()[0].outcome, "ok");
  assert.throws(() => new Timeline({ limit: 0 }), (e) => e.code === "E_CONFIG");
});

test("hyperbatch/timeline is its own entry: CommonJS twin, types, and not loaded by the main entry", () => {
  const cjs = require("hyperbatch/timeline");
  assert.equal(typeof cjs.Timeline, "function");
  assert.equal(new cjs.Timeline().svg().startsWith("<svg"), true);
  const pkgDir = new URL("../node_modules/hyperbatch/", import.meta.url);
  const manifest = JSON.parse(readFileSync(new URL("package.json", pkgDir), "utf8"));
  assert.deepEqual(manifest.exports["./timeline"].types, { require: "./timeline.d.cts", default: "./timeline.d.ts" });
  for (const f of ["timeline.js", "timeline.cjs", "timeline.d.ts", "timeline.d.cts"]) assert.ok(manifest.files.includes(f), f);
  // Nothing the main entries load mentions it; it imports nothing.
  for (const f of ["index.node.js", "index.browser.js", "core.js", "index.cjs"]) {
    assert.doesNotMatch(readFileSync(new URL(f, pkgDir), "utf8"), /timeline/, f);
  }
  assert.doesNotMatch(readFileSync(new URL("timeline.js", pkgDir), "utf8"), /\bimport\b|require\(/);
});

test("track(): the returned promise settles as the tracked one, and each settle is one sample", async () => {
  let clock = 0;
  const rec = new Timeline({ now: () => clock });
  const boom = new Error("boom");
  let resolve;
  const pending = new Promise((r) => (resolve = r));
  const ok = rec.track(pending);
  const bad = rec.track(Promise.reject(boom));
  await assert.rejects(bad, (e) => e === boom);
  clock = 7;
  resolve("v");
  assert.equal(await ok, "v");
  const svg = rec.svg();
  assert.match(svg, /add → settle: 2 samples/);
  const hist = elements(svg, "rect", "hist-bar");
  assert.equal(hist.find((h) => h["data-hi"] === "1")["data-count"], "1"); // the rejection, at 0 ms
  assert.equal(hist.find((h) => h["data-hi"] === "10")["data-count"], "1"); // 7 ms
});

test("several batchers in one timeline: lanes grouped by batcher, no link across batchers", () => {
  const rec = new Timeline();
  const a = rec.hooks("a");
  const b = rec.hooks("b");
  const shared = { id: "same object" };
  const call = (h, id, key, attempt, items, error) => {
    h.onBatchStart({ id, key, size: items.length, attempt, items });
    h.onBatchEnd({ id, key, size: items.length, attempt, succeeded: error ? 0 : items.length, failed: 0, error, items, results: error ? undefined : items });
  };
  call(a, 1, "x", 1, [shared], new Error("503"));
  call(b, 1, "x", 2, [shared]); // another batcher sending the same object: not a retry of a's call
  call(a, 2, "y", 1, ["p"]);
  call(a, 3, "x", 2, [shared]);
  const svg = rec.svg();
  const lanes = elements(svg, "g", "lane").map((l) => `${l["data-batcher"]}/${l["data-key"]}`);
  assert.deepEqual(lanes, ["a/x", "a/y", "b/x"]);
  const got = links(svg).map((l) => `${l["data-kind"]} ${l["data-from"]}→${l["data-to"]}`);
  assert.deepEqual(got, ["retry 1→3"]);
  assert.equal(bars(svg).filter((x) => x["data-batcher"] === "a" && x["data-id"] === "1")[0]["data-outcome"], "retried");
  assert.match(svg, />a · x</);
});
