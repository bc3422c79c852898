//! Where tokens, tickets, refresh tokens and the refresh lock live between
//! requests, for a hub and for a platform in one process alike.
//!
//! - [`Store`] is the trait, with its [`LockGuard`] and its events
//!   ([`StoreEvent`], [`StoreListener`], [`Watch`]).
//! - [`MemoryStore`] (one process, lost on restart), [`FileStore`] (one
//!   process, survives restarts) and `RedisStore` (feature `redis`: many
//!   processes and machines).
//! - [`StoreSource`] is the compare-and-swap over a store, usable on its
//!   own: every process that shares a store shares one token lineage.
//! - Every store is also a [`VerifyTicketProvider`](crate::VerifyTicketProvider)
//!   and a [`RefreshTokenStore`](crate::RefreshTokenStore), so a
//!   [`ComponentSource`](crate::ComponentSource) in one process without a hub
//!   keeps its tickets and refresh tokens in a [`FileStore`].
//!
//! The hub ([`crate::hub`]) builds on this module; nothing here imports the
//! hub.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::Result;
use crate::secret::Secret;
use crate::token::{TicketType, Token, TokenKey, TokenKind};

mod component;
mod file;
pub(crate) mod lifetime;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_keys;
#[cfg(feature = "redis")]
mod redis_listener;
#[cfg(feature = "redis")]
mod redis_migrate;
#[cfg(feature = "redis")]
mod redis_renew;
mod source;
mod state;
mod topology;
mod watch;

pub(crate) use component::Rotations;
pub use file::FileStore;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_migrate::KeyMigration;
pub use source::StoreSource;
pub(crate) use source::{cutoff, DEFAULT_LOCK_TTL, DEFAULT_LOCK_WAIT};
pub use topology::StoreTopology;
pub use watch::{StoreEvent, StoreListener, Watch};

/// Where a hub keeps what must outlive one request: tokens and tickets, each
/// third-party platform's `component_verify_ticket`, each authorizer's
/// refresh token, and the lock that lets exactly one hub replica call
/// WeChat per refresh.
///
/// Implementations: [`MemoryStore`] (one process, lost on restart),
/// [`FileStore`] (one hub, survives restarts) and
/// `RedisStore` (feature `redis`: many hub replicas).
///
/// Every method reports a store it cannot reach as an error (use
/// [`ErrorKind::Store`](crate::ErrorKind::Store)); the hub then answers an
/// error rather than calling WeChat without the lock.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use weixin::store::{MemoryStore, Store};
/// use weixin::{Token, TokenKey};
///
/// let store = MemoryStore::new();
/// let key = TokenKey::access_token("wx1");
/// store.put_token(&key, &Token::new("T1", 7200))?;
/// assert_eq!(store.get_token(&key)?.unwrap().expose(), "T1");
///
/// let guard = store.lock(&key, Duration::from_secs(10))?;
/// assert!(guard.is_some());
/// assert!(store.lock(&key, Duration::from_secs(10))?.is_none(), "held");
/// drop(guard);
/// assert!(store.lock(&key, Duration::from_secs(10))?.is_some());
/// # Ok::<(), weixin::Error>(())
/// ```
pub trait Store: Send + Sync + fmt::Debug {
    /// The stored token for `key`, if any and not yet expired.
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>>;

    /// Stores `token` for `key` until it expires, replacing any other.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_token(&self, key: &TokenKey, token: &Token) -> Result<()>;

    /// Stores `token` for `key` as [`put_token`](Store::put_token) does,
    /// unless the stored token was written with a higher `fence`, or the
    /// key was removed (see [`remove_authorizer`](Store::remove_authorizer))
    /// after `fence` was taken: then nothing is written and `false`
    /// returned. A hub takes a new fence
    /// (an [`increment`](Store::increment)) under the refresh lock before
    /// each upstream call, so a replica whose lock expired during its call
    /// cannot overwrite the token of the replica that took the lock next.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_token_fenced(&self, key: &TokenKey, token: &Token, fence: u64) -> Result<bool>;

