//! The Durable Object shell around a topic's stream: one per topic, named by the topic. It
//! stores the topic's events like a user's room stores the user's ([`Room`], SQLite, ids, epoch,
//! idempotency keys), keeps the topic's members (the rooms of users with a subscribed socket,
//! and the topic's shards that hold sockets) with their socket counts, and relays each publish
//! to them (`docs/topics.md`). It holds no socket. Its one timer is the alarm that sends
//! `presence` and `occupancy` notices and posts webhooks after a change, set only when something
//! changed (or a webhook delivery is to be retried): an idle topic costs nothing.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use edgepush_protocol::ErrorCode;
use edgepush_protocol::frames::{Occupancy, PresenceChange, ServerFrame};
use edgepush_protocol::publish::IdempotencyKey;
use edgepush_protocol::signature::SIGNATURE_HEADER;
use edgepush_protocol::topic::Topic;
use futures_util::future::{Either, join_all, select};
use futures_util::lock::Mutex;
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{
    AbortController, Delay, DurableObject, Env, Fetch, Headers, Method, Request, RequestInit,
    Response, Result, State, durable_object,
};

use crate::config::Settings;
use crate::history::StoreError;
use crate::internal::{
    DeliverAnswer, DeliverCall, Delivered, EARLIEST, JoinAnswer, JoinCall, LeaveCall, Member,
    PublishAnswer, RoomCall, RoomFailure, RoomOutcome, ShardCall, StoredAtAnswer, StoredAtCall,
    TemplatesAnswer, TopicCall, TopicPresenceAnswer, TopicPublishCall, answer_json,
};
use crate::mercure::{self, MAX_TEMPLATES};
use crate::namespaces::NamespaceOptions;
use crate::objects::{self, Answer, Object, Outcome, Repeat, answer_rpc, misrouted, to_response};
use crate::room::{Accepted, ResumeRequest, Room};
use crate::runtime::{DurableSql, alarm_time, log, new_epoch, now_ms};
use crate::sql_store::{Count, MemberChange, Members, SqlStore, Templates};
use crate::webhooks::{
    self, DELIVERY_TIMEOUT_MS, MAX_EVENTS_PER_DELIVERY, MAX_QUEUED_EVENTS, WebhookBody,
    WebhookTarget, after_delivery,
};

/// The per-topic Durable Object.
#[durable_object]
pub struct TopicObject {
    state: State,
    env: Env,
    stream: RefCell<Option<Room<SqlStore<DurableSql>>>>,
    /// The members' tables, opened once per wake-up: every join, leave and relay needs them.
    members: RefCell<Option<Rc<Members<DurableSql>>>>,
    /// Held while a publish (or a notice) is stored and relayed: the next one waits, so every
    /// member gets the topic's events in id order.
    relay: Mutex<()>,
    /// While a relay is under way: the members a join or leave counted meanwhile, whose counts
    /// the relay's answers (older than that) must not overwrite.
    moved: RefCell<Option<HashSet<String>>>,
}

impl DurableObject for TopicObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            stream: RefCell::new(None),
            members: RefCell::new(None),
            relay: Mutex::new(()),
            moved: RefCell::default(),
        }
    }

    /// A topic takes no socket: every call to it is an RPC call.
    async fn fetch(&self, _req: Request) -> Result<Response> {
        to_response(Err(misrouted()))
    }

    /// Sends the notices and the webhooks; when either fails (storage, settings; not a webhook
    /// receiver's refusal, which is retried by the delivery's own backoff) the alarm fails too,
    /// so that the runtime runs it again.
    async fn alarm(&self) -> Result<Response> {
        let notices = self.send_notices().await;
        let webhooks = self.deliver_webhooks().await;
        for (what, outcome) in [("notices_failed", &notices), ("webhooks_failed", &webhooks)] {
            if let Err(failure) = outcome {
                log(what, &[("message", failure.message.clone())]);
            }
        }
        notices
            .and(webhooks)
            .map_err(|failure| worker::Error::RustError(failure.message))?;
        Response::empty()
    }
}

