//! The driver: feeds socket, timer, network and token events to the [`Connection`] machine as
//! [`Input`]s, one at a time, and carries out the [`Action`]s it returns with browser resources.
//!
//! Every callback it registers with the browser holds only a weak reference to the driver; the
//! driver keeps itself alive while it is connecting or connected (so that a garbage-collected JS
//! handle does not cut a live connection), until the app closes the client or a terminal close
//! code tears everything down.
//!
//! A topic of a namespace with shards is read over a socket of its own: the client's driver
//! starts a driver for it (with the machine's [`Connection::topic_socket`]), which hands what it
//! receives to the client's handlers and tells the client's machine when the topic is refused, or
//! when the client must stop (its token refused on the topic socket). When the client stops, its
//! topic sockets' drivers stop and are kept: the next start resumes each topic from its last
//! event (see [`Action::OpenTopicSocket`]).
//!
//! What the app hears goes to the handler registry ([`Handlers`]); an error nobody listens to
//! goes to the browser console. (The JS face drives the same machine from JS: `crate::js`.)
//!
//! Handlers may call back into the client (e.g. `close()` from an event handler): inputs that
//! arrive while the driver is busy are queued and handled right after, never re-entrantly.
//!
//! **Borrows never fail.** Each `RefCell` of the driver is borrowed for a few statements that run
//! no handler and nothing that could call back into the client: opening, closing or sending on a
//! socket, setting or clearing a timer and adding or removing a listener only queue browser
//! events. Handlers and the token provider run from [`Driver::perform`] with nothing borrowed,
//! and what they do to the client is queued while [`Driver::run`] is busy. [`free`] asserts this
//! in debug builds (the browser tests); a release build skips the step rather than link panic
//! code into the wasm.

use alloc::boxed::Box;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use edgepush_protocol::codes::CloseCode;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};

use super::Provider;
use super::browser::{Callback, Listener, Socket, Timer};
use crate::connection::{Action, Connection, Input, Position, State, SubscribeOptions};
use crate::dispatch::{Handlers, Notice};
use crate::error::Error;
use crate::sys::{self, CloseEvent, EventTarget, MessageEvent};

/// Who hears what a driver reports.
enum Audience {
    /// The app, through the client's handlers.
    App(Rc<Handlers<JsValue>>),
    /// The driver of a topic socket: the client's driver, whose handlers hear its topic.
    Client(Weak<Driver>),
}

/// Everything a client is, shared by its handle and, weakly, by every browser callback.
pub(crate) struct Driver {
    /// The machine and the browser resources its actions hold.
    engine: RefCell<Engine>,
    /// Who hears what happens.
    audience: Audience,
    /// Inputs that arrived while [`run`](Self::run) was busy, in order.
    inputs: RefCell<Vec<Input<JsValue>>>,
    /// Whether [`run`](Self::run) is busy.
    running: Cell<bool>,
    /// The last state reported, for `Client::state`.
    state: RefCell<State>,
    /// The number of the last subscription handle given out.
    last_handle: Cell<u32>,
    /// The number of the last subscription handle the machine has taken: a refusal it reports
    /// ends the handles up to it, not one subscribed since (e.g. from an error handler).
    taken: Cell<u32>,
}

/// The machine and what its actions opened.
struct Engine {
    machine: Connection,
    /// Asked for a token before every connect, unless the machine has a fixed one.
    provider: Option<Provider>,
    socket: Option<Socket>,
    timer: Option<Timer>,
    /// The global `online`/`offline` listeners, while the client runs.
    network_listeners: Vec<Listener>,
    /// Keeps the driver alive while it is connecting or connected, even when the app (or the JS
    /// garbage collector) drops its handle; cleared when the client stops.
    keep_alive: Option<Rc<Driver>>,
    /// The app called `close()`: the client is done for good.
    closed_by_app: bool,
    /// The drivers of the topic sockets, by topic.
    topic_sockets: Vec<(String, Rc<Driver>)>,
}

/// A borrow of one of the driver's cells, which never fails (see the module docs).
fn free<T, E>(borrow: Result<T, E>) -> Option<T> {
    debug_assert!(
        borrow.is_ok(),
        "a cell of the client was borrowed re-entrantly"
    );
    borrow.ok()
}

