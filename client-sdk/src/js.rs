//! The JS/TS face's core: every `#[wasm_bindgen]` export of the package lives here.
//!
//! The JS face itself (`EdgepushClient`, `EdgepushSubscription`) is a small hand-written ES
//! module, `client-sdk/js/client.js`, which scripts/build-sdk.sh bundles with the wasm-bindgen
//! glue as the package's `edgepush_client.js`: it reads and checks the options, keeps the
//! handlers and calls them (the semantics of `crate::dispatch`), and builds the state and error
//! objects; JS code is much smaller than the same code in wasm. Under it, [`JsCore`] (`Core` in
//! JS) runs the connection. The face asks it things through one export, `ask(order, a, b)` (see
//! [`order`]), and the driver tells the face everything through one JS callback,
//! `emit(kind, topic, a, b, c)` (see [`Emit`]): each export costs the wasm about 150 bytes of
//! wrapper. Events are handed over as the objects `JSON.parse` produced, without copying.
//!
//! The TypeScript declarations of the JS face are written by hand below (so that handlers are
//! typed: `on<P>()`, `onMessage`, `onBackground`) and become the package's `.d.ts`; the core
//! itself is left out of them.

use alloc::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::backoff::Options;
use crate::client::driver::{Driver, Sink};
use crate::client::{Client, Provider, TokenDone};
use crate::connection::{Position, State};
use crate::dispatch::Notice;
use crate::error::Error;
use crate::sys::{self, Function, js_error_text};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** One event, as handlers receive it. */
export interface EdgepushEvent<P = unknown> {
  /** Per-user id, strictly increasing; never delivered twice. */
  id: number;
  /** The event name, e.g. "Message". */
  name: string;
  /** The payload, as published. */
  payload: P;
  /** When the server accepted the event, in ms since the Unix epoch. */
  ts: number;
  /** The topic, for an event of a topic the backend subscribed the user to (`POST /subscribe`,
   * the token's `subs`), which the client's handlers receive; absent for the user's own events. */
  topic?: string;
}

/** An event of a topic, as a subscription's handlers receive it. */
export interface TopicEvent<P = unknown> extends EdgepushEvent<P> {
  /** The topic, e.g. "product:42". `id` is the topic's own: strictly increasing per topic. */
  topic: string;
}

/** The payload of the built-in "Message" event. */
export interface MessagePayload { text: string }
/** The payload of the built-in "Background" event (a CSS color). */
export interface BackgroundPayload { color: string }

/**
 * The connection state. In "closed", `code` is 1000 (normal) after close(), 4001 (token expired)
 * when a fixed token string expired, or the server's terminal close code.
 */
export type ConnectionState =
  | { state: "idle" }
  | { state: "connecting"; attempt: number }
  | { state: "open" }
  | { state: "reconnecting"; attempt: number; delayMs: number }
  | { state: "offline" }
  | { state: "closed"; code: number; reason: string };

/** Something the app should know about; never thrown. */
export interface EdgepushError {
  code: "bad_payload" | "token_provider" | "token_expired" | "rejected" | "server_error"
    | "handler_threw" | "socket" | "config";
  /** What happened and what to do. */
  message: string;
  /** Whether the client stopped because of it (it will not reconnect on its own). */
  terminal: boolean;
  /** For "bad_payload": the event name. */
  event?: string;
  /** For "rejected": the close code, e.g. 4500 (token invalid) or 4502 (revoked). */
  closeCode?: number;
}

/** Why the server refused or ended a subscription; the connection carries on. */
export interface SubscriptionError {
  /** The topic. */
  topic: string;
  /** "internal_error" may succeed when subscribing again later. */
  code: "topic_forbidden" | "invalid_topic" | "unknown_namespace" | "too_many_subscriptions"
    | "internal_error";
  /** The server's explanation. */
  message: string;
}

/** Options of `subscribe`. */
export interface SubscribeOptions {
  /** A subscription token from your backend, for topics it grants per request. */
  token?: string;
}

/**
 * One topic subscription: the topic's events go to its handlers only. It survives reconnects
 * (subscribed again from the last event delivered: nothing lost, nothing twice) until
 * unsubscribe() or until the server ends it (onError).
 */
