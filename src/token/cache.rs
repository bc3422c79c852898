//! The in-process token cache: one slot per [`TokenKey`], single-flight
//! fetches and refreshes, compare-and-invalidate, and the per-key
//! [`RefreshLimit`].
//!
//! Slots live in sharded maps ([`Shards`]), each behind its own
//! `parking_lot::Mutex`, so that threads working on different keys rarely
//! touch the same lock. A key always goes to the same shard, and its
//! shard's lock is held only to read or update its slot (a hash lookup and
//! a clone; a token to hold is copied before the lock is taken), never
//! across I/O and never across a wait. The first caller that misses puts a
//! [`Flight`] beside the slot and fetches with no lock held;
//! later callers for that key find the flight, release the map and wait on
//! the flight alone, then all receive its result, success or error. Callers
//! for other keys never wait for it. The table holds each key's token (the
//! cache's own copy, which carries the key) and one number: a hit is one
//! lock, one lookup and one allocation read, where the key is compared, the
//! lifetime checked and the reference counted; an idle key costs 16 bytes
//! of table and that allocation beside its value. The few flights under
//! way at any moment sit in a table of their own beside the slots.
//!
//! A cache is either the truth for its process (a client's: a refresh whose
//! stale token was already replaced returns the replacement with no call),
//! or a read-through copy of a shared store (a hub replica's): then a
//! token is re-read from the source once it is older than a bound, and a
//! refresh always asks the source, which compares against the store.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::token::limit::{warn_lineage_fight, RefreshLimit, Schedule};
use crate::token::shards::{Keyed, Locked, Shards};
use crate::token::{Token, TokenKey};

/// How many flights a refresh waits for that hand back the very token it
/// reported stale, before it gives up and returns that token.
const MAX_JOINS: usize = 3;

/// A key's locked shard: its slot, and its flight if one is under way.
type Slots<'a> = Locked<'a, Slot, Arc<Flight>>;

/// The in-process cache in front of every [`TokenSource`](crate::TokenSource).
pub(crate) struct TokenCache {
    shards: Shards<Slot, Arc<Flight>>,
    max_margin: u64,
    limit: RefreshLimit,
    clock: Clock,
    /// `Some(bound)` when the source, not this cache, is the truth: a token
    /// landed more than `bound` ago is read again. Such a cache never
    /// applies `limit`: its source limits upstream calls through the store
    /// it compares against, for every replica at once.
    read_through: Option<Duration>,
    /// How many times a caller began waiting for a flight: tests open
    /// their gates on it instead of sleeping.
    #[cfg(test)]
    waits: std::sync::atomic::AtomicUsize,
}

/// A key's place in the cache: 16 bytes in its table, the rest (the key
/// among it) in the token's allocation.
struct Slot {
    /// The key's token as the cache holds it ([`Token::held_under`] the
    /// key), or the [`vacant`](Token::vacant) placeholder that keeps the key
    /// while no token is held.
    token: Token,
    /// In a read-through cache, when `token` came from the source (the
    /// clock's Unix milliseconds); in any other, the refresh limit's
    /// [`Schedule`] for this key, packed (0 for a key never limited, which
    /// the limit reads as it reads none). One number serves both because a
    /// read-through cache never limits, and a table entry of 16 bytes
    /// instead of 24 is 10 bytes less per key in a table at most 7/8 full.
    stamp: u64,
}

impl Slot {
    /// A slot for `key` holding no token.
    fn vacant(key: &TokenKey) -> Slot {
        Slot {
            token: Token::vacant(key.clone()),
            stamp: 0,
        }
    }

    /// The token held, if any.
    fn token(&self) -> Option<&Token> {
        self.token.is_held().then_some(&self.token)
    }

    /// Holds `held` from now on: the cache's copy of a token, made by
    /// [`Token::held_under`] this slot's key before the lock was taken.
    fn hold(&mut self, held: Token) {
        debug_assert_eq!(held.cache_key(), self.token.cache_key());
        self.token = held;
    }

