// fetch() transports for the example batch server (examples/server/), one per endpoint.
//
// What a transport reports, and so what hyperbatch does with it:
//   - per-item results of a 200 answer → the item's value, or an Error entry that fails that item
//     alone (`retryable: true` + `retryAfterMs` for a denied reservation, so it is re-queued);
//   - an HTTP error → a thrown HttpError with `status`, `retryAfterMs` (from Retry-After) and the
//     server's JSON `error` in its message: the default classify bisects 400/413/422 and retries
//     429/5xx;
//   - a dropped connection / refused connect → a plain Error (no status): retried.
// Every call passes `batch.signal` to fetch, so a `timeoutMs` abort really cancels the request.
// A transport's `headers` option is an object, or a function of the batch giving one: handy for
// the server's x-fault-* headers, e.g. a fault on the first attempt only.

/** An HTTP answer other than 2xx. `status`, `retryAfterMs`, `body` (parsed JSON or text). */
export class HttpError extends Error {
  constructor(message, { status, retryAfterMs, body, url }) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    this.body = body;
    this.url = url;
    if (body && typeof body === "object" && typeof body.error === "string") this.serverError = body.error;
  }
}

/** A per-item failure reported inside a 200 answer. `code` is the server's error string. */
export class ItemError extends Error {
  constructor(message, { code, retryable = false, retryAfterMs, result }) {
    super(message);
    this.name = "ItemError";
    this.code = code;
    this.retryable = retryable;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
    this.result = result;
  }
}

/** Retry-After: delta-seconds or an HTTP date → ms; undefined when absent or unreadable. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * One JSON request. Resolves to the parsed body of a 2xx answer; throws an HttpError for any other
 * status, a plain Error for a network failure, and lets an abort through as is.
 */
