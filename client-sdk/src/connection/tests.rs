//! The state machine under a fake clock: time only moves when a test moves it, and the one
//! timer the machine asks for fires exactly when due.

use super::*;
use alloc::format;
use edgepush_protocol::frames::{self, ClientFrame, ErrorBody, PONG};

type Act = Action<&'static str>;

const URL: &str = "https://push.example.com/";
const NOW: u64 = 1_700_000_000_000;

/// A fake clock and the one timer.
struct Harness {
    conn: Connection,
    now: u64,
    random: f64,
    timer_at: Option<u64>,
    /// When each frame other than the heartbeat was sent.
    sent_at: Vec<u64>,
}

impl Harness {
    fn with(fixed_token: Option<Token>, options: Options) -> Self {
        Self {
            conn: Connection::new(URL, fixed_token, options).unwrap(),
            now: NOW,
            random: 0.5,
            timer_at: None,
            sent_at: Vec::new(),
        }
    }

    fn provider() -> Self {
        Self::with(None, Options::default())
    }

    fn step(&mut self, input: Input<&'static str>) -> Vec<Act> {
        let actions = self.conn.handle(input, self.now, self.random);
        for action in &actions {
            match action {
                Action::SetTimer { delay_ms } => self.timer_at = Some(self.now + delay_ms),
                Action::ClearTimer => self.timer_at = None,
                Action::Send(text) if text != PING => self.sent_at.push(self.now),
                _ => {}
            }
        }
        actions
    }

    /// Moves the clock forward by `ms`, firing the timer whenever it is due; returns every action.
    fn advance(&mut self, ms: u64) -> Vec<Act> {
        let end = self.now + ms;
        let mut all = Vec::new();
        while let Some(at) = self.timer_at.filter(|&at| at <= end) {
            self.now = at;
            self.timer_at = None;
            all.extend(self.step(Input::Timer));
        }
        self.now = end;
        all
    }

    fn token(&mut self, request: u32) -> Vec<Act> {
        self.step(Input::Token {
            request,
            result: Ok(token((NOW / 1000 + 3600) as i64)),
        })
    }

    fn frame(&mut self, frame: ServerFrame<&'static str>) -> Vec<Act> {
        self.step(Input::Frame(frame.into()))
    }

    fn close(&mut self, code: u16) -> Vec<Act> {
        self.step(Input::SocketClosed {
            code,
            reason: "bye".into(),
        })
    }

    /// Start, token, welcome: an open connection.
    fn open(&mut self) {
        self.step(Input::Start);
        let request = self.conn.token_request;
        self.token(request);
        self.frame(welcome(0, "e1", None));
        assert_eq!(self.conn.phase, Phase::Open);
    }

    /// Start, token, welcome; `check` sees the welcome's actions.
    fn open_with_frames(&mut self, check: impl FnOnce(&[Act])) {
        self.step(Input::Start);
        let request = self.conn.token_request;
        self.token(request);
        check(&self.frame(welcome(0, "e1", None)));
    }

    /// Lets the pending backoff elapse and reconnects with a fresh token and `welcome`.
    fn reconnect(&mut self, welcome_frame: ServerFrame<&'static str>) -> Vec<Act> {
        let mut all = self.advance(self.timer_at.unwrap() - self.now);
        let request = fetch_request(&all).expect("a token fetch");
        all.extend(self.token(request));
        all.extend(self.frame(welcome_frame));
        all
    }
}

fn token(exp: i64) -> Token {
    Token {
        value: "t0k3n".into(),
        exp: Some(exp),
    }
}

fn welcome(last_id: u64, epoch: &str, recovered: Option<bool>) -> ServerFrame<&'static str> {
    ServerFrame::Welcome(frames::Welcome {
        user: "42".into(),
        connection: "c1".into(),
        server_time: NOW,
        token_expires_at: (NOW / 1000 + 3600) as i64,
        last_id,
        epoch: epoch.into(),
        recovered,
        heartbeat_ms: 25_000,
    })
}

fn event(id: u64) -> ServerFrame<&'static str> {
    ServerFrame::Event(EventFrame {
        topic: None,
        id,
        name: "Message".into(),
        payload: "{}",
        ts: NOW,
    })
}

fn fetch_request(actions: &[Act]) -> Option<u32> {
    actions.iter().find_map(|a| match a {
        Action::FetchToken { request } => Some(*request),
        _ => None,
    })
}

fn connect_url(actions: &[Act]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::Connect { url, .. } => Some(url.as_str()),
        _ => None,
    })
}

fn states(actions: &[Act]) -> Vec<State> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::State(state) => Some(state.clone()),
            _ => None,
        })
        .collect()
}

fn delivered(actions: &[Act]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver(event, _) => Some(event.id),
            _ => None,
        })
        .collect()
}

#[test]
fn first_connect_fetches_a_token_then_opens_on_welcome() {
    let mut h = Harness::provider();
    assert_eq!(
        h.step(Input::Start),
        [
            Action::State(State::Connecting { attempt: 0 }),
            Action::FetchToken { request: 1 },
            Action::SetTimer { delay_ms: 15_000 },
        ]
    );
    assert_eq!(
        h.token(1),
        [Action::Connect {
            url: "wss://push.example.com/connect?refusal=close".into(),
            token: "t0k3n".into()
        }]
    );
    assert_eq!(
        h.frame(welcome(7, "e1", None)),
        [
            Action::State(State::Open),
            Action::SetTimer { delay_ms: 25_000 }
        ]
    );
    assert_eq!(
        h.conn.position(),
        Some(Position {
            epoch: "e1".into(),
            last_id: 7
        })
    );
}

#[test]
fn a_fixed_token_connects_without_asking_anyone() {
    let mut h = Harness::with(Some(token(NOW as i64 / 1000 + 60)), Options::default());
    let actions = h.step(Input::Start);
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close")
    );
    assert_eq!(fetch_request(&actions), None);
}

#[test]
fn failed_connects_back_off_on_the_full_jitter_schedule() {
    let mut h = Harness::provider();
    h.random = 0.5;
    h.step(Input::Start);
    let mut schedule = Vec::new();
    for _ in 0..9 {
        let request = h.conn.token_request;
        h.token(request);
        // The browser reports a refused upgrade (e.g. HTTP 503) as 1006 before open.
        let actions = h.close(1006);
        let [State::Reconnecting { attempt, delay_ms }] = states(&actions)[..] else {
            panic!("expected one reconnecting state, got {actions:?}");
        };
        schedule.push((attempt, delay_ms));
        // Nothing happens one millisecond early; the retry starts exactly on time.
        let early = h.advance(u64::from(delay_ms).saturating_sub(1));
        assert_eq!(fetch_request(&early), None, "retried early: {early:?}");
        let due = h.advance(1);
        assert_eq!(
            states(&due),
            [State::Connecting { attempt }],
            "at attempt {attempt}"
        );
    }
    assert_eq!(
        schedule,
        [
            (1, 250),
            (2, 500),
            (3, 1000),
            (4, 2000),
            (5, 4000),
            (6, 8000),
            (7, 10_000),
            (8, 10_000),
            (9, 10_000)
        ]
    );
}

#[test]
fn the_delay_is_random_between_zero_and_the_cap() {
    for (random, expected) in [(0.0, 0), (0.25, 250), (0.999, 999)] {
        let mut h = Harness::provider();
        h.random = random;
        h.open();
        h.close(1012);
        h.reconnect(welcome(0, "e1", Some(true)));
        h.advance(1000); // not stable yet
        let actions = h.close(1012);
        assert_eq!(
            states(&actions),
            [State::Reconnecting {
                attempt: 2,
                delay_ms: expected
            }]
        );
    }
}

#[test]
fn a_stable_connection_resets_the_schedule() {
    let mut h = Harness::provider();
    h.open();
    for attempt in 1..=4 {
        let actions = h.close(1011);
        assert!(matches!(
            states(&actions)[..],
            [State::Reconnecting { attempt: a, .. }] if a == attempt
        ));
        h.reconnect(welcome(0, "e1", Some(true)));
        h.advance(9_999); // open, but not for long enough to count as stable
    }
    h.advance(1);
    let actions = h.close(1012);
    assert_eq!(
        states(&actions),
        [State::Reconnecting {
            attempt: 1,
            delay_ms: 250
        }]
    );
}

#[test]
fn terminal_close_codes_stop_and_report() {
    for code in [4500, 4501, 4502, 4999, 1008, 1002, 1000] {
        let mut h = Harness::provider();
        h.open();
        let actions = h.close(code);
        assert_eq!(
            actions,
            [
                Action::Error(Error::Rejected {
                    code,
                    reason: "bye".into()
                }),
                Action::State(State::Closed {
                    code,
                    reason: "bye".into()
                }),
                Action::ClearTimer,
            ],
            "close code {code}"
        );
        assert!(h.conn.is_closed());
        // Nothing is scheduled: an hour later there is still no attempt.
        assert_eq!(h.advance(3_600_000), []);
        assert_eq!(
            h.step(Input::Online),
            [],
            "online must not revive a stopped client"
        );
    }
}

#[test]
fn a_terminal_code_before_the_welcome_also_stops() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    h.token(1);
    let actions = h.close(4500);
    assert!(matches!(
        states(&actions)[..],
        [State::Closed { code: 4500, .. }]
    ));
}

#[test]
fn reconnect_codes_retry() {
    for code in [1001, 1006, 1011, 1012, 1013, 4000, 4499, 3000] {
        let mut h = Harness::provider();
        h.open();
        let actions = h.close(code);
        assert!(
            matches!(
                states(&actions)[..],
                [State::Reconnecting { attempt: 1, .. }]
            ),
            "close code {code}: {actions:?}"
        );
    }
}

#[test]
fn an_expired_token_close_asks_the_provider_again() {
    let mut h = Harness::provider();
    h.open();
    let actions = h.close(4001);
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    let actions = h.advance(h.timer_at.unwrap() - h.now);
    assert!(fetch_request(&actions).is_some());
}

#[test]
fn an_expired_token_close_stops_a_fixed_token_client() {
    let mut h = Harness::with(Some(token(NOW as i64 / 1000 + 60)), Options::default());
    h.step(Input::Start);
    h.frame(welcome(0, "e1", None));
    let actions = h.close(4001);
    assert_eq!(
        actions,
        [
            Action::Error(Error::TokenExpired { stopped: true }),
            Action::State(State::Closed {
                code: 4001,
                reason: "bye".into()
            }),
            Action::ClearTimer,
        ]
    );
}

#[test]
fn an_already_expired_token_is_refreshed_after_backoff_not_used() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    let actions = h.step(Input::Token {
        request: 1,
        result: Ok(token(NOW as i64 / 1000 - LEEWAY_SECONDS - 1)),
    });
    assert_eq!(connect_url(&actions), None);
    assert_eq!(
        actions[0],
        Action::Error(Error::TokenExpired { stopped: false })
    );
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    let actions = h.advance(h.timer_at.unwrap() - h.now);
    assert!(fetch_request(&actions).is_some());
    // Within the server's leeway a token is still good.
    let actions = h.step(Input::Token {
        request: 2,
        result: Ok(token(NOW as i64 / 1000 - LEEWAY_SECONDS + 5)),
    });
    assert!(connect_url(&actions).is_some());
}

