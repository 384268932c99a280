//! The JS/TS face's core: every `#[wasm_bindgen]` export of the package lives here.
//!
//! The JS face itself (`EdgepushClient`, `EdgepushSubscription`) is a small hand-written ES
//! module, `client-sdk/js/client.js`, which scripts/build-sdk.sh bundles with the wasm-bindgen
//! glue as the package's `edgepush_client.js`: it reads and checks the options, keeps the
//! handlers and calls them (the semantics of `crate::dispatch`), builds the state and error
//! objects, and drives the connection: the socket, the timer, the network listeners, the token
//! provider and the topic sockets are JS objects it holds, as the Rust face's driver
//! (`crate::client::driver`) holds them in Rust. JS code is much smaller than the same code in
//! wasm. Under it, [`JsCore`] (`Core` in JS) is the connection machine: the driver feeds it
//! inputs through one export, `ask(order, a, b, c, act)` (see [`order`]), and it answers with
//! the machine's actions through that JS callback, `act(kind, topic, a, b, c)` (see [`kind`]):
//! each export costs the wasm about 150 bytes of wrapper. Frames are decoded here, from the
//! socket's own string with the browser's `JSON.parse`, and events are handed over as the
//! objects it produced, without copying.
//!
//! The TypeScript declarations of the JS face are written by hand below (so that handlers are
//! typed: `on<P>()`, `onMessage`, `onBackground`) and become the package's `.d.ts`; the core
//! itself is left out of them.

use alloc::vec::Vec;
use core::cell::RefCell;

use edgepush_protocol::frames::SUBPROTOCOL;
use wasm_bindgen::prelude::*;

use crate::backoff::Options;
use crate::connection::{Action, Connection, Input, Position, State};
use crate::decode::{self, JsonObject};
use crate::error::Error;
use crate::sys::{self, Function};

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
 * when a fixed token string expired, 4500 with the reason "missing_token" when the token provider
 * said there is no token (see TokenProvider), or the server's terminal close code.
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
  code: "bad_payload" | "token_provider" | "missing_token" | "token_expired" | "rejected"
    | "server_error" | "handler_threw" | "socket" | "config";
  /** What happened and what to do. */
  message: string;
  /** Whether the client stopped because of it (it will not reconnect on its own): always for
   * "rejected", "config" and "missing_token" (the token provider rejected with `terminal`, e.g.
   * nobody is logged in: call connect() again after a login), for "token_expired" with a fixed
   * token string (with a token provider the client asks for a fresh token), never for the others. */
  terminal: boolean;
  /** For "bad_payload": the event name. */
  event?: string;
  /** For "rejected": the close code, e.g. 4500 (token invalid) or 4502 (revoked). */
  closeCode?: number;
}

/**
 * Why the server refused or ended a subscription; the connection carries on. (A topic socket
 * refused for the client's own token, e.g. 4500 (token invalid) or 4502 (revoked), ends no
 * subscription: the client stops as for its own socket, with "rejected" in its onError, and
 * connect() opens the topic socket again, resuming from the last event it delivered.)
 */
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
  /** A subscription token from your backend, for topics it grants per request. Subscribing
   * again to the same topic with a new token rotates it: the next subscribe (or, for a topic
   * read over a topic socket, that socket's next connect) offers the newest one. */
  token?: string;
  /** Where to start: a `position` of a subscription to this topic saved earlier (e.g. in
   * sessionStorage before a reload, or of another client). The events published after it are
   * delivered first, once and in order; if the server no longer has them all, onResync is
   * called first and what it still keeps follows. Ignored when the client holds the topic
   * already (another subscription to it goes on from its own position). Without it: from the
   * newest event. */
  resume?: Position;
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
  /** Where the topic's stream is (its epoch and the id of the last event delivered), once the
   * server answered the subscription or it was made with `resume`; shared by the subscriptions
   * to the topic, undefined once none holds it. Save it (also after close()) and pass it back as
   * `resume` to go on from there after a reload or with another client. */
  readonly position: Position | undefined;
  /** Ends the subscription and removes its handlers; the topic is unsubscribed once no other
   * subscription of the client holds it. */
  unsubscribe(): void;
  /** Does nothing: a subscription holds no wasm memory of its own (does not unsubscribe). */
  free(): void;
  [Symbol.dispose](): void;
}

/** Removes the handler it was returned for; calling it again does nothing. A handler removed
 * while an event is being delivered is not called for it any more. */
export type Unsubscribe = () => void;

/** Where the client is in the user's event stream, or a subscription in its topic's; save it to
 * resume after a reload. */
export interface Position { epoch: string; lastId: number }

/**
 * Returns a connect token (a JWT from your backend); called before every (re)connect. A failure
 * (a throw, a rejection) is reported as "token_provider" and retried with backoff, unless the
 * error has `terminal: true` (see TokenProviderError): then the client stops with
 * "missing_token" until connect() is called again.
 */
