//! The Durable Object shell around [`Room`]: one per user, holding that user's sockets through
//! the hibernation API and its history in SQLite. It only translates runtime events and
//! [`RoomCall`]s into room calls, and room results into socket sends and answers. For topics it
//! joins and leaves topics for its sockets ([`crate::subscriptions`]) and hands relayed topic
//! events to the sockets that subscribed.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use edgepush_protocol::codes::{CloseCode, ErrorCode};
use edgepush_protocol::frames::{ClientFrame, PING, PONG, SUBPROTOCOL, Subscription};
use edgepush_protocol::publish::NewEvent;
use futures_util::future::{join, join_all};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{
    DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketIncomingMessage,
    WebSocketPair, durable_object, worker_sys::WebSocketRequestResponsePair,
};

use crate::config::Settings;
use crate::expiry;
use crate::history::StoreError;
use crate::internal::{
    ConnectCall, DeliverAnswer, DeliverCall, DisconnectAnswer, DisconnectCall, JoinCall, Member,
    PublishAnswer, RevokeAnswer, RevokeCall, RoomCall, RoomFailure, RoomOutcome, ShardCall,
    ShardCloseCall, SocketsAnswer, TopicSocketCall, answer_json,
};
use crate::limits::{ConnectGate, Limits, Refused, Window, is_revoked};
use crate::namespaces::Reader;
use crate::objects::{
    Answer, Caller, Object, Outcome, answer_rpc, connect_text, misrouted, to_response,
};
use crate::room::{Accepted, ResumeRequest, Room, Visitor};
use crate::runtime::{Broadcast, DurableSql, log, new_epoch, now_ms, random_id};
use crate::sockets::{self, SocketInfo, error_frame};
use crate::sql_store::{SqlStore, Subscriptions, TopicSockets, revocation_in};
use crate::subscriptions::{self, Decision, Joins};

/// Who asked for a subscription, which decides what is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// The client, in a `subscribe` frame: may the socket's user read the topic?
    ByClient,
    /// The backend (`POST /subscribe`, the token's `subs`): is it a topic of a declared
    /// namespace?
    ByBackend,
}

