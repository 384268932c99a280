//! The contract between the Durable Objects and their callers: every call the edge makes to a
//! room (a user's object) or a topic (a topic's root object), every call a room and a topic make
//! to each other, and every answer, as types both sides use. No path, header or answer shape is
//! spelled anywhere else.
//!
//! A call travels as JSON over Workers RPC, as the argument of the method `call` that the
//! worker's entry (`server/entry.js`) gives every object, answered `[status, body]`
//! ([`crate::objects`]). A [`RoomCall::Connect`] hands over a socket, which only a `fetch`
//! carries: a WebSocket upgrade to [`ROOM_URL`], a `GET` without a body, with the call in the
//! query parameter [`CALL_PARAM`].
//! The status is `200` with the call's answer as JSON (`101` with the socket for a connect), or
//! a [`RoomFailure`]'s: the status of its code and an `{"error":{..}}` body.
//!
//! Topics (`docs/topics.md`): a room [`TopicCall::Join`]s a topic when one of its sockets
//! subscribes, and [`TopicCall::Leave`]s it when none listens any more; the topic stores each
//! [`TopicCall::Publish`] and relays it to the rooms of its members with [`RoomCall::Deliver`].

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{ErrorBody, ErrorResponse};
use edgepush_protocol::publish::NewEvent;
use edgepush_protocol::topic::TopicPattern;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::room::ReplayPage;

/// The `since_key` that asks for the whole history a topic keeps (Mercure's `earliest`).
pub const EARLIEST: &str = "earliest";

/// Where a connect is sent (to a room or a topic's shard); never reachable from outside.
pub const ROOM_URL: &str = "https://room.internal/";
/// The query parameter that carries a connect's call.
pub const CALL_PARAM: &str = "call";

/// A call from the edge to a user's room. `E` is how a publish holds its events: owned when the
/// room reads a call, borrowed (`&NewEvent`) when the edge writes one, so the edge never copies
/// payloads to send them.
// Externally tagged: internally tagged enums buffer their content, which raw payloads refuse.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomCall<E = NewEvent> {
    /// Accept a verified socket; answered with the socket (`101`).
    Connect(ConnectCall),
    /// Store and send events; answered with a [`PublishAnswer`].
    Publish(PublishCall<E>),
    /// Close every socket; answered with a [`DisconnectAnswer`].
    Disconnect(DisconnectCall),
    /// Revoke the user's tokens issued at or before a second; answered with a
    /// [`RevokeAnswer`].
    Revoke(RevokeCall),
    /// From a topic: send its new events to the sockets that subscribed to it; answered with a
    /// [`DeliverAnswer`].
    Deliver(DeliverCall),
    /// From the edge: how many sockets the user has open; answered with a [`SocketsAnswer`].
    Presence,
    /// From the edge (`POST /subscribe`): subscribe the user to topics; answered with a
    /// [`SocketsAnswer`].
    Subscribe(BackendSubscriptionCall),
    /// From the edge (`POST /unsubscribe`): end such subscriptions; answered with a
    /// [`SocketsAnswer`].
    Unsubscribe(BackendSubscriptionCall),
    /// From the edge, before it hands a topic socket of the user to a shard: refused with
    /// `token_revoked` for a revoked token and `rate_limited` past the connect rates, else
    /// remembered, so that a revoke or a logout closes it too; answered with `{}`.
    TopicSocket(TopicSocketCall),
}

/// A topic socket of the user about to be accepted by a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSocketCall {
    /// The user, as in [`DisconnectCall`].
    pub user: String,
    /// The topic.
    pub topic: String,
    /// The shard that will hold the socket.
    pub shard: u32,
    /// The token's `iat`, in seconds, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The token's `exp`, in seconds: the socket is closed by then.
    pub exp: i64,
    /// Tells this token from the user's others, as in [`ConnectCall`]: topic sockets count
    /// toward the same connect rates.
    pub token_id: String,
}

