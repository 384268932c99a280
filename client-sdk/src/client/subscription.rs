//! [`Subscription`]: one topic subscription of a [`Client`](super::Client) and its handlers.

use alloc::rc::Rc;
use alloc::string::String;

#[cfg(feature = "std")]
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use super::driver::Driver;
use super::{Client, HandlerGuard};
use crate::connection::{Position, SubscribeOptions};
use crate::dispatch::{HandlerKind, Handlers, Notice, Scope};
use crate::error::Error;
#[cfg(feature = "std")]
use crate::events::Event;
use edgepush_protocol::frames::Unsubscribed;

/// A subscription to one topic, from [`Client::subscribe`](super::Client::subscribe): the
/// topic's events go to its handlers only. It survives reconnects (the client subscribes again,
/// from the last event delivered, so nothing is lost or delivered twice) until
/// [`unsubscribe`](Self::unsubscribe), until it is dropped, or until the server ends it (see
/// [`on_error`](Self::on_error)).
///
/// Several subscriptions may hold one topic: the client subscribes to it once, and each gets its
/// events until it is dropped.
#[must_use = "dropping a Subscription unsubscribes"]
pub struct Subscription {
    driver: Rc<Driver>,
    /// The client's handlers, which this subscription's join.
    handlers: Rc<Handlers<JsValue>>,
    topic: String,
    handle: u32,
}

impl Subscription {
    pub(super) fn new(client: &Client, topic: String, options: SubscribeOptions) -> Self {
        let handle = client.driver.subscribe(topic.clone(), options);
        Self {
            driver: client.driver.clone(),
            handlers: client.handlers.clone(),
            topic,
            handle,
        }
    }

    /// The topic, as given to `subscribe`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Where the topic's stream is (its epoch and the id of the last event delivered), once
    /// known: the server answered the subscription, or it was made with a `resume` position.
    /// Save it to go on after a page reload (or with another client) with
    /// [`SubscribeOptions::resume`]; also after the client was closed.
    pub fn position(&self) -> Option<Position> {
        self.driver.position(Some(&self.topic))
    }

    /// Calls `handler` with every event of the topic named `name` whose payload deserializes
    /// into `T` (its `topic` is set); a payload that does not fit goes to the client's error
    /// handlers as [`Error::BadPayload`]. (Feature `std`.)
    #[cfg(feature = "std")]
    pub fn on<T, F>(&self, name: &str, handler: F) -> HandlerGuard
    where
        T: DeserializeOwned + 'static,
        F: FnMut(Event<T>) + 'static,
    {
        self.add_handler(HandlerKind::Named(name.into()), super::typed(handler))
    }

    /// Calls `handler` when events of the topic were lost and cannot be replayed (pruned, or
    /// the topic's stream was reset): reload what depends on the topic. The events the server
    /// still keeps after the gap follow, then live ones.
    pub fn on_resync(&self, mut handler: impl FnMut() + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::Resync, move |_| {
            handler();
            Ok(())
        })
    }

    /// Calls `handler` when the server refuses or ends the subscription, with the topic and the
    /// reason: `error.code` is `topic_forbidden`, `invalid_topic`, `unknown_namespace`,
    /// `too_many_subscriptions` or `internal_error`. The subscription is over then; the
    /// connection carries on. Without a handler here the refusal goes to the client's error
    /// handlers as [`Error::Server`].
    ///
    /// A topic socket (of a namespace with shards) refused for the client's own token, e.g. 4500
    /// (token invalid) or 4502 (revoked), ends no subscription: the client stops as it does for
    /// its own socket (its error handlers hear [`Error::Rejected`]), and `connect()` opens the
    /// topic socket again, resuming from the last event it delivered.
    pub fn on_error(&self, mut handler: impl FnMut(&Unsubscribed) + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::Error, move |notice| {
            if let Notice::Unsubscribed(refusal) = notice {
                handler(refusal);
            }
            Ok(())
        })
    }

    /// Calls `handler` with the topic's viewer count (the sockets subscribed to it, over every
    /// user's connection and topic sockets) when it changed, at most once per the namespace's
    /// `occupancy_ms`. Only namespaces with `occupancy_ms` send counts.
    pub fn on_occupancy(&self, mut handler: impl FnMut(u64) + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::Occupancy, move |notice| {
            if let Notice::Occupancy(occupancy) = notice {
                handler(occupancy.count);
            }
            Ok(())
        })
    }

    /// Calls `handler` with a user and `true` when the user's first socket subscribed to the
    /// topic, `false` when their last one left. Only namespaces with `presence` send these.
    pub fn on_presence(&self, mut handler: impl FnMut(&str, bool) + 'static) -> HandlerGuard {
        self.add_handler(HandlerKind::Presence, move |notice| {
            if let Notice::Presence(presence) = notice {
                handler(&presence.user, presence.present);
            }
            Ok(())
        })
    }

    /// Ends the subscription: its handlers are removed at once, and the topic is unsubscribed
    /// once no other subscription holds it. (Dropping it does the same.)
    pub fn unsubscribe(self) {
        drop(self);
    }

    /// Registers a handler of the common shape for this subscription.
    pub(super) fn add_handler(
        &self,
        kind: HandlerKind,
        handler: impl FnMut(Notice<'_, JsValue>) -> Result<(), Error> + 'static,
    ) -> HandlerGuard {
        let scope = Scope {
            topic: self.topic.clone(),
            handle: self.handle,
        };
        HandlerGuard::new(
            &self.handlers,
            self.handlers.add(Some(scope), kind, handler),
        )
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let handle = self.handle;
        // Its handlers are gone at once.
        drop(
            self.handlers
                .remove(&|_, scope| scope.is_some_and(|scope| scope.handle == handle)),
        );
        self.driver.unsubscribe(handle);
    }
}
