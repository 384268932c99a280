// The JS test kit signs and mints exactly as protocol/ does: it reproduces every signature and
// token of protocol/test-vectors.json.
//   node --test tests/js/testkit.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { mint, mintAny, root, sign } from "./testkit.mjs";

const vectors = JSON.parse(readFileSync(join(root, "protocol", "test-vectors.json"), "utf8"));

test("sign reproduces every signature vector", () => {
  assert.ok(vectors.signatures.length > 0);
  for (const v of vectors.signatures) {
    assert.equal(sign(v.key_id, v.secret, v.timestamp, v.method, v.path, v.body), v.header, v.description);
  }
});

test("mint reproduces every token vector", () => {
  assert.ok(vectors.tokens.length > 0);
  for (const v of vectors.tokens) {
    assert.equal(mint(v.claims, v.secret), v.token, v.description);
  }
});

test("mint writes the claims in the vectors' order whatever the order given", () => {
  const v = vectors.tokens.find((t) => Object.keys(t.claims).length > 3);
  const reversed = Object.fromEntries(Object.entries(v.claims).reverse());
  assert.equal(mint(reversed, v.secret), v.token);
});

test("mintAny (Mercure tokens) reproduces every token vector given its claims in order", () => {
  for (const v of vectors.tokens) {
    assert.equal(mintAny(v.claims, v.secret), v.token, v.description);
  }
});
