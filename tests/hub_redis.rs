//! Hubs sharing Redis: the store's lock and keys against a real Redis,
//! three `wechat-hub` processes under load while WeChat invalidates the
//! token and one hub dies, and a Redis that goes away and comes back. Each
//! test but the last runs on the single Redis and on the test cluster
//! (`common::cluster`).
//!
//! These tests need Redis at 127.0.0.1:6379 (`.ci/redis.sh` starts it) and
//! fail, never skip, without it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use weixin::store::{RedisStore, Store, StoreSource};
use weixin::testing::RedisNode;
use weixin::{Client, ErrorKind, HubSource, SecretSource, Token, TokenKey};

use crate::common::cluster::{each, Topology};
use crate::common::process::{self, HubProcess, SECRET_ENV};
use crate::common::{self, APPID};

/// A store on `topology` under a prefix of this test's own.
fn shared_redis(topology: Topology, name: &str) -> (RedisStore, String) {
    let prefix = process::unique_prefix(name);
    (topology.open(&prefix), prefix)
}

fn redis_config(upstream: &str, url: &str, prefix: &str) -> String {
    let store = format!("[store]\nkind = \"redis\"\nurl = \"{url}\"\nprefix = \"{prefix}\"");
    process::config(upstream, &store, "")
}

#[test]
fn redis_lock_is_exclusive_owned_and_expires() {
    each(lock_is_exclusive_owned_and_expires);
}

fn lock_is_exclusive_owned_and_expires(topology: Topology) {
    let (store, _) = shared_redis(topology, "lock");
    let key = TokenKey::access_token(APPID);
    let guard = store.lock(&key, Duration::from_secs(30)).unwrap();
    assert!(guard.is_some());
    assert!(store.lock(&key, Duration::from_secs(30)).unwrap().is_none());
    drop(guard);
    let short = store
        .lock(&key, Duration::from_millis(50))
        .unwrap()
        .unwrap();
    process::wait_until("the lock expires", || {
        store
            .lock(&key, Duration::from_millis(1))
            .unwrap()
            .is_some()
    });
    let successor = store.lock(&key, Duration::from_secs(30)).unwrap().unwrap();
    // The expired holder's release must not free its successor's lock.
    drop(short);
    assert!(store.lock(&key, Duration::from_secs(30)).unwrap().is_none());
    drop(successor);

    store.put_token(&key, &Token::new("T", 7200)).unwrap();
    assert_eq!(store.get_token(&key).unwrap().unwrap().expose(), "T");
    store.put_verify_ticket("wxc", &"V".into()).unwrap();
    store.put_refresh_token("wxc", "wxa", &"R".into()).unwrap();
    let authorizer = TokenKey::access_token("wxc").for_authorizer("wxa");
    store
        .put_token(&authorizer, &Token::new("A", 7200))
        .unwrap();
    assert_eq!(
        store.get_verify_ticket("wxc").unwrap().unwrap().expose(),
        "V"
    );
    store.remove_authorizer("wxc", "wxa").unwrap();
    assert!(store.get_refresh_token("wxc", "wxa").unwrap().is_none());
    assert!(store.get_token(&authorizer).unwrap().is_none());
    // Another prefix sees none of it.
    let (other, _) = shared_redis(topology, "lock-other");
    assert!(other.get_token(&key).unwrap().is_none());
}

#[test]
fn processes_share_tokens_through_redis_without_a_hub() {
    each(processes_share_tokens_without_a_hub);
}

fn processes_share_tokens_without_a_hub(topology: Topology) {
    // Two "processes" (clients with caches of their own) over one Redis:
    // the README's hub-less set-up.
    let fake = common::fake();
    let (_, prefix) = shared_redis(topology, "no_hub");
    let process = || {
        let store = topology.open(&prefix);
        Client::builder()
            .appid(APPID)
            .base_url(fake.url())
            .token_source(StoreSource::new(
                store,
                SecretSource::new(APPID, common::SECRET),
            ))
            .build()
            .unwrap()
    };
    let (a, b) = (process(), process());
    a.request("/cgi-bin/a").unwrap();
    b.request("/cgi-bin/b").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 1, "one token for both");
    assert_eq!(
        a.token(&TokenKey::access_token(APPID)).unwrap(),
        b.token(&TokenKey::access_token(APPID)).unwrap()
    );

    // WeChat revokes it: both recover with one new token between them.
    fake.invalidate_current(APPID);
    a.request("/cgi-bin/a").unwrap();
    b.request("/cgi-bin/b").unwrap();
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

pub(crate) fn client_of(fake: &weixin::testing::FakeWechat, url: &str) -> Client {
    common::builder(fake)
        .token_source(HubSource::new(url).unwrap())
        .build()
        .unwrap()
}

/// 64 client threads over three hub processes sharing one Redis; WeChat
/// invalidates the token 5 times (one hub is killed after the third):
/// exactly 5 upstream refreshes and no failed call on the live hubs.
#[test]
fn three_hubs_share_redis_five_invalidations_one_hub_killed() {
    each(three_hubs_five_invalidations_one_hub_killed);
}

