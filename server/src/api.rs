//! The public HTTP surface, decided without I/O: which route a request takes, where its token
//! is, what it asked to resume, and the `POST /disconnect` body.

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{REFUSAL_CLOSE, SUBPROTOCOL};
use edgepush_protocol::publish::UserId;
use edgepush_protocol::token::LEEWAY_SECONDS;
use edgepush_protocol::topic::Topic;
use serde::{Deserialize, Serialize};

use crate::error::ServerError;
use crate::mercure::MERCURE_PATH;
use crate::room::ResumeRequest;

/// A public endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /health`
    Health,
    /// `GET /connect` (WebSocket upgrade)
    Connect,
    /// `POST /publish`
    Publish,
    /// `POST /disconnect`
    Disconnect,
    /// `POST /revoke`
    Revoke,
    /// `GET /presence?user=` or `?topic=` (signed)
    Presence,
    /// `POST /subscribe`
    Subscribe,
    /// `POST /unsubscribe`
    Unsubscribe,
    /// `POST /.well-known/mercure`
    MercurePublish,
    /// `GET /.well-known/mercure`
    MercureSubscribe,
    /// `OPTIONS /.well-known/mercure`
    MercurePreflight,
    /// `OPTIONS` on a signed endpoint: a CORS preflight.
    Preflight,
}

impl Route {
    /// Routes a request, refusing unknown paths (404) and wrong methods (405).
    pub fn of(method: &str, path: &str) -> Result<Self, ServerError> {
        if path == MERCURE_PATH {
            return match method {
                "POST" => Ok(Self::MercurePublish),
                "GET" | "HEAD" => Ok(Self::MercureSubscribe),
                "OPTIONS" => Ok(Self::MercurePreflight),
                _ => Err(ServerError::MethodNotAllowed {
                    path: MERCURE_PATH,
                    method: method.to_owned(),
                    allowed: "GET, POST",
                }),
            };
        }
        let (route, name, allowed) = match path {
            "/health" => (Self::Health, "/health", "GET"),
            "/connect" => (Self::Connect, "/connect", "GET"),
            "/publish" => (Self::Publish, "/publish", "POST"),
            "/disconnect" => (Self::Disconnect, "/disconnect", "POST"),
            "/revoke" => (Self::Revoke, "/revoke", "POST"),
            "/presence" => (Self::Presence, "/presence", "GET"),
            "/subscribe" => (Self::Subscribe, "/subscribe", "POST"),
            "/unsubscribe" => (Self::Unsubscribe, "/unsubscribe", "POST"),
            _ => return Err(ServerError::NotFound),
        };
        match (route, method) {
            (Self::Health | Self::Connect | Self::Presence, "GET" | "HEAD") => Ok(route),
            (
                Self::Publish
                | Self::Disconnect
                | Self::Revoke
                | Self::Subscribe
                | Self::Unsubscribe,
                "POST",
            ) => Ok(route),
            (
                Self::Publish
                | Self::Disconnect
                | Self::Revoke
                | Self::Presence
                | Self::Subscribe
                | Self::Unsubscribe,
                "OPTIONS",
            ) => Ok(Self::Preflight),
            _ => Err(ServerError::MethodNotAllowed {
                path: name,
                method: method.to_owned(),
                allowed,
            }),
        }
    }

    /// Whether responses on this route allow any origin (signed endpoints: the signature, not the
    /// origin, is what authorizes them).
    pub fn is_cross_origin(self) -> bool {
        matches!(
            self,
            Self::Publish
                | Self::Disconnect
                | Self::Revoke
                | Self::Presence
                | Self::Subscribe
                | Self::Unsubscribe
                | Self::Preflight
        )
    }
}

/// How a refused connect is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// As an HTTP status and JSON body (what plain WebSocket clients can read).
    Http,
    /// Inside an accepted socket: an `error` frame and a close code from the shared table
    /// (browsers cannot read a refused upgrade). Every refusal, the room's failures included.
    InBand,
}

impl Refusal {
    /// What the client asked for with the `refusal` query parameter.
    pub fn asked(refusal_param: Option<&str>) -> Self {
        if refusal_param == Some(REFUSAL_CLOSE) {
            Self::InBand
        } else {
            Self::Http
        }
    }
}

/// Where the connect token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectToken<'a> {
    /// The JWT.
    pub token: &'a str,
    /// Whether the client offered the `edgepush.v1` subprotocol, which the server must echo.
    pub echo_subprotocol: bool,
}

