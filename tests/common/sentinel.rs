//! The Redis Sentinel topology of the tests: `weixin::testing`'s
//! [`SentinelTopology`] (one primary, one replica, three sentinels, all
//! `redis-server` processes on 127.0.0.1), started once per test binary
//! and shared by the tests that take its lock (a failover moves the
//! primary for everyone). Its waits are bounded; here a harness failure
//! fails the test.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use weixin::testing::RedisNode;
pub use weixin::testing::SentinelTopology;

/// The master name the sentinels watch.
pub const MASTER: &str = SentinelTopology::MASTER;

/// One `redis-server` process on its port, killed when dropped and when
/// this test process ends, however it ends.
pub struct Node {
    pub port: u16,
    node: RedisNode,
}

impl Node {
    /// Kills the server with SIGKILL (`kill -9`).
    #[allow(dead_code)] // ok because not every test binary kills a node
    pub fn kill9(&mut self) {
        self.node.kill();
    }
}

/// Starts `redis-server` with the arguments `args(port)` gives, on the
/// first port that is its own.
pub fn start_node(args: impl Fn(u16) -> Vec<String>) -> Node {
    let node = RedisNode::start(args).expect("redis-server starts (installed by .ci/test)");
    Node {
        port: node.port(),
        node,
    }
}

/// Runs `cmd` on the server at `port`, with a timeout.
pub fn query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(2))?;
    con.set_read_timeout(Some(Duration::from_secs(5)))?;
    cmd.query(&mut con)
}

/// The shared topology; each method fails the test where the harness's
/// returns an error.
pub struct Topology(SentinelTopology);

/// Whether the node at `port` says it is a primary.
pub fn is_primary(port: u16) -> bool {
    matches!(
        query::<redis::Role>(port, &redis::cmd("ROLE")),
        Ok(redis::Role::Primary { .. })
    )
}

/// The topology, started on first use, locked for the caller's test.
pub fn topology() -> MutexGuard<'static, Topology> {
    static TOPOLOGY: OnceLock<Mutex<Topology>> = OnceLock::new();
    let guard = TOPOLOGY
        .get_or_init(|| {
            Mutex::new(Topology(
                SentinelTopology::start().expect("the sentinel topology starts"),
            ))
        })
        .lock()
        // ok because a test that failed in the middle leaves a topology
        // that `healthy` repairs or reports
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.healthy();
    guard
}

#[allow(dead_code)] // ok because each test uses the methods it needs
impl Topology {
    /// The harness's topology.
    pub fn inner(&self) -> &SentinelTopology {
        &self.0
    }

    /// The sentinels' URLs.
    pub fn urls(&self) -> Vec<String> {
        self.0.urls()
    }

    /// A store on it under `prefix`, waiting up to 20 s for a failover.
    pub fn store(&self, prefix: &str) -> weixin::store::RedisStore {
        let sentinel =
            weixin::RedisSentinel::new(MASTER, self.urls()).failover_wait(Duration::from_secs(20));
        weixin::store::RedisStore::sentinel(sentinel)
            .unwrap()
            .prefix(prefix)
    }

    /// The port of the primary the sentinels name, once they all agree.
    pub fn primary_port(&self) -> Option<u16> {
        self.0.primary_port()
    }

    /// Waits (bounded) until the topology is healthy.
    pub fn healthy(&self) {
        self.0
            .healthy()
            .expect("the sentinel topology becomes healthy");
    }

    /// `SENTINEL FAILOVER`; returns the new primary's port once healthy.
    pub fn failover(&self) -> u16 {
        self.0.failover().expect("SENTINEL FAILOVER completes")
    }

    /// `SENTINEL FAILOVER` without waiting (asked again while a sentinel
    /// answers `NOGOODSLAVE` or `INPROG`); returns the old primary's port.
    pub fn begin_failover(&self) -> u16 {
        self.0
            .begin_failover()
            .expect("a sentinel takes SENTINEL FAILOVER")
    }

    /// After [`begin_failover`](Topology::begin_failover) from `old`: the
    /// new primary's port once the sentinels agree on it (asking for the
    /// failover again if a sentinel gave it up), before `old` is demoted.
    pub fn switched(&self, old: u16) -> u16 {
        self.0.switched(old).expect("the sentinels fail over")
    }

    /// Kills the primary with SIGKILL (`kill -9`) and returns its port; the
    /// sentinels have not promoted the replica yet (see [`promoted`]).
    ///
    /// [`promoted`]: Topology::promoted
    pub fn kill_primary(&self) -> u16 {
        self.0.kill_primary().expect("a primary to kill")
    }

    /// After [`kill_primary`](Topology::kill_primary) killed `old`: waits
    /// until the sentinels promote the replica, restarts the killed node
    /// as a replica, and waits until the topology is healthy again;
    /// returns the new primary's port.
    pub fn promoted(&self, old: u16) -> u16 {
        self.0
            .promoted(old)
            .expect("the replica is promoted and the killed node rejoins")
    }
}
