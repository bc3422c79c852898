//! A third-party platform with 100,000 authorizers: cached lookup time with
//! that many keys visited in a scattered order (1 thread, and 2 threads on
//! different keys), and the memory each cached token costs.
//!
//! A hit among that many keys misses the CPU cache: the cache keeps a
//! key's token, key and lifetime in one allocation, so a hit waits for one
//! line from memory (after its table's, which is small). In the same run,
//! floors that show what the machine allows for the same keys, the very
//! tokens the cache holds and the same order:
//! - one load that depends on the one before, over the cache's span: the
//!   least a hit can cost;
//! - the key read from this bench's array and hashed, which every lookup
//!   here pays before it reaches a map;
//! - maps that keep the key beside the token in their table, as the cache
//!   did before: a bare `HashMap` with the cache's hasher and no lock (a
//!   lookup alone, and a lookup that clones the token, which waits for a
//!   second line), the same behind one mutex, over 32 mutexes, and that
//!   with the precise time read before the lookup and after it (an ordered
//!   TSC read waits for every load before it, so lookups cannot overlap;
//!   the cache reads the coarse clock);
//! - hashbrown tables hashed once for shard and table, as the cache's, but
//!   with the key beside the token in the table (56-byte entries): the
//!   slot alone, and the token cloned after the coarse clock.
//!
//! `cargo bench --bench scale`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use parking_lot::Mutex;
use std::collections::HashMap;
use weixin::{Client, Token, TokenKey};

mod common;
use common::authorizers::{authorizer_key, scattered_order, Minted, AUTHORIZERS};

/// Counts the bytes live on the heap: as requested, and as glibc's malloc
/// holds them (a chunk of at least 32 bytes, the request plus an 8-byte
/// header rounded up to 16).
struct Counting;

static REQUESTED: AtomicUsize = AtomicUsize::new(0);
static CHUNKS: AtomicUsize = AtomicUsize::new(0);

fn chunk(size: usize) -> usize {
    ((size + 8).div_ceil(16) * 16).max(32)
}

