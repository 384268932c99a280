//! Test support: starts the built worker under `wrangler dev` (through
//! `scripts/worker-under-test.sh`, with the fixed test secrets of `scripts/env.sh`) and talks to
//! it with real WebSocket and HTTP clients.
//!
//! ```no_run
//! # async fn demo() {
//! let worker = edgepush_e2e::Worker::start("demo");
//! let mut socket = worker.connect("42").await;
//! let welcome = socket.next_json().await;
//! worker.publish_event("42", "Message", serde_json::json!({"text": "hi"})).await;
//! assert_eq!(socket.next_json().await["name"], "Message");
//! # }
//! ```
//!
//! It is the one test kit of the Rust suites: the bench starts its edgepush through [`launch`] and
//! opens its sockets with [`open_welcomed`], and the suites in other languages start theirs with
//! the `edgepush-worker` binary built on [`launch`].

pub mod launch;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgepush_protocol::frames::SUBPROTOCOL;
use edgepush_protocol::signature::{SIGNATURE_HEADER, SigningKey};
use edgepush_protocol::token::{Claims, TokenKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::launch::{START_TIMEOUT, free_port, stop_group, wait_healthy, worker_command};

/// How long to wait for one frame before a test fails.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A test secret from `scripts/env.sh` (the test command sources it).
pub fn test_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests through scripts/test.sh (it sources scripts/env.sh)"
        )
    })
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A worker under `wrangler dev`, on its own port and storage folder; stopped on drop.
pub struct Worker {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    port: u16,
    store: PathBuf,
    extra_args: Vec<String>,
    process: Option<Child>,
    http: reqwest::Client,
}

impl Worker {
    /// Starts a worker with a fresh storage folder named after the test.
    pub fn start(name: &str) -> Self {
        Self::start_with(name, &[])
    }

