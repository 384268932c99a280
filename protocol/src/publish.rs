//! `POST /publish` bodies: parsing with errors that name the offending field, and the response.
//!
//! Three shapes are accepted:
//! - one event: `{"user":"42","name":"Message","payload":{"text":"hi"}}`, or to a topic:
//!   `{"topic":"product:42","name":"ProductChanged","payload":{..}}` (exactly one of the two)
//! - the legacy shape existing Symfony code sends: `{"UserId":42,"Name":"Message","Payload":{..}}`
//! - a batch of either: `{"events":[{..},{..}]}`, at most [`MAX_BATCH_EVENTS`] events, which may
//!   target many users.
//!
//! User ids are strings; integer ids are accepted and turned into their decimal string.
//! A missing payload is `null`. Unknown fields are ignored.
//!
//! Idempotency: an event may carry `"idempotency_key"`, and a request may carry the
//! [`IDEMPOTENCY_HEADER`]; the event at index `i` of such a request gets the key `(<header>, i)`.
//! The two kinds of key never match each other ([`IdempotencyKey`]). Publishing a key that the
//! user's room has seen within its idempotency window with the same event (name and payload
//! text) returns the original id (with `"duplicate": true`) instead of storing it again; the same
//! key with a different event is refused with `idempotency_conflict`.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codes::ErrorCode;
use crate::frames::ErrorBody;
use crate::topic::{Topic, TopicError};

/// The largest request body the server reads, in bytes; larger bodies get `413` before hashing.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The largest payload of one event, in bytes of JSON.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The most events one publish request may carry.
pub const MAX_BATCH_EVENTS: usize = 100;
/// The longest user id, in bytes.
pub const MAX_USER_ID_BYTES: usize = 128;
/// The longest event name, in bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 64;
/// The longest idempotency key (header or per event), in bytes.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;
/// The request header whose value makes every event of the request idempotent.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// A user id as JSON may carry it: a string, or an integer read as its decimal string (the
/// legacy `"UserId": 42`, a numeric token `sub`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum IdText {
    Text(String),
    Signed(i64),
    Unsigned(u64),
}

impl From<IdText> for String {
    fn from(id: IdText) -> Self {
        match id {
            IdText::Text(text) => text,
            IdText::Signed(n) => n.to_string(),
            IdText::Unsigned(n) => n.to_string(),
        }
    }
}

/// A validated user id: 1 to [`MAX_USER_ID_BYTES`] bytes, no control characters. Deserializes
/// from a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "IdText", into = "String")]
pub struct UserId(String);

impl UserId {
    /// Validates a user id; the error says what is wrong with it.
    pub fn parse(id: impl Into<String>) -> Result<Self, &'static str> {
        let id = id.into();
        if id.is_empty() {
            Err("must not be empty")
        } else if id.len() > MAX_USER_ID_BYTES {
            Err("must be at most 128 bytes")
        } else if id.chars().any(char::is_control) {
            Err("must not contain control characters")
        } else {
            Ok(Self(id))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<IdText> for UserId {
    type Error = &'static str;
    fn try_from(id: IdText) -> Result<Self, Self::Error> {
        Self::parse(String::from(id))
    }
}

impl From<UserId> for String {
    fn from(id: UserId) -> Self {
        id.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an event goes: one user's sockets, or every subscriber of a topic. In answers it is
/// flattened into the entry: `"user":"42"` or `"topic":"product:42"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A user (their room).
    User(UserId),
    /// A topic (its subscribers).
    Topic(Topic),
}

impl Target {
    /// The user id or topic name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::User(user) => user.as_str(),
            Self::Topic(topic) => topic.as_str(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(user) => write!(f, "user {:?}", user.as_str()),
            Self::Topic(topic) => write!(f, "topic {:?}", topic.as_str()),
        }
    }
}

/// One event to publish, validated. Serializes in the documented shape, `"user"` or `"topic"`
/// beside the other fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewEvent {
    /// The user or topic that receives it.
    #[serde(flatten, with = "flat_target")]
    pub to: Target,
    /// The event name (1 to [`MAX_EVENT_NAME_BYTES`] bytes, no control characters).
    pub name: String,
    /// The JSON payload, kept byte for byte as published.
    pub payload: Box<RawValue>,
    /// The key that makes publishing this event idempotent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// An event's idempotency key, by where it came from. Keys of the two kinds live apart: an
/// event's own key `"req:0"` never matches the key the header `req` gives the event at index 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyKey {
    /// The event's own `idempotency_key`.
    Event(String),
    /// The request's [`IDEMPOTENCY_HEADER`] and the event's index in the request.
    Request {
        /// The header's value.
        key: String,
        /// The event's index in the request.
        index: usize,
    },
}

impl IdempotencyKey {
    /// The key as stored: `e:<key>` or `r:<key>:<index>`, distinct for distinct keys (keys are
    /// visible ASCII, and the prefix says which kind it is).
    pub fn storage_key(&self) -> String {
        match self {
            Self::Event(key) => format!("e:{key}"),
            Self::Request { key, index } => format!("r:{key}:{index}"),
        }
    }
}

/// `Target` as a `user` or `topic` field beside others. Serde's own flattening buffers the
/// whole object, which a raw payload does not survive; this reads just the two fields.
mod flat_target {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Target, Topic, UserId};

