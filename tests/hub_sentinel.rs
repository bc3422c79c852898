//! The Redis store on Redis Sentinel (one primary, one replica, three
//! sentinels: `common::sentinel`, started once for the test binary): what
//! was written survives `SENTINEL FAILOVER` and a `kill -9` of the
//! primary, hubs on it serve through both, a single-URL store pointed at a
//! replica says so, and the persistence check tells a Redis that forgets
//! from one that does not.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use weixin::store::{RedisStore, Store};
use weixin::{RedisSentinel, Secret, Token, TokenKey};

use crate::common::process::{self, HubProcess, SECRET_ENV};
use crate::common::sentinel::{self, start_node, MASTER};
use crate::common::{self, APPID};
use crate::hub_redis::{accepted, client_of};

/// A sentinel that accepts connections and never answers (first in the
/// list) costs one timeout (2 s) and is passed over: the lookup asks the next,
/// and the write lands on the primary. (The `redis` crate's own lookup has
/// no read timeout and would wait on it for ever.)
#[test]
fn a_sentinel_that_never_answers_is_passed_over() {
    let topology = sentinel::topology();
    let silent = weixin::testing::SilentServer::start().unwrap();
    let mut urls = vec![format!("redis://127.0.0.1:{}", silent.port())];
    urls.extend(topology.urls());
    let prefix = common::unique_prefix("silent");
    let store = RedisStore::sentinel(RedisSentinel::new(MASTER, urls))
        .unwrap()
        .prefix(&prefix);
    store
        .put_refresh_token("wxc", "wxa", &Secret::new("refresh-1"))
        .unwrap();
    let held = store.get_refresh_token("wxc", "wxa").unwrap().unwrap();
    assert_eq!(held.expose(), "refresh-1");
    let shown = store.topology().unwrap();
    let primary = topology.primary_port().unwrap();
    assert_eq!(shown.primary, Some(format!("127.0.0.1:{primary}")));
}

/// A rotated refresh token and a held refresh lock are on the new primary
/// after `SENTINEL FAILOVER` and after a `kill -9` of the primary right
/// after the write (the write waited for the replica); the store's next
/// writes go to the new primary without an error, and its topology
/// counts both failovers.
#[test]
fn a_sentinel_store_keeps_rotated_refresh_tokens_and_locks_through_failovers() {
    let topology = sentinel::topology();
    let prefix = common::unique_prefix("durable");
    // The replica is given 5 s to acknowledge (the default is 500 ms): on
    // a loaded machine, a replica that has just resynchronised after a
    // failover took longer, and the test is about what is kept, not how
    // fast. The lock's lease is its whole 60 s: with the default (3 s,
    // renewed), a kill and promotion slower than the lease let it expire
    // as designed, and the test is about the lock being replicated.
    let store = topology
        .store(&prefix)
        .durability(1, Duration::from_secs(5))
        .lock_lease(Duration::from_secs(60));
    let first = topology.primary_port().unwrap();
    store.ping().unwrap();
    let rotated = |n: u32| Secret::new(format!("refresh-{n}"));
    let held = || {
        let held = store.get_refresh_token("wxc", "wxa").unwrap().unwrap();
        held.expose().to_string()
    };
    store.put_refresh_token("wxc", "wxa", &rotated(1)).unwrap();
    let shown = store.topology().unwrap();
    assert_eq!(shown.mode, "sentinel");
    assert_eq!(shown.primary, Some(format!("127.0.0.1:{first}")));
    assert_eq!(shown.replicas, Some(1));

    let second = topology.failover();
    assert_ne!(second, first);
    // The pooled connection is to the demoted primary: READONLY, then the
    // new primary, inside the call.
    store.put_refresh_token("wxc", "wxa", &rotated(2)).unwrap();
    assert_eq!(held(), "refresh-2");
    let key = TokenKey::access_token(APPID);
    let lock = store.lock(&key, Duration::from_secs(60)).unwrap();
    assert!(lock.is_some());

    store.put_refresh_token("wxc", "wxa", &rotated(3)).unwrap();
    let killed = topology.kill_primary();
    let third = topology.promoted(killed);
    assert_eq!(
        third, first,
        "the restarted node was promoted back? {third}"
    );
    assert_eq!(
        held(),
        "refresh-3",
        "the rotated refresh token written just before the kill is kept"
    );
    // The lock taken before both failovers is still held on the new
    // primary: another hub on the store cannot take it.
    let other = topology.store(&prefix);
    assert!(other.lock(&key, Duration::from_secs(60)).unwrap().is_none());
    let shown = store.topology().unwrap();
    // At least the two failovers made here: on a loaded machine a sentinel
    // may also fail over on its own (a primary slow to answer for 3 s).
    assert!(shown.failovers >= 2, "{shown:?}");
    assert_eq!(shown.primary, Some(format!("127.0.0.1:{third}")));
    assert_eq!(shown.read_only_since, None);
    assert_eq!(shown.unacked_writes, 0);
    drop(lock);
}

