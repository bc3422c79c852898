//! What a hub counts while it answers: upstream calls by kind and result,
//! refreshes answered without one, store errors. Plain atomics, so that a
//! [`HubHandler`](super::HubHandler) counts under any server;
//! `HubServer` (feature `hub`) publishes them at `GET /metrics`.
//!
//! The counts are taken at the two doors the hub has to the outside: the
//! upstream token source ([`HubUpstream`](super::door::HubUpstream)) and
//! the store ([`CountedStore`]), each wrapped once by the builder.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::quota::quota_of;
use crate::clock::Clock;
use crate::error::Result;
use crate::secret::Secret;
use crate::store::{LockGuard, Store};
use crate::store::{StoreListener, StoreTopology, Watch};
use crate::token::{Token, TokenKey, TokenKind};

/// The kinds of upstream call, as the `kind` label names them: an
/// account's access token, a ticket (an account's or an authorizer's), a
/// platform's component access token, an authorizer's access token (or
/// the exchange of an authorization code for one).
pub(crate) const KINDS: [&str; 4] = ["token", "ticket", "component", "authorizer"];

const RESULT_COUNT: usize = 2;

/// The `result` label of an upstream call.
#[cfg(any(feature = "hub", test))]
pub(crate) const RESULTS: [&str; RESULT_COUNT] = ["ok", "error"];

/// The `kind` label of `key`'s upstream calls.
pub(crate) fn kind_of(key: &TokenKey) -> &'static str {
    match (key.kind(), key.authorizer_appid()) {
        (TokenKind::Ticket(_), _) => KINDS[1],
        (TokenKind::ComponentAccessToken, _) => KINDS[2],
        (_, Some(_)) => KINDS[3],
        _ => KINDS[0],
    }
}

thread_local! {
    /// Upstream calls made on this thread: a request handled on one thread
    /// that sees no change here was answered without calling upstream.
    static CALLS_HERE: Cell<u64> = const { Cell::new(0) };
}

/// How many upstream calls this thread has made; compare two readings
/// around a request to tell whether it called upstream.
pub(crate) fn upstream_calls_on_this_thread() -> u64 {
    CALLS_HERE.with(Cell::get)
}

/// `(kind, appid)` to `(WeChat day, upstream calls that day)`.
type CallsToday = std::collections::BTreeMap<(&'static str, String), (u64, u64)>;

/// The hub's own counters, shared by its handler, its wrapped source and
/// store, and the server that publishes them.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// By `KINDS` index, then `RESULTS` index.
    upstream: [[AtomicU64; RESULT_COUNT]; 4],
    refreshes_without_upstream: AtomicU64,
    store_errors: AtomicU64,
    /// Refreshes ahead of expiry, by `RESULTS` index.
    refreshes_ahead: [AtomicU64; RESULT_COUNT],
    /// `api_start_push_ticket` calls, by `RESULTS` index.
    start_push_tickets: [AtomicU64; RESULT_COUNT],
    /// Authorizer removals heard from the store (any replica's).
    removals_heard: AtomicU64,
    /// Times listening to the store failed.
    watch_errors: AtomicU64,
    /// The upstream calls counted in the store for the current WeChat
    /// day, as this replica last saw them: `(kind, appid)` to
    /// `(day, count)`.
    calls_today: parking_lot::Mutex<CallsToday>,
    /// The quotas this replica last saw used up (WeChat's 45009), by
    /// [`quota_of`]: a key of each, and until when (Unix seconds).
    quotas_exhausted: parking_lot::Mutex<std::collections::BTreeMap<String, (TokenKey, u64)>>,
    /// When (Unix seconds) and how the last store call failed.
    last_store_error: parking_lot::Mutex<Option<(u64, String)>>,
    /// The last upstream error per appid: when (Unix seconds) and what.
    last_errors: parking_lot::Mutex<std::collections::BTreeMap<String, (u64, String)>>,
}

/// Appids whose last upstream error is kept at most.
const MAX_LAST_ERRORS: usize = 256;

