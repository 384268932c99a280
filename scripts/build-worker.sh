#!/usr/bin/env bash
# Builds the worker (server/) into server/build with worker-build, using the pinned local
# wasm-bindgen, wasm-opt and esbuild (worker-build would otherwise download them), and puts the
# entry module (server/entry.js, wrangler.toml's `main`) beside its output.
# wrangler runs this as its [build] command; EDGEPUSH_SKIP_BUILD=1 skips it when a test suite has
# built once already and starts many servers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ "${EDGEPUSH_SKIP_BUILD:-}" = 1 ] && [ -f "$root/server/build/entry.js" ]; then
  exit 0
fi
cd "$root/server"
worker-build --release
# The entry module (wrangler.toml's `main`): makes the Durable Objects callable over Workers RPC.
cp entry.js build/entry.js