/// The per-user Durable Object.
#[durable_object]
pub struct RoomObject {
    state: State,
    env: Env,
    room: RefCell<Option<Room<SqlStore<DurableSql>>>>,
    subscriptions: RefCell<Option<Rc<Subscriptions<DurableSql>>>>,
    gate: RefCell<ConnectGate>,
    joins: RefCell<Joins>,
    /// Calls the topics the sockets read, one stub each.
    topics: Caller,
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        // Heartbeats are answered by the runtime, so they never wake a hibernating room.
        if let Ok(pair) = WebSocketRequestResponsePair::new(PING, PONG) {
            state.set_websocket_auto_response(&pair);
        }
        // Logged on every wake-up, so hibernation can be observed; without listing the sockets,
        // which a wake-up does not need.
        log("room_wake", &[]);
        Self {
            state,
            topics: Caller::new(env.clone()),
            env,
            room: RefCell::new(None),
            subscriptions: RefCell::new(None),
            gate: RefCell::default(),
            joins: RefCell::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        to_response(match RoomCall::from_json(&connect_text(&req)?) {
            Ok(RoomCall::Connect(call)) => self.accept_socket(&call).await,
            Ok(_) => Err(misrouted()),
            Err(failure) => Err(failure),
        })
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // The exact PING never gets here (auto-response); anything else is counted against the
        // socket's budget and answered in place.
        let limits = self.settings().map_or(Limits::default(), |s| s.room.limits);
        let Ok(info) = sockets::count_frame(&ws, limits.frames_per_socket) else {
            return Ok(());
        };
        let frame = match message {
            WebSocketIncomingMessage::String(text) => serde_json::from_str::<ClientFrame>(&text)
                .map_err(|err| {
                    format!(
                        "not a client frame ({err}): send ping, subscribe or unsubscribe; \
                         events flow from the server"
                    )
                }),
            WebSocketIncomingMessage::Binary(_) => {
                Err("binary frames are not part of the protocol".to_owned())
            }
        };
        // A socket that closed meanwhile cannot be answered; that is not an error of the room.
        match (frame, info) {
            (Ok(ClientFrame::Ping), _) => {
                let _ = ws.send_with_str(PONG);
            }
            (Ok(ClientFrame::Subscribe { topics }), Some(info)) => {
                self.subscribe(&ws, info, topics, Asked::ByClient).await;
            }
            (Ok(ClientFrame::Unsubscribe { topics }), Some(info)) => {
                self.unsubscribe(&ws, info, &topics).await;
            }
            (Ok(_), None) => {
                let _ = ws.send_with_str(error_frame(
                    ErrorCode::InternalError,
                    "this socket's state was lost; reconnect to subscribe",
                ));
            }
            (Err(message), _) => {
                let _ = ws.send_with_str(error_frame(ErrorCode::InvalidFrame, &message));
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        let info = SocketInfo::of(&ws);
        // Complete the closing handshake; the socket may already be gone.
        let _ = ws.close(Some(CloseCode::Normal.as_u16()), Some("bye"));
        log(
            "disconnect",
            &[
                (
                    "conn",
                    info.as_ref().map(|i| i.conn.clone()).unwrap_or_default(),
                ),
                ("code", code.to_string()),
            ],
        );
        if let Some(info) = info {
            self.unsubscribe_all(&info).await;
        }
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        log("socket_error", &[("error", error.to_string())]);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        sockets::close_expired(&self.state).await?;
        Response::empty()
    }
}

#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl RoomObject {
    /// A call over Workers RPC (the method `call` of `server/entry.js`): `[status, body]` at
    /// once, or `undefined` for a backend subscription, which waits on topics and so goes to
    /// [`Self::rpc_later`]. Answering at once spares the hot calls (publish, deliver) a promise
    /// and a task.
    #[wasm_bindgen(js_name = call)]
    pub fn rpc(&self, call: String) -> JsValue {
        match RoomCall::from_json(&call) {
            Ok(
                RoomCall::Subscribe(_)
                | RoomCall::Unsubscribe(_)
                | RoomCall::Disconnect(_)
                | RoomCall::Revoke(_),
            ) => JsValue::UNDEFINED,
            call => answer_rpc(call.and_then(|call| self.answer_now(call))),
        }
    }

    /// A call that waits on other objects (the calls [`Self::rpc`] leaves): a backend
    /// subscription, a disconnect or a revoke (which close the user's topic sockets on their
    /// shards too); answers `[status, body]`.
    #[wasm_bindgen(js_name = callLater)]
    pub async fn rpc_later(&self, call: String) -> JsValue {
        let answer = match RoomCall::from_json(&call) {
            Ok(RoomCall::Subscribe(call)) => self
                .backend_subscription(&call.topics, true)
                .await
                .map(|a| answer_json(&a)),
            Ok(RoomCall::Unsubscribe(call)) => self
                .backend_subscription(&call.topics, false)
                .await
                .map(|a| answer_json(&a)),
            Ok(RoomCall::Disconnect(call)) => self.disconnect(&call).await.map(|a| answer_json(&a)),
            Ok(RoomCall::Revoke(call)) => self.revoke(&call).await.map(|a| answer_json(&a)),
            Ok(_) => Err(misrouted()),
            Err(failure) => Err(failure),
        };
        answer_rpc(answer)
    }
}

impl RoomObject {
    /// Answers a call that needs no other object.
    fn answer_now(&self, call: RoomCall) -> Answer {
        match call {
            RoomCall::Publish(call) => self.publish(&call.events).map(|a| answer_json(&a)),
            RoomCall::Deliver(call) => self.deliver(&call).map(|a| answer_json(&a)),
            RoomCall::Presence => Ok(answer_json(&SocketsAnswer {
                sockets: self.state.get_websockets().len() as u32,
            })),
            RoomCall::TopicSocket(call) => self
                .topic_socket(&call)
                .map(|()| answer_json(&serde_json::json!({}))),
            RoomCall::Connect(_)
            | RoomCall::Subscribe(_)
            | RoomCall::Unsubscribe(_)
            | RoomCall::Disconnect(_)
            | RoomCall::Revoke(_) => Err(misrouted()),
        }
    }

