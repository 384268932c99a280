// The SDK's React hooks and Stimulus controller as apps use them, against a running worker
// (EDGEPUSH_TEST_URL, started with the test secrets of scripts/env.sh):
//   EDGEPUSH_TEST_URL=http://127.0.0.1:8790 node --test client-sdk/tests/js/frameworks.test.mjs
// The tarball of scripts/build-sdk.sh is installed with `npm install --offline` into a copy of
// client-sdk/tests/frameworks-app (target/sdk-frameworks/), which uses the real react, react-dom
// and @hotwired/stimulus of the repository's devDependencies (the package's peers are optional,
// so the offline install asks npm for none); tsc checks the apps' JS against the helpers' types
// through the package's exports; Vite builds them (React's development build, which runs
// <StrictMode>'s double mount). Headless Chromium then opens:
// - the React app, under <StrictMode>: one socket, each event handled once, by the latest
//   handler; a topic of useEdgepushTopic; the socket closed on unmount; a new url makes a new
//   client, on which the topic resumes. The same component rendered with react-dom/server in
//   Node touches no socket, fetch or wasm.
// - the Stimulus app in the Symfony app of frameworks-app/symfony (`php -S`, the real bundle): the
//   page whose element edgepush_stimulus_controller() rendered for the logged-in user connects with
//   a token of the bundle's /edgepush/token and dispatches a published event as `edgepush:event`,
//   which the app's own controller gets through data-action; removing the element closes the
//   socket; the element back on the page (as after a Turbo visit) resumes its topics; for an
//   anonymous visitor the helper renders no controller and nothing connects.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomInt, randomUUID } from "node:crypto";
import { cpSync, existsSync, readFileSync, rmSync } from "node:fs";
import { register } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel } from "node:worker_threads";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { env, freePort, launchBrowser, mintToken, root, serveFiles, signature } from "../../../tests/js/testkit.mjs";

const workerUrl = (process.env.EDGEPUSH_TEST_URL ?? "").replace(/\/$/, "");
const pkg = join(root, "client-sdk", "pkg");
const fixture = join(root, "client-sdk", "tests", "frameworks-app");
const app = join(root, "target", "sdk-frameworks", "app");
const dist = join(app, "dist");
const bin = (name) => join(root, "node_modules", ".bin", name);
/** How long nothing more may arrive after an event, to call it delivered exactly once. */
const QUIET_MS = 500;

let browser;

