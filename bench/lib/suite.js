// The measurements, the same module in every runtime. A driver calls
// `runSuite(libs, host, config)` with the libraries it loaded (see contenders.js) and a host:
//   { runtime, now(), freshTask(), gc?(), threadMs?(), log(line) }
// freshTask() resolves from a new macrotask (setImmediate, or a MessageChannel message): every
// chunk of adds starts from one, so no contender runs inside a chain of nested timer tasks (where
// browsers clamp DataLoader's setTimeout(0) to 4 ms).
import {
  f,
  hookContenders,
  keyContenders,
  optionContenders,
  throughputContenders,
  windowContenders,
} from "./contenders.js";

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

/** The sizes of every section: the full run, and BENCH_QUICK's for development. */
export function plan(quick) {
  return quick
    ? {
        throughput: { ns: [1e3, 1e5], rounds: { 1000: 5, 100000: 5 } },
        hooks: { ns: [1e5], rounds: 5 },
        keys: { n: 1e5, keyCounts: [1, 100, 1000], rounds: 3 },
        options: { n: 1e5, rounds: 5 },
        lateness: { windowMs: 10, samples: 12 },
        facade: { n: 2e4, rounds: 3, timed: 1 },
        warm: 1,
      }
    : {
        throughput: { ns: [1e3, 1e5, 1e6], rounds: { 1000: 7, 100000: 7, 1000000: 5 } },
        hooks: { ns: [1e5, 1e6], rounds: 5 },
        keys: { n: 1e6, keyCounts: [1, 100, 10000], rounds: 3 },
        options: { n: 5e4, rounds: 7 },
        lateness: { windowMs: 10, samples: 30 },
        facade: { n: 2e5, rounds: 11, timed: 3 },
        warm: 2,
      };
}

const CHUNK = 10_000; // items added before each `await Promise.all`
const BURST_ITEMS = 20_000; // a sample at N < CHUNK is this many items, in bursts of N
const REWARM = 20_000; // untimed items pushed through after each forced gc()
const WATCHDOG_MS = 120_000;

// Each contender's loop is compiled from this source with its own per-item call, so V8's inline
// caches and optimised code are never shared between libraries. Every result is checked by
// position (item i must resolve to f(i)); the index of the first wrong one comes back as `bad`.
const AsyncFunction = (async () => {}).constructor;
function compileLoop(callExpr) {
  return new AsyncFunction(
    "target",
    "extra",
    "total",
    "chunk",
    "now",
    "freshTask",
    `let bad = -1;
    const t0 = now();
    for (let base = 0; base < total && bad < 0; base += chunk) {
      await freshTask();
      const end = base + chunk < total ? base + chunk : total;
      const ps = new Array(end - base);
      for (let i = base; i < end; i++) ps[i - base] = ${callExpr};
      const rs = await Promise.all(ps);
      for (let j = 0; j < rs.length; j++) if (rs[j] !== (base + j) * 2) { bad = base + j; break; }
    }
    return { ms: now() - t0, bad };`,
  );
}
/** A single call of contender `c` (for the cold-start and memory probes). */
export const callerOf = (c) => new Function("target", "i", "extra", `return ${c.callExpr};`);

