//! The in-process token cache: one entry per [`TokenKey`], single-flight
//! fetches and refreshes, compare-and-invalidate.
//!
//! The map of entries is behind one `parking_lot::Mutex` held only to find
//! or insert an entry, never across I/O. Each entry has its own mutex and
//! condition variable: the first caller that misses marks the entry "in
//! flight" and fetches with no lock held; later callers for that key wait on
//! the entry and receive the same result, success or error. Callers for
//! other keys never wait for it.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::token::{unix_now, Token, TokenKey};

/// The in-process cache in front of every [`TokenSource`](crate::TokenSource).
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<TokenKey, Arc<Entry>>>,
    max_margin: u64,
}

#[derive(Default)]
struct Entry {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// A fetch or refresh for this key is running.
    in_flight: bool,
    /// The outcome of the latest finished flight, handed to its waiters.
    last: Option<Result<Token>>,
}

impl TokenCache {
    /// A cache that refreshes tokens up to `max_margin` seconds before they
    /// expire (less for short-lived tokens, see [`TokenCache::is_fresh`]).
    pub fn new(max_margin: u64) -> TokenCache {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
            max_margin,
        }
    }

    /// A fresh cached token for `key`, or the result of one call of `fetch`
    /// shared by every caller that missed at the same time.
    pub fn get(&self, key: &TokenKey, fetch: impl FnOnce() -> Result<Token>) -> Result<Token> {
        let entry = self.entry(key);
        let state = entry.state.lock();
        if let Some(token) = &state.token {
            if self.is_fresh(token, unix_now()) {
                return Ok(token.clone());
            }
        }
        if state.in_flight {
            return wait(&entry, state);
        }
        fly(&entry, state, fetch)
    }

    /// A token other than `stale` for `key`. If the cached token is still
    /// `stale` (or missing), it is dropped and `refresh` runs once for all
    /// concurrent callers; if another caller already replaced it, the
    /// replacement is returned with no call at all.
    pub fn refresh(
        &self,
        key: &TokenKey,
        stale: &Token,
        refresh: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        let entry = self.entry(key);
        let mut state = entry.state.lock();
        if state.in_flight {
            return wait(&entry, state);
        }
        if let Some(current) = &state.token {
            if current.secret() != stale.secret() && self.is_fresh(current, unix_now()) {
                return Ok(current.clone());
            }
        }
        state.token = None;
        fly(&entry, state, refresh)
    }

    /// Drops the cached token for `key` only if it is `stale`. Returns
    /// whether it was dropped.
    pub fn invalidate_if(&self, key: &TokenKey, stale: &Token) -> bool {
        let Some(entry) = self.entries.lock().get(key).cloned() else {
            return false;
        };
        let mut state = entry.state.lock();
        if state
            .token
            .as_ref()
            .is_some_and(|t| t.secret() == stale.secret())
        {
            state.token = None;
            true
        } else {
            false
        }
    }

    /// Puts a token into the cache, replacing what was there.
    pub fn insert(&self, key: &TokenKey, token: Token) {
        self.entry(key).state.lock().token = Some(token);
    }

    /// The number of keys the cache has seen.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether `token` may still be handed out at `now`.
    ///
    /// The token is refreshed `margin` seconds before it expires, where the
    /// margin is a tenth of its lifetime capped at `max_margin`: a 7200 s
    /// token is refreshed 300 s early (with the default cap), a 60 s token
    /// 6 s early, so short-lived tokens stay usable. A token whose lifetime
    /// is 0 is never served from the cache, but each fetch still returns it
    /// to its callers, so nothing loops.
    pub fn is_fresh(&self, token: &Token, now: u64) -> bool {
        let margin = (token.expires_in() / 10).min(self.max_margin);
        now < token.expires_at().saturating_sub(margin)
    }

    fn entry(&self, key: &TokenKey) -> Arc<Entry> {
        let mut entries = self.entries.lock();
        if let Some(entry) = entries.get(key) {
            return entry.clone();
        }
        let entry = Arc::new(Entry::default());
        entries.insert(key.clone(), entry.clone());
        entry
    }
}

/// Waits for the flight in progress on `entry` and returns its outcome.
fn wait(entry: &Entry, mut state: MutexGuard<'_, State>) -> Result<Token> {
    while state.in_flight {
        entry.done.wait(&mut state);
    }
    match &state.last {
        Some(result) => result.clone(),
        // ok because a flight always records its outcome before clearing
        // `in_flight` (see `Flight::finish` and its Drop)
        None => Err(Error::config("token flight ended without a result")),
    }
}

