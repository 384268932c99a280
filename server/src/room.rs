//! The room: one event stream — a user's, or a topic's — as a plain struct over an
//! [`EventStore`] with time passed in.
//!
//! The Durable Object owns the sockets; the room decides what to store, what ids to give, what
//! to send, and what a reconnecting client must replay. A topic's stream is the same, except
//! that its `event` frames name the topic and a reader joins it with a `subscribed` frame.

use edgepush_protocol::frames::{
    EventFrame, HEARTBEAT_INTERVAL_MS, ServerFrame, Subscribed, Welcome,
};
use edgepush_protocol::publish::{IdempotencyKey, NewEvent};
use serde_json::value::RawValue;

use crate::history::{
    EventStore, HistoryLimits, KeyRecord, StoreError, StoredEvent, StreamMeta, fingerprint,
};

/// The most events replayed from one read of the history: a resume over a full history of large
/// events is read, framed and sent a page at a time, never all at once.
pub const REPLAY_PAGE_EVENTS: usize = 32;

/// One stream.
#[derive(Debug)]
pub struct Room<S> {
    store: S,
    limits: HistoryLimits,
    meta: StreamMeta,
    /// The topic, for a topic's stream.
    topic: Option<String>,
}

/// What publishing one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored with this id; send `frame` to every socket.
    Stored {
        /// The new event's id.
        id: u64,
        /// The `event` frame.
        frame: String,
    },
    /// Its idempotency key was stored with the same event: nothing stored or sent again.
    Duplicate {
        /// The original event's id.
        id: u64,
    },
    /// Its idempotency key was stored with a different event: refused, nothing stored.
    Conflict {
        /// The id of the event the key belongs to.
        id: u64,
    },
}

impl Accepted {
    /// The event's id: the new one, or the one its key belongs to.
    pub fn id(&self) -> u64 {
        match self {
            Self::Stored { id, .. } | Self::Duplicate { id } | Self::Conflict { id } => *id,
        }
    }
}

/// What a connecting client asked to resume from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeRequest {
    /// The last id the client saw (`since`), if it asked to resume.
    pub since: Option<u64>,
    /// The epoch that id belongs to, if the client knows it.
    pub epoch: Option<String>,
}

/// What a connecting socket (or a new subscriber) must be sent first: the `welcome` (or
/// `subscribed`) frame, then the first page of the replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// The `welcome` or `subscribed` frame.
    pub first: String,
    /// The first `event` frames the client missed, oldest first.
    pub replay: ReplayPage,
}

