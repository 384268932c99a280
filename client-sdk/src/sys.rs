//! The JavaScript the client imports, and reading JS values ([`get`], [`js_error_text`], the
//! [`JsonObject`] fields of a parsed frame, [`read_frame`], [`read_token`]).
//!
//! Each API is declared here as a single small import rather than through `js-sys` and
//! `web-sys`. This keeps the generated JS glue short, and it keeps `js-sys` out of the JS package:
//! that crate exports a JSPI task-poll entry point that the wasm-bindgen CLI deletes only after
//! linking, when the task's waker vtable has already put its functions, and with them a `RefCell`
//! panic's `core::fmt` code, into the function table for good.

use alloc::string::String;

use wasm_bindgen::prelude::*;

use crate::connection::{Frame, Token};
use crate::decode::{self, JsonObject};

#[wasm_bindgen]
extern "C" {
    /// The global scope, for its `globalThis` property.
    #[wasm_bindgen(js_name = globalThis)]
    pub type GlobalScope;

    /// `globalThis.globalThis`: the window, or the worker's global scope. A getter rather than a
    /// `thread_local_v2` static, whose lazy cell brings its panic message into the wasm.
    #[wasm_bindgen(static_method_of = GlobalScope, getter = globalThis)]
    pub fn global() -> JsValue;

    /// `atob(data)`: decodes standard base64 into a binary string (handed on to [`json_parse`]
    /// as it is).
    #[wasm_bindgen(catch)]
    pub fn atob(data: &str) -> Result<JsValue, JsValue>;

    /// `setTimeout(callback, delay)`; returns the handle for [`clear_timeout`].
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(callback: &JsValue, delay_ms: i32) -> JsValue;

    /// `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);

    /// `JSON.parse(text)`, of a JS string (a frame as it came off the socket: not copied back).
    #[wasm_bindgen(catch, js_namespace = JSON, js_name = parse)]
    pub fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;

    /// `Reflect.get(target, key)`; throws when `target` is not an object.
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = get)]
    pub fn reflect_get(target: &JsValue, key: &JsValue) -> Result<JsValue, JsValue>;

    /// `Reflect.set(target, key, value)`.
    #[wasm_bindgen(catch, js_namespace = Reflect, js_name = set)]
    pub fn reflect_set(target: &JsValue, key: &JsValue, value: &JsValue) -> Result<bool, JsValue>;

    /// `Array.of(a)`.
    #[wasm_bindgen(js_namespace = Array, js_name = of)]
    pub fn array_of1(a: &JsValue) -> JsValue;

    /// `Array.of(a, b)`.
    #[wasm_bindgen(js_namespace = Array, js_name = of)]
    pub fn array_of2(a: &JsValue, b: &JsValue) -> JsValue;

    /// `Math.random()`.
    #[wasm_bindgen(js_namespace = Math)]
    pub fn random() -> f64;

    /// `Date.now()`.
    #[wasm_bindgen(js_namespace = Date)]
    pub fn now() -> f64;

    /// `console.warn(a, b)`.
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub fn console_warn(a: &str, b: &str);

    /// A plain object.
    pub type Object;

    /// `new Object()`.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Object;

    /// A `TypeError`, for bad options.
    pub type TypeError;

    /// `new TypeError(message)`.
    #[wasm_bindgen(constructor)]
    pub fn new(message: &str) -> TypeError;

    /// A JS function (`typeof value === "function"`).
    #[wasm_bindgen(is_type_of = JsValue::is_function)]
    #[derive(Clone)]
    pub type Function;

    /// `function.call(this_arg)`.
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call0(this: &Function, this_arg: &JsValue) -> Result<JsValue, JsValue>;

    /// `function.call(this_arg, a)`.
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call1(this: &Function, this_arg: &JsValue, a: &JsValue) -> Result<JsValue, JsValue>;

    /// `function.call(this_arg, a, b)`.
    #[wasm_bindgen(method, catch, js_name = call)]
    pub fn call2(
        this: &Function,
        this_arg: &JsValue,
        a: &JsValue,
        b: &JsValue,
    ) -> Result<JsValue, JsValue>;

    /// `function.call(this_arg, kind, topic, a, b, c)`: the JS driver's one callback
    /// (`crate::js`), which never throws.
    #[wasm_bindgen(method, js_name = call)]
    pub fn act(
        this: &Function,
        this_arg: &JsValue,
        kind: u32,
        topic: Option<&str>,
        a: &JsValue,
        b: &JsValue,
        c: &JsValue,
    );

    /// A promise, for `then` only.
    pub type Thenable;

    /// `Promise.allSettled(values)`.
    #[wasm_bindgen(js_namespace = Promise, js_name = allSettled)]
    pub fn all_settled(values: &JsValue) -> Thenable;

    /// `promise.then(onFulfilled)`.
    #[wasm_bindgen(method)]
    pub fn then(this: &Thenable, on_fulfilled: &JsValue) -> Thenable;

    /// A DOM event target: the global scope or a socket.
    #[derive(Clone)]
    pub type EventTarget;

    /// `target.addEventListener(kind, listener)`.
    #[wasm_bindgen(method, catch, js_name = addEventListener)]
    pub fn add_event_listener(
        this: &EventTarget,
        kind: &str,
        listener: &JsValue,
    ) -> Result<(), JsValue>;

    /// `target.removeEventListener(kind, listener)`.
    #[wasm_bindgen(method, catch, js_name = removeEventListener)]
    pub fn remove_event_listener(
        this: &EventTarget,
        kind: &str,
        listener: &JsValue,
    ) -> Result<(), JsValue>;

    /// A browser WebSocket.
    #[wasm_bindgen(extends = EventTarget)]
    pub type WebSocket;

    /// `new WebSocket(url, protocols)`; throws for a malformed URL.
    #[wasm_bindgen(catch, constructor)]
    pub fn new(url: &str, protocols: &JsValue) -> Result<WebSocket, JsValue>;

    /// `socket.close(code)`.
    #[wasm_bindgen(method, catch)]
    pub fn close(this: &WebSocket, code: u16) -> Result<(), JsValue>;

    /// `socket.send(text)`.
    #[wasm_bindgen(method, catch)]
    pub fn send(this: &WebSocket, text: &str) -> Result<(), JsValue>;

    /// A socket's `message` event.
    pub type MessageEvent;

    /// `event.data`.
    #[wasm_bindgen(method, getter)]
    pub fn data(this: &MessageEvent) -> JsValue;

    /// A socket's `close` event.
    pub type CloseEvent;

    /// `event.code`.
    #[wasm_bindgen(method, getter)]
    pub fn code(this: &CloseEvent) -> u16;

    /// `event.reason` (a string, read with `as_string` like every other).
    #[wasm_bindgen(method, getter)]
    pub fn reason(this: &CloseEvent) -> JsValue;
}