/// Finds the token: in `Sec-WebSocket-Protocol` next to `edgepush.v1`, else in `?token=`.
pub fn connect_token<'a>(
    subprotocols: Option<&'a str>,
    query_token: Option<&'a str>,
) -> Result<ConnectToken<'a>, ServerError> {
    let offered: Vec<&str> = subprotocols
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let echo_subprotocol = offered.contains(&SUBPROTOCOL);
    // Only next to `edgepush.v1`: another subprotocol a client offers (`json`) is no token.
    let from_protocol = echo_subprotocol
        .then(|| offered.iter().copied().find(|p| *p != SUBPROTOCOL))
        .flatten();
    match from_protocol.or(query_token).filter(|t| !t.is_empty()) {
        Some(token) => Ok(ConnectToken {
            token,
            echo_subprotocol,
        }),
        None => Err(ServerError::MissingToken),
    }
}

/// Reads `since` and `epoch` from the connect query.
pub fn resume_request(
    since: Option<&str>,
    epoch: Option<&str>,
) -> Result<ResumeRequest, ServerError> {
    let since = since
        .map(|s| {
            s.parse::<u64>().map_err(|_| ServerError::InvalidField {
                field: "since",
                problem: "must be a whole number: the id of the last event received",
            })
        })
        .transpose()?;
    let epoch = match epoch {
        Some(e) if e.is_empty() || e.len() > 64 => {
            return Err(ServerError::InvalidField {
                field: "epoch",
                problem: "must be the epoch from the welcome frame (1 to 64 characters)",
            });
        }
        other => other.map(str::to_owned),
    };
    Ok(ResumeRequest { since, epoch })
}

/// `POST /disconnect`: closes every socket of a user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DisconnectRequest {
    /// The user to disconnect (a string or an integer id).
    pub user: UserId,
    /// `true` (the default): close with 1012 so clients reconnect (e.g. to pick up new
    /// permissions). `false`: close with 4502 so clients stop (logout).
    #[serde(default = "reconnect_by_default")]
    pub reconnect: bool,
}

fn reconnect_by_default() -> bool {
    true
}

impl DisconnectRequest {
    /// Parses the body; the error names the problem.
    pub fn parse(body: &[u8]) -> Result<Self, ServerError> {
        read_body(body, "{\"user\":\"42\",\"reconnect\":true|false}")
    }
}

/// A signed call's JSON body of the shape `expected` (named in the error).
fn read_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &'static str,
) -> Result<T, ServerError> {
    serde_json::from_slice(body).map_err(|err| ServerError::InvalidBody {
        not_json: err.is_syntax() || err.is_eof(),
        expected,
        problem: err.to_string(),
    })
}

/// `POST /revoke`: refuses every token of a user issued at or before `before` (default: now),
/// and closes their sockets with 4502.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RevokeRequest {
    /// The user (a string or an integer id).
    pub user: UserId,
    /// Seconds since the Unix epoch; tokens with an `iat` at or before it are refused, tokens
    /// without `iat` always. Default: the server's now.
    #[serde(default)]
    pub before: Option<i64>,
}

impl RevokeRequest {
    /// Parses the body; the error names the problem.
    pub fn parse(body: &[u8]) -> Result<Self, ServerError> {
        read_body(
            body,
            "{\"user\":\"42\",\"before\":1767225600} (before is optional)",
        )
    }

    /// When the revocation is, for a call the backend signed at `signed_at`: `before`, or that
    /// second. A `before` later than the call (beyond the tokens' clock leeway) is refused: a
    /// revocation never moves back, and tokens cannot be issued that far ahead, so the user
    /// could never connect again (milliseconds sent for seconds).
    pub fn at(&self, signed_at: i64) -> Result<i64, ServerError> {
        match self.before {
            Some(before) if before > signed_at.saturating_add(LEEWAY_SECONDS) => {
                Err(ServerError::Refused {
                    code: ErrorCode::InvalidField,
                    message: format!(
                        "before ({before}) is later than the call ({signed_at}): seconds since \
                         the Unix epoch, at the latest now"
                    ),
                    retry_after_ms: None,
                })
            }
            before => Ok(before.unwrap_or(signed_at)),
        }
    }
}

/// The answer to `POST /revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeResponse {
    /// The user.
    pub user: String,
    /// The revocation in force: tokens issued at or before this second are refused.
    pub revoked_at: i64,
    /// How many sockets were closed.
    pub sockets: u32,
}

/// `POST /subscribe` and `POST /unsubscribe`: topics the backend subscribes a user to (or no
/// longer), for every socket of the user, open and to come.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscribeRequest {
    /// The user (a string or an integer id).
    pub user: UserId,
    /// The topics (each checked: a valid topic of a declared namespace).
    pub topics: Vec<String>,
}

impl SubscribeRequest {
    /// Parses the body; the error names the problem.
    pub fn parse(body: &[u8]) -> Result<Self, ServerError> {
        let request: Self = read_body(body, "{\"user\":\"42\",\"topics\":[\"product:1\"]}")?;
        if request.topics.is_empty() || request.topics.len() > 1024 {
            return Err(ServerError::InvalidField {
                field: "topics",
                problem: "must list 1 to 1024 topics",
            });
        }
        Ok(request)
    }
}

