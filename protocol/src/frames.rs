//! JSON frames on the WebSocket, tagged by `"type"`.
//!
//! Server to client: `welcome` once after the upgrade, then `event` frames in id order, `error`
//! frames for bad client frames, and `pong` for heartbeats. Client to server: `ping`, which the
//! server answers without waking the room (hibernation auto-response), so the client must send
//! exactly [`PING`] and expect exactly [`PONG`].
//!
//! Topics (`docs/topics.md`): the client sends `subscribe` with the topics it wants, each with
//! where to resume; each topic is answered with `subscribed` (then the missed events, then live
//! ones, every `event` frame carrying its `topic` and the topic's own id) or `unsubscribed` with
//! the reason. `unsubscribe` ends subscriptions. Some namespaces also send `occupancy` (a
//! viewer count) and `presence` (a user came or left) frames for a topic.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::codes::ErrorCode;

/// The exact heartbeat text a client sends; anything else is a regular frame.
pub const PING: &str = r#"{"type":"ping"}"#;
/// The exact text the server answers [`PING`] with.
pub const PONG: &str = r#"{"type":"pong"}"#;
/// How often the server suggests the client pings, in milliseconds (sent in the welcome frame).
pub const HEARTBEAT_INTERVAL_MS: u32 = 25_000;
/// The WebSocket subprotocol the server speaks. A browser offers it together with its token:
/// `new WebSocket(url, [SUBPROTOCOL, token])`, and the server echoes it.
pub const SUBPROTOCOL: &str = "edgepush.v1";
/// The connect path.
pub const CONNECT_PATH: &str = "/connect";
/// Query parameter carrying the token when subprotocols cannot be used.
pub const TOKEN_PARAM: &str = "token";
/// Query parameter with the last event id the client saw; the server replays what came after it.
/// `since=0` asks for the whole retained history.
pub const SINCE_PARAM: &str = "since";
/// Query parameter asking for in-band refusals: with `refusal=close`, a connect the server refuses
/// (bad token, bad parameters) is still upgraded, then gets one `error` frame and a close code
/// from [`crate::ErrorCode::refusal_close_code`]. Browsers need this: they cannot read the status
/// or body of a refused upgrade. Without it, refusals are plain HTTP errors (`401` + JSON).
pub const REFUSAL_PARAM: &str = "refusal";
/// The one value of [`REFUSAL_PARAM`].
pub const REFUSAL_CLOSE: &str = "close";
/// Query parameter with the epoch the `since` id belongs to (from the welcome frame).
pub const EPOCH_PARAM: &str = "epoch";
/// Query parameter that makes a connect a topic socket (`/connect?topic=feed:all`): for a topic
/// of a namespace with shards, the socket receives that topic only (`subscribed`, then its
/// events), from one of the topic's shards, and never wakes the user's room. `since` and
/// `epoch` resume the topic.
pub const TOPIC_PARAM: &str = "topic";
/// Query parameter with a subscription token for the [`TOPIC_PARAM`] topic.
pub const SUBSCRIPTION_PARAM: &str = "subscription";

/// A frame the server sends. `P` is the payload type: the server serializes raw JSON, a client
/// picks whatever it decodes payloads into.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<P> {
    /// The first frame on every socket.
    Welcome(Welcome),
    /// One published event.
    Event(EventFrame<P>),
    /// The server could not handle a frame the client sent; the socket stays open.
    Error(ErrorBody),
    /// The answer to a heartbeat.
    Pong,
    /// A topic subscription is in place; the missed events follow.
    Subscribed(Subscribed),
    /// A topic subscription was refused or ended by the server; the connection stays.
    Unsubscribed(Unsubscribed),
    /// How many sockets are subscribed to a topic (namespaces with `occupancy_ms`): sent when
    /// the count changed, at most once per window.
    Occupancy(Occupancy),
    /// A user's first socket joined a topic, or their last one left (namespaces with
    /// `presence`).
    Presence(PresenceChange),
}

/// The number of sockets subscribed to a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occupancy {
    /// The topic.
    pub topic: String,
    /// Subscribed sockets, over users' connections and topic sockets.
    pub count: u64,
}

/// A user came to or left a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceChange {
    /// The topic.
    pub topic: String,
    /// The user.
    pub user: String,
    /// `true`: the user's first socket subscribed; `false`: their last one left.
    pub present: bool,
}

/// Answers one topic of a `subscribe` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The topic.
    pub topic: String,
    /// The id of the newest event published to the topic so far (0 if none).
    pub last_id: u64,
    /// The identity of the topic's event stream (as [`Welcome::epoch`] for the user's stream).
    pub epoch: String,
    /// Present when the client asked to resume (`since`): as [`Welcome::recovered`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
}

/// A topic the socket does not (or no longer) receive, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribed {
    /// The topic, as the client sent it.
    pub topic: String,
    /// Why: `topic_forbidden`, `invalid_topic`, `unknown_namespace`, `too_many_subscriptions`,
    /// `internal_error` (retry later).
    pub error: ErrorBody,
}