    #[derive(Serialize, Deserialize)]
    struct Fields<U, T> {
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<U>,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<T>,
    }

    pub fn serialize<S: Serializer>(to: &Target, serializer: S) -> Result<S::Ok, S::Error> {
        let fields: Fields<&UserId, &Topic> = match to {
            Target::User(user) => Fields {
                user: Some(user),
                topic: None,
            },
            Target::Topic(topic) => Fields {
                user: None,
                topic: Some(topic),
            },
        };
        fields.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Target, D::Error> {
        match Fields::<UserId, Topic>::deserialize(deserializer)? {
            Fields {
                user: Some(user),
                topic: None,
            } => Ok(Target::User(user)),
            Fields {
                user: None,
                topic: Some(topic),
            } => Ok(Target::Topic(topic)),
            _ => Err(serde::de::Error::custom(
                "an event has exactly one of user and topic",
            )),
        }
    }
}

/// Why a publish body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The body is not JSON. Fix the encoder; the message carries the parser's position.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// A field is missing, has the wrong type or an invalid value. `field` is a path such as
    /// `events[2].user`.
    #[error("{field} {problem}")]
    InvalidField {
        /// Where the problem is, e.g. `name` or `events[2].user`.
        field: String,
        /// What is wrong, e.g. `is missing`.
        problem: String,
    },
    /// One event's payload is over [`MAX_PAYLOAD_BYTES`]. Send a reference instead of the data.
    #[error("{field} is {size} bytes of JSON; the limit is {MAX_PAYLOAD_BYTES} bytes per event")]
    PayloadTooLarge {
        /// Which payload, e.g. `events[3].payload`.
        field: String,
        /// Its size in bytes.
        size: usize,
    },
    /// A `topic` is malformed or a pattern.
    #[error("{field}: {problem}")]
    InvalidTopic {
        /// Which topic, e.g. `events[1].topic`.
        field: String,
        /// What is wrong with it.
        problem: TopicError,
    },
    /// The batch is over [`MAX_BATCH_EVENTS`]. Split it into several requests.
    #[error("the batch holds {count} events; the limit is {MAX_BATCH_EVENTS} per request")]
    BatchTooLarge {
        /// How many events the batch held.
        count: usize,
    },
}

impl PublishError {
    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidJson(_) => ErrorCode::InvalidJson,
            Self::InvalidField { .. } => ErrorCode::InvalidField,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::InvalidTopic { .. } => ErrorCode::InvalidTopic,
            Self::BatchTooLarge { .. } => ErrorCode::BatchTooLarge,
        }
    }

    fn field(field: &str, problem: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.to_owned(),
            problem: problem.into(),
        }
    }
}

/// What a publish request answers: one entry per event, in request order. `202` when every
/// event was stored (or was a duplicate); `207` when some were and others failed, each failed
/// entry carrying its error. When every event failed, the answer is the first failure's error
/// body and status instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// Each event's outcome.
    pub events: Vec<EventOutcome>,
}

impl PublishResponse {
    /// The HTTP status of this answer: `202` if nothing failed, else `207`.
    pub fn status(&self) -> u16 {
        if self
            .events
            .iter()
            .any(|e| matches!(e, EventOutcome::Failed(_)))
        {
            207
        } else {
            202
        }
    }
}

