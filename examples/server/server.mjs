#!/usr/bin/env node
// An example server for hyperbatch transports: the batch endpoints of three design records, kept
// in memory, with fault injection, so tests can check "no lost write, no double write" end to end.
//
//   POST /v1/reserve/batch, /v1/complete/batch    ADR 0008: per-item results, idempotent by lease_id
//   POST /v1/batch-write                          BatchWriteItem: <= 25 puts/deletes, all-or-nothing
//   POST /v1/claims, /v1/route; GET /v1/topology  ADR-018: claims routed to instances by domain
//   GET  /v1/state                                what was committed, and counters (never faulted)
//   GET  /v1/audit                                deliveries per item id: resends and duplicates
//
// Node 20 built-ins only; listens on 127.0.0.1 only. See README.md beside this file.

import http from 'node:http';
import { setMaxListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkFaults, createRandom, FAULT_HEADERS, faultsFor, NO_FAULTS } from './faults.mjs';
import { Ledger } from './ledger.mjs';
import { Limiter } from './limiter.mjs';
import { checkOperations, MAX_WRITE_OPS, resultOf, TableStore, writeIdOf } from './table.mjs';

const HOST = '127.0.0.1';
const MAX_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_BATCH = 256;
export const DEFAULT_DOMAINS = ['code', 'math', 'science', 'history', 'health', 'finance'];
const OPTION_NAMES = ['port', 'maxBatch', 'limits', 'now', 'seed', 'faults', 'domains'];

/** A request the whole batch fails for: answered 400 with its message. */
class BadRequest extends Error {}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const leaseIdOf = (r) => (typeof r?.lease_id === 'string' ? r.lease_id.toUpperCase() : undefined);
const claimIdOf = (c) => (typeof c?.id === 'string' && c.id !== '' ? c.id : undefined);

/** One instance; it owns every domain (ADR-018: a single instance accepts any domain mix). */
export async function startServer(opts = {}) {
  const instance = await openInstance(opts);
  joinTopology([instance], opts.domains ?? DEFAULT_DOMAINS);
  return instance;
}

/**
 * `instances` servers of the same program, each on its own port and owning every n-th domain.
 * A non-zero `port` gives ports port, port+1, ...; instance i draws faults from seed `seed + i`.
 */
export async function startCluster({ instances = 3, port = 0, seed = 1, ...opts } = {}) {
  need(Number.isSafeInteger(instances) && instances >= 1, 'instances must be an integer >= 1');
  const started = [];
  try {
    for (let i = 0; i < instances; i++) {
      started.push(await openInstance({ ...opts, port: port && port + i, seed: seed + i }));
    }
  } catch (err) {
    await Promise.all(started.map((s) => s.close()));
    throw err;
  }
  joinTopology(started, opts.domains ?? DEFAULT_DOMAINS);
  return {
    instances: started,
    urls: started.map((s) => s.url),
    topology: started[0].state.topology,
    close: async () => void (await Promise.all(started.map((s) => s.close()))),
  };
}

// Domain i goes to instance i mod n; every instance shares the one topology list.
function joinTopology(servers, domains) {
  const topology = servers.map((s, i) => ({
    url: s.url,
    domains: domains.filter((_, d) => d % servers.length === i),
  }));
  for (const [i, s] of servers.entries()) {
    s.state.topology = topology;
    s.state.domains = topology[i].domains;
  }
}

/**
 * The Router's rule for a claim whose domain the client does not know: the first word of the
 * text that names a domain wins ("prove this math lemma" → math); otherwise an FNV-1a hash of the
 * text picks one, so the same text always lands in the same domain.
 */
export function domainOf(text, domains = DEFAULT_DOMAINS) {
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}_-]+/gu) ?? []) {
    const named = domains.find((d) => d.toLowerCase() === word);
    if (named) return named;
  }
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return domains[(hash >>> 0) % domains.length];
}

