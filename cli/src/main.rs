//! `edgepush`: mints connect and subscription tokens and sends signed requests to a worker.
//!
//! ```text
//! export EDGEPUSH_JWT_SECRET=… EDGEPUSH_KEY_ID=dev EDGEPUSH_PUBLISH_SECRET=…
//! edgepush token --user 42 --ttl 3600
//! edgepush token --user 42 --topics 'product:*,private:x'
//! edgepush subscription-token --user 42 --topic private:x
//! edgepush publish --user 42 --name Message --payload '{"text":"Hello"}'
//! edgepush publish --topic product:42 --name ProductChanged --payload '{"price":1990}'
//! edgepush publish --body '{"events":[{"user":"1","name":"Ping"},{"topic":"feed:all","name":"Ping"}]}'
//! edgepush publish --user 42 --name Background --payload '{"color":"red"}' --print-curl
//! edgepush disconnect --user 42 --no-reconnect
//! edgepush presence --user 42
//! edgepush presence --topic live:room
//! edgepush subscribe --user 42 --topics feed:all,orders:#42
//! edgepush unsubscribe --user 42 --topics feed:all --print-curl
//! edgepush token --user 42 --subs feed:all,dm:#7,42
//! ```
//!
//! A list of topics is comma-separated, and a piece without ':' continues the user list of the
//! topic before it: `feed:all,dm:#7,42` is `feed:all` and `dm:#7,42`. Exit status: 0 done, 1 an
//! error (on stderr), 2 bad usage, 3 a batch only partly stored (`207`, the answer on stdout).

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{ArgGroup, Args, Parser, Subcommand};
use edgepush_protocol::codes::ErrorCode;
use edgepush_protocol::publish::{IDEMPOTENCY_HEADER, Target, UserId, validate_event_name};
use edgepush_protocol::signature::{SIGNATURE_HEADER, SignatureError, SigningKey};
use edgepush_protocol::token::{
    Audience, Claims, MAX_TOKEN_BYTES, SubscriptionClaims, TokenError, TokenKey,
};
use edgepush_protocol::topic::{Topic, TopicPattern};

