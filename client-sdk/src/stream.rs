//! [`HandlerStream`]: what a handler receives, as a [`futures_core::Stream`], for apps written as
//! async loops (a Leptos `spawn_local` loop, a Dioxus `use_coroutine`, Yew's
//! `Scope::send_stream`). (Feature `std`.)
//!
//! The stream is fed by an ordinary handler ([`Feeder`], held inside it), so it sees exactly
//! what a callback registered the same way would see, in the same order. It holds the handler's
//! [`HandlerGuard`]: dropping the stream removes the handler. When the handler is dropped
//! without the stream (the client closed, the subscription ended), the stream ends after the
//! items it still holds.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use futures_core::{FusedStream, Stream};

use crate::HandlerGuard;

/// A stream of what one handler receives: events of one name ([`Client::events`],
/// [`Subscription::events`]) or state changes ([`Client::states`]). Dropping it removes the
/// handler; it ends when the client closes or the subscription ends.
///
/// Items queue up until the stream is polled (there is no bound: poll it, or drop it). On
/// targets other than wasm32 (a server build of the app) it is empty and ends at once.
///
/// [`Client::events`]: crate::Client::events
/// [`Client::states`]: crate::Client::states
/// [`Subscription::events`]: crate::Subscription::events
#[must_use = "streams do nothing unless polled; dropping one removes its handler"]
pub struct HandlerStream<T> {
    shared: Rc<Shared<T>>,
    /// Removes the handler when the stream is dropped. `None` only in the module's tests.
    _guard: Option<HandlerGuard>,
    ended: bool,
}

/// What the stream and its feeder share.
struct Shared<T> {
    queue: RefCell<VecDeque<T>>,
    waker: Cell<Option<Waker>>,
}

/// The feeding end, held by the handler: [`push`](Self::push) queues an item and wakes the
/// stream; dropping it (the handler was removed) wakes the stream to end.
pub(crate) struct Feeder<T> {
    shared: Rc<Shared<T>>,
}

impl<T> HandlerStream<T> {
    /// A stream and its feeder, for a handler to be registered with the feeder inside; then
    /// [`guarded`](Self::guarded) with that handler's guard.
    pub(crate) fn new() -> (Self, Feeder<T>) {
        let shared = Rc::new(Shared {
            queue: RefCell::new(VecDeque::new()),
            waker: Cell::new(None),
        });
        let feeder = Feeder {
            shared: shared.clone(),
        };
        let stream = Self {
            shared,
            _guard: None,
            ended: false,
        };
        (stream, feeder)
    }

    /// The stream, now removing its handler when dropped.
    pub(crate) fn guarded(mut self, guard: HandlerGuard) -> Self {
        self._guard = Some(guard);
        self
    }
}

impl<T> Feeder<T> {
    /// Queues `item` and wakes the stream.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // Only browser handlers feed one.
    pub(crate) fn push(&self, item: T) {
        if let Ok(mut queue) = self.shared.queue.try_borrow_mut() {
            queue.push_back(item);
        }
        if let Some(waker) = self.shared.waker.take() {
            waker.wake();
        }
    }
}

impl<T> Drop for Feeder<T> {
    fn drop(&mut self) {
        if let Some(waker) = self.shared.waker.take() {
            waker.wake();
        }
    }
}

impl<T> Stream for HandlerStream<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Every field is `Unpin`, so the stream is too.
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        let next = match this.shared.queue.try_borrow_mut() {
            Ok(mut queue) => queue.pop_front(),
            Err(_) => None,
        };
        if let Some(item) = next {
            return Poll::Ready(Some(item));
        }
        // Only the stream holds the queue: the handler (and its feeder) is gone.
        if Rc::strong_count(&this.shared) == 1 {
            this.ended = true;
            return Poll::Ready(None);
        }
        this.shared.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let queued = self
            .shared
            .queue
            .try_borrow()
            .map_or(0, |queue| queue.len());
        if self.ended || Rc::strong_count(&self.shared) == 1 {
            (queued, Some(queued))
        } else {
            (queued, None)
        }
    }
}

impl<T> FusedStream for HandlerStream<T> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<T>(stream: &mut HandlerStream<T>, waker: &Arc<CountingWaker>) -> Poll<Option<T>> {
        let waker = Waker::from(waker.clone());
        Pin::new(stream).poll_next(&mut Context::from_waker(&waker))
    }

    #[test]
    fn items_come_out_in_order_and_a_push_wakes_a_waiting_stream() {
        let (mut stream, feeder) = HandlerStream::new();
        let waker = Arc::new(CountingWaker::default());
        assert_eq!(poll(&mut stream, &waker), Poll::Pending);
        feeder.push(1);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        feeder.push(2);
        assert_eq!(stream.size_hint(), (2, None));
        assert_eq!(poll(&mut stream, &waker), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut stream, &waker), Poll::Ready(Some(2)));
        assert_eq!(poll(&mut stream, &waker), Poll::Pending);
        assert!(!stream.is_terminated());
    }

    #[test]
    fn the_stream_ends_after_its_queue_once_the_handler_is_gone() {
        let (mut stream, feeder) = HandlerStream::new();
        let waker = Arc::new(CountingWaker::default());
        assert_eq!(poll(&mut stream, &waker), Poll::Pending);
        feeder.push("last");
        drop(feeder);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1, "woken by the push");
        assert_eq!(poll(&mut stream, &waker), Poll::Ready(Some("last")));
        assert_eq!(poll(&mut stream, &waker), Poll::Ready(None));
        assert!(stream.is_terminated());
        assert_eq!(poll(&mut stream, &waker), Poll::Ready(None));
    }

    #[test]
    fn dropping_the_feeder_wakes_a_waiting_stream_to_end() {
        let (mut stream, feeder) = HandlerStream::<u8>::new();
        let waker = Arc::new(CountingWaker::default());
        assert_eq!(poll(&mut stream, &waker), Poll::Pending);
        drop(feeder);
        assert_eq!(waker.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut stream, &waker), Poll::Ready(None));
    }

    #[test]
    fn a_feeder_outliving_its_stream_pushes_into_nothing() {
        let (stream, feeder) = HandlerStream::new();
        drop(stream);
        feeder.push(Vec::<u8>::new());
    }
}
