//! The Worker's entry point: authenticates every request at the edge, then hands it to the
//! user's room. Nothing here touches a Durable Object before the token or signature checks out.

use std::cell::OnceCell;
use std::rc::Rc;

use edgepush_protocol::frames::{
    EPOCH_PARAM, REFUSAL_CLOSE, REFUSAL_PARAM, SINCE_PARAM, SUBPROTOCOL, ServerFrame, TOKEN_PARAM,
};
use edgepush_protocol::publish::{
    IDEMPOTENCY_HEADER, MAX_BODY_BYTES, NewEvent, PublishResponse, PublishedEvent,
    parse_publish_request,
};
use edgepush_protocol::signature::SIGNATURE_HEADER;
use futures_util::future::join_all;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::DurableObject;
use worker::{
    Context, Env, Headers, Method, Request, RequestInit, Response, Stub, WebSocketPair, event,
    web_sys,
};

use crate::api::{self, DisconnectRequest, DisconnectResponse, Route};
use crate::config::Settings;
use crate::error::ServerError;
use crate::room_object::{ConnectParams, RoomPublishResult, log, now_ms};

/// The Durable Object binding in `wrangler.toml`.
const ROOMS_BINDING: &str = "ROOMS";
/// The base of internal requests from the edge to a room; never reachable from outside.
const ROOM_ORIGIN: &str = "https://room.internal";

impl From<worker::Error> for ServerError {
    fn from(err: worker::Error) -> Self {
        Self::Internal(err.to_string())
    }
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let path = req.path();
    let method = req.method().to_string();
    let route = Route::of(&method, &path);
    let cross_origin = route.as_ref().is_ok_and(|r| r.is_cross_origin());
    let mut response = match route {
        Ok(route) => handle(route, req, &env).await,
        Err(err) => Err(err),
    }
    .or_else(|err| {
        log(
            "reject",
            &[
                ("method", method),
                ("path", path),
                ("status", err.status().to_string()),
                ("code", err.code().as_str().to_owned()),
                ("message", err.to_string()),
            ],
        );
        Response::from_json(&err.body()).map(|r| r.with_status(err.status()))
    })?;
    if cross_origin {
        response
            .headers_mut()
            .set("Access-Control-Allow-Origin", "*")?;
    }
    Ok(response)
}

async fn handle(route: Route, req: Request, env: &Env) -> Result<Response, ServerError> {
    match route {
        Route::Health => Ok(Response::from_json(&serde_json::json!({
            "status": "ok",
            "service": "edgepush",
            "version": env!("CARGO_PKG_VERSION"),
        }))?),
        Route::Preflight => {
            let headers = Headers::new();
            headers.set("Access-Control-Allow-Methods", "POST, OPTIONS")?;
            headers.set(
                "Access-Control-Allow-Headers",
                &format!("Content-Type, {SIGNATURE_HEADER}, {IDEMPOTENCY_HEADER}"),
            )?;
            headers.set("Access-Control-Max-Age", "86400")?;
            Ok(Response::empty()?.with_status(204).with_headers(headers))
        }
        Route::Connect => connect(req, env).await,
        Route::Publish => publish(req, env).await,
        Route::Disconnect => disconnect(req, env).await,
    }
}

thread_local! {
    /// This isolate's settings. An isolate never sees its secrets change (a new secret or
    /// deployment starts new isolates), so they are read and parsed once, not on every request.
    static SETTINGS: OnceCell<Rc<Settings>> = const { OnceCell::new() };
}

fn settings(env: &Env) -> Result<Rc<Settings>, ServerError> {
    if let Some(settings) = SETTINGS.with(|cell| cell.get().cloned()) {
        return Ok(settings);
    }
    let settings = Rc::new(Settings::load(|name| {
        env.secret(name).ok().map(|s| s.to_string())
    })?);
    SETTINGS.with(|cell| cell.set(settings.clone()).ok());
    Ok(settings)
}

fn now_seconds() -> i64 {
    (now_ms() / 1000) as i64
}

fn room(env: &Env, user: &str) -> Result<Stub, ServerError> {
    Ok(env
        .durable_object(ROOMS_BINDING)?
        .id_from_name(user)?
        .get_stub()?)
}

