//! Fake servers on 127.0.0.1 for tests: a fake WeChat, a fake hub, and
//! servers that misbehave on purpose. Enabled by the `testing` feature.
//!
//! These are the servers the crate's own tests run against; point a
//! [`Client`](crate::Client) at them with `scheme("http")`, `host("127.0.0.1")`
//! and `port(fake.port())`, and a [`SecretSource`](crate::SecretSource) with
//! `base_url(fake.url())`.
//!
//! [`Balancer`] spreads requests over hub replicas round robin, and, with
//! the `hub` and `redis` features, [`Chaos`] runs `wechat-hub` replicas on a
//! Redis of its own behind it under a seeded schedule of faults.

mod balancer;
#[cfg(all(feature = "hub", feature = "redis"))]
mod chaos;
mod component;
mod http1;

pub use component::Hold;
mod hub;
mod server;
mod wechat;

pub use balancer::Balancer;
#[cfg(all(feature = "hub", feature = "redis"))]
pub use chaos::{Chaos, ChaosReport, FailureTally};
pub use hub::FakeHub;
pub use server::{refused_url, SilentServer, StubServer};
pub use wechat::{FakeWechat, Received};
