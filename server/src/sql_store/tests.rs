//! One contract suite for every [`EventStore`]: the in-memory reference and [`SqlStore`] running
//! the Durable Object's SQL text in a real (bundled) SQLite.

#![allow(clippy::unwrap_used)]

use std::rc::Rc;

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use super::*;
use crate::history::{HistoryLimits, KeyRecord};
use crate::memory_store::MemoryStore;
use crate::room::{Accepted, ResumeRequest, Room, Visitor};
use edgepush_protocol::publish::{IdempotencyKey, NewEvent, UserId};
use serde_json::value::RawValue;

/// A native SQLite database, shared by clones like the Durable Object's `sql` handle.
#[derive(Clone)]
struct Native(Rc<Connection>);

impl Native {
    fn new() -> Self {
        Self(Rc::new(Connection::open_in_memory().unwrap()))
    }
}

impl Sql for Native {
    fn run(
        &self,
        statement: &'static str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let failed = |e: rusqlite::Error| StoreError(e.to_string());
        let mut statement = self.0.prepare(statement).map_err(failed)?;
        let params: Vec<Value> = params
            .iter()
            .map(|p| match p {
                SqlValue::Null => Value::Null,
                SqlValue::Integer(n) => Value::Integer(*n),
                SqlValue::Text(t) => Value::Text(t.clone()),
            })
            .collect();
        let width = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(params))
            .map_err(failed)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let values = (0..width)
                .map(|i| match row.get_ref(i).map_err(failed)? {
                    ValueRef::Integer(n) => Ok(SqlValue::Integer(n)),
                    ValueRef::Text(t) => Ok(SqlValue::Text(String::from_utf8_lossy(t).into())),
                    ValueRef::Null => Ok(SqlValue::Null),
                    other => Err(StoreError(format!("unexpected column {other:?}"))),
                })
                .collect::<Result<_, _>>()?;
            out.push(values);
        }
        Ok(out)
    }

    fn atomically(
        &self,
        body: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.0.execute_batch("BEGIN").unwrap();
        let result = body();
        self.0
            .execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" })
            .unwrap();
        result
    }
}

fn event(id: u64, ts: u64) -> StoredEvent {
    StoredEvent {
        id,
        name: format!("E{id}"),
        payload: format!(r#"{{"n":{id}}}"#),
        ts,
    }
}

fn record(id: u64) -> KeyRecord {
    KeyRecord {
        id,
        fingerprint: format!("f{id}"),
    }
}

fn ids<S: EventStore>(store: &S) -> Vec<u64> {
    store
        .events_after(0, 10_000)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect()
}

/// Runs `check` against a fresh in-memory store and a fresh SQL store.
fn for_both(check: impl Fn(&mut dyn FnMut() -> Box<dyn Store>)) {
    check(&mut || Box::new(MemoryStore::default()));
    check(&mut || Box::new(SqlStore::open(Native::new(), None).unwrap()));
}

/// The contract's operations as an object, so one check runs against both stores.
trait Store {
    fn store(&mut self) -> &mut dyn EventStoreOps;
}

/// [`EventStore`] without its generic transaction, plus a transaction that fails after `body`.
trait EventStoreOps {
    fn meta(&self) -> Option<StreamMeta>;
    fn set_meta(&mut self, meta: &StreamMeta);
    fn append(&mut self, event: &StoredEvent);
    fn after(&self, after: u64, limit: usize) -> Vec<u64>;
    fn all(&self) -> Vec<u64>;
    fn events(&self, after: u64) -> Vec<StoredEvent>;
    fn prune(&mut self, min_id: u64, min_ts: u64);
    fn last_before(&self, ts: u64) -> Option<u64>;
    fn find_key(&self, key: &str, min_ts: u64) -> Option<KeyRecord>;
    fn remember_key(&mut self, key: &str, record: &KeyRecord, ts: u64);
    fn revocation(&mut self, at: Option<i64>) -> Option<i64>;
    fn failing_transaction(&mut self, events: &[StoredEvent]);
}

impl<S: EventStore> EventStoreOps for S {
    fn meta(&self) -> Option<StreamMeta> {
        EventStore::meta(self).unwrap()
    }
    fn set_meta(&mut self, meta: &StreamMeta) {
        EventStore::set_meta(self, meta).unwrap()
    }
    fn append(&mut self, event: &StoredEvent) {
        EventStore::append(self, event).unwrap()
    }
    fn after(&self, after: u64, limit: usize) -> Vec<u64> {
        self.events_after(after, limit)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    }
    fn all(&self) -> Vec<u64> {
        ids(self)
    }
    fn events(&self, after: u64) -> Vec<StoredEvent> {
        self.events_after(after, 10_000).unwrap()
    }
    fn prune(&mut self, min_id: u64, min_ts: u64) {
        EventStore::prune(self, min_id, min_ts).unwrap()
    }
    fn last_before(&self, ts: u64) -> Option<u64> {
        EventStore::last_id_before(self, ts).unwrap()
    }
    fn find_key(&self, key: &str, min_ts: u64) -> Option<KeyRecord> {
        EventStore::find_key(self, key, min_ts).unwrap()
    }
    fn remember_key(&mut self, key: &str, record: &KeyRecord, ts: u64) {
        EventStore::remember_key(self, key, record, ts).unwrap()
    }
    fn revocation(&mut self, at: Option<i64>) -> Option<i64> {
        if let Some(at) = at {
            EventStore::set_revoked_at(self, at).unwrap();
        }
        EventStore::revoked_at(self).unwrap()
    }
    fn failing_transaction(&mut self, events: &[StoredEvent]) {
        let result: Result<(), StoreError> = self.atomically(|store| {
            for event in events {
                EventStore::append(store, event)?;
                EventStore::remember_key(store, &event.name, &record(event.id), event.ts)?;
            }
            EventStore::set_meta(
                store,
                &StreamMeta {
                    epoch: "during".into(),
                    last_id: 99,
                },
            )?;
            Err(StoreError("failed at the end".into()))
        });
        assert!(result.is_err());
    }
}

impl<S: EventStore + 'static> Store for S {
    fn store(&mut self) -> &mut dyn EventStoreOps {
        self
    }
}

