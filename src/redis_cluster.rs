//! `ClusterPool`: the way to a Redis Cluster for `RedisStore`, with the
//! `redis` crate's own blocking cluster client (feature `cluster`): each
//! command goes to the primary of its key's slot, follows `MOVED` and
//! `ASK` redirections, and waits and tries again on `TRYAGAIN` and
//! `CLUSTERDOWN`, a bounded number of times. Connecting and every command
//! have a timeout; a few idle connections (each holding one connection
//! per node) are kept; errors name the seed nodes, never a password.
//!
//! And `RedisBackend`: one server ([`RedisPool`]) or a cluster, as the
//! store sees them.

use std::time::Duration;

use parking_lot::Mutex;
use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{ConnectionLike, RedisResult};

use crate::error::{Error, Result};
use crate::redis_pool::RedisPool;

/// Idle connections kept for reuse.
const IDLE: usize = 8;

/// How many times a command is tried again after a redirection or a
/// cluster that is moving a slot or electing a primary.
const RETRIES: u32 = 5;

/// The shortest and longest wait between two tries (ms): random between
/// them, growing with each try.
const RETRY_WAIT: (u64, u64) = (10, 500);

/// Connections to one Redis Cluster.
pub(crate) struct ClusterPool {
    client: ClusterClient,
    /// The seeds as given (passwords included: never shown): listeners
    /// subscribe through them (pub/sub is not in the cluster client).
    seeds: Vec<String>,
    /// `host:port,host:port…`, without passwords: what errors and `Debug`
    /// show.
    addr: String,
    timeout: Duration,
    idle: Mutex<Vec<ClusterConnection>>,
}

