// examples/graphql: graphql-js resolvers with per-request loaders. The query script and the HTTP
// server both run as a user would run them; each tree level is one batched backend call.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const example = fileURLToPath(new URL("../../examples/graphql/", import.meta.url));

test("query.mjs: two levels of friends and their posts in three batched backend calls", () => {
  const out = JSON.parse(execFileSync(process.execPath, ["query.mjs"], { cwd: example, encoding: "utf8" }));
  assert.equal(out.result.errors, undefined);
  const users = out.result.data.users;
  assert.deepEqual(users.map((u) => u.name), ["Ada", "Grace"]);
  assert.deepEqual(users[0].friends.map((f) => f.name), ["Brian", "Grace"]);
  assert.deepEqual(users[1].friends[0].posts.map((p) => [p.title, p.author.name]),
    [["Notes on the Analytical Engine", "Ada"], ["Bernoulli numbers", "Ada"]]);
  // Users 1 and 3 are cached from the first level; post authors are all cached.
  assert.deepEqual(out.backendCalls, [
    ["usersByIds", [1, 3]],
    ["usersByIds", [2]],
    ["postsByAuthorIds", [2, 3, 1]],
  ]);
});

test("query.mjs: an unknown id is a field error, the rest of the list still resolves", () => {
  const out = JSON.parse(execFileSync(process.execPath, ["query.mjs", "{ users(ids: [2, 9]) { name } }"],
    { cwd: example, encoding: "utf8" }));
  assert.deepEqual(out.result.data.users, [{ name: "Brian" }, null]);
  assert.match(out.result.errors[0].message, /no user 9/);
  assert.deepEqual(out.backendCalls, [["usersByIds", [2, 9]]]);
});

test("server.mjs answers POST /graphql with fresh loaders per request", async (t) => {
  const server = spawn(process.execPath, ["server.mjs", "0"], { cwd: example, stdio: ["ignore", "pipe", "inherit"] });
  t.after(() => server.kill());
  const [line] = await once(server.stdout, "data");
  const url = String(line).match(/http:\/\/\S+/)[0];
  const ask = async (query) => {
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
    return res.json();
  };
  assert.deepEqual(await ask("{ user(id: 3) { name posts { title } } }"),
    { data: { user: { name: "Grace", posts: [{ title: "Compilers for everyone" }] } } });
  assert.deepEqual(await ask("{ user(id: 1) { friends { name } } }"),
    { data: { user: { friends: [{ name: "Brian" }, { name: "Grace" }] } } });
});
