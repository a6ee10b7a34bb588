// Batches click events for an analytics endpoint. A plain <script type="module"> page: the
// package's browser entry is imported by path and fetches its .wasm next to itself.
import { Batcher } from "./node_modules/hyperbatch/index.browser.js";

const $ = (id) => document.getElementById(id);
const shown = { clicks: 0, delivered: 0 };

const events = new Batcher({
  maxBatchSize: 10,
  maxWaitMs: 1000,
  retry: { maxAttempts: 3, baseDelayMs: 200 },
  transport: async (batch) => {
    const res = await fetch("./collect", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ events: batch.items }),
      signal: batch.signal,
    });
    if (!res.ok) throw Object.assign(new Error(`collect: HTTP ${res.status}`), { status: res.status, response: res });
    return batch.items.map(() => true); // one entry per event: delivered
  },
  onBatchEnd: (info) => {
    $("last").textContent = `${info.size} event${info.size === 1 ? "" : "s"} in ${Math.round(info.durationMs)} ms`;
  },
});

function render() {
  const s = events.stats();
  $("clicks").textContent = shown.clicks;
  $("queued").textContent = s.queued;
  $("batches").textContent = s.batches;
  $("delivered").textContent = shown.delivered;
}

for (const button of document.querySelectorAll("button[data-event]")) {
  button.addEventListener("click", () => {
    shown.clicks += 1;
    events.add({ type: button.dataset.event, at: Date.now() }).then(
      () => { shown.delivered += 1; render(); },
      (err) => { $("status").textContent = `an event was lost: ${err.code ?? ""} ${err.message}`; },
    );
    render();
  });
}
$("flush").addEventListener("click", () => events.flush().then(render));
// Leaving the page: send what is waiting now rather than after the interval.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden") events.flush();
});
setInterval(render, 250);
$("status").textContent = "ready";
