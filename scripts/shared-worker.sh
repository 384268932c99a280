#!/usr/bin/env bash
# Manages the worker that the PHP, SDK-browser, demo-page and benchmark-smoke suites share:
#   scripts/shared-worker.sh start|restart|stop
# on port $EDGEPUSH_SHARED_PORT (default 8790) with storage in target/e2e/shared-worker-PORT (its
# process group in .pid, its output in .log beside it: runs on other ports do not meet). `restart` keeps
# the storage (a real process restart, as after a redeploy). It starts the worker the way the
# Rust suites do (scripts/worker-under-test.sh as the leader of a process group of its own, stdin
# closed) and stops it with the test kit's edgepush-worker (tests/src/bin/edgepush-worker.rs):
# `start` and `restart` return once /health answers.
#
# The port must be free: a worker of another checkout (or one left running) answering /health
# there would pass for this one, and `stop` would then stop nothing of ours. `start` refuses it.
# The group is recorded in the .pid file as soon as it exists, so an interrupted start
# leaves nothing running that `stop` does not find; `stop` stops only a group that is still this
# worker's (its port and storage in a process's arguments), never a recycled process id.
set -euo pipefail
source "$(dirname "$0")/env.sh"
port=${EDGEPUSH_SHARED_PORT:-8790}
dir="$root/target/e2e"
store="$dir/shared-worker-$port" pidfile="$dir/shared-worker-$port.pid" logfile="$dir/shared-worker-$port.log"
mkdir -p "$dir"
kit() { cargo run -q --manifest-path "$root/Cargo.toml" -p edgepush-e2e --bin edgepush-worker -- "$@"; }
say() { echo "shared-worker: $*" >&2; }

# Webhooks of the `hooks` namespaces go to the PHP integration suite's receiver
# (php/tests/Integration/WebhookTest.php), which listens on EDGEPUSH_WEBHOOK_PORT while it runs;
# meanwhile nothing listens there, and deliveries fail and are retried, then dropped.
hooks="WEBHOOK_URL:http://127.0.0.1:${EDGEPUSH_WEBHOOK_PORT:-8791}/edgepush/webhook?app=php-it"

# Whether something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Whether process group PGID is this worker's: one of its processes has our port and storage in
# its arguments (worker-under-test.sh PORT STORE, then wrangler dev ... --port PORT --persist-to
# STORE), or is this checkout's workerd serving our port.
ours() {
  ps -ww -A -o pgid= -o args= 2>/dev/null | awk -v g="$1" -v p="$port" -v s="$store" -v r="$root" '
    { line = $0 " " }
    $1 == g && ((index(line, " " s " ") && index(line, " " p " ")) ||
      (index(line, r "/node_modules/") && index(line, "entry=127.0.0.1:" p " "))) { found = 1 }
    END { exit !found }'
}

stop() {
  local pgid
  pgid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ "$pgid" =~ ^[0-9]+$ ]]; then
    if ours "$pgid"; then
      kit down "$pgid"
    elif kill -0 -- "-$pgid" 2>/dev/null; then
      say "process group $pgid of $pidfile is not this worker any more: left alone"
    fi
  fi
  rm -f "$pidfile"
}

# `/health` answers 200 (or server_misconfigured, as tests/src/launch.rs accepts).
healthy() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then(async (r) => {
      const body = await r.text();
      process.exit(r.status === 200 || (r.status === 500 && body.includes("\"server_misconfigured\"")) ? 0 : 1);
    }, () => process.exit(1));' "http://127.0.0.1:$port/health"
}

up() {
  if listening "$port"; then
    say "port $port is already in use (another checkout's shared worker, or one left running?):" \
      "stop it, or choose a free port with EDGEPUSH_SHARED_PORT=PORT"
    return 1
  fi
  # Job control: the background job leads a process group of its own (its id is the group's).
  set -m
  bash "$root/scripts/worker-under-test.sh" "$port" "$store" --var "$hooks" </dev/null >>"$logfile" 2>&1 &
  local pgid=$!
  set +m
  echo "$pgid" >"$pidfile"
  # Interrupted while waiting: stop what started.
  trap 'stop; exit 130' INT TERM HUP
  local deadline=$((SECONDS + 90))
  until healthy; do
    if ! kill -0 "$pgid" 2>/dev/null; then
      stop
      say "the worker on port $port exited before /health answered; see $logfile"
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      stop
      say "the worker on port $port did not answer /health within 90 s; see $logfile"
      return 1
    fi
    sleep 0.2
  done
  trap - INT TERM HUP
  # Whoever answered, ours is still running (a worker that lost the port to another has exited).
  if ! kill -0 "$pgid" 2>/dev/null; then
    stop
    say "port $port answers, but not this worker; see $logfile"
    return 1
  fi
}

case "${1:-}" in
  start) stop; rm -rf "$store"; : >"$logfile"; up ;;
  restart) stop; up ;;
  stop) stop ;;
  *) echo "usage: $0 start|restart|stop" >&2; exit 2 ;;
esac
