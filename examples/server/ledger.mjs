// The delivery ledger: every time an item id reaches a state-changing endpoint, and what became of
// it. Idempotency keeps the state right whatever a client resends; the ledger shows what it sent,
// so a client that resends without cause (or twice at once) is caught even though the state hides
// it. Definitions (README.md, "Deliveries"):
//
//   delivery     the id arrived in a request body the server could parse (faulted requests too)
//   refused      the request was answered or dropped before the work: nothing applied
//   applied      the work ran for it (for an id already applied, an idempotent replay)
//   answerLost   applied, but the answer never left (drop-after fault, or the client had gone)
//   acked        applied and its 200 answer, whose entry for it reports success, was written
//   redelivery   a delivery arriving when earlier ones exist, none open and none acked: every
//                earlier one was refused, answered without success, or lost its answer (legit)
//   duplicate    a delivery arriving while another delivery of the id is still being handled
//                (same request or a concurrent one) or after one was acked: the client had no
//                failure to react to

export class Ledger {
  #ids = new Map(); // id → record

  /** Records the arrival of `id`; returns its record (pass it to `settle` once handled). */
  arrive(id) {
    let rec = this.#ids.get(id);
    if (!rec) {
      rec = { deliveries: 0, redeliveries: 0, duplicates: 0, refused: 0, applied: 0, answerLost: 0, acked: 0, open: 0 };
      this.#ids.set(id, rec);
    }
    if (rec.open > 0 || rec.acked > 0) rec.duplicates++;
    else if (rec.deliveries > 0) rec.redeliveries++;
    rec.deliveries++;
    rec.open++;
    return rec;
  }

  /**
   * Ends one delivery. `outcome`: "refused" | "answered" | "answer_lost"; `ok` whether its result
   * is a success; `result` that result, kept (the first success) as what the server answered for
   * the id, so a client's value can be checked against it.
   */
  settle(rec, outcome, ok = false, result = undefined) {
    rec.open--;
    if (outcome === 'refused') return void rec.refused++;
    rec.applied++;
    if (ok && !('result' in rec)) rec.result = result;
    if (outcome === 'answer_lost') rec.answerLost++;
    else if (ok) rec.acked++;
  }

  get(id) {
    return this.#ids.get(id);
  }

  get size() {
    return this.#ids.size;
  }

  entries() {
    return this.#ids.entries();
  }

  /** Totals over every id, and the ids with duplicates (at most `limit` of them). */
  summary(limit = 20) {
    const out = { ids: this.#ids.size, deliveries: 0, redeliveries: 0, duplicates: 0, refused: 0 };
    Object.assign(out, { applied: 0, answerLost: 0, acked: 0, duplicateIds: [] });
    for (const [id, rec] of this.#ids) {
      for (const k of ['deliveries', 'redeliveries', 'duplicates', 'refused', 'applied', 'answerLost', 'acked']) {
        out[k] += rec[k];
      }
      if (rec.duplicates > 0 && out.duplicateIds.length < limit) out.duplicateIds.push(id);
    }
    return out;
  }

  /** Every record as plain JSON: { id: record }. */
  toJSON() {
    return Object.fromEntries([...this.#ids].map(([id, { open, ...rec }]) => [id, rec]));
  }
}
