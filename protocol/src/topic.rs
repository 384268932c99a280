//! Topic names and the patterns that grant them (see `docs/topics.md`).
//!
//! A topic is `namespace:name`: visible ASCII, at most [`MAX_TOPIC_BYTES`]. The namespace is
//! 1 to [`MAX_NAMESPACE_BYTES`] of `a-z 0-9 _ -`; the name is one or more `:`-separated segments,
//! none empty. `*` never appears in a topic (it is the pattern wildcard). A name whose last
//! segment starts with `#` belongs to users: `orders:#42`, `dm:#7,42` can be read only by the
//! users listed after `#`, whatever else grants access.
//!
//! Names are compared byte for byte: no case folding, no percent-decoding, no normalisation, so a
//! lookalike is simply another topic.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

/// The longest topic, in bytes.
pub const MAX_TOPIC_BYTES: usize = 255;
/// The longest namespace, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 32;

/// Why a topic name or pattern was refused; `Display` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicError {
    /// Empty, or longer than [`MAX_TOPIC_BYTES`].
    Length(usize),
    /// A byte outside visible ASCII (space, control, non-ASCII).
    Byte(u8),
    /// No `:` between namespace and name.
    NoNamespace,
    /// The namespace is empty, too long or not `a-z 0-9 _ -`.
    Namespace,
    /// A `:`-separated segment is empty.
    EmptySegment,
    /// `*` in a topic, or in a pattern anywhere but as a whole name segment.
    Wildcard,
    /// `#` anywhere but at the start of the last segment, or a user list with an empty id.
    Users,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(len) => write!(
                f,
                "a topic is 1 to {MAX_TOPIC_BYTES} bytes, not {len} (namespace:name)"
            ),
            Self::Byte(byte) => write!(
                f,
                "a topic is visible ASCII; byte 0x{byte:02x} is not (nothing is percent-decoded)"
            ),
            Self::NoNamespace => f.write_str("a topic is namespace:name, and this has no ':'"),
            Self::Namespace => write!(
                f,
                "a namespace is 1 to {MAX_NAMESPACE_BYTES} of a-z, 0-9, '_' and '-'"
            ),
            Self::EmptySegment => f.write_str("no ':'-separated part of a topic may be empty"),
            Self::Wildcard => {
                f.write_str("'*' is only a whole name segment of a pattern, never part of a topic")
            }
            Self::Users => f.write_str(
                "'#' starts the last segment only, followed by user ids separated by ',' (orders:#42)",
            ),
        }
    }
}

/// A valid topic name. Serializes as its text; deserializing validates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Topic(String);

impl TryFrom<String> for Topic {
    type Error = TopicError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> Self {
        topic.0
    }
}

