// The JS face as an app uses it: the built ES module package (client-sdk/pkg, from
// scripts/build-sdk.sh) imported by a plain page in headless Chromium, against a running worker
// (EDGEPUSH_TEST_URL, started with the test secrets of scripts/env.sh).
//   EDGEPUSH_TEST_URL=http://127.0.0.1:8790 node --test client-sdk/tests/js/package.test.mjs
// With EDGEPUSH_RESTART_CMD (set by scripts/test.sh) the worker is really restarted once.
import assert from "node:assert/strict";
import { execSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

import { launchBrowser, mintToken, root, serveFiles, signature } from "../../../tests/js/testkit.mjs";

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

let server, browser, page, base;

before(async () => {
  assert.ok(workerUrl, "set EDGEPUSH_TEST_URL to the URL of a running worker");
  ({ server, base } = await serveFiles(pkg, { prefix: "/pkg/", pages: (path) => (path === "/" ? PAGE : undefined) }));
  browser = await launchBrowser();
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

// ---------- topics ----------
// The worker runs with TOPIC_NAMESPACES of scripts/env.sh: `product:*` and `feed:*` are public,
// `orders:#<user>` belongs to its user, `private:*` needs a grant.

const uniqueTopic = (namespace, tag) => `${namespace}:sdk-js-${tag}-${Date.now()}-${++users}`;

/** Publishes to topics in batches of 100; returns each event's answer ({topic, id, sockets, ...}). */
async function publishTopics(events) {
  const answers = [];
  for (let i = 0; i < events.length; i += 100) {
    const batch = events.slice(i, i + 100).map(([topic, name, payload]) => ({ topic, name, payload }));
    const { status, text } = await postSigned("/publish", JSON.stringify({ events: batch }));
    assert.equal(status, 202, text);
    answers.push(...JSON.parse(text).events);
  }
  return answers;
}

async function publishTopic(topic, name, payload) {
  const [answer] = await publishTopics([[topic, name, payload]]);
  return answer.id;
}

/** Waits until the server relays each topic's events to `sockets` sockets, probing with "Probe" events. */
async function untilSubscribed(topics, sockets = 1, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let waiting = topics;
  while (waiting.length > 0) {
    const answers = await publishTopics(waiting.map((topic) => [topic, "Probe", null]));
    waiting = waiting.filter((_, i) => (answers[i].sockets ?? 0) < sockets);
    if (waiting.length === 0) return;
    if (Date.now() > deadline) assert.fail(`not subscribed: ${waiting.length} topics, e.g. ${waiting[0]}`);
    await sleep(200);
  }
}

/** A second page with the package, for tests that need two browsers' worth of clients. */
async function openPage() {
  const other = await browser.newPage();
  other.on("pageerror", (error) => console.error("page error:", error));
  await other.exposeFunction("mintToken", mintToken);
  await other.goto(`${base}/`);
  await other.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
  return other;
}

/**
 * In `target` (a page), a client for `user` subscribed to `topics`, recording under
 * `window.subs[id]`: every topic event per topic (except probes), subscription errors and
 * resyncs, and anything that reached the client's own handlers. With `resume`, each topic
 * resumes from the position saved in the page's sessionStorage under "positions".
 */
async function subscribeClient(target, id, user, topics, { withErrorHandler = true, resume = false } = {}) {
  await target.evaluate(
    ({ id, user, topics, url, withErrorHandler, resume }) => {
      const positions = resume ? JSON.parse(sessionStorage.getItem("positions")) : {};
      const run = { states: [], clientErrors: [], clientEvents: [], events: {}, errors: [], resyncs: [], subs: {} };
      (window.subs ??= {})[id] = run;
      const client = new window.EdgepushClient({
        url,
        token: () => window.mintToken(user, 600),
        minDelayMs: 100,
        maxDelayMs: 500,
      });
      run.client = client;
      client.onState((s) => run.states.push(s.state));
      client.onError((e) => run.clientErrors.push([e.code, e.message]));
      client.on("ProductChanged", (e) => run.clientEvents.push(e));
      client.onUnknown((e) => run.clientEvents.push(e));
      for (const topic of topics) {
        const sub = client.subscribe(topic, positions[topic] && { resume: positions[topic] });
        run.subs[topic] = sub;
        run.events[topic] = [];
        sub.on("ProductChanged", (e) => run.events[topic].push([e.topic, e.id, e.name, e.payload, typeof e.ts]));
        sub.on("Probe", () => {});
        sub.onResync(() => run.resyncs.push(topic));
        if (withErrorHandler) sub.onError((e) => run.errors.push([e.topic, e.code, typeof e.message]));
      }
      client.connect();
    },
    { id, user, topics, url: workerUrl, withErrorHandler, resume },
  );
}

const subRun = (target, id) =>
  target.evaluate((id) => {
    const { states, clientErrors, clientEvents, events, errors, resyncs } = window.subs[id];
    return { states, clientErrors, clientEvents: clientEvents.length, events, errors, resyncs };
  }, id);

async function untilSub(target, id, predicate, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await subRun(target, id);
    if (predicate(current)) return current;
    if (Date.now() > deadline) assert.fail(`timed out; last seen: ${JSON.stringify(current).slice(0, 2000)}`);
    await sleep(50);
  }
}

test("two pages subscribed to one topic both see a publish to it, at their subscriptions only", async () => {
  const topic = uniqueTopic("feed", "two");
  const other = await openPage();
  try {
    await subscribeClient(page, "two-a", uniqueUser("two-a"), [topic]);
    await subscribeClient(other, "two-b", uniqueUser("two-b"), [topic]);
    await untilSubscribed([topic], 2);
    const ids = [
      await publishTopic(topic, "ProductChanged", { price: 1 }),
      await publishTopic(topic, "ProductChanged", { price: 2 }),
    ];
    const expected = ids.map((id, i) => [topic, id, "ProductChanged", { price: i + 1 }, "number"]);
    for (const [target, id] of [[page, "two-a"], [other, "two-b"]]) {
      const r = await untilSub(target, id, (r) => r.events[topic].length >= 2);
      await sleep(200);
      assert.deepEqual((await subRun(target, id)).events[topic], expected, id);
      assert.equal(r.clientEvents, 0, "topic events do not reach the client's handlers");
      assert.deepEqual([r.errors, r.clientErrors, r.resyncs], [[], [], []]);
    }
    // Unsubscribing one page: the other still gets the topic's events, the first none.
    await page.evaluate(() => window.subs["two-a"].subs[Object.keys(window.subs["two-a"].subs)[0]].unsubscribe());
    await untilSubscribed([topic], 1);
    const third = await publishTopic(topic, "ProductChanged", { price: 3 });
    await untilSub(other, "two-b", (r) => r.events[topic].length === 3);
    await sleep(300);
    assert.deepEqual((await subRun(page, "two-a")).events[topic].map((e) => e[1]), ids);
    assert.equal((await subRun(other, "two-b")).events[topic][2][1], third);
  } finally {
    await page.evaluate(() => window.subs["two-a"].client.close());
    await other.close();
  }
});

test("a namespace with shards is read over topic sockets the SDK opens itself: a publish costs one request per shard, not per reader", async () => {
  // `crowd` has 4 shards (scripts/env.sh): the server refuses its topics over the user's
  // connection (topic_socket_required) and the SDK moves them to sockets of their own, unseen
  // by the app; a second topic of the namespace goes there at once.
  const stage = uniqueTopic("crowd", "stage");
  const side = uniqueTopic("crowd", "side");
  const feed = uniqueTopic("feed", "beside");
  const readers = Array.from({ length: 12 }, (_, i) => `crowd-${i}`);
  for (const [i, id] of readers.entries()) {
    await subscribeClient(page, id, uniqueUser(id), i === 0 ? [stage, feed, side] : [stage]);
  }
  await untilSubscribed([stage], readers.length);
  await untilSubscribed([feed, side], 1);
  const [answer] = await publishTopics([[stage, "ProductChanged", { act: 1 }]]);
  assert.equal(answer.sockets, readers.length, JSON.stringify(answer));
  assert.ok(answer.relays >= 1 && answer.relays <= 4, `12 readers, 4 shards: ${JSON.stringify(answer)}`);
  const ids = [answer.id];
  const [other] = await publishTopics([[side, "ProductChanged", { act: 0 }], [feed, "ProductChanged", { act: 0 }]]);
  if (process.env.EDGEPUSH_RESTART_CMD) {
    // Topic sockets come back after a restart and resume from their last id.
    await untilSub(page, readers[0], (r) => r.events[stage].length === 1 && r.events[side].length === 1);
    execSync(process.env.EDGEPUSH_RESTART_CMD, { cwd: root, stdio: "inherit" });
    await untilSubscribed([stage], readers.length, 60000);
  }
  ids.push(await publishTopic(stage, "ProductChanged", { act: 2 }));
  for (const id of readers) {
    await untilSub(page, id, (r) => r.events[stage].length >= 2, 30000);
  }
  await sleep(300);
  for (const id of readers) {
    const r = await subRun(page, id);
    assert.deepEqual(r.events[stage].map((e) => [e[0], e[1], e[3].act]), ids.map((n, i) => [stage, n, i + 1]), id);
    assert.deepEqual([r.errors, r.clientErrors, r.resyncs, r.clientEvents], [[], [], [], 0], id);
  }
  const first = await subRun(page, readers[0]);
  assert.deepEqual(first.events[side].map((e) => e[1]), [other.id]);
  assert.equal(first.events[feed].length, 1);
  // Unsubscribing closes that topic socket; closing a client closes all of its own.
  await page.evaluate((id) => window.subs[id].subs[Object.keys(window.subs[id].subs)[0]].unsubscribe(), readers[1]);
  await untilSubscribed([stage], readers.length - 1);
  for (const id of readers) await page.evaluate((id) => window.subs[id].client.close(), id);
  const deadline = Date.now() + 15000;
  for (;;) {
    const [probe] = await publishTopics([[stage, "Probe", null]]);
    if ((probe.sockets ?? 0) === 0) break;
    if (Date.now() > deadline) assert.fail(`topic sockets left open: ${JSON.stringify(probe)}`);
    await sleep(200);
  }
});

test("a page not allowed to read a topic gets the unsubscribed error and none of its events", async () => {
  const owner = uniqueUser("owner");
  const orders = `orders:#${owner}`;
  const secret = uniqueTopic("private", "secret");
  const stranger = uniqueUser("stranger");
  await subscribeClient(page, "owner", owner, [orders]);
  await subscribeClient(page, "stranger", stranger, [orders, secret]);
  const r = await untilSub(page, "stranger", (r) => r.errors.length === 2);
  assert.deepEqual(
    r.errors.sort(),
    [[orders, "topic_forbidden", "string"], [secret, "topic_forbidden", "string"]].sort(),
  );
  await untilSubscribed([orders], 1);
  const id = await publishTopic(orders, "ProductChanged", { order: 1 });
  await publishTopic(secret, "ProductChanged", { order: 2 });
  await untilSub(page, "owner", (r) => r.events[orders].length === 1);
  await sleep(500);
  const after = await subRun(page, "stranger");
  assert.deepEqual(after.events, { [orders]: [], [secret]: [] }, "the stranger saw nothing");
  assert.equal(after.clientEvents, 0);
  assert.deepEqual(after.clientErrors, [], "refusals went to the subscriptions' handlers");
  assert.deepEqual(after.states.slice(-1), ["open"], "the connection stays");
  assert.equal((await subRun(page, "owner")).events[orders][0][1], id);
  // Without an error handler on the subscription, the client's onError hears the refusal.
  await subscribeClient(page, "bare", uniqueUser("bare"), [orders], { withErrorHandler: false });
  const bare = await untilSub(page, "bare", (r) => r.clientErrors.length === 1);
  assert.equal(bare.clientErrors[0][0], "server_error");
  assert.match(bare.clientErrors[0][1], /topic_forbidden/);
  for (const id of ["owner", "stranger", "bare"]) await page.evaluate((id) => window.subs[id].client.close(), id);
});

test("a subscription survives a reconnect and resumes: what was published meanwhile arrives once, in order", async () => {
  const user = uniqueUser("topic-restart");
  const topic = uniqueTopic("product", "resume");
  await subscribeClient(page, "resume", user, [topic]);
  await untilSubscribed([topic], 1);
  const ids = [await publishTopic(topic, "ProductChanged", { n: 1 })];
  await untilSub(page, "resume", (r) => r.events[topic].length === 1);
  if (process.env.EDGEPUSH_RESTART_CMD) {
    execSync(process.env.EDGEPUSH_RESTART_CMD, { cwd: root, stdio: "inherit" });
  } else {
    await postSigned("/disconnect", JSON.stringify({ user, reconnect: true }));
  }
  ids.push(await publishTopic(topic, "ProductChanged", { n: 2 }));
  ids.push(await publishTopic(topic, "ProductChanged", { n: 3 }));
  await untilSub(page, "resume", (r) => r.events[topic].length >= 3 && r.states.filter((s) => s === "open").length >= 2, 60000);
  ids.push(await publishTopic(topic, "ProductChanged", { n: 4 }));
  await untilSub(page, "resume", (r) => r.events[topic].length >= 4);
  await sleep(300);
  const r = await subRun(page, "resume");
  assert.deepEqual(r.events[topic].map((e) => [e[1], e[3].n]), ids.map((id, i) => [id, i + 1]));
  assert.ok(r.states.includes("reconnecting"), JSON.stringify(r.states));
  assert.deepEqual([r.errors, r.resyncs, r.clientErrors], [[], [], []]);
  await page.evaluate(() => window.subs.resume.client.close());
});

test("a subscription's position saved before a reload resumes its topic on the next page: what was published meanwhile arrives once, in order", async () => {
  // Relayed over the user's socket, and read over a topic socket (`crowd` has shards).
  const topics = [uniqueTopic("feed", "reload"), uniqueTopic("crowd", "reload")];
  const user = uniqueUser("reload");
  const other = await openPage();
  try {
    await subscribeClient(other, "before", user, topics);
    await untilSubscribed(topics, 1);
    const seen = await publishTopics(topics.map((topic) => [topic, "ProductChanged", { n: 1 }]));
    await untilSub(other, "before", (r) => topics.every((topic) => r.events[topic].length === 1));
    // The page saves where each subscription is, and reloads.
    const saved = await other.evaluate((topics) => {
      const positions = Object.fromEntries(topics.map((topic) => [topic, window.subs.before.subs[topic].position]));
      sessionStorage.setItem("positions", JSON.stringify(positions));
      return positions;
    }, topics);
    assert.deepEqual(topics.map((topic) => saved[topic].lastId), seen.map((answer) => answer.id));
    await other.reload();
    await other.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
    const missed = await publishTopics(topics.flatMap((topic) => [2, 3].map((n) => [topic, "ProductChanged", { n }])));
    await subscribeClient(other, "after", user, topics, { resume: true });
    await untilSub(other, "after", (r) => topics.every((topic) => r.events[topic].length >= 2), 20000);
    await untilSubscribed(topics, 1);
    const live = await publishTopics(topics.map((topic) => [topic, "ProductChanged", { n: 4 }]));
    await untilSub(other, "after", (r) => topics.every((topic) => r.events[topic].length >= 3));
    await sleep(300);
    const r = await subRun(other, "after");
    for (const topic of topics) {
      const ids = [...missed, ...live].filter((answer) => answer.topic === topic).map((answer) => answer.id);
      assert.deepEqual(r.events[topic].map((e) => [e[1], e[3].n]), ids.map((id, i) => [id, i + 2]), topic);
    }
    assert.deepEqual([r.errors, r.resyncs, r.clientErrors, r.clientEvents], [[], [], [], 0]);
    await other.evaluate(() => window.subs.after.client.close());
  } finally {
    await other.close();
  }
});

test("1,024 topics subscribed on one page are all acknowledged and each gets its events", async () => {
  const tag = uniqueTopic("product", "wide").slice("product:".length);
  const topics = Array.from({ length: 1024 }, (_, i) => `product:${tag}-${i}`);
  await subscribeClient(page, "wide", uniqueUser("wide"), topics);
  await untilSubscribed(topics, 1, 60000);
  const answers = await publishTopics(topics.map((topic, i) => [topic, "ProductChanged", { i }]));
  const r = await untilSub(page, "wide", (r) => topics.every((t) => r.events[t].length >= 1), 30000);
  for (const [i, topic] of topics.entries()) {
    assert.deepEqual(r.events[topic], [[topic, answers[i].id, "ProductChanged", { i }, "number"]], topic);
  }
  assert.deepEqual([r.errors, r.clientErrors], [[], []]);
  assert.equal(r.states.filter((s) => s === "open").length, 1, `never dropped (no frame budget overrun): ${JSON.stringify([r.states, r.clientErrors])}`);
  await page.evaluate(() => window.subs.wide.client.close());
});

// ---------- viewer counts, presence, subscriptions the backend made ----------

/** In `target`, a client for `user` subscribed to `topic`, recording its counts and presence. */
async function watchClient(target, id, user, topic) {
  await target.evaluate(
    ({ id, user, topic, url }) => {
      const run = { counts: [], presence: [], errors: [] };
      (window.watches ??= {})[id] = run;
      const client = new window.EdgepushClient({ url, token: () => window.mintToken(user, 600), minDelayMs: 100, maxDelayMs: 500 });
      run.client = client;
      client.onError((e) => run.errors.push([e.code, e.message]));
      const sub = client.subscribe(topic);
      sub.onOccupancy((count) => run.counts.push(count));
      sub.onPresence((user, present) => run.presence.push([user, present]));
      sub.onError((e) => run.errors.push([e.code, e.message]));
      client.connect();
    },
    { id, user, topic, url: workerUrl },
  );
}

async function untilWatch(target, id, predicate, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await target.evaluate((id) => {
      const { counts, presence, errors } = window.watches[id];
      return { counts, presence, errors };
    }, id);
    if (predicate(current)) return current;
    if (Date.now() > deadline) assert.fail(`timed out; last seen: ${JSON.stringify(current)}`);
    await sleep(50);
  }
}

test("the viewer count follows pages opening and closing (2 → 3 → 2)", async () => {
  // `live` counts its sockets, at most one occupancy frame per 200 ms.
  const topic = uniqueTopic("live", "viewers");
  const last = (r) => r.counts[r.counts.length - 1];
  const second = await openPage();
  let third;
  try {
    await watchClient(page, "v1", uniqueUser("v1"), topic);
    await watchClient(second, "v2", uniqueUser("v2"), topic);
    await untilWatch(page, "v1", (r) => last(r) === 2);
    await untilWatch(second, "v2", (r) => last(r) === 2);
    third = await openPage();
    await watchClient(third, "v3", uniqueUser("v3"), topic);
    for (const [target, id] of [[page, "v1"], [second, "v2"], [third, "v3"]]) {
      await untilWatch(target, id, (r) => last(r) === 3);
    }
    await third.close(); // the page is gone: its socket closes
    third = null;
    for (const [target, id] of [[page, "v1"], [second, "v2"]]) {
      const r = await untilWatch(target, id, (r) => last(r) === 2);
      assert.deepEqual(r.errors, []);
      // Counts settle: a count between two relays may be off for a moment (docs/topics.md).
      assert.ok(r.counts.every((n) => Number.isInteger(n) && n >= 1), JSON.stringify(r.counts));
    }
  } finally {
    await third?.close();
    await second.close();
    await page.evaluate(() => window.watches.v1.client.close());
  }
});

test("presence: a page hears other users join and leave the topic", async () => {
  const topic = uniqueTopic("live", "presence");
  const watcher = uniqueUser("watcher");
  const visitor = uniqueUser("visitor");
  const other = await openPage();
  try {
    await watchClient(page, "p1", watcher, topic);
    await untilWatch(page, "p1", (r) => r.presence.some(([u, p]) => u === watcher && p));
    await watchClient(other, "p2", visitor, topic);
    await untilWatch(page, "p1", (r) => r.presence.some(([u, p]) => u === visitor && p));
    await other.evaluate(() => window.watches.p2.client.close());
    const r = await untilWatch(page, "p1", (r) => r.presence.some(([u, p]) => u === visitor && !p));
    const visits = r.presence.filter(([u]) => u === visitor);
    assert.deepEqual(visits, [[visitor, true], [visitor, false]]);
    assert.deepEqual(r.errors, []);
  } finally {
    await other.close();
    await page.evaluate(() => window.watches.p1.client.close());
  }
});

test("events of a topic the backend subscribed the user to reach the client's handlers and resume after a reconnect", async () => {
  const user = uniqueUser("backend-subs");
  const topic = uniqueTopic("feed", "backend");
  const { status, text } = await postSigned("/subscribe", JSON.stringify({ user, topics: [topic] }));
  assert.equal(status, 200, text);
  await page.evaluate(
    ({ user, url }) => {
      const run = { events: [], states: [], errors: [], resyncs: 0 };
      window.backendRun = run;
      const client = new window.EdgepushClient({ url, token: () => window.mintToken(user, 600), minDelayMs: 100, maxDelayMs: 500 });
      run.client = client;
      client.onState((s) => run.states.push(s.state));
      client.onError((e) => run.errors.push([e.code, e.message]));
      client.onResync(() => (run.resyncs += 1));
      client.on("Posted", (e) => run.events.push([e.topic, e.id, e.payload.n]));
      client.connect();
    },
    { user, url: workerUrl },
  );
  const backendRun = () =>
    page.evaluate(() => {
      const { events, states, errors, resyncs } = window.backendRun;
      return { events, states, errors, resyncs };
    });
  const until = async (predicate, timeoutMs = 30000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await backendRun();
      if (predicate(r)) return r;
      if (Date.now() > deadline) assert.fail(`timed out; last seen: ${JSON.stringify(r)}`);
      await sleep(50);
    }
  };
  await untilSubscribed([topic], 1);
  const ids = [await publishTopic(topic, "Posted", { n: 1 })];
  await until((r) => r.events.length === 1);
  await postSigned("/disconnect", JSON.stringify({ user, reconnect: true }));
  ids.push(await publishTopic(topic, "Posted", { n: 2 }));
  ids.push(await publishTopic(topic, "Posted", { n: 3 }));
  await until((r) => r.events.length >= 3 && r.states.filter((s) => s === "open").length >= 2);
  ids.push(await publishTopic(topic, "Posted", { n: 4 }));
  await until((r) => r.events.length >= 4);
  await sleep(300);
  const r = await backendRun();
  assert.deepEqual(r.events, ids.map((id, i) => [topic, id, i + 1]), "every event once, in order, with its topic");
  assert.deepEqual([r.errors, r.resyncs], [[], 0]);
  await page.evaluate(() => window.backendRun.client.close());
});

