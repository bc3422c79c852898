//! A hub's token lifetimes: the seed's `expires_in` per hub and per
//! account, in the builder and in the binary's TOML; refreshing ahead of
//! expiry, by one replica of three on one Redis, spread over the margin
//! window that ends two upstream timeouts before the cut-off.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use weixin::hub::{HubHandler, HubRequest};
use weixin::testing::FakeWechat;
use weixin::{Clock, Context, ManualClock, Token, TokenKey, TokenSource};

use crate::common::process::{self, HubProcess, SECRET_ENV};
use crate::common::{self, APPID, SECRET};

const OTHER: &str = "wx_other_app";

/// The JSON body of a hub's answer to `GET target`, which must be a 200.
fn get(hub: &HubHandler, target: &str) -> Value {
    let answer = hub.handle(&HubRequest::new("GET", target));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    serde_json::from_slice(&answer.body).expect("json")
}

/// The JSON body of a GET over HTTP.
pub fn http_get(url: &str) -> Value {
    let text = ureq::get(url)
        .call()
        .expect("hub answers")
        .body_mut()
        .read_to_string()
        .expect("body");
    serde_json::from_str(&text).expect("json")
}

fn two_accounts() -> FakeWechat {
    let fake = common::fake();
    fake.register(OTHER, "SECRET_other");
    fake
}

#[test]
fn the_hub_and_account_expires_in_are_what_clients_are_told() {
    let fake = two_accounts();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .account(OTHER, "SECRET_other")
        .upstream(fake.url())
        .expires_in(Duration::from_secs(7000))
        .account_expires_in(OTHER, Duration::from_secs(600))
        .build()
        .unwrap();
    let token = get(&hub, &format!("/client/access_token?appid={APPID}"));
    assert_eq!(token["expires_in"], 7000);
    let ticket = get(&hub, &format!("/client/ticket?appid={APPID}&type=jsapi"));
    assert_eq!(ticket["expires_in"], 7000, "tickets follow it too");
    let other = get(&hub, &format!("/client/access_token?appid={OTHER}"));
    assert_eq!(other["expires_in"], 600, "the account's own wins");
    // What the store keeps is what clients are told: a second read is the
    // same token, from the store.
    let again = get(&hub, &format!("/client/access_token?appid={OTHER}"));
    assert_eq!(again, other);
    assert_eq!(fake.count("/cgi-bin/token"), 2);
}

#[test]
fn a_setting_longer_than_wechats_lifetime_does_not_lengthen_it() {
    let fake = common::fake();
    fake.set_token_lifetime(60);
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .expires_in(Duration::from_secs(7000))
        .build()
        .unwrap();
    let token = get(&hub, &format!("/client/access_token?appid={APPID}"));
    assert_eq!(token["expires_in"], 60);
}

#[test]
fn bad_lifetimes_are_refused_when_the_hub_is_built() {
    let base = || HubHandler::builder().account(APPID, SECRET);
    let zero = base().expires_in(Duration::from_millis(500)).build();
    assert!(
        zero.unwrap_err().to_string().contains("at least 1 second"),
        "under a second is no lifetime"
    );
    let unknown = base()
        .account_expires_in("wx_typo", Duration::from_secs(60))
        .build();
    let err = unknown.unwrap_err().to_string();
    assert!(
        err.contains("\"wx_typo\"") && err.contains("does not serve"),
        "{err}"
    );
}

#[test]
fn the_binary_reads_expires_in_from_its_toml_per_hub_and_per_account() {
    let fake = common::fake();
    let dir = process::temp_dir("lifetime");
    let config = process::config(
        &fake.url(),
        "[store]\nkind = \"memory\"",
        "expires_in_secs = 7000",
    );
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    let body = http_get(&format!("{}/client/access_token?appid={APPID}", hub.url));
    assert_eq!(body["expires_in"], 7000);
    drop(hub);

    let dir = process::temp_dir("lifetime_account");
    let config = format!("{config}expires_in_secs = 900\n");
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV]);
    let body = http_get(&format!("{}/client/access_token?appid={APPID}", hub.url));
    assert_eq!(body["expires_in"], 900, "the [[account]]'s own wins");
}