    /// The worker's settings, read once per isolate.
    fn settings(&self) -> Outcome<Rc<Settings>> {
        Ok(crate::objects::settings(&self.env)?)
    }

    /// Runs `f` on the room, opening it from storage on first use after a wake-up.
    fn with_room<T>(
        &self,
        f: impl FnOnce(&mut Room<SqlStore<DurableSql>>) -> std::result::Result<T, StoreError>,
    ) -> Outcome<T> {
        let mut slot = self.room.borrow_mut();
        let room = match slot.take() {
            Some(room) => slot.insert(room),
            None => {
                let settings = &self.settings()?.room;
                let store =
                    SqlStore::open(DurableSql::of(&self.state)?, settings.fail_marker.clone())?;
                slot.insert(Room::open(store, settings.history, new_epoch)?)
            }
        };
        Ok(f(room)?)
    }

    /// Accepts a verified socket. Everything that can fail happens before the socket is
    /// accepted, so a failure is the answer, never a half-open socket.
    async fn accept_socket(&self, call: &ConnectCall) -> Outcome<Result<Response>> {
        let settings = self.settings()?;
        let settings = &settings.room;
        if settings.fail_marker.as_deref() == Some(call.user.as_str()) {
            return Err(RoomFailure::new(
                ErrorCode::InternalError,
                "the room failed to connect the user (test hook)",
            ));
        }
        let open = self.state.get_websockets().len();
        self.admit(&call.user, &call.token_id, open, &settings.limits)?;
        self.refuse_revoked(&call.user, call.iat)?;
        sockets::schedule_expiry(&self.state, call.exp).await?;
        let conn = random_id();
        let pair = WebSocketPair::new()?;
        let now = now_ms();
        // No await from here on: no event can slip between the replay and the live stream.
        let greeting = self.with_room(|room| {
            room.greet(
                &Visitor {
                    user: &call.user,
                    connection: &conn,
                    token_expires_at: call.exp,
                },
                &ResumeRequest {
                    since: call.since,
                    epoch: call.epoch.clone(),
                },
                now,
            )
        })?;
        self.state.accept_web_socket(&pair.server);
        let attached = pair.server.serialize_attachment(SocketInfo {
            conn: conn.clone(),
            exp: call.exp.min(expiry::LATEST_EXP),
            iat: call.iat,
            frames: Window::default(),
            user: call.user.clone(),
            grants: call.grants.clone(),
            seat: None,
        });
        if let Err(err) = attached {
            let code = CloseCode::InternalError;
            let _ = pair.server.close(Some(code.as_u16()), Some(code.reason()));
            return Err(err.into());
        }
        // Sends fail only once the client went away; its next connect resumes.
        let _ = pair.server.send_with_str(&greeting.first);
        let mut replayed = 0;
        let mut page = greeting.replay;
        loop {
            for frame in &page.frames {
                let _ = pair.server.send_with_str(frame);
            }
            replayed += page.frames.len();
            let Some(after) = page.next_after else { break };
            match self.with_room(|room| room.replay_after(after)) {
                Ok(next) => page = next,
                Err(failure) => {
                    let code = CloseCode::InternalError;
                    let _ = pair.server.close(Some(code.as_u16()), Some(code.reason()));
                    log("replay_failed", &[("message", failure.message)]);
                    break;
                }
            }
        }
        // The subscriptions the backend made, by `POST /subscribe` or in the token's `subs`.
        let mut backend = self
            .subscriptions()
            .and_then(|s| Ok(s.backend_topics()?))
            .unwrap_or_default();
        backend.extend(call.subs.iter().cloned());
        if !backend.is_empty()
            && let Some(info) = SocketInfo::of(&pair.server)
        {
            let items = backend.into_iter().map(Subscription::live).collect();
            self.subscribe(&pair.server, info, items, Asked::ByBackend)
                .await;
        }
        log(
            "connect",
            &[
                ("user", call.user.clone()),
                ("conn", conn),
                ("sockets", self.state.get_websockets().len().to_string()),
                ("replayed", replayed.to_string()),
            ],
        );
        let mut response = Response::from_websocket(pair.client)?;
        if call.subprotocol {
            response
                .headers_mut()
                .set("Sec-WebSocket-Protocol", SUBPROTOCOL)?;
        }
        Ok(Ok(response))
    }

