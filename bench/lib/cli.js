// The Node and Deno driver: runs the suite and prints its results as one JSON line on stdout
// (progress on stderr). Config comes from the BENCH_CONFIG environment variable (JSON, from run.mjs).
import { main } from "./host.js";

const runtime = globalThis.Deno
  ? `deno ${Deno.version.deno}`
  : `node ${process.versions.node}`;
const out = await main(JSON.parse(process.env.BENCH_CONFIG), { runtime, gc: globalThis.gc, log: (s) => console.error(s) });
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
