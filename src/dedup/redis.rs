//! `RedisDedup`: the pushes seen by every process that shares one Redis,
//! claimed with `SET NX PX` so that one delivery of a push runs, whichever
//! process WeChat's tries reach.

use std::fmt;
use std::time::Duration;

use super::{Claim, DedupStore, DEDUP_TTL};
use crate::clock::millis;
use crate::error::{Error, ErrorKind, Result};
use crate::redis_pool::{tagged, RedisPool};

/// A claim's value until its delivery answers.
const RUNNING: &str = "running";

/// What precedes an answer in a key's value.
const ANSWERED: &str = "answer:";

/// Claims `KEYS[1]` for `ARGV[1]` milliseconds (`SET NX PX`): nil if this
/// call claimed it, else the value that holds it. One script, so that no
/// claim can expire between the `SET` and the `GET`.
const CLAIM: &str = r#"
if redis.call('SET', KEYS[1], 'running', 'NX', 'PX', ARGV[1]) then return false end
return redis.call('GET', KEYS[1])
"#;

/// Deletes `KEYS[1]` if it is still a claim without an answer.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == 'running' then return redis.call('DEL', KEYS[1]) end return 0";

/// The time allowed to connect and for each command, unless
/// [`RedisDedup::timeout`] says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// A [`DedupStore`] in Redis, for several processes behind a load balancer
/// that WeChat's tries of one push may reach in any order. Uses the
/// `redis` crate's blocking API, like `store::RedisStore`, and Redis 6.0 or
/// later (`SET KEEPTTL`).
///
/// Each push is one key, `<prefix><kind>:{<digest>}` (`msg`, `event` or
/// `info`, and a digest of what tells the push apart, as a Redis Cluster
/// hash tag, like the store's keys): claimed with `SET NX PX` (value
/// `running`, for [`ttl`](RedisDedup::ttl)), then set to the first
/// delivery's answer for what is left of that time (`SET XX KEEPTTL`), or
/// deleted if it failed (only while it still says `running`). A delivery
/// whose claim outlives the ttl (a closure slower than a minute) finds its
/// key gone and keeps nothing.
///
/// One server ([`open`](RedisDedup::open)), the primary Redis Sentinel
/// names ([`sentinel`](RedisDedup::sentinel)) or a Redis Cluster
/// ([`cluster`](RedisDedup::cluster)). Replication is asynchronous and a
/// claim is not waited for: a claim made in the last moments before a
/// primary fails may be missing on the replica promoted in its place, and
/// a retry of that push after the failover then runs the closure again,
/// as it would without a store.
///
/// Every call has a [`timeout`](RedisDedup::timeout). When Redis fails
/// (down, slow, a value that is no claim), the handler logs a warning,
/// counts it ([`CallbackHandler::dedup_failures`](crate::CallbackHandler::dedup_failures))
/// and handles the push anyway: fail-open, because a push dropped is lost
/// for good while a push handled twice is what happens without a store.
/// In safe mode the answer kept is the encrypted reply, so Redis never
/// holds a reply in clear text.
///
/// # Example
///
/// ```no_run
/// use std::sync::Arc;
/// use weixin::{CallbackHandler, MessageCrypto, RedisDedup};
///
/// # fn env(name: &str, example: &str) -> String {
/// #     std::env::var(name).unwrap_or_else(|_| example.to_string())
/// # }
/// let crypto = MessageCrypto::new(
///     env("WECHAT_TOKEN", "t0ken"),
///     env("WECHAT_ENCODING_AES_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
///     "wx123",
/// )?;
/// let dedup = RedisDedup::open("redis://127.0.0.1:6379/")?.prefix("myapp:dedup:");
/// dedup.ping()?;
/// let handler = CallbackHandler::encrypted(crypto).dedup(dedup);
/// assert_eq!(handler.dedup_failures(), 0);
/// # Ok::<(), weixin::Error>(())
/// ```
pub struct RedisDedup {
    redis: RedisPool,
    prefix: String,
    ttl: Duration,
}

