//! A room's side of topics, without I/O: which topics of a `subscribe` frame a socket gets, and
//! the order of a topic's frames on a socket while its join is under way.
//!
//! A socket's subscriptions live in the room's SQLite ([`crate::sql_store::Subscriptions`]: a
//! page may hold 1,024 topics, more than a socket's 16 KiB attachment), so they survive
//! hibernation. While the room waits for a topic's answer to a join (the `subscribed` frame and
//! the replay), live events of that topic may already arrive; [`Joins`] holds them back and
//! releases those the replay did not cover, so a socket sees each id once, in order.

use std::collections::{BTreeSet, HashMap, HashSet};

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{ErrorBody, ServerFrame, Subscription, Unsubscribed};
use edgepush_protocol::topic::Topic;

use crate::internal::RoomFailure;
#[cfg(doc)]
use crate::namespaces::Namespaces;
use crate::namespaces::Refusal;
use crate::room::ResumeRequest;

/// What to do with one topic of a `subscribe` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Join the topic (the socket now lists it) and resume it as asked.
    Join {
        /// The topic.
        topic: Topic,
        /// Where the socket resumes.
        resume: ResumeRequest,
        /// The socket was not subscribed to it yet.
        fresh: bool,
    },
    /// Send this `unsubscribed` frame.
    Refuse(String),
    /// Send this `unsubscribed` frame and end the socket's subscription to the topic, which it
    /// held (asked again, e.g. to resume, with a subscription token that expired meanwhile):
    /// kept, it would go on counted and relayed to a client that has dropped it.
    End {
        /// The topic.
        topic: String,
        /// The `unsubscribed` frame.
        frame: String,
    },
}

/// Decides each topic of a `subscribe` frame (or of a subscription the backend made) for a
/// socket, and adds the accepted ones to `topics`, the socket's subscriptions. `check` says
/// whether the socket may read a topic: [`Namespaces::authorize`] for a client's frame,
/// [`Namespaces::validate`] for the backend's own subscriptions. A topic named again in the same
/// frame is left out (each join is a call to the topic, and replays its history); a held topic
/// refused now for its token is taken out of `topics` ([`Decision::End`]).
pub fn decide(
    items: Vec<Subscription>,
    topics: &mut BTreeSet<String>,
    max_topics: u32,
    check: impl Fn(&Subscription) -> Result<Topic, Refusal>,
) -> Vec<Decision> {
    let mut named = BTreeSet::new();
    items
        .into_iter()
        .filter(|item| named.insert(item.topic.clone()))
        .map(|item| {
            let topic = match check(&item) {
                Ok(topic) => topic,
                Err(refusal) => {
                    let frame = unsubscribed(&item.topic, refusal.code, refusal.message);
                    // Only a token can have changed since the topic was granted (a socket's
                    // grants do not; the backend's subscriptions, which the SDK resumes with
                    // none, were never the client's to read).
                    return match item.token.is_some() && topics.remove(&item.topic) {
                        true => Decision::End {
                            topic: item.topic,
                            frame,
                        },
                        false => Decision::Refuse(frame),
                    };
                }
            };
            if !topics.contains(topic.as_str()) && topics.len() >= max_topics as usize {
                return Decision::Refuse(unsubscribed(
                    &item.topic,
                    ErrorCode::TooManySubscriptions,
                    format!(
                        "this socket already holds {max_topics} subscriptions \
                         (MAX_TOPICS_PER_SOCKET); unsubscribe from one first"
                    ),
                ));
            }
            let fresh = topics.insert(topic.as_str().to_owned());
            Decision::Join {
                fresh,
                topic,
                resume: ResumeRequest {
                    since: item.since,
                    epoch: item.epoch,
                },
            }
        })
        .collect()
}

/// The `unsubscribed` frame for a join of `topic` that failed: `internal_error` whatever the
/// topic answered (a client reads only the refusal codes a subscription may end with, and this one
/// may succeed when it subscribes again, which `then` tells it to do), naming the cause.
pub fn join_failed(topic: &str, failure: &RoomFailure, then: &str) -> String {
    unsubscribed(
        topic,
        ErrorCode::InternalError,
        format!(
            "joining the topic failed ({}): {}; {then}",
            failure.code.as_str(),
            failure.message
        ),
    )
}

/// The `unsubscribed` frame for `topic`.
pub fn unsubscribed(topic: &str, code: ErrorCode, message: String) -> String {
    serde_json::to_string(&ServerFrame::<()>::Unsubscribed(Unsubscribed {
        topic: topic.to_owned(),
        error: ErrorBody::new(code, message),
    }))
    .unwrap_or_default()
}

