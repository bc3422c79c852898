//! A blocking SDK for the WeChat Official Account Platform and the Open
//! Platform third-party platform API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod callback;
#[cfg(feature = "crypto")]
mod crypto;
mod error;
#[cfg(feature = "crypto")]
mod message;
mod secret;

pub use callback::{check_url, sha1_sorted, verify_signature};
#[cfg(feature = "crypto")]
pub use crypto::MessageCrypto;
pub use error::{CallbackErrorKind, Error, ErrorKind, Result, TransportKind};
#[cfg(feature = "crypto")]
pub use message::{Authorization, ComponentPush, Message, MessageKind, TextReply};
pub use secret::Secret;
