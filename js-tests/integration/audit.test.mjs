// The demo's audit (examples/node/run.mjs) must be able to fail. Each test runs the demo — real
// servers, faults on, a smaller workload — with the transport of every batcher wrapped by a
// deliberately broken client, and checks that the audit names the fault and exits non-zero; the
// first runs it unbroken, to show the same audit passes a correct client under the same faults.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Batcher } from "hyperbatch";
import { MIN_ACK_RATE, runDemo } from "../../examples/node/run.mjs";

const SCALE = 0.2; // ~2,500 calls: a few seconds a run
const T = { timeout: 60_000 };
const FLOOR = `floor ${(MIN_ACK_RATE * 100).toFixed(1)}%`;

async function audited(wrapTransport) {
  const lines = [];
  const log = (line = "") => lines.push(line);
  const { exitCode, audit } = await runDemo({ Batcher, seed: 7, scale: SCALE, wrapTransport, log, deadlineMs: 30_000 });
  const output = lines.join("\n");
  const verdict = output.split("\n").filter((l) => /^(lost:|FAILED|OK)/.test(l)).join("\n");
  const report = output.slice(output.indexOf("\naudit:") + 1); // what the audit printed
  return { exitCode, audit, output, verdict, report };
}

test("a correct client passes: its resends are legitimate; nothing lost, doubled, mismatched", T, async (t) => {
  const { exitCode, audit, output, verdict, report } = await audited(undefined);
  for (const line of report.split("\n")) t.diagnostic(line);
  assert.equal(exitCode, 0, output);
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.lost + audit.duplicated + audit.mismatched, 0);
  assert.ok(audit.redelivered > 0, "the faults made the client resend, and the ledgers call that legitimate");
  assert.ok(audit.ackRate >= MIN_ACK_RATE, `${audit.ackRate}`);
  const ok = /^lost: 0, duplicated: 0, mismatched: 0, acknowledged: \d+\/\d+ = [\d.]+% \((.*)\)\nOK: /m;
  assert.equal(ok.exec(verdict)?.[1], FLOOR, verdict);
  // The claims instance that went down mid-run: its circuit opened, its claims failed fast
  // without a request, and a probe closed it once the instance was back.
  const c = audit.circuit;
  assert.ok(c.opened >= 1 && c.closed >= 1, `circuit of the downed instance: ${JSON.stringify(c)}`);
  assert.equal(c.states[0], "open");
  assert.equal(c.states.at(-1), "closed", "closed again at the end");
  assert.ok(c.fastFailed > 0, "claims failed fast with E_CIRCUIT_OPEN");
  assert.match(output, /^ +[\d.]+ s +circuit \S+ open \(/m);
  assert.match(output, /^ +[\d.]+ s +circuit \S+ closed$/m);
});

test("a client that never calls the server and resolves every call: every acknowledged call is lost", T, async (t) => {
  const neverSends = () => async (batch) => batch.items.map(() => ({ ok: true, allowed: true }));
  const { exitCode, audit, verdict, report } = await audited(neverSends);
  for (const line of report.split("\n")) t.diagnostic(line);
  assert.equal(exitCode, 1);
  assert.equal(audit.acked, audit.calls, "every caller was told yes");
  assert.equal(audit.lost, audit.acked, "and the server holds none of them");
  assert.match(verdict, /^FAILED: lost \d+/m);
});

test("a client that sends every batch twice: the servers' ledgers count duplicates", T, async (t) => {
  const twice = (transport) => async (batch) => {
    await transport(batch);
    return transport(batch);
  };
  const { exitCode, audit, verdict, report } = await audited(twice);
  for (const line of report.split("\n")) t.diagnostic(line);
  assert.equal(exitCode, 1);
  // Idempotency keeps the state right — nothing lost, every value as the server answered —
  // so only the delivery count shows the resends.
  assert.equal(audit.lost, 0);
  assert.equal(audit.mismatched, 0);
  assert.ok(audit.duplicated > audit.acked / 2, `${audit.duplicated} duplicates for ${audit.acked} acknowledged`);
  assert.match(verdict, /^FAILED: duplicated \d+/m);
});

test("a client that shuffles results among the callers of a batch: values mismatch the server's", T, async (t) => {
  // Rotates the results by one: each caller gets its neighbour's answer.
  const shuffles = (transport) => async (batch) => {
    const out = await transport(batch);
    return out.length > 1 ? [...out.slice(1), out[0]] : out;
  };
  const { exitCode, audit, verdict, report } = await audited(shuffles);
  for (const line of report.split("\n")) t.diagnostic(line);
  assert.equal(exitCode, 1);
  assert.ok(audit.mismatched > audit.acked / 2, `${audit.mismatched} mismatched of ${audit.acked}`);
  assert.match(verdict, /mismatched \d+/);
  assert.match(verdict, /^FAILED: .*mismatched [1-9]/m);
});

test("a client that drops half the items and answers them with a neighbour's result: lost", T, async (t) => {
  // Sends the items at even positions only; each dropped item gets the answer of the one before.
  const dropsHalf = (transport) => async (batch) => {
    const kept = batch.items.filter((_, i) => i % 2 === 0);
    const { id, key, attempt, signal, deadline } = batch;
    const out = await transport({ id, key, items: kept, attempt, signal, deadline });
    return batch.items.map((_, i) => out[i >> 1]);
  };
  const { exitCode, audit, verdict, report } = await audited(dropsHalf);
  for (const line of report.split("\n")) t.diagnostic(line);
  assert.equal(exitCode, 1);
  assert.ok(audit.lost > audit.acked / 4, `${audit.lost} lost of ${audit.acked}`);
  assert.match(verdict, /^FAILED: lost [1-9]\d*/m);
});

test("a client that fails every call without sending it: nothing lost or doubled, below the floor", T, async (t) => {
  const failsAll = () => async () => {
    throw Object.assign(new Error("broken client: not sent"), { retryable: false });
  };
  const { exitCode, audit, verdict, report } = await audited(failsAll);
  for (const line of report.split("\n")) t.diagnostic(line);
  assert.equal(exitCode, 1);
  assert.equal(audit.lost + audit.duplicated + audit.mismatched, 0, "only the floor catches this one");
  assert.equal(audit.acked, 0);
  assert.deepEqual(audit.problems, [`acknowledged 0.0% < ${FLOOR}`]);
});
