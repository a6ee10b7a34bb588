// The example server (examples/server/): each endpoint, its validation, idempotency, batch-write
// atomicity, topology and routing, and every fault. Servers listen on 127.0.0.1 port 0 and are
// closed after each test, so `node --test js-tests/server/` exits on its own.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { DEFAULT_DOMAINS, domainOf, startCluster, startServer } from '../../examples/server/server.mjs';

const SERVER = fileURLToPath(new URL('../../examples/server/server.mjs', import.meta.url));
// The keys of the server's built-in example limits; limiterServer() gives them small capacities.
const RPM = 'global:llm:openai:gpt-4o:rpm';
const TPM = 'global:llm:openai:gpt-4o:tpm';

// A valid ULID per n: a fixed time part, then n in 16 Crockford base32 digits.
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function ulid(n) {
  let tail = '';
  for (let i = 0; i < 16; i++, n = Math.floor(n / 32)) tail = CROCKFORD[n % 32] + tail;
  return `01J0000000${tail}`;
}

// GET when there is no body; a string body is sent as is (for malformed JSON).
async function call(base, path, body, headers = {}) {
  const init = { method: 'GET', headers };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers = { 'content-type': 'application/json', ...headers };
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + path, init);
  return { status: res.status, headers: res.headers, json: await res.json() };
}

const reserveItem = (n, amount = 1, key = RPM) => ({
  lease_id: ulid(n),
  job_id: `job-${n}`,
  requirements: [{ key, amount }],
});
const completeItem = (n, actual_amount = 1, key = RPM) => ({
  lease_id: ulid(n),
  actuals: [{ key, actual_amount }],
});

// A server with small, controllable limits and a clock the test moves.
async function limiterServer(t, extra = {}) {
  const clock = { now: 10_000 };
  const server = await startServer({
    limits: { [RPM]: { capacity: 3, windowMs: 1000 }, [TPM]: { capacity: 1000, windowMs: 1000 } },
    now: () => clock.now,
    ...extra,
  });
  t.after(() => server.close());
  return { server, clock, url: server.url };
}

test('startServer listens on 127.0.0.1 with an OS-chosen port', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(server.port > 0);
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);
});

test('reserve: results in request order, per-item validation, HTTP 200', async (t) => {
  const { url, server } = await limiterServer(t);
  const bad = [
    { requirements: [{ key: RPM, amount: 1 }] }, // no lease_id
    { lease_id: 'not-a-ulid', requirements: [{ key: RPM, amount: 1 }] },
    { lease_id: 'I1J0000000000000000000000A', requirements: [{ key: RPM, amount: 1 }] }, // I is not base32
    { lease_id: '81J00000000000000000000000', requirements: [{ key: RPM, amount: 1 }] }, // > 128 bits
    { lease_id: ulid(90), requirements: [] },
    { lease_id: ulid(91), requirements: Array.from({ length: 33 }, () => ({ key: RPM, amount: 1 })) },
    { lease_id: ulid(92), requirements: [{ key: RPM, amount: 0 }] },
    { lease_id: ulid(93), requirements: [{ key: RPM, amount: 1.5 }] },
    { lease_id: ulid(94), requirements: [{ key: 7, amount: 1 }] },
    'not an object',
  ];
  const { status, json } = await call(url, '/v1/reserve/batch', {
    requests: [reserveItem(1), ...bad, reserveItem(2, 1, 'no-such-key'), reserveItem(3)],
  });
  assert.equal(status, 200);
  assert.equal(json.results.length, bad.length + 3);
  assert.deepEqual(json.results[0], {
    allowed: true,
    retry_after_ms: 0,
    reserved_at_unix_ms: 10_000,
    error: '',
    lease_id: ulid(1),
  });
  for (const r of json.results.slice(1, 1 + bad.length)) {
    assert.deepEqual(r, {
      allowed: false,
      retry_after_ms: 0,
      reserved_at_unix_ms: 0,
      error: 'invalid_request',
    });
  }
  assert.equal(json.results.at(-2).error, 'unknown_limit_key');
  assert.equal(json.results.at(-1).allowed, true);
  assert.equal(server.state.reservations.size, 2);
  assert.equal(server.state.usage(RPM), 2);
});

