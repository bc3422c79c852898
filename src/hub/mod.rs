//! The hub: one token service that any number of clients, processes and
//! machines share, so that each account keeps one token lineage.
//!
//! - [`HubHandler`] answers the hub protocol (elixir_wechat's, see
//!   [`HubSource`](crate::HubSource) for the client side) for any HTTP
//!   server: it takes a [`HubRequest`] and returns a [`HubResponse`].
//! - [`Store`] is where it keeps tokens, verify tickets, refresh tokens and
//!   the refresh lock: [`MemoryStore`], [`FileStore`], and `RedisStore`
//!   (feature `redis`) for hub replicas that share state.
//! - [`StoreSource`] is the compare-and-swap over a store, usable on its own.
//! - Every store is also a [`VerifyTicketProvider`](crate::VerifyTicketProvider)
//!   and a [`RefreshTokenStore`](crate::RefreshTokenStore), so a
//!   [`ComponentSource`](crate::ComponentSource) in one process without a hub
//!   keeps its tickets and refresh tokens in a [`FileStore`].
//! - `HubServer` (feature `hub`) serves a handler over HTTP/1.1 (hyper on a
//!   small tokio runtime) and publishes `/metrics`; the `wechat-hub` binary
//!   is that server configured by a TOML file.

mod ahead;
#[cfg(feature = "crypto")]
mod basic;
mod builder;
#[cfg(feature = "crypto")]
mod callback;
mod component_stores;
mod door;
mod error;
mod file;
mod handler;
mod lifetime;
mod metrics;
mod quota;
mod rebuild;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "hub")]
mod server;
mod source;
mod state;
mod status;
mod status_page;
mod store;
mod upstream;
mod watch;
mod wire;

pub use builder::HubHandlerBuilder;
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) use error::HubError;
pub use file::FileStore;
pub use handler::HubHandler;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
#[cfg(feature = "hub")]
#[cfg_attr(docsrs, doc(cfg(feature = "hub")))]
pub use server::HubServer;
pub use source::StoreSource;
pub use store::{LockGuard, MemoryStore, Store};
pub use watch::{StoreEvent, StoreListener, Watch};
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) use wire::MAX_BODY;
pub use wire::{HubRequest, HubResponse};