/// A page of replayed `event` frames.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayPage {
    /// The frames, oldest first.
    pub frames: Vec<String>,
    /// The id of the last frame.
    #[serde(default)]
    pub last: Option<u64>,
    /// When more may follow: pass this to [`Room::replay_after`] for the next page.
    pub next_after: Option<u64>,
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
            topic: None,
        })
    }

    /// The same stream as a topic's: its frames name `topic`.
    pub fn for_topic(self, topic: &str) -> Self {
        Self {
            topic: Some(topic.to_owned()),
            ..self
        }
    }

    /// The stream's identity and head.
    pub fn meta(&self) -> &StreamMeta {
        &self.meta
    }

    /// Stores events in order, in one transaction, and returns each one's outcome. A key seen
    /// before with the same event returns the original id and stores nothing; with another
    /// event it is a conflict. On error nothing is stored or acknowledged.
    pub fn publish(
        &mut self,
        events: &[NewEvent],
        now_ms: u64,
    ) -> Result<Vec<Accepted>, StoreError> {
        let limits = self.limits;
        let topic = self.topic.clone();
        let mut meta = self.meta.clone();
        let accepted = self.store.atomically(|store| {
            publish_all(store, &mut meta, limits, events, topic.as_deref(), now_ms)
        })?;
        self.meta = meta;
        Ok(accepted)
    }

    /// The frames a connecting socket gets: welcome, then every event after `since` when the
    /// client resumes (the first page here, the rest from [`Room::replay_after`]); see
    /// what `catch_up` says about `recovered`.
    pub fn greet(
        &mut self,
        visitor: &Visitor<'_>,
        resume: &ResumeRequest,
        now_ms: u64,
    ) -> Result<Greeting, StoreError> {
        let (recovered, replay) = self.catch_up(resume, now_ms)?;
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
            first: to_json(&welcome),
            replay,
        })
    }

    /// What a new subscriber of a topic's stream gets: `subscribed`, then the events after
    /// `since` as for [`Room::greet`].
    pub fn join(&mut self, resume: &ResumeRequest, now_ms: u64) -> Result<Greeting, StoreError> {
        let (recovered, replay) = self.catch_up(resume, now_ms)?;
        let subscribed = ServerFrame::<()>::Subscribed(Subscribed {
            topic: self.topic.clone().unwrap_or_default(),
            last_id: self.meta.last_id,
            epoch: self.meta.epoch.clone(),
            recovered,
        });
        Ok(Greeting {
            first: to_json(&subscribed),
            replay,
        })
    }

    /// Whether the gap after `since` can be filled, and the first page of it. `recovered` is
    /// `None` without `since`, `false` when the gap cannot be filled: another epoch, an id from
    /// the future, or events pruned past `since`. Replays whatever is retained after `since` in
    /// the same epoch even then, so the client still catches up on recent events.
    fn catch_up(
        &mut self,
        resume: &ResumeRequest,
        now_ms: u64,
    ) -> Result<(Option<bool>, ReplayPage), StoreError> {
        prune(&mut self.store, &self.meta, self.limits, now_ms)?;
        Ok(match resume.since {
            None => (None, ReplayPage::default()),
            Some(_)
                if resume
                    .epoch
                    .as_deref()
                    .is_some_and(|e| e != self.meta.epoch) =>
            {
                (Some(false), ReplayPage::default())
            }
            Some(since) if since > self.meta.last_id => (Some(false), ReplayPage::default()),
            Some(since) => {
                let events = self.store.events_after(since, REPLAY_PAGE_EVENTS)?;
                let complete = match events.first() {
                    Some(first) => first.id == since + 1,
                    None => since == self.meta.last_id,
                };
                (Some(complete), page(&events, self.topic.as_deref()))
            }
        })
    }

    /// The id of the event stored with `key` within the idempotency window, if any.
    pub fn id_of_key(&self, key: &IdempotencyKey, now_ms: u64) -> Result<Option<u64>, StoreError> {
        let window_start = now_ms.saturating_sub(self.limits.max_age_ms);
        Ok(self
            .store
            .find_key(&key.storage_key(), window_start)?
            .map(|record| record.id))
    }

    /// When the event `id` was stored (ms), if it is still kept.
    pub fn stored_at(&self, id: u64) -> Result<Option<u64>, StoreError> {
        Ok(self
            .store
            .events_after(id.saturating_sub(1), 1)?
            .into_iter()
            .find(|event| event.id == id)
            .map(|event| event.ts))
    }

    /// The id of the newest event stored before `ts` (ms); 0 when every event kept is younger.
    pub fn last_id_before(&self, ts: u64) -> Result<u64, StoreError> {
        Ok(self.store.last_id_before(ts)?.unwrap_or(0))
    }

    /// The next page of a replay, after the id a previous page named.
    pub fn replay_after(&self, after: u64) -> Result<ReplayPage, StoreError> {
        Ok(page(
            &self.store.events_after(after, REPLAY_PAGE_EVENTS)?,
            self.topic.as_deref(),
        ))
    }

    /// Revokes the user's tokens issued at or before `at` (seconds); a revocation is never moved
    /// back. Returns the one in force.
    pub fn revoke(&mut self, at: i64) -> Result<i64, StoreError> {
        let current = self.store.revoked_at()?;
        let at = current.map_or(at, |current| current.max(at));
        if current != Some(at) {
            self.store.set_revoked_at(at)?;
        }
        Ok(at)
    }

    /// The oldest retained event id (for tests and diagnostics).
    pub fn oldest_id(&self) -> Result<Option<u64>, StoreError> {
        self.store.oldest_id()
    }
}

