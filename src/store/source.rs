//! `StoreSource`: tokens from a [`Store`] shared by hub replicas, fetched
//! from WeChat by exactly one replica at a time under the store's lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::lifetime::Lifetimes;
use super::{fence_name, store_error, LockGuard, Store, FENCE_TTL};
use crate::clock::Clock;
use crate::error::{Result, SourceKind};
use crate::token::limit::{warn_lineage_fight, RefreshLimit, Schedule};
use crate::token::{Context, Token, TokenKey, TokenSource};

/// How often a replica waiting for another's refresh looks at the store.
const POLL: Duration = Duration::from_millis(20);

/// The refresh lock's default lifetime: up to four upstream calls run under
/// one lock (a ticket's access token fetch, a rejected token's refresh and
/// retry, the ticket itself), so it outlasts four 10 s timeouts. The one
/// place this default is written ([`HubHandlerBuilder`](super::HubHandlerBuilder)
/// uses it too).
pub(crate) const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(45);

/// How long a fetch waits by default for another replica's refresh: just
/// past [`DEFAULT_LOCK_TTL`], so a dead holder's lock expires first.
pub(crate) const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(50);

/// How long before its expiry a stored token stops being handed out as
/// fresh, at most (a tenth of its life if less): its cut-off, which its
/// refresh ahead lands before. The client cache's default margin, so that
/// what the store hands out is not refreshed by its own clients at once.
/// Past it, the token is still handed out while it is being replaced (see
/// [`StoreSource`]).
pub(crate) const EXPIRY_MARGIN_SECS: u64 = 300;