async function openInstance(opts) {
  const { port, maxBatch, limits, now, seed, faults, domains: allDomains } = checkOptions(opts);
  const defaultFaults = checkFaults(faults);
  const random = createRandom(seed);
  const chance = (rate) => rate > 0 && random() < rate;
  const limiter = new Limiter({ limits, now });
  const tables = new TableStore();
  const claims = new Map(); // id → { id, domain, text }: the claims this instance accepted
  const counters = { requests: {}, items: {}, faults: {} };
  const ledgers = {}; // path → Ledger: every delivery of every item id (ledger.mjs)
  const bump = (group, name, by = 1) => void (group[name] = (group[name] ?? 0) + by);
  let url;

  const state = {
    reservations: limiter.reservations,
    completions: limiter.completions,
    tables,
    claims,
    counters,
    domains: [], // this instance's; set with the topology
    topology: [],
    ledgers,
    usage: (key) => limiter.usage(key),
    audit: () => Object.fromEntries(Object.entries(ledgers).map(([path, l]) => [path, l.summary()])),
    snapshot: () => ({
      url,
      domains: state.domains,
      topology: state.topology,
      counters,
      usage: limiter.usageByKey(),
      reservations: [...limiter.reservations.values()],
      completions: [...limiter.completions.values()],
      tables: tables.toJSON(),
      claims: [...claims.values()],
      audit: state.audit(),
      deliveries: Object.fromEntries(Object.entries(ledgers).map(([path, l]) => [path, l.toJSON()])),
    }),
  };

  const ownerOf = (domain) =>
    state.topology.length === 1 ? state.topology[0] : state.topology.find((i) => i.domains.includes(domain));

  // Claims are idempotent by id: the first write of an id stands and a resend is acknowledged
  // without writing again. Claims for another instance's domain are refused, never forwarded.
  function submitClaim(claim) {
    const valid =
      isObject(claim) &&
      typeof claim.id === 'string' &&
      claim.id !== '' &&
      typeof claim.domain === 'string' &&
      typeof claim.text === 'string';
    if (!valid) return { ok: false, error: 'invalid_request' };
    const owner = ownerOf(claim.domain);
    if (owner?.url !== url) return { ok: false, error: 'wrong_instance', ...(owner && { owner: owner.url }) };
    if (!claims.has(claim.id)) claims.set(claim.id, { id: claim.id, domain: claim.domain, text: claim.text });
    const stored = claims.get(claim.id);
    return { ok: true, id: stored.id, domain: stored.domain }; // names its claim, as first accepted
  }

  // Classifies claims in request order: a known `domain` is kept, otherwise domainOf(text).
  function route(list) {
    const domains = list.map((claim, i) => {
      if (!isObject(claim) || typeof claim.text !== 'string') {
        throw new BadRequest(`claims[${i}].text must be a string`);
      }
      return allDomains.includes(claim.domain) ? claim.domain : domainOf(claim.text, allDomains);
    });
    return { domains, urls: domains.map((d) => ownerOf(d)?.url ?? null) };
  }

  // A batch endpoint names the array holding its items (checked for length 1..max before `run`)
  // and how to read an item's id, which x-fault-poison matches. A state-changing one also has a
  // `ledger`: the item's id there, and which entries of `results` are successes.
  const endpoints = {
    '/v1/reserve/batch': {
      method: 'POST',
      field: 'requests',
      max: maxBatch,
      idOf: (r) => r?.lease_id,
      ledger: { idOf: leaseIdOf, okOf: (r) => r?.allowed === true },
      run: (requests) => ({ results: requests.map((r) => limiter.reserve(r)) }),
    },
    '/v1/complete/batch': {
      method: 'POST',
      field: 'requests',
      max: maxBatch,
      idOf: (r) => r?.lease_id,
      ledger: { idOf: leaseIdOf, okOf: (r) => r?.ok === true },
      run: (requests) => ({ results: requests.map((r) => limiter.complete(r)) }),
    },
    '/v1/batch-write': {
      method: 'POST',
      field: 'operations',
      max: MAX_WRITE_OPS,
      idOf: (op) => op?.put?.item?.key ?? op?.delete?.sort_key,
      ledger: { idOf: writeIdOf, okOf: () => true }, // a 200 means every operation committed
      run: (operations) => {
        const problem = checkOperations(operations);
        if (problem) throw new BadRequest(problem); // nothing committed
        return { succeeded: tables.commit(operations), results: operations.map(resultOf) };
      },
    },
    '/v1/claims': {
      method: 'POST',
      field: 'claims',
      max: maxBatch,
      idOf: (c) => c?.id,
      ledger: { idOf: claimIdOf, okOf: (r) => r?.ok === true },
      run: (list) => ({ results: list.map(submitClaim) }),
    },
    '/v1/route': { method: 'POST', field: 'claims', max: maxBatch, idOf: (c) => c?.id, run: route },
    '/v1/topology': { method: 'GET', run: () => ({ instances: state.topology }) },
    // Inspection must stay reliable under chaos, so faults never apply here.
    '/v1/state': { method: 'GET', faultFree: true, run: () => state.snapshot() },
    '/v1/audit': { method: 'GET', faultFree: true, run: () => state.audit() },
  };
  for (const [path, e] of Object.entries(endpoints)) if (e.ledger) ledgers[path] = new Ledger();

  // Enters every item id of a request in its endpoint's ledger; `settle` ends those deliveries
  // with the request's fate, which handle() sets as it goes.
  function arrive(endpoint, path, body) {
    const list = endpoint.ledger && Array.isArray(body?.[endpoint.field]) ? body[endpoint.field] : [];
    const recs = [];
    for (const [i, item] of list.entries()) {
      const id = endpoint.ledger.idOf(item);
      if (id !== undefined) recs.push([i, ledgers[path].arrive(id)]);
    }
    return { ledger: ledgers[path], recs, outcome: 'refused', results: undefined, okOf: endpoint.ledger?.okOf };
  }
  function settle({ ledger, recs, outcome, results, okOf }) {
    for (const [i, rec] of recs) ledger.settle(rec, outcome, okOf(results?.[i]), results?.[i]);
  }

  // The order of checks: latency, drop, 503, 429 (a proxy would answer those without reading
  // JSON), then malformed JSON, 413, poison, batch shape, and drop-after once the work is done.
  async function handle(req, res) {
    const path = req.url.split('?')[0];
    bump(counters.requests, path);
    const endpoint = endpoints[path];
    if (!endpoint) return send(res, 404, { error: `no endpoint at ${path}` });
    if (req.method !== endpoint.method) {
      return send(res, 405, { error: `${path} takes ${endpoint.method}` }, { allow: endpoint.method });
    }
    const raw = await readBody(req);
    if (raw === null) {
      return send(res, 413, { error: `body is over ${MAX_BODY_BYTES} bytes` }, { connection: 'close' });
    }
    // Parsed now so the ledger sees the ids of requests the faults below refuse; a malformed body
    // is still answered after them (a proxy answering 503 or 429 would not have read it).
    let body, malformed;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(raw);
      } catch (err) {
        malformed = err;
      }
    }
    const delivery = arrive(endpoint, path, body);
    try {
      await respond(req, res, { endpoint, path, body, malformed, delivery });
    } finally {
      settle(delivery);
    }
  }

  async function respond(req, res, { endpoint, path, body, malformed, delivery }) {
    let faults;
    try {
      faults = endpoint.faultFree ? NO_FAULTS : faultsFor(defaultFaults, req.headers);
    } catch (err) {
      return send(res, 400, { error: err.message });
    }
    if (faults.latencyMs > 0) {
      bump(counters.faults, 'latency');
      try {
        await sleep(faults.latencyMs, undefined, { signal: closing.signal });
      } catch {
        return req.socket.destroy(); // the server is closing
      }
    }
    // An outage (setDown): every request is refused before the work, as a crashed instance would.
    if (down && !endpoint.faultFree) return drop(req, 'down');
    if (chance(faults.dropRate)) return drop(req, 'drop');
    if (chance(faults.rate503)) {
      bump(counters.faults, '503');
      return send(res, 503, { error: 'injected fault: service unavailable' });
    }
    if (chance(faults.rate429)) {
      bump(counters.faults, '429');
      const ms = faults.retryAfterMs;
      const body = { error: 'injected fault: too many requests', retry_after_ms: ms };
      return send(res, 429, body, { 'retry-after': String(Math.ceil(ms / 1000)) });
    }

    if (malformed) return send(res, 400, { error: `malformed JSON body: ${malformed.message}` });
    const items = endpoint.field && Array.isArray(body?.[endpoint.field]) ? body[endpoint.field] : [];
    if (items.length > faults.above413) {
      bump(counters.faults, '413');
      const limit = `${faults.above413} (${FAULT_HEADERS.above413})`;
      return send(res, 413, { error: `injected fault: ${items.length} items is above ${limit}` });
    }
    const poison = items
      .map((item) => endpoint.idOf(item))
      .find((id) => id !== undefined && faults.poison.includes(String(id)));
    if (poison !== undefined) {
      bump(counters.faults, 'poison');
      const error = `injected fault: poison item "${poison}" (${FAULT_HEADERS.poison})`;
      return send(res, 400, { error, poison: String(poison) });
    }

    let out;
    try {
      const list = endpoint.field ? batchOf(body, endpoint.field, endpoint.max) : undefined;
      out = endpoint.run(list);
      if (list) bump(counters.items, path, list.length);
    } catch (err) {
      if (err instanceof BadRequest) return send(res, 400, { error: err.message });
      throw err;
    }
    delivery.results = out?.results;
    if (chance(faults.dropAfterRate)) {
      delivery.outcome = 'answer_lost';
      return drop(req, 'drop_after');
    }
    delivery.outcome = req.socket.destroyed ? 'answer_lost' : 'answered'; // the client may have gone
    send(res, 200, out);
  }

  function drop(req, kind) {
    bump(counters.faults, kind);
    req.socket.destroy(); // no status line at all: the client sees a reset connection
  }

  let down = false;
  const closing = new AbortController(); // wakes requests sleeping on x-fault-latency-ms
  setMaxListeners(0, closing.signal); // one listener per request waiting out injected latency
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (res.headersSent || req.socket.destroyed) return;
      send(res, 500, { error: `internal error: ${err.message}` });
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = server.address().port;
  url = `http://${HOST}:${actualPort}`;

  let closed;
  const close = () =>
    (closed ??= new Promise((resolve) => {
      closing.abort();
      server.close(() => resolve());
      server.closeAllConnections(); // keep-alive sockets would hold close() open for seconds
    }));

  // setDown(true): an outage until setDown(false); inspection (/v1/state, /v1/audit) still answers.
  const setDown = (value) => void (down = value === true);
  return { url, port: actualPort, close, state, setDown };
}

