// hyperbatch/timeline in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// a real Batcher runs a scripted sequence in Node (ok, partial, a 503 retried, a 400 bisected to
// its poison item, a timeout), the recorder writes its HTML page, and Chromium opens it from
// 127.0.0.1 under serve.mjs's CSP header plus the page's own `default-src 'none'`. The page must
// log nothing (a CSP violation or a parse error would), and every bar must be drawn on screen
// in its outcome's colour, with its hover text.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Batcher } from "hyperbatch";
import { Timeline } from "hyperbatch/timeline";
import { launchChromium } from "./launch.mjs";
import { serve } from "../serve.mjs";

const dir = mkdtempSync(join(tmpdir(), "hyperbatch-timeline-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The scripted run: 12 calls — 4 ok, 1 partial, 1 retried, 2 bisected, 1 failed, 3 timed out. */
async function scriptedRun() {
  const rec = new Timeline();
  const failedOnce = new Set();
  const b = new Batcher(
    rec.attach({
      maxWaitMs: 60_000,
      keyOf: (item) => item.key,
      timeoutMs: 40,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5, jitter: "none" },
      transport: async (batch) => {
        if (batch.items.some((i) => i.how === "hang")) return new Promise(() => {});
        if (batch.items.some((i) => i.how === "poison")) throw Object.assign(new Error("bad request"), { status: 400 });
        const flaky = batch.items.filter((i) => i.how === "503-once" && !failedOnce.has(i));
        if (flaky.length) {
          for (const i of flaky) failedOnce.add(i);
          throw Object.assign(new Error("unavailable"), { status: 503 });
        }
        return batch.items.map((i) => (i.how === "item-error" ? new Error("no such item") : i.n));
      },
    }),
  );
  const item = (key, n, how = "ok") => ({ key, n, how });
  for (const items of [
    [item(undefined, 1), item(undefined, 2), item(undefined, 3)],
    [item("b", 1), item("b", 2, "item-error"), item("b", 3)],
    [item("c", 1, "503-once"), item("c", 2)],
    [item("d", 1), item("d", 2), item("d", 3, "poison"), item("d", 4)],
    [item("e", 1, "hang")],
  ]) {
    const ps = items.map((i) => rec.track(b.add(i)));
    await b.flush();
    await Promise.allSettled(ps);
  }
  await b.close();
  return rec;
}

const rec = await scriptedRun();
writeFileSync(join(dir, "index.html"), rec.html({ title: "scripted run", text: "calls: 12" }));
const expected = rec.calls();

const server = await serve([["/", dir]]);
after(() => server.close());
const { context, close } = await launchChromium();
after(close);

test("the timeline page loads with no console message and draws every call on screen", async () => {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.setViewportSize({ width: 1200, height: 1000 });
  const res = await page.goto(`${server.origin}/index.html`, { waitUntil: "load" });
  assert.equal(res.status(), 200);
  const drawn = await page.evaluate(() =>
    [...document.querySelectorAll("svg.hyperbatch-timeline rect.call")].map((r) => {
      const box = r.getBoundingClientRect();
      return {
        id: r.dataset.id,
        outcome: r.dataset.outcome,
        fill: getComputedStyle(r).fill,
        w: box.width,
        h: box.height,
        left: box.left,
        top: box.top,
        tip: r.querySelector("title")?.textContent ?? "",
      };
    }),
  );
  const svgBox = await page.evaluate(() => {
    const b = document.querySelector("svg.hyperbatch-timeline").getBoundingClientRect();
    return { left: b.left, top: b.top, right: b.right, bottom: b.bottom };
  });
  await page.close();
  assert.deepEqual(logs, [], "nothing logged: no CSP violation, no error");

  assert.equal(drawn.length, 12);
  assert.deepEqual(drawn.map((d) => d.id).sort(), expected.map((c) => String(c.id)).sort());
  const count = {};
  for (const d of drawn) count[d.outcome] = (count[d.outcome] ?? 0) + 1;
  assert.deepEqual(count, { ok: 4, partial: 1, retried: 1, bisected: 2, failed: 1, timeout: 3 });
  for (const d of drawn) {
    assert.ok(d.w >= 1 && d.h > 0, `call ${d.id} has an area on screen: ${JSON.stringify(d)}`);
    assert.ok(d.left >= svgBox.left && d.left + d.w <= svgBox.right + 0.5, `call ${d.id} inside the drawing`);
    assert.ok(d.top >= svgBox.top && d.top + d.h <= svgBox.bottom, `call ${d.id} inside the drawing`);
    assert.match(d.tip, /size \d+.*attempt \d/, "hover text has size and attempt");
    assert.doesNotMatch(d.fill, /^(none|rgb\(0, 0, 0\))$/, "painted in its outcome's colour");
  }
  // One colour per outcome, six outcomes, six colours.
  const colours = new Map(drawn.map((d) => [d.outcome, d.fill]));
  for (const d of drawn) assert.equal(d.fill, colours.get(d.outcome));
  assert.equal(new Set(colours.values()).size, 6);
});
