// flushOnHide in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core): a page
// adds items on a 60 s window, then (a) its document turns hidden (visibilitychange), or (b) it
// navigates away (pagehide). A loopback server (127.0.0.1, same origin as the page, strict CSP)
// must receive the items at once from `fetch(url, { keepalive: batch.keepalive })` with keepalive
// true; an ordinary call carries keepalive false.
import assert from "node:assert/strict";
import { createReadStream, realpathSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join, normalize, sep } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./launch.mjs";
import { CSP } from "../serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = realpathSync(join(here, "..", "node_modules", "hyperbatch"));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".wasm": "application/wasm" };

/** POST /collect bodies as { keepalive, items }; static files from here and the package. */
const received = [];
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (req.method === "POST" && url.pathname === "/collect") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ keepalive: url.searchParams.get("keepalive"), items: JSON.parse(body) });
      res.writeHead(204).end();
    });
    return;
  }
  const [dir, rel] = url.pathname.startsWith("/hyperbatch/")
    ? [pkgDir, url.pathname.slice("/hyperbatch/".length)]
    : [here, url.pathname.slice(1)];
  const file = join(dir, normalize(rel));
  let ok = false;
  try {
    ok = file.startsWith(dir + sep) && statSync(file).isFile();
  } catch {
    ok = false;
  }
  const type = TYPES[file.slice(file.lastIndexOf("."))];
  if (!ok || type === undefined) {
    res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
    return;
  }
  res.writeHead(200, { "Content-Type": type, "Content-Security-Policy": CSP, "Cache-Control": "no-store" });
  createReadStream(file).pipe(res);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

let context, close;
before(async () => {
  ({ context, close } = await launchChromium());
  console.log(`runtime: chromium ${context.browser()?.version() ?? ""}`.trim());
});
after(async () => {
  await close?.();
  server.close();
});

/** A page with the batcher ready, and what it logged. */
async function openPage() {
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/flush-on-hide.html`);
  await page.waitForFunction(() => globalThis.__hb !== undefined, null, { timeout: 30_000 });
  return { page, logs };
}

/** Waits until the server has received every one of `items`; returns the requests holding them. */
async function receivedItems(items, timeoutMs = 5000) {
  const t0 = Date.now();
  for (;;) {
    const hits = received.filter((r) => r.items.some((i) => items.includes(i)));
    if (items.every((i) => hits.some((r) => r.items.includes(i)))) return hits;
    if (Date.now() - t0 > timeoutMs) return hits;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("visibilitychange to hidden sends the queue at once, with fetch keepalive; ordinary calls are not keepalive", async () => {
  const { page, logs } = await openPage();
  try {
    await page.evaluate(() => globalThis.__hb.add(["a1", "a2"]));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await receivedItems(["a1", "a2"], 0), [], "the 60 s window holds them");
    await page.evaluate(() => globalThis.__hb.hide());
    const hits = await receivedItems(["a1", "a2"]);
    assert.deepEqual(hits, [{ keepalive: "true", items: ["a1", "a2"] }], logs.join("\n"));
    // Calls stay keepalive until the hide's items settle (the server has their body before the
    // page has the response): under load an ordinary call made sooner was still keepalive.
    await page.evaluate(() => globalThis.__hb.settled());

    await page.evaluate(() => {
      globalThis.__hb.show();
      globalThis.__hb.add(["n1"]);
      return globalThis.__hb.flush();
    });
    assert.deepEqual(await receivedItems(["n1"]), [{ keepalive: "false", items: ["n1"] }], logs.join("\n"));
    assert.deepEqual(logs.filter((l) => /pageerror|Content Security Policy/.test(l)), []);
  } finally {
    await page.close();
  }
});

test("leaving the page (pagehide) sends the queue as a keepalive request that outlives the page", async () => {
  const { page, logs } = await openPage();
  try {
    await page.evaluate(() => globalThis.__hb.add(["b1", "b2", "b3"]));
    await page.goto("about:blank");
    const hits = await receivedItems(["b1", "b2", "b3"]);
    assert.deepEqual(hits, [{ keepalive: "true", items: ["b1", "b2", "b3"] }], logs.join("\n"));
  } finally {
    await page.close();
  }
});
