// The JS test kit, shared by the demo page's tests (www/tests/harness.mjs) and the SDK package's
// (client-sdk/tests/js/package.test.mjs):
// - the fixed test secrets of scripts/env.sh;
// - connect tokens and request signatures, the scheme of protocol/ (testkit.test.mjs checks them
//   against protocol/test-vectors.json), and the Mercure hub's tokens (docs/mercure.md);
// - workers started, awaited and stopped the way every suite does it, by the Rust test kit's
//   edgepush-worker (tests/src/bin/edgepush-worker.rs);
// - the browser: Debian's headless Chromium, and the pages and files it loads served from a free
//   loopback port.
import { execFile, execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The fixed test secrets of scripts/env.sh (read from it when the caller did not source it). */
export const env = loadTestEnv();

function loadTestEnv() {
  let values = process.env;
  if (!values.EDGEPUSH_TEST_JWT_SECRET) {
    const dump = execFileSync("bash", ["-c", "source scripts/env.sh && env -0"], { cwd: root, encoding: "utf8" });
    values = Object.fromEntries(
      dump.split("\0").filter(Boolean).map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  }
  return {
    jwtSecret: values.EDGEPUSH_TEST_JWT_SECRET,
    keyId: values.EDGEPUSH_TEST_KEY_ID,
    publishSecret: values.EDGEPUSH_TEST_PUBLISH_SECRET,
    mercureSecret: values.EDGEPUSH_TEST_MERCURE_JWT_SECRET,
    path: values.PATH,
  };
}

// ---------- tokens and signatures ----------

const b64url = (data) => Buffer.from(data).toString("base64url");
const CLAIMS = ["sub", "exp", "nbf", "iat", "aud", "iss"];

/** Seconds since the Unix epoch. */
export const now = () => Math.floor(Date.now() / 1000);

/** An HS256 JWT of `claims` (those present, in the order sub, exp, nbf, iat, aud, iss). */
export function mint(claims, secret) {
  const ordered = Object.fromEntries(CLAIMS.filter((k) => claims[k] != null).map((k) => [k, claims[k]]));
  return mintAny(ordered, secret);
}

/** An HS256 JWT of `claims` exactly as given (any claims, in their order). */
export function mintAny(claims, secret) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const mac = createHmac("sha256", secret).update(`${header}.${body}`).digest();
  return `${header}.${body}.${b64url(mac)}`;
}

/** `Edgepush-Signature`: HMAC-SHA256 over "<t>\n<METHOD>\n<path>\n" + body, in hex. */
export function sign(keyId, secret, t, method, path, body) {
  const mac = createHmac("sha256", secret).update(`${t}\n${method}\n${path}\n${body}`).digest("hex");
  return `keyid=${keyId},t=${t},v1=${mac}`;
}

/** A connect token for `user` with the test secret, valid for `ttl` seconds (negative: expired). */
export function mintToken(user, ttl = 600) {
  const issued = now();
  return mint({ sub: String(user), exp: issued + ttl, iat: issued }, env.jwtSecret);
}

/** `Edgepush-Signature` for a request signed with the test publish key. */
export function signature(method, path, body, t = now()) {
  return sign(env.keyId, env.publishSecret, t, method, path, body);
}

/**
 * A Mercure token signed with the test workers' hub key (`MERCURE_PUBLISHER_JWT_KEY`, which
 * subscribers share), as `symfony/mercure` mints them: `{"mercure": {"publish": [...]}}` for a
 * publisher, `{"mercure": {"subscribe": [...]}, "exp": ...}` for a subscriber.
 */
export function mintMercure({ publish, subscribe, exp } = {}) {
  const mercure = {};
  if (publish) mercure.publish = publish;
  if (subscribe) mercure.subscribe = subscribe;
  return mintAny(exp == null ? { mercure } : { mercure, exp }, env.mercureSecret);
}

// ---------- workers ----------

const run = promisify(execFile);
const kit = (...args) =>
  run("cargo", ["run", "-q", "--manifest-path", join(root, "Cargo.toml"), "-p", "edgepush-e2e", "--bin", "edgepush-worker", "--", ...args], {
    cwd: root,
    env: { ...process.env, PATH: env.path ?? process.env.PATH },
  });

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

/**
 * Starts the built worker on its own port and storage folder `dir/name` (fresh), output in
 * `dir/name.log`, with `args` added to its `wrangler dev` command (e.g. `--var NAME:value`).
 * `stop(signal)` stops it (`SIGTERM`: a clean stop; `SIGKILL`: a crash) and returns once its port
 * is free; `start()` starts it again on the same port, storage and `args`.
 */
export async function startWorker(name, { port, dir = join(root, "target", "js-e2e"), args = [] } = {}) {
  port ??= await freePort();
  const store = join(dir, name);
  const log = `${store}.log`;
  rmSync(store, { recursive: true, force: true });
  rmSync(log, { force: true });
  mkdirSync(store, { recursive: true });
  const worker = {
    url: `http://127.0.0.1:${port}`,
    port,
    store,
    pgid: null,
    async start() {
      const { stdout } = await kit("up", String(port), store, log, ...args);
      this.pgid = stdout.trim();
    },
    async stop(signal = "SIGTERM") {
      if (this.pgid === null) return;
      const pgid = this.pgid;
      this.pgid = null;
      await kit("down", pgid, ...(signal === "SIGKILL" ? ["--kill"] : []));
    },
    async restart() {
      await this.stop();
      await this.start();
    },
  };
  await worker.start();
  return worker;
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

/** Headless Debian Chromium (never a downloaded browser), with `args` besides LAUNCH_ARGS. */
export function launchBrowser(args = []) {
  const executablePath = process.env.CHROMIUM_BIN ?? process.env.CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} is missing: install the Debian package chromium (scripts/setup.sh)`);
  }
  return chromium.launch({ executablePath, headless: true, args: [...LAUNCH_ARGS, ...args] });
}

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain",
};

/**
 * Serves pages and the files under `dir` on a free loopback port, for a page in the browser:
 * `pages(path)` may answer a path with the HTML of a page; any other path must start with
 * `prefix` and names a file under `dir` (`index` for the bare prefix); anything else is 404.
 * Resolves to `{ server, base }` (`base`: `http://127.0.0.1:<port>`).
 */
export async function serveFiles(dir, { prefix = "/", index = "index.html", pages = () => undefined } = {}) {
  const server = createHttpServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const page = pages(path);
    if (page !== undefined) {
      res.writeHead(200, { "Content-Type": "text/html" }).end(page);
      return;
    }
    const file = normalize(join(dir, path === prefix ? index : path.slice(prefix.length)));
    if (!path.startsWith(prefix) || !file.startsWith(dir)) {
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
  return { server, base: `http://127.0.0.1:${server.address().port}` };
}
