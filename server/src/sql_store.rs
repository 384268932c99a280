//! The room's history in SQLite: the SQL text the Durable Object runs, over a small [`Sql`]
//! executor, so that the very same statements also run natively against a real SQLite in tests.
//!
//! Tables: `stream` (one row: epoch and head), `events` (id, name, payload text, time) and
//! `idempotency_keys` (storage key, event id, the event's fingerprint, time) and `revocation` (one
//! row: the second at or before which the user's tokens were issued to be refused). Pruning deletes
//! ranges of rowids below the first row young enough, so it reads only what it deletes.

use std::collections::BTreeSet;

use crate::history::{EventStore, KeyRecord, StoreError, StoredEvent, StreamMeta};

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`.
    Null,
    /// An integer (ids and times).
    Integer(i64),
    /// Text (names, payloads, keys).
    Text(String),
}

/// Runs SQL: the Durable Object's `ctx.storage.sql`, or a native SQLite in tests. A cheap
/// handle: clones share one database. Statements are this module's constants.
pub trait Sql: Clone {
    /// Runs one statement with `?NNN` parameters and returns its rows.
    fn run(
        &self,
        statement: &'static str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError>;
    /// Runs one statement that returns no rows.
    fn write(&self, statement: &'static str, params: &[SqlValue]) -> Result<(), StoreError> {
        self.run(statement, params).map(drop)
    }
    /// Runs `body` in one transaction: committed if it succeeds, rolled back if it fails.
    fn atomically(
        &self,
        body: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// The tables, created when missing. The earlier `idempotency` table (keys without a
/// fingerprint or a kind) is dropped: its keys could neither tell a conflict nor a key's kind.
const SCHEMA: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS stream (one INTEGER PRIMARY KEY CHECK (one = 1), epoch TEXT NOT NULL, last_id INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL, ts INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS idempotency_keys (key TEXT PRIMARY KEY, id INTEGER NOT NULL, fingerprint TEXT NOT NULL, ts INTEGER NOT NULL)",
    "DROP TABLE IF EXISTS idempotency",
    "CREATE TABLE IF NOT EXISTS revocation (one INTEGER PRIMARY KEY CHECK (one = 1), revoked_at INTEGER NOT NULL)",
];
const SELECT_REVOKED_AT: &str = "SELECT revoked_at FROM revocation WHERE one = 1";
const UPSERT_REVOKED_AT: &str = "INSERT INTO revocation (one, revoked_at) VALUES (1, ?1) ON CONFLICT(one) DO UPDATE SET revoked_at = excluded.revoked_at";
const SELECT_META: &str = "SELECT epoch, last_id FROM stream WHERE one = 1";
const UPSERT_META: &str = "INSERT INTO stream (one, epoch, last_id) VALUES (1, ?1, ?2) ON CONFLICT(one) DO UPDATE SET epoch = excluded.epoch, last_id = excluded.last_id";
const INSERT_EVENT: &str = "INSERT INTO events (id, name, payload, ts) VALUES (?1, ?2, ?3, ?4)";
const SELECT_EVENTS_AFTER: &str =
    "SELECT id, name, payload, ts FROM events WHERE id > ?1 ORDER BY id LIMIT ?2";
const SELECT_OLDEST_ID: &str = "SELECT id FROM events ORDER BY id LIMIT 1";
// From the newest row back: reads the rows stored since `ts`, plus one.
const SELECT_LAST_ID_BEFORE: &str = "SELECT id FROM events WHERE ts < ?1 ORDER BY id DESC LIMIT 1";
// Both prunes are ranges below the first row that is young enough: each reads O(deleted + 1)
// rows instead of scanning the table (the key table can hold a day of keys).
const PRUNE_EVENTS: &str = "DELETE FROM events WHERE id < max(?1, coalesce((SELECT id FROM events WHERE ts >= ?2 ORDER BY id LIMIT 1), 9223372036854775807))";
const PRUNE_KEYS: &str = "DELETE FROM idempotency_keys WHERE rowid < coalesce((SELECT rowid FROM idempotency_keys WHERE ts >= ?1 ORDER BY rowid LIMIT 1), 9223372036854775807)";
const SELECT_KEY: &str = "SELECT id, fingerprint FROM idempotency_keys WHERE key = ?1 AND ts >= ?2";
// REPLACE gives a re-used key a new rowid, keeping rowids in time order for the prune.
const REMEMBER_KEY: &str =
    "INSERT OR REPLACE INTO idempotency_keys (key, id, fingerprint, ts) VALUES (?1, ?2, ?3, ?4)";

/// The room's history over an [`Sql`] executor.
#[derive(Debug)]
pub struct SqlStore<S> {
    sql: S,
    fail_on_event: Option<String>,
}

impl<S: Sql> SqlStore<S> {
    /// The id in the first row `statement` reads, if any.
    fn first_id(
        &self,
        statement: &'static str,
        params: &[SqlValue],
    ) -> Result<Option<u64>, StoreError> {
        match self.sql.run(statement, params)?.into_iter().next() {
            Some(row) => {
                let [id] = columns(row)?;
                read_u64(&id).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Opens the store, creating its tables if they are missing. `fail_on_event` is a test
    /// hook: appending an event of that name fails, as a full disk would.
    pub fn open(sql: S, fail_on_event: Option<String>) -> Result<Self, StoreError> {
        ensure_schema(&sql, "revocation", &SCHEMA)?;
        Ok(Self { sql, fail_on_event })
    }
}

const TABLE_EXISTS: &str = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1";

/// The user's revocation, read without creating the room's tables: a connect that only needs
/// it (a topic socket's) does not make a history for a user who has none.
pub fn revocation_in<S: Sql>(sql: &S) -> Result<Option<i64>, StoreError> {
    if sql.run(TABLE_EXISTS, &[text("revocation")])?.is_empty() {
        return Ok(None);
    }
    read_revocation(sql)
}

fn read_revocation<S: Sql>(sql: &S) -> Result<Option<i64>, StoreError> {
    match sql.run(SELECT_REVOKED_AT, &[])?.into_iter().next() {
        Some(row) => match columns(row)? {
            [SqlValue::Integer(at)] => Ok(Some(at)),
            [other] => Err(bad_row(&format!("{other:?} where a time belongs"))),
        },
        None => Ok(None),
    }
}

/// Runs `statements` (each idempotent) unless `last_table`, the table the last of them creates,
/// exists already: one read on every wake-up instead of the whole schema. A schema grows by new
/// statements at its end, with `last_table` moved to the newest table.
fn ensure_schema<S: Sql>(
    sql: &S,
    last_table: &str,
    statements: &[&'static str],
) -> Result<(), StoreError> {
    if sql.run(TABLE_EXISTS, &[text(last_table)])?.is_empty() {
        for statement in statements {
            sql.write(statement, &[])?;
        }
    }
    Ok(())
}

fn int(n: u64) -> SqlValue {
    SqlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_owned())
}

fn read_u64(value: &SqlValue) -> Result<u64, StoreError> {
    match value {
        SqlValue::Integer(n) => u64::try_from(*n).map_err(|_| bad_row("a negative number")),
        other => Err(bad_row(&format!("{other:?} where a number belongs"))),
    }
}

fn read_text(value: SqlValue) -> Result<String, StoreError> {
    match value {
        SqlValue::Text(text) => Ok(text),
        other => Err(bad_row(&format!("{other:?} where text belongs"))),
    }
}

fn bad_row(what: &str) -> StoreError {
    StoreError(format!("unexpected row: {what}"))
}

/// The columns of a row of `width` values, or an error naming the mismatch.
fn columns<const N: usize>(row: Vec<SqlValue>) -> Result<[SqlValue; N], StoreError> {
    row.try_into()
        .map_err(|row: Vec<SqlValue>| bad_row(&format!("{} columns, not {N}", row.len())))
}

impl<S: Sql> EventStore for SqlStore<S> {
    fn atomically<T>(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let sql = self.sql.clone();
        let mut body = Some(body);
        let mut output = None;
        sql.atomically(&mut || {
            let body = body
                .take()
                .ok_or_else(|| StoreError("a transaction ran twice".into()))?;
            output = Some(body(self)?);
            Ok(())
        })?;
        output.ok_or_else(|| StoreError("the transaction did not run".into()))
    }

    fn meta(&self) -> Result<Option<StreamMeta>, StoreError> {
        let Some(row) = self.sql.run(SELECT_META, &[])?.into_iter().next() else {
            return Ok(None);
        };
        let [epoch, last_id] = columns(row)?;
        Ok(Some(StreamMeta {
            last_id: read_u64(&last_id)?,
            epoch: read_text(epoch)?,
        }))
    }

    fn set_meta(&mut self, meta: &StreamMeta) -> Result<(), StoreError> {
        self.sql
            .write(UPSERT_META, &[text(&meta.epoch), int(meta.last_id)])
    }

    fn append(&mut self, event: &StoredEvent) -> Result<(), StoreError> {
        if self.fail_on_event.as_deref() == Some(event.name.as_str()) {
            return Err(StoreError(format!(
                "appending {:?} failed (test hook)",
                event.name
            )));
        }
        self.sql.write(
            INSERT_EVENT,
            &[
                int(event.id),
                text(&event.name),
                text(&event.payload),
                int(event.ts),
            ],
        )
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.sql
            .run(SELECT_EVENTS_AFTER, &[int(after), int(limit as u64)])?
            .into_iter()
            .map(|row| {
                let [id, name, payload, ts] = columns(row)?;
                Ok(StoredEvent {
                    id: read_u64(&id)?,
                    ts: read_u64(&ts)?,
                    name: read_text(name)?,
                    payload: read_text(payload)?,
                })
            })
            .collect()
    }

    fn oldest_id(&self) -> Result<Option<u64>, StoreError> {
        self.first_id(SELECT_OLDEST_ID, &[])
    }

    fn last_id_before(&self, ts: u64) -> Result<Option<u64>, StoreError> {
        self.first_id(SELECT_LAST_ID_BEFORE, &[int(ts)])
    }

    fn prune(&mut self, min_id: u64, min_ts: u64) -> Result<(), StoreError> {
        self.sql.write(PRUNE_EVENTS, &[int(min_id), int(min_ts)])?;
        self.sql.write(PRUNE_KEYS, &[int(min_ts)])
    }

    fn find_key(&self, key: &str, min_ts: u64) -> Result<Option<KeyRecord>, StoreError> {
        match self
            .sql
            .run(SELECT_KEY, &[text(key), int(min_ts)])?
            .into_iter()
            .next()
        {
            Some(row) => {
                let [id, fingerprint] = columns(row)?;
                Ok(Some(KeyRecord {
                    id: read_u64(&id)?,
                    fingerprint: read_text(fingerprint)?,
                }))
            }
            None => Ok(None),
        }
    }

    fn revoked_at(&self) -> Result<Option<i64>, StoreError> {
        read_revocation(&self.sql)
    }

    fn set_revoked_at(&mut self, at: i64) -> Result<(), StoreError> {
        self.sql.write(UPSERT_REVOKED_AT, &[SqlValue::Integer(at)])
    }

    fn remember_key(&mut self, key: &str, record: &KeyRecord, ts: u64) -> Result<(), StoreError> {
        self.sql.write(
            REMEMBER_KEY,
            &[
                text(key),
                int(record.id),
                text(&record.fingerprint),
                int(ts),
            ],
        )
    }
}

const MEMBERS_SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS members (member TEXT PRIMARY KEY, sockets INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS notices (one INTEGER PRIMARY KEY CHECK (one = 1), topic TEXT NOT NULL, occupancy_sent INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS presence_changes (seq INTEGER PRIMARY KEY, user TEXT NOT NULL, present INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_queue (seq INTEGER PRIMARY KEY, event TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_state (one INTEGER PRIMARY KEY CHECK (one = 1), occupied INTEGER NOT NULL, attempts INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_retry (one INTEGER PRIMARY KEY CHECK (one = 1), at INTEGER NOT NULL)",
];
const SELECT_MEMBERS: &str = "SELECT member, sockets FROM members";
const SELECT_MEMBER: &str = "SELECT sockets FROM members WHERE member = ?1";
const UPSERT_MEMBER: &str = "INSERT INTO members (member, sockets) VALUES (?1, ?2) ON CONFLICT(member) DO UPDATE SET sockets = excluded.sockets";
const DELETE_MEMBER: &str = "DELETE FROM members WHERE member = ?1";
const SELECT_OCCUPANCY: &str = "SELECT coalesce(sum(sockets), 0) FROM members";
const SELECT_NOTICES: &str = "SELECT topic, occupancy_sent FROM notices WHERE one = 1";
const UPSERT_NOTICES: &str = "INSERT INTO notices (one, topic, occupancy_sent) VALUES (1, ?1, ?2) ON CONFLICT(one) DO UPDATE SET topic = excluded.topic, occupancy_sent = excluded.occupancy_sent";
const INSERT_PRESENCE_CHANGE: &str = "INSERT INTO presence_changes (user, present) VALUES (?1, ?2)";
const SELECT_PRESENCE_CHANGES: &str = "SELECT user, present FROM presence_changes ORDER BY seq";
const DELETE_PRESENCE_CHANGES: &str = "DELETE FROM presence_changes";
const INSERT_WEBHOOK: &str = "INSERT INTO webhook_queue (event) VALUES (?1)";
const SELECT_WEBHOOKS: &str = "SELECT seq, event FROM webhook_queue ORDER BY seq LIMIT ?1";
const DELETE_WEBHOOKS: &str = "DELETE FROM webhook_queue WHERE seq <= ?1";
const TRIM_WEBHOOKS: &str = "DELETE FROM webhook_queue WHERE seq <= (SELECT max(seq) FROM webhook_queue) - ?1 RETURNING seq";
const SELECT_WEBHOOK_STATE: &str = "SELECT s.occupied, s.attempts, coalesce(r.at, 0) FROM webhook_state s LEFT JOIN webhook_retry r ON r.one = 1 WHERE s.one = 1";
const UPSERT_WEBHOOK_STATE: &str = "INSERT INTO webhook_state (one, occupied, attempts) VALUES (1, ?1, ?2) ON CONFLICT(one) DO UPDATE SET occupied = excluded.occupied, attempts = excluded.attempts";
const UPSERT_WEBHOOK_RETRY: &str = "INSERT INTO webhook_retry (one, at) VALUES (1, ?1) ON CONFLICT(one) DO UPDATE SET at = excluded.at";

/// A topic's members — whom it relays its events to (users' rooms, its shards), each with the
/// number of its sockets subscribed — and what the topic still owes them: presence changes not
/// sent yet, the occupancy last sent, and webhook events not delivered yet (`docs/topics.md`).
#[derive(Debug)]
pub struct Members<S> {
    sql: S,
}

/// What [`Members::count`] did to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    /// It was no member before.
    Joined,
    /// It is no member any more.
    Left,
    /// Its socket count changed.
    Counted,
    /// Nothing changed.
    Unchanged,
}

impl<S: Sql> Members<S> {
    /// Opens the tables, creating them if they are missing.
    pub fn open(sql: S) -> Result<Self, StoreError> {
        ensure_schema(&sql, "webhook_retry", &MEMBERS_SCHEMA)?;
        Ok(Self { sql })
    }

    /// Every member (its key) and its sockets.
    pub fn all(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.sql
            .run(SELECT_MEMBERS, &[])?
            .into_iter()
            .map(|row| {
                let [member, sockets] = columns(row)?;
                Ok((read_text(member)?, read_u64(&sockets)?))
            })
            .collect()
    }

    /// Changes a member's socket count: `Add(n)` more, `Remove(n)` fewer, `Set(n)` exactly (a
    /// relay's answer). A member with no socket is no member.
    pub fn count(&self, member: &str, change: Count) -> Result<MemberChange, StoreError> {
        let before = match self
            .sql
            .run(SELECT_MEMBER, &[text(member)])?
            .into_iter()
            .next()
        {
            Some(row) => {
                let [sockets] = columns(row)?;
                Some(read_u64(&sockets)?)
            }
            None => None,
        };
        let now = match change {
            Count::Add(n) => before.unwrap_or(0).saturating_add(n),
            Count::Remove(n) => before.unwrap_or(0).saturating_sub(n),
            Count::Set(n) => n,
            Count::AtLeast(n) => before.unwrap_or(0).max(n),
        };
        if now == 0 {
            self.sql.write(DELETE_MEMBER, &[text(member)])?;
        } else if before != Some(now) {
            self.sql.write(UPSERT_MEMBER, &[text(member), int(now)])?;
        }
        Ok(match (before.is_some(), now > 0) {
            (false, true) => MemberChange::Joined,
            (true, false) => MemberChange::Left,
            _ if before.unwrap_or(0) == now => MemberChange::Unchanged,
            _ => MemberChange::Counted,
        })
    }

    /// The sockets subscribed, over all members.
    pub fn occupancy(&self) -> Result<u64, StoreError> {
        match self.sql.run(SELECT_OCCUPANCY, &[])?.into_iter().next() {
            Some(row) => {
                let [sum] = columns(row)?;
                read_u64(&sum)
            }
            None => Ok(0),
        }
    }

    /// The topic's name and the occupancy last sent, once a notice was planned.
    pub fn notices(&self) -> Result<Option<(String, u64)>, StoreError> {
        match self.sql.run(SELECT_NOTICES, &[])?.into_iter().next() {
            Some(row) => {
                let [topic, sent] = columns(row)?;
                Ok(Some((read_text(topic)?, read_u64(&sent)?)))
            }
            None => Ok(None),
        }
    }

    /// Records the topic's name and the occupancy last sent.
    pub fn set_notices(&self, topic: &str, occupancy_sent: u64) -> Result<(), StoreError> {
        self.sql
            .write(UPSERT_NOTICES, &[text(topic), int(occupancy_sent)])
    }

    /// Queues a presence change to send.
    pub fn note_presence(&self, user: &str, present: bool) -> Result<(), StoreError> {
        self.sql.write(
            INSERT_PRESENCE_CHANGE,
            &[text(user), int(u64::from(present))],
        )
    }

    /// Takes the queued presence changes, oldest first.
    pub fn take_presence(&self) -> Result<Vec<(String, bool)>, StoreError> {
        let changes = self
            .sql
            .run(SELECT_PRESENCE_CHANGES, &[])?
            .into_iter()
            .map(|row| {
                let [user, present] = columns(row)?;
                Ok((read_text(user)?, read_u64(&present)? != 0))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.sql.write(DELETE_PRESENCE_CHANGES, &[])?;
        Ok(changes)
    }

    /// Queues a webhook event (its JSON) to deliver.
    pub fn queue_webhook(&self, event: &str) -> Result<(), StoreError> {
        self.sql.write(INSERT_WEBHOOK, &[text(event)])
    }

    /// The oldest `limit` webhook events not delivered yet: `(seq, JSON)`.
    pub fn webhooks(&self, limit: usize) -> Result<Vec<(u64, String)>, StoreError> {
        self.sql
            .run(SELECT_WEBHOOKS, &[int(limit as u64)])?
            .into_iter()
            .map(|row| {
                let [seq, event] = columns(row)?;
                Ok((read_u64(&seq)?, read_text(event)?))
            })
            .collect()
    }

    /// Keeps only the newest `max` webhook events not delivered yet; returns how many older ones
    /// were dropped.
    pub fn trim_webhooks(&self, max: usize) -> Result<u64, StoreError> {
        Ok(self.sql.run(TRIM_WEBHOOKS, &[int(max as u64)])?.len() as u64)
    }

    /// Forgets the webhook events up to `seq` (delivered, or given up on).
    pub fn drop_webhooks(&self, seq: u64) -> Result<(), StoreError> {
        self.sql.write(DELETE_WEBHOOKS, &[int(seq)])
    }

    /// Whether the webhooks last told the topic occupied, the failed deliveries of the events
    /// queued now, and when the next may be tried.
    pub fn webhook_state(&self) -> Result<WebhookState, StoreError> {
        match self.sql.run(SELECT_WEBHOOK_STATE, &[])?.into_iter().next() {
            Some(row) => {
                let [occupied, attempts, retry_at] = columns(row)?;
                Ok(WebhookState {
                    occupied: read_u64(&occupied)? != 0,
                    attempts: u32::try_from(read_u64(&attempts)?).unwrap_or(u32::MAX),
                    retry_at: read_u64(&retry_at)?,
                })
            }
            None => Ok(WebhookState::default()),
        }
    }

    /// Records the webhook state.
    pub fn set_webhook_state(&self, state: WebhookState) -> Result<(), StoreError> {
        self.sql.write(
            UPSERT_WEBHOOK_STATE,
            &[
                int(u64::from(state.occupied)),
                int(u64::from(state.attempts)),
            ],
        )?;
        self.sql.write(UPSERT_WEBHOOK_RETRY, &[int(state.retry_at)])
    }
}

/// What a topic remembers of its webhooks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookState {
    /// The webhooks last told the topic occupied.
    pub occupied: bool,
    /// Failed deliveries of the events queued now.
    pub attempts: u32,
    /// No delivery before this time (ms): the backoff after a failed one.
    pub retry_at: u64,
}

/// A change of a member's socket count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// This many more sockets.
    Add(u64),
    /// This many fewer.
    Remove(u64),
    /// Exactly this many (what a relay found).
    Set(u64),
    /// At least this many (a socket subscribed again: it was counted already, unless the member
    /// was dropped meanwhile).
    AtLeast(u64),
}

const SUBSCRIPTIONS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS subscriptions (conn TEXT NOT NULL, topic TEXT NOT NULL, PRIMARY KEY (conn, topic)) WITHOUT ROWID";
const SUBSCRIPTIONS_BY_TOPIC: &str =
    "CREATE INDEX IF NOT EXISTS subscriptions_by_topic ON subscriptions (topic)";
const SELECT_TOPICS_OF: &str = "SELECT topic FROM subscriptions WHERE conn = ?1";
const SELECT_LISTENERS: &str = "SELECT conn FROM subscriptions WHERE topic = ?1";
const INSERT_SUBSCRIPTION: &str =
    "INSERT OR IGNORE INTO subscriptions (conn, topic) VALUES (?1, ?2)";
const DELETE_SUBSCRIPTION: &str = "DELETE FROM subscriptions WHERE conn = ?1 AND topic = ?2";
const DELETE_SOCKET: &str = "DELETE FROM subscriptions WHERE conn = ?1";
const SELECT_CONNS: &str = "SELECT DISTINCT conn FROM subscriptions";
const BACKEND_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS backend_topics (topic TEXT PRIMARY KEY) WITHOUT ROWID";
const SELECT_BACKEND: &str = "SELECT topic FROM backend_topics ORDER BY topic";
const INSERT_BACKEND: &str = "INSERT OR IGNORE INTO backend_topics (topic) VALUES (?1)";
const DELETE_BACKEND: &str = "DELETE FROM backend_topics WHERE topic = ?1";

/// The topics each socket of a user's room subscribed to (sockets by connection id), and the
/// topics the backend subscribed the user to (`POST /subscribe`).
#[derive(Debug)]
pub struct Subscriptions<S> {
    sql: S,
}

impl<S: Sql> Subscriptions<S> {
    /// Opens the table, creating it if it is missing.
    pub fn open(sql: S) -> Result<Self, StoreError> {
        ensure_schema(
            &sql,
            "backend_topics",
            &[SUBSCRIPTIONS_SCHEMA, SUBSCRIPTIONS_BY_TOPIC, BACKEND_SCHEMA],
        )?;
        Ok(Self { sql })
    }

    /// The topics of one socket.
    pub fn topics_of(&self, conn: &str) -> Result<BTreeSet<String>, StoreError> {
        self.texts(SELECT_TOPICS_OF, conn)
            .map(|t| t.into_iter().collect())
    }

    /// The sockets that subscribed to `topic`.
    pub fn listeners(&self, topic: &str) -> Result<BTreeSet<String>, StoreError> {
        self.texts(SELECT_LISTENERS, topic)
            .map(|t| t.into_iter().collect())
    }

    /// Adds subscriptions of one socket, in one transaction.
    pub fn add<'a>(
        &self,
        conn: &str,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), StoreError> {
        let mut topics = topics.into_iter();
        self.sql.atomically(&mut || {
            topics.try_for_each(|topic| {
                self.sql
                    .write(INSERT_SUBSCRIPTION, &[text(conn), text(topic)])
            })
        })
    }

    /// Removes subscriptions of one socket.
    pub fn remove(&self, conn: &str, topics: &[String]) -> Result<(), StoreError> {
        topics.iter().try_for_each(|topic| {
            self.sql
                .write(DELETE_SUBSCRIPTION, &[text(conn), text(topic)])
        })
    }

    /// Forgets every socket but the `open` ones (closed ones, including sockets that went away
    /// without a close event).
    pub fn keep_only(&self, open: &BTreeSet<String>) -> Result<(), StoreError> {
        self.sql
            .run(SELECT_CONNS, &[])?
            .into_iter()
            .map(|row| columns::<1>(row).and_then(|[conn]| read_text(conn)))
            .filter(|conn| conn.as_ref().map_or(true, |c| !open.contains(c)))
            .try_for_each(|conn| self.sql.write(DELETE_SOCKET, &[text(&conn?)]))
    }

    /// The topics the backend subscribed the user to.
    pub fn backend_topics(&self) -> Result<Vec<String>, StoreError> {
        self.sql
            .run(SELECT_BACKEND, &[])?
            .into_iter()
            .map(|row| columns::<1>(row).and_then(|[topic]| read_text(topic)))
            .collect()
    }

    /// Adds (`true`) or removes topics the backend subscribed the user to.
    pub fn set_backend_topics(
        &self,
        topics: &[String],
        subscribed: bool,
    ) -> Result<(), StoreError> {
        let statement = if subscribed {
            INSERT_BACKEND
        } else {
            DELETE_BACKEND
        };
        topics
            .iter()
            .try_for_each(|topic| self.sql.write(statement, &[text(topic)]))
    }

    fn texts(&self, statement: &'static str, key: &str) -> Result<Vec<String>, StoreError> {
        self.sql
            .run(statement, &[text(key)])?
            .into_iter()
            .map(|row| columns::<1>(row).and_then(|[value]| read_text(value)))
            .collect()
    }
}

const TOPIC_SOCKETS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS topic_sockets (topic TEXT NOT NULL, shard INTEGER NOT NULL, exp INTEGER NOT NULL, PRIMARY KEY (topic, shard)) WITHOUT ROWID";
// A reconnect with the same token changes no row (nothing written).
const UPSERT_TOPIC_SOCKET: &str = "INSERT INTO topic_sockets (topic, shard, exp) VALUES (?1, ?2, ?3) ON CONFLICT(topic, shard) DO UPDATE SET exp = excluded.exp WHERE excluded.exp > topic_sockets.exp";
const PRUNE_TOPIC_SOCKETS: &str = "DELETE FROM topic_sockets WHERE exp < ?1";
const SELECT_TOPIC_SOCKETS: &str =
    "SELECT topic, shard FROM topic_sockets WHERE exp >= ?1 ORDER BY topic, shard";

/// The shards where a user's topic sockets (`/connect?topic=`) may be open, each until the
/// latest token expiry seen there: a revoke or a logout closes the user's sockets on them.
#[derive(Debug)]
pub struct TopicSockets<S> {
    sql: S,
}

impl<S: Sql> TopicSockets<S> {
    /// Opens the table, creating it if it is missing.
    pub fn open(sql: S) -> Result<Self, StoreError> {
        ensure_schema(&sql, "topic_sockets", &[TOPIC_SOCKETS_SCHEMA])?;
        Ok(Self { sql })
    }

    /// Opens the table if a topic socket ever made it: a revoke or a disconnect of a user who
    /// never had one creates nothing.
    pub fn existing(sql: S) -> Result<Option<Self>, StoreError> {
        let made = !sql.run(TABLE_EXISTS, &[text("topic_sockets")])?.is_empty();
        Ok(made.then_some(Self { sql }))
    }

    /// Remembers a socket on `shard` of `topic` open until `exp`, and forgets the shards whose
    /// sockets all expired before `now` (seconds).
    pub fn remember(&self, topic: &str, shard: u32, exp: i64, now: i64) -> Result<(), StoreError> {
        self.sql.atomically(&mut || {
            self.sql
                .write(PRUNE_TOPIC_SOCKETS, &[SqlValue::Integer(now)])?;
            self.sql.write(
                UPSERT_TOPIC_SOCKET,
                &[
                    text(topic),
                    SqlValue::Integer(shard.into()),
                    SqlValue::Integer(exp),
                ],
            )
        })
    }

    /// The shards (topic, number) where a socket may still be open at `now` (seconds).
    pub fn open_at(&self, now: i64) -> Result<Vec<(String, u32)>, StoreError> {
        self.sql
            .run(SELECT_TOPIC_SOCKETS, &[SqlValue::Integer(now)])?
            .into_iter()
            .map(|row| {
                let [topic, shard] = columns::<2>(row)?;
                let shard = u32::try_from(read_u64(&shard)?)
                    .map_err(|_| bad_row("a shard number out of range"))?;
                Ok((read_text(topic)?, shard))
            })
            .collect()
    }
}

const TEMPLATES_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS mercure_templates \
     (selector TEXT PRIMARY KEY, seen INTEGER NOT NULL) WITHOUT ROWID";
/// The registry of versions before 2026-12-02 (selectors without a time), adopted as seen now.
const ADOPT_TEMPLATES: &str =
    "INSERT OR IGNORE INTO mercure_templates (selector, seen) SELECT selector, ?1 FROM templates";
const DROP_OLD_TEMPLATES: &str = "DROP TABLE templates";
const SELECT_LIVE_TEMPLATES: &str =
    "SELECT selector, seen FROM mercure_templates WHERE seen >= ?1 ORDER BY selector";
const SEE_TEMPLATE: &str = "INSERT INTO mercure_templates (selector, seen) VALUES (?1, ?2) \
     ON CONFLICT (selector) DO UPDATE SET seen = excluded.seen";
const FORGET_TEMPLATES: &str = "DELETE FROM mercure_templates WHERE seen < ?1";

/// The Mercure template selectors subscribed to lately (kept by one object), each with when a
/// subscription last named it: a selector nobody subscribed to for `keep_ms` is forgotten.
#[derive(Debug)]
pub struct Templates<S> {
    sql: S,
}

impl<S: Sql> Templates<S> {
    /// Opens the table, creating it if it is missing (and adopting an older version's registry).
    pub fn open(sql: S, now: u64) -> Result<Self, StoreError> {
        if sql
            .run(TABLE_EXISTS, &[text("mercure_templates")])?
            .is_empty()
        {
            let old = !sql.run(TABLE_EXISTS, &[text("templates")])?.is_empty();
            sql.atomically(&mut || {
                sql.write(TEMPLATES_SCHEMA, &[])?;
                if old {
                    sql.write(ADOPT_TEMPLATES, &[int(now)])?;
                    sql.write(DROP_OLD_TEMPLATES, &[])?;
                }
                Ok(())
            })?;
        }
        Ok(Self { sql })
    }

    /// The selectors subscribed to within `keep_ms` before `now` (a read only: a publish asks).
    pub fn live(&self, now: u64, keep_ms: u64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .seen_since(now.saturating_sub(keep_ms))?
            .into_iter()
            .map(|(selector, _)| selector)
            .collect())
    }

    /// A subscription names `selector` at `now`: its time is moved on (written at most once per
    /// quarter of `keep_ms`, at most hourly: many subscribers of one template make few writes), or
    /// it is added unless `max` live selectors are kept already (`None`: full). Returns every
    /// live selector.
    pub fn see(
        &self,
        selector: &str,
        now: u64,
        keep_ms: u64,
        max: usize,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let since = now.saturating_sub(keep_ms);
        let mut live = self.seen_since(since)?;
        match live.iter().find(|(known, _)| known == selector) {
            Some((_, seen)) => {
                if now.saturating_sub(*seen) >= (keep_ms / 4).min(3_600_000) {
                    self.sql.write(SEE_TEMPLATE, &[text(selector), int(now)])?;
                }
            }
            None if live.len() >= max => return Ok(None),
            None => {
                self.sql.write(FORGET_TEMPLATES, &[int(since)])?;
                self.sql.write(SEE_TEMPLATE, &[text(selector), int(now)])?;
                live.push((selector.to_owned(), now));
                live.sort();
            }
        }
        Ok(Some(
            live.into_iter().map(|(selector, _)| selector).collect(),
        ))
    }

    fn seen_since(&self, since: u64) -> Result<Vec<(String, u64)>, StoreError> {
        self.sql
            .run(SELECT_LIVE_TEMPLATES, &[int(since)])?
            .into_iter()
            .map(|row| {
                columns::<2>(row)
                    .and_then(|[selector, seen]| Ok((read_text(selector)?, read_u64(&seen)?)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
