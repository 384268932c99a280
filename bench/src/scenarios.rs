//! The workloads of the scenarios, each run against one target; `--smoke` shrinks every count and
//! duration so the whole run takes seconds. Every loop is bounded in count and time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::error::{Error, Result, chain};
use crate::load::{self, PubLog};
use crate::servers;
use crate::target::{Ev, Target};
use edgepush_protocol::publish::MAX_BATCH_EVENTS;

/// Sizes of every scenario.
#[derive(Clone, Debug)]
pub struct Params {
    /// Tiny smoke version.
    pub smoke: bool,
    /// `latency`: sockets, publishes per second, seconds.
    pub latency: (usize, f64, u32),
    /// `fanout`: sockets, rounds.
    pub fanout: (usize, u32),
    /// `many-users`: sockets, users, publishes per second, seconds.
    pub many: (usize, u32, f64, u32),
    /// `many-users-workerd` (edgepush on plain workerd): sockets; otherwise as `many-users`.
    pub many_workerd: usize,
    /// `ingest`: sockets, rates to try, seconds per step, seconds to sustain.
    pub ingest: (usize, Vec<f64>, u32, u32),
    /// `ingest-batched-workerd`: events per request, rates (events per second) to try; otherwise
    /// as `ingest`.
    pub ingest_batched: (u32, Vec<f64>),
    /// `batch`: users in the batch, sockets per user, rounds.
    pub batch: (u32, u32, u32),
    /// `memory`: sockets, users.
    pub memory: (usize, u32),
    /// `broadcast-workerd`: subscribers of the one topic, publishes (rounds).
    pub broadcast: (usize, u32),
    /// `reconnect-storm-workerd`: subscribers, events published while they are away.
    pub storm: (usize, u32),
    /// `mercure-latency-workerd`: publishes to the one subscriber of each path, the pause after
    /// each arrived.
    pub mercure_latency: (u32, Duration),
    /// `mercure-fanout-workerd`: subscribers of the one topic of each path, publishes.
    pub mercure_fanout: (usize, u32),
    /// `wakeup-workerd`: users (one socket each), how long they stay idle before each cold phase.
    pub wakeup: (u32, Duration),
    /// `hostile`: seconds of the window, bound of the socket pile, bound of the connect loop.
    pub hostile: (u32, usize, u64),
    /// How long to let a server settle before reading its memory.
    pub settle: Duration,
}

impl Params {
    /// The full benchmark, with `many_sockets` sockets in `many-users` (`many_workerd` on workerd)
    /// and `subscribers` topic sockets in the broadcast and the reconnect storm.
    pub fn full(many_sockets: usize, many_workerd: usize, subscribers: usize) -> Self {
        Self {
            smoke: false,
            latency: (100, 100.0, 30),
            fanout: (1000, 20),
            many: (many_sockets, 1000, 200.0, 30),
            many_workerd,
            ingest: (
                10,
                vec![
                    50.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 1250.0, 1500.0, 2000.0, 3000.0,
                    4000.0,
                ],
                3,
                30,
            ),
            ingest_batched: (
                10,
                vec![1000.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0, 12000.0],
            ),
            batch: (100, 1, 20),
            memory: (1000, 100),
            broadcast: (subscribers, 20),
            storm: (subscribers, 5),
            mercure_latency: (400, Duration::from_millis(25)),
            mercure_fanout: (1000, 20),
            // 50 s, not 60: the limits count in fixed one-minute windows that begin with the
            // first connect, and a second window must not begin inside the measured one.
            hostile: (50, 300, 30_000),
            // workerd evicts a Durable Object idle for about 10 s.
            wakeup: (200, Duration::from_secs(20)),
            settle: Duration::from_secs(2),
        }
    }

    /// The smoke run.
    pub fn smoke() -> Self {
        Self {
            smoke: true,
            latency: (10, 20.0, 2),
            fanout: (20, 3),
            many: (100, 20, 20.0, 2),
            many_workerd: 100,
            ingest: (2, vec![50.0, 100.0], 1, 2),
            ingest_batched: (5, vec![100.0, 200.0]),
            batch: (10, 1, 3),
            memory: (50, 5),
            broadcast: (50, 3),
            storm: (50, 3),
            mercure_latency: (10, Duration::from_millis(25)),
            mercure_fanout: (20, 3),
            hostile: (3, 50, 2_000),
            wakeup: (10, Duration::from_millis(500)),
            settle: Duration::from_millis(300),
        }
    }
}

