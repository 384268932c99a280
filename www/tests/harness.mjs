// Shared helpers for the demo page's browser tests: workers under `wrangler dev`, tokens and
// signed publishes (node:crypto, the same scheme as the CLI and the PHP publisher), and headless
// Debian Chromium through playwright-core.
import { spawn, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, openSync, closeSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";

import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const artifacts = join(root, "artifacts", "www");
const workDir = join(root, "target", "www-e2e");

/** The fixed test secrets of scripts/env.sh (read from it when the caller did not source it). */
export const env = loadTestEnv();

function loadTestEnv() {
  let values = process.env;
  if (!values.EDGEPUSH_TEST_JWT_SECRET) {
    const dump = execFileSync("bash", ["-c", 'source scripts/env.sh && env -0'], {
      cwd: root,
      encoding: "utf8",
    });
    values = Object.fromEntries(
      dump.split("\0").filter(Boolean).map((line) => {
        const at = line.indexOf("=");
        return [line.slice(0, at), line.slice(at + 1)];
      }),
    );
  }
  return {
    jwtSecret: values.EDGEPUSH_TEST_JWT_SECRET,
    keyId: values.EDGEPUSH_TEST_KEY_ID,
    publishSecret: values.EDGEPUSH_TEST_PUBLISH_SECRET,
    path: values.PATH,
  };
}

// ---------- tokens and signed requests ----------

const b64url = (data) => Buffer.from(data).toString("base64url");

/** An HS256 connect token for `user`, valid for `ttl` seconds (negative: already expired). */
export function mintToken(user, ttl = 600) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const exp = Math.floor(Date.now() / 1000) + ttl;
  const claims = b64url(JSON.stringify({ sub: String(user), exp }));
  const mac = createHmac("sha256", env.jwtSecret).update(`${header}.${claims}`).digest();
  return `${header}.${claims}.${b64url(mac)}`;
}

/** `Edgepush-Signature` for a request: HMAC-SHA256 over "<t>\n<METHOD>\n<path>\n" + body. */
export function signature(method, path, body, t = Math.floor(Date.now() / 1000)) {
  const mac = createHmac("sha256", env.publishSecret)
    .update(`${t}\n${method}\n${path}\n${body}`)
    .digest("hex");
  return `keyid=${env.keyId},t=${t},v1=${mac}`;
}

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

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Waits until `GET url/health` answers 200. */
export async function waitHealthy(url, timeoutMs = 90000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (response.status === 200) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${url} did not become healthy within ${timeoutMs} ms`);
}

/**
 * Starts the built worker through scripts/worker-under-test.sh on its own port and persist
 * folder (under target/www-e2e/). `restart()` starts it again on the same port and storage.
 */
export async function startWorker(name, { port } = {}) {
  port ??= await freePort();
  const persist = join(workDir, name);
  rmSync(persist, { recursive: true, force: true });
  mkdirSync(persist, { recursive: true });
  const worker = {
    url: `http://127.0.0.1:${port}`,
    port,
    persist,
    child: null,
    runs: 0,
    async start() {
      this.runs += 1;
      const log = openSync(join(workDir, `${name}.${this.runs}.log`), "w");
      this.child = spawn("bash", [join(root, "scripts", "worker-under-test.sh"), String(port), persist], {
        cwd: root,
        detached: true, // its own process group: wrangler and workerd stop together
        stdio: ["ignore", log, log],
        env: { ...process.env, PATH: env.path ?? process.env.PATH },
      });
      closeSync(log);
      this.exited = once(this.child, "exit");
      await Promise.race([
        waitHealthy(this.url),
        this.exited.then(([code]) => {
          throw new Error(`worker ${name} exited with ${code} before it was ready`);
        }),
      ]);
    },
    /** Stops the whole process group (`SIGTERM`: a clean stop; `SIGKILL`: a crash). */
    async stop(signal = "SIGTERM") {
      if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
      try {
        process.kill(-this.child.pid, signal);
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-this.child.pid, "SIGKILL");
        } catch {
          // gone
        }
      }, 10000);
      await this.exited;
      clearTimeout(timer);
      // workerd may outlive wrangler for a moment: wait until the port is free again.
      for (let i = 0; i < 100; i += 1) {
        try {
          await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(500) });
          await sleep(100);
        } catch {
          return;
        }
      }
    },
    async restart() {
      await this.stop();
      await this.start();
    },
  };
  await worker.start();
  return worker;
}

/**
 * The worker the suite shares: the one scripts/test.sh started (EDGEPUSH_TEST_URL), or one of
 * our own when the tests run alone (`node --test www/tests/`).
 */
export async function sharedWorker() {
  const url = process.env.EDGEPUSH_TEST_URL;
  if (url) {
    await waitHealthy(url, 30000);
    return { url: url.replace(/\/$/, ""), stop: async () => {} };
  }
  return startWorker("shared");
}

// ---------- the browser ----------

export const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** Headless Debian Chromium (never a downloaded browser). */
export function launchBrowser() {
  const executablePath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: install the Debian package chromium (scripts/setup.sh)`);
  }
  return chromium.launch({ executablePath, headless: true, args: LAUNCH_ARGS });
}

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