#[derive(Parser)]
#[command(
    name = "edgepush",
    version,
    about = "Mint edgepush connect and subscription tokens and send signed requests to a worker",
    after_help = "Exit status: 0 done; 1 an error, on stderr (invalid input, the server's refusal, \
                  a redirect, no answer); 2 bad usage; 3 the server stored only part of a batch \
                  (207): its answer, on stdout, gives each event's id or error; retry those with \
                  an error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a connect token for a user.
    Token {
        /// The user id (the token's `sub`).
        #[arg(long)]
        user: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// The HS256 secret the worker's JWT_SECRET holds.
        #[arg(long, env = "EDGEPUSH_JWT_SECRET", hide_env_values = true)]
        secret: String,
        /// Audience claim (`aud`), when the worker requires one.
        #[arg(long, env = "EDGEPUSH_JWT_AUDIENCE")]
        audience: Option<String>,
        /// Issuer claim (`iss`), when the worker requires one.
        #[arg(long, env = "EDGEPUSH_JWT_ISSUER")]
        issuer: Option<String>,
        /// Topics and patterns the connection may subscribe to, comma-separated or repeated
        /// (`product:*,private:x,dm:#7,42`; `*` is one whole name segment; a piece without ':'
        /// continues the user list after '#').
        #[arg(long)]
        topics: Vec<String>,
        /// Topics the connection is subscribed to from the start, comma-separated or repeated
        /// (`feed:all,orders:#42,dm:#7,42`; topics, not patterns; a piece without ':' continues
        /// the user list after '#').
        #[arg(long)]
        subs: Vec<String>,
    },
    /// Print a subscription token: lets a user subscribe to one topic until it expires.
    SubscriptionToken {
        /// The user id of the connection that may use it (the token's `sub`).
        #[arg(long)]
        user: String,
        /// The one topic it grants, e.g. private:x (not a pattern).
        #[arg(long)]
        topic: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// The HS256 secret the worker's JWT_SECRET holds.
        #[arg(long, env = "EDGEPUSH_JWT_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Send a signed `POST /publish` to a user or a topic (or print it as a curl command).
    #[command(group(ArgGroup::new("to").args(["user", "topic"]).conflicts_with("body")))]
    Publish {
        #[command(flatten)]
        target: Server,
        /// The user to publish to (with --name).
        #[arg(long, requires = "name")]
        user: Option<String>,
        /// The topic to publish to (with --name), e.g. product:42.
        #[arg(long, requires = "name")]
        topic: Option<String>,
        /// The event name, e.g. Message or Background.
        #[arg(long, requires = "to")]
        name: Option<String>,
        /// The event's JSON payload.
        #[arg(long, default_value = "null", requires = "to")]
        payload: String,
        /// A raw body instead (a batch, or the legacy shape).
        #[arg(long)]
        body: Option<String>,
        /// An Idempotency-Key header: retrying with the same key never stores twice.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Send a signed `POST /disconnect`, closing every socket of a user.
    Disconnect {
        #[command(flatten)]
        target: Server,
        /// The user to disconnect.
        #[arg(long)]
        user: String,
        /// Tell clients not to reconnect, and revoke the user's tokens (logout), instead of
        /// reconnecting.
        #[arg(long)]
        no_reconnect: bool,
    },
    /// Ask whether a user is online, or who reads a topic (a signed `GET /presence`).
    #[command(group(ArgGroup::new("of").args(["user", "topic"]).required(true)))]
    Presence {
        #[command(flatten)]
        target: Server,
        /// The user: online or not, and with how many sockets.
        #[arg(long)]
        user: Option<String>,
        /// The topic: how many sockets read it, and which users for a namespace with presence.
        #[arg(long)]
        topic: Option<String>,
    },
    /// Subscribe every socket of a user, open and to come, to topics (POST /subscribe).
    Subscribe {
        #[command(flatten)]
        change: SubscriptionChange,
    },
    /// End subscriptions made by `subscribe` or a token's subs (POST /unsubscribe).
    Unsubscribe {
        #[command(flatten)]
        change: SubscriptionChange,
    },
    /// Revoke a user's connect tokens issued at or before a time (POST /revoke).
    Revoke {
        #[command(flatten)]
        target: Server,
        /// The user whose tokens to revoke.
        #[arg(long)]
        user: String,
        /// Unix seconds; tokens issued at or before it are refused (default: when this call is
        /// signed).
        #[arg(long)]
        before: Option<i64>,
    },
}

/// The worker and the publish key that signs requests to it.
#[derive(Args)]
struct Server {
    /// The worker's base URL.
    #[arg(long, env = "EDGEPUSH_URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// The publish key id (one of the worker's PUBLISH_KEYS).
    #[arg(long, env = "EDGEPUSH_KEY_ID")]
    key_id: String,
    /// The publish key's secret.
    #[arg(long, env = "EDGEPUSH_PUBLISH_SECRET", hide_env_values = true)]
    secret: String,
    /// Print a ready-to-run curl command instead of sending.
    #[arg(long)]
    print_curl: bool,
}

/// A user and the topics `subscribe` or `unsubscribe` applies to.
#[derive(Args)]
struct SubscriptionChange {
    #[command(flatten)]
    target: Server,
    /// The user.
    #[arg(long)]
    user: String,
    /// 1 to 1024 topics, comma-separated or repeated (`feed:all,orders:#42,dm:#7,42`; topics,
    /// not patterns; a piece without ':' continues the user list after '#').
    #[arg(long, required = true)]
    topics: Vec<String>,
}

/// The most topics one `POST /subscribe` or `/unsubscribe` takes.
const MAX_SUBSCRIBE_TOPICS: usize = 1024;

/// What can go wrong; each message says what to fix.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("{field} {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("could not reach {url}: {reason} (is `wrangler dev` running?)")]
    Unreachable { url: String, reason: String },
    #[error("the server answered {status}: {body}")]
    Refused { status: u16, body: String },
    /// A 3xx: never followed, since a redirected POST becomes a GET and the signature would go
    /// to whatever the redirect names.
    #[error("{}", redirect_message(*status, location.as_deref(), base.as_deref()))]
    Redirected {
        status: u16,
        /// Where the server pointed, made absolute.
        location: Option<String>,
        /// The base URL that answers there, when the location is the same request under it.
        base: Option<String>,
    },
    /// A 207: some events were stored, others not; `body` says which.
    #[error(
        "the server stored only part of the request (207): the events with an error in its \
         answer, on stdout, were not stored; retry those"
    )]
    Partial { body: String },
    /// A minted token the server would refuse for its size.
    #[error(
        "the token is {size} bytes, and the server refuses tokens over {MAX_TOKEN_BYTES} bytes \
         ({}): grant fewer or shorter topics (a pattern such as product:* covers many)",
        ErrorCode::TokenTooLarge
    )]
    TokenTooLarge { size: usize },
}

/// The exit status of a batch only partly stored (`207`); 1 is any other error, 2 bad usage.
const EXIT_PARTIAL: u8 = 3;

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            Self::Partial { .. } => ExitCode::from(EXIT_PARTIAL),
            _ => ExitCode::FAILURE,
        }
    }
}

