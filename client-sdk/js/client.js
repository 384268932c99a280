// The JS/TS face of the package: EdgepushClient and EdgepushSubscription, as declared in the
// TYPES section of client-sdk/src/js.rs (the package's edgepush_client.d.ts).
//
// scripts/build-sdk.sh bundles this module with the wasm-bindgen glue (which it names
// edgepush_core.js) into the package's edgepush_client.js. The connection itself (the state
// machine, the socket, timers, tokens, resuming) runs in the wasm, as `Core`; this module reads
// and checks the options, keeps the handlers and calls them, and builds the objects handlers
// receive: JS code is much smaller than the same code in wasm. Its handler semantics are those of
// the Rust face's registry (client-sdk/src/dispatch.rs):
// - handlers run in registration order; one removed while a notice is being delivered is not
//   called for it any more;
// - an event goes to the handlers of its name, or to the onUnknown ones when it has none;
// - a topic's events, resyncs, refusals, counts and presence reach only the handlers of that
//   topic's subscriptions, everything else only the client's;
// - a handler that throws (or an onMessage/onBackground payload without its string field) is
//   reported to the client's onError handlers, except from an onError handler; an error nobody
//   listens to is logged with console.warn; a refusal without a subscription onError handler goes
//   to the client's as "server_error";
// - a refused subscription's handlers are removed, and after close() every handler, once they
//   heard the final "closed" state.
import init, { Core, initSync } from "./edgepush_core.js";

export { init as default, initSync };

// What the core tells `emit(kind, topic, a, b, c)` (`kind` in client-sdk/src/js.rs), and the
// kinds of handlers: an event's are NAMED (or UNKNOWN); a refusal's, ERROR.
const NAMED = 0, STATE = 1, ERROR = 2, RESYNC = 3, UNSUBSCRIBED = 4, OCCUPANCY = 5, PRESENCE = 6;
const TOKEN = 7, UNKNOWN = 8;
// What the face asks of the core: `core.ask(order, a, b)` (`order` in client-sdk/src/js.rs).
const CONNECT = 0, CLOSE = 1, SUBSCRIBE = 2, UNSUBSCRIBE = 3, POSITION = 4;

/** The message of a thrown value: a thrown string, or an error's `message`. */
const text = (thrown) =>
  typeof thrown == "string"
    ? thrown
    : typeof thrown == "object" && typeof thrown?.message == "string"
      ? thrown.message
      : "unknown error";

/** What happened and what to do, by error code, from the error's parts: the texts of
 * `Error::message` in client-sdk/src/error.rs (client.test.mjs checks that they agree). */
const MESSAGES = {
  bad_payload: (name, reason) =>
    `the payload of event ${name} does not match its handler's type: ${reason}; the event was skipped`,
  token_provider: (reason) => `the token provider failed: ${reason}; retrying with backoff`,
  token_expired: () =>
    "the connect token has expired; a token provider is asked for a fresh one, a fixed token string cannot be renewed",
  rejected: (reason, code) =>
    `the server closed the connection with code ${code} (${reason}); not reconnecting: fix the cause, then call connect() again`,
  server_error: (code, message) => `the server reported ${code}: ${message}`,
  handler_threw: (reason) => `an event handler threw: ${reason}`,
  socket: (reason) => `the browser could not open the WebSocket: ${reason}; retrying with backoff`,
  config: (reason) => `invalid client configuration: ${reason}`,
};

/** An EdgepushError from its code and parts; `terminal` follows from the code, `closeCode` is a
 * "rejected" error's second part. */
const error = (code, a, b) => ({
  code,
  message: MESSAGES[code](a, b),
  terminal: code == "rejected" || code == "config",
  ...(code == "bad_payload" && { event: a }),
  ...(code == "rejected" && { closeCode: b }),
});

/** The fields of each state beside `state`, in order. */
const STATE_FIELDS = { connecting: ["attempt"], reconnecting: ["attempt", "delayMs"], closed: ["code", "reason"] };

