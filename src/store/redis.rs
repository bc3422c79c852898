//! `RedisStore`: hub state in Redis, shared by hub replicas, with a
//! distributed refresh lock.

use std::fmt;
use std::time::Duration;

use redis::RedisResult;
use serde_json::{json, Value};

use super::redis_keys::KeyLayout;
use super::redis_listener::Listener;
use super::redis_renew::Renewer;
use super::watch::{StoreListener, Watch};
use super::{
    authorizer_keys, fence_name, key_name, key_of_name, lock_value, store_error, LockGuard, Store,
    StoreTopology, FENCE_TTL, VERIFY_TICKET_LIFE,
};
use crate::clock::millis;
use crate::error::{Error, Result};
use crate::redis_pool::{Connector, RedisConnection, RedisPool, RedisSentinel};
use crate::secret::Secret;
use crate::token::{unix_now, Token, TokenKey};

/// Takes the lock (`SET NX PX`), or confirms it is already ours.
const ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"#;

/// Sets `KEYS[1]` to the token body `ARGV[1]` for `ARGV[3]` seconds unless
/// the stored body's fence is higher than `ARGV[2]`, or the key was removed
/// (its tombstone `KEYS[2]` holds the fence taken at removal) after the
/// fence `ARGV[2]` was taken.
///
/// The key's fence counter `KEYS[3]` is raised to the fence written if it
/// is below (kept `ARGV[4]` seconds): a fence taken on a primary that a
/// failover then replaced is written on the new one, whose counter missed
/// the last increments. Without this the next fences taken there were
/// below the stored one, and every write was refused until the counter
/// caught up: tokens fetched from WeChat were dropped and the store kept
/// an ended one (the Sentinel chaos run: 8.5 s of refresh-limited calls).
const FENCED_SET: &str = r#"
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then
  return 0
end
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, t = pcall(cjson.decode, cur)
  if ok and type(t) == 'table' and t['fence'] and tonumber(t['fence']) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if tonumber(redis.call('GET', KEYS[3]) or '0') < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
end
return 1
"#;

/// Sets the verify ticket `KEYS[1]` to `ARGV[1]`, its creation time
/// `KEYS[2]` to `ARGV[2]` and its arrival time `KEYS[3]` to `ARGV[4]`, all
/// for `ARGV[3]` seconds, unless a living ticket was created later.
const NEWER_TICKET: &str = r#"
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('EXISTS', KEYS[1]) == 1 and held > tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[3])
return 1
"#;

/// Removes an authorizer: deletes its refresh token `KEYS[1]` and its
/// tokens `KEYS[2..4]`; takes a fence from each token's fence counter
/// `KEYS[5..7]` (created for `ARGV[1]` seconds if missing) and leaves it as
/// the token's tombstone `KEYS[8..10]` for as long as the counter lives
/// (within it fences only grow, so no later writer is refused); then
/// publishes `ARGV[3]` on channel `ARGV[2]`. One script, on the
/// authorizer's keys alone (one slot in a cluster): a replica that hears
/// the message finds the store already changed.
const REMOVE_AUTHORIZER: &str = r#"
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
for i = 0, 2 do
  redis.call('SET', KEYS[5 + i], 0, 'EX', ARGV[1], 'NX')
  local fence = redis.call('INCR', KEYS[5 + i])
  local left = redis.call('PTTL', KEYS[5 + i])
  if left > 0 then
    redis.call('SET', KEYS[8 + i], fence, 'PX', left)
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"#;

const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// The time allowed to connect and for each command, unless
/// [`RedisStore::timeout`] says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a refresh limit's schedule is kept: far longer than any wait
/// it holds, after which a lost schedule only grants a new burst.
const SCHEDULE_TTL: u64 = 24 * 3600;

