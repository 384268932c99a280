// The page a Twig `mercure()` call renders, with the authorization cookie, for real (issue 14): a
// PHP app (tests/js/fixtures/mercure-app, under `php -S`) that uses symfony/mercure as the
// bundle wires it (Debian's php-symfony-mercure, php-twig, HttpKernel): its template calls
// `mercure('https://example.com/books/1', {subscribe: ...})`, which has `Authorization` set the
// `mercureAuthorization` cookie on the response, and its page opens
// `new EventSource(url, {withCredentials: true})`. Updates are published by the app's
// `Hub::publish()`. Headless Debian Chromium opens the pages; the hub is the built worker under
// `wrangler dev` (target/js-e2e/mercure-app).
//
//   node --test tests/js/mercure-app.test.mjs   (after scripts/build-worker.sh)
//
// Two layouts, one worker:
// - app on http://localhost:<A>, hub on http://localhost:<B>: the library sees one host and sets
//   a host-only cookie, which the browser sends to the hub because cookies ignore ports;
// - app on http://app.example.com:<C>, hub on http://push.example.com:<B> (the browser maps
//   *.example.com to 127.0.0.1): a production layout, where the library sets the cookie for the
//   parent domain (`Domain=example.com`).
// The library refuses any other pair: an app on 127.0.0.1 with its hub on localhost cannot render
// the page (docs/mercure.md, "The authorization cookie").
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { env, freePort, launchBrowser, root, startWorker } from "./testkit.mjs";

const HUB_PATH = "/.well-known/mercure";
const BOOK = "https://example.com/books/1";
/** How long a published update may take to reach a page. */
const EVENT_WAIT_MS = 5000;

const APP = join(root, "tests", "js", "fixtures", "mercure-app");

let worker;
let browser;
const apps = {}; // name -> { origin, internal, process }

/**
 * Serves the fixture app with `php -S` in a process group of its own, with a Symfony app's
 * MERCURE_* settings; resolves once it answers.
 */
async function startApp(port, { url, publicUrl }) {
  const child = spawn("php", ["-S", `127.0.0.1:${port}`, "index.php"], {
    cwd: APP,
    detached: true,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, MERCURE_URL: url, MERCURE_PUBLIC_URL: publicUrl, MERCURE_JWT_SECRET: env.mercureSecret },
  });
  child.log = "";
  child.stderr.on("data", (chunk) => (child.log = (child.log + chunk).slice(-4000)));
  const internal = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    try {
      await fetch(`${internal}/`);
      return { internal, process: child };
    } catch (error) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`php -S did not start: ${error.message}\n${child.log}`);
      }
      await sleep(50);
    }
  }
}

