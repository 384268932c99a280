//! What the two socket-holding Durable Objects — a user's room and a topic's shard — do alike:
//! the state each socket carries through hibernation, closing sockets at their token's expiry,
//! joining a topic for a socket (`subscribed`, the replay, then the live frames held back
//! meanwhile) and handing relayed topic events to sockets.

use std::cell::RefCell;

use edgepush_protocol::codes::{CloseCode, ErrorCode};
use edgepush_protocol::frames::{ErrorBody, PING, ServerFrame};
use edgepush_protocol::publish::NewEvent;
use edgepush_protocol::topic::TopicPattern;
use serde::{Deserialize, Serialize};
use worker::{Result, State, WebSocket, web_sys};

use crate::expiry;
use crate::internal::{
    DeliverAnswer, DeliverCall, JoinAnswer, JoinCall, LeaveCall, Member, ReplayCall, TopicCall,
};
use crate::limits::Window;
use crate::objects::{Caller, Object, Outcome, Repeat};
use crate::room::ReplayPage;
use crate::runtime::{Broadcast, alarm_time, log, now_ms};
use crate::subscriptions::Joins;

/// What each socket carries through hibernation (its serialized attachment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SocketInfo {
    /// Connection id, for logs and subscriptions.
    pub conn: String,
    /// Token expiry, in seconds since the Unix epoch.
    pub exp: i64,
    /// Token issue time, in seconds since the Unix epoch, if the token has one.
    #[serde(default)]
    pub iat: Option<i64>,
    /// Client frames in the current window.
    #[serde(default)]
    pub frames: Window,
    /// The user (a room's own name, which the runtime does not tell it).
    #[serde(default)]
    pub user: String,
    /// The connect token's `topics` claim: what the socket may subscribe to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<TopicPattern>,
    /// For a topic socket: its topic and shard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
}

/// Where a topic socket sits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seat {
    /// The topic.
    pub topic: String,
    /// The shard's number.
    pub shard: u32,
}

impl SocketInfo {
    /// The attachment of `ws`, if it has a readable one.
    pub fn of(ws: &WebSocket) -> Option<Self> {
        ws.deserialize_attachment::<Self>().ok().flatten()
    }
}

/// An `error` frame.
pub fn error_frame(code: ErrorCode, message: &str) -> String {
    serde_json::to_string(&ServerFrame::<()>::Error(ErrorBody::new(code, message)))
        .unwrap_or_default()
}

/// Makes sure an alarm fires by the time `exp` (seconds) passes, or, for a far-future `exp`,
/// within the longest time ahead an alarm is set.
pub async fn schedule_expiry(state: &State, exp: i64) -> Result<()> {
    let at = expiry::alarm_for(exp, now_ms());
    let storage = state.storage();
    match storage.get_alarm().await? {
        Some(current) if current <= at as i64 => Ok(()),
        _ => storage.set_alarm(alarm_time(at)).await,
    }
}

/// Closes the open sockets whose attachment `which` picks, with `code`; returns how many (one
/// closed already, whose client has not answered the close yet, is not counted again).
pub fn close_where(
    state: &State,
    code: CloseCode,
    which: impl Fn(Option<&SocketInfo>) -> bool,
) -> u32 {
    state
        .get_websockets()
        .iter()
        .filter(|ws| ws.as_ref().ready_state() == web_sys::WebSocket::OPEN)
        .filter(|ws| which(SocketInfo::of(ws).as_ref()))
        .filter(|ws| ws.close(Some(code.as_u16()), Some(code.reason())).is_ok())
        .count() as u32
}

/// Closes the sockets whose token expired (4001) and plans the next alarm.
pub async fn close_expired(state: &State) -> Result<()> {
    let sockets = state.get_websockets();
    let expiries: Vec<i64> = sockets
        .iter()
        .map(|ws| SocketInfo::of(ws).map_or(0, |info| info.exp))
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
        state.storage().set_alarm(alarm_time(at)).await?;
    }
    Ok(())
}

/// A socket closed for sending more frames than its budget allows.
pub struct OverBudget;

/// Counts a client frame against the socket's budget, `limit` a minute (the exact heartbeat is
/// free: the runtime answers it, it never gets here). Past the budget the socket gets
/// `too_many_frames` and is closed with 4501. Answers the socket's info (`None` when its
/// attachment was lost).
pub fn count_frame(ws: &WebSocket, limit: u32) -> Result<Option<SocketInfo>, OverBudget> {
    let Some(mut info) = SocketInfo::of(ws) else {
        return Ok(None);
    };
    if info.frames.admit(limit, now_ms()).is_err() {
        let code = CloseCode::ProtocolViolation;
        let _ = ws.send_with_str(error_frame(
            ErrorCode::TooManyFrames,
            &format!(
                "more than {limit} frames in a minute (MAX_CLIENT_FRAMES_PER_MINUTE); \
                 only the exact heartbeat {PING} is free"
            ),
        ));
        let _ = ws.close(Some(code.as_u16()), Some(code.reason()));
        return Err(OverBudget);
    }
    let _ = ws.serialize_attachment(&info);
    Ok(Some(info))
}

