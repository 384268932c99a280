# shellcheck shell=bash
# Source it to publish to the local demo (scripts/dev.sh) with the ready-made publishers:
#   source www/demo-env.sh
#   php php/examples/send_message.php 42 "Hello"
#   target/release/edgepush publish --user 42 --name Background --payload '{"color":"teal"}'
# It exports EDGEPUSH_URL, EDGEPUSH_KEY_ID and EDGEPUSH_PUBLISH_SECRET from the first key in
# .dev.vars (the local secrets scripts/dev.sh created; never commit them).
# Works in bash and zsh (macOS's default shell): this file's own path is BASH_SOURCE in bash and
# %x (the file being sourced) in zsh, where BASH_SOURCE is unset; $0 is the last resort.
if [ -n "${ZSH_VERSION:-}" ]; then
  eval '_edgepush_self=${(%):-%x}'
else
  _edgepush_self=${BASH_SOURCE[0]:-$0}
fi
_edgepush_root=$(cd -- "$(dirname -- "$_edgepush_self")/.." >/dev/null 2>&1 && pwd)
if [ ! -f "$_edgepush_root/.dev.vars" ]; then
  echo "no .dev.vars yet: run scripts/dev.sh first" >&2
else
  _edgepush_keys=$(sed -n 's/^PUBLISH_KEYS=//p' "$_edgepush_root/.dev.vars")
  _edgepush_first=${_edgepush_keys%%,*}
  export EDGEPUSH_URL=${EDGEPUSH_URL:-http://127.0.0.1:8787}
  export EDGEPUSH_KEY_ID=${_edgepush_first%%:*}
  export EDGEPUSH_PUBLISH_SECRET=${_edgepush_first#*:}
  echo "publishing to $EDGEPUSH_URL with key '$EDGEPUSH_KEY_ID'" >&2
fi
unset _edgepush_self _edgepush_root _edgepush_keys _edgepush_first
