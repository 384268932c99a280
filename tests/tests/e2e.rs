//! End-to-end: the built worker under `wrangler dev`, real WebSocket and HTTP clients.
//! Most tests share one worker (each with its own users); tests that restart or configure the
//! server start their own.

// A failed unwrap is a failed test here, with its location.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use edgepush_e2e::{Seen, Socket, Worker, claims, ids, mint, now, test_env};
use edgepush_protocol::frames::PING;
use edgepush_protocol::publish::{MAX_BATCH_EVENTS, MAX_BODY_BYTES, MAX_PAYLOAD_BYTES};
use edgepush_protocol::signature::{SIGNATURE_HEADER, SigningKey};
use edgepush_protocol::token::{Claims, TokenKey};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{Value, json};

#[path = "e2e/mercure.rs"]
mod mercure;
#[path = "e2e/topics.rs"]
mod topics;
#[path = "e2e/webhooks.rs"]
mod webhooks;

use mercure::*;
use topics::*;
use webhooks::*;

type Shared = Arc<Worker>;

fn main() {
    let args = Arguments::from_args();
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let shared: Shared = Arc::new(Worker::start("shared"));

    let mut trials = Vec::new();
    macro_rules! shared_test {
        ($name:ident) => {{
            let (rt, w) = (runtime.clone(), shared.clone());
            trials.push(Trial::test(stringify!($name), move || run(&rt, $name(w))));
        }};
    }
    macro_rules! own_test {
        ($name:ident) => {{
            let rt = runtime.clone();
            trials.push(Trial::test(stringify!($name), move || run(&rt, $name())));
        }};
    }
    shared_test!(health_answers_ok);
    shared_test!(every_socket_of_a_user_receives_every_event);
    shared_test!(no_user_ever_sees_another_users_events);
    shared_test!(the_subprotocol_is_echoed_and_the_query_token_works);
    shared_test!(bad_publish_requests_get_precise_errors_and_break_nothing);
    shared_test!(a_chunked_body_is_capped_as_it_arrives);
    shared_test!(bad_connect_tokens_are_refused_before_any_room);
    shared_test!(browsers_get_refusals_in_band_when_they_ask);
    shared_test!(an_expiring_token_closes_the_socket_with_4001);
    shared_test!(a_burst_arrives_in_order);
    shared_test!(a_batch_reaches_many_users);
    shared_test!(legacy_shape_and_rotated_key_publish);
    shared_test!(garbage_frames_do_not_hurt_the_room);
    shared_test!(disconnect_closes_with_reconnect_or_revoked);
    shared_test!(an_idle_room_keeps_its_sockets_through_hibernation);
    shared_test!(resume_replays_exactly_the_missed_events);
    shared_test!(offline_events_are_delivered_on_connect);
    shared_test!(an_unknown_epoch_is_reported_as_not_recovered);
    shared_test!(idempotent_retries_store_once);
    shared_test!(concurrent_publishers_give_every_socket_one_order);
    shared_test!(far_future_tokens_connect);
    shared_test!(a_token_is_refused_from_its_exp_on);
    shared_test!(a_reused_idempotency_key_with_another_event_is_a_conflict);
    shared_test!(logout_and_revoke_refuse_old_tokens_and_admit_new_ones);
    shared_test!(the_frame_budget_trips_at_its_limit_and_heartbeats_are_free);
    shared_test!(topic_events_reach_every_subscriber_and_no_one_else);
    shared_test!(no_name_trick_reads_a_topic_that_is_not_granted);
    shared_test!(grants_and_subscription_tokens_open_private_topics);
    shared_test!(a_subscription_resumes_after_a_reconnect);
    shared_test!(publishing_to_topics_validates_first_and_is_idempotent);
    shared_test!(a_page_subscribes_to_1024_topics);
    shared_test!(a_sharded_topic_costs_one_request_per_shard_not_per_reader);
    shared_test!(revoke_and_logout_reach_topic_sockets);
    shared_test!(presence_tells_who_is_online_and_who_reads_a_topic);
    shared_test!(the_backend_subscribes_a_user_for_every_socket);
    shared_test!(mercure_updates_reach_event_sources_and_sdk_clients_in_one_topic_space);
    shared_test!(private_mercure_updates_reach_only_subscribers_who_may_read_them);
    shared_test!(a_mercure_subscriber_resumes_after_its_last_event_id);
    shared_test!(a_subscription_to_many_topics_resumes_each_after_the_last_event_id);
    shared_test!(the_mercure_hub_refuses_bad_requests_as_a_hub_does);
    shared_test!(template_and_star_subscriptions_read_every_matching_topic);
    shared_test!(mercure_reads_edgepush_topics_only_as_the_sdk_may);
    shared_test!(mercure_heartbeats_keep_their_pace_while_only_unreadable_updates_arrive);
    shared_test!(a_mercure_subscription_loses_no_update_while_its_other_topics_connect);
    shared_test!(the_viewer_count_of_a_sharded_topic_follows_its_sockets);
    own_test!(acknowledged_topic_events_survive_a_hard_kill);
    own_test!(revocation_survives_a_restart_and_a_reconnect_storm_trips_nothing);
    own_test!(the_socket_cap_trips_at_its_limit);
    own_test!(webhooks_tell_the_backend_who_comes_and_goes_signed_and_retried);
    own_test!(the_connect_rate_trips_at_its_limit_per_token_and_per_user);
    own_test!(a_full_history_of_large_events_replays_completely);
    own_test!(a_failing_room_fails_only_its_events_and_is_refused_in_band);
    own_test!(a_failed_mercure_publish_names_the_id_to_publish_it_again_with);
    own_test!(a_bad_history_setting_is_named_not_retried);
    own_test!(history_overflow_is_reported_as_not_recovered);
    own_test!(old_events_and_idempotency_keys_expire);
    own_test!(acknowledged_events_survive_a_hard_kill);

    // Trials run on one thread each; the shared worker is stopped when the last one ends.
    let conclusion = libtest_mimic::run(&args, trials);
    drop(shared);
    conclusion.exit();
}

fn run(runtime: &tokio::runtime::Runtime, test: impl Future<Output = ()>) -> Result<(), Failed> {
    runtime.block_on(test);
    Ok(())
}

/// A user id unique to this test run.
fn user(tag: &str) -> String {
    format!("{tag}-{}", std::process::id())
}