/// The joins and leaves of topics under way in a room or a shard: per (socket, topic) joining,
/// the live frames held back until the join's answer has been sent; per topic, the leaves sent
/// and not yet answered.
#[derive(Debug, Default)]
pub struct Joins {
    held: HashMap<(String, String), Held>,
    leaving: HashMap<String, u32>,
    /// (socket, topic) left while joining, whose leave is due now that its joins have ended.
    due: HashSet<(String, String)>,
}

/// What the joins of one topic for one socket hold back. Two may overlap (the backend's
/// `POST /subscribe` and the page's own subscribe of the topic, or two subscribe frames): the
/// live frames wait until the last of them has been answered.
#[derive(Debug, Default)]
struct Held {
    /// Events, with their ids.
    events: Vec<(u64, String)>,
    /// Notices (`occupancy`, `presence`), which have no id.
    notices: Vec<String>,
    /// The joins under way.
    joins: u32,
    /// The last id the answered joins' replays covered, once one was answered.
    covered: Option<u64>,
    /// The topic counts the socket: it held the topic before (a join that is not fresh), or a
    /// join was answered.
    counted: bool,
    /// The socket left the topic meanwhile (closed, or unsubscribed).
    left: bool,
}

impl Held {
    /// The held events after the last id covered, in order, then the held notices.
    fn release(self, covered: u64) -> Vec<String> {
        let Held {
            mut events,
            notices,
            ..
        } = self;
        events.sort_by_key(|(id, _)| *id);
        events.dedup_by_key(|(id, _)| *id);
        events
            .into_iter()
            .filter(|(id, _)| *id > covered)
            .map(|(_, frame)| frame)
            .chain(notices)
            .collect()
    }
}

impl Joins {
    /// A join of `topic` for socket `conn` starts; `fresh` when the socket did not hold the
    /// topic before.
    pub fn start(&mut self, conn: &str, topic: &str, fresh: bool) {
        let held = self
            .held
            .entry((conn.to_owned(), topic.to_owned()))
            .or_default();
        held.joins += 1;
        held.counted |= !fresh;
    }

    /// Whether a join of `topic` for socket `conn` is under way. When one fails while another is,
    /// the socket keeps the subscription: the other's answer (`subscribed`, or its own failure)
    /// comes after the failed one's `unsubscribed`, and a client believes the last it reads.
    pub fn joining(&self, conn: &str, topic: &str) -> bool {
        !self.held.is_empty() && self.held.contains_key(&(conn.to_owned(), topic.to_owned()))
    }

    /// A live event of `topic` for socket `conn`: `true` to send it now, `false` when it is held
    /// back (kept here until the join's answer has been sent).
    pub fn offer(&mut self, conn: &str, topic: &str, id: u64, frame: &str) -> bool {
        match self.held_for(conn, topic) {
            Some(held) => {
                held.events.push((id, frame.to_owned()));
                false
            }
            None => true,
        }
    }

    /// A notice of `topic` for socket `conn`: `true` to send it now, `false` when held back.
    pub fn offer_notice(&mut self, conn: &str, topic: &str, frame: &str) -> bool {
        match self.held_for(conn, topic) {
            Some(held) => {
                held.notices.push(frame.to_owned());
                false
            }
            None => true,
        }
    }

    /// What a join under way holds for (`conn`, `topic`); with no join under way (nearly
    /// always), found without building a key.
    fn held_for(&mut self, conn: &str, topic: &str) -> Option<&mut Held> {
        if self.held.is_empty() {
            return None;
        }
        self.held.get_mut(&(conn.to_owned(), topic.to_owned()))
    }

    /// The join's answer was sent, up to id `covered`. When it was the last join under way: the
    /// held events after every answered join's replay, in order, then the held notices.
    pub fn finish(&mut self, conn: &str, topic: &str, covered: u64) -> Vec<String> {
        self.end(conn, topic, Some(covered))
    }

    /// The join failed, nothing of it was sent. When it was the last join under way: what
    /// [`finish`](Self::finish) would send after the joins answered before it, or nothing (the
    /// held frames are dropped) when none was.
    pub fn abandon(&mut self, conn: &str, topic: &str) -> Vec<String> {
        self.end(conn, topic, None)
    }