/// Joins a topic for the socket `ws` (connection `conn`, whose join was started in `joins`):
/// sends `subscribed`, the replay in pages, then the live frames held back meanwhile (after the
/// last of overlapping joins of the topic on the socket). On failure nothing of it was sent.
pub async fn join_topic(
    caller: &Caller,
    ws: &WebSocket,
    joins: &RefCell<Joins>,
    conn: &str,
    call: JoinCall,
) -> Outcome<()> {
    let topic = call.topic.clone();
    let join = TopicCall::<NewEvent>::Join(call).to_json();
    let answer: JoinAnswer = caller
        .call(Object::Topic(&topic), &join, Repeat::Harmless)
        .await
        .inspect_err(|_| {
            // Frames held for another join of the topic on this socket, answered before.
            for frame in joins.borrow_mut().abandon(conn, &topic) {
                let _ = ws.send_with_str(&frame);
            }
        })?;
    let _ = ws.send_with_str(&answer.first);
    let mut covered = answer.last_id;
    let mut page = answer.replay;
    loop {
        for frame in &page.frames {
            let _ = ws.send_with_str(frame);
        }
        covered = covered.max(page.last.unwrap_or(0));
        let Some(after) = page.next_after else { break };
        let call = TopicCall::<NewEvent>::Replay(ReplayCall {
            topic: topic.clone(),
            after,
        });
        match caller
            .call::<ReplayPage>(Object::Topic(&topic), &call.to_json(), Repeat::Harmless)
            .await
        {
            Ok(next) => page = next,
            Err(failure) => {
                // The client would wait for the rest, unaware, until the topic's next event
                // showed the gap: closed with 1011 as a user's socket whose replay failed, it
                // reconnects and resumes every topic from its last event.
                log(
                    "replay_failed",
                    &[("topic", topic.clone()), ("message", failure.message)],
                );
                let code = CloseCode::InternalError;
                let _ = ws.close(Some(code.as_u16()), Some(code.reason()));
                break;
            }
        }
    }
    for frame in joins.borrow_mut().finish(conn, &topic, covered) {
        let _ = ws.send_with_str(frame);
    }
    Ok(())
}

/// Tells a topic that a member's socket left it (with `all`: its last one), noted in `joins`
/// while on its way. A failure is only logged: the topic corrects its count on its next relay
/// anyway.
pub async fn leave_topic(
    caller: &Caller,
    joins: &RefCell<Joins>,
    topic: &str,
    member: Member,
    all: bool,
) {
    let call = TopicCall::<NewEvent>::Leave(LeaveCall {
        topic: topic.to_owned(),
        member,
        all,
    });
    joins.borrow_mut().leave_starts(topic);
    let left: Outcome<serde_json::Value> = caller
        .call(Object::Topic(topic), &call.to_json(), Repeat::Never)
        .await;
    joins.borrow_mut().leave_ends(topic);
    if let Err(failure) = left {
        log(
            "leave_failed",
            &[("topic", topic.to_owned()), ("message", failure.message)],
        );
    }
}

/// Sends relayed topic events and notices to the sockets `listens` picks (held back for a socket
/// whose join is under way); answers how many sockets listen.
pub fn deliver(
    state: &State,
    joins: &RefCell<Joins>,
    call: &DeliverCall,
    listens: impl Fn(&SocketInfo) -> bool,
) -> DeliverAnswer {
    let mut joins = joins.borrow_mut();
    // Each frame made a JS string once, for all the sockets.
    let events: Vec<_> = call
        .events
        .iter()
        .map(|e| Broadcast::new(&e.frame))
        .collect();
    let notices: Vec<_> = call.notices.iter().map(|n| Broadcast::new(n)).collect();
    let mut sockets = 0;
    for ws in state.get_websockets() {
        let Some(info) = SocketInfo::of(&ws).filter(|info| listens(info)) else {
            continue;
        };
        sockets += 1;
        for (event, frame) in call.events.iter().zip(&events) {
            if joins.offer(&info.conn, &call.topic, event.id, &event.frame) {
                frame.send(&ws);
            }
        }
        for (notice, frame) in call.notices.iter().zip(&notices) {
            if joins.offer_notice(&info.conn, &call.topic, notice) {
                frame.send(&ws);
            }
        }
    }
    DeliverAnswer {
        sockets,
        underway: joins.underway(&call.topic),
    }
}
