#!/usr/bin/env node
// Traces facade-section pages in headless Chromium (the bench's page, server and flags) and says
// where each page's time goes during its timed runs, per thread of its renderer: wall time and
// thread (CPU) time of top-level trace slices (against the timed runs' own length, "window"), and
// the slices' names by total. Not part of the benchmark: a tool for finding where the facade loses.
//
//   node bench/lib/trace-facade.mjs [workload] [pages per contender] [--save DIR]
//
// (after one `bash bench/run.sh` run, which builds bench/dist/peers.js). HYPERBATCH_PKG as in run.mjs.
//
// workload: "cache off" (default), "cache on", "per request". Contenders alternate, page by page.
// The timed runs are found by the marks the page's CPU-time reads leave (suite.js facadeSample
// reads it before and after each timed run; here that read is a performance.mark).
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, serve } from "./chromium.mjs";

const HERE = path.dirname(path.dirname(fileURLToPath(import.meta.url))); // bench/, served at /
const PKG = path.resolve(process.env.HYPERBATCH_PKG ?? path.join(HERE, "..", "pkg"));
const args = process.argv.slice(2);
const saveAt = args.indexOf("--save");
const saveDir = saveAt >= 0 ? args.splice(saveAt, 2)[1] : undefined;
const workload = args[0] ?? "cache off";
const pages = Number(args[1] ?? 3);
const CATEGORIES = ["toplevel", "v8", "v8.wasm", "v8.execute", "blink.user_timing", "disabled-by-default-v8.compile",
  "disabled-by-default-v8.gc", "disabled-by-default-v8.wasm.detailed", "devtools.timeline"].join(",");


const pkgJson = JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8"));
function browserEntry(sub) {
  const pick = (t) => typeof t === "string" ? t : t && typeof t === "object"
    ? Object.entries(t).filter(([k]) => ["browser", "import", "default"].includes(k)).map(([, v]) => pick(v)).find(Boolean) : null;
  return `/pkg/${pick(pkgJson.exports[sub]).replace(/^\.\//, "")}`;
}

/** Per-thread totals of the renderer's trace between the first forced gc() and the end. */
function analyse(trace) {
  const events = trace.traceEvents;
  const threadName = new Map();
  for (const e of events) if (e.ph === "M" && e.name === "thread_name") threadName.set(`${e.pid}:${e.tid}`, e.args.name);
  const marks = events.filter((e) => e.cat?.includes("blink.user_timing") && e.name === "facade-run").sort((a, b) => a.ts - b.ts);
  if (marks.length < 2 || marks.length % 2) throw new Error(`${marks.length} facade-run marks in the trace`);
  const windows = [];
  for (let i = 0; i < marks.length; i += 2) windows.push([marks[i].ts, marks[i + 1].ts]);
  const pid = marks[0].pid;
  // Each slice's part inside the timed runs.
  const inside = (s, f) => windows.reduce((sum, [a, b]) => sum + Math.max(0, Math.min(f, b) - Math.max(s, a)), 0);
  const byThread = new Map();
  const slices = events.filter((e) => e.pid === pid && e.ph === "X" && inside(e.ts, e.ts + (e.dur ?? 0)) > 0)
    .sort((a, b) => a.ts - b.ts || (b.dur ?? 0) - (a.dur ?? 0));
  for (const e of slices) {
    const key = `${e.pid}:${e.tid}`;
    let t = byThread.get(key);
    if (!t) byThread.set(key, t = { name: threadName.get(key) ?? key, wall: 0, cpu: 0, top: new Map(), all: new Map(), openUntil: -1 });
    const part = inside(e.ts, e.ts + (e.dur ?? 0));
    const named = t.all.get(e.name) ?? { wall: 0, n: 0 };
    named.wall += part;
    named.n++;
    t.all.set(e.name, named);
    if (e.ts >= t.openUntil) { // a top-level slice
      t.openUntil = e.ts + (e.dur ?? 0);
      t.wall += part;
      t.cpu += (e.tdur ?? 0) * (part / Math.max(1, e.dur ?? 1));
      const top = t.top.get(e.name) ?? { wall: 0, n: 0 };
      top.wall += part;
      top.n++;
      t.top.set(e.name, top);
    }
  }
  return { windowMs: windows.reduce((sum, [a, b]) => sum + b - a, 0) / 1000, threads: [...byThread.values()].sort((a, b) => b.wall - a.wall) };
}

