// The JavaScript side agrees with the code table of protocol/codes.json (written from
// protocol/src/codes.rs): the SDK's hand-written TypeScript declarations (the TYPES string of
// client-sdk/src/js.rs) and the demo page (www/public/app.js). Reads sources only, no build:
//   node --test client-sdk/tests/js/codes.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const read = (path) => readFileSync(join(root, path), "utf8");

const table = JSON.parse(read("protocol/codes.json"));
const closeCodes = new Map(table.close_codes.map((row) => [row.code, row]));

/** The TypeScript declarations: the raw string `TYPES` in js.rs. */
function declarations() {
  const source = read("client-sdk/src/js.rs");
  const match = source.match(/const TYPES: &str = r#"([\s\S]*?)"#;/);
  assert.ok(match, "client-sdk/src/js.rs has no `const TYPES: &str = r#\"...\"#;`");
  return match[1];
}

/** Every close code written in `text` (1000-4999), with the words in parentheses after it, if any. */
function closeCodeMentions(text) {
  return [...text.matchAll(/\b([14]\d{3})\b(?: \(([^)]*)\))?/g)].map((m) => ({
    code: Number(m[1]),
    words: m[2],
  }));
}

test("close codes in the TypeScript declarations are the table's, named by their reasons", () => {
  const mentions = closeCodeMentions(declarations());
  assert.ok(mentions.length > 0, "the declarations name no close code: the scan is broken");
  for (const { code, words } of mentions) {
    const row = closeCodes.get(code);
    assert.ok(row, `the declarations mention close code ${code}, which is not in protocol/codes.json`);
    if (words !== undefined) {
      assert.equal(words.replaceAll(" ", "_"), row.reason, `the declarations call ${code} "${words}"`);
    }
  }
});

test('the declarations\' examples of "rejected" close codes are codes the client stops on', () => {
  const line = declarations()
    .split("\n")
    .find((l) => l.includes('For "rejected"'));
  assert.ok(line, 'EdgepushError no longer documents closeCode "For \\"rejected\\""');
  for (const { code } of closeCodeMentions(line)) {
    assert.equal(closeCodes.get(code)?.action, "stop", `close code ${code} does not stop the client`);
  }
});

test("the declared EdgepushError codes are the ones the SDK reports", () => {
  const union = declarations().match(/\bcode: ((?:\s*\|?\s*"[a-z_]+")+);/);
  assert.ok(union, "EdgepushError.code is no longer a union of string literals");
  const declared = [...union[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  const body = read("client-sdk/src/error.rs").match(/pub fn code\(&self\)[\s\S]*?\n {4}\}/);
  assert.ok(body, "client-sdk/src/error.rs has no `pub fn code(&self)`");
  const reported = [...body[0].matchAll(/=> "([a-z_]+)"/g)].map((m) => m[1]);
  assert.deepEqual(declared.toSorted(), reported.toSorted());
});

test("the declared SubscriptionError codes are error codes of the table, and the Rust face's", () => {
  const union = declarations().match(/interface SubscriptionError \{[\s\S]*?\bcode: ((?:\s*\|?\s*"[a-z_]+")+);/);
  assert.ok(union, "SubscriptionError.code is no longer a union of string literals");
  const declared = [...union[1].matchAll(/"([a-z_]+)"/g)].map((m) => m[1]);
  const known = new Set(table.error_codes.map((row) => row.code));
  for (const code of declared) assert.ok(known.has(code), `${code} is not an error code of protocol/codes.json`);
  // Subscription::on_error's doc lists what `error.code` may be.
  const doc = read("client-sdk/src/client/subscription.rs").match(/reason: `error\.code` is ([\s\S]*?)\. The/);
  assert.ok(doc, "Subscription::on_error no longer lists its codes");
  const listed = [...doc[1].matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
  assert.deepEqual(listed.toSorted(), declared.toSorted());
});

test("the demo page's close codes are the table's", () => {
  const app = read("www/public/app.js");
  const block = app.match(/const CLOSE = \{([^}]*)\};/);
  assert.ok(block, "www/public/app.js has no `const CLOSE = { ... };` of close codes");
  const entries = [...block[1].matchAll(/(\w+): (\d+)/g)];
  assert.ok(entries.length > 0, "www/public/app.js's CLOSE is empty");
  for (const [, key, number] of entries) {
    const row = closeCodes.get(Number(number));
    assert.ok(row, `CLOSE.${key} = ${number} is not a close code of protocol/codes.json`);
    const reason = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    assert.equal(reason, row.reason, `CLOSE.${key} = ${number}, whose reason is ${row.reason}`);
  }
  const literals = [...app.matchAll(/\.code\s*[!=]==?\s*(\d+)/g)].map((m) => m[0]);
  assert.deepEqual(literals, [], "compare close codes with CLOSE.<name>, not a number");
});

test("the sample frames are JSON objects tagged by type", () => {
  const types = table.frames.map((f) => JSON.parse(f.text)).map((f) => f.type ?? Object.keys(f)[0]);
  for (const type of ["welcome", "event", "error", "pong", "ping"]) {
    assert.ok(types.includes(type), `protocol/codes.json has no ${type} frame`);
  }
});