    /// The latest `component_verify_ticket` pushed to `component_appid`.
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn get_verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>>;

    /// Stores the `component_verify_ticket` WeChat pushed to
    /// `component_appid` (it pushes a new one every 10 minutes; each lives
    /// 12 hours).
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()>;

    /// When the latest `component_verify_ticket` of `component_appid` was
    /// stored (Unix seconds), if one is held: a hub that sees none for 20
    /// minutes asks WeChat to resume pushing them.
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn verify_ticket_received_at(&self, component_appid: &str) -> Result<Option<u64>>;

    /// Stores a pushed `component_verify_ticket` created at `create_time`
    /// (the push's `CreateTime`) unless the stored, living one was created
    /// later: the newest ticket wins whichever replica a push reaches
    /// first. `false` if it was older and not stored.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_newer_verify_ticket(
        &self,
        component_appid: &str,
        ticket: &Secret,
        create_time: u64,
    ) -> Result<bool>;

    /// The `authorizer_refresh_token` of `authorizer_appid` under
    /// `component_appid`.
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn get_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Secret>>;

    /// Stores an authorizer's refresh token (it does not expire by time; it
    /// is replaced on every token exchange).
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()>;

    /// Forgets an authorizer that revoked its authorization: its refresh
    /// token, its stored tokens and tickets, and that they were served.
    /// Each of its tokens is fenced too: a write with a fence taken before
    /// the removal ([`put_token_fenced`](Store::put_token_fenced), by a
    /// refresh that was under way) is refused, so nothing brings the
    /// authorizer back but a new authorization. Then every
    /// [`watch`](Store::watch)er is told.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()>;

    /// Takes the refresh lock of `key` for at most `ttl` (it expires by
    /// itself if its holder dies), or `None` if someone else holds it.
    /// The lock is released when the guard is dropped, and only if it is
    /// still this guard's.
    ///
    /// # Errors
    ///
    /// If the store cannot be reached.
    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>>;

    /// The refresh limit's schedule for `key` (a number the
    /// [`RefreshLimit`](crate::RefreshLimit) packs its state in: keep it as
    /// it is), shared by every replica so that all of them together keep
    /// one schedule per key. `None` for a key
    /// never refreshed, or whose schedule was lost (the key then gets a
    /// whole burst again). Read and written only under [`lock`](Store::lock).
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>>;

    /// Stores the refresh limit's schedule for `key`. A store may forget it
    /// a day after it was written (the key then gets a whole burst again).
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()>;

    /// Adds one to the counter `name` and returns its new value, shared by
    /// every replica: the hub counts upstream token calls per account per
    /// WeChat day in it. A counter that does not exist starts at zero and
    /// is forgotten `ttl` after it was created.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn increment(&self, name: &str, ttl: Duration) -> Result<u64>;

    /// The counter `name`'s value: zero if it never was or was forgotten.
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn counter(&self, name: &str) -> Result<u64>;

    /// Stores `refresh_token` as [`put_refresh_token`](Store::put_refresh_token)
    /// does, but only over one already held: `false`, and nothing stored,
    /// if the authorizer has none. A hub stores rotated refresh tokens so,
    /// so that a refresh that was under way when the authorizer revoked
    /// (see [`remove_authorizer`](Store::remove_authorizer)) cannot bring
    /// it back.
    ///
    /// Defaults to reading, then writing: not atomic; a store shared by
    /// replicas should do both in one step.
    ///
    /// # Errors
    ///
    /// If the store cannot be read or written.
    fn replace_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<bool> {
        if self
            .get_refresh_token(component_appid, authorizer_appid)?
            .is_none()
        {
            return Ok(false);
        }
        self.put_refresh_token(component_appid, authorizer_appid, refresh_token)?;
        Ok(true)
    }

    /// Records that a hub handed out `key`'s token at `at` (Unix seconds),
    /// so that every replica, and a hub started later, refreshes it ahead
    /// of expiry.
    ///
    /// Defaults to remembering nothing: each replica then refreshes ahead
    /// only what it served itself since it started.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn put_served(&self, key: &TokenKey, at: u64) -> Result<()> {
        let _ = (key, at);
        Ok(())
    }

    /// The keys recorded by [`put_served`](Store::put_served) at or after
    /// `since` (Unix seconds), with when each was last served. Keys served
    /// only before `since` are forgotten.
    ///
    /// Defaults to none.
    ///
    /// # Errors
    ///
    /// If the store cannot be read.
    fn served_keys(&self, since: u64) -> Result<Vec<(TokenKey, u64)>> {
        let _ = since;
        Ok(Vec::new())
    }

    /// Forgets that `keys` were served (their accounts are no longer
    /// configured).
    ///
    /// Defaults to nothing.
    ///
    /// # Errors
    ///
    /// If the store cannot be written.
    fn forget_served(&self, keys: &[TokenKey]) -> Result<()> {
        let _ = keys;
        Ok(())
    }

    /// Calls `listener` with what replicas sharing this store change that
    /// the others must act on at once, until the returned [`Watch`] is
    /// dropped: each [`remove_authorizer`](Store::remove_authorizer), by
    /// any replica (this one included), so that every replica stops
    /// serving the authorizer's cached tokens. `None` if the store cannot
    /// tell: replicas then notice within their
    /// [`max_staleness`](crate::hub::HubHandlerBuilder::max_staleness).
    ///
    /// A store shared across processes listens on a thread of its own, and
    /// reports losing its connection ([`StoreEvent::Lost`]; events are
    /// missed until [`StoreEvent::Listening`] again).
    ///
    /// Defaults to `None`.
    ///
    /// # Errors
    ///
    /// If the store cannot start listening.
    fn watch(&self, listener: StoreListener) -> Result<Option<Watch>> {
        let _ = listener;
        Ok(None)
    }

    /// What kind of store this is, for people: the hub's status page shows
    /// it. `memory`, `file` and `redis` for the crate's own stores.
    ///
    /// Defaults to `custom`.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::{MemoryStore, Store};
    ///
    /// assert_eq!(MemoryStore::new().kind(), "memory");
    /// ```
    fn kind(&self) -> &str {
        "custom"
    }

    /// How many hubs listen to this store's events ([`Store::watch`]),
    /// this one included, if the store can tell with one cheap call: the
    /// replicas the hub's status page shows. A store that one hub alone
    /// uses answers `None`.
    ///
    /// Defaults to `None`.
    ///
    /// # Errors
    ///
    /// If the store cannot be asked.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::{MemoryStore, Store};
    ///
    /// assert_eq!(MemoryStore::new().replicas()?, None);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    fn replicas(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// The servers behind the store and what happened to them (see
    /// [`StoreTopology`]), for a store that has servers: `None` by
    /// default.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::{MemoryStore, Store};
    ///
    /// assert_eq!(MemoryStore::new().topology(), None);
    /// ```
    fn topology(&self) -> Option<StoreTopology> {
        None
    }
}

impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>> {
        (**self).get_token(key)
    }

    fn put_token(&self, key: &TokenKey, token: &Token) -> Result<()> {
        (**self).put_token(key, token)
    }

    fn put_token_fenced(&self, key: &TokenKey, token: &Token, fence: u64) -> Result<bool> {
        (**self).put_token_fenced(key, token, fence)
    }

    fn get_verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        (**self).get_verify_ticket(component_appid)
    }

    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()> {
        (**self).put_verify_ticket(component_appid, ticket)
    }

    fn verify_ticket_received_at(&self, component_appid: &str) -> Result<Option<u64>> {
        (**self).verify_ticket_received_at(component_appid)
    }

    fn put_newer_verify_ticket(
        &self,
        component_appid: &str,
        ticket: &Secret,
        create_time: u64,
    ) -> Result<bool> {
        (**self).put_newer_verify_ticket(component_appid, ticket, create_time)
    }

    fn get_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Secret>> {
        (**self).get_refresh_token(component_appid, authorizer_appid)
    }

    fn put_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        (**self).put_refresh_token(component_appid, authorizer_appid, refresh_token)
    }

    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()> {
        (**self).remove_authorizer(component_appid, authorizer_appid)
    }

    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>> {
        (**self).lock(key, ttl)
    }

    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>> {
        (**self).get_refresh_schedule(key)
    }

    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()> {
        (**self).put_refresh_schedule(key, schedule)
    }

    fn increment(&self, name: &str, ttl: Duration) -> Result<u64> {
        (**self).increment(name, ttl)
    }

    fn counter(&self, name: &str) -> Result<u64> {
        (**self).counter(name)
    }

    fn replace_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<bool> {
        (**self).replace_refresh_token(component_appid, authorizer_appid, refresh_token)
    }

    fn put_served(&self, key: &TokenKey, at: u64) -> Result<()> {
        (**self).put_served(key, at)
    }

    fn served_keys(&self, since: u64) -> Result<Vec<(TokenKey, u64)>> {
        (**self).served_keys(since)
    }

    fn forget_served(&self, keys: &[TokenKey]) -> Result<()> {
        (**self).forget_served(keys)
    }

    fn watch(&self, listener: StoreListener) -> Result<Option<Watch>> {
        (**self).watch(listener)
    }

    fn kind(&self) -> &str {
        (**self).kind()
    }

    fn replicas(&self) -> Result<Option<u64>> {
        (**self).replicas()
    }

    fn topology(&self) -> Option<StoreTopology> {
        (**self).topology()
    }
}

