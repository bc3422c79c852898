//! Where the Redis that the stores use lives: one server at a URL, or a
//! primary that Redis Sentinel names and moves on failover. The pool asks
//! its [`Topology`] for the current primary and tells it when that
//! primary turned out to be gone or demoted.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::io::tcp::TcpSettings;
use redis::{
    Client, Connection, ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisResult,
};

use super::cluster::ClusterTarget;
use super::connection::RedisConnection;
use crate::error::{Error, Result};

/// How long a [`RedisSentinel::RECHECK`] passes over a sentinel that failed
/// one (unless every sentinel failed).
const PASSED_OVER: Duration = Duration::from_secs(30);

/// A Redis primary found through Redis Sentinel: the sentinels' addresses
/// and the name of the primary they watch (`sentinel monitor <name> …`).
/// On failover the stores built on it ask the sentinels again and carry on
/// with the new primary.
///
/// Sentinel addresses are URLs, `redis://[[user]:password@]host:port`:
/// the credentials there are the sentinels' own (`requirepass` /
/// ACL of the sentinel). The primary and its replicas, whose addresses the
/// sentinels give, may need other credentials: [`auth`](RedisSentinel::auth).
/// `rediss://` sentinel URLs connect to the sentinels and to the data nodes
/// over TLS. This crate does not turn on a TLS feature of the `redis`
/// crate: a build that needs `rediss://` adds one (e.g. `redis/tls-rustls`
/// in the application's `Cargo.toml`); without it, `rediss://` addresses
/// fail with an error saying so.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use weixin::RedisSentinel;
///
/// let sentinel = RedisSentinel::new(
///     "mymaster",
///     ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379", "redis://10.0.0.3:26379"],
/// )
/// .auth(Some("hub"), std::env::var("REDIS_PASSWORD").unwrap_or_default())
/// .failover_wait(Duration::from_secs(10));
/// assert!(format!("{sentinel:?}").contains("mymaster"));
/// ```
#[derive(Clone)]
pub struct RedisSentinel {
    pub(crate) master: String,
    pub(crate) sentinels: Vec<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) db: i64,
    pub(crate) failover_wait: Duration,
}

impl RedisSentinel {
    /// The primary named `master`, found through the sentinels at
    /// `sentinels` (URLs, see above).
    pub fn new<I, S>(master: impl Into<String>, sentinels: I) -> RedisSentinel
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RedisSentinel {
            master: master.into(),
            sentinels: sentinels.into_iter().map(Into::into).collect(),
            username: None,
            password: None,
            db: 0,
            failover_wait: Duration::from_secs(5),
        }
    }

    /// The credentials of the data nodes (the primary and its replicas):
    /// `AUTH [username] password`. The sentinels' own credentials go in
    /// their URLs.
    ///
    /// Defaults to none.
    pub fn auth(mut self, username: Option<&str>, password: impl Into<String>) -> RedisSentinel {
        self.username = username.map(str::to_string);
        self.password = Some(password.into());
        self
    }

    /// The database number on the primary.
    ///
    /// Defaults to 0.
    pub fn db(mut self, db: i64) -> RedisSentinel {
        self.db = db;
        self
    }

    /// How long an operation that fails because the primary went away (a
    /// connection refused or dropped, a `READONLY` answer from a demoted
    /// primary) keeps asking the sentinels for the new primary and trying
    /// again, before it fails with the store error it would fail with on a
    /// single Redis. At most 20 tries within that time.
    ///
    /// Defaults to 5 seconds.
    pub fn failover_wait(mut self, wait: Duration) -> RedisSentinel {
        self.failover_wait = wait;
        self
    }
}

