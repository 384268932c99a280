//! Signed publish requests.
//!
//! A publisher sends one header:
//!
//! ```text
//! Edgepush-Signature: keyid=<key id>,t=<unix seconds>,v1=<hex HMAC-SHA256>
//! ```
//!
//! where the HMAC, keyed with the secret of `<key id>`, covers the bytes
//! `"<t>\n<METHOD>\n<path>\n"` followed by the raw request body. `<path>` is the request target as
//! sent (`/publish`, with its query string if any). The server refuses timestamps more than
//! [`TOLERANCE_SECONDS`] away from its clock, unknown key ids, and mismatches, comparing in constant
//! time. Several keys can be active at once, so a secret can be rotated without downtime.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::codes::ErrorCode;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "Edgepush-Signature";
/// How far the signed timestamp may be from the server's clock, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;
/// The shortest accepted publish secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// The longest key id, in bytes.
pub const MAX_KEY_ID_BYTES: usize = 64;

/// Why a signature or a key list was refused. `Display` says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Edgepush-Signature` header: sign the request.
    #[error("the request has no Edgepush-Signature header; sign it with a publish key")]
    Missing,
    /// The header is not `keyid=..,t=..,v1=..`.
    #[error("the Edgepush-Signature header is malformed: {0}")]
    Malformed(&'static str),
    /// The key id is not configured on the server (revoked, or a typo).
    #[error("the publish key {0:?} is not known to this server")]
    UnknownKey(String),
    /// The timestamp is more than [`TOLERANCE_SECONDS`] from the server's clock: a replay, or a
    /// publisher whose clock is off.
    #[error(
        "the signature timestamp {timestamp} is more than 300 s from the server time {now}; sign each request when you send it and check the publisher's clock"
    )]
    Stale {
        /// The signed timestamp.
        timestamp: i64,
        /// The server's clock.
        now: i64,
    },
    /// The signature does not match the request: wrong secret, or the body, method or path
    /// changed after signing.
    #[error(
        "the signature does not match; check the secret and sign the exact body, method and path you send"
    )]
    Mismatch,
    /// A configured key is unusable.
    #[error("publish key {key_id:?}: {problem}")]
    BadKey {
        /// The key id (may be empty if that is the problem).
        key_id: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl SignatureError {
    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Missing => ErrorCode::MissingSignature,
            Self::Malformed(_) | Self::Mismatch => ErrorCode::InvalidSignature,
            Self::UnknownKey(_) => ErrorCode::UnknownKey,
            Self::Stale { .. } => ErrorCode::StaleTimestamp,
            Self::BadKey { .. } => ErrorCode::ServerMisconfigured,
        }
    }
}

/// One publish key: an id that travels in the header and a secret that never does.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from its id (1 to 64 of `A-Z a-z 0-9 _ - .`) and a secret of at least 32 bytes.
    pub fn new(id: &str, secret: &[u8]) -> Result<Self, SignatureError> {
        let bad = |problem| SignatureError::BadKey {
            key_id: id.to_owned(),
            problem,
        };
        if id.is_empty() || id.len() > MAX_KEY_ID_BYTES {
            return Err(bad("the key id must be 1 to 64 bytes"));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(bad("the key id may hold only A-Z a-z 0-9 _ - ."));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(bad("the secret must be at least 32 bytes"));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        Ok(Self {
            id: id.to_owned(),
            mac,
        })
    }

    /// The key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac_for(&self, timestamp: i64, method: &str, path: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(format!("{timestamp}\n{method}\n{path}\n").as_bytes());
        mac.update(body);
        mac
    }

    /// The `Edgepush-Signature` header value for a request sent at `timestamp`.
    pub fn sign(&self, timestamp: i64, method: &str, path: &str, body: &[u8]) -> String {
        let digest = self
            .mac_for(timestamp, method, path, body)
            .finalize()
            .into_bytes();
        format!("keyid={},t={timestamp},v1={}", self.id, hex::encode(digest))
    }
}

