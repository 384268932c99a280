//! The few JavaScript globals the client imports directly (rather than through `js-sys`), each
//! as a single small import: this keeps the generated JS glue short.

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(thread_local_v2, js_name = globalThis)]
    static GLOBAL_THIS: JsValue;

    /// `atob(data)`: decodes standard base64 into a binary string.
    #[wasm_bindgen(catch)]
    pub fn atob(data: &str) -> Result<String, JsValue>;

    /// `setTimeout(callback, delay)`; returns the handle for [`clear_timeout`].
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(callback: &JsValue, delay_ms: i32) -> JsValue;

    /// `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(handle: &JsValue);

    /// A promise, for `then` only.
    pub type Thenable;

    /// `Promise.allSettled(values)`.
    #[wasm_bindgen(js_namespace = Promise, js_name = allSettled)]
    pub fn all_settled(values: &js_sys::Array) -> Thenable;

    /// `promise.then(onFulfilled)`.
    #[wasm_bindgen(method)]
    pub fn then(this: &Thenable, on_fulfilled: &JsValue) -> Thenable;
}

/// `globalThis`: the window, or the worker's global scope.
pub fn global() -> JsValue {
    GLOBAL_THIS.with(JsValue::clone)
}
