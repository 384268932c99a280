//! One system under test as the scenarios see it: open a user's socket (and wait for its welcome
//! frame), publish events to users. Both systems get the same token in `Sec-WebSocket-Protocol`
//! and deliver the same frame shape; every event's payload is `{"seq":N,"t":µs}` with `t` the
//! wall-clock time just before the publish request was sent. An edgepush target also has its
//! Mercure hub ([`Target::with_mercure`]): the same payload as an update's `data`, read from a
//! Server-Sent Events stream.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use edgepush_e2e::Ws;
use edgepush_e2e::{open_welcomed, request_with_token};
use edgepush_protocol::frames::{
    EPOCH_PARAM, SINCE_PARAM, SUBPROTOCOL, ServerFrame, Subscribed, TOPIC_PARAM,
};
use edgepush_protocol::signature::{SIGNATURE_HEADER, SigningKey};
use edgepush_protocol::token::{Claims, TokenKey};
use futures_util::StreamExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{Error, Result};
use crate::grip;

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Which system (`--system edgepush` or `pushpin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// edgepush under `wrangler dev`.
    Edgepush,
    /// Pushpin with the GRIP backend.
    Pushpin,
}

impl Kind {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Edgepush => "edgepush",
            Kind::Pushpin => "Pushpin",
        }
    }
}

/// One event to publish.
#[derive(Clone, Copy, Debug)]
pub struct Ev {
    /// User id (the token's `sub`, decimal).
    pub user: u32,
    /// Sequence number, unique within a scenario run.
    pub seq: u32,
}

/// An edgepush worker's Mercure hub (`/.well-known/mercure`) as the bench uses it.
struct Hub {
    url: String,
    /// Signs subscribers' tokens (the test workers' `MERCURE_PUBLISHER_JWT_KEY`, which is the
    /// subscribers' key too).
    key: TokenKey,
    /// `{"mercure":{"publish":["*"]}}`, without `exp`, as the bundle mints it.
    publisher: String,
    /// For the event streams: no overall timeout, which would end a stream.
    streams: reqwest::Client,
}

/// A system under test.
pub struct Target {
    /// Which one.
    pub kind: Kind,
    ws_url: String,
    publish_url: String,
    http: reqwest::Client,
    tokens: TokenKey,
    signing: SigningKey,
    /// Process groups whose resident memory is the server's.
    pub pgids: Vec<i32>,
    mercure: Option<Hub>,
}

impl Target {
    /// A target; the secrets are the fixed test secrets of `scripts/env.sh`.
    pub fn new(
        kind: Kind,
        ws_url: String,
        publish_url: String,
        pgids: Vec<i32>,
        tokens: TokenKey,
        signing: SigningKey,
    ) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(512)
            .build()?;
        Ok(Self {
            kind,
            ws_url,
            publish_url,
            http,
            tokens,
            signing,
            pgids,
            mercure: None,
        })
    }

    /// This target with the Mercure hub at `url`, whose tokens `key` signs.
    pub fn with_mercure(mut self, url: String, key: TokenKey) -> Result<Self> {
        let streams = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        let publisher = key.mint_any(&serde_json::json!({"mercure": {"publish": ["*"]}}));
        self.mercure = Some(Hub {
            url,
            key,
            publisher,
            streams,
        });
        Ok(self)
    }

    fn hub(&self) -> Result<&Hub> {
        self.mercure
            .as_ref()
            .ok_or(Error::NoMercure(self.kind.name()))
    }

    /// Subscribes to `topic` as an `EventSource` would (`GET /.well-known/mercure?topic=`, a
    /// subscriber token allowed `*`); returns the event stream once the hub answered `200`.
    pub async fn subscribe_mercure(&self, topic: &str) -> Result<Sse> {
        let hub = self.hub()?;
        let exp = (now_us() / 1_000_000) as i64 + 3600;
        let token = hub
            .key
            .mint_any(&serde_json::json!({"mercure": {"subscribe": ["*"]}, "exp": exp}));
        let request = hub
            .streams
            .get(format!("{}?{}", hub.url, form(&[("topic", topic)])))
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "text/event-stream")
            .send();
        let response = tokio::time::timeout(Duration::from_secs(30), request)
            .await
            .map_err(|_| Error::Timeout("Mercure subscription's answer"))??;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            return Err(Error::NotSubscribed(format!(
                "Mercure answered {status}: {body}"
            )));
        }
        Ok(Sse {
            response,
            buffer: String::new(),
        })
    }

    /// Publishes one update with sequence number `seq` to `topic` as `symfony/mercure` does
    /// (`POST /.well-known/mercure`, form `topic`, `data`, `id`; the publisher token); the
    /// update's `data` is the payload every event of the bench carries.
    pub async fn publish_mercure(&self, topic: &str, seq: u32) -> Result<()> {
        let hub = self.hub()?;
        let t = now_us();
        let id = format!("urn:bench:{t}:{seq}");
        let body = form(&[("topic", topic), ("data", &payload(seq, t)), ("id", &id)]);
        let response = self
            .http
            .post(&hub.url)
            .header("Authorization", format!("Bearer {}", hub.publisher))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match status {
            200 => Ok(()),
            _ => Err(Error::Refused { status, body }),
        }
    }

    /// The `ws://…/connect` URL.
    pub fn ws_url(&self) -> &str {
        &self.ws_url
    }

    /// A connect token for `user`, valid for an hour (the same for every call within a second).
    pub fn token(&self, user: u32) -> String {
        let now = (now_us() / 1_000_000) as i64;
        self.tokens.mint(&Claims::new(user.to_string(), now, 3600))
    }

    /// Opens a socket for `user` and reads its welcome frame.
    pub async fn connect(&self, user: u32) -> Result<Ws> {
        let request = request_with_token(&self.ws_url, &self.token(user))?;
        let (socket, _) = open_welcomed(request, Duration::from_secs(30)).await?;
        Ok(socket.into_stream())
    }

    /// Opens a socket for `user` with a hand-written handshake, offering permessage-deflate when
    /// `deflate` (as browsers do), and waits for the 101 and the first frame. Returns the open
    /// connection (never read again) and whether the server accepted compression.
    pub async fn connect_raw(&self, user: u32, deflate: bool) -> Result<(TcpStream, bool)> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let token = self.token(user);
        let rest = self.ws_url.trim_start_matches("ws://");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let extensions = if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        } else {
            ""
        };
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Protocol: {SUBPROTOCOL}, {token}\r\n{extensions}\r\n"
        );
        let tcp = |source| Error::Tcp {
            addr: host.to_owned(),
            source,
        };
        let work = async {
            let mut stream = TcpStream::connect(host).await.map_err(tcp)?;
            stream.write_all(request.as_bytes()).await.map_err(tcp)?;
            let mut buf = Vec::with_capacity(1024);
            loop {
                if stream.read_buf(&mut buf).await.map_err(tcp)? == 0 {
                    return Err(Error::Handshake("closed during the handshake".into()));
                }
                let text = String::from_utf8_lossy(&buf);
                if let Some(end) = text.find("\r\n\r\n") {
                    if !text.starts_with("HTTP/1.1 101") {
                        let status = text.lines().next().unwrap_or("");
                        return Err(Error::Handshake(format!("refused: {status}")));
                    }
                    if buf.len() > end + 4 {
                        let head = text[..end].to_ascii_lowercase();
                        let compressed = head.contains("permessage-deflate");
                        return Ok((stream, compressed));
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), work)
            .await
            .map_err(|_| Error::Timeout("101 and first frame"))?
    }

    /// Most events one publish request may carry.
    pub fn max_batch(&self) -> usize {
        match self.kind {
            Kind::Edgepush => 100,
            Kind::Pushpin => 1000,
        }
    }

    /// Publishes `events` in one request (at most [`Target::max_batch`]); on acceptance, returns
    /// the answer's body.
    pub async fn publish(&self, events: &[Ev]) -> Result<String> {
        let t = now_us();
        let body = match self.kind {
            Kind::Edgepush => {
                let one = |e: &Ev| {
                    format!(
                        r#"{{"user":"{}","name":"bench","payload":{}}}"#,
                        e.user,
                        payload(e.seq, t)
                    )
                };
                match events {
                    [e] => one(e),
                    _ => format!(
                        r#"{{"events":[{}]}}"#,
                        events.iter().map(one).collect::<Vec<_>>().join(",")
                    ),
                }
            }
            Kind::Pushpin => {
                let items: Vec<String> = events
                    .iter()
                    .map(|e| {
                        let frame = format!(
                            r#"{{"type":"event","id":{},"name":"bench","payload":{},"ts":{}}}"#,
                            e.seq,
                            payload(e.seq, t),
                            t / 1000
                        );
                        pushpin_item(&grip::channel(&e.user.to_string()), &frame)
                    })
                    .collect();
                format!(r#"{{"items":[{}]}}"#, items.join(","))
            }
        };
        self.post(t, body).await
    }

    /// Opens a topic socket (`/connect?topic=`) for `user`, resuming after `since` of `epoch` if
    /// given, and reads its first frame, which must be `subscribed`. Pushpin's GRIP backend
    /// subscribes such a socket to the topic's one channel ([`grip::topic_channel`]) and has no
    /// history, so it answers every socket as a fresh one.
    pub async fn connect_topic(
        &self,
        user: u32,
        topic: &str,
        resume: Option<(u64, &str)>,
    ) -> Result<(Ws, Subscribed)> {
        let mut url = format!("{}?{TOPIC_PARAM}={topic}", self.ws_url);
        if let Some((since, epoch)) = resume {
            url.push_str(&format!("&{SINCE_PARAM}={since}&{EPOCH_PARAM}={epoch}"));
        }
        let request = request_with_token(&url, &self.token(user))?;
        let wait = Duration::from_secs(30);
        let (mut ws, _) = tokio::time::timeout(wait, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| Error::Timeout("topic socket handshake"))??;
        loop {
            let next = tokio::time::timeout(wait, ws.next())
                .await
                .map_err(|_| Error::Timeout("subscribed frame"))?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    return match serde_json::from_str::<ServerFrame<serde_json::Value>>(&text) {
                        Ok(ServerFrame::Subscribed(subscribed)) => Ok((ws, subscribed)),
                        _ => Err(Error::NotSubscribed(text.to_string())),
                    };
                }
                Some(Ok(Message::Close(frame))) => {
                    let why =
                        frame.map_or_else(String::new, |f| format!("{} {}", f.code, f.reason));
                    return Err(Error::NotSubscribed(format!("close {why}")));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Err(Error::NotSubscribed("end of stream".into())),
            }
        }
    }

    /// Publishes one event with sequence number `seq` to `topic` (Pushpin: to its channel);
    /// returns what the answer says about its fan-out (edgepush only).
    pub async fn publish_topic(&self, topic: &str, seq: u32) -> Result<Relayed> {
        let t = now_us();
        let body = match self.kind {
            Kind::Edgepush => format!(
                r#"{{"topic":"{topic}","name":"bench","payload":{}}}"#,
                payload(seq, t)
            ),
            Kind::Pushpin => {
                let frame = format!(
                    r#"{{"type":"event","topic":"{topic}","id":{},"name":"bench","payload":{},"ts":{}}}"#,
                    u64::from(seq) + 1,
                    payload(seq, t),
                    t / 1000
                );
                format!(
                    r#"{{"items":[{}]}}"#,
                    pushpin_item(&grip::topic_channel(topic), &frame)
                )
            }
        };
        let answer = self.post(t, body).await?;
        Ok(match self.kind {
            Kind::Edgepush => Relayed::of(&answer),
            Kind::Pushpin => Relayed::default(),
        })
    }

    /// Sends a publish request made at `t` (µs) with each system's authentication; on the status
    /// that means "accepted", returns the answer's body.
    async fn post(&self, t: u64, body: String) -> Result<String> {
        let mut request = self
            .http
            .post(&self.publish_url)
            .header("Content-Type", "application/json");
        let accepted = match self.kind {
            Kind::Edgepush => {
                let signature =
                    self.signing
                        .sign((t / 1_000_000) as i64, "POST", "/publish", body.as_bytes());
                request = request.header(SIGNATURE_HEADER, signature);
                202
            }
            Kind::Pushpin => 200,
        };
        let response = request.body(body).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if status == accepted {
            Ok(body)
        } else {
            Err(Error::Refused { status, body })
        }
    }
}