export async function requestJson(url, { method = "POST", body, signal, headers = {} } = {}) {
  const init = { method, signal, headers: { accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res, text;
  try {
    res = await fetch(url, init);
    text = await res.text(); // a connection dropped mid-body fails here, still a network error
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err; // the batch's timeout: hyperbatch reports it
    const why = err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(err);
    const net = new Error(`${method} ${url}: network error (${why})`, { cause: err });
    net.code = "E_NETWORK";
    throw net; // no status: the default classify retries it
  }
  let json;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const serverMessage = typeof json?.error === "string" ? json.error : text.slice(0, 200);
    let retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
    if (retryAfterMs === undefined && Number.isFinite(json?.retry_after_ms)) retryAfterMs = json.retry_after_ms;
    throw new HttpError(`${method} ${new URL(url).pathname} → HTTP ${res.status}: ${serverMessage}`, {
      status: res.status,
      retryAfterMs,
      body: json ?? text,
      url,
    });
  }
  if (json === undefined) {
    const err = new Error(`${method} ${url}: HTTP ${res.status} without a JSON body`);
    err.code = "E_PROTOCOL";
    throw err;
  }
  return json;
}

// A 200 answer must hold exactly one result per item; anything else is a broken server, which a
// resend will not fix (retryable: false → the default classify bisects, then fails).
function resultsOf(json, field, n, what) {
  const list = json?.[field];
  if (!Array.isArray(list) || list.length !== n) {
    const got = Array.isArray(list) ? `${list.length} results` : `no "${field}" array`;
    const err = new Error(`${what}: the server answered ${got} for ${n} items`);
    err.code = "E_PROTOCOL";
    err.retryable = false;
    throw err;
  }
  return list;
}

const trimSlash = (url) => url.replace(/\/+$/, "");
const headersFor = (headers, batch) => (typeof headers === "function" ? headers(batch) : headers);

// ---- reserve / complete (ADR 0008) ------------------------------------------------------------

/** A reserve result → the result, or an ItemError (retryable when only rate-limited). */
export function reserveOutcome(result, request) {
  if (result?.allowed === true) return result;
  const lease = request?.lease_id;
  if (typeof result?.error === "string" && result.error !== "") {
    return new ItemError(`reserve ${lease}: ${result.error}`, { code: result.error, result });
  }
  // allowed: false without an error: the window is full; try again after the hint.
  const retryAfterMs = Number.isFinite(result?.retry_after_ms) ? result.retry_after_ms : undefined;
  return new ItemError(`reserve ${lease}: rate limited, retry after ${retryAfterMs ?? "?"} ms`, {
    code: "rate_limited",
    retryable: true,
    retryAfterMs,
    result,
  });
}

/** A complete result → the result, or a non-retryable ItemError with the server's error. */
export function completeOutcome(result, request) {
  if (result?.ok === true) return result;
  const error = typeof result?.error === "string" && result.error !== "" ? result.error : "complete_failed";
  return new ItemError(`complete ${request?.lease_id}: ${error}`, { code: error, result });
}

/** keyOf for one batcher carrying both kinds: a request with `actuals` is a Complete. */
export const reserveOrComplete = (request) => (request && "actuals" in request ? "complete" : "reserve");

/**
 * Transport for `/v1/reserve/batch` and `/v1/complete/batch` on one batcher: `batch.key` is
 * "reserve" or "complete" (use `keyOf: reserveOrComplete`). Items are the wire requests
 * ({lease_id, job_id, requirements} / {lease_id, job_id, actuals}); the lease_id makes resends safe.
 */
export function reserveCompleteTransport({ baseUrl, headers } = {}) {
  const base = trimSlash(baseUrl);
  return async (batch) => {
    const kind = batch.key;
    if (kind !== "reserve" && kind !== "complete") {
      throw Object.assign(new Error(`reserve/complete transport: unknown batch key ${String(kind)}`), {
        retryable: false,
      });
    }
    const url = `${base}/v1/${kind}/batch`;
    const json = await requestJson(url, {
      body: { requests: batch.items },
      signal: batch.signal,
      headers: headersFor(headers, batch),
    });
    const results = resultsOf(json, "results", batch.items.length, url);
    const outcome = kind === "reserve" ? reserveOutcome : completeOutcome;
    return results.map((result, i) => outcome(result, batch.items[i]));
  };
}

// ---- batch write (BatchWriteItem) ---------------------------------------------------------------

/**
 * Transport for `/v1/batch-write`. The server commits the whole request or nothing, so use it
 * with `errorMode: "atomic"` and `maxBatchSize: 25`. Items are operations
 * ({put: {table, item}} | {delete: {table, partition_key, sort_key}}); on success each item gets
 * the server's result for its operation ({table, category, key, etag} for a put, `deleted: true`
 * for a delete). Puts and deletes are idempotent, so a resend after a lost answer writes the same
 * thing again.
 */
export function batchWriteTransport({ baseUrl, headers } = {}) {
  const url = `${trimSlash(baseUrl)}/v1/batch-write`;
  return async (batch) => {
    const json = await requestJson(url, {
      body: { operations: batch.items },
      signal: batch.signal,
      headers: headersFor(headers, batch),
    });
    if (json?.succeeded !== batch.items.length) {
      const err = new Error(`${url}: succeeded ${json?.succeeded} of ${batch.items.length} operations`);
      err.code = "E_PROTOCOL";
      err.retryable = false;
      throw err;
    }
    return resultsOf(json, "results", batch.items.length, url);
  };
}

// ---- claims (ADR-018) -------------------------------------------------------------------------

/** GET /v1/topology → [{url, domains}], retrying transient failures a few times (bounded). */
export async function fetchTopology(url, { attempts = 6, delayMs = 25, headers } = {}) {
  const base = trimSlash(url);
  let last;
  for (let i = 0; i < attempts; i++) {
    try {
      const json = await requestJson(`${base}/v1/topology`, { method: "GET", headers });
      if (!Array.isArray(json?.instances)) throw new Error(`${base}/v1/topology: no "instances" array`);
      return json.instances;
    } catch (err) {
      last = err;
      if (!isTransient(err)) throw err;
      await sleep(Math.min(1000, Math.max(delayMs * 2 ** i, err.retryAfterMs ?? 0)));
    }
  }
  throw last;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const isTransient = (err) =>
  err?.status === undefined || err.status === 408 || err.status === 429 || err.status >= 500;

/**
 * Routes claims to instances with the topology the client got at session start (ADR-018):
 * `keyOf(claim)` is the owning instance's URL, or undefined for a claim whose domain the topology
 * does not name; such claims go to `resolveKeys`, which asks `POST /v1/route` (in one request per
 * batch of claims) and remembers the domain it chose, so the transport can send it.
 */
export class ClaimRouter {
  #owner = new Map(); // domain → url
  #routed = new WeakMap(); // claim object → the domain /v1/route chose
  #urls;
  #next = 0;
  #attempts;
  #headers;

  constructor(topology, { attempts = 6, headers } = {}) {
    if (!Array.isArray(topology) || topology.length === 0) throw new TypeError("ClaimRouter: empty topology");
    for (const { url, domains } of topology) for (const d of domains) this.#owner.set(d, trimSlash(url));
    this.#urls = topology.map((i) => trimSlash(i.url));
    this.#attempts = attempts;
    this.#headers = headers;
    this.keyOf = this.keyOf.bind(this);
    this.resolveKeys = this.resolveKeys.bind(this);
  }

  /** The URL of the instance owning `domain`, or undefined. */
  ownerOf(domain) {
    return typeof domain === "string" ? this.#owner.get(domain) : undefined;
  }

  keyOf(claim) {
    return this.ownerOf(claim?.domain);
  }

  /** The domain a claim is sent with: its own if the topology knows it, else the routed one. */
  domainOf(claim) {
    return this.ownerOf(claim?.domain) !== undefined ? claim.domain : this.#routed.get(claim);
  }

  /**
   * One key per claim, from `POST /v1/route`. Transient failures (network, 429, 5xx) are retried a
   * few times; a 400/413/422 splits the list in halves, like hyperbatch's bisect, so an oversized
   * request still routes and one unroutable claim gets no key (hyperbatch fails it alone with
   * E_ROUTE; `routeErrors` keeps why) while the others route.
   */
  resolveKeys(claims) {
    return this.#resolve(claims, false);
  }

  /** claim object → the error that kept it from being routed (see resolveKeys). */
  routeErrors = new WeakMap();

  async #resolve(claims, split) {
    try {
      return await this.#route(claims);
    } catch (err) {
      if (!BISECT_STATUS.has(err?.status)) throw err;
      if (claims.length > 1) {
        const mid = claims.length >> 1;
        const halves = await Promise.all([
          this.#resolve(claims.slice(0, mid), true),
          this.#resolve(claims.slice(mid), true),
        ]);
        return halves.flat();
      }
      if (!split) throw err; // a lone claim: hyperbatch reports E_ROUTE with this as the cause
      if (typeof claims[0] === "object" && claims[0] !== null) this.routeErrors.set(claims[0], err);
      return [undefined];
    }
  }

  async #route(claims) {
    const body = {
      claims: claims.map((c) => ({
        id: c?.id,
        text: c?.text,
        ...(typeof c?.domain === "string" && { domain: c.domain }),
      })),
    };
    let last;
    for (let i = 0; i < this.#attempts; i++) {
      // Any instance can route; rotate so one unreachable instance does not stall routing.
      const url = `${this.#urls[this.#next++ % this.#urls.length]}/v1/route`;
      try {
        const json = await requestJson(url, { body, headers: this.#headers });
        const domains = resultsOf(json, "domains", claims.length, url);
        return claims.map((claim, j) => {
          const key = typeof json.urls?.[j] === "string" ? trimSlash(json.urls[j]) : this.ownerOf(domains[j]);
          if (key !== undefined && claim !== null && typeof claim === "object") this.#routed.set(claim, domains[j]);
          return key; // undefined → hyperbatch fails that claim with E_ROUTE
        });
      } catch (err) {
        last = err;
        if (!isTransient(err)) throw err;
        await sleep(Math.min(1000, Math.max(20 * 2 ** i, err.retryAfterMs ?? 0)));
      }
    }
    throw last;
  }
}

const BISECT_STATUS = new Set([400, 413, 422]);

/** A claim result → `{ok: true, id, domain}`, or a non-retryable ItemError with the server's error. */
export function claimOutcome(result, claim) {
  if (result?.ok === true) return result;
  const error = typeof result?.error === "string" && result.error !== "" ? result.error : "claim_failed";
  const owner = result?.owner ? ` (owner ${result.owner})` : "";
  return new ItemError(`claim ${claim?.id}: ${error}${owner}`, { code: error, result });
}

/**
 * Transport for `/v1/claims`, fanned out by instance: `batch.key` is the instance URL (as
 * `ClaimRouter.keyOf` / `resolveKeys` give), or a domain, sent to its owner from the topology.
 * Items are {id, domain?, text}; the id makes a resend safe (the first accepted claim stands).
 */
export function claimsTransport({ router, headers } = {}) {
  if (!(router instanceof ClaimRouter)) throw new TypeError("claimsTransport: `router` must be a ClaimRouter");
  return async (batch) => {
    const key = String(batch.key);
    const isUrl = /^https?:\/\//.test(key);
    const base = isUrl ? trimSlash(key) : router.ownerOf(key);
    if (base === undefined) {
      throw Object.assign(new Error(`claims transport: no instance owns domain "${key}"`), { retryable: false });
    }
    const claims = batch.items.map((c) => ({
      id: c.id,
      domain: router.domainOf(c) ?? (isUrl ? c.domain : key), // keyed by domain: that domain
      text: c.text,
    }));
    const url = `${base}/v1/claims`;
    const json = await requestJson(url, {
      body: { claims },
      signal: batch.signal,
      headers: headersFor(headers, batch),
    });
    return resultsOf(json, "results", batch.items.length, url).map((r, i) => claimOutcome(r, batch.items[i]));
  };
}

// ---- ids -------------------------------------------------------------------------------------

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
let lastTime = -1;
let lastRandom = [];

/** A monotonic ULID (26 Crockford base32 characters): the idempotency key of a lease. */
export function ulid(now = Date.now()) {
  if (now > lastTime) {
    lastTime = now;
    lastRandom = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b % 32);
  } else {
    // Same millisecond: increment the random part so ids stay unique and sorted.
    for (let i = 15; i >= 0; i--) {
      if (lastRandom[i] < 31) {
        lastRandom[i]++;
        break;
      }
      lastRandom[i] = 0;
    }
  }
  let time = "";
  for (let i = 0, t = lastTime; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  return time + lastRandom.map((n) => CROCKFORD[n]).join("");
}
