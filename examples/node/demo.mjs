#!/usr/bin/env node
// hyperbatch over real HTTP, under injected faults, with an exactly-once audit at the end.
//
//   node examples/node/demo.mjs          (after `npm install` in examples/node/)
//
// Starts the example batch server (reserve/complete + batch-write) and a 3-instance claims
// cluster, all on 127.0.0.1 with latency, 503s, 429s + Retry-After, dropped connections (before
// and after the work), a 413 above a batch size and a few poison items. Then pushes >10,000
// concurrent calls through three batchers, prints what it took, and checks every acknowledged
// call against the servers' state: lost and duplicated must both be 0, and no promise may be
// left pending; otherwise the exit code is 1.

import { isDeepStrictEqual } from "node:util";
import { Batcher } from "hyperbatch";
import { DEFAULT_DOMAINS, domainOf, startCluster, startServer } from "../server/server.mjs";
import {
  batchWriteTransport,
  ClaimRouter,
  claimsTransport,
  fetchTopology,
  reserveCompleteTransport,
  reserveOrComplete,
  ulid,
} from "./transports.mjs";

const SEED = Number(process.env.DEMO_SEED ?? 7);
const JOBS = 4_000; // each is a reserve, then a complete: 8,000 calls
const CLAIMS = 3_000;
const WRITES = 1_500;
const DEADLINE_MS = 50_000; // anything still pending by then is reported as pending

// Limits: UNITS never rolls over (a ~35-year window), so units charged must equal leases granted;
// SCARCE (needed by every 40th job) admits 20 per 250 ms window, so most of those reservations
// are denied first (allowed: false + retry_after_ms) and retried as retryable item errors.
const UNITS = "demo:units";
const SCARCE = "demo:scarce";
const LIMITS = {
  [UNITS]: { capacity: 1_000_000_000, windowMs: 2 ** 40 },
  [SCARCE]: { capacity: 20, windowMs: 250 },
};

// Poison items: a batch holding one gets HTTP 400 {error, poison}; bisect isolates it (partial
// mode), or the whole atomic batch fails (batch write).
const POISON_LEASES = [ulid(), ulid()];
const POISON_CLAIM = "claim-1234";
const POISON_WRITE = "w-777";
const BAD_JOBS = new Set([11, 2222, 3333]); // ask for a limit key the server does not have
const INVALID_WRITE = 1234; // an operation the server's validation refuses (no sort key)

const COMMON_FAULTS = {
  latencyMs: 3,
  rate503: 0.04,
  rate429: 0.02,
  retryAfterMs: 400, // the header says Retry-After: 1 (whole seconds)
  dropRate: 0.02, // socket closed before the work: nothing written
  dropAfterRate: 0.03, // work done, then socket closed: written, answer lost → resend must be safe
  above413: 60,
};

const started = performance.now();
const main = await startServer({
  seed: SEED,
  limits: LIMITS,
  faults: { ...COMMON_FAULTS, poison: [...POISON_LEASES, POISON_WRITE] },
});
const cluster = await startCluster({
  instances: 3,
  seed: SEED + 100,
  faults: { ...COMMON_FAULTS, poison: [POISON_CLAIM] },
});

let exitCode = 1;
try {
  exitCode = await run();
} catch (err) {
  console.error("demo failed:", err);
} finally {
  await Promise.all([main.close(), cluster.close()]);
}
process.exit(exitCode);

