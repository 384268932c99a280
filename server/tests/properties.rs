//! Property tests for the parsers of `server/src/api.rs` that read outside input: the route of a
//! request, where its connect token is, its resume and refusal parameters and the
//! `POST /disconnect` body.
//! Each property runs 256 generated cases; a failure is shrunk, printed, and its seed saved in
//! `properties.proptest-regressions` beside this file (commit it), so every later run tries it
//! first.

#![allow(clippy::unwrap_used)]

use edgepush_protocol::frames::{REFUSAL_CLOSE, SUBPROTOCOL};
use edgepush_server::api::{DisconnectRequest, Refusal, Route, connect_token, resume_request};
use edgepush_server::error::ServerError;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

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

const PATHS: [&str; 4] = ["/health", "/connect", "/publish", "/disconnect"];
const METHODS: [&str; 4] = ["GET", "HEAD", "POST", "OPTIONS"];

/// A method: a real one, a near miss, or anything.
fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(METHODS.to_vec()).prop_map(str::to_owned),
        prop::sample::select(vec!["get", "PUT", "DELETE", "PATCH", "CONNECT", ""])
            .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// A path: a real one, a near miss, or anything.
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(PATHS.to_vec()).prop_map(str::to_owned),
        (prop::sample::select(PATHS.to_vec()), any::<String>())
            .prop_map(|(path, suffix)| format!("{path}{suffix}")),
        any::<String>(),
    ]
}

/// A `Sec-WebSocket-Protocol` value: a list mixing the subprotocol, token-like entries, blanks
/// and anything.
fn subprotocols() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![
                Just(SUBPROTOCOL.to_owned()),
                Just(String::new()),
                Just(" ".to_owned()),
                "[A-Za-z0-9_-]{1,20}\\.[A-Za-z0-9_-]{1,20}\\.[A-Za-z0-9_-]{1,20}",
                any::<String>(),
            ],
            0..5,
        )
        .prop_map(|entries| entries.join(",")),
        any::<String>(),
    ]
}