/// The set of publish keys a server accepts (normally one, two while rotating).
#[derive(Debug, Clone)]
pub struct PublishKeys(Vec<SigningKey>);

impl PublishKeys {
    /// Parses the `PUBLISH_KEYS` setting: `id:secret` pairs separated by commas, e.g.
    /// `k2026a:…,k2026b:…`. Secrets must not contain commas; ids must be unique.
    pub fn parse(setting: &str) -> Result<Self, SignatureError> {
        let mut keys: Vec<SigningKey> = Vec::new();
        for entry in setting.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((id, secret)) = entry.split_once(':') else {
                return Err(SignatureError::BadKey {
                    key_id: String::new(),
                    problem: "each entry must be id:secret",
                });
            };
            let key = SigningKey::new(id.trim(), secret.trim().as_bytes())?;
            if keys.iter().any(|k| k.id == key.id) {
                return Err(SignatureError::BadKey {
                    key_id: key.id,
                    problem: "the key id appears twice",
                });
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(SignatureError::BadKey {
                key_id: String::new(),
                problem: "no publish key is configured",
            });
        }
        Ok(Self(keys))
    }

    /// The key edgepush signs its own requests with (webhooks): the first one configured.
    pub fn signing_key(&self) -> &SigningKey {
        // `parse` refuses an empty list.
        &self.0[0]
    }

    /// Checks a request's signature header at time `now`: which key signed it, and when.
    pub fn verify(
        &self,
        header: Option<&str>,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Verified<'_>, SignatureError> {
        let parsed = ParsedHeader::parse(header.ok_or(SignatureError::Missing)?)?;
        let key = self
            .0
            .iter()
            .find(|k| k.id == parsed.key_id)
            .ok_or_else(|| SignatureError::UnknownKey(parsed.key_id.to_owned()))?;
        if now.abs_diff(parsed.timestamp) > TOLERANCE_SECONDS.unsigned_abs() {
            return Err(SignatureError::Stale {
                timestamp: parsed.timestamp,
                now,
            });
        }
        key.mac_for(parsed.timestamp, method, path, body)
            .verify_slice(&parsed.signature)
            .map_err(|_| SignatureError::Mismatch)?;
        Ok(Verified {
            key_id: &key.id,
            signed_at: parsed.timestamp,
        })
    }
}

/// A signature [`PublishKeys::verify`] accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The id of the key that signed the request.
    pub key_id: &'a str,
    /// When the request was signed (`t`, seconds since the Unix epoch), in the backend's own
    /// clock, which its tokens' `iat` also come from; within the tolerance of the verifier's.
    pub signed_at: i64,
}

struct ParsedHeader<'a> {
    key_id: &'a str,
    timestamp: i64,
    signature: Vec<u8>,
}