/// A call to a topic's root object. `E` as for [`RoomCall`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicCall<E = NewEvent> {
    /// From the edge: store events and relay them to the members' rooms; answered with a
    /// [`PublishAnswer`].
    Publish(TopicPublishCall<E>),
    /// From a room: its user is a member now; answered with a [`JoinAnswer`].
    Join(JoinCall),
    /// From a room: the next page of a join's replay; answered with a [`ReplayPage`].
    Replay(ReplayCall),
    /// From a room or a shard: a socket left; answered with `{}`.
    Leave(LeaveCall),
    /// From the edge: who is there; answered with a [`TopicPresenceAnswer`].
    Presence(TopicPresenceCall),
    /// From the edge, to the Mercure templates registry: the template selectors subscribed so
    /// far, after adding `add` if given; answered with a [`TemplatesAnswer`].
    Templates(TemplatesCall),
    /// From the Mercure hub: when the topic stored the event a `Last-Event-ID` names; answered
    /// with a [`StoredAtAnswer`].
    StoredAt(StoredAtCall),
}

/// Asks a topic when it stored the event a Mercure `Last-Event-ID` names (an update's id, or
/// `<topic>/<id>` for one of its own events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAtCall {
    /// The topic.
    pub topic: String,
    /// The `Last-Event-ID`.
    pub last_event_id: String,
}

/// A topic's answer to a [`StoredAtCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAtAnswer {
    /// When the event was stored (ms), if the topic holds it.
    pub ms: Option<u64>,
}

/// Reads (and extends) the Mercure templates registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplatesCall {
    /// A selector to add first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<String>,
}

/// The Mercure templates registry's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplatesAnswer {
    /// Every template selector subscribed so far.
    pub templates: Vec<String>,
}

/// Asks a topic who is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPresenceCall {
    /// The topic.
    pub topic: String,
}

/// A topic's answer to a [`TopicPresenceCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPresenceAnswer {
    /// Subscribed sockets, as the topic last counted them.
    pub occupancy: u64,
    /// The users with a subscribed socket over their connection, for a namespace with
    /// `presence` (topic sockets are counted, not listed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

/// Events for one topic, in request order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TopicPublishCall<E = NewEvent> {
    /// The topic.
    pub topic: String,
    /// The events.
    pub events: Vec<E>,
}

/// Whom a topic relays its events to: a user's room (for the sockets that subscribed over the
/// user's connection) or one of the topic's shards (holding sockets of their own).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Member {
    /// The room of this user.
    Room(String),
    /// The topic's shard with this number.
    Shard(u32),
}

impl Member {
    /// The member as stored: `u:<user>` or `s:<shard>`.
    pub fn key(&self) -> String {
        match self {
            Self::Room(user) => format!("u:{user}"),
            Self::Shard(shard) => format!("s:{shard}"),
        }
    }

    /// Reads a stored key back.
    pub fn from_key(key: &str) -> Option<Self> {
        match key.split_at_checked(2)? {
            ("u:", user) => Some(Self::Room(user.to_owned())),
            ("s:", shard) => shard.parse().ok().map(Self::Shard),
            _ => None,
        }
    }
}

/// A member joins a topic (for one socket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinCall {
    /// The topic.
    pub topic: String,
    /// Who joins.
    pub member: Member,
    /// Whether the socket was not subscribed yet (one more socket for the count).
    #[serde(default)]
    pub fresh: bool,
    /// Resume after the event stored with this idempotency key (a Mercure `Last-Event-ID`),
    /// when `since` is not given; [`EARLIEST`] resumes from the oldest event kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_key: Option<String>,
    /// When another topic of the same subscription stored the event `since_key` names (ms): a
    /// topic that does not hold it resumes from its own events of that time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_key_ms: Option<u64>,
    /// Resume after this id of the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The epoch of `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// The topic's answer to a [`JoinCall`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAnswer {
    /// The `subscribed` frame.
    pub first: String,
    /// The topic's newest id when the user joined: relayed events above it are live.
    pub last_id: u64,
    /// The first page of the replay.
    pub replay: ReplayPage,
}

/// The next page of a replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCall {
    /// The topic.
    pub topic: String,
    /// The last id of the previous page.
    pub after: u64,
}

/// A member leaves a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveCall {
    /// The topic.
    pub topic: String,
    /// Who leaves.
    pub member: Member,
    /// `true`: the member's last socket left (a room that counts only its last leave).
    #[serde(default)]
    pub all: bool,
}

/// A call to one of a topic's shards (a broadcast namespace's topic: `docs/topics.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardCall {
    /// From the edge: accept a verified topic socket; answered with the socket (`101`). Sent in
    /// [`CALL_PARAM`], as a room's connect.
    Connect(ShardConnectCall),
    /// From the topic: send its new events to every socket; answered with a [`DeliverAnswer`].
    Deliver(DeliverCall),
    /// From a user's room (a revoke or a logout, `POST /disconnect`): close that user's
    /// sockets; answered with a [`SocketsAnswer`] (the sockets closed).
    Close(ShardCloseCall),
}

