//! The Mercure hub end to end: the form `symfony/mercure` posts, Server-Sent Events read the way
//! an `EventSource` reads them, one topic space with the SDK's topics, private updates, resume
//! with `Last-Event-ID`, and the refusals a hub gives.

use base64::Engine as _;
use edgepush_protocol::token::{Algorithm, TokenKey};

use super::*;

const HUB: &str = "/.well-known/mercure";

/// A publish form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// A Mercure token signed with the test workers' Mercure key.
fn mercure_token(claims: Value) -> String {
    TokenKey::new(test_env("EDGEPUSH_TEST_MERCURE_JWT_SECRET").as_bytes())
        .unwrap()
        .mint_any(&claims)
}

fn publisher() -> String {
    mercure_token(json!({"mercure": {"publish": ["*"]}}))
}

/// Posts an update as `symfony/mercure` does; returns the status and the body text.
async fn post_update(worker: &Worker, token: &str, form: &[(&str, &str)]) -> (u16, String) {
    let body: String = form
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = reqwest::Client::new()
        .post(format!("{}{HUB}", worker.base_url()))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One Server-Sent Event.
#[derive(Debug, Default, Clone, PartialEq)]
struct Event {
    id: String,
    kind: Option<String>,
    retry: Option<u64>,
    data: String,
}

/// A subscription, read as an `EventSource` reads it.
struct Subscription {
    response: reqwest::Response,
    buffer: String,
    /// The answer's `Last-Event-ID` header (a resume's).
    last_event_id: Option<String>,
}

impl Subscription {
    /// The next event within 5 s, past heartbeats; `None` when nothing came.
    async fn next(&mut self) -> Option<Event> {
        self.next_within(Duration::from_secs(5)).await
    }

    async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        loop {
            let block = self.next_block(wait).await?;
            let mut event = Event::default();
            let mut data = Vec::new();
            for line in block.lines() {
                match line.split_once(": ") {
                    Some(("id", v)) => event.id = v.to_owned(),
                    Some(("event", v)) => event.kind = Some(v.to_owned()),
                    Some(("retry", v)) => event.retry = v.parse().ok(),
                    Some(("data", v)) => data.push(v),
                    _ => {}
                }
            }
            if event.id.is_empty() {
                continue; // a heartbeat
            }
            event.data = data.join("\n");
            return Some(event);
        }
    }

    /// The next block of lines (an event, or a `:` heartbeat) within `wait` of each chunk.
    async fn next_block(&mut self, wait: Duration) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                return Some(self.buffer.drain(..end + 2).collect());
            }
            match tokio::time::timeout(wait, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }
}

/// Subscribes to `topics`; returns the subscription, or the refusal's status and body.
async fn subscribe(
    worker: &Worker,
    token: Option<&str>,
    topics: &[&str],
    last_event_id: Option<&str>,
) -> Result<Subscription, (u16, String)> {
    let query: Vec<String> = topics
        .iter()
        .map(|t| format!("topic={}", urlencode(t)))
        .collect();
    let mut request =
        reqwest::Client::new().get(format!("{}{HUB}?{}", worker.base_url(), query.join("&")));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status != 200 {
        return Err((status, response.text().await.unwrap_or_default()));
    }
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // Discovery: the hub names itself.
    let link = response.headers()["link"].to_str().unwrap();
    assert!(
        link.ends_with("/.well-known/mercure>; rel=\"mercure\""),
        "{link}"
    );
    let last_event_id = response
        .headers()
        .get("last-event-id")
        .map(|id| id.to_str().unwrap().to_owned());
    Ok(Subscription {
        response,
        buffer: String::new(),
        last_event_id,
    })
}

fn subscriber(selectors: &[&str]) -> String {
    mercure_token(json!({"mercure": {"subscribe": selectors}, "exp": now() + 600}))
}

