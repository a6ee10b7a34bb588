/// <reference lib="esnext.disposable" />
// (for `[Symbol.asyncDispose]` below: without it, a program whose `lib` lacks ESNext.Disposable
// and that checks libraries fails on this file.)

/** One transport call: the items to send, in arrival order. */
export interface Batch<I> {
  /** Unique per call (a retry or bisect half is a new call with a new id). */
  readonly id: number;
  /** The queue's key (`keyOf` / `add(item, { key })`), or `undefined` for the single queue. */
  readonly key: BatchKey | undefined;
  readonly items: I[];
  /** Highest attempt number among the items: 1 on a first send. */
  readonly attempt: number;
  /** Aborts when the call outlives `timeoutMs` (reason `E_TIMEOUT`), or when every item of the call was aborted or passed its deadline (reason `E_ABORTED`). */
  readonly signal: AbortSignal;
  /** Earliest item deadline (epoch ms), if any. */
  readonly deadline: number | undefined;
  /** `true` on the calls sent because the page was hidden (`flushOnHide`): pass it to `fetch(url, { keepalive })`. */
  readonly keepalive: boolean;
}

export type BatchKey = string | number;

/** One entry per item, in order. An `Error` entry fails that item alone. */
export type TransportResult<O> = ReadonlyArray<O | Error>;

export type Transport<I, O> = (batch: Batch<I>) => TransportResult<O> | PromiseLike<TransportResult<O>>;

export type Classification = "retry" | "bisect" | "fail";

export interface RetryOptions {
  /** Sends per item, first included. Default 3. */
  maxAttempts?: number | undefined;
  /** Default 50. */
  baseDelayMs?: number | undefined;
  /** Default 5000. */
  maxDelayMs?: number | undefined;
  /** Default 2. */
  multiplier?: number | undefined;
  /** Default "full". */
  jitter?: "full" | "equal" | "none" | undefined;
  /** Cap on a `retryAfterMs` / `Retry-After` floor. Default 60000. */
  maxRetryAfterMs?: number | undefined;
  /** Decide what a batch-level failure means; any other return value (`undefined`), or a throw, falls back to the default rule (docs/reference.md). */
  classify?: ((err: unknown) => Classification | undefined) | undefined;
  /** gRPC-style retry throttling; `false` turns it off. Default `{ maxTokens: 100, tokenRatio: 0.1 }`. */
  budget?: { maxTokens?: number | undefined; tokenRatio?: number | undefined } | false | undefined;
}

/** What `onBatchStart` gets: one transport call, once. */
export interface BatchInfo<I = unknown> {
  id: number;
  key: BatchKey | undefined;
  size: number;
  weight: number;
  attempt: number;
  /** The call's items, in order: the array handed to the transport (the same objects, no copy). */
  items: readonly I[];
}

/** What `onBatchEnd` gets: the call's start info and how it ended. */
export interface BatchEndInfo<I = unknown, O = unknown> extends BatchInfo<I> {
  durationMs: number;
  succeeded: number;
  failed: number;
  /** The array the transport returned (the same object), or `undefined` when the call failed at batch level. */
  results: TransportResult<O> | undefined;
  /** The batch-level error, as a caller would see it (`E_TIMEOUT`, `E_RESULT_SHAPE`, or the transport's own). */
  error?: unknown;
}

/** What `onCircuitChange` gets: a key's circuit breaker changed state. */
export interface CircuitInfo {
  /** The key (`undefined` for the single queue used without `keyOf`). */
  key: BatchKey | undefined;
  state: "open" | "half_open" | "closed";
  /** On `"open"`: the batch-level error that opened it, as a caller would see it. */
  error?: unknown;
}

/** Per key: open after `failureThreshold` consecutive calls failed at batch level; probe after `resetMs`. */
export interface CircuitBreakerOptions {
  /** Default 5 (an integer ≥ 1). */
  failureThreshold?: number | undefined;
  /** Default 10000 (ms). */
  resetMs?: number | undefined;
}

