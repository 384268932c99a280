//! The Mercure hub's two requests at the edge (`docs/mercure.md`): a publish stores the update
//! in the edgepush topic of each of its topics and of each subscribed template selector that
//! matches it (durable before the answer, its id the idempotency key); a subscription is a Server-Sent Events stream held by this stateless Worker
//! — never by a Durable Object, which could then never hibernate — fed by one topic socket per
//! topic on the topics' shards, which hibernate between updates.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{PING, PONG};
use edgepush_protocol::publish::{IdempotencyKey, NewEvent, Target};
use edgepush_protocol::token::numeric_date;
use edgepush_protocol::topic::Topic;
use futures_channel::oneshot;
use futures_util::future::{Either, join_all, select, try_join_all};
use futures_util::stream::{StreamExt, select_all};
use serde_json::value::RawValue;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Context, Delay, Env, Headers, Request, Response, ResponseBody, WebSocket, web_sys};
use worker::{WebsocketEvent, js_sys};

use crate::config::Settings;
use crate::error::ServerError;
use crate::internal::{
    EARLIEST, PublishAnswer, ShardCall, ShardConnectCall, StoredAtAnswer, StoredAtCall,
    TemplatesAnswer, TemplatesCall, TopicCall, TopicPublishCall,
};
use crate::mercure::{
    self, CorsGrant, MercureError, MercureSettings, StoredUpdate, TEMPLATES_OBJECT, any_matches,
    parse_update, request_token, selectors,
};
use crate::objects::Object;
use crate::runtime::{log, now_ms};

impl From<MercureError> for ServerError {
    fn from(err: MercureError) -> Self {
        Self::Refused {
            code: err.code,
            message: err.message,
            retry_after_ms: None,
        }
    }
}

fn refused(code: ErrorCode, message: impl Into<String>) -> ServerError {
    ServerError::Refused {
        code,
        message: message.into(),
        retry_after_ms: None,
    }
}

/// Sets the CORS headers of a grant (`Last-Event-ID` exposed: a resume's answer carries it).
pub fn set_cors(headers: &Headers, grant: CorsGrant) -> worker::Result<()> {
    match grant {
        CorsGrant::Origin(origin) => {
            headers.set("Access-Control-Allow-Origin", origin)?;
            headers.set("Access-Control-Allow-Credentials", "true")?;
        }
        CorsGrant::Any => headers.set("Access-Control-Allow-Origin", "*")?,
    }
    headers.set("Access-Control-Expose-Headers", "Last-Event-ID")
}

/// The hub's settings, or 404 when it is off.
fn hub(settings: &Settings) -> Result<&MercureSettings, ServerError> {
    settings.mercure.as_ref().ok_or_else(|| {
        refused(
            ErrorCode::NotFound,
            "the Mercure hub is off: set MERCURE_PUBLISHER_JWT_KEY to turn it on",
        )
    })
}

/// The request's token (header, `authorization` query parameter, then the cookie if `cookie`).
fn token_of(req: &Request, cookie: bool) -> Result<Option<String>, ServerError> {
    let url = req.url()?;
    let query = url
        .query_pairs()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.into_owned());
    let cookie = if cookie {
        req.headers().get("Cookie")?
    } else {
        None
    };
    Ok(request_token(
        req.headers().get("Authorization")?.as_deref(),
        query.as_deref(),
        cookie.as_deref(),
    )?)
}

fn now_seconds() -> i64 {
    (now_ms() / 1000) as i64
}

