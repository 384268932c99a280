//! The handler registry: who listens to what, and delivering a [`Notice`] to them.
//!
//! Every handler, typed Rust or JS, has one shape (`FnMut(Notice) -> Result<(), Error>`), so that
//! dispatch is one loop; an error a handler returns goes to the error handlers. Generic over the
//! event payload `P` (a parsed JS object in the client), so it is tested natively.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use edgepush_protocol::frames::EventFrame;

use crate::connection::State;
use crate::error::Error;

/// What a handler listens to.
pub(crate) enum HandlerKind {
    /// Events with this name.
    Named(String),
    /// Events no `Named` handler listens to.
    Unknown,
    /// State changes.
    State,
    /// Errors.
    Error,
    /// Unrecoverable gaps.
    Resync,
}

/// What a handler receives.
pub(crate) enum Notice<'a, P> {
    Event(&'a EventFrame<P>),
    State(&'a State),
    Error(&'a Error),
    Resync,
}

// Not derived: a derive would require `P: Copy`, and a notice only holds references.
impl<P> Clone for Notice<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Notice<'_, P> {}

type Handler<P> = Rc<RefCell<dyn FnMut(Notice<'_, P>) -> Result<(), Error>>>;

/// Every registered handler, in registration order.
///
/// Invariant: the list is borrowed only inside [`add`](Self::add), [`notify`](Self::notify) and
/// [`take`](Self::take), never while a handler runs (`notify` copies out the handlers it calls),
/// so a handler may register more handlers. A handler runs only from `notify`, and the client
/// never notifies re-entrantly (inputs a handler causes are queued), so no handler is called
/// while it is already running.
pub(crate) struct Handlers<P> {
    list: RefCell<Vec<(HandlerKind, Handler<P>)>>,
}

impl<P> Handlers<P> {
    pub(crate) fn new() -> Self {
        Self {
            list: RefCell::new(Vec::new()),
        }
    }

    /// Registers `handler` for notices of `kind`.
    pub(crate) fn add(
        &self,
        kind: HandlerKind,
        handler: impl FnMut(Notice<'_, P>) -> Result<(), Error> + 'static,
    ) {
        let list = self.list.try_borrow_mut();
        debug_assert!(list.is_ok(), "handlers are never borrowed while one runs");
        if let Ok(mut list) = list {
            list.push((kind, Rc::new(RefCell::new(handler))));
        }
    }

    /// Removes every handler and hands them back, to be dropped outside the registry.
    pub(crate) fn take(&self) -> Vec<(HandlerKind, Handler<P>)> {
        let list = self.list.try_borrow_mut();
        debug_assert!(list.is_ok(), "handlers are never borrowed while one runs");
        list.map(|mut list| core::mem::take(&mut *list))
            .unwrap_or_default()
    }

    /// Calls the handlers listening to `notice`: an event goes to the handlers of its name, or to
    /// the `Unknown` ones when it has none. An error a handler returns goes to the error handlers;
    /// an error nobody listens to goes to `unheard`.
    pub(crate) fn notify(&self, notice: Notice<'_, P>, unheard: &impl Fn(&Error)) {
        let targets: Vec<Handler<P>> = {
            let list = self.list.try_borrow();
            debug_assert!(list.is_ok(), "handlers are never borrowed while one runs");
            let Ok(list) = list else { return };
            let select = |wanted: &dyn Fn(&HandlerKind) -> bool| -> Vec<Handler<P>> {
                list.iter()
                    .filter(|(kind, _)| wanted(kind))
                    .map(|(_, handler)| handler.clone())
                    .collect()
            };
            match notice {
                Notice::Event(event) => {
                    let named =
                        select(&|k| matches!(k, HandlerKind::Named(name) if *name == event.name));
                    if named.is_empty() {
                        select(&|k| matches!(k, HandlerKind::Unknown))
                    } else {
                        named
                    }
                }
                Notice::State(_) => select(&|k| matches!(k, HandlerKind::State)),
                Notice::Error(_) => select(&|k| matches!(k, HandlerKind::Error)),
                Notice::Resync => select(&|k| matches!(k, HandlerKind::Resync)),
            }
        };
        if let Notice::Error(error) = notice
            && targets.is_empty()
        {
            unheard(error);
        }
        for handler in targets {
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
                Notice::Event(event) => format!("{} {}", event.name, event.payload),
                Notice::State(state) => state.name().to_string(),
                Notice::Error(error) => error.code().to_string(),
                Notice::Resync => "resync".to_string(),
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
        handlers.add(HandlerKind::Named("A".into()), logger(&log, "a1", false));
        handlers.add(HandlerKind::Unknown, logger(&log, "unknown", false));
        handlers.add(HandlerKind::Named("A".into()), logger(&log, "a2", false));
        handlers.add(HandlerKind::State, logger(&log, "state", false));
        notify(&handlers, Notice::Event(&event("A", 1)));
        notify(&handlers, Notice::Event(&event("B", 2)));
        assert_eq!(*log.borrow(), ["a1: A 1", "a2: A 1", "unknown: B 2"]);
    }

    #[test]
    fn each_kind_of_notice_reaches_only_its_handlers() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(HandlerKind::State, logger(&log, "state", false));
        handlers.add(HandlerKind::Error, logger(&log, "error", false));
        handlers.add(HandlerKind::Resync, logger(&log, "resync", false));
        notify(&handlers, Notice::State(&State::Open));
        notify(&handlers, Notice::Error(&Error::TokenExpired));
        notify(&handlers, Notice::Resync);
        assert_eq!(
            *log.borrow(),
            ["state: open", "error: token_expired", "resync: resync"]
        );
    }

    #[test]
    fn a_failing_handler_is_reported_to_the_error_handlers_and_the_others_still_run() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(HandlerKind::Named("A".into()), logger(&log, "fails", true));
        handlers.add(HandlerKind::Named("A".into()), logger(&log, "after", false));
        handlers.add(HandlerKind::Error, logger(&log, "error", false));
        let unheard = notify(&handlers, Notice::Event(&event("A", 1)));
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
            notify(&handlers, Notice::Error(&Error::TokenExpired)),
            ["token_expired"]
        );
        handlers.add(HandlerKind::Resync, logger(&Log::default(), "x", true));
        assert_eq!(notify(&handlers, Notice::Resync), ["handler_threw"]);
    }

    #[test]
    fn a_failing_error_handler_does_not_loop() {
        let log = Log::default();
        let handlers = Handlers::new();
        handlers.add(HandlerKind::Error, logger(&log, "error", true));
        let unheard = notify(&handlers, Notice::Error(&Error::TokenExpired));
        assert_eq!(*log.borrow(), ["error: token_expired"]);
        assert!(unheard.is_empty());
    }

    #[test]
    fn a_handler_may_register_handlers_which_hear_the_next_notice() {
        let handlers = Rc::new(Handlers::<u32>::new());
        let log = Log::default();
        let (inner, registry) = (log.clone(), Rc::downgrade(&handlers));
        handlers.add(HandlerKind::State, move |_| {
            if let Some(registry) = registry.upgrade() {
                registry.add(HandlerKind::State, logger(&inner, "late", false));
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
        handlers.add(HandlerKind::Resync, logger(&log, "resync", false));
        assert_eq!(handlers.take().len(), 1);
        notify(&handlers, Notice::Resync);
        assert!(log.borrow().is_empty());
    }
}
