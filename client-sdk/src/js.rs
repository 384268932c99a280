//! The JS/TS face: every `#[wasm_bindgen]` export of the package lives here.
//!
//! `EdgepushClient` wraps the Rust [`Client`] and `EdgepushSubscription` its [`Subscription`];
//! handlers are plain JS functions and events are handed over as the objects `JSON.parse`
//! produced, without copying. The built-in
//! events are checked without serde (`payload.text` / `payload.color` must be strings), which
//! keeps serde's generic code out of the package. The TypeScript declarations are written by hand
//! below so that handlers are typed (`on<P>()`, `onMessage`, `onBackground`). Every `on…` returns
//! a function that removes its handler.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;

use wasm_bindgen::prelude::*;

use crate::backoff::Options;
use crate::client::{Client, Provider, RawEvent, Subscription, TokenDone};
use crate::connection::{Position, State};
use crate::dispatch::{HandlerKind, Notice};
use crate::error::Error;
use crate::events::{BACKGROUND, MESSAGE};
use crate::sys::{self, Function, Object, TypeError, get, js_error_text};

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

/// The JS client. See the TypeScript declarations above for the documented API.
#[wasm_bindgen(js_name = EdgepushClient, skip_typescript)]
pub struct JsClient {
    client: Client,
}

#[wasm_bindgen(js_class = EdgepushClient)]
impl JsClient {
    /// `new EdgepushClient({url, token, ...})`; throws a `TypeError` for bad options.
    #[wasm_bindgen(constructor, skip_typescript)]
    pub fn new(options: JsValue) -> Result<JsClient, JsValue> {
        let url = get(&options, "url")
            .as_string()
            .ok_or_else(|| type_error("options.url must be a string"))?;
        let mut builder = Client::builder(url).options(read_options(&options));
        let token = get(&options, "token");
        if let Some(token) = token.as_string() {
            builder = builder.token(token);
        } else if let Some(provider) = token.dyn_ref::<Function>() {
            builder = builder.raw_token_provider(js_provider(provider.clone()));
        } else {
            return Err(type_error(
                "options.token must be a string or a function returning a Promise of one",
            ));
        }
        let resume = get(&options, "resume");
        if resume.is_object() {
            builder = builder.resume_from(Position {
                epoch: get(&resume, "epoch").as_string().unwrap_or_default(),
                last_id: get(&resume, "lastId").as_f64().unwrap_or(0.0) as u64,
            });
        }
        let client = builder
            .build()
            .map_err(|error| type_error(&error.message()))?;
        // A dropped (garbage-collected) JS handle must not silently close a live connection.
        Ok(JsClient {
            client: client.into_detached(),
        })
    }

    /// Connects.
    #[wasm_bindgen(skip_typescript)]
    pub fn connect(&self) {
        self.client.connect();
    }

    /// Stops everything.
    #[wasm_bindgen(skip_typescript)]
    pub fn close(&self) {
        self.client.close();
    }

