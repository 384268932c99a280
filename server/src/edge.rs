//! The Worker's entry point: authenticates every request at the edge, then hands it to the
//! user's room or the topic's root. Nothing here touches a Durable Object before the token or
//! signature checks out.

use std::cell::RefCell;
use std::rc::Rc;

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{
    EPOCH_PARAM, REFUSAL_PARAM, SINCE_PARAM, SUBPROTOCOL, SUBSCRIPTION_PARAM, ServerFrame,
    TOKEN_PARAM, TOPIC_PARAM,
};
use edgepush_protocol::publish::{
    IDEMPOTENCY_HEADER, MAX_BODY_BYTES, NewEvent, Target, parse_publish_request,
};
use edgepush_protocol::signature::SIGNATURE_HEADER;
use edgepush_protocol::topic::TopicPattern;
use futures_util::StreamExt;
use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use worker::{Context, Env, Headers, Method, Request, RequestInit, Response, WebSocketPair, event};

use crate::api::{
    self, DisconnectRequest, DisconnectResponse, PresenceQuery, Refusal, RevokeRequest,
    RevokeResponse, Route, SubscribeRequest, SubscribeResponse, TopicPresence, UserPresence,
};
use crate::batch::{self, RoomBatch};
use crate::config::Settings;
use crate::error::ServerError;
use crate::internal::{
    BackendSubscriptionCall, CALL_PARAM, ConnectCall, DisconnectAnswer, DisconnectCall,
    PublishAnswer, PublishCall, ROOM_URL, RevokeAnswer, RevokeCall, RoomCall, RoomFailure,
    ShardCall, ShardConnectCall, SocketsAnswer, TopicCall, TopicPresenceAnswer, TopicPresenceCall,
    TopicPublishCall, TopicSocketCall, read_answer, read_failure,
};
use crate::limits::RateLimitedTokens;
use crate::mercure_hub;
use crate::namespaces::{self, Reader};
use crate::objects::Object;
use crate::runtime::{log, now_ms};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let path = req.path();
    let method = req.inner().method();
    let route = Route::of(&method, &path);
    let cross_origin = route.as_ref().is_ok_and(|r| r.is_cross_origin());
    let mut response = match route {
        Ok(route) => handle(route, req, &env, &ctx).await,
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
        let body = err.body();
        let mut refusal = Response::from_json(&body)?.with_status(err.status());
        if let Some(ms) = body.error.retry_after_ms {
            refusal
                .headers_mut()
                .set("Retry-After", &ms.div_ceil(1000).to_string())?;
        }
        Ok::<_, worker::Error>(refusal)
    })?;
    if cross_origin {
        response
            .headers_mut()
            .set("Access-Control-Allow-Origin", "*")?;
    }
    Ok(response)
}

