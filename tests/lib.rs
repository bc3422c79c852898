//! The integration suite, compiled as one binary. Every test talks real
//! HTTP to the crate's own fake servers on 127.0.0.1.

mod common;

#[cfg(feature = "api-security")]
mod api_security;
mod base_url;
#[cfg(feature = "crypto")]
mod callback;
#[cfg(feature = "crypto")]
mod callback_json;
#[cfg(all(feature = "hub", feature = "redis"))]
mod chaos;
#[cfg(feature = "cli")]
mod cli;
mod component;
#[cfg(feature = "crypto")]
mod component_push;
mod concurrency;
#[cfg(feature = "crypto")]
mod dedup;
#[cfg(all(feature = "crypto", feature = "redis"))]
mod dedup_sentinel;
mod edge;
mod errors;
mod fakes;
mod faults;
mod global;
#[cfg(all(feature = "hub", feature = "redis"))]
mod hub_ahead;
mod hub_client;
#[cfg(feature = "hub")]
mod hub_component;
mod hub_failover;
#[cfg(feature = "hub")]
mod hub_http;
#[cfg(feature = "hub")]
mod hub_life;
#[cfg(feature = "hub")]
mod hub_platform;
#[cfg(feature = "hub")]
mod hub_quota;
#[cfg(all(feature = "hub", feature = "redis"))]
mod hub_redis;
#[cfg(all(feature = "hub", feature = "redis", feature = "crypto"))]
mod hub_replicas;
#[cfg(all(feature = "hub", feature = "redis"))]
mod hub_sentinel;
#[cfg(feature = "hub")]
mod hub_server;
#[cfg(feature = "hub")]
mod hub_stable;
#[cfg(feature = "hub")]
mod hub_status;
#[cfg(feature = "hub")]
mod hub_tls;
mod later;
mod lineage_warning;
mod login;
mod project_files;
mod readme;
mod redaction;
#[cfg(feature = "redis")]
mod redis_cluster;
#[cfg(feature = "redis")]
mod redis_cluster_faults;
mod request;
#[cfg(feature = "redis")]
mod sentinel_demoted;
#[cfg(feature = "redis")]
mod sentinel_epoch;
#[cfg(feature = "redis")]
mod sentinel_moved;
#[cfg(feature = "hub")]
mod storm;
mod tickets;
mod transport;
