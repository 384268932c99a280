# Sourced by the other scripts: where the pinned tools live, and the settings they share.
# shellcheck shell=bash
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.tools/bin:$root/node_modules/.bin:$PATH"
export WASM_BINDGEN_BIN="$root/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
export WRANGLER_SEND_METRICS=false
# Where cargo puts its builds (CARGO_TARGET_DIR, build.target-dir, else target/).
cargo_target_dir() {
  cargo metadata --format-version 1 --no-deps |
    node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0)).target_directory)'
}
# Debian's chromedriver unless set (elsewhere: where yours is; scripts/setup.sh says so).
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

# Fixed secrets for tests only (never for a deployment): the test suites of every language read
# these, so a worker started with them accepts their tokens and signatures.
export EDGEPUSH_TEST_JWT_SECRET="edgepush-test-jwt-secret-0123456789abcdef"
export EDGEPUSH_TEST_KEY_ID="test"
export EDGEPUSH_TEST_PUBLISH_SECRET="edgepush-test-publish-secret-0123456789"
export EDGEPUSH_TEST_ROTATED_KEY_ID="rotated"
export EDGEPUSH_TEST_ROTATED_SECRET="edgepush-rotated-publish-secret-9876543210"
# The topic namespaces every test worker declares (docs/topics.md): `product` and `feed` public,
# `orders` for user topics (`orders:#42`), `private` only by grant or subscription token,
# `crowd` public with 4 shards (topic sockets: `/connect?topic=crowd:…`) and a viewer count, `live`
# public with presence and a viewer count.
export EDGEPUSH_TEST_TOPIC_NAMESPACES='{"product":{"public":true},"feed":{"public":true},"orders":{},"private":{},"crowd":{"public":true,"shards":4,"occupancy_ms":300},"live":{"public":true,"presence":true,"occupancy_ms":200},"hooks":{"public":true,"webhooks":true},"hookstage":{"public":true,"shards":2,"webhooks":true}}'
# The Mercure hub's key for test workers (publishers and subscribers alike, as a Symfony app's
# MERCURE_JWT_SECRET usually is).
export EDGEPUSH_TEST_MERCURE_JWT_SECRET="edgepush-test-mercure-secret-0123456789abcdef"