/// Runs `call` as this entry's flight: the lock is released while it runs.
fn fly(
    entry: &Entry,
    mut state: MutexGuard<'_, State>,
    call: impl FnOnce() -> Result<Token>,
) -> Result<Token> {
    state.in_flight = true;
    drop(state);
    let flight = Flight { entry, done: false };
    let result = call();
    flight.finish(result)
}

/// Ends a flight even if the source panics, so waiters never hang.
struct Flight<'a> {
    entry: &'a Entry,
    done: bool,
}

impl Flight<'_> {
    fn finish(mut self, result: Result<Token>) -> Result<Token> {
        self.done = true;
        let mut state = self.entry.state.lock();
        if let Ok(token) = &result {
            state.token = Some(token.clone());
        }
        state.last = Some(result.clone());
        state.in_flight = false;
        self.entry.done.notify_all();
        result
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut state = self.entry.state.lock();
            state.last = Some(Err(Error::config("the token source panicked")));
            state.in_flight = false;
            self.entry.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;
    use std::time::Duration;

    fn key() -> TokenKey {
        TokenKey::access_token("wx1")
    }

    #[test]
    fn concurrent_misses_fetch_once_and_share_the_result() {
        let cache = TokenCache::new(300);
        let calls = AtomicUsize::new(0);
        let barrier = Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    barrier.wait();
                    let t = cache
                        .get(&key(), || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok(Token::new("A", 7200))
                        })
                        .unwrap();
                    assert_eq!(t.secret(), "A");
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn waiters_receive_the_same_error() {
        let cache = TokenCache::new(300);
        let calls = AtomicUsize::new(0);
        let barrier = Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    let e = cache
                        .get(&key(), || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Err(Error::api(40125, "invalid appsecret", 200))
                        })
                        .unwrap_err();
                    assert_eq!(e.errcode(), Some(40125));
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn invalidate_only_drops_the_failed_token() {
        let cache = TokenCache::new(300);
        cache.insert(&key(), Token::new("NEW", 7200));
        assert!(!cache.invalidate_if(&key(), &Token::new("OLD", 7200)));
        assert_eq!(
            cache.get(&key(), || unreachable!()).unwrap().secret(),
            "NEW"
        );
        assert!(cache.invalidate_if(&key(), &Token::new("NEW", 7200)));
        assert_eq!(
            cache
                .get(&key(), || Ok(Token::new("NEXT", 7200)))
                .unwrap()
                .secret(),
            "NEXT"
        );
    }

    #[test]
    fn refresh_of_an_already_replaced_token_makes_no_call() {
        let cache = TokenCache::new(300);
        cache.insert(&key(), Token::new("B", 7200));
        let t = cache
            .refresh(&key(), &Token::new("A", 7200), || unreachable!())
            .unwrap();
        assert_eq!(t.secret(), "B");
        let t = cache
            .refresh(&key(), &Token::new("B", 7200), || Ok(Token::new("C", 7200)))
            .unwrap();
        assert_eq!(t.secret(), "C");
    }

    #[test]
    fn margin_scales_with_lifetime() {
        let cache = TokenCache::new(300);
        let long = Token::with_timestamp("x", 1000, 7200);
        assert!(cache.is_fresh(&long, 1000 + 7200 - 301));
        assert!(!cache.is_fresh(&long, 1000 + 7200 - 300));
        let short = Token::with_timestamp("x", 1000, 60);
        assert!(cache.is_fresh(&short, 1000 + 53));
        assert!(!cache.is_fresh(&short, 1000 + 54));
        let zero = Token::with_timestamp("x", 1000, 0);
        assert!(!cache.is_fresh(&zero, 1000));
        // A zero-lifetime token is still handed to the fetching caller.
        assert_eq!(
            cache
                .get(&key(), || Ok(Token::new("Z", 0)))
                .unwrap()
                .secret(),
            "Z"
        );
    }

    #[test]
    fn a_panicking_source_does_not_hang_waiters() {
        let cache = TokenCache::new(300);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get(&key(), || panic!("boom"))
        }));
        assert!(r.is_err());
        assert_eq!(
            cache
                .get(&key(), || Ok(Token::new("OK", 7200)))
                .unwrap()
                .secret(),
            "OK"
        );
    }
}
