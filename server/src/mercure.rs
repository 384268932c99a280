//! A Mercure hub on edgepush topics (protocol 0.x, what `symfony/mercure` and
//! `symfony/mercure-bundle` speak by default), decided without I/O: the settings, the publish
//! form, the tokens' topic selectors, how a Mercure topic names an edgepush topic, and the
//! Server-Sent Events frames. `docs/mercure.md` has the model.
//!
//! A Mercure topic that is itself an edgepush topic of a declared namespace (`product:42`) is
//! that topic: Mercure and the SDK share it. Any other (`https://example.com/books/1`) is the
//! topic `mercure:` + its percent-encoded text, in the `mercure` namespace. A subscription to a
//! URI template or to `*` reads the topic `mercure:~t~` + the encoded selector, where every
//! update of a matching topic is stored too; the selectors subscribed so far are kept in a
//! registry ([`TEMPLATES_OBJECT`]) that each publish reads.

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{ServerFrame, Subscribed};
use edgepush_protocol::publish::validate_event_name;
use edgepush_protocol::token::TokenKey;
use edgepush_protocol::topic::Topic;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::history::StoreError;
use crate::internal::{EARLIEST, RoomFailure, RoomOutcome};
use crate::namespaces::Namespaces;

/// Where the hub is.
pub const MERCURE_PATH: &str = "/.well-known/mercure";
/// The namespace of Mercure topics that are not edgepush topics.
pub const MERCURE_NAMESPACE: &str = "mercure";
/// The cookie symfony/mercure-bundle sets for subscribers.
pub const MERCURE_COOKIE: &str = "mercureAuthorization";
/// The name of the topic object that keeps the template selectors subscribed so far (not a
/// valid topic, so no topic is named like it).
pub const TEMPLATES_OBJECT: &str = "mercure templates";

/// The most template selectors the hub keeps (each publish is matched against every one).
pub const MAX_TEMPLATES: usize = 1000;

/// The most topics one update may name.
pub const MAX_UPDATE_TOPICS: usize = 1000;

/// The hub's settings (`MERCURE_*`); the hub is off without its keys.
#[derive(Debug, Clone)]
pub struct MercureSettings {
    /// Verifies publishers' tokens (`MERCURE_PUBLISHER_JWT_KEY`, HS256).
    pub publisher: TokenKey,
    /// Verifies subscribers' tokens (`MERCURE_SUBSCRIBER_JWT_KEY`, HS256).
    pub subscriber: TokenKey,
    /// Subscribers without a token may read public updates (`MERCURE_ANONYMOUS`).
    pub anonymous: bool,
    /// Origins allowed to subscribe with credentials (`MERCURE_CORS_ORIGINS`, space-separated;
    /// `*` lets any other subscribe without).
    pub cors_origins: Vec<String>,
    /// Seconds between heartbeats on a subscription (`MERCURE_HEARTBEAT_SECONDS`, 40).
    pub heartbeat_s: u64,
    /// The longest a subscription stays open, in seconds (`MERCURE_MAX_CONNECTION_SECONDS`,
    /// 600); the browser reconnects and resumes.
    pub max_connection_s: u64,
    /// The most topics one subscription may name (`MERCURE_MAX_TOPICS`, 32).
    pub max_topics: usize,
}

/// What CORS grants a page of some origin that subscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorsGrant<'a> {
    /// A listed origin: it, with credentials (the authorization cookie).
    Origin(&'a str),
    /// Any origin under `*`: `*`, without credentials (the browser sends no cookie), as the
    /// dunglas hub answers: `*` must not hand every site its visitors' cookies.
    Any,
}

impl MercureSettings {
    /// What a subscription from `origin` is granted, if anything.
    pub fn cors_grant<'a>(&self, origin: &'a str) -> Option<CorsGrant<'a>> {
        if self.cors_origins.iter().any(|o| o == origin) {
            Some(CorsGrant::Origin(origin))
        } else if self.cors_origins.iter().any(|o| o == "*") {
            Some(CorsGrant::Any)
        } else {
            None
        }
    }
}

/// A refused Mercure request: the status a Mercure hub gives, a stable code, a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MercureError {
    /// The code (its HTTP status is the hub's).
    pub code: ErrorCode,
    /// What is wrong.
    pub message: String,
}

impl MercureError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// An update as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Its topics; the first is canonical.
    pub topics: Vec<String>,
    /// Its data (any text).
    pub data: String,
    /// Only for subscribers whose token's selectors match one of its topics.
    pub private: bool,
    /// Its id, if the publisher chose one.
    pub id: Option<String>,
    /// Its SSE `event:` type.
    pub kind: Option<String>,
    /// Its SSE `retry:`.
    pub retry: Option<u64>,
}

/// What an update is stored as: the payload of an edgepush event in each of its topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUpdate {
    /// The update id.
    pub id: String,
    /// The data.
    pub data: String,
    /// Private or not.
    #[serde(default)]
    pub private: bool,
    /// The SSE type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The SSE retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
    /// Every topic of the update (Mercure topics).
    pub topics: Vec<String>,
}

impl StoredUpdate {
    /// The update with its id settled.
    pub fn new(update: Update, id: String) -> Self {
        Self {
            id,
            data: update.data,
            private: update.private,
            kind: update.kind,
            retry: update.retry,
            topics: update.topics,
        }
    }

