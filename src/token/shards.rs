//! The token cache's maps: [`SHARDS`] tables, each behind its own
//! `parking_lot::Mutex` on a cache line of its own, and a key hashed once
//! for both the choice of table and the lookup in it.
//!
//! A shard holds two tables: the slots, which a hit reads, and the flights
//! under way for some keys, apart so that the slots stay small and the
//! flights table (almost always empty) costs a hit nothing. What a slot
//! and a flight are is the cache's business (`cache.rs`); here they are
//! type parameters. A slot carries its own key ([`Keyed`]): the cache keeps
//! it in the token's allocation, so that a hit compares the key where it
//! reads the token.

use std::hash::BuildHasher;

use foldhash::fast::RandomState;
use hashbrown::hash_table::Entry;
use hashbrown::HashTable;
use parking_lot::{Mutex, MutexGuard};

use crate::token::TokenKey;

/// How many tables the slots are spread over: enough that a few threads on
/// different keys seldom share a lock, few enough that an empty cache stays
/// small (4 KiB).
const SHARDS: usize = 32;

/// Which bits of a key's hash pick its shard: above those a table of up to
/// 2^48 buckets indexes with (the low bits) and below the 7 it compares
/// first (the top bits), so that keys in one shard still spread over all of
/// its buckets.
const SHARD_SHIFT: u32 = 48;

/// Every shard of a cache, and the one hasher for all of them.
pub(crate) struct Shards<S, F> {
    shards: Box<[Shard<S, F>]>,
    /// Seeded per cache, so keys an attacker might choose (authorizer
    /// appids) still cannot be made to collide.
    hasher: RandomState,
}

/// One shard's tables and their lock, alone on its cache line (two lines on
/// CPUs that fetch lines in pairs), so that locking one shard never slows
/// another.
#[repr(align(128))]
struct Shard<S, F>(Mutex<Tables<S, F>>);

/// A slot that knows the key it is for.
pub(crate) trait Keyed {
    /// Its key: `None` only for a slot never put in a table.
    fn key(&self) -> Option<&TokenKey>;
}

struct Tables<S, F> {
    slots: HashTable<S>,
    flights: HashTable<(TokenKey, F)>,
}

/// The locked shard of one key, and the key's hash: every lookup in it
/// goes to that key's entries without hashing again.
pub(crate) struct Locked<'a, S, F> {
    tables: MutexGuard<'a, Tables<S, F>>,
    hash: u64,
    key: &'a TokenKey,
    hasher: &'a RandomState,
}

impl<S: Keyed, F> Shards<S, F> {
    /// Empty shards.
    pub fn new() -> Shards<S, F> {
        Shards {
            shards: (0..SHARDS)
                .map(|_| {
                    Shard(Mutex::new(Tables {
                        slots: HashTable::new(),
                        flights: HashTable::new(),
                    }))
                })
                .collect(),
            hasher: RandomState::default(),
        }
    }

    /// The shard that holds `key`, locked.
    pub fn lock<'a>(&'a self, key: &'a TokenKey) -> Locked<'a, S, F> {
        let hash = self.hasher.hash_one(key);
        // ok because the remainder is below SHARDS, and u64 to usize only
        // drops high bits a remainder does not need
        let shard = ((hash >> SHARD_SHIFT) % SHARDS as u64) as usize;
        Locked {
            tables: self.shards[shard].0.lock(),
            hash,
            key,
            hasher: &self.hasher,
        }
    }

    /// How many slots there are, in all shards.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.0.lock().slots.len())
            .sum()
    }
}

impl<S: Keyed, F> Locked<'_, S, F> {
    /// The key this shard was locked for.
    pub fn key(&self) -> &TokenKey {
        self.key
    }

    /// The key's slot, if it has one.
    pub fn slot(&self) -> Option<&S> {
        let key = self.key;
        self.tables.slots.find(self.hash, |s| s.key() == Some(key))
    }

    /// The key's slot, if it has one, to change.
    pub fn slot_mut(&mut self) -> Option<&mut S> {
        let key = self.key;
        self.tables
            .slots
            .find_mut(self.hash, |s| s.key() == Some(key))
    }

    /// The key's slot, made by `new` from the key if missing.
    pub fn slot_or_insert_with(&mut self, new: impl FnOnce(&TokenKey) -> S) -> &mut S {
        let (key, hasher) = (self.key, self.hasher);
        // A slot in a table always has its key (`Keyed`): 0 is never
        // hashed.
        let rehash = |s: &S| s.key().map_or(0, |k| hasher.hash_one(k));
        let entry = self
            .tables
            .slots
            .entry(self.hash, |s| s.key() == Some(key), rehash);
        match entry {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(new(key)).into_mut(),
        }
    }

    /// The key's flight under way, if any. The flights table is almost
    /// always empty, and an empty one is not searched: a hit pays nothing
    /// for it.
    pub fn flight(&self) -> Option<&F> {
        let key = self.key;
        if self.tables.flights.is_empty() {
            return None;
        }
        self.tables
            .flights
            .find(self.hash, |(k, _)| k == key)
            .map(|(_, flight)| flight)
    }

    /// Records `flight` as the key's flight; the caller has checked that
    /// it had none.
    pub fn start_flight(&mut self, flight: F) {
        let hasher = self.hasher;
        self.tables
            .flights
            .insert_unique(self.hash, (self.key.clone(), flight), |(k, _)| {
                hasher.hash_one(k)
            });
    }

    /// Removes the key's flight, if it has one.
    pub fn end_flight(&mut self) {
        let key = self.key;
        if let Ok(entry) = self.tables.flights.find_entry(self.hash, |(k, _)| k == key) {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Keyed for (TokenKey, u64) {
        fn key(&self) -> Option<&TokenKey> {
            Some(&self.0)
        }
    }

    fn key(i: usize) -> TokenKey {
        TokenKey::access_token("wx0123456789abcdef").for_authorizer(&format!("wx{i:016x}"))
    }

    #[test]
    fn keys_spread_over_every_shard_and_are_found_again() {
        let shards: Shards<(TokenKey, u64), &str> = Shards::new();
        let keys: Vec<TokenKey> = (0..10_000).map(key).collect();
        for (i, key) in keys.iter().enumerate() {
            let mut locked = shards.lock(key);
            assert!(locked.slot().is_none());
            locked.slot_or_insert_with(|k| (k.clone(), 0)).1 = i as u64;
        }
        assert_eq!(shards.len(), keys.len());
        let per_shard: Vec<usize> = shards
            .shards
            .iter()
            .map(|s| s.0.lock().slots.len())
            .collect();
        // 312.5 a shard on average; a bad choice of bits would leave
        // shards empty or overfull.
        assert!(
            per_shard.iter().all(|&n| (200..450).contains(&n)),
            "{per_shard:?}"
        );
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(shards.lock(key).slot(), Some(&(key.clone(), i as u64)));
        }
        assert!(shards.lock(&key(10_000)).slot().is_none());
    }

    #[test]
    fn a_flight_is_the_keys_alone_until_it_ends() {
        let shards: Shards<(TokenKey, u64), &str> = Shards::new();
        let (a, b) = (key(1), key(2));
        shards.lock(&a).start_flight("a");
        assert_eq!(shards.lock(&a).flight(), Some(&"a"));
        assert_eq!(shards.lock(&b).flight(), None);
        assert_eq!(shards.lock(&a).slot(), None, "a flight makes no slot");
        shards.lock(&a).end_flight();
        assert_eq!(shards.lock(&a).flight(), None);
        shards.lock(&b).end_flight();
        assert_eq!(shards.len(), 0);
    }
}
