//! `MemoryDedup`: the pushes one process has seen, bounded in number and
//! forgotten a minute after their first delivery, on an injectable clock.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use parking_lot::Mutex;

use super::{Claim, DedupStore, DEDUP_TTL};
use crate::clock::{millis, Clock};
use crate::error::Result;

/// A [`DedupStore`] in this process's memory: enough for one server, or
/// for several when a load balancer sends each user to the same one. For
/// several processes that share WeChat's retries, use `RedisDedup`
/// (feature `redis`).
///
/// It holds at most [`capacity`](MemoryDedup::capacity) pushes, each for
/// [`ttl`](MemoryDedup::ttl) after its first delivery; when full, the
/// oldest is forgotten first. One lock guards a lookup or an update, never
/// your closure.
///
/// Share one between handlers with an `Arc` (a handler's clones share
/// their store anyway).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use weixin::{Claim, DedupStore, ManualClock, MemoryDedup};
///
/// let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
/// let store = MemoryDedup::new().clock(clock.clock());
/// assert_eq!(store.claim("k")?, Claim::First);
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(store.claim("k")?, Claim::Running);
/// clock.advance(Duration::from_secs(1)); // a minute after the first delivery
/// assert_eq!(store.claim("k")?, Claim::First);
/// # Ok::<(), weixin::Error>(())
/// ```
#[derive(Debug)]
pub struct MemoryDedup {
    ttl: Duration,
    capacity: usize,
    clock: Clock,
    entries: Mutex<Entries>,
}

/// The keys, and the order they were claimed in (which is the order they
/// expire in: one lifetime for all, on a clock that does not go back).
#[derive(Debug, Default)]
struct Entries {
    keys: HashMap<String, Entry>,
    /// Claims, oldest first; a claim whose key was let go or claimed again
    /// since is stale (its `seq` is not the key's) and skipped.
    order: VecDeque<(u64, String)>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry {
    seq: u64,
    /// Unix milliseconds.
    expires: u64,
    /// `None` while the first delivery runs.
    answer: Option<String>,
}

impl MemoryDedup {
    /// An empty store.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Claim, DedupStore, MemoryDedup};
    ///
    /// assert_eq!(MemoryDedup::new().claim("k")?, Claim::First);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn new() -> MemoryDedup {
        MemoryDedup {
            ttl: DEDUP_TTL,
            capacity: 10_000,
            clock: Clock::system(),
            entries: Mutex::new(Entries::default()),
        }
    }

    /// How long a push is remembered after its first delivery. WeChat
    /// tries a push four times at most, 5 seconds apart.
    ///
    /// Defaults to 60 seconds.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::{Claim, DedupStore, ManualClock, MemoryDedup};
    ///
    /// let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    /// let store = MemoryDedup::new().ttl(Duration::from_secs(20)).clock(clock.clock());
    /// store.claim("k")?;
    /// clock.advance(Duration::from_secs(20));
    /// assert_eq!(store.claim("k")?, Claim::First);
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> MemoryDedup {
        self.ttl = ttl;
        self
    }

    /// The most pushes remembered at once (at least 1); when full, the
    /// oldest is forgotten to make room. Each holds its key and its
    /// answer (a reply, or `success`).
    ///
    /// Defaults to 10,000.
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{Claim, DedupStore, MemoryDedup};
    ///
    /// let store = MemoryDedup::new().capacity(2);
    /// for key in ["a", "b", "c"] {
    ///     assert_eq!(store.claim(key)?, Claim::First);
    /// }
    /// assert_eq!(store.len(), 2);
    /// assert_eq!(store.claim("a")?, Claim::First); // "a" was forgotten for "c"
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn capacity(mut self, capacity: usize) -> MemoryDedup {
        self.capacity = capacity.max(1);
        self
    }

    /// The clock expiry is read from; a [`ManualClock`](crate::ManualClock)
    /// in tests.
    ///
    /// Defaults to the system clock.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use weixin::{ManualClock, MemoryDedup};
    ///
    /// let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
    /// let store = MemoryDedup::new().clock(clock.clock());
    /// assert!(format!("{store:?}").contains("Clock::manual"));
    /// ```
    pub fn clock(mut self, clock: Clock) -> MemoryDedup {
        self.clock = clock;
        self
    }

    /// How many pushes are remembered now (forgotten ones may count until
    /// the next claim).
    ///
    /// # Example
    ///
    /// ```
    /// use weixin::{DedupStore, MemoryDedup};
    ///
    /// let store = MemoryDedup::new();
    /// store.claim("k")?;
    /// assert_eq!(store.len(), 1);
    /// store.release("k")?;
    /// assert!(store.is_empty());
    /// # Ok::<(), weixin::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.entries.lock().keys.len()
    }

    /// Whether no push is remembered.
    ///
    /// # Example
    ///
    /// ```
    /// assert!(weixin::MemoryDedup::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for MemoryDedup {
    fn default() -> MemoryDedup {
        MemoryDedup::new()
    }
}