    /// The update a topic's event carries as its payload, if it is one: an update this hub
    /// stored, or an event of `POST /publish` shaped like one, whose id would end up on the
    /// stream's `id:` line, so it must be an update id.
    pub fn from_payload(payload: &serde_json::Value) -> Option<Self> {
        serde_json::from_value::<Self>(payload.clone())
            .ok()
            .filter(|update| is_update_id(&update.id))
    }

    /// The edgepush event name: the update's type, or `mercure`.
    pub fn event_name(&self) -> &str {
        self.kind.as_deref().unwrap_or("mercure")
    }

    /// The update as one Server-Sent Event, as a Mercure hub writes it. A type that is no event
    /// name (stored before publishes were checked for it: a line end in it would forge events)
    /// is left out: the update is a `message`.
    pub fn sse(&self) -> String {
        let mut frame = String::new();
        if let Some(kind) = self
            .kind
            .as_deref()
            .filter(|kind| validate_event_name(kind).is_ok())
        {
            frame.push_str(&format!("event: {kind}\n"));
        }
        if let Some(retry) = self.retry {
            frame.push_str(&format!("retry: {retry}\n"));
        }
        frame.push_str(&format!("id: {}\n", self.id));
        // A line ends at CRLF, CR or LF, as `EventSource` reads it.
        for line in self
            .data
            .split("\r\n")
            .flat_map(|part| part.split(['\r', '\n']))
        {
            frame.push_str(&format!("data: {line}\n"));
        }
        frame.push('\n');
        frame
    }
}

/// Parses the form `symfony/mercure` posts: `topic` (repeated), `data`, `private`, `id`,
/// `type`, `retry`.
pub fn parse_update(body: &[u8]) -> Result<Update, MercureError> {
    let mut update = Update {
        topics: Vec::new(),
        data: String::new(),
        private: false,
        id: None,
        kind: None,
        retry: None,
    };
    for (key, value) in form_urlencoded::parse(body) {
        match &*key {
            "topic" => update.topics.push(value.into_owned()),
            "data" => update.data = value.into_owned(),
            "private" => update.private = true,
            "id" => update.id = Some(value.into_owned()).filter(|id| !id.is_empty()),
            "type" => update.kind = Some(value.into_owned()).filter(|t| !t.is_empty()),
            "retry" => {
                let retry = value.parse::<u64>().map_err(|_| {
                    MercureError::new(
                        ErrorCode::InvalidField,
                        "Invalid \"retry\" parameter: must be a whole number of milliseconds",
                    )
                })?;
                update.retry = Some(retry);
            }
            _ => {}
        }
    }
    if update.topics.is_empty() {
        return Err(MercureError::new(
            ErrorCode::InvalidField,
            "Missing \"topic\" parameter",
        ));
    }
    if update.topics.len() > MAX_UPDATE_TOPICS {
        return Err(MercureError::new(
            ErrorCode::InvalidField,
            format!("an update names at most {MAX_UPDATE_TOPICS} topics"),
        ));
    }
    if let Some(id) = &update.id
        && !is_update_id(id)
    {
        return Err(MercureError::new(
            ErrorCode::InvalidField,
            "Invalid \"id\" parameter: 1 to 128 visible ASCII characters, not starting with #",
        ));
    }
    // The type is the SSE `event:` line and the SDK's event name: a line end would forge events.
    if let Some(kind) = &update.kind {
        validate_event_name(kind).map_err(|problem| {
            MercureError::new(
                ErrorCode::InvalidField,
                format!("Invalid \"type\" parameter: {problem}"),
            )
        })?;
    }
    Ok(update)
}

