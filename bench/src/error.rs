//! What can go wrong in a run, and what a scenario finds wrong with a server. `Display` names what
//! failed; `source()` holds the cause, and [`chain`] prints both for the report.

use std::io;
use std::path::PathBuf;

use edgepush_protocol::signature::SignatureError;
use edgepush_protocol::token::TokenError;

/// `Result` with the bench's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A failure of the bench itself, or a finding that fails the smoke run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable of `scripts/env.sh` is not set: source it.
    #[error("{0} is not set: source scripts/env.sh")]
    Env(&'static str),
    /// The test JWT secret of `scripts/env.sh` was refused.
    #[error("the test JWT secret")]
    TokenKey(#[from] TokenError),
    /// The test publish key of `scripts/env.sh` was refused.
    #[error("the test publish key")]
    PublishKey(#[from] SignatureError),
    /// Reading or writing a file or folder failed.
    #[error("{}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// No loopback port could be bound (for a server or the GRIP backend).
    #[error("cannot bind a loopback port")]
    Loopback(#[source] io::Error),
    /// A server process could not be spawned (is the tool installed? `scripts/setup.sh`).
    #[error("cannot start {program}")]
    Spawn { program: String, source: io::Error },
    /// A server started but never became ready; its log says why.
    #[error("{what}; see {}", log.display())]
    ServerStart { what: String, log: PathBuf },
    /// A TCP connection of a hand-written handshake failed.
    #[error("TCP to {addr}")]
    Tcp { addr: String, source: io::Error },
    /// A WebSocket failed (handshake or transport).
    #[error("WebSocket")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    /// A socket did not open with a welcome frame (refused, timed out, or another frame first).
    #[error("opening a socket")]
    Open(#[from] edgepush_e2e::OpenError),
    /// The server answered the WebSocket handshake with something other than `101` and a
    /// welcome frame.
    #[error("WebSocket handshake: {0}")]
    Handshake(String),
    /// A topic socket's first frame was not `subscribed` (the frame, or how it ended).
    #[error("expected a subscribed frame, got {0}")]
    NotSubscribed(String),
    /// Nothing within the allowed time.
    #[error("no {0} within 30 s")]
    Timeout(&'static str),
    /// A publish request failed in transport.
    #[error("publish failed")]
    Http(#[from] reqwest::Error),
    /// A publish request was refused.
    #[error("publish answered {status}: {body}")]
    Refused { status: u16, body: String },
    /// A task of this process panicked or was cancelled.
    #[error("a task failed")]
    Task(#[from] tokio::task::JoinError),
    /// Over 1 % of the sockets did not open, so the scenario was not run.
    #[error("{failed} of {total} sockets failed to open, first")]
    Connect {
        failed: usize,
        total: usize,
        source: Box<Error>,
    },
    /// Some sockets did not see a warm-up event: they may not be subscribed.
    #[error(
        "only {warmed} of {sockets} sockets received a warm-up event in 10 rounds ({dropped} \
         closed by the server); last publish answer: {answer}"
    )]
    NotWarm {
        warmed: usize,
        sockets: usize,
        dropped: usize,
        answer: String,
    },
    /// A Mercure scenario ran against a system without a Mercure hub (Pushpin).
    #[error("{0} has no Mercure hub")]
    NoMercure(&'static str),
    /// The other system was chosen with `--system`.
    #[error("not run (--system)")]
    Skipped,
    /// The README lacks the markers between which the results go.
    #[error("{} has no markers for the results (or the report no summary)", .0.display())]
    NoMarkers(PathBuf),
    /// A finding: some sockets did not open, and the scenario ran without them.
    #[error("{count} sockets failed to open (measured without them); first")]
    SomeSocketsFailed { count: usize, source: Box<Error> },
    /// A finding: not one event arrived.
    #[error("nothing was delivered")]
    NothingDelivered,
    /// A finding: events that were accepted never arrived.
    #[error("{lost} of {expected} deliveries lost")]
    Lost { lost: u64, expected: u64 },
    /// A finding: the server closed sockets while the scenario ran.
    #[error("{0} sockets dropped during the run")]
    Dropped(u64),
    /// A finding: publish requests failed.
    #[error("{count} publishes failed, first")]
    PublishErrors { count: u64, source: Box<Error> },
    /// A finding: ingest found no rate without errors or loss.
    #[error("no rate was sustained without errors or loss")]
    NoSustainedRate,
    /// A finding: the server's memory did not grow with its sockets (a measuring fault).
    #[error("resident memory did not grow with the sockets")]
    NoGrowth,
    /// A finding of the reconnect storm: subscribers that came back without `recovered: true`,
    /// or without every event published while they were away (and the one after) exactly once.
    #[error(
        "{subscribers} of {total} subscribers did not resume exactly: {unrecovered} without \
         `recovered: true`, {missing} events never arrived, {duplicated} arrived more than once"
    )]
    Unresumed {
        subscribers: usize,
        total: usize,
        unrecovered: usize,
        missing: u64,
        duplicated: u64,
    },
    /// A finding of a scenario, in its own words.
    #[error("{0}")]
    Finding(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// An error with its causes, outermost first, joined by `: `.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_each_cause_once_outermost_first() {
        let first = Error::Refused {
            status: 503,
            body: "busy".into(),
        };
        let e = Error::PublishErrors {
            count: 3,
            source: Box::new(first),
        };
        assert_eq!(
            chain(&e),
            "3 publishes failed, first: publish answered 503: busy"
        );
    }

    #[test]
    fn an_io_error_names_its_path_then_the_cause() {
        let e = Error::io("/x/y")(io::Error::new(io::ErrorKind::NotFound, "gone"));
        assert_eq!(chain(&e), "/x/y: gone");
    }
}
