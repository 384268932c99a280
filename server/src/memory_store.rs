//! An [`EventStore`] in memory, for the room's tests and as the reference the SQL store's
//! contract tests compare against.

use std::collections::BTreeMap;

use crate::history::{EventStore, KeyRecord, StoreError, StoredEvent, StreamMeta};

/// Events, keys and the stream head in maps; `fail_on_event` makes appending an event of that
/// name fail, to test what a storage failure leaves behind.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    meta: Option<StreamMeta>,
    events: BTreeMap<u64, StoredEvent>,
    keys: BTreeMap<String, (KeyRecord, u64)>,
    revoked_at: Option<i64>,
    /// Appending an event with this name fails.
    pub fail_on_event: Option<String>,
}

impl EventStore for MemoryStore {
    fn atomically<T>(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let before = self.clone();
        body(self).inspect_err(|_| *self = before)
    }
    fn meta(&self) -> Result<Option<StreamMeta>, StoreError> {
        Ok(self.meta.clone())
    }
    fn set_meta(&mut self, meta: &StreamMeta) -> Result<(), StoreError> {
        self.meta = Some(meta.clone());
        Ok(())
    }
    fn append(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
        if self.fail_on_event.as_deref() == Some(event.name.as_str()) {
            return Err(StoreError("disk full".into()));
        }
        self.events.insert(event.id, event.clone());
        Ok(())
    }
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        Ok(self
            .events
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }
    fn oldest_id(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.events.keys().next().copied())
    }
    fn last_id_before(&self, ts: u64) -> Result<Option<u64>, StoreError> {
        Ok(self.events.values().rev().find(|e| e.ts < ts).map(|e| e.id))
    }
    fn prune(&mut self, min_id: u64, min_ts: u64) -> Result<(), StoreError> {
        self.events.retain(|id, e| *id >= min_id && e.ts >= min_ts);
        self.keys.retain(|_, (_, ts)| *ts >= min_ts);
        Ok(())
    }
    fn find_key(&self, key: &str, min_ts: u64) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self
            .keys
            .get(key)
            .filter(|(_, ts)| *ts >= min_ts)
            .map(|(record, _)| record.clone()))
    }
    fn remember_key(&mut self, key: &str, record: &KeyRecord, ts: u64) -> Result<(), StoreError> {
        self.keys.insert(key.to_owned(), (record.clone(), ts));
        Ok(())
    }
    fn revoked_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.revoked_at)
    }
    fn set_revoked_at(&mut self, at: i64) -> Result<(), StoreError> {
        self.revoked_at = Some(at);
        Ok(())
    }
}
