//! The one error type of the SDK.
//!
//! Errors are *reported* to the app's error handlers (`on_error` / `onError`); none of them is
//! thrown into the app, and only the ones documented as terminal stop the connection.
//! [`Error::message`] builds the text without `core::fmt`, which keeps the wasm small.

use alloc::string::String;
use core::fmt;

/// Something the app should know about. Each variant says whether the client keeps going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An event's payload does not match the type its handler expects. The event is skipped for
    /// that handler; the connection carries on. Fix the publisher or the handler's type.
    BadPayload {
        /// The event name, e.g. `"Message"`.
        name: String,
        /// Why the payload did not fit.
        reason: String,
    },
    /// The token provider failed (its promise or future rejected, or it gave no string). The
    /// client retries with backoff.
    TokenProvider {
        /// The provider's error text.
        reason: String,
    },
    /// The token provider has no token for this user, and asking again will not help (e.g. the
    /// app's token endpoint answered 401 or 403: nobody is logged in): the client stopped instead
    /// of asking every few seconds. Call `connect()` again once there is one (after a login).
    MissingToken {
        /// The provider's error text.
        reason: String,
    },
    /// The token has expired. With a token provider the client fetches a fresh one after backoff;
    /// with a fixed token string it stops (`stopped`, and the error is terminal): pass a provider
    /// to stay connected for longer.
    TokenExpired {
        /// Whether the client stopped because of it (a fixed token string cannot be renewed).
        stopped: bool,
    },
    /// The server closed the socket (the client's own, or one of its topic sockets) with a code
    /// that says retrying cannot help (e.g. 4500 token invalid, 4501 protocol violation, 4502
    /// revoked): the client stopped. Call `connect()` again once the cause is fixed (for instance
    /// after the user logged in again).
    Rejected {
        /// The WebSocket close code.
        code: u16,
        /// The close reason the server sent.
        reason: String,
    },
    /// The server answered a frame of ours with an `error` frame; the socket stays open.
    Server {
        /// The stable error code, e.g. `"invalid_frame"`.
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// A JavaScript event handler threw; the client carries on with the next handler.
    Handler {
        /// The exception's message.
        reason: String,
    },
    /// The browser refused to open a WebSocket (e.g. a malformed URL); retried with backoff.
    Socket {
        /// The browser's error text.
        reason: String,
    },
    /// The client was configured wrongly, e.g. a URL that is not `http(s)://` or `ws(s)://`.
    /// Nothing was connected; fix the configuration.
    Config {
        /// What is wrong.
        reason: &'static str,
    },
}

impl Error {
    /// A stable machine-readable code: `bad_payload`, `token_provider`, `missing_token`,
    /// `token_expired`, `rejected`, `server_error`, `handler_threw`, `socket` or `config`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadPayload { .. } => "bad_payload",
            Self::TokenProvider { .. } => "token_provider",
            Self::MissingToken { .. } => "missing_token",
            Self::TokenExpired { .. } => "token_expired",
            Self::Rejected { .. } => "rejected",
            Self::Server { .. } => "server_error",
            Self::Handler { .. } => "handler_threw",
            Self::Socket { .. } => "socket",
            Self::Config { .. } => "config",
        }
    }

    /// Whether the client stopped because of this error (it will not reconnect on its own):
    /// `rejected`, `config`, `missing_token`, and `token_expired` with a fixed token string.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Rejected { .. }
                | Self::Config { .. }
                | Self::MissingToken { .. }
                | Self::TokenExpired { stopped: true }
        )
    }

    /// What happened and what to do, as one sentence (the same text as `Display`).
    pub fn message(&self) -> String {
        let parts: [&str; 5] = match self {
            Self::BadPayload { name, reason } => [
                "the payload of event ",
                name,
                " does not match its handler's type: ",
                reason,
                "; the event was skipped",
            ],
            Self::TokenProvider { reason } => [
                "the token provider failed: ",
                reason,
                "; retrying with backoff",
                "",
                "",
            ],
            Self::MissingToken { reason } => [
                "the token provider has no token: ",
                reason,
                "; call connect() again once it has one",
                "",
                "",
            ],
            Self::TokenExpired { .. } => [
                "the connect token has expired; a token provider is asked for a fresh one, ",
                "a fixed token string cannot be renewed",
                "",
                "",
                "",
            ],
            Self::Rejected { code, reason } => {
                return join(&[
                    "the server closed the connection with code ",
                    &crate::text::decimal(u64::from(*code)),
                    " (",
                    reason,
                    "); not reconnecting: fix the cause, then call connect() again",
                ]);
            }
            Self::Server { code, message } => ["the server reported ", code, ": ", message, ""],
            Self::Handler { reason } => ["an event handler threw: ", reason, "", "", ""],
            Self::Socket { reason } => [
                "the browser could not open the WebSocket: ",
                reason,
                "; retrying with backoff",
                "",
                "",
            ],
            Self::Config { reason } => ["invalid client configuration: ", reason, "", "", ""],
        };
        join(&parts)
    }
}

fn join(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl core::error::Error for Error {}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn messages_say_what_happened_and_what_to_do() {
        let error = Error::Rejected {
            code: 4500,
            reason: "token_invalid".into(),
        };
        assert_eq!(
            error.to_string(),
            "the server closed the connection with code 4500 (token_invalid); not reconnecting: \
             fix the cause, then call connect() again"
        );
        assert!(error.is_terminal());
        let error = Error::BadPayload {
            name: "Message".into(),
            reason: "missing field `text`".into(),
        };
        assert_eq!(
            error.message(),
            "the payload of event Message does not match its handler's type: missing field `text`; \
             the event was skipped"
        );
        assert_eq!(error.code(), "bad_payload");
        assert!(!error.is_terminal());
    }
}
