//! `RedisStore::migrate_keys`: copies what a store of weixin 0.1 (key
//! layout 1, no hash tags) holds into the current layout, once, while no
//! hub of either version runs, without ever replacing a value the new
//! layout already holds with an older one.

use redis::ConnectionLike;

use super::redis::RedisStore;
use crate::error::Result;
use crate::redis_pool::RedisPool;

/// Sets `KEYS[1]` to the number `ARGV[1]` (for `ARGV[2]` ms, or for ever if
/// `ARGV[2]` is not positive) unless it holds as much already: a counter's
/// fences and a tombstone only grow.
const COPY_MAX: &str = r#"
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur and cur >= tonumber(ARGV[1]) then return 0 end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
"#;

/// Keys read per `SCAN` step.
const SCAN_COUNT: u64 = 500;

/// What [`RedisStore::migrate_keys`] did, or would do in a dry run: the
/// key names (under the store's prefix, in the first layout) in three
/// lists. Names only: they hold appids, never a token or secret.
///
/// # Example
///
/// ```no_run
/// use weixin::store::RedisStore;
///
/// let store = RedisStore::open("redis://127.0.0.1:6379/")?;
/// let report = store.migrate_keys("redis://127.0.0.1:6379/", true)?;
/// assert!(report.copied().len() + report.kept().len() + report.skipped().len() < usize::MAX);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyMigration {
    copied: Vec<String>,
    kept: Vec<String>,
    skipped: Vec<String>,
}

impl KeyMigration {
    /// Keys copied to their new names (in a dry run: that would be).
    pub fn copied(&self) -> &[String] {
        &self.copied
    }

    /// Keys whose new name already holds the same or a newer value (a
    /// migration run before, or a hub of this version that wrote since):
    /// left as they are.
    pub fn kept(&self) -> &[String] {
        &self.kept
    }

    /// Keys not copied: refresh locks (held for seconds; a new lock is
    /// taken under the new name) and names this store never writes.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }
}

/// How a key of the first layout is carried over.
enum Copy {
    /// Strings: only where the new name holds nothing (tokens, tickets,
    /// refresh tokens, schedules): whatever a hub of this version wrote
    /// there is newer.
    IfAbsent,
    /// Counters and tombstones: the larger number wins.
    Max,
    /// The served set: each key's latest time wins (`ZADD GT`).
    Served,
    Skip,
}

fn copy_of(name: &str) -> Copy {
    match name.split_once(':').map(|(kind, _)| kind) {
        None if name == "served" => Copy::Served,
        Some("token" | "verify_ticket" | "verify_ticket_at" | "verify_ticket_created")
        | Some("refresh_token" | "schedule") => Copy::IfAbsent,
        Some("counter" | "removed") => Copy::Max,
        _ => Copy::Skip,
    }
}

