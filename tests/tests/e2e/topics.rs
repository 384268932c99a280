//! Topics end to end: subscribing over the user's socket, relaying through the topic's object,
//! authorization against every name trick, resume, and the request counts of `docs/topics.md`.

use std::collections::BTreeMap;

use edgepush_protocol::token::SubscriptionClaims;

use super::*;

/// A topic unique to this test run.
pub(crate) fn topic(namespace: &str, tag: &str) -> String {
    format!("{namespace}:{tag}-{}", std::process::id())
}

/// Sends one `subscribe` frame for `topics` (live only).
async fn subscribe(socket: &mut Socket, topics: &[&str]) {
    let items: Vec<Value> = topics.iter().map(|t| json!({"topic": t})).collect();
    socket
        .send_text(&json!({"type": "subscribe", "topics": items}).to_string())
        .await;
}

/// Reads `n` frames answering subscriptions (`subscribed` or `unsubscribed`), by topic.
async fn answers(socket: &mut Socket, n: usize) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    while seen.len() < n {
        // Joins of many new topics create their objects: slower than one frame.
        let frame = match socket.next(Duration::from_secs(30)).await {
            Seen::Json(frame) => frame,
            other => panic!("after {} answers: {other:?}", seen.len()),
        };
        assert!(
            frame["type"] == "subscribed" || frame["type"] == "unsubscribed",
            "{frame}"
        );
        seen.insert(frame["topic"].as_str().unwrap().to_owned(), frame);
    }
    seen
}

/// Subscribes to one topic and expects `subscribed`.
pub(crate) async fn subscribed(socket: &mut Socket, topic: &str) -> Value {
    subscribe(socket, &[topic]).await;
    let frame = socket.next_json().await;
    assert_eq!(frame["type"], "subscribed", "{frame}");
    assert_eq!(frame["topic"], topic, "{frame}");
    frame
}

/// Publishes one event to a topic; returns the answer's entry. Panics unless `202`.
pub(crate) async fn publish_topic(
    worker: &Worker,
    topic: &str,
    name: &str,
    payload: Value,
) -> Value {
    let body = json!({"topic": topic, "name": name, "payload": payload}).to_string();
    let (status, answer) = worker.post_signed("/publish", &body, &[]).await;
    assert_eq!(status, 202, "publish answered {answer}");
    answer["events"][0].clone()
}

/// The next event frame, past any `occupancy` and `presence` notices.
pub(crate) async fn expect_topic_event(socket: &mut Socket, topic: &str, id: u64) -> Value {
    let mut frame = socket.next_json().await;
    while frame["type"] == "occupancy" || frame["type"] == "presence" {
        frame = socket.next_json().await;
    }
    assert_eq!(frame["type"], "event", "{frame}");
    assert_eq!(
        (frame["topic"].as_str(), frame["id"].as_u64()),
        (Some(topic), Some(id)),
        "{frame}"
    );
    frame
}

pub async fn topic_events_reach_every_subscriber_and_no_one_else(worker: Shared) {
    let feed = topic("feed", "all");
    let (a, b, c) = (user("ta"), user("tb"), user("tc"));
    // `connect_tabs` reads the welcome frames itself.
    let mut a_tabs = worker.connect_tabs(&a, 2).await;
    let mut a1 = a_tabs.pop().unwrap();
    let mut a0 = a_tabs.pop().unwrap();
    let mut b_tab = worker.connect(&b).await;
    let mut c_tab = worker.connect(&c).await;
    for socket in [&mut b_tab, &mut c_tab] {
        assert_eq!(socket.next_json().await["type"], "welcome");
    }
    let first = subscribed(&mut a0, &feed).await;
    assert_eq!(first["last_id"], 0);
    assert!(first.get("recovered").is_none(), "{first}");
    subscribed(&mut a1, &feed).await;
    subscribed(&mut b_tab, &feed).await;

    let published = publish_topic(&worker, &feed, "Torrent", json!({"n": 1})).await;
    assert_eq!(published["topic"], feed.as_str());
    assert_eq!(published["id"], 1);
    // Cost: one request to the topic, then one per member user's room (2), not per socket (3).
    assert_eq!(
        (published["sockets"].as_u64(), published["relays"].as_u64()),
        (Some(3), Some(2))
    );
    for socket in [&mut a0, &mut a1, &mut b_tab] {
        let event = expect_topic_event(socket, &feed, 1).await;
        assert_eq!(event["payload"], json!({"n": 1}));
    }
    expect_silence(&mut c_tab).await;
    // The user stream is untouched: a user event still has the user's own id 1.
    let to_a = worker.publish_event(&a, "Message", json!(null)).await;
    assert_eq!(to_a["id"], 1);
    let event = expect_event(&mut a0, "Message").await;
    assert!(event.get("topic").is_none(), "{event}");

    // Unsubscribing one tab keeps the user a member through the other; the last one leaves.
    a0.send_text(&json!({"type": "unsubscribe", "topics": [feed]}).to_string())
        .await;
    expect_event(&mut a1, "Message").await;
    let second = publish_topic(&worker, &feed, "Torrent", json!({"n": 2})).await;
    assert_eq!(
        (second["sockets"].as_u64(), second["relays"].as_u64()),
        (Some(2), Some(2))
    );
    expect_topic_event(&mut a1, &feed, 2).await;
    expect_topic_event(&mut b_tab, &feed, 2).await;
    expect_silence(&mut a0).await;
    b_tab.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = publish_topic(&worker, &feed, "Torrent", json!({"n": 3})).await;
    assert_eq!(
        (third["sockets"].as_u64(), third["relays"].as_u64()),
        (Some(1), Some(1)),
        "{third}"
    );
}

