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

import { Batcher } from "hyperbatch";
import { runDemo } from "./run.mjs";

let exitCode = 1;
try {
  ({ exitCode } = await runDemo({ Batcher, seed: Number(process.env.DEMO_SEED ?? 7) }));
} catch (err) {
  console.error("demo failed:", err);
}
process.exit(exitCode);