    /// Handles every event called `name`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, name: &str, handler: Function) -> JsValue {
        self.add(HandlerKind::Named(name.into()), None, handler)
    }

    /// Handles `Message` events with a string `text`.
    #[wasm_bindgen(js_name = onMessage, skip_typescript)]
    pub fn on_message(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Named(MESSAGE.into()), Some("text"), handler)
    }

    /// Handles `Background` events with a string `color`.
    #[wasm_bindgen(js_name = onBackground, skip_typescript)]
    pub fn on_background(&self, handler: Function) -> JsValue {
        self.add(
            HandlerKind::Named(BACKGROUND.into()),
            Some("color"),
            handler,
        )
    }

    /// Handles events nobody else listens to.
    #[wasm_bindgen(js_name = onUnknown, skip_typescript)]
    pub fn on_unknown(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Unknown, None, handler)
    }

    /// Called on every state change.
    #[wasm_bindgen(js_name = onState, skip_typescript)]
    pub fn on_state(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::State, None, handler)
    }

    /// Called with every error.
    #[wasm_bindgen(js_name = onError, skip_typescript)]
    pub fn on_error(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Error, None, handler)
    }

    /// Called when events were lost for good.
    #[wasm_bindgen(js_name = onResync, skip_typescript)]
    pub fn on_resync(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Resync, None, handler)
    }

    /// Subscribes to a topic.
    #[wasm_bindgen(skip_typescript)]
    pub fn subscribe(&self, topic: String, options: JsValue) -> JsSubscription {
        let subscription = match get(&options, "token").as_string() {
            Some(token) => self.client.subscribe_with_token(topic, token),
            None => self.client.subscribe(topic),
        };
        // A garbage-collected handle does not end the subscription.
        JsSubscription {
            subscription: subscription.into_detached(),
        }
    }

    /// The current state.
    #[wasm_bindgen(getter, skip_typescript)]
    pub fn state(&self) -> JsValue {
        state_object(&self.client.state())
    }

    /// The resume position, once known.
    #[wasm_bindgen(getter, skip_typescript)]
    pub fn position(&self) -> JsValue {
        match self.client.position() {
            Some(position) => object(&[
                ("epoch", position.epoch.into()),
                ("lastId", (position.last_id as f64).into()),
            ]),
            None => JsValue::UNDEFINED,
        }
    }

    /// Registers a handler; returns the function that removes it.
    fn add(&self, kind: HandlerKind, check: Option<&'static str>, handler: Function) -> JsValue {
        self.client
            .add_handler(kind, js_handler(check, handler))
            .into_js_remover()
    }
}

/// A subscription to one topic. See the TypeScript declarations above.
#[wasm_bindgen(js_name = EdgepushSubscription, skip_typescript)]
pub struct JsSubscription {
    subscription: Subscription,
}

#[wasm_bindgen(js_class = EdgepushSubscription)]
impl JsSubscription {
    /// Handles every event of the topic called `name`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, name: &str, handler: Function) -> JsValue {
        self.add(HandlerKind::Named(name.into()), handler)
    }

    /// Called when events of the topic were lost for good.
    #[wasm_bindgen(js_name = onResync, skip_typescript)]
    pub fn on_resync(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Resync, handler)
    }

    /// Called when the server refuses or ends the subscription.
    #[wasm_bindgen(js_name = onError, skip_typescript)]
    pub fn on_error(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Error, handler)
    }

    /// Called with the topic's viewer count.
    #[wasm_bindgen(js_name = onOccupancy, skip_typescript)]
    pub fn on_occupancy(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Occupancy, handler)
    }

    /// Called when a user comes to or leaves the topic.
    #[wasm_bindgen(js_name = onPresence, skip_typescript)]
    pub fn on_presence(&self, handler: Function) -> JsValue {
        self.add(HandlerKind::Presence, handler)
    }

    /// Ends the subscription.
    #[wasm_bindgen(skip_typescript)]
    pub fn unsubscribe(&self) {
        self.subscription.end();
    }

    /// Registers a handler; returns the function that removes it.
    fn add(&self, kind: HandlerKind, handler: Function) -> JsValue {
        self.subscription
            .add_handler(kind, js_handler(None, handler))
            .into_js_remover()
    }
}

