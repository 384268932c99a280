// Writes the package's single-module entry: the JS glue with the .wasm inlined as base64, for
// bundlers and CDNs that cannot serve a .wasm file next to the module.
//   node client-sdk/tools/inline-wasm.mjs PKG_DIR
// reads PKG_DIR/edgepush_client.js and PKG_DIR/edgepush_client_bg.wasm (as scripts/build-sdk.sh
// leaves them) and writes PKG_DIR/edgepush_client.inline.js. Its API is the glue's: `await init()`
// with no argument instantiates the inlined bytes instead of fetching
// `new URL("edgepush_client_bg.wasm", import.meta.url)`, so the module names no other file and a
// bundler emits no asset for it.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir] = process.argv.slice(2);
if (!dir) {
  console.error("usage: inline-wasm.mjs PKG_DIR");
  process.exit(2);
}
const glue = readFileSync(join(dir, "edgepush_client.js"), "utf8");
const wasm = readFileSync(join(dir, "edgepush_client_bg.wasm"));

// The default location wasm-bindgen's `--target web` glue fetches the module from, minified.
const lookup = 'new URL("edgepush_client_bg.wasm",import.meta.url)';
const at = glue.indexOf(lookup);
if (at < 0 || glue.indexOf(lookup, at + 1) >= 0) {
  console.error(`inline-wasm.mjs: expected exactly one ${lookup} in the glue (wasm-bindgen changed?)`);
  process.exit(1);
}
// `atob` exists in every browser and in Node 16+; `Uint8Array.fromBase64` is too new.
const bytes = `Uint8Array.from(atob(${JSON.stringify(wasm.toString("base64"))}),c=>c.charCodeAt(0))`;
const inline = glue.slice(0, at) + bytes + glue.slice(at + lookup.length);
if (inline.includes("import.meta") || inline.includes("_bg.wasm")) {
  console.error("inline-wasm.mjs: the inlined module still refers to a file next to it");
  process.exit(1);
}
writeFileSync(join(dir, "edgepush_client.inline.js"), inline);
