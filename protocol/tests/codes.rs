//! The close-code and error-code table leaves Rust in two forms, and both must say what
//! `protocol/src/codes.rs` says:
//! - `protocol/codes.json`, which the PHP and JS tests read. `EDGEPUSH_WRITE_VECTORS=1 cargo test
//!   -p edgepush-protocol --test codes` rewrites it; otherwise a difference fails.
//! - the tables of "Close codes and error codes" in `README.md`.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use edgepush_protocol::frames::{
    ClientFrame, ErrorBody, ErrorResponse, EventFrame, HEARTBEAT_INTERVAL_MS, ServerFrame, Welcome,
};
use edgepush_protocol::{CloseAction, CloseCode, ErrorCode, close_action};
use serde::Serialize;
use serde_json::Value;

const WRITE_VAR: &str = "EDGEPUSH_WRITE_VECTORS";

#[derive(Serialize)]
struct CodesFile {
    description: &'static str,
    close_codes: Vec<CloseRow>,
    /// `close_action` for every `u16`, as runs of equal action: the rule for codes not in the table.
    close_actions: Vec<ActionRun>,
    error_codes: Vec<ErrorRow>,
    frames: Vec<FrameSample>,
}

#[derive(Serialize)]
struct CloseRow {
    code: u16,
    name: String,
    reason: &'static str,
    action: &'static str,
    meaning: &'static str,
}

#[derive(Serialize)]
struct ActionRun {
    from: u16,
    to: u16,
    action: &'static str,
}

#[derive(Serialize)]
struct ErrorRow {
    code: &'static str,
    name: String,
    status: u16,
    retryable: bool,
    refusal_close_code: u16,
    meaning: &'static str,
}

#[derive(Serialize)]
struct FrameSample {
    description: &'static str,
    direction: &'static str,
    text: String,
}

fn action_name(action: CloseAction) -> &'static str {
    match action {
        CloseAction::Reconnect => "reconnect",
        CloseAction::RefreshToken => "refresh_token",
        CloseAction::Stop => "stop",
    }
}

fn action_runs() -> Vec<ActionRun> {
    let mut runs: Vec<ActionRun> = Vec::new();
    for code in 0..=u16::MAX {
        let action = action_name(close_action(code));
        match runs.last_mut() {
            Some(run) if run.action == action => run.to = code,
            _ => runs.push(ActionRun {
                from: code,
                to: code,
                action,
            }),
        }
    }
    runs
}

fn frame_samples() -> Vec<FrameSample> {
    let server = |description, frame: ServerFrame<Value>| FrameSample {
        description,
        direction: "server",
        text: serde_json::to_string(&frame).expect("frames serialize"),
    };
    vec![
        server(
            "welcome after a resumed connect",
            ServerFrame::Welcome(Welcome {
                user: "42".into(),
                connection: "c-7f3a".into(),
                server_time: 1_767_225_600_000,
                token_expires_at: 1_767_229_200,
                last_id: 17,
                epoch: "e-01".into(),
                recovered: Some(true),
                heartbeat_ms: HEARTBEAT_INTERVAL_MS,
            }),
        ),
        server(
            "welcome after a fresh connect (no `recovered`)",
            ServerFrame::Welcome(Welcome {
                user: "42".into(),
                connection: "c-7f3b".into(),
                server_time: 1_767_225_600_000,
                token_expires_at: 1_767_229_200,
                last_id: 0,
                epoch: "e-01".into(),
                recovered: None,
                heartbeat_ms: HEARTBEAT_INTERVAL_MS,
            }),
        ),
        server(
            "event",
            ServerFrame::Event(EventFrame {
                topic: None,
                id: 18,
                name: "Message".into(),
                payload: serde_json::json!({"text": "hi"}),
                ts: 1_767_225_601_234,
            }),
        ),
        server(
            "error frame for a client frame other than the heartbeat",
            ServerFrame::Error(ErrorBody::new(
                ErrorCode::InvalidFrame,
                "expected {\"type\":\"ping\"}",
            )),
        ),
        server("pong", ServerFrame::Pong),
        FrameSample {
            description: "ping",
            direction: "client",
            text: serde_json::to_string(&ClientFrame::Ping).expect("frames serialize"),
        },
        FrameSample {
            description: "HTTP error body",
            direction: "http",
            text: serde_json::to_string(&ErrorResponse {
                error: ErrorBody::new(ErrorCode::StaleTimestamp, "the timestamp is 301 s old"),
            })
            .expect("bodies serialize"),
        },
    ]
}

fn codes_file() -> String {
    let file = CodesFile {
        description: "The close codes and error codes of protocol/src/codes.rs and sample frames, for \
            implementations in other languages. Generated: do not edit; run \
            `EDGEPUSH_WRITE_VECTORS=1 cargo test -p edgepush-protocol --test codes`.",
        close_codes: CloseCode::ALL
            .into_iter()
            .map(|c| CloseRow {
                code: c.as_u16(),
                name: format!("{c:?}"),
                reason: c.reason(),
                action: action_name(c.action()),
                meaning: c.meaning(),
            })
            .collect(),
        close_actions: action_runs(),
        error_codes: ErrorCode::ALL
            .into_iter()
            .map(|c| ErrorRow {
                code: c.as_str(),
                name: format!("{c:?}"),
                status: c.http_status(),
                retryable: c.is_retryable(),
                refusal_close_code: c.refusal_close_code().as_u16(),
                meaning: c.meaning(),
            })
            .collect(),
        frames: frame_samples(),
    };
    serde_json::to_string_pretty(&file).expect("the table serializes") + "\n"
}

