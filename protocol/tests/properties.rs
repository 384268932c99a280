//! Property tests for every parser in `protocol/` that reads outside input: publish bodies, the
//! `Edgepush-Signature` header, connect tokens and WebSocket frames. Each property runs 256
//! generated cases; a failure is shrunk, printed, and its seed saved in
//! `properties.proptest-regressions` beside this file (commit it), so every later run tries it
//! first.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use edgepush_protocol::frames::{
    ClientFrame, ErrorBody, EventFrame, HEARTBEAT_INTERVAL_MS, PING, ServerFrame, Welcome,
};
use edgepush_protocol::publish::{
    IdempotencyKey, MAX_EVENT_NAME_BYTES, MAX_USER_ID_BYTES, NewEvent, parse_publish_body,
    parse_publish_request,
};
use edgepush_protocol::signature::{PublishKeys, SignatureError, SigningKey, TOLERANCE_SECONDS};
use edgepush_protocol::token::{Audience, Claims, TokenError, TokenKey};
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// 256 cases per property, failures saved beside this file.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

/// Text of 1 to `max_bytes` bytes without control characters: what user ids and event names
/// accept.
fn visible_text(max_bytes: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("no control", |c| !c.is_control()),
        1..=max_bytes,
    )
    .prop_map(move |chars| {
        let mut text = String::new();
        for c in chars {
            if text.len() + c.len_utf8() > max_bytes {
                break;
            }
            text.push(c);
        }
        text
    })
}

/// An idempotency key: 1 to 128 bytes of visible ASCII.
fn idempotency_key() -> impl Strategy<Value = String> {
    "[!-~]{1,128}"
}

/// Any JSON value; `floats` adds non-integer numbers (which serde_json may not read back to the
/// same bits, so round-trip properties leave them out).
fn json_value(floats: bool) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", move |f| {
            if floats {
                serde_json::Number::from_f64(f).map(Value::Number)
            } else {
                Some(Value::from(f as i64))
            }
        }),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// The field names a publish body may use, in both shapes, and some it may not.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("user".to_owned()),
        Just("UserId".to_owned()),
        Just("name".to_owned()),
        Just("Name".to_owned()),
        Just("payload".to_owned()),
        Just("Payload".to_owned()),
        Just("idempotency_key".to_owned()),
        Just("IdempotencyKey".to_owned()),
        Just("events".to_owned()),
        any::<String>(),
    ]
}

/// A value that is sometimes valid for a publish field and sometimes not.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        visible_text(MAX_USER_ID_BYTES).prop_map(Value::String),
        idempotency_key().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        json_value(true),
    ]
}

/// An object that looks like an event: each publish field often present, under its new or its
/// legacy name, often valid, sometimes not; plus other fields that may clash with them.
fn event_like() -> impl Strategy<Value = Value> {
    let field = |names: [&'static str; 2], valid: BoxedStrategy<Value>| {
        prop::option::weighted(
            0.8,
            (
                prop::sample::select(names.to_vec()),
                prop_oneof![3 => valid, 1 => field_value()],
            ),
        )
    };
    (
        field(
            ["user", "UserId"],
            visible_text(MAX_USER_ID_BYTES)
                .prop_map(Value::String)
                .boxed(),
        ),
        field(
            ["name", "Name"],
            visible_text(MAX_EVENT_NAME_BYTES)
                .prop_map(Value::String)
                .boxed(),
        ),
        field(["payload", "Payload"], json_value(true).boxed()),
        prop::option::weighted(
            0.3,
            (
                prop::sample::select(vec!["idempotency_key", "IdempotencyKey"]),
                prop_oneof![3 => idempotency_key().prop_map(Value::String), 1 => field_value()],
            ),
        ),
        prop::collection::vec((field_name(), field_value()), 0..2),
    )
        .prop_map(|(user, name, payload, key, extra)| {
            let mut object = Map::new();
            for (field, value) in [user, name, payload, key].into_iter().flatten() {
                object.insert(field.to_owned(), value);
            }
            for (field, value) in extra {
                object.insert(field, value);
            }
            Value::Object(object)
        })
}

