// The npm package as an app installs it, against a running worker (EDGEPUSH_TEST_URL, started
// with the test secrets of scripts/env.sh and serving www/public, where www/build.sh put the SDK):
//   EDGEPUSH_TEST_URL=http://127.0.0.1:8790 node --test client-sdk/tests/js/bundler.test.mjs
// 1. The tarball of scripts/build-sdk.sh (target/npm/edgepush-client-VERSION.tgz) installed with
//    `npm install --offline` into a copy of client-sdk/tests/vite-app (in target/sdk-vite/), its
//    types checked with tsc through the package's `exports`, the app built with the repository's
//    Vite; the built pages, served statically on another origin than the worker, connect in
//    headless Chromium and receive an event published with a signed POST /publish: the entry
//    that fetches its .wasm (which Vite emits as an asset) and the one with the wasm inlined.
// 2. A page on another origin imports the SDK from the worker's /sdk/ (CORS, www/public/_headers),
//    both entries, the way a page imports it from a CDN.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { cpSync, existsSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { launchBrowser, mintToken, root, serveFiles, signature } from "../../../tests/js/testkit.mjs";

const workerUrl = (process.env.EDGEPUSH_TEST_URL ?? "").replace(/\/$/, "");
const pkg = join(root, "client-sdk", "pkg");
const work = join(root, "target", "sdk-vite");
const app = join(work, "app");
const dist = join(app, "dist");
const bin = (name) => join(root, "node_modules", ".bin", name);

const CDN_PAGE = (entry) => `<!doctype html><meta charset="utf-8"><title>edgepush from /sdk/</title>
<script type="module">
  const params = new URLSearchParams(location.hash.slice(1));
  const { default: init, EdgepushClient } = await import(params.get("url") + "/sdk/${entry}");
  await init();
  window.received = [];
  const client = new EdgepushClient({ url: params.get("url"), token: params.get("token") });
  client.onState((s) => (window.connection = s.state));
  client.onMessage((e) => window.received.push(e.payload.text));
  client.connect();
</script>`;

let server, browser, base;

before(async () => {
  assert.ok(workerUrl, "set EDGEPUSH_TEST_URL to the URL of a running worker");
  const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  const tarball = join(root, "target", "npm", `edgepush-client-${version}.tgz`);
  assert.ok(existsSync(tarball), `${tarball} is missing: run scripts/build-sdk.sh`);

  // A fresh copy of the app, the tarball installed into it as `npm install <file>` does for a user.
  rmSync(work, { recursive: true, force: true });
  cpSync(join(root, "client-sdk", "tests", "vite-app"), app, { recursive: true });
  const run = (command, args) => execFileSync(command, args, { cwd: app, stdio: ["ignore", "pipe", "inherit"] });
  run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball]);
  const installed = JSON.parse(readFileSync(join(app, "node_modules", "@edgepush", "client", "package.json"), "utf8"));
  assert.equal(installed.version, version);
  run(bin("tsc"), ["-p", "."]);
  run(bin("vite"), ["build", "--logLevel", "warn"]);

  ({ server, base } = await serveFiles(dist, {
    pages: (path) => (path.startsWith("/cdn/") ? CDN_PAGE(path.slice("/cdn/".length)) : undefined),
  }));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function publish(user, text) {
  const body = JSON.stringify({ user, name: "Message", payload: { text } });
  const response = await fetch(`${workerUrl}/publish`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Edgepush-Signature": signature("POST", "/publish", body),
      "Idempotency-Key": randomUUID(),
    },
    body,
  });
  assert.equal(response.status, 202, await response.text());
}

/**
 * Opens `path` of the static server for a new user, waits until it is connected, publishes one
 * Message and waits for it on the page; returns the URLs the page requested.
 */
async function receivesAnEvent(path) {
  const user = `sdk-bundler-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const page = await browser.newPage();
  const requests = [];
  const problems = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => problems.push(String(error)));
  // (Failed loads are reported by URL below, except the favicon the static server has not.)
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && problems.push(m.text()));
  page.on("response", (r) => r.status() >= 400 && !r.url().endsWith("/favicon.ico") && problems.push(`${r.status()} ${r.url()}`));
  try {
    const fragment = new URLSearchParams({ url: workerUrl, token: mintToken(user, 600) });
    await page.goto(`${base}${path}#${fragment}`);
    await page
      .waitForFunction(() => window.connection === "open", null, { timeout: 15000 })
      .catch((error) => assert.fail(`${path} did not connect: ${problems.join("; ") || error.message}`));
    await publish(user, `hello ${path}`);
    await page.waitForFunction(() => window.received?.length === 1, null, { timeout: 10000 });
    assert.deepEqual(await page.evaluate(() => window.received), [`hello ${path}`]);
    assert.deepEqual(problems, []);
    return requests;
  } finally {
    await page.close();
  }
}

const wasmRequests = (requests) => requests.filter((url) => new URL(url).pathname.endsWith(".wasm"));

test("the Vite build of an app that installed the tarball: the .wasm is an emitted asset, the inline entry is one module", () => {
  const assets = readdirSync(join(dist, "assets"));
  assert.equal(assets.filter((f) => f.endsWith(".wasm")).length, 1, assets.join(", "));
  const inlineHtml = readFileSync(join(dist, "inline.html"), "utf8");
  const inlineChunks = [...inlineHtml.matchAll(/src="\/assets\/([^"]+\.js)"/g)].map((m) => m[1]);
  assert.ok(inlineChunks.length > 0, inlineHtml);
  for (const chunk of inlineChunks) {
    assert.doesNotMatch(readFileSync(join(dist, "assets", chunk), "utf8"), /\.wasm"/, chunk);
  }
});

test("the built app (wasm by URL) connects and receives a published event", async () => {
  const requests = await receivesAnEvent("/index.html");
  assert.equal(wasmRequests(requests).length, 1, requests.join("\n"));
});

test("the built app with the inlined entry connects and receives a published event, fetching no .wasm", async () => {
  const requests = await receivesAnEvent("/inline.html");
  assert.deepEqual(wasmRequests(requests), []);
});

test("the worker serves /sdk/ with CORS, so a page on another origin imports it (both entries)", async () => {
  for (const file of ["edgepush_client.js", "edgepush_client_bg.wasm", "edgepush_client.inline.js"]) {
    const response = await fetch(`${workerUrl}/sdk/${file}`, { headers: { Origin: "https://app.example" } });
    assert.equal(response.status, 200, file);
    assert.equal(response.headers.get("access-control-allow-origin"), "*", file);
    await response.arrayBuffer();
  }
  const page = await fetch(`${workerUrl}/`, { headers: { Origin: "https://app.example" } });
  assert.equal(page.headers.get("access-control-allow-origin"), null, "only /sdk/ is shared");
  await page.arrayBuffer();

  const requests = await receivesAnEvent("/cdn/edgepush_client.js");
  assert.deepEqual(wasmRequests(requests), [`${workerUrl}/sdk/edgepush_client_bg.wasm`]);
  assert.deepEqual(wasmRequests(await receivesAnEvent("/cdn/edgepush_client.inline.js")), []);
});