// Typos and out-of-range values fail at start-up, naming the option, not as odd answers later.
function checkOptions(opts) {
  for (const name of Object.keys(opts)) {
    if (!OPTION_NAMES.includes(name)) throw new TypeError(`unknown option "${name}"`);
  }
  const { port = 0, maxBatch = DEFAULT_MAX_BATCH, seed = 1, domains = DEFAULT_DOMAINS } = opts;
  need(Number.isSafeInteger(port) && port >= 0 && port <= 65535, 'port must be an integer 0..65535');
  need(Number.isSafeInteger(maxBatch) && maxBatch >= 1, 'maxBatch must be an integer >= 1');
  need(Number.isSafeInteger(seed), 'seed must be an integer');
  const named = (d) => typeof d === 'string' && d !== '';
  need(
    Array.isArray(domains) && domains.length > 0 && domains.every(named),
    'domains must be non-empty strings',
  );
  need(opts.now === undefined || typeof opts.now === 'function', 'now must be a function');
  return { ...opts, port, maxBatch, seed, domains };
}

function need(ok, message) {
  if (!ok) throw new RangeError(message);
}

function batchOf(body, field, max) {
  if (!isObject(body)) throw new BadRequest('body must be a JSON object');
  const list = body[field];
  if (!Array.isArray(list)) throw new BadRequest(`"${field}" must be an array`);
  if (list.length < 1 || list.length > max) {
    throw new BadRequest(`"${field}" must hold 1..${max} items (got ${list.length})`);
  }
  return list;
}