/// One event's outcome in a [`PublishResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventOutcome {
    /// Stored and sent, or a duplicate of a stored event.
    Published(PublishedEvent),
    /// Not stored; its error says why and whether retrying can help.
    Failed(FailedEvent),
}

/// One published event in a [`PublishResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedEvent {
    /// The user or topic it was published to.
    #[serde(flatten)]
    pub to: Target,
    /// Its id in the user's or the topic's stream.
    pub id: u64,
    /// How many open sockets it was sent to.
    pub sockets: u32,
    /// For a topic event: how many Durable Objects it was relayed to (users' rooms and the
    /// topic's shards), each one request (`docs/topics.md`, costs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relays: Option<u32>,
    /// `true` when the idempotency key was seen before: `id` is the original event's id and
    /// nothing was stored or sent again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

/// An event that was not stored, in a [`PublishResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEvent {
    /// The user or topic it was meant for.
    #[serde(flatten)]
    pub to: Target,
    /// Why it was not stored (`internal_error`: retry; `idempotency_conflict`: use a new key).
    pub error: ErrorBody,
}

type JsonObject = HashMap<String, Box<RawValue>>;

/// Checks an idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_BYTES`] bytes of visible ASCII.
pub fn validate_idempotency_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        Err("must not be empty")
    } else if key.len() > MAX_IDEMPOTENCY_KEY_BYTES {
        Err("must be at most 128 bytes")
    } else if !key.bytes().all(|b| b.is_ascii_graphic()) {
        Err("must be visible ASCII without spaces")
    } else {
        Ok(())
    }
}

/// Parses and validates a publish body, then applies the request's `Idempotency-Key` header
/// (if any) to the events that carry no key of their own.
pub fn parse_publish_request(
    body: &[u8],
    idempotency_header: Option<&str>,
) -> Result<Vec<NewEvent>, PublishError> {
    let mut events = parse_publish_body(body)?;
    if let Some(request_key) = idempotency_header {
        validate_idempotency_key(request_key)
            .map_err(|problem| PublishError::field(IDEMPOTENCY_HEADER, problem))?;
        for (index, event) in events.iter_mut().enumerate() {
            event
                .idempotency_key
                .get_or_insert_with(|| IdempotencyKey::Request {
                    key: request_key.to_owned(),
                    index,
                });
        }
    }
    Ok(events)
}

/// Parses and validates a publish body into its events, in order.
pub fn parse_publish_body(body: &[u8]) -> Result<Vec<NewEvent>, PublishError> {
    let object: JsonObject = match serde_json::from_slice(body) {
        Ok(object) => object,
        Err(err) if err.is_data() => {
            return Err(PublishError::field(
                "body",
                "must be a JSON object: one event, or {\"events\":[...]}",
            ));
        }
        Err(err) => return Err(PublishError::InvalidJson(err.to_string())),
    };
    let Some(events) = object.get("events") else {
        return Ok(vec![parse_event(&object, "")?]);
    };
    let events: Vec<&RawValue> = serde_json::from_str(events.get())
        .map_err(|_| PublishError::field("events", "must be an array of events"))?;
    if events.is_empty() {
        return Err(PublishError::field(
            "events",
            "must hold at least one event",
        ));
    }
    if events.len() > MAX_BATCH_EVENTS {
        return Err(PublishError::BatchTooLarge {
            count: events.len(),
        });
    }
    events
        .iter()
        .enumerate()
        .map(|(index, raw)| {
            let prefix = format!("events[{index}].");
            let object: JsonObject = serde_json::from_str(raw.get()).map_err(|_| {
                PublishError::field(&format!("events[{index}]"), "must be a JSON object")
            })?;
            parse_event(&object, &prefix)
        })
        .collect()
}

/// Looks a field up under its name or its legacy (Go proxy) name.
fn lookup<'a>(object: &'a JsonObject, name: &str, legacy: &str) -> Option<&'a RawValue> {
    object
        .get(name)
        .or_else(|| object.get(legacy))
        .map(|v| &**v)
}