/// A `since` value: a number, one with a sign, leading zeros or an overflow, or anything.
fn since() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| format!("+{n}")),
        any::<u64>().prop_map(|n| format!("000{n}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u128>().prop_map(|n| n.to_string()),
        "[0-9 +-]{0,24}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn routes_never_panic_and_accept_only_the_api(method in method(), path in path()) {
        match Route::of(&method, &path) {
            Ok(route) => {
                prop_assert!(PATHS.contains(&path.as_str()), "{method} {path:?} routed");
                let expected = match (path.as_str(), method.as_str()) {
                    ("/health", "GET" | "HEAD") => Route::Health,
                    ("/connect", "GET" | "HEAD") => Route::Connect,
                    ("/publish", "POST") => Route::Publish,
                    ("/disconnect", "POST") => Route::Disconnect,
                    ("/publish" | "/disconnect", "OPTIONS") => Route::Preflight,
                    _ => return Err(TestCaseError::fail(format!("{method} {path} is {route:?}"))),
                };
                prop_assert_eq!(route, expected);
            }
            Err(err) => {
                let status = if PATHS.contains(&path.as_str()) { 405 } else { 404 };
                prop_assert_eq!(err.status(), status, "{} {:?}: {}", method, path, err);
            }
        }
    }

    #[test]
    fn connect_tokens_never_panic_and_come_from_the_request(
        offered in prop::option::of(subprotocols()),
        query in prop::option::of(prop_oneof![Just(String::new()), any::<String>()]),
    ) {
        let entries: Vec<&str> = offered
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .collect();
        match connect_token(offered.as_deref(), query.as_deref()) {
            Ok(found) => {
                prop_assert!(!found.token.is_empty());
                prop_assert_eq!(found.echo_subprotocol, entries.contains(&SUBPROTOCOL));
                // Beside the subprotocol, the first offered entry that is not it wins over the
                // query; without the subprotocol, no entry is a token.
                let from_list = entries
                    .iter()
                    .copied()
                    .find(|e| !e.is_empty() && *e != SUBPROTOCOL)
                    .filter(|_| found.echo_subprotocol);
                prop_assert_eq!(Some(found.token), from_list.or(query.as_deref()));
            }
            Err(err) => {
                prop_assert!(matches!(err, ServerError::MissingToken), "{err:?}");
                prop_assert!(
                    !entries.contains(&SUBPROTOCOL)
                        || entries.iter().all(|e| e.is_empty() || *e == SUBPROTOCOL)
                );
                prop_assert!(query.as_deref().is_none_or(str::is_empty));
            }
        }
    }

    #[test]
    fn a_token_offered_beside_the_subprotocol_is_found(
        token in "[A-Za-z0-9_-]{1,40}\\.[A-Za-z0-9_-]{1,200}\\.[A-Za-z0-9_-]{43}",
        subprotocol_first in any::<bool>(),
        query in prop::option::of(any::<String>()),
    ) {
        let offered = if subprotocol_first {
            format!("{SUBPROTOCOL}, {token}")
        } else {
            format!("{token},{SUBPROTOCOL}")
        };
        let found = connect_token(Some(&offered), query.as_deref()).unwrap();
        prop_assert_eq!((found.token, found.echo_subprotocol), (token.as_str(), true));
    }

    #[test]
    fn resume_parameters_never_panic_and_accepted_since_values_round_trip(
        since in prop::option::of(since()),
        epoch in prop::option::of(prop_oneof!["[a-z0-9-]{0,70}", any::<String>()]),
    ) {
        let Ok(request) = resume_request(since.as_deref(), epoch.as_deref()) else {
            let since_ok = since.as_deref().is_none_or(|s| s.parse::<u64>().is_ok());
            let epoch_ok = epoch.as_deref().is_none_or(|e| (1..=64).contains(&e.len()));
            prop_assert!(!(since_ok && epoch_ok), "{since:?} {epoch:?} refused");
            return Ok(());
        };
        prop_assert_eq!(request.since, since.as_deref().map(|s| s.parse::<u64>().unwrap()));
        prop_assert_eq!(request.epoch.as_deref(), epoch.as_deref());
        // The id a client stores and sends back next time reads as the same id.
        if let Some(id) = request.since {
            let again = resume_request(Some(&id.to_string()), request.epoch.as_deref()).unwrap();
            prop_assert_eq!(again, request);
        }
    }

    #[test]
    fn every_event_id_is_a_valid_since(id in any::<u64>()) {
        prop_assert_eq!(resume_request(Some(&id.to_string()), None).unwrap().since, Some(id));
    }

    #[test]
    fn refusals_are_in_band_only_for_exactly_close(
        refusal in prop::option::of(prop_oneof![
            Just(REFUSAL_CLOSE.to_owned()),
            Just("Close".to_owned()),
            Just(format!("{REFUSAL_CLOSE} ")),
            any::<String>(),
        ]),
    ) {
        let in_band = refusal.as_deref() == Some(REFUSAL_CLOSE);
        prop_assert_eq!(
            Refusal::asked(refusal.as_deref()),
            if in_band { Refusal::InBand } else { Refusal::Http }
        );
    }

    #[test]
    fn disconnect_bodies_never_panic(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..128),
            (any::<String>(), any::<i64>(), prop::option::of(any::<bool>())).prop_map(
                |(user, n, reconnect)| {
                    let user = if n % 2 == 0 { serde_json::to_string(&user).unwrap() } else { n.to_string() };
                    match reconnect {
                        Some(r) => format!(r#"{{"user":{user},"reconnect":{r}}}"#),
                        None => format!(r#"{{"user":{user}}}"#),
                    }
                    .into_bytes()
                }
            ),
        ],
    ) {
        if let Err(err) = DisconnectRequest::parse(&body) {
            prop_assert_eq!(err.status(), 400);
        }
    }
}
