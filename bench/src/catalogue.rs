//! The scenarios by name: one row each with its report title, its setup text, the runtime edgepush
//! runs under and the workload it runs. The names are those of `--only` and `bench/README.md`.

use std::sync::Arc;

use crate::error::Result;
use crate::hostile;
use crate::report::Layout;
use crate::scenarios::{self, Measured, Params};
use crate::servers::Runtime;
use crate::target::Target;
use crate::topics::{self, Path, Series};

/// The Mercure scenarios' topics, one per path (Mercure, topic sockets): Mercure topics that are
/// edgepush topics of `crowd` (public, 4 shards in `EDGEPUSH_TEST_TOPIC_NAMESPACES`), so that the
/// hub's subscribers spread over the shards as topic sockets do.
const MERCURE_LATENCY_TOPICS: [&str; 2] = ["crowd:mercure-latency", "crowd:sdk-latency"];
const MERCURE_FANOUT_TOPICS: [&str; 2] = ["crowd:mercure-bench", "crowd:sdk-bench"];
/// The first user id of the topic sockets (Mercure subscribers have no user).
const MERCURE_LATENCY_USERS: u32 = 60_000;
const MERCURE_FANOUT_USERS: u32 = 61_000;

/// A scenario, named on the command line as clap spells it (`many-users-workerd`). Declared in
/// run order (the report sorts by title): the memory scenarios first, on servers that have not yet
/// grown; those on plain workerd last, so that a smoke run switches runtime once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Memory,
    MemoryDeflate,
    ManyUsers,
    Latency,
    Fanout,
    Ingest,
    Batch,
    Hostile,
    MemoryWorkerd,
    ManyUsersWorkerd,
    LatencyWorkerd,
    FanoutWorkerd,
    IngestWorkerd,
    BatchWorkerd,
    IngestBatchedWorkerd,
    BroadcastWorkerd,
    ReconnectStormWorkerd,
    MercureLatencyWorkerd,
    MercureFanoutWorkerd,
    WakeupWorkerd,
    Size,
}

/// What a scenario runs against one target: which function of `scenarios`, with what variant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Workload {
    Latency,
    Fanout,
    /// With this many sockets.
    ManyUsers(usize),
    Ingest {
        batched: bool,
    },
    Batch,
    Memory {
        deflate: bool,
    },
    /// One hostile token holder; `main` runs it on two workers of its own, before and after.
    Hostile,
    /// Subscribers of one topic (Pushpin: of one channel), publishes to it.
    Broadcast,
    /// Every subscriber of one topic drops and comes back at once.
    ReconnectStorm,
    /// Publishes to rooms idle past eviction, beside warm ones.
    Wakeup,
    /// One series over edgepush's Mercure hub and another over its topic sockets, side by side
    /// (`main` runs the second; both on edgepush); with `pushpin`, the sockets' series also on
    /// Pushpin, for a note.
    Mercure {
        mercure: Series,
        sockets: Series,
        pushpin: bool,
    },
}

impl Workload {
    /// Runs it against `target`; `breakdown` reads the server's memory by process.
    pub async fn run(
        self,
        target: &Arc<Target>,
        params: &Params,
        breakdown: &dyn Fn() -> Vec<(String, u64)>,
    ) -> Result<Measured> {
        match self {
            Self::Latency => scenarios::latency(target, params).await,
            Self::Fanout => scenarios::fanout(target, params).await,
            Self::ManyUsers(sockets) => scenarios::many_users(target, params, sockets).await,
            Self::Ingest { batched } => scenarios::ingest(target, params, batched).await,
            Self::Batch => scenarios::batch(target, params).await,
            Self::Memory { deflate } => scenarios::memory(target, params, breakdown, deflate).await,
            Self::Hostile => hostile::run(target, params, true).await,
            Self::Broadcast => topics::broadcast(target, params).await,
            Self::ReconnectStorm => topics::reconnect_storm(target, params).await,
            Self::Wakeup => scenarios::wakeup(target, params).await,
            Self::Mercure { mercure, .. } => topics::series(target, Path::Mercure, &mercure).await,
        }
    }

