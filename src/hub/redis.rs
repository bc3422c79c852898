//! `RedisStore`: hub state in Redis, shared by hub replicas, with a
//! distributed refresh lock.

use std::fmt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Connection, RedisResult};
use serde_json::{json, Value};

use super::store::{key_name, lock_value, store_error, LockGuard, Store, VERIFY_TICKET_LIFE};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::token::{unix_now, TicketType, Token, TokenKey};

/// Releases a lock only if it still holds the owner's value.
/// Takes the lock (`SET NX PX`), or confirms it is already ours.
const ACQUIRE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"#;

/// Extends the lock's lease only if it is still ours.
const RENEW: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// Sets `KEYS[1]` to the token body `ARGV[1]` for `ARGV[3]` seconds unless
/// the stored body's fence is higher than `ARGV[2]`.
const FENCED_SET: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, t = pcall(cjson.decode, cur)
  if ok and type(t) == 'table' and t['fence'] and tonumber(t['fence']) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"#;

/// Sets the verify ticket `KEYS[1]` to `ARGV[1]` and its creation time
/// `KEYS[2]` to `ARGV[2]`, both for `ARGV[3]` seconds, unless a living
/// ticket was created later.
const NEWER_TICKET: &str = r#"
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('EXISTS', KEYS[1]) == 1 and held > tonumber(ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"#;

const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Idle connections kept for reuse.
/// How long a refresh limit's schedule is kept: far longer than any burst
/// of floor intervals, after which a lost schedule only grants a new burst.
const SCHEDULE_TTL: u64 = 24 * 3600;

const POOL: usize = 16;

/// A [`Store`] in Redis, so that hub replicas share tokens and exactly one
/// of them calls WeChat per refresh. Uses the `redis` crate's blocking API.
///
/// Keys, all under a [`prefix`](RedisStore::prefix):
/// `token:<kind>:<appid>[/<authorizer>]` (a JSON token, expiring with the
/// token), `verify_ticket:<component appid>` (12 hours),
/// `refresh_token:<component appid>/<authorizer appid>` (no expiry) and
/// `lock:<kind>:<appid>[/<authorizer>]`. The lock is `SET NX PX` with a
/// random value, released by a script that deletes it only if it still
/// holds that value, so a holder whose lock expired cannot release its
/// successor's.
///
/// Every failure to reach Redis is an
/// [`ErrorKind::Store`](crate::ErrorKind::Store) error naming the server
/// (never its password); the next call connects again, so the hub recovers
/// by itself when Redis is back.
///
/// # Example
///
/// ```no_run
/// use wechat::hub::{HubHandler, RedisStore};
///
/// let store = RedisStore::open("redis://127.0.0.1:6379/")?.prefix("myapp:hub:");
/// store.ping()?;
/// let hub = HubHandler::builder()
///     .account("wx1", std::env::var("WECHAT_SECRET").unwrap_or_default())
///     .store(store)
///     .build()?;
/// # Ok::<(), wechat::Error>(())
/// ```
pub struct RedisStore {
    client: redis::Client,
    addr: String,
    prefix: String,
    timeout: Duration,
    lease: Duration,
    pool: Mutex<Vec<Connection>>,
}

impl RedisStore {
    /// A store at `url` (`redis://[:password@]host:port[/db]`). No
    /// connection is made until the first use (see [`ping`](RedisStore::ping)).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `url` is
    /// not a Redis URL.
    pub fn open(url: &str) -> Result<RedisStore> {
        let addr = url.rsplit_once('@').map_or(url, |(_, host)| host);
        let addr = addr
            .trim_start_matches("redis://")
            .trim_start_matches("rediss://")
            .to_string();
        let client = redis::Client::open(url)
            .map_err(|e| Error::config(format!("bad redis url for {addr}: {e}")))?;
        Ok(RedisStore {
            client,
            addr,
            prefix: "wechat:hub:".to_string(),
            timeout: Duration::from_secs(2),
            lease: Duration::from_secs(3),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// The prefix of every key, so that several hubs (or tests) can share
    /// one Redis without seeing each other.
    ///
    /// Defaults to `wechat:hub:`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisStore {
        self.prefix = prefix.into();
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

    /// The time allowed to connect and for each command.
    ///
    /// Defaults to 2 seconds.
    pub fn timeout(mut self, timeout: Duration) -> RedisStore {
        self.timeout = timeout;
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

    fn connect(&self) -> RedisResult<Connection> {
        let con = self.client.get_connection_with_timeout(self.timeout)?;
        con.set_read_timeout(Some(self.timeout))?;
        con.set_write_timeout(Some(self.timeout))?;
        Ok(con)
    }

    /// Runs `command` on a pooled connection. A pooled connection that
    /// fails may only be stale (Redis restarted): then the pool is emptied
    /// and `command` runs once more on a new connection.
    fn run<T>(&self, what: &str, command: impl Fn(&mut Connection) -> RedisResult<T>) -> Result<T> {
        let pooled = self.pool.lock().pop();
        let result = match pooled {
            Some(mut con) => match command(&mut con) {
                Ok(v) => Ok((v, con)),
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    self.pool.lock().clear();
                    self.fresh(&command)
                }
                Err(e) => Err(e),
            },
            None => self.fresh(&command),
        };
        match result {
            Ok((value, con)) => {
                let mut pool = self.pool.lock();
                if pool.len() < POOL {
                    pool.push(con);
                }
                Ok(value)
            }
            Err(e) => Err(Error::store(format!("redis at {}: {what}", self.addr), e)),
        }
    }

    fn fresh<T>(
        &self,
        command: &impl Fn(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<(T, Connection)> {
        let mut con = self.connect()?;
        let value = command(&mut con)?;
        Ok((value, con))
    }

    fn token_key(&self, key: &TokenKey) -> String {
        format!("{}token:{}", self.prefix, key_name(key))
    }

    fn counter_key(&self, name: &str) -> String {
        format!("{}counter:{name}", self.prefix)
    }

    fn schedule_key(&self, key: &TokenKey) -> String {
        format!("{}schedule:{}", self.prefix, key_name(key))
    }

    fn refresh_key(&self, component_appid: &str, authorizer_appid: &str) -> String {
        format!(
            "{}refresh_token:{component_appid}/{authorizer_appid}",
            self.prefix
        )
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
            .field("addr", &self.addr)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Store for RedisStore {
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>> {
        let Some(text) = self.get_string("GET token", &self.token_key(key))? else {
            return Ok(None);
        };
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            store_error(format!(
                "redis at {}: {} is not a stored token",
                self.addr,
                self.token_key(key)
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
                self.addr,
                self.token_key(key)
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
        let name = self.token_key(key);
        let written = self.run("fenced SET token", |c| {
            redis::cmd("EVAL")
                .arg(FENCED_SET)
                .arg(1)
                .arg(&name)
                .arg(&body)
                .arg(fence)
                .arg(left)
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
        let name = self.token_key(key);
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
        let key = format!("{}verify_ticket:{component_appid}", self.prefix);
        Ok(self.get_string("GET verify ticket", &key)?.map(Secret::new))
    }

    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()> {
        let key = format!("{}verify_ticket:{component_appid}", self.prefix);
        self.run("SET verify ticket", |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(ticket.expose())
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
        let key = format!("{}verify_ticket:{component_appid}", self.prefix);
        let created = format!("{}verify_ticket_created:{component_appid}", self.prefix);
        let written = self.run("newer verify ticket", |c| {
            redis::cmd("EVAL")
                .arg(NEWER_TICKET)
                .arg(2)
                .arg(&key)
                .arg(&created)
                .arg(ticket.expose())
                .arg(create_time)
                .arg(VERIFY_TICKET_LIFE.as_secs())
                .query::<i64>(c)
        })?;
        Ok(written == 1)
    }

    /// Read off the ticket's time to live: it was stored with 12 hours.
    fn verify_ticket_received_at(&self, component_appid: &str) -> Result<Option<u64>> {
        let key = format!("{}verify_ticket:{component_appid}", self.prefix);
        let left = self.run("TTL verify ticket", |c| {
            redis::cmd("TTL").arg(&key).query::<i64>(c)
        })?;
        let Ok(left) = u64::try_from(left) else {
            return Ok(None);
        };
        let life = VERIFY_TICKET_LIFE.as_secs();
        Ok(Some(unix_now().saturating_sub(life.saturating_sub(left))))
    }

    fn get_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Secret>> {
        let key = self.refresh_key(component_appid, authorizer_appid);
        Ok(self.get_string("GET refresh token", &key)?.map(Secret::new))
    }

    fn put_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        let key = self.refresh_key(component_appid, authorizer_appid);
        self.run("SET refresh token", |c| {
            redis::cmd("SET")
                .arg(&key)
                .arg(refresh_token.expose())
                .query::<()>(c)
        })
    }

    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()> {
        let base = TokenKey::access_token(component_appid).for_authorizer(authorizer_appid);
        let keys = [
            self.refresh_key(component_appid, authorizer_appid),
            self.token_key(&base),
            self.token_key(
                &TokenKey::ticket(component_appid, TicketType::Jsapi)
                    .for_authorizer(authorizer_appid),
            ),
            self.token_key(
                &TokenKey::ticket(component_appid, TicketType::WxCard)
                    .for_authorizer(authorizer_appid),
            ),
        ];
        self.run("DEL authorizer", |c| {
            redis::cmd("DEL").arg(&keys).query::<()>(c)
        })
    }

    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>> {
        let name = format!("{}lock:{}", self.prefix, key_name(key));
        let value = lock_value().to_string();
        // At least 30 ms, so that renewing is not a busy loop.
        let lease_ms = millis(ttl.min(self.lease)).max(30);
        // ACQUIRE is idempotent: if a timed-out attempt did take the lock
        // and `run` retries it, the retry sees our own value and succeeds
        // instead of leaving the lock held by nobody until it expires.
        let taken = self.run("SET NX lock", |c| {
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
        let renewer = Renewer::start(self, name.clone(), value.clone(), lease_ms, ttl);
        Ok(Some(LockGuard::new(move || {
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
        })))
    }

    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>> {
        let name = self.schedule_key(key);
        self.run("GET refresh schedule", |c| {
            redis::cmd("GET").arg(&name).query::<Option<u64>>(c)
        })
    }

    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()> {
        let name = self.schedule_key(key);
        self.run("SET refresh schedule", |c| {
            redis::cmd("SET")
                .arg(&name)
                .arg(schedule)
                .arg("EX")
                .arg(SCHEDULE_TTL)
                .query::<()>(c)
        })
    }

    fn increment(&self, name: &str, ttl: Duration) -> Result<u64> {
        let name = self.counter_key(name);
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
        let name = self.counter_key(name);
        self.run("GET counter", |c| {
            redis::cmd("GET")
                .arg(&name)
                .query::<Option<u64>>(c)
                .map(Option::unwrap_or_default)
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Keeps a held lock's lease alive, on a thread of its own with a
/// connection of its own (the holder is busy calling WeChat), until the
/// guard is dropped, the lock's whole `ttl` has passed, or the lock turns
/// out to be someone else's.
struct Renewer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Renewer {
    fn start(
        store: &RedisStore,
        name: String,
        value: String,
        lease_ms: u64,
        ttl: Duration,
    ) -> Renewer {
        let (stop, stopped) = mpsc::channel::<()>();
        let client = store.client.clone();
        // A renewal gets a third of the lease to connect and answer, so that
        // one that fails leaves time for another before the lease runs out.
        let tick = Duration::from_millis(lease_ms / 3);
        let timeout = store.timeout.min(tick).max(Duration::from_millis(1));
        let until = Instant::now().checked_add(ttl);
        let thread = std::thread::spawn(move || {
            let mut con: Option<Connection> = None;
            let mut wait = tick;
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(wait) {
                if until.is_some_and(|until| Instant::now() >= until) {
                    return;
                }
                // After a failure, try again soon rather than a tick later.
                wait = tick / 4;
                if con.is_none() {
                    con = client.get_connection_with_timeout(timeout).ok();
                    if let Some(c) = &con {
                        let _ = c.set_read_timeout(Some(timeout));
                        let _ = c.set_write_timeout(Some(timeout));
                    }
                }
                let Some(c) = con.as_mut() else { continue };
                match redis::cmd("EVAL")
                    .arg(RENEW)
                    .arg(1)
                    .arg(&name)
                    .arg(&value)
                    .arg(lease_ms)
                    .query::<i64>(c)
                {
                    Ok(1) => wait = tick,
                    // Not ours any more (Redis restarted, say): nothing to keep.
                    Ok(_) => return,
                    Err(_) => con = None,
                }
            }
        });
        Renewer { stop, thread }
    }

    /// Stops renewing; returns once the renewer has let go.
    fn stop(self) {
        drop(self.stop);
        // ok because the renewer only ends; a panic there changes nothing here
        let _ = self.thread.join();
    }
}
