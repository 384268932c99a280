// The demo page in headless Debian Chromium, against the built worker under `wrangler dev`
// (issue 4, and issue 5's "the SDK survives a server restart mid-stream" check).
//
//   node --test www/tests/demo.test.mjs   (after scripts/build-worker.sh, scripts/build-sdk.sh, www/build.sh)
//
// Uses the worker scripts/test.sh shares (EDGEPUSH_TEST_URL) or starts its own; the restart tests
// always start their own, on a free port with private storage under target/www-e2e/. Every test
// saves a screenshot to artifacts/www/ (git-ignored); www/tests/readme-screenshot.mjs makes the
// README's www/screenshot.png.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";

import * as h from "./harness.mjs";

const run = promisify(execFile);

/** How long a published event may take to show on the page. */
const EVENT_WAIT_MS = 5000;
/** How long the page may take to come back after the server is up again (backoff caps at 20 s). */
const RECONNECT_WAIT_MS = 45000;

// Distinct users per run, so runs against one shared worker never see each other's events.
const run_id = `${process.pid}-${Date.now().toString(36)}`;
const userId = (name) => `${name}-${run_id}`;

let browser;
let shared;

before(async () => {
  h.assertSdkBuilt();
  browser = await h.launchBrowser();
  shared = await h.sharedWorker();
});

after(async () => {
  await browser?.close();
  await shared?.stop();
});

const statusText = (page) => page.textContent("#status-text");
const waitLive = (page, timeout = 15000) =>
  page.waitForSelector('#status[data-state="live"]', { timeout });
const waitHeadline = (page, text, timeout = EVENT_WAIT_MS) =>
  page.waitForFunction((t) => document.getElementById("headline").textContent === t, text, {
    timeout,
  });
/** The signing CLI: an existing build, or a release build made now (scripts/dev.sh makes one). */
async function signingCli() {
  const built = ["release", "debug"]
    .map((profile) => join(h.root, "target", profile, "edgepush"))
    .find(existsSync);
  if (built) return built;
  await run("cargo", ["build", "--quiet", "--release", "-p", "edgepush-cli"], {
    cwd: h.root,
    maxBuffer: 16 << 20,
  });
  return join(h.root, "target", "release", "edgepush");
}

const bodyColor = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

