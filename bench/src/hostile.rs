//! `hostile`: what one client holding one valid connect token can make edgepush do in a fixed
//! window, run once against a worker with the limits on one token holder switched off ("before")
//! and once against one with the defaults ("after"; `docs/limits.md`). In the window, with the one
//! token and `refusal=close` (refusals arrive in-band: an `error` frame, then a close): a frame
//! flood on one socket from start to end, a pile of sockets kept open, then a connect loop for the
//! rest of the window. One connect at a time; every loop is bounded in count and time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgepush_e2e::request_with_token;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{Error, Result};
use crate::scenarios::{Measured, Params, Unit};
use crate::servers;
use crate::target::{Target, Ws};

/// The user whose token the attacker holds.
const USER: u32 = 7000;
/// How long one handshake with its first frame, or one answer, may take.
const WAIT: Duration = Duration::from_secs(10);
/// How the edge's own refusal of a token it remembers begins (no Durable Object request); a
/// room's refusal names the room ("the room of user … failed: too many connects of user …").
const EDGE_REFUSAL: &str = "this token connected too often";
/// The close code of a socket that went over its frame budget.
const TOO_MANY_FRAMES_CLOSE: u16 = 4501;

/// What one connect came to.
enum Attempt {
    /// A welcome frame: a socket in the user's room.
    Accepted(Box<Ws>),
    /// An `error` frame with this code, from the room (one Durable Object request) or from the
    /// edge (none).
    Refused { code: String, at_edge: bool },
    /// Anything else: a transport error, a timeout, another first frame.
    Failed(String),
}

/// One connect with `token`: the handshake and the first frame.
async fn attempt(url: &str, token: &str) -> Attempt {
    let request = match request_with_token(url, token) {
        Ok(r) => r,
        Err(e) => return Attempt::Failed(e.to_string()),
    };
    let work = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text).unwrap_or_default();
                    let message = frame["message"].as_str().unwrap_or_default();
                    return Ok(match frame["type"].as_str() {
                        Some("welcome") => Attempt::Accepted(Box::new(ws)),
                        Some("error") => Attempt::Refused {
                            code: frame["code"].as_str().unwrap_or("?").to_owned(),
                            at_edge: message.starts_with(EDGE_REFUSAL),
                        },
                        _ => Attempt::Failed(format!("first frame {text}")),
                    });
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!("closed before any frame ({frame:?})"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed before any frame".to_owned()),
            }
        }
    };
    match tokio::time::timeout(WAIT, work).await {
        Ok(Ok(attempt)) => attempt,
        Ok(Err(e)) => Attempt::Failed(e),
        Err(_) => Attempt::Failed("no first frame within 10 s".to_owned()),
    }
}

/// What a series of connects came to.
#[derive(Default)]
struct Counts {
    tried: u64,
    accepted: u64,
    refused_by_room: u64,
    refused_at_edge: u64,
    failed: u64,
    first_failure: Option<String>,
    /// Refusals by code.
    codes: BTreeMap<String, u64>,
}

impl Counts {
    fn count(&mut self, attempt: &Attempt) {
        self.tried += 1;
        match attempt {
            Attempt::Accepted(_) => self.accepted += 1,
            Attempt::Refused { code, at_edge } => {
                match at_edge {
                    true => self.refused_at_edge += 1,
                    false => self.refused_by_room += 1,
                }
                let where_ = if *at_edge { "edge" } else { "room" };
                *self.codes.entry(format!("{code} ({where_})")).or_default() += 1;
            }
            Attempt::Failed(why) => {
                self.failed += 1;
                self.first_failure.get_or_insert_with(|| why.clone());
            }
        }
    }

    fn add(&mut self, other: &Self) {
        self.tried += other.tried;
        self.accepted += other.accepted;
        self.refused_by_room += other.refused_by_room;
        self.refused_at_edge += other.refused_at_edge;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure.clone_from(&other.first_failure);
        }
        for (code, n) in &other.codes {
            *self.codes.entry(code.clone()).or_default() += n;
        }
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "{} tried, {} accepted, {} refused by the room, {} refused at the edge",
            self.tried, self.accepted, self.refused_by_room, self.refused_at_edge
        );
        if !self.codes.is_empty() {
            let codes: Vec<String> = self.codes.iter().map(|(c, n)| format!("{n} {c}")).collect();
            let _ = write!(text, " ({})", codes.join(", "));
        }
        if let Some(why) = &self.first_failure {
            let _ = write!(text, ", {} failed (first: {why})", self.failed);
        }
        text
    }
}

