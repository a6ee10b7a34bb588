// hyperbatch/timeline: a recorder for a Batcher's calls, drawn as a self-contained SVG.
// docs/timeline.md is the guide.

/** What a recorded call came to. */
export type CallOutcome =
  | "ok" // every item succeeded
  | "partial" // the call answered, some items failed (or were re-queued by a retryable item error)
  | "retried" // batch-level failure, its items were sent again (a later call with a higher attempt)
  | "bisected" // batch-level failure, its items were sent again in halves
  | "failed" // batch-level failure, final
  | "timeout" // the call failed with E_TIMEOUT (retried or not: the links show what followed)
  | "inflight"; // not ended yet

export interface TimelineOptions {
  /** Calls kept, a ring: older calls are dropped. Default 1000. */
  limit?: number;
  /** The clock, in ms. Default `performance.now`. */
  now?: () => number;
}

/** The hook info the recorder reads (what a Batcher passes to onBatchStart / onBatchEnd). */
export interface TimelineHookInfo {
  id: number;
  key: unknown;
  size: number;
  weight?: number;
  attempt: number;
  items?: readonly unknown[];
  durationMs?: number;
  succeeded?: number;
  failed?: number;
  error?: unknown;
  results?: readonly unknown[];
}

export interface TimelineHooks {
  onBatchStart(info: TimelineHookInfo): void;
  onBatchEnd(info: TimelineHookInfo): void;
}

export interface RecordedCall {
  /** The name given to hooks()/attach(), or "". */
  source: string;
  id: number;
  key: unknown;
  size: number;
  attempt: number;
  /** Recorder clock at onBatchStart / onBatchEnd (end undefined while in flight). */
  start: number;
  end: number | undefined;
  durationMs: number | undefined;
  succeeded: number;
  failed: number;
  outcome: CallOutcome;
  errorCode: string | undefined;
  /** The earlier calls that carried some of this call's items. */
  parents: { id: number; kind: "retry" | "bisect" }[];
}

export class Timeline {
  constructor(options?: TimelineOptions);
  readonly limit: number;
  /** Hooks recording into this timeline: `new Batcher({ ...rec.hooks(), transport })`. */
  hooks(name?: string): TimelineHooks;
  /** A copy of `options` whose hooks record here, then call the options' own hooks. */
  attach<T extends object>(options: T, name?: string): T & TimelineHooks;
  /** Records add → settle latency of a promise add() returned; returns a promise settling as it does. */
  track<T>(promise: PromiseLike<T>): Promise<T>;
  /** `batcher.add(item, opts)`, tracked. */
  add<I, O>(batcher: { add(item: I, opts?: any): Promise<O> }, item: I, opts?: object): Promise<O>;
  /** The recorded calls, oldest first. */
  calls(): RecordedCall[];
  /** Forgets everything recorded. */
  clear(): void;
  /** The drawing, an `<svg>` element as a string. */
  svg(options?: { width?: number; title?: string }): string;
  /** A complete HTML page holding the SVG; `text` is shown above it as preformatted text. */
  html(options?: { title?: string; text?: string; width?: number }): string;
}
