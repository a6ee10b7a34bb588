// aud16: under `exactOptionalPropertyTypes` (@tsconfig/strictest and others turn it on) an
// optional property given as `undefined` must be declared `| undefined`. The reference says "an
// option whose value is `undefined` counts as not given", and the JS takes it so, as it takes
// `signal: null` (fetch's RequestInit has `signal?: AbortSignal | null`): the types must too, or
// code that forwards optional settings fails to compile.
import { Batcher, type AddOptions, type BatcherOptions, type RetryOptions } from "hyperbatch";

declare const signal: AbortSignal | undefined;
declare const timeoutMs: number | undefined;
declare const settings: { maxWaitMs?: number | undefined; keyOf?: ((n: number) => string) | undefined };

const retry: RetryOptions = { maxAttempts: undefined, jitter: undefined, classify: undefined, budget: { maxTokens: undefined } };
const options: BatcherOptions<number, string> = {
  transport: async (batch) => batch.items.map(String),
  maxWaitMs: settings.maxWaitMs,
  keyOf: settings.keyOf,
  timeoutMs,
  maxBatchWeight: undefined,
  whenFull: undefined,
  errorMode: undefined,
  retry,
  circuitBreaker: { failureThreshold: undefined, resetMs: undefined },
  onBatchStart: undefined,
  onBatchEnd: undefined,
  onCircuitChange: undefined,
};
const b = new Batcher(options);
const add: AddOptions = { signal, key: undefined, weight: undefined, deadline: undefined };
export const a: Promise<string> = b.add(1, add);
export const c: Promise<string> = b.add(2, { signal: null });