/// `text` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStore {
    /// Copies what weixin 0.1 stored under this store's prefix at `from`
    /// (a single Redis, `redis://…`: usually the very server this store
    /// is on) into the key layout of this version, which tags each
    /// account's keys for Redis Cluster (see [`RedisStore`]). Run it once
    /// after stopping every hub of the old version and before starting
    /// the new ones (`wechat-hub migrate-keys`), or with `dry_run` to see
    /// what it would do and write nothing.
    ///
    /// Nothing is lost and nothing newer is overwritten: tokens, verify
    /// tickets, refresh tokens and schedules are copied with their time
    /// to live only where the new name holds nothing; fence counters,
    /// quota counters and tombstones take the larger of both numbers; the
    /// served set keeps each key's latest time; refresh locks are not
    /// copied. Running it again copies nothing more. The old keys are left
    /// in place (a downgrade still finds them; those with a time to live
    /// expire by themselves, refresh tokens do not: delete them with
    /// `redis-cli --scan --pattern '<prefix>refresh_token:*'` once the new
    /// version runs).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error if `from`
    /// is not a Redis URL; an [`ErrorKind::Store`](crate::ErrorKind::Store)
    /// error if either Redis fails (what was copied stays copied: run it
    /// again).
    ///
    /// # Example
    ///
    /// ```no_run
    /// use weixin::store::RedisStore;
    ///
    /// let url = std::env::var("REDIS_URL").unwrap_or("redis://127.0.0.1:6379/".into());
    /// let store = RedisStore::open(&url)?.prefix("myapp:hub:");
    /// let planned = store.migrate_keys(&url, true)?;
    /// let done = store.migrate_keys(&url, false)?;
    /// assert_eq!(done.copied(), planned.copied());
    /// assert!(store.migrate_keys(&url, false)?.copied().is_empty(), "once");
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn migrate_keys(&self, from: &str, dry_run: bool) -> Result<KeyMigration> {
        let source = RedisPool::open(from, self.command_timeout())?;
        let keys = self.layout();
        let pattern = format!("{}*", glob_escape(keys.prefix()));
        let mut report = KeyMigration::default();
        let mut cursor = 0u64;
        loop {
            let (next, names) = source.run("SCAN", |c| {
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query::<(u64, Vec<Vec<u8>>)>(c)
            })?;
            for full in names {
                let Ok(full) = String::from_utf8(full) else {
                    continue;
                };
                // Names of this layout (tagged) are already where they belong.
                let Some(name) = keys.untagged(&full) else {
                    continue;
                };
                let copied = match copy_of(name) {
                    Copy::Skip => {
                        report.skipped.push(full);
                        continue;
                    }
                    Copy::Served => self.copy_served(&source, &full, dry_run)?,
                    copy => self.copy_string(&source, &full, &keys.name(name), &copy, dry_run)?,
                };
                match copied {
                    Some(true) => report.copied.push(full),
                    Some(false) => report.kept.push(full),
                    // Gone between the SCAN and the read.
                    None => {}
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(report)
    }

    /// Copies one string key; `None` if it expired meanwhile.
    fn copy_string(
        &self,
        source: &RedisPool,
        old: &str,
        new: &str,
        copy: &Copy,
        dry_run: bool,
    ) -> Result<Option<bool>> {
        let (value, ttl) = source.run("GET", |c| read_string(c, old))?;
        let Some(value) = value else { return Ok(None) };
        if ttl == -2 {
            return Ok(None);
        }
        let copied = match (copy, dry_run) {
            (Copy::Max, true) => {
                let held = self.run("GET", |c| {
                    redis::cmd("GET").arg(new).query::<Option<String>>(c)
                })?;
                let number = |v: &str| v.parse::<i64>().ok();
                match (held.as_deref().and_then(number), number(&value)) {
                    (Some(held), Some(value)) => value > held,
                    _ => held.is_none(),
                }
            }
            (Copy::Max, false) => {
                self.run("copy counter", |c| {
                    redis::cmd("EVAL")
                        .arg(COPY_MAX)
                        .arg(1)
                        .arg(new)
                        .arg(&value)
                        .arg(ttl)
                        .query::<i64>(c)
                })? == 1
            }
            (_, true) => {
                self.run("EXISTS", |c| redis::cmd("EXISTS").arg(new).query::<i64>(c))? == 0
            }
            (_, false) => self
                .run("SET NX", |c| {
                    let mut set = redis::cmd("SET");
                    set.arg(new).arg(&value).arg("NX");
                    if ttl > 0 {
                        set.arg("PX").arg(ttl);
                    }
                    set.query::<Option<String>>(c)
                })?
                .is_some(),
        };
        Ok(Some(copied))
    }

    /// Merges the served set (its name is the same in both layouts: on
    /// the same server this finds everything in place).
    fn copy_served(&self, source: &RedisPool, old: &str, dry_run: bool) -> Result<Option<bool>> {
        let served = source.run("ZRANGE served", |c| {
            redis::cmd("ZRANGE")
                .arg(old)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query::<Vec<(String, u64)>>(c)
        })?;
        let new = self.layout().served();
        let mut changed = 0;
        for (member, at) in &served {
            changed += if dry_run {
                let held = self.run("ZSCORE served", |c| {
                    redis::cmd("ZSCORE")
                        .arg(&new)
                        .arg(member)
                        .query::<Option<u64>>(c)
                })?;
                u64::from(held.is_none_or(|held| held < *at))
            } else {
                self.run("ZADD served", |c| {
                    redis::cmd("ZADD")
                        .arg(&new)
                        .arg("GT")
                        .arg("CH")
                        .arg(at)
                        .arg(member)
                        .query::<u64>(c)
                })?
            };
        }
        Ok(Some(changed > 0))
    }
}

/// A string key's value and its time to live in ms (`-1`: none, `-2`:
/// gone), read together.
fn read_string(
    c: &mut dyn ConnectionLike,
    name: &str,
) -> redis::RedisResult<(Option<String>, i64)> {
    redis::pipe()
        .cmd("GET")
        .arg(name)
        .cmd("PTTL")
        .arg(name)
        .query(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_key_is_carried_over_its_own_way() {
        assert!(matches!(copy_of("served"), Copy::Served));
        assert!(matches!(copy_of("token:access_token:wx1"), Copy::IfAbsent));
        assert!(matches!(copy_of("refresh_token:wxc/wxa"), Copy::IfAbsent));
        assert!(matches!(
            copy_of("verify_ticket_created:wxc"),
            Copy::IfAbsent
        ));
        assert!(matches!(
            copy_of("counter:fence:access_token:wx1"),
            Copy::Max
        ));
        assert!(matches!(copy_of("removed:access_token:wxc/wxa"), Copy::Max));
        assert!(matches!(copy_of("lock:access_token:wx1"), Copy::Skip));
        assert!(matches!(copy_of("something"), Copy::Skip));
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\:"), "a\\*b\\?\\[c\\]\\\\:");
    }
}
