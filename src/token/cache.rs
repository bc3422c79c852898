//! The in-process token cache: one slot per [`TokenKey`], single-flight
//! fetches and refreshes, compare-and-invalidate.
//!
//! All slots live in one map behind one `parking_lot::Mutex`, held only to
//! read or update a slot (a hash lookup and a clone), never across I/O. The
//! first caller that misses puts a [`Flight`] in the slot and fetches with
//! no lock held; later callers for that key find the flight, release the
//! map and wait on the flight alone, then all receive its result, success or
//! error. Callers for other keys never wait for it. Keeping the token in
//! the map itself makes a hit one lock and one lookup, and an idle key cost
//! only its key and token.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::token::{unix_now, Token, TokenKey};

/// The in-process cache in front of every [`TokenSource`](crate::TokenSource).
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<TokenKey, Slot>>,
    max_margin: u64,
}

#[derive(Default)]
struct Slot {
    token: Option<Token>,
    /// The fetch or refresh running for this key, if any.
    flight: Option<Arc<Flight>>,
}

/// One fetch or refresh that concurrent callers wait for.
#[derive(Default)]
struct Flight {
    result: Mutex<Option<Result<Token>>>,
    done: Condvar,
}

impl Flight {
    fn wait(&self) -> Result<Token> {
        let mut result = self.result.lock();
        loop {
            if let Some(result) = &*result {
                return result.clone();
            }
            self.done.wait(&mut result);
        }
    }

    fn complete(&self, result: Result<Token>) {
        *self.result.lock() = Some(result);
        self.done.notify_all();
    }
}

/// What a caller does after looking at a slot.
enum Next {
    Wait(Arc<Flight>),
    Fly(Arc<Flight>),
}

impl TokenCache {
    /// A cache that refreshes tokens up to `max_margin` seconds before they
    /// expire (less for short-lived tokens, see [`TokenCache::is_fresh`]).
    pub fn new(max_margin: u64) -> TokenCache {
        TokenCache {
            slots: Mutex::new(HashMap::new()),
            max_margin,
        }
    }

    /// A fresh cached token for `key`, or the result of one call of `fetch`
    /// shared by every caller that missed at the same time.
    pub fn get(&self, key: &TokenKey, fetch: impl FnOnce() -> Result<Token>) -> Result<Token> {
        let next = {
            let mut slots = self.slots.lock();
            if let Some(token) = slots.get(key).and_then(|s| s.token.as_ref()) {
                if self.is_fresh(token, unix_now()) {
                    return Ok(token.clone());
                }
            }
            next_step(slot_mut(&mut slots, key))
        };
        match next {
            Next::Wait(flight) => flight.wait(),
            Next::Fly(flight) => self.fly(key, &flight, fetch),
        }
    }

    /// A token other than `stale` for `key`. If the cached token is still
    /// `stale` (or missing), it is dropped and `refresh` runs once for all
    /// concurrent callers; if another caller already replaced it, the
    /// replacement is returned with no call at all. A plain fetch in flight
    /// is waited for, and its token used only if it is not `stale` (a
    /// fetch may hand back the very token that was just rejected).
    pub fn refresh(
        &self,
        key: &TokenKey,
        stale: &Token,
        refresh: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        // Joining at most one other flight before flying: bounded.
        let mut joined = false;
        loop {
            let next = {
                let mut slots = self.slots.lock();
                let slot = slot_mut(&mut slots, key);
                if slot.flight.is_none() || joined {
                    if let Some(current) = &slot.token {
                        if current.secret() != stale.secret() && self.is_fresh(current, unix_now())
                        {
                            return Ok(current.clone());
                        }
                    }
                }
                if slot.flight.is_none() {
                    slot.token = None;
                }
                match next_step(slot) {
                    Next::Wait(flight) if !joined => Next::Wait(flight),
                    // A second flight to wait for: let it be ours instead
                    // of waiting in a loop.
                    Next::Wait(flight) => return flight.wait(),
                    fly => fly,
                }
            };
            match next {
                Next::Wait(flight) => match flight.wait() {
                    Ok(token) if token.secret() == stale.secret() => joined = true,
                    other => return other,
                },
                Next::Fly(flight) => return self.fly(key, &flight, refresh),
            }
        }
    }