/// A JSON body that a publisher might send: any JSON, an event-like object, or a batch of them.
fn body_like() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(true),
        event_like(),
        prop::collection::vec(prop_oneof![4 => event_like(), 1 => json_value(true)], 0..6)
            .prop_map(|events| json!({ "events": events })),
    ]
}

/// An event that the parser must accept, in the new or the legacy field names.
#[derive(Debug, Clone)]
struct ValidEvent {
    user: Value,
    name: String,
    payload: Option<Value>,
    key: Option<String>,
    legacy: bool,
}

impl ValidEvent {
    fn expected_user(&self) -> String {
        match &self.user {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }
    }

    fn to_json(&self) -> Value {
        let [user, name, payload_field, key] = field_names(self.legacy);
        let mut object = Map::new();
        object.insert(user.into(), self.user.clone());
        object.insert(name.into(), Value::String(self.name.clone()));
        if let Some(payload) = &self.payload {
            object.insert(payload_field.into(), payload.clone());
        }
        if let Some(k) = &self.key {
            object.insert(key.into(), Value::String(k.clone()));
        }
        Value::Object(object)
    }
}

fn field_names(legacy: bool) -> [&'static str; 4] {
    if legacy {
        ["UserId", "Name", "Payload", "IdempotencyKey"]
    } else {
        ["user", "name", "payload", "idempotency_key"]
    }
}

fn valid_event() -> impl Strategy<Value = ValidEvent> {
    (
        prop_oneof![
            3 => visible_text(MAX_USER_ID_BYTES).prop_map(Value::String),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<u64>().prop_map(Value::from),
        ],
        visible_text(MAX_EVENT_NAME_BYTES),
        prop::option::of(json_value(true)),
        prop::option::of(idempotency_key()),
        any::<bool>(),
    )
        .prop_map(|(user, name, payload, key, legacy)| ValidEvent {
            user,
            name,
            payload,
            key,
            legacy,
        })
}

/// One valid event, or a batch of 1 to 20 (possibly mixing both field-name shapes).
fn valid_body() -> impl Strategy<Value = (Vec<ValidEvent>, bool)> {
    prop_oneof![
        valid_event().prop_map(|event| (vec![event], false)),
        prop::collection::vec(valid_event(), 1..=20).prop_map(|events| (events, true)),
    ]
}