/// Closes one user's sockets on a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCloseCall {
    /// The user.
    pub user: String,
    /// `true`: close with 1012 so clients reconnect; `false`: close with 4502 so they stop.
    pub reconnect: bool,
    /// Only the sockets of tokens issued at or before this second (a revoke); `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_until: Option<i64>,
}

/// A verified socket for one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardConnectCall {
    /// The topic.
    pub topic: String,
    /// The shard's number.
    pub shard: u32,
    /// The token's `sub`.
    pub user: String,
    /// The token's `exp`, in seconds.
    pub exp: i64,
    /// The token's `iat`, in seconds, if it has one (a revoke closes the socket by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Whether to echo the `edgepush.v1` subprotocol.
    pub subprotocol: bool,
    /// Resume after this id of the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The epoch of `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// Resume after the event with this idempotency key (a Mercure `Last-Event-ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_key: Option<String>,
    /// When another topic of the subscription stored that event (ms), as [`JoinCall`]'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_key_ms: Option<u64>,
}

impl ShardCall {
    /// The call as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a call; a call the shard cannot read is the caller's bug, reported as internal.
    pub fn from_json(text: &str) -> Result<Self, RoomFailure> {
        read_call(text)
    }
}

/// A topic's new events, for the sockets of a room that subscribed to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverCall {
    /// The topic.
    pub topic: String,
    /// The events, in id order.
    pub events: Vec<Delivered>,
    /// Frames without an id (`occupancy`, `presence`), sent after the events (after the replay,
    /// to a socket in the middle of joining).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

/// One relayed event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// Its id in the topic.
    pub id: u64,
    /// Its `event` frame.
    pub frame: String,
}

/// A member's answer to a [`DeliverCall`]: the sockets that listen to the topic (0: no member
/// any more), unless a join or leave of the topic the member sent is still on its way (then the
/// topic keeps its own count, which that call corrects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverAnswer {
    /// The sockets.
    pub sockets: u32,
    /// A join or leave of the member is under way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub underway: bool,
}

/// An answer that counts sockets: to [`RoomCall::Presence`], those open; to a
/// [`BackendSubscriptionCall`], those it applied to; to a [`ShardCloseCall`], those closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketsAnswer {
    /// The sockets.
    pub sockets: u32,
}

/// Subscriptions the backend makes (or ends) for a user: kept by the user's room, applied to
/// every open socket now and to every socket that connects later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendSubscriptionCall {
    /// The topics (valid, of declared namespaces: the edge checked them).
    pub topics: Vec<String>,
}

/// A verified socket to accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectCall {
    /// The token's `sub`.
    pub user: String,
    /// The token's `exp`, in seconds.
    pub exp: i64,
    /// The token's `iat`, in seconds, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Tells this token from the user's others (its signature), for the per-token connect rate.
    pub token_id: String,
    /// Whether to echo the `edgepush.v1` subprotocol.
    pub subprotocol: bool,
    /// Resume after this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The epoch of `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// The token's `topics` claim: what the socket may subscribe to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<TopicPattern>,
    /// The token's `subs` claim: topics the socket is subscribed to from the start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subs: Vec<String>,
}

/// Events for one user, in request order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishCall<E = NewEvent> {
    /// The events.
    pub events: Vec<E>,
}

/// Close every socket of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectCall {
    /// The user (the room's own name, which the runtime does not tell it), whose topic sockets
    /// the shards close.
    pub user: String,
    /// `true`: close with 1012 so clients reconnect; `false`: close with 4502 so they stop.
    pub reconnect: bool,
    /// When the backend signed the call (seconds since the Unix epoch): a logout revokes the
    /// tokens issued until then. Missing from an older edge: the room's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_at: Option<i64>,
}

/// Revoke the user's tokens issued at or before `at`, and close their sockets with 4502.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeCall {
    /// The user, as in [`DisconnectCall`].
    pub user: String,
    /// In seconds since the Unix epoch.
    pub at: i64,
}

/// The room's answer to a [`RevokeCall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeAnswer {
    /// The revocation in force (a later one is never moved back).
    pub revoked_at: i64,
    /// Sockets closed.
    pub sockets: u32,
}

