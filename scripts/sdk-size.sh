#!/usr/bin/env bash
# Prints the size of the browser SDK package (built by scripts/build-sdk.sh) as Markdown table
# rows: raw and gzip -9 bytes of the .wasm, of the JS glue, and of both together; then the same
# for the single-module entry with the wasm inlined (edgepush_client.inline.js, no .wasm file).
#   | package | wasm raw | wasm gz | js raw | js gz | total raw | total gz |
# Pass --header to print the table header first. Not a test: it reports, it does not judge.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=client-sdk/pkg
wasm=$pkg/edgepush_client_bg.wasm
js=$pkg/edgepush_client.js
[ -f "$wasm" ] && [ -f "$js" ] || { echo "no package in $pkg: run scripts/build-sdk.sh first" >&2; exit 1; }
raw() { wc -c <"$1" | tr -d ' '; }
gz() { gzip -9 -n <"$1" | wc -c | tr -d ' '; }
wr=$(raw "$wasm"); wg=$(gz "$wasm"); jr=$(raw "$js"); jg=$(gz "$js")
if [ "${1:-}" = "--header" ]; then
  echo "| package | wasm raw | wasm gzip -9 | JS glue raw | JS glue gzip -9 | total raw | total gzip -9 |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
fi
printf '| %s | %d | %d | %d | %d | %d | %d (%.1f KiB) |\n' "${LABEL:-edgepush-client}" \
  "$wr" "$wg" "$jr" "$jg" $((wr + jr)) $((wg + jg)) "$(echo "($wg + $jg) / 1024" | bc -l)"
inline=$pkg/edgepush_client.inline.js
if [ -f "$inline" ]; then
  ir=$(raw "$inline"); ig=$(gz "$inline")
  printf '| %s | – | – | %d | %d | %d | %d (%.1f KiB) |\n' "${LABEL:-edgepush-client} \"/inline\" (wasm inlined, one module)" \
    "$ir" "$ig" "$ir" "$ig" "$(echo "$ig / 1024" | bc -l)"
fi