async fn handle(
    route: Route,
    req: Request,
    env: &Env,
    ctx: &Context,
) -> Result<Response, ServerError> {
    match route {
        // A worker that answers every call `server_misconfigured` is not healthy: say so here.
        Route::Health => settings(env).and_then(|_| {
            Ok(Response::from_json(&serde_json::json!({
            "status": "ok",
            "service": "edgepush",
            "version": env!("CARGO_PKG_VERSION"),
            }))?)
        }),
        Route::Preflight => {
            let headers = Headers::new();
            headers.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
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
        Route::Revoke => revoke(req, env).await,
        Route::Presence => presence(req, env).await,
        Route::Subscribe => backend_subscription(req, env, true).await,
        Route::MercurePublish => mercure_hub::publish(req, env, &*settings(env)?).await,
        Route::MercureSubscribe => mercure_hub::subscribe(req, env, ctx, &*settings(env)?).await,
        Route::MercurePreflight => mercure_preflight(&req, &*settings(env)?),
        Route::Unsubscribe => backend_subscription(req, env, false).await,
    }
}

fn settings(env: &Env) -> Result<Rc<Settings>, ServerError> {
    Ok(crate::objects::settings(env)?)
}

fn now_seconds() -> i64 {
    (now_ms() / 1000) as i64
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
    let entered = match authorize(env, &query, subprotocols.as_deref()) {
        Ok(call) => match query(TOPIC_PARAM) {
            Some(topic) => {
                enter_topic(env, call, &topic, query(SUBSCRIPTION_PARAM).as_deref()).await
            }
            None => enter_room_unless_limited(env, call).await,
        },
        Err(err) => Err(err),
    };
    match (entered, Refusal::asked(query(REFUSAL_PARAM).as_deref())) {
        (Ok(response), _) => Ok(response),
        (Err(err), Refusal::InBand) => refuse_in_band(&err, offered_subprotocol),
        (Err(err), Refusal::Http) => Err(err),
    }
}

/// Verifies the connect token and reads the resume parameters.
fn authorize(
    env: &Env,
    query: &impl Fn(&str) -> Option<String>,
    subprotocols: Option<&str>,
) -> Result<ConnectCall, ServerError> {
    let query_token = query(TOKEN_PARAM);
    let token = api::connect_token(subprotocols, query_token.as_deref())?;
    let claims = settings(env)?.tokens.verify(token.token, now_seconds())?;
    let resume = api::resume_request(query(SINCE_PARAM).as_deref(), query(EPOCH_PARAM).as_deref())?;
    let grants = claims
        .topics
        .iter()
        .map(|grant| TopicPattern::parse(grant))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|problem| ServerError::Refused {
            code: ErrorCode::InvalidClaims,
            message: format!("the token's topics claim holds an invalid topic: {problem}"),
            retry_after_ms: None,
        })?;
    Ok(ConnectCall {
        user: claims.sub,
        exp: claims.exp,
        iat: claims.iat,
        // The signature part: distinct for distinct tokens, and no secret.
        token_id: token
            .token
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned(),
        subprotocol: token.echo_subprotocol,
        since: resume.since,
        epoch: resume.epoch,
        grants,
        subs: claims.subs,
    })
}

thread_local! {
    /// Tokens this isolate saw refused for connecting too often.
    static RATE_LIMITED: RefCell<RateLimitedTokens> = RefCell::default();
}

/// Refuses a token this isolate saw refused for connecting too often moments ago, without
/// waking its room.
fn refuse_if_limited(token_id: &str, now: u64) -> Result<(), ServerError> {
    match RATE_LIMITED.with(|l| l.borrow().wait_ms(token_id, now)) {
        Some(wait) => Err(ServerError::Refused {
            code: ErrorCode::RateLimited,
            message: format!(
                "this token connected too often; retry in {} s",
                wait.div_ceil(1000)
            ),
            retry_after_ms: Some(wait),
        }),
        None => Ok(()),
    }
}

/// Remembers a token its room refused for connecting too often, until its retry hint.
fn note_if_limited(token_id: &str, now: u64, err: ServerError) -> ServerError {
    if let ServerError::Refused {
        retry_after_ms: Some(wait),
        ..
    } = &err
    {
        RATE_LIMITED.with(|l| l.borrow_mut().remember(token_id, now + wait, now));
    }
    err
}

/// Hands a verified socket to the user's room, unless its token was refused for connecting too
/// often moments ago: then it is refused here, without waking the room.
async fn enter_room_unless_limited(env: &Env, call: ConnectCall) -> Result<Response, ServerError> {
    let now = now_ms();
    let token_id = call.token_id.clone();
    refuse_if_limited(&token_id, now)?;
    let user = call.user.clone();
    enter_room(env, call)
        .await?
        .map_err(|failure| note_if_limited(&token_id, now, room_failed(&user, failure)))
}

/// A room's failure as the edge reports it, naming the user.
fn room_failed(user: &str, failure: RoomFailure) -> ServerError {
    ServerError::Refused {
        code: failure.code,
        message: format!("the room of user {user:?} failed: {}", failure.message),
        retry_after_ms: failure.retry_after_ms,
    }
}

/// Hands a verified socket to the user's room: the socket, or the room's refusal.
async fn enter_room(
    env: &Env,
    call: ConnectCall,
) -> Result<Result<Response, RoomFailure>, ServerError> {
    let user = call.user.clone();
    let call = RoomCall::<NewEvent>::Connect(call).to_json();
    upgrade(env, Object::Room(&user), &call).await
}

