//! The Durable Object that holds topic sockets (`/connect?topic=`) for one shard of a topic of a
//! namespace with shards: the path for large audiences (`docs/topics.md`). Its sockets hibernate;
//! it joins the topic's root as one member for all of them, so a publish costs the root one
//! request per shard, whatever the number of readers. It stores nothing: history and resume are
//! the root's.

use std::cell::RefCell;

use edgepush_protocol::codes::{CloseCode, ErrorCode};
use edgepush_protocol::frames::{PING, PONG, SUBPROTOCOL};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{
    DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketIncomingMessage,
    WebSocketPair, durable_object, worker_sys::WebSocketRequestResponsePair,
};

use crate::expiry;
use crate::internal::{
    JoinCall, Member, ShardCall, ShardCloseCall, ShardConnectCall, SocketsAnswer, answer_json,
};
use crate::limits::{Limits, Window, is_revoked};
use crate::objects::{
    Answer, Caller, Outcome, answer_rpc, connect_text, misrouted, settings, to_response,
};
use crate::runtime::{log, random_id};
use crate::sockets::{self, Seat, SocketInfo, error_frame};
use crate::subscriptions::{self, Joins};

/// A shard of a topic.
#[durable_object]
pub struct TopicShard {
    state: State,
    env: Env,
    joins: RefCell<Joins>,
    /// Calls the topic's root, through one stub.
    topic: Caller,
}

impl DurableObject for TopicShard {
    fn new(state: State, env: Env) -> Self {
        if let Ok(pair) = WebSocketRequestResponsePair::new(PING, PONG) {
            state.set_websocket_auto_response(&pair);
        }
        Self {
            state,
            topic: Caller::new(env.clone()),
            env,
            joins: RefCell::default(),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        to_response(match ShardCall::from_json(&connect_text(&req)?) {
            Ok(ShardCall::Connect(call)) => self.accept_socket(call).await,
            Ok(ShardCall::Deliver(_) | ShardCall::Close(_)) => Err(misrouted()),
            Err(failure) => Err(failure),
        })
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        _message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // The exact PING never gets here (auto-response); anything else is counted against the
        // socket's budget, as on a user's socket.
        let limits = settings(&self.env).map_or(Limits::default(), |s| s.room.limits);
        if sockets::count_frame(&ws, limits.frames_per_socket).is_err() {
            return Ok(());
        }
        let _ = ws.send_with_str(error_frame(
            ErrorCode::InvalidFrame,
            &format!("a topic socket takes heartbeats ({PING}) only"),
        ));
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        _code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        let seat = SocketInfo::of(&ws).and_then(|info| info.seat);
        let _ = ws.close(Some(CloseCode::Normal.as_u16()), Some("bye"));
        // A topic that counts its sockets hears of each one that leaves; any other corrects
        // its count with its next relay, which finds the shard empty.
        let counts = |seat: &Seat| {
            settings(&self.env).is_ok_and(|s| s.room.namespaces.counts_sockets(&seat.topic))
        };
        if let Some(seat) = seat.filter(counts) {
            let member = Member::Shard(seat.shard);
            sockets::leave_topic(&self.topic, &self.joins, &seat.topic, member, false).await;
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

#[wasm_bindgen]
impl TopicShard {
    /// A call over Workers RPC (the method `call` of `server/entry.js`); answers `[status, body]`.
    #[wasm_bindgen(js_name = call)]
    pub fn rpc(&self, call: String) -> JsValue {
        answer_rpc(self.answer(ShardCall::from_json(&call)))
    }
}

impl TopicShard {
    /// Answers a call other than a connect, which only `fetch` can carry.
    fn answer(&self, call: Outcome<ShardCall>) -> Answer {
        match call? {
            ShardCall::Connect(_) => Err(misrouted()),
            ShardCall::Deliver(call) => Ok(answer_json(&sockets::deliver(
                &self.state,
                &self.joins,
                &call,
                |_| true,
            ))),
            ShardCall::Close(call) => Ok(answer_json(&SocketsAnswer {
                sockets: self.close_sockets(&call),
            })),
        }
    }

    /// Closes the sockets of one user (of tokens issued until a second, for a revoke).
    fn close_sockets(&self, call: &ShardCloseCall) -> u32 {
        let code = if call.reconnect {
            CloseCode::ServiceRestart
        } else {
            CloseCode::Revoked
        };
        sockets::close_where(&self.state, code, |info| {
            info.is_some_and(|info| {
                info.user == call.user
                    && call
                        .issued_until
                        .is_none_or(|at| is_revoked(info.iat, Some(at)))
            })
        })
    }

    /// Accepts a verified topic socket, then joins the topic for it: `subscribed`, the replay,
    /// then live events. A failed join closes the socket with 1011 (the client reconnects).
    async fn accept_socket(&self, call: ShardConnectCall) -> Outcome<Result<Response>> {
        sockets::schedule_expiry(&self.state, call.exp).await?;
        let conn = random_id();
        let pair = WebSocketPair::new()?;
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(SocketInfo {
            conn: conn.clone(),
            exp: call.exp.min(expiry::LATEST_EXP),
            iat: call.iat,
            frames: Window::default(),
            user: call.user.clone(),
            grants: Vec::new(),
            seat: Some(Seat {
                topic: call.topic.clone(),
                shard: call.shard,
            }),
        })?;
        self.joins.borrow_mut().start(&conn, &call.topic, true);
        let join = JoinCall {
            topic: call.topic.clone(),
            member: Member::Shard(call.shard),
            fresh: true,
            since: call.since,
            epoch: call.epoch,
            since_key: call.since_key,
            since_key_ms: call.since_key_ms,
        };
        let joined = sockets::join_topic(&self.topic, &pair.server, &self.joins, &conn, join).await;
        if let Err(failure) = joined {
            // Seated no more: its close must not tell the topic of a leave. A join the topic
            // refused was not counted, and a leave would take another reader's count (and the
            // shard, at 0, would be relayed to no more); one counted all the same is corrected
            // by the next relay, which finds the socket gone.
            if let Some(info) = SocketInfo::of(&pair.server) {
                let _ = pair
                    .server
                    .serialize_attachment(SocketInfo { seat: None, ..info });
            }
            let _ = pair.server.send_with_str(subscriptions::join_failed(
                &call.topic,
                &failure,
                "reconnect",
            ));
            let code = CloseCode::InternalError;
            let _ = pair.server.close(Some(code.as_u16()), Some(code.reason()));
        }
        log(
            "topic_connect",
            &[
                ("topic", call.topic),
                ("shard", call.shard.to_string()),
                ("sockets", self.state.get_websockets().len().to_string()),
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
}
