// A Cloudflare Worker that batches its outgoing calls with hyperbatch.
//
//   GET  /users?ids=1,2,3   looks up each id; the lookups go upstream 10 ids per call
//   POST /events            [event, ...] is answered 202 at once; the events go upstream in
//                           batches of 25 after the response, kept alive by ctx.waitUntil()
//
// Batchers are made per request: workerd ties I/O (fetch, timers) to the request that made it.
import { Batcher } from "hyperbatch";

async function post(env, path, body, signal) {
  const res = await fetch(`${env.UPSTREAM}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw Object.assign(new Error(`upstream ${path}: HTTP ${res.status}`), { status: res.status, response: res });
  return res.json();
}

function userLoader(env) {
  return new Batcher({
    maxBatchSize: 10,
    maxWaitMs: 5,
    timeoutMs: 5000,
    transport: async (batch) => {
      const { results } = await post(env, "/users/batch", { ids: batch.items }, batch.signal);
      return results.map((r) => (r.error ? new Error(r.error) : r)); // an Error fails that id alone
    },
  });
}

function eventSink(env) {
  return new Batcher({
    maxBatchSize: 25,
    maxWaitMs: 50,
    retry: { maxAttempts: 3, baseDelayMs: 20 },
    transport: async (batch) => {
      await post(env, "/events/batch", { events: batch.items }, batch.signal);
      return batch.items.map(() => true);
    },
  });
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/users") {
      const ids = (url.searchParams.get("ids") ?? "").split(",").filter(Boolean).map(Number);
      const users = userLoader(env);
      const settled = await Promise.allSettled(ids.map((id) => users.add(id)));
      ctx.waitUntil(users.close());
      return Response.json({
        users: settled.map((s) => (s.status === "fulfilled" ? s.value : { error: s.reason.message })),
        upstreamCalls: users.stats().batches,
      });
    }
    if (request.method === "POST" && url.pathname === "/events") {
      const events = await request.json();
      const sink = eventSink(env);
      for (const event of events) sink.add(event).catch((e) => console.error("event lost:", e.message));
      ctx.waitUntil(sink.flush()); // the response goes now; the worker stays until the events are sent
      return Response.json({ queued: events.length }, { status: 202 });
    }
    return new Response("GET /users?ids=1,2,3 or POST /events [..]\n", { status: 404 });
  },
};