async fn expect_event(socket: &mut Socket, name: &str) -> Value {
    let frame = socket.next_json().await;
    assert_eq!(frame["type"], "event", "{frame}");
    assert_eq!(frame["name"], name, "{frame}");
    frame
}

async fn expect_silence(socket: &mut Socket) {
    match socket.next(Duration::from_millis(700)).await {
        Seen::Nothing => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

async fn health_answers_ok(worker: Shared) {
    let (status, body) = worker.request("GET", "/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
}

async fn every_socket_of_a_user_receives_every_event(worker: Shared) {
    let u = user("tabs");
    let mut tabs = worker.connect_tabs(&u, 3).await;
    let published = worker
        .publish_event(&u, "Message", json!({"text": "hi"}))
        .await;
    assert_eq!(published["sockets"], 3);
    assert_eq!(published["user"], u.as_str());
    for tab in &mut tabs {
        let event = expect_event(tab, "Message").await;
        assert_eq!(event["payload"], json!({"text": "hi"}));
        assert_eq!(event["id"], published["id"]);
        assert!(event["ts"].as_u64().unwrap() > 1_700_000_000_000);
    }
}

async fn no_user_ever_sees_another_users_events(worker: Shared) {
    let (a, b) = (user("alice"), user("bob"));
    let mut alice = worker.connect(&a).await;
    alice.next_json().await;
    let mut bob = worker.connect(&b).await;
    bob.next_json().await;
    worker
        .publish_event(&b, "Message", json!({"text": "for bob"}))
        .await;
    expect_event(&mut bob, "Message").await;
    expect_silence(&mut alice).await;

    // A token for alice with its sub changed to bob's is refused, whatever else is kept.
    let token = worker.token(&a, 3600);
    let parts: Vec<&str> = token.split('.').collect();
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub": b, "exp": now() + 3600}).to_string());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert!(worker.connect_with(&tampered, "").await.is_err());
    let (status, body) = worker.refused_connect(Some(&tampered), "").await;
    assert_eq!((status, error_code(&body)), (401, "invalid_token"));
}

async fn the_subprotocol_is_echoed_and_the_query_token_works(worker: Shared) {
    let u = user("proto");
    let socket = worker.connect(&u).await;
    assert_eq!(socket.subprotocol.as_deref(), Some("edgepush.v1"));
    let token = worker.token(&u, 60);
    let request = format!("{}token={token}", worker.connect_url(""));
    let mut socket = edgepush_e2e::connect_request(
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(request)
            .unwrap(),
    )
    .await
    .expect("query token accepted");
    assert_eq!(socket.next_json().await["user"], u.as_str());
}

async fn bad_publish_requests_get_precise_errors_and_break_nothing(worker: Shared) {
    let good = json!({"user": "x", "name": "Message", "payload": {"text": "hi"}}).to_string();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("malformed JSON", r#"{"user":"#.into(), 400, "invalid_json"),
        ("not an object", "[1]".into(), 400, "invalid_field"),
        (
            "missing user",
            r#"{"name":"X"}"#.into(),
            400,
            "invalid_field",
        ),
        (
            "missing name",
            r#"{"user":"1"}"#.into(),
            400,
            "invalid_field",
        ),
        (
            "empty user",
            r#"{"user":"","name":"X"}"#.into(),
            400,
            "invalid_field",
        ),
        (
            "empty name",
            r#"{"user":"1","name":""}"#.into(),
            400,
            "invalid_field",
        ),
        (
            "wrong type",
            r#"{"user":true,"name":"X"}"#.into(),
            400,
            "invalid_field",
        ),
        (
            "payload too large",
            json!({"user":"1","name":"X","payload":"x".repeat(MAX_PAYLOAD_BYTES)}).to_string(),
            413,
            "payload_too_large",
        ),
        (
            "batch too large",
            json!({"events": vec![json!({"user":"1","name":"X"}); MAX_BATCH_EVENTS + 1]})
                .to_string(),
            413,
            "batch_too_large",
        ),
        (
            "body too large",
            "x".repeat(MAX_BODY_BYTES + 1),
            413,
            "payload_too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, answer) = worker.post_signed("/publish", &body, &[]).await;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{what}: {answer}"
        );
        assert!(
            !answer["error"]["message"].as_str().unwrap().is_empty(),
            "{what}"
        );
    }
    let field = worker
        .post_signed(
            "/publish",
            r#"{"events":[{"user":"1","name":"X"},{"user":"2"}]}"#,
            &[],
        )
        .await
        .1;
    assert!(
        field["error"]["message"]
            .as_str()
            .unwrap()
            .contains("events[1].name"),
        "{field}"
    );

    let key = edgepush_e2e::test_signing_key();
    let sign =
        |key: &SigningKey, t: i64, body: &str| key.sign(t, "POST", "/publish", body.as_bytes());
    let stranger = SigningKey::new(
        &test_env("EDGEPUSH_TEST_KEY_ID"),
        b"another-secret-another-secret-xxxx",
    )
    .unwrap();
    let unknown = SigningKey::new("nobody", b"another-secret-another-secret-xxxx").unwrap();
    let signatures: Vec<(&str, Option<String>, &str)> = vec![
        ("no signature", None, "missing_signature"),
        (
            "garbage signature",
            Some("nonsense".into()),
            "invalid_signature",
        ),
        (
            "wrong secret",
            Some(sign(&stranger, now(), &good)),
            "invalid_signature",
        ),
        (
            "other body",
            Some(sign(&key, now(), "{}")),
            "invalid_signature",
        ),
        (
            "stale timestamp",
            Some(sign(&key, now() - 301, &good)),
            "stale_timestamp",
        ),
        (
            "unknown key id",
            Some(sign(&unknown, now(), &good)),
            "unknown_key",
        ),
    ];
    for (what, header, code) in signatures {
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| (SIGNATURE_HEADER, h.as_str()))
            .collect();
        let (status, answer) = worker.post("/publish", &good, &headers).await;
        assert_eq!(
            (status, error_code(&answer)),
            (401, code),
            "{what}: {answer}"
        );
    }
    for (method, path, status, code) in [
        ("GET", "/publish", 405, "method_not_allowed"),
        ("PUT", "/publish", 405, "method_not_allowed"),
        ("POST", "/connect", 405, "method_not_allowed"),
        ("GET", "/nowhere", 404, "not_found"),
        ("GET", "/connect", 426, "upgrade_required"),
        // A method the runtime's Rust binding does not know is not taken for a GET.
        ("PROPFIND", "/presence", 405, "method_not_allowed"),
        ("PROPFIND", "/health", 405, "method_not_allowed"),
    ] {
        let (got, answer) = worker.request(method, path).await;
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{method} {path}: {answer}"
        );
    }
    // And the next request still works.
    let published = worker
        .publish_event(&user("after-bad"), "Message", json!({}))
        .await;
    assert_eq!(published["id"], 1);
}

/// Sends `POST path` with `headers` and the first `sent` bytes of a chunked body (no
/// Content-Length), ended only if `finish`; returns the status the worker answers within 10 s.
async fn post_chunked(
    worker: &Worker,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    finish: bool,
) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = worker.base_url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(16 * 1024) {
        let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
        chunk.extend_from_slice(piece);
        chunk.extend_from_slice(b"\r\n");
        // The worker may answer (and stop reading) before the whole body is sent.
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    if finish {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = vec![0; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer)).await;
    let read = read.ok()?.ok()?;
    let line = String::from_utf8_lossy(&answer[..read]).into_owned();
    line.split(' ').nth(1)?.parse().ok()
}

async fn a_chunked_body_is_capped_as_it_arrives(worker: Shared) {
    // A chunked body (no Content-Length) is read piece by piece: past the limit the request is
    // refused at once, while the client is still sending, never buffered whole.
    let huge = vec![b'x'; MAX_BODY_BYTES + 256 * 1024];
    assert_eq!(
        post_chunked(&worker, "/publish", &[], &huge, false).await,
        Some(413)
    );
    // One within the limit is read to its end and verified as any other.
    let u = user("chunked");
    let mut socket = worker.connect(&u).await;
    socket.next_json().await;
    let body = json!({"user": u, "name": "Message", "payload": "x".repeat(60_000)}).to_string();
    let signature =
        edgepush_e2e::test_signing_key().sign(now(), "POST", "/publish", body.as_bytes());
    let headers = [(SIGNATURE_HEADER, signature.as_str())];
    assert_eq!(
        post_chunked(&worker, "/publish", &headers, body.as_bytes(), true).await,
        Some(202)
    );
    expect_event(&mut socket, "Message").await;
}

async fn bad_connect_tokens_are_refused_before_any_room(worker: Shared) {
    let u = user("badtok");
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims_json = |exp: i64| json!({"sub": u, "exp": exp}).to_string();
    let claims_of = |c: Claims| mint(&c);
    let base = claims(&u, 600);
    let hs512 = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"HS512"}"#),
        b64(&claims_json(now() + 600)),
        b64("sig")
    );
    let good = worker.token(&u, 600);
    let parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let cases: Vec<(&str, String, &str)> = vec![
        ("expired", worker.token(&u, -120), "token_expired"),
        (
            "not yet valid",
            claims_of(Claims {
                nbf: Some(now() + 600),
                ..base.clone()
            }),
            "token_not_yet_valid",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none"}"#),
                b64(&claims_json(now() + 600))
            ),
            "unsupported_algorithm",
        ),
        ("another algorithm", hs512, "unsupported_algorithm"),
        (
            "wrong secret",
            TokenKey::new(b"wrong-secret-wrong-secret-wrong-secret")
                .unwrap()
                .mint(&base),
            "invalid_token",
        ),
        (
            "tampered",
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&claims_json(now() + 99_999)),
                parts[2]
            ),
            "invalid_token",
        ),
        (
            "two segments",
            format!("{}.{}", parts[0], parts[1]),
            "invalid_token",
        ),
        (
            "bad base64",
            format!("{}.***.{}", parts[0], parts[2]),
            "invalid_token",
        ),
        (
            "bad JSON",
            format!("{}.{}.{}", b64("{"), parts[1], parts[2]),
            "invalid_token",
        ),
        ("oversized", "a".repeat(5000), "token_too_large"),
    ];
    for (what, token, code) in cases {
        assert!(
            worker.connect_with(&token, "").await.is_err(),
            "{what} was accepted"
        );
        let (status, body) = worker.refused_connect(Some(&token), "").await;
        assert_eq!((status, error_code(&body)), (401, code), "{what}: {body}");
    }
    let (status, body) = worker.refused_connect(None, "").await;
    assert_eq!((status, error_code(&body)), (401, "missing_token"));
    let (status, body) = worker.refused_connect(Some(&good), "since=abc").await;
    assert_eq!(
        (status, error_code(&body)),
        (400, "invalid_field"),
        "{body}"
    );
    // The room was never touched: the user has no events and a good token still works.
    let mut socket = worker.connect(&u).await;
    assert_eq!(socket.next_json().await["last_id"], 0);
}

