//! The browser client: the Rust API, and the engine under the JS API too.
//!
//! It turns socket, timer, network and token events into [`Input`]s for the
//! [`Connection`] state machine and carries out the [`Action`]s it returns. Every callback it
//! registers with the browser holds only a weak reference to the client; the client keeps itself
//! alive while it is connecting or connected (so that a garbage-collected JS handle does not cut
//! a live connection), until [`Client::close`] (which dropping a Rust [`Client`] calls) or a
//! terminal close code tears everything down.
//!
//! Handlers may call back into the client (e.g. `close()` from an event handler): inputs that
//! arrive while the client is busy are queued and handled right after, never re-entrantly.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
#[cfg(feature = "std")]
use core::{fmt::Display, future::Future};

use edgepush_protocol::codes::CloseCode;
use edgepush_protocol::frames::{ErrorBody, EventFrame, PONG, SUBPROTOCOL};
#[cfg(feature = "std")]
use serde::de::DeserializeOwned;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use crate::backoff::Options;
use crate::connection::{
    Action, CLIENT_CLOSE_CODE, Connection, Frame, Input, Position, State, Token, Welcome,
};
use crate::error::Error;
#[cfg(feature = "std")]
use crate::events::{BACKGROUND, Background, Event, MESSAGE, Message};
use crate::sys::{self, CloseEvent, EventTarget, MessageEvent, WebSocket};

/// Receives what the token provider produced: the token, or an error text.
pub(crate) type TokenDone = Box<dyn FnOnce(Result<String, String>)>;
/// Starts fetching a token and calls the [`TokenDone`] once with the outcome. Callback-shaped
/// rather than a `Future` so that the JS package needs no futures executor.
pub(crate) type Provider = Rc<dyn Fn(TokenDone)>;

/// An event as it comes off the socket: `payload` holds the whole parsed frame object
/// (`{type, id, name, payload, ts}`), which the JS API hands out as is.
pub(crate) type RawEvent = EventFrame<JsValue>;

/// What a handler listens to.
pub(crate) enum Topic {
    /// Events with this name.
    Named(String),
    /// Events no `Named` handler listens to.
    Unknown,
    /// State changes.
    State,
    /// Errors.
    Error,
    /// Unrecoverable gaps.
    Resync,
}