    /// Drops the cached token for `key` only if it is `stale`. Returns
    /// whether it was dropped.
    pub fn invalidate_if(&self, key: &TokenKey, stale: &Token) -> bool {
        let mut slots = self.slots.lock();
        match slots.get_mut(key) {
            Some(slot)
                if slot
                    .token
                    .as_ref()
                    .is_some_and(|t| t.secret() == stale.secret()) =>
            {
                slot.token = None;
                true
            }
            _ => false,
        }
    }

    /// Drops the cached token for `key`, whatever it is (a flight in
    /// progress still completes for its waiters).
    pub fn remove(&self, key: &TokenKey) {
        if let Some(slot) = self.slots.lock().get_mut(key) {
            slot.token = None;
        }
    }

    /// Puts a token into the cache, replacing what was there.
    pub fn insert(&self, key: &TokenKey, token: Token) {
        slot_mut(&mut self.slots.lock(), key).token = Some(token);
    }

    /// The number of keys the cache has seen.
    pub fn len(&self) -> usize {
        self.slots.lock().len()
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
        is_fresh(token, now, self.max_margin)
    }

    /// Runs `call` as `key`'s flight with no lock held, then records and
    /// hands out its result. A panicking `call` still ends the flight.
    fn fly(
        &self,
        key: &TokenKey,
        flight: &Arc<Flight>,
        call: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        let mut guard = Landing {
            cache: self,
            key,
            flight,
            result: None,
        };
        let result = call();
        guard.result = Some(result.clone());
        drop(guard);
        result
    }
}

/// Whether `token` may be handed out at `now`: until a tenth of its
/// lifetime (at most `max_margin` seconds) before it expires. The one
/// place expiry is decided, for the client cache and the hub's store.
pub(crate) fn is_fresh(token: &Token, now: u64, max_margin: u64) -> bool {
    let margin = (token.expires_in() / 10).min(max_margin);
    now < token.expires_at().saturating_sub(margin)
}

/// The slot of `key`, created empty if missing (the key is cloned only
/// then).
fn slot_mut<'a>(slots: &'a mut HashMap<TokenKey, Slot>, key: &TokenKey) -> &'a mut Slot {
    if !slots.contains_key(key) {
        slots.insert(key.clone(), Slot::default());
    }
    // ok because the key was inserted just above if it was missing
    slots.get_mut(key).unwrap_or_else(|| unreachable!())
}

/// Joins the slot's flight, or starts one.
fn next_step(slot: &mut Slot) -> Next {
    match &slot.flight {
        Some(flight) => Next::Wait(flight.clone()),
        None => {
            let flight = Arc::new(Flight::default());
            slot.flight = Some(flight.clone());
            Next::Fly(flight)
        }
    }
}

/// Ends a flight when dropped: stores a successful token in the slot,
/// clears the flight and wakes its waiters, even if the source panicked.
struct Landing<'a> {
    cache: &'a TokenCache,
    key: &'a TokenKey,
    flight: &'a Arc<Flight>,
    result: Option<Result<Token>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let result = self
            .result
            .take()
            .unwrap_or_else(|| Err(Error::config("the token source panicked")));
        {
            let mut slots = self.cache.slots.lock();
            let slot = slot_mut(&mut slots, self.key);
            if slot
                .flight
                .as_ref()
                .is_some_and(|f| Arc::ptr_eq(f, self.flight))
            {
                slot.flight = None;
                if let Ok(token) = &result {
                    slot.token = Some(token.clone());
                }
            }
        }
        self.flight.complete(result);
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

    #[test]
    fn a_refresh_joining_a_fetch_that_returns_the_stale_token_refreshes() {
        let cache = TokenCache::new(300);
        let stale = Token::new("STALE", 7200);
        let refreshes = AtomicUsize::new(0);
        let fetching = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                cache
                    .get(&key(), || {
                        fetching.wait();
                        std::thread::sleep(Duration::from_millis(100));
                        // Another replica's store still holds the stale one.
                        Ok(Token::new("STALE", 7200))
                    })
                    .unwrap()
            });
            fetching.wait();
            let t = cache
                .refresh(&key(), &stale, || {
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    Ok(Token::new("NEW", 7200))
                })
                .unwrap();
            assert_eq!(t.secret(), "NEW");
        });
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    }
}
