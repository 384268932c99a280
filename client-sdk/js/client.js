// The JS/TS face of the package: EdgepushClient and EdgepushSubscription, as declared in the
// TYPES section of client-sdk/src/js.rs (the package's edgepush_client.d.ts).
//
// scripts/build-sdk.sh bundles this module with the wasm-bindgen glue (which it names
// edgepush_core.js) into the package's edgepush_client.js. The connection machine (states,
// backoff, heartbeat, tokens' expiry, resuming, topics) runs in the wasm, as `Core`; this module
// reads and checks the options, drives the machine (the Driver below: the socket, the timer, the
// network listeners, the token provider and the topic sockets, as client-sdk/src/client/driver.rs
// does for the Rust face), keeps the handlers and calls them, and builds the objects handlers
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
// - a refused subscription's handlers are removed (those of the handles the core held: not those
//   of a subscription made again from an onError handler), and after close() every handler, once
//   they heard the final "closed" state (also when the server had stopped the client before).
import init, { Core, initSync } from "./edgepush_core.js";
// The numbers of `act` and `ask`, and close codes: inlined by the bundler (see codes.js).
import {
  NAMED, STATE, ERROR, RESYNC, UNSUBSCRIBED, OCCUPANCY, PRESENCE, FETCH_TOKEN, CONNECT, SEND, CLOSE_SOCKET,
  SET_TIMER, CLEAR_TIMER, OPEN_TOPIC_SOCKET, CLOSE_TOPIC_SOCKET, UNKNOWN, STOP_CLIENT, START, CLOSE, SUBSCRIBE,
  UNSUBSCRIBE, TOKEN, FRAME, SOCKET_CLOSED, TIMER, NETWORK, TOPIC_ENDED, POSITION, TOPIC_SOCKET,
  TOPIC_SOCKET_STOPPED, NORMAL, ABNORMAL,
} from "./codes.js";

export { init as default, initSync };

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
  missing_token: (reason) => `the token provider has no token: ${reason}; call connect() again once it has one`,
  token_expired: () =>
    "the connect token has expired; a token provider is asked for a fresh one, a fixed token string cannot be renewed",
  rejected: (reason, code) =>
    `the server closed the connection with code ${code} (${reason}); not reconnecting: fix the cause, then call connect() again`,
  server_error: (code, message) => `the server reported ${code}: ${message}`,
  handler_threw: (reason) => `an event handler threw: ${reason}`,
  socket: (reason) => `the browser could not open the WebSocket: ${reason}; retrying with backoff`,
  config: (reason) => `invalid client configuration: ${reason}`,
};

/** An EdgepushError from its code and parts; `terminal` follows from the code (for
 * "token_expired", its first part: whether the client stopped), `closeCode` is a "rejected"
 * error's second part. */
const error = (code, a, b) => ({
  code,
  message: MESSAGES[code](a, b),
  terminal: code == "rejected" || code == "config" || code == "missing_token" || (code == "token_expired" && a),
  ...(code == "bad_payload" && { event: a }),
  ...(code == "rejected" && { closeCode: b }),
});

/** The fields of each state beside `state`, in order. */
const STATE_FIELDS = { connecting: ["attempt"], reconnecting: ["attempt", "delayMs"], closed: ["code", "reason"] };

/** Every handler of one client and its subscriptions, in registration order; `taken`: the last
 * subscription handle the core has taken. */
class Handlers {
  #list = [];

  /** Registers `call` for notices of `kind` (and `name`), of the client (`topic` undefined) or
   * of a subscription; returns the function that removes it. */
  add(topic, handle, kind, name, call) {
    const entry = { topic, handle, kind, name, call };
    this.#list.push(entry);
    return () => this.remove((e) => e == entry);
  }

  /** Removes the handlers `unwanted` picks; a notice being delivered skips them. */
  remove(unwanted) {
    this.#list = this.#list.filter((e) => !(unwanted(e) && (e.gone = true)));
  }

