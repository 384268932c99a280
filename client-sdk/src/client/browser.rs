//! The browser resources the driver holds, each released when dropped: the socket with its
//! listeners, the one timer, and event listeners. Dropping never calls back synchronously:
//! closing a socket, clearing a timer and removing a listener only stop events from coming.

use alloc::string::String;

use edgepush_protocol::frames::SUBPROTOCOL;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;

use crate::connection::CLIENT_CLOSE_CODE;
use crate::sys::{self, EventTarget, WebSocket};

/// Every callback the client hands to the browser has this one type (listeners and timers
/// alike), so the JS glue needs only one closure adapter.
pub(super) type Callback = Closure<dyn FnMut(JsValue)>;

/// One WebSocket and its listeners; dropping it detaches the listeners, then closes the socket
/// with [`CLIENT_CLOSE_CODE`].
pub(super) struct Socket {
    ws: WebSocket,
    _listeners: [Listener; 2],
}

impl Socket {
    /// Opens a socket to `url` offering the subprotocols [`SUBPROTOCOL`] and `token`, with the
    /// `message` and `close` callbacks that `listen` makes; fails with the browser's exception
    /// (e.g. for a malformed URL).
    pub(super) fn open(
        url: &str,
        token: String,
        listen: impl FnOnce() -> [Callback; 2],
    ) -> Result<Self, JsValue> {
        let protocols = sys::array_of2(&SUBPROTOCOL.into(), &token.into());
        let ws = WebSocket::new(url, &protocols)?;
        let target: &EventTarget = ws.as_ref();
        let [on_message, on_close] = listen();
        let listeners = [
            Listener::new(target, "message", on_message),
            Listener::new(target, "close", on_close),
        ];
        Ok(Self {
            ws,
            _listeners: listeners,
        })
    }

    /// Sends `text`; a socket that is not open drops it (the machine notices by the heartbeat).
    pub(super) fn send(&self, text: &str) {
        let _ = self.ws.send(text);
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.ws.close(CLIENT_CLOSE_CODE);
    }
}

/// The one pending `setTimeout`; dropping it cancels it.
pub(super) struct Timer {
    handle: JsValue,
    _callback: Callback,
}

impl Timer {
    /// Calls `callback` after `delay_ms` (at most `i32::MAX`, the browser's limit).
    pub(super) fn start(callback: Callback, delay_ms: u64) -> Self {
        let delay_ms = delay_ms.min(i32::MAX as u64) as i32;
        Self {
            handle: sys::set_timeout(callback.as_ref(), delay_ms),
            _callback: callback,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        sys::clear_timeout(&self.handle);
    }
}

/// A browser event listener; dropping it removes it.
pub(super) struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Callback,
}

impl Listener {
    /// Calls `callback` with every `kind` event of `target`.
    pub(super) fn new(target: &EventTarget, kind: &'static str, callback: Callback) -> Self {
        let _ = target.add_event_listener(kind, callback.as_ref());
        Self {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener(self.kind, self.callback.as_ref());
    }
}
