//! The Durable Object shell around a topic's stream: one per topic, named by the topic. It
//! stores the topic's events like a user's room stores the user's ([`Room`], SQLite, ids, epoch,
//! idempotency keys), keeps the topic's members (the rooms of users with a subscribed socket,
//! and the topic's shards that hold sockets), and relays each publish to them
//! (`docs/topics.md`). It holds no socket and sets no timer: an idle topic costs nothing.

use std::cell::RefCell;
use std::collections::BTreeSet;

use edgepush_protocol::topic::Topic;
use futures_util::future::join_all;
use futures_util::lock::Mutex;
use worker::{DurableObject, Env, Request, Response, Result, State, durable_object};

use crate::config::RoomSettings;
use crate::history::StoreError;
use crate::internal::{
    DeliverAnswer, DeliverCall, Delivered, JoinAnswer, JoinCall, Member, PublishAnswer, RoomCall,
    RoomOutcome, ShardCall, TopicCall, TopicPublishCall,
};
use crate::objects::{Object, Outcome, json, settings_from, to_response};
use crate::room::{Accepted, ResumeRequest, Room};
use crate::runtime::{DurableSql, log, new_epoch, now_ms};
use crate::sql_store::{Members, SqlStore};

/// The per-topic Durable Object.
#[durable_object]
pub struct TopicObject {
    state: State,
    env: Env,
    stream: RefCell<Option<Room<SqlStore<DurableSql>>>>,
    members: RefCell<Option<BTreeSet<Member>>>,
    /// Held while a publish is stored and relayed: the next one waits, so every room gets the
    /// topic's events in id order.
    relay: Mutex<()>,
}

impl DurableObject for TopicObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            stream: RefCell::new(None),
            members: RefCell::new(None),
            relay: Mutex::new(()),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let answered = match TopicCall::from_json(&req.text().await?) {
            Ok(TopicCall::Publish(call)) => self.publish(call).await.map(|a| json(&a)),
            Ok(TopicCall::Join(call)) => self.join(&call).map(|a| json(&a)),
            Ok(TopicCall::Replay(call)) => self
                .with_stream(&call.topic, |stream| stream.replay_after(call.after))
                .map(|page| json(&page)),
            Ok(TopicCall::Leave(call)) => self
                .change_members(|members| members.remove(&call.member.key()))
                .map(|()| json(&serde_json::json!({}))),
            Err(failure) => Err(failure),
        };
        to_response(answered)
    }
}

impl TopicObject {
    fn settings(&self) -> Outcome<RoomSettings> {
        settings_from(&self.env)
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
                let settings = self.settings()?;
                let parsed = Topic::parse(topic).map_err(|problem| {
                    StoreError(format!("a call named the topic {topic:?}: {problem}"))
                })?;
                let history = settings
                    .namespaces
                    .options(&parsed)
                    .map(|options| options.history(settings.history))
                    .unwrap_or(settings.history);
                let store = SqlStore::open(DurableSql::of(&self.state)?, settings.fail_marker)?;
                slot.insert(Room::open(store, history, new_epoch)?.for_topic(topic))
            }
        };
        Ok(f(stream)?)
    }

    /// Applies `change` to the members, in storage and in the cached set.
    fn change_members(
        &self,
        change: impl FnOnce(&Members<DurableSql>) -> std::result::Result<(), StoreError>,
    ) -> Outcome<()> {
        let members = Members::open(DurableSql::of(&self.state)?)?;
        change(&members)?;
        *self.members.borrow_mut() = Some(read_members(&members)?);
        Ok(())
    }

    fn members(&self) -> Outcome<BTreeSet<Member>> {
        if let Some(members) = self.members.borrow().as_ref() {
            return Ok(members.clone());
        }
        let members = read_members(&Members::open(DurableSql::of(&self.state)?)?)?;
        *self.members.borrow_mut() = Some(members.clone());
        Ok(members)
    }

    /// A room's user becomes a member; it gets `subscribed` and the first page of its replay.
    fn join(&self, call: &JoinCall) -> Outcome<JoinAnswer> {
        let resume = ResumeRequest {
            since: call.since,
            epoch: call.epoch.clone(),
        };
        // No await between joining and reading the head: a relay either already counts this
        // member, or relays only events above `last_id`.
        self.change_members(|members| members.add(&call.member.key()))?;
        let (greeting, last_id) = self.with_stream(&call.topic, |stream| {
            let greeting = stream.join(&resume, now_ms())?;
            Ok((greeting, stream.meta().last_id))
        })?;
        Ok(JoinAnswer {
            first: greeting.first,
            last_id,
            replay: greeting.replay,
        })
    }

    /// Stores the events (durable before the answer), then relays the new ones to every
    /// member's room, one publish at a time.
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
        let (sockets, relays) = if events.is_empty() {
            (0, 0)
        } else {
            self.relay(DeliverCall {
                topic: call.topic.clone(),
                events,
            })
            .await?
        };
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

    /// Sends the events to every member (a user's room, a shard); a member where no socket
    /// listens any more is no member from now on. Returns the sockets reached and the members
    /// called.
    async fn relay(&self, call: DeliverCall) -> Outcome<(u32, u32)> {
        let members = self.members()?;
        let topic = call.topic.clone();
        let to_room = RoomCall::<()>::Deliver(call.clone()).to_json();
        let to_shard = ShardCall::Deliver(call).to_json();
        let answers = join_all(members.iter().map(|member| match member {
            Member::Room(user) => Object::Room(user).call::<DeliverAnswer>(&self.env, &to_room),
            Member::Shard(shard) => {
                Object::Shard(&topic, *shard).call::<DeliverAnswer>(&self.env, &to_shard)
            }
        }))
        .await;
        let mut sockets = 0;
        let mut gone = Vec::new();
        for (member, answer) in members.iter().zip(answers) {
            match answer {
                Ok(DeliverAnswer { sockets: 0 }) => gone.push(member.key()),
                Ok(answer) => sockets += answer.sockets,
                // The member stays: it may answer the next relay.
                Err(failure) => log(
                    "relay_failed",
                    &[("member", member.key()), ("message", failure.message)],
                ),
            }
        }
        if !gone.is_empty() {
            self.change_members(|members| gone.iter().try_for_each(|key| members.remove(key)))?;
        }
        Ok((sockets, members.len() as u32))
    }
}

/// The members in storage; a key that is no member (none is written) is skipped.
fn read_members(
    members: &Members<DurableSql>,
) -> std::result::Result<BTreeSet<Member>, StoreError> {
    Ok(members
        .all()?
        .iter()
        .filter_map(|key| Member::from_key(key))
        .collect())
}
