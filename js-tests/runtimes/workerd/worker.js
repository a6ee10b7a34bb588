// A Cloudflare Worker (workerd) that imports "hyperbatch" (the `workerd` condition: the .wasm is
// imported as a CompiledWasm module) and runs the contract checks inside fetch().
//   GET /checks   → JSON [{ name, ok, error?, ms }] of every contract check
//   GET /interval → a batcher made inside this request flushes by its interval timer
//   GET /dataloader → JSON [{ name, ok, error?, ms }] of every hyperbatch/dataloader check
import { Batcher } from "hyperbatch";
import * as dataloader from "hyperbatch/dataloader";
import { miniAssert, runChecks } from "../contract.js";
import { runDataloaderChecks } from "../dataloader-contract.js";

async function intervalInRequest() {
  const calls = [];
  const b = new Batcher({
    maxWaitMs: 25,
    transport: async (batch) => {
      calls.push({ items: [...batch.items], at: Date.now() });
      return batch.items.map((x) => x * 10);
    },
  });
  const t0 = Date.now();
  const ps = [];
  for (let i = 1; i <= 5; i++) {
    ps.push(b.add(i));
    await new Promise((r) => setTimeout(r, 1)); // the clock moves on timer events only
  }
  const values = await Promise.all(ps); // no flush(): only the interval timer sends the batch
  const waitedMs = calls.length ? calls[0].at - t0 : -1;
  await b.close();
  return { values, batches: calls.map((c) => c.items), waitedMs };
}

export default {
  async fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname === "/checks") {
      return Response.json({ runtime: "workerd", results: await runChecks(Batcher, miniAssert) });
    }
    if (pathname === "/interval") return Response.json(await intervalInRequest());
    if (pathname === "/dataloader") {
      return Response.json({ runtime: "workerd", results: await runDataloaderChecks(dataloader, miniAssert) });
    }
    return new Response("not found", { status: 404 });
  },
};