async fn browsers_get_refusals_in_band_when_they_ask(worker: Shared) {
    // Browsers cannot read a refused upgrade; with refusal=close they get the reason and a close
    // code from the shared table instead, and no room is touched.
    let u = user("inband");
    let expired = worker.token(&u, -120);
    let fresh = worker.token(&u, 600);
    let forged = TokenKey::new(b"wrong-secret-wrong-secret-wrong-secret")
        .unwrap()
        .mint(&claims(&u, 600));
    for (token, query, close, code) in [
        (expired.as_str(), "refusal=close", 4001, "token_expired"),
        (forged.as_str(), "refusal=close", 4500, "invalid_token"),
        (
            fresh.as_str(),
            "refusal=close&since=x",
            4501,
            "invalid_field",
        ),
    ] {
        expect_refused_in_band_to(&worker, token, query, code, close).await;
    }
    let mut socket = worker.connect(&u).await;
    assert_eq!(
        socket.next_json().await["last_id"],
        0,
        "the room was never touched"
    );
}

async fn an_expiring_token_closes_the_socket_with_4001(worker: Shared) {
    let u = user("expiring");
    let token = mint(&claims(&u, 2));
    let mut socket = worker.connect_with(&token, "").await.expect("accepted");
    let welcome = socket.next_json().await;
    let expires_at = welcome["token_expires_at"]
        .as_i64()
        .expect("token_expires_at");
    assert!((now()..=now() + 2).contains(&expires_at), "{welcome}");
    match socket.next(Duration::from_secs(15)).await {
        Seen::Closed(code, reason) => assert_eq!((code, reason.as_str()), (4001, "token_expired")),
        other => panic!("expected close 4001, got {other:?}"),
    }
}

