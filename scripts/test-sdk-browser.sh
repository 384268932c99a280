#!/usr/bin/env bash
# Runs the browser SDK's tests in headless Chromium against a running worker:
#   EDGEPUSH_TEST_URL=http://127.0.0.1:8790 scripts/test-sdk-browser.sh [cargo test args...]
# 1. client-sdk/tests/browser.rs (the Rust API with its gloo-net token helper, wasm-bindgen-test +
#    chromedriver);
# 2. client-sdk/tests/js/package.test.mjs (the built ES module package, from a plain page).
# The worker must run with the test secrets of scripts/env.sh (scripts/worker-under-test.sh or
# scripts/shared-worker.sh start). With EDGEPUSH_RESTART_CMD set, the JS test also restarts it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"
: "${EDGEPUSH_TEST_URL:?set EDGEPUSH_TEST_URL to the URL of a running worker (scripts/worker-under-test.sh)}"
export EDGEPUSH_TEST_URL=${EDGEPUSH_TEST_URL%/}
curl -sf "$EDGEPUSH_TEST_URL/health" >/dev/null || { echo "no worker answers $EDGEPUSH_TEST_URL/health" >&2; exit 1; }

# wasm-bindgen-test-runner drives Chromium through chromedriver; the Chromium flags (headless, no
# sandbox as root, no background networking) are in client-sdk/webdriver.json.
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$root/.tools/bin/wasm-bindgen-test-runner"
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
export WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-300}
# `gloo-net`: also the token helper (`edgepush_client::token`), which is off by default.
cargo test -p edgepush-client --target wasm32-unknown-unknown --features gloo-net --test browser "$@"

# The JS face, as an app loads it: the package from scripts/build-sdk.sh.
[ -f client-sdk/pkg/edgepush_client.js ] || bash scripts/build-sdk.sh
node --test client-sdk/tests/js/package.test.mjs
