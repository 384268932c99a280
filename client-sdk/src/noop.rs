//! The Rust API on targets other than wasm32, where there is no browser: the same types and
//! methods as the wasm32 client, doing nothing. A Leptos or Dioxus app compiles its components
//! for the server too (server-side rendering, fullstack); with this, code that creates a
//! [`Client`] and registers handlers compiles there unchanged, and does nothing on the server.
//!
//! What it does: [`ClientBuilder::build`] checks the configuration as the browser's does (the
//! same [`Error::Config`]); a client never connects, its state stays [`State::Idle`], handlers
//! are dropped at once without being called, streams end at once, and subscriptions receive
//! nothing. Nothing here touches the network.

use alloc::rc::Rc;
use alloc::string::String;
#[cfg(feature = "std")]
use core::{fmt::Display, future::Future};

#[cfg(feature = "std")]
use serde::de::DeserializeOwned;

use crate::backoff::Options;
use crate::connection::{Connection, Position, State, SubscribeOptions, Token};
use crate::error::Error;
#[cfg(feature = "std")]
use crate::events::{Background, Event, Message};
#[cfg(feature = "std")]
use crate::stream::HandlerStream;
use edgepush_protocol::frames::Unsubscribed;

/// A client that never connects (this is a build for a target other than wasm32, e.g. the
/// server build of a Leptos or Dioxus app). In the browser (wasm32) this is the real client,
/// with the same methods; here it checks its configuration and does nothing else.
///
/// `!Send`, like the browser's, so that code which compiles here compiles there.
#[derive(Clone)]
pub struct Client {
    /// Shared by the clones, for `==`; an `Rc`, so the client is `!Send` as in the browser.
    identity: Rc<()>,
}

impl PartialEq for Client {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.identity, &other.identity)
    }
}

impl Eq for Client {}

impl Client {
    /// Starts configuring a client (which, here, never connects).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            token: None,
            options: Options::default(),
        }
    }

    /// Does nothing.
    pub fn connect(&self) {}

    /// Does nothing.
    pub fn close(&self) {}

    /// Always [`State::Idle`].
    pub fn state(&self) -> State {
        State::Idle
    }

    /// Always `None`.
    pub fn position(&self) -> Option<Position> {
        None
    }

    /// Drops `handler` without calling it. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on<T, F>(&self, name: &str, handler: F) -> HandlerGuard
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        let _ = (name, handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_message(&self, handler: impl FnMut(Event<Message>) + 'static) -> HandlerGuard {
        self.on(crate::events::MESSAGE, handler)
    }

    /// Drops `handler` without calling it. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_background(&self, handler: impl FnMut(Event<Background>) + 'static) -> HandlerGuard {
        self.on(crate::events::BACKGROUND, handler)
    }

    /// Drops `handler` without calling it. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on_unknown<T, F>(&self, handler: F) -> HandlerGuard
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        drop(handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_state(&self, handler: impl FnMut(&State) + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_error(&self, handler: impl FnMut(&Error) + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_resync(&self, handler: impl FnMut() + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// A subscription that receives nothing.
    pub fn subscribe(&self, topic: impl Into<String>) -> Subscription {
        Subscription {
            topic: topic.into(),
        }
    }

    /// A subscription that receives nothing.
    pub fn subscribe_with_token(
        &self,
        topic: impl Into<String>,
        token: impl Into<String>,
    ) -> Subscription {
        let _ = token;
        self.subscribe(topic)
    }

    /// A subscription that receives nothing.
    pub fn subscribe_with(
        &self,
        topic: impl Into<String>,
        options: SubscribeOptions,
    ) -> Subscription {
        let _ = options;
        self.subscribe(topic)
    }

    /// A stream that ends at once. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn events<T: DeserializeOwned + 'static>(&self, name: &str) -> HandlerStream<Event<T>> {
        let _ = name;
        ended()
    }

    /// A stream that ends at once. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn states(&self) -> HandlerStream<State> {
        ended()
    }
}

/// A stream whose handler is gone already: it ends at once.
#[cfg(feature = "std")]
fn ended<T>() -> HandlerStream<T> {
    let (stream, feeder) = HandlerStream::new();
    drop(feeder);
    stream.guarded(HandlerGuard(()))
}

/// Configures a [`Client`] (which, here, never connects).
pub struct ClientBuilder {
    url: String,
    /// `Some(Some(token))`: a fixed token; `Some(None)`: a provider.
    token: Option<Option<String>>,
    options: Options,
}

impl ClientBuilder {
    /// Keeps the token, to check that it is not empty.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Some(token.into()));
        self
    }

    /// Drops `provider` without calling it. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn token_provider<F, Fut, E>(mut self, provider: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Display,
    {
        drop(provider);
        self.token = Some(None);
        self
    }

    /// [`token_provider`](Self::token_provider), as the browser's builder has it for
    /// `token_endpoint`.
    #[cfg(feature = "gloo-net")]
    pub(crate) fn provider<F, Fut, E, S>(self, provider: F, stops: S) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Display,
        S: Fn(&E) -> bool + Copy + 'static,
    {
        let _ = stops;
        self.token_provider(provider)
    }

    /// Keeps the options, to check them as the browser's client does.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Does nothing.
    pub fn resume_from(self, position: Position) -> Self {
        let _ = position;
        self
    }

    /// A client that never connects; fails with [`Error::Config`] where the browser's would.
    pub fn build(self) -> Result<Client, Error> {
        let fixed = match self.token {
            Some(fixed) => fixed.map(|value| Token { value, exp: None }),
            None => {
                return Err(Error::Config {
                    reason: "set a token or a token provider",
                });
            }
        };
        Connection::new(&self.url, fixed, self.options)?;
        Ok(Client {
            identity: Rc::new(()),
        })
    }
}

/// A handler that was never registered: dropping it does nothing.
#[must_use = "dropping a HandlerGuard removes the handler: keep it, or call `forget()`"]
pub struct HandlerGuard(());

impl HandlerGuard {
    /// Does nothing.
    pub fn remove(self) {}

    /// Does nothing.
    pub fn forget(self) {}
}

/// A subscription that receives nothing.
#[must_use = "dropping a Subscription unsubscribes"]
pub struct Subscription {
    topic: String,
}

impl Subscription {
    /// The topic, as given to `subscribe`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// `None`: nothing is ever delivered.
    pub fn position(&self) -> Option<Position> {
        None
    }

    /// Drops `handler` without calling it. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on<T, F>(&self, name: &str, handler: F) -> HandlerGuard
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        let _ = (name, handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_resync(&self, handler: impl FnMut() + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_error(&self, handler: impl FnMut(&Unsubscribed) + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_occupancy(&self, handler: impl FnMut(u64) + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// Drops `handler` without calling it.
    pub fn on_presence(&self, handler: impl FnMut(&str, bool) + 'static) -> HandlerGuard {
        drop(handler);
        HandlerGuard(())
    }

    /// Does nothing.
    pub fn unsubscribe(self) {}

    /// A stream that ends at once. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn events<T: DeserializeOwned + 'static>(&self, name: &str) -> HandlerStream<Event<T>> {
        let _ = name;
        ended()
    }
}