/// The answer to `POST /subscribe` and `POST /unsubscribe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeResponse {
    /// The user.
    pub user: String,
    /// The topics.
    pub topics: Vec<String>,
    /// The user's open sockets it applied to now.
    pub sockets: u32,
}

/// What `GET /presence` asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceQuery {
    /// `?user=42`: is the user online, with how many sockets.
    User(UserId),
    /// `?topic=feed:all`: how many sockets subscribed, and (namespaces with `presence`) which
    /// users.
    Topic(Topic),
}

impl PresenceQuery {
    /// Reads the query: exactly one of `user` and `topic`.
    pub fn parse(user: Option<&str>, topic: Option<&str>) -> Result<Self, ServerError> {
        match (user, topic) {
            (Some(user), None) => {
                UserId::parse(user)
                    .map(Self::User)
                    .map_err(|problem| ServerError::InvalidField {
                        field: "user",
                        problem,
                    })
            }
            (None, Some(topic)) => {
                Topic::parse(topic)
                    .map(Self::Topic)
                    .map_err(|_| ServerError::InvalidField {
                        field: "topic",
                        problem: "must be one topic, namespace:name (no pattern)",
                    })
            }
            _ => Err(ServerError::InvalidField {
                field: "query",
                problem: "must hold exactly one of user= and topic=",
            }),
        }
    }
}

/// The answer to `GET /presence?user=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPresence {
    /// The user.
    pub user: String,
    /// Whether the user has an open socket.
    pub online: bool,
    /// How many.
    pub sockets: u32,
}

/// The answer to `GET /presence?topic=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPresence {
    /// The topic.
    pub topic: String,
    /// Sockets subscribed (as the topic last counted them).
    pub occupancy: u64,
    /// The users subscribed over their connection, for a namespace with `presence`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
}