/// `value[key]`, or `undefined` when `value` is not an object.
pub fn get(value: &JsValue, key: &str) -> JsValue {
    reflect_get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// The message of a thrown JS value: a thrown string, or an error's `message`.
pub fn js_error_text(error: &JsValue) -> String {
    error
        .as_string()
        .or_else(|| error.is_object().then(|| error.string("message")).flatten())
        .unwrap_or_else(|| "unknown error".into())
}

/// A socket's message `data` as the machine's frame: a text frame parsed with `JSON.parse` from
/// the socket's own string (not copied back); binary data is not a frame we understand, but a
/// sign of life.
pub fn read_frame(data: &JsValue) -> Frame<JsValue> {
    match data.as_string() {
        Some(text) => decode::frame(&text, |_| json_parse(data).ok()),
        None => Frame::Pong,
    }
}

/// A token with its `exp` claim, read with the browser's `atob` and `JSON.parse`.
pub fn read_token(value: String) -> Token {
    decode::token(value, |claims| {
        atob(claims)
            .ok()
            .and_then(|claims| json_parse(&claims).ok())
    })
}

/// Fields of what `JSON.parse` returned, for [`crate::decode`].
impl JsonObject for JsValue {
    fn string(&self, key: &str) -> Option<String> {
        get(self, key).as_string()
    }

    fn number(&self, key: &str) -> Option<f64> {
        get(self, key).as_f64()
    }

    fn boolean(&self, key: &str) -> Option<bool> {
        get(self, key).as_bool()
    }

    fn object(&self, key: &str) -> Option<Self> {
        Some(get(self, key)).filter(JsValue::is_object)
    }
}