pub async fn mercure_updates_reach_event_sources_and_sdk_clients_in_one_topic_space(
    worker: Shared,
) {
    let book = format!("https://example.com/books/{}", std::process::id());
    let product = topic("product", "mercure");
    let mut sse = subscribe(&worker, Some(&subscriber(&["*"])), &[&book, &product], None)
        .await
        .unwrap();
    // An SDK client reads the same update in the edgepush topic the Mercure topic names.
    let reader = user("mercure-sdk");
    let mut grant = claims(&reader, 600);
    grant.topics = vec!["mercure:*".to_owned()];
    // `mercure` has a shard (the hub declares it so): its readers connect topic sockets, as the
    // SDK does by itself; the mapped name is percent-encoded once more in the query.
    let mapped = format!("mercure:https%3A//example.com/books/{}", std::process::id());
    let query = format!("topic={}", mapped.replace('%', "%25"));
    let mut socket = worker.connect_with(&mint(&grant), &query).await.unwrap();
    assert_eq!(socket.next_json().await["type"], "subscribed");

    let (status, id) = post_update(
        &worker,
        &publisher(),
        &[
            ("topic", &book),
            ("data", "{\"status\":\"OutOfStock\"}\nsecond line"),
            ("id", "urn:uuid:book-1"),
            ("type", "BookUpdated"),
            ("retry", "5000"),
        ],
    )
    .await;
    assert_eq!((status, id.as_str()), (200, "urn:uuid:book-1"));
    let event = sse.next().await.expect("the update as an SSE event");
    assert_eq!(
        event,
        Event {
            id: "urn:uuid:book-1".into(),
            kind: Some("BookUpdated".into()),
            retry: Some(5000),
            data: "{\"status\":\"OutOfStock\"}\nsecond line".into(),
        }
    );
    let frame = expect_topic_event(&mut socket, &mapped, 1).await;
    assert_eq!(frame["name"], "BookUpdated");
    assert_eq!(frame["payload"]["id"], "urn:uuid:book-1");

    // An edgepush publish to a topic a subscriber named reaches it too.
    let published = publish_topic(&worker, &product, "ProductChanged", json!({"price": 3})).await;
    let event = sse
        .next()
        .await
        .expect("the edgepush event as an SSE event");
    assert_eq!(event.kind.as_deref(), Some("ProductChanged"));
    assert_eq!(event.data, r#"{"price":3}"#);
    assert_eq!(event.id, format!("{product}/{}", published["id"]));

    // Publishing the same id again stores nothing new: the retry of a lost answer.
    let (status, _) = post_update(
        &worker,
        &publisher(),
        &[
            ("topic", &book),
            ("data", "{\"status\":\"OutOfStock\"}\nsecond line"),
            ("id", "urn:uuid:book-1"),
            ("type", "BookUpdated"),
            ("retry", "5000"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(sse.next_within(Duration::from_millis(700)).await.is_none());
    // A generated id is a UUIDv7 URN.
    let (status, id) = post_update(&worker, &publisher(), &[("topic", &book), ("data", "x")]).await;
    assert_eq!(status, 200);
    assert!(id.starts_with("urn:uuid:") && id.len() == 45, "{id}");
    assert_eq!(sse.next().await.unwrap().id, id);
}

pub async fn private_mercure_updates_reach_only_subscribers_who_may_read_them(worker: Shared) {
    let pid = std::process::id();
    let book = format!("https://example.com/books/private-{pid}");
    let owner = format!("https://example.com/users/{pid}");
    let mut allowed = subscribe(&worker, Some(&subscriber(&[&owner])), &[&book], None)
        .await
        .unwrap();
    let mut other = subscribe(
        &worker,
        Some(&subscriber(&["https://example.com/users/{id}/x"])),
        &[&book],
        None,
    )
    .await
    .unwrap();
    let (status, _) = post_update(
        &worker,
        &publisher(),
        &[
            ("topic", &book),
            ("data", "secret"),
            ("private", "on"),
            ("id", "p-1"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_update(
        &worker,
        &publisher(),
        &[
            ("topic", &book),
            ("topic", &owner),
            ("data", "for the owner"),
            ("private", "on"),
            ("id", "p-2"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post_update(
        &worker,
        &publisher(),
        &[("topic", &book), ("data", "public"), ("id", "p-3")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(allowed.next().await.unwrap().id, "p-2");
    assert_eq!(allowed.next().await.unwrap().id, "p-3");
    assert_eq!(
        other.next().await.unwrap().id,
        "p-3",
        "no private update reaches it"
    );
}

pub async fn a_mercure_subscriber_resumes_after_its_last_event_id(worker: Shared) {
    let book = format!("https://example.com/books/resume-{}", std::process::id());
    for i in 1..=3 {
        let id = format!("r-{i}");
        let (status, _) = post_update(
            &worker,
            &publisher(),
            &[("topic", &book), ("data", &id), ("id", &id)],
        )
        .await;
        assert_eq!(status, 200);
    }
    let mut sse = subscribe(&worker, Some(&subscriber(&["*"])), &[&book], Some("r-1"))
        .await
        .unwrap();
    assert_eq!(sse.next().await.unwrap().id, "r-2");
    assert_eq!(sse.next().await.unwrap().id, "r-3");
    let (status, _) = post_update(
        &worker,
        &publisher(),
        &[("topic", &book), ("data", "live"), ("id", "r-4")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(sse.next().await.unwrap().id, "r-4");
    // `earliest`: everything the topic keeps.
    let mut all = subscribe(
        &worker,
        Some(&subscriber(&["*"])),
        &[&book],
        Some("earliest"),
    )
    .await
    .unwrap();
    for i in 1..=4 {
        assert_eq!(all.next().await.unwrap().id, format!("r-{i}"));
    }
}

pub async fn a_subscription_to_many_topics_resumes_each_after_the_last_event_id(worker: Shared) {
    // Last-Event-ID names the last update the stream carried, whatever its topic: every topic
    // of the subscription resumes after it, not only the one that stored it.
    let run = std::process::id();
    let (a, b) = (
        format!("https://example.com/a/{run}"),
        format!("https://example.com/b/{run}"),
    );
    let reader = subscriber(&["*"]);
    let mut sse = subscribe(&worker, Some(&reader), &[&a, &b], None)
        .await
        .unwrap();
    let publish = async |topic: &str, data: &str| {
        let (status, id) =
            post_update(&worker, &publisher(), &[("topic", topic), ("data", data)]).await;
        assert_eq!(status, 200, "{id}");
        id
    };
    let first = publish(&a, "a1").await;
    assert_eq!(sse.next().await.unwrap().id, first);
    assert_eq!(sse.last_event_id, None);
    drop(sse);
    // While the subscriber is away: updates of the same topic, then one of the other, which
    // comes after them: a stream cut after it resumes past all three.
    let mut missed = Vec::new();
    for data in ["a2", "a3", "a4"] {
        missed.push(publish(&a, data).await);
    }
    missed.push(publish(&b, "b1").await);
    let mut back = subscribe(&worker, Some(&reader), &[&a, &b], Some(&first))
        .await
        .unwrap();
    // The answer names the update it resumed after.
    assert_eq!(back.last_event_id.as_deref(), Some(first.as_str()));
    let mut got = Vec::new();
    for _ in 0..missed.len() {
        got.push(back.next().await.unwrap().id);
    }
    assert_eq!(got, missed);
    assert_eq!(back.next_within(Duration::from_secs(1)).await, None);
    // An id no topic holds: resumed live, and the answer says `earliest`.
    let unknown = subscribe(&worker, Some(&reader), &[&a, &b], Some("never-sent"))
        .await
        .unwrap();
    assert_eq!(unknown.last_event_id.as_deref(), Some("earliest"));

    // A publisher's own update id tells no time: the topic that stored it resumes after it, the
    // others from when it was stored (the hub asks the topics).
    let (c, d) = (
        format!("https://example.com/c/{run}"),
        format!("https://example.com/d/{run}"),
    );
    let mut sse = subscribe(&worker, Some(&reader), &[&c, &d], None)
        .await
        .unwrap();
    let own = format!("book-{run}");
    let (status, id) = post_update(
        &worker,
        &publisher(),
        &[("topic", &c), ("data", "c1"), ("id", &own)],
    )
    .await;
    assert_eq!((status, id.as_str()), (200, own.as_str()));
    assert_eq!(sse.next().await.unwrap().id, own);
    drop(sse);
    let missed_d = publish(&d, "d1").await;
    let missed_c = publish(&c, "c2").await;
    let mut back = subscribe(&worker, Some(&reader), &[&c, &d], Some(&own))
        .await
        .unwrap();
    let mut got = vec![back.next().await.unwrap().id, back.next().await.unwrap().id];
    got.sort();
    let mut want = vec![missed_c, missed_d];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(back.next_within(Duration::from_secs(1)).await, None);

    // An event published with POST /publish has the id `<topic>/<id>`: its topic resumes after it.
    let feed = super::topics::topic("product", "mercure-resume");
    let seen = publish_topic(&worker, &feed, "Price", json!({"cents": 1})).await;
    publish_topic(&worker, &feed, "Price", json!({"cents": 2})).await;
    let mut sse = subscribe(
        &worker,
        Some(&reader),
        &[&feed],
        Some(&format!("{feed}/{}", seen["id"])),
    )
    .await
    .unwrap();
    assert_eq!(sse.next().await.unwrap().data, r#"{"cents":2}"#);
    drop(sse);
    // ... and the subscription's other topics from when that event was stored.
    let other = format!("https://example.com/e/{run}");
    let last = publish_topic(&worker, &feed, "Price", json!({"cents": 3})).await;
    let missed = publish(&other, "e1").await;
    let mut sse = subscribe(
        &worker,
        Some(&reader),
        &[&feed, &other],
        Some(&format!("{feed}/{}", last["id"])),
    )
    .await
    .unwrap();
    assert_eq!(sse.next().await.unwrap().id, missed);
    assert_eq!(sse.next_within(Duration::from_secs(1)).await, None);
}

pub async fn the_mercure_hub_refuses_bad_requests_as_a_hub_does(worker: Shared) {
    let book = "https://example.com/books/refused";
    let key = |secret: &[u8], claims: Value| TokenKey::new(secret).unwrap().mint_any(&claims);
    let cases: Vec<(String, Form, u16)> = vec![
        (publisher(), vec![("data", "no topic")], 400),
        (
            mercure_token(json!({"mercure": {"publish": ["https://example.com/users/{id}"]}})),
            vec![("topic", book)],
            403,
        ),
        (
            mercure_token(json!({"mercure": {"subscribe": ["*"]}})),
            vec![("topic", book)],
            403,
        ),
        (
            key(
                b"another-secret-that-is-long-enough!!",
                json!({"mercure": {"publish": ["*"]}}),
            ),
            vec![("topic", book)],
            401,
        ),
        (
            mercure_token(json!({"mercure": {"publish": ["*"]}, "exp": now() - 10})),
            vec![("topic", book)],
            401,
        ),
        (publisher(), vec![("topic", book), ("retry", "soon")], 400),
        (
            publisher(),
            vec![("topic", book), ("id", "#not-an-id")],
            400,
        ),
        // A type that would end its SSE line and forge an event.
        (
            publisher(),
            vec![("topic", book), ("type", "a\ndata: forged\n\nid: x")],
            400,
        ),
    ];
    for (token, form, status) in cases {
        let (got, body) = post_update(&worker, &token, &form).await;
        assert_eq!(got, status, "{form:?}: {body}");
    }
    let none = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"mercure":{"publish":["*"]}}"#)
    );
    assert_eq!(post_update(&worker, &none, &[("topic", book)]).await.0, 401);
    // A publisher sends its token in the Authorization header: a cookie, which a browser adds to
    // any site's form post to the hub, is not accepted for publishing.
    let response = reqwest::Client::new()
        .post(format!("{}{HUB}", worker.base_url()))
        .header("Cookie", format!("mercureAuthorization={}", publisher()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("topic={}", urlencode(book)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization header"), "{body}");
    let huge = "x".repeat(MAX_BODY_BYTES + 1);
    assert_eq!(
        post_update(&worker, &publisher(), &[("topic", book), ("data", &huge)])
            .await
            .0,
        413
    );
    // The test workers accept HS256 and HS512 (MERCURE_JWT_ALGORITHMS), not HS384.
    let signed = |algorithm| {
        TokenKey::new(test_env("EDGEPUSH_TEST_MERCURE_JWT_SECRET").as_bytes())
            .unwrap()
            .mint_with(algorithm, &json!({"mercure": {"publish": ["*"]}}))
    };
    for (algorithm, status) in [(Algorithm::Hs512, 200), (Algorithm::Hs384, 401)] {
        let (got, body) = post_update(&worker, &signed(algorithm), &[("topic", book)]).await;
        assert_eq!(got, status, "{algorithm:?}: {body}");
    }
    let too_many: Vec<String> = (0..33)
        .map(|i| format!("https://example.com/{i}"))
        .collect();
    let names: Vec<&str> = too_many.iter().map(String::as_str).collect();
    for (token, topics, status) in [
        (None, vec![book], 401),
        (Some(subscriber(&["*"])), vec![], 400),
        (
            Some(subscriber(&["*"])),
            vec!["https://example.com/books/{id"],
            400,
        ),
        (Some(subscriber(&["*"])), names, 400),
    ] {
        let refused = subscribe(&worker, token.as_deref(), &topics, None).await;
        assert_eq!(refused.err().map(|(s, _)| s), Some(status), "{topics:?}");
    }
}

pub async fn mercure_reads_edgepush_topics_only_as_the_sdk_may(worker: Shared) {
    // A user's own topic (`orders:#<user>`, of a namespace that is not public) needs a
    // mercure.subscribe selector that covers it; anonymous subscribers and other users' pages
    // are refused before any shard is asked.
    let owner = user("mercure-owner");
    let own = format!("orders:#{owner}");
    for token in [subscriber(&[]), subscriber(&["orders:#someone-else"])] {
        let refused = subscribe(&worker, Some(&token), &[&own], None).await;
        let (status, body) = refused.err().expect("a refusal");
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("topic_forbidden"), "{body}");
    }
    let mut sse = subscribe(
        &worker,
        Some(&subscriber(&[&own])),
        &[&own],
        Some("earliest"),
    )
    .await
    .unwrap();
    let published = publish_topic(&worker, &own, "OrderShipped", json!({"n": 1})).await;
    let event = sse.next().await.expect("the owner's page reads its topic");
    assert_eq!(event.id, format!("{own}/{}", published["id"]));
    // A public namespace's topic is open to every subscriber, so a private update cannot go
    // there: the SDK's readers of it would read it too.
    let product = topic("product", "private-update");
    let (status, body) = post_update(
        &worker,
        &publisher(),
        &[
            ("topic", product.as_str()),
            ("data", "{}"),
            ("private", "on"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        subscribe(&worker, Some(&subscriber(&[])), &[&product], None)
            .await
            .is_ok()
    );
}

pub async fn template_and_star_subscriptions_read_every_matching_topic(worker: Shared) {
    let pid = std::process::id();
    let template = format!("https://example.com/tpl-{pid}/{{id}}");
    let mut by_template = subscribe(&worker, Some(&subscriber(&["*"])), &[&template], None)
        .await
        .unwrap();
    let mut everything = subscribe(&worker, Some(&subscriber(&["*"])), &["*"], None)
        .await
        .unwrap();
    let matching = format!("https://example.com/tpl-{pid}/7");
    let other = format!("https://example.com/tpl-{pid}/7/comments");
    for (topic, id) in [(&other, "t-other"), (&matching, "t-match")] {
        let (status, _) = post_update(
            &worker,
            &publisher(),
            &[("topic", topic), ("data", id), ("id", id)],
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(by_template.next().await.unwrap().id, "t-match");
    assert!(
        by_template
            .next_within(Duration::from_millis(700))
            .await
            .is_none()
    );
    // `*` reads every update, this test's among those of tests running beside it.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = everything
            .next()
            .await
            .expect("the updates reach the * subscriber");
        if event.id.starts_with("t-") {
            seen.push(event.id);
        }
    }
    assert_eq!(seen, ["t-other", "t-match"]);
}

pub async fn mercure_heartbeats_keep_their_pace_while_only_unreadable_updates_arrive(
    worker: Shared,
) {
    // The test workers beat every 2 s (MERCURE_HEARTBEAT_SECONDS). Private updates the
    // subscriber may not read reach its stream every 400 ms and are dropped there: they write
    // nothing, so they must not put the next heartbeat off.
    let book = format!("https://example.com/books/heartbeat-{}", std::process::id());
    let mut sse = subscribe(&worker, Some(&subscriber(&[])), &[&book], None)
        .await
        .unwrap();
    let until = tokio::time::Instant::now() + Duration::from_millis(5_500);
    let publishing = async {
        while tokio::time::Instant::now() < until {
            let form = [
                ("topic", book.as_str()),
                ("data", "secret"),
                ("private", "on"),
            ];
            let (status, body) = post_update(&worker, &publisher(), &form).await;
            assert_eq!(status, 200, "{body}");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    };
    let reading = async {
        let mut heartbeats = 0;
        while let Some(block) = sse
            .next_block(until.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            assert!(block.starts_with(':'), "an update it may not read: {block}");
            heartbeats += 1;
        }
        heartbeats
    };
    let ((), heartbeats) = tokio::join!(publishing, reading);
    // The stream opens with one; then one at 2 s and one at 4 s.
    assert!(heartbeats >= 3, "{heartbeats} heartbeats in 5.5 s");
}

pub async fn a_mercure_subscription_loses_no_update_while_its_other_topics_connect(worker: Shared) {
    // The hub connects a subscription's topics at once, and each topic socket replays its topic
    // as soon as its shard has joined it. A topic with a long history (1,000 events, 32 a
    // replay page) connects last, well after the first topic's update came.
    let quick = format!("https://example.com/connecting-{}", std::process::id());
    let slow = topic("feed", "connecting");
    for batch in 0..10 {
        let events: Vec<Value> = (0..100)
            .map(|i| json!({"topic": slow, "name": "Old", "payload": batch * 100 + i}))
            .collect();
        let body = json!({ "events": events }).to_string();
        let (status, answer) = worker.post_signed("/publish", &body, &[]).await;
        assert_eq!(status, 202, "{answer}");
    }
    let (status, first) = post_update(
        &worker,
        &publisher(),
        &[("topic", &quick), ("data", "first")],
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let mut sse = subscribe(
        &worker,
        Some(&subscriber(&["*"])),
        &[&quick, &slow],
        Some("earliest"),
    )
    .await
    .unwrap();
    let (mut got, mut first_seen) = (0, false);
    // Within 20 s in all: heartbeats would keep `next` waiting.
    let all = tokio::time::timeout(Duration::from_secs(20), async {
        while got < 1001 {
            first_seen |= sse.next().await.expect("an update").id == first;
            got += 1;
        }
    })
    .await;
    assert!(
        all.is_ok(),
        "{got} of 1,001 updates, the first topic's among them: {first_seen}"
    );
}

pub async fn a_failed_mercure_publish_names_the_id_to_publish_it_again_with() {
    // The worker's topics fail to store an event named FAIL_MARKER (the update's type).
    let worker = Worker::start_with(
        "mercure-faults",
        &["--var", &format!("TEST_FAIL_MARKER:{FAIL_MARKER}")],
    );
    let book = "https://example.com/books/failing";
    let form = [("topic", book), ("data", "x"), ("type", FAIL_MARKER)];
    let (status, body) = post_update(&worker, &publisher(), &form).await;
    assert_eq!(status, 500, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error_code(&body), "internal_error", "{body}");
    // The hub made the id: the publisher learns it only from the message.
    let message = body["error"]["message"].as_str().unwrap();
    let id = message
        .split(['"', ' ', '(', ')'])
        .find(|word| word.starts_with("urn:uuid:"));
    assert_eq!(id.map(str::len), Some(45), "{message}");
}