test('reserve: an exhausted limit denies with retry_after_ms until the window ends', async (t) => {
  const { url, server, clock } = await limiterServer(t);
  clock.now = 10_250; // 750 ms left in the window [10000, 11000)
  let { json } = await call(url, '/v1/reserve/batch', {
    requests: [reserveItem(1), reserveItem(2, 2), reserveItem(3), reserveItem(4, 4)],
  });
  assert.deepEqual(
    json.results.map((r) => r.allowed),
    [true, true, false, false],
  );
  assert.equal(json.results[2].retry_after_ms, 750);
  assert.equal(json.results[2].error, '');
  assert.equal(json.results[3].error, 'exceeds_capacity'); // 4 > capacity 3: retrying cannot help
  assert.equal(server.state.usage(RPM), 3);

  // A denied lease is not remembered: the same item is granted in the next window.
  clock.now = 11_000;
  ({ json } = await call(url, '/v1/reserve/batch', { requests: [reserveItem(3)] }));
  assert.equal(json.results[0].allowed, true);
  assert.equal(json.results[0].reserved_at_unix_ms, 11_000);
});

test('reserve: all requirements of one item are granted or none is', async (t) => {
  const { url, server } = await limiterServer(t);
  const item = {
    lease_id: ulid(1),
    requirements: [
      { key: TPM, amount: 10 },
      { key: RPM, amount: 4 },
    ],
  };
  const { json } = await call(url, '/v1/reserve/batch', { requests: [item] });
  assert.equal(json.results[0].allowed, false);
  assert.equal(server.state.usage(TPM), 0);
  // The same key twice in one item counts once with the amounts added.
  const twice = {
    lease_id: ulid(2),
    requirements: [
      { key: RPM, amount: 2 },
      { key: RPM, amount: 2 },
    ],
  };
  const again = await call(url, '/v1/reserve/batch', { requests: [twice] });
  assert.equal(again.json.results[0].allowed, false);
});

test('reserve: idempotent by lease_id, within a batch and across batches', async (t) => {
  const { url, server, clock } = await limiterServer(t);
  const first = await call(url, '/v1/reserve/batch', { requests: [reserveItem(1), reserveItem(1)] });
  assert.deepEqual(first.json.results[1], first.json.results[0]);
  clock.now += 10;
  const replay = await call(url, '/v1/reserve/batch', { requests: [reserveItem(1, 2)] });
  assert.deepEqual(replay.json.results[0], first.json.results[0]); // the original answer, original time
  // Lower case decodes to the same ULID.
  const lower = await call(url, '/v1/reserve/batch', {
    requests: [{ ...reserveItem(1), lease_id: ulid(1).toLowerCase() }],
  });
  assert.deepEqual(lower.json.results[0], first.json.results[0]);
  assert.equal(server.state.usage(RPM), 1);
  assert.equal(server.state.reservations.size, 1);
  assert.equal(server.state.counters.items['/v1/reserve/batch'], 4);
});

test('reserve/complete: batch-level errors are HTTP 400 with a JSON error naming the problem', async (t) => {
  const { url } = await limiterServer(t, { maxBatch: 3 });
  const cases = [
    ['{"requests": [', /malformed JSON/],
    [[reserveItem(1)], /body must be a JSON object/],
    [{}, /"requests" must be an array/],
    [{ requests: {} }, /"requests" must be an array/],
    [{ requests: [] }, /"requests" must hold 1\.\.3 items \(got 0\)/],
    [{ requests: [1, 2, 3, 4].map((n) => reserveItem(n)) }, /"requests" must hold 1\.\.3 items \(got 4\)/],
  ];
  for (const path of ['/v1/reserve/batch', '/v1/complete/batch']) {
    for (const [body, error] of cases) {
      const { status, json } = await call(url, path, body);
      assert.equal(status, 400, `${path} ${JSON.stringify(body)}`);
      assert.match(json.error, error);
    }
  }
});

test('reserve: maxBatch defaults to 256', async (t) => {
  const server = await startServer({ limits: { [RPM]: 1000 } });
  t.after(() => server.close());
  const items = (n) => Array.from({ length: n }, (_, i) => reserveItem(i));
  assert.equal((await call(server.url, '/v1/reserve/batch', { requests: items(256) })).status, 200);
  const over = await call(server.url, '/v1/reserve/batch', { requests: items(257) });
  assert.equal(over.status, 400);
  assert.match(over.json.error, /1\.\.256 items \(got 257\)/);
});