impl<'a> ParsedHeader<'a> {
    fn parse(header: &'a str) -> Result<Self, SignatureError> {
        let (mut key_id, mut timestamp, mut signature) = (None, None, None);
        for part in header.split(',') {
            let (name, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed("expected keyid=..,t=..,v1=.."))?;
            let slot = match name {
                "keyid" => &mut key_id,
                "t" => &mut timestamp,
                "v1" => &mut signature,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(SignatureError::Malformed("a field appears twice"));
            }
        }
        let key_id = key_id.ok_or(SignatureError::Malformed("keyid is missing"))?;
        let timestamp = timestamp
            .ok_or(SignatureError::Malformed("t is missing"))?
            .parse()
            .map_err(|_| {
                SignatureError::Malformed("t must be whole seconds since the Unix epoch")
            })?;
        let signature = signature.ok_or(SignatureError::Malformed("v1 is missing"))?;
        if signature.len() != 64 {
            return Err(SignatureError::Malformed("v1 must be 64 hex digits"));
        }
        let signature = hex::decode(signature)
            .map_err(|_| SignatureError::Malformed("v1 must be 64 hex digits"))?;
        Ok(Self {
            key_id,
            timestamp,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"user":"42","name":"Message","payload":{"text":"hi"}}"#;

    fn keys() -> PublishKeys {
        PublishKeys::parse(
            "old:0123456789abcdef0123456789abcdef, new:fedcba9876543210fedcba9876543210",
        )
        .unwrap()
    }

    fn sign(id: &str, t: i64) -> String {
        let secret = if id == "old" {
            "0123456789abcdef0123456789abcdef"
        } else {
            "fedcba9876543210fedcba9876543210"
        };
        SigningKey::new(id, secret.as_bytes())
            .unwrap()
            .sign(t, "POST", "/publish", BODY)
    }

    fn verify(header: &str, now: i64) -> Result<String, SignatureError> {
        keys()
            .verify(Some(header), "POST", "/publish", BODY, now)
            .map(|verified| verified.key_id.to_owned())
    }

    #[test]
    fn both_rotation_keys_verify() {
        assert_eq!(verify(&sign("old", NOW), NOW).unwrap(), "old");
        assert_eq!(verify(&sign("new", NOW), NOW).unwrap(), "new");
    }

    #[test]
    fn a_header_tells_when_it_was_signed() {
        let header = sign("old", NOW - 60);
        let keys = keys();
        let verified = keys.verify(Some(&header), "POST", "/publish", BODY, NOW);
        assert_eq!(verified.map(|v| v.signed_at), Ok(NOW - 60));
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_stale() {
        assert!(verify(&sign("new", NOW - 300), NOW).is_ok());
        assert!(verify(&sign("new", NOW + 300), NOW).is_ok());
        assert_eq!(
            verify(&sign("new", NOW - 301), NOW).unwrap_err().code(),
            ErrorCode::StaleTimestamp
        );
        assert_eq!(
            verify(&sign("new", NOW + 301), NOW).unwrap_err().code(),
            ErrorCode::StaleTimestamp
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        // `t=` is outside input: the difference to now must not overflow in any build.
        for t in [i64::MIN, i64::MIN + NOW, i64::MIN + 1, i64::MAX, -1] {
            assert_eq!(
                verify(&sign("new", t), NOW).unwrap_err().code(),
                ErrorCode::StaleTimestamp,
                "t={t}"
            );
        }
    }

    #[test]
    fn any_change_to_the_request_is_a_mismatch() {
        let header = sign("new", NOW);
        let k = keys();
        assert_eq!(
            k.verify(Some(&header), "POST", "/publish", b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            k.verify(Some(&header), "PUT", "/publish", BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            k.verify(Some(&header), "POST", "/publish?x=1", BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        // A timestamp moved within the tolerance still breaks the signature.
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(verify(&moved, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn bad_headers_get_precise_errors() {
        assert_eq!(
            keys().verify(None, "POST", "/publish", BODY, NOW),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&sign("new", NOW).replace("keyid=new", "keyid=gone"), NOW),
            Err(SignatureError::UnknownKey("gone".into()))
        );
        for header in [
            "",
            "garbage",
            "keyid=new",
            "keyid=new,t=abc,v1=00",
            "keyid=new,t=1700000000",
            "keyid=new,t=1700000000,v1=zz",
            &format!("keyid=new,t=1700000000,v1={}", "g".repeat(64)),
            "keyid=new,keyid=old,t=1,v1=00",
        ] {
            assert_eq!(
                verify(header, NOW).unwrap_err().code(),
                ErrorCode::InvalidSignature,
                "{header:?}"
            );
        }
    }

    #[test]
    fn key_lists_are_validated() {
        for setting in [
            "",
            "nosecret",
            "k:short",
            "bad id:0123456789abcdef0123456789abcdef",
            "k:0123456789abcdef0123456789abcdef,k:fedcba9876543210fedcba9876543210",
        ] {
            assert!(PublishKeys::parse(setting).is_err(), "{setting:?}");
        }
    }
}