    fn publish(&self, events: &[NewEvent]) -> Outcome<PublishAnswer> {
        let accepted = self.with_room(|room| room.publish(events, now_ms()))?;
        let sockets = self.state.get_websockets();
        let outcomes = accepted
            .into_iter()
            .map(|a| match a {
                Accepted::Stored { id, frame } => RoomOutcome::Stored {
                    id,
                    sockets: {
                        let frame = Broadcast::new(&frame);
                        sockets.iter().filter(|ws| frame.send(ws)).count() as u32
                    },
                    relays: None,
                },
                Accepted::Duplicate { id } => RoomOutcome::Duplicate { id },
                Accepted::Conflict { id } => RoomOutcome::Conflict { id },
            })
            .collect();
        Ok(PublishAnswer { outcomes })
    }

    /// Admits one more connect of `user` with the token `token_id` (its signature), `open`
    /// sockets being open: refused past the socket cap or the connect rates.
    fn admit(&self, user: &str, token_id: &str, open: usize, limits: &Limits) -> Outcome<()> {
        let admitted = self
            .gate
            .borrow_mut()
            .admit(limits, token_id, open, now_ms());
        match admitted {
            Ok(()) => Ok(()),
            Err(Refused::TooManySockets) => Err(RoomFailure::new(
                ErrorCode::TooManyConnections,
                format!(
                    "user {user:?} has {open} open sockets, the most MAX_SOCKETS_PER_USER \
                     allows; close one, or retry later"
                ),
            )),
            Err(Refused::TooOften { retry_after_ms }) => Err(RoomFailure::new(
                ErrorCode::RateLimited,
                format!(
                    "too many connects of user {user:?} or of this token within a minute \
                     (MAX_CONNECTS_PER_USER_PER_MINUTE {}, \
                     MAX_CONNECTS_PER_TOKEN_PER_MINUTE {}); retry in {} s",
                    limits.connects_per_user,
                    limits.connects_per_token,
                    retry_after_ms.div_ceil(1000)
                ),
            )
            .retry_after(retry_after_ms)),
        }
    }

    /// Refuses a token of `user` issued at `iat` if the user's tokens were revoked since.
    fn refuse_revoked(&self, user: &str, iat: Option<i64>) -> Outcome<()> {
        let revoked_at = revocation_in(&DurableSql::of(&self.state)?)?;
        if !is_revoked(iat, revoked_at) {
            return Ok(());
        }
        Err(RoomFailure::new(
            ErrorCode::TokenRevoked,
            format!(
                "the tokens of user {user:?} issued at or before {} were revoked (logout); \
                 this one was issued {}: sign in again for a new token",
                revoked_at.unwrap_or_default(),
                iat.map_or("without iat".to_owned(), |iat| format!("at {iat}")),
            ),
        ))
    }

    /// A topic socket of the user is about to be accepted by a shard: refused past the connect
    /// rates or for a revoked token, else its shard is remembered for a later revoke or logout.
    fn topic_socket(&self, call: &TopicSocketCall) -> Outcome<()> {
        // Topic sockets count toward the connect rates, not toward the room's socket cap.
        let limits = self.settings()?.room.limits;
        self.admit(&call.user, &call.token_id, 0, &limits)?;
        self.refuse_revoked(&call.user, call.iat)?;
        TopicSockets::open(DurableSql::of(&self.state)?)?.remember(
            &call.topic,
            call.shard,
            call.exp.min(expiry::LATEST_EXP),
            (now_ms() / 1000) as i64,
        )?;
        Ok(())
    }

