//! The handler registry: who listens to what, and delivering a [`Notice`] to them.
//!
//! The Rust face's handlers: every one, typed or not, has one shape (`FnMut(Notice) -> Result<(),
//! Error>`), so that dispatch is one loop; an error a handler returns goes to the client's error
//! handlers. Generic over the event payload `P` (a parsed JS object in the client), so it is
//! tested natively. The JS face keeps its handlers in JS with the same semantics
//! (`client-sdk/js/client.js`, tested by `client-sdk/tests/js/client.test.mjs`); the JS package
//! does not link this registry, only its [`Notice`]s.
//!
//! A handler belongs to the client or to one topic subscription ([`Scope`]): a topic's events,
//! resyncs and refusals reach only the handlers of that topic's subscriptions, everything else
//! only the client's.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use edgepush_protocol::frames::{ErrorBody, EventFrame, Occupancy, PresenceChange, Unsubscribed};

use crate::connection::State;
use crate::error::Error;

/// What a handler listens to.
// Without `std` the Rust face has no event handlers (they decode payloads with serde), and the
// JS face keeps its handlers in JS.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub(crate) enum HandlerKind {
    /// Events with this name.
    Named(String),
    /// Events no `Named` handler listens to.
    Unknown,
    /// State changes.
    State,
    /// Errors; for a subscription, its refusal by the server.
    Error,
    /// Unrecoverable gaps.
    Resync,
    /// A topic's viewer counts (subscriptions only).
    Occupancy,
    /// Users coming to and leaving a topic (subscriptions only).
    Presence,
}

/// The subscription a handler belongs to: its topic and the app's handle.
pub(crate) struct Scope {
    pub(crate) topic: String,
    pub(crate) handle: u32,
}

