//! The room: one user's stream, as a plain struct over an [`EventStore`] with time passed in.
//!
//! The Durable Object owns the sockets; the room decides what to store, what ids to give, what
//! to send, and what a reconnecting client must replay.

use edgepush_protocol::frames::{EventFrame, HEARTBEAT_INTERVAL_MS, ServerFrame, Welcome};
use edgepush_protocol::publish::NewEvent;
use serde_json::value::RawValue;

use crate::history::{EventStore, HistoryLimits, StoreError, StoredEvent, StreamMeta};

/// One user's stream.
#[derive(Debug)]
pub struct Room<S> {
    store: S,
    limits: HistoryLimits,
    meta: StreamMeta,
}

/// What publishing one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The event's id (the original one for a duplicate).
    pub id: u64,
    /// The `event` frame to send to every socket; `None` for a duplicate.
    pub frame: Option<String>,
}

/// What a connecting client asked to resume from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeRequest {
    /// The last id the client saw (`since`), if it asked to resume.
    pub since: Option<u64>,
    /// The epoch that id belongs to, if the client knows it.
    pub epoch: Option<String>,
}

/// What a connecting socket must be sent, in order: the welcome frame, then the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The `welcome` frame.
    pub welcome: String,
    /// The `event` frames the client missed, oldest first.
    pub replay: Vec<String>,
}

/// Who is connecting, as verified by the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor<'a> {
    /// The token's `sub`.
    pub user: &'a str,
    /// An id for the socket.
    pub connection: &'a str,
    /// The token's `exp`, in seconds.
    pub token_expires_at: i64,
}

impl<S: EventStore> Room<S> {
    /// Opens the stream in `store`, starting a new epoch (from `new_epoch`) if it has none.
    pub fn open(
        mut store: S,
        limits: HistoryLimits,
        new_epoch: impl FnOnce() -> String,
    ) -> Result<Self, StoreError> {
        let meta = match store.meta()? {
            Some(meta) => meta,
            None => {
                let meta = StreamMeta {
                    epoch: new_epoch(),
                    last_id: 0,
                };
                store.set_meta(&meta)?;
                meta
            }
        };
        Ok(Self {
            store,
            limits,
            meta,
        })
    }

    /// The stream's identity and head.
    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }

    /// Stores events in order and returns their ids and frames. A key seen before returns the
    /// original id and stores nothing. On error nothing must be acknowledged: the caller's
    /// transaction is rolled back by the runtime, and the in-memory head is restored here.
    pub fn publish(
        &mut self,
        events: &[NewEvent],
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let before = self.meta.clone();
        let result = self.publish_all(events, now_ms);
        if result.is_err() {
            self.meta = before;
        }
        result
    }

    fn publish_all(
        &mut self,
        events: &[NewEvent],
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut accepted = Vec::with_capacity(events.len());
        let window_start = now_ms.saturating_sub(self.limits.max_age_ms);
        for event in events {
            if let Some(key) = &event.idempotency_key
                && let Some(id) = self.store.find_key(key, window_start)?
            {
                accepted.push(Accepted { id, frame: None });
                continue;
            }
            let stored = StoredEvent {
                id: self.meta.last_id + 1,
                name: event.name.clone(),
                payload: event.payload.get().to_owned(),
                ts: now_ms,
            };
            self.store.append(&stored)?;
            if let Some(key) = &event.idempotency_key {
                self.store.remember_key(key, stored.id, now_ms)?;
            }
            self.meta.last_id = stored.id;
            accepted.push(Accepted {
                id: stored.id,
                frame: Some(event_frame(&stored)),
            });
        }
        if accepted.iter().any(|a| a.frame.is_some()) {
            self.store.set_meta(&self.meta)?;
            self.prune(now_ms)?;
        }
        Ok(accepted)
    }

    fn prune(&mut self, now_ms: u64) -> Result<(), StoreError> {
        let min_id = (self.meta.last_id + 1).saturating_sub(self.limits.max_events);
        let min_ts = now_ms.saturating_sub(self.limits.max_age_ms);
        self.store.prune(min_id, min_ts)
    }

    /// The frames a connecting socket gets: welcome, then every event after `since` when the
    /// client resumes. `recovered` is `false` when the gap cannot be filled: another epoch, an id
    /// from the future, or events pruned past `since`. Replays whatever is retained after `since`
    /// in the same epoch even then, so the client still catches up on recent events.
    pub fn greet(
        &mut self,
        visitor: &Visitor<'_>,
        resume: &ResumeRequest,
        now_ms: u64,
    ) -> Result<Greeting, StoreError> {
        self.prune(now_ms)?;
        let (recovered, replay) = match resume.since {
            None => (None, Vec::new()),
            Some(_)
                if resume
                    .epoch
                    .as_deref()
                    .is_some_and(|e| e != self.meta.epoch) =>
            {
                (Some(false), Vec::new())
            }
            Some(since) if since > self.meta.last_id => (Some(false), Vec::new()),
            Some(since) => {
                let events = self.store.events_after(since)?;
                let first_missing = since + 1;
                let complete = match events.first() {
                    Some(first) => first.id == first_missing,
                    None => since == self.meta.last_id,
                };
                (Some(complete), events.iter().map(event_frame).collect())
            }
        };
        let welcome = ServerFrame::<()>::Welcome(Welcome {
            user: visitor.user.to_owned(),
            connection: visitor.connection.to_owned(),
            server_time: now_ms,
            token_expires_at: visitor.token_expires_at,
            last_id: self.meta.last_id,
            epoch: self.meta.epoch.clone(),
            recovered,
            heartbeat_ms: HEARTBEAT_INTERVAL_MS,
        });
        Ok(Greeting {
            welcome: to_json(&welcome),
            replay,
        })
    }

    /// The oldest retained event id (for tests and diagnostics).
    pub fn oldest_id(&self) -> Result<Option<u64>, StoreError> {
        self.store.oldest_id()
    }
}