#[test]
fn codes_json_is_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("codes.json");
    let expected = codes_file();
    if std::env::var_os(WRITE_VAR).is_some_and(|v| v == "1") {
        std::fs::write(&path, &expected).expect("codes.json is writable");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "protocol/codes.json differs from protocol/src/codes.rs; if the table is right, run \
         `{WRITE_VAR}=1 cargo test -p edgepush-protocol --test codes` and commit the file"
    );
}

#[test]
fn every_close_code_round_trips_and_keeps_its_row() {
    for code in CloseCode::ALL {
        assert_eq!(CloseCode::from(code.as_u16()), code);
        assert_eq!(close_action(code.as_u16()), code.action());
    }
    let numbers: BTreeSet<u16> = CloseCode::ALL.iter().map(|c| c.as_u16()).collect();
    assert_eq!(
        numbers.len(),
        CloseCode::ALL.len(),
        "close codes are unique"
    );
}

#[test]
fn sample_frames_decode_as_what_they_claim() {
    for sample in frame_samples() {
        match sample.direction {
            "server" => {
                let frame: ServerFrame<Value> = serde_json::from_str(&sample.text).unwrap();
                assert_eq!(serde_json::to_string(&frame).unwrap(), sample.text);
            }
            "client" => {
                serde_json::from_str::<ClientFrame>(&sample.text).unwrap();
            }
            _ => {
                serde_json::from_str::<ErrorResponse>(&sample.text).unwrap();
            }
        }
    }
}

// --- README.md ---

/// The rows of the markdown table whose header row starts with `| <first> |`, as trimmed cells.
fn table(markdown: &str, first: &str) -> Vec<Vec<String>> {
    let header = format!("| {first} |");
    let mut lines = markdown.lines().skip_while(|l| !l.starts_with(&header));
    assert!(
        lines.next().is_some(),
        "README.md has no table starting with {header}"
    );
    lines
        .skip(1) // |---|---|
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(path).expect("README.md is readable")
}

/// The README's "client does" text as an action.
fn readme_action(text: &str) -> CloseAction {
    if text.starts_with("fetch a new token") {
        CloseAction::RefreshToken
    } else if text.starts_with("reconnect") {
        CloseAction::Reconnect
    } else if text.starts_with("stop") || text == "nothing" {
        CloseAction::Stop
    } else {
        panic!("README close code table: unknown action {text:?}")
    }
}

/// One item of the README's close code column: `4001`, `4500–4999` or `other < 4500`.
enum CloseItem {
    Code(u16),
    Range(u16, u16),
    OtherBelow(u16),
}

fn close_items(cell: &str) -> Vec<CloseItem> {
    let number = |s: &str| -> u16 {
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("README close code table: {s:?} is not a code"))
    };
    cell.split(',')
        .map(str::trim)
        .map(|item| {
            if let Some(limit) = item.strip_prefix("other <") {
                CloseItem::OtherBelow(number(limit))
            } else if let Some((from, to)) = item.split_once('–') {
                CloseItem::Range(number(from), number(to))
            } else {
                CloseItem::Code(number(item))
            }
        })
        .collect()
}

#[test]
fn the_readme_close_code_table_matches_the_table() {
    let rows = table(&readme(), "close code");
    let listed: BTreeSet<u16> = rows
        .iter()
        .flat_map(|row| close_items(&row[0]))
        .filter_map(|item| match item {
            CloseItem::Code(code) => Some(code),
            _ => None,
        })
        .collect();
    for row in &rows {
        let action = readme_action(&row[2]);
        for item in close_items(&row[0]) {
            let codes: Vec<u16> = match item {
                CloseItem::Code(code) => vec![code],
                CloseItem::Range(from, to) => (from..=to).collect(),
                CloseItem::OtherBelow(limit) => (0..limit)
                    .filter(|c| {
                        !listed.contains(c) && matches!(CloseCode::from(*c), CloseCode::Other(_))
                    })
                    .collect(),
            };
            for code in codes {
                assert_eq!(
                    close_action(code),
                    action,
                    "README says close code {code} means {:?}",
                    row[2]
                );
            }
        }
    }
    for code in CloseCode::ALL {
        assert!(
            listed.contains(&code.as_u16()),
            "README's close code table lacks {} ({})",
            code.as_u16(),
            code.reason()
        );
    }
}

#[test]
fn the_readme_error_code_table_matches_the_table() {
    let mut seen = HashSet::new();
    for row in table(&readme(), "error code") {
        let codes: Vec<&str> = row[0]
            .split(',')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        for name in codes {
            let code = ErrorCode::parse(name)
                .unwrap_or_else(|| panic!("README lists `{name}`, which is not an error code"));
            assert!(seen.insert(code), "README lists `{name}` twice");
            // Codes only ever sent in `error` frames have no status in the README.
            let status = if code.meaning().contains("`error` frame") {
                "(error frame)".to_owned()
            } else {
                code.http_status().to_string()
            };
            assert_eq!(row[1], status, "README's status of `{name}`");
        }
    }
    for code in ErrorCode::ALL {
        assert!(
            seen.contains(&code),
            "README's error code table lacks `{code}`"
        );
    }
}
