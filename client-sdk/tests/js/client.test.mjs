// The JS face (client-sdk/js/client.js) over a fake core and fake browser objects: options,
// handler dispatch, the objects handlers receive, and the driver (socket, timer, network
// listeners, token provider, topic sockets, inputs queued while the core is busy), without wasm,
// a browser or a worker. The fake stands in for the wasm-bindgen glue the package bundles under
// it (edgepush_core.js), records what the driver asks of it (`ask(order, a, b, c, act)`,
// client-sdk/src/js.rs `mod order`) and plays the core's `act(kind, topic, a, b, c)` calls
// (`mod kind`). Also the Stimulus controller (client-sdk/js/stimulus.js) over this face, with a
// stand-in for @hotwired/stimulus.
//   node --test client-sdk/tests/js/client.test.mjs
import assert from "node:assert/strict";
import { setMaxListeners } from "node:events";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dir = mkdtempSync(join(tmpdir(), "edgepush-client-js-"));
copyFileSync(join(sdk, "js", "client.js"), join(dir, "client.js"));
copyFileSync(join(sdk, "js", "codes.js"), join(dir, "codes.js"));
writeFileSync(
  join(dir, "edgepush_core.js"),
  `export default async function init() {}
export function initSync() {}
export const cores = [];
export class Core {
  static make(...args) {
    return args[0] === "ftp://x" ? "the URL must start with https://, http://, wss:// or ws://" : new Core(...args);
  }
  constructor(...args) {
    this.args = args;
    this.calls = [];
    // What the test makes it do when asked: (order, a, b, c, act) => answer.
    this.answer = () => {};
    // The positions it answers POSITION with, by topic (undefined: the user's stream).
    this.positions = new Map([[undefined, ["e1", 7]]]);
    cores.push(this);
  }
  ask(order, a, b, c, act) {
    if (act) this.act = act;
    if (order === 11) return new Core("topic socket", a, b);
    if (order !== 10) this.calls.push(c === undefined ? (b === undefined ? (a === undefined ? [order] : [order, a]) : [order, a, b]) : [order, a, b, c]);
    return order === 10 ? this.positions.get(a) : this.answer(order, a, b, c, act);
  }
}`,
);
const { EdgepushClient } = await import(pathToFileURL(join(dir, "client.js")).href);
const { cores } = await import(pathToFileURL(join(dir, "edgepush_core.js")).href);

const EVENT = 0, STATE = 1, ERROR = 2, RESYNC = 3, UNSUBSCRIBED = 4, OCCUPANCY = 5, PRESENCE = 6;
const FETCH_TOKEN = 7, CONNECT = 8, SEND = 9, CLOSE_SOCKET = 10, SET_TIMER = 11, CLEAR_TIMER = 12;
const OPEN_TOPIC_SOCKET = 13, CLOSE_TOPIC_SOCKET = 14, STOP_CLIENT = 16;
const START = 0, CLOSE = 1, SUBSCRIBE = 2, UNSUBSCRIBE = 3, TOKEN = 4, FRAME = 5, SOCKET_CLOSED = 6;
const TIMER = 7, NETWORK = 8, TOPIC_ENDED = 9, TOPIC_SOCKET_STOPPED = 12;

const codes = JSON.parse(readFileSync(join(sdk, "..", "protocol", "codes.json"), "utf8"));
const closeCode = (name) => codes.close_codes.find((c) => c.name === name).code;

// The browser's side: sockets, and the global scope's network listeners.
const sockets = [];
globalThis.WebSocket = class {
  constructor(url, protocols) {
    if (url === "bad") throw new SyntaxError("bad URL");
    Object.assign(this, { url, protocols, sent: [], closed: undefined });
    sockets.push(this);
  }
  send(text) {
    if (this.closed) throw new Error("not open");
    this.sent.push(text);
  }
  close(code) {
    this.closed = code;
  }
};
const network = new EventTarget();
// Every test's clients listen to it, and most are never closed.
setMaxListeners(0, network);
globalThis.addEventListener = network.addEventListener.bind(network);
globalThis.removeEventListener = network.removeEventListener.bind(network);
Object.defineProperty(globalThis, "navigator", { value: { onLine: true }, configurable: true });

/** A connected client, its fake core, a log of what its handlers heard and console.warn
 * printed, and `emit`, which plays an act call of the core. */