#[test]
fn once_the_servers_clock_is_known_a_token_expires_at_exp() {
    let mut h = Harness::provider();
    h.open();
    h.close(1012);
    let actions = h.advance(h.timer_at.unwrap() - h.now);
    let request = fetch_request(&actions).unwrap();
    // Past `exp` but inside the leeway: the server would accept it and close it at once (4001).
    let actions = h.step(Input::Token {
        request,
        result: Ok(token((h.now / 1000) as i64 - 5)),
    });
    assert_eq!(
        actions[0],
        Action::Error(Error::TokenExpired { stopped: false })
    );
    assert_eq!(connect_url(&actions), None);
}

#[test]
fn an_expired_fixed_token_stops_before_connecting() {
    let mut h = Harness::with(Some(token(NOW as i64 / 1000 - 3600)), Options::default());
    let actions = h.step(Input::Start);
    assert_eq!(connect_url(&actions), None);
    assert!(actions.contains(&Action::Error(Error::TokenExpired { stopped: true })));
    assert!(h.conn.is_closed());
}

#[test]
fn token_expiry_is_judged_by_the_servers_clock() {
    let mut h = Harness::provider();
    h.open();
    // The server's clock is an hour ahead of ours.
    h.close(1012);
    let actions = h.advance(h.timer_at.unwrap() - h.now);
    let request = fetch_request(&actions).unwrap();
    let mut ahead = welcome(0, "e1", Some(true));
    if let ServerFrame::Welcome(w) = &mut ahead {
        w.server_time = h.now + 3_600_000;
    }
    h.token(request);
    h.frame(ahead);
    h.close(1012);
    let actions = h.advance(h.timer_at.unwrap() - h.now);
    let request = fetch_request(&actions).unwrap();
    // Valid for 30 more minutes by our clock, expired by the server's.
    let actions = h.step(Input::Token {
        request,
        result: Ok(token((h.now / 1000) as i64 + 1800)),
    });
    assert_eq!(
        actions[0],
        Action::Error(Error::TokenExpired { stopped: false })
    );
}

#[test]
fn a_failing_provider_is_retried_with_backoff() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    let actions = h.step(Input::Token {
        request: 1,
        result: Err("HTTP 503".into()),
    });
    assert_eq!(
        actions[0],
        Action::Error(Error::TokenProvider {
            reason: "HTTP 503".into()
        })
    );
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
}

#[test]
fn a_provider_without_a_token_for_good_stops_until_the_next_start() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    // A stale answer is ignored.
    assert_eq!(
        h.step(Input::NoToken {
            request: 7,
            reason: "late".into()
        }),
        []
    );
    let actions = h.step(Input::NoToken {
        request: 1,
        reason: "the token endpoint answered 401".into(),
    });
    assert_eq!(
        actions,
        [
            Action::Error(Error::MissingToken {
                reason: "the token endpoint answered 401".into()
            }),
            Action::State(State::Closed {
                code: 4500,
                reason: "missing_token".into()
            }),
            Action::ClearTimer,
        ]
    );
    assert!(h.conn.is_closed());
    // Nobody is asked again: no timer, however long the page stays open.
    assert_eq!(h.advance(3_600_000), []);
    // connect() (after a login) starts again.
    let actions = h.step(Input::Start);
    assert!(fetch_request(&actions).is_some());
    assert!(
        !Error::MissingToken { reason: "x".into() }
            .message()
            .is_empty()
    );
    assert!(Error::MissingToken { reason: "x".into() }.is_terminal());
}

#[test]
fn a_topic_sockets_provider_without_a_token_stops_the_client_reported_once() {
    let mut h = Harness::provider();
    h.open();
    let mut reader = h.conn.topic_socket("crowd:1".into(), None);
    let actions = reader.handle::<&str>(Input::Start, h.now, 0.5);
    let request = fetch_request(&actions).unwrap();
    let actions = reader.handle::<&str>(
        Input::NoToken {
            request,
            reason: "401".into(),
        },
        h.now,
        0.5,
    );
    // The reader's driver hands the error to the client's handlers, then stops the client.
    assert_eq!(
        actions[..2],
        [
            Action::Error(Error::MissingToken {
                reason: "401".into()
            }),
            Action::StopClient {
                code: 4500,
                reason: "missing_token".into()
            },
        ]
    );
    let actions = h.step(Input::TopicSocketStopped {
        code: 4500,
        reason: "missing_token".into(),
    });
    assert!(!actions.iter().any(|a| matches!(a, Action::Error(_))));
    assert_eq!(
        states(&actions),
        [State::Closed {
            code: 4500,
            reason: "missing_token".into()
        }]
    );
}

#[test]
fn stale_token_answers_are_ignored() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    assert_eq!(h.token(7), []);
    // The provider hangs past the connect timeout: the attempt is abandoned...
    let actions = h.advance(15_000);
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    // ...and its late answer does not open a socket.
    assert_eq!(h.token(1), []);
}

#[test]
fn a_welcome_that_never_comes_times_out() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    h.token(1);
    let actions = h.advance(15_000);
    assert_eq!(actions[0], Action::CloseSocket);
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    // The old socket's close event arrives after we moved on: ignored.
    assert_eq!(h.close(1006), []);
}

#[test]
fn events_are_delivered_once_and_resumed_from_the_last_id() {
    let mut h = Harness::provider();
    h.open();
    let mut seen = Vec::new();
    for id in [1, 2, 2, 3, 1] {
        seen.extend(delivered(&h.frame(event(id))));
    }
    assert_eq!(seen, [1, 2, 3]);

    h.close(1012);
    let actions = h.reconnect(welcome(5, "e1", Some(true)));
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=3&epoch=e1")
    );
    // The replay overlaps what we have; only new ids get through.
    for id in [3, 4, 5, 6] {
        seen.extend(delivered(&h.frame(event(id))));
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
    assert_eq!(h.conn.position().unwrap().last_id, 6);
}

#[test]
fn a_fresh_connect_starts_after_the_newest_event() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    h.token(1);
    h.frame(welcome(41, "e1", None));
    assert_eq!(delivered(&h.frame(event(42))), [42]);
    h.close(1001);
    let actions = h.reconnect(welcome(42, "e1", Some(true)));
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=42&epoch=e1")
    );
}

#[test]
fn an_unrecoverable_gap_raises_resync_then_delivers_what_the_server_kept() {
    let mut h = Harness::provider();
    h.open();
    h.frame(event(1));
    h.frame(event(2));
    h.close(1012);
    // Events 3..=7 were pruned meanwhile; the server keeps 8..=10 and replays them.
    let actions = h.reconnect(welcome(10, "e1", Some(false)));
    assert_eq!(
        actions[actions.len() - 3..],
        [
            Action::Resync,
            Action::State(State::Open),
            Action::SetTimer { delay_ms: 25_000 }
        ]
    );
    for id in 8..=11 {
        assert_eq!(delivered(&h.frame(event(id))), [id], "event {id}");
    }
    assert_eq!(delivered(&h.frame(event(10))), Vec::<u64>::new(), "deduped");
    // A new epoch can restart ids below the old ones.
    h.close(1012);
    h.reconnect(welcome(0, "e3", Some(false)));
    assert_eq!(delivered(&h.frame(event(1))), [1]);
    assert_eq!(delivered(&h.frame(event(2))), [2]);
}

#[test]
fn a_gap_in_the_ids_resumes_from_the_last_event_delivered() {
    let mut h = Harness::provider();
    h.open();
    h.frame(event(1));
    let actions = h.frame(event(3));
    assert_eq!(delivered(&actions), Vec::<u64>::new());
    assert_eq!(actions[0], Action::CloseSocket);
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    let actions = h.reconnect(welcome(3, "e1", Some(true)));
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=1&epoch=e1")
    );
    assert_eq!(delivered(&h.frame(event(2))), [2]);
    assert_eq!(delivered(&h.frame(event(3))), [3]);
}

#[test]
fn drops_found_by_the_heartbeat_reset_the_schedule_like_closes() {
    // A laptop that sleeps after a while of healthy connection, eight times: each drop is found
    // by the heartbeat, and each reconnect starts the schedule from the beginning.
    let mut h = Harness::provider();
    h.open();
    for _ in 0..8 {
        for _ in 0..3 {
            h.advance(25_000); // a ping falls due
            h.frame(ServerFrame::Pong);
        }
        h.advance(25_000); // the last ping goes unanswered
        let actions = h.advance(10_000);
        assert_eq!(actions[0], Action::CloseSocket);
        assert!(
            matches!(
                states(&actions)[..],
                [State::Reconnecting { attempt: 1, delay_ms }] if delay_ms <= 500
            ),
            "{actions:?}"
        );
        h.reconnect(welcome(0, "e1", Some(true)));
    }
}

#[test]
fn tokens_are_trimmed_and_an_empty_one_is_a_provider_error() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    let actions = h.step(Input::Token {
        request: 1,
        result: Ok(Token {
            value: "t0k3n\n".into(),
            exp: None,
        }),
    });
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Connect { token, .. } if token == "t0k3n")),
        "{actions:?}"
    );
    let mut h = Harness::provider();
    h.step(Input::Start);
    let actions = h.step(Input::Token {
        request: 1,
        result: Ok(Token {
            value: " \r\n".into(),
            exp: None,
        }),
    });
    assert!(matches!(
        actions[0],
        Action::Error(Error::TokenProvider { .. })
    ));
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    let empty = Token {
        value: "\n".into(),
        exp: None,
    };
    assert!(matches!(
        Connection::new(URL, Some(empty), Options::default()),
        Err(Error::Config { .. })
    ));
}

#[test]
fn a_saved_position_resumes_across_page_loads() {
    let mut h = Harness::provider();
    h.conn.set_position(Position {
        epoch: "2024-01 a/b".into(),
        last_id: 9,
    });
    h.step(Input::Start);
    let actions = h.token(1);
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=9&epoch=2024-01%20a%2Fb")
    );
    // since=0 without an epoch asks for the whole retained history.
    let mut h = Harness::provider();
    h.conn.set_position(Position {
        epoch: String::new(),
        last_id: 0,
    });
    h.step(Input::Start);
    assert_eq!(
        connect_url(&h.token(1)),
        Some("wss://push.example.com/connect?refusal=close&since=0")
    );
    h.frame(welcome(3, "e1", Some(true)));
    assert_eq!(delivered(&h.frame(event(1))), [1]);
}

#[test]
fn a_quiet_connection_is_pinged_and_a_missing_pong_means_dead() {
    let mut h = Harness::provider();
    h.open();
    assert_eq!(h.advance(24_999), []);
    assert_eq!(
        h.advance(1),
        [
            Action::Send(PING.into()),
            Action::SetTimer { delay_ms: 10_000 }
        ]
    );
    // The pong arrives: the next ping is due a heartbeat after it.
    h.advance(3_000);
    assert_eq!(
        h.frame(ServerFrame::Pong),
        [Action::SetTimer { delay_ms: 25_000 }]
    );
    assert_eq!(h.advance(25_000)[0], Action::Send(PING.into()));
    // This time nothing comes back.
    assert_eq!(h.advance(9_999), []);
    let actions = h.advance(1);
    assert_eq!(actions[0], Action::CloseSocket);
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 1, .. }]
    ));
    let _ = PONG;
}

