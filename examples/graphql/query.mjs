// Runs one query with per-request loaders and prints the result and the backend calls it made:
// every level of the tree is one batched call, whatever the number of users on it.
// Usage: node query.mjs ['{ user(id: 1) { name } }']
import { graphql } from "graphql";
import { EXAMPLE_QUERY, makeContext, makeDb, schema } from "./schema.mjs";

const db = makeDb();
const result = await graphql({ schema, source: process.argv[2] ?? EXAMPLE_QUERY, contextValue: makeContext(db) });
console.log(JSON.stringify({ result, backendCalls: db.calls }, null, 2));