fn three_hubs_five_invalidations_one_hub_killed(topology: Topology) {
    const THREADS: usize = 64;
    let fake = common::fake();
    // Widens the window in which hubs race for the refresh.
    fake.delay("/cgi-bin/token", Duration::from_millis(30));
    let (_, prefix) = shared_redis(topology, "three");
    let dir = process::temp_dir("three");
    // Five invalidations in quick succession are a storm to the default
    // refresh limit; this test is about sharing, so it allows them.
    let config = process::config(&fake.url(), &topology.config(&prefix), "")
        .replace("workers = 24\n", "workers = 24\nrefresh_burst = 8\n");
    let mut hubs: Vec<HubProcess> = (0..3)
        .map(|i| {
            let dir = dir.join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            HubProcess::start(&dir, &config, &[SECRET_ENV])
        })
        .collect();
    let urls: Vec<String> = hubs.iter().map(|h| h.url.clone()).collect();
    let clients: Vec<Client> = (0..THREADS)
        .map(|i| client_of(&fake, &urls[i % 3]))
        .collect();

    let killed = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let done: Vec<AtomicUsize> = (0..THREADS).map(|_| AtomicUsize::new(0)).collect();
    let failures = AtomicUsize::new(0);
    let live = |i: usize| i % 3 != 0 || !killed.load(Ordering::SeqCst);
    std::thread::scope(|s| {
        for (i, (client, done)) in clients.iter().zip(&done).enumerate() {
            let (stop, failures, killed) = (&stop, &failures, &killed);
            s.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if i % 3 == 0 && killed.load(Ordering::SeqCst) {
                        return; // its hub is gone
                    }
                    match client.request("/cgi-bin/loop") {
                        Ok(_) => {}
                        // A call in flight to the hub being killed.
                        Err(_) if i % 3 == 0 && killed.load(Ordering::SeqCst) => return,
                        Err(e) => {
                            eprintln!("client {i} (hub {}): {e}", i % 3);
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        // Before each invalidation every live thread has finished a call
        // that started after the previous refresh, so none holds a token
        // two generations old.
        let every_live_thread_moves_on = || {
            let seen: Vec<usize> = done.iter().map(|d| d.load(Ordering::SeqCst)).collect();
            process::wait_until("every live client thread calls twice", || {
                (0..THREADS).all(|i| !live(i) || done[i].load(Ordering::SeqCst) >= seen[i] + 2)
            });
        };
        every_live_thread_moves_on();
        for round in 1..=5 {
            assert!(fake.invalidate_current(APPID) >= 1);
            process::wait_until("the refresh", || fake.count("/cgi-bin/token") == 1 + round);
            every_live_thread_moves_on();
            if round == 3 {
                killed.store(true, Ordering::SeqCst);
                hubs[0].kill();
                every_live_thread_moves_on();
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no failed call on live hubs"
    );
    assert_eq!(
        fake.count("/cgi-bin/token"),
        6,
        "1 fetch + exactly 5 refreshes across three hubs"
    );
    // Clients reported stale tokens to the live hubs (their logs are read
    // on other threads, so wait for the lines rather than race them).
    process::wait_until("refresh log lines on the live hubs", || {
        hubs[1..]
            .iter()
            .map(|h| h.logs().matches("POST /refresh/access_token 200").count())
            .sum::<usize>()
            >= 5
    });
}

/// Redis goes away: the hub answers a clear store error (and calls
/// WeChat for nothing); Redis comes back: the hub works again.
#[test]
fn redis_down_is_a_clear_error_and_the_hub_recovers() {
    // The shared Redis must be up for the suite, even if this test runs
    // its own.
    shared_redis(Topology::Single, "down-check");
    let fake = common::fake();
    let mut redis = RedisNode::start(RedisNode::standalone_args).expect("start redis-server");
    let port = redis.port();
    let url = format!("redis://127.0.0.1:{port}/");
    let dir = process::temp_dir("down");
    let hub = HubProcess::start(
        &dir,
        &redis_config(&fake.url(), &url, "down:"),
        &[SECRET_ENV],
    );
    let key = TokenKey::access_token(APPID);
    let token = client_of(&fake, &hub.url).token(&key).unwrap();

    redis.kill();
    // A fresh client's refresh must reach Redis (the hub's own cache
    // cannot answer a compare-and-swap).
    let err = client_of(&fake, &hub.url)
        .refreshed_token(&key, &token)
        .unwrap_err();
    match err.kind() {
        ErrorKind::Hub {
            reason,
            message,
            status,
            ..
        } => {
            assert_eq!((reason.as_str(), *status), ("store_unavailable", 503));
            assert!(
                message.contains(&format!("redis at 127.0.0.1:{port}")),
                "{message}"
            );
        }
        other => panic!("expected a hub store error, got {other:?}"),
    }
    assert_eq!(fake.count("/cgi-bin/token"), 1, "no token quota wasted");

    redis
        .restart(RedisNode::standalone_args)
        .expect("restart redis-server");
    let fresh = client_of(&fake, &hub.url)
        .refreshed_token(&key, &token)
        .unwrap();
    assert_ne!(fresh.expose(), token.expose());
    assert_eq!(fake.count("/cgi-bin/token"), 2);
    hub.wait_for_log("POST /refresh/access_token 503");
}

/// Whether WeChat (the fake) accepts `token` for an ordinary call.
pub(crate) fn accepted(fake: &weixin::testing::FakeWechat, token: &Token) -> bool {
    let url = format!(
        "{}/cgi-bin/get_api_domain_ip?access_token={}",
        fake.url(),
        token.expose()
    );
    let text = ureq::get(&url)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    body["errcode"] == 0
}

/// Two `wechat-hub` processes on one Redis, with `extra` config lines.
fn two_replicas(
    topology: Topology,
    fake: &weixin::testing::FakeWechat,
    name: &str,
    extra: &str,
) -> Vec<HubProcess> {
    let (_, prefix) = shared_redis(topology, name);
    let dir = process::temp_dir(name);
    let config = process::config(&fake.url(), &topology.config(&prefix), "")
        .replace("workers = 24\n", &format!("workers = 24\n{extra}\n"));
    (0..2)
        .map(|i| {
            let dir = dir.join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            HubProcess::start(&dir, &config, &[SECRET_ENV])
        })
        .collect()
}

/// The chaos run's livelock: two replicas on one Redis, refreshes
/// alternating between them, each reporting the token the other just
/// answered while the other still has the first token in its own cache.
/// Every answer must be a token WeChat accepts, with one upstream call per
/// invalidation.
#[test]
fn two_replicas_answer_refreshes_from_the_store_never_a_rejected_token() {
    each(two_replicas_never_answer_a_rejected_token);
}

fn two_replicas_never_answer_a_rejected_token(topology: Topology) {
    let fake = common::fake();
    let hubs = two_replicas(topology, &fake, "two", "refresh_burst = 10");
    let key = TokenKey::access_token(APPID);
    // A client of its own per call, so no client cache stands in between.
    let ask = |hub: &HubProcess| client_of(&fake, &hub.url).token(&key).unwrap();
    let mut current = ask(&hubs[0]);
    assert_eq!(ask(&hubs[1]), current, "both serve the first token");
    for round in 1..=6 {
        assert_eq!(fake.invalidate_current(APPID), 1);
        let fresh = client_of(&fake, &hubs[round % 2].url)
            .refreshed_token(&key, &current)
            .unwrap();
        assert_ne!(fresh.expose(), current.expose(), "round {round}");
        assert!(accepted(&fake, &fresh), "round {round}: a rejected token");
        assert_eq!(fake.count("/cgi-bin/token"), 1 + round, "round {round}");
        current = fresh;
    }
}

/// With a staleness bound of 0 a replica reads the store on every request:
/// right after one replica refreshes, the other serves the new token.
#[test]
fn a_replica_serves_what_the_store_holds_within_its_bound() {
    each(a_replica_serves_the_store_within_its_bound);
}

fn a_replica_serves_the_store_within_its_bound(topology: Topology) {
    let fake = common::fake();
    let hubs = two_replicas(topology, &fake, "bound", "max_staleness_ms = 0");
    let key = TokenKey::access_token(APPID);
    let ask = |hub: &HubProcess| client_of(&fake, &hub.url).token(&key).unwrap();
    let first = ask(&hubs[0]);
    assert_eq!(ask(&hubs[1]), first);
    fake.invalidate_current(APPID);
    let fresh = client_of(&fake, &hubs[0].url)
        .refreshed_token(&key, &first)
        .unwrap();
    assert_ne!(fresh, first);
    assert_eq!(ask(&hubs[1]), fresh, "the other replica serves the store's");
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

/// A refresh lock lives one lease in Redis, renewed while its holder is
/// alive: a hub killed in the middle of a refresh blocks the others for at
/// most that lease, not the lock's whole ttl.
#[test]
fn a_redis_lock_lives_one_lease_and_is_renewed_while_held() {
    each(a_lock_lives_one_lease_and_is_renewed_while_held);
}

fn a_lock_lives_one_lease_and_is_renewed_while_held(topology: Topology) {
    let (store, prefix) = shared_redis(topology, "lease");
    let store = store.lock_lease(Duration::from_millis(900));
    let key = TokenKey::access_token(APPID);
    let guard = store.lock(&key, Duration::from_secs(60)).unwrap().unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{prefix}lock:access_token:{{{APPID}}}"))
        .query(&mut *topology.connection())
        .unwrap();
    assert!(pttl > 0 && pttl <= 900, "the lock lives {pttl} ms in Redis");
    // Three leases later it is still held: its holder renews it (every
    // 300 ms; the lease is long enough that a renewer thread delayed by a
    // loaded machine still renews in time).
    let other = topology.open(&prefix);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2700) {
        assert!(other.lock(&key, Duration::from_secs(60)).unwrap().is_none());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(guard);
    assert!(other.lock(&key, Duration::from_secs(60)).unwrap().is_some());
}