#[test]
fn events_count_as_signs_of_life() {
    let mut h = Harness::provider();
    h.open();
    for id in 1..=10 {
        h.advance(20_000);
        let actions = h.frame(event(id));
        assert!(!actions.contains(&Action::Send(PING.into())));
    }
}

#[test]
fn the_heartbeat_interval_can_be_overridden() {
    let options = Options {
        heartbeat_ms: Some(5_000),
        ..Options::default()
    };
    let mut h = Harness::with(None, options);
    h.step(Input::Start);
    h.token(1);
    assert_eq!(
        h.frame(welcome(0, "e1", None)),
        [
            Action::State(State::Open),
            Action::SetTimer { delay_ms: 5_000 }
        ]
    );
}

#[test]
fn offline_pauses_retries_and_online_reconnects_at_once() {
    let mut h = Harness::provider();
    h.open();
    h.close(1006);
    assert_eq!(
        h.step(Input::Offline),
        [Action::State(State::Offline), Action::ClearTimer]
    );
    assert_eq!(h.advance(3_600_000), []);
    let actions = h.step(Input::Online);
    assert_eq!(states(&actions), [State::Connecting { attempt: 1 }]);
    assert!(fetch_request(&actions).is_some());
}

#[test]
fn online_during_backoff_skips_the_wait() {
    let mut h = Harness::provider();
    h.open();
    for _ in 0..6 {
        h.close(1006);
        h.reconnect(welcome(0, "e1", Some(true)));
    }
    h.close(1006);
    assert!(h.timer_at.unwrap() > h.now + 1_000);
    let actions = h.step(Input::Online);
    assert!(fetch_request(&actions).is_some());
}

#[test]
fn a_drop_while_offline_waits_for_the_network() {
    let mut h = Harness::provider();
    h.open();
    assert_eq!(h.step(Input::Offline), []); // the socket may still work
    let actions = h.close(1006);
    assert_eq!(states(&actions), [State::Offline]);
    assert_eq!(h.timer_at, None);
}

#[test]
fn starting_offline_waits_for_the_network() {
    let mut h = Harness::provider();
    h.conn.set_online(false);
    assert_eq!(h.step(Input::Start), [Action::State(State::Offline)]);
    assert!(fetch_request(&h.step(Input::Online)).is_some());
}

#[test]
fn online_with_an_open_socket_checks_it_at_once() {
    let mut h = Harness::provider();
    h.open();
    h.advance(1_000);
    let actions = h.step(Input::Online);
    assert_eq!(actions[0], Action::Send(PING.into()));
}

#[test]
fn close_stops_everything() {
    let mut h = Harness::provider();
    h.open();
    assert_eq!(
        h.step(Input::AppClose),
        [
            Action::CloseSocket,
            Action::State(State::Closed {
                code: 1000,
                reason: "closed by the client".into()
            }),
            Action::ClearTimer,
        ]
    );
    assert_eq!(h.close(1000), []);
    assert_eq!(h.frame(event(5)), []);
    assert_eq!(h.advance(3_600_000), []);
    assert_eq!(h.step(Input::AppClose), []);
}

#[test]
fn close_during_backoff_or_token_fetch_cancels_it() {
    let mut h = Harness::provider();
    h.open();
    h.close(1006);
    let actions = h.step(Input::AppClose);
    assert!(!actions.contains(&Action::CloseSocket));
    assert_eq!(h.timer_at, None);

    let mut h = Harness::provider();
    h.step(Input::Start);
    h.step(Input::AppClose);
    assert_eq!(h.token(1), []);
}

#[test]
fn server_error_frames_are_reported_and_the_socket_stays() {
    let mut h = Harness::provider();
    h.open();
    let actions = h.frame(ServerFrame::Error(ErrorBody {
        code: "invalid_frame".into(),
        message: "bad".into(),
        retry_after_ms: None,
    }));
    assert_eq!(
        actions[0],
        Action::Error(Error::Server {
            code: "invalid_frame".into(),
            message: "bad".into()
        })
    );
    assert_eq!(h.conn.phase, Phase::Open);
}

#[test]
fn urls_become_websocket_urls() {
    for (url, base) in [
        ("https://push.example.com", "wss://push.example.com"),
        ("http://127.0.0.1:8790/", "ws://127.0.0.1:8790"),
        ("wss://example.com/edgepush/", "wss://example.com/edgepush"),
        ("WS://example.com", "ws://example.com"),
    ] {
        assert_eq!(websocket_base(url).unwrap(), base);
    }
    for url in [
        "example.com",
        "ftp://example.com",
        "https://",
        "https://x/?a=b",
    ] {
        let reason = websocket_base(url).unwrap_err();
        assert_eq!(
            Connection::new(url, None, Options::default()).unwrap_err(),
            Error::Config { reason }
        );
    }
}

#[test]
fn a_refusal_with_a_retry_hint_waits_at_least_that_long_then_the_schedule_resumes() {
    let mut h = Harness::provider();
    h.step(Input::Start);
    h.token(1);
    // The server refuses in-band: an error frame with the hint, then close 4029.
    h.frame(ServerFrame::Error(ErrorBody {
        code: "rate_limited".into(),
        message: "retry in 42 s".into(),
        retry_after_ms: Some(42_000),
    }));
    let actions = h.close(4029);
    assert_eq!(
        states(&actions),
        [State::Reconnecting {
            attempt: 1,
            delay_ms: 42_000
        }]
    );
    // The hint is spent: the next drop follows the schedule again.
    h.advance(42_000);
    let request = h.conn.token_request;
    h.token(request);
    let actions = h.close(1006);
    assert!(matches!(
        states(&actions)[..],
        [State::Reconnecting { attempt: 2, delay_ms }] if delay_ms < 42_000
    ));
}

#[test]
fn a_resync_not_followed_by_an_event_ends_with_a_recovered_welcome() {
    let mut h = Harness::provider();
    h.open();
    h.frame(event(1));
    h.close(1012);
    h.reconnect(welcome(5, "e1", Some(false)));
    h.close(1012); // dropped before any event of the new stream
    let actions = h.reconnect(welcome(5, "e1", Some(true)));
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=1&epoch=e1")
    );
    // The resumed stream dedupes as usual from its first event on.
    assert_eq!(h.frame(event(1)), []);
    assert_eq!(delivered(&h.frame(event(2))), [2]);
    assert_eq!(delivered(&h.frame(event(4))), Vec::<u64>::new(), "a gap");
}

// ---------- topics ----------

fn topic_event(topic: &str, id: u64) -> ServerFrame<&'static str> {
    ServerFrame::Event(EventFrame {
        topic: Some(topic.into()),
        id,
        name: "ProductChanged".into(),
        payload: "{}",
        ts: NOW,
    })
}

fn subscribed(topic: &str, last_id: u64, recovered: Option<bool>) -> ServerFrame<&'static str> {
    ServerFrame::Subscribed(frames::Subscribed {
        topic: topic.into(),
        last_id,
        epoch: "t1".into(),
        recovered,
    })
}

fn refused(topic: &str, code: &str) -> frames::Unsubscribed {
    frames::Unsubscribed {
        topic: topic.into(),
        error: ErrorBody {
            code: code.into(),
            message: "no".into(),
            retry_after_ms: None,
        },
    }
}

/// One topic of a `subscribe` frame: `(topic, since, epoch)`.
fn wanted(topic: &str, since: Option<u64>, epoch: Option<&str>) -> frames::Subscription {
    frames::Subscription {
        topic: topic.into(),
        since,
        epoch: epoch.map(Into::into),
        token: None,
    }
}

/// Every frame sent other than the heartbeat, read as the server reads it.
fn sent(actions: &[Act]) -> Vec<ClientFrame> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(text) if text != PING => Some(
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{text} is no frame: {e}")),
            ),
            _ => None,
        })
        .collect()
}

/// The topics of every `subscribe` frame sent, in order.
fn subscriptions(actions: &[Act]) -> Vec<frames::Subscription> {
    sent(actions)
        .into_iter()
        .flat_map(|frame| match frame {
            ClientFrame::Subscribe { topics } => topics,
            other => panic!("expected subscribe frames only, got {other:?}"),
        })
        .collect()
}

/// The topics of the events delivered: `(topic, id)`, `None` for the user's stream.
fn delivered_topics(actions: &[Act]) -> Vec<(Option<String>, u64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver(event, _) => Some((event.topic.clone(), event.id)),
            _ => None,
        })
        .collect()
}

fn ids_of(topic: &str, actions: &[Act]) -> Vec<u64> {
    delivered_topics(actions)
        .into_iter()
        .filter(|(t, _)| t.as_deref() == Some(topic))
        .map(|(_, id)| id)
        .collect()
}

impl Harness {
    fn subscribe(&mut self, handle: u32, topic: &str) -> Vec<Act> {
        self.step(Input::Subscribe {
            handle,
            topic: topic.into(),
            token: None,
            resume: None,
        })
    }

    /// Subscribes `handle` to `topic` from `last_id` of the epoch `t1` (as `subscribed` says).
    fn subscribe_from(&mut self, handle: u32, topic: &str, last_id: u64) -> Vec<Act> {
        self.step(Input::Subscribe {
            handle,
            topic: topic.into(),
            token: None,
            resume: Some(Position {
                epoch: "t1".into(),
                last_id,
            }),
        })
    }

    /// Feeds the frames in order; returns every action.
    fn frames(&mut self, frames: impl IntoIterator<Item = ServerFrame<&'static str>>) -> Vec<Act> {
        frames.into_iter().flat_map(|f| self.frame(f)).collect()
    }
}

#[test]
fn topic_events_do_not_touch_the_users_stream() {
    let mut h = Harness::provider();
    h.open();
    h.subscribe(1, "product:42");
    h.advance(0);
    h.frame(subscribed("product:42", 0, None));
    assert_eq!(delivered(&h.frame(event(1))), [1]);
    // Topic ids are their own sequence: far ahead of the user's, or equal to ones it had.
    let actions = h.frames([topic_event("product:42", 1), topic_event("product:42", 2)]);
    assert_eq!(ids_of("product:42", &actions), [1, 2]);
    assert!(!actions.contains(&Action::CloseSocket), "{actions:?}");
    assert_eq!(h.conn.position().unwrap().last_id, 1);
    // The user's stream goes on from where it was: no gap, no duplicate.
    assert_eq!(
        delivered_topics(&h.frame(event(2))),
        [(None, 2)],
        "the user's event 2 is not a duplicate of the topic's"
    );
    // A topic event of a topic nobody subscribed to is dropped, and is no user event either.
    assert_eq!(h.frame(topic_event("product:7", 3)), []);
    assert_eq!(h.conn.phase, Phase::Open);
}

#[test]
fn subscriptions_made_before_connecting_go_out_with_the_welcome() {
    let mut h = Harness::provider();
    h.subscribe(1, "product:42");
    h.step(Input::Subscribe {
        handle: 2,
        topic: "private:x".into(),
        token: Some("sub.t0k3n".into()),
        resume: None,
    });
    h.step(Input::Start);
    h.token(1);
    let actions = h.frame(welcome(0, "e1", None));
    assert_eq!(
        actions[..2],
        [
            Action::State(State::Open),
            Action::Send(
                r#"{"type":"subscribe","topics":[{"topic":"product:42"},{"topic":"private:x","token":"sub.t0k3n"}]}"#
                    .into()
            ),
        ]
    );
}