/// The `event` frame for a stored event.
fn event_frame(event: &StoredEvent) -> String {
    // Stored payloads were valid JSON when published; a damaged one is sent as null, not dropped.
    let payload = RawValue::from_string(event.payload.clone()).ok();
    to_json(&ServerFrame::Event(EventFrame {
        id: event.id,
        name: event.name.clone(),
        payload: payload.as_deref(),
        ts: event.ts,
    }))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Frames hold only strings, numbers and already-valid JSON: serializing cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct MemoryStore {
        meta: Option<StreamMeta>,
        events: BTreeMap<u64, StoredEvent>,
        keys: BTreeMap<String, (u64, u64)>,
        fail_appends: bool,
    }

    impl EventStore for MemoryStore {
        fn meta(&self) -> Result<Option<StreamMeta>, StoreError> {
            Ok(self.meta.clone())
        }
        fn set_meta(&mut self, meta: &StreamMeta) -> Result<(), StoreError> {
            self.meta = Some(meta.clone());
            Ok(())
        }
        fn append(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
            if self.fail_appends {
                return Err(StoreError("disk full".into()));
            }
            self.events.insert(event.id, event.clone());
            Ok(())
        }
        fn events_after(&self, after: u64) -> Result<Vec<StoredEvent>, StoreError> {
            Ok(self
                .events
                .range(after + 1..)
                .map(|(_, e)| e.clone())
                .collect())
        }
        fn oldest_id(&self) -> Result<Option<u64>, StoreError> {
            Ok(self.events.keys().next().copied())
        }
        fn prune(&mut self, min_id: u64, min_ts: u64) -> Result<(), StoreError> {
            self.events.retain(|id, e| *id >= min_id && e.ts >= min_ts);
            self.keys.retain(|_, (_, ts)| *ts >= min_ts);
            Ok(())
        }
        fn find_key(&self, key: &str, min_ts: u64) -> Result<Option<u64>, StoreError> {
            Ok(self
                .keys
                .get(key)
                .filter(|(_, ts)| *ts >= min_ts)
                .map(|(id, _)| *id))
        }
        fn remember_key(&mut self, key: &str, id: u64, ts: u64) -> Result<(), StoreError> {
            self.keys.insert(key.to_owned(), (id, ts));
            Ok(())
        }
    }

    const LIMITS: HistoryLimits = HistoryLimits {
        max_events: 5,
        max_age_ms: 60_000,
    };
    const VISITOR: Visitor<'static> = Visitor {
        user: "42",
        connection: "c1",
        token_expires_at: 2_000_000_000,
    };

    fn room() -> Room<MemoryStore> {
        Room::open(MemoryStore::default(), LIMITS, || "ep1".into()).unwrap()
    }

    fn event(name: &str, key: Option<&str>) -> NewEvent {
        NewEvent {
            user: edgepush_protocol::publish::UserId::parse("42").unwrap(),
            name: name.into(),
            payload: RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap(),
            idempotency_key: key.map(str::to_owned),
        }
    }

    fn publish_n(room: &mut Room<MemoryStore>, n: usize, now: u64) -> Vec<u64> {
        let events: Vec<_> = (0..n).map(|_| event("Message", None)).collect();
        room.publish(&events, now)
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect()
    }

    fn greet(
        room: &mut Room<MemoryStore>,
        since: Option<u64>,
        epoch: Option<&str>,
        now: u64,
    ) -> (serde_json::Value, Vec<u64>) {
        let greeting = room
            .greet(
                &VISITOR,
                &ResumeRequest {
                    since,
                    epoch: epoch.map(str::to_owned),
                },
                now,
            )
            .unwrap();
        let welcome = serde_json::from_str(&greeting.welcome).unwrap();
        let ids = greeting
            .replay
            .iter()
            .map(|f| {
                serde_json::from_str::<serde_json::Value>(f).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        (welcome, ids)
    }

    #[test]
    fn ids_strictly_increase_and_frames_carry_the_raw_payload() {
        let mut room = room();
        assert_eq!(publish_n(&mut room, 3, 1000), [1, 2, 3]);
        let accepted = room.publish(&[event("Background", None)], 1001).unwrap();
        assert_eq!(
            accepted[0].frame.as_deref(),
            Some(
                r#"{"type":"event","id":4,"name":"Background","payload":{"text":"hi"},"ts":1001}"#
            )
        );
        assert_eq!(room.meta().last_id, 4);
    }

    #[test]
    fn a_reopened_room_keeps_its_epoch_and_head() {
        let mut room = room();
        publish_n(&mut room, 2, 1000);
        let store = room.store;
        let reopened = Room::open(store, LIMITS, || "other".into()).unwrap();
        assert_eq!(
            reopened.meta(),
            &StreamMeta {
                epoch: "ep1".into(),
                last_id: 2
            }
        );
    }

    #[test]
    fn repeated_idempotency_keys_return_the_original_id_without_a_frame() {
        let mut room = room();
        let first = room
            .publish(&[event("A", Some("k1")), event("B", Some("k2"))], 1000)
            .unwrap();
        let again = room
            .publish(&[event("A", Some("k1")), event("C", Some("k3"))], 1001)
            .unwrap();
        assert_eq!(
            again[0],
            Accepted {
                id: first[0].id,
                frame: None
            }
        );
        assert_eq!(again[1].id, 3);
        assert_eq!(room.meta().last_id, 3);
    }

    #[test]
    fn idempotency_keys_expire_with_the_history_window() {
        let mut room = room();
        room.publish(&[event("A", Some("k"))], 1000).unwrap();
        let later = room
            .publish(&[event("A", Some("k"))], 1000 + 60_001)
            .unwrap();
        assert!(later[0].frame.is_some(), "an expired key stores again");
    }

    #[test]
    fn a_failed_store_acknowledges_nothing_and_keeps_the_head() {
        let mut room = room();
        publish_n(&mut room, 1, 1000);
        room.store.fail_appends = true;
        assert!(room.publish(&[event("A", None)], 1001).is_err());
        assert_eq!(room.meta().last_id, 1);
        room.store.fail_appends = false;
        assert_eq!(publish_n(&mut room, 1, 1002), [2]);
    }

    #[test]
    fn a_fresh_connect_gets_a_welcome_and_no_replay() {
        let mut room = room();
        publish_n(&mut room, 2, 1000);
        let (welcome, replay) = greet(&mut room, None, None, 1001);
        assert_eq!(welcome["type"], "welcome");
        assert_eq!(welcome["last_id"], 2);
        assert_eq!(welcome["epoch"], "ep1");
        assert!(welcome.get("recovered").is_none());
        assert!(replay.is_empty());
    }

    #[test]
    fn resuming_replays_exactly_the_missed_events() {
        let mut room = room();
        publish_n(&mut room, 4, 1000);
        let (welcome, replay) = greet(&mut room, Some(1), Some("ep1"), 1001);
        assert_eq!(welcome["recovered"], true);
        assert_eq!(replay, [2, 3, 4]);
        let (welcome, replay) = greet(&mut room, Some(4), Some("ep1"), 1001);
        assert_eq!(welcome["recovered"], true);
        assert!(replay.is_empty());
        let (welcome, replay) = greet(&mut room, Some(0), None, 1001);
        assert_eq!(welcome["recovered"], true);
        assert_eq!(replay, [1, 2, 3, 4]);
    }

    #[test]
    fn overflowed_history_is_reported_as_not_recovered() {
        let mut room = room();
        publish_n(&mut room, 8, 1000);
        assert_eq!(room.oldest_id().unwrap(), Some(4), "only 5 events are kept");
        let (welcome, replay) = greet(&mut room, Some(1), Some("ep1"), 1001);
        assert_eq!(welcome["recovered"], false);
        assert_eq!(replay, [4, 5, 6, 7, 8], "what is retained still arrives");
        let (welcome, _) = greet(&mut room, Some(3), Some("ep1"), 1001);
        assert_eq!(welcome["recovered"], true);
    }

    #[test]
    fn aged_out_history_is_reported_as_not_recovered() {
        let mut room = room();
        publish_n(&mut room, 2, 1000);
        let (welcome, replay) = greet(&mut room, Some(0), Some("ep1"), 1000 + 60_001);
        assert_eq!(welcome["recovered"], false);
        assert!(replay.is_empty());
    }

    #[test]
    fn another_epoch_or_a_future_id_is_not_recovered() {
        let mut room = room();
        publish_n(&mut room, 2, 1000);
        let (welcome, replay) = greet(&mut room, Some(1), Some("old-epoch"), 1001);
        assert_eq!(welcome["recovered"], false);
        assert!(replay.is_empty());
        let (welcome, replay) = greet(&mut room, Some(9), Some("ep1"), 1001);
        assert_eq!(welcome["recovered"], false);
        assert!(replay.is_empty());
    }
}
