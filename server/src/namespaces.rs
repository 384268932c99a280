//! Topic namespaces: the `TOPIC_NAMESPACES` setting, and who may read a topic.
//!
//! The setting is a JSON object from namespace to options, e.g.
//! `{"product":{"public":true},"orders":{},"feed":{"public":true,"history_events":100,"shards":4}}`.
//! A topic whose namespace is not declared is refused everywhere (`unknown_namespace`).
//!
//! Reading is decided by [`Namespaces::authorize`], first grant wins (`docs/topics.md`):
//! 1. a topic that belongs to users (`orders:#42`) is readable by those users only, whatever
//!    else would grant it;
//! 2. a subscription token for this user and this topic;
//! 3. the connect token's `topics` claim (topics or whole-segment patterns);
//! 4. a `public` namespace.

use std::collections::BTreeMap;

use edgepush_protocol::ErrorCode;
use edgepush_protocol::token::{SubscriptionClaims, TokenError};
use edgepush_protocol::topic::{Topic, TopicPattern};
use serde::Deserialize;

use crate::history::HistoryLimits;

/// One namespace's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamespaceOptions {
    /// Any connected user may subscribe.
    #[serde(default)]
    pub public: bool,
    /// Events kept per topic for resume (default: the users' `HISTORY_MAX_EVENTS`).
    #[serde(default)]
    pub history_events: Option<u64>,
    /// How long events are kept per topic, in seconds (default: `HISTORY_MAX_AGE_SECONDS`).
    #[serde(default)]
    pub history_age_seconds: Option<u64>,
    /// For audiences too large to relay through each reader's room: readers connect topic
    /// sockets (`/connect?topic=`), spread over this many shards per topic, and a publish costs
    /// one request per shard with sockets. 0 (the default): only subscriptions over the user's
    /// socket.
    #[serde(default)]
    pub shards: u32,
    /// Subscribers get `presence` frames when a user's first socket joins or their last one
    /// leaves (for small topics: each change is relayed to every member), and the signed
    /// `GET /presence?topic=` lists the users.
    #[serde(default)]
    pub presence: bool,
    /// Subscribers get an `occupancy` frame (the number of subscribed sockets) when it changed,
    /// at most once per this many milliseconds.
    #[serde(default)]
    pub occupancy_ms: Option<u64>,
    /// The backend gets signed webhooks (`WEBHOOK_URL`) when a topic becomes occupied or vacated
    /// and when a user's first socket joins or last one leaves (`docs/topics.md`).
    #[serde(default)]
    pub webhooks: bool,
}

impl NamespaceOptions {
    /// Whether its topics count their sockets (for `presence`, `occupancy_ms` or `webhooks`):
    /// then every socket's leave is told to the topic, not only a member's last one.
    pub fn counts_sockets(&self) -> bool {
        self.presence || self.occupancy_ms.is_some() || self.webhooks
    }

    /// The history bounds of this namespace's topics, given the users' defaults.
    pub fn history(&self, defaults: HistoryLimits) -> HistoryLimits {
        HistoryLimits {
            max_events: self.history_events.unwrap_or(defaults.max_events),
            max_age_ms: self
                .history_age_seconds
                .map_or(defaults.max_age_ms, |s| s.saturating_mul(1000)),
        }
    }
}

/// The declared namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces(BTreeMap<String, NamespaceOptions>);

/// Why a topic was refused, with its stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `invalid_topic`, `unknown_namespace` or `topic_forbidden`.
    pub code: ErrorCode,
    /// What happened, naming the topic.
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, message: String) -> Self {
        Self { code, message }
    }
}

/// What a connection brings to a subscribe: who it is and what its connect token grants.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The connection's user.
    pub user: &'a str,
    /// The connect token's `topics` claim.
    pub grants: &'a [TopicPattern],
}

impl Namespaces {
    /// Parses the `TOPIC_NAMESPACES` setting; the error says what is wrong.
    pub fn parse(json: &str) -> Result<Self, String> {
        let map: BTreeMap<String, NamespaceOptions> =
            serde_json::from_str(json).map_err(|err| err.to_string())?;
        for (name, options) in &map {
            // A namespace is valid when `name:x` is a valid topic with that namespace.
            match Topic::parse(&format!("{name}:x")) {
                Ok(topic) if topic.namespace() == name => {}
                _ => {
                    return Err(format!(
                        "{name:?} is not a namespace (1 to 32 of a-z 0-9 _ -)"
                    ));
                }
            }
            // As HISTORY_MAX_EVENTS and HISTORY_MAX_AGE_SECONDS: with 0, no event would be kept
            // for a resume, nor an idempotency key for a retry.
            for (option, value) in [
                ("history_events", options.history_events),
                ("history_age_seconds", options.history_age_seconds),
            ] {
                if value == Some(0) {
                    return Err(format!("{name:?}: {option} must be at least 1"));
                }
            }
        }
        Ok(Self(map))
    }

