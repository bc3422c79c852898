//! A Sentinel store after `SENTINEL FAILOVER`, while the old primary still
//! says it is one (on the tests' shared topology, `common::sentinel`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weixin::store::{Store, StoreEvent};
use weixin::{RedisSentinel, Token, TokenKey};

use crate::common::{self, sentinel};

/// After a `SENTINEL FAILOVER` the old primary stays a writable primary
/// until a sentinel turns it into a replica (about 8 s with Sentinel's
/// defaults); a token written there meanwhile is lost when it does. A store
/// whose pooled connections still reach it notices the move within
/// `RedisSentinel::RECHECK` and writes to the new primary: a
/// store that just looked the primary up reads what it wrote. Without the
/// check, every write of those 8 s went to the old primary.
#[test]
fn a_sentinel_store_follows_a_failover_while_the_old_primary_still_answers() {
    let topology = sentinel::topology();
    topology.healthy();
    let store = |prefix: &str| topology.store(prefix);
    let prefix = common::unique_prefix("moved");
    let writer = store(&prefix);
    let key = TokenKey::access_token("wxmoved");
    // A connection to the primary, kept idle in the pool.
    writer.put_token(&key, &Token::new("BEFORE", 7200)).unwrap();
    let old = topology.begin_failover();
    topology.switched(old);

    // Polled with a bound well under the old primary's 8 s as a primary.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut n = 0;
    loop {
        n += 1;
        let written = Token::new(format!("AFTER-{n}"), 7200);
        writer.put_token(&key, &written).unwrap();
        let read = store(&prefix).get_token(&key).unwrap();
        if read.as_ref().map(Token::expose) == Some(written.expose()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes still go to the old primary {old}: the new one holds {:?}",
            read.map(|t| t.expose().to_string())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(topology);
}

/// The removals listener leaves a primary the sentinels replaced before
/// Sentinel demotes it: it subscribes again on the new primary, where the
/// other replicas publish, and hears a removal published there. Before, it
/// stayed subscribed on the old primary until the demotion closed its
/// connection, 8 s or more later, and removals published meanwhile never
/// reached it.
#[test]
fn the_removals_listener_follows_a_failover_while_the_old_primary_still_answers() {
    let topology = sentinel::topology();
    topology.healthy();
    let store = |prefix: &str| topology.store(prefix);
    let prefix = common::unique_prefix("watch-moved");
    let watcher = store(&prefix);
    let listening = Arc::new(AtomicUsize::new(0));
    let removed = Arc::new(Mutex::new(Vec::new()));
    let (heard, seen) = (listening.clone(), removed.clone());
    let _watch = watcher
        .watch(Arc::new(move |event: &StoreEvent<'_>| match event {
            StoreEvent::Listening => {
                heard.fetch_add(1, Ordering::SeqCst);
            }
            StoreEvent::AuthorizerRemoved {
                component_appid,
                authorizer_appid,
            } => seen
                .lock()
                .push(format!("{component_appid}/{authorizer_appid}")),
            _ => {}
        }))
        .unwrap();
    assert_eq!(
        listening.load(Ordering::SeqCst),
        1,
        "listening from the start"
    );

    let old = topology.begin_failover();
    topology.switched(old);
    let switched = Instant::now();
    // Another replica, on the new primary, removes authorizers until one
    // is heard: the listener subscribes there again within a few recheck
    // intervals, well inside the 8 s the old primary stays one (asserted
    // below). Each removal names another authorizer.
    let other = store(&prefix);
    let bound = RedisSentinel::RECHECK * 3 + Duration::from_secs(3);
    let mut published = Vec::new();
    while removed.lock().is_empty() {
        assert!(
            switched.elapsed() < bound,
            "{} removals published on the new primary in {bound:?} after the switch, none \
             heard: still subscribed on the replaced primary {old}",
            published.len()
        );
        let authorizer = format!("wxa{}", published.len());
        other.remove_authorizer("wxc", &authorizer).unwrap();
        published.push(format!("wxc/{authorizer}"));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        sentinel::is_primary(old),
        "the scenario: the old primary still says it is one (not yet demoted)"
    );
    assert!(listening.load(Ordering::SeqCst) >= 2, "it subscribed again");
    let heard = removed.lock().clone();
    assert!(
        heard.iter().all(|r| published.contains(r)),
        "{heard:?} not among {published:?}"
    );
    topology.healthy();
}