pub async fn no_name_trick_reads_a_topic_that_is_not_granted(worker: Shared) {
    let owner = user("owner");
    let intruder = user("intruder");
    let orders = format!("orders:#{owner}");
    let mut owner_tab = worker.connect(&owner).await;
    let mut intruder_tab = worker.connect(&intruder).await;
    owner_tab.next_json().await;
    intruder_tab.next_json().await;
    subscribed(&mut owner_tab, &orders).await;

    let long = format!("feed:{}", "x".repeat(300));
    let tricks: Vec<(String, &str)> = vec![
        (orders.clone(), "topic_forbidden"),
        (format!("orders:#{owner},{intruder}x"), "topic_forbidden"),
        (format!("orders:%23{owner}"), "topic_forbidden"),
        (format!("ORDERS:#{owner}"), "invalid_topic"),
        ("orders:*".to_owned(), "invalid_topic"),
        (format!("orders:#{owner}:x"), "invalid_topic"),
        (format!("orders:#{owner} "), "invalid_topic"),
        (format!("orders :#{owner}"), "invalid_topic"),
        ("private:x".to_owned(), "topic_forbidden"),
        ("nope:x".to_owned(), "unknown_namespace"),
        (long, "invalid_topic"),
    ];
    let names: Vec<&str> = tricks.iter().map(|(t, _)| t.as_str()).collect();
    subscribe(&mut intruder_tab, &names).await;
    let refused = answers(&mut intruder_tab, tricks.len()).await;
    for (name, code) in &tricks {
        let frame = &refused[name.as_str()];
        assert_eq!(frame["type"], "unsubscribed", "{name}: {frame}");
        assert_eq!(frame["error"]["code"], *code, "{name}: {frame}");
        assert!(!frame["error"]["message"].as_str().unwrap().is_empty());
    }
    // A subscribe frame with a wildcard list or garbage gets an error frame; the socket stays.
    intruder_tab
        .send_text(r#"{"type":"subscribe","topics":"orders:*"}"#)
        .await;
    assert_eq!(intruder_tab.next_json().await["code"], "invalid_frame");
    intruder_tab.send_text(PING).await;
    assert_eq!(intruder_tab.next_json().await["type"], "pong");

    publish_topic(&worker, &orders, "OrderShipped", json!({"order": 1})).await;
    expect_topic_event(&mut owner_tab, &orders, 1).await;
    expect_silence(&mut intruder_tab).await;
}

pub async fn grants_and_subscription_tokens_open_private_topics(worker: Shared) {
    let u = user("granted");
    let granted = topic("private", "granted");
    let by_token = topic("private", "token");
    let mut grant = claims(&u, 3600);
    grant.topics = vec!["private:*".to_owned()];
    let mut socket = worker.connect_with(&mint(&grant), "").await.unwrap();
    socket.next_json().await;
    subscribed(&mut socket, &granted).await;

    let key = TokenKey::new(test_env("EDGEPUSH_TEST_JWT_SECRET").as_bytes()).unwrap();
    let sub_token = |sub: &str, topic: &str, ttl: i64| {
        key.mint_subscription(&SubscriptionClaims {
            sub: sub.to_owned(),
            topic: topic.to_owned(),
            exp: now() + ttl,
        })
    };
    let plain = user("plain");
    let mut other = worker.connect(&plain).await;
    other.next_json().await;
    let cases = [
        (sub_token(&u, &by_token, 600), "unsubscribed"),
        (sub_token(&plain, &granted, -10), "unsubscribed"),
        (worker.token(&plain, 600), "unsubscribed"),
        ("not.a.token".to_owned(), "unsubscribed"),
        (sub_token(&plain, &by_token, 600), "subscribed"),
        // Asked again (as the SDK does to resume) with a token that has expired: refused, and
        // the subscription it held ends with it, as the frame says.
        (sub_token(&plain, &by_token, -10), "unsubscribed"),
        (sub_token(&plain, &by_token, 600), "subscribed"),
    ];
    for (i, (token, expected)) in cases.into_iter().enumerate() {
        let frame = json!({"type": "subscribe", "topics": [{"topic": by_token, "token": token}]});
        other.send_text(&frame.to_string()).await;
        let answer = other.next_json().await;
        assert_eq!(answer["type"], expected, "{answer}");
        if expected == "unsubscribed" {
            assert_eq!(answer["error"]["code"], "topic_forbidden", "{answer}");
        }
        if i == 5 {
            publish_topic(&worker, &by_token, "Secret", json!(1)).await;
            expect_silence(&mut other).await;
        }
    }
    publish_topic(&worker, &by_token, "Secret", json!(2)).await;
    expect_topic_event(&mut other, &by_token, 2).await;
    expect_silence(&mut socket).await;
}

/// The next frame: a `subscribed` that resumed where the subscribe frame asked.
async fn expect_recovered(socket: &mut Socket) -> Value {
    let answer = socket.next_json().await;
    assert_eq!(
        (answer["type"].as_str(), answer["recovered"].as_bool()),
        (Some("subscribed"), Some(true)),
        "{answer}"
    );
    answer
}

pub async fn a_subscription_resumes_after_a_reconnect(worker: Shared) {
    let u = user("resumer");
    let product = topic("product", "resume");
    let mut tab = worker.connect(&u).await;
    tab.next_json().await;
    let joined = subscribed(&mut tab, &product).await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    for i in 1..=3 {
        publish_topic(&worker, &product, "ProductChanged", json!({"i": i})).await;
        expect_topic_event(&mut tab, &product, i).await;
    }
    tab.close().await;
    for i in 4..=5 {
        publish_topic(&worker, &product, "ProductChanged", json!({"i": i})).await;
    }
    let mut again = worker.connect(&u).await;
    again.next_json().await;
    let resume =
        json!({"type": "subscribe", "topics": [{"topic": product, "since": 3, "epoch": epoch}]});
    again.send_text(&resume.to_string()).await;
    assert_eq!(expect_recovered(&mut again).await["last_id"], 5);
    expect_topic_event(&mut again, &product, 4).await;
    expect_topic_event(&mut again, &product, 5).await;
    publish_topic(&worker, &product, "ProductChanged", json!({"i": 6})).await;
    expect_topic_event(&mut again, &product, 6).await;
    // Another epoch cannot be resumed.
    let stale =
        json!({"type": "subscribe", "topics": [{"topic": product, "since": 3, "epoch": "old"}]});
    again.send_text(&stale.to_string()).await;
    let answer = again.next_json().await;
    assert_eq!(answer["recovered"], false, "{answer}");
    expect_silence(&mut again).await;
    // A frame naming the topic 50 times resumes it once: each would be a join and a replay.
    let item = json!({"topic": product, "since": 4, "epoch": epoch});
    let repeated = json!({"type": "subscribe", "topics": vec![item; 50]});
    again.send_text(&repeated.to_string()).await;
    expect_recovered(&mut again).await;
    expect_topic_event(&mut again, &product, 5).await;
    expect_topic_event(&mut again, &product, 6).await;
    expect_silence(&mut again).await;
}

pub async fn publishing_to_topics_validates_first_and_is_idempotent(worker: Shared) {
    let u = user("mixed");
    let product = topic("product", "mixed");
    for (body, code) in [
        (json!({"topic": "product:*", "name": "X"}), "invalid_topic"),
        (json!({"topic": "nope:1", "name": "X"}), "unknown_namespace"),
        (
            json!({"events": [{"user": u, "name": "X"}, {"topic": "nope:1", "name": "X"}]}),
            "unknown_namespace",
        ),
        (
            json!({"topic": product, "user": u, "name": "X"}),
            "invalid_field",
        ),
    ] {
        let (status, answer) = worker.post_signed("/publish", &body.to_string(), &[]).await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, code),
            "{body}: {answer}"
        );
    }
    // Nothing of the refused batch was stored: the user's first event still gets id 1.
    let batch = json!({"events": [
        {"user": u, "name": "A"},
        {"topic": product, "name": "B"},
        {"topic": product, "name": "C", "idempotency_key": "c-1"},
    ]});
    let (status, answer) = worker
        .post_signed("/publish", &batch.to_string(), &[])
        .await;
    assert_eq!(status, 202, "{answer}");
    let entries = answer["events"].as_array().unwrap();
    assert_eq!(
        (entries[0]["user"].as_str(), entries[0]["id"].as_u64()),
        (Some(u.as_str()), Some(1))
    );
    assert_eq!(
        (entries[1]["topic"].as_str(), entries[1]["id"].as_u64()),
        (Some(product.as_str()), Some(1))
    );
    assert_eq!(entries[2]["id"], 2);
    let retry = json!({"topic": product, "name": "C", "idempotency_key": "c-1"});
    let (status, answer) = worker
        .post_signed("/publish", &retry.to_string(), &[])
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        (
            answer["events"][0]["id"].as_u64(),
            answer["events"][0]["duplicate"].as_bool()
        ),
        (Some(2), Some(true))
    );
}

