//! Connect tokens: HS256 JWTs that prove who a browser is.
//!
//! `sub` is the user id and `exp` is required: a token is valid before its `exp` second and
//! expired from it on, with no leeway, the same rule the room applies to open sockets; `nbf` and
//! `iat` are honoured with [`LEEWAY_SECONDS`] of clock skew (a token from an issuer whose clock
//! runs a little ahead is not refused); `aud` and `iss` are checked when the verifier is configured
//! with them. Only `HS256` is accepted, whatever the header claims. Time is passed in, in seconds
//! since the Unix epoch, so this module has no clock.

#[cfg(feature = "std")]
use base64::Engine as _;
#[cfg(feature = "std")]
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
#[cfg(feature = "std")]
use hmac::{Hmac, Mac};
#[cfg(feature = "std")]
use serde::{Deserialize, Serialize};
#[cfg(feature = "std")]
use sha2::Sha256;

#[cfg(feature = "std")]
use crate::codes::ErrorCode;
#[cfg(feature = "std")]
use crate::publish::{IdText, UserId};

/// The shortest accepted secret, in bytes (HS256 wants at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// The largest accepted token, in bytes; larger ones are refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Clock skew tolerated on `nbf` and `iat` (not on `exp`), in seconds.
pub const LEEWAY_SECONDS: i64 = 30;

/// The claims of a connect token.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id. An integer `sub` is accepted and read as its decimal string.
    #[serde(deserialize_with = "string_or_integer")]
    pub sub: String,
    /// Expiry, in seconds since the Unix epoch (a fraction is read down to the second).
    #[serde(deserialize_with = "whole_seconds")]
    pub exp: i64,
    /// Not valid before, in seconds since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "some_whole_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<i64>,
    /// Issued at, in seconds since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "some_whole_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<i64>,
    /// The audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// The issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Topics and topic patterns (`product:*`) the connection may subscribe to (see
    /// [`crate::topic::TopicPattern`]); checked by the server at every subscribe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// Topics the connection is subscribed to from the start, by the app that signed the token
    /// (no further check than that each is a valid topic of a declared namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subs: Vec<String>,
}

/// The claims of a subscription token: the app lets user `sub` subscribe to `topic` until `exp`
/// (checked at each subscribe; an open subscription is not ended at `exp`). It is
/// signed with the connect tokens' secret, but the two are never taken for each other: a
/// subscription token has a `topic` claim, a connect token must not.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionClaims {
    /// The user id of the connection that may use it.
    #[serde(deserialize_with = "string_or_integer")]
    pub sub: String,
    /// The one topic it grants.
    pub topic: String,
    /// Expiry, in seconds since the Unix epoch (a fraction is read down to the second).
    #[serde(deserialize_with = "whole_seconds")]
    pub exp: i64,
}

#[cfg(feature = "std")]
impl Claims {
    /// Claims for `sub`, issued at `now` and expiring `ttl` seconds later (negative: already
    /// expired), with no `nbf`, `aud` or `iss`.
    pub fn new(sub: impl Into<String>, now: i64, ttl: i64) -> Self {
        Self {
            sub: sub.into(),
            exp: now.saturating_add(ttl),
            nbf: None,
            iat: Some(now),
            aud: None,
            iss: None,
            topics: Vec::new(),
            subs: Vec::new(),
        }
    }
}

#[cfg(feature = "std")]
fn string_or_integer<'de, D: serde::Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    IdText::deserialize(de).map(String::from)
}

/// A JWT time (RFC 7519's NumericDate: seconds since the Unix epoch, which may have a fraction)
/// read down to the whole second; `None` for anything else (a string, a number out of range).
#[cfg(feature = "std")]
pub fn numeric_date(value: &serde_json::Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        value
            .as_f64()
            .filter(|seconds| seconds.abs() < 1e15)
            .map(|seconds| seconds.floor() as i64)
    })
}

#[cfg(feature = "std")]
fn whole_seconds<'de, D: serde::Deserializer<'de>>(de: D) -> Result<i64, D::Error> {
    numeric_date(&serde_json::Value::deserialize(de)?)
        .ok_or_else(|| serde::de::Error::custom("not a NumericDate"))
}

#[cfg(feature = "std")]
fn some_whole_seconds<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<i64>, D::Error> {
    match serde_json::Value::deserialize(de)? {
        serde_json::Value::Null => Ok(None),
        value => numeric_date(&value)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("not a NumericDate")),
    }
}