#[test]
fn subscribing_while_open_sends_at_once_one_frame_for_a_burst() {
    let mut h = Harness::provider();
    h.open();
    // A page subscribing in a loop: nothing yet, one timer of 0 ms...
    assert_eq!(
        h.subscribe(1, "product:1"),
        [Action::SetTimer { delay_ms: 0 }]
    );
    assert_eq!(h.subscribe(2, "product:2"), []);
    assert_eq!(h.subscribe(3, "product:3"), []);
    // ...which sends them in one frame, then the heartbeat timer is back.
    let actions = h.advance(0);
    assert_eq!(
        subscriptions(&actions),
        [
            wanted("product:1", None, None),
            wanted("product:2", None, None),
            wanted("product:3", None, None)
        ]
    );
    assert_eq!(sent(&actions).len(), 1);
    assert_eq!(actions.last(), Some(&Action::SetTimer { delay_ms: 25_000 }));
    assert_eq!(h.advance(1_000), [], "sent once");
}

#[test]
fn every_reconnect_resubscribes_each_topic_from_where_it_left_off() {
    let mut h = Harness::provider();
    h.subscribe(1, "product:1");
    h.subscribe(2, "product:2");
    h.subscribe(3, "product:3");
    h.open();
    h.frames([
        subscribed("product:1", 3, None),
        subscribed("product:2", 0, None),
    ]);
    // product:3 was never answered.
    let actions = h.frames([
        topic_event("product:1", 4),
        topic_event("product:1", 5),
        topic_event("product:2", 1),
    ]);
    assert_eq!(ids_of("product:1", &actions), [4, 5]);
    assert_eq!(ids_of("product:2", &actions), [1]);
    h.close(1012);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(
        subscriptions(&actions),
        [
            wanted("product:1", Some(5), Some("t1")),
            wanted("product:2", Some(1), Some("t1")),
            wanted("product:3", None, None),
        ]
    );
    // The server replays what came after `since`; what the page had is not delivered again.
    let actions = h.frames([
        subscribed("product:1", 7, Some(true)),
        topic_event("product:1", 5),
        topic_event("product:1", 6),
        topic_event("product:1", 7),
        subscribed("product:2", 1, Some(true)),
        topic_event("product:2", 2),
    ]);
    assert_eq!(ids_of("product:1", &actions), [6, 7]);
    assert_eq!(ids_of("product:2", &actions), [2]);
    assert!(!actions.iter().any(|a| matches!(a, Action::TopicResync(..))));
    // Several drops in a row: still from the last delivered id.
    h.close(1006);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(
        subscriptions(&actions)[..2],
        [
            wanted("product:1", Some(7), Some("t1")),
            wanted("product:2", Some(2), Some("t1"))
        ]
    );
}

#[test]
fn topic_events_are_delivered_once_and_a_gap_resubscribes_that_topic_only() {
    let mut h = Harness::provider();
    h.subscribe(1, "product:1");
    h.subscribe(2, "product:2");
    h.open();
    h.frames([
        subscribed("product:1", 3, None),
        subscribed("product:2", 10, None),
    ]);
    let actions = h.frames([
        topic_event("product:1", 4),
        topic_event("product:1", 4),
        topic_event("product:1", 2),
    ]);
    assert_eq!(ids_of("product:1", &actions), [4], "duplicates dropped");
    // 5 went missing: 6 is held back and product:1 alone is asked again from 4.
    let actions = h.frame(topic_event("product:1", 6));
    assert_eq!(delivered_topics(&actions), []);
    assert!(!actions.contains(&Action::CloseSocket), "the socket stays");
    let actions = h.advance(0);
    assert_eq!(
        subscriptions(&actions),
        [wanted("product:1", Some(4), Some("t1"))]
    );
    // Until the server answers, product:1's live events wait for the replay; product:2 goes on.
    let actions = h.frames([
        topic_event("product:1", 7),
        topic_event("product:2", 11),
        subscribed("product:1", 7, Some(true)),
        topic_event("product:1", 5),
        topic_event("product:1", 6),
        topic_event("product:1", 7),
        topic_event("product:1", 7),
        topic_event("product:1", 8),
    ]);
    assert_eq!(ids_of("product:1", &actions), [5, 6, 7, 8]);
    assert_eq!(ids_of("product:2", &actions), [11]);
    assert_eq!(h.conn.phase, Phase::Open);
    assert_eq!(h.advance(1_000), [], "one resubscribe only");
}

#[test]
fn an_unrecoverable_topic_gap_tells_the_subscription_then_delivers_what_the_server_kept() {
    let mut h = Harness::provider();
    h.subscribe(1, "feed:all");
    h.open();
    h.frames([subscribed("feed:all", 2, None), topic_event("feed:all", 3)]);
    h.close(1012);
    h.reconnect(welcome(0, "e1", Some(true)));
    // 4..=9 were pruned; the server keeps 10..=12.
    let actions = h.frame(subscribed("feed:all", 12, Some(false)));
    assert_eq!(actions, [Action::TopicResync("feed:all".into(), true)]);
    let actions = h.frames((10..=13).map(|id| topic_event("feed:all", id)));
    assert_eq!(ids_of("feed:all", &actions), [10, 11, 12, 13]);
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Resync)),
        "the user's stream did not resync"
    );
    assert_eq!(
        ids_of("feed:all", &h.frame(topic_event("feed:all", 12))),
        Vec::<u64>::new()
    );
}

#[test]
fn a_refused_subscription_ends_with_the_servers_reason_and_the_connection_stays() {
    let mut h = Harness::provider();
    h.subscribe(1, "orders:#7");
    h.subscribe(2, "product:1");
    h.open();
    let actions = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "orders:#7",
        "topic_forbidden",
    ))));
    assert_eq!(
        actions,
        [Action::Unsubscribed(refused(
            "orders:#7",
            "topic_forbidden"
        ))]
    );
    assert_eq!(h.conn.phase, Phase::Open);
    // Its events (if any came) are dropped; it is not subscribed again on reconnect, and a
    // second refusal of a topic no longer held is not reported twice.
    assert_eq!(h.frame(topic_event("orders:#7", 1)), []);
    assert_eq!(
        h.step(Input::Frame(Frame::Unsubscribed(refused(
            "orders:#7",
            "topic_forbidden"
        )))),
        []
    );
    h.close(1012);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(subscriptions(&actions), [wanted("product:1", None, None)]);
    // Its handle is over: unsubscribing it later sends nothing.
    assert_eq!(h.step(Input::Unsubscribe { handle: 1 }), []);
}

#[test]
fn unsubscribe_sends_a_frame_once_no_handle_holds_the_topic_and_forgets_it() {
    let mut h = Harness::provider();
    h.subscribe(1, "product:1");
    h.subscribe(2, "product:1"); // a second handle on the same topic
    h.subscribe(3, "product:2");
    h.open();
    assert_eq!(
        h.frames([
            subscribed("product:1", 0, None),
            subscribed("product:2", 0, None)
        ]),
        []
    );
    assert_eq!(h.step(Input::Unsubscribe { handle: 1 }), []);
    assert_eq!(
        ids_of("product:1", &h.frame(topic_event("product:1", 1))),
        [1],
        "handle 2 still holds it"
    );
    h.step(Input::Unsubscribe { handle: 2 });
    h.step(Input::Unsubscribe { handle: 99 }); // unknown: ignored
    let actions = h.advance(0);
    assert_eq!(
        sent(&actions),
        [ClientFrame::Unsubscribe {
            topics: vec!["product:1".into()]
        }]
    );
    assert_eq!(
        h.frame(topic_event("product:1", 2)),
        [],
        "in flight: dropped"
    );
    h.close(1012);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(
        subscriptions(&actions),
        [wanted("product:2", Some(0), Some("t1"))]
    );
    // Subscribed and unsubscribed before anything was sent: nothing goes out.
    h.subscribe(4, "product:3");
    h.step(Input::Unsubscribe { handle: 4 });
    assert_eq!(sent(&h.advance(0)), []);
}

#[test]
fn a_thousand_topics_go_out_in_four_frames_and_are_all_acknowledged() {
    let mut h = Harness::provider();
    let topics: Vec<String> = (0..1024).map(|n| format!("product:{n}")).collect();
    for (handle, topic) in topics.iter().enumerate() {
        h.subscribe(handle as u32, topic);
    }
    h.step(Input::Start);
    h.token(1);
    let actions = h.frame(welcome(0, "e1", None));
    let frames = sent(&actions);
    assert_eq!(frames.len(), 4);
    for frame in &frames {
        assert!(
            matches!(frame, ClientFrame::Subscribe { topics } if topics.len() == TOPICS_PER_FRAME)
        );
    }
    let listed: Vec<String> = subscriptions(&actions)
        .into_iter()
        .map(|s| s.topic)
        .collect();
    assert_eq!(listed, topics);
    for topic in &topics {
        h.frame(subscribed(topic, 0, None));
    }
    let actions = h.frames(topics.iter().map(|t| topic_event(t, 1)));
    assert_eq!(delivered_topics(&actions).len(), 1024);
    assert_eq!(h.advance(1_000), []);
}

#[test]
fn the_frame_budget_is_never_exceeded_and_what_waits_goes_out_later() {
    let mut h = Harness::provider();
    h.open();
    let mut listed = Vec::new();
    // A page that subscribes one topic every second for a minute and a half, then waits two
    // minutes (on a live socket: the server's events keep it alive).
    for n in 0..210u32 {
        if n < 90 {
            h.subscribe(n, &format!("feed:{n}"));
        }
        let actions = h.advance(1_000);
        for topic in subscriptions(&actions) {
            listed.push(topic.topic);
        }
        h.frame(ServerFrame::Pong);
    }
    assert_eq!(h.conn.phase, Phase::Open);
    let expected: Vec<String> = (0..90).map(|n| format!("feed:{n}")).collect();
    assert_eq!(listed, expected, "every topic once, in order");
    // The server's default budget, whatever minute it counts in.
    let times = &h.sent_at;
    for (n, &start) in times.iter().enumerate() {
        let in_minute = times[n..].iter().filter(|&&t| t < start + 60_000).count();
        assert!(
            in_minute <= 20,
            "{in_minute} frames in the minute from {start}"
        );
    }
    assert!(
        times
            .windows(2)
            .any(|w| w[1] - w[0] >= 1_000 && w[1] - w[0] < 60_000),
        "the budget held topics back for a while: {times:?}"
    );
    assert!(
        times.len() < 90,
        "waiting topics share frames: {}",
        times.len()
    );
}

#[test]
fn topic_names_and_tokens_are_escaped_in_frames() {
    let mut h = Harness::provider();
    h.step(Input::Subscribe {
        handle: 1,
        topic: "odd:\"quoted\"\\name".into(),
        token: Some("tok\n".into()),
        resume: None,
    });
    h.open_with_frames(|actions| {
        assert_eq!(
            subscriptions(actions),
            [frames::Subscription {
                topic: "odd:\"quoted\"\\name".into(),
                since: None,
                epoch: None,
                token: Some("tok\n".into()),
            }]
        );
    });
}

