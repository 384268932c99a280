// The JS face (client-sdk/js/client.js) over a fake core: options, handler dispatch and the
// objects handlers receive, without wasm, a browser or a worker. The fake stands in for the
// wasm-bindgen glue the package bundles under it (edgepush_core.js), records what the face asks
// of it (`ask(order, a, b)`, client-sdk/src/js.rs `mod order`) and plays the core's
// `emit(kind, topic, a, b, c)` calls (`mod kind`).
//   node --test client-sdk/tests/js/client.test.mjs
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = mkdtempSync(join(tmpdir(), "edgepush-client-js-"));
copyFileSync(join(sdk, "js", "client.js"), join(dir, "client.js"));
writeFileSync(
  join(dir, "edgepush_core.js"),
  `export default async function init() {}
export function initSync() {}
export const cores = [];
export class Core {
  constructor(...args) {
    if (args[0] === "ftp://x") throw "the URL must start with https://, http://, wss:// or ws://";
    this.args = args;
    this.emit = args[args.length - 1];
    this.calls = [];
    this.handles = 0;
    cores.push(this);
  }
  ask(order, a, b) {
    if (order === 0) this.calls.push("connect");
    if (order === 1) this.calls.push("close");
    if (order === 2) return this.calls.push(["subscribe", a, b]) && ++this.handles;
    if (order === 3) this.calls.push(["unsubscribe", a]);
    if (order === 4) return ["e1", 7];
  }
  free() {}
}`,
);
const { EdgepushClient } = await import(pathToFileURL(join(dir, "client.js")).href);
const { cores } = await import(pathToFileURL(join(dir, "edgepush_core.js")).href);

const EVENT = 0, STATE = 1, ERROR = 2, RESYNC = 3, UNSUBSCRIBED = 4, OCCUPANCY = 5, PRESENCE = 6, TOKEN = 7;

/** A client, its fake core, a log of what its handlers heard and console.warn printed, and
 * `emit`, which plays a call of the core. */
function setup(options = {}) {
  const client = new EdgepushClient({ url: "https://push.example", token: "t", ...options });
  const core = cores.at(-1);
  const log = [];
  const emit = (...args) => {
    const warn = console.warn;
    console.warn = (...printed) => log.push(["warn", ...printed]);
    try {
      core.emit(...args);
    } finally {
      console.warn = warn;
    }
  };
  return { client, core, log, emit };
}

const frame = (name, payload, topic) => ({ type: "event", id: 1, name, payload, ts: 0, ...(topic && { topic }) });

test("options are checked with the same TypeErrors, and handed to the core", () => {
  assert.throws(() => new EdgepushClient(), { name: "TypeError", message: "options.url must be a string" });
  assert.throws(() => new EdgepushClient({ url: "https://x", token: 5 }), {
    name: "TypeError",
    message: "options.token must be a string or a function returning a Promise of one",
  });
  assert.throws(() => new EdgepushClient({ url: "ftp://x", token: "t" }), {
    name: "TypeError",
    message: "invalid client configuration: the URL must start with https://, http://, wss:// or ws://",
  });
  new EdgepushClient({
    url: "https://x",
    token: "t",
    minDelayMs: -5,
    maxDelayMs: 1e12,
    stableAfterMs: NaN,
    connectTimeoutMs: "100",
    pongTimeoutMs: 250,
    resume: { epoch: "e", lastId: 9 },
  });
  assert.deepEqual(cores.at(-1).args.slice(0, -1), ["https://x", "t", 0, 4e9, 0, -1, 250, -1, "e", 9]);
  new EdgepushClient({ url: "https://x", token: () => "t" });
  assert.deepEqual(cores.at(-1).args.slice(0, -1), ["https://x", undefined, -1, -1, -1, -1, -1, -1, undefined, 0]);
});

