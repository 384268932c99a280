#!/usr/bin/env bash
# README command 1: runs edgepush locally with the demo at http://127.0.0.1:8787/.
# Installs what is missing for building and running (`scripts/setup.sh --dev`: no browser, PHP or
# Pushpin), creates local dev secrets in .dev.vars on first run, builds, prints a
# ready-to-use token, demo link and signed publish commands, then runs `wrangler dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
source scripts/env.sh

if [ ! -f .dev.vars ]; then
  jwt=$(head -c 32 /dev/urandom | base64 | tr -d '/+=' )
  pub=$(head -c 32 /dev/urandom | base64 | tr -d '/+=' )
  printf 'JWT_SECRET=%s\nPUBLISH_KEYS=dev:%s\n' "$jwt" "$pub" > .dev.vars
  chmod 600 .dev.vars
  echo "[dev] created .dev.vars with fresh local secrets (git-ignored)"
fi
# The topic namespaces the demo page uses (docs/topics.md): `feed:demo`, a public feed, and
# `live:demo`, whose occupancy is the page's viewer count. Added to an older .dev.vars too.
if ! grep -q '^TOPIC_NAMESPACES=' .dev.vars; then
  printf '%s\n' "TOPIC_NAMESPACES='{\"feed\":{\"public\":true},\"live\":{\"public\":true,\"occupancy_ms\":500}}'" >> .dev.vars
  echo "[dev] declared the demo's topic namespaces (feed, live) in .dev.vars"
fi
# Refuse to start with a weak or missing secret, rather than fail every request.
jwt_secret=$(sed -n 's/^JWT_SECRET=//p' .dev.vars)
publish_keys=$(sed -n 's/^PUBLISH_KEYS=//p' .dev.vars)
if [ ${#jwt_secret} -lt 32 ]; then
  echo "[dev] JWT_SECRET in .dev.vars must be at least 32 bytes; delete .dev.vars to get a fresh one" >&2
  exit 1
fi
export EDGEPUSH_JWT_SECRET=$jwt_secret
export EDGEPUSH_KEY_ID=${publish_keys%%:*}
rest=${publish_keys#*:}
export EDGEPUSH_PUBLISH_SECRET=${rest%%,*}
export EDGEPUSH_URL=http://127.0.0.1:8787

cargo build --quiet --release -p edgepush-cli
bash scripts/build-worker.sh
bash scripts/build-sdk.sh
bash www/build.sh

# The CLI's build, wherever cargo puts it (CARGO_TARGET_DIR, build.target-dir), shown relative to
# the repo when it is inside.
target_dir=$(cargo_target_dir)
cli="$target_dir/release/edgepush"
cli=${cli#"$root/"}
token=$("$cli" token --user 42 --ttl 86400)
cat <<EOF2

  edgepush is starting on $EDGEPUSH_URL

  Demo page (user 42, token valid 24 h):
    $EDGEPUSH_URL/#token=$token

  A connect token for user 42:
    $token

  Send a message / change the colour (signed with the dev key from .dev.vars, just now:
  a signature is accepted for 5 minutes, so re-sign with the CLI below after that):
    $("$cli" publish --user 42 --name Message --payload '{"text":"Hello from the backend"}' --print-curl)
    $("$cli" publish --user 42 --name Background --payload '{"color":"#2b6cb0"}' --print-curl)

  Post to the topic feed every open demo page reads (feed:demo):
    $("$cli" publish --topic feed:demo --name Posted --payload '{"title":"Hello, everyone"}' --print-curl)

  Or, with the environment of this script:
    EDGEPUSH_KEY_ID=$EDGEPUSH_KEY_ID EDGEPUSH_PUBLISH_SECRET=… $cli publish --user 42 --name Message --payload '{"text":"hi"}'
    source www/demo-env.sh && php php/examples/send_message.php 42 "Hello" && php php/examples/set_color.php 42 red

EOF2
# wrangler runs scripts/build-worker.sh at start and on every change under server/src and
# protocol/src: it skips the build only while nothing changed since the one just above.
export EDGEPUSH_SKIP_BUILD=unchanged
exec wrangler dev --ip 127.0.0.1 --port 8787 --show-interactive-dev-session=false