    fn end(&mut self, conn: &str, topic: &str, covered: Option<u64>) -> Vec<String> {
        let key = (conn.to_owned(), topic.to_owned());
        let Some(held) = self.held.get_mut(&key) else {
            return Vec::new();
        };
        held.joins = held.joins.saturating_sub(1);
        held.covered = held.covered.max(covered);
        held.counted |= covered.is_some();
        if held.joins > 0 {
            return Vec::new();
        }
        let held = self.held.remove(&key).unwrap_or_default();
        if held.left && held.counted {
            self.due.insert(key);
        }
        match held.covered {
            Some(covered) => held.release(covered),
            None => Vec::new(),
        }
    }

    /// Socket `conn` left `topic` (it closed, or unsubscribed): `true` when a join of it is under
    /// way. The leave then waits until the last has ended, and is due only if the topic counts
    /// the socket by then ([`deferred_leave`](Self::deferred_leave)): a join the topic refused
    /// was not counted, and a leave for it would take another socket's count.
    pub fn defer_leave(&mut self, conn: &str, topic: &str) -> bool {
        match self.held_for(conn, topic) {
            Some(held) => {
                held.left = true;
                true
            }
            None => false,
        }
    }

    /// Whether a leave deferred for (`conn`, `topic`) is due, now that its joins have ended (once:
    /// the caller sends it, unless the socket holds the topic again).
    pub fn deferred_leave(&mut self, conn: &str, topic: &str) -> bool {
        !self.due.is_empty() && self.due.remove(&(conn.to_owned(), topic.to_owned()))
    }

    /// A leave of `topic` was sent.
    pub fn leave_starts(&mut self, topic: &str) {
        *self.leaving.entry(topic.to_owned()).or_default() += 1;
    }

    /// The topic answered a leave (or the call failed).
    pub fn leave_ends(&mut self, topic: &str) {
        if let Some(count) = self.leaving.get_mut(topic) {
            *count -= 1;
            if *count == 0 {
                self.leaving.remove(topic);
            }
        }
    }