/// Whether `id` may be an update's id: 1 to 128 visible ASCII characters (nothing that would end
/// its SSE line), not starting with `#`.
fn is_update_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('#')
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Whether every topic of a publish holds the update, from their answers; else the first
/// refusal: the id stored with another update, or a failure whose message names the id, which
/// the publisher's retry must reuse so that the topics that stored the update keep it once.
pub fn stored_everywhere(
    id: &str,
    answers: impl IntoIterator<Item = Result<Option<RoomOutcome>, RoomFailure>>,
) -> Result<(), MercureError> {
    for answer in answers {
        match answer {
            Ok(Some(RoomOutcome::Stored { .. } | RoomOutcome::Duplicate { .. })) => {}
            Ok(Some(RoomOutcome::Conflict { .. })) => {
                return Err(MercureError::new(
                    ErrorCode::IdempotencyConflict,
                    format!("the update id {id:?} was already used for another update"),
                ));
            }
            Ok(None) => {
                return Err(MercureError::new(
                    ErrorCode::InternalError,
                    "a topic answered nothing",
                ));
            }
            Err(failure) => {
                return Err(MercureError::new(
                    failure.code,
                    format!(
                        "storing the update failed: {}; publish it again with the id {id:?}",
                        failure.message
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The edgepush topic a Mercure topic is stored and delivered in.
pub fn topic_for(mercure_topic: &str, namespaces: &Namespaces) -> Result<Topic, MercureError> {
    if let Ok(topic) = Topic::parse(mercure_topic)
        && topic.namespace() != MERCURE_NAMESPACE
        && namespaces.options(&topic).is_ok()
    {
        return Ok(topic);
    }
    encoded(&format!("{MERCURE_NAMESPACE}:"), mercure_topic)
}

/// Whether any subscriber may read `topic` without a selector that covers it: a topic of the
/// hub's own namespace (its updates are public or private one by one, as in Mercure), or of a
/// public namespace that belongs to no users. Any other edgepush topic is read over Mercure
/// only with a `mercure.subscribe` selector that covers it, as the SDK reads it only with a
/// grant; and the template selectors do not see its updates.
pub fn open_to_all(topic: &Topic, namespaces: &Namespaces) -> bool {
    topic.namespace() == MERCURE_NAMESPACE
        || (topic.users().is_none() && namespaces.options(topic).is_ok_and(|o| o.public))
}

/// The edgepush topic a subscription to the Mercure topic `text` reads, if the subscriber's
/// `mercure.subscribe` selectors (`may_read`) let it read there; else `topic_forbidden`.
pub fn subscribed_topic(
    text: &str,
    namespaces: &Namespaces,
    may_read: &[String],
) -> Result<Topic, MercureError> {
    let topic = topic_for(text, namespaces)?;
    if open_to_all(&topic, namespaces) || any_matches(may_read, &[text.to_owned()])? {
        return Ok(topic);
    }
    Err(MercureError::new(
        ErrorCode::TopicForbidden,
        format!(
            "{text:?} is a topic of the namespace {:?}, which is not public or belongs to users: \
             the subscriber's token needs a mercure.subscribe selector that covers it",
            topic.namespace()
        ),
    ))
}

/// The edgepush topics of an update's Mercure topics; `topic_forbidden` for a private update
/// to a topic every subscriber reads anyway (of a public namespace, over the SDK too).
pub fn update_topics(
    update: &Update,
    namespaces: &Namespaces,
) -> Result<Vec<(Topic, bool)>, MercureError> {
    update
        .topics
        .iter()
        .map(|text| {
            let topic = topic_for(text, namespaces)?;
            let open = open_to_all(&topic, namespaces);
            if update.private && open && topic.namespace() != MERCURE_NAMESPACE {
                return Err(MercureError::new(
                    ErrorCode::TopicForbidden,
                    format!(
                        "a private update cannot go to {text:?}: every connected user may read \
                         the public namespace {:?}",
                        topic.namespace()
                    ),
                ));
            }
            Ok((topic, open))
        })
        .collect()
}

/// Whether a subscription's topic is a selector of many topics (`*`, a URI template).
pub fn is_template(selector: &str) -> bool {
    selector == "*" || selector.contains('{')
}

/// The edgepush topic a template selector's subscribers read: every update of a matching topic
/// is stored there too. Checks the template.
pub fn template_topic(selector: &str) -> Result<Topic, MercureError> {
    if selector != "*" {
        template(selector)?;
    }
    encoded(&format!("{MERCURE_NAMESPACE}:~t~"), selector)
}

/// `prefix` and `text` percent-encoded (everything but letters, digits and `-._/`): a
/// valid topic, or why not.
fn encoded(prefix: &str, mercure_topic: &str) -> Result<Topic, MercureError> {
    let mut text = prefix.to_owned();
    for byte in mercure_topic.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._/".contains(&byte) {
            text.push(byte as char);
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    Topic::parse(&text).map_err(|problem| {
        MercureError::new(
            ErrorCode::InvalidTopic,
            format!(
                "the topic {mercure_topic:?} cannot be stored: {problem} (once percent-encoded)"
            ),
        )
    })
}

/// Which topics a token lets its holder publish to or subscribe to: the claim
/// `mercure.<kind>` (or under `https://mercure.rocks/`). A template this hub does not read
/// refuses the token (`400 invalid_topic`), wherever it stands in the list: passed over, it
/// would leave the holder without updates it expects, and say nothing.
pub fn selectors(claims: &serde_json::Value, kind: &str) -> Result<Vec<String>, MercureError> {
    let selectors: Vec<String> = ["mercure", "https://mercure.rocks/"]
        .iter()
        .find_map(|root| claims.get(root)?.get(kind)?.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for selector in selectors.iter().filter(|s| s.contains('{')) {
        template(selector)?;
    }
    Ok(selectors)
}

/// Whether `selector` (`*`, a topic, or an RFC 6570 template like `https://x/books/{id}`)
/// matches `topic`.
pub fn matches(selector: &str, topic: &str) -> Result<bool, MercureError> {
    if selector == "*" || selector == topic {
        return Ok(true);
    }
    if !selector.contains('{') {
        return Ok(false);
    }
    Ok(match_template(&template(selector)?, topic))
}

/// Whether any selector matches any of the topics.
pub fn any_matches(selectors: &[String], topics: &[String]) -> Result<bool, MercureError> {
    for selector in selectors {
        for topic in topics {
            if matches(selector, topic)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A part of a URI template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part<'a> {
    Literal(&'a str),
    /// `{var}`: one or more characters other than `/ ? # ,`.
    Segment,
    /// `{+var}` or `{#var}`: one or more of any character.
    Any,
}

fn template(selector: &str) -> Result<Vec<Part<'_>>, MercureError> {
    let malformed = || {
        MercureError::new(
            ErrorCode::InvalidTopic,
            format!(
                "{selector:?} is not a URI template this hub reads ({{var}}, {{+var}}, {{#var}})"
            ),
        )
    };
    let mut parts = Vec::new();
    let mut rest = selector;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(Part::Literal(&rest[..open]));
        }
        let close = rest[open..].find('}').ok_or_else(malformed)? + open;
        let expression = &rest[open + 1..close];
        let (operator, name) = match expression.chars().next() {
            Some('+' | '#') => (Part::Any, &expression[1..]),
            _ => (Part::Segment, expression),
        };
        // RFC 6570's varname: letters, digits and `_`, a `.` only between them.
        if !name.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }) {
            return Err(malformed());
        }
        parts.push(operator);
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err(malformed());
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest));
    }
    Ok(parts)
}

/// Whether `parts` match the whole of `text`, in O(parts × text) steps whatever the template
/// (a backtracking match of many variables would take exponential time). `matched[j]`: the
/// parts after the current one match `text[j..]`, for every char boundary `j`.
fn match_template(parts: &[Part<'_>], text: &str) -> bool {
    let len = text.len();
    let mut matched = vec![false; len + 1];
    matched[len] = true;
    for part in parts.iter().rev() {
        let mut here = vec![false; len + 1];
        match part {
            Part::Literal(literal) => {
                for (j, slot) in here.iter_mut().enumerate() {
                    *slot = text.is_char_boundary(j)
                        && text[j..].starts_with(literal)
                        && matched[j + literal.len()];
                }
            }
            // One or more characters, then the rest: taken from the end back, so that
            // `here[next]` (more of the same variable) is known at `j`.
            variable => {
                for (j, c) in text.char_indices().rev() {
                    let next = j + c.len_utf8();
                    let allowed = *variable == Part::Any || !"/?#,".contains(c);
                    here[j] = allowed && (matched[next] || here[next]);
                }
            }
        }
        matched = here;
    }
    matched[0]
}

/// An update id: `urn:uuid:` and a UUIDv7 from the time and 10 random bytes.
pub fn uuid_v7(now_ms: u64, random: [u8; 10]) -> String {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&now_ms.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// How far before a hub-made update's time a topic that does not hold the update resumes: events
/// of other topics stored just before it may still have been on their way to the subscriber.
pub const RESUME_MARGIN_MS: u64 = 1_000;

/// Where a topic resumes a subscriber whose `Last-Event-ID` names no event it holds: after its
/// newest event stored [`RESUME_MARGIN_MS`] before the named event was: a hub-made update's
/// UUIDv7 tells when, for any other id `stored_elsewhere_ms` does (when another topic of the
/// subscription stored it, which the hub asked), as `since_time`; `None` (live) when neither
/// knows.
pub fn resume_point(
    last_event_id: &str,
    stored_elsewhere_ms: Option<u64>,
    since_time: impl FnOnce(u64) -> Result<u64, StoreError>,
) -> Result<Option<u64>, StoreError> {
    match uuid_v7_ms(last_event_id).or(stored_elsewhere_ms) {
        Some(made) => since_time(made.saturating_sub(RESUME_MARGIN_MS)).map(Some),
        None => Ok(None),
    }
}

/// The id a `Last-Event-ID` of the form `<topic>/<id>` names in `topic` (the SSE id of an event
/// published with `POST /publish`).
pub fn own_event_id(topic: &str, last_event_id: &str) -> Option<u64> {
    last_event_id
        .strip_prefix(topic)?
        .strip_prefix('/')?
        .parse()
        .ok()
}

/// Which of a subscription's topics the hub asks when they stored the event a `Last-Event-ID`
/// names, so that the topics that do not hold it resume from that time: none when one topic is
/// subscribed, for `earliest`, or for a hub-made update (its id tells the time); the topic whose
/// own event it names (`<topic>/<id>`); else every topic (a publisher's own update id).
pub fn topics_to_ask<'a>(last_event_id: &str, topics: &'a [Topic]) -> Vec<&'a Topic> {
    if topics.len() < 2 || last_event_id == EARLIEST || uuid_v7_ms(last_event_id).is_some() {
        return Vec::new();
    }
    let owners: Vec<_> = topics
        .iter()
        .filter(|t| own_event_id(t.as_str(), last_event_id).is_some())
        .collect();
    if owners.is_empty() {
        topics.iter().collect()
    } else {
        owners
    }
}

/// When a hub-made update id (`urn:uuid:` and a UUIDv7) was made, in ms; `None` for another id.
fn uuid_v7_ms(id: &str) -> Option<u64> {
    let hex: String = id.strip_prefix("urn:uuid:")?.split('-').collect();
    if hex.len() != 32 || !hex.is_ascii() || hex.as_bytes()[12] != b'7' {
        return None;
    }
    u64::from_str_radix(&hex[..12], 16).ok()
}

/// The `Last-Event-ID` header of a resume's answer: the id `asked` for when every topic resumed
/// after it with nothing missing (each socket's first frame `subscribed` with `recovered: true`),
/// else `earliest`: no topic held the id or could place it in time, or a topic's history no
/// longer reaches back to it, so some updates after it are not sent.
pub fn preceding_id<'a>(asked: &'a str, greetings: &[Option<String>]) -> &'a str {
    let recovered = |greeting: &Option<String>| {
        greeting.as_deref().is_some_and(|text| {
            matches!(
                serde_json::from_str::<ServerFrame<IgnoredAny>>(text),
                Ok(ServerFrame::Subscribed(Subscribed {
                    recovered: Some(true),
                    ..
                }))
            )
        })
    };
    if asked != EARLIEST && !greetings.is_empty() && greetings.iter().all(recovered) {
        asked
    } else {
        EARLIEST
    }
}

/// The replays of a subscription's topics (each topic's frames in its own order) as one list in
/// the order their events were stored (`ts`), each topic's order kept.
pub fn in_stored_order(replays: Vec<Vec<String>>) -> Vec<String> {
    let stored = |frame: &String| match serde_json::from_str::<ServerFrame<IgnoredAny>>(frame) {
        Ok(ServerFrame::Event(event)) => event.ts,
        _ => 0,
    };
    let mut queues: Vec<std::collections::VecDeque<(u64, String)>> = replays
        .into_iter()
        .map(|frames| frames.into_iter().map(|f| (stored(&f), f)).collect())
        .collect();
    let mut merged = Vec::with_capacity(queues.iter().map(|q| q.len()).sum());
    while let Some(first) = queues
        .iter_mut()
        .filter(|queue| !queue.is_empty())
        .min_by_key(|queue| queue.front().map_or(u64::MAX, |(ts, _)| *ts))
    {
        if let Some((_, frame)) = first.pop_front() {
            merged.push(frame);
        }
    }
    merged
}

/// The token of a request: `Authorization: Bearer` first, then the `authorization` query
/// parameter, then the `mercureAuthorization` cookie. An `Authorization` header of another
/// scheme is refused (`401 invalid_token`): when the header is there, the spec has the hub use it.
pub fn request_token(
    authorization: Option<&str>,
    query: Option<&str>,
    cookie: Option<&str>,
) -> Result<Option<String>, MercureError> {
    if let Some(header) = authorization {
        return match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") => {
                Ok(Some(token.trim().to_owned()))
            }
            _ => Err(MercureError::new(
                ErrorCode::InvalidToken,
                "the Authorization header is not `Bearer <JWT>`: a hub reads the token from it \
                 when it is there",
            )),
        };
    }
    if let Some(token) = query.filter(|t| !t.is_empty()) {
        return Ok(Some(token.to_owned()));
    }
    Ok(cookie.and_then(|cookie| {
        cookie
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == MERCURE_COOKIE)
            .map(|(_, value)| value.to_owned())
    }))
}

