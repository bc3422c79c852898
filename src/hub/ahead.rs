//! Refresh ahead: every token and ticket a hub has served is replaced
//! before it stops being handed out as fresh (its cut-off), by whichever
//! replica takes the store's lock first, so that no client read waits on
//! WeChat for a token the hub has seen before.
//!
//! A key is due early enough that its refresh lands before the cut-off
//! even if WeChat takes the whole request timeout, twice: the first try
//! and one retry, each allowed the timeout and a little slack (the
//! [`lead`]). Within the window of one margin (see
//! `EXPIRY_MARGIN_SECS` in `store/source.rs`)
//! that ends there, its moment is spread by a jitter fixed by the key and
//! the token's timestamp, so that every replica computes the same moment
//! and 1,000 authorizers fetched in the same second are refreshed over the
//! whole window. Clients keep getting the current token meanwhile, past
//! the cut-off too while a refresh is under way (see
//! [`StoreSource`]'s fetch): it stays valid until the new one is stored.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};

use super::builder::DEFAULT_TIMEOUT;
use super::door::post_json;
use super::metrics::{upstream_calls_on_this_thread, Counts};
use crate::clock::{millis, Clock};
use crate::error::Result;
use crate::secret::Secret;
use crate::store::{authorizer_keys, Store, VERIFY_TICKET_LIFE};
use crate::store::{cutoff, StoreSource};
use crate::store::{StoreEvent, StoreListener};
use crate::token::Context;
use crate::token::{Token, TokenKey, Tokens};

/// The first retry after a failed refresh ahead; each further failure in a
/// row doubles it, up to [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// The longest wait between two tries of a failing refresh ahead.
const BACKOFF_CAP: Duration = Duration::from_secs(60);

/// WeChat pushes a verify ticket every 10 minutes: none for this long
/// means the pushes stopped, and the hub asks WeChat to resume them.
const TICKET_STALE: Duration = Duration::from_secs(20 * 60);

/// Tries of `api_start_push_ticket` per staleness window at most: the
/// first and its retries, [`backoff_after`] apart (about two minutes in all).
const START_PUSH_TRIES: u32 = 8;

/// A key no replica served for this long is no longer refreshed ahead:
/// a week covers an account used once a week, and an idle key costs only
/// 12 upstream calls a day.
pub(crate) const SERVED_FOR: Duration = Duration::from_secs(7 * 86_400);

/// How often a replica writes again that it served a key: last-served
/// times need only be good to [`SERVED_FOR`], not to the request.
const SERVED_TOUCH: Duration = Duration::from_secs(3600);

/// How often a replica reads the keys all replicas served (each refreshes
/// them ahead; the store's lock lets one do it).
const SERVED_RELOAD: Duration = Duration::from_secs(60);

/// The wait after `failures` failures in a row: [`BACKOFF_BASE`] doubled
/// for each failure after the first, at most [`BACKOFF_CAP`].
fn backoff_after(failures: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1 << failures.clamp(1, 16).saturating_sub(1))
        .min(BACKOFF_CAP)
}

/// Tries of a refresh ahead that land before the cut-off: the first, and
/// one retry after [`BACKOFF_BASE`].
const TRIES_BEFORE_CUTOFF: u32 = 2;

/// What each try is allowed beyond the upstream timeout: the refresh
/// thread's tick (a second by default), the backoff before the retry and
/// the store's round trips.
const TRY_SLACK: Duration = Duration::from_secs(2);

/// How long before its cut-off a key is due at the latest (seconds), for
/// an upstream `timeout` per call: [`TRIES_BEFORE_CUTOFF`] tries of the
/// timeout and [`TRY_SLACK`] each. 24 s with the default 10 s timeout.
pub(crate) fn lead(timeout: Duration) -> u64 {
    timeout
        .saturating_add(TRY_SLACK)
        .saturating_mul(TRIES_BEFORE_CUTOFF)
        .as_secs()
}