fn parse_event(object: &JsonObject, prefix: &str) -> Result<NewEvent, PublishError> {
    let to = match (lookup(object, "user", "UserId"), object.get("topic")) {
        (Some(_), Some(_)) => {
            return Err(PublishError::field(
                &format!("{prefix}topic"),
                "cannot be sent with user: an event goes to one user or one topic",
            ));
        }
        (None, None) => {
            return Err(PublishError::field(
                &format!("{prefix}user"),
                "is missing (send \"user\": \"42\", the legacy \"UserId\": 42, or \"topic\")",
            ));
        }
        (Some(raw), None) => Target::User(parse_user(raw, &format!("{prefix}user"))?),
        (None, Some(raw)) => Target::Topic(parse_topic(raw, &format!("{prefix}topic"))?),
    };
    let name_field = format!("{prefix}name");
    let name = match lookup(object, "name", "Name") {
        None => return Err(PublishError::field(&name_field, "is missing")),
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map_err(|_| PublishError::field(&name_field, "must be a string"))?,
    };
    validate_event_name(&name).map_err(|problem| PublishError::field(&name_field, problem))?;

    let payload = match lookup(object, "payload", "Payload") {
        None => RawValue::from_string("null".to_owned()).expect("null is JSON"),
        Some(raw) if raw.get().len() > MAX_PAYLOAD_BYTES => {
            return Err(PublishError::PayloadTooLarge {
                field: format!("{prefix}payload"),
                size: raw.get().len(),
            });
        }
        Some(raw) => raw.to_owned(),
    };
    let key_field = format!("{prefix}idempotency_key");
    let idempotency_key = match lookup(object, "idempotency_key", "IdempotencyKey") {
        None => None,
        Some(raw) => {
            let key = serde_json::from_str::<String>(raw.get())
                .map_err(|_| PublishError::field(&key_field, "must be a string"))?;
            validate_idempotency_key(&key)
                .map_err(|problem| PublishError::field(&key_field, problem))?;
            Some(IdempotencyKey::Event(key))
        }
    };
    Ok(NewEvent {
        to,
        name,
        payload,
        idempotency_key,
    })
}

fn parse_user(raw: &RawValue, field: &str) -> Result<UserId, PublishError> {
    let user = serde_json::from_str::<IdText>(raw.get())
        .map(String::from)
        .map_err(|_| PublishError::field(field, "must be a string or an integer"))?;
    UserId::parse(user).map_err(|problem| PublishError::field(field, problem))
}

fn parse_topic(raw: &RawValue, field: &str) -> Result<Topic, PublishError> {
    let topic = serde_json::from_str::<String>(raw.get())
        .map_err(|_| PublishError::field(field, "must be a string such as \"product:42\""))?;
    Topic::parse(&topic).map_err(|problem| PublishError::InvalidTopic {
        field: field.to_owned(),
        problem,
    })
}