test("events go to the handlers of their name in order, else to onUnknown; bad built-in payloads to onError", () => {
  const { client, log, emit } = setup();
  client.on("A", (e) => log.push(["a1", e.payload]));
  client.onUnknown((e) => log.push(["unknown", e.name]));
  client.on("A", (e) => log.push(["a2", e.payload]));
  client.onMessage((e) => log.push(["message", e.payload.text]));
  client.onError((e) => log.push(["error", e]));
  emit(EVENT, undefined, frame("A", 1));
  emit(EVENT, undefined, frame("B", 2));
  emit(EVENT, undefined, frame("Message", { text: "hi" }));
  emit(EVENT, undefined, frame("Message", { text: 5 }));
  assert.deepEqual(log, [
    ["a1", 1],
    ["a2", 1],
    ["unknown", "B"],
    ["message", "hi"],
    [
      "error",
      {
        code: "bad_payload",
        message:
          "the payload of event Message does not match its handler's type: payload.text must be a string; the event was skipped",
        terminal: false,
        event: "Message",
      },
    ],
  ]);
});

test("a throwing handler is reported to onError and the others still run; an unheard error is logged", () => {
  const { client, log, emit } = setup();
  client.onResync(() => {
    throw new Error("boom");
  });
  client.onResync(() => log.push("after"));
  emit(RESYNC, undefined);
  assert.deepEqual(log, [["warn", "edgepush:", "an event handler threw: boom"], "after"]);
  const off = client.onError((e) => {
    log.push(e.code);
    throw "again";
  });
  emit(ERROR, undefined, "rejected", "token_invalid", 4500);
  assert.deepEqual(log.slice(2), ["rejected"], "an error handler's failure goes nowhere");
  off();
  emit(ERROR, undefined, "token_expired");
  assert.deepEqual(log.at(-1), [
    "warn",
    "edgepush:",
    "the connect token has expired; a token provider is asked for a fresh one, a fixed token string cannot be renewed",
  ]);
});

test("states and errors become the documented objects; state and position read the core", () => {
  const { client, log, emit } = setup();
  client.onState((s) => log.push(s));
  client.onError((e) => log.push(e));
  assert.deepEqual(client.state, { state: "idle" });
  emit(STATE, undefined, "connecting", 0);
  emit(STATE, undefined, "reconnecting", 2, 1500);
  emit(STATE, undefined, "open");
  emit(ERROR, undefined, "rejected", "revoked", 4502);
  emit(ERROR, undefined, "socket", "bad URL");
  emit(ERROR, undefined, "server_error", "invalid_frame", "what?");
  emit(ERROR, undefined, "token_provider", "no session");
  emit(STATE, undefined, "closed", 4502, "revoked");
  assert.deepEqual(log, [
    { state: "connecting", attempt: 0 },
    { state: "reconnecting", attempt: 2, delayMs: 1500 },
    { state: "open" },
    {
      code: "rejected",
      message:
        "the server closed the connection with code 4502 (revoked); not reconnecting: fix the cause, then call connect() again",
      terminal: true,
      closeCode: 4502,
    },
    { code: "socket", message: "the browser could not open the WebSocket: bad URL; retrying with backoff", terminal: false },
    { code: "server_error", message: "the server reported invalid_frame: what?", terminal: false },
    { code: "token_provider", message: "the token provider failed: no session; retrying with backoff", terminal: false },
    { state: "closed", code: 4502, reason: "revoked" },
  ]);
  assert.deepEqual(client.state, { state: "closed", code: 4502, reason: "revoked" });
  assert.deepEqual(client.position, { epoch: "e1", lastId: 7 });
});