/// The room's answer to a [`PublishCall`]: one outcome per event, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishAnswer {
    /// The outcomes.
    pub outcomes: Vec<RoomOutcome>,
}

/// What the room did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RoomOutcome {
    /// Stored and sent to `sockets` sockets.
    Stored {
        /// The new id.
        id: u64,
        /// Sockets it was sent to.
        sockets: u32,
        /// For a topic: the objects it was relayed to (rooms and shards).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        relays: Option<u32>,
    },
    /// Its idempotency key was stored with the same event: nothing stored or sent.
    Duplicate {
        /// The original event's id.
        id: u64,
    },
    /// Its idempotency key was stored with another event: refused.
    Conflict {
        /// The id of the event the key belongs to.
        id: u64,
    },
}

/// The room's answer to a [`DisconnectCall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisconnectAnswer {
    /// Sockets closed.
    pub sockets: u32,
}

/// A call the room refused or could not carry out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RoomFailure {
    /// The stable code (`internal_error` when the room failed unexpectedly).
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
    /// When a retry may succeed, for `rate_limited`: in this many milliseconds.
    pub retry_after_ms: Option<u64>,
    /// The object did not answer (the runtime threw on the way back, or before it knew whether
    /// the call arrived): the call may have been carried out.
    pub unanswered: bool,
}

