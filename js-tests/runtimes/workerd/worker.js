// A Cloudflare Worker (workerd) that imports "hyperbatch" (the `workerd` condition: the .wasm is
// imported as a CompiledWasm module) and runs the contract checks inside fetch().
//   GET /checks   → JSON [{ name, ok, error?, ms }] of every contract check
//   GET /interval → a batcher made inside this request flushes by its interval timer
//   GET /dataloader → JSON [{ name, ok, error?, ms }] of every hyperbatch/dataloader check
//   GET /dropped  → a batcher made here is dropped with items queued and its timer armed
//   GET /own?id=  → a batcher of this request, flushed by its timer while other requests run theirs
//   GET /after?id= → a batcher of this request sends after the response (ctx.waitUntil(close()))
//   GET /sent     → the items /after's batchers sent, and errors they met
//   GET /global   → an item added at global scope (where workerd refuses timers) settles with
//                   this request's add, by the timer armed then
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

// Batchers are per request: workerd ties a timer to the request that armed it (a batcher shared
// by concurrent requests leaves the later one hung, and a timer of a finished request never fires).
const sent = [];
const sendErrors = [];

function perRequest(log) {
  return new Batcher({
    maxWaitMs: 20,
    transport: async (batch) => {
      await new Promise((r) => setTimeout(r, 5)); // the clock moves on timer events only
      log?.push(...batch.items);
      return batch.items.map((x) => `r:${x}`);
    },
  });
}

// aud14: at global scope setTimeout throws, so the add's timer was never armed, and later adds
// (whose handover changes no wake-up) armed none either: every item of this batcher hung.
const globalLog = [];
const globalBatcher = new Batcher({ maxWaitMs: 5, transport: async (batch) => batch.items.map((x) => x * 2) });
globalBatcher.add(1).then((v) => globalLog.push(v), (e) => globalLog.push(String(e)));

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url), pathname = url.pathname, id = url.searchParams.get("id");
    if (pathname === "/dropped") {
      const b = new Batcher({ maxWaitMs: 60_000, transport: async (batch) => batch.items });
      b.add(1).catch(() => {});
      b.add(2).catch(() => {});
      return Response.json({ queued: b.stats().queued }); // never closed: dropped with its timer armed
    }
    if (pathname === "/own") {
      const b = perRequest();
      const values = await Promise.all([b.add(`${id}.1`), b.add(`${id}.2`)]); // no flush(): the timer sends
      await b.close();
      return Response.json({ values });
    }
    if (pathname === "/after") {
      const b = perRequest(sent);
      b.add(id).catch((e) => sendErrors.push(String(e)));
      ctx.waitUntil(b.close()); // the response goes now; the worker stays until the item is sent
      return Response.json({ queued: true }, { status: 202 });
    }
    if (pathname === "/sent") return Response.json({ sent, sendErrors });
    if (pathname === "/global") {
      let timer;
      const value = await Promise.race([globalBatcher.add(2), new Promise((r) => { timer = setTimeout(() => r("hung"), 1000); })]);
      clearTimeout(timer);
      return Response.json({ value, early: globalLog, stats: globalBatcher.stats() });
    }
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