fn body_of(events: &[ValidEvent], batch: bool) -> Vec<u8> {
    let body = if batch {
        json!({ "events": events.iter().map(ValidEvent::to_json).collect::<Vec<_>>() })
    } else {
        events[0].to_json()
    };
    serde_json::to_vec(&body).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Publish bodies: re-serializing what was accepted
// ---------------------------------------------------------------------------------------------

/// The shape a body was sent in: for each event, whether it used the legacy field names, and
/// whether the events came in a batch.
struct Shape {
    batch: bool,
    legacy: Vec<bool>,
}

/// Reads the shape of a body the parser accepted.
fn shape_of(body: &[u8]) -> Shape {
    let object: Map<String, Value> = serde_json::from_slice(body).unwrap();
    let is_legacy = |event: &Map<String, Value>| !event.contains_key("user");
    match object.get("events") {
        Some(Value::Array(events)) => Shape {
            batch: true,
            legacy: events
                .iter()
                .map(|event| is_legacy(event.as_object().unwrap()))
                .collect(),
        },
        _ => Shape {
            batch: false,
            legacy: vec![is_legacy(&object)],
        },
    }
}

/// Writes accepted events back into a body of the given shape. Legacy events carry their user
/// as an integer when it is one, as the Symfony code sends it.
fn reserialize(events: &[NewEvent], shape: &Shape) -> Vec<u8> {
    let objects: Vec<String> = events
        .iter()
        .zip(&shape.legacy)
        .map(|(event, &legacy)| {
            let [user, name, payload, key] = field_names(legacy);
            let user_text = event.to.as_str();
            let user_json = match (user_text.parse::<i64>(), user_text.parse::<u64>()) {
                (Ok(n), _) if legacy && n.to_string() == user_text => n.to_string(),
                (_, Ok(n)) if legacy && n.to_string() == user_text => n.to_string(),
                _ => serde_json::to_string(user_text).unwrap(),
            };
            let mut fields = vec![
                format!("{:?}:{user_json}", user),
                format!("{:?}:{}", name, serde_json::to_string(&event.name).unwrap()),
                format!("{:?}:{}", payload, event.payload.get()),
            ];
            // An event's own key goes back in the body; a key the header gave comes back from
            // the header.
            if let Some(IdempotencyKey::Event(k)) = &event.idempotency_key {
                fields.push(format!("{:?}:{}", key, serde_json::to_string(k).unwrap()));
            }
            format!("{{{}}}", fields.join(","))
        })
        .collect();
    if shape.batch {
        format!(r#"{{"events":[{}]}}"#, objects.join(",")).into_bytes()
    } else {
        objects.concat().into_bytes()
    }
}

type Summary = Vec<(String, String, String, Option<IdempotencyKey>)>;

fn summary(events: &[NewEvent]) -> Summary {
    events
        .iter()
        .map(|e| {
            (
                e.to.as_str().to_owned(),
                e.name.clone(),
                e.payload.get().to_owned(),
                e.idempotency_key.clone(),
            )
        })
        .collect()
}

/// If the request was accepted, the accepted events written back in the same shape, and sent
/// with the same header, parse to the same events.
fn assert_round_trip(body: &[u8], header: Option<&str>) -> Result<(), TestCaseError> {
    let Ok(events) = parse_publish_request(body, header) else {
        return Ok(());
    };
    let again = reserialize(&events, &shape_of(body));
    let parsed = parse_publish_request(&again, header);
    prop_assert!(
        parsed.is_ok(),
        "{} was accepted, its events written back as {} were not: {:?}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&again),
        parsed
    );
    prop_assert_eq!(summary(&parsed.unwrap()), summary(&events));
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn publish_parsers_never_panic_on_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..256),
        header in prop::option::of(any::<String>()),
    ) {
        let _ = parse_publish_body(&body);
        let _ = parse_publish_request(&body, header.as_deref());
    }

    #[test]
    fn publish_parsers_never_panic_on_arbitrary_json_and_accepted_bodies_round_trip(
        body in body_like(),
        header in prop::option::of(prop_oneof![idempotency_key(), any::<String>()]),
    ) {
        let body = serde_json::to_vec(&body).unwrap();
        let plain = parse_publish_body(&body);
        prop_assert_eq!(
            plain.as_ref().map(|events| summary(events)).ok(),
            parse_publish_request(&body, None).map(|events| summary(&events)).ok(),
        );
        assert_round_trip(&body, None)?;
        assert_round_trip(&body, header.as_deref())?;
    }

    #[test]
    fn edited_valid_bodies_never_panic_and_round_trip_if_accepted(
        (events, batch) in valid_body(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
        header in prop::option::of(idempotency_key()),
    ) {
        let mut body = body_of(&events, batch);
        for (index, byte, kind) in edits {
            if body.is_empty() {
                break;
            }
            let at = index.index(body.len());
            match kind {
                0 => body[at] = byte,
                1 => body.insert(at, byte),
                _ => { body.remove(at); }
            }
        }
        assert_round_trip(&body, None)?;
        assert_round_trip(&body, header.as_deref())?;
    }

    #[test]
    fn valid_events_are_accepted_as_sent(
        (events, batch) in valid_body(),
        header in prop::option::of(idempotency_key()),
    ) {
        let body = body_of(&events, batch);
        let parsed = parse_publish_request(&body, header.as_deref());
        prop_assert!(parsed.is_ok(), "{}: {:?}", String::from_utf8_lossy(&body), parsed);
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.len(), events.len());
        for (index, (got, sent)) in parsed.iter().zip(&events).enumerate() {
            prop_assert_eq!(got.to.as_str(), sent.expected_user());
            prop_assert_eq!(&got.name, &sent.name);
            let payload = sent.payload.as_ref().map_or("null".to_owned(), Value::to_string);
            prop_assert_eq!(got.payload.get(), payload);
            let key = match (&sent.key, &header) {
                (Some(own), _) => Some(IdempotencyKey::Event(own.clone())),
                (None, Some(h)) => Some(IdempotencyKey::Request { key: h.clone(), index }),
                (None, None) => None,
            };
            prop_assert_eq!(&got.idempotency_key, &key);
        }
        assert_round_trip(&body, None)?;
        assert_round_trip(&body, header.as_deref())?;
    }
}