describe("the demo page", () => {
  test("connects and shows that it is live, as which user", async () => {
    const user = userId("live");
    const page = await h.openDemo(browser, shared.url, h.mintToken(user));
    await waitLive(page);
    assert.equal(await statusText(page), "Live");
    assert.equal(await page.textContent("#user-chip-id"), user);
    assert.equal(await page.textContent("#fact-user"), `User ${user}`);
    assert.match(await page.textContent("#fact-expires"), /^in /);
    // The token is taken out of the address bar once read.
    assert.equal(new URL(page.url()).hash, "");
    assert.equal(await page.isHidden("#notice"), true);
    assert.deepEqual(page.sockets, [`${shared.url.replace("http", "ws")}/connect?refusal=close`]);
    await h.screenshot(page, "01-live");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("a new link pasted into the same tab: the page takes its token, as the new user", async () => {
    const first = userId("first");
    const second = userId("second");
    const page = await h.openDemo(browser, shared.url, h.mintToken(first));
    await waitLive(page);
    assert.equal(await page.textContent("#user-chip-id"), first);

    // Only the fragment changes (a same-document navigation, as when a link is pasted into the
    // address bar of a tab already on the page): no load of its own.
    await page.goto(`${shared.url}/#token=${h.mintToken(second)}`);
    await page.waitForFunction(
      (user) => document.getElementById("user-chip-id")?.textContent === user,
      second,
      { timeout: 15000 },
    );
    await waitLive(page);
    assert.equal(await page.textContent("#fact-user"), `User ${second}`);
    // The new token is taken out of the address bar too.
    assert.equal(new URL(page.url()).hash, "");
    // And the page is the new user's: their events arrive.
    await h.publish(shared.url, second, "Message", { text: "For the second user" });
    await waitHeadline(page, "For the second user");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("a signed Message sets the headline and a Background the page colour", async () => {
    const user = userId("demo");
    const page = await h.openDemo(browser, shared.url, h.mintToken(user, 86400));
    await waitLive(page);

    const started = Date.now();
    const message = await h.publish(shared.url, user, "Message", { text: "Hello from the backend" });
    await waitHeadline(page, "Hello from the backend");
    const messageMs = Date.now() - started;
    assert.equal(message.sockets, 1);
    assert.equal(await page.textContent("#headline-meta").then((t) => t.split(" · ")[0]), `Event #${message.id}`);

    const before = await bodyColor(page);
    await h.publish(shared.url, user, "Background", { color: "#c7d2fe" });
    await page.waitForFunction(
      () => getComputedStyle(document.body).backgroundColor === "rgb(199, 210, 254)",
      null,
      { timeout: EVENT_WAIT_MS },
    );
    assert.notEqual(before, "rgb(199, 210, 254)");
    await h.publish(shared.url, user, "Background", { color: "red" });
    await page.waitForFunction(
      () => getComputedStyle(document.body).backgroundColor === "rgb(255, 0, 0)",
      null,
      { timeout: EVENT_WAIT_MS },
    );
    // Back to the colour of the README's screenshot, and a friendlier headline for it.
    await h.publish(shared.url, user, "Background", { color: "#c7d2fe" });
    await h.publish(shared.url, user, "Message", { text: "Your order #1024 has shipped" });
    await waitHeadline(page, "Your order #1024 has shipped");
    await page.waitForFunction(
      () => getComputedStyle(document.body).backgroundColor === "rgb(199, 210, 254)",
      null,
      { timeout: EVENT_WAIT_MS },
    );

    // The log lists every event with its id, newest first.
    const ids = await h.loggedIds(page);
    assert.equal(ids.length, 5);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    assert.equal(ids[0], message.id);
    assert.equal(await page.textContent("#log-count"), "5");
    assert.equal(await page.textContent("#background-value"), "#c7d2fe");

    assert.equal(await page.getAttribute("body", "data-tone"), "light");
    await h.screenshot(page, "02-message-and-background");
    assert.deepEqual(page.problems, []);
    console.log(`# Message shown ${messageMs} ms after the publish call started`);
    await page.context().close();
  });

  test("two pages for two users: each sees only its own events", async () => {
    const alice = userId("alice");
    const bob = userId("bob");
    const pageA = await h.openDemo(browser, shared.url, h.mintToken(alice));
    const pageB = await h.openDemo(browser, shared.url, h.mintToken(bob));
    await Promise.all([waitLive(pageA), waitLive(pageB)]);

    await h.publish(shared.url, alice, "Message", { text: "For Alice only" });
    await h.publish(shared.url, bob, "Message", { text: "For Bob only" });
    await h.publish(shared.url, bob, "Background", { color: "rgb(1, 2, 3)" });
    await h.publish(shared.url, alice, "Background", { color: "rgb(250, 240, 230)" });
    await waitHeadline(pageA, "For Alice only");
    await waitHeadline(pageB, "For Bob only");
    await pageA.waitForFunction(() => document.querySelectorAll("#log li[data-id]").length === 2, null, {
      timeout: EVENT_WAIT_MS,
    });
    await pageB.waitForFunction(() => document.querySelectorAll("#log li[data-id]").length === 2, null, {
      timeout: EVENT_WAIT_MS,
    });
    await pageA.waitForTimeout(500); // a stray event would show up by now

    assert.equal(await bodyColor(pageA), "rgb(250, 240, 230)");
    assert.equal(await bodyColor(pageB), "rgb(1, 2, 3)");
    const textA = await pageA.textContent("#log");
    const textB = await pageB.textContent("#log");
    assert.doesNotMatch(textA, /Bob|rgb\(1, 2, 3\)/);
    assert.doesNotMatch(textB, /Alice|rgb\(250, 240, 230\)/);
    assert.deepEqual(await h.loggedIds(pageA), [1, 2]);
    assert.deepEqual(await h.loggedIds(pageB), [1, 2]);
    assert.equal(await pageA.textContent("#user-chip-id"), alice);
    assert.equal(await pageB.textContent("#user-chip-id"), bob);
    await h.screenshot(pageA, "03-two-users-alice");
    await h.screenshot(pageB, "03-two-users-bob");
    assert.deepEqual([...pageA.problems, ...pageB.problems], []);
    await pageA.context().close();
    await pageB.context().close();
  });

  test("the ready-made publishers: the signing CLI and the PHP examples", async (t) => {
    const user = userId("publishers");
    const page = await h.openDemo(browser, shared.url, h.mintToken(user));
    await waitLive(page);
    const publisherEnv = {
      ...process.env,
      EDGEPUSH_URL: shared.url,
      EDGEPUSH_KEY_ID: h.env.keyId,
      EDGEPUSH_PUBLISH_SECRET: h.env.publishSecret,
    };

    await t.test("edgepush publish (the signing CLI)", async () => {
      const cli = await signingCli();
      await run(cli, ["publish", "--user", user, "--name", "Message", "--payload", '{"text":"Sent with the CLI"}'], {
        env: publisherEnv,
      });
      await waitHeadline(page, "Sent with the CLI");
      await run(cli, ["publish", "--user", user, "--name", "Background", "--payload", '{"color":"#fde68a"}'], {
        env: publisherEnv,
      });
      await page.waitForFunction(
        () => getComputedStyle(document.body).backgroundColor === "rgb(253, 230, 138)",
        null,
        { timeout: EVENT_WAIT_MS },
      );
    });

    await t.test("php/examples/send_message.php and set_color.php", async () => {
      const send = join(h.root, "php", "examples", "send_message.php");
      const color = join(h.root, "php", "examples", "set_color.php");
      await run("php", [send, user, "Hello from PHP"], { env: publisherEnv });
      await waitHeadline(page, "Hello from PHP");
      await run("php", [color, user, "teal"], { env: publisherEnv });
      await page.waitForFunction(
        () => getComputedStyle(document.body).backgroundColor === "rgb(0, 128, 128)",
        null,
        { timeout: EVENT_WAIT_MS },
      );
    });

    await h.screenshot(page, "04-publishers");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("an expired token in the link: the page says so and does not retry", async () => {
    const page = await h.openDemo(browser, shared.url, h.mintToken(userId("late"), -120));
    await page.waitForSelector('#status[data-state="expired"]', { timeout: 10000 });
    assert.equal(await statusText(page), "Link expired");
    assert.equal(await page.isVisible("#notice"), true);
    assert.equal(await page.textContent("#notice-title"), "This demo link has expired");
    assert.match(await page.textContent("#notice-body"), /expired at .* \(2 min ago\)/);
    assert.match(await page.textContent("#notice-code"), /scripts\/dev\.sh/);
    // No loop: nothing is tried, now or later.
    await page.waitForTimeout(3000);
    assert.equal(await statusText(page), "Link expired");
    assert.deepEqual(page.sockets, []);
    await h.screenshot(page, "05-expired-link");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("a token that expires while the page is open: the page says so and stops", async () => {
    const page = await h.openDemo(browser, shared.url, h.mintToken(userId("expiring"), 8));
    await waitLive(page);
    await page.waitForSelector('#status[data-state="expired"]', { timeout: 15000 });
    assert.equal(await page.textContent("#notice-title"), "This demo link has expired");
    await page.waitForTimeout(2000);
    assert.equal(await statusText(page), "Link expired");
    assert.equal(page.sockets.length, 1, "no reconnect after the server closed for expiry");
    await h.screenshot(page, "06-token-expired-while-open");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });

  test("no token in the link: the page explains how to get one", async () => {
    const page = await h.openDemo(browser, shared.url, undefined);
    await page.waitForSelector("#notice:not([hidden])");
    assert.equal(await page.textContent("#notice-title"), "Open the demo link to connect");
    assert.equal(await statusText(page), "Not connected");
    assert.deepEqual(page.sockets, []);
    await h.screenshot(page, "07-no-token");
    assert.deepEqual(page.problems, []);
    await page.context().close();
  });
});

describe("the demo page across server restarts", () => {
  test("server stopped and started again: reconnecting, then live by itself, then new events", async () => {
    const worker = await h.startWorker("restart");
    try {
      const user = userId("restart");
      const page = await h.openDemo(browser, worker.url, h.mintToken(user));
      await waitLive(page);
      await h.publish(worker.url, user, "Message", { text: "Before the restart" });
      await waitHeadline(page, "Before the restart");

      await worker.stop("SIGTERM");
      await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: 15000 });
      assert.match(await statusText(page), /^Reconnecting( in \d+ s|…)$/);
      await h.screenshot(page, "08-reconnecting");

      await worker.start();
      const back = Date.now();
      await waitLive(page, RECONNECT_WAIT_MS);
      const reconnectMs = Date.now() - back;
      await h.publish(worker.url, user, "Message", { text: "After the restart" });
      await waitHeadline(page, "After the restart");
      assert.deepEqual(await h.loggedIds(page), [1, 2]);
      assert.equal(page.sockets.length >= 2, true);
      await h.screenshot(page, "09-back-live");
      // The server going away shows up as failed socket connections in the console; nothing else.
      assert.deepEqual(page.problems.filter((p) => !/WebSocket connection to .* failed/.test(p)), []);
      console.log(`# live again ${reconnectMs} ms after the server was up, ${page.sockets.length} sockets`);
      await page.context().close();
    } finally {
      await worker.stop("SIGKILL");
    }
  });

  test("SDK survives a server crash mid-stream: ids 1..N, no gap, no duplicate", async () => {
    const N = 40;
    const CRASH_AFTER = 18;
    const worker = await h.startWorker("stream");
    try {
      const user = userId("stream");
      const page = await h.openDemo(browser, worker.url, h.mintToken(user));
      await waitLive(page);

      // The publisher: numbered events, one every 40 ms, each retried with its own idempotency
      // key until the server takes it (so a retry across the crash never stores twice).
      let restarted;
      for (let n = 1; n <= N; n += 1) {
        const event = await h.publishUntilAccepted(
          worker.url, user, "Message", { text: `Message ${n} of ${N}` }, `stream-${run_id}-${n}`,
        );
        assert.equal(event.id, n, `event ${n} got id ${event.id}`);
        if (n === CRASH_AFTER) {
          const shown = (await h.loggedIds(page)).length;
          console.log(`# crash after event ${n} was acknowledged; the page had shown ${shown}`);
          // Crash the server right after an acknowledged publish: the page may not have every
          // event yet; start it again (same storage) while the publisher keeps retrying.
          await worker.stop("SIGKILL");
          restarted = worker.start();
        }
        await h.sleep(40);
      }
      await restarted;

      await waitHeadline(page, `Message ${N} of ${N}`, RECONNECT_WAIT_MS);
      await page.waitForTimeout(500); // a late duplicate would show up by now
      const ids = await h.loggedIds(page);
      assert.deepEqual(ids, Array.from({ length: N }, (_, i) => i + 1));
      const texts = await page.$$eval("#log li[data-id] .log-detail", (items) =>
        items.map((item) => item.textContent).reverse(),
      );
      assert.deepEqual(texts, Array.from({ length: N }, (_, i) => `“Message ${i + 1} of ${N}”`));
      assert.equal(await page.textContent("#log-count"), String(N));
      // It reconnected by resuming from the last id it had (the SDK's `since` and `epoch`).
      assert.match(page.sockets.at(-1), /\/connect\?refusal=close&since=\d+&epoch=/);
      await h.screenshot(page, "10-stream-after-crash");
      assert.deepEqual(page.problems.filter((p) => !/WebSocket connection to .* failed/.test(p)), []);
      await page.context().close();
    } finally {
      await worker.stop("SIGKILL");
    }
  });
});

describe("topics in the demo", () => {
  /** A signed publish of one event to a topic, as the Feed tab's commands send it. */
  async function publishToTopic(topic, name, payload) {
    const body = JSON.stringify({ topic, name, payload });
    const response = await fetch(`${shared.url}/publish`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Edgepush-Signature": h.signature("POST", "/publish", body) },
      body,
    });
    const text = await response.text();
    assert.equal(response.status, 202, text);
    return JSON.parse(text).events[0];
  }
  /** Opens the demo as `user` in `room` (its own `feed:` and `live:` topics). */
  async function openIn(room, user) {
    const page = await h.openDemo(browser, shared.url, `${h.mintToken(user)}&room=${room}`);
    await waitLive(page);
    return page;
  }
  const viewers = (page, count, timeout = 10000) =>
    page.waitForFunction((n) => document.getElementById("viewer-count").textContent === String(n), count, {
      timeout,
    });

  test("two pages both see an item published to the feed topic", async () => {
    const room = `r-${run_id}-feed`;
    const a = await openIn(room, userId("feed-a"));
    const b = await openIn(room, userId("feed-b"));
    assert.equal(await a.textContent("#feed-topic"), `feed:${room}`);
    // Both pages are subscribed once the topic relays to both.
    for (let sockets = 0; sockets < 2; ) {
      sockets = (await publishToTopic(`feed:${room}`, "Probe", null)).sockets ?? 0;
      if (sockets < 2) await h.sleep(100);
    }
    const posted = await publishToTopic(`feed:${room}`, "Posted", { title: "Hello, everyone" });
    for (const page of [a, b]) {
      await page.waitForSelector(`#feed li[data-id="${posted.id}"]`, { timeout: EVENT_WAIT_MS });
      assert.equal(await page.textContent(`#feed li[data-id="${posted.id}"] .log-detail`), "Hello, everyone");
      assert.equal(await page.isHidden("#feed-empty"), true);
      // A topic event is not one of the user's: the user's event log stays as it was.
      assert.equal(await page.textContent("#log-count"), "0");
    }
    assert.match(await a.textContent("#snippet-feed"), new RegExp(`post_to_feed\\.php feed:${room} `));
    await h.screenshot(a, "11-topic-feed");
    for (const page of [a, b]) {
      assert.deepEqual(page.problems, []);
      await page.context().close();
    }
  });

  test("the viewer count follows pages opening and closing (2 → 3 → 2)", async () => {
    const room = `r-${run_id}-viewers`;
    const a = await openIn(room, userId("view-a"));
    const b = await openIn(room, userId("view-b"));
    await viewers(a, 2);
    await viewers(b, 2);
    const c = await openIn(room, userId("view-c"));
    for (const page of [a, b, c]) await viewers(page, 3);
    await h.screenshot(a, "12-viewers");
    await c.context().close();
    for (const page of [a, b]) await viewers(page, 2);
    for (const page of [a, b]) {
      assert.deepEqual(page.problems, []);
      await page.context().close();
    }
  });
});
