// hyperbatch in Deno 2: `import { Batcher } from "hyperbatch"` is resolved from node_modules
// (this folder has a package.json; no deno.json needed) and picks the package's `deno` entry.
//
// It starts a small batch API on 127.0.0.1 (Deno.serve), then looks up 25 products through a
// Batcher: 25 add() calls become 3 HTTP requests (10 + 10 + 5), and an unknown id fails alone.
import { Batcher } from "hyperbatch";

type Product = { id: number; name: string; price: number };

// The batch API: POST /products/batch {ids} → {results: [Product | {error}]}, in order.
const calls: number[][] = [];
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const { ids } = (await req.json()) as { ids: number[] };
  calls.push(ids);
  const results = ids.map((id) => (id === 13 ? { error: `no product ${id}` } : { id, name: `product ${id}`, price: id * 100 }));
  return Response.json({ results });
});
const api = `http://127.0.0.1:${server.addr.port}/products/batch`;

const products = new Batcher<number, Product>({
  maxBatchSize: 10,
  maxWaitMs: 5,
  timeoutMs: 2000,
  transport: async (batch) => {
    const res = await fetch(api, { method: "POST", body: JSON.stringify({ ids: batch.items }), signal: batch.signal });
    if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
    const { results } = (await res.json()) as { results: (Product | { error: string })[] };
    return results.map((r) => ("error" in r ? new Error(r.error) : r));
  },
});

const ids = Array.from({ length: 25 }, (_, i) => i + 1);
const settled = await Promise.allSettled(ids.map((id) => products.add(id)));
await products.close();
await server.shutdown();

const found = settled.filter((s) => s.status === "fulfilled").length;
const failed = settled.flatMap((s) => (s.status === "rejected" ? [(s.reason as Error).message] : []));
console.log(`looked up ${ids.length} products in ${calls.length} requests (${calls.map((c) => c.length).join(" + ")})`);
console.log(`found ${found}; failed: ${failed.join(", ")}`);
console.log("stats:", products.stats());
