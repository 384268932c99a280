//! The built-in event types. An app's own events are its own `Deserialize` types (Rust) or
//! plain objects (JS).

use alloc::string::String;

use serde::Deserialize;

/// An event as a handler receives it: `id`, `name`, the typed `payload` and the server's
/// timestamp `ts` (milliseconds since the Unix epoch).
pub use edgepush_protocol::frames::EventFrame as Event;

/// The name of the built-in [`Message`] event.
pub const MESSAGE: &str = "Message";
/// The name of the built-in [`Background`] event.
pub const BACKGROUND: &str = "Background";

/// The built-in `Message` event: a text to show, e.g. `{"text":"hi"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Message {
    /// The text.
    pub text: String,
}

/// The built-in `Background` event: a CSS color for the page background, e.g.
/// `{"color":"#336699"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Background {
    /// A CSS color.
    pub color: String,
}
