//! The Rust API against the real worker, in headless Chromium.
//!
//! Needs a running worker started with the test secrets of `scripts/env.sh`
//! (`scripts/worker-under-test.sh PORT DIR`); `scripts/test-sdk-browser.sh` runs these tests with
//! its URL in `EDGEPUSH_TEST_URL`. Every test uses its own user, so they can share one worker.
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use edgepush_client::{
    Client, Error, Event, Options, State, SubscribeOptions, Subscription, Unsubscribed,
};
use edgepush_protocol::signature::SigningKey;
use edgepush_protocol::token::{Claims, TokenKey};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

// Read at compile time: the tests run inside the browser, which has no environment.
// `scripts/test-sdk-browser.sh` sets them (the secrets come from scripts/env.sh).
const URL: &str = setting(option_env!("EDGEPUSH_TEST_URL"));
const JWT_SECRET: &str = setting(option_env!("EDGEPUSH_TEST_JWT_SECRET"));
const KEY_ID: &str = setting(option_env!("EDGEPUSH_TEST_KEY_ID"));
const PUBLISH_SECRET: &str = setting(option_env!("EDGEPUSH_TEST_PUBLISH_SECRET"));

/// A compile-time setting; tests fail with a clear message when it was not set.
const fn setting(value: Option<&'static str>) -> &'static str {
    match value {
        Some(value) => value,
        None => "unset: run scripts/test-sdk-browser.sh (EDGEPUSH_TEST_URL and scripts/env.sh)",
    }
}

// ---------- helpers: users, tokens, signed requests, time ----------

fn now_s() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// A user id no other test (or earlier run against the same worker) uses.
fn unique_user(tag: &str) -> String {
    assert!(URL.starts_with("http"), "EDGEPUSH_TEST_URL is {URL}");
    format!(
        "sdk-{tag}-{}-{}",
        js_sys::Date::now() as u64,
        (js_sys::Math::random() * 1e9) as u64
    )
}

/// A connect token for `user` that expires `ttl` seconds from now (negative: in the past).
fn token(user: &str, ttl: i64) -> String {
    TokenKey::new(JWT_SECRET.as_bytes())
        .expect("test secret")
        .mint(&Claims::new(user, now_s(), ttl))
}

/// A signed `POST` to the worker; returns the status and body.
async fn post_signed(path: &str, body: &str) -> (u16, String) {
    let header = SigningKey::new(KEY_ID, PUBLISH_SECRET.as_bytes())
        .expect("test key")
        .sign(now_s(), "POST", path, body.as_bytes());
    let headers = web_sys::Headers::new().expect("headers");
    headers
        .set("Content-Type", "application/json")
        .expect("header");
    headers.set("Edgepush-Signature", &header).expect("header");
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    let window = web_sys::window().expect("a window");
    let url = format!("{URL}{path}");
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
        .await
        .expect("fetch")
        .unchecked_into();
    let text = JsFuture::from(response.text().expect("text"))
        .await
        .expect("body")
        .as_string()
        .unwrap_or_default();
    (response.status(), text)
}

/// Publishes one event to `user`; returns its id.
async fn publish(user: &str, name: &str, payload: &str) -> u64 {
    let body = format!(r#"{{"user":"{user}","name":"{name}","payload":{payload}}}"#);
    let (status, text) = post_signed("/publish", &body).await;
    assert_eq!(status, 202, "publish {name}: {text}");
    let answer = js_sys::JSON::parse(&text).expect("JSON answer");
    let events = js_sys::Reflect::get(&answer, &"events".into()).expect("events");
    let first = js_sys::Reflect::get(&events, &0.into()).expect("first event");
    js_sys::Reflect::get(&first, &"id".into())
        .expect("id")
        .as_f64()
        .expect("numeric id") as u64
}

/// Publishes one event to `topic`; returns its id and how many sockets the server reached.
async fn publish_topic(topic: &str, name: &str, payload: &str) -> (u64, u64) {
    let body = format!(r#"{{"topic":"{topic}","name":"{name}","payload":{payload}}}"#);
    let (status, text) = post_signed("/publish", &body).await;
    assert_eq!(status, 202, "publish to {topic}: {text}");
    let answer = js_sys::JSON::parse(&text).expect("JSON answer");
    let events = js_sys::Reflect::get(&answer, &"events".into()).expect("events");
    let first = js_sys::Reflect::get(&events, &0.into()).expect("first event");
    let number = |key: &str| {
        js_sys::Reflect::get(&first, &key.into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as u64
    };
    (number("id"), number("sockets"))
}

/// Waits until a publish to `topic` reaches `sockets` sockets (probing with `Probe` events).
async fn until_topic_reaches(topic: &str, sockets: u64) {
    let deadline = js_sys::Date::now() + 15_000.0;
    loop {
        let (_, reached) = publish_topic(topic, "Probe", "null").await;
        if reached == sockets {
            return;
        }
        assert!(
            js_sys::Date::now() < deadline,
            "{topic} reaches {reached} sockets, not {sockets}"
        );
        sleep(100).await;
    }
}

/// Closes every socket of `user`: 1012 (clients reconnect) or 4502 (revoked).
async fn disconnect(user: &str, reconnect: bool) {
    let body = format!(r#"{{"user":"{user}","reconnect":{reconnect}}}"#);
    let (status, text) = post_signed("/disconnect", &body).await;
    assert!((200..300).contains(&status), "disconnect: {status} {text}");
}

async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .expect("a window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .expect("setTimeout");
    });
    JsFuture::from(promise).await.expect("sleep");
}

/// Waits up to `timeout_ms` for `condition`; returns whether it came true.
async fn wait_for(timeout_ms: u32, condition: impl Fn() -> bool) -> bool {
    let deadline = js_sys::Date::now() + f64::from(timeout_ms);
    while js_sys::Date::now() < deadline {
        if condition() {
            return true;
        }
        sleep(20).await;
    }
    condition()
}

/// Everything a client reported, in order.
#[derive(Default)]
struct Log {
    states: RefCell<Vec<State>>,
    errors: RefCell<Vec<Error>>,
    messages: RefCell<Vec<(u64, String)>>,
    resyncs: Cell<u32>,
}

impl Log {
    /// A log recording every state, error and message of `client`.
    fn attached(client: &Client) -> Rc<Self> {
        let log = Rc::new(Self::default());
        log.attach(client);
        log
    }

    fn attach(self: &Rc<Self>, client: &Client) {
        // For the client's lifetime: `forget` instead of holding the guards.
        let log = self.clone();
        client
            .on_state(move |state| log.states.borrow_mut().push(state.clone()))
            .forget();
        let log = self.clone();
        client
            .on_error(move |error| log.errors.borrow_mut().push(error.clone()))
            .forget();
        let log = self.clone();
        client
            .on_message(move |event| {
                log.messages
                    .borrow_mut()
                    .push((event.id, event.payload.text));
            })
            .forget();
        let log = self.clone();
        client
            .on_resync(move || log.resyncs.set(log.resyncs.get() + 1))
            .forget();
    }

    fn opens(&self) -> usize {
        self.states
            .borrow()
            .iter()
            .filter(|s| **s == State::Open)
            .count()
    }

    fn message_ids(&self) -> Vec<u64> {
        self.messages.borrow().iter().map(|(id, _)| *id).collect()
    }

    fn texts(&self) -> Vec<String> {
        self.messages
            .borrow()
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }
}

/// What `subscription`'s handlers of the events called `names` got, in order: `field` of each.
fn heard<T: 'static>(
    subscription: &Subscription,
    names: &[&str],
    field: fn(Event<serde::de::IgnoredAny>) -> T,
) -> Rc<RefCell<Vec<T>>> {
    let heard = Rc::new(RefCell::new(Vec::new()));
    for name in names {
        let sink = heard.clone();
        subscription
            .on(name, move |event| sink.borrow_mut().push(field(event)))
            .forget();
    }
    heard
}

/// Fast reconnects so that tests do not wait long.
fn quick() -> Options {
    Options {
        min_delay_ms: 100,
        max_delay_ms: 500,
        ..Options::default()
    }
}

/// A client for `user` with a token provider that mints a fresh token each time it is asked.
fn provider_client(user: &str, calls: Rc<Cell<u32>>) -> Client {
    provider_client_first_ttl(user, calls, 600)
}

/// A client whose provider counts its calls and hands out a token living `first_ttl` seconds
/// first (negative: already expired), then ten-minute tokens.
fn provider_client_first_ttl(user: &str, calls: Rc<Cell<u32>>, first_ttl: i64) -> Client {
    let user = user.to_owned();
    Client::builder(URL)
        .token_provider(move || {
            calls.set(calls.get() + 1);
            let ttl = if calls.get() == 1 { first_ttl } else { 600 };
            let token = token(&user, ttl);
            async move { Ok::<_, String>(token) }
        })
        .options(quick())
        .build()
        .expect("client")
}

// ---------- the tests ----------

/// An app's own event type.
#[derive(Debug, Deserialize, PartialEq)]
struct ChatMessage {
    room: String,
    text: String,
    likes: u32,
}

#[wasm_bindgen_test]
async fn connects_with_a_token_and_dispatches_typed_events() {
    let user = unique_user("typed");
    let client = Client::builder(URL)
        .token(token(&user, 600))
        .build()
        .expect("client");
    let log = Log::attached(&client);
    let backgrounds = Rc::new(RefCell::new(Vec::new()));
    let sink = backgrounds.clone();
    let _background =
        client.on_background(move |event| sink.borrow_mut().push(event.payload.color));
    let chats = Rc::new(RefCell::new(Vec::new()));
    let sink = chats.clone();
    let _chat = client.on::<ChatMessage, _>("Chat", move |event: Event<ChatMessage>| {
        sink.borrow_mut().push((event.name.clone(), event.payload));
    });
    let unknown = Rc::new(RefCell::new(Vec::new()));
    let sink = unknown.clone();
    let _unknown = client
        .on_unknown(move |event: Event<serde::de::IgnoredAny>| sink.borrow_mut().push(event.name));
    // A handler whose guard is dropped is removed: it hears none of the events below.
    let removed = Rc::new(Cell::new(0));
    let sink = removed.clone();
    drop(client.on_message(move |_| sink.set(sink.get() + 1)));
    let sink = removed.clone();
    client
        .on_background(move |_| sink.set(sink.get() + 1))
        .remove();
    client.connect();
    assert!(
        wait_for(10_000, || client.state() == State::Open).await,
        "never opened"
    );
    assert_eq!(
        log.states.borrow()[..],
        [State::Connecting { attempt: 0 }, State::Open]
    );

    let first = publish(&user, "Message", r#"{"text":"hi"}"#).await;
    publish(&user, "Background", r##"{"color":"#336699"}"##).await;
    publish(
        &user,
        "Chat",
        r#"{"room":"general","text":"hello","likes":3}"#,
    )
    .await;
    publish(&user, "SomethingNew", r#"{"x":1}"#).await;
    // Wrong shapes: reported with the event name and the reason, never thrown; the connection
    // carries on.
    publish(&user, "Message", r#"{"txt":"typo"}"#).await;
    publish(
        &user,
        "Chat",
        r#"{"room":"general","text":"x","likes":"many"}"#,
    )
    .await;
    let last = publish(&user, "Message", r#"{"text":"still here"}"#).await;

    assert!(wait_for(10_000, || log.message_ids().last() == Some(&last)).await);
    assert_eq!(log.message_ids(), [first, last]);
    assert_eq!(log.texts(), ["hi", "still here"]);
    assert_eq!(backgrounds.borrow()[..], ["#336699".to_owned()]);
    assert_eq!(
        chats.borrow()[..],
        [(
            "Chat".to_owned(),
            ChatMessage {
                room: "general".into(),
                text: "hello".into(),
                likes: 3
            }
        )]
    );
    assert_eq!(unknown.borrow()[..], ["SomethingNew".to_owned()]);
    assert_eq!(removed.get(), 0, "a removed handler was called");
    let errors = log.errors.borrow();
    let bad: Vec<(&str, &str)> = errors
        .iter()
        .filter_map(|e| match e {
            Error::BadPayload { name, reason } => Some((name.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(bad.len(), 2, "{errors:?}");
    assert_eq!(bad[0].0, "Message");
    assert!(bad[0].1.contains("text"), "{}", bad[0].1);
    assert_eq!(bad[1].0, "Chat");
    assert!(
        bad[1].1.contains("likes") || bad[1].1.contains("u32"),
        "{}",
        bad[1].1
    );
    assert_eq!(client.state(), State::Open);
    assert_eq!(client.position().expect("position").last_id, last);
}

#[wasm_bindgen_test]
async fn reconnects_after_the_server_drops_the_socket_without_loss_or_duplicates() {
    let user = unique_user("drop");
    let calls = Rc::new(Cell::new(0));
    let client = provider_client(&user, calls.clone());
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);

    let mut expected = Vec::new();
    for text in ["one", "two"] {
        expected.push(publish(&user, "Message", &format!(r#"{{"text":"{text}"}}"#)).await);
    }
    assert!(wait_for(5_000, || log.message_ids().len() == 2).await);

    // The server drops every socket of the user (as on a restart: 1012), and events are
    // published while the client is away.
    disconnect(&user, true).await;
    for text in ["three", "four"] {
        expected.push(publish(&user, "Message", &format!(r#"{{"text":"{text}"}}"#)).await);
    }
    assert!(
        wait_for(10_000, || log.opens() == 2).await,
        "did not reconnect"
    );
    expected.push(publish(&user, "Message", r#"{"text":"five"}"#).await);
    assert!(wait_for(10_000, || log.message_ids().len() >= 5).await);
    sleep(300).await;

    assert_eq!(log.message_ids(), expected, "every event once, in order");
    assert_eq!(log.texts(), ["one", "two", "three", "four", "five"]);
    assert!(
        log.states
            .borrow()
            .iter()
            .any(|s| matches!(s, State::Reconnecting { attempt: 1, .. })),
        "{:?}",
        log.states.borrow()
    );
    assert_eq!(calls.get(), 2, "the provider is asked on every connect");
    assert_eq!(log.resyncs.get(), 0);
}

#[wasm_bindgen_test]
async fn a_second_drop_and_a_burst_still_deliver_each_event_once() {
    let user = unique_user("burst");
    let client = provider_client(&user, Rc::new(Cell::new(0)));
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    let mut expected = Vec::new();
    for round in 0..3 {
        for i in 0..5 {
            let text = format!(r#"{{"text":"{round}-{i}"}}"#);
            expected.push(publish(&user, "Message", &text).await);
        }
        disconnect(&user, true).await;
    }
    assert!(wait_for(15_000, || log.message_ids().len() >= 15).await);
    sleep(500).await;
    assert_eq!(log.message_ids(), expected);
}

#[wasm_bindgen_test]
async fn refreshes_a_token_the_server_expired_through_the_provider() {
    let user = unique_user("refresh");
    let calls = Rc::new(Cell::new(0u32));
    // The first token lives 3 s: the server closes the socket with 4001 when it expires; the
    // provider is asked again and the client reconnects.
    let client = provider_client_first_ttl(&user, calls.clone(), 3);
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    let before = publish(&user, "Message", r#"{"text":"before"}"#).await;
    assert!(
        wait_for(15_000, || log.opens() == 2).await,
        "no reconnect after expiry"
    );
    assert_eq!(calls.get(), 2);
    let after = publish(&user, "Message", r#"{"text":"after"}"#).await;
    assert!(wait_for(5_000, || log.message_ids().len() == 2).await);
    assert_eq!(log.message_ids(), [before, after]);
    assert!(
        !log.states
            .borrow()
            .iter()
            .any(|s| matches!(s, State::Closed { .. })),
        "{:?}",
        log.states.borrow()
    );
}

#[wasm_bindgen_test]
async fn an_already_expired_token_is_replaced_before_connecting() {
    let user = unique_user("stale");
    let calls = Rc::new(Cell::new(0u32));
    // A cached token that expired an hour ago, then a fresh one.
    let client = provider_client_first_ttl(&user, calls.clone(), -3600);
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    assert_eq!(calls.get(), 2);
    assert!(
        log.errors
            .borrow()
            .contains(&Error::TokenExpired { stopped: false })
    );
}

#[wasm_bindgen_test]
async fn an_expired_fixed_token_stops_instead_of_retrying() {
    let user = unique_user("expired");
    let client = Client::builder(URL)
        .token(token(&user, -3600))
        .options(quick())
        .build()
        .expect("client");
    let log = Log::attached(&client);
    client.connect();
    assert!(
        wait_for(5_000, || matches!(client.state(), State::Closed { .. })).await,
        "{:?}",
        log.states.borrow()
    );
    assert!(matches!(client.state(), State::Closed { code: 4001, .. }));
    assert_eq!(
        log.errors.borrow()[..],
        [Error::TokenExpired { stopped: true }]
    );
}

#[wasm_bindgen_test]
async fn a_revoked_user_is_not_reconnected() {
    let user = unique_user("revoked");
    let calls = Rc::new(Cell::new(0));
    let client = provider_client(&user, calls.clone());
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    disconnect(&user, false).await;
    assert!(wait_for(5_000, || matches!(client.state(), State::Closed { .. })).await);
    let State::Closed { code, reason } = client.state() else {
        unreachable!()
    };
    assert_eq!((code, reason.as_str()), (4502, "revoked"));
    assert!(
        log.errors
            .borrow()
            .iter()
            .any(|e| matches!(e, Error::Rejected { code: 4502, .. })),
        "{:?}",
        log.errors.borrow()
    );
    sleep(1_500).await;
    assert_eq!(calls.get(), 1, "no reconnect after a terminal close code");
    assert_eq!(log.opens(), 1);

    // The app may ask again (e.g. after the user logged in again).
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 2).await);
}

#[wasm_bindgen_test]
async fn an_invalid_token_stops_and_reports_instead_of_hammering() {
    let user = unique_user("invalid");
    let calls = Rc::new(Cell::new(0u32));
    let counter = calls.clone();
    let forged = TokenKey::new(b"not-the-servers-secret-0123456789abcdef")
        .expect("key")
        .mint(&Claims::new(user, now_s(), 600));
    let client = Client::builder(URL)
        .token_provider(move || {
            counter.set(counter.get() + 1);
            let token = forged.clone();
            async move { Ok::<_, String>(token) }
        })
        .options(Options {
            min_delay_ms: 200,
            max_delay_ms: 10_000,
            ..Options::default()
        })
        .build()
        .expect("client");
    let log = Log::attached(&client);
    client.connect();
    // The server reports the refusal in-band (error frame `invalid_token`, close 4500), which
    // the close-code table says is terminal: one attempt, then Closed, and the app is told why.
    assert!(
        wait_for(10_000, || matches!(
            client.state(),
            State::Closed { code: 4500, .. }
        ))
        .await,
        "{:?}",
        log.states.borrow()
    );
    sleep(2_000).await;
    assert_eq!(calls.get(), 1, "no retry after an invalid token");
    assert_eq!(log.opens(), 0);
    let errors = log.errors.borrow();
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::Server { code, .. } if code == "invalid_token")),
        "the reason reaches the app: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, Error::Rejected { code: 4500, .. })),
        "{errors:?}"
    );
    drop(errors);
    client.close();
}

#[wasm_bindgen_test]
async fn a_topic_socket_refused_for_the_clients_token_stops_the_client_and_keeps_the_subscription()
{
    let user = unique_user("topic-token");
    // `crowd` has shards (scripts/env.sh): its topic is read over a topic socket of its own,
    // whose connect asks the provider second, after the client's own socket. That token is forged.
    let topic = format!("crowd:{user}");
    let owner = user.clone();
    let calls = Rc::new(Cell::new(0u32));
    let counter = calls.clone();
    let forged = TokenKey::new(b"not-the-servers-secret-0123456789abcdef")
        .expect("key")
        .mint(&Claims::new(user.clone(), now_s(), 600));
    let client = Client::builder(URL)
        .token_provider(move || {
            counter.set(counter.get() + 1);
            let token = match counter.get() {
                2 => forged.clone(),
                _ => token(&user, 600),
            };
            async move { Ok::<_, String>(token) }
        })
        .options(quick())
        .build()
        .expect("client");
    let log = Log::attached(&client);
    let subscription = client.subscribe(topic.clone());
    let refusals = Rc::new(RefCell::new(Vec::new()));
    let sink = refusals.clone();
    subscription
        .on_error(move |refusal: &Unsubscribed| sink.borrow_mut().push(refusal.error.code.clone()))
        .forget();
    let events = Rc::new(Cell::new(0));
    let sink = events.clone();
    subscription
        .on("Posted", move |_: Event<serde::de::IgnoredAny>| {
            sink.set(sink.get() + 1)
        })
        .forget();
    client.connect();
    // The topic socket's refusal (`invalid_token`, 4500) stops the client as the client's own
    // socket's would, and ends no subscription.
    assert!(
        wait_for(10_000, || matches!(
            client.state(),
            State::Closed { code: 4500, .. }
        ))
        .await,
        "{:?} {:?}",
        log.states.borrow(),
        log.errors.borrow()
    );
    assert_eq!(calls.get(), 2);
    {
        let errors = log.errors.borrow();
        assert!(
            errors
                .iter()
                .any(|e| matches!(e, Error::Server { code, .. } if code == "invalid_token")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| matches!(e, Error::Rejected { code: 4500, .. })),
            "{errors:?}"
        );
    }
    assert_eq!(refusals.borrow().len(), 0, "{:?}", refusals.borrow());
    // The app connects again (say, the user logged in again): the subscription is still there,
    // and its topic socket opens again.
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 2).await);
    let mut delivered = false;
    for _ in 0..50 {
        publish_topic(&topic, "Posted", "{}").await;
        if wait_for(200, || events.get() > 0).await {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "the subscription reads its topic again");
    // A logout (revoke) closes both sockets with 4502: the client stops, the subscription stays.
    disconnect(&owner, false).await;
    assert!(
        wait_for(5_000, || matches!(
            client.state(),
            State::Closed { code: 4502, .. }
        ))
        .await
    );
    assert_eq!(refusals.borrow().len(), 0, "{:?}", refusals.borrow());
    drop(subscription);
}

#[wasm_bindgen_test]
async fn a_topic_socket_resumes_after_the_client_was_stopped_losing_nothing_published_meanwhile() {
    let user = unique_user("topic-resume");
    // `crowd` has shards (scripts/env.sh): its topic is read over a topic socket of its own.
    let topic = format!("crowd:{user}");
    let calls = Rc::new(Cell::new(0));
    let client = provider_client(&user, calls);
    let log = Log::attached(&client);
    let subscription = client.subscribe(topic.clone());
    let names = heard(&subscription, &["Before", "Meanwhile", "After"], |e| e.name);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    until_topic_reaches(&topic, 1).await;
    publish_topic(&topic, "Before", "{}").await;
    assert!(wait_for(5_000, || names.borrow().iter().any(|n| n == "Before")).await);
    // A logout (revoke) stops the client and its topic socket; meanwhile the topic goes on.
    disconnect(&user, false).await;
    assert!(
        wait_for(5_000, || matches!(
            client.state(),
            State::Closed { code: 4502, .. }
        ))
        .await
    );
    publish_topic(&topic, "Meanwhile", "{}").await;
    // Connected again (a second later: the revoke refuses tokens issued before it, to the
    // second), the topic socket resumes from its last event: what was published while stopped
    // arrives, once, before what comes after.
    sleep(1_100).await;
    client.connect();
    assert!(
        wait_for(10_000, || log.opens() == 2).await,
        "{:?} {:?}",
        log.states.borrow(),
        log.errors.borrow()
    );
    until_topic_reaches(&topic, 1).await;
    publish_topic(&topic, "After", "{}").await;
    assert!(wait_for(5_000, || names.borrow().iter().any(|n| n == "After")).await);
    assert_eq!(*names.borrow(), ["Before", "Meanwhile", "After"]);
    drop(subscription);
    client.close();
}

#[wasm_bindgen_test]
async fn close_after_the_server_stopped_the_client_drops_its_handlers_too() {
    let user = unique_user("stopped-close");
    let client = provider_client(&user, Rc::new(Cell::new(0)));
    let log = Log::attached(&client);
    // Handlers holding `marker` (as a component's handlers hold its state): dropped with them.
    let marker = Rc::new(());
    let held = marker.clone();
    client.on_resync(move || drop(held.clone())).forget();
    let subscription = client.subscribe(format!("product:{user}"));
    let held = marker.clone();
    subscription.on_resync(move || drop(held.clone())).forget();
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    disconnect(&user, false).await;
    assert!(
        wait_for(5_000, || matches!(
            client.state(),
            State::Closed { code: 4502, .. }
        ))
        .await
    );
    assert_eq!(Rc::strong_count(&marker), 3);
    client.close();
    assert_eq!(Rc::strong_count(&marker), 1, "the handlers were dropped");
    drop(subscription);
}

#[wasm_bindgen_test]
async fn close_stops_everything_and_dropping_closes_too() {
    let user = unique_user("close");
    let calls = Rc::new(Cell::new(0));
    let client = provider_client(&user, calls.clone());
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    client.close();
    assert_eq!(
        client.state(),
        State::Closed {
            code: 1000,
            reason: "closed by the client".into()
        }
    );
    publish(&user, "Message", r#"{"text":"after close"}"#).await;
    disconnect(&user, true).await;
    sleep(1_000).await;
    assert!(log.messages.borrow().is_empty());
    assert_eq!(calls.get(), 1);
    // `close()` is final.
    client.connect();
    sleep(500).await;
    assert_eq!(calls.get(), 1);

    // Dropping a connected client closes its socket too: the server sees it go.
    let user = unique_user("drop-client");
    let delivered = Rc::new(Cell::new(0));
    {
        let client = provider_client(&user, Rc::new(Cell::new(0)));
        let log = Log::attached(&client);
        let sink = delivered.clone();
        let _delivered = client.on_message(move |_| sink.set(sink.get() + 1));
        client.connect();
        assert!(wait_for(10_000, || log.opens() == 1).await);
    }
    sleep(300).await;
    let body = format!(r#"{{"user":"{user}","name":"Message","payload":{{"text":"x"}}}}"#);
    let (status, text) = post_signed("/publish", &body).await;
    assert_eq!(status, 202);
    assert!(text.contains(r#""sockets":0"#), "{text}");
    sleep(300).await;
    assert_eq!(delivered.get(), 0);
}

#[wasm_bindgen_test]
async fn a_saved_position_resumes_across_page_loads() {
    let user = unique_user("resume");
    let first = Client::builder(URL)
        .token(token(&user, 600))
        .build()
        .expect("client");
    let log = Log::attached(&first);
    first.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    let seen = publish(&user, "Message", r#"{"text":"seen"}"#).await;
    assert!(wait_for(5_000, || log.message_ids() == [seen]).await);
    let position = first.position().expect("position");
    drop(first); // the page goes away

    let missed = publish(&user, "Message", r#"{"text":"missed"}"#).await;
    let second = Client::builder(URL)
        .token(token(&user, 600))
        .resume_from(position)
        .build()
        .expect("client");
    let log = Log::attached(&second);
    second.connect();
    assert!(wait_for(10_000, || log.message_ids() == [missed]).await);
    assert_eq!(log.texts(), ["missed"]);
}

#[wasm_bindgen_test]
async fn a_topic_resumes_on_a_new_client_from_its_subscriptions_saved_position() {
    // Relayed over the user's socket (`feed`), and read over a topic socket (`crowd` has shards,
    // scripts/env.sh).
    for namespace in ["feed", "crowd"] {
        let user = unique_user(&format!("topic-position-{namespace}"));
        let topic = format!("{namespace}:{user}");
        let record = |subscription: &Subscription| {
            heard(subscription, &["Seen", "Missed", "After"], |e| e.id)
        };
        let first = provider_client(&user, Rc::new(Cell::new(0)));
        let log = Log::attached(&first);
        let subscription = first.subscribe(topic.clone());
        let ids = record(&subscription);
        first.connect();
        assert!(wait_for(10_000, || log.opens() == 1).await);
        until_topic_reaches(&topic, 1).await;
        let (seen, _) = publish_topic(&topic, "Seen", "{}").await;
        assert!(wait_for(5_000, || *ids.borrow() == [seen]).await);
        let position = subscription.position().expect("a position");
        assert_eq!(position.last_id, seen);
        // The page goes away; the topic goes on.
        drop(subscription);
        drop(first);
        let (missed, _) = publish_topic(&topic, "Missed", "1").await;
        let (missed_too, _) = publish_topic(&topic, "Missed", "2").await;

        let second = provider_client(&user, Rc::new(Cell::new(0)));
        let log = Log::attached(&second);
        let options = SubscribeOptions {
            resume: Some(position),
            ..SubscribeOptions::default()
        };
        let subscription = second.subscribe_with(topic.clone(), options);
        let ids = record(&subscription);
        let resyncs = Rc::new(Cell::new(0));
        let sink = resyncs.clone();
        subscription
            .on_resync(move || sink.set(sink.get() + 1))
            .forget();
        second.connect();
        assert!(
            wait_for(10_000, || ids.borrow().len() == 2).await,
            "{namespace}: {:?} {:?}",
            ids.borrow(),
            log.errors.borrow()
        );
        until_topic_reaches(&topic, 1).await;
        let (after, _) = publish_topic(&topic, "After", "{}").await;
        assert!(wait_for(5_000, || ids.borrow().len() == 3).await);
        sleep(200).await;
        assert_eq!(*ids.borrow(), [missed, missed_too, after], "{namespace}");
        assert_eq!(resyncs.get(), 0, "{namespace}");
        let now = subscription.position().expect("a position");
        assert_eq!(now.last_id, after, "{namespace}");
        assert!(log.errors.borrow().is_empty(), "{:?}", log.errors.borrow());
        second.close();
    }
}

#[wasm_bindgen_test]
fn bad_configuration_is_reported_at_build_time() {
    let error = Client::builder("ftp://example.com")
        .token("t")
        .build()
        .err()
        .expect("an error");
    assert_eq!(error.code(), "config");
    let error = Client::builder(URL).build().err().expect("an error");
    assert_eq!(error.code(), "config");
}

#[wasm_bindgen_test]
async fn the_server_answers_heartbeats_so_a_quiet_connection_stays_open() {
    let user = unique_user("heartbeat");
    let client = Client::builder(URL)
        .token(token(&user, 600))
        .options(Options {
            heartbeat_ms: Some(1_000),
            pong_timeout_ms: 1_000,
            ..Options::default()
        })
        .build()
        .expect("client");
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    // Three pings go out and are answered in time (else the socket would count as dead after
    // 1 s and the client would reconnect).
    sleep(3_500).await;
    assert_eq!(
        log.states.borrow()[..],
        [State::Connecting { attempt: 0 }, State::Open]
    );
    let id = publish(&user, "Message", r#"{"text":"still live"}"#).await;
    assert!(wait_for(5_000, || log.message_ids() == [id]).await);
}

/// The payload of the topic test's events.
#[derive(Debug, Deserialize)]
struct Price {
    price: u32,
}

#[wasm_bindgen_test]
async fn a_subscription_gets_its_topics_typed_events_and_a_refused_one_its_reason() {
    let user = unique_user("topics");
    let client = provider_client(&user, Rc::new(Cell::new(0)));
    let log = Log::attached(&client);
    let product = format!("product:{user}");
    let forbidden = format!("private:{user}");
    let subscription = client.subscribe(product.clone());
    assert_eq!(subscription.topic(), product);
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let _changed = subscription.on("ProductChanged", move |event: Event<Price>| {
        sink.borrow_mut()
            .push((event.topic, event.id, event.payload.price));
    });
    let refused = client.subscribe(forbidden.clone());
    let refusals = Rc::new(RefCell::new(Vec::new()));
    let sink = refusals.clone();
    let _refusal = refused.on_error(move |refusal: &Unsubscribed| {
        sink.borrow_mut()
            .push((refusal.topic.clone(), refusal.error.code.clone()));
    });
    client.connect();
    assert!(wait_for(10_000, || log.opens() == 1).await);
    assert!(wait_for(10_000, || refusals.borrow().len() == 1).await);
    assert_eq!(
        refusals.borrow()[..],
        [(forbidden.clone(), "topic_forbidden".to_owned())]
    );

    until_topic_reaches(&product, 1).await;
    let (id, _) = publish_topic(&product, "ProductChanged", r#"{"price":3}"#).await;
    let (_, reached) = publish_topic(&forbidden, "ProductChanged", r#"{"price":4}"#).await;
    assert_eq!(reached, 0, "nobody reads the refused topic");
    let message = publish(&user, "Message", r#"{"text":"hi"}"#).await;
    assert!(
        wait_for(5_000, || events.borrow().len() == 1
            && log.messages.borrow().len() == 1)
        .await
    );
    assert_eq!(events.borrow()[..], [(Some(product.clone()), id, 3)]);
    assert_eq!(
        log.message_ids(),
        [message],
        "topic events stay with the subscription"
    );

    // Dropping the subscription unsubscribes: the server reaches no socket of the topic any more.
    drop(subscription);
    until_topic_reaches(&product, 0).await;
    publish_topic(&product, "ProductChanged", r#"{"price":5}"#).await;
    sleep(300).await;
    assert_eq!(events.borrow().len(), 1);
    assert_eq!(client.state(), State::Open);
    assert!(log.errors.borrow().is_empty(), "{:?}", log.errors.borrow());
    drop(refused);
}

#[wasm_bindgen_test]
async fn a_subscription_made_again_from_a_refused_ones_error_handler_keeps_its_handlers() {
    let user = unique_user("resubscribe");
    let client = provider_client(&user, Rc::new(Cell::new(0)));
    let log = Log::attached(&client);
    let forbidden = format!("private:{user}");
    let refusals = Rc::new(RefCell::new(Vec::new()));
    // What the handler subscribes again, kept alive (a dropped subscription unsubscribes).
    let kept = Rc::new(RefCell::new(Vec::new()));
    let first = client.subscribe(forbidden.clone());
    let (again, sink, keep) = (client.clone(), refusals.clone(), kept.clone());
    let _refusal = first.on_error(move |refusal: &Unsubscribed| {
        sink.borrow_mut()
            .push(("first", refusal.error.code.clone()));
        let subscription = again.subscribe(refusal.topic.clone());
        let sink = sink.clone();
        let guard = subscription.on_error(move |refusal: &Unsubscribed| {
            sink.borrow_mut()
                .push(("again", refusal.error.code.clone()))
        });
        keep.borrow_mut().push((subscription, guard));
    });
    client.connect();
    assert!(wait_for(10_000, || refusals.borrow().len() == 2).await);
    assert_eq!(
        refusals.borrow()[..],
        [
            ("first", "topic_forbidden".to_owned()),
            ("again", "topic_forbidden".to_owned())
        ]
    );
    // The second refusal reached the new subscription, not the client's handlers.
    assert!(log.errors.borrow().is_empty(), "{:?}", log.errors.borrow());
    client.close();
}

#[wasm_bindgen_test]
async fn a_token_endpoint_answering_401_stops_the_client_instead_of_polling() {
    // The worker answers an unsigned request 401 with the bundle's error shape.
    let user = unique_user("logged-out");
    let client = Client::builder(URL)
        .token_endpoint(format!("{URL}/presence?topic=live:{user}"))
        .options(quick())
        .build()
        .expect("client");
    let log = Log::attached(&client);
    client.connect();
    assert!(
        wait_for(10_000, || matches!(
            client.state(),
            State::Closed { code: 4500, .. }
        ))
        .await
    );
    sleep(1_000).await;
    let errors = log.errors.borrow();
    assert!(
        matches!(&errors[..], [Error::MissingToken { reason }] if reason.contains("401")),
        "{errors:?}"
    );
    assert!(errors[0].is_terminal());
    assert_eq!(log.opens(), 0);
}

// ---------- the Rust face for Leptos, Yew and Dioxus: clones, streams, the token helper ----------

/// The stream's next item, or `None` when nothing came within `ms`.
async fn next_within<S: futures_core::Stream + Unpin>(
    stream: &mut S,
    ms: i32,
) -> Option<Option<S::Item>> {
    use std::task::Poll;
    let mut timeout = Box::pin(sleep(ms));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(item) = std::pin::Pin::new(&mut *stream).poll_next(cx) {
            return Poll::Ready(Some(item));
        }
        if timeout.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

#[wasm_bindgen_test]
async fn clones_drive_one_connection_which_the_last_one_dropped_closes() {
    let user = unique_user("clone");
    let client = Client::builder(URL)
        .token(token(&user, 600))
        .build()
        .expect("client");
    let mut states = client.states();
    let copy = client.clone();
    assert!(copy == client, "a clone is the same client");
    copy.connect();
    assert_eq!(
        next_within(&mut states, 10_000).await,
        Some(Some(State::Connecting { attempt: 0 }))
    );
    assert_eq!(
        next_within(&mut states, 10_000).await,
        Some(Some(State::Open))
    );

    // Dropping one clone closes nothing: the other still receives events.
    drop(client);
    let mut messages = copy.events::<edgepush_client::Message>("Message");
    let id = publish(&user, "Message", r#"{"text":"still one connection"}"#).await;
    let event = next_within(&mut messages, 10_000)
        .await
        .flatten()
        .expect("the event");
    assert_eq!(
        (event.id, event.payload.text.as_str()),
        (id, "still one connection")
    );
    assert_eq!(copy.state(), State::Open);

    // Dropping the last one closes the connection; the streams end after the final state.
    drop(copy);
    let last = next_within(&mut states, 5_000).await;
    assert!(
        matches!(last, Some(Some(State::Closed { code: 1000, .. }))),
        "{last:?}"
    );
    assert_eq!(next_within(&mut states, 5_000).await, Some(None), "ended");
    assert!(
        matches!(next_within(&mut messages, 5_000).await, Some(None)),
        "ended"
    );
}

#[wasm_bindgen_test]
async fn events_arrive_as_streams_and_a_dropped_stream_removes_its_handler() {
    let user = unique_user("streams");
    let client = provider_client(&user, Rc::new(Cell::new(0)));
    let errors = Rc::new(RefCell::new(Vec::new()));
    let sink = errors.clone();
    client
        .on_error(move |error| sink.borrow_mut().push(error.code()))
        .forget();
    let unknown = Rc::new(RefCell::new(Vec::new()));
    let sink = unknown.clone();
    let _unknown = client
        .on_unknown(move |event: Event<serde::de::IgnoredAny>| sink.borrow_mut().push(event.name));
    let mut chats = client.events::<ChatMessage>("Chat");
    let topic = format!("product:{user}");
    let product = client.subscribe(topic.clone());
    let mut prices = product.events::<Price>("ProductChanged");
    client.connect();
    until_topic_reaches(&topic, 1).await;

    // A payload that does not fit is reported and skipped, as for a callback.
    publish(
        &user,
        "Chat",
        r#"{"room":"general","text":"x","likes":"many"}"#,
    )
    .await;
    let id = publish(&user, "Chat", r#"{"room":"general","text":"hi","likes":1}"#).await;
    let (price_id, _) = publish_topic(&topic, "ProductChanged", r#"{"price":7}"#).await;
    let chat = next_within(&mut chats, 10_000)
        .await
        .flatten()
        .expect("a chat");
    assert_eq!(
        (chat.id, chat.payload),
        (
            id,
            ChatMessage {
                room: "general".into(),
                text: "hi".into(),
                likes: 1
            }
        )
    );
    let price = next_within(&mut prices, 10_000)
        .await
        .flatten()
        .expect("a price");
    assert_eq!(
        (price.topic, price.id, price.payload.price),
        (Some(topic.clone()), price_id, 7)
    );
    assert_eq!(errors.borrow()[..], ["bad_payload"]);

    // Without the stream no handler listens to "Chat" any more: the next one is unknown.
    drop(chats);
    publish(
        &user,
        "Chat",
        r#"{"room":"general","text":"later","likes":2}"#,
    )
    .await;
    assert!(
        wait_for(10_000, || unknown
            .borrow()
            .iter()
            .any(|name| name == "Chat"))
        .await
    );

    // Ending the subscription ends its stream.
    drop(product);
    assert!(matches!(next_within(&mut prices, 5_000).await, Some(None)));
    assert_eq!(client.state(), State::Open);
}

/// A `data:` URL answering `body` as `mime`, percent-encoded: what the token helper fetches in
/// place of the app's endpoint (the test page has no backend of its own).
#[cfg(feature = "gloo-net")]
fn data_url(mime: &str, body: &str) -> String {
    let encoded: String = js_sys::encode_uri_component(body).into();
    format!("data:{mime},{encoded}")
}

#[cfg(feature = "gloo-net")]
#[wasm_bindgen_test]
async fn the_token_helper_reads_the_bundles_answer_and_feeds_a_connection() {
    use edgepush_client::token::{TokenError, fetch_token};
    let user = unique_user("token-helper");
    let jwt = token(&user, 600);
    // The Symfony bundle's answer, and a plain-text token with a newline.
    let bundle = data_url(
        "application/json",
        &format!(r#"{{"token":"{jwt}","expires_at":{}}}"#, now_s() + 600),
    );
    assert_eq!(fetch_token(&bundle).await, Ok(jwt.clone()));
    assert_eq!(
        fetch_token(data_url("text/plain", &format!("{jwt}\n"))).await,
        Ok(jwt.clone())
    );
    assert!(matches!(
        fetch_token(data_url("application/json", r#"{"tok":"x"}"#)).await,
        Err(TokenError::Body(_))
    ));
    assert!(matches!(
        fetch_token(data_url("text/plain", " ")).await,
        Err(TokenError::Body(_))
    ));
    // An error answer of the same shape as the bundle's 401 (the worker's, for an unsigned
    // request): its status, code and message.
    match fetch_token(format!("{URL}/presence?topic=live:{user}")).await {
        Err(TokenError::Status {
            status: 401,
            code: Some(code),
            message: Some(_),
        }) => assert_eq!(code, "missing_signature"),
        other => panic!("expected a 401 answer, got {other:?}"),
    }
    // Nothing answers: the request fails.
    assert!(matches!(
        fetch_token("http://127.0.0.1:9/edgepush/token").await,
        Err(TokenError::Request(_))
    ));

    // As the client's token provider: it connects with the fetched token.
    let client = Client::builder(URL)
        .token_endpoint(bundle)
        .build()
        .expect("client");
    let log = Log::attached(&client);
    client.connect();
    assert!(wait_for(10_000, || client.state() == State::Open).await);
    let id = publish(&user, "Message", r#"{"text":"via gloo-net"}"#).await;
    assert!(wait_for(10_000, || log.message_ids() == [id]).await);
    assert!(log.errors.borrow().is_empty(), "{:?}", log.errors.borrow());
}
