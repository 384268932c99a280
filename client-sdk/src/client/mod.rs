//! The browser client: [`Client`], the Rust API, built with [`ClientBuilder`]; its driver is the
//! engine under the JS API too (`crate::js`).
//!
//! - `builder`: [`ClientBuilder`].
//! - `driver`: runs the [`Connection`](crate::connection::Connection) machine, one input at a
//!   time, and carries out its actions.
//! - `browser`: the socket, timer and listeners the driver holds, released when dropped.
//! - `subscription`: [`Subscription`], one topic subscription and its handlers.
//!
//! Handler dispatch ([`crate::dispatch`]) and frame decoding ([`crate::decode`]) need no browser
//! and live beside the machine, tested natively.

mod browser;
mod builder;
pub(crate) mod driver;
#[cfg(feature = "std")]
mod stream;
mod subscription;

use alloc::boxed::Box;
use alloc::rc::{Rc, Weak};
use alloc::string::String;

#[cfg(feature = "std")]
use edgepush_protocol::frames::EventFrame;
#[cfg(feature = "std")]
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::connection::{Position, State, SubscribeOptions};
use crate::dispatch::{HandlerKind, Handlers, Notice};
use crate::error::Error;
#[cfg(feature = "std")]
use crate::events::{BACKGROUND, Background, Event, MESSAGE, Message};
#[cfg(feature = "std")]
use crate::sys;
pub use builder::ClientBuilder;
use driver::Driver;
pub use subscription::Subscription;

/// Receives what the token provider produced: the token, or an error text and whether asking
/// again cannot help ([`Input::NoToken`](crate::connection::Input::NoToken)).
pub(crate) type TokenDone = Box<dyn FnOnce(Result<String, (String, bool)>)>;
/// Starts fetching a token and calls the [`TokenDone`] once with the outcome. Callback-shaped
/// rather than a `Future` so that the JS package needs no futures executor.
pub(crate) type Provider = Rc<dyn Fn(TokenDone)>;

/// An event as it comes off the socket: `payload` holds the whole parsed frame object
/// (`{type, id, name, payload, ts}`), which the JS API hands out as is.
#[cfg(feature = "std")]
pub(crate) type RawEvent = EventFrame<JsValue>;

/// A live connection to edgepush for one user: reconnects with backoff, refreshes its token,
/// resumes without loss and dispatches typed events to handlers.
///
/// Dropping it closes the connection and removes every browser listener (like
/// [`close`](Self::close)). It is `!Send`: keep it on the browser's main thread, e.g. in a
/// Leptos/Yew/Dioxus context.
///
/// With the `std` feature it is a cheap handle: `clone()` increments two reference counts, every
/// clone drives the same connection, and the connection closes when the last clone is dropped.
/// Two clients are `==` when they are clones of one.
pub struct Client {
    driver: Rc<Driver>,
    /// The handlers, which the driver tells.
    handlers: Rc<Handlers<JsValue>>,
    /// Counts the clones of this handle: only the last one dropped closes the connection.
    #[cfg(feature = "std")]
    clones: Rc<()>,
}

#[cfg(feature = "std")]
impl Clone for Client {
    fn clone(&self) -> Self {
        Self {
            driver: self.driver.clone(),
            handlers: self.handlers.clone(),
            clones: self.clones.clone(),
        }
    }
}

#[cfg(feature = "std")]
impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.driver, &other.driver)
    }
}

#[cfg(feature = "std")]
impl Eq for Client {}