/** Every handler of one client and its subscriptions, in registration order. */
class Handlers {
  list = [];

  /** Registers `call` for notices of `kind` (and `name`), of the client (`topic` undefined) or
   * of a subscription; returns the function that removes it. */
  add(topic, handle, kind, name, call) {
    const entry = { topic, handle, kind, name, call };
    this.list.push(entry);
    return () => this.remove((e) => e == entry);
  }

  /** Removes the handlers `unwanted` picks; a notice being delivered skips them. */
  remove(unwanted) {
    this.list = this.list.filter((e) => !(unwanted(e) && (e.gone = true)));
  }

  /** Calls the handlers of the notice `kind` in `topic`'s scope, each with the arguments `make`
   * returns (an event's with its `name`). */
  notify(kind, topic, make, name) {
    const pick = (k) => this.list.filter((e) => e.topic === topic && e.kind == k && (k || e.name === name));
    let targets = pick(kind == UNSUBSCRIBED ? ERROR : kind);
    if (kind == NAMED && !targets.length) targets = pick(UNKNOWN);
    if (!targets.length) {
      const [unheard] = make();
      if (kind == ERROR) console.warn("edgepush:", unheard.message);
      if (kind == UNSUBSCRIBED) {
        this.report(error("server_error", unheard.code, unheard.message));
      }
    }
    for (const entry of targets) {
      if (entry.gone) continue;
      let failure;
      try {
        failure = entry.call(...make());
      } catch (thrown) {
        failure = error("handler_threw", text(thrown));
      }
      // An error handler's own failure has nobody left to go to.
      if (failure && kind != ERROR) this.report(failure);
    }
  }

  /** Tells the client's error handlers. */
  report(failure) {
    this.notify(ERROR, undefined, () => [failure]);
  }
}

/** A handler of one argument; what it returns is ignored. */
const one = (handler) => (a) => {
  handler(a);
};

/** A handler of a built-in event whose payload must have the string `field`. */
const checked = (handler, field) => (event) => {
  const payload = event.payload;
  if (typeof payload == "object" && typeof payload?.[field] == "string") {
    handler(event);
  } else {
    return error("bad_payload", event.name, `payload.${field} must be a string`);
  }
};

/** A private method of both classes below. */
const ADD = Symbol("add");

/** What the client and its subscriptions have in common: handlers of one scope (the client's,
 * or a subscription's topic and handle) in the client's registry. */
class Scope {
  #handlers;
  #topic;
  #handle;

  constructor(handlers, topic, handle) {
    this.#handlers = handlers;
    this.#topic = topic;
    this.#handle = handle;
  }

  [ADD](kind, name, call) {
    return this.#handlers.add(this.#topic, this.#handle, kind, name, call);
  }

  on(name, handler) {
    return this[ADD](NAMED, name, one(handler));
  }

  onResync(handler) {
    return this[ADD](RESYNC, undefined, one(handler));
  }

  onError(handler) {
    return this[ADD](ERROR, undefined, one(handler));
  }
}

export class EdgepushClient extends Scope {
  #core;
  #handlers;
  #state = { state: "idle" };
  #closed = false;