#[test]
fn meta_is_absent_then_kept() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        assert_eq!(s.meta(), None);
        let meta = StreamMeta {
            epoch: "e1".into(),
            last_id: 7,
        };
        s.set_meta(&meta);
        s.set_meta(&StreamMeta {
            last_id: 8,
            ..meta.clone()
        });
        assert_eq!(s.meta().unwrap().last_id, 8);
    });
}

#[test]
fn events_come_back_in_order_and_in_pages() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        for id in 1..=10 {
            s.append(&event(id, 1000 + id));
        }
        assert_eq!(s.after(0, 4), [1, 2, 3, 4]);
        assert_eq!(s.after(4, 4), [5, 6, 7, 8]);
        assert_eq!(s.after(8, 4), [9, 10]);
        assert_eq!(s.after(10, 4), Vec::<u64>::new());
        assert_eq!(s.events(9), [event(10, 1010)], "every field is kept");
    });
}

#[test]
fn the_last_event_before_a_time_is_found_among_those_kept() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        assert_eq!(s.last_before(1_000), None);
        for (id, ts) in [(1, 100), (2, 200), (3, 200), (4, 300)] {
            s.append(&event(id, ts));
        }
        assert_eq!(s.last_before(100), None);
        assert_eq!(s.last_before(101), Some(1));
        assert_eq!(s.last_before(300), Some(3));
        assert_eq!(s.last_before(u64::MAX), Some(4));
        s.prune(3, 0);
        assert_eq!(s.last_before(250), Some(3));
        assert_eq!(s.last_before(200), None);
    });
}

#[test]
fn pruning_by_count_and_by_age_keeps_the_young_and_the_recent() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        for id in 1..=10 {
            s.append(&event(id, 1000 + id));
        }
        s.prune(4, 0);
        assert_eq!(s.all(), [4, 5, 6, 7, 8, 9, 10], "by count");
        s.prune(0, 1008);
        assert_eq!(s.all(), [8, 9, 10], "by age");
        s.prune(9, 1008);
        assert_eq!(s.all(), [9, 10], "whichever bound is hit first");
        s.prune(0, 5000);
        assert_eq!(s.all(), Vec::<u64>::new());
    });
}

