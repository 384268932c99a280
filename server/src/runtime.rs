//! What the edge and the room take from the Workers runtime: its clock, random ids, log lines,
//! alarm times, sending one frame to many sockets and the Durable Object's SQLite as an [`Sql`]
//! executor.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::Array;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::types::SqlStorageCursor as Cursor;
use worker::{State, WebSocket};

use crate::history::StoreError;
use crate::sql_store::{Sql, SqlValue};

#[wasm_bindgen]
extern "C" {
    /// The Durable Object's `ctx.storage`, for the one method worker-sys does not bind.
    #[derive(Clone)]
    type TransactionalStorage;

    /// `ctx.storage.transactionSync(fn)`: runs `fn` in one SQLite transaction, rolled back when
    /// it throws.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &TransactionalStorage,
        body: &mut dyn FnMut() -> Result<(), JsValue>,
    ) -> Result<JsValue, JsValue>;

    /// A WebSocket, sent a JS string made beforehand (web-sys' `send_with_str` makes one from
    /// the Rust text on every call).
    type TextSocket;

    /// `ws.send(text)`.
    #[wasm_bindgen(method, catch)]
    fn send(this: &TextSocket, text: &JsValue) -> Result<(), JsValue>;

    /// `ctx.storage.sql`, run with a statement's JS string made once (worker's `exec` makes one
    /// from the Rust text on every call).
    #[derive(Clone)]
    type SqlExec;

    /// `sql.exec(statement, ...bindings)`.
    #[wasm_bindgen(method, catch, variadic)]
    fn exec(this: &SqlExec, statement: &JsValue, bindings: Array) -> Result<Cursor, JsValue>;
}

/// A text frame for many sockets, made a JS string once: a publish to a user's 100 sockets
/// copies its frame out of the wasm memory once, not 100 times (bench/README.md, "What a publish
/// allocates").
pub struct Broadcast(JsValue);

impl Broadcast {
    /// The frame, as the JS string every socket is sent.
    pub fn new(frame: &str) -> Self {
        Self(JsValue::from_str(frame))
    }

    /// Sends the frame to `ws`; `false` if the socket refused it (closed meanwhile).
    pub fn send(&self, ws: &WebSocket) -> bool {
        let ws: &worker::web_sys::WebSocket = ws.as_ref();
        ws.unchecked_ref::<TextSocket>().send(&self.0).is_ok()
    }
}

/// Milliseconds since the Unix epoch, from the runtime's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// 16 random hex digits.
pub fn random_id() -> String {
    format!("{:08x}{:08x}", random_u32(), random_u32())
}

fn random_u32() -> u32 {
    (js_sys::Math::random() * f64::from(u32::MAX)) as u32
}

/// A new stream epoch: the time and a random id.
pub fn new_epoch() -> String {
    format!("{:x}-{}", now_ms(), random_id())
}

/// An alarm time (milliseconds since the Unix epoch).
pub fn alarm_time(ms: u64) -> worker::ScheduledTime {
    worker::ScheduledTime::new(js_sys::Date::new(&(ms as f64).into()))
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

/// The Durable Object's SQLite database.
#[derive(Clone)]
pub struct DurableSql {
    /// `ctx.storage.sql`.
    sql: SqlExec,
    /// `ctx.storage`.
    storage: TransactionalStorage,
}

impl DurableSql {
    /// The database of the object whose state this is.
    pub fn of(state: &State) -> Result<Self, StoreError> {
        let storage = state
            .as_raw()
            .storage()
            .map_err(|e| StoreError(js_text(&e)))?;
        Ok(Self {
            sql: state.storage().sql().as_ref().clone().unchecked_into(),
            storage: storage.unchecked_into(),
        })
    }

    /// Runs a statement (executed to its first row at once) and returns its cursor.
    fn exec(&self, statement: &'static str, params: &[SqlValue]) -> Result<Cursor, StoreError> {
        let bindings: Array = params
            .iter()
            .map(|p| match p {
                SqlValue::Null => JsValue::NULL,
                SqlValue::Integer(n) => JsValue::from(*n as f64),
                SqlValue::Text(t) => JsValue::from_str(t),
            })
            .collect();
        let statement = STATEMENTS.with(|made| {
            made.borrow_mut()
                .entry(statement)
                .or_insert_with(|| JsValue::from_str(statement))
                .clone()
        });
        self.sql
            .exec(&statement, bindings)
            .map_err(|e| StoreError(js_text(&e)))
    }
}

thread_local! {
    /// The statements as JS strings, made once per isolate rather than on every call.
    static STATEMENTS: RefCell<HashMap<&'static str, JsValue>> = RefCell::new(HashMap::new());
}

/// A column's value: integers come as numbers (as `SqlStorageValue` reads them).
fn read_column(value: JsValue) -> Result<SqlValue, StoreError> {
    if value.is_null() {
        Ok(SqlValue::Null)
    } else if let Some(n) = value.as_f64() {
        Ok(SqlValue::Integer(n as i64))
    } else if let Some(text) = value.as_string() {
        Ok(SqlValue::Text(text))
    } else {
        Err(StoreError(format!("unexpected column {value:?}")))
    }
}

impl Sql for DurableSql {
    fn run(
        &self,
        statement: &'static str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let rows = self.exec(statement, params)?.raw();
        let mut out = Vec::new();
        loop {
            let next = rows.next().map_err(|e| StoreError(js_text(&e)))?;
            if next.done() {
                return Ok(out);
            }
            let row: Array = next.value().unchecked_into();
            out.push(row.iter().map(read_column).collect::<Result<_, _>>()?);
        }
    }

    /// Runs the statement without reading a cursor: it has run by the time `exec` returns.
    fn write(&self, statement: &'static str, params: &[SqlValue]) -> Result<(), StoreError> {
        self.exec(statement, params).map(drop)
    }

    fn atomically(
        &self,
        body: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut failure = None;
        let outcome = self.storage.transaction_sync(&mut || {
            body().map_err(|err| {
                let thrown = JsValue::from_str(&err.0);
                failure = Some(err);
                thrown
            })
        });
        match (outcome, failure) {
            (_, Some(failure)) => Err(failure),
            (Err(thrown), None) => Err(StoreError(js_text(&thrown))),
            (Ok(_), None) => Ok(()),
        }
    }
}

/// A thrown JavaScript value as text.
pub fn js_text(value: &JsValue) -> String {
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
