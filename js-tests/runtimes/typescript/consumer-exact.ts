// aud16: under `exactOptionalPropertyTypes` (@tsconfig/strictest and others turn it on) an
// optional property given as `undefined` must be declared `| undefined`. The reference says "an
// option whose value is `undefined` counts as not given", and the JS takes it so, as it takes
// `signal: null` (fetch's RequestInit has `signal?: AbortSignal | null`): the types must too, or
// code that forwards optional settings fails to compile.
import { Batcher, type AddOptions, type BatcherOptions, type RetryOptions } from "hyperbatch";
import DataLoader from "hyperbatch/dataloader";

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

// hyperbatch/dataloader's extras are "off unless given", and the facade reads one given as
// `undefined` as not given: a loader built from optional settings compiles too. (DataLoader's own
// options stay as DataLoader 2.2.3's index.d.ts declares them.)
const loader = new DataLoader<number, string>(async (keys) => keys.map(String), {
  maxWaitMs: settings.maxWaitMs,
  timeoutMs,
  retry: undefined,
  maxInFlight: undefined,
  bisect: undefined,
  onBatchStart: undefined,
  onBatchEnd: undefined,
});
export const d: Promise<string> = loader.load(3);