pub async fn a_page_subscribes_to_1024_topics(worker: Shared) {
    let u = user("wide");
    let mut tab = worker.connect(&u).await;
    tab.next_json().await;
    let topics: Vec<String> = (0..1024)
        .map(|i| topic("product", &format!("w{i}")))
        .collect();
    for chunk in topics.chunks(256) {
        let names: Vec<&str> = chunk.iter().map(String::as_str).collect();
        subscribe(&mut tab, &names).await;
    }
    let joined = answers(&mut tab, topics.len()).await;
    let refused: Vec<&Value> = joined
        .values()
        .filter(|f| f["type"] != "subscribed")
        .collect();
    assert!(
        refused.is_empty(),
        "{} refused, e.g. {}",
        refused.len(),
        refused[0]
    );
    for t in [&topics[0], &topics[511], &topics[1023]] {
        publish_topic(&worker, t, "ProductChanged", json!(null)).await;
        expect_topic_event(&mut tab, t, 1).await;
    }
    // One more is over MAX_TOPICS_PER_SOCKET (1024).
    let extra = topic("product", "w1024");
    subscribe(&mut tab, &[&extra]).await;
    let refused = tab.next_json().await;
    assert_eq!(
        refused["error"]["code"], "too_many_subscriptions",
        "{refused}"
    );
}

