//! Refresh ahead: every token and ticket a hub has served is replaced
//! before it stops being handed out, by whichever replica takes the
//! store's lock first, so that no client read waits on WeChat for a token
//! the hub has seen before.
//!
//! A key is due in the margin window before the point where the store
//! stops handing its token out (see [`EXPIRY_MARGIN_SECS`]): from
//! `expires_at - 2 * margin`, plus a jitter spread evenly over one margin
//! and fixed by the key and the token's timestamp, so that every replica
//! computes the same moment and 1,000 authorizers fetched in the same
//! second are refreshed over the whole window. Clients keep getting the
//! current token meanwhile; it stays valid until the new one is stored.

use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::door::post_json;
use super::metrics::{upstream_calls_on_this_thread, Counts};
use super::source::{StoreSource, EXPIRY_MARGIN_SECS};
use super::store::{Store, VERIFY_TICKET_LIFE};
use crate::clock::Clock;
use crate::error::Result;
use crate::secret::Secret;
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

/// When the refresh of `token`, stored under `key`, is due (Unix
/// seconds): within the margin window before the store stops handing it
/// out, at a point fixed by the key and the token's timestamp.
pub(crate) fn due_at(key: &TokenKey, token: &Token) -> u64 {
    let margin = (token.expires_in() / 10).min(EXPIRY_MARGIN_SECS);
    let window_start = token.expires_at().saturating_sub(2 * margin);
    if margin == 0 {
        return window_start;
    }
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    token.timestamp().hash(&mut hasher);
    window_start + hasher.finish() % margin
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

/// The keys a hub has served and refreshes ahead.
pub(crate) struct Ahead {
    pub source: Arc<StoreSource>,
    pub tokens: Tokens,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub counts: Arc<Counts>,
    keys: Mutex<HashMap<TokenKey, Backoff>>,
    /// The third-party platforms served, with their secrets: their verify
    /// tickets are watched.
    components: Vec<(String, Secret)>,
    /// When this hub started (Unix seconds): a platform with no ticket at
    /// all is stale 20 minutes after it.
    started: u64,
}

impl Ahead {
    pub fn new(
        source: Arc<StoreSource>,
        tokens: Tokens,
        store: Arc<dyn Store>,
        clock: Clock,
        counts: Arc<Counts>,
        components: Vec<(String, Secret)>,
    ) -> Ahead {
        Ahead {
            source,
            tokens,
            store,
            started: clock.unix_secs(),
            clock,
            counts,
            keys: Mutex::new(HashMap::new()),
            components,
        }
    }

    /// For each platform whose last verify ticket arrived more than 20
    /// minutes ago (or, with none, 20 minutes after this hub started),
    /// asks WeChat once to resume pushing them
    /// (`/cgi-bin/component/api_start_push_ticket`). Once per staleness,
    /// across replicas: the ask is named in the store by the last
    /// ticket's arrival time. The component token is still served while
    /// it is valid.
    pub fn resume_ticket_pushes(&self) -> usize {
        let now = self.clock.unix_secs();
        let mut asked = 0;
        for (appid, secret) in &self.components {
            let Ok(received) = self.store.verify_ticket_received_at(appid) else {
                continue;
            };
            if now < received.unwrap_or(self.started) + TICKET_STALE.as_secs() {
                continue;
            }
            let episode = format!("start_push:{appid}:{}", received.unwrap_or(0));
            if self.store.increment(&episode, VERIFY_TICKET_LIFE).ok() != Some(1) {
                continue;
            }
            asked += 1;
            match start_push_ticket(&self.tokens.context(), appid, secret) {
                Ok(()) => log::warn!(
                    "wechat hub: no component_verify_ticket for {appid} in {} minutes: asked WeChat to resume pushing them (api_start_push_ticket)",
                    TICKET_STALE.as_secs() / 60
                ),
                Err(e) => log::warn!(
                    "wechat hub: no component_verify_ticket for {appid} in {} minutes, and asking WeChat to resume pushing them failed: {e}",
                    TICKET_STALE.as_secs() / 60
                ),
            }
        }
        asked
    }

    /// Remembers that `key` was served: it is refreshed ahead from now on.
    pub fn served(&self, key: &TokenKey) {
        let mut keys = self.keys.lock();
        if !keys.contains_key(key) {
            keys.insert(key.clone(), Backoff::default());
        }
    }

    /// Stops refreshing every key of `authorizer_appid` under
    /// `component_appid` (it revoked its authorization).
    #[cfg(feature = "crypto")]
    pub fn stop_authorizer(&self, component_appid: &str, authorizer_appid: &str) {
        self.keys.lock().retain(|key, _| {
            key.appid() != component_appid || key.authorizer_appid() != Some(authorizer_appid)
        });
    }

    /// The keys refreshed ahead.
    pub fn served_keys(&self) -> Vec<TokenKey> {
        self.keys.lock().keys().cloned().collect()
    }

    /// How many keys are refreshed ahead.
    pub fn len(&self) -> usize {
        self.keys.lock().len()
    }

    /// One pass: every served key whose refresh is due (and whose backoff
    /// is over) is refreshed, if this replica gets its lock. A key the
    /// store no longer has (an authorizer that revoked, through any
    /// replica; a token that expired) is dropped: it is fetched again, and
    /// served again, only if a client asks for it.
    pub fn run_once(&self) -> Pass {
        let keys: Vec<(TokenKey, Backoff)> = self
            .keys
            .lock()
            .iter()
            .map(|(k, b)| (k.clone(), *b))
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
                    self.keys.lock().remove(&key);
                    continue;
                }
                // Counted as a store error; tried again next pass.
                Err(_) => continue,
            };
            if now_ms < due_at(&key, &current).saturating_mul(1000) {
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
                    let wait = BACKOFF_BASE
                        .saturating_mul(1 << failures.min(16).saturating_sub(1))
                        .min(BACKOFF_CAP);
                    log::warn!(
                        "wechat hub: refreshing {key:?} ahead failed ({failures} in a row), \
                         next try in {}s: {e}",
                        wait.as_secs()
                    );
                    let not_before_ms = now_ms.saturating_add(wait.as_millis() as u64);
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
        if let Some(b) = self.keys.lock().get_mut(key) {
            *b = backoff;
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
    fn a_key_is_due_in_the_margin_window_before_its_token_stops_being_served() {
        let token = Token::with_timestamp("T", 1_000, 7_200);
        let key = TokenKey::access_token("wx1");
        let due = due_at(&key, &token);
        // Served until 1000 + 7200 - 300; due in the 300 s before that.
        assert!(
            (1_000 + 7_200 - 600..1_000 + 7_200 - 300).contains(&due),
            "{due}"
        );
        assert_eq!(due, due_at(&key, &token), "every replica computes the same");
        let short = Token::with_timestamp("T", 1_000, 60);
        assert!((1_048..1_054).contains(&due_at(&key, &short)));
        let tiny = Token::with_timestamp("T", 1_000, 5);
        assert_eq!(due_at(&key, &tiny), 1_005, "no margin: due at expiry");
    }

    #[test]
    fn a_thousand_authorizers_fetched_together_are_spread_over_the_window() {
        let token = Token::with_timestamp("T", 1_000, 7_200);
        let mut per_second: HashMap<u64, usize> = HashMap::new();
        for i in 0..1_000 {
            let key = TokenKey::access_token("wxc").for_authorizer(&format!("wxa{i}"));
            *per_second.entry(due_at(&key, &token)).or_default() += 1;
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