impl Topic {
    /// Validates a topic name.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        let (_, name) = split(text)?;
        let segments: Vec<&str> = name.split(':').collect();
        if text.contains('*') {
            return Err(TopicError::Wildcard);
        }
        check_users(&segments)?;
        Ok(Self(text.to_string()))
    }

    /// The topic as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The namespace (before the first `:`).
    pub fn namespace(&self) -> &str {
        self.0.split(':').next().unwrap_or_default()
    }

    /// For a topic that belongs to users (`orders:#42`, `dm:#7,42`), those users.
    pub fn users(&self) -> Option<impl Iterator<Item = &str>> {
        let last = self.0.rsplit(':').next()?;
        last.strip_prefix('#').map(|ids| ids.split(','))
    }

    /// Whether `user` may read this topic as far as its user list goes: always for a topic
    /// without one, only for the listed users otherwise.
    pub fn admits(&self, user: &str) -> bool {
        self.users()
            .is_none_or(|mut users| users.any(|listed| listed == user))
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pattern of topics: a topic where whole name segments may be `*` (`product:*`,
/// `chat:*:messages`), matching any one segment. No other wildcard, no regular expression.
/// Serializes as its text; deserializing validates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicPattern(String);

impl TryFrom<String> for TopicPattern {
    type Error = TopicError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<TopicPattern> for String {
    fn from(pattern: TopicPattern) -> Self {
        pattern.0
    }
}

impl TopicPattern {
    /// Validates a pattern.
    pub fn parse(text: &str) -> Result<Self, TopicError> {
        let (_, name) = split(text)?;
        let segments: Vec<&str> = name.split(':').collect();
        if segments.iter().any(|s| *s != "*" && s.contains('*')) {
            return Err(TopicError::Wildcard);
        }
        check_users(&segments)?;
        Ok(Self(text.to_string()))
    }

    /// Whether `topic` is one of the topics this pattern names: the same namespace and number of
    /// segments, each equal or `*`.
    pub fn matches(&self, topic: &Topic) -> bool {
        let mut wanted = self.0.split(':');
        let mut got = topic.as_str().split(':');
        loop {
            match (wanted.next(), got.next()) {
                (None, None) => return true,
                (Some("*"), Some(_)) => {}
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

/// Checks the common shape and splits off the namespace.
fn split(text: &str) -> Result<(&str, &str), TopicError> {
    if text.is_empty() || text.len() > MAX_TOPIC_BYTES {
        return Err(TopicError::Length(text.len()));
    }
    if let Some(&byte) = text.as_bytes().iter().find(|b| !b.is_ascii_graphic()) {
        return Err(TopicError::Byte(byte));
    }
    let (namespace, name) = text.split_once(':').ok_or(TopicError::NoNamespace)?;
    let namespace_ok = (1..=MAX_NAMESPACE_BYTES).contains(&namespace.len())
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !namespace_ok {
        return Err(TopicError::Namespace);
    }
    if name.split(':').any(str::is_empty) {
        return Err(TopicError::EmptySegment);
    }
    Ok((namespace, name))
}

/// `#` only at the start of the last segment, with non-empty ids.
fn check_users(segments: &[&str]) -> Result<(), TopicError> {
    let Some((last, before)) = segments.split_last() else {
        return Ok(());
    };
    if before.iter().any(|s| s.contains('#')) || last.get(1..).is_some_and(|s| s.contains('#')) {
        return Err(TopicError::Users);
    }
    match last.strip_prefix('#') {
        Some(ids) if ids.split(',').any(str::is_empty) => Err(TopicError::Users),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(text: &str) -> Topic {
        Topic::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn valid_topics() {
        for text in [
            "product:42",
            "chat:room-1:messages",
            "orders:#42",
            "dm:#7,42",
            "a:b",
        ] {
            assert_eq!(topic(text).as_str(), text);
        }
        assert_eq!(topic("product:42").namespace(), "product");
        let long = alloc::format!("n:{}", "x".repeat(MAX_TOPIC_BYTES - 2));
        assert!(Topic::parse(&long).is_ok());
    }

    #[test]
    fn invalid_topics_say_why() {
        let long = alloc::format!("n:{}", "x".repeat(MAX_TOPIC_BYTES - 1));
        for (text, error) in [
            ("", TopicError::Length(0)),
            (long.as_str(), TopicError::Length(MAX_TOPIC_BYTES + 1)),
            ("product", TopicError::NoNamespace),
            (":42", TopicError::Namespace),
            ("Product:42", TopicError::Namespace),
            ("pro duct:42", TopicError::Byte(b' ')),
            ("product:é", TopicError::Byte(0xc3)),
            ("product:", TopicError::EmptySegment),
            ("product:a::b", TopicError::EmptySegment),
            ("product:*", TopicError::Wildcard),
            ("product:4*", TopicError::Wildcard),
            ("orders:#", TopicError::Users),
            ("orders:#7,", TopicError::Users),
            ("orders:#7:x", TopicError::Users),
            ("orders:a#7", TopicError::Users),
        ] {
            assert_eq!(Topic::parse(text), Err(error.clone()), "{text}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn percent_encoding_and_lookalikes_make_other_topics() {
        // '%' is visible ASCII: a percent-encoded name is another, valid topic, never decoded.
        let plain = topic("orders:#42");
        for lookalike in ["orders:#4%32", "orders:#042", "orders:#42,x"] {
            assert_ne!(topic(lookalike), plain);
        }
        assert!(topic("orders:#4%32").admits("4%32"));
        assert!(!topic("orders:#4%32").admits("42"));
    }

    #[test]
    fn user_topics_admit_only_their_users() {
        assert!(topic("orders:#42").admits("42"));
        assert!(!topic("orders:#42").admits("7"));
        assert!(!topic("orders:#42").admits("042"));
        let dm = topic("dm:#7,42");
        assert!(dm.admits("7") && dm.admits("42") && !dm.admits("7,42"));
        assert!(topic("product:42").admits("anyone"));
        assert_eq!(topic("product:42").users().map(|u| u.count()), None);
    }

    #[test]
    fn patterns_match_whole_segments() {
        let pattern = TopicPattern::parse("product:*").unwrap();
        assert!(pattern.matches(&topic("product:42")));
        assert!(!pattern.matches(&topic("product:42:price")));
        assert!(!pattern.matches(&topic("products:42")));
        assert!(!pattern.matches(&topic("other:product")));
        let middle = TopicPattern::parse("chat:*:messages").unwrap();
        assert!(middle.matches(&topic("chat:room-1:messages")));
        assert!(!middle.matches(&topic("chat:room-1:typing")));
        let exact = TopicPattern::parse("product:42").unwrap();
        assert!(exact.matches(&topic("product:42")));
        assert!(!exact.matches(&topic("product:420")));
        for bad in ["*:42", "product:4*", "product:**", "product", "product:"] {
            assert!(TopicPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
