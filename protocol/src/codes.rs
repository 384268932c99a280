//! The one table of WebSocket close codes and error codes that the server and every SDK share.
//!
//! Close codes follow the centrifuge convention: `4000..=4499` ask the client to reconnect,
//! `4500..=4999` are terminal. Error codes are stable strings carried in
//! `{"error":{"code":..,"message":..}}` bodies and in `error` frames.

use core::fmt;

/// What a client must do after the server closed its socket with a given code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect with backoff, reusing the current token.
    Reconnect,
    /// Fetch a fresh token from the token provider, then reconnect.
    RefreshToken,
    /// Do not reconnect: the problem will not go away by retrying. Report it to the app.
    Stop,
}

/// A WebSocket close code, known to edgepush or passed through as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCode {
    /// 1000: the connection finished normally (the client called `close()`).
    Normal,
    /// 1001: the server is going away (redeploy, eviction); reconnect.
    GoingAway,
    /// 1006: the connection dropped without a close frame (never sent on the wire).
    Abnormal,
    /// 1011: the server hit an unexpected condition; reconnect with backoff.
    InternalError,
    /// 1012: the service is restarting; reconnect with backoff.
    ServiceRestart,
    /// 1013: the service is overloaded; reconnect with backoff.
    TryAgainLater,
    /// 4001: the connect token expired while the socket was open; fetch a new token and reconnect.
    TokenExpired,
    /// 4500: the connect token is invalid (bad signature, wrong audience, malformed); do not retry
    /// with the same token source.
    TokenInvalid,
    /// 4501: the client broke the protocol badly enough that retrying cannot help.
    ProtocolViolation,
    /// 4502: the backend disconnected this user (`POST /disconnect` with `reconnect: false`,
    /// e.g. at logout); do not reconnect until the app asks to.
    Revoked,
    /// Any other code.
    Other(u16),
}

impl CloseCode {
    /// The numeric code sent in the close frame.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::Abnormal => 1006,
            Self::InternalError => 1011,
            Self::ServiceRestart => 1012,
            Self::TryAgainLater => 1013,
            Self::TokenExpired => 4001,
            Self::TokenInvalid => 4500,
            Self::ProtocolViolation => 4501,
            Self::Revoked => 4502,
            Self::Other(code) => code,
        }
    }

    /// The reason string the server sends with this code (short, machine-readable).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::GoingAway => "going_away",
            Self::Abnormal => "abnormal",
            Self::InternalError => "internal_error",
            Self::ServiceRestart => "service_restart",
            Self::TryAgainLater => "try_again_later",
            Self::TokenExpired => "token_expired",
            Self::TokenInvalid => "token_invalid",
            Self::ProtocolViolation => "protocol_violation",
            Self::Revoked => "revoked",
            Self::Other(_) => "other",
        }
    }

    /// What the client must do after a close with this code.
    ///
    /// `Normal` means the client itself ended the connection, so there is nothing to resume;
    /// `1002`/`1003`/`1007`/`1008`/`1009` and `4500..=4999` are terminal; everything else,
    /// including unknown codes below 4500, reconnects with backoff.
    pub fn action(self) -> CloseAction {
        match self {
            Self::TokenExpired => CloseAction::RefreshToken,
            Self::Normal | Self::TokenInvalid | Self::ProtocolViolation | Self::Revoked => {
                CloseAction::Stop
            }
            Self::Other(1002 | 1003 | 1007 | 1008 | 1009 | 4500..=4999) => CloseAction::Stop,
            _ => CloseAction::Reconnect,
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        match code {
            1000 => Self::Normal,
            1001 => Self::GoingAway,
            1006 => Self::Abnormal,
            1011 => Self::InternalError,
            1012 => Self::ServiceRestart,
            1013 => Self::TryAgainLater,
            4001 => Self::TokenExpired,
            4500 => Self::TokenInvalid,
            4501 => Self::ProtocolViolation,
            4502 => Self::Revoked,
            other => Self::Other(other),
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.as_u16()
    }
}

/// Shorthand for `CloseCode::from(code).action()`: the rule every SDK obeys.
pub fn close_action(code: u16) -> CloseAction {
    CloseCode::from(code).action()
}

/// A stable, machine-readable error code, with the HTTP status it travels with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the body is not valid JSON.
    InvalidJson,
    /// 400: a field is missing, has the wrong type, or an invalid value; the message names it.
    InvalidField,
    /// 413: the request body or one event's payload is larger than the documented limit.
    PayloadTooLarge,
    /// 413: a batch holds more events than the documented limit.
    BatchTooLarge,
    /// 401: the publish request carries no `Edgepush-Signature` header.
    MissingSignature,
    /// 401: the signature header is malformed or the signature does not match.
    InvalidSignature,
    /// 401: the signed timestamp is outside the accepted tolerance (replay protection).
    StaleTimestamp,
    /// 401: the signature names a key id the server does not know.
    UnknownKey,
    /// 401: a connect request carries no token.
    MissingToken,
    /// 401: the token is malformed, tampered with, or signed with another secret.
    InvalidToken,
    /// 401: the token's `alg` is not HS256.
    UnsupportedAlgorithm,
    /// 401: the token has expired.
    TokenExpired,
    /// 401: the token's `nbf` or `iat` is in the future.
    TokenNotYetValid,
    /// 401: the token's `aud` or `iss` is not the configured one.
    InvalidClaims,
    /// 401: the token is larger than the documented limit.
    TokenTooLarge,
    /// 404: no such path.
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 426: `GET /connect` without `Upgrade: websocket`.
    UpgradeRequired,
    /// A WebSocket frame from the client could not be understood (sent as an `error` frame).
    InvalidFrame,
    /// 500: the server's configuration is missing or invalid; the message says which setting.
    ServerMisconfigured,
    /// 500: an unexpected server-side failure; safe to retry.
    InternalError,
}

