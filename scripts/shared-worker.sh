#!/usr/bin/env bash
# Manages the worker that the PHP, SDK-browser, demo-page and benchmark-smoke suites share:
#   scripts/shared-worker.sh start|restart|stop
# on port $EDGEPUSH_SHARED_PORT (default 8790) with storage in target/e2e/shared. `restart` keeps
# the storage (a real process restart, as after a redeploy); it returns once /health answers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
port=${EDGEPUSH_SHARED_PORT:-8790}
dir="$root/target/e2e"
store="$dir/shared" pidfile="$dir/shared.pid" logfile="$dir/shared.log"
mkdir -p "$dir"

stop() {
  if [ -f "$pidfile" ]; then
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 -- "-$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

start() {
  setsid bash "$root/scripts/worker-under-test.sh" "$port" "$store" >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  for _ in $(seq 1 450); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.2
  done
  echo "the shared worker did not answer /health within 90 s; see $logfile" >&2
  return 1
}

case "${1:-}" in
  start) stop; rm -rf "$store"; : > "$logfile"; start ;;
  restart) stop; start ;;
  stop) stop ;;
  *) echo "usage: $0 start|restart|stop" >&2; exit 2 ;;
esac
