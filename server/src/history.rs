//! A user's stored event stream: what the room keeps so that clients can resume without loss.
//!
//! The [`EventStore`] trait is the room's only view of storage. [`crate::sql_store`] implements
//! it in SQL, run by the Durable Object's SQLite (and natively in tests); the room's unit tests
//! also use an in-memory store.

use serde::{Deserialize, Serialize};

/// How much history a room keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// The most events kept per user.
    pub max_events: u64,
    /// The oldest event kept, as an age in milliseconds. Idempotency keys live as long.
    pub max_age_ms: u64,
}

impl Default for HistoryLimits {
    /// 1,000 events or 24 hours, whichever bound is hit first.
    fn default() -> Self {
        Self {
            max_events: 1000,
            max_age_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// The identity and head of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    /// Changes whenever the history is lost or reset; ids of another epoch cannot be resumed.
    pub epoch: String,
    /// The id of the newest event ever published (0 if none), kept even when it is pruned.
    pub last_id: u64,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Per-user id.
    pub id: u64,
    /// Event name.
    pub name: String,
    /// Raw JSON payload.
    pub payload: String,
    /// When it was accepted, in milliseconds since the Unix epoch.
    pub ts: u64,
}

/// What an idempotency key was stored with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The id of the event stored with the key.
    pub id: u64,
    /// The [`fingerprint`] of that event, to tell a retry from a different event.
    pub fingerprint: String,
}

/// A short digest of an event's name and payload text: the same event published again has the
/// same fingerprint, another event under the same idempotency key a different one.
pub fn fingerprint(name: &str, payload: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([0])
        .chain_update(payload.as_bytes())
        .finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Storage failed; the message is the runtime's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StoreError(pub String);

/// What the room needs from storage.
pub trait EventStore {
    /// Runs `body` as one transaction: every write it made is committed together, or, when it
    /// fails, none is.
    fn atomically<T>(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError>;
    /// The stream's identity and head, or `None` for a room that never stored anything.
    fn meta(&self) -> Result<Option<StreamMeta>, StoreError>;
    /// Records the stream's identity and head.
    fn set_meta(&mut self, meta: &StreamMeta) -> Result<(), StoreError>;
    /// Appends an event (ids increase).
    fn append(&mut self, event: &StoredEvent) -> Result<(), StoreError>;
    /// Up to `limit` events with an id above `after`, oldest first.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;
    /// The id of the oldest retained event.
    fn oldest_id(&self) -> Result<Option<u64>, StoreError>;
    /// The id of the newest retained event stored before `ts` (ms), if any.
    fn last_id_before(&self, ts: u64) -> Result<Option<u64>, StoreError>;
    /// Deletes events with an id below `min_id` or older than `min_ts`, and idempotency keys older
    /// than `min_ts`. Rows are written in time order, so a store may delete by age as a range: up
    /// to the first row young enough (it never deletes a younger one).
    fn prune(&mut self, min_id: u64, min_ts: u64) -> Result<(), StoreError>;
    /// What an idempotency key was stored with at or after `min_ts`, if anything.
    fn find_key(&self, key: &str, min_ts: u64) -> Result<Option<KeyRecord>, StoreError>;
    /// Remembers an idempotency key.
    fn remember_key(&mut self, key: &str, record: &KeyRecord, ts: u64) -> Result<(), StoreError>;
    /// The second at or before which the user's tokens were issued to be refused, if any.
    fn revoked_at(&self) -> Result<Option<i64>, StoreError>;
    /// Records a revocation at `at` (seconds).
    fn set_revoked_at(&mut self, at: i64) -> Result<(), StoreError>;
}