/// A JS handler in the common shape; `check` names the payload field that must be a string (for
/// the typed built-in events). One adapter for every kind keeps the wasm small.
fn js_handler(
    check: Option<&'static str>,
    handler: Function,
) -> impl FnMut(Notice<'_, JsValue>) -> Result<(), Error> + 'static {
    move |notice| {
        let argument = match notice {
            Notice::Event(event, _) => {
                if let Some(field) = check {
                    check_string_field(event, field)?;
                }
                event.payload.clone()
            }
            Notice::State(state) => state_object(state),
            Notice::Error(error) => error_object(error),
            Notice::Resync(_) => JsValue::UNDEFINED,
            Notice::Unsubscribed(refusal) => object(&[
                ("topic", refusal.topic.as_str().into()),
                ("code", refusal.error.code.as_str().into()),
                ("message", refusal.error.message.as_str().into()),
            ]),
            Notice::Occupancy(occupancy) => (occupancy.count as f64).into(),
            Notice::Presence(presence) => {
                let user = presence.user.as_str().into();
                let result = handler.call2(&JsValue::UNDEFINED, &user, &presence.present.into());
                return result.map(drop).map_err(handler_threw);
            }
        };
        call(&handler, &argument)
    }
}

/// Reads the numeric options, keeping the defaults for the ones not given.
fn read_options(options: &JsValue) -> Options {
    let number = |key| get(options, key).as_f64().map(|n| n.clamp(0.0, 4e9) as u32);
    let defaults = Options::default();
    Options {
        min_delay_ms: number("minDelayMs").unwrap_or(defaults.min_delay_ms),
        max_delay_ms: number("maxDelayMs").unwrap_or(defaults.max_delay_ms),
        stable_after_ms: number("stableAfterMs").unwrap_or(defaults.stable_after_ms),
        connect_timeout_ms: number("connectTimeoutMs").unwrap_or(defaults.connect_timeout_ms),
        pong_timeout_ms: number("pongTimeoutMs").unwrap_or(defaults.pong_timeout_ms),
        heartbeat_ms: number("heartbeatMs"),
    }
}

/// Wraps a JS token provider: its result (a string, or a Promise of one) becomes the token.
/// `Promise.allSettled` turns both outcomes into one callback, called exactly once, so no
/// futures executor is needed.
fn js_provider(provider: Function) -> Provider {
    Rc::new(move |done: TokenDone| {
        let result = match provider.call0(&JsValue::UNDEFINED) {
            Ok(result) => result,
            Err(error) => return done(Err(js_error_text(&error))),
        };
        // An `FnMut(JsValue)` like every other callback of the client (one closure adapter in
        // the glue); handed over to JS, which frees it once the promise lets go of it.
        let mut done = Some(done);
        let settled = Closure::<dyn FnMut(JsValue)>::new(move |outcomes: JsValue| {
            let Some(done) = done.take() else { return };
            let outcome = get(&outcomes, "0");
            done(
                if get(&outcome, "status").as_string().as_deref() == Some("fulfilled") {
                    get(&outcome, "value")
                        .as_string()
                        .ok_or_else(|| "the token provider did not return a string".into())
                } else {
                    Err(js_error_text(&get(&outcome, "reason")))
                },
            );
        })
        .into_js_value();
        sys::all_settled(&sys::array_of1(&result)).then(&settled);
    })
}

fn call(handler: &Function, argument: &JsValue) -> Result<(), Error> {
    handler
        .call1(&JsValue::UNDEFINED, argument)
        .map(drop)
        .map_err(handler_threw)
}

fn handler_threw(error: JsValue) -> Error {
    Error::Handler {
        reason: js_error_text(&error),
    }
}

fn check_string_field(event: &RawEvent, field: &'static str) -> Result<(), Error> {
    let payload = get(&event.payload, "payload");
    if payload.is_object() && get(&payload, field).is_string() {
        return Ok(());
    }
    let mut reason = String::from("payload.");
    reason.push_str(field);
    reason.push_str(" must be a string");
    Err(Error::BadPayload {
        name: event.name.clone(),
        reason,
    })
}

fn type_error(message: &str) -> JsValue {
    TypeError::new(message).into()
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        let _ = sys::reflect_set(&object, &(*key).into(), value);
    }
    object.into()
}

fn state_object(state: &State) -> JsValue {
    let name = ("state", state.name().into());
    match state {
        State::Connecting { attempt } => object(&[name, ("attempt", (*attempt).into())]),
        State::Reconnecting { attempt, delay_ms } => object(&[
            name,
            ("attempt", (*attempt).into()),
            ("delayMs", (*delay_ms).into()),
        ]),
        State::Closed { code, reason } => object(&[
            name,
            ("code", (*code).into()),
            ("reason", reason.as_str().into()),
        ]),
        State::Idle | State::Open | State::Offline => object(&[name]),
    }
}

fn error_object(error: &Error) -> JsValue {
    let mut fields = vec![
        ("code", error.code().into()),
        ("message", error.message().into()),
        ("terminal", error.is_terminal().into()),
    ];
    match error {
        Error::BadPayload { name, .. } => fields.push(("event", name.as_str().into())),
        Error::Rejected { code, .. } => fields.push(("closeCode", (*code).into())),
        _ => {}
    }
    object(&fields)
}