fn redirect_message(status: u16, location: Option<&str>, base: Option<&str>) -> String {
    match (location, base) {
        (Some(location), Some(base)) => format!(
            "the server redirected to {location} ({status}), and the request was not repeated \
             there: use --url {base} (or EDGEPUSH_URL)"
        ),
        (Some(location), None) => format!(
            "the server redirected to {location} ({status}), and the request was not repeated \
             there: point --url (or EDGEPUSH_URL) at the worker itself"
        ),
        (None, _) => format!(
            "the server answered {status}, a redirect without a Location: point --url (or \
             EDGEPUSH_URL) at the worker itself"
        ),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            if let CliError::Partial { body } = &err {
                println!("{body}");
            }
            eprintln!("edgepush: {err}");
            err.exit_code()
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn run(cli: Cli) -> Result<String, CliError> {
    match cli.command {
        Command::Token {
            user,
            ttl,
            secret,
            audience,
            issuer,
            topics,
            subs,
        } => {
            UserId::parse(user.as_str()).map_err(|p| invalid("--user", p))?;
            let topics = topic_list(topics);
            let subs = topic_list(subs);
            for topic in &topics {
                TopicPattern::parse(topic).map_err(|e| {
                    invalid(
                        "--topics",
                        format!(
                            "{topic:?} is not a topic or pattern: {e}{}",
                            list_hint(topic)
                        ),
                    )
                })?;
            }
            for topic in &subs {
                parse_listed_topic("--subs", topic)?;
            }
            let claims = Claims {
                aud: audience.map(Audience::One),
                iss: issuer,
                topics,
                subs,
                ..Claims::new(user, now(), ttl)
            };
            accepted_size(TokenKey::new(secret.as_bytes())?.mint(&claims))
        }
        Command::SubscriptionToken {
            user,
            topic,
            ttl,
            secret,
        } => {
            UserId::parse(user.as_str()).map_err(|p| invalid("--user", p))?;
            let parsed = parse_topic("--topic", &topic)?;
            if !parsed.admits(&user) {
                return Err(invalid(
                    "--topic",
                    format!(
                        "{topic:?} belongs to other users than {user:?}; no token can grant it"
                    ),
                ));
            }
            let claims = SubscriptionClaims {
                sub: user,
                topic,
                exp: now().saturating_add(ttl),
            };
            accepted_size(TokenKey::new(secret.as_bytes())?.mint_subscription(&claims))
        }
        Command::Publish {
            target,
            user,
            topic,
            name,
            payload,
            body,
            idempotency_key,
        } => {
            let to = match (user, topic) {
                (Some(user), None) => Some(Target::User(
                    UserId::parse(user).map_err(|p| invalid("--user", p))?,
                )),
                (None, Some(topic)) => Some(Target::Topic(parse_topic("--topic", &topic)?)),
                _ => None,
            };
            let body = match (body, to, name) {
                (Some(body), None, _) => body,
                (None, Some(to), Some(name)) => event_body(to, &name, &payload)?,
                _ => {
                    return Err(invalid(
                        "--user",
                        "or --topic, and --name, or --body, are required",
                    ));
                }
            };
            target.send("POST", "/publish", &body, idempotency_key)
        }
        Command::Disconnect {
            target,
            user,
            no_reconnect,
        } => {
            let body = serde_json::json!({"user": user, "reconnect": !no_reconnect}).to_string();
            target.send("POST", "/disconnect", &body, None)
        }
        Command::Revoke {
            target,
            user,
            before,
        } => {
            let mut body = serde_json::json!({ "user": user });
            if let Some(before) = before {
                body["before"] = before.into();
            }
            target.send("POST", "/revoke", &body.to_string(), None)
        }
        Command::Presence {
            target,
            user,
            topic,
        } => {
            let query = match (user, topic) {
                (Some(user), None) => {
                    UserId::parse(user.as_str()).map_err(|p| invalid("--user", p))?;
                    format!("user={}", percent_encode(&user))
                }
                (None, Some(topic)) => {
                    parse_topic("--topic", &topic)?;
                    format!("topic={}", percent_encode(&topic))
                }
                _ => return Err(invalid("--user", "or --topic, one of them, is required")),
            };
            target.send("GET", &format!("/presence?{query}"), "", None)
        }
        Command::Subscribe { change } => change.send("/subscribe"),
        Command::Unsubscribe { change } => change.send("/unsubscribe"),
    }
}

/// The body of one event: `{"name":…,"payload":…,"user"|"topic":…}`.
fn event_body(to: Target, name: &str, payload: &str) -> Result<String, CliError> {
    validate_event_name(name).map_err(|p| invalid("--name", p))?;
    let payload: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| invalid("--payload", format!("is not JSON: {e}")))?;
    let mut body = serde_json::json!({ "name": name, "payload": payload });
    match to {
        Target::User(user) => body["user"] = String::from(user).into(),
        Target::Topic(topic) => body["topic"] = String::from(topic).into(),
    }
    Ok(body.to_string())
}

/// A topic (never a pattern: they only grant topics in tokens).
fn parse_topic(field: &'static str, topic: &str) -> Result<Topic, CliError> {
    Topic::parse(topic).map_err(|e| invalid(field, format!("{topic:?} is not a topic: {e}")))
}

/// A topic from a list: as [`parse_topic`], with a hint on how the list was split.
fn parse_listed_topic(field: &'static str, topic: &str) -> Result<Topic, CliError> {
    Topic::parse(topic).map_err(|e| {
        invalid(
            field,
            format!("{topic:?} is not a topic: {e}{}", list_hint(topic)),
        )
    })
}

/// For a list's piece without ':': how a list is split.
fn list_hint(piece: &str) -> &'static str {
    if piece.contains(':') {
        ""
    } else {
        " (',' separates topics, and the user ids after '#' in one: dm:#7,42)"
    }
}

/// The topics or patterns of a list flag: each value (the flag may be repeated) split at ','.
/// Every topic has a ':', so a piece without one continues the user list of the topic before it
/// (`feed:all,dm:#7,42` is `feed:all` and `dm:#7,42`); anywhere else it stays a piece of its own
/// that the topic rules refuse.
fn topic_list(values: Vec<String>) -> Vec<String> {
    let mut topics: Vec<String> = Vec::new();
    for value in values {
        for piece in value.split(',') {
            match topics.last_mut() {
                Some(last) if !piece.contains(':') && lists_users(last) => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => topics.push(piece.to_owned()),
            }
        }
    }
    topics
}

