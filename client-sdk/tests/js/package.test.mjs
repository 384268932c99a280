// The JS face as an app uses it: the built ES module package (client-sdk/pkg, from
// scripts/build-sdk.sh) imported by a plain page in headless Chromium, against a running worker
// (EDGEPUSH_TEST_URL, started with the test secrets of scripts/env.sh).
//   EDGEPUSH_TEST_URL=http://127.0.0.1:8790 node --test client-sdk/tests/js/package.test.mjs
// With EDGEPUSH_RESTART_CMD (set by scripts/test.sh) the worker is really restarted once.
import assert from "node:assert/strict";
import { execSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { once } from "node:events";
import { extname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { chromium } from "playwright-core";

import { mintToken, root, signature } from "../../../tests/js/testkit.mjs";

const pkg = join(root, "client-sdk", "pkg");
const workerUrl = (process.env.EDGEPUSH_TEST_URL ?? "").replace(/\/$/, "");

// ---------- signed requests (tokens and signatures: tests/js/testkit.mjs) ----------

// Like a real publisher: one idempotency key per call, and one retry when the connection fails
// (a pooled keep-alive connection to a worker that was just restarted).
async function postSigned(path, body) {
  const key = randomUUID();
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(`${workerUrl}${path}`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "Edgepush-Signature": signature("POST", path, body),
          "Idempotency-Key": key,
        },
        body,
      });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      if (attempt >= 2) throw error;
    }
  }
}

async function publish(user, name, payload) {
  const { status, text } = await postSigned("/publish", JSON.stringify({ user, name, payload }));
  assert.equal(status, 202, text);
  return JSON.parse(text).events[0].id;
}

let users = 0;
const uniqueUser = (tag) => `sdk-js-${tag}-${Date.now()}-${++users}`;

// ---------- a page that imports the package ----------

const PAGE = `<!doctype html><meta charset="utf-8"><title>edgepush SDK test</title>
<script type="module">
  import init, { EdgepushClient } from "/pkg/edgepush_client.js";
  await init();
  window.EdgepushClient = EdgepushClient;
  window.ready = true;
</script>`;

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".ts": "text/plain" };
let server, browser, page, base;