/// A token answer's `(access_token, timestamp, expires_in)`.
fn token_of(body: &Value) -> (String, u64, u64) {
    (
        body["access_token"].as_str().expect("token").to_string(),
        body["timestamp"].as_u64().expect("timestamp"),
        body["expires_in"].as_u64().expect("expires_in"),
    )
}

#[cfg(feature = "redis")]
#[test]
fn three_hubs_on_one_redis_refresh_ahead_once_per_lifetime_and_no_read_waits() {
    crate::common::cluster::each(three_hubs_refresh_ahead_once_per_lifetime);
}

#[cfg(feature = "redis")]
fn three_hubs_refresh_ahead_once_per_lifetime(topology: crate::common::cluster::Topology) {
    let fake = common::fake();
    fake.set_token_lifetime(60);
    let prefix = process::unique_prefix("ahead");
    let clock = ManualClock::starting_now();
    let hubs: Vec<HubHandler> = (0..3)
        .map(|_| {
            HubHandler::builder()
                .account(APPID, SECRET)
                .upstream(fake.url())
                .store(topology.open(&prefix))
                .clock(clock.clock())
                .refresh_ahead(None)
                .build()
                .unwrap()
        })
        .collect();
    let target = format!("/client/access_token?appid={APPID}");
    for hub in &hubs {
        get(hub, &target);
    }
    assert_eq!(
        fake.count("/cgi-bin/token"),
        1,
        "the first read fetches once"
    );

    // 64 readers across the three hubs for 300 s of fake time; every token
    // they get must be one the store still hands out at that time.
    let done = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let unusable = AtomicUsize::new(0);
    let mut refreshes = 0;
    let mut lineage: Vec<(String, u64)> = Vec::new();
    std::thread::scope(|s| {
        for i in 0..64 {
            let (hub, target, clock) = (&hubs[i % 3], &target, &clock);
            let (done, reads, unusable) = (&done, &reads, &unusable);
            s.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let now = clock.clock().unix_secs();
                    let (_, stamp, life) = token_of(&get(hub, target));
                    // Fresh: more than the margin (a tenth of 60 s) left.
                    if stamp + life - 6 <= now {
                        unusable.fetch_add(1, Ordering::Relaxed);
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                    std::thread::yield_now();
                }
            });
        }
        for _ in 0..300 {
            clock.advance(Duration::from_secs(1));
            refreshes += hubs.iter().map(HubHandler::refresh_due).sum::<usize>();
            let (token, stamp, _) = token_of(&get(&hubs[0], &target));
            if lineage.last().is_none_or(|(t, _)| *t != token) {
                lineage.push((token, stamp));
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    assert!(reads.load(Ordering::Relaxed) >= 64, "the readers read");
    assert_eq!(
        unusable.load(Ordering::Relaxed),
        0,
        "no read got a token past its margin"
    );
    // Every upstream call after the first was a refresh ahead: none was a
    // client read's.
    assert_eq!(fake.count("/cgi-bin/token"), 1 + refreshes);
    // One refresh per lifetime, by one replica: each token replaced 27 to
    // 30 s after it was fetched. Fresh for 54 s, due 24 s before that at
    // the latest (two tries of the 10 s timeout), in a window of 6 s that
    // does not begin before mid-life.
    assert!(
        (10..=11).contains(&refreshes),
        "{refreshes} refreshes in 300 s"
    );
    for pair in lineage.windows(2) {
        let lived = pair[1].1 - pair[0].1;
        assert!(
            (27..=30).contains(&lived),
            "replaced after {lived} s: {lineage:?}"
        );
    }
}

/// Mints a token per call and records, by the hub's clock, when.
#[derive(Debug)]
struct Minting {
    clock: Clock,
    calls: Mutex<Vec<u64>>,
}

impl TokenSource for Minting {
    fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(self.clock.unix_secs());
        Ok(Token::new(format!("T{}_{key:?}", calls.len()), 7200))
    }
}

#[test]
fn a_thousand_authorizers_fetched_together_are_refreshed_over_the_margin_window() {
    let clock = ManualClock::starting_now();
    let minting = Arc::new(Minting {
        clock: clock.clock(),
        calls: Mutex::new(Vec::new()),
    });
    let hub = HubHandler::builder()
        .source(minting.clone())
        .clock(clock.clock())
        .refresh_ahead(None)
        .build()
        .unwrap();
    for i in 0..1_000 {
        get(
            &hub,
            &format!("/client/access_token?appid=wxc&authorizer_appid=wxa{i}"),
        );
    }
    let start = clock.clock().unix_secs();
    assert_eq!(minting.calls.lock().unwrap().len(), 1_000);
    // Served until 7,200 - 300 s; due in the 300 s that end 24 s before
    // that (two tries of the 10 s timeout).
    clock.advance(Duration::from_secs(7_200 - 624 - 1));
    assert_eq!(hub.refresh_due(), 0, "none before the window");
    let mut refreshed = 0;
    for _ in 0..300 {
        clock.advance(Duration::from_secs(1));
        refreshed += hub.refresh_due();
    }
    assert_eq!(refreshed, 1_000);
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for at in &minting.calls.lock().unwrap()[1_000..] {
        *per_second.entry(at - start).or_default() += 1;
    }
    let seconds: BTreeSet<u64> = per_second.keys().copied().collect();
    assert!(
        seconds.first() >= Some(&6_576) && seconds.last() < Some(&6_876),
        "{per_second:?}"
    );
    // 1,000 over 300 seconds: about 3.3 a second, never a stampede. The
    // moments are a hash of key and fetch time, so a second's count is
    // about Poisson(3.3): 13 in some second happens about once in 200 runs
    // (seen in CI), 20 about once in 10^8.
    let busiest = per_second.values().max().copied().unwrap();
    assert!(busiest <= 20, "{busiest} refreshes in one second");
    assert!(
        seconds.len() >= 250,
        "only {} distinct seconds",
        seconds.len()
    );
    // Nothing is refreshed twice within its lifetime.
    assert_eq!(hub.refresh_due(), 0);
}

#[test]
fn a_failed_refresh_ahead_is_retried_and_lands_a_timeout_before_the_cut_off() {
    let fake = common::fake();
    let clock = ManualClock::starting_now();
    let timeout = Duration::from_secs(10);
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .clock(clock.clock())
        .timeout(timeout)
        .refresh_ahead(None)
        .build()
        .unwrap();
    let paths = ["/cgi-bin/token", "/cgi-bin/ticket/getticket"];
    get(&hub, &format!("/client/access_token?appid={APPID}"));
    get(&hub, &format!("/client/ticket?appid={APPID}&type=jsapi"));
    // Both fetched now, for 7,200 s: fresh until 300 s before that.
    let cutoff = clock.clock().unix_secs() + 7_200 - 300;
    for path in paths {
        fake.fail_next(path, 40164, "invalid ip", 1);
    }
    clock.advance(Duration::from_secs(7_200 - 700));
    let mut tried: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut refreshed = 0;
    while clock.clock().unix_secs() < cutoff {
        let before = paths.map(|p| fake.count(p));
        refreshed += hub.refresh_due();
        for (path, before) in paths.iter().zip(before) {
            if fake.count(path) > before {
                tried
                    .entry(path)
                    .or_default()
                    .push(clock.clock().unix_secs());
            }
        }
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(refreshed, 2, "{tried:?}");
    for path in paths {
        let at = &tried[path];
        assert_eq!((at.len(), at[1] - at[0]), (2, 1), "{path}: {at:?}");
        // The retry, had WeChat taken the whole timeout, lands more than
        // a timeout before the cut-off.
        assert!(
            at[1] + 2 * timeout.as_secs() < cutoff,
            "{path}: retried at {}, cut-off at {cutoff}",
            at[1]
        );
    }
}

#[test]
fn a_failing_refresh_ahead_backs_off_doubling_and_recovers() {
    let fake = common::fake();
    let clock = ManualClock::starting_now();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(fake.url())
        .clock(clock.clock())
        .refresh_limit(weixin::RefreshLimit::unlimited())
        .refresh_ahead(None)
        .build()
        .unwrap();
    let target = format!("/client/access_token?appid={APPID}");
    let (first, _, _) = token_of(&get(&hub, &target));
    clock.advance(Duration::from_secs(7_200 - 300 - 1));
    fake.fail_next("/cgi-bin/token", 40164, "invalid ip", 3);
    // Tries after 0, 1, 3 and 7 seconds (1 s, then 2 s, then 4 s of
    // backoff); the fourth succeeds.
    let mut tried_at = Vec::new();
    for second in 0..10 {
        let before = fake.count("/cgi-bin/token");
        let refreshed = hub.refresh_due();
        if fake.count("/cgi-bin/token") > before {
            tried_at.push((second, refreshed));
        }
        clock.advance(Duration::from_secs(1));
    }
    assert_eq!(tried_at, [(0, 0), (1, 0), (3, 0), (7, 1)]);
    // Clients were served the current token throughout.
    clock.advance(Duration::from_secs(1));
    let (now, _, _) = token_of(&get(&hub, &target));
    assert_ne!(now, first, "the refreshed token is served");
    assert_eq!(fake.count("/cgi-bin/token"), 5);
}

#[test]
fn a_key_the_store_forgot_is_refreshed_by_no_replica() {
    let clock = ManualClock::starting_now();
    let minting = Arc::new(Minting {
        clock: clock.clock(),
        calls: Mutex::new(Vec::new()),
    });
    let store = Arc::new(weixin::store::MemoryStore::new());
    let replica = || {
        HubHandler::builder()
            .source(minting.clone())
            .store(store.clone())
            .clock(clock.clock())
            .refresh_ahead(None)
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    for hub in [&a, &b] {
        get(hub, "/client/access_token?appid=wxc&authorizer_appid=gone");
        get(hub, "/client/access_token?appid=wxc&authorizer_appid=kept");
    }
    assert_eq!(minting.calls.lock().unwrap().len(), 2);
    // One replica learns the authorizer revoked (its `unauthorized` push):
    // the shared store forgets it, and neither replica refreshes it.
    a.store().remove_authorizer("wxc", "gone").unwrap();
    clock.advance(Duration::from_secs(7_200 - 300 - 1));
    assert_eq!(a.refresh_due() + b.refresh_due(), 1, "only the kept one");
    let calls = minting.calls.lock().unwrap().len();
    assert_eq!(calls, 3);
    clock.advance(Duration::from_secs(7_200 - 300 - 1));
    assert_eq!(a.refresh_due() + b.refresh_due(), 1);
}

/// A fenced write over an older fence is refused; a newer one wins.
fn fenced_writes_are_checked(store: &dyn weixin::store::Store) {
    let key = TokenKey::access_token("wx_fenced");
    assert!(store
        .put_token_fenced(&key, &Token::new("T5", 7200), 5)
        .unwrap());
    assert!(
        !store
            .put_token_fenced(&key, &Token::new("T4", 7200), 4)
            .unwrap(),
        "stale fence"
    );
    assert_eq!(store.get_token(&key).unwrap().unwrap().expose(), "T5");
    assert!(store
        .put_token_fenced(&key, &Token::new("T6", 7200), 6)
        .unwrap());
    assert_eq!(store.get_token(&key).unwrap().unwrap().expose(), "T6");
}

#[test]
fn memory_and_file_stores_refuse_a_stale_fenced_write() {
    use weixin::store::Store;
    fenced_writes_are_checked(&weixin::store::MemoryStore::new());
    let dir = process::temp_dir("fenced");
    let path = dir.join("store.json");
    fenced_writes_are_checked(&weixin::store::FileStore::open(&path).unwrap());
    let again = weixin::store::FileStore::open(&path).unwrap();
    let key = TokenKey::access_token("wx_fenced");
    assert!(
        !again
            .put_token_fenced(&key, &Token::new("T5", 7200), 5)
            .unwrap(),
        "fences survive a restart"
    );
}

#[cfg(feature = "redis")]
#[test]
fn redis_refuses_a_stale_fenced_write() {
    crate::common::cluster::each(|topology| {
        fenced_writes_are_checked(&topology.open(&process::unique_prefix("fenced")));
    });
}

/// A fence taken on a primary that a failover replaced, written on the new
/// one whose fence counter missed the last increments: the counter is
/// raised with the write, so the next fence taken there is higher and its
/// write is kept. Before, every write was refused until the counter caught
/// up, and the tokens fetched meanwhile were dropped.
#[cfg(feature = "redis")]
#[test]
fn redis_fences_taken_after_a_write_with_a_fence_from_another_primary_are_higher() {
    use weixin::store::Store;
    crate::common::cluster::each(|topology| {
        let store = topology.open(&process::unique_prefix("fence-ahead"));
        let key = TokenKey::access_token("wx_fence_ahead");
        let name = format!("fence:access_token:{}", key.appid());
        let ttl = Duration::from_secs(60);
        // This primary's counter: 2. The old primary's had reached 9.
        assert_eq!(store.increment(&name, ttl).unwrap(), 1);
        assert_eq!(store.increment(&name, ttl).unwrap(), 2);
        assert!(store
            .put_token_fenced(&key, &Token::new("FROM_THE_OLD_PRIMARY", 7200), 9)
            .unwrap());
        let next = store.increment(&name, ttl).unwrap();
        assert_eq!(next, 10, "above the fence stored");
        assert!(store
            .put_token_fenced(&key, &Token::new("NEXT", 7200), next)
            .unwrap());
        assert_eq!(store.get_token(&key).unwrap().unwrap().expose(), "NEXT");
    });
}

/// An upstream whose call outlives the caller's lock: meanwhile the
/// replica that took the lock next stores its own, newer token.
#[derive(Debug)]
struct Overtaken {
    store: Arc<weixin::store::MemoryStore>,
}

impl TokenSource for Overtaken {
    fn fetch(&self, key: &TokenKey, _cx: &Context<'_>) -> weixin::Result<Token> {
        use weixin::store::Store;
        assert!(self
            .store
            .put_token_fenced(key, &Token::new("NEWER", 7200), u64::MAX)
            .unwrap());
        Ok(Token::new("LATE", 7200))
    }
}

#[test]
fn a_replica_whose_lock_expired_cannot_overwrite_the_newer_token() {
    use weixin::store::Store;
    let store = Arc::new(weixin::store::MemoryStore::new());
    let hub = HubHandler::builder()
        .source(Overtaken {
            store: store.clone(),
        })
        .store(store.clone())
        .refresh_ahead(None)
        .build()
        .unwrap();
    let body = get(&hub, "/client/access_token?appid=wx_overtaken");
    assert_eq!(
        body["access_token"], "NEWER",
        "the store's newer token is served"
    );
    let key = TokenKey::access_token("wx_overtaken");
    assert_eq!(store.get_token(&key).unwrap().unwrap().expose(), "NEWER");
}

#[test]
fn the_binary_sends_upstream_calls_through_the_proxy_its_toml_names() {
    let fake = common::fake();
    let proxy = weixin::testing::ConnectProxy::start_with_login("hub", "Hub_pr0xy_pw").unwrap();
    let url = proxy.url().replace("http://", "http://hub:Hub_pr0xy_pw@");
    let dir = process::temp_dir("proxy");
    let config = process::config(
        &fake.url(),
        "[store]\nkind = \"memory\"",
        "proxy_env = \"TEST_HUB_PROXY\"\nwechat_backup_domains = true",
    );
    let hub = HubProcess::start(&dir, &config, &[SECRET_ENV, ("TEST_HUB_PROXY", &url)]);
    let body = http_get(&format!("{}/client/access_token?appid={APPID}", hub.url));
    assert!(body["access_token"].is_string(), "{body}");
    let passed: Vec<_> = proxy
        .tunnels()
        .into_iter()
        .map(|t| t.first_request)
        .collect();
    assert_eq!(passed, vec![Some("GET /cgi-bin/token".to_string())]);
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert!(!hub.logs().contains("Hub_pr0xy_pw"));
}

#[test]
fn a_hubs_upstream_call_that_cannot_connect_goes_to_the_backup() {
    let backup = common::fake();
    let hub = HubHandler::builder()
        .account(APPID, SECRET)
        .upstream(weixin::testing::refused_url().unwrap())
        .upstream_backups([backup.url()])
        .build()
        .unwrap();
    let body = get(&hub, &format!("/client/access_token?appid={APPID}"));
    assert!(body["access_token"].is_string(), "{body}");
    assert_eq!(backup.count("/cgi-bin/token"), 1);
}
