//! The mechanics every scenario shares: open many sockets, read them in one task each (recording
//! each event's sequence number and publish→deliver latency), make sure every socket is subscribed
//! (warm-up), publish at a fixed open-loop rate, and count what was lost or duplicated.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{Error, Result};
use crate::target::{Ev, Target, Ws, now_us};

/// Sequence numbers from here on are warm-up events, not measured.
pub const WARM: u32 = 1 << 30;

/// Counts shared by the reader tasks and the scenario driving them.
pub struct Tally {
    /// Deliveries per sequence number (measured events only).
    pub counts: Vec<AtomicU32>,
    /// Measured deliveries so far.
    pub delivered: AtomicU64,
    /// Sockets that have seen at least one warm-up event.
    pub warmed: AtomicUsize,
    /// Sockets closed by the server or failed.
    pub dropped: AtomicUsize,
}

impl Tally {
    /// Counts for sequence numbers below `max_seq`.
    pub(crate) fn new(max_seq: usize) -> Self {
        Self {
            counts: (0..max_seq).map(|_| AtomicU32::new(0)).collect(),
            delivered: AtomicU64::new(0),
            warmed: AtomicUsize::new(0),
            dropped: AtomicUsize::new(0),
        }
    }

    /// Deliveries of `seq` so far.
    pub fn count(&self, seq: u32) -> u32 {
        self.counts
            .get(seq as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// An open socket and its user.
pub struct Conn {
    user: u32,
    ws: Ws,
}

/// Opens one socket per entry of `users`, at most `parallel` handshakes at once. Returns the
/// sockets, how long it took, and how many failed to open (with the first reason); fails if more
/// than 1 % did.
pub async fn connect_all(
    target: &Arc<Target>,
    users: &[u32],
    parallel: usize,
) -> Result<(Vec<Conn>, Duration, Option<(usize, Error)>)> {
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(users.len());
    for &user in users {
        let target = target.clone();
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            // Never closed, so acquiring cannot fail.
            let _permit = gate.acquire().await;
            target.connect(user).await.map(|ws| Conn { user, ws })
        }));
    }
    let mut conns = Vec::with_capacity(users.len());
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(conn)) => conns.push(conn),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(e.into());
            }
        }
    }
    let failed = users.len() - conns.len();
    match first_error {
        Some(e) if failed * 100 > users.len() || conns.is_empty() => Err(Error::Connect {
            failed,
            total: users.len(),
            source: Box::new(e),
        }),
        Some(e) => Ok((conns, started.elapsed(), Some((failed, e)))),
        None => Ok((conns, started.elapsed(), None)),
    }
}

/// What one socket saw.
pub struct SocketLog {
    /// Its user.
    pub user: u32,
    /// (sequence number, publish→deliver latency in µs) per measured event, in arrival order.
    pub events: Vec<(u32, u64)>,
    /// The server closed it or it failed before the scenario ended.
    pub dropped: bool,
}

#[derive(Deserialize)]
struct Frame {
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    seq: u32,
    t: u64,
}

/// The reader tasks of a set of sockets.
pub struct Readers {
    tasks: Vec<JoinHandle<SocketLog>>,
    stop: watch::Sender<bool>,
    /// Shared counts.
    pub tally: Arc<Tally>,
    /// Sockets per user.
    pub per_user: HashMap<u32, u32>,
    /// Number of sockets.
    pub sockets: usize,
}

