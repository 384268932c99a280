//! The topic scenarios (issue 13, "scale on this machine"): a broadcast to N subscribers of one
//! topic, each a topic socket of its own user (`/connect?topic=`; Pushpin: N sockets on one
//! channel), and a reconnect storm in which all of them drop at once and come back at once,
//! resuming with `since` and `epoch`. The same series of publishes also runs over the Mercure hub
//! (issue 14): subscribers that read `GET /.well-known/mercure` event streams, publishes with
//! `POST /.well-known/mercure` ([`Path`]). Every loop is bounded in count and time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{Error, Result, chain};
use crate::load::{self, PubLog, Tally, WARM};
use crate::scenarios::{self, Measured, Params, Unit};
use crate::servers;
use crate::target::{Kind, Relayed, Sse, Target, Ws, now_us};

/// The broadcast's topic and the storm's: apart, since a smoke run keeps one server for both.
/// `crowd` is public with 4 shards in `EDGEPUSH_TEST_TOPIC_NAMESPACES` (`scripts/env.sh`).
const BROADCAST_TOPIC: &str = "crowd:stage";
const STORM_TOPIC: &str = "crowd:storm";
/// The first user id of each scenario's subscribers (each subscriber is a user of its own).
const BROADCAST_USERS: u32 = 20_000;
const STORM_USERS: u32 = 40_000;
/// Failed connects a subscriber retries, each after [`backoff`]: at most about 70 s in all.
const RETRIES: u32 = 8;

/// The wait before retry `n` (from 1) of `user`'s connect, as the browser SDK waits
/// (`client-sdk/src/backoff.rs`): full jitter, a time in `[0, min(20 s, 0.5 s × 2^(n-1)))`; the
/// jitter is a hash of the user and `n`, so that runs are comparable.
fn backoff(user: u32, n: u32) -> Duration {
    let cap_ms = (500u64 << n.saturating_sub(1).min(6)).min(20_000);
    let mut x = (u64::from(user) << 32 | u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 32;
    Duration::from_millis(x % cap_ms)
}

/// How the subscribers read a topic and how the scenario publishes to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Topic sockets (`/connect?topic=`, what the SDK's subscriptions of sharded namespaces
    /// use) and `POST /publish` with a `topic`; Pushpin: sockets on one channel.
    TopicSocket,
    /// The Mercure hub: `GET /.well-known/mercure?topic=` event streams (each held by the Worker
    /// over one topic socket of its own) and `POST /.well-known/mercure` updates.
    Mercure,
}

impl Path {
    /// Publishes the event with sequence number `seq` to `topic` this way; what the answer says
    /// about the fan-out (edgepush's `POST /publish` only).
    async fn publish(self, target: &Target, topic: &str, seq: u32) -> Result<Relayed> {
        match self {
            Self::TopicSocket => target.publish_topic(topic, seq).await,
            Self::Mercure => target
                .publish_mercure(topic, seq)
                .await
                .map(|()| Relayed::default()),
        }
    }
}

/// A series of publishes to the subscribers of one topic, one after the other: each waits until
/// the previous one reached every subscriber (at most 10 s), then `gap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series {
    /// The topic (on edgepush, of a namespace with shards: topic sockets need one).
    pub topic: &'static str,
    /// The first user id of the subscribers (each is a user of its own).
    pub first_user: u32,
    /// Subscribers.
    pub subscribers: usize,
    /// Publishes.
    pub rounds: u32,
    /// The pause after a publish reached every subscriber.
    pub gap: Duration,
}

/// A subscriber's connection: a topic socket, or a Mercure event stream.
enum Feed {
    Socket(Ws),
    Events(Sse),
}

/// What came next on a [`Feed`].
enum Next {
    /// An event (a frame with a payload, or an update with `data`), and when it arrived (µs).
    Event {
        id: Option<u64>,
        payload: Option<Payload>,
        received: u64,
    },
    /// Anything else (another frame, a ping).
    Other,
    /// The server closed it or it failed.
    End,
}