/// A [`Store`] in Redis, so that hub replicas share tokens and exactly one
/// of them calls WeChat per refresh. Uses the `redis` crate's blocking API.
///
/// Keys, all under a [`prefix`](RedisStore::prefix), each ending with its
/// account (`<appid>`, or `<component appid>/<authorizer appid>` for an
/// authorizer) in braces, a Redis Cluster hash tag that keeps an account's
/// keys in one slot:
/// `token:<kind>:{<account>}` (a JSON token, expiring with the
/// token), `verify_ticket:{<component appid>}` (12 hours, with
/// `verify_ticket_at:` its arrival and `verify_ticket_created:` its
/// `CreateTime`),
/// `refresh_token:{<component appid>/<authorizer appid>}` (no expiry),
/// `lock:<kind>:{<account>}`, `counter:<name>:{<last part>}` (quota
/// counts, fences: `counter:fence:<kind>:{<account>}`),
/// `schedule:<kind>:{<account>}` (the refresh limit), `served` (a sorted
/// set of the keys served, scored by when, pruned after a week unserved)
/// and `removed:<kind>:{<account>}` (a removed authorizer's tombstone: the
/// fence its removal took, refusing older writes). weixin 0.1 wrote the
/// same names without braces: see [`migrate_keys`](RedisStore::migrate_keys).
/// The lock is `SET NX PX` with a
/// random value, released by a script that deletes it only if it still
/// holds that value, so a holder whose lock expired cannot release its
/// successor's.
///
/// Removing an authorizer is one script that deletes it, fences its tokens
/// and publishes `<component appid>/<authorizer appid>` on the channel
/// `<prefix>authorizer_removed`. Each hub built on the store listens there
/// ([`Store::watch`]) on a thread and a connection of its own (named
/// `<prefix>watch` in `CLIENT LIST`), and evicts the authorizer from its
/// cache the moment it hears; a lost subscription is retried after a
/// backoff from 100 ms to 5 s. Needs Redis 6.2 or later (`ZADD GT`).
///
/// Every failure to reach Redis is an
/// [`ErrorKind::Store`](crate::ErrorKind::Store) error naming the server
/// (never its password); the next call connects again, so the hub recovers
/// by itself when Redis is back.
///
/// # Failover
///
/// On Redis Sentinel ([`RedisStore::sentinel`]) the store follows the
/// primary. The window: an operation that fails because the primary went
/// away or was demoted (`READONLY`) drops the store's connections, asks the
/// sentinels for the primary again and is tried again, for at most
/// [`RedisSentinel::failover_wait`] and 20 tries; then it fails with the
/// store error above (a hub keeps serving its copies meanwhile). The
/// guarantees: refresh tokens, verify tickets, removals, refresh locks and
/// schedules are acknowledged by a replica before the write returns
/// ([`durability`](RedisStore::durability)), so a failover right after
/// them loses none of them and no second hub takes a lock that is held; a
/// token the new primary missed is written back by the hub that had it
/// (see [`StoreSource`](crate::store::StoreSource)). On a single URL, a
/// server demoted to a replica makes every write fail with an error saying
/// so, logged once and shown by [`Store::topology`] until it is a primary
/// again. [`check_persistence`](RedisStore::check_persistence) tells a
/// Redis that forgets on restart.
///
/// # Example
///
/// ```no_run
/// use weixin::hub::HubHandler;
/// use weixin::store::RedisStore;
///
/// let store = RedisStore::open("redis://127.0.0.1:6379/")?.prefix("myapp:hub:");
/// store.ping()?;
/// let hub = HubHandler::builder()
///     .account("wx1", std::env::var("WECHAT_SECRET").unwrap_or_default())
///     .store(store)
///     .build()?;
/// # Ok::<(), weixin::Error>(())
/// ```
pub struct RedisStore {
    redis: RedisPool,
    keys: KeyLayout,
    lease: Duration,
    wait_replicas: u64,
    wait_timeout: Duration,
}

impl RedisStore {
    /// How many replicas [`durability`](RedisStore::durability) waits for
    /// unless told otherwise.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::RedisStore;
    ///
    /// assert_eq!(RedisStore::DEFAULT_WAIT_REPLICAS, 1);
    /// ```
    pub const DEFAULT_WAIT_REPLICAS: u64 = 1;

    /// How long [`durability`](RedisStore::durability) waits for replicas
    /// unless told otherwise.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::store::RedisStore;
    ///
    /// assert_eq!(RedisStore::DEFAULT_WAIT_TIMEOUT, Duration::from_millis(500));
    /// ```
    pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_millis(500);