/// `POST /.well-known/mercure`.
pub async fn publish(
    mut req: Request,
    env: &Env,
    settings: &Settings,
) -> Result<Response, ServerError> {
    let hub = hub(settings)?;
    let req_url = req.url()?;
    // Never the cookie: a browser adds it to any site's form post to the hub (CSRF).
    let token = token_of(&req, false)?.ok_or_else(|| {
        refused(
            ErrorCode::MissingToken,
            "a Mercure publish carries its token in the Authorization header (Bearer) or the \
             authorization query parameter: a cookie is not accepted for publishing",
        )
    })?;
    let claims = mercure::verify(&hub.publisher, &token, now_seconds())?;
    let body = crate::edge::capped_body(&mut req).await?;
    let update = parse_update(&body)?;
    let allowed = selectors(&claims, "publish")?;
    for topic in &update.topics {
        if !any_matches(&allowed, std::slice::from_ref(topic))? {
            return Err(refused(
                ErrorCode::TopicForbidden,
                format!("the token's mercure.publish selectors do not cover the topic {topic:?}"),
            ));
        }
    }
    let mapped = mercure::update_topics(&update, &settings.room.namespaces)?;
    let mut topics: BTreeSet<_> = mapped.iter().map(|(topic, _)| topic.clone()).collect();
    // The update is stored for the template selectors that match it too (those of its topics
    // that any subscriber may read).
    let open: Vec<String> = update
        .topics
        .iter()
        .zip(&mapped)
        .filter(|(_, (_, open))| *open)
        .map(|(text, _)| text.clone())
        .collect();
    for selector in templates(env, None).await? {
        // A selector the hub reads no more (kept since before a stricter check) matches nothing.
        if mercure::any_matches(std::slice::from_ref(&selector), &open) == Ok(true) {
            topics.insert(mercure::template_topic(&selector)?);
        }
    }
    let id = update.id.clone().unwrap_or_else(new_update_id);
    let stored = StoredUpdate::new(update, id.clone());
    let payload = RawValue::from_string(serde_json::to_string(&stored).unwrap_or_default())
        .map_err(|err| ServerError::Internal(err.to_string()))?;
    let answers = join_all(topics.iter().map(|topic| {
        let event = NewEvent {
            to: Target::Topic(topic.clone()),
            name: stored.event_name().to_owned(),
            payload: payload.clone(),
            idempotency_key: Some(IdempotencyKey::Event(id.clone())),
        };
        let call = TopicCall::Publish(TopicPublishCall {
            topic: topic.as_str().to_owned(),
            events: vec![event],
        });
        async move {
            Object::Topic(topic.as_str())
                .call::<PublishAnswer>(env, &call.to_json())
                .await
        }
    }))
    .await;
    mercure::stored_everywhere(
        &id,
        answers
            .into_iter()
            .map(|answer| answer.map(|a| a.outcomes.into_iter().next())),
    )?;
    let headers = Headers::new();
    headers.set("Content-Type", "text/plain; charset=utf-8")?;
    headers.set("Link", &discovery(&req_url)?)?;
    Ok(Response::ok(id)?.with_headers(headers))
}

/// The discovery link a hub answers with: `<https://host/.well-known/mercure>; rel="mercure"`.
fn discovery(url: &worker::Url) -> Result<String, ServerError> {
    Ok(format!(
        "<{}{}>; rel=\"mercure\"",
        url.origin().ascii_serialization(),
        mercure::MERCURE_PATH
    ))
}

/// The template selectors subscribed so far, after adding `add`: one request to the registry.
async fn templates(env: &Env, add: Option<&str>) -> Result<Vec<String>, ServerError> {
    let call = TopicCall::<NewEvent>::Templates(TemplatesCall {
        add: add.map(str::to_owned),
    });
    Object::Topic(TEMPLATES_OBJECT)
        .call::<TemplatesAnswer>(env, &call.to_json())
        .await
        .map(|answer| answer.templates)
        .map_err(|failure| {
            refused(
                failure.code,
                format!("the Mercure templates registry failed: {}", failure.message),
            )
        })
}