#[test]
fn idempotency_keys_live_for_the_window_and_a_reuse_moves_to_the_end() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        s.remember_key("a", &record(1), 1000);
        s.remember_key("b", &record(2), 2000);
        assert_eq!(s.find_key("a", 0), Some(record(1)));
        assert_eq!(s.find_key("a", 1001), None, "outside the window");
        assert_eq!(s.find_key("nope", 0), None);
        // Storing "a" again (after it expired) makes it the youngest row: pruning by age, a
        // range below the first young row, must keep it.
        s.remember_key("a", &record(3), 3000);
        s.prune(0, 2500);
        assert_eq!(s.find_key("a", 0), Some(record(3)));
        assert_eq!(s.find_key("b", 0), None);
    });
}

#[test]
fn a_revocation_is_absent_then_kept() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        assert_eq!(s.revocation(None), None);
        assert_eq!(s.revocation(Some(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(s.revocation(Some(1_700_000_100)), Some(1_700_000_100));
    });
}

#[test]
fn a_room_never_moves_a_revocation_back() {
    let sql = Native::new();
    let store = SqlStore::open(sql.clone(), None).unwrap();
    let mut room = Room::open(store, HistoryLimits::default(), || "ep".into()).unwrap();
    assert_eq!(revocation_in(&sql), Ok(None));
    assert_eq!(room.revoke(200).unwrap(), 200);
    assert_eq!(room.revoke(100).unwrap(), 200);
    assert_eq!(revocation_in(&sql), Ok(Some(200)));
}

#[test]
fn a_failed_transaction_leaves_nothing_behind() {
    for_both(|fresh| {
        let mut s = fresh();
        let s = s.store();
        let meta = StreamMeta {
            epoch: "e1".into(),
            last_id: 1,
        };
        s.set_meta(&meta);
        s.append(&event(1, 1000));
        s.failing_transaction(&[event(2, 1001), event(3, 1001)]);
        assert_eq!(s.all(), [1]);
        assert_eq!(s.meta(), Some(meta));
        assert_eq!(s.find_key("E2", 0), None);
    });
}

fn new_event(name: &str, key: Option<&str>) -> NewEvent {
    NewEvent {
        to: edgepush_protocol::publish::Target::User(UserId::parse("42").unwrap()),
        name: name.into(),
        payload: RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap(),
        idempotency_key: key.map(|k| IdempotencyKey::Event(k.into())),
    }
}

const VISITOR: Visitor<'static> = Visitor {
    user: "42",
    connection: "c",
    token_expires_at: 2_000_000_000,
};

#[test]
fn a_room_over_sqlite_rolls_back_a_failed_batch_and_goes_on() {
    let sql = Native::new();
    let store = SqlStore::open(sql.clone(), Some("Boom".into())).unwrap();
    let mut room = Room::open(store, HistoryLimits::default(), || "ep".into()).unwrap();
    room.publish(&[new_event("A", None)], 1000).unwrap();
    let batch = [new_event("B", Some("kb")), new_event("Boom", None)];
    assert!(room.publish(&batch, 1001).is_err());
    // Reopened from the same database (a new wake-up): the head and the rows are as before.
    let reopened = SqlStore::open(sql, None).unwrap();
    let mut room = Room::open(reopened, HistoryLimits::default(), || "other".into()).unwrap();
    assert_eq!(room.meta().last_id, 1);
    assert_eq!(room.meta().epoch, "ep");
    let again = room.publish(&batch, 1002).unwrap();
    assert!(
        matches!(again[0], Accepted::Stored { id: 2, .. }),
        "{again:?}"
    );
    assert!(
        matches!(again[1], Accepted::Stored { id: 3, .. }),
        "{again:?}"
    );
}

#[test]
fn a_room_over_sqlite_tells_duplicates_from_conflicts_and_replays_in_pages() {
    let store = SqlStore::open(Native::new(), None).unwrap();
    let limits = HistoryLimits {
        max_events: 1000,
        max_age_ms: 60_000,
    };
    let mut room = Room::open(store, limits, || "ep".into()).unwrap();
    let first = room.publish(&[new_event("A", Some("k"))], 1000).unwrap();
    let again = room
        .publish(
            &[new_event("A", Some("k")), new_event("B", Some("k"))],
            1001,
        )
        .unwrap();
    assert_eq!(
        again,
        [
            Accepted::Duplicate { id: first[0].id() },
            Accepted::Conflict { id: first[0].id() }
        ]
    );
    let events: Vec<_> = (0..99).map(|_| new_event("M", None)).collect();
    room.publish(&events, 1002).unwrap();
    let greeting = room
        .greet(
            &VISITOR,
            &ResumeRequest {
                since: Some(0),
                epoch: None,
            },
            1003,
        )
        .unwrap();
    let mut count = greeting.replay.frames.len();
    let mut next = greeting.replay.next_after;
    while let Some(after) = next {
        let page = room.replay_after(after).unwrap();
        count += page.frames.len();
        next = page.next_after;
    }
    assert_eq!(count, 100);
}

