//! The worker's settings, read from its environment (vars and secrets) and validated.
//!
//! | setting | required | meaning |
//! |---|---|---|
//! | `JWT_SECRET` | yes | HS256 secret for connect tokens, at least 32 bytes |
//! | `PUBLISH_KEYS` | yes | `id:secret` pairs, comma-separated (two during a rotation) |
//! | `JWT_AUDIENCE` | no | when set, tokens must carry this `aud` |
//! | `JWT_ISSUER` | no | when set, tokens must carry this `iss` |
//! | `HISTORY_MAX_EVENTS` | no | events kept per user for resume (default 1000) |
//! | `HISTORY_MAX_AGE_SECONDS` | no | how long events are kept (default 86400) |
//! | `MAX_SOCKETS_PER_USER` | no | open sockets per user (default 100) |
//! | `MAX_CONNECTS_PER_USER_PER_MINUTE` | no | connects per user per minute (default 300) |
//! | `MAX_CONNECTS_PER_TOKEN_PER_MINUTE` | no | connects per token per minute (default 60) |
//! | `MAX_CLIENT_FRAMES_PER_MINUTE` | no | client frames per socket per minute, heartbeats aside (default 20) |
//! | `TOPIC_NAMESPACES` | no | the topic namespaces, JSON (see [`crate::namespaces`]); none: no topics |
//! | `MAX_TOPICS_PER_SOCKET` | no | topic subscriptions per socket (default 1024) |
//! | `MERCURE_PUBLISHER_JWT_KEY` | no | turns the Mercure hub on: the HS256 key of publishers' tokens |
//! | `MERCURE_SUBSCRIBER_JWT_KEY` | no | the HS256 key of subscribers' tokens (default: the publishers') |
//! | `MERCURE_JWT_ALGORITHMS` | no | the algorithms Mercure tokens may use, comma-separated: `HS256` (default), `HS384`, `HS512` |
//! | `MERCURE_ANONYMOUS` | no | `true`: subscribers without a token read public updates |
//! | `MERCURE_CORS_ORIGINS` | no | origins allowed to subscribe with credentials, space-separated; `*`: any other, without |
//! | `MERCURE_HEARTBEAT_SECONDS` | no | heartbeat on a subscription (default 40, at most 2147483) |
//! | `MERCURE_MAX_CONNECTION_SECONDS` | no | the longest a subscription stays open (default 600, at most 2147483) |
//! | `MERCURE_MAX_TOPICS` | no | topics per subscription (default 32) |
//! | `WEBHOOK_URL` | no | where topics of namespaces with `webhooks` post their webhooks, signed with the first of `PUBLISH_KEYS` |
//! | `TEST_FAIL_MARKER` | no | tests only: a room fails a connect of the user, and the storing of an event, with this name |

use edgepush_protocol::signature::{PublishKeys, SignatureError};
use edgepush_protocol::token::{Algorithm, TokenError, TokenKey};

use crate::history::HistoryLimits;
use crate::limits::Limits;
use crate::mercure::{MERCURE_NAMESPACE, MercureSettings};
use crate::namespaces::{NamespaceOptions, Namespaces};
use crate::webhooks::WebhookTarget;