    /// Starts a worker with extra `wrangler dev` arguments (e.g. `--var HISTORY_MAX_EVENTS:5`).
    pub fn start_with(name: &str, extra_args: &[&str]) -> Self {
        let port = free_port().expect("a free port");
        let store = repo_root()
            .join("target/e2e")
            .join(format!("{name}-{port}"));
        let _ = std::fs::remove_dir_all(&store);
        let mut worker = Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            store,
            extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
            process: None,
            http: reqwest::Client::new(),
        };
        worker.spawn();
        worker
    }

    fn spawn(&mut self) {
        let log = self.store.with_extension("log");
        let _ = std::fs::create_dir_all(&self.store);
        let out = std::fs::File::create(&log).expect("the worker's log file");
        let err = out.try_clone().expect("the worker's log file");
        let mut child = worker_command(self.port, &self.store, &self.extra_args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("scripts/worker-under-test.sh starts");
        let healthy = wait_healthy(self.port, START_TIMEOUT, || {
            matches!(child.try_wait(), Ok(None))
        });
        self.process = Some(child);
        assert!(
            healthy,
            "the worker on port {} did not answer /health within {} s; see {}",
            self.port,
            START_TIMEOUT.as_secs(),
            log.display()
        );
    }

    fn halt(&mut self, hard: bool) {
        if let Some(mut child) = self.process.take() {
            stop_group(child.id(), hard, || drop(child.try_wait()));
            let _ = child.wait();
        }
    }

    /// Kills the whole server process group at once (SIGKILL): no shutdown, no flush.
    pub fn kill_hard(&mut self) {
        self.halt(true);
    }

    /// Stops the server gracefully.
    pub fn stop(&mut self) {
        self.halt(false);
    }

    /// Starts the server again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts the server again after [`Worker::kill_hard`] or [`Worker::stop`].
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// A connect token for `user`, valid for `ttl` seconds from now.
    pub fn token(&self, user: &str, ttl: i64) -> String {
        mint(&claims(user, ttl))
    }

    /// Opens `n` sockets for `user` and reads their welcome frames, which must name `user`.
    pub async fn connect_tabs(&self, user: &str, n: usize) -> Vec<Socket> {
        let mut tabs = Vec::with_capacity(n);
        for _ in 0..n {
            let request = request_with_token(&self.connect_url(""), &self.token(user, 3600))
                .expect("a valid connect request");
            let (socket, welcome) = open_welcomed(request, FRAME_TIMEOUT)
                .await
                .expect("the socket opens with a welcome frame");
            assert_eq!(welcome["user"], user, "{welcome}");
            tabs.push(socket);
        }
        tabs
    }

    /// The worker's `http://` base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The `ws://` URL of `/connect` with a query string (e.g. `"since=3"`, or `""`).
    pub fn connect_url(&self, query: &str) -> String {
        format!("ws://127.0.0.1:{}/connect?{query}", self.port)
    }

    /// Opens a socket for `user` with a fresh one-hour token.
    pub async fn connect(&self, user: &str) -> Socket {
        self.connect_with(&self.token(user, 3600), "")
            .await
            .expect("the connect is accepted")
    }

    /// Opens a socket with the token in `Sec-WebSocket-Protocol`, as browsers do; on refusal,
    /// returns the HTTP status and body.
    pub async fn connect_with(&self, token: &str, query: &str) -> Result<Socket, (u16, Value)> {
        let request =
            request_with_token(&self.connect_url(query), token).expect("a valid connect request");
        connect_request(request).await
    }

    /// Sends the WebSocket upgrade request over plain HTTP, for a connect the server refuses:
    /// returns the status and the JSON error body (WebSocket clients drop the body).
    pub async fn refused_connect(&self, token: Option<&str>, query: &str) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}/connect?{query}", self.base))
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(token) = token {
            request = request.header("Sec-WebSocket-Protocol", format!("{SUBPROTOCOL}, {token}"));
        }
        let response = request.send().await.expect("the worker answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `POST path` with a raw body, signed with the test key; returns status and JSON body.
    pub async fn post_signed(
        &self,
        path: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> (u16, Value) {
        let signature = test_signing_key().sign(now(), "POST", path, body.as_bytes());
        let mut headers = vec![(SIGNATURE_HEADER, signature.as_str())];
        headers.extend_from_slice(extra);
        self.post(path, body, &headers).await
    }

    /// `POST path` with the given headers and no signature of its own.
    pub async fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the worker answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Any request; returns status and JSON body.
    pub async fn request(&self, method: &str, path: &str) -> (u16, Value) {
        self.request_with(method, path, &[]).await
    }

    /// `GET path` with the given headers (e.g. a signature); returns status and JSON body.
    pub async fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        self.request_with("GET", path, headers).await
    }

    async fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the worker answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Publishes one event and returns the response's first entry; panics unless `202`.
    pub async fn publish_event(&self, user: &str, name: &str, payload: Value) -> Value {
        let body = serde_json::json!({"user": user, "name": name, "payload": payload}).to_string();
        let (status, answer) = self.post_signed("/publish", &body, &[]).await;
        assert_eq!(status, 202, "publish answered {answer}");
        answer["events"][0].clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Claims for `user`, issued now, expiring in `ttl` seconds.
pub fn claims(user: &str, ttl: i64) -> Claims {
    Claims::new(user, now(), ttl)
}

/// Mints a token with the test JWT secret.
pub fn mint(claims: &Claims) -> String {
    test_token_key().mint(claims)
}

/// The test JWT key.
pub fn test_token_key() -> TokenKey {
    TokenKey::new(test_env("EDGEPUSH_TEST_JWT_SECRET").as_bytes()).expect("test secret")
}

/// The test publish key.
pub fn test_signing_key() -> SigningKey {
    SigningKey::new(
        &test_env("EDGEPUSH_TEST_KEY_ID"),
        test_env("EDGEPUSH_TEST_PUBLISH_SECRET").as_bytes(),
    )
    .expect("test key")
}

/// A client socket's stream.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The upgrade request for a `ws://…/connect` URL with `token` in `Sec-WebSocket-Protocol`, as
/// browsers send it.
pub fn request_with_token(url: &str, token: &str) -> Result<Request, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    let protocol = format!("{SUBPROTOCOL}, {token}")
        .parse()
        .map_err(|e| tungstenite::Error::HttpFormat(tungstenite::http::Error::from(e)))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol);
    Ok(request)
}

