#!/usr/bin/env bash
# Installs everything edgepush needs to build, run and test, on a fresh Debian machine or an
# already-prepared one (each step is skipped when its result is present). Pinned versions:
# the wasm-bindgen CLI matches Cargo.lock exactly, worker-build matches the worker crate, and the
# JavaScript tools (wrangler, workerd, esbuild, binaryen, Node 22, playwright-core) come from
# package-lock.json. Everything project-local goes to .tools/ and node_modules/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

# Debian packages.
mapfile -t wanted < <(grep -v '^\s*#' scripts/apt-packages.txt | sed '/^\s*$/d')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Rust: the wasm target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# Pinned cargo tools, into .tools/bin.
lock_version() { # the version of a package in Cargo.lock
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
install_tool() { # crate version binary
  local have
  have=$("$root/.tools/bin/$3" --version 2>/dev/null | awk '{print $NF}' || true)
  if [ "$have" != "$2" ]; then
    log "installing $1 $2 into .tools (a few minutes, once)"
    # --locked reproduces the tool's own lock file; when a crate in it was yanked since, fall
    # back to the newest compatible versions.
    cargo install --quiet --locked --root "$root/.tools" "$1" --version "$2" 2>/dev/null ||
      cargo install --quiet --root "$root/.tools" "$1" --version "$2"
  fi
}
install_tool worker-build "$(lock_version worker)" worker-build
install_tool wasm-bindgen-cli "$(lock_version wasm-bindgen)" wasm-bindgen

# JavaScript tools, exactly as package-lock.json pins them.
if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  # workerd's optional packages for macOS and Windows cannot be fetched from the registry this
  # machine reaches, so the lock file lacks them and `npm ci` refuses it as out of sync; then
  # install the same locked tree with `npm install --no-save` (it changes no tracked file).
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
    npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
fi
