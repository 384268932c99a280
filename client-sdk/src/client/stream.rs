//! The Rust API's streams: [`Client::events`], [`Client::states`] and
//! [`Subscription::events`], each a [`HandlerStream`] fed by an ordinary handler. (Feature
//! `std`: the JS package has none of this.)

use serde::de::DeserializeOwned;

use alloc::boxed::Box;
use wasm_bindgen::JsValue;

use super::{Client, HandlerGuard, Subscription, typed};
use crate::connection::State;
use crate::dispatch::{HandlerKind, Notice};
use crate::error::Error;
use crate::events::Event;
use crate::stream::HandlerStream;

impl Client {
    /// The events named `name` whose payload deserializes into `T`, as a
    /// [`Stream`](futures_core::Stream), for an async loop (`while let Some(event) =
    /// events.next().await`). It sees what [`on`](Self::on) would: a payload that does not fit
    /// goes to the error handlers as [`Error::BadPayload`](crate::Error::BadPayload) and is
    /// skipped. Dropping the stream removes its handler; it ends when the app closes the client
    /// ([`close`](Self::close), or dropping its last handle). (Feature `std`.)
    pub fn events<T: DeserializeOwned + 'static>(&self, name: &str) -> HandlerStream<Event<T>> {
        named_events(name, |kind, handler| self.add_handler(kind, handler))
    }

    /// Every state change, as a [`Stream`](futures_core::Stream) (what
    /// [`on_state`](Self::on_state) sees). It ends after the final `Closed` once the app closed
    /// the client (a `Closed` from the server does not end it: `connect()` may start again);
    /// dropping it removes its handler. (Feature `std`.)
    pub fn states(&self) -> HandlerStream<State> {
        let (stream, feeder) = HandlerStream::new();
        let guard = self.on_state(move |state| feeder.push(state.clone()));
        stream.guarded(guard)
    }
}

impl Subscription {
    /// The topic's events named `name` whose payload deserializes into `T`, as a
    /// [`Stream`](futures_core::Stream) (what [`on`](Self::on) would see). Dropping the stream
    /// removes its handler; it ends when the subscription ends (dropped, unsubscribed, refused
    /// by the server) or the app closes the client: keep the `Subscription` as long as the
    /// stream (`client.subscribe(topic).events(name)` drops it at once). (Feature `std`.)
    pub fn events<T: DeserializeOwned + 'static>(&self, name: &str) -> HandlerStream<Event<T>> {
        named_events(name, |kind, handler| self.add_handler(kind, handler))
    }
}

/// A handler as the streams hand it to a client or a subscription.
type Feed = Box<dyn FnMut(Notice<'_, JsValue>) -> Result<(), Error>>;

/// The events named `name` whose payload deserializes into `T`, fed by the handler that
/// `add_handler` registers (a client's or a subscription's).
fn named_events<T: DeserializeOwned + 'static>(
    name: &str,
    add_handler: impl FnOnce(HandlerKind, Feed) -> HandlerGuard,
) -> HandlerStream<Event<T>> {
    let (stream, feeder) = HandlerStream::new();
    let guard = add_handler(
        HandlerKind::Named(name.into()),
        Box::new(typed(move |event| feeder.push(event))),
    );
    stream.guarded(guard)
}
