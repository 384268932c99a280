// Shared helpers for the demo page's browser tests: the JS test kit (tests/js/testkit.mjs: test
// secrets, tokens, signatures, workers), signed publishes, and headless Debian Chromium through
// playwright-core.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { root, signature, startWorker as start } from "../../tests/js/testkit.mjs";

export { env, mintToken, root, signature } from "../../tests/js/testkit.mjs";
export const artifacts = join(root, "artifacts", "www");
const workDir = join(root, "target", "www-e2e");

/** A signed `POST /publish` of one event; resolves to the server's answer (status 202). */
export async function publish(url, user, name, payload, { idempotencyKey } = {}) {
  const body = JSON.stringify({ user: String(user), name, payload });
  const headers = {
    "Content-Type": "application/json",
    "Edgepush-Signature": signature("POST", "/publish", body),
  };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  const response = await fetch(`${url}/publish`, { method: "POST", headers, body });
  const text = await response.text();
  if (response.status !== 202) {
    throw new Error(`publish ${name} to ${user}: ${response.status} ${text}`);
  }
  return JSON.parse(text).events[0];
}

/** Publishes, retrying with the same idempotency key until the server takes it (a restart). */
export async function publishUntilAccepted(url, user, name, payload, key, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await publish(url, user, name, payload, { idempotencyKey: key });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

// ---------- workers under `wrangler dev` ----------

/** Starts the built worker on its own port and storage (under target/www-e2e/); see testkit.mjs. */
export const startWorker = (name, { port } = {}) => start(name, { port, dir: workDir });

/**
 * The worker the suite shares: the one scripts/test.sh started (EDGEPUSH_TEST_URL), or one of
 * our own when the tests run alone (`node --test www/tests/`).
 */
export async function sharedWorker() {
  const url = process.env.EDGEPUSH_TEST_URL?.replace(/\/$/, "");
  if (url) {
    const health = await fetch(`${url}/health`);
    if (health.status !== 200) throw new Error(`${url}/health answered ${health.status}`);
    return { url, stop: async () => {} };
  }
  return startWorker("shared");
}

// ---------- the browser ----------

export { LAUNCH_ARGS, launchBrowser } from "../../tests/js/testkit.mjs";

/** Checks that the page has the SDK next to it (www/build.sh). */
export function assertSdkBuilt() {
  const sdk = join(root, "www", "public", "sdk", "edgepush_client_bg.wasm");
  if (!existsSync(sdk)) {
    throw new Error("www/public/sdk is missing: run scripts/build-sdk.sh && www/build.sh");
  }
}

/**
 * Opens the demo page in a fresh browser context with `token` in the link (as scripts/dev.sh
 * prints it). Page errors and console errors are collected in `page.problems`.
 */
export async function openDemo(browser, url, token) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.problems = [];
  page.sockets = [];
  page.on("pageerror", (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") page.problems.push(`console: ${message.text()}`);
  });
  page.on("websocket", (socket) => page.sockets.push(socket.url()));
  await page.goto(token === undefined ? `${url}/` : `${url}/#token=${token}`);
  return page;
}

/** Saves a screenshot to artifacts/www/NAME.png (git-ignored). */
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** The ids in the page's event log, oldest first. */
export async function loggedIds(page) {
  const ids = await page.$$eval("#log li[data-id]", (items) => items.map((li) => Number(li.dataset.id)));
  return ids.reverse();
}

export { sleep };