#[test]
fn a_later_token_is_sent_from_the_next_subscribe_on() {
    let mut h = Harness::provider();
    h.step(Input::Subscribe {
        handle: 1,
        topic: "private:x".into(),
        token: Some("old".into()),
        resume: None,
    });
    h.open();
    h.frame(subscribed("private:x", 0, None));
    h.step(Input::Subscribe {
        handle: 2,
        topic: "private:x".into(),
        token: Some("new".into()),
        resume: None,
    });
    assert_eq!(sent(&h.advance(0)), [], "already subscribed");
    h.close(1012);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(subscriptions(&actions)[0].token.as_deref(), Some("new"));
}

#[test]
fn events_before_subscribed_and_answers_for_unknown_topics_are_ignored() {
    let mut h = Harness::provider();
    h.subscribe(1, "product:1");
    h.open();
    assert_eq!(h.frame(topic_event("product:1", 5)), []);
    assert_eq!(h.frame(subscribed("product:9", 4, None)), []);
    h.frame(subscribed("product:1", 5, None));
    // A second answer for the same topic changes nothing.
    assert_eq!(h.frame(subscribed("product:1", 9, Some(false))), []);
    assert_eq!(
        ids_of("product:1", &h.frame(topic_event("product:1", 6))),
        [6]
    );
}

/// `(topic, id, scoped)` of every event delivered.
fn delivered_scoped(actions: &[Act]) -> Vec<(Option<String>, u64, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Deliver(event, scoped) => Some((event.topic.clone(), event.id, *scoped)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_topic_the_backend_subscribed_is_delivered_to_the_client_deduplicated_and_in_order() {
    let mut h = Harness::provider();
    h.subscribe(1, "product:1");
    h.open();
    let actions = h.frames([
        subscribed("product:1", 0, None),
        // The backend's: no subscribe of ours asked for it.
        subscribed("orders:#42", 5, None),
        topic_event("orders:#42", 6),
        topic_event("product:1", 1),
        topic_event("orders:#42", 6),
        topic_event("orders:#42", 7),
    ]);
    assert_eq!(
        delivered_scoped(&actions),
        [
            (Some("orders:#42".into()), 6, false),
            (Some("product:1".into()), 1, true),
            (Some("orders:#42".into()), 7, false),
        ]
    );
    assert!(sent(&actions).is_empty(), "nothing to subscribe");
    // A gap resubscribes it from the last id, like the app's own.
    let actions = h.frame(topic_event("orders:#42", 9));
    assert!(delivered(&actions).is_empty());
    let actions = h.advance(0);
    assert_eq!(
        subscriptions(&actions),
        [wanted("orders:#42", Some(7), Some("t1"))]
    );
    let actions = h.frames([
        subscribed("orders:#42", 9, Some(true)),
        topic_event("orders:#42", 8),
        topic_event("orders:#42", 9),
    ]);
    assert_eq!(delivered_scoped(&actions).len(), 2);
    assert_eq!(ids_of("orders:#42", &actions), [8, 9]);
}

#[test]
fn a_topic_the_backend_subscribed_resumes_after_a_reconnect_once_the_server_subscribes_it_again() {
    let mut h = Harness::provider();
    h.open();
    h.frames([
        subscribed("orders:#42", 2, None),
        topic_event("orders:#42", 3),
    ]);
    h.close(1006);
    // Not subscribed by the client on the new socket: the backend may have ended it.
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert!(sent(&actions).is_empty());
    // The server subscribes it again, from now on (id 6): the client asks for the gap.
    let actions = h.frames([
        subscribed("orders:#42", 6, None),
        topic_event("orders:#42", 7),
    ]);
    assert!(
        delivered(&actions).is_empty(),
        "the replay brings them in order"
    );
    let actions = h.advance(0);
    assert_eq!(
        subscriptions(&actions),
        [wanted("orders:#42", Some(3), Some("t1"))]
    );
    let actions = h.frames([
        topic_event("orders:#42", 8),
        subscribed("orders:#42", 8, Some(true)),
        topic_event("orders:#42", 4),
        topic_event("orders:#42", 5),
        topic_event("orders:#42", 6),
        topic_event("orders:#42", 7),
        topic_event("orders:#42", 8),
        topic_event("orders:#42", 9),
    ]);
    assert_eq!(
        delivered_scoped(&actions)
            .into_iter()
            .map(|(_, id, scoped)| (id, scoped))
            .collect::<Vec<_>>(),
        [
            (4, false),
            (5, false),
            (6, false),
            (7, false),
            (8, false),
            (9, false)
        ]
    );
}

#[test]
fn a_resume_the_server_refuses_keeps_the_backends_topic_and_tells_the_client_to_resync() {
    let mut h = Harness::provider();
    h.open();
    h.frames([subscribed("private:x", 2, None)]);
    h.close(1006);
    h.reconnect(welcome(0, "e1", Some(true)));
    h.frame(subscribed("private:x", 6, None));
    h.advance(0);
    // Only the backend may grant it: our subscribe is refused, the backend's subscription stays.
    let actions = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "private:x",
        "topic_forbidden",
    ))));
    assert_eq!(actions, [Action::TopicResync("private:x".into(), false)]);
    assert_eq!(
        ids_of(
            "private:x",
            &h.frames([topic_event("private:x", 7), topic_event("private:x", 8)])
        ),
        [7, 8]
    );
}

#[test]
fn a_subscribed_on_its_way_for_a_topic_the_app_left_is_no_subscription_of_the_backends() {
    let mut h = Harness::provider();
    h.open();
    h.subscribe(1, "product:1");
    h.advance(0);
    h.step(Input::Unsubscribe { handle: 1 });
    h.advance(0);
    let actions = h.frames([
        subscribed("product:1", 0, None),
        topic_event("product:1", 1),
    ]);
    assert_eq!(actions, []);
}

#[test]
fn the_apps_subscription_with_a_position_waits_for_the_answer_with_recovered() {
    let mut h = Harness::provider();
    h.subscribe(1, "feed:all");
    h.open();
    h.frames([subscribed("feed:all", 2, None)]);
    h.close(1006);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(
        subscriptions(&actions),
        [wanted("feed:all", Some(2), Some("t1"))]
    );
    // The backend holds the topic too: its live `subscribed` comes first and is not the answer.
    let actions = h.frames([
        subscribed("feed:all", 5, None),
        topic_event("feed:all", 5),
        subscribed("feed:all", 5, Some(true)),
        topic_event("feed:all", 3),
        topic_event("feed:all", 4),
        topic_event("feed:all", 5),
    ]);
    assert_eq!(ids_of("feed:all", &actions), [3, 4, 5]);
}

#[test]
fn an_app_subscription_to_a_backend_topic_takes_its_events_and_is_resubscribed_by_the_client() {
    let mut h = Harness::provider();
    h.open();
    h.frames([subscribed("feed:all", 2, None)]);
    h.subscribe(1, "feed:all");
    assert!(
        sent(&h.advance(0)).is_empty(),
        "already subscribed on this socket"
    );
    assert_eq!(
        delivered_scoped(&h.frame(topic_event("feed:all", 3))),
        [(Some("feed:all".into()), 3, true)]
    );
    h.close(1006);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(
        subscriptions(&actions),
        [wanted("feed:all", Some(3), Some("t1"))]
    );
    // Unsubscribing it leaves no backend topic behind.
    h.step(Input::Unsubscribe { handle: 1 });
    assert!(h.conn.topics.is_empty());
}

#[test]
fn a_topic_the_app_left_is_taken_as_the_backends_when_the_server_subscribes_it_later() {
    let mut h = Harness::provider();
    h.open();
    h.subscribe(1, "product:1");
    h.advance(0);
    h.frame(subscribed("product:1", 0, None));
    h.step(Input::Unsubscribe { handle: 1 });
    h.advance(0);
    // On the same socket, the backend subscribes the user to it (POST /subscribe).
    let actions = h.frames([
        subscribed("product:1", 3, None),
        topic_event("product:1", 4),
    ]);
    assert_eq!(
        delivered_scoped(&actions),
        [(Some("product:1".into()), 4, false)]
    );
}

#[test]
fn only_the_answer_on_its_way_for_a_topic_the_app_left_is_dropped() {
    let mut h = Harness::provider();
    h.open();
    h.subscribe(1, "product:1");
    h.subscribe(2, "product:2");
    h.advance(0);
    h.step(Input::Unsubscribe { handle: 1 });
    h.step(Input::Unsubscribe { handle: 2 });
    h.advance(0);
    // Each subscribe's answer (here a refusal, and a `subscribed`) is dropped, once.
    let actions = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "product:1",
        "topic_forbidden",
    ))));
    assert_eq!(actions, []);
    assert_eq!(h.frame(subscribed("product:2", 0, None)), []);
    // The backend's later subscriptions are the backend's.
    let actions = h.frames([
        subscribed("product:1", 3, None),
        topic_event("product:1", 4),
        subscribed("product:2", 5, None),
        topic_event("product:2", 6),
    ]);
    assert_eq!(
        delivered_scoped(&actions),
        [
            (Some("product:1".into()), 4, false),
            (Some("product:2".into()), 6, false)
        ]
    );
}

#[test]
fn subscribing_again_before_the_answer_to_a_left_subscribe_waits_for_its_own_answer() {
    let mut h = Harness::provider();
    h.open();
    h.subscribe(1, "product:1");
    h.advance(0);
    h.step(Input::Unsubscribe { handle: 1 });
    h.subscribe_from(2, "product:1", 2);
    h.advance(0);
    // The first subscribe's answer is not the second's: the replay from 2 comes after its own.
    let actions = h.frames([
        subscribed("product:1", 5, None),
        topic_event("product:1", 5),
        subscribed("product:1", 5, Some(true)),
        topic_event("product:1", 3),
        topic_event("product:1", 4),
        topic_event("product:1", 5),
    ]);
    assert_eq!(ids_of("product:1", &actions), [3, 4, 5]);
    // Once answered, nothing of it is left: the backend may subscribe the user to it later.
    h.step(Input::Unsubscribe { handle: 2 });
    h.advance(0);
    let actions = h.frames([
        subscribed("product:1", 6, None),
        topic_event("product:1", 7),
    ]);
    assert_eq!(
        delivered_scoped(&actions),
        [(Some("product:1".into()), 7, false)]
    );
}

#[test]
fn subscribing_to_a_topic_the_backend_held_on_an_earlier_socket_starts_from_resume_or_now() {
    let mut h = Harness::provider();
    h.open();
    h.frames([
        subscribed("feed:all", 2, None),
        topic_event("feed:all", 3),
        subscribed("feed:news", 4, None),
    ]);
    h.close(1006);
    h.reconnect(welcome(0, "e1", Some(true)));
    // The backend ended both meanwhile (no frame told the client); the app subscribes now.
    h.subscribe(1, "feed:all");
    h.subscribe_from(2, "feed:news", 9);
    assert_eq!(
        subscriptions(&h.advance(0)),
        [
            wanted("feed:all", None, None),
            wanted("feed:news", Some(9), Some("t1"))
        ]
    );
    let actions = h.frames([subscribed("feed:all", 7, None), topic_event("feed:all", 8)]);
    assert_eq!(
        delivered_scoped(&actions),
        [(Some("feed:all".into()), 8, true)]
    );
}