impl RedisDedup {
    /// A store at `url` (`redis://[:password@]host:port[/db]`). No
    /// connection is made until the first use (see
    /// [`ping`](RedisDedup::ping)).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `url` is
    /// not a Redis URL.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{ErrorKind, RedisDedup};
    ///
    /// let store = RedisDedup::open("redis://:secret@127.0.0.1:6379/")?;
    /// assert!(!format!("{store:?}").contains("secret"));
    /// let err = RedisDedup::open("http://127.0.0.1:6379/").unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { .. }));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn open(url: &str) -> Result<RedisDedup> {
        Ok(RedisDedup::on(RedisPool::open(url, DEFAULT_TIMEOUT)?))
    }

    /// A store on the primary Redis Sentinel names (see
    /// [`RedisSentinel`](crate::RedisSentinel)); a claim that fails
    /// because the primary went away or was demoted is tried again on the
    /// new one, within [`RedisSentinel::failover_wait`](crate::RedisSentinel::failover_wait).
    /// WeChat waits 5 seconds for an answer and then tries the push again:
    /// a shorter wait lets the push be handled without the store (and
    /// answered) in time.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if a
    /// sentinel address is not a Redis URL or the master name is empty.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{RedisDedup, RedisSentinel};
    ///
    /// let sentinel = RedisSentinel::new("mymaster", ["redis://127.0.0.1:26379"]);
    /// let store = RedisDedup::sentinel(sentinel)?.prefix("myapp:dedup:");
    /// assert!(format!("{store:?}").contains("sentinel master mymaster"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn sentinel(sentinel: crate::RedisSentinel) -> Result<RedisDedup> {
        Ok(RedisDedup::on(RedisPool::sentinel(
            sentinel,
            DEFAULT_TIMEOUT,
        )?))
    }

    /// A store on the Redis Cluster that `seeds` belong to
    /// (`redis://[[user]:password@]host:port`, one node or more, all with
    /// the same credentials: the other nodes are found from them). Each
    /// claim goes to the primary of its push's slot (each push is a key of
    /// its own, see above); while a slot moves or a primary is replaced, a
    /// claim follows the redirection or waits and is tried again (5 times
    /// at most, waits of 10 to 500 ms), then fails and the push is handled
    /// without the store. No connection is made until the first use (see
    /// [`ping`](RedisDedup::ping)).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `seeds`
    /// is empty, one is not a Redis URL, or their credentials differ.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{CallbackHandler, ErrorKind, RedisDedup};
    ///
    /// let dedup = RedisDedup::cluster(&[
    ///     "redis://:secret@10.0.0.1:6379/",
    ///     "redis://:secret@10.0.0.2:6379/",
    ///     "redis://:secret@10.0.0.3:6379/",
    /// ])?
    /// .prefix("myapp:dedup:");
    /// let shown = format!("{dedup:?}");
    /// assert!(shown.contains("cluster 10.0.0.1:6379/,10.0.0.2:6379/,10.0.0.3:6379/"));
    /// assert!(!shown.contains("secret"));
    /// let handler = CallbackHandler::new(std::env::var("WECHAT_TOKEN").unwrap_or_default())
    ///     .dedup(dedup);
    /// assert_eq!(handler.dedup_failures(), 0);
    ///
    /// let err = RedisDedup::cluster(&["redis://:a@10.0.0.1:6379/", "redis://:b@10.0.0.2:6379/"])
    ///     .unwrap_err();
    /// assert!(matches!(err.kind(), ErrorKind::Config { .. }));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn cluster(seeds: &[impl AsRef<str>]) -> Result<RedisDedup> {
        Ok(RedisDedup::on(RedisPool::cluster(seeds, DEFAULT_TIMEOUT)?))
    }

    /// The defaults, on `redis`.
    fn on(redis: RedisPool) -> RedisDedup {
        RedisDedup {
            redis,
            prefix: "wechat:dedup:".to_string(),
            ttl: DEDUP_TTL,
        }
    }

    /// The prefix of every key, so that several applications (or tests)
    /// share one Redis without seeing each other.
    ///
    /// Defaults to `wechat:dedup:`.
    ///
    /// # Example
    ///
    /// ```
    /// let store = weixin::RedisDedup::open("redis://127.0.0.1:6379/")?.prefix("shop:dedup:");
    /// assert!(format!("{store:?}").contains("shop:dedup:"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisDedup {
        self.prefix = prefix.into();
        self
    }

    /// How long a push is remembered after its first delivery (the
    /// claim's `PX`). WeChat tries a push four times at most, 5 seconds
    /// apart.
    ///
    /// Defaults to 60 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let store = weixin::RedisDedup::open("redis://127.0.0.1:6379/")?.ttl(Duration::from_secs(30));
    /// assert!(format!("{store:?}").contains("30s"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> RedisDedup {
        self.ttl = ttl;
        self
    }

    /// The time allowed to connect and for each command. It is added to a
    /// push's answer when Redis hangs: keep it well below WeChat's 5
    /// seconds.
    ///
    /// Defaults to 1 second.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let store = weixin::RedisDedup::open("redis://127.0.0.1:6379/")?
    ///     .timeout(Duration::from_millis(300));
    /// assert!(format!("{store:?}").contains("300ms"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> RedisDedup {
        self.redis.set_timeout(timeout);
        self
    }

    /// Checks that Redis answers.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Store`](crate::ErrorKind::Store) error naming the
    /// server (not its password) if it does not.
    ///
    /// # Example
    ///
    /// ```no_run
    /// weixin::RedisDedup::open("redis://127.0.0.1:6379/")?.ping()?;
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn ping(&self) -> Result<()> {
        self.redis.ping()
    }

    /// `<prefix><kind>:{<digest>}`: the digest is the push's slot.
    fn key(&self, key: &str) -> String {
        tagged(&self.prefix, key)
    }
}