#[test]
fn members_count_sockets_and_leave_at_zero() {
    let sql = Native::new();
    let members = Members::open(sql.clone()).unwrap();
    assert_eq!(
        members.count("u:42", Count::Add(1)).unwrap(),
        MemberChange::Joined
    );
    assert_eq!(
        members.count("u:42", Count::Add(1)).unwrap(),
        MemberChange::Counted
    );
    assert_eq!(
        members.count("s:3", Count::Set(40)).unwrap(),
        MemberChange::Joined
    );
    assert_eq!(
        members.count("u:7", Count::Remove(1)).unwrap(),
        MemberChange::Unchanged
    );
    assert_eq!(
        members.count("u:42", Count::AtLeast(1)).unwrap(),
        MemberChange::Unchanged
    );
    assert_eq!(
        members.count("s:3", Count::Set(40)).unwrap(),
        MemberChange::Unchanged
    );
    let reopened = Members::open(sql.clone()).unwrap();
    let mut all = reopened.all().unwrap();
    all.sort();
    assert_eq!(all, [("s:3".to_owned(), 40), ("u:42".to_owned(), 2)]);
    assert_eq!(reopened.occupancy().unwrap(), 42);
    assert_eq!(
        reopened.count("u:42", Count::Remove(2)).unwrap(),
        MemberChange::Left
    );
    assert_eq!(
        reopened.count("s:3", Count::Set(0)).unwrap(),
        MemberChange::Left
    );
    assert_eq!(reopened.occupancy().unwrap(), 0);
}

#[test]
fn notices_remember_the_topic_and_queue_presence_changes() {
    let members = Members::open(Native::new()).unwrap();
    assert_eq!(members.notices().unwrap(), None);
    members.set_notices("feed:all", 3).unwrap();
    assert_eq!(members.notices().unwrap(), Some(("feed:all".to_owned(), 3)));
    members.note_presence("42", true).unwrap();
    members.note_presence("7", false).unwrap();
    assert_eq!(
        members.take_presence().unwrap(),
        [("42".to_owned(), true), ("7".to_owned(), false)]
    );
    assert!(members.take_presence().unwrap().is_empty());
}

#[test]
fn subscriptions_are_kept_per_socket_and_found_per_topic() {
    let sql = Native::new();
    let subs = Subscriptions::open(sql.clone()).unwrap();
    subs.add("c1", ["product:1", "product:2"]).unwrap();
    subs.add("c2", ["product:2"]).unwrap();
    subs.add("c1", ["product:1"]).unwrap();
    let again = Subscriptions::open(sql.clone()).unwrap();
    assert_eq!(
        again
            .topics_of("c1")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["product:1", "product:2"]
    );
    assert_eq!(
        again
            .listeners("product:2")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["c1", "c2"]
    );
    again.remove("c1", &["product:2".to_owned()]).unwrap();
    assert_eq!(
        again
            .listeners("product:2")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        ["c2"]
    );
    again
        .keep_only(&["c1".to_owned()].into_iter().collect())
        .unwrap();
    assert!(again.listeners("product:2").unwrap().is_empty());
    assert_eq!(again.topics_of("c1").unwrap().len(), 1);
}

#[test]
fn backend_subscriptions_are_a_set_of_topics() {
    let subs = Subscriptions::open(Native::new()).unwrap();
    let topics = |t: &[&str]| t.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    subs.set_backend_topics(&topics(&["feed:b", "feed:a", "feed:b"]), true)
        .unwrap();
    assert_eq!(subs.backend_topics().unwrap(), ["feed:a", "feed:b"]);
    subs.set_backend_topics(&topics(&["feed:a", "feed:z"]), false)
        .unwrap();
    assert_eq!(subs.backend_topics().unwrap(), ["feed:b"]);
}

#[test]
fn a_revocation_is_read_without_creating_a_history() {
    let sql = Native::new();
    assert_eq!(revocation_in(&sql), Ok(None));
    assert!(
        sql.run("SELECT name FROM sqlite_master", &[])
            .unwrap()
            .is_empty(),
        "no table made"
    );
    let mut store = SqlStore::open(sql.clone(), None).unwrap();
    assert_eq!(revocation_in(&sql), Ok(None));
    store.set_revoked_at(1_700_000_000).unwrap();
    assert_eq!(revocation_in(&sql), Ok(Some(1_700_000_000)));
}