/// What the frame flood came to.
struct Flood {
    /// Answers read (each is a frame the room handled: one Durable Object request).
    answered: u64,
    /// Whether one of them was `too_many_frames`.
    told_too_many: bool,
    /// The close code, if the socket was closed before the window ended.
    closed: Option<u16>,
}

/// Sends `{}` on `ws`, the next once the answer is in, until the socket closes or `deadline`.
async fn flood(mut ws: Ws, deadline: Instant) -> Flood {
    let mut f = Flood {
        answered: 0,
        told_too_many: false,
        closed: None,
    };
    // Bounded by the deadline; the count bound is a guard.
    while Instant::now() < deadline && f.answered < 10_000_000 {
        if ws.send(Message::text("{}")).await.is_err() {
            f.closed = Some(1006);
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left.min(WAIT), ws.next()).await {
            Err(_) => break,
            Ok(Some(Ok(Message::Text(text)))) => {
                f.answered += 1;
                let frame: Value = serde_json::from_str(&text).unwrap_or_default();
                f.told_too_many |= frame["code"] == "too_many_frames";
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                f.closed = Some(frame.map_or(1005, |c| c.code.into()));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => {
                f.closed = Some(1006);
                break;
            }
        }
    }
    // A close frame may follow the last answer.
    if f.closed.is_none() && f.told_too_many {
        while let Ok(Some(Ok(message))) = tokio::time::timeout(WAIT, ws.next()).await {
            if let Message::Close(frame) = message {
                f.closed = Some(frame.map_or(1005, |c| c.code.into()));
                break;
            }
        }
    }
    f
}

/// Runs the three attacks in one window against `t`; `limited` says whether its limits are the
/// defaults (the smoke run then checks that they tripped) or switched off (that nothing did).
pub async fn run(t: &Arc<Target>, p: &Params, limited: bool) -> Result<Measured> {
    let (secs, pile_bound, connect_bound) = p.hostile;
    let url = format!("{}?refusal=close", t.ws_url());
    let token = t.token(USER);
    tokio::time::sleep(p.settle).await;
    let cpu_before = servers::cpu_ms(&t.pgids);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(u64::from(secs));

    // The flood's socket first, so that it runs the whole window.
    let mut flood_counts = Counts::default();
    let first = attempt(&url, &token).await;
    flood_counts.count(&first);
    let flood_task = match first {
        Attempt::Accepted(ws) => Some(tokio::spawn(flood(*ws, deadline))),
        _ => None,
    };

    // The pile: one socket at a time, kept, until a refusal or the bound.
    let mut pile_counts = Counts::default();
    let mut pile = Vec::new();
    let mut pile_end = "the window ended".to_owned();
    while Instant::now() < deadline {
        if pile.len() >= pile_bound {
            pile_end = format!("the bound of {pile_bound}");
            break;
        }
        let a = attempt(&url, &token).await;
        pile_counts.count(&a);
        match a {
            Attempt::Accepted(ws) => pile.push(ws),
            Attempt::Refused { code, .. } => {
                pile_end = format!("the first refusal ({code})");
                break;
            }
            Attempt::Failed(why) => {
                pile_end = format!("a failure ({why})");
                break;
            }
        }
    }

    // The connect loop: connect, read the first frame, close, again.
    let mut loop_counts = Counts::default();
    // When the loop's outcome changed (accepted ↔ refused, and by whom), at most 40 changes.
    let mut timeline: Vec<String> = Vec::new();
    let mut last_kind = "";
    while Instant::now() < deadline && loop_counts.tried < connect_bound {
        let a = attempt(&url, &token).await;
        loop_counts.count(&a);
        let kind = match &a {
            Attempt::Accepted(_) => "accepted",
            Attempt::Refused { at_edge: true, .. } => "refused at the edge",
            Attempt::Refused { .. } => "refused by the room",
            Attempt::Failed(_) => "failed",
        };
        if kind != last_kind && timeline.len() < 40 {
            let at = started.elapsed().as_secs_f64();
            timeline.push(format!("{at:.1} s {kind}"));
            last_kind = kind;
        }
        match a {
            Attempt::Accepted(mut ws) => {
                let _ = ws.close(None).await;
            }
            Attempt::Refused { .. } => {}
            // Not a hot loop against a server that is gone.
            Attempt::Failed(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let flood = match flood_task {
        Some(task) => Some(task.await?),
        None => None,
    };
    let window = started.elapsed().as_secs_f64();
    let cpu_ms = servers::cpu_ms(&t.pgids).saturating_sub(cpu_before);
    let held = pile.len();
    drop(pile);

    let mut all = Counts::default();
    for c in [&flood_counts, &pile_counts, &loop_counts] {
        all.add(c);
    }
    let answered = flood.as_ref().map_or(0, |f| f.answered);
    let requests = all.accepted + all.refused_by_room + answered;
    let per_min = |n: u64| n as f64 * 60.0 / window.max(0.001);
    let mut m = Measured::default();
    for (key, label, n) in [
        (
            "hostile.requests",
            "Durable Object requests (accepted connects + room refusals + frames answered)",
            requests,
        ),
        ("hostile.tried", "connects tried", all.tried),
        ("hostile.accepted", "connects accepted", all.accepted),
        (
            "hostile.refused_room",
            "connects refused by the room",
            all.refused_by_room,
        ),
        (
            "hostile.refused_edge",
            "connects refused at the edge (no Durable Object request)",
            all.refused_at_edge,
        ),
        (
            "hostile.frames",
            "frames answered by the room (frame flood, one socket)",
            answered,
        ),
    ] {
        m.add(
            key,
            &format!("{label}, per minute"),
            Unit::PerMin,
            true,
            per_min(n),
        );
    }
    m.add(
        "hostile.held",
        &format!("sockets held at the end (socket pile, bound {pile_bound})"),
        Unit::Count,
        true,
        held as f64,
    );
    m.add(
        "hostile.cpu",
        "server CPU seconds per minute (every server process)",
        Unit::Secs,
        true,
        cpu_ms as f64 / 1000.0 * 60.0 / window.max(0.001),
    );
    m.notes.push(format!(
        "in {window:.1} s: {requests} Durable Object requests, {:.1} s of server CPU; flood \
         socket: {}; socket pile: {} (stopped by {pile_end}); connect loop: {}",
        cpu_ms as f64 / 1000.0,
        match &flood {
            None => format!("not opened ({})", flood_counts.describe()),
            Some(f) => format!(
                "{} answers, {}",
                f.answered,
                match f.closed {
                    Some(code) => format!("then closed with {code}"),
                    None => "still open at the end".to_owned(),
                }
            ),
        },
        pile_counts.describe(),
        loop_counts.describe(),
    ));
    m.notes.push(format!(
        "connect loop, from when each outcome began (seconds into the window): {}",
        timeline.join(", ")
    ));
    let mut finding = |text: String| m.problems.push(Error::Finding(text));
    if all.accepted == 0 {
        finding("no connect was accepted".to_owned());
    }
    if answered == 0 {
        finding("the frame flood got no answer".to_owned());
    }
    match limited {
        true => {
            if flood.as_ref().and_then(|f| f.closed) != Some(TOO_MANY_FRAMES_CLOSE) {
                finding(format!(
                    "with the default limits the flood socket was not closed with \
                     {TOO_MANY_FRAMES_CLOSE}"
                ));
            }
        }
        false => {
            if all.refused_by_room + all.refused_at_edge > 0 {
                finding(format!(
                    "refused with the limits switched off: {}",
                    all.describe()
                ));
            }
        }
    }
    if all.failed > 0 {
        finding(format!("connects failed: {}", all.describe()));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_apart_by_where_they_came_from() {
        let mut c = Counts::default();
        let refused = |code: &str, at_edge| Attempt::Refused {
            code: code.to_owned(),
            at_edge,
        };
        c.count(&refused("rate_limited", false));
        c.count(&refused("rate_limited", true));
        c.count(&refused("rate_limited", true));
        c.count(&Attempt::Failed("gone".into()));
        let mut total = Counts::default();
        total.add(&c);
        total.add(&c);
        assert_eq!(
            (total.tried, total.refused_by_room, total.refused_at_edge),
            (8, 2, 4)
        );
        assert_eq!(
            total.describe(),
            "8 tried, 0 accepted, 2 refused by the room, 4 refused at the edge (4 rate_limited \
             (edge), 2 rate_limited (room)), 2 failed (first: gone)"
        );
    }
}
