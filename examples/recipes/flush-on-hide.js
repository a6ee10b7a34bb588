// Recipe (e): a browser page that sends what is queued when the page is hidden or left.
//
// Once a page is hidden (tab switched, app backgrounded, navigation, close), it may never run
// another timer: a batch waiting for its `maxWaitMs` window would be lost. `watchPageHide` calls
// `onHide` (e.g. `() => batcher.flush()`) on `visibilitychange` to "hidden" and on `pagehide`, and
// `page.hidden` tells the transport to pass `keepalive: true` to fetch, so the request outlives
// the page. (The planned `flushOnHide` option will do this inside hyperbatch; see docs/reference.md.)
//
// Usage in a page module:
//
//   import { watchPageHide, analyticsBatcher } from "./flush-on-hide.js";
//   let events;
//   const page = watchPageHide(() => events.flush());
//   events = analyticsBatcher("/collect", page);
//   events.add({ type: "click", at: Date.now() });
//
// No DOM is needed to import this file: `target` defaults to `globalThis` (the window).

import { Batcher } from "hyperbatch";

/** Browsers cap the bodies of all keepalive requests in flight at 64 KiB together. */
export const KEEPALIVE_BUDGET_BYTES = 64 * 1024;

/**
 * Call `onHide` when the page is hidden or being left. Returns `{ hidden, stop() }`: `hidden` is
 * true from then on until the page is visible again; `stop()` removes the listeners.
 */
export function watchPageHide(onHide, target = globalThis) {
  const doc = target.document;
  let leaving = false;
  const onVisibility = () => {
    if (doc.visibilityState === "hidden") onHide();
    else leaving = false; // back from the background (or from the back/forward cache)
  };
  const onPageHide = () => {
    leaving = true;
    onHide();
  };
  doc.addEventListener("visibilitychange", onVisibility);
  target.addEventListener("pagehide", onPageHide);
  return {
    get hidden() {
      return leaving || doc.visibilityState === "hidden";
    },
    stop() {
      doc.removeEventListener("visibilitychange", onVisibility);
      target.removeEventListener("pagehide", onPageHide);
    },
  };
}

/**
 * An analytics batcher for `url`: events go in JSON batches, at most 10 s apart, each batch under
 * half the keepalive budget (weights are bytes), and with `keepalive` while the page is hidden.
 * `fetchImpl` is for tests; pages use the global fetch.
 */
export function analyticsBatcher(url, page, { fetchImpl = (...args) => fetch(...args) } = {}) {
  return new Batcher({
    maxWaitMs: 10_000,
    maxBatchWeight: KEEPALIVE_BUDGET_BYTES / 2,
    weigh: (event) => JSON.stringify(event).length + 1,
    transport: async (batch) => {
      const res = await fetchImpl(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(batch.items),
        keepalive: page.hidden, // the request survives the page being closed
        signal: batch.signal,
      });
      if (!res.ok) throw Object.assign(new Error(`${url}: HTTP ${res.status}`), { status: res.status, response: res });
      return batch.items.map(() => true);
    },
  });
}