pub async fn acknowledged_topic_events_survive_a_hard_kill() {
    let mut worker = Worker::start("topics-hardkill");
    let u = "topic-survivor";
    let topics: Vec<String> = (0..20).map(|i| format!("feed:kill-{i}")).collect();
    let mut tab = worker.connect(u).await;
    tab.next_json().await;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    subscribe(&mut tab, &names).await;
    let joined = answers(&mut tab, topics.len()).await;
    let epochs: BTreeMap<&str, String> = topics
        .iter()
        .map(|t| (t.as_str(), joined[t]["epoch"].as_str().unwrap().to_owned()))
        .collect();
    drop(tab);
    for round in 0..3 {
        for t in &topics {
            let published = publish_topic(&worker, t, "Tick", json!({"round": round})).await;
            assert_eq!(published["id"], round + 1);
        }
    }
    worker.kill_hard();
    worker.start_again();
    let mut tab = worker.connect(u).await;
    tab.next_json().await;
    let items: Vec<Value> = topics
        .iter()
        .map(|t| json!({"topic": t, "since": 0, "epoch": epochs[t.as_str()]}))
        .collect();
    tab.send_text(&json!({"type": "subscribe", "topics": items}).to_string())
        .await;
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut recovered = 0;
    while recovered < topics.len() || seen.values().map(Vec::len).sum::<usize>() < 60 {
        let frame = tab.next_json().await;
        let t = frame["topic"].as_str().unwrap().to_owned();
        match frame["type"].as_str() {
            Some("subscribed") => {
                assert_eq!(frame["recovered"], true, "{frame}");
                recovered += 1;
            }
            Some("event") => seen
                .entry(t)
                .or_default()
                .push(frame["id"].as_u64().unwrap()),
            _ => panic!("{frame}"),
        }
    }
    for t in &topics {
        assert_eq!(seen[t], [1, 2, 3], "{t}");
    }
    expect_silence(&mut tab).await;
}

