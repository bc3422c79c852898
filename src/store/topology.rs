//! `StoreTopology`: what a store can tell of the servers behind it, for
//! the hub's `/status` and `/metrics`.

/// The servers behind a store and what happened to them since the store
/// was built: which topology, the primary, its replicas, failovers, a
/// server that turned read-only, writes no replica acknowledged in time,
/// and whether a restart would lose what cannot be fetched again.
///
/// # Example
///
/// ```
/// use weixin::store::{MemoryStore, Store};
///
/// assert!(MemoryStore::new().topology().is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreTopology {
    /// `single` (one Redis URL), `sentinel` or `cluster` (whose `primary`,
    /// `failovers` and `replicas` stay empty: the cluster client follows
    /// the cluster itself).
    pub mode: String,
    /// The primary last connected to (`host:port`).
    pub primary: Option<String>,
    /// Replicas the primary reported connected when last asked (`ROLE`).
    pub replicas: Option<u64>,
    /// Times the primary moved since the store was built.
    pub failovers: u64,
    /// When (Unix seconds) it last moved.
    pub last_failover: Option<u64>,
    /// Since when (Unix seconds) the server answers `READONLY`: a replica
    /// now, refusing writes.
    pub read_only_since: Option<u64>,
    /// Durable writes (refresh tokens, verify tickets, refresh locks and
    /// schedules) that fewer replicas acknowledged than asked for within
    /// the wait.
    pub unacked_writes: u64,
    /// What the server said of its persistence (`appendonly`, `save`), or
    /// that it could not be asked; `None` until checked.
    pub persistence: Option<String>,
    /// Set when a restart of the server would lose refresh tokens and
    /// verify tickets, or when that could not be checked.
    pub persistence_warning: Option<String>,
}