test('complete: settles a reservation, idempotent, unknown lease, validation', async (t) => {
  const { url, server } = await limiterServer(t);
  await call(url, '/v1/reserve/batch', { requests: [reserveItem(1, 1000, TPM)] });
  assert.equal(server.state.usage(TPM), 1000);

  const { status, json } = await call(url, '/v1/complete/batch', {
    requests: [
      completeItem(1, 740, TPM),
      completeItem(2),
      { lease_id: ulid(1), actuals: [{ key: TPM, amount: 3 }] }, // "amount" is the reserve field
      { lease_id: 'nope', actuals: [{ key: TPM, actual_amount: 1 }] },
      completeItem(1, 5, TPM), // replay of the first: original answer, not applied again
    ],
  });
  assert.equal(status, 200);
  assert.deepEqual(json.results, [
    { ok: true, error: '', lease_id: ulid(1) },
    { ok: false, error: 'unknown_lease' },
    { ok: false, error: 'invalid_request' },
    { ok: false, error: 'invalid_request' },
    { ok: true, error: '', lease_id: ulid(1) },
  ]);
  assert.equal(server.state.usage(TPM), 740, 'the 260 unused tokens went back');
  assert.equal(server.state.completions.size, 1);
  assert.deepEqual(server.state.completions.get(ulid(1)).actuals, [{ key: TPM, actual_amount: 740 }]);

  await call(url, '/v1/reserve/batch', { requests: [reserveItem(2)] });
  const unknownKey = await call(url, '/v1/complete/batch', { requests: [completeItem(2, 1, 'nope')] });
  assert.deepEqual(unknownKey.json.results, [{ ok: false, error: 'unknown_limit_key' }]);
});

test('batch-write: puts and deletes commit; succeeded counts them; one result per operation', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const put = (key, content, table = 'memories') => ({
    put: { table, item: { category: 'notes', key, content } },
  });
  let res = await call(server.url, '/v1/batch-write', {
    operations: [put('a', 1), put('b', 2), put('old-item', 3), put('x', 4, 'other')],
  });
  assert.deepEqual([res.status, res.json.succeeded], [200, 4]);
  // Each result names its row; a put's etag is derived from the item, so equal items match.
  assert.deepEqual(
    res.json.results.map(({ table, category, key }) => [table, category, key]),
    [
      ['memories', 'notes', 'a'],
      ['memories', 'notes', 'b'],
      ['memories', 'notes', 'old-item'],
      ['other', 'notes', 'x'],
    ],
  );
  const etags = res.json.results.map((r) => r.etag);
  assert.ok(etags.every((e) => /^[0-9a-f]{8}$/.test(e)), etags.join());
  assert.equal(new Set(etags).size, 4);
  res = await call(server.url, '/v1/batch-write', {
    operations: [
      put('a', 'new'),
      { delete: { table: 'memories', partition_key: 'notes', sort_key: 'old-item' } },
      { delete: { table: 'memories', partition_key: 'notes', sort_key: 'never-was' } },
    ],
  });
  assert.equal(res.json.succeeded, 3);
  assert.notEqual(res.json.results[0].etag, etags[0], 'a different item, a different etag');
  assert.deepEqual(res.json.results.slice(1), [
    { table: 'memories', category: 'notes', key: 'old-item', deleted: true },
    { table: 'memories', category: 'notes', key: 'never-was', deleted: true },
  ]);
  const { tables } = server.state;
  assert.deepEqual(
    tables.items('memories').map((i) => [i.key, i.content]),
    [
      ['a', 'new'],
      ['b', 2],
    ],
  );
  assert.equal(tables.get('memories', 'notes', 'old-item'), undefined);
  assert.equal(tables.get('other', 'notes', 'x').content, 4);
  assert.equal(server.state.counters.items['/v1/batch-write'], 7);
});