    /// Whether the namespace `name` is declared public.
    pub fn is_public(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|options| options.public)
    }

    /// Declares `name` with `options`, unless the setting declared it already.
    pub fn declare_unless_declared(&mut self, name: &str, options: NamespaceOptions) {
        self.0.entry(name.to_owned()).or_insert(options);
    }

    /// The options of `topic`'s namespace, or `unknown_namespace`.
    pub fn options(&self, topic: &Topic) -> Result<&NamespaceOptions, Refusal> {
        self.0.get(topic.namespace()).ok_or_else(|| {
            Refusal::new(
                ErrorCode::UnknownNamespace,
                format!(
                    "the namespace {:?} of topic {:?} is not declared in TOPIC_NAMESPACES",
                    topic.namespace(),
                    topic.as_str()
                ),
            )
        })
    }

    /// Parses `text` and checks that its namespace is declared: all a subscription the backend
    /// makes for a user needs.
    pub fn validate(&self, text: &str) -> Result<Topic, Refusal> {
        let topic = Topic::parse(text).map_err(|problem| {
            Refusal::new(ErrorCode::InvalidTopic, format!("{text:?}: {problem}"))
        })?;
        self.options(&topic)?;
        Ok(topic)
    }

    /// Whether the topic named `topic` counts its sockets ([`NamespaceOptions::counts_sockets`]);
    /// `false` for a name that is no topic of a declared namespace.
    pub fn counts_sockets(&self, topic: &str) -> bool {
        Topic::parse(topic)
            .ok()
            .and_then(|topic| self.options(&topic).ok().copied())
            .is_some_and(|options| options.counts_sockets())
    }

    /// `topic` as a subscription over a user's connection (path 1, kept by the user's room):
    /// refused for a namespace with `shards`, whose readers connect topic sockets, so that
    /// publishing to it costs one request per shard whatever the number of readers.
    pub fn over_room(&self, topic: Topic) -> Result<Topic, Refusal> {
        if self.options(&topic)?.shards == 0 {
            return Ok(topic);
        }
        Err(Refusal::new(
            ErrorCode::TopicSocketRequired,
            format!(
                "the namespace {:?} has shards: read {:?} over a topic socket \
                 (/connect?topic=), not over the user's connection",
                topic.namespace(),
                topic.as_str()
            ),
        ))
    }

    /// Parses `text` and decides whether `reader` may read it. `token` is the subscription token
    /// sent with the subscribe, already verified (`Err` if it failed verification).
    pub fn authorize(
        &self,
        text: &str,
        reader: Reader<'_>,
        token: Option<Result<SubscriptionClaims, TokenError>>,
    ) -> Result<Topic, Refusal> {
        let topic = self.validate(text)?;
        let options = self.options(&topic)?;
        let forbidden = |why: String| {
            Refusal::new(
                ErrorCode::TopicForbidden,
                format!("user {:?} may not read {text:?}: {why}", reader.user),
            )
        };
        if topic.users().is_some() {
            return if topic.admits(reader.user) {
                Ok(topic)
            } else {
                Err(forbidden("the topic belongs to other users".into()))
            };
        }
        match token {
            Some(Ok(claims)) if claims.sub == reader.user && claims.topic == text => {
                return Ok(topic);
            }
            Some(Ok(claims)) => {
                return Err(forbidden(format!(
                    "the subscription token is for user {:?} and topic {:?}",
                    claims.sub, claims.topic
                )));
            }
            Some(Err(err)) => {
                return Err(forbidden(format!(
                    "the subscription token is not valid: {err}"
                )));
            }
            None => {}
        }
        if reader.grants.iter().any(|grant| grant.matches(&topic)) || options.public {
            Ok(topic)
        } else {
            Err(forbidden(
                "the namespace is not public, and neither the connect token's topics claim nor \
                 a subscription token grants it"
                    .into(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaces() -> Namespaces {
        Namespaces::parse(
            r#"{"product":{"public":true},"orders":{},"private":{"history_events":5}}"#,
        )
        .unwrap()
    }

    fn reader<'a>(user: &'a str, grants: &'a [TopicPattern]) -> Reader<'a> {
        Reader { user, grants }
    }

    fn code(result: Result<Topic, Refusal>) -> Option<ErrorCode> {
        result.err().map(|r| r.code)
    }

    fn token(sub: &str, topic: &str) -> Option<Result<SubscriptionClaims, TokenError>> {
        Some(Ok(SubscriptionClaims {
            sub: sub.into(),
            topic: topic.into(),
            exp: 0,
        }))
    }

    #[test]
    fn the_setting_is_validated() {
        assert!(Namespaces::parse(r#"{"Product":{}}"#).is_err());
        assert!(Namespaces::parse(r#"{"product":{"publik":true}}"#).is_err());
        assert!(Namespaces::parse("[]").is_err());
        for zero in [
            r#"{"feed":{"history_events":0}}"#,
            r#"{"feed":{"history_age_seconds":0}}"#,
        ] {
            let problem = Namespaces::parse(zero).unwrap_err();
            assert!(problem.contains("must be at least 1"), "{problem}");
        }
        let history = namespaces()
            .options(&Topic::parse("private:x").unwrap())
            .unwrap()
            .history(HistoryLimits::default());
        assert_eq!(history.max_events, 5);
    }

    #[test]
    fn shards_are_declared_per_namespace() {
        let ns = Namespaces::parse(r#"{"feed":{"public":true,"shards":8},"product":{}}"#).unwrap();
        let shards = |t: &str| ns.options(&Topic::parse(t).unwrap()).unwrap().shards;
        assert_eq!((shards("feed:all"), shards("product:1")), (8, 0));
        let over_room = |t: &str| code(ns.over_room(Topic::parse(t).unwrap()));
        assert_eq!(over_room("product:1"), None);
        assert_eq!(over_room("feed:all"), Some(ErrorCode::TopicSocketRequired));
    }

    #[test]
    fn a_topic_counts_its_sockets_for_presence_viewer_counts_or_webhooks() {
        let ns = Namespaces::parse(
            r#"{"plain":{},"live":{"presence":true},"stage":{"occupancy_ms":100},"hooks":{"webhooks":true}}"#,
        )
        .unwrap();
        let counting = [
            "plain:a",
            "live:a",
            "stage:a",
            "hooks:a",
            "nope:a",
            "not a topic",
        ]
        .map(|topic| ns.counts_sockets(topic));
        assert_eq!(counting, [false, true, true, true, false, false]);
    }

    #[test]
    fn public_namespaces_are_readable_by_anyone_connected() {
        assert_eq!(
            code(namespaces().authorize("product:42", reader("7", &[]), None)),
            None
        );
        assert_eq!(
            code(namespaces().authorize("private:x", reader("7", &[]), None)),
            Some(ErrorCode::TopicForbidden)
        );
    }

    #[test]
    fn user_topics_are_for_their_users_only_whatever_grants_them() {
        let all = [TopicPattern::parse("orders:*").unwrap()];
        let ns = namespaces();
        assert_eq!(
            code(ns.authorize("orders:#42", reader("42", &[]), None)),
            None
        );
        assert_eq!(
            code(ns.authorize("dm:#7,42", reader("42", &[]), None)),
            Some(ErrorCode::UnknownNamespace)
        );
        for (text, user) in [
            ("orders:#42", "7"),
            ("orders:#42", "042"),
            ("orders:#42", "42 "),
        ] {
            assert_eq!(
                code(ns.authorize(text, reader(user, &all), token(user, text))),
                Some(ErrorCode::TopicForbidden),
                "{text} for {user:?}"
            );
        }
    }

    #[test]
    fn name_tricks_are_other_topics_or_invalid() {
        let ns = namespaces();
        let owner = reader("42", &[]);
        let intruder = reader("7", &[]);
        for text in [
            "orders:%2342",
            "orders:#42:x",
            "orders:*",
            "ORDERS:#42",
            "orders:#4%32",
            "orders :#42",
            "orders:#42\n",
        ] {
            let got = ns.authorize(text, intruder, None);
            assert!(got.is_err(), "{text:?} was granted to user 7");
        }
        assert_eq!(
            code(ns.authorize("orders:*", owner, None)),
            Some(ErrorCode::InvalidTopic)
        );
    }

    #[test]
    fn grants_and_subscription_tokens() {
        let grants = [TopicPattern::parse("private:*").unwrap()];
        let ns = namespaces();
        assert_eq!(
            code(ns.authorize("private:x", reader("7", &grants), None)),
            None
        );
        assert_eq!(
            code(ns.authorize("private:x:y", reader("7", &grants), None)),
            Some(ErrorCode::TopicForbidden),
            "a wildcard is one whole segment"
        );
        assert_eq!(
            code(ns.authorize("private:x", reader("7", &[]), token("7", "private:x"))),
            None
        );
        assert_eq!(
            code(ns.authorize("private:x", reader("8", &[]), token("7", "private:x"))),
            Some(ErrorCode::TopicForbidden)
        );
        assert_eq!(
            code(ns.authorize("private:y", reader("7", &[]), token("7", "private:x"))),
            Some(ErrorCode::TopicForbidden)
        );
        assert_eq!(
            code(ns.authorize(
                "private:x",
                reader("7", &[]),
                Some(Err(TokenError::BadSignature))
            )),
            Some(ErrorCode::TopicForbidden)
        );
    }
}
