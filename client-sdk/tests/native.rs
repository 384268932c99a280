//! The Rust API outside the browser (the server build of a Leptos or Dioxus app): the same
//! types and methods compile, and do nothing. In the browser, `tests/browser.rs` tests them.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::Cell;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use edgepush_client::{
    Client, Error, Event, HandlerStream, Message, Options, Position, State, SubscribeOptions,
    Subscription,
};
use futures_core::Stream;
use serde::Deserialize;

#[derive(Deserialize)]
struct OrderShipped {
    order: u64,
}

/// Polls a stream once, as an executor would.
fn poll_once<T>(stream: &mut HandlerStream<T>) -> Poll<Option<T>> {
    pin!(stream).poll_next(&mut Context::from_waker(Waker::noop()))
}

/// What a component does: build, register every kind of handler, subscribe, connect.
fn component(calls: &Rc<Cell<u32>>) -> Result<Client, Error> {
    let count = |calls: &Rc<Cell<u32>>| {
        let calls = calls.clone();
        move || calls.set(calls.get() + 1)
    };
    let client = Client::builder("https://push.example.com")
        .token_provider(|| async { Ok::<_, String>("token".to_string()) })
        .options(Options::default())
        .resume_from(Position {
            epoch: "e".into(),
            last_id: 3,
        })
        .build()?;
    let (a, b, c, d, e, f, g) = (
        count(calls),
        count(calls),
        count(calls),
        count(calls),
        count(calls),
        count(calls),
        count(calls),
    );
    client.on_message(move |_: Event<Message>| a()).forget();
    let orders = client.on("OrderShipped", move |e: Event<OrderShipped>| {
        let _ = e.payload.order;
        b()
    });
    client
        .on_unknown(move |_: Event<serde::de::IgnoredAny>| c())
        .forget();
    client.on_state(move |_: &State| d()).forget();
    client.on_error(move |_: &Error| e()).forget();
    client.on_resync(f).forget();
    let product: Subscription = client.subscribe("product:42");
    assert_eq!(product.topic(), "product:42");
    product.on_occupancy(move |_| g()).forget();
    product.on_presence(|_, _| {}).forget();
    product.on_resync(|| {}).forget();
    product.on_error(|_| {}).forget();
    product
        .on("ProductChanged", |_: Event<OrderShipped>| {})
        .remove();
    let saved = product.position();
    let resumed = client.subscribe_with(
        "product:42",
        SubscribeOptions {
            resume: saved,
            ..Default::default()
        },
    );
    assert_eq!(resumed.position(), None, "nothing is ever delivered");
    client.connect();
    drop(orders);
    product.unsubscribe();
    Ok(client)
}

#[test]
fn the_rust_api_compiles_outside_the_browser_and_does_nothing() {
    let calls = Rc::new(Cell::new(0));
    let client = component(&calls).expect("a valid configuration");
    assert_eq!(client.state(), State::Idle, "it never connects");
    assert_eq!(client.position(), None);
    let other = client.clone();
    assert!(client == other, "clones are one client");
    client.close();
    drop(client);
    other.connect();
    assert_eq!(calls.get(), 0, "no handler is ever called");
}

#[test]
fn the_configuration_is_checked_as_in_the_browser() {
    let no_token = Client::builder("https://push.example.com").build();
    assert!(matches!(no_token, Err(Error::Config { .. })));
    let bad_url = Client::builder("ftp://push.example.com").token("t").build();
    assert!(matches!(bad_url, Err(Error::Config { .. })));
    let empty = Client::builder("https://push.example.com")
        .token(" ")
        .build();
    assert!(matches!(empty, Err(Error::Config { .. })));
    assert!(
        Client::builder("wss://push.example.com")
            .token("t")
            .build()
            .is_ok()
    );
}

#[test]
fn streams_end_at_once() {
    let client = Client::builder("https://push.example.com")
        .token("t")
        .build()
        .expect("client");
    let mut events = client.events::<OrderShipped>("OrderShipped");
    assert!(matches!(poll_once(&mut events), Poll::Ready(None)));
    let mut states = client.states();
    assert!(matches!(poll_once(&mut states), Poll::Ready(None)));
    let topic = client.subscribe("feed:demo");
    let mut posts = topic.events::<serde_json::Value>("Posted");
    assert!(matches!(poll_once(&mut posts), Poll::Ready(None)));
}

#[cfg(feature = "gloo-net")]
#[test]
fn the_token_helper_fetches_nothing_outside_the_browser() {
    use edgepush_client::token::{TokenError, fetch_token};
    let fetched = pin!(fetch_token("/edgepush/token"))
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert_eq!(fetched, Poll::Ready(Err(TokenError::NotInBrowser)));
    // The builder's shortcut compiles and builds a client that does nothing.
    let client = Client::builder("https://push.example.com")
        .token_endpoint("/edgepush/token")
        .build()
        .expect("client");
    assert_eq!(client.state(), State::Idle);
}
