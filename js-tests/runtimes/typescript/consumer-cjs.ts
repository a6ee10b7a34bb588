// A CommonJS consumer (its package.json has no "type": "module"), as `require` users write it:
// `import X = require(…)` for what require() returns. require("hyperbatch/dataloader") returns the
// class itself, like require("dataloader") (whose types say `export =`), with `default` and
// `DataLoader` statics; require("hyperbatch") and require("hyperbatch/timeline") their named exports.
import { Batcher, type HyperbatchError, type Stats } from "hyperbatch";
import DataLoader = require("hyperbatch/dataloader");
import { Timeline } from "hyperbatch/timeline";
import { Batcher as SlimBatcher, init, type WasmSource } from "hyperbatch/slim";

const b = new Batcher<string, number>({ transport: async (batch) => batch.items.map((s) => s.length) });
export const n: Promise<number> = b.add("abc");
export const s: Stats = b.stats();
export const code = (e: unknown): string | undefined => (e as HyperbatchError).code;

const loader = new DataLoader<string, number>(async (keys) => keys.map((k) => k.length), { maxWaitMs: 5 });
export const v: Promise<number> = loader.load("a");
export const viaDefault: typeof DataLoader = DataLoader.default;
export const viaNamed = new DataLoader.DataLoader<number, number>(async (keys) => [...keys]);
export const options: DataLoader.Options<string, number> = { cache: false };

const timeline = new Timeline({ limit: 10 });
export const recorded = new Batcher<number, number>({ ...timeline.hooks(), transport: (batch) => batch.items });

// hyperbatch/slim from CommonJS: require("hyperbatch/slim") works in Node 20.19+ (require of ESM),
// and its types have a .d.cts twin like the others (audit16b: TS1479 under Node16 before).
export const load: (source: WasmSource) => Promise<void> = init;
export const slim = new SlimBatcher<string, number>({ transport: async (batch) => batch.items.map((s) => s.length) });