    /// Closes every socket with `reconnect`, the user's topic sockets included; without it (a
    /// logout) revokes every token issued until the backend signed the call and closes their
    /// sockets, as a revoke does: the same logout sent again (a retry, a replay) closes no
    /// session that began after it.
    async fn disconnect(&self, call: &DisconnectCall) -> Outcome<DisconnectAnswer> {
        if !call.reconnect {
            let at = call.signed_at.unwrap_or((now_ms() / 1000) as i64);
            let revoke = RevokeCall {
                user: call.user.clone(),
                at,
            };
            let RevokeAnswer { sockets, .. } = self.revoke(&revoke).await?;
            return Ok(DisconnectAnswer { sockets });
        }
        let own = sockets::close_where(&self.state, CloseCode::ServiceRestart, |_| true);
        let close = ShardCloseCall {
            user: call.user.clone(),
            reconnect: true,
            issued_until: None,
        };
        let on_shards = self.close_topic_sockets(&close).await?;
        Ok(DisconnectAnswer {
            sockets: own + on_shards,
        })
    }

    /// Revokes the tokens issued at or before `at` and closes their sockets, topic sockets
    /// included.
    async fn revoke(&self, call: &RevokeCall) -> Outcome<RevokeAnswer> {
        let revoked_at = self.with_room(|room| room.revoke(call.at))?;
        let own = sockets::close_where(&self.state, CloseCode::Revoked, |info| {
            is_revoked(info.and_then(|i| i.iat), Some(revoked_at))
        });
        let close = ShardCloseCall {
            user: call.user.clone(),
            reconnect: false,
            issued_until: Some(revoked_at),
        };
        let on_shards = self.close_topic_sockets(&close).await?;
        Ok(RevokeAnswer {
            revoked_at,
            sockets: own + on_shards,
        })
    }

    /// Asks every shard where the user may have a topic socket open to close the user's
    /// sockets there. A shard that fails fails the call, so the backend retries it (a revoke
    /// or a disconnect can be repeated).
    async fn close_topic_sockets(&self, close: &ShardCloseCall) -> Outcome<u32> {
        let now = (now_ms() / 1000) as i64;
        let shards = match TopicSockets::existing(DurableSql::of(&self.state)?)? {
            Some(registry) => registry.open_at(now)?,
            None => return Ok(0),
        };
        if shards.is_empty() {
            return Ok(0);
        }
        let user = &close.user;
        let call = ShardCall::Close(close.clone()).to_json();
        let answers = join_all(shards.iter().map(|(topic, shard)| {
            Object::Shard(topic, *shard).call::<SocketsAnswer>(&self.env, &call)
        }))
        .await;
        answers.into_iter().try_fold(0, |closed, answer| {
            answer.map(|a| closed + a.sockets).map_err(|failure| {
                RoomFailure::new(
                    failure.code,
                    format!(
                        "closing the topic sockets of user {user:?} failed: {}; the \
                             revocation is stored, send the request again",
                        failure.message
                    ),
                )
            })
        })
    }

    /// The sockets' subscriptions, opened once per wake-up; sockets that went away while the
    /// room was evicted are forgotten then.
    fn subscriptions(&self) -> Outcome<Rc<Subscriptions<DurableSql>>> {
        let mut slot = self.subscriptions.borrow_mut();
        if let Some(subscriptions) = slot.as_ref() {
            return Ok(subscriptions.clone());
        }
        let subscriptions = Subscriptions::open(DurableSql::of(&self.state)?)?;
        let open = self
            .state
            .get_websockets()
            .iter()
            .filter_map(SocketInfo::of)
            .map(|info| info.conn)
            .collect();
        subscriptions.keep_only(&open)?;
        Ok(slot.insert(Rc::new(subscriptions)).clone())
    }