/// Opens a topic socket (`/connect?topic=`) for `user`; returns it and its `subscribed` frame.
async fn topic_socket(worker: &Worker, user: &str, query: &str) -> (Socket, Value) {
    let mut socket = worker
        .connect_with(&worker.token(user, 3600), query)
        .await
        .unwrap_or_else(|refused| panic!("{query}: {refused:?}"));
    let first = socket.next_json().await;
    assert_eq!(first["type"], "subscribed", "{first}");
    (socket, first)
}

pub async fn revoke_and_logout_reach_topic_sockets(worker: Shared) {
    let u = user("crowd-revoked");
    let crowd = topic("crowd", "revoked");
    let query = format!("topic={crowd}");
    let old = token_issued_at(&u, Some(now() - 5));
    let mut topic_sockets = Vec::new();
    for _ in 0..2 {
        let mut socket = worker.connect_with(&old, &query).await.unwrap();
        assert_eq!(socket.next_json().await["type"], "subscribed");
        topic_sockets.push(socket);
    }
    let mut own = worker.connect_with(&old, "").await.unwrap();
    own.next_json().await;
    // Another user's topic socket on the same topic stays.
    let (mut other, _) = topic_socket(&worker, &user("crowd-bystander"), &query).await;

    let body = json!({"user": u}).to_string();
    let (status, answer) = worker.post_signed("/revoke", &body, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["sockets"], 3,
        "the room's socket and both topic sockets: {answer}"
    );
    // (`crowd` counts its readers: an occupancy notice may come before the close.)
    for socket in topic_sockets.iter_mut().chain([&mut own]) {
        assert_eq!(socket.close_code(Duration::from_secs(5)).await, Some(4502));
    }
    let (status, body) = worker.refused_connect(Some(&old), &query).await;
    assert_eq!(
        (status, error_code(&body)),
        (401, "token_revoked"),
        "{body}"
    );
    publish_topic(&worker, &crowd, "Cue", json!({"act": 1})).await;
    expect_topic_event(&mut other, &crowd, 1).await;

    // A token issued after the revoke reads again; a disconnect closes its topic socket too,
    // with 1012 (reconnect), and a logout with 4502 (signed once the token's second has come:
    // a logout closes the sessions that began until it was signed).
    let fresh = token_issued_at(&u, Some(now() + 1));
    for (reconnect, code) in [(true, 1012), (false, 4502)] {
        if !reconnect {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let mut socket = worker.connect_with(&fresh, &query).await.unwrap();
        assert_eq!(socket.next_json().await["type"], "subscribed");
        let body = json!({"user": u, "reconnect": reconnect}).to_string();
        let (status, answer) = worker.post_signed("/disconnect", &body, &[]).await;
        assert_eq!(
            (status, answer["sockets"].as_u64()),
            (200, Some(1)),
            "{answer}"
        );
        assert_eq!(socket.close_code(Duration::from_secs(5)).await, Some(code));
    }
}

pub async fn a_sharded_topic_costs_one_request_per_shard_not_per_reader(worker: Shared) {
    let crowd = topic("crowd", "stage");
    let query = format!("topic={crowd}");
    let mut readers = Vec::new();
    for i in 0..40 {
        readers.push(
            topic_socket(&worker, &user(&format!("viewer{i}")), &query)
                .await
                .0,
        );
    }
    let published = publish_topic(&worker, &crowd, "Cue", json!({"act": 1})).await;
    assert_eq!(published["sockets"], 40, "{published}");
    // 40 readers of 40 users: one request per shard holding sockets (4 shards), not 40.
    let relays = published["relays"].as_u64().unwrap();
    assert!((1..=4).contains(&relays), "{published}");
    for reader in &mut readers {
        expect_topic_event(reader, &crowd, 1).await;
    }
    // A topic socket resumes like a subscription.
    publish_topic(&worker, &crowd, "Cue", json!({"act": 2})).await;
    let (mut late, first) = topic_socket(&worker, &user("late"), &format!("{query}&since=0")).await;
    assert_eq!(
        (first["recovered"].as_bool(), first["last_id"].as_u64()),
        (Some(true), Some(2))
    );
    expect_topic_event(&mut late, &crowd, 1).await;
    expect_topic_event(&mut late, &crowd, 2).await;
    for reader in &mut readers {
        expect_topic_event(reader, &crowd, 2).await;
    }
    // Topic sockets are for namespaces with shards, and for topics the user may read.
    let owner = user("crowd-owner");
    for (query, status, code) in [
        (format!("topic=product:{owner}"), 400, "invalid_topic"),
        (format!("topic=orders:%23{owner}"), 403, "topic_forbidden"),
        ("topic=crowd:*".to_owned(), 400, "invalid_topic"),
        ("topic=nope:1".to_owned(), 400, "unknown_namespace"),
    ] {
        let (got, body) = worker
            .refused_connect(Some(&worker.token("7", 600)), &query)
            .await;
        assert_eq!((got, error_code(&body)), (status, code), "{query}: {body}");
    }
    // And a namespace with shards has topic sockets only: a subscription over the user's
    // connection, or one the backend makes, would cost a request per reading user.
    let mut tab = worker.connect(&owner).await;
    tab.next_json().await;
    subscribe(&mut tab, &[&crowd]).await;
    let refused = tab.next_json().await;
    assert_eq!(
        (refused["type"].as_str(), refused["topic"].as_str()),
        (Some("unsubscribed"), Some(crowd.as_str())),
        "{refused}"
    );
    assert_eq!(
        refused["error"]["code"], "topic_socket_required",
        "{refused}"
    );
    let body = json!({"user": owner, "topics": [crowd]}).to_string();
    let (status, answer) = worker.post_signed("/subscribe", &body, &[]).await;
    assert_eq!(
        (status, error_code(&answer)),
        (400, "topic_socket_required"),
        "{answer}"
    );
}

/// Reads frames until the notices say `count` sockets and `presence` changes (in order) were
/// seen; returns the frames. Panics when nothing more comes for 5 s.
async fn until_notices(socket: &mut Socket, count: u64, presence: &[(String, bool)]) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let (occupancy, changes) = notices(&frames);
        if occupancy == Some(count) && changes.ends_with(presence) {
            return frames;
        }
        match socket.next(Duration::from_secs(5)).await {
            Seen::Json(frame) => frames.push(frame),
            other => panic!("waiting for {count} and {presence:?}, got {other:?} after {frames:?}"),
        }
    }
}

