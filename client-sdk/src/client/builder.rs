//! [`ClientBuilder`]: where to connect, where the token comes from, timing, and where to resume.

use alloc::rc::Rc;
use alloc::string::String;
#[cfg(feature = "std")]
use core::{fmt::Display, future::Future};

use super::Client;
#[cfg(feature = "std")]
use super::Provider;
#[cfg(feature = "std")]
use super::TokenDone;
use super::driver::Driver;
use crate::backoff::Options;
use crate::connection::{Connection, Position};
use crate::dispatch::Handlers;
use crate::error::Error;
use crate::sys;

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
    #[cfg(feature = "std")]
    Provider(Provider),
}

impl ClientBuilder {
    pub(super) fn new(url: String) -> Self {
        Self {
            url,
            token: None,
            options: Options::default(),
            position: None,
        }
    }

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
    pub fn token_provider<F, Fut, E>(self, provider: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Display,
    {
        self.provider(provider, |_| false)
    }

    /// [`token_provider`](Self::token_provider), but an error `stops` picks ends the client with
    /// [`Error::MissingToken`] instead of being retried.
    #[cfg(feature = "std")]
    pub(crate) fn provider<F, Fut, E, S>(mut self, provider: F, stops: S) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, E>> + 'static,
        E: Display,
        S: Fn(&E) -> bool + Copy + 'static,
    {
        let provider: Provider = Rc::new(move |done: TokenDone| {
            let future = provider();
            wasm_bindgen_futures::spawn_local(async move {
                done(future.await.map_err(|e| (e.to_string(), stops(&e))));
            });
        });
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
        let handlers = Rc::new(Handlers::new());
        let (fixed, provider) = match self.token {
            Some(TokenSource::Fixed(value)) => (Some(sys::read_token(value)), None),
            #[cfg(feature = "std")]
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
            driver: Driver::new(machine, provider, handlers.clone()),
            handlers,
            #[cfg(feature = "std")]
            clones: Rc::new(()),
        })
    }
}
