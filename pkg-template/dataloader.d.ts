// hyperbatch/dataloader: DataLoader 2.2's API (its index.d.ts, MIT) plus hyperbatch's extras.
import type { BatchEndInfo, BatchInfo, RetryOptions, Stats } from "./index.js";

declare class DataLoader<K, V, C = K> {
  constructor(batchLoadFn: DataLoader.BatchLoadFn<K, V>, options?: DataLoader.Options<K, V, C>);

  /** Loads a key, returning a `Promise` for the value represented by that key. */
  load(key: K): Promise<V>;

  /** Loads several keys; each entry is a value or the `Error` its load rejected with. */
  loadMany(keys: ArrayLike<K>): Promise<Array<V | Error>>;

  /** Clears the value at `key` from the cache, if it exists. */
  clear(key: K): this;

  /** Clears the entire cache. */
  clearAll(): this;

  /** Adds the key and value to the cache unless the key is there; an `Error` primes a rejection. */
  prime(key: K, value: V | PromiseLike<V> | Error): this;

  /** The engine's counters, as `Batcher.stats()`. */
  stats(): Stats;

  /** The `name` option, or `null`. */
  name: string | null;
}

declare namespace DataLoader {
  /** A subset of `Map`. */
  export type CacheMap<K, V> = {
    get(key: K): V | void;
    set(key: K, value: V): any;
    delete(key: K): any;
    clear(): any;
  };

  /** Given an array of keys, a promise of one value or `Error` per key, in order. */
  export type BatchLoadFn<K, V> = (keys: ReadonlyArray<K>) => PromiseLike<ArrayLike<V | Error>>;

  export type Options<K, V, C = K> = {
    /** Default `true`; `false` is `maxBatchSize: 1`. */
    batch?: boolean;
    /** Default `Infinity`. */
    maxBatchSize?: number;
    /** Default: after the current promise jobs (Node), else the next macrotask. */
    batchScheduleFn?: (callback: () => void) => void;
    /** Default `true`. */
    cache?: boolean;
    /** Default: the key itself. */
    cacheKeyFn?: (key: K) => C;
    /** Default `new Map()`; `null` disables the cache. */
    cacheMap?: CacheMap<C, Promise<V>> | null;
    name?: string | null;

    // hyperbatch extras (off unless given: `undefined` is not given), with their `Batcher` meaning.
    /** The engine's window decides when a batch goes (instead of `batchScheduleFn`). */
    maxWaitMs?: number | undefined;
    /** Retry failed batches (default: never, like DataLoader). */
    retry?: RetryOptions | undefined;
    /** Per batchLoadFn call; a call that takes longer fails its loads with `E_TIMEOUT`. */
    timeoutMs?: number | undefined;
    /** Concurrent batchLoadFn calls (default: unlimited, like DataLoader). */
    maxInFlight?: number | undefined;
    /** Split failing batches to isolate a poison key (default `false`). */
    bisect?: boolean | undefined;
    onBatchStart?: ((info: BatchInfo<K>) => void) | undefined;
    onBatchEnd?: ((info: BatchEndInfo<K, V>) => void) | undefined;
  };
}

export default DataLoader;
export { DataLoader };