/// The answer to `POST /disconnect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisconnectResponse {
    /// The user.
    pub user: String,
    /// How many sockets were closed.
    pub sockets: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(Route::of("GET", "/health").unwrap(), Route::Health);
        assert_eq!(Route::of("GET", "/connect").unwrap(), Route::Connect);
        assert_eq!(Route::of("POST", "/publish").unwrap(), Route::Publish);
        assert_eq!(Route::of("OPTIONS", "/publish").unwrap(), Route::Preflight);
        assert_eq!(Route::of("POST", "/disconnect").unwrap(), Route::Disconnect);
        assert_eq!(Route::of("GET", "/publish").unwrap_err().status(), 405);
        assert_eq!(Route::of("POST", "/connect").unwrap_err().status(), 405);
        assert_eq!(Route::of("GET", "/nope").unwrap_err().status(), 404);
        assert_eq!(Route::of("GET", "/presence").unwrap(), Route::Presence);
        assert_eq!(Route::of("OPTIONS", "/presence").unwrap(), Route::Preflight);
        assert_eq!(Route::of("POST", "/presence").unwrap_err().status(), 405);
        assert_eq!(
            Route::of("POST", "/.well-known/mercure").unwrap(),
            Route::MercurePublish
        );
        assert_eq!(
            Route::of("GET", "/.well-known/mercure").unwrap(),
            Route::MercureSubscribe
        );
        assert_eq!(
            Route::of("PUT", "/.well-known/mercure")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(Route::of("GET", "/publish/").unwrap_err().status(), 404);
    }

    #[test]
    fn refusals_are_in_band_only_when_asked_for() {
        assert_eq!(Refusal::asked(Some("close")), Refusal::InBand);
        assert_eq!(Refusal::asked(None), Refusal::Http);
        assert_eq!(Refusal::asked(Some("http")), Refusal::Http);
        assert_eq!(Refusal::asked(Some("")), Refusal::Http);
    }

    #[test]
    fn the_token_comes_from_the_subprotocol_list_or_the_query() {
        let t = connect_token(Some("edgepush.v1, abc.def.ghi"), None).unwrap();
        assert_eq!((t.token, t.echo_subprotocol), ("abc.def.ghi", true));
        let t = connect_token(None, Some("q.q.q")).unwrap();
        assert_eq!((t.token, t.echo_subprotocol), ("q.q.q", false));
        let t = connect_token(Some("edgepush.v1"), Some("q.q.q")).unwrap();
        assert_eq!((t.token, t.echo_subprotocol), ("q.q.q", true));
        assert!(matches!(
            connect_token(Some("edgepush.v1"), None),
            Err(ServerError::MissingToken)
        ));
        assert!(matches!(
            connect_token(None, Some("")),
            Err(ServerError::MissingToken)
        ));
        // A subprotocol of the client's own, without edgepush.v1: the query's token.
        let t = connect_token(Some("json"), Some("q.q.q")).unwrap();
        assert_eq!((t.token, t.echo_subprotocol), ("q.q.q", false));
    }

    #[test]
    fn resume_parameters_are_validated() {
        assert_eq!(
            resume_request(None, None).unwrap(),
            ResumeRequest::default()
        );
        let r = resume_request(Some("17"), Some("e1")).unwrap();
        assert_eq!((r.since, r.epoch.as_deref()), (Some(17), Some("e1")));
        assert_eq!(resume_request(Some("-1"), None).unwrap_err().status(), 400);
        assert_eq!(resume_request(Some("x"), None).unwrap_err().status(), 400);
        assert_eq!(resume_request(None, Some("")).unwrap_err().status(), 400);
    }

    #[test]
    fn presence_asks_about_one_user_or_one_topic() {
        assert!(matches!(
            PresenceQuery::parse(Some("42"), None),
            Ok(PresenceQuery::User(_))
        ));
        assert!(matches!(
            PresenceQuery::parse(None, Some("feed:all")),
            Ok(PresenceQuery::Topic(_))
        ));
        for (user, topic) in [
            (None, None),
            (Some("42"), Some("feed:all")),
            (None, Some("feed:*")),
            (Some(""), None),
        ] {
            assert_eq!(PresenceQuery::parse(user, topic).unwrap_err().status(), 400);
        }
    }

    #[test]
    fn subscribe_bodies() {
        let r = SubscribeRequest::parse(br#"{"user":42,"topics":["feed:all"]}"#).unwrap();
        assert_eq!((r.user.as_str(), r.topics.len()), ("42", 1));
        for bad in [
            &br#"{"user":"42"}"#[..],
            br#"{"user":"42","topics":[]}"#,
            br#"{"user":"42","topics":"feed:all"}"#,
        ] {
            assert_eq!(SubscribeRequest::parse(bad).unwrap_err().status(), 400);
        }
        assert_eq!(Route::of("POST", "/subscribe").unwrap(), Route::Subscribe);
        assert_eq!(
            Route::of("POST", "/unsubscribe").unwrap(),
            Route::Unsubscribe
        );
    }

    #[test]
    fn revoke_bodies() {
        let r = RevokeRequest::parse(br#"{"user":42}"#).unwrap();
        assert_eq!((r.user.as_str(), r.before), ("42", None));
        let r = RevokeRequest::parse(br#"{"user":"a","before":1767225600}"#).unwrap();
        assert_eq!(r.before, Some(1_767_225_600));
        for bad in [
            &b"{}"[..],
            br#"{"user":"a","before":"now"}"#,
            br#"{"user":"a","before":1.5}"#,
        ] {
            let err = RevokeRequest::parse(bad).unwrap_err();
            assert_eq!((err.status(), err.code()), (400, ErrorCode::InvalidField));
            assert!(
                err.to_string().starts_with("body must be {\"user\""),
                "{err}"
            );
        }
        // A body that is no JSON at all: invalid_json, as for a publish.
        for not_json in [&b""[..], b"nope", br#"{"user":"a""#] {
            let err = RevokeRequest::parse(not_json).unwrap_err();
            assert_eq!((err.status(), err.code()), (400, ErrorCode::InvalidJson));
        }
        // At the signed second by default; never later than the call (within the leeway).
        let signed = 1_767_225_600;
        assert_eq!(r.at(signed).unwrap(), signed);
        let at = |before: i64| {
            RevokeRequest::parse(format!(r#"{{"user":"a","before":{before}}}"#).as_bytes())
                .unwrap()
                .at(signed)
        };
        assert_eq!(at(signed - 100).unwrap(), signed - 100);
        assert_eq!(
            at(signed + LEEWAY_SECONDS).unwrap(),
            signed + LEEWAY_SECONDS
        );
        let millis = at(signed * 1000).unwrap_err();
        assert_eq!(
            (millis.status(), millis.code()),
            (400, ErrorCode::InvalidField)
        );
    }

    #[test]
    fn disconnect_bodies() {
        let r = DisconnectRequest::parse(br#"{"user":42}"#).unwrap();
        assert_eq!((r.user.as_str(), r.reconnect), ("42", true));
        let r = DisconnectRequest::parse(br#"{"user":"a","reconnect":false}"#).unwrap();
        assert!(!r.reconnect);
        for bad in [
            &b"{}"[..],
            b"nope",
            br#"{"user":""}"#,
            br#"{"user":"a","reconnect":1}"#,
        ] {
            assert_eq!(DisconnectRequest::parse(bad).unwrap_err().status(), 400);
        }
    }
}