before(async () => {
  assert.ok(workerUrl, "set EDGEPUSH_TEST_URL to the URL of a running worker");
  server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/") {
      res.writeHead(200, { "Content-Type": "text/html" }).end(PAGE);
      return;
    }
    const file = normalize(join(pkg, path.replace(/^\/pkg\//, "")));
    if (!path.startsWith("/pkg/") || !file.startsWith(pkg)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": TYPES[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage();
  page.on("pageerror", (error) => console.error("page error:", error));
  await page.exposeFunction("mintToken", mintToken);
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** Creates a client in the page that records everything under `window.runs[id]`. */
async function startClient(id, user, { provider = false, ttls = [600], options = {} } = {}) {
  await page.evaluate(
    ({ id, user, provider, ttls, options, url }) => {
      const run = { states: [], errors: [], events: [], calls: 0 };
      (window.runs ??= {})[id] = run;
      const token = provider
        ? async () => {
            const ttl = ttls[Math.min(run.calls, ttls.length - 1)];
            run.calls += 1;
            return window.mintToken(user, ttl);
          }
        : null;
      const client = new window.EdgepushClient({ url, token: token ?? window.fixedToken, minDelayMs: 100, maxDelayMs: 500, ...options });
      run.client = client;
      client.onState((s) => run.states.push(s));
      client.onError((e) => run.errors.push(e));
      client.onMessage((e) => run.events.push(["Message", e.id, e.payload.text]));
      client.onBackground((e) => run.events.push(["Background", e.id, e.payload.color]));
      client.on("Chat", (e) => run.events.push(["Chat", e.id, e.payload.room, e.name, typeof e.ts]));
      client.onUnknown((e) => run.events.push(["unknown", e.id, e.name]));
      client.connect();
    },
    { id, user, provider, ttls, options, url: workerUrl },
  );
}

const run = (id) => page.evaluate((id) => {
  const { states, errors, events, calls, client } = window.runs[id];
  return { states, errors, events, calls, state: client.state, position: client.position };
}, id);

async function until(id, predicate, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await run(id);
    if (predicate(current)) return current;
    if (Date.now() > deadline) assert.fail(`timed out; last seen: ${JSON.stringify(current)}`);
    await sleep(50);
  }
}

const opens = (r) => r.states.filter((s) => s.state === "open").length;

// ---------- the tests ----------

test("a page connects with a token string and gets typed events; bad payloads go to onError", async () => {
  const user = uniqueUser("typed");
  await page.evaluate((t) => (window.fixedToken = t), mintToken(user, 600));
  await startClient("typed", user);
  await until("typed", (r) => r.state.state === "open");
  const ids = [];
  ids.push(await publish(user, "Message", { text: "hi" }));
  ids.push(await publish(user, "Background", { color: "teal" }));
  ids.push(await publish(user, "Chat", { room: "general" }));
  ids.push(await publish(user, "Other", [1, 2]));
  await publish(user, "Message", { text: 42 });
  await publish(user, "Background", "red");
  const last = await publish(user, "Message", { text: "bye" });
  const r = await until("typed", (r) => r.events.some((e) => e[1] === last));
  assert.deepEqual(r.events, [
    ["Message", ids[0], "hi"],
    ["Background", ids[1], "teal"],
    ["Chat", ids[2], "general", "Chat", "number"],
    ["unknown", ids[3], "Other"],
    ["Message", last, "bye"],
  ]);
  assert.deepEqual(
    r.errors.map((e) => [e.code, e.event, e.terminal]),
    [["bad_payload", "Message", false], ["bad_payload", "Background", false]],
  );
  assert.match(r.errors[0].message, /payload\.text must be a string/);
  assert.deepEqual(r.states, [{ state: "connecting", attempt: 0 }, { state: "open" }]);
  assert.equal(r.position.lastId, last);
  assert.equal(typeof r.position.epoch, "string");
  await page.evaluate(() => window.runs.typed.client.close());
  assert.deepEqual((await run("typed")).state, { state: "closed", code: 1000, reason: "closed by the client" });
});

test("a provider token ending in a newline connects; an empty one is a provider error, retried", async () => {
  // `fetch(...).then((r) => r.text())` often ends in a newline, which no subprotocol may carry.
  const user = uniqueUser("newline");
  await page.evaluate(({ user, url }) => {
    const run = { states: [], errors: [], events: [], calls: 0 };
    (window.runs ??= {}).newline = run;
    const token = async () => {
      run.calls += 1;
      return run.calls === 1 ? " \n" : `${await window.mintToken(user, 600)}\n`;
    };
    const client = new window.EdgepushClient({ url, token, minDelayMs: 100, maxDelayMs: 200 });
    run.client = client;
    client.onState((s) => run.states.push(s));
    client.onError((e) => run.errors.push(e));
    client.onMessage((e) => run.events.push(["Message", e.id, e.payload.text]));
    client.connect();
  }, { user, url: workerUrl });
  let r = await until("newline", (r) => r.state.state === "open");
  assert.deepEqual(r.errors.map((e) => [e.code, e.terminal]), [["token_provider", false]]);
  assert.equal(r.calls, 2);
  const id = await publish(user, "Message", { text: "hi" });
  r = await until("newline", (r) => r.events.length === 1);
  assert.deepEqual(r.events, [["Message", id, "hi"]]);
  await page.evaluate(() => window.runs.newline.client.close());
});

test("an async token provider refreshes an expired token; a throwing handler is reported", async () => {
  const user = uniqueUser("refresh");
  // The first token lives 3 s; the server closes with 4001 and the provider is asked again.
  await startClient("refresh", user, { provider: true, ttls: [3, 600] });
  await page.evaluate(() => window.runs.refresh.client.on("Boom", () => { throw new Error("handler bug"); }));
  await until("refresh", (r) => opens(r) === 1);
  await publish(user, "Boom", {});
  const first = await publish(user, "Message", { text: "before" });
  let r = await until("refresh", (r) => opens(r) === 2, 15000);
  assert.equal(r.calls, 2);
  const second = await publish(user, "Message", { text: "after" });
  r = await until("refresh", (r) => r.events.length === 2);
  assert.deepEqual(r.events, [["Message", first, "before"], ["Message", second, "after"]]);
  assert.deepEqual(r.errors.map((e) => [e.code, e.message]), [["handler_threw", "an event handler threw: handler bug"]]);
  assert.ok(!r.states.some((s) => s.state === "closed"), JSON.stringify(r.states));
  await page.evaluate(() => window.runs.refresh.client.close());
});

test("the client survives a server restart and resumes without loss or duplicates", async () => {
  const user = uniqueUser("restart");
  await startClient("restart", user, { provider: true });
  await until("restart", (r) => opens(r) === 1);
  const ids = [await publish(user, "Message", { text: "one" })];
  await until("restart", (r) => r.events.length === 1);
  if (process.env.EDGEPUSH_RESTART_CMD) {
    // A real process restart with the same storage, as after a redeploy.
    execSync(process.env.EDGEPUSH_RESTART_CMD, { cwd: root, stdio: "inherit" });
  } else {
    await postSigned("/disconnect", JSON.stringify({ user, reconnect: true }));
  }
  ids.push(await publish(user, "Message", { text: "two" }));
  const r = await until("restart", (r) => r.events.length >= 2 && opens(r) >= 2, 60000);
  ids.push(await publish(user, "Message", { text: "three" }));
  const done = await until("restart", (r) => r.events.length >= 3);
  await sleep(300);
  assert.deepEqual((await run("restart")).events, [
    ["Message", ids[0], "one"], ["Message", ids[1], "two"], ["Message", ids[2], "three"],
  ]);
  assert.ok(r.states.some((s) => s.state === "reconnecting"), JSON.stringify(r.states));
  assert.equal(done.errors.filter((e) => e.terminal).length, 0);
  await page.evaluate(() => window.runs.restart.client.close());
});

test("offline pauses the client and online brings it back at once", async () => {
  const user = uniqueUser("offline");
  // Long backoff: coming back quickly proves the `online` event, not the retry timer, did it.
  await startClient("offline", user, { provider: true, options: { minDelayMs: 20000, maxDelayMs: 20000 } });
  await until("offline", (r) => opens(r) === 1);
  await page.context().setOffline(true);
  await postSigned("/disconnect", JSON.stringify({ user, reconnect: true }));
  let r = await until("offline", (r) => r.state.state === "offline");
  const callsWhileOffline = r.calls;
  await sleep(500);
  assert.equal((await run("offline")).calls, callsWhileOffline, "no attempts while offline");
  const back = Date.now();
  await page.context().setOffline(false);
  r = await until("offline", (r) => opens(r) === 2, 5000);
  assert.ok(Date.now() - back < 5000);
  const id = await publish(user, "Message", { text: "back" });
  r = await until("offline", (r) => r.events.length === 1);
  assert.deepEqual(r.events, [["Message", id, "back"]]);
  await page.evaluate(() => window.runs.offline.client.close());
});

test("bad options throw a TypeError at construction", async () => {
  const messages = await page.evaluate(() => {
    const attempt = (options) => {
      try {
        new window.EdgepushClient(options);
        return "no error";
      } catch (error) {
        return `${error.constructor.name}: ${error.message}`;
      }
    };
    return [attempt({ token: "t" }), attempt({ url: "ftp://x", token: "t" }), attempt({ url: "https://x" })];
  });
  assert.deepEqual(messages, [
    "TypeError: options.url must be a string",
    "TypeError: invalid client configuration: the URL must start with https://, http://, wss:// or ws://",
    "TypeError: options.token must be a string or a function returning a Promise of one",
  ]);
});
