//! The one table of WebSocket close codes and error codes that the server and every SDK share.
//!
//! Close codes follow the centrifuge convention: `4000..=4499` ask the client to reconnect,
//! `4500..=4999` are terminal. Error codes are stable strings carried in
//! `{"error":{"code":..,"message":..}}` bodies and in `error` frames.
//!
//! Each code is one row of the `close_codes!` or `error_codes!` table below; the enums and their
//! methods are generated from the rows. `protocol/codes.json` is the same table for other
//! languages, kept in sync by `protocol/tests/codes.rs`.

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

/// Generates [`CloseCode`] from rows `/// meaning` + `Variant: code, "reason", Action;`.
macro_rules! close_codes {
    ($($(#[doc = $meaning:literal])+ $name:ident: $code:literal, $reason:literal, $action:ident;)+) => {
        /// A WebSocket close code, known to edgepush or passed through as `Other`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum CloseCode {
            $(
                #[doc = concat!(stringify!($code), ":", $($meaning),+)]
                $name,
            )+
            /// Any other code.
            Other(u16),
        }

        impl CloseCode {
            /// Every code edgepush knows (all but `Other`), for tables and tests.
            pub const ALL: [CloseCode; [$($code),+].len()] = [$(Self::$name),+];

            /// The numeric code sent in the close frame.
            pub const fn as_u16(self) -> u16 {
                match self {
                    $(Self::$name => $code,)+
                    Self::Other(code) => code,
                }
            }

            /// The reason string the server sends with this code (short, machine-readable).
            pub const fn reason(self) -> &'static str {
                match self {
                    $(Self::$name => $reason,)+
                    Self::Other(_) => "other",
                }
            }

            /// What the code means, in one line (the row's doc text).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Self::$name => concat!($($meaning),+).trim_ascii(),)+
                    Self::Other(_) => "a code edgepush does not send; the client acts on its range",
                }
            }

            /// What the client must do after a close with this code.
            ///
            /// `Normal` means the client itself ended the connection, so there is nothing to
            /// resume; `1002`/`1003`/`1007`/`1008`/`1009` and `4500..=4999` are terminal;
            /// everything else, including unknown codes below 4500, reconnects with backoff.
            pub const fn action(self) -> CloseAction {
                match self {
                    $(Self::$name => CloseAction::$action,)+
                    Self::Other(1002 | 1003 | 1007 | 1008 | 1009 | 4500..=4999) => CloseAction::Stop,
                    Self::Other(_) => CloseAction::Reconnect,
                }
            }
        }

        impl From<u16> for CloseCode {
            fn from(code: u16) -> Self {
                match code {
                    $($code => Self::$name,)+
                    other => Self::Other(other),
                }
            }
        }
    };
}

close_codes! {
    /// the connection finished normally (the client called `close()`).
    Normal: 1000, "normal", Stop;
    /// the server is going away (redeploy, eviction); reconnect.
    GoingAway: 1001, "going_away", Reconnect;
    /// the connection dropped without a close frame (never sent on the wire).
    Abnormal: 1006, "abnormal", Reconnect;
    /// the server hit an unexpected condition; reconnect with backoff.
    InternalError: 1011, "internal_error", Reconnect;
    /// the service is restarting; reconnect with backoff.
    ServiceRestart: 1012, "service_restart", Reconnect;
    /// the service is overloaded; reconnect with backoff.
    TryAgainLater: 1013, "try_again_later", Reconnect;
    /// the connect token expired while the socket was open; fetch a new token and reconnect.
    TokenExpired: 4001, "token_expired", RefreshToken;
    /// the user already has as many open sockets as the server allows; reconnect with backoff
    /// (a socket of the user may close meanwhile).
    TooManyConnections: 4003, "too_many_connections", Reconnect;
    /// too many connects for this user or token in a short time; reconnect after the retry hint.
    RateLimited: 4029, "rate_limited", Reconnect;
    /// the connect token is invalid (bad signature, wrong audience, malformed); do not retry
    /// with the same token source.
    TokenInvalid: 4500, "token_invalid", Stop;
    /// the client broke the protocol badly enough that retrying cannot help.
    ProtocolViolation: 4501, "protocol_violation", Stop;
    /// the backend disconnected this user or revoked the token (`POST /disconnect` with
    /// `reconnect: false`, `POST /revoke`, e.g. at logout); do not reconnect until the app asks to.
    Revoked: 4502, "revoked", Stop;
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

/// Generates [`ErrorCode`] from rows
/// `/// meaning` + `Variant: "wire", HTTP status, refusal close code, retryable;`.
macro_rules! error_codes {
    ($(
        $(#[doc = $meaning:literal])+
        $name:ident: $wire:literal, $status:literal, $refusal:ident, $retryable:literal;
    )+) => {
        /// A stable, machine-readable error code, with the HTTP status it travels with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!(stringify!($status), ":", $($meaning),+)]
                $name,
            )+
        }

        impl ErrorCode {
            /// Every code, for tables and tests.
            pub const ALL: [ErrorCode; [$($wire),+].len()] = [$(Self::$name),+];

            /// The string on the wire, e.g. `"invalid_signature"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => $wire,)+
                }
            }

            /// The HTTP status an HTTP response with this error carries.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(Self::$name => $status,)+
                }
            }

            /// The close code a refused connect is reported with when the client asked for
            /// in-band refusals (`refusal=close`, see [`crate::frames::REFUSAL_PARAM`]): an
            /// expired token asks for a fresh one, other token problems and missing tokens stop
            /// the client, malformed connect parameters are a protocol violation, server trouble
            /// reconnects with backoff.
            pub const fn refusal_close_code(self) -> CloseCode {
                match self {
                    $(Self::$name => CloseCode::$refusal,)+
                }
            }

            /// Whether repeating the same request later may succeed (server-side trouble), as
            /// opposed to a request that must be fixed first.
            pub const fn is_retryable(self) -> bool {
                match self {
                    $(Self::$name => $retryable,)+
                }
            }

            /// What the code means, in one line (the row's doc text).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Self::$name => concat!($($meaning),+).trim_ascii(),)+
                }
            }
        }
    };
}

