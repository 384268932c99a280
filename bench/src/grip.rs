//! The GRIP backend Pushpin routes to (`bench/pushpin/routes.in`): a minimal HTTP/1.1 server on
//! loopback that speaks WebSocket-over-HTTP. On a connection's `OPEN` it checks the same HS256
//! token edgepush checks (from `Sec-WebSocket-Protocol: edgepush.v1, <token>`), accepts with
//! `edgepush.v1`, subscribes the socket to the channel `user-<sub>` with a GRIP control message and
//! sends a welcome frame, as edgepush does; a socket opened as `/connect?topic=<topic>` is
//! subscribed to the topic's one channel `topic-<topic>` instead, and gets a `subscribed` frame as
//! edgepush's topic sockets do. It keeps no per-connection state.

use std::sync::Arc;

use edgepush_protocol::frames::SUBPROTOCOL;
use edgepush_protocol::token::TokenKey;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The channel a user's sockets are subscribed to, and that publishes go to.
pub fn channel(user: &str) -> String {
    format!("user-{user}")
}

/// The one channel every socket of `topic` is subscribed to, and that its publishes go to.
pub fn topic_channel(topic: &str) -> String {
    format!("topic-{topic}")
}

/// The `topic` query parameter of a request target (`/connect?topic=crowd:stage&since=3`), as
/// it stands (the bench's topics need no decoding).
fn topic_of(target: &str) -> Option<&str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("topic="))
        .filter(|t| !t.is_empty())
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, key: Arc<TokenKey>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let key = key.clone();
        tokio::spawn(async move {
            let _ = connection(stream, &key).await;
        });
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn connection(mut stream: TcpStream, key: &TokenKey) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 || stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        // One request per connection (answered with `Connection: close`): zurl's reuse of
        // kept-alive connections lost about 1 request in 120 while 10,000 sockets connected.
        let close = true;
        let mut length = 0usize;
        let mut protocol = String::new();
        for line in head.lines().skip(1) {
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse().unwrap_or(0);
                } else if name == "sec-websocket-protocol" {
                    protocol = value.trim().to_owned();
                } else if name == "transfer-encoding" || name == "expect" {
                    eprintln!("grip backend: unsupported {name}: {}", value.trim());
                }
            }
        }
        while buf.len() < head_end + length {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let target = head.split_whitespace().nth(1).unwrap_or("");
        let response = respond(&body, &protocol, topic_of(target), key);
        stream.write_all(&response).await?;
        if close {
            return Ok(());
        }
    }
}

/// One WebSocket-over-HTTP event in the body format (`TYPE hex-length\r\ncontent\r\n`).
fn event(kind: &str, content: &str) -> String {
    format!("{kind} {:x}\r\n{content}\r\n", content.len())
}

fn respond(body: &[u8], protocol: &str, topic: Option<&str>, key: &TokenKey) -> Vec<u8> {
    let mut extra = String::new();
    let out = if body.starts_with(b"OPEN") {
        let token = protocol
            .split(',')
            .map(str::trim)
            .find(|p| *p != SUBPROTOCOL)
            .unwrap_or("");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match key.verify(token, now) {
            Ok(claims) => {
                extra = format!("Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n");
                let (channel, first) = match topic {
                    // No history: every topic socket starts afresh, whatever it resumes from.
                    Some(topic) => (
                        topic_channel(topic),
                        format!(
                            r#"{{"type":"subscribed","topic":"{topic}","last_id":0,"epoch":"pushpin"}}"#
                        ),
                    ),
                    None => (
                        channel(&claims.sub),
                        format!(r#"{{"type":"welcome","user":"{}"}}"#, claims.sub),
                    ),
                };
                let subscribe = format!(r#"c:{{"type":"subscribe","channel":"{channel}"}}"#);
                format!(
                    "OPEN\r\n{}{}",
                    event("TEXT", &subscribe),
                    event("TEXT", &first)
                )
            }
            Err(_) => {
                return b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec();
            }
        }
    } else if body.starts_with(b"CLOSE") {
        // Acknowledge the close with the same event.
        String::from_utf8_lossy(body).into_owned()
    } else {
        String::new()
    };
    format!(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/websocket-events\r\n\
         Sec-WebSocket-Extensions: grip; message-prefix=\"\"\r\n{extra}Content-Length: {}\r\n\r\n{out}",
        out.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_carries_its_length_in_hex() {
        assert_eq!(event("TEXT", "0123456789ab"), "TEXT c\r\n0123456789ab\r\n");
    }

    #[test]
    fn a_close_is_acknowledged_with_itself_and_a_bad_token_refused() {
        let Ok(key) = TokenKey::new(&[7; 32]) else {
            panic!("a 32-byte secret is valid")
        };
        let close = respond(b"CLOSE 0\r\n\r\n", "", None, &key);
        let close = String::from_utf8_lossy(&close);
        assert!(close.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(close.ends_with("Content-Length: 11\r\n\r\nCLOSE 0\r\n\r\n"));
        let refused = respond(b"OPEN\r\n", "edgepush.v1, not-a-token", None, &key);
        assert!(refused.starts_with(b"HTTP/1.1 401 "));
    }

    #[test]
    fn a_topic_socket_is_subscribed_to_the_topics_one_channel_and_told_so() {
        let Ok(key) = TokenKey::new(&[7; 32]) else {
            panic!("a 32-byte secret is valid")
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let token = key.mint(&edgepush_protocol::token::Claims::new("42", now, 3600));
        let target = "/connect?topic=crowd:stage&since=3&epoch=e";
        assert_eq!(topic_of(target), Some("crowd:stage"));
        assert_eq!(topic_of("/connect"), None);
        assert_eq!(topic_of("/connect?topic="), None);
        let open = respond(
            b"OPEN\r\n",
            &format!("edgepush.v1, {token}"),
            topic_of(target),
            &key,
        );
        let open = String::from_utf8_lossy(&open);
        assert!(open.contains(r#"c:{"type":"subscribe","channel":"topic-crowd:stage"}"#));
        assert!(open.contains(r#"{"type":"subscribed","topic":"crowd:stage","last_id":0"#));
        let user = respond(b"OPEN\r\n", &format!("edgepush.v1, {token}"), None, &key);
        assert!(String::from_utf8_lossy(&user).contains(r#""channel":"user-42""#));
    }
}