function setup(options = {}) {
  const client = new EdgepushClient({ url: "https://push.example", token: "t", ...options });
  const core = cores.at(-1);
  client.connect();
  const log = [];
  const emit = (...args) => {
    const warn = console.warn;
    console.warn = (...printed) => log.push(["warn", ...printed]);
    try {
      core.act(...args);
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
  assert.deepEqual(cores.at(-1).args, ["https://x", "t", 0, 4e9, 0, -1, 250, -1, { epoch: "e", lastId: 9 }]);
  new EdgepushClient({ url: "https://x", token: () => "t" });
  assert.deepEqual(cores.at(-1).args, ["https://x", undefined, -1, -1, -1, -1, -1, -1, undefined]);
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
    [START, true],
    [SUBSCRIBE, 1, "a:1"],
    [SUBSCRIBE, 2, "a:1", { token: "grant" }],
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
  assert.deepEqual(core.calls.at(-1), [UNSUBSCRIBE, 2]);
  const c = client.subscribe("b:1");
  c.on("P", () => log.push("never"));
  client.onError((e) => log.push(e));
  emit(UNSUBSCRIBED, "b:1", "invalid_topic", "bad");
  assert.deepEqual(log.at(-1), { code: "server_error", message: "the server reported invalid_topic: bad", terminal: false });
});

test("a subscription made again from a refused one's onError keeps its handlers", () => {
  const { client, core, log } = setup();
  const first = client.subscribe("a:1");
  first.on("P", () => log.push("first"));
  let again;
  first.onError((e) => {
    log.push(["refused", e.code]);
    again = client.subscribe("a:1");
    again.on("P", (e) => log.push(["again", e.payload]));
    again.onError((e) => log.push(["again refused", e.code]));
  });
  // As the core does: the refusal comes while it handles a frame, so the new subscribe waits.
  core.answer = (order, a) => order === FRAME && core.act(UNSUBSCRIBED, "a:1", a, "try later");
  core.act(CONNECT, undefined, "wss://x/connect", "jwt", "edgepush.v1");
  sockets.at(-1).onmessage({ data: "internal_error" });
  assert.deepEqual(core.calls.slice(-2), [
    [FRAME, "internal_error"],
    [SUBSCRIBE, 2, "a:1"],
  ]);
  core.answer = () => {};
  core.act(EVENT, "a:1", frame("P", 5, "a:1"));
  // A subscribe the core has not taken yet is no part of a refusal it tells meanwhile.
  core.answer = (order, a) => order === FRAME && (client.subscribe("a:1").on("P", () => log.push("third")), core.act(UNSUBSCRIBED, "a:1", a, "no"));
  sockets.at(-1).onmessage({ data: "topic_forbidden" });
  core.answer = () => {};
  core.act(EVENT, "a:1", frame("P", 6, "a:1"));
  assert.deepEqual(log, [["refused", "internal_error"], ["again", 5], ["again refused", "topic_forbidden"], "third"]);
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
  // As the core does: close() is answered with the final state.
  core.answer = (order, a, b, c, act) => order === CLOSE && act(STATE, undefined, "closed", 1000, "closed by the client");
  client.close();
  emit(STATE, undefined, "open");
  assert.deepEqual(log, ["first", "open", "offline", "closed"]);
  assert.deepEqual(core.calls, [[START, true], [CLOSE]]);
});

test("close() after the server stopped the client removes every handler too", () => {
  const { client, core, log, emit } = setup();
  const topic = client.subscribe("a:1");
  client.onState((s) => log.push(s.state));
  client.onError((e) => log.push(e.code));
  client.on("A", () => log.push("event"));
  topic.on("P", () => log.push("topic event"));
  topic.onError(() => log.push("refused"));
  topic.onResync(() => log.push("topic resync"));
  // The server stopped the client (e.g. 4502 revoked): a stopped core answers close() with
  // nothing, there is no state left to tell.
  emit(ERROR, undefined, "rejected", "revoked", 4502);
  emit(STATE, undefined, "closed", 4502, "revoked");
  client.close();
  assert.deepEqual(core.calls.at(-1), [CLOSE]);
  // Should anything still come, nobody is left to hear it.
  emit(STATE, undefined, "open");
  emit(EVENT, undefined, frame("A", 1));
  emit(EVENT, "a:1", frame("P", 2, "a:1"));
  emit(RESYNC, "a:1");
  assert.deepEqual(log, ["rejected", "closed"]);

  // close() from a handler, while the core is busy: the handlers hear what comes before the
  // close, then the final state, and are removed after it.
  const busy = setup();
  const heard = [];
  busy.client.on("A", () => {
    heard.push("event");
    busy.client.close();
  });
  busy.client.onState((s) => heard.push(s.state));
  busy.core.answer = (order, a, b, c, act) => {
    if (order === FRAME) {
      act(EVENT, undefined, frame("A", 1));
      act(STATE, undefined, "reconnecting", 1, 10);
    }
    if (order === CLOSE) act(STATE, undefined, "closed", 1000, "closed by the client");
  };
  busy.core.act(CONNECT, undefined, "wss://x/connect", "jwt", "edgepush.v1");
  sockets.at(-1).onmessage({ data: "{}" });
  busy.emit(STATE, undefined, "open");
  assert.deepEqual(heard, ["event", "reconnecting", "closed"]);
});

test("a token provider is asked on FETCH_TOKEN and answered once with TOKEN", async () => {
  const answers = [];
  const ask = async (token) => {
    const { core, emit } = setup({ token });
    const answered = new Promise((resolve) => (core.answer = (order, a, b) => order === TOKEN && resolve([a, b])));
    emit(FETCH_TOKEN, undefined, 3);
    answers.push(await answered);
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
    [3, "jwt"],
    [3, { message: "no session" }],
    [3, { message: "sync" }],
    [3, { message: "the token provider did not return a string" }],
  ]);
});

