//! `edgepush`: mints connect tokens and sends signed publish requests.
//!
//! ```text
//! export EDGEPUSH_JWT_SECRET=… EDGEPUSH_KEY_ID=dev EDGEPUSH_PUBLISH_SECRET=…
//! edgepush token --user 42 --ttl 3600
//! edgepush publish --user 42 --name Message --payload '{"text":"Hello"}'
//! edgepush publish --body '{"events":[{"user":"1","name":"Ping"},{"user":"2","name":"Ping"}]}'
//! edgepush publish --user 42 --name Background --payload '{"color":"red"}' --print-curl
//! edgepush disconnect --user 42 --no-reconnect
//! ```

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use edgepush_protocol::publish::{IDEMPOTENCY_HEADER, UserId, validate_event_name};
use edgepush_protocol::signature::{SIGNATURE_HEADER, SignatureError, SigningKey};
use edgepush_protocol::token::{Audience, Claims, TokenError, TokenKey};

#[derive(Parser)]
#[command(
    name = "edgepush",
    version,
    about = "Mint edgepush connect tokens and send signed publish requests"
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
    },
    /// Send a signed `POST /publish` (or print it as a curl command).
    Publish {
        #[command(flatten)]
        target: Target,
        /// The user to publish to (with --name).
        #[arg(long, requires = "name", conflicts_with = "body")]
        user: Option<String>,
        /// The event name, e.g. Message or Background.
        #[arg(long, requires = "user")]
        name: Option<String>,
        /// The event's JSON payload.
        #[arg(long, default_value = "null", requires = "user")]
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
        target: Target,
        /// The user to disconnect.
        #[arg(long)]
        user: String,
        /// Tell clients not to reconnect, and revoke the user's tokens (logout), instead of
        /// reconnecting.
        #[arg(long)]
        no_reconnect: bool,
    },
    /// Revoke a user's connect tokens issued at or before a time (POST /revoke).
    Revoke {
        #[command(flatten)]
        target: Target,
        /// The user whose tokens to revoke.
        #[arg(long)]
        user: String,
        /// Unix seconds; tokens issued at or before it are refused (default: the server's now).
        #[arg(long)]
        before: Option<i64>,
    },
}

#[derive(Args)]
struct Target {
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
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("edgepush: {err}");
            ExitCode::FAILURE
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
        } => {
            UserId::parse(user.as_str()).map_err(|p| invalid("--user", p))?;
            let claims = Claims {
                aud: audience.map(Audience::One),
                iss: issuer,
                ..Claims::new(user, now(), ttl)
            };
            Ok(TokenKey::new(secret.as_bytes())?.mint(&claims))
        }
        Command::Publish {
            target,
            user,
            name,
            payload,
            body,
            idempotency_key,
        } => {
            let body = match (body, user, name) {
                (Some(body), _, _) => body,
                (None, Some(user), Some(name)) => {
                    UserId::parse(user.as_str()).map_err(|p| invalid("--user", p))?;
                    validate_event_name(&name).map_err(|p| invalid("--name", p))?;
                    let payload: serde_json::Value = serde_json::from_str(&payload)
                        .map_err(|e| invalid("--payload", format!("is not JSON: {e}")))?;
                    serde_json::json!({"user": user, "name": name, "payload": payload}).to_string()
                }
                _ => return Err(invalid("--user", "and --name, or --body, are required")),
            };
            target.send("/publish", body, idempotency_key)
        }
        Command::Disconnect {
            target,
            user,
            no_reconnect,
        } => {
            let body = serde_json::json!({"user": user, "reconnect": !no_reconnect}).to_string();
            target.send("/disconnect", body, None)
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
            target.send("/revoke", body.to_string(), None)
        }
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> CliError {
    CliError::Invalid {
        field,
        problem: problem.into(),
    }
}

impl Target {
    fn send(
        &self,
        path: &str,
        body: String,
        idempotency_key: Option<String>,
    ) -> Result<String, CliError> {
        let signature = SigningKey::new(&self.key_id, self.secret.as_bytes())?.sign(
            now(),
            "POST",
            path,
            body.as_bytes(),
        );
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        if self.print_curl {
            let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
            let key = idempotency_key
                .map(|k| format!(" -H {}", quote(&format!("{IDEMPOTENCY_HEADER}: {k}"))))
                .unwrap_or_default();
            return Ok(format!(
                "curl -sS -X POST {} -H 'Content-Type: application/json' -H {}{key} --data-raw {}",
                quote(&url),
                quote(&format!("{SIGNATURE_HEADER}: {signature}")),
                quote(&body)
            ));
        }
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut request = agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, &signature);
        if let Some(key) = &idempotency_key {
            request = request.header(IDEMPOTENCY_HEADER, key);
        }
        let mut response = request.send(body).map_err(|e| CliError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status >= 300 {
            return Err(CliError::Refused { status, body: text });
        }
        Ok(text)
    }
}