test('batch-write: one invalid operation fails the batch with 400 and commits nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const good = { put: { table: 't', item: { category: 'c', key: 'k' } } };
  const invalid = [
    [{ put: { table: 't', item: { key: 'k' } } }, /operations\[1\]\.put\.item\.category/],
    [{ put: { table: '', item: { category: 'c', key: 'k' } } }, /operations\[1\] needs a non-empty "table"/],
    [{ delete: { table: 't', partition_key: 'c' } }, /operations\[1\]\.delete\.sort_key/],
    [{ update: { table: 't' } }, /operations\[1\] must be/],
    [{ ...good, delete: { table: 't', partition_key: 'c', sort_key: 'k' } }, /operations\[1\] must be/],
  ];
  for (const [op, error] of invalid) {
    const res = await call(server.url, '/v1/batch-write', { operations: [good, op, good] });
    assert.equal(res.status, 400);
    assert.match(res.json.error, error);
  }
  const tooMany = await call(server.url, '/v1/batch-write', { operations: Array(26).fill(good) });
  assert.equal(tooMany.status, 400);
  assert.match(tooMany.json.error, /"operations" must hold 1\.\.25 items \(got 26\)/);
  assert.deepEqual(server.state.tables.toJSON(), {});
  assert.equal((await call(server.url, '/v1/batch-write', { operations: Array(25).fill(good) })).status, 200);
});

test('cluster: topology is the same on every instance and splits the domains', async (t) => {
  const cluster = await startCluster({ instances: 3 });
  t.after(() => cluster.close());
  assert.equal(new Set(cluster.urls).size, 3);
  for (const url of cluster.urls) {
    const { status, json } = await call(url, '/v1/topology');
    assert.equal(status, 200);
    assert.deepEqual(json, { instances: cluster.topology });
  }
  assert.deepEqual(
    cluster.topology.map((i) => i.url),
    cluster.urls,
  );
  assert.deepEqual(cluster.topology.flatMap((i) => i.domains).sort(), [...DEFAULT_DOMAINS].sort());
  assert.deepEqual(cluster.instances[1].state.domains, cluster.topology[1].domains);
});

test('claims: owned domains are accepted, others get wrong_instance; idempotent by id', async (t) => {
  const cluster = await startCluster({ instances: 3, domains: ['a', 'b', 'c'] });
  t.after(() => cluster.close());
  const [first, second] = cluster.instances;
  const claims = [
    { id: 'c1', domain: 'a', text: 'one' },
    { id: 'c2', domain: 'b', text: 'two' },
    { id: 'c3', domain: 'zzz', text: 'unknown domain' },
    { id: '', domain: 'a', text: 'no id' },
    { id: 'c4', domain: 'a', text: 'four' },
  ];
  const { status, json } = await call(first.url, '/v1/claims', { claims });
  assert.equal(status, 200);
  assert.deepEqual(json.results, [
    { ok: true, id: 'c1', domain: 'a' },
    { ok: false, error: 'wrong_instance', owner: second.url },
    { ok: false, error: 'wrong_instance' },
    { ok: false, error: 'invalid_request' },
    { ok: true, id: 'c4', domain: 'a' },
  ]);
  const replay = await call(first.url, '/v1/claims', {
    claims: [{ id: 'c1', domain: 'a', text: 'changed' }],
  });
  assert.deepEqual(replay.json.results, [{ ok: true, id: 'c1', domain: 'a' }]);
  assert.deepEqual(
    [...first.state.claims.values()],
    [
      { id: 'c1', domain: 'a', text: 'one' },
      { id: 'c4', domain: 'a', text: 'four' },
    ],
  );
  assert.equal(second.state.claims.size, 0);
  assert.equal((await call(second.url, '/v1/claims', { claims: [claims[1]] })).json.results[0].ok, true);
});

test('claims: a single instance accepts every domain', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const { json } = await call(server.url, '/v1/claims', {
    claims: [
      { id: '1', domain: 'code', text: 'x' },
      { id: '2', domain: 'anything', text: 'y' },
    ],
  });
  assert.deepEqual(json.results, [
    { ok: true, id: '1', domain: 'code' },
    { ok: true, id: '2', domain: 'anything' },
  ]);
});

