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
//! - `HubServer` (feature `hub`) serves a handler over HTTP; the
//!   `wechat-hub` binary is that server configured by a TOML file.

mod component_stores;
mod file;
// ok because handler.rs still calls names deprecated here (`Token::secret`,
// `Client::refresh_token`, `Client::query_auth`): the hub-server branch,
// which splits that file, renames the calls.
#[allow(deprecated)]
mod handler;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "hub", feature = "testing"))]
pub(crate) mod server;
mod source;
mod store;
mod upstream;

pub use file::FileStore;
pub use handler::{HubHandler, HubHandlerBuilder, HubRequest, HubResponse};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
#[cfg(feature = "hub")]
pub use server::HubServer;
pub use source::StoreSource;
pub use store::{LockGuard, MemoryStore, Store};