/// When the event a `Last-Event-ID` names was stored, asking `topics` (one request each, in
/// parallel): the earliest time any of them answers, `None` when none holds it.
async fn stored_at(
    env: &Env,
    last_event_id: &str,
    topics: &[&Topic],
) -> Result<Option<u64>, ServerError> {
    let answers = try_join_all(topics.iter().map(|topic| {
        let call = TopicCall::<NewEvent>::StoredAt(StoredAtCall {
            topic: topic.as_str().to_owned(),
            last_event_id: last_event_id.to_owned(),
        });
        async move {
            Object::Topic(topic.as_str())
                .call::<StoredAtAnswer>(env, &call.to_json())
                .await
                .map_err(|failure| refused(failure.code, failure.message))
        }
    }))
    .await?;
    Ok(answers.into_iter().filter_map(|answer| answer.ms).min())
}

/// A new update id: `urn:uuid:` and a UUIDv7 (time-ordered).
fn new_update_id() -> String {
    let mut random = [0u8; 10];
    for byte in &mut random {
        *byte = (js_sys::Math::random() * 256.0) as u8;
    }
    mercure::uuid_v7(now_ms(), random)
}

/// `GET /.well-known/mercure?topic=…`: the SSE stream.
pub async fn subscribe(
    req: Request,
    env: &Env,
    ctx: &Context,
    settings: &Settings,
) -> Result<Response, ServerError> {
    let hub = hub(settings)?;
    let now = now_seconds();
    let claims = match token_of(&req, true)? {
        Some(token) => Some(mercure::verify(&hub.subscriber, &token, now)?),
        None if hub.anonymous => None,
        None => return Err(ServerError::MissingToken),
    };
    let url = req.url()?;
    let asked: Vec<String> = url
        .query_pairs()
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v.into_owned())
        .collect();
    if asked.is_empty() {
        return Err(refused(
            ErrorCode::InvalidField,
            "Missing \"topic\" parameter",
        ));
    }
    if asked.len() > hub.max_topics {
        return Err(refused(
            ErrorCode::InvalidField,
            format!(
                "at most {} topics per subscription (MERCURE_MAX_TOPICS)",
                hub.max_topics
            ),
        ));
    }
    let last_event_id = req.headers().get("Last-Event-ID")?.or_else(|| {
        url.query_pairs()
            .find(|(k, _)| k == "lastEventID" || k == "Last-Event-ID")
            .map(|(_, v)| v.into_owned())
    });
    let exp = claims
        .as_ref()
        .and_then(|c| c.get("exp"))
        .and_then(numeric_date)
        .unwrap_or(i64::MAX);
    let lifetime_s = (hub.max_connection_s as i64)
        .min(exp.saturating_sub(now))
        .max(1);
    let may_read = match &claims {
        Some(claims) => selectors(claims, "subscribe")?,
        None => Vec::new(),
    };

    let namespaces = &settings.room.namespaces;
    let topics = asked
        .iter()
        .map(|text| {
            if mercure::is_template(text) {
                mercure::template_topic(text)
            } else {
                mercure::subscribed_topic(text, namespaces, &may_read)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let since_key_ms = match &last_event_id {
        Some(id) => stored_at(env, id, &mercure::topics_to_ask(id, &topics)).await?,
        None => None,
    };
    // One topic socket per topic, all connected at once.
    let sockets = try_join_all(asked.iter().zip(&topics).map(|(text, topic)| {
        let last_event_id = last_event_id.clone();
        async move {
            if mercure::is_template(text) {
                templates(env, Some(text)).await?;
            }
            let shards = namespaces.options(topic).map_or(1, |o| o.shards.max(1));
            let shard = (js_sys::Math::random() * f64::from(shards)) as u32 % shards;
            let connect = ShardCall::Connect(ShardConnectCall {
                topic: topic.as_str().to_owned(),
                shard,
                // No user id is empty: no user's revoke or logout closes these sockets.
                user: String::new(),
                exp: now + lifetime_s,
                iat: None,
                subprotocol: false,
                since: None,
                epoch: None,
                since_key: last_event_id,
                since_key_ms,
            });
            let socket = crate::edge::upgrade(
                env,
                Object::Shard(topic.as_str(), shard),
                &connect.to_json(),
            )
            .await?
            .map_err(|failure| refused(failure.code, failure.message))?;
            socket
                .websocket()
                .ok_or_else(|| ServerError::Internal("the shard answered without a socket".into()))
        }
    }))
    .await?;

    let stream = web_sys::TransformStream::new().map_err(worker::Error::from)?;
    let writer = stream
        .writable()
        .get_writer()
        .map_err(worker::Error::from)?;
    let (greeted, greetings) = oneshot::channel();
    ctx.wait_until(relay_updates(
        Relay {
            sockets,
            may_read,
            heartbeat: Duration::from_secs(hub.heartbeat_s),
            lifetime: Duration::from_secs(lifetime_s as u64),
            merge_replays: last_event_id.is_some() && asked.len() > 1,
        },
        greeted,
        writer,
    ));
    let greetings = greetings.await.unwrap_or_default();
    let headers = Headers::new();
    if let Some(asked) = &last_event_id {
        // An id that is no header value (a line end in the query's) answers `earliest`.
        let preceding = mercure::preceding_id(asked, &greetings);
        if headers.set("Last-Event-ID", preceding).is_err() {
            headers.set("Last-Event-ID", EARLIEST)?;
        }
    }
    headers.set("Content-Type", "text/event-stream")?;
    headers.set(
        "Cache-Control",
        "private, no-cache, no-store, must-revalidate, max-age=0",
    )?;
    headers.set("X-Accel-Buffering", "no")?;
    headers.set("Link", &discovery(&url)?)?;
    if let Some(origin) = req.headers().get("Origin")?
        && let Some(grant) = hub.cors_grant(&origin)
    {
        set_cors(&headers, grant)?;
    }
    Ok(Response::from_body(ResponseBody::Stream(stream.readable()))?.with_headers(headers))
}

/// A subscription's topic sockets, accepted, and how to relay them.
struct Relay {
    sockets: Vec<WebSocket>,
    /// The subscriber's `mercure.subscribe` selectors.
    may_read: Vec<String>,
    heartbeat: Duration,
    lifetime: Duration,
    /// A resume of several topics: their replays go out in the order the events were stored.
    merge_replays: bool,
}

/// How long a resume waits for its topics' replays to be complete before it writes what came.
const REPLAYS_WAIT: Duration = Duration::from_secs(10);

/// Writes the topics' updates to the SSE stream (a private update only when the subscriber's
/// selectors match one of its topics; an update of several subscribed topics once), a
/// heartbeat `:` line when nothing was written for `heartbeat`, until the lifetime is over or
/// the client went away. Each socket's first frame (`subscribed`, or `unsubscribed` when its
/// join failed) goes to `greeted` first, for the response's headers.
async fn relay_updates(
    relay: Relay,
    greeted: oneshot::Sender<Vec<Option<String>>>,
    writer: web_sys::WritableStreamDefaultWriter,
) {
    let Relay {
        sockets,
        may_read,
        heartbeat,
        lifetime,
        merge_replays,
    } = relay;
    let write = |text: String| {
        let chunk = js_sys::Uint8Array::from(text.as_bytes());
        JsFuture::from(writer.write_with_chunk(&JsValue::from(chunk)))
    };
    // Each socket is accepted with its listeners in one step: an accepted socket dispatches its
    // frames (the replay first) at once and keeps none for listeners attached later.
    let Ok(mut streams) = sockets
        .iter()
        .map(|ws| ws.accept().and_then(|()| ws.events()))
        .collect::<worker::Result<Vec<_>>>()
    else {
        let _ = JsFuture::from(writer.close()).await;
        return;
    };
    let mut greetings = Vec::with_capacity(streams.len());
    for stream in &mut streams {
        greetings.push(match stream.next().await {
            Some(Ok(WebsocketEvent::Message(message))) => message.text(),
            _ => None,
        });
    }
    let _ = greeted.send(greetings);
    if write(":\n\n".to_owned()).await.is_err() {
        return;
    }
    let mut seen = HashSet::new();
    let mut end = Delay::from(lifetime);
    let mut open = true;
    if merge_replays {
        // Written as they come, one topic's newest update could go out before another's older
        // ones, and a stream cut there would resume past those: the replays go out merged. One
        // cut short ends the stream with none of them written: the client resumes again from
        // the same id.
        let replays = replays_until_pong(&sockets, &mut streams).await;
        open = replays.is_some();
        for frame in mercure::in_stored_order(replays.unwrap_or_default()) {
            if let Some(text) = sse_of(&frame, &may_read, &mut seen)
                && write(text).await.is_err()
            {
                open = false;
                break;
            }
        }
    }
    if open {
        let mut events = select_all(streams);
        // Due `heartbeat` after the last write, however many frames came and were dropped since.
        let mut beat = Delay::from(heartbeat);
        loop {
            let next = select(events.next(), &mut beat);
            let text = match select(next, &mut end).await {
                Either::Right(_) => break,
                Either::Left((Either::Right(_), _)) => Some(":\n\n".to_owned()),
                Either::Left((Either::Left((None | Some(Err(_)), _)), _)) => break,
                Either::Left((Either::Left((Some(Ok(WebsocketEvent::Close(_))), _)), _)) => break,
                Either::Left((
                    Either::Left((Some(Ok(WebsocketEvent::Message(message))), _)),
                    _,
                )) => message
                    .text()
                    .and_then(|frame| sse_of(&frame, &may_read, &mut seen)),
            };
            if let Some(text) = text {
                if write(text).await.is_err() {
                    break;
                }
                beat = Delay::from(heartbeat);
            }
        }
    }
    let _ = JsFuture::from(writer.close()).await;
    for ws in &sockets {
        let _ = ws.close(Some(1000), Some("subscription over"));
    }
    log("mercure_closed", &[("topics", sockets.len().to_string())]);
}

/// Each topic socket's replay (the frames already sent to it when it was handed over): a ping's
/// pong follows them on each socket. `None` when one is cut short: its socket closed, or no pong
/// within [`REPLAYS_WAIT`].
async fn replays_until_pong(
    sockets: &[WebSocket],
    streams: &mut [worker::EventStream<'_>],
) -> Option<Vec<Vec<String>>> {
    for ws in sockets {
        let _ = ws.send_with_str(PING);
    }
    let mut wait = Delay::from(REPLAYS_WAIT);
    let mut replays = Vec::with_capacity(streams.len());
    for stream in streams {
        let mut replay = Vec::new();
        loop {
            match select(stream.next(), &mut wait).await {
                Either::Left((Some(Ok(WebsocketEvent::Message(message))), _)) => {
                    match message.text() {
                        Some(text) if text == PONG => break,
                        Some(text) => replay.push(text),
                        None => {}
                    }
                }
                Either::Left(_) | Either::Right(_) => return None,
            }
        }
        replays.push(replay);
    }
    Some(replays)
}

/// The SSE text for a frame from a topic socket, if the subscriber gets it.
fn sse_of(frame: &str, may_read: &[String], seen: &mut HashSet<String>) -> Option<String> {
    let frame: serde_json::Value = serde_json::from_str(frame).ok()?;
    if frame["type"] != "event" {
        return None;
    }
    // An update published through Mercure, or any other event of the topic (published with
    // `POST /publish`): then its name is the type, its payload the data, its topic id the id.
    let update = StoredUpdate::from_payload(&frame["payload"]).unwrap_or_else(|| StoredUpdate {
        id: format!(
            "{}/{}",
            frame["topic"].as_str().unwrap_or_default(),
            frame["id"]
        ),
        data: frame["payload"].to_string(),
        private: false,
        kind: frame["name"].as_str().map(str::to_owned),
        retry: None,
        topics: Vec::new(),
    });
    if update.private && !any_matches(may_read, &update.topics).unwrap_or(false) {
        return None;
    }
    seen.insert(update.id.clone()).then(|| update.sse())
}