/// Starts reading every socket; `max_seq` bounds the measured sequence numbers.
pub fn spawn_readers(conns: Vec<Conn>, max_seq: usize) -> Readers {
    let tally = Arc::new(Tally::new(max_seq));
    let (stop, stopped) = watch::channel(false);
    let mut per_user = HashMap::new();
    let sockets = conns.len();
    let tasks = conns
        .into_iter()
        .map(|conn| {
            *per_user.entry(conn.user).or_insert(0) += 1;
            let tally = tally.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                let Conn { user, mut ws } = conn;
                let mut log = SocketLog {
                    user,
                    events: Vec::new(),
                    dropped: false,
                };
                let mut warmed = false;
                loop {
                    tokio::select! {
                        _ = stopped.changed() => break,
                        next = ws.next() => match next {
                            Some(Ok(Message::Text(text))) => {
                                let received = now_us();
                                let Ok(Frame { payload: Some(p) }) = serde_json::from_str(&text)
                                else {
                                    continue;
                                };
                                if p.seq >= WARM {
                                    if !warmed {
                                        warmed = true;
                                        tally.warmed.fetch_add(1, Ordering::Relaxed);
                                    }
                                    continue;
                                }
                                log.events.push((p.seq, received.saturating_sub(p.t)));
                                if let Some(c) = tally.counts.get(p.seq as usize) {
                                    c.fetch_add(1, Ordering::Relaxed);
                                }
                                tally.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => {
                                log.dropped = true;
                                tally.dropped.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                }
                if !log.dropped {
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                }
                log
            })
        })
        .collect();
    Readers {
        tasks,
        stop,
        tally,
        per_user,
        sockets,
    }
}

impl Readers {
    /// Publishes warm-up events to every user (batched) until every socket has seen one: proof
    /// that each is subscribed before measuring (Pushpin subscribes asynchronously after the
    /// welcome). Up to 10 rounds, 2 s apart.
    pub async fn warm_up(&self, target: &Target) -> Result<()> {
        let mut users: Vec<u32> = self.per_user.keys().copied().collect();
        users.sort_unstable();
        let mut answer = String::new();
        for round in 0..10u32 {
            let events: Vec<Ev> = users
                .iter()
                .map(|&user| Ev {
                    user,
                    seq: WARM + round,
                })
                .collect();
            for chunk in events.chunks(target.max_batch()) {
                answer = target.publish(chunk).await?;
            }
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if self.tally.warmed.load(Ordering::Relaxed) >= self.sockets {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Err(Error::NotWarm {
            warmed: self.tally.warmed.load(Ordering::Relaxed),
            sockets: self.sockets,
            dropped: self.tally.dropped.load(Ordering::Relaxed),
            answer: answer.chars().take(300).collect(),
        })
    }

    /// Waits until `expected` measured deliveries arrived or `wait` passed; returns whether all did.
    pub async fn drain(&self, expected: u64, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            if self.tally.delivered.load(Ordering::Relaxed) >= expected {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops every reader, closes the sockets and returns what they saw.
    pub async fn finish(self) -> Vec<SocketLog> {
        let _ = self.stop.send(true);
        let mut logs = Vec::with_capacity(self.tasks.len());
        for task in self.tasks {
            if let Ok(log) = task.await {
                logs.push(log);
            }
        }
        logs
    }
}

/// What a publisher did.
#[derive(Default)]
pub struct PubLog {
    /// (sequence number, user, accepted) per event.
    pub events: Vec<(u32, u32, bool)>,
    /// Requests that failed (transport error or a refusal).
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<Error>,
    /// Whether the publisher fell behind its schedule (all request slots busy).
    pub behind: bool,
    /// From the first request sent to the last answer.
    pub elapsed: Duration,
    /// From the first request sent to the last one sent.
    pub sending: Duration,
}

impl PubLog {
    /// Notes one publish request of `events`: each accepted or not, and its failure; hands back
    /// the answer if there is one.
    pub fn record<T>(&mut self, events: &[Ev], result: Result<T>) -> Option<T> {
        let accepted = result.is_ok();
        self.events
            .extend(events.iter().map(|ev| (ev.seq, ev.user, accepted)));
        result.map_err(|e| self.failed(e)).ok()
    }

    /// Notes a failed publish request.
    pub fn failed(&mut self, error: Error) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// Deliveries the accepted events should make, given the sockets per user.
    pub fn expected(&self, per_user: &HashMap<u32, u32>) -> u64 {
        self.events
            .iter()
            .filter(|e| e.2)
            .map(|e| u64::from(per_user.get(&e.1).copied().unwrap_or(0)))
            .sum()
    }
}

/// Publishes `count` events at `rate` events per second, `per_request` of them in each request
/// (open loop: each request is sent at its scheduled time whether or not earlier ones were
/// answered, up to `in_flight` at once), each to the user `pick` returns for its index; sequence
/// numbers start at `first_seq`.
pub async fn publish_at_rate(
    target: &Arc<Target>,
    rate: f64,
    count: u32,
    first_seq: u32,
    in_flight: usize,
    per_request: u32,
    mut pick: impl FnMut(u32) -> u32,
) -> PubLog {
    let per_request = per_request.max(1);
    let gate = Arc::new(Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count.div_ceil(per_request) as usize);
    let mut behind = false;
    for first in (0..count).step_by(per_request as usize) {
        let due = started + Duration::from_secs_f64(f64::from(first) / rate);
        tokio::time::sleep_until(due.into()).await;
        let permit = match gate.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                behind = true;
                match gate.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => break,
                }
            }
        };
        let events: Vec<Ev> = (first..count.min(first + per_request))
            .map(|i| Ev {
                user: pick(i),
                seq: first_seq + i,
            })
            .collect();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let result = target.publish(&events).await;
            drop(permit);
            (events, result)
        }));
    }
    let mut log = PubLog {
        behind,
        sending: started.elapsed(),
        ..PubLog::default()
    };
    for task in tasks {
        match task.await {
            Ok((events, result)) => {
                log.record(&events, result);
            }
            Err(e) => log.failed(e.into()),
        }
    }
    log.elapsed = started.elapsed();
    log
}

