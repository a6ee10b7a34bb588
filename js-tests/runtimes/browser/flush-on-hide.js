// flushOnHide under a real page: items wait on a long window; hiding the page (or leaving it)
// must send them at once with batch.keepalive = true, which the transport hands to fetch. The
// URL carries the flag so that the server can tell which calls were keepalive.
const { Batcher } = await import("/hyperbatch/index.browser.js");

const batcher = new Batcher({
  flushOnHide: true,
  maxWaitMs: 60_000,
  transport: async (batch) => {
    const res = await fetch(`/collect?keepalive=${batch.keepalive}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(batch.items),
      keepalive: batch.keepalive,
    });
    if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
    return batch.items.map(() => true);
  },
});

const pending = [];
globalThis.__hb = {
  add: (items) => {
    for (const item of items) pending.push(batcher.add(item).catch(() => {}));
  },
  // Every item added so far has settled: calls made after that carry keepalive false again.
  settled: () => Promise.all(pending.splice(0)),
  flush: () => batcher.flush(),
  hide: () => {
    Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
    document.dispatchEvent(new Event("visibilitychange"));
  },
  show: () => {
    delete document.visibilityState; // the real (prototype) getter again
  },
};