/// When the refresh of `token`, stored under `key`, is due (Unix
/// seconds): at least `lead` seconds before the store stops handing it
/// out as fresh, within one margin's window, at a point fixed by the key
/// and the token's timestamp. Never in the first half of the time it is
/// fresh: a lifetime too short for the lead is replaced at mid-life, not
/// as soon as it is stored.
pub(crate) fn due_at(key: &TokenKey, token: &Token, lead: u64) -> u64 {
    let cutoff = cutoff(token);
    let margin = token.expires_at() - cutoff;
    let earliest = token.timestamp() + cutoff.saturating_sub(token.timestamp()) / 2;
    let end = cutoff.saturating_sub(lead).max(earliest);
    let start = end.saturating_sub(margin).max(earliest);
    if start == end {
        return start;
    }
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    token.timestamp().hash(&mut hasher);
    start + hasher.finish() % (end - start)
}

/// What one pass over the served keys did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pass {
    /// Keys whose token this replica replaced by calling upstream (not
    /// those it found replaced by another replica under the lock).
    pub refreshed: usize,
    /// Keys whose refresh failed (each waits out its backoff).
    pub failed: usize,
}

/// A failing key's state: failures in a row, and when to try again.
#[derive(Clone, Copy, Debug, Default)]
struct Backoff {
    failures: u32,
    not_before_ms: u64,
}

/// A served key: its backoff, and when this replica last wrote to the
/// store that it was served (Unix seconds; 0 for never). The stamp is an
/// atomic read under the map's shared lock, so that a cache hit asks
/// whether that write is due without excluding other hits.
#[derive(Debug, Default)]
struct Served {
    backoff: Backoff,
    written: AtomicU64,
}

impl Served {
    fn written_at(written: u64) -> Served {
        Served {
            written: AtomicU64::new(written),
            ..Served::default()
        }
    }

    /// Whether writing that the key was served is due at `now`.
    // Only the hub server answers hits without I/O (`handle_at_once`).
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    fn due(&self, now: u64) -> bool {
        self.written.load(Ordering::Relaxed) + SERVED_TOUCH.as_secs() <= now
    }