/// How a number is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds (from µs).
    Ms,
    /// A count.
    Count,
    /// Per second.
    PerSec,
    /// Per minute.
    PerMin,
    /// MiB (from KiB).
    MiB,
    /// KiB.
    KiB,
    /// Bytes.
    Bytes,
    /// Seconds.
    Secs,
}

/// One measured value of one target.
#[derive(Clone, Debug)]
pub struct Value {
    /// Stable key (goals look values up by it).
    pub key: &'static str,
    /// Row label.
    pub label: String,
    /// Unit.
    pub unit: Unit,
    /// Whether lower is better (for the ratio's reading).
    pub lower_better: bool,
    /// The number, in the unit's base (µs for Ms, KiB for MiB, …), or text.
    pub number: Option<f64>,
    /// Text instead of a number.
    pub text: Option<String>,
}

pub(crate) fn text(key: &'static str, label: &str, t: String) -> Value {
    Value {
        key,
        label: label.to_owned(),
        unit: Unit::Count,
        lower_better: true,
        number: None,
        text: Some(t),
    }
}

/// What one scenario measured on one target.
#[derive(Default)]
pub struct Measured {
    /// Values in row order.
    pub values: Vec<Value>,
    /// Reasons a smoke run must fail (nothing delivered, events lost, errors).
    pub problems: Vec<Error>,
    /// Remarks for the report.
    pub notes: Vec<String>,
    /// Latency distribution for the chart.
    pub curve: Option<Histogram<u64>>,
    /// Events published (accepted) and frames delivered, for the CPU per publish and per frame
    /// the runner adds.
    pub counted: Option<(u64, u64)>,
}

impl Measured {
    /// The row of `key`.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.values.iter().find(|v| v.key == key)
    }

    /// Adds a row with a number.
    pub(crate) fn add(
        &mut self,
        key: &'static str,
        label: &str,
        unit: Unit,
        lower_better: bool,
        n: f64,
    ) {
        self.values.push(Value {
            key,
            label: label.to_owned(),
            unit,
            lower_better,
            number: Some(n),
            text: None,
        });
    }
}

/// p50, p95, p99 and max of `h` under the four keys.
fn latency_values(m: &mut Measured, h: &Histogram<u64>, keys: [&'static str; 4]) {
    let q = |q| h.value_at_quantile(q);
    let rows = [
        ("p50", q(0.5)),
        ("p95", q(0.95)),
        ("p99", q(0.99)),
        ("max", h.max()),
    ];
    for (key, (name, us)) in keys.into_iter().zip(rows) {
        let label = format!("publish→deliver {name}");
        m.add(key, &label, Unit::Ms, true, us as f64);
    }
}

/// Deliveries, lost, duplicated and publish errors; each loss, drop or error is a problem.
pub(crate) fn delivery_values(m: &mut Measured, o: &load::Outcome, p: PubLog) {
    let accepted = p.events.iter().filter(|(_, _, ok)| *ok).count() as u64;
    m.counted = Some((accepted, o.delivered));
    for (key, label, lower_better, n) in [
        ("deliveries", "deliveries", false, o.delivered),
        ("lost", "lost", true, o.lost),
        ("duplicated", "duplicated", true, o.duplicated),
        ("publish_errors", "publish errors", true, p.errors),
    ] {
        m.add(key, label, Unit::Count, lower_better, n as f64);
    }
    if o.delivered == 0 {
        m.problems.push(Error::NothingDelivered);
    }
    if o.lost > 0 {
        m.problems.push(Error::Lost {
            lost: o.lost,
            expected: o.expected,
        });
    }
    if o.dropped > 0 {
        m.problems.push(Error::Dropped(o.dropped));
    }
    if let Some(first) = p.first_error {
        m.problems.push(Error::PublishErrors {
            count: p.errors,
            source: Box::new(first),
        });
    }
}

/// Per round (`round_of` maps an event's seq to its round), the time until the last socket (the
/// last `who`) had its event: the median and the worst round, under the two given keys.
pub(crate) fn last_socket_values(
    m: &mut Measured,
    [median_key, worst_key]: [&'static str; 2],
    who: &str,
    logs: &[load::SocketLog],
    round_of: impl Fn(u32) -> u32,
) {
    let mut last: HashMap<u32, u64> = HashMap::new();
    for log in logs {
        for &(seq, micros) in &log.events {
            let entry = last.entry(round_of(seq)).or_insert(0);
            *entry = (*entry).max(micros);
        }
    }
    let mut rounds = load::histogram();
    for micros in last.values() {
        let _ = rounds.record((*micros).max(1));
    }
    m.add(
        median_key,
        &format!("last {who} has it, median round"),
        Unit::Ms,
        true,
        rounds.value_at_quantile(0.5) as f64,
    );
    m.add(
        worst_key,
        &format!("last {who} has it, worst round"),
        Unit::Ms,
        true,
        rounds.max() as f64,
    );
}

/// Records sockets that failed to open (at most 1 %, or the scenario would have failed).
pub(crate) fn connect_failures(m: &mut Measured, failed: Option<(usize, Error)>) {
    if let Some((count, first)) = failed {
        m.problems.push(Error::SomeSocketsFailed {
            count,
            source: Box::new(first),
        });
    }
}

/// A deterministic pseudo-random sequence (xorshift64*), so that runs are comparable.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) % u64::from(n)) as u32
    }
}