/// The payload of every event: its sequence number and the wall-clock time (µs) just before its
/// publish request was sent.
fn payload(seq: u32, t: u64) -> String {
    format!(r#"{{"seq":{seq},"t":{t}}}"#)
}

/// `application/x-www-form-urlencoded` text of `pairs` (also a query string).
fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One Server-Sent Event: its `id:` and its `data:` lines joined by newlines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field (empty without one).
    pub id: String,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// A Mercure subscription's event stream, read as an `EventSource` reads it.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    /// The next event, past heartbeats (`:` comments); `None` when the stream ended.
    pub async fn next_event(&mut self) -> Result<Option<SseEvent>> {
        loop {
            if let Some(event) = take_event(&mut self.buffer) {
                return Ok(Some(event));
            }
            match self.response.chunk().await? {
                Some(chunk) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                None => return Ok(None),
            }
        }
    }
}

/// Takes the complete blocks off the front of `buffer` until one is an event (it has `data:`),
/// and returns that event; blocks of comments only (heartbeats) are dropped.
fn take_event(buffer: &mut String) -> Option<SseEvent> {
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let mut event = SseEvent::default();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => event.id = value.to_owned(),
                "data" => data.push(value),
                _ => {}
            }
        }
        if !data.is_empty() {
            event.data = data.join("\n");
            return Some(event);
        }
    }
    None
}

