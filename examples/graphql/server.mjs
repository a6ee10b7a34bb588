// GraphQL over HTTP (POST /graphql, JSON { query, variables }) with fresh loaders per request.
// Usage: node server.mjs [port]   (prints the port it listens on; 0 = any free port)
import { createServer } from "node:http";
import { graphql } from "graphql";
import { makeContext, makeDb, schema } from "./schema.mjs";

const db = makeDb();
const server = createServer(async (req, res) => {
  if (req.method !== "POST" || req.url !== "/graphql") {
    res.writeHead(404).end();
    return;
  }
  let body = "";
  for await (const chunk of req) body += chunk;
  let request;
  try {
    request = JSON.parse(body);
  } catch {
    res.writeHead(400, { "content-type": "application/json" }).end('{"errors":[{"message":"body is not JSON"}]}');
    return;
  }
  const result = await graphql({
    schema, source: request.query, variableValues: request.variables, contextValue: makeContext(db),
  });
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(result));
});

server.listen(Number(process.argv[2] ?? 4000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/graphql`);
});