impl ClusterPool {
    /// A pool for the cluster that `seeds` (`redis://[:password@]host:port`,
    /// one node or more) belong to; no connection is made until the first
    /// command.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `seeds`
    /// is empty or one is not a Redis URL.
    pub(crate) fn open(seeds: &[impl AsRef<str>], timeout: Duration) -> Result<ClusterPool> {
        let seeds: Vec<String> = seeds.iter().map(|s| s.as_ref().to_string()).collect();
        let addr = seeds
            .iter()
            .map(|s| redacted(s))
            .collect::<Vec<_>>()
            .join(",");
        if seeds.is_empty() {
            return Err(Error::config("a redis cluster needs one seed node or more"));
        }
        let client = client(&seeds, timeout)
            .map_err(|e| Error::config(format!("bad redis cluster seeds {addr}: {e}")))?;
        Ok(ClusterPool {
            client,
            seeds,
            addr,
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The seeds, without passwords.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        *self = ClusterPool::open(&self.seeds, timeout)?;
        Ok(())
    }

    /// A connection of the caller's own, with the pool's timeouts.
    fn connect(&self) -> RedisResult<ClusterConnection> {
        let con = self.client.get_connection()?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(con)
    }

    /// Runs `command` on an idle connection, or a new one. A failure is
    /// an [`ErrorKind::Store`](crate::ErrorKind::Store) error saying
    /// `redis cluster at <seeds>: <what>`; the connection it failed on is
    /// dropped (the next command connects again, through the seeds).
    pub(crate) fn run<T>(
        &self,
        what: &str,
        command: impl Fn(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T> {
        let pooled = self.idle.lock().pop();
        let result = match pooled {
            Some(con) => Ok(con),
            None => self.connect(),
        }
        .and_then(|mut con| command(&mut con).map(|value| (value, con)));
        match result {
            Ok((value, con)) => {
                let mut idle = self.idle.lock();
                if idle.len() < IDLE {
                    idle.push(con);
                }
                Ok(value)
            }
            Err(e) => Err(Error::store(
                format!("redis cluster at {}: {what}", self.addr),
                e,
            )),
        }
    }
}

/// The cluster client for `seeds`: `timeout` on connecting to a node and
/// on each answer, and bounded tries.
fn client(seeds: &[String], timeout: Duration) -> RedisResult<ClusterClient> {
    ClusterClient::builder(seeds.to_vec())
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .retries(RETRIES)
        .min_retry_wait(RETRY_WAIT.0)
        .max_retry_wait(RETRY_WAIT.1)
        .build()
}

/// A Redis URL without its scheme and password: `host:port[/db]`.
fn redacted(url: &str) -> &str {
    let addr = url.rsplit_once('@').map_or(url, |(_, host)| host);
    addr.trim_start_matches("redis://")
        .trim_start_matches("rediss://")
}

/// Where a `RedisStore` keeps its keys: one server ([`RedisPool`]) or a
/// cluster ([`ClusterPool`]). Commands get a connection of either kind as
/// `&mut dyn ConnectionLike`.
pub(crate) enum RedisBackend {
    One(RedisPool),
    Cluster(ClusterPool),
}

impl RedisBackend {
    /// The server or the seeds, without passwords.
    pub(crate) fn addr(&self) -> &str {
        match self {
            RedisBackend::One(pool) => pool.addr(),
            RedisBackend::Cluster(pool) => pool.addr(),
        }
    }

    /// `redis` or `redis cluster`, for errors.
    pub(crate) fn what(&self) -> &'static str {
        match self {
            RedisBackend::One(_) => "redis",
            RedisBackend::Cluster(_) => "redis cluster",
        }
    }

    /// The time allowed to connect and for each command.
    pub(crate) fn timeout(&self) -> Duration {
        match self {
            RedisBackend::One(pool) => pool.timeout(),
            RedisBackend::Cluster(pool) => pool.timeout,
        }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) -> Result<()> {
        match self {
            RedisBackend::One(pool) => {
                pool.set_timeout(timeout);
                Ok(())
            }
            RedisBackend::Cluster(pool) => pool.set_timeout(timeout),
        }
    }

    /// Runs `command` on a pooled connection (see [`RedisPool::run`] and
    /// [`ClusterPool::run`]).
    pub(crate) fn run<T>(
        &self,
        what: &str,
        command: impl Fn(&mut dyn ConnectionLike) -> RedisResult<T>,
    ) -> Result<T> {
        match self {
            RedisBackend::One(pool) => pool.run(what, |c| command(c)),
            RedisBackend::Cluster(pool) => pool.run(what, command),
        }
    }

    /// What a thread of its own (a lock's renewer) connects with, with
    /// `timeout` on connecting and on each command.
    pub(crate) fn connector(&self, timeout: Duration) -> Connector {
        match self {
            RedisBackend::One(pool) => Connector::One(pool.client().clone(), timeout),
            RedisBackend::Cluster(pool) => Connector::Cluster(
                // ok because these seeds made a client before: the pool's
                // own (its longer timeout) only if that changed
                client(&pool.seeds, timeout).unwrap_or_else(|_| pool.client.clone()),
                timeout,
            ),
        }
    }

    /// The nodes a listener may subscribe on, each as its address (no
    /// password) and a client, in the order to try them: the server; in a
    /// cluster, each seed (a `PUBLISH` on any node reaches the subscribers
    /// of every node, so any one will do, and the next is tried when one
    /// is lost).
    pub(crate) fn subscribers(&self) -> Vec<(String, redis::Client)> {
        match self {
            RedisBackend::One(pool) => vec![(pool.addr().to_string(), pool.client().clone())],
            RedisBackend::Cluster(pool) => pool
                .seeds
                .iter()
                .filter_map(|seed| {
                    let client = redis::Client::open(seed.as_str()).ok()?;
                    Some((redacted(seed).to_string(), client))
                })
                .collect(),
        }
    }
}

/// Makes connections of a thread's own to a store's Redis.
#[derive(Clone)]
pub(crate) enum Connector {
    One(redis::Client, Duration),
    Cluster(ClusterClient, Duration),
}

impl Connector {
    /// A new connection, with its timeout on connecting and on each read
    /// and write.
    pub(crate) fn connect(&self) -> RedisResult<Box<dyn ConnectionLike + Send>> {
        match self {
            Connector::One(client, timeout) => {
                let con = client.get_connection_with_timeout(*timeout)?;
                con.set_read_timeout(Some(*timeout))?;
                con.set_write_timeout(Some(*timeout))?;
                Ok(Box::new(con))
            }
            Connector::Cluster(client, timeout) => {
                let con = client.get_connection()?;
                con.set_read_timeout(Some(*timeout))?;
                con.set_write_timeout(Some(*timeout))?;
                Ok(Box::new(con))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_shown_without_passwords() {
        let pool = ClusterPool::open(
            &["redis://:hunter2@10.0.0.1:6379/", "redis://10.0.0.2:6380"],
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(pool.addr(), "10.0.0.1:6379/,10.0.0.2:6380");
        let empty: [&str; 0] = [];
        assert!(ClusterPool::open(&empty, Duration::from_secs(1)).is_err());
    }
}