test("the driver opens, feeds and closes the socket as the core says", () => {
  const { core, log, emit } = setup();
  assert.deepEqual(core.calls, [[START, true]]);
  emit(CONNECT, undefined, "wss://push.example/connect", "jwt", "edgepush.v1");
  const first = sockets.at(-1);
  assert.deepEqual([first.url, first.protocols], ["wss://push.example/connect", ["edgepush.v1", "jwt"]]);
  first.onmessage({ data: '{"type":"pong"}' });
  first.onclose({ code: 4001, reason: "expired" });
  emit(SEND, undefined, '{"type":"ping"}');
  assert.deepEqual(first.sent, ['{"type":"ping"}']);
  // A new socket replaces the old one, which is detached and closed as the client closes sockets.
  emit(CONNECT, undefined, "wss://push.example/connect", "jwt2", "edgepush.v1");
  assert.equal(first.closed, closeCode("Normal"));
  assert.equal(first.onmessage, null);
  const second = sockets.at(-1);
  emit(CLOSE_SOCKET);
  assert.equal(second.closed, closeCode("Normal"));
  emit(SEND, undefined, "dropped");
  assert.deepEqual(second.sent, []);
  assert.deepEqual(core.calls.slice(1), [
    [FRAME, '{"type":"pong"}'],
    [SOCKET_CLOSED, 4001, "expired"],
  ]);
  // A socket the browser refuses to open: an error, then a close as abnormal as the browser's.
  {
    const errors = [];
    const { client, core: refused } = setup();
    client.onError((e) => errors.push(e.message));
    refused.answer = (order) => order === START && refused.act(CONNECT, undefined, "bad", "jwt", "edgepush.v1");
    client.connect();
    assert.deepEqual(errors, ["the browser could not open the WebSocket: bad URL; retrying with backoff"]);
    assert.deepEqual(refused.calls.slice(-2), [[START, true], [SOCKET_CLOSED, closeCode("Abnormal"), ""]]);
  }
  assert.deepEqual(log, []);
});

test("inputs that arrive while the core is busy wait for the actions before them", () => {
  const { client, core } = setup();
  const order = [];
  client.on("A", () => {
    order.push("handler");
    client.close();
    order.push("close() returned");
  });
  core.answer = (asked, a, b, c, act) => {
    order.push(`ask ${asked}`);
    if (asked === FRAME) {
      act(EVENT, undefined, frame("A", 1));
      order.push("actions done");
    }
  };
  core.act(CONNECT, undefined, "wss://x/connect", "jwt", "edgepush.v1");
  sockets.at(-1).onmessage({ data: "{}" });
  assert.deepEqual(order, [`ask ${FRAME}`, "handler", "close() returned", "actions done", `ask ${CLOSE}`]);
});

test("the timer and the network reach the core; the closed state releases everything", async () => {
  const { core, emit } = setup();
  const fired = new Promise((resolve) => (core.answer = (order) => order === TIMER && resolve()));
  emit(SET_TIMER, undefined, 1);
  await fired;
  emit(SET_TIMER, undefined, 5);
  emit(CLEAR_TIMER);
  network.dispatchEvent(new Event("offline"));
  network.dispatchEvent(new Event("online"));
  emit(CONNECT, undefined, "wss://x/connect", "jwt", "edgepush.v1");
  const socket = sockets.at(-1);
  emit(SET_TIMER, undefined, 5);
  emit(STATE, undefined, "closed", 4502, "revoked");
  network.dispatchEvent(new Event("offline"));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(socket.closed, closeCode("Normal"));
  assert.deepEqual(core.calls, [[START, true], [TIMER], [NETWORK, false], [NETWORK, true]]);
});