before(async () => {
  assert.ok(workerUrl, "set EDGEPUSH_TEST_URL to the URL of a running worker");
  const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  const tarball = join(root, "target", "npm", `edgepush-client-${version}.tgz`);
  assert.ok(existsSync(tarball), `${tarball} is missing: run scripts/build-sdk.sh`);

  rmSync(app, { recursive: true, force: true });
  cpSync(fixture, app, { recursive: true });
  const run = (command, args) => {
    try {
      execFileSync(command, args, { cwd: app, stdio: ["ignore", "pipe", "inherit"] });
    } catch (error) {
      throw new Error(`${command} ${args.join(" ")} failed:\n${error.stdout}`);
    }
  };
  run("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball]);
  // The peers stay optional: the install added no react or stimulus of its own.
  assert.ok(!existsSync(join(app, "node_modules", "react")), "npm installed react for the package");
  assert.ok(!existsSync(join(app, "node_modules", "@hotwired")), "npm installed @hotwired/stimulus for the package");
  run(bin("tsc"), ["-p", "."]);
  run(bin("vite"), ["build", "--logLevel", "warn"]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

async function publish(body) {
  const text = JSON.stringify(body);
  const response = await fetch(`${workerUrl}/publish`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Edgepush-Signature": signature("POST", "/publish", text),
      "Idempotency-Key": randomUUID(),
    },
    body: text,
  });
  const answer = await response.text();
  assert.equal(response.status, 202, answer);
  return JSON.parse(answer);
}

/** A page that records its WebSockets and fails the test on page errors and failed loads. */
async function openPage() {
  const page = await browser.newPage();
  const sockets = [];
  const problems = [];
  page.on("websocket", (socket) => sockets.push(socket));
  page.on("pageerror", (error) => problems.push(String(error)));
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && problems.push(m.text()));
  page.on("response", (r) => r.status() >= 400 && !r.url().endsWith("/favicon.ico") && problems.push(`${r.status()} ${r.url()}`));
  return { page, sockets, problems };
}

/** Resolves once `socket` (a Playwright WebSocket) is closed. */
async function closed(socket, timeout = 5000) {
  if (socket.isClosed()) return;
  await socket.waitForEvent("close", { timeout });
}

const record = (page) => page.evaluate(() => window.seen);

/** Publishes "Probe" events to `topic` until the server relays them to `count` sockets. */
async function subscribers(topic, count, timeout = 15000) {
  for (let deadline = Date.now() + timeout; ; await sleep(200)) {
    const { events } = await publish({ events: [{ topic, name: "Probe", payload: null }] });
    if ((events[0].sockets ?? 0) === count) return;
    assert.ok(Date.now() < deadline, `${topic} has ${events[0].sockets} subscribed sockets, not ${count}`);
  }
}

/**
 * A topic resumed on a page's next client: "before" is published to `topic` and handled, `away()`
 * takes the page's client away, two events are published, `back()` brings the next client, and
 * one more event follows; `window.seen[list]` must hold the four, once each, in order, as
 * `label(text)`.
 */
async function resumesTopic(page, topic, list, label, away, back) {
  const posted = (text) => ({ topic, name: "Posted", payload: { text } });
  const handled = (count) => page.waitForFunction(([list, count]) => window.seen[list].length === count, [list, count], { timeout: 15000 });
  await subscribers(topic, 1);
  await publish({ events: [posted("before")] });
  await handled(1);
  await away();
  await publish({ events: [posted("meanwhile 1"), posted("meanwhile 2")] });
  await back();
  await handled(3);
  await subscribers(topic, 1);
  await publish({ events: [posted("after")] });
  await handled(4);
  await sleep(QUIET_MS);
  const texts = ["before", "meanwhile 1", "meanwhile 2", "after"];
  assert.deepEqual((await record(page))[list], texts.map(label));
}

describe("React: @edgepush/client/react", () => {
  let server;
  let base;

  before(async () => {
    ({ server, base } = await serveFiles(dist, { index: "react.html" }));
  });

  after(() => server?.close());

  test("under <StrictMode>: one socket, every event handled once by the latest handler, a topic, closed on unmount", async () => {
    const user = `sdk-react-${Date.now()}-${randomInt(1e6)}`;
    const topic = `feed:sdk-react-${Date.now()}-${randomInt(1e6)}`;
    const { page, sockets, problems } = await openPage();
    try {
      const fragment = new URLSearchParams({ url: workerUrl, token: mintToken(user, 600), topic });
      await page.goto(`${base}/react.html#${fragment}`);
      await page
        .waitForFunction(() => document.getElementById("status")?.textContent === "open", null, { timeout: 15000 })
        .catch((error) => assert.fail(`the app did not connect: ${problems.join("; ") || error.message}`));
      assert.equal((await record(page)).mounts, 2, "React's development build mounted <Messages> twice (StrictMode)");

      await publish({ user, name: "Message", payload: { text: "hello" } });
      await page.waitForFunction(() => window.seen.received.length > 0, null, { timeout: 10000 });
      await sleep(QUIET_MS);
      assert.deepEqual((await record(page)).received, ["first:hello"]);

      // A re-render with a new handler (and a new token function): the same client calls the new one.
      await page.click("#relabel");
      await page.waitForFunction(() => document.getElementById("relabel")?.textContent === "second");
      await publish({ user, name: "Message", payload: { text: "again" } });
      await page.waitForFunction(() => window.seen.received.length > 1, null, { timeout: 10000 });
      await sleep(QUIET_MS);
      assert.deepEqual((await record(page)).received, ["first:hello", "second:again"]);
      assert.deepEqual(await page.$$eval("li", (items) => items.map((li) => li.textContent)), ["first:hello", "second:again"]);

      // The topic of useEdgepushTopic (subscribed after the client connected: publish until it is),
      // and unsubscribed when <Feed> unmounts while the client stays.
      await subscribers(topic, 1);
      await publish({ events: [{ topic, name: "Posted", payload: { text: "news" } }] });
      await page.waitForFunction(() => window.seen.posted.length > 0, null, { timeout: 10000 });
      await sleep(QUIET_MS);
      assert.deepEqual((await record(page)).posted, [`${topic}:news`]);
      await page.click("#hide-feed");
      await subscribers(topic, 0);

      assert.equal(sockets.length, 1, "one socket for the page's life, through the double mount and re-renders");
      assert.equal(sockets[0].isClosed(), false);
      await page.evaluate(() => window.unmount());
      await closed(sockets[0]);
      await publish({ user, name: "Message", payload: { text: "after unmount" } });
      await sleep(QUIET_MS);
      assert.deepEqual((await record(page)).received, ["first:hello", "second:again"]);
      assert.equal(sockets.length, 1);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test("a new client (a new url string) resumes the topic of useEdgepushTopic: what was published while the clients changed arrives once, in order", async () => {
    const user = `sdk-react-${Date.now()}-${randomInt(1e6)}`;
    const topic = `feed:sdk-react-next-${Date.now()}-${randomInt(1e6)}`;
    const { page, sockets, problems } = await openPage();
    try {
      const fragment = new URLSearchParams({ url: workerUrl, token: mintToken(user, 600), topic });
      await page.goto(`${base}/react.html#${fragment}`);
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "open", null, { timeout: 15000 });
      // Offline, the next client waits for the network: what is published meanwhile is published
      // while no client reads the topic. <Feed> unmounts and mounts again with the new client.
      const away = async () => {
        await page.context().setOffline(true);
        await page.evaluate((url) => window.rerender({ url: `${url}/` }), workerUrl);
        await page.waitForFunction(() => document.getElementById("status")?.textContent === "offline", null, { timeout: 10000 });
      };
      const back = () => page.context().setOffline(false);
      await resumesTopic(page, topic, "posted", (text) => `${topic}:${text}`, away, back);
      assert.equal(sockets.length, 2, "a socket per client");
      await closed(sockets[0]);
      assert.deepEqual(problems, []);
      await page.evaluate(() => window.unmount());
    } finally {
      await page.close();
    }
  });

  test("a server render (react-dom/server in Node) of the same components renders the idle state and loads no SDK module and touches no socket, fetch or wasm", async () => {
    // Every module Node loads from here on, reported by a resolve hook (which runs off-thread).
    const loaded = [];
    const { port1, port2 } = new MessageChannel();
    port1.on("message", (url) => loaded.push(url));
    port1.unref();
    const hook = `let port;
      export function initialize(data) { port = data.port; }
      export async function resolve(specifier, context, next) {
        const resolved = await next(specifier, context);
        port.postMessage(resolved.url);
        return resolved;
      }`;
    register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { port: port2 }, transferList: [port2] });
    const touched = [];
    const saved = {
      WebSocket: globalThis.WebSocket,
      fetch: globalThis.fetch,
      instantiate: WebAssembly.instantiate,
      instantiateStreaming: WebAssembly.instantiateStreaming,
    };
    const spy = (name, real) =>
      function (...args) {
        touched.push(name);
        return real.apply(this, args);
      };
    globalThis.WebSocket = spy("WebSocket", saved.WebSocket);
    globalThis.fetch = spy("fetch", saved.fetch);
    WebAssembly.instantiate = spy("WebAssembly.instantiate", saved.instantiate);
    WebAssembly.instantiateStreaming = spy("WebAssembly.instantiateStreaming", saved.instantiateStreaming);
    try {
      // Resolved from the installed copy, as the app's server bundle would: @edgepush/client/react
      // through the package's exports, react and react-dom/server of the repository.
      const { Live, Messages, Feed } = await import(pathToFileURL(join(app, "src", "live.js")).href);
      const { createElement: h, StrictMode } = await import(pathToFileURL(join(root, "node_modules", "react", "index.js")).href);
      const { renderToString } = await import(pathToFileURL(join(root, "node_modules", "react-dom", "server.node.js")).href);
      const html = renderToString(
        h(
          StrictMode,
          null,
          h(Live, { url: workerUrl, token: mintToken("ssr", 600), topic: "feed:ssr" }),
          h(Messages, { client: null }),
          h(Feed, { client: null, topic: "feed:ssr" }),
        ),
      );
      assert.equal(typeof window, "undefined");
      assert.equal(
        html,
        '<section><p id="status">idle</p><button id="hide-feed">hide the feed</button></section><div><button id="relabel">first</button><ul></ul></div><p id="feed">feed:ssr</p>',
      );
      await sleep(200); // anything an effect or a dynamic import would have started
      assert.deepEqual(touched, []);
      const sdk = loaded.filter((url) => url.includes("/node_modules/@edgepush/client/"));
      assert.deepEqual(
        sdk.map((url) => url.slice(url.lastIndexOf("/") + 1)).sort(),
        ["load-sdk.js", "react.js"],
        "the hooks' module and its loader only, not the SDK's",
      );
    } finally {
      globalThis.WebSocket = saved.WebSocket;
      globalThis.fetch = saved.fetch;
      WebAssembly.instantiate = saved.instantiate;
      WebAssembly.instantiateStreaming = saved.instantiateStreaming;
    }
  });
});

describe("Stimulus: @edgepush/client/stimulus in a Symfony app, rendered by edgepush_stimulus_controller()", () => {
  let php;
  let base;

  before(async () => {
    const port = await freePort();
    php = spawn("php", ["-S", `127.0.0.1:${port}`, "-t", dist, join(fixture, "symfony", "index.php")], {
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
      env: {
        ...process.env,
        EDGEPUSH_URL: workerUrl,
        EDGEPUSH_JWT_SECRET: env.jwtSecret,
        EDGEPUSH_KEY_ID: env.keyId,
        EDGEPUSH_PUBLISH_SECRET: env.publishSecret,
      },
    });
    php.log = "";
    php.stderr.on("data", (chunk) => (php.log = (php.log + chunk).slice(-4000)));
    base = `http://127.0.0.1:${port}`;
    for (const deadline = Date.now() + 15000; ; await sleep(100)) {
      try {
        const response = await fetch(`${base}/edgepush/token`);
        assert.equal(response.status, 401, await response.text()); // nobody logged in
        break;
      } catch (error) {
        if (php.exitCode !== null || Date.now() > deadline) throw new Error(`php -S did not start: ${error.message}\n${php.log}`);
      }
    }
  });

  after(() => {
    if (php?.exitCode === null) process.kill(-php.pid, "SIGTERM");
  });

  /** Opens the app's page, logged in as `user` (a cookie) or anonymous. */
  async function openApp(user) {
    const opened = await openPage();
    if (user) await opened.page.context().addCookies([{ name: "user", value: user, url: base }]);
    const tokenRequests = [];
    opened.page.on("request", (r) => new URL(r.url()).pathname === "/edgepush/token" && tokenRequests.push(r.url()));
    await opened.page.goto(`${base}/`);
    return { ...opened, tokenRequests };
  }

  test("the logged-in user's page connects, gets a published event as an edgepush:event DOM event, and closes when the element goes", async () => {
    const user = String(randomInt(1e9, 2e9));
    const { page, sockets, problems, tokenRequests } = await openApp(user);
    try {
      const element = await page.$eval("#edgepush", (e) => Object.fromEntries([...e.attributes].map((a) => [a.name, a.value])));
      assert.deepEqual(element, {
        id: "edgepush",
        "data-controller": "edgepush",
        "data-edgepush-url-value": workerUrl,
        "data-edgepush-token-url-value": "/edgepush/token",
        "data-action": "edgepush:event->log#add edgepush:state->log#state",
      });
      await page
        .waitForFunction(() => window.seen.states.includes("open"), null, { timeout: 15000 })
        .catch((error) => assert.fail(`the page did not connect: ${problems.join("; ") || error.message}\n${php.log}`));
      assert.equal(tokenRequests.length, 1);

      await publish({ user, name: "Message", payload: { text: "hello stimulus" } });
      await page.waitForFunction(() => window.seen.received.length > 0, null, { timeout: 10000 });
      await sleep(QUIET_MS);
      assert.deepEqual((await record(page)).received, ["Message:hello stimulus"]);
      assert.deepEqual(await page.$$eval("li", (items) => items.map((li) => li.textContent)), ["hello stimulus"]);

      assert.equal(sockets.length, 1);
      await page.evaluate(() => document.getElementById("edgepush").remove());
      await closed(sockets[0]);
      await publish({ user, name: "Message", payload: { text: "after disconnect" } });
      await sleep(QUIET_MS);
      assert.deepEqual((await record(page)).received, ["Message:hello stimulus"]);
      assert.equal(sockets.length, 1);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test("the element back on the page (as after a Turbo visit) resumes its topics: what was published while it was gone arrives once, in order", async () => {
    const user = String(randomInt(1e9, 2e9));
    const topic = `feed:sdk-stimulus-${Date.now()}-${randomInt(1e6)}`;
    const { page, sockets, problems } = await openApp(user);
    try {
      await page.waitForFunction(() => window.seen.states.includes("open"), null, { timeout: 15000 });
      // Values changed while connected (as Turbo 8 morphing does): the topic, and its events.
      await page.evaluate((topic) => {
        const element = document.getElementById("edgepush");
        element.setAttribute("data-edgepush-events-value", '["Posted"]');
        element.setAttribute("data-edgepush-topics-value", JSON.stringify([topic]));
      }, topic);
      // The element leaves the page (its client closes), and comes back: a new client.
      const away = async () => {
        await page.evaluate(() => {
          window.element = document.getElementById("edgepush");
          window.element.remove();
        });
        await closed(sockets[0]);
      };
      const back = () => page.evaluate(() => document.querySelector("[data-controller=log]").prepend(window.element));
      await resumesTopic(page, topic, "received", (text) => `Posted:${text}`, away, back);
      assert.equal(sockets.length, 2, "a socket per client");
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  test("an anonymous visitor's page has no controller: no token request, no socket", async () => {
    const { page, sockets, problems, tokenRequests } = await openApp(null);
    try {
      assert.equal(await page.$eval("#edgepush", (e) => e.hasAttribute("data-controller")), false);
      await page.waitForFunction(() => window.seen !== undefined, null, { timeout: 10000 }); // the bundle ran
      await sleep(QUIET_MS);
      assert.deepEqual(tokenRequests, []);
      assert.deepEqual(sockets, []);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });
});
