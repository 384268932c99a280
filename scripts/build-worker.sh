#!/usr/bin/env bash
# Builds the worker (server/) into server/build with worker-build, using the pinned local
# wasm-bindgen, wasm-opt and esbuild (worker-build would otherwise download them).
# wrangler runs this as its [build] command; EDGEPUSH_SKIP_BUILD=1 skips it when a test suite has
# built once already and starts many servers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if [ "${EDGEPUSH_SKIP_BUILD:-}" = 1 ] && [ -f "$root/server/build/index.js" ]; then
  exit 0
fi
cd "$root/server"
worker-build --release