/// One item of a Pushpin publish: `frame` as a WebSocket message to `channel`.
fn pushpin_item(channel: &str, frame: &str) -> String {
    let content = serde_json::to_string(frame).unwrap_or_else(|_| "\"\"".to_owned());
    format!(r#"{{"channel":"{channel}","formats":{{"ws-message":{{"content":{content}}}}}}}"#)
}

/// What edgepush's answer to a topic publish says about its fan-out: the sockets reached and the
/// Durable Object requests the topic's root made to relay it (one per shard holding sockets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relayed {
    /// Sockets the event reached.
    pub sockets: Option<u64>,
    /// Relay requests (shards called).
    pub relays: Option<u64>,
}

impl Relayed {
    /// From the 202 answer's first entry (`{"events":[{"topic",…,"sockets","relays"}]}`).
    fn of(answer: &str) -> Self {
        let entry = serde_json::from_str::<serde_json::Value>(answer)
            .ok()
            .and_then(|v| v.get("events")?.get(0).cloned());
        let field = |name: &str| entry.as_ref().and_then(|e| e.get(name)?.as_u64());
        Self {
            sockets: field("sockets"),
            relays: field("relays"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_publish_answer_tells_the_sockets_and_relays_of_its_first_entry() {
        let answer = r#"{"events":[{"topic":"crowd:stage","id":9,"sockets":4000,"relays":4}]}"#;
        assert_eq!(
            Relayed::of(answer),
            Relayed {
                sockets: Some(4000),
                relays: Some(4)
            }
        );
        assert_eq!(Relayed::of("not json"), Relayed::default());
    }

    #[test]
    fn a_form_encodes_what_a_query_or_a_form_body_may_not_hold() {
        assert_eq!(
            form(&[("topic", "crowd:a b"), ("data", r#"{"seq":1}"#)]),
            "topic=crowd%3Aa+b&data=%7B%22seq%22%3A1%7D"
        );
    }

    #[test]
    fn server_sent_events_are_read_past_heartbeats_and_split_chunks() {
        let mut buffer = ":\n\nid: urn:1\ndata: {\"seq\":1}\n\nid: urn:2\nda".to_owned();
        assert_eq!(
            take_event(&mut buffer),
            Some(SseEvent {
                id: "urn:1".into(),
                data: r#"{"seq":1}"#.into()
            })
        );
        assert_eq!(take_event(&mut buffer), None);
        buffer.push_str("ta: a\ndata: b\n\n:\n\n");
        assert_eq!(
            take_event(&mut buffer),
            Some(SseEvent {
                id: "urn:2".into(),
                data: "a\nb".into()
            })
        );
        assert_eq!((take_event(&mut buffer), buffer.as_str()), (None, ""));
    }

    #[test]
    fn a_pushpin_item_carries_the_frame_as_escaped_text() {
        assert_eq!(
            pushpin_item("topic-a:b", r#"{"id":1}"#),
            r#"{"channel":"topic-a:b","formats":{"ws-message":{"content":"{\"id\":1}"}}}"#
        );
    }
}
