//! Webhooks: a worker with `WEBHOOK_URL` pointing at a small HTTP receiver in this test, which
//! refuses the first delivery (so it must be retried) and checks every signature.

use std::time::{Duration, Instant};

use edgepush_protocol::signature::PublishKeys;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;

/// The path and query the worker posts to.
const HOOK_TARGET: &str = "/edgepush/webhook?app=demo";

/// One delivery as received: the signature header and the body.
struct Delivery {
    signature: Option<String>,
    body: Value,
    raw: Vec<u8>,
}

/// Accepts deliveries on `listener`: answers `503` to the first, `200` to the rest, and sends
/// each to the channel.
async fn receive(listener: TcpListener, deliveries: mpsc::UnboundedSender<Delivery>) {
    let mut first = true;
    while let Ok((mut stream, _)) = listener.accept().await {
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, length) = loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break (None, 0);
            }
            request.extend_from_slice(&chunk[..n]);
            if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                break (Some(end + 4), length);
            }
        };
        let Some(body_start) = head_end else { continue };
        while request.len() < body_start + length {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            request.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&request[..body_start]).into_owned();
        assert!(
            head.starts_with(&format!("POST {HOOK_TARGET} HTTP/1.1")),
            "{head}"
        );
        let signature = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(SIGNATURE_HEADER)
                .then(|| value.trim().to_owned())
        });
        let raw = request[body_start..].to_vec();
        let status = if std::mem::take(&mut first) {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
        let _ = stream
            .write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await;
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        if deliveries
            .send(Delivery {
                signature,
                body,
                raw,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The next delivery, its signature checked with the test's publish keys.
async fn next_delivery(deliveries: &mut mpsc::UnboundedReceiver<Delivery>) -> Value {
    let delivery = tokio::time::timeout(Duration::from_secs(20), deliveries.recv())
        .await
        .expect("a webhook within 20 s")
        .expect("the receiver runs");
    let keys = PublishKeys::parse(&format!(
        "{}:{}",
        test_env("EDGEPUSH_TEST_KEY_ID"),
        test_env("EDGEPUSH_TEST_PUBLISH_SECRET")
    ))
    .unwrap();
    let verified = keys.verify(
        delivery.signature.as_deref(),
        "POST",
        HOOK_TARGET,
        &delivery.raw,
        now(),
    );
    assert!(verified.is_ok(), "{verified:?}: {}", delivery.body);
    delivery.body
}

/// `(type, user)` of each event of a delivery, for `topic`.
fn told(body: &Value, topic: &str) -> Vec<(String, Option<String>)> {
    assert_eq!(body["topic"], topic, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            assert!(event["ts"].as_u64().unwrap() > 1_700_000_000_000, "{event}");
            (
                event["type"].as_str().unwrap().to_owned(),
                event["user"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn event(kind: &str, user: Option<&str>) -> (String, Option<String>) {
    (kind.to_owned(), user.map(str::to_owned))
}

pub async fn webhooks_tell_the_backend_who_comes_and_goes_signed_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, mut deliveries) = mpsc::unbounded_channel();
    tokio::spawn(receive(listener, sender));
    let url = format!("WEBHOOK_URL:http://127.0.0.1:{port}{HOOK_TARGET}");
    let worker = Worker::start_with("webhooks", &["--var", &url]);

    // Path 1: users' rooms join and leave a topic of `hooks` (webhooks, no shards).
    let room = topic("hooks", "room");
    let (alice, bob) = (user("hook-alice"), user("hook-bob"));
    let mut alice_tab = worker.connect(&alice).await;
    alice_tab.next_json().await;
    subscribed(&mut alice_tab, &room).await;
    // The first delivery is refused (503): the same events come again, about a second later.
    let refused = next_delivery(&mut deliveries).await;
    let refused_at = Instant::now();
    let expected = vec![
        event("occupied", None),
        event("member_joined", Some(&alice)),
    ];
    assert_eq!(told(&refused, &room), expected);
    // A change during the backoff (alice's second socket: counted, nothing to tell) wakes the
    // topic at once, but the retry still waits out its second.
    let mut second_alice_tab = worker.connect(&alice).await;
    second_alice_tab.next_json().await;
    subscribed(&mut second_alice_tab, &room).await;
    let retried = next_delivery(&mut deliveries).await;
    assert_eq!(retried, refused, "a retry sends the same events");
    assert!(
        refused_at.elapsed() >= Duration::from_millis(900),
        "retried after {:?}, before its backoff of 1 s",
        refused_at.elapsed()
    );

    let mut bob_tab = worker.connect(&bob).await;
    bob_tab.next_json().await;
    subscribed(&mut bob_tab, &room).await;
    assert_eq!(
        told(&next_delivery(&mut deliveries).await, &room),
        [event("member_joined", Some(&bob))],
        "alice's second socket tells nothing"
    );
    alice_tab.close().await;
    second_alice_tab.close().await;
    assert_eq!(
        told(&next_delivery(&mut deliveries).await, &room),
        [event("member_left", Some(&alice))]
    );
    bob_tab
        .send_text(&json!({"type": "unsubscribe", "topics": [room]}).to_string())
        .await;
    assert_eq!(
        told(&next_delivery(&mut deliveries).await, &room),
        [event("member_left", Some(&bob)), event("vacated", None)]
    );

    // Path 2: a topic of `hookstage` (webhooks, shards) is occupied by topic sockets.
    let stage = topic("hookstage", "main");
    let query = format!("topic={stage}");
    let readers = [user("hook-r1"), user("hook-r2")];
    let mut sockets = Vec::new();
    for reader in &readers {
        let mut socket = worker
            .connect_with(&worker.token(reader, 600), &query)
            .await
            .unwrap();
        assert_eq!(socket.next_json().await["type"], "subscribed");
        sockets.push(socket);
    }
    assert_eq!(
        told(&next_delivery(&mut deliveries).await, &stage),
        [event("occupied", None)],
        "readers on topic sockets are counted, not named"
    );
    for socket in sockets {
        socket.close().await;
    }
    assert_eq!(
        told(&next_delivery(&mut deliveries).await, &stage),
        [event("vacated", None)]
    );
    // Nothing more: an idle topic sends nothing.
    let quiet = tokio::time::timeout(Duration::from_secs(3), deliveries.recv()).await;
    assert!(quiet.is_err(), "an unexpected delivery");
}