/// What a handler receives.
pub(crate) enum Notice<'a, P> {
    /// An event: of the user's stream, or of its `topic`. For the handlers of the topic's
    /// subscriptions when the flag is set, else for the client's (the user's stream, or a topic
    /// the backend subscribed the user to).
    Event(&'a EventFrame<P>, bool),
    State(&'a State),
    Error(&'a Error),
    /// Events were lost for good: of the user's stream (`None`) or of this topic.
    Resync(Option<&'a str>),
    /// The server refused or ended a topic's subscription.
    Unsubscribed(&'a Unsubscribed),
    /// A topic's viewer count.
    Occupancy(&'a Occupancy),
    /// A user came to or left a topic.
    Presence(&'a PresenceChange),
}

impl<P> Notice<'_, P> {
    /// The topic whose subscriptions hear it; `None`: the client's handlers.
    pub(crate) fn topic(&self) -> Option<&str> {
        match self {
            Self::Event(event, true) => event.topic.as_deref(),
            Self::Event(_, false) => None,
            Self::Resync(topic) => *topic,
            Self::Unsubscribed(refusal) => Some(&refusal.topic),
            Self::Occupancy(occupancy) => Some(&occupancy.topic),
            Self::Presence(presence) => Some(&presence.topic),
            Self::State(_) | Self::Error(_) => None,
        }
    }
}

// Not derived: a derive would require `P: Copy`, and a notice only holds references.
impl<P> Clone for Notice<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Notice<'_, P> {}

type Handler<P> = Rc<RefCell<dyn FnMut(Notice<'_, P>) -> Result<(), Error>>>;
/// A registered handler: its id (from [`Handlers::add`]), scope, kind and function.
type Entry<P> = (u32, Option<Scope>, HandlerKind, Handler<P>);

/// Every registered handler, in registration order.
///
/// Invariant: the list is borrowed only inside [`add`](Self::add), [`notify`](Self::notify) and
/// [`remove`](Self::remove), never while a handler runs (`notify` copies out the handlers it
/// calls), so a handler may register or remove handlers. A handler removed while a notice is
/// being delivered is not called for it any more. A handler runs only from `notify`, and the
/// client never notifies re-entrantly (inputs a handler causes are queued), so no handler is
/// called while it is already running.
pub(crate) struct Handlers<P> {
    list: RefCell<Vec<Entry<P>>>,
    /// The id of the last handler registered.
    last_id: Cell<u32>,
}

impl<P> Handlers<P> {
    pub(crate) fn new() -> Self {
        Self {
            list: RefCell::new(Vec::new()),
            last_id: Cell::new(0),
        }
    }

    /// Registers `handler` for notices of `kind`, of the client (`scope` `None`) or of a
    /// subscription; returns its id, for [`remove_handler`](Self::remove_handler).
    pub(crate) fn add(
        &self,
        scope: Option<Scope>,
        kind: HandlerKind,
        handler: impl FnMut(Notice<'_, P>) -> Result<(), Error> + 'static,
    ) -> u32 {
        let id = self.last_id.get().wrapping_add(1);
        self.last_id.set(id);
        let list = self.list.try_borrow_mut();
        debug_assert!(list.is_ok(), "handlers are never borrowed while one runs");
        if let Ok(mut list) = list {
            list.push((id, scope, kind, Rc::new(RefCell::new(handler))));
        }
        id
    }

    /// Removes every handler and hands them back, to be dropped outside the registry.
    pub(crate) fn take(&self) -> Vec<Entry<P>> {
        self.remove(&|_, _| true)
    }

    /// Removes the handler `id` (a no-op when it is gone already) and drops it.
    pub(crate) fn remove_handler(&self, id: u32) {
        drop(self.remove(&|entry, _| entry == id));
    }

    /// Removes the handlers whose id and scope `unwanted` picks and hands them back, to be
    /// dropped outside the registry. (A `dyn` predicate: one copy of the loop in the wasm.)
    pub(crate) fn remove(&self, unwanted: &dyn Fn(u32, Option<&Scope>) -> bool) -> Vec<Entry<P>> {
        let list = self.list.try_borrow_mut();
        debug_assert!(list.is_ok(), "handlers are never borrowed while one runs");
        let Ok(mut list) = list else {
            return Vec::new();
        };
        list.extract_if(.., |(id, scope, _, _)| unwanted(*id, scope.as_ref()))
            .collect()
    }

    /// Calls the handlers listening to `notice` in its scope: an event goes to the handlers of its
    /// name, or to the `Unknown` ones when it has none. An error a handler returns goes to the
    /// client's error handlers; an error nobody listens to goes to `unheard`, and a refusal whose
    /// subscriptions have no error handler goes to the client's error handlers.
    pub(crate) fn notify(&self, notice: Notice<'_, P>, unheard: &impl Fn(&Error)) {
        let topic = notice.topic();
        let targets: Vec<Handler<P>> = {
            let list = self.list.try_borrow();
            debug_assert!(list.is_ok(), "handlers are never borrowed while one runs");
            let Ok(list) = list else { return };
            let select = |wanted: &dyn Fn(&HandlerKind) -> bool| -> Vec<Handler<P>> {
                list.iter()
                    .filter(|(_, scope, kind, _)| {
                        scope.as_ref().map(|scope| scope.topic.as_str()) == topic && wanted(kind)
                    })
                    .map(|(_, _, _, handler)| handler.clone())
                    .collect()
            };
            match notice {
                Notice::Event(event, _) => {
                    let named =
                        select(&|k| matches!(k, HandlerKind::Named(name) if *name == event.name));
                    if named.is_empty() {
                        select(&|k| matches!(k, HandlerKind::Unknown))
                    } else {
                        named
                    }
                }
                Notice::State(_) => select(&|k| matches!(k, HandlerKind::State)),
                Notice::Error(_) | Notice::Unsubscribed(_) => {
                    select(&|k| matches!(k, HandlerKind::Error))
                }
                Notice::Resync(_) => select(&|k| matches!(k, HandlerKind::Resync)),
                Notice::Occupancy(_) => select(&|k| matches!(k, HandlerKind::Occupancy)),
                Notice::Presence(_) => select(&|k| matches!(k, HandlerKind::Presence)),
            }
        };
        if targets.is_empty() {
            match notice {
                Notice::Error(error) => unheard(error),
                Notice::Unsubscribed(Unsubscribed {
                    error: ErrorBody { code, message, .. },
                    ..
                }) => self.notify(
                    Notice::Error(&Error::Server {
                        code: code.clone(),
                        message: message.clone(),
                    }),
                    unheard,
                ),
                _ => {}
            }
        }
        for handler in targets {
            // Only this copy is left: a handler called before it removed it (and dropped it).
            if Rc::strong_count(&handler) == 1 {
                continue;
            }
            let handler = handler.try_borrow_mut();
            debug_assert!(handler.is_ok(), "a handler is never called while it runs");
            let result = match handler {
                Ok(mut handler) => handler(notice),
                Err(_) => Ok(()),
            };
            // An error handler's own failure has nobody left to go to.
            if let (Err(error), false) = (result, matches!(notice, Notice::Error(_))) {
                self.notify(Notice::Error(&error), unheard);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    type Log = Rc<RefCell<Vec<String>>>;

    /// A handler that logs `label: what it saw` and fails when told to.
    fn logger(
        log: &Log,
        label: &'static str,
        fail: bool,
    ) -> impl FnMut(Notice<'_, u32>) -> Result<(), Error> + 'static {
        let log = log.clone();
        move |notice| {
            let seen = match notice {
                Notice::Event(event, _) => match &event.topic {
                    Some(topic) => format!("{topic} {} {}", event.name, event.payload),
                    None => format!("{} {}", event.name, event.payload),
                },
                Notice::State(state) => state.name().to_string(),
                Notice::Error(error) => error.code().to_string(),
                Notice::Resync(None) => "resync".to_string(),
                Notice::Resync(Some(topic)) => format!("resync {topic}"),
                Notice::Unsubscribed(refusal) => {
                    format!("unsubscribed {} {}", refusal.topic, refusal.error.code)
                }
                Notice::Occupancy(occupancy) => {
                    format!("occupancy {} {}", occupancy.topic, occupancy.count)
                }
                Notice::Presence(presence) => {
                    format!(
                        "presence {} {} {}",
                        presence.topic, presence.user, presence.present
                    )
                }
            };
            log.borrow_mut().push(format!("{label}: {seen}"));
            if fail {
                return Err(Error::Handler {
                    reason: label.to_string(),
                });
            }
            Ok(())
        }
    }

    fn event(name: &str, payload: u32) -> EventFrame<u32> {
        EventFrame {
            topic: None,
            id: 1,
            name: name.into(),
            payload,
            ts: 0,
        }
    }

    fn notify(handlers: &Handlers<u32>, notice: Notice<'_, u32>) -> Vec<String> {
        let unheard = RefCell::new(Vec::new());
        handlers.notify(notice, &|error: &Error| {
            unheard.borrow_mut().push(error.code().to_string())
        });
        unheard.into_inner()
    }

    #[test]
    fn events_go_to_the_handlers_of_their_name_in_order_else_to_unknown() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            None,
            HandlerKind::Named("A".into()),
            logger(&log, "a1", false),
        );
        handlers.add(None, HandlerKind::Unknown, logger(&log, "unknown", false));
        handlers.add(
            None,
            HandlerKind::Named("A".into()),
            logger(&log, "a2", false),
        );
        handlers.add(None, HandlerKind::State, logger(&log, "state", false));
        notify(&handlers, Notice::Event(&event("A", 1), false));
        notify(&handlers, Notice::Event(&event("B", 2), false));
        assert_eq!(*log.borrow(), ["a1: A 1", "a2: A 1", "unknown: B 2"]);
    }

    #[test]
    fn each_kind_of_notice_reaches_only_its_handlers() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(None, HandlerKind::State, logger(&log, "state", false));
        handlers.add(None, HandlerKind::Error, logger(&log, "error", false));
        handlers.add(None, HandlerKind::Resync, logger(&log, "resync", false));
        notify(&handlers, Notice::State(&State::Open));
        notify(
            &handlers,
            Notice::Error(&Error::TokenExpired { stopped: true }),
        );
        notify(&handlers, Notice::Resync(None));
        assert_eq!(
            *log.borrow(),
            ["state: open", "error: token_expired", "resync: resync"]
        );
    }

    #[test]
    fn a_failing_handler_is_reported_to_the_error_handlers_and_the_others_still_run() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            None,
            HandlerKind::Named("A".into()),
            logger(&log, "fails", true),
        );
        handlers.add(
            None,
            HandlerKind::Named("A".into()),
            logger(&log, "after", false),
        );
        handlers.add(None, HandlerKind::Error, logger(&log, "error", false));
        let unheard = notify(&handlers, Notice::Event(&event("A", 1), false));
        assert_eq!(
            *log.borrow(),
            ["fails: A 1", "error: handler_threw", "after: A 1"]
        );
        assert!(unheard.is_empty());
    }

    #[test]
    fn errors_nobody_hears_go_to_the_fallback_even_from_a_failing_handler() {
        let handlers = Handlers::new();
        assert_eq!(
            notify(
                &handlers,
                Notice::Error(&Error::TokenExpired { stopped: true })
            ),
            ["token_expired"]
        );
        handlers.add(
            None,
            HandlerKind::Resync,
            logger(&Log::default(), "x", true),
        );
        assert_eq!(notify(&handlers, Notice::Resync(None)), ["handler_threw"]);
    }

    #[test]
    fn a_failing_error_handler_does_not_loop() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(None, HandlerKind::Error, logger(&log, "error", true));
        let unheard = notify(
            &handlers,
            Notice::Error(&Error::TokenExpired { stopped: true }),
        );
        assert_eq!(*log.borrow(), ["error: token_expired"]);
        assert!(unheard.is_empty());
    }

    #[test]
    fn a_handler_may_register_handlers_which_hear_the_next_notice() {
        let handlers = Rc::new(Handlers::<u32>::new());
        let log = Log::default();
        let (inner, registry) = (log.clone(), Rc::downgrade(&handlers));
        handlers.add(None, HandlerKind::State, move |_| {
            if let Some(registry) = registry.upgrade() {
                registry.add(None, HandlerKind::State, logger(&inner, "late", false));
            }
            Ok(())
        });
        notify(&handlers, Notice::State(&State::Open));
        assert!(log.borrow().is_empty());
        notify(&handlers, Notice::State(&State::Offline));
        assert_eq!(*log.borrow(), ["late: offline"]);
    }

    #[test]
    fn take_empties_the_registry() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(None, HandlerKind::Resync, logger(&log, "resync", false));
        assert_eq!(handlers.take().len(), 1);
        notify(&handlers, Notice::Resync(None));
        assert!(log.borrow().is_empty());
    }

    fn scope(topic: &str, handle: u32) -> Option<Scope> {
        Some(Scope {
            topic: topic.into(),
            handle,
        })
    }

    fn topic_event(topic: &str, name: &str, payload: u32) -> EventFrame<u32> {
        EventFrame {
            topic: Some(topic.into()),
            ..event(name, payload)
        }
    }

    fn refusal(topic: &str) -> Unsubscribed {
        Unsubscribed {
            topic: topic.into(),
            error: ErrorBody {
                code: "topic_forbidden".into(),
                message: "not yours".into(),
                retry_after_ms: None,
            },
        }
    }

    #[test]
    fn topic_notices_reach_only_the_handlers_of_their_topic() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            None,
            HandlerKind::Named("P".into()),
            logger(&log, "client", false),
        );
        handlers.add(
            None,
            HandlerKind::Unknown,
            logger(&log, "client unknown", false),
        );
        handlers.add(
            None,
            HandlerKind::Resync,
            logger(&log, "client resync", false),
        );
        handlers.add(
            None,
            HandlerKind::Error,
            logger(&log, "client error", false),
        );
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Named("P".into()),
            logger(&log, "h1", false),
        );
        handlers.add(
            scope("a:1", 2),
            HandlerKind::Named("P".into()),
            logger(&log, "h2", false),
        );
        handlers.add(
            scope("a:2", 3),
            HandlerKind::Named("P".into()),
            logger(&log, "h3", false),
        );
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Resync,
            logger(&log, "h1 resync", false),
        );
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Error,
            logger(&log, "h1 error", false),
        );
        notify(&handlers, Notice::Event(&topic_event("a:1", "P", 1), true));
        notify(&handlers, Notice::Event(&topic_event("a:1", "Q", 2), true));
        notify(&handlers, Notice::Event(&topic_event("a:3", "P", 3), true));
        notify(&handlers, Notice::Event(&event("P", 4), false));
        notify(&handlers, Notice::Resync(Some("a:1")));
        notify(&handlers, Notice::Resync(None));
        notify(&handlers, Notice::Unsubscribed(&refusal("a:1")));
        assert_eq!(
            *log.borrow(),
            [
                "h1: a:1 P 1",
                "h2: a:1 P 1",
                "client: P 4",
                "h1 resync: resync a:1",
                "client resync: resync",
                "h1 error: unsubscribed a:1 topic_forbidden",
            ]
        );
    }

    #[test]
    fn a_refusal_nobody_in_the_topic_hears_goes_to_the_clients_error_handlers() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Named("P".into()),
            logger(&log, "h1", false),
        );
        assert_eq!(
            notify(&handlers, Notice::Unsubscribed(&refusal("a:1"))),
            ["server_error"],
            "to the fallback without any error handler"
        );
        handlers.add(None, HandlerKind::Error, move |notice| {
            if let Notice::Error(error) = notice {
                log.borrow_mut().push(error.message());
            }
            Ok(())
        });
        let unheard = notify(&handlers, Notice::Unsubscribed(&refusal("a:1")));
        assert!(unheard.is_empty());
    }

    #[test]
    fn a_failing_topic_handler_is_reported_to_the_clients_error_handlers() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Named("P".into()),
            logger(&log, "h1", true),
        );
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Error,
            logger(&log, "h1 error", false),
        );
        handlers.add(
            None,
            HandlerKind::Error,
            logger(&log, "client error", false),
        );
        notify(&handlers, Notice::Event(&topic_event("a:1", "P", 1), true));
        assert_eq!(
            *log.borrow(),
            ["h1: a:1 P 1", "client error: handler_threw"]
        );
    }

    #[test]
    fn remove_drops_the_handlers_of_one_handle_or_one_topic() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            scope("a:1", 1),
            HandlerKind::Named("P".into()),
            logger(&log, "h1", false),
        );
        handlers.add(
            scope("a:1", 2),
            HandlerKind::Named("P".into()),
            logger(&log, "h2", false),
        );
        handlers.add(
            scope("a:2", 3),
            HandlerKind::Named("P".into()),
            logger(&log, "h3", false),
        );
        handlers.add(None, HandlerKind::State, logger(&log, "state", false));
        let removed = handlers.remove(&|_, scope| scope.is_some_and(|s| s.handle == 1));
        assert_eq!(removed.len(), 1);
        notify(&handlers, Notice::Event(&topic_event("a:1", "P", 1), true));
        let removed = handlers.remove(&|_, scope| scope.is_some_and(|s| s.topic == "a:1"));
        assert_eq!(removed.len(), 1);
        notify(&handlers, Notice::Event(&topic_event("a:1", "P", 2), true));
        notify(&handlers, Notice::Event(&topic_event("a:2", "P", 3), true));
        notify(&handlers, Notice::State(&State::Open));
        assert_eq!(*log.borrow(), ["h2: a:1 P 1", "h3: a:2 P 3", "state: open"]);
    }

    #[test]
    fn viewer_counts_and_presence_reach_only_their_topics_handlers_of_that_kind() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            scope("live:x", 1),
            HandlerKind::Occupancy,
            logger(&log, "h1", false),
        );
        handlers.add(
            scope("live:x", 1),
            HandlerKind::Presence,
            logger(&log, "h1", false),
        );
        handlers.add(
            scope("live:y", 2),
            HandlerKind::Occupancy,
            logger(&log, "h2", false),
        );
        handlers.add(None, HandlerKind::Unknown, logger(&log, "client", false));
        let count = |topic: &str, count| Occupancy {
            topic: topic.into(),
            count,
        };
        let presence = PresenceChange {
            topic: "live:x".into(),
            user: "42".into(),
            present: true,
        };
        notify(&handlers, Notice::Occupancy(&count("live:x", 3)));
        notify(&handlers, Notice::Occupancy(&count("live:z", 4)));
        notify(&handlers, Notice::Presence(&presence));
        notify(&handlers, Notice::Occupancy(&count("live:y", 2)));
        assert_eq!(
            *log.borrow(),
            [
                "h1: occupancy live:x 3",
                "h1: presence live:x 42 true",
                "h2: occupancy live:y 2"
            ]
        );
    }

    #[test]
    fn events_of_a_topic_the_backend_subscribed_go_to_the_clients_handlers_with_their_topic() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(
            scope("feed:all", 1),
            HandlerKind::Named("P".into()),
            logger(&log, "subscription", false),
        );
        handlers.add(
            None,
            HandlerKind::Named("P".into()),
            logger(&log, "client", false),
        );
        notify(
            &handlers,
            Notice::Event(&topic_event("orders:#42", "P", 1), false),
        );
        notify(
            &handlers,
            Notice::Event(&topic_event("feed:all", "P", 2), true),
        );
        assert_eq!(
            *log.borrow(),
            ["client: orders:#42 P 1", "subscription: feed:all P 2"]
        );
    }

    #[test]
    fn a_removed_handler_hears_nothing_more_and_the_others_still_do() {
        let log = Log::default();
        let handlers = Handlers::new();
        let first = handlers.add(None, HandlerKind::State, logger(&log, "first", false));
        let second = handlers.add(None, HandlerKind::State, logger(&log, "second", false));
        let named = handlers.add(
            scope("a:1", 1),
            HandlerKind::Named("P".into()),
            logger(&log, "topic", false),
        );
        assert!(
            first != second && second != named,
            "every handler has its own id"
        );
        notify(&handlers, Notice::State(&State::Open));
        handlers.remove_handler(first);
        notify(&handlers, Notice::State(&State::Offline));
        handlers.remove_handler(first);
        handlers.remove_handler(named);
        notify(&handlers, Notice::State(&State::Open));
        notify(&handlers, Notice::Event(&topic_event("a:1", "P", 1), true));
        assert_eq!(
            *log.borrow(),
            [
                "first: open",
                "second: open",
                "second: offline",
                "second: open"
            ]
        );
    }

    #[test]
    fn a_handler_removed_by_an_earlier_one_is_not_called_for_the_same_notice() {
        let handlers = Rc::new(Handlers::<u32>::new());
        let log = Log::default();
        let registry = Rc::downgrade(&handlers);
        let later = Rc::new(Cell::new(0));
        let (inner, target) = (log.clone(), later.clone());
        handlers.add(None, HandlerKind::Resync, move |_| {
            inner.borrow_mut().push("remover".into());
            if let Some(registry) = registry.upgrade() {
                registry.remove_handler(target.get());
            }
            Ok(())
        });
        later.set(handlers.add(None, HandlerKind::Resync, logger(&log, "removed", false)));
        handlers.add(None, HandlerKind::Resync, logger(&log, "kept", false));
        notify(&handlers, Notice::Resync(None));
        notify(&handlers, Notice::Resync(None));
        assert_eq!(
            *log.borrow(),
            ["remover", "kept: resync", "remover", "kept: resync"]
        );
    }

    #[test]
    fn a_handler_may_remove_itself_while_it_runs() {
        let handlers = Rc::new(Handlers::<u32>::new());
        let calls = Rc::new(Cell::new(0));
        let (registry, own_id, count) = (
            Rc::downgrade(&handlers),
            Rc::new(Cell::new(0)),
            calls.clone(),
        );
        let id = own_id.clone();
        own_id.set(handlers.add(None, HandlerKind::State, move |_| {
            count.set(count.get() + 1);
            if let Some(registry) = registry.upgrade() {
                registry.remove_handler(id.get());
            }
            Ok(())
        }));
        notify(&handlers, Notice::State(&State::Open));
        notify(&handlers, Notice::State(&State::Offline));
        assert_eq!(calls.get(), 1);
        assert!(handlers.take().is_empty());
    }
}