#[wasm_bindgen(wasm_bindgen_futures = ::worker::wasm_bindgen_futures)]
impl TopicObject {
    /// A call over Workers RPC (the method `call` of `server/entry.js`); answers `[status, body]`.
    #[wasm_bindgen(js_name = call)]
    pub async fn rpc(&self, call: String) -> JsValue {
        answer_rpc(self.answer(TopicCall::from_json(&call)).await)
    }
}

impl TopicObject {
    /// Answers a call.
    async fn answer(&self, call: Outcome<TopicCall>) -> Answer {
        match call? {
            TopicCall::Publish(call) => self.publish(call).await.map(|a| answer_json(&a)),
            TopicCall::Join(call) => self.join(&call).await.map(|a| answer_json(&a)),
            TopicCall::Replay(call) => self
                .with_stream(&call.topic, |stream| stream.replay_after(call.after))
                .map(|page| answer_json(&page)),
            TopicCall::Leave(call) => self
                .leave(&call)
                .await
                .map(|()| answer_json(&serde_json::json!({}))),
            TopicCall::Presence(call) => self.presence(&call.topic).map(|a| answer_json(&a)),
            TopicCall::Templates(call) => {
                self.templates(call.add.as_deref()).map(|a| answer_json(&a))
            }
            TopicCall::StoredAt(call) => self.stored_at(&call).map(|a| answer_json(&a)),
        }
    }

    fn settings(&self) -> Outcome<Rc<Settings>> {
        Ok(objects::settings(&self.env)?)
    }

    /// The options of the topic's namespace.
    fn options(&self, topic: &str) -> Outcome<(Rc<Settings>, NamespaceOptions)> {
        let settings = self.settings()?;
        let parsed = Topic::parse(topic).map_err(|problem| {
            StoreError(format!("a call named the topic {topic:?}: {problem}"))
        })?;
        let options = settings
            .room
            .namespaces
            .options(&parsed)
            .copied()
            .unwrap_or_default();
        Ok((settings, options))
    }

    fn members(&self) -> Outcome<Rc<Members<DurableSql>>> {
        let mut slot = self.members.borrow_mut();
        if let Some(members) = slot.as_ref() {
            return Ok(members.clone());
        }
        let members = Members::open(DurableSql::of(&self.state)?)?;
        Ok(slot.insert(Rc::new(members)).clone())
    }

    /// Runs `f` on the topic's stream, opening it from storage on first use after a wake-up.
    fn with_stream<T>(
        &self,
        topic: &str,
        f: impl FnOnce(&mut Room<SqlStore<DurableSql>>) -> std::result::Result<T, StoreError>,
    ) -> Outcome<T> {
        let mut slot = self.stream.borrow_mut();
        let stream = match slot.take() {
            Some(stream) => slot.insert(stream),
            None => {
                let (settings, options) = self.options(topic)?;
                let store = SqlStore::open(
                    DurableSql::of(&self.state)?,
                    settings.room.fail_marker.clone(),
                )?;
                let history = options.history(settings.room.history);
                slot.insert(Room::open(store, history, new_epoch)?.for_topic(topic))
            }
        };
        Ok(f(stream)?)
    }