/// Sent once, right after the socket is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The user id the socket is authenticated as (the token's `sub`).
    pub user: String,
    /// An id for this socket, for logs and support.
    pub connection: String,
    /// Server time in milliseconds since the Unix epoch.
    pub server_time: u64,
    /// When the connect token expires, in seconds since the Unix epoch; the server closes the
    /// socket with close code 4001 then.
    pub token_expires_at: i64,
    /// The id of the newest event published to this user so far (0 if none).
    pub last_id: u64,
    /// The identity of this user's event stream. It changes whenever the stored history was lost
    /// or reset; ids from another epoch cannot be resumed.
    pub epoch: String,
    /// Present when the client asked to resume (`since`): `true` means every event after `since`
    /// follows this frame, in order, before any live event; `false` means the gap cannot be filled
    /// (pruned, or another epoch) and the app must reload its state. Absent for a fresh connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// How often the client should send [`PING`], in milliseconds.
    pub heartbeat_ms: u32,
}

/// One event as a client receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFrame<P> {
    /// The topic it was published to; absent for an event published to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Strictly increasing across everything published to the user, or to the topic.
    pub id: u64,
    /// The event name, e.g. `"Message"` or `"Background"`.
    pub name: String,
    /// The event's JSON payload, as published.
    pub payload: P,
    /// When the server accepted the event, in milliseconds since the Unix epoch.
    pub ts: u64,
}

/// The `{"code":..,"message":..}` object inside HTTP error bodies and `error` frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code from [`ErrorCode`], e.g. `"invalid_signature"`.
    pub code: String,
    /// A human-readable explanation that names the problem.
    pub message: String,
    /// When retrying may succeed, in milliseconds from now (`rate_limited`); clients wait at
    /// least this long before they try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// Builds a body from a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

/// An HTTP error response body: `{"error":{"code":..,"message":..}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
}

/// A frame a client sends. Unknown or malformed frames are answered with an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// A heartbeat; normally answered by the runtime before it reaches the room.
    Ping,
    /// Subscribe to topics (or resume them after a reconnect).
    Subscribe {
        /// The topics, each with where to resume.
        topics: Vec<Subscription>,
    },
    /// End subscriptions; the server answers nothing, and stops sending their events.
    Unsubscribe {
        /// The topics.
        topics: Vec<String>,
    },
}

/// One topic of a `subscribe` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The topic, e.g. `product:42`.
    pub topic: String,
    /// The last id of the topic the client saw: the events after it follow `subscribed`.
    /// Absent: live events only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The epoch `since` belongs to (from `subscribed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// A subscription token for this topic, when the app grants it per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Subscription {
    /// Live events of `topic` from now on: no resume, no token.
    pub fn live(topic: String) -> Self {
        Self {
            topic,
            since: None,
            epoch: None,
            token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    #[test]
    fn heartbeat_texts_are_the_serialized_frames() {
        assert_eq!(serde_json::to_string(&ClientFrame::Ping).unwrap(), PING);
        assert_eq!(
            serde_json::to_string(&ServerFrame::<()>::Pong).unwrap(),
            PONG
        );
    }

    #[test]
    fn event_frame_keeps_the_raw_payload() {
        let payload = RawValue::from_string(r#"{"text":"hi"}"#.to_owned()).unwrap();
        let frame = ServerFrame::Event(EventFrame {
            topic: None,
            id: 7,
            name: "Message".to_owned(),
            payload: &*payload,
            ts: 1_700_000_000_000,
        });
        assert_eq!(
            serde_json::to_string(&frame).unwrap(),
            r#"{"type":"event","id":7,"name":"Message","payload":{"text":"hi"},"ts":1700000000000}"#
        );
    }

    #[test]
    fn topic_frames_have_the_documented_shape() {
        let subscribe: ClientFrame = serde_json::from_str(
            r#"{"type":"subscribe","topics":[{"topic":"product:42","since":3,"epoch":"e"},{"topic":"feed:all"}]}"#,
        )
        .unwrap();
        let ClientFrame::Subscribe { topics } = subscribe else {
            panic!("not a subscribe frame")
        };
        assert_eq!(
            (topics[0].since, topics[1].since, topics[1].token.as_deref()),
            (Some(3), None, None)
        );
        let event = ServerFrame::Event(EventFrame {
            topic: Some("product:42".to_owned()),
            id: 4,
            name: "ProductChanged".to_owned(),
            payload: 1,
            ts: 5,
        });
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"type":"event","topic":"product:42","id":4,"name":"ProductChanged","payload":1,"ts":5}"#
        );
        let refused = ServerFrame::<()>::Unsubscribed(Unsubscribed {
            topic: "orders:#7".to_owned(),
            error: ErrorBody::new(ErrorCode::TopicForbidden, "not yours"),
        });
        assert_eq!(
            serde_json::to_string(&refused).unwrap(),
            r#"{"type":"unsubscribed","topic":"orders:#7","error":{"code":"topic_forbidden","message":"not yours"}}"#
        );
    }

    #[test]
    fn welcome_round_trips() {
        let frame: ServerFrame<serde_json::Value> = ServerFrame::Welcome(Welcome {
            user: "42".into(),
            connection: "c1".into(),
            server_time: 1,
            token_expires_at: 2,
            last_id: 3,
            epoch: "e1".into(),
            recovered: Some(true),
            heartbeat_ms: HEARTBEAT_INTERVAL_MS,
        });
        let text = serde_json::to_string(&frame).unwrap();
        assert!(text.starts_with(r#"{"type":"welcome","user":"42""#));
        assert_eq!(
            serde_json::from_str::<ServerFrame<_>>(&text).unwrap(),
            frame
        );
    }

    #[test]
    fn error_response_has_the_documented_shape() {
        let body = ErrorResponse {
            error: ErrorBody::new(ErrorCode::StaleTimestamp, "too old"),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"code":"stale_timestamp","message":"too old"}}"#
        );
    }
}
