// Serves the page (index.html, app.js, pkg/ from build.sh) on 127.0.0.1 and passes /v1/* on to
// an examples/server instance, so the page's fetches are same-origin (no CORS). Records the item
// count of every batch request it passes on, for the check (rust-web.test.mjs).
//
//   node serve.mjs [--port 8080]    then open the URL it prints
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startServer } from "../server/server.mjs";

const root = dirname(fileURLToPath(import.meta.url));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".wasm": "application/wasm" };
const HEADERS = { "Content-Security-Policy": "script-src 'self' 'wasm-unsafe-eval'", "Cache-Control": "no-store" };
/** The limit the page reserves from (src/lib.rs LIMIT_KEY): room for every lease of a run. */
const LIMITS = { "example:requests": { capacity: 100_000, windowMs: 60_000 } };

/** Starts the batch server and the page server; `batches`: `{path, items}` per request passed on. */
export async function start(port = 8080) {
  const api = await startServer({ limits: LIMITS });
  const batches = [];
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      if (path.startsWith("/v1/")) return await pass(req, res, path);
      serveFile(res, path);
    } catch (e) {
      if (!res.headersSent) res.writeHead(502, HEADERS);
      res.end(String(e?.message ?? e));
    }
  });

  async function pass(req, res, path) {
    let body;
    if (req.method === "POST") {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      body = Buffer.concat(chunks).toString("utf8");
      const requests = JSON.parse(body)?.requests;
      batches.push({ path, items: Array.isArray(requests) ? requests.length : 0 });
    }
    const answer = await fetch(api.url + path, { method: req.method, headers: { "content-type": "application/json" }, body });
    const text = await answer.text();
    res.writeHead(answer.status, { ...HEADERS, "Content-Type": "application/json" }).end(text);
  }

  function serveFile(res, path) {
    const file = normalize(join(root, path.endsWith("/") ? path + "index.html" : path));
    let size;
    try {
      if (!file.startsWith(root + sep)) throw new Error("outside");
      size = statSync(file).size;
    } catch {
      return res.writeHead(404, HEADERS).end("not found");
    }
    res.writeHead(200, { ...HEADERS, "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": size });
    createReadStream(file).pipe(res);
  }

  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    api, // the examples/server instance: api.state holds what it committed and its ledgers
    batches,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(() => r()));
      await api.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--port");
  const { url } = await start(i > 0 ? Number(process.argv[i + 1]) : 8080);
  console.log(`open ${url}`);
}
