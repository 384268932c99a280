// The Mercure hub (docs/mercure.md) as a browser reads it: a plain `EventSource` in headless
// Debian Chromium, on an app's page, against the built worker under `wrangler dev` (issue 14,
// "What must hold").
//
//   node --test tests/js/mercure.test.mjs   (after scripts/build-worker.sh and scripts/build-sdk.sh)
//
// The suite starts its own worker (target/js-e2e/mercure), because one test kills it, and serves
// the app's page from another origin (a Symfony app beside its hub), which the worker lets
// subscribe with credentials (MERCURE_CORS_ORIGINS). Updates are published the way
// `symfony/mercure` posts them; the subscriber's token reaches the hub the ways the bundle gives
// it: the `mercureAuthorization` cookie (`Authorization::setCookie()`), or the `authorization`
// query parameter. It prints the publish→EventSource latency (not an assertion).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { launchBrowser, mintMercure, mintToken, now, root, serveFiles, signature, startWorker } from "./testkit.mjs";

const HUB_PATH = "/.well-known/mercure";
/** How long a published update may take to reach a page. */
const EVENT_WAIT_MS = 5000;
/** How long a page may take to have every update after the worker is back. */
const RESUME_WAIT_MS = 30000;

// Distinct topics per run.
const runId = `${process.pid}-${Date.now().toString(36)}`;
const book = (name) => `https://example.com/books/${runId}/${name}`;

const pkg = join(root, "client-sdk", "pkg");

// The app's pages: a blank one (what a Twig page with `mercure()` renders around its script), and
// one that imports the SDK package as an app does (client-sdk/tests/js/package.test.mjs).
const BLANK = `<!doctype html><meta charset="utf-8"><title>app</title>`;
const SDK_PAGE = `<!doctype html><meta charset="utf-8"><title>app with the SDK</title>
<script type="module">
  import init, { EdgepushClient } from "/pkg/edgepush_client.js";
  await init();
  window.EdgepushClient = EdgepushClient;
  window.ready = true;
</script>`;

let app; // the app's server
let appOrigin;
let worker;
let hub; // the hub's URL, as MERCURE_PUBLIC_URL
let browser;

before(async () => {
  for (const file of ["server/build/entry.js", "client-sdk/pkg/edgepush_client.js"]) {
    if (!existsSync(join(root, file))) {
      throw new Error(`${file} is missing: run scripts/build-worker.sh and scripts/build-sdk.sh`);
    }
  }
  const pages = { "/": BLANK, "/sdk": SDK_PAGE };
  ({ server: app, base: appOrigin } = await serveFiles(pkg, { prefix: "/pkg/", pages: (path) => pages[path] }));
  [worker, browser] = await Promise.all([
    startWorker("mercure", { args: ["--var", `MERCURE_CORS_ORIGINS:${appOrigin}`] }),
    launchBrowser(),
  ]);
  hub = `${worker.url}${HUB_PATH}`;
});

after(async () => {
  await browser?.close();
  await worker?.stop("SIGKILL");
  app?.close();
});

// ---------- publishing, as symfony/mercure does ----------

const publisherToken = mintMercure({ publish: ["*"] });

/**
 * Posts an update (`topic` a string or a list, `data`, `id`, `type`, `retry`, `private`) as
 * `symfony/mercure`'s `Hub::publish()` does; resolves to the answer's status and text.
 */