/// A store on a single URL that points at a replica: a write fails with
/// an error saying the server is a read-only replica, the topology shows
/// it, and once the server is promoted the next write succeeds and the
/// mark is gone.
#[test]
fn a_single_url_store_on_a_replica_says_it_is_read_only() {
    let dir = common::temp_dir("readonly");
    let primary = start_node(|port| node_args(&dir, port, &[]));
    let replica = start_node(|port| {
        node_args(
            &dir,
            port,
            &["--replicaof", "127.0.0.1", &primary.port.to_string()],
        )
    });
    let store = RedisStore::open(&format!("redis://127.0.0.1:{}/", replica.port))
        .unwrap()
        .prefix(common::unique_prefix("readonly"));
    let err = store
        .put_refresh_token("wxc", "wxa", &Secret::new("R1"))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("read-only replica now"),
        "the error says what happened: {message}"
    );
    assert!(store.topology().unwrap().read_only_since.is_some());
    // A second failure is the same error, the mark unchanged.
    let since = store.topology().unwrap().read_only_since;
    assert!(store
        .put_token(&TokenKey::access_token(APPID), &Token::new("T", 7200))
        .is_err());
    assert_eq!(store.topology().unwrap().read_only_since, since);

    let _: String =
        sentinel::query(replica.port, redis::cmd("REPLICAOF").arg("NO").arg("ONE")).unwrap();
    store
        .put_refresh_token("wxc", "wxa", &Secret::new("R2"))
        .unwrap();
    assert_eq!(store.topology().unwrap().read_only_since, None);
}