impl Driver {
    pub(super) fn new(
        machine: Connection,
        provider: Option<Provider>,
        handlers: Rc<Handlers<JsValue>>,
    ) -> Rc<Self> {
        Self::with(machine, provider, Audience::App(handlers))
    }

    fn with(machine: Connection, provider: Option<Provider>, audience: Audience) -> Rc<Self> {
        Rc::new(Self {
            engine: RefCell::new(Engine {
                machine,
                provider,
                socket: None,
                timer: None,
                network_listeners: Vec::new(),
                keep_alive: None,
                closed_by_app: false,
                topic_sockets: Vec::new(),
            }),
            audience,
            inputs: RefCell::new(Vec::new()),
            running: Cell::new(false),
            state: RefCell::new(State::Idle),
            last_handle: Cell::new(0),
            taken: Cell::new(0),
        })
    }

    /// Starts the machine, with the browser's network state and listeners, unless the app closed
    /// the client.
    pub(crate) fn connect(self: &Rc<Self>) {
        {
            let Some(mut engine) = free(self.engine.try_borrow_mut()) else {
                return;
            };
            if engine.closed_by_app {
                return;
            }
            let global = sys::GlobalScope::global();
            let navigator = sys::get(&global, "navigator");
            let online = sys::get(&navigator, "onLine").as_bool() != Some(false);
            engine.machine.set_online(online);
            if engine.network_listeners.is_empty() {
                let target: &EventTarget = global.unchecked_ref();
                engine.network_listeners = vec![
                    Listener::new(target, "online", self.callback(|_| Input::Online)),
                    Listener::new(target, "offline", self.callback(|_| Input::Offline)),
                ];
            }
            engine.keep_alive = Some(self.clone());
        }
        self.run(Input::Start);
    }

    /// Stops the machine for good, and the topic sockets with it (a machine the server already
    /// stopped says nothing more; they are kept for their positions), then drops the app's
    /// handlers (see [`run`](Self::run)).
    pub(crate) fn close(self: &Rc<Self>) {
        if let Some(mut engine) = free(self.engine.try_borrow_mut()) {
            engine.closed_by_app = true;
        }
        self.run(Input::AppClose);
        for reader in self.readers() {
            reader.close();
        }
    }