/// Latency: sockets of one user, a steady publish rate.
pub async fn latency(t: &Arc<Target>, p: &Params) -> Result<Measured> {
    let (sockets, rate, secs) = p.latency;
    let user = 1;
    let count = (rate * f64::from(secs)) as u32;
    let (conns, _, failed) = load::connect_all(t, &vec![user; sockets], 64).await?;
    let readers = load::spawn_readers(conns, count as usize);
    readers.warm_up(t).await?;
    let published = load::publish_at_rate(t, rate, count, 0, 256, 1, |_| user).await;
    readers
        .drain(
            published.expected(&readers.per_user),
            Duration::from_secs(10),
        )
        .await;
    let logs = readers.finish().await;
    let o = load::account(&logs, &published);
    let mut m = Measured::default();
    connect_failures(&mut m, failed);
    latency_values(
        &mut m,
        &o.latency,
        ["latency.p50", "latency.p95", "latency.p99", "latency.max"],
    );
    delivery_values(&mut m, &o, published);
    m.curve = Some(o.latency);
    Ok(m)
}

/// Fan-out: one publish to many sockets of one user; time until the last socket has it.
pub async fn fanout(t: &Arc<Target>, p: &Params) -> Result<Measured> {
    let (sockets, rounds) = p.fanout;
    let keys = [
        "fanout.last_p50",
        "fanout.last_max",
        "fanout.p50",
        "fanout.p99",
    ];
    rounds_of_events(t, (1, sockets as u32, rounds), 2, keys).await
}

/// Many users: `sockets` spread over users, publishes to random users; also the server's memory
/// per 1,000 connections at that scale.
pub async fn many_users(t: &Arc<Target>, p: &Params, sockets: usize) -> Result<Measured> {
    let (_, users, rate, secs) = p.many;
    let base = 1000;
    let count = (rate * f64::from(secs)) as u32;
    let ids: Vec<u32> = (0..sockets).map(|i| base + (i as u32 % users)).collect();
    tokio::time::sleep(p.settle).await;
    let before = servers::rss_kib(&t.pgids);
    let (conns, took, failed) = load::connect_all(t, &ids, 100).await?;
    let readers = load::spawn_readers(conns, count as usize);
    readers.warm_up(t).await?;
    tokio::time::sleep(p.settle).await;
    let after = servers::rss_kib(&t.pgids);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let published =
        load::publish_at_rate(t, rate, count, 0, 256, 1, |_| base + rng.below(users)).await;
    readers
        .drain(
            published.expected(&readers.per_user),
            Duration::from_secs(15),
        )
        .await;
    let elapsed = published.elapsed.as_secs_f64();
    let logs = readers.finish().await;
    let o = load::account(&logs, &published);
    let mut m = Measured::default();
    connect_failures(&mut m, failed);
    latency_values(
        &mut m,
        &o.latency,
        ["many.p50", "many.p95", "many.p99", "many.max"],
    );
    m.add(
        "many.deliveries_per_sec",
        "deliveries/s",
        Unit::PerSec,
        false,
        o.delivered as f64 / elapsed.max(0.001),
    );
    delivery_values(&mut m, &o, published);
    let grown = after.saturating_sub(before) as f64;
    for (key, label, unit, n) in [
        (
            "many.connect_secs",
            format!("time to open {sockets} sockets (100 at a time)"),
            Unit::Secs,
            took.as_secs_f64(),
        ),
        (
            "many.kib_per_1000",
            format!("server memory per 1,000 connections (at {sockets})"),
            Unit::MiB,
            grown * 1000.0 / sockets as f64,
        ),
        (
            "many.kib_per_conn",
            "server memory per connection".into(),
            Unit::KiB,
            grown / sockets as f64,
        ),
    ] {
        m.add(key, &label, unit, true, n);
    }
    m.curve = Some(o.latency);
    Ok(m)
}

