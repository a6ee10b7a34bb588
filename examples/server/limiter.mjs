// Reserve/Complete as in ADR 0008 (client-side batching for Reserve/Complete): each item of a
// batch is judged on its own (no cross-item atomicity), and a lease_id makes both calls
// idempotent, so a client may resend a whole batch after a lost response without consuming twice.

// A ULID is 26 Crockford base32 characters (no I, L, O, U); the first is at most 7 so the value
// fits in 128 bits. Decoding is case-insensitive per the ULID spec; we key leases by upper case.
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/i;
const MAX_ENTRIES = 32;

// Used when no `limits` option is given: the keys the ADR's examples use, per minute.
export const DEFAULT_LIMITS = {
  'global:llm:openai:gpt-4o:rpm': { capacity: 500, windowMs: 60_000 },
  'global:llm:openai:gpt-4o:tpm': { capacity: 30_000, windowMs: 60_000 },
};
const DEFAULT_WINDOW_MS = 1000;

export class Limiter {
  #limits; // key → { capacity, windowMs }
  #windows = new Map(); // key → { start, used }: a fixed window counter per key
  #now;
  /** lease_id → { lease_id, job_id, requirements, taken: [{ key, amount, window_start }], result } */
  reservations = new Map();
  /** lease_id → { lease_id, job_id, actuals, result } */
  completions = new Map();

  constructor({ limits = DEFAULT_LIMITS, now = Date.now } = {}) {
    this.#limits = parseLimits(limits);
    this.#now = now;
  }

  /** Units of `key` used in its current window. */
  usage(key) {
    return this.#window(key, this.#now()).used;
  }

  /** { key: units used in its current window } for every configured key. */
  usageByKey() {
    return Object.fromEntries([...this.#limits.keys()].map((key) => [key, this.usage(key)]));
  }

  reserve(req) {
    if (!validItem(req, 'requirements', 'amount')) return denied('invalid_request');
    const lease = req.lease_id.toUpperCase();
    // A replay gets the original answer. Only granted reservations are remembered: a denied
    // lease must be able to try again after retry_after_ms.
    const original = this.reservations.get(lease);
    if (original) return original.result;

    const need = totals(req.requirements, 'amount');
    if ([...need.keys()].some((key) => !this.#limits.has(key))) return denied('unknown_limit_key');
    const now = this.#now();
    // The requirements of one item are all granted or none is: wait for the slowest key.
    let retryAfterMs = 0;
    for (const [key, amount] of need) {
      const { capacity, windowMs } = this.#limits.get(key);
      if (amount > capacity) return denied('exceeds_capacity'); // would never fit: do not retry
      const window = this.#window(key, now);
      if (window.used + amount > capacity) {
        retryAfterMs = Math.max(retryAfterMs, window.start + windowMs - now);
      }
    }
    if (retryAfterMs > 0) {
      return { allowed: false, retry_after_ms: retryAfterMs, reserved_at_unix_ms: 0, error: '' };
    }

    const taken = [];
    for (const [key, amount] of need) {
      const window = this.#window(key, now);
      window.used += amount;
      taken.push({ key, amount, window_start: window.start });
    }
    // lease_id: the answer names its item, so a client handing it to the wrong caller shows.
    const result = { allowed: true, retry_after_ms: 0, reserved_at_unix_ms: now, error: '', lease_id: lease };
    const { job_id, requirements } = req;
    this.reservations.set(lease, { lease_id: lease, job_id, requirements, taken, result });
    return result;
  }

  complete(req) {
    if (!validItem(req, 'actuals', 'actual_amount')) return failed('invalid_request');
    const lease = req.lease_id.toUpperCase();
    const original = this.completions.get(lease);
    if (original) return original.result;
    const reservation = this.reservations.get(lease);
    if (!reservation) return failed('unknown_lease');

    const actual = totals(req.actuals, 'actual_amount');
    if ([...actual.keys()].some((key) => !this.#limits.has(key))) return failed('unknown_limit_key');
    // Settle what was used against what was reserved: extra use is charged to the current window;
    // unused units go back only to the window they came from (an old window is gone anyway).
    const now = this.#now();
    for (const [key, amount] of actual) {
      const taken = reservation.taken.find((t) => t.key === key);
      const delta = amount - (taken?.amount ?? 0);
      const window = this.#window(key, now);
      if (delta > 0) window.used += delta;
      else if (window.start === taken?.window_start) window.used = Math.max(0, window.used + delta);
    }
    const result = { ok: true, error: '', lease_id: lease };
    const { job_id, actuals } = req;
    this.completions.set(lease, { lease_id: lease, job_id, actuals, result });
    return result;
  }

  #window(key, now) {
    const windowMs = this.#limits.get(key)?.windowMs ?? DEFAULT_WINDOW_MS;
    const start = now - (now % windowMs);
    let window = this.#windows.get(key);
    if (!window || window.start !== start) {
      window = { start, used: 0 };
      this.#windows.set(key, window);
    }
    return window;
  }
}

const denied = (error) => ({ allowed: false, retry_after_ms: 0, reserved_at_unix_ms: 0, error });
const failed = (error) => ({ ok: false, error });

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// The rules of a single Reserve/Complete: lease_id a ULID, 1..32 entries, each a key and an
// integer amount >= 1.
function validItem(req, listName, amountName) {
  if (!isObject(req) || typeof req.lease_id !== 'string' || !ULID.test(req.lease_id)) return false;
  if (req.job_id !== undefined && typeof req.job_id !== 'string') return false;
  const list = req[listName];
  if (!Array.isArray(list) || list.length < 1 || list.length > MAX_ENTRIES) return false;
  return list.every(
    (e) =>
      isObject(e) &&
      typeof e.key === 'string' &&
      e.key !== '' &&
      Number.isSafeInteger(e[amountName]) &&
      e[amountName] >= 1,
  );
}

// The same key listed twice in one item counts once, with the amounts added.
function totals(list, amountName) {
  const out = new Map();
  for (const e of list) out.set(e.key, (out.get(e.key) ?? 0) + e[amountName]);
  return out;
}

// `limits` maps a key to its capacity per window: a number (per second) or { capacity, windowMs }.
function parseLimits(limits) {
  const out = new Map();
  for (const [key, spec] of Object.entries(limits)) {
    const { capacity, windowMs = DEFAULT_WINDOW_MS } = typeof spec === 'number' ? { capacity: spec } : spec;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`limits["${key}"].capacity must be an integer >= 1`);
    }
    if (!Number.isSafeInteger(windowMs) || windowMs < 1) {
      throw new RangeError(`limits["${key}"].windowMs must be an integer >= 1`);
    }
    out.set(key, { capacity, windowMs });
  }
  return out;
}
