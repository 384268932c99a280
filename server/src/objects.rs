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

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
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
    /// The binding of the object's class and the object's name in it.
    fn address(self) -> (&'static str, String) {
        match self {
            Self::Room(user) => ("ROOMS", user.to_owned()),
            Self::Topic(topic) => ("TOPICS", topic.to_owned()),
            // `/` is no part of a namespace: no topic is named like a shard.
            Self::Shard(topic, shard) => ("SHARDS", format!("{shard}/{topic}")),
        }
    }

    /// The object's stub.
    pub fn stub(self, env: &Env) -> Result<Stub, ServerError> {
        let (binding, name) = self.address();
        Ok(env
            .durable_object(binding)?
            .id_from_name(&name)?
            .get_stub()?)
    }

    /// Sends a call (its JSON) over Workers RPC, as the argument of the method `call` the
    /// worker's entry (`server/entry.js`) gives every object, and returns the answer's status
    /// and body.
    pub async fn post(self, env: &Env, call: &str) -> Result<(u16, String), ServerError> {
        post_to(&self.stub(env)?.into_rpc(), call)
            .await
            .map_err(|unreached| unreached.error)
    }

    /// Posts a call and reads its answer; every failure is a [`RoomFailure`] (`unanswered` when
    /// the call may have been carried out).
    pub async fn call<T: DeserializeOwned>(self, env: &Env, call: &str) -> Result<T, RoomFailure> {
        self.call_with(env, call, Repeat::Never).await
    }

    /// As [`call`](Self::call), posted once more through a new stub when `repeat` allows it.
    pub async fn call_with<T: DeserializeOwned>(
        self,
        env: &Env,
        call: &str,
        repeat: Repeat,
    ) -> Result<T, RoomFailure> {
        let stub = || Ok(self.stub(env)?.into_rpc());
        let (status, body) = post_repeating(stub, || (), call, repeat).await?;
        read_answer(status, &body)
    }
}

/// Whether a call is posted once more when the runtime failed to hand it over with an error it
/// marks `.retryable` and not `.overloaded` (Cloudflare's advice: such a call may be retried if
/// applying it twice does no harm; an overloaded object must not get more). The runtime already
/// retried the calls it knew did not reach the object; a refusal the object answered is never
/// posted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Applied twice it does no harm: a read, a delivery (a socket drops an event it got twice),
    /// a join (counted twice, the topic's next relay sets the count right).
    Harmless,
    /// Applied twice it could do harm: a leave counted twice could drop a member that still has
    /// a reader. Posted once.
    Never,
}

/// Posts `call` through `stub()`, and once more through a new `stub()` when `repeat` allows it
/// and the runtime's error advises it; `broken` is told of each stub that failed (a failed stub
/// is broken for good).
async fn post_repeating(
    stub: impl Fn() -> Result<ObjectStub, ServerError>,
    broken: impl Fn(),
    call: &str,
    repeat: Repeat,
) -> Result<(u16, String), RoomFailure> {
    let mut again = repeat == Repeat::Harmless;
    loop {
        match post_to(&stub().map_err(failure)?, call).await {
            Ok(answer) => return Ok(answer),
            Err(unreached) => {
                broken();
                if !(again && unreached.worth_retrying) {
                    let error = unreached.error;
                    return Err(RoomFailure::unanswered(error.code(), error.to_string()));
                }
                again = false;
            }
        }
    }
}

/// A call that failed before the object answered it: the runtime's error, and whether it says
/// posting the call again may succeed.
struct Unreached {
    error: ServerError,
    worth_retrying: bool,
}

impl Unreached {
    /// The failure of a call the runtime threw `error` for.
    fn thrown(error: JsValue) -> Self {
        let flag = |name: &str| {
            js_sys::Reflect::get(&error, &JsValue::from_str(name)).is_ok_and(|v| v.is_truthy())
        };
        Self {
            worth_retrying: flag("retryable") && !flag("overloaded"),
            error: worker::Error::from(error).into(),
        }
    }
}

/// Sends a call's JSON through `stub` and returns the answer's status and body.
async fn post_to(stub: &ObjectStub, call: &str) -> Result<(u16, String), Unreached> {
    let answer = JsFuture::from(stub.call(call).map_err(Unreached::thrown)?)
        .await
        .map_err(Unreached::thrown)?;
    read_rpc_answer(&answer).ok_or_else(|| Unreached {
        error: ServerError::Internal("the object's answer is not [status, body]".into()),
        worth_retrying: false,
    })
}

/// How a Durable Object calls the objects it keeps calling (a room or a shard, its topics): one
/// stub per object called, kept while this object lives. Calls made through one stub arrive in
/// the order they were made; across stubs nothing is promised, so a join and a later leave of
/// a topic, each through a stub of its own, could be counted the other way round.
pub struct Caller {
    env: Env,
    stubs: RefCell<HashMap<String, ObjectStub>>,
}

impl Caller {
    /// A caller with no stub yet.
    pub fn new(env: Env) -> Self {
        Self {
            env,
            stubs: RefCell::default(),
        }
    }

    /// Posts a call through the object's kept stub (posted once more when `repeat` allows it)
    /// and reads its answer. A stub that failed is dropped, and the next call makes a new one.
    pub async fn call<T: DeserializeOwned>(
        &self,
        object: Object<'_>,
        call: &str,
        repeat: Repeat,
    ) -> Result<T, RoomFailure> {
        let (binding, name) = object.address();
        let key = format!("{binding}/{name}");
        let stub = || {
            if let Some(stub) = self.stubs.borrow().get(&key) {
                return Ok(stub.clone());
            }
            let stub: ObjectStub = object.stub(&self.env)?.into_rpc();
            self.stubs.borrow_mut().insert(key.clone(), stub.clone());
            Ok(stub)
        };
        let broken = || {
            self.stubs.borrow_mut().remove(&key);
        };
        let (status, body) = post_repeating(stub, broken, call, repeat).await?;
        read_answer(status, &body)
    }
}

/// A failure to reach an object, as a [`RoomFailure`].
fn failure(err: ServerError) -> RoomFailure {
    RoomFailure::new(err.code(), err.to_string())
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
    #[derive(Clone)]
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
