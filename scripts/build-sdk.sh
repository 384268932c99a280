#!/usr/bin/env bash
# Builds the browser SDK's npm package (@edgepush/client) into client-sdk/pkg/:
#   edgepush_client.js (the JS face of client-sdk/js/client.js bundled with the wasm-bindgen glue,
#   ES module), edgepush_client_bg.wasm (wasm-opt -Oz),
#   edgepush_client.inline.js (the glue with the wasm inlined: one ES module, entry "./inline"),
#   edgepush_client.d.ts (TypeScript types), package.json, README.md, LICENSE;
#   react.js and stimulus.js with their .d.ts (client-sdk/js/: the entries "./react" and
#   "./stimulus", whose react and @hotwired/stimulus are optional peer dependencies) and the
#   load-sdk.js both import;
# then packs it with `npm pack` into target/npm/edgepush-client-VERSION.tgz (the file
# `npm install` takes; its path is the last line printed).
# Usage: scripts/build-sdk.sh            (then scripts/sdk-size.sh for the size report)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$root"

pkg="$root/client-sdk/pkg"
# Built next to it and swapped in at the end: a failed build leaves the last package whole.
out="$pkg.tmp"
target_dir=$(cargo_target_dir)
# A target directory of its own: the package is built with other RUSTFLAGS than the workspace's
# other wasm32 builds (the worker, the browser tests), which would otherwise rebuild each other's
# dependencies every time.
package_target="$target_dir/js-package"
wasm="$package_target/wasm32-unknown-unknown/release/edgepush_client.wasm"

# `no_std`: without the `std` feature (the Rust API's typed handlers) and with `js-package` (lol_alloc,
# a panic handler that traps). std's panic machinery is not linked, and of `core::fmt` only the
# integer formatting of alloc's out-of-memory message is left.
# Without reference types: wasm-bindgen then keeps the JS values the wasm holds in an array of the
# glue instead of a wasm table of `externref`s, which spares the wasm the table's allocator (about
# 0.7 KB gzip; the glue grows by 0.2 KB) and lets the package run where reference types are missing.
# wasm-bindgen sees it by the missing externref intrinsics, as long as the `target_features`
# section is stripped (the release profile's `strip = true`, made explicit here): that section
# would say reference types, which the standard library's prebuilt objects declare.
RUSTFLAGS="-C target-feature=-reference-types" CARGO_PROFILE_RELEASE_STRIP=true \
  cargo build --quiet -p edgepush-client --release --target wasm32-unknown-unknown \
  --target-dir "$package_target" --no-default-features --features js-package

rm -rf "$out"
# `--encode-into always`: no fallback for browsers without `TextEncoder.encodeInto`, which every
# browser with the wasm features below has.
"$WASM_BINDGEN_BIN" --target web --encode-into always --out-dir "$out" --out-name edgepush_client "$wasm"

# The features rustc enables by default for wasm32-unknown-unknown but reference types;
# wasm-opt must know them. (Bulk memory: Chrome 75, Firefox 79, Safari 15.)
# The module's own memory starts zeroed and Rust leaves its first kilobyte unused, which lets
# wasm-opt drop zero data and fold more constants.
"$WASM_OPT_BIN" -Oz --converge --strip-debug --strip-producers --zero-filled-memory --low-memory-unused \
  --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-multivalue \
  -o "$out/edgepush_client_bg.wasm" "$out/edgepush_client_bg.wasm"

# The package's module: the hand-written JS face (client-sdk/js/client.js: options, handlers,
# state and error objects) bundled with the wasm-bindgen glue under it (imported as
# ./edgepush_core.js, the wasm's `Core`), minified (whitespace, local names, comments). The types
# live in the .d.ts (the TYPES section of client-sdk/src/js.rs), so nothing is lost for
# TypeScript users. es2022: class fields and private methods, which every browser with the wasm
# features above has. The numbers of client.js's talk with the core are in codes.js, a module
# without imports, whose constants esbuild inlines (those of a module that imports, it keeps).
mv "$out/edgepush_client.js" "$out/edgepush_core.js"
cp "$root"/client-sdk/js/{client,codes}.js "$out/"
"$ESBUILD_BIN" "$out/client.js" --bundle --minify --format=esm --target=es2022 \
  --log-level=warning --banner:js='/* @ts-self-types="./edgepush_client.d.ts" */' \
  --outfile="$out/edgepush_client.js"
rm "$out"/{client,codes,edgepush_core}.js
# Short import names instead of wasm-bindgen's `__wbg_<name>_<16 hex digits>`, in both files.
node "$root/client-sdk/tools/shorten-imports.mjs" "$out" edgepush_client_bg.wasm edgepush_client.js
# The single-module entry, from the finished glue and wasm.
node "$root/client-sdk/tools/inline-wasm.mjs" "$out"
cp "$root/client-sdk/README.md" "$root/LICENSE" "$out/"
# The React hooks and the Stimulus controller, hand-written: entries of their own, so an app that
# imports neither downloads neither.
cp "$root"/client-sdk/js/{react,stimulus}.{js,d.ts} "$root"/client-sdk/js/load-sdk.js "$out/"

version=$(cargo metadata --format-version 1 --no-deps | node -e '
  const m = JSON.parse(require("fs").readFileSync(0));
  process.stdout.write(m.packages.find(p => p.name === "edgepush-client").version)')
cat > "$out/package.json" <<JSON
{
  "name": "@edgepush/client",
  "version": "$version",
  "description": "edgepush browser SDK: live events over one reconnecting, JWT-authenticated WebSocket, with typed handlers.",
  "license": "Apache-2.0",
  "type": "module",
  "main": "edgepush_client.js",
  "module": "edgepush_client.js",
  "types": "edgepush_client.d.ts",
  "exports": {
    ".": {
      "types": "./edgepush_client.d.ts",
      "default": "./edgepush_client.js"
    },
    "./inline": {
      "types": "./edgepush_client.d.ts",
      "default": "./edgepush_client.inline.js"
    },
    "./react": {
      "types": "./react.d.ts",
      "default": "./react.js"
    },
    "./stimulus": {
      "types": "./stimulus.d.ts",
      "default": "./stimulus.js"
    },
    "./edgepush_client_bg.wasm": "./edgepush_client_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": [
    "edgepush_client.js",
    "edgepush_client.inline.js",
    "edgepush_client.d.ts",
    "edgepush_client_bg.wasm",
    "edgepush_client_bg.wasm.d.ts",
    "react.js",
    "react.d.ts",
    "stimulus.js",
    "stimulus.d.ts",
    "load-sdk.js"
  ],
  "peerDependencies": {
    "@hotwired/stimulus": "^3.0.0",
    "react": "^18.0.0 || ^19.0.0"
  },
  "peerDependenciesMeta": {
    "@hotwired/stimulus": { "optional": true },
    "react": { "optional": true }
  },
  "sideEffects": false
}
JSON
rm -rf "$pkg"
mv "$out" "$pkg"
echo "built $pkg" >&2

# The tarball an app installs (`npm install target/npm/edgepush-client-VERSION.tgz`); npm adds
# package.json, README.md and LICENSE to `files` by itself.
mkdir -p "$root/target/npm"
tarball=$(cd "$root/target/npm" && npm pack --silent "$pkg")
echo "$root/target/npm/$tarball"