// ---------------------------------------------------------------------------------------------
// The Edgepush-Signature header
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn test_keys() -> PublishKeys {
    PublishKeys::parse(&format!("k1:{SECRET}")).unwrap()
}

/// A `t=` value: anything an attacker could write, the extremes included.
fn timestamp_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|t| t.to_string()),
        Just(i64::MIN.to_string()),
        Just(i64::MAX.to_string()),
        Just("-0".to_owned()),
        Just("+1".to_owned()),
        Just("99999999999999999999".to_owned()),
        any::<String>(),
    ]
}

/// A server clock: anything, the extremes included.
fn clock() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0i64),
        0i64..4_000_000_000,
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signature_headers_never_panic(header in any::<String>(), now in clock()) {
        let _ = test_keys().verify(Some(&header), "POST", "/publish", b"{}", now);
    }

    #[test]
    fn signature_timestamps_never_panic(
        t in timestamp_text(),
        now in clock(),
        key_id in prop_oneof![Just("k1".to_owned()), any::<String>()],
        v1 in prop_oneof!["[0-9a-f]{64}", any::<String>()],
    ) {
        let header = format!("keyid={key_id},t={t},v1={v1}");
        let keys = test_keys();
        let result = keys.verify(Some(&header), "POST", "/publish", b"{}", now);
        // A well-formed header naming the key fails only on the clock or the digest.
        if key_id == "k1" && v1.len() == 64 && v1.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(t) = t.parse::<i64>()
        {
            let far = now.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs();
            prop_assert_eq!(result.unwrap_err(), if far {
                SignatureError::Stale { timestamp: t, now }
            } else {
                SignatureError::Mismatch
            });
        }
    }

    #[test]
    fn signed_requests_verify(
        key_id in "[A-Za-z0-9_.-]{1,64}",
        secret in "[!-+\\--~]{32,64}",
        method in "[A-Z]{1,8}",
        path in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        now in clock(),
        skew in -TOLERANCE_SECONDS..=TOLERANCE_SECONDS,
    ) {
        let t = now.saturating_add(skew);
        let header = SigningKey::new(&key_id, secret.as_bytes()).unwrap().sign(t, &method, &path, &body);
        let keys = PublishKeys::parse(&format!("other:{SECRET},{key_id}:{secret}")).unwrap_or_else(
            |_| PublishKeys::parse(&format!("{key_id}:{secret}")).unwrap(),
        );
        prop_assert_eq!(
            keys.verify(Some(&header), &method, &path, &body, now).map(|v| v.key_id),
            Ok(key_id.as_str())
        );
    }

    #[test]
    fn any_single_byte_change_to_the_body_is_a_mismatch(
        body in prop::collection::vec(any::<u8>(), 1..512),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        kind in 0..3u8,
        now in clock(),
    ) {
        let key = SigningKey::new("k1", SECRET.as_bytes()).unwrap();
        let header = key.sign(now, "POST", "/publish", &body);
        let mut changed = body.clone();
        let at = at.index(body.len());
        match kind {
            0 => changed[at] ^= byte.max(1),
            1 => changed.insert(at, byte),
            _ => { changed.remove(at); }
        }
        let keys = test_keys();
        prop_assert_eq!(
            keys.verify(Some(&header), "POST", "/publish", &changed, now),
            Err(SignatureError::Mismatch)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Connect tokens
// ---------------------------------------------------------------------------------------------

const TOKEN_SECRET: &[u8] = b"jwt-secret-of-at-least-32-bytes-long";

fn token_key() -> TokenKey {
    TokenKey::new(TOKEN_SECRET).unwrap()
}

/// A token signed with the test secret over any header and claims text, so the parser gets past
/// the signature.
fn forge(header: &[u8], claims: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(TOKEN_SECRET).unwrap();
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn audience() -> impl Strategy<Value = Audience> {
    prop_oneof![
        any::<String>().prop_map(Audience::One),
        prop::collection::vec(any::<String>(), 0..4).prop_map(Audience::Many),
    ]
}

/// Any claims at all, the time extremes included.
fn any_claims() -> impl Strategy<Value = Claims> {
    (
        any::<String>(),
        clock(),
        prop::option::of(clock()),
        prop::option::of(clock()),
        prop::option::of(audience()),
        prop::option::of(any::<String>()),
    )
        .prop_map(|(sub, exp, nbf, iat, aud, iss)| Claims {
            sub,
            exp,
            nbf,
            iat,
            aud,
            iss,
            topics: Vec::new(),
            subs: Vec::new(),
        })
}

/// Claims the verifier must accept at `now`: a valid sub, `exp` at least a day ahead, `nbf` and
/// `iat` not after `now`.
fn valid_claims() -> impl Strategy<Value = (Claims, i64)> {
    (
        visible_text(MAX_USER_ID_BYTES),
        0i64..4_000_000_000,
        prop_oneof![86_400i64..100 * 365 * 86_400, Just(i64::MAX)],
        prop::option::of(0i64..1_000_000_000),
        prop::option::of(0i64..1_000_000_000),
        prop::option::of(audience()),
        prop::option::of(any::<String>()),
    )
        .prop_map(|(sub, now, ahead, nbf_ago, iat_ago, aud, iss)| {
            let claims = Claims {
                sub,
                exp: now.saturating_add(ahead),
                nbf: nbf_ago.map(|ago| now - ago),
                iat: iat_ago.map(|ago| now - ago),
                aud,
                iss,
                topics: Vec::new(),
                subs: Vec::new(),
            };
            (claims, now)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tokens_never_panic_on_arbitrary_strings(token in any::<String>(), now in clock()) {
        let _ = token_key().verify(&token, now);
    }

    #[test]
    fn tokens_never_panic_on_arbitrary_segments(
        segments in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..5),
        now in clock(),
    ) {
        let token: Vec<String> = segments.iter().map(|s| URL_SAFE_NO_PAD.encode(s)).collect();
        let _ = token_key().verify(&token.join("."), now);
    }

    #[test]
    fn correctly_signed_tokens_with_any_claims_never_panic(
        header in prop_oneof![Just(br#"{"alg":"HS256"}"#.to_vec()), prop::collection::vec(any::<u8>(), 0..32)],
        claims in prop_oneof![
            json_value(true).prop_map(|v| serde_json::to_vec(&v).unwrap()),
            any_claims().prop_map(|c| serde_json::to_vec(&c).unwrap()),
            (field_value(), field_value()).prop_map(|(sub, exp)| {
                serde_json::to_vec(&json!({ "sub": sub, "exp": exp })).unwrap()
            }),
        ],
        now in clock(),
    ) {
        let _ = token_key().verify(&forge(&header, &claims), now);
    }

    #[test]
    fn minted_tokens_with_any_claims_never_panic(claims in any_claims(), now in clock()) {
        let _ = token_key().verify(&token_key().mint(&claims), now);
    }

    #[test]
    fn minted_claims_round_trip((claims, now) in valid_claims()) {
        let token = token_key().mint(&claims);
        prop_assert_eq!(token_key().verify(&token, now), Ok(claims.clone()));
        // A verifier that asks for the token's own audience and issuer accepts it too.
        let mut strict = token_key();
        if let Some(aud) = match &claims.aud {
            Some(Audience::One(aud)) => Some(aud),
            Some(Audience::Many(auds)) => auds.first(),
            None => None,
        } {
            strict = strict.with_audience(aud);
        }
        if let Some(iss) = &claims.iss {
            strict = strict.with_issuer(iss);
        }
        prop_assert_eq!(strict.verify(&token, now), Ok(claims));
    }

    #[test]
    fn tampered_tokens_are_refused(
        (claims, now) in valid_claims(),
        at in any::<prop::sample::Index>(),
        replacement in prop_oneof!["[A-Za-z0-9_-]", any::<char>().prop_map(String::from)],
    ) {
        let token = token_key().mint(&claims);
        let at = at.index(token.len());
        let original = &token[at..=at];
        prop_assume!(original != replacement);
        let tampered = format!("{}{}{}", &token[..at], replacement, &token[at + 1..]);
        let result = token_key().verify(&tampered, now);
        prop_assert!(result.is_err(), "{tampered} was accepted: {result:?}");
    }

    #[test]
    fn tokens_with_other_claims_or_another_secret_are_refused(
        (claims, now) in valid_claims(),
        (other, _) in valid_claims(),
        secret in prop::collection::vec(any::<u8>(), 32..64),
    ) {
        prop_assume!(claims != other);
        let token = token_key().mint(&claims);
        let swapped = token_key().mint(&other);
        let parts: Vec<&str> = token.split('.').collect();
        let other_claims = swapped.split('.').nth(1).unwrap();
        let spliced = format!("{}.{}.{}", parts[0], other_claims, parts[2]);
        prop_assert_eq!(token_key().verify(&spliced, now), Err(TokenError::BadSignature));
        prop_assume!(secret != TOKEN_SECRET);
        let foreign = TokenKey::new(&secret).unwrap().mint(&claims);
        prop_assert_eq!(token_key().verify(&foreign, now), Err(TokenError::BadSignature));
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket frames
// ---------------------------------------------------------------------------------------------

fn server_frame() -> impl Strategy<Value = ServerFrame<Value>> {
    let welcome = (
        any::<String>(),
        any::<String>(),
        any::<u64>(),
        any::<i64>(),
        any::<u64>(),
        any::<String>(),
        prop::option::of(any::<bool>()),
        prop_oneof![Just(HEARTBEAT_INTERVAL_MS), any::<u32>()],
    )
        .prop_map(
            |(
                user,
                connection,
                server_time,
                token_expires_at,
                last_id,
                epoch,
                recovered,
                heartbeat_ms,
            )| {
                ServerFrame::Welcome(Welcome {
                    user,
                    connection,
                    server_time,
                    token_expires_at,
                    last_id,
                    epoch,
                    recovered,
                    heartbeat_ms,
                })
            },
        );
    let event = (
        any::<u64>(),
        any::<String>(),
        json_value(false),
        any::<u64>(),
    )
        .prop_map(|(id, name, payload, ts)| {
            ServerFrame::Event(EventFrame {
                topic: None,
                id,
                name,
                payload,
                ts,
            })
        });
    let error = (any::<String>(), any::<String>()).prop_map(|(code, message)| {
        ServerFrame::Error(ErrorBody {
            code,
            message,
            retry_after_ms: None,
        })
    });
    prop_oneof![welcome, event, error, Just(ServerFrame::Pong)]
}

/// Text a client might send: anything, JSON, or an object with a `type`.
fn frame_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        json_value(true).prop_map(|v| v.to_string()),
        (
            prop_oneof![
                Just(Value::from("ping")),
                Just(Value::from("pong")),
                Just(Value::from("event")),
                Just(Value::from("welcome")),
                json_value(true),
            ],
            prop::collection::btree_map(any::<String>(), json_value(true), 0..4),
        )
            .prop_map(|(kind, mut rest)| {
                rest.insert("type".into(), kind);
                Value::Object(rest.into_iter().collect()).to_string()
            }),
        Just(PING.to_owned()),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn client_frames_never_panic_and_only_pings_are_read(text in frame_text()) {
        if let Ok(frame) = serde_json::from_str::<ClientFrame>(&text) {
            prop_assert_eq!(frame, ClientFrame::Ping);
            let value: Value = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&value["type"], "ping");
        }
        let _ = serde_json::from_str::<ServerFrame<Value>>(&text);
        let _ = serde_json::from_str::<ServerFrame<Box<RawValue>>>(&text);
    }

    #[test]
    fn server_frames_round_trip(frame in server_frame()) {
        let text = serde_json::to_string(&frame).unwrap();
        prop_assert_eq!(serde_json::from_str::<ServerFrame<Value>>(&text).unwrap(), frame);
    }

    #[test]
    fn event_frames_with_raw_payloads_read_back_as_their_json(
        id in any::<u64>(),
        name in any::<String>(),
        payload in json_value(true),
        ts in any::<u64>(),
    ) {
        // The room serializes the payload byte for byte as published; a client decodes it.
        let raw = RawValue::from_string(serde_json::to_string(&payload).unwrap()).unwrap();
        let sent = ServerFrame::Event(EventFrame { topic: None, id, name: name.clone(), payload: &*raw, ts });
        let text = serde_json::to_string(&sent).unwrap();
        let read = serde_json::from_str::<ServerFrame<Value>>(&text).unwrap();
        let expected: Value = serde_json::from_str(raw.get()).unwrap();
        prop_assert_eq!(read, ServerFrame::Event(EventFrame { topic: None, id, name, payload: expected, ts }));
    }
}

// ---------------------------------------------------------------------------------------------
// Topic names and patterns
// ---------------------------------------------------------------------------------------------

/// Topic-like text: a namespace, then segments of visible ASCII and the characters that matter.
fn topic_like() -> impl Strategy<Value = String> {
    (
        "[a-z0-9_-]{1,8}",
        proptest::collection::vec("[a-zA-Z0-9#,%*.-]{0,6}", 1..4),
    )
        .prop_map(|(namespace, segments)| format!("{namespace}:{}", segments.join(":")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn topic_parsing_never_panics(text in any::<String>(), like in topic_like()) {
        for text in [text.as_str(), like.as_str()] {
            if let Ok(topic) = edgepush_protocol::topic::Topic::parse(text) {
                prop_assert_eq!(topic.as_str(), text);
                prop_assert!(!text.contains('*'));
                prop_assert!(text.len() <= edgepush_protocol::topic::MAX_TOPIC_BYTES);
            }
            let _ = edgepush_protocol::topic::TopicPattern::parse(text);
        }
    }

    #[test]
    fn a_pattern_with_any_segment_starred_matches_its_topic_and_only_same_shaped_ones(
        like in topic_like(),
        star in any::<prop::sample::Index>(),
        other in topic_like(),
    ) {
        use edgepush_protocol::topic::{Topic, TopicPattern};
        let Ok(topic) = Topic::parse(&like) else { return Ok(()) };
        let mut segments: Vec<&str> = like.split(':').collect();
        let exact = TopicPattern::parse(&like).unwrap();
        prop_assert!(exact.matches(&topic));
        let i = 1 + star.index(segments.len() - 1);
        if !segments[i].starts_with('#') {
            segments[i] = "*";
            let pattern = TopicPattern::parse(&segments.join(":")).unwrap();
            prop_assert!(pattern.matches(&topic));
            if let Ok(other) = Topic::parse(&other) {
                let same_shape = other.as_str().split(':').count() == segments.len()
                    && other.namespace() == topic.namespace();
                if !same_shape {
                    prop_assert!(!pattern.matches(&other));
                }
            }
        }
    }
}
