//! The edgepush browser SDK: live events from your backend, over one reconnecting,
//! JWT-authenticated WebSocket per user, dispatched to typed handlers. One core, two faces:
//!
//! - a **Rust API** (`Client`) for Rust frontends (Leptos, Yew, Dioxus); on other targets than
//!   wasm32 (their server builds) the same API does nothing, and
//! - a **JS/TS API** (`EdgepushClient`), an ES module package with `.d.ts` types built by
//!   `scripts/build-sdk.sh` into `client-sdk/pkg/`, for every other frontend.
//!
//! Both reconnect with full-jitter exponential backoff, fetch a fresh token from the app's token
//! provider before every (re)connect (so also after the server closed for an expired token), stop
//! and report when the server's close code says retrying cannot help, detect dead connections
//! with a heartbeat the server answers without waking the user's room, pause while the browser is
//! offline, and resume from the last delivered event id so that nothing is lost or delivered
//! twice across reconnects.
//!
//! # From JavaScript or TypeScript
//!
//! ```js
//! import init, { EdgepushClient } from "@edgepush/client";
//!
//! await init(); // loads edgepush_client_bg.wasm
//! const client = new EdgepushClient({
//!   url: "https://push.example.com",
//!   // Asked before every (re)connect: return a token your backend issued for this user.
//!   token: () => fetch("/api/edgepush-token").then((r) => r.text()),
//! });
//! client.onMessage((e) => showToast(e.payload.text));                 // payload: { text: string }
//! client.onBackground((e) => (document.body.style.background = e.payload.color));
//! client.on("OrderShipped", (e) => updateOrder(e.payload));            // your own events
//! client.onUnknown((e) => console.debug("unhandled", e.name));
//! client.onState((s) => (statusBadge.textContent = s.state));          // "open", "reconnecting", …
//! client.onError((err) => console.warn(err.code, err.message));
//! client.onResync(() => reloadFromBackend());                          // events were lost for good
//! client.connect();
//! const off = client.on("Typing", (e) => showTyping(e.payload));       // every on… returns a remover
//! off();                                                               // e.g. on unmount
//! // later: client.close();
//! ```
//!
//! # From Rust
//!
//! ```
//! # #[cfg(target_arch = "wasm32")]
//! # fn demo() -> Result<(), edgepush_client::Error> {
//! use edgepush_client::{Client, Event, Message, State};
//! use serde::Deserialize;
//!
//! /// One of the app's own events.
//! #[derive(Deserialize)]
//! struct OrderShipped {
//!     order: u64,
//!     carrier: String,
//! }
//!
//! let client = Client::builder("https://push.example.com")
//!     // Any future works; it is polled again before every (re)connect.
//!     .token_provider(|| async { fetch_token().await })
//!     .build()?;
//! // Every `on…` returns a guard: dropping it removes the handler; `forget()` keeps it as long
//! // as the client.
//! client
//!     .on_message(|event: Event<Message>| show_toast(&event.payload.text))
//!     .forget();
//! let orders = client.on("OrderShipped", |event: Event<OrderShipped>| {
//!     update_order(event.payload.order, &event.payload.carrier)
//! });
//! client
//!     .on_state(|state| {
//!         if let State::Reconnecting { delay_ms, .. } = state {
//!             show_banner(*delay_ms);
//!         }
//!     })
//!     .forget();
//! client.on_error(|error| log(&error.to_string())).forget();
//! client.connect();
//! // Keep `client` (e.g. in a Leptos context); dropping it closes the connection. Keep `orders`
//! // as long as the component that shows orders: dropping it removes that handler.
//! # drop(orders);
//! # Ok(())
//! # }
//! # #[cfg(target_arch = "wasm32")]
//! # async fn fetch_token() -> Result<String, String> { Ok(String::new()) }
//! # #[cfg(target_arch = "wasm32")]
//! # fn show_toast(_: &str) {}
//! # #[cfg(target_arch = "wasm32")]
//! # fn update_order(_: u64, _: &str) {}
//! # #[cfg(target_arch = "wasm32")]
//! # fn show_banner(_: u32) {}
//! # #[cfg(target_arch = "wasm32")]
//! # fn log(_: &str) {}
//! ```
//!
//! # How it is built
//!
//! - [`connection`]: the state machine (states, backoff, heartbeat, close-code decisions, token
//!   expiry, dedupe, resume position) as a plain struct that takes inputs with the time and a
//!   random number and returns actions. No I/O; tested natively with a fake clock.
//! - `dispatch`: the Rust face's handler registry (`HandlerKind`, `Notice`, `Handlers`): who
//!   listens to what, where a handler's error goes, and removing one handler (a `HandlerGuard`).
//!   Generic over the payload; tested natively.
//! - `decode`: server frames into the machine's [`connection::Frame`]s, and a token's `exp`, read
//!   from a parsed JSON object (the browser's `JSON.parse` result in the client); tested
//!   natively against the sample frames of `protocol/codes.json`.
//! - `client` (wasm32 only): `Client` and `ClientBuilder` (`client/builder.rs`); the driver that
//!   feeds the machine and carries out its actions (`client/driver.rs`); the socket, timer and
//!   listeners it holds, released on drop (`client/browser.rs`); the driver tells the handler
//!   registry what the app hears. Typed Rust handlers decode payloads with `serde-wasm-bindgen`.
//! - `sys` (wasm32 only): the few browser APIs the client imports, and reading JS values.
//! - `js` (wasm32 only): the core under the JS face (`Core`: the machine, with a factory and
//!   one export that feeds it an input or answers a question, telling a JS callback its actions)
//!   and the face's TypeScript declarations; every `#[wasm_bindgen]` export lives there. The
//!   face itself (options, the driver of the machine in JS, handlers, the objects they receive)
//!   is the hand-written ES module `client-sdk/js/client.js`, which `scripts/build-sdk.sh`
//!   bundles with the wasm-bindgen glue.
//! - `noop` (every target but wasm32): the Rust API doing nothing, so that the server build of a
//!   Leptos or Dioxus app (SSR, fullstack) compiles the same code: `build()` checks the
//!   configuration, the client never connects, handlers are never called, streams end at once.
//! - `stream` (feature `std`): [`HandlerStream`], the `futures_core::Stream` that
//!   `Client::events`, `Client::states` and `Subscription::events` return, fed by a handler.
//! - `token` (feature `gloo-net`): the connect token from the app's backend, with gloo-net.
//!
//! The close-code table is the one in `edgepush-protocol` ([`edgepush_protocol::close_action`]).
//!
//! # Features
//!
//! - `std` (default): the typed Rust handlers (`Client::on` and friends, which decode payloads
//!   with `serde-wasm-bindgen`), async token providers (`ClientBuilder::token_provider`), the
//!   streams ([`HandlerStream`]) and `Client: Clone + PartialEq`.
//!   Without it the crate is `no_std` + `alloc`; the JS package is built that way.
//! - `gloo-net`: `token::fetch_token` and `ClientBuilder::token_endpoint`, which fetch the
//!   connect token with gloo-net's HTTP client (the Symfony bundle's `GET /edgepush/token`).
//! - `js-package`: for `scripts/build-sdk.sh` only, never for a Rust app: `lol_alloc` as the
//!   global allocator and, without `std`, a panic handler that traps, so that `std`'s panic
//!   machinery (which formats the message with `core::fmt`) is not linked. A `no_std` build
//!   without `js-package` is for a `no_std` app that brings its own panic handler and allocator.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod backoff;
pub mod connection;
pub mod error;
pub mod events;
mod text;

