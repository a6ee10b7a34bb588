// Vendored from graphql/dataloader v2.2.3 (5e851ce7d3ad4e4473fb4782ebfecb6b1290bd81), src/__tests__/unhandled.test.js,
// Flow types stripped by js-tests/dataloader/vendor.mjs. Do not edit: re-run vendor.mjs.
/**
 * Copyright (c) 2019-present, GraphQL Foundation
 *
 * This source code is licensed under the MIT license found in the
 * LICENSE file in the root directory of this source tree.
 *
 * 
 */

import DataLoader from '..';

describe('Unhandled rejections', () => {
  it('Not catching a primed error is an unhandled rejection', async () => {
    let hadUnhandledRejection = false;
    // Override Jest's unhandled detection
    global.jasmine.process.removeAllListeners('unhandledRejection');
    global.jasmine.process.on('unhandledRejection', () => {
      hadUnhandledRejection = true;
    });

    const identityLoader = new DataLoader(async keys => keys);

    identityLoader.prime(1, new Error('Error: 1'));

    // Ignore result.
    identityLoader.load(1);

    await new Promise(resolve => setTimeout(resolve, 10));
    expect(hadUnhandledRejection).toBe(true);
  });
});