    /// Whether a join or a leave of `topic` is on its way: then the sockets counted now are not
    /// what the topic will count once it has arrived.
    pub fn underway(&self, topic: &str) -> bool {
        self.leaving.contains_key(topic) || self.held.keys().any(|(_, joining)| joining == topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namespaces::{Namespaces, Reader};

    fn item(topic: &str) -> Subscription {
        Subscription {
            topic: topic.into(),
            since: Some(3),
            epoch: None,
            token: None,
        }
    }

    fn ns() -> Namespaces {
        Namespaces::parse(r#"{"product":{"public":true},"orders":{}}"#).unwrap()
    }

    /// What a client frame of user 42 with no grants and no tokens may read.
    fn as_user_42(item: &Subscription) -> Result<Topic, Refusal> {
        let reader = Reader {
            user: "42",
            grants: &[],
        };
        ns().authorize(&item.topic, reader, None)
    }

    fn outcomes(decisions: &[Decision]) -> Vec<String> {
        decisions
            .iter()
            .map(|d| match d {
                Decision::Join {
                    topic,
                    resume,
                    fresh,
                } => format!("join {topic} {:?} {fresh}", resume.since),
                Decision::Refuse(frame) => {
                    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
                    format!("refuse {} {}", v["topic"], v["error"]["code"])
                }
                Decision::End { topic, frame } => {
                    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
                    assert_eq!(v["topic"], topic.as_str());
                    format!("end {} {}", v["topic"], v["error"]["code"])
                }
            })
            .collect()
    }

    #[test]
    fn a_failed_join_ends_the_subscription_with_a_code_subscriptions_may_end_with() {
        let failure = RoomFailure::new(ErrorCode::ServerMisconfigured, "HISTORY_MAX_EVENTS: lots");
        let frame: serde_json::Value =
            serde_json::from_str(&join_failed("feed:all", &failure, "reconnect")).unwrap();
        assert_eq!(frame["type"], "unsubscribed");
        assert_eq!(frame["topic"], "feed:all");
        assert_eq!(frame["error"]["code"], "internal_error");
        assert_eq!(
            frame["error"]["message"],
            "joining the topic failed (server_misconfigured): HISTORY_MAX_EVENTS: lots; reconnect"
        );
    }

    #[test]
    fn each_topic_is_decided_on_its_own_and_recorded() {
        let mut socket = BTreeSet::new();
        let decisions = decide(
            vec![
                item("product:1"),
                item("orders:#7"),
                item("orders:#42"),
                item("nope:1"),
            ],
            &mut socket,
            10,
            as_user_42,
        );
        assert_eq!(
            outcomes(&decisions),
            [
                "join product:1 Some(3) true",
                "refuse \"orders:#7\" \"topic_forbidden\"",
                "join orders:#42 Some(3) true",
                "refuse \"nope:1\" \"unknown_namespace\""
            ]
        );
        assert_eq!(
            socket.iter().collect::<Vec<_>>(),
            ["orders:#42", "product:1"]
        );
    }

    #[test]
    fn a_socket_holds_at_most_the_limit_and_resubscribing_is_free() {
        let mut socket = BTreeSet::new();
        let items = vec![item("product:1"), item("product:2"), item("product:3")];
        let decisions = decide(items, &mut socket, 2, as_user_42);
        assert_eq!(
            outcomes(&decisions)[2],
            "refuse \"product:3\" \"too_many_subscriptions\""
        );
        let again = decide(vec![item("product:1")], &mut socket, 2, as_user_42);
        assert_eq!(outcomes(&again), ["join product:1 Some(3) false"]);
    }

    #[test]
    fn a_held_topic_refused_for_its_token_when_asked_again_is_ended() {
        // Held by the socket, then asked again (to resume) with a token that no longer opens it.
        let held = ["orders:#7", "orders:#8", "product:1"];
        let mut socket = BTreeSet::from(held.map(str::to_owned));
        let with_token = Subscription {
            token: Some("expired".into()),
            ..item("orders:#7")
        };
        // orders:#8 comes without a token: the backend's subscription, which the SDK resumes
        // with none; the refusal answers the frame and the subscription stays.
        let items = vec![
            with_token,
            item("orders:#8"),
            item("nope:1"),
            item("product:1"),
        ];
        let decisions = decide(items, &mut socket, 3, as_user_42);
        assert_eq!(
            outcomes(&decisions),
            [
                "end \"orders:#7\" \"topic_forbidden\"",
                "refuse \"orders:#8\" \"topic_forbidden\"",
                "refuse \"nope:1\" \"unknown_namespace\"",
                "join product:1 Some(3) false"
            ]
        );
        assert_eq!(
            socket.iter().collect::<Vec<_>>(),
            ["orders:#8", "product:1"]
        );
    }

    #[test]
    fn a_topic_named_again_in_one_frame_is_joined_once() {
        let mut socket = BTreeSet::from(["product:1".to_owned()]);
        let items = vec![item("product:1"); 1000];
        let decisions = decide(items, &mut socket, 2, as_user_42);
        assert_eq!(outcomes(&decisions), ["join product:1 Some(3) false"]);
        let items = vec![
            item("product:2"),
            item("nope:1"),
            item("product:2"),
            item("nope:1"),
        ];
        let decisions = decide(items, &mut socket, 2, as_user_42);
        assert_eq!(
            outcomes(&decisions),
            [
                "join product:2 Some(3) true",
                "refuse \"nope:1\" \"unknown_namespace\""
            ]
        );
    }

    #[test]
    fn the_backend_subscribes_to_any_valid_topic_of_a_declared_namespace() {
        let mut socket = BTreeSet::new();
        let items = vec![item("orders:#7"), item("nope:1"), item("orders:*")];
        let decisions = decide(items, &mut socket, 10, |item| ns().validate(&item.topic));
        assert_eq!(
            outcomes(&decisions),
            [
                "join orders:#7 Some(3) true",
                "refuse \"nope:1\" \"unknown_namespace\"",
                "refuse \"orders:*\" \"invalid_topic\""
            ]
        );
    }

    #[test]
    fn live_frames_wait_for_the_join_and_skip_what_the_replay_covered() {
        let mut joins = Joins::default();
        assert!(joins.offer("c1", "t:1", 1, "f1"));
        joins.start("c1", "t:1", true);
        assert!(!joins.offer("c1", "t:1", 6, "f6"));
        assert!(!joins.offer("c1", "t:1", 5, "f5"));
        assert!(joins.offer("c2", "t:1", 5, "f5"));
        assert_eq!(joins.finish("c1", "t:1", 5), ["f6"]);
        assert!(joins.offer("c1", "t:1", 7, "f7"));
        joins.start("c1", "t:1", true);
        assert!(!joins.offer_notice("c1", "t:1", "n1"));
        assert!(!joins.offer("c1", "t:1", 9, "f9"));
        assert!(joins.offer_notice("c2", "t:1", "n1"));
        assert_eq!(joins.finish("c1", "t:1", 7), ["f9", "n1"]);
        joins.start("c1", "t:1", true);
        joins.offer("c1", "t:1", 8, "f8");
        assert!(joins.abandon("c1", "t:1").is_empty());
        assert!(joins.finish("c1", "t:1", 0).is_empty());
    }

    #[test]
    fn overlapping_joins_of_a_topic_release_the_live_frames_after_the_last() {
        // The backend's subscribe and the page's own, both joining: the first answered must
        // not let live events overtake the other's replay.
        let mut joins = Joins::default();
        joins.start("c1", "t:1", true);
        joins.start("c1", "t:1", true);
        assert!(!joins.offer("c1", "t:1", 11, "f11"));
        assert!(joins.finish("c1", "t:1", 10).is_empty());
        assert!(!joins.offer("c1", "t:1", 12, "f12"));
        assert!(!joins.offer_notice("c1", "t:1", "n1"));
        assert_eq!(joins.finish("c1", "t:1", 11), ["f12", "n1"]);
        assert!(joins.offer("c1", "t:1", 13, "f13"));
        // One answered, the other failed: the answered one's frames still follow.
        joins.start("c1", "t:1", true);
        joins.start("c1", "t:1", true);
        assert!(joins.finish("c1", "t:1", 13).is_empty());
        assert!(!joins.offer("c1", "t:1", 14, "f14"));
        assert_eq!(joins.abandon("c1", "t:1"), ["f14"]);
        assert!(joins.offer("c1", "t:1", 15, "f15"));
        assert!(!joins.joining("c1", "t:1"));
        // The first to fail, the other still joining: the socket keeps the subscription.
        joins.start("c1", "t:1", true);
        joins.start("c1", "t:1", true);
        assert!(joins.abandon("c1", "t:1").is_empty());
        assert!(joins.joining("c1", "t:1"));
        assert!(!joins.joining("c2", "t:1"));
        assert!(joins.abandon("c1", "t:1").is_empty());
        assert!(!joins.joining("c1", "t:1"));
    }

    #[test]
    fn a_leave_while_joining_waits_for_the_joins_and_is_due_only_if_the_topic_counts_the_socket() {
        let mut joins = Joins::default();
        // Not joining: the leave goes now.
        assert!(!joins.defer_leave("c1", "t:1"));
        // Closed while its first join is under way; the join is answered: the leave is due then.
        joins.start("c1", "t:1", true);
        assert!(joins.defer_leave("c1", "t:1"));
        joins.finish("c1", "t:1", 0);
        assert!(joins.deferred_leave("c1", "t:1"));
        assert!(!joins.deferred_leave("c1", "t:1"));
        // The first join failed: the topic did not count the socket, no leave.
        joins.start("c1", "t:2", true);
        assert!(joins.defer_leave("c1", "t:2"));
        joins.abandon("c1", "t:2");
        assert!(!joins.deferred_leave("c1", "t:2"));
        // A resume of a topic it held failed: counted all the same, the leave is due.
        joins.start("c1", "t:3", false);
        assert!(joins.defer_leave("c1", "t:3"));
        joins.abandon("c1", "t:3");
        assert!(joins.deferred_leave("c1", "t:3"));
        // Two joins, the first answered, the last failed: counted, due once the last has ended.
        joins.start("c2", "t:1", true);
        joins.start("c2", "t:1", false);
        assert!(joins.defer_leave("c2", "t:1"));
        joins.finish("c2", "t:1", 0);
        assert!(!joins.deferred_leave("c2", "t:1"));
        joins.abandon("c2", "t:1");
        assert!(joins.deferred_leave("c2", "t:1"));
        // Joins that ended with no leave meanwhile: nothing due.
        joins.start("c3", "t:1", true);
        joins.finish("c3", "t:1", 0);
        assert!(!joins.deferred_leave("c3", "t:1"));
    }

    #[test]
    fn a_topic_is_underway_while_a_join_or_leave_of_it_is_unanswered() {
        let mut joins = Joins::default();
        assert!(!joins.underway("t:1"));
        joins.start("c1", "t:1", true);
        assert!(joins.underway("t:1"));
        assert!(!joins.underway("t:2"));
        joins.finish("c1", "t:1", 0);
        assert!(!joins.underway("t:1"));
        joins.leave_starts("t:1");
        joins.leave_starts("t:1");
        joins.start("c2", "t:1", true);
        joins.abandon("c2", "t:1");
        joins.leave_ends("t:1");
        assert!(joins.underway("t:1"));
        joins.leave_ends("t:1");
        assert!(!joins.underway("t:1"));
        joins.leave_ends("t:1");
        assert!(!joins.underway("t:1"));
    }
}