error_codes! {
    /// the body is not valid JSON.
    InvalidJson: "invalid_json", 400, ProtocolViolation, false;
    /// a field is missing, has the wrong type, or an invalid value; the message names it.
    InvalidField: "invalid_field", 400, ProtocolViolation, false;
    /// the request body or one event's payload is larger than the documented limit.
    PayloadTooLarge: "payload_too_large", 413, ProtocolViolation, false;
    /// a batch holds more events than the documented limit.
    BatchTooLarge: "batch_too_large", 413, ProtocolViolation, false;
    /// the publish request carries no `Edgepush-Signature` header.
    MissingSignature: "missing_signature", 401, ProtocolViolation, false;
    /// the signature header is malformed or the signature does not match.
    InvalidSignature: "invalid_signature", 401, ProtocolViolation, false;
    /// the signed timestamp is outside the accepted tolerance (replay protection).
    StaleTimestamp: "stale_timestamp", 401, ProtocolViolation, false;
    /// the signature names a key id the server does not know.
    UnknownKey: "unknown_key", 401, ProtocolViolation, false;
    /// a connect request carries no token.
    MissingToken: "missing_token", 401, TokenInvalid, false;
    /// the token is malformed, tampered with, or signed with another secret.
    InvalidToken: "invalid_token", 401, TokenInvalid, false;
    /// the token's `alg` is not HS256.
    UnsupportedAlgorithm: "unsupported_algorithm", 401, TokenInvalid, false;
    /// the token has expired.
    TokenExpired: "token_expired", 401, TokenExpired, false;
    /// the token's `nbf` or `iat` is in the future.
    TokenNotYetValid: "token_not_yet_valid", 401, TokenExpired, false;
    /// the token was revoked: its user was logged out (`POST /revoke`, or `POST /disconnect` with
    /// `reconnect: false`) at or after the token's `iat`.
    TokenRevoked: "token_revoked", 401, Revoked, false;
    /// the token's `aud` or `iss` is not the configured one.
    InvalidClaims: "invalid_claims", 401, TokenInvalid, false;
    /// the token is larger than the documented limit.
    TokenTooLarge: "token_too_large", 401, TokenInvalid, false;
    /// no such path.
    NotFound: "not_found", 404, ProtocolViolation, false;
    /// the path exists but not with this method.
    MethodNotAllowed: "method_not_allowed", 405, ProtocolViolation, false;
    /// `GET /connect` without `Upgrade: websocket`.
    UpgradeRequired: "upgrade_required", 426, ProtocolViolation, false;
    /// the user already has as many open sockets as `MAX_SOCKETS_PER_USER` allows.
    TooManyConnections: "too_many_connections", 429, TooManyConnections, true;
    /// too many connects for the user or the token within a minute; retry after the hint.
    RateLimited: "rate_limited", 429, RateLimited, true;
    /// a socket sent more frames than `MAX_CLIENT_FRAMES_PER_MINUTE` allows (sent as an `error`
    /// frame before the socket is closed with 4501).
    TooManyFrames: "too_many_frames", 429, ProtocolViolation, false;
    /// an idempotency key the user's room already stored with a different event (another name or
    /// payload); nothing was stored. Use a new key for a new event.
    IdempotencyConflict: "idempotency_conflict", 409, ProtocolViolation, false;
    /// a topic name or pattern is malformed (the message says which rule it breaks), or a
    /// publish names a pattern instead of one topic.
    InvalidTopic: "invalid_topic", 400, ProtocolViolation, false;
    /// the topic's namespace is not declared in the server's `TOPIC_NAMESPACES`.
    UnknownNamespace: "unknown_namespace", 400, ProtocolViolation, false;
    /// the connection may not read this topic: not its user's, not granted by the connect
    /// token's `topics` claim or a subscription token, and the namespace is not public (sent in
    /// an `unsubscribed` frame; the connection stays).
    TopicForbidden: "topic_forbidden", 403, ProtocolViolation, false;
    /// the socket already holds as many subscriptions as the server allows.
    TooManySubscriptions: "too_many_subscriptions", 400, ProtocolViolation, false;
    /// the topic's namespace has `shards`: its readers connect a topic socket
    /// (`/connect?topic=`), not a subscription over the user's connection, so that a publish
    /// costs one request per shard, not per reading user (the SDK switches by itself).
    TopicSocketRequired: "topic_socket_required", 400, ProtocolViolation, false;
    /// a WebSocket frame from the client could not be understood (sent as an `error` frame, not
    /// in an HTTP response).
    InvalidFrame: "invalid_frame", 400, ProtocolViolation, false;
    /// the server's configuration is missing or invalid; the message says which setting.
    ServerMisconfigured: "server_misconfigured", 500, InternalError, false;
    /// an unexpected server-side failure; safe to retry.
    InternalError: "internal_error", 500, InternalError, true;
}

impl ErrorCode {
    /// Parses the wire string back into a code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == code)
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