export class EdgepushSubscription {
  private constructor();
  /** Handles every event of the topic called `name`. */
  on<P = unknown>(name: string, handler: (event: TopicEvent<P>) => void): Unsubscribe;
  /** Called when events of the topic were lost for good: reload what depends on it. The events
   * the server still keeps after the gap are delivered after this call, then live ones. */
  onResync(handler: () => void): Unsubscribe;
  /** Called when the server refuses or ends the subscription (without a handler here, the
   * client's onError hears it as "server_error"). */
  onError(handler: (error: SubscriptionError) => void): Unsubscribe;
  /** Called with the topic's viewer count (sockets subscribed to it) when it changed, at most
   * once per the namespace's `occupancy_ms` (only namespaces with `occupancy_ms` send counts). */
  onOccupancy(handler: (count: number) => void): Unsubscribe;
  /** Called when a user's first socket subscribed to the topic (`present` true) or their last
   * one left (false); only namespaces with `presence` send these. */
  onPresence(handler: (user: string, present: boolean) => void): Unsubscribe;
  /** Ends the subscription and removes its handlers; the topic is unsubscribed once no other
   * subscription of the client holds it. */
  unsubscribe(): void;
  /** Frees the wasm memory of this handle (does not unsubscribe). */
  free(): void;
  [Symbol.dispose](): void;
}

/** Removes the handler it was returned for; calling it again does nothing. A handler removed
 * while an event is being delivered is not called for it any more. */
export type Unsubscribe = () => void;

/** Where the client is in the user's event stream; save it to resume after a reload. */
export interface Position { epoch: string; lastId: number }

/** Returns a connect token (a JWT from your backend); called before every (re)connect. */
export type TokenProvider = () => string | Promise<string>;

export interface ClientOptions {
  /** The edgepush server, e.g. "https://push.example.com" (ws:// and wss:// work too). */
  url: string;
  /** A fixed token, or a provider that is asked for a fresh one on every (re)connect. */
  token: string | TokenProvider;
  /** First backoff cap in ms (default 500). */
  minDelayMs?: number;
  /** Largest backoff cap in ms (default 20000). */
  maxDelayMs?: number;
  /** Open this long (ms) counts as stable and resets the backoff (default 10000). */
  stableAfterMs?: number;
  /** Token + socket + welcome must take less than this (ms, default 15000). */
  connectTimeoutMs?: number;
  /** Heartbeat answer deadline (ms, default 10000). */
  pongTimeoutMs?: number;
  /** Ping after this long without a frame (ms); default: the server's suggestion. */
  heartbeatMs?: number;
  /** Resume from a saved position: events after it are replayed. */
  resume?: Position;
}

/**
 * A live connection to edgepush: reconnects with backoff, refreshes its token through the
 * provider, resumes without loss, and dispatches events to typed handlers. Handlers never throw
 * into the client: exceptions are reported to onError.
 */
export class EdgepushClient {
  constructor(options: ClientOptions);
  /** Connects (asynchronously; see onState). Restarts a client the server stopped. */
  connect(): void;
  /** Stops everything and removes every listener and handler; final. */
  close(): void;
  /** Handles every event called `name`. */
  on<P = unknown>(name: string, handler: (event: EdgepushEvent<P>) => void): Unsubscribe;
  /** Handles the built-in "Message" event; a payload without a string `text` goes to onError. */
  onMessage(handler: (event: EdgepushEvent<MessagePayload>) => void): Unsubscribe;
  /** Handles the built-in "Background" event; a payload without a string `color` goes to onError. */
  onBackground(handler: (event: EdgepushEvent<BackgroundPayload>) => void): Unsubscribe;
  /** Handles every event no `on` handler listens to. */
  onUnknown(handler: (event: EdgepushEvent<unknown>) => void): Unsubscribe;
  /** Called on every state change. */
  onState(handler: (state: ConnectionState) => void): Unsubscribe;
  /** Called with every error (without one, errors are logged to the console). */
  onError(handler: (error: EdgepushError) => void): Unsubscribe;
  /** Called when events were lost for good: reload the app's state. The events the server still
   * keeps after the gap are delivered after this call, then live ones. */
  onResync(handler: () => void): Unsubscribe;
  /**
   * Subscribes to a topic over this connection, at once when connected, else on connect, and
   * again after every reconnect. The server checks that the user may read it.
   */
  subscribe(topic: string, options?: SubscribeOptions): EdgepushSubscription;
  /** The current state. */
  readonly state: ConnectionState;
  /** The resume position, once known. */
  readonly position: Position | undefined;
  /** Frees the wasm memory of this handle (does not close: call close() for that). */
  free(): void;
  [Symbol.dispose](): void;
}
"#;