impl Feed {
    /// The next thing that arrives. Cancel-safe: nothing read is lost when it is dropped.
    async fn next(&mut self) -> Next {
        match self {
            Self::Socket(ws) => match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let received = now_us();
                    match serde_json::from_str::<TopicFrame>(&text) {
                        Ok(frame) => Next::Event {
                            id: frame.id,
                            payload: frame.payload,
                            received,
                        },
                        Err(_) => Next::Other,
                    }
                }
                Some(Ok(_)) => Next::Other,
                Some(Err(_)) | None => Next::End,
            },
            Self::Events(sse) => match sse.next_event().await {
                Ok(Some(event)) => Next::Event {
                    id: None,
                    payload: serde_json::from_str(&event.data).ok(),
                    received: now_us(),
                },
                Ok(None) | Err(_) => Next::End,
            },
        }
    }

    /// Ends it as `how` says: a close handshake for a socket; an event stream just goes.
    async fn end(self, how: Stop) {
        if let (Self::Socket(mut ws), Stop::Close) = (self, how) {
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        }
    }
}

/// Where a subscriber resumes: the newest id it had and the topic's epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resume {
    since: u64,
    epoch: String,
}

/// What one topic socket saw.
#[derive(Debug)]
struct TopicLog {
    user: u32,
    /// The `subscribed` frame's `recovered` (absent for a fresh subscription).
    recovered: Option<bool>,
    /// The topic's epoch and the newest id this socket had, warm-up events included.
    resume: Resume,
    /// (sequence number, publish→deliver µs) per measured event, in arrival order.
    events: Vec<(u32, u64)>,
    /// From the start of the subscribers' connects until this one had its `subscribed` frame.
    opened_after: Duration,
    /// From the same start until this one had every event it missed.
    resumed_after: Option<Duration>,
    /// Connects that failed before the one that opened.
    retries: u32,
    /// The server closed it or it failed before the end.
    dropped: bool,
}

#[derive(Deserialize)]
struct TopicFrame {
    id: Option<u64>,
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    seq: u32,
    t: u64,
}

/// How the subscribers end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Running,
    /// A close handshake, as a page that leaves.
    Close,
    /// The TCP connection dropped without a close frame, as a network that goes away.
    Cut,
}

/// Counts the subscribers' tasks share with the scenario driving them.
#[derive(Default)]
struct Progress {
    opened: AtomicUsize,
    failed: AtomicUsize,
    resumed: AtomicUsize,
    first_error: Mutex<Option<Error>>,
}

/// One task per subscriber: it connects (at most `parallel` handshakes at once, with retries),
/// then reads its socket (or event stream) until told to stop.
struct Subscribers {
    path: Path,
    tasks: Vec<JoinHandle<Option<TopicLog>>>,
    stop: watch::Sender<Stop>,
    tally: Arc<Tally>,
    progress: Arc<Progress>,
    sockets: usize,
}

