#!/usr/bin/env bash
# Runs the already-built worker under `wrangler dev` with the fixed test secrets:
#   scripts/worker-under-test.sh PORT PERSIST_DIR [extra wrangler args...]
# Every test suite (Rust, PHP, browser, bench) starts its server through this script, each on its
# own port and storage folder. It runs in the foreground; stop it with SIGTERM (or SIGKILL to test
# crash recovery). Ready when `GET http://127.0.0.1:PORT/health` answers 200.
set -euo pipefail
source "$(dirname "$0")/env.sh"
port=${1:?usage: worker-under-test.sh PORT PERSIST_DIR}
persist=${2:?usage: worker-under-test.sh PORT PERSIST_DIR}
shift 2
cd "$root"
export EDGEPUSH_SKIP_BUILD=1
# wrangler's local dashboards (the observability collector, fed by a streaming tail of every
# invocation, and the Durable Object explorer, which wraps every Durable Object class) are dev
# conveniences no test reads; they cost the worker's workerd several times the worker's own CPU
# per publish (bench/README.md). scripts/dev.sh keeps them.
export X_LOCAL_OBSERVABILITY=false X_LOCAL_EXPLORER=false
exec wrangler dev --config "$root/wrangler.toml" --ip 127.0.0.1 --port "$port" \
  --persist-to "$persist" --inspector-port 0 --show-interactive-dev-session=false --log-level warn \
  --var "JWT_SECRET:$EDGEPUSH_TEST_JWT_SECRET" \
  --var "PUBLISH_KEYS:$EDGEPUSH_TEST_KEY_ID:$EDGEPUSH_TEST_PUBLISH_SECRET,$EDGEPUSH_TEST_ROTATED_KEY_ID:$EDGEPUSH_TEST_ROTATED_SECRET" \
  --var "TOPIC_NAMESPACES:$EDGEPUSH_TEST_TOPIC_NAMESPACES" \
  --var "MERCURE_PUBLISHER_JWT_KEY:$EDGEPUSH_TEST_MERCURE_JWT_SECRET" \
  --var "MERCURE_HEARTBEAT_SECONDS:2" \
  --var "MERCURE_JWT_ALGORITHMS:HS256,HS512" \
  "$@"
