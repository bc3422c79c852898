//! A Redis Cluster as a [`Topology`](super::Topology): commands go through
//! the `redis` crate's own blocking cluster client (feature `cluster`),
//! which sends each to the primary of its key's slot, follows `MOVED` and
//! `ASK`, and waits and tries again on `TRYAGAIN` and `CLUSTERDOWN`, a
//! bounded number of times; listeners (pub/sub is not in the cluster
//! client) subscribe on one seed node, the next one after a failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Client, RedisResult};

use super::topology::redacted;
use crate::error::{Error, Result};

/// How many times a command is tried again after a redirection, or while
/// the cluster moves a slot or elects a primary.
const RETRIES: u32 = 5;

/// The shortest and longest wait between two tries (ms): random between
/// them, growing with each try.
const RETRY_WAIT: (u64, u64) = (10, 500);

/// The cluster that some seed nodes belong to.
pub(crate) struct ClusterTarget {
    /// As given, passwords included (never shown).
    seeds: Vec<String>,
    /// A client of each seed, with its `host:port`: where listeners
    /// subscribe (a `PUBLISH` on any node reaches the subscribers of
    /// every node, so any one will do).
    nodes: Vec<(Client, String)>,
    /// The node listeners use now: moves on after each failure.
    at: AtomicUsize,
    /// The seeds, without passwords.
    addr: String,
}

impl ClusterTarget {
    /// The cluster of `seeds` (`redis://[[user]:password@]host:port`, all
    /// with the same credentials).
    ///
    /// # Errors
    ///
    /// A configuration error if `seeds` is empty, one is not a Redis URL,
    /// or their credentials differ.
    pub(crate) fn new(seeds: &[impl AsRef<str>]) -> Result<ClusterTarget> {
        let seeds: Vec<String> = seeds.iter().map(|s| s.as_ref().to_string()).collect();
        let addr = seeds
            .iter()
            .map(|s| redacted(s))
            .collect::<Vec<_>>()
            .join(",");
        if seeds.is_empty() {
            return Err(Error::config("a redis cluster needs one seed node or more"));
        }
        let bad = |e: &dyn std::fmt::Display| {
            Error::config(format!("bad redis cluster seeds {addr}: {e}"))
        };
        client(&seeds, Duration::from_secs(1)).map_err(|e| bad(&e))?;
        let nodes = seeds
            .iter()
            .map(|seed| Ok((Client::open(seed.as_str())?, redacted(seed))))
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| bad(&e))?;
        Ok(ClusterTarget {
            seeds,
            nodes,
            at: AtomicUsize::new(0),
            addr,
        })
    }

    /// The seeds, without passwords.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// A connection to the cluster (one connection per node inside),
    /// `timeout` on connecting to a node and on each answer.
    pub(crate) fn connect(&self, timeout: Duration) -> RedisResult<ClusterConnection> {
        let con = client(&self.seeds, timeout)?.get_connection()?;
        con.set_write_timeout(Some(timeout))?;
        Ok(con)
    }

    /// The node a listener subscribes on now.
    pub(crate) fn node(&self) -> (Client, String) {
        self.nodes[self.at.load(Ordering::Relaxed) % self.nodes.len()].clone()
    }

    /// The node failed: the next listener tries the next seed.
    pub(crate) fn next_node(&self) {
        self.at.fetch_add(1, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_shown_without_passwords_and_tried_in_turn() {
        let cluster = ClusterTarget::new(&[
            "redis://:hunter2@10.0.0.1:6379/",
            "redis://:hunter2@10.0.0.2:6380",
        ])
        .unwrap();
        assert_eq!(cluster.addr(), "10.0.0.1:6379/,10.0.0.2:6380");
        assert_eq!(cluster.node().1, "10.0.0.1:6379/");
        cluster.next_node();
        assert_eq!(cluster.node().1, "10.0.0.2:6380");
        cluster.next_node();
        assert_eq!(cluster.node().1, "10.0.0.1:6379/");
        assert!(
            ClusterTarget::new(&["redis://:a@10.0.0.1:6379/", "redis://:b@10.0.0.2:6379/"])
                .is_err(),
            "one password for the whole cluster"
        );
        let empty: [&str; 0] = [];
        assert!(ClusterTarget::new(&empty).is_err());
        assert!(ClusterTarget::new(&["http://10.0.0.1"]).is_err());
    }
}