impl Counts {
    /// Counts one upstream call of `kind` (one of [`KINDS`]).
    pub fn upstream_call(&self, kind: &str, ok: bool) {
        CALLS_HERE.with(|n| n.set(n.get() + 1));
        let k = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
        self.upstream[k][usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// `(kind, result, count)` for every kind and result.
    #[cfg(any(feature = "hub", test))]
    pub fn upstream_calls(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut all = Vec::with_capacity(KINDS.len() * RESULTS.len());
        for (k, kind) in KINDS.iter().enumerate() {
            for (r, result) in RESULTS.iter().enumerate() {
                all.push((*kind, *result, self.upstream[k][r].load(Ordering::Relaxed)));
            }
        }
        all
    }

    pub fn refresh_without_upstream(&self) {
        self.refreshes_without_upstream
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Refresh requests answered with a current token and no upstream
    /// call of their own (compare-and-swap).
    #[cfg(any(feature = "hub", test))]
    pub fn refreshes_without_upstream(&self) -> u64 {
        self.refreshes_without_upstream.load(Ordering::Relaxed)
    }

    /// Records the store's count `n` of `kind` calls for `appid` on `day`.
    pub fn calls_today(&self, kind: &'static str, appid: &str, day: u64, n: u64) {
        let mut all = self.calls_today.lock();
        // Only the newest day is kept: yesterday's counts are dropped.
        all.retain(|_, (d, _)| *d >= day);
        all.insert((kind, appid.to_string()), (day, n));
    }

    /// `(kind, appid, count)` of the newest WeChat day seen.
    #[cfg(feature = "hub")]
    pub fn upstream_calls_today(&self) -> Vec<(&'static str, String, u64)> {
        let all = self.calls_today.lock();
        let newest = all.values().map(|(d, _)| *d).max().unwrap_or(0);
        all.iter()
            .filter(|(_, (d, _))| *d == newest)
            .map(|((kind, appid), (_, n))| (*kind, appid.clone(), *n))
            .collect()
    }

    /// Records that `key`'s quota is used up until `until` (Unix
    /// seconds), or, with `None`, that it is not.
    pub fn quota_exhausted(&self, key: &TokenKey, until: Option<u64>) {
        let mut all = self.quotas_exhausted.lock();
        match until {
            Some(until) => {
                all.insert(quota_of(key), (key.clone(), until));
            }
            None => {
                all.remove(&quota_of(key));
            }
        }
    }

    /// Records that every quota of `appid`'s was cleared.
    pub fn quota_cleared(&self, appid: &str) {
        self.quotas_exhausted
            .lock()
            .retain(|_, (key, _)| key.appid() != appid);
    }

    /// A key of each quota used up at `now`, as this replica last saw
    /// them, and until when.
    pub fn quotas_exhausted(&self, now: u64) -> Vec<(TokenKey, u64)> {
        let mut all = self.quotas_exhausted.lock();
        // Those whose day ended are dropped.
        all.retain(|_, (_, until)| *until > now);
        all.values().cloned().collect()
    }

    /// Records `message`, an upstream call's error for `appid` at `at`.
    pub fn upstream_error(&self, appid: &str, at: u64, message: String) {
        let mut all = self.last_errors.lock();
        if all.len() >= MAX_LAST_ERRORS && !all.contains_key(appid) {
            // The oldest one makes room.
            if let Some(oldest) = all
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(a, _)| a.clone())
            {
                all.remove(&oldest);
            }
        }
        all.insert(appid.to_string(), (at, message));
    }

    /// `(appid, at, message)` of each appid's last upstream error.
    pub fn last_errors(&self) -> Vec<(String, u64, String)> {
        self.last_errors
            .lock()
            .iter()
            .map(|(appid, (at, message))| (appid.clone(), *at, message.clone()))
            .collect()
    }

    /// Counts one refresh ahead of expiry that succeeded or failed.
    pub fn refresh_ahead(&self, ok: bool) {
        self.refreshes_ahead[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// Refreshes ahead of expiry: `(succeeded, failed)`.
    #[cfg(feature = "hub")]
    pub fn refreshes_ahead(&self) -> (u64, u64) {
        let [ok, error] = &self.refreshes_ahead;
        (ok.load(Ordering::Relaxed), error.load(Ordering::Relaxed))
    }

    /// Counts one `api_start_push_ticket` call that succeeded or failed.
    pub fn start_push_ticket(&self, ok: bool) {
        self.start_push_tickets[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// `api_start_push_ticket` calls: `(succeeded, failed)`.
    #[cfg(any(feature = "hub", test))]
    pub fn start_push_tickets(&self) -> (u64, u64) {
        let [ok, error] = &self.start_push_tickets;
        (ok.load(Ordering::Relaxed), error.load(Ordering::Relaxed))
    }

    /// Counts one authorizer removal heard from the store.
    pub fn removal_heard(&self) {
        self.removals_heard.fetch_add(1, Ordering::Relaxed);
    }

    /// Authorizer removals heard from the store.
    #[cfg(feature = "hub")]
    pub fn removals_heard(&self) -> u64 {
        self.removals_heard.load(Ordering::Relaxed)
    }

    /// Counts one failure to listen to the store.
    pub fn watch_error(&self) {
        self.watch_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Failures to listen to the store.
    #[cfg(feature = "hub")]
    pub fn watch_errors(&self) -> u64 {
        self.watch_errors.load(Ordering::Relaxed)
    }

    /// Store calls that failed.
    #[cfg(any(feature = "hub", test))]
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }

    /// Counts one failed store call, at `at` (Unix seconds), with its
    /// error's text: the last is kept for the status page.
    fn store_error(&self, at: u64, message: String) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_store_error.lock() = Some((at, message));
    }

    /// Failed store calls, and when and how the last one failed.
    pub fn store_health(&self) -> (u64, Option<(u64, String)>) {
        let last = self.last_store_error.lock().clone();
        (self.store_errors.load(Ordering::Relaxed), last)
    }
}

/// The hub's store, counting its failures.
pub(crate) struct CountedStore {
    pub inner: Arc<dyn Store>,
    pub counts: Arc<Counts>,
    /// The hub's: when the last failure happened.
    pub clock: Clock,
}

impl CountedStore {
    fn seen<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.counts
                .store_error(self.clock.unix_secs(), e.to_string());
        }
        result
    }
}

impl Store for CountedStore {
    fn get_token(&self, key: &TokenKey) -> Result<Option<Token>> {
        self.seen(self.inner.get_token(key))
    }

    fn put_token(&self, key: &TokenKey, token: &Token) -> Result<()> {
        self.seen(self.inner.put_token(key, token))
    }

    fn put_token_fenced(&self, key: &TokenKey, token: &Token, fence: u64) -> Result<bool> {
        self.seen(self.inner.put_token_fenced(key, token, fence))
    }

    fn get_verify_ticket(&self, component_appid: &str) -> Result<Option<Secret>> {
        self.seen(self.inner.get_verify_ticket(component_appid))
    }

    fn put_verify_ticket(&self, component_appid: &str, ticket: &Secret) -> Result<()> {
        self.seen(self.inner.put_verify_ticket(component_appid, ticket))
    }

    fn get_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
    ) -> Result<Option<Secret>> {
        self.seen(
            self.inner
                .get_refresh_token(component_appid, authorizer_appid),
        )
    }

    fn put_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<()> {
        self.seen(
            self.inner
                .put_refresh_token(component_appid, authorizer_appid, refresh_token),
        )
    }

    fn remove_authorizer(&self, component_appid: &str, authorizer_appid: &str) -> Result<()> {
        self.seen(
            self.inner
                .remove_authorizer(component_appid, authorizer_appid),
        )
    }

    fn lock(&self, key: &TokenKey, ttl: Duration) -> Result<Option<LockGuard<'_>>> {
        self.seen(self.inner.lock(key, ttl))
    }

    fn get_refresh_schedule(&self, key: &TokenKey) -> Result<Option<u64>> {
        self.seen(self.inner.get_refresh_schedule(key))
    }

    fn put_refresh_schedule(&self, key: &TokenKey, schedule: u64) -> Result<()> {
        self.seen(self.inner.put_refresh_schedule(key, schedule))
    }

    fn verify_ticket_received_at(&self, component_appid: &str) -> Result<Option<u64>> {
        self.seen(self.inner.verify_ticket_received_at(component_appid))
    }

    fn put_newer_verify_ticket(
        &self,
        component_appid: &str,
        ticket: &Secret,
        create_time: u64,
    ) -> Result<bool> {
        self.seen(
            self.inner
                .put_newer_verify_ticket(component_appid, ticket, create_time),
        )
    }

    fn increment(&self, name: &str, ttl: Duration) -> Result<u64> {
        self.seen(self.inner.increment(name, ttl))
    }

    fn counter(&self, name: &str) -> Result<u64> {
        self.seen(self.inner.counter(name))
    }

    fn replace_refresh_token(
        &self,
        component_appid: &str,
        authorizer_appid: &str,
        refresh_token: &Secret,
    ) -> Result<bool> {
        self.seen(self.inner.replace_refresh_token(
            component_appid,
            authorizer_appid,
            refresh_token,
        ))
    }

    fn put_served(&self, key: &TokenKey, at: u64) -> Result<()> {
        self.seen(self.inner.put_served(key, at))
    }

    fn served_keys(&self, since: u64) -> Result<Vec<(TokenKey, u64)>> {
        self.seen(self.inner.served_keys(since))
    }

    fn forget_served(&self, keys: &[TokenKey]) -> Result<()> {
        self.seen(self.inner.forget_served(keys))
    }

    fn watch(&self, listener: StoreListener) -> Result<Option<Watch>> {
        self.seen(self.inner.watch(listener))
    }

    fn kind(&self) -> &str {
        self.inner.kind()
    }

    fn replicas(&self) -> Result<Option<u64>> {
        self.seen(self.inner.replicas())
    }

    fn topology(&self) -> Option<StoreTopology> {
        self.inner.topology()
    }
}

impl fmt::Debug for CountedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::TicketType;

