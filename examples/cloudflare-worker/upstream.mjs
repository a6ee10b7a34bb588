// The batch API the example worker calls, on 127.0.0.1 (default port 8788; `--port 0` = any):
//   POST /users/batch  {ids: [...]}      → {results: [{id, name} | {error}]}  (ids < 0 are unknown)
//   POST /events/batch {events: [...]}   → {accepted: n}
//   GET  /log                            → {users: [[ids of each call]], events: [[events of each call]]}
import { createServer } from "node:http";

export function startUpstream(port = 8788) {
  const log = { users: [], events: [] };
  const server = createServer(async (req, res) => {
    const send = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    let body = "";
    for await (const chunk of req) body += chunk;
    try {
      if (req.method === "POST" && req.url === "/users/batch") {
        const { ids } = JSON.parse(body);
        log.users.push(ids);
        return send(200, { results: ids.map((id) => (id < 0 ? { error: `no user ${id}` } : { id, name: `user ${id}` })) });
      }
      if (req.method === "POST" && req.url === "/events/batch") {
        const { events } = JSON.parse(body);
        log.events.push(events);
        return send(200, { accepted: events.length });
      }
      if (req.url === "/log") return send(200, log);
      send(404, { error: "not found" });
    } catch (e) {
      send(400, { error: String(e.message) });
    }
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      resolve({ url: `http://127.0.0.1:${server.address().port}`, log, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const i = process.argv.indexOf("--port");
  const { url } = await startUpstream(i > 0 ? Number(process.argv[i + 1]) : 8788);
  console.log(`upstream batch API on ${url}`);
}