/// Asks whether a [`LockGuard`]'s lock is still held.
type HeldCheck<'a> = Box<dyn Fn() -> crate::error::Result<bool> + Send + Sync + 'a>;

/// A held refresh lock: released when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    release: Option<Box<dyn FnOnce() + Send + 'a>>,
    held: Option<HeldCheck<'a>>,
}

impl<'a> LockGuard<'a> {
    /// A guard that runs `release` once when dropped: for your own
    /// [`Store`] implementations. Its lock is taken to be held until then
    /// (see [`with_check`](LockGuard::with_check)).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::LockGuard;
    ///
    /// let guard = LockGuard::new(|| {});
    /// assert!(guard.is_held()?);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn new(release: impl FnOnce() + Send + 'a) -> LockGuard<'a> {
        LockGuard {
            release: Some(Box::new(release)),
            held: None,
        }
    }

    /// A guard that runs `release` once when dropped, and asks `held`
    /// whether the lock is still this holder's: for a store whose lock can
    /// be lost while held (a Redis failover to a replica that never got
    /// it).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::store::LockGuard;
    ///
    /// let guard = LockGuard::with_check(|| {}, || Ok(false));
    /// assert!(!guard.is_held()?);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn with_check(
        release: impl FnOnce() + Send + 'a,
        held: impl Fn() -> crate::error::Result<bool> + Send + Sync + 'a,
    ) -> LockGuard<'a> {
        LockGuard {
            release: Some(Box::new(release)),
            held: Some(Box::new(held)),
        }
    }

    /// Whether the lock is still this holder's. A [`StoreSource`] asks
    /// right before it calls WeChat, and calls only if it is.
    ///
    /// # Errors
    ///
    /// A store error, if the store cannot say.
    pub fn is_held(&self) -> crate::error::Result<bool> {
        self.held.as_ref().map_or(Ok(true), |held| held())
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

/// How long a `component_verify_ticket` lives (WeChat: 12 hours).
pub(crate) const VERIFY_TICKET_LIFE: Duration = Duration::from_secs(12 * 3600);

/// How long a key's fence counter is kept: far past any token's life, so
/// fences only grow while a token written with one may still be stored.
pub(crate) const FENCE_TTL: Duration = Duration::from_secs(30 * 86_400);

/// The counter ([`Store::increment`]) a key's fences are taken from.
pub(crate) fn fence_name(key: &TokenKey) -> String {
    format!("fence:{}", key_name(key))
}

/// Every key an authorizer's tokens and tickets are stored under.
pub(crate) fn authorizer_keys(component_appid: &str, authorizer_appid: &str) -> [TokenKey; 3] {
    [
        TokenKey::access_token(component_appid),
        TokenKey::ticket(component_appid, TicketType::Jsapi),
        TokenKey::ticket(component_appid, TicketType::WxCard),
    ]
    .map(|k| k.for_authorizer(authorizer_appid))
}

/// The key a [`key_name`] names, if it names one.
pub(crate) fn key_of_name(name: &str) -> Option<TokenKey> {
    let (kind, appids) = name.split_once(':')?;
    let (appid, authorizer) = match appids.split_once('/') {
        Some((appid, authorizer)) => (appid, Some(authorizer)),
        None => (appids, None),
    };
    if appid.is_empty() || authorizer == Some("") {
        return None;
    }
    let key = match kind {
        "access_token" => TokenKey::access_token(appid),
        "component_access_token" if authorizer.is_none() => TokenKey::component_access_token(appid),
        "ticket.jsapi" => TokenKey::ticket(appid, TicketType::Jsapi),
        "ticket.wx_card" => TokenKey::ticket(appid, TicketType::WxCard),
        _ => return None,
    };
    Some(match authorizer {
        Some(a) => key.for_authorizer(a),
        None => key,
    })
}

/// The stable text form of a key, used as a map key, a file field and a
/// Redis key suffix: `access_token:wx1`, `access_token:wxc/wxa`,
/// `component_access_token:wxc`, `ticket.jsapi:wx1`.
pub(crate) fn key_name(key: &TokenKey) -> String {
    let kind = match key.kind() {
        TokenKind::AccessToken => "access_token".to_string(),
        TokenKind::ComponentAccessToken => "component_access_token".to_string(),
        TokenKind::Ticket(t) => format!("ticket.{}", t.as_str()),
    };
    match key.authorizer_appid() {
        Some(a) => format!("{kind}:{}/{a}", key.appid()),
        None => format!("{kind}:{}", key.appid()),
    }
}

/// A store error with no underlying cause to chain.
pub(crate) fn store_error(reason: impl Into<String>) -> crate::error::Error {
    crate::error::Error::new(crate::error::ErrorKind::Store {
        reason: reason.into(),
    })
}

/// The suffix every key name of an authorizer ends with.
pub(crate) fn authorizer_suffix(component_appid: &str, authorizer_appid: &str) -> String {
    format!(":{component_appid}/{authorizer_appid}")
}

/// A unique value for a lock holder: random, so that a holder whose lock
/// expired can never release its successor's.
pub(crate) fn lock_value() -> u64 {
    let mut bytes = [0u8; 8];
    // ok because a failing OS RNG only makes values less random; the
    // counter still keeps them unique within the process
    let _ = getrandom::fill(&mut bytes);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    u64::from_le_bytes(bytes) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_distinct_and_stable() {
        let names = [
            key_name(&TokenKey::access_token("wx1")),
            key_name(&TokenKey::access_token("wxc").for_authorizer("wxa")),
            key_name(&TokenKey::component_access_token("wxc")),
            key_name(&TokenKey::ticket("wx1", TicketType::Jsapi)),
            key_name(&TokenKey::ticket("wxc", TicketType::WxCard).for_authorizer("wxa")),
        ];
        assert_eq!(
            names,
            [
                "access_token:wx1",
                "access_token:wxc/wxa",
                "component_access_token:wxc",
                "ticket.jsapi:wx1",
                "ticket.wx_card:wxc/wxa",
            ]
        );
    }

    #[test]
    fn key_names_read_back_as_their_keys() {
        let keys = [
            TokenKey::access_token("wx1"),
            TokenKey::access_token("wxc").for_authorizer("wxa"),
            TokenKey::component_access_token("wxc"),
            TokenKey::ticket("wx1", TicketType::Jsapi),
            TokenKey::ticket("wxc", TicketType::WxCard).for_authorizer("wxa"),
        ];
        for key in keys {
            assert_eq!(key_of_name(&key_name(&key)), Some(key));
        }
        for name in [
            "",
            "access_token",
            "access_token:",
            "access_token:wxc/",
            "component_access_token:wxc/wxa",
            "ticket.other:wx1",
            "lock:wx1",
        ] {
            assert_eq!(key_of_name(name), None, "{name}");
        }
    }

    #[test]
    fn a_removed_authorizer_cannot_be_written_back_with_an_older_fence() {
        let store = MemoryStore::new();
        let key = TokenKey::access_token("wxc").for_authorizer("wxa");
        store
            .put_refresh_token("wxc", "wxa", &Secret::new("R1"))
            .unwrap();
        let before = store.increment(&fence_name(&key), FENCE_TTL).unwrap();
        store.remove_authorizer("wxc", "wxa").unwrap();
        let rotated = Secret::new("R2");
        assert!(!store.replace_refresh_token("wxc", "wxa", &rotated).unwrap());
        assert!(!store
            .put_token_fenced(&key, &Token::new("LATE", 7200), before)
            .unwrap());
        assert_eq!(store.get_token(&key).unwrap(), None);
        assert_eq!(store.get_refresh_token("wxc", "wxa").unwrap(), None);
        // A new authorization is stored, and its tokens with new fences.
        store
            .put_refresh_token("wxc", "wxa", &Secret::new("R3"))
            .unwrap();
        let after = store.increment(&fence_name(&key), FENCE_TTL).unwrap();
        assert!(store
            .put_token_fenced(&key, &Token::new("NEW", 7200), after)
            .unwrap());
        assert!(store.replace_refresh_token("wxc", "wxa", &rotated).unwrap());
        assert_eq!(
            store.get_refresh_token("wxc", "wxa").unwrap(),
            Some(rotated)
        );
    }

    #[test]
    fn expired_tokens_are_not_served() {
        let store = MemoryStore::new();
        let key = TokenKey::access_token("wx1");
        store
            .put_token(&key, &Token::with_timestamp("OLD", 1000, 7200))
            .unwrap();
        assert!(store.get_token(&key).unwrap().is_none());
    }

    #[test]
    fn an_expired_lock_can_be_taken_and_its_old_guard_releases_nothing() {
        let store = MemoryStore::new();
        let key = TokenKey::access_token("wx1");
        let old = store.lock(&key, Duration::ZERO).unwrap().unwrap();
        let new = store.lock(&key, Duration::from_secs(60)).unwrap().unwrap();
        drop(old);
        assert!(store.lock(&key, Duration::from_secs(60)).unwrap().is_none());
        drop(new);
        assert!(store.lock(&key, Duration::from_secs(60)).unwrap().is_some());
    }

    #[test]
    fn removing_an_authorizer_forgets_its_tokens_and_refresh_token() {
        let store = MemoryStore::new();
        let key = TokenKey::access_token("wxc").for_authorizer("wxa");
        let other = TokenKey::access_token("wxc").for_authorizer("wxb");
        store.put_token(&key, &Token::new("A", 7200)).unwrap();
        store.put_token(&other, &Token::new("B", 7200)).unwrap();
        store
            .put_refresh_token("wxc", "wxa", &Secret::new("R"))
            .unwrap();
        store.remove_authorizer("wxc", "wxa").unwrap();
        assert!(store.get_token(&key).unwrap().is_none());
        assert!(store.get_refresh_token("wxc", "wxa").unwrap().is_none());
        assert_eq!(store.get_token(&other).unwrap().unwrap().expose(), "B");
    }
}
