//! `RedisPool`: the way to Redis for the stores that keep state there (the
//! hub's `RedisStore`, the callbacks' `RedisDedup`), with the `redis`
//! crate's blocking API, whatever the [`Topology`]: one server, or the
//! primary Redis Sentinel names. Connecting and every command have a
//! timeout; a few idle connections are kept; errors name the server, never
//! its password. A primary that went away or was demoted (`READONLY`) is
//! looked up again and the operation tried again, within a bound.
//!
//! # Reads on a demoted primary
//!
//! A store that only reads gets no `READONLY` answer from a primary that
//! Sentinel demoted (replicas serve reads), so a failover is seen in two
//! other ways. When Sentinel reconfigures the old primary as a replica of
//! the new one, it disconnects that server's clients in the same
//! transaction (`SLAVEOF`, `CONFIG REWRITE`, `CLIENT KILL TYPE normal`): a
//! pooled connection to it then fails as stale, and under Sentinel the new
//! connection that replaces it asks the sentinels for the primary again,
//! instead of going back to the address last found (the demoted server,
//! which would answer reads, stale ones too, for as long as nothing was
//! written). And Sentinel demotes the old primary late: after a `SENTINEL
//! FAILOVER`, or when a killed primary comes back, it waits 8 seconds or
//! more after switching to the new primary, during which the old one
//! still says it is the primary, keeps its clients and takes writes that
//! are lost when it is demoted. So before lending a connection, the pool
//! asks one sentinel which primary it names, at most once per
//! [`RedisSentinel::RECHECK`] (250 ms); if that is another one, the idle
//! connections are dropped and the next one connects to it. A sentinel
//! that does not answer is passed over: the connection is lent, and the
//! next check asks the next sentinel. Every new connection under Sentinel
//! asks the server its role (`ROLE`) and treats a replica as a failover:
//! a killed primary that came back as a replica at the address last found
//! would otherwise serve reads while a sentinel that had not heard of the
//! promotion yet still named it. A connection made before the primary was
//! last forgotten is never lent or put back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Connection, RedisError, RedisResult};

use crate::error::{Error, Result};

mod cluster;
mod connection;
mod health;
mod keys;
mod topology;

pub(crate) use connection::RedisConnection;
pub(crate) use health::Health;
#[cfg(test)]
pub(crate) use keys::hash_tag;
pub(crate) use keys::tagged;
pub use topology::RedisSentinel;
pub(crate) use topology::Topology;

/// Idle connections kept for reuse.
const IDLE: usize = 16;

/// The most tries of one operation while a failover goes on.
const FAILOVER_TRIES: u32 = 20;

/// The first wait between two tries during a failover; doubled after each
/// try up to [`FAILOVER_BACKOFF_CAP`].
const FAILOVER_BACKOFF: Duration = Duration::from_millis(50);

/// The longest wait between two tries during a failover.
const FAILOVER_BACKOFF_CAP: Duration = Duration::from_millis(500);

/// Connections to the Redis a [`Topology`] names.
pub(crate) struct RedisPool {
    topology: Arc<Shared>,
    timeout: Duration,
    /// With the topology's generation when each was made: one made
    /// before the primary was last forgotten is dropped, not lent.
    idle: Mutex<Vec<(u64, RedisConnection)>>,
}

impl RedisPool {
    /// A pool for `url` (`redis://[:password@]host:port[/db]`); no
    /// connection is made until the first command.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `url` is
    /// not a Redis URL.
    pub(crate) fn open(url: &str, timeout: Duration) -> Result<RedisPool> {
        Ok(RedisPool::new(Topology::single(url)?, timeout))
    }

    /// A pool for the primary `sentinel` names; no connection is made
    /// until the first command.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if a
    /// sentinel address is not a Redis URL or the master name is empty.
    pub(crate) fn sentinel(sentinel: RedisSentinel, timeout: Duration) -> Result<RedisPool> {
        Ok(RedisPool::new(
            Topology::sentinel(sentinel, timeout)?,
            timeout,
        ))
    }

    /// A pool for the Redis Cluster that `seeds` belong to; no connection
    /// is made until the first command.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `seeds`
    /// is empty or one is not a Redis URL.
    pub(crate) fn cluster(seeds: &[impl AsRef<str>], timeout: Duration) -> Result<RedisPool> {
        Ok(RedisPool::new(Topology::cluster(seeds)?, timeout))
    }

