// A consumer with a common tsconfig (lib ES2022 + DOM, no ESNext.Disposable; skipLibCheck off):
// the package's .d.ts files must check cleanly there too, for both entries.
import { Batcher, type Batch, type CircuitInfo, type ErrorCode } from "hyperbatch";
import { Batcher as SlimBatcher, init, type WasmSource } from "hyperbatch/slim";

const b = new Batcher<string, number>({ transport: async (batch: Batch<string>) => batch.items.map((s) => s.length) });
export const n: Promise<number> = b.add("abc");

const source: WasmSource = new URL("./hyperbatch_bg.wasm", "https://example.invalid/");
export const ready: Promise<void> = init(source);
export const slim = new SlimBatcher<{ id: string }, boolean>({ transport: async (batch) => batch.items.map(() => true) });

// 0.2: adaptive and flushOnHide; every batch says whether it is a page-hide (keepalive) call.
export const hiding = new Batcher<string, boolean>({
  adaptive: true,
  flushOnHide: true,
  transport: async (batch) => {
    const keepalive: boolean = batch.keepalive;
    await fetch("/collect", { method: "POST", body: JSON.stringify(batch.items), keepalive });
    return batch.items.map(() => true);
  },
});

// 0.2: a per-key circuit breaker, its hook and counter.
export const guarded = new Batcher<{ shard: string }, string>({
  keyOf: (item) => item.shard,
  circuitBreaker: { failureThreshold: 5, resetMs: 10_000 },
  onCircuitChange: (info: CircuitInfo) => {
    const state: "open" | "half_open" | "closed" = info.state;
    console.log(info.key, state, info.error);
  },
  transport: async (batch) => batch.items.map((i) => i.shard),
});
export const open: number = guarded.stats().circuitsOpen;
export const code: ErrorCode = "E_CIRCUIT_OPEN";

// `null` is "none" for the caps and the timeout, as the reference says (the JS accepts it).
export const uncapped = new Batcher<string, string>({
  maxBatchWeight: null,
  maxInFlightPerKey: null,
  timeoutMs: null,
  transport: async (batch) => batch.items,
});

// addMany takes a readonly array too: it never writes to it (aud14: `I[]` refused one).
const ids: readonly string[] = ["a", "b"];
export const settled: Promise<PromiseSettledResult<number>[]> = b.addMany(ids);

// aud16: "a return value other than "retry", "bisect" or "fail" ... falls back to the default
// rule" (the reference): a classify that decides some errors and leaves the rest to the default
// returns undefined for those, which the types refused.
export const delegating = new Batcher<string, string>({
  retry: {
    classify: (err) => {
      if ((err as { code?: unknown }).code === "E_TIMEOUT") return "fail";
      return undefined; // the default rule
    },
  },
  transport: async (batch) => batch.items,
});