impl ErrorCode {
    /// Every code, for tables and tests.
    pub const ALL: [ErrorCode; 21] = [
        Self::InvalidJson,
        Self::InvalidField,
        Self::PayloadTooLarge,
        Self::BatchTooLarge,
        Self::MissingSignature,
        Self::InvalidSignature,
        Self::StaleTimestamp,
        Self::UnknownKey,
        Self::MissingToken,
        Self::InvalidToken,
        Self::UnsupportedAlgorithm,
        Self::TokenExpired,
        Self::TokenNotYetValid,
        Self::InvalidClaims,
        Self::TokenTooLarge,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::UpgradeRequired,
        Self::InvalidFrame,
        Self::ServerMisconfigured,
        Self::InternalError,
    ];

    /// The string on the wire, e.g. `"invalid_signature"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidField => "invalid_field",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BatchTooLarge => "batch_too_large",
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::UnknownKey => "unknown_key",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::TokenExpired => "token_expired",
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::InvalidClaims => "invalid_claims",
            Self::TokenTooLarge => "token_too_large",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UpgradeRequired => "upgrade_required",
            Self::InvalidFrame => "invalid_frame",
            Self::ServerMisconfigured => "server_misconfigured",
            Self::InternalError => "internal_error",
        }
    }

    /// Parses the wire string back into a code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// The HTTP status an HTTP response with this error carries.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::InvalidField | Self::InvalidFrame => 400,
            Self::MissingSignature
            | Self::InvalidSignature
            | Self::StaleTimestamp
            | Self::UnknownKey
            | Self::MissingToken
            | Self::InvalidToken
            | Self::UnsupportedAlgorithm
            | Self::TokenExpired
            | Self::TokenNotYetValid
            | Self::InvalidClaims
            | Self::TokenTooLarge => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge | Self::BatchTooLarge => 413,
            Self::UpgradeRequired => 426,
            Self::ServerMisconfigured | Self::InternalError => 500,
        }
    }

    /// The close code a refused connect is reported with when the client asked for in-band
    /// refusals (`refusal=close`, see [`crate::frames::REFUSAL_PARAM`]): an expired token asks
    /// for a fresh one, other token problems and missing tokens stop the client, malformed
    /// connect parameters are a protocol violation, server trouble reconnects with backoff.
    pub fn refusal_close_code(self) -> CloseCode {
        match self {
            Self::TokenExpired | Self::TokenNotYetValid => CloseCode::TokenExpired,
            Self::MissingToken
            | Self::InvalidToken
            | Self::UnsupportedAlgorithm
            | Self::InvalidClaims
            | Self::TokenTooLarge => CloseCode::TokenInvalid,
            Self::ServerMisconfigured | Self::InternalError => CloseCode::InternalError,
            _ => CloseCode::ProtocolViolation,
        }
    }

    /// Whether repeating the same request later may succeed (server-side trouble), as opposed to
    /// a request that must be fixed first.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::InternalError)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn close_codes_round_trip_through_u16() {
        for code in [
            1000, 1001, 1006, 1011, 1012, 1013, 4001, 4500, 4501, 4242, 3000,
        ] {
            assert_eq!(CloseCode::from(code).as_u16(), code);
        }
    }

    #[test]
    fn close_code_ranges_decide_reconnect_or_stop() {
        assert_eq!(close_action(4001), CloseAction::RefreshToken);
        assert_eq!(close_action(4500), CloseAction::Stop);
        assert_eq!(close_action(4501), CloseAction::Stop);
        assert_eq!(close_action(4502), CloseAction::Stop);
        assert_eq!(close_action(1012), CloseAction::Reconnect);
        assert_eq!(close_action(4999), CloseAction::Stop);
        assert_eq!(close_action(4000), CloseAction::Reconnect);
        assert_eq!(close_action(4499), CloseAction::Reconnect);
        assert_eq!(close_action(1001), CloseAction::Reconnect);
        assert_eq!(close_action(1006), CloseAction::Reconnect);
        assert_eq!(close_action(1011), CloseAction::Reconnect);
        assert_eq!(close_action(1008), CloseAction::Stop);
        assert_eq!(close_action(1000), CloseAction::Stop);
    }

    #[test]
    fn error_codes_parse_back_and_are_unique() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn refusals_map_to_close_codes_the_client_acts_on() {
        let action = |code: ErrorCode| code.refusal_close_code().action();
        assert_eq!(action(ErrorCode::TokenExpired), CloseAction::RefreshToken);
        assert_eq!(action(ErrorCode::InvalidToken), CloseAction::Stop);
        assert_eq!(action(ErrorCode::MissingToken), CloseAction::Stop);
        assert_eq!(action(ErrorCode::UnsupportedAlgorithm), CloseAction::Stop);
        assert_eq!(action(ErrorCode::InvalidField), CloseAction::Stop);
        assert_eq!(
            action(ErrorCode::ServerMisconfigured),
            CloseAction::Reconnect
        );
    }

    #[test]
    fn error_codes_map_to_the_documented_statuses() {
        assert_eq!(ErrorCode::PayloadTooLarge.http_status(), 413);
        assert_eq!(ErrorCode::BatchTooLarge.http_status(), 413);
        assert_eq!(ErrorCode::MethodNotAllowed.http_status(), 405);
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::StaleTimestamp.http_status(), 401);
        assert_eq!(ErrorCode::InvalidJson.http_status(), 400);
    }
}