test("a subscription's position is its topic's, from its topic socket's core if it has one, also after close()", () => {
  const { client, core, emit } = setup();
  const resume = { epoch: "t0", lastId: 2 };
  const feed = client.subscribe("feed:1", { resume });
  // The options go to the core as they are: it reads the token and where to resume.
  assert.deepEqual(core.calls.at(-1), [SUBSCRIBE, 1, "feed:1", { resume }]);
  assert.equal(feed.position, undefined);
  core.positions.set("feed:1", ["t1", 4]);
  assert.deepEqual(feed.position, { epoch: "t1", lastId: 4 });
  assert.deepEqual(client.position, { epoch: "e1", lastId: 7 });
  // A topic read over a topic socket: its core knows, not the client's (where it stays as it
  // was when it moved there).
  const crowd = client.subscribe("crowd:1");
  core.positions.set("crowd:1", ["t0", 0]);
  emit(OPEN_TOPIC_SOCKET, "crowd:1");
  cores.at(-1).positions.set("crowd:1", ["t2", 9]);
  assert.deepEqual(crowd.position, { epoch: "t2", lastId: 9 });
  // Still known after close(), to be saved for the next client.
  client.close();
  assert.deepEqual(crowd.position, { epoch: "t2", lastId: 9 });
  assert.deepEqual(feed.position, { epoch: "t1", lastId: 4 });
});

test("a topic socket has a core and a driver of its own, heard by the client's handlers", () => {
  const { client, core, emit } = setup();
  const log = [];
  const sub = client.subscribe("live:1", { token: "grant" });
  sub.on("P", (e) => log.push(["event", e.payload]));
  sub.onOccupancy((n) => log.push(["count", n]));
  client.onState((s) => log.push(s.state));
  emit(OPEN_TOPIC_SOCKET, "live:1", "grant");
  const reader = cores.at(-1);
  assert.deepEqual(reader.args, ["topic socket", "live:1", "grant"]);
  assert.deepEqual(reader.calls, [[START, true]]);
  reader.act(STATE, undefined, "open");
  reader.act(EVENT, "live:1", frame("P", 1, "live:1"));
  reader.act(OCCUPANCY, "live:1", 4);
  reader.act(UNSUBSCRIBED, "live:1", "topic_forbidden", "not yours");
  assert.deepEqual(log, [
    ["event", 1],
    ["count", 4],
  ]);
  assert.deepEqual(core.calls.at(-1), [TOPIC_ENDED, { topic: "live:1", error: { code: "topic_forbidden", message: "not yours" } }]);
  // Its token refused for good (here 4502, revoked): the client's error handlers hear the
  // server's reason, and the client's core is told to stop; the subscription hears nothing.
  const heard = [];
  sub.onError((e) => heard.push(["refused", e.code]));
  client.onError((e) => heard.push(["error", e.code]));
  reader.act(ERROR, undefined, "server_error", "token_revoked", "logged out");
  reader.act(STOP_CLIENT, undefined, closeCode("Revoked"), "revoked");
  assert.deepEqual(heard, [["error", "server_error"]]);
  assert.deepEqual(core.calls.at(-1), [TOPIC_SOCKET_STOPPED, closeCode("Revoked"), "revoked"]);
  emit(CLOSE_TOPIC_SOCKET, "live:1");
  assert.deepEqual(reader.calls.at(-1), [CLOSE]);
  // The client's close closes the topic sockets it still has.
  emit(OPEN_TOPIC_SOCKET, "live:2");
  const other = cores.at(-1);
  emit(STATE, undefined, "closed", 1000, "closed by the client");
  assert.deepEqual(other.calls.at(-1), [CLOSE]);
  assert.deepEqual(log.at(-1), "closed");
});

test("the error messages are the Rust face's: every text of Error::message is in the JS face", () => {
  const rust = readFileSync(join(sdk, "src", "error.rs"), "utf8").match(/pub fn message\(&self\)[\s\S]*?\n {4}\}/);
  assert.ok(rust, "client-sdk/src/error.rs has no `pub fn message(&self)`");
  const texts = [...rust[0].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).filter(Boolean);
  assert.ok(texts.length >= 10, "the scan of Error::message is broken");
  const face = readFileSync(join(sdk, "js", "client.js"), "utf8").replace(/"\s*\+\s*"/g, "");
  for (const text of texts) assert.ok(face.includes(text), `client.js lacks ${JSON.stringify(text)}`);
});

