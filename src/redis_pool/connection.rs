//! `RedisConnection`: what the pool hands to a store's command, whatever
//! the topology behind it, so that a store's code is the same for each.

use std::time::Duration;

use redis::cluster::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Connection, ConnectionLike, FromRedisValue, RedisResult, Value};

/// A connection the pool lends for one operation. Commands run on it with
/// `redis::cmd(..).query(con)` as on any `redis::ConnectionLike`.
pub(crate) enum RedisConnection {
    /// A connection to one server: the single Redis, or the primary that
    /// Sentinel names.
    Node(Connection),
    /// A connection to a Redis Cluster (one to each node inside), which
    /// sends each command to the primary of its key's slot. Boxed: it is
    /// several times a node connection's size.
    Cluster(Box<ClusterConnection>),
}

impl RedisConnection {
    /// Runs `cmd`, a command that names no key (`ROLE`, `WAIT`), on the
    /// server that holds `key`: the one server, or in a cluster the
    /// primary of `key`'s slot, on the connection that carried the last
    /// command on `key`, never on another node (the cluster client would
    /// send a keyless command to a random node, or to every primary).
    pub(crate) fn query_at_key<T: FromRedisValue>(
        &mut self,
        key: &str,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        match self {
            RedisConnection::Node(c) => cmd.query(c),
            RedisConnection::Cluster(c) => {
                let primary = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(primary));
                Ok(redis::from_redis_value(c.route_command(cmd, routing)?)?)
            }
        }
    }

    /// How long an answer may take from now on (every node's, in a
    /// cluster).
    pub(crate) fn set_read_timeout(&self, timeout: Duration) -> RedisResult<()> {
        match self {
            RedisConnection::Node(c) => c.set_read_timeout(Some(timeout)),
            RedisConnection::Cluster(c) => c.set_read_timeout(Some(timeout)),
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            RedisConnection::Node(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            RedisConnection::Node(c) => c.req_packed_commands(cmd, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            RedisConnection::Node(c) => c.req_command(cmd),
            RedisConnection::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Node(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
        }
    }

    fn supports_pipelining(&self) -> bool {
        match self {
            RedisConnection::Node(c) => c.supports_pipelining(),
            RedisConnection::Cluster(c) => c.supports_pipelining(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match self {
            RedisConnection::Node(c) => c.check_connection(),
            RedisConnection::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            RedisConnection::Node(c) => c.is_open(),
            RedisConnection::Cluster(c) => c.is_open(),
        }
    }
}
