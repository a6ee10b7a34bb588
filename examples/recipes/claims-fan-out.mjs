#!/usr/bin/env node
// Recipe (c): claims fanned out to the instances that own their domains, with a router fallback.
//
//   node examples/recipes/claims-fan-out.mjs        (after `npm install` in examples/recipes/)
//
// At session start the client reads the topology (which instance owns which domain). `keyOf`
// maps a claim with a known domain to its owner's URL, so each instance gets its own queue and
// the queues are sent in parallel, one request per instance. A claim whose domain the client
// cannot tell has key `undefined`: `resolveKeys` classifies such claims together, in one
// `POST /v1/route` per batch of them, and they join the queue of the instance it names.
// Exits 0 when every claim was accepted by the instance owning its domain.

import { pathToFileURL } from "node:url";
import { Batcher } from "hyperbatch";
import { startCluster } from "../server/server.mjs";

async function postJson(url, body, signal) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  if (!res.ok) throw Object.assign(new Error(`${url}: HTTP ${res.status}`), { status: res.status, response: res });
  return res.json();
}

/** Build the batcher from the topology `[{url, domains}]` the client got at session start. */
export function claimsBatcher(topology) {
  const owner = new Map(topology.flatMap(({ url, domains }) => domains.map((d) => [d, url])));
  const routedDomain = new Map(); // claim id → the domain the router chose
  return new Batcher({
    maxWaitMs: 10,
    keyOf: (claim) => owner.get(claim.domain), // undefined: ask the router
    resolveKeys: async (claims) => {
      const { domains, urls } = await postJson(`${topology[0].url}/v1/route`, { claims });
      claims.forEach((claim, i) => routedDomain.set(claim.id, domains[i]));
      return urls; // one key per claim; an undefined key fails that claim with E_ROUTE
    },
    transport: async (batch) => {
      // batch.key is the owning instance's URL: this batch goes there and nowhere else.
      const claims = batch.items.map((c) => ({ ...c, domain: owner.has(c.domain) ? c.domain : routedDomain.get(c.id) }));
      const { results } = await postJson(`${batch.key}/v1/claims`, { claims }, batch.signal);
      return results.map((r, i) => (r.ok ? r : new Error(`claim ${claims[i].id}: ${r.error}`)));
    },
  });
}

/** Make `n` claims: most name a domain, every fifth leaves it to the router. */
export function makeClaims(domains, n = 30) {
  return Array.from({ length: n }, (_, i) => {
    const domain = domains[i % domains.length];
    return i % 5 === 4
      ? { id: `claim-${i}`, text: `a note about ${domain}, domain unknown to the client` }
      : { id: `claim-${i}`, domain, text: `claim ${i} about ${domain}` };
  });
}

export async function run({ topologyUrl, log = () => {} }) {
  const { instances: topology } = await (await fetch(`${topologyUrl}/v1/topology`)).json();
  const domains = topology.flatMap((i) => i.domains);
  const batcher = claimsBatcher(topology);
  const claims = makeClaims(domains);
  const settled = await batcher.addMany(claims);
  const stats = batcher.stats();
  await batcher.close();
  for (const [i, s] of settled.entries()) {
    if (s.status === "rejected") log(`${claims[i].id}: ${s.reason.code ?? ""} ${s.reason.message}`);
  }
  log(`${settled.filter((s) => s.status === "fulfilled").length}/${claims.length} claims accepted in ` +
    `${stats.batches} calls to ${topology.length} instances`);
  return { claims, settled, stats, topology };
}

async function main() {
  const cluster = await startCluster({ instances: 3 });
  try {
    const { claims, settled } = await run({ topologyUrl: cluster.urls[0], log: console.log });
    let misplaced = 0;
    for (const instance of cluster.instances) {
      const held = [...instance.state.claims.values()];
      misplaced += held.filter((c) => !instance.state.domains.includes(c.domain)).length;
      const routes = instance.state.counters.requests["/v1/route"] ?? 0;
      console.log(`${instance.url} owns ${instance.state.domains.join(", ")}: ${held.length} claims, ` +
        `${instance.state.counters.requests["/v1/claims"] ?? 0} claim calls, ${routes} route calls`);
    }
    const total = cluster.instances.reduce((n, s) => n + s.state.claims.size, 0);
    const ok = settled.every((s) => s.status === "fulfilled") && total === claims.length && misplaced === 0;
    console.log(ok ? "ok: every claim landed on the instance owning its domain" : "FAILED");
    return ok ? 0 : 1;
  } finally {
    await cluster.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main();
}