/// The claims of a request's token checked with `key`, or the refusal a hub gives (401).
pub fn verify(key: &TokenKey, token: &str, now: i64) -> Result<serde_json::Value, MercureError> {
    key.verify_any(token, now).map_err(|err| {
        MercureError::new(err.code(), format!("the Mercure token is not valid: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespaces {
        Namespaces::parse(r#"{"product":{"public":true}}"#).unwrap()
    }

    #[test]
    fn the_form_symfony_sends_is_read_in_full() {
        let body = b"topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&topic=https%3A%2F%2Fexample.com%2Fusers%2F42&data=%7B%22status%22%3A%22OutOfStock%22%7D&private=on&id=urn%3Auuid%3A1&type=BookUpdated&retry=5000";
        let update = parse_update(body).unwrap();
        assert_eq!(
            update.topics,
            [
                "https://example.com/books/1",
                "https://example.com/users/42"
            ]
        );
        assert_eq!(update.data, r#"{"status":"OutOfStock"}"#);
        assert!(update.private);
        assert_eq!(
            (update.id.as_deref(), update.kind.as_deref(), update.retry),
            (Some("urn:uuid:1"), Some("BookUpdated"), Some(5000))
        );
        assert_eq!(
            parse_update(b"data=x").unwrap_err().message,
            "Missing \"topic\" parameter"
        );
        assert_eq!(
            parse_update(b"topic=a&retry=soon").unwrap_err().code,
            ErrorCode::InvalidField
        );
        let plus = parse_update(b"topic=a&data=two+words").unwrap();
        assert_eq!(plus.data, "two words");
    }

    #[test]
    fn a_type_or_id_that_would_end_its_sse_line_is_refused() {
        for body in [
            "topic=a&type=a%0Adata%3A%20forged%0A%0Aid%3A%20x",
            "topic=a&type=a%0Db",
            "topic=a&type=a%00b",
            "topic=a&id=a%0Ab",
            "topic=a&id=a%0Db",
            "topic=a&id=a%00b",
        ] {
            assert_eq!(
                parse_update(body.as_bytes()).unwrap_err().code,
                ErrorCode::InvalidField,
                "{body}"
            );
        }
        // The type is the SDK's event name too: at most 64 bytes.
        let long = format!("topic=a&type={}", "t".repeat(65));
        assert!(
            parse_update(long.as_bytes())
                .unwrap_err()
                .message
                .contains("\"type\"")
        );
        let fine = format!("topic=a&type={}", "t".repeat(64));
        assert!(parse_update(fine.as_bytes()).is_ok());
    }

    #[test]
    fn a_publish_that_failed_in_a_topic_names_the_id_to_retry_with() {
        let id = uuid_v7(50_000, [0; 10]);
        let stored = || {
            Ok(Some(RoomOutcome::Stored {
                id: 1,
                sockets: 0,
                relays: None,
            }))
        };
        assert_eq!(
            stored_everywhere(&id, [stored(), Ok(Some(RoomOutcome::Duplicate { id: 1 }))]),
            Ok(())
        );
        let failed = Err(RoomFailure::new(ErrorCode::InternalError, "disk full"));
        let err = stored_everywhere(&id, [stored(), failed]).unwrap_err();
        assert_eq!(err.code, ErrorCode::InternalError);
        assert!(
            err.message.contains("disk full") && err.message.contains(&id),
            "{err}"
        );
        let conflict = Ok(Some(RoomOutcome::Conflict { id: 1 }));
        assert_eq!(
            stored_everywhere(&id, [conflict]).unwrap_err().code,
            ErrorCode::IdempotencyConflict
        );
        assert_eq!(
            stored_everywhere(&id, [Ok(None)]).unwrap_err().code,
            ErrorCode::InternalError
        );
    }

    #[test]
    fn mercure_topics_map_to_edgepush_topics() {
        assert_eq!(
            topic_for("product:42", &ns()).unwrap().as_str(),
            "product:42"
        );
        assert_eq!(
            topic_for("https://example.com/books/1", &ns())
                .unwrap()
                .as_str(),
            "mercure:https%3A//example.com/books/1"
        );
        assert_eq!(
            topic_for("undeclared:1", &ns()).unwrap().as_str(),
            "mercure:undeclared%3A1"
        );
        assert_eq!(
            topic_for("a#b*c d", &ns()).unwrap().as_str(),
            "mercure:a%23b%2Ac%20d"
        );
        assert_eq!(
            topic_for(&"x".repeat(300), &ns()).unwrap_err().code,
            ErrorCode::InvalidTopic
        );
        assert_eq!(
            topic_for("~t~x", &ns()).unwrap().as_str(),
            "mercure:%7Et%7Ex"
        );
        assert_eq!(
            template_topic("https://x/{id}").unwrap().as_str(),
            "mercure:~t~https%3A//x/%7Bid%7D"
        );
        assert_eq!(template_topic("*").unwrap().as_str(), "mercure:~t~%2A");
        assert!(template_topic("https://x/{").is_err());
        assert!(is_template("*") && is_template("https://x/{id}") && !is_template("https://x/1"));
    }

    #[test]
    fn selectors_are_exact_star_or_templates() {
        let claims = serde_json::json!({"mercure": {"publish": ["https://example.com/books/{id}"], "subscribe": ["*"]}});
        let publish = selectors(&claims, "publish").unwrap();
        assert!(any_matches(&publish, &["https://example.com/books/1".into()]).unwrap());
        // One template the hub does not read refuses the token, first in the list or last.
        for list in [["https://x/{?q}", "*"], ["*", "https://x/{?q}"]] {
            let claims = serde_json::json!({"mercure": {"subscribe": list}});
            let refused = selectors(&claims, "subscribe").unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidTopic);
        }
        assert!(!any_matches(&publish, &["https://example.com/books/1/x".into()]).unwrap());
        assert!(!any_matches(&publish, &["https://example.com/users/1".into()]).unwrap());
        assert!(matches("*", "anything").unwrap());
        assert!(matches("https://x/{+rest}", "https://x/a/b?c").unwrap());
        assert!(matches("https://x/{a}/{b}", "https://x/1/2").unwrap());
        assert!(!matches("https://x/{a}", "https://x/").unwrap());
        assert!(matches("https://x/{a.b}", "https://x/1").unwrap());
        // Operators and modifiers this hub does not read; `{.f}` is the label operator, not a
        // variable named `.f`.
        for bad in [
            "https://x/{",
            "https://x/{}",
            "https://x/{a}}",
            "https://x/{a b}",
            "https://x/{/id}",
            "https://x/{?q}",
            "https://x/{id*}",
            "https://x/{a,b}",
            "https://x/{id:3}",
            "https://x/{.f}",
            "https://x/{a.}",
            "https://x/{a..b}",
        ] {
            assert_eq!(
                matches(bad, "https://x/1").unwrap_err().code,
                ErrorCode::InvalidTopic,
                "{bad}"
            );
        }
        let rocks = serde_json::json!({"https://mercure.rocks/": {"subscribe": ["a"]}});
        assert_eq!(selectors(&rocks, "subscribe").unwrap(), ["a"]);
        assert!(
            selectors(&serde_json::json!({}), "publish")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn templates_match_in_linear_time_whatever_their_variables() {
        // Twenty `{+x}` before a literal that is not there: a backtracking match would try
        // about C(45, 20) splits.
        let selector = format!("{}!", "{+x}".repeat(20));
        let topic = "https://example.com/books/1234567890123456789";
        assert!(!matches(&selector, topic).unwrap());
        assert!(matches(&format!("{}9", "{+x}".repeat(20)), topic).unwrap());
        assert!(matches("https://x/{a}{b}", "https://x/12").unwrap());
        assert!(!matches("https://x/{a}{b}", "https://x/1").unwrap());
        assert!(matches("https://x/{a}/{+b}/z", "https://x/1/a/b/z").unwrap());
        assert!(!matches("https://x/{a}/z", "https://x/1/2/z").unwrap());
        assert!(matches("https://x/é/{a}", "https://x/é/ü").unwrap());
        assert!(matches("{#a}", "ü").unwrap() && !matches("{a}", "").unwrap());
    }

    #[test]
    fn edgepush_topics_are_read_over_mercure_as_the_sdk_reads_them() {
        let namespaces = Namespaces::parse(r#"{"product":{"public":true},"orders":{}}"#).unwrap();
        let none: Vec<String> = Vec::new();
        let read = |text: &str, granted: &[String]| {
            subscribed_topic(text, &namespaces, granted).map_err(|e| e.code)
        };
        assert!(read("product:42", &none).is_ok());
        assert!(read("https://example.com/books/1", &none).is_ok());
        for closed in ["orders:42", "orders:#42", "product:#42"] {
            assert_eq!(
                read(closed, &none),
                Err(ErrorCode::TopicForbidden),
                "{closed}"
            );
            assert!(read(closed, &[closed.to_owned()]).is_ok(), "{closed}");
            assert!(read(closed, &["*".to_owned()]).is_ok(), "{closed}");
        }
        assert_eq!(
            read("orders:#42", &["orders:#7".to_owned()]),
            Err(ErrorCode::TopicForbidden)
        );

        let update = |topics: &[&str], private: bool| Update {
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            data: String::new(),
            private,
            id: None,
            kind: None,
            retry: None,
        };
        let opens = |u: &Update| {
            update_topics(u, &namespaces).map(|t| t.into_iter().map(|(_, open)| open).collect())
        };
        assert_eq!(
            opens(&update(&["product:1", "orders:1", "https://x/1"], false)),
            Ok::<Vec<bool>, MercureError>(vec![true, false, true])
        );
        assert!(opens(&update(&["orders:#42", "https://x/1"], true)).is_ok());
        assert_eq!(
            opens(&update(&["https://x/1", "product:1"], true))
                .unwrap_err()
                .code,
            ErrorCode::TopicForbidden
        );
    }

    #[test]
    fn updates_are_written_as_a_hub_writes_them() {
        let update = StoredUpdate {
            id: "urn:uuid:1".into(),
            data: "line one\nline two".into(),
            private: false,
            kind: Some("BookUpdated".into()),
            retry: Some(5000),
            topics: vec!["https://example.com/books/1".into()],
        };
        assert_eq!(
            update.sse(),
            "event: BookUpdated\nretry: 5000\nid: urn:uuid:1\ndata: line one\ndata: line two\n\n"
        );
        let plain = StoredUpdate {
            kind: None,
            retry: None,
            ..update
        };
        assert_eq!(plain.event_name(), "mercure");
        assert!(plain.sse().starts_with("id: urn:uuid:1\n"));
        // Stored before a publish's type was checked: no line of it reaches the stream.
        let forged = StoredUpdate {
            kind: Some("a\ndata: forged\n\nid: x".into()),
            ..plain
        };
        assert_eq!(
            forged.sse(),
            "id: urn:uuid:1\ndata: line one\ndata: line two\n\n"
        );
    }

    #[test]
    fn a_payload_is_read_as_an_update_only_with_an_update_id() {
        let payload = |id: &str| serde_json::json!({"id": id, "data": "d", "topics": ["https://example.com/a"]});
        let update = StoredUpdate::from_payload(&payload("urn:uuid:1"));
        assert_eq!(update.map(|u| u.id), Some("urn:uuid:1".to_owned()));
        // A `POST /publish` event shaped like an update: its id would be the stream's id: line.
        for id in ["x\ndata: forged\n\nid: y", "a b", "#frag", ""] {
            assert_eq!(StoredUpdate::from_payload(&payload(id)), None, "{id:?}");
        }
        assert_eq!(
            StoredUpdate::from_payload(&serde_json::json!({"text": "hi"})),
            None
        );
    }

    #[test]
    fn data_lines_end_at_cr_lf_or_crlf_as_event_source_reads_them() {
        let update = StoredUpdate {
            id: "u".into(),
            data: "a\rb\r\nc\nd\r".into(),
            private: false,
            kind: None,
            retry: None,
            topics: Vec::new(),
        };
        assert_eq!(
            update.sse(),
            "id: u\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n"
        );
    }

    #[test]
    fn update_ids_are_uuid_v7_urns_in_time_order() {
        let id = uuid_v7(0x0199_f3a4_7c1e, [0xff; 10]);
        assert_eq!(id, "urn:uuid:0199f3a4-7c1e-7fff-bfff-ffffffffffff");
        assert!(uuid_v7(2, [0; 10]) > uuid_v7(1, [0xff; 10]));
        assert_eq!(uuid_v7_ms(&id), Some(0x0199_f3a4_7c1e));
        for other in [
            "urn:uuid:0199f3a4-7c1e-4fff-bfff-ffffffffffff",
            "urn:uuid:0199f3a4-7c1e-7fff-bfff",
            "urn:uuid:0199f3a4-7c1é-7ff-bfff-ffffffffffff",
            "0199f3a4-7c1e-7fff-bfff-ffffffffffff",
            "my-own-id",
        ] {
            assert_eq!(uuid_v7_ms(other), None, "{other}");
        }
    }

    #[test]
    fn a_topic_resumes_after_its_own_event_or_shortly_before_another_topics_update() {
        assert_eq!(own_event_id("feed:x", "feed:x/41"), Some(41));
        for other in ["feed:x/nope", "feed:y/41", "feed:x41", "my-own-id"] {
            assert_eq!(own_event_id("feed:x", other), None, "{other}");
        }
        let never = |_| -> Result<u64, StoreError> { panic!("no time to look up") };
        assert_eq!(resume_point("my-own-id", None, never), Ok(None));
        let seen = std::cell::Cell::new(0);
        let before = |ms| {
            seen.set(ms);
            Ok(7)
        };
        let update = uuid_v7(50_000, [0; 10]);
        assert_eq!(resume_point(&update, None, before), Ok(Some(7)));
        assert_eq!(seen.get(), 50_000 - RESUME_MARGIN_MS);
        // A publisher's own id, or another topic's event, that another topic stored at 80 s.
        for id in ["my-own-id", "feed:y/41"] {
            assert_eq!(resume_point(id, Some(80_000), before), Ok(Some(7)));
            assert_eq!(seen.get(), 80_000 - RESUME_MARGIN_MS);
        }
    }

    #[test]
    fn the_hub_asks_the_topics_that_may_hold_an_id_only_when_the_id_does_not_tell_its_time() {
        let topics: Vec<Topic> = ["feed:x", "feed:y", "feed:x/1"]
            .iter()
            .map(|t| Topic::parse(t).unwrap())
            .collect();
        let asked = |id: &str, topics: &[Topic]| -> Vec<String> {
            topics_to_ask(id, topics)
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect()
        };
        assert!(asked("book-7", &topics[..1]).is_empty());
        assert!(asked(EARLIEST, &topics).is_empty());
        assert!(asked(&uuid_v7(50_000, [0; 10]), &topics).is_empty());
        assert_eq!(asked("feed:y/41", &topics), ["feed:y"]);
        assert_eq!(asked("feed:x/1/5", &topics), ["feed:x/1"]);
        assert_eq!(asked("book-7", &topics), ["feed:x", "feed:y", "feed:x/1"]);
        assert_eq!(asked("feed:z/3", &topics), ["feed:x", "feed:y", "feed:x/1"]);
    }

    #[test]
    fn a_listed_origin_subscribes_with_credentials_any_other_under_a_star_without() {
        let hub = |origins: &[&str]| MercureSettings {
            publisher: TokenKey::new(b"a-publisher-key-of-32-bytes-or-more!").unwrap(),
            subscriber: TokenKey::new(b"a-publisher-key-of-32-bytes-or-more!").unwrap(),
            anonymous: false,
            cors_origins: origins.iter().map(|o| o.to_string()).collect(),
            heartbeat_s: 40,
            max_connection_s: 600,
            max_topics: 32,
        };
        let listed = hub(&["https://app.example", "*"]);
        assert_eq!(
            listed.cors_grant("https://app.example"),
            Some(CorsGrant::Origin("https://app.example"))
        );
        assert_eq!(
            listed.cors_grant("https://evil.example"),
            Some(CorsGrant::Any)
        );
        assert_eq!(
            hub(&["https://app.example"]).cors_grant("https://evil.example"),
            None
        );
        assert_eq!(hub(&[]).cors_grant("https://app.example"), None);
    }

    #[test]
    fn a_resume_answers_the_id_it_resumed_after_or_earliest() {
        let subscribed = |recovered: &str| {
            Some(format!(
                r#"{{"type":"subscribed","topic":"t:1","last_id":4,"epoch":"e","recovered":{recovered}}}"#
            ))
        };
        let both = [subscribed("true"), subscribed("true")];
        assert_eq!(preceding_id("urn:uuid:x", &both), "urn:uuid:x");
        // A topic whose history no longer reaches back, or a socket whose join failed.
        let gap = [subscribed("true"), subscribed("false")];
        assert_eq!(preceding_id("urn:uuid:x", &gap), EARLIEST);
        let failed = [
            subscribed("true"),
            Some(r#"{"type":"unsubscribed"}"#.into()),
        ];
        assert_eq!(preceding_id("urn:uuid:x", &failed), EARLIEST);
        assert_eq!(preceding_id("urn:uuid:x", &[None]), EARLIEST);
        assert_eq!(preceding_id("urn:uuid:x", &[]), EARLIEST);
        // Resumed live: the id was found nowhere (no `recovered`).
        let live = [Some(
            r#"{"type":"subscribed","topic":"t:1","last_id":4,"epoch":"e"}"#.into(),
        )];
        assert_eq!(preceding_id("urn:uuid:x", &live), EARLIEST);
        assert_eq!(preceding_id(EARLIEST, &both), EARLIEST);
    }

    #[test]
    fn replays_of_several_topics_go_out_in_the_order_they_were_stored() {
        let event = |topic: &str, id: u64, ts: u64| {
            format!(
                r#"{{"type":"event","topic":"{topic}","id":{id},"name":"m","payload":0,"ts":{ts}}}"#
            )
        };
        let a = vec![event("a", 1, 10), event("a", 2, 20), event("a", 3, 40)];
        // b's clock went back between its two events: its own order is kept.
        let b = vec![event("b", 1, 30), event("b", 2, 25), event("b", 3, 50)];
        assert_eq!(
            in_stored_order(vec![a.clone(), b.clone(), Vec::new()]),
            [&a[0], &a[1], &b[0], &b[1], &a[2], &b[2]].map(String::clone)
        );
        assert_eq!(in_stored_order(vec![a.clone()]), a);
        assert!(in_stored_order(Vec::new()).is_empty());
    }

    #[test]
    fn the_token_comes_from_the_header_the_query_or_the_cookie() {
        let token = |header, query, cookie| request_token(header, query, cookie).unwrap();
        assert_eq!(
            token(Some("Bearer a.b.c"), Some("q"), None).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            token(Some("bearer a.b.c"), None, None).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(token(None, Some("q"), None).as_deref(), Some("q"));
        let cookie = Some("x=1; mercureAuthorization=c.c.c; y=2");
        assert_eq!(token(None, None, cookie).as_deref(), Some("c.c.c"));
        assert_eq!(token(None, None, Some("x=1")), None);
        // A header of another scheme is not passed over for the cookie.
        for header in ["Basic zzz", "Bearer", "Token a.b.c"] {
            let refused = request_token(Some(header), None, cookie).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidToken, "{header}");
        }
    }
}
