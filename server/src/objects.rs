//! Addressing the Durable Objects and posting [`crate::internal`] calls to them: a user's room
//! (`ROOMS`, named by the user id), a topic's root (`TOPICS`, named by the topic) and a topic's
//! shard (`SHARDS`, named `<shard>/<topic>`).

use edgepush_protocol::ErrorCode;
use js_sys::{Array, Promise};
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Env, Response, Stub};

use std::cell::OnceCell;
use std::rc::Rc;

use crate::config::{ConfigError, Settings};
use crate::error::ServerError;
use crate::history::StoreError;
use crate::internal::{RoomFailure, read_answer};
use crate::runtime::log;

/// A Durable Object, by what it holds.
#[derive(Debug, Clone, Copy)]
pub enum Object<'a> {
    /// The room of this user.
    Room(&'a str),
    /// The root of this topic.
    Topic(&'a str),
    /// A shard of this topic.
    Shard(&'a str, u32),
}

impl Object<'_> {
    /// The object's stub.
    pub fn stub(self, env: &Env) -> Result<Stub, ServerError> {
        let (binding, name) = match self {
            Self::Room(user) => ("ROOMS", user.to_owned()),
            Self::Topic(topic) => ("TOPICS", topic.to_owned()),
            // `/` is no part of a namespace: no topic is named like a shard.
            Self::Shard(topic, shard) => ("SHARDS", format!("{shard}/{topic}")),
        };
        Ok(env
            .durable_object(binding)?
            .id_from_name(&name)?
            .get_stub()?)
    }

    /// Sends a call (its JSON) over Workers RPC, as the argument of the method `call` the
    /// worker's entry (`server/entry.js`) gives every object, and returns the answer's status
    /// and body.
    pub async fn post(self, env: &Env, call: &str) -> Result<(u16, String), ServerError> {
        // JS errors go through worker's conversion, then `From<worker::Error>`.
        let js = worker::Error::from;
        let stub: ObjectStub = self.stub(env)?.into_rpc();
        let answer = JsFuture::from(stub.call(call).map_err(js)?)
            .await
            .map_err(js)?;
        read_rpc_answer(&answer).ok_or_else(|| {
            ServerError::Internal("the object's answer is not [status, body]".into())
        })
    }

    /// Posts a call and reads its answer; every failure is a [`RoomFailure`].
    pub async fn call<T: DeserializeOwned>(self, env: &Env, call: &str) -> Result<T, RoomFailure> {
        let (status, body) = self
            .post(env, call)
            .await
            .map_err(|err| RoomFailure::new(err.code(), err.to_string()))?;
        read_answer(status, &body)
    }
}

/// The JSON of the call a `fetch` of a socket-holding object carries: a connect, in
/// [`crate::internal::CALL_PARAM`] of a `GET` upgrade (empty when it is missing: no call).
pub fn connect_text(req: &worker::Request) -> worker::Result<String> {
    Ok(req
        .url()?
        .query_pairs()
        .find(|(key, _)| key == crate::internal::CALL_PARAM)
        .map(|(_, call)| call.into_owned())
        .unwrap_or_default())
}

/// What a Durable Object's handler of a call returns.
pub type Outcome<T> = Result<T, RoomFailure>;

/// What an object answers to a call other than a connect: the answer's JSON
/// ([`answer_json`](crate::internal::answer_json)).
pub type Answer = Outcome<String>;

/// An answer's status and body: `200` and the JSON, or the failure's status and body (logged).
fn status_and_body(answer: Answer) -> (u16, String) {
    match answer {
        Ok(body) => (200, body),
        Err(failure) => {
            log(
                "object_failure",
                &[
                    ("code", failure.code.as_str().to_owned()),
                    ("message", failure.message.clone()),
                ],
            );
            (failure.status(), failure.to_json())
        }
    }
}

/// An answer as the object's RPC method `call` returns it: `[status, body]`.
pub fn answer_rpc(answer: Answer) -> JsValue {
    let (status, body) = status_and_body(answer);
    Array::of2(&status.into(), &body.into()).into()
}

/// Reads `[status, body]` (from [`answer_rpc`]).
fn read_rpc_answer(answer: &JsValue) -> Option<(u16, String)> {
    let answer = answer.dyn_ref::<Array>()?;
    let status = answer.get(0).as_f64()? as u16;
    Some((status, answer.get(1).as_string()?))
}

/// A call came the way it cannot travel (a bug of the caller): a connect as an RPC call (it
/// hands over a socket, which only `fetch` carries), any other call as a `fetch`, or a room's
/// call to the wrong one of its two RPC methods (`server/entry.js` picks the right one).
pub fn misrouted() -> RoomFailure {
    RoomFailure::new(
        ErrorCode::InternalError,
        "a call came the wrong way: a connect is a fetch, every other call an RPC call",
    )
}

/// The response to a `fetch`: the socket of a connect (`101`), or the failure's status and
/// body (logged).
pub fn to_response(answered: Outcome<worker::Result<Response>>) -> worker::Result<Response> {
    match answered {
        Ok(response) => response,
        Err(failure) => {
            let (status, body) = status_and_body(Err(failure));
            Ok(Response::ok(body)?.with_status(status))
        }
    }
}

#[wasm_bindgen]
extern "C" {
    /// A Durable Object's stub, with the RPC method the worker's entry gives every object.
    type ObjectStub;

    /// Sends a call's JSON; resolves to `[status, body]`.
    #[wasm_bindgen(method, catch)]
    fn call(this: &ObjectStub, call: &str) -> Result<Promise, JsValue>;
}

/// The worker's settings (the edge's and every Durable Object's), from the environment, read once
/// per isolate.
pub fn settings(env: &Env) -> Result<Rc<Settings>, ConfigError> {
    if let Some(settings) = SETTINGS.with(|cell| cell.get().cloned()) {
        return Ok(settings);
    }
    let settings = Rc::new(Settings::load(|name| {
        env.var(name).ok().map(|v| v.to_string())
    })?);
    SETTINGS.with(|cell| cell.set(settings.clone()).ok());
    Ok(settings)
}

thread_local! {
    /// This isolate's settings. An isolate never sees its settings change (a new secret or
    /// deployment starts new isolates), so they are read and parsed once per isolate, not on
    /// every request or every wake-up of an object.
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

impl From<StoreError> for RoomFailure {
    fn from(err: StoreError) -> Self {
        Self::new(ErrorCode::InternalError, err.to_string())
    }
}

impl From<ConfigError> for RoomFailure {
    fn from(err: ConfigError) -> Self {
        Self::new(ErrorCode::ServerMisconfigured, err.to_string())
    }
}

impl From<worker::Error> for RoomFailure {
    fn from(err: worker::Error) -> Self {
        Self::new(ErrorCode::InternalError, err.to_string())
    }
}

impl From<worker::Error> for ServerError {
    fn from(err: worker::Error) -> Self {
        Self::Internal(err.to_string())
    }
}
