//! The edgepush Cloudflare Worker.
//!
//! The edge ([`edge`], wasm only) authenticates every request before any Durable Object is
//! touched: connect tokens for `GET /connect`, signatures for `POST /publish` and
//! `POST /disconnect`. Each user has one Durable Object ([`room_object`], wasm only) that holds
//! the user's sockets through the hibernation API and its event history in SQLite. All decisions
//! live in plain modules tested natively: [`api`] (routes, tokens, resume parameters), [`room`]
//! (ids, idempotency, replay), [`history`] (what is stored), [`expiry`] (token expiry),
//! [`config`] (settings) and [`error`].
//!
//! The room on its own, over any [`history::EventStore`]:
//!
//! ```ignore
//! let mut room = Room::open(store, HistoryLimits::default(), || "epoch-1".into())?;
//! let accepted = room.publish(&events, now_ms)?; // ids + frames to send to every socket
//! let greeting = room.greet(&visitor, &ResumeRequest { since: Some(17), epoch: None }, now_ms)?;
//! ```

pub mod api;
pub mod batch;
pub mod config;
pub mod error;
pub mod expiry;
pub mod history;
pub mod internal;
#[cfg(test)]
mod memory_store;
pub mod room;
pub mod sql_store;

#[cfg(target_arch = "wasm32")]
pub mod edge;
#[cfg(target_arch = "wasm32")]
pub mod runtime;
// The #[durable_object] macro generates undocumented glue methods.
#[cfg(target_arch = "wasm32")]
#[allow(missing_docs)]
pub mod room_object;