async fn a_burst_arrives_in_order(worker: Shared) {
    let u = user("burst");
    let mut socket = worker.connect(&u).await;
    socket.next_json().await;
    for i in 0..50 {
        worker.publish_event(&u, "Tick", json!({"i": i})).await;
    }
    for i in 0..50u64 {
        let event = expect_event(&mut socket, "Tick").await;
        assert_eq!(
            (event["id"].as_u64(), event["payload"]["i"].as_u64()),
            (Some(i + 1), Some(i))
        );
    }
}

async fn a_batch_reaches_many_users(worker: Shared) {
    let users: Vec<String> = (0..20).map(|i| user(&format!("batch{i}"))).collect();
    let mut sockets = Vec::new();
    for u in &users {
        sockets.extend(worker.connect_tabs(u, 1).await);
    }
    let events: Vec<Value> = users
        .iter()
        .map(|u| json!({"user": u, "name": "Message", "payload": {"for": u}}))
        .collect();
    let (status, answer) = worker
        .post_signed("/publish", &json!({"events": events}).to_string(), &[])
        .await;
    assert_eq!(status, 202, "{answer}");
    for (i, (u, socket)) in users.iter().zip(&mut sockets).enumerate() {
        assert_eq!(answer["events"][i]["user"], u.as_str());
        assert_eq!(answer["events"][i]["sockets"], 1);
        let event = expect_event(socket, "Message").await;
        assert_eq!(event["payload"]["for"], u.as_str());
        expect_silence(socket).await;
    }
}

async fn legacy_shape_and_rotated_key_publish(worker: Shared) {
    let u = "918273645";
    let mut socket = worker.connect(u).await;
    socket.next_json().await;
    let body = json!({"UserId": 918273645u64, "Name": "Background", "Payload": {"color": "red"}})
        .to_string();
    let rotated = SigningKey::new(
        &test_env("EDGEPUSH_TEST_ROTATED_KEY_ID"),
        test_env("EDGEPUSH_TEST_ROTATED_SECRET").as_bytes(),
    )
    .unwrap();
    let signature = rotated.sign(now(), "POST", "/publish", body.as_bytes());
    let (status, answer) = worker
        .post("/publish", &body, &[(SIGNATURE_HEADER, &signature)])
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["events"][0]["user"], u);
    let event = expect_event(&mut socket, "Background").await;
    assert_eq!(event["payload"]["color"], "red");
}

async fn garbage_frames_do_not_hurt_the_room(worker: Shared) {
    let u = user("garbage");
    let mut socket = worker.connect(&u).await;
    socket.next_json().await;
    socket.send_text(PING).await;
    assert_eq!(socket.next_json().await["type"], "pong");
    for garbage in [
        "not json",
        "{\"type\":\"subscribe\"}",
        "{}",
        &"x".repeat(10_000),
    ] {
        socket.send_text(garbage).await;
        let answer = socket.next_json().await;
        assert_eq!(
            (answer["type"].as_str(), answer["code"].as_str()),
            (Some("error"), Some("invalid_frame")),
            "{answer}"
        );
    }
    socket.send_binary(&[0, 159, 146, 150]).await;
    assert_eq!(socket.next_json().await["code"], "invalid_frame");
    worker
        .publish_event(&u, "Message", json!({"text": "still alive"}))
        .await;
    assert_eq!(
        expect_event(&mut socket, "Message").await["payload"]["text"],
        "still alive"
    );
}

async fn disconnect_closes_with_reconnect_or_revoked(worker: Shared) {
    for (reconnect, code) in [(true, 1012), (false, 4502)] {
        let u = user(&format!("kick{reconnect}"));
        let mut socket = worker.connect(&u).await;
        socket.next_json().await;
        let (status, answer) = worker
            .post_signed(
                "/disconnect",
                &json!({"user": u, "reconnect": reconnect}).to_string(),
                &[],
            )
            .await;
        assert_eq!(
            (status, answer["sockets"].as_u64()),
            (200, Some(1)),
            "{answer}"
        );
        match socket.next(Duration::from_secs(5)).await {
            Seen::Closed(got, _) => assert_eq!(got, code),
            other => panic!("expected close {code}, got {other:?}"),
        }
    }
    let (status, answer) = worker
        .post_signed("/disconnect", r#"{"reconnect":true}"#, &[])
        .await;
    assert_eq!((status, error_code(&answer)), (400, "invalid_field"));
}

async fn an_idle_room_keeps_its_sockets_through_hibernation(worker: Shared) {
    // workerd evicts an idle Durable Object after about 10 s; its hibernated sockets stay open,
    // heartbeats are answered without it, and the next publish wakes it and reaches them.
    let u = user("idle");
    let mut socket = worker.connect(&u).await;
    socket.next_json().await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    socket.send_text(PING).await;
    assert_eq!(socket.next_json().await["type"], "pong");
    let published = worker
        .publish_event(&u, "Message", json!({"text": "awake"}))
        .await;
    assert_eq!(published["sockets"], 1);
    assert_eq!(
        expect_event(&mut socket, "Message").await["payload"]["text"],
        "awake"
    );
}

async fn resume_replays_exactly_the_missed_events(worker: Shared) {
    let u = user("resume");
    let mut socket = worker.connect(&u).await;
    let welcome = socket.next_json().await;
    let epoch = welcome["epoch"].as_str().unwrap().to_owned();
    worker.publish_event(&u, "First", json!(null)).await;
    let last = expect_event(&mut socket, "First").await["id"]
        .as_u64()
        .unwrap();
    socket.close().await;
    for i in 0..100 {
        worker.publish_event(&u, "Missed", json!({"i": i})).await;
    }
    let token = worker.token(&u, 600);
    let mut socket = worker
        .connect_with(&token, &format!("since={last}&epoch={epoch}"))
        .await
        .unwrap();
    let (welcome, events) = socket.welcome_then_events(100).await;
    assert_eq!(welcome["recovered"], true);
    assert_eq!(ids(&events), (last + 1..=last + 100).collect::<Vec<_>>());
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["payload"]["i"], i);
    }
    expect_silence(&mut socket).await;
    worker.publish_event(&u, "Live", json!(null)).await;
    assert_eq!(expect_event(&mut socket, "Live").await["id"], last + 101);
}