// ok because every call is forwarded to the system allocator unchanged;
// the counters are only read by the memory figure.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        REQUESTED.fetch_add(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_add(chunk(layout.size()), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        REQUESTED.fetch_sub(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REQUESTED.fetch_sub(layout.size(), Ordering::Relaxed);
        CHUNKS.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        REQUESTED.fetch_add(new_size, Ordering::Relaxed);
        CHUNKS.fetch_add(chunk(new_size), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Resident memory of this process in bytes (Linux).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn scale(c: &mut Criterion) {
    let client = Client::builder()
        .appid("wx_component")
        .token_source(Minted)
        .build()
        .unwrap();
    let (rss, requested, chunks) = (
        resident_bytes(),
        REQUESTED.load(Ordering::SeqCst),
        CHUNKS.load(Ordering::SeqCst),
    );
    // Each key is built for its call and dropped after it, as a server's
    // would be: what stays is what the cache keeps.
    for i in 0..AUTHORIZERS {
        client.token(&authorizer_key(i)).unwrap();
    }
    let per_entry = |before: usize, after: usize| after.saturating_sub(before) / AUTHORIZERS;
    eprintln!(
        "scale: {AUTHORIZERS} cached authorizer tokens (150-character values) cost per entry: \
         {} bytes requested, {} bytes in malloc chunks, {} bytes of resident memory",
        per_entry(requested, REQUESTED.load(Ordering::SeqCst)),
        per_entry(chunks, CHUNKS.load(Ordering::SeqCst)),
        per_entry(rss, resident_bytes()),
    );
    let keys: Vec<TokenKey> = (0..AUTHORIZERS).map(authorizer_key).collect();
    let order = scattered_order();
    floors(c, &keys, &order, &client);
    let mut group = c.benchmark_group("cached_token");
    let scattered = &mut Scattered {
        keys: &keys,
        order: &order,
        n: 0,
    };
    lookups(&mut group, "100k_authorizers", scattered, |key| {
        client.token(key).unwrap()
    });
    // Two threads, each on its own half of the keys, in the same scattered
    // order: the time per lookup as each thread saw it.
    group.bench_function("100k_authorizers_2_threads", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for half in 0..2 {
                    let (client, keys, order) = (&client, &keys, &order);
                    s.spawn(move || {
                        for i in 0..iters as usize {
                            let k = order[i % (AUTHORIZERS / 2)] / 2 * 2 + half;
                            black_box(client.token(&keys[k]).unwrap());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

/// A map keyed as the cache's, with its hasher.
type Map<V> = HashMap<TokenKey, V, RandomState>;

/// A token and one number, as the cache's slot holds.
type SlotSized = (Option<Token>, u64);

/// The keys, one per call of [`Scattered::next`], in the scattered order.
struct Scattered<'a> {
    keys: &'a [TokenKey],
    order: &'a [usize],
    n: usize,
}

impl Scattered<'_> {
    fn next(&mut self) -> &TokenKey {
        self.n = (self.n + 1) % AUTHORIZERS;
        &self.keys[self.order[self.n]]
    }
}

/// Benchmarks `lookup` of one key after another.
fn lookups<T>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    keys: &mut Scattered<'_>,
    mut lookup: impl FnMut(&TokenKey) -> T,
) {
    group.bench_function(name, |b| b.iter(|| black_box(lookup(keys.next()))));
}

/// The same lookups with nothing of the cache around them.
fn floors(c: &mut Criterion, keys: &[TokenKey], order: &[usize], client: &Client) {
    let mut map: Map<Token> = HashMap::default();
    for key in keys {
        map.insert(key.clone(), client.token(key).unwrap());
    }
    let mut group = c.benchmark_group("floor_100k");
    // One load that depends on the one before, from 100,000 lines 256
    // bytes apart (the cache's span: a token's allocation and its value
    // for each key) in a random cycle: the least a hit can cost, one miss
    // to the token's allocation.
    let chase = chase_cycle(AUTHORIZERS, 64);
    let mut at = 0;
    group.bench_function("one_dependent_load_in_26MB", |b| {
        b.iter(|| {
            at = chase[at] as usize;
            black_box(at)
        })
    });
    let keys = &mut Scattered { keys, order, n: 0 };
    // What every lookup here pays before it reaches any map: the key read
    // from this bench's 4 MB array, in the scattered order, and hashed.
    let hasher = RandomState::default();
    lookups(&mut group, "key_read_and_hashed", keys, |key| {
        hasher.hash_one(key)
    });
    lookups(&mut group, "hashmap_get_no_clone", keys, |key| {
        map.contains_key(key)
    });
    lookups(&mut group, "hashmap_get_clone", keys, |key| {
        map.get(key).cloned()
    });
    let locked = Mutex::new(map);
    lookups(&mut group, "mutex_hashmap_get_clone", keys, |key| {
        locked.lock().get(key).cloned()
    });
    let spread = RandomState::default();
    let shard = |key: &TokenKey| (spread.hash_one(key) % 32) as usize;
    let shards: Vec<Mutex<Map<Token>>> = (0..32).map(|_| Mutex::default()).collect();
    for (key, token) in locked.into_inner() {
        shards[shard(&key)].lock().insert(key, token);
    }
    lookups(&mut group, "32_mutexes_get_clone", keys, |key| {
        shards[shard(key)].lock().get(key).cloned()
    });
    // The same with the time read (the cache reads it to check freshness),
    // before the lookup and after it.
    lookups(&mut group, "32_mutexes_clock_then_get_clone", keys, |key| {
        let now = SystemTime::now();
        (now, shards[shard(key)].lock().get(key).cloned())
    });
    lookups(&mut group, "32_mutexes_get_clock_clone", keys, |key| {
        let shard = shards[shard(key)].lock();
        let token = shard.get(key);
        (SystemTime::now(), token.cloned())
    });
    // And hashbrown tables hashed once for the shard and the table, as the
    // cache's, with the key beside the token and one number.
    let tables: Vec<Mutex<HashTable<(TokenKey, SlotSized)>>> =
        (0..32).map(|_| Mutex::new(HashTable::new())).collect();
    let locate = |key: &TokenKey| {
        let hash = hasher.hash_one(key);
        (hash, &tables[((hash >> 48) % 32) as usize])
    };
    for shard_map in shards {
        for (key, token) in shard_map.into_inner() {
            let (hash, table) = locate(&key);
            table
                .lock()
                .insert_unique(hash, (key, (Some(token), 0)), |(k, _)| hasher.hash_one(k));
        }
    }
    lookups(&mut group, "hash_once_tables_get_slot", keys, |key| {
        let (hash, table) = locate(key);
        let table = table.lock();
        table.find(hash, |(k, _)| k == key).map(|(_, slot)| slot.1)
    });
    lookups(
        &mut group,
        "hash_once_tables_get_coarse_clock_clone",
        keys,
        |key| {
            let (hash, table) = locate(key);
            let table = table.lock();
            let slot = table.find(hash, |(k, _)| k == key);
            (coarse_now(), slot.and_then(|(_, s)| s.0.clone()))
        },
    );
    group.finish();
}

/// `lines` places `stride` u32s apart, each holding the index of the next
/// in one random cycle through all of them.
fn chase_cycle(lines: usize, stride: usize) -> Vec<u32> {
    let mut order: Vec<usize> = (0..lines).collect();
    // Fisher-Yates with xorshift: any fixed shuffle does.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..lines).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut next = vec![0u32; lines * stride];
    for (i, &line) in order.iter().enumerate() {
        next[line * stride] = (order[(i + 1) % lines] * stride) as u32;
    }
    next
}

/// The coarse realtime clock, as the cache reads it on a hit.
#[cfg(target_os = "linux")]
fn coarse_now() -> rustix::time::Timespec {
    rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse)
}

/// Elsewhere the cache reads std's clock.
#[cfg(not(target_os = "linux"))]
fn coarse_now() -> SystemTime {
    SystemTime::now()
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = scale
}
criterion_main!(benches);