export type TokenProvider = () => string | Promise<string>;

/** What a token provider may throw or reject with to say that asking again will not help, e.g.
 * when your token endpoint answered 401 or 403 (nobody is logged in):
 * `throw Object.assign(new Error("/token answered 401"), { terminal: true })`. */
export interface TokenProviderError extends Error {
  /** true: the client stops ("missing_token") instead of asking again every few seconds. */
  terminal?: boolean;
}

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
  /** Does nothing (does not close: call close() for that): the garbage collector frees the
   * client's wasm memory once nothing refers to it (an open socket or a pending timer does). */
  free(): void;
  [Symbol.dispose](): void;
}
"#;

/// What the core tells the JS driver's `act` callback: the first argument, `kind`. The first
/// seven are what the app hears; the rest are the machine's I/O [`Action`]s.
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
    /// `(request)`: ask the app's token provider, then `ask(TOKEN, request, token | {message})`.
    pub const FETCH_TOKEN: u32 = 7;
    /// `(url, token, subprotocol)`: drop the socket, open a new one offering both protocols.
    pub const CONNECT: u32 = 8;
    /// `(text)`: send it on the socket.
    pub const SEND: u32 = 9;
    /// `()`: detach from the socket and close it with `CLIENT_CLOSE_CODE`.
    pub const CLOSE_SOCKET: u32 = 10;
    /// `(delay in ms)`: (re)arm the one timer.
    pub const SET_TIMER: u32 = 11;
    /// `()`: cancel the timer.
    pub const CLEAR_TIMER: u32 = 12;
    /// `(subscription token)` with the topic: read it over a socket of its own
    /// (`ask(TOPIC_SOCKET, …)`), or go on reading it with the core kept for it, which takes the
    /// token for its next connect and starts if stopped.
    pub const OPEN_TOPIC_SOCKET: u32 = 13;
    /// `()` with the topic: close its topic socket for good.
    pub const CLOSE_TOPIC_SOCKET: u32 = 14;
    /// `(close code, reason)`, from a topic socket's core only: it was closed for good for a
    /// reason of the client's; `ask(TOPIC_SOCKET_STOPPED, code, reason)` of the client's core.
    /// (15 is the JS face's own handler kind for `onUnknown`.)
    pub const STOP_CLIENT: u32 = 16;
}

/// What the JS driver asks of the core: `core.ask(order, a, b, c, act)`. Every order but the
/// two questions (`POSITION`, `TOPIC_SOCKET`) feeds the machine one [`Input`] and tells `act` its
/// actions.
mod order {
    /// Connect; `a`: whether the browser is online.
    pub const START: u32 = 0;
    /// Stop everything.
    pub const CLOSE: u32 = 1;
    /// Subscribe the handle `a` to the topic `b`, with the options `c` (`{token?, resume?}`, as
    /// the app gave them to `subscribe`).
    pub const SUBSCRIBE: u32 = 2;
    /// End the subscription whose handle is `a`.
    pub const UNSUBSCRIBE: u32 = 3;
    /// The answer to [`kind::FETCH_TOKEN`] `a`: the token `b`, or the provider's failure `b`,
    /// for good ([`Input::NoToken`]) when `c` is `true`.
    pub const TOKEN: u32 = 4;
    /// The socket's message `a` (its `data`).
    pub const FRAME: u32 = 5;
    /// The socket closed with the code `a` and the reason `b`.
    pub const SOCKET_CLOSED: u32 = 6;
    /// The timer fired.
    pub const TIMER: u32 = 7;
    /// The browser went online (`a` true) or offline.
    pub const NETWORK: u32 = 8;
    /// The topic socket of a topic was refused or ended for good: `a` is the refusal, shaped as
    /// an `unsubscribed` frame (`{topic, error: {code, message}}`).
    pub const TOPIC_ENDED: u32 = 9;
    /// The resume position as `[epoch, lastId]`, once known, of the user's stream, or of the
    /// topic `a` if given; `undefined` before.
    pub const POSITION: u32 = 10;
    /// A new core for the topic socket of the topic `a` with the subscription token `b`. (For
    /// a topic whose core the driver kept, it feeds that core `SUBSCRIBE` with handle 0 and
    /// `{token}`, then `START`, instead: see [`Action::OpenTopicSocket`].)
    pub const TOPIC_SOCKET: u32 = 11;
    /// A topic socket's core said [`kind::STOP_CLIENT`] with the close code `a` and the reason
    /// `b`: the client stops.
    pub const TOPIC_SOCKET_STOPPED: u32 = 12;
}

