#!/usr/bin/env bash
# Manages the worker that the PHP, SDK-browser, demo-page and benchmark-smoke suites share:
#   scripts/shared-worker.sh start|restart|stop
# on port $EDGEPUSH_SHARED_PORT (default 8790) with storage in target/e2e/shared. `restart` keeps
# the storage (a real process restart, as after a redeploy). It starts and awaits the worker the
# way the Rust suites do, with the test kit's edgepush-worker (tests/src/bin/edgepush-worker.rs):
# `start` and `restart` return once /health answers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
port=${EDGEPUSH_SHARED_PORT:-8790}
dir="$root/target/e2e"
store="$dir/shared" pidfile="$dir/shared.pid" logfile="$dir/shared.log"
mkdir -p "$dir"
kit() { cargo run -q --manifest-path "$root/Cargo.toml" -p edgepush-e2e --bin edgepush-worker -- "$@"; }

stop() {
  if [ -s "$pidfile" ]; then kit down "$(cat "$pidfile")"; fi; rm -f "$pidfile"
}

# Webhooks of the `hooks` namespaces go to the PHP integration suite's receiver
# (php/tests/Integration/WebhookTest.php), which listens on EDGEPUSH_WEBHOOK_PORT while it runs;
# meanwhile nothing listens there, and deliveries fail and are retried, then dropped.
hooks="WEBHOOK_URL:http://127.0.0.1:${EDGEPUSH_WEBHOOK_PORT:-8791}/edgepush/webhook?app=php-it"

case "${1:-}" in
  start) stop; rm -rf "$store"; : > "$logfile"; kit up "$port" "$store" "$logfile" --var "$hooks" > "$pidfile" ;;
  restart) stop; kit up "$port" "$store" "$logfile" --var "$hooks" > "$pidfile" ;;
  stop) stop ;;
  *) echo "usage: $0 start|restart|stop" >&2; exit 2 ;;
esac