#[test]
fn topic_sockets_are_remembered_per_shard_until_their_latest_expiry() {
    let sql = Native::new();
    assert!(TopicSockets::existing(sql.clone()).unwrap().is_none());
    let sockets = TopicSockets::open(sql.clone()).unwrap();
    assert!(sockets.open_at(100).unwrap().is_empty());
    assert!(TopicSockets::existing(sql.clone()).unwrap().is_some());
    sockets.remember("crowd:a", 2, 200, 100).unwrap();
    sockets.remember("crowd:a", 2, 150, 100).unwrap();
    sockets.remember("crowd:b", 0, 120, 100).unwrap();
    let again = TopicSockets::open(sql).unwrap();
    assert_eq!(
        again.open_at(130).unwrap(),
        [("crowd:a".to_owned(), 2)],
        "the later expiry of shard 2 holds; crowd:b's passed"
    );
    // Expired shards are forgotten on the next connect.
    again.remember("crowd:c", 1, 400, 300).unwrap();
    assert_eq!(again.open_at(0).unwrap(), [("crowd:c".to_owned(), 1)]);
}

#[test]
fn templates_are_kept_while_subscriptions_name_them() {
    const KEEP: u64 = 86_400_000;
    let sql = Native::new();
    let templates = Templates::open(sql.clone(), 0).unwrap();
    let see = |selector: &str, now: u64| templates.see(selector, now, KEEP, 3).unwrap();
    assert_eq!(see("https://x/{id}", 1_000).unwrap(), ["https://x/{id}"]);
    assert_eq!(see("*", 2_000).unwrap(), ["*", "https://x/{id}"]);
    assert_eq!(
        see("https://x/{id}", 3_000).unwrap(),
        ["*", "https://x/{id}"]
    );
    let reopened = Templates::open(sql.clone(), 4_000).unwrap();
    assert_eq!(reopened.live(4_000, KEEP).unwrap(), ["*", "https://x/{id}"]);
    // A selector named again after half an hour is not written again; after an hour it is.
    let seen = |selector: &str| {
        sql.run(
            "SELECT seen FROM mercure_templates WHERE selector = ?1",
            &[text(selector)],
        )
        .unwrap()[0][0]
            .clone()
    };
    see("*", 1_800_000);
    assert_eq!(seen("*"), SqlValue::Integer(2_000));
    see("*", 3_602_000);
    assert_eq!(seen("*"), SqlValue::Integer(3_602_000));
    // Full: the fourth live selector is refused; once one expires it takes its place.
    see("https://y/{id}", 3_700_000);
    assert_eq!(see("https://z/{id}", 3_700_000), None);
    let later = 1_000 + KEEP + 1;
    assert_eq!(
        reopened.live(later, KEEP).unwrap(),
        ["*", "https://y/{id}"],
        "https://x/{{id}} was last named a day ago"
    );
    assert_eq!(
        see("https://z/{id}", later).unwrap(),
        ["*", "https://y/{id}", "https://z/{id}"]
    );
    assert_eq!(
        sql.run("SELECT count(*) FROM mercure_templates", &[])
            .unwrap()[0][0],
        SqlValue::Integer(3),
        "the expired selector was deleted when one was added"
    );
}

#[test]
fn an_older_registry_is_adopted_as_seen_when_first_opened() {
    let sql = Native::new();
    sql.write(
        "CREATE TABLE templates (selector TEXT PRIMARY KEY) WITHOUT ROWID",
        &[],
    )
    .unwrap();
    sql.write(
        "INSERT INTO templates VALUES ('*'), ('https://x/{id}')",
        &[],
    )
    .unwrap();
    let templates = Templates::open(sql.clone(), 5_000).unwrap();
    assert_eq!(
        templates.live(5_000, 1_000).unwrap(),
        ["*", "https://x/{id}"]
    );
    assert!(
        sql.run(TABLE_EXISTS, &[text("templates")])
            .unwrap()
            .is_empty()
    );
    Templates::open(sql, 9_000).unwrap();
}