test("one topic socket per topic, and close() closes every one even after the core stopped", () => {
  const { client, core, emit } = setup();
  emit(OPEN_TOPIC_SOCKET, "crowd:1");
  const first = cores.at(-1);
  // The core asks again for a topic already read (a rotated grant): the reader it has takes the
  // token for its next connect, and no second reader reads the topic.
  emit(OPEN_TOPIC_SOCKET, "crowd:1", "grant-2");
  assert.equal(cores.at(-1), first);
  assert.deepEqual(first.calls, [[START, true], [SUBSCRIBE, 0, "crowd:1", { token: "grant-2" }], [START, true]]);
  emit(CLOSE_TOPIC_SOCKET, "crowd:1");
  assert.deepEqual(first.calls.at(-1), [CLOSE]);
  // The server stopped the client; a reader opened after that (as the core once did for a
  // subscription made while stopped) is still closed by close(), which the stopped core answers
  // with nothing.
  emit(STATE, undefined, "closed", 4502, "revoked");
  emit(OPEN_TOPIC_SOCKET, "crowd:2");
  const late = cores.at(-1);
  client.close();
  assert.deepEqual(core.calls.at(-1), [CLOSE]);
  assert.deepEqual(late.calls, [[START, true], [CLOSE]]);
});

test("a topic socket stopped with the client is kept: connect() resumes it, with the newest grant", () => {
  const { client, emit } = setup();
  emit(OPEN_TOPIC_SOCKET, "crowd:1", "grant-1");
  const reader = cores.at(-1);
  // The server stopped the client (4502): the reader's core stops too, and keeps its position.
  emit(STATE, undefined, "closed", 4502, "revoked");
  assert.deepEqual(reader.calls, [[START, true], [CLOSE]]);
  // connect() again: the core asks for the topic socket again, which is the same reader's core
  // (not a new one from "now"), given the newest grant and started.
  client.connect();
  emit(OPEN_TOPIC_SOCKET, "crowd:1", "grant-2");
  assert.equal(cores.at(-1), reader);
  assert.deepEqual(reader.calls.slice(2), [[SUBSCRIBE, 0, "crowd:1", { token: "grant-2" }], [START, true]]);
  // close() closes it for good.
  client.close();
  assert.deepEqual(reader.calls.at(-1), [CLOSE]);
  emit(OPEN_TOPIC_SOCKET, "crowd:1");
  assert.equal(cores.at(-1), reader);
});

test("a provider that rejects with `terminal` stops the client: TOKEN says so; missing_token is terminal", async () => {
  const ask = async (token) => {
    const { core, emit } = setup({ token });
    const answered = new Promise((resolve) => (core.answer = (order, a, b, c) => order === TOKEN && resolve([a, b, c])));
    emit(FETCH_TOKEN, undefined, 3);
    return answered;
  };
  assert.deepEqual(
    await ask(() => Promise.reject(Object.assign(new Error("/token answered 401"), { terminal: true }))),
    [3, { message: "/token answered 401" }, true],
  );
  assert.deepEqual(await ask(() => Promise.reject({ message: "flaky", terminal: false })), [3, { message: "flaky" }, false]);
  const { client, emit } = setup();
  const errors = [];
  client.onError((e) => errors.push(e));
  emit(ERROR, undefined, "missing_token", "/token answered 401");
  assert.deepEqual(errors, [
    {
      code: "missing_token",
      message:
        "the token provider has no token: /token answered 401; call connect() again once it has one",
      terminal: true,
    },
  ]);
});

test("token_expired is terminal exactly when the core says the client stopped for it", () => {
  const { client, emit } = setup();
  const errors = [];
  client.onError((e) => errors.push([e.code, e.terminal]));
  // A fixed token string, which cannot be renewed: the client stopped.
  emit(ERROR, undefined, "token_expired", true);
  // A token provider's: a fresh one is asked for after backoff.
  emit(ERROR, undefined, "token_expired", false);
  assert.deepEqual(errors, [
    ["token_expired", true],
    ["token_expired", false],
  ]);
});

// The Stimulus controller (js/stimulus.js) over this face, with a stand-in for @hotwired/stimulus's
// Controller that records what it dispatches.
test("the Stimulus controller reports a client it cannot make as edgepush:error, as a failed load", async () => {
  const stimulus = join(dir, "node_modules", "@hotwired", "stimulus");
  mkdirSync(stimulus, { recursive: true });
  writeFileSync(join(stimulus, "package.json"), '{"name":"@hotwired/stimulus","type":"module","main":"index.js"}');
  writeFileSync(
    join(stimulus, "index.js"),
    "export class Controller { dispatch(name, { detail }) { (this.dispatched ??= []).push([name, detail]); } }",
  );
  writeFileSync(join(dir, "edgepush_client.js"), 'export { default, EdgepushClient } from "./client.js";');
  copyEntry("stimulus.js", dir);
  const { default: EdgepushController } = await import(pathToFileURL(join(dir, "stimulus.js")).href);
  const unhandled = [];
  const record = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", record);
  try {
    // A malformed data-edgepush-url-value: the client's constructor throws.
    const controller = Object.assign(new EdgepushController(), {
      urlValue: "ftp://x",
      tokenValue: "t",
      tokenUrlValue: "",
      eventsValue: [],
      topicsValue: [],
    });
    controller.connect();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(controller.dispatched, [
      [
        "error",
        {
          code: "config",
          message: "invalid client configuration: the URL must start with https://, http://, wss:// or ws://",
          terminal: true,
        },
      ],
    ]);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", record);
  }
});

