//! The `edgepush` binary's exit status and output, against a canned local HTTP server: what a
//! script calling it sees.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

const SECRET: &str = "cli-test-secret-0123456789abcdef-0123";

/// Answers requests in turn with `answers` (status, extra header lines each ending in CRLF with
/// `{url}` for the server's URL, body) and sends each request line to the receiver once answered.
fn serve(answers: Vec<(&'static str, &'static str, &'static str)>) -> (String, Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let base = url.clone();
    let (sender, requests) = channel();
    std::thread::spawn(move || {
        for (status, headers, answer) in answers {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap();
                }
                if request_line.is_empty() {
                    request_line = line.trim_end().to_owned();
                }
            }
            reader.read_exact(&mut vec![0; length]).unwrap();
            let headers = headers.replace("{url}", &base);
            let response = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            reader.get_mut().write_all(response.as_bytes()).unwrap();
            if sender.send(request_line).is_err() {
                return;
            }
        }
    });
    (url, requests)
}

/// Runs `edgepush publish` against `url` with a batch body, with no EDGEPUSH_* from the caller.
fn publish(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgepush"))
        .args(["publish", "--url", url, "--key-id", "k", "--secret", SECRET])
        .args([
            "--body",
            r#"{"events":[{"user":"42","name":"A"},{"user":"7","name":"A"}]}"#,
        ])
        .env_remove("EDGEPUSH_URL")
        .env_remove("EDGEPUSH_KEY_ID")
        .env_remove("EDGEPUSH_PUBLISH_SECRET")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_stored_batch_prints_the_answer_and_exits_0() {
    let answer =
        r#"{"events":[{"user":"42","id":19,"sockets":2},{"user":"7","id":3,"sockets":0}]}"#;
    let (url, _requests) = serve(vec![("202 Accepted", "", answer)]);

    let output = publish(&url);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), format!("{answer}\n"));
}

#[test]
fn a_partly_stored_batch_prints_the_answer_and_exits_3() {
    let answer = r#"{"events":[{"user":"42","id":19,"sockets":2},{"user":"7","error":{"code":"internal_error","message":"the room failed"}}]}"#;
    let (url, _requests) = serve(vec![("207 Multi-Status", "", answer)]);

    let output = publish(&url);

    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert_eq!(text(&output.stdout), format!("{answer}\n"));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("207"), "{stderr}");
}

#[test]
fn a_redirect_exits_1_naming_the_url_to_use_and_is_not_followed() {
    let (url, requests) = serve(vec![
        (
            "301 Moved Permanently",
            "Location: {url}/v2/publish\r\n",
            "",
        ),
        (
            "405 Method Not Allowed",
            "",
            r#"{"error":{"code":"method_not_allowed","message":"GET /v2/publish"}}"#,
        ),
    ]);

    let output = publish(&url);

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("redirected to {url}/v2/publish")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("--url {url}/v2")), "{stderr}");
    assert_eq!(
        requests.recv_timeout(Duration::from_secs(5)).unwrap(),
        "POST /publish HTTP/1.1"
    );
    assert!(requests.try_recv().is_err(), "the redirect was followed");
}

#[test]
fn help_documents_the_exit_statuses() {
    let output = Command::new(env!("CARGO_BIN_EXE_edgepush"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&output.stdout);
    assert!(help.contains("Exit status"), "{help}");
    assert!(help.contains("3 "), "{help}");
    assert!(help.contains("207"), "{help}");
}
