//! The server's one error type: every refusal and failure, with its wire code and HTTP status.

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{ErrorBody, ErrorResponse};
use edgepush_protocol::publish::PublishError;
use edgepush_protocol::signature::SignatureError;
use edgepush_protocol::token::TokenError;

use crate::config::ConfigError;

/// Why a request was refused or failed. `Display` is the message sent to the caller.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The connect token is missing, malformed, expired or otherwise refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The publish signature is missing, stale, unknown or wrong.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The publish body is not a valid event, batch or size.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// The worker's settings are missing or invalid; fix the named setting and redeploy.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `GET /connect` carried no token in `Sec-WebSocket-Protocol` nor in `?token=`.
    #[error(
        "no connect token: offer it as a WebSocket subprotocol next to \"edgepush.v1\", or pass ?token="
    )]
    MissingToken,
    /// A query parameter or header has an invalid value.
    #[error("{field} {problem}")]
    InvalidField {
        /// The parameter, e.g. `since`.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A signed request's body (other than a publish) is not what the endpoint takes.
    #[error("body must be {expected}: {problem}")]
    InvalidBody {
        /// The shape the endpoint takes.
        expected: &'static str,
        /// What the parser said.
        problem: String,
        /// The body is no JSON at all (`invalid_json`, as for a publish), not JSON of another
        /// shape (`invalid_field`).
        not_json: bool,
    },
    /// The request body is over the limit; nothing was read past it.
    #[error("the body is over {limit} bytes; split the batch or send smaller payloads")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No such path.
    #[error(
        "no such path; the API is GET /connect, POST /publish, POST /disconnect, POST /revoke, POST /subscribe, POST /unsubscribe, GET /presence, GET /health"
    )]
    NotFound,
    /// The path exists, but not with this method.
    #[error("{path} does not accept {method}; use {allowed}")]
    MethodNotAllowed {
        /// The path.
        path: &'static str,
        /// The method used.
        method: String,
        /// The methods the path accepts.
        allowed: &'static str,
    },
    /// `GET /connect` without `Upgrade: websocket`.
    #[error("GET /connect must be a WebSocket upgrade (Upgrade: websocket)")]
    UpgradeRequired,
    /// A user's room refused or failed the call (e.g. `internal_error`: nothing of that user
    /// was stored, retry; `idempotency_conflict`: use a new key).
    #[error("{message}")]
    Refused {
        /// The stable code.
        code: ErrorCode,
        /// What the room reported, naming the user.
        message: String,
        /// When a retry may succeed (`rate_limited`), in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// An unexpected runtime failure; safe to retry.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServerError {
    /// The stable wire code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Token(err) => err.code(),
            Self::Signature(err) => err.code(),
            Self::Publish(err) => err.code(),
            Self::Config(_) => ErrorCode::ServerMisconfigured,
            Self::MissingToken => ErrorCode::MissingToken,
            Self::InvalidBody { not_json: true, .. } => ErrorCode::InvalidJson,
            Self::InvalidField { .. } | Self::InvalidBody { .. } => ErrorCode::InvalidField,
            Self::BodyTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::UpgradeRequired => ErrorCode::UpgradeRequired,
            Self::Refused { code, .. } => *code,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.code().http_status()
    }

    /// The `{"error":{"code":..,"message":..}}` body.
    pub fn body(&self) -> ErrorResponse {
        let retry_after_ms = match self {
            Self::Refused { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        };
        ErrorResponse {
            error: ErrorBody {
                retry_after_ms,
                ..ErrorBody::new(self.code(), self.to_string())
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_code_of_their_cause() {
        let err = ServerError::from(TokenError::Expired { exp: 1, now: 2 });
        assert_eq!(err.code(), ErrorCode::TokenExpired);
        assert_eq!(err.status(), 401);
        assert_eq!(err.body().error.code, "token_expired");
        assert!(err.body().error.message.contains("expired"));
        assert_eq!(ServerError::BodyTooLarge { limit: 1 }.status(), 413);
        assert_eq!(ServerError::UpgradeRequired.status(), 426);
    }
}
