// A typed hyperbatch example: `Batcher<I, O>` carries the item type I into add() and the
// transport's batch.items, and the result type O out of add(), addMany() and the transport's
// answer. `tsc --noEmit` checks it; the `@ts-expect-error` lines are misuses the types must
// reject (if the types stopped being generic, those lines would no longer be errors and tsc
// would fail on the unused directives).
import { Batcher, type Batch, type BatchEndInfo, type BatchInfo, type HyperbatchError, type Settled, type Stats } from "hyperbatch";

export interface User {
  id: number;
  name: string;
}

// I = number (user ids), O = User.
export const users = new Batcher<number, User>({
  maxBatchSize: 50,
  maxWaitMs: 5,
  timeoutMs: 2000,
  retry: { maxAttempts: 3, jitter: "full", classify: (err) => ((err as { status?: number }).status === 404 ? "fail" : "retry") },
  transport: async (batch: Batch<number>) => {
    const ids: number[] = batch.items;
    // one entry per item, in order; an Error fails that item alone
    return ids.map((id): User | Error => (id < 0 ? new Error(`no user ${id}`) : { id, name: `user ${id}` }));
  },
  // Hooks carry the batch: info.items are the call's items (I), info.results the transport's answer (O | Error).
  onBatchStart: (info: BatchInfo<number>) => {
    const ids: readonly number[] = info.items;
    // @ts-expect-error: a Batcher<number, User> hook's items are numbers, not strings
    const names: readonly string[] = info.items;
    console.debug(`batch ${info.id}: ${ids.length} ids`, names);
  },
  onBatchEnd: (info: BatchEndInfo<number, User>) => {
    if (info.error !== undefined) console.warn(`batch ${info.id} failed`, info.error);
    const failed = info.items.filter((_, i) => info.results?.[i] instanceof Error);
    const found: (User | Error)[] = info.results ? [...info.results] : [];
    console.debug(`batch ${info.id}: failed ids ${failed.join(",")}`, found.length);
  },
});

export async function demo(): Promise<void> {
  const alice: User = await users.add(1);
  const many: Settled<User>[] = await users.addMany([2, 3, -4]);
  for (const r of many) {
    if (r.status === "fulfilled") console.log(r.value.name);
    else console.log("failed:", (r.reason as Error).message);
  }
  try {
    await users.add(5, { signal: AbortSignal.timeout(1), deadline: Date.now() + 1000, key: "eu" });
  } catch (e) {
    const err = e as HyperbatchError;
    if (err.code === "E_ABORTED" || err.code === "E_DEADLINE") console.log("gave up:", err.code);
  }
  const stats: Stats = users.stats();
  console.log(alice.name, stats.batches);

  // Inference: the item and result types come from the transport.
  {
    await using lengths = new Batcher({ transport: async (batch: Batch<string>) => batch.items.map((s) => s.length) });
    const n: number = await lengths.add("hello");
    console.log(n);
    // @ts-expect-error: a number is not an item of a Batcher inferred as Batcher<string, number>
    await lengths.add(42);
  }

  // @ts-expect-error: a string is not an item of Batcher<number, User>
  await users.add("42");

  // @ts-expect-error: add() resolves to a User, not a string
  const wrong: string = await users.add(6);
  console.log(wrong);

  new Batcher<number, User>({
    // @ts-expect-error: the transport must answer User | Error per item, not numbers
    transport: async (batch) => batch.items.map((id) => id * 2),
  });

  new Batcher<number, User>({
    transport: async (batch) => batch.items.map((id) => ({ id, name: String(id) })),
    // @ts-expect-error: an option that does not exist
    maxBatchSise: 10,
  });

  new Batcher<number, User>({
    transport: async (batch) => batch.items.map((id) => ({ id, name: String(id) })),
    // @ts-expect-error: errorMode is one of "partial" | "fail_fast" | "atomic"
    errorMode: "all_or_nothing",
  });
}