    #[test]
    fn kinds_name_the_credential() {
        let ticket = TokenKey::ticket("wxc", TicketType::Jsapi);
        assert_eq!(kind_of(&TokenKey::access_token("wx1")), "token");
        assert_eq!(kind_of(&ticket), "ticket");
        assert_eq!(kind_of(&ticket.for_authorizer("wxa")), "ticket");
        assert_eq!(
            kind_of(&TokenKey::component_access_token("wxc")),
            "component"
        );
        assert_eq!(
            kind_of(&TokenKey::access_token("wxc").for_authorizer("wxa")),
            "authorizer"
        );
    }

    #[test]
    fn calls_are_counted_by_kind_result_and_thread() {
        let counts = Counts::default();
        let before = upstream_calls_on_this_thread();
        counts.upstream_call("ticket", true);
        counts.upstream_call("ticket", false);
        counts.upstream_call("authorizer", false);
        assert_eq!(upstream_calls_on_this_thread(), before + 3);
        let other = std::thread::spawn(upstream_calls_on_this_thread)
            .join()
            .unwrap();
        assert_eq!(other, 0);
        let nonzero: Vec<_> = counts
            .upstream_calls()
            .into_iter()
            .filter(|(_, _, n)| *n > 0)
            .collect();
        counts.refresh_without_upstream();
        assert_eq!(counts.refreshes_without_upstream(), 1);
        assert_eq!(
            nonzero,
            vec![
                ("ticket", "ok", 1),
                ("ticket", "error", 1),
                ("authorizer", "error", 1)
            ]
        );
    }

    #[test]
    fn store_failures_are_counted() {
        let counts = Arc::new(Counts::default());
        let clock = crate::ManualClock::new(Duration::from_secs(1_700_000_000));
        let store = CountedStore {
            inner: Arc::new(MemoryStore::new()),
            counts: counts.clone(),
            clock: clock.clock(),
        };
        let key = TokenKey::access_token("wx1");
        store.put_token(&key, &Token::new("T", 7200)).unwrap();
        assert_eq!(store.get_token(&key).unwrap().unwrap().expose(), "T");
        assert_eq!(counts.store_health(), (0, None));
        assert!(store
            .seen::<()>(Err(crate::store::store_error("down")))
            .is_err());
        assert_eq!(counts.store_errors(), 1);
        let (n, last) = counts.store_health();
        let (at, message) = last.unwrap();
        assert_eq!((n, at), (1, 1_700_000_000));
        assert!(message.contains("down"), "{message}");
    }
}