before(async () => {
  if (!existsSync(join(root, "server/build/entry.js"))) {
    throw new Error("server/build/entry.js is missing: run scripts/build-worker.sh");
  }
  const [hubPort, localPort, domainPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const localOrigin = `http://localhost:${localPort}`;
  const domainOrigin = `http://app.example.com:${domainPort}`;
  let local;
  let domain;
  [worker, browser, local, domain] = await Promise.all([
    startWorker("mercure-app", {
      port: hubPort,
      args: ["--var", `MERCURE_CORS_ORIGINS:${localOrigin} ${domainOrigin}`],
    }),
    launchBrowser(["--host-resolver-rules=MAP *.example.com 127.0.0.1"]),
    // MERCURE_URL as the app reaches the hub, MERCURE_PUBLIC_URL as browsers do.
    startApp(localPort, {
      url: `http://localhost:${hubPort}${HUB_PATH}`,
      publicUrl: `http://localhost:${hubPort}${HUB_PATH}`,
    }),
    startApp(domainPort, {
      url: `http://127.0.0.1:${hubPort}${HUB_PATH}`,
      publicUrl: `http://push.example.com:${hubPort}${HUB_PATH}`,
    }),
  ]);
  apps.localhost = { ...local, origin: localOrigin, hub: `http://localhost:${hubPort}${HUB_PATH}` };
  apps.domain = { ...domain, origin: domainOrigin, hub: `http://push.example.com:${hubPort}${HUB_PATH}` };
});

after(async () => {
  await browser?.close();
  await worker?.stop("SIGKILL");
  for (const app of Object.values(apps)) {
    try {
      process.kill(-app.process.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Publishes through the app's `Hub::publish()`; resolves to the update's id. */
async function publish(app, { data, isPrivate = false }) {
  const form = new URLSearchParams({ topic: BOOK, data });
  if (isPrivate) form.set("private", "on");
  const response = await fetch(`${app.internal}/publish`, { method: "POST", body: form });
  const text = await response.text();
  assert.equal(response.status, 200, `${text}\n${app.process.log}`);
  return text;
}

/**
 * Opens the app's page `path` in a browser context of its own (no cookie yet); `page.setCookie`
 * is the response's Set-Cookie, `page.hubCookies` the Cookie headers of its requests to the hub.
 */
async function openPage(app, path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.problems = [];
  page.hubCookies = [];
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    if (request.url().startsWith(app.hub)) {
      page.hubCookies.push(request.allHeaders().then((headers) => headers.cookie ?? null));
    }
  });
  const response = await page.goto(`${app.origin}${path}`);
  assert.equal(response.status(), 200, `${path}: ${await response.text()}\n${app.process.log}`);
  page.setCookie = await response.headerValue("set-cookie");
  return page;
}

const heard = (page) =>
  page.evaluate(() => ({ ...window.heard, readyState: window.source.readyState }));

/** Waits until what the page heard satisfies `predicate`; returns it. */
async function until(page, predicate, timeoutMs = EVENT_WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = await heard(page);
    if (predicate(seen)) return seen;
    if (Date.now() > deadline) assert.fail(`timed out; the page heard ${JSON.stringify(seen).slice(0, 1500)}`);
    await sleep(25);
  }
}

const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());

/**
 * The test of one layout: the page for book 1's readers and the page for book 2's readers both
 * subscribe to book 1 with the cookie the app set; a private update of book 1 reaches only the
 * first, a public one both.
 */
async function privateAndPublic(app, { cookieDomain, domainAttribute }) {
  const own = await openPage(app, "/books/1");
  const other = await openPage(app, "/books/1/as-reader-of-2");

  for (const [page, selector] of [
    [own, BOOK],
    [other, "https://example.com/books/2"],
  ]) {
    // The URL mercure() rendered: the public hub URL and the topic, the token not in it.
    const { url } = await heard(page);
    assert.equal(url, `${app.hub}?topic=${encodeURIComponent(BOOK)}`);
    // The cookie Authorization::setCookie() made, as the browser keeps it.
    assert.match(page.setCookie, /^mercureAuthorization=[\w-]+\.[\w-]+\.[\w-]+; /);
    assert.equal(/; domain=/i.test(page.setCookie), domainAttribute, page.setCookie);
    const cookies = await page.context().cookies();
    assert.equal(cookies.length, 1, JSON.stringify(cookies));
    const [{ value, expires, ...cookie }] = cookies;
    assert.deepEqual(cookie, {
      name: "mercureAuthorization",
      domain: cookieDomain,
      path: HUB_PATH,
      httpOnly: true,
      secure: false,
      sameSite: "Strict",
    });
    assert.equal(expires, -1, "a session cookie (session.cookie_lifetime 0)");
    const claims = claimsOf(value);
    assert.deepEqual(claims.mercure, { publish: [], subscribe: [selector] });
    assert.ok(claims.exp > Date.now() / 1000, `exp ${claims.exp}`);
    // HttpOnly: the page cannot read it; the browser sends it to the hub, across origins.
    assert.equal(await page.evaluate(() => document.cookie), "");
    await until(page, (s) => s.opens >= 1 && s.readyState === 1);
    assert.deepEqual(await Promise.all(page.hubCookies), [`mercureAuthorization=${value}`]);
  }

  const secret = await publish(app, { data: "for readers of book 1", isPrivate: true });
  const open = await publish(app, { data: "for everyone" });
  // One topic's updates come in order: once the public one is there, the private one was decided.
  await until(own, (s) => s.events.some((e) => e.id === open));
  await until(other, (s) => s.events.some((e) => e.id === open));
  await sleep(300); // a stray or duplicate update would show up by now
  assert.deepEqual((await heard(own)).events, [
    { id: secret, data: "for readers of book 1" },
    { id: open, data: "for everyone" },
  ]);
  assert.deepEqual((await heard(other)).events, [{ id: open, data: "for everyone" }]);
  for (const page of [own, other]) {
    const { opens, errors } = await heard(page);
    assert.deepEqual({ opens, errors, problems: page.problems }, { opens: 1, errors: 0, problems: [] });
    await page.context().close();
  }
}

describe("a Symfony app's Twig mercure() page and its authorization cookie", () => {
  test("app and hub on localhost, other ports: a host-only cookie; private updates by its selectors", async () => {
    await privateAndPublic(apps.localhost, { cookieDomain: "localhost", domainAttribute: false });
  });

  test("app on app.example.com, hub on push.example.com: a cookie for example.com; the same", async () => {
    await privateAndPublic(apps.domain, { cookieDomain: ".example.com", domainAttribute: true });
  });

  test("the app on 127.0.0.1, its hub on localhost: the library sets no cookie, the page fails", async () => {
    const app = apps.localhost;
    const response = await fetch(`${app.internal}/books/1`);
    assert.equal(response.status, 500);
    await sleep(100); // the server's log line
    assert.match(app.process.log, /Unable to create authorization cookie for a hub on the different second-level domain "localhost"/);
  });
});
