#!/usr/bin/env bash
# Puts the browser SDK package next to the demo page: copies client-sdk/pkg (built by
# scripts/build-sdk.sh) into www/public/sdk/, which the worker serves as static assets
# (`[assets] directory = "www/public"` in wrangler.toml). Run it after scripts/build-sdk.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkg="$root/client-sdk/pkg"
out="$root/www/public/sdk"
for file in edgepush_client.js edgepush_client_bg.wasm; do
  if [ ! -f "$pkg/$file" ]; then
    echo "www/build.sh: $pkg/$file is missing: run scripts/build-sdk.sh first" >&2
    exit 1
  fi
done
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
cp "$pkg/edgepush_client.js" "$pkg/edgepush_client_bg.wasm" "$out.tmp/"
for file in edgepush_client.inline.js edgepush_client.d.ts edgepush_client_bg.wasm.d.ts package.json; do
  [ -f "$pkg/$file" ] && cp "$pkg/$file" "$out.tmp/"
done
rm -rf "$out"
mv "$out.tmp" "$out"
echo "www/build.sh: SDK copied to www/public/sdk ($(wc -c <"$out/edgepush_client_bg.wasm") bytes of wasm)" >&2
