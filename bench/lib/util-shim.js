// promise-batcher imports Node's `util` only for `debuglog` (off unless NODE_DEBUG names it): the
// bundle gets this no-op instead, so it runs in browsers and Deno too.
export default { debuglog: () => () => {} };
