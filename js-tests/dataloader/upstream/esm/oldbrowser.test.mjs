// Vendored from graphql/dataloader v2.2.3 (5e851ce7d3ad4e4473fb4782ebfecb6b1290bd81), src/__tests__/oldbrowser.test.js,
// Flow types stripped by js-tests/dataloader/vendor.mjs. Do not edit: re-run vendor.mjs.
/**
 * Copyright (c) 2019-present, GraphQL Foundation
 *
 * This source code is licensed under the MIT license found in the
 * LICENSE file in the root directory of this source tree.
 *
 * 
 */

// Mock out process.nextTick and setImmediate as not existing for this test
// before requiring.
process.nextTick = (null);
global.setImmediate = (null);
const { default: DataLoader } = await import('..');

describe('Old browser support', () => {
  it('batches multiple requests without setImmediate', async () => {
    const loadCalls = [];
    const identityLoader = new DataLoader(async keys => {
      loadCalls.push(keys);
      return keys;
    });

    const promise1 = identityLoader.load(1);
    const promise2 = identityLoader.load(2);

    const [value1, value2] = await Promise.all([promise1, promise2]);
    expect(value1).toBe(1);
    expect(value2).toBe(2);

    expect(loadCalls).toEqual([[1, 2]]);
  });
});