async fn offline_events_are_delivered_on_connect(worker: Shared) {
    let u = user("offline");
    for i in 0..3 {
        let published = worker.publish_event(&u, "Message", json!({"i": i})).await;
        assert_eq!(published["sockets"], 0);
    }
    let token = worker.token(&u, 600);
    let mut socket = worker.connect_with(&token, "since=0").await.unwrap();
    let (welcome, events) = socket.welcome_then_events(3).await;
    assert_eq!(
        (welcome["recovered"].as_bool(), welcome["last_id"].as_u64()),
        (Some(true), Some(3))
    );
    assert_eq!(ids(&events), [1, 2, 3]);
}

async fn an_unknown_epoch_is_reported_as_not_recovered(worker: Shared) {
    let u = user("epoch");
    worker.publish_event(&u, "Message", json!(null)).await;
    let token = worker.token(&u, 600);
    let mut socket = worker
        .connect_with(&token, "since=0&epoch=from-another-life")
        .await
        .unwrap();
    let welcome = socket.next_json().await;
    assert_eq!(welcome["recovered"], false);
    assert_ne!(welcome["epoch"], "from-another-life");
    expect_silence(&mut socket).await;
}

async fn idempotent_retries_store_once(worker: Shared) {
    let u = user("idem");
    let mut socket = worker.connect(&u).await;
    socket.next_json().await;
    let body = json!({"events": [{"user": u, "name": "A"}, {"user": u, "name": "B"}]}).to_string();
    let first = worker
        .post_signed("/publish", &body, &[("Idempotency-Key", "order-77")])
        .await;
    let retry = worker
        .post_signed("/publish", &body, &[("Idempotency-Key", "order-77")])
        .await;
    assert_eq!((first.0, retry.0), (202, 202));
    for i in 0..2 {
        assert_eq!(first.1["events"][i]["id"], retry.1["events"][i]["id"]);
        assert_eq!(retry.1["events"][i]["duplicate"], true);
        assert_eq!(retry.1["events"][i]["sockets"], 0);
    }
    let per_event = json!({"user": u, "name": "C", "idempotency_key": "evt-1"}).to_string();
    let a = worker.post_signed("/publish", &per_event, &[]).await.1;
    let b = worker.post_signed("/publish", &per_event, &[]).await.1;
    assert_eq!(a["events"][0]["id"], b["events"][0]["id"]);
    assert_eq!(
        ids(&[
            expect_event(&mut socket, "A").await,
            expect_event(&mut socket, "B").await,
            expect_event(&mut socket, "C").await
        ]),
        [1, 2, 3]
    );
    expect_silence(&mut socket).await;
}

async fn concurrent_publishers_give_every_socket_one_order(worker: Shared) {
    let u = user("concurrent");
    let mut sockets = worker.connect_tabs(&u, 3).await;
    let publishers = (0..4).map(|p| {
        let worker = worker.clone();
        let u = u.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                worker
                    .publish_event(&u, "Tick", json!({"p": p, "i": i}))
                    .await;
            }
        })
    });
    for publisher in publishers.collect::<Vec<_>>() {
        publisher.await.unwrap();
    }
    let mut orders = Vec::new();
    for socket in &mut sockets {
        let mut seen = Vec::new();
        for _ in 0..60 {
            let e = expect_event(socket, "Tick").await;
            seen.push((e["id"].as_u64().unwrap(), e["payload"].to_string()));
        }
        assert_eq!(
            seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            (1..=60).collect::<Vec<_>>()
        );
        orders.push(seen);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every socket sees one total order"
    );
}

async fn history_overflow_is_reported_as_not_recovered() {
    let worker = Worker::start_with("overflow", &["--var", "HISTORY_MAX_EVENTS:5"]);
    let u = "overflow";
    for _ in 0..8 {
        worker.publish_event(u, "Message", json!(null)).await;
    }
    let token = worker.token(u, 600);
    let mut socket = worker.connect_with(&token, "since=1").await.unwrap();
    let (welcome, events) = socket.welcome_then_events(5).await;
    assert_eq!(welcome["recovered"], false, "{welcome}");
    assert_eq!(ids(&events), [4, 5, 6, 7, 8]);
    let mut socket = worker.connect_with(&token, "since=3").await.unwrap();
    let (welcome, events) = socket.welcome_then_events(5).await;
    assert_eq!(welcome["recovered"], true, "{welcome}");
    assert_eq!(ids(&events), [4, 5, 6, 7, 8]);
}

async fn old_events_and_idempotency_keys_expire() {
    let worker = Worker::start_with("expiry", &["--var", "HISTORY_MAX_AGE_SECONDS:2"]);
    let u = "ageing";
    let keyed = json!({"user": u, "name": "A", "idempotency_key": "once"}).to_string();
    let first = worker.post_signed("/publish", &keyed, &[]).await.1;
    assert_eq!(first["events"][0]["id"], 1, "{first}");
    worker.publish_event(u, "B", json!(null)).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Within the window the key still holds; past it, the same key is a new event.
    let again = worker.post_signed("/publish", &keyed, &[]).await.1;
    assert_ne!(again["events"][0]["duplicate"], true, "{again}");
    assert_eq!(again["events"][0]["id"], 3, "{again}");
    let token = worker.token(u, 600);
    let mut socket = worker.connect_with(&token, "since=0").await.unwrap();
    let (welcome, events) = socket.welcome_then_events(1).await;
    assert_eq!(
        welcome["recovered"], false,
        "events 1 and 2 aged out: {welcome}"
    );
    assert_eq!(ids(&events), [3]);
    let retry = worker.post_signed("/publish", &keyed, &[]).await.1;
    assert_eq!(retry["events"][0]["duplicate"], true, "{retry}");
    assert_eq!(retry["events"][0]["id"], 3, "{retry}");
}

async fn acknowledged_events_survive_a_hard_kill() {
    let mut worker = Worker::start("hardkill");
    let u = "survivor";
    let mut acknowledged = Vec::new();
    for i in 0..40 {
        let published = worker.publish_event(u, "Message", json!({"i": i})).await;
        acknowledged.push(published["id"].as_u64().unwrap());
    }
    worker.kill_hard();
    worker.start_again();
    let token = worker.token(u, 600);
    let mut socket = worker.connect_with(&token, "since=0").await.unwrap();
    let (welcome, events) = socket.welcome_then_events(acknowledged.len()).await;
    assert_eq!(welcome["recovered"], true);
    assert_eq!(ids(&events), acknowledged);
    expect_silence(&mut socket).await;
    assert_eq!(
        worker.publish_event(u, "After", json!(null)).await["id"],
        41
    );
}