/** The body as text, or null once it grows past MAX_BODY_BYTES. */
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

// ---- command line ---------------------------------------------------------------------------

const USAGE = `usage: node examples/server/server.mjs [options]
  --instances N          instances to start, each on its own port (default 1)
  --port P               first port; 0 lets the OS pick each one (default 0)
  --max-batch N          items per reserve/complete/claims/route request (default ${DEFAULT_MAX_BATCH})
  --limit KEY=CAP[/MS]   a limit key with CAP units per MS-millisecond window (default MS 1000);
                         repeatable; replaces the built-in example limits
  --domains a,b,c        the domains, dealt round-robin to the instances
  --seed S               seed of the fault PRNG (default 1; instance i uses S+i)
${Object.values(FAULT_HEADERS)
  .map((h) => `  --${h.slice(2)} V`)
  .join('\n')}
                         server-wide defaults of the x-fault-* headers (see README.md)
Prints one JSON line {"urls":[...],"instances":[{"url","domains"}]}; stops on SIGINT/SIGTERM.`;

/** Turns argv into startCluster options; throws a RangeError/TypeError naming the bad flag. */
export function parseCli(argv) {
  const faultFlags = Object.fromEntries(
    Object.values(FAULT_HEADERS).map((h) => [h.slice(2), { type: 'string' }]),
  );
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      instances: { type: 'string', default: '1' },
      port: { type: 'string', default: '0' },
      'max-batch': { type: 'string' },
      limit: { type: 'string', multiple: true },
      domains: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean' },
      ...faultFlags,
    },
  });
  if (values.help) return null;
  const int = (flag) => {
    const n = Number(values[flag]);
    if (!Number.isSafeInteger(n)) throw new RangeError(`--${flag} must be an integer`);
    return n;
  };
  const opts = { instances: int('instances'), port: int('port'), faults: {} };
  if (values['max-batch'] !== undefined) opts.maxBatch = int('max-batch');
  if (values.seed !== undefined) opts.seed = int('seed');
  if (values.domains !== undefined) opts.domains = values.domains.split(',').map((d) => d.trim());
  if (values.limit) {
    opts.limits = {};
    for (const spec of values.limit) {
      const m = /^(.+)=(\d+)(?:\/(\d+))?$/.exec(spec);
      if (!m) throw new RangeError(`--limit ${spec}: expected KEY=CAPACITY[/WINDOW_MS]`);
      opts.limits[m[1]] = { capacity: Number(m[2]), windowMs: Number(m[3] ?? 1000) };
    }
  }
  for (const [name, header] of Object.entries(FAULT_HEADERS)) {
    if (values[header.slice(2)] !== undefined) opts.faults[name] = values[header.slice(2)];
  }
  return opts;
}

async function main() {
  let opts;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  if (opts === null) return console.log(USAGE);
  const cluster = await startCluster(opts);
  console.log(JSON.stringify({ urls: cluster.urls, instances: cluster.topology }));
  const stop = () => cluster.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}
