#!/usr/bin/env bash
# README command 2: runs every test, on a fresh machine or a prepared one.
#  1. setup (Debian packages, wasm target, pinned cargo tools, npm ci)
#  2. format and lints (host and wasm32), native unit tests of every crate
#  3. builds the worker and the SDK package, and type-checks the package's declarations
#  4. end-to-end tests against the worker under `wrangler dev`: Rust clients, PHP, the SDK in
#     headless Chromium (also its npm tarball installed in a Vite app, built and opened, and its
#     React hooks and Stimulus controller in apps), the demo page and the Mercure hub's
#     EventSource in headless Chromium, and a smoke run of the benchmarks.
# Every step runs; the summary at the end lists each step's outcome, and the exit code is non-zero
# if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }
source scripts/env.sh
# A full run builds everything once: incremental caches would only fill the disk.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

passed=0 failed=0 results=()
step() { # name command...
  local name=$1; shift
  printf '\n\033[1;34m==> %s\033[0m\n' "$name"
  local started=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); results+=("ok    $name ($((SECONDS - started)) s)")
  else
    failed=$((failed + 1)); results+=("FAIL  $name ($((SECONDS - started)) s)")
  fi
}

wasm_crates=(-p edgepush-server -p edgepush-client)
step "cargo fmt --check" cargo fmt --all -- --check
step "clippy (host)" cargo clippy --quiet --workspace --all-targets -- -D warnings
step "clippy (wasm32)" cargo clippy --quiet "${wasm_crates[@]}" --target wasm32-unknown-unknown -- -D warnings
# The SDK's optional gloo-net token helper and its browser tests, which the line above leaves out.
step "clippy (wasm32, SDK with gloo-net, tests)" cargo clippy --quiet -p edgepush-client --target wasm32-unknown-unknown --features gloo-net --all-targets -- -D warnings
step "unit tests (native)" cargo test --quiet --workspace --exclude edgepush-e2e
step "SDK JS face: driver and handlers over a fake core and fake browser objects, code table in the JS sources" node --test client-sdk/tests/js/client.test.mjs client-sdk/tests/js/codes.test.mjs
step "JS test kit against the test vectors" node --test tests/js/testkit.test.mjs
step "npm lock file on macOS and Linux, arm64 and x64 (npm ci --dry-run)" node --test tests/js/npm-platforms.test.mjs
step "build worker" bash scripts/build-worker.sh
step "build SDK package" bash scripts/build-sdk.sh
step "SDK TypeScript declarations (tsc)" tsc -p client-sdk/tests/ts
step "build demo page" bash www/build.sh
step "build CLI" cargo build --quiet --release -p edgepush-cli
step "end-to-end (Rust clients)" cargo test --quiet -p edgepush-e2e --test e2e

# One shared worker for the suites in other languages (scripts/shared-worker.sh), on
# EDGEPUSH_SHARED_PORT, and the port of the webhook receiver the PHP integration suite runs (the
# shared worker posts there), EDGEPUSH_WEBHOOK_PORT: free ports unless set, so that runs of other
# checkouts on this machine do not meet. A start refused (a port taken) or failed fails the run.
free_port() { node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'; }
export EDGEPUSH_SHARED_PORT=${EDGEPUSH_SHARED_PORT:-$(free_port)}
if [ -z "${EDGEPUSH_WEBHOOK_PORT:-}" ]; then
  EDGEPUSH_WEBHOOK_PORT=$(free_port)
  while [ "$EDGEPUSH_WEBHOOK_PORT" = "$EDGEPUSH_SHARED_PORT" ]; do EDGEPUSH_WEBHOOK_PORT=$(free_port); done
fi
export EDGEPUSH_WEBHOOK_PORT
trap 'bash scripts/shared-worker.sh stop' EXIT
step "start the shared worker (port $EDGEPUSH_SHARED_PORT)" bash scripts/shared-worker.sh start
export EDGEPUSH_URL="http://127.0.0.1:$EDGEPUSH_SHARED_PORT"
export EDGEPUSH_TEST_URL=$EDGEPUSH_URL
export EDGEPUSH_RESTART_CMD="bash scripts/shared-worker.sh restart"

step "PHP unit and kernel tests" phpunit -c php/phpunit.xml.dist --testsuite unit,kernel
step "PHP integration tests" phpunit -c php/phpunit.xml.dist --testsuite integration
step "SDK in headless Chromium" bash scripts/test-sdk-browser.sh
step "SDK npm tarball in a Vite app, /sdk/ over CORS (headless Chromium)" node --test client-sdk/tests/js/bundler.test.mjs
step "SDK React hooks and Stimulus controller (Symfony app) in Vite apps (headless Chromium)" node --test client-sdk/tests/js/frameworks.test.mjs
step "demo page in headless Chromium" node --test www/tests/demo.test.mjs
step "scripts: setup's Debian packages, the worker build's skip, the shared worker's port, www/demo-env.sh in bash and zsh" node --test scripts/tests/scripts.test.mjs www/tests/demo-env.test.mjs
step "Mercure in headless Chromium" node --test tests/js/mercure.test.mjs tests/js/mercure-app.test.mjs
[ -f bench/Cargo.toml ] && step "benchmark smoke run" bash scripts/bench.sh --smoke

printf '\n\033[1mSummary\033[0m\n'
printf '  %s\n' "${results[@]}"
echo "steps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