  /** Calls the handlers of the notice `kind` in `topic`'s scope, each with the arguments `make`
   * returns (an event's with its `name`). */
  notify(kind, topic, make, name) {
    const pick = (k) => this.#list.filter((e) => e.topic === topic && e.kind == k && (k || e.name === name));
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

/** Drives one machine (the client's, or a topic socket's): feeds it the socket's, the timer's,
 * the network's and the token provider's events one at a time (what arrives while it is busy,
 * e.g. close() from a handler, waits for the actions before it), and carries out its actions.
 * What the app hears goes to `hear(kind, topic, a, b, c)`. */
class Driver {
  #core;
  #provider;
  #hear;
  #queue = [];
  #busy = false;
  #socket;
  #timer;
  #network;
  /** The drivers of the topic sockets, by topic. */
  #readers = new Map();
  /** close() was called: the driver is done for good. */
  closed = false;

  /** Drives the machine `core`; `provider` is the app's `token` option, which the machine asks
   * for (FETCH_TOKEN) only when it is a function. */
  constructor(core, provider, hear) {
    this.#core = core;
    this.#provider = provider;
    this.#hear = hear;
  }

  /** Feeds the machine one input, then calls `then` if given; queued while it is busy. */
  run(order, a, b, c, then) {
    this.#queue.push(() => {
      this.#core.ask(order, a, b, c, this.#act);
      then?.();
    });
    if (this.#busy) return;
    this.#busy = true;
    try {
      while (this.#queue.length) this.#queue.shift()();
    } finally {
      this.#busy = false;
    }
  }

  /** The resume position of the user's stream, or of `topic`'s (known to its topic socket's
   * machine, if it has one), as `{epoch, lastId}`. */
  position(topic) {
    const position = (this.#readers.get(topic)?.#core ?? this.#core).ask(POSITION, topic);
    return position && { epoch: position[0], lastId: position[1] };
  }

  connect() {
    if (this.closed) return;
    if (!this.#network) {
      const listen = (online) => () => this.run(NETWORK, online);
      this.#network = [["online", listen(true)], ["offline", listen(false)]];
      for (const [name, listener] of this.#network) addEventListener(name, listener);
    }
    this.run(START, globalThis.navigator?.onLine !== false);
  }

  /** Stops for good; `then` runs once the machine has said its last. */
  close(then) {
    this.closed = true;
    this.run(CLOSE, undefined, undefined, undefined, then);
    // A machine the server already stopped says nothing more: the topic sockets go anyway (kept
    // for their positions).
    for (const reader of this.#readers.values()) reader.close();
  }

  /** Detaches from the socket and closes it as the client closes its sockets. */
  #drop() {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) {
      socket.onmessage = socket.onclose = null;
      socket.close(NORMAL);
    }
  }

  /** Carries out one action of the machine, or tells the app. */
  #act = (kind, topic, a, b, c) => {
    if (kind == FETCH_TOKEN) {
      provide(this.#provider, (token, terminal) => this.run(TOKEN, a, token, terminal));
    } else if (kind == CONNECT) {
      this.#drop();
      try {
        const socket = (this.#socket = new WebSocket(a, [c, b]));
        socket.onmessage = (event) => this.run(FRAME, event.data);
        socket.onclose = (event) => this.run(SOCKET_CLOSED, event.code, event.reason);
      } catch (thrown) {
        this.#hear(ERROR, undefined, "socket", text(thrown));
        // Queued: the machine is busy with this action.
        this.run(SOCKET_CLOSED, ABNORMAL, "");
      }
    } else if (kind == SEND) {
      try {
        this.#socket?.send(a);
      } catch {
        // A socket that is not open drops it; the machine notices by the heartbeat.
      }
    } else if (kind == CLOSE_SOCKET) {
      this.#drop();
    } else if (kind == SET_TIMER || kind == CLEAR_TIMER) {
      clearTimeout(this.#timer);
      if (kind == SET_TIMER) this.#timer = setTimeout(() => this.run(TIMER), Math.min(a, 2 ** 31 - 1));
    } else if (kind == OPEN_TOPIC_SOCKET) {
      if (this.closed) return;
      // One reader per topic: one left over would deliver every event twice. One the driver
      // has (stopped with the client, or open) keeps its position and takes the newest grant
      // for its next connect.
      let reader = this.#readers.get(topic);
      if (reader) {
        reader.run(SUBSCRIBE, 0, topic, { token: a });
      } else {
        // Its notices go to the client's handlers, its state aside; its refusal, and its word
        // that the client must stop (its token refused), to this machine.
        reader = new Driver(
          this.#core.ask(TOPIC_SOCKET, topic, a),
          this.#provider,
          (kind, topic, a, b, c) =>
            kind == UNSUBSCRIBED
              ? this.run(TOPIC_ENDED, { topic, error: { code: a, message: b } })
              : kind == STOP_CLIENT
                ? this.run(TOPIC_SOCKET_STOPPED, a, b)
                : kind != STATE && this.#hear(kind, topic, a, b, c),
        );
        this.#readers.set(topic, reader);
      }
      reader.connect();
    } else if (kind == CLOSE_TOPIC_SOCKET) {
      this.#readers.get(topic)?.close();
      this.#readers.delete(topic);
    } else {
      // "closed" releases the socket, the timer and the listeners first, and stops the topic
      // sockets, whose machines are kept: connect() resumes each from its last event.
      if (kind == STATE && a == "closed") {
        this.#drop();
        clearTimeout(this.#timer);
        for (const [name, listener] of this.#network ?? []) removeEventListener(name, listener);
        this.#network = undefined;
        for (const reader of this.#readers.values()) reader.run(CLOSE);
      }
      this.#hear(kind, topic, a, b, c);
    }
  };
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

  /** The garbage collector frees the client's wasm memory with its last reference (a closed
   * client's socket and timer hold none): nothing to free. */
  free() {}
}

export class EdgepushClient extends Scope {
  #driver;
  #handlers;
  #state = { state: "idle" };
  #handles = 0;

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
    const hear = (kind, topic, a, b, c) => {
      // An event, a count, a user and presence, or nothing (a resync) as they come.
      let make = () => [a, b];
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
      if (kind == UNSUBSCRIBED) make = () => [{ topic, code: a, message: b }];
      handlers.notify(kind, topic, make, kind == NAMED ? a.name : undefined);
      // A refused subscription is over, and so are its handlers: those of the handles the core
      // held, not of one subscribed meanwhile (e.g. from an onError handler just now).
      if (kind == UNSUBSCRIBED) handlers.remove((e) => e.topic === topic && e.handle <= handlers.taken);
    };
    // The core, or the reason it cannot be made.
    const core = Core.make(url, typeof token == "string" ? token : undefined, ...timing, options.resume);
    if (typeof core == "string") throw new TypeError(MESSAGES.config(core));
    this.#driver = new Driver(core, token, hear);
  }

  connect() {
    this.#driver.connect();
  }

  close() {
    // Every handler is over once the final "closed" state was told (if the server had not
    // stopped the client before, which told it already).
    this.#driver.close(() => this.#handlers.remove(() => true));
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
    const handle = ++this.#handles;
    const handlers = this.#handlers;
    this.#driver.run(SUBSCRIBE, handle, topic, options, () => (handlers.taken = handle));
    return new EdgepushSubscription(this.#driver, this.#handlers, topic, handle);
  }

  get state() {
    return { ...this.#state };
  }

  get position() {
    return this.#driver.position();
  }
}

export class EdgepushSubscription extends Scope {
  #driver;
  #handlers;
  #handle;
  #topic;

  constructor(driver, handlers, topic, handle) {
    super(handlers, topic, handle);
    this.#driver = driver;
    this.#handlers = handlers;
    this.#handle = handle;
    this.#topic = topic;
  }

  get position() {
    return this.#driver.position(this.#topic);
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
    this.#driver.run(UNSUBSCRIBE, this.#handle);
  }
}

if (Symbol.dispose) Scope.prototype[Symbol.dispose] = Scope.prototype.free;

/** Asks the app's token `provider` for a token and calls `done` once with it, or with
 * `{message}` when it throws, rejects or gives no string (and whether for good: the error's
 * `terminal`). */
function provide(provider, done) {
  const fail = (thrown) => done({ message: text(thrown) }, thrown?.terminal);
  try {
    Promise.resolve(provider()).then(
      (token) => (typeof token == "string" ? done(token) : fail("the token provider did not return a string")),
      fail,
    );
  } catch (thrown) {
    fail(thrown);
  }
}