/// The last `occupancy` count among `frames`, and the `presence` changes, in order.
fn notices(frames: &[Value]) -> (Option<u64>, Vec<(String, bool)>) {
    let occupancy = frames
        .iter()
        .filter(|f| f["type"] == "occupancy")
        .filter_map(|f| f["count"].as_u64())
        .next_back();
    let presence = frames
        .iter()
        .filter(|f| f["type"] == "presence")
        .map(|f| {
            (
                f["user"].as_str().unwrap().to_owned(),
                f["present"].as_bool().unwrap(),
            )
        })
        .collect();
    (occupancy, presence)
}

/// A signed `GET /presence?<query>`.
async fn presence(worker: &Worker, query: &str) -> Value {
    let path = format!("/presence?{query}");
    let signature = edgepush_e2e::test_signing_key().sign(now(), "GET", &path, b"");
    let (status, body) = worker
        .get_with_headers(&path, &[(SIGNATURE_HEADER, signature.as_str())])
        .await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

pub async fn presence_tells_who_is_online_and_who_reads_a_topic(worker: Shared) {
    let (a, b) = (user("present-a"), user("present-b"));
    let live = topic("live", "room");
    let offline = presence(&worker, &format!("user={a}")).await;
    assert_eq!(offline, json!({"user": a, "online": false, "sockets": 0}));
    let mut a_tab = worker.connect(&a).await;
    a_tab.next_json().await;
    subscribed(&mut a_tab, &live).await;
    until_notices(&mut a_tab, 1, &[]).await;
    let online = presence(&worker, &format!("user={a}")).await;
    assert_eq!(
        (online["online"].as_bool(), online["sockets"].as_u64()),
        (Some(true), Some(1))
    );

    let mut b_tab = worker.connect(&b).await;
    b_tab.next_json().await;
    subscribed(&mut b_tab, &live).await;
    until_notices(&mut a_tab, 2, &[(b.clone(), true)]).await;
    let on_topic = presence(&worker, &format!("topic={live}")).await;
    assert_eq!(on_topic["occupancy"], 2, "{on_topic}");
    let mut users: Vec<&str> = on_topic["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    users.sort_unstable();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort_unstable();
    assert_eq!(users, expected);

    b_tab.close().await;
    until_notices(&mut a_tab, 1, &[(b.clone(), false)]).await;
    // Nothing changed: nothing is sent.
    expect_silence(&mut a_tab).await;

    let (status, body) = worker.request("GET", "/presence?user=x").await;
    assert_eq!((status, error_code(&body)), (401, "missing_signature"));
}

pub async fn the_viewer_count_of_a_sharded_topic_follows_its_sockets(worker: Shared) {
    let crowd = topic("crowd", "viewers");
    let query = format!("topic={crowd}");
    let mut viewers = Vec::new();
    for i in 0..5 {
        viewers.push(
            topic_socket(&worker, &user(&format!("v{i}")), &query)
                .await
                .0,
        );
    }
    until_notices(&mut viewers[0], 5, &[]).await;
    for viewer in viewers.drain(3..) {
        viewer.close().await;
    }
    until_notices(&mut viewers[0], 3, &[]).await;
    assert_eq!(
        presence(&worker, &format!("topic={crowd}")).await["occupancy"],
        3
    );
}

pub async fn the_backend_subscribes_a_user_for_every_socket(worker: Shared) {
    let u = user("backend-subs");
    let feed = topic("feed", "backend");
    let mut first = worker.connect(&u).await;
    first.next_json().await;
    let body = json!({"user": u, "topics": [feed]}).to_string();
    let (status, answer) = worker.post_signed("/subscribe", &body, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["sockets"], 1, "{answer}");
    let frame = first.next_json().await;
    assert_eq!(
        (frame["type"].as_str(), frame["topic"].as_str()),
        (Some("subscribed"), Some(feed.as_str()))
    );

    // A later socket is subscribed right after its welcome; so is one whose token says `subs`.
    let mut later = worker.connect(&u).await;
    assert_eq!(later.next_json().await["type"], "welcome");
    assert_eq!(later.next_json().await["type"], "subscribed");
    let by_token = topic("feed", "token-subs");
    let mut with_subs = claims(&u, 600);
    with_subs.subs = vec![by_token.clone()];
    let mut third = worker.connect_with(&mint(&with_subs), "").await.unwrap();
    third.next_json().await;
    let answers = answers(&mut third, 2).await;
    assert!(
        answers.values().all(|f| f["type"] == "subscribed"),
        "{answers:?}"
    );

    let published = publish_topic(&worker, &feed, "News", json!(1)).await;
    assert_eq!(published["sockets"], 3, "{published}");
    for socket in [&mut first, &mut later, &mut third] {
        expect_topic_event(socket, &feed, 1).await;
    }
    let (status, answer) = worker.post_signed("/unsubscribe", &body, &[]).await;
    assert_eq!(
        (status, answer["sockets"].as_u64()),
        (200, Some(3)),
        "{answer}"
    );
    let published = publish_topic(&worker, &feed, "News", json!(2)).await;
    assert_eq!(published["sockets"], 0, "{published}");
    expect_silence(&mut first).await;

    for (topics, code) in [
        (json!(["feed:*"]), "invalid_topic"),
        (json!(["nope:1"]), "unknown_namespace"),
        (json!([]), "invalid_field"),
    ] {
        let body = json!({"user": u, "topics": topics}).to_string();
        let (status, answer) = worker.post_signed("/subscribe", &body, &[]).await;
        assert_eq!((status, error_code(&answer)), (400, code), "{answer}");
    }

    // A topic the user may not read by itself: the SDK resumes the backend's subscription with
    // its own subscribe (no token), which is refused, and the subscription stays.
    let orders = topic("orders", "backend");
    let body = json!({"user": u, "topics": [orders]}).to_string();
    let (status, answer) = worker.post_signed("/subscribe", &body, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(first.next_json().await["type"], "subscribed");
    let resume = json!({"type": "subscribe", "topics": [{"topic": orders, "since": 0}]});
    first.send_text(&resume.to_string()).await;
    let refused = first.next_json().await;
    assert_eq!(refused["error"]["code"], "topic_forbidden", "{refused}");
    publish_topic(&worker, &orders, "Shipped", json!(1)).await;
    expect_topic_event(&mut first, &orders, 1).await;
}