/// A JWT `aud` claim: one string or a list of strings.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// `"aud": "edgepush"`
    One(String),
    /// `"aud": ["edgepush", "other"]`
    Many(Vec<String>),
}

#[cfg(feature = "std")]
impl Audience {
    fn contains(&self, wanted: &str) -> bool {
        match self {
            Self::One(aud) => aud == wanted,
            Self::Many(auds) => auds.iter().any(|aud| aud == wanted),
        }
    }
}

/// Why a token was refused. `Display` says what to do about it.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The secret is shorter than [`MIN_SECRET_BYTES`]: configure a longer one.
    #[error("the token secret is {0} bytes; use at least 32 random bytes")]
    WeakSecret(usize),
    /// The token is over [`MAX_TOKEN_BYTES`].
    #[error("the token is {0} bytes; the limit is 4096")]
    TooLarge(usize),
    /// Not three base64url segments of JSON; the text says which part is wrong.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm the key does not accept (or `none`); connect tokens are
    /// HS256 only.
    #[error("the token uses alg {0:?}, which this key does not accept (HS256 does)")]
    UnsupportedAlgorithm(String),
    /// The signature does not match: tampered with, or signed with another secret.
    #[error("the token signature does not match; it was altered or signed with another secret")]
    BadSignature,
    /// `exp` has passed: get a fresh token.
    #[error("the token expired at {exp} (now {now}); get a fresh token")]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nbf` or `iat` is in the future: check the issuer's clock.
    #[error("the token is not valid before {from} (now {now}); check the issuer's clock")]
    NotYetValid {
        /// The token's `nbf` or `iat`.
        from: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `aud` or `iss` is not what the server is configured to accept.
    #[error("the token's {0} claim is not the one this server accepts")]
    WrongClaim(&'static str),
    /// `sub` is not a valid user id.
    #[error("the token's sub {0}")]
    BadSubject(&'static str),
}

#[cfg(feature = "std")]
impl TokenError {
    /// The wire error code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::WeakSecret(_) => ErrorCode::ServerMisconfigured,
            Self::TooLarge(_) => ErrorCode::TokenTooLarge,
            Self::Malformed(_) | Self::BadSignature | Self::BadSubject(_) => {
                ErrorCode::InvalidToken
            }
            Self::UnsupportedAlgorithm(_) => ErrorCode::UnsupportedAlgorithm,
            Self::Expired { .. } => ErrorCode::TokenExpired,
            Self::NotYetValid { .. } => ErrorCode::TokenNotYetValid,
            Self::WrongClaim(_) => ErrorCode::InvalidClaims,
        }
    }
}

#[cfg(feature = "std")]
#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Tells a subscription token (with `topic`) from a connect token.
#[cfg(feature = "std")]
#[derive(Deserialize)]
struct Kind {
    #[serde(default)]
    topic: Option<serde::de::IgnoredAny>,
}

/// The HS256 secret behind connect tokens, with the optional audience and issuer to enforce.
#[cfg(feature = "std")]
#[derive(Clone)]
pub struct TokenKey {
    mac: Hmac<Sha256>,
    secret: Vec<u8>,
    algorithms: Vec<Algorithm>,
    audience: Option<String>,
    issuer: Option<String>,
}

/// An HMAC algorithm a token may be signed with.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA256, the default and the only one for connect tokens.
    Hs256,
    /// HMAC-SHA384.
    Hs384,
    /// HMAC-SHA512.
    Hs512,
}

#[cfg(feature = "std")]
impl Algorithm {
    /// Reads a JWT `alg` name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "HS256" => Some(Self::Hs256),
            "HS384" => Some(Self::Hs384),
            "HS512" => Some(Self::Hs512),
            _ => None,
        }
    }

    /// The JWT `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }
}