async fn far_future_tokens_connect(worker: Shared) {
    // Common "never expires" values: year 2286, PHP_INT_MAX, Number.MAX_SAFE_INTEGER, 9999-12-31.
    for (i, exp) in [
        9_999_999_999,
        i64::MAX,
        9_007_199_254_740_991,
        253_402_300_799,
    ]
    .into_iter()
    .enumerate()
    {
        let u = user(&format!("forever{i}"));
        let mut claims = claims(&u, 0);
        claims.exp = exp;
        let mut socket = worker
            .connect_with(&mint(&claims), "refusal=close")
            .await
            .unwrap_or_else(|refused| panic!("exp {exp} refused: {refused:?}"));
        let welcome = socket.next_json().await;
        assert_eq!(welcome["type"], "welcome", "exp {exp}: {welcome}");
        worker.publish_event(&u, "Message", json!({"i": i})).await;
        expect_event(&mut socket, "Message").await;
    }
}

async fn a_token_is_refused_from_its_exp_on(worker: Shared) {
    // The edge and the room agree: no leeway on exp (the room would close such a socket at once).
    let u = user("exp-exact");
    for ttl in [0, -1, -29] {
        let (status, body) = worker
            .refused_connect(Some(&mint(&claims(&u, ttl))), "")
            .await;
        assert_eq!(
            (status, error_code(&body)),
            (401, "token_expired"),
            "ttl {ttl}"
        );
    }
}

async fn a_reused_idempotency_key_with_another_event_is_a_conflict(worker: Shared) {
    let u = user("conflict");
    let first = json!({"user": u, "name": "A", "payload": 1, "idempotency_key": "k"}).to_string();
    let (status, body) = worker.post_signed("/publish", &first, &[]).await;
    assert_eq!(
        (status, &body["events"][0]["id"]),
        (202, &json!(1)),
        "{body}"
    );
    let (status, body) = worker.post_signed("/publish", &first, &[]).await;
    assert_eq!(
        (status, &body["events"][0]["duplicate"]),
        (202, &json!(true)),
        "{body}"
    );
    let other = json!({"user": u, "name": "A", "payload": 2, "idempotency_key": "k"}).to_string();
    let (status, body) = worker.post_signed("/publish", &other, &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (409, "idempotency_conflict"),
        "{body}"
    );
    // In a batch, only the conflicting event is refused.
    let batch = json!({"events": [
        {"user": u, "name": "B", "idempotency_key": "k"},
        {"user": u, "name": "C"},
    ]})
    .to_string();
    let (status, body) = worker.post_signed("/publish", &batch, &[]).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        body["events"][0]["error"]["code"], "idempotency_conflict",
        "{body}"
    );
    assert_eq!(body["events"][1]["id"], 2, "{body}");
    // A header key and an event's own key of the same text are different keys.
    let keyed = json!({"events": [
        {"user": u, "name": "D"},
        {"user": u, "name": "D", "idempotency_key": "req:0"},
    ]})
    .to_string();
    let (status, body) = worker
        .post_signed("/publish", &keyed, &[("Idempotency-Key", "req")])
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (&body["events"][0]["id"], &body["events"][1]["id"]),
        (&json!(3), &json!(4)),
        "{body}"
    );
}

async fn a_full_history_of_large_events_replays_completely() {
    // 1,000 events of 60 KiB (the default history bound, near the payload limit): the room replays
    // them a page at a time instead of holding ~60 MB of rows and frames at once. On a worker of
    // its own: under `wrangler dev` every room shares one workerd process, and other tests'
    // sockets there were seen to drop (1006) while these 60 MB went through.
    let worker = Worker::start("bulky");
    let u = "bulky";
    let filler = "x".repeat(60 * 1024);
    for batch in 0..63 {
        let events: Vec<Value> = (0..16)
            .map(|i| batch * 16 + i)
            .filter(|n| *n < 1000)
            .map(|n| json!({"user": u, "name": "Big", "payload": {"n": n, "filler": filler}}))
            .collect();
        let body = json!({ "events": events }).to_string();
        let (status, answer) = worker.post_signed("/publish", &body, &[]).await;
        assert_eq!(status, 202, "{answer}");
    }
    let token = worker.token(u, 600);
    let mut socket = worker.connect_with(&token, "since=0").await.unwrap();
    let (welcome, events) = socket.welcome_then_events(1000).await;
    assert_eq!(welcome["recovered"], true, "{welcome}");
    assert_eq!(ids(&events), (1..=1000).collect::<Vec<_>>());
    assert!(
        events
            .iter()
            .all(|e| e["payload"]["filler"] == filler.as_str())
    );
    expect_silence(&mut socket).await;
}

/// The user name and event name whose room calls fail in the fault-injection worker.
const FAIL_MARKER: &str = "fail-here";

async fn a_failing_room_fails_only_its_events_and_is_refused_in_band() {
    let worker = Worker::start_with(
        "faults",
        &["--var", &format!("TEST_FAIL_MARKER:{FAIL_MARKER}")],
    );
    // A room that fails during connect: in-band 1011 for browsers, HTTP 500 for plain clients.
    let token = worker.token(FAIL_MARKER, 600);
    expect_refused_in_band(&worker, &token, "internal_error", 1011).await;
    expect_refused(&worker, &token, 500, "internal_error").await;

    // A batch where one user's room fails midway: that user's events are all rolled back and
    // listed as failed; the other user's are stored and delivered.
    let mut a = worker.connect("fine").await;
    a.next_json().await;
    let batch = json!({"events": [
        {"user": "fine", "name": "A"},
        {"user": "broken", "name": "B1"},
        {"user": "broken", "name": FAIL_MARKER},
        {"user": "fine", "name": "A2"},
    ]})
    .to_string();
    let (status, body) = worker.post_signed("/publish", &batch, &[]).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        (&body["events"][0]["id"], &body["events"][3]["id"]),
        (&json!(1), &json!(2)),
        "{body}"
    );
    for i in [1, 2] {
        assert_eq!(body["events"][i]["user"], "broken", "{body}");
        assert_eq!(
            body["events"][i]["error"]["code"], "internal_error",
            "{body}"
        );
        assert!(body["events"][i].get("id").is_none(), "{body}");
    }
    expect_event(&mut a, "A").await;
    expect_event(&mut a, "A2").await;
    // Nothing of the failed batch was kept: the room's next event is its first.
    let token = worker.token("broken", 600);
    let mut b = worker.connect_with(&token, "since=0").await.unwrap();
    let welcome = b.next_json().await;
    assert_eq!(welcome["last_id"], 0, "{welcome}");
    expect_silence(&mut b).await;
    assert_eq!(
        worker.publish_event("broken", "B1", json!(null)).await["id"],
        1
    );
    // When every event failed, the failure is the answer.
    let single = json!({"user": "broken", "name": FAIL_MARKER}).to_string();
    let (status, body) = worker.post_signed("/publish", &single, &[]).await;
    assert_eq!(
        (status, error_code(&body)),
        (500, "internal_error"),
        "{body}"
    );
}