impl RedisSentinel {
    /// How often, at most, a store on Sentinel asks a sentinel whether the
    /// primary it uses is still the one the sentinels name, before it
    /// lends a connection: four times a second at most, one command to one
    /// sentinel.
    ///
    /// A failover is seen without this when the old primary is gone (the
    /// connection breaks) or refuses a write (`READONLY`), and when
    /// Sentinel reconfigures the old primary as a replica: it then
    /// disconnects every client there (`CLIENT KILL TYPE normal`), and the
    /// store asks the sentinels again. But after a `SENTINEL FAILOVER`,
    /// Sentinel leaves the old primary alone for 8 seconds or more before
    /// it demotes it, and meanwhile that server still says it is the
    /// primary and takes writes that are lost when it is demoted. This
    /// check bounds that time: the sentinels are asked in turn, one per
    /// interval (one that failed is passed over for 30 s), so the store
    /// moves at most one interval per sentinel after the sentinel that led
    /// the failover names the new primary (the others learn of it within
    /// about 2 s). It reads the configuration epoch from `SENTINEL MASTER`,
    /// and follows only a higher one, so that a sentinel that has not
    /// heard of the failover cannot move the store back; while a sentinel
    /// reports `failover_in_progress` the address is read from
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME`, which names the new primary
    /// from the moment the new epoch is taken. Where an ACL allows only
    /// `GET-MASTER-ADDR-BY-NAME`, the check never moves the store, and a
    /// failover is seen only when the old primary breaks its connections
    /// or refuses a write. The store's removals listener rechecks too.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// assert_eq!(weixin::RedisSentinel::RECHECK, Duration::from_millis(250));
    /// ```
    pub const RECHECK: Duration = Duration::from_millis(250);
}

impl fmt::Debug for RedisSentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSentinel")
            .field("master", &self.master)
            .field(
                "sentinels",
                &self
                    .sentinels
                    .iter()
                    .map(|s| redacted(s))
                    .collect::<Vec<_>>(),
            )
            .field("db", &self.db)
            .field("failover_wait", &self.failover_wait)
            .finish_non_exhaustive()
    }
}

/// `host:port[/db]` of a Redis URL, without its scheme and credentials.
pub(crate) fn redacted(url: &str) -> String {
    let addr = url.rsplit_once('@').map_or(url, |(_, host)| host);
    addr.trim_start_matches("redis://")
        .trim_start_matches("rediss://")
        .to_string()
}

/// How the pool reaches the primary.
pub(crate) enum Topology {
    /// One server at a fixed address.
    Single { client: Client, addr: String },
    /// The primary the sentinels name, asked again after each failure
    /// that may mean a failover.
    Sentinel(Box<SentinelTarget>),
    /// A Redis Cluster: commands through the cluster client; its
    /// "primary" is the seed node listeners subscribe on.
    Cluster(Box<ClusterTarget>),
}

pub(crate) struct SentinelTarget {
    config: RedisSentinel,
    /// The sentinels, asked in turn.
    sentinels: Vec<ConnectionInfo>,
    /// The data nodes' database and credentials.
    node: RedisConnectionInfo,
    tcp: TcpSettings,
    tls: bool,
    /// For connecting to a sentinel or a data node and for each answer
    /// while looking the primary up (the `redis` crate's own lookup has
    /// neither: one sentinel that accepts and never answers would hang it).
    timeout: Duration,
    /// The primary last found, with its `host:port`.
    primary: Mutex<Option<(Client, String)>>,
    /// Raised each time the primary last found is forgotten: a connection
    /// made before is to a server that may not be the primary any more.
    generation: AtomicU64,
    /// Held while the sentinels are asked, so that one caller looks the
    /// primary up and the others wait for its answer.
    looking: Mutex<()>,
    /// When the sentinels last named the primary last found: a lookup or
    /// a [`RedisSentinel::RECHECK`].
    checked: Mutex<Option<Instant>>,
    /// The sentinel asked first: the last one that answered.
    answering: AtomicUsize,
    /// Until when each sentinel is passed over by the
    /// [`RedisSentinel::RECHECK`]s, after it failed one: one that is
    /// down, or accepts and never answers, would hold up a command each
    /// time its turn came.
    passed_over: Mutex<Vec<Option<Instant>>>,
    /// The configuration epoch of the sentinel that named the primary
    /// last found (Sentinel raises it with each failover): a sentinel
    /// that names another primary with an epoch no higher has not heard
    /// of the failover that made this one, and is not followed (see
    /// [`follows`]).
    epoch: AtomicU64,
}