/// The core of the JS client: the connection machine (`Core.make(url, token, ...options,
/// resume)` in `client-sdk/js/client.js`, which has checked the options). The driver in
/// client.js feeds it inputs through [`ask`](Self::ask), one at a time, and carries out what
/// it tells the `act` callback of each call. It holds no JS value, so the garbage collector
/// frees it with its driver.
#[wasm_bindgen(js_name = Core, skip_typescript)]
pub struct JsCore {
    /// Borrowed only while it handles an input: `act` runs with nothing borrowed.
    machine: RefCell<Connection>,
}

#[wasm_bindgen(js_class = Core)]
impl JsCore {
    /// A machine for `url` with a fixed `token`, or without one asking the app's token provider
    /// (through `act`, [`kind::FETCH_TOKEN`]); the six timing options in [`Options`]' order,
    /// each in ms, negative for the default; the app's `resume` option. Returns the `Core`, or
    /// the reason of a configuration error as a string (the JS face throws its message as a
    /// `TypeError`). Not a constructor returning a `Result`: the glue's return area for it costs
    /// more than this one value, and a throw from the wasm would leave its stack frames behind.
    #[allow(clippy::too_many_arguments)]
    pub fn make(
        url: &JsValue,
        token: &JsValue,
        min_delay_ms: f64,
        max_delay_ms: f64,
        stable_after_ms: f64,
        connect_timeout_ms: f64,
        pong_timeout_ms: f64,
        heartbeat_ms: f64,
        resume: &JsValue,
    ) -> JsValue {
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
        let url = url.as_string().unwrap_or_default();
        let fixed = token.as_string().map(sys::read_token);
        match Connection::configured(&url, fixed, options) {
            Ok(mut machine) => {
                if let Some(position) = position(resume) {
                    machine.set_position(position);
                }
                JsCore {
                    machine: RefCell::new(machine),
                }
                .into()
            }
            Err(reason) => reason.into(),
        }
    }

    /// Does what `order` says (one export rather than one each: see [`order`]): feeds the
    /// machine and tells `act` what to do, in order; or answers a question.
    pub fn ask(&self, order: u32, a: JsValue, b: JsValue, c: JsValue, act: &Function) -> JsValue {
        let number = |value: &JsValue| value.as_f64().unwrap_or_default();
        let string = |value: JsValue| value.as_string().unwrap_or_default();
        let input = match order {
            order::START => {
                if let Ok(mut machine) = self.machine.try_borrow_mut() {
                    machine.set_online(a.as_bool() != Some(false));
                }
                Input::Start
            }
            order::CLOSE => Input::AppClose,
            order::SUBSCRIBE => Input::Subscribe {
                handle: number(&a) as u32,
                topic: string(b),
                token: c.string("token"),
                resume: position(&sys::get(&c, "resume")),
            },
            order::UNSUBSCRIBE => Input::Unsubscribe {
                handle: number(&a) as u32,
            },
            order::TOKEN => {
                let request = number(&a) as u32;
                match b.as_string() {
                    Some(token) => Input::Token {
                        request,
                        result: Ok(sys::read_token(token)),
                    },
                    None if c.as_bool() == Some(true) => Input::NoToken {
                        request,
                        reason: sys::js_error_text(&b),
                    },
                    None => Input::Token {
                        request,
                        result: Err(sys::js_error_text(&b)),
                    },
                }
            }
            order::FRAME => Input::Frame(sys::read_frame(&a)),
            order::SOCKET_CLOSED => Input::SocketClosed {
                code: number(&a) as u16,
                reason: string(b),
            },
            order::TIMER => Input::Timer,
            order::NETWORK if a.as_bool() == Some(true) => Input::Online,
            order::NETWORK => Input::Offline,
            order::TOPIC_ENDED => match decode::unsubscribed(&a) {
                Some(refusal) => Input::TopicEnded(refusal),
                None => return JsValue::UNDEFINED,
            },
            order::TOPIC_SOCKET_STOPPED => Input::TopicSocketStopped {
                code: number(&a) as u16,
                reason: string(b),
            },
            order::POSITION => {
                let machine = self.machine.try_borrow().ok();
                let position = machine.and_then(|m| match a.as_string() {
                    Some(topic) => m.topic_position(&topic),
                    None => m.position(),
                });
                return match position {
                    Some(position) => {
                        sys::array_of2(&position.epoch.into(), &(position.last_id as f64).into())
                    }
                    None => JsValue::UNDEFINED,
                };
            }
            order::TOPIC_SOCKET => {
                let Ok(machine) = self.machine.try_borrow() else {
                    return JsValue::UNDEFINED;
                };
                let machine = machine.topic_socket(string(a), b.as_string());
                return JsCore {
                    machine: RefCell::new(machine),
                }
                .into();
            }
            _ => return JsValue::UNDEFINED,
        };
        let actions = match self.machine.try_borrow_mut() {
            Ok(mut machine) => machine.handle(input, sys::now() as u64, sys::random()),
            Err(_) => Vec::new(),
        };
        for action in actions {
            tell(act, action);
        }
        JsValue::UNDEFINED
    }
}