async fn a_bad_history_setting_is_named_not_retried() {
    let worker = Worker::start_with("misconfigured", &["--var", "HISTORY_MAX_EVENTS:lots"]);
    // A health check tells it too, naming the setting.
    let (status, health) = worker.request("GET", "/health").await;
    assert_eq!(
        (status, error_code(&health)),
        (500, "server_misconfigured"),
        "{health}"
    );
    assert!(
        health.to_string().contains("HISTORY_MAX_EVENTS"),
        "{health}"
    );
    let body = json!({"user": "u", "name": "A"}).to_string();
    let (status, answer) = worker.post_signed("/publish", &body, &[]).await;
    assert_eq!(
        (status, error_code(&answer)),
        (500, "server_misconfigured"),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("HISTORY_MAX_EVENTS"),
        "{answer}"
    );
    let token = worker.token("u", 600);
    expect_refused_in_band(&worker, &token, "server_misconfigured", 1011).await;
}

/// Expects a plain (HTTP) refusal of `token` with `status` and `code`.
async fn expect_refused(worker: &Worker, token: &str, status: u16, code: &str) {
    let (got, body) = worker.refused_connect(Some(token), "").await;
    assert_eq!((got, error_code(&body)), (status, code), "{body}");
}

/// Expects an in-band refusal of a `refusal=close` connect: an `error` frame with `code`, then a
/// close with `close`.
async fn expect_refused_in_band(worker: &Worker, token: &str, code: &str, close: u16) -> Value {
    expect_refused_in_band_to(worker, token, "refusal=close", code, close).await
}

/// [`expect_refused_in_band`] for a connect with `query`; the subprotocol is echoed even then.
async fn expect_refused_in_band_to(
    worker: &Worker,
    token: &str,
    query: &str,
    code: &str,
    close: u16,
) -> Value {
    let mut socket = worker
        .connect_with(token, query)
        .await
        .expect("upgraded to report");
    assert_eq!(socket.subprotocol.as_deref(), Some("edgepush.v1"));
    let frame = socket.next_json().await;
    assert_eq!(
        (frame["type"].as_str(), frame["code"].as_str()),
        (Some("error"), Some(code)),
        "{frame}"
    );
    match socket.next(Duration::from_secs(5)).await {
        Seen::Closed(got, _) => assert_eq!(got, close, "{code}"),
        other => panic!("expected close {close}, got {other:?}"),
    }
    frame
}

fn token_issued_at(user: &str, iat: Option<i64>) -> String {
    let mut claims = claims(user, 600);
    claims.iat = iat;
    mint(&claims)
}

async fn logout_and_revoke_refuse_old_tokens_and_admit_new_ones(worker: Shared) {
    // Logout: POST /disconnect without reconnect closes the sockets and revokes every token
    // issued until then, so a copied token cannot come back.
    let u = user("logout");
    let old = token_issued_at(&u, Some(now() - 5));
    let mut socket = worker.connect_with(&old, "").await.unwrap();
    socket.next_json().await;
    let body = json!({"user": u, "reconnect": false}).to_string();
    assert_eq!(worker.post_signed("/disconnect", &body, &[]).await.0, 200);
    assert!(matches!(
        socket.next(Duration::from_secs(5)).await,
        Seen::Closed(4502, _)
    ));
    expect_refused(&worker, &old, 401, "token_revoked").await;
    expect_refused_in_band(&worker, &old, "token_revoked", 4502).await;
    let no_iat = token_issued_at(&u, None);
    expect_refused_in_band(&worker, &no_iat, "token_revoked", 4502).await;
    // A token issued after the logout (the next second) connects.
    let fresh = token_issued_at(&u, Some(now() + 1));
    let mut socket = worker.connect_with(&fresh, "").await.unwrap();
    assert_eq!(socket.next_json().await["type"], "welcome");

    // A logout revokes the tokens issued until the backend signed it, in the backend's clock
    // (its tokens' `iat` come from it): a backend 60 s behind this one logs the user out, and
    // the token it issues next (30 s later in its clock) connects.
    let w = user("logout-skew");
    let signed_at = now() - 60;
    let body = json!({"user": w, "reconnect": false}).to_string();
    let signature =
        edgepush_e2e::test_signing_key().sign(signed_at, "POST", "/disconnect", body.as_bytes());
    let logout = [(SIGNATURE_HEADER, signature.as_str())];
    assert_eq!(worker.post("/disconnect", &body, &logout).await.0, 200);
    let old = token_issued_at(&w, Some(signed_at));
    expect_refused(&worker, &old, 401, "token_revoked").await;
    let next = token_issued_at(&w, Some(signed_at + 30));
    let mut socket = worker.connect_with(&next, "").await.unwrap();
    assert_eq!(socket.next_json().await["type"], "welcome");
    // The same signed logout sent again (a retry, a replay) revokes no token issued meanwhile
    // and closes no session that began after it.
    let (status, answer) = worker.post("/disconnect", &body, &logout).await;
    assert_eq!(
        (status, answer["sockets"].as_u64()),
        (200, Some(0)),
        "{answer}"
    );
    worker.publish_event(&w, "Message", json!(null)).await;
    expect_event(&mut socket, "Message").await;
    let mut socket = worker.connect_with(&next, "").await.unwrap();
    assert_eq!(socket.next_json().await["type"], "welcome");

    // POST /revoke with a time: tokens issued at or before it are refused and their sockets
    // closed; later ones stay.
    let v = user("revoke");
    let at = now() - 100;
    let before = token_issued_at(&v, Some(at - 1));
    let after = token_issued_at(&v, Some(at + 1));
    let mut doomed = worker.connect_with(&before, "").await.unwrap();
    doomed.next_json().await;
    let mut kept = worker.connect_with(&after, "").await.unwrap();
    kept.next_json().await;
    let body = json!({"user": v, "before": at}).to_string();
    let (status, answer) = worker.post_signed("/revoke", &body, &[]).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer, json!({"user": v, "revoked_at": at, "sockets": 1}));
    assert!(matches!(
        doomed.next(Duration::from_secs(5)).await,
        Seen::Closed(4502, _)
    ));
    expect_refused_in_band(&worker, &before, "token_revoked", 4502).await;
    worker.publish_event(&v, "Message", json!(null)).await;
    expect_event(&mut kept, "Message").await;
    // A revocation is never moved back by an earlier one.
    let body = json!({"user": v, "before": at - 1000}).to_string();
    assert_eq!(
        worker.post_signed("/revoke", &body, &[]).await.1["revoked_at"],
        at
    );
    let (status, answer) = worker.post_signed("/revoke", r#"{"before":1}"#, &[]).await;
    assert_eq!(
        (status, error_code(&answer)),
        (400, "invalid_field"),
        "{answer}"
    );
}