/// Latencies and delivery accounting of one run.
pub struct Outcome {
    /// publish→deliver latency, µs.
    pub latency: Histogram<u64>,
    /// Measured deliveries.
    pub delivered: u64,
    /// Deliveries the accepted publishes should have made.
    pub expected: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Deliveries of an event a socket had already received.
    pub duplicated: u64,
    /// Sockets that dropped during the run.
    pub dropped: u64,
}

impl Default for Outcome {
    fn default() -> Self {
        Self {
            latency: histogram(),
            delivered: 0,
            expected: 0,
            lost: 0,
            duplicated: 0,
            dropped: 0,
        }
    }
}

/// A latency histogram (µs, 1 µs to 10 min, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

/// Compares what the sockets saw with what was published.
pub fn account(logs: &[SocketLog], published: &PubLog) -> Outcome {
    let mut by_user: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(seq, user, ok) in &published.events {
        if ok {
            by_user.entry(user).or_default().push(seq);
        }
    }
    let mut outcome = Outcome::default();
    for log in logs {
        outcome.dropped += u64::from(log.dropped);
        let mut seen: Vec<u32> = Vec::with_capacity(log.events.len());
        for &(seq, micros) in &log.events {
            let _ = outcome.latency.record(micros.max(1));
            seen.push(seq);
        }
        outcome.delivered += seen.len() as u64;
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        outcome.duplicated += (before - seen.len()) as u64;
        if let Some(expected) = by_user.get(&log.user) {
            outcome.expected += expected.len() as u64;
            outcome.lost += expected
                .iter()
                .filter(|s| seen.binary_search(s).is_err())
                .count() as u64;
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_publish_log_records_each_event_and_the_first_failure() {
        let mut log = PubLog::default();
        let ev = |seq| Ev { user: 7, seq };
        assert_eq!(log.record(&[ev(0), ev(1)], Ok(5)), Some(5));
        assert_eq!(log.record::<()>(&[ev(2)], Err(Error::Skipped)), None);
        log.failed(Error::NothingDelivered);
        assert_eq!(log.events, [(0, 7, true), (1, 7, true), (2, 7, false)]);
        assert_eq!(log.errors, 2);
        assert!(matches!(log.first_error, Some(Error::Skipped)));
    }

    fn socket(user: u32, seqs: &[u32], dropped: bool) -> SocketLog {
        SocketLog {
            user,
            events: seqs.iter().map(|&s| (s, 1000 * u64::from(s + 1))).collect(),
            dropped,
        }
    }

    /// User 1: seqs 0, 1, 2 accepted and 3 refused; user 2: seq 4 accepted.
    fn published() -> PubLog {
        PubLog {
            events: vec![
                (0, 1, true),
                (1, 1, true),
                (2, 1, true),
                (3, 1, false),
                (4, 2, true),
            ],
            ..PubLog::default()
        }
    }

    #[test]
    fn accounting_counts_each_missing_event_per_socket_and_each_repeat() {
        let logs = [
            socket(1, &[0, 1, 1, 2], false), // everything, 1 twice
            socket(1, &[0], true),           // 1 and 2 missing, then dropped
            socket(2, &[], false),           // 4 missing
        ];
        let o = account(&logs, &published());
        assert_eq!(o.delivered, 5);
        assert_eq!(o.expected, 7);
        assert_eq!(o.lost, 3);
        assert_eq!(o.duplicated, 1);
        assert_eq!(o.dropped, 1);
    }

    #[test]
    fn refused_publishes_are_neither_expected_nor_lost() {
        let o = account(&[socket(1, &[0, 1, 2], false)], &published());
        assert_eq!((o.expected, o.lost, o.delivered), (3, 0, 3));
    }

    #[test]
    fn an_event_of_another_user_is_delivered_but_does_not_fill_a_gap() {
        // A socket of user 2 that got user 1's event 0 instead of its own event 4.
        let o = account(&[socket(2, &[0], false)], &published());
        assert_eq!((o.delivered, o.expected, o.lost), (1, 1, 1));
    }

    #[test]
    fn every_delivery_goes_into_the_latency_histogram() {
        let o = account(&[socket(1, &[0, 1, 2], false)], &published());
        assert_eq!(o.latency.len(), 3);
        assert_eq!(o.latency.value_at_quantile(0.5), 2000);
        assert_eq!(o.latency.max(), 3001); // 3000 µs, within 3 significant digits
        let zero = SocketLog {
            user: 1,
            events: vec![(0, 0)],
            dropped: false,
        };
        // A latency of 0 µs (clocks at the same tick) counts as 1 µs, not as an error.
        assert_eq!(account(&[zero], &published()).latency.min(), 1);
    }

    #[test]
    fn expected_deliveries_are_accepted_events_times_the_users_sockets() {
        let per_user = HashMap::from([(1, 10), (2, 3)]);
        // 3 accepted events of user 1, 1 of user 2; the refused one counts for nothing.
        assert_eq!(published().expected(&per_user), 3 * 10 + 3);
        assert_eq!(published().expected(&HashMap::new()), 0);
    }
}