async function postUpdate({ topic, data, id, type, retry, private: isPrivate }) {
  const form = new URLSearchParams();
  for (const t of [topic].flat()) form.append("topic", t);
  if (data !== undefined) form.append("data", data);
  if (isPrivate) form.append("private", "on");
  if (id !== undefined) form.append("id", id);
  if (type !== undefined) form.append("type", type);
  if (retry !== undefined) form.append("retry", String(retry));
  const response = await fetch(hub, {
    method: "POST",
    headers: { Authorization: `Bearer ${publisherToken}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: form.toString(),
  });
  return { status: response.status, text: await response.text() };
}

/** Publishes an update; fails the test unless the hub answers 200 with its id. */
async function publishUpdate(update) {
  const { status, text } = await postUpdate(update);
  assert.equal(status, 200, text);
  if (update.id !== undefined) assert.equal(text, update.id);
  return text;
}

/** Publishes again with the same id (the idempotency key) until the hub takes it: a restart. */
async function publishUntilAccepted(update, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { status, text } = await postUpdate(update);
      if (status === 200) return text;
      if (Date.now() > deadline) assert.fail(`${update.id}: ${status} ${text}`);
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await sleep(100);
  }
}

/** A signed edgepush `POST /publish` of one topic event; resolves to its answer. */
async function publishTopicEvent(topic, name, payload) {
  const body = JSON.stringify({ events: [{ topic, name, payload }] });
  const response = await fetch(`${worker.url}/publish`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Edgepush-Signature": signature("POST", "/publish", body) },
    body,
  });
  const text = await response.text();
  assert.equal(response.status, 202, text);
  return JSON.parse(text).events[0];
}

// ---------- pages ----------

/** A subscriber token as the bundle mints it: `mercure.subscribe` selectors and an `exp`. */
const subscriberToken = (selectors, ttl = 600) => mintMercure({ subscribe: selectors, exp: now() + ttl });

/**
 * A page of the app in a browser context of its own; with `cookie`, the context holds the
 * `mercureAuthorization` cookie `Authorization::setCookie()` sets for a hub on `http://`: host-only
 * on the hub's host, the hub's path, HttpOnly, SameSite=Strict. `page.hubRequests` lists the
 * subscribe requests the page makes (promises of their `Last-Event-ID`), `page.failedHubRequests`
 * the times of those that failed.
 */
async function openApp({ cookie, path = "/" } = {}) {
  const context = await browser.newContext();
  if (cookie) {
    await context.addCookies([
      {
        name: "mercureAuthorization",
        value: cookie,
        domain: new URL(worker.url).hostname,
        path: HUB_PATH,
        httpOnly: true,
        secure: false,
        sameSite: "Strict",
      },
    ]);
  }
  const page = await context.newPage();
  page.problems = [];
  page.hubRequests = [];
  page.failedHubRequests = [];
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    if (request.url().startsWith(hub) && request.method() === "GET") {
      // allHeaders(): the headers the network stack sent, Last-Event-ID among them.
      page.hubRequests.push(request.allHeaders().then((headers) => headers["last-event-id"] ?? null, () => undefined));
    }
  });
  page.on("requestfailed", (request) => {
    if (request.url().startsWith(hub)) page.failedHubRequests.push(performance.timeOrigin + performance.now());
  });
  await page.goto(`${appOrigin}${path}`);
  return page;
}

/**
 * In `page`, a plain `EventSource` on the hub for `topics` (with `query` added to the URL),
 * `withCredentials` as the bundle's docs write it. Everything it hears is recorded under
 * `window.streams[name]`: each event of the `types` (plus unnamed ones, `message`) with its
 * `lastEventId` and the time it arrived, the `open` and `error` events, and its `readyState`.
 */
async function listen(page, name, topics, { types = [], query = "" } = {}) {
  const url = `${hub}?${[topics].flat().map((t) => `topic=${encodeURIComponent(t)}`).join("&")}${query}`;
  await page.evaluate(
    ({ name, url, types }) => {
      const stream = { events: [], opens: 0, errors: 0 };
      (window.streams ??= {})[name] = stream;
      const source = new EventSource(url, { withCredentials: true });
      stream.source = source;
      const record = (event) =>
        stream.events.push({
          type: event.type,
          id: event.lastEventId,
          data: event.data,
          at: performance.timeOrigin + performance.now(),
        });
      for (const type of types) source.addEventListener(type, record);
      source.onmessage = record;
      source.onopen = () => (stream.opens += 1);
      source.onerror = () => (stream.errors += 1);
    },
    { name, url, types },
  );
}

const streamOf = (page, name) =>
  page.evaluate((name) => {
    const { events, opens, errors, source } = window.streams[name];
    return { events, opens, errors, readyState: source.readyState };
  }, name);

/** Waits until the stream satisfies `predicate`; returns what it has. */
async function until(page, name, predicate, timeoutMs = EVENT_WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stream = await streamOf(page, name);
    if (predicate(stream)) return stream;
    if (Date.now() > deadline) assert.fail(`${name}: timed out; last seen ${JSON.stringify(stream).slice(0, 1500)}`);
    await sleep(25);
  }
}

const opened = (page, name) => until(page, name, (s) => s.opens >= 1 && s.readyState === 1);
const close = (page, name) => page.evaluate((name) => window.streams[name].source.close(), name);
const brief = (events) => events.map(({ type, id, data }) => ({ type, id, data }));

// ---------- the tests ----------

describe("a plain EventSource on an app's page", () => {
  test("with the mercureAuthorization cookie: updates with their type, id and data, in order", async () => {
    const topic = book("cookie");
    const page = await openApp({ cookie: subscriberToken([topic]) });
    await listen(page, "cookie", topic, { types: ["BookUpdated"] });
    await opened(page, "cookie");
    // The cookie is HttpOnly: the page cannot read it; the browser sends it to the hub.
    assert.equal(await page.evaluate(() => document.cookie), "");

    await publishUpdate({
      topic,
      data: '{"status":"OutOfStock"}\nsecond line',
      id: `urn:uuid:${runId}-1`,
      type: "BookUpdated",
      retry: 4000,
    });
    await publishUpdate({ topic, data: "no type: a message event", id: `${runId}-2` });
    const generated = await publishUpdate({ topic, data: "a generated id", type: "BookUpdated" });
    assert.match(generated, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Another topic's update does not reach it.
    await publishUpdate({ topic: book("cookie-other"), data: "elsewhere", type: "BookUpdated" });
    await publishUpdate({ topic, data: "last", id: `${runId}-4`, type: "BookUpdated" });

    const seen = await until(page, "cookie", (s) => s.events.length >= 4);
    await sleep(300); // a stray or duplicate update would show up by now
    assert.deepEqual(brief((await streamOf(page, "cookie")).events), [
      { type: "BookUpdated", id: `urn:uuid:${runId}-1`, data: '{"status":"OutOfStock"}\nsecond line' },
      { type: "message", id: `${runId}-2`, data: "no type: a message event" },
      { type: "BookUpdated", id: generated, data: "a generated id" },
      { type: "BookUpdated", id: `${runId}-4`, data: "last" },
    ]);
    assert.equal(seen.opens, 1);
    assert.equal(seen.errors, 0);
    // The page's origin subscribed with credentials across origins.
    assert.notEqual(new URL(appOrigin).origin, new URL(hub).origin);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("without a token the hub refuses it (401) and the EventSource gives up", async () => {
    const page = await openApp();
    await listen(page, "none", book("cookie"));
    const stream = await until(page, "none", (s) => s.readyState === 2);
    assert.equal(stream.opens, 0);
    assert.equal(stream.errors, 1);
    // The same with a token whose signature is wrong, given in the query.
    const forged = mintMercure({ subscribe: ["*"], exp: now() + 600 }).replace(/\.[^.]+$/, ".AAAA");
    await listen(page, "forged", book("cookie"), { query: `&authorization=${forged}` });
    assert.equal((await until(page, "forged", (s) => s.readyState === 2)).opens, 0);
    await page.context().close();
  });

  test("with the token in the authorization query parameter", async () => {
    const topic = book("query");
    const page = await openApp();
    await listen(page, "query", topic, {
      types: ["BookUpdated"],
      query: `&authorization=${encodeURIComponent(subscriberToken([topic]))}`,
    });
    await opened(page, "query");
    await publishUpdate({ topic, data: "one", id: `${runId}-q1`, type: "BookUpdated" });
    await publishUpdate({ topic, data: "two", id: `${runId}-q2`, type: "BookUpdated" });
    await until(page, "query", (s) => s.events.length >= 2);
    await sleep(300);
    assert.deepEqual(brief((await streamOf(page, "query")).events), [
      { type: "BookUpdated", id: `${runId}-q1`, data: "one" },
      { type: "BookUpdated", id: `${runId}-q2`, data: "two" },
    ]);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("a page of an origin allowed to subscribe cannot publish, even holding a publisher token", async () => {
    const topic = book("blind");
    const page = await openApp();
    await listen(page, "blind", topic, {
      query: `&authorization=${encodeURIComponent(subscriberToken([topic]))}`,
    });
    await opened(page, "blind");
    // The preflight allows the page's origin to subscribe (GET), not to POST.
    const outcome = await page.evaluate(
      async ({ hub, token, topic }) => {
        try {
          const answer = await fetch(hub, {
            method: "POST",
            headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({ topic, data: "from a page" }),
          });
          return `answered ${answer.status}`;
        } catch (err) {
          return `refused: ${err.name}`;
        }
      },
      { hub, token: publisherToken, topic },
    );
    assert.equal(outcome, "refused: TypeError");
    await publishUpdate({ topic, data: "from the backend", id: `${runId}-b1` });
    await until(page, "blind", (s) => s.events.length >= 1);
    await sleep(300);
    assert.deepEqual(brief((await streamOf(page, "blind")).events), [
      { type: "message", id: `${runId}-b1`, data: "from the backend" },
    ]);
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("private updates reach only the page whose mercure.subscribe selectors match", async () => {
    const topic = book("private");
    const alice = `https://example.com/users/${runId}-alice/inbox`;
    const bob = `https://example.com/users/${runId}-bob`;
    // Alice's token holds a URI template, Bob's an exact topic (and a template of nothing here).
    const pageA = await openApp({ cookie: subscriberToken([`https://example.com/users/${runId}-alice/{box}`]) });
    const pageB = await openApp({ cookie: subscriberToken([bob, "https://example.com/other/{id}"]) });
    await listen(pageA, "alice", topic);
    await listen(pageB, "bob", topic);
    await Promise.all([opened(pageA, "alice"), opened(pageB, "bob")]);

    await publishUpdate({ topic, data: "public 1", id: `${runId}-p1` });
    await publishUpdate({ topic: [topic, alice], data: "for Alice", id: `${runId}-alice`, private: true });
    await publishUpdate({ topic: [topic, bob], data: "for Bob", id: `${runId}-bob`, private: true });
    await publishUpdate({ topic, data: "for nobody here", id: `${runId}-nobody`, private: true });
    await publishUpdate({ topic, data: "public 2", id: `${runId}-p2` });

    // One topic's updates come in order: once "public 2" is there, every private one was decided.
    await until(pageA, "alice", (s) => s.events.some((e) => e.id === `${runId}-p2`));
    await until(pageB, "bob", (s) => s.events.some((e) => e.id === `${runId}-p2`));
    await sleep(300);
    const ids = async (page, name) => (await streamOf(page, name)).events.map((e) => e.id);
    assert.deepEqual(await ids(pageA, "alice"), [`${runId}-p1`, `${runId}-alice`, `${runId}-p2`]);
    assert.deepEqual(await ids(pageB, "bob"), [`${runId}-p1`, `${runId}-bob`, `${runId}-p2`]);
    assert.deepEqual([...pageA.problems, ...pageB.problems], []);
    await pageA.context().close();
    await pageB.context().close();
  });
});

describe("one topic space with the SDK", () => {
  test("a Mercure update of product:<x> reaches the SDK, an edgepush publish the EventSource", async () => {
    const topic = `product:mercure-${runId}`;
    const sdkPage = await openApp({ path: "/sdk" });
    await sdkPage.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
    await sdkPage.evaluate(
      ({ url, token, topic }) => {
        const run = (window.sdk = { events: [], errors: [] });
        const client = new window.EdgepushClient({ url, token });
        run.client = client;
        client.onError((e) => run.errors.push(`${e.code}: ${e.message}`));
        const sub = client.subscribe(topic);
        sub.on("ProductChanged", (e) => run.events.push({ topic: e.topic, id: e.id, payload: e.payload }));
        sub.on("Probe", () => {});
        sub.onError((e) => run.errors.push(`${e.code}: ${e.message}`));
        client.connect();
      },
      { url: worker.url, token: mintToken(`mercure-sdk-${runId}`), topic },
    );
    // Subscribed once the topic relays its events to one socket (probes, as the SDK tests do).
    const deadline = Date.now() + 15000;
    let probe;
    while (((probe = await publishTopicEvent(topic, "Probe", null)).sockets ?? 0) < 1) {
      assert.ok(Date.now() < deadline, "the SDK page did not subscribe");
      await sleep(100);
    }

    const esPage = await openApp({ cookie: subscriberToken([topic]) });
    await listen(esPage, "product", topic, { types: ["ProductChanged"] });
    await opened(esPage, "product");

    await publishUpdate({ topic, data: '{"price":1}', id: `${runId}-price-1`, type: "ProductChanged" });
    const published = await publishTopicEvent(topic, "ProductChanged", { price: 2 });
    assert.equal(published.id, probe.id + 2, "one history: the update and the event follow the probe");

    await sdkPage.waitForFunction(() => window.sdk.events.length >= 2, null, { timeout: EVENT_WAIT_MS });
    await until(esPage, "product", (s) => s.events.length >= 2);
    await sleep(300);
    const sdk = await sdkPage.evaluate(() => ({ events: window.sdk.events, errors: window.sdk.errors }));
    assert.deepEqual(sdk, {
      events: [
        {
          topic,
          id: probe.id + 1,
          payload: {
            id: `${runId}-price-1`,
            data: '{"price":1}',
            private: false,
            type: "ProductChanged",
            topics: [topic],
          },
        },
        { topic, id: published.id, payload: { price: 2 } },
      ],
      errors: [],
    });
    assert.deepEqual(brief((await streamOf(esPage, "product")).events), [
      { type: "ProductChanged", id: `${runId}-price-1`, data: '{"price":1}' },
      { type: "ProductChanged", id: `${topic}/${published.id}`, data: '{"price":2}' },
    ]);
    assert.deepEqual([...sdkPage.problems, ...esPage.problems], []);
    await sdkPage.evaluate(() => window.sdk.client.close());
    await sdkPage.context().close();
    await esPage.context().close();
  });
});

describe("measured", () => {
  test("publish→EventSource latency, one subscriber (printed, not asserted)", async () => {
    const N = 50;
    const WARMUP = 5;
    const topic = book("latency");
    const page = await openApp({ cookie: subscriberToken([topic]) });
    await listen(page, "latency", topic);
    await opened(page, "latency");
    const sent = [];
    for (let i = 0; i < WARMUP + N; i += 1) {
      sent.push(performance.timeOrigin + performance.now());
      await publishUpdate({ topic, data: String(i), id: `${runId}-l${i}` });
      // One update in flight: the next is published once this one arrived.
      await until(page, "latency", (s) => s.events.length > i);
    }
    const { events } = await streamOf(page, "latency");
    assert.deepEqual(events.map((e) => e.data), Array.from({ length: WARMUP + N }, (_, i) => String(i)));
    const ms = events.slice(WARMUP).map((e, i) => e.at - sent[WARMUP + i]).sort((a, b) => a - b);
    const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(1);
    console.log("| measure | n | median | p90 | min | max |");
    console.log(
      `| publish→EventSource, 1 subscriber, wrangler dev | ${N} | ${at(0.5)} ms | ${at(0.9)} ms | ${ms[0].toFixed(1)} ms | ${ms.at(-1).toFixed(1)} ms |`,
    );
    await page.context().close();
  });
});

describe("across a crash of the worker", () => {
  test("the EventSource reconnects with Last-Event-ID: every update once, in order", async () => {
    const N = 30;
    const CRASH_AFTER = 12;
    const RESUME_AT = 20;
    const RETRY_MS = 300;
    const topic = book("crash");
    const page = await openApp({ cookie: subscriberToken([topic]) });
    await listen(page, "crash", topic, { types: ["Numbered"] });
    await opened(page, "crash");

    // Numbered updates, each published again with its id until the hub takes it, so a retry across
    // the crash never stores twice; `retry` sets the EventSource's reconnection delay. From the
    // crash until update RESUME_AT is stored after the restart, the page cannot reach the hub (its
    // requests fail as while the worker was down), so those updates can only come by the resume.
    const update = (n) => ({ topic, data: `update ${n} of ${N}`, id: `${runId}-c${n}`, type: "Numbered", retry: RETRY_MS });
    const cutOff = (route) => route.abort("connectionrefused");
    let restarted;
    let downAt;
    let shownAtCrash;
    for (let n = 1; n <= N; n += 1) {
      assert.equal(await publishUntilAccepted(update(n)), update(n).id);
      if (n === CRASH_AFTER) {
        shownAtCrash = (await streamOf(page, "crash")).events.length;
        await worker.stop("SIGKILL");
        downAt = performance.timeOrigin + performance.now();
        await page.route(`${hub}?*`, cutOff);
        restarted = worker.start();
      }
      if (n === RESUME_AT) {
        await restarted;
        await page.unroute(`${hub}?*`, cutOff);
      }
      await sleep(30);
    }
    const stream = await until(page, "crash", (s) => s.events.length >= N, RESUME_WAIT_MS);
    await sleep(1000); // a late duplicate would show up by now
    const { events, readyState } = await streamOf(page, "crash");
    assert.deepEqual(
      brief(events),
      Array.from({ length: N }, (_, i) => ({ type: "Numbered", id: update(i + 1).id, data: update(i + 1).data })),
    );
    assert.equal(readyState, 1);
    assert.ok(stream.opens >= 2 && stream.errors >= 1, JSON.stringify({ opens: stream.opens, errors: stream.errors }));

    // It reconnected by itself, saying where it was: the first request had no Last-Event-ID, the
    // one that got through after the crash the id of the last update it had then.
    const requests = await Promise.all(page.hubRequests);
    assert.equal(requests[0], null);
    const ids = events.map((e) => e.id);
    const resumedFrom = requests.at(-1);
    assert.ok(ids.slice(Math.max(0, shownAtCrash - 1), CRASH_AFTER).includes(resumedFrom), `resumed from ${resumedFrom}`);
    // While cut off it tried again every `retry` ms, not the browser's default 3 s.
    const failed = page.failedHubRequests.filter((t) => t > downAt);
    const gaps = failed.slice(1).map((t, i) => t - failed[i]).sort((a, b) => a - b);
    assert.ok(gaps.length >= 2 && gaps[Math.floor(gaps.length / 2)] < 2000, `gaps ${gaps.map(Math.round)}`);
    console.log(
      `crash after update ${CRASH_AFTER} (the page had ${shownAtCrash}); ${requests.length} subscribe requests, ` +
        `${failed.length} failed while down; resumed from ${resumedFrom}`,
    );
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});