#[test]
fn viewer_counts_and_presence_are_handed_on() {
    let mut h = Harness::provider();
    h.subscribe(1, "live:x");
    h.open();
    let occupancy = frames::Occupancy {
        topic: "live:x".into(),
        count: 3,
    };
    let presence = frames::PresenceChange {
        topic: "live:x".into(),
        user: "42".into(),
        present: false,
    };
    let actions = h.frames([
        ServerFrame::Occupancy(occupancy.clone()),
        ServerFrame::Presence(presence.clone()),
    ]);
    assert_eq!(
        actions,
        [Action::Occupancy(occupancy), Action::Presence(presence)]
    );
}

/// The topic sockets asked for: `(topic, token)`.
fn opened_topic_sockets(actions: &[Act]) -> Vec<(String, Option<String>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::OpenTopicSocket(topic, token) => Some((topic.clone(), token.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_namespace_with_shards_moves_to_topic_sockets_and_its_next_topics_go_there_at_once() {
    let mut h = Harness::provider();
    h.step(Input::Subscribe {
        handle: 1,
        topic: "stage:main".into(),
        token: Some("sub-token".into()),
        resume: None,
    });
    h.subscribe(2, "product:1");
    h.open();
    let moved = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "stage:main",
        "topic_socket_required",
    ))));
    // Not a refusal for the app: the topic moves to a socket of its own, token and all.
    assert_eq!(
        moved,
        [Action::OpenTopicSocket(
            "stage:main".into(),
            Some("sub-token".into())
        )]
    );
    // The next topic of that namespace opens its socket without asking the server first, and
    // neither is ever in a subscribe frame again, on this socket or the next.
    let next = h.subscribe(3, "stage:side");
    assert_eq!(opened_topic_sockets(&next), [("stage:side".into(), None)]);
    assert_eq!(sent(&h.advance(10)), []);
    h.close(1012);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(subscriptions(&actions), [wanted("product:1", None, None)]);
    assert_eq!(opened_topic_sockets(&actions), []);
    // Events of those topics never come over this socket; if one did, it is not theirs.
    assert_eq!(h.frame(topic_event("stage:main", 1)), []);
    // Unsubscribing closes the topic socket once no handle holds it; no frame is sent.
    assert_eq!(
        h.step(Input::Unsubscribe { handle: 3 }),
        [Action::CloseTopicSocket("stage:side".into())]
    );
    // A refusal on the topic socket ends the subscription like one over this socket.
    let ended = h.step(Input::TopicEnded(refused("stage:main", "topic_forbidden")));
    assert_eq!(
        ended,
        [
            Action::CloseTopicSocket("stage:main".into()),
            Action::Unsubscribed(refused("stage:main", "topic_forbidden"))
        ]
    );
    // After a stop and a new start, the topic sockets are asked for again.
    h.subscribe(4, "stage:again");
    h.step(Input::AppClose);
    let restart = h.step(Input::Start);
    assert_eq!(
        opened_topic_sockets(&restart),
        [("stage:again".into(), None)]
    );
}

#[test]
fn a_subscription_from_a_saved_position_is_replayed_from_there_once_in_order() {
    // Saved by a page before this one: its client had delivered up to 4.
    let mut h = Harness::provider();
    h.subscribe_from(1, "feed:all", 4);
    assert_eq!(
        h.conn.topic_position("feed:all"),
        Some(Position {
            epoch: "t1".into(),
            last_id: 4
        })
    );
    h.open_with_frames(|actions| {
        assert_eq!(
            subscriptions(actions),
            [wanted("feed:all", Some(4), Some("t1"))]
        );
    });
    let actions = h.frames([
        subscribed("feed:all", 6, Some(true)),
        topic_event("feed:all", 4),
        topic_event("feed:all", 5),
        topic_event("feed:all", 6),
        topic_event("feed:all", 6),
    ]);
    assert_eq!(ids_of("feed:all", &actions), [5, 6]);
    assert!(!actions.iter().any(|a| matches!(a, Action::TopicResync(..))));
    // The position follows what was delivered, for the next page to save.
    assert_eq!(
        h.conn.topic_position("feed:all"),
        Some(Position {
            epoch: "t1".into(),
            last_id: 6
        })
    );
    // A position without an epoch (or of another server) goes out as `since` alone.
    h.step(Input::Subscribe {
        handle: 2,
        topic: "feed:other".into(),
        token: None,
        resume: Some(Position {
            epoch: String::new(),
            last_id: 0,
        }),
    });
    assert_eq!(
        subscriptions(&h.advance(0)),
        [wanted("feed:other", Some(0), None)]
    );
}

#[test]
fn a_subscriptions_position_is_its_newest_event_once_answered_then_its_last_delivered() {
    let mut h = Harness::provider();
    h.subscribe(1, "feed:all");
    assert_eq!(h.conn.topic_position("feed:all"), None);
    h.open();
    h.advance(0);
    assert_eq!(h.conn.topic_position("feed:all"), None, "not answered yet");
    h.frames([subscribed("feed:all", 9, None), topic_event("feed:all", 10)]);
    assert_eq!(
        h.conn.topic_position("feed:all"),
        Some(Position {
            epoch: "t1".into(),
            last_id: 10
        })
    );
    // The user's own stream is apart.
    assert_eq!(h.conn.position().map(|p| p.epoch), Some("e1".into()));
    assert_eq!(h.conn.topic_position("feed:none"), None);
}

#[test]
fn a_saved_position_the_server_no_longer_has_resyncs_the_subscription_then_delivers_what_it_kept() {
    let mut h = Harness::provider();
    h.subscribe_from(1, "feed:all", 4);
    h.open();
    // Pruned past 4: the server keeps 8 and on.
    let actions = h.frames([
        subscribed("feed:all", 9, Some(false)),
        topic_event("feed:all", 8),
        topic_event("feed:all", 9),
    ]);
    let heard: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::TopicResync(topic, scoped) => Some(format!("resync {topic} {scoped}")),
            Action::Deliver(event, scoped) => Some(format!("event {} {scoped}", event.id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        heard,
        ["resync feed:all true", "event 8 true", "event 9 true"]
    );
}

#[test]
fn a_position_given_for_a_topic_the_client_holds_already_is_ignored() {
    let mut h = Harness::provider();
    h.subscribe(1, "feed:all");
    h.open();
    h.advance(0);
    h.frames([subscribed("feed:all", 9, None), topic_event("feed:all", 10)]);
    assert_eq!(h.subscribe_from(2, "feed:all", 2), []);
    assert_eq!(sent(&h.advance(0)), []);
    assert_eq!(
        h.conn.topic_position("feed:all").map(|p| p.last_id),
        Some(10)
    );
}

#[test]
fn a_topic_socket_starts_from_its_subscriptions_saved_position() {
    // The namespace is learned from the server: the topic's socket starts where the app said.
    let mut h = Harness::provider();
    h.subscribe_from(1, "stage:main", 4);
    h.open_with_frames(|actions| {
        assert_eq!(
            subscriptions(actions),
            [wanted("stage:main", Some(4), Some("t1"))]
        );
    });
    let moved = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "stage:main",
        "topic_socket_required",
    ))));
    assert_eq!(opened_topic_sockets(&moved), [("stage:main".into(), None)]);
    // Later topics of the namespace go there at once, from their positions too.
    let next = h.subscribe_from(2, "stage:side", 7);
    assert_eq!(opened_topic_sockets(&next), [("stage:side".into(), None)]);
    for (topic, since) in [("stage:main", 4), ("stage:side", 7)] {
        let mut reader = Harness {
            conn: h.conn.topic_socket(topic.into(), None),
            now: NOW,
            random: 0.5,
            timer_at: None,
            sent_at: Vec::new(),
        };
        reader.step(Input::Start);
        let actions = reader.token(reader.conn.token_request);
        let url = connect_url(&actions).unwrap();
        assert!(url.ends_with(&format!("&since={since}&epoch=t1")), "{url}");
        let resumed = reader.frames([
            subscribed(topic, since + 2, Some(true)),
            topic_event(topic, since + 1),
            topic_event(topic, since + 2),
        ]);
        assert_eq!(ids_of(topic, &resumed), [since + 1, since + 2]);
        assert_eq!(
            reader.conn.topic_position(topic),
            Some(Position {
                epoch: "t1".into(),
                last_id: since + 2
            })
        );
    }
}

/// A machine for the topic socket of `topic`, from a client's.
fn topic_socket(topic: &str, token: Option<&str>) -> Harness {
    let parent = Connection::new(URL, None, Options::default()).unwrap();
    Harness {
        conn: parent.topic_socket(topic.into(), token.map(Into::into)),
        now: NOW,
        random: 0.5,
        timer_at: None,
        sent_at: Vec::new(),
    }
}

#[test]
fn a_topic_socket_opens_on_subscribed_and_resumes_its_topic_by_reconnecting() {
    let mut h = topic_socket("stage:#1 a", Some("s.t"));
    h.step(Input::Start);
    let actions = h.token(h.conn.token_request);
    assert_eq!(
        connect_url(&actions),
        Some(
            "wss://push.example.com/connect?refusal=close&topic=stage%3A%231%20a&subscription=s.t"
        )
    );
    // Its `subscribed` is its welcome; no subscribe frame is ever sent on it.
    let opened = h.frames([
        subscribed("stage:#1 a", 3, None),
        topic_event("stage:#1 a", 4),
    ]);
    assert_eq!(states(&opened), [State::Open]);
    assert_eq!(ids_of("stage:#1 a", &opened), [4]);
    assert!(matches!(opened.last(), Some(Action::Deliver(_, true))));
    assert_eq!(sent(&opened), []);
    // Heartbeats as on any socket (25 s when nobody says otherwise).
    assert_eq!(
        h.advance(25_000)
            .iter()
            .filter(|a| **a == Action::Send(PING.into()))
            .count(),
        1
    );
    h.frame(ServerFrame::Pong);
    // A gap: reconnect from the last id delivered, with the topic's epoch.
    let gap = h.frame(topic_event("stage:#1 a", 6));
    assert_eq!(gap.first(), Some(&Action::CloseSocket));
    let mut all = h.advance(h.timer_at.unwrap() - h.now);
    all.extend(h.token(fetch_request(&all).unwrap()));
    assert_eq!(
        connect_url(&all),
        Some(
            "wss://push.example.com/connect?refusal=close&topic=stage%3A%231%20a&subscription=s.t&since=4&epoch=t1"
        )
    );
    let resumed = h.frames([
        subscribed("stage:#1 a", 6, Some(true)),
        topic_event("stage:#1 a", 5),
        topic_event("stage:#1 a", 6),
        topic_event("stage:#1 a", 6),
    ]);
    assert_eq!(ids_of("stage:#1 a", &resumed), [5, 6]);
    // A socket the network dropped is reconnected as any.
    assert!(matches!(
        h.close(1006).as_slice(),
        [Action::State(State::Reconnecting { .. }), ..]
    ));
}