/// Whether a topic (or a piece of a list) ends in a user list: its last ':' segment starts with
/// '#'.
fn lists_users(topic: &str) -> bool {
    topic
        .rsplit_once(':')
        .is_some_and(|(_, last)| last.starts_with('#'))
}

/// `token` unless the server would refuse it for its size ([`MAX_TOKEN_BYTES`]).
fn accepted_size(token: String) -> Result<String, CliError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(CliError::TokenTooLarge { size: token.len() });
    }
    Ok(token)
}

/// A query value as sent and signed: every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded, so
/// that `#`, `&`, `+` or `%` in a user id or a topic arrive as themselves.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl SubscriptionChange {
    fn send(self, path: &str) -> Result<String, CliError> {
        UserId::parse(self.user.as_str()).map_err(|p| invalid("--user", p))?;
        let topics = topic_list(self.topics);
        for topic in &topics {
            parse_listed_topic("--topics", topic)?;
        }
        if topics.len() > MAX_SUBSCRIBE_TOPICS {
            return Err(invalid(
                "--topics",
                format!(
                    "lists {} topics; one call takes at most {MAX_SUBSCRIBE_TOPICS}",
                    topics.len()
                ),
            ));
        }
        let body = serde_json::json!({"user": self.user, "topics": topics}).to_string();
        self.target.send("POST", path, &body, None)
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> CliError {
    CliError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl Server {
    /// Signs and sends `method target` (a path with its query, under the URL's own path), or
    /// prints it as a curl command. A GET carries no body; the signature covers the method, the
    /// path with its query as sent, and the body.
    fn send(
        &self,
        method: &str,
        target: &str,
        body: &str,
        idempotency_key: Option<String>,
    ) -> Result<String, CliError> {
        let base = self.url.trim_end_matches('/');
        // The path the worker sees: the base URL's own path (a prefix), then the target.
        let prefix = base
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|at| &rest[at..]))
            .unwrap_or("");
        let signed = format!("{prefix}{target}");
        let signature = SigningKey::new(&self.key_id, self.secret.as_bytes())?.sign(
            now(),
            method,
            &signed,
            body.as_bytes(),
        );
        let url = format!("{base}{target}");
        let get = method == "GET";
        if self.print_curl {
            let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
            let key = idempotency_key
                .map(|k| format!(" -H {}", quote(&format!("{IDEMPOTENCY_HEADER}: {k}"))))
                .unwrap_or_default();
            let signature = quote(&format!("{SIGNATURE_HEADER}: {signature}"));
            return Ok(if get {
                format!("curl -sS {} -H {signature}", quote(&url))
            } else {
                format!(
                    "curl -sS -X {method} {} -H 'Content-Type: application/json' -H {signature}{key} --data-raw {}",
                    quote(&url),
                    quote(body)
                )
            });
        }
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                // A redirected POST becomes a GET, and the signature would go along: report it.
                .max_redirects(0)
                .build(),
        );
        let unreachable = |e: ureq::Error| CliError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        };
        let mut response = if get {
            agent
                .get(&url)
                .header(SIGNATURE_HEADER, &signature)
                .call()
                .map_err(unreachable)?
        } else {
            let mut request = agent
                .post(&url)
                .header("Content-Type", "application/json")
                .header(SIGNATURE_HEADER, &signature);
            if let Some(key) = &idempotency_key {
                request = request.header(IDEMPOTENCY_HEADER, key);
            }
            request.send(body).map_err(unreachable)?
        };
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(|l| absolute(&url, l));
            let base = location
                .as_deref()
                .and_then(|l| l.strip_suffix(target))
                .filter(|base| base.contains("://"))
                .map(String::from);
            return Err(CliError::Redirected {
                status,
                location,
                base,
            });
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        match status {
            207 => Err(CliError::Partial { body: text }),
            300.. => Err(CliError::Refused { status, body: text }),
            _ => Ok(text),
        }
    }
}