/// What the JS face's `emit` callback is told: the first argument, `kind`.
mod kind {
    /// `(event frame object)`, with the topic when the topic's subscriptions hear it.
    pub const EVENT: u32 = 0;
    /// `(state name, attempt | code, delayMs | reason)`.
    pub const STATE: u32 = 1;
    /// `(code, ...parts)`: see [`error_parts`](super::error_parts).
    pub const ERROR: u32 = 2;
    /// `()`, with the topic for a topic's gap.
    pub const RESYNC: u32 = 3;
    /// `(code, message)` with the topic: the server refused or ended its subscription.
    pub const UNSUBSCRIBED: u32 = 4;
    /// `(count)` with the topic.
    pub const OCCUPANCY: u32 = 5;
    /// `(user, present)` with the topic.
    pub const PRESENCE: u32 = 6;
    /// `(done)`: call the app's token provider, then `done(token)` or `done({message})`.
    pub const TOKEN: u32 = 7;
}

/// What the JS face asks of the core: `core.ask(order, a, b)`.
mod order {
    /// Connect.
    pub const CONNECT: u32 = 0;
    /// Stop everything.
    pub const CLOSE: u32 = 1;
    /// Subscribe to the topic `a`, with the subscription token `b` if any; returns the handle.
    pub const SUBSCRIBE: u32 = 2;
    /// End the subscription whose handle is `a` (the JS face removed its handlers).
    pub const UNSUBSCRIBE: u32 = 3;
    /// The resume position as `[epoch, lastId]`, once known; `undefined` before.
    pub const POSITION: u32 = 4;
}

/// The core of the JS client (`new Core(url, token, ...options, epoch, lastId, emit)` in
/// `client-sdk/js/client.js`, which has checked the options).
#[wasm_bindgen(js_name = Core, skip_typescript)]
pub struct JsCore {
    driver: Rc<Driver>,
}

#[wasm_bindgen(js_class = Core)]
impl JsCore {
    /// A client of `url` with a fixed `token`, or without one asking the app's token provider
    /// through `emit`; the six timing options in [`Options`]' order, each in ms, negative for
    /// the default; the resume position when `epoch` is given. Throws the reason of a
    /// configuration error (the JS face throws its message as a `TypeError`).
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        url: JsValue,
        token: JsValue,
        min_delay_ms: f64,
        max_delay_ms: f64,
        stable_after_ms: f64,
        connect_timeout_ms: f64,
        pong_timeout_ms: f64,
        heartbeat_ms: f64,
        epoch: JsValue,
        last_id: f64,
        emit: Function,
    ) -> Result<JsCore, JsValue> {
        let number = |ms: f64| (ms >= 0.0).then_some(ms as u32);
        let defaults = Options::default();
        let options = Options {
            min_delay_ms: number(min_delay_ms).unwrap_or(defaults.min_delay_ms),
            max_delay_ms: number(max_delay_ms).unwrap_or(defaults.max_delay_ms),
            stable_after_ms: number(stable_after_ms).unwrap_or(defaults.stable_after_ms),
            connect_timeout_ms: number(connect_timeout_ms).unwrap_or(defaults.connect_timeout_ms),
            pong_timeout_ms: number(pong_timeout_ms).unwrap_or(defaults.pong_timeout_ms),
            heartbeat_ms: number(heartbeat_ms),
        };
        // Strings as `JsValue`s: the glue passes them as they are, and one import reads them.
        let mut builder = Client::builder(url.as_string().unwrap_or_default()).options(options);
        builder = match token.as_string() {
            Some(token) => builder.token(token),
            None => builder.raw_token_provider(js_provider(emit.clone())),
        };
        if let Some(epoch) = epoch.as_string() {
            builder = builder.resume_from(Position {
                epoch,
                last_id: last_id as u64,
            });
        }
        let driver = builder
            .driver(Rc::new(Emit(emit)))
            .map_err(|error| error_parts(&error).0)?;
        // A dropped (garbage-collected) handle does not close the connection: the driver keeps
        // itself alive while it runs.
        Ok(JsCore { driver })
    }

    /// Does what `order` says (one export rather than one each: see [`order`]).
    pub fn ask(&self, order: u32, a: JsValue, b: JsValue) -> JsValue {
        let driver = &self.driver;
        match order {
            order::CONNECT => driver.connect(),
            order::CLOSE => driver.close(),
            order::SUBSCRIBE => {
                let topic = a.as_string().unwrap_or_default();
                return driver.subscribe(topic, b.as_string()).into();
            }
            order::UNSUBSCRIBE => driver.unsubscribe(a.as_f64().unwrap_or_default() as u32),
            order::POSITION => {
                if let Some(position) = driver.position() {
                    let last_id = (position.last_id as f64).into();
                    return sys::array_of2(&position.epoch.into(), &last_id);
                }
            }
            _ => {}
        }
        JsValue::UNDEFINED
    }
}