    /// Holds no token from now on; the key keeps its place and schedule.
    fn clear(&mut self) {
        debug_assert!(self.token.cache_key().is_some());
        if let Some(key) = self.token.cache_key() {
            self.token = Token::vacant(key.clone());
        }
    }
}

impl Keyed for Slot {
    fn key(&self) -> Option<&TokenKey> {
        self.token.cache_key()
    }
}

/// One fetch or refresh that concurrent callers wait for.
#[derive(Default)]
struct Flight {
    /// Whether it replaces a rejected token (else it fetches one).
    refresh: bool,
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

/// What a caller does once it has let go of the map.
enum Next {
    /// Hand out this token.
    Done(Result<Token>),
    /// Wait for another caller's flight.
    Wait(Arc<Flight>),
    /// Call the source as this key's flight; the age of a token WeChat
    /// rejected young, to warn about (logged once the map is let go).
    Fly(Arc<Flight>, Option<Duration>),
    /// Refused by the refresh limit; a warning as for `Fly`.
    Refused(Error, Option<Duration>),
}

impl TokenCache {
    /// A cache that refreshes tokens up to `max_margin` seconds before they
    /// expire (less for short-lived tokens, see [`is_fresh`]), calls its
    /// source at most as often as `limit` allows, and reads the time from
    /// `clock`. With `read_through`, see the module docs.
    pub fn new(
        max_margin: u64,
        limit: RefreshLimit,
        clock: Clock,
        read_through: Option<Duration>,
    ) -> TokenCache {
        TokenCache {
            shards: Shards::new(),
            max_margin,
            limit: match read_through {
                Some(_) => RefreshLimit::unlimited(),
                None => limit,
            },
            clock,
            read_through,
            #[cfg(test)]
            waits: Default::default(),
        }
    }

    /// A fresh cached token for `key`, or the result of one call of `fetch`
    /// shared by every caller that missed at the same time.
    ///
    /// When the call fails, the token the slot still holds may do instead:
    /// - a read-through cache whose source fails with a store error hands
    ///   out its last token while that is fresh (when the whole store is
    ///   down, no replica can have replaced it);
    /// - a fetch refused by the refresh limit hands out the token being
    ///   refreshed early (inside its expiry margin) until it expires.
    ///
    /// `limited` says whether the refresh limit applies to this source.
    pub fn get(
        &self,
        key: &TokenKey,
        limited: bool,
        fetch: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        // A hit takes the shortest path: one lookup and nothing else. A
        // miss looks again below, where a fetch is decided.
        if let Some(token) = self.peek(key) {
            return Ok(token);
        }
        let mut fetch = Some(fetch);
        // At most twice: once more after joining a refresh that failed with
        // no token to fall back on.
        for pass in 0..2 {
            let mut fallback = None;
            let now;
            let next = {
                let mut slots = self.slots(key);
                let flight = slots.flight();
                let slot = slots.slot();
                // A hit is decided on the coarse clock (a tick ahead, never
                // behind): the precise one's ordered TSC read waits for
                // every load before it, so that one lookup's cache misses
                // could not overlap what came before (benches/scale.rs
                // floors at 100k keys). Anything else reads the precise
                // clock.
                if let Some(token) =
                    slot.and_then(|s| self.hit(s, flight, self.clock.coarse_upper_unix_millis()))
                {
                    return Ok(token.clone());
                }
                now = self.clock.unix_millis();
                if let Some(slot) = slot {
                    if let Some(token) = slot.token() {
                        fallback = Some((token.clone(), self.is_fresh(token, now / 1000)));
                    }
                }
                match flight {
                    Some(flight) => Next::Wait(flight.clone()),
                    None => self.take_off(&mut slots, limited, None, false),
                }
            };
            let unexpired = |t: &Token| t.expires_at() > now / 1000;
            let result = match next {
                Next::Wait(flight) => match self.wait(&flight) {
                    // The refresh failed (refused by the limit, say): the
                    // token it was to replace serves until it expires, for
                    // WeChat may take it back once a storm is over. With
                    // none, a plain fetch may still work: try one.
                    Err(e) if flight.refresh => match fallback {
                        Some((token, _)) if unexpired(&token) && self.holds(key, &token) => {
                            return Ok(token)
                        }
                        _ if pass == 0 => continue,
                        _ => Err(e),
                    },
                    result => result,
                },
                next => match fetch.take() {
                    Some(fetch) => self.follow(key, next, fetch),
                    None => continue,
                },
            };
            return match (result, fallback) {
                (Err(e), Some((token, fresh))) if fresh && e.is_store_error() => Ok(token),
                (Err(e), Some((token, _))) if e.is_refresh_limited() && unexpired(&token) => {
                    Ok(token)
                }
                (result, _) => result,
            };
        }
        // ok because the second pass always returns: it never joins twice
        Err(Error::config("token cache: no answer after two passes"))
    }