/** The Stimulus controller's module over this face, with its stand-in Controller (once). */
async function stimulusController() {
  const stimulus = join(dir, "node_modules", "@hotwired", "stimulus");
  mkdirSync(stimulus, { recursive: true });
  writeFileSync(join(stimulus, "package.json"), '{"name":"@hotwired/stimulus","type":"module","main":"index.js"}');
  writeFileSync(
    join(stimulus, "index.js"),
    "export class Controller { dispatch(name, { detail }) { (this.dispatched ??= []).push([name, detail]); } }",
  );
  writeFileSync(join(dir, "edgepush_client.js"), 'export { default, EdgepushClient } from "./client.js";');
  copyEntry("stimulus.js", dir);
  return (await import(pathToFileURL(join(dir, "stimulus.js")).href)).default;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 10));

/** A controller as Stimulus makes one, with these values, connected and loaded. */
async function stimulusWith(values) {
  const EdgepushController = await stimulusController();
  const controller = Object.assign(new EdgepushController(), {
    urlValue: "https://push.example",
    tokenValue: "t",
    tokenUrlValue: "",
    eventsValue: [],
    topicsValue: [],
    ...values,
  });
  controller.connect();
  await tick();
  return controller;
}

test("the Stimulus controller resumes the page's last client: a Turbo visit loses nothing", async () => {
  const first = await stimulusWith({});
  assert.deepEqual(cores.at(-1).args.at(-1), undefined);
  first.disconnect();
  // The next page's element (or the one Turbo restored from its cache).
  await stimulusWith({});
  assert.deepEqual(cores.at(-1).args.at(-1), { epoch: "e1", lastId: 7 });
});

test("the Stimulus controller's next client resumes its topics from the last one's subscriptions", async () => {
  const url = "https://topics.example";
  const first = await stimulusWith({ urlValue: url, topicsValue: ["feed:1", "feed:2"] });
  // The server answered for feed:1 only: feed:2 has no position yet.
  cores.at(-1).positions.set("feed:1", ["t1", 4]);
  first.disconnect();
  const next = await stimulusWith({ urlValue: url, topicsValue: ["feed:1", "feed:2"] });
  assert.deepEqual(cores.at(-1).calls.slice(0, 2), [
    [SUBSCRIBE, 1, "feed:1", { resume: { epoch: "t1", lastId: 4 } }],
    [SUBSCRIBE, 2, "feed:2", { resume: undefined }],
  ]);
  next.disconnect();
});

test("the Stimulus controller follows its values: topics, events and url changed while connected", async () => {
  const controller = await stimulusWith({ topicsValue: ["a:1", "b:1"], eventsValue: ["A"] });
  const core = cores.at(-1);
  // Turbo 8 morphing changes the attributes of the connected element; Stimulus calls back.
  const change = (name, value) => {
    const old = controller[`${name}Value`];
    controller[`${name}Value`] = value;
    controller[`${name}ValueChanged`]?.(value, old);
  };
  change("topics", ["b:1", "c:1"]);
  assert.deepEqual(core.calls.slice(-2), [
    [SUBSCRIBE, 3, "c:1", { resume: undefined }],
    [UNSUBSCRIBE, 1],
  ]);
  change("events", ["B"]);
  core.act(EVENT, undefined, frame("A", 1));
  core.act(EVENT, undefined, frame("B", 2));
  core.act(EVENT, "c:1", frame("B", 3, "c:1"));
  core.act(EVENT, "b:1", frame("A", 4, "b:1"));
  assert.deepEqual(
    controller.dispatched.filter(([name]) => name === "event").map(([, e]) => e.payload),
    [2, 3],
  );
  change("url", "https://other.example");
  assert.equal(core.calls.at(-1)[0], CLOSE);
  await tick();
  assert.equal(cores.at(-1).args[0], "https://other.example");
  assert.deepEqual(cores.at(-1).calls.map(([order, , topic]) => [order, topic]), [
    [SUBSCRIBE, "b:1"],
    [SUBSCRIBE, "c:1"],
    [START, undefined],
  ]);
  controller.disconnect();
});

test("the Stimulus controller connects nothing in a Turbo preview", async () => {
  globalThis.document = { documentElement: { hasAttribute: (name) => name === "data-turbo-preview" } };
  try {
    const made = cores.length;
    const controller = await stimulusWith({});
    assert.equal(cores.length, made);
    controller.disconnect();
  } finally {
    delete globalThis.document;
  }
});