test('route: domains and owner URLs in request order, by a deterministic rule', async (t) => {
  const cluster = await startCluster({ instances: 2 });
  t.after(() => cluster.close());
  const claims = [
    { text: 'Prove this MATH lemma' },
    { text: 'refactor the code' },
    { text: 'no domain word here' },
    { text: 'whatever', domain: 'finance' },
    { text: 'history', domain: 'not-a-domain' },
  ];
  const { status, json } = await call(cluster.urls[1], '/v1/route', { claims });
  assert.equal(status, 200);
  assert.deepEqual(json.domains.slice(0, 2), ['math', 'code']);
  assert.equal(json.domains[2], domainOf('no domain word here'));
  assert.ok(DEFAULT_DOMAINS.includes(json.domains[2]));
  assert.deepEqual(json.domains.slice(3), ['finance', 'history']);
  const ownerOf = (d) => cluster.topology.find((i) => i.domains.includes(d)).url;
  assert.deepEqual(json.urls, json.domains.map(ownerOf));

  // Sending each claim to the URL the router named is accepted there.
  const routed = await call(json.urls[2], '/v1/claims', {
    claims: [{ id: 'r', domain: json.domains[2], text: claims[2].text }],
  });
  assert.deepEqual(routed.json.results, [{ ok: true, id: 'r', domain: json.domains[2] }]);

  assert.equal(domainOf('same text'), domainOf('same text'));
  const bad = await call(cluster.urls[0], '/v1/route', { claims: [{ text: 'ok' }, { id: 'x' }] });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error, /claims\[1\]\.text must be a string/);
});

test('fault x-fault-latency-ms delays the answer', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const start = performance.now();
  const res = await call(server.url, '/v1/topology', undefined, { 'x-fault-latency-ms': '60' });
  assert.equal(res.status, 200);
  assert.ok(performance.now() - start >= 55);
  assert.equal(server.state.counters.faults.latency, 1);
});

test('fault x-fault-503-rate answers 503 and writes nothing', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const res = await call(
    server.url,
    '/v1/reserve/batch',
    { requests: [reserveItem(1)] },
    { 'x-fault-503-rate': '1' },
  );
  assert.equal(res.status, 503);
  assert.match(res.json.error, /injected/);
  assert.equal(server.state.reservations.size, 0);
  assert.equal(server.state.counters.items['/v1/reserve/batch'], undefined);
});

test('fault x-fault-429-rate answers 429 with Retry-After seconds and retry_after_ms', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  let res = await call(
    server.url,
    '/v1/claims',
    { claims: [{ id: '1', domain: 'code', text: '' }] },
    { 'x-fault-429-rate': '1' },
  );
  assert.equal(res.status, 429);
  assert.equal(res.headers.get('retry-after'), '1');
  assert.equal(res.json.retry_after_ms, 1000);
  res = await call(
    server.url,
    '/v1/claims',
    { claims: [] },
    {
      'x-fault-429-rate': '1',
      'x-fault-retry-after-ms': '2500',
    },
  );
  assert.equal(res.headers.get('retry-after'), '3');
  assert.equal(res.json.retry_after_ms, 2500);
  assert.equal(server.state.claims.size, 0);
});

test('fault x-fault-413-above rejects batches with more items than N', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const requests = [1, 2, 3].map((n) => reserveItem(n));
  let res = await call(server.url, '/v1/reserve/batch', { requests }, { 'x-fault-413-above': '2' });
  assert.equal(res.status, 413);
  assert.match(res.json.error, /3 items is above 2/);
  assert.equal(server.state.reservations.size, 0);
  res = await call(
    server.url,
    '/v1/reserve/batch',
    { requests: requests.slice(0, 2) },
    { 'x-fault-413-above': '2' },
  );
  assert.equal(res.status, 200);
});

