// What the bench's Chromium runs share (run.mjs, trace-facade.mjs): the browser's flags and the HTTP
// server: `bench/` at / and the package under test at /pkg/, cross-origin isolated (COOP/COEP), so
// that the page's performance.now() has 5 µs steps.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

// The repo's browser suites' flags (js-tests/runtimes/browser/launch.mjs), plus gc() and no
// throttling of the page's timers.
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--js-flags=--expose-gc",
  "--disable-background-timer-throttling", "--disable-renderer-backgrounding"];

/** Resolves with the listening server (127.0.0.1, a free port) serving `bench` at / and `pkg` at /pkg/. */
export function serve(bench, pkg) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const [base, rel] = url.startsWith("/pkg/") ? [pkg, url.slice(5)] : [bench, url.slice(1)];
    const file = path.resolve(base, rel);
    if (!file.startsWith(base + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      "Content-Type": types[path.extname(file)] ?? "application/octet-stream",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
      "Cache-Control": "no-store",
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}
