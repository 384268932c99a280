//! The Durable Object shell around [`Room`]: one per user, holding that user's sockets through
//! the hibernation API and its history in SQLite. It only translates runtime events into room
//! calls and room results into socket sends.

use std::cell::RefCell;

use edgepush_protocol::codes::{CloseCode, ErrorCode};
use edgepush_protocol::frames::{ClientFrame, ErrorBody, PING, PONG, SUBPROTOCOL, ServerFrame};
use edgepush_protocol::publish::NewEvent;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair, durable_object,
    worker_sys::WebSocketRequestResponsePair,
};

use crate::api::DisconnectResponse;
use crate::expiry;
use crate::history::{EventStore, HistoryLimits, StoreError, StoredEvent, StreamMeta};
use crate::room::{ResumeRequest, Room, Visitor};

/// What each socket carries through hibernation (its serialized attachment).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SocketInfo {
    /// Connection id, for logs.
    conn: String,
    /// Token expiry, in seconds since the Unix epoch.
    exp: i64,
}

/// One published event's outcome, as the room object answers the edge.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomPublishResult {
    /// The event id.
    pub id: u64,
    /// Sockets it was sent to.
    pub sockets: u32,
    /// Whether its idempotency key was seen before.
    pub duplicate: bool,
}

/// What the edge tells the room about a connecting socket (query parameters of the internal
/// `/connect` request).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectParams {
    /// The verified user id.
    pub user: String,
    /// The verified token expiry, in seconds.
    pub exp: i64,
    /// Whether to echo the `edgepush.v1` subprotocol.
    pub subprotocol: bool,
    /// Resume from this id.
    pub since: Option<u64>,
    /// The epoch of `since`.
    pub epoch: Option<String>,
}

/// The per-user Durable Object.
#[durable_object]
pub struct RoomObject {
    state: State,
    env: Env,
    room: RefCell<Option<Room<SqlStore>>>,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        // Heartbeats are answered by the runtime, so they never wake a hibernating room.
        if let Ok(pair) = WebSocketRequestResponsePair::new(PING, PONG) {
            state.set_websocket_auto_response(&pair);
        }
        // Logged on every wake-up, so hibernation can be observed.
        log(
            "room_wake",
            &[("sockets", state.get_websockets().len().to_string())],
        );
        Self {
            state,
            env,
            room: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            "/connect" => self.accept_socket(&req).await,
            "/publish" => {
                // Raw JSON payloads need serde_json, not the runtime's JSON.parse.
                let events: Vec<NewEvent> = serde_json::from_str(&req.text().await?)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.publish(&events)
            }
            "/disconnect" => {
                let reconnect = req
                    .url()?
                    .query_pairs()
                    .any(|(k, v)| k == "reconnect" && v == "1");
                Response::from_json(&self.disconnect(reconnect))
            }
            _ => Response::error("unknown room endpoint", 404),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // The exact PING never gets here (auto-response); anything else is answered in place.
        let reply = match message {
            WebSocketIncomingMessage::String(text) => {
                match serde_json::from_str::<ClientFrame>(&text) {
                    Ok(ClientFrame::Ping) => PONG.to_owned(),
                    Err(_) => invalid_frame(
                        "send {\"type\":\"ping\"} heartbeats only; events flow from the server",
                    ),
                }
            }
            WebSocketIncomingMessage::Binary(_) => {
                invalid_frame("binary frames are not part of the protocol")
            }
        };
        // A socket that closed meanwhile cannot be answered; that is not an error of the room.
        let _ = ws.send_with_str(reply);
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        let conn = ws
            .deserialize_attachment::<SocketInfo>()
            .ok()
            .flatten()
            .map(|i| i.conn);
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(1000), Some("bye"));
        log(
            "disconnect",
            &[
                ("conn", conn.unwrap_or_default()),
                ("code", code.to_string()),
            ],
        );
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        log("socket_error", &[("error", error.to_string())]);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        self.close_expired().await?;
        Response::empty()
    }
}

impl RoomObject {
    /// Runs `f` on the room, opening it from storage on first use after a wake-up.
    fn with_room<T>(
        &self,
        f: impl FnOnce(&mut Room<SqlStore>) -> std::result::Result<T, StoreError>,
    ) -> Result<T> {
        let mut slot = self.room.borrow_mut();
        if slot.is_none() {
            let limits = HistoryLimits::load(|name| self.env.var(name).ok().map(|v| v.to_string()))
                .map_err(|e| worker::Error::RustError(e.to_string()))?;
            let store = SqlStore::open(self.state.storage().sql()).map_err(store_error)?;
            *slot = Some(Room::open(store, limits, new_epoch).map_err(store_error)?);
        }
        let room = slot
            .as_mut()
            .ok_or_else(|| worker::Error::RustError("room not open".into()))?;
        f(room).map_err(store_error)
    }