fn publish_all<S: EventStore>(
    store: &mut S,
    meta: &mut StreamMeta,
    limits: HistoryLimits,
    events: &[NewEvent],
    topic: Option<&str>,
    now_ms: u64,
) -> Result<Vec<Accepted>, StoreError> {
    let mut accepted = Vec::with_capacity(events.len());
    let window_start = now_ms.saturating_sub(limits.max_age_ms);
    for event in events {
        let payload = event.payload.get();
        let keyed = event
            .idempotency_key
            .as_ref()
            .map(|k| (k.storage_key(), fingerprint(&event.name, payload)));
        if let Some((key, fingerprint)) = &keyed
            && let Some(seen) = store.find_key(key, window_start)?
        {
            accepted.push(if &seen.fingerprint == fingerprint {
                Accepted::Duplicate { id: seen.id }
            } else {
                Accepted::Conflict { id: seen.id }
            });
            continue;
        }
        let stored = StoredEvent {
            id: meta.last_id + 1,
            name: event.name.clone(),
            payload: payload.to_owned(),
            ts: now_ms,
        };
        store.append(&stored)?;
        if let Some((key, fingerprint)) = keyed {
            let record = KeyRecord {
                id: stored.id,
                fingerprint,
            };
            store.remember_key(&key, &record, now_ms)?;
        }
        meta.last_id = stored.id;
        accepted.push(Accepted::Stored {
            id: stored.id,
            frame: event_frame(&stored, topic),
        });
    }
    if accepted
        .iter()
        .any(|a| matches!(a, Accepted::Stored { .. }))
    {
        store.set_meta(meta)?;
        prune(store, meta, limits, now_ms)?;
    }
    Ok(accepted)
}

fn prune<S: EventStore>(
    store: &mut S,
    meta: &StreamMeta,
    limits: HistoryLimits,
    now_ms: u64,
) -> Result<(), StoreError> {
    let min_id = (meta.last_id + 1).saturating_sub(limits.max_events);
    let min_ts = now_ms.saturating_sub(limits.max_age_ms);
    store.prune(min_id, min_ts)
}

/// The frames of a page read from the store; a full page may have a successor.
fn page(events: &[StoredEvent], topic: Option<&str>) -> ReplayPage {
    ReplayPage {
        frames: events.iter().map(|e| event_frame(e, topic)).collect(),
        last: events.last().map(|e| e.id),
        next_after: events
            .last()
            .filter(|_| events.len() == REPLAY_PAGE_EVENTS)
            .map(|e| e.id),
    }
}

