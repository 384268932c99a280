//! Fetching the connect token from the app's backend, with gloo-net's HTTP client (feature
//! `gloo-net`).
//!
//! The Symfony bundle's `GET /edgepush/token` answers `{"token": "...", "expires_at": ...}` for
//! the logged-in user (never cached) and `401 {"error": {"code": "missing_token", ...}}` for
//! nobody; [`fetch_token`] reads that, or a plain-text token from an endpoint of your own, and
//! [`ClientBuilder::token_endpoint`] asks it before every (re)connect (and stops the client on a
//! 401 or 403, rather than asking a logged-out session every few seconds):
//!
//! ```
//! # #[cfg(target_arch = "wasm32")]
//! # fn demo() -> Result<edgepush_client::Client, edgepush_client::Error> {
//! use edgepush_client::Client;
//!
//! let client = Client::builder("https://push.example.com")
//!     .token_endpoint("/edgepush/token")
//!     .build()?;
//! // the same as (but for stopping on a 401 or 403: `TokenError::stops_client`)
//! let client = Client::builder("https://push.example.com")
//!     .token_provider(|| edgepush_client::token::fetch_token("/edgepush/token"))
//!     .build()?;
//! # Ok(client)
//! # }
//! ```
//!
//! On targets other than wasm32 (a server build of the app) nothing is fetched:
//! [`fetch_token`] fails with [`TokenError::NotInBrowser`].

use alloc::string::String;
#[cfg(target_arch = "wasm32")]
use alloc::string::ToString;
use core::fmt;
#[cfg(target_arch = "wasm32")]
use serde::Deserialize;

use crate::ClientBuilder;

/// Why [`fetch_token`] found no token. Its `Display` says what happened; as a token provider's
/// error it reaches the client's error handlers as [`Error::TokenProvider`](crate::Error), and
/// the client retries with backoff; with [`ClientBuilder::token_endpoint`], a 401 or 403 answer
/// ([`stops_client`](Self::stops_client)) stops the client with
/// [`Error::MissingToken`](crate::Error) instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The request failed before an answer (network down, a bad URL, refused by CORS); gloo-net's
    /// message.
    Request(String),
    /// The backend answered with an error status, e.g. `401` when nobody is logged in; `code`
    /// and `message` are those of its `{"error": {"code": ..., "message": ...}}` body, if any.
    Status {
        /// The HTTP status.
        status: u16,
        /// The error body's `code`, e.g. `missing_token`.
        code: Option<String>,
        /// The error body's `message`.
        message: Option<String>,
    },
    /// A successful answer without a token: neither `{"token": "..."}` nor a non-empty text.
    Body(String),
    /// Not in a browser (a server build of the app): nothing was fetched.
    NotInBrowser,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Request(reason) => write!(f, "the token request failed: {reason}"),
            Self::Status {
                status,
                code,
                message,
            } => {
                write!(f, "the token endpoint answered {status}")?;
                if let Some(code) = code {
                    write!(f, " {code}")?;
                }
                match message {
                    Some(message) => write!(f, ": {message}"),
                    None => Ok(()),
                }
            }
            Self::Body(reason) => write!(f, "the token endpoint's answer has no token: {reason}"),
            Self::NotInBrowser => f.write_str("no token outside the browser"),
        }
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// Whether asking again cannot help: the endpoint answered 401 or 403 (nobody is logged in,
    /// e.g. the bundle's `401 missing_token`). [`ClientBuilder::token_endpoint`] then stops the
    /// client with [`Error::MissingToken`](crate::Error) rather than asking every few seconds.
    pub fn stops_client(&self) -> bool {
        matches!(
            self,
            Self::Status {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// The body of a successful answer (the bundle's; `expires_at` is not needed: the client reads
/// the token's `exp` itself).
#[cfg(target_arch = "wasm32")]
#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
}

/// The body of an error answer.
#[cfg(target_arch = "wasm32")]
#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorFields,
}

#[cfg(target_arch = "wasm32")]
#[derive(Deserialize)]
struct ErrorFields {
    code: Option<String>,
    message: Option<String>,
}

/// `GET url` (with the page's cookies, as `fetch` sends them to its own origin) and the token
/// from the answer: `{"token": "..."}` (the Symfony bundle's `/edgepush/token`), or the whole
/// body as text when it is not a JSON object; white space around it is trimmed.
#[cfg(target_arch = "wasm32")]
pub async fn fetch_token(url: impl AsRef<str>) -> Result<String, TokenError> {
    let response = gloo_net::http::Request::get(url.as_ref())
        .send()
        .await
        .map_err(|error| TokenError::Request(error.to_string()))?;
    let body = response
        .text()
        .await
        .map_err(|error| TokenError::Request(error.to_string()))?;
    if !response.ok() {
        let fields = serde_json::from_str::<ErrorAnswer>(&body)
            .ok()
            .map(|answer| answer.error);
        let (code, message) = fields.map_or((None, None), |f| (f.code, f.message));
        return Err(TokenError::Status {
            status: response.status(),
            code,
            message,
        });
    }
    token_from_body(&body)
}

/// Outside the browser (a server build of the app): fails with [`TokenError::NotInBrowser`].
#[cfg(not(target_arch = "wasm32"))]
pub async fn fetch_token(url: impl AsRef<str>) -> Result<String, TokenError> {
    let _ = url;
    Err(TokenError::NotInBrowser)
}

/// The token in a successful answer's body.
#[cfg(target_arch = "wasm32")]
fn token_from_body(body: &str) -> Result<String, TokenError> {
    let body = body.trim();
    let token = if body.starts_with('{') {
        serde_json::from_str::<TokenAnswer>(body)
            .map_err(|error| TokenError::Body(error.to_string()))?
            .token
    } else {
        body.to_string()
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(TokenError::Body("the token is empty".to_string()));
    }
    Ok(token.to_string())
}

impl ClientBuilder {
    /// Asks `url` for a fresh token before every connect and reconnect, with
    /// [`fetch_token`]: e.g. `"/edgepush/token"`, the Symfony bundle's route. A failure is
    /// reported as [`Error::TokenProvider`](crate::Error) and retried with backoff, except a 401
    /// or 403 answer ([`TokenError::stops_client`]: nobody is logged in), which stops the client
    /// with [`Error::MissingToken`](crate::Error); `connect()` starts again (after a login).
    /// (Feature `gloo-net`.)
    pub fn token_endpoint(self, url: impl Into<String>) -> Self {
        let url: String = url.into();
        self.provider(move || fetch_token(url.clone()), TokenError::stops_client)
    }
}