impl Subscribers {
    /// Starts a subscriber of `topic` for each (user, where it resumes), reading it by `path`
    /// (a Mercure subscriber has no user and never resumes); measured sequence numbers stay
    /// below `max_seq`, and a subscriber counts as resumed once it has every one of `0..missed`
    /// (with `missed` 0, never).
    fn spawn(
        target: &Arc<Target>,
        path: Path,
        topic: &'static str,
        plans: Vec<(u32, Option<Resume>)>,
        parallel: usize,
        max_seq: u32,
        missed: u32,
    ) -> Self {
        let started = Instant::now();
        let tally = Arc::new(Tally::new(max_seq as usize));
        let progress = Arc::new(Progress::default());
        let gate = Arc::new(Semaphore::new(parallel.max(1)));
        let (stop, stopped) = watch::channel(Stop::Running);
        let sockets = plans.len();
        let tasks = plans
            .into_iter()
            .map(|(user, resume)| {
                let (target, tally, progress) = (target.clone(), tally.clone(), progress.clone());
                let (gate, stopped) = (gate.clone(), stopped.clone());
                tokio::spawn(async move {
                    let permit = gate.acquire().await;
                    let mut retries = 0;
                    let resume = resume.as_ref().map(|r| (r.since, r.epoch.as_str()));
                    let (feed, subscribed) = loop {
                        let open = match path {
                            Path::TopicSocket => target
                                .connect_topic(user, topic, resume)
                                .await
                                .map(|(ws, s)| (Feed::Socket(ws), Some(s))),
                            Path::Mercure => target
                                .subscribe_mercure(topic)
                                .await
                                .map(|sse| (Feed::Events(sse), None)),
                        };
                        match open {
                            Ok(open) => break open,
                            Err(_) if retries < RETRIES => {
                                retries += 1;
                                tokio::time::sleep(backoff(user, retries)).await;
                            }
                            Err(e) => {
                                progress.failed.fetch_add(1, Ordering::Relaxed);
                                if let Ok(mut first) = progress.first_error.lock() {
                                    first.get_or_insert(e);
                                }
                                return None;
                            }
                        }
                    };
                    let opened_after = started.elapsed();
                    drop(permit);
                    progress.opened.fetch_add(1, Ordering::Relaxed);
                    let (recovered, resume) = match subscribed {
                        Some(s) => (
                            s.recovered,
                            Resume {
                                since: s.last_id,
                                epoch: s.epoch,
                            },
                        ),
                        None => (
                            None,
                            Resume {
                                since: 0,
                                epoch: String::new(),
                            },
                        ),
                    };
                    let log = TopicLog {
                        user,
                        recovered,
                        resume,
                        events: Vec::new(),
                        opened_after,
                        resumed_after: None,
                        retries,
                        dropped: false,
                    };
                    let reading = Reading {
                        tally,
                        progress,
                        started,
                        missed,
                    };
                    Some(reading.read(feed, log, stopped).await)
                })
            })
            .collect();
        Self {
            path,
            tasks,
            stop,
            tally,
            progress,
            sockets,
        }
    }

    fn opened(&self) -> usize {
        self.progress.opened.load(Ordering::Relaxed)
    }

    /// Waits until every subscriber has opened or given up, for at most `within`; fails (after
    /// stopping them) if more than 1 % gave up.
    async fn opened_all(self, within: Duration) -> Result<Self> {
        let deadline = Instant::now() + within;
        let failed = || self.progress.failed.load(Ordering::Relaxed);
        while self.opened() + failed() < self.sockets && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let missing = self.sockets - self.opened();
        if missing * 100 <= self.sockets && self.opened() > 0 {
            return Ok(self);
        }
        let first = self
            .progress
            .first_error
            .lock()
            .ok()
            .and_then(|mut e| e.take());
        let total = self.sockets;
        self.finish(Stop::Cut).await;
        Err(Error::Connect {
            failed: missing,
            total,
            source: Box::new(first.unwrap_or(Error::Timeout("subscribed frames"))),
        })
    }

    /// Sockets that gave up connecting, with the first reason.
    fn connect_failures(&self) -> Option<(usize, Error)> {
        let first = self.progress.first_error.lock().ok()?.take()?;
        Some((self.progress.failed.load(Ordering::Relaxed), first))
    }

