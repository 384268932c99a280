#!/usr/bin/env bash
# Benchmarks edgepush beside Pushpin (bench/README.md says what each scenario measures).
#   scripts/bench.sh           full run (~15 min): bench/results/<date>.md + latest.md + SVG charts
#   scripts/bench.sh --smoke   a tiny run of every scenario (~1 min); exits non-zero if any
#                              scenario delivers nothing, loses events or fails. scripts/test.sh
#                              runs it.
# Further arguments go to `edgepush-bench run`, e.g. `--only latency,fanout` (or `--only hostile`:
# one token holder flooding, before and after the limits) or `--many-users-sockets 5000`. A full
# run builds the worker (if a source changed) and the SDK package first, a smoke run only what is
# missing; edgepush-bench starts edgepush (wrangler dev) and
# Pushpin (+ zurl) on free loopback ports with private folders under target/bench, and this script
# stops every process group it started, even on failure.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"

smoke=()
if [ "${1:-}" = "--smoke" ]; then smoke=(--smoke); shift; fi

for tool in pushpin condure zurl wrangler; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
done
if [ ${#smoke[@]} -gt 0 ]; then
  # scripts/test.sh has built both already.
  [ -f server/build/entry.js ] || bash scripts/build-worker.sh
else
  # A full run measures the tree as it is: the worker rebuilt if a source changed since its
  # build, and the SDK package whose size it reports (a package left from an older build was
  # reported as it was).
  EDGEPUSH_SKIP_BUILD=unchanged bash scripts/build-worker.sh
  bash scripts/build-sdk.sh >/dev/null
fi
export EDGEPUSH_SKIP_BUILD=1

# 10,000 client sockets in one process, and as many server-side ones in another.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
if [ "$hard" -lt 20000 ]; then
  echo "bench: only $hard file descriptors allowed; many-users may not reach 10,000 sockets" >&2
fi

if [ ${#smoke[@]} -gt 0 ]; then
  # The smoke run shares the debug build (and its dependencies) with the other tests.
  cargo build --quiet -p edgepush-bench
  bin=target/debug/edgepush-bench
  limit=300
else
  # The workspace's release profile is tuned for wasm size (opt-level z, fat LTO); the client
  # must not be the bottleneck, so build it at opt-level 3 in a target folder of its own.
  CARGO_TARGET_DIR=target/bench-build CARGO_PROFILE_RELEASE_OPT_LEVEL=3 \
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo build --quiet --release -p edgepush-bench
  bin=target/bench-build/release/edgepush-bench
  limit=3600
fi

mkdir -p target/bench
groups=target/bench/process-groups
: >"$groups"
cleanup() {
  local g
  while read -r g; do [ -n "$g" ] && kill -TERM -- "-$g" 2>/dev/null || true; done <"$groups"
  sleep 1
  while read -r g; do [ -n "$g" ] && kill -KILL -- "-$g" 2>/dev/null || true; done <"$groups"
  : >"$groups"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# With BENCH_PIN=1 the servers (every process of both systems) run on the first half of the CPUs
# and the benchmark's clients and publisher on the other half, so that a tail measures the server
# rather than the fight for the cores. A full run on 4 CPUs or more pins by default; on 2 CPUs it
# does not (BENCH_PIN=1 forces it), since one core per side saturates Pushpin's pipeline of
# processes and wrangler's proxy before it measures a tail (bench/README.md, "Pinning").
cpus=$(nproc --all)
half=$((cpus / 2))
pin=()
default_pin=0
[ ${#smoke[@]} -eq 0 ] && [ "$cpus" -ge 4 ] && default_pin=1
if [ "${BENCH_PIN:-$default_pin}" = 1 ] && [ "$cpus" -ge 2 ]; then
  pin=(taskset -c "$half-$((cpus - 1))")
  set -- --server-cpus "0-$((half - 1))" "$@"
fi

timeout --signal=TERM --kill-after=20 "$limit" \
  "${pin[@]}" "$bin" run "${smoke[@]}" --pgid-file "$groups" --stamp "$(date -u +%Y-%m-%d-%H%M)" "$@"