    /// The token [`get`](TokenCache::get) would hand out for `key` at
    /// once, if any: never calls the source, never waits for a flight.
    pub fn peek(&self, key: &TokenKey) -> Option<Token> {
        let slots = self.slots(key);
        let slot = slots.slot()?;
        // The coarse clock, as in `get`, read once the lock is held: a
        // reading taken before might be a wait for the lock old.
        let now = self.clock.coarse_upper_unix_millis();
        self.hit(slot, slots.flight(), now).cloned()
    }

    /// The slot's token, if it may be handed out at `now_ms` as it is:
    /// fresh, not being replaced by the slot's `flight` (its refresh is
    /// waited for), and, in a read-through cache, not due to be read again.
    fn hit<'a>(
        &self,
        slot: &'a Slot,
        flight: Option<&Arc<Flight>>,
        now_ms: u64,
    ) -> Option<&'a Token> {
        let token = slot.token()?;
        let replacing = flight.is_some_and(|f| f.refresh);
        (self.is_fresh(token, now_ms / 1000) && !replacing && !self.is_due(slot, now_ms))
            .then_some(token)
    }

    /// A token other than `stale` for `key`.
    ///
    /// In a cache that is the truth: if the cached token is still `stale`
    /// (or missing), `refresh` runs once for all concurrent callers (while
    /// it runs, readers wait for it instead of taking the stale token, which
    /// stays in place should the refresh fail); if another caller already replaced it, the
    /// replacement is returned with no call at all. In a read-through cache
    /// the source decides, and concurrent refreshes share one call.
    ///
    /// A flight already under way is waited for (with no lock held), and
    /// its token used only if it is not `stale` (a fetch may hand back the
    /// very token that was just rejected); after [`MAX_JOINS`] such
    /// flights the stale token is returned, so the caller's retry fails
    /// with WeChat's own error instead of looping.
    ///
    /// `rejected`: WeChat rejected `stale` (else a caller replaces it of
    /// its own accord), which the refresh limit's warning and refusal tell.
    pub fn refresh(
        &self,
        key: &TokenKey,
        limited: bool,
        stale: &Token,
        rejected: bool,
        refresh: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        let mut joins = 0;
        loop {
            let now = self.clock.unix_millis();
            let next = {
                let mut slots = self.slots(key);
                match slots.flight() {
                    Some(flight) => Next::Wait(flight.clone()),
                    None => match slots.slot().and_then(Slot::token) {
                        Some(current)
                            if self.read_through.is_none()
                                && current.expose() != stale.expose()
                                && self.is_fresh(current, now / 1000) =>
                        {
                            Next::Done(Ok(current.clone()))
                        }
                        _ => self.take_off(&mut slots, limited, Some(stale), rejected),
                    },
                }
            };
            match next {
                Next::Wait(flight) => match self.wait(&flight) {
                    Ok(token) if token.expose() == stale.expose() && joins < MAX_JOINS => {
                        joins += 1;
                    }
                    other => return other,
                },
                next => return self.follow(key, next, refresh),
            }
        }
    }

    /// Drops the cached token for `key` only if it is `stale`. Returns
    /// whether it was dropped.
    pub fn invalidate_if(&self, key: &TokenKey, stale: &Token) -> bool {
        match self.slots(key).slot_mut() {
            Some(slot) if slot.token().is_some_and(|t| t.expose() == stale.expose()) => {
                slot.clear();
                true
            }
            _ => false,
        }
    }

    /// Drops the cached token for `key`, whatever it is. A flight in
    /// progress still completes for its waiters, but its token is not
    /// cached: it was fetched for what was just forgotten.
    pub fn remove(&self, key: &TokenKey) {
        let mut slots = self.slots(key);
        if let Some(slot) = slots.slot_mut() {
            slot.clear();
        }
        slots.end_flight();
    }

    /// Puts a token into the cache, replacing what was there.
    pub fn insert(&self, key: &TokenKey, token: Token) {
        let held = token.held_under(key);
        let now = self.clock.unix_millis();
        self.land(self.slots(key).slot_or_insert_with(Slot::vacant), held, now);
    }

    /// Puts `held`, the cache's copy of a token just come from the source at
    /// `now_ms` ([`Token::held_under`] the slot's key), into `slot`.
    fn land(&self, slot: &mut Slot, held: Token, now_ms: u64) {
        slot.hold(held);
        if self.read_through.is_some() {
            slot.stamp = now_ms;
        }
    }

    /// Whether the slot of `key` still holds `token` (it was not forgotten
    /// or replaced meanwhile).
    fn holds(&self, key: &TokenKey, token: &Token) -> bool {
        self.slots(key)
            .slot()
            .and_then(Slot::token)
            .is_some_and(|t| t.expose() == token.expose())
    }

    /// The number of keys the cache has seen.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// The locked shard that holds `key`'s slot.
    fn slots<'a>(&'a self, key: &'a TokenKey) -> Slots<'a> {
        self.shards.lock(key)
    }

    /// Whether `token` may still be handed out at `now` (Unix seconds).
    pub fn is_fresh(&self, token: &Token, now: u64) -> bool {
        is_fresh(token, now, self.max_margin)
    }

    /// Whether a read-through slot's token is due to be read again.
    fn is_due(&self, slot: &Slot, now_ms: u64) -> bool {
        self.read_through
            .is_some_and(|bound| u128::from(now_ms.saturating_sub(slot.stamp)) >= bound.as_millis())
    }

    /// Starts a flight for `key`, if the refresh limit allows a call now
    /// (or does not apply). `rejected`: the token WeChat rejected, which
    /// the flight replaces. Called with the map locked, and only when no
    /// flight is under way for `key`; does no I/O and no wait.
    fn take_off(
        &self,
        slots: &mut Slots<'_>,
        limited: bool,
        stale: Option<&Token>,
        rejected: bool,
    ) -> Next {
        let limit = if limited {
            self.limit
        } else {
            RefreshLimit::unlimited()
        };
        // Read under the map's lock: callers that read the clock before it
        // must not see the schedule from behind.
        let now = self.clock.unix_millis();
        let stamp = slots.slot_or_insert_with(Slot::vacant).stamp;
        let stored = match self.read_through {
            None => Schedule::unpack(Some(stamp)),
            Some(_) => Schedule::default(),
        };
        let admission = limit.decide(slots.key(), stored, now, stale, rejected);
        if let (Some(schedule), None) = (admission.schedule, self.read_through) {
            slots.slot_or_insert_with(Slot::vacant).stamp = schedule.pack();
        }
        match admission.outcome {
            Err(refused) => Next::Refused(refused, admission.warn),
            Ok(()) => {
                let flight = Arc::new(Flight {
                    refresh: stale.is_some(),
                    ..Flight::default()
                });
                slots.start_flight(flight.clone());
                Next::Fly(flight, admission.warn)
            }
        }
    }

    /// Carries out `next` with no lock held.
    fn follow(
        &self,
        key: &TokenKey,
        next: Next,
        call: impl FnOnce() -> Result<Token>,
    ) -> Result<Token> {
        match next {
            Next::Done(result) => result,
            Next::Wait(flight) => self.wait(&flight),
            Next::Refused(refused, warn) => {
                if let Some(age) = warn {
                    warn_lineage_fight(key, age);
                }
                Err(refused)
            }
            Next::Fly(flight, warn) => {
                if let Some(age) = warn {
                    warn_lineage_fight(key, age);
                }
                self.fly(key, &flight, call)
            }
        }
    }

    /// Waits for another caller's flight; no lock of the map is held here.
    fn wait(&self, flight: &Flight) -> Result<Token> {
        #[cfg(test)]
        self.waits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        flight.wait()
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
    now < token.expires_at().saturating_sub(margin(token, max_margin))
}

