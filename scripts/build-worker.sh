#!/usr/bin/env bash
# Builds the worker (server/) into server/build with worker-build, using the pinned local
# wasm-bindgen, wasm-opt and esbuild (worker-build would otherwise download them), and puts the
# entry module (server/entry.js, wrangler.toml's `main`) beside its output.
# wrangler runs this as its [build] command, at start and on every change under its watch_dir:
#   EDGEPUSH_SKIP_BUILD=1          skips it whenever a build exists (a test suite has built once
#                                  already and starts many servers);
#   EDGEPUSH_SKIP_BUILD=unchanged  skips it only while the build is newer than every source it is
#                                  made of (scripts/dev.sh: its own build just ran, so wrangler's
#                                  first one is skipped, and an edit under server/ or protocol/
#                                  while it runs is built).
set -euo pipefail
source "$(dirname "$0")/env.sh"
built="$root/server/build/entry.js"
case "${EDGEPUSH_SKIP_BUILD:-}" in
  1) [ -f "$built" ] && exit 0 ;;
  unchanged)
    # entry.js has the time the last build started (below): a source newer than it changed since.
    if [ -f "$built" ] && [ -z "$(cd "$root" && find server protocol Cargo.toml Cargo.lock \
        -path server/build -prune -o -type f -newer "$built" -print 2>/dev/null | head -n 1)" ]; then
      exit 0
    fi ;;
esac
cd "$root/server"
# When the build starts: entry.js gets this time at the end, so that a source saved while it ran
# counts as newer than the build (EDGEPUSH_SKIP_BUILD=unchanged).
started=$(mktemp)
trap 'rm -f "$started"' EXIT
worker-build --release
# The entry module (wrangler.toml's `main`): makes the Durable Objects callable over Workers RPC.
cp entry.js build/entry.js
touch -r "$started" build/entry.js
