//! What a pool has seen of its Redis: the primary, failovers, a server
//! turned read-only, writes no replica acknowledged in time, persistence.
//! Each change is logged once, when it happens; the hub's `/status` and
//! `/metrics` show the rest.

use crate::token::unix_now;

/// What a pool has seen; see [`StoreTopology`](crate::store::StoreTopology)
/// for what each field means to an operator.
#[derive(Debug, Default, Clone)]
pub(crate) struct Health {
    pub(crate) primary: Option<String>,
    pub(crate) failovers: u64,
    pub(crate) last_failover: Option<u64>,
    pub(crate) read_only_since: Option<u64>,
    pub(crate) replicas: Option<u64>,
    pub(crate) unacked_writes: u64,
    pub(crate) persistence: Option<String>,
    pub(crate) persistence_warning: Option<String>,
}

impl Health {
    /// The primary found is at `addr`: a failover if it was elsewhere.
    pub(crate) fn primary_found(&mut self, addr: &str) {
        match &self.primary {
            Some(old) if old != addr => {
                log::warn!("wechat store: redis primary moved from {old} to {addr} (failover)");
                self.failovers += 1;
                self.last_failover = Some(unix_now());
            }
            Some(_) => {}
            None => log::info!("wechat store: redis primary at {addr}"),
        }
        self.primary = Some(addr.to_string());
    }

    /// The server at `addr` answered `READONLY`; logged the first time
    /// only, until it is writable again.
    pub(crate) fn read_only(&mut self, addr: &str) {
        if self.read_only_since.is_none() {
            log::error!(
                "wechat store: redis at {addr} is a read-only replica now (READONLY): \
                 writes fail until it is the primary again"
            );
            self.read_only_since = Some(unix_now());
        }
    }

    /// The server answered as a primary again.
    pub(crate) fn writable(&mut self, addr: &str) {
        if self.read_only_since.take().is_some() {
            log::warn!("wechat store: redis at {addr} is writable again");
        }
    }

    /// A write waited for `wanted` replicas and `acked` acknowledged it.
    pub(crate) fn waited(&mut self, what: &str, wanted: u64, acked: u64) {
        if acked < wanted {
            self.unacked_writes += 1;
            log::warn!(
                "wechat store: {what}: {acked} of {wanted} redis replicas acknowledged in time; \
                 kept on the primary, lost if it fails before they catch up"
            );
        }
    }
}