/// What a handler receives.
#[derive(Clone, Copy)]
pub(crate) enum Note<'a> {
    Event(&'a RawEvent),
    State(&'a State),
    Error(&'a Error),
    Resync,
}

/// Every handler, typed or JS, has this one shape, so that dispatch is one loop; an error it
/// returns is reported to the error handlers.
type Handler = Rc<RefCell<dyn FnMut(Note<'_>) -> Result<(), Error>>>;

/// Configures a [`Client`]: where to connect, where the token comes from, timing, and where to
/// resume. Start with [`Client::builder`].
pub struct ClientBuilder {
    url: String,
    token: Option<TokenSource>,
    options: Options,
    position: Option<Position>,
}

enum TokenSource {
    Fixed(String),
    Provider(Provider),
}

impl ClientBuilder {
    /// Connects with this token every time. When it expires the client stops with
    /// [`Error::TokenExpired`]; use [`token_provider`](Self::token_provider) to stay connected.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(TokenSource::Fixed(token.into()));
        self
    }

    /// Asks `provider` for a fresh token before every connect and reconnect (so also after the
    /// server closed for an expired token). An error is reported as [`Error::TokenProvider`] and
    /// retried with backoff. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn token_provider<F, Fut, E>(mut self, provider: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Display,
    {
        let provider: Provider = Rc::new(move |done: TokenDone| {
            let future = provider();
            wasm_bindgen_futures::spawn_local(async move {
                done(future.await.map_err(|e| e.to_string()));
            });
        });
        self.token = Some(TokenSource::Provider(provider));
        self
    }

    pub(crate) fn raw_token_provider(mut self, provider: Provider) -> Self {
        self.token = Some(TokenSource::Provider(provider));
        self
    }

    /// Backoff and heartbeat settings.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Resumes from a position saved earlier (see [`Client::position`]): the server replays the
    /// events after it. Without it, the first connect receives only new events.
    pub fn resume_from(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// Creates the client, not yet connected: register handlers, then call
    /// [`Client::connect`]. Fails with [`Error::Config`] for a URL that is not `http(s)://` or
    /// `ws(s)://`, or when neither a token nor a provider was given.
    pub fn build(self) -> Result<Client, Error> {
        let (fixed, provider) = match self.token {
            Some(TokenSource::Fixed(value)) => (Some(token_with_exp(value)), None),
            Some(TokenSource::Provider(provider)) => (None, Some(provider)),
            None => {
                return Err(Error::Config {
                    reason: "set a token or a token provider",
                });
            }
        };
        let mut machine = Connection::new(&self.url, fixed, self.options)?;
        if let Some(position) = self.position {
            machine.set_position(position);
        }
        Ok(Client {
            shared: Rc::new(Shared {
                io: RefCell::new(Io {
                    machine,
                    provider,
                    socket: None,
                    timer: None,
                    network: Vec::new(),
                    keep_alive: None,
                    finished: false,
                }),
                handlers: RefCell::new(Vec::new()),
                queue: RefCell::new(Vec::new()),
                running: Cell::new(false),
                state: RefCell::new(State::Idle),
            }),
            close_on_drop: true,
        })
    }
}

/// A live connection to edgepush for one user: reconnects with backoff, refreshes its token,
/// resumes without loss and dispatches typed events to handlers.
///
/// Dropping it closes the connection and removes every browser listener (like
/// [`close`](Self::close)). It is `!Send`: keep it on the browser's main thread, e.g. in a
/// Leptos/Yew/Dioxus context.
pub struct Client {
    shared: Rc<Shared>,
    close_on_drop: bool,
}

struct Shared {
    io: RefCell<Io>,
    handlers: RefCell<Vec<(Topic, Handler)>>,
    queue: RefCell<Vec<Input<JsValue>>>,
    running: Cell<bool>,
    state: RefCell<State>,
}

struct Io {
    machine: Connection,
    provider: Option<Provider>,
    socket: Option<Socket>,
    timer: Option<Timer>,
    network: Vec<Listener>,
    /// Keeps the client alive while it is connecting or connected, even when the app (or the JS
    /// garbage collector) drops its handle; cleared when the client stops.
    keep_alive: Option<Rc<Shared>>,
    /// `close()` was called: the client is done for good.
    finished: bool,
}

/// One WebSocket and its listeners; dropping it detaches the listeners, then closes the socket.
struct Socket {
    ws: WebSocket,
    _listeners: [Listener; 2],
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.ws.close(CLIENT_CLOSE_CODE);
    }
}

impl Client {
    /// Starts configuring a client for the edgepush server at `url`, e.g.
    /// `"https://push.example.com"` (`ws(s)://` works too).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            token: None,
            options: Options::default(),
            position: None,
        }
    }

    pub(crate) fn into_detached(mut self) -> Self {
        self.close_on_drop = false;
        self
    }

    /// Connects (asynchronously; watch [`on_state`](Self::on_state)). Also restarts a client the
    /// server stopped (e.g. after a 4502 revoke, once the user logged in again). Does nothing
    /// while already connected, or after [`close`](Self::close).
    pub fn connect(&self) {
        {
            let Ok(mut io) = self.shared.io.try_borrow_mut() else {
                return;
            };
            if io.finished {
                return;
            }
            let global = sys::global();
            io.machine
                .set_online(get(&get(&global, "navigator"), "onLine").as_bool() != Some(false));
            if io.network.is_empty() {
                let target: &EventTarget = global.unchecked_ref();
                io.network = vec![
                    Listener::new(&self.shared, target, "online", |_| Input::Online),
                    Listener::new(&self.shared, target, "offline", |_| Input::Offline),
                ];
            }
            io.keep_alive = Some(self.shared.clone());
        }
        run(&self.shared, Input::Start);
    }

    /// Stops everything: closes the socket with code 1000 ([`CloseCode::Normal`]), cancels timers
    /// and pending token fetches, removes every browser listener and, after reporting the final
    /// `closed` state, every handler. The client cannot be reconnected afterwards; build a new one.
    pub fn close(&self) {
        if let Ok(mut io) = self.shared.io.try_borrow_mut() {
            io.finished = true;
        }
        run(&self.shared, Input::AppClose);
    }

    /// The current connection state.
    pub fn state(&self) -> State {
        match self.shared.state.try_borrow() {
            Ok(state) => state.clone(),
            Err(_) => State::Idle,
        }
    }

    /// Where the client is in the user's event stream (epoch and last delivered id), once known.
    /// Save it to resume after a page reload with [`ClientBuilder::resume_from`].
    pub fn position(&self) -> Option<Position> {
        self.shared.io.try_borrow().ok()?.machine.position()
    }

    /// Calls `handler` with every event named `name` whose payload deserializes into `T`. A
    /// payload that does not fit is reported to the error handlers as [`Error::BadPayload`] and
    /// skipped. Several handlers may listen to one name. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on<T, F>(&self, name: &str, handler: F)
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        self.add_handler(Topic::Named(name.into()), typed(handler));
    }

    /// Calls `handler` with every built-in `Message` event (`{"text": ...}`). (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_message(&self, handler: impl FnMut(Event<Message>) + 'static) {
        self.on(MESSAGE, handler);
    }

    /// Calls `handler` with every built-in `Background` event (`{"color": ...}`). (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_background(&self, handler: impl FnMut(Event<Background>) + 'static) {
        self.on(BACKGROUND, handler);
    }

    /// Calls `handler` with every event no [`on`](Self::on) handler listens to, its payload
    /// decoded as `T` (e.g. `serde_json::Value`, or `serde::de::IgnoredAny` to only see names).
    /// (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_unknown<T, F>(&self, handler: F)
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        self.add_handler(Topic::Unknown, typed(handler));
    }

    /// Calls `handler` on every state change: `Connecting`, `Open`, `Reconnecting` (with attempt
    /// and delay), `Offline`, `Closed` (with code and reason).
    pub fn on_state(&self, mut handler: impl FnMut(&State) + 'static) {
        self.add_handler(Topic::State, move |note| {
            if let Note::State(state) = note {
                handler(state);
            }
            Ok(())
        });
    }

    /// Calls `handler` with every [`Error`]. Without an error handler, errors are logged to the
    /// browser console.
    pub fn on_error(&self, mut handler: impl FnMut(&Error) + 'static) {
        self.add_handler(Topic::Error, move |note| {
            if let Note::Error(error) = note {
                handler(error);
            }
            Ok(())
        });
    }

    /// Calls `handler` when events were lost and cannot be replayed (the server pruned them, or
    /// the stream was reset): reload the app's state from the backend. The events the server
    /// still keeps after the gap are delivered after this call, then live ones.
    pub fn on_resync(&self, mut handler: impl FnMut() + 'static) {
        self.add_handler(Topic::Resync, move |_| {
            handler();
            Ok(())
        });
    }

    /// Registers a handler of the common shape.
    pub(crate) fn add_handler(
        &self,
        topic: Topic,
        handler: impl FnMut(Note<'_>) -> Result<(), Error> + 'static,
    ) {
        if let Ok(mut handlers) = self.shared.handlers.try_borrow_mut() {
            handlers.push((topic, Rc::new(RefCell::new(handler))));
        }
    }
}

