//! Decoding what the server sends: text frames into the machine's [`Frame`]s, and the `exp`
//! claim of a connect token.
//!
//! The JSON itself is parsed by whoever calls: the browser's own `JSON.parse` in the client (no
//! JSON parser in the wasm), `serde_json` in the tests. This module only reads fields from the
//! parsed object, through [`JsonObject`], so it is tested natively against the sample frames of
//! `protocol/codes.json`.

use alloc::string::String;

use edgepush_protocol::frames::{
    ErrorBody, EventFrame, Occupancy, PONG, PresenceChange, Subscribed, Unsubscribed,
};

use crate::connection::{Frame, Token, Welcome};

/// A parsed JSON value, read one field at a time. Each method is `None` when the value is not an
/// object, lacks the field, or the field has another type.
pub(crate) trait JsonObject: Sized {
    /// The string field `key`.
    fn string(&self, key: &str) -> Option<String>;
    /// The numeric field `key`.
    fn number(&self, key: &str) -> Option<f64>;
    /// The boolean field `key`.
    fn boolean(&self, key: &str) -> Option<bool>;
    /// The object field `key`.
    fn object(&self, key: &str) -> Option<Self>;
}

/// Decodes one text frame, parsing it with `parse`. An event keeps the whole parsed frame object
/// (`{type, id, name, payload, ts}`) as its payload, which the JS API hands out as is. A frame
/// this client does not understand (not JSON, a newer server's frame type, a missing field)
/// decodes as [`Frame::Pong`]: only a sign of life.
pub(crate) fn frame<O: JsonObject>(text: &str, parse: impl FnOnce(&str) -> Option<O>) -> Frame<O> {
    if text == PONG {
        return Frame::Pong;
    }
    parse(text).and_then(known_frame).unwrap_or(Frame::Pong)
}

fn known_frame<O: JsonObject>(value: O) -> Option<Frame<O>> {
    let frame = match value.string("type")?.as_str() {
        "event" => Frame::Event(EventFrame {
            topic: value.string("topic"),
            id: value.number("id")? as u64,
            name: value.string("name")?,
            ts: value.number("ts").unwrap_or(0.0) as u64,
            payload: value,
        }),
        "welcome" => Frame::Welcome(Welcome {
            server_time: value.number("server_time")? as u64,
            last_id: value.number("last_id")? as u64,
            epoch: value.string("epoch")?,
            recovered: value.boolean("recovered"),
            heartbeat_ms: value.number("heartbeat_ms")? as u32,
        }),
        "error" => Frame::Error(error_body(&value)),
        "pong" => Frame::Pong,
        "subscribed" => Frame::Subscribed(Subscribed {
            topic: value.string("topic")?,
            last_id: value.number("last_id")? as u64,
            epoch: value.string("epoch")?,
            recovered: value.boolean("recovered"),
        }),
        "unsubscribed" => Frame::Unsubscribed(unsubscribed(&value)?),
        "occupancy" => Frame::Occupancy(Occupancy {
            topic: value.string("topic")?,
            count: value.number("count")? as u64,
        }),
        "presence" => Frame::Presence(PresenceChange {
            topic: value.string("topic")?,
            user: value.string("user")?,
            present: value.boolean("present")?,
        }),
        _ => return None,
    };
    Some(frame)
}

/// An `unsubscribed` frame's `{topic, error}` (the JS driver also hands a topic socket's
/// refusal to the client's machine in this shape).
pub(crate) fn unsubscribed<O: JsonObject>(value: &O) -> Option<Unsubscribed> {
    Some(Unsubscribed {
        topic: value.string("topic")?,
        error: error_body(&value.object("error")?),
    })
}

/// `{code, message, retry_after_ms?}`, with empty texts for missing ones.
fn error_body<O: JsonObject>(value: &O) -> ErrorBody {
    ErrorBody {
        code: value.string("code").unwrap_or_default(),
        message: value.string("message").unwrap_or_default(),
        retry_after_ms: value.number("retry_after_ms").map(|ms| ms as u64),
    }
}

/// A token and its `exp` claim. `read_claims` gets the claims segment as standard base64 and
/// decodes and parses it (the browser's `atob` and `JSON.parse` in the client); a token whose
/// claims cannot be read has no `exp`, and the server judges it.
pub(crate) fn token<O: JsonObject>(
    value: String,
    read_claims: impl FnOnce(&str) -> Option<O>,
) -> Token {
    let exp = read_claims(&claims_base64(&value))
        .and_then(|claims| claims.number("exp"))
        .map(|exp| exp as i64);
    Token { value, exp }
}