/// Hands a verified topic socket to one of the topic's shards, once the topic is known to be
/// readable by the token's user and to be of a namespace with shards.
async fn enter_topic(
    env: &Env,
    call: ConnectCall,
    text: &str,
    subscription: Option<&str>,
) -> Result<Response, ServerError> {
    let settings = settings(env)?;
    let namespaces = &settings.room.namespaces;
    let refused = |refusal: namespaces::Refusal| ServerError::Refused {
        code: refusal.code,
        message: refusal.message,
        retry_after_ms: None,
    };
    let token = subscription.map(|token| settings.tokens.verify_subscription(token, now_seconds()));
    let reader = Reader {
        user: &call.user,
        grants: &call.grants,
    };
    let topic = namespaces.authorize(text, reader, token).map_err(refused)?;
    let shards = namespaces.options(&topic).map_err(refused)?.shards;
    if shards == 0 {
        return Err(ServerError::Refused {
            code: ErrorCode::InvalidTopic,
            message: format!(
                "the namespace {:?} has no shards, so its topics have no sockets of their own: \
                 subscribe over your connection ({{\"type\":\"subscribe\",...}})",
                topic.namespace()
            ),
            retry_after_ms: None,
        });
    }
    let shard = (js_sys::Math::random() * f64::from(shards)) as u32 % shards;
    // The user's room refuses a revoked token and a connect past the rates, and remembers the
    // shard for a later revoke; a token it refused for its rate moments ago is refused here.
    let now = now_ms();
    refuse_if_limited(&call.token_id, now)?;
    let admit = RoomCall::TopicSocket(TopicSocketCall {
        user: call.user.clone(),
        topic: topic.as_str().to_owned(),
        shard,
        iat: call.iat,
        exp: call.exp,
        token_id: call.token_id.clone(),
    });
    let _: serde_json::Value = call_room(env, &call.user, &admit)
        .await
        .map_err(|err| note_if_limited(&call.token_id, now, err))?;
    let connect = ShardCall::Connect(ShardConnectCall {
        topic: topic.as_str().to_owned(),
        shard,
        user: call.user,
        exp: call.exp,
        iat: call.iat,
        subprotocol: call.subprotocol,
        since: call.since,
        epoch: call.epoch,
        since_key: None,
        since_key_ms: None,
    });
    upgrade(
        env,
        Object::Shard(topic.as_str(), shard),
        &connect.to_json(),
    )
    .await?
    .map_err(|failure| ServerError::Refused {
        code: failure.code,
        message: format!("the shard of topic {text:?} failed: {}", failure.message),
        retry_after_ms: failure.retry_after_ms,
    })
}