/// A position the app gave (`{epoch, lastId}`, as `position` returns it): any object, its
/// `epoch` empty unless a string, its `lastId` 0 unless a number.
fn position(value: &JsValue) -> Option<Position> {
    value.is_object().then(|| Position {
        epoch: value.string("epoch").unwrap_or_default(),
        last_id: value.number("lastId").unwrap_or_default() as u64,
    })
}

/// Tells the JS driver's `act` one action of the machine (see [`kind`]).
fn tell(act: &Function, action: Action<JsValue>) {
    let text = |text: &str| JsValue::from(text);
    let none = || JsValue::UNDEFINED;
    let (kind, topic, a, b, c) = match action {
        Action::Deliver(event, scoped) => {
            let topic = event.topic.filter(|_| scoped);
            (kind::EVENT, topic, event.payload, none(), none())
        }
        Action::State(state) => {
            let (b, c) = match &state {
                State::Connecting { attempt } => ((*attempt).into(), none()),
                State::Reconnecting { attempt, delay_ms } => {
                    ((*attempt).into(), (*delay_ms).into())
                }
                State::Closed { code, reason } => ((*code).into(), text(reason)),
                State::Idle | State::Open | State::Offline => (none(), none()),
            };
            (kind::STATE, None, text(state.name()), b, c)
        }
        Action::Error(error) => {
            let (b, c) = error_parts(&error);
            (kind::ERROR, None, text(error.code()), b, c)
        }
        Action::Resync => (kind::RESYNC, None, none(), none(), none()),
        Action::TopicResync(topic, scoped) => (
            kind::RESYNC,
            scoped.then_some(topic),
            none(),
            none(),
            none(),
        ),
        Action::Unsubscribed(refusal) => (
            kind::UNSUBSCRIBED,
            Some(refusal.topic),
            text(&refusal.error.code),
            text(&refusal.error.message),
            none(),
        ),
        Action::Occupancy(occupancy) => (
            kind::OCCUPANCY,
            Some(occupancy.topic),
            (occupancy.count as f64).into(),
            none(),
            none(),
        ),
        Action::Presence(presence) => (
            kind::PRESENCE,
            Some(presence.topic),
            text(&presence.user),
            presence.present.into(),
            none(),
        ),
        Action::FetchToken { request } => (kind::FETCH_TOKEN, None, request.into(), none(), none()),
        Action::Connect { url, token } => (
            kind::CONNECT,
            None,
            text(&url),
            text(&token),
            text(SUBPROTOCOL),
        ),
        Action::Send(frame) => (kind::SEND, None, text(&frame), none(), none()),
        Action::CloseSocket => (kind::CLOSE_SOCKET, None, none(), none(), none()),
        Action::SetTimer { delay_ms } => (
            kind::SET_TIMER,
            None,
            (delay_ms as f64).into(),
            none(),
            none(),
        ),
        Action::ClearTimer => (kind::CLEAR_TIMER, None, none(), none(), none()),
        Action::OpenTopicSocket(topic, token) => (
            kind::OPEN_TOPIC_SOCKET,
            Some(topic),
            token.map_or_else(none, |token| text(&token)),
            none(),
            none(),
        ),
        Action::CloseTopicSocket(topic) => (
            kind::CLOSE_TOPIC_SOCKET,
            Some(topic),
            none(),
            none(),
            none(),
        ),
        Action::StopClient { code, reason } => {
            (kind::STOP_CLIENT, None, code.into(), text(&reason), none())
        }
    };
    act.act(&JsValue::UNDEFINED, kind, topic.as_deref(), &a, &b, &c);
}

/// What the JS face builds an error's message from (the texts of [`Error::message`], which the
/// wasm does not carry): the variant's fields, for `rejected` the close code, which is also the
/// error's `closeCode`, and for `token_expired` whether the client stopped (its `terminal`).
fn error_parts(error: &Error) -> (JsValue, JsValue) {
    let text = |text: &str| JsValue::from(text);
    match error {
        Error::BadPayload { name, reason } => (text(name), text(reason)),
        Error::Rejected { code, reason } => (text(reason), (*code).into()),
        Error::Server { code, message } => (text(code), text(message)),
        Error::TokenProvider { reason }
        | Error::MissingToken { reason }
        | Error::Handler { reason }
        | Error::Socket { reason } => (text(reason), JsValue::UNDEFINED),
        Error::Config { reason } => (text(reason), JsValue::UNDEFINED),
        Error::TokenExpired { stopped } => ((*stopped).into(), JsValue::UNDEFINED),
    }
}
