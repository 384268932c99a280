//! The edgepush Cloudflare Worker.
//!
//! The edge ([`edge`], wasm only) authenticates every request before any Durable Object is
//! touched: connect tokens for `GET /connect`, signatures for `POST /publish`, `/disconnect`,
//! `/revoke` and `GET /presence`. Each user has one Durable Object ([`room_object`], wasm only)
//! that holds the user's sockets through the hibernation API and its event history in SQLite;
//! each topic has one ([`topic_object`]: its history and members, and the relay to them), and a
//! topic of a namespace with shards has shards holding topic sockets ([`topic_shard`];
//! `docs/topics.md`). They are thin shells over [`runtime`] (wasm only: clock, logs, the
//! object's SQLite), [`objects`] (addressing and calling the objects), [`sockets`] (what the
//! socket holders share) and plain modules tested natively: [`internal`] (every call between
//! the objects and its answer, as types), [`batch`] (a publish across rooms and topics and its
//! per-event answer), [`room`] (a stream: ids, idempotency, paged replay), [`namespaces`] (who
//! may read a topic), [`subscriptions`] (a room's side of subscribing), [`history`] (the store a
//! stream needs), [`sql_store`] (that store, members and subscriptions in SQL, the same text run
//! by the Durable Objects and, in tests, by a native SQLite), [`expiry`] (token expiry alarms),
//! [`limits`], [`api`] (routes, tokens, resume and presence parameters), [`config`] (settings)
//! and [`error`].
//!
//! The room on its own, over any [`history::EventStore`]:
//!
//! ```ignore
//! let mut room = Room::open(store, HistoryLimits::default(), || "epoch-1".into())?;
//! let accepted = room.publish(&events, now_ms)?; // per event: stored (id + frame), duplicate, conflict
//! let greeting = room.greet(&visitor, &ResumeRequest { since: Some(17), epoch: None }, now_ms)?;
//! // greeting.first (the welcome), then greeting.replay's pages (room.replay_after(next) for the rest)
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
pub mod mercure;
pub mod namespaces;
pub mod room;
pub mod sql_store;
pub mod subscriptions;
pub mod webhooks;

#[cfg(target_arch = "wasm32")]
pub mod edge;
#[cfg(target_arch = "wasm32")]
pub mod mercure_hub;
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