function withWatchdog(p, what) {
  let timer;
  const dog = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${WATCHDOG_MS / 1000} s (hung?)`)), WATCHDOG_MS);
  });
  return Promise.race([p, dog]).finally(() => clearTimeout(timer));
}

/**
 * Runs every contender `rounds` times on `total` items added `chunk` at a time, round-robin with
 * the starting contender moving by one each round; returns per-contender medians.
 */
async function compare(host, contenders, { total, chunk, rounds, warm, label, slowRounds = rounds }) {
  const run = async (c, n) => {
    const ch = Math.min(chunk, n);
    const r = await withWatchdog(c.loop(c.inst, c.extra, n, ch, host.now, host.freshTask), `${label} ${c.name}`);
    if (r.bad >= 0) throw new Error(`${c.name}: item ${r.bad} did not resolve to f(${r.bad})`);
    return r.ms;
  };
  for (const c of contenders) {
    c.loop = compileLoop(c.callExpr);
    c.samples = [];
    c.error = null;
    try {
      c.inst = c.create(total);
      for (let i = 0; i < warm; i++) await run(c, Math.min(total, c.slow ? REWARM : 100_000));
    } catch (e) {
      c.error = String(e?.message ?? e);
    }
  }
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + r) % contenders.length];
      if (c.error || (c.slow && c.samples.length >= slowRounds)) continue;
      try {
        if (host.gc) {
          host.gc();
          // A forced full GC throws away optimised code that embedded now-dead objects; push a
          // few items through untimed so the timed run measures steady state, not re-JIT.
          await run(c, Math.min(total, REWARM));
        }
        c.samples.push(await run(c, total));
      } catch (e) {
        c.error = String(e?.message ?? e);
      }
    }
  }
  const out = {};
  for (const c of contenders) {
    if (c.dispose && c.inst) await c.dispose(c.inst).catch(() => {});
    c.inst = null;
    if (c.error) host.log(`  ${label} ${c.name}: ERROR ${c.error}`);
    if (!c.samples.length) {
      out[c.key] = { name: c.name, error: c.error };
      continue;
    }
    const ms = median(c.samples);
    out[c.key] = {
      name: c.name,
      medianMs: ms,
      nsPerItem: (ms * 1e6) / total,
      itemsPerSec: total / (ms / 1000),
      minMs: Math.min(...c.samples),
      maxMs: Math.max(...c.samples),
      samplesMs: c.samples,
      ...(c.error ? { error: c.error } : {}),
    };
  }
  return out;
}

const line = (label, res) =>
  `  ${label}: ` +
  Object.values(res)
    .map((r) => `${r.name} ${r.medianMs ? `${r.nsPerItem.toFixed(0)} ns` : "ERROR"}`)
    .join(", ");

async function throughput(libs, host, p) {
  const out = {};
  for (const kind of ["sync", "async"]) {
    out[kind] = {};
    for (const n of p.throughput.ns) {
      const total = n < CHUNK ? Math.max(n, BURST_ITEMS) : n;
      const res = await compare(host, throughputContenders(libs, kind), {
        total,
        chunk: Math.min(n, CHUNK),
        rounds: p.throughput.rounds[n],
        warm: p.warm,
        label: `throughput ${kind} ${n}`,
        // batshit costs about 10 µs an item (a clearTimeout + setTimeout per fetch): one round at 1e6.
        slowRounds: n >= 1e6 ? 1 : p.throughput.rounds[n],
      });
      out[kind][n] = { items: total, chunk: Math.min(n, CHUNK), contenders: res };
      host.log(line(`${kind} N=${n}`, res));
    }
  }
  return out;
}

async function hooks(libs, host, p) {
  const out = {};
  for (const n of p.hooks.ns) {
    const cs = hookContenders(libs);
    const res = await compare(host, cs, { total: n, chunk: CHUNK, rounds: p.hooks.rounds, warm: p.warm, label: `hooks ${n}` });
    if (cs[1].hookCalls() === 0) throw new Error("hooks: onBatchStart/onBatchEnd were never called");
    out[n] = { contenders: res, ratio: res.hooks.medianMs / res.plain.medianMs };
    host.log(`${line(`hooks N=${n}`, res)}; ratio ${out[n].ratio.toFixed(3)}`);
  }
  return out;
}

async function keys(libs, host, p) {
  const { n, keyCounts, rounds } = p.keys;
  const res = await compare(host, keyContenders(libs, keyCounts), { total: n, chunk: n, rounds, warm: p.warm, label: "keys" });
  const base = res.plain.medianMs;
  const ratios = Object.fromEntries(Object.entries(res).map(([k, r]) => [k, r.medianMs / base]));
  host.log(line(`keys N=${n} (one await)`, res));
  return { items: n, chunk: n, contenders: res, ratios };
}

async function options(libs, host, p) {
  const { n, rounds } = p.options;
  // slowRounds: with one shared signal, today's hyperbatch adds a listener per item to one
  // EventTarget, which costs O(listeners) per add in Node; that contender gets one round.
  const res = await compare(host, optionContenders(libs, n), { total: n, chunk: CHUNK, rounds, warm: p.warm, label: "options", slowRounds: 1 });
  // hyperbatch's over its plain cost; the floor's over the plain floor.
  const ratios = Object.fromEntries(
    Object.entries(res).map(([k, r]) => [k, r.medianMs / (k.startsWith("floor") ? res.floor : res.plain).medianMs]),
  );
  host.log(line(`per-item options N=${n}`, res));
  return { items: n, chunk: CHUNK, contenders: res, ratios };
}

/** A busy event loop: back-to-back tasks of 1 ms of synchronous work, until stopped. */
function startLoad(host) {
  let on = true;
  const spin = () => {
    if (!on) return;
    const end = host.now() + 1;
    while (host.now() < end);
    host.freshTask().then(spin);
  };
  host.freshTask().then(spin);
  return () => {
    on = false;
  };
}

async function lateness(libs, host, p) {
  const { windowMs, samples } = p.lateness;
  const out = {};
  for (const mode of ["idle", "load"]) {
    let calledAt = 0;
    const cs = windowContenders(libs, windowMs, () => {
      if (calledAt === 0) calledAt = host.now();
    });
    for (const c of cs) {
      c.inst = c.create();
      c.late = [];
    }
    const stop = mode === "load" ? startLoad(host) : null;
    try {
      for (let s = 0; s < samples; s++) {
        for (let k = 0; k < cs.length; k++) {
          const c = cs[(k + s) % cs.length];
          await host.freshTask();
          calledAt = 0;
          const t0 = host.now();
          const v = await withWatchdog(c.add(c.inst, 21), `lateness ${c.name}`);
          if (v !== f(21) || calledAt === 0) throw new Error(`lateness ${c.name}: wrong result ${v}`);
          c.late.push(calledAt - t0 - windowMs);
        }
      }
    } finally {
      stop?.();
    }
    out[mode] = {};
    for (const c of cs) {
      if (c.dispose) await c.dispose(c.inst);
      out[mode][c.key] = {
        name: c.name,
        p50Ms: percentile(c.late, 50),
        p99Ms: percentile(c.late, 99),
        maxMs: Math.max(...c.late),
        samplesMs: c.late,
      };
    }
    host.log(
      `  lateness past ${windowMs} ms, ${mode}: ` +
        Object.values(out[mode])
          .map((r) => `${r.name} p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)}`)
          .join(", "),
    );
  }
  return { windowMs, samples, ...out };
}

// hyperbatch/dataloader against DataLoader: each workload runs in a process (Chromium: a page) of
// its own per contender and sample (facadeSample). Results are checked by position; every await
// starts from a fresh task.
const FACADE = {
  "cache off": `const l = new Loader(fn, { cache: false, maxBatchSize: 100 });
    for (let s = 0; s < n; s += 10000) {
      await freshTask();
      const e = Math.min(n, s + 10000), ps = [];
      for (let i = s; i < e; i++) ps.push(l.load(i));
      const vs = await Promise.all(ps);
      for (let j = 0; j < vs.length; j++) if (vs[j] !== (s + j) * 2) return s + j;
    }
    return -1;`,
  // One loader per run, every key loaded twice (the second load is a cache hit).
  "cache on": `const l = new Loader(fn), half = n / 2;
    for (let s = 0; s < n; s += 10000) {
      await freshTask();
      const e = Math.min(n, s + 10000), ps = [];
      for (let i = s; i < e; i++) ps.push(l.load(i % half));
      const vs = await Promise.all(ps);
      for (let j = 0; j < vs.length; j++) if (vs[j] !== ((s + j) % half) * 2) return s + j;
    }
    return -1;`,
  // A GraphQL request's life: a fresh loader (cache on) making 5 loads, 2 of them repeats.
  "per request": `for (let r = 0; r < n / 5; r++) {
      await freshTask();
      const l = new Loader(fn);
      const vs = await Promise.all([l.load(r), l.load(r + 1), l.load(r), l.load(r + 2), l.load(r + 1)]);
      if (vs[0] !== 2 * r || vs[1] !== 2 * r + 2 || vs[2] !== 2 * r || vs[3] !== 2 * r + 4 || vs[4] !== 2 * r + 2) return r;
    }
    return -1;`,
};

export const FACADE_WORKLOADS = Object.keys(FACADE);

/**
 * One sample of the facade section, in a process (or page) of its own: the workload `workload`
 * of FACADE with contender `contender` ("dataloader" or "hyperbatch"): the plan's `warm` runs
 * untimed, then `facade.timed` runs each after a forced gc(), their median. run.mjs starts a fresh process per contender and sample:
 * with both libraries in one process, each forced gc() deoptimised the code of the library that
 * had just run ("weak objects") and the next sample paid for its rebuild (bench/README.md).
 */
export async function facadeSample(libs, host, { quick, workload, contender }) {
  const { n } = plan(quick).facade;
  const src = FACADE[workload];
  const Loader = { dataloader: libs.DataLoader, hyperbatch: libs.HyperDataLoader }[contender];
  if (src === undefined || Loader === undefined) throw new Error(`facade: unknown workload ${workload} or contender ${contender}`);
  const fn = (keys) => Promise.resolve(keys.map(f));
  const run = new AsyncFunction("Loader", "fn", "n", "freshTask", src);
  const time = async () => {
    const t0 = host.now();
    const bad = await withWatchdog(run(Loader, fn, n, host.freshTask), `facade ${workload} ${contender}`);
    if (bad >= 0) throw new Error(`facade ${workload} ${contender}: load ${bad} resolved to the wrong value`);
    return host.now() - t0;
  };
  const warmMs = [];
  for (let i = 0; i < plan(quick).warm; i++) warmMs.push(await time());
  // Several timed runs, each after a forced gc(), and their median: one run per page spread 2x in
  // Chromium (62-156 ms for DataLoader, 2026-11-30T23:25Z). Repeating one library in its own
  // process is not the alternation that deoptimised code (that was two libraries in one process).
  // Chromium: also each timed run's main-thread CPU time, read before and after it (outside its
  // timing), so that a sample says how much of its wall time the page had the core.
  const timedMs = [], threadMs = [];
  for (let i = 0; i < plan(quick).facade.timed; i++) {
    host.gc?.();
    const c0 = await host.threadMs?.();
    timedMs.push(await time());
    if (c0 !== undefined) threadMs.push((await host.threadMs()) - c0);
  }
  const out = { runtime: host.runtime, workload, contender, loads: n, ms: median(timedMs), timedMs, warmMs };
  if (threadMs.length) Object.assign(out, { cpuMs: median(threadMs), threadMs });
  return out;
}

/** The facade section's samples (from facadeSample, one process each) as its results. */
export function facadeResults(samples, log) {
  const out = {};
  for (const workload of FACADE_WORKLOADS) {
    const of = (k) => samples.filter((s) => s.workload === workload && s.contender === k);
    const ms = { dataloader: of("dataloader").map((s) => s.ms), hyperbatch: of("hyperbatch").map((s) => s.ms) };
    const warmMs = { dataloader: of("dataloader").map((s) => s.warmMs), hyperbatch: of("hyperbatch").map((s) => s.warmMs) };
    const timedMs = { dataloader: of("dataloader").map((s) => s.timedMs), hyperbatch: of("hyperbatch").map((s) => s.timedMs) };
    if (!ms.dataloader.length || !ms.hyperbatch.length) continue;
    const dl = median(ms.dataloader), hb = median(ms.hyperbatch);
    // Throughput ratio: hyperbatch items/s over DataLoader's (above 1 = hyperbatch faster).
    out[workload] = { loads: of("dataloader")[0].loads, dataloaderMs: dl, hyperbatchMs: hb, throughputRatio: dl / hb,
      samplesMs: ms, timedMs, warmMs, method: "a fresh process (Chromium: page) per contender and sample, the median of its timed runs" };
    let cpu = "";
    if (of("dataloader").every((s) => s.cpuMs !== undefined) && of("hyperbatch").every((s) => s.cpuMs !== undefined)) {
      // Not the target (wall time is): the main thread's CPU time, which the machine's load does not stretch.
      const cdl = median(of("dataloader").map((s) => s.cpuMs)), chb = median(of("hyperbatch").map((s) => s.cpuMs));
      Object.assign(out[workload], { cpuMs: { dataloader: cdl, hyperbatch: chb }, cpuRatio: cdl / chb,
        cpuSamplesMs: { dataloader: of("dataloader").map((s) => s.cpuMs), hyperbatch: of("hyperbatch").map((s) => s.cpuMs) } });
      cpu = `; main-thread CPU ${cdl.toFixed(1)} / ${chb.toFixed(1)} ms, ratio ${(cdl / chb).toFixed(2)}`;
    }
    log(`  facade ${workload}: DataLoader ${dl.toFixed(1)} ms, hyperbatch/dataloader ${hb.toFixed(1)} ms, throughput ratio ${(dl / hb).toFixed(2)}${cpu}`);
  }
  return out;
}

// `facade` is not run here: run.mjs runs facadeSample in a fresh process per sample.
const SECTIONS = { throughput, hooks, keys, options, lateness };
export const SECTION_NAMES = Object.keys(SECTIONS);

/** Runs the sections named in `config.sections` (default: all) and returns their results. */
export async function runSuite(libs, host, config = {}) {
  const p = plan(!!config.quick);
  const names = config.sections ?? SECTION_NAMES;
  const out = { runtime: host.runtime, quick: !!config.quick, gc: !!host.gc, sections: {} };
  for (const name of names) {
    if (!SECTIONS[name]) throw new Error(`unknown section ${name}`);
    host.log(`${host.runtime}: ${name}`);
    const t0 = host.now();
    try {
      out.sections[name] = await SECTIONS[name](libs, host, p);
    } catch (e) {
      out.sections[name] = { error: String(e?.stack ?? e) };
      host.log(`  ${name}: ERROR ${e?.stack ?? e}`);
    }
    host.log(`  (${((host.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return out;
}