/** Copies js/`file` (stimulus.js or react.js) into `into`, with the loader it imports. */
function copyEntry(file, into) {
  for (const name of [file, "load-sdk.js"]) {
    copyFileSync(join(sdk, "js", name), join(into, name));
  }
}

/** A copy of js/`file` (stimulus.js or react.js) in a directory of its own, whose SDK's `init()`
 * (the fetch of the .wasm) fails the first time, as it does offline or during a deploy. */
async function loadFailingOnce(file) {
  const own = mkdtempSync(join(dir, "failing-once-"));
  writeFileSync(
    join(own, "edgepush_client.js"),
    `export { EdgepushClient } from "../client.js";
let loads = 0;
export default async function init() {
  if (++loads === 1) throw new TypeError("Failed to fetch");
}`,
  );
  copyEntry(file, own);
  return import(pathToFileURL(join(own, file)).href);
}

test("the Stimulus controller loads the SDK again on the next connect after a failed load", async () => {
  await stimulusController(); // Writes the stand-in for @hotwired/stimulus.
  const { default: EdgepushController } = await loadFailingOnce("stimulus.js");
  const values = { urlValue: "https://push.example", tokenValue: "t", tokenUrlValue: "", eventsValue: [], topicsValue: [] };
  const made = cores.length;
  const first = Object.assign(new EdgepushController(), values);
  first.connect();
  await tick();
  assert.deepEqual(first.dispatched, [
    ["error", { code: "config", message: "the SDK did not load: TypeError: Failed to fetch", terminal: true }],
  ]);
  first.disconnect();
  // The next element (a Turbo visit), the network back.
  const next = Object.assign(new EdgepushController(), values);
  next.connect();
  await tick();
  assert.equal(next.dispatched, undefined);
  assert.equal(cores.length, made + 1);
  next.disconnect();
});

test("the Stimulus controller's token fetch stops the client on 401 and 403, retries on others", async () => {
  const EdgepushController = await stimulusController();
  const controller = Object.assign(new EdgepushController(), { tokenUrlValue: "/edgepush/token" });
  const fetch = globalThis.fetch;
  try {
    const answer = async (status) => {
      globalThis.fetch = async () => ({ ok: false, status });
      return controller.fetchToken().catch((error) => [error.message, error.terminal]);
    };
    assert.deepEqual(await answer(401), ["/edgepush/token answered 401", true]);
    assert.deepEqual(await answer(403), ["/edgepush/token answered 403", true]);
    assert.deepEqual(await answer(503), ["/edgepush/token answered 503", false]);
  } finally {
    globalThis.fetch = fetch;
  }
});

// The React hooks (js/react.js) over this face, with a stand-in for react: one component, its
// hooks kept by call order, its effects run after each render (every cleanup due first, as React
// does), a state change rendering again.
async function reactHooks() {
  const react = join(dir, "node_modules", "react");
  mkdirSync(react, { recursive: true });
  writeFileSync(join(react, "package.json"), '{"name":"react","type":"module","main":"index.js"}');
  writeFileSync(
    join(react, "index.js"),
    `let slot;
const hook = (make) => {
  const i = slot.index++;
  if (slot.hooks.length <= i) slot.hooks.push(make());
  return slot.hooks[i];
};
export const useRef = (current) => hook(() => ({ current }));
export function useState(value) {
  const c = slot;
  const first = () => (typeof value == "function" ? value() : value);
  const h = hook(() => ({ value: first(), set: (v) => ((h.value = typeof v == "function" ? v(h.value) : v), (c.dirty = true)) }));
  return [h.value, h.set];
}
export function useEffect(effect, deps) {
  const h = hook(() => ({}));
  if (!deps || !h.deps || deps.some((d, i) => !Object.is(d, h.deps[i]))) slot.due.push([h, effect, deps]);
}
export function mount(component, props) {
  const c = { hooks: [] };
  const render = (next = props) => {
    props = next;
    do {
      Object.assign(c, { dirty: false, index: 0, due: [] });
      slot = c;
      c.output = component(props);
      slot = undefined;
      for (const [h] of c.due) h.cleanup?.();
      for (const [h, effect, deps] of c.due) Object.assign(h, { deps, cleanup: effect() });
    } while (c.dirty);
    return c.output;
  };
  render();
  return { render, unmount: () => c.hooks.forEach((h) => h.cleanup?.()) };
}`,
  );
  writeFileSync(join(dir, "edgepush_client.js"), 'export { default, EdgepushClient } from "./client.js";');
  copyEntry("react.js", dir);
  const hooks = await import(pathToFileURL(join(dir, "react.js")).href);
  const { mount } = await import(pathToFileURL(join(react, "index.js")).href);
  return { ...hooks, mount };
}