#[test]
fn a_topic_socket_refused_for_good_ends_the_topic_with_the_servers_reason() {
    let mut h = topic_socket("stage:main", None);
    h.step(Input::Start);
    h.token(h.conn.token_request);
    let body = ErrorBody {
        code: "topic_forbidden".into(),
        message: "user \"7\" may not read \"stage:main\"".into(),
        retry_after_ms: None,
    };
    // The refusal's error frame is not reported as an error of the client's ...
    assert_eq!(h.frame(ServerFrame::Error(body.clone())), []);
    // ... but as the end of the topic, when the socket closes for good.
    let actions = h.close(CloseCode::ProtocolViolation.as_u16());
    assert_eq!(
        actions.first(),
        Some(&Action::Unsubscribed(frames::Unsubscribed {
            topic: "stage:main".into(),
            error: body,
        }))
    );
    assert!(h.conn.is_closed());
}

/// A topic socket of `stage:main` that was open once, dropped, and whose reconnect is refused:
/// an `error` frame with `error` (if any), then the close code `code`. The actions of the refusal.
fn refused_topic_socket(error: Option<&str>, code: u16) -> (Harness, Vec<Act>) {
    let mut h = topic_socket("stage:main", None);
    h.step(Input::Start);
    h.token(h.conn.token_request);
    h.frame(subscribed("stage:main", 0, None));
    h.close(1006);
    let all = h.advance(h.timer_at.unwrap() - h.now);
    h.token(fetch_request(&all).unwrap());
    let mut actions = Vec::new();
    if let Some(error) = error {
        actions.extend(h.frame(ServerFrame::Error(ErrorBody {
            code: error.into(),
            message: "why".into(),
            retry_after_ms: None,
        })));
    }
    actions.extend(h.close(code));
    (h, actions)
}

/// The codes a subscription's error handlers may be told: the union of `SubscriptionError.code`
/// in the package's TypeScript declarations (the `TYPES` of `client-sdk/src/js.rs`).
fn declared_subscription_error_codes() -> Vec<&'static str> {
    let types = include_str!("../js.rs");
    let interface = types
        .split("export interface SubscriptionError {")
        .nth(1)
        .expect("js.rs declares SubscriptionError");
    let union = interface
        .split("code:")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("SubscriptionError has a code");
    let codes: Vec<_> = union
        .split('|')
        .map(|code| code.trim().trim_matches('"'))
        .collect();
    assert!(codes.len() >= 4, "the scan of SubscriptionError is broken");
    codes
}

/// The codes of the subscription refusals among `actions`.
fn ended_topics(actions: &[Act]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Unsubscribed(ended) => Some(ended.error.code.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_topic_socket_refused_for_the_clients_token_stops_the_client_not_the_topic() {
    for (error, code) in [
        // Its reconnect refused: the token is revoked (logout), or invalid.
        (Some("token_revoked"), CloseCode::Revoked),
        (Some("invalid_token"), CloseCode::TokenInvalid),
        // The open socket closed by a revoke: no `error` frame.
        (None, CloseCode::Revoked),
    ] {
        let (h, actions) = refused_topic_socket(error, code.as_u16());
        // Not the topic's end: nothing for the subscription's error handlers ...
        assert_eq!(ended_topics(&actions), Vec::<String>::new(), "{actions:?}");
        // ... but the client's: the server's reason as the client's socket reports it, then
        // its stop with the close code.
        let told: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Error(Error::Server { code, .. }) => Some(code.as_str()),
                Action::Error(other) => panic!("{other:?} is the client's to say"),
                _ => None,
            })
            .collect();
        assert_eq!(told, Vec::from_iter(error));
        assert!(
            actions.contains(&Action::StopClient {
                code: code.as_u16(),
                reason: "bye".into()
            }),
            "{actions:?}"
        );
        assert!(h.conn.is_closed());
    }
}

#[test]
fn whatever_a_topic_socket_tells_a_subscription_is_a_code_its_declared_type_lists() {
    let declared = declared_subscription_error_codes();
    for error in ErrorCode::ALL {
        let code = error.refusal_close_code().as_u16();
        let (_, actions) = refused_topic_socket(Some(error.as_str()), code);
        let ended = ended_topics(&actions);
        let stopped = actions
            .iter()
            .any(|a| matches!(a, Action::StopClient { .. }));
        match close_action(code) {
            CloseAction::Stop => assert_eq!(
                ended.len() + usize::from(stopped),
                1,
                "{error:?}: the topic ends, or the client stops: {actions:?}"
            ),
            _ => assert!(
                ended.is_empty() && !stopped,
                "{error:?}: reconnects: {actions:?}"
            ),
        }
        for code in ended {
            assert!(declared.contains(&code.as_str()), "{code} is not declared");
        }
    }
    // Terminal close codes without an `error` frame are the client's.
    for code in [4500, 4501, 4502, 4999, 1002, 1003, 1007, 1008, 1009] {
        let (_, actions) = refused_topic_socket(None, code);
        assert_eq!(ended_topics(&actions), Vec::<String>::new(), "{code}");
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::StopClient { code: c, .. } if *c == code)),
            "{code}: {actions:?}"
        );
    }
}

#[test]
fn a_topic_socket_stopped_for_the_clients_reason_stops_the_client_which_keeps_its_topics() {
    let mut h = Harness::provider();
    h.subscribe(1, "stage:main");
    h.subscribe(2, "product:1");
    h.open();
    h.step(Input::Frame(Frame::Unsubscribed(refused(
        "stage:main",
        "topic_socket_required",
    ))));
    let revoked = || Input::TopicSocketStopped {
        code: CloseCode::Revoked.as_u16(),
        reason: "revoked".into(),
    };
    // As though its own socket had been closed with 4502: the same report, the same state.
    assert_eq!(
        h.step(revoked()),
        [
            Action::CloseSocket,
            Action::Error(Error::Rejected {
                code: 4502,
                reason: "revoked".into()
            }),
            Action::State(State::Closed {
                code: 4502,
                reason: "revoked".into()
            }),
            Action::ClearTimer,
        ]
    );
    // Another topic socket's word, once stopped, changes nothing.
    assert_eq!(h.step(revoked()), []);
    // The subscriptions are kept: a new start opens the topic socket again, and the user's
    // socket subscribes the other topic again.
    let restart = h.step(Input::Start);
    assert_eq!(
        opened_topic_sockets(&restart),
        [("stage:main".into(), None)]
    );
    let request = fetch_request(&restart).unwrap();
    h.token(request);
    assert_eq!(
        subscriptions(&h.frame(welcome(0, "e1", Some(true)))),
        [wanted("product:1", None, None)]
    );
    // While waiting to reconnect, or fetching a token, the client stops too (no socket to close),
    // and a token that comes later is not used.
    h.close(1006);
    let stopped = h.step(revoked());
    assert!(!stopped.contains(&Action::CloseSocket));
    assert!(h.conn.is_closed());
    h.step(Input::Start);
    let stopped = h.step(revoked());
    assert_eq!(states(&stopped).len(), 1);
    assert_eq!(h.token(h.conn.token_request), []);
}

#[test]
fn a_fixed_token_that_expires_on_a_topic_socket_stops_the_client_once() {
    let exp = NOW as i64 / 1000 + 60;
    let parent = Connection::new(URL, Some(token(exp)), Options::default()).unwrap();
    let mut h = Harness {
        conn: parent.topic_socket("stage:main".into(), None),
        ..Harness::with(None, Options::default())
    };
    h.step(Input::Start);
    h.frame(subscribed("stage:main", 0, None));
    // The server closes it at the token's expiry: the client's to report, once, and to stop.
    let actions = h.close(CloseCode::TokenExpired.as_u16());
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Error(_))),
        "{actions:?}"
    );
    assert!(actions.contains(&Action::StopClient {
        code: 4001,
        reason: "bye".into()
    }));
    let mut client = Harness::with(Some(token(exp)), Options::default());
    client.step(Input::Start);
    client.frame(welcome(0, "e1", None));
    let stopped = client.step(Input::TopicSocketStopped {
        code: 4001,
        reason: "token_expired".into(),
    });
    assert!(stopped.contains(&Action::Error(Error::TokenExpired { stopped: true })));
    assert!(client.conn.is_closed());
}

#[test]
fn a_stopped_client_keeps_new_topic_socket_subscriptions_and_opens_each_once_on_start() {
    let mut h = Harness::provider();
    h.subscribe(1, "stage:main");
    h.open();
    let moved = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "stage:main",
        "topic_socket_required",
    ))));
    assert_eq!(opened_topic_sockets(&moved), [("stage:main".into(), None)]);
    // The server stops the client (revoked): its drivers close every topic socket.
    h.close(CloseCode::Revoked.as_u16());
    assert!(h.conn.is_closed());
    // A subscription made while stopped is kept, but no socket is opened for it yet ...
    assert_eq!(opened_topic_sockets(&h.subscribe(2, "stage:side")), []);
    assert_eq!(h.subscribe(3, "stage:side"), []);
    // ... until the client starts again, which opens each topic socket once.
    let restart = h.step(Input::Start);
    assert_eq!(
        opened_topic_sockets(&restart),
        [("stage:main".into(), None), ("stage:side".into(), None)]
    );
    // While it runs, even before its own socket is open, a new topic opens its socket at once.
    assert_eq!(
        opened_topic_sockets(&h.subscribe(4, "stage:third")),
        [("stage:third".into(), None)]
    );
    // Before the first start nothing is open either (and no namespace is known yet).
    let mut fresh = Harness::provider();
    assert_eq!(fresh.subscribe(1, "stage:main"), []);
}

#[test]
fn an_error_is_terminal_exactly_when_the_client_stops_because_of_it() {
    /// Each error reported, and whether the same actions stopped the client.
    fn errors(actions: &[Act]) -> Vec<(&'static str, bool, bool)> {
        let stopped = states(actions)
            .iter()
            .any(|s| matches!(s, State::Closed { .. }));
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Error(error) => Some((error.code(), error.is_terminal(), stopped)),
                _ => None,
            })
            .collect()
    }
    // A fixed token string the server closes at its expiry (4001): stopped.
    let mut h = Harness::with(Some(token(NOW as i64 / 1000 + 60)), Options::default());
    h.step(Input::Start);
    h.frame(welcome(0, "e1", None));
    assert_eq!(errors(&h.close(4001)), [("token_expired", true, true)]);
    // A fixed token string already expired at connect(): stopped.
    let mut h = Harness::with(Some(token(NOW as i64 / 1000 - 3600)), Options::default());
    assert_eq!(
        errors(&h.step(Input::Start)),
        [("token_expired", true, true)]
    );
    // A provider's expired token: a fresh one is asked for after backoff.
    let mut h = Harness::provider();
    h.step(Input::Start);
    let actions = h.step(Input::Token {
        request: 1,
        result: Ok(token(NOW as i64 / 1000 - 3600)),
    });
    assert_eq!(errors(&actions), [("token_expired", false, false)]);
    // A terminal close code.
    let mut h = Harness::provider();
    h.open();
    assert_eq!(
        errors(&h.close(CloseCode::Revoked.as_u16())),
        [("rejected", true, true)]
    );
}

