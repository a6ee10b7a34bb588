#!/usr/bin/env bash
# The built package (pkg/) in every runtime the contract names, each with its real runner:
#   node-esm, node-cjs, node-cjs-twin (node --test) · deno, deno-slim (deno test) · bun (bun test) ·
#   workerd via Miniflare's API and via `wrangler dev --local` · headless Chromium on a plain
#   module page, with hyperbatch/slim, in a module Worker, on a Vite build, and on examples/browser
#   (all under a strict CSP) · TypeScript (examples/typescript + the shipped .d.ts) · examples/deno.
# Every contract suite runs js-tests/runtimes/contract.js.
#
# Usage: bash scripts/test-runtimes.sh            (after `node scripts/build.mjs`)
#        RUNTIMES="deno bun" bash scripts/test-runtimes.sh   runs only those (names as above)
# Installs what it needs through scripts/install.sh (skipping what is there): Debian's chromium,
# npm packages in js-tests/runtimes and in the examples. Ends with one line
# `N passed, N failed` and exits non-zero on any failure.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rt="$root/js-tests/runtimes"
logs="$rt/dist/logs"
export NO_COLOR=1 WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

t_start=$SECONDS
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

if [ ! -f "$root/pkg/hyperbatch_bg.wasm" ] || [ ! -f "$root/pkg/package.json" ]; then
  echo "pkg/ is not built: run \`node scripts/build.mjs\` first"
  echo "0 passed, 1 failed"
  exit 1
fi

# ------------------------------------------------------------------------------------ install

# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh" # npm_install

install_failed=0
step() { # step NAME COMMAND...: runs an install step, timed, its output in the logs
  local name="$1"; shift
  local t0; t0=$(now)
  if "$@" >"$logs/install-$name.log" 2>&1; then
    echo "install $name: ok ($(elapsed "$t0"))"
  else
    echo "install $name: FAILED ($(elapsed "$t0")); log: $logs/install-$name.log"
    tail -20 "$logs/install-$name.log" | sed 's/^/    /'
    install_failed=1
  fi
}
mkdir -p "$logs"

step browser bash "$root/scripts/install.sh" browser
step js-tests-runtimes npm_install "$rt"
step example-cloudflare-worker npm_install "$root/examples/cloudflare-worker"
step example-typescript npm_install "$root/examples/typescript"
step example-browser npm_install "$root/examples/browser"
# examples/deno copies the package (install-links): drop the copy so that a rebuilt pkg/ is taken.
rm -rf "$root/examples/deno/node_modules/hyperbatch"
step example-deno npm_install "$root/examples/deno"

# ---------------------------------------------------------------------------------------- run

bin="$rt/node_modules/.bin"
wasm="$(cd "$rt/node_modules/hyperbatch" 2>/dev/null && pwd -P)/hyperbatch_bg.wasm"
total_pass=0
total_fail=0

