//! A blocking SDK for the WeChat Official Account Platform and the Open
//! Platform third-party platform API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod callback;
mod error;
mod secret;

pub use callback::{check_url, sha1_sorted, verify_signature};
pub use error::{CallbackErrorKind, Error, ErrorKind, Result, TransportKind};
pub use secret::Secret;