/// What a sentinel says of the primary.
struct Named {
    host: String,
    port: u16,
    epoch: u64,
}

impl Named {
    fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Whether a store on `current`, which last followed configuration epoch
/// `known`, moves to the primary a sentinel `named`: another address, with
/// a higher epoch (a sentinel that has not heard of the last failover
/// names the old primary with a lower one, and one that has heard of it
/// names the new one with the same). Epoch 0 is no epoch (a sentinel whose
/// ACL refuses `SENTINEL MASTER`) and moves nothing.
fn follows(named: &Named, current: &str, known: u64) -> bool {
    named.addr() != current && named.epoch > known
}

impl SentinelTarget {
    /// Asks each sentinel in turn, from the one that answered last, for
    /// the primary's address (`SENTINEL MASTER`) and checks that the
    /// server there says it is the primary (`ROLE`); every connection and
    /// answer within `timeout`.
    ///
    /// An answer with a configuration epoch below the one last followed
    /// comes from a sentinel that has not heard of the last failover (the
    /// old primary may still say it is one): the next sentinel is asked,
    /// and such an answer is taken only if no sentinel gives a newer one
    /// (sentinels deployed anew start their epochs again).
    fn lookup(&self) -> RedisResult<(Client, String)> {
        let mut last = None;
        let mut behind: Option<((Client, String), u64, usize)> = None;
        let known = self.epoch.load(Ordering::Relaxed);
        let first = self.answering.load(Ordering::Relaxed);
        for n in first..first + self.sentinels.len() {
            let at = n % self.sentinels.len();
            match self.ask(&self.sentinels[at]) {
                Ok((found, epoch)) if epoch >= known => {
                    return Ok(self.followed(found, epoch, at));
                }
                Ok((found, epoch)) => {
                    if behind.as_ref().is_none_or(|b| epoch > b.1) {
                        behind = Some((found, epoch, at));
                    }
                }
                Err(e) => last = Some(e),
            }
        }
        if let Some((found, epoch, at)) = behind {
            return Ok(self.followed(found, epoch, at));
        }
        Err(last.unwrap_or_else(|| {
            RedisError::from((ErrorKind::MasterNameNotFoundBySentinel, "no sentinel"))
        }))
    }

    /// The primary `found`, named by sentinel `at` with `epoch`: asked
    /// first next time, and its epoch the one to beat.
    fn followed(&self, found: (Client, String), epoch: u64, at: usize) -> (Client, String) {
        self.answering.store(at, Ordering::Relaxed);
        self.epoch.store(epoch, Ordering::Relaxed);
        *self.checked.lock() = Some(Instant::now());
        found
    }