#[test]
fn a_drop_before_the_replay_after_an_unrecoverable_gap_loses_none_of_what_the_server_kept() {
    let mut h = Harness::provider();
    h.open();
    h.frame(event(1));
    h.frame(event(2));
    h.close(1012);
    // Events 3..=7 were pruned meanwhile; the server keeps 8..=10 and replays them after this.
    let actions = h.reconnect(welcome(10, "e1", Some(false)));
    assert!(actions.contains(&Action::Resync));
    // The socket drops before the replay arrives: the next connect resumes from the same point,
    // not from the newest id, which would skip what the server kept.
    h.close(1006);
    let actions = h.reconnect(welcome(10, "e1", Some(false)));
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=2&epoch=e1")
    );
    // The app already heard of this gap (and nothing came since): no second resync.
    assert!(!actions.contains(&Action::Resync), "{actions:?}");
    let mut seen = Vec::new();
    for id in 8..=11 {
        let actions = h.frame(event(id));
        assert!(!actions.contains(&Action::Resync));
        seen.extend(delivered(&actions));
    }
    assert_eq!(seen, [8, 9, 10, 11]);
    assert_eq!(h.conn.position().unwrap().last_id, 11);

    // Once again, but meanwhile the server pruned more than the app heard of: event 11, newer
    // than the first resync, is gone too, so the app hears a second resync before event 12.
    let mut h = Harness::provider();
    h.open();
    h.frame(event(1));
    h.close(1012);
    h.reconnect(welcome(10, "e1", Some(false)));
    h.close(1006);
    let actions = h.reconnect(welcome(12, "e1", Some(false)));
    assert!(!actions.contains(&Action::Resync));
    let actions = h.frame(event(12));
    assert_eq!(actions[0], Action::Resync);
    assert_eq!(delivered(&actions), [12]);
    assert_eq!(delivered(&h.frame(event(13))), [13]);

    // A new epoch replays nothing: the stream goes on from its newest event, as before.
    let mut h = Harness::provider();
    h.open();
    h.frame(event(1));
    h.close(1012);
    h.reconnect(welcome(4, "e2", Some(false)));
    h.close(1006);
    let actions = h.reconnect(welcome(4, "e2", Some(true)));
    assert_eq!(
        connect_url(&actions),
        Some("wss://push.example.com/connect?refusal=close&since=4&epoch=e2")
    );
    assert_eq!(delivered(&h.frame(event(5))), [5]);
}

#[test]
fn a_drop_before_a_topics_replay_after_an_unrecoverable_gap_loses_none_of_what_the_server_kept() {
    let mut h = Harness::provider();
    h.subscribe(1, "feed:all");
    h.open();
    h.frames([subscribed("feed:all", 2, None), topic_event("feed:all", 3)]);
    h.close(1012);
    h.reconnect(welcome(0, "e1", Some(true)));
    // 4..=9 were pruned; the server keeps 10..=12 and replays them after this.
    let actions = h.frame(subscribed("feed:all", 12, Some(false)));
    assert_eq!(actions, [Action::TopicResync("feed:all".into(), true)]);
    // Dropped before the replay: subscribed again from the same point, not from the newest id.
    h.close(1006);
    let actions = h.reconnect(welcome(0, "e1", Some(true)));
    assert_eq!(
        subscriptions(&actions),
        [wanted("feed:all", Some(3), Some("t1"))]
    );
    // The subscription already heard of this gap: no second resync; what the server kept follows.
    let actions = h.frames(
        [subscribed("feed:all", 12, Some(false))]
            .into_iter()
            .chain((10..=13).map(|id| topic_event("feed:all", id))),
    );
    assert!(!actions.iter().any(|a| matches!(a, Action::TopicResync(..))));
    assert_eq!(ids_of("feed:all", &actions), [10, 11, 12, 13]);

    // The same on a topic socket, which resumes by connecting again.
    let mut h = topic_socket("stage:main", None);
    h.step(Input::Start);
    h.token(h.conn.token_request);
    h.frames([
        subscribed("stage:main", 2, None),
        topic_event("stage:main", 3),
    ]);
    h.close(1012);
    let mut all = h.advance(h.timer_at.unwrap() - h.now);
    all.extend(h.token(fetch_request(&all).unwrap()));
    let actions = h.frame(subscribed("stage:main", 12, Some(false)));
    assert_eq!(actions[1], Action::TopicResync("stage:main".into(), true));
    h.close(1006);
    let mut all = h.advance(h.timer_at.unwrap() - h.now);
    all.extend(h.token(fetch_request(&all).unwrap()));
    assert_eq!(
        connect_url(&all),
        Some("wss://push.example.com/connect?refusal=close&topic=stage%3Amain&since=3&epoch=t1")
    );
    // This time more was pruned than the subscription heard of (13 is gone too).
    let actions = h.frames([
        subscribed("stage:main", 14, Some(false)),
        topic_event("stage:main", 14),
    ]);
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::TopicResync(..)))
            .count(),
        1,
        "{actions:?}"
    );
    assert_eq!(ids_of("stage:main", &actions), [14]);
}

#[test]
fn online_during_a_servers_retry_hint_keeps_the_wait_and_reconnects_at_once_without_one() {
    let mut h = Harness::provider();
    h.open();
    // The server refuses in-band with a hint (rate limited), then closes 4029.
    h.frame(ServerFrame::Error(ErrorBody {
        code: "rate_limited".into(),
        message: "retry in 42 s".into(),
        retry_after_ms: Some(42_000),
    }));
    h.close(4029);
    let due = h.timer_at.unwrap();
    assert_eq!(due, h.now + 42_000);
    // The browser's `online` event does not cut the server's wait short ...
    h.advance(1_000);
    assert_eq!(h.step(Input::Online), []);
    assert_eq!(h.timer_at, Some(due));
    let actions = h.advance(due - h.now);
    assert_eq!(states(&actions), [State::Connecting { attempt: 1 }]);
    // ... and the hint is spent once that connect starts: a drop on the schedule's own wait
    // reconnects at once when the network comes back.
    let request = fetch_request(&actions).unwrap();
    h.token(request);
    h.close(1006);
    assert!(h.timer_at.unwrap() > h.now);
    assert!(fetch_request(&h.step(Input::Online)).is_some());
}

#[test]
fn an_offline_spell_during_a_servers_retry_hint_keeps_the_wait() {
    let rate_limited = ServerFrame::Error(ErrorBody {
        code: "rate_limited".into(),
        message: "retry in 42 s".into(),
        retry_after_ms: Some(42_000),
    });
    let mut h = Harness::provider();
    h.open();
    h.frame(rate_limited.clone());
    h.close(4029);
    let due = h.timer_at.unwrap();
    h.advance(1_000);
    // Offline, then online again: the rest of the wait, not a connect at once.
    assert_eq!(states(&h.step(Input::Offline)), [State::Offline]);
    h.advance(1_000);
    let back = h.step(Input::Online);
    assert_eq!(
        states(&back),
        [State::Reconnecting {
            attempt: 1,
            delay_ms: 40_000
        }]
    );
    assert_eq!(fetch_request(&back), None);
    assert_eq!(h.timer_at, Some(due));
    // Refused while offline: the wait starts with the close and outlasts the offline spell.
    let actions = h.advance(due - h.now);
    h.token(fetch_request(&actions).unwrap());
    h.frame(welcome(0, "e1", Some(true)));
    h.frame(rate_limited.clone());
    h.step(Input::Offline);
    assert_eq!(states(&h.close(4029)), [State::Offline]);
    h.advance(2_000);
    let back = h.step(Input::Online);
    assert_eq!(fetch_request(&back), None);
    assert_eq!(h.timer_at, Some(h.now + 40_000));
    // An offline spell that outlasts the wait connects when the network is back.
    h.step(Input::Offline);
    h.advance(60_000);
    let mut actions = h.step(Input::Online);
    actions.extend(h.advance(0));
    assert!(fetch_request(&actions).is_some());
    // A wait cut short by a stop (here the server's, 4500) holds no later start.
    h.token(fetch_request(&actions).unwrap());
    h.frame(rate_limited);
    h.close(4500);
    h.conn.set_online(false);
    assert_eq!(states(&h.step(Input::Start)), [State::Offline]);
    let actions = h.step(Input::Online);
    assert_eq!(states(&actions), [State::Connecting { attempt: 0 }]);
    assert!(fetch_request(&actions).is_some());
}

#[test]
fn a_new_token_for_a_topic_on_a_topic_socket_goes_to_that_socket_for_its_next_connect() {
    let subscribe = |handle, token: &str| Input::Subscribe {
        handle,
        topic: "stage:main".into(),
        token: Some(token.into()),
        resume: None,
    };
    let mut h = Harness::provider();
    h.step(subscribe(1, "grant-1"));
    h.open();
    let moved = h.step(Input::Frame(Frame::Unsubscribed(refused(
        "stage:main",
        "topic_socket_required",
    ))));
    assert_eq!(
        opened_topic_sockets(&moved),
        [("stage:main".into(), Some("grant-1".into()))]
    );
    // The app subscribes again with a rotated grant: the topic socket is told, with the newest.
    assert_eq!(
        opened_topic_sockets(&h.step(subscribe(2, "grant-2"))),
        [("stage:main".into(), Some("grant-2".into()))]
    );
    // Without a token, nothing changes.
    assert_eq!(h.subscribe(3, "stage:main"), []);
    // Stopped, the client keeps the newest grant and hands it over on `Start`.
    h.close(CloseCode::Revoked.as_u16());
    assert_eq!(opened_topic_sockets(&h.step(subscribe(4, "grant-3"))), []);
    assert_eq!(
        opened_topic_sockets(&h.step(Input::Start)),
        [("stage:main".into(), Some("grant-3".into()))]
    );
}

#[test]
fn a_topic_sockets_machine_kept_by_its_driver_takes_the_newest_grant_and_resumes_after_a_stop() {
    // What the drivers do on `OpenTopicSocket` for a topic whose machine they kept.
    let regrant = |token: &str| Input::Subscribe {
        handle: 0,
        topic: "stage:main".into(),
        token: Some(token.into()),
        resume: None,
    };
    let mut h = topic_socket("stage:main", Some("grant-1"));
    h.step(Input::Start);
    h.token(h.conn.token_request);
    h.frames([
        subscribed("stage:main", 3, None),
        topic_event("stage:main", 4),
    ]);
    // Open: the grant is for the next connect; nothing is sent, and the one handle stays one.
    assert_eq!(h.step(regrant("grant-2")), []);
    assert_eq!(h.conn.topics[0].handles, [0]);
    h.close(1006);
    let mut all = h.advance(h.timer_at.unwrap() - h.now);
    all.extend(h.token(fetch_request(&all).unwrap()));
    assert_eq!(
        connect_url(&all),
        Some(
            "wss://push.example.com/connect?refusal=close&topic=stage%3Amain&subscription=grant-2&since=4&epoch=t1"
        )
    );
    h.frames([subscribed("stage:main", 4, Some(true))]);
    // The client stopped (its driver stops this machine and keeps it); on the next start it
    // resumes from the last event it delivered, with the newest grant.
    h.step(Input::AppClose);
    h.step(regrant("grant-3"));
    let mut all = h.step(Input::Start);
    all.extend(h.token(h.conn.token_request));
    assert_eq!(
        connect_url(&all),
        Some(
            "wss://push.example.com/connect?refusal=close&topic=stage%3Amain&subscription=grant-3&since=4&epoch=t1"
        )
    );
    let resumed = h.frames([
        subscribed("stage:main", 6, Some(true)),
        topic_event("stage:main", 5),
        topic_event("stage:main", 6),
    ]);
    assert_eq!(ids_of("stage:main", &resumed), [5, 6]);
}
