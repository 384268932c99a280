//! The connection state machine, without I/O: states, backoff, heartbeat, the close-code table,
//! token expiry, resume position and dedupe, and the topic subscriptions.
//!
//! [`Connection::handle`] takes one [`Input`] (something that happened), the current time in
//! milliseconds and a random number in `[0, 1)`, and returns the [`Action`]s to perform, in order.
//! The browser glue turns socket, timer, network and token events into inputs and carries the
//! actions out; tests drive it with a fake clock.
//!
//! The machine asks for at most one timer at a time ([`Action::SetTimer`] replaces the previous
//! one) and expects [`Input::Timer`] when it fires.
//!
//! # Topics
//!
//! The machine keeps every subscription the app holds (topic, subscription token, epoch, last id)
//! and subscribes again on every `welcome`, from where each topic left off, so subscriptions
//! survive reconnects without the app and resume without loss. Each topic has its own id
//! sequence: duplicates are dropped, and a gap (an id past the next one) asks the server to replay
//! that topic from its last delivered id. `subscribe` and `unsubscribe` frames carry up to
//! [`TOPICS_PER_FRAME`] topics; what the app asks for while connected is sent on a timer of 0 ms,
//! so that a page subscribing in a loop sends a few frames, not one per topic. The server closes
//! a socket that sends too many frames (4501, terminal), so the machine never sends more than
//! [`FRAME_BUDGET`] of them on one socket in any minute: the rest waits for the window to move.
//!
//! A subscription may start from a position saved before ([`Input::Subscribe`]'s `resume`, e.g.
//! the [`Connection::topic_position`] of the page before a reload): its first subscribe (or its
//! topic socket's URL) carries that `since` and `epoch`, as a reconnect does.
//!
//! The backend may subscribe the user too (`POST /subscribe`, the token's `subs`): the server
//! then sends `subscribed` for a topic the app never asked for, after every `welcome`. The machine
//! keeps such a topic like the app's own (epoch, last id, dedupe, gaps), with no handle, and
//! delivers its events for the client's own handlers ([`Action::Deliver`] with `scoped` false).
//! It does not subscribe to it on a new socket by itself (the backend may have ended it): when the
//! server's `subscribed` for it comes again, the machine subscribes again from its last id, so
//! that what was published meanwhile is replayed. Until then the app's subscription to it starts
//! afresh, from its `resume` or from now, as to a topic the machine does not hold.
//!
//! # Topic sockets
//!
//! A namespace with `shards` is read over sockets of its own (`/connect?topic=`), so that a
//! publish costs the server one request per shard, not one per reading user. The server answers a
//! subscription to such a topic with `unsubscribed` and the code `topic_socket_required`; the
//! machine then remembers the namespace, asks for a topic socket ([`Action::OpenTopicSocket`]) and
//! subscribes later topics of that namespace the same way at once (a stopped client asks for
//! their sockets when it starts again, once each). A topic socket is driven by a
//! machine of its own ([`Connection::topic_socket`]): the same reconnects, tokens, heartbeats and
//! resume, with the topic's `subscribed` frame as its `welcome` and a gap resumed by reconnecting.
//! Its events and notices go to the subscription's handlers; when the server refuses the topic for
//! good, the driver tells this machine ([`Input::TopicEnded`]). A topic socket closed for good for
//! a reason of the client's, not of its topic (its token invalid or revoked, a fixed token
//! expired, a protocol violation), stops the client as its own socket would: the driver tells this
//! machine ([`Action::StopClient`], [`Input::TopicSocketStopped`]), which reports it, stops and
//! keeps its subscriptions, topic sockets included, for the next `Start`. When the client stops,
//! the driver stops the topic sockets' machines and keeps them: `Start` asks for each socket
//! again, and its machine resumes its topic from the last event it delivered, as the user's
//! socket resumes (an app that subscribes again with a new token has it used from the topic
//! socket's next connect on).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::num::NonZeroU64;

use edgepush_protocol::codes::{CloseAction, CloseCode, ErrorCode, close_action};
use edgepush_protocol::frames::{
    self, CONNECT_PATH, EPOCH_PARAM, ErrorBody, EventFrame, HEARTBEAT_INTERVAL_MS, Occupancy, PING,
    PresenceChange, REFUSAL_CLOSE, REFUSAL_PARAM, SINCE_PARAM, SUBSCRIPTION_PARAM, ServerFrame,
    Subscribed, TOPIC_PARAM, Unsubscribed,
};
use edgepush_protocol::token::LEEWAY_SECONDS;

use crate::backoff::Options;
use crate::error::Error;
use crate::text::{decimal, push_json_string, push_query_value};

/// The reason of the `closed` state after [`Input::NoToken`] (its code is 4500, as the server's
/// for a connect without a token).
const MISSING_TOKEN: &str = ErrorCode::MissingToken.as_str();

/// The close code the client uses for sockets it closes itself.
pub const CLIENT_CLOSE_CODE: u16 = CloseCode::Normal.as_u16();

/// The most topics one `subscribe` or `unsubscribe` frame carries: 1,024 subscriptions are four
/// frames.
pub const TOPICS_PER_FRAME: usize = 256;

/// The most frames (heartbeats aside) the machine sends on one socket per window of
/// [`FRAME_WINDOW_MS`], counted from the first frame of the window. The server's budget is
/// `MAX_CLIENT_FRAMES_PER_MINUTE` (20 by default) per socket, in fixed one-minute windows of its
/// own, and past it the socket is closed for good (4501). Any minute of the server's overlaps at
/// most two of the client's windows, so it sees at most 20 frames.
pub const FRAME_BUDGET: u32 = 10;

/// The window of [`FRAME_BUDGET`], in milliseconds.
pub const FRAME_WINDOW_MS: u64 = 60_000;

/// What the app sees of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Created, `connect()` not called yet.
    Idle,
    /// Fetching a token, opening the socket and waiting for the server's `welcome`.
    /// `attempt` is 0 for the first connect and counts the retries since the last stable
    /// connection.
    Connecting {
        /// Retries since the last stable connection.
        attempt: u32,
    },
    /// Connected and authenticated; events flow.
    Open,
    /// Lost the connection (or failed to connect); the next attempt starts after `delay_ms`.
    Reconnecting {
        /// The number of the coming retry (1 for the first).
        attempt: u32,
        /// The backoff delay before it, in milliseconds.
        delay_ms: u32,
    },
    /// The browser reports no network; the client reconnects as soon as it comes back.
    Offline,
    /// Stopped for good: the app called `close()`, or the server's close code says retrying
    /// cannot help. `connect()` starts again (except after `close()`).
    Closed {
        /// The WebSocket close code (1000 after `close()`).
        code: u16,
        /// The close reason.
        reason: String,
    },
}

impl State {
    /// The state's name: `idle`, `connecting`, `open`, `reconnecting`, `offline` or `closed`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connecting { .. } => "connecting",
            Self::Open => "open",
            Self::Reconnecting { .. } => "reconnecting",
            Self::Offline => "offline",
            Self::Closed { .. } => "closed",
        }
    }
}