/// Ingest: the highest publish rate into one user's room that runs with no error, no
/// loss and no backlog, stepping up through `rates`; then that rate sustained for the full
/// duration.
pub async fn ingest(t: &Arc<Target>, p: &Params, batched: bool) -> Result<Measured> {
    let (sockets, rates, step_secs, sustain_secs) = &p.ingest;
    let (per_request, rates) = if batched {
        (p.ingest_batched.0, &p.ingest_batched.1)
    } else {
        (1, rates)
    };
    let user = 3;
    let total: f64 = rates.iter().map(|r| r * f64::from(*step_secs)).sum::<f64>()
        + 2.0 * rates.iter().copied().fold(0.0, f64::max) * f64::from(*sustain_secs);
    let (conns, _, failed) = load::connect_all(t, &vec![user; *sockets], 64).await?;
    let readers = load::spawn_readers(conns, total as usize + 1);
    readers.warm_up(t).await?;
    let mut next_seq = 0u32;
    let mut expected_so_far = 0u64;
    let mut m = Measured::default();
    connect_failures(&mut m, failed);
    // Runs one step; returns its publish log and whether it passed.
    let mut step = async |rate: f64, secs: u32, next_seq: &mut u32| -> (PubLog, bool, String) {
        let count = (rate * f64::from(secs)) as u32;
        let first = *next_seq;
        *next_seq += count;
        let log = load::publish_at_rate(t, rate, count, first, 256, per_request, |_| user).await;
        expected_so_far += log.expected(&readers.per_user);
        let drained = readers.drain(expected_so_far, Duration::from_secs(5)).await;
        // Events sent per second over the schedule (the last request is due at
        // (count - per_request) / rate).
        let achieved =
            f64::from(count.saturating_sub(per_request)) / log.sending.as_secs_f64().max(0.001);
        let why = if log.errors > 0 {
            let first = log.first_error.as_ref().map(|e| chain(e));
            format!("{} errors ({})", log.errors, first.unwrap_or_default())
        } else if !drained {
            "deliveries missing 5 s after the last publish".to_owned()
        } else if log.behind {
            "publisher fell behind (256 requests in flight)".to_owned()
        } else if achieved < 0.9 * rate {
            format!("achieved only {achieved:.0}/s")
        } else {
            String::new()
        };
        // A failed step's stragglers must not count against the next one.
        if !drained {
            expected_so_far = readers
                .tally
                .delivered
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        (log, why.is_empty(), why)
    };
    let mut best = None;
    for &rate in rates {
        let (_, passed, why) = step(rate, *step_secs, &mut next_seq).await;
        if passed {
            best = Some(rate);
        } else {
            m.notes
                .push(format!("{rate:.0}/s for {step_secs} s failed: {why}"));
            break;
        }
    }
    let mut sustained = None;
    let mut sustained_log = None;
    let mut cpu_per_event_us = None;
    if let Some(best) = best {
        for rate in [best, best / 2.0] {
            let cpu_before = servers::cpu_ms(&t.pgids);
            let (log, passed, why) = step(rate, *sustain_secs, &mut next_seq).await;
            let cpu_used_ms = servers::cpu_ms(&t.pgids).saturating_sub(cpu_before);
            if passed {
                sustained = Some(rate);
                sustained_log = Some(log);
                let events = rate * f64::from(*sustain_secs);
                cpu_per_event_us = Some(cpu_used_ms as f64 * 1000.0 / events);
                break;
            }
            m.notes
                .push(format!("{rate:.0}/s for {sustain_secs} s failed: {why}"));
        }
    }
    let logs = readers.finish().await;
    // The batched variant has keys of its own: its rates count events, not requests, so the
    // goals (publishes/s, p99 beside Pushpin's) are not read from it.
    let key = |single: &'static str, batched_key: &'static str| {
        if batched { batched_key } else { single }
    };
    let what = if batched {
        format!("events/s ({per_request} per request)")
    } else {
        "publishes/s".to_owned()
    };
    m.add(
        key("ingest.step", "ingest_batched.step"),
        &format!(
            "highest rate passing a {step_secs} s step (tried up to {:.0}/s)",
            rates.last().copied().unwrap_or(0.0)
        ),
        Unit::PerSec,
        false,
        best.unwrap_or(0.0),
    );
    m.add(
        key("ingest.sustained", "ingest_batched.sustained"),
        &format!("{what} sustained {sustain_secs} s, no errors or loss"),
        Unit::PerSec,
        false,
        sustained.unwrap_or(0.0),
    );
    if let Some(us) = cpu_per_event_us {
        m.add(
            key("ingest.cpu", "ingest_batched.cpu"),
            "server CPU time per event at that rate (every server process)",
            Unit::Ms,
            true,
            us,
        );
    }
    match sustained_log {
        Some(log) => {
            let o = load::account(&logs, &log);
            m.add(
                key("ingest.p99", "ingest_batched.p99"),
                "publish→deliver p99 at that rate",
                Unit::Ms,
                true,
                o.latency.value_at_quantile(0.99) as f64,
            );
            if o.delivered == 0 {
                m.problems.push(Error::NothingDelivered);
            } else if o.lost > 0 {
                m.problems.push(Error::Lost {
                    lost: o.lost,
                    expected: o.expected,
                });
            }
        }
        None => m.problems.push(Error::NoSustainedRate),
    }
    Ok(m)
}

/// Batch: one publish request carrying one event for each of many users; time until
/// the last socket has its event.
pub async fn batch(t: &Arc<Target>, p: &Params) -> Result<Measured> {
    let keys = ["batch.last_p50", "batch.last_max", "batch.p50", "batch.p99"];
    rounds_of_events(t, p.batch, 2000, keys).await
}

/// `rounds` publish requests, one after the other, each with one event for each of `users`
/// users (ids from `base`) who have `per_user` sockets each: the time until the last socket has
/// a round's events (median and worst round), and publish→deliver p50 and p99 of every socket,
/// under `keys` in that order.
async fn rounds_of_events(
    t: &Arc<Target>,
    (users, per_user, rounds): (u32, u32, u32),
    base: u32,
    keys: [&'static str; 4],
) -> Result<Measured> {
    let ids: Vec<u32> = (0..users * per_user).map(|i| base + i % users).collect();
    let (conns, _, failed) = load::connect_all(t, &ids, 64).await?;
    let readers = load::spawn_readers(conns, (users * rounds) as usize);
    readers.warm_up(t).await?;
    let mut published = PubLog::default();
    let mut expected = 0u64;
    for round in 0..rounds {
        let events: Vec<Ev> = (0..users)
            .map(|i| Ev {
                user: base + i,
                seq: round * users + i,
            })
            .collect();
        if published
            .record(&events, t.publish(&events).await)
            .is_some()
        {
            expected += u64::from(users * per_user);
        }
        readers.drain(expected, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = readers.finish().await;
    let o = load::account(&logs, &published);
    let mut m = Measured::default();
    connect_failures(&mut m, failed);
    let [median, worst, p50, p99] = keys;
    last_socket_values(&mut m, [median, worst], "socket", &logs, |seq| seq / users);
    for (key, label, q) in [
        (p50, "publish→deliver p50 (every socket)", 0.5),
        (p99, "publish→deliver p99 (every socket)", 0.99),
    ] {
        m.add(
            key,
            label,
            Unit::Ms,
            true,
            o.latency.value_at_quantile(q) as f64,
        );
    }
    delivery_values(&mut m, &o, published);
    Ok(m)
}

/// Wake-up: rooms idle past eviction. After an idle wait, each user in turn gets one publish (its
/// room cold) and, once delivered, a second (warm): publish→deliver and the servers' CPU per
/// publish of each kind. After another idle wait, every user at once (one batch request per
/// [`MAX_BATCH_EVENTS`] users, all in flight together), then again at once while warm: the time
/// until the last socket has its event.
pub async fn wakeup(t: &Arc<Target>, p: &Params) -> Result<Measured> {
    let (users, idle) = p.wakeup;
    let base = 70_000;
    let ids: Vec<u32> = (0..users).map(|i| base + i).collect();
    let (conns, _, failed) = load::connect_all(t, &ids, 64).await?;
    let readers = load::spawn_readers(conns, (4 * users) as usize);
    readers.warm_up(t).await?;
    let mut published = PubLog::default();
    // seqs: [0, users) cold one at a time, [users, 2 users) warm one at a time, then the two
    // bursts.
    let mut cpu = [0u64; 2];
    tokio::time::sleep(idle).await;
    for i in 0..users {
        for (kind, seq) in [(0, i), (1, users + i)] {
            let before = servers::cpu_ms(&t.pgids);
            publish_and_wait(
                t,
                &readers,
                &mut published,
                &[Ev {
                    user: base + i,
                    seq,
                }],
            )
            .await;
            cpu[kind] += servers::cpu_ms(&t.pgids).saturating_sub(before);
        }
    }
    tokio::time::sleep(idle).await;
    for burst in [2, 3] {
        let events: Vec<Ev> = (0..users)
            .map(|i| Ev {
                user: base + i,
                seq: burst * users + i,
            })
            .collect();
        let results =
            futures_util::future::join_all(events.chunks(MAX_BATCH_EVENTS).map(|c| t.publish(c)))
                .await;
        for (chunk, result) in events.chunks(MAX_BATCH_EVENTS).zip(results) {
            published.record(chunk, result);
        }
        readers
            .drain(u64::from((burst + 1) * users), Duration::from_secs(15))
            .await;
    }
    let logs = readers.finish().await;
    let o = load::account(&logs, &published);
    let mut m = Measured::default();
    connect_failures(&mut m, failed);
    let phase = |n: u32| {
        let mut h = load::histogram();
        for log in &logs {
            for &(seq, micros) in &log.events {
                if seq / users == n {
                    let _ = h.record(micros.max(1));
                }
            }
        }
        h
    };
    let (cold, warm) = (phase(0), phase(1));
    for (key, label, h, q) in [
        (
            "wakeup.cold_p50",
            "one at a time, cold room: p50",
            &cold,
            0.5,
        ),
        (
            "wakeup.cold_p99",
            "one at a time, cold room: p99",
            &cold,
            0.99,
        ),
        (
            "wakeup.warm_p50",
            "one at a time, warm room: p50",
            &warm,
            0.5,
        ),
        (
            "wakeup.warm_p99",
            "one at a time, warm room: p99",
            &warm,
            0.99,
        ),
    ] {
        m.add(key, label, Unit::Ms, true, h.value_at_quantile(q) as f64);
    }
    for (key, label, h) in [
        (
            "wakeup.burst_cold",
            "all at once, cold rooms: last socket has it",
            phase(2),
        ),
        (
            "wakeup.burst_warm",
            "all at once, warm rooms: last socket has it",
            phase(3),
        ),
    ] {
        m.add(key, label, Unit::Ms, true, h.max() as f64);
    }
    for (key, label, used) in [
        (
            "wakeup.cpu_cold",
            "server CPU per publish, cold room",
            cpu[0],
        ),
        (
            "wakeup.cpu_warm",
            "server CPU per publish, warm room",
            cpu[1],
        ),
    ] {
        // ms of CPU, shown in the report's ms (from µs).
        m.add(
            key,
            label,
            Unit::Ms,
            true,
            used as f64 * 1000.0 / f64::from(users),
        );
    }
    delivery_values(&mut m, &o, published);
    Ok(m)
}

/// Publishes `events` and waits (up to 10 s) until each has reached its user's socket.
async fn publish_and_wait(
    t: &Target,
    readers: &load::Readers,
    published: &mut PubLog,
    events: &[Ev],
) {
    let ok = published.record(events, t.publish(events).await).is_some();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ok && events.iter().any(|e| readers.tally.count(e.seq) == 0) && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// Memory: the servers' resident memory before, with the sockets open, and after
/// they close.
///
/// With `offer_deflate`, the sockets are opened with a hand-written handshake that offers
/// permessage-deflate, as browsers do, and are never read: what a server pays per socket for
/// compression it agrees to.
pub async fn memory(
    t: &Arc<Target>,
    p: &Params,
    breakdown: &dyn Fn() -> Vec<(String, u64)>,
    offer_deflate: bool,
) -> Result<Measured> {
    let (sockets, users) = p.memory;
    let base = if offer_deflate { 6000 } else { 5000 };
    let ids: Vec<u32> = (0..sockets).map(|i| base + (i as u32 % users)).collect();
    tokio::time::sleep(p.settle).await;
    let idle = servers::rss_kib(&t.pgids);
    let parts_idle = breakdown();
    let mut m = Measured::default();
    let (open, parts_open) = if offer_deflate {
        let gate = Arc::new(tokio::sync::Semaphore::new(64));
        let tasks: Vec<_> = ids
            .iter()
            .map(|&user| {
                let (t, gate) = (t.clone(), gate.clone());
                tokio::spawn(async move {
                    // Never closed, so acquiring cannot fail.
                    let _permit = gate.acquire().await;
                    t.connect_raw(user, true).await
                })
            })
            .collect();
        let mut held = Vec::with_capacity(tasks.len());
        let mut compressed = 0;
        for task in tasks {
            let (stream, deflate) = task.await??;
            compressed += usize::from(deflate);
            held.push(stream);
        }
        m.notes.push(format!(
            "the server accepted permessage-deflate on {compressed} of {sockets} sockets"
        ));
        tokio::time::sleep(p.settle).await;
        let measured = (servers::rss_kib(&t.pgids), breakdown());
        drop(held);
        measured
    } else {
        let (conns, _, failed) = load::connect_all(t, &ids, 64).await?;
        connect_failures(&mut m, failed);
        let readers = load::spawn_readers(conns, 1);
        readers.warm_up(t).await?;
        tokio::time::sleep(p.settle).await;
        let measured = (servers::rss_kib(&t.pgids), breakdown());
        readers.finish().await;
        measured
    };
    tokio::time::sleep(p.settle + p.settle / 2).await;
    let closed = servers::rss_kib(&t.pgids);
    let grown = open.saturating_sub(idle) as f64;
    let per = |n: f64| grown * n / sockets as f64;
    let open_label = format!("server RSS, {sockets} sockets open");
    for (key, label, unit, n) in [
        ("memory.idle", "server RSS, idle", Unit::MiB, idle as f64),
        ("memory.open", &open_label, Unit::MiB, open as f64),
        (
            "memory.per_1000",
            "growth per 1,000 connections",
            Unit::MiB,
            per(1000.0),
        ),
        (
            "memory.per_conn",
            "growth per connection",
            Unit::KiB,
            per(1.0),
        ),
        (
            "memory.closed",
            "server RSS after all closed",
            Unit::MiB,
            closed as f64,
        ),
    ] {
        m.add(key, label, unit, true, n);
    }
    let parts: Vec<String> = parts_open
        .iter()
        .map(|(role, kib)| {
            let idle = parts_idle
                .iter()
                .find(|(r, _)| r == role)
                .map_or(0, |(_, k)| *k);
            format!(
                "{role} {:.0} → {:.0} MiB",
                idle as f64 / 1024.0,
                *kib as f64 / 1024.0
            )
        })
        .collect();
    m.notes.push(format!(
        "idle → {sockets} open, by process: {}",
        parts.join("; ")
    ));
    if grown <= 0.0 && !p.smoke {
        m.problems.push(Error::NoGrowth);
    }
    Ok(m)
}

/// A file's size, raw and `gzip -9 -n` (without the name in the header, as scripts/sdk-size.sh).
fn file_size(path: &std::path::Path) -> Option<(u64, u64)> {
    let raw = std::fs::metadata(path).ok()?.len();
    let gz = std::process::Command::new("gzip")
        .args(["-9", "-n", "-c"])
        .arg(path)
        .output()
        .ok()?
        .stdout
        .len() as u64;
    Some((raw, gz))
}

/// A bundle's wasm + JS size (`[key, label]`), gzip -9, with a note of both parts raw and
/// gzipped (`[what, its JS, why missing]`), or why it is missing.
fn add_bundle(
    m: &mut Measured,
    [key, label]: [&'static str; 2],
    [what, js_name, missing]: [&str; 3],
    sizes: Option<((u64, u64), (u64, u64))>,
) {
    let Some((w, j)) = sizes else {
        m.values.push(text(key, label, missing.to_owned()));
        return;
    };
    m.add(key, label, Unit::Bytes, true, (w.1 + j.1) as f64);
    m.notes.push(format!(
        "{what}: wasm {} B ({} B gzip), {js_name} {} B ({} B gzip)",
        w.0, w.1, j.0, j.1
    ));
}

/// Size: the browser SDK (wasm + JS glue, gzip -9) and the worker bundle; for
/// Pushpin, what a browser needs (nothing beyond `WebSocket`) and the installed size of its
/// packages.
pub fn size(repo: &std::path::Path) -> (Measured, Measured) {
    let mut edge = Measured::default();
    let pkg = repo.join("client-sdk/pkg");
    let sdk = file_size(&pkg.join("edgepush_client_bg.wasm"))
        .zip(file_size(&pkg.join("edgepush_client.js")));
    add_bundle(
        &mut edge,
        ["size.sdk_gz", "browser SDK, wasm + JS glue, gzip -9"],
        ["SDK", "JS glue", "not built (scripts/build-sdk.sh)"],
        sdk,
    );
    let build = repo.join("server/build");
    // The JS: worker-build's module and the entry module around it (server/entry.js).
    let js = file_size(&build.join("index.js"))
        .zip(file_size(&build.join("entry.js")))
        .map(|(index, entry)| (index.0 + entry.0, index.1 + entry.1));
    add_bundle(
        &mut edge,
        [
            "size.worker_gz",
            "server: worker bundle (wasm + JS), gzip -9",
        ],
        ["worker", "JS", "not built"],
        file_size(&build.join("index_bg.wasm")).zip(js),
    );
    let mut pushpin = Measured::default();
    pushpin.values.push(text(
        "size.sdk_gz",
        "",
        "none (plain WebSocket, no resume)".to_owned(),
    ));
    let installed: u64 = ["pushpin", "condure", "zurl"]
        .iter()
        .filter_map(|p| {
            let out = std::process::Command::new("dpkg-query")
                .args(["-W", "-f=${Installed-Size}", p])
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum();
    pushpin.values.push(text(
        "size.worker_gz",
        "",
        format!(
            "{:.1} MiB installed (pushpin + condure + zurl packages)",
            installed as f64 / 1024.0
        ),
    ));
    (edge, pushpin)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::load::{Outcome, SocketLog, histogram};

    fn numbers(m: &Measured) -> Vec<(&str, &str, f64)> {
        m.values
            .iter()
            .map(|v| (v.key, v.label.as_str(), v.number.unwrap()))
            .collect()
    }

    #[test]
    fn latency_rows_are_p50_p95_p99_and_max_in_that_order() {
        let mut h = histogram();
        for us in 1..=100 {
            h.record(us * 1000).unwrap();
        }
        let mut m = Measured::default();
        latency_values(&mut m, &h, ["a", "b", "c", "d"]);
        let rows = numbers(&m);
        let labels: Vec<&str> = rows.iter().map(|r| r.1).collect();
        assert_eq!(
            labels,
            [
                "publish→deliver p50",
                "publish→deliver p95",
                "publish→deliver p99",
                "publish→deliver max"
            ]
        );
        // 50,000 µs and so on, within the histogram's 3 significant digits.
        let values: Vec<f64> = rows.iter().map(|r| (r.2 / 1000.0).round()).collect();
        assert_eq!(values, [50.0, 95.0, 99.0, 100.0]);
        assert_eq!(rows[0].0, "a");
        assert_eq!(rows[3].0, "d");
    }

    fn outcome(delivered: u64, expected: u64, lost: u64, dropped: u64) -> Outcome {
        Outcome {
            delivered,
            expected,
            lost,
            duplicated: 2,
            dropped,
            ..Outcome::default()
        }
    }

    #[test]
    fn a_clean_run_has_delivery_rows_and_no_problem() {
        let mut m = Measured::default();
        delivery_values(&mut m, &outcome(10, 10, 0, 0), PubLog::default());
        let rows: Vec<(&str, f64)> = numbers(&m).iter().map(|r| (r.1, r.2)).collect();
        assert_eq!(
            rows,
            [
                ("deliveries", 10.0),
                ("lost", 0.0),
                ("duplicated", 2.0),
                ("publish errors", 0.0)
            ]
        );
        assert!(m.problems.is_empty());
    }

    #[test]
    fn losses_drops_and_publish_errors_are_each_a_problem() {
        let published = PubLog {
            errors: 4,
            first_error: Some(Error::Refused {
                status: 500,
                body: "x".into(),
            }),
            ..PubLog::default()
        };
        let mut m = Measured::default();
        delivery_values(&mut m, &outcome(7, 10, 3, 1), published);
        let problems: Vec<String> = m.problems.iter().map(|e| chain(e)).collect();
        assert_eq!(
            problems,
            [
                "3 of 10 deliveries lost",
                "1 sockets dropped during the run",
                "4 publishes failed, first: publish answered 500: x"
            ]
        );
        let mut m = Measured::default();
        delivery_values(&mut m, &outcome(0, 10, 10, 0), PubLog::default());
        assert!(matches!(m.problems[0], Error::NothingDelivered));
    }

    #[test]
    fn a_round_lasts_until_its_last_socket_has_it() {
        let log = |events: &[(u32, u64)]| SocketLog {
            user: 1,
            events: events.to_vec(),
            dropped: false,
        };
        // Two events per round: round 0 ends at 400 µs, round 1 at 900 µs, round 2 at 200 µs.
        let logs = [
            log(&[(0, 400), (2, 100), (4, 200)]),
            log(&[(1, 300), (3, 900), (5, 150)]),
        ];
        let mut m = Measured::default();
        last_socket_values(&mut m, ["median", "worst"], "socket", &logs, |seq| seq / 2);
        let rows: Vec<(&str, f64)> = numbers(&m).iter().map(|r| (r.0, r.2)).collect();
        assert_eq!(rows, [("median", 400.0), ("worst", 900.0)]);
    }

    #[test]
    fn the_random_users_are_the_same_every_run() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let picks: Vec<u32> = (0..5).map(|_| rng.below(1000)).collect();
        assert_eq!(picks, [74, 777, 546, 911, 893]);
    }
}