/// A setting is missing or invalid. The message names it and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required setting is not set.
    #[error(
        "the setting {0} is not set; add it with `wrangler secret put {0}` (or .dev.vars locally)"
    )]
    Missing(&'static str),
    /// `JWT_SECRET` is unusable.
    #[error("JWT_SECRET: {0}")]
    JwtSecret(TokenError),
    /// `PUBLISH_KEYS` is unusable.
    #[error("PUBLISH_KEYS: {0}")]
    PublishKeys(SignatureError),
    /// `TOPIC_NAMESPACES` is not a JSON object of valid namespaces and their options.
    #[error("TOPIC_NAMESPACES: {0}")]
    Namespaces(String),
    /// `MERCURE_JWT_ALGORITHMS` names an algorithm the hub does not know.
    #[error("MERCURE_JWT_ALGORITHMS: a comma-separated list of HS256, HS384 and HS512")]
    MercureAlgorithms,
    /// A Mercure key is unusable.
    #[error("{0}: {1}")]
    Mercure(&'static str, TokenError),
    /// `WEBHOOK_URL` is not an `http(s)://` URL.
    #[error("WEBHOOK_URL: {0}")]
    WebhookUrl(&'static str),
    /// A numeric setting is not a positive whole number.
    #[error("the setting {0} must be a positive whole number")]
    NotANumber(&'static str),
    /// A duration a timer waits is longer than the runtime's timers can wait.
    #[error(
        "the setting {0} must be at most {MAX_TIMER_SECONDS} seconds (about 24 days): a longer \
         timer fires at once"
    )]
    TooLong(&'static str),
}

/// The longest a timer waits, in seconds: `setTimeout` takes its milliseconds as an `i32`.
const MAX_TIMER_SECONDS: u64 = i32::MAX as u64 / 1000;

/// Everything the edge worker needs to authenticate requests. It loads the rooms' settings too,
/// so that a bad one is reported at the edge, before any room.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Verifies connect tokens.
    pub tokens: TokenKey,
    /// Verifies publish signatures.
    pub publish_keys: PublishKeys,
    /// What every room runs with.
    pub room: RoomSettings,
    /// The Mercure hub, when its keys are set.
    pub mercure: Option<MercureSettings>,
    /// Where topics of namespaces with `webhooks` send them (`WEBHOOK_URL`), signed with the
    /// first of the publish keys; `None`: no webhooks.
    pub webhooks: Option<WebhookTarget>,
}

/// What a room needs from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    /// How much history to keep.
    pub history: HistoryLimits,
    /// What one token holder can make the room do.
    pub limits: Limits,
    /// The topic namespaces.
    pub namespaces: Namespaces,
    /// The most topics one socket may subscribe to.
    pub max_topics_per_socket: u32,
    /// Tests only: the user name whose connects fail, and the event name whose storing fails.
    pub fail_marker: Option<String>,
}

impl Settings {
    /// Reads and validates the settings; `lookup` returns a setting's value if it is set.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let jwt_secret = lookup("JWT_SECRET").ok_or(ConfigError::Missing("JWT_SECRET"))?;
        let mut tokens = TokenKey::new(jwt_secret.as_bytes()).map_err(ConfigError::JwtSecret)?;
        if let Some(audience) = lookup("JWT_AUDIENCE").filter(|v| !v.is_empty()) {
            tokens = tokens.with_audience(audience);
        }
        if let Some(issuer) = lookup("JWT_ISSUER").filter(|v| !v.is_empty()) {
            tokens = tokens.with_issuer(issuer);
        }
        let keys = lookup("PUBLISH_KEYS").ok_or(ConfigError::Missing("PUBLISH_KEYS"))?;
        let publish_keys = PublishKeys::parse(&keys).map_err(ConfigError::PublishKeys)?;
        let room = RoomSettings::load(&lookup)?;
        let mercure = mercure_settings(&lookup)?;
        let webhooks = webhook_target(&lookup, &publish_keys)?;
        Ok(Self {
            tokens,
            publish_keys,
            room,
            mercure,
            webhooks,
        })
    }
}

/// The positive whole number setting `name`, or `default` when it is unset.
fn positive(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or(ConfigError::NotANumber(name)),
    }
}

/// The positive whole number setting `name`, at most [`MAX_TIMER_SECONDS`]: a timer's duration.
fn timer_seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    let seconds = positive(lookup, name, default)?;
    if seconds > MAX_TIMER_SECONDS {
        return Err(ConfigError::TooLong(name));
    }
    Ok(seconds)
}