/// The `event` frame for a stored event, naming its topic if it has one.
fn event_frame(event: &StoredEvent, topic: Option<&str>) -> String {
    // Stored payloads were valid JSON when published; a damaged one is sent as null, not dropped.
    let payload = RawValue::from_string(event.payload.clone()).ok();
    to_json(&ServerFrame::Event(EventFrame {
        topic: topic.map(str::to_owned),
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
    use crate::memory_store::MemoryStore;

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
            to: edgepush_protocol::publish::Target::User(
                edgepush_protocol::publish::UserId::parse("42").unwrap(),
            ),
            name: name.into(),
            payload: RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap(),
            idempotency_key: key.map(|k| IdempotencyKey::Event(k.to_owned())),
        }
    }

    fn publish_n(room: &mut Room<MemoryStore>, n: usize, now: u64) -> Vec<u64> {
        let events: Vec<_> = (0..n).map(|_| event("Message", None)).collect();
        room.publish(&events, now)
            .unwrap()
            .iter()
            .map(Accepted::id)
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
        let welcome = serde_json::from_str(&greeting.first).unwrap();
        let mut frames = greeting.replay.frames;
        let mut next = greeting.replay.next_after;
        while let Some(after) = next {
            let page = room.replay_after(after).unwrap();
            frames.extend(page.frames);
            next = page.next_after;
        }
        let ids = frames
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
            accepted[0],
            Accepted::Stored {
                id: 4,
                frame: r#"{"type":"event","id":4,"name":"Background","payload":{"text":"hi"},"ts":1001}"#.into()
            }
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
    fn an_event_kept_tells_when_it_was_stored() {
        let mut room = room();
        publish_n(&mut room, 2, 1000);
        room.publish(&[event("Message", Some("book-7"))], 1500)
            .unwrap();
        let id = room
            .id_of_key(&IdempotencyKey::Event("book-7".into()), 1600)
            .unwrap();
        assert_eq!(id, Some(3));
        assert_eq!(room.stored_at(3), Ok(Some(1500)));
        assert_eq!(room.stored_at(1), Ok(Some(1000)));
        assert_eq!(room.stored_at(4), Ok(None));
        publish_n(&mut room, 5, 2000); // the first three are pruned (5 kept)
        assert_eq!(room.stored_at(1), Ok(None));
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
        assert_eq!(again[0], Accepted::Duplicate { id: first[0].id() });
        assert_eq!(again[1].id(), 3);
        assert_eq!(room.meta().last_id, 3);
    }

    #[test]
    fn a_key_reused_for_another_event_is_a_conflict_and_stores_nothing() {
        let mut room = room();
        room.publish(&[event("A", Some("k"))], 1000).unwrap();
        let reused = room
            .publish(&[event("B", Some("k")), event("C", None)], 1001)
            .unwrap();
        assert_eq!(reused[0], Accepted::Conflict { id: 1 });
        assert_eq!(reused[1].id(), 2, "the rest of the batch is stored");
        // Within one batch too: the second use of a key with another event is refused.
        let batch = room
            .publish(&[event("D", Some("j")), event("E", Some("j"))], 1002)
            .unwrap();
        assert_eq!(batch[1], Accepted::Conflict { id: 3 });
        assert_eq!(room.meta().last_id, 3);
    }

    #[test]
    fn header_keys_and_event_keys_live_apart() {
        let mut room = room();
        let mut from_header = event("A", None);
        from_header.idempotency_key = Some(IdempotencyKey::Request {
            key: "req".into(),
            index: 0,
        });
        let own = event("A", Some("req:0"));
        let accepted = room.publish(&[from_header, own], 1000).unwrap();
        assert!(
            matches!(accepted[1], Accepted::Stored { id: 2, .. }),
            "{accepted:?}"
        );
    }

    #[test]
    fn idempotency_keys_expire_with_the_history_window() {
        let mut room = room();
        room.publish(&[event("A", Some("k"))], 1000).unwrap();
        let later = room
            .publish(&[event("A", Some("k"))], 1000 + 60_001)
            .unwrap();
        assert!(
            matches!(later[0], Accepted::Stored { .. }),
            "an expired key stores again"
        );
    }

    #[test]
    fn a_failed_store_acknowledges_nothing_and_keeps_the_head() {
        let mut room = room();
        publish_n(&mut room, 1, 1000);
        room.store.fail_on_event = Some("Boom".into());
        let batch = [event("A", Some("a")), event("Boom", None)];
        assert!(room.publish(&batch, 1001).is_err());
        assert_eq!(room.meta().last_id, 1);
        assert_eq!(room.oldest_id().unwrap(), Some(1));
        room.store.fail_on_event = None;
        let again = room.publish(&batch[..1], 1002).unwrap();
        assert!(
            matches!(again[0], Accepted::Stored { id: 2, .. }),
            "the failed batch left no event and no key behind: {again:?}"
        );
    }

    #[test]
    fn a_long_replay_comes_in_pages() {
        let mut room = Room::open(
            MemoryStore::default(),
            HistoryLimits {
                max_events: 1000,
                max_age_ms: 60_000,
            },
            || "ep1".into(),
        )
        .unwrap();
        publish_n(&mut room, 100, 1000);
        let greeting = room
            .greet(
                &VISITOR,
                &ResumeRequest {
                    since: Some(0),
                    epoch: None,
                },
                1001,
            )
            .unwrap();
        assert_eq!(greeting.replay.frames.len(), REPLAY_PAGE_EVENTS);
        assert_eq!(greeting.replay.next_after, Some(REPLAY_PAGE_EVENTS as u64));
        let (_, ids) = greet(&mut room, Some(0), None, 1001);
        assert_eq!(ids, (1..=100).collect::<Vec<_>>());
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

    #[test]
    fn a_topic_stream_names_its_topic_in_every_frame() {
        let mut topic = room().for_topic("product:42");
        publish_n(&mut topic, 3, 1_000);
        let greeting = topic
            .join(
                &ResumeRequest {
                    since: Some(1),
                    epoch: None,
                },
                2_000,
            )
            .unwrap();
        let subscribed: serde_json::Value = serde_json::from_str(&greeting.first).unwrap();
        assert_eq!(
            subscribed,
            serde_json::json!({"type": "subscribed", "topic": "product:42", "last_id": 3, "epoch": "ep1", "recovered": true})
        );
        let replayed: Vec<serde_json::Value> = greeting
            .replay
            .frames
            .iter()
            .map(|f| serde_json::from_str(f).unwrap())
            .collect();
        assert_eq!(
            replayed
                .iter()
                .map(|f| (f["topic"].as_str().unwrap(), f["id"].as_u64().unwrap()))
                .collect::<Vec<_>>(),
            [("product:42", 2), ("product:42", 3)]
        );
        let live = topic.join(&ResumeRequest::default(), 2_000).unwrap();
        assert!(live.replay.frames.is_empty());
        assert!(!live.first.contains("recovered"), "{}", live.first);
    }
}