impl Client {
    /// Starts configuring a client for the edgepush server at `url`, e.g.
    /// `"https://push.example.com"` (`ws(s)://` works too).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url.into())
    }

    /// Connects (asynchronously; watch [`on_state`](Self::on_state)). Also restarts a client the
    /// server stopped (e.g. after a 4502 revoke, once the user logged in again). Does nothing
    /// while already connected, or after [`close`](Self::close).
    pub fn connect(&self) {
        self.driver.connect();
    }

    /// Stops everything: closes the socket with code 1000 ([`CloseCode::Normal`]), cancels timers
    /// and pending token fetches, removes every browser listener and, after reporting the final
    /// `closed` state, every handler (also after the server stopped the client, when the
    /// `closed` state was reported already). The client cannot be reconnected afterwards; build a
    /// new one.
    ///
    /// [`CloseCode::Normal`]: edgepush_protocol::codes::CloseCode::Normal
    pub fn close(&self) {
        self.driver.close();
    }

    /// The current connection state.
    pub fn state(&self) -> State {
        self.driver.state()
    }

    /// Where the client is in the user's event stream (epoch and last delivered id), once known.
    /// Save it to resume after a page reload with [`ClientBuilder::resume_from`].
    pub fn position(&self) -> Option<Position> {
        self.driver.position(None)
    }

    /// Calls `handler` with every event named `name` whose payload deserializes into `T`. A
    /// payload that does not fit is reported to the error handlers as [`Error::BadPayload`] and
    /// skipped. Several handlers may listen to one name. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on<T, F>(&self, name: &str, handler: F) -> HandlerGuard
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        self.add_handler(HandlerKind::Named(name.into()), typed(handler))
    }

    /// Calls `handler` with every built-in `Message` event (`{"text": ...}`). (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_message(&self, handler: impl FnMut(Event<Message>) + 'static) -> HandlerGuard {
        self.on(MESSAGE, handler)
    }

    /// Calls `handler` with every built-in `Background` event (`{"color": ...}`). (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_background(&self, handler: impl FnMut(Event<Background>) + 'static) -> HandlerGuard {
        self.on(BACKGROUND, handler)
    }

    /// Calls `handler` with every event no [`on`](Self::on) handler listens to, its payload
    /// decoded as `T` (e.g. `serde_json::Value`, or `serde::de::IgnoredAny` to only see names).
    /// (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_unknown<T, F>(&self, handler: F) -> HandlerGuard
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        self.add_handler(HandlerKind::Unknown, typed(handler))
    }

    /// Calls `handler` on every state change: `Connecting`, `Open`, `Reconnecting` (with attempt
    /// and delay), `Offline`, `Closed` (with code and reason).
    pub fn on_state(&self, mut handler: impl FnMut(&State) + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::State, move |notice| {
            if let Notice::State(state) = notice {
                handler(state);
            }
            Ok(())
        })
    }

    /// Calls `handler` with every [`Error`]. Without an error handler, errors are logged to the
    /// browser console.
    pub fn on_error(&self, mut handler: impl FnMut(&Error) + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::Error, move |notice| {
            if let Notice::Error(error) = notice {
                handler(error);
            }
            Ok(())
        })
    }

    /// Calls `handler` when events were lost and cannot be replayed (the server pruned them, or
    /// the stream was reset): reload the app's state from the backend. The events the server
    /// still keeps after the gap are delivered after this call, then live ones.
    pub fn on_resync(&self, mut handler: impl FnMut() + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::Resync, move |_| {
            handler();
            Ok(())
        })
    }

    /// Subscribes to `topic` (e.g. `"product:42"`) over this client's connection: the server
    /// checks that the user may read it, then the topic's events go to the subscription's
    /// handlers (and to no client handler). The subscription is sent at once when connected,
    /// else on connect, and again after every reconnect, resuming where it left off. Dropping the
    /// [`Subscription`] unsubscribes.
    pub fn subscribe(&self, topic: impl Into<String>) -> Subscription {
        self.subscribe_with(topic, SubscribeOptions::default())
    }

    /// [`subscribe`](Self::subscribe) with a subscription token from the app's backend, for
    /// topics it grants per request. It is sent with every (re)subscribe. Subscribing again to
    /// the same topic with a new token rotates it: the next subscribe (for a topic read over a
    /// topic socket, that socket's next connect) offers the newest one.
    pub fn subscribe_with_token(
        &self,
        topic: impl Into<String>,
        token: impl Into<String>,
    ) -> Subscription {
        let token = Some(token.into());
        self.subscribe_with(
            topic,
            SubscribeOptions {
                token,
                resume: None,
            },
        )
    }

    /// [`subscribe`](Self::subscribe) with [`SubscribeOptions`]: a subscription token (as
    /// [`subscribe_with_token`](Self::subscribe_with_token)), and where to resume, e.g. from the
    /// [`Subscription::position`] of the page before a reload (or of a client before this one):
    /// the events published after it are delivered first, once, in order.
    pub fn subscribe_with(
        &self,
        topic: impl Into<String>,
        options: SubscribeOptions,
    ) -> Subscription {
        Subscription::new(self, topic.into(), options)
    }

    /// Registers a handler of the common shape.
    pub(super) fn add_handler(
        &self,
        kind: HandlerKind,
        handler: impl FnMut(Notice<'_, JsValue>) -> Result<(), Error> + 'static,
    ) -> HandlerGuard {
        HandlerGuard::new(&self.handlers, self.handlers.add(None, kind, handler))
    }
}

/// One registered handler, from an `on…` method of [`Client`] or [`Subscription`]: dropping the
/// guard removes the handler (so a component that registered it on mount removes it on unmount).
/// [`forget`](Self::forget) keeps the handler for the client's lifetime instead.
///
/// It holds the client weakly: it does not keep a dropped client alive, and removing a handler
/// of a closed client, or one removed already, does nothing.
#[must_use = "dropping a HandlerGuard removes the handler: keep it, or call `forget()`"]
pub struct HandlerGuard {
    handlers: Weak<Handlers<JsValue>>,
    id: u32,
}

impl HandlerGuard {
    fn new(handlers: &Rc<Handlers<JsValue>>, id: u32) -> Self {
        Self {
            handlers: Rc::downgrade(handlers),
            id,
        }
    }

    /// Removes the handler now (the same as dropping the guard).
    pub fn remove(self) {
        drop(self);
    }

    /// Keeps the handler until the client closes (or the subscription ends), without a guard.
    pub fn forget(mut self) {
        self.handlers = Weak::new();
    }
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        if let Some(handlers) = self.handlers.upgrade() {
            handlers.remove_handler(self.id);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        #[cfg(feature = "std")]
        if Rc::strong_count(&self.clones) > 1 {
            return;
        }
        self.close();
    }
}

/// Adapts a typed event handler: decodes the payload into `T` first.
#[cfg(feature = "std")]
pub(crate) fn typed<T, F>(
    mut handler: F,
) -> impl FnMut(Notice<'_, JsValue>) -> Result<(), Error> + 'static
where
    T: DeserializeOwned + 'static,
    F: FnMut(Event<T>) + 'static,
{
    move |notice| {
        if let Notice::Event(raw, _) = notice {
            handler(typed_event(raw)?);
        }
        Ok(())
    }
}

/// The event with its payload decoded into `T`, for a typed handler.
#[cfg(feature = "std")]
fn typed_event<T: DeserializeOwned>(raw: &RawEvent) -> Result<Event<T>, Error> {
    let payload = sys::get(&raw.payload, "payload");
    match serde_wasm_bindgen::from_value(payload) {
        Ok(payload) => Ok(Event {
            topic: raw.topic.clone(),
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
