// Fault injection. Every fault has a server-wide default (an option or CLI flag) that a request
// may override with a header, so one running server serves both a clean test and a chaos test.
// Random faults draw from a seeded PRNG so a failing run can be replayed exactly.

// option name → request header; the CLI flag is the header without its leading "x-".
export const FAULT_HEADERS = {
  latencyMs: 'x-fault-latency-ms', // wait this long before answering
  rate503: 'x-fault-503-rate', // probability of 503 Service Unavailable
  rate429: 'x-fault-429-rate', // probability of 429 Too Many Requests (+ Retry-After)
  retryAfterMs: 'x-fault-retry-after-ms', // the hint a 429 carries
  above413: 'x-fault-413-above', // 413 when the batch holds more items than this
  poison: 'x-fault-poison', // item id(s), comma-separated: a batch holding one fails with 400
  dropRate: 'x-fault-drop-rate', // probability of closing the socket before handling (nothing written)
  dropAfterRate: 'x-fault-drop-after-rate', // ... after handling (written, but the response is lost)
};

export const NO_FAULTS = Object.freeze({
  latencyMs: 0,
  rate503: 0,
  rate429: 0,
  retryAfterMs: 1000,
  above413: Infinity,
  poison: Object.freeze([]),
  dropRate: 0,
  dropAfterRate: 0,
});

const RATES = new Set(['rate503', 'rate429', 'dropRate', 'dropAfterRate']);

/** Checks fault options once, at start-up; throws a RangeError naming the bad one. */
export function checkFaults(faults = {}) {
  const out = { ...NO_FAULTS };
  for (const [name, value] of Object.entries(faults)) {
    if (!(name in FAULT_HEADERS)) throw new RangeError(`unknown fault option "${name}"`);
    if (value !== undefined) out[name] = parseFault(name, value, `faults.${name}`);
  }
  return out;
}

/** The faults for one request: the server's defaults, overridden by any x-fault-* header. */
export function faultsFor(defaults, headers) {
  const out = { ...defaults };
  for (const [name, header] of Object.entries(FAULT_HEADERS)) {
    if (headers[header] !== undefined) out[name] = parseFault(name, headers[header], header);
  }
  return out;
}

function parseFault(name, value, label) {
  if (name === 'poison') {
    const ids = Array.isArray(value) ? value : String(value).split(',');
    return ids.map((id) => String(id).trim()).filter(Boolean);
  }
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  const ok = RATES.has(name) ? n >= 0 && n <= 1 : n >= 0; // NaN fails both
  if (!ok) {
    const want = RATES.has(name) ? 'a probability in 0..1' : 'a number >= 0';
    throw new RangeError(`${label} must be ${want} (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** mulberry32: a tiny seedable PRNG, plenty for deciding which requests fail. */
export function createRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
