// The reserve scenario the workerd and browser integration tests run inside their runtime, over
// real HTTP against the loopback batch server (examples/server/): every item goes into one batch;
// the server rejects the whole batch while it holds the poison lease (x-fault-poison → HTTP 400),
// so hyperbatch bisects until the poison item fails alone; invalid items fail with the server's
// per-item error; the others are granted. Returns plain JSON outcomes, in order.

/** An error as plain JSON (name, code, message, retryable, and the HTTP cause's details). */
function errorJson(e) {
  const out = { name: e?.name, code: e?.code, message: String(e?.message ?? e) };
  if (e?.retryable !== undefined) out.retryable = e.retryable;
  const c = e?.cause;
  if (c) out.cause = { name: c.name, message: c.message, status: c.status, serverError: c.serverError };
  return out;
}

export async function runReserveScenario({ Batcher, reserveCompleteTransport, reserveOrComplete, baseUrl, items, poison }) {
  const batcher = new Batcher({
    transport: reserveCompleteTransport({ baseUrl, headers: poison ? { "x-fault-poison": poison } : {} }),
    keyOf: reserveOrComplete,
    maxBatchSize: items.length,
    maxWaitMs: 60_000, // never fires: the batch leaves when full
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
  });
  try {
    const settled = await Promise.allSettled(items.map((item) => batcher.add(item)));
    const outcomes = settled.map((s) =>
      s.status === "fulfilled" ? { status: "fulfilled", value: s.value } : { status: "rejected", error: errorJson(s.reason) });
    return { outcomes, stats: batcher.stats() };
  } finally {
    await batcher.close();
  }
}