    /// Forgets the primary last found.
    fn forget(&self) {
        *self.primary.lock() = None;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether the sentinels name another primary than the one last
    /// found: asks one sentinel, at most once per
    /// [`RedisSentinel::RECHECK`], each in turn (the one that led the
    /// failover knows of it before the others), passing over for
    /// [`PASSED_OVER`] one that failed. `false` when no primary was found
    /// yet, when it is not time, or when the sentinel does not answer or
    /// has not heard of the last failover (see [`follows`]).
    fn replaced(&self) -> bool {
        // The clock first: this runs before every pooled command, and is
        // due once per interval.
        {
            let mut checked = self.checked.lock();
            if checked.is_some_and(|at| at.elapsed() < RedisSentinel::RECHECK) {
                return false;
            }
            *checked = Some(Instant::now());
        }
        let Some(current) = self.primary.lock().as_ref().map(|(_, addr)| addr.clone()) else {
            return false;
        };
        let n = self.sentinels.len();
        let first = self.answering.load(Ordering::Relaxed) % n;
        let at = {
            let passed_over = self.passed_over.lock();
            (first..first + n)
                .map(|i| i % n)
                .find(|&i| passed_over[i].is_none_or(|until| Instant::now() >= until))
                .unwrap_or(first)
        };
        let known = self.epoch.load(Ordering::Relaxed);
        let named = self.name(&self.sentinels[at]);
        self.passed_over.lock()[at] = named
            .is_err()
            .then(|| Instant::now().checked_add(PASSED_OVER))
            .flatten();
        if let Ok(named) = &named {
            if follows(named, &current, known) {
                self.answering.store(at, Ordering::Relaxed);
                return true;
            }
            if named.addr() == current {
                self.epoch.fetch_max(named.epoch, Ordering::Relaxed);
            }
        }
        self.answering.store((at + 1) % n, Ordering::Relaxed);
        false
    }

    /// The primary as `sentinel` names it: `SENTINEL MASTER`, for the
    /// epoch; a sentinel that refuses it (an ACL) is asked
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME`, and its answer has epoch 0 (so
    /// that a [`RedisSentinel::RECHECK`] never follows it).
    fn name(&self, sentinel: &ConnectionInfo) -> RedisResult<Named> {
        let unknown = |detail: String| {
            RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "the sentinel knows no master by that name",
                detail,
            ))
        };
        let mut con = self.connect(sentinel.clone())?;
        let master = redis::cmd("SENTINEL")
            .arg("MASTER")
            .arg(&self.config.master)
            .query::<HashMap<String, String>>(&mut con);
        let fields = match master {
            Ok(fields) => fields,
            // "ERR No such master with that name", or "NOPERM".
            Err(e) if matches!(e.kind(), ErrorKind::Server(_)) => {
                let named: Option<(String, u16)> = redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(&self.config.master)
                    .query(&mut con)?;
                let (host, port) = named.ok_or_else(|| unknown(e.to_string()))?;
                return Ok(Named {
                    host,
                    port,
                    epoch: 0,
                });
            }
            Err(e) => return Err(e),
        };
        let field = |name: &str| {
            fields
                .get(name)
                .ok_or_else(|| unknown(format!("no {name}")))
        };
        let number = |name: &str| {
            field(name)?
                .parse::<u64>()
                .map_err(|_| unknown(format!("{name} is no number")))
        };
        let epoch = number("config-epoch")?;
        // The sentinel leading a failover takes the new epoch once the
        // replica says it is the primary, but names the old address in
        // `SENTINEL MASTER` until it has reconfigured the other replicas;
        // meanwhile it tells the other sentinels, and answers
        // `GET-MASTER-ADDR-BY-NAME`, with the new one. The old address
        // with the new epoch made a store that asked then stay on the old
        // primary (which takes writes until it is demoted, 8 s or more
        // later), and one already on the new primary go back.
        let switching = field("flags")?
            .split(',')
            .any(|flag| flag == "failover_in_progress");
        if switching {
            let named: Option<(String, u16)> = redis::cmd("SENTINEL")
                .arg("GET-MASTER-ADDR-BY-NAME")
                .arg(&self.config.master)
                .query(&mut con)?;
            let (host, port) = named.ok_or_else(|| unknown("no address".into()))?;
            return Ok(Named { host, port, epoch });
        }
        Ok(Named {
            host: field("ip")?.clone(),
            port: u16::try_from(number("port")?).map_err(|_| unknown("port".into()))?,
            epoch,
        })
    }

    /// The primary `sentinel` names, if it says it is the primary, with
    /// the sentinel's configuration epoch.
    fn ask(&self, sentinel: &ConnectionInfo) -> RedisResult<((Client, String), u64)> {
        let named = self.name(sentinel)?;
        let (host, port) = (&named.host, named.port);
        let scheme = if self.tls { "rediss" } else { "redis" };
        let info = format!("{scheme}://{host}:{port}")
            .as_str()
            .into_connection_info()?
            .set_redis_settings(self.node.clone())
            .set_tcp_settings(self.tcp.clone());
        let client = Client::open(info)?;
        let mut con = self.connect_client(&client)?;
        match redis::cmd("ROLE").query::<redis::Role>(&mut con)? {
            redis::Role::Primary { .. } => Ok(((client, named.addr()), named.epoch)),
            _ => Err(RedisError::from((
                ErrorKind::MasterNameNotFoundBySentinel,
                "the server the sentinel named is not the primary (yet)",
            ))),
        }
    }

    fn connect(&self, info: ConnectionInfo) -> RedisResult<Connection> {
        self.connect_client(&Client::open(info)?)
    }

    fn connect_client(&self, client: &Client) -> RedisResult<Connection> {
        let con = client.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(con)
    }
}

impl Topology {
    /// One server at `url`.
    pub(crate) fn single(url: &str) -> Result<Topology> {
        let addr = redacted(url);
        let client = Client::open(url)
            .map_err(|e| Error::config(format!("bad redis url for {addr}: {e}")))?;
        Ok(Topology::Single { client, addr })
    }

    /// The primary `config` names, through its sentinels; each connection
    /// to a sentinel or a data node gets `timeout` as its TCP user timeout.
    pub(crate) fn sentinel(config: RedisSentinel, timeout: Duration) -> Result<Topology> {
        let bad = |e: &dyn fmt::Display| {
            Error::config(format!(
                "bad redis sentinel configuration for {}: {e}",
                config.master
            ))
        };
        if config.master.is_empty() {
            return Err(bad(&"empty master name"));
        }
        let tcp = TcpSettings::default().set_user_timeout(timeout);
        let tls = config.sentinels.iter().any(|s| s.starts_with("rediss://"));
        let sentinels = config
            .sentinels
            .iter()
            .map(|url| {
                url.as_str()
                    .into_connection_info()
                    .map(|info| info.set_tcp_settings(tcp.clone()))
                    .map_err(|e| bad(&format!("{}: {e}", redacted(url))))
            })
            .collect::<Result<Vec<ConnectionInfo>>>()?;
        if sentinels.is_empty() {
            return Err(bad(&"no sentinel address"));
        }
        let mut node = RedisConnectionInfo::default().set_db(config.db);
        if let Some(password) = &config.password {
            node = node.set_password(password);
        }
        if let Some(username) = &config.username {
            node = node.set_username(username);
        }
        let passed_over = Mutex::new(vec![None; sentinels.len()]);
        Ok(Topology::Sentinel(Box::new(SentinelTarget {
            config,
            sentinels,
            node,
            tcp,
            tls,
            timeout,
            primary: Mutex::new(None),
            generation: AtomicU64::new(0),
            looking: Mutex::new(()),
            checked: Mutex::new(None),
            answering: AtomicUsize::new(0),
            passed_over,
            epoch: AtomicU64::new(0),
        })))
    }

    /// The cluster that `seeds` belong to.
    pub(crate) fn cluster(seeds: &[impl AsRef<str>]) -> Result<Topology> {
        Ok(Topology::Cluster(Box::new(ClusterTarget::new(seeds)?)))
    }

    /// What the pool names in errors and `Debug`: the server, or the
    /// master's name and the primary last found, or a cluster's seeds.
    pub(crate) fn addr(&self) -> String {
        match self {
            Topology::Single { addr, .. } => addr.clone(),
            Topology::Cluster(t) => format!("cluster {}", t.addr()),
            Topology::Sentinel(t) => match &*t.primary.lock() {
                Some((_, addr)) => format!("{addr} (sentinel master {})", t.config.master),
                None => format!("sentinel master {}", t.config.master),
            },
        }
    }

    /// The primary: a client for it and its `host:port`.
    pub(crate) fn primary(&self) -> RedisResult<(Client, String)> {
        match self {
            Topology::Single { client, addr } => Ok((client.clone(), addr.clone())),
            Topology::Cluster(t) => Ok(t.node()),
            Topology::Sentinel(t) => {
                if let Some(found) = &*t.primary.lock() {
                    return Ok(found.clone());
                }
                // One lookup at a time; a caller that waited for another's
                // takes its answer.
                let _looking = t.looking.lock();
                if let Some(found) = &*t.primary.lock() {
                    return Ok(found.clone());
                }
                let found = t.lookup()?;
                *t.primary.lock() = Some(found.clone());
                Ok(found)
            }
        }
    }

    /// Under Sentinel, at most once per [`RedisSentinel::RECHECK`]:
    /// whether the sentinels name another primary than the one last found,
    /// which is then forgotten (the next connection looks it up). Always
    /// `false` for a single server or a cluster.
    pub(crate) fn primary_replaced(&self) -> bool {
        match self {
            Topology::Sentinel(t) if t.replaced() => {
                t.forget();
                true
            }
            _ => false,
        }
    }

    /// How many times the primary was forgotten (Sentinel; always 0
    /// otherwise): a connection made at an older generation may be to a
    /// server that is not the primary any more.
    pub(crate) fn generation(&self) -> u64 {
        match self {
            Topology::Sentinel(t) => t.generation.load(Ordering::SeqCst),
            _ => 0,
        }
    }

    /// Whether the primary is the one Redis Sentinel names.
    pub(crate) fn is_sentinel(&self) -> bool {
        matches!(self, Topology::Sentinel(_))
    }

    /// Forgets the primary last found, so that the next connection asks
    /// the sentinels again. Does nothing for a single server.
    pub(crate) fn forget_primary(&self) {
        match self {
            Topology::Single { .. } => {}
            Topology::Sentinel(t) => t.forget(),
            Topology::Cluster(t) => t.next_node(),
        }
    }

    /// A connection for commands: to the primary, or a cluster
    /// connection; `timeout` for connecting and for each command.
    pub(crate) fn command_connection(&self, timeout: Duration) -> RedisResult<RedisConnection> {
        match self {
            Topology::Cluster(t) => t
                .connect(timeout)
                .map(|con| RedisConnection::Cluster(Box::new(con))),
            _ => self.node_connection(timeout).map(RedisConnection::Node),
        }
    }

    /// A connection to the primary (in a cluster: to the seed node
    /// listeners use now), `timeout` for connecting and for each command.
    pub(crate) fn node_connection(&self, timeout: Duration) -> RedisResult<Connection> {
        let (client, _) = self.primary()?;
        let con = client.get_connection_with_timeout(timeout)?;
        con.set_read_timeout(Some(timeout))?;
        con.set_write_timeout(Some(timeout))?;
        Ok(con)
    }

    /// How long, and how many times, an operation that failed because the
    /// primary went away is tried again: never on a single server beyond
    /// the one new connection the pool makes anyway.
    pub(crate) fn failover_wait(&self) -> Option<Duration> {
        match self {
            // The cluster client follows a cluster's changes itself.
            Topology::Single { .. } | Topology::Cluster(_) => None,
            Topology::Sentinel(t) => Some(t.config.failover_wait),
        }
    }

    /// `single`, `sentinel` or `cluster`.
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Topology::Single { .. } => "single",
            Topology::Sentinel(_) => "sentinel",
            Topology::Cluster(_) => "cluster",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(port: u16, epoch: u64) -> Named {
        Named {
            host: "10.0.0.1".into(),
            port,
            epoch,
        }
    }

    #[test]
    fn a_store_follows_a_higher_epoch_only() {
        let (old, new) = ("10.0.0.1:6379", "10.0.0.1:6380");
        // A failover: the new primary with a higher epoch.
        assert!(follows(&named(6380, 2), old, 1));
        // A sentinel that has not heard of it names the old primary with
        // the old epoch: the store stays on the new one.
        assert!(!follows(&named(6379, 1), new, 2));
        // Nor does the same epoch take it anywhere.
        assert!(!follows(&named(6379, 2), new, 2));
        // No epoch (an ACL without SENTINEL MASTER) moves nothing.
        assert!(!follows(&named(6380, 0), old, 0));
        // The first failover of a master: from epoch 0 to 1.
        assert!(follows(&named(6380, 1), old, 0));
    }
}