test('fault x-fault-poison fails the whole request with 400 naming the item', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const poison = ulid(2);
  let res = await call(
    server.url,
    '/v1/reserve/batch',
    {
      requests: [reserveItem(1), reserveItem(2), reserveItem(3)],
    },
    { 'x-fault-poison': poison },
  );
  assert.equal(res.status, 400);
  assert.equal(res.json.poison, poison);
  assert.ok(res.json.error.includes(poison));
  assert.equal(server.state.reservations.size, 0);

  // Without the poison item the same header lets the batch through (as after a bisect).
  res = await call(
    server.url,
    '/v1/reserve/batch',
    { requests: [reserveItem(1), reserveItem(3)] },
    {
      'x-fault-poison': `zzz, ${poison}`,
    },
  );
  assert.equal(res.status, 200);

  // Batch-write items are named by their sort key; claims by id.
  const op = { put: { table: 't', item: { category: 'c', key: 'bad' } } };
  res = await call(server.url, '/v1/batch-write', { operations: [op] }, { 'x-fault-poison': 'bad' });
  assert.deepEqual([res.status, res.json.poison], [400, 'bad']);
  res = await call(
    server.url,
    '/v1/claims',
    { claims: [{ id: 'bad', domain: 'code', text: '' }] },
    { 'x-fault-poison': 'bad' },
  );
  assert.deepEqual([res.status, res.json.poison], [400, 'bad']);
  assert.equal(server.state.counters.faults.poison, 3);
});

test('fault x-fault-drop-rate closes the socket before anything is written', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  await assert.rejects(
    call(server.url, '/v1/reserve/batch', { requests: [reserveItem(1)] }, { 'x-fault-drop-rate': '1' }),
    TypeError, // fetch failed: the other side closed
  );
  assert.equal(server.state.reservations.size, 0);
  assert.equal(server.state.counters.faults.drop, 1);
  // The server still serves the next request.
  assert.equal((await call(server.url, '/v1/topology')).status, 200);
});

test('fault x-fault-drop-after-rate commits but loses the response; a resend writes nothing twice', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const body = { requests: [reserveItem(1)] };
  await assert.rejects(
    call(server.url, '/v1/reserve/batch', body, { 'x-fault-drop-after-rate': '1' }),
    TypeError,
  );
  assert.equal(server.state.reservations.size, 1);
  const resend = await call(server.url, '/v1/reserve/batch', body);
  assert.equal(resend.json.results[0].allowed, true);
  assert.equal(server.state.reservations.size, 1);
  assert.equal(server.state.usage(RPM), 1);
  assert.equal(server.state.counters.items['/v1/reserve/batch'], 2);
});

test('faults from options; random ones replay exactly with the same seed', async (t) => {
  const statuses = async (seed) => {
    const server = await startServer({ seed, faults: { rate503: 0.5 } });
    t.after(() => server.close());
    const out = [];
    for (let i = 0; i < 20; i++) out.push((await call(server.url, '/v1/topology')).status);
    return out;
  };
  const a = await statuses(42);
  assert.deepEqual(await statuses(42), a);
  assert.ok(a.includes(200) && a.includes(503), `a mix of outcomes: ${a}`);

  // A header overrides the option for one request; /v1/state is never faulted.
  const server = await startServer({ faults: { rate503: 1 } });
  t.after(() => server.close());
  assert.equal((await call(server.url, '/v1/topology', undefined, { 'x-fault-503-rate': '0' })).status, 200);
  assert.equal((await call(server.url, '/v1/topology')).status, 503);
  assert.equal((await call(server.url, '/v1/state')).status, 200);
});

test('bad fault values are rejected: options throw, headers get 400', async (t) => {
  await assert.rejects(startServer({ faults: { rate503: 2 } }), /faults\.rate503 must be a probability/);
  await assert.rejects(startServer({ faults: { rate418: 1 } }), /unknown fault option "rate418"/);
  await assert.rejects(startServer({ maxbatch: 3 }), /unknown option "maxbatch"/);
  const server = await startServer();
  t.after(() => server.close());
  const res = await call(server.url, '/v1/topology', undefined, { 'x-fault-drop-rate': 'often' });
  assert.equal(res.status, 400);
  assert.match(res.json.error, /x-fault-drop-rate must be a probability in 0\.\.1 \(got "often"\)/);
});