/// The JS face's sink: one callback, `emit(kind, topic, a, b, c)` (see [`kind`]), whose
/// handlers live in JS. It removes handlers itself (a refused subscription's, and every one
/// after `close()`), so [`Sink::closed`] has nothing to do here.
struct Emit(Function);

impl Emit {
    fn emit(&self, kind: u32, topic: Option<&str>, a: JsValue, b: JsValue, c: JsValue) {
        self.0.emit(&JsValue::UNDEFINED, kind, topic, &a, &b, &c);
    }
}

impl Sink for Emit {
    fn notice(&self, notice: Notice<'_, JsValue>) {
        let none = JsValue::UNDEFINED;
        let (kind, a, b, c) = match notice {
            Notice::Event(event, _) => (kind::EVENT, event.payload.clone(), none.clone(), none),
            Notice::State(state) => {
                let (b, c) = match state {
                    State::Connecting { attempt } => ((*attempt).into(), none),
                    State::Reconnecting { attempt, delay_ms } => {
                        ((*attempt).into(), (*delay_ms).into())
                    }
                    State::Closed { code, reason } => ((*code).into(), reason.as_str().into()),
                    State::Idle | State::Open | State::Offline => (none.clone(), none),
                };
                (kind::STATE, state.name().into(), b, c)
            }
            Notice::Error(error) => {
                let (b, c) = error_parts(error);
                (kind::ERROR, error.code().into(), b, c)
            }
            Notice::Resync(_) => (kind::RESYNC, none.clone(), none.clone(), none),
            Notice::Unsubscribed(refusal) => (
                kind::UNSUBSCRIBED,
                refusal.error.code.as_str().into(),
                refusal.error.message.as_str().into(),
                none,
            ),
            Notice::Occupancy(occupancy) => (
                kind::OCCUPANCY,
                (occupancy.count as f64).into(),
                none.clone(),
                none,
            ),
            Notice::Presence(presence) => (
                kind::PRESENCE,
                presence.user.as_str().into(),
                presence.present.into(),
                none,
            ),
        };
        self.emit(kind, notice.topic(), a, b, c);
    }
}

/// What the JS face builds an error's message from (the texts of [`Error::message`], which the
/// wasm does not carry): the variant's fields, and for `rejected` the close code, which is also
/// the error's `closeCode`.
fn error_parts(error: &Error) -> (JsValue, JsValue) {
    let text = |text: &str| JsValue::from(text);
    match error {
        Error::BadPayload { name, reason } => (text(name), text(reason)),
        Error::Rejected { code, reason } => (text(reason), (*code).into()),
        Error::Server { code, message } => (text(code), text(message)),
        Error::TokenProvider { reason } | Error::Handler { reason } | Error::Socket { reason } => {
            (text(reason), JsValue::UNDEFINED)
        }
        Error::Config { reason } => (text(reason), JsValue::UNDEFINED),
        Error::TokenExpired => (JsValue::UNDEFINED, JsValue::UNDEFINED),
    }
}

/// The app's token provider, called by the JS face when `emit` is told [`kind::TOKEN`]: it calls
/// the closure it is given exactly once, with the token or `{message}` (an error's text).
fn js_provider(emit: Function) -> Provider {
    let emit = Rc::new(Emit(emit));
    Rc::new(move |done: TokenDone| {
        // An `FnMut(JsValue)` like every other callback of the client (one closure adapter in
        // the glue); handed over to JS, which frees it once it lets go of it.
        let mut done = Some(done);
        let settled = Closure::<dyn FnMut(JsValue)>::new(move |outcome: JsValue| {
            if let Some(done) = done.take() {
                done(outcome.as_string().ok_or_else(|| js_error_text(&outcome)));
            }
        })
        .into_js_value();
        let none = JsValue::UNDEFINED;
        emit.emit(kind::TOKEN, None, settled, none.clone(), none);
    })
}