impl DedupStore for MemoryDedup {
    fn claim(&self, key: &str) -> Result<Claim> {
        let now = self.clock.unix_millis();
        let mut entries = self.entries.lock();
        entries.forget_expired(now);
        if let Some(entry) = entries.keys.get(key).filter(|e| e.expires > now) {
            return Ok(match &entry.answer {
                None => Claim::Running,
                Some(answer) => Claim::Answered(answer.clone()),
            });
        }
        while entries.keys.len() >= self.capacity && entries.forget_oldest() {}
        let seq = entries.next_seq;
        entries.next_seq += 1;
        let expires = now.saturating_add(millis(self.ttl));
        entries.keys.insert(
            key.to_string(),
            Entry {
                seq,
                expires,
                answer: None,
            },
        );
        entries.order.push_back((seq, key.to_string()));
        entries.compact(self.capacity);
        Ok(Claim::First)
    }

    fn finish(&self, key: &str, answer: &str) -> Result<()> {
        // A claim forgotten meanwhile (full, expired) stays forgotten.
        if let Some(entry) = self.entries.lock().keys.get_mut(key) {
            entry.answer = Some(answer.to_string());
        }
        Ok(())
    }

    fn release(&self, key: &str) -> Result<()> {
        let mut entries = self.entries.lock();
        if entries.keys.get(key).is_some_and(|e| e.answer.is_none()) {
            entries.keys.remove(key);
        }
        Ok(())
    }
}

impl Entries {
    /// Whether `(seq, key)` is the claim `key` holds now.
    fn is_live(&self, seq: u64, key: &str) -> bool {
        self.keys.get(key).is_some_and(|e| e.seq == seq)
    }

    /// Forgets the claims expired at `now`, oldest first.
    fn forget_expired(&mut self, now: u64) {
        while let Some((seq, key)) = self.order.front() {
            match self.keys.get(key.as_str()) {
                Some(entry) if entry.seq == *seq => {
                    if entry.expires > now {
                        return;
                    }
                    self.keys.remove(key.as_str());
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Forgets the oldest claim; false when there is none.
    fn forget_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.order.pop_front() {
            if self.is_live(seq, &key) {
                self.keys.remove(&key);
                return true;
            }
        }
        false
    }

    /// Drops stale claims once they are as many as the live ones, so that
    /// keys let go of cannot grow the queue without bound.
    fn compact(&mut self, capacity: usize) {
        if self.order.len() > capacity.saturating_mul(2) {
            let order = std::mem::take(&mut self.order);
            self.order = order
                .into_iter()
                .filter(|(seq, key)| self.is_live(*seq, key))
                .collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn store(capacity: usize) -> (MemoryDedup, ManualClock) {
        let clock = ManualClock::new(Duration::from_secs(1_700_000_000));
        let store = MemoryDedup::new().capacity(capacity).clock(clock.clock());
        (store, clock)
    }

    #[test]
    fn a_claim_runs_then_answers_then_expires_a_ttl_after_it_was_made() {
        let (store, clock) = store(10);
        assert_eq!(store.claim("k").unwrap(), Claim::First);
        clock.advance(Duration::from_secs(30));
        assert_eq!(store.claim("k").unwrap(), Claim::Running);
        store.finish("k", "a").unwrap();
        clock.advance(Duration::from_millis(29_999));
        assert_eq!(store.claim("k").unwrap(), Claim::Answered("a".into()));
        clock.advance(Duration::from_millis(1));
        assert_eq!(store.claim("k").unwrap(), Claim::First);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn release_lets_go_of_a_running_claim_only() {
        let (store, _) = store(10);
        store.claim("run").unwrap();
        store.release("run").unwrap();
        assert_eq!(store.claim("run").unwrap(), Claim::First);
        store.claim("done").unwrap();
        store.finish("done", "a").unwrap();
        store.release("done").unwrap();
        assert_eq!(store.claim("done").unwrap(), Claim::Answered("a".into()));
    }

    #[test]
    fn full_it_forgets_the_oldest_and_stale_claims_do_not_pile_up() {
        let (store, _) = store(3);
        for key in ["a", "b", "c", "d"] {
            assert_eq!(store.claim(key).unwrap(), Claim::First);
        }
        assert_eq!(store.len(), 3);
        assert_eq!(store.claim("b").unwrap(), Claim::Running);
        // "a" went for "d"; taking "a" again pushes out "b", the oldest.
        assert_eq!(store.claim("a").unwrap(), Claim::First);
        assert_eq!(store.claim("c").unwrap(), Claim::Running);
        assert_eq!(store.claim("b").unwrap(), Claim::First);

        for _ in 0..100 {
            store.claim("x").unwrap();
            store.release("x").unwrap();
        }
        let entries = store.entries.lock();
        assert!(entries.order.len() <= 7, "{}", entries.order.len());
        assert_eq!(entries.keys.len(), 2);
    }

    #[test]
    fn a_finish_after_the_claim_was_forgotten_keeps_nothing() {
        let (store, clock) = store(10);
        store.claim("k").unwrap();
        clock.advance(DEDUP_TTL);
        assert_eq!(store.claim("other").unwrap(), Claim::First);
        store.finish("k", "late").unwrap();
        assert_eq!(store.claim("k").unwrap(), Claim::First);
    }
}