    /// The drivers of the topic sockets.
    fn readers(&self) -> Vec<Rc<Driver>> {
        free(self.engine.try_borrow())
            .map(|engine| {
                engine
                    .topic_sockets
                    .iter()
                    .map(|(_, r)| r.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Subscribes to `topic` (sent at once when connected, else with the next `welcome`);
    /// returns the new subscription's handle.
    pub(crate) fn subscribe(self: &Rc<Self>, topic: String, options: SubscribeOptions) -> u32 {
        let handle = self.last_handle.get().wrapping_add(1);
        self.last_handle.set(handle);
        self.run(Input::Subscribe {
            handle,
            topic,
            token: options.token,
            resume: options.resume,
        });
        handle
    }

    /// Ends the subscription `handle` (whose handlers its face removed).
    pub(crate) fn unsubscribe(self: &Rc<Self>, handle: u32) {
        self.run(Input::Unsubscribe { handle });
    }

    /// The last state reported.
    pub(crate) fn state(&self) -> State {
        match free(self.state.try_borrow()) {
            Some(state) => state.clone(),
            None => State::Idle,
        }
    }

    /// The resume position of the user's stream, or of `topic`'s (which the machine of its topic
    /// socket knows, if it has one).
    pub(crate) fn position(&self, topic: Option<&str>) -> Option<Position> {
        let engine = free(self.engine.try_borrow())?;
        let Some(topic) = topic else {
            return engine.machine.position();
        };
        match engine.topic_sockets.iter().find(|(t, _)| t == topic) {
            Some((_, reader)) => reader.position(Some(topic)),
            None => engine.machine.topic_position(topic),
        }
    }

    /// Feeds `input` to the machine and carries out the actions; queues it if already busy.
    fn run(self: &Rc<Self>, input: Input<JsValue>) {
        self.queue(input);
        if self.running.replace(true) {
            return;
        }
        loop {
            // Inputs queued while this batch runs form the next batch, so the order is kept.
            let batch = match free(self.inputs.try_borrow_mut()) {
                Some(mut inputs) => core::mem::take(&mut *inputs),
                None => Vec::new(),
            };
            if batch.is_empty() {
                break;
            }
            for input in batch {
                let closing = matches!(input, Input::AppClose);
                if let Input::Subscribe { handle, .. } = input {
                    self.taken.set(handle);
                }
                let actions = match free(self.engine.try_borrow_mut()) {
                    Some(mut engine) => engine.machine.handle(input, now_ms(), sys::random()),
                    None => Vec::new(),
                };
                for action in actions {
                    self.perform(action);
                }
                // After `close()` the handlers heard the final state (none is left to tell when
                // the server had stopped the client already): they are over either way.
                if closing && let Audience::App(handlers) = &self.audience {
                    drop(handlers.take());
                }
            }
        }
        self.running.set(false);
    }

    fn queue(&self, input: Input<JsValue>) {
        if let Some(mut inputs) = free(self.inputs.try_borrow_mut()) {
            inputs.push(input);
        }
    }

    /// Carries out one action of the machine.
    fn perform(self: &Rc<Self>, action: Action<JsValue>) {
        match action {
            Action::FetchToken { request } => {
                let provider = free(self.engine.try_borrow()).and_then(|e| e.provider.clone());
                if let Some(provider) = provider {
                    let weak = Rc::downgrade(self);
                    provider(Box::new(move |result| {
                        if let Some(driver) = weak.upgrade() {
                            driver.run(match result {
                                Err((reason, true)) => Input::NoToken { request, reason },
                                result => Input::Token {
                                    request,
                                    result: result.map(sys::read_token).map_err(|(e, _)| e),
                                },
                            });
                        }
                    }));
                }
            }
            Action::Connect { url, token } => {
                let Some(mut engine) = free(self.engine.try_borrow_mut()) else {
                    return;
                };
                engine.socket = None;
                let listen = || [self.callback(message_input), self.callback(close_input)];
                match Socket::open(&url, token, listen) {
                    Ok(socket) => engine.socket = Some(socket),
                    Err(error) => {
                        drop(engine);
                        let error = Error::Socket {
                            reason: sys::js_error_text(&error),
                        };
                        self.notify(Notice::Error(&error));
                        self.queue(Input::SocketClosed {
                            code: const { CloseCode::Abnormal.as_u16() },
                            reason: String::new(),
                        });
                    }
                }
            }
            Action::Send(text) => {
                if let Some(engine) = free(self.engine.try_borrow())
                    && let Some(socket) = &engine.socket
                {
                    socket.send(&text);
                }
            }
            Action::CloseSocket => {
                let socket = free(self.engine.try_borrow_mut()).and_then(|mut e| e.socket.take());
                drop(socket);
            }
            Action::SetTimer { delay_ms } => {
                let timer = Timer::start(self.callback(|_| Input::Timer), delay_ms);
                if let Some(mut engine) = free(self.engine.try_borrow_mut()) {
                    engine.timer = Some(timer);
                }
            }
            Action::ClearTimer => {
                let timer = free(self.engine.try_borrow_mut()).and_then(|mut e| e.timer.take());
                drop(timer);
            }
            Action::Deliver(event, scoped) => self.notify(Notice::Event(&event, scoped)),
            Action::State(state) => self.set_state(state),
            Action::Error(error) => self.notify(Notice::Error(&error)),
            Action::Resync => self.notify(Notice::Resync(None)),
            Action::TopicResync(topic, scoped) => {
                self.notify(Notice::Resync(scoped.then_some(topic.as_str())))
            }
            Action::Occupancy(occupancy) => self.notify(Notice::Occupancy(&occupancy)),
            Action::Presence(presence) => self.notify(Notice::Presence(&presence)),
            Action::Unsubscribed(refusal) => match &self.audience {
                // A topic socket's topic was refused: the client's machine ends it.
                Audience::Client(client) => {
                    if let Some(client) = client.upgrade() {
                        client.run(Input::TopicEnded(refusal));
                    }
                }
                Audience::App(handlers) => {
                    tell(handlers, Notice::Unsubscribed(&refusal));
                    // Its subscriptions are over, and so are their handlers: those of the handles
                    // the machine held, not of one subscribed since (queued meanwhile).
                    let taken = self.taken.get();
                    drop(handlers.remove(&|_, scope| {
                        scope.is_some_and(|s| s.topic == refusal.topic && s.handle <= taken)
                    }));
                }
            },
            // A topic socket's token was refused for good: the client's machine stops the client.
            Action::StopClient { code, reason } => {
                if let Audience::Client(client) = &self.audience
                    && let Some(client) = client.upgrade()
                {
                    client.run(Input::TopicSocketStopped { code, reason });
                }
            }
            Action::OpenTopicSocket(topic, token) => {
                let Some(mut engine) = free(self.engine.try_borrow_mut()) else {
                    return;
                };
                if engine.closed_by_app {
                    return;
                }
                // One driver per topic: one left over would deliver every event twice. One the
                // client has (stopped with it, or open) keeps its position and takes the newest
                // grant for its next connect.
                let held = engine.topic_sockets.iter().find(|(t, _)| *t == topic);
                let reader = match held {
                    Some((_, reader)) => {
                        let reader = reader.clone();
                        drop(engine);
                        reader.run(Input::Subscribe {
                            handle: 0,
                            topic,
                            token,
                            resume: None,
                        });
                        reader
                    }
                    None => {
                        let machine = engine.machine.topic_socket(topic.clone(), token);
                        let client = Audience::Client(Rc::downgrade(self));
                        let reader = Self::with(machine, engine.provider.clone(), client);
                        engine.topic_sockets.push((topic, reader.clone()));
                        reader
                    }
                };
                reader.connect();
            }
            Action::CloseTopicSocket(topic) => {
                // One driver per topic.
                let reader = free(self.engine.try_borrow_mut()).and_then(|mut engine| {
                    let index = engine.topic_sockets.iter().position(|(t, _)| *t == topic)?;
                    Some(engine.topic_sockets.swap_remove(index).1)
                });
                if let Some(reader) = reader {
                    reader.close();
                }
            }
        }
    }

    /// Tells the app (a topic socket's driver: the client's handlers, its state aside).
    fn notify(&self, notice: Notice<'_, JsValue>) {
        match &self.audience {
            Audience::App(handlers) => tell(handlers, notice),
            Audience::Client(client) => {
                if let Some(client) = client.upgrade()
                    && !matches!(notice, Notice::State(_))
                {
                    client.notify(notice);
                }
            }
        }
    }

    /// Records and reports the new state. `Closed` releases every browser resource and the
    /// driver's hold on itself, and stops the topic sockets' drivers, which are kept for the next
    /// start ([`close`](Self::close) closes them for good).
    fn set_state(&self, state: State) {
        if let Some(mut current) = free(self.state.try_borrow_mut()) {
            *current = state.clone();
        }
        let mut keep_alive = None;
        let mut teardown = (None, None, Vec::new());
        let closed = matches!(state, State::Closed { .. });
        if closed && let Some(mut engine) = free(self.engine.try_borrow_mut()) {
            keep_alive = engine.keep_alive.take();
            teardown = (
                engine.socket.take(),
                engine.timer.take(),
                core::mem::take(&mut engine.network_listeners),
            );
        }
        drop(teardown);
        if closed {
            for reader in self.readers() {
                reader.run(Input::AppClose);
            }
        }
        self.notify(Notice::State(&state));
        drop(keep_alive);
    }

    /// A browser callback that feeds `input(argument)` to the driver, holding it only weakly.
    fn callback(self: &Rc<Self>, input: fn(&JsValue) -> Input<JsValue>) -> Callback {
        let weak = Rc::downgrade(self);
        Closure::new(move |argument: JsValue| {
            if let Some(driver) = weak.upgrade() {
                driver.run(input(&argument));
            }
        })
    }
}

/// Tells the app's handlers; an error nobody listens to goes to the browser console.
fn tell(handlers: &Handlers<JsValue>, notice: Notice<'_, JsValue>) {
    handlers.notify(notice, &|error: &Error| {
        sys::console_warn("edgepush:", &error.message())
    });
}

fn now_ms() -> u64 {
    sys::now() as u64
}

fn message_input(event: &JsValue) -> Input<JsValue> {
    Input::Frame(sys::read_frame(
        &event.unchecked_ref::<MessageEvent>().data(),
    ))
}

fn close_input(event: &JsValue) -> Input<JsValue> {
    let event = event.unchecked_ref::<CloseEvent>();
    Input::SocketClosed {
        code: event.code(),
        reason: event.reason().as_string().unwrap_or_default(),
    }
}