    /// A store at `url` (`redis://[:password@]host:port[/db]`). No
    /// connection is made until the first use (see [`ping`](RedisStore::ping)).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `url` is
    /// not a Redis URL.
    pub fn open(url: &str) -> Result<RedisStore> {
        Ok(RedisStore::on(RedisPool::open(url, DEFAULT_TIMEOUT)?))
    }

    /// A store on the primary that Redis Sentinel names (see
    /// [`RedisSentinel`]). No connection is made until the first use. On a
    /// failover, an operation that fails because the primary went away or
    /// was demoted asks the sentinels for the new primary and is tried
    /// again, for at most [`RedisSentinel::failover_wait`]; after that it
    /// fails with the store error a single Redis would give.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if a
    /// sentinel address is not a Redis URL or the master name is empty.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::RedisStore;
    /// use weixin::RedisSentinel;
    ///
    /// let sentinel = RedisSentinel::new(
    ///     "mymaster",
    ///     ["redis://:sentinel-secret@127.0.0.1:26379", "redis://127.0.0.1:26380"],
    /// );
    /// let store = RedisStore::sentinel(sentinel)?.prefix("myapp:hub:");
    /// let shown = format!("{store:?}");
    /// assert!(shown.contains("sentinel master mymaster"));
    /// assert!(!shown.contains("sentinel-secret"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn sentinel(sentinel: RedisSentinel) -> Result<RedisStore> {
        Ok(RedisStore::on(RedisPool::sentinel(
            sentinel,
            DEFAULT_TIMEOUT,
        )?))
    }

    /// A store on the Redis Cluster that `seeds` belong to
    /// (`redis://[[user]:password@]host:port`, one node or more, all with
    /// the same credentials: the other nodes are found from them). Each command goes to the primary of
    /// its key's slot; an account's keys share one slot (see above), so
    /// every script runs on one node. While a slot moves or a primary is
    /// replaced, a command follows the redirection or waits and is tried
    /// again (5 times at most, waits of 10 to 500 ms), then fails as a
    /// store error. What cannot be fetched again is waited for on the
    /// written shard's replicas ([`durability`](RedisStore::durability)),
    /// so that the replica that replaces a killed primary holds it.
    /// Removals are heard on one node at a time (a `PUBLISH`
    /// reaches every node), the next seed when that one is lost. No
    /// connection is made until the first use (see
    /// [`ping`](RedisStore::ping)).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `seeds`
    /// is empty, one is not a Redis URL, or their credentials differ.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use weixin::store::{RedisStore, Store};
    ///
    /// let store = RedisStore::cluster(&[
    ///     "redis://10.0.0.1:6379/",
    ///     "redis://10.0.0.2:6379/",
    ///     "redis://10.0.0.3:6379/",
    /// ])?
    /// .prefix("myapp:hub:");
    /// store.ping()?;
    /// assert_eq!(store.kind(), "redis");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn cluster(seeds: &[impl AsRef<str>]) -> Result<RedisStore> {
        Ok(RedisStore::on(RedisPool::cluster(seeds, DEFAULT_TIMEOUT)?))
    }

    /// The defaults, on `redis`.
    fn on(redis: RedisPool) -> RedisStore {
        RedisStore {
            redis,
            keys: KeyLayout::new("wechat:hub:"),
            lease: Duration::from_secs(3),
            wait_replicas: RedisStore::DEFAULT_WAIT_REPLICAS,
            wait_timeout: RedisStore::DEFAULT_WAIT_TIMEOUT,
        }
    }

    /// The prefix of every key, so that several hubs (or tests) can share
    /// one Redis without seeing each other. In a cluster, a prefix with a
    /// hash tag of its own (`{hub}:`) puts every key in that one slot; a
    /// `{` without its `}` in the prefix splits an account's keys over
    /// slots and fails every script (`CROSSSLOT`): leave braces out.
    ///
    /// Defaults to `wechat:hub:`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.keys = KeyLayout::new(prefix);
        self
    }

    /// How long a refresh lock lives in Redis without its holder renewing
    /// it. A live holder renews it every third of the lease, up to the
    /// lock's whole `ttl`; a holder that died (a hub killed in the middle
    /// of a refresh) blocks the other replicas for at most one lease
    /// instead of the whole `ttl`.
    ///
    /// Defaults to 3 seconds.
    pub fn lock_lease(mut self, lease: Duration) -> RedisStore {
        self.lease = lease;
        self
    }

    /// How many replicas must acknowledge what cannot be fetched again
    /// (refresh tokens, verify tickets, removals) and what keeps two hubs
    /// from calling WeChat at once (refresh locks and schedules) before
    /// the write returns (`WAIT replicas timeout`), so that a failover
    /// right after it does not lose it. Asks for no more replicas than the
    /// primary has connected (`ROLE`), so a Redis without replicas never
    /// waits. If fewer acknowledge within `timeout`, the write is kept
    /// anyway, and a warning is logged and counted
    /// ([`StoreTopology::unacked_writes`](crate::store::StoreTopology)).
    /// Tokens, which can be fetched again, are never waited for. `0`
    /// replicas turns waiting off. On a Redis Cluster
    /// ([`cluster`](RedisStore::cluster)) `ROLE` and `WAIT` go to the
    /// primary of the written key's slot, on the connection that took the
    /// write: the replicas counted are that shard's, and a shard down or
    /// without replicas elsewhere delays no write here. One exception:
    /// while the key's slot migrates, a write redirected with `ASK` lands
    /// on the importing node, which the `redis` crate's blocking cluster
    /// client does not let the wait follow; the wait then runs on the
    /// source node and counts the write as acknowledged at once.
    ///
    /// Defaults to [`DEFAULT_WAIT_REPLICAS`](RedisStore::DEFAULT_WAIT_REPLICAS)
    /// (1) and [`DEFAULT_WAIT_TIMEOUT`](RedisStore::DEFAULT_WAIT_TIMEOUT)
    /// (500 ms).
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::store::RedisStore;
    ///
    /// let store = RedisStore::open("redis://127.0.0.1:6379/")?
    ///     .durability(2, Duration::from_secs(1));
    /// assert!(format!("{store:?}").contains("127.0.0.1:6379"));
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn durability(mut self, replicas: u64, timeout: Duration) -> RedisStore {
        self.wait_replicas = replicas;
        self.wait_timeout = timeout;
        self
    }

    /// The time allowed to connect and for each command.
    ///
    /// Defaults to 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> RedisStore {
        self.redis.set_timeout(timeout);
        self
    }

    /// Checks that Redis answers.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Store`](crate::ErrorKind::Store) error if it does not.
    pub fn ping(&self) -> Result<()> {
        self.run("PING", |c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
    }

    pub(super) fn run<T>(
        &self,
        what: &str,
        command: impl Fn(&mut RedisConnection) -> RedisResult<T>,
    ) -> Result<T> {
        self.redis.run(what, command)
    }

    /// Runs the write `command` on `key` (or keys in its slot), then waits
    /// for the replicas asked for by [`durability`](RedisStore::durability)
    /// on the server that took the write, on the same connection: in a
    /// cluster, `ROLE` and `WAIT` go to the primary of `key`'s slot alone,
    /// so that a shard down elsewhere delays no write here.
    fn durable<T>(
        &self,
        what: &str,
        key: &str,
        command: impl Fn(&mut RedisConnection) -> RedisResult<T>,
    ) -> Result<T> {
        let (value, wanted, acked) = self.run(what, |c| {
            let value = command(c)?;
            if self.wait_replicas == 0 {
                return Ok((value, 0, 0));
            }
            let connected = match c.query_at_key(key, &redis::cmd("ROLE"))? {
                redis::Role::Primary { replicas, .. } => replicas.len() as u64,
                // Demoted between the write and now: the write may be
                // lost, so it is tried again as after a `READONLY`.
                _ => {
                    return Err(redis::RedisError::from((
                        redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly),
                        "the server became a read only replica right after the write",
                    )))
                }
            };
            self.redis.note(|h| h.replicas = Some(connected));
            let wanted = self.wait_replicas.min(connected);
            if wanted == 0 {
                return Ok((value, 0, 0));
            }
            // The wait may take `wait_timeout`: the answer is given that
            // long on top of the pool's timeout, so that a wait running its
            // course is never taken for a lost primary.
            let timeout = self.redis.timeout();
            c.set_read_timeout(timeout + self.wait_timeout)?;
            let mut wait = redis::cmd("WAIT");
            wait.arg(wanted).arg(millis(self.wait_timeout).max(1));
            let acked = c.query_at_key::<u64>(key, &wait);
            c.set_read_timeout(timeout)?;
            Ok((value, wanted, acked?))
        })?;
        self.redis.note(|h| h.waited(what, wanted, acked));
        Ok(value)
    }

    /// Asks the server whether it persists (`CONFIG GET appendonly`,
    /// `CONFIG GET save`) and returns a warning when a restart would lose
    /// refresh tokens and verify tickets (no append-only file), or when it
    /// could not be asked (`CONFIG` disabled, as on managed services). What
    /// it found shows in [`Store::topology`]; the hub checks at start and
    /// logs the warning. Rebuilding the authorizers with
    /// `api_get_authorizer_list` stays the remedy for a store that lost
    /// them.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Store`](crate::ErrorKind::Store) error if Redis
    /// cannot be reached at all.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use weixin::store::RedisStore;
    ///
    /// let store = RedisStore::open("redis://127.0.0.1:6379/")?;
    /// if let Some(warning) = store.check_persistence()? {
    ///     eprintln!("{warning}");
    /// }
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn check_persistence(&self) -> Result<Option<String>> {
        let config = |c: &mut RedisConnection, name: &str| {
            redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query::<Vec<String>>(c)
                .map(|pair| pair.get(1).cloned().unwrap_or_default())
        };
        let asked = self.run("CONFIG GET appendonly", |c| {
            match (config(c, "appendonly"), config(c, "save")) {
                (Ok(aof), Ok(save)) => Ok(Ok((aof, save))),
                (Err(e), _) | (_, Err(e)) if e.is_io_error() || e.is_connection_dropped() => Err(e),
                (Err(e), _) | (_, Err(e)) => Ok(Err(e.to_string())),
            }
        })?;
        let addr = self.redis.addr();
        let (found, warning) = match asked {
            Ok((aof, _)) if aof == "yes" => ("append-only file".to_string(), None),
            Ok((_, save)) if save.trim().is_empty() => (
                "none (appendonly no, save \"\")".to_string(),
                Some(format!(
                    "redis at {addr} does not persist (appendonly no, save \"\"): a restart \
                     loses every refresh token and verify ticket; turn on appendonly, or \
                     rebuild the authorizers with api_get_authorizer_list after a restart"
                )),
            ),
            Ok((_, save)) => (
                format!("snapshots only (save {save})"),
                Some(format!(
                    "redis at {addr} persists by snapshots only (save {save}, appendonly no): \
                     a restart loses the refresh tokens and verify tickets written since the \
                     last snapshot; turn on appendonly"
                )),
            ),
            Err(refused) => (
                format!("unknown: CONFIG refused ({refused})"),
                Some(format!(
                    "could not check whether redis at {addr} persists (CONFIG refused: \
                     {refused}); make sure it does (appendonly yes), or a restart loses \
                     refresh tokens and verify tickets"
                )),
            ),
        };
        if let Some(warning) = &warning {
            log::warn!("wechat store: {warning}");
        }
        self.redis.note(|h| {
            h.persistence = Some(found);
            h.persistence_warning = warning.clone();
        });
        Ok(warning)
    }

    /// The names of this store's keys.
    pub(super) fn layout(&self) -> &KeyLayout {
        &self.keys
    }

    /// The time allowed to connect and for each command.
    pub(super) fn command_timeout(&self) -> Duration {
        self.redis.timeout()
    }

    /// What connects to Redis, for a thread with a connection of its own.
    pub(super) fn connector(&self) -> Connector {
        self.redis.connector()
    }

    fn get_string(&self, what: &str, key: &str) -> Result<Option<String>> {
        self.run(what, |c| {
            redis::cmd("GET").arg(key).query::<Option<String>>(c)
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.redis.addr())
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

impl Store for RedisStore {
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>> {
        let Some(text) = self.get_string("GET token", &self.keys.token(key))? else {
            return Ok(None);
        };
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            store_error(format!(
                "redis at {}: {} is not a stored token",
                self.redis.addr(),
                self.keys.token(key)
            ))
        })?;
        match (
            value["value"].as_str(),
            value["timestamp"].as_u64(),
            value["expires_in"].as_u64(),
        ) {
            (Some(v), Some(ts), Some(exp)) => {
                let token = Token::with_timestamp(v, ts, exp);
                Ok((token.expires_at() > unix_now()).then_some(token))
            }
            _ => Err(store_error(format!(
                "redis at {}: {} is not a stored token",
                self.redis.addr(),
                self.keys.token(key)
            ))),
        }
    }

    fn put_token_fenced(&self, key: &TokenKey, token: &Token, fence: u64) -> Result<bool> {
        let left = token.expires_at().saturating_sub(unix_now());
        if left == 0 {
            return Ok(true);
        }
        let body = json!({
            "value": token.expose(),
            "timestamp": token.timestamp(),
            "expires_in": token.expires_in(),
            "fence": fence,
        })
        .to_string();
        let name = self.keys.token(key);
        let tombstone = self.keys.tombstone(key);
        let counter = self.keys.counter(&fence_name(key));
        let written = self.run("fenced SET token", |c| {
            redis::cmd("EVAL")
                .arg(FENCED_SET)
                .arg(3)
                .arg(&name)
                .arg(&tombstone)
                .arg(&counter)
                .arg(&body)
                .arg(fence)
                .arg(left)
                .arg(FENCE_TTL.as_secs())
                .query::<i64>(c)
        })?;
        Ok(written == 1)
    }

    fn put_token(&self, key: &TokenKey, token: &Token) -> Result<()> {
        let left = token.expires_at().saturating_sub(unix_now());
        if left == 0 {
            return Ok(());
        }
        let body = json!({
            "value": token.expose(),
            "timestamp": token.timestamp(),
            "expires_in": token.expires_in(),
        })
        .to_string();
        let name = self.keys.token(key);
        self.run("SET token", |c| {
            redis::cmd("SET")
                .arg(&name)
                .arg(&body)
                .arg("EX")
                .arg(left)
                .query::<()>(c)
        })
    }

    fn get_verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        let key = self.keys.verify_ticket(component_appid);
        Ok(self.get_string("GET verify ticket", &key)?.map(Secret::new))
    }

    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()> {
        let key = self.keys.verify_ticket(component_appid);
        let at = self.keys.verify_ticket_at(component_appid);
        self.durable("SET verify ticket", &key, |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(ticket.expose())
                .arg("EX")
                .arg(VERIFY_TICKET_LIFE.as_secs())
                .query::<()>(c)?;
            redis::cmd("SET")
                .arg(&at)
                .arg(unix_now())
                .arg("EX")
                .arg(VERIFY_TICKET_LIFE.as_secs())
                .query::<()>(c)
        })
    }

    fn put_newer_verify_ticket(
        &self,
        component_appid: &str,
        ticket: &Secret,
        create_time: u64,
    ) -> Result<bool> {
        let key = self.keys.verify_ticket(component_appid);
        let created = self.keys.verify_ticket_created(component_appid);
        let at = self.keys.verify_ticket_at(component_appid);
        let written = self.durable("newer verify ticket", &key, |c| {
            redis::cmd("EVAL")
                .arg(NEWER_TICKET)
                .arg(3)
                .arg(&key)
                .arg(&created)
                .arg(&at)
                .arg(ticket.expose())
                .arg(create_time)
                .arg(VERIFY_TICKET_LIFE.as_secs())
                .arg(unix_now())
                .query::<i64>(c)
        })?;
        Ok(written == 1)
    }

    /// Stored beside the ticket: the same every time it is read (a hub
    /// names its asks to resume pushes by it). A ticket stored before
    /// arrival times were kept has it read off its time to live (it was
    /// stored with 12 hours).
    fn verify_ticket_received_at(&self, component_appid: &str) -> Result<Option<u64>> {
        let key = self.keys.verify_ticket(component_appid);
        let at = self.keys.verify_ticket_at(component_appid);
        let (left, at) = self.run("TTL verify ticket", |c| {
            let left = redis::cmd("TTL").arg(&key).query::<i64>(c)?;
            let at = redis::cmd("GET").arg(&at).query::<Option<u64>>(c)?;
            Ok((left, at))
        })?;
        let Ok(left) = u64::try_from(left) else {
            return Ok(None);
        };
        let life = VERIFY_TICKET_LIFE.as_secs();
        Ok(Some(at.unwrap_or_else(|| {
            unix_now().saturating_sub(life.saturating_sub(left))
        })))
    }

    fn get_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Secret>> {
        let key = self.keys.refresh_token(component_appid, authorizer_appid);
        Ok(self.get_string("GET refresh token", &key)?.map(Secret::new))
    }

    fn put_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        let key = self.keys.refresh_token(component_appid, authorizer_appid);
        self.durable("SET refresh token", &key, |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(refresh_token.expose())
                .query::<()>(c)
        })
    }

    /// Removes the authorizer, fences its tokens and tells every replica
    /// listening (see [`watch`](Store::watch)), in one script.
    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()> {
        let tokens = authorizer_keys(component_appid, authorizer_appid);
        let mut keys = vec![self.keys.refresh_token(component_appid, authorizer_appid)];
        keys.extend(tokens.iter().map(|k| self.keys.token(k)));
        keys.extend(tokens.iter().map(|k| self.keys.counter(&fence_name(k))));
        keys.extend(tokens.iter().map(|k| self.keys.tombstone(k)));
        let channel = self.keys.channel();
        let message = format!("{component_appid}/{authorizer_appid}");
        // First, on its own (the served set is in a slot of its own in a
        // cluster): a key left served would only be refreshed ahead in
        // vain, its refresh token gone.
        self.forget_served(&tokens)?;
        self.durable("remove authorizer", &keys[0], |c| {
            redis::cmd("EVAL")
                .arg(REMOVE_AUTHORIZER)
                .arg(keys.len())
                .arg(&keys)
                .arg(FENCE_TTL.as_secs())
                .arg(&channel)
                .arg(&message)
                .query::<i64>(c)
        })
        .map(|_| ())
    }

    /// `SET XX`: only over a refresh token already held.
    fn replace_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<bool> {
        let key = self.keys.refresh_token(component_appid, authorizer_appid);
        let set = self.durable("SET XX refresh token", &key, |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(refresh_token.expose())
                .arg("XX")
                .query::<Option<String>>(c)
        })?;
        Ok(set.is_some())
    }

    /// `ZADD GT`: the latest time a key was served wins.
    fn put_served(&self, key: &TokenKey, at: u64) -> Result<()> {
        let served = self.keys.served();
        self.run("ZADD served", |c| {
            redis::cmd("ZADD")
                .arg(&served)
                .arg("GT")
                .arg(at)
                .arg(key_name(key))
                .query::<()>(c)
        })
    }

    fn served_keys(&self, since: u64) -> Result<Vec<(TokenKey, u64)>> {
        let served = self.keys.served();
        let names = self.run("ZRANGEBYSCORE served", |c| {
            redis::cmd("ZREMRANGEBYSCORE")
                .arg(&served)
                .arg("-inf")
                .arg(format!("({since}"))
                .query::<()>(c)?;
            redis::cmd("ZRANGEBYSCORE")
                .arg(&served)
                .arg(since)
                .arg("+inf")
                .arg("WITHSCORES")
                .query::<Vec<(String, u64)>>(c)
        })?;
        Ok(names
            .into_iter()
            .filter_map(|(name, at)| Some((key_of_name(&name)?, at)))
            .collect())
    }

    fn forget_served(&self, keys: &[TokenKey]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let served = self.keys.served();
        let names: Vec<String> = keys.iter().map(key_name).collect();
        self.run("ZREM served", |c| {
            redis::cmd("ZREM").arg(&served).arg(&names).query::<()>(c)
        })
    }

    /// Subscribes to the removals channel on a thread and a connection of
    /// its own; returns once subscribed (or once that failed: it is tried
    /// again in the background).
    fn watch(&self, listener: StoreListener) -> Result<Option<Watch>> {
        Listener::start(self, listener).map(Some).map_err(|e| {
            Error::store(
                format!("redis at {}: cannot start listening", self.redis.addr()),
                e,
            )
        })
    }

    fn kind(&self) -> &str {
        "redis"
    }

    /// What the pool has seen, with the primary's connected replicas
    /// asked again (`ROLE`) if it answers.
    fn topology(&self) -> Option<StoreTopology> {
        if self.redis.health().persistence.is_none() {
            // ok because a Redis that cannot be reached shows as not checked
            let _ = self.check_persistence();
        }
        let role = self.run("ROLE", |c| redis::cmd("ROLE").query::<redis::Role>(c));
        if let Ok(redis::Role::Primary { replicas, .. }) = &role {
            let n = replicas.len() as u64;
            self.redis.note(|h| h.replicas = Some(n));
        }
        let h = self.redis.health();
        Some(StoreTopology {
            mode: self.redis.mode().to_string(),
            primary: h.primary,
            replicas: h.replicas,
            failovers: h.failovers,
            last_failover: h.last_failover,
            read_only_since: h.read_only_since,
            unacked_writes: h.unacked_writes,
            persistence: h.persistence,
            persistence_warning: h.persistence_warning,
        })
    }

    /// The subscribers of the removals channel (`PUBSUB NUMSUB`, summed
    /// over every node of a cluster): every hub over this Redis and prefix
    /// listens to it.
    fn replicas(&self) -> Result<Option<u64>> {
        let channel = self.keys.channel();
        self.run("PUBSUB NUMSUB", |c| {
            redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query::<std::collections::HashMap<String, u64>>(c)
        })
        .map(|counts| Some(counts.get(&channel).copied().unwrap_or(0)))
    }

    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>> {
        let name = self.keys.lock(key);
        let value = lock_value().to_string();
        // At least 30 ms, so that renewing is not a busy loop.
        let lease_ms = millis(ttl.min(self.lease)).max(30);
        // ACQUIRE is idempotent: if a timed-out attempt did take the lock
        // and `run` retries it, the retry sees our own value and succeeds
        // instead of leaving the lock held by nobody until it expires.
        let taken = self.durable("SET NX lock", &name, |c| {
            redis::cmd("EVAL")
                .arg(ACQUIRE)
                .arg(1)
                .arg(&name)
                .arg(&value)
                .arg(lease_ms)
                .query::<i64>(c)
        })?;
        if taken != 1 {
            return Ok(None);
        }
        let renewer = Renewer::start(
            self.redis.connector(),
            self.redis.timeout(),
            name.clone(),
            value.clone(),
            lease_ms,
            ttl,
        );
        let (held_name, held_value) = (name.clone(), value.clone());
        Ok(Some(LockGuard::with_check(
            move || {
                renewer.stop();
                // ok because a lock that cannot be released expires by itself
                let _ = self.run("release lock", |c| {
                    redis::cmd("EVAL")
                        .arg(RELEASE)
                        .arg(1)
                        .arg(&name)
                        .arg(&value)
                        .query::<i64>(c)
                });
            },
            // On the primary the store uses now: after a failover to a
            // replica that never got the lock, it is not held there, and
            // another replica may hold it.
            move || {
                let holder = self.run("GET lock", |c| {
                    redis::cmd("GET").arg(&held_name).query::<Option<String>>(c)
                })?;
                Ok(holder.as_deref() == Some(held_value.as_str()))
            },
        )))
    }

    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>> {
        let name = self.keys.schedule(key);
        self.run("GET refresh schedule", |c| {
            redis::cmd("GET").arg(&name).query::<Option<u64>>(c)
        })
    }

    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()> {
        let name = self.keys.schedule(key);
        self.durable("SET refresh schedule", &name, |c| {
            redis::cmd("SET")
                .arg(&name)
                .arg(schedule)
                .arg("EX")
                .arg(SCHEDULE_TTL)
                .query::<()>(c)
        })
    }

    fn increment(&self, name: &str, ttl: Duration) -> Result<u64> {
        let name = self.keys.counter(name);
        // Created with its expiry first, so that no crash between the two
        // commands leaves a counter that is never forgotten.
        self.run("INCR counter", |c| {
            redis::cmd("SET")
                .arg(&name)
                .arg(0)
                .arg("EX")
                .arg(ttl.as_secs().max(1))
                .arg("NX")
                .query::<()>(c)?;
            redis::cmd("INCR").arg(&name).query::<u64>(c)
        })
    }

    fn counter(&self, name: &str) -> Result<u64> {
        let name = self.keys.counter(name);
        self.run("GET counter", |c| {
            redis::cmd("GET")
                .arg(&name)
                .query::<Option<u64>>(c)
                .map(Option::unwrap_or_default)
        })
    }
}