test('state and counters: requests and items per endpoint, GET /v1/state', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  await call(server.url, '/v1/reserve/batch', { requests: [reserveItem(1), reserveItem(2)] });
  await call(server.url, '/v1/reserve/batch', { requests: [] });
  await call(server.url, '/v1/batch-write', {
    operations: [{ put: { table: 't', item: { category: 'c', key: 'k' } } }],
  });
  assert.equal((await call(server.url, '/nowhere')).status, 404);
  assert.equal((await call(server.url, '/v1/topology', {})).status, 405);
  const { json } = await call(server.url, '/v1/state');
  assert.deepEqual(json.counters.requests, {
    '/v1/reserve/batch': 2,
    '/v1/batch-write': 1,
    '/nowhere': 1,
    '/v1/topology': 1,
    '/v1/state': 1,
  });
  assert.deepEqual(json.counters.items, { '/v1/reserve/batch': 2, '/v1/batch-write': 1 });
  assert.deepEqual(
    json.reservations.map((r) => r.lease_id),
    [ulid(1), ulid(2)],
  );
  assert.deepEqual(json.tables, { t: [{ category: 'c', key: 'k' }] });
  assert.equal(json.usage[RPM], 2);
  assert.deepEqual(json.topology, [{ url: server.url, domains: DEFAULT_DOMAINS }]);
});

// ---- the delivery ledger: every arrival of an item id, legitimate resends vs duplicates --------

const ledgerOf = (server, path, id) => {
  const { open, result, ...counts } = server.state.ledgers[path].get(id);
  return counts;
};
const counts = (over) => ({
  deliveries: 1, redeliveries: 0, duplicates: 0, refused: 0, applied: 1, answerLost: 0, acked: 1, ...over,
});

test('ledger: a resend after a fault before the work is a redelivery, not a duplicate', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const body = { requests: [reserveItem(1)] };
  for (const header of ['x-fault-503-rate', 'x-fault-429-rate', 'x-fault-drop-rate']) {
    await call(server.url, '/v1/reserve/batch', body, { [header]: '1' }).catch(() => {});
  }
  await call(server.url, '/v1/reserve/batch', body, { 'x-fault-413-above': '0' });
  await call(server.url, '/v1/reserve/batch', body, { 'x-fault-poison': ulid(1) });
  const ok = await call(server.url, '/v1/reserve/batch', body);
  assert.equal(ok.json.results[0].allowed, true);
  assert.deepEqual(
    ledgerOf(server, '/v1/reserve/batch', ulid(1)),
    counts({ deliveries: 6, redeliveries: 5, refused: 5 }),
  );
  // What the server answered is kept per id, to check a client's value against.
  assert.deepEqual(server.state.ledgers['/v1/reserve/batch'].get(ulid(1)).result, ok.json.results[0]);
});

test('ledger: a resend after a lost answer is a redelivery; the replay is applied, not acked twice', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const body = { requests: [reserveItem(1)] };
  await assert.rejects(call(server.url, '/v1/reserve/batch', body, { 'x-fault-drop-after-rate': '1' }));
  await call(server.url, '/v1/reserve/batch', body);
  assert.deepEqual(
    ledgerOf(server, '/v1/reserve/batch', ulid(1)),
    counts({ deliveries: 2, redeliveries: 1, applied: 2, answerLost: 1 }),
  );
  assert.equal(server.state.usage(RPM), 1);
});

test('ledger: a resend after a denial (retry_after_ms) or an item error is a redelivery', async (t) => {
  const { url, server, clock } = await limiterServer(t);
  await call(url, '/v1/reserve/batch', { requests: [reserveItem(1, 3)] });
  const denied = await call(url, '/v1/reserve/batch', { requests: [reserveItem(2)] });
  assert.equal(denied.json.results[0].allowed, false);
  clock.now += 1000;
  assert.equal((await call(url, '/v1/reserve/batch', { requests: [reserveItem(2)] })).json.results[0].allowed, true);
  assert.deepEqual(
    ledgerOf(server, '/v1/reserve/batch', ulid(2)),
    counts({ deliveries: 2, redeliveries: 1, applied: 2 }),
  );
});

test('ledger: a delivery after an acknowledged success is a duplicate, though the state stays right', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const body = { requests: [reserveItem(1)] };
  const first = await call(server.url, '/v1/reserve/batch', body);
  const again = await call(server.url, '/v1/reserve/batch', body);
  assert.deepEqual(again.json, first.json, 'idempotent: the same answer');
  assert.equal(server.state.usage(RPM), 1, 'idempotent: charged once');
  assert.deepEqual(
    ledgerOf(server, '/v1/reserve/batch', ulid(1)),
    counts({ deliveries: 2, duplicates: 1, applied: 2, acked: 2 }),
  );
  // A failed 503 after the ack does not make it legitimate: still a duplicate.
  await call(server.url, '/v1/reserve/batch', body, { 'x-fault-503-rate': '1' });
  assert.equal(ledgerOf(server, '/v1/reserve/batch', ulid(1)).duplicates, 2);
});