    async fn accept_socket(&self, req: &Request) -> Result<Response> {
        let params: ConnectParams = req.query()?;
        let conn = random_id();
        let pair = WebSocketPair::new()?;
        let now = now_ms();
        let greeting = self.with_room(|room| {
            room.greet(
                &Visitor {
                    user: &params.user,
                    connection: &conn,
                    token_expires_at: params.exp,
                },
                &ResumeRequest {
                    since: params.since,
                    epoch: params.epoch.clone(),
                },
                now,
            )
        })?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(SocketInfo {
            conn: conn.clone(),
            exp: params.exp,
        })?;
        pair.server.send_with_str(&greeting.welcome)?;
        for frame in &greeting.replay {
            pair.server.send_with_str(frame)?;
        }
        let sockets = self.state.get_websockets().len();
        log(
            "connect",
            &[
                ("user", params.user.clone()),
                ("conn", conn),
                ("sockets", sockets.to_string()),
                ("replayed", greeting.replay.len().to_string()),
            ],
        );
        self.schedule_expiry(params.exp).await?;
        let mut response = Response::from_websocket(pair.client)?;
        if params.subprotocol {
            response
                .headers_mut()
                .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
        }
        Ok(response)
    }

    fn publish(&self, events: &[NewEvent]) -> Result<Response> {
        let accepted = self.with_room(|room| room.publish(events, now_ms()))?;
        let sockets = self.state.get_websockets();
        let results: Vec<RoomPublishResult> = accepted
            .iter()
            .map(|a| RoomPublishResult {
                id: a.id,
                sockets: a.frame.as_ref().map_or(0, |frame| {
                    sockets
                        .iter()
                        .filter(|ws| ws.send_with_str(frame).is_ok())
                        .count() as u32
                }),
                duplicate: a.frame.is_none(),
            })
            .collect();
        Response::from_json(&results)
    }

    fn disconnect(&self, reconnect: bool) -> DisconnectResponse {
        let code = if reconnect {
            CloseCode::ServiceRestart
        } else {
            CloseCode::Revoked
        };
        let sockets = self.state.get_websockets();
        let closed = sockets
            .iter()
            .filter(|ws| ws.close(Some(code.as_u16()), Some(code.reason())).is_ok())
            .count();
        DisconnectResponse {
            user: String::new(),
            sockets: closed as u32,
        }
    }

    /// Makes sure an alarm fires by the time `exp` (seconds) passes.
    async fn schedule_expiry(&self, exp: i64) -> Result<()> {
        let at = exp.saturating_mul(1000);
        let storage = self.state.storage();
        match storage.get_alarm().await? {
            Some(current) if current <= at => Ok(()),
            _ => storage.set_alarm(js_date(at)).await,
        }
    }

    async fn close_expired(&self) -> Result<()> {
        let sockets = self.state.get_websockets();
        let expiries: Vec<i64> = sockets
            .iter()
            .map(|ws| {
                ws.deserialize_attachment::<SocketInfo>()
                    .ok()
                    .flatten()
                    .map_or(0, |info| info.exp)
            })
            .collect();
        let plan = expiry::plan(&expiries, now_ms());
        for &index in &plan.expired {
            let code = CloseCode::TokenExpired;
            let _ = sockets[index].close(Some(code.as_u16()), Some(code.reason()));
        }
        if !plan.expired.is_empty() {
            log(
                "token_expired",
                &[("closed", plan.expired.len().to_string())],
            );
        }
        if let Some(at) = plan.next_alarm_ms {
            self.state.storage().set_alarm(js_date(at as i64)).await?;
        }
        Ok(())
    }
}

fn invalid_frame(message: &str) -> String {
    serde_json::to_string(&ServerFrame::<()>::Error(ErrorBody::new(
        ErrorCode::InvalidFrame,
        message,
    )))
    .unwrap_or_default()
}

fn store_error(err: StoreError) -> worker::Error {
    worker::Error::RustError(err.to_string())
}

fn js_date(ms: i64) -> worker::ScheduledTime {
    worker::ScheduledTime::new(js_sys::Date::new(&(ms as f64).into()))
}

/// Milliseconds since the Unix epoch, from the runtime's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn random_id() -> String {
    format!("{:08x}{:08x}", random_u32(), random_u32())
}

fn random_u32() -> u32 {
    (js_sys::Math::random() * f64::from(u32::MAX)) as u32
}

fn new_epoch() -> String {
    format!("{:x}-{}", now_ms(), random_id())
}

/// One structured log line: `{"event":..,key:value,..}`.
pub fn log(event: &str, fields: &[(&str, String)]) {
    let mut line = serde_json::Map::new();
    line.insert("event".into(), event.into());
    for (key, value) in fields {
        line.insert((*key).into(), value.clone().into());
    }
    worker::console_log!("{}", serde_json::Value::Object(line));
}