    /// Decides a `subscribe` frame's topics, records the accepted ones, answers the refused
    /// ones, and joins the accepted ones (all at once).
    async fn subscribe(
        &self,
        ws: &WebSocket,
        info: SocketInfo,
        items: Vec<Subscription>,
        asked: Asked,
    ) {
        let ready = self.settings().and_then(|settings| {
            let subscriptions = self.subscriptions()?;
            let topics = subscriptions.topics_of(&info.conn)?;
            Ok((settings, subscriptions, topics))
        });
        let (settings, subscriptions, mut topics) = match ready {
            Ok(ready) => ready,
            Err(failure) => {
                let _ = ws.send_with_str(error_frame(failure.code, &failure.message));
                return;
            }
        };
        let now = (now_ms() / 1000) as i64;
        let reader = Reader {
            user: &info.user,
            grants: &info.grants,
        };
        let namespaces = &settings.room.namespaces;
        let decisions = subscriptions::decide(
            items,
            &mut topics,
            settings.room.max_topics_per_socket,
            |item| {
                match asked {
                    Asked::ByClient => {
                        let token = item
                            .token
                            .as_deref()
                            .map(|token| settings.tokens.verify_subscription(token, now));
                        namespaces.authorize(&item.topic, reader, token)
                    }
                    Asked::ByBackend => namespaces.validate(&item.topic),
                }
                .and_then(|topic| namespaces.over_room(topic))
            },
        );
        let mut joining = Vec::new();
        let mut ending = Vec::new();
        for decision in decisions {
            match decision {
                Decision::Refuse(frame) => {
                    let _ = ws.send_with_str(frame);
                }
                Decision::End { topic, frame } => {
                    let _ = ws.send_with_str(frame);
                    ending.push(topic);
                }
                Decision::Join {
                    topic,
                    resume,
                    fresh,
                } => joining.push((topic, resume, fresh)),
            }
        }
        let names = joining.iter().map(|(topic, _, _)| topic.as_str());
        let stored = subscriptions.add(&info.conn, names);
        if let Err(err) = &stored {
            for (topic, _, fresh) in &joining {
                let _ = ws.send_with_str(subscriptions::unsubscribed(
                    topic.as_str(),
                    ErrorCode::InternalError,
                    format!("storing the subscription failed: {err}; subscribe again"),
                ));
                // One the socket held ends too, as its frame says (its row outlived the write).
                if !fresh {
                    ending.push(topic.as_str().to_owned());
                }
            }
        }
        // The held topics refused now end, alongside the joins (a frame that ends none reads
        // nothing for it).
        let ending = &ending;
        let ended = async {
            if !ending.is_empty() {
                self.unsubscribe(ws, info.clone(), ending).await;
            }
        };
        if stored.is_err() {
            ended.await;
            return;
        }
        for (topic, _, fresh) in &joining {
            self.joins
                .borrow_mut()
                .start(&info.conn, topic.as_str(), *fresh);
        }
        let info = &info;
        let joined = join_all(
            joining
                .into_iter()
                .map(|(topic, resume, fresh)| async move {
                    let call = JoinCall {
                        topic: topic.as_str().to_owned(),
                        member: Member::Room(info.user.clone()),
                        fresh,
                        since: resume.since,
                        epoch: resume.epoch,
                        since_key: None,
                        since_key_ms: None,
                    };
                    let joined =
                        sockets::join_topic(&self.topics, ws, &self.joins, &info.conn, call).await;
                    // Left meanwhile: the leave is due now, unless the socket holds the topic
                    // again (subscribed once more while joining).
                    let names = [topic.as_str().to_owned()];
                    if self
                        .joins
                        .borrow_mut()
                        .deferred_leave(&info.conn, &names[0])
                        && !self.subscriptions().is_ok_and(|subscriptions| {
                            subscriptions
                                .topics_of(&info.conn)
                                .is_ok_and(|held| held.contains(&names[0]))
                        })
                    {
                        self.leave(&info.user, &names).await;
                    }
                    if let Err(failure) = joined {
                        let others = self.joins.borrow().joining(&info.conn, topic.as_str());
                        if let (false, Ok(subscriptions)) = (others, self.subscriptions()) {
                            let _ = subscriptions.remove(&info.conn, &names);
                        }
                        let _ = ws.send_with_str(subscriptions::join_failed(
                            topic.as_str(),
                            &failure,
                            "subscribe again",
                        ));
                    }
                }),
        );
        join(ended, joined).await;
    }