/// Asked under the lock before each upstream call, ahead of the refresh
/// limit: an error refuses the call (the hub's remembered used-up quota).
pub(crate) type UpstreamGate = Arc<dyn Fn(&TokenKey, &Context<'_>) -> Result<()> + Send + Sync>;
/// When the store stops handing `token` out as fresh (Unix seconds).
pub(crate) fn cutoff(token: &Token) -> u64 {
    let margin = crate::token::cache::margin(token, EXPIRY_MARGIN_SECS);
    token.expires_at().saturating_sub(margin)
}

/// A [`TokenSource`] that keeps tokens in a [`Store`] and calls an upstream
/// source (usually a [`SecretSource`](crate::SecretSource)) only while
/// holding the store's refresh lock, so that of many processes sharing the
/// store exactly one calls WeChat per fetch or refresh.
///
/// - `fetch`: a fresh stored token is returned as is. Otherwise the lock is
///   taken, the store read again (another process may have just written
///   it), and only then is upstream called and its token stored.
/// - `refresh(stale)`: compare-and-swap. A fresh stored token other than
///   `stale` is returned with no upstream call; otherwise as for `fetch`,
///   with upstream's `refresh`.
/// - While another process holds the lock, the store is read every 20 ms
///   until its token appears or the lock can be taken (it expires by itself
///   if its holder died), for at most [`lock_wait`](StoreSource::lock_wait).
/// - A `fetch` that finds the stored token past its cut-off (a tenth of
///   its life, at most 300 s, before it expires) but not expired gets
///   that token at once while
///   another holds the lock (a refresh is under way), and if its own
///   refresh fails with anything but an invalid request: a token WeChat
///   still accepts is served until its replacement is in the store, and
///   no read waits on another's upstream call for a key it has had.
///
/// - When the store has lost a token (a Redis restart) or holds an older
///   one than this replica last read or wrote (a Redis failover to a
///   replica that missed the last writes: an earlier timestamp), the last
///   token this replica had, if still fresh, is written back under the
///   lock instead of fetching a new one or serving the older one: a new
///   token would start a second lineage next to the one clients still
///   hold.
/// - Under the lock, every upstream call (fetch or refresh) is admitted by
///   the [`RefreshLimit`], whose schedule lives in the store: all replicas
///   share one budget per key. A refused call fails with
///   [`ErrorKind::RefreshLimited`](crate::ErrorKind::RefreshLimited) and
///   calls nothing. A stored token reported stale within the floor of
///   being fetched is logged as the sign of two lineages fighting, once
///   per storm for all replicas.
///
/// A store failure is returned as an error: upstream is never called
/// without the lock.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use weixin::store::{MemoryStore, Store, StoreSource};
/// use weixin::{Client, Token, TokenKey};
///
/// let store = Arc::new(MemoryStore::new());
/// let key = TokenKey::access_token("wx1");
/// store.put_token(&key, &Token::new("FROM_ANOTHER_REPLICA", 7200))?;
/// let source = StoreSource::new(store.clone(), weixin::SecretSource::new("wx1", "s"));
/// let client = Client::builder().token_source(source).build()?;
/// // A stale token that is no longer current: the stored one, no WeChat call.
/// let fresh = client.refreshed_token(&key, &Token::new("STALE", 7200))?;
/// assert_eq!(fresh.expose(), "FROM_ANOTHER_REPLICA");
/// # Ok::<(), weixin::Error>(())
/// ```
pub struct StoreSource {
    store: Arc<dyn Store>,
    upstream: Arc<dyn TokenSource>,
    lock_ttl: Duration,
    lock_wait: Duration,
    limit: RefreshLimit,
    clock: Clock,
    /// The last token this replica read from or wrote to the store, per
    /// key: what a store that lost its state (a Redis restart) is seeded
    /// with again, instead of starting a new token lineage upstream.
    known: Mutex<HashMap<TokenKey, Token>>,
    /// Whether upstream keeps authorizers' refresh tokens in this store
    /// (a hub's platforms): then an authorizer with none is refused with
    /// no upstream call.
    authorizers_in_store: bool,
    /// A refresh thread replaces tokens ahead of their cut-off (a hub's):
    /// a read past the cut-off is answered the current token and leaves
    /// the replacement to that thread, never calling WeChat itself.
    replaced_ahead: bool,
    /// Asked before the refresh limit admits an upstream call.
    gate: Option<UpstreamGate>,
    /// How long the hub keeps what it writes (a hub's configured
    /// `expires_in`); none over a plain `StoreSource`.
    lifetimes: Lifetimes,
}

impl StoreSource {
    /// Tokens kept in `store`, fetched from `upstream`.
    pub fn new(store: impl Store + 'static, upstream: impl TokenSource + 'static) -> StoreSource {
        StoreSource::from_arcs(Arc::new(store), Arc::new(upstream))
    }

    pub(crate) fn from_arcs(store: Arc<dyn Store>, upstream: Arc<dyn TokenSource>) -> StoreSource {
        StoreSource {
            store,
            upstream,
            lock_ttl: DEFAULT_LOCK_TTL,
            lock_wait: DEFAULT_LOCK_WAIT,
            limit: RefreshLimit::default(),
            clock: Clock::system(),
            known: Mutex::new(HashMap::new()),
            authorizers_in_store: false,
            replaced_ahead: false,
            gate: None,
            lifetimes: Lifetimes::default(),
        }
    }

    /// Asks `gate` before each upstream call, ahead of the refresh limit:
    /// a call it refuses is not made and spends none of the limit.
    pub(crate) fn gate(mut self, gate: UpstreamGate) -> StoreSource {
        self.gate = Some(gate);
        self
    }

    /// Cuts every token written to the store to `lifetimes` (see
    /// [`keep`](StoreSource::keep)).
    pub(crate) fn lifetimes(mut self, lifetimes: Lifetimes) -> StoreSource {
        self.lifetimes = lifetimes;
        self
    }

    /// Refuses an authorizer whose refresh token the store does not hold
    /// with no upstream call: for an upstream whose refresh tokens live in
    /// this store.
    pub(crate) fn authorizers_in_store(mut self, yes: bool) -> StoreSource {
        self.authorizers_in_store = yes;
        self
    }

    /// Leaves the replacement of a token past its cut-off, which WeChat
    /// still accepts, to a refresh thread (a hub's refresh ahead, which
    /// retries a failed refresh until the token expires): a read is
    /// answered the current token at once and never waits on WeChat.
    pub(crate) fn replaced_ahead(mut self, yes: bool) -> StoreSource {
        self.replaced_ahead = yes;
        self
    }

    /// How often upstream may be called per key, by all replicas sharing
    /// the store together.
    ///
    /// Defaults to [`RefreshLimit::default`]: 3 at once, then from 2 s up
    /// to a 30 s floor.
    pub fn refresh_limit(mut self, limit: RefreshLimit) -> StoreSource {
        self.limit = limit;
        self
    }

    /// Where the refresh limit and token freshness read the time.
    ///
    /// Defaults to [`Clock::system`].
    pub fn clock(mut self, clock: Clock) -> StoreSource {
        self.clock = clock;
        self
    }

    /// How long the refresh lock is held at most: it must outlast one
    /// upstream call, and is how long others wait if its holder dies.
    ///
    /// Defaults to 45 seconds: up to four upstream calls (a ticket's
    /// access token, a refresh and retry, the ticket) of a 10 s timeout.
    pub fn lock_ttl(mut self, ttl: Duration) -> StoreSource {
        self.lock_ttl = ttl;
        self
    }

    /// How long a fetch waits for another process's refresh before it
    /// fails with [`ErrorKind::Store`](crate::ErrorKind::Store). Keep it
    /// above [`lock_ttl`](StoreSource::lock_ttl).
    ///
    /// Defaults to 50 seconds.
    pub fn lock_wait(mut self, wait: Duration) -> StoreSource {
        self.lock_wait = wait;
        self
    }

    /// The stored token for `key` if it can be handed out: fresh, and not
    /// the `stale` one.
    fn usable(&self, key: &TokenKey, stale: Option<&Token>) -> Result<Option<Token>> {
        Ok(self
            .store
            .get_token(key)?
            .filter(|t| self.is_usable(t, stale)))
    }

    /// Whether WeChat still accepts `token`: it has not expired by this
    /// source's clock (its cut-off may have passed).
    fn is_accepted(&self, token: &Token) -> bool {
        token.expires_at() > self.clock.unix_secs()
    }

    fn is_usable(&self, token: &Token, stale: Option<&Token>) -> bool {
        is_fresh(token, self.clock.unix_secs())
            && stale.is_none_or(|s| s.expose() != token.expose())
    }

    /// With the lock held: the stored token if usable, else upstream's,
    /// if the refresh limit admits the call.
    ///
    /// `ahead`: `stale` is the current token, replaced before it expires
    /// rather than because WeChat rejected it, so upstream's `fetch` is
    /// called (a rejected token's `refresh` may force a new one).
    fn call_upstream(
        &self,
        key: &TokenKey,
        stale: Option<&Token>,
        ahead: bool,
        lock: &LockGuard<'_>,
        cx: &Context<'_>,
    ) -> Result<Token> {
        // Look again: the previous holder may have just stored it.
        let stored = self.store.get_token(key)?;
        if let Some(token) = stored.as_ref().filter(|t| self.servable(key, t, stale)) {
            return Ok(token.clone());
        }
        // Taken under the lock, before anything is written: a replica that
        // takes the lock after ours expired gets a higher one, and our
        // write cannot overwrite its; an authorizer removed after this
        // point is fenced against it.
        let fence = self.store.increment(&fence_name(key), FENCE_TTL)?;
        let authorized = stored.is_some() || self.authorized(key)?;
        if !authorized {
            // Gone from the store with its refresh token: it revoked its
            // authorization (or never gave it). Its old token is never
            // written back, and WeChat is not asked.
            if let (true, Some(authorizer)) = (self.authorizers_in_store, key.authorizer_appid()) {
                return Err(not_authorized(key.appid(), authorizer));
            }
        } else if let Some(token) = self.ahead_of_store(key, stored.as_ref(), stale) {
            // The store lost the token (a Redis restart), or holds an older
            // one (a failover that lost the last writes): this replica's
            // copy, still good, keeps the lineage, and WeChat is not asked
            // for a token that would fork it.
            return self.keep(key, token, fence);
        }
        if let Some(gate) = &self.gate {
            gate(key, cx)?;
        }
        // A lock lost meanwhile (a Redis failover to a replica that never
        // got it) may be another replica's now: the refresh limit is not
        // spent and WeChat is not called, so that two replicas never call
        // for one key at once.
        if !lock.is_held()? {
            return Err(store_error(format!(
                "the refresh lock of {key:?} was lost before calling WeChat (a Redis failover?); \
                 not calling"
            )));
        }
        // A stale token the store still holds was rejected by WeChat (a
        // client's refresh reports just that); one replaced ahead was not.
        let rejected = stored.filter(|t| !ahead && stale.is_some_and(|s| s.expose() == t.expose()));
        let stored_schedule = Schedule::unpack(self.store.get_refresh_schedule(key)?);
        let admission = self.limit.decide(
            key,
            stored_schedule,
            self.clock.unix_millis(),
            rejected.as_ref(),
            true,
        );
        // Spent before the call: a replica that dies during it has still
        // called WeChat. A refusal that warns is written too, so that the
        // storm warns once for every replica.
        if let Some(schedule) = admission.schedule {
            self.store.put_refresh_schedule(key, schedule.pack())?;
        }
        if let Some(age) = admission.warn {
            warn_lineage_fight(key, age);
        }
        admission.outcome?;
        let token = match stale {
            Some(stale) if !ahead => self.upstream.refresh(key, stale, cx)?,
            _ => self.upstream.fetch(key, cx)?,
        };
        self.keep(key, token, fence)
    }

    /// The one way a token enters the store, whatever brought it (an
    /// upstream call, an authorization push, this replica's copy written
    /// back): cut to the configured lifetime, then stored with `fence`
    /// and returned; if a newer one was stored meanwhile, that one; if the
    /// authorizer was removed meanwhile, the error of an authorizer that
    /// has not authorized.
    fn keep(&self, key: &TokenKey, token: Token, fence: u64) -> Result<Token> {
        let token = self.lifetimes.apply(key, token);
        if self.store.put_token_fenced(key, &token, fence)? {
            return Ok(token);
        }
        if let (true, Some(authorizer)) = (self.authorizers_in_store, key.authorizer_appid()) {
            if !self.authorized(key)? {
                log::info!(
                    "wechat hub: {key:?} was removed (unauthorized) while this replica \
                     fetched it: the token fetched is dropped"
                );
                return Err(not_authorized(key.appid(), authorizer));
            }
        }
        log::warn!(
            "wechat hub: {key:?} was fetched after this replica's lock expired and another \
             replica stored a newer token meanwhile: the store keeps the newer one"
        );
        self.usable(key, None)?.ok_or_else(|| {
            store_error(format!(
                "a newer token of {key:?} was stored by another replica, and is gone"
            ))
        })
    }

    /// Stores `token`, obtained from WeChat outside this source (an
    /// authorizer's first token, from the code an `authorized` push
    /// brought), stamped by this source's clock, as every token is kept
    /// (see [`keep`](StoreSource::keep)), and returns it as stored. Its
    /// fence is taken now: a refresh under way with an older one cannot
    /// overwrite it.
    #[cfg(feature = "crypto")]
    pub(crate) fn put_obtained(&self, key: &TokenKey, token: &Token) -> Result<Token> {
        let fence = self.store.increment(&fence_name(key), FENCE_TTL)?;
        let token = token.obtained_at(self.clock.unix_secs());
        let token = self.keep(key, token, fence)?;
        self.known.lock().insert(key.clone(), token.clone());
        Ok(token)
    }

    /// Replaces `current`, the stored token of `key`, before it expires,
    /// if this replica gets the lock at once (`None` if another holds it:
    /// that one is refreshing). Under the lock as any upstream call: the
    /// store is read again (a token other than `current` is returned with
    /// no upstream call) and the refresh limit admits the call.
    pub(crate) fn refresh_ahead(
        &self,
        key: &TokenKey,
        current: &Token,
        cx: &Context<'_>,
    ) -> Result<Option<Token>> {
        let Some(guard) = self.store.lock(key, self.lock_ttl)? else {
            return Ok(None);
        };
        let token = self.call_upstream(key, Some(current), true, &guard, cx);
        drop(guard);
        let token = token?;
        self.known.lock().insert(key.clone(), token.clone());
        Ok(Some(token))
    }

    /// Whether the stored `token` may be handed out: usable, and not behind
    /// this replica's own (see [`ahead_of_store`](StoreSource::ahead_of_store)).
    fn servable(&self, key: &TokenKey, token: &Token, stale: Option<&Token>) -> bool {
        self.is_usable(token, stale) && self.ahead_of_store(key, Some(token), stale).is_none()
    }

    /// This replica's last token for `key` if it is still usable and the
    /// store is behind it: it holds none (a Redis restart) or an older one
    /// (a failover to a replica that missed the last writes).
    fn ahead_of_store(
        &self,
        key: &TokenKey,
        stored: Option<&Token>,
        stale: Option<&Token>,
    ) -> Option<Token> {
        self.known
            .lock()
            .get(key)
            .cloned()
            .filter(|t| self.is_usable(t, stale))
            .filter(|t| {
                stored.is_none_or(|s| t.timestamp() > s.timestamp() && t.expose() != s.expose())
            })
    }

    /// Whether `key` is an account's, or an authorizer's whose refresh
    /// token the store holds (one whose refresh token is gone revoked its
    /// authorization: another replica got the `unauthorized` push).
    fn authorized(&self, key: &TokenKey) -> Result<bool> {
        match key.authorizer_appid() {
            Some(authorizer) => Ok(self
                .store
                .get_refresh_token(key.appid(), authorizer)?
                .is_some()),
            None => Ok(true),
        }
    }

    fn acquire(&self, key: &TokenKey, stale: Option<&Token>, cx: &Context<'_>) -> Result<Token> {
        let token = self.acquire_from_store(key, stale, cx)?;
        self.known.lock().insert(key.clone(), token.clone());
        Ok(token)
    }

    fn acquire_from_store(
        &self,
        key: &TokenKey,
        stale: Option<&Token>,
        cx: &Context<'_>,
    ) -> Result<Token> {
        let stored = self.store.get_token(key)?;
        // A store behind this replica (a failover lost the last writes) is
        // not served from: this replica's newer token is written back under
        // the lock (see `call_upstream`), and served while another replica
        // holds the lock. Never the older one: that would end the lineage
        // clients hold.
        let mine = stored
            .as_ref()
            .and_then(|s| self.ahead_of_store(key, Some(s), stale));
        if let Some(token) = stored
            .as_ref()
            .filter(|t| mine.is_none() && self.is_usable(t, stale))
        {
            return Ok(token.clone());
        }
        // Past its cut-off, a token WeChat still accepts answers a plain
        // read while it is being replaced (under the lock, by any replica)
        // and if replacing it fails: a read never waits on WeChat for a key
        // it has had.
        let behind = mine.is_some();
        let current = mine.or_else(|| stored.filter(|t| stale.is_none() && self.is_accepted(t)));
        if let (true, false, Some(current)) = (self.replaced_ahead, behind, &current) {
            return Ok(current.clone());
        }
        // A wait too long to add up is no deadline at all.
        let deadline = Instant::now().checked_add(self.lock_wait);
        loop {
            if let Some(guard) = self.store.lock(key, self.lock_ttl)? {
                let token = self.call_upstream(key, stale, false, &guard, cx);
                drop(guard);
                return match (token, current) {
                    (Err(e), Some(current)) if leaves_current(&e) => {
                        log::warn!(
                            "wechat hub: replacing {key:?} failed; its current token, which \
                             WeChat accepts for {}s more, is served meanwhile: {e}",
                            current.expires_at().saturating_sub(self.clock.unix_secs())
                        );
                        Ok(current)
                    }
                    (token, _) => token,
                };
            }
            if let Some(current) = current {
                return Ok(current);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(store_error(format!(
                    "waited {:?} for another hub's refresh of {key:?}; its lock is still held",
                    self.lock_wait
                )));
            }
            std::thread::sleep(POLL);
            if let Some(token) = self
                .store
                .get_token(key)?
                .filter(|t| self.servable(key, t, stale))
            {
                return Ok(token);
            }
        }
    }
}

/// Whether a failed replacement leaves the current token to be served:
/// WeChat, the network or the refresh limit failed the call, not the
/// request itself (an authorizer that revoked, a key the hub does not
/// serve).
fn leaves_current(e: &crate::error::Error) -> bool {
    !matches!(
        e.kind(),
        crate::ErrorKind::InvalidRequest { .. } | crate::ErrorKind::Config { .. }
    )
}

/// The error for an authorizer the store holds no refresh token of: it
/// revoked its authorization (`unauthorized`, on any replica), or never
/// authorized the platform. An invalid request: no call can fix it.
fn not_authorized(component_appid: &str, authorizer_appid: &str) -> crate::error::Error {
    crate::error::Error::invalid(format!(
        "authorizer {authorizer_appid} has not authorized platform {component_appid}, or revoked \
         it: the hub holds no authorizer_refresh_token for it"
    ))
}

/// Whether a stored token may be handed out as fresh at `now`.
fn is_fresh(token: &Token, now: u64) -> bool {
    now < cutoff(token)
}

impl TokenSource for StoreSource {
    fn source_kind(&self) -> SourceKind {
        SourceKind::Store
    }

    fn fetch(&self, key: &TokenKey, cx: &Context<'_>) -> Result<Token> {
        self.acquire(key, None, cx)
    }

    fn refresh(&self, key: &TokenKey, stale: &Token, cx: &Context<'_>) -> Result<Token> {
        self.acquire(key, Some(stale), cx)
    }

    /// Its own limit, shared through the store, applies instead.
    fn limited_by_client(&self) -> bool {
        false
    }

    /// Forgets this replica's copy too, so a lost store is never seeded
    /// with a token that was deliberately forgotten.
    fn forget(&self, key: &TokenKey) {
        self.known.lock().remove(key);
    }
}

impl fmt::Debug for StoreSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreSource")
            .field("store", &self.store)
            .field("upstream", &self.upstream)
            .field("lock_ttl", &self.lock_ttl)
            .field("lock_wait", &self.lock_wait)
            .field("limit", &self.limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::Client;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl TokenSource for Counting {
        fn fetch(&self, _key: &TokenKey, _cx: &Context<'_>) -> Result<Token> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Token::new(format!("T{n}"), 7200))
        }
    }

    /// A replica: a client on its own `StoreSource` over the shared
    /// `store` and `upstream`.
    fn replica_of(store: &Arc<dyn Store>, upstream: &Arc<Counting>) -> Client {
        Client::builder()
            .token_source(StoreSource::from_arcs(store.clone(), upstream.clone()))
            .build()
            .unwrap()
    }

    #[test]
    fn two_replicas_sharing_a_store_refresh_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let upstream = Arc::new(Counting::default());
        let replica = || replica_of(&store, &upstream);
        let (a, b) = (replica(), replica());
        let key = TokenKey::access_token("wx1");
        let t1 = a.token(&key).unwrap();
        assert_eq!(b.token(&key).unwrap().expose(), t1.expose());
        let t2 = a.refreshed_token(&key, &t1).unwrap();
        // b still caches t1; its refresh finds t2 in the store.
        assert_eq!(b.refreshed_token(&key, &t1).unwrap().expose(), t2.expose());
        assert_eq!(upstream.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_store_that_lost_its_token_is_seeded_again_from_the_replica() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let upstream = Arc::new(Counting::default());
        let client = Client::builder()
            .token_source(StoreSource::from_arcs(store.clone(), upstream.clone()))
            .build()
            .unwrap();
        let key = TokenKey::access_token("wx1");
        let lose = || {
            // As after a Redis restart: nothing usable under the key.
            store
                .put_token(&key, &Token::with_timestamp("LOST", 0, 1))
                .unwrap()
        };
        let t1 = client.token(&key).unwrap();
        lose();
        assert!(client.invalidate_token(&key, &t1));
        assert_eq!(client.token(&key).unwrap(), t1, "the lineage goes on");
        assert_eq!(store.get_token(&key).unwrap(), Some(t1.clone()));
        assert_eq!(upstream.0.load(Ordering::SeqCst), 1);
        // A forgotten token is never seeded again.
        client.forget_token(&key);
        lose();
        assert_eq!(client.token(&key).unwrap().expose(), "T2");
        assert_eq!(upstream.0.load(Ordering::SeqCst), 2);
    }

    /// After a failover to a Redis replica that missed the last writes, the
    /// store holds an older token than this replica last had: the
    /// replica's is written back, not the older one served, and WeChat is
    /// not called.
    #[test]
    fn a_store_behind_the_replica_after_a_failover_gets_the_replica_token_back() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let upstream = Arc::new(Counting::default());
        let replica = || replica_of(&store, &upstream);
        let a = replica();
        let key = TokenKey::access_token("wx1");
        let t1 = a.token(&key).unwrap();
        // The new primary has the token before t1, still fresh.
        let older = Token::with_timestamp("OLDER", t1.timestamp() - 60, 7200);
        store.put_token(&key, &older).unwrap();
        assert!(a.invalidate_token(&key, &t1));
        assert_eq!(a.token(&key).unwrap(), t1, "the replica's lineage goes on");
        assert_eq!(store.get_token(&key).unwrap(), Some(t1.clone()));
        assert_eq!(
            replica().token(&key).unwrap(),
            t1,
            "another replica reads it"
        );
        assert_eq!(upstream.0.load(Ordering::SeqCst), 1);
    }

    /// A store behind this replica while another replica holds the lock
    /// (a lock taken on the new primary, or one that outlived its holder on
    /// the old one): this replica serves its own newer token, never the
    /// older one, and writes it back once the lock is free. Before, it
    /// waited and took the older one, and the newer lineage was lost.
    #[test]
    fn a_store_behind_the_replica_under_another_lock_never_gets_the_older_token_served() {
        let key = TokenKey::access_token("wx1");
        for hub in [false, true] {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let upstream = Arc::new(Counting::default());
            let source = StoreSource::from_arcs(store.clone(), upstream.clone())
                .replaced_ahead(hub)
                .lock_wait(Duration::from_secs(30));
            let a = Client::builder().token_source(source).build().unwrap();
            let t1 = a.token(&key).unwrap();
            let older = Token::with_timestamp("OLDER", t1.timestamp() - 60, 7200);
            store.put_token(&key, &older).unwrap();
            let held = store.lock(&key, Duration::from_secs(60)).unwrap().unwrap();
            assert!(a.invalidate_token(&key, &t1));
            assert_eq!(a.token(&key).unwrap(), t1, "hub {hub}: its own, at once");
            assert_eq!(store.get_token(&key).unwrap(), Some(older.clone()));
            drop(held);
            assert!(a.invalidate_token(&key, &t1));
            assert_eq!(a.token(&key).unwrap(), t1, "hub {hub}");
            assert_eq!(
                store.get_token(&key).unwrap(),
                Some(t1.clone()),
                "written back"
            );
            assert_eq!(upstream.0.load(Ordering::SeqCst), 1, "hub {hub}");
        }
    }

    /// The refresh lock is lost while held (a Redis failover to a replica
    /// that never got it, where another replica took it): the replica
    /// that held it does not call WeChat, and the refresh limit is not
    /// spent. Another holder's value is put in the lock key under the
    /// first one's feet, from the upstream gate that runs under the lock.
    #[cfg(feature = "redis")]
    #[test]
    fn a_lock_lost_while_held_calls_no_upstream() {
        let prefix = format!("wechat-unit:{}:lost-lock:", std::process::id());
        let store = Arc::new(
            crate::store::RedisStore::open("redis://127.0.0.1:6379/")
                .unwrap()
                .prefix(prefix),
        );
        let key = TokenKey::access_token("wx_lost_lock");
        let lock_name = store.layout().lock(&key);
        let upstream = Arc::new(Counting::default());
        let taken_over = Arc::new(AtomicUsize::new(0));
        let seen = taken_over.clone();
        let source = StoreSource::from_arcs(store.clone(), upstream.clone()).gate(Arc::new(
            move |_: &TokenKey, _: &Context<'_>| {
                let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
                let mut con = client.get_connection().unwrap();
                redis::cmd("SET")
                    .arg(&lock_name)
                    .arg("another-replica")
                    .query::<()>(&mut con)
                    .unwrap();
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        ));
        let client = Client::builder().token_source(source).build().unwrap();
        let err = client.token(&key).unwrap_err();
        assert!(err.is_store_error(), "{err:?}");
        assert!(err.to_string().contains("lock"), "{err}");
        assert_eq!(taken_over.load(Ordering::SeqCst), 1, "the lock was taken");
        assert_eq!(upstream.0.load(Ordering::SeqCst), 0, "WeChat not called");
        assert_eq!(
            store.get_refresh_schedule(&key).unwrap(),
            None,
            "nothing spent"
        );
    }

    /// A token stored 570 s into its 600 s: past its cut-off (a tenth of
    /// its life before expiry), still accepted for 30 s.
    fn past_its_cutoff(store: &MemoryStore, key: &TokenKey) -> Token {
        let token = Token::with_timestamp("CURRENT", crate::token::unix_now() - 570, 600);
        store.put_token(key, &token).unwrap();
        token
    }

    /// Fails every call: as WeChat would (-1), or refusing the request.
    #[derive(Debug)]
    struct Down {
        refused: bool,
    }

    impl TokenSource for Down {
        fn fetch(&self, _key: &TokenKey, _cx: &Context<'_>) -> Result<Token> {
            Err(if self.refused {
                crate::error::Error::invalid("no such authorizer")
            } else {
                crate::error::Error::new(crate::ErrorKind::Api {
                    errcode: -1,
                    errmsg: "system error".into(),
                    status: 200,
                })
            })
        }
    }

    #[test]
    fn a_read_past_the_cutoff_gets_the_current_token_while_another_replaces_it() {
        let store = Arc::new(MemoryStore::new());
        let key = TokenKey::access_token("wx1");
        let current = past_its_cutoff(&store, &key);
        // Another replica's refresh is under way.
        let held = store.lock(&key, Duration::from_secs(60)).unwrap().unwrap();
        let upstream = Arc::new(Counting::default());
        let source = StoreSource::from_arcs(store.clone(), upstream.clone())
            .lock_wait(Duration::from_millis(50));
        let client = Client::builder().token_source(source).build().unwrap();
        assert_eq!(client.token(&key).unwrap(), current, "no wait, no call");
        assert_eq!(upstream.0.load(Ordering::SeqCst), 0);
        // Once the lock is free, a read replaces it itself.
        drop(held);
        client.forget_token(&key);
        assert_eq!(client.token(&key).unwrap().expose(), "T1");
    }

    #[test]
    fn a_failed_replacement_serves_the_current_token_unless_the_request_is_refused() {
        let key = TokenKey::access_token("wx1");
        for refused in [false, true] {
            let store = Arc::new(MemoryStore::new());
            let current = past_its_cutoff(&store, &key);
            let source = StoreSource::from_arcs(store, Arc::new(Down { refused }));
            let client = Client::builder().token_source(source).build().unwrap();
            match client.token(&key) {
                Ok(token) => assert!(!refused && token == current),
                Err(e) => assert!(
                    refused && matches!(e.kind(), crate::ErrorKind::InvalidRequest { .. }),
                    "{e:?}"
                ),
            }
        }
    }

    #[test]
    fn with_a_refresh_thread_a_read_past_the_cutoff_never_calls_upstream() {
        let store = Arc::new(MemoryStore::new());
        let key = TokenKey::access_token("wx1");
        let current = past_its_cutoff(&store, &key);
        let upstream = Arc::new(Counting::default());
        let source = StoreSource::from_arcs(store.clone(), upstream.clone()).replaced_ahead(true);
        let client = Client::builder().token_source(source).build().unwrap();
        // The lock is free, and still the read leaves the call to the thread.
        assert_eq!(client.token(&key).unwrap(), current);
        assert_eq!(upstream.0.load(Ordering::SeqCst), 0);
        // An expired token is no answer: the read fetches.
        store
            .put_token(&key, &Token::with_timestamp("OLD", 0, 600))
            .unwrap();
        client.forget_token(&key);
        assert_eq!(client.token(&key).unwrap().expose(), "T1");
        assert_eq!(upstream.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_held_lock_makes_a_bounded_wait_and_a_store_error() {
        let store = Arc::new(MemoryStore::new());
        let key = TokenKey::access_token("wx1");
        let _held = store.lock(&key, Duration::from_secs(60)).unwrap().unwrap();
        let source = StoreSource::from_arcs(store.clone(), Arc::new(Counting::default()))
            .lock_wait(Duration::from_millis(50));
        let client = Client::builder().token_source(source).build().unwrap();
        let err = client.token(&key).unwrap_err();
        assert!(
            matches!(err.kind(), crate::ErrorKind::Store { .. }),
            "{err:?}"
        );
    }
}
