//! Cached lookups at 100,000 authorizer keys in a scattered order, for a
//! profiler and for quick A/B timing: `Client::token`, and floors built of
//! the same keys and the very same tokens in 32 mutex-guarded maps, each
//! run through one function that callgrind can count.
//!
//! ```text
//! cargo build --release --example profile_lookup
//! target/release/examples/profile_lookup 3000000 cache
//! valgrind --tool=callgrind --toggle-collect='*profile_lookup::lookups*' \
//!     target/release/examples/profile_lookup 200000 cache
//! ```
//!
//! The first argument is the number of lookups, the second what a lookup
//! is:
//! - `cache`: `Client::token`;
//! - `cache_2_threads`: the same on two threads, each on half the keys;
//! - `floor`: the key's map locked, its token cloned (what a hit must do);
//! - `floor_read`: the same, reading a byte of the token instead of
//!   cloning it (the load without the atomic increment);
//! - `floor_slot`: the same, touching the slot only, not the token.
//!
//! It prints the time a lookup took. Timing is only worth comparing within
//! one run of several, alternated: `benches/scale.rs` does it properly.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::time::Instant;

use foldhash::fast::RandomState;
use parking_lot::Mutex;
use weixin::{Client, Token, TokenKey};

#[path = "../benches/common/mod.rs"]
mod common;
use common::authorizers::{authorizer_key, scattered_order, Minted, AUTHORIZERS};

const SHARDS: usize = 32;

/// One of the floor's maps: a token and one number per key, as the cache's
/// slots.
type Shard = Mutex<HashMap<TokenKey, (Option<Token>, u64), RandomState>>;

/// `n` lookups, one key after another in the scattered `order`.
#[inline(never)]
fn lookups<T>(n: usize, keys: &[TokenKey], order: &[usize], lookup: impl Fn(&TokenKey) -> T) {
    for i in 0..n {
        black_box(lookup(&keys[order[i % AUTHORIZERS]]));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let what = args.next().unwrap_or_else(|| "cache".into());
    let client = Client::builder()
        .appid("wx_component")
        .token_source(Minted)
        .build()
        .expect("a client with a source builds");
    let keys: Vec<TokenKey> = (0..AUTHORIZERS).map(authorizer_key).collect();
    let token = |key: &TokenKey| client.token(key).expect("Minted never fails");
    for key in &keys {
        token(key);
    }
    let order = scattered_order();
    let spread = RandomState::default();
    let shard = |key: &TokenKey| (spread.hash_one(key) % SHARDS as u64) as usize;
    let shards: Vec<Shard> = (0..SHARDS).map(|_| Mutex::default()).collect();
    if what != "cache" {
        for key in &keys {
            shards[shard(key)]
                .lock()
                .insert(key.clone(), (Some(token(key)), 0));
        }
    }
    let start = Instant::now();
    match what.as_str() {
        "cache" => lookups(n, &keys, &order, |key| client.token(key).ok()),
        // Two threads, each on its own half of the keys (even and odd) in
        // the same scattered order, `n` lookups each: the time printed is
        // per lookup as each thread saw it, as in benches/scale.rs.
        "cache_2_threads" => std::thread::scope(|s| {
            for half in 0..2 {
                let (client, keys, order) = (&client, &keys, &order);
                s.spawn(move || {
                    for i in 0..n {
                        let k = order[i % (AUTHORIZERS / 2)] / 2 * 2 + half;
                        black_box(client.token(&keys[k]).ok());
                    }
                });
            }
        }),
        "floor" => lookups(n, &keys, &order, |key| {
            shards[shard(key)].lock().get(key).and_then(|s| s.0.clone())
        }),
        "floor_read" => lookups(n, &keys, &order, |key| {
            let shard = shards[shard(key)].lock();
            let token = shard.get(key).and_then(|s| s.0.as_ref());
            token.map(|t| t.expose().as_bytes()[100])
        }),
        "floor_slot" => lookups(n, &keys, &order, |key| {
            shards[shard(key)].lock().get(key).map(|s| s.1)
        }),
        other => {
            eprintln!(
                "profile_lookup: unknown lookup {other:?}: cache, cache_2_threads, floor, \
                 floor_read or floor_slot"
            );
            std::process::exit(2);
        }
    }
    let elapsed = start.elapsed().as_nanos() as f64;
    println!("{what}: {:.1} ns a lookup", elapsed / n as f64);
}