/// Where in a user's event stream the client is: the epoch of the stream and the id of the last
/// event delivered. Persist it (e.g. in `sessionStorage`) and pass it back to resume after a page
/// reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The epoch from the server's `welcome` frame; empty if unknown.
    pub epoch: String,
    /// The id of the last event delivered (0: none; with an empty epoch, `0` asks for the whole
    /// retained history).
    pub last_id: u64,
}

/// How to subscribe to a topic, besides its name (the Rust face's `Client::subscribe_with`, the
/// JS face's `SubscribeOptions`); the defaults subscribe from the newest event without a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// A subscription token from the app's backend, for topics it grants per request. A later
    /// one for the same topic replaces it (see [`Input::Subscribe`]).
    pub token: Option<String>,
    /// Where to start when the client does not hold the topic yet: a position of the topic's
    /// saved earlier (e.g. before a page reload), whose later events are replayed once, in
    /// order; if the server no longer has them, the subscription's resync handlers hear so, and
    /// what it still keeps follows. Ignored for a topic the client holds already (it goes on
    /// from its own position). `None`: from the newest event.
    pub resume: Option<Position>,
}

/// A token as the machine needs it: the text, and its `exp` claim if it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The compact JWT.
    pub value: String,
    /// The `exp` claim, in seconds since the Unix epoch.
    pub exp: Option<i64>,
}

impl Token {
    /// The token without the white space around it (a provider's `fetch(..).then(r => r.text())`
    /// often ends in a newline, which no WebSocket subprotocol may carry); an empty token is an
    /// error: `false`.
    fn trim(&mut self) -> bool {
        let value = self.value.trim_ascii();
        if value.len() != self.value.len() {
            self.value = String::from(value);
        }
        !self.value.is_empty()
    }
}

/// A server frame, as the machine needs it: [`ServerFrame`] with a slim [`Welcome`]. The browser
/// client decodes frames straight into it; a native user can convert a decoded [`ServerFrame`]
/// with `into()`.
#[derive(Debug, PartialEq)]
pub enum Frame<P> {
    /// The first frame on every socket.
    Welcome(Welcome),
    /// One published event.
    Event(EventFrame<P>),
    /// The server could not handle a frame the client sent; the socket stays open.
    Error(ErrorBody),
    /// The answer to a heartbeat, or any frame the client does not understand (binary, or a
    /// newer server's frame type): only a sign of life.
    Pong,
    /// A topic subscription is in place; the missed events follow.
    Subscribed(Subscribed),
    /// A topic subscription was refused or ended by the server.
    Unsubscribed(Unsubscribed),
    /// The number of sockets subscribed to a topic changed.
    Occupancy(Occupancy),
    /// A user came to or left a topic.
    Presence(PresenceChange),
}

/// What the machine uses of the server's `welcome` frame ([`frames::Welcome`], whose other fields,
/// the user, the connection id and the token's expiry, it does not need).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// Server time in milliseconds since the Unix epoch.
    pub server_time: u64,
    /// The id of the newest event published to this user so far (0 if none).
    pub last_id: u64,
    /// The identity of this user's event stream.
    pub epoch: String,
    /// Present when the client asked to resume: whether every event after `since` follows.
    pub recovered: Option<bool>,
    /// How often the server suggests the client pings, in milliseconds.
    pub heartbeat_ms: u32,
}

impl From<frames::Welcome> for Welcome {
    fn from(welcome: frames::Welcome) -> Self {
        Self {
            server_time: welcome.server_time,
            last_id: welcome.last_id,
            epoch: welcome.epoch,
            recovered: welcome.recovered,
            heartbeat_ms: welcome.heartbeat_ms,
        }
    }
}

impl<P> From<ServerFrame<P>> for Frame<P> {
    fn from(frame: ServerFrame<P>) -> Self {
        match frame {
            ServerFrame::Welcome(welcome) => Self::Welcome(welcome.into()),
            ServerFrame::Event(event) => Self::Event(event),
            ServerFrame::Error(body) => Self::Error(body),
            ServerFrame::Pong => Self::Pong,
            ServerFrame::Subscribed(subscribed) => Self::Subscribed(subscribed),
            ServerFrame::Unsubscribed(unsubscribed) => Self::Unsubscribed(unsubscribed),
            ServerFrame::Occupancy(occupancy) => Self::Occupancy(occupancy),
            ServerFrame::Presence(presence) => Self::Presence(presence),
        }
    }
}