fn node_args(dir: &std::path::Path, port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir.to_str().unwrap(),
        "--dbfilename",
        &format!("dump-{port}.rdb"),
        "--appendfilename",
        &format!("aof-{port}.aof"),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `appendonly no` and `save ""`: a warning that a restart loses refresh
/// tokens and tickets; AOF on: none; both shown in the topology.
#[test]
fn the_persistence_check_warns_of_a_redis_that_forgets() {
    let dir = common::temp_dir("persistence");
    let forgets = start_node(|port| node_args(&dir, port, &["--appendonly", "no", "--save", ""]));
    let keeps = start_node(|port| node_args(&dir, port, &["--appendonly", "yes"]));
    let store = |port: u16| RedisStore::open(&format!("redis://127.0.0.1:{port}/")).unwrap();

    let warning = store(forgets.port).check_persistence().unwrap().unwrap();
    assert!(
        warning.contains("does not persist") && warning.contains("refresh token"),
        "{warning}"
    );
    let on_forgets = store(forgets.port);
    let shown = on_forgets.topology().unwrap();
    assert_eq!(
        shown.persistence.as_deref(),
        Some("none (appendonly no, save \"\")")
    );
    assert!(shown.persistence_warning.is_some());

    assert_eq!(store(keeps.port).check_persistence().unwrap(), None);
    let shown = store(keeps.port).topology().unwrap();
    assert_eq!(shown.persistence.as_deref(), Some("append-only file"));
    assert_eq!(shown.persistence_warning, None);
}

/// Sets its flag when dropped, on a panic too.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Two `wechat-hub` processes on the Sentinel topology; eight client
/// threads read tokens from both without pause while the main thread runs
/// refresh rounds (WeChat invalidates, a client reports the token
/// stale); a `SENTINEL FAILOVER` and then a `kill -9` of the primary
/// happen in the middle of the rounds. No client read fails, every
/// refreshed token is one WeChat accepts, and WeChat is called exactly
/// once per invalidation.
#[test]
fn two_hubs_on_sentinel_serve_through_a_failover_and_a_kill() {
    let topology = sentinel::topology();
    let topology = &*topology;
    let fake = common::fake();
    let prefix = common::unique_prefix("hubs");
    let sentinels = topology
        .urls()
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let store = format!(
        "[store]\nkind = \"redis\"\nmaster = \"{MASTER}\"\nsentinels = [{sentinels}]\n\
         prefix = \"{prefix}\"\nfailover_wait_ms = 20000\nwait_replicas = 1\nwait_timeout_ms = 1000"
    );
    let config = process::config(
        &fake.url(),
        &store,
        "refresh_burst = 20\nmax_staleness_ms = 0",
    );
    let dir = common::temp_dir("sentinel-hubs");
    let hubs: Vec<HubProcess> = (0..2)
        .map(|i| {
            let dir = dir.join(i.to_string());
            std::fs::create_dir_all(&dir).unwrap();
            HubProcess::start(&dir, &config, &[SECRET_ENV])
        })
        .collect();
    let key = TokenKey::access_token(APPID);
    let mut current = client_of(&fake, &hubs[0].url).token(&key).unwrap();

    let stop = AtomicBool::new(false);
    let (reads, failures) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        // The readers stop when the rounds end, failed assertions included
        // (the scope waits for them before it passes the panic on).
        let _stop = StopOnDrop(&stop);
        for t in 0..8 {
            let (hubs, fake, key, stop) = (&hubs, &fake, &key, &stop);
            let (reads, failures) = (&reads, &failures);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::SeqCst) {
                    match client_of(fake, &hubs[i % 2].url).token(key) {
                        Ok(_) => reads.fetch_add(1, Ordering::SeqCst),
                        Err(e) => {
                            eprintln!("client read failed: {e}");
                            failures.fetch_add(1, Ordering::SeqCst)
                        }
                    };
                    i += 1;
                }
            });
        }
        let mut round = 0;
        let mut refresh = |current: &mut Token| {
            round += 1;
            assert_eq!(fake.invalidate_current(APPID), 1, "round {round}");
            let fresh = client_of(&fake, &hubs[round % 2].url)
                .refreshed_token(&key, current)
                .unwrap();
            assert_ne!(fresh.expose(), current.expose(), "round {round}");
            assert!(accepted(&fake, &fresh), "round {round}: a rejected token");
            assert_eq!(fake.count("/cgi-bin/token"), 1 + round, "round {round}");
            *current = fresh;
        };
        refresh(&mut current);
        refresh(&mut current);
        // The sentinels have switched: each hub's next write goes to the
        // demoted primary first (READONLY), then to the new one.
        topology.failover();
        refresh(&mut current);
        refresh(&mut current);
        refresh(&mut current);
        // Killed and not yet replaced: the next refresh waits inside its
        // hub for the promotion, while the readers go on.
        let killed = topology.kill_primary();
        let promotion = s.spawn(move || topology.promoted(killed));
        refresh(&mut current);
        promotion.join().unwrap();
        refresh(&mut current);
        refresh(&mut current);
    });
    assert_eq!(failures.load(Ordering::SeqCst), 0, "client reads failed");
    assert!(reads.load(Ordering::SeqCst) > 0);
    let primary = format!("127.0.0.1:{}", topology.primary_port().unwrap());
    for hub in &hubs {
        let served = client_of(&fake, &hub.url).token(&key).unwrap();
        assert_eq!(served, current, "both hubs serve the last token");
        // Each hub saw both moves of the primary, and says so.
        let status: serde_json::Value = serde_json::from_str(
            &ureq::get(&format!("{}/status", hub.url))
                .header("Accept", "application/json")
                .call()
                .unwrap()
                .body_mut()
                .read_to_string()
                .unwrap(),
        )
        .unwrap();
        let shown = &status["store"]["topology"];
        assert_eq!(shown["mode"], "sentinel", "{shown}");
        assert_eq!(shown["primary"], primary.as_str(), "{shown}");
        // At least both moves made here (a loaded machine may add one of
        // Sentinel's own), the same on the page and in the metrics.
        let failovers = shown["failovers"].as_u64().unwrap();
        assert!(failovers >= 2, "{shown}");
        assert_eq!(shown["replicas"], 1, "{shown}");
        assert_eq!(shown["read_only_since"], serde_json::Value::Null, "{shown}");
        let metrics = ureq::get(&format!("{}/metrics", hub.url))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert!(
            metrics.contains(&format!(
                "wechat_hub_store_redis_failovers_total {failovers}"
            )),
            "{metrics}"
        );
    }
}
