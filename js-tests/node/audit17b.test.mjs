// The seventeenth audit's second round (aud17b), for hyperbatch/timeline: hook infos carrying
// hostile values. (hyperbatch/dataloader's findings are in js-tests/dataloader/audit17.test.mjs.)
import assert from "node:assert/strict";
import { test } from "node:test";
import { Timeline } from "hyperbatch/timeline";

test("timeline: a key String() cannot convert (TimelineHookInfo.key is `unknown`) is drawn as its type; svg() keeps working", () => {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const hostile = [Object.create(null), { toString() { throw new Error("no text"); } }, revoked.proxy];
  let clock = 0;
  const rec = new Timeline({ now: () => (clock += 5) });
  const hooks = rec.hooks("users");
  const call = (id, key) => {
    const info = { id, key, size: 1, attempt: 1, items: [id] };
    hooks.onBatchStart(info);
    hooks.onBatchEnd({ ...info, durationMs: 5, succeeded: 1, failed: 0, results: [id] });
  };
  call(1, "plain");
  hostile.forEach((key, i) => call(2 + i, key));
  const svg = rec.svg();
  assert.match(svg, /^<svg[\s\S]*<\/svg>$/);
  assert.match(svg, /data-key="plain"/);
  assert.equal((svg.match(/<rect class="call" [^>]*data-key="\[object\]"/g) ?? []).length, 3, "each hostile key's call is drawn");
  assert.match(rec.html(), /<svg/);
  assert.equal(rec.calls().length, 4);
});