    fn new(topology: Topology, timeout: Duration) -> RedisPool {
        RedisPool {
            topology: Arc::new(Shared {
                topology,
                health: Mutex::new(Health::default()),
            }),
            timeout,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The server, without the password (for Sentinel: the primary last
    /// found and the master's name).
    pub(crate) fn addr(&self) -> String {
        self.topology.topology.addr()
    }

    /// `single`, `sentinel` or `cluster`.
    pub(crate) fn mode(&self) -> &'static str {
        self.topology.topology.mode()
    }

    /// What the pool has seen of its Redis.
    pub(crate) fn health(&self) -> Health {
        self.topology.health.lock().clone()
    }

    /// Changes what the pool has seen (a write's replicas, persistence).
    pub(crate) fn note(&self, change: impl FnOnce(&mut Health)) {
        change(&mut self.topology.health.lock());
    }

    /// The time allowed to connect and for each command.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// What connects to the primary, for a thread that keeps a
    /// connection of its own (a lock's renewer, a subscriber).
    pub(crate) fn connector(&self) -> Connector {
        Connector(Arc::clone(&self.topology))
    }

    /// Checks that Redis answers (`PING`).
    pub(crate) fn ping(&self) -> Result<()> {
        self.run("PING", |c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
    }

    /// Runs `command` on an idle connection, or a new one. An idle
    /// connection that fails may only be stale (Redis restarted): then the
    /// idle ones are dropped and `command` runs once more on a new
    /// connection. Under Sentinel, a failure that may mean a failover (the
    /// primary unreachable, or answering `READONLY`) makes the pool drop
    /// its connections, ask the sentinels for the primary again and run
    /// `command` again, for at most the sentinel's
    /// [`failover_wait`](RedisSentinel::failover_wait) and
    /// [`FAILOVER_TRIES`] tries. A failure is an
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) error saying
    /// `redis at <addr>: <what>`.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        command: impl Fn(&mut RedisConnection) -> RedisResult<T>,
    ) -> Result<T> {
        let deadline = self
            .topology
            .topology
            .failover_wait()
            .and_then(|wait| Instant::now().checked_add(wait));
        let mut backoff = FAILOVER_BACKOFF;
        let mut tries = 1;
        loop {
            let error = match self.once(&command) {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if !may_be_failover(&error) {
                return Err(self.error(what, error));
            }
            self.idle.lock().clear();
            if is_read_only(&error) {
                self.note(|h| h.read_only(&self.addr()));
                if self.topology.topology.failover_wait().is_none() {
                    return Err(self.error(
                        &format!(
                            "{what}: the server is a read-only replica now (demoted by a \
                             failover?): point the store at the primary, or use Sentinel"
                        ),
                        error,
                    ));
                }
            }
            self.topology.topology.forget_primary();
            let retry = deadline.is_some_and(|deadline| {
                tries < FAILOVER_TRIES && Instant::now() + backoff < deadline
            });
            if !retry {
                return Err(self.error(what, error));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(FAILOVER_BACKOFF_CAP);
            tries += 1;
        }
    }

    fn error(&self, what: &str, e: RedisError) -> Error {
        Error::store(format!("redis at {}: {what}", self.addr()), e)
    }

    /// One try: an idle connection (and a new one if that was stale), or
    /// a new one. Under Sentinel, idle connections made before the primary
    /// was last forgotten are dropped first (the sentinels are asked
    /// whether they name another primary at most once per
    /// [`RedisSentinel::RECHECK`]), and a stale one makes the new one look
    /// the primary up again (see the module docs).
    fn once<T>(&self, command: &impl Fn(&mut RedisConnection) -> RedisResult<T>) -> RedisResult<T> {
        let topology = &self.topology.topology;
        // A replaced primary raises the generation: the retain below drops
        // the idle connections to it.
        topology.primary_replaced();
        let pooled = {
            let mut idle = self.idle.lock();
            let now = topology.generation();
            idle.retain(|(made, _)| *made == now);
            idle.pop()
        };
        let (value, (made, con)) = match pooled {
            Some((made, mut con)) => match command(&mut con) {
                Ok(v) => (v, (made, con)),
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    self.idle.lock().clear();
                    if self.topology.topology.is_sentinel() {
                        // Sentinel closes every client of a primary it
                        // demotes: the address may be a replica's now.
                        self.topology.topology.forget_primary();
                    }
                    self.fresh(command)?
                }
                Err(e) => return Err(e),
            },
            None => self.fresh(command)?,
        };
        // While the server is marked read-only, each command connects
        // anew, and the new connection asks whether it is the primary again.
        if self.topology.health.lock().read_only_since.is_some() {
            return Ok(value);
        }
        // A connection borrowed before the primary was forgotten (by
        // another caller meanwhile) is not put back.
        let mut idle = self.idle.lock();
        if idle.len() < IDLE && made == topology.generation() {
            idle.push((made, con));
        }
        Ok(value)
    }

    /// A new connection, with the generation read before it was made, and
    /// `command`'s answer on it.
    fn fresh<T>(
        &self,
        command: &impl Fn(&mut RedisConnection) -> RedisResult<T>,
    ) -> RedisResult<(T, (u64, RedisConnection))> {
        let made = self.topology.topology.generation();
        let mut con = self.connector().command_connection(self.timeout)?;
        let value = command(&mut con)?;
        Ok((value, (made, con)))
    }
}

/// A pool's topology and what it has seen, shared with its [`Connector`]s.
struct Shared {
    topology: Topology,
    health: Mutex<Health>,
}

/// Connects to the current primary of a pool's [`Topology`].
#[derive(Clone)]
pub(crate) struct Connector(Arc<Shared>);

impl Connector {
    /// A new connection to the primary (in a cluster: to the seed node
    /// listeners use now), `timeout` for connecting and for each command.
    /// A failure makes the next connection look the primary up again (the
    /// next seed).
    pub(crate) fn connect(&self, timeout: Duration) -> RedisResult<Connection> {
        let con = self.0.topology.primary().and_then(|(client, addr)| {
            let mut con = client.get_connection_with_timeout(timeout)?;
            con.set_read_timeout(Some(timeout))?;
            con.set_write_timeout(Some(timeout))?;
            // Under Sentinel the address kept may be a replica's by now (a
            // killed primary that came back as one answers reads): a new
            // connection asks, and one to a replica is a failover.
            if self.0.topology.is_sentinel()
                && !matches!(
                    redis::cmd("ROLE").query::<redis::Role>(&mut con)?,
                    redis::Role::Primary { .. }
                )
            {
                return Err(RedisError::from((
                    redis::ErrorKind::MasterNameNotFoundBySentinel,
                    "the primary last named by the sentinels is not the primary any more",
                )));
            }
            let mut health = self.0.health.lock();
            // A cluster's listener node is one seed among equals, not a
            // primary: moving to the next seed is no failover.
            if !matches!(self.0.topology, Topology::Cluster(_)) {
                health.primary_found(&addr);
            }
            if health.read_only_since.is_some() {
                // Writable again only once it says it is the primary.
                drop(health);
                if let redis::Role::Primary { .. } = redis::cmd("ROLE").query(&mut con)? {
                    self.0.health.lock().writable(&addr);
                }
            }
            Ok(con)
        });
        if con.is_err() {
            self.forget_primary();
        }
        con
    }

    /// A new connection for commands (see [`RedisConnection`]): to the
    /// primary (as [`connect`](Connector::connect)), or to a cluster;
    /// `timeout` for connecting and for each command. A failure makes the
    /// next connection look the primary up again.
    pub(crate) fn command_connection(&self, timeout: Duration) -> RedisResult<RedisConnection> {
        if !matches!(self.0.topology, Topology::Cluster(_)) {
            return self.connect(timeout).map(RedisConnection::Node);
        }
        let con = self.0.topology.command_connection(timeout);
        if con.is_err() {
            self.forget_primary();
        }
        con
    }

    /// The topology's generation (see [`Topology::generation`]): a
    /// connection kept across commands is made again when it changes.
    pub(crate) fn generation(&self) -> u64 {
        self.0.topology.generation()
    }

    /// Under Sentinel, asks whether the sentinels name another primary now
    /// (at most once per [`RedisSentinel::RECHECK`]), which raises the
    /// generation if they do.
    pub(crate) fn recheck(&self) {
        self.0.topology.primary_replaced();
    }

    /// Makes the next connection ask for the primary again (Sentinel).
    pub(crate) fn forget_primary(&self) {
        self.0.topology.forget_primary();
    }

    /// The server, without the password.
    pub(crate) fn addr(&self) -> String {
        self.0.topology.addr()
    }
}

/// Whether `e` may mean that the primary changed: it is unreachable, the
/// connection broke, it answers `READONLY` (demoted to a replica), or the
/// sentinels name no primary yet.
fn may_be_failover(e: &RedisError) -> bool {
    use redis::ErrorKind;
    e.is_io_error()
        || e.is_connection_dropped()
        || is_read_only(e)
        || matches!(
            e.kind(),
            ErrorKind::MasterNameNotFoundBySentinel | ErrorKind::NoValidReplicasFoundBySentinel
        )
}

/// Whether Redis answered `READONLY`: the server is a replica now.
pub(crate) fn is_read_only(e: &RedisError) -> bool {
    e.code() == Some("READONLY") || e.to_string().contains("read only replica")
}