// ---------- removing handlers ----------

test("every on… returns a function that removes its handler: a removed handler is never called", async () => {
  const user = uniqueUser("remove");
  const topic = uniqueTopic("live", "remove");
  await page.evaluate(
    ({ user, topic, url }) => {
      const run = { seen: [], kept: [], removers: [] };
      window.removeRun = run;
      const client = new window.EdgepushClient({ url, token: () => window.mintToken(user, 600), minDelayMs: 100, maxDelayMs: 500 });
      run.client = client;
      const removed = (label) => (...args) => run.seen.push([label, ...args.map((a) => a?.name ?? a?.code ?? a)]);
      const sub = client.subscribe(topic);
      // Registered, then removed before anything happens: every kind of handler of both faces.
      run.removers = [
        client.on("A", removed("on")),
        client.onMessage(removed("onMessage")),
        client.onBackground(removed("onBackground")),
        client.onUnknown(removed("onUnknown")),
        client.onState(removed("onState")),
        client.onError(removed("onError")),
        client.onResync(removed("onResync")),
        sub.on("P", removed("sub.on")),
        sub.onResync(removed("sub.onResync")),
        sub.onError(removed("sub.onError")),
        sub.onOccupancy(removed("sub.onOccupancy")),
        sub.onPresence(removed("sub.onPresence")),
      ];
      run.types = run.removers.map((off) => typeof off);
      for (const off of run.removers) off();
      run.removers[0](); // again: harmless
      // The ones that stay, to know when the events arrived.
      client.on("A", (e) => run.kept.push(["A", e.id]));
      client.onState((s) => run.kept.push(["state", s.state]));
      sub.on("P", (e) => run.kept.push(["P", e.id]));
      sub.onOccupancy((count) => run.kept.push(["occupancy", count]));
      // A handler removed by an earlier one while an event is delivered is not called for it.
      let later = () => {};
      client.on("B", (e) => {
        run.kept.push(["first B", e.id]);
        later();
      });
      later = client.on("B", removed("removed during delivery"));
      // A throwing handler: with the error handler removed, the error goes to the console only.
      client.on("C", () => {
        throw new Error("boom");
      });
      client.connect();
    },
    { user, topic, url: workerUrl },
  );
  const removeRun = () => page.evaluate(() => ({ seen: window.removeRun.seen, kept: window.removeRun.kept, types: window.removeRun.types }));
  const untilKept = async (predicate, timeoutMs = 15000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await removeRun();
      if (predicate(r)) return r;
      if (Date.now() > deadline) assert.fail(`timed out; last seen: ${JSON.stringify(r)}`);
      await sleep(50);
    }
  };
  await untilKept((r) => r.kept.some(([k, v]) => k === "state" && v === "open"));
  await untilSubscribed([topic], 1);
  const a = await publish(user, "A", {});
  await publish(user, "Message", { text: "x" });
  await publish(user, "Background", { color: "red" });
  await publish(user, "Other", {});
  const b1 = await publish(user, "B", {});
  const b2 = await publish(user, "B", {});
  await publish(user, "C", {});
  const p = await publishTopic(topic, "P", {});
  const r = await untilKept((r) => r.kept.some(([k]) => k === "P") && r.kept.some(([k]) => k === "occupancy") && r.kept.some(([k, v]) => k === "first B" && v === b2));
  await sleep(300);
  const last = await removeRun();
  assert.deepEqual(r.types, Array(12).fill("function"));
  assert.deepEqual(last.seen, [], "removed handlers were called");
  assert.deepEqual(
    last.kept.filter(([k]) => k !== "state" && k !== "occupancy"),
    [["A", a], ["first B", b1], ["first B", b2], ["P", p]],
  );
  assert.ok(last.kept.some(([k, v]) => k === "occupancy" && v === 1));
  await page.evaluate(() => window.removeRun.client.close());
});