async fn connect(req: Request, env: &Env) -> Result<Response, ServerError> {
    let is_upgrade = req
        .headers()
        .get("Upgrade")?
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Err(ServerError::UpgradeRequired);
    }
    let url = req.url()?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let subprotocols = req.headers().get("Sec-WebSocket-Protocol")?;
    let offered_subprotocol = subprotocols
        .as_deref()
        .is_some_and(|p| p.split(',').any(|p| p.trim() == SUBPROTOCOL));
    let authorized = (|| {
        let query_token = query(TOKEN_PARAM);
        let token = api::connect_token(subprotocols.as_deref(), query_token.as_deref())?;
        let claims = settings(env)?.tokens.verify(token.token, now_seconds())?;
        let resume =
            api::resume_request(query(SINCE_PARAM).as_deref(), query(EPOCH_PARAM).as_deref())?;
        Ok::<_, ServerError>(ConnectParams {
            user: claims.sub,
            exp: claims.exp,
            subprotocol: token.echo_subprotocol,
            since: resume.since,
            epoch: resume.epoch,
        })
    })();
    match authorized {
        Ok(params) => enter_room(env, &params).await,
        Err(err) if query(REFUSAL_PARAM).as_deref() == Some(REFUSAL_CLOSE) => {
            refuse_in_band(&err, offered_subprotocol)
        }
        Err(err) => Err(err),
    }
}

/// Hands a verified socket to the user's room.
async fn enter_room(env: &Env, params: &ConnectParams) -> Result<Response, ServerError> {
    let mut room_url = worker::Url::parse(&format!("{ROOM_ORIGIN}/connect"))
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    {
        let mut pairs = room_url.query_pairs_mut();
        pairs.append_pair("user", &params.user);
        pairs.append_pair("exp", &params.exp.to_string());
        pairs.append_pair(
            "subprotocol",
            if params.subprotocol { "true" } else { "false" },
        );
        if let Some(since) = params.since {
            pairs.append_pair("since", &since.to_string());
        }
        if let Some(epoch) = &params.epoch {
            pairs.append_pair("epoch", epoch);
        }
    }
    let headers = Headers::new();
    headers.set("Upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let room_req = Request::new_with_init(room_url.as_str(), &init)?;
    Ok(room(env, &params.user)?
        .fetch_with_request(room_req)
        .await?)
}

/// Reports a refused connect inside the WebSocket (for browsers, which cannot read a refused
/// upgrade): accepted here at the edge, never in a room, then one `error` frame and a close code
/// that tells the client whether to refresh its token, stop, or retry.
fn refuse_in_band(err: &ServerError, echo_subprotocol: bool) -> Result<Response, ServerError> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    let frame = ServerFrame::<()>::Error(err.body().error);
    pair.server
        .send_with_str(serde_json::to_string(&frame).unwrap_or_default())?;
    let close = err.code().refusal_close_code();
    pair.server
        .close(Some(close.as_u16()), Some(close.reason()))?;
    log(
        "reject",
        &[
            ("path", "/connect".to_owned()),
            ("close", close.as_u16().to_string()),
            ("code", err.code().as_str().to_owned()),
            ("message", err.to_string()),
        ],
    );
    let mut response = Response::from_websocket(pair.client)?;
    if echo_subprotocol {
        response
            .headers_mut()
            .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
    }
    Ok(response)
}

/// Reads a signed body: size-capped, then verified against the publish keys.
async fn signed_body(mut req: Request, env: &Env) -> Result<Vec<u8>, ServerError> {
    let too_large = ServerError::BodyTooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
        return Err(too_large);
    }
    let body = req.bytes().await?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large);
    }
    let url = req.url()?;
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let signature = req.headers().get(SIGNATURE_HEADER)?;
    settings(env)?.publish_keys.verify(
        signature.as_deref(),
        "POST",
        &target,
        &body,
        now_seconds(),
    )?;
    Ok(body)
}

