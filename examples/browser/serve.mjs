// Serves this folder on 127.0.0.1 (default port 8080; `--port 0` = any free port), with .wasm
// as application/wasm and a strict Content-Security-Policy, plus the analytics endpoint the
// page posts to: POST /collect {events: [...]}; GET /collect shows what arrived.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm" };
const headers = { "Content-Security-Policy": "script-src 'self' 'wasm-unsafe-eval'", "Cache-Control": "no-store" };

export function start(port = 8080) {
  const received = []; // one array of events per POST
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path === "/collect") {
      if (req.method === "POST") {
        let body = "";
        for await (const chunk of req) body += chunk;
        received.push(JSON.parse(body).events);
        return res.writeHead(204, headers).end();
      }
      return res.writeHead(200, { ...headers, "Content-Type": "application/json" }).end(JSON.stringify(received));
    }
    const file = normalize(join(root, path.endsWith("/") ? path + "index.html" : path));
    let size;
    try {
      if (!file.startsWith(root + sep)) throw new Error("outside");
      size = statSync(file).size;
    } catch {
      return res.writeHead(404, headers).end("not found");
    }
    res.writeHead(200, { ...headers, "Content-Type": TYPES[extname(file)] ?? "application/octet-stream", "Content-Length": size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve({
    url: `http://127.0.0.1:${server.address().port}/`,
    received,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const i = process.argv.indexOf("--port");
  const { url } = await start(i > 0 ? Number(process.argv[i + 1]) : 8080);
  console.log(`open ${url}`);
}