#[test]
fn the_schema_runs_only_when_its_last_table_is_missing() {
    let sql = Native::new();
    let exists = |table: &str| !sql.run(TABLE_EXISTS, &[text(table)]).unwrap().is_empty();
    Subscriptions::open(sql.clone()).unwrap();
    assert!(exists("subscriptions") && exists("backend_topics"));
    sql.run("DROP TABLE subscriptions", &[]).unwrap();
    Subscriptions::open(sql.clone()).unwrap();
    assert!(
        !exists("subscriptions"),
        "the marker table was there: nothing ran"
    );
    sql.run("DROP TABLE backend_topics", &[]).unwrap();
    Subscriptions::open(sql.clone()).unwrap();
    assert!(exists("subscriptions") && exists("backend_topics"));
}

#[test]
fn webhooks_queue_in_order_until_delivered_and_remember_their_state() {
    let sql = Native::new();
    let members = Members::open(sql.clone()).unwrap();
    assert_eq!(members.webhook_state().unwrap(), WebhookState::default());
    for event in ["a", "b", "c"] {
        members.queue_webhook(event).unwrap();
    }
    let two = members.webhooks(2).unwrap();
    assert_eq!(
        two.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    members.drop_webhooks(two[1].0).unwrap();
    members.queue_webhook("d").unwrap();
    let state = WebhookState {
        occupied: true,
        attempts: 2,
        retry_at: 1_700_000_004_000,
    };
    members.set_webhook_state(state).unwrap();
    let reopened = Members::open(sql.clone()).unwrap();
    let left: Vec<_> = reopened.webhooks(100).unwrap();
    assert_eq!(
        left.iter().map(|(_, e)| e.as_str()).collect::<Vec<_>>(),
        ["c", "d"]
    );
    assert_eq!(reopened.webhook_state().unwrap(), state);
    // A receiver that takes nothing: only the newest are kept.
    for n in 0..10 {
        reopened.queue_webhook(&n.to_string()).unwrap();
    }
    assert_eq!(reopened.trim_webhooks(5).unwrap(), 7);
    assert_eq!(
        reopened
            .webhooks(100)
            .unwrap()
            .iter()
            .map(|(_, e)| e.as_str())
            .collect::<Vec<_>>(),
        ["5", "6", "7", "8", "9"]
    );
    assert_eq!(reopened.trim_webhooks(5).unwrap(), 0);
}

#[test]
fn a_topic_of_an_older_version_gets_the_webhook_retry_table() {
    let sql = Native::new();
    for statement in &MEMBERS_SCHEMA[..5] {
        sql.write(statement, &[]).unwrap();
    }
    sql.write(
        "INSERT INTO webhook_state (one, occupied, attempts) VALUES (1, 1, 3)",
        &[],
    )
    .unwrap();
    let members = Members::open(sql).unwrap();
    let state = members.webhook_state().unwrap();
    assert_eq!(
        (state.occupied, state.attempts, state.retry_at),
        (true, 3, 0)
    );
}

#[test]
fn member_changes_queue_webhooks_occupied_first_and_vacated_last() {
    use crate::internal::Member;
    use crate::webhooks::{WebhookEvent, queue};
    let members = Members::open(Native::new()).unwrap();
    let (alice, shard) = (Member::Room("alice".into()), Member::Shard(1));
    let change = |member: &Member, count, ts| {
        let change = members.count(&member.key(), count).unwrap();
        queue(&members, &[(member, change)], ts).unwrap()
    };
    assert!(change(&alice, Count::Add(1), 1));
    assert!(
        !change(&alice, Count::Add(1), 2),
        "a second socket of alice tells nothing"
    );
    assert!(
        !change(&shard, Count::Set(3), 3),
        "a shard's readers are counted, not named"
    );
    assert!(change(&alice, Count::Remove(2), 4));
    assert!(change(&shard, Count::Set(0), 5));
    let queued: Vec<WebhookEvent> = members
        .webhooks(100)
        .unwrap()
        .into_iter()
        .map(|(_, json)| serde_json::from_str(&json).unwrap())
        .collect();
    let user = || "alice".to_owned();
    assert_eq!(
        queued,
        [
            WebhookEvent::Occupied { ts: 1 },
            WebhookEvent::MemberJoined {
                user: user(),
                ts: 1
            },
            WebhookEvent::MemberLeft {
                user: user(),
                ts: 4
            },
            WebhookEvent::Vacated { ts: 5 },
        ]
    );
    assert!(!members.webhook_state().unwrap().occupied);
}