# run_suite NAME FORMAT COMMAND...: FORMAT is how its runner reports counts (node | deno | bun).
run_suite() {
  local name="$1" format="$2"; shift 2
  if [ -n "${RUNTIMES:-}" ] && [[ " $RUNTIMES " != *" $name "* ]]; then return; fi
  local log="$logs/$name.log" t0 code pass fail runtime limit
  # Each suite gets at most 180 s, and all of them together about 12 minutes: a batcher that
  # hangs fails its checks by their own timeouts (10 s each) without stalling the whole run.
  limit=$(( RUN_BUDGET - (SECONDS - t_runs) ))
  [ "$limit" -gt 180 ] && limit=180
  if [ "$limit" -lt 20 ]; then
    echo "$(printf '%-18s' "[$name]")   not run: the time budget is spent"
    total_fail=$((total_fail + 1))
    return
  fi
  t0=$(now)
  (cd "$rt" && timeout -k 10 "$limit" "$@") >"$log" 2>&1
  code=$?
  sed -i 's/\x1b\[[0-9;]*m//g' "$log" # colour codes, from runners that ignore NO_COLOR
  case "$format" in
    node) pass=$(grep -E '^# pass [0-9]+' "$log" | tail -1 | awk '{print $3}')
          fail=$(grep -E '^# fail [0-9]+' "$log" | tail -1 | awk '{print $3}')
          local cancelled; cancelled=$(grep -E '^# cancelled [0-9]+' "$log" | tail -1 | awk '{print $3}')
          fail=$(( ${fail:-0} + ${cancelled:-0} )) ;; # node:test counts timed-out tests as cancelled
    deno) local line; line=$(grep -E '^(ok|FAILED) \| [0-9]+ passed' "$log" | tail -1)
          pass=$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$line")
          fail=$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line") ;;
    bun)  pass=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | awk '{print $1}')
          fail=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | awk '{print $1}') ;;
  esac
  pass=${pass:-0}
  fail=${fail:-0}
  if [ "$code" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi # crashed, timed out or counted nothing
  if [ "$pass" -eq 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  runtime=$(grep -m1 -oE 'runtime: .*' "$log" | sed -E 's/^runtime: //; s/[[:space:]]+$//')
  total_pass=$((total_pass + pass))
  total_fail=$((total_fail + fail))
  local line; line=$(printf '%-18s %3d pass %3d fail  %8s  %s' "[$name]" "$pass" "$fail" "$(elapsed "$t0")" "$runtime")
  echo "$line"
  if [ "$fail" -ne 0 ]; then
    echo "    exit code $code; log: $log"
    grep -E '^not ok|^ *(✖|FAILED|error:|\(fail\))|AssertionError|Error:' "$log" | head -30 | sed 's/^/    /'
  fi
}

echo
echo "runtimes (pkg: $root/pkg)"
RUN_BUDGET=${RUN_BUDGET:-720}
t_runs=$SECONDS
run_suite node-esm        node node --test --test-reporter=tap node/contract.test.mjs
run_suite node-cjs        node node --test --test-reporter=tap node/contract.test.cjs
# Node without require(esm) (before 20.19 / 22.12): `require` takes the CommonJS twins (index.cjs,
# dataloader.cjs), which Node from 20.19 no longer picks by default.
run_suite node-cjs-twin   node node --no-experimental-require-module --test --test-reporter=tap node/contract.test.cjs
# Deno with no permission at all: index.deno.js imports the .wasm as a module (wasm.deno.js);
# hyperbatch/slim's test reads the .wasm itself, so it gets read access to that file only.
run_suite deno            deno "$bin/deno" test --no-remote --no-check deno/contract.test.js
run_suite deno-slim       deno "$bin/deno" test --no-remote --no-check --allow-read="$wasm" deno/slim.test.js
run_suite deno-example    node node --test --test-reporter=tap deno/example.test.mjs
run_suite bun             bun  "$bin/bun" test ./bun/contract.test.js
run_suite workerd         node node --test --test-reporter=tap workerd/miniflare.test.mjs
run_suite wrangler        node node --test --test-reporter=tap workerd/wrangler.test.mjs
run_suite workerd-http    node node --test --test-reporter=tap workerd/integration.test.mjs
run_suite chromium-plain  node env HYPERBATCH_PAGES=plain node --test --test-reporter=tap browser/chromium.test.mjs
run_suite chromium-slim   node env HYPERBATCH_PAGES=slim node --test --test-reporter=tap browser/chromium.test.mjs
run_suite chromium-worker node env HYPERBATCH_PAGES=worker node --test --test-reporter=tap browser/chromium.test.mjs
run_suite chromium-vite   node env HYPERBATCH_PAGES=vite node --test --test-reporter=tap browser/chromium.test.mjs
run_suite chromium-example node env HYPERBATCH_PAGES=example node --test --test-reporter=tap browser/chromium.test.mjs
run_suite chromium-http   node node --test --test-reporter=tap browser/integration.test.mjs
run_suite chromium-timeline node node --test --test-reporter=tap browser/timeline.test.mjs
run_suite chromium-hide   node node --test --test-reporter=tap browser/flush-on-hide.test.mjs
run_suite typescript      node node --test --test-reporter=tap typescript/tsc.test.mjs

if [ "$install_failed" -ne 0 ]; then
  echo "an install step failed (see above)"
  total_fail=$((total_fail + 1))
fi
echo
echo "total time $((SECONDS - t_start)) s; logs in $logs"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
