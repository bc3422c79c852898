//! The hub: one token service that any number of clients, processes and
//! machines share, so that each account keeps one token lineage.
//!
//! - [`HubHandler`] answers the hub protocol (elixir_wechat's, see
//!   [`HubSource`](crate::HubSource) for the client side) for any HTTP
//!   server: it takes a [`HubRequest`] and returns a [`HubResponse`].
//! - It keeps tokens, verify tickets, refresh tokens and the refresh lock in
//!   a [`Store`](crate::store::Store) ([`crate::store`]: memory, file, Redis
//!   for hub replicas that share state), through a
//!   [`StoreSource`](crate::store::StoreSource).
//! - `HubServer` (feature `hub`) serves a handler over HTTP/1.1 (hyper on a
//!   small tokio runtime) and publishes `/metrics`; the `wechat-hub` binary
//!   is that server configured by a TOML file.

mod ahead;
#[cfg(feature = "crypto")]
mod basic;
mod builder;
#[cfg(feature = "crypto")]
mod callback;
mod door;
mod error;
mod handler;
mod metrics;
mod quota;
mod rebuild;
#[cfg(feature = "hub")]
mod server;
mod status;
mod status_page;
mod upstream;
mod wire;

pub use builder::HubHandlerBuilder;
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) use error::HubError;
pub use handler::HubHandler;
#[cfg(feature = "hub")]
#[cfg_attr(docsrs, doc(cfg(feature = "hub")))]
pub use server::HubServer;
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) use wire::MAX_BODY;
pub use wire::{HubRequest, HubResponse};