    /// Whether this caller is to write at `now`: it is due, and no other
    /// caller took the write first.
    fn claim(&self, now: u64) -> bool {
        let written = self.written.load(Ordering::Relaxed);
        written + SERVED_TOUCH.as_secs() <= now
            && self
                .written
                .compare_exchange(written, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A platform's asking WeChat to resume ticket pushes in one staleness
/// window: which (the last ticket's arrival, the window's number), the
/// tries that failed, and when to try again.
#[derive(Clone, Copy, Debug)]
struct StartPush {
    window: (u64, u64),
    backoff: Backoff,
}

/// The keys a hub has served and refreshes ahead.
pub(crate) struct Ahead {
    pub source: Arc<StoreSource>,
    pub tokens: Tokens,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub counts: Arc<Counts>,
    /// Read (shared) on every request; written when a key is first
    /// served, dropped, or its refresh ahead ends.
    keys: RwLock<HashMap<TokenKey, Served>>,
    /// The appids served (`None` over a custom source): served keys of
    /// others, read from the store, are forgotten there.
    appids: Option<Vec<String>>,
    /// When the served keys are read from the store next (Unix seconds).
    reload_at: Mutex<u64>,
    /// The third-party platforms served, with their secrets: their verify
    /// tickets are watched.
    components: Vec<(String, Secret)>,
    /// Per platform, the ask to resume ticket pushes this replica made in
    /// the current staleness window and retries while it fails.
    start_pushes: Mutex<HashMap<String, StartPush>>,
    /// When this hub started (Unix seconds): a platform with no ticket at
    /// all is stale 20 minutes after it.
    started: u64,
    /// How long before its cut-off a key is due at the latest ([`lead`]).
    lead: u64,
}

impl Ahead {
    pub fn new(
        source: Arc<StoreSource>,
        tokens: Tokens,
        store: Arc<dyn Store>,
        clock: Clock,
        counts: Arc<Counts>,
        components: Vec<(String, Secret)>,
        appids: Option<Vec<String>>,
    ) -> Ahead {
        Ahead {
            source,
            tokens,
            store,
            started: clock.unix_secs(),
            clock,
            counts,
            keys: RwLock::new(HashMap::new()),
            appids,
            reload_at: Mutex::new(0),
            components,
            start_pushes: Mutex::new(HashMap::new()),
            lead: lead(DEFAULT_TIMEOUT),
        }
    }

    /// Schedules refreshes for an upstream `timeout` per call (see
    /// [`lead`]).
    pub fn upstream_timeout(mut self, timeout: Duration) -> Ahead {
        self.lead = lead(timeout);
        self
    }

    /// When the refresh of `token`, stored under `key`, is due (Unix
    /// seconds; see [`due_at`]).
    pub fn due_at(&self, key: &TokenKey, token: &Token) -> u64 {
        due_at(key, token, self.lead)
    }

    /// For each platform whose last verify ticket arrived more than 20
    /// minutes ago (or, with none, 20 minutes after this hub started),
    /// asks WeChat to resume pushing them
    /// (`/cgi-bin/component/api_start_push_ticket`): once per 20 minutes
    /// of staleness, across replicas (the window is claimed in the store,
    /// named by the last ticket's arrival time and the window's number).
    /// A failed ask is logged, counted, and tried again by the replica
    /// that claimed the window after a backoff doubling from 1 s, at most
    /// [`START_PUSH_TRIES`] times in all. The component token is still
    /// served while it is valid. Returns the asks made.
    pub fn resume_ticket_pushes(&self) -> usize {
        let now = self.clock.unix_secs();
        let now_ms = self.clock.unix_millis();
        let stale = TICKET_STALE.as_secs();
        let mut asked = 0;
        for (appid, secret) in &self.components {
            let Ok(received) = self.store.verify_ticket_received_at(appid) else {
                continue;
            };
            let since = received.unwrap_or(self.started);
            if now < since + stale {
                self.start_pushes.lock().remove(appid);
                continue;
            }
            let window = (received.unwrap_or(0), (now - since) / stale);
            let held = self
                .start_pushes
                .lock()
                .get(appid)
                .copied()
                .filter(|p| p.window == window);
            let backoff = match held {
                // Done, or given up, in this window.
                Some(p) if p.backoff.failures == 0 || p.backoff.failures >= START_PUSH_TRIES => {
                    continue
                }
                Some(p) if now_ms < p.backoff.not_before_ms => continue,
                Some(p) => p.backoff,
                None => {
                    let name = format!("start_push:{appid}:{}:{}", window.0, window.1);
                    if self.store.increment(&name, VERIFY_TICKET_LIFE).ok() != Some(1) {
                        continue;
                    }
                    Backoff::default()
                }
            };
            asked += 1;
            let result = start_push_ticket(&self.tokens.context(), appid, secret);
            self.counts.start_push_ticket(result.is_ok());
            let minutes = (now - since) / 60;
            let backoff = match result {
                Ok(()) => {
                    log::warn!(
                        "wechat hub: no component_verify_ticket for {appid} in {minutes} minutes: \
                         asked WeChat to resume pushing them (api_start_push_ticket)"
                    );
                    Backoff::default()
                }
                Err(e) => {
                    let message = format!("api_start_push_ticket: {e}");
                    self.counts.upstream_error(appid, now, message);
                    let failures = backoff.failures + 1;
                    let wait = backoff_after(failures);
                    if failures < START_PUSH_TRIES {
                        log::warn!(
                            "wechat hub: no component_verify_ticket for {appid} in {minutes} minutes, \
                             and asking WeChat to resume pushing them failed ({failures} in a row), \
                             next try in {}s: {e}",
                            wait.as_secs()
                        );
                    } else {
                        log::error!(
                            "wechat hub: no component_verify_ticket for {appid} in {minutes} minutes, \
                             and asking WeChat to resume pushing them failed {failures} times; \
                             asking again in {} minutes: {e}",
                            stale / 60
                        );
                    }
                    Backoff {
                        failures,
                        not_before_ms: now_ms.saturating_add(millis(wait)),
                    }
                }
            };
            self.start_pushes
                .lock()
                .insert(appid.clone(), StartPush { window, backoff });
        }
        asked
    }

    /// Remembers that `key` was served: it is refreshed ahead from now on,
    /// by every replica sharing the store, and by hubs started later, until
    /// no replica served it for [`SERVED_FOR`]. Written to the store when
    /// first served and then at most once per [`SERVED_TOUCH`].
    pub fn served(&self, key: &TokenKey) {
        let now = self.clock.unix_secs();
        // A key served before (nearly every call) is looked up under the
        // shared lock, and not cloned.
        let known = self.keys.read().get(key).map(|served| served.claim(now));
        let claimed = known.unwrap_or_else(|| match self.keys.write().entry(key.clone()) {
            Entry::Occupied(served) => served.get().claim(now),
            Entry::Vacant(slot) => {
                slot.insert(Served::written_at(now));
                true
            }
        });
        if !claimed {
            return;
        }
        // Counted as a store error; written again when next served.
        if self.store.put_served(key, now).is_err() {
            if let Some(served) = self.keys.read().get(key) {
                served.written.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Whether [`served`](Ahead::served) would write to the store for
    /// `key` now (never served here, or not written for
    /// [`SERVED_TOUCH`]): a cache hit answered without I/O leaves that
    /// write to a request that may block.
    #[cfg_attr(not(feature = "hub"), allow(dead_code))]
    pub fn touch_due(&self, key: &TokenKey) -> bool {
        let now = self.clock.unix_secs();
        self.keys
            .read()
            .get(key)
            .is_none_or(|served| served.due(now))
    }

    /// Stops refreshing every key of `authorizer_appid` under
    /// `component_appid` (it revoked its authorization).
    pub fn stop_authorizer(&self, component_appid: &str, authorizer_appid: &str) {
        self.keys.write().retain(|key, _| {
            key.appid() != component_appid || key.authorizer_appid() != Some(authorizer_appid)
        });
    }

    /// Forgets an authorizer that any replica removed (it revoked): its
    /// tokens leave this replica's cache at once, and are no longer
    /// refreshed ahead.
    pub fn evict_authorizer(&self, component_appid: &str, authorizer_appid: &str) {
        self.stop_authorizer(component_appid, authorizer_appid);
        for key in authorizer_keys(component_appid, authorizer_appid) {
            self.tokens.forget(&key);
        }
        self.counts.removal_heard();
    }

    /// Reads the keys every replica served from the store, at the first
    /// pass and then every [`SERVED_RELOAD`]: those of appids this hub
    /// does not serve (removed from its configuration) are forgotten there.
    fn reload_served(&self) {
        let now = self.clock.unix_secs();
        {
            let mut reload_at = self.reload_at.lock();
            if now < *reload_at {
                return;
            }
            *reload_at = now + SERVED_RELOAD.as_secs();
        }
        // Counted as a store error; read again at the next reload.
        let Ok(served) = self
            .store
            .served_keys(now.saturating_sub(SERVED_FOR.as_secs()))
        else {
            return;
        };
        let (mine, others): (Vec<_>, Vec<_>) =
            served.into_iter().partition(|(key, _)| self.serves(key));
        if !others.is_empty() {
            let others: Vec<TokenKey> = others.into_iter().map(|(key, _)| key).collect();
            let _ = self.store.forget_served(&others);
        }
        let mut keys = self.keys.write();
        for (key, at) in mine {
            keys.entry(key)
                .or_default()
                .written
                .fetch_max(at, Ordering::Relaxed);
        }
    }

    /// Whether `key` is of an appid this hub serves (any, over a custom
    /// source).
    pub fn serves(&self, key: &TokenKey) -> bool {
        self.appids
            .as_ref()
            .is_none_or(|appids| appids.iter().any(|a| a == key.appid()))
    }

    /// The keys refreshed ahead.
    pub fn served_keys(&self) -> Vec<TokenKey> {
        self.keys.read().keys().cloned().collect()
    }

    /// How many keys are refreshed ahead.
    pub fn len(&self) -> usize {
        self.keys.read().len()
    }

    /// One pass: every served key whose refresh is due (and whose backoff
    /// is over) is refreshed, if this replica gets its lock. A key the
    /// store no longer has (an authorizer that revoked, through any
    /// replica; a token that expired) is dropped: it is fetched again, and
    /// served again, only if a client asks for it.
    pub fn run_once(&self) -> Pass {
        self.reload_served();
        let keys: Vec<(TokenKey, Backoff)> = self
            .keys
            .read()
            .iter()
            .map(|(k, s)| (k.clone(), s.backoff))
            .collect();
        let mut pass = Pass::default();
        for (key, backoff) in keys {
            let now_ms = self.clock.unix_millis();
            if now_ms < backoff.not_before_ms {
                continue;
            }
            let current = match self.store.get_token(&key) {
                Ok(Some(token)) => token,
                Ok(None) => {
                    self.keys.write().remove(&key);
                    continue;
                }
                // Counted as a store error; tried again next pass.
                Err(_) => continue,
            };
            if now_ms < self.due_at(&key, &current).saturating_mul(1000) {
                continue;
            }
            let calls = upstream_calls_on_this_thread();
            match self
                .source
                .refresh_ahead(&key, &current, &self.tokens.context())
            {
                Ok(None) => {}
                Ok(Some(_)) => {
                    // The whole refresh ran on this thread: no call here
                    // means another replica had replaced the token.
                    if upstream_calls_on_this_thread() != calls {
                        pass.refreshed += 1;
                        self.counts.refresh_ahead(true);
                    }
                    self.set_backoff(&key, Backoff::default());
                }
                Err(e) => {
                    pass.failed += 1;
                    self.counts.refresh_ahead(false);
                    let failures = backoff.failures.saturating_add(1);
                    let wait = backoff_after(failures);
                    log::warn!(
                        "wechat hub: refreshing {key:?} ahead failed ({failures} in a row), \
                         next try in {}s: {e}",
                        wait.as_secs()
                    );
                    let not_before_ms = now_ms.saturating_add(millis(wait));
                    self.set_backoff(
                        &key,
                        Backoff {
                            failures,
                            not_before_ms,
                        },
                    );
                }
            }
        }
        pass
    }

    /// Records `backoff` for `key` if it is still served.
    fn set_backoff(&self, key: &TokenKey, backoff: Backoff) {
        if let Some(served) = self.keys.write().get_mut(key) {
            served.backoff = backoff;
        }
    }
}

impl fmt::Debug for Ahead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ahead")
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// What a hub does with what the store tells it (see [`Store::watch`]):
/// an authorizer removed by any replica leaves this one's cache and
/// refresh-ahead set at once; a lost subscription is logged and counted
/// (meanwhile the cache's read-through bound, `max_staleness`, still
/// bounds how long a removed authorizer's token is served).
pub(crate) fn listener(ahead: &Arc<Ahead>) -> StoreListener {
    let ahead = Arc::downgrade(ahead);
    Arc::new(move |event: &StoreEvent<'_>| {
        let Some(ahead) = ahead.upgrade() else {
            return;
        };
        match event {
            StoreEvent::AuthorizerRemoved {
                component_appid,
                authorizer_appid,
            } => ahead.evict_authorizer(component_appid, authorizer_appid),
            StoreEvent::Lost(e) => {
                ahead.counts.watch_error();
                log::warn!(
                    "wechat hub: not hearing other replicas' authorizer removals (retrying); \
                     meanwhile this replica notices them within its max_staleness: {e}"
                );
            }
            StoreEvent::Listening => {
                log::debug!("wechat hub: hearing other replicas' authorizer removals");
            }
        }
    })
}

/// Asks WeChat to resume pushing `component_appid`'s verify tickets.
fn start_push_ticket(cx: &Context<'_>, component_appid: &str, secret: &Secret) -> Result<()> {
    let body = serde_json::json!({
        "component_appid": component_appid,
        "component_secret": secret.expose(),
    });
    post_json(cx, "/cgi-bin/component/api_start_push_ticket", &body)
}

/// The thread that runs [`Ahead::run_once`] every `tick` until dropped.
pub(crate) struct AheadThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AheadThread {
    pub fn start(ahead: Arc<Ahead>, tick: Duration) -> std::io::Result<AheadThread> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wechat-hub-ahead".into())
            .spawn(move || {
                let (stopped, wake) = &*flag;
                loop {
                    let mut stopped = stopped.lock();
                    if !*stopped {
                        wake.wait_for(&mut stopped, tick);
                    }
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    ahead.run_once();
                    ahead.resume_ticket_pushes();
                }
            })?;
        Ok(AheadThread {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AheadThread {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_due_two_timeouts_before_its_token_stops_being_served() {
        let default = lead(Duration::from_secs(10));
        assert_eq!(default, 24, "two tries of 10 s, and 2 s of slack each");
        let token = Token::with_timestamp("T", 1_000, 7_200);
        let key = TokenKey::access_token("wx1");
        let due = due_at(&key, &token, default);
        // Served as fresh until 1000 + 7200 - 300; due in the 300 s that
        // end 24 s before that.
        let cutoff = 1_000 + 7_200 - 300;
        assert!((cutoff - 24 - 300..cutoff - 24).contains(&due), "{due}");
        assert_eq!(
            due,
            due_at(&key, &token, default),
            "every replica computes the same"
        );
        // 60 s: fresh until 1054; 1054 - 24 = 1030, in a window of 6 s,
        // but never before mid-life (1027).
        let short = Token::with_timestamp("T", 1_000, 60);
        assert!((1_027..1_030).contains(&due_at(&key, &short, default)));
        let quick = due_at(&key, &short, lead(Duration::from_secs(3)));
        assert!((1_038..1_044).contains(&quick), "{quick}");
        let tiny = Token::with_timestamp("T", 1_000, 5);
        assert_eq!(due_at(&key, &tiny, default), 1_002, "mid-life");
    }

    #[cfg(feature = "testing")]
    #[test]
    fn start_push_ticket_calls_are_counted_by_result() {
        let fake = crate::testing::FakeWechat::start().unwrap();
        fake.register_component("wxc", "cs");
        fake.fail_next("/cgi-bin/component/api_start_push_ticket", -1, "busy", 1);
        let clock = crate::ManualClock::starting_now();
        let hub = crate::hub::HubHandler::builder()
            .component("wxc", "cs")
            .upstream(fake.url())
            .clock(clock.clock())
            .refresh_ahead(None)
            .build()
            .unwrap();
        clock.advance(TICKET_STALE);
        assert_eq!(hub.resume_ticket_pushes(), 1);
        assert_eq!(hub.counts.start_push_tickets(), (0, 1));
        clock.advance(BACKOFF_BASE);
        assert_eq!(hub.resume_ticket_pushes(), 1);
        assert_eq!(hub.counts.start_push_tickets(), (1, 1));
    }

    #[test]
    fn one_caller_writes_a_served_key_once_per_touch() {
        let touch = SERVED_TOUCH.as_secs();
        let never = Served::default();
        assert!(
            never.due(1_000_000) && never.claim(1_000_000),
            "never written"
        );
        assert!(!never.due(1_000_000) && !never.claim(1_000_000), "taken");
        assert!(!never.claim(1_000_000 + touch - 1));
        assert!(never.due(1_000_000 + touch));
        let callers = 8;
        let barrier = std::sync::Barrier::new(callers);
        let won: usize = std::thread::scope(|s| {
            let calls: Vec<_> = (0..callers)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        usize::from(never.claim(1_000_000 + touch))
                    })
                })
                .collect();
            calls.into_iter().map(|c| c.join().unwrap()).sum()
        });
        assert_eq!(won, 1, "one write per touch, however many hits ask");
    }

    #[test]
    fn backoff_doubles_from_one_second_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff_after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff_after(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn a_thousand_authorizers_fetched_together_are_spread_over_the_window() {
        let token = Token::with_timestamp("T", 1_000, 7_200);
        let mut per_second: HashMap<u64, usize> = HashMap::new();
        for i in 0..1_000 {
            let key = TokenKey::access_token("wxc").for_authorizer(&format!("wxa{i}"));
            *per_second.entry(due_at(&key, &token, 24)).or_default() += 1;
        }
        // 1,000 over 300 seconds: about 3.3 a second.
        let busiest = per_second.values().max().copied().unwrap();
        assert!(busiest <= 12, "{busiest} due in one second");
        assert!(
            per_second.len() >= 250,
            "only {} distinct seconds",
            per_second.len()
        );
    }
}