/// Sends a WebSocket upgrade with `call` to a socket-holding object: the socket, or the
/// object's refusal.
pub(crate) async fn upgrade(
    env: &Env,
    object: Object<'_>,
    call: &str,
) -> Result<Result<Response, RoomFailure>, ServerError> {
    let mut url = worker::Url::parse(ROOM_URL).map_err(|e| ServerError::Internal(e.to_string()))?;
    url.query_pairs_mut().append_pair(CALL_PARAM, call);
    let headers = Headers::new();
    headers.set("Upgrade", "websocket")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let req = Request::new_with_init(url.as_str(), &init)?;
    let mut response = object.stub(env)?.fetch_with_request(req).await?;
    if response.status_code() == 101 {
        return Ok(Ok(response));
    }
    let status = response.status_code();
    let body = response.text().await.unwrap_or_default();
    Ok(Err(read_failure(status, &body)))
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

/// Reads a request's body, refused once it passes [`MAX_BODY_BYTES`]: at once when its
/// `Content-Length` says so (the runtime holds a body to its declared length); without one
/// (chunked), read piece by piece and dropped as soon as it is too large, never buffered whole.
pub(crate) async fn capped_body(req: &mut Request) -> Result<Vec<u8>, ServerError> {
    let too_large = ServerError::BodyTooLarge {
        limit: MAX_BODY_BYTES,
    };
    match req.headers().get("Content-Length")? {
        Some(declared) => match declared.trim().parse::<usize>() {
            Ok(len) if len <= MAX_BODY_BYTES => Ok(req.bytes().await?),
            _ => Err(too_large),
        },
        None if req.inner().body().is_none() => Ok(Vec::new()),
        None => {
            let mut body = Vec::new();
            let mut pieces = req.stream()?;
            while let Some(piece) = pieces.next().await {
                let piece = piece?;
                if body.len() + piece.len() > MAX_BODY_BYTES {
                    return Err(too_large);
                }
                body.extend_from_slice(&piece);
            }
            Ok(body)
        }
    }
}

/// A signed request's body, and when the backend signed it.
struct Signed {
    body: Vec<u8>,
    /// The signature's `t`, in the backend's clock (within 300 s of this one).
    at: i64,
}

/// Reads a signed request's body: size-capped, then verified (with the method, path and query)
/// against the publish keys.
async fn signed_body(mut req: Request, env: &Env) -> Result<Signed, ServerError> {
    let method = req.inner().method();
    let body = capped_body(&mut req).await?;
    let url = req.url()?;
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let signature = req.headers().get(SIGNATURE_HEADER)?;
    let at = settings(env)?
        .publish_keys
        .verify(signature.as_deref(), &method, &target, &body, now_seconds())?
        .signed_at;
    Ok(Signed { body, at })
}

async fn publish(req: Request, env: &Env) -> Result<Response, ServerError> {
    let idempotency = req.headers().get(IDEMPOTENCY_HEADER)?;
    let body = signed_body(req, env).await?.body;
    let events = parse_publish_request(&body, idempotency.as_deref())?;
    // A topic of an undeclared namespace refuses the whole request before anything is stored.
    let namespaces = &settings(env)?.room.namespaces;
    for (index, event) in events.iter().enumerate() {
        if let Target::Topic(topic) = &event.to {
            namespaces
                .options(topic)
                .map_err(|refusal| ServerError::Refused {
                    code: refusal.code,
                    message: format!("events[{index}]: {}", refusal.message),
                    retry_after_ms: None,
                })?;
        }
    }

    // One request per user's room or topic, all in flight at once; each keeps its events' order.
    let batches = batch::by_room(&events);
    let answers = join_all(
        batches
            .iter()
            .map(|batch| publish_to_room(env, batch, &events)),
    )
    .await;
    let response = batch::answer(&events, &batches, answers)?;
    // No log line per accepted publish: it is the hot path, and its outcome is already in the
    // answer (ids, sockets reached, duplicates) and in the platform's log of each request.
    // Refusals are logged (in `fetch`).
    let status = response.status();
    Ok(Response::from_json(&response)?.with_status(status))
}

async fn publish_to_room(
    env: &Env,
    batch: &RoomBatch<'_>,
    events: &[NewEvent],
) -> Result<PublishAnswer, RoomFailure> {
    let events: Vec<&NewEvent> = batch.indexes.iter().map(|&i| &events[i]).collect();
    match batch.to {
        Target::User(user) => {
            let call = RoomCall::Publish(PublishCall { events });
            Object::Room(user.as_str()).call(env, &call.to_json()).await
        }
        Target::Topic(topic) => {
            let call = TopicCall::Publish(TopicPublishCall {
                topic: topic.as_str().to_owned(),
                events,
            });
            Object::Topic(topic.as_str())
                .call(env, &call.to_json())
                .await
        }
    }
}

/// Makes a call the user's room answers with a `T`; its failure is reported naming the user.
async fn call_room<T: DeserializeOwned>(
    env: &Env,
    user: &str,
    call: &RoomCall,
) -> Result<T, ServerError> {
    let (status, body) = Object::Room(user).post(env, &call.to_json()).await?;
    read_answer(status, &body).map_err(|failure| room_failed(user, failure))
}

async fn disconnect(req: Request, env: &Env) -> Result<Response, ServerError> {
    let signed = signed_body(req, env).await?;
    let request = DisconnectRequest::parse(&signed.body)?;
    let user = request.user.as_str();
    let call = RoomCall::Disconnect(DisconnectCall {
        user: user.to_owned(),
        reconnect: request.reconnect,
        signed_at: Some(signed.at),
    });
    let closed: DisconnectAnswer = call_room(env, user, &call).await?;
    let answer = DisconnectResponse {
        user: user.to_owned(),
        sockets: closed.sockets,
    };
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

async fn revoke(req: Request, env: &Env) -> Result<Response, ServerError> {
    let signed = signed_body(req, env).await?;
    let request = RevokeRequest::parse(&signed.body)?;
    let user = request.user.as_str();
    // By default the time the backend signed the call, in the clock its tokens' `iat` come from:
    // the same call sent again later (a retry, a replay) revokes no token issued meanwhile.
    let call = RoomCall::Revoke(RevokeCall {
        user: user.to_owned(),
        at: request.at(signed.at)?,
    });
    let revoked: RevokeAnswer = call_room(env, user, &call).await?;
    log(
        "revoke_user",
        &[
            ("user", user.to_owned()),
            ("revoked_at", revoked.revoked_at.to_string()),
            ("sockets", revoked.sockets.to_string()),
        ],
    );
    Ok(Response::from_json(&RevokeResponse {
        user: user.to_owned(),
        revoked_at: revoked.revoked_at,
        sockets: revoked.sockets,
    })?)
}

/// `GET /presence?user=` (the user's room: its open sockets) or `?topic=` (the topic's root:
/// its occupancy and, with `presence`, its users). One Durable Object request.
async fn presence(req: Request, env: &Env) -> Result<Response, ServerError> {
    let url = req.url()?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let asked = PresenceQuery::parse(query("user").as_deref(), query("topic").as_deref())?;
    signed_body(req, env).await?;
    match asked {
        PresenceQuery::User(user) => {
            let open: SocketsAnswer = call_room(env, user.as_str(), &RoomCall::Presence).await?;
            Ok(Response::from_json(&UserPresence {
                user: user.as_str().to_owned(),
                online: open.sockets > 0,
                sockets: open.sockets,
            })?)
        }
        PresenceQuery::Topic(topic) => {
            settings(env)?
                .room
                .namespaces
                .options(&topic)
                .map_err(|refusal| ServerError::Refused {
                    code: refusal.code,
                    message: refusal.message,
                    retry_after_ms: None,
                })?;
            let call = TopicCall::<NewEvent>::Presence(TopicPresenceCall {
                topic: topic.as_str().to_owned(),
            });
            let answer: TopicPresenceAnswer = Object::Topic(topic.as_str())
                .call(env, &call.to_json())
                .await
                .map_err(|failure| ServerError::Refused {
                    code: failure.code,
                    message: format!("the topic {:?} failed: {}", topic.as_str(), failure.message),
                    retry_after_ms: failure.retry_after_ms,
                })?;
            Ok(Response::from_json(&TopicPresence {
                topic: topic.as_str().to_owned(),
                occupancy: answer.occupancy,
                users: answer.users,
            })?)
        }
    }
}

/// `POST /subscribe` and `POST /unsubscribe`: subscriptions the backend makes for a user, kept
/// by the user's room for every socket, open and to come. One Durable Object request.
async fn backend_subscription(
    req: Request,
    env: &Env,
    subscribed: bool,
) -> Result<Response, ServerError> {
    let body = signed_body(req, env).await?.body;
    let request = SubscribeRequest::parse(&body)?;
    let namespaces = &settings(env)?.room.namespaces;
    for topic in &request.topics {
        namespaces
            .validate(topic)
            .and_then(|topic| namespaces.over_room(topic))
            .map_err(|refusal| ServerError::Refused {
                code: refusal.code,
                message: refusal.message,
                retry_after_ms: None,
            })?;
    }
    let user = request.user.as_str();
    let call = BackendSubscriptionCall {
        topics: request.topics.clone(),
    };
    let call = if subscribed {
        RoomCall::Subscribe(call)
    } else {
        RoomCall::Unsubscribe(call)
    };
    let applied: SocketsAnswer = call_room(env, user, &call).await?;
    Ok(Response::from_json(&SubscribeResponse {
        user: user.to_owned(),
        topics: request.topics,
        sockets: applied.sockets,
    })?)
}

/// `OPTIONS /.well-known/mercure`: subscribing with credentials from the configured origins; not
/// publishing (the backend publishes; a page holding a publisher token must not). `POST` needs
/// no method grant in CORS, so a preflight for anything but a `GET` is granted nothing.
fn mercure_preflight(req: &Request, settings: &Settings) -> Result<Response, ServerError> {
    let headers = Headers::new();
    let origin = req.headers().get("Origin")?;
    let method = req.headers().get("Access-Control-Request-Method")?;
    if let (Some(origin), Some(hub), Some("GET")) = (origin, &settings.mercure, method.as_deref())
        && let Some(grant) = hub.cors_grant(&origin)
    {
        mercure_hub::set_cors(&headers, grant)?;
        headers.set("Access-Control-Allow-Methods", "GET, OPTIONS")?;
        headers.set(
            "Access-Control-Allow-Headers",
            "Authorization, Last-Event-ID, Cache-Control, Content-Type",
        )?;
        headers.set("Access-Control-Max-Age", "86400")?;
    }
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}