async fn publish(req: Request, env: &Env) -> Result<Response, ServerError> {
    let idempotency = req.headers().get(IDEMPOTENCY_HEADER)?;
    let body = signed_body(req, env).await?;
    let events = parse_publish_request(&body, idempotency.as_deref())?;

    // One request per user's room, all in flight at once; each keeps its events' order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(user, _)| user == event.user.as_str())
        {
            Some((_, indexes)) => indexes.push(index),
            None => groups.push((event.user.as_str().to_owned(), vec![index])),
        }
    }
    let outcomes = join_all(groups.iter().map(|(user, indexes)| {
        let batch: Vec<&NewEvent> = indexes.iter().map(|&i| &events[i]).collect();
        publish_to_room(env, user, batch)
    }))
    .await;

    let mut published: Vec<Option<PublishedEvent>> = vec![None; events.len()];
    for ((user, indexes), outcome) in groups.iter().zip(outcomes) {
        let results = outcome.map_err(|err| ServerError::Room {
            user: user.clone(),
            reason: err.to_string(),
        })?;
        for (&index, result) in indexes.iter().zip(results) {
            published[index] = Some(PublishedEvent {
                user: user.clone(),
                id: result.id,
                sockets: result.sockets,
                duplicate: result.duplicate,
            });
        }
    }
    // No log line per accepted publish: it is the hot path, and its outcome is already in the
    // answer (ids, sockets reached, duplicates) and in the platform's log of each request.
    // Refusals are logged (in `fetch`).
    let events: Vec<PublishedEvent> = published.into_iter().flatten().collect();
    Ok(Response::from_json(&PublishResponse { events })?.with_status(202))
}

async fn publish_to_room(
    env: &Env,
    user: &str,
    events: Vec<&NewEvent>,
) -> Result<Vec<RoomPublishResult>, ServerError> {
    let body = serde_json::to_string(&events).map_err(|e| ServerError::Internal(e.to_string()))?;
    let answer = room_post(env, user, "/publish", &body).await?;
    let results: Vec<RoomPublishResult> =
        serde_json::from_str(&answer).map_err(|e| ServerError::Internal(e.to_string()))?;
    if results.len() != events.len() {
        return Err(ServerError::Internal(
            "the room answered for a different number of events".into(),
        ));
    }
    Ok(results)
}

/// Posts `body` to one of the room's internal endpoints and returns its answer's body. Uses the
/// runtime's `Request`/`Response` directly: one `text()` call for the answer instead of
/// `worker::Response`'s chunk-by-chunk stream reader, and no `Headers` object (the room reads
/// the body as JSON whatever its type).
async fn room_post(env: &Env, user: &str, path: &str, body: &str) -> Result<String, ServerError> {
    // JS errors go through worker's conversion, then the edge's `From<worker::Error>`.
    let js = worker::Error::from;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let req = web_sys::Request::new_with_str_and_init(&format!("{ROOM_ORIGIN}{path}"), &init)
        .map_err(js)?;
    let stub: DurableObject = room(env, user)?.into_rpc();
    let response: web_sys::Response = JsFuture::from(stub.fetch_with_request(&req).map_err(js)?)
        .await
        .map_err(js)?
        .dyn_into()
        .map_err(js)?;
    if response.status() != 200 {
        return Err(ServerError::Internal(format!(
            "the room answered {}",
            response.status()
        )));
    }
    JsFuture::from(response.text().map_err(js)?)
        .await
        .map_err(js)?
        .as_string()
        .ok_or_else(|| ServerError::Internal("the room's answer is not text".into()))
}

async fn disconnect(req: Request, env: &Env) -> Result<Response, ServerError> {
    let body = signed_body(req, env).await?;
    let request = DisconnectRequest::parse(&body)?;
    let path = format!("/disconnect?reconnect={}", u8::from(request.reconnect));
    let user = request.user.as_str();
    let answer = room_post(env, user, &path, "").await?;
    let mut answer: DisconnectResponse =
        serde_json::from_str(&answer).map_err(|e| ServerError::Internal(e.to_string()))?;
    answer.user = user.to_owned();
    log(
        "disconnect_user",
        &[
            ("user", user.to_owned()),
            ("sockets", answer.sockets.to_string()),
            ("reconnect", request.reconnect.to_string()),
        ],
    );
    Ok(Response::from_json(&answer)?)
}
