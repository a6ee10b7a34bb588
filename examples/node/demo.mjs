#!/usr/bin/env node
// hyperbatch over real HTTP, under injected faults, with an audit at the end.
//
//   node examples/node/demo.mjs          (after `npm install` in examples/node/)
//
// Starts the example batch server (reserve/complete + batch-write) and a 3-instance claims
// cluster, all on 127.0.0.1 with latency, 503s, 429s + Retry-After, dropped connections (before
// and after the work), a 413 above a batch size and a few poison items. Then pushes ~12,500
// concurrent calls through three batchers, prints what it took, and audits every call against
// the servers' state and delivery ledgers (run.mjs; README.md says what each check means). Exit
// code 1 when the audit finds a problem. DEMO_SEED=n replays another fault sequence.
// Writes demo-report.html at the repository root (DEMO_REPORT=path elsewhere): the printed table
// above a hyperbatch/timeline drawing of the three batchers' calls (docs/timeline.md).

import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Batcher } from "hyperbatch";
import { Timeline } from "hyperbatch/timeline";
import { runDemo } from "./run.mjs";

const seed = Number(process.env.DEMO_SEED ?? 7);
const report = process.env.DEMO_REPORT ?? fileURLToPath(new URL("../../demo-report.html", import.meta.url));
const timeline = new Timeline({ limit: 5000 });
const printed = [];
const log = (...args) => {
  console.log(...args);
  printed.push(args.join(" "));
};

let exitCode = 1;
try {
  ({ exitCode } = await runDemo({ Batcher, seed, log, timeline }));
} catch (err) {
  console.error("demo failed:", err);
}
try {
  writeFileSync(report, timeline.html({ title: `hyperbatch demo — seed ${seed}`, text: printed.join("\n"), width: 1200 }));
  console.log(`\nreport: ${report}`);
} catch (err) {
  console.error("could not write the report:", err);
}
process.exit(exitCode);