/// A redirect's `Location` made absolute against the URL that answered it (a path keeps the
/// scheme and host; other relative forms are left as they are).
fn absolute(url: &str, location: &str) -> String {
    if location.contains("://") || !location.starts_with('/') {
        return location.to_owned();
    }
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = url.split_once("://").map_or("http", |(scheme, _)| scheme);
        return format!("{scheme}://{rest}");
    }
    let origin_end = url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.find('/').map(|at| scheme.len() + 3 + at))
        .unwrap_or(url.len());
    format!("{}{location}", &url[..origin_end])
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use edgepush_protocol::publish::parse_publish_body;
    use edgepush_protocol::signature::PublishKeys;

    use super::*;

    const SECRET: &str = "cli-test-secret-0123456789abcdef-0123";

    fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("edgepush").chain(args.iter().copied()))
    }

    fn run_args(args: &[&str]) -> Result<String, CliError> {
        run(cli(args).unwrap_or_else(|e| panic!("{args:?}: {e}")))
    }

    fn publish_args<'a>(url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["publish", "--url", url, "--key-id", "k", "--secret", SECRET];
        args.extend_from_slice(extra);
        args
    }

    /// The `--data-raw` body and the signature header of a printed curl command.
    fn curl_parts(curl: &str) -> (String, String) {
        let unquote = |s: &str| s.trim_matches('\'').replace(r"'\''", "'");
        let (head, body) = curl.split_once(" --data-raw ").expect("a body");
        let signature = head
            .split(" -H ")
            .map(unquote)
            .find_map(|h| {
                h.strip_prefix(&format!("{SIGNATURE_HEADER}: "))
                    .map(String::from)
            })
            .expect("a signature header");
        (unquote(body), signature)
    }

    fn assert_signed(signature: &str, body: &str) {
        let keys = PublishKeys::parse(&format!("k:{SECRET}")).unwrap();
        assert_eq!(
            keys.verify(Some(signature), "POST", "/publish", body.as_bytes(), now())
                .map(|v| v.key_id),
            Ok("k")
        );
    }

    fn refusal(result: Result<String, CliError>) -> (&'static str, String) {
        match result {
            Err(CliError::Invalid { field, problem }) => (field, problem),
            other => panic!("expected an invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn publishing_to_a_topic_prints_a_signed_request_the_server_parses() {
        let curl = run_args(&publish_args(
            "http://127.0.0.1:8787/",
            &[
                "--topic",
                "product:42",
                "--name",
                "ProductChanged",
                "--payload",
                r#"{"price":1990,"note":"it's"}"#,
                "--idempotency-key",
                "price-1990",
                "--print-curl",
            ],
        ))
        .unwrap();

        assert!(curl.starts_with("curl -sS -X POST 'http://127.0.0.1:8787/publish' "));
        assert!(
            curl.contains(" -H 'Idempotency-Key: price-1990' "),
            "{curl}"
        );
        let (body, signature) = curl_parts(&curl);
        assert_eq!(
            body,
            r#"{"name":"ProductChanged","payload":{"note":"it's","price":1990},"topic":"product:42"}"#
        );
        assert_signed(&signature, &body);
        let events = parse_publish_body(body.as_bytes()).unwrap();
        assert_eq!(
            events[0].to,
            Target::Topic(Topic::parse("product:42").unwrap())
        );
    }

    #[test]
    fn publishing_to_a_user_keeps_its_shape() {
        let curl = run_args(&publish_args(
            "http://127.0.0.1:8787",
            &["--user", "42", "--name", "Message", "--print-curl"],
        ))
        .unwrap();
        let (body, signature) = curl_parts(&curl);
        assert_eq!(body, r#"{"name":"Message","payload":null,"user":"42"}"#);
        assert_signed(&signature, &body);
    }

    #[test]
    fn an_event_goes_to_exactly_one_user_or_topic() {
        let url = "http://127.0.0.1:8787";
        for extra in [
            &["--user", "42", "--topic", "product:42", "--name", "X"][..],
            &["--name", "X"],
            &["--topic", "product:42"],
            &["--topic", "product:42", "--name", "X", "--body", "{}"],
        ] {
            assert!(cli(&publish_args(url, extra)).is_err(), "{extra:?}");
        }
        let (field, _) = refusal(run_args(&publish_args(url, &["--print-curl"])));
        assert_eq!(field, "--user");
    }

    #[test]
    fn patterns_and_malformed_topics_are_refused_before_sending() {
        // An unroutable URL: any attempt to send would fail with another error.
        for (topic, problem) in [
            ("product:*", "'*' is only a whole name segment"),
            ("Product:42", "a namespace is 1 to 32"),
            ("product", "has no ':'"),
            ("orders:#", "'#' starts the last segment only"),
        ] {
            let (field, message) = refusal(run_args(&publish_args(
                "http://192.0.2.1:9",
                &["--topic", topic, "--name", "X"],
            )));
            assert_eq!(field, "--topic");
            assert!(message.contains(problem), "{topic}: {message}");
        }
    }

    #[test]
    fn connect_tokens_carry_topic_grants() {
        let token = run_args(&[
            "token",
            "--user",
            "42",
            "--secret",
            SECRET,
            "--topics",
            "product:*,private:x",
        ])
        .unwrap();
        let claims = TokenKey::new(SECRET.as_bytes())
            .unwrap()
            .verify(&token, now())
            .unwrap();
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.topics, ["product:*", "private:x"]);

        let plain = run_args(&["token", "--user", "42", "--secret", SECRET]).unwrap();
        let claims = TokenKey::new(SECRET.as_bytes())
            .unwrap()
            .verify(&plain, now())
            .unwrap();
        assert!(claims.topics.is_empty());

        let (field, message) = refusal(run_args(&[
            "token",
            "--user",
            "42",
            "--secret",
            SECRET,
            "--topics",
            "product:*,product:4*",
        ]));
        assert_eq!(field, "--topics");
        assert!(
            message.starts_with(r#""product:4*" is not a topic or pattern"#),
            "{message}"
        );
    }

    #[test]
    fn subscription_tokens_grant_one_topic_to_one_user() {
        let key = TokenKey::new(SECRET.as_bytes()).unwrap();
        let token = run_args(&[
            "subscription-token",
            "--user",
            "42",
            "--topic",
            "private:x",
            "--ttl",
            "60",
            "--secret",
            SECRET,
        ])
        .unwrap();
        let claims = key.verify_subscription(&token, now()).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.topic.as_str()),
            ("42", "private:x")
        );
        assert!((now() + 59..=now() + 60).contains(&claims.exp));
        assert!(
            key.verify(&token, now()).is_err(),
            "taken for a connect token"
        );

        let own = run_args(&[
            "subscription-token",
            "--user",
            "42",
            "--topic",
            "dm:#7,42",
            "--secret",
            SECRET,
        ])
        .unwrap();
        assert_eq!(
            key.verify_subscription(&own, now()).unwrap().topic,
            "dm:#7,42"
        );

        for topic in ["orders:#7", "orders:#042", "product:*", "product"] {
            let (field, _) = refusal(run_args(&[
                "subscription-token",
                "--user",
                "42",
                "--topic",
                topic,
                "--secret",
                SECRET,
            ]));
            assert_eq!(field, "--topic", "{topic}");
        }
    }

    /// Answers one HTTP request with `answer` and hands back the request line, headers and body.
    fn serve_once(answer: &'static str) -> (String, std::thread::JoinHandle<(String, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            answer_request(stream, "202 Accepted", "", answer)
        });
        (url, server)
    }

    /// Answers requests in turn with `answers` (the status, extra header lines each ending in
    /// CRLF where `{url}` stands for the server's URL, the body), sending each request's head and
    /// body to the receiver once answered. Requests past the last answer are never accepted.
    fn serve(
        answers: Vec<(&'static str, &'static str, &'static str)>,
    ) -> (String, std::sync::mpsc::Receiver<(String, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (sender, requests) = std::sync::mpsc::channel();
        let base = url.clone();
        std::thread::spawn(move || {
            for (status, headers, answer) in answers {
                let (stream, _) = listener.accept().unwrap();
                let headers = headers.replace("{url}", &base);
                let request = answer_request(stream, status, &headers, answer);
                if sender.send(request).is_err() {
                    return;
                }
            }
        });
        (url, requests)
    }

    /// Reads one request from `stream`, answers it, and returns its head and body.
    fn answer_request(
        stream: std::net::TcpStream,
        status: &str,
        headers: &str,
        answer: &str,
    ) -> (String, String) {
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let response = format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        );
        reader.get_mut().write_all(response.as_bytes()).unwrap();
        (head, String::from_utf8(body).unwrap())
    }

    #[test]
    fn publishing_to_a_topic_sends_the_signed_request_and_prints_the_answer() {
        let answer = r#"{"events":[{"topic":"product:42","id":9,"sockets":4}]}"#;
        let (url, server) = serve_once(answer);

        let printed = run_args(&publish_args(
            &url,
            &["--topic", "product:42", "--name", "ProductChanged"],
        ))
        .unwrap();

        assert_eq!(printed, answer);
        let (head, body) = server.join().unwrap();
        assert!(head.starts_with("POST /publish HTTP/1.1\r\n"), "{head}");
        assert_eq!(
            body,
            r#"{"name":"ProductChanged","payload":null,"topic":"product:42"}"#
        );
        let signature = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(": ")?;
                name.eq_ignore_ascii_case(SIGNATURE_HEADER).then_some(value)
            })
            .expect("a signature header");
        assert_signed(signature, &body);
    }

    fn server_args<'a>(command: &'a str, url: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![command, "--url", url, "--key-id", "k", "--secret", SECRET];
        args.extend_from_slice(extra);
        args
    }

    fn assert_signed_as(signature: &str, method: &str, target: &str, body: &str) {
        let keys = PublishKeys::parse(&format!("k:{SECRET}")).unwrap();
        assert_eq!(
            keys.verify(Some(signature), method, target, body.as_bytes(), now())
                .map(|v| v.key_id),
            Ok("k"),
            "{method} {target}"
        );
    }

    /// The value of a header in a request head.
    fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
        head.lines().find_map(|l| {
            let (n, value) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(value)
        })
    }

    #[test]
    fn presence_of_a_user_prints_a_signed_get_with_the_query_encoded() {
        let curl = run_args(&server_args(
            "presence",
            "https://example.test/push/",
            &["--user", "a&b=c #+/%é", "--print-curl"],
        ))
        .unwrap();

        let target = "/push/presence?user=a%26b%3Dc%20%23%2B%2F%25%C3%A9";
        let prefix = format!("curl -sS 'https://example.test{target}' -H '{SIGNATURE_HEADER}: ");
        let signature = curl
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix('\''))
            .unwrap_or_else(|| panic!("{curl}"));
        assert!(
            !curl.contains("--data-raw") && !curl.contains("-X "),
            "{curl}"
        );
        assert_signed_as(signature, "GET", target, "");
    }

    #[test]
    fn presence_of_a_topic_sends_the_signed_get_and_prints_the_answer() {
        let answer = r#"{"topic":"orders:#7,42","occupancy":1}"#;
        let (url, server) = serve_once(answer);

        let printed =
            run_args(&server_args("presence", &url, &["--topic", "orders:#7,42"])).unwrap();

        assert_eq!(printed, answer);
        let (head, body) = server.join().unwrap();
        let target = "/presence?topic=orders%3A%237%2C42";
        assert!(
            head.starts_with(&format!("GET {target} HTTP/1.1\r\n")),
            "{head}"
        );
        assert_eq!(body, "");
        assert_signed_as(header(&head, SIGNATURE_HEADER).unwrap(), "GET", target, "");
    }

    #[test]
    fn presence_asks_about_exactly_one_user_or_topic() {
        let url = "http://127.0.0.1:8787";
        for extra in [&["--user", "42", "--topic", "live:room"][..], &[]] {
            assert!(
                cli(&server_args("presence", url, extra)).is_err(),
                "{extra:?}"
            );
        }
        for (field, extra) in [
            ("--topic", ["--topic", "live:*"]),
            ("--topic", ["--topic", "live"]),
            ("--user", ["--user", ""]),
        ] {
            let (refused, _) = refusal(run_args(&server_args(
                "presence",
                "http://192.0.2.1:9",
                &extra,
            )));
            assert_eq!(refused, field, "{extra:?}");
        }
    }

    #[test]
    fn subscribe_and_unsubscribe_post_the_user_and_topics_signed() {
        for command in ["subscribe", "unsubscribe"] {
            let curl = run_args(&server_args(
                command,
                "http://127.0.0.1:8787",
                &[
                    "--user",
                    "42",
                    "--topics",
                    "feed:all,orders:#42",
                    "--print-curl",
                ],
            ))
            .unwrap();
            let path = format!("/{command}");
            assert!(
                curl.starts_with(&format!("curl -sS -X POST 'http://127.0.0.1:8787{path}' ")),
                "{curl}"
            );
            let (body, signature) = curl_parts(&curl);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                serde_json::json!({"user": "42", "topics": ["feed:all", "orders:#42"]})
            );
            assert_signed_as(&signature, "POST", &path, &body);
        }
    }

    #[test]
    fn subscribe_sends_the_request_and_prints_the_answer() {
        let answer = r#"{"user":"42","topics":["feed:all"],"sockets":2}"#;
        let (url, server) = serve_once(answer);

        let printed = run_args(&server_args(
            "subscribe",
            &format!("{url}/"),
            &["--user", "42", "--topics", "feed:all"],
        ))
        .unwrap();

        assert_eq!(printed, answer);
        let (head, body) = server.join().unwrap();
        assert!(head.starts_with("POST /subscribe HTTP/1.1\r\n"), "{head}");
        assert_signed_as(
            header(&head, SIGNATURE_HEADER).unwrap(),
            "POST",
            "/subscribe",
            &body,
        );
    }

    #[test]
    fn subscriptions_take_topics_never_patterns() {
        let url = "http://192.0.2.1:9";
        assert!(cli(&server_args("subscribe", url, &["--user", "42"])).is_err());
        for topics in ["feed:*", "feed:all,Feed:x", "feed:all,"] {
            let (field, message) = refusal(run_args(&server_args(
                "unsubscribe",
                url,
                &["--user", "42", "--topics", topics],
            )));
            assert_eq!(field, "--topics", "{topics}: {message}");
        }
        let many = (0..=MAX_SUBSCRIBE_TOPICS)
            .map(|i| format!("feed:{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let (field, message) = refusal(run_args(&server_args(
            "subscribe",
            url,
            &["--user", "42", "--topics", &many],
        )));
        assert_eq!(field, "--topics");
        assert!(message.contains("at most 1024"), "{message}");
    }

    #[test]
    fn connect_tokens_subscribe_their_connection_from_the_start() {
        let token = run_args(&[
            "token",
            "--user",
            "42",
            "--secret",
            SECRET,
            "--subs",
            "feed:all,orders:#42",
        ])
        .unwrap();
        let claims = TokenKey::new(SECRET.as_bytes())
            .unwrap()
            .verify(&token, now())
            .unwrap();
        assert_eq!(claims.subs, ["feed:all", "orders:#42"]);
        assert!(claims.topics.is_empty());

        let (field, _) = refusal(run_args(&[
            "token", "--user", "42", "--secret", SECRET, "--subs", "feed:*",
        ]));
        assert_eq!(field, "--subs");
    }

    #[test]
    fn topic_lists_keep_topics_shared_by_several_users_whole() {
        let token = run_args(&[
            "token",
            "--user",
            "42",
            "--secret",
            SECRET,
            "--topics",
            "dm:#7,42,product:*,orders:#42",
            "--subs",
            "feed:all,dm:#7,42,9",
            "--subs",
            "dm:#1,42",
        ])
        .unwrap();
        let claims = TokenKey::new(SECRET.as_bytes())
            .unwrap()
            .verify(&token, now())
            .unwrap();
        assert_eq!(claims.topics, ["dm:#7,42", "product:*", "orders:#42"]);
        assert_eq!(claims.subs, ["feed:all", "dm:#7,42,9", "dm:#1,42"]);

        for command in ["subscribe", "unsubscribe"] {
            let curl = run_args(&server_args(
                command,
                "http://127.0.0.1:8787",
                &[
                    "--user",
                    "42",
                    "--topics",
                    "dm:#7,42,feed:all",
                    "--print-curl",
                ],
            ))
            .unwrap();
            let (body, _) = curl_parts(&curl);
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
                serde_json::json!({"user": "42", "topics": ["dm:#7,42", "feed:all"]}),
                "{command}"
            );
        }
    }

    #[test]
    fn a_piece_without_a_colon_continues_only_a_user_list() {
        let url = "http://192.0.2.1:9";
        for (topics, piece) in [("feed:all,42", "42"), ("42,dm:#7", "42")] {
            let (field, message) = refusal(run_args(&server_args(
                "subscribe",
                url,
                &["--user", "42", "--topics", topics],
            )));
            assert_eq!(field, "--topics", "{topics}");
            assert!(
                message.starts_with(&format!("{piece:?} is not a topic")),
                "{topics}: {message}"
            );
        }
        // An empty id in a user list is still refused, by the topic rules.
        let (field, message) = refusal(run_args(&server_args(
            "subscribe",
            url,
            &["--user", "42", "--topics", "dm:#7,"],
        )));
        assert_eq!(field, "--topics");
        assert!(message.contains("'#' starts the last segment"), "{message}");
    }

    /// The size a refusal names: the number before " bytes".
    fn refused_size(message: &str) -> usize {
        let before = message
            .split(" bytes")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .unwrap_or_else(|| panic!("{message}"));
        before
            .parse()
            .unwrap_or_else(|_| panic!("no size in {message}"))
    }

    #[test]
    fn tokens_the_server_would_refuse_for_their_size_are_not_minted() {
        let topics = |count: usize| {
            (0..count)
                .map(|i| format!("product:{i:010}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mint = |flag: &'static str, count: usize| {
            let list = topics(count);
            run(cli(&["token", "--user", "42", "--secret", SECRET, flag, &list]).unwrap())
        };
        for flag in ["--topics", "--subs"] {
            let message = mint(flag, 200).unwrap_err().to_string();
            assert!(message.contains("4096"), "{message}");
            assert!(message.contains("token_too_large"), "{message}");
            assert!(refused_size(&message) > 4096, "{message}");

            // The largest list that fits is minted, and the server's check accepts it.
            let fits = (1..200)
                .rev()
                .find(|&count| mint(flag, count).is_ok())
                .unwrap();
            let token = mint(flag, fits).unwrap();
            assert!(
                token.len() <= 4096 && token.len() > 4096 - 40,
                "{}",
                token.len()
            );
            TokenKey::new(SECRET.as_bytes())
                .unwrap()
                .verify(&token, now())
                .unwrap();
            let message = mint(flag, fits + 1).unwrap_err().to_string();
            assert!(refused_size(&message) > 4096, "{message}");
        }
    }

    #[test]
    fn a_redirect_is_reported_and_not_followed() {
        let (url, requests) = serve(vec![
            (
                "301 Moved Permanently",
                "Location: {url}/v2/publish\r\n",
                "",
            ),
            (
                "405 Method Not Allowed",
                "",
                r#"{"error":{"code":"method_not_allowed"}}"#,
            ),
        ]);

        let message = run_args(&publish_args(&url, &["--user", "42", "--name", "X"]))
            .unwrap_err()
            .to_string();

        assert!(
            message.contains(&format!("redirected to {url}/v2/publish")),
            "{message}"
        );
        assert!(message.contains(&format!("--url {url}/v2")), "{message}");
        let (head, _) = requests
            .recv_timeout(std::time::Duration::from_secs(5))
            .unwrap();
        assert!(head.starts_with("POST /publish HTTP/1.1\r\n"), "{head}");
        assert!(
            requests.try_recv().is_err(),
            "the redirect was followed: the signature went to its target"
        );
    }

    #[test]
    fn a_partly_stored_batch_is_an_error_that_keeps_the_answer() {
        let answer = r#"{"events":[{"user":"42","id":19,"sockets":2},{"user":"7","error":{"code":"internal_error","message":"the room failed"}}]}"#;
        let (url, requests) = serve(vec![("207 Multi-Status", "", answer)]);

        let message = run_args(&publish_args(
            &url,
            &[
                "--body",
                r#"{"events":[{"user":"42","name":"A"},{"user":"7","name":"A"}]}"#,
            ],
        ))
        .unwrap_err()
        .to_string();

        assert!(message.contains("207"), "{message}");
        requests.recv().unwrap();
    }

    #[test]
    fn a_partly_stored_batch_keeps_the_answer_and_its_own_exit_status() {
        let answer = r#"{"events":[{"user":"42","id":19,"sockets":2},{"user":"7","error":{"code":"internal_error","message":"the room failed"}}]}"#;
        let (url, _requests) = serve(vec![("207 Multi-Status", "", answer)]);

        let err = run_args(&publish_args(&url, &["--user", "42", "--name", "A"])).unwrap_err();

        assert_eq!(err.exit_code(), ExitCode::from(EXIT_PARTIAL));
        assert_ne!(EXIT_PARTIAL, 1);
        match err {
            CliError::Partial { body } => assert_eq!(body, answer),
            other => panic!("expected a partial answer, got {other:?}"),
        }
    }

    #[test]
    fn a_relative_redirect_of_a_get_names_the_url_to_use() {
        let (url, requests) = serve(vec![(
            "308 Permanent Redirect",
            "Location: /edge/presence?user=42\r\n",
            "",
        )]);

        let message = run_args(&server_args("presence", &url, &["--user", "42"]))
            .unwrap_err()
            .to_string();

        assert!(
            message.contains(&format!("redirected to {url}/edge/presence?user=42 (308)")),
            "{message}"
        );
        assert!(message.contains(&format!("--url {url}/edge ")), "{message}");
        requests.recv().unwrap();

        let (url, _requests) = serve(vec![("302 Found", "Location: /login\r\n", "")]);
        let message = run_args(&server_args("presence", &url, &["--user", "42"]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!("redirected to {url}/login (302)"))
                && message.contains("point --url (or EDGEPUSH_URL) at the worker itself"),
            "{message}"
        );
    }
}