/// The middle of a JWT's three dot-separated segments, base64url turned into base64.
fn claims_base64(token: &str) -> String {
    // A char loop rather than `split`: string searchers bring their code into the wasm.
    let mut claims = String::new();
    let mut dots = 0;
    for c in token.chars() {
        match c {
            '.' => dots += 1,
            _ if dots != 1 => {}
            '-' => claims.push('+'),
            '_' => claims.push('/'),
            c => claims.push(c),
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use edgepush_protocol::frames::{PING, ServerFrame};
    use edgepush_protocol::token::{Claims, TokenKey};
    use serde_json::Value;

    impl JsonObject for Value {
        fn string(&self, key: &str) -> Option<String> {
            self.get(key)?.as_str().map(String::from)
        }
        fn number(&self, key: &str) -> Option<f64> {
            self.get(key)?.as_f64()
        }
        fn boolean(&self, key: &str) -> Option<bool> {
            self.get(key)?.as_bool()
        }
        fn object(&self, key: &str) -> Option<Self> {
            self.get(key).filter(|value| value.is_object()).cloned()
        }
    }

    fn parse(text: &str) -> Option<Value> {
        serde_json::from_str(text).ok()
    }

    fn decode(text: &str) -> Frame<Value> {
        frame(text, parse)
    }

    /// The sample frames of `protocol/codes.json` going in `direction`.
    fn samples(direction: &str) -> Vec<(String, String)> {
        let table: Value = serde_json::from_str(include_str!("../../protocol/codes.json")).unwrap();
        table["frames"]
            .as_array()
            .expect("codes.json has sample frames")
            .iter()
            .filter(|sample| sample["direction"] == direction)
            .map(|sample| {
                let text = sample["text"].as_str().unwrap();
                (sample["description"].to_string(), text.into())
            })
            .collect()
    }

    #[test]
    fn every_sample_server_frame_decodes_as_serde_reads_it() {
        let mut kinds = Vec::new();
        for (description, text) in samples("server") {
            let typed: ServerFrame<Value> = serde_json::from_str(&text).unwrap();
            let mut expected = Frame::from(typed);
            if let Frame::Event(event) = &mut expected {
                // The JS API hands handlers the whole frame object.
                event.payload = parse(&text).unwrap();
            }
            let decoded = decode(&text);
            assert_eq!(decoded, expected, "{description}");
            kinds.push(match decoded {
                Frame::Welcome(welcome) => match welcome.recovered {
                    Some(_) => "welcome (resumed)",
                    None => "welcome (fresh)",
                },
                Frame::Event(_) => "event",
                Frame::Error(_) => "error",
                Frame::Pong => "pong",
                Frame::Subscribed(_) => "subscribed",
                Frame::Unsubscribed(_) => "unsubscribed",
                Frame::Occupancy(_) => "occupancy",
                Frame::Presence(_) => "presence",
            });
        }
        kinds.sort();
        let expected = [
            "error",
            "event",
            "pong",
            "welcome (fresh)",
            "welcome (resumed)",
        ];
        assert_eq!(
            kinds, expected,
            "the samples cover every frame the client reads"
        );
    }

    /// The topic frames of `protocol/src/frames.rs`, as its tests write them.
    const TOPIC_FRAMES: [&str; 8] = [
        r#"{"type":"subscribed","topic":"product:42","last_id":12,"epoch":"e-1","recovered":true}"#,
        r#"{"type":"subscribed","topic":"feed:all","last_id":0,"epoch":"e-2"}"#,
        r#"{"type":"unsubscribed","topic":"orders:#7","error":{"code":"topic_forbidden","message":"not yours"}}"#,
        r#"{"type":"event","topic":"product:42","id":13,"name":"ProductChanged","payload":{"price":3},"ts":5}"#,
        r#"{"type":"event","id":4,"name":"Message","payload":{"text":"hi"},"ts":5}"#,
        r#"{"type":"occupancy","topic":"live:x","count":12}"#,
        r#"{"type":"presence","topic":"live:x","user":"42","present":true}"#,
        r#"{"type":"presence","topic":"live:x","user":"7","present":false}"#,
    ];

    #[test]
    fn topic_frames_decode_as_serde_reads_them() {
        for text in TOPIC_FRAMES {
            let typed: ServerFrame<Value> = serde_json::from_str(text).unwrap();
            let mut expected = Frame::from(typed);
            if let Frame::Event(event) = &mut expected {
                event.payload = parse(text).unwrap();
            }
            assert_eq!(decode(text), expected, "{text}");
        }
        let Frame::Event(event) = decode(TOPIC_FRAMES[3]) else {
            panic!("an event")
        };
        assert_eq!(event.topic.as_deref(), Some("product:42"));
        let Frame::Event(event) = decode(TOPIC_FRAMES[4]) else {
            panic!("an event")
        };
        assert_eq!(event.topic, None, "a user event has no topic");
        assert!(matches!(
            decode(TOPIC_FRAMES[2]),
            Frame::Unsubscribed(Unsubscribed { topic, error }) if topic == "orders:#7" && error.code == "topic_forbidden"
        ));
        assert_eq!(
            decode(TOPIC_FRAMES[5]),
            Frame::Occupancy(Occupancy {
                topic: "live:x".into(),
                count: 12
            })
        );
        assert_eq!(
            decode(TOPIC_FRAMES[7]),
            Frame::Presence(PresenceChange {
                topic: "live:x".into(),
                user: "7".into(),
                present: false
            })
        );
    }

    #[test]
    fn malformed_topic_frames_are_only_signs_of_life() {
        for text in [
            r#"{"type":"subscribed","last_id":1,"epoch":"e"}"#,
            r#"{"type":"subscribed","topic":"a:b","epoch":"e"}"#,
            r#"{"type":"unsubscribed","topic":"a:b"}"#,
            r#"{"type":"unsubscribed","topic":"a:b","error":"nope"}"#,
            r#"{"type":"occupancy","topic":"a:b"}"#,
            r#"{"type":"occupancy","count":3}"#,
            r#"{"type":"occupancy","topic":"a:b","count":"3"}"#,
            r#"{"type":"presence","topic":"a:b","user":"1"}"#,
            r#"{"type":"presence","topic":"a:b","present":true}"#,
            r#"{"type":"presence","topic":"a:b","user":42,"present":true}"#,
        ] {
            assert_eq!(decode(text), Frame::Pong, "{text}");
        }
    }

    #[test]
    fn the_sample_heartbeat_frames_are_the_exact_texts_the_client_sends_and_expects() {
        let client: Vec<String> = samples("client").into_iter().map(|(_, t)| t).collect();
        assert_eq!(client, [PING]);
        assert!(samples("server").iter().any(|(_, text)| text == PONG));
    }

    #[test]
    fn a_pong_is_recognised_without_parsing() {
        assert_eq!(frame(PONG, |_| None::<Value>), Frame::Pong);
    }

    #[test]
    fn frames_the_client_does_not_understand_are_signs_of_life() {
        for text in [
            "not json",
            "[1,2]",
            r#"{"type":"presences","users":3}"#,
            r#"{"type":"event","name":"Message","payload":{}}"#,
            r#"{"type":"welcome","server_time":1,"last_id":0,"heartbeat_ms":25000}"#,
            r#"{"type":7}"#,
        ] {
            assert_eq!(decode(text), Frame::Pong, "{text}");
        }
    }

    #[test]
    fn optional_fields_default() {
        let text = r#"{"type":"event","id":3,"name":"A","payload":null}"#;
        let Frame::Event(event) = decode(text) else {
            panic!("an event")
        };
        assert_eq!((event.id, event.name.as_str(), event.ts), (3, "A", 0));
        assert_eq!(
            decode(r#"{"type":"error"}"#),
            Frame::Error(ErrorBody {
                code: String::new(),
                message: String::new(),
                retry_after_ms: None
            })
        );
    }

    /// `atob`: standard base64 (padding optional) to text.
    fn atob(data: &str) -> Option<String> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let (mut bits, mut count, mut out) = (0u32, 0, Vec::new());
        for c in data.bytes().filter(|&c| c != b'=') {
            bits = bits << 6 | ALPHABET.iter().position(|&a| a == c)? as u32;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        String::from_utf8(out).ok()
    }

    fn read_claims(base64: &str) -> Option<Value> {
        parse(&atob(base64)?)
    }

    #[test]
    fn a_minted_tokens_exp_is_read() {
        let key = TokenKey::new(&[7; 32]).unwrap();
        // A `sub` whose claims encode to base64url's `-` and `_`, which `atob` does not accept.
        let mut url_safe_chars = false;
        for sub in ["42", "user-\u{fb}\u{ff}~~~", "??>>>"] {
            let value = key.mint(&Claims::new(sub, 1_767_225_600, 3600));
            url_safe_chars |= claims_base64(&value).contains(['+', '/']);
            let token = token(value.clone(), read_claims);
            assert_eq!(
                token,
                Token {
                    value,
                    exp: Some(1_767_229_200)
                },
                "{sub}"
            );
        }
        assert!(
            url_safe_chars,
            "no claims segment had a `-` or `_` to convert"
        );
    }

    #[test]
    fn a_token_without_readable_claims_has_no_exp() {
        for value in [
            "",
            "opaque",
            "a.%%%.c",
            "a.bm90IGpzb24.c",
            "a.eyJzdWIiOiI0MiJ9.c",
        ] {
            assert_eq!(token(value.into(), read_claims).exp, None, "{value}");
        }
    }
}