    /// A member joins for one socket; it gets `subscribed` and the first page of its replay.
    async fn join(&self, call: &JoinCall) -> Outcome<JoinAnswer> {
        let mut resume = ResumeRequest {
            since: call.since,
            epoch: call.epoch.clone(),
        };
        match (resume.since, call.since_key.as_deref()) {
            // Mercure's `earliest`: all the history the topic keeps.
            (None, Some(EARLIEST)) => resume.since = Some(0),
            // A Mercure `Last-Event-ID`: an event this topic holds, else another topic's
            // update (`mercure::resume_point`).
            (None, Some(key)) => {
                resume.since = self.with_stream(&call.topic, |stream| {
                    match named_event(stream, &call.topic, key)? {
                        Some(id) => Ok(Some(id)),
                        None => mercure::resume_point(key, call.since_key_ms, |ts| {
                            stream.last_id_before(ts)
                        }),
                    }
                })?;
            }
            _ => {}
        }
        let count = if call.fresh {
            Count::Add(1)
        } else {
            Count::AtLeast(1)
        };
        // No await between reading the head and counting: a relay either already counts this
        // member, or relays only events above `last_id`. Counted last, and nothing after it
        // fails the join: a join that fails was not counted, so its member sends no leave for
        // it (which would take another reader's count).
        let (greeting, last_id) = self.with_stream(&call.topic, |stream| {
            let greeting = stream.join(&resume, now_ms())?;
            Ok((greeting, stream.meta().last_id))
        })?;
        let change = self.count(&call.member, count)?;
        if call.fresh || change == MemberChange::Joined {
            let changes = [(&call.member, change)];
            if let Err(failure) = self.plan_notices(&call.topic, &changes).await {
                log(
                    "notices_failed",
                    &[("topic", call.topic.clone()), ("message", failure.message)],
                );
            }
        }
        Ok(JoinAnswer {
            first: greeting.first,
            last_id,
            replay: greeting.replay,
        })
    }

    /// When the topic stored the event a Mercure `Last-Event-ID` names: an update it stored, or
    /// one of its own events (`<topic>/<id>`).
    fn stored_at(&self, call: &StoredAtCall) -> Outcome<StoredAtAnswer> {
        let ms = self.with_stream(&call.topic, |stream| {
            named_event(stream, &call.topic, &call.last_event_id)?
                .map_or(Ok(None), |id| stream.stored_at(id))
        })?;
        Ok(StoredAtAnswer { ms })
    }

    /// A member's socket (or, with `all`, its last one) left.
    async fn leave(&self, call: &LeaveCall) -> Outcome<()> {
        let count = if call.all {
            Count::Set(0)
        } else {
            Count::Remove(1)
        };
        let change = self.count(&call.member, count)?;
        self.plan_notices(&call.topic, &[(&call.member, change)])
            .await
    }

    /// The Mercure templates registry (only the object named
    /// [`crate::mercure::TEMPLATES_OBJECT`] is asked): every selector subscribed to lately,
    /// after noting `add` if given. At most [`MAX_TEMPLATES`] are kept (every publish matches
    /// each of them); one nobody subscribed to for [`Self::templates_kept_ms`] is forgotten.
    fn templates(&self, add: Option<&str>) -> Outcome<TemplatesAnswer> {
        let now = now_ms();
        let keep_ms = self.templates_kept_ms()?;
        let templates = Templates::open(DurableSql::of(&self.state)?, now)?;
        let templates = match add {
            None => templates.live(now, keep_ms)?,
            Some(selector) => templates
                .see(selector, now, keep_ms, MAX_TEMPLATES)?
                .ok_or_else(|| {
                    RoomFailure::new(
                        ErrorCode::TooManySubscriptions,
                        format!(
                            "the hub keeps {MAX_TEMPLATES} template selectors, the most it \
                             matches every update against: subscribe to topics, or to a template \
                             already in use"
                        ),
                    )
                })?,
        };
        Ok(TemplatesAnswer { templates })
    }

    /// How long a template selector nobody subscribes to is kept: the history a template's
    /// topic keeps (a subscriber that comes back within it resumes what it missed), and at least
    /// two of a subscription's longest lives (an open subscription names it again each time its
    /// `EventSource` reconnects).
    fn templates_kept_ms(&self) -> Outcome<u64> {
        let topic =
            mercure::template_topic("*").map_err(|err| RoomFailure::new(err.code, err.message))?;
        let (settings, options) = self.options(topic.as_str())?;
        let history = options.history(settings.room.history).max_age_ms;
        let lifetime = settings
            .mercure
            .as_ref()
            .map_or(0, |hub| hub.max_connection_s.saturating_mul(2_000));
        Ok(history.max(lifetime))
    }

