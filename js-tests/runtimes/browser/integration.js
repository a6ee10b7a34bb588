// The page of browser/integration.test.mjs: the package's browser entry and the fetch transports
// of examples/node/transports.mjs, reserving against the batch server through the page's own
// origin (the test's page server forwards /v1/* to it, so no CORS is needed). The scenario's
// items and poison lease come in the query string; the result lands in globalThis.__hyperbatch.
import { runReserveScenario } from "../integration-scenario.js";

const summary = document.querySelector("#summary");
try {
  const { Batcher } = await import("/hyperbatch/index.browser.js");
  const { reserveCompleteTransport, reserveOrComplete } = await import("/examples/node/transports.mjs");
  const params = new URLSearchParams(location.search);
  const result = await runReserveScenario({
    Batcher,
    reserveCompleteTransport,
    reserveOrComplete,
    baseUrl: location.origin,
    items: JSON.parse(params.get("items")),
    poison: params.get("poison"),
  });
  summary.textContent = `${result.outcomes.filter((o) => o.status === "fulfilled").length} of ${result.outcomes.length} granted`;
  globalThis.__hyperbatch = { runtime: `chromium ${navigator.userAgent.match(/Chrome\/([\d.]+)/)?.[1] ?? ""}`, ...result };
} catch (e) {
  summary.textContent = `failed: ${e?.message}`;
  globalThis.__hyperbatch = { error: `${e?.name}: ${e?.message}\n${e?.stack ?? ""}` };
}