const executablePath = process.env.CHROMIUM ?? spawnSync("which", ["chromium"], { encoding: "utf8" }).stdout.trim();
const server = await serve(HERE, PKG);
const browser = await chromium.launch({ executablePath, headless: true,
  args: CHROMIUM_ARGS });
const entries = { entry: browserEntry("."), dataloaderEntry: browserEntry("./dataloader"), peers: "/dist/peers.js" };
const totals = {};
try {
  for (let p = 0; p < pages; p++) {
    for (const contender of p % 2 ? ["hyperbatch", "dataloader"] : ["dataloader", "hyperbatch"]) {
      const page = await browser.newPage();
      let done;
      const result = new Promise((r) => (done = r));
      page.on("pageerror", (e) => done({ error: String(e) }));
      await page.exposeFunction("benchDone", (json) => done(JSON.parse(json)));
      // The page reads its main-thread CPU time before and after each timed run (outside its
      // timing): here that call marks the trace instead.
      await page.addInitScript(() => {
        globalThis.benchThreadMs = async () => {
          performance.mark("facade-run");
          return 0;
        };
      });
      await browser.startTracing(page, { categories: CATEGORIES.split(",") });
      const { port } = server.address();
      const config = { quick: false, facade: { workload, contender }, ...entries };
      await page.goto(`http://127.0.0.1:${port}/lib/page.html#${encodeURIComponent(JSON.stringify(config))}`);
      const out = await result;
      const buf = await browser.stopTracing();
      await page.close();
      if (out.error) throw new Error(out.error);
      const trace = JSON.parse(buf.toString());
      if (saveDir) {
        fs.mkdirSync(saveDir, { recursive: true });
        fs.writeFileSync(path.join(saveDir, `${contender}-${p}.json`), buf);
      }
      const a = analyse(trace);
      const line = a.threads.slice(0, 8).map((t) => `${t.name} ${(t.wall / 1000).toFixed(1)}/${(t.cpu / 1000).toFixed(1)}`).join(", ");
      console.log(`${contender} page ${p}: timed ${out.timedMs.map((x) => x.toFixed(1)).join(" ")} ms; window ${a.windowMs.toFixed(1)} ms; wall/cpu ms: ${line}`);
      const acc = totals[contender] ??= new Map();
      for (const t of a.threads) {
        const tn = t.name.replace(/\d+$/, "#");
        const x = acc.get(tn) ?? { wall: 0, cpu: 0, names: new Map() };
        x.wall += t.wall;
        x.cpu += t.cpu;
        for (const [n, v] of t.all) x.names.set(n, (x.names.get(n) ?? 0) + v.wall);
        acc.set(tn, x);
      }
    }
  }
} finally {
  await browser.close();
  server.close();
}
for (const [contender, acc] of Object.entries(totals)) {
  console.log(`\n== ${contender}: per page (mean of ${pages}), by thread: wall / cpu ms; busiest slice names (wall ms, nested included)`);
  for (const [tn, x] of [...acc].sort((a, b) => b[1].wall - a[1].wall)) {
    const names = [...x.names].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([n, w]) => `${n} ${(w / 1000 / pages).toFixed(1)}`).join(", ");
    console.log(`  ${tn}: ${(x.wall / 1000 / pages).toFixed(1)} / ${(x.cpu / 1000 / pages).toFixed(1)}  [${names}]`);
  }
}