/// How long before it expires `token` stops being fresh (see [`is_fresh`]).
pub(crate) fn margin(token: &Token, max_margin: u64) -> u64 {
    (token.expires_in() / 10).min(max_margin)
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
        // The cache's copy is made before the lock is taken.
        let held = result.as_ref().ok().map(|token| token.held_under(self.key));
        let now = self.cache.clock.unix_millis();
        {
            let mut slots = self.cache.slots(self.key);
            let ours = slots.flight().is_some_and(|f| Arc::ptr_eq(f, self.flight));
            if ours {
                slots.end_flight();
                if let Some(held) = held {
                    self.cache
                        .land(slots.slot_or_insert_with(Slot::vacant), held, now);
                }
            }
        }
        // The map is released before anyone is woken.
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

    fn cache() -> TokenCache {
        TokenCache::new(300, RefreshLimit::unlimited(), Clock::system(), None)
    }

    #[test]
    fn concurrent_misses_fetch_once_and_share_the_result() {
        let cache = cache();
        let calls = AtomicUsize::new(0);
        let barrier = Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    barrier.wait();
                    let t = cache
                        .get(&key(), true, || {
                            calls.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok(Token::new("A", 7200))
                        })
                        .unwrap();
                    assert_eq!(t.expose(), "A");
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn waiters_receive_the_same_error() {
        let cache = cache();
        let calls = AtomicUsize::new(0);
        let barrier = Barrier::new(8);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    barrier.wait();
                    let e = cache
                        .get(&key(), true, || {
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
        let cache = cache();
        cache.insert(&key(), Token::new("NEW", 7200));
        assert!(!cache.invalidate_if(&key(), &Token::new("OLD", 7200)));
        assert_eq!(
            cache.get(&key(), true, || unreachable!()).unwrap().expose(),
            "NEW"
        );
        assert!(cache.invalidate_if(&key(), &Token::new("NEW", 7200)));
        assert_eq!(
            cache
                .get(&key(), true, || Ok(Token::new("NEXT", 7200)))
                .unwrap()
                .expose(),
            "NEXT"
        );
    }

    #[test]
    fn refresh_of_an_already_replaced_token_makes_no_call() {
        let cache = cache();
        cache.insert(&key(), Token::new("B", 7200));
        let t = cache
            .refresh(
                &key(),
                true,
                &Token::new("A", 7200),
                true,
                || unreachable!(),
            )
            .unwrap();
        assert_eq!(t.expose(), "B");
        let t = cache
            .refresh(&key(), true, &Token::new("B", 7200), true, || {
                Ok(Token::new("C", 7200))
            })
            .unwrap();
        assert_eq!(t.expose(), "C");
    }

    #[test]
    fn margin_scales_with_lifetime() {
        let cache = cache();
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
                .get(&key(), true, || Ok(Token::new("Z", 0)))
                .unwrap()
                .expose(),
            "Z"
        );
    }

    #[test]
    fn a_panicking_source_does_not_hang_waiters() {
        let cache = cache();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get(&key(), true, || panic!("boom"))
        }));
        assert!(r.is_err());
        assert_eq!(
            cache
                .get(&key(), true, || Ok(Token::new("OK", 7200)))
                .unwrap()
                .expose(),
            "OK"
        );
    }

    /// A gate a test opens by hand.
    #[derive(Default)]
    struct Gate(Mutex<bool>, Condvar);

    impl Gate {
        fn open(&self) {
            *self.0.lock() = true;
            self.1.notify_all();
        }

        fn pass(&self) {
            let mut open = self.0.lock();
            while !*open {
                self.1.wait(&mut open);
            }
        }
    }

    /// Yields until a flight for `key()` is under way.
    fn until_flying(cache: &TokenCache) {
        while cache.slots(&key()).flight().is_none() {
            std::thread::yield_now();
        }
    }

    /// Yields until `cache` has seen `n` callers begin to wait.
    fn until_waits(cache: &TokenCache, n: usize) {
        while cache.waits.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
    }

    /// The chaos run's deadlock: two refreshes join a fetch that returns
    /// the very token they report stale; one of them starts a refresh
    /// flight, and the other must wait for it without holding the map, or
    /// the flight can never land and every key of the client hangs.
    #[test]
    fn refreshes_joining_a_fetch_of_the_stale_token_never_deadlock() {
        let cache = Arc::new(cache());
        let fetch_gate = Arc::new(Gate::default());
        let refresh_gate = Arc::new(Gate::default());
        let refreshes = Arc::new(AtomicUsize::new(0));
        let (done, results) = std::sync::mpsc::channel();
        {
            let (cache, gate, done) = (cache.clone(), fetch_gate.clone(), done.clone());
            std::thread::spawn(move || {
                let t = cache.get(&key(), true, || {
                    gate.pass();
                    Ok(Token::new("X", 7200))
                });
                done.send(("get", t)).unwrap();
            });
        }
        // Let the fetch take off before anyone refreshes.
        until_flying(&cache);
        for name in ["refresh 1", "refresh 2"] {
            let (cache, gate, done) = (cache.clone(), refresh_gate.clone(), done.clone());
            let refreshes = refreshes.clone();
            std::thread::spawn(move || {
                let t = cache.refresh(&key(), true, &Token::new("X", 7200), true, || {
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    gate.pass();
                    Ok(Token::new("Y", 7200))
                });
                done.send((name, t)).unwrap();
            });
        }
        // Both refreshes wait for the fetch, which then returns "X".
        until_waits(&cache, 2);
        fetch_gate.open();
        // One refresh flies (and holds at its gate); the other waits for it.
        until_waits(&cache, 3);
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        refresh_gate.open();
        let mut got: Vec<(&str, String)> = (0..3)
            .map(|_| {
                let (name, t) = results
                    .recv_timeout(Duration::from_secs(10))
                    .expect("a call never returned: the cache deadlocked");
                (name, t.unwrap().expose().to_string())
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("get", "X".to_string()),
                ("refresh 1", "Y".to_string()),
                ("refresh 2", "Y".to_string())
            ]
        );
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
        // And the client still answers, for this key and any other.
        assert_eq!(
            cache.get(&key(), true, || unreachable!()).unwrap().expose(),
            "Y"
        );
        let other = TokenKey::access_token("wx2");
        assert_eq!(
            cache
                .get(&other, true, || Ok(Token::new("Z", 7200)))
                .unwrap()
                .expose(),
            "Z"
        );
    }

    /// A read that joins a refresh the limit refuses; `forget` runs while
    /// both wait.
    fn read_joining_a_refused_refresh(held: Option<&str>, forget: bool) -> String {
        let cache = Arc::new(cache());
        if let Some(held) = held {
            cache.insert(&key(), Token::new(held, 7200));
        }
        let gate = Arc::new(Gate::default());
        let refreshing = {
            let (cache, gate) = (cache.clone(), gate.clone());
            std::thread::spawn(move || {
                cache.refresh(&key(), true, &Token::new("T", 7200), true, || {
                    gate.pass();
                    Err(RefreshLimit::default().refused(&key(), Duration::from_secs(1), None))
                })
            })
        };
        until_flying(&cache);
        let reading = {
            let cache = cache.clone();
            std::thread::spawn(move || cache.get(&key(), true, || Ok(Token::new("STORED", 7200))))
        };
        until_waits(&cache, 1);
        if forget {
            cache.remove(&key());
        }
        gate.open();
        assert!(refreshing.join().unwrap().unwrap_err().is_refresh_limited());
        let token = reading.join().unwrap().unwrap();
        token.expose().to_string()
    }

    /// The chaos run's last finding: a read that joined a refresh the limit
    /// refused failed with that refusal. It gets the token the refresh was
    /// to replace (WeChat may take it back once a storm is over), or, with
    /// none, fetches one for itself.
    #[test]
    fn a_read_joining_a_refused_refresh_still_gets_a_token() {
        assert_eq!(read_joining_a_refused_refresh(Some("T"), false), "T");
        assert_eq!(read_joining_a_refused_refresh(None, false), "STORED");
        // A token forgotten meanwhile is never handed out again.
        assert_eq!(read_joining_a_refused_refresh(Some("T"), true), "STORED");
    }

    #[test]
    fn a_refused_early_refresh_serves_the_old_token_until_it_expires() {
        let clock = crate::clock::ManualClock::starting_now();
        let limit = RefreshLimit::new(1, Duration::from_secs(300));
        let cache = TokenCache::new(300, limit, clock.clock(), None);
        let born = clock.clock().unix_secs();
        // Lives 100 s, refreshed 10 s early.
        let t = cache
            .get(&key(), true, || Ok(Token::with_timestamp("A", born, 100)))
            .unwrap();
        // Failed refreshes (WeChat busy) as soon as each is allowed: the
        // next is allowed only at 126 s.
        let mut at = 0;
        for next in [2, 6, 14, 30, 62] {
            clock.advance(Duration::from_secs(next - at));
            at = next;
            let busy = || Err(Error::api(-1, "system busy", 200));
            assert_eq!(
                cache
                    .refresh(&key(), true, &t, true, busy)
                    .unwrap_err()
                    .errcode(),
                Some(-1)
            );
        }
        clock.advance(Duration::from_secs(95 - at));
        assert_eq!(cache.get(&key(), true, || unreachable!()).unwrap(), t);
        clock.advance(Duration::from_secs(10));
        let e = cache.get(&key(), true, || unreachable!()).unwrap_err();
        assert!(e.is_refresh_limited(), "{e}");
    }

    #[test]
    fn a_token_forgotten_during_its_fetch_is_not_cached() {
        let cache = Arc::new(cache());
        let gate = Arc::new(Gate::default());
        let fetching = {
            let (cache, gate) = (cache.clone(), gate.clone());
            std::thread::spawn(move || {
                cache.get(&key(), true, || {
                    gate.pass();
                    Ok(Token::new("REVOKED", 7200))
                })
            })
        };
        until_flying(&cache);
        cache.remove(&key());
        gate.open();
        assert_eq!(fetching.join().unwrap().unwrap().expose(), "REVOKED");
        let next = cache.get(&key(), true, || Ok(Token::new("AGAIN", 7200)));
        assert_eq!(next.unwrap().expose(), "AGAIN");
    }

    #[test]
    fn the_limit_refuses_a_storm_and_keeps_the_rejected_token() {
        let clock = crate::clock::ManualClock::starting_now();
        let limit = RefreshLimit::new(3, Duration::from_secs(30));
        let cache = TokenCache::new(300, limit, clock.clock(), None);
        let calls = AtomicUsize::new(0);
        let mint = || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Ok(Token::new(format!("T{n}"), 7200))
        };
        let mut current = cache.get(&key(), true, mint).unwrap();
        // Every token is rejected at once: two refreshes go through.
        for _ in 0..2 {
            current = cache.refresh(&key(), true, &current, true, mint).unwrap();
        }
        let e = cache
            .refresh(&key(), true, &current, true, mint)
            .unwrap_err();
        match e.kind() {
            crate::ErrorKind::RefreshLimited {
                retry_after,
                rejected_after,
                ..
            } => {
                // After the burst, the short wait.
                assert_eq!(*retry_after, Duration::from_secs(2));
                assert_eq!(*rejected_after, Some(Duration::ZERO));
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("another process or machine"), "{e}");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // The rejected token is still handed out: WeChat may take it back.
        assert_eq!(cache.get(&key(), true, || unreachable!()).unwrap(), current);
        clock.advance(Duration::from_secs(2));
        let next = cache.refresh(&key(), true, &current, true, mint).unwrap();
        assert_eq!(next.expose(), "T3");
        // The storm goes on: the wait doubles.
        let e = cache.refresh(&key(), true, &next, true, mint).unwrap_err();
        assert!(
            matches!(e.kind(), crate::ErrorKind::RefreshLimited { retry_after, .. }
                if *retry_after == Duration::from_secs(4)),
            "{e:?}"
        );
        // A caller's own refresh is refused alike, but names no rejection.
        let e = cache.refresh(&key(), true, &next, false, mint).unwrap_err();
        assert!(
            matches!(
                e.kind(),
                crate::ErrorKind::RefreshLimited {
                    rejected_after: None,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_read_through_cache_rereads_after_its_bound_and_refreshes_through_the_source() {
        let clock = crate::clock::ManualClock::starting_now();
        let cache = TokenCache::new(
            300,
            RefreshLimit::unlimited(),
            clock.clock(),
            Some(Duration::from_secs(1)),
        );
        let store = Mutex::new(Token::new("A", 7200));
        let read = || Ok(store.lock().clone());
        assert!(cache.peek(&key()).is_none(), "nothing read yet");
        assert_eq!(cache.get(&key(), true, read).unwrap().expose(), "A");
        *store.lock() = Token::new("B", 7200);
        // Within the bound the copy is served; after it, the store's.
        assert_eq!(
            cache.get(&key(), true, || unreachable!()).unwrap().expose(),
            "A"
        );
        assert_eq!(cache.peek(&key()).unwrap().expose(), "A");
        clock.advance(Duration::from_secs(1));
        assert!(cache.peek(&key()).is_none(), "due to be read again");
        assert_eq!(cache.get(&key(), true, read).unwrap().expose(), "B");
        // A refresh of a token the copy does not hold still asks the
        // source, which knows better than the copy.
        *store.lock() = Token::new("C", 7200);
        let t = cache
            .refresh(&key(), true, &Token::new("OTHER", 7200), true, || {
                Ok(store.lock().clone())
            })
            .unwrap();
        assert_eq!(t.expose(), "C");
        // A store that cannot be read: the last token, while fresh.
        clock.advance(Duration::from_secs(5));
        let down = || Err(Error::store("redis down", std::io::Error::other("refused")));
        assert_eq!(cache.get(&key(), true, down).unwrap().expose(), "C");
    }

    #[test]
    fn a_refresh_joining_a_fetch_that_returns_the_stale_token_refreshes() {
        let cache = cache();
        let stale = Token::new("STALE", 7200);
        let refreshes = AtomicUsize::new(0);
        let fetching = Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                cache
                    .get(&key(), true, || {
                        fetching.wait();
                        std::thread::sleep(Duration::from_millis(100));
                        // Another replica's store still holds the stale one.
                        Ok(Token::new("STALE", 7200))
                    })
                    .unwrap()
            });
            fetching.wait();
            let t = cache
                .refresh(&key(), true, &stale, true, || {
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    Ok(Token::new("NEW", 7200))
                })
                .unwrap();
            assert_eq!(t.expose(), "NEW");
        });
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    }
}