impl RoomFailure {
    /// A failure with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
            unanswered: false,
        }
    }

    /// A call the object did not answer: it may have been carried out.
    pub fn unanswered(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            unanswered: true,
            ..Self::new(code, message)
        }
    }

    /// The same failure, with a retry hint.
    pub fn retry_after(self, ms: u64) -> Self {
        Self {
            retry_after_ms: Some(ms),
            ..self
        }
    }

    /// The HTTP status the room answers with.
    pub fn status(&self) -> u16 {
        self.code.http_status()
    }

    /// The `{"error":{..}}` body the room answers with.
    pub fn to_json(&self) -> String {
        let body = ErrorResponse {
            error: ErrorBody {
                retry_after_ms: self.retry_after_ms,
                ..ErrorBody::new(self.code, self.message.clone())
            },
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl<E: Serialize> RoomCall<E> {
    /// The call as JSON.
    pub fn to_json(&self) -> String {
        // Calls hold strings, numbers and already-valid JSON payloads: this cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl<E: Serialize> TopicCall<E> {
    /// The call as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl RoomCall {
    /// Reads a call; a call the room cannot read is the caller's bug, reported as internal.
    pub fn from_json(text: &str) -> Result<Self, RoomFailure> {
        read_call(text)
    }
}

impl TopicCall {
    /// Reads a call; a call the topic cannot read is the caller's bug, reported as internal.
    pub fn from_json(text: &str) -> Result<Self, RoomFailure> {
        read_call(text)
    }
}

fn read_call<T: DeserializeOwned>(text: &str) -> Result<T, RoomFailure> {
    serde_json::from_str(text).map_err(|err| {
        RoomFailure::new(ErrorCode::InternalError, format!("unreadable call: {err}"))
    })
}

/// An answer as JSON.
pub fn answer_json<T: Serialize>(answer: &T) -> String {
    serde_json::to_string(answer).unwrap_or_default()
}

/// Reads a room's answer from its status and body: `200` and the answer, or its failure. A `200`
/// the caller cannot read (an object of another version, mid-deploy) did what it was asked: its
/// failure is [`RoomFailure::unanswered`].
pub fn read_answer<T: DeserializeOwned>(status: u16, body: &str) -> Result<T, RoomFailure> {
    if status == 200 {
        return serde_json::from_str(body).map_err(|err| {
            RoomFailure::unanswered(
                ErrorCode::InternalError,
                format!("unreadable room answer: {err}"),
            )
        });
    }
    Err(read_failure(status, body))
}

/// Reads a room's failure (any answer other than `200`/`101`).
pub fn read_failure(status: u16, body: &str) -> RoomFailure {
    match serde_json::from_str::<ErrorResponse>(body) {
        Ok(ErrorResponse { error }) => RoomFailure {
            code: ErrorCode::parse(&error.code).unwrap_or(ErrorCode::InternalError),
            message: error.message,
            retry_after_ms: error.retry_after_ms,
            unanswered: false,
        },
        Err(_) => RoomFailure::new(
            ErrorCode::InternalError,
            format!("the room answered {status}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use edgepush_protocol::publish::parse_publish_request;

    #[test]
    fn calls_round_trip() {
        let connect = RoomCall::Connect(ConnectCall {
            user: "42".into(),
            exp: 9_999_999_999,
            iat: Some(1_700_000_000),
            token_id: "sig".into(),
            subprotocol: true,
            since: Some(7),
            epoch: Some("e-1".into()),
            grants: vec![TopicPattern::parse("product:*").unwrap()],
            subs: vec!["feed:all".into()],
        });
        let events = parse_publish_request(
            br#"{"events":[{"user":"42","name":"A","payload":{"x":[1,2]}},{"user":"42","name":"B","idempotency_key":"k"}]}"#,
            Some("req"),
        )
        .unwrap();
        let publish = RoomCall::Publish(PublishCall { events });
        let disconnect = RoomCall::Disconnect(DisconnectCall {
            user: "42".into(),
            reconnect: false,
            signed_at: Some(1_700_000_000),
        });
        let revoke = RoomCall::Revoke(RevokeCall {
            user: "42".into(),
            at: 1_700_000_000,
        });
        let deliver = RoomCall::Deliver(DeliverCall {
            topic: "feed:all".into(),
            events: vec![Delivered {
                id: 4,
                frame: "{}".into(),
            }],
            notices: vec![],
        });
        for call in [
            connect,
            publish,
            disconnect,
            revoke,
            deliver,
            RoomCall::Presence,
            RoomCall::Subscribe(BackendSubscriptionCall {
                topics: vec!["feed:all".into()],
            }),
            RoomCall::TopicSocket(TopicSocketCall {
                user: "42".into(),
                topic: "crowd:all".into(),
                shard: 3,
                iat: Some(1_700_000_000),
                exp: 1_700_000_900,
                token_id: "sig".into(),
            }),
        ] {
            let json = call.to_json();
            assert_eq!(RoomCall::from_json(&json).unwrap().to_json(), json);
        }
        let events = parse_publish_request(
            br#"{"topic":"feed:all","name":"A","payload":{"x":1}}"#,
            None,
        )
        .unwrap();
        let topic_calls = [
            TopicCall::Publish(TopicPublishCall {
                topic: "feed:all".into(),
                events,
            }),
            TopicCall::Join(JoinCall {
                topic: "feed:all".into(),
                member: Member::Room("42".into()),
                fresh: true,
                since_key: None,
                since_key_ms: None,
                since: Some(3),
                epoch: None,
            }),
            TopicCall::Replay(ReplayCall {
                topic: "feed:all".into(),
                after: 35,
            }),
            TopicCall::Leave(LeaveCall {
                topic: "feed:all".into(),
                member: Member::Shard(3),
                all: false,
            }),
            TopicCall::Presence(TopicPresenceCall {
                topic: "feed:all".into(),
            }),
            TopicCall::Templates(TemplatesCall {
                add: Some("https://x/{id}".into()),
            }),
            TopicCall::StoredAt(StoredAtCall {
                topic: "mercure:books".into(),
                last_event_id: "book-7".into(),
            }),
        ];
        for call in topic_calls {
            let json = call.to_json();
            assert_eq!(TopicCall::from_json(&json).unwrap().to_json(), json);
        }
        let joined = JoinAnswer {
            first: "{}".into(),
            last_id: 9,
            replay: ReplayPage {
                frames: vec!["{}".into()],
                last: Some(9),
                next_after: Some(9),
            },
        };
        assert_eq!(
            read_answer::<JoinAnswer>(200, &answer_json(&joined)).unwrap(),
            joined
        );
        for stored in [Some(1_700_000_000_123), None] {
            let answer = StoredAtAnswer { ms: stored };
            assert_eq!(
                read_answer::<StoredAtAnswer>(200, &answer_json(&answer)).unwrap(),
                answer
            );
        }
        assert!(matches!(
            RoomCall::from_json(
                r#"{"connect":{"user":"1","exp":5,"token_id":"s","subprotocol":false}}"#
            ),
            Ok(RoomCall::Connect(ConnectCall {
                since: None,
                epoch: None,
                iat: None,
                ..
            }))
        ));
    }

    #[test]
    fn members_are_stored_by_kind_and_read_back() {
        for member in [
            Member::Room("42".into()),
            Member::Room("s:1".into()),
            Member::Shard(7),
        ] {
            assert_eq!(Member::from_key(&member.key()), Some(member));
        }
        assert_eq!(Member::Room("s:1".into()).key(), "u:s:1");
        assert_eq!(Member::from_key("x:1"), None);
        assert_eq!(Member::from_key("s:x"), None);
        let connect = ShardCall::Connect(ShardConnectCall {
            topic: "feed:all".into(),
            shard: 2,
            user: "42".into(),
            exp: 5,
            iat: Some(1),
            subprotocol: true,
            since: None,
            epoch: None,
            since_key: Some("book-7".into()),
            since_key_ms: Some(1_700_000_000_000),
        });
        let close = ShardCall::Close(ShardCloseCall {
            user: "42".into(),
            reconnect: false,
            issued_until: Some(1_700_000_000),
        });
        let reconnect = ShardCall::Close(ShardCloseCall {
            user: "42".into(),
            reconnect: true,
            issued_until: None,
        });
        for call in [connect, close, reconnect] {
            let json = call.to_json();
            assert_eq!(ShardCall::from_json(&json).unwrap().to_json(), json);
        }
    }

    #[test]
    fn a_publish_written_from_borrowed_events_is_the_same_call() {
        let events = parse_publish_request(
            br#"{"events":[{"user":"42","name":"A","payload":[1]},{"user":"42","name":"B"}]}"#,
            Some("req"),
        )
        .unwrap();
        let borrowed = RoomCall::Publish(PublishCall {
            events: events.iter().collect(),
        })
        .to_json();
        assert_eq!(
            borrowed,
            RoomCall::Publish(PublishCall {
                events: events.clone()
            })
            .to_json()
        );
    }

    #[test]
    fn publish_payloads_travel_byte_for_byte() {
        let events =
            parse_publish_request(br#"{"user":"1","name":"A","payload":{ "b" : 1.50 }}"#, None)
                .unwrap();
        let json = RoomCall::Publish(PublishCall { events }).to_json();
        let RoomCall::Publish(call) = RoomCall::from_json(&json).unwrap() else {
            panic!("not a publish: {json}")
        };
        assert_eq!(call.events[0].payload.get(), r#"{ "b" : 1.50 }"#);
    }

    #[test]
    fn answers_and_failures_round_trip() {
        let answer = PublishAnswer {
            outcomes: vec![
                RoomOutcome::Stored {
                    id: 3,
                    sockets: 2,
                    relays: Some(1),
                },
                RoomOutcome::Duplicate { id: 1 },
                RoomOutcome::Conflict { id: 2 },
            ],
        };
        assert_eq!(
            read_answer::<PublishAnswer>(200, &answer_json(&answer)).unwrap(),
            answer
        );
        // A member of an older version answers a relay without `underway`.
        let settled = DeliverAnswer {
            sockets: 2,
            underway: false,
        };
        assert_eq!(answer_json(&settled), r#"{"sockets":2}"#);
        assert_eq!(
            read_answer::<DeliverAnswer>(200, r#"{"sockets":2}"#),
            Ok(settled)
        );
        let underway = DeliverAnswer {
            underway: true,
            ..settled
        };
        assert_eq!(
            read_answer::<DeliverAnswer>(200, &answer_json(&underway)),
            Ok(underway)
        );
        let limited = RoomFailure::new(ErrorCode::RateLimited, "slow down").retry_after(1500);
        assert_eq!(read_failure(429, &limited.to_json()), limited);
        let failure = RoomFailure::new(ErrorCode::ServerMisconfigured, "HISTORY_MAX_EVENTS");
        assert_eq!(failure.status(), 500);
        assert_eq!(
            read_answer::<DisconnectAnswer>(failure.status(), &failure.to_json()).unwrap_err(),
            failure
        );
    }

    #[test]
    fn anything_else_is_an_internal_failure() {
        let failure = read_failure(503, "<html>overloaded</html>");
        assert_eq!(failure.code, ErrorCode::InternalError);
        assert!(failure.message.contains("503"));
        assert_eq!(
            read_answer::<DisconnectAnswer>(200, "{}").unwrap_err().code,
            ErrorCode::InternalError
        );
        assert_eq!(
            RoomCall::from_json("{\"nope\":{}}").unwrap_err().code,
            ErrorCode::InternalError
        );
    }
}