    /// Who is there.
    fn presence(&self, topic: &str) -> Outcome<TopicPresenceAnswer> {
        let (_, options) = self.options(topic)?;
        let members = self.members()?;
        let users = options.presence.then(|| {
            members
                .all()
                .unwrap_or_default()
                .iter()
                .filter_map(|(key, _)| match Member::from_key(key) {
                    Some(Member::Room(user)) => Some(user),
                    _ => None,
                })
                .collect()
        });
        Ok(TopicPresenceAnswer {
            occupancy: members.occupancy()?,
            users,
        })
    }

    /// Stores the events (durable before the answer), then relays the new ones to every
    /// member, one publish at a time.
    async fn publish(&self, call: TopicPublishCall) -> Outcome<PublishAnswer> {
        let _turn = self.relay.lock().await;
        let accepted =
            self.with_stream(&call.topic, |stream| stream.publish(&call.events, now_ms()))?;
        let events: Vec<Delivered> = accepted
            .iter()
            .filter_map(|a| match a {
                Accepted::Stored { id, frame } => Some(Delivered {
                    id: *id,
                    frame: frame.clone(),
                }),
                Accepted::Duplicate { .. } | Accepted::Conflict { .. } => None,
            })
            .collect();
        let relayed = if events.is_empty() {
            Ok((0, 0))
        } else {
            self.relay(DeliverCall {
                topic: call.topic.clone(),
                events,
                notices: Vec::new(),
            })
            .await
        };
        // The events are stored: a relay that failed is no failure of the publish (a retry
        // without a key would store them twice); readers get them when they resume.
        let (sockets, relays) = relayed.unwrap_or_else(|failure| {
            log(
                "relay_failed",
                &[("topic", call.topic.clone()), ("message", failure.message)],
            );
            (0, 0)
        });
        let outcomes = accepted
            .into_iter()
            .map(|a| match a {
                Accepted::Stored { id, .. } => RoomOutcome::Stored {
                    id,
                    sockets,
                    relays: Some(relays),
                },
                Accepted::Duplicate { id } => RoomOutcome::Duplicate { id },
                Accepted::Conflict { id } => RoomOutcome::Conflict { id },
            })
            .collect();
        Ok(PublishAnswer { outcomes })
    }

    /// Counts a member's join or leave, noting it for a relay under way.
    fn count(&self, member: &Member, count: Count) -> Outcome<MemberChange> {
        let key = member.key();
        let change = self.members()?.count(&key, count)?;
        if let Some(moved) = self.moved.borrow_mut().as_mut() {
            moved.insert(key);
        }
        Ok(change)
    }

    /// Sends the call to every member (a user's room, a shard) and corrects each member's
    /// socket count with its answer; a member where no socket listens any more is no member
    /// from now on. Returns the sockets reached and the members called.
    async fn relay(&self, call: DeliverCall) -> Outcome<(u32, u32)> {
        let members: Vec<Member> = self
            .members()?
            .all()?
            .iter()
            .filter_map(|(key, _)| Member::from_key(key))
            .collect();
        let topic = call.topic.clone();
        let to_room = RoomCall::<()>::Deliver(call.clone()).to_json();
        let to_shard = ShardCall::Deliver(call).to_json();
        // A member that misses the events has its readers find the gap only with the next
        // event; a delivery the runtime failed is sent once more (the SDK and the Mercure hub
        // drop an event they got twice).
        let deliver = |i: usize| match &members[i] {
            Member::Room(user) => {
                Object::Room(user).call_with::<DeliverAnswer>(&self.env, &to_room, Repeat::Harmless)
            }
            Member::Shard(shard) => Object::Shard(&topic, *shard).call_with::<DeliverAnswer>(
                &self.env,
                &to_shard,
                Repeat::Harmless,
            ),
        };
        *self.moved.borrow_mut() = Some(HashSet::new());
        let answers = join_all((0..members.len()).map(deliver)).await;
        let moved = self.moved.borrow_mut().take().unwrap_or_default();
        let mut sockets = 0;
        let mut changes = Vec::new();
        let store = self.members()?;
        for (member, answer) in members.iter().zip(answers) {
            match answer {
                // A join or leave came after the member answered, or is on its way from the
                // member: that call's count is newer.
                Ok(answer) if answer.underway || moved.contains(&member.key()) => {
                    sockets += answer.sockets
                }
                Ok(answer) => {
                    sockets += answer.sockets;
                    let change = store.count(&member.key(), Count::Set(answer.sockets.into()))?;
                    changes.push((member, change));
                }
                // The member stays: it may answer the next relay.
                Err(failure) => log(
                    "relay_failed",
                    &[("member", member.key()), ("message", failure.message)],
                ),
            }
        }
        self.plan_notices(&topic, &changes).await?;
        Ok((sockets, members.len() as u32))
    }