/// Checks an event name: 1 to [`MAX_EVENT_NAME_BYTES`] bytes, no control characters.
pub fn validate_event_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("must not be empty")
    } else if name.len() > MAX_EVENT_NAME_BYTES {
        Err("must be at most 64 bytes")
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Vec<NewEvent>, PublishError> {
        parse_publish_body(body.as_bytes())
    }

    fn field_error(body: &str) -> String {
        match parse(body) {
            Err(PublishError::InvalidField { field, problem }) => format!("{field} {problem}"),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_new_shape() {
        let events = parse(r#"{"user":"42","name":"Message","payload":{"text":"hi"}}"#).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].to.as_str(), "42");
        assert_eq!(events[0].name, "Message");
        assert_eq!(events[0].payload.get(), r#"{"text":"hi"}"#);
    }

    #[test]
    fn parses_the_legacy_shape_with_a_numeric_user() {
        let events =
            parse(r#"{"UserId":42,"Name":"Background","Payload":{"color":"red"}}"#).unwrap();
        assert_eq!(events[0].to.as_str(), "42");
        assert_eq!(events[0].name, "Background");
        assert_eq!(events[0].payload.get(), r#"{"color":"red"}"#);
    }

    #[test]
    fn parses_a_batch_for_many_users_in_order() {
        let events = parse(
            r#"{"events":[{"user":"a","name":"X"},{"UserId":7,"Name":"Y","Payload":[1]},{"user":"a","name":"Z","payload":null}]}"#,
        )
        .unwrap();
        let summary: Vec<_> = events
            .iter()
            .map(|e| (e.to.as_str(), e.name.as_str(), e.payload.get()))
            .collect();
        assert_eq!(
            summary,
            [("a", "X", "null"), ("7", "Y", "[1]"), ("a", "Z", "null")]
        );
    }

    #[test]
    fn refuses_malformed_json() {
        assert!(matches!(
            parse("{\"user\":"),
            Err(PublishError::InvalidJson(_))
        ));
        assert!(matches!(parse(""), Err(PublishError::InvalidJson(_))));
        assert_eq!(parse("[1,2]").unwrap_err().code(), ErrorCode::InvalidField);
    }

    #[test]
    fn names_the_missing_or_wrong_field() {
        assert!(field_error(r#"{"name":"X"}"#).starts_with("user is missing"));
        assert_eq!(field_error(r#"{"user":"1"}"#), "name is missing");
        assert_eq!(
            field_error(r#"{"user":"","name":"X"}"#),
            "user must not be empty"
        );
        assert_eq!(
            field_error(r#"{"user":"1","name":""}"#),
            "name must not be empty"
        );
        assert_eq!(
            field_error(r#"{"user":true,"name":"X"}"#),
            "user must be a string or an integer"
        );
        assert_eq!(
            field_error(r#"{"user":4.5,"name":"X"}"#),
            "user must be a string or an integer"
        );
        assert_eq!(
            field_error(r#"{"user":"1","name":5}"#),
            "name must be a string"
        );
        assert_eq!(
            field_error(r#"{"events":[{"user":"1","name":"X"},{"user":"2"}]}"#),
            "events[1].name is missing"
        );
        assert_eq!(
            field_error(r#"{"events":[]}"#),
            "events must hold at least one event"
        );
        assert_eq!(
            field_error(r#"{"events":{}}"#),
            "events must be an array of events"
        );
        assert_eq!(
            field_error(r#"{"events":[3]}"#),
            "events[0] must be a JSON object"
        );
        let long_user = format!(r#"{{"user":"{}","name":"X"}}"#, "u".repeat(129));
        assert_eq!(field_error(&long_user), "user must be at most 128 bytes");
    }

    #[test]
    fn refuses_oversized_payloads_and_batches() {
        let big = format!(
            r#"{{"user":"1","name":"X","payload":"{}"}}"#,
            "x".repeat(MAX_PAYLOAD_BYTES)
        );
        assert!(matches!(
            parse(&big),
            Err(PublishError::PayloadTooLarge { ref field, .. }) if field == "payload"
        ));
        let events = vec![r#"{"user":"1","name":"X"}"#; MAX_BATCH_EVENTS + 1].join(",");
        assert_eq!(
            parse(&format!(r#"{{"events":[{events}]}}"#)).unwrap_err(),
            PublishError::BatchTooLarge {
                count: MAX_BATCH_EVENTS + 1
            }
        );
        let events = vec![r#"{"user":"1","name":"X"}"#; MAX_BATCH_EVENTS].join(",");
        assert_eq!(
            parse(&format!(r#"{{"events":[{events}]}}"#)).unwrap().len(),
            100
        );
    }

    #[test]
    fn request_keys_apply_per_index_and_event_keys_win() {
        let body = br#"{"events":[{"user":"1","name":"X"},{"user":"2","name":"Y","idempotency_key":"own"}]}"#;
        let events = parse_publish_request(body, Some("req-7")).unwrap();
        let stored = |i: usize| events[i].idempotency_key.as_ref().map(|k| k.storage_key());
        assert_eq!(stored(0).as_deref(), Some("r:req-7:0"));
        assert_eq!(stored(1).as_deref(), Some("e:own"));
        assert!(
            parse_publish_request(body, None).unwrap()[0]
                .idempotency_key
                .is_none()
        );
        assert!(matches!(
            parse_publish_request(body, Some("has space")),
            Err(PublishError::InvalidField { ref field, .. }) if field == IDEMPOTENCY_HEADER
        ));
        assert_eq!(
            field_error(r#"{"user":"1","name":"X","idempotency_key":""}"#),
            "idempotency_key must not be empty"
        );
        assert_eq!(
            field_error(r#"{"user":"1","name":"X","idempotency_key":5}"#),
            "idempotency_key must be a string"
        );
    }

    #[test]
    fn header_keys_and_event_keys_never_collide() {
        let body = br#"{"events":[{"user":"1","name":"X"},{"user":"1","name":"Y","idempotency_key":"req:0"}]}"#;
        let events = parse_publish_request(body, Some("req")).unwrap();
        let keys: Vec<_> = events
            .iter()
            .map(|e| e.idempotency_key.as_ref().map(IdempotencyKey::storage_key))
            .collect();
        assert_ne!(keys[0], keys[1], "{keys:?}");
    }

    #[test]
    fn events_go_to_a_user_or_a_topic_never_both() {
        let events = parse(
            r#"{"events":[{"topic":"product:42","name":"ProductChanged"},{"user":"7","name":"M"}]}"#,
        )
        .unwrap();
        assert_eq!(
            events.iter().map(|e| e.to.clone()).collect::<Vec<_>>(),
            vec![
                Target::Topic(Topic::parse("product:42").unwrap()),
                Target::User(UserId::parse("7").unwrap())
            ]
        );
        assert_eq!(
            field_error(r#"{"user":"7","topic":"product:42","name":"M"}"#),
            "topic cannot be sent with user: an event goes to one user or one topic"
        );
        for (topic, problem) in [
            ("product:*", TopicError::Wildcard),
            ("Product:1", TopicError::Namespace),
            ("product", TopicError::NoNamespace),
            ("product:4 2", TopicError::Byte(b' ')),
        ] {
            let body = format!(r#"{{"events":[{{"topic":{topic:?},"name":"M"}}]}}"#);
            let err = parse(&body).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidTopic, "{topic}");
            assert_eq!(
                err,
                PublishError::InvalidTopic {
                    field: "events[0].topic".into(),
                    problem
                }
            );
        }
        assert_eq!(
            field_error(r#"{"topic":42,"name":"M"}"#),
            "topic must be a string such as \"product:42\""
        );
    }

    #[test]
    fn topic_answers_name_the_topic() {
        let published = EventOutcome::Published(PublishedEvent {
            to: Target::Topic(Topic::parse("feed:all").unwrap()),
            id: 9,
            sockets: 4,
            relays: Some(2),
            duplicate: false,
        });
        let json = serde_json::to_string(&published).unwrap();
        assert_eq!(
            json,
            r#"{"topic":"feed:all","id":9,"sockets":4,"relays":2}"#
        );
        assert_eq!(
            serde_json::from_str::<EventOutcome>(&json).unwrap(),
            published
        );
    }

    #[test]
    fn answers_list_failures_beside_published_events() {
        let published = EventOutcome::Published(PublishedEvent {
            to: Target::User(UserId::parse("a").unwrap()),
            id: 3,
            sockets: 1,
            relays: None,
            duplicate: false,
        });
        let failed = EventOutcome::Failed(FailedEvent {
            to: Target::User(UserId::parse("b").unwrap()),
            error: ErrorBody::new(ErrorCode::InternalError, "the room failed"),
        });
        let answer = PublishResponse {
            events: vec![published.clone(), failed],
        };
        assert_eq!(answer.status(), 207);
        let json = serde_json::to_string(&answer).unwrap();
        assert_eq!(
            json,
            r#"{"events":[{"user":"a","id":3,"sockets":1},{"user":"b","error":{"code":"internal_error","message":"the room failed"}}]}"#
        );
        assert_eq!(
            serde_json::from_str::<PublishResponse>(&json).unwrap(),
            answer
        );
        let all_good = PublishResponse {
            events: vec![published],
        };
        assert_eq!(all_good.status(), 202);
    }

    #[test]
    fn new_events_serialize_in_the_documented_shape() {
        let event = NewEvent {
            to: Target::User(UserId::parse("42").unwrap()),
            name: "Message".into(),
            payload: RawValue::from_string(r#"{"text":"hi"}"#.into()).unwrap(),
            idempotency_key: None,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"user":"42","name":"Message","payload":{"text":"hi"}}"#
        );
        let to_topic =
            r#"{"topic":"feed:all","name":"M","payload":[1, 2],"idempotency_key":{"event":"k"}}"#;
        let read: NewEvent = serde_json::from_str(to_topic).unwrap();
        assert_eq!(read.to, Target::Topic(Topic::parse("feed:all").unwrap()));
        assert_eq!(read.payload.get(), "[1, 2]");
        assert!(serde_json::from_str::<NewEvent>(r#"{"name":"M","payload":1}"#).is_err());
    }
}
