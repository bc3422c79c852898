//! Fake servers on 127.0.0.1 for tests: a fake WeChat, a fake hub, and
//! servers that misbehave on purpose. Enabled by the `testing` feature.
//!
//! These are the servers the crate's own tests run against, and yours can:
//! add `weixin = { version = "0.1", features = ["testing"] }` to your
//! `[dev-dependencies]`. Point a [`Client`](crate::Client) and its token
//! source at one with one setting,
//! [`base_url(fake.url())`](crate::ClientBuilder::base_url).
//!
//! To test code of your own that reads WeChat's answers, make
//! [`FakeWechat`] answer what you need on any path with
//! [`FakeWechat::answer`] and a [`Canned`] answer; to test a login, mint a
//! user's code with [`FakeWechat::oauth_code`] or [`FakeWechat::js_code`].
//! Every server records every request it receives, with its query and body
//! (`received()`, as [`Received`]), and tells its `port()`.
//!
//! [`Balancer`] spreads requests over hub replicas round robin, and, with
//! the `hub` and `redis` features, [`Chaos`] runs `wechat-hub` replicas on a
//! Redis of its own behind it under a seeded schedule of faults. With the
//! `redis` feature, [`SentinelTopology`] runs a Redis Sentinel deployment
//! of a test's own (primary, replica, three sentinels) and fails it over
//! on demand.

mod balancer;
#[cfg(all(feature = "hub", feature = "redis"))]
mod chaos;
mod http1;
mod hub;
mod proxy;
mod record;
#[cfg(feature = "redis")]
mod sentinel;
mod server;
mod wechat;

pub use balancer::Balancer;
#[cfg(all(feature = "hub", feature = "redis"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "hub", feature = "redis"))))]
pub use chaos::{Chaos, ChaosReport, FailureTally};
pub use hub::FakeHub;
pub use proxy::{ConnectProxy, Tunnel};
pub use record::Received;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use sentinel::{RedisNode, SentinelTopology};
pub use server::{refused_url, SilentServer, StubServer};
pub use wechat::{Canned, FakeWechat, Hold};
#[cfg(feature = "api-security")]
#[cfg_attr(docsrs, doc(cfg(feature = "api-security")))]
pub use wechat::{FakeApiSecurity, Tamper};
