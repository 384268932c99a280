//! Webhooks, without I/O: what a topic of a namespace with `webhooks` tells the backend about
//! its readers, where it sends it and how it signs it, and when a failed delivery is retried.
//!
//! A topic queues its webhook events in its SQLite when its member counts change (in the same
//! call as the change, so their order is the changes' order) and its alarm posts them in one
//! signed request: `POST <WEBHOOK_URL>` with `{"topic":..,"events":[..]}` and an
//! `Edgepush-Signature` header made like a publish request's, with the first of `PUBLISH_KEYS`
//! (the backend verifies it with the key it publishes with). A delivery that fails is retried by
//! the alarm, with the events queued meanwhile, after [`retry_delay_ms`]; after
//! [`MAX_ATTEMPTS`] the events are dropped (and logged). See `docs/topics.md`.

use edgepush_protocol::signature::SigningKey;
use serde::{Deserialize, Serialize};

use crate::history::StoreError;
use crate::internal::Member;
use crate::sql_store::{MemberChange, Members, Sql, WebhookState};

/// Deliveries of one batch before its events are dropped: the first and 5 retries, over about
/// 31 s.
pub const MAX_ATTEMPTS: u32 = 6;

/// Events in one delivery, at most; more wait for the next.
pub const MAX_EVENTS_PER_DELIVERY: usize = 100;

/// Events a topic keeps for a receiver that does not take them, at most: older ones are dropped
/// (and logged) before a delivery.
pub const MAX_QUEUED_EVENTS: usize = 10_000;

/// How long a delivery waits for the receiver's answer before it counts as failed.
pub const DELIVERY_TIMEOUT_MS: u64 = 10_000;

/// Where webhooks go (`WEBHOOK_URL`) and the key that signs them.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    url: String,
    /// The request target the signature covers: the URL's path and query.
    target: String,
    key: SigningKey,
}

/// Targets are equal when they post to the same URL with the same key id.
impl PartialEq for WebhookTarget {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url && self.key.id() == other.key.id()
    }
}

impl Eq for WebhookTarget {}

impl WebhookTarget {
    /// A target from an `http://` or `https://` URL without a fragment.
    pub fn new(url: &str, key: SigningKey) -> Result<Self, &'static str> {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or("the URL must start with https:// or http://")?;
        if url.contains('#') || url.bytes().any(|b| b.is_ascii_whitespace() || b < 0x20) {
            return Err("the URL may not hold a fragment or white space");
        }
        let (host, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if host.is_empty() {
            return Err("the URL must name a host");
        }
        // The request target: the path (`/` when there is none) and the query.
        let target = match path.starts_with('/') {
            true => path.to_owned(),
            false => format!("/{path}"),
        };
        Ok(Self {
            url: url.to_owned(),
            target,
            key,
        })
    }

    /// The URL to post to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `Edgepush-Signature` header of `body` sent at `now_s` (Unix seconds).
    pub fn signature(&self, now_s: i64, body: &str) -> String {
        self.key.sign(now_s, "POST", &self.target, body.as_bytes())
    }
}

/// One thing a webhook tells; `ts` is when it happened, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebhookEvent {
    /// The topic's first socket subscribed: it has readers now.
    Occupied {
        /// When.
        ts: u64,
    },
    /// The topic's last socket left.
    Vacated {
        /// When.
        ts: u64,
    },
    /// A user's first socket subscribed to the topic (over the user's connection).
    MemberJoined {
        /// The user.
        user: String,
        /// When.
        ts: u64,
    },
    /// A user's last socket left the topic.
    MemberLeft {
        /// The user.
        user: String,
        /// When.
        ts: u64,
    },
}

impl WebhookEvent {
    /// `Occupied` or `Vacated` when the topic's occupancy crossed zero since `was_occupied`.
    pub fn occupancy(was_occupied: bool, occupancy: u64, ts: u64) -> Option<Self> {
        match (was_occupied, occupancy > 0) {
            (false, true) => Some(Self::Occupied { ts }),
            (true, false) => Some(Self::Vacated { ts }),
            _ => None,
        }
    }
}

/// The body of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// The topic.
    pub topic: String,
    /// What happened, oldest first.
    pub events: Vec<WebhookEvent>,
}

/// Queues the webhook events that member `changes` at `ts` make: a user's room joining or
/// leaving, and the topic becoming occupied (told before the first join) or vacated (after the
/// last leave). `true` when something was queued.
pub fn queue<S: Sql>(
    members: &Members<S>,
    changes: &[(&Member, MemberChange)],
    ts: u64,
) -> Result<bool, StoreError> {
    let mut events = Vec::new();
    for (member, change) in changes {
        let Member::Room(user) = member else { continue };
        let user = user.clone();
        match change {
            MemberChange::Joined => events.push(WebhookEvent::MemberJoined { user, ts }),
            MemberChange::Left => events.push(WebhookEvent::MemberLeft { user, ts }),
            MemberChange::Counted | MemberChange::Unchanged => {}
        }
    }
    if changes
        .iter()
        .any(|(_, change)| matches!(change, MemberChange::Joined | MemberChange::Left))
    {
        let mut state = members.webhook_state()?;
        if let Some(event) = WebhookEvent::occupancy(state.occupied, members.occupancy()?, ts) {
            state.occupied = !state.occupied;
            members.set_webhook_state(state)?;
            match event {
                WebhookEvent::Occupied { .. } => events.insert(0, event),
                _ => events.push(event),
            }
        }
    }
    for event in &events {
        let json = serde_json::to_string(event).map_err(|e| StoreError(e.to_string()))?;
        members.queue_webhook(&json)?;
    }
    Ok(!events.is_empty())
}