impl fmt::Debug for RedisDedup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDedup")
            .field("addr", &self.redis.addr())
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.redis.timeout())
            .finish_non_exhaustive()
    }
}

impl DedupStore for RedisDedup {
    fn claim(&self, key: &str) -> Result<Claim> {
        let name = self.key(key);
        let ttl = millis(self.ttl).max(1);
        let held = self.redis.run("claim (SET NX PX)", |c| {
            redis::cmd("EVAL")
                .arg(CLAIM)
                .arg(1)
                .arg(&name)
                .arg(ttl)
                .query::<Option<String>>(c)
        })?;
        match held.as_deref() {
            None => Ok(Claim::First),
            Some(RUNNING) => Ok(Claim::Running),
            Some(value) => match value.strip_prefix(ANSWERED) {
                Some(answer) => Ok(Claim::Answered(answer.to_string())),
                None => Err(Error::new(ErrorKind::Store {
                    reason: format!(
                        "redis at {}: {name} is not a de-duplication claim",
                        self.redis.addr()
                    ),
                })),
            },
        }
    }

    fn finish(&self, key: &str, answer: &str) -> Result<()> {
        let name = self.key(key);
        let value = format!("{ANSWERED}{answer}");
        self.redis.run("keep the answer (SET XX KEEPTTL)", |c| {
            redis::cmd("SET")
                .arg(&name)
                .arg(&value)
                .arg("XX")
                .arg("KEEPTTL")
                .query::<Option<String>>(c)
        })?;
        Ok(())
    }

    fn release(&self, key: &str) -> Result<()> {
        let name = self.key(key);
        self.redis.run("let go of the claim", |c| {
            redis::cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(&name)
                .query::<i64>(c)
        })?;
        Ok(())
    }
}