    /// Subscribes (or unsubscribes) the user to topics for the backend: kept for later
    /// connects, and applied to every open socket now.
    async fn backend_subscription(
        &self,
        topics: &[String],
        subscribed: bool,
    ) -> Outcome<SocketsAnswer> {
        self.subscriptions()?
            .set_backend_topics(topics, subscribed)?;
        let open: Vec<(WebSocket, SocketInfo)> = self
            .state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| SocketInfo::of(&ws).map(|info| (ws, info)))
            .collect();
        join_all(open.iter().map(|(ws, info)| async move {
            if subscribed {
                let items = topics.iter().cloned().map(Subscription::live).collect();
                self.subscribe(ws, info.clone(), items, Asked::ByBackend)
                    .await;
            } else {
                self.unsubscribe(ws, info.clone(), topics).await;
            }
        }))
        .await;
        Ok(SocketsAnswer {
            sockets: open.len() as u32,
        })
    }

    /// Ends subscriptions of one socket.
    async fn unsubscribe(&self, ws: &WebSocket, info: SocketInfo, topics: &[String]) {
        let removed = self.subscriptions().and_then(|subscriptions| {
            let held = subscriptions.topics_of(&info.conn)?;
            // Each held topic once, however often the frame names it: each is a call to it.
            let asked: BTreeSet<&str> = topics.iter().map(String::as_str).collect();
            let topics: Vec<String> = held
                .into_iter()
                .filter(|topic| asked.contains(topic.as_str()))
                .collect();
            subscriptions.remove(&info.conn, &topics)?;
            Ok(topics)
        });
        match removed {
            Ok(topics) => self.leave_or_defer(&info, topics).await,
            Err(failure) => {
                let _ = ws.send_with_str(error_frame(failure.code, &failure.message));
            }
        }
    }

    /// Ends every subscription of a closed socket.
    async fn unsubscribe_all(&self, info: &SocketInfo) {
        let removed = self.subscriptions().and_then(|subscriptions| {
            let topics: Vec<String> = subscriptions.topics_of(&info.conn)?.into_iter().collect();
            subscriptions.remove(&info.conn, &topics)?;
            Ok(topics)
        });
        match removed {
            Ok(topics) => self.leave_or_defer(info, topics).await,
            Err(failure) => log("unsubscribe_failed", &[("message", failure.message)]),
        }
    }

    /// Tells each topic that socket `info` left it, but a topic it is still joining only once its
    /// join was answered ([`Joins::defer_leave`]): the leave would reach the topic after the join
    /// (one stub, in order), and if the join failed uncounted, it would take another socket's
    /// count.
    async fn leave_or_defer(&self, info: &SocketInfo, mut topics: Vec<String>) {
        topics.retain(|topic| !self.joins.borrow_mut().defer_leave(&info.conn, topic));
        self.leave(&info.user, &topics).await;
    }

    /// Tells each topic a socket left it: every socket for a namespace that counts them
    /// (`presence`, `occupancy_ms`), else only the room's last one.
    async fn leave(&self, user: &str, topics: &[String]) {
        let (Ok(settings), Ok(subscriptions)) = (self.settings(), self.subscriptions()) else {
            return;
        };
        let counts = |topic: &str| settings.room.namespaces.counts_sockets(topic);
        let leaves = topics.iter().filter_map(|topic| {
            let all = subscriptions
                .listeners(topic)
                .is_ok_and(|listeners| listeners.is_empty());
            (all || counts(topic)).then_some((topic, all))
        });
        join_all(leaves.map(|(topic, all)| {
            let member = Member::Room(user.to_owned());
            sockets::leave_topic(&self.topics, &self.joins, topic, member, all)
        }))
        .await;
    }

    /// Sends a topic's relayed events to the sockets that subscribed to it (held back for a
    /// socket whose join is under way).
    fn deliver(&self, call: &DeliverCall) -> Outcome<DeliverAnswer> {
        let listeners = self.subscriptions()?.listeners(&call.topic)?;
        if listeners.is_empty() {
            // No socket to read the attachment of.
            let underway = self.joins.borrow().underway(&call.topic);
            return Ok(DeliverAnswer {
                sockets: 0,
                underway,
            });
        }
        Ok(sockets::deliver(&self.state, &self.joins, call, |info| {
            listeners.contains(&info.conn)
        }))
    }
}