/// What follows a delivery tried at `now` (`state` is updated): whether its events are done with
/// (delivered, or given up on after [`MAX_ATTEMPTS`]) and, if not, when to try again.
pub fn after_delivery(state: &mut WebhookState, delivered: bool, now: u64) -> Option<u64> {
    let retry = match delivered {
        true => None,
        false => {
            state.attempts += 1;
            retry_delay_ms(state.attempts).map(|delay| now + delay)
        }
    };
    match retry {
        Some(at) => state.retry_at = at,
        None => {
            state.attempts = 0;
            state.retry_at = 0;
        }
    }
    retry
}

/// How long to wait before delivering again after `attempts` failed deliveries; `None`: give
/// up (after [`MAX_ATTEMPTS`]).
pub fn retry_delay_ms(attempts: u32) -> Option<u64> {
    (attempts > 0 && attempts < MAX_ATTEMPTS).then(|| 1000 << (attempts - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgepush_protocol::signature::PublishKeys;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn key() -> SigningKey {
        SigningKey::new("k1", SECRET.as_bytes()).unwrap()
    }

    #[test]
    fn a_failed_delivery_waits_its_backoff_and_the_sixth_gives_up() {
        let mut state = WebhookState::default();
        let mut now = 1_000_000;
        let mut waits = Vec::new();
        while let Some(at) = after_delivery(&mut state, false, now) {
            assert_eq!(state.retry_at, at);
            waits.push(at - now);
            now = at;
        }
        assert_eq!(waits, [1000, 2000, 4000, 8000, 16000]);
        assert_eq!(
            (state.attempts, state.retry_at),
            (0, 0),
            "given up: the next batch starts anew"
        );
        after_delivery(&mut state, false, now);
        assert_eq!(after_delivery(&mut state, true, now + 1000), None);
        assert_eq!((state.attempts, state.retry_at), (0, 0));
    }

    #[test]
    fn the_url_is_checked_and_its_target_signed() {
        let target = |url: &str| WebhookTarget::new(url, key()).map(|t| t.target);
        assert_eq!(
            target("https://app.example/edgepush/hooks").as_deref(),
            Ok("/edgepush/hooks")
        );
        assert_eq!(target("http://127.0.0.1:9000").as_deref(), Ok("/"));
        assert_eq!(target("http://h?x=1").as_deref(), Ok("/?x=1"));
        assert_eq!(target("http://h/p?x=1").as_deref(), Ok("/p?x=1"));
        for bad in [
            "ftp://h/",
            "https://",
            "https:///p",
            "http://h/#f",
            "http://h/ p",
            "h/p",
        ] {
            assert!(target(bad).is_err(), "{bad}");
        }
        // The backend verifies a delivery as the server verifies a publish.
        let hooks = WebhookTarget::new("https://app.example/hooks?v=1", key()).unwrap();
        let body = r#"{"topic":"room:7","events":[]}"#;
        let header = hooks.signature(1_700_000_000, body);
        let keys = PublishKeys::parse(&format!("k1:{SECRET}")).unwrap();
        let verified = keys.verify(
            Some(&header),
            "POST",
            "/hooks?v=1",
            body.as_bytes(),
            1_700_000_010,
        );
        assert_eq!(verified.ok().map(|v| v.key_id), Some("k1"));
        assert!(
            keys.verify(
                Some(&header),
                "POST",
                "/hooks",
                body.as_bytes(),
                1_700_000_010
            )
            .is_err()
        );
    }

    #[test]
    fn events_travel_as_typed_json() {
        let body = WebhookBody {
            topic: "room:7".into(),
            events: vec![
                WebhookEvent::Occupied { ts: 1 },
                WebhookEvent::MemberJoined {
                    user: "42".into(),
                    ts: 1,
                },
                WebhookEvent::MemberLeft {
                    user: "42".into(),
                    ts: 2,
                },
                WebhookEvent::Vacated { ts: 2 },
            ],
        };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(
            text,
            r#"{"topic":"room:7","events":[{"type":"occupied","ts":1},{"type":"member_joined","user":"42","ts":1},{"type":"member_left","user":"42","ts":2},{"type":"vacated","ts":2}]}"#
        );
        assert_eq!(serde_json::from_str::<WebhookBody>(&text).unwrap(), body);
    }

    #[test]
    fn occupancy_crossing_zero_is_told_once_each_way() {
        assert_eq!(
            WebhookEvent::occupancy(false, 3, 5),
            Some(WebhookEvent::Occupied { ts: 5 })
        );
        assert_eq!(
            WebhookEvent::occupancy(true, 0, 6),
            Some(WebhookEvent::Vacated { ts: 6 })
        );
        assert_eq!(WebhookEvent::occupancy(true, 2, 7), None);
        assert_eq!(WebhookEvent::occupancy(false, 0, 7), None);
    }

    #[test]
    fn failed_deliveries_back_off_then_give_up() {
        let delays: Vec<_> = (1..=MAX_ATTEMPTS).map(retry_delay_ms).collect();
        assert_eq!(
            delays,
            [
                Some(1000),
                Some(2000),
                Some(4000),
                Some(8000),
                Some(16000),
                None
            ]
        );
        assert_eq!(retry_delay_ms(0), None);
    }
}
