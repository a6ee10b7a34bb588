// Loads the Rust page (pkg/, made by build.sh) and runs it: `?n=` leases (default 40).
import init, { run } from "./pkg/hyperbatch_example_rust_web.js";

const $ = (id) => document.getElementById(id);

// The completions' transport, handed to Rust as a JsTransport: one POST per batch.
async function complete(requests, { signal }) {
  const res = await fetch("/v1/complete/batch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ requests }),
    signal, // aborted if hyperbatch gives the call up
  });
  if (!res.ok) throw Object.assign(new Error(await res.text()), { status: res.status });
  return (await res.json()).results;
}

try {
  await init();
  const n = Number(new URLSearchParams(location.search).get("n") ?? 40);
  $("n").textContent = n;
  $("status").textContent = "running";
  const report = await run(n, Date.now() % 1e9, complete);
  const own = report.outcomes.filter((o) => !o.error && o.reserved === o.lease_id && o.completed === o.lease_id);
  $("leases").textContent = report.outcomes.length;
  $("own").textContent = own.length;
  $("reserve-calls").textContent = report.reserve_calls;
  $("complete-calls").textContent = report.complete_calls;
  $("errors").textContent = report.outcomes.filter((o) => o.error).map((o) => `${o.lease_id}: ${o.error}`).join("\n");
  globalThis.report = report;
  $("status").textContent = "done";
} catch (e) {
  $("status").textContent = `failed: ${e?.message ?? e}`;
  throw e;
}