  constructor(options) {
    const handlers = new Handlers();
    super(handlers, undefined, 0);
    this.#handlers = handlers;
    const url = options?.url;
    if (typeof url != "string") throw new TypeError("options.url must be a string");
    // In ms, at most 4e9; -1: the default.
    const ms = (key) => {
      const value = options[key];
      return typeof value == "number" ? Math.min(Math.max(value, 0), 4e9) || 0 : -1;
    };
    const timing = ["minDelayMs", "maxDelayMs", "stableAfterMs", "connectTimeoutMs", "pongTimeoutMs", "heartbeatMs"].map(ms);
    const token = options.token;
    if (typeof token != "string" && typeof token != "function") {
      throw new TypeError("options.token must be a string or a function returning a Promise of one");
    }
    const resume = options.resume;
    const from = typeof resume == "object" && resume !== null;
    const emit = (kind, topic, a, b, c) => {
      if (kind == TOKEN) return provide(token, a);
      let make = () => [a];
      if (kind == STATE) {
        make = () => {
          const state = { state: a };
          const [first, second] = STATE_FIELDS[a] ?? [];
          if (first) state[first] = b;
          if (second) state[second] = c;
          return [state];
        };
        this.#state = make()[0];
      }
      if (kind == ERROR) make = () => [error(a, b, c)];
      if (kind == RESYNC) make = () => [undefined];
      if (kind == UNSUBSCRIBED) make = () => [{ topic, code: a, message: b }];
      if (kind == PRESENCE) make = () => [a, b];
      const handlers = this.#handlers;
      handlers.notify(kind, topic, make, kind == NAMED ? a.name : undefined);
      // A refused subscription is over, and so are its handlers; after close(), every handler.
      if (kind == UNSUBSCRIBED) handlers.remove((e) => e.topic === topic);
      if (kind == STATE && a == "closed" && this.#closed) handlers.remove(() => true);
    };
    try {
      this.#core = new Core(
        url,
        typeof token == "string" ? token : undefined,
        ...timing,
        from ? (typeof resume.epoch == "string" ? resume.epoch : "") : undefined,
        from && typeof resume.lastId == "number" ? resume.lastId : 0,
        emit,
      );
    } catch (reason) {
      throw new TypeError(MESSAGES.config(reason));
    }
  }

  connect() {
    this.#core.ask(CONNECT);
  }

  close() {
    this.#closed = true;
    this.#core.ask(CLOSE);
  }

  onMessage(handler) {
    return this[ADD](NAMED, "Message", checked(handler, "text"));
  }

  onBackground(handler) {
    return this[ADD](NAMED, "Background", checked(handler, "color"));
  }

  onUnknown(handler) {
    return this[ADD](UNKNOWN, undefined, one(handler));
  }

  onState(handler) {
    return this[ADD](STATE, undefined, one(handler));
  }

  subscribe(topic, options) {
    const token = options?.token;
    const handle = this.#core.ask(SUBSCRIBE, topic, typeof token == "string" ? token : undefined);
    return new EdgepushSubscription(this.#core, this.#handlers, topic, handle);
  }

  get state() {
    return { ...this.#state };
  }

  get position() {
    const position = this.#core.ask(POSITION);
    return position && { epoch: position[0], lastId: position[1] };
  }

  free() {
    this.#core.free();
  }
}

export class EdgepushSubscription extends Scope {
  #core;
  #handlers;
  #handle;

  constructor(core, handlers, topic, handle) {
    super(handlers, topic, handle);
    this.#core = core;
    this.#handlers = handlers;
    this.#handle = handle;
  }

  onOccupancy(handler) {
    return this[ADD](OCCUPANCY, undefined, one(handler));
  }

  onPresence(handler) {
    return this[ADD](PRESENCE, undefined, (user, present) => {
      handler(user, present);
    });
  }

  unsubscribe() {
    // Its handlers are gone at once.
    this.#handlers.remove((e) => e.handle == this.#handle);
    this.#core.ask(UNSUBSCRIBE, this.#handle);
  }

  /** A subscription holds no wasm memory of its own: nothing to free. */
  free() {}
}

for (const type of [EdgepushClient, EdgepushSubscription]) {
  if (Symbol.dispose) type.prototype[Symbol.dispose] = type.prototype.free;
}

/** Asks the app's token `provider` for a token and calls `done` once with it, or with
 * `{message}` when it throws, rejects or gives no string. */
function provide(provider, done) {
  const fail = (thrown) => done({ message: text(thrown) });
  try {
    Promise.resolve(provider()).then(
      (token) => (typeof token == "string" ? done(token) : fail("the token provider did not return a string")),
      fail,
    );
  } catch (thrown) {
    fail(thrown);
  }
}