    /// Queues presence changes (namespaces with `presence`) and webhook events (namespaces with
    /// `webhooks`, when `WEBHOOK_URL` is set), and sets the alarm that sends them and the
    /// occupancy (namespaces with `occupancy_ms`), unless it is set already.
    async fn plan_notices(&self, topic: &str, changes: &[(&Member, MemberChange)]) -> Outcome<()> {
        let (settings, options) = self.options(topic)?;
        // Nothing changed (a relay whose members answered what the topic counted): no alarm.
        if !options.counts_sockets()
            || changes
                .iter()
                .all(|(_, change)| *change == MemberChange::Unchanged)
        {
            return Ok(());
        }
        let members = self.members()?;
        let mut now = false;
        if options.presence {
            for (member, change) in changes {
                let Member::Room(user) = member else { continue };
                let present = match change {
                    MemberChange::Joined => true,
                    MemberChange::Left => false,
                    MemberChange::Counted | MemberChange::Unchanged => continue,
                };
                members.note_presence(user, present)?;
                now = true;
            }
        }
        if options.webhooks && settings.webhooks.is_some() {
            now |= webhooks::queue(&members, changes, now_ms())?;
        }
        // Only a count changed, in a namespace that sends no counts: nothing to send.
        let Some(delay) = (if now { Some(0) } else { options.occupancy_ms }) else {
            return Ok(());
        };
        if members.notices()?.is_none() {
            members.set_notices(topic, 0)?;
        }
        self.plan_alarm(now_ms() + delay).await
    }

    /// Sets the alarm for `at`, unless it is set for earlier.
    async fn plan_alarm(&self, at: u64) -> Outcome<()> {
        let storage = self.state.storage();
        // An alarm due already may be the one running now, which read the state before this
        // change: plan another.
        let due = storage.get_alarm().await?;
        if due.is_none_or(|due| due > at as i64 || due <= now_ms() as i64) {
            storage.set_alarm(alarm_time(at)).await?;
        }
        Ok(())
    }

    /// The alarm: posts the queued webhook events, up to [`MAX_EVENTS_PER_DELIVERY`], in one
    /// signed request, once the backoff after a failed one is over. A failed delivery is retried
    /// later by the alarm (with what was queued meanwhile) until [`webhooks::retry_delay_ms`] gives up; then
    /// its events are dropped and logged, and the next ones get their own attempts. At most
    /// [`MAX_QUEUED_EVENTS`] are kept for a receiver that takes none.
    async fn deliver_webhooks(&self) -> Outcome<()> {
        let settings = self.settings()?;
        let Some(target) = settings.webhooks.as_ref() else {
            return Ok(());
        };
        let members = self.members()?;
        let due = members.webhook_state()?.retry_at;
        if due > now_ms() {
            // Woken for something else (a notice) during the backoff.
            return self.plan_alarm(due).await;
        }
        let dropped = members.trim_webhooks(MAX_QUEUED_EVENTS)?;
        if dropped > 0 {
            log("webhooks_dropped", &[("events", dropped.to_string())]);
        }
        let queued = members.webhooks(MAX_EVENTS_PER_DELIVERY)?;
        let (Some((last, _)), Some((topic, _))) = (queued.last(), members.notices()?) else {
            return Ok(());
        };
        let events = queued
            .iter()
            .filter_map(|(_, event)| serde_json::from_str(event).ok())
            .collect();
        let body = serde_json::to_string(&WebhookBody { topic, events })
            .map_err(|e| StoreError(e.to_string()))?;
        let posted = post_webhook(target, &body).await;
        // Read after the delivery: joins and leaves meanwhile may have changed `occupied`.
        let mut state = members.webhook_state()?;
        let now = now_ms();
        let attempt = state.attempts + 1;
        let retry = after_delivery(&mut state, posted.is_ok(), now);
        if let Err(problem) = posted {
            log(
                "webhook_failed",
                &[
                    ("attempts", attempt.to_string()),
                    ("dropped", retry.is_none().to_string()),
                    ("problem", problem),
                ],
            );
        }
        let next = match retry {
            Some(at) => Some(at),
            // Delivered, or given up on: the next events (if any) at once.
            None => {
                members.drop_webhooks(*last)?;
                (!members.webhooks(1)?.is_empty()).then_some(now)
            }
        };
        members.set_webhook_state(state)?;
        match next {
            Some(at) => self.plan_alarm(at).await,
            None => Ok(()),
        }
    }

