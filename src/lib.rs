//! A blocking SDK for the WeChat Official Account Platform and the Open
//! Platform third-party platform API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod global;
mod http;
mod options;
mod response;
mod secret;
mod sign;
mod token;

pub mod hub;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{BusyRetry, Client, ClientBuilder};
pub use error::{CallbackErrorKind, Error, ErrorKind, Result, TransportKind};
pub use global::{configure, global_client, request, set_token_source};
pub use options::{Method, RequestOptions};
pub use response::Response;
pub use secret::Secret;
pub use sign::{sign_card, sign_jssdk, sign_jssdk_with, JssdkConfig, JssdkSignature};
pub use token::hub::HubSource;
pub use token::secret::SecretSource;
pub use token::{Context, TicketType, Token, TokenKey, TokenKind, TokenSource};
