//! Addressing the Durable Objects and posting [`crate::internal`] calls to them: a user's room
//! (`ROOMS`, named by the user id), a topic's root (`TOPICS`, named by the topic) and a topic's
//! shard (`SHARDS`, named `<shard>/<topic>`).

use edgepush_protocol::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::DurableObject;
use worker::{Env, Response, Stub, web_sys};

use std::cell::OnceCell;
use std::rc::Rc;

use crate::config::{ConfigError, Settings};
use crate::error::ServerError;
use crate::history::StoreError;
use crate::internal::{ROOM_URL, RoomFailure, answer_json, read_answer};
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

    /// Posts a call (its JSON) and returns the answer's status and body. Uses the runtime's
    /// `Request`/`Response` directly: one `text()` call for the answer instead of
    /// `worker::Response`'s chunk-by-chunk stream reader, and no `Headers` object (the object
    /// reads the body as JSON whatever its type).
    pub async fn post(self, env: &Env, call: &str) -> Result<(u16, String), ServerError> {
        // JS errors go through worker's conversion, then `From<worker::Error>`.
        let js = worker::Error::from;
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&JsValue::from_str(call));
        let req = web_sys::Request::new_with_str_and_init(ROOM_URL, &init).map_err(js)?;
        let stub: DurableObject = self.stub(env)?.into_rpc();
        let response: web_sys::Response =
            JsFuture::from(stub.fetch_with_request(&req).map_err(js)?)
                .await
                .map_err(js)?
                .dyn_into()
                .map_err(js)?;
        let body = JsFuture::from(response.text().map_err(js)?)
            .await
            .map_err(js)?
            .as_string()
            .ok_or_else(|| ServerError::Internal("the object's answer is not text".into()))?;
        Ok((response.status(), body))
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

/// The JSON of a call to a socket-holding object: in [`crate::internal::CALL_PARAM`] for a
/// connect (a `GET` upgrade without a body), else the body.
pub async fn call_text(req: &mut worker::Request) -> worker::Result<String> {
    let in_query = req
        .url()?
        .query_pairs()
        .find(|(key, _)| key == crate::internal::CALL_PARAM)
        .map(|(_, call)| call.into_owned());
    match in_query {
        Some(call) => Ok(call),
        None => req.text().await,
    }
}

/// What a Durable Object's handler of a call returns.
pub type Outcome<T> = Result<T, RoomFailure>;

/// A `200` answer with `answer` as JSON.
pub fn json<T: Serialize>(answer: &T) -> worker::Result<Response> {
    Response::ok(answer_json(answer))
}

/// The response to a call: the answer, or the failure's status and body (logged).
pub fn to_response(answered: Outcome<worker::Result<Response>>) -> worker::Result<Response> {
    match answered {
        Ok(response) => response,
        Err(failure) => {
            log(
                "object_failure",
                &[
                    ("code", failure.code.as_str().to_owned()),
                    ("message", failure.message.clone()),
                ],
            );
            Ok(Response::ok(failure.to_json())?.with_status(failure.status()))
        }
    }
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