    /// The alarm: sends the queued presence changes, and the occupancy if it changed since it
    /// was last sent. Nothing changed, nothing sent.
    async fn send_notices(&self) -> Outcome<()> {
        let members = self.members()?;
        let Some((topic, sent)) = members.notices()? else {
            return Ok(());
        };
        let (_, options) = self.options(&topic)?;
        let _turn = self.relay.lock().await;
        let frame = |frame: ServerFrame<()>| serde_json::to_string(&frame).unwrap_or_default();
        let mut notices: Vec<String> = members
            .take_presence()?
            .into_iter()
            .map(|(user, present)| {
                frame(ServerFrame::Presence(PresenceChange {
                    topic: topic.clone(),
                    user,
                    present,
                }))
            })
            .collect();
        let occupancy = members.occupancy()?;
        if options.occupancy_ms.is_some() && occupancy != sent {
            notices.push(frame(ServerFrame::Occupancy(Occupancy {
                topic: topic.clone(),
                count: occupancy,
            })));
            members.set_notices(&topic, occupancy)?;
        }
        if notices.is_empty() {
            return Ok(());
        }
        self.relay(DeliverCall {
            topic,
            events: Vec::new(),
            notices,
        })
        .await
        .map(drop)
    }
}

/// The id of the event a Mercure `Last-Event-ID` names in the topic: an update it stored under
/// that id, else one of its own events (`<topic>/<id>`).
fn named_event(
    stream: &Room<SqlStore<DurableSql>>,
    topic: &str,
    last_event_id: &str,
) -> std::result::Result<Option<u64>, StoreError> {
    let update = IdempotencyKey::Event(last_event_id.to_owned());
    Ok(stream
        .id_of_key(&update, now_ms())?
        .or_else(|| mercure::own_event_id(topic, last_event_id)))
}

/// Posts one webhook body to the target, signed; `Err` says why it failed.
async fn post_webhook(target: &WebhookTarget, body: &str) -> std::result::Result<(), String> {
    let headers = Headers::new();
    let signature = target.signature((now_ms() / 1000) as i64, body);
    headers
        .set("Content-Type", "application/json")
        .and_then(|()| headers.set(SIGNATURE_HEADER, &signature))
        .map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request = Request::new_with_init(target.url(), &init).map_err(|e| e.to_string())?;
    // A receiver that never answers would hold the topic's alarm, its notices included.
    let abort = AbortController::default();
    let signal = abort.signal();
    let fetch = Fetch::Request(request);
    let send = std::pin::pin!(fetch.send_with_signal(&signal));
    let timeout = Delay::from(Duration::from_millis(DELIVERY_TIMEOUT_MS));
    let response = match select(send, timeout).await {
        Either::Left((response, _)) => response.map_err(|e| e.to_string())?,
        Either::Right(_) => {
            abort.abort();
            return Err(format!(
                "{} did not answer within {DELIVERY_TIMEOUT_MS} ms",
                target.url()
            ));
        }
    };
    match response.status_code() {
        200..=299 => Ok(()),
        status => Err(format!("{} answered {status}", target.url())),
    }
}