// Every optional property says `| undefined`: an option given as `undefined` counts as not given
// (the JS reads it so), also for a consumer with exactOptionalPropertyTypes.
export interface BatcherOptions<I, O> {
  transport: Transport<I, O>;
  /** Default 100 (1..=100000). */
  maxBatchSize?: number | undefined;
  /** Default 10; 0 = at the end of the current tick. */
  maxWaitMs?: number | undefined;
  /** None by default; `null` = none. */
  maxBatchWeight?: number | null | undefined;
  weigh?: ((item: I) => number) | undefined;
  keyOf?: ((item: I) => BatchKey | undefined) | undefined;
  resolveKeys?: ((items: I[]) => ReadonlyArray<BatchKey | undefined> | PromiseLike<ReadonlyArray<BatchKey | undefined>>) | undefined;
  /** Items whose dedupe values are equal by SameValueZero (objects, functions, symbols by identity) share one slot. */
  dedupeBy?: ((item: I) => unknown) | undefined;
  /** Default 10000. */
  maxQueued?: number | undefined;
  /** Default "reject". */
  whenFull?: "reject" | "wait" | undefined;
  /** Default 4. */
  maxInFlight?: number | undefined;
  /** None by default; `null` = none. */
  maxInFlightPerKey?: number | null | undefined;
  /** None by default; `null` = none. */
  timeoutMs?: number | null | undefined;
  /** Default "partial". */
  errorMode?: "partial" | "fail_fast" | "atomic" | undefined;
  retry?: RetryOptions | undefined;
  /** Default true. */
  bisect?: boolean | undefined;
  /** Default false. `maxWaitMs` becomes a ceiling: a key with no call in flight sends at the end of the tick; one with calls out gathers until one of them ends. */
  adaptive?: boolean | undefined;
  /** Default false. In browsers, every queue is sent (as `keepalive` calls) when the page is hidden. */
  flushOnHide?: boolean | undefined;
  /** Default none. Per key: fail fast with `E_CIRCUIT_OPEN` while the key's transport keeps failing. */
  circuitBreaker?: CircuitBreakerOptions | undefined;
  /** Called on every circuit state change; a hook that throws changes no outcome. */
  onCircuitChange?: ((info: CircuitInfo) => void) | undefined;
  onBatchStart?: ((info: BatchInfo<I>) => void) | undefined;
  onBatchEnd?: ((info: BatchEndInfo<I, O>) => void) | undefined;
}

export interface AddOptions {
  key?: BatchKey | undefined;
  weight?: number | undefined;
  signal?: AbortSignal | null | undefined;
  /** Epoch ms, like `Date.now()`. */
  deadline?: number | undefined;
}

export type Settled<O> = PromiseSettledResult<O>;

export interface Stats {
  queued: number;
  inFlightBatches: number;
  inFlightItems: number;
  batches: number;
  items: number;
  succeeded: number;
  failed: number;
  retries: number;
  bisects: number;
  throttled: number;
  /** Keys whose circuit is open now. */
  circuitsOpen: number;
}

export type ErrorCode =
  | "E_CONFIG"
  | "E_CLOSED"
  | "E_FULL"
  | "E_TOO_LARGE"
  | "E_ABORTED"
  | "E_DEADLINE"
  | "E_TIMEOUT"
  | "E_TRANSPORT"
  | "E_RESULT_SHAPE"
  | "E_FAIL_FAST"
  | "E_ATOMIC"
  | "E_ROUTE"
  | "E_CIRCUIT_OPEN";

/** The shape of every error hyperbatch makes. */
export interface HyperbatchError extends Error {
  code: ErrorCode;
  /** On `E_TRANSPORT`: transport calls made for the item. */
  attempts?: number;
  /** On `E_CONFIG`: the option at fault. */
  option?: string;
}

export declare class Batcher<I = unknown, O = unknown> {
  constructor(options: BatcherOptions<I, O>);
  add(item: I, opts?: AddOptions): Promise<O>;
  /** Any array of items, a readonly one too (the batcher never writes to it). */
  addMany(items: readonly I[], opts?: AddOptions): Promise<Settled<O>[]>;
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): Stats;
  [Symbol.asyncDispose](): Promise<void>;
}