/// The room's history in the Durable Object's SQLite database.
pub struct SqlStore {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct MetaRow {
    epoch: String,
    last_id: f64,
}

#[derive(Deserialize)]
struct EventRow {
    id: f64,
    name: String,
    payload: String,
    ts: f64,
}

#[derive(Deserialize)]
struct IdRow {
    id: f64,
}

impl SqlStore {
    fn open(sql: SqlStorage) -> std::result::Result<Self, StoreError> {
        let store = Self { sql };
        store.run(
            "CREATE TABLE IF NOT EXISTS stream (one INTEGER PRIMARY KEY CHECK (one = 1), epoch TEXT NOT NULL, last_id INTEGER NOT NULL)",
            vec![],
        )?;
        store.run(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload TEXT NOT NULL, ts INTEGER NOT NULL)",
            vec![],
        )?;
        store.run(
            "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, id INTEGER NOT NULL, ts INTEGER NOT NULL)",
            vec![],
        )?;
        Ok(store)
    }

    fn run(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<worker::SqlCursor, StoreError> {
        self.sql
            .exec(query, bindings)
            .map_err(|e| StoreError(e.to_string()))
    }

    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<T>, StoreError> {
        self.run(query, bindings)?
            .to_array()
            .map_err(|e| StoreError(e.to_string()))
    }
}

fn int(n: u64) -> SqlStorageValue {
    SqlStorageValue::from(n as i64)
}

impl EventStore for SqlStore {
    fn meta(&self) -> std::result::Result<Option<StreamMeta>, StoreError> {
        let rows: Vec<MetaRow> =
            self.rows("SELECT epoch, last_id FROM stream WHERE one = 1", vec![])?;
        Ok(rows.into_iter().next().map(|r| StreamMeta {
            epoch: r.epoch,
            last_id: r.last_id as u64,
        }))
    }

    fn set_meta(&mut self, meta: &StreamMeta) -> std::result::Result<(), StoreError> {
        self.run(
            "INSERT INTO stream (one, epoch, last_id) VALUES (1, ?, ?) ON CONFLICT(one) DO UPDATE SET epoch = excluded.epoch, last_id = excluded.last_id",
            vec![meta.epoch.as_str().into(), int(meta.last_id)],
        )
        .map(drop)
    }

    fn append(&mut self, event: &StoredEvent) -> std::result::Result<(), StoreError> {
        self.run(
            "INSERT INTO events (id, name, payload, ts) VALUES (?, ?, ?, ?)",
            vec![
                int(event.id),
                event.name.as_str().into(),
                event.payload.as_str().into(),
                int(event.ts),
            ],
        )
        .map(drop)
    }

    fn events_after(&self, after: u64) -> std::result::Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = self.rows(
            "SELECT id, name, payload, ts FROM events WHERE id > ? ORDER BY id",
            vec![int(after)],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| StoredEvent {
                id: r.id as u64,
                name: r.name,
                payload: r.payload,
                ts: r.ts as u64,
            })
            .collect())
    }

    fn oldest_id(&self) -> std::result::Result<Option<u64>, StoreError> {
        let rows: Vec<IdRow> = self.rows("SELECT id FROM events ORDER BY id LIMIT 1", vec![])?;
        Ok(rows.first().map(|r| r.id as u64))
    }

    fn prune(&mut self, min_id: u64, min_ts: u64) -> std::result::Result<(), StoreError> {
        // Rows are appended in time order, so both deletes are ranges below the first row that is
        // young enough: each reads O(deleted + 1) rows instead of scanning the table (the
        // idempotency table can hold a day of keys).
        self.run(
            "DELETE FROM events WHERE id < max(?1, coalesce((SELECT id FROM events WHERE ts >= ?2 ORDER BY id LIMIT 1), 9223372036854775807))",
            vec![int(min_id), int(min_ts)],
        )?;
        self.run(
            "DELETE FROM idempotency WHERE rowid < coalesce((SELECT rowid FROM idempotency WHERE ts >= ?1 ORDER BY rowid LIMIT 1), 9223372036854775807)",
            vec![int(min_ts)],
        )
        .map(drop)
    }

    fn find_key(&self, key: &str, min_ts: u64) -> std::result::Result<Option<u64>, StoreError> {
        let rows: Vec<IdRow> = self.rows(
            "SELECT id FROM idempotency WHERE key = ? AND ts >= ?",
            vec![key.into(), int(min_ts)],
        )?;
        Ok(rows.first().map(|r| r.id as u64))
    }

    fn remember_key(&mut self, key: &str, id: u64, ts: u64) -> std::result::Result<(), StoreError> {
        self.run(
            // REPLACE gives a re-used key a new rowid, keeping rowids in time order for `prune`.
            "INSERT OR REPLACE INTO idempotency (key, id, ts) VALUES (?, ?, ?)",
            vec![key.into(), int(id), int(ts)],
        )
        .map(drop)
    }
}