/// Adapts a typed event handler: decodes the payload into `T` first.
#[cfg(feature = "std")]
fn typed<T, F>(mut handler: F) -> impl FnMut(Note<'_>) -> Result<(), Error> + 'static
where
    T: DeserializeOwned + 'static,
    F: FnMut(Event<T>) + 'static,
{
    move |note| {
        if let Note::Event(raw) = note {
            handler(decode(raw)?);
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.close_on_drop {
            self.close();
        }
    }
}

/// Every callback the client hands to the browser has this one type (listeners and timers
/// alike), so the JS glue needs only one closure adapter.
type Callback = Closure<dyn FnMut(JsValue)>;

/// A callback that feeds `input(argument)` to the machine, holding the client only weakly.
fn callback(shared: &Rc<Shared>, input: fn(&JsValue) -> Input<JsValue>) -> Callback {
    let weak = Rc::downgrade(shared);
    Closure::new(move |argument: JsValue| {
        if let Some(shared) = weak.upgrade() {
            run(&shared, input(&argument));
        }
    })
}

/// The one pending `setTimeout`; dropping it cancels it.
struct Timer {
    handle: JsValue,
    _callback: Callback,
}

impl Drop for Timer {
    fn drop(&mut self) {
        sys::clear_timeout(&self.handle);
    }
}

/// A browser event listener that feeds the machine; dropping it removes it.
struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Callback,
}

impl Listener {
    fn new(
        shared: &Rc<Shared>,
        target: &EventTarget,
        kind: &'static str,
        input: fn(&JsValue) -> Input<JsValue>,
    ) -> Self {
        let callback = callback(shared, input);
        let _ = target.add_event_listener(kind, callback.as_ref());
        Self {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener(self.kind, self.callback.as_ref());
    }
}

/// Decodes the payload of a raw frame into `T` for a typed handler.
#[cfg(feature = "std")]
fn decode<T: DeserializeOwned>(raw: &RawEvent) -> Result<Event<T>, Error> {
    let payload = get(&raw.payload, "payload");
    match serde_wasm_bindgen::from_value(payload) {
        Ok(payload) => Ok(Event {
            id: raw.id,
            name: raw.name.clone(),
            payload,
            ts: raw.ts,
        }),
        Err(error) => Err(Error::BadPayload {
            name: raw.name.clone(),
            reason: error.to_string(),
        }),
    }
}

/// Feeds `input` to the machine and carries out the actions; queues it if already busy.
fn run(shared: &Rc<Shared>, input: Input<JsValue>) {
    queue(shared, input);
    if shared.running.replace(true) {
        return;
    }
    loop {
        // Inputs queued while this batch runs form the next batch, so the order is kept.
        let batch = match shared.queue.try_borrow_mut() {
            Ok(mut queue) => core::mem::take(&mut *queue),
            Err(_) => Vec::new(),
        };
        if batch.is_empty() {
            break;
        }
        for input in batch {
            let actions = match shared.io.try_borrow_mut() {
                Ok(mut io) => io.machine.handle(input, now_ms(), sys::random()),
                Err(_) => Vec::new(),
            };
            for action in actions {
                perform(shared, action);
            }
        }
    }
    shared.running.set(false);
}

fn now_ms() -> u64 {
    sys::now() as u64
}

fn queue(shared: &Shared, input: Input<JsValue>) {
    if let Ok(mut queue) = shared.queue.try_borrow_mut() {
        queue.push(input);
    }
}

fn perform(shared: &Rc<Shared>, action: Action<JsValue>) {
    match action {
        Action::FetchToken { request } => {
            let provider = shared
                .io
                .try_borrow()
                .ok()
                .and_then(|io| io.provider.clone());
            if let Some(provider) = provider {
                let weak = Rc::downgrade(shared);
                provider(Box::new(move |result| {
                    if let Some(shared) = weak.upgrade() {
                        let result = result.map(token_with_exp);
                        run(&shared, Input::Token { request, result });
                    }
                }));
            }
        }
        Action::Connect { url, token } => {
            let Ok(mut io) = shared.io.try_borrow_mut() else {
                return;
            };
            io.socket = None;
            let protocols = sys::array_of2(&SUBPROTOCOL.into(), &token.into());
            match WebSocket::new(&url, &protocols) {
                Ok(ws) => {
                    let target: &EventTarget = ws.as_ref();
                    let listeners = [
                        Listener::new(shared, target, "message", message_input),
                        Listener::new(shared, target, "close", close_input),
                    ];
                    io.socket = Some(Socket {
                        ws,
                        _listeners: listeners,
                    });
                }
                Err(error) => {
                    drop(io);
                    let error = Error::Socket {
                        reason: js_error_text(&error),
                    };
                    notify(shared, Note::Error(&error));
                    queue(
                        shared,
                        Input::SocketClosed {
                            code: const { CloseCode::Abnormal.as_u16() },
                            reason: String::new(),
                        },
                    );
                }
            }
        }
        Action::Send(text) => {
            if let Ok(io) = shared.io.try_borrow()
                && let Some(socket) = &io.socket
            {
                let _ = socket.ws.send(text);
            }
        }
        Action::CloseSocket => {
            let socket = shared
                .io
                .try_borrow_mut()
                .ok()
                .and_then(|mut io| io.socket.take());
            drop(socket);
        }
        Action::SetTimer { delay_ms } => {
            let callback = callback(shared, |_| Input::Timer);
            let delay_ms = delay_ms.min(i32::MAX as u64) as i32;
            let timer = Timer {
                handle: sys::set_timeout(callback.as_ref(), delay_ms),
                _callback: callback,
            };
            if let Ok(mut io) = shared.io.try_borrow_mut() {
                io.timer = Some(timer);
            }
        }
        Action::ClearTimer => {
            let timer = shared
                .io
                .try_borrow_mut()
                .ok()
                .and_then(|mut io| io.timer.take());
            drop(timer);
        }
        Action::Deliver(event) => notify(shared, Note::Event(&event)),
        Action::State(state) => set_state(shared, state),
        Action::Error(error) => notify(shared, Note::Error(&error)),
        Action::Resync => notify(shared, Note::Resync),
    }
}

fn message_input(event: &JsValue) -> Input<JsValue> {
    let data = event.unchecked_ref::<MessageEvent>().data();
    match data.as_string().and_then(|text| parse_frame(&text)) {
        Some(frame) => Input::Frame(frame),
        // Not a frame we understand (binary, or a newer server's frame type): a sign of life.
        None => Input::Frame(Frame::Pong),
    }
}

fn close_input(event: &JsValue) -> Input<JsValue> {
    let event = event.unchecked_ref::<CloseEvent>();
    Input::SocketClosed {
        code: event.code(),
        reason: event.reason(),
    }
}

/// Reads a server frame with the browser's own `JSON.parse`.
fn parse_frame(text: &str) -> Option<Frame<JsValue>> {
    if text == PONG {
        return Some(Frame::Pong);
    }
    let value = sys::json_parse(text).ok()?;
    let frame = match get_string(&value, "type")?.as_str() {
        "event" => Frame::Event(EventFrame {
            id: get_number(&value, "id")? as u64,
            name: get_string(&value, "name")?,
            ts: get_number(&value, "ts").unwrap_or(0.0) as u64,
            payload: value,
        }),
        "welcome" => Frame::Welcome(Welcome {
            server_time: get_number(&value, "server_time")? as u64,
            last_id: get_number(&value, "last_id")? as u64,
            epoch: get_string(&value, "epoch")?,
            recovered: get(&value, "recovered").as_bool(),
            heartbeat_ms: get_number(&value, "heartbeat_ms")? as u32,
        }),
        "error" => Frame::Error(ErrorBody {
            code: get_string(&value, "code").unwrap_or_default(),
            message: get_string(&value, "message").unwrap_or_default(),
        }),
        "pong" => Frame::Pong,
        _ => return None,
    };
    Some(frame)
}

pub(crate) fn get(value: &JsValue, key: &str) -> JsValue {
    sys::reflect_get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn get_string(value: &JsValue, key: &str) -> Option<String> {
    get(value, key).as_string()
}

fn get_number(value: &JsValue, key: &str) -> Option<f64> {
    get(value, key).as_f64()
}

/// A token and its `exp` claim, read with the browser's `atob` and `JSON.parse`.
fn token_with_exp(value: String) -> Token {
    // The middle of the three dot-separated segments, base64url turned into base64.
    let mut claims = String::new();
    let mut dots = 0;
    for c in value.chars() {
        match c {
            '.' => dots += 1,
            _ if dots != 1 => {}
            '-' => claims.push('+'),
            '_' => claims.push('/'),
            c => claims.push(c),
        }
    }
    let exp = sys::atob(&claims)
        .ok()
        .and_then(|claims| sys::json_parse(&claims).ok())
        .and_then(|claims| get_number(&claims, "exp"))
        .map(|exp| exp as i64);
    Token { value, exp }
}

/// The message of a thrown JS value.
pub(crate) fn js_error_text(error: &JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            error
                .is_object()
                .then(|| get_string(error, "message"))
                .flatten()
        })
        .unwrap_or_else(|| "unknown error".into())
}

/// Calls the handlers listening to `note`; errors they return go to the error handlers.
fn notify(shared: &Shared, note: Note<'_>) {
    let targets: Vec<Handler> = {
        let Ok(handlers) = shared.handlers.try_borrow() else {
            return;
        };
        let select = |wanted: &dyn Fn(&Topic) -> bool| -> Vec<Handler> {
            handlers
                .iter()
                .filter(|(topic, _)| wanted(topic))
                .map(|(_, handler)| handler.clone())
                .collect()
        };
        match note {
            Note::Event(event) => {
                let named = select(&|t| matches!(t, Topic::Named(name) if *name == event.name));
                if named.is_empty() {
                    select(&|t| matches!(t, Topic::Unknown))
                } else {
                    named
                }
            }
            Note::State(_) => select(&|t| matches!(t, Topic::State)),
            Note::Error(_) => select(&|t| matches!(t, Topic::Error)),
            Note::Resync => select(&|t| matches!(t, Topic::Resync)),
        }
    };
    if let Note::Error(error) = note
        && targets.is_empty()
    {
        sys::console_warn("edgepush:", &error.message());
    }
    for handler in targets {
        let result = match handler.try_borrow_mut() {
            Ok(mut handler) => handler(note),
            Err(_) => Ok(()),
        };
        // An error handler's own failure has nobody left to go to.
        if let (Err(error), false) = (result, matches!(note, Note::Error(_))) {
            notify(shared, Note::Error(&error));
        }
    }
}

fn set_state(shared: &Rc<Shared>, state: State) {
    if let Ok(mut current) = shared.state.try_borrow_mut() {
        *current = state.clone();
    }
    let mut finished = false;
    let mut keep_alive = None;
    let mut teardown = (None, None, Vec::new());
    if matches!(state, State::Closed { .. })
        && let Ok(mut io) = shared.io.try_borrow_mut()
    {
        finished = io.finished;
        keep_alive = io.keep_alive.take();
        teardown = (
            io.socket.take(),
            io.timer.take(),
            core::mem::take(&mut io.network),
        );
    }
    drop(teardown);
    notify(shared, Note::State(&state));
    if finished {
        let handlers = shared
            .handlers
            .try_borrow_mut()
            .map(|mut h| core::mem::take(&mut *h));
        drop(handlers);
    }
    drop(keep_alive);
}
