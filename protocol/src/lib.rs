//! The edgepush wire protocol, shared by the server, the SDKs and the tools. No I/O, no clock:
//! time is always passed in.
//!
//! - [`codes`]: the close-code and error-code table, with what a client must do after each close.
//! - [`frames`]: the JSON frames on the WebSocket.
//! - [`publish`]: `POST /publish` bodies and responses.
//! - [`token`]: HS256 connect tokens.
//! - [`signature`]: signed publish requests.
//! - [`topic`]: topic names and the patterns that grant them (the groundwork of topics).
//!
//! `publish`, `signature` and most of `token` need the default `std` feature. Without it the crate
//! is `no_std` (with `alloc`): `codes`, `frames` and the token constants, which is all the browser
//! SDK's JS package needs.
//!
//! A publisher signs a body; the server checks it and the token of the socket it delivers to:
//!
//! ```
//! use edgepush_protocol::{publish, signature::{PublishKeys, SigningKey}, token::{Claims, TokenKey}};
//!
//! let now = 1_700_000_000;
//! let secret = b"publish-secret-of-at-least-32-bytes!";
//! let body = br#"{"user":"42","name":"Message","payload":{"text":"hi"}}"#;
//! let header = SigningKey::new("k1", secret)?.sign(now, "POST", "/publish", body);
//!
//! // Server side: the configured keys verify the header, then the body is parsed.
//! let keys = PublishKeys::parse("k1:publish-secret-of-at-least-32-bytes!")?;
//! assert_eq!(keys.verify(Some(&header), "POST", "/publish", body, now)?.key_id, "k1");
//! let events = publish::parse_publish_body(body)?;
//! assert_eq!(events[0].to.as_str(), "42");
//!
//! // The browser's connect token names the same user.
//! let tokens = TokenKey::new(b"jwt-secret-of-at-least-32-bytes-long")?;
//! let token = tokens.mint(&Claims::new("42", now, 3600));
//! assert_eq!(tokens.verify(&token, now)?.sub, "42");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod codes;
pub mod frames;
#[cfg(feature = "std")]
pub mod publish;
#[cfg(feature = "std")]
pub mod signature;
pub mod token;
pub mod topic;

pub use codes::{CloseAction, CloseCode, ErrorCode, close_action};