    /// What the report's two columns are.
    pub fn layout(self) -> Layout {
        match self {
            Self::Hostile => Layout::BeforeAfter,
            Self::Mercure { .. } => Layout::Paths,
            _ => Layout::Systems,
        }
    }
}

/// One scenario's row.
pub struct Row {
    /// Report heading (sections sort by it).
    pub title: &'static str,
    /// What was run, with this run's sizes.
    pub setup: String,
    /// What runs edgepush, and the workload; `None` for the size scenario, which measures files.
    pub live: Option<(Runtime, Workload)>,
    /// Whether a smoke run (without `--only`) includes it: it covers plain workerd with
    /// `memory-workerd` and `ingest-batched-workerd` (which exists on it alone), not every variant.
    pub in_smoke: bool,
}

impl Scenario {
    /// The name on the command line and in reports.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// Its row, with the sizes of `p`.
    pub fn row(self, p: &Params) -> Row {
        use Runtime::{Workerd, WranglerDev};
        let row = |title, setup, live| Row {
            title,
            setup,
            live,
            in_smoke: true,
        };
        let on_workerd = |title, setup, workload, in_smoke| Row {
            title,
            setup,
            live: Some((Workerd, workload)),
            in_smoke,
        };
        match self {
            Self::Latency => row(
                "1. Latency",
                format!(
                    "{} sockets of one user; {} publishes/s for {} s, one event per request, sent \
                     on schedule whether or not earlier ones were answered. Latency is \
                     publish→deliver, from a wall-clock timestamp in the payload to the frame's \
                     arrival.",
                    p.latency.0, p.latency.1, p.latency.2
                ),
                Some((WranglerDev, Workload::Latency)),
            ),
            Self::Fanout => row(
                "2. Fan-out",
                format!(
                    "One publish to {} sockets of one user, {} rounds; time from the publish \
                     request until the last socket has the event.",
                    p.fanout.0, p.fanout.1
                ),
                Some((WranglerDev, Workload::Fanout)),
            ),
            Self::ManyUsers => row(
                "3. Many users",
                format!(
                    "{} sockets across {} users; {} publishes/s to random users for {} s.",
                    p.many.0, p.many.1, p.many.2, p.many.3
                ),
                Some((WranglerDev, Workload::ManyUsers(p.many.0))),
            ),
            Self::ManyUsersWorkerd => on_workerd(
                "3b. Many users, edgepush on plain `workerd serve`",
                format!(
                    "{} sockets across {} users; {} publishes/s to random users for {} s; \
                     edgepush runs under plain `workerd serve` (as in 6c) instead of `wrangler \
                     dev`. workerd holds two file descriptors per WebSocket (the accepted socket \
                     and a duplicate) and three per active Durable Object (its SQLite files), \
                     wrangler's proxy workerd four per WebSocket, and the hard limit here is \
                     20,000: so about 8,000 sockets of 1,000 active users on one workerd, and \
                     4,990 through `wrangler dev`.",
                    p.many_workerd, p.many.1, p.many.2, p.many.3
                ),
                Workload::ManyUsers(p.many_workerd),
                false,
            ),
            Self::LatencyWorkerd => on_workerd(
                "1b. Latency, edgepush on plain `workerd serve`",
                format!(
                    "As 1 ({} sockets of one user, {} publishes/s for {} s), with edgepush's \
                     built worker under plain `workerd serve` (as in 6c): what wrangler's dev \
                     server adds.",
                    p.latency.0, p.latency.1, p.latency.2
                ),
                Workload::Latency,
                false,
            ),
            Self::FanoutWorkerd => on_workerd(
                "2b. Fan-out, edgepush on plain `workerd serve`",
                format!(
                    "As 2 ({} sockets of one user, {} rounds), with edgepush under plain \
                     `workerd serve`.",
                    p.fanout.0, p.fanout.1
                ),
                Workload::Fanout,
                false,
            ),
            Self::BatchWorkerd => on_workerd(
                "5b. Batch, edgepush on plain `workerd serve`",
                format!(
                    "As 5 ({} users, {} socket(s) each, {} rounds), with edgepush under plain \
                     `workerd serve`.",
                    p.batch.0, p.batch.1, p.batch.2
                ),
                Workload::Batch,
                false,
            ),
            Self::IngestWorkerd => on_workerd(
                "4b. Ingest, edgepush on plain `workerd serve`",
                format!(
                    "As 4 ({} sockets, steps {:?}/s), with edgepush under plain `workerd serve`.",
                    p.ingest.0, p.ingest.1
                ),
                Workload::Ingest { batched: false },
                false,
            ),
            Self::IngestBatchedWorkerd => on_workerd(
                "4c. Ingest in batches, edgepush on plain `workerd serve`",
                format!(
                    "As 4b, but each request carries {} events (a publisher that batches, like \
                     the PHP `Publisher::publishBatch`); rates are events per second, steps \
                     {:?}/s. Not counted toward the publishes/s goal.",
                    p.ingest_batched.0, p.ingest_batched.1
                ),
                Workload::Ingest { batched: true },
                true,
            ),
            Self::Ingest => row(
                "4. Ingest",
                format!(
                    "Publishes into one user's room ({} sockets), stepping through {:?}/s for {} \
                     s each until a step has an error, a missing delivery or a backlog; then the \
                     best rate for {} s (or half of it if that fails).",
                    p.ingest.0, p.ingest.1, p.ingest.2, p.ingest.3
                ),
                Some((WranglerDev, Workload::Ingest { batched: false })),
            ),
            Self::Batch => row(
                "5. Batch",
                format!(
                    "One publish request carrying one event for each of {} users ({} socket(s) \
                     each), {} rounds; time until the last socket has its event.",
                    p.batch.0, p.batch.1, p.batch.2
                ),
                Some((WranglerDev, Workload::Batch)),
            ),
            Self::MemoryDeflate => row(
                "6b. Memory with browser-like handshakes (permessage-deflate offered)",
                format!(
                    "As 6, but each of the {} sockets (of {} users) is opened with a \
                     hand-written handshake that offers `permessage-deflate` as browsers do, and \
                     is never read. workerd accepts compression and keeps a zlib context per \
                     socket; condure (Pushpin) only compresses when started with \
                     `--compression`, which the packaged runner does not pass.",
                    p.memory.0, p.memory.1
                ),
                Some((WranglerDev, Workload::Memory { deflate: true })),
            ),
            Self::MemoryWorkerd => on_workerd(
                "6c. Memory without wrangler: edgepush on plain `workerd serve`",
                format!(
                    "As 6 (same client, no compression offered), but edgepush's built worker runs \
                     under plain `workerd serve` (bench/workerd/edgepush.capnp.in: same bundle, \
                     Durable Objects with SQLite on local disk) instead of `wrangler dev`: no \
                     wrangler proxy, no inspector, no node. Pushpin is measured again beside it. \
                     {} sockets of {} users.",
                    p.memory.0, p.memory.1
                ),
                Workload::Memory { deflate: false },
                true,
            ),
            Self::Memory => row(
                "6. Memory",
                format!(
                    "Resident memory (RSS, summed over every process of the server: for edgepush \
                     wrangler's node, its proxy workerd and the workerd running the worker; for \
                     Pushpin condure, pushpin-proxy, pushpin-handler, the runner and zurl) on \
                     fresh servers: idle, with {} sockets of {} users open, and after they \
                     closed.",
                    p.memory.0, p.memory.1
                ),
                Some((WranglerDev, Workload::Memory { deflate: false })),
            ),
            Self::Hostile => row(
                "8. One hostile token holder",
                format!(
                    "One client holding one valid token (of one user), for a window of {} s, \
                     against two fresh edgepush workers under `wrangler dev` started the same \
                     way: before = the limits on one token holder switched off (each set to \
                     1,000,000,000 with `--var`), after = the defaults (100 sockets per user, \
                     300 connects per user and 60 per token per minute, 20 client frames per \
                     socket per minute). In the window, with the one token and `refusal=close` \
                     (refusals come in-band), one connect at a time: a frame flood (`{{}}` on \
                     one socket, the next sent when the answer is in, until the socket is \
                     closed), a socket pile (opened and kept until the first refusal or {}), \
                     then a connect loop (connect, first frame, close; at most {} tries) for the \
                     rest of the window. Durable Object requests = accepted connects + connects \
                     the room refused + frames the room answered (a refusal at the edge wakes no \
                     room). Server CPU from `/proc`, every server process, over the window. Per \
                     minute = scaled from the window (×60/{}); the limits count per fixed \
                     minute, so for after this is an upper bound.",
                    p.hostile.0, p.hostile.1, p.hostile.2, p.hostile.0
                ),
                Some((WranglerDev, Workload::Hostile)),
            ),
            Self::WakeupWorkerd => on_workerd(
                "10. Wake-up of idle rooms, edgepush on plain `workerd serve`",
                format!(
                    "{} users with one socket each. After {} s idle (workerd evicts a Durable \
                     Object idle for about 10 s; hibernated sockets stay open), each user in turn \
                     gets one publish, its room cold, and once it arrived a second, warm: \
                     publish→deliver of each, and the servers' CPU per publish of each kind (from \
                     `/proc`, every server process, around each publish). After another {} s \
                     idle, one event to every user at once (batch requests of 100 users, all in \
                     flight together), then the same again while warm: time until the last \
                     socket has its event. Pushpin keeps no per-user state to wake: its two \
                     columns measure the same work without a wake-up.",
                    p.wakeup.0,
                    p.wakeup.1.as_secs(),
                    p.wakeup.1.as_secs()
                ),
                Workload::Wakeup,
                true,
            ),
            Self::BroadcastWorkerd => on_workerd(
                "9. Broadcast to one topic, edgepush on plain `workerd serve`",
                format!(
                    "{} subscribers of one topic, each a user of its own: edgepush topic sockets \
                     (`/connect?topic=crowd:stage`, the public namespace `crowd` with 4 shards: \
                     the topic's root relays each publish once to every shard holding sockets, \
                     each shard sends to its sockets); Pushpin the same number of sockets \
                     subscribed to one channel by the GRIP backend. {} publishes to the topic, \
                     one after the other; per publish, the time from the publish request until \
                     every subscriber has the event. Plain `workerd serve` (as in 6c), since \
                     `wrangler dev` holds about six file descriptors per WebSocket and the hard \
                     limit here is 20,000.",
                    p.broadcast.0, p.broadcast.1
                ),
                Workload::Broadcast,
                true,
            ),
            Self::ReconnectStormWorkerd => on_workerd(
                "9b. Reconnect storm of a topic's subscribers, edgepush on plain `workerd serve`",
                format!(
                    "{} subscribers of one topic (as 9) drop their connections at once (TCP \
                     closed, no close frame); {} events are published to the topic while they \
                     are away; then all reconnect at once (no limit on handshakes in flight; a \
                     failed connect is retried up to 8 times with the browser SDK's full-jitter \
                     backoff, 0.5 s doubling up to 20 s), edgepush's with `since` = the \
                     last id each had and the topic's `epoch`. Time from the start of the \
                     reconnects until every subscriber is connected, and (edgepush) until every \
                     one had `recovered: true` and each missed event exactly once; then one \
                     live event, which must also arrive once everywhere. Pushpin keeps no \
                     history: its subscribers come back afresh.",
                    p.storm.0, p.storm.1
                ),
                Workload::ReconnectStorm,
                true,
            ),
            Self::MercureLatencyWorkerd => {
                let (rounds, gap) = p.mercure_latency;
                let [mercure, sockets] = MERCURE_LATENCY_TOPICS;
                let series = |topic| Series {
                    topic,
                    first_user: MERCURE_LATENCY_USERS,
                    subscribers: 1,
                    rounds,
                    gap,
                };
                on_workerd(
                    "9c. Mercure latency: one subscriber, beside a topic socket, edgepush on \
                     plain `workerd serve`",
                    format!(
                        "Publish→event latency for one subscriber of edgepush's Mercure hub, \
                         beside the same through the SDK's path. Mercure: one subscriber reading \
                         `GET /.well-known/mercure?topic={mercure}` as an `EventSource` does \
                         (a subscriber token allowed `*`; the Worker holds the stream over a \
                         topic socket on one of the topic's shards), {rounds} updates posted to \
                         `POST /.well-known/mercure` as `symfony/mercure` posts them (form \
                         `topic`, `data`, `id`, a publisher token; each publish also reads the \
                         hub's registry of template selectors), one after the other: each once \
                         the previous one arrived, then {} ms. Topic socket: one socket \
                         `/connect?topic={sockets}` and the same series with `POST /publish` \
                         `{{\"topic\"}}`. Both topics are of `crowd` (public, 4 shards). Latency \
                         from the wall-clock time in the payload (the update's `data`) to the \
                         event's arrival. Pushpin's one socket on one channel, the same series, \
                         is in a note.",
                        gap.as_millis()
                    ),
                    Workload::Mercure {
                        mercure: series(mercure),
                        sockets: series(sockets),
                        pushpin: true,
                    },
                    true,
                )
            }
            Self::MercureFanoutWorkerd => {
                let (subscribers, rounds) = p.mercure_fanout;
                let [mercure, sockets] = MERCURE_FANOUT_TOPICS;
                let series = |topic| Series {
                    topic,
                    first_user: MERCURE_FANOUT_USERS,
                    subscribers,
                    rounds,
                    gap: std::time::Duration::from_millis(200),
                };
                on_workerd(
                    "9d. Mercure fan-out: one topic's subscribers, beside topic sockets, \
                     edgepush on plain `workerd serve`",
                    format!(
                        "{subscribers} subscribers of one Mercure topic, `{mercure}`: an \
                         edgepush topic of `crowd` (public, 4 shards), so the Worker holds each \
                         subscriber's event stream over a topic socket on a random one of the 4 \
                         shards and a publish costs one relay per shard. {rounds} updates posted \
                         to `POST /.well-known/mercure`, one after the other (each once the \
                         previous one reached every subscriber, then 200 ms); per update the \
                         time until the last subscriber has it. Beside it the same \
                         {subscribers} subscribers as topic sockets (`/connect?topic={sockets}`, \
                         each a user of its own) and the same series with `POST /publish`. Plain \
                         `workerd serve` (as 9): each event stream holds a client connection \
                         and, inside workerd, one topic socket."
                    ),
                    Workload::Mercure {
                        mercure: series(mercure),
                        sockets: series(sockets),
                        pushpin: false,
                    },
                    true,
                )
            }
            Self::Size => row(
                "7. Size",
                "What a browser downloads, and what the server ships.".into(),
                None,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::ValueEnum as _;

    use super::*;

    #[test]
    fn names_and_run_order_are_those_of_the_scripts_and_the_readme() {
        let names: Vec<String> = Scenario::value_variants()
            .iter()
            .map(|s| s.name())
            .collect();
        assert_eq!(
            names,
            [
                "memory",
                "memory-deflate",
                "many-users",
                "latency",
                "fanout",
                "ingest",
                "batch",
                "hostile",
                "memory-workerd",
                "many-users-workerd",
                "latency-workerd",
                "fanout-workerd",
                "ingest-workerd",
                "batch-workerd",
                "ingest-batched-workerd",
                "broadcast-workerd",
                "reconnect-storm-workerd",
                "mercure-latency-workerd",
                "mercure-fanout-workerd",
                "wakeup-workerd",
                "size",
            ]
        );
        assert_eq!(
            Scenario::from_str("ingest-batched-workerd", false).unwrap(),
            Scenario::IngestBatchedWorkerd
        );
    }

    #[test]
    fn exactly_the_workerd_variants_run_on_workerd() {
        let p = Params::smoke();
        for s in Scenario::value_variants() {
            let runtime = s.row(&p).live.map(|(r, _)| r);
            let expected = match s.name() {
                n if n.ends_with("-workerd") => Some(Runtime::Workerd),
                n if n == "size" => None,
                _ => Some(Runtime::WranglerDev),
            };
            assert_eq!(runtime, expected, "{}", s.name());
        }
    }

    #[test]
    fn the_smoke_run_skips_the_workerd_variants_of_scenarios_it_runs_under_wrangler() {
        let p = Params::smoke();
        let skipped: Vec<String> = Scenario::value_variants()
            .iter()
            .filter(|s| !s.row(&p).in_smoke)
            .map(|s| s.name())
            .collect();
        assert_eq!(
            skipped,
            [
                "many-users-workerd",
                "latency-workerd",
                "fanout-workerd",
                "ingest-workerd",
                "batch-workerd"
            ]
        );
    }

    #[test]
    fn many_users_on_workerd_uses_its_own_socket_count() {
        let p = Params::full(4_500, 8_000, 4_000);
        let workload = |s: Scenario| s.row(&p).live.map(|(_, w)| w);
        assert_eq!(
            workload(Scenario::ManyUsers),
            Some(Workload::ManyUsers(4_500))
        );
        assert_eq!(
            workload(Scenario::ManyUsersWorkerd),
            Some(Workload::ManyUsers(8_000))
        );
        assert!(
            Scenario::ManyUsersWorkerd
                .row(&p)
                .setup
                .starts_with("8000 sockets across 1000 users")
        );
    }

    #[test]
    fn the_topic_scenarios_run_on_workerd_with_the_chosen_number_of_subscribers() {
        let p = Params::full(4_500, 8_000, 6_000);
        for (s, workload) in [
            (Scenario::BroadcastWorkerd, Workload::Broadcast),
            (Scenario::ReconnectStormWorkerd, Workload::ReconnectStorm),
        ] {
            let row = s.row(&p);
            assert_eq!(row.live, Some((Runtime::Workerd, workload)));
            assert!(row.setup.starts_with("6000 subscribers of one topic"));
            assert!(row.in_smoke);
        }
        assert_eq!(Params::smoke().broadcast.0, 50);
    }

    #[test]
    fn the_mercure_scenarios_compare_two_paths_on_sharded_topics_of_their_own() {
        let p = Params::full(4_500, 8_000, 4_000);
        for (s, subscribers, pushpin) in [
            (Scenario::MercureLatencyWorkerd, 1, true),
            (Scenario::MercureFanoutWorkerd, 1_000, false),
        ] {
            let row = s.row(&p);
            let Some((
                Runtime::Workerd,
                w @ Workload::Mercure {
                    mercure,
                    sockets,
                    pushpin: beside,
                },
            )) = row.live
            else {
                panic!("{} is not a Mercure workload on workerd", s.name())
            };
            assert_eq!(w.layout(), Layout::Paths);
            assert_eq!(beside, pushpin);
            assert_eq!(
                (mercure.subscribers, sockets.subscribers),
                (subscribers, subscribers)
            );
            assert_eq!(mercure.rounds, sockets.rounds);
            assert!(mercure.topic.starts_with("crowd:") && sockets.topic.starts_with("crowd:"));
            assert_ne!(mercure.topic, sockets.topic);
            assert!(row.in_smoke);
        }
        let smoke = Params::smoke();
        assert!(smoke.mercure_fanout.0 <= 20 && smoke.mercure_latency.0 <= 10);
        assert_eq!(Workload::Broadcast.layout(), Layout::Systems);
        assert_eq!(Workload::Hostile.layout(), Layout::BeforeAfter);
    }
}
