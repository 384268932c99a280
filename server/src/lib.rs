//! The edgepush Cloudflare Worker.
//!
//! The edge ([`edge`], wasm only) authenticates every request before any Durable Object is
//! touched: connect tokens for `GET /connect`, signatures for `POST /publish` and
//! `POST /disconnect`. Each user has one Durable Object ([`room_object`], wasm only) that holds
//! the user's sockets through the hibernation API and its event history in SQLite. Both are thin
//! shells over [`runtime`] (wasm only: clock, logs, the object's SQLite) and plain modules
//! tested natively: [`internal`] (every edge→room call and answer, as types), [`batch`] (a
//! publish across rooms and its per-event answer), [`room`] (ids, idempotency, paged replay),
//! [`history`] (the store the room needs), [`sql_store`] (that store in SQL, the same text run
//! by the Durable Object and, in tests, by a native SQLite), [`expiry`] (token expiry alarms),
//! [`api`] (routes, tokens, resume parameters), [`config`] (settings) and [`error`].
//!
//! The room on its own, over any [`history::EventStore`]:
//!
//! ```ignore
//! let mut room = Room::open(store, HistoryLimits::default(), || "epoch-1".into())?;
//! let accepted = room.publish(&events, now_ms)?; // per event: stored (id + frame), duplicate, conflict
//! let greeting = room.greet(&visitor, &ResumeRequest { since: Some(17), epoch: None }, now_ms)?;
//! // greeting.welcome, then greeting.replay's pages (room.replay_after(next) for the rest)
//! ```

pub mod api;
pub mod batch;
pub mod config;
pub mod error;
pub mod expiry;
pub mod history;
pub mod internal;
pub mod limits;
#[cfg(test)]
mod memory_store;
pub mod namespaces;
pub mod room;
pub mod sql_store;
pub mod subscriptions;

#[cfg(target_arch = "wasm32")]
pub mod edge;
#[cfg(target_arch = "wasm32")]
pub mod objects;
#[cfg(target_arch = "wasm32")]
pub mod runtime;
#[cfg(target_arch = "wasm32")]
pub mod sockets;
// The #[durable_object] macro generates undocumented glue methods.
#[cfg(target_arch = "wasm32")]
#[allow(missing_docs)]
pub mod room_object;
#[cfg(target_arch = "wasm32")]
#[allow(missing_docs)]
pub mod topic_object;
#[cfg(target_arch = "wasm32")]
#[allow(missing_docs)]
pub mod topic_shard;