    /// Publishes warm-up events to the topic until every open subscriber has one: proof that
    /// each is subscribed (Pushpin subscribes after its first frame, a topic socket's shard
    /// joins the topic after its accept). Up to 10 rounds, 2 s apart.
    async fn warm_up(&self, target: &Target, topic: &str) -> Result<()> {
        let mut answer = String::new();
        for round in 0..10u32 {
            let relayed = self.path.publish(target, topic, WARM + round).await?;
            answer = format!("{relayed:?}");
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if self.tally.warmed.load(Ordering::Relaxed) >= self.opened() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Err(Error::NotWarm {
            warmed: self.tally.warmed.load(Ordering::Relaxed),
            sockets: self.opened(),
            dropped: self.tally.dropped.load(Ordering::Relaxed),
            answer,
        })
    }

    /// Waits until `seq` reached every open subscriber, for at most `within`.
    async fn delivered_everywhere(&self, seq: u32, within: Duration) {
        let deadline = Instant::now() + within;
        while (self.tally.count(seq) as usize) < self.opened() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Waits until every open subscriber resumed, for at most `within`.
    async fn resumed_all(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.progress.resumed.load(Ordering::Relaxed) < self.opened()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops every subscriber the way `how` says and returns what each open one saw.
    async fn finish(self, how: Stop) -> Vec<TopicLog> {
        let _ = self.stop.send(how);
        let mut logs = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            if let Ok(Some(log)) = task.await {
                logs.push(log);
            }
        }
        logs
    }
}

/// What a subscriber's reading loop shares and knows.
struct Reading {
    tally: Arc<Tally>,
    progress: Arc<Progress>,
    started: Instant,
    missed: u32,
}

impl Reading {
    async fn read(
        self,
        mut feed: Feed,
        mut log: TopicLog,
        mut stopped: watch::Receiver<Stop>,
    ) -> TopicLog {
        let mut have = vec![false; self.missed as usize];
        let mut have_count = 0;
        let mut warmed = false;
        let how = loop {
            tokio::select! {
                changed = stopped.changed() => {
                    let how = *stopped.borrow();
                    if changed.is_err() || how != Stop::Running {
                        break how;
                    }
                }
                next = feed.next() => match next {
                    Next::Event { id, payload, received } => {
                        if let Some(id) = id {
                            log.resume.since = log.resume.since.max(id);
                        }
                        let Some(p) = payload else { continue };
                        if p.seq >= WARM {
                            if !warmed {
                                warmed = true;
                                self.tally.warmed.fetch_add(1, Ordering::Relaxed);
                            }
                            continue;
                        }
                        log.events.push((p.seq, received.saturating_sub(p.t)));
                        if let Some(c) = self.tally.counts.get(p.seq as usize) {
                            c.fetch_add(1, Ordering::Relaxed);
                        }
                        self.tally.delivered.fetch_add(1, Ordering::Relaxed);
                        if let Some(had) = have.get_mut(p.seq as usize).filter(|h| !**h) {
                            *had = true;
                            have_count += 1;
                            if have_count == have.len() {
                                log.resumed_after = Some(self.started.elapsed());
                                self.progress.resumed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Next::Other => {}
                    Next::End => {
                        log.dropped = true;
                        self.tally.dropped.fetch_add(1, Ordering::Relaxed);
                        break Stop::Cut;
                    }
                }
            }
        };
        feed.end(how).await;
        log
    }
}

/// Compares what the subscribers saw with the accepted sequence numbers each should have had:
/// latency of every delivery, what is missing, what came more than once.
fn account(logs: &[TopicLog], expected: &[u32]) -> load::Outcome {
    let mut o = load::Outcome::default();
    for log in logs {
        let (lost, duplicated) = gaps(log, expected);
        for &(_, micros) in &log.events {
            let _ = o.latency.record(micros.max(1));
        }
        o.delivered += log.events.len() as u64;
        o.expected += expected.len() as u64;
        o.lost += lost;
        o.duplicated += duplicated;
        o.dropped += u64::from(log.dropped);
    }
    o
}

/// Of `expected`, how many `log` never had, and how many of its events were repeats.
fn gaps(log: &TopicLog, expected: &[u32]) -> (u64, u64) {
    let mut seen: Vec<u32> = log.events.iter().map(|e| e.0).collect();
    seen.sort_unstable();
    let all = seen.len();
    seen.dedup();
    let lost = expected
        .iter()
        .filter(|s| seen.binary_search(s).is_err())
        .count();
    (lost as u64, (all - seen.len()) as u64)
}

/// The storm's verdict: the subscribers that did not come back with `recovered: true` and every
/// expected event exactly once (`gone` never reconnected at all).
fn unresumed(logs: &[TopicLog], expected: &[u32], gone: usize) -> Option<Error> {
    let (mut subscribers, mut unrecovered, mut missing, mut duplicated) = (gone, 0, 0, 0);
    missing += (gone * expected.len()) as u64;
    for log in logs {
        let (lost, repeats) = gaps(log, expected);
        let recovered = log.recovered == Some(true);
        if !recovered || lost > 0 || repeats > 0 {
            subscribers += 1;
        }
        unrecovered += usize::from(!recovered);
        missing += lost;
        duplicated += repeats;
    }
    (subscribers > 0).then_some(Error::Unresumed {
        subscribers,
        total: logs.len() + gone,
        unrecovered,
        missing,
        duplicated,
    })
}

/// The subscribers' events as `scenarios::last_socket_values` reads them.
fn socket_logs(logs: &[TopicLog]) -> Vec<load::SocketLog> {
    logs.iter()
        .map(|l| load::SocketLog {
            user: l.user,
            events: l.events.clone(),
            dropped: l.dropped,
        })
        .collect()
}

/// Broadcast: N subscribers of one topic, `rounds` publishes to it one after the other; per
/// publish the time until every subscriber has it, and what the publish cost edgepush.
pub async fn broadcast(t: &Arc<Target>, p: &Params) -> Result<Measured> {
    let (subscribers, rounds) = p.broadcast;
    let s = Series {
        topic: BROADCAST_TOPIC,
        first_user: BROADCAST_USERS,
        subscribers,
        rounds,
        gap: Duration::from_millis(200),
    };
    series(t, Path::TopicSocket, &s).await
}

/// The series `s` over `path`: its subscribers open (100 at a time) and are warmed up, then each
/// publish goes out once the previous one reached them all; per publish the time until every
/// subscriber has it, every delivery's latency, lost and duplicated events, the server's CPU per
/// publish and (edgepush's `POST /publish`) the relays the answer counts.
pub async fn series(t: &Arc<Target>, path: Path, s: &Series) -> Result<Measured> {
    let (sockets, rounds) = (s.subscribers, s.rounds);
    let plans = (0..sockets)
        .map(|i| (s.first_user + i as u32, None))
        .collect();
    let started = Instant::now();
    let subs = Subscribers::spawn(t, path, s.topic, plans, 100, rounds, 0)
        .opened_all(Duration::from_secs(300))
        .await?;
    let took = started.elapsed();
    let mut m = Measured::default();
    scenarios::connect_failures(&mut m, subs.connect_failures());
    subs.warm_up(t, s.topic).await?;
    let cpu_before = servers::cpu_ms(&t.pgids);
    let mut published = PubLog::default();
    let mut accepted = Vec::new();
    let mut relayed: Vec<Relayed> = Vec::new();
    for seq in 0..rounds {
        match path.publish(t, s.topic, seq).await {
            Ok(answer) => {
                accepted.push(seq);
                relayed.push(answer);
            }
            Err(e) => {
                published.failed(e);
                continue;
            }
        }
        subs.delivered_everywhere(seq, Duration::from_secs(10))
            .await;
        tokio::time::sleep(s.gap).await;
    }
    let cpu_ms = servers::cpu_ms(&t.pgids).saturating_sub(cpu_before);
    let logs = subs.finish(Stop::Close).await;
    let o = account(&logs, &accepted);
    scenarios::last_socket_values(
        &mut m,
        ["broadcast.last_p50", "broadcast.last_max"],
        "subscriber",
        &socket_logs(&logs),
        |seq| seq,
    );
    for (key, name, q) in [
        ("broadcast.p50", "p50", 0.5),
        ("broadcast.p99", "p99", 0.99),
    ] {
        m.add(
            key,
            &format!("publish→deliver {name} (every delivery)"),
            Unit::Ms,
            true,
            o.latency.value_at_quantile(q) as f64,
        );
    }
    m.add(
        "broadcast.connect_secs",
        &format!("time to open {sockets} subscribers (100 at a time)"),
        Unit::Secs,
        true,
        took.as_secs_f64(),
    );
    m.add(
        "broadcast.cpu",
        "server CPU time per publish (every server process)",
        Unit::Ms,
        true,
        cpu_ms as f64 * 1000.0 / accepted.len().max(1) as f64,
    );
    let latency = o.latency.clone();
    scenarios::delivery_values(&mut m, &o, published);
    // Topic publishes are not in the PubLog: counted here, for the runner's CPU rows.
    m.counted = Some((accepted.len() as u64, o.delivered));
    // edgepush's own rows last: the report lines up unkeyed rows by position.
    let most = |f: fn(&Relayed) -> Option<u64>| relayed.iter().filter_map(f).max();
    let fewest = relayed.iter().filter_map(|r| r.sockets).min();
    if let (Some(relays), Some(reached)) = (most(|r| r.relays), fewest) {
        m.add(
            "broadcast.requests",
            "Durable Object requests per publish: 1 (topic root) + relays (most in a round)",
            Unit::Count,
            true,
            (1 + relays) as f64,
        );
        m.add(
            "broadcast.sockets",
            "sockets reached per publish, from the answer (fewest in a round)",
            Unit::Count,
            false,
            reached as f64,
        );
        let relays: Vec<u64> = relayed.iter().filter_map(|r| r.relays).collect();
        m.notes.push(format!(
            "relays per publish over the {} rounds: {} (one per shard holding sockets)",
            relayed.len(),
            rounds_with(&relays)
        ));
    }
    m.curve = Some(latency);
    Ok(m)
}

/// How many rounds had each value, smallest value first: `4 (20 rounds)`, `1 (398 rounds), 2 (2
/// rounds)`.
fn rounds_with(values: &[u64]) -> String {
    let mut counts = std::collections::BTreeMap::<u64, usize>::new();
    for &v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts
        .iter()
        .map(|(v, n)| format!("{v} ({n} round{})", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The report's note on `result`, the series over Pushpin's sockets (one channel) beside the
/// topic sockets: its p50, p99 and worst publish, lost and duplicated, or why it failed.
pub fn pushpin_note(result: &Result<Measured>) -> String {
    let m = match result {
        Ok(m) => m,
        Err(e) => return format!("Pushpin, the same series, did not complete: {}", chain(e)),
    };
    let find = |key: &str| m.value(key)?.number;
    let ms = |key| find(key).map_or("—".to_owned(), |us| format!("{:.2} ms", us / 1000.0));
    let count = |key| find(key).map_or("—".to_owned(), |n| format!("{n:.0}"));
    let mut note = format!(
        "Pushpin, the same series on its sockets of one channel: publish→deliver p50 {}, p99 {}, \
         worst publish {}; {} deliveries, {} lost, {} duplicated",
        ms("broadcast.p50"),
        ms("broadcast.p99"),
        ms("broadcast.last_max"),
        count("deliveries"),
        count("lost"),
        count("duplicated"),
    );
    for problem in &m.problems {
        note.push_str(&format!("; problem: {}", chain(problem)));
    }
    note
}

/// Reconnect storm: N subscribers of one topic drop their sockets at once; `missed` events are
/// published while they are away; all reconnect at once, resuming from their last id
/// (edgepush), and one more event follows once they are back. The time until 100 % resumed;
/// a subscriber without `recovered: true` and every event exactly once fails the scenario.
pub async fn reconnect_storm(t: &Arc<Target>, p: &Params) -> Result<Measured> {
    let (sockets, missed) = p.storm;
    // Pushpin keeps no history: its subscribers reconnect afresh, and what they missed is gone.
    let resumes = t.kind == Kind::Edgepush;
    let plans = (0..sockets)
        .map(|i| (STORM_USERS + i as u32, None))
        .collect();
    let subs = Subscribers::spawn(t, Path::TopicSocket, STORM_TOPIC, plans, 100, missed + 1, 0)
        .opened_all(Duration::from_secs(300))
        .await?;
    let mut m = Measured::default();
    scenarios::connect_failures(&mut m, subs.connect_failures());
    subs.warm_up(t, STORM_TOPIC).await?;
    let before = subs.finish(Stop::Cut).await;
    // Let the server see the sockets go before publishing to them.
    tokio::time::sleep(p.settle / 2).await;
    let mut published = PubLog::default();
    let mut expected = Vec::new();
    for seq in 0..missed {
        match t.publish_topic(STORM_TOPIC, seq).await {
            Ok(_) => expected.push(seq),
            Err(e) => published.failed(e),
        }
    }
    let replayable = if resumes { expected.len() as u32 } else { 0 };
    let plans: Vec<(u32, Option<Resume>)> = before
        .iter()
        .map(|log| (log.user, resumes.then(|| log.resume.clone())))
        .collect();
    let everyone = plans.len();
    let subs = Subscribers::spawn(
        t,
        Path::TopicSocket,
        STORM_TOPIC,
        plans,
        everyone,
        missed + 1,
        replayable,
    )
    .opened_all(Duration::from_secs(300))
    .await?;
    let gone = subs.sockets - subs.opened();
    if resumes {
        subs.resumed_all(Duration::from_secs(60)).await;
    }
    // One live event once everyone is back (Pushpin: once subscribed again): no gap and no
    // repeat between the replay and the live stream.
    subs.warm_up(t, STORM_TOPIC).await?;
    let live = missed;
    match t.publish_topic(STORM_TOPIC, live).await {
        Ok(_) => expected.push(live),
        Err(e) => published.failed(e),
    }
    subs.delivered_everywhere(live, Duration::from_secs(10))
        .await;
    let logs = subs.finish(Stop::Close).await;
    let owed: Vec<u32> = match resumes {
        true => expected.clone(),
        false => expected.iter().copied().filter(|&s| s == live).collect(),
    };
    let o = account(&logs, &owed);
    let mut resumed = load::histogram();
    for log in &logs {
        if let Some(after) = log.resumed_after {
            let _ = resumed.record((after.as_micros() as u64).max(1));
        }
    }
    let reopened = logs
        .iter()
        .map(|l| l.opened_after)
        .max()
        .unwrap_or_default();
    let every_one_resumed = resumed.len() as usize == before.len() && resumes;
    m.add(
        "storm.reopen",
        &format!(
            "time until all {} are connected again (all at once)",
            before.len()
        ),
        Unit::Ms,
        true,
        reopened.as_micros() as f64,
    );
    let resumed_label = "time until 100 % resumed (every missed event, once)";
    match (resumes, every_one_resumed) {
        (true, true) => m.add(
            "storm.resumed",
            resumed_label,
            Unit::Ms,
            true,
            resumed.max() as f64,
        ),
        (true, false) => m.values.push(scenarios::text(
            "storm.resumed",
            resumed_label,
            format!("not reached ({} of {})", resumed.len(), before.len()),
        )),
        (false, _) => m.values.push(scenarios::text(
            "storm.resumed",
            resumed_label,
            "never: no history to resume from".to_owned(),
        )),
    }
    let replayed: usize = logs
        .iter()
        .map(|l| l.events.iter().filter(|e| e.0 < missed).count())
        .sum();
    m.add(
        "storm.replayed",
        &format!(
            "events published while away that reached a subscriber ({} × {})",
            before.len(),
            missed
        ),
        Unit::Count,
        false,
        replayed as f64,
    );
    m.add(
        "storm.retries",
        "reconnects retried",
        Unit::Count,
        true,
        f64::from(logs.iter().map(|l| l.retries).sum::<u32>()),
    );
    scenarios::delivery_values(&mut m, &o, published);
    m.counted = Some((expected.len() as u64, o.delivered));
    // edgepush's own rows last: the report lines up unkeyed rows by position.
    if resumes {
        for (key, name, q) in [
            ("storm.resumed_p50", "p50", 0.5),
            ("storm.resumed_p99", "p99", 0.99),
        ] {
            m.add(
                key,
                &format!("a subscriber resumed, {name} (from the storm's start)"),
                Unit::Ms,
                true,
                resumed.value_at_quantile(q) as f64,
            );
        }
        m.problems.extend(unresumed(&logs, &expected, gone));
    } else {
        m.notes.push(format!(
            "Pushpin keeps no history: the {} events published while the subscribers were away \
             are lost to them; only the live event after the storm is counted",
            missed
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn log(seqs: &[u32], recovered: Option<bool>) -> TopicLog {
        TopicLog {
            user: 1,
            recovered,
            resume: Resume {
                since: 0,
                epoch: String::new(),
            },
            events: seqs.iter().map(|&s| (s, 1000 * u64::from(s + 1))).collect(),
            opened_after: Duration::ZERO,
            resumed_after: None,
            retries: 0,
            dropped: false,
        }
    }

    #[test]
    fn relays_are_told_as_how_many_rounds_had_each_count() {
        assert_eq!(rounds_with(&[4; 20]), "4 (20 rounds)");
        assert_eq!(rounds_with(&[2, 1, 1]), "1 (2 rounds), 2 (1 round)");
        assert_eq!(rounds_with(&[]), "");
    }

    #[test]
    fn the_pushpin_note_quotes_the_series_figures_or_why_it_failed() {
        let mut m = Measured::default();
        m.add("broadcast.last_max", "worst", Unit::Ms, true, 9_000.0);
        m.add("broadcast.p50", "p50", Unit::Ms, true, 4_500.0);
        m.add("broadcast.p99", "p99", Unit::Ms, true, 8_250.0);
        for (key, n) in [("deliveries", 400.0), ("lost", 0.0), ("duplicated", 0.0)] {
            m.add(key, key, Unit::Count, true, n);
        }
        assert_eq!(
            pushpin_note(&Ok(m)),
            "Pushpin, the same series on its sockets of one channel: publish→deliver p50 4.50 \
             ms, p99 8.25 ms, worst publish 9.00 ms; 400 deliveries, 0 lost, 0 duplicated"
        );
        assert_eq!(
            pushpin_note(&Err(Error::Timeout("subscribed frame"))),
            "Pushpin, the same series, did not complete: no subscribed frame within 30 s"
        );
    }

    #[test]
    fn retries_wait_as_the_sdk_does_under_a_cap_that_doubles_from_half_a_second_to_20_s() {
        let caps = [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000];
        for (n, cap) in (1..=8).zip(caps) {
            let waits: Vec<u128> = (0..200).map(|u| backoff(u, n).as_millis()).collect();
            assert!(waits.iter().all(|&w| w < cap), "retry {n}");
            // Spread over the window, not bunched at one end.
            assert!(waits.iter().any(|&w| w < cap / 4) && waits.iter().any(|&w| w > cap * 3 / 4));
        }
        assert_eq!(backoff(7, 3), backoff(7, 3));
    }

    #[test]
    fn each_subscriber_owes_every_expected_event_once() {
        let logs = [
            log(&[0, 1, 2], Some(true)),
            log(&[0, 2, 2], Some(true)),
            log(&[], Some(true)),
        ];
        let o = account(&logs, &[0, 1, 2]);
        assert_eq!(
            (o.delivered, o.expected, o.lost, o.duplicated),
            (6, 9, 4, 1)
        );
        assert_eq!(o.latency.len(), 6);
    }

    #[test]
    fn a_storm_passes_only_when_every_subscriber_recovered_everything_exactly_once() {
        let expected = [0, 1, 2];
        let clean = [log(&[0, 1, 2], Some(true)), log(&[0, 1, 2], Some(true))];
        assert!(unresumed(&clean, &expected, 0).is_none());
        let messy = [
            log(&[0, 1, 2], Some(true)),
            log(&[0, 1, 1, 2], Some(true)),
            log(&[0, 1, 2], Some(false)),
            log(&[0, 2], None),
        ];
        let Some(e) = unresumed(&messy, &expected, 1) else {
            panic!("a messy storm passed")
        };
        assert_eq!(
            e.to_string(),
            "4 of 5 subscribers did not resume exactly: 2 without `recovered: true`, 4 events \
             never arrived, 1 arrived more than once"
        );
        assert!(matches!(e, Error::Unresumed { .. }));
    }
}
