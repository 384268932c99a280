// Renames the wasm-bindgen imports and exports of the package to short names, in the .wasm and
// in the JS glue together (and shortens the glue's console warnings, below). wasm-bindgen names each import `__wbg_<name>_<16 hex digits>`; the hex digits appear
// twice (once in each file) and do not compress, which costs about a kilobyte gzipped.
//   node client-sdk/tools/shorten-imports.mjs <package dir> <wasm file name> <js file name>
// Only names that occur exactly once in the JS, as a key of the imports object, are renamed;
// anything else is left alone.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [dir, wasmName, jsName] = process.argv.slice(2);
const wasmPath = join(dir, wasmName);
const jsPath = join(dir, jsName);
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");

function readLeb(buf, at) {
  let value = 0, shift = 0, byte;
  do {
    byte = buf[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}
function leb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return Buffer.from(out);
}
const name = (text) => Buffer.concat([leb(Buffer.byteLength(text)), Buffer.from(text)]);

// Find the import section.
let at = 8, section = null;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, body] = readLeb(wasm, at + 1);
  if (id === 2) section = { start: at, body, end: body + size };
  at = body + size;
}
if (!section) process.exit(0);

const renames = new Map();
const parts = [];
let [count, p] = readLeb(wasm, section.body);
let next = 0;
const shortName = (n) => {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let s = "";
  do {
    s += letters[n % letters.length];
    n = Math.floor(n / letters.length);
  } while (n);
  return `$${s}`;
};
for (let i = 0; i < count; i++) {
  const [moduleLen, m0] = readLeb(wasm, p);
  const module = wasm.subarray(m0, m0 + moduleLen).toString();
  p = m0 + moduleLen;
  const [fieldLen, f0] = readLeb(wasm, p);
  const field = wasm.subarray(f0, f0 + fieldLen).toString();
  p = f0 + fieldLen;
  const descStart = p;
  const kind = wasm[p++];
  if (kind === 0) [, p] = readLeb(wasm, p);
  else if (kind === 1) { p++; const flags = wasm[p++]; [, p] = readLeb(wasm, p); if (flags & 1) [, p] = readLeb(wasm, p); }
  else if (kind === 2) { const flags = wasm[p++]; [, p] = readLeb(wasm, p); if (flags & 1) [, p] = readLeb(wasm, p); }
  else if (kind === 3) p += 2;
  else throw new Error(`unknown import kind ${kind}`);
  let newField = field;
  const key = new RegExp(`\\b${field.replace(/\$/g, "\\$")}:`, "g");
  const once = (js.match(key) ?? []).length === 1 && js.split(field).length === 2;
  if (/^__wbg_|^__wbindgen_/.test(field) && once && !renames.has(field)) {
    newField = shortName(next++);
    renames.set(field, newField);
    js = js.replace(key, () => `${newField}:`);
  }
  parts.push(name(module), name(newField), wasm.subarray(descStart, p));
}
const importBody = Buffer.concat([leb(count), ...parts]);

// Exports: renamed when every occurrence of the name in the JS is a member access (`x.name`).
const sections = [];
at = 8;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, start] = readLeb(wasm, at + 1);
  sections.push({ id, start: at, body: start, end: start + size });
  at = start + size;
}
const escape = (text) => text.replace(/[$]/g, "\\$");
let exported = 0;
const exportRenames = new Map();
function exportSection(sec) {
  const out = [];
  let [n, q] = readLeb(wasm, sec.body);
  for (let i = 0; i < n; i++) {
    const [len, f0] = readLeb(wasm, q);
    const field = wasm.subarray(f0, f0 + len).toString();
    q = f0 + len;
    const kind = wasm[q++];
    const descStart = q - 1;
    [, q] = readLeb(wasm, q);
    const all = (js.match(new RegExp(`(?<![\\w$])${escape(field)}(?![\\w$])`, "g")) ?? []).length;
    const member = (js.match(new RegExp(`\\.${escape(field)}(?![\\w$])`, "g")) ?? []).length;
    let newField = field;
    if (all > 0 && all === member && field.length > 3) {
      newField = `_${shortName(exported++).slice(1)}`;
      exportRenames.set(field, newField);
      js = js.replace(new RegExp(`\\.${escape(field)}(?![\\w$])`, "g"), () => `.${newField}`);
    }
    out.push(name(newField), wasm.subarray(descStart, q));
  }
  return Buffer.concat([leb(n), ...out]);
}

const rebuilt = sections.map((sec) => {
  if (sec.id !== 2 && sec.id !== 7) return wasm.subarray(sec.start, sec.end);
  const body = sec.id === 2 ? importBody : exportSection(sec);
  return Buffer.concat([Buffer.from([sec.id]), leb(body.length), body]);
});
writeFileSync(wasmPath, Buffer.concat([wasm.subarray(0, 8), ...rebuilt]));
// The glue's three console warnings (a .wasm served without `application/wasm`, and the
// positional arguments of `init`/`initSync` that wasm-bindgen deprecated), said in fewer words:
// 140 B gzipped. A text that is not found (another wasm-bindgen version) stays as it is.
const warnings = [
  [/"`WebAssembly\.instantiateStreaming` failed because your server does not serve Wasm with `application\/wasm` MIME type\. Falling back to `WebAssembly\.instantiate` which is slower\. Original error:\\n"/, '"edgepush: the .wasm is not served as application/wasm (slower start):"'],
  [/"using deprecated parameters for `initSync\(\)`; pass a single object instead"/, '"edgepush: pass initSync({module})"'],
  [/"using deprecated parameters for the initialization function; pass a single object instead"/, '"edgepush: pass init({module_or_path})"'],
];
for (const [long, short] of warnings) js = js.replace(long, () => short);
writeFileSync(jsPath, js);
// The type declarations of the raw exports (`InitOutput`, `*_bg.wasm.d.ts`) follow the renames.
for (const file of readdirSync(dir).filter((f) => f.endsWith(".d.ts"))) {
  let types = readFileSync(join(dir, file), "utf8");
  for (const [from, to] of exportRenames) {
    types = types.replace(new RegExp(`(?<![\\w$])${escape(from)}(?![\\w$])`, "g"), () => to);
  }
  writeFileSync(join(dir, file), types);
}
console.error(`shorten-imports: renamed ${renames.size} imports and ${exported} exports`);