test("useEdgepush resumes a new client (url or token changed) from the last one's position", async () => {
  const { useEdgepush, mount } = await reactHooks();
  const root = mount(useEdgepush, { url: "https://push.example", token: "a" });
  await tick();
  const first = root.render();
  assert.ok(first);
  assert.deepEqual(cores.at(-1).args.at(-1), undefined);
  root.render({ url: "https://push.example", token: "b" });
  await tick();
  const second = root.render();
  assert.notEqual(second, first);
  assert.equal(cores.at(-1).args[1], "b");
  assert.deepEqual(cores.at(-1).args.at(-1), { epoch: "e1", lastId: 7 });
  root.unmount();
});

test("useEdgepush reports a client it cannot make with console.error, no unhandled rejection", async () => {
  const { useEdgepush, mount } = await reactHooks();
  const unhandled = [];
  const printed = [];
  const record = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", record);
  const error = console.error;
  console.error = (...args) => printed.push(args.join(" "));
  try {
    const root = mount(useEdgepush, { url: "ftp://x", token: "t" });
    await tick();
    assert.equal(root.render(), null);
    assert.deepEqual(printed, [
      "edgepush: invalid client configuration: the URL must start with https://, http://, wss:// or ws://",
    ]);
    assert.deepEqual(unhandled, []);
    root.unmount();
  } finally {
    console.error = error;
    process.off("unhandledRejection", record);
  }
});

test("useEdgepushTopic subscribes the new grant or topic before it unsubscribes the old one", async () => {
  const { useEdgepushTopic, mount } = await reactHooks();
  const { client, core } = setup();
  const root = mount(({ topic, token }) => useEdgepushTopic(client, topic, { token }), { topic: "a:1", token: "g1" });
  // A rotated subscription token: the core keeps the topic's stream and updates its token.
  root.render({ topic: "a:1", token: "g2" });
  await tick();
  root.render({ topic: "b:1", token: "g2" });
  await tick();
  root.unmount();
  await tick();
  const options = (token) => ({ token, resume: undefined });
  assert.deepEqual(core.calls.slice(1), [
    [SUBSCRIBE, 1, "a:1", options("g1")],
    [SUBSCRIBE, 2, "a:1", options("g2")],
    [UNSUBSCRIBE, 1],
    [SUBSCRIBE, 3, "b:1", options("g2")],
    [UNSUBSCRIBE, 2],
    [UNSUBSCRIBE, 3],
  ]);
});

test("useEdgepushTopic resumes the topic on a new client from the last subscription's position", async () => {
  const { useEdgepush, useEdgepushTopic, mount } = await reactHooks();
  const app = ({ token, topic }) => useEdgepushTopic(useEdgepush({ url: "https://push.example", token }), topic);
  const root = mount(app, { token: "a", topic: "feed:1" });
  await tick();
  const first = root.render();
  const core = cores.at(-1);
  const subscribes = (core) => core.calls.filter(([order]) => order === SUBSCRIBE);
  assert.deepEqual(subscribes(core), [[SUBSCRIBE, 1, "feed:1", { token: undefined, resume: undefined }]]);
  core.positions.set("feed:1", ["t1", 4]);
  assert.deepEqual(first.position, { epoch: "t1", lastId: 4 });
  // A new token string: a new client, which subscribes the topic from there.
  root.render({ token: "b", topic: "feed:1" });
  await tick();
  root.render();
  const next = cores.at(-1);
  assert.notEqual(next, core);
  assert.deepEqual(subscribes(next), [[SUBSCRIBE, 1, "feed:1", { token: undefined, resume: { epoch: "t1", lastId: 4 } }]]);
  // Another topic starts from its newest event.
  root.render({ token: "b", topic: "feed:2" });
  assert.deepEqual(subscribes(next).at(-1), [SUBSCRIBE, 2, "feed:2", { token: undefined, resume: undefined }]);
  root.unmount();
});

test("useEdgepush loads the SDK again on the next mount after a failed load", async () => {
  const { mount } = await reactHooks();
  const { useEdgepush } = await loadFailingOnce("react.js");
  const warned = [];
  const warn = console.warn;
  console.warn = (...args) => warned.push(args.join(" "));
  try {
    const first = mount(useEdgepush, { url: "https://push.example", token: "t" });
    await tick();
    assert.equal(first.render(), null);
    assert.deepEqual(warned, ["edgepush: the SDK did not load: TypeError: Failed to fetch"]);
    first.unmount();
    // The next mount, the network back.
    const next = mount(useEdgepush, { url: "https://push.example", token: "t" });
    await tick();
    assert.ok(next.render());
    assert.equal(warned.length, 1);
    next.unmount();
  } finally {
    console.warn = warn;
  }
});