/// Something that happened, fed to [`Connection::handle`].
#[derive(Debug)]
pub enum Input<P> {
    /// The app asked to connect.
    Start,
    /// The answer to [`Action::FetchToken`] with the same `request`.
    Token {
        /// The request this answers; stale answers are ignored.
        request: u32,
        /// The token, or the provider's error text.
        result: Result<Token, String>,
    },
    /// The answer to [`Action::FetchToken`] with the same `request`: the provider has no token,
    /// and asking again will not help (e.g. the app's token endpoint answered 401 or 403: nobody
    /// is logged in). The client stops with [`Error::MissingToken`] (a topic socket's machine
    /// reports it and asks the client's to stop, [`Action::StopClient`]); `Start` begins again.
    NoToken {
        /// The request this answers; stale answers are ignored.
        request: u32,
        /// The provider's error text.
        reason: String,
    },
    /// A frame arrived on the current socket.
    Frame(Frame<P>),
    /// The current socket closed (also when it never opened: code 1006).
    SocketClosed {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// The timer requested by the last [`Action::SetTimer`] fired.
    Timer,
    /// The browser went online.
    Online,
    /// The browser went offline.
    Offline,
    /// The app called `close()`.
    AppClose,
    /// The app subscribed to `topic`. `handle` is the app's own number for this subscription
    /// (unique per client): several handles may hold one topic, which is subscribed once.
    Subscribe {
        /// The app's number for the subscription, for [`Input::Unsubscribe`].
        handle: u32,
        /// The topic, e.g. `product:42`.
        topic: String,
        /// A subscription token for the topic; a later one replaces it from the next subscribe
        /// frame on (for a topic read over a topic socket, from that socket's next connect:
        /// [`Action::OpenTopicSocket`]).
        token: Option<String>,
        /// Where a topic the machine does not hold yet starts: the events after this position
        /// (a [`Connection::topic_position`] saved earlier) are replayed, or the subscription
        /// hears that they were lost ([`Action::TopicResync`]). `None`: from the newest event.
        resume: Option<Position>,
    },
    /// The app ended the subscription `handle`; the topic is unsubscribed once no handle holds
    /// it. A handle the server already ended (or never known) is ignored.
    Unsubscribe {
        /// The number given in [`Input::Subscribe`].
        handle: u32,
    },
    /// The topic socket of a topic ([`Action::OpenTopicSocket`]) was refused or ended for good.
    TopicEnded(Unsubscribed),
    /// A topic socket was closed for good for a reason of the client's ([`Action::StopClient`]):
    /// the client stops as though its own socket had been closed with `code`.
    TopicSocketStopped {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// Something to do, returned by [`Connection::handle`] in the order to do it.
#[derive(Debug, PartialEq)]
pub enum Action<P> {
    /// Ask the token provider for a token and answer with [`Input::Token`] carrying `request`.
    FetchToken {
        /// Echo this in the answer.
        request: u32,
    },
    /// Open a WebSocket to `url` offering the subprotocols `edgepush.v1` and `token`; drop any
    /// previous socket first.
    Connect {
        /// `ws(s)://host/connect` with `since` and `epoch` when resuming.
        url: String,
        /// The token to offer as the second subprotocol.
        token: String,
    },
    /// Send this text on the current socket.
    Send(String),
    /// Detach from the current socket (its later events must not reach the machine) and close it
    /// with [`CLIENT_CLOSE_CODE`].
    CloseSocket,
    /// (Re)arm the one timer to fire after `delay_ms`.
    SetTimer {
        /// Milliseconds from now.
        delay_ms: u64,
    },
    /// Cancel the timer.
    ClearTimer,
    /// Hand this event to the app: to the handlers of its topic's subscriptions when `scoped`
    /// (a topic the app subscribed to), else to the client's (a user event, or an event of a topic
    /// the backend subscribed the user to; its `topic` is set).
    Deliver(EventFrame<P>, bool),
    /// The connection state changed.
    State(State),
    /// Report this to the app.
    Error(Error),
    /// Events were lost (the server could not replay the gap): the app must reload its state.
    Resync,
    /// Events of this topic were lost (the server could not replay the gap): the resync handlers
    /// of its subscriptions when `scoped`, else (a topic the backend subscribed the user to) the
    /// client's, must reload what depends on it. What the server still keeps follows.
    TopicResync(String, bool),
    /// The server refused or ended this topic's subscription: its handles are over, and their
    /// error handlers should hear why. The machine has forgotten the topic.
    Unsubscribed(Unsubscribed),
    /// A topic's viewer count, for the handlers of its subscriptions.
    Occupancy(Occupancy),
    /// A user came to or left a topic, for the handlers of its subscriptions.
    Presence(PresenceChange),
    /// Read this topic over a socket of its own, driven by [`Connection::topic_socket`] with this
    /// subscription token. When the driver still has that topic's machine (stopped with the
    /// client, or open and the app subscribed again with a new token), it keeps it, and with it the
    /// topic's position: it feeds it [`Input::Subscribe`] with handle 0 and the token (the newest
    /// grant, for its next connect), then [`Input::Start`] (which a running machine ignores).
    OpenTopicSocket(String, Option<String>),
    /// The app no longer reads this topic: close its topic socket for good.
    CloseTopicSocket(String),
    /// Of a topic socket's machine only: it was closed for good for a reason of the client's (its
    /// token invalid or revoked, a fixed token expired, a protocol violation), not of its topic.
    /// Tell the client's machine ([`Input::TopicSocketStopped`]): it stops too.
    StopClient {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// Where a subscription is on the current socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TopicState {
    /// Not subscribed on this socket yet: the next flush sends it.
    New,
    /// Subscribed, waiting for `subscribed`; its events are dropped until then (the replay after
    /// `subscribed` brings them).
    Pending,
    /// Events flow.
    Active,
    /// Subscribed, but an event went missing: the next flush subscribes again from the last id.
    Stale,
    /// A topic the backend subscribed the user to, on a new socket: the server subscribes it
    /// again if the backend still holds it, and its `subscribed` makes the topic `Stale`. Not
    /// held for the app: its subscription to it replaces it.
    Backend,
    /// Read over a topic socket of its own, not over this one.
    Socket,
}

/// One topic the app subscribed to.
#[derive(Debug)]
struct Topic {
    name: String,
    token: Option<String>,
    /// The app's handles holding it; empty for a topic the backend subscribed the user to.
    handles: Vec<u32>,
    stream: Stream,
    state: TopicState,
}

impl Topic {
    /// Whether the next flush subscribes to it.
    fn is_due(&self) -> bool {
        matches!(self.state, TopicState::New | TopicState::Stale)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    FetchingToken,
    Connecting,
    Open,
    Waiting,
    Offline,
    Closed,
}

/// The connection state machine. See the [module docs](self).
#[derive(Debug)]
pub struct Connection {
    options: Options,
    /// `ws(s)://host[/prefix]` without a trailing slash.
    base_url: String,
    /// A fixed token; `None` means a provider is asked before every connect.
    fixed_token: Option<Token>,
    phase: Phase,
    /// Retries since the last stable connection.
    attempt: u32,
    token_request: u32,
    /// The user's stream.
    stream: Stream,
    /// The server's word on how long to wait before the next connect, from an `error` frame.
    retry_hint_ms: Option<u64>,
    online: bool,
    /// Server clock minus local clock, in milliseconds (from the last `welcome`).
    clock_offset_ms: i64,
    /// Whether `clock_offset_ms` comes from a `welcome` (else it is a guess of 0).
    clock_known: bool,
    opened_at: u64,
    heartbeat_ms: u64,
    last_frame_at: u64,
    ping_sent_at: Option<u64>,
    retry_at: Option<u64>,
    connect_deadline: Option<u64>,
    armed: Option<u64>,
    /// The app's subscriptions, in the order it made them.
    topics: Vec<Topic>,
    /// Topics to unsubscribe on the current socket.
    unsubscribes: Vec<String>,
    /// Topics the app unsubscribed on the current socket while their subscribe was unanswered, once
    /// per such subscribe: the answer on its way (`subscribed` or `unsubscribed`) is dropped, and
    /// its entry emptied (cheaper in the wasm than removing it); later ones are the backend's.
    left: Vec<String>,
    /// When to send what `topics` and `unsubscribes` hold (while open).
    flush_at: Option<u64>,
    /// When the current window of [`FRAME_BUDGET`] started, and the frames sent in it.
    window: (u64, u32),
    /// Namespaces the server reads over topic sockets only (`topic_socket_required`).
    socket_namespaces: Vec<String>,
    /// This machine drives the topic socket of its one topic, `topics[0]`.
    topic_socket: bool,
    /// On a topic socket, the server's last `error` frame: why the topic (or the client) is
    /// refused, should the socket close for good.
    refusal: Option<ErrorBody>,
}

impl Connection {
    /// A machine for the server at `url` (`https://host`, `wss://host`, also with a path prefix),
    /// with a fixed token or, when `fixed_token` is `None`, a token provider.
    pub fn new(url: &str, fixed_token: Option<Token>, options: Options) -> Result<Self, Error> {
        Self::configured(url, fixed_token, options).map_err(|reason| Error::Config { reason })
    }

    /// [`Connection::new`], failing with the reason of its [`Error::Config`].
    pub(crate) fn configured(
        url: &str,
        mut fixed_token: Option<Token>,
        options: Options,
    ) -> Result<Self, &'static str> {
        if fixed_token.as_mut().is_some_and(|token| !token.trim()) {
            return Err("the token is empty");
        }
        Ok(Self::with(websocket_base(url)?, fixed_token, options))
    }

    /// A machine for the topic socket of `topic` (see the [module docs](self)), with the
    /// server, token and options of this one, starting where this one's subscription to the
    /// topic is (its `resume`).
    pub fn topic_socket(&self, topic: String, token: Option<String>) -> Self {
        let mut machine = Self::with(
            self.base_url.clone(),
            self.fixed_token.clone(),
            self.options.clone(),
        );
        machine.topic_socket = true;
        let held = self.topic_position(&topic);
        machine.topics.push(Topic {
            stream: held.map(Stream::from).unwrap_or_default(),
            name: topic,
            token,
            handles: vec![0],
            state: TopicState::New,
        });
        machine
    }

    fn with(base_url: String, fixed_token: Option<Token>, options: Options) -> Self {
        Self {
            options,
            base_url,
            fixed_token,
            phase: Phase::Idle,
            attempt: 0,
            token_request: 0,
            stream: Stream::default(),
            retry_hint_ms: None,
            online: true,
            clock_offset_ms: 0,
            clock_known: false,
            opened_at: 0,
            heartbeat_ms: 0,
            last_frame_at: 0,
            ping_sent_at: None,
            retry_at: None,
            connect_deadline: None,
            armed: None,
            topics: Vec::new(),
            unsubscribes: Vec::new(),
            left: Vec::new(),
            flush_at: None,
            window: (0, 0),
            socket_namespaces: Vec::new(),
            topic_socket: false,
            refusal: None,
        }
    }

    /// Resume from `position` on the next connect: the server replays what came after it.
    pub fn set_position(&mut self, position: Position) {
        self.stream = position.into();
    }

    /// The current resume position, once known.
    pub fn position(&self) -> Option<Position> {
        self.stream.position()
    }

    /// Where the stream of `topic` is, once known (its `subscribed` came, or it was subscribed
    /// with a position): the last event delivered, to pass back as [`Input::Subscribe`]'s
    /// `resume` after a page reload. Of a topic read over a topic socket, that socket's machine
    /// knows it.
    pub fn topic_position(&self, topic: &str) -> Option<Position> {
        self.topics
            .iter()
            .find(|t| t.name == topic)?
            .stream
            .position()
    }

    /// Whether the browser is online, before [`Input::Start`] (later, feed [`Input::Online`] and
    /// [`Input::Offline`]).
    pub fn set_online(&mut self, online: bool) {
        self.online = online;
    }

    /// Whether the machine has stopped (closed by the app or by a terminal close code).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Feeds one input at local time `now_ms` with `random` in `[0, 1)`; returns what to do.
    pub fn handle<P>(&mut self, input: Input<P>, now_ms: u64, random: f64) -> Vec<Action<P>> {
        let mut out = Vec::new();
        let now = now_ms;
        match input {
            Input::Start => {
                if matches!(self.phase, Phase::Idle | Phase::Closed) {
                    self.attempt = 0;
                    // A stop closed the topic sockets too.
                    for topic in self.topics.iter().filter(|t| t.state == TopicState::Socket) {
                        out.push(Action::OpenTopicSocket(
                            topic.name.clone(),
                            topic.token.clone(),
                        ));
                    }
                    if self.online {
                        self.begin_connect(now, &mut out);
                    } else {
                        self.go_offline(&mut out);
                    }
                }
            }
            Input::Token { request, result } => {
                if self.phase == Phase::FetchingToken && request == self.token_request {
                    let result = result.and_then(|mut token| match token.trim() {
                        true => Ok(token),
                        false => Err(String::from("the token provider returned an empty token")),
                    });
                    match result {
                        Ok(token) => self.use_token(token, now, random, &mut out),
                        Err(reason) => {
                            out.push(Action::Error(Error::TokenProvider { reason }));
                            self.retry_later(now, random, &mut out);
                        }
                    }
                }
            }
            Input::NoToken { request, reason } => {
                if self.phase == Phase::FetchingToken && request == self.token_request {
                    out.push(Action::Error(Error::MissingToken { reason }));
                    // Closed as the server closes a connect without a token.
                    let code = CloseCode::TokenInvalid.as_u16();
                    self.give_up(code, MISSING_TOKEN.into(), &mut out);
                }
            }
            Input::Frame(frame) => {
                if matches!(self.phase, Phase::Connecting | Phase::Open) {
                    self.last_frame_at = now;
                    self.ping_sent_at = None;
                    self.frame(frame, now, random, &mut out);
                }
            }
            Input::SocketClosed { code, reason } => {
                if matches!(self.phase, Phase::Connecting | Phase::Open) {
                    self.socket_closed(code, reason, now, random, &mut out);
                }
            }
            Input::Timer => {
                self.armed = None;
                self.timer(now, random, &mut out);
            }
            Input::Online => {
                self.online = true;
                match self.phase {
                    // A wait the server asked for (`retry_after_ms`) is kept, also after an
                    // offline spell (which keeps its end, `retry_at`).
                    Phase::Waiting if self.retry_hint_ms.is_some() => {}
                    Phase::Offline
                        if let Some(at) =
                            self.retry_at.filter(|_| self.retry_hint_ms.is_some()) =>
                    {
                        self.wait(at, now, &mut out)
                    }
                    Phase::Offline | Phase::Waiting => {
                        self.retry_at = None;
                        self.begin_connect(now, &mut out);
                    }
                    // The network changed under an open socket: check at once that it still works.
                    Phase::Open if self.ping_sent_at.is_none() => self.ping(now, &mut out),
                    _ => {}
                }
            }
            Input::Offline => {
                self.online = false;
                if self.phase == Phase::Waiting {
                    self.go_offline(&mut out);
                }
            }
            Input::AppClose => {
                if self.phase != Phase::Closed {
                    if matches!(self.phase, Phase::Connecting | Phase::Open) {
                        out.push(Action::CloseSocket);
                    }
                    self.stop(CLIENT_CLOSE_CODE, "closed by the client".into(), &mut out);
                }
            }
            Input::Subscribe {
                handle,
                topic,
                token,
                resume,
            } => self.subscribe(handle, topic, token, resume, now, &mut out),
            Input::Unsubscribe { handle } => self.unsubscribe(handle, now, &mut out),
            Input::TopicEnded(ended) => self.unsubscribed(ended, &mut out),
            Input::TopicSocketStopped { code, reason } => {
                if !matches!(self.phase, Phase::Idle | Phase::Closed) {
                    if matches!(self.phase, Phase::Connecting | Phase::Open) {
                        out.push(Action::CloseSocket);
                    }
                    self.give_up(code, reason, &mut out);
                }
            }
        }
        self.arm_timer(now, &mut out);
        out
    }

    fn begin_connect<P>(&mut self, now: u64, out: &mut Vec<Action<P>>) {
        // The server's hint was for the wait that ends here.
        self.retry_hint_ms = None;
        self.connect_deadline = Some(now + u64::from(self.options.connect_timeout_ms));
        out.push(Action::State(State::Connecting {
            attempt: self.attempt,
        }));
        if let Some(token) = &self.fixed_token {
            if self.is_expired(token.exp, now) {
                let code = CloseCode::TokenExpired;
                self.give_up(code.as_u16(), code.reason().into(), out);
            } else {
                let token = token.value.clone();
                self.open_socket(token, out);
            }
        } else {
            self.phase = Phase::FetchingToken;
            self.token_request = self.token_request.wrapping_add(1);
            out.push(Action::FetchToken {
                request: self.token_request,
            });
        }
    }

    fn use_token<P>(&mut self, token: Token, now: u64, random: f64, out: &mut Vec<Action<P>>) {
        if self.is_expired(token.exp, now) {
            out.push(Action::Error(Error::TokenExpired { stopped: false }));
            self.retry_later(now, random, out);
        } else {
            self.open_socket(token.value, out);
        }
    }

    fn open_socket<P>(&mut self, token: String, out: &mut Vec<Action<P>>) {
        self.phase = Phase::Connecting;
        self.ping_sent_at = None;
        // A new socket knows no subscription and has its own frame budget.
        for topic in &mut self.topics {
            topic.state = match topic.state {
                TopicState::Socket => TopicState::Socket,
                // The connect URL subscribes a topic socket's topic.
                _ if self.topic_socket => TopicState::Pending,
                _ if topic.handles.is_empty() => TopicState::Backend,
                _ => TopicState::New,
            };
        }
        self.refusal = None;
        self.unsubscribes.clear();
        self.left.clear();
        self.flush_at = None;
        self.window = (0, 0);
        out.push(Action::Connect {
            url: self.connect_url(),
            token,
        });
    }

    /// `true` when the server would not keep a socket with this token: it refuses and closes
    /// sockets at `exp` by its own clock, learned from `welcome`. Before the first `welcome` the
    /// local clock may be off, so a token up to `LEEWAY_SECONDS` past `exp` is still tried and the
    /// server decides (it refuses an expired one in-band, with the code to refresh).
    fn is_expired(&self, exp: Option<i64>, now: u64) -> bool {
        let Some(exp) = exp else { return false };
        let server_now_ms = (now as i64).saturating_add(self.clock_offset_ms);
        let leeway = if self.clock_known { 0 } else { LEEWAY_SECONDS };
        server_now_ms >= exp.saturating_add(leeway).saturating_mul(1000)
    }

    fn connect_url(&self) -> String {
        let mut url = String::with_capacity(self.base_url.len() + 64);
        url.push_str(&self.base_url);
        url.push_str(CONNECT_PATH);
        // Browsers cannot read a refused upgrade: ask for the reason in-band (an error frame and
        // a close code from the shared table), so an invalid token stops instead of retrying.
        url.push('?');
        url.push_str(REFUSAL_PARAM);
        url.push('=');
        url.push_str(REFUSAL_CLOSE);
        let mut stream = &self.stream;
        if let Some(topic) = self.topics.first().filter(|_| self.topic_socket) {
            stream = &topic.stream;
            push_param(&mut url, TOPIC_PARAM, &topic.name);
            if let Some(token) = &topic.token {
                push_param(&mut url, SUBSCRIPTION_PARAM, token);
            }
        }
        if let Some(last_id) = stream.last_id {
            push_param(&mut url, SINCE_PARAM, &decimal(last_id));
            if !stream.epoch.is_empty() {
                push_param(&mut url, EPOCH_PARAM, &stream.epoch);
            }
        }
        url
    }

    /// The socket is open: its first frame came.
    fn opened(&mut self, now: u64, heartbeat_ms: u32) {
        self.phase = Phase::Open;
        self.opened_at = now;
        self.connect_deadline = None;
        let heartbeat = self.options.heartbeat_ms.unwrap_or(heartbeat_ms);
        self.heartbeat_ms = u64::from(heartbeat.max(1000));
    }

    fn frame<P>(&mut self, frame: Frame<P>, now: u64, random: f64, out: &mut Vec<Action<P>>) {
        match frame {
            Frame::Welcome(welcome) => {
                if self.phase != Phase::Connecting || self.topic_socket {
                    return;
                }
                self.opened(now, welcome.heartbeat_ms);
                self.clock_offset_ms = (welcome.server_time as i64).saturating_sub(now as i64);
                self.clock_known = true;
                // Events were lost: the app hears so first, then gets what the server still keeps
                // after the gap (replayed next), then live events.
                if self
                    .stream
                    .resume(welcome.last_id, welcome.epoch, welcome.recovered)
                {
                    out.push(Action::Resync);
                }
                out.push(Action::State(State::Open));
                // Every subscription again, each from where it left off.
                self.flush(now, out);
            }
            Frame::Event(event) if event.topic.is_some() => {
                self.topic_event(event, now, random, out)
            }
            Frame::Event(event) => {
                match self.stream.next(event.id) {
                    Next::Deliver => {}
                    Next::Lost => out.push(Action::Resync),
                    Next::Duplicate => return,
                    // Resume from the last one delivered; the server replays the rest.
                    Next::Gap => return self.connection_lost(now, random, out),
                }
                out.push(Action::Deliver(event, false));
            }
            Frame::Error(body) => {
                // A refusal that says when to retry (`rate_limited`): the next wait is at least
                // that long, whatever the backoff schedule says.
                self.retry_hint_ms = body.retry_after_ms;
                if self.topic_socket {
                    // Told as the topic's end (or the client's) should the socket close for good.
                    self.refusal = Some(body);
                    return;
                }
                out.push(Action::Error(Error::Server {
                    code: body.code,
                    message: body.message,
                }))
            }
            Frame::Pong => {}
            Frame::Subscribed(subscribed) => {
                if self.topic_socket && self.phase == Phase::Connecting {
                    // A topic socket's first frame: it is open.
                    self.opened(now, HEARTBEAT_INTERVAL_MS);
                    out.push(Action::State(State::Open));
                }
                if self.left_answered(&subscribed.topic) {
                    return;
                }
                let Some(topic) = self.topics.iter_mut().find(|t| t.name == subscribed.topic)
                else {
                    // A subscription the backend made: its events go to the client's handlers.
                    self.topics.push(Topic {
                        name: subscribed.topic,
                        token: None,
                        handles: Vec::new(),
                        stream: Position {
                            epoch: subscribed.epoch,
                            last_id: subscribed.last_id,
                        }
                        .into(),
                        state: TopicState::Active,
                    });
                    return;
                };
                if topic.state == TopicState::Backend {
                    // The backend's subscription is back on a new socket, from now on: subscribe
                    // again from the last event delivered, so the server replays the gap.
                    topic.state = TopicState::Stale;
                    self.flush_at.get_or_insert(now);
                    return;
                }
                // Only the answer to our own subscribe: one sent with `since` is answered with
                // `recovered`; a `subscribed` without it is the backend's own (from now on).
                if topic.state != TopicState::Pending
                    || (topic.stream.last_id.is_some() && subscribed.recovered.is_none())
                {
                    return;
                }
                topic.state = TopicState::Active;
                // As for the user's stream.
                if topic
                    .stream
                    .resume(subscribed.last_id, subscribed.epoch, subscribed.recovered)
                {
                    let scoped = !topic.handles.is_empty();
                    out.push(Action::TopicResync(subscribed.topic, scoped));
                }
            }
            Frame::Unsubscribed(unsubscribed) => {
                if !self.left_answered(&unsubscribed.topic) {
                    self.unsubscribed(unsubscribed, out)
                }
            }
            Frame::Occupancy(occupancy) => out.push(Action::Occupancy(occupancy)),
            Frame::Presence(presence) => out.push(Action::Presence(presence)),
        }
    }

    /// Whether a `subscribed` or `unsubscribed` of `topic` answers a subscribe the app left
    /// unanswered (`left`): then it is dropped, and the entry emptied.
    fn left_answered(&mut self, topic: &str) -> bool {
        let left = self.left.iter_mut().find(|left| *left == topic);
        left.map(String::clear).is_some()
    }

    /// The server refused or ended a topic's subscription (on this socket, or on the topic's own).
    fn unsubscribed<P>(&mut self, unsubscribed: Unsubscribed, out: &mut Vec<Action<P>>) {
        let Some(index) = self
            .topics
            .iter()
            .position(|t| t.name == unsubscribed.topic)
        else {
            return;
        };
        let Some(topic) = self.topics.get_mut(index) else {
            return;
        };
        if topic.handles.is_empty() {
            // The backend's subscription, which the server refused to resume from our
            // frame (e.g. a topic only the backend may grant): it stays, from now on.
            topic.state = TopicState::Active;
            // It starts again with its next event.
            topic.stream.restart = Some(NonZeroU64::MAX);
            out.push(Action::TopicResync(unsubscribed.topic, false));
        } else if unsubscribed.error.code == ErrorCode::TopicSocketRequired.as_str()
            && topic.state == TopicState::Pending
        {
            // Read over a socket of its own, as every topic of its namespace from now on.
            topic.state = TopicState::Socket;
            let namespace = namespace_of(&topic.name);
            if !reads_over_socket(&self.socket_namespaces, &topic.name) {
                self.socket_namespaces.push(namespace.into());
            }
            out.push(Action::OpenTopicSocket(
                topic.name.clone(),
                topic.token.clone(),
            ));
        } else {
            let topic = self.topics.remove(index);
            if topic.state == TopicState::Socket {
                out.push(Action::CloseTopicSocket(topic.name));
            }
            out.push(Action::Unsubscribed(unsubscribed));
        }
    }

    /// An event of a topic: delivered once, in id order, to the topic's subscriptions.
    fn topic_event<P>(
        &mut self,
        event: EventFrame<P>,
        now: u64,
        random: f64,
        out: &mut Vec<Action<P>>,
    ) {
        let name = event.topic.as_deref().unwrap_or_default();
        let Some(topic) = self.topics.iter_mut().find(|topic| topic.name == name) else {
            return; // Not (or no longer) subscribed.
        };
        if topic.state != TopicState::Active {
            return; // The replay after `subscribed` brings it.
        }
        let scoped = !topic.handles.is_empty();
        match topic.stream.next(event.id) {
            Next::Deliver => {}
            Next::Lost => out.push(Action::TopicResync(topic.name.clone(), scoped)),
            Next::Duplicate => return,
            // A topic socket resumes by connecting again from the last one delivered.
            Next::Gap if self.topic_socket => return self.connection_lost(now, random, out),
            Next::Gap => {
                // Subscribe again from the last one delivered; the server replays the rest, and
                // what arrives meanwhile is dropped until its `subscribed`.
                topic.state = TopicState::Stale;
                self.flush_at.get_or_insert(now);
                return;
            }
        }
        out.push(Action::Deliver(event, scoped));
    }

    fn subscribe<P>(
        &mut self,
        handle: u32,
        name: String,
        token: Option<String>,
        resume: Option<Position>,
        now: u64,
        out: &mut Vec<Action<P>>,
    ) {
        // Where a topic the machine does not hold starts.
        let stream = resume.map(Stream::from).unwrap_or_default();
        if let Some(topic) = self.topics.iter_mut().find(|topic| topic.name == name) {
            // (A topic socket's machine is given its one handle again with a new grant.)
            if !topic.handles.contains(&handle) {
                topic.handles.push(handle);
            }
            if token.is_some() {
                topic.token = token;
                // A topic socket takes the newest grant for its next connect (a stopped client
                // hands it over on `Start`).
                if topic.state == TopicState::Socket
                    && !matches!(self.phase, Phase::Idle | Phase::Closed)
                {
                    out.push(Action::OpenTopicSocket(
                        topic.name.clone(),
                        topic.token.clone(),
                    ));
                }
            }
            if topic.state == TopicState::Backend {
                // The backend's topic of an earlier socket, which it may have ended since (no
                // frame says so): the app's subscription starts as one the machine does not hold.
                topic.state = TopicState::New;
                topic.stream = stream;
                self.flush_at.get_or_insert(now);
            }
            return;
        }
        let state = match reads_over_socket(&self.socket_namespaces, &name) {
            true => {
                // A stopped client opens no socket: `Start` opens it with the others.
                if !matches!(self.phase, Phase::Idle | Phase::Closed) {
                    out.push(Action::OpenTopicSocket(name.clone(), token.clone()));
                }
                TopicState::Socket
            }
            false => {
                self.flush_at.get_or_insert(now);
                TopicState::New
            }
        };
        self.topics.push(Topic {
            name,
            token,
            handles: vec![handle],
            stream,
            state,
        });
    }

    fn unsubscribe<P>(&mut self, handle: u32, now: u64, out: &mut Vec<Action<P>>) {
        let unsubscribes = self.unsubscribes.len();
        self.topics.retain_mut(|topic| {
            let held = topic.handles.len();
            topic.handles.retain(|&held| held != handle);
            if topic.handles.len() == held || !topic.handles.is_empty() {
                return true;
            }
            if topic.state == TopicState::Socket {
                out.push(Action::CloseTopicSocket(core::mem::take(&mut topic.name)));
            } else if topic.state != TopicState::New {
                if topic.state == TopicState::Pending {
                    self.left.push(topic.name.clone());
                }
                self.unsubscribes.push(core::mem::take(&mut topic.name));
            }
            false
        });
        if self.unsubscribes.len() != unsubscribes {
            self.flush_at.get_or_insert(now);
        }
    }

    /// Sends what is due while open: the unsubscribes, then every topic not subscribed on this
    /// socket (or stale), [`TOPICS_PER_FRAME`] a frame, as far as the frame budget allows; the
    /// rest is sent when the budget's window has moved on.
    fn flush<P>(&mut self, now: u64, out: &mut Vec<Action<P>>) {
        self.flush_at = None;
        if self.phase != Phase::Open {
            return;
        }
        loop {
            let unsubscribe = !self.unsubscribes.is_empty();
            if !unsubscribe && !self.topics.iter().any(Topic::is_due) {
                return;
            }
            let (start, sent) = &mut self.window;
            if *start + FRAME_WINDOW_MS <= now {
                (*start, *sent) = (now, 0);
            }
            if *sent >= FRAME_BUDGET {
                self.flush_at = Some(*start + FRAME_WINDOW_MS);
                return;
            }
            *sent += 1;
            // Every item is followed by a comma; the last one is replaced by the closing `]`.
            let mut text = String::from(if unsubscribe {
                r#"{"type":"unsubscribe","topics":["#
            } else {
                r#"{"type":"subscribe","topics":["#
            });
            let mut count = 0;
            if unsubscribe {
                self.unsubscribes.retain(|topic| {
                    count += 1;
                    if count > TOPICS_PER_FRAME {
                        return true;
                    }
                    push_json_string(&mut text, topic);
                    text.push(',');
                    false
                });
            } else {
                for topic in self.topics.iter_mut().filter(|topic| topic.is_due()) {
                    count += 1;
                    if count > TOPICS_PER_FRAME {
                        break;
                    }
                    topic.state = TopicState::Pending;
                    push_subscription(&mut text, topic);
                    text.push(',');
                }
            }
            text.pop();
            text.push_str("]}");
            out.push(Action::Send(text));
        }
    }

    fn socket_closed<P>(
        &mut self,
        code: u16,
        reason: String,
        now: u64,
        random: f64,
        out: &mut Vec<Action<P>>,
    ) {
        self.note_drop(now);
        match close_action(code) {
            CloseAction::Reconnect => self.retry_later(now, random, out),
            CloseAction::RefreshToken if self.fixed_token.is_none() => {
                // Every connect asks the provider, so retrying is refreshing.
                self.retry_later(now, random, out)
            }
            // For good (also a fixed token's expiry: it cannot be refreshed).
            _ => match self.refusal.take() {
                // A topic socket's refusal of its topic (its `error` frame, held until now): the
                // topic's subscriptions hear why; the client carries on.
                Some(error) if refuses_topic(&error.code) => {
                    if let Some(topic) = self.topics.first() {
                        out.push(Action::Unsubscribed(Unsubscribed {
                            topic: topic.name.clone(),
                            error,
                        }));
                    }
                    self.stop(code, reason, out);
                }
                refusal => {
                    // The client's own refusal (its token, a protocol violation): a topic
                    // socket's `error` frame is told as the client's socket tells one, then the
                    // client stops.
                    if let Some(body) = refusal {
                        out.push(Action::Error(Error::Server {
                            code: body.code,
                            message: body.message,
                        }));
                    }
                    self.give_up(code, reason, out);
                }
            },
        }
    }

    /// Stops for good for a reason of the client's (a terminal close code, a fixed token that
    /// expired): the app hears why. A topic socket's machine asks the client's to stop instead
    /// ([`Action::StopClient`]): the token, and the decision, are the client's.
    /// A provider without a token ([`Input::NoToken`]) was reported as [`Error::MissingToken`]
    /// by the machine that asked it.
    fn give_up<P>(&mut self, code: u16, reason: String, out: &mut Vec<Action<P>>) {
        if self.topic_socket {
            out.push(Action::StopClient {
                code,
                reason: reason.clone(),
            });
        } else if close_action(code) == CloseAction::RefreshToken {
            out.push(Action::Error(Error::TokenExpired { stopped: true }));
        } else if reason != MISSING_TOKEN {
            out.push(Action::Error(Error::Rejected {
                code,
                reason: reason.clone(),
            }));
        }
        self.stop(code, reason, out);
    }

    fn timer<P>(&mut self, now: u64, random: f64, out: &mut Vec<Action<P>>) {
        match self.phase {
            Phase::Waiting if self.retry_at.is_some_and(|at| at <= now) => {
                self.retry_at = None;
                self.begin_connect(now, out);
            }
            Phase::FetchingToken | Phase::Connecting
                if self.connect_deadline.is_some_and(|at| at <= now) =>
            {
                if self.phase == Phase::Connecting {
                    out.push(Action::CloseSocket);
                } else {
                    self.token_request = self.token_request.wrapping_add(1); // Ignore it if it comes.
                }
                self.retry_later(now, random, out);
            }
            Phase::Open => {
                if self.flush_at.is_some_and(|at| at <= now) {
                    self.flush(now, out);
                }
                match self.ping_sent_at {
                    Some(sent) if sent + u64::from(self.options.pong_timeout_ms) <= now => {
                        // No answer to the heartbeat: the socket is dead even if the browser has
                        // not noticed yet.
                        self.connection_lost(now, random, out);
                    }
                    None if self.last_frame_at + self.heartbeat_ms <= now => self.ping(now, out),
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// What any drop of a connection does to the backoff schedule, whoever found it (a close
    /// event, the heartbeat, a gap in the ids): one that stayed open `stable_after_ms` starts the
    /// schedule from the beginning.
    fn note_drop(&mut self, now: u64) {
        if self.phase == Phase::Open
            && now.saturating_sub(self.opened_at) >= u64::from(self.options.stable_after_ms)
        {
            self.attempt = 0;
        }
    }

    /// The open socket is no good any more (found by the client, not by a close event): drop it
    /// and reconnect on the schedule, resuming from the last event delivered.
    fn connection_lost<P>(&mut self, now: u64, random: f64, out: &mut Vec<Action<P>>) {
        out.push(Action::CloseSocket);
        self.note_drop(now);
        self.retry_later(now, random, out);
    }

    fn ping<P>(&mut self, now: u64, out: &mut Vec<Action<P>>) {
        self.ping_sent_at = Some(now);
        out.push(Action::Send(PING.into()));
    }

    fn retry_later<P>(&mut self, now: u64, random: f64, out: &mut Vec<Action<P>>) {
        self.connect_deadline = None;
        self.ping_sent_at = None;
        self.attempt = self.attempt.saturating_add(1);
        // Kept until the next connect: `Online` does not cut the wait short.
        let hint = self.retry_hint_ms.unwrap_or(0);
        let delay_ms = self
            .options
            .backoff_delay_ms(self.attempt, random)
            .max(u32::try_from(hint).unwrap_or(u32::MAX));
        let at = now + u64::from(delay_ms);
        if self.online {
            self.wait(at, now, out);
        } else {
            // A wait the server asked for outlasts an offline spell.
            self.retry_at = Some(at);
            self.go_offline(out);
        }
    }

    /// Waits until `at`, then connects.
    fn wait<P>(&mut self, at: u64, now: u64, out: &mut Vec<Action<P>>) {
        self.phase = Phase::Waiting;
        self.retry_at = Some(at);
        out.push(Action::State(State::Reconnecting {
            attempt: self.attempt,
            delay_ms: at.saturating_sub(now) as u32,
        }));
    }

    fn go_offline<P>(&mut self, out: &mut Vec<Action<P>>) {
        self.phase = Phase::Offline;
        self.connect_deadline = None;
        out.push(Action::State(State::Offline));
    }

    fn stop<P>(&mut self, code: u16, reason: String, out: &mut Vec<Action<P>>) {
        if self.phase == Phase::FetchingToken {
            self.token_request = self.token_request.wrapping_add(1);
        }
        self.phase = Phase::Closed;
        self.retry_at = None;
        self.connect_deadline = None;
        self.ping_sent_at = None;
        out.push(Action::State(State::Closed { code, reason }));
    }

    /// The earliest moment something is due, given the phase.
    fn next_deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Waiting => self.retry_at,
            Phase::FetchingToken | Phase::Connecting => self.connect_deadline,
            Phase::Open => {
                let heartbeat = match self.ping_sent_at {
                    Some(sent) => sent + u64::from(self.options.pong_timeout_ms),
                    None => self.last_frame_at + self.heartbeat_ms,
                };
                Some(self.flush_at.map_or(heartbeat, |at| at.min(heartbeat)))
            }
            Phase::Idle | Phase::Offline | Phase::Closed => None,
        }
    }

    fn arm_timer<P>(&mut self, now: u64, out: &mut Vec<Action<P>>) {
        let next = self.next_deadline();
        if next == self.armed {
            return;
        }
        self.armed = next;
        out.push(match next {
            Some(at) => Action::SetTimer {
                delay_ms: at.saturating_sub(now),
            },
            None => Action::ClearTimer,
        });
    }
}

/// Where a stream of events is (the user's, or a topic's): its epoch and the id of the last event
/// delivered, which a resume starts from.
#[derive(Debug, Default)]
struct Stream {
    /// Empty while unknown.
    epoch: String,
    last_id: Option<u64>,
    /// After `recovered: false`, the next event starts the stream anew: the server replays what it
    /// still keeps after the gap, then live events follow. The id after the newest one the app
    /// was told it may have missed: should the stream start again past it, those were lost too.
    restart: Option<NonZeroU64>,
}

/// What [`Stream::next`] makes of an event.
enum Next {
    /// Deliver it.
    Deliver,
    /// Tell the app that events were lost (the stream starts again past the gap it heard of),
    /// then deliver it.
    Lost,
    /// Drop it: already delivered (replay overlap, or a server retry).
    Duplicate,
    /// Drop it: ids are contiguous, and one before it was lost on the way.
    Gap,
}

impl From<Position> for Stream {
    fn from(position: Position) -> Self {
        Self {
            epoch: position.epoch,
            last_id: Some(position.last_id),
            restart: None,
        }
    }
}

impl Stream {
    /// Where the stream is, once known.
    fn position(&self) -> Option<Position> {
        self.last_id.map(|last_id| Position {
            epoch: self.epoch.clone(),
            last_id,
        })
    }

    /// Takes the server's answer to a resume (`welcome`, or a topic's `subscribed`): the newest
    /// id, the epoch and `recovered`. Returns whether the app must hear that events were lost.
    ///
    /// `recovered: true` promises every event after `since`, and no answer (no `since`) starts at
    /// the newest event. `recovered: false` lets the next event through whatever its id; the
    /// server then replays what it still keeps after `since` when the stream is the same (same
    /// epoch, `since` not from its future): until the first of it arrives, the stream resumes
    /// from `since` again, so that a drop meanwhile loses none of it, and a gap the app already
    /// heard of (nothing delivered since) is not told twice. Otherwise the stream continues from
    /// the newest event.
    fn resume(&mut self, newest: u64, epoch: String, recovered: Option<bool>) -> bool {
        let replays = recovered == Some(false)
            && self.last_id.is_some_and(|since| since <= newest)
            && (self.epoch.is_empty() || self.epoch == epoch);
        if recovered != Some(true) && !replays {
            self.last_id = Some(newest);
        }
        self.epoch = epoch;
        if recovered != Some(false) {
            self.restart = None;
            false
        } else if replays && self.restart.is_some() {
            false // Heard of already.
        } else {
            self.restart = Some(NonZeroU64::MIN.saturating_add(newest));
            true
        }
    }

    /// Takes the event `id` into the stream, unless it is a duplicate or past a gap.
    fn next(&mut self, id: u64) -> Next {
        let next = match (self.restart.take(), self.last_id) {
            // The first event after an unfillable gap: the stream starts again here. Ids missing
            // past the gap the app heard of were pruned meanwhile: lost too.
            (Some(past), _) if id > past.get() => Next::Lost,
            (Some(_), _) => Next::Deliver,
            (None, Some(last)) if id <= last => return Next::Duplicate,
            (None, Some(last)) if id > last + 1 => return Next::Gap,
            (None, _) => Next::Deliver,
        };
        self.last_id = Some(id);
        next
    }
}

/// Whether a topic socket's refusal is of its topic: one of the codes a subscription's error
/// handlers hear (the subscription ends, the client carries on), not of the client (its token, a
/// protocol violation: the client stops).
fn refuses_topic(code: &str) -> bool {
    // Strings made at compile time: `as_str` at run time would link every code's.
    const TOPIC_REFUSALS: [&str; 5] = [
        ErrorCode::TopicForbidden.as_str(),
        ErrorCode::InvalidTopic.as_str(),
        ErrorCode::UnknownNamespace.as_str(),
        ErrorCode::TooManySubscriptions.as_str(),
        ErrorCode::InternalError.as_str(),
    ];
    TOPIC_REFUSALS.contains(&code)
}

/// The namespace of a topic name: what comes before its first `:`.
fn namespace_of(topic: &str) -> &str {
    // A byte loop and `get`, as in `websocket_base`.
    let end = topic.bytes().position(|b| b == b':').unwrap_or(topic.len());
    topic.get(..end).unwrap_or_default()
}

/// Whether `topic` is of one of `namespaces`, those read over topic sockets.
fn reads_over_socket(namespaces: &[String], topic: &str) -> bool {
    let namespace = namespace_of(topic);
    namespaces.iter().any(|known| known == namespace)
}

/// Appends `&name=value` to a URL, the value percent-encoded.
fn push_param(url: &mut String, name: &str, value: &str) {
    url.push('&');
    url.push_str(name);
    url.push('=');
    push_query_value(url, value);
}

/// Appends one topic of a `subscribe` frame: `{"topic":..}` with `since` and `epoch` when it has
/// delivered events (or been answered), and its token.
fn push_subscription(text: &mut String, topic: &Topic) {
    text.push_str(r#"{"topic":"#);
    push_json_string(text, &topic.name);
    if let Some(last_id) = topic.stream.last_id {
        text.push_str(r#","since":"#);
        text.push_str(&decimal(last_id));
        if !topic.stream.epoch.is_empty() {
            text.push_str(r#","epoch":"#);
            push_json_string(text, &topic.stream.epoch);
        }
    }
    if let Some(token) = &topic.token {
        text.push_str(r#","token":"#);
        push_json_string(text, token);
    }
    text.push('}');
}

/// `ws(s)://host[/prefix]` from an `http(s)` or `ws(s)` URL, without a trailing slash.
/// Fails with the reason of an [`Error::Config`].
fn websocket_base(url: &str) -> Result<String, &'static str> {
    const BAD_SCHEME: &str = "the URL must start with https://, http://, wss:// or ws://";
    // Byte loops and `get` only: string searchers and slicing would bring their code and panic
    // formatting into the wasm.
    let mut url = url.trim_ascii();
    while let Some(rest) = url.strip_suffix('/') {
        url = rest;
    }
    let colon = url.bytes().position(|b| b == b':').ok_or(BAD_SCHEME)?;
    let scheme = url.get(..colon).ok_or(BAD_SCHEME)?.to_ascii_lowercase();
    let rest = url
        .get(colon..)
        .and_then(|rest| rest.strip_prefix("://"))
        .ok_or(BAD_SCHEME)?;
    let scheme = match scheme.as_str() {
        "https" | "wss" => "wss://",
        "http" | "ws" => "ws://",
        _ => return Err(BAD_SCHEME),
    };
    if rest.is_empty() || rest.bytes().any(|b| b == b'?' || b == b'#') {
        return Err("the URL must name a host and may not carry a query or fragment");
    }
    let mut base = String::with_capacity(scheme.len() + rest.len());
    base.push_str(scheme);
    base.push_str(rest);
    Ok(base)
}

#[cfg(test)]
mod tests;