test('ledger: the same id twice in one request, or in two concurrent requests, is a duplicate', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  await call(server.url, '/v1/reserve/batch', { requests: [reserveItem(1), reserveItem(1)] });
  assert.equal(ledgerOf(server, '/v1/reserve/batch', ulid(1)).duplicates, 1);
  // Both arrive while neither is answered (latency): the second had no failure to react to.
  const slow = { 'x-fault-latency-ms': '50' };
  const body = { requests: [reserveItem(2)] };
  const send = () => call(server.url, '/v1/reserve/batch', body, slow);
  await Promise.all([send(), send()]);
  assert.deepEqual(
    ledgerOf(server, '/v1/reserve/batch', ulid(2)),
    counts({ deliveries: 2, duplicates: 1, applied: 2, acked: 2 }),
  );
});

test('ledger: every state-changing endpoint; GET /v1/audit sums it and names duplicated ids', async (t) => {
  const server = await startServer();
  t.after(() => server.close());
  const put = { put: { table: 't', item: { category: 'c', key: 'k', v: 1 } } };
  const other = { put: { table: 't', item: { category: 'c', key: 'k', v: 2 } } }; // same row, new write
  const w1 = await call(server.url, '/v1/batch-write', { operations: [put] });
  await call(server.url, '/v1/batch-write', { operations: [other] });
  await call(server.url, '/v1/batch-write', { operations: [put] });
  await call(server.url, '/v1/reserve/batch', { requests: [reserveItem(1)] });
  await call(server.url, '/v1/complete/batch', { requests: [completeItem(1)] });
  await call(server.url, '/v1/complete/batch', { requests: [completeItem(1)] });
  await call(server.url, '/v1/claims', { claims: [{ id: 'c', domain: 'code', text: 'x' }] });
  await call(server.url, '/v1/route', { claims: [{ id: 'c', text: 'x' }] }); // routing writes nothing
  const ledger = server.state.ledgers['/v1/batch-write'];
  assert.deepEqual(ledger.get(JSON.stringify(put)).result, w1.json.results[0]);
  const { json } = await call(server.url, '/v1/audit');
  const sums = (over) => ({ ids: 1, duplicateIds: [], ...counts(over) });
  assert.deepEqual(json, {
    '/v1/reserve/batch': sums(),
    '/v1/complete/batch': sums({ deliveries: 2, duplicates: 1, applied: 2, acked: 2, duplicateIds: [ulid(1)] }),
    '/v1/batch-write': {
      ...sums({ ids: 2, deliveries: 3, duplicates: 1, applied: 3, acked: 3 }),
      duplicateIds: [JSON.stringify(put)],
    },
    '/v1/claims': sums(),
  });
  assert.deepEqual((await call(server.url, '/v1/state')).json.audit, json);
});

test('close() ends requests still waiting on latency and is idempotent', async (t) => {
  const server = await startServer();
  const pending = call(server.url, '/v1/topology', undefined, { 'x-fault-latency-ms': '10000' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  const start = performance.now();
  await Promise.all([server.close(), server.close()]);
  await assert.rejects(pending, TypeError);
  assert.ok(performance.now() - start < 1000);
});

test('CLI: --instances 2 prints the URLs as one JSON line and stops on SIGTERM', async (t) => {
  const child = spawn(
    process.execPath,
    [SERVER, '--instances', '2', '--port', '0', '--fault-503-rate', '1'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  t.after(() => child.exitCode === null && child.kill('SIGKILL'));
  const [first] = await once(createInterface({ input: child.stdout }), 'line');
  const line = JSON.parse(first);
  assert.equal(line.urls.length, 2);
  assert.deepEqual(
    line.instances.map((i) => i.url),
    line.urls,
  );
  assert.equal((await call(line.urls[1], '/v1/topology')).status, 503);
  assert.deepEqual((await call(line.urls[1], '/v1/state')).json.topology, line.instances);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
});