// The client's parts that need no browser, tested natively; only the wasm32 client uses them.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod decode;
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod dispatch;

#[cfg(target_arch = "wasm32")]
mod client;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(not(target_arch = "wasm32"))]
mod noop;
#[cfg(feature = "std")]
mod stream;
#[cfg(target_arch = "wasm32")]
mod sys;
#[cfg(feature = "gloo-net")]
pub mod token;

pub use backoff::Options;
#[cfg(target_arch = "wasm32")]
pub use client::{Client, ClientBuilder, HandlerGuard, Subscription};
// Elsewhere (a server build of a Leptos or Dioxus app) the same API, doing nothing.
pub use connection::{Position, State, SubscribeOptions};
/// Why the server refused or ended a topic subscription: the topic and `{code, message}`.
pub use edgepush_protocol::frames::Unsubscribed;
pub use error::Error;
pub use events::{Background, Event, Message};
#[cfg(not(target_arch = "wasm32"))]
pub use noop::{Client, ClientBuilder, HandlerGuard, Subscription};
#[cfg(feature = "std")]
pub use stream::HandlerStream;

/// The JS package's allocator: a small address-ordered free list that coalesces neighbours,
/// about 3 KB (gzipped) smaller than the standard dlmalloc. The client is single-threaded and
/// allocates little (a few small strings per event). Only with the `js-package` feature, which
/// `scripts/build-sdk.sh` turns on: a Rust app keeps its own allocator.
#[cfg(all(target_arch = "wasm32", feature = "js-package"))]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// The JS package's panic handler: trap. The client does not panic by design (no indexing,
/// `try_borrow` everywhere); if it ever did, the wasm call throws a `RuntimeError` in JS, as it
/// does with `std` when no hook is installed, but without `std`'s message formatting code.
#[cfg(all(target_arch = "wasm32", feature = "js-package", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