#[cfg(feature = "std")]
impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "std")]
impl TokenKey {
    /// A key from a secret of at least [`MIN_SECRET_BYTES`] bytes.
    pub fn new(secret: &[u8]) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::WeakSecret(secret.len()));
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        Ok(Self {
            mac,
            secret: secret.to_vec(),
            algorithms: vec![Algorithm::Hs256],
            audience: None,
            issuer: None,
        })
    }

    /// Accepts tokens signed with these algorithms (instead of HS256 alone): for Mercure
    /// tokens, whose hubs may be set to HS384 or HS512.
    pub fn with_algorithms(mut self, algorithms: Vec<Algorithm>) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Signs any claims with `algorithm` (tests and tools).
    pub fn mint_with<C: Serialize>(&self, algorithm: Algorithm, claims: &C) -> String {
        let header =
            URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{}","typ":"JWT"}}"#, algorithm.name()));
        let claims = serde_json::to_vec(claims).expect("claims serialize");
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let signature = URL_SAFE_NO_PAD.encode(self.hmac(algorithm, signing_input.as_bytes()));
        format!("{signing_input}.{signature}")
    }

    /// The HMAC of `input` with `algorithm`.
    fn hmac(&self, algorithm: Algorithm, input: &[u8]) -> Vec<u8> {
        fn digest<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &[u8]) -> Vec<u8> {
            let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
                .expect("HMAC takes any key length");
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        match algorithm {
            Algorithm::Hs256 => {
                let mut mac = self.mac.clone();
                mac.update(input);
                mac.finalize().into_bytes().to_vec()
            }
            Algorithm::Hs384 => digest::<Hmac<sha2::Sha384>>(&self.secret, input),
            Algorithm::Hs512 => digest::<Hmac<sha2::Sha512>>(&self.secret, input),
        }
    }

    /// Requires `aud` to contain `audience`.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Requires `iss` to equal `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Signs claims into a compact HS256 JWT.
    pub fn mint(&self, claims: &Claims) -> String {
        self.mint_any(claims)
    }

    /// Signs a subscription token.
    pub fn mint_subscription(&self, claims: &SubscriptionClaims) -> String {
        self.mint_any(claims)
    }

    /// Signs any claims (e.g. a Mercure token's) into a compact HS256 JWT.
    pub fn mint_any<C: Serialize>(&self, claims: &C) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = serde_json::to_vec(claims).expect("claims serialize");
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Verifies a token at time `now` (seconds since the Unix epoch) and returns its claims.
    ///
    /// The signature is checked (in constant time) before the claims are even parsed.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let claims = self.signed_claims(token)?;
        let kind: Kind = serde_json::from_slice(&claims)
            .map_err(|_| TokenError::Malformed("the claims are not a JSON object"))?;
        if kind.topic.is_some() {
            return Err(TokenError::Malformed(
                "this is a subscription token (it has a topic claim), not a connect token",
            ));
        }
        let claims: Claims = serde_json::from_slice(&claims).map_err(|_| {
            TokenError::Malformed(
                "the claims are not JSON with a string sub, a numeric exp and a topics list",
            )
        })?;
        self.check_claims(&claims, now)?;
        Ok(claims)
    }

    /// Verifies a subscription token at time `now` and returns its claims. Whose it is and which
    /// topic it grants is for the caller to compare.
    pub fn verify_subscription(
        &self,
        token: &str,
        now: i64,
    ) -> Result<SubscriptionClaims, TokenError> {
        let claims: SubscriptionClaims = serde_json::from_slice(&self.signed_claims(token)?)
            .map_err(|_| {
                TokenError::Malformed(
                    "a subscription token's claims are a string sub, a string topic and a numeric exp",
                )
            })?;
        UserId::parse(claims.sub.as_str()).map_err(TokenError::BadSubject)?;
        if now >= claims.exp {
            return Err(TokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        Ok(claims)
    }

    /// Verifies any HS256 JWT at time `now` and returns its claims as JSON: the signature, and
    /// `exp` and `nbf` only when the token has them (Mercure's publisher tokens have none).
    pub fn verify_any(&self, token: &str, now: i64) -> Result<serde_json::Value, TokenError> {
        let claims: serde_json::Value = serde_json::from_slice(&self.signed_claims(token)?)
            .map_err(|_| TokenError::Malformed("the claims are not JSON"))?;
        if !claims.is_object() {
            return Err(TokenError::Malformed("the claims are not a JSON object"));
        }
        let time = |name, malformed| match claims.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => numeric_date(value)
                .map(Some)
                .ok_or(TokenError::Malformed(malformed)),
        };
        if let Some(exp) = time("exp", "exp is not a number of seconds")?
            && now >= exp
        {
            return Err(TokenError::Expired { exp, now });
        }
        if let Some(from) = time("nbf", "nbf is not a number of seconds")?
            && from > now.saturating_add(LEEWAY_SECONDS)
        {
            return Err(TokenError::NotYetValid { from, now });
        }
        Ok(claims)
    }

    /// Checks the shape, algorithm and signature; returns the decoded claims segment.
    fn signed_claims(&self, token: &str) -> Result<Vec<u8>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge(token.len()));
        }
        let mut segments = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(TokenError::Malformed(
                "a JWT has exactly three dot-separated segments",
            ));
        };
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed("the header is not base64url"))?;
        let header: Header = serde_json::from_slice(&header)
            .map_err(|_| TokenError::Malformed("the header is not a JSON object with alg"))?;
        let algorithm = Algorithm::parse(&header.alg)
            .filter(|a| self.algorithms.contains(a))
            .ok_or(TokenError::UnsupportedAlgorithm(header.alg))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
        let signing_input_len = token.len() - signature_len(token);
        let expected = self.hmac(algorithm, &token.as_bytes()[..signing_input_len]);
        // Constant time: the comparison does not stop at the first differing byte.
        let differ = expected.len() != signature.len()
            || expected
                .iter()
                .zip(&signature)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0;
        if differ {
            return Err(TokenError::BadSignature);
        }
        URL_SAFE_NO_PAD
            .decode(claims)
            .map_err(|_| TokenError::Malformed("the claims are not base64url"))
    }

    fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), TokenError> {
        UserId::parse(claims.sub.as_str()).map_err(TokenError::BadSubject)?;
        if now >= claims.exp {
            return Err(TokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        for from in [claims.nbf, claims.iat].into_iter().flatten() {
            if from > now.saturating_add(LEEWAY_SECONDS) {
                return Err(TokenError::NotYetValid { from, now });
            }
        }
        if let Some(wanted) = &self.audience
            && !claims.aud.as_ref().is_some_and(|aud| aud.contains(wanted))
        {
            return Err(TokenError::WrongClaim("aud"));
        }
        if let Some(wanted) = &self.issuer
            && claims.iss.as_deref() != Some(wanted.as_str())
        {
            return Err(TokenError::WrongClaim("iss"));
        }
        Ok(())
    }
}

/// Length of the last segment plus its dot.
#[cfg(feature = "std")]
fn signature_len(token: &str) -> usize {
    token.rsplit('.').next().map_or(0, |s| s.len() + 1)
}

#[cfg(test)]
#[cfg(feature = "std")]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: i64 = 1_700_000_000;

    fn key() -> TokenKey {
        TokenKey::new(SECRET).unwrap()
    }

    fn claims(sub: &str) -> Claims {
        Claims::new(sub, NOW, 3600)
    }

    #[test]
    fn subscription_and_connect_tokens_are_never_taken_for_each_other() {
        let grant = SubscriptionClaims {
            sub: "42".into(),
            topic: "orders:#42".into(),
            exp: NOW + 60,
        };
        let token = key().mint_subscription(&grant);
        assert_eq!(key().verify_subscription(&token, NOW), Ok(grant));
        assert!(matches!(
            key().verify(&token, NOW),
            Err(TokenError::Malformed(_))
        ));
        let connect = key().mint(&claims("42"));
        assert!(matches!(
            key().verify_subscription(&connect, NOW),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            key().verify_subscription(&token, NOW + 60),
            Err(TokenError::Expired { .. })
        ));
    }

    #[test]
    fn any_token_is_checked_for_its_signature_and_its_exp_and_nbf_if_it_has_them() {
        let token = forge(
            r#"{"alg":"HS256"}"#,
            r#"{"mercure":{"publish":["*"]}}"#,
            SECRET,
        );
        assert_eq!(
            key().verify_any(&token, NOW).unwrap()["mercure"]["publish"][0],
            "*"
        );
        let expired = forge(r#"{"alg":"HS256"}"#, &format!(r#"{{"exp":{NOW}}}"#), SECRET);
        assert!(matches!(
            key().verify_any(&expired, NOW),
            Err(TokenError::Expired { .. })
        ));
        // `nbf` as the dunglas hub reads it (with this crate's leeway for the issuer's clock).
        let early = |nbf: i64| forge(r#"{"alg":"HS256"}"#, &format!(r#"{{"nbf":{nbf}}}"#), SECRET);
        assert!(matches!(
            key().verify_any(&early(NOW + LEEWAY_SECONDS + 1), NOW),
            Err(TokenError::NotYetValid { .. })
        ));
        assert!(key().verify_any(&early(NOW + LEEWAY_SECONDS), NOW).is_ok());
        let bad_nbf = forge(r#"{"alg":"HS256"}"#, r#"{"nbf":"soon"}"#, SECRET);
        assert!(matches!(
            key().verify_any(&bad_nbf, NOW),
            Err(TokenError::Malformed(_))
        ));
        let none = forge(r#"{"alg":"none"}"#, "{}", SECRET);
        assert!(matches!(
            key().verify_any(&none, NOW),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));
        let other_key = forge(
            r#"{"alg":"HS256"}"#,
            "{}",
            b"another-secret-of-32-bytes-or-more!!",
        );
        assert_eq!(
            key().verify_any(&other_key, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn a_key_accepts_the_algorithms_it_is_given_and_no_other() {
        let mercure = serde_json::json!({"mercure": {"publish": ["*"]}});
        let hs512 = key().mint_with(Algorithm::Hs512, &mercure);
        assert!(matches!(
            key().verify_any(&hs512, NOW),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));
        let both = key().with_algorithms(vec![Algorithm::Hs256, Algorithm::Hs512]);
        assert_eq!(both.verify_any(&hs512, NOW).unwrap(), mercure);
        let hs384 = key().mint_with(Algorithm::Hs384, &mercure);
        assert!(matches!(
            both.verify_any(&hs384, NOW),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));
        let other = TokenKey::new(b"another-secret-of-32-bytes-or-more!!")
            .unwrap()
            .with_algorithms(vec![Algorithm::Hs512]);
        assert_eq!(other.verify_any(&hs512, NOW), Err(TokenError::BadSignature));
        // HS256 through the generic path is the same token the connect path mints.
        let hs256 = key().mint_with(Algorithm::Hs256, &claims("42"));
        assert_eq!(hs256, key().mint(&claims("42")));
    }

    #[test]
    fn connect_tokens_carry_topic_grants() {
        let mut granted = claims("42");
        granted.topics = vec!["product:*".into(), "feed:all".into()];
        let token = key().mint(&granted);
        assert_eq!(key().verify(&token, NOW).unwrap().topics, granted.topics);
    }

    fn forge(header: &str, claims: &str, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn minted_tokens_verify() {
        let token = key().mint(&claims("42"));
        assert_eq!(key().verify(&token, NOW).unwrap(), claims("42"));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            TokenKey::new(b"short").unwrap_err(),
            TokenError::WeakSecret(5)
        );
    }

    #[test]
    fn expiry_is_exact_and_not_before_honours_the_leeway() {
        let token = key().mint(&claims("42"));
        assert!(key().verify(&token, NOW + 3600 - 1).is_ok());
        for late in [NOW + 3600, NOW + 3600 + 1, NOW + 3600 + LEEWAY_SECONDS] {
            assert!(matches!(
                key().verify(&token, late),
                Err(TokenError::Expired { .. })
            ));
        }
        let mut early = claims("42");
        early.nbf = Some(NOW + 100);
        let token = key().mint(&early);
        assert!(matches!(
            key().verify(&token, NOW),
            Err(TokenError::NotYetValid { .. })
        ));
        assert!(key().verify(&token, NOW + 100 - LEEWAY_SECONDS).is_ok());
        let mut future_iat = claims("42");
        future_iat.iat = Some(NOW + 1000);
        assert!(matches!(
            key().verify(&key().mint(&future_iat), NOW),
            Err(TokenError::NotYetValid { .. })
        ));
    }

    #[test]
    fn jwt_times_may_have_a_fraction_read_down_to_the_second() {
        // RFC 7519's NumericDate, e.g. `Date.now() / 1000 + 3600` in a hand-written backend.
        let body = format!(
            r#"{{"sub":"42","exp":{}.75,"iat":{NOW}.5,"nbf":null}}"#,
            NOW + 3600
        );
        let token = forge(r#"{"alg":"HS256"}"#, &body, SECRET);
        let claims = key().verify(&token, NOW).unwrap();
        assert_eq!(
            (claims.exp, claims.iat, claims.nbf),
            (NOW + 3600, Some(NOW), None)
        );
        assert!(matches!(
            key().verify(&token, NOW + 3600),
            Err(TokenError::Expired { .. })
        ));
        let any = forge(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"exp":{NOW}.9}}"#),
            SECRET,
        );
        assert!(matches!(
            key().verify_any(&any, NOW),
            Err(TokenError::Expired { .. })
        ));
        assert!(key().verify_any(&any, NOW - 1).is_ok());
        for bad in [r#""1700003600""#, "1e300", "true"] {
            let token = forge(
                r#"{"alg":"HS256"}"#,
                &format!(r#"{{"sub":"42","exp":{bad}}}"#),
                SECRET,
            );
            assert!(
                matches!(key().verify(&token, NOW), Err(TokenError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_algorithms_and_none_are_refused() {
        let body = r#"{"sub":"42","exp":1700003600}"#;
        for alg in ["none", "HS512", "RS256", "hs256"] {
            let token = forge(&format!(r#"{{"alg":"{alg}"}}"#), body, SECRET);
            assert_eq!(
                key().verify(&token, NOW).unwrap_err().code(),
                ErrorCode::UnsupportedAlgorithm,
                "{alg}"
            );
        }
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(body)
        );
        assert!(matches!(
            key().verify(&unsigned, NOW),
            Err(TokenError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let token = key().mint(&claims("42"));
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"43","exp":1700003600}"#);
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert_eq!(key().verify(&tampered, NOW), Err(TokenError::BadSignature));
        let other = TokenKey::new(b"another-secret-another-secret-xx").unwrap();
        assert_eq!(
            key().verify(&other.mint(&claims("42")), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        for token in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.b.c",
            "e30.e30.e30",
            "eyJhbGciOiJIUzI1NiJ9.e30.***",
            "\u{0}.\u{0}.\u{0}",
            "....",
        ] {
            let err = key().verify(token, NOW).unwrap_err();
            assert!(
                matches!(err, TokenError::Malformed(_) | TokenError::BadSignature),
                "{token:?} gave {err:?}"
            );
        }
        // Valid signature over claims that are not JSON, or lack exp.
        let no_exp = forge(r#"{"alg":"HS256"}"#, r#"{"sub":"42"}"#, SECRET);
        assert!(matches!(
            key().verify(&no_exp, NOW),
            Err(TokenError::Malformed(_))
        ));
        let not_json = forge(r#"{"alg":"HS256"}"#, "not json", SECRET);
        assert!(matches!(
            key().verify(&not_json, NOW),
            Err(TokenError::Malformed(_))
        ));
        let empty_sub = forge(
            r#"{"alg":"HS256"}"#,
            r#"{"sub":"","exp":1700003600}"#,
            SECRET,
        );
        assert!(matches!(
            key().verify(&empty_sub, NOW),
            Err(TokenError::BadSubject(_))
        ));
    }

    #[test]
    fn integer_subjects_read_as_decimal_strings() {
        let token = forge(
            r#"{"alg":"HS256"}"#,
            r#"{"sub":42,"exp":1700003600}"#,
            SECRET,
        );
        assert_eq!(key().verify(&token, NOW).unwrap().sub, "42");
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let token = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(
            key().verify(&token, NOW),
            Err(TokenError::TooLarge(MAX_TOKEN_BYTES + 1))
        );
    }

    #[test]
    fn audience_and_issuer_are_enforced_when_configured() {
        let strict = key()
            .with_audience("edgepush")
            .with_issuer("https://app.example");
        let mut good = claims("42");
        good.aud = Some(Audience::Many(vec!["x".into(), "edgepush".into()]));
        good.iss = Some("https://app.example".into());
        assert!(strict.verify(&key().mint(&good), NOW).is_ok());
        let mut wrong_aud = good.clone();
        wrong_aud.aud = Some(Audience::One("other".into()));
        assert_eq!(
            strict.verify(&key().mint(&wrong_aud), NOW),
            Err(TokenError::WrongClaim("aud"))
        );
        let mut no_iss = good.clone();
        no_iss.iss = None;
        assert_eq!(
            strict.verify(&key().mint(&no_iss), NOW),
            Err(TokenError::WrongClaim("iss"))
        );
        // Without configuration, aud and iss are not required.
        assert!(key().verify(&key().mint(&wrong_aud), NOW).is_ok());
    }
}