test("a topic's notices reach only its subscriptions; a refusal ends them, or goes to the client", () => {
  const { client, core, log, emit } = setup();
  client.on("P", (e) => log.push(["client", e.topic ?? null]));
  const a = client.subscribe("a:1");
  const b = client.subscribe("a:1", { token: "grant" });
  a.on("P", (e) => log.push(["a", e.payload]));
  b.on("P", (e) => log.push(["b", e.payload]));
  a.onResync(() => log.push("a resync"));
  a.onOccupancy((n) => log.push(["count", n]));
  a.onPresence((user, present) => log.push(["presence", user, present]));
  a.onError((e) => log.push(["refused", e]));
  assert.deepEqual(core.calls, [
    ["subscribe", "a:1", undefined],
    ["subscribe", "a:1", "grant"],
  ]);
  emit(EVENT, "a:1", frame("P", 1, "a:1"));
  emit(EVENT, undefined, frame("P", 2, "orders:#1"));
  emit(RESYNC, "a:1");
  emit(OCCUPANCY, "a:1", 3);
  emit(PRESENCE, "a:1", "42", true);
  b.unsubscribe();
  emit(EVENT, "a:1", frame("P", 3, "a:1"));
  emit(UNSUBSCRIBED, "a:1", "topic_forbidden", "not yours");
  emit(EVENT, "a:1", frame("P", 4, "a:1"));
  assert.deepEqual(log, [
    ["a", 1],
    ["b", 1],
    ["client", "orders:#1"],
    "a resync",
    ["count", 3],
    ["presence", "42", true],
    ["a", 3],
    ["refused", { topic: "a:1", code: "topic_forbidden", message: "not yours" }],
  ]);
  assert.deepEqual(core.calls.at(-1), ["unsubscribe", 2]);
  const c = client.subscribe("b:1");
  c.on("P", () => log.push("never"));
  client.onError((e) => log.push(e));
  emit(UNSUBSCRIBED, "b:1", "invalid_topic", "bad");
  assert.deepEqual(log.at(-1), { code: "server_error", message: "the server reported invalid_topic: bad", terminal: false });
});

test("removers and close(): removed handlers are not called, even for the notice being delivered", () => {
  const { client, core, log, emit } = setup();
  let offLater;
  const offFirst = client.onState(() => {
    log.push("first");
    offLater();
  });
  offLater = client.onState(() => log.push("later"));
  client.onState((s) => log.push(s.state));
  emit(STATE, undefined, "open");
  offFirst();
  offFirst();
  emit(STATE, undefined, "offline");
  client.close();
  emit(STATE, undefined, "closed", 1000, "closed by the client");
  emit(STATE, undefined, "open");
  assert.deepEqual(log, ["first", "open", "offline", "closed"]);
  assert.deepEqual(core.calls, ["close"]);
});

test("a token provider is asked through the core's TOKEN call and answers once", async () => {
  const answers = [];
  const ask = (token) => {
    new EdgepushClient({ url: "https://x", token });
    return new Promise((resolve) => cores.at(-1).emit(TOKEN, undefined, (v) => (answers.push(v), resolve())));
  };
  await ask(() => Promise.resolve("jwt"));
  await ask(async () => {
    throw new Error("no session");
  });
  await ask(() => {
    throw "sync";
  });
  await ask(() => 5);
  assert.deepEqual(answers, [
    "jwt",
    { message: "no session" },
    { message: "sync" },
    { message: "the token provider did not return a string" },
  ]);
});

test("the error messages are the Rust face's: every text of Error::message is in the JS face", () => {
  const rust = readFileSync(join(sdk, "src", "error.rs"), "utf8").match(/pub fn message\(&self\)[\s\S]*?\n {4}\}/);
  assert.ok(rust, "client-sdk/src/error.rs has no `pub fn message(&self)`");
  const texts = [...rust[0].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).filter(Boolean);
  assert.ok(texts.length >= 10, "the scan of Error::message is broken");
  const face = readFileSync(join(sdk, "js", "client.js"), "utf8").replace(/"\s*\+\s*"/g, "");
  for (const text of texts) assert.ok(face.includes(text), `client.js lacks ${JSON.stringify(text)}`);
});