/// `WEBHOOK_URL`, signed with the first of `keys`, if it is set.
fn webhook_target(
    lookup: &impl Fn(&str) -> Option<String>,
    keys: &PublishKeys,
) -> Result<Option<WebhookTarget>, ConfigError> {
    let Some(url) = lookup("WEBHOOK_URL").filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    WebhookTarget::new(url.trim(), keys.signing_key().clone())
        .map(Some)
        .map_err(ConfigError::WebhookUrl)
}

/// The Mercure hub's settings, if its publisher key is set.
fn mercure_settings(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<MercureSettings>, ConfigError> {
    let Some(publisher) = lookup("MERCURE_PUBLISHER_JWT_KEY").filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let algorithms = match lookup("MERCURE_JWT_ALGORITHMS").filter(|v| !v.trim().is_empty()) {
        None => vec![Algorithm::Hs256],
        Some(list) => list
            .split(',')
            .map(|name| Algorithm::parse(name.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or(ConfigError::MercureAlgorithms)?,
    };
    let key = |name: &'static str, secret: &str| {
        TokenKey::new(secret.as_bytes())
            .map(|key| key.with_algorithms(algorithms.clone()))
            .map_err(|err| ConfigError::Mercure(name, err))
    };
    let subscriber = lookup("MERCURE_SUBSCRIBER_JWT_KEY").filter(|k| !k.is_empty());
    let number = |name, default| positive(lookup, name, default);
    Ok(Some(MercureSettings {
        publisher: key("MERCURE_PUBLISHER_JWT_KEY", &publisher)?,
        subscriber: key(
            "MERCURE_SUBSCRIBER_JWT_KEY",
            subscriber.as_deref().unwrap_or(&publisher),
        )?,
        anonymous: lookup("MERCURE_ANONYMOUS")
            .is_some_and(|v| matches!(v.trim(), "1" | "true" | "on" | "yes")),
        cors_origins: lookup("MERCURE_CORS_ORIGINS")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        heartbeat_s: timer_seconds(lookup, "MERCURE_HEARTBEAT_SECONDS", 40)?,
        max_connection_s: timer_seconds(lookup, "MERCURE_MAX_CONNECTION_SECONDS", 600)?,
        max_topics: usize::try_from(number("MERCURE_MAX_TOPICS", 32)?).unwrap_or(usize::MAX),
    }))
}

impl RoomSettings {
    /// Reads the history bounds, falling back to the defaults for unset settings, and the test
    /// hook.
    pub fn load(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |name, default| positive(&lookup, name, default);
        let count = |name: &'static str, default: u32| {
            number(name, u64::from(default)).map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        };
        let defaults = Limits::default();
        let limits = Limits {
            sockets_per_user: count("MAX_SOCKETS_PER_USER", defaults.sockets_per_user)?,
            connects_per_user: count(
                "MAX_CONNECTS_PER_USER_PER_MINUTE",
                defaults.connects_per_user,
            )?,
            connects_per_token: count(
                "MAX_CONNECTS_PER_TOKEN_PER_MINUTE",
                defaults.connects_per_token,
            )?,
            frames_per_socket: count("MAX_CLIENT_FRAMES_PER_MINUTE", defaults.frames_per_socket)?,
        };
        let defaults = HistoryLimits::default();
        let history = HistoryLimits {
            max_events: number("HISTORY_MAX_EVENTS", defaults.max_events)?,
            max_age_ms: number("HISTORY_MAX_AGE_SECONDS", defaults.max_age_ms / 1000)?
                .saturating_mul(1000),
        };
        let mut namespaces = match lookup("TOPIC_NAMESPACES").filter(|v| !v.trim().is_empty()) {
            Some(json) => Namespaces::parse(&json).map_err(ConfigError::Namespaces)?,
            None => Namespaces::default(),
        };
        if lookup("MERCURE_PUBLISHER_JWT_KEY").is_some() {
            // Mercure topics that are no edgepush topics live here, private updates included,
            // which every connected user would read in a public namespace.
            if namespaces.is_public(MERCURE_NAMESPACE) {
                return Err(ConfigError::Namespaces(format!(
                    "{MERCURE_NAMESPACE:?} cannot be public: it holds the Mercure hub's private \
                     updates too"
                )));
            }
            // Mercure's subscribers read them through one shard unless the namespace is declared
            // otherwise.
            namespaces.declare_unless_declared(
                MERCURE_NAMESPACE,
                NamespaceOptions {
                    shards: 1,
                    ..NamespaceOptions::default()
                },
            );
        }
        Ok(Self {
            history,
            limits,
            namespaces,
            max_topics_per_socket: count("MAX_TOPICS_PER_SOCKET", 1024)?,
            fail_marker: lookup("TEST_FAIL_MARKER").filter(|m| !m.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const JWT: (&str, &str) = ("JWT_SECRET", "0123456789abcdef0123456789abcdef");
    const KEYS: (&str, &str) = ("PUBLISH_KEYS", "k1:0123456789abcdef0123456789abcdef");

    #[test]
    fn valid_settings_load() {
        assert!(Settings::load(env(&[JWT, KEYS])).is_ok());
    }

    #[test]
    fn missing_or_weak_secrets_name_the_setting() {
        let err = Settings::load(env(&[KEYS])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("JWT_SECRET"));
        assert!(err.to_string().contains("wrangler secret put JWT_SECRET"));
        let err = Settings::load(env(&[("JWT_SECRET", "short"), KEYS])).unwrap_err();
        assert!(err.to_string().starts_with("JWT_SECRET: "), "{err}");
        let err = Settings::load(env(&[JWT, ("PUBLISH_KEYS", "k1:short")])).unwrap_err();
        assert!(err.to_string().starts_with("PUBLISH_KEYS: "), "{err}");
        assert_eq!(
            Settings::load(env(&[JWT])).unwrap_err(),
            ConfigError::Missing("PUBLISH_KEYS")
        );
    }

    #[test]
    fn history_limits_default_and_validate() {
        assert_eq!(
            RoomSettings::load(env(&[])).unwrap().history,
            HistoryLimits::default()
        );
        let limits = RoomSettings::load(env(&[
            ("HISTORY_MAX_EVENTS", "5"),
            ("HISTORY_MAX_AGE_SECONDS", "60"),
        ]))
        .unwrap()
        .history;
        assert_eq!((limits.max_events, limits.max_age_ms), (5, 60_000));
        assert_eq!(
            RoomSettings::load(env(&[("HISTORY_MAX_EVENTS", "0")])).unwrap_err(),
            ConfigError::NotANumber("HISTORY_MAX_EVENTS")
        );
    }

    #[test]
    fn limits_default_and_validate() {
        assert_eq!(
            RoomSettings::load(env(&[])).unwrap().limits,
            Limits::default()
        );
        let limits = RoomSettings::load(env(&[("MAX_SOCKETS_PER_USER", "7")]))
            .unwrap()
            .limits;
        assert_eq!(limits.sockets_per_user, 7);
        assert_eq!(
            RoomSettings::load(env(&[("MAX_CLIENT_FRAMES_PER_MINUTE", "-1")])).unwrap_err(),
            ConfigError::NotANumber("MAX_CLIENT_FRAMES_PER_MINUTE")
        );
    }

    #[test]
    fn topic_namespaces_are_optional_and_validated() {
        assert_eq!(
            RoomSettings::load(env(&[])).unwrap().namespaces,
            Namespaces::default()
        );
        let err = RoomSettings::load(env(&[("TOPIC_NAMESPACES", "{\"a b\":{}}")])).unwrap_err();
        assert!(err.to_string().starts_with("TOPIC_NAMESPACES: "), "{err}");
    }

    #[test]
    fn webhooks_are_off_without_a_url_and_signed_with_the_first_publish_key() {
        assert_eq!(Settings::load(env(&[JWT, KEYS])).unwrap().webhooks, None);
        let url = ("WEBHOOK_URL", "https://app.example/edgepush/webhook");
        let hooks = Settings::load(env(&[JWT, KEYS, url]))
            .unwrap()
            .webhooks
            .unwrap();
        assert_eq!(hooks.url(), url.1);
        assert!(hooks.signature(1, "{}").starts_with("keyid=k1,t=1,v1="));
        let bad = ("WEBHOOK_URL", "app.example");
        let err = Settings::load(env(&[JWT, KEYS, bad])).unwrap_err();
        assert!(err.to_string().starts_with("WEBHOOK_URL: "), "{err}");
        let err = Settings::load(env(&[JWT, url])).unwrap_err();
        assert!(err.to_string().contains("PUBLISH_KEYS"), "{err}");
    }

    #[test]
    fn mercure_is_on_with_its_key_and_declares_its_namespace() {
        assert!(Settings::load(env(&[JWT, KEYS])).unwrap().mercure.is_none());
        let key = (
            "MERCURE_PUBLISHER_JWT_KEY",
            "!ChangeThisMercureHubJWTSecretKey!",
        );
        let settings =
            Settings::load(env(&[JWT, KEYS, key, ("MERCURE_ANONYMOUS", "true")])).unwrap();
        let mercure = settings.mercure.unwrap();
        assert!(mercure.anonymous);
        assert_eq!((mercure.heartbeat_s, mercure.max_topics), (40, 32));
        let topic = edgepush_protocol::topic::Topic::parse("mercure:x").unwrap();
        assert_eq!(settings.room.namespaces.options(&topic).unwrap().shards, 1);
        let algorithms = ("MERCURE_JWT_ALGORITHMS", "HS256, RS256");
        assert_eq!(
            Settings::load(env(&[JWT, KEYS, key, algorithms])).unwrap_err(),
            ConfigError::MercureAlgorithms
        );
        let weak = ("MERCURE_PUBLISHER_JWT_KEY", "short");
        let err = Settings::load(env(&[JWT, KEYS, weak])).unwrap_err();
        assert!(
            err.to_string().starts_with("MERCURE_PUBLISHER_JWT_KEY: "),
            "{err}"
        );
        // Its namespace may be declared, with more shards, but not public: it holds private
        // updates.
        let shards = ("TOPIC_NAMESPACES", r#"{"mercure":{"shards":8}}"#);
        let settings = Settings::load(env(&[JWT, KEYS, key, shards])).unwrap();
        assert_eq!(settings.room.namespaces.options(&topic).unwrap().shards, 8);
        let public = ("TOPIC_NAMESPACES", r#"{"mercure":{"public":true}}"#);
        let err = Settings::load(env(&[JWT, KEYS, key, public])).unwrap_err();
        assert!(err.to_string().contains("cannot be public"), "{err}");
        assert!(Settings::load(env(&[JWT, KEYS, public])).is_ok());
    }

    #[test]
    fn mercure_durations_fit_the_runtimes_timers() {
        let key = (
            "MERCURE_PUBLISHER_JWT_KEY",
            "!ChangeThisMercureHubJWTSecretKey!",
        );
        for name in [
            "MERCURE_HEARTBEAT_SECONDS",
            "MERCURE_MAX_CONNECTION_SECONDS",
        ] {
            let err = Settings::load(env(&[JWT, KEYS, key, (name, "2147484")])).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(err.to_string().contains("2147483"), "{err}");
            let settings = Settings::load(env(&[JWT, KEYS, key, (name, "2147483")]));
            assert!(settings.is_ok(), "{name}");
        }
    }

    #[test]
    fn a_bad_room_setting_is_reported_at_the_edge_by_name() {
        let err =
            Settings::load(env(&[JWT, KEYS, ("HISTORY_MAX_AGE_SECONDS", "a day")])).unwrap_err();
        assert_eq!(err, ConfigError::NotANumber("HISTORY_MAX_AGE_SECONDS"));
        assert!(err.to_string().contains("HISTORY_MAX_AGE_SECONDS"));
    }
}
