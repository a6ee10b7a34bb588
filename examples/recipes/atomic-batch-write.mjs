#!/usr/bin/env node
// Recipe (b): an all-or-nothing BatchWriteItem client (up to 25 puts/deletes per call).
//
//   node examples/recipes/atomic-batch-write.mjs    (after `npm install` in examples/recipes/)
//
// The server commits a whole request or nothing, so the batcher uses `errorMode: "atomic"` and
// `maxBatchSize: 25`: a batch is one unit on the way back too. Two rounds of 25 writes:
//   1. the first call gets an injected 503: the whole batch is resent as a unit and all 25 land;
//   2. one operation is invalid: the server refuses the request (400 naming `operations[i]`); the
//      transport reports that as operation i's error, so all 25 callers reject with E_ATOMIC
//      (`cause` = that error) and nothing of the round is written.
// Exits 0 when the table holds all of round 1 and none of round 2.

import { pathToFileURL } from "node:url";
import { Batcher } from "hyperbatch";
import { startServer } from "../server/server.mjs";

export const TABLE = "memories";

/** Build the batcher. `fault(batch)` may return x-fault-* headers for a call (tests use it). */
export function batchWriter(baseUrl, { fault = () => ({}) } = {}) {
  return new Batcher({
    errorMode: "atomic",
    maxBatchSize: 25, // the server's limit (DynamoDB's)
    maxWaitMs: 20,
    retry: { baseDelayMs: 20 },
    transport: async (batch) => {
      const res = await fetch(`${baseUrl}/v1/batch-write`, {
        method: "POST",
        headers: { "content-type": "application/json", ...fault(batch) },
        body: JSON.stringify({ operations: batch.items }),
        signal: batch.signal,
      });
      const body = await res.json().catch(() => ({}));
      const culprit = res.status === 400 && /^operations\[(\d+)\]/.exec(body.error ?? "");
      if (culprit) {
        // The server names the operation it refused: report it as that item's error. In atomic
        // mode every item of the batch then rejects with E_ATOMIC, `cause` = this error.
        const results = batch.items.map(() => ({ written: false }));
        results[Number(culprit[1])] = new Error(body.error);
        return results;
      }
      if (!res.ok) throw Object.assign(new Error(`batch-write: HTTP ${res.status}`), { status: res.status, response: res });
      return batch.items.map(() => ({ written: true }));
    },
  });
}

const put = (round, i) => ({ put: { table: TABLE, item: { category: `round-${round}`, key: `note-${i}`, text: `#${i}` } } });

/** Round 1 (a 503 on the first call, then all 25 written) and round 2 (one invalid operation). */
export async function run({ baseUrl, log = () => {} }) {
  let calls = 0;
  const writer = batchWriter(baseUrl, {
    fault: () => (++calls === 1 ? { "x-fault-503-rate": "1" } : {}), // the very first call fails
  });

  const round1 = await writer.addMany(Array.from({ length: 25 }, (_, i) => put(1, i)));
  log(`round 1: ${round1.filter((r) => r.status === "fulfilled").length}/25 written, after ${writer.stats().batches} calls`);

  const ops2 = Array.from({ length: 25 }, (_, i) => put(2, i));
  delete ops2[7].put.item.key; // operation 7 has no sort key: the server refuses the request
  const round2 = await writer.addMany(ops2);
  const codes = [...new Set(round2.map((r) => r.reason?.code ?? "written"))];
  log(`round 2: ${round2.filter((r) => r.status === "rejected").length}/25 rejected with ${codes.join(", ")}; ` +
    `cause: ${round2[0].reason?.cause?.message}`);

  const stats = writer.stats();
  await writer.close();
  return { round1, round2, stats };
}

async function main() {
  const server = await startServer();
  try {
    const { round1, round2 } = await run({ baseUrl: server.url, log: console.log });
    const stored = server.state.tables.items(TABLE);
    const count = (round) => stored.filter((item) => item.category === `round-${round}`).length;
    console.log(`table "${TABLE}": ${count(1)} items of round 1, ${count(2)} of round 2`);
    const ok = round1.every((r) => r.status === "fulfilled") && count(1) === 25 &&
      round2.every((r) => r.reason?.code === "E_ATOMIC") && count(2) === 0;
    console.log(ok ? "ok: each round was written whole or not at all" : "FAILED");
    return ok ? 0 : 1;
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