/// Why a socket did not open with a welcome frame.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The handshake or the welcome frame did not come within the wait.
    #[error("no {0} in time")]
    Timeout(&'static str),
    /// The handshake failed or was refused.
    #[error("WebSocket")]
    WebSocket(#[from] tungstenite::Error),
    /// The first thing the server did was not a welcome frame.
    #[error("expected a welcome frame, got {0}")]
    NotWelcome(String),
}

/// Opens a socket and reads its first frame, which must be a welcome frame; the handshake and the
/// frame each get `wait`. Returns the socket and the welcome frame.
pub async fn open_welcomed(request: Request, wait: Duration) -> Result<(Socket, Value), OpenError> {
    let (stream, _) = tokio::time::timeout(wait, tokio_tungstenite::connect_async(request))
        .await
        .map_err(|_| OpenError::Timeout("WebSocket handshake"))??;
    let mut socket = Socket {
        stream,
        subprotocol: None,
    };
    match socket.next(wait).await {
        Seen::Json(frame) if frame["type"] == "welcome" => Ok((socket, frame)),
        Seen::Json(frame) => Err(OpenError::NotWelcome(frame.to_string())),
        Seen::Closed(code, reason) => Err(OpenError::NotWelcome(format!("close {code} {reason}"))),
        Seen::Nothing => Err(OpenError::Timeout("welcome frame")),
    }
}

/// Opens a WebSocket from a prepared request.
pub async fn connect_request(request: Request) -> Result<Socket, (u16, Value)> {
    match tokio_tungstenite::connect_async(request).await {
        Ok((stream, response)) => Ok(Socket {
            stream,
            subprotocol: response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .body()
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            Err((
                status,
                serde_json::from_str(&body).unwrap_or(Value::String(body.into_owned())),
            ))
        }
        Err(err) => panic!("WebSocket connect failed: {err}"),
    }
}

/// A client socket.
pub struct Socket {
    stream: Ws,
    /// The subprotocol the server chose.
    pub subprotocol: Option<String>,
}

/// What a socket saw next.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// A text frame, parsed.
    Json(Value),
    /// The server closed with this code and reason.
    Closed(u16, String),
    /// Nothing within the wait.
    Nothing,
}

impl Socket {
    /// The next thing that happens within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Seen {
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return Seen::Nothing,
                Ok(None) => return Seen::Closed(1006, String::new()),
                Ok(Some(Err(_))) => return Seen::Closed(1006, String::new()),
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Seen::Json(serde_json::from_str(&text).expect("the server sends JSON"));
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return match frame {
                        Some(f) => Seen::Closed(f.code.into(), f.reason.to_string()),
                        None => Seen::Closed(1005, String::new()),
                    };
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The close code within `wait`, past any frames before it (a topic's notices may come
    /// first); `None` when the socket stayed open.
    pub async fn close_code(&mut self, wait: Duration) -> Option<u16> {
        loop {
            match self.next(wait).await {
                Seen::Json(_) => continue,
                Seen::Closed(code, _) => return Some(code),
                Seen::Nothing => return None,
            }
        }
    }

    /// The next text frame; panics on anything else.
    pub async fn next_json(&mut self) -> Value {
        match self.next(FRAME_TIMEOUT).await {
            Seen::Json(v) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Reads the welcome frame, then `n` event frames; returns the events.
    pub async fn welcome_then_events(&mut self, n: usize) -> (Value, Vec<Value>) {
        let welcome = self.next_json().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next_json().await);
        }
        (welcome, events)
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.stream.send(Message::text(text)).await.expect("send");
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.stream
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send");
    }

    /// The stream itself, for a client that reads it its own way.
    pub fn into_stream(self) -> Ws {
        self.stream
    }

    /// Closes the socket from the client side.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// The ids of event frames.
pub fn ids(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["id"].as_u64().expect("an event id"))
        .collect()
}