async fn revocation_survives_a_restart_and_a_reconnect_storm_trips_nothing() {
    let mut worker = Worker::start("revoked");
    let old = token_issued_at("gone", Some(now() - 5));
    let body = json!({"user": "gone"}).to_string();
    assert_eq!(worker.post_signed("/revoke", &body, &[]).await.0, 200);
    // Twenty tabs of one user, each with its token, and the server restarted under them: every
    // tab reconnects at once, and once more, without tripping any limit.
    let tokens: Vec<String> = (0..20)
        .map(|i| token_issued_at("busy", Some(now() - i)))
        .collect();
    let open_all = async |worker: &Worker| {
        let mut tabs = Vec::new();
        for token in &tokens {
            let mut tab = worker.connect_with(token, "refusal=close").await.unwrap();
            assert_eq!(tab.next_json().await["type"], "welcome");
            tabs.push(tab);
        }
        tabs
    };
    let tabs = open_all(&worker).await;
    worker.restart();
    drop(tabs);
    for _ in 0..2 {
        drop(open_all(&worker).await);
    }
    expect_refused(&worker, &old, 401, "token_revoked").await;
    let fresh = token_issued_at("gone", Some(now() + 1));
    let mut socket = worker.connect_with(&fresh, "").await.unwrap();
    assert_eq!(socket.next_json().await["type"], "welcome");
}

async fn the_socket_cap_trips_at_its_limit() {
    let worker = Worker::start_with("capped", &["--var", "MAX_SOCKETS_PER_USER:3"]);
    let mut tabs = worker.connect_tabs("many", 3).await;
    let token = worker.token("many", 600);
    expect_refused(&worker, &token, 429, "too_many_connections").await;
    expect_refused_in_band(&worker, &token, "too_many_connections", 4003).await;
    // The open sockets were kept, and one closing makes room.
    worker.publish_event("many", "Message", json!(null)).await;
    for tab in &mut tabs {
        expect_event(tab, "Message").await;
    }
    tabs.pop().unwrap().close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut socket = worker.connect("many").await;
    assert_eq!(socket.next_json().await["type"], "welcome");
}

async fn the_connect_rate_trips_at_its_limit_per_token_and_per_user() {
    let worker = Worker::start_with(
        "rated",
        &[
            "--var",
            "MAX_CONNECTS_PER_TOKEN_PER_MINUTE:4",
            "--var",
            "MAX_CONNECTS_PER_USER_PER_MINUTE:6",
        ],
    );
    let token = token_issued_at("hasty", Some(now()));
    for _ in 0..4 {
        worker.connect_with(&token, "").await.unwrap().close().await;
    }
    expect_refused(&worker, &token, 429, "rate_limited").await;
    let frame = expect_refused_in_band(&worker, &token, "rate_limited", 4029).await;
    assert!(
        frame["message"].as_str().unwrap().contains("retry in"),
        "{frame}"
    );
    let hint = frame["retry_after_ms"].as_u64().expect("a retry hint");
    assert!((1..=60_000).contains(&hint), "{frame}");
    // Other tokens of the user: two more connects make the user's six.
    for iat in [now() - 1, now() - 2] {
        let other = token_issued_at("hasty", Some(iat));
        worker.connect_with(&other, "").await.unwrap().close().await;
    }
    let another = token_issued_at("hasty", Some(now() - 3));
    expect_refused(&worker, &another, 429, "rate_limited").await;
    // Other users are not affected.
    let mut socket = worker.connect("calm").await;
    assert_eq!(socket.next_json().await["type"], "welcome");
    // Topic sockets (`/connect?topic=`) count toward the same rates.
    let token = token_issued_at("hasty-reader", Some(now()));
    let query = "topic=crowd:rated";
    for _ in 0..4 {
        let mut socket = worker.connect_with(&token, query).await.unwrap();
        assert_eq!(socket.next_json().await["type"], "subscribed");
        socket.close().await;
    }
    let (status, body) = worker.refused_connect(Some(&token), query).await;
    assert_eq!((status, error_code(&body)), (429, "rate_limited"), "{body}");
}

async fn the_frame_budget_trips_at_its_limit_and_heartbeats_are_free(worker: Shared) {
    let u = user("chatty");
    let mut socket = worker.connect(&u).await;
    socket.next_json().await;
    for _ in 0..50 {
        socket.send_text(PING).await;
        assert_eq!(socket.next_json().await["type"], "pong");
    }
    spend_the_frame_budget(&mut socket).await;
    // A topic socket (`/connect?topic=`) has the same budget: each frame wakes its shard.
    let token = token_issued_at(&u, Some(now()));
    let mut socket = worker
        .connect_with(&token, "topic=crowd:chatty")
        .await
        .unwrap();
    assert_eq!(socket.next_json().await["type"], "subscribed");
    spend_the_frame_budget(&mut socket).await;
}

/// Sends the 20 frames a socket may send in a minute (each answered `invalid_frame`), then one
/// more: `too_many_frames` and close 4501.
async fn spend_the_frame_budget(socket: &mut Socket) {
    for _ in 0..20 {
        socket.send_text("{}").await;
        assert_eq!(socket.next_json().await["code"], "invalid_frame");
    }
    socket.send_text("{}").await;
    assert_eq!(socket.next_json().await["code"], "too_many_frames");
    match socket.next(Duration::from_secs(5)).await {
        Seen::Closed(code, _) => assert_eq!(code, 4501),
        other => panic!("expected close 4501, got {other:?}"),
    }
}