async function run() {
  // ADR-018: the client gets the topology at session start and routes claims itself.
  const topology = await fetchTopology(cluster.urls[0]);
  const router = new ClaimRouter(topology);

  // The retry budget (gRPC-style): a failed call costs a token, a successful one refunds
  // tokenRatio. The default 0.1 stops retrying once ~1 call in 10 fails, and here every full
  // batch fails once by design (413) on top of ~11% injected faults; with 1, retries stop only
  // when calls fail more often than they succeed.
  const retry = {
    maxAttempts: 6,
    baseDelayMs: 20,
    maxDelayMs: 1_000,
    maxRetryAfterMs: 2_000,
    budget: { maxTokens: 100, tokenRatio: 1 },
  };
  const sizes = { rc: [0, 0], claims: [0, 0], writes: [0, 0] }; // [calls, items] from onBatchStart
  const count = (name) => (info) => {
    sizes[name][0]++;
    sizes[name][1] += info.size;
  };

  // Reserves and completes share one batcher; keyOf splits them into two queues/endpoints.
  let denied = 0; // reservations answered allowed:false + retry_after_ms (retryable item errors)
  const rcTransport = reserveCompleteTransport({ baseUrl: main.url });
  const rc = new Batcher({
    transport: async (batch) => {
      const out = await rcTransport(batch);
      denied += out.filter((r) => r instanceof Error && r.retryable).length;
      return out;
    },
    keyOf: reserveOrComplete,
    maxBatchSize: 100,
    maxWaitMs: 5,
    maxInFlight: 6, // + 4 batch writes: at most 10 requests at once on the main server
    timeoutMs: 5_000,
    retry,
    onBatchStart: count("rc"),
  });
  // Claims fan out per instance: keyOf → owner URL from the topology; unknown domains → /v1/route.
  const claims = new Batcher({
    transport: claimsTransport({ router }),
    keyOf: router.keyOf,
    resolveKeys: router.resolveKeys,
    maxBatchSize: 100,
    maxWaitMs: 5,
    maxInFlight: 9,
    timeoutMs: 5_000,
    retry,
    onBatchStart: count("claims"),
  });
  // BatchWriteItem commits all or nothing: atomic mode, at most 25 operations a call.
  const writeBatches = []; // the operations of every call, to check no batch was torn
  const writeTransport = batchWriteTransport({ baseUrl: main.url });
  const writes = new Batcher({
    transport: (batch) => {
      writeBatches.push(batch.items);
      return writeTransport(batch);
    },
    errorMode: "atomic",
    maxBatchSize: 25,
    maxWaitMs: 5,
    maxInFlight: 4,
    timeoutMs: 5_000,
    retry,
    onBatchStart: count("writes"),
  });

  // Every add is tracked: latency, outcome, and whether it ever settled.
  const calls = { rc: [], claims: [], writes: [] };
  const track = (name, promise) => {
    const rec = { t0: performance.now(), ms: NaN, ok: undefined, value: undefined, error: undefined };
    calls[name].push(rec);
    return promise.then(
      (value) => Object.assign(rec, { ok: true, value, ms: performance.now() - rec.t0 }),
      (error) => Object.assign(rec, { ok: false, error, ms: performance.now() - rec.t0 }),
    );
  };

  const acked = { reserve: new Map(), complete: new Map(), claims: new Map(), writes: new Map() };

  // ---- the workload: everything at once ----
  const jobs = [];
  for (let i = 0; i < JOBS; i++) {
    jobs.push(
      (async () => {
        const lease_id = i === 100 || i === 1500 ? POISON_LEASES[i === 100 ? 0 : 1] : ulid();
        const job_id = `job-${i}`;
        const requirements = [{ key: BAD_JOBS.has(i) ? "demo:no-such-limit" : UNITS, amount: 1 }];
        if (i % 40 === 7) requirements.push({ key: SCARCE, amount: 1 });
        const reserve = { lease_id, job_id, requirements };
        const r = await track("rc", rc.add(reserve));
        if (!r.ok) return;
        acked.reserve.set(lease_id, reserve);
        const actuals = requirements.map(({ key, amount }) => ({ key, actual_amount: amount }));
        const complete = { lease_id, job_id, actuals };
        const c = await track("rc", rc.add(complete));
        if (c.ok) acked.complete.set(lease_id, complete);
      })(),
    );
  }
  const work = [...jobs];
  for (let i = 0; i < CLAIMS; i++) {
    let claim;
    const id = `claim-${i}`;
    if (i % 7 === 3) claim = { id, text: `prove this ${DEFAULT_DOMAINS[i % 6]} lemma #${i}` }; // routed by word
    else if (i % 7 === 5) claim = { id, text: `untitled note ${i}` }; // routed by hash
    else claim = { id, domain: DEFAULT_DOMAINS[i % 6], text: `claim ${i}` };
    work.push(track("claims", claims.add(claim)).then((r) => r.ok && acked.claims.set(claim.id, claim)));
  }
  for (let i = 0; i < WRITES; i++) {
    const item = { category: `cat-${i % 10}`, key: `w-${i}`, value: i, note: `write ${i}` };
    if (i === INVALID_WRITE) delete item.key;
    const op = { put: { table: i % 2 ? "events" : "jobs", item } };
    work.push(track("writes", writes.add(op)).then((r) => r.ok && acked.writes.set(`w-${i}`, op.put)));
  }

  // ---- wait, bounded: a promise still pending at the deadline is a failure ----
  let timer;
  const timedOut = new Promise((resolve) => (timer = setTimeout(resolve, DEADLINE_MS, "timeout")));
  const outcome = await Promise.race([Promise.allSettled(work).then(() => "done"), timedOut]);
  clearTimeout(timer);
  const stats = { rc: rc.stats(), claims: claims.stats(), writes: writes.stats() };
  if (outcome === "done") await Promise.all([rc.close(), claims.close(), writes.close()]);
  const elapsed = performance.now() - started;

  // ---- the table ----
  const req = (server, ...paths) => paths.reduce((n, p) => n + (server.state.counters.requests[p] ?? 0), 0);
  const clusterReq = (...paths) => cluster.instances.reduce((n, s) => n + req(s, ...paths), 0);
  const http = {
    rc: req(main, "/v1/reserve/batch", "/v1/complete/batch"),
    claims: clusterReq("/v1/claims", "/v1/route", "/v1/topology"),
    writes: req(main, "/v1/batch-write"),
  };
  const labels = { rc: "reserve+complete", claims: "claims (3 instances)", writes: "batch-write (atomic)" };
  const rows = [];
  const all = { calls: [], http: 0, sizes: [0, 0], stats: {} };
  for (const name of ["rc", "claims", "writes"]) {
    const recs = calls[name];
    rows.push(row(labels[name], recs, http[name], sizes[name], stats[name]));
    all.calls.push(...recs);
    all.http += http[name];
    all.sizes[0] += sizes[name][0];
    all.sizes[1] += sizes[name][1];
    for (const [k, v] of Object.entries(stats[name])) all.stats[k] = (all.stats[k] ?? 0) + v;
  }
  rows.push(row("total", all.calls, all.http, all.sizes, all.stats));

  console.log(`hyperbatch demo — seed ${SEED}, faults: ${describeFaults()}`);
  const where = topology.map((inst) => `${inst.url.replace("http://", "")}=[${inst.domains}]`);
  console.log(`claims topology: ${where.join(" ")}\n`);
  printTable(
    ["batcher", "calls", "HTTP req", "mean batch", "retries", "bisects", "throttled"]
      .concat(["p50 ms", "p99 ms", "ok", "failed"]),
    rows,
  );

  const errors = new Map(); // "batcher  code" → { n, sample }
  for (const name of ["rc", "claims", "writes"]) {
    for (const rec of calls[name]) {
      if (rec.ok !== false) continue;
      const key = `${labels[name].split(" ")[0].padEnd(16)} ${errorCode(rec.error)}`;
      const e = errors.get(key) ?? { n: 0, sample: rec.error?.message };
      e.n++;
      errors.set(key, e);
    }
  }
  console.log("\nerrors by code (what the callers got):");
  if (errors.size === 0) console.log("  (none)");
  for (const [key, { n, sample }] of errors) {
    console.log(`  ${String(n).padStart(5)}  ${key.padEnd(42)} ${truncate(sample, 120)}`);
  }
  const faults = {};
  for (const s of [main, ...cluster.instances]) {
    for (const [k, v] of Object.entries(s.state.counters.faults)) faults[k] = (faults[k] ?? 0) + v;
  }
  console.log(`\nfaults injected by the servers: ${Object.entries(faults).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  console.log(`reservations denied by the ${SCARCE} limit and retried after retry_after_ms: ${denied}`);

  // ---- the audit ----
  const pending = all.calls.filter((r) => r.ok === undefined).length + (outcome === "done" ? 0 : 1);
  const audit = check({ acked, router, writeBatches });
  console.log("\nserver state vs acknowledged calls:");
  for (const line of audit.lines) console.log(`  ${line}`);
  // hyperbatch's own counters must agree with what the callers saw.
  let statsOff = 0;
  for (const name of ["rc", "claims", "writes"]) {
    const s = stats[name];
    const recs = calls[name];
    const seen = {
      items: recs.length,
      succeeded: recs.filter((r) => r.ok === true).length,
      failed: recs.filter((r) => r.ok === false).length,
    };
    const agree = s.items === seen.items && s.succeeded === seen.succeeded && s.failed === seen.failed;
    if (!agree || s.queued + s.inFlightItems !== 0) {
      statsOff++;
      console.log(`  stats() of ${labels[name]} disagree: ${JSON.stringify(s)} vs seen ${JSON.stringify(seen)}`);
    }
  }
  if (statsOff === 0) console.log("  stats(): items = succeeded + failed = promises settled, for every batcher");
  console.log(`  pending promises: ${pending}${outcome === "done" ? "" : " (timed out waiting)"}`);
  console.log(`  elapsed: ${(elapsed / 1000).toFixed(1)} s`);
  console.log(`\nlost: ${audit.lost}, duplicated: ${audit.duplicated}`);

  const problems = [audit.lost, audit.duplicated, audit.torn, audit.misrouted, audit.undercharged, pending, statsOff];
  const bad = problems.some((n) => n !== 0);
  if (bad) console.log("FAILED: the audit found a problem (see above)");
  return bad ? 1 : 0;
}

// Every acknowledged call must be on the server exactly once; nothing may be there twice.
function check({ acked, router, writeBatches }) {
  let lost = 0;
  let duplicated = 0;
  let misrouted = 0;
  const lines = [];

  // Reserve: each acknowledged lease is a granted reservation; UNITS (never rolled over) must have
  // been charged once per granted lease — a resend that consumed again would show up here.
  const { reservations, completions } = main.state;
  let lostR = 0;
  for (const [lease, req] of acked.reserve) {
    const got = reservations.get(lease.toUpperCase());
    if (!got || got.result.allowed !== true || !isDeepStrictEqual(got.requirements, req.requirements)) lostR++;
  }
  const charged = main.state.usage(UNITS);
  const dupR = Math.max(0, charged - reservations.size); // > 0: a resend consumed units again
  const underR = Math.max(0, reservations.size - charged); // > 0: a lease stored without its units
  const orphanR = [...reservations.keys()].filter((l) => !acked.reserve.has(l)).length;
  const under = underR ? `, uncharged leases: ${underR}` : "";
  lines.push(
    `reserve:  ${acked.reserve.size} acknowledged, ${lostR} missing; ${UNITS} charged ${charged} for ` +
      `${reservations.size} leases (double charges: ${dupR}${under}); ${orphanR} granted but not acknowledged`,
  );

  let lostC = 0;
  for (const [lease, req] of acked.complete) {
    const got = completions.get(lease.toUpperCase());
    if (!got || got.result.ok !== true || !isDeepStrictEqual(got.actuals, req.actuals)) lostC++;
  }
  const orphanC = [...completions.keys()].filter((l) => !acked.complete.has(l)).length;
  lines.push(`complete: ${acked.complete.size} acknowledged, ${lostC} missing; ${orphanC} done but not acknowledged`);

  // Claims: on exactly one instance — the owner of the domain it was sent with.
  const holders = new Map(); // id → [instance url]
  for (const s of cluster.instances) {
    for (const id of s.state.claims.keys()) holders.set(id, [...(holders.get(id) ?? []), s.url]);
  }
  let lostCl = 0;
  let dupCl = 0;
  for (const [id, claim] of acked.claims) {
    const at = holders.get(id) ?? [];
    if (at.length === 0) {
      lostCl++;
      continue;
    }
    const domain = router.ownerOf(claim.domain) ? claim.domain : domainOf(claim.text, DEFAULT_DOMAINS);
    const stored = cluster.instances.find((s) => s.url === at[0]).state.claims.get(id);
    if (at[0] !== router.ownerOf(domain) || stored.domain !== domain || stored.text !== claim.text) misrouted++;
  }
  for (const at of holders.values()) if (at.length > 1) dupCl++;
  const orphanCl = [...holders.keys()].filter((id) => !acked.claims.has(id)).length;
  lines.push(
    `claims:   ${acked.claims.size} acknowledged, ${lostCl} missing, ${dupCl} on two instances, ` +
      `${misrouted} misrouted; ${orphanCl} stored but not acknowledged`,
  );

  // Batch writes: each acknowledged put is stored as sent; every call's operations are all stored
  // or none is (atomic).
  let lostW = 0;
  for (const { table, item } of acked.writes.values()) {
    if (!isDeepStrictEqual(main.state.tables.get(table, item.category, item.key), item)) lostW++;
  }
  const present = (op) => main.state.tables.get(op.put.table, op.put.item.category, op.put.item.key) !== undefined;
  let torn = 0;
  for (const ops of writeBatches) {
    const n = ops.filter(present).length;
    if (n !== 0 && n !== ops.length) torn++;
  }
  let stored = 0;
  for (const t of ["jobs", "events"]) stored += main.state.tables.items(t).length;
  const ackedStored = [...acked.writes.values()].filter((w) => main.state.tables.get(w.table, w.item.category, w.item.key));
  const orphanW = stored - ackedStored.length;
  lines.push(
    `writes:   ${acked.writes.size} acknowledged, ${lostW} missing; ${writeBatches.length} calls, ` +
      `${torn} torn (partly written); ${orphanW} stored but not acknowledged`,
  );

  lost = lostR + lostC + lostCl + lostW;
  duplicated = dupR + dupCl;
  return { lost, duplicated, misrouted, torn, undercharged: underR, lines };
}

function row(label, recs, httpRequests, [batchCalls, batchItems], s) {
  const ms = recs.map((r) => r.ms).filter(Number.isFinite).sort((a, b) => a - b);
  return [
    label,
    recs.length,
    httpRequests,
    batchCalls ? (batchItems / batchCalls).toFixed(1) : "-",
    s.retries,
    s.bisects,
    s.throttled,
    pct(ms, 0.5),
    pct(ms, 0.99),
    recs.filter((r) => r.ok === true).length,
    recs.filter((r) => r.ok === false).length,
  ];
}

function pct(sorted, q) {
  if (sorted.length === 0) return "-";
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))].toFixed(1);
}

function printTable(head, rows) {
  const cells = [head, ...rows].map((r) => r.map(String));
  const width = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join("  ");
  console.log(line(cells[0]));
  console.log(width.map((w) => "-".repeat(w)).join("  "));
  for (const r of cells.slice(1, -1)) console.log(line(r));
  console.log(width.map((w) => "-".repeat(w)).join("  "));
  console.log(line(cells.at(-1)));
}

// The code a caller would branch on; for hyperbatch's wrappers, what they wrap.
function errorCode(err) {
  const code = err?.code ?? err?.name ?? "unknown";
  const cause = err?.cause;
  if ((code === "E_TRANSPORT" || code === "E_ATOMIC") && cause) {
    const inner = typeof cause.status === "number" ? `HTTP ${cause.status}` : (cause.code ?? cause.name ?? "error");
    return `${code} ← ${inner}`;
  }
  return code;
}

function truncate(s, n) {
  return String(s).length > n ? `${String(s).slice(0, n - 1)}…` : String(s);
}

function describeFaults() {
  const f = COMMON_FAULTS;
  return [
    `latency ${f.latencyMs} ms`,
    `503 ${f.rate503 * 100}%`,
    `429 ${f.rate429 * 100}% (Retry-After)`,
    `drop ${f.dropRate * 100}%`,
    `drop-after-write ${f.dropAfterRate * 100}%`,
    `413 above ${f.above413} items`,
    `poison: 2 leases, 1 claim, 1 write`,
  ].join(", ");
}
