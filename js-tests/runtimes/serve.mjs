// A tiny static server for the browser tests: 127.0.0.1 only, `.wasm` as application/wasm, and
// a strict Content-Security-Policy (no eval, no new Function, no inline script; wasm allowed).
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";

export const CSP = "script-src 'self' 'wasm-unsafe-eval'";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".css": "text/css",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

/**
 * Serves `mounts` ([urlPrefix, directory], longest prefix first) on 127.0.0.1 at a free port.
 * Resolves to { origin, requests, close() }; `requests` lists [path, status, content-type].
 */
export function serve(mounts) {
  const sorted = [...mounts].sort((a, b) => b[0].length - a[0].length);
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    let file;
    for (const [prefix, dir] of sorted) {
      if (!path.startsWith(prefix)) continue;
      const rel = normalize(path.slice(prefix.length)).replace(/^([/\\])+/, "");
      const candidate = join(dir, rel || "index.html");
      if (candidate !== dir && !candidate.startsWith(dir + sep)) break; // no way out of the mount
      file = candidate;
      break;
    }
    let stat;
    try {
      stat = file && statSync(file);
      if (stat && stat.isDirectory()) {
        file = join(file, "index.html");
        stat = statSync(file);
      }
    } catch {
      stat = undefined;
    }
    const headers = { "Content-Security-Policy": CSP, "Cache-Control": "no-store" };
    if (!stat) {
      requests.push([path, 404, ""]);
      res.writeHead(404, { ...headers, "Content-Type": "text/plain" }).end("not found");
      return;
    }
    const type = TYPES[extname(file)] ?? "application/octet-stream";
    requests.push([path, 200, type]);
    res.writeHead(200, { ...headers, "Content-Type": type, "Content-Length": stat.size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve({
        origin: `http://127.0.0.1:${server.address().port}`,
        requests,
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

// `node serve.mjs DIR [PREFIX=DIR ...]` serves by hand (prints the URL; Ctrl-C stops it).
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const [root = ".", ...more] = process.argv.slice(2);
  const mounts = [["/", normalize(join(process.cwd(), root))], ...more.map((m) => {
    const [prefix, dir] = m.split("=");
    return [prefix, normalize(join(process.cwd(), dir))];
  })];
  const { origin } = await serve(mounts);
  console.log(`serving ${mounts.map(([p, d]) => `${p} → ${d}`).join(", ")} at ${origin}/`);
}
